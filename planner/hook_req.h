/* hook_req: a webhook call's JSON body: variables and optional recipients or customer keys. */
#ifndef PLANNER_HOOK_REQ_H
#define PLANNER_HOOK_REQ_H

#include <stddef.h>

#include <jansson.h>

#include "mf_err.h"

/* Longest variable value and customer key accepted (bytes). */
#define HOOK_REQ_VALUE_MAX 2000
#define HOOK_REQ_KEY_MAX 255
/* Most variables one call may carry. */
#define HOOK_REQ_VARS_MAX 128

/*
 * The body, checked:
 *   {"variables": {"name": "value", ...},          optional; strings or integers
 *    "recipients": ["010-1234-5678", ...],         optional; phones, normalised here
 *    "customer_keys": ["C-1001", 1002, ...]}       optional; strings or integers
 * recipients and customer_keys exclude each other; either holds 1 to max items.
 * Every member is owned by the request: hook_req_free.
 */
typedef struct hook_req {
    json_t *variables;     /* object: name -> string value (integers turned into text) */
    json_t *recipients;    /* array of normalised phones, or NULL */
    json_t *customer_keys; /* array of strings, or NULL */
} hook_req;

/* Parse and check body. On failure -1 with code set to the error code the client sees
 * ("bad_json", "bad_request", "too_many_recipients", "bad_phone") and err to a message naming
 * the member (phones masked). max_recipients bounds recipients and customer_keys. */
int hook_req_parse(const char *body, size_t len, size_t max_recipients, hook_req *out,
                   const char **code, mf_err *err);

/* Every variable of r must be in known (nknown names); else -1 with err naming the first that
 * is not ("unknown variable \"x\": the workflow's template and mappings use a, b"). */
int hook_req_check_vars(const hook_req *r, const char *const *known, size_t nknown, mf_err *err);

void hook_req_free(hook_req *r);

#endif

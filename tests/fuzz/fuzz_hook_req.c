/* fuzz_hook_req: libFuzzer target for the planner's webhook call body parser (hook_req). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hook_req.h"
#include "mf_phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const CODES[] = {"bad_json", "bad_request", "too_many_recipients", "bad_phone",
                                    "internal"};

static void check_code(const char *code)
{
    size_t i;

    for (i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++)
        if (strcmp(code, CODES[i]) == 0)
            return;
    abort(); /* a code the endpoint does not document */
}

/*
 * Input: one byte of max_recipients (1..8), then the body (allocated at its exact size).
 * Oracle: a refusal carries a documented code and a message; an accepted call holds at most
 * HOOK_REQ_VARS_MAX string variables of at most HOOK_REQ_VALUE_MAX bytes, recipients or
 * customer keys but not both, 1 to max of them, recipients already normalised (normalising
 * again gives the same number) and keys non-empty strings of at most HOOK_REQ_KEY_MAX bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char phone[MF_PHONE_MAX];
    const char *code = NULL, *name;
    size_t max, len, i;
    hook_req r;
    json_t *v;
    mf_err err;
    char *body;

    if (size < 1)
        return 0;
    max = 1 + data[0] % 8;
    len = size - 1;
    body = malloc(len > 0 ? len : 1);
    if (body == NULL)
        abort();
    memcpy(body, data + 1, len);
    err.msg[0] = '\0';
    if (hook_req_parse(body, len, max, &r, &code, &err) != 0) {
        if (code == NULL || err.msg[0] == '\0')
            abort();
        check_code(code);
    } else {
        if (!json_is_object(r.variables) || json_object_size(r.variables) > HOOK_REQ_VARS_MAX ||
            (r.recipients != NULL && r.customer_keys != NULL))
            abort();
        json_object_foreach(r.variables, name,
                            v) if (!json_is_string(v) || json_string_length(v) > HOOK_REQ_VALUE_MAX)
            abort();
        if (r.recipients != NULL) {
            if (json_array_size(r.recipients) < 1 || json_array_size(r.recipients) > max)
                abort();
            json_array_foreach(r.recipients, i,
                               v) if (mf_phone_normalize(json_string_value(v), phone, sizeof(phone),
                                                         NULL, NULL) != 0 ||
                                      strcmp(phone, json_string_value(v)) != 0) abort();
        }
        if (r.customer_keys != NULL) {
            if (json_array_size(r.customer_keys) < 1 || json_array_size(r.customer_keys) > max)
                abort();
            json_array_foreach(r.customer_keys, i,
                               v) if (!json_is_string(v) || json_string_length(v) == 0 ||
                                      json_string_length(v) > HOOK_REQ_KEY_MAX) abort();
        }
    }
    hook_req_free(&r);
    free(body);
    return 0;
}

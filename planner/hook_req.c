/* hook_req: a webhook call's JSON body: variables and optional recipients or customer keys. */
#include "hook_req.h"

#include <stdio.h>
#include <string.h>

#include "mf_buf.h"
#include "mf_phone.h"

/* A string or an integer as text into out; -1 otherwise or when longer than max. */
static int scalar_text(json_t *v, char *out, size_t cap, size_t max)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) > max || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int parse_variables(json_t *in, hook_req *out, const char **code, mf_err *err)
{
    char val[HOOK_REQ_VALUE_MAX + 1];
    const char *name;
    json_t *v;

    if (!json_is_object(in)) {
        *code = "bad_request";
        return mf_err_set(err, "variables must be an object of names to strings");
    }
    if (json_object_size(in) > HOOK_REQ_VARS_MAX) {
        *code = "bad_request";
        return mf_err_set(err, "variables holds more than %d names", HOOK_REQ_VARS_MAX);
    }
    json_object_foreach(in, name, v)
    {
        if (name[0] == '\0' || strlen(name) > 64) {
            *code = "bad_request";
            return mf_err_set(err, "variable names must be 1 to 64 bytes");
        }
        if (scalar_text(v, val, sizeof(val), HOOK_REQ_VALUE_MAX) != 0) {
            *code = "bad_request";
            return mf_err_set(err,
                              "variables.%s must be a string (at most %d bytes) or an "
                              "integer",
                              name, HOOK_REQ_VALUE_MAX);
        }
        if (json_object_set_new(out->variables, name, json_string(val)) != 0) {
            *code = "internal";
            return mf_err_set(err, "out of memory");
        }
    }
    return 0;
}

static int check_list(json_t *in, const char *what, size_t max, const char **code, mf_err *err)
{
    if (!json_is_array(in)) {
        *code = "bad_request";
        return mf_err_set(err, "%s must be an array", what);
    }
    if (json_array_size(in) == 0) {
        *code = "bad_request";
        return mf_err_set(err, "%s is empty (leave it out to use the workflow's target query)",
                          what);
    }
    if (json_array_size(in) > max) {
        *code = "too_many_recipients";
        return mf_err_set(err, "%s holds %zu items, more than the %zu allowed", what,
                          json_array_size(in), max);
    }
    return 0;
}

static int parse_recipients(json_t *in, size_t max, hook_req *out, const char **code, mf_err *err)
{
    char raw[64], phone[MF_PHONE_MAX], masked[64];
    size_t i;
    json_t *v;
    mf_err perr;

    if (check_list(in, "recipients", max, code, err) != 0)
        return -1;
    out->recipients = json_array();
    if (out->recipients == NULL)
        return mf_err_set(err, "out of memory");
    json_array_foreach(in, i, v)
    {
        if (!json_is_string(v) || scalar_text(v, raw, sizeof(raw), sizeof(raw) - 1) != 0) {
            *code = "bad_phone";
            return mf_err_set(err, "recipients[%zu] must be a phone number (a string)", i);
        }
        if (mf_phone_normalize(raw, phone, sizeof(phone), NULL, &perr) != 0) {
            mf_phone_mask_text(raw, masked, sizeof(masked));
            *code = "bad_phone";
            return mf_err_set(err, "recipients[%zu] \"%s\": %s", i, masked, perr.msg);
        }
        if (json_array_append_new(out->recipients, json_string(phone)) != 0)
            return mf_err_set(err, "out of memory");
    }
    return 0;
}

static int parse_keys(json_t *in, size_t max, hook_req *out, const char **code, mf_err *err)
{
    char key[HOOK_REQ_KEY_MAX + 1];
    size_t i;
    json_t *v;

    if (check_list(in, "customer_keys", max, code, err) != 0)
        return -1;
    out->customer_keys = json_array();
    if (out->customer_keys == NULL)
        return mf_err_set(err, "out of memory");
    json_array_foreach(in, i, v)
    {
        if (scalar_text(v, key, sizeof(key), HOOK_REQ_KEY_MAX) != 0 || key[0] == '\0') {
            *code = "bad_request";
            return mf_err_set(err,
                              "customer_keys[%zu] must be a non-empty string (at most %d "
                              "bytes) or an integer",
                              i, HOOK_REQ_KEY_MAX);
        }
        if (json_array_append_new(out->customer_keys, json_string(key)) != 0)
            return mf_err_set(err, "out of memory");
    }
    return 0;
}

int hook_req_parse(const char *body, size_t len, size_t max_recipients, hook_req *out,
                   const char **code, mf_err *err)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *name;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&jerr, 0, sizeof(jerr)); /* an empty body's json_object() can fail without it set */
    *code = "internal";
    out->variables = json_object();
    if (out->variables == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    root = len == 0 ? json_object() : json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        *code = "bad_json";
        if (root == NULL)
            mf_err_set(err, "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                       jerr.line, jerr.column);
        else
            mf_err_set(err, "the body must be a JSON object");
        goto out;
    }
    json_object_foreach(root, name, v)
    {
        if (strcmp(name, "variables") == 0) {
            if (parse_variables(v, out, code, err) != 0)
                goto out;
        } else if (strcmp(name, "recipients") == 0) {
            if (parse_recipients(v, max_recipients, out, code, err) != 0)
                goto out;
        } else if (strcmp(name, "customer_keys") == 0) {
            if (parse_keys(v, max_recipients, out, code, err) != 0)
                goto out;
        } else {
            *code = "bad_request";
            mf_err_set(err, "unknown member \"%.64s\" (variables, recipients, customer_keys)",
                       name);
            goto out;
        }
    }
    if (out->recipients != NULL && out->customer_keys != NULL) {
        *code = "bad_request";
        mf_err_set(err, "give recipients or customer_keys, not both");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        hook_req_free(out);
    return rc;
}

int hook_req_check_vars(const hook_req *r, const char *const *known, size_t nknown, mf_err *err)
{
    const char *name;
    json_t *v;
    mf_buf list;
    mf_err lerr;
    int rc = 0;

    json_object_foreach(r->variables, name, v)
    {
        size_t i;
        for (i = 0; i < nknown && strcmp(known[i], name) != 0; i++)
            ;
        if (i < nknown)
            continue;
        mf_buf_init(&list, 4096);
        for (i = 0; i < nknown; i++)
            mf_buf_printf(&list, &lerr, "%s%s", i ? ", " : "", known[i]);
        rc = mf_err_set(err,
                        "unknown variable \"%.64s\": the workflow's template and mappings "
                        "use %s",
                        name, list.len ? list.data : "none");
        mf_buf_free(&list);
        break;
    }
    return rc;
}

void hook_req_free(hook_req *r)
{
    json_decref(r->variables);
    json_decref(r->recipients);
    json_decref(r->customer_keys);
    memset(r, 0, sizeof(*r));
}

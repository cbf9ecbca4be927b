/* mf_coolsms_body: the JSON bodies of the CoolSMS send requests (messages, kakao options). */
#include "mf_coolsms_int.h"

#include <string.h>

/* ------------------------------------------------------------------ body */

static int put_key(mf_buf *b, const char *key, mf_err *err)
{
    return mf_buf_append_str(b, key, err);
}

/* Append ,"<key>":<json string of val> */
static int put_field(mf_buf *b, const char *key, const char *val, const char *what, size_t i,
                     mf_err *err)
{
    if (put_key(b, key, err) < 0)
        return -1;
    if (mf_buf_append_json_cstr(b, val, err) < 0)
        return mf_err_prefix(err, "message %zu: field \"%s\"", i, what);
    return 0;
}

static int check_buttons(const char *buttons, size_t i, mf_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(buttons, JSON_DECODE_ANY, &jerr);
    int ok = json_is_array(j);

    json_decref(j);
    if (!ok)
        return mf_err_set(err, "message %zu: kakao buttons_json is not a JSON array", i);
    return 0;
}

static int put_variables(mf_buf *b, const mf_coolsms_kakao *k, size_t i, mf_err *err)
{
    size_t v, kl;
    const char *key;

    if (mf_buf_append_str(b, ",\"variables\":{", err) < 0)
        return -1;
    for (v = 0; v < k->n_variables; v++) {
        key = k->variables[v].key;
        if (key == NULL || k->variables[v].value == NULL)
            return mf_err_set(err, "message %zu: kakao variable %zu has no key or value", i, v);
        kl = strlen(key);
        if (v > 0 && mf_buf_append_char(b, ',', err) < 0)
            return -1;
        if (kl >= 3 && key[0] == '#' && key[1] == '{' && key[kl - 1] == '}') {
            if (mf_buf_append_json_str(b, key, kl, err) < 0)
                return mf_err_prefix(err, "message %zu: kakao variable key", i);
        } else if (mf_buf_append_str(b, "\"#{", err) < 0 ||
                   mf_buf_append_json_escaped(b, key, kl, err) < 0 ||
                   mf_buf_append_str(b, "}\"", err) < 0) {
            return mf_err_prefix(err, "message %zu: kakao variable key", i);
        }
        if (mf_buf_append_char(b, ':', err) < 0 ||
            mf_buf_append_json_cstr(b, k->variables[v].value, err) < 0)
            return mf_err_prefix(err, "message %zu: kakao variable value", i);
    }
    return mf_buf_append_char(b, '}', err);
}

static int put_kakao(mf_buf *b, const mf_coolsms_kakao *k, size_t i, const char **last_buttons,
                     mf_err *err)
{
    if (k->pf_id == NULL)
        return mf_err_set(err, "message %zu: kakao options without pf_id", i);
    if (put_field(b, ",\"kakaoOptions\":{\"pfId\":", k->pf_id, "kakao pfId", i, err) < 0)
        return -1;
    if (k->template_id != NULL &&
        put_field(b, ",\"templateId\":", k->template_id, "kakao templateId", i, err) < 0)
        return -1;
    if (k->n_variables > 0 && put_variables(b, k, i, err) < 0)
        return -1;
    if (k->buttons_json != NULL) {
        /* Buttons are usually one string shared by a whole run: check each string once. */
        if (k->buttons_json != *last_buttons && check_buttons(k->buttons_json, i, err) < 0)
            return -1;
        *last_buttons = k->buttons_json;
        if (mf_buf_append_str(b, ",\"buttons\":", err) < 0 ||
            mf_buf_append_str(b, k->buttons_json, err) < 0)
            return -1;
    }
    if (mf_buf_append_str(b, k->disable_sms ? ",\"disableSms\":true}" : ",\"disableSms\":false}",
                          err) < 0)
        return -1;
    return 0;
}

static int put_custom_fields(mf_buf *b, const mf_coolsms_msg *m, size_t i, mf_err *err)
{
    size_t c;
    const mf_coolsms_kv *kv;

    if (put_field(b, ",\"customFields\":{\"jobId\":", m->job_id, "jobId", i, err) < 0)
        return -1;
    if (m->run_id != NULL && put_field(b, ",\"runId\":", m->run_id, "runId", i, err) < 0)
        return -1;
    for (c = 0; c < m->n_custom_fields; c++) {
        kv = &m->custom_fields[c];
        if (kv->key == NULL || kv->value == NULL || strcmp(kv->key, "jobId") == 0 ||
            strcmp(kv->key, "runId") == 0)
            return mf_err_set(err, "message %zu: custom field %zu is empty or repeats jobId/runId",
                              i, c);
        if (mf_buf_append_char(b, ',', err) < 0 || mf_buf_append_json_cstr(b, kv->key, err) < 0 ||
            mf_buf_append_char(b, ':', err) < 0 || mf_buf_append_json_cstr(b, kv->value, err) < 0)
            return mf_err_prefix(err, "message %zu: custom field %zu", i, c);
    }
    return mf_buf_append_char(b, '}', err);
}

static int put_message(mf_buf *b, const mf_coolsms_msg *m, size_t i, const char **last_buttons,
                       mf_err *err)
{
    if (m->to == NULL || m->from == NULL || m->text == NULL || m->job_id == NULL ||
        m->job_id[0] == '\0')
        return mf_err_set(err, "message %zu: to, from, text and job_id are required", i);
    if (mf_buf_append_str(b, i > 0 ? ",{" : "{", err) < 0)
        return -1;
    if (put_field(b, "\"to\":", m->to, "to", i, err) < 0 ||
        put_field(b, ",\"from\":", m->from, "from", i, err) < 0 ||
        put_field(b, ",\"text\":", m->text, "text", i, err) < 0)
        return -1;
    if (m->type != NULL) {
        if (put_field(b, ",\"type\":", m->type, "type", i, err) < 0 ||
            mf_buf_append_str(b, ",\"autoTypeDetect\":false", err) < 0)
            return -1;
    }
    if (m->subject != NULL && put_field(b, ",\"subject\":", m->subject, "subject", i, err) < 0)
        return -1;
    if (m->kakao != NULL && put_kakao(b, m->kakao, i, last_buttons, err) < 0)
        return -1;
    if (put_custom_fields(b, m, i, err) < 0)
        return -1;
    return mf_buf_append_char(b, '}', err);
}

/* {"messages":[...]<tail>: tail closes the object (send-many adds its options there). */
int mf_coolsms_build_messages(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, const char *tail,
                              mf_err *err)
{
    const char *last_buttons = NULL;
    size_t start = body->len, i;

    if (n == 0 || n > MF_COOLSMS_MAX_BATCH)
        return mf_err_set(err, "a request carries 1 to %d messages, not %zu", MF_COOLSMS_MAX_BATCH,
                          n);
    if (mf_buf_append_str(body, "{\"messages\":[", err) < 0)
        goto fail;
    for (i = 0; i < n; i++)
        if (put_message(body, &msgs[i], i, &last_buttons, err) < 0)
            goto fail;
    if (mf_buf_append_str(body, tail, err) < 0)
        goto fail;
    return 0;
fail:
    body->len = start;
    if (body->data != NULL)
        body->data[start] = '\0';
    return -1;
}

int mf_coolsms_build_body(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, mf_err *err)
{
    return mf_coolsms_build_messages(body, msgs, n,
                                     "],\"allowDuplicates\":false,\"showMessageList\":true}", err);
}

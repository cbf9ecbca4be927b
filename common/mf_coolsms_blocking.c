/* mf_coolsms_blocking: the blocking CoolSMS calls (list, groups, quota, 080 opt-out list). */
#include "mf_coolsms_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ list */

static int build_list_url(mf_coolsms *h, const mf_coolsms_kv *f, size_t n, mf_err *err)
{
    size_t i;

    mf_buf_reset(&h->list_url);
    if (mf_buf_append_str(&h->list_url, h->base_url, err) < 0 ||
        mf_buf_append_str(&h->list_url, LIST_PATH, err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (f[i].key == NULL || f[i].value == NULL)
            return mf_err_set(err, "list filter %zu has no key or value", i);
        if (mf_buf_append_char(&h->list_url, i == 0 ? '?' : '&', err) < 0 ||
            mf_buf_append_urlenc(&h->list_url, f[i].key, strlen(f[i].key), err) < 0 ||
            mf_buf_append_char(&h->list_url, '=', err) < 0 ||
            mf_buf_append_urlenc(&h->list_url, f[i].value, strlen(f[i].value), err) < 0)
            return -1;
    }
    return 0;
}

/* Where a blocking call's outcome goes (fields of mf_coolsms_list_result and
 * mf_coolsms_group_info alike). */
typedef struct call_out {
    long *http_status;
    mf_coolsms_class *cls;
    long *retry_after_ms;
    char *code;
    size_t code_sz;
    char *msg;
    size_t msg_sz;
} call_out;

/* One blocking request on the handle's own easy handle to h->list_url; method NULL is GET,
 * body NULL sends none. The answer is in h->list_resp. 0 on a 2xx status, -1 with err
 * (`what` names the call) and the failure in o. */
static int blocking_call(mf_coolsms *h, const char *method, const char *body, const char *what,
                         const call_out *o, mf_err *err)
{
    struct curl_slist *hdr = NULL;
    mf_coolsms_transport tr;
    char msg[CURL_ERROR_SIZE + 128];
    CURLcode c;
    int rc = -1;

    *o->retry_after_ms = -1;
    *o->cls = MF_COOLSMS_PERMANENT;
    hdr = mf_coolsms_make_headers(h, body != NULL, err);
    if (hdr == NULL)
        goto out;
    mf_buf_reset(&h->list_resp);
    h->list_errbuf[0] = '\0';
    h->list_retry_after_s = -1;
    if (curl_easy_setopt(h->list_easy, CURLOPT_URL, h->list_url.data) != CURLE_OK ||
        curl_easy_setopt(h->list_easy, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
        (body != NULL ? curl_easy_setopt(h->list_easy, CURLOPT_POSTFIELDS, body) != CURLE_OK
                      : curl_easy_setopt(h->list_easy, CURLOPT_HTTPGET, 1L) != CURLE_OK) ||
        curl_easy_setopt(h->list_easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK) {
        mf_err_set(err, "could not set up the coolsms %s request", what);
        goto out;
    }
    c = curl_easy_perform(h->list_easy);
    if (h->list_retry_after_s >= 0)
        *o->retry_after_ms = mf_coolsms_retry_after_ms(h->list_retry_after_s);
    if (c != CURLE_OK) {
        mf_coolsms_fill_transport(h->list_easy, c, h->list_errbuf, &tr, msg, sizeof(msg));
        *o->cls = tr.curl_permanent ? MF_COOLSMS_PERMANENT : MF_COOLSMS_TRANSIENT;
        snprintf(o->code, o->code_sz, "%s",
                 tr.curl_permanent ? "CONFIG_ERROR"
                 : tr.curl_timeout ? "NETWORK_TIMEOUT"
                                   : "NETWORK_ERROR");
        mf_coolsms_copy_cstr(o->msg, o->msg_sz, msg);
        mf_err_set(err, "could not %s: %s", what, o->msg);
        goto out;
    }
    curl_easy_getinfo(h->list_easy, CURLINFO_RESPONSE_CODE, o->http_status);
    *o->cls = mf_coolsms_classify_status(*o->http_status);
    if (*o->cls != MF_COOLSMS_OK) {
        mf_coolsms_decode_error_body(*o->http_status,
                                     h->list_resp.data != NULL ? h->list_resp.data : "",
                                     h->list_resp.len, o->code, o->code_sz, o->msg, o->msg_sz);
        if (mf_coolsms_is_duplicated_signature(*o->http_status, o->code))
            *o->cls = MF_COOLSMS_TRANSIENT;
        mf_err_set(err, "could not %s: HTTP %ld: %s: %s", what, *o->http_status, o->code, o->msg);
        goto out;
    }
    rc = 0;
out:
    curl_easy_setopt(h->list_easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->list_easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h->list_easy, CURLOPT_HTTPGET, 1L);
    curl_slist_free_all(hdr);
    return rc;
}

/* Decodes a list-shaped answer (list, group messages) in h->list_resp into out. */
static int decode_list_answer(mf_coolsms *h, mf_coolsms_list_result *out, mf_err *err)
{
    if (mf_coolsms_decode_list(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len,
                               out, err) < 0) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        mf_coolsms_copy_cstr(out->error_message, sizeof(out->error_message),
                             err != NULL ? err->msg : "");
        return -1;
    }
    return 0;
}

static void list_out(mf_coolsms_list_result *out, call_out *o)
{
    memset(out, 0, sizeof(*out));
    o->http_status = &out->http_status;
    o->cls = &out->cls;
    o->retry_after_ms = &out->retry_after_ms;
    o->code = out->error_code;
    o->code_sz = sizeof(out->error_code);
    o->msg = out->error_message;
    o->msg_sz = sizeof(out->error_message);
}

int mf_coolsms_list(mf_coolsms *h, const mf_coolsms_kv *filters, size_t n_filters,
                    mf_coolsms_list_result *out, mf_err *err)
{
    call_out o;

    list_out(out, &o);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    if (build_list_url(h, filters, n_filters, err) < 0 ||
        blocking_call(h, NULL, NULL, "list coolsms messages", &o, err) < 0)
        return -1;
    return decode_list_answer(h, out, err);
}

/* The next page's "&startKey=..." (URL-encoded) when start_key is set; nothing otherwise. */
static int append_start_key(mf_buf *url, const char *start_key, mf_err *err)
{
    if (start_key == NULL || start_key[0] == '\0')
        return 0;
    if (mf_buf_append_str(url, "&startKey=", err) < 0 ||
        mf_buf_append_urlenc(url, start_key, strlen(start_key), err) < 0)
        return -1;
    return 0;
}

int mf_coolsms_group_messages(mf_coolsms *h, const char *group_id, const char *start_key, int limit,
                              mf_coolsms_list_result *out, mf_err *err)
{
    call_out o;
    char lim[16];

    list_out(out, &o);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 20);
    if (mf_coolsms_check_group_id(group_id, err) < 0 ||
        mf_coolsms_build_url(h, &h->list_url, GROUPS_PATH, group_id, "/messages?limit=", err) < 0 ||
        mf_buf_append_str(&h->list_url, lim, err) < 0)
        return -1;
    if (append_start_key(&h->list_url, start_key, err) < 0)
        return -1;
    if (blocking_call(h, NULL, NULL, "list the group's messages", &o, err) < 0)
        return -1;
    return decode_list_answer(h, out, err);
}

static long long jcount(const json_t *count, const char *key)
{
    const json_t *v = json_object_get(count, key);

    return json_is_integer(v) ? (long long)json_integer_value(v)
           : json_is_real(v)  ? (long long)json_real_value(v)
                              : 0;
}

/* One blocking group call (GET, POST .../send or DELETE) decoded into out. */
static int group_call(mf_coolsms *h, const char *group_id, const char *method, const char *suffix,
                      const char *body, const char *what, mf_coolsms_group_info *out, mf_err *err)
{
    call_out o = {&out->http_status,         &out->cls,
                  &out->retry_after_ms,      out->error_code,
                  sizeof(out->error_code),   out->error_message,
                  sizeof(out->error_message)};
    json_t *j = NULL;
    const json_t *count;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (mf_coolsms_check_group_id(group_id, err) < 0 ||
        mf_coolsms_build_url(h, &h->list_url, GROUPS_PATH, group_id, suffix, err) < 0 ||
        blocking_call(h, method, body, what, &o, err) < 0)
        goto out;
    j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len, 0, NULL);
    if (!json_is_object(j)) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        mf_err_set(err, "could not %s: the answer is not a JSON object", what);
        goto out;
    }
    mf_coolsms_jcopy(out->group_id, sizeof(out->group_id), j, "groupId");
    mf_coolsms_jcopy(out->status, sizeof(out->status), j, "status");
    count = json_object_get(j, "count");
    if (json_is_object(count)) {
        out->total = jcount(count, "total");
        out->registered_success = jcount(count, "registeredSuccess");
        out->registered_failed = jcount(count, "registeredFailed");
        out->sent_total = jcount(count, "sentTotal");
        out->sent_success = jcount(count, "sentSuccess");
        out->sent_failed = jcount(count, "sentFailed");
        out->sent_pending = jcount(count, "sentPending");
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int mf_coolsms_group_get(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                         mf_err *err)
{
    return group_call(h, group_id, NULL, "", NULL, "read the message group", out, err);
}

int mf_coolsms_group_send_wait(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                               mf_err *err)
{
    return group_call(h, group_id, "POST", "/send", "{}", "send the message group", out, err);
}

int mf_coolsms_group_delete(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                            mf_err *err)
{
    return group_call(h, group_id, "DELETE", "", NULL, "delete the message group", out, err);
}

/* ------------------------------------------------------------------ 080 opt-out list */

static int decode_black(mf_coolsms *h, mf_coolsms_black_result *out, mf_err *err)
{
    json_t *j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len, 0,
                           NULL);
    const json_t *list = json_object_get(j, "blackList"), *e;
    size_t i;
    int rc = -1;

    if (!json_is_object(j) || !json_is_array(list)) {
        out->cls = MF_COOLSMS_TRANSIENT;
        snprintf(out->error_code, sizeof(out->error_code), "BAD_RESPONSE");
        mf_err_set(err, "could not read the 080 opt-out list: the answer has no blackList "
                        "array");
        goto out;
    }
    out->numbers = calloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*out->numbers));
    if (out->numbers == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    json_array_foreach(list, i, e)
    {
        const char *num = mf_coolsms_jstr(e, "recipientNumber");

        if (num != NULL && strlen(num) < MF_COOLSMS_BLACK_NUMBER_MAX)
            mf_coolsms_copy_cstr(out->numbers[out->n_numbers++], MF_COOLSMS_BLACK_NUMBER_MAX, num);
    }
    mf_coolsms_jcopy(out->next_key, sizeof(out->next_key), j, "nextKey");
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ sending quota */

int mf_coolsms_quota_get(mf_coolsms *h, long long *quota, long *http_status, mf_err *err)
{
    mf_coolsms_class cls;
    long retry_after = -1;
    char code[64], msg[512];
    call_out o = {http_status, &cls, &retry_after, code, sizeof(code), msg, sizeof(msg)};
    json_t *j = NULL, *q;
    int rc = -1;

    *http_status = 0;
    if (mf_coolsms_build_url(h, &h->list_url, QUOTA_PATH, NULL, NULL, err) < 0 ||
        blocking_call(h, NULL, NULL, "read the sending quota", &o, err) < 0)
        goto out;
    j = json_loadb(h->list_resp.data != NULL ? h->list_resp.data : "", h->list_resp.len, 0, NULL);
    q = json_object_get(j, "quota");
    if (!json_is_integer(q) || json_integer_value(q) < 0) {
        mf_err_set(err, "could not read the sending quota: the answer has no quota number");
        goto out;
    }
    *quota = (long long)json_integer_value(q);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int mf_coolsms_black_list(mf_coolsms *h, const char *start_key, int limit,
                          mf_coolsms_black_result *out, mf_err *err)
{
    call_out o = {&out->http_status, &out->cls, &out->retry_after_ms, NULL, 0, NULL, 0};
    char lim[16];

    memset(out, 0, sizeof(*out));
    o.code = out->error_code;
    o.code_sz = sizeof(out->error_code);
    o.msg = out->error_message;
    o.msg_sz = sizeof(out->error_message);
    out->retry_after_ms = -1;
    out->cls = MF_COOLSMS_PERMANENT;
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    mf_buf_reset(&h->list_url);
    if (mf_buf_append_str(&h->list_url, h->base_url, err) < 0 ||
        mf_buf_append_str(&h->list_url, BLACK_PATH "?type=DENIAL&limit=", err) < 0 ||
        mf_buf_append_str(&h->list_url, lim, err) < 0)
        return -1;
    if (append_start_key(&h->list_url, start_key, err) < 0)
        return -1;
    if (blocking_call(h, NULL, NULL, "read the 080 opt-out list", &o, err) < 0)
        return -1;
    return decode_black(h, out, err);
}

void mf_coolsms_black_result_free(mf_coolsms_black_result *r)
{
    if (r == NULL)
        return;
    free(r->numbers);
    r->numbers = NULL;
    r->n_numbers = 0;
}

void mf_coolsms_list_result_free(mf_coolsms_list_result *r)
{
    if (r == NULL)
        return;
    free(r->items);
    r->items = NULL;
    r->n_items = 0;
}

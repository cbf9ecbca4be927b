/* sim_black: the account's 080 opt-out list (GET /iam/v1/black?type=DENIAL) and its effects. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_phone.h"
#include "sim.h"

#define JSON_CT "application/json; charset=utf-8"
#define BLACK_MAX 1000000 /* entries kept (a runaway test cannot eat the memory) */

typedef struct black_entry {
    char key[SIM_ID_LEN + 1]; /* handleKey */
    char to[MF_PHONE_MAX];
    char from[24];
    int64_t created_ms;
} black_entry;

struct sim_black {
    pthread_mutex_t lock;
    black_entry *e;
    size_t n, cap;
    unsigned long long seq;
};

sim_black *sim_black_new(void)
{
    sim_black *b = calloc(1, sizeof(*b));

    if (b != NULL)
        pthread_mutex_init(&b->lock, NULL);
    return b;
}

void sim_black_free(sim_black *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->e);
    free(b);
}

void sim_black_reset(sim_black *b)
{
    pthread_mutex_lock(&b->lock);
    b->n = 0;
    pthread_mutex_unlock(&b->lock);
}

static long find_locked(const sim_black *b, const char *to)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->e[i].to, to) == 0)
            return (long)i;
    return -1;
}

int sim_black_has(sim_black *b, const char *to)
{
    int yes;

    pthread_mutex_lock(&b->lock);
    yes = b->n > 0 && find_locked(b, to) >= 0;
    pthread_mutex_unlock(&b->lock);
    return yes;
}

int sim_black_add(sim_black *b, const char *to, const char *from, int64_t now_ms)
{
    char norm[MF_PHONE_MAX];
    int rc = 0;

    if (mf_phone_normalize(to, norm, sizeof(norm), NULL, NULL) != 0)
        return -1;
    pthread_mutex_lock(&b->lock);
    if (find_locked(b, norm) >= 0)
        goto out;
    if (b->n == BLACK_MAX) {
        rc = -1;
        goto out;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        black_entry *e = realloc(b->e, cap * sizeof(*e));

        if (e == NULL) {
            rc = -1;
            goto out;
        }
        b->e = e;
        b->cap = cap;
    }
    b->seq++;
    snprintf(b->e[b->n].key, sizeof(b->e[b->n].key), "BL%014lld%06llu", (long long)now_ms,
             b->seq % 1000000ULL);
    snprintf(b->e[b->n].to, sizeof(b->e[b->n].to), "%s", norm);
    snprintf(b->e[b->n].from, sizeof(b->e[b->n].from), "%s", from != NULL ? from : "");
    b->e[b->n].created_ms = now_ms;
    b->n++;
out:
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int entry_json(const black_entry *e, mf_buf *out)
{
    char at[40];

    sim_format_iso8601(e->created_ms, at, sizeof(at));
    return mf_buf_printf(out, NULL,
                         "{\"handleKey\":\"%s\",\"type\":\"DENIAL\",\"senderNumber\":\"%s\","
                         "\"recipientNumber\":\"%s\",\"dateCreated\":\"%s\","
                         "\"dateUpdated\":\"%s\"}",
                         e->key, e->from, e->to, at, at);
}

/* The page from the entry whose handleKey is start (NULL: the first), up to limit entries. */
static int page_json(sim_black *b, const char *start, long limit, mf_buf *out, int *unknown)
{
    size_t i = 0, k;
    int rc = 0;

    pthread_mutex_lock(&b->lock);
    if (start != NULL) {
        for (i = 0; i < b->n && strcmp(b->e[i].key, start) != 0; i++)
            ;
        if (i == b->n) {
            *unknown = 1;
            goto out;
        }
    }
    if (mf_buf_append_str(out, "{\"startKey\":", NULL) != 0 ||
        (start != NULL ? mf_buf_append_json_cstr(out, start, NULL)
                       : mf_buf_append_str(out, "null", NULL)) != 0 ||
        mf_buf_printf(out, NULL, ",\"limit\":%ld,\"nextKey\":", limit) != 0) {
        rc = -1;
        goto out;
    }
    k = i + (size_t)limit < b->n ? i + (size_t)limit : b->n;
    rc = k < b->n ? mf_buf_printf(out, NULL, "\"%s\"", b->e[k].key)
                  : mf_buf_append_str(out, "null", NULL);
    if (rc == 0)
        rc = mf_buf_append_str(out, ",\"blackList\":[", NULL);
    for (size_t j = i; rc == 0 && j < k; j++)
        rc = (j > i ? mf_buf_append_char(out, ',', NULL) : 0) != 0 ? -1 : entry_json(&b->e[j], out);
    if (rc == 0)
        rc = mf_buf_append_str(out, "]}", NULL);
out:
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void sim_handle_black(sim_ctx *ctx, const sim_query *q, sim_reply *r)
{
    const char *type = sim_query_get(q, "type"), *v = sim_query_get(q, "limit");
    const char *start = sim_query_get(q, "startKey");
    long limit = 20;
    int unknown = 0;

    if (type == NULL || strcmp(type, "DENIAL") != 0) {
        sim_reply_error(r, 400, "ValidationError", "type must be DENIAL");
        return;
    }
    if (v != NULL && *v && sim_parse_long(v, 1, 500, &limit) != 0) {
        sim_reply_error(r, 400, "ValidationError", "limit must be 1 to 500");
        return;
    }
    if (start != NULL && *start == '\0')
        start = NULL;
    mf_buf_reset(&r->body);
    if (page_json(ctx->black, start, limit, &r->body, &unknown) != 0) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        return;
    }
    if (unknown) {
        sim_reply_error(r, 400, "ValidationError", "unknown startKey");
        return;
    }
    r->status = 200;
    r->content_type = JSON_CT;
}

/* POST /_sim/black {"numbers":["010..."],"senderNumber":"..."}: recipients calling the 080
 * number. senderNumber defaults to the first registered sender. */
void sim_handle_black_add(sim_ctx *ctx, const char *body, size_t len, sim_reply *r)
{
    json_t *j = json_loadb(body != NULL ? body : "", len, 0, NULL);
    const json_t *nums = json_object_get(j, "numbers"), *e;
    const json_t *from = json_object_get(j, "senderNumber");
    const char *sender = json_is_string(from) ? json_string_value(from) : ctx->set.senders[0];
    int64_t now = mf_clock_wall_ms();
    size_t i, added = 0;

    if (!json_is_array(nums)) {
        sim_reply_error(r, 400, "InvalidConfig", "expected {\"numbers\":[\"010...\"]}");
        goto out;
    }
    json_array_foreach(nums, i, e)
    {
        if (!json_is_string(e) ||
            sim_black_add(ctx->black, json_string_value(e), sender, now) != 0) {
            sim_reply_error(r, 400, "InvalidConfig", "numbers[%zu] is not a mobile number", i);
            goto out;
        }
        added++;
    }
    mf_buf_reset(&r->body);
    if (mf_buf_printf(&r->body, NULL, "{\"ok\":true,\"numbers\":%zu}", added) != 0) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        goto out;
    }
    r->status = 200;
    r->content_type = JSON_CT;
out:
    json_decref(j);
}

int sim_black_code(const char *code)
{
    return code != NULL && (strcmp(code, "1061") == 0 || strcmp(code, "2061") == 0);
}

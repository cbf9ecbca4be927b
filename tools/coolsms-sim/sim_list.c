/* sim_list: GET /messages/v4/list with the filters SOLAPI documents, and the message JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_phone.h"
#include "sim.h"

#define JSON_CT "application/json; charset=utf-8"
#define MAX_IDS 1000

typedef struct list_filter {
    const char *ids[MAX_IDS];
    size_t nids;
    int ids_overflow;
    int ids_oom; /* a message id could not be copied: out of memory */
    const char *group_id;
    char to[MF_PHONE_MAX];
    int has_to;
    char from[24];
    const char *type;
    const char *status;
    int64_t start_ms, end_ms;
    int has_start, has_end;
    int by_updated;
    sim_cond conds[SIM_MAX_CONDS];
    size_t nconds;
    long limit;
    const char *start_key;
} list_filter;

static void add_id_list(const char *value, void *arg)
{
    list_filter *f = arg;
    const char *p = value;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n > 0) {
            if (f->nids >= MAX_IDS) {
                f->ids_overflow = 1;
                return;
            }
            /* ids are [A-Z0-9]{32}: keep only exact-length tokens, the rest cannot match */
            char *copy = strndup(p, n);
            if (copy == NULL) {
                f->ids_oom = 1;
                return;
            }
            f->ids[f->nids++] = copy;
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

static void free_filter(list_filter *f)
{
    for (size_t i = 0; i < f->nids; i++)
        free((char *)f->ids[i]);
}

static int parse_date(const sim_query *q, const char *key, int64_t *out, int *has, sim_reply *r)
{
    const char *v = sim_query_get(q, key);
    if (v == NULL || *v == '\0')
        return 0;
    if (mf_clock_parse_iso8601(v, out) != 0) {
        sim_reply_error(r, 400, "ValidationError", "%s is not an ISO 8601 time", key);
        return -1;
    }
    *has = 1;
    return 0;
}

/* The criteria the documentation lists for messages. */
static const char *const COND_FIELDS[] = {"messageId",  "groupId",     "to",          "from",
                                          "type",       "dateCreated", "dateUpdated", "replacement",
                                          "statusCode", NULL};

static int parse_filter(const sim_query *q, list_filter *f, sim_reply *r)
{
    const char *v;

    memset(f, 0, sizeof(*f));
    f->limit = 20;
    v = sim_query_get(q, "limit");
    if (v && *v && sim_parse_long(v, 1, 500, &f->limit) != 0) {
        sim_reply_error(r, 400, "ValidationError", "limit must be 1 to 500");
        return -1;
    }
    v = sim_query_get(q, "messageId");
    if (v && *v)
        add_id_list(v, f);
    sim_query_each(q, "messageIds", add_id_list, f);
    if (f->ids_oom) {
        sim_reply_error(r, 500, "InternalError", "out of memory for the message ids");
        return -1;
    }
    if (f->ids_overflow) {
        sim_reply_error(r, 400, "ValidationError", "at most %d message ids", MAX_IDS);
        return -1;
    }
    f->group_id = sim_query_get(q, "groupId");
    v = sim_query_get(q, "to");
    if (v && *v) {
        f->has_to = 1;
        if (mf_phone_normalize(v, f->to, sizeof(f->to), NULL, NULL) != 0)
            snprintf(f->to, sizeof(f->to), "%s", v);
    }
    v = sim_query_get(q, "from");
    if (v && *v) {
        size_t n = 0;
        for (; *v && n + 1 < sizeof(f->from); v++)
            if (*v >= '0' && *v <= '9')
                f->from[n++] = *v;
        f->from[n] = '\0';
    }
    f->type = sim_query_get(q, "type");
    f->status = sim_query_get(q, "statusCode");
    v = sim_query_get(q, "dateType");
    f->by_updated = v && !strcasecmp(v, "UPDATED");
    if (parse_date(q, "startDate", &f->start_ms, &f->has_start, r) != 0 ||
        parse_date(q, "endDate", &f->end_ms, &f->has_end, r) != 0)
        return -1;
    if (sim_conds_parse(q, COND_FIELDS, f->conds, &f->nconds, r) != 0)
        return -1;
    f->start_key = sim_query_get(q, "startKey");
    if (f->start_key && !*f->start_key)
        f->start_key = NULL;
    return 0;
}

/* Last time the message changed state, at or before now. */
static int64_t updated_ms(const sim_msg *m, int64_t now)
{
    if (m->state != SIM_MS_SENT)
        return m->state == SIM_MS_PENDING ? m->created_ms : m->final_ms;
    int64_t mid = m->accepted_ms + (m->final_ms - m->accepted_ms) / 2;
    if (now >= m->final_ms)
        return m->final_ms;
    if (now >= mid && mid > m->accepted_ms)
        return mid;
    return m->accepted_ms;
}

static int cond_matches(sim_ledger *l, const sim_cond *c, const sim_msg *m, int64_t now)
{
    const char *f = c->field;
    if (!strcmp(f, "messageId"))
        return sim_cond_str(c, m->id);
    if (!strcmp(f, "groupId"))
        return sim_cond_str(c, sim_ledger_group_id(l, m->group));
    if (!strcmp(f, "to"))
        return sim_cond_str(c, m->to);
    if (!strcmp(f, "from"))
        return sim_cond_str(c, m->from);
    if (!strcmp(f, "type"))
        return sim_cond_str(c, m->type);
    if (!strcmp(f, "statusCode"))
        return sim_cond_str(c, sim_msg_status(m, now));
    if (!strcmp(f, "replacement"))
        return sim_cond_str(c, "false");
    if (!strcmp(f, "dateCreated"))
        return sim_cond_time(c, m->created_ms);
    return sim_cond_time(c, updated_ms(m, now));
}

static int matches(sim_ledger *l, const list_filter *f, const sim_msg *m, int64_t now)
{
    if (m->state == SIM_MS_REMOVED)
        return 0;
    if (f->group_id && *f->group_id && strcmp(sim_ledger_group_id(l, m->group), f->group_id))
        return 0;
    if (f->has_to && strcmp(m->to, f->to))
        return 0;
    if (f->from[0] && strcmp(m->from, f->from))
        return 0;
    if (f->type && *f->type && strcasecmp(m->type, f->type))
        return 0;
    if (f->status && *f->status && strcmp(sim_msg_status(m, now), f->status))
        return 0;
    int64_t t = f->by_updated ? updated_ms(m, now) : m->created_ms;
    if ((f->has_start && t < f->start_ms) || (f->has_end && t > f->end_ms))
        return 0;
    for (size_t i = 0; i < f->nconds; i++)
        if (!cond_matches(l, &f->conds[i], m, now))
            return 0;
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Candidate indexes when messageId(s) are given: *out (owned by the caller) sorted ascending,
 * deduplicated, *n of them. *out NULL with *n == SIZE_MAX means "scan everything". -1 with
 * err when out of memory (an error, not an empty list). */
static int candidates(sim_ledger *l, const list_filter *f, uint32_t **out, size_t *n, mf_err *err)
{
    uint32_t *c;
    size_t k = 0, w = 0;

    *out = NULL;
    if (f->nids == 0) {
        *n = SIZE_MAX;
        return 0;
    }
    c = malloc(f->nids * sizeof(uint32_t));
    if (c == NULL)
        return mf_err_set(err, "out of memory for %zu message ids", f->nids);
    for (size_t i = 0; i < f->nids; i++) {
        long idx = sim_ledger_find(l, f->ids[i]);
        if (idx >= 0)
            c[k++] = (uint32_t)idx;
    }
    qsort(c, k, sizeof(uint32_t), cmp_u32);
    for (size_t i = 0; i < k; i++)
        if (w == 0 || c[w - 1] != c[i])
            c[w++] = c[i];
    *out = c;
    *n = w;
    return 0;
}

/* "s" (s has nothing to escape: a formatted time). */
static int append_quoted(mf_buf *b, const char *s, mf_err *err)
{
    if (mf_buf_append_char(b, '"', err) != 0 || mf_buf_append_str(b, s, err) != 0)
        return -1;
    return mf_buf_append_char(b, '"', err);
}

int sim_msg_json(sim_ledger *l, const char *account, const sim_msg *m, int64_t now, int with_key,
                 mf_buf *b, mf_err *err)
{
    char created[40], updated[40], final[40];
    const char *st = sim_msg_status(m, now);
    int sent = m->state == SIM_MS_SENT;
    int reported = (sent && now >= m->final_ms) || m->state == SIM_MS_UNSENT;
    int64_t mid = m->accepted_ms + (m->final_ms - m->accepted_ms) / 2;

    sim_format_iso8601(m->created_ms, created, sizeof(created));
    sim_format_iso8601(updated_ms(m, now), updated, sizeof(updated));
    sim_format_iso8601(m->final_ms, final, sizeof(final));
    if ((with_key && mf_buf_printf(b, err, "\"%s\":", m->id) != 0) ||
        mf_buf_append_str(b, "{\"_id\":\"", err) != 0 || mf_buf_append_str(b, m->id, err) != 0 ||
        mf_buf_append_str(b, "\",\"messageId\":\"", err) != 0 ||
        mf_buf_append_str(b, m->id, err) != 0 ||
        mf_buf_append_str(b, "\",\"groupId\":\"", err) != 0 ||
        mf_buf_append_str(b, sim_ledger_group_id(l, m->group), err) != 0 ||
        mf_buf_append_str(b, "\",\"accountId\":", err) != 0 ||
        mf_buf_append_json_cstr(b, account, err) != 0 ||
        mf_buf_append_str(b, ",\"type\":", err) != 0 ||
        (m->type[0] ? mf_buf_append_json_cstr(b, m->type, err)
                    : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_append_str(b, ",\"country\":\"82\",\"to\":", err) != 0 ||
        mf_buf_append_json_cstr(b, m->to, err) != 0 ||
        mf_buf_append_str(b, ",\"from\":", err) != 0 ||
        mf_buf_append_json_cstr(b, m->from, err) != 0 ||
        mf_buf_append_str(b, ",\"status\":\"", err) != 0 ||
        mf_buf_append_str(b, sim_msg_status_word(m, now), err) != 0 ||
        mf_buf_append_str(b, "\",\"statusCode\":\"", err) != 0 ||
        mf_buf_append_str(b, st, err) != 0 ||
        mf_buf_append_str(b, "\",\"statusMessage\":", err) != 0 ||
        mf_buf_append_json_cstr(b, sim_code_message(st), err) != 0 ||
        mf_buf_append_str(b, ",\"text\":", err) != 0 ||
        mf_buf_append_json_cstr(b, m->text ? m->text : "", err) != 0 ||
        mf_buf_append_str(b, ",\"subject\":", err) != 0 ||
        (m->subject ? mf_buf_append_json_cstr(b, m->subject, err)
                    : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_append_str(b, ",\"customFields\":", err) != 0 || sim_msg_cf_json(m, b, err) != 0 ||
        mf_buf_append_str(b, ",\"kakaoOptions\":{\"pfId\":", err) != 0 ||
        (m->pf_id ? mf_buf_append_json_cstr(b, m->pf_id, err)
                  : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_append_str(b, ",\"templateId\":", err) != 0 ||
        (m->template_id ? mf_buf_append_json_cstr(b, m->template_id, err)
                        : mf_buf_append_str(b, "null", err)) != 0)
        return -1;
    /* appends, not a printf: this runs for every report and list entry */
    if (mf_buf_append_str(b,
                          "},\"imageId\":null,\"replacement\":false,\"autoTypeDetect\":true,"
                          "\"resendCount\":0,\"networkName\":\"ETC\",\"networkCode\":null,"
                          "\"reason\":null,\"clusterKey\":null,\"log\":[],\"queues\":[],"
                          "\"currentQueue\":null,\"dateCreated\":\"",
                          err) != 0 ||
        mf_buf_append_str(b, created, err) != 0 ||
        mf_buf_append_str(b, "\",\"dateUpdated\":\"", err) != 0 ||
        mf_buf_append_str(b, updated, err) != 0 || mf_buf_append_char(b, '"', err) != 0)
        return -1;
    if (mf_buf_append_str(b, ",\"dateProcessed\":", err) != 0 ||
        ((sent && now >= mid) || m->state == SIM_MS_UNSENT
             ? append_quoted(b, m->state == SIM_MS_UNSENT ? final : updated, err)
             : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_append_str(b, ",\"dateReported\":", err) != 0 ||
        (reported ? append_quoted(b, final, err) : mf_buf_append_str(b, "null", err)) != 0 ||
        mf_buf_append_str(b, ",\"dateReceived\":", err) != 0 ||
        (reported && !strcmp(st, "4000") ? append_quoted(b, final, err)
                                         : mf_buf_append_str(b, "null", err)) != 0)
        return -1;
    return mf_buf_append_char(b, '}', err);
}

/* Walk the candidates from startKey, emit up to limit, remember the next key. */
static int emit(sim_ctx *ctx, const list_filter *f, mf_buf *b, sim_reply *r, mf_err *err)
{
    sim_ledger *l = ctx->ledger;
    int64_t now = mf_clock_wall_ms();
    size_t n = 0, emitted = 0, from = 0, total;
    uint32_t *c = NULL;
    const char *next = NULL;
    int rc = -1;

    if (candidates(l, f, &c, &n, err) != 0)
        goto out;
    total = n == SIZE_MAX ? sim_ledger_count(l) : n;
    if (f->start_key) {
        long s = sim_ledger_find(l, f->start_key);
        if (s < 0) {
            sim_reply_error(r, 400, "ValidationError", "unknown startKey");
            rc = 1;
            goto out;
        }
        while (from < total && (c ? c[from] : from) < (size_t)s)
            from++;
    }
    if (mf_buf_append_str(b, ",\"messageList\":{", err) != 0)
        goto out;
    for (size_t i = from; i < total; i++) {
        const sim_msg *m = sim_ledger_at(l, c ? c[i] : i);
        if (!matches(l, f, m, now))
            continue;
        if (emitted == (size_t)f->limit) {
            next = m->id;
            break;
        }
        if ((emitted && mf_buf_append_char(b, ',', err) != 0) ||
            sim_msg_json(l, ctx->set.account_id, m, now, 1, b, err) != 0)
            goto out;
        emitted++;
    }
    if (mf_buf_append_str(b, "},\"nextKey\":", err) != 0 ||
        (next ? mf_buf_printf(b, err, "\"%s\"", next) : mf_buf_append_str(b, "null", err)) != 0)
        goto out;
    rc = 0;
out:
    free(c);
    return rc;
}

void sim_handle_list(sim_ctx *ctx, const sim_query *q, sim_reply *r)
{
    list_filter f;
    mf_err err;
    mf_buf *b = &r->body;
    int rc;

    if (parse_filter(q, &f, r) != 0)
        goto out;
    mf_buf_reset(b);
    if (mf_buf_append_str(b, "{\"startKey\":", &err) != 0 ||
        (f.start_key ? mf_buf_append_json_cstr(b, f.start_key, &err)
                     : mf_buf_append_str(b, "null", &err)) != 0 ||
        mf_buf_printf(b, &err, ",\"limit\":%ld", f.limit) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    sim_ledger_rdlock(ctx->ledger);
    rc = emit(ctx, &f, b, r, &err);
    sim_ledger_unlock(ctx->ledger);
    if (rc > 0)
        goto out;
    if (rc < 0 || mf_buf_append_char(b, '}', &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    r->status = 200;
    r->content_type = JSON_CT;
out:
    free_filter(&f);
}

/* sim_group_read: the message group as JSON, and the calls that read groups (get, list). */
#include "sim_group_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_CT "application/json; charset=utf-8"
#define GROUP_LIMIT_MAX 500

/* ---- the group object -------------------------------------------------------------------- */

typedef struct gcount {
    size_t total, sent_total, sent_failed, sent_success, sent_pending, reg_failed, reg_success;
    size_t by_type[5]; /* registered, per SMS LMS MMS ATA CTA */
} gcount;

static const char *const TYPES[5] = {"SMS", "LMS", "MMS", "ATA", "CTA"};
static const char *const CHARGE_KEYS[11] = {"sms", "lms",     "mms",     "ata",     "cta",    "cti",
                                            "nsa", "rcs_sms", "rcs_lms", "rcs_mms", "rcs_tpl"};

/* Counts from the messages, at now. Takes the ledger read lock. */
static void group_count(sim_ctx *ctx, const sim_group *g, int64_t now, gcount *c)
{
    memset(c, 0, sizeof(*c));
    c->total = g->n + g->extra_failed;
    c->reg_failed = g->extra_failed;
    sim_ledger_rdlock(ctx->ledger);
    for (size_t i = 0; i < g->n; i++) {
        const sim_msg *m = sim_ledger_at(ctx->ledger, g->idx[i]);
        if (m->state == SIM_MS_REJECTED) {
            c->reg_failed++;
            continue;
        }
        c->reg_success++;
        for (int t = 0; t < 5; t++)
            if (!strcmp(m->type, TYPES[t]))
                c->by_type[t]++;
        if (m->state == SIM_MS_UNSENT) {
            c->sent_failed++;
        } else if (m->state == SIM_MS_SENT) {
            const char *st = sim_msg_status(m, now);
            if (now < m->final_ms)
                c->sent_pending++;
            else if (!strcmp(st, "4000"))
                c->sent_success++;
            else
                c->sent_failed++;
        }
    }
    sim_ledger_unlock(ctx->ledger);
    c->sent_total = c->sent_success + c->sent_failed + c->sent_pending;
}

const char *sim_group_status(const sim_group *g, int64_t now)
{
    switch (g->st) {
    case G_PENDING: return "PENDING";
    case G_FAILED: return "FAILED";
    case G_DELETED: return "DELETED";
    case G_SENDING:
        if (now < g->start_ms)
            return "SCHEDULED";
        return now >= g->done_ms ? "COMPLETE" : "SENDING";
    }
    return "PENDING";
}

static int json_opt_str(mf_buf *b, const char *s, mf_err *err)
{
    return s ? mf_buf_append_json_cstr(b, s, err) : mf_buf_append_str(b, "null", err);
}

static int json_opt_time(mf_buf *b, int64_t ms, mf_err *err)
{
    char t[40];
    if (ms <= 0)
        return mf_buf_append_str(b, "null", err);
    sim_format_iso8601(ms, t, sizeof(t));
    return mf_buf_printf(b, err, "\"%s\"", t);
}

/* Append the whole group object (every field of the SDK's group schemas). */
int sim_group_json(sim_ctx *ctx, const sim_group *g, int64_t now, mf_buf *b, mf_err *err)
{
    static const char cash[] = "{\"requested\":0,\"replacement\":0,\"refund\":0,\"sum\":0}";
    const char *status = sim_group_status(g, now);
    int complete = !strcmp(status, "COMPLETE");
    int64_t updated = g->updated_ms;
    gcount c;

    if (complete && g->done_ms > updated)
        updated = g->done_ms;
    group_count(ctx, g, now, &c);
    if (mf_buf_printf(b, err,
                      "{\"count\":{\"total\":%zu,\"sentTotal\":%zu,\"sentFailed\":%zu,"
                      "\"sentSuccess\":%zu,\"sentPending\":%zu,\"sentReplacement\":0,"
                      "\"refund\":0,\"registeredFailed\":%zu,\"registeredSuccess\":%zu},"
                      "\"countForCharge\":{",
                      c.total, c.sent_total, c.sent_failed, c.sent_success, c.sent_pending,
                      c.reg_failed, c.reg_success) != 0)
        return -1;
    for (int i = 0; i < 11; i++) {
        size_t v = i < 5 ? c.by_type[i] : 0;
        if (mf_buf_printf(b, err, "%s\"%s\":{", i ? "," : "", CHARGE_KEYS[i]) != 0 ||
            (v > 0 && mf_buf_printf(b, err, "\"82\":%zu", v) != 0) ||
            mf_buf_append_char(b, '}', err) != 0)
            return -1;
    }
    if (mf_buf_printf(b, err, "},\"balance\":%s,\"point\":%s,\"app\":{\"profit\":{", cash, cash) !=
        0)
        return -1;
    for (int i = 0; i < 11; i++)
        if (mf_buf_printf(b, err, "%s\"%s\":0", i ? "," : "", CHARGE_KEYS[i]) != 0)
            return -1;
    if (mf_buf_append_str(b, "},\"appId\":", err) != 0 || json_opt_str(b, g->app_id, err) != 0 ||
        mf_buf_append_str(b, ",\"version\":null},\"serviceMethod\":\"MT\",\"sdkVersion\":", err) !=
            0 ||
        json_opt_str(b, g->sdk_version, err) != 0 ||
        mf_buf_append_str(b, ",\"osPlatform\":", err) != 0 ||
        json_opt_str(b, g->os_platform, err) != 0 || mf_buf_append_str(b, ",\"log\":[", err) != 0)
        return -1;
    for (size_t i = 0; i < g->nlog; i++) {
        char t[40];
        sim_format_iso8601(g->log[i].ms, t, sizeof(t));
        if (mf_buf_printf(b, err, "%s{\"createAt\":\"%s\",\"message\":", i ? "," : "", t) != 0 ||
            mf_buf_append_json_cstr(b, g->log[i].msg, err) != 0 ||
            mf_buf_append_char(b, '}', err) != 0)
            return -1;
    }
    if (mf_buf_printf(b, err, "],\"status\":\"%s\",\"scheduledDate\":", status) != 0 ||
        json_opt_time(b, g->start_ms > g->sent_ms && g->sent_ms > 0 ? g->start_ms : 0, err) != 0 ||
        mf_buf_append_str(b, ",\"dateSent\":", err) != 0 ||
        json_opt_time(b, g->sent_ms, err) != 0 ||
        mf_buf_append_str(b, ",\"dateCompleted\":", err) != 0 ||
        json_opt_time(b, complete ? g->done_ms : 0, err) != 0 ||
        mf_buf_printf(b, err,
                      ",\"isRefunded\":false,\"flagUpdated\":false,\"prepaid\":true,"
                      "\"strict\":%s,\"masterAccountId\":null,\"allowDuplicates\":%s,"
                      "\"_id\":\"%s\",\"groupId\":\"%s\",\"accountId\":",
                      g->strict ? "true" : "false", g->allow_dup ? "true" : "false", g->id,
                      g->id) != 0 ||
        mf_buf_append_json_cstr(b, ctx->set.account_id, err) != 0 ||
        mf_buf_printf(b, err,
                      ",\"apiVersion\":\"4\",\"price\":{},\"customFields\":%s,"
                      "\"hint\":null,\"dateCreated\":",
                      g->cf_json ? g->cf_json : "{}") != 0 ||
        json_opt_time(b, g->created_ms, err) != 0 ||
        mf_buf_append_str(b, ",\"dateUpdated\":", err) != 0 || json_opt_time(b, updated, err) != 0)
        return -1;
    return mf_buf_append_char(b, '}', err);
}

void sim_group_reply(sim_ctx *ctx, const sim_group *g, int64_t now, sim_reply *r)
{
    mf_err err;
    mf_buf_reset(&r->body);
    if (sim_group_json(ctx, g, now, &r->body, &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "could not build the group: %s", err.msg);
        return;
    }
    r->status = 200;
    r->content_type = JSON_CT;
}

int sim_groups_json_by_id(sim_ctx *ctx, const char *gid, int64_t now, mf_buf *out, mf_err *err)
{
    int rc = -1;
    pthread_mutex_lock(&ctx->groups->lock);
    sim_group *g = sim_group_find(ctx->groups, gid);
    if (g != NULL)
        rc = sim_group_json(ctx, g, now, out, err);
    pthread_mutex_unlock(&ctx->groups->lock);
    return rc;
}

/* ---- GET /messages/v4/groups/{id} ------------------------------------------------------- */

void sim_handle_group_get(sim_ctx *ctx, const char *gid, sim_reply *r)
{
    sim_group *g = sim_group_lock(ctx, gid, 404, r);
    if (g == NULL)
        return;
    sim_group_reply(ctx, g, mf_clock_wall_ms(), r);
    pthread_mutex_unlock(&ctx->groups->lock);
}

/* ---- GET /messages/v4/groups/{id}/messages ----------------------------------------------- */

static int parse_limit(const sim_query *q, long *limit, sim_reply *r)
{
    const char *v = sim_query_get(q, "limit");
    *limit = 20;
    if (v && *v && sim_parse_long(v, 1, GROUP_LIMIT_MAX, limit) != 0) {
        sim_reply_error(r, 400, "ValidationError", "limit must be 1 to %d", GROUP_LIMIT_MAX);
        return -1;
    }
    return 0;
}

void sim_handle_group_messages(sim_ctx *ctx, const char *gid, const sim_query *q, sim_reply *r)
{
    const char *start_key = sim_query_get(q, "startKey");
    int64_t now = mf_clock_wall_ms();
    mf_buf *b = &r->body;
    size_t from = 0, emitted = 0;
    const char *next = NULL;
    long limit;
    sim_group *g;
    mf_err err;

    if (parse_limit(q, &limit, r) != 0)
        return;
    if (start_key && !*start_key)
        start_key = NULL;
    g = sim_group_lock(ctx, gid, 404, r);
    if (g == NULL)
        return;
    sim_ledger_rdlock(ctx->ledger);
    if (start_key) {
        long li = sim_ledger_find(ctx->ledger, start_key);
        long pos = li >= 0 ? sim_group_idx_pos(g, (uint32_t)li) : -1;
        if (pos < 0) {
            sim_reply_error(r, 400, "ValidationError", "unknown startKey");
            goto unlock;
        }
        from = (size_t)pos;
    }
    mf_buf_reset(b);
    if (mf_buf_append_str(b, "{\"startKey\":", &err) != 0 ||
        json_opt_str(b, start_key, &err) != 0 ||
        mf_buf_printf(b, &err, ",\"limit\":%ld,\"messageList\":{", limit) != 0)
        goto fail;
    for (size_t i = from; i < g->n; i++) {
        const sim_msg *m = sim_ledger_at(ctx->ledger, g->idx[i]);
        if (emitted == (size_t)limit) {
            next = m->id;
            break;
        }
        if ((emitted && mf_buf_append_char(b, ',', &err) != 0) ||
            sim_msg_json(ctx->ledger, ctx->set.account_id, m, now, 1, b, &err) != 0)
            goto fail;
        emitted++;
    }
    if (mf_buf_append_str(b, "},\"nextKey\":", &err) != 0 || json_opt_str(b, next, &err) != 0 ||
        mf_buf_append_char(b, '}', &err) != 0)
        goto fail;
    r->status = 200;
    r->content_type = JSON_CT;
    goto unlock;
fail:
    sim_reply_error(r, 500, "InternalError", "could not build the response");
unlock:
    sim_ledger_unlock(ctx->ledger);
    pthread_mutex_unlock(&ctx->groups->lock);
}

/* ---- GET /messages/v4/groups ------------------------------------------------------------- */

static int group_matches(const sim_group *g, int64_t now, const sim_cond *c, size_t nc,
                         int64_t start, int64_t end, int by_updated)
{
    int64_t t = by_updated ? g->updated_ms : g->created_ms;
    if ((start && t < start) || (end && t > end))
        return 0;
    for (size_t i = 0; i < nc; i++) {
        int ok;
        if (!strcmp(c[i].field, "groupId"))
            ok = sim_cond_str(&c[i], g->id);
        else if (!strcmp(c[i].field, "status"))
            ok = sim_cond_str(&c[i], sim_group_status(g, now));
        else if (!strcmp(c[i].field, "dateCreated"))
            ok = sim_cond_time(&c[i], g->created_ms);
        else
            ok = sim_cond_time(&c[i], g->updated_ms);
        if (!ok)
            return 0;
    }
    return 1;
}

void sim_handle_group_list(sim_ctx *ctx, const sim_query *q, sim_reply *r)
{
    static const char *const fields[] = {"groupId", "status", "dateCreated", "dateUpdated", NULL};
    const char *start_key = sim_query_get(q, "startKey");
    const char *sd = sim_query_get(q, "startDate"), *ed = sim_query_get(q, "endDate");
    const char *dt = sim_query_get(q, "dateType");
    sim_cond conds[SIM_MAX_CONDS];
    int64_t now = mf_clock_wall_ms(), start = 0, end = 0;
    mf_buf *b = &r->body;
    size_t nc, from = 0, emitted = 0;
    const char *next = NULL;
    long limit;
    mf_err err;

    if (parse_limit(q, &limit, r) != 0 || sim_conds_parse(q, fields, conds, &nc, r) != 0)
        return;
    if ((sd && *sd && mf_clock_parse_iso8601(sd, &start) != 0) ||
        (ed && *ed && mf_clock_parse_iso8601(ed, &end) != 0)) {
        sim_reply_error(r, 400, "ValidationError", "startDate and endDate must be ISO 8601");
        return;
    }
    if (start_key && !*start_key)
        start_key = NULL;
    pthread_mutex_lock(&ctx->groups->lock);
    if (start_key) {
        long i = sim_group_index(ctx->groups, start_key);
        if (i < 0) {
            sim_reply_error(r, 400, "ValidationError", "unknown startKey");
            goto unlock;
        }
        from = (size_t)i;
    }
    mf_buf_reset(b);
    if (mf_buf_append_str(b, "{\"startKey\":", &err) != 0 ||
        json_opt_str(b, start_key, &err) != 0 ||
        mf_buf_printf(b, &err, ",\"limit\":%ld,\"groupList\":{", limit) != 0)
        goto fail;
    for (size_t i = from; i < ctx->groups->n; i++) {
        const sim_group *g = ctx->groups->v[i];
        if (!group_matches(g, now, conds, nc, start, end, dt && !strcmp(dt, "UPDATED")))
            continue;
        if (emitted == (size_t)limit) {
            next = g->id;
            break;
        }
        if (mf_buf_printf(b, &err, "%s\"%s\":", emitted ? "," : "", g->id) != 0 ||
            sim_group_json(ctx, g, now, b, &err) != 0)
            goto fail;
        emitted++;
    }
    if (mf_buf_append_str(b, "},\"nextKey\":", &err) != 0 || json_opt_str(b, next, &err) != 0 ||
        mf_buf_append_char(b, '}', &err) != 0)
        goto fail;
    r->status = 200;
    r->content_type = JSON_CT;
    goto unlock;
fail:
    sim_reply_error(r, 500, "InternalError", "could not build the response");
unlock:
    pthread_mutex_unlock(&ctx->groups->lock);
}

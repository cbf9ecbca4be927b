/* sim_group: the message group table and the calls that change groups (create, add, send). */
#include "sim_group_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim_req.h"
#include "sim_send.h"

#define JSON_CT "application/json; charset=utf-8"

/* ---- table ------------------------------------------------------------------------------- */

static void group_free(sim_group *g)
{
    if (g == NULL)
        return;
    free(g->cf_json);
    free(g->app_id);
    free(g->sdk_version);
    free(g->os_platform);
    free(g->idx);
    free(g->tos);
    free(g);
}

sim_groups *sim_groups_new(void)
{
    sim_groups *gs = calloc(1, sizeof(*gs));
    if (gs == NULL)
        return NULL;
    pthread_mutex_init(&gs->lock, NULL);
    return gs;
}

static void groups_release(sim_groups *gs)
{
    for (size_t i = 0; i < gs->n; i++)
        group_free(gs->v[i]);
    free(gs->v);
    free(gs->slots);
    gs->v = NULL;
    gs->slots = NULL;
    gs->n = gs->cap = gs->scap = 0;
}

void sim_groups_free(sim_groups *gs)
{
    if (gs == NULL)
        return;
    groups_release(gs);
    pthread_mutex_destroy(&gs->lock);
    free(gs);
}

void sim_groups_reset(sim_groups *gs)
{
    pthread_mutex_lock(&gs->lock);
    groups_release(gs);
    pthread_mutex_unlock(&gs->lock);
}

static size_t slot_of(const sim_groups *gs, const char *id)
{
    size_t j = (size_t)sim_hash64(id, strlen(id), 3) & (gs->scap - 1);
    while (gs->slots[j] != 0 && strcmp(gs->v[gs->slots[j] - 1]->id, id) != 0)
        j = (j + 1) & (gs->scap - 1);
    return j;
}

/* Index of group id in creation order, or -1. Under the lock. */
long sim_group_index(const sim_groups *gs, const char *id)
{
    if (gs->scap == 0)
        return -1;
    size_t j = slot_of(gs, id);
    return gs->slots[j] ? (long)gs->slots[j] - 1 : -1;
}

sim_group *sim_group_find(const sim_groups *gs, const char *id)
{
    long i = sim_group_index(gs, id);
    return i < 0 ? NULL : gs->v[i];
}

/* Take ownership of g. Under the lock. */
static int group_insert(sim_groups *gs, sim_group *g, mf_err *err)
{
    if (gs->n == gs->cap) {
        size_t ncap = gs->cap ? gs->cap * 2 : 256;
        sim_group **nv = realloc(gs->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return mf_err_set(err, "out of memory");
        gs->v = nv;
        gs->cap = ncap;
    }
    if ((gs->n + 1) * 2 > gs->scap) {
        size_t ncap = gs->scap ? gs->scap * 2 : 1024;
        uint32_t *ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL)
            return mf_err_set(err, "out of memory");
        free(gs->slots);
        gs->slots = ns;
        gs->scap = ncap;
        for (size_t i = 0; i < gs->n; i++)
            gs->slots[slot_of(gs, gs->v[i]->id)] = (uint32_t)i + 1;
    }
    gs->v[gs->n] = g;
    gs->slots[slot_of(gs, g->id)] = (uint32_t)gs->n + 1;
    gs->n++;
    return 0;
}

static void group_log(sim_group *g, int64_t ms, const char *msg)
{
    glog *e = &g->log[g->nlog < GLOG_MAX ? g->nlog++ : GLOG_MAX - 1]; /* full: keep the last */
    e->ms = ms;
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
}

static int idx_push(sim_group *g, uint32_t v)
{
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 64;
        uint32_t *ni = realloc(g->idx, ncap * sizeof(*ni));
        if (ni == NULL)
            return -1;
        g->idx = ni;
        g->cap = ncap;
    }
    g->idx[g->n++] = v;
    return 0;
}

/* ---- duplicate recipients ---------------------------------------------------------------- */

static uint64_t to_hash(const char *to)
{
    uint64_t h = sim_hash64(to, strlen(to), 0x70);
    return h ? h : 1;
}

static int tos_grow(sim_group *g)
{
    size_t ncap = g->tos_cap ? g->tos_cap * 2 : 256;
    uint64_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < g->tos_cap; i++) {
        if (g->tos[i] == 0)
            continue;
        size_t j = (size_t)g->tos[i] & (ncap - 1);
        while (ns[j] != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = g->tos[i];
    }
    free(g->tos);
    g->tos = ns;
    g->tos_cap = ncap;
    return 0;
}

/* 1 when to was already registered (else records it), -1 out of memory. */
static int tos_check_add(sim_group *g, const char *to)
{
    uint64_t h = to_hash(to);
    if ((g->tos_used + 1) * 2 > g->tos_cap && tos_grow(g) != 0)
        return -1;
    size_t j = (size_t)h & (g->tos_cap - 1);
    while (g->tos[j] != 0 && g->tos[j] != h)
        j = (j + 1) & (g->tos_cap - 1);
    if (g->tos[j] == h)
        return 1;
    g->tos[j] = h;
    g->tos_used++;
    return 0;
}

/* Rebuild the recipient set from the registered messages (after a removal). */
static int tos_rebuild(sim_ctx *ctx, sim_group *g)
{
    if (g->tos_cap)
        memset(g->tos, 0, g->tos_cap * sizeof(*g->tos));
    g->tos_used = 0;
    for (size_t i = 0; i < g->n; i++) {
        const sim_msg *m = sim_ledger_at(ctx->ledger, g->idx[i]);
        if (m->state == SIM_MS_PENDING && tos_check_add(g, m->to) < 0)
            return -1;
    }
    return 0;
}

/* ---- lookups and common answers ---------------------------------------------------------- */

static int valid_group_id(const char *gid)
{
    size_t n = strlen(gid);
    if (n != SIM_ID_LEN || strncmp(gid, "G4V", 3) != 0)
        return 0;
    for (size_t i = 3; i < n; i++)
        if (!((gid[i] >= '0' && gid[i] <= '9') || (gid[i] >= 'A' && gid[i] <= 'Z')))
            return 0;
    return 1;
}

/* The group (groups lock held on success), or NULL after filling r (lock released). */
sim_group *sim_group_lock(sim_ctx *ctx, const char *gid, int missing_status, sim_reply *r)
{
    sim_group *g;
    if (!valid_group_id(gid)) {
        sim_reply_error(r, 400, "ValidationError", "유효하지 않은 groupId");
        return NULL;
    }
    pthread_mutex_lock(&ctx->groups->lock);
    g = sim_group_find(ctx->groups, gid);
    if (g == NULL) {
        pthread_mutex_unlock(&ctx->groups->lock);
        sim_reply_error(r, missing_status, "ResourceNotFound",
                        "해당 그룹아이디가 존재하지 않습니다.");
    }
    return g;
}

/* *out = a copy of v when it is a string (owned by the caller), else NULL. -1 when out of
 * memory. */
static int dup_opt_str(json_t *v, char **out)
{
    *out = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    return json_is_string(v) && *out == NULL ? -1 : 0;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* customFields of a group: an object of strings, keys up to 30 and values up to 100. */
static int check_group_cf(json_t *cf, char **out, sim_reply *r)
{
    const char *k;
    json_t *v;

    *out = NULL;
    if (cf == NULL || json_is_null(cf))
        return 0;
    if (!json_is_object(cf)) {
        sim_reply_error(r, 400, "ValidationError", "customFields must be an object");
        return -1;
    }
    json_object_foreach(cf, k, v)
    {
        if (!json_is_string(v) || *k == '\0' || utf8_len(k) > 30 ||
            utf8_len(json_string_value(v)) > 100) {
            sim_reply_error(r, 400, "ValidationError",
                            "customFields: keys up to 30 and string values up to 100 characters "
                            "(\"%s\")",
                            k);
            return -1;
        }
    }
    *out = json_dumps(cf, JSON_COMPACT);
    if (*out == NULL) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        return -1;
    }
    return 0;
}

/* ---- POST /messages/v4/groups ------------------------------------------------------------ */

void sim_handle_group_create(sim_ctx *ctx, const char *body, size_t len, sim_reply *r)
{
    json_error_t jerr;
    json_t *root = NULL;
    sim_group *g = NULL;
    int64_t now = mf_clock_wall_ms();
    mf_err err;
    uint32_t lg;

    if (len > 0) {
        root = json_loadb(body, len, 0, &jerr);
        if (root == NULL || !json_is_object(root)) {
            sim_reply_error(r, 400, "InvalidJSON", "request body is not a JSON object");
            goto out;
        }
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        goto out;
    }
    if (root != NULL) {
        json_t *ad = json_object_get(root, "allowDuplicates");
        if (ad != NULL && !json_is_boolean(ad) && !json_is_null(ad)) {
            sim_reply_error(r, 400, "ValidationError", "allowDuplicates must be a boolean");
            goto out;
        }
        g->allow_dup = json_is_true(ad);
        g->strict = json_is_true(json_object_get(root, "strict"));
        if (dup_opt_str(json_object_get(root, "appId"), &g->app_id) != 0 ||
            dup_opt_str(json_object_get(root, "sdkVersion"), &g->sdk_version) != 0 ||
            dup_opt_str(json_object_get(root, "osPlatform"), &g->os_platform) != 0) {
            sim_reply_error(r, 500, "InternalError", "out of memory");
            goto out;
        }
        if (check_group_cf(json_object_get(root, "customFields"), &g->cf_json, r) != 0)
            goto out;
    }
    sim_new_id(ctx, 'G', now, g->id);
    g->st = G_PENDING;
    g->created_ms = g->updated_ms = now;
    group_log(g, now, "메시지 그룹이 생성되었습니다.");
    if (sim_ledger_group_new(ctx->ledger, g->id, &lg, &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    g->lg = lg;
    pthread_mutex_lock(&ctx->groups->lock);
    if (group_insert(ctx->groups, g, &err) != 0) {
        pthread_mutex_unlock(&ctx->groups->lock);
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    sim_group_reply(ctx, g, now, r);
    g = NULL; /* owned by the table */
    pthread_mutex_unlock(&ctx->groups->lock);
out:
    group_free(g);
    json_decref(root);
}

/* ---- PUT /messages/v4/groups/{id}/messages ----------------------------------------------- */

static int append_result(sim_ctx *ctx, const sim_req *req, const sim_verdict *v, mf_buf *b,
                         int first, mf_err *err)
{
    const sim_code *ok = sim_code_get(SIM_C_ACCEPTED);
    const char *from = v->src->is_object ? sim_jstr(&v->src->from) : NULL;

    if ((!first && mf_buf_append_char(b, ',', err) != 0) ||
        mf_buf_append_str(b, "{\"to\":", err) != 0 || mf_buf_append_json_cstr(b, v->to, err) != 0 ||
        mf_buf_append_str(b, ",\"from\":", err) != 0 ||
        mf_buf_append_json_cstr(b, from ? from : "", err) != 0 ||
        mf_buf_append_str(b, ",\"type\":", err) != 0 ||
        mf_buf_append_json_cstr(b, v->type ? v->type : "", err) != 0 ||
        mf_buf_printf(b, err,
                      ",\"country\":\"82\",\"messageId\":\"%s\",\"statusCode\":\"%s\","
                      "\"statusMessage\":",
                      v->id, v->fail_code ? v->fail_code : ok->code) != 0 ||
        mf_buf_append_json_cstr(b, v->fail_code ? v->fail_msg : ok->message, err) != 0 ||
        mf_buf_append_str(b, ",\"accountId\":", err) != 0 ||
        mf_buf_append_json_cstr(b, ctx->set.account_id, err) != 0 ||
        mf_buf_append_str(b, ",\"customFields\":", err) != 0 ||
        sim_append_req_cf(req, v->src, b, err) != 0)
        return -1;
    return mf_buf_append_char(b, '}', err);
}

/* Register the verdicts in g (under the groups lock): 1026 for repeated numbers, ledger
 * records, indexes. Returns the number that failed, or -1 (out of memory). */
static long group_register(sim_ctx *ctx, sim_group *g, const sim_req *req, sim_verdict *v, size_t n,
                           int64_t now, mf_err *err)
{
    sim_new_msg *nms = malloc(n * sizeof(*nms));
    size_t first;
    long failed = 0;

    if (nms == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!v[i].fail_code && !g->allow_dup) {
            int dup = tos_check_add(g, v[i].to);
            if (dup < 0) {
                free(nms);
                return mf_err_set(err, "out of memory");
            }
            if (dup)
                sim_verdict_fail(&v[i], SIM_C_DUP_TO, "allowDuplicates is false");
        }
        if (v[i].fail_code)
            failed++;
        sim_verdict_record(ctx, req, &v[i], now, &nms[i]);
    }
    if (sim_ledger_append(ctx->ledger, g->lg, nms, n, &first, err) != 0) {
        free(nms);
        return -1;
    }
    free(nms);
    for (size_t i = 0; i < n; i++)
        if (idx_push(g, (uint32_t)(first + i)) != 0)
            return mf_err_set(err, "out of memory");
    return failed;
}

void sim_handle_group_add(sim_ctx *ctx, const char *gid, const char *body, size_t len, sim_reply *r)
{
    sim_knobs k;
    sim_req *req = NULL;
    sim_verdict *v = NULL;
    sim_group *g = NULL;
    int64_t now = mf_clock_wall_ms();
    char why[256], logmsg[112];
    size_t n;
    long failed;
    mf_err err;
    mf_buf *b = &r->body;

    sim_knobs_snapshot(ctx, &k);
    if (len > SIM_MAX_ADD_BODY) {
        sim_reply_error(r, 413, "PayloadTooLarge", "request body over %zu bytes", SIM_MAX_ADD_BODY);
        goto out;
    }
    req = sim_req_parse(body, len, why, sizeof(why));
    if (req == NULL) {
        sim_reply_error(r, 400, "InvalidJSON", "request body is not a JSON object: %s", why);
        goto out;
    }
    if (sim_req_messages_kind(req) != SIM_J_ARRAY || sim_req_count(req) == 0) {
        sim_reply_error(r, 400, "ValidationError", "messages 의 데이터 타입은 배열이어야 됩니다.");
        goto out;
    }
    n = sim_req_count(req);
    if (n > SIM_MAX_MESSAGES) {
        sim_reply_error(r, 413, "RecipientsTooMany",
                        "한 번에 추가할 수 있는 수신번호는 최대 %d건 입니다.", SIM_MAX_MESSAGES);
        goto out;
    }
    if (sim_rate_admit(ctx, k.rate_limit_per_s, n, now) != 0) {
        atomic_fetch_add(&ctx->stats.rate_limited, 1);
        sim_reply_error(r, 429, "TooManyRequests", "rate limit of %g messages per second exceeded",
                        k.rate_limit_per_s);
        goto out;
    }
    v = calloc(n, sizeof(*v));
    if (v == NULL) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        goto out;
    }
    if (sim_validate_messages(ctx, &k, req, v, n, 0, &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    g = sim_group_lock(ctx, gid, 404, r);
    if (g == NULL)
        goto out;
    if (g->st != G_PENDING) {
        sim_reply_error(r, 400, "InvalidGroupStatus", "처리가 가능한 그룹이 아닙니다. (status %s)",
                        sim_group_status(g, now));
        goto unlock;
    }
    if (g->n + n > SIM_MAX_GROUP_MESSAGES) {
        sim_reply_error(
            r, 413, "RecipientsTooMany",
            "하나의 그룹에 담을 수 있는 메시지는 최대 %d건 입니다. (has %zu, adding %zu)",
            SIM_MAX_GROUP_MESSAGES, g->n, n);
        goto unlock;
    }
    failed = group_register(ctx, g, req, v, n, now, &err);
    if (failed < 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto unlock;
    }
    g->updated_ms = now;
    snprintf(logmsg, sizeof(logmsg), "메시지 %zu 건이 추가되었습니다. (접수 실패 %ld 건)", n,
             failed);
    group_log(g, now, logmsg);
    pthread_mutex_unlock(&ctx->groups->lock);
    atomic_fetch_add(&ctx->stats.rejected, (unsigned long long)failed);
    /* errorCount is a string: the SDK's addMessageResponseSchema says so */
    mf_buf_reset(b);
    if (mf_buf_reserve(b, 128 + n * 300, &err) != 0 ||
        mf_buf_printf(b, &err, "{\"errorCount\":\"%ld\",\"resultList\":[", failed) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (append_result(ctx, req, &v[i], b, i == 0, &err) != 0)
            goto fail;
    if (mf_buf_append_str(b, "]}", &err) != 0)
        goto fail;
    r->status = 200;
    r->content_type = JSON_CT;
    goto out;
fail:
    sim_reply_error(r, 500, "InternalError", "could not build the response: %s", err.msg);
    goto out;
unlock:
    pthread_mutex_unlock(&ctx->groups->lock);
out:
    free(v);
    sim_req_free(req);
}

/* ---- POST /messages/v4/groups/{id}/send -------------------------------------------------- */

/* Refuse a send of g unless PENDING. Returns 0 when it may be sent. */
static int send_refused(const sim_group *g, int64_t now, sim_reply *r)
{
    const char *st = sim_group_status(g, now);
    if (g->st == G_PENDING)
        return 0;
    if (g->st == G_DELETED)
        sim_reply_error(r, 400, "DeletedGroup", "삭제 처리된 그룹으로는 발송이 안됩니다.");
    else if (g->st == G_FAILED)
        sim_reply_error(r, 400, "FailedGroup", "그룹 생성에 실패했던 그룹입니다.");
    else if (!strcmp(st, "SCHEDULED"))
        sim_reply_error(r, 409, "ScheduledGroup", "발송 예약된 그룹이므로 발송이 불가능합니다.");
    else if (!strcmp(st, "COMPLETE"))
        sim_reply_error(r, 409, "AlreadySent", "이미 발송이 완료된 그룹입니다.");
    else
        sim_reply_error(r, 409, "GroupInProcessing", "이미 발송 요청된 그룹입니다.");
    return -1;
}

void sim_handle_group_send(sim_ctx *ctx, const char *gid, sim_reply *r)
{
    sim_knobs k;
    int64_t now = mf_clock_wall_ms();
    size_t pending = 0, ok, sent = 0, unsent = 0;
    uint32_t *report = NULL;
    char logmsg[112];
    sim_group *g;

    sim_knobs_snapshot(ctx, &k);
    g = sim_group_lock(ctx, gid, 404, r);
    if (g == NULL)
        return;
    if (send_refused(g, now, r) != 0)
        goto unlock;
    sim_ledger_rdlock(ctx->ledger);
    for (size_t i = 0; i < g->n; i++)
        if (sim_ledger_at(ctx->ledger, g->idx[i])->state == SIM_MS_PENDING)
            pending++;
    sim_ledger_unlock(ctx->ledger);
    /* the webhook's list of the sent messages; without it nothing is sent */
    if (pending > 0 && (report = malloc(pending * sizeof(*report))) == NULL) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        goto unlock;
    }
    ok = sim_quota_take(ctx, &k, pending, now);
    sim_ledger_wrlock(ctx->ledger);
    for (size_t i = 0; i < g->n; i++) {
        sim_msg *m = sim_ledger_at_mut(ctx->ledger, g->idx[i]);
        if (m->state != SIM_MS_PENDING)
            continue;
        if (sent < ok) {
            sim_msg_start(ctx, &k, m, now);
            sent++;
        } else {
            m->state = SIM_MS_UNSENT;
            m->accepted_ms = m->final_ms = now;
            snprintf(m->final_code, sizeof(m->final_code), "%s", k.quota_fail_code);
            unsent++;
        }
        if (report)
            report[sent + unsent - 1] = g->idx[i];
    }
    sim_ledger_sent_add(ctx->ledger, (long)sent);
    sim_ledger_unlock(ctx->ledger);
    g->sent_ms = g->start_ms = g->updated_ms = now;
    g->done_ms = sent ? now + k.deliver_delay_ms : now;
    g->st = pending ? G_SENDING : G_FAILED;
    free(g->tos); /* no more adds */
    g->tos = NULL;
    g->tos_cap = g->tos_used = 0;
    snprintf(logmsg, sizeof(logmsg), "메시지를 발송했습니다. (%zu 건)", sent);
    group_log(g, now, pending ? logmsg : "발송할 메시지가 없습니다.");
    if (unsent)
        group_log(g, now, "일일 발송량을 초과하여 발송에 실패하였습니다.");
    atomic_fetch_add(&ctx->stats.accepted, sent);
    atomic_fetch_add(&ctx->stats.quota_failed, unsent);
    sim_group_reply(ctx, g, now, r);
    pthread_mutex_unlock(&ctx->groups->lock);
    if (report && r->status == 200)
        sim_webhook_queue(ctx, &k, gid, report, 0, sent + unsent, g->done_ms);
    free(report);
    return;
unlock:
    pthread_mutex_unlock(&ctx->groups->lock);
}

/* ---- DELETE /messages/v4/groups/{id} --------------------------------------------- */

void sim_handle_group_delete(sim_ctx *ctx, const char *gid, sim_reply *r)
{
    int64_t now = mf_clock_wall_ms();
    sim_group *g = sim_group_lock(ctx, gid, 404, r);
    if (g == NULL)
        return;
    if (g->st != G_PENDING) {
        sim_reply_error(r, 400, "NotOperationalStatus",
                        "PENDING 상태의 그룹만 삭제할 수 있습니다. 현재 상태는 %s 입니다.",
                        sim_group_status(g, now));
    } else {
        g->st = G_DELETED;
        g->updated_ms = now;
        group_log(g, now, "메시지 그룹이 삭제되었습니다.");
        sim_group_reply(ctx, g, now, r);
    }
    pthread_mutex_unlock(&ctx->groups->lock);
}

/* ---- DELETE /messages/v4/groups/{id}/messages -------------------------------------------- */

long sim_group_idx_pos(const sim_group *g, uint32_t v)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->idx[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n && g->idx[lo] == v ? (long)lo : -1;
}

void sim_handle_group_delete_messages(sim_ctx *ctx, const char *gid, const char *body, size_t len,
                                      sim_reply *r)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *ids = root ? json_object_get(root, "messageIds") : NULL;
    int64_t now = mf_clock_wall_ms();
    mf_buf *b = &r->body;
    size_t errors = 0, w = 0;
    sim_group *g;
    mf_err err;

    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        sim_reply_error(r, 400, "ValidationError", "messageIds must be a non-empty array");
        goto out;
    }
    g = sim_group_lock(ctx, gid, 400, r); /* the documented answer for an unknown group is 400 */
    if (g == NULL)
        goto out;
    if (g->st != G_PENDING) {
        sim_reply_error(r, 400, "InvalidGroupStatus", "처리가 가능한 그룹이 아닙니다.");
        goto unlock;
    }
    mf_buf_reset(b);
    if (mf_buf_printf(b, &err, "{\"groupId\":\"%s\",\"resultList\":[", g->id) != 0)
        goto fail;
    sim_ledger_wrlock(ctx->ledger);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        long li = id ? sim_ledger_find(ctx->ledger, id) : -1;
        sim_msg *m = li >= 0 ? sim_ledger_at_mut(ctx->ledger, (size_t)li) : NULL;
        int ok = m != NULL && m->state != SIM_MS_REMOVED && sim_group_idx_pos(g, (uint32_t)li) >= 0;

        if (ok)
            m->state = SIM_MS_REMOVED;
        else
            errors++;
        if ((i && mf_buf_append_char(b, ',', &err) != 0) ||
            mf_buf_append_str(b, "{\"messageId\":", &err) != 0 ||
            mf_buf_append_json_cstr(b, id ? id : "", &err) != 0 ||
            mf_buf_printf(b, &err, ",\"resultCode\":\"%s\"}", ok ? "Success" : "NotFound") != 0) {
            sim_ledger_unlock(ctx->ledger);
            goto fail;
        }
    }
    for (size_t i = 0; i < g->n; i++) /* drop removed messages from the group */
        if (sim_ledger_at(ctx->ledger, g->idx[i])->state != SIM_MS_REMOVED)
            g->idx[w++] = g->idx[i];
    g->n = w;
    sim_ledger_unlock(ctx->ledger);
    sim_ledger_rdlock(ctx->ledger);
    int trc = g->allow_dup ? 0 : tos_rebuild(ctx, g);
    sim_ledger_unlock(ctx->ledger);
    if (trc != 0 || mf_buf_printf(b, &err, "],\"errorCount\":%zu}", errors) != 0)
        goto fail;
    g->updated_ms = now;
    r->status = 200;
    r->content_type = JSON_CT;
    goto unlock;
fail:
    sim_reply_error(r, 500, "InternalError", "could not build the response");
unlock:
    pthread_mutex_unlock(&ctx->groups->lock);
out:
    json_decref(root);
}

/* ---- send-many's group ------------------------------------------------------------------- */

int sim_groups_register_sent(sim_ctx *ctx, const char *gid, uint32_t lg, size_t first, size_t n,
                             size_t extra_failed, int allow_dup, int64_t now_ms, int64_t start_ms,
                             mf_buf *out, mf_err *err)
{
    sim_knobs k;
    sim_group *g = calloc(1, sizeof(*g));
    char logmsg[112];
    int rc = -1;

    if (g == NULL)
        return mf_err_set(err, "out of memory");
    sim_knobs_snapshot(ctx, &k);
    memcpy(g->id, gid, SIM_ID_LEN + 1);
    g->lg = lg;
    g->allow_dup = allow_dup;
    g->created_ms = g->updated_ms = g->sent_ms = now_ms;
    g->start_ms = start_ms;
    g->extra_failed = extra_failed;
    g->st = n ? G_SENDING : G_FAILED;
    group_log(g, now_ms, "메시지 그룹이 생성되었습니다.");
    for (size_t i = 0; i < n; i++)
        if (idx_push(g, (uint32_t)(first + i)) != 0) {
            group_free(g);
            return mf_err_set(err, "out of memory");
        }
    sim_ledger_rdlock(ctx->ledger);
    g->done_ms = now_ms;
    for (size_t i = 0; i < n; i++) {
        const sim_msg *m = sim_ledger_at(ctx->ledger, first + i);
        if (m->final_ms > g->done_ms)
            g->done_ms = m->final_ms;
    }
    sim_ledger_unlock(ctx->ledger);
    snprintf(logmsg, sizeof(logmsg), "메시지를 발송했습니다. (%zu 건)", n);
    group_log(g, now_ms, logmsg);
    pthread_mutex_lock(&ctx->groups->lock);
    if (group_insert(ctx->groups, g, err) != 0) {
        pthread_mutex_unlock(&ctx->groups->lock);
        group_free(g);
        return -1;
    }
    rc = sim_group_json(ctx, g, now_ms, out, err);
    pthread_mutex_unlock(&ctx->groups->lock);
    return rc;
}

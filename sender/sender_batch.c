/* sender_batch: the sender's batch loop: consume, decode, claim, send, produce, store offsets. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "mf_daemon.h"
#include "sender_gate.h"
#include "sender_int.h"
#include "sender_rules.h"

#define ARENA_CHUNK ((size_t)256 * 1024)
#define FLUSH_STEP_MS 1000
#define PENDING_RECHECK_MS 500
#define LAG_EVERY_MS 5000
#define PING_EVERY_MS 5000
#define BACKOFF_MAX_MS 30000

/* ---- small helpers ------------------------------------------------------------------- */


int sender_past_deadline(sender_ctx *s)
{
    if (!mf_daemon_stopping())
        return 0;
    if (s->stop_deadline_ms == 0)
        s->stop_deadline_ms = mf_clock_wall_ms() + s->cfg->shutdown_s * 1000;
    return mf_clock_wall_ms() >= s->stop_deadline_ms;
}

uint32_t sender_rand(sender_ctx *s)
{
    uint32_t x = s->rnd ? s->rnd : 2463534242u; /* xorshift32: jitter only */

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->rnd = x;
    return x;
}

void *sender_arena_alloc(sender_arena *a, size_t n)
{
    sender_arena_chunk *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;

    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += need;
    return p;
}

char *sender_arena_strdup(sender_arena *a, const char *s)
{
    size_t n;
    char *p;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    p = sender_arena_alloc(a, n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

void sender_arena_reset(sender_arena *a)
{
    /* keep the newest chunk, free the rest */
    sender_arena_chunk *c = a->head;

    if (c == NULL)
        return;
    while (c->next != NULL) {
        sender_arena_chunk *n = c->next;

        c->next = n->next;
        free(n);
    }
    c->used = 0;
}

void sender_arena_free(sender_arena *a)
{
    while (a->head != NULL) {
        sender_arena_chunk *n = a->head->next;

        free(a->head);
        a->head = n;
    }
}

static size_t hash_id(const mf_uuid *id)
{
    uint64_t h = 1469598103934665603ull;

    for (int i = 0; i < 16; i++)
        h = (h ^ id->b[i]) * 1099511628211ull;
    return (size_t)h;
}

sender_slot *sender_slot_by_id(sender_ctx *s, const mf_uuid *id)
{
    for (size_t h = hash_id(id) & (s->idx_cap - 1);; h = (h + 1) & (s->idx_cap - 1)) {
        size_t v = s->idx[h];

        if (v == 0)
            return NULL;
        if (mf_uuid_equal(&s->slots[v - 1].job.id, id))
            return &s->slots[v - 1];
    }
}

/* Inserts slot i; returns the leader's index when the id is already there, else i. */
static size_t index_slot(sender_ctx *s, size_t i)
{
    const mf_uuid *id = &s->slots[i].job.id;

    for (size_t h = hash_id(id) & (s->idx_cap - 1);; h = (h + 1) & (s->idx_cap - 1)) {
        size_t v = s->idx[h];

        if (v == 0) {
            s->idx[h] = i + 1;
            return i;
        }
        if (mf_uuid_equal(&s->slots[v - 1].job.id, id))
            return v - 1;
    }
}

void sender_slot_final(sender_ctx *s, sender_slot *sl, mf_result_status st, const char *pmid,
                       const char *gid, const char *code, const char *msg, int64_t sent_ms)
{
    sl->st = st;
    sl->ch = st == MF_RESULT_ACCEPTED ? sl->type : MF_TYPE_NONE;
    sl->pmid = pmid && *pmid ? sender_arena_strdup(&s->arena, pmid) : NULL;
    sl->gid = gid && *gid ? sender_arena_strdup(&s->arena, gid) : NULL;
    sl->code = code && *code ? sender_arena_strdup(&s->arena, code) : NULL;
    sl->msg = msg && *msg ? sender_arena_strdup(&s->arena, msg) : NULL;
    sl->sent_ms = sent_ms;
}

/* ---- producing ----------------------------------------------------------------------- */

static void on_delivery(void *ctx, const mf_kafka_dr *dr)
{
    sender_ctx *s = ctx;

    s->acks_pending--;
    if (!dr->ok && !s->produce_failed) {
        s->produce_failed = 1;
        snprintf(s->produce_error, sizeof(s->produce_error), "%s: %s", dr->topic,
                 dr->error ? dr->error : "delivery failed");
    }
}

int sender_produce(sender_ctx *s, const char *topic, const void *key, size_t klen,
                   const void *val, size_t vlen, mf_err *err)
{
    if (mf_kafka_produce(s->prod, topic, key, klen, val, vlen, NULL, 30000, err) != 0)
        return mf_err_prefix(err, "could not produce to \"%s\"", topic);
    s->acks_pending++;
    return 0;
}

static int produce_dlq(sender_ctx *s, size_t i, const char *reason, mf_err *err)
{
    const mf_kafka_msg *m = &s->msgs[i];
    mf_dlq d;

    memset(&d, 0, sizeof(d));
    d.src = m->topic;
    d.partition = m->partition;
    d.offset = m->offset;
    d.reason = reason;
    d.key = m->key;
    d.key_len = m->key_len;
    d.val = m->val ? m->val : "";
    d.val_len = m->val_len;
    d.ts_ms = mf_clock_wall_ms();
    if (mf_codec_encode_dlq(&s->sbuf, &d, err) != 0)
        return -1;
    s->n_dlq++;
    mf_metric_add(s->obs.dlq, NULL, 1);
    MF_LOG(s->log, MF_LOG_WARN, "message dead-lettered", MF_KV_S("topic", m->topic),
           MF_KV_I("partition", m->partition), MF_KV_I("offset", m->offset),
           MF_KV_S("reason", reason));
    return sender_produce(s, s->t_dlq, m->key, m->key_len, s->sbuf.data, s->sbuf.size, err);
}

static mf_msg_type type_from_name(const char *name, mf_msg_type dflt)
{
    if (strcmp(name, "sms") == 0)
        return MF_TYPE_SMS;
    if (strcmp(name, "lms") == 0)
        return MF_TYPE_LMS;
    if (strcmp(name, "kakao") == 0)
        return MF_TYPE_KAKAO;
    return dflt;
}

/* topic: the results topic of the slot's lane (results.tx for a job of jobs.tx). */
static int produce_result(sender_ctx *s, sender_slot *sl, const char *topic, mf_err *err)
{
    char key[MF_UUID_STR_SIZE];
    mf_result r;

    memset(&r, 0, sizeof(r));
    r.id = sl->job.id;
    r.run = sl->job.run;
    r.wf = sl->job.wf;
    r.tpl = sl->job.tpl;
    r.attempt = sl->job.attempt;
    r.status = sl->st;
    r.to = sl->job.to;
    r.name = sl->job.name;
    r.type = sl->type;
    r.channel = sl->ch;
    r.text = sl->text;
    r.vars.items = sl->used;
    r.vars.n = sl->nused;
    r.provider_msg_id = sl->pmid;
    r.group_id = sl->gid;
    r.code = sl->code;
    r.msg = sl->msg;
    r.ts_ms = mf_clock_wall_ms();
    r.sent_ms = sl->sent_ms;
    if (mf_codec_encode_result(&s->sbuf, &r, err) != 0)
        return mf_err_prefix(err, "could not encode the result of job %s",
                             mf_uuid_format(&sl->job.id, key));
    mf_uuid_format(&sl->job.id, key);
    if (sl->st == MF_RESULT_ACCEPTED)
        s->n_accepted++;
    else if (sl->st == MF_RESULT_CANCELLED)
        s->n_cancelled++;
    else
        s->n_failed++;
    if (!sl->reused)
        sender_tally_add(&s->obs, &s->tally, mf_result_status_name(sl->st),
                         sl->type == MF_TYPE_LMS ? "lms" : sl->type == MF_TYPE_KAKAO ? "kakao" : "sms",
                         sl->st == MF_RESULT_ACCEPTED ? "" : sl->code);
    sl->state = SLOT_DONE;
    return sender_produce(s, topic, key, MF_UUID_STR_LEN, s->sbuf.data, s->sbuf.size, err);
}

int sender_produce_finals(sender_ctx *s, mf_err *err)
{
    int rc = 0;

    for (size_t i = 0; i < s->n && rc == 0; i++)
        if (s->slots[i].state == SLOT_FINAL &&
            produce_result(s, &s->slots[i], strcmp(s->msgs[i].topic, s->t_jobs_tx) == 0
                                                ? s->t_results_tx : s->t_results, err) != 0)
            rc = -1;
    sender_tally_flush(&s->obs, &s->tally);
    mf_kafka_poll(s->prod, 0);
    return rc;
}

/* ---- claims -------------------------------------------------------------------------- */

/* A new chunk id for the claims about to be inserted or taken over: UUIDv7, time-ordered, so
 * outcomes are purged by range like the claims (docs/sender.md). */
static int next_chunk(sender_ctx *s, mf_err *err)
{
    return mf_uuid_v7((uint64_t)mf_clock_wall_ms(), &s->chunk_cur, err);
}

static void on_inserted(void *arg, const mf_uuid *job)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_slot_by_id(s, job);

    if (sl == NULL)
        return;
    sl->fresh = 1;
    sl->chunk = s->chunk_cur;
    sl->has_chunk = 1;
    if (sl->state == SLOT_FAILED)
        sl->state = SLOT_FINAL;
}

int sender_claim_next(sender_ctx *s, size_t want, mf_err *err)
{
    size_t i = s->claim_next, n = 0, nsend = 0;
    sender_claim_in *rows;
    int rc;

    if (i >= s->n)
        return 0;
    rows = calloc(s->n - i, sizeof(*rows));
    if (rows == NULL)
        return mf_err_set(err, "out of memory");
    for (; i < s->n && nsend < want; i++) {
        sender_slot *sl = &s->slots[i];
        sender_claim_in *r = &rows[n];

        if (sl->state != SLOT_SEND && sl->state != SLOT_FAILED)
            continue;
        nsend += sl->state == SLOT_SEND;
        r->job = sl->job.id;
        r->run = sl->job.run;
        r->attempt = sl->job.attempt;
        r->state = sl->state == SLOT_SEND ? "claimed" : "failed";
        r->msg_type = mf_msg_type_name(sl->type);
        r->content = sl->text;
        r->code = sl->state == SLOT_FAILED ? sl->code : NULL;
        r->message = sl->state == SLOT_FAILED ? sl->msg : NULL;
        n++;
    }
    rc = next_chunk(s, err);
    if (rc == 0)
        rc = sender_claims_insert(&s->claims, s->pg, rows, n, s->cfg->common.instance_id,
                                  &s->chunk_cur, on_inserted, s, err);
    free(rows);
    if (rc == 0)
        s->claim_next = i; /* only once committed: a failed INSERT is retried with the batch */
    return rc < 0 ? -1 : n > 0;
}

/* An existing claim seen for a slot that was not freshly claimed. */
static void on_existing(void *arg, const sender_claim_row *row)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_slot_by_id(s, &row->job);
    int accepted = strcmp(row->state, "accepted") == 0;
    int rounds = 0, unknown = 0;

    if (sl == NULL || sl->fresh)
        return;
    if (accepted || strcmp(row->state, "failed") == 0) {
        /* a job cancelled with its run is stored as failed with RUN_CANCELLED */
        mf_result_status st = accepted                                         ? MF_RESULT_ACCEPTED
                              : strcmp(row->code, SENDER_CODE_CANCELLED) == 0 ? MF_RESULT_CANCELLED
                                                                               : MF_RESULT_FAILED;

        sl->type = type_from_name(row->msg_type, sl->type);
        if (row->content != NULL)
            sl->text = sender_arena_strdup(&s->arena, row->content);
        sender_slot_final(s, sl, st, row->pmid, row->gid, row->code, row->message,
                          row->sent_ms);
        if (accepted)
            sl->ch = type_from_name(row->channel, sl->type);
        sl->state = SLOT_FINAL;
        sl->reused = 1;
        s->n_reemitted++;
        mf_metric_add(s->obs.reused, NULL, 1);
        return;
    }
    /* claimed / in_doubt: another sender's (or a crashed one's) open claim. Our own open
     * claim can only be left from an earlier failed try of this batch, whose requests were
     * drained: resolve it at once (MF_INSTANCE_ID must be unique per process). */
    sl->state = SLOT_PENDING;
    sl->stale = row->stale || strcmp(row->claimed_by, s->cfg->common.instance_id) == 0;
    sl->old_claimed_at = sender_arena_strdup(&s->arena, row->claimed_at);
    sl->pgid = row->send_gid[0] ? sender_arena_strdup(&s->arena, row->send_gid) : NULL;
    if (sl->cancel && sl->text == NULL && row->content != NULL) {
        /* not prepared (its run was cancelled): should the group read find it sent, the
         * result carries the text the claim recorded */
        sl->text = sender_arena_strdup(&s->arena, row->content);
        sl->type = type_from_name(row->msg_type, sl->type);
    }
    /* a claim released for the retry topic ("retry:N"): free to take at once; "retry?:N"
     * after the list API said the provider does not have the message */
    if (sender_claims_parse_released(row->claimed_by, &rounds, &unknown)) {
        sl->stale = 1;
        sl->released = unknown ? 2 : 1;
        sl->retries = rounds;
    }
}

static void on_taken(void *arg, const mf_uuid *job)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_slot_by_id(s, job);

    if (sl != NULL && sl->state == SLOT_PENDING) {
        sl->state = SLOT_SEND;
        sl->fresh = 1;
        sl->stale = 0;
        sl->chunk = s->chunk_cur;
        sl->has_chunk = 1;
    }
}

/* Takes stale claims over (conditionally, one statement). A claim abandoned while its
 * outcome was unknown (a crashed sender, or "retry?:N") whose job was put in a provider group
 * is resolved by the send loop before anything is resent: it reads that group (and sends it
 * when it is still PENDING), then the group's messages. Without a recorded group nothing was
 * ever added for the job, so it is sent at once. */
static int resolve_stale(sender_ctx *s, mf_err *err)
{
    size_t n = s->n ? s->n : 1, nt = 0;
    mf_uuid *ids = calloc(n, sizeof(*ids));
    const char **olds = calloc(n, sizeof(*olds));
    const char **gids = calloc(n, sizeof(*gids));
    int rc = -1;

    if (!ids || !olds || !gids) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        char idt[MF_UUID_STR_SIZE], rt[MF_UUID_STR_SIZE];

        if (sl->state != SLOT_PENDING || !sl->stale)
            continue;
        /* "retry:N": the provider was known not to hold the message */
        sl->resolve = sl->released != 1 && sl->pgid != NULL;
        if (sl->released == 1)
            sl->pgid = NULL;
        if (!sl->released) {
            mf_metric_add(s->obs.in_doubt, NULL, 1);
            MF_LOG(s->log, MF_LOG_INFO, "in-doubt claim taken over",
                   MF_KV_S("job_id", mf_uuid_format(&sl->job.id, idt)),
                   MF_KV_S("run_id", mf_uuid_format(&sl->job.run, rt)),
                   MF_KV_S("group_id", sl->pgid ? sl->pgid : ""));
        }
        ids[nt] = sl->job.id;
        gids[nt] = sl->pgid; /* kept in the claim row across the take-over */
        olds[nt++] = sl->old_claimed_at;
    }
    if ((nt > 0 && next_chunk(s, err) != 0) ||
        sender_claims_take_over(&s->claims, s->pg, ids, olds, gids, nt,
                                s->cfg->common.instance_id, &s->chunk_cur, on_taken, s,
                                err) != 0)
        goto out;
    rc = 0;
out:
    free(ids);
    free(olds);
    free(gids);
    return rc;
}

static int fetch_pending(sender_ctx *s, int first, mf_err *err)
{
    size_t n = 0;
    mf_uuid *ids = calloc(s->n ? s->n : 1, sizeof(*ids));
    int rc;

    if (ids == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        int want = first ? (sl->state == SLOT_SEND || sl->state == SLOT_FAILED) &&
                               !sl->fresh && i < s->claim_next
                         : sl->state == SLOT_PENDING;

        if (want)
            ids[n++] = sl->job.id;
    }
    rc = sender_claims_fetch(&s->claims, s->pg, ids, n, s->cfg->indoubt_after_ms, on_existing,
                             s, err);
    free(ids);
    return rc;
}

static size_t count_state(const sender_ctx *s, slot_state st)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++)
        n += s->slots[i].state == st;
    return n;
}

/* ---- the batch ----------------------------------------------------------------------- */

static int grow_batch(sender_ctx *s, size_t max, mf_err *err)
{
    size_t cap = 16;

    s->msgs = calloc(max, sizeof(*s->msgs));
    s->slots = calloc(max, sizeof(*s->slots));
    while (cap < max * 2)
        cap *= 2;
    s->idx = calloc(cap, sizeof(*s->idx));
    s->idx_cap = cap;
    s->held_msg = calloc(max, 1);
    if (!s->msgs || !s->slots || !s->idx || !s->held_msg)
        return mf_err_set(err, "out of memory");
    return 0;
}

static int decode_all(sender_ctx *s, mf_err *err)
{
    s->claim_next = 0;
    for (size_t i = 0; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        const mf_kafka_msg *m = &s->msgs[i];
        mf_err e2;

        memset(sl, 0, sizeof(*sl));
        if (m->val == NULL ||
            mf_codec_decode_job(s->codec, m->val, m->val_len, &sl->job, &e2) != 0) {
            if (m->val == NULL)
                mf_err_set(&e2, "null message value");
            if (produce_dlq(s, i, e2.msg, err) != 0)
                return -1;
            continue;
        }
        sl->decoded = 1;
        if (sl->job.not_before_ms > mf_clock_wall_ms() && m->rkm != NULL &&
            strcmp(m->topic, s->t_retry) == 0) {
            /* not due: held in memory, its offset not stored past (sender_retryq.h); parked
             * while its workflow is paused, due at once once its run is cancelled */
            sender_halt_state hs = sender_halt_of(&s->halt, &sl->job.run);

            if (!s->held_msg[i] &&
                sender_retryq_hold(&s->rq, m,
                                   hs == SENDER_HALT_CANCELLED ? 0 : sl->job.not_before_ms,
                                   &sl->job.run, hs == SENDER_HALT_PAUSED, err) != 0)
                return -1;
            s->held_msg[i] = 1; /* a retry of this batch must not hold it twice */
            sl->held = 1;
            continue;
        }
        if (index_slot(s, i) != i)
            continue; /* the same job twice in the batch: the first one speaks for both */
        sl->state = SLOT_SEND;
    }
    return 0;
}

static int load_catalog(sender_ctx *s, mf_err *err)
{
    mf_uuid *tpl = calloc(s->n ? s->n : 1, sizeof(*tpl));
    mf_uuid *wf = calloc(s->n ? s->n : 1, sizeof(*wf));
    size_t n = 0;
    int rc;

    if (tpl == NULL || wf == NULL) {
        free(tpl);
        free(wf);
        return mf_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND) {
            tpl[n] = s->slots[i].job.tpl;
            wf[n++] = s->slots[i].job.wf;
        }
    rc = sender_catalog_load(s->cat, s->pg, tpl, n, wf, n, mf_clock_wall_ms(), err);
    free(tpl);
    free(wf);
    return rc;
}

/* ---- per-workflow send rate (sender_rate.h) ------------------------------------------- */

typedef struct wf_rate {
    mf_uuid wf;
    size_t seen; /* slots of the workflow met in the second pass */
} wf_rate;

/* Index of wf in the table, added when missing; -1 when the table is full. */
static long wf_rate_slot(sender_rate_want *w, wf_rate *r, size_t *n, size_t cap,
                         const mf_uuid *wf, double per_min)
{
    char id[MF_UUID_STR_SIZE];

    for (size_t i = 0; i < *n; i++)
        if (mf_uuid_equal(&r[i].wf, wf))
            return (long)i;
    if (*n == cap)
        return -1;
    memset(&w[*n], 0, sizeof(w[*n]));
    snprintf(w[*n].key, sizeof(w[*n].key), "workflow:%s", mf_uuid_format(wf, id));
    w[*n].rate = per_min / 60.0;
    r[*n].wf = *wf;
    r[*n].seen = 0;
    return (long)(*n)++;
}

/* Defers one slot beyond its workflow's tokens to the retry topic: the k-th reserved one
 * (1-based) on the bucket's schedule, marked reserved; k 0: not reserved, after the horizon;
 * w NULL: its workflow did not fit in this batch's statement, in a second. */
static int rate_defer(sender_ctx *s, sender_slot *sl, const sender_rate_want *w, size_t k,
                      int64_t now, mf_err *err)
{
    int64_t nb = now + (w == NULL ? 1000 : (int64_t)(s->rate.horizon_s * 1000.0));

    if (w != NULL && k > 0) {
        /* due times rounded up to a quantum of about 20 tokens (0.1-1 s, on the wall clock,
         * the same for every sender): the jobs due together come back as one batch instead
         * of one batch (claims, a provider group) each */
        int64_t q = (int64_t)(20000.0 / w->rate);

        q = q < 100 ? 100 : q > 1000 ? 1000 : q;
        nb = now + (int64_t)(((double)k - w->base) / w->rate * 1000.0);
        nb = (nb + q - 1) / q * q;
        sl->job.rate_reserved = 1;
    }
    if (sender_produce_retry(s, sl, nb, err) != 0)
        return -1;
    sl->state = SLOT_SKIP;
    s->n_rate_deferred++;
    return 0;
}

int sender_rate_apply(sender_ctx *s, mf_err *err)
{
    enum { MAX_WF = 64 }; /* more rate-limited workflows in one batch wait for the next */
    sender_rate_want w[MAX_WF];
    wf_rate r[MAX_WF];
    size_t nw = 0;
    int64_t now = mf_clock_wall_ms();

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n; i++) {
            sender_slot *sl = &s->slots[i];
            const sender_wfconf *wf;
            long at;

            if (sl->state != SLOT_SEND || sl->job.rate_reserved)
                continue;
            wf = sender_catalog_workflow(s->cat, &sl->job.wf);
            if (wf == NULL || wf->rate_per_min <= 0)
                continue;
            at = wf_rate_slot(w, r, &nw, MAX_WF, &sl->job.wf, wf->rate_per_min);
            if (pass == 0) {
                if (at >= 0)
                    w[at].want++;
                continue;
            }
            if (at < 0) {
                if (rate_defer(s, sl, NULL, 0, now, err) != 0)
                    return -1;
            } else if (r[at].seen++ >= w[at].now_n) {
                size_t k = r[at].seen - w[at].now_n;

                if (rate_defer(s, sl, &w[at], k <= w[at].ahead_n ? k : 0, now, err) != 0)
                    return -1;
            }
        }
        if (pass == 0 && (nw == 0 || sender_rate_reserve(&s->rate, s->pg, w, nw, err) != 0))
            return nw == 0 ? 0 : -1;
    }
    return 0;
}

static int prepare_all(sender_ctx *s, mf_err *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND && sender_prepare_slot(s, &s->slots[i], i, err) != 0)
            return -1;
    return 0;
}

/* ---- cancelled runs, paused workflows ---------------------------------------------------- */

void sender_slot_cancelled(sender_ctx *s, sender_slot *sl)
{
    const sender_template *t = sender_catalog_template(s->cat, &sl->job.tpl);

    if (sl->text == NULL) { /* not prepared: the template's type, the job's variables */
        sl->type = t != NULL ? type_from_name(t->message_type, MF_TYPE_SMS) : MF_TYPE_SMS;
        if (sl->nused == 0 && sl->job.vars.n > 0) {
            mf_codec_kv *used = sender_arena_alloc(&s->arena, sl->job.vars.n * sizeof(*used));

            if (used != NULL) { /* a replay of the cancelled job needs them */
                memcpy(used, sl->job.vars.items, sl->job.vars.n * sizeof(*used));
                sl->used = used;
                sl->nused = sl->job.vars.n;
            }
        }
    }
    sl->st = MF_RESULT_CANCELLED;
    sl->ch = MF_TYPE_NONE;
    sl->code = SENDER_CODE_CANCELLED;
    sl->msg = "run cancelled before sending";
    sl->pmid = NULL;
    sl->gid = NULL;
    sl->sent_ms = 0;
    sl->cancel = 1;
}

/* A job of a paused workflow: to the retry topic, due at once (the retry consumer parks it),
 * or, when it came from the retry topic, back into the retry queue, parked. No claim, no
 * result: the offset counts as done once the retry message is acknowledged (or stays at the
 * parked job). */
static int hold_paused(sender_ctx *s, sender_slot *sl, size_t i, mf_err *err)
{
    const mf_kafka_msg *m = &s->msgs[i];

    if (strcmp(m->topic, s->t_retry) == 0) {
        if (m->rkm == NULL)
            sender_retryq_keep(&s->rq, m->partition, m->offset);
        else if (!s->held_msg[i] &&
                 sender_retryq_hold(&s->rq, m, mf_clock_wall_ms(), &sl->job.run, 1, err) != 0)
            return -1;
        s->held_msg[i] = 1;
        sl->held = 1;
    } else {
        if (sender_produce_retry(s, sl, mf_clock_wall_ms(), err) != 0)
            return -1;
        s->n_held++;
        mf_metric_add(s->obs.held, NULL, 1);
    }
    sl->state = SLOT_SKIP;
    return 0;
}

int sender_halt_apply(sender_ctx *s, size_t from, mf_err *err)
{
    if (sender_halt_count(&s->halt) == 0)
        return 0;
    for (size_t i = from; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        sender_halt_state hs;

        if (sl->state != SLOT_SEND || sl->fresh)
            continue;
        hs = sender_halt_of(&s->halt, &sl->job.run);
        if (hs == SENDER_HALT_CANCELLED) {
            sender_slot_cancelled(s, sl);
            sl->state = SLOT_FAILED; /* its claim is inserted as failed: RUN_CANCELLED */
        } else if (hs == SENDER_HALT_PAUSED && hold_paused(s, sl, i, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int held_state(void *arg, const mf_uuid *run)
{
    switch (sender_halt_of(&((sender_ctx *)arg)->halt, run)) {
    case SENDER_HALT_PAUSED:
        return SENDER_RETRYQ_PARK;
    case SENDER_HALT_CANCELLED:
        return SENDER_RETRYQ_NOW;
    default:
        return SENDER_RETRYQ_GO;
    }
}

void sender_halt_mark_held(sender_ctx *s)
{
    sender_retryq_mark(&s->rq, held_state, s);
}

/* Asks about the runs of the held retry jobs too (only when a query runs anyway) and applies
 * a new answer to them: parked while paused, due at once when cancelled. */
static int check_with_held(sender_ctx *s, mf_err *err)
{
    int rc;

    if (!sender_halt_fresh(&s->halt, mf_clock_wall_ms()))
        for (size_t i = 0; i < s->rq.n; i++)
            if (sender_halt_want(&s->halt, &s->rq.h[i].run, err) != 0)
                return -1;
    rc = sender_halt_check(&s->halt, s->pg, mf_clock_wall_ms(), err);
    if (rc > 0)
        sender_halt_mark_held(s);
    return rc;
}

/* Before anything is prepared or claimed: the state of every run of the batch, at most one
 * query (cached for MF_SENDER_HALT_CHECK_MS), applied to the slots. */
static int check_halts(sender_ctx *s, mf_err *err)
{
    sender_halt_begin(&s->halt);
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND &&
            sender_halt_want(&s->halt, &s->slots[i].job.run, err) != 0)
            return -1;
    if (check_with_held(s, err) < 0)
        return -1;
    return sender_halt_apply(s, 0, err);
}

/* While no batch runs: held retry jobs learn that their workflow was resumed (or their run
 * cancelled) within MF_SENDER_HALT_CHECK_MS. */
static void halt_tick(sender_ctx *s)
{
    mf_err e2;

    if (s->rq.n == 0 || mf_clock_wall_ms() - s->halt.checked_ms < s->halt.every_ms)
        return;
    sender_halt_begin(&s->halt);
    if (check_with_held(s, &e2) < 0)
        MF_LOG(s->log, MF_LOG_WARN, "could not read the state of held runs",
               MF_KV_S("error", e2.msg));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Other senders' young claims: re-check until final, or stale (then resolve). Returns 1
 * when a stop interrupted the wait (the batch is abandoned). */
static int wait_pending(sender_ctx *s, mf_err *err)
{
    int rc;

    while (count_state(s, SLOT_PENDING) > 0) {
        if (mf_daemon_stopping())
            return 1;
        sleep_ms(PENDING_RECHECK_MS);
        mf_kafka_poll(s->prod, 0);
        if (fetch_pending(s, 0, err) != 0 || resolve_stale(s, err) != 0)
            return -1;
        rc = sender_send_all(s, err);
        if (rc != 0)
            return rc;
        if (sender_produce_finals(s, err) != 0)
            return -1;
    }
    return 0;
}

/* Jobs whose claim INSERT met an existing claim: re-emit, resolve or wait (fetch_pending),
 * then send the freshly claimed ones; the send loop claims the rest of the batch as it goes. */
static int settle_and_send(sender_ctx *s, mf_err *err)
{
    if (fetch_pending(s, 1, err) != 0 || resolve_stale(s, err) != 0 ||
        sender_produce_finals(s, err) != 0)
        return -1;
    return sender_send_all(s, err);
}

static int process(sender_ctx *s, mf_err *err)
{
    int rc;

    /* Only the first request's claims are inserted before sending starts: the send loop
     * inserts the others while requests are in flight (sender_send.c), so the provider is
     * not kept waiting for one INSERT of the whole batch. */
    if (decode_all(s, err) != 0 || load_catalog(s, err) != 0 || check_halts(s, err) != 0 ||
        prepare_all(s, err) != 0 || sender_gate_apply(s, err) != 0 ||
        sender_rate_apply(s, err) != 0 ||
        sender_claim_next(s, (size_t)s->cfg->request_size, err) < 0)
        return -1;
    rc = settle_and_send(s, err);
    if (rc != 0)
        return rc;
    /* the jobs of those later INSERTs that found a claim already there */
    rc = settle_and_send(s, err);
    if (rc != 0)
        return rc;
    if (sender_produce_finals(s, err) != 0)
        return -1;
    rc = wait_pending(s, err);
    if (rc != 0)
        return rc;
    return 0;
}

static void reset_batch(sender_ctx *s)
{
    mf_kafka_release(s->msgs, s->n);
    sender_retryq_batch_end(&s->rq);
    memset(s->held_msg, 0, s->n);
    memset(s->idx, 0, s->idx_cap * sizeof(*s->idx));
    mf_codec_reset(s->codec);
    sender_arena_reset(&s->arena);
    s->n = 0;
}

/* Waits for every delivery report of the batch. 0 when all were acknowledged; -1 when one
 * failed for good (or the producer is fatal); 1 when a stop deadline passed while the broker
 * was away (the batch is abandoned: offsets not stored). A broker that is down for a while
 * only makes this wait: librdkafka keeps retrying for message.timeout.ms. */
static int await_acks(sender_ctx *s, mf_err *err)
{
    int waited = 0;

    while (mf_kafka_flush(s->prod, FLUSH_STEP_MS, err) != 0) {
        if (s->produce_failed || mf_kafka_producer_fatal(s->prod, err))
            break;
        if (waited++ == 5) {
            MF_LOG(s->log, MF_LOG_WARN, "waiting for Kafka to acknowledge results",
                   MF_KV_S("error", err->msg));
            sender_obs_dep(&s->obs, "kafka", 0, err->msg);
        }
        if (sender_past_deadline(s))
            return 1;
    }
    if (mf_kafka_producer_fatal(s->prod, err))
        return -1;
    if (s->produce_failed)
        return mf_err_set(err, "could not deliver to Kafka: %s", s->produce_error);
    sender_obs_dep(&s->obs, "kafka", 1, NULL);
    return 0;
}

/* First wait of a batch: up to 500 ms, less when a held retry job is due sooner. */
static int first_wait_ms(sender_ctx *s)
{
    int64_t due = sender_retryq_next_due(&s->rq), now = mf_clock_wall_ms();

    if (due == INT64_MAX || due - now >= 500)
        return 500;
    return due <= now ? 0 : (int)(due - now);
}

static int consume_batch(sender_ctx *s, mf_err *err)
{
    size_t got = 0, more = 0, max = (size_t)s->cfg->batch_max;

    if (mf_kafka_consume(s->cons, s->msgs, 1, first_wait_ms(s), &got, err) != 0)
        return -1;
    /* a batch of the priority lane (the consumer returns its messages alone) takes what the
     * lane has and goes at once, without waiting for campaign jobs to join it */
    if (got == 1 && max > 1 && strcmp(s->msgs[0].topic, s->t_jobs_tx) == 0) {
        more = mf_kafka_consume_priority(s->cons, s->msgs + 1, max - 1);
    } else if (got == 1 && max > 1) {
        if (mf_kafka_consume(s->cons, s->msgs + 1, max - 1, (int)s->cfg->linger_ms, &more,
                             err) != 0) {
            s->n = 1 + more;
            return -1;
        }
    }
    s->n = got + more;
    /* held retry jobs that are due join the batch */
    s->n += sender_retryq_take_due(&s->rq, mf_clock_wall_ms(), s->t_retry, s->msgs + s->n,
                                   max - s->n);
    return 0;
}

static void set_pg_state(sender_ctx *s, int ok, const char *detail)
{
    if (ok == s->pg_ok && ok)
        return;
    s->pg_ok = ok;
    sender_obs_dep(&s->obs, "postgres", ok, detail);
}

/* Runs the batch. A PostgreSQL or provider-client failure is retried in place, with a
 * backoff growing to 30 s, for as long as it takes (the claims already written make the
 * retry safe): the sender waits for its dependencies, it does not exit. Returns 0, -1 on a
 * fatal (Kafka) error, 1 when a stop abandoned the batch (offsets not stored). */
static int process_with_retries(sender_ctx *s, mf_err *err)
{
    long delay = 500;

    for (int tries = 1;; tries++) {
        mf_err e2;
        mf_pg_fault fault;
        int rc = process(s, err);

        if (rc != -1) {
            if (rc == 0)
                set_pg_state(s, 1, NULL);
            return rc;
        }
        if (s->produce_failed || mf_kafka_producer_fatal(s->prod, &e2))
            return -1;
        /* PostgreSQL is "down" only when it cannot be reached; a statement it refused (a
         * data error, a deadlock) is logged as what it is, and /healthz stays truthful */
        fault = mf_pg_err_fault(err);
        if (mf_pg_ensure(s->pg, &e2) != 0)
            set_pg_state(s, 0, e2.msg);
        else if (PQstatus(s->pg) != CONNECTION_OK)
            set_pg_state(s, 0, err->msg);
        MF_LOG(s->log, fault == MF_PG_FAULT_DATA ? MF_LOG_ERROR : MF_LOG_WARN,
               "batch failed, retrying", MF_KV_S("error", err->msg),
               MF_KV_S("fault", mf_pg_fault_name(fault)), MF_KV_I("try", tries),
               MF_KV_I("delay_ms", delay));
        mf_coolsms_drain(s->sms, (int)s->cfg->coolsms_timeout_ms + 1000, &e2);
        for (long waited = 0; waited < delay; waited += 100) {
            if (sender_past_deadline(s))
                return 1;
            sleep_ms(100);
            mf_kafka_poll(s->prod, 0);
        }
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
        memset(s->idx, 0, s->idx_cap * sizeof(*s->idx));
        mf_codec_reset(s->codec);
        sender_arena_reset(&s->arena);
    }
}

/* Stores the batch's offsets: jobs messages as consumed; retry partitions at the smallest
 * held offset, else after the highest processed one (sender_retryq.h). */
static int store_offsets(sender_ctx *s, mf_err *err)
{
    mf_kafka_msg *out = calloc(s->n + s->rq.npos + 1, sizeof(*out));
    size_t k = 0;
    int rc;

    if (out == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        const mf_kafka_msg *m = &s->msgs[i];

        if (strcmp(m->topic, s->t_retry) != 0)
            out[k++] = *m;
        else if (!s->slots[i].held && sender_retryq_done(&s->rq, m->partition, m->offset, err) != 0) {
            free(out);
            return -1;
        }
    }
    for (size_t p = 0; p < s->rq.npos; p++) {
        int64_t pos = sender_retryq_position(&s->rq, s->rq.pos[p].partition);

        if (pos < 0)
            continue;
        memset(&out[k], 0, sizeof(out[k]));
        out[k].topic = s->t_retry;
        out[k].partition = s->rq.pos[p].partition;
        out[k].offset = pos - 1; /* stores pos */
        k++;
    }
    rc = mf_kafka_store_offsets(s->cons, out, k, err);
    free(out);
    return rc;
}

static int one_batch(sender_ctx *s, mf_err *err)
{
    int64_t t0 = mf_clock_wall_ms();
    int rc;

    if (consume_batch(s, err) != 0)
        return -1;
    if (s->n == 0)
        return 0;
    s->produce_failed = 0;
    rc = process_with_retries(s, err);
    if (rc == 0)
        rc = await_acks(s, err);
    if (rc == -1 && s->produce_failed && !mf_kafka_producer_fatal(s->prod, err)) {
        /* a result (or dlq/retry message) failed for good: run the batch again, the claims
         * re-emit the same outcomes */
        MF_LOG(s->log, MF_LOG_WARN, "delivery failed, producing the batch again",
               MF_KV_S("error", err->msg));
        sender_obs_dep(&s->obs, "kafka", 0, err->msg);
        memset(s->idx, 0, s->idx_cap * sizeof(*s->idx));
        mf_codec_reset(s->codec);
        sender_arena_reset(&s->arena);
        s->produce_failed = 0;
        rc = process_with_retries(s, err);
        if (rc == 0)
            rc = await_acks(s, err);
    }
    if (rc == 0 && store_offsets(s, err) != 0) {
        /* partitions revoked meanwhile: the new owner redelivers, claims dedupe */
        MF_LOG(s->log, MF_LOG_WARN, "could not store offsets", MF_KV_S("error", err->msg));
    }
    MF_LOG(s->log, MF_LOG_INFO, "batch done", MF_KV_I("jobs", (long long)s->n),
           MF_KV_I("ms", mf_clock_wall_ms() - t0), MF_KV_I("accepted", (long long)s->n_accepted),
           MF_KV_I("failed", (long long)s->n_failed),
           MF_KV_I("cancelled", (long long)s->n_cancelled),
           MF_KV_I("paused", (long long)s->n_held),
           MF_KV_I("reemitted", (long long)s->n_reemitted),
           MF_KV_I("deferred", (long long)s->n_deferred),
           MF_KV_I("rate_deferred", (long long)s->n_rate_deferred),
           MF_KV_I("quota_holds", (long long)s->n_quota_held), MF_KV_I("dlq", (long long)s->n_dlq),
           MF_KV_I("retried", (long long)s->n_retried),
           MF_KV_I("held", (long long)sender_retryq_held(&s->rq)));
    reset_batch(s);
    if (rc == 1) {
        MF_LOG(s->log, MF_LOG_INFO, "batch abandoned on stop (offsets not stored)");
        return 0;
    }
    return rc;
}

/* Every few seconds: consumer lag, and a PostgreSQL check while idle. */
static void housekeeping(sender_ctx *s)
{
    int64_t now = mf_clock_wall_ms(), lag;
    mf_err e2;

    halt_tick(s);
    if (s->pg_ok && sender_rate_tick(&s->rate, s->pg, s->sms, s->log,
                                     sender_retryq_parked(&s->rq) > 0, &e2) < 0)
        MF_LOG(s->log, MF_LOG_WARN, "could not check the provider's daily quota",
               MF_KV_S("error", e2.msg));
    if (now - s->last_lag_ms >= LAG_EVERY_MS) {
        s->last_lag_ms = now;
        if (mf_kafka_consumer_lag(s->cons, &lag, &e2) == 0)
            mf_metric_set(s->obs.lag, NULL, (double)lag);
        mf_metric_set(s->obs.parked, NULL, (double)sender_retryq_parked(&s->rq));
    }
    if (now - s->last_ping_ms >= PING_EVERY_MS) {
        PGresult *r;

        s->last_ping_ms = now;
        if (mf_pg_ensure(s->pg, &e2) != 0) {
            set_pg_state(s, 0, e2.msg);
            return;
        }
        r = mf_pg_query(s->pg, "SELECT 1", 0, NULL, &e2);
        set_pg_state(s, r != NULL, r != NULL ? NULL : e2.msg);
        PQclear(r);
    }
}

int sender_run(sender_ctx *s, mf_err *err)
{
    MF_LOG(s->log, MF_LOG_INFO, "sender started", MF_KV_S("group", s->cfg->group),
           MF_KV_S("topic", s->t_jobs), MF_KV_S("tx_topic", s->t_jobs_tx),
           MF_KV_S("retry_topic", s->t_retry),
           MF_KV_S("instance", s->cfg->common.instance_id));
    while (!mf_daemon_stopping()) {
        housekeeping(s);
        if (one_batch(s, err) != 0)
            return -1;
        if (mf_kafka_producer_fatal(s->prod, err))
            return -1;
    }
    return 0;
}

/* ---- set-up -------------------------------------------------------------------------- */

/* Partitions taken away: held retry jobs of those partitions are forgotten (the next owner
 * re-reads them from the stored offset, which never passed a held job). */
static void on_revoke(void *ctx, const mf_kafka_partition *parts, size_t n)
{
    sender_ctx *s = ctx;

    for (size_t i = 0; i < n; i++)
        if (strcmp(parts[i].topic, s->t_retry) == 0)
            sender_retryq_drop_partition(&s->rq, parts[i].partition);
}

static int open_kafka(sender_ctx *s, mf_err *err)
{
    const sender_config *c = s->cfg;
    mf_kafka_conf kc = {c->common.kafka_brokers, c->common.instance_id, c->common.topic_prefix,
                        NULL, s->log, &c->common.kafka_sec};
    const char *topics[4] = {s->t_jobs_tx, s->t_jobs, s->t_retry, NULL};
    mf_kafka_consumer_opts co;

    if (mf_kafka_topic_name(&kc, MF_TOPIC_JOBS, s->t_jobs, sizeof(s->t_jobs), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_JOBS_TX, s->t_jobs_tx, sizeof(s->t_jobs_tx),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, s->t_results, sizeof(s->t_results), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS_TX, s->t_results_tx, sizeof(s->t_results_tx),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RETRY, s->t_retry, sizeof(s->t_retry), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, s->t_dlq, sizeof(s->t_dlq), err) != 0)
        return mf_err_prefix(err, "invalid value for MF_TOPIC_PREFIX");
    if (mf_kafka_sec_enabled(kc.security) &&
        mf_kafka_check_login(&kc, MF_KAFKA_LOGIN_CHECK_MS, err) != 0)
        return -1;
    s->prod = mf_kafka_producer_new(&kc, on_delivery, s, err);
    if (s->prod == NULL)
        return -1;
    memset(&co, 0, sizeof(co));
    co.group_id = c->group;
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_STORE;
    co.on_revoke = on_revoke;
    co.hook_ctx = s;
    co.priority_topic = s->t_jobs_tx;
    s->cons = mf_kafka_consumer_new(&kc, &co, err);
    return s->cons == NULL ? -1 : 0;
}

static int open_provider(sender_ctx *s, mf_err *err)
{
    const sender_config *c = s->cfg;
    mf_coolsms_config cc;

    memset(&cc, 0, sizeof(cc));
    cc.base_url = c->coolsms_base_url;
    cc.api_key = c->coolsms_api_key;
    cc.api_secret = c->coolsms_api_secret;
    cc.request_timeout_ms = (long)c->coolsms_timeout_ms;
    cc.max_in_flight = (int)c->max_in_flight;
    cc.user_agent = "msgfleet-sender/1";
    s->sms = mf_coolsms_new(&cc, err);
    return s->sms == NULL ? -1 : 0;
}

/* Connects to PostgreSQL, waiting (backoff to 30 s) while it is unreachable: a sender started
 * during a database outage waits for it instead of exiting. A malformed DSN fails at once. */
static int connect_pg(sender_ctx *s, mf_err *err)
{
    PQconninfoOption *opts = PQconninfoParse(s->cfg->common.pg_dsn, NULL);
    long delay = 500;

    if (opts == NULL)
        return mf_err_set(err, "invalid value for MF_PG_DSN: not a libpq connection string");
    PQconninfoFree(opts);
    for (;;) {
        s->pg = mf_pg_connect(s->cfg->common.pg_dsn, NULL, "msgfleet-sender", err);
        if (s->pg != NULL)
            return 0;
        sender_obs_dep(&s->obs, "postgres", 0, err->msg);
        MF_LOG(s->log, MF_LOG_WARN, "database unavailable, retrying", MF_KV_S("error", err->msg),
               MF_KV_I("delay_ms", delay));
        for (long waited = 0; waited < delay; waited += 100) {
            if (mf_daemon_stopping())
                return -1;
            sleep_ms(100);
        }
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

sender_ctx *sender_new(const sender_config *cfg, mf_log *log, mf_err *err)
{
    sender_ctx *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->log = log;
    s->rnd = (uint32_t)mf_clock_wall_ms() ^ (uint32_t)(uintptr_t)s;
    s->tokens_ms = mf_clock_wall_ms();
    msgpack_sbuffer_init(&s->sbuf);
    mf_buf_init(&s->scratch, 0);
    mf_buf_init(&s->text, 0);
    sender_claims_init(&s->claims);
    sender_halt_init(&s->halt, cfg->halt_check_ms);
    sender_rate_init(&s->rate, cfg->coolsms_base_url, cfg->coolsms_api_key, cfg->account_rate,
                     cfg->account_burst_ms, cfg->quota_check_ms, cfg->rate_horizon_s);
    if (sender_obs_init(&s->obs, err) != 0 ||
        sender_obs_listen(&s->obs, (int)cfg->common.http_port, err) != 0)
        goto fail;
    MF_LOG(log, MF_LOG_INFO, "http listening", MF_KV_I("port", mf_httpd_port(s->obs.httpd)));
    sender_obs_dep(&s->obs, "postgres", 0, "connecting");
    sender_obs_dep(&s->obs, "kafka", 0, "connecting");
    sender_obs_dep(&s->obs, "coolsms", 1, NULL);
    if (connect_pg(s, err) != 0)
        goto fail;
    s->codec = mf_codec_new(err);
    s->euckr = sender_rules_counter_new(err);
    s->cat = sender_catalog_new(cfg->template_ttl_ms);
    if (s->codec == NULL || s->euckr == NULL || s->cat == NULL) {
        if (s->cat == NULL)
            mf_err_set(err, "out of memory");
        goto fail;
    }
    set_pg_state(s, 1, NULL);
    if (grow_batch(s, (size_t)cfg->batch_max, err) != 0 || open_provider(s, err) != 0 ||
        open_kafka(s, err) != 0)
        goto fail;
    sender_obs_dep(&s->obs, "kafka", 1, NULL);
    return s;
fail:
    sender_free(s);
    return NULL;
}

void sender_free(sender_ctx *s)
{
    mf_err err;

    if (s == NULL)
        return;
    if (s->n > 0)
        reset_batch(s);
    mf_kafka_consumer_free(s->cons); /* close (commits stored offsets) then destroy */
    if (s->prod != NULL && mf_kafka_flush(s->prod, 10000, &err) != 0)
        MF_LOG(s->log, MF_LOG_WARN, "producer flush at exit", MF_KV_S("error", err.msg));
    mf_kafka_producer_free(s->prod);
    mf_coolsms_destroy(s->sms);
    sender_catalog_free(s->cat);
    sender_rules_counter_free(s->euckr);
    mf_codec_free(s->codec);
    if (s->pg != NULL)
        PQfinish(s->pg);
    sender_claims_free(&s->claims);
    mf_buf_free(&s->scratch);
    mf_buf_free(&s->text);
    msgpack_sbuffer_destroy(&s->sbuf);
    sender_arena_free(&s->arena);
    free(s->msgs);
    free(s->slots);
    free(s->idx);
    free(s->held_msg);
    sender_halt_free(&s->halt);
    sender_rate_free(&s->rate);
    sender_retryq_free(&s->rq);
    sender_obs_free(&s->obs);
    free(s);
}

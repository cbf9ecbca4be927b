/* sender_batch: one batch: consume, decode, claim, send, produce results, store offsets. */
#include "sender_batch.h"

#include <stdlib.h>
#include <string.h>

#include "mf_clock.h"
#include "mf_daemon.h"
#include "sender_budget.h"
#include "sender_ctx.h"
#include "sender_gate.h"
#include "sender_prepare.h"
#include "sender_produce.h"
#include "sender_runstate.h"
#include "sender_send.h"
#include "sender_settle.h"

#define PENDING_RECHECK_MS 500

static size_t count_state(const sender_ctx *s, slot_state st)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++)
        n += s->slots[i].state == st;
    return n;
}

int sender_batch_init(sender_ctx *s, size_t max, mf_err *err)
{
    s->msgs = calloc(max, sizeof(*s->msgs));
    s->slots = calloc(max, sizeof(*s->slots));
    s->held_msg = calloc(max, 1);
    if (!s->msgs || !s->slots || !s->held_msg)
        return mf_err_set(err, "out of memory");
    return sender_slot_index_init(&s->idx, max, err);
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
            if (sender_produce_dlq(s, i, e2.msg, err) != 0)
                return -1;
            continue;
        }
        sl->decoded = 1;
        /* a lane job keeps its lane on the retry topic (the tx flag): results to results.tx */
        if (strcmp(m->topic, s->t_jobs_tx) == 0)
            sl->job.lane_tx = 1;
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
        if (sender_slot_index_add(&s->idx, s->slots, i) != i)
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
    rc = sender_catalog_load(s->cat, s->pg, tpl, n, wf, n, mf_clock_mono_ms(), err);
    free(tpl);
    free(wf);
    return rc;
}

static int prepare_all(sender_ctx *s, mf_err *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND && sender_prepare_slot(s, &s->slots[i], i, err) != 0)
            return -1;
    return 0;
}

/* Other senders' young claims: re-check until final, or stale (then resolve). Returns 1
 * when a stop interrupted the wait (the batch is abandoned). */
static int wait_pending(sender_ctx *s, mf_err *err)
{
    int rc;

    while (count_state(s, SLOT_PENDING) > 0) {
        if (mf_daemon_stopping())
            return 1;
        sender_ctx_sleep_ms(PENDING_RECHECK_MS);
        mf_kafka_poll(s->prod, 0);
        if (sender_settle_existing(s, 0, err) != 0)
            return -1;
        rc = sender_send_all(s, err);
        if (rc != 0)
            return rc;
        if (sender_produce_finals(s, err) != 0)
            return -1;
    }
    return 0;
}

/* Jobs whose claim INSERT met an existing claim: re-emit, resolve or wait
 * (sender_settle_existing), then send the freshly claimed ones; the send loop claims the rest
 * of the batch as it goes. */
static int settle_and_send(sender_ctx *s, mf_err *err)
{
    if (sender_settle_existing(s, 1, err) != 0 || sender_produce_finals(s, err) != 0)
        return -1;
    return sender_send_all(s, err);
}

static int process(sender_ctx *s, mf_err *err)
{
    int rc;

    /* Only the first request's claims are inserted before sending starts: the send loop
     * inserts the others while requests are in flight (sender_send.c), so the provider is
     * not kept waiting for one INSERT of the whole batch. */
    if (decode_all(s, err) != 0 || load_catalog(s, err) != 0 ||
        sender_runstate_check(s, err) != 0 || prepare_all(s, err) != 0 ||
        sender_gate_apply(s, err) != 0 || sender_budget_workflows(s, err) != 0 ||
        sender_settle_claim_next(s, (size_t)s->cfg->request_size, err) < 0)
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

void sender_batch_reset(sender_ctx *s)
{
    mf_kafka_release(s->msgs, s->n);
    sender_retryq_batch_end(&s->rq);
    memset(s->held_msg, 0, s->n);
    sender_slot_index_clear(&s->idx);
    mf_codec_reset(s->codec);
    sender_arena_reset(&s->arena);
    s->n = 0;
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
        if (mf_kafka_consume(s->cons, s->msgs + 1, max - 1, (int)s->cfg->linger_ms, &more, err) !=
            0) {
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
                sender_ctx_pg_state(s, 1, NULL);
            return rc;
        }
        if (s->produce_failed || mf_kafka_producer_fatal(s->prod, &e2))
            return -1;
        /* PostgreSQL is "down" only when it cannot be reached; a statement it refused (a
         * data error, a deadlock) is logged as what it is, and /healthz stays truthful */
        fault = mf_pg_err_fault(err);
        if (mf_pg_ensure(s->pg, &e2) != 0)
            sender_ctx_pg_state(s, 0, e2.msg);
        else if (PQstatus(s->pg) != CONNECTION_OK)
            sender_ctx_pg_state(s, 0, err->msg);
        MF_LOG(s->log, fault == MF_PG_FAULT_DATA ? MF_LOG_ERROR : MF_LOG_WARN,
               "batch failed, retrying", MF_KV_S("error", err->msg),
               MF_KV_S("fault", mf_pg_fault_name(fault)), MF_KV_I("try", tries),
               MF_KV_I("delay_ms", delay));
        mf_coolsms_drain(s->sms, (int)s->cfg->coolsms_timeout_ms + 1000, &e2);
        for (long waited = 0; waited < delay; waited += 100) {
            if (sender_ctx_past_deadline(s))
                return 1;
            sender_ctx_sleep_ms(100);
            mf_kafka_poll(s->prod, 0);
        }
        delay = delay * 2 > SENDER_BACKOFF_MAX_MS ? SENDER_BACKOFF_MAX_MS : delay * 2;
        sender_slot_index_clear(&s->idx);
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
        else if (!s->slots[i].held &&
                 sender_retryq_done(&s->rq, m->partition, m->offset, err) != 0) {
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

int sender_batch_one(sender_ctx *s, mf_err *err)
{
    int64_t t0 = mf_clock_mono_ms();
    int rc;

    if (consume_batch(s, err) != 0)
        return -1;
    if (s->n == 0)
        return 0;
    s->produce_failed = 0;
    rc = process_with_retries(s, err);
    if (rc == 0)
        rc = sender_produce_await(s, err);
    if (rc == -1 && s->produce_failed && !mf_kafka_producer_fatal(s->prod, err)) {
        /* a result (or dlq/retry message) failed for good: run the batch again, the claims
         * re-emit the same outcomes */
        MF_LOG(s->log, MF_LOG_WARN, "delivery failed, producing the batch again",
               MF_KV_S("error", err->msg));
        sender_obs_dep(&s->obs, "kafka", 0, err->msg);
        sender_slot_index_clear(&s->idx);
        mf_codec_reset(s->codec);
        sender_arena_reset(&s->arena);
        s->produce_failed = 0;
        rc = process_with_retries(s, err);
        if (rc == 0)
            rc = sender_produce_await(s, err);
    }
    if (rc == 0 && store_offsets(s, err) != 0) {
        /* partitions revoked meanwhile: the new owner redelivers, claims dedupe */
        MF_LOG(s->log, MF_LOG_WARN, "could not store offsets", MF_KV_S("error", err->msg));
    }
    MF_LOG(s->log, MF_LOG_INFO, "batch done", MF_KV_I("jobs", (long long)s->n),
           MF_KV_I("ms", mf_clock_mono_ms() - t0), MF_KV_I("accepted", (long long)s->n_accepted),
           MF_KV_I("failed", (long long)s->n_failed),
           MF_KV_I("cancelled", (long long)s->n_cancelled), MF_KV_I("paused", (long long)s->n_held),
           MF_KV_I("reemitted", (long long)s->n_reemitted),
           MF_KV_I("deferred", (long long)s->n_deferred),
           MF_KV_I("rate_deferred", (long long)s->n_rate_deferred),
           MF_KV_I("quota_holds", (long long)s->n_quota_held), MF_KV_I("dlq", (long long)s->n_dlq),
           MF_KV_I("retried", (long long)s->n_retried),
           MF_KV_I("held", (long long)sender_retryq_held(&s->rq)));
    sender_batch_reset(s);
    if (rc == 1) {
        MF_LOG(s->log, MF_LOG_INFO, "batch abandoned on stop (offsets not stored)");
        return 0;
    }
    return rc;
}

void sender_batch_free(sender_ctx *s)
{
    free(s->msgs);
    free(s->slots);
    sender_slot_index_free(&s->idx);
    free(s->held_msg);
    s->msgs = NULL;
    s->slots = NULL;
    s->held_msg = NULL;
}

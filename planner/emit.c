/* emit: produce jobs and INVALID_PHONE results, wait for the acks, record the run outcome. */
#include "emit.h"

#include <stdio.h>
#include <string.h>

#include "mf_daemon.h"
#include "mf_pg.h"
#include "mf_runs.h"

planner_outcome planner_emit_why(planner_emitter *em, planner_outcome o, const char *msg)
{
    snprintf(em->reason, MF_ERR_MAX, "%s", msg);
    return o;
}

planner_outcome planner_emit_outage(planner_emitter *em, const char *msg)
{
    em->outage = 1;
    return planner_emit_why(em, PLANNER_OUT_RETRY, msg);
}

const char *planner_emit_clean(const char *s)
{
    if (s == NULL || !mf_buf_utf8_valid(s, strlen(s)))
        return NULL;
    return s;
}

/* Cut s to at most max bytes on a UTF-8 character boundary, into out. */
static void cut_utf8(const char *s, char *out, size_t max)
{
    size_t n = strlen(s);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

planner_outcome planner_emit_encode_job(planner_emitter *em, const char *phone, const char *name,
                                        const mf_codec_kv *kv, size_t nkv, int night_consent)
{
    mf_job job;
    mf_err err;

    memset(&job, 0, sizeof(job));
    mf_uuid_job_id(&em->run->uuid, em->run->started_ms, phone, PLANNER_JOB_ATTEMPT, &job.id);
    job.run = em->run->uuid;
    job.wf = em->plan->wf;
    job.tpl = em->plan->tpl;
    job.attempt = PLANNER_JOB_ATTEMPT;
    job.to = phone;
    job.name = planner_emit_clean(name) != NULL ? name : "";
    job.vars.items = kv;
    job.vars.n = nkv;
    job.created_ms = mf_clock_wall_ms();
    job.night_consent = night_consent ? 1 : 0;
    if (mf_codec_encode_job(&em->ctx->sbuf, &job, &err) != 0)
        return planner_emit_why(em, PLANNER_OUT_RETRY, err.msg);
    return PLANNER_OUT_OK;
}

planner_outcome planner_emit_encode_invalid(planner_emitter *em, const char *rkey, const char *raw,
                                            const char *name, mf_phone_reason why,
                                            char id[MF_UUID_STR_SIZE])
{
    char to[PLANNER_RAW_PHONE_MAX + 1], msg[128];
    mf_result r;
    mf_err err;

    memset(&r, 0, sizeof(r));
    mf_uuid_job_id(&em->run->uuid, em->run->started_ms, rkey, PLANNER_JOB_ATTEMPT, &r.id);
    /* `to` is required by the wire format: a placeholder stands for an empty number */
    cut_utf8(planner_emit_clean(raw) == NULL ? "(invalid)"
             : raw[0] == '\0'                ? "(empty)"
                                             : raw,
             to, PLANNER_RAW_PHONE_MAX);
    snprintf(msg, sizeof(msg), "invalid phone number: %s", mf_phone_reason_text(why));
    r.run = em->run->uuid;
    r.wf = em->plan->wf;
    r.tpl = em->plan->tpl;
    r.attempt = PLANNER_JOB_ATTEMPT;
    r.status = MF_RESULT_FAILED;
    r.to = to;
    r.name = planner_emit_clean(name);
    r.type = em->plan->type;
    r.code = "INVALID_PHONE";
    r.msg = msg;
    r.ts_ms = mf_clock_wall_ms();
    if (mf_codec_encode_result(&em->ctx->sbuf, &r, &err) != 0)
        return planner_emit_why(em, PLANNER_OUT_RETRY, err.msg);
    mf_uuid_format(&r.id, id);
    return PLANNER_OUT_OK;
}

planner_outcome planner_emit_produce(planner_emitter *em, const char *topic, const char *key,
                                     size_t key_len)
{
    planner_ctx *ctx = em->ctx;
    mf_err err;

    for (;;) {
        planner_outcome o;

        if (mf_kafka_produce(ctx->producer, topic, key, key_len, ctx->sbuf.data, ctx->sbuf.size,
                             (void *)ctx->gen, 1000, &err) == 0) {
            if (strcmp(topic, ctx->topic_results) == 0 || strcmp(topic, ctx->topic_results_tx) == 0)
                ctx->queued_invalid++;
            else
                ctx->queued_jobs++;
            return PLANNER_OUT_OK;
        }
        if (mf_kafka_producer_fatal(ctx->producer, &err))
            return planner_emit_why(em, PLANNER_OUT_FATAL, err.msg);
        /* TODO(lead): a typed queue-full return from mf_kafka_produce (see docs/replay.md) */
        if (strstr(err.msg, "queue full") == NULL)
            return planner_emit_why(em, PLANNER_OUT_RETRY, err.msg);
        if (mf_daemon_stopping())
            return planner_emit_why(em, PLANNER_OUT_STOP, "planner stopping");
        if ((o = em->renew(em->self, 0)) != PLANNER_OUT_OK)
            return o;
    }
}

planner_outcome planner_emit_await(planner_emitter *em)
{
    planner_ctx *ctx = em->ctx;
    int64_t deadline = mf_clock_mono_ms() + ctx->cfg->flush_timeout_ms;

    while (mf_kafka_outq_len(ctx->producer) > 0) {
        planner_outcome o;

        if (mf_clock_mono_ms() > deadline) {
            em->outage = 1; /* the broker does not answer */
            snprintf(em->reason, MF_ERR_MAX,
                     "%d messages not acknowledged by the broker within %lld ms",
                     mf_kafka_outq_len(ctx->producer), ctx->cfg->flush_timeout_ms);
            return PLANNER_OUT_RETRY;
        }
        if (mf_daemon_stopping()) /* given back: produced again by the next planner (same ids) */
            return planner_emit_why(em, PLANNER_OUT_STOP, "planner stopping");
        mf_kafka_flush(ctx->producer, 500, NULL);
        if ((o = em->renew(em->self, 0)) != PLANNER_OUT_OK)
            return o;
    }
    if (ctx->dr_failed > 0) {
        em->outage = 1; /* the broker refused or timed out (a too large message fails the
                         * produce call itself, which counts) */
        snprintf(em->reason, MF_ERR_MAX, "%lld messages failed delivery: %s", ctx->dr_failed,
                 ctx->dr_error);
        return PLANNER_OUT_RETRY;
    }
    return PLANNER_OUT_OK;
}

static void log_msg(planner_emitter *em, mf_log_level level, const char *what)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "%s %s", em->noun, what);
    em->log(em->self, level, msg);
}

/*
 * The lease was lost because the run was cancelled (not taken over): record what this
 * expansion put on Kafka as the run's counts, so that the run ends once those jobs all have
 * their row. The messages still queued are waited for first (flush deadline), and those whose
 * delivery failed are not counted. A replay resumed after a cursor adds the counts recorded
 * before it (run->done_*; 0 for a normal run, which restarts from the beginning).
 */
static void record_cancelled(planner_emitter *em)
{
    planner_ctx *ctx = em->ctx;
    const char *owner = ctx->cfg->common.instance_id;
    planner_counts c;
    mf_err err;
    int rc = planner_runs_cancelled(ctx->pg, em->run, owner, &err);

    if (rc <= 0) {
        if (rc < 0)
            MF_LOG(ctx->log, MF_LOG_WARN, "could not read the run status",
                   MF_KV_S("run_id", em->run->id), MF_KV_S("error", err.msg));
        return;
    }
    if (mf_kafka_flush(ctx->producer, (int)ctx->cfg->flush_timeout_ms, &err) != 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "cancelled run: messages not acknowledged yet",
               MF_KV_S("run_id", em->run->id), MF_KV_S("error", err.msg));
    c.expanded = em->run->done_jobs + ctx->queued_jobs;
    c.invalid = em->run->done_invalid + ctx->queued_invalid;
    c.target = c.expanded + c.invalid - ctx->dr_failed;
    rc = planner_runs_stop_cancelled(ctx->pg, em->run, owner, &c, &err);
    if (rc < 0) {
        MF_LOG(ctx->log, MF_LOG_WARN, "could not record the stopped expansion",
               MF_KV_S("run_id", em->run->id), MF_KV_S("error", err.msg));
        return;
    }
    if (rc == 0)
        return;
    log_msg(em, MF_LOG_INFO, "cancelled: expansion stopped");
    if (mf_runs_try_finish_cancelled(ctx->pg, em->run->id, NULL, &err) != 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "could not end the cancelled run",
               MF_KV_S("run_id", em->run->id), MF_KV_S("error", err.msg));
}

static void record_finish(planner_emitter *em, const planner_counts *counts)
{
    planner_ctx *ctx = em->ctx;
    mf_err err;
    int rc = planner_runs_finish(ctx->pg, em->run, ctx->cfg->common.instance_id, counts, &err);

    if (rc < 0 && planner_data_error(ctx, em->run->id, "expansion counts", &err)) {
        /* a value the row cannot hold: retrying (another planner re-expanding the run after
         * the lease) would fail the same way, forever */
        char brief[MF_ERR_MAX];

        planner_emit_why(em, PLANNER_OUT_FAIL, mf_pg_err_brief(&err, brief, sizeof(brief)));
        planner_emit_record(em, PLANNER_OUT_FAIL, counts);
        return;
    }
    if (rc <= 0) {
        planner_emit_why(em, PLANNER_OUT_OK,
                         rc < 0 ? err.msg : "lease lost before recording the expansion");
        log_msg(em, MF_LOG_WARN, "expanded but not recorded");
        if (rc == 0)
            record_cancelled(em);
        return;
    }
    log_msg(em, MF_LOG_INFO, "expanded");
    rc = planner_runs_complete(ctx->pg, em->run->id, &err);
    if (rc < 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "completion check failed", MF_KV_S("run_id", em->run->id),
               MF_KV_S("error", err.msg));
    else if (rc == 1)
        MF_LOG(ctx->log, MF_LOG_INFO, "run completed", MF_KV_S("run_id", em->run->id));
}

void planner_emit_record(planner_emitter *em, planner_outcome o, const planner_counts *counts)
{
    planner_ctx *ctx = em->ctx;
    const char *owner = ctx->cfg->common.instance_id;
    mf_err err;
    int rc = 1;

    switch (o) {
    case PLANNER_OUT_OK: record_finish(em, counts); return;
    case PLANNER_OUT_FAIL:
        rc = planner_runs_fail(ctx->pg, em->run, owner, em->reason, &err);
        mf_metric_add(ctx->metrics.runs_failed, NULL, 1);
        log_msg(em, MF_LOG_ERROR, "failed: configuration error");
        break;
    case PLANNER_OUT_LOST:
        log_msg(em, MF_LOG_WARN, "lease lost, expansion abandoned");
        record_cancelled(em);
        return;
    case PLANNER_OUT_STOP:
        rc = planner_runs_release(ctx->pg, em->run, owner, 0, em->reason, 1, &err);
        log_msg(em, MF_LOG_INFO, "given back: stopping");
        break;
    default:
        if (!em->outage && em->run->attempts >= ctx->cfg->max_attempts) {
            char why[MF_ERR_MAX];

            snprintf(why, sizeof(why), "%s", em->reason);
            snprintf(em->reason, MF_ERR_MAX, "gave up after %lld attempts: %.440s",
                     em->run->attempts, why);
            planner_emit_record(em, PLANNER_OUT_FAIL, counts);
            return;
        }
        rc = planner_runs_release(ctx->pg, em->run, owner, ctx->cfg->retry_ms, em->reason,
                                  em->outage, &err);
        log_msg(em, MF_LOG_WARN, "given back after a transient failure");
        break;
    }
    if (rc == 0) /* no longer ours or no longer running: perhaps cancelled meanwhile */
        record_cancelled(em);
    if (rc < 0 && planner_data_error(ctx, em->run->id, "run outcome", &err))
        planner_skip_run(ctx, em->run->id);
    else if (rc < 0)
        MF_LOG(ctx->log, MF_LOG_WARN, "could not record the run outcome",
               MF_KV_S("run_id", em->run->id), MF_KV_S("error", err.msg));
}

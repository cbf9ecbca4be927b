/* sender: the sender daemon's lifecycle (connect, run batches, close) and its idle chores. */
#include "sender.h"

#include <stdlib.h>
#include <string.h>

#include "mf_clock.h"
#include "mf_daemon.h"
#include "sender_batch.h"
#include "sender_ctx.h"
#include "sender_produce.h"
#include "sender_rules.h"
#include "sender_runstate.h"

#define LAG_EVERY_MS 5000
#define PING_EVERY_MS 5000

/* Every few seconds: consumer lag, and a PostgreSQL check while idle. */
static void housekeeping(sender_ctx *s)
{
    int64_t now = mf_clock_mono_ms(), lag;
    mf_err e2;

    sender_runstate_tick(s);
    if (s->pg_ok && sender_rate_tick(&s->rate, s->pg, s->sms, s->log,
                                     sender_retryq_parked(&s->rq) > 0, &e2) < 0)
        MF_LOG(s->log, MF_LOG_WARN, "could not check the provider's daily quota",
               MF_KV_S("error", e2.msg));
    if (s->last_lag_ms == 0 || now - s->last_lag_ms >= LAG_EVERY_MS) {
        s->last_lag_ms = now;
        if (mf_kafka_consumer_lag(s->cons, &lag, &e2) == 0)
            mf_metric_set(s->obs.lag, NULL, (double)lag);
        mf_metric_set(s->obs.parked, NULL, (double)sender_retryq_parked(&s->rq));
    }
    if (s->last_ping_ms == 0 || now - s->last_ping_ms >= PING_EVERY_MS) {
        PGresult *r;

        s->last_ping_ms = now;
        if (mf_pg_ensure(s->pg, &e2) != 0) {
            sender_ctx_pg_state(s, 0, e2.msg);
            return;
        }
        r = mf_pg_query(s->pg, "SELECT 1", 0, NULL, &e2);
        sender_ctx_pg_state(s, r != NULL, r != NULL ? NULL : e2.msg);
        PQclear(r);
    }
}

int sender_run(sender_ctx *s, mf_err *err)
{
    MF_LOG(s->log, MF_LOG_INFO, "sender started", MF_KV_S("group", s->cfg->group),
           MF_KV_S("topic", s->t_jobs), MF_KV_S("tx_topic", s->t_jobs_tx),
           MF_KV_S("retry_topic", s->t_retry), MF_KV_S("instance", s->cfg->common.instance_id));
    while (!mf_daemon_stopping()) {
        housekeeping(s);
        if (sender_batch_one(s, err) != 0)
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
    mf_kafka_conf kc = {
        c->common.kafka_brokers, c->common.instance_id, c->common.topic_prefix, NULL, s->log,
        &c->common.kafka_sec};
    const char *topics[4] = {s->t_jobs_tx, s->t_jobs, s->t_retry, NULL};
    mf_kafka_consumer_opts co;

    if (mf_kafka_topic_name(&kc, MF_TOPIC_JOBS, s->t_jobs, sizeof(s->t_jobs), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_JOBS_TX, s->t_jobs_tx, sizeof(s->t_jobs_tx), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, s->t_results, sizeof(s->t_results), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS_TX, s->t_results_tx, sizeof(s->t_results_tx),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RETRY, s->t_retry, sizeof(s->t_retry), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, s->t_dlq, sizeof(s->t_dlq), err) != 0)
        return mf_err_prefix(err, "invalid value for MF_TOPIC_PREFIX");
    if (mf_kafka_sec_enabled(kc.security) &&
        mf_kafka_check_login(&kc, MF_KAFKA_LOGIN_CHECK_MS, err) != 0)
        return -1;
    s->prod = mf_kafka_producer_new(&kc, sender_produce_on_delivery, s, err);
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
            sender_ctx_sleep_ms(100);
        }
        delay = delay * 2 > SENDER_BACKOFF_MAX_MS ? SENDER_BACKOFF_MAX_MS : delay * 2;
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
    s->tokens_ms = mf_clock_mono_ms();
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
    sender_ctx_pg_state(s, 1, NULL);
    if (sender_batch_init(s, (size_t)cfg->batch_max, err) != 0 || open_provider(s, err) != 0 ||
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
        sender_batch_reset(s);
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
    sender_batch_free(s);
    sender_halt_free(&s->halt);
    sender_rate_free(&s->rate);
    sender_retryq_free(&s->rq);
    sender_obs_free(&s->obs);
    free(s);
}

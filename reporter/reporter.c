/* reporter: the results consumer (batches into PostgreSQL), the final-status poller and webhook. */
#include "reporter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_clock.h"
#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_dlq.h"
#include "mf_httpd.h"
#include "mf_kafka.h"
#include "mf_metrics.h"
#include "mf_pg.h"
#include "mf_runs.h"
#include "rep_hold.h"
#include "rep_isolate.h"
#include "rep_lag.h"
#include "rep_metrics.h"
#include "rep_optout.h"
#include "rep_status.h"
#include "rep_store.h"
#include "rep_webhook.h"

#define MAX_PARTS 1024
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 10000
#define MAX_STALLED_LOGGED 64
/* Most cancelled runs ended per sweep (the rest wait for the next tick). */
#define CANCEL_SWEEP_MAX 100
#define RATE_WINDOW_MS 1000 /* window of the recorded-results rate the status poller sees */
/* Sent results are held only while webhook reports come: one consumed within this long. */
#define HOLD_REPORTS_RECENT_MS 300000

struct reporter {
    const reporter_config *cfg;
    mf_log *log;
    PGconn *pg;
    rep_store *store;
    mf_kafka_consumer *cons;
    mf_kafka_producer *prod;
    mf_codec *codec;
    rep_status *status;
    rep_optout *optout; /* the 080 opt-out list sync and the ad ledger's pruning */
    rep_webhook *webhook;
    rep_isolate *iso;
    char t_results[MF_KAFKA_TOPIC_MAX + 1];
    char t_dlq[MF_KAFKA_TOPIC_MAX + 1];
    mf_kafka_msg *msgs;  /* what one consume returned (batch_max) */
    mf_kafka_msg *batch; /* what one transaction records: msgs not held, held ones now due */
    size_t batch_cap;
    rep_hold *hold;           /* NULL: results are written at once (MF_REPORTER_HOLD_MS 0, lane) */
    long long report_seen_ms; /* when the last webhook report was consumed, 0: never */
    mf_uuid *later;           /* plan(): the jobs of the consumed later outcomes */
    /* batch[i] decoded (pre_ok[i]) into pre[i]: plan() classifies each result by decoding it
     * and the batch keeps that decode (decoding twice cost the reporter 2 % of its CPU) */
    mf_result *pre;
    unsigned char *pre_ok;
    mf_result *results;
    unsigned char *missing;
    size_t *origin; /* results[i] came from batch[origin[i]] */
    rep_offset offs[MAX_PARTS];
    msgpack_sbuffer sbuf;
    long long dr_failed;
    char dr_error[256];
    long long batches, rows, dead;
    int abandoned; /* a stop gave up a batch: nothing more may be stored */
    /* observability */
    mf_metrics *metrics;
    mf_httpd *httpd;
    rep_metrics m;
    rep_lag *lag;
    int kafka_ok; /* last known state of the "kafka" dependency (-1: not checked yet) */
    int pg_ok;    /* same for "postgres" */
    long long next_tick_ms, next_stall_ms;
    long long rate_since_ms, rate_count; /* results recorded since rate_since_ms */
    /* assigned partitions and the next offset of each (for the lag gauge) */
    int32_t a_parts[MAX_PARTS];
    int64_t a_next[MAX_PARTS];
    size_t n_assigned;
    /* the partitions revoked during the current consume (on_revoke), each once; see
     * drop_revoked */
    int32_t revoked[MAX_PARTS];
    size_t n_revoked;
    /* the priority lane's instance (reporter_new_lane): its metrics are the main instance's,
     * it has no HTTP endpoint and leaves the lag gauge and the stall check to the main one */
    int lane;
};

/* Sleeps ms (monotonic clock), in steps of at most 100 ms, or until a stop. */
static void pause_ms(long long ms)
{
    long long end = mf_clock_mono_ms() + ms, left;

    while (!mf_daemon_stopping() && (left = end - mf_clock_mono_ms()) > 0) {
        long long step = left > 100 ? 100 : left;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}

static long long next_backoff(long long b)
{
    return b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
}

/* Dependency state for /healthz; a change of state is logged once. */
static void set_dep(reporter *r, const char *name, int *state, int ok, const char *detail)
{
    mf_httpd_set_dep(r->httpd, name, ok, ok ? NULL : detail);
    if (*state == ok)
        return;
    if (ok)
        MF_LOG(r->log, MF_LOG_INFO, "dependency up", MF_KV_S("dependency", name));
    else
        MF_LOG(r->log, MF_LOG_WARN, "dependency down", MF_KV_S("dependency", name),
               MF_KV_S("error", detail ? detail : ""));
    *state = ok;
}

/* Connect to PostgreSQL, retrying with a growing pause until it answers or a stop. */
static PGconn *connect_pg(reporter *r, mf_err *err)
{
    long long backoff = BACKOFF_MIN_MS;

    for (;;) {
        PGconn *c = mf_pg_connect(r->cfg->common.pg_dsn, NULL, "msgfleet-reporter", err);

        if (c != NULL) {
            set_dep(r, "postgres", &r->pg_ok, 1, NULL);
            return c;
        }
        set_dep(r, "postgres", &r->pg_ok, 0, err->msg);
        MF_LOG(r->log, MF_LOG_WARN, "postgres not reachable, retrying", MF_KV_S("error", err->msg),
               MF_KV_I("retry_in_ms", backoff));
        pause_ms(backoff);
        if (mf_daemon_stopping()) {
            mf_err_set(err, "stopped before PostgreSQL could be reached");
            return NULL;
        }
        backoff = next_backoff(backoff);
    }
}

static void on_dr(void *ctx, const mf_kafka_dr *dr)
{
    reporter *r = ctx;

    if (!dr->ok) {
        r->dr_failed++;
        snprintf(r->dr_error, sizeof(r->dr_error), "%s", dr->error ? dr->error : "unknown");
    }
}

/* Assignment: start every partition at the next offset stored in PostgreSQL (not Kafka's). */
static int on_assign(void *ctx, mf_kafka_partition *parts, size_t n, mf_err *err)
{
    reporter *r = ctx;
    int32_t ids[MAX_PARTS];
    int64_t next[MAX_PARTS];
    size_t i;

    if (n > MAX_PARTS)
        return mf_err_set(err, "too many partitions assigned (%zu)", n);
    for (i = 0; i < n; i++)
        ids[i] = parts[i].partition;
    /* PostgreSQL down during a rebalance: wait here (the partitions cannot start anywhere
     * else) rather than fail the consumer; only a stop gives up. */
    for (long long backoff = BACKOFF_MIN_MS;; backoff = next_backoff(backoff)) {
        if (mf_pg_ensure(r->pg, err) == 0 &&
            rep_store_load_offsets(r->store, r->pg, ids, n, next, err) == 0)
            break;
        set_dep(r, "postgres", &r->pg_ok, 0, err->msg);
        MF_LOG(r->log, MF_LOG_WARN, "stored offsets not readable, retrying",
               MF_KV_S("error", err->msg), MF_KV_I("retry_in_ms", backoff));
        pause_ms(backoff);
        if (mf_daemon_stopping())
            return mf_err_set(err, "stopping during a partition assignment");
    }
    set_dep(r, "postgres", &r->pg_ok, 1, NULL);
    r->n_assigned = n;
    for (i = 0; i < n; i++) {
        r->a_parts[i] = ids[i];
        r->a_next[i] = next[i];
    }
    r->next_tick_ms = 0; /* refresh the lag now */
    for (i = 0; i < n; i++) {
        parts[i].offset = next[i] >= 0 ? next[i] : MF_KAFKA_OFFSET_BEGINNING;
        MF_LOG(r->log, MF_LOG_INFO, "partition assigned", MF_KV_S("topic", parts[i].topic),
               MF_KV_I("partition", parts[i].partition), MF_KV_I("start_offset", next[i]));
    }
    return 0;
}

/* Remembers a revoked partition for drop_revoked, once: two rebalances inside one consume
 * revoke the same partitions again, and the list must not fill up with repeats (an
 * assignment has at most MAX_PARTS partitions, see on_assign). */
static void note_revoked(reporter *r, int32_t partition)
{
    for (size_t i = 0; i < r->n_revoked; i++)
        if (r->revoked[i] == partition)
            return;
    if (r->n_revoked < MAX_PARTS)
        r->revoked[r->n_revoked++] = partition;
}

static void on_revoke(void *ctx, const mf_kafka_partition *parts, size_t n)
{
    reporter *r = ctx;
    size_t dropped = r->hold != NULL ? rep_hold_drop(r->hold) : 0;

    r->n_assigned = 0;
    for (size_t i = 0; i < n; i++)
        note_revoked(r, parts[i].partition);
    if (dropped > 0) /* their partitions start again at or before them */
        MF_LOG(r->log, MF_LOG_INFO, "held results dropped", MF_KV_I("results", (long long)dropped));
    MF_LOG(r->log, MF_LOG_INFO, "partitions revoked", MF_KV_I("count", (long long)n),
           MF_KV_I("first", n > 0 ? parts[0].partition : -1));
}

static reporter *create(const reporter_config *cfg, mf_log *log, const reporter *main_r,
                        mf_err *err)
{
    int lane = main_r != NULL;
    reporter *r = calloc(1, sizeof(*r));
    mf_kafka_conf kc = {0};
    mf_kafka_consumer_opts co = {0};
    const char *topics[2];
    size_t max = (size_t)cfg->batch_max;

    if (r == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->log = log;
    r->kafka_ok = -1;
    r->pg_ok = -1;
    msgpack_sbuffer_init(&r->sbuf);
    r->lane = lane;
    if (lane) {
        r->m = main_r->m; /* the registry is thread-safe; the main instance outlives the lane */
    } else {
        r->metrics = mf_metrics_new();
        if (r->metrics == NULL) {
            mf_err_set(err, "out of memory");
            goto fail;
        }
        if (rep_metrics_declare(&r->m, r->metrics, err) != 0)
            goto fail;
    }
    r->httpd = lane ? NULL : mf_httpd_start((int)cfg->common.http_port, r->metrics, err);
    if (r->httpd == NULL && !lane)
        goto fail;
    if (!lane)
        MF_LOG(log, MF_LOG_INFO, "http listening", MF_KV_I("port", mf_httpd_port(r->httpd)));
    mf_httpd_set_dep(r->httpd, "postgres", 0, "connecting");
    mf_httpd_set_dep(r->httpd, "kafka", 0, "not checked yet");
    if (cfg->status_enabled && !lane)
        mf_httpd_set_dep(r->httpd, "coolsms", 1, "no request yet");
    kc.brokers = cfg->common.kafka_brokers;
    kc.client_id = cfg->common.instance_id;
    kc.topic_prefix = cfg->common.topic_prefix;
    kc.log = log;
    kc.security = &cfg->common.kafka_sec;
    if (mf_kafka_topic_name(&kc, lane ? MF_TOPIC_RESULTS_TX : MF_TOPIC_RESULTS, r->t_results,
                            sizeof(r->t_results), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, r->t_dlq, sizeof(r->t_dlq), err) != 0)
        goto fail;
    /* a batch: what was consumed and not held, and as many held results now due */
    r->batch_cap = 2 * max;
    r->msgs = calloc(max, sizeof(*r->msgs));
    r->batch = calloc(r->batch_cap, sizeof(*r->batch));
    r->later = calloc(max, sizeof(*r->later));
    r->results = calloc(r->batch_cap, sizeof(*r->results));
    r->pre = calloc(r->batch_cap, sizeof(*r->pre));
    r->pre_ok = calloc(r->batch_cap, 1);
    r->missing = calloc(r->batch_cap, 1);
    r->origin = calloc(r->batch_cap, sizeof(*r->origin));
    if (r->msgs == NULL || r->batch == NULL || r->later == NULL || r->results == NULL ||
        r->pre == NULL || r->pre_ok == NULL || r->missing == NULL || r->origin == NULL) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    if (mf_kafka_sec_enabled(kc.security) &&
        mf_kafka_check_login(&kc, MF_KAFKA_LOGIN_CHECK_MS, err) != 0)
        goto fail;
    r->pg = connect_pg(r, err);
    if (r->pg == NULL)
        goto fail;
    r->lag = rep_lag_new(cfg->common.kafka_brokers, cfg->common.instance_id, &cfg->common.kafka_sec,
                         err);
    if (r->lag == NULL)
        goto fail;
    if (!lane && cfg->hold_ms > 0 &&
        (r->hold = rep_hold_new(cfg->hold_ms, (size_t)cfg->hold_max, cfg->hold_dir, err)) == NULL)
        goto fail;
    r->store = rep_store_new(cfg->group, r->t_results, cfg->price_ttl_ms, log, err);
    if (r->store == NULL || (r->codec = mf_codec_new(err)) == NULL ||
        (r->iso = rep_isolate_new(err)) == NULL)
        goto fail;
    r->prod = mf_kafka_producer_new(&kc, on_dr, r, err);
    if (r->prod == NULL)
        goto fail;
    topics[0] = r->t_results;
    topics[1] = NULL;
    co.group_id = cfg->group;
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_EXTERNAL;
    co.on_assign = on_assign;
    co.on_revoke = on_revoke;
    co.hook_ctx = r;
    r->cons = mf_kafka_consumer_new(&kc, &co, err);
    if (r->cons == NULL)
        goto fail;
    if (cfg->status_enabled && !lane) {
        r->status = rep_status_new(cfg, r->t_results, log, err);
        if (r->status == NULL)
            goto fail;
        rep_status_observe(r->status, r->m.polls, r->m.finals, r->httpd);
        if (rep_status_start(r->status, err) != 0)
            goto fail;
    }
    if (!lane) { /* 080 list sync (when on), ledger pruning: once per process */
        r->optout = rep_optout_new(cfg, log, err);
        if (r->optout == NULL || rep_optout_start(r->optout, err) != 0)
            goto fail;
    }
    if (cfg->webhook_enabled && !lane) {
        r->webhook = rep_webhook_new(cfg, r->t_results, r->metrics, log, err);
        if (r->webhook == NULL || rep_webhook_start(r->webhook, err) != 0)
            goto fail;
    }
    return r;
fail:
    reporter_free(r);
    return NULL;
}

reporter *reporter_new(const reporter_config *cfg, mf_log *log, mf_err *err)
{
    return create(cfg, log, NULL, err);
}

reporter *reporter_new_lane(const reporter_config *cfg, mf_log *log, const reporter *main_r,
                            mf_err *err)
{
    return create(cfg, log, main_r, err);
}

void reporter_free(reporter *r)
{
    mf_err e;

    if (r == NULL)
        return;
    rep_webhook_free(r->webhook); /* first: no new report is taken while the rest stops */
    rep_status_free(r->status);
    rep_optout_free(r->optout);
    mf_kafka_consumer_free(r->cons);
    if (r->log != NULL && r->cons != NULL)
        MF_LOG(r->log, MF_LOG_INFO, "consumer closed");
    if (r->prod != NULL && mf_kafka_flush(r->prod, 5000, &e) != 0 && r->log != NULL)
        mf_log_msgf(r->log, MF_LOG_WARN, "dead-letter producer not flushed: %s", e.msg);
    mf_kafka_producer_free(r->prod);
    mf_codec_free(r->codec);
    rep_store_free(r->store);
    rep_isolate_free(r->iso);
    if (r->pg != NULL)
        PQfinish(r->pg);
    msgpack_sbuffer_destroy(&r->sbuf);
    free(r->msgs);
    free(r->batch);
    free(r->later);
    rep_hold_free(r->hold);
    free(r->results);
    free(r->pre);
    free(r->pre_ok);
    free(r->missing);
    free(r->origin);
    rep_lag_free(r->lag);
    mf_httpd_stop(r->httpd);
    mf_metrics_free(r->metrics);
    free(r);
}

static int dead_letter(reporter *r, const mf_kafka_msg *m, const char *reason, mf_err *err)
{
    if (mf_dlq_encode_msg(&r->sbuf, m, reason, err) != 0)
        return mf_err_prefix(err, "could not encode a dead letter");
    r->dead++;
    MF_LOG(r->log, MF_LOG_WARN, "result dead-lettered", MF_KV_I("partition", m->partition),
           MF_KV_I("offset", m->offset), MF_KV_S("reason", reason));
    return mf_kafka_produce(r->prod, r->t_dlq, m->key, m->key_len, r->sbuf.data, r->sbuf.size, NULL,
                            10000, err);
}

/* Decode the batch; undecodable messages and results of unknown runs go to the dead-letter
 * topic, acknowledged before anything is stored past them. Returns the number of results. */
static long prepare(reporter *r, size_t n, mf_err *err)
{
    size_t i, k = 0, j;
    long long before = r->dead;

    /* the decodes stay in pre[] for the batch's next attempt: the codec is reset only for a
     * new batch (plan, flush_held), so retries do not grow it */
    for (i = 0; i < n; i++) {
        mf_err e;

        mf_err_clear(&e);
        if (r->batch[i].val == NULL) {
            mf_err_set(&e, "null message value");
        } else if (r->pre_ok[i] ||
                   mf_codec_decode_result(r->codec, r->batch[i].val, r->batch[i].val_len,
                                          &r->pre[i], &e) == 0) {
            r->pre_ok[i] = 1;
            r->results[k] = r->pre[i];
            r->origin[k++] = i;
            continue;
        }
        if (dead_letter(r, &r->batch[i], e.msg, err) != 0)
            return -1;
    }
    if (rep_store_find_missing_runs(r->store, r->pg, r->results, k, r->missing, err) != 0)
        return -1;
    for (i = 0, j = 0; i < k; i++) {
        if (r->missing[i]) {
            char id[MF_UUID_STR_SIZE], reason[128];

            snprintf(reason, sizeof(reason), "workflow run %s does not exist",
                     mf_uuid_format(&r->results[i].run, id));
            if (dead_letter(r, &r->batch[r->origin[i]], reason, err) != 0)
                return -1;
            continue;
        }
        r->results[j] = r->results[i];
        r->origin[j++] = r->origin[i];
    }
    if (r->dead > before) {
        r->dr_failed = 0;
        if (mf_kafka_flush(r->prod, 60000, err) != 0)
            return -1;
        if (r->dr_failed > 0)
            return mf_err_set(err, "%lld dead letters not acknowledged: %s", r->dr_failed,
                              r->dr_error);
    }
    return (long)j;
}

static size_t offset_slot(const reporter *r, size_t no, int32_t partition)
{
    size_t j;

    for (j = 0; j < no && r->offs[j].partition != partition; j++)
        ;
    return j;
}

/* The offsets to store for the n messages of the batch (held back to the first result still
 * held in a partition), and per partition the latest send among its k results that are
 * delivery reports (the status poller's due line follows the slowest partition's,
 * docs/reporter.md). */
static size_t batch_offsets(reporter *r, size_t n, size_t k)
{
    size_t i, j, no = 0;

    for (i = 0; i < n; i++) {
        j = offset_slot(r, no, r->batch[i].partition);
        if (j == no) {
            if (no == MAX_PARTS)
                continue;
            r->offs[no].partition = r->batch[i].partition;
            r->offs[no].reports_sent_ms = 0;
            r->offs[no++].next_offset = r->batch[i].offset + 1;
        } else if (r->batch[i].offset + 1 > r->offs[j].next_offset) {
            r->offs[j].next_offset = r->batch[i].offset + 1;
        }
    }
    for (j = 0; r->hold != NULL && j < no; j++)
        r->offs[j].next_offset = rep_hold_store_offset(r->hold, r->offs[j].partition,
                                                       r->offs[j].next_offset);
    for (i = 0; i < k; i++) {
        const mf_result *res = &r->results[i];

        if (!res->reported || res->sent_ms <= 0)
            continue;
        j = offset_slot(r, no, r->batch[r->origin[i]].partition);
        if (j < no && res->sent_ms > r->offs[j].reports_sent_ms)
            r->offs[j].reports_sent_ms = res->sent_ms;
    }
    return no;
}

/* Advance the in-memory positions of the assigned partitions (for the lag gauge). */
static void advance_positions(reporter *r, size_t no)
{
    size_t i, j;

    for (i = 0; i < no; i++)
        for (j = 0; j < r->n_assigned; j++)
            if (r->a_parts[j] == r->offs[i].partition && r->a_next[j] < r->offs[i].next_offset)
                r->a_next[j] = r->offs[i].next_offset;
}

/* ---- data errors (docs/reporter.md, "A data error never wedges the reporter") ----------- */

/* The batch results[0..k) failed with a data error (first): record it run by run and row by
 * row, dead-letter what cannot be recorded, then store the offsets and the runs' data_error
 * log entries. 0, or -1 with err when something else failed (the batch is retried whole). */
static int record_isolated(reporter *r, size_t k, size_t no, const mf_err *first,
                           rep_store_stats *stats, const char **dep, mf_err *err)
{
    const rep_problem *p;
    size_t i, np;
    long long before = r->dead;
    int logged = 0;
    char brief[MF_ERR_MAX];

    MF_LOG(r->log, MF_LOG_WARN, "batch failed with a data error, recording it run by run",
           MF_KV_S("error", mf_pg_err_brief(first, brief, sizeof(brief))),
           MF_KV_I("results", (long long)k));
    if (rep_isolate_write(r->iso, r->store, r->pg, r->results, k, first, stats, err) != 0)
        return -1;
    for (i = 0; i < k; i++) {
        char reason[MF_ERR_MAX + 128];

        if ((p = rep_isolate_rejected(r->iso, i)) == NULL)
            continue;
        snprintf(reason, sizeof(reason), "data error recording run %s (%s step): %s", p->run,
                 rep_store_step_name(p->step), p->error);
        if (dead_letter(r, &r->batch[r->origin[i]], reason, err) != 0) {
            *dep = "kafka";
            return -1;
        }
    }
    if (r->dead > before) {
        r->dr_failed = 0;
        if (mf_kafka_flush(r->prod, 60000, err) != 0 ||
            (r->dr_failed > 0 && mf_err_set(err, "%lld dead letters not acknowledged: %s",
                                            r->dr_failed, r->dr_error) != 0)) {
            *dep = "kafka";
            return -1;
        }
    }
    if (rep_isolate_finish(r->iso, r->store, r->pg, r->offs, no, &logged, err) != 0)
        return -1;
    p = rep_isolate_problems(r->iso, &np);
    for (i = 0; i < np; i++) {
        MF_LOG(r->log, MF_LOG_ERROR, "results not recorded: data error",
               MF_KV_S("run_id", p[i].run), MF_KV_S("sqlstate", p[i].sqlstate),
               MF_KV_S("step", rep_store_step_name(p[i].step)), MF_KV_S("error", p[i].error),
               MF_KV_I("results", p[i].results), MF_KV_S("first_job_id", p[i].first_job),
               MF_KV_I("run_log_written", logged));
        mf_metric_add(r->m.data_errors, (const char *const[]){p[i].sqlstate}, (double)p[i].results);
    }
    return 0;
}

/* One attempt at a batch. *dep names the dependency a failure points at. */
static int process(reporter *r, size_t n, const char **dep, mf_err *err)
{
    rep_store_stats stats;
    long long t0 = mf_clock_mono_ms(), dead0 = r->dead;
    long k;
    size_t no;

    *dep = "postgres";
    if (mf_pg_ensure(r->pg, err) != 0)
        return -1;
    k = prepare(r, n, err);
    if (k < 0) {
        if (r->dead > dead0)
            *dep = "kafka";
        return -1;
    }
    no = batch_offsets(r, n, (size_t)k);
    if (rep_store_write(r->store, r->pg, r->results, (size_t)k, r->offs, no, &stats, err) != 0) {
        mf_err first = *err;

        if (mf_pg_err_fault(&first) != MF_PG_FAULT_DATA ||
            record_isolated(r, (size_t)k, no, &first, &stats, dep, err) != 0)
            return -1;
    }
    r->batches++;
    r->rows += stats.inserted;
    advance_positions(r, no);
    rep_metrics_batch(&r->m, n, r->dead - dead0, &stats,
                      (double)(mf_clock_mono_ms() - t0) / 1000.0);
    set_dep(r, "postgres", &r->pg_ok, 1, NULL);
    MF_LOG(r->log, MF_LOG_DEBUG, "batch recorded", MF_KV_I("messages", (long long)n),
           MF_KV_I("inserted", stats.inserted), MF_KV_I("finalized", stats.finalized),
           MF_KV_I("duplicates", stats.duplicates), MF_KV_I("completed", stats.completed),
           MF_KV_I("attempts", stats.attempts), MF_KV_I("ms", mf_clock_mono_ms() - t0));
    return 0;
}

/* Kafka health and the lag gauge (watermark query), PostgreSQL health when idle. */
/* Cancelled runs that no later result will touch (cancelled after their last row, or before
 * a planner claimed them) are ended here; the others end with their last batch. */
static void end_cancelled_runs(reporter *r)
{
    int n = 0;
    mf_err e;

    mf_err_clear(&e);
    if (mf_pg_ensure(r->pg, &e) != 0 ||
        mf_runs_finish_cancelled_sweep(r->pg, CANCEL_SWEEP_MAX, &n, &e) != 0) {
        MF_LOG(r->log, MF_LOG_WARN, "could not end cancelled runs", MF_KV_S("error", e.msg));
        return;
    }
    if (n > 0)
        MF_LOG(r->log, MF_LOG_INFO, "cancelled runs ended", MF_KV_I("runs", n));
}

static void tick(reporter *r, int idle)
{
    long long lag = 0;
    mf_err e;

    mf_err_clear(&e);
    if (rep_lag_query(r->lag, r->t_results, r->a_parts, r->a_next, r->n_assigned, 1000, &lag, &e) ==
        0) {
        set_dep(r, "kafka", &r->kafka_ok, 1, NULL);
        mf_metric_set(r->m.lag, NULL, (double)lag);
        rep_status_set_backlog(r->status, lag);
    } else {
        set_dep(r, "kafka", &r->kafka_ok, 0, e.msg);
    }
    end_cancelled_runs(r);
    if (!idle)
        return;
    mf_err_clear(&e);
    if (mf_pg_ensure(r->pg, &e) == 0 && mf_pg_exec(r->pg, "SELECT 1", &e) == 0)
        set_dep(r, "postgres", &r->pg_ok, 1, NULL);
    else
        set_dep(r, "postgres", &r->pg_ok, 0, e.msg);
}

/* Flag runs that wait for results long after their expansion finished (once per run). */
static void stall_check(reporter *r)
{
    mf_runs_stalled st[MAX_STALLED_LOGGED];
    size_t n = 0, i;
    int ended = 0;
    long long pruned = 0;
    mf_err e;

    mf_err_clear(&e);
    if (mf_pg_ensure(r->pg, &e) != 0 ||
        mf_runs_mark_stalled(r->pg, r->cfg->stall_s, st, MAX_STALLED_LOGGED, &n, &e) != 0) {
        MF_LOG(r->log, MF_LOG_WARN, "stall check failed", MF_KV_S("error", e.msg));
        return;
    }
    for (i = 0; i < n && i < MAX_STALLED_LOGGED; i++)
        MF_LOG(r->log, MF_LOG_WARN, "run stalled", MF_KV_S("run_id", st[i].run_id),
               MF_KV_I("missing", st[i].missing), MF_KV_I("target_count", st[i].target_count),
               MF_KV_I("expansion_finished_s_ago", st[i].finished_ago_s));
    mf_metric_add(r->m.stalled, NULL, (double)n);
    if (rep_store_prune_early(r->pg, REP_EARLY_KEEP_DAYS, &pruned, &e) != 0)
        MF_LOG(r->log, MF_LOG_WARN, "could not prune early final outcomes",
               MF_KV_S("error", e.msg));
    else if (pruned > 0)
        MF_LOG(r->log, MF_LOG_WARN, "early final outcomes pruned: their rows never came",
               MF_KV_I("outcomes", pruned), MF_KV_I("days", REP_EARLY_KEEP_DAYS));
    /* a cancelled run whose planner died before it recorded what it expanded: counted from
     * its rows once they stopped coming for as long (mf_runs_stop_orphaned_cancelled) */
    if (mf_runs_stop_orphaned_cancelled(r->pg, r->cfg->stall_s, CANCEL_SWEEP_MAX, &ended, &e) != 0)
        MF_LOG(r->log, MF_LOG_WARN, "could not end cancelled runs left by a planner",
               MF_KV_S("error", e.msg));
    else if (ended > 0)
        MF_LOG(r->log, MF_LOG_WARN, "cancelled runs counted from their rows: planner gone",
               MF_KV_I("runs", ended));
}

/* The status poller's view of the consumer (rep_status_set_backlog / _set_rate): the lag
 * after every batch (librdkafka's cached watermarks, no round trip; tick()'s watermark query
 * runs every lag_interval_ms only), and the results recorded per second over about a second. */
static void tell_status_poller(reporter *r, size_t recorded, long long now)
{
    int64_t lag;
    mf_err e;

    mf_err_clear(&e);
    if (mf_kafka_consumer_lag(r->cons, &lag, &e) == 0)
        rep_status_set_backlog(r->status, (long long)lag);
    r->rate_count += (long long)recorded;
    if (r->rate_since_ms == 0)
        r->rate_since_ms = now;
    if (now - r->rate_since_ms >= RATE_WINDOW_MS) {
        rep_status_set_rate(r->status, r->rate_count * 1000 / (now - r->rate_since_ms));
        r->rate_since_ms = now;
        r->rate_count = 0;
    }
}

/* recorded: results of the batch just recorded (0 when the consumer found nothing) */
static void housekeeping(reporter *r, size_t recorded)
{
    long long now = mf_clock_mono_ms(), every;
    int idle = recorded == 0;

    if (r->lane)
        return; /* the main instance keeps the gauges and runs the stall check */
    tell_status_poller(r, recorded, now);
    if (now >= r->next_tick_ms) {
        tick(r, idle);
        r->next_tick_ms = mf_clock_mono_ms() + r->cfg->lag_interval_ms;
    }
    if (now >= r->next_stall_ms) {
        stall_check(r);
        every = r->cfg->stall_s * 1000 / 4;
        every = every < 1000 ? 1000 : (every > 60000 ? 60000 : every);
        r->next_stall_ms = mf_clock_mono_ms() + every;
    }
}

/* Record one batch, retrying with a growing pause until it is stored or a stop. */
static int record(reporter *r, size_t n, mf_err *err)
{
    long long backoff = BACKOFF_MIN_MS;

    for (;;) {
        const char *dep = "postgres";
        mf_err e;

        mf_err_clear(&e);
        if (process(r, n, &dep, &e) == 0)
            return 0;
        /* down only when unreachable: a deadlock, a timeout or a schema error is retried
         * without calling the database down (a data error never gets here) */
        if (strcmp(dep, "kafka") == 0)
            set_dep(r, dep, &r->kafka_ok, 0, e.msg);
        else if (mf_pg_err_fault(&e) == MF_PG_FAULT_UNREACHABLE)
            set_dep(r, dep, &r->pg_ok, 0, e.msg);
        mf_metric_add(r->m.retries, NULL, 1);
        MF_LOG(r->log, MF_LOG_ERROR, "batch not recorded, retrying", MF_KV_S("error", e.msg),
               MF_KV_S("dependency", dep),
               MF_KV_S("fault",
                       strcmp(dep, "kafka") == 0 ? "kafka" : mf_pg_fault_name(mf_pg_err_fault(&e))),
               MF_KV_I("messages", (long long)n), MF_KV_I("retry_in_ms", backoff));
        if (mf_kafka_producer_fatal(r->prod, err))
            return -1;
        pause_ms(backoff);
        if (mf_daemon_stopping()) {
            MF_LOG(r->log, MF_LOG_WARN,
                   "stopping with a batch not recorded (it is consumed "
                   "again later)",
                   MF_KV_I("messages", (long long)n));
            r->abandoned = 1;
            return 0;
        }
        backoff = next_backoff(backoff);
    }
}

/* Whether webhook reports come (one was consumed lately): only then is holding worth it; a
 * fleet whose reports come from the status poller alone, minutes later, writes at once. */
static int reports_come(const reporter *r, long long now)
{
    return r->report_seen_ms > 0 && now - r->report_seen_ms <= HOLD_REPORTS_RECENT_MS;
}

/* The n consumed messages that this batch records, into batch[]: a sent message's result is
 * held back (rep_hold) until its delivery report is consumed too, or it waited long enough;
 * the held results now due join the batch. Returns the batch's size. */
static long plan(reporter *r, size_t n, mf_err *err)
{
    long long now = mf_clock_mono_ms();
    size_t i, nb = 0, nlater = 0;
    long due;
    mf_result res;
    mf_err e;

    mf_codec_reset(r->codec);
    if (r->hold == NULL) {
        memcpy(r->batch, r->msgs, n * sizeof(*r->msgs));
        memset(r->pre_ok, 0, n);
        return (long)n;
    }
    for (i = 0; i < n; i++)
        rep_hold_see(r->hold, &r->msgs[i], now);
    for (i = 0; i < n; i++) {
        const mf_kafka_msg *m = &r->msgs[i];
        int held = 0, ok;

        mf_err_clear(&e);
        ok = m->val != NULL && mf_codec_decode_result(r->codec, m->val, m->val_len, &res, &e) == 0;
        if (ok) {
            if (res.status != MF_RESULT_ACCEPTED) {
                r->later[nlater++] = res.id;
                if (res.reported)
                    r->report_seen_ms = now;
            } else if (reports_come(r, now) &&
                       (held = rep_hold_put(r->hold, m, &res.id, now, &e)) < 0) {
                MF_LOG(r->log, MF_LOG_WARN, "result not held", MF_KV_S("error", e.msg));
            }
        }
        if (held <= 0) { /* undecodable ones too: the batch dead-letters them */
            if (ok)
                r->pre[nb] = res;
            r->pre_ok[nb] = (unsigned char)ok;
            r->batch[nb++] = *m;
        }
    }
    /* after every put: a report ahead of its accepted in the same messages finds it */
    for (i = 0; i < nlater; i++)
        rep_hold_match(r->hold, &r->later[i]);
    due = rep_hold_take(r->hold, now, 0, r->batch + nb, r->batch_cap - nb, err);
    if (due < 0)
        return -1;
    memset(r->pre_ok + nb, 0, (size_t)due);
    mf_metric_set(r->m.held, NULL, (double)rep_hold_count(r->hold));
    return (long)nb + due;
}

/* The n consumed messages without those returned before a revocation of their partition in
 * the same consume: the partition starts again (here or elsewhere) at the offset stored in
 * PostgreSQL, so they are consumed again there. Recording them could store an offset past
 * results this reporter held and dropped at the revocation, which nobody would then write.
 * Returns how many are left (at the front of msgs, the others released). */
static size_t drop_revoked(reporter *r, size_t n)
{
    uint32_t now = mf_kafka_consumer_revokes(r->cons);
    size_t i, j, k = 0, dropped = 0;

    if (r->n_revoked == 0)
        return n;
    for (i = 0; i < n; i++) {
        int stale = 0;

        for (j = 0; r->msgs[i].revokes != now && j < r->n_revoked && !stale; j++)
            stale = r->revoked[j] == r->msgs[i].partition;
        if (stale) {
            mf_kafka_release(&r->msgs[i], 1);
            dropped++;
            continue;
        }
        r->msgs[k++] = r->msgs[i];
    }
    r->n_revoked = 0;
    if (dropped > 0)
        MF_LOG(r->log, MF_LOG_INFO, "results consumed before a rebalance left to their next owner",
               MF_KV_I("results", (long long)dropped));
    return k;
}

/* At a stop: the held results are recorded rather than consumed again by the next owner. */
static int flush_held(reporter *r, mf_err *err)
{
    long nb;

    /* after a batch given up, storing a later offset would skip it: the held ones are
     * consumed again with it */
    while (r->hold != NULL && !r->abandoned && rep_hold_count(r->hold) > 0) {
        mf_codec_reset(r->codec);
        nb = rep_hold_take(r->hold, mf_clock_mono_ms(), 1, r->batch, r->batch_cap, err);
        if (nb > 0)
            memset(r->pre_ok, 0, (size_t)nb);
        if (nb <= 0 || record(r, (size_t)nb, err) != 0)
            return -1;
    }
    return 0;
}

int reporter_run(reporter *r, mf_err *err)
{
    while (!mf_daemon_stopping()) {
        size_t n = 0;
        long nb;

        if (mf_kafka_consume(r->cons, r->msgs, (size_t)r->cfg->batch_max,
                             (int)(r->cfg->linger_ms > 0 ? r->cfg->linger_ms : 1), &n, err) != 0) {
            mf_kafka_release(r->msgs, n);
            if (mf_daemon_stopping())
                break; /* a stop interrupted the assignment hook */
            return -1;
        }
        n = drop_revoked(r, n);
        nb = plan(r, n, err);
        if (nb < 0 || (nb > 0 && record(r, (size_t)nb, err) != 0)) {
            mf_kafka_release(r->msgs, n);
            return -1;
        }
        mf_kafka_release(r->msgs, n);
        housekeeping(r, (size_t)nb);
    }
    if (flush_held(r, err) != 0)
        return -1;
    MF_LOG(r->log, MF_LOG_INFO, "reporter stopping", MF_KV_I("batches", r->batches),
           MF_KV_I("rows", r->rows), MF_KV_I("dead_letters", r->dead));
    return 0;
}

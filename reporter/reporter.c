/* reporter: the results consumer (batches into PostgreSQL) plus the final-status poller. */
#include "reporter.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_kafka.h"
#include "mf_pg.h"
#include "rep_status.h"
#include "rep_store.h"

#define MAX_PARTS 1024

struct reporter {
    const reporter_config *cfg;
    mf_log *log;
    PGconn *pg;
    rep_store *store;
    mf_kafka_consumer *cons;
    mf_kafka_producer *prod;
    mf_codec *codec;
    rep_status *status;
    char t_results[MF_KAFKA_TOPIC_MAX + 1];
    char t_dlq[MF_KAFKA_TOPIC_MAX + 1];
    mf_kafka_msg *msgs;
    mf_result *results;
    unsigned char *missing;
    size_t *origin; /* results[i] came from msgs[origin[i]] */
    rep_offset offs[MAX_PARTS];
    msgpack_sbuffer sbuf;
    long long dr_failed;
    char dr_error[256];
    long long batches, rows, dead;
};

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
    if (mf_pg_ensure(r->pg, err) != 0 || rep_store_load_offsets(r->store, r->pg, ids, n, next, err) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        parts[i].offset = next[i] >= 0 ? next[i] : MF_KAFKA_OFFSET_BEGINNING;
        MF_LOG(r->log, MF_LOG_INFO, "partition assigned", MF_KV_S("topic", parts[i].topic),
               MF_KV_I("partition", parts[i].partition), MF_KV_I("start_offset", next[i]));
    }
    return 0;
}

static void on_revoke(void *ctx, const mf_kafka_partition *parts, size_t n)
{
    reporter *r = ctx;

    MF_LOG(r->log, MF_LOG_INFO, "partitions revoked", MF_KV_I("count", (long long)n),
           MF_KV_I("first", n > 0 ? parts[0].partition : -1));
}

reporter *reporter_new(const reporter_config *cfg, mf_log *log, mf_err *err)
{
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
    msgpack_sbuffer_init(&r->sbuf);
    kc.brokers = cfg->common.kafka_brokers;
    kc.client_id = cfg->common.instance_id;
    kc.topic_prefix = cfg->common.topic_prefix;
    kc.log = log;
    if (mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS, r->t_results, sizeof(r->t_results), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, r->t_dlq, sizeof(r->t_dlq), err) != 0)
        goto fail;
    r->msgs = calloc(max, sizeof(*r->msgs));
    r->results = calloc(max, sizeof(*r->results));
    r->missing = calloc(max, 1);
    r->origin = calloc(max, sizeof(*r->origin));
    if (r->msgs == NULL || r->results == NULL || r->missing == NULL || r->origin == NULL) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    r->pg = mf_pg_connect(cfg->common.pg_dsn, NULL, "msgfleet-reporter", err);
    if (r->pg == NULL)
        goto fail;
    r->store = rep_store_new(cfg->group, r->t_results, cfg->price_ttl_ms, log, err);
    if (r->store == NULL || (r->codec = mf_codec_new(err)) == NULL)
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
    if (cfg->status_enabled) {
        r->status = rep_status_new(cfg, r->t_results, log, err);
        if (r->status == NULL || rep_status_start(r->status, err) != 0)
            goto fail;
    }
    return r;
fail:
    reporter_free(r);
    return NULL;
}

void reporter_free(reporter *r)
{
    mf_err e;

    if (r == NULL)
        return;
    rep_status_free(r->status);
    mf_kafka_consumer_free(r->cons);
    if (r->prod != NULL && mf_kafka_flush(r->prod, 5000, &e) != 0 && r->log != NULL)
        mf_log_msgf(r->log, MF_LOG_WARN, "dead-letter producer not flushed: %s", e.msg);
    mf_kafka_producer_free(r->prod);
    mf_codec_free(r->codec);
    rep_store_free(r->store);
    if (r->pg != NULL)
        PQfinish(r->pg);
    msgpack_sbuffer_destroy(&r->sbuf);
    free(r->msgs);
    free(r->results);
    free(r->missing);
    free(r->origin);
    free(r);
}

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dead_letter(reporter *r, const mf_kafka_msg *m, const char *reason, mf_err *err)
{
    mf_dlq d;

    memset(&d, 0, sizeof(d));
    d.src = m->topic;
    d.partition = m->partition;
    d.offset = m->offset;
    d.reason = reason;
    d.key = m->key;
    d.key_len = m->key_len;
    d.val = m->val != NULL ? m->val : "";
    d.val_len = m->val_len;
    d.ts_ms = wall_ms();
    if (mf_codec_encode_dlq(&r->sbuf, &d, err) != 0)
        return mf_err_prefix(err, "could not encode a dead letter");
    r->dead++;
    MF_LOG(r->log, MF_LOG_WARN, "result dead-lettered", MF_KV_I("partition", m->partition),
           MF_KV_I("offset", m->offset), MF_KV_S("reason", reason));
    return mf_kafka_produce(r->prod, r->t_dlq, m->key, m->key_len, r->sbuf.data, r->sbuf.size,
                            NULL, 10000, err);
}

/* Decode the batch; undecodable messages and results of unknown runs go to the dead-letter
 * topic, acknowledged before anything is stored past them. Returns the number of results. */
static long prepare(reporter *r, size_t n, mf_err *err)
{
    size_t i, k = 0, j;
    long long before = r->dead;

    mf_codec_reset(r->codec);
    for (i = 0; i < n; i++) {
        mf_err e;

        mf_err_clear(&e);
        if (r->msgs[i].val == NULL) {
            mf_err_set(&e, "null message value");
        } else if (mf_codec_decode_result(r->codec, r->msgs[i].val, r->msgs[i].val_len,
                                          &r->results[k], &e) == 0) {
            r->origin[k++] = i;
            continue;
        }
        if (dead_letter(r, &r->msgs[i], e.msg, err) != 0)
            return -1;
    }
    if (rep_store_find_missing_runs(r->store, r->pg, r->results, k, r->missing, err) != 0)
        return -1;
    for (i = 0, j = 0; i < k; i++) {
        if (r->missing[i]) {
            char id[MF_UUID_STR_SIZE], reason[128];

            snprintf(reason, sizeof(reason), "workflow run %s does not exist",
                     mf_uuid_format(&r->results[i].run, id));
            if (dead_letter(r, &r->msgs[r->origin[i]], reason, err) != 0)
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

static size_t batch_offsets(reporter *r, size_t n)
{
    size_t i, j, no = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < no && r->offs[j].partition != r->msgs[i].partition; j++)
            ;
        if (j == no) {
            if (no == MAX_PARTS)
                continue;
            r->offs[no].partition = r->msgs[i].partition;
            r->offs[no++].next_offset = r->msgs[i].offset + 1;
        } else if (r->msgs[i].offset + 1 > r->offs[j].next_offset) {
            r->offs[j].next_offset = r->msgs[i].offset + 1;
        }
    }
    return no;
}

static int process(reporter *r, size_t n, mf_err *err)
{
    rep_store_stats stats;
    long k = prepare(r, n, err);
    size_t no;

    if (k < 0)
        return -1;
    no = batch_offsets(r, n);
    if (rep_store_write(r->store, r->pg, r->results, (size_t)k, r->offs, no, &stats, err) != 0)
        return -1;
    r->batches++;
    r->rows += stats.inserted;
    MF_LOG(r->log, MF_LOG_DEBUG, "batch recorded", MF_KV_I("messages", (long long)n),
           MF_KV_I("inserted", stats.inserted), MF_KV_I("finalized", stats.finalized),
           MF_KV_I("duplicates", stats.duplicates), MF_KV_I("completed", stats.completed),
           MF_KV_I("attempts", stats.attempts));
    return 0;
}

static void pause_ms(long long ms)
{
    while (ms > 0 && !mf_daemon_stopping()) {
        long long step = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

int reporter_run(reporter *r, mf_err *err)
{
    while (!mf_daemon_stopping()) {
        size_t n = 0;
        long long backoff = 200;

        if (mf_kafka_consume(r->cons, r->msgs, (size_t)r->cfg->batch_max,
                             (int)(r->cfg->linger_ms > 0 ? r->cfg->linger_ms : 1), &n, err) != 0) {
            mf_kafka_release(r->msgs, n);
            return -1;
        }
        if (n == 0)
            continue;
        for (;;) {
            mf_err e;

            if (process(r, n, &e) == 0)
                break;
            MF_LOG(r->log, MF_LOG_ERROR, "batch not recorded, retrying", MF_KV_S("error", e.msg),
                   MF_KV_I("retry_in_ms", backoff));
            if (mf_kafka_producer_fatal(r->prod, err)) {
                mf_kafka_release(r->msgs, n);
                return -1;
            }
            pause_ms(backoff);
            if (mf_daemon_stopping())
                break; /* nothing stored: redelivered to whoever gets the partition */
            backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
        }
        mf_kafka_release(r->msgs, n);
    }
    MF_LOG(r->log, MF_LOG_INFO, "reporter stopping", MF_KV_I("batches", r->batches),
           MF_KV_I("rows", r->rows), MF_KV_I("dead_letters", r->dead));
    return 0;
}

/* rep_lag: results-topic watermarks for the consumer lag gauge and the Kafka health check. */
#include "rep_lag.h"

#include <stdlib.h>

#include <librdkafka/rdkafka.h>

struct rep_lag {
    rd_kafka_t *rk;
};

/* The reporter's consumer already logs broker trouble; this handle stays quiet. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void quiet_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    (void)code;
    (void)reason;
    (void)opaque;
}

rep_lag *rep_lag_new(const char *brokers, const char *client_id, const mf_kafka_sec *sec,
                     mf_err *err)
{
    rep_lag *l = calloc(1, sizeof(*l));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];

    if (l == NULL || conf == NULL) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", client_id, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        mf_err_set(err, "invalid Kafka setting for the lag query: %s", errstr);
        goto fail;
    }
    if (mf_kafka_sec_apply(sec, conf, err) != 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set_error_cb(conf, quiet_error);
    l->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (l->rk == NULL) {
        mf_err_set(err, "could not create the Kafka lag client: %s", errstr);
        goto fail;
    }
    return l;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    free(l);
    return NULL;
}

void rep_lag_free(rep_lag *l)
{
    if (l == NULL)
        return;
    rd_kafka_destroy(l->rk);
    free(l);
}

int rep_lag_query(rep_lag *l, const char *topic, const int32_t *parts, const int64_t *next,
                  size_t n, int timeout_ms, long long *lag, mf_err *err)
{
    long long sum = 0;
    size_t i;

    if (n == 0) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(l->rk, 0, NULL, &md, timeout_ms);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            return mf_err_set(err, "no Kafka broker answered: %s", rd_kafka_err2str(e));
        rd_kafka_metadata_destroy(md);
        *lag = 0;
        return 0;
    }
    for (i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0, pos;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(l->rk, topic, parts[i], &lo, &hi,
                                                                 timeout_ms);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            return mf_err_set(err, "could not read the watermarks of %s [%d]: %s", topic,
                              (int)parts[i], rd_kafka_err2str(e));
        pos = (next[i] >= 0 && next[i] > lo) ? next[i] : lo;
        if (hi > pos)
            sum += hi - pos;
    }
    *lag = sum;
    return 0;
}

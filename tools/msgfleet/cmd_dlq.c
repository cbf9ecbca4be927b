/* cmd_dlq: `msgfleet dlq list|replay`, inspect dead letters and send them back once fixed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mf_codec.h"
#include "mf_kafka.h"
#include "msgfleet.h"

static const char DLQ_USAGE[] =
    "usage: msgfleet dlq list   [--max N] [--grep TEXT] [--brokers HOSTS] [--prefix PREFIX]\n"
    "       msgfleet dlq replay [--max N] [--grep TEXT] [--source TOPIC] [--dry-run]\n"
    "                           [--brokers HOSTS] [--prefix PREFIX]\n\n"
    "list     every dead letter from the beginning: when, where it came from, the reason.\n"
    "replay   produce each dead letter's original key and bytes back to its source topic,\n"
    "         once the cause is fixed (a consumer bug, a schema the consumers now know).\n"
    "         Progress is kept in the consumer group msgfleet-dlq-replay, so a dead letter\n"
    "         is replayed once; --dry-run shows what would go without moving it.\n"
    "  --grep TEXT    only dead letters whose reason contains TEXT\n"
    "  --source T     only those from source topic T (base name, e.g. jobs)\n";

typedef struct dlq_opts {
    int replay, dry_run;
    long long max;
    const char *grep, *source, *brokers, *prefix;
} dlq_opts;

#define DLQ_MAX_PARTITIONS 256

typedef struct dlq_state {
    const dlq_opts *o;
    mf_kafka_conf conf;
    mf_kafka_sec sec; /* conf.security points here */
    mf_codec *codec;
    mf_kafka_producer *producer;
    char source_full[MF_KAFKA_TOPIC_MAX + 1];
    long long seen, picked, failed_acks;
    /* A replay stops at the end offsets seen when it started: what it sends back may be
     * dead-lettered again, and must not be replayed by the same command in a loop. */
    int64_t end[DLQ_MAX_PARTITIONS];
    int nparts;
} dlq_state;

static volatile sig_atomic_t dlq_stop;

static void on_dlq_signal(int sig)
{
    (void)sig;
    dlq_stop = 1;
}

static int parse_dlq_args(int argc, char **argv, dlq_opts *o)
{
    static const struct option opts[] = {
        {"max", required_argument, NULL, 'm'},     {"grep", required_argument, NULL, 'g'},
        {"source", required_argument, NULL, 's'},  {"dry-run", no_argument, NULL, 'n'},
        {"brokers", required_argument, NULL, 'B'}, {"prefix", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;

    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "replay") != 0)) {
        fputs(DLQ_USAGE, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? -1 : MSGFLEET_EXIT_USAGE;
    }
    o->replay = strcmp(argv[1], "replay") == 0;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->max = strtoll(optarg, NULL, 10); break;
        case 'g': o->grep = optarg; break;
        case 's': o->source = optarg; break;
        case 'n': o->dry_run = 1; break;
        case 'B': o->brokers = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'h': fputs(DLQ_USAGE, stdout); return -1;
        default: fputs(DLQ_USAGE, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(DLQ_USAGE, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    return MSGFLEET_EXIT_OK;
}

static void on_replay_ack(void *ctx, const mf_kafka_dr *dr)
{
    dlq_state *st = ctx;

    if (!dr->ok) {
        st->failed_acks++;
        fprintf(stderr, "msgfleet dlq: could not produce to %s: %s\n", dr->topic, dr->error);
    }
}

static void print_letter(const mf_kafka_msg *m, const mf_dlq *d, const char *verb)
{
    char when[32];
    time_t secs = (time_t)(d->ts_ms / 1000);
    struct tm tm;

    localtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s%s dlq@%d:%lld from %s[%d]@%lld (%zu bytes): %s\n", verb, when, (int)m->partition,
           (long long)m->offset, d->src, (int)d->partition, (long long)d->offset, d->val_len,
           d->reason);
}

/* Handles one dead letter; returns -1 only on a fatal produce error. */
static int handle_letter(dlq_state *st, const mf_kafka_msg *m)
{
    mf_err err = {{0}};
    mf_dlq d;

    st->seen++;
    if (mf_codec_decode_dlq(st->codec, m->val, m->val_len, &d, &err) != 0) {
        printf("dlq@%d:%lld: not a dead-letter envelope: %s\n", (int)m->partition,
               (long long)m->offset, err.msg);
        return 0;
    }
    if ((st->o->grep && strstr(d.reason, st->o->grep) == NULL) ||
        (st->o->source && strcmp(d.src, st->source_full) != 0))
        goto out;
    st->picked++;
    if (!st->o->replay || st->o->dry_run) {
        print_letter(m, &d, st->o->replay ? "would replay: " : "");
        goto out;
    }
    if (mf_kafka_produce(st->producer, d.src, d.key, d.key_len, d.val, d.val_len, NULL, 10000,
                         &err) != 0) {
        fprintf(stderr, "msgfleet dlq: %s\n", err.msg);
        return -1;
    }
    print_letter(m, &d, "replayed: ");
out:
    mf_codec_reset(st->codec);
    return 0;
}

/* High watermarks of every dlq partition, from a short-lived librdkafka handle (mf_kafka
 * keeps its handles private). */
static int read_end_offsets(dlq_state *st, const char *topic, mf_err *err)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    int rc = 0;

    if (mf_kafka_sec_apply(&st->sec, conf, err) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", st->conf.brokers, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))) == NULL) {
        rd_kafka_conf_destroy(conf);
        return mf_err_set(err, "could not create a Kafka client: %s", errstr);
    }
    for (int p = 0; p < st->nparts && rc == 0; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = mf_err_set(err, "could not read the end of %s[%d]: %s", topic, p,
                            rd_kafka_err2str(e));
        st->end[p] = hi;
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* True once every partition has been read up to the end offset it had at the start. */
static int replay_caught_up(const dlq_state *st, const int64_t *next)
{
    for (int p = 0; p < st->nparts; p++)
        if (next[p] < st->end[p])
            return 0;
    return 1;
}

/* Consumes until idle; in replay mode offsets are stored only after the batch's produce
 * requests are acknowledged, so a crash replays a letter again rather than losing it. */
static int dlq_loop(dlq_state *st, mf_kafka_consumer *consumer)
{
    mf_kafka_msg msgs[256];
    mf_kafka_msg keep[256];
    int64_t next[DLQ_MAX_PARTITIONS] = {0};
    mf_err err = {{0}};
    long idle = 0;
    int bounded = st->o->replay && !st->o->dry_run;

    while (!dlq_stop && (st->o->max <= 0 || st->picked < st->o->max)) {
        size_t n = 0, i, nkeep = 0;

        if (bounded && replay_caught_up(st, next))
            break;
        if (mf_kafka_consume(consumer, msgs, 256, 200, &n, &err) != 0)
            goto fail;
        for (i = 0; i < n && (st->o->max <= 0 || st->picked < st->o->max); i++) {
            int p = msgs[i].partition;

            if (bounded && (p >= st->nparts || msgs[i].offset >= st->end[p]))
                continue; /* newer than the replay: left for the next one */
            if (handle_letter(st, &msgs[i]) != 0)
                break;
            keep[nkeep++] = msgs[i];
            if (p < st->nparts)
                next[p] = msgs[i].offset + 1;
        }
        if (st->producer != NULL &&
            (mf_kafka_flush(st->producer, 30000, &err) != 0 || st->failed_acks > 0)) {
            mf_kafka_release(msgs, n);
            goto fail;
        }
        if (bounded && nkeep > 0 && mf_kafka_store_offsets(consumer, keep, nkeep, &err) != 0) {
            mf_kafka_release(msgs, n);
            goto fail;
        }
        mf_kafka_release(msgs, n);
        fflush(stdout);
        idle = n > 0 ? 0 : idle + 200;
        if (idle >= 3000 && (mf_kafka_assigned_count(consumer) > 0 || idle >= 13000))
            break;
    }
    printf("%lld dead letter(s) read, %lld %s\n", st->seen, st->picked,
           !st->o->replay   ? "listed"
           : st->o->dry_run ? "would be replayed"
                            : "replayed");
    return MSGFLEET_EXIT_OK;
fail:
    fprintf(stderr, "msgfleet dlq: %s\n",
            err.msg[0] ? err.msg
                       : "a replayed message was not "
                         "acknowledged; not moving on");
    return MSGFLEET_EXIT_ERROR;
}

static int start_at_beginning(void *ctx, mf_kafka_partition *parts, size_t n, mf_err *err)
{
    (void)ctx;
    (void)err;
    for (size_t i = 0; i < n; i++)
        parts[i].offset = MF_KAFKA_OFFSET_BEGINNING;
    return 0;
}

int cmd_dlq(int argc, char **argv)
{
    dlq_opts o = {0, 0, 0, NULL, NULL, getenv("MF_KAFKA_BROKERS"), getenv("MF_TOPIC_PREFIX")};
    dlq_state st;
    char topic[MF_KAFKA_TOPIC_MAX + 1], group[96];
    const char *topics[2] = {topic, NULL};
    mf_kafka_consumer_opts copts;
    mf_kafka_consumer *consumer = NULL;
    mf_err err = {{0}};
    int committed, nparts, rc = parse_dlq_args(argc, argv, &o);

    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    memset(&st, 0, sizeof(st));
    st.o = &o;
    st.conf.brokers = (o.brokers && *o.brokers) ? o.brokers : "127.0.0.1:9092";
    st.conf.client_id = "msgfleet-dlq";
    st.conf.topic_prefix = o.prefix ? o.prefix : "msgfleet.";
    if (msgfleet_kafka_security(&st.sec, "dlq") != 0)
        return MSGFLEET_EXIT_ERROR;
    st.conf.security = &st.sec;
    signal(SIGINT, on_dlq_signal);
    signal(SIGTERM, on_dlq_signal);
    /* list and dry runs read everything without a trace; a real replay keeps its place */
    committed = o.replay && !o.dry_run;
    snprintf(group, sizeof(group), committed ? "msgfleet-dlq-replay" : "msgfleet-dlq-%ld-%ld",
             (long)getpid(), (long)time(NULL));
    memset(&copts, 0, sizeof(copts));
    copts.group_id = group;
    copts.topics = topics;
    copts.offsets = committed ? MF_KAFKA_OFFSETS_STORE : MF_KAFKA_OFFSETS_EXTERNAL;
    copts.on_assign = committed ? NULL : start_at_beginning;
    copts.offset_reset = "earliest";
    rc = MSGFLEET_EXIT_ERROR;
    if (mf_kafka_topic_name(&st.conf, MF_TOPIC_DLQ, topic, sizeof(topic), &err) != 0 ||
        (o.source && mf_kafka_topic_name(&st.conf, o.source, st.source_full, sizeof(st.source_full),
                                         &err) != 0) ||
        mf_kafka_topic_partitions(&st.conf, topic, 10000, &nparts, &err) != 0 ||
        (st.nparts = nparts > DLQ_MAX_PARTITIONS ? DLQ_MAX_PARTITIONS : nparts,
         committed && read_end_offsets(&st, topic, &err) != 0) ||
        (st.codec = mf_codec_new(&err)) == NULL ||
        (committed &&
         (st.producer = mf_kafka_producer_new(&st.conf, on_replay_ack, &st, &err)) == NULL) ||
        (consumer = mf_kafka_consumer_new(&st.conf, &copts, &err)) == NULL) {
        fprintf(stderr, "msgfleet dlq: %s\n", err.msg);
        goto out;
    }
    rc = dlq_loop(&st, consumer);
out:
    mf_kafka_consumer_free(consumer);
    mf_kafka_producer_free(st.producer);
    mf_codec_free(st.codec);
    explicit_bzero(&st.sec, sizeof(st.sec));
    return rc;
}

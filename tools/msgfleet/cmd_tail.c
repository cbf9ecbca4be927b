/* cmd_tail: `msgfleet tail`, print fleet topics' messages as JSON lines for analysts. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_kafka.h"
#include "msgfleet.h"

static const char TAIL_USAGE[] =
    "usage: msgfleet tail TOPIC... [--from-beginning] [--follow] [--max N] [--idle-ms MS]\n"
    "                         [--brokers HOSTS] [--prefix PREFIX] [--json]\n\n"
    "Print the messages of fleet topics (jobs, jobs.tx, retry, results, results.tx, dlq,\n"
    "events; up to 8) as JSON lines:\n"
    "{\"topic\",\"partition\",\"offset\",\"ts\",\"key\",\"value\":{...}}; a message that does not\n"
    "decode is printed with \"error\" instead of \"value\". Reads without joining a consumer\n"
    "group's offsets (nothing is committed). Without --follow it stops once no message arrived\n"
    "for --idle-ms (default 3000).\n"
    "  --from-beginning  start at the oldest message (default: only new ones)\n"
    "  --brokers         default $MF_KAFKA_BROKERS;  --prefix  default $MF_TOPIC_PREFIX or "
    "msgfleet.\n";

#define TAIL_TOPICS_MAX 8

typedef struct tail_opts {
    const char *topic_base[TAIL_TOPICS_MAX];
    size_t ntopics;
    const char *brokers;
    const char *prefix;
    int from_beginning;
    int follow;
    long long max;
    long idle_ms;
} tail_opts;

static volatile sig_atomic_t tail_stop;

static void on_sigint(int sig)
{
    (void)sig;
    tail_stop = 1;
}

static int start_at(void *ctx, mf_kafka_partition *parts, size_t n, mf_err *err)
{
    const tail_opts *o = ctx;

    (void)err;
    for (size_t i = 0; i < n; i++)
        parts[i].offset = o->from_beginning ? MF_KAFKA_OFFSET_BEGINNING : MF_KAFKA_OFFSET_END;
    return 0;
}

static int parse_tail_args(int argc, char **argv, tail_opts *o)
{
    static const struct option opts[] = {{"from-beginning", no_argument, NULL, 'b'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"max", required_argument, NULL, 'm'},
                                         {"idle-ms", required_argument, NULL, 'i'},
                                         {"brokers", required_argument, NULL, 'B'},
                                         {"prefix", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char *end;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hf", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o->from_beginning = 1; break;
        case 'f': o->follow = 1; break;
        case 'j': break; /* JSON lines are the only output format */
        case 'B': o->brokers = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'm':
        case 'i':
            end = NULL;
            if (c == 'm')
                o->max = strtoll(optarg, &end, 10);
            else
                o->idle_ms = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "msgfleet tail: invalid number \"%s\"\n", optarg);
                return MSGFLEET_EXIT_USAGE;
            }
            break;
        case 'h': fputs(TAIL_USAGE, stdout); return -1;
        default: fputs(TAIL_USAGE, stderr); return MSGFLEET_EXIT_USAGE;
        }
    }
    if (optind >= argc || argc - optind > TAIL_TOPICS_MAX) {
        fputs(TAIL_USAGE, stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    for (o->ntopics = 0; optind < argc; optind++)
        o->topic_base[o->ntopics++] = argv[optind];
    return MSGFLEET_EXIT_OK;
}

/* The key as a JSON string; a key that is not UTF-8 (the dlq keeps original bytes) as
 * "hex:..." so the line stays valid JSON. */
static int append_key(mf_buf *line, const mf_kafka_msg *m, mf_err *err)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *k = m->key;

    if (k == NULL)
        return mf_buf_append_str(line, "null", err);
    if (mf_buf_utf8_valid(m->key, m->key_len))
        return mf_buf_append_json_str(line, m->key, m->key_len, err);
    if (mf_buf_append_str(line, "\"hex:", err) != 0)
        return -1;
    for (size_t i = 0; i < m->key_len; i++) {
        char two[2] = {hex[k[i] >> 4], hex[k[i] & 15]};

        if (mf_buf_append(line, two, 2, err) != 0)
            return -1;
    }
    return mf_buf_append_char(line, '"', err);
}

/* One line: envelope fields, then the decoded value or the decoder's error. */
static int print_message(mf_codec *codec, mf_msg_kind kind, const mf_kafka_msg *m, mf_buf *line)
{
    mf_err err = {{0}};
    size_t mark;

    mf_buf_reset(line);
    if (mf_buf_printf(line, &err, "{\"topic\":") != 0 ||
        mf_buf_append_json_cstr(line, m->topic, &err) != 0 ||
        mf_buf_printf(line, &err, ",\"partition\":%d,\"offset\":%lld,\"ts\":%lld,\"key\":",
                      (int)m->partition, (long long)m->offset, (long long)m->ts_ms) != 0)
        return -1;
    if (append_key(line, m, &err) != 0)
        return -1;
    mark = line->len;
    if (mf_buf_append_str(line, ",\"value\":", &err) != 0 ||
        mf_codec_to_json(codec, kind, m->val, m->val_len, line, &err) != 0) {
        mf_err derr = {{0}};

        line->len = mark;
        if (mf_buf_append_str(line, ",\"error\":", &derr) != 0 ||
            mf_buf_append_json_cstr(line, err.msg, &derr) != 0)
            return -1;
    }
    mf_codec_reset(codec);
    if (mf_buf_append_str(line, "}\n", &err) != 0)
        return -1;
    return fwrite(line->data, 1, line->len, stdout) == line->len ? 0 : -1;
}

/* The topics read (full names) and the kind of message each carries. */
typedef struct tail_topics {
    char name[TAIL_TOPICS_MAX][MF_KAFKA_TOPIC_MAX + 1];
    const char *list[TAIL_TOPICS_MAX + 1]; /* NULL-terminated, for the subscription */
    mf_msg_kind kind[TAIL_TOPICS_MAX];
    size_t n;
} tail_topics;

static mf_msg_kind kind_of(const tail_topics *t, const char *topic)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->name[i], topic) == 0)
            return t->kind[i];
    return t->kind[0];
}

static int tail_loop(mf_kafka_consumer *consumer, mf_codec *codec, const tail_topics *t,
                     const tail_opts *o)
{
    mf_kafka_msg msgs[256];
    mf_buf line;
    mf_err err = {{0}};
    long long printed = 0;
    long idle = 0;
    int rc = MSGFLEET_EXIT_OK;

    mf_buf_init(&line, 16 * 1024 * 1024);
    while (!tail_stop && (o->max <= 0 || printed < o->max)) {
        size_t n = 0;

        if (mf_kafka_consume(consumer, msgs, 256, 200, &n, &err) != 0) {
            fprintf(stderr, "msgfleet tail: %s\n", err.msg);
            rc = MSGFLEET_EXIT_ERROR;
            break;
        }
        for (size_t i = 0; i < n && (o->max <= 0 || printed < o->max); i++, printed++) {
            if (print_message(codec, kind_of(t, msgs[i].topic), &msgs[i], &line) != 0) {
                tail_stop = 1; /* stdout closed (a pipe to head): stop quietly */
                break;
            }
        }
        mf_kafka_release(msgs, n);
        fflush(stdout);
        idle = n > 0 ? 0 : idle + 200;
        /* Stop once idle, but give the group time to assign the partitions first. */
        if (!o->follow && idle >= o->idle_ms &&
            (mf_kafka_assigned_count(consumer) > 0 || idle >= o->idle_ms + 10000))
            break;
    }
    mf_buf_free(&line);
    return rc;
}

/* A missing topic is an error, except with --follow: then the first producer creates it and
 * we wait for it (an analyst may start following before the first run). */
static int wait_for_topic(const mf_kafka_conf *conf, const char *topic, int follow, int *nparts,
                          mf_err *err)
{
    while (mf_kafka_topic_partitions(conf, topic, 10000, nparts, err) != 0) {
        if (!follow || tail_stop)
            return -1;
        sleep(1);
    }
    return 0;
}

int cmd_tail(int argc, char **argv)
{
    tail_opts o = {{NULL}, 0, getenv("MF_KAFKA_BROKERS"), getenv("MF_TOPIC_PREFIX"), 0, 0, 0, 3000};
    tail_topics t;
    char group[96];
    mf_kafka_consumer *consumer = NULL;
    mf_codec *codec = NULL;
    mf_err err = {{0}};
    int nparts = 0;
    int rc = parse_tail_args(argc, argv, &o);

    if (rc != MSGFLEET_EXIT_OK)
        return rc < 0 ? MSGFLEET_EXIT_OK : rc;
    if (o.brokers == NULL || *o.brokers == '\0')
        o.brokers = "127.0.0.1:9092";
    if (o.prefix == NULL)
        o.prefix = "msgfleet.";
    mf_kafka_sec sec;
    if (msgfleet_kafka_security(&sec, "tail") != 0)
        return MSGFLEET_EXIT_ERROR;
    mf_kafka_conf conf = {o.brokers, "msgfleet-tail", o.prefix, NULL, NULL, &sec};
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    snprintf(group, sizeof(group), "msgfleet-tail-%ld-%ld", (long)getpid(), (long)time(NULL));
    mf_kafka_consumer_opts copts = {group,
                                    t.list,
                                    MF_KAFKA_OFFSETS_EXTERNAL,
                                    start_at,
                                    NULL,
                                    &o,
                                    o.from_beginning ? "earliest" : "latest",
                                    NULL};
    rc = MSGFLEET_EXIT_ERROR;
    memset(&t, 0, sizeof(t));
    for (t.n = 0; t.n < o.ntopics; t.n++) {
        if (mf_codec_kind_from_name(o.topic_base[t.n], &t.kind[t.n], &err) != 0 ||
            mf_kafka_topic_name(&conf, o.topic_base[t.n], t.name[t.n], sizeof(t.name[t.n]), &err) !=
                0 ||
            wait_for_topic(&conf, t.name[t.n], o.follow, &nparts, &err) != 0) {
            fprintf(stderr, "msgfleet tail: %s\n", err.msg);
            goto out;
        }
        t.list[t.n] = t.name[t.n];
    }
    t.list[t.n] = NULL;
    if ((codec = mf_codec_new(&err)) == NULL ||
        (consumer = mf_kafka_consumer_new(&conf, &copts, &err)) == NULL) {
        fprintf(stderr, "msgfleet tail: %s\n", err.msg);
        goto out;
    }
    rc = tail_loop(consumer, codec, &t, &o);
out:
    mf_kafka_consumer_free(consumer);
    mf_codec_free(codec);
    explicit_bzero(&sec, sizeof(sec));
    return rc;
}

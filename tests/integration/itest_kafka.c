/* itest_kafka: mf_kafka against the real broker: produce, group consume, offsets, hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mf_codec.h"
#include "mf_kafka.h"

#define NJOBS 1000
#define NEXTRA 10
#define NPART 4
#define BATCH 256

typedef struct fx {
    char brokers[256];
    char prefix[64];
    char topic[MF_KAFKA_TOPIC_MAX + 1];
    char group[128];
    mf_kafka_conf conf;
    mf_uuid run;
    uint64_t run_ms;
    /* delivery reports */
    int dr_ok, dr_failed;
    int64_t high[NPART]; /* highest acknowledged offset + 1, per partition */
    int per_part[NPART]; /* acknowledged messages per partition */
} fx;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_dr(void *ctx, const mf_kafka_dr *dr)
{
    fx *f = ctx;

    if (!dr->ok) {
        f->dr_failed++;
        return;
    }
    f->dr_ok++;
    assert_true(dr->opaque != NULL);
    if (dr->partition >= 0 && dr->partition < NPART) {
        f->per_part[dr->partition]++;
        if (dr->offset + 1 > f->high[dr->partition])
            f->high[dr->partition] = dr->offset + 1;
    }
}

static int group_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    const char *env = getenv("MF_KAFKA_BROKERS");
    mf_kafka_topic_spec spec;
    char rnd[MF_UUID_STR_SIZE];
    mf_uuid r;
    mf_err err;
    int parts = 0;

    assert_non_null(f);
    snprintf(f->brokers, sizeof(f->brokers), "%s",
             env != NULL && env[0] != '\0' ? env : "127.0.0.1:59092");
    assert_int_equal(mf_uuid_v4(&r, &err), 0);
    mf_uuid_format(&r, rnd);
    rnd[8] = '\0';
    snprintf(f->prefix, sizeof(f->prefix), "itest.%s.%d.", rnd, (int)getpid());
    f->conf.brokers = f->brokers;
    f->conf.client_id = "itest_kafka";
    f->conf.topic_prefix = f->prefix;
    f->conf.log = mf_log_new("itest_kafka", MF_LOG_WARN, 2); /* exercises the log path */
    assert_int_equal(mf_kafka_topic_name(&f->conf, MF_TOPIC_JOBS, f->topic, sizeof(f->topic), &err),
                     0);
    spec.name = f->topic;
    spec.partitions = NPART;
    spec.replication = -1;
    if (mf_kafka_ensure_topics(&f->conf, &spec, 1, 10000, &err) < 0) {
        fprintf(stderr,
                "kafka broker at %s is not usable (set MF_KAFKA_BROKERS, start the "
                "stack with scripts/stack.sh up): %s\n",
                f->brokers, err.msg);
        mf_log_free(f->conf.log);
        free(f);
        return -1;
    }
    /* a second call is a no-op */
    assert_int_equal(mf_kafka_ensure_topics(&f->conf, &spec, 1, 10000, &err), 0);
    assert_int_equal(mf_kafka_topic_partitions(&f->conf, f->topic, 5000, &parts, &err), 0);
    assert_int_equal(parts, NPART);
    assert_int_equal(mf_uuid_v4(&f->run, &err), 0);
    f->run_ms = 1732500000000ull;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fx *f = *state;
    const char *names[1];
    mf_err err;

    if (f == NULL)
        return 0;
    names[0] = f->topic;
    if (mf_kafka_delete_topics(&f->conf, names, 1, 10000, &err) < 0)
        fprintf(stderr, "could not delete test topic: %s\n", err.msg);
    mf_log_free(f->conf.log);
    free(f);
    return 0;
}

static void job_for(fx *f, int i, char *phone, size_t cap, mf_job *j)
{
    static const mf_codec_kv vars[] = {{"이름", "홍길동"}, {"쿠폰", "가을10"}};

    snprintf(phone, cap, "010%08d", i);
    memset(j, 0, sizeof(*j));
    mf_uuid_job_id(&f->run, f->run_ms, phone, 1, &j->id);
    j->run = f->run;
    j->wf = f->run;
    j->tpl = f->run;
    j->attempt = 1;
    j->to = phone;
    j->name = i % 2 == 0 ? "홍길동" : "";
    j->vars.items = vars;
    j->vars.n = 2;
    j->created_ms = (int64_t)f->run_ms + i;
}

static void produce_range(fx *f, int from, int to)
{
    mf_kafka_producer *p;
    msgpack_sbuffer sb;
    char phone[16];
    mf_job j;
    mf_err err;
    int i, want = f->dr_ok + (to - from);

    p = mf_kafka_producer_new(&f->conf, on_dr, f, &err);
    if (p == NULL)
        fail_msg("producer: %s", err.msg);
    msgpack_sbuffer_init(&sb);
    for (i = from; i < to; i++) {
        job_for(f, i, phone, sizeof(phone), &j);
        assert_int_equal(mf_codec_encode_job(&sb, &j, &err), 0);
        if (mf_kafka_produce(p, f->topic, phone, strlen(phone), sb.data, sb.size,
                             (void *)(uintptr_t)(i + 1), 5000, &err) < 0)
            fail_msg("produce: %s", err.msg);
        mf_kafka_poll(p, 0);
    }
    if (mf_kafka_flush(p, 15000, &err) < 0)
        fail_msg("flush: %s", err.msg);
    assert_int_equal(mf_kafka_outq_len(p), 0);
    assert_int_equal(mf_kafka_producer_fatal(p, &err), 0);
    assert_int_equal(f->dr_failed, 0);
    assert_int_equal(f->dr_ok, want);
    msgpack_sbuffer_destroy(&sb);
    mf_kafka_producer_free(p);
}

/* Consume until `want` messages arrived or timeout; checks each against the expected job and
 * counts it in seen[]. Stores offsets when store != 0. Returns the count. */
static int consume_jobs(fx *f, mf_kafka_consumer *c, int want, int timeout_ms, int *seen, int store,
                        const int64_t *min_off)
{
    static mf_kafka_msg msgs[BATCH];
    mf_codec *codec = mf_codec_new(NULL);
    int64_t deadline = mono_ms() + timeout_ms;
    int got = 0;
    mf_err err;

    assert_non_null(codec);
    while (got < want && mono_ms() < deadline) {
        size_t n, k;

        if (mf_kafka_consume(c, msgs, BATCH, 500, &n, &err) < 0)
            fail_msg("consume: %s", err.msg);
        for (k = 0; k < n; k++) {
            mf_job j, expect;
            char phone[16];
            int idx;

            if (mf_codec_decode_job(codec, msgs[k].val, msgs[k].val_len, &j, &err) < 0)
                fail_msg("decode at %s [%d] @%lld: %s", msgs[k].topic, (int)msgs[k].partition,
                         (long long)msgs[k].offset, err.msg);
            assert_string_equal(msgs[k].topic, f->topic);
            idx = (int)strtol(j.to + 3, NULL, 10);
            assert_true(idx >= 0 && idx < NJOBS + NEXTRA);
            job_for(f, idx, phone, sizeof(phone), &expect);
            assert_true(mf_uuid_equal(&j.id, &expect.id));
            assert_true(mf_uuid_equal(&j.run, &f->run));
            assert_int_equal(j.attempt, 1);
            assert_string_equal(j.to, phone);
            assert_string_equal(j.name, expect.name);
            assert_string_equal(mf_codec_map_get(&j.vars, "쿠폰"), "가을10");
            assert_true(j.created_ms == expect.created_ms);
            assert_int_equal(msgs[k].key_len, strlen(phone));
            assert_memory_equal(msgs[k].key, phone, strlen(phone));
            if (min_off != NULL)
                assert_true(msgs[k].offset >= min_off[msgs[k].partition]);
            seen[idx]++;
            got++;
        }
        if (store && n > 0 && mf_kafka_store_offsets(c, msgs, n, &err) < 0)
            fail_msg("store offsets: %s", err.msg);
        mf_kafka_release(msgs, n);
        mf_codec_reset(codec);
    }
    mf_codec_free(codec);
    return got;
}

static void wait_assigned(mf_kafka_consumer *c, size_t want, int timeout_ms)
{
    static mf_kafka_msg msgs[BATCH];
    int64_t deadline = mono_ms() + timeout_ms;
    mf_err err;
    size_t n;

    while (mf_kafka_assigned_count(c) < want && mono_ms() < deadline) {
        if (mf_kafka_consume(c, msgs, BATCH, 200, &n, &err) < 0)
            fail_msg("consume: %s", err.msg);
        if (n > 0)
            fail_msg("got %zu messages while waiting for the assignment", n);
    }
    if (mf_kafka_assigned_count(c) < want)
        fail_msg("only %zu of %zu partitions assigned after %d ms", mf_kafka_assigned_count(c),
                 want, timeout_ms);
}

static void test_topic_names(void **state)
{
    fx *f = *state;
    mf_kafka_conf bad = f->conf;
    char out[MF_KAFKA_TOPIC_MAX + 1];
    mf_err err;

    assert_int_equal(mf_kafka_topic_name(&f->conf, "results", out, sizeof(out), &err), 0);
    assert_true(strncmp(out, "itest.", 6) == 0);
    assert_non_null(strstr(out, ".results"));
    bad.topic_prefix = "bad prefix/";
    assert_int_equal(mf_kafka_topic_name(&bad, "jobs", out, sizeof(out), &err), -1);
    assert_int_equal(mf_kafka_topic_name(&f->conf, "jobs", out, 8, &err), -1);
}

static void test_bad_config(void **state)
{
    fx *f = *state;
    mf_kafka_conf c = f->conf;
    const char *const ov[] = {"no.such.property=1", NULL};
    const char *const ov2[] = {"novalue", NULL};
    mf_err err;

    c.overrides = ov;
    assert_null(mf_kafka_producer_new(&c, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "no.such.property"));
    c.overrides = ov2;
    assert_null(mf_kafka_producer_new(&c, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "key=value"));
    c.overrides = NULL;
    c.brokers = NULL;
    assert_null(mf_kafka_producer_new(&c, NULL, NULL, &err));
}

static void test_produce_and_consume_once(void **state)
{
    fx *f = *state;
    static int seen[NJOBS + NEXTRA];
    mf_kafka_consumer_opts o;
    const char *topics[2] = {f->topic, NULL};
    mf_kafka_consumer *c;
    mf_err err;
    int i, got, p, spread = 0;

    produce_range(f, 0, NJOBS);
    for (p = 0; p < NPART; p++)
        spread += f->per_part[p] > 0;
    assert_int_equal(spread, NPART); /* keys spread over all partitions */

    snprintf(f->group, sizeof(f->group), "%sg1", f->prefix);
    memset(&o, 0, sizeof(o));
    o.group_id = f->group;
    o.topics = topics;
    o.offsets = MF_KAFKA_OFFSETS_STORE;
    c = mf_kafka_consumer_new(&f->conf, &o, &err);
    if (c == NULL)
        fail_msg("consumer: %s", err.msg);
    got = consume_jobs(f, c, NJOBS, 20000, seen, 1, NULL);
    assert_int_equal(got, NJOBS);
    for (i = 0; i < NJOBS; i++) {
        if (seen[i] != 1)
            fail_msg("job %d seen %d times", i, seen[i]);
    }
    /* a little longer: nothing more arrives (no duplicates) */
    got = consume_jobs(f, c, 1, 1000, seen, 1, NULL);
    assert_int_equal(got, 0);
    assert_int_equal(mf_kafka_commit(c, &err), 0);
    mf_kafka_consumer_free(c);
}

static void test_same_group_resumes(void **state)
{
    fx *f = *state;
    static int seen[NJOBS + NEXTRA];
    mf_kafka_consumer_opts o;
    const char *topics[2] = {f->topic, NULL};
    mf_kafka_consumer *c;
    mf_err err;
    int i, got;

    memset(&o, 0, sizeof(o));
    o.group_id = f->group;
    o.topics = topics;
    c = mf_kafka_consumer_new(&f->conf, &o, &err);
    if (c == NULL)
        fail_msg("consumer: %s", err.msg);
    /* once assigned (wait_assigned fails on any message), the committed offsets hold: only
     * messages produced afterwards arrive */
    wait_assigned(c, NPART, 20000);
    produce_range(f, NJOBS, NJOBS + NEXTRA);
    got = consume_jobs(f, c, NEXTRA, 10000, seen, 1, NULL);
    assert_int_equal(got, NEXTRA);
    for (i = 0; i < NJOBS; i++)
        assert_int_equal(seen[i], 0);
    for (i = NJOBS; i < NJOBS + NEXTRA; i++)
        assert_int_equal(seen[i], 1);
    mf_kafka_consumer_free(c);
}

typedef struct hook_ctx {
    fx *f;
    int64_t start[NPART];
    int assigns;
    int revokes;
    int fail;
} hook_ctx;

static int on_assign(void *ctx, mf_kafka_partition *parts, size_t n, mf_err *err)
{
    hook_ctx *h = ctx;
    size_t i;

    h->assigns++;
    if (h->fail)
        return mf_err_set(err, "offsets table unreachable");
    for (i = 0; i < n; i++) {
        assert_string_equal(parts[i].topic, h->f->topic);
        assert_true(parts[i].offset == MF_KAFKA_OFFSET_COMMITTED);
        parts[i].offset = h->start[parts[i].partition];
    }
    return 0;
}

static void on_revoke(void *ctx, const mf_kafka_partition *parts, size_t n)
{
    hook_ctx *h = ctx;

    (void)parts;
    (void)n;
    h->revokes++;
}

/* Consumer options for group with offsets from the hooks above (context h). */
static void hooked_opts(mf_kafka_consumer_opts *o, const char *group, const char **topics,
                        hook_ctx *h)
{
    memset(o, 0, sizeof(*o));
    o->group_id = group;
    o->topics = topics;
    o->offsets = MF_KAFKA_OFFSETS_EXTERNAL;
    o->on_assign = on_assign;
    o->on_revoke = on_revoke;
    o->hook_ctx = h;
}

static void test_external_offsets_from_hook(void **state)
{
    fx *f = *state;
    static int seen[NJOBS + NEXTRA];
    mf_kafka_consumer_opts o;
    const char *topics[2] = {f->topic, NULL};
    mf_kafka_consumer *c;
    hook_ctx h;
    char group[160];
    mf_err err;
    int p, got, want = 0;

    memset(&h, 0, sizeof(h));
    h.f = f;
    for (p = 0; p < NPART; p++) {
        /* start 3 before the end of each partition */
        h.start[p] = f->high[p] >= 3 ? f->high[p] - 3 : 0;
        want += (int)(f->high[p] - h.start[p]);
    }
    snprintf(group, sizeof(group), "%sg2", f->prefix);
    hooked_opts(&o, group, topics, &h);
    c = mf_kafka_consumer_new(&f->conf, &o, &err);
    if (c == NULL)
        fail_msg("consumer: %s", err.msg);
    got = consume_jobs(f, c, want, 20000, seen, 0, h.start);
    assert_int_equal(got, want);
    assert_int_equal(h.assigns, 1);
    got = consume_jobs(f, c, 1, 1000, seen, 0, h.start);
    assert_int_equal(got, 0);
    mf_kafka_consumer_free(c);
    assert_int_equal(h.revokes, 1); /* close revokes through the hook */
}

/* Consume from c (and poll other, so that its join can complete) until c has run a revoke
 * or deadline; asserts every message returned is stamped with the revocations c had run
 * when the call began or, for messages returned after a revoke within it, with the count
 * after it. Returns c's revocations at the end. */
static uint32_t consume_until_revoked(mf_kafka_consumer *c, mf_kafka_consumer *other,
                                      int timeout_ms, int *seen_stamp0, int *seen_stamp1)
{
    static mf_kafka_msg msgs[64];
    int64_t deadline = mono_ms() + timeout_ms;
    size_t n, i;
    mf_err err;

    while (mf_kafka_consumer_revokes(c) == 0 && mono_ms() < deadline) {
        assert_int_equal(mf_kafka_consume(c, msgs, 64, 100, &n, &err), 0);
        for (i = 0; i < n; i++) {
            assert_true(msgs[i].revokes <= mf_kafka_consumer_revokes(c));
            *seen_stamp0 += msgs[i].revokes == 0;
            *seen_stamp1 += msgs[i].revokes == 1;
        }
        mf_kafka_release(msgs, n);
        if (other != NULL) {
            assert_int_equal(mf_kafka_consume(other, msgs, 64, 10, &n, &err), 0);
            mf_kafka_release(msgs, n);
        }
    }
    return mf_kafka_consumer_revokes(c);
}

/* A rebalance runs inside mf_kafka_consume: the messages returned before a revocation carry
 * the count before it, those after it the new count (the reporter leaves the former to the
 * partitions' next owner). */
static void test_revokes_stamped(void **state)
{
    fx *f = *state;
    static mf_kafka_msg msgs[64];
    mf_kafka_consumer_opts o;
    const char *topics[2] = {f->topic, NULL};
    mf_kafka_consumer *a, *b;
    hook_ctx h;
    char group[160];
    mf_err err;
    size_t n, i;
    int stamp0 = 0, stamp1 = 0, after = 0;
    int64_t deadline;

    memset(&h, 0, sizeof(h));
    h.f = f; /* every partition from its start */
    snprintf(group, sizeof(group), "%sg4", f->prefix);
    hooked_opts(&o, group, topics, &h);
    a = mf_kafka_consumer_new(&f->conf, &o, &err);
    if (a == NULL)
        fail_msg("consumer a: %s", err.msg);
    deadline = mono_ms() + 20000;
    while (stamp0 == 0 && mono_ms() < deadline) {
        assert_int_equal(mf_kafka_consume(a, msgs, 1, 100, &n, &err), 0);
        for (i = 0; i < n; i++)
            stamp0 += msgs[i].revokes == 0;
        mf_kafka_release(msgs, n);
    }
    assert_true(stamp0 > 0);
    assert_int_equal(mf_kafka_consumer_revokes(a), 0);
    b = mf_kafka_consumer_new(&f->conf, &o, &err); /* joins: a revokes, both get a share */
    if (b == NULL)
        fail_msg("consumer b: %s", err.msg);
    assert_int_equal(consume_until_revoked(a, b, 30000, &stamp0, &stamp1), 1);
    assert_int_equal(h.revokes, 1);
    deadline = mono_ms() + 20000;
    while (after == 0 && mono_ms() < deadline) {
        assert_int_equal(mf_kafka_consume(a, msgs, 64, 100, &n, &err), 0);
        for (i = 0; i < n; i++) {
            assert_int_equal(msgs[i].revokes, 1); /* returned after the revoke */
            after++;
        }
        mf_kafka_release(msgs, n);
        assert_int_equal(mf_kafka_consume(b, msgs, 64, 10, &n, &err), 0);
        mf_kafka_release(msgs, n);
    }
    assert_true(after > 0);
    mf_kafka_consumer_free(b);
    mf_kafka_consumer_free(a);
}

/* Partitions acknowledged per message of the affinity test (indexed by its opaque - 1). */
typedef struct affinity_acks {
    int32_t part[64];
    int ok, failed;
} affinity_acks;

static void on_affinity_dr(void *ctx, const mf_kafka_dr *dr)
{
    affinity_acks *a = ctx;
    uintptr_t i = (uintptr_t)dr->opaque;

    if (!dr->ok || i == 0 || i > 64) {
        a->failed++;
        return;
    }
    a->part[i - 1] = dr->partition;
    a->ok++;
}

/* Messages produced with an affinity (a provider group id) all land on the partition it maps
 * to, whatever their keys; without one the keys spread them. */
static void test_affinity_partition(void **state)
{
    fx *f = *state;
    char topic[MF_KAFKA_TOPIC_MAX + 1], key[32];
    const char *names[1] = {topic};
    const char *group = "G4V20261208010203ABCDEFGHIJKLMN";
    mf_kafka_topic_spec spec = {topic, NPART, -1};
    affinity_acks a;
    mf_kafka_producer *p;
    mf_err err;
    int i, spread = 0, seen[NPART] = {0};
    int32_t want = mf_kafka_affinity_partition(group, NPART);

    assert_true(want >= 0 && want < NPART);
    assert_int_equal(mf_kafka_affinity_partition(group, NPART), want); /* stable */
    assert_int_equal(mf_kafka_affinity_partition("", NPART), -1);
    assert_int_equal(mf_kafka_affinity_partition(group, 0), -1);
    snprintf(topic, sizeof(topic), "%saffinity", f->prefix);
    assert_int_equal(mf_kafka_ensure_topics(&f->conf, &spec, 1, 10000, &err), 0);
    memset(&a, 0, sizeof(a));
    p = mf_kafka_producer_new(&f->conf, on_affinity_dr, &a, &err);
    if (p == NULL)
        fail_msg("producer: %s", err.msg);
    for (i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "job-%d", i);
        if (mf_kafka_produce_affine(p, topic, i < 32 ? group : NULL, key, strlen(key), "v", 1,
                                    (void *)(uintptr_t)(i + 1), 5000, &err) < 0)
            fail_msg("produce: %s", err.msg);
    }
    if (mf_kafka_flush(p, 15000, &err) < 0)
        fail_msg("flush: %s", err.msg);
    assert_int_equal(a.failed, 0);
    assert_int_equal(a.ok, 64);
    for (i = 0; i < 32; i++)
        assert_int_equal(a.part[i], want);
    for (i = 32; i < 64; i++)
        seen[a.part[i]]++;
    for (i = 0; i < NPART; i++)
        spread += seen[i] > 0;
    assert_true(spread > 1);
    mf_kafka_producer_free(p);
    assert_true(mf_kafka_delete_topics(&f->conf, names, 1, 10000, &err) >= 0);
}

static void test_failing_hook_stops_consumer(void **state)
{
    fx *f = *state;
    static mf_kafka_msg msgs[BATCH];
    mf_kafka_consumer_opts o;
    const char *topics[2] = {f->topic, NULL};
    mf_kafka_consumer *c;
    hook_ctx h;
    char group[160];
    int64_t deadline = mono_ms() + 20000;
    mf_err err;
    size_t n = 0;
    int rc = 0;

    memset(&h, 0, sizeof(h));
    h.f = f;
    h.fail = 1;
    snprintf(group, sizeof(group), "%sg3", f->prefix);
    hooked_opts(&o, group, topics, &h);
    c = mf_kafka_consumer_new(&f->conf, &o, &err);
    if (c == NULL)
        fail_msg("consumer: %s", err.msg);
    while (rc == 0 && mono_ms() < deadline) {
        rc = mf_kafka_consume(c, msgs, BATCH, 500, &n, &err);
        assert_int_equal(n, 0); /* nothing is fetched without a successful hook */
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "offsets table unreachable"));
    mf_kafka_consumer_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_produce_and_consume_once),
        cmocka_unit_test(test_same_group_resumes),
        cmocka_unit_test(test_external_offsets_from_hook),
        cmocka_unit_test(test_revokes_stamped),
        cmocka_unit_test(test_failing_hook_stops_consumer),
        cmocka_unit_test(test_affinity_partition),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

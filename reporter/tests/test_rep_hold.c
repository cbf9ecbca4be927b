/* test_rep_hold: results held for their reports: matching, expiry, offsets, spool, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rep_hold.h"

#define TOPIC "t.results"
#define WAIT 1000

/* A message of partition p at offset off, timestamp ts, for job number j: key "key-<j>", value
 * "value-<j>" followed by pad bytes of j's last digit (so every value is different). */
typedef struct fake {
    mf_kafka_msg m;
    mf_uuid job;
    char key[32];
    char val[2048];
} fake;

static void make(fake *f, int32_t p, int64_t off, int64_t ts, unsigned j, size_t pad)
{
    size_t n;

    memset(f, 0, sizeof(*f));
    /* job ids share their first bytes (a run's start time), as the fleet's do */
    memset(f->job.b, 0x01, 8);
    memcpy(f->job.b + 8, &j, sizeof(j));
    snprintf(f->key, sizeof(f->key), "key-%u", j);
    n = (size_t)snprintf(f->val, sizeof(f->val), "value-%u", j);
    memset(f->val + n, '0' + (int)(j % 10), pad);
    f->m.topic = TOPIC;
    f->m.partition = p;
    f->m.offset = off;
    f->m.key = f->key;
    f->m.key_len = strlen(f->key);
    f->m.val = f->val;
    f->m.val_len = n + pad;
    f->m.ts_ms = ts;
}

static rep_hold *new_hold(size_t max)
{
    mf_err err;
    rep_hold *h;

    mf_err_clear(&err);
    h = rep_hold_new(WAIT, max, "/tmp", &err);
    if (h == NULL)
        fail_msg("rep_hold_new: %s", err.msg);
    return h;
}

/* Takes what is due at now and checks it is exactly the messages want[0..n), in any order,
 * with their bytes intact. */
static void expect_taken(rep_hold *h, long long now, int flush, fake **want, size_t n)
{
    mf_kafka_msg out[64];
    mf_err err;
    long got;
    size_t i, j;

    mf_err_clear(&err);
    got = rep_hold_take(h, now, flush, out, 64, &err);
    assert_int_equal(got, (long)n);
    for (i = 0; i < n; i++) {
        for (j = 0; j < n && out[j].offset != want[i]->m.offset; j++)
            ;
        assert_true(j < n);
        assert_int_equal(out[j].partition, want[i]->m.partition);
        assert_string_equal(out[j].topic, TOPIC);
        assert_null(out[j].rkm);
        assert_int_equal(out[j].key_len, want[i]->m.key_len);
        assert_memory_equal(out[j].key, want[i]->m.key, want[i]->m.key_len);
        assert_int_equal(out[j].val_len, want[i]->m.val_len);
        assert_memory_equal(out[j].val, want[i]->m.val, want[i]->m.val_len);
        assert_int_equal(out[j].ts_ms, want[i]->m.ts_ms);
    }
}

static int put(rep_hold *h, fake *f, long long now)
{
    mf_err err;

    mf_err_clear(&err);
    rep_hold_see(h, &f->m, now);
    return rep_hold_put(h, &f->m, &f->job, now, &err);
}

/* A matched result comes out at the next take, the others stay; the offset to store stays at
 * the first one held. */
static void test_match_and_offsets(void **state)
{
    rep_hold *h = new_hold(100);
    fake a, b, c;
    fake *want[2];

    (void)state;
    make(&a, 0, 10, 1000, 1, 0);
    make(&b, 0, 11, 1001, 2, 0);
    make(&c, 1, 5, 1002, 3, 0);
    assert_int_equal(put(h, &a, 0), 1);
    assert_int_equal(put(h, &b, 0), 1);
    assert_int_equal(put(h, &c, 0), 1);
    assert_int_equal(rep_hold_count(h), 3);
    /* a batch that ends at 20 in partition 0 stores 10 (a is held), 1 stores 5 */
    assert_int_equal(rep_hold_store_offset(h, 0, 20), 10);
    assert_int_equal(rep_hold_store_offset(h, 1, 8), 5);
    assert_int_equal(rep_hold_store_offset(h, 2, 8), 8); /* nothing held there */
    assert_int_equal(rep_hold_match(h, &b.job), 1);
    assert_int_equal(rep_hold_match(h, &b.job), 1); /* twice: still once out */
    want[0] = &b;
    expect_taken(h, 10, 0, want, 1);
    assert_int_equal(rep_hold_count(h), 2);
    assert_int_equal(rep_hold_match(h, &b.job), 0); /* no longer held */
    assert_int_equal(rep_hold_store_offset(h, 0, 20), 10);
    want[0] = &a;
    assert_int_equal(rep_hold_match(h, &a.job), 1);
    expect_taken(h, 10, 0, want, 1);
    /* nothing held in 0 now: everything consumed there (up to b) is written */
    assert_int_equal(rep_hold_store_offset(h, 0, 11), 12);
    assert_int_equal(rep_hold_store_offset(h, 1, 8), 5);
    rep_hold_free(h);
}

/* Expiry: by the partition's message timestamps (a reporter reading ahead), by a quiet
 * partition, never before; flush takes everything. */
static void test_expiry(void **state)
{
    rep_hold *h = new_hold(100);
    fake a, b, c, later;
    fake *want[2];

    (void)state;
    make(&a, 0, 1, 50000, 1, 0);
    make(&b, 1, 1, 50000, 2, 0);
    make(&c, 2, 1, 50000, 3, 0);
    assert_int_equal(put(h, &a, 100), 1);
    assert_int_equal(put(h, &b, 100), 1);
    assert_int_equal(put(h, &c, 100), 1);
    expect_taken(h, 100 + WAIT - 1, 0, want, 0);
    /* partition 0 reads a message WAIT ms later in its stream, at once: a expires */
    make(&later, 0, 2, 50000 + WAIT, 9, 0);
    rep_hold_see(h, &later.m, 150);
    want[0] = &a;
    expect_taken(h, 150, 0, want, 1);
    /* partition 1 keeps getting messages, not far enough in its stream: b stays past WAIT */
    make(&later, 1, 2, 50000 + WAIT - 1, 9, 0);
    rep_hold_see(h, &later.m, 100 + WAIT);
    /* partition 2 was quiet for WAIT: c expires */
    want[0] = &c;
    expect_taken(h, 100 + WAIT, 0, want, 1);
    want[0] = &b;
    expect_taken(h, 100 + WAIT + WAIT, 0, want, 1);
    rep_hold_free(h);
}

static void test_flush(void **state)
{
    rep_hold *h = new_hold(100);
    fake a, b;
    fake *want[2] = {&a, &b};

    (void)state;
    make(&a, 3, 7, 60000, 4, 0);
    make(&b, 4, 8, 60000, 5, 0);
    assert_int_equal(put(h, &a, 5000), 1);
    assert_int_equal(put(h, &b, 5000), 1);
    expect_taken(h, 5000, 0, want, 0);
    expect_taken(h, 5000, 1, want, 2);
    assert_int_equal(rep_hold_count(h), 0);
    rep_hold_free(h);
}

/* A second first outcome of a held job (a redelivery) is not held, and the held one is due;
 * a full holder holds nothing more; drop forgets everything. */
static void test_duplicate_full_drop(void **state)
{
    rep_hold *h = new_hold(2);
    fake a, a2, b, c;
    fake *want[1] = {&a};

    (void)state;
    make(&a, 0, 1, 10, 1, 0);
    make(&a2, 0, 2, 11, 1, 0);
    make(&b, 0, 3, 12, 2, 0);
    make(&c, 0, 4, 13, 3, 0);
    assert_int_equal(put(h, &a, 0), 1);
    assert_int_equal(put(h, &a2, 0), 0);
    expect_taken(h, 0, 0, want, 1);
    assert_int_equal(put(h, &b, 0), 1);
    assert_int_equal(put(h, &c, 0), 1);
    make(&a, 0, 5, 14, 4, 0);
    assert_int_equal(put(h, &a, 0), 0); /* full */
    assert_int_equal(rep_hold_drop(h), 2);
    assert_int_equal(rep_hold_count(h), 0);
    assert_int_equal(rep_hold_match(h, &b.job), 0);
    assert_int_equal(rep_hold_store_offset(h, 0, 3), 3);
    assert_int_equal(put(h, &a, 0), 1); /* room again */
    rep_hold_free(h);
}

/* How a churn runs: max results held (a spool of max KB), n messages over parts partitions;
 * every big_every-th value (0: none) is big_len bytes (larger than the bytes the holder
 * gathers in memory before a write, it goes to the file on its own); each message is
 * exactly rec_len bytes (key and value) when rec_len > 0, else of random length; a take
 * follows every take_every-th message (more results come out of one take); message
 * timestamps are ts_step ms apart (a result expires WAIT / ts_step messages after it). */
typedef struct churn_cfg {
    size_t max, n;
    int parts;
    size_t big_every, big_len, rec_len, take_every;
    int64_t ts_step;
} churn_cfg;

/* Many puts, matches and expiries through a spool that wraps many times: every result comes
 * out once with its own bytes, none is lost or duplicated, the index stays right. Returns how
 * many were refused. */
static size_t churn(const churn_cfg *c)
{
    size_t max = c->max, n = c->n, big_every = c->big_every, big_len = c->big_len;
    rep_hold *h = new_hold(max);
    fake *f = calloc(n, sizeof(*f));
    unsigned char *seen = calloc(n, 1), *big = malloc(big_len ? big_len : 1);
    mf_kafka_msg *out = calloc(2 * max, sizeof(*out));
    size_t i, total = 0, refused = 0;
    unsigned rnd = 12345;
    long long now = 0;
    mf_err err;

    assert_true(f != NULL && seen != NULL && big != NULL && out != NULL);
    for (i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    for (i = 0; i < n; i++) {
        long got, k;

        rnd = rnd * 1103515245u + 12345u;
        make(&f[i], (int32_t)(i % (size_t)c->parts), (int64_t)i, (int64_t)i * c->ts_step,
             (unsigned)i, (rnd >> 8) % 1400);
        if (c->rec_len > 0) /* value cut or padded to make the record rec_len bytes */
            f[i].m.val_len = c->rec_len - f[i].m.key_len;
        if (big_every > 0 && i % big_every == big_every - 1) {
            f[i].m.val = big;
            f[i].m.val_len = big_len;
        }
        now += 1;
        if (put(h, &f[i], now) != 1) {
            refused++;
            seen[i] = 1; /* written at once by the caller */
        }
        if (i >= 7 && (rnd >> 4) % 3 == 0)
            rep_hold_match(h, &f[i - 7].job);
        if (i % c->take_every != 0 && i != n - 1)
            continue;
        mf_err_clear(&err);
        got = rep_hold_take(h, now, i == n - 1, out, 2 * max, &err);
        assert_true(got >= 0);
        for (k = 0; k < got; k++) {
            size_t j = (size_t)out[k].offset;

            assert_true(j <= i);
            assert_int_equal(seen[j], 0);
            seen[j] = 1;
            assert_int_equal(out[k].val_len, f[j].m.val_len);
            assert_memory_equal(out[k].val, f[j].m.val, f[j].m.val_len);
            assert_memory_equal(out[k].key, f[j].m.key, f[j].m.key_len);
            total++;
        }
    }
    assert_int_equal(rep_hold_count(h), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(total + refused, n);
    free(out);
    free(big);
    free(seen);
    free(f);
    rep_hold_free(h);
    return refused;
}

/* A small spool (16 KB, all of it gathered in memory between writes) that wraps hundreds of
 * times: results held and results refused (holder or spool full) both happen. */
static void test_churn(void **state)
{
    size_t refused;

    (void)state;
    refused = churn(&(churn_cfg){16, 20000, 3, 0, 0, 0, 1, 20});
    assert_true(refused > 0 && refused < 20000 * 3 / 4);
}

/* A spool larger than the bytes gathered in memory (1,000 KB against 256 KB): results are read
 * back from the file and from what is still gathered, in runs of neighbours (one partition:
 * its results expire in the order they were put), across the ring's end; values of 300 KB go
 * to the file at once. Then records of exactly 1 KB: they end exactly at the ring's end,
 * where a run must not continue from the file's last byte to its first. */
static void test_churn_file(void **state)
{
    const size_t big = (size_t)300 << 10;

    (void)state;
    assert_true(churn(&(churn_cfg){1000, 30000, 1, 997, big, 0, 1, 20}) < 30000 / 4);
    assert_true(churn(&(churn_cfg){1000, 30000, 1, 997, big, 0, 40, 20}) < 30000 / 4);
    assert_true(churn(&(churn_cfg){1000, 30000, 3, 997, big, 0, 40, 20}) < 30000 / 4);
    /* held for 500 messages, longer than 256 KB of them stay gathered */
    assert_true(churn(&(churn_cfg){1000, 30000, 1, 0, 0, 1024, 40, 2}) < 30000 / 4);
}

/* A spool directory that cannot be used names the setting. */
static void test_bad_dir(void **state)
{
    mf_err err;

    (void)state;
    mf_err_clear(&err);
    assert_null(rep_hold_new(WAIT, 10, "/nonexistent/dir", &err));
    assert_non_null(strstr(err.msg, "MF_REPORTER_HOLD_DIR"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_and_offsets),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_duplicate_full_drop),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_churn_file),
        cmocka_unit_test(test_bad_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_uuid: text form, random versions and the deterministic job id of mf_uuid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_uuid.h"

static mf_uuid run_a(void)
{
    mf_uuid u;

    assert_int_equal(mf_uuid_parse("0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5b", &u, NULL), 0);
    return u;
}

static void test_text_round_trip(void **state)
{
    const char *text = "0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5b";
    char out[MF_UUID_STR_SIZE];
    mf_uuid u, v;
    mf_err err;

    (void)state;
    assert_int_equal(mf_uuid_parse(text, &u, &err), 0);
    assert_int_equal(u.b[0], 0x0b);
    assert_int_equal(u.b[15], 0x5b);
    assert_string_equal(mf_uuid_format(&u, out), text);
    /* upper case accepted, printed lower case */
    assert_int_equal(mf_uuid_parse("0B7E6F1A-3C2D-4E5F-8A9B-0C1D2E3F4A5B", &v, &err), 0);
    assert_true(mf_uuid_equal(&u, &v));
    assert_int_equal(mf_uuid_version(&u), 4);
}

static void test_invalid_text(void **state)
{
    static const char *bad[] = {
        "",
        "0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5",   /* 35 chars */
        "0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5bb", /* 37 chars */
        "0b7e6f1a3c2d-4e5f-8a9b-0c1d2e3f4a5b0",  /* dash moved */
        "0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5g",  /* bad hex */
        "{b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5}",
        "0b7e6f1a 3c2d 4e5f 8a9b 0c1d2e3f4a5b",
    };
    mf_uuid u, before;
    mf_err err;
    size_t i;

    (void)state;
    memset(&u, 0xaa, sizeof(u));
    before = u;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        assert_int_equal(mf_uuid_parse(bad[i], &u, &err), -1);
        assert_true(strncmp(err.msg, "invalid uuid", 12) == 0);
        assert_true(mf_uuid_equal(&u, &before));
    }
    assert_int_equal(mf_uuid_parse(NULL, &u, &err), -1);
    assert_int_equal(mf_uuid_parse_n("0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5bXYZ", 36, &u, &err), 0);
}

static void test_job_id_deterministic(void **state)
{
    mf_uuid run = run_a(), a, b;
    uint64_t started = 1732500000123ull;

    (void)state;
    mf_uuid_job_id(&run, started, "01012345678", 0, &a);
    mf_uuid_job_id(&run, started, "01012345678", 0, &b);
    assert_true(mf_uuid_equal(&a, &b));
    assert_int_equal(mf_uuid_version(&a), 8);
    assert_int_equal(a.b[8] & 0xc0, 0x80);
    assert_true(mf_uuid_time_ms(&a) == started);
    /* the time prefix is big-endian in bytes 0-5 */
    assert_int_equal(a.b[0], (started >> 40) & 0xff);
    assert_int_equal(a.b[5], started & 0xff);
}

static void test_job_id_known_value(void **state)
{
    /* Pinned value: the id is a contract (message_logs.id, results key, customFields).
     * Any change of the derivation must fail here. Computed independently with Python:
     * sha256(b"msgfleet.job.v1\0" + run + len(key).to_bytes(4) + key + att.to_bytes(4)). */
    mf_uuid run = run_a(), id;
    char text[MF_UUID_STR_SIZE];

    (void)state;
    mf_uuid_job_id(&run, 1732500000123ull, "01012345678", 1, &id);
    assert_string_equal(mf_uuid_format(&id, text), "0193610c-0d7b-8a1b-94ea-e9a7fcfacf59");
}

static void test_job_id_differs(void **state)
{
    mf_uuid run = run_a(), run2 = run_a(), base, x;

    (void)state;
    run2.b[15] ^= 1;
    mf_uuid_job_id(&run, 1000, "01012345678", 0, &base);
    mf_uuid_job_id(&run, 1000, "01012345678", 1, &x);
    assert_false(mf_uuid_equal(&base, &x));
    mf_uuid_job_id(&run, 1000, "01012345679", 0, &x);
    assert_false(mf_uuid_equal(&base, &x));
    mf_uuid_job_id(&run2, 1000, "01012345678", 0, &x);
    assert_false(mf_uuid_equal(&base, &x));
    /* length-prefixing: key "0101234567" + attempt must not collide with other splits */
    mf_uuid_job_id(&run, 1000, "", 0, &x);
    assert_false(mf_uuid_equal(&base, &x));
    mf_uuid_job_id(&run, 1000, NULL, 0, &base);
    assert_true(mf_uuid_equal(&base, &x));
}

static void test_job_id_long_key(void **state)
{
    char key[600];
    mf_uuid run = run_a(), a, b;

    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    mf_uuid_job_id(&run, 5, key, 3, &a);
    mf_uuid_job_id(&run, 5, key, 3, &b);
    assert_true(mf_uuid_equal(&a, &b));
    key[300] = 'x';
    mf_uuid_job_id(&run, 5, key, 3, &b);
    assert_false(mf_uuid_equal(&a, &b));
}

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(mf_uuid));
}

static void test_job_ids_spread(void **state)
{
    /* 10,000 recipients of one run: all distinct, all share the time prefix */
    enum { N = 10000 };
    static mf_uuid ids[N];
    mf_uuid run = run_a();
    char key[16];
    size_t i, dups = 0;

    (void)state;
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "010%08zu", i);
        mf_uuid_job_id(&run, 77, key, 0, &ids[i]);
        assert_true(mf_uuid_time_ms(&ids[i]) == 77);
    }
    qsort(ids, N, sizeof(ids[0]), cmp_uuid);
    for (i = 1; i < N; i++)
        dups += mf_uuid_equal(&ids[i - 1], &ids[i]);
    assert_int_equal(dups, 0);
}

static void test_random_versions(void **state)
{
    mf_uuid a, b;
    mf_err err;

    (void)state;
    assert_int_equal(mf_uuid_v4(&a, &err), 0);
    assert_int_equal(mf_uuid_v4(&b, &err), 0);
    assert_false(mf_uuid_equal(&a, &b));
    assert_int_equal(mf_uuid_version(&a), 4);
    assert_int_equal(a.b[8] & 0xc0, 0x80);
    assert_int_equal(mf_uuid_v7(1732500000123ull, &a, &err), 0);
    assert_int_equal(mf_uuid_version(&a), 7);
    assert_true(mf_uuid_time_ms(&a) == 1732500000123ull);
    memset(&b, 0, sizeof(b));
    assert_true(mf_uuid_is_nil(&b));
    assert_false(mf_uuid_is_nil(&a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_round_trip),      cmocka_unit_test(test_invalid_text),
        cmocka_unit_test(test_job_id_deterministic), cmocka_unit_test(test_job_id_known_value),
        cmocka_unit_test(test_job_id_differs),       cmocka_unit_test(test_job_id_long_key),
        cmocka_unit_test(test_job_ids_spread),       cmocka_unit_test(test_random_versions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

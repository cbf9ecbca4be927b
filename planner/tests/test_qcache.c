/* test_qcache: the query-variable cache holds to its entry count, byte budget, value cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qcache.h"

/* Before, only the entry count bounded the cache: 1,000 entries of 100 KB values held 100 MB. */
static void test_byte_budget(void **state)
{
    planner_qcache c;
    char key[32], value[1001];
    const char *got = NULL;
    mf_err err = {{0}};

    (void)state;
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    planner_qcache_init(&c, 100000);
    planner_qcache_limits(&c, 64 * 1024, 4096);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);

        assert_int_equal(planner_qcache_put(&c, key, (size_t)n, value, &err), 0);
        assert_true(c.bytes <= 64 * 1024);
        assert_int_equal(planner_qcache_get(&c, key, (size_t)n, &got), 1);
        assert_string_equal(got, value);
    }
    assert_true(c.n < 1000); /* emptied on the way */
    planner_qcache_free(&c);
}

static void test_value_cap_and_oversized_entry(void **state)
{
    planner_qcache c;
    char big[5000];
    const char *got = NULL;
    mf_err err = {{0}};

    (void)state;
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    planner_qcache_init(&c, 100);
    planner_qcache_limits(&c, 65536, 4096);
    assert_int_equal(planner_qcache_put(&c, "a", 1, big, &err), -1);
    assert_non_null(strstr(err.msg, "4999 bytes, over the 4096-byte limit"));
    assert_int_equal(planner_qcache_get(&c, "a", 1, &got), 0);
    /* "no value" is cached too, and costs only its key */
    assert_int_equal(planner_qcache_put(&c, "n", 1, NULL, &err), 0);
    assert_int_equal(planner_qcache_get(&c, "n", 1, &got), 1);
    assert_null(got);
    /* an entry larger than the whole budget is simply not cached */
    planner_qcache_limits(&c, 1024, 0);
    assert_int_equal(planner_qcache_put(&c, "b", 1, big, &err), 0);
    assert_int_equal(planner_qcache_get(&c, "b", 1, &got), 0);
    assert_int_equal(planner_qcache_get(&c, "n", 1, &got), 1); /* nothing was emptied */
    planner_qcache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_budget),
        cmocka_unit_test(test_value_cap_and_oversized_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

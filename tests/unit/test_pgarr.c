/* test_pgarr: PostgreSQL array literals for unnest() (quoting, NULL, uuids, reuse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pgarr.h"

static void test_quoting(void **state)
{
    mf_pgarr a;
    mf_err err;
    const char *s;

    (void)state;
    mf_pgarr_init(&a);
    assert_int_equal(mf_pgarr_add(&a, "plain", &err), 0);
    assert_int_equal(mf_pgarr_add(&a, NULL, &err), 0);
    assert_int_equal(mf_pgarr_add(&a, "", &err), 0);
    assert_int_equal(mf_pgarr_add(&a, "q\"u\\o,t{e}", &err), 0);
    assert_int_equal(mf_pgarr_add(&a, "NULL", &err), 0);
    assert_int_equal(mf_pgarr_add(&a, "홍길동 {\"이름\":\"a\\\\b\"}", &err), 0);
    assert_int_equal(mf_pgarr_add_ll(&a, -42, &err), 0);
    s = mf_pgarr_finish(&a, &err);
    assert_non_null(s);
    assert_string_equal(s, "{\"plain\",NULL,\"\",\"q\\\"u\\\\o,t{e}\",\"NULL\","
                           "\"홍길동 {\\\"이름\\\":\\\"a\\\\\\\\b\\\"}\",\"-42\"}");
    assert_int_equal((int)a.n, 7);
    /* finish twice is the same literal; adding after finish continues the array */
    assert_string_equal(mf_pgarr_finish(&a, &err), s);
    assert_int_equal(mf_pgarr_add(&a, "x", &err), 0);
    assert_string_equal(mf_pgarr_finish(&a, &err),
                        "{\"plain\",NULL,\"\",\"q\\\"u\\\\o,t{e}\",\"NULL\","
                        "\"홍길동 {\\\"이름\\\":\\\"a\\\\\\\\b\\\"}\",\"-42\",\"x\"}");
    mf_pgarr_free(&a);
}

static void test_empty_and_reset(void **state)
{
    mf_pgarr a;
    mf_err err;

    (void)state;
    mf_pgarr_init(&a);
    assert_string_equal(mf_pgarr_finish(&a, &err), "{}");
    mf_pgarr_reset(&a);
    assert_int_equal(mf_pgarr_add(&a, "a", &err), 0);
    assert_string_equal(mf_pgarr_finish(&a, &err), "{\"a\"}");
    mf_pgarr_reset(&a);
    assert_string_equal(mf_pgarr_finish(&a, &err), "{}");
    assert_int_equal(mf_pgarr_add_n(&a, "a\0b", 3, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
    mf_pgarr_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_empty_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

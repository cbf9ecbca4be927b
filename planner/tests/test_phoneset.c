/* test_phoneset: the run's dedupe set: mobile numbers as bits, everything else hashed. */
/* One answer per number whichever part holds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "phoneset.h"

static int add(planner_phoneset *s, const char *phone)
{
    mf_err err = {{0}};

    return planner_phoneset_add(s, phone, &err);
}

static void test_mobile_and_others(void **state)
{
    static planner_phoneset s; /* large (the chunk table): not on the stack */

    (void)state;
    planner_phoneset_init(&s);
    assert_int_equal(add(&s, "01012345678"), 1);
    assert_int_equal(add(&s, "01012345678"), 0);
    assert_int_equal(add(&s, "01112345678"), 1); /* another prefix, same suffix */
    assert_int_equal(add(&s, "01000000000"), 1); /* the first bit */
    assert_int_equal(add(&s, "01099999999"), 1); /* the last bit (last, partial chunk) */
    assert_int_equal(add(&s, "01099999999"), 0);
    assert_int_equal(add(&s, "0101234567"), 1); /* 10 digits: hashed */
    assert_int_equal(add(&s, "0101234567"), 0);
    assert_int_equal(add(&s, "021234567"), 1);  /* a landline */
    assert_int_equal(add(&s, "0212345678"), 1); /* same digits longer: another number */
    assert_int_equal(planner_phoneset_count(&s), 7);
    planner_phoneset_clear(&s);
    assert_int_equal(planner_phoneset_count(&s), 0);
    assert_int_equal(add(&s, "01012345678"), 1); /* cleared: new again */
    planner_phoneset_free(&s);
}

static void test_bad_input(void **state)
{
    static planner_phoneset s;
    mf_err err = {{0}};

    (void)state;
    planner_phoneset_init(&s);
    assert_int_equal(planner_phoneset_add(&s, "010-1234-5678", &err), -1);
    assert_non_null(strstr(err.msg, "normalised"));
    assert_int_equal(planner_phoneset_add(&s, "", &err), -1);
    planner_phoneset_free(&s);
}

/* One million distinct 010 numbers and each again: exact counts (the dedupe of a big run). */
static void test_many(void **state)
{
    static planner_phoneset s;
    char phone[16];

    (void)state;
    planner_phoneset_init(&s);
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < 1000000; i++) {
            snprintf(phone, sizeof(phone), "010%08u", (unsigned)((i * 97u) % 100000000u));
            assert_int_equal(add(&s, phone), pass == 0 ? 1 : 0);
        }
    assert_int_equal(planner_phoneset_count(&s), 1000000);
    planner_phoneset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mobile_and_others),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

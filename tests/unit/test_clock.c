/* test_clock: mf_clock_parse_iso8601 on the time forms in use and on input it must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_clock.h"

/* 2026-12-06T15:40:20Z */
#define T0 1796571620000LL

static const struct {
    const char *in;
    int64_t ms;
} ACCEPTED[] = {
    /* the provider's and the SDK's forms */
    {"2026-12-06T15:40:20Z", T0},
    {"2026-12-06T15:40:20", T0}, /* no zone: UTC */
    {"2026-12-06 15:40:20", T0}, /* the list API's dateReceived */
    {"2026-12-06t15:40:20z", T0},
    {"2026-12-06T15:40:20.678Z", T0 + 678},
    {"2026-12-06T15:40:20.6Z", T0 + 600},
    {"2026-12-06T15:40:20.123456789Z", T0 + 123}, /* cut, not rounded */
    {"2026-12-06 15:40:20.5", T0 + 500},
    /* offsets */
    {"2026-12-07T00:40:20+09:00", T0},
    {"2026-12-07T00:40:20+0900", T0},
    {"2026-12-07T00:40:20+09", T0},
    {"2026-12-07 00:40:20.250+09:00", T0 + 250},
    {"2026-12-06T10:10:20-05:30", T0},
    {"2026-12-06T15:40:20+00:00", T0},
    /* shorter forms (the simulator's list filters) */
    {"2026-12-06T15:40Z", T0 - 20000},
    {"2026-12-06", 1796515200000LL},
    {"2024-01-02T03:04:05.678Z", 1704164645678LL},
    {"2024-02-29T23:59:59Z", 1709251199000LL},
    {"1970-01-01T00:00:00Z", 0},
    {"2026-12-31T23:59:60Z", 1798761600000LL}, /* a leap second: the next minute */
};

static const char *const REFUSED[] = {
    "",
    "2026-12-06T15:40:20Zjunk",
    "2026-12-06T15:40:20 ",
    " 2026-12-06T15:40:20Z",
    "2026-1-06T15:40:20Z",
    "26-12-06",
    "+026-12-06T15:40:20Z",
    "2026/12/06",
    "2026-12-06X15:40:20",
    "2026-12-06T15",
    "2026-12-06T15:4",
    "2026-12-06T15:40:2",
    "2026-12-06T15:40:20.Z",
    "2026-12-06T15:40:20.",
    "2026-13-06T00:00:00Z",
    "2026-00-06T00:00:00Z",
    "2026-12-00T00:00:00Z",
    "2026-12-32",
    "2026-12-06T24:00:00Z",
    "2026-12-06T15:60:00Z",
    "2026-12-06T15:40:61Z",
    "2026-12-06T15:40:20+24:00",
    "2026-12-06T15:40:20+09:60",
    "2026-12-06T15:40:20+9",
    "2026-12-06T15:40:20+09:0",
    "2026-12-06T15:40:20+09:00:00",
    "2026-12-06T15:40:20+09:00Z",
    "2026-12-06T15:40:20ZZ",
};

static void test_accepted_forms(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ACCEPTED) / sizeof(ACCEPTED[0]); i++) {
        int64_t ms = -1;

        if (mf_clock_parse_iso8601(ACCEPTED[i].in, &ms) != 0 || ms != ACCEPTED[i].ms)
            fail_msg("\"%s\": got %lld, want %lld", ACCEPTED[i].in, (long long)ms,
                     (long long)ACCEPTED[i].ms);
    }
}

static void test_refused_input(void **state)
{
    size_t i;
    int64_t ms = 42;

    (void)state;
    assert_int_equal(mf_clock_parse_iso8601(NULL, &ms), -1);
    for (i = 0; i < sizeof(REFUSED) / sizeof(REFUSED[0]); i++) {
        if (mf_clock_parse_iso8601(REFUSED[i], &ms) != -1)
            fail_msg("\"%s\" was accepted as %lld", REFUSED[i], (long long)ms);
        assert_int_equal(ms, 42); /* untouched */
    }
}

static void test_clocks_move(void **state)
{
    int64_t m0 = mf_clock_mono_ms(), w0 = mf_clock_wall_ms();

    (void)state;
    assert_true(w0 > T0 - 3650LL * 86400 * 1000); /* a wall clock, not an uptime */
    assert_true(mf_clock_mono_ms() >= m0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_refused_input),
        cmocka_unit_test(test_clocks_move),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_schedule: cron parsing and next fire times of interval and cron schedules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "schedule_rule.h"

/* Unix seconds of a wall time in Asia/Seoul (+09:00). */
static int64_t kst(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
    return planner_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 - 9 * 3600;
}

static int64_t next_of(const char *json, int64_t after)
{
    planner_schedule s;
    mf_err err = {{0}};
    int64_t next = 0;

    assert_int_equal(planner_schedule_parse(json, &s, &err), 0);
    assert_int_equal(planner_schedule_next(&s, after, &next, &err), 0);
    return next;
}

static void test_civil_roundtrip(void **state)
{
    int64_t y;
    unsigned m, d;

    (void)state;
    assert_int_equal(planner_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(planner_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(planner_days_from_civil(2024, 2, 29), 19782);
    for (int64_t day = -800000; day < 800000; day += 997) {
        planner_civil_from_days(day, &y, &m, &d);
        assert_int_equal(planner_days_from_civil(y, m, d), day);
    }
    planner_civil_from_days(19782, &y, &m, &d);
    assert_int_equal(y, 2024);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
}

static void test_interval_aligned_to_local_grid(void **state)
{
    const char *hourly = "{\"type\":\"interval\",\"every_s\":3600,\"tz\":\"Asia/Seoul\"}";
    const char *daily = "{\"type\":\"interval\",\"every_s\":86400}";
    const char *utc_daily = "{\"type\":\"interval\",\"every_s\":86400,\"tz\":\"UTC\"}";

    (void)state;
    /* strictly after: exactly on a slot gives the following slot */
    assert_int_equal(next_of(hourly, kst(2025, 3, 10, 9, 0)), kst(2025, 3, 10, 10, 0));
    assert_int_equal(next_of(hourly, kst(2025, 3, 10, 9, 59)), kst(2025, 3, 10, 10, 0));
    /* daily = local midnight in Seoul, i.e. 15:00 UTC */
    assert_int_equal(next_of(daily, kst(2025, 3, 10, 23, 30)), kst(2025, 3, 11, 0, 0));
    assert_int_equal(next_of(daily, kst(2025, 3, 11, 0, 0)), kst(2025, 3, 12, 0, 0));
    assert_int_equal(next_of(utc_daily, kst(2025, 3, 10, 8, 0)),
                     planner_days_from_civil(2025, 3, 10) * 86400);
    assert_int_equal(next_of("{\"type\":\"interval\",\"every_s\":7,\"tz\":\"UTC\"}", 100), 105);
    /* Seoul grid: anchor -32400 is 3 mod 7 */
    assert_int_equal(next_of("{\"type\":\"interval\",\"every_s\":7}", 100), 101);
    assert_int_equal(next_of("{\"type\":\"interval\",\"every_s\":1}", 100), 101);
}

static void test_cron_weekdays_at_nine_seoul(void **state)
{
    const char *j = "{\"type\":\"cron\",\"cron\":\"0 9 * * 1-5\",\"tz\":\"Asia/Seoul\"}";

    (void)state;
    /* 2025-03-07 is a Friday: after 09:00 Friday the next is Monday 09:00 KST */
    assert_int_equal(next_of(j, kst(2025, 3, 7, 9, 0)), kst(2025, 3, 10, 9, 0));
    assert_int_equal(next_of(j, kst(2025, 3, 7, 8, 59)), kst(2025, 3, 7, 9, 0));
    /* Saturday */
    assert_int_equal(next_of(j, kst(2025, 3, 8, 12, 0)), kst(2025, 3, 10, 9, 0));
    /* seconds inside the minute: 08:59:30 -> 09:00, 09:00:30 -> next day */
    assert_int_equal(next_of(j, kst(2025, 3, 7, 8, 59) + 30), kst(2025, 3, 7, 9, 0));
    assert_int_equal(next_of(j, kst(2025, 3, 6, 9, 0) + 30), kst(2025, 3, 7, 9, 0));
    /* 09:00 KST is 00:00 UTC: the day boundary differs between the zones */
    assert_int_equal(kst(2025, 3, 10, 9, 0) % 86400, 0);
}

static void test_cron_steps_lists_names(void **state)
{
    (void)state;
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"*/15 * * * *\"}",
                             kst(2025, 1, 1, 10, 7)),
                     kst(2025, 1, 1, 10, 15));
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"*/15 * * * *\"}",
                             kst(2025, 1, 1, 10, 50)),
                     kst(2025, 1, 1, 11, 0));
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"5,35 8-10/2 * * *\"}",
                             kst(2025, 1, 1, 8, 40)),
                     kst(2025, 1, 1, 10, 5));
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"30 18 * jun-aug sat,SUN\"}",
                             kst(2025, 1, 1, 0, 0)),
                     kst(2025, 6, 1, 18, 30)); /* 2025-06-01 is a Sunday */
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"0 0 * * 7\"}", kst(2025, 3, 10, 0, 0)),
                     kst(2025, 3, 16, 0, 0)); /* 7 = Sunday */
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"10/20 * * * *\"}",
                             kst(2025, 1, 1, 10, 31)),
                     kst(2025, 1, 1, 10, 50));
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"@daily\"}", kst(2025, 1, 1, 3, 0)),
                     kst(2025, 1, 2, 0, 0));
}

static void test_cron_month_ends_and_leap_days(void **state)
{
    (void)state;
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"0 12 31 * *\"}", kst(2025, 4, 1, 0, 0)),
                     kst(2025, 5, 31, 12, 0));
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"0 0 29 2 *\"}", kst(2025, 1, 1, 0, 0)),
                     kst(2028, 2, 29, 0, 0));
    /* year rollover */
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"0 0 1 1 *\"}",
                             kst(2025, 12, 31, 23, 59)),
                     kst(2026, 1, 1, 0, 0));
}

static void test_cron_dom_dow_or_rule(void **state)
{
    const char *j = "{\"type\":\"cron\",\"cron\":\"0 9 13 * 5\"}"; /* 13th OR Friday */

    (void)state;
    /* 2025-03-10 Monday: next Friday is 03-14, but the 13th (Thursday) comes first */
    assert_int_equal(next_of(j, kst(2025, 3, 10, 0, 0)), kst(2025, 3, 13, 9, 0));
    assert_int_equal(next_of(j, kst(2025, 3, 13, 9, 0)), kst(2025, 3, 14, 9, 0));
    /* with a star in day-of-week both must match: only the 13th */
    assert_int_equal(next_of("{\"type\":\"cron\",\"cron\":\"0 9 13 * *\"}", kst(2025, 3, 13, 9, 0)),
                     kst(2025, 4, 13, 9, 0));
}

static void expect_cron_error(const char *expr, const char *fragment)
{
    planner_cron c;
    mf_err err = {{0}};

    assert_int_equal(planner_cron_parse(expr, &c, &err), -1);
    if (strstr(err.msg, fragment) == NULL)
        fail_msg("cron \"%s\": message \"%s\" lacks \"%s\"", expr, err.msg, fragment);
}

static void test_cron_errors(void **state)
{
    (void)state;
    expect_cron_error("* * * *", "5 fields");
    expect_cron_error("* * * * * *", "more than 5");
    expect_cron_error("60 * * * *", "minute: value 60");
    expect_cron_error("* 24 * * *", "hour");
    expect_cron_error("* * 0 * *", "day of month");
    expect_cron_error("* * * 13 *", "month");
    expect_cron_error("* * * * 8", "day of week");
    expect_cron_error("5-1 * * * *", "backwards");
    expect_cron_error("*/0 * * * *", "step");
    expect_cron_error("* * * foo *", "unexpected");
    expect_cron_error("1,,2 * * * *", "unexpected");
    expect_cron_error("1;2 * * * *", "unexpected");
}

static void expect_config_error(const char *json, const char *fragment)
{
    planner_schedule s;
    mf_err err = {{0}};

    assert_int_equal(planner_schedule_parse(json, &s, &err), -1);
    if (strstr(err.msg, fragment) == NULL)
        fail_msg("config %s: message \"%s\" lacks \"%s\"", json, err.msg, fragment);
}

static void test_config_errors(void **state)
{
    planner_schedule s;
    mf_err err = {{0}};
    int64_t next;

    (void)state;
    expect_config_error("", "not valid JSON");
    expect_config_error("{}", "type");
    expect_config_error("{\"type\":\"weekly\"}", "type");
    expect_config_error("{\"type\":\"interval\"}", "every_s");
    expect_config_error("{\"type\":\"interval\",\"every_s\":0}", "out of range");
    expect_config_error("{\"type\":\"interval\",\"every_s\":\"60\"}", "every_s");
    expect_config_error("{\"type\":\"cron\"}", "schedule_config.cron");
    expect_config_error("{\"type\":\"cron\",\"cron\":\"x\"}", "schedule_config.cron");
    expect_config_error("{\"type\":\"interval\",\"every_s\":60,\"tz\":\"Europe/Berlin\"}",
                        "unsupported time zone");
    /* Feb 31 never happens */
    assert_int_equal(
        planner_schedule_parse("{\"type\":\"cron\",\"cron\":\"0 0 31 2 *\"}", &s, &err), 0);
    assert_int_equal(planner_schedule_next(&s, 0, &next, &err), -1);
    assert_non_null(strstr(err.msg, "matches no time"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_roundtrip),
        cmocka_unit_test(test_interval_aligned_to_local_grid),
        cmocka_unit_test(test_cron_weekdays_at_nine_seoul),
        cmocka_unit_test(test_cron_steps_lists_names),
        cmocka_unit_test(test_cron_month_ends_and_leap_days),
        cmocka_unit_test(test_cron_dom_dow_or_rule),
        cmocka_unit_test(test_cron_errors),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

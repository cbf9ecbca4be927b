/* test_rep_rows: the batch's pure row helpers (money, Seoul dates, deltas, picks) and prices. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rep_price.h"
#include "rep_rows.h"

/* ---- money ------------------------------------------------------------------------------ */

static long long cents_of(const char *txt)
{
    long long v = -777;
    mf_err err;

    mf_err_clear(&err);
    if (rep_rows_parse_cents(txt, &v, &err) != 0)
        fail_msg("\"%s\" refused: %s", txt, err.msg);
    return v;
}

/* A refused text leaves *out alone and says what is wrong with which text. */
static void assert_refused(const char *txt, const char *why)
{
    long long v = -777;
    char want[128];
    mf_err err;

    mf_err_clear(&err);
    assert_int_equal(rep_rows_parse_cents(txt, &v, &err), -1);
    assert_int_equal(v, -777);
    snprintf(want, sizeof(want), "%s: \"%s\"", why, txt);
    assert_string_equal(err.msg, want);
}

static void test_parse_cents(void **state)
{
    (void)state;
    assert_int_equal(cents_of("0"), 0);
    assert_int_equal(cents_of("7"), 700);
    assert_int_equal(cents_of("12.3"), 1230);
    assert_int_equal(cents_of("12.30"), 1230);
    assert_int_equal(cents_of("0.05"), 5);
    assert_int_equal(cents_of("8.4"), 840);
    assert_int_equal(cents_of("-12.3"), -1230);
    assert_int_equal(cents_of("-0.05"), -5);
    assert_int_equal(cents_of("+1.5"), 150);
    assert_int_equal(cents_of("25.900"), 2590); /* PostgreSQL's numeric text of a sum */
    assert_int_equal(cents_of("1."), 100);      /* a point without decimals */
    assert_int_equal(cents_of("999999.99"), 99999999);
    /* the largest batch sums are 5e11 hundredths; 9e15 units still parse */
    assert_int_equal(cents_of("9000000000000000"), 900000000000000000LL);
}

static void test_parse_cents_bad(void **state)
{
    (void)state;
    assert_refused("", "not a cost");
    assert_refused("-", "not a cost");
    assert_refused("abc", "not a cost");
    assert_refused(".5", "not a cost");
    assert_refused(" 1", "not a cost");
    assert_refused("1 ", "not a cost");
    assert_refused("12x", "not a cost");
    assert_refused("1e3", "not a cost");
    assert_refused("1.2.3", "not a cost");
    assert_refused("--1", "not a cost");
    assert_refused("NaN", "not a cost");
    assert_refused("1.005", "cost with more than 2 decimals");
    assert_refused("0.001", "cost with more than 2 decimals");
    assert_refused("90000000000000000", "cost out of range");
    assert_refused("-123456789012345678901234567890", "cost out of range");
}

static void test_format_cents(void **state)
{
    char out[32];

    (void)state;
    rep_rows_format_cents(0, out, sizeof(out));
    assert_string_equal(out, "0.00");
    rep_rows_format_cents(5, out, sizeof(out));
    assert_string_equal(out, "0.05");
    rep_rows_format_cents(-5, out, sizeof(out));
    assert_string_equal(out, "-0.05");
    rep_rows_format_cents(123456, out, sizeof(out));
    assert_string_equal(out, "1234.56");
    rep_rows_format_cents(-1230, out, sizeof(out));
    assert_string_equal(out, "-12.30");
    rep_rows_format_cents(LLONG_MIN, out, sizeof(out));
    assert_string_equal(out, "-92233720368547758.08");
    rep_rows_format_cents(LLONG_MAX, out, sizeof(out));
    assert_string_equal(out, "92233720368547758.07");
    /* what it prints parses back to the same hundredths */
    for (long long c = -100005; c <= 100005; c += 997) {
        rep_rows_format_cents(c, out, sizeof(out));
        assert_int_equal(cents_of(out), c);
    }
}

/* ---- times ------------------------------------------------------------------------------ */

static void test_format_ts(void **state)
{
    char out[40], tiny[8];

    (void)state;
    assert_null(rep_rows_format_ts(0, out, sizeof(out)));
    assert_null(rep_rows_format_ts(-1, out, sizeof(out)));
    assert_string_equal(rep_rows_format_ts(1700000000123LL, out, sizeof(out)),
                        "2023-11-14 22:13:20.123+00");
    assert_string_equal(rep_rows_format_ts(1767279600000LL, out, sizeof(out)),
                        "2026-01-01 15:00:00.000+00");
    assert_null(rep_rows_format_ts(1700000000123LL, tiny, sizeof(tiny)));
}

static void test_seoul_date(void **state)
{
    char out[16];

    (void)state;
    /* Seoul is UTC+9: 14:59:59.999 UTC is the same day there, 15:00 the next */
    rep_rows_seoul_date(1767279599999LL, out, sizeof(out));
    assert_string_equal(out, "2026-01-01");
    rep_rows_seoul_date(1767279600000LL, out, sizeof(out));
    assert_string_equal(out, "2026-01-02");
    rep_rows_seoul_date(1709249400000LL, out, sizeof(out)); /* 2024-02-29 23:30 UTC */
    assert_string_equal(out, "2024-03-01");
    rep_rows_seoul_date(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01");
}

/* ---- rows ------------------------------------------------------------------------------- */

static mf_result result(mf_result_status st, long long ts, long long sent)
{
    mf_result r;

    memset(&r, 0, sizeof(r));
    r.status = st;
    r.ts_ms = ts;
    r.sent_ms = sent;
    r.to = "01012345678";
    r.type = MF_TYPE_LMS;
    r.attempt = 2;
    return r;
}

static void test_row_values(void **state)
{
    mf_result r;
    rep_row row;

    (void)state;
    r = result(MF_RESULT_ACCEPTED, 5000, 0); /* no sent time: the result's */
    assert_true(rep_rows_charged(&r));
    assert_int_equal(rep_rows_carried(&r), MF_TYPE_LMS);
    rep_rows_values(&r, 25.9, &row);
    assert_int_equal(row.st, REP_ST_SENT);
    assert_int_equal(row.sent, 5000);
    assert_int_equal(row.delivered, 0);
    assert_int_equal(row.failed, 0);
    assert_int_equal(row.cents, 2590);
    assert_int_equal(row.attempt, 2);
    assert_false(rep_rows_is_failed(&row));

    r = result(MF_RESULT_DELIVERED, 9000, 4000);
    r.channel = MF_TYPE_SMS; /* an alimtalk that fell back: the channel pays */
    assert_int_equal(rep_rows_carried(&r), MF_TYPE_SMS);
    rep_rows_values(&r, 8.4, &row);
    assert_int_equal(row.st, REP_ST_DELIVERED);
    assert_int_equal(row.sent, 4000);
    assert_int_equal(row.delivered, 9000);
    assert_int_equal(row.cents, 840);

    r = result(MF_RESULT_UNDELIVERED, 9000, 4000);
    assert_false(rep_rows_charged(&r));
    rep_rows_values(&r, 8.4, &row); /* the price is ignored: refunded */
    assert_int_equal(row.st, REP_ST_FAILED);
    assert_int_equal(row.sent, 4000);
    assert_int_equal(row.failed, 9000);
    assert_int_equal(row.cents, 0);
    assert_true(rep_rows_is_failed(&row));

    r = result(MF_RESULT_FAILED, 7000, 0);
    rep_rows_values(&r, 8.4, &row);
    assert_int_equal(row.st, REP_ST_FAILED);
    assert_int_equal(row.sent, 0);
    assert_int_equal(row.failed, 7000);
    assert_int_equal(row.cents, 0);

    r = result(MF_RESULT_CANCELLED, 7000, 0);
    rep_rows_values(&r, 8.4, &row);
    assert_int_equal(row.st, REP_ST_CANCELLED);
    assert_int_equal(row.failed, 7000);
    assert_true(rep_rows_is_failed(&row));

    r = result((mf_result_status)0, 7000, 0); /* not a status: a free failed row */
    assert_false(rep_rows_charged(&r));
    rep_rows_values(&r, 8.4, &row);
    assert_int_equal(row.st, REP_ST_FAILED);
    assert_int_equal(row.cents, 0);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(rep_rows_status_name(REP_ST_SENT), "sent");
    assert_string_equal(rep_rows_status_name(REP_ST_DELIVERED), "delivered");
    assert_string_equal(rep_rows_status_name(REP_ST_FAILED), "failed");
    assert_string_equal(rep_rows_status_name(REP_ST_CANCELLED), "cancelled");
    assert_string_equal(rep_rows_status_name(-1), "failed");
    assert_string_equal(rep_rows_status_name(REP_ST_N), "failed");
}

/* ---- deltas ----------------------------------------------------------------------------- */

static void test_deltas(void **state)
{
    rep_deltas ds = {0};
    mf_err err;

    (void)state;
    for (int i = 0; i < 20; i++) /* grows past its first allocation */
        assert_int_equal(rep_deltas_add(&ds, i % 2 ? "b" : "a", 1, 2, 3, &err), 0);
    assert_int_equal(rep_deltas_add(&ds, "c", -1, 0, -250, &err), 0);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.d[0].key, "a");
    assert_int_equal(ds.d[0].success, 10);
    assert_int_equal(ds.d[0].failed, 20);
    assert_int_equal(ds.d[0].cents, 30);
    assert_string_equal(ds.d[1].key, "b");
    assert_string_equal(ds.d[2].key, "c");
    assert_int_equal(ds.d[2].success, -1);
    assert_int_equal(ds.d[2].cents, -250);
    ds.n = 0; /* the next batch */
    assert_int_equal(rep_deltas_add(&ds, "c", 1, 0, 0, &err), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.d[0].success, 1);
    rep_deltas_free(&ds);
    assert_null(ds.d);
    rep_deltas_free(&ds); /* twice is fine */
}

static void test_row_deltas(void **state)
{
    rep_deltas runs = {0}, days = {0};
    long long by[REP_ST_N] = {0};
    mf_result r;
    rep_row row;
    mf_err err;

    (void)state;
    r = result(MF_RESULT_ACCEPTED, 1767279600000LL, 1767279599999LL);
    rep_rows_values(&r, 25.9, &row);
    assert_int_equal(rep_rows_add_deltas(&runs, &days, "run1", &row, by, &err), 0);
    r = result(MF_RESULT_FAILED, 1767279600000LL, 0); /* failed: the day of failed_at */
    rep_rows_values(&r, 25.9, &row);
    assert_int_equal(rep_rows_add_deltas(&runs, &days, "run1", &row, by, &err), 0);
    r = result(MF_RESULT_CANCELLED, 0, 0); /* no time: the run only */
    rep_rows_values(&r, 25.9, &row);
    assert_int_equal(rep_rows_add_deltas(&runs, &days, "run2", &row, by, &err), 0);

    assert_int_equal(runs.n, 2);
    assert_string_equal(runs.d[0].key, "run1");
    assert_int_equal(runs.d[0].success, 1);
    assert_int_equal(runs.d[0].failed, 1);
    assert_int_equal(runs.d[0].cents, 2590);
    assert_int_equal(runs.d[1].failed, 1);
    assert_int_equal(runs.d[1].cents, 0);
    assert_int_equal(days.n, 2);
    assert_string_equal(days.d[0].key, "2026-01-01"); /* sent 23:59:59.999 in Seoul */
    assert_int_equal(days.d[0].success, 1);
    assert_int_equal(days.d[0].cents, 2590);
    assert_string_equal(days.d[1].key, "2026-01-02");
    assert_int_equal(days.d[1].failed, 1);
    assert_int_equal(days.d[1].cents, 0);
    assert_int_equal(by[REP_ST_SENT], 1);
    assert_int_equal(by[REP_ST_FAILED], 1);
    assert_int_equal(by[REP_ST_CANCELLED], 1);
    assert_int_equal(by[REP_ST_DELIVERED], 0);
    rep_deltas_free(&runs);
    rep_deltas_free(&days);
}

/* ---- picks ------------------------------------------------------------------------------ */

static void set_id(mf_uuid *u, unsigned char first, unsigned char last)
{
    memset(u->b, 0, sizeof(u->b));
    u->b[0] = first;
    u->b[15] = last;
}

static void test_pick_unique(void **state)
{
    mf_result res[7];
    rep_rows_pick pick = {0};
    mf_err err;
    long n;

    (void)state;
    res[0] = result(MF_RESULT_ACCEPTED, 1, 0);
    set_id(&res[0].id, 3, 0);
    res[1] = result(MF_RESULT_DELIVERED, 2, 0);
    set_id(&res[1].id, 3, 0);
    res[2] = result(MF_RESULT_FAILED, 3, 0);
    set_id(&res[2].id, 1, 0);
    res[3] = result(MF_RESULT_ACCEPTED, 4, 0); /* a redelivery of job 3: the first one wins */
    set_id(&res[3].id, 3, 0);
    res[4] = result(MF_RESULT_CANCELLED, 5, 0);
    set_id(&res[4].id, 2, 9);
    res[5] = result(MF_RESULT_UNDELIVERED, 6, 0);
    set_id(&res[5].id, 1, 0);
    res[6] = result(MF_RESULT_UNDELIVERED, 7, 0); /* a repeated report: the first one wins */
    set_id(&res[6].id, 1, 0);

    n = rep_rows_pick_unique(&pick, res, 7, 0, &err);
    assert_int_equal(n, 3);
    assert_ptr_equal(pick.v[0], &res[2]);
    assert_ptr_equal(pick.v[1], &res[4]);
    assert_ptr_equal(pick.v[2], &res[0]);
    n = rep_rows_pick_unique(&pick, res, 7, 1, &err);
    assert_int_equal(n, 2);
    assert_ptr_equal(pick.v[0], &res[5]);
    assert_ptr_equal(pick.v[1], &res[1]);
    assert_int_equal(rep_rows_pick_unique(&pick, res, 0, 0, &err), 0);
    assert_int_equal(rep_rows_pick_unique(&pick, res + 1, 1, 0, &err), 0); /* no first */
    rep_rows_pick_free(&pick);
    assert_null(pick.v);
}

static void test_direct(void **state)
{
    char name[300], code[60];
    mf_result res[5];
    const mf_result *v[5];

    (void)state;
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    memset(code, '9', sizeof(code) - 1);
    code[sizeof(code) - 1] = '\0';
    for (int i = 0; i < 5; i++) {
        res[i] = result(MF_RESULT_ACCEPTED, 1, 0);
        set_id(&res[i].run, (unsigned char)(i < 3 ? 2 : 1), 0);
        v[i] = &res[i];
    }
    res[0].to = "01099999999";
    res[1].to = "010123456789012345678"; /* 21 characters: longer than the column */
    res[2].to = "01011111111";
    res[3].code = code; /* longer than error_code's 50 */
    res[4].to = "01055555555";
    assert_true(rep_rows_direct_ok(&res[0]));
    assert_false(rep_rows_direct_ok(&res[1]));
    assert_false(rep_rows_direct_ok(&res[3]));
    res[4].name = name;
    assert_false(rep_rows_direct_ok(&res[4])); /* longer than recipient_name's 255 */
    name[255] = '\0';
    assert_true(rep_rows_direct_ok(&res[4]));
    res[2].type = MF_TYPE_NONE; /* no type: the template's, through the staging path */
    assert_false(rep_rows_direct_ok(&res[2]));
    res[2].type = MF_TYPE_SMS;

    assert_int_equal(rep_rows_partition_direct(v, 5), 3);
    rep_rows_sort_run_phone(v, 3); /* run 1 before run 2, then by phone */
    assert_ptr_equal(v[0], &res[4]);
    assert_ptr_equal(v[1], &res[2]);
    assert_ptr_equal(v[2], &res[0]);
    assert_true(v[3] == &res[1] || v[3] == &res[3]);
    assert_true(v[4] == &res[1] || v[4] == &res[3]);
}

static void test_vars_json(void **state)
{
    mf_codec_kv kv[2] = {{"name", "고객\"1\""}, {"a\\b", "x\ny"}};
    mf_codec_map m = {kv, 2};
    mf_buf b;
    mf_err err;

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(rep_rows_vars_json(&b, &m, &err), 0);
    assert_string_equal(b.data, "{\"name\":\"고객\\\"1\\\"\",\"a\\\\b\":\"x\\ny\"}");
    m.n = 0;
    assert_int_equal(rep_rows_vars_json(&b, &m, &err), 0);
    assert_string_equal(b.data, "{}");
    mf_buf_free(&b);
}

/* ---- prices ----------------------------------------------------------------------------- */

static void test_price_parse(void **state)
{
    double p[REP_PRICE_N];

    (void)state;
    assert_int_equal(rep_price_parse(NULL, p), 0);
    assert_true(p[MF_TYPE_SMS] == 8.4 && p[MF_TYPE_NONE] == 8.4);
    assert_true(p[MF_TYPE_LMS] == 25.9 && p[MF_TYPE_KAKAO] == 7.5);
    assert_int_equal(rep_price_parse("{\"sms\": 10, \"lms\": \"30.5\", \"kakao\": 5}", p), 0);
    assert_true(p[MF_TYPE_SMS] == 10 && p[MF_TYPE_NONE] == 10);
    assert_true(p[MF_TYPE_LMS] == 30.5 && p[MF_TYPE_KAKAO] == 5);
    /* entries that could not be stored or are no number keep the default */
    assert_int_equal(rep_price_parse("{\"sms\": -1, \"lms\": \"12abc\", \"kakao\": 1000000}", p),
                     0);
    assert_true(p[MF_TYPE_SMS] == 8.4 && p[MF_TYPE_NONE] == 8.4);
    assert_true(p[MF_TYPE_LMS] == 25.9 && p[MF_TYPE_KAKAO] == 7.5);
    assert_int_equal(rep_price_parse("{\"lms\": 999999.99, \"kakao\": null, \"sms\": \"\"}", p), 0);
    assert_true(p[MF_TYPE_LMS] == 999999.99 && p[MF_TYPE_KAKAO] == 7.5);
    assert_true(p[MF_TYPE_SMS] == 8.4);
    /* not an object: the defaults, and -1 so that the caller warns */
    assert_int_equal(rep_price_parse("[10, 30]", p), -1);
    assert_true(p[MF_TYPE_SMS] == 8.4 && p[MF_TYPE_LMS] == 25.9);
    assert_int_equal(rep_price_parse("{\"sms\": 10", p), -1);
    assert_true(p[MF_TYPE_SMS] == 8.4);
    assert_int_equal(rep_price_parse("", p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cents),  cmocka_unit_test(test_parse_cents_bad),
        cmocka_unit_test(test_format_cents), cmocka_unit_test(test_format_ts),
        cmocka_unit_test(test_seoul_date),   cmocka_unit_test(test_row_values),
        cmocka_unit_test(test_status_names), cmocka_unit_test(test_deltas),
        cmocka_unit_test(test_row_deltas),   cmocka_unit_test(test_pick_unique),
        cmocka_unit_test(test_direct),       cmocka_unit_test(test_vars_json),
        cmocka_unit_test(test_price_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

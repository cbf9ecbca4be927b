/* test_rep_report: the single-report body reader against the shapes SOLAPI and its SDK send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rep_report.h"

static rep_report *parse_ok(const char *body)
{
    int bad = -1;
    mf_err err;
    rep_report *r = rep_report_parse(body, strlen(body), &bad, &err);

    if (r == NULL)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(bad, 0);
    return r;
}

static void parse_bad(const char *body, const char *want)
{
    int bad = 0;
    mf_err err;
    rep_report *r = rep_report_parse(body, strlen(body), &bad, &err);

    assert_null(r);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(err.msg, want));
}

/* The documented shape: {eventDataId, data: {...}, retryCount}; members outside `data` and
 * nested values (kakaoOptions, log) do not leak into the fields. */
static void test_documented_shape(void **state)
{
    const char *body =
        "[{\"eventDataId\":\"E1\",\"messageId\":\"OUTSIDE\",\"data\":{\"_id\":\"M1\","
        "\"messageId\":\"M1\",\"groupId\":\"G1\",\"type\":\"LMS\",\"to\":\"01012345678\","
        "\"statusCode\":\"4000\",\"statusMessage\":\"\\uc815\\uc0c1 \\\"ok\\\"\","
        "\"kakaoOptions\":{\"pfId\":null,\"templateId\":\"messageId\"},\"log\":[{\"to\":\"x\"}],"
        "\"customFields\":{\"jobId\":\"8e1f4a1c-3c7e-4a59-9d2a-0a4b1e9e6f10\",\"runId\":\"R1\","
        "\"other\":\"o\"},\"replacement\":false,\"dateProcessed\":\"2026-12-06T00:00:01.000Z\","
        "\"dateReported\":\"2026-12-06T00:00:02.000Z\","
        "\"dateReceived\":\"2026-12-06T00:00:03.000Z\","
        "\"dateCreated\":\"2026-12-05T23:59:59.500Z\"},"
        "\"retryCount\":0}]";
    rep_report *r = parse_ok(body);
    const rep_report_fields *f;

    (void)state;
    assert_int_equal(rep_report_count(r), 1);
    f = rep_report_at(r, 0);
    assert_true(f->is_object);
    assert_string_equal(f->message_id, "M1");
    assert_string_equal(f->group_id, "G1");
    assert_string_equal(f->type, "LMS");
    assert_string_equal(f->to, "01012345678");
    assert_string_equal(f->status_code, "4000");
    assert_string_equal(f->status_message, "\xec\xa0\x95\xec\x83\x81 \"ok\"");
    assert_string_equal(f->job_id, "8e1f4a1c-3c7e-4a59-9d2a-0a4b1e9e6f10");
    assert_string_equal(f->run_id, "R1");
    assert_string_equal(f->date_processed, "2026-12-06T00:00:01.000Z");
    assert_string_equal(f->date_reported, "2026-12-06T00:00:02.000Z");
    assert_string_equal(f->date_received, "2026-12-06T00:00:03.000Z");
    assert_string_equal(f->date_created, "2026-12-05T23:59:59.500Z");
    assert_false(f->replacement);
    rep_report_free(r);
}

/* The SDK example's shape: the message object itself, statusCode as an integer. */
static void test_bare_message_and_integer_code(void **state)
{
    rep_report *r = parse_ok("[{\"messageId\":\"M2\",\"statusCode\":3059,\"replacement\":1,"
                             "\"customFields\":{\"jobId\":\"J\"}},"
                             "{\"messageId\":\"M3\",\"statusCode\":4000.0,\"replacement\":2},"
                             "{\"messageId\":\"M4\",\"statusCode\":\"12345678901234567\","
                             "\"replacement\":true}]");
    const rep_report_fields *f;

    (void)state;
    assert_int_equal(rep_report_count(r), 3);
    f = rep_report_at(r, 0);
    assert_string_equal(f->message_id, "M2");
    assert_string_equal(f->status_code, "3059");
    assert_true(f->replacement);
    assert_string_equal(f->job_id, "J");
    assert_null(f->run_id);
    f = rep_report_at(r, 1);
    assert_string_equal(f->status_code, ""); /* a real number is no code */
    assert_false(f->replacement);
    f = rep_report_at(r, 2);
    assert_string_equal(f->status_code, ""); /* too long */
    assert_true(f->replacement);
    rep_report_free(r);
}

/* Elements that are not objects are counted, marked, and do not shift the others; a `data`
 * that is not an object means the element's own members. */
static void test_odd_elements(void **state)
{
    rep_report *r = parse_ok("[1,\"x\",null,[{\"messageId\":\"IN\"}],{\"data\":\"no\","
                             "\"messageId\":\"M5\",\"statusCode\":\"4000\"},{}]");

    (void)state;
    assert_int_equal(rep_report_count(r), 6);
    for (size_t i = 0; i < 4; i++)
        assert_false(rep_report_at(r, i)->is_object);
    assert_true(rep_report_at(r, 4)->is_object);
    assert_string_equal(rep_report_at(r, 4)->message_id, "M5");
    assert_true(rep_report_at(r, 5)->is_object);
    assert_null(rep_report_at(r, 5)->message_id);
    assert_string_equal(rep_report_at(r, 5)->status_code, "");
    rep_report_free(r);
}

/* A member named twice counts with its last value, whatever its type. */
static void test_last_value_wins(void **state)
{
    rep_report *r = parse_ok(
        "[{\"data\":{\"messageId\":\"A\",\"messageId\":\"B\",\"statusCode\":\"4000\","
        "\"statusCode\":{\"x\":1},\"to\":\"1\",\"to\":null,\"customFields\":{\"jobId\":\"J\"},"
        "\"customFields\":\"none\"}},"
        "{\"data\":{\"messageId\":\"C\"},\"data\":{\"messageId\":\"D\"}},"
        "{\"data\":{\"messageId\":\"E\"},\"data\":7,\"messageId\":\"F\"},"
        "{\"customFields\":{\"jobId\":\"J1\",\"jobId\":[1]}}]");

    (void)state;
    assert_int_equal(rep_report_count(r), 4);
    assert_string_equal(rep_report_at(r, 0)->message_id, "B");
    assert_string_equal(rep_report_at(r, 0)->status_code, "");
    assert_null(rep_report_at(r, 0)->to);
    assert_null(rep_report_at(r, 0)->job_id);
    assert_string_equal(rep_report_at(r, 1)->message_id, "D");
    assert_string_equal(rep_report_at(r, 2)->message_id, "F");
    assert_null(rep_report_at(r, 3)->job_id);
    rep_report_free(r);
}

static void test_empty_array(void **state)
{
    rep_report *r = parse_ok(" [ ] ");

    (void)state;
    assert_int_equal(rep_report_count(r), 0);
    rep_report_free(r);
}

/* Not a JSON array: refused as the sender's fault, with a reason. */
static void test_bad_bodies(void **state)
{
    (void)state;
    parse_bad("", "not JSON");
    parse_bad("{\"messageId\":\"M\"}", "not a JSON array");
    parse_bad("\"x\"", "not a JSON array");
    parse_bad("[{\"messageId\":\"M\"}", "not JSON");
    parse_bad("[] []", "not JSON");
    parse_bad("[{\"messageId\":\"\xff\"}]", "not JSON"); /* not UTF-8 */
}

/* Strings never need more room than the body: a body of nothing but strings, escaped. */
static void test_strings_fill_the_body(void **state)
{
    const char *body = "[{\"messageId\":\"\\u0041\\u00e9\",\"to\":\"\",\"type\":\"\\\\\","
                       "\"groupId\":\"g\",\"statusMessage\":\"\\ud83d\\ude00\"}]";
    rep_report *r = parse_ok(body);
    const rep_report_fields *f = rep_report_at(r, 0);

    (void)state;
    assert_string_equal(f->message_id, "A\xc3\xa9");
    assert_string_equal(f->to, "");
    assert_string_equal(f->type, "\\");
    assert_string_equal(f->status_message, "\xf0\x9f\x98\x80");
    rep_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_shape),
        cmocka_unit_test(test_bare_message_and_integer_code),
        cmocka_unit_test(test_odd_elements),
        cmocka_unit_test(test_last_value_wins),
        cmocka_unit_test(test_empty_array),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_strings_fill_the_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_buf: the bounded buffer, its JSON-string escaping and URL encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mf_buf.h"

static void test_append_and_limit(void **state)
{
    mf_buf b;
    mf_err err = {{0}};
    int i;

    (void)state;
    mf_buf_init(&b, 1000);
    assert_int_equal(mf_buf_append_str(&b, "abc", &err), 0);
    assert_int_equal(mf_buf_printf(&b, &err, "-%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "abc-42-x");
    assert_int_equal(b.len, 8);
    /* Growth past the initial capacity keeps the content. */
    for (i = 0; i < 99; i++)
        assert_int_equal(mf_buf_append(&b, "0123456789", 10, &err), 0);
    assert_int_equal(b.len, 998);
    assert_memory_equal(b.data, "abc-42-x01", 10);
    /* The limit is hard, and a failed append changes nothing. */
    assert_int_equal(mf_buf_append(&b, "xyz", 3, &err), -1);
    assert_non_null(strstr(err.msg, "limit"));
    assert_int_equal(b.len, 998);
    assert_int_equal(mf_buf_append(&b, "xy", 2, &err), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[1000], '\0');
    assert_int_equal(mf_buf_printf(&b, &err, "%s", "z"), -1);
    mf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    mf_buf_free(&b);
    assert_null(b.data);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(mf_buf_utf8_valid("plain", 5));
    assert_true(mf_buf_utf8_valid("안녕하세요", strlen("안녕하세요")));
    assert_true(mf_buf_utf8_valid("\xF0\x9F\x98\x80", 4));  /* emoji */
    assert_false(mf_buf_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    assert_false(mf_buf_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(mf_buf_utf8_valid("\xEC\x95", 2));         /* cut Hangul */
    assert_false(mf_buf_utf8_valid("\xB1\xE8", 2));         /* EUC-KR bytes */
    assert_false(mf_buf_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    /* around the 8-byte ASCII fast path: a bad byte after, inside and at the end of runs */
    assert_true(mf_buf_utf8_valid("0123456789abcdef01", 18));
    assert_true(mf_buf_utf8_valid("01234567안녕01234567", strlen("01234567안녕01234567")));
    assert_false(mf_buf_utf8_valid("01234567\xFF", 9));
    assert_false(mf_buf_utf8_valid("0123\xFF"
                                   "5678",
                                   9));
    assert_false(mf_buf_utf8_valid("0123456789abcde\xEC\x95", 17));
    assert_false(mf_buf_utf8_valid("01234567\x80"
                                   "abcdefgh",
                                   17));
    assert_true(mf_buf_utf8_valid("0123456789\0abc", 14)); /* NUL is ASCII here */
}

/* Escape s, parse the result back with jansson and compare with the original. */
static void roundtrip(const char *s, size_t n)
{
    mf_buf b;
    mf_err err = {{0}};
    json_error_t jerr;
    json_t *j;

    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append_json_str(&b, s, n, &err), 0);
    j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    assert_non_null(j);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), n);
    assert_memory_equal(json_string_value(j), s, n);
    json_decref(j);
    mf_buf_free(&b);
}

static void test_json_escape(void **state)
{
    mf_buf b;
    mf_err err = {{0}};
    const char ctl[] = "a\x01\x1f\x7f\b\f\t\r\nz";

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append_json_cstr(&b, "say \"hi\"\\ /\n\x01", &err), 0);
    assert_string_equal(b.data, "\"say \\\"hi\\\"\\\\ /\\n\\u0001\"");
    mf_buf_free(&b);

    roundtrip("", 0);
    roundtrip("(광고) 홍길동님, \"특가\" 안내\n무료수신거부 080-000-0000",
              strlen("(광고) 홍길동님, \"특가\" 안내\n무료수신거부 080-000-0000"));
    roundtrip(ctl, sizeof(ctl) - 1);
    roundtrip("nul\0inside", 10);
    roundtrip("\xF0\x9F\x98\x80 emoji \xE2\x80\xA8 line sep",
              strlen("\xF0\x9F\x98\x80 emoji \xE2\x80\xA8 line sep"));
}

static void test_json_invalid_utf8_fails_cleanly(void **state)
{
    mf_buf b;
    mf_err err = {{0}};

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append_str(&b, "[", &err), 0);
    assert_int_equal(mf_buf_append_json_cstr(&b, "ok \xB1\xE8 euc-kr", &err), -1);
    assert_non_null(strstr(err.msg, "invalid UTF-8 at byte 3"));
    assert_string_equal(b.data, "["); /* nothing half-written */
    mf_buf_free(&b);
}

static void test_urlenc(void **state)
{
    mf_buf b;
    mf_err err = {{0}};

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append_urlenc(&b, "criteria.jobId", 14, &err), 0);
    assert_int_equal(mf_buf_append_char(&b, '=', &err), 0);
    assert_int_equal(mf_buf_append_urlenc(&b, "a b&c=d/é~", strlen("a b&c=d/é~"), &err), 0);
    assert_string_equal(b.data, "criteria.jobId=a%20b%26c%3Dd%2F%C3%A9~");
    mf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_limit),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_json_invalid_utf8_fails_cleanly),
        cmocka_unit_test(test_urlenc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

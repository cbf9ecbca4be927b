/* test_hook: the webhook's signature, body checks and variable merge, without a server. */
/* The signature is the worked example of docs/triggers.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hook_auth.h"
#include "hook_expand.h"
#include "hook_req.h"

#define SECRET "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BODY "{\"variables\":{\"order_id\":\"A-1001\"},\"recipients\":[\"01012345678\"]}"
#define TS "1767225600"
#define SIG "c1a47d1ad5c3f1416b503c0eb85428c451fc9ed5be292401be72ae8612077fc3"

static void test_sign_worked_example(void **state)
{
    char hex[HOOK_AUTH_HEX_SIZE];
    mf_err err;

    (void)state;
    assert_int_equal(hook_auth_sign(SECRET, TS, BODY, strlen(BODY), hex, &err), 0);
    assert_string_equal(hex, SIG);
}

static hook_auth_result verify(const char *ts, const char *sig, const char *body, int64_t now,
                               char *hex)
{
    mf_err err;

    return hook_auth_verify(SECRET, ts, sig, body, strlen(body), now, hex, &err);
}

static void test_verify(void **state)
{
    char hex[HOOK_AUTH_HEX_SIZE];
    const int64_t now = 1767225600;

    (void)state;
    assert_int_equal(verify(TS, "v1=" SIG, BODY, now, hex), HOOK_AUTH_OK);
    assert_string_equal(hex, SIG);
    /* upper-case hex, and a list with another scheme first */
    assert_int_equal(verify(TS,
                            "v0=abc, v1=C1A47D1AD5C3F1416B503C0EB85428C4"
                            "51FC9ED5BE292401BE72AE8612077FC3",
                            BODY, now, hex),
                     HOOK_AUTH_OK);
    assert_string_equal(hex, SIG);
    /* the window: 300 s either way is fine, 301 is not */
    assert_int_equal(verify(TS, "v1=" SIG, BODY, now + 300, hex), HOOK_AUTH_OK);
    assert_int_equal(verify(TS, "v1=" SIG, BODY, now - 300, hex), HOOK_AUTH_OK);
    assert_int_equal(verify(TS, "v1=" SIG, BODY, now + 301, hex), HOOK_AUTH_STALE);
    assert_int_equal(verify(TS, "v1=" SIG, BODY, now - 301, hex), HOOK_AUTH_STALE);
    /* one byte of the body, of the timestamp or of the signature changed */
    assert_int_equal(verify(TS, "v1=" SIG, BODY " ", now, hex), HOOK_AUTH_MISMATCH);
    assert_string_equal(hex, "");
    assert_int_equal(verify("1767225601", "v1=" SIG, BODY, now, hex), HOOK_AUTH_MISMATCH);
    assert_int_equal(verify(TS,
                            "v1=d1a47d1ad5c3f1416b503c0eb85428c4"
                            "51fc9ed5be292401be72ae8612077fc3",
                            BODY, now, hex),
                     HOOK_AUTH_MISMATCH);
    /* missing and malformed headers */
    assert_int_equal(verify(NULL, "v1=" SIG, BODY, now, hex), HOOK_AUTH_MISSING);
    assert_int_equal(verify(TS, "", BODY, now, hex), HOOK_AUTH_MISSING);
    assert_int_equal(verify("17672256OO", "v1=" SIG, BODY, now, hex), HOOK_AUTH_MALFORMED);
    assert_int_equal(verify("-5", "v1=" SIG, BODY, now, hex), HOOK_AUTH_MALFORMED);
    assert_int_equal(verify(TS, SIG, BODY, now, hex), HOOK_AUTH_MALFORMED);
    assert_int_equal(verify(TS, "v1=" SIG "00", BODY, now, hex), HOOK_AUTH_MALFORMED);
}

static int parse(const char *body, size_t max, hook_req *r, const char **code)
{
    mf_err err;

    return hook_req_parse(body, strlen(body), max, r, code, &err);
}

static void test_req(void **state)
{
    hook_req r;
    const char *code;

    (void)state;
    assert_int_equal(parse("{\"variables\":{\"a\":\"x\",\"n\":42},"
                           "\"recipients\":[\"+82 10-1234-5678\"]}",
                           3, &r, &code),
                     0);
    assert_string_equal(json_string_value(json_object_get(r.variables, "n")), "42");
    assert_string_equal(json_string_value(json_array_get(r.recipients, 0)), "01012345678");
    assert_null(r.customer_keys);
    hook_req_free(&r);
    assert_int_equal(parse("", 3, &r, &code), 0); /* no body: the target query, no variables */
    assert_int_equal(json_object_size(r.variables), 0);
    hook_req_free(&r);
    assert_int_equal(parse("{\"customer_keys\":[7,\"C-8\"]}", 3, &r, &code), 0);
    assert_string_equal(json_string_value(json_array_get(r.customer_keys, 0)), "7");
    hook_req_free(&r);

    assert_int_equal(parse("{\"variables\":", 3, &r, &code), -1);
    assert_string_equal(code, "bad_json");
    assert_int_equal(parse("[1]", 3, &r, &code), -1);
    assert_string_equal(code, "bad_json");
    assert_int_equal(parse("{\"variables\":{\"a\":1},\"variables\":{}}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_json");
    assert_int_equal(parse("{\"recipients\":[\"01012345678\",\"01012345679\"]}", 1, &r, &code), -1);
    assert_string_equal(code, "too_many_recipients");
    assert_int_equal(parse("{\"customer_keys\":[1,2]}", 1, &r, &code), -1);
    assert_string_equal(code, "too_many_recipients");
    assert_int_equal(parse("{\"recipients\":[\"0212345678\"]}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_phone");
    assert_int_equal(parse("{\"recipients\":[1012345678]}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_phone");
    assert_int_equal(parse("{\"recipients\":[]}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_request");
    assert_int_equal(parse("{\"variables\":{\"a\":[1]}}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_request");
    assert_int_equal(parse("{\"to\":\"x\"}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_request");
    assert_int_equal(
        parse("{\"recipients\":[\"01012345678\"],\"customer_keys\":[1]}", 3, &r, &code), -1);
    assert_string_equal(code, "bad_request");
}

static void test_known_vars_and_merge(void **state)
{
    const char *const known[] = {"name", "order_id"};
    hook_req r;
    hook_run h = {0};
    const char *code;
    mf_codec_kv kv[4] = {{"name", "고객"}, {"eta", "내일"}};
    size_t n;
    mf_err err;

    (void)state;
    assert_int_equal(
        parse("{\"variables\":{\"order_id\":\"A\",\"name\":\"김민수\"}}", 3, &r, &code), 0);
    assert_int_equal(hook_req_check_vars(&r, known, 2, &err), 0);
    assert_int_equal(hook_req_check_vars(&r, known, 1, &err), -1);
    assert_non_null(strstr(err.msg, "unknown variable \"order_id\""));
    /* the call's values win over the mappings', others are added */
    h.present = 1;
    h.variables = r.variables;
    n = hook_expand_merge(&h, kv, 2, 4);
    assert_int_equal(n, 3);
    assert_string_equal(kv[0].val, "김민수");
    assert_string_equal(kv[1].val, "내일");
    assert_string_equal(kv[2].key, "order_id");
    assert_string_equal(kv[2].val, "A");
    hook_req_free(&r);
}

static void test_key_sql(void **state)
{
    mf_buf b;
    mf_err err;

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(hook_expand_key_sql("SELECT id, phone FROM customers;", "id", &b, &err), 0);
    assert_string_equal(b.data, "SELECT * FROM (\nSELECT id, phone FROM customers\n) AS mf_hook "
                                "WHERE mf_hook.`id` = ?");
    assert_int_equal(hook_expand_key_sql("SELECT 1", "i`d", &b, &err), -1);
    assert_int_equal(hook_expand_key_sql("DELETE FROM customers", "id", &b, &err), -1);
    mf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_worked_example),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_req),
        cmocka_unit_test(test_known_vars_and_merge),
        cmocka_unit_test(test_key_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

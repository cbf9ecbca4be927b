/* test_coolsms_auth: CoolSMS client building blocks: HMAC header, JSON body, response decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mf_coolsms.h"

/* ---------------------------------------------------------------- auth header */

static void test_auth_header_vector(void **state)
{
    char out[512];
    mf_err err = {{0}};

    (void)state;
    /* Expected signature computed independently when this test was written:
     *   python3 -c 'import hmac,hashlib; print(hmac.new(
     *     b"TESTSECRET0123456789ABCDEFGHIJKLMNOPQRSTUV",
     *     b"2026-11-25T12:00:00Z"+b"0123456789abcdefghijklmnopqrstuv",
     *     hashlib.sha256).hexdigest())' */
    assert_int_equal(mf_coolsms_auth_header(out, sizeof(out), "NCSTESTKEY0000001",
                                            "TESTSECRET0123456789ABCDEFGHIJKLMNOPQRSTUV",
                                            "2026-11-25T12:00:00Z",
                                            "0123456789abcdefghijklmnopqrstuv", &err),
                     0);
    assert_string_equal(out, "HMAC-SHA256 apiKey=NCSTESTKEY0000001, date=2026-11-25T12:00:00Z, "
                             "salt=0123456789abcdefghijklmnopqrstuv, "
                             "signature="
                             "446e8a59f3ba7edc423e3643ba8c85c44280fd12970f1c687447bfd57f32d4c3");

    /* python3 -c 'import hmac,hashlib; print(hmac.new(b"secret", b"date"+b"salt",
     *   hashlib.sha256).hexdigest())' */
    assert_int_equal(mf_coolsms_auth_header(out, sizeof(out), "k", "secret", "date", "salt", &err),
                     0);
    assert_string_equal(out, "HMAC-SHA256 apiKey=k, date=date, salt=salt, signature="
                             "da9690bf00ea4d27535320174aecbc2d2429306963352eb954809d801c70dba7");

    /* A UTF-8 secret is used as its bytes:
     * python3 -c 'import hmac,hashlib; print(hmac.new("비밀키".encode(),
     *   b"2019-07-01T00:41:48Z"+b"jqsba2jxjnrjor", hashlib.sha256).hexdigest())' */
    assert_int_equal(mf_coolsms_auth_header(out, sizeof(out), "K", "비밀키", "2019-07-01T00:41:48Z",
                                            "jqsba2jxjnrjor", &err),
                     0);
    assert_non_null(strstr(out, "signature=de3b5d5f0d00f2f8675b97849e0d3d0e"
                                "fb6de984e1480847814959827d03f5e4"));

    /* Too small an output buffer is an error, not a truncated header. */
    assert_int_equal(mf_coolsms_auth_header(out, 40, "k", "secret", "date", "salt", &err), -1);
}

static void test_date_and_salt(void **state)
{
    char date[32], s1[33], s2[33];
    mf_err err = {{0}};
    size_t i;

    (void)state;
    /* python3 -c 'import datetime; print(datetime.datetime.fromtimestamp(1795608000,
     *   datetime.timezone.utc))' -> 2026-11-25 12:00:00+00:00 */
    assert_int_equal(mf_coolsms_format_date((time_t)1795608000, date, sizeof(date), &err), 0);
    assert_string_equal(date, "2026-11-25T12:00:00Z");
    assert_int_equal(mf_coolsms_make_salt(s1, sizeof(s1), &err), 0);
    assert_int_equal(mf_coolsms_make_salt(s2, sizeof(s2), &err), 0);
    assert_int_equal(strlen(s1), 32);
    for (i = 0; i < 32; i++)
        assert_non_null(
            strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", s1[i]));
    assert_string_not_equal(s1, s2);
    assert_int_equal(mf_coolsms_make_salt(s1, 32, &err), -1);
}

/* ---------------------------------------------------------------- request body */

static const char *KR_TEXT = "(광고) 홍길동님 \"특가\" 안내\n줄바꿈\t탭\\역슬래시 \x01\x1f 끝\r\n"
                             "무료수신거부 080-000-0000";

static void test_body_roundtrip(void **state)
{
    mf_coolsms_kv vars[] = {{"name", "홍길동"}, {"#{code}", "A\"1"}};
    mf_coolsms_kakao kakao = {
        .pf_id = "KA01PF",
        .template_id = "TPL-1",
        .variables = vars,
        .n_variables = 2,
        .buttons_json =
            "[{\"buttonType\":\"WL\",\"buttonName\":\"열기\",\"linkMo\":\"https://x\"}]",
        .disable_sms = 0};
    mf_coolsms_kv extra[] = {{"campaign", "봄 세일"}};
    mf_coolsms_msg m[3] = {
        {.to = "01012345678",
         .from = "0212345678",
         .text = KR_TEXT,
         .type = "LMS",
         .subject = "제목 \"따옴표\"",
         .job_id = "job-1",
         .run_id = "run-9",
         .custom_fields = extra,
         .n_custom_fields = 1},
        {.to = "01000000002",
         .from = "0212345678",
         .text = "알림톡 본문",
         .type = "ATA",
         .kakao = &kakao,
         .job_id = "job-2"},
        {.to = "01000000003", .from = "0212345678", .text = "", .job_id = "job-3"},
    };
    mf_buf b;
    mf_err err = {{0}};
    json_error_t jerr;
    json_t *j, *msgs, *e, *ko, *cf;

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_coolsms_build_body(&b, m, 3, &err), 0);
    j = json_loadb(b.data, b.len, 0, &jerr);
    if (j == NULL)
        fail_msg("body is not JSON: %s: %s", jerr.text, b.data);
    assert_true(json_is_false(json_object_get(j, "allowDuplicates")));
    assert_true(json_is_true(json_object_get(j, "showMessageList")));
    msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 3);

    e = json_array_get(msgs, 0);
    assert_string_equal(json_string_value(json_object_get(e, "to")), "01012345678");
    assert_string_equal(json_string_value(json_object_get(e, "from")), "0212345678");
    assert_string_equal(json_string_value(json_object_get(e, "text")), KR_TEXT);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "LMS");
    assert_true(json_is_false(json_object_get(e, "autoTypeDetect")));
    assert_string_equal(json_string_value(json_object_get(e, "subject")), "제목 \"따옴표\"");
    assert_null(json_object_get(e, "kakaoOptions"));
    cf = json_object_get(e, "customFields");
    assert_int_equal(json_object_size(cf), 3);
    assert_string_equal(json_string_value(json_object_get(cf, "jobId")), "job-1");
    assert_string_equal(json_string_value(json_object_get(cf, "runId")), "run-9");
    assert_string_equal(json_string_value(json_object_get(cf, "campaign")), "봄 세일");

    e = json_array_get(msgs, 1);
    ko = json_object_get(e, "kakaoOptions");
    assert_string_equal(json_string_value(json_object_get(ko, "pfId")), "KA01PF");
    assert_string_equal(json_string_value(json_object_get(ko, "templateId")), "TPL-1");
    assert_true(json_is_false(json_object_get(ko, "disableSms")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ko, "variables"), "#{name}")), "홍길동");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ko, "variables"), "#{code}")), "A\"1");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(ko, "buttons"), 0), "buttonName")),
                        "열기");
    assert_null(json_object_get(json_object_get(e, "customFields"), "runId"));

    e = json_array_get(msgs, 2);
    assert_string_equal(json_string_value(json_object_get(e, "text")), "");
    assert_null(json_object_get(e, "type")); /* provider detects */
    assert_null(json_object_get(e, "autoTypeDetect"));
    json_decref(j);
    mf_buf_free(&b);
}

static void test_body_rejects_bad_input(void **state)
{
    mf_coolsms_kakao bad_buttons = {.pf_id = "PF", .buttons_json = "{\"not\":\"array\"}"};
    mf_coolsms_kv dup_cf[] = {{"jobId", "x"}};
    mf_coolsms_msg m[2] = {
        {.to = "01012345678", .from = "021", .text = "ok", .job_id = "j1"},
        {.to = "01012345679", .from = "021", .text = "bad \xB1\xE8", .job_id = "j2"},
    };
    mf_buf b;
    mf_err err = {{0}};

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append_str(&b, "keep", &err), 0);
    assert_int_equal(mf_coolsms_build_body(&b, m, 2, &err), -1);
    assert_non_null(strstr(err.msg, "message 1: field \"text\""));
    assert_non_null(strstr(err.msg, "invalid UTF-8"));
    assert_string_equal(b.data, "keep"); /* nothing half-written */

    m[1].text = "fine";
    m[1].job_id = NULL;
    assert_int_equal(mf_coolsms_build_body(&b, m, 2, &err), -1);
    assert_non_null(strstr(err.msg, "message 1: to, from, text and job_id are required"));

    m[1].job_id = "j2";
    m[1].kakao = &bad_buttons;
    assert_int_equal(mf_coolsms_build_body(&b, m, 2, &err), -1);
    assert_non_null(strstr(err.msg, "message 1: kakao buttons_json is not a JSON array"));

    m[1].kakao = NULL;
    m[1].custom_fields = dup_cf;
    m[1].n_custom_fields = 1;
    assert_int_equal(mf_coolsms_build_body(&b, m, 2, &err), -1);
    assert_non_null(strstr(err.msg, "repeats jobId/runId"));

    assert_int_equal(mf_coolsms_build_body(&b, m, 0, &err), -1);
    assert_int_equal(mf_coolsms_build_body(&b, m, MF_COOLSMS_MAX_BATCH + 1, &err), -1);
    mf_buf_free(&b);
}

/* ---------------------------------------------------------------- send response */

static const char *const IDS[] = {"job-a", "job-b", "job-c", "job-d"};

static void test_decode_success_and_partial(void **state)
{
    /* Shape of the SDK's DetailGroupMessageResponse: failedMessageList, groupInfo,
     * messageList; job-d is mentioned nowhere and must come back UNKNOWN. */
    const char *body =
        "{\"failedMessageList\":[{\"to\":\"0101234\",\"from\":\"021\",\"type\":\"SMS\","
        "\"statusMessage\":\"수신번호 형식 오류\",\"country\":\"82\",\"messageId\":\"\","
        "\"statusCode\":\"1062\",\"accountId\":\"A\",\"customFields\":{\"jobId\":\"job-b\"}}],"
        "\"groupInfo\":{\"count\":{\"total\":4,\"registeredFailed\":1,\"registeredSuccess\":2},"
        "\"groupId\":\"G4V20261125120000ABCDEF\",\"status\":\"SENDING\"},"
        "\"messageList\":["
        "{\"messageId\":\"M4V1\",\"statusCode\":\"2000\",\"statusMessage\":\"정상 접수\","
        "\"customFields\":{\"jobId\":\"job-a\",\"runId\":\"r\"}},"
        "{\"messageId\":\"M4V3\",\"statusCode\":2000,\"statusMessage\":\"정상 접수\","
        "\"customFields\":{\"jobId\":\"job-c\"}},"
        "{\"messageId\":\"M4VX\",\"statusCode\":\"2000\","
        "\"customFields\":{\"jobId\":\"stranger\"}},"
        "{\"messageId\":\"M4VY\",\"statusCode\":\"2000\"}]}";
    mf_coolsms_outcome oc[4];
    mf_coolsms_result r;
    mf_coolsms_transport tr = {0};

    (void)state;
    mf_coolsms_decode_send(&tr, 200, -1, body, strlen(body), IDS, 4, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_OK);
    assert_int_equal(r.http_status, 200);
    assert_true(r.maybe_sent);
    assert_int_equal(r.retry_after_ms, -1);
    assert_string_equal(r.group_id, "G4V20261125120000ABCDEF");
    assert_int_equal(r.n_messages, 4);
    assert_ptr_equal(r.outcomes, oc);
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_string_equal(oc[0].message_id, "M4V1");
    assert_string_equal(oc[0].status_code, "2000");
    assert_string_equal(oc[0].status_message, "정상 접수");
    assert_int_equal(oc[1].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(oc[1].status_code, "1062");
    assert_string_equal(oc[1].status_message, "수신번호 형식 오류");
    assert_int_equal(oc[2].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_string_equal(oc[2].status_code, "2000"); /* numeric code accepted too */
    assert_int_equal(oc[3].state, MF_COOLSMS_MSG_UNKNOWN);
    assert_int_equal(r.n_accepted, 2);
    assert_int_equal(r.n_failed, 1);
    assert_int_equal(r.n_unknown, 1);
    assert_int_equal(r.n_unmatched, 2);
    assert_string_equal(r.error_code, "");
}

static void test_decode_failed_wins_and_failure_code_in_message_list(void **state)
{
    const char *body =
        "{\"messageList\":["
        "{\"messageId\":\"M1\",\"statusCode\":\"2000\",\"customFields\":{\"jobId\":\"job-a\"}},"
        "{\"messageId\":\"M2\",\"statusCode\":\"3059\",\"statusMessage\":\"변작 번호\","
        "\"customFields\":{\"jobId\":\"job-b\"}}],"
        "\"failedMessageList\":[{\"statusCode\":\"1062\",\"customFields\":{\"jobId\":\"job-a\"}}],"
        "\"groupInfo\":{\"groupId\":\"G\"}}";
    mf_coolsms_outcome oc[2];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_send(NULL, 200, -1, body, strlen(body), IDS, 2, oc, &r);
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(oc[0].status_code, "1062");
    assert_int_equal(oc[1].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(oc[1].status_code, "3059");
    assert_int_equal(r.n_failed, 2);
    assert_int_equal(r.n_unmatched, 0);
}

/* Shapes a streaming decoder could get wrong: a jobId outside customFields, escapes, a repeated
 * failure, elements that are not objects, the top-level groupId, and a body cut short after
 * complete entries (nothing of it may be applied). */
static void test_decode_stream_edges(void **state)
{
    const char *body =
        "{\"groupId\":\"GTOP\",\"failedMessageList\":["
        "{\"statusCode\":\"1062\",\"customFields\":{\"jobId\":\"job-b\"}},"
        "{\"statusCode\":\"1063\",\"customFields\":{\"jobId\":\"job-b\"}}, 7, [\"x\"], null],"
        "\"messageList\":["
        "{\"kakaoOptions\":{\"jobId\":\"job-c\",\"buttons\":[{\"jobId\":\"job-c\"}]},"
        "\"messageId\":\"M\\u00411\",\"statusCode\":\"2000\","
        "\"statusMessage\":\"\\uc815\\uc0c1 \\\"\\uc811\\uc218\\\"\","
        "\"customFields\":{\"runId\":\"r\",\"jobId\":\"job-a\",\"x\":{\"jobId\":\"job-d\"}}},"
        "{\"messageId\":\"M2\",\"statusCode\":\"2000\",\"customFields\":{\"jobId\":\"job-b\"}}]}";
    const char *cut = "{\"messageList\":[{\"messageId\":\"M1\",\"statusCode\":\"2000\","
                      "\"customFields\":{\"jobId\":\"job-a\"}},{\"messageId\":\"M2\"";
    mf_coolsms_outcome oc[4];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_send(NULL, 200, -1, body, strlen(body), IDS, 4, oc, &r);
    assert_string_equal(r.error_code, "");
    assert_string_equal(r.group_id, "GTOP");
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_string_equal(oc[0].message_id, "MA1");
    assert_string_equal(oc[0].status_message, "정상 \"접수\"");
    assert_int_equal(oc[1].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(oc[1].status_code, "1062");        /* the first failure report stays */
    assert_int_equal(oc[2].state, MF_COOLSMS_MSG_UNKNOWN); /* kakaoOptions.jobId is not it */
    assert_int_equal(oc[3].state, MF_COOLSMS_MSG_UNKNOWN); /* nor customFields.x.jobId */
    /* the second job-b failure, 7, ["x"] and null; job-b's messageList mention is ignored */
    assert_int_equal(r.n_unmatched, 4);

    mf_coolsms_decode_send(NULL, 200, -1, cut, strlen(cut), IDS, 4, oc, &r);
    assert_string_equal(r.error_code, "BAD_RESPONSE");
    assert_non_null(strstr(r.error_message, "could not parse the send response"));
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_UNKNOWN);
    assert_int_equal(r.n_unknown, 4);
    assert_int_equal(r.n_unmatched, 0);

    mf_coolsms_decode_send(NULL, 200, -1, "[1,2]", 5, IDS, 4, oc, &r);
    assert_string_equal(r.error_code, "BAD_RESPONSE");
    assert_int_equal(r.n_unknown, 4);
}

static void test_decode_4xx_json(void **state)
{
    const char *body = "{\"errorCode\":\"SignatureDoesNotMatch\","
                       "\"errorMessage\":\"서명이 일치하지 않습니다.\"}";
    mf_coolsms_outcome oc[2];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_send(NULL, 401, -1, body, strlen(body), IDS, 2, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_PERMANENT);
    assert_false(r.maybe_sent);
    assert_string_equal(r.error_code, "SignatureDoesNotMatch");
    assert_string_equal(r.error_message, "서명이 일치하지 않습니다.");
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_UNKNOWN);
    assert_int_equal(r.n_unknown, 2);
}

static void test_decode_429_and_5xx_text(void **state)
{
    const char *html = "<html>\n<body>502 Bad Gateway</body></html>";
    const char *rl = "{\"errorCode\":\"TooManyRequests\",\"errorMessage\":\"slow down\"}";
    mf_coolsms_outcome oc[1];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_send(NULL, 429, 3, rl, strlen(rl), IDS, 1, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_TRANSIENT);
    assert_false(r.maybe_sent);
    assert_int_equal(r.retry_after_ms, 3000);
    assert_string_equal(r.error_code, "TooManyRequests");

    mf_coolsms_decode_send(NULL, 502, -1, html, strlen(html), IDS, 1, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_TRANSIENT);
    assert_true(r.maybe_sent);
    assert_string_equal(r.error_code, "HTTP_502");
    assert_string_equal(r.error_message, "<html> <body>502 Bad Gateway</body></html>");

    /* Other 4xx without JSON: permanent with the start of the text. */
    mf_coolsms_decode_send(NULL, 404, -1, "nope", 4, IDS, 1, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_PERMANENT);
    assert_string_equal(r.error_code, "HTTP_404");
    assert_string_equal(r.error_message, "nope");
}

/* A hostile Retry-After must not overflow (99999999999999999 s * 1000 does not fit a long):
 * parsed with range checks and clamped. */
static void test_retry_after_is_clamped(void **state)
{
    const char *rl = "{\"errorCode\":\"TooManyRequests\",\"errorMessage\":\"slow down\"}";
    mf_coolsms_outcome oc[1];
    mf_coolsms_result r;
    time_t now = 1700000000;

    (void)state;
    mf_coolsms_decode_send(NULL, 429, 99999999999999999L, rl, strlen(rl), IDS, 1, oc, &r);
    assert_int_equal(r.retry_after_ms, MF_COOLSMS_RETRY_AFTER_MAX_S * 1000L);
    mf_coolsms_decode_send(NULL, 429, LONG_MAX, rl, strlen(rl), IDS, 1, oc, &r);
    assert_int_equal(r.retry_after_ms, MF_COOLSMS_RETRY_AFTER_MAX_S * 1000L);
    mf_coolsms_decode_send(NULL, 429, -1, rl, strlen(rl), IDS, 1, oc, &r);
    assert_int_equal(r.retry_after_ms, -1);

    assert_int_equal(mf_coolsms_retry_after_parse(" 99999999999999999\r\n", now),
                     MF_COOLSMS_RETRY_AFTER_MAX_S);
    assert_int_equal(mf_coolsms_retry_after_parse(" 999999999999999999999999999999999\r\n", now),
                     MF_COOLSMS_RETRY_AFTER_MAX_S);
    assert_int_equal(mf_coolsms_retry_after_parse(" 120\r\n", now), 120);
    assert_int_equal(mf_coolsms_retry_after_parse("0", now), 0);
    assert_int_equal(mf_coolsms_retry_after_parse(" -5\r\n", now), -1);
    assert_int_equal(mf_coolsms_retry_after_parse(" 12abc\r\n", now), -1);
    assert_int_equal(mf_coolsms_retry_after_parse(" 1e3\r\n", now), -1);
    assert_int_equal(mf_coolsms_retry_after_parse("", now), -1);
    assert_int_equal(mf_coolsms_retry_after_parse(NULL, now), -1);
    /* HTTP dates: 2023-11-14 22:13:20 UTC is now */
    assert_int_equal(mf_coolsms_retry_after_parse(" Tue, 14 Nov 2023 22:14:20 GMT\r\n", now), 60);
    assert_int_equal(mf_coolsms_retry_after_parse(" Mon, 13 Nov 2023 22:13:20 GMT\r\n", now), 0);
    assert_int_equal(mf_coolsms_retry_after_parse(" Fri, 31 Dec 9999 23:59:59 GMT\r\n", now),
                     MF_COOLSMS_RETRY_AFTER_MAX_S);
}

static void test_header_line(void **state)
{
    /* header lines as curl hands them over: n bytes, CRLF included, not terminated */
    static const char *const keep[] = {
        "Content-Type: application/json\r\n",
        "HTTP/1.1 429 Too Many Requests\r\n",
        "Retry-After: soon\r\n",
        "Retry-After:\r\n",
        "Retry-After",
        "Retry-After: 1                                                                 \r\n",
    };
    time_t now = 1700000000;
    char line[128];
    long v;

    (void)state;
    v = -7;
    mf_coolsms_header_line("Retry-After: 120\r\n", 18, now, &v);
    assert_int_equal(v, 120);
    v = -7;
    mf_coolsms_header_line("retry-after:99999999999999999\r\n", 31, now, &v);
    assert_int_equal(v, MF_COOLSMS_RETRY_AFTER_MAX_S);
    v = -7;
    mf_coolsms_header_line("RETRY-AFTER: Tue, 14 Nov 2023 22:14:20 GMT\r\n", 44, now, &v);
    assert_int_equal(v, 60);
    /* the value ends where the line does, whatever follows in memory */
    memcpy(line, "Retry-After: 3\r\n999", 20);
    v = -7;
    mf_coolsms_header_line(line, 16, now, &v);
    assert_int_equal(v, 3);
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        v = -7;
        mf_coolsms_header_line(keep[i], strlen(keep[i]), now, &v);
        assert_int_equal(v, -7);
    }
}

static void test_decode_transport_and_bad_2xx(void **state)
{
    mf_coolsms_transport timeout = {
        .curl_failed = 1, .curl_timeout = 1, .curl_sent = 1, .curl_message = "Timeout was reached"};
    mf_coolsms_transport refused = {.curl_failed = 1, .curl_message = "Connection refused"};
    mf_coolsms_outcome oc[2];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_send(&timeout, 0, -1, "", 0, IDS, 2, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_TRANSIENT);
    assert_true(r.maybe_sent);
    assert_int_equal(r.http_status, 0);
    assert_string_equal(r.error_code, "NETWORK_TIMEOUT");
    assert_string_equal(r.error_message, "Timeout was reached");
    assert_int_equal(r.n_unknown, 2);

    mf_coolsms_decode_send(&refused, 0, -1, "", 0, IDS, 2, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_TRANSIENT);
    assert_false(r.maybe_sent);
    assert_string_equal(r.error_code, "NETWORK_ERROR");

    mf_coolsms_decode_send(NULL, 200, -1, "{truncated", 10, IDS, 2, oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_OK);
    assert_string_equal(r.error_code, "BAD_RESPONSE");
    assert_int_equal(r.n_unknown, 2);
}

static void test_full_batch_build_and_match(void **state)
{
    enum { N = MF_COOLSMS_MAX_BATCH };
    mf_coolsms_msg *m = calloc(N, sizeof(*m));
    char(*ids)[24] = calloc(N, sizeof(*ids));
    const char **idp = calloc(N, sizeof(*idp));
    mf_coolsms_outcome *oc = calloc(N, sizeof(*oc));
    mf_coolsms_result r;
    mf_buf b, resp;
    mf_err err = {{0}};
    json_t *j;
    size_t i;

    (void)state;
    assert_non_null(m);
    assert_non_null(ids);
    assert_non_null(idp);
    assert_non_null(oc);
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "job-%zu", i);
        idp[i] = ids[i];
        m[i].to = "01012345678";
        m[i].from = "0212345678";
        m[i].text = KR_TEXT;
        m[i].type = "LMS";
        m[i].job_id = ids[i];
    }
    mf_buf_init(&b, 0);
    assert_int_equal(mf_coolsms_build_body(&b, m, N, &err), 0);
    j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "messages")), N);
    json_decref(j);

    /* A response that lists the messages in reverse order, every 1000th one as failed and
     * leaves out job-5: matching is by jobId, not by position. */
    mf_buf_init(&resp, 0);
    assert_int_equal(mf_buf_append_str(&resp,
                                       "{\"groupInfo\":{\"groupId\":\"G\"},"
                                       "\"failedMessageList\":[",
                                       &err),
                     0);
    for (i = 0; i < N; i += 1000)
        assert_int_equal(mf_buf_printf(&resp, &err,
                                       "%s{\"statusCode\":\"1011\","
                                       "\"customFields\":{\"jobId\":\"job-%zu\"}}",
                                       i ? "," : "", i),
                         0);
    assert_int_equal(mf_buf_append_str(&resp, "],\"messageList\":[", &err), 0);
    for (i = N; i-- > 0;) {
        if (i % 1000 == 0 || i == 5)
            continue;
        assert_int_equal(mf_buf_printf(&resp, &err,
                                       "%s{\"messageId\":\"M%zu\","
                                       "\"statusCode\":\"2000\",\"customFields\":"
                                       "{\"jobId\":\"job-%zu\"}}",
                                       i == N - 1 ? "" : ",", i, i),
                         0);
    }
    assert_int_equal(mf_buf_append_str(&resp, "]}", &err), 0);
    mf_coolsms_decode_send(NULL, 200, -1, resp.data, resp.len, idp, N, oc, &r);
    assert_int_equal(r.n_failed, N / 1000);
    assert_int_equal(r.n_unknown, 1);
    assert_int_equal(r.n_accepted, N - N / 1000 - 1);
    assert_int_equal(oc[5].state, MF_COOLSMS_MSG_UNKNOWN);
    assert_int_equal(oc[3000].state, MF_COOLSMS_MSG_FAILED);
    assert_int_equal(oc[9999].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_string_equal(oc[9999].message_id, "M9999");
    assert_string_equal(oc[1234].message_id, "M1234");
    mf_buf_free(&resp);
    mf_buf_free(&b);
    free(m);
    free(ids);
    free(idp);
    free(oc);
}

/* ---------------------------------------------------------------- list response */

static void test_decode_list(void **state)
{
    const char *body =
        "{\"startKey\":null,\"nextKey\":\"M4V2\",\"limit\":2,\"messageList\":{"
        "\"M4V1\":{\"messageId\":\"M4V1\",\"groupId\":\"G1\",\"to\":\"01012345678\","
        "\"from\":\"0212345678\",\"type\":\"SMS\",\"statusCode\":\"4000\","
        "\"statusMessage\":\"수신 완료\",\"customFields\":{\"jobId\":\"job-a\",\"runId\":\"r1\"},"
        "\"dateCreated\":\"2026-11-25T12:00:00.000Z\","
        "\"dateProcessed\":\"2026-11-25T12:00:01.000Z\","
        "\"dateReceived\":null},"
        "\"M4V2\":{\"groupId\":\"G1\",\"to\":\"01000000000\",\"statusCode\":\"3059\","
        "\"reason\":\"변작된 번호\",\"customFields\":null}}}";
    mf_coolsms_list_result lr;
    mf_err err = {{0}};

    (void)state;
    memset(&lr, 0, sizeof(lr));
    assert_int_equal(mf_coolsms_decode_list(body, strlen(body), &lr, &err), 0);
    assert_string_equal(lr.next_key, "M4V2");
    assert_int_equal(lr.n_items, 2);
    assert_string_equal(lr.items[0].message_id, "M4V1");
    assert_string_equal(lr.items[0].to, "01012345678");
    assert_string_equal(lr.items[0].from, "0212345678");
    assert_string_equal(lr.items[0].type, "SMS");
    assert_string_equal(lr.items[0].status_code, "4000");
    assert_string_equal(lr.items[0].status_message, "수신 완료");
    assert_string_equal(lr.items[0].job_id, "job-a");
    assert_string_equal(lr.items[0].run_id, "r1");
    assert_string_equal(lr.items[0].date_processed, "2026-11-25T12:00:01.000Z");
    assert_string_equal(lr.items[0].date_received, "");
    assert_string_equal(lr.items[1].message_id, "M4V2"); /* from the map key */
    assert_string_equal(lr.items[1].status_message, "변작된 번호");
    assert_string_equal(lr.items[1].job_id, "");
    mf_coolsms_list_result_free(&lr);

    memset(&lr, 0, sizeof(lr));
    assert_int_equal(mf_coolsms_decode_list("{\"nextKey\":null,\"messageList\":{}}", 33, &lr, &err),
                     0);
    assert_int_equal(lr.n_items, 0);
    assert_string_equal(lr.next_key, "");
    mf_coolsms_list_result_free(&lr);
    assert_int_equal(mf_coolsms_decode_list("<html>", 6, &lr, &err), -1);
    mf_coolsms_list_result_free(&lr);
}

/* ---------------------------------------------------------------- handle */

static void test_new_validates_config(void **state)
{
    mf_coolsms_config cfg = {.base_url = "ftp://x", .api_key = "k", .api_secret = "TOPSECRET"};
    mf_err err = {{0}};
    mf_coolsms *h;

    (void)state;
    assert_null(mf_coolsms_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "is not an http(s) URL"));
    assert_null(strstr(err.msg, "TOPSECRET")); /* the secret is never in a message */
    cfg.base_url = "http://127.0.0.1:1/";
    cfg.api_key = "key\r\nX-Injected: 1";
    assert_null(mf_coolsms_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "control characters"));
    cfg.api_key = "k";
    cfg.api_secret = "";
    assert_null(mf_coolsms_new(&cfg, &err));
    cfg.api_secret = "s";
    cfg.max_in_flight = 1000;
    assert_null(mf_coolsms_new(&cfg, &err));
    cfg.max_in_flight = 2;
    h = mf_coolsms_new(&cfg, &err);
    assert_non_null(h);
    assert_int_equal(mf_coolsms_free_slots(h), 2);
    assert_int_equal(mf_coolsms_in_flight(h), 0);
    mf_coolsms_destroy(h);
}

/* The group add answer: resultList entries matched by customFields jobId when echoed, else by
 * `to`; a registration error fails its message; an unknown recipient is not matched. */
static void test_decode_group_add(void **state)
{
    static const char *const ids[3] = {"job-a", "job-b", "job-c"};
    static const char *const tos[3] = {"01011112222", "01033334444", "01055556666"};
    const char *body =
        "{\"errorCount\":\"1\",\"resultList\":["
        "{\"to\":\"01033334444\",\"from\":\"0212345678\",\"type\":\"SMS\",\"country\":\"82\","
        "\"messageId\":\"M2\",\"statusCode\":\"2000\",\"statusMessage\":\"ok\","
        "\"accountId\":\"1\"},"
        "{\"to\":\"01099999999\",\"messageId\":\"MX\",\"statusCode\":\"2000\"},"
        "{\"to\":\"01011112222\",\"messageId\":\"M1\",\"statusCode\":\"1062\","
        "\"statusMessage\":\"unregistered sender\",\"customFields\":{\"jobId\":\"job-a\"}}]}";
    mf_coolsms_outcome oc[3];
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_op(MF_COOLSMS_OP_GROUP_ADD, NULL, 200, -1, body, strlen(body), ids, tos, 3,
                         oc, &r);
    assert_int_equal(r.cls, MF_COOLSMS_OK);
    assert_int_equal(r.op, MF_COOLSMS_OP_GROUP_ADD);
    assert_int_equal(oc[0].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(oc[0].status_code, "1062");
    assert_int_equal(oc[1].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_string_equal(oc[1].message_id, "M2");
    assert_int_equal(oc[2].state, MF_COOLSMS_MSG_UNKNOWN);
    assert_int_equal(r.n_unmatched, 1);
    assert_int_equal(r.n_unknown, 1);
}

/* A group answer gives the group's id and status. */
static void test_decode_group_answer(void **state)
{
    const char *body = "{\"count\":{\"total\":0},\"log\":[{\"message\":\"x\"}],"
                       "\"status\":\"PENDING\",\"groupId\":\"G4V2026\",\"customFields\":{}}";
    mf_coolsms_result r;

    (void)state;
    mf_coolsms_decode_op(MF_COOLSMS_OP_GROUP_CREATE, NULL, 200, -1, body, strlen(body), NULL, NULL,
                         0, NULL, &r);
    assert_int_equal(r.cls, MF_COOLSMS_OK);
    assert_string_equal(r.group_id, "G4V2026");
    assert_string_equal(r.group_status, "PENDING");
    mf_coolsms_decode_op(MF_COOLSMS_OP_GROUP_SEND, NULL, 409, -1,
                         "{\"errorCode\":\"AlreadySent\",\"errorMessage\":\"sent\"}", 49, NULL,
                         NULL, 0, NULL, &r);
    assert_int_equal(r.cls, MF_COOLSMS_PERMANENT);
    assert_string_equal(r.error_code, "AlreadySent");
    /* a resent copy of a request the provider has seen: in doubt, not refused */
    mf_coolsms_decode_op(MF_COOLSMS_OP_GROUP_ADD, NULL, 403, -1,
                         "{\"errorCode\":\"DuplicatedSignature\",\"errorMessage\":\"x\"}", 54, NULL,
                         NULL, 0, NULL, &r);
    assert_int_equal(r.cls, MF_COOLSMS_TRANSIENT);
    assert_true(r.maybe_sent);
    mf_coolsms_decode_op(MF_COOLSMS_OP_GROUP_ADD, NULL, 403, -1,
                         "{\"errorCode\":\"SignatureDoesNotMatch\",\"errorMessage\":\"x\"}", 56,
                         NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.cls, MF_COOLSMS_PERMANENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_header_vector),
        cmocka_unit_test(test_date_and_salt),
        cmocka_unit_test(test_body_roundtrip),
        cmocka_unit_test(test_body_rejects_bad_input),
        cmocka_unit_test(test_decode_success_and_partial),
        cmocka_unit_test(test_decode_failed_wins_and_failure_code_in_message_list),
        cmocka_unit_test(test_decode_stream_edges),
        cmocka_unit_test(test_decode_4xx_json),
        cmocka_unit_test(test_decode_429_and_5xx_text),
        cmocka_unit_test(test_retry_after_is_clamped),
        cmocka_unit_test(test_decode_transport_and_bad_2xx),
        cmocka_unit_test(test_full_batch_build_and_match),
        cmocka_unit_test(test_decode_list),
        cmocka_unit_test(test_decode_group_add),
        cmocka_unit_test(test_header_line),
        cmocka_unit_test(test_decode_group_answer),
        cmocka_unit_test(test_new_validates_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

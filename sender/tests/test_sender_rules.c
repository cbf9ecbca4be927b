/* test_sender_rules: the sender's pure rules: type decision, advertising text, quiet hours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pgarr.h"
#include "sender_claims.h"
#include "sender_retryq.h"
#include "sender_rules.h"

static struct mf_euckr *counter(void)
{
    mf_err err;
    struct mf_euckr *c = sender_rules_counter_new(&err);

    assert_non_null(c);
    return c;
}

/* n Hangul syllables (2 EUC-KR bytes each) into buf. */
static const char *hangul(char *buf, size_t cap, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        memcpy(buf + o, "가", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static void test_decide_by_euckr_bytes(void **state)
{
    struct mf_euckr *c = counter();
    char buf[8192];
    const char *code;
    sender_kind k;
    mf_err err;

    (void)state;
    /* 45 Hangul = 90 bytes: SMS, even from an "lms" template */
    assert_int_equal(
        sender_rules_decide(c, "lms", hangul(buf, sizeof(buf), 45), NULL, &k, &code, &err), 0);
    assert_int_equal(k, SENDER_KIND_SMS);
    /* 46 Hangul = 92 bytes (only 46 characters!): LMS */
    assert_int_equal(
        sender_rules_decide(c, "sms", hangul(buf, sizeof(buf), 46), "제목", &k, &code, &err), 0);
    assert_int_equal(k, SENDER_KIND_LMS);
    /* 1000 Hangul = 2000 bytes: still LMS; 1001 = 2002: TOO_LONG, no truncation */
    assert_int_equal(
        sender_rules_decide(c, "sms", hangul(buf, sizeof(buf), 1000), NULL, &k, &code, &err), 0);
    assert_int_equal(k, SENDER_KIND_LMS);
    assert_int_equal(
        sender_rules_decide(c, "sms", hangul(buf, sizeof(buf), 1001), NULL, &k, &code, &err), -1);
    assert_string_equal(code, SENDER_CODE_TOO_LONG);
    /* subject over 40 bytes on an LMS */
    assert_int_equal(sender_rules_decide(c, "lms", hangul(buf, sizeof(buf), 60),
                                         "이십일자를넘는아주긴제목입니다정말로길어요", &k, &code,
                                         &err),
                     -1);
    assert_string_equal(code, SENDER_CODE_TOO_LONG);
    /* 90 ASCII bytes: SMS; an emoji has no EUC-KR form: RENDER_FAILED */
    memset(buf, 'a', 90);
    buf[90] = '\0';
    assert_int_equal(sender_rules_decide(c, "sms", buf, NULL, &k, &code, &err), 0);
    assert_int_equal(k, SENDER_KIND_SMS);
    assert_int_equal(sender_rules_decide(c, "sms", "hi \xF0\x9F\x98\x80", NULL, &k, &code, &err),
                     -1);
    assert_string_equal(code, SENDER_CODE_RENDER);
    /* kakao passes through; unknown types are a config error */
    assert_int_equal(
        sender_rules_decide(c, "kakao", hangul(buf, sizeof(buf), 1500), NULL, &k, &code, &err), 0);
    assert_int_equal(k, SENDER_KIND_KAKAO);
    assert_int_equal(sender_rules_decide(c, "mms", "x", NULL, &k, &code, &err), -1);
    assert_string_equal(code, SENDER_CODE_BAD_CONFIG);
    sender_rules_counter_free(c);
}

static const char *ad(mf_buf *b, const char *text, const char *name, const char *opt)
{
    mf_err err;

    mf_buf_reset(b);
    if (sender_rules_advertise(text, name, opt, b, &err) != 0)
        return NULL;
    return b->data;
}

static void test_advertising(void **state)
{
    mf_buf b;
    mf_err err;

    (void)state;
    mf_buf_init(&b, 0);
    assert_string_equal(ad(&b, "할인 쿠폰 도착", "샵", "무료수신거부 080-123-4567"),
                        "(광고)샵\n할인 쿠폰 도착\n무료수신거부 080-123-4567");
    /* already lawful: unchanged */
    assert_string_equal(ad(&b, "(광고)샵\n쿠폰\n무료수신거부 080-123-4567", "샵",
                           "무료수신거부 080-123-4567"),
                        "(광고)샵\n쿠폰\n무료수신거부 080-123-4567");
    /* marker present, name missing: inserted after the marker */
    assert_string_equal(ad(&b, "(광고) 쿠폰 무료수신거부 080-1", "샵", NULL),
                        "(광고)샵\n쿠폰 무료수신거부 080-1");
    /* no sender name configured: marker and a space */
    assert_string_equal(ad(&b, "쿠폰", NULL, "무료수신거부 080-9"),
                        "(광고) 쿠폰\n무료수신거부 080-9");
    /* no opt-out anywhere: cannot be sent lawfully */
    mf_buf_reset(&b);
    assert_int_equal(sender_rules_advertise("쿠폰", "샵", NULL, &b, &err), -1);
    assert_non_null(strstr(err.msg, "opt-out"));
    mf_buf_free(&b);
}

/* 2026-11-25 00:00 KST = 2026-11-24 15:00 UTC */
#define KST_MIDNIGHT_MS 1764000000000LL
#define H (3600LL * 1000)

static void test_quiet_hours(void **state)
{
    int64_t resume = 0;
    int64_t day = KST_MIDNIGHT_MS; /* a KST midnight (checked below) */

    (void)state;
    /* find the KST midnight nearest the constant so the test does not depend on it */
    day -= (day + 9 * H) % (24 * H);
    assert_int_equal(sender_rules_quiet_hours(day + 12 * H, &resume), 0);
    assert_int_equal(sender_rules_quiet_hours(day + 8 * H, &resume), 0);
    assert_int_equal(sender_rules_quiet_hours(day + 21 * H - 1, &resume), 0);
    assert_int_equal(sender_rules_quiet_hours(day + 21 * H, &resume), 1);
    assert_int_equal(resume, day + 24 * H + 8 * H); /* next morning 08:00 */
    assert_int_equal(sender_rules_quiet_hours(day + 23 * H + 59 * 60000, &resume), 1);
    assert_int_equal(resume, day + 32 * H);
    assert_int_equal(sender_rules_quiet_hours(day + 3 * H, &resume), 1);
    assert_int_equal(resume, day + 8 * H); /* same morning */
    assert_int_equal(sender_rules_quiet_hours(day + 8 * H - 1, &resume), 1);
    assert_int_equal(resume, day + 8 * H);
}

/* The advertising windows at their edges: SMS/LMS night 21:00-08:00 unless the recipient
 * consented; Kakao only 08:00-20:00, consent or not. */
static void test_ad_window(void **state)
{
    int64_t resume = 0, day = KST_MIDNIGHT_MS, m = 60000;

    (void)state;
    day -= (day + 9 * H) % (24 * H);
    /* text, no consent: 20:59 goes, 21:00 and 07:59 wait for 08:00, 08:00 goes */
    assert_int_equal(sender_rules_ad_window(day + 20 * H + 59 * m, 0, 0, &resume), 0);
    assert_int_equal(sender_rules_ad_window(day + 21 * H, 0, 0, &resume), 1);
    assert_int_equal(resume, day + 32 * H);
    assert_int_equal(sender_rules_ad_window(day + 7 * H + 59 * m, 0, 0, &resume), 1);
    assert_int_equal(resume, day + 8 * H);
    assert_int_equal(sender_rules_ad_window(day + 8 * H, 0, 0, &resume), 0);
    /* text, consent: every minute goes */
    resume = 0;
    assert_int_equal(sender_rules_ad_window(day + 20 * H + 59 * m, 0, 1, &resume), 0);
    assert_int_equal(sender_rules_ad_window(day + 21 * H, 0, 1, &resume), 0);
    assert_int_equal(sender_rules_ad_window(day + 7 * H + 59 * m, 0, 1, &resume), 0);
    assert_int_equal(sender_rules_ad_window(day + 8 * H, 0, 1, &resume), 0);
    assert_int_equal(resume, 0);
    /* Kakao: 19:59 goes, 20:00 waits (consent does not count), 07:59 waits, 08:00 goes */
    assert_int_equal(sender_rules_ad_window(day + 19 * H + 59 * m, 1, 1, &resume), 0);
    assert_int_equal(sender_rules_ad_window(day + 20 * H, 1, 1, &resume), 1);
    assert_int_equal(resume, day + 32 * H);
    assert_int_equal(sender_rules_ad_window(day + 20 * H + 59 * m, 1, 0, &resume), 1);
    assert_int_equal(sender_rules_ad_window(day + 7 * H + 59 * m, 1, 1, &resume), 1);
    assert_int_equal(resume, day + 8 * H);
    assert_int_equal(sender_rules_ad_window(day + 8 * H, 1, 0, &resume), 0);
}

static void test_backoff(void **state)
{
    (void)state;
    for (uint32_t r = 0; r < 5000; r += 7) {
        long long d1 = sender_rules_backoff_ms(1, 200, 10000, -1, r);
        long long d6 = sender_rules_backoff_ms(6, 200, 10000, -1, r * 2654435761u);
        long long d20 = sender_rules_backoff_ms(20, 200, 10000, -1, r * 40503u);

        assert_true(d1 >= 100 && d1 <= 200);
        assert_true(d6 >= 100 && d6 <= 6400);
        assert_true(d20 >= 100 && d20 <= 10000);
    }
    /* Retry-After raises the delay, the cap still holds */
    assert_int_equal(sender_rules_backoff_ms(1, 200, 10000, 3000, 0), 3000);
    assert_int_equal(sender_rules_backoff_ms(1, 200, 10000, 60000, 0), 10000);
}

static void test_pgarr(void **state)
{
    mf_pgarr a;
    mf_uuid u;
    mf_err err;

    (void)state;
    mf_pgarr_init(&a);
    assert_int_equal(mf_uuid_parse("0193a1b2-0000-8000-8000-000000000001", &u, &err), 0);
    mf_pgarr_reset(&a);
    assert_int_equal(mf_pgarr_add(&a, "a \"q\" \\ 한글,{}", &err), 0);
    assert_int_equal(mf_pgarr_add(&a, NULL, &err), 0);
    assert_int_equal(mf_pgarr_add_uuid(&a, &u, &err), 0);
    assert_int_equal(mf_pgarr_add_ll(&a, -5, &err), 0);
    assert_non_null(mf_pgarr_finish(&a, &err));
    assert_string_equal(a.buf.data, "{\"a \\\"q\\\" \\\\ 한글,{}\",NULL,"
                                    "\"0193a1b2-0000-8000-8000-000000000001\",\"-5\"}");
    mf_pgarr_free(&a);
}

static mf_kafka_msg kmsg(int32_t part, int64_t off, const char *val)
{
    mf_kafka_msg m;

    memset(&m, 0, sizeof(m));
    m.topic = "r";
    m.partition = part;
    m.offset = off;
    m.key = "k";
    m.key_len = 1;
    m.val = val;
    m.val_len = strlen(val);
    return m;
}

/* Held retry jobs: the stored offset never passes a held one; due jobs come back. */
static void test_retryq(void **state)
{
    sender_retryq q;
    mf_kafka_msg m, out[4];
    mf_uuid run = {{1}};
    mf_err err;

    (void)state;
    memset(&q, 0, sizeof(q));
    assert_int_equal(sender_retryq_position(&q, 0), -1);
    assert_int_equal(sender_retryq_done(&q, 0, 4, &err), 0);
    assert_int_equal(sender_retryq_position(&q, 0), 5);
    m = kmsg(0, 5, "late");
    assert_int_equal(sender_retryq_hold(&q, &m, 10000, &run, 0, &err), 0);
    m = kmsg(0, 6, "soon");
    assert_int_equal(sender_retryq_hold(&q, &m, 2000, &run, 0, &err), 0);
    assert_int_equal(sender_retryq_done(&q, 0, 7, &err), 0); /* processed after the held ones */
    assert_int_equal(sender_retryq_position(&q, 0), 5);
    assert_int_equal(sender_retryq_next_due(&q), 2000);
    assert_int_equal(sender_retryq_take_due(&q, 1999, "r", out, 4), 0);
    assert_int_equal(sender_retryq_take_due(&q, 2000, "r", out, 4), 1);
    assert_int_equal(out[0].offset, 6);
    assert_memory_equal(out[0].val, "soon", 4);
    assert_null(out[0].rkm);
    assert_int_equal(sender_retryq_done(&q, 0, 6, &err), 0);
    sender_retryq_batch_end(&q);
    assert_int_equal(sender_retryq_held(&q), 1);
    assert_int_equal(sender_retryq_position(&q, 0), 5); /* offset 5 still held */
    assert_int_equal(sender_retryq_take_due(&q, 10000, "r", out, 4), 1);
    assert_int_equal(sender_retryq_done(&q, 0, 5, &err), 0);
    sender_retryq_batch_end(&q);
    assert_int_equal(sender_retryq_position(&q, 0), 8); /* everything up to 7 is done */
    m = kmsg(1, 3, "x");
    assert_int_equal(sender_retryq_hold(&q, &m, 5000, &run, 0, &err), 0);
    sender_retryq_drop_partition(&q, 1);
    assert_int_equal(sender_retryq_held(&q), 0);
    assert_int_equal(sender_retryq_position(&q, 1), -1);
    sender_retryq_free(&q);
}

/* The runs named by the parking test: A's workflow is paused, B's run cancelled. */
static const mf_uuid RUN_A = {{0xa}}, RUN_B = {{0xb}}, RUN_C = {{0xc}};

static int park_state(void *arg, const mf_uuid *run)
{
    (void)arg;
    if (mf_uuid_equal(run, &RUN_A))
        return SENDER_RETRYQ_PARK;
    if (mf_uuid_equal(run, &RUN_B))
        return SENDER_RETRYQ_NOW;
    return SENDER_RETRYQ_GO;
}

static int go_state(void *arg, const mf_uuid *run)
{
    (void)arg;
    (void)run;
    return SENDER_RETRYQ_GO;
}

/* Held jobs of a paused workflow stay (parked, even when due; the offset stays at them), a
 * cancelled run's come at once, others as due; a job handed to a batch can be parked again. */
static void test_retryq_park(void **state)
{
    sender_retryq q;
    mf_kafka_msg m, out[4];
    mf_err err;

    (void)state;
    memset(&q, 0, sizeof(q));
    m = kmsg(0, 10, "a");
    assert_int_equal(sender_retryq_hold(&q, &m, 1000, &RUN_A, 0, &err), 0);
    m = kmsg(0, 11, "b");
    assert_int_equal(sender_retryq_hold(&q, &m, 90000, &RUN_B, 0, &err), 0);
    m = kmsg(0, 12, "c");
    assert_int_equal(sender_retryq_hold(&q, &m, 5000, &RUN_C, 0, &err), 0);
    sender_retryq_mark(&q, park_state, NULL);
    assert_int_equal(sender_retryq_parked(&q), 1);
    assert_int_equal(sender_retryq_next_due(&q), 0); /* B: cancelled, due at once */
    assert_int_equal(sender_retryq_take_due(&q, 2000, "r", out, 4), 1);
    assert_memory_equal(out[0].val, "b", 1);
    sender_retryq_batch_end(&q);
    assert_int_equal(sender_retryq_next_due(&q), 5000); /* A is parked although due */
    assert_int_equal(sender_retryq_take_due(&q, 6000, "r", out, 4), 1);
    assert_memory_equal(out[0].val, "c", 1);
    /* C turned out paused while in the batch: back to the queue, parked */
    assert_int_equal(sender_retryq_keep(&q, 0, 12), 1);
    assert_int_equal(sender_retryq_keep(&q, 0, 12), 0);
    sender_retryq_batch_end(&q);
    assert_int_equal(sender_retryq_held(&q), 2);
    assert_int_equal(sender_retryq_parked(&q), 2);
    assert_int_equal(sender_retryq_position(&q, 0), 10);
    assert_int_equal(sender_retryq_take_due(&q, 99999, "r", out, 4), 0);
    assert_int_equal(sender_retryq_next_due(&q), INT64_MAX);
    /* resumed */
    sender_retryq_mark(&q, go_state, NULL);
    assert_int_equal(sender_retryq_parked(&q), 0);
    assert_int_equal(sender_retryq_take_due(&q, 99999, "r", out, 4), 2);
    sender_retryq_batch_end(&q);
    assert_int_equal(sender_retryq_held(&q), 0);
    m = kmsg(0, 13, "p");
    assert_int_equal(sender_retryq_hold(&q, &m, 0, &RUN_C, 1, &err), 0); /* parked at once */
    assert_int_equal(sender_retryq_take_due(&q, 99999, "r", out, 4), 0);
    sender_retryq_free(&q);
}

static void test_released_marker(void **state)
{
    int n = -1, unknown = -1;

    (void)state;
    assert_int_equal(sender_claims_parse_released("retry:3", &n, &unknown), 1);
    assert_int_equal(n, 3);
    assert_int_equal(unknown, 0);
    assert_int_equal(sender_claims_parse_released("retry?:12", &n, &unknown), 1);
    assert_int_equal(n, 12);
    assert_int_equal(unknown, 1);
    assert_int_equal(sender_claims_parse_released("retry:", &n, &unknown), 0);
    assert_int_equal(sender_claims_parse_released("retry:3x", &n, &unknown), 0);
    assert_int_equal(sender_claims_parse_released("host-123", &n, &unknown), 0);
    assert_int_equal(sender_claims_parse_released("", &n, &unknown), 0);
}

/* Templates over a bound are refused before any job renders them: a 4 MB template cost
 * 4 MB per job in the batch arena, a million placeholders 0.8 s of CPU per job. */
static void test_template_bounds(void **state)
{
    static char big[4 * 1024 * 1024 + 1];
    char buf[SENDER_TEMPLATE_CONTENT_MAX + 2];
    mf_err err = {{0}};

    (void)state;
    memset(buf, 'a', SENDER_TEMPLATE_CONTENT_MAX);
    buf[SENDER_TEMPLATE_CONTENT_MAX] = '\0';
    assert_int_equal(sender_rules_check_template(buf, "#{name}님 안내", &err), 0);
    buf[SENDER_TEMPLATE_CONTENT_MAX] = 'a';
    buf[SENDER_TEMPLATE_CONTENT_MAX + 1] = '\0';
    assert_int_equal(sender_rules_check_template(buf, NULL, &err), -1);
    assert_string_equal(err.msg, "template content is 16385 bytes, over the 16384-byte limit");
    memset(big, 'x', sizeof(big) - 1);
    assert_int_equal(sender_rules_check_template(big, NULL, &err), -1);
    assert_string_equal(err.msg, "template content is 4194304 bytes, over the 16384-byte limit");
    /* the subject */
    memset(buf, 's', SENDER_TEMPLATE_SUBJECT_MAX + 1);
    buf[SENDER_TEMPLATE_SUBJECT_MAX + 1] = '\0';
    assert_int_equal(sender_rules_check_template("hi", buf, &err), -1);
    assert_string_equal(err.msg, "message subject is 1025 bytes, over the 1024-byte limit");
    /* placeholders: 100 pass, 101 do not (content and subject together) */
    for (size_t i = 0; i < 100; i++)
        memcpy(buf + i * 4, "#{a}", 4);
    buf[400] = '\0';
    assert_int_equal(sender_rules_check_template(buf, NULL, &err), 0);
    assert_int_equal(sender_rules_check_template(buf, "#{b}", &err), -1);
    assert_string_equal(err.msg, "template has more than 100 placeholders");
    /* a million placeholders are refused as fast as 101 */
    for (size_t i = 0; i + 4 <= sizeof(big) - 1; i += 4)
        memcpy(big + i, "#{a}", 4);
    big[SENDER_TEMPLATE_CONTENT_MAX] = '\0';
    assert_int_equal(sender_rules_check_template(big, NULL, &err), -1);
    assert_string_equal(err.msg, "template has more than 100 placeholders");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_by_euckr_bytes),
        cmocka_unit_test(test_advertising),
        cmocka_unit_test(test_quiet_hours),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_pgarr),
        cmocka_unit_test(test_retryq),
        cmocka_unit_test(test_retryq_park),
        cmocka_unit_test(test_released_marker),
        cmocka_unit_test(test_template_bounds),
        cmocka_unit_test(test_ad_window),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

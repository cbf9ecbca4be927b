/* test_codec: round trips, every rejection path and JSON printing of the msgpack wire format. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_codec.h"

typedef struct fx {
    msgpack_sbuffer sb;
    mf_codec *codec;
    mf_buf json;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    msgpack_sbuffer_init(&f->sb);
    f->codec = mf_codec_new(NULL);
    assert_non_null(f->codec);
    mf_buf_init(&f->json, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    msgpack_sbuffer_destroy(&f->sb);
    mf_codec_free(f->codec);
    mf_buf_free(&f->json);
    free(f);
    return 0;
}

static mf_uuid uuid_of(const char *text)
{
    mf_uuid u;

    assert_int_equal(mf_uuid_parse(text, &u, NULL), 0);
    return u;
}

static const mf_codec_kv job_vars[] = {{"이름", "홍길동"}, {"coupon", "SAVE10"}};

static mf_job sample_job(void)
{
    mf_job j;

    memset(&j, 0, sizeof(j));
    j.id = uuid_of("0193610c-0d7b-8a1b-94ea-e9a7fcfacf59");
    j.run = uuid_of("0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5b");
    j.wf = uuid_of("11111111-2222-4333-8444-555555555555");
    j.tpl = uuid_of("66666666-7777-4888-9999-aaaaaaaaaaaa");
    j.attempt = 2;
    j.to = "01012345678";
    j.name = "홍길동";
    j.vars.items = job_vars;
    j.vars.n = 2;
    j.not_before_ms = 1732525200000;
    j.created_ms = 1732500000123;
    return j;
}

static void test_job_round_trip(void **state)
{
    fx *f = *state;
    mf_job in = sample_job(), out;
    mf_err err;
    char *copy;

    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
    /* decode from a copy that is wiped afterwards: decoded values must not point into it */
    copy = malloc(f->sb.size);
    assert_non_null(copy);
    memcpy(copy, f->sb.data, f->sb.size);
    assert_int_equal(mf_codec_decode_job(f->codec, copy, f->sb.size, &out, &err), 0);
    memset(copy, 0, f->sb.size);
    free(copy);
    assert_true(mf_uuid_equal(&in.id, &out.id));
    assert_true(mf_uuid_equal(&in.run, &out.run));
    assert_true(mf_uuid_equal(&in.wf, &out.wf));
    assert_true(mf_uuid_equal(&in.tpl, &out.tpl));
    assert_int_equal(out.attempt, 2);
    assert_string_equal(out.to, "01012345678");
    assert_string_equal(out.name, "홍길동");
    assert_int_equal(out.vars.n, 2);
    assert_string_equal(mf_codec_map_get(&out.vars, "이름"), "홍길동");
    assert_string_equal(mf_codec_map_get(&out.vars, "coupon"), "SAVE10");
    assert_null(mf_codec_map_get(&out.vars, "missing"));
    assert_true(out.not_before_ms == 1732525200000);
    assert_true(out.created_ms == 1732500000123);
}

/* The optional flags nc, rs and tx: absent decode as 0, written only when 1, round-trip, and
 * anything but 0 or 1 is refused by the encoder. */
static void test_job_optional_flags(void **state)
{
    fx *f = *state;
    mf_job in = sample_job(), out;
    mf_err err;
    size_t plain;

    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
    plain = f->sb.size;
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_int_equal(out.night_consent + out.rate_reserved + out.lane_tx, 0);
    msgpack_sbuffer_clear(&f->sb);
    in.night_consent = in.rate_reserved = in.lane_tx = 1;
    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
    assert_int_equal(f->sb.size, plain + 3 * 4); /* three fixstr(2) keys and fixint 1 */
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_int_equal(out.night_consent, 1);
    assert_int_equal(out.rate_reserved, 1);
    assert_int_equal(out.lane_tx, 1);
    msgpack_sbuffer_clear(&f->sb);
    in.lane_tx = 2;
    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), -1);
    assert_non_null(strstr(err.msg, "tx must be 0 or 1"));
}

static void test_job_encoding_is_stable(void **state)
{
    /* The exact bytes are the contract documented in schemas/kafka/job.md. */
    fx *f = *state;
    mf_job j = sample_job();
    mf_err err;
    static const uint8_t head[] = {0x8b, 0xa1, 'v', 0x01, 0xa2, 'i', 'd', 0xc4, 0x10, 0x01, 0x93};

    j.vars.n = 0;
    j.name = "";
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), 0);
    assert_true(f->sb.size > sizeof(head));
    assert_memory_equal(f->sb.data, head, sizeof(head));
    /* encoding again into the same buffer overwrites, does not append */
    {
        size_t first = f->sb.size;

        assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), 0);
        assert_int_equal(f->sb.size, first);
    }
}

static void test_batch_lifetime(void **state)
{
    /* values of many decodes stay valid together until reset */
    fx *f = *state;
    enum { N = 500 };
    mf_job in = sample_job(), out[N];
    char phone[16];
    mf_err err;
    int i;

    for (i = 0; i < N; i++) {
        snprintf(phone, sizeof(phone), "010%08d", i);
        in.to = phone;
        in.attempt = i;
        assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
        assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out[i], &err), 0);
    }
    for (i = 0; i < N; i++) {
        snprintf(phone, sizeof(phone), "010%08d", i);
        assert_string_equal(out[i].to, phone);
        assert_int_equal(out[i].attempt, i);
        assert_string_equal(mf_codec_map_get(&out[i].vars, "이름"), "홍길동");
    }
    mf_codec_reset(f->codec);
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out[0], &err), 0);
    assert_string_equal(out[0].to, "01000000499");
}

static mf_result sample_result(void)
{
    mf_result r;

    memset(&r, 0, sizeof(r));
    r.id = uuid_of("0193610c-0d7b-8a1b-94ea-e9a7fcfacf59");
    r.run = uuid_of("0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5b");
    r.wf = uuid_of("11111111-2222-4333-8444-555555555555");
    r.tpl = uuid_of("66666666-7777-4888-9999-aaaaaaaaaaaa");
    r.attempt = 1;
    r.status = MF_RESULT_DELIVERED;
    r.to = "01012345678";
    r.name = "김철수";
    r.type = MF_TYPE_KAKAO;
    r.channel = MF_TYPE_LMS;
    r.text = "[알림] 김철수님, 주문하신 상품이 발송되었습니다.";
    r.vars.items = job_vars;
    r.vars.n = 1;
    r.provider_msg_id = "M4V20241125123456ABCDEFGHIJKLMN";
    r.group_id = "G4V20241125123456ABCDEFGHIJKLMN";
    r.code = "4000";
    r.msg = "수신완료";
    r.ts_ms = 1732500005000;
    r.sent_ms = 1732500001000;
    r.reported = 1;
    return r;
}

static void test_result_round_trip(void **state)
{
    fx *f = *state;
    mf_result in = sample_result(), out;
    mf_err err;

    assert_int_equal(mf_codec_encode_result(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_result(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_true(mf_uuid_equal(&in.id, &out.id));
    assert_int_equal(out.status, MF_RESULT_DELIVERED);
    assert_int_equal(out.type, MF_TYPE_KAKAO);
    assert_int_equal(out.channel, MF_TYPE_LMS);
    assert_string_equal(out.text, in.text);
    assert_string_equal(out.name, "김철수");
    assert_string_equal(out.provider_msg_id, in.provider_msg_id);
    assert_string_equal(out.group_id, in.group_id);
    assert_string_equal(out.code, "4000");
    assert_string_equal(out.msg, "수신완료");
    assert_int_equal(out.vars.n, 1);
    assert_true(out.ts_ms == 1732500005000 && out.sent_ms == 1732500001000);
    assert_int_equal(out.reported, 1);

    /* optional fields left out come back as "" / 0 / NONE */
    in.name = NULL;
    in.channel = MF_TYPE_NONE;
    in.text = "";
    in.vars.n = 0;
    in.provider_msg_id = in.group_id = in.msg = NULL;
    in.code = "1062";
    in.status = MF_RESULT_FAILED;
    in.sent_ms = 0;
    in.reported = 0;
    assert_int_equal(mf_codec_encode_result(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_result(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.name, "");
    assert_int_equal(out.channel, MF_TYPE_NONE);
    assert_string_equal(out.text, "");
    assert_string_equal(out.provider_msg_id, "");
    assert_int_equal(out.vars.n, 0);
    assert_int_equal(out.status, MF_RESULT_FAILED);
    assert_string_equal(out.code, "1062");
    assert_true(out.sent_ms == 0);
    assert_int_equal(out.reported, 0);
    for (size_t i = 0; i + 3 <= f->sb.size; i++) /* left out on the wire, not sent as 0 */
        assert_false(memcmp(f->sb.data + i, "rpt", 3) == 0);
    assert_true(mf_result_status_is_final(MF_RESULT_FAILED));
    assert_false(mf_result_status_is_final(MF_RESULT_ACCEPTED));
}

static void test_dlq_round_trip(void **state)
{
    fx *f = *state;
    static const uint8_t val[] = {0x00, 0xc1, 0xff, 0x80};
    mf_dlq in, out;
    mf_err err;

    memset(&in, 0, sizeof(in));
    in.src = "msgfleet.jobs";
    in.partition = 3;
    in.offset = 123456789012;
    in.reason = "unsupported schema version 2";
    in.key = "01012345678";
    in.key_len = 11;
    in.val = val;
    in.val_len = sizeof(val);
    in.ts_ms = 1732500000000;
    assert_int_equal(mf_codec_encode_dlq(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_dlq(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.src, "msgfleet.jobs");
    assert_int_equal(out.partition, 3);
    assert_true(out.offset == 123456789012);
    assert_string_equal(out.reason, in.reason);
    assert_int_equal(out.key_len, 11);
    assert_memory_equal(out.key, "01012345678", 11);
    assert_int_equal(out.val_len, sizeof(val));
    assert_memory_equal(out.val, val, sizeof(val));

    /* no key, empty value, unknown position */
    in.key = NULL;
    in.key_len = 0;
    in.val = NULL;
    in.val_len = 0;
    in.partition = -1;
    in.offset = -1;
    assert_int_equal(mf_codec_encode_dlq(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_dlq(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_null(out.key);
    assert_int_equal(out.val_len, 0);
    assert_int_equal(out.partition, -1);
    assert_true(out.offset == -1);
}

static void test_event_round_trip(void **state)
{
    fx *f = *state;
    static const mf_codec_kv attrs[] = {{"plan", "프리미엄"}, {"amount", "39000"}};
    mf_event in = {"signup", "cust-42", {attrs, 2}, 1732500000000, NULL, NULL}, out;
    mf_err err;

    assert_int_equal(mf_codec_encode_event(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_event(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.type, "signup");
    assert_string_equal(out.cust, "cust-42");
    assert_int_equal(out.attrs.n, 2);
    assert_string_equal(mf_codec_map_get(&out.attrs, "plan"), "프리미엄");
    assert_true(out.ts_ms == 1732500000000);
    assert_true(out.id == NULL || out.id[0] == '\0'); /* absent: not set */
    assert_true(out.to == NULL || out.to[0] == '\0');
}

/* The optional event id and recipient phone travel when set; an old-style event without them
 * still decodes (the keys are optional within version 1). */
static void test_event_id_and_phone(void **state)
{
    fx *f = *state;
    mf_event in = {"order_paid", "", {NULL, 0}, 1732500000000, "ord-1001", "01012345678"}, out;
    mf_err err;

    assert_int_equal(mf_codec_encode_event(&f->sb, &in, &err), 0);
    assert_int_equal(mf_codec_decode_event(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.id, "ord-1001");
    assert_string_equal(out.to, "01012345678");
    assert_string_equal(out.cust, "");
}

static void test_encode_rejects(void **state)
{
    fx *f = *state;
    mf_job j = sample_job();
    mf_result r = sample_result();
    mf_codec_kv bad_kv[] = {{"k", "\xff\xfe"}};
    mf_err err;

    j.to = "";
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), -1);
    assert_non_null(strstr(err.msg, "\"to\""));
    j = sample_job();
    j.name = "\xc3\x28"; /* invalid utf-8 */
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), -1);
    assert_non_null(strstr(err.msg, "not valid utf-8"));
    j = sample_job();
    j.vars.items = bad_kv;
    j.vars.n = 1;
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), -1);
    j = sample_job();
    j.attempt = -1;
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), -1);
    r.status = (mf_result_status)42;
    assert_int_equal(mf_codec_encode_result(&f->sb, &r, &err), -1);
}

/* ---- hand-built messages for the rejection paths ---- */

enum bad { OK_VALUE, AS_STR, AS_INT, AS_NEG, AS_BIN15, AS_NIL, AS_MAP, AS_BIGINT };

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* A job map with `omit` left out and `key` written as `how`; extra_key adds one more. */
static void build_job(msgpack_sbuffer *sb, const char *omit, const char *key, enum bad how,
                      int version, const char *extra_key)
{
    static const char *keys[] = {"v",  "id",   "run",  "wf", "tpl", "att",
                                 "to", "name", "vars", "nb", "ts"};
    static const uint8_t u[16] = {1, 2, 3, 4, 5, 6, 0x87, 8, 0x89, 10, 11, 12, 13, 14, 15, 16};
    msgpack_packer pk;
    size_t i, n = 0;

    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        n += omit == NULL || strcmp(keys[i], omit) != 0;
    msgpack_pack_map(&pk, n + (extra_key != NULL));
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *k = keys[i];

        if (omit != NULL && strcmp(k, omit) == 0)
            continue;
        pack_s(&pk, k);
        if (key != NULL && strcmp(k, key) == 0 && how != OK_VALUE) {
            switch (how) {
            case AS_STR: pack_s(&pk, "x"); break;
            case AS_INT: msgpack_pack_int(&pk, 5); break;
            case AS_NEG: msgpack_pack_int(&pk, -5); break;
            case AS_BIN15: msgpack_pack_bin_with_body(&pk, u, 15); break;
            case AS_NIL: msgpack_pack_nil(&pk); break;
            case AS_MAP: msgpack_pack_map(&pk, 0); break;
            case AS_BIGINT: msgpack_pack_uint64(&pk, UINT64_MAX); break;
            default: break;
            }
            continue;
        }
        if (strcmp(k, "v") == 0)
            msgpack_pack_int(&pk, version);
        else if (strcmp(k, "id") == 0 || strcmp(k, "run") == 0 || strcmp(k, "wf") == 0 ||
                 strcmp(k, "tpl") == 0)
            msgpack_pack_bin_with_body(&pk, u, 16);
        else if (strcmp(k, "to") == 0)
            pack_s(&pk, "01012345678");
        else if (strcmp(k, "name") == 0)
            pack_s(&pk, "이순신");
        else if (strcmp(k, "vars") == 0) {
            msgpack_pack_map(&pk, 1);
            pack_s(&pk, "a");
            pack_s(&pk, "b");
        } else if (strcmp(k, "att") == 0)
            msgpack_pack_int(&pk, 3);
        else
            msgpack_pack_int64(&pk, 1732500000000);
    }
    if (extra_key != NULL) {
        pack_s(&pk, extra_key);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_true(&pk);
        msgpack_pack_double(&pk, 1.5);
    }
}

static void expect_job_error(fx *f, const char *needle)
{
    mf_job out;
    mf_err err;

    err.msg[0] = '\0';
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), -1);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, needle);
}

static void test_builder_baseline(void **state)
{
    fx *f = *state;
    mf_job out;
    mf_err err;

    build_job(&f->sb, NULL, NULL, OK_VALUE, 1, NULL);
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.name, "이순신");
    /* unknown keys are ignored (room for optional additions) */
    build_job(&f->sb, NULL, NULL, OK_VALUE, 1, "future");
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    /* optional keys may be missing or nil */
    build_job(&f->sb, "name", NULL, OK_VALUE, 1, NULL);
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_string_equal(out.name, "");
    build_job(&f->sb, "vars", "nb", AS_NIL, 1, NULL);
    assert_int_equal(mf_codec_decode_job(f->codec, f->sb.data, f->sb.size, &out, &err), 0);
    assert_int_equal(out.vars.n, 0);
    assert_true(out.not_before_ms == 0);
}

static void test_missing_required_keys(void **state)
{
    fx *f = *state;
    static const char *required[] = {"v", "id", "run", "wf", "tpl", "att", "to", "ts"};
    char needle[64];
    size_t i;

    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        build_job(&f->sb, required[i], NULL, OK_VALUE, 1, NULL);
        snprintf(needle, sizeof(needle), "missing required key \"%s\"", required[i]);
        expect_job_error(f, needle);
    }
}

static void test_wrong_types(void **state)
{
    fx *f = *state;

    build_job(&f->sb, NULL, "id", AS_BIN15, 1, NULL);
    expect_job_error(f, "key \"id\": expected 16-byte bin, got 15 bytes");
    build_job(&f->sb, NULL, "run", AS_STR, 1, NULL);
    expect_job_error(f, "key \"run\": expected 16-byte bin, got str");
    build_job(&f->sb, NULL, "att", AS_STR, 1, NULL);
    expect_job_error(f, "key \"att\": expected integer, got str");
    build_job(&f->sb, NULL, "att", AS_NEG, 1, NULL);
    expect_job_error(f, "key \"att\": integer out of range");
    build_job(&f->sb, NULL, "ts", AS_BIGINT, 1, NULL);
    expect_job_error(f, "key \"ts\": integer out of range");
    build_job(&f->sb, NULL, "to", AS_INT, 1, NULL);
    expect_job_error(f, "key \"to\": expected str, got integer");
    build_job(&f->sb, NULL, "to", AS_NIL, 1, NULL);
    expect_job_error(f, "key \"to\": expected str, got nil");
    build_job(&f->sb, NULL, "vars", AS_STR, 1, NULL);
    expect_job_error(f, "key \"vars\": expected map, got str");
    build_job(&f->sb, NULL, "name", AS_MAP, 1, NULL);
    expect_job_error(f, "key \"name\": expected str, got map");
    build_job(&f->sb, NULL, "v", AS_STR, 1, NULL);
    expect_job_error(f, "key \"v\": expected positive integer, got str");
}

static void test_unknown_version(void **state)
{
    fx *f = *state;

    build_job(&f->sb, NULL, NULL, OK_VALUE, 2, NULL);
    expect_job_error(f, "unsupported schema version 2");
    /* a v2 message with a different layout still reports the version, not the layout */
    build_job(&f->sb, "to", NULL, OK_VALUE, 2, NULL);
    expect_job_error(f, "unsupported schema version 2");
    build_job(&f->sb, NULL, NULL, OK_VALUE, 0, NULL);
    expect_job_error(f, "unsupported schema version 0");
}

static void test_framing_errors(void **state)
{
    fx *f = *state;
    mf_job in = sample_job(), out;
    mf_err err;
    char *copy;
    size_t n, cut;
    /* fixmap(1) "v":1 then a map32 claiming 2^32-1 pairs in 6 bytes: must not allocate */
    static const uint8_t huge[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t arr32[] = {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xf0, 0x01};
    static const uint8_t str32[] = {0x81, 0xa1, 'x', 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t reserved[] = {0x81, 0xa1, 'v', 0xc1};
    static const uint8_t not_map[] = {0x93, 0x01, 0x02, 0x03};
    static const uint8_t int_key[] = {0x81, 0x01, 0x01};
    uint8_t deep[64];

    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
    n = f->sb.size;
    copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, f->sb.data, n);
    /* every truncation fails, never reads past the given length (ASan checks this) */
    for (cut = 0; cut < n; cut++) {
        char *p = malloc(cut > 0 ? cut : 1);

        assert_non_null(p);
        memcpy(p, copy, cut);
        assert_int_equal(mf_codec_decode_job(f->codec, p, cut, &out, &err), -1);
        free(p);
    }
    copy[n] = 0x00;
    assert_int_equal(mf_codec_decode_job(f->codec, copy, n + 1, &out, &err), -1);
    assert_non_null(strstr(err.msg, "trailing bytes"));
    free(copy);

    assert_int_equal(mf_codec_decode_job(f->codec, huge, sizeof(huge), &out, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(mf_codec_decode_job(f->codec, arr32, sizeof(arr32), &out, &err), -1);
    assert_int_equal(mf_codec_decode_job(f->codec, str32, sizeof(str32), &out, &err), -1);
    assert_int_equal(mf_codec_decode_job(f->codec, reserved, sizeof(reserved), &out, &err), -1);
    assert_non_null(strstr(err.msg, "malformed"));
    assert_int_equal(mf_codec_decode_job(f->codec, not_map, sizeof(not_map), &out, &err), -1);
    assert_string_equal(err.msg, "message is not a msgpack map");
    assert_int_equal(mf_codec_decode_job(f->codec, int_key, sizeof(int_key), &out, &err), -1);
    assert_non_null(strstr(err.msg, "expected str"));
    assert_int_equal(mf_codec_decode_job(f->codec, "", 0, &out, &err), -1);
    assert_string_equal(err.msg, "empty message");
    assert_int_equal(mf_codec_decode_job(f->codec, NULL, 0, &out, &err), -1);

    /* nesting: {"x":[[[[...]]]]} 60 levels deep */
    deep[0] = 0x81;
    deep[1] = 0xa1;
    deep[2] = 'x';
    memset(deep + 3, 0x91, sizeof(deep) - 4);
    deep[sizeof(deep) - 1] = 0x01;
    assert_int_equal(mf_codec_decode_job(f->codec, deep, sizeof(deep), &out, &err), -1);
    assert_non_null(strstr(err.msg, "nested deeper"));
}

static void test_string_content(void **state)
{
    fx *f = *state;
    msgpack_packer pk;
    mf_event out;
    mf_err err;
    int round;

    for (round = 0; round < 4; round++) {
        msgpack_sbuffer_clear(&f->sb);
        msgpack_packer_init(&pk, &f->sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, round == 3 ? 5 : 4);
        pack_s(&pk, "v");
        msgpack_pack_int(&pk, 1);
        pack_s(&pk, "type");
        if (round == 0)
            msgpack_pack_str_with_body(&pk, "sign\0up", 7); /* NUL inside */
        else if (round == 1)
            msgpack_pack_str_with_body(&pk, "\xed\xa0\x80", 3); /* surrogate */
        else
            pack_s(&pk, "signup");
        pack_s(&pk, "cust");
        pack_s(&pk, round == 2 ? "" : "c1");
        pack_s(&pk, "ts");
        msgpack_pack_int(&pk, 1);
        if (round == 3) {
            pack_s(&pk, "ts");
            msgpack_pack_int(&pk, 2);
        }
        err.msg[0] = '\0';
        if (round == 2) {
            /* empty customer id is allowed; empty type is not */
            assert_int_equal(mf_codec_decode_event(f->codec, f->sb.data, f->sb.size, &out, &err),
                             0);
            continue;
        }
        assert_int_equal(mf_codec_decode_event(f->codec, f->sb.data, f->sb.size, &out, &err), -1);
        if (round == 0)
            assert_non_null(strstr(err.msg, "NUL"));
        else if (round == 1)
            assert_non_null(strstr(err.msg, "utf-8"));
        else
            assert_string_equal(err.msg, "duplicate key \"ts\"");
    }
}

static void test_result_enums(void **state)
{
    fx *f = *state;
    mf_result r = sample_result(), out;
    mf_err err;
    char *p;

    assert_int_equal(mf_codec_encode_result(&f->sb, &r, &err), 0);
    /* flip "delivered" to "delivereX" in the bytes */
    p = memmem(f->sb.data, f->sb.size, "delivered", 9);
    assert_non_null(p);
    p[8] = 'X';
    assert_int_equal(mf_codec_decode_result(f->codec, f->sb.data, f->sb.size, &out, &err), -1);
    assert_string_equal(err.msg, "key \"st\": unknown value");
    assert_int_equal(mf_codec_encode_result(&f->sb, &r, &err), 0);
    p = memmem(f->sb.data, f->sb.size, "kakao", 5);
    assert_non_null(p);
    p[0] = 'x';
    assert_int_equal(mf_codec_decode_result(f->codec, f->sb.data, f->sb.size, &out, &err), -1);
    assert_string_equal(err.msg, "key \"type\": unknown value");
}

static void test_garbage(void **state)
{
    /* random bytes and random mutations of valid messages: never crash, never accept junk
     * silently (a mutation may still be valid; then it must round-trip through JSON too) */
    fx *f = *state;
    mf_job in = sample_job(), out;
    mf_result rout;
    mf_dlq dout;
    mf_event eout;
    uint8_t buf[512];
    unsigned int seed = 12345;
    size_t valid_len;
    uint8_t valid[512];
    mf_err err;
    int i, k;

    assert_int_equal(mf_codec_encode_job(&f->sb, &in, &err), 0);
    valid_len = f->sb.size;
    assert_true(valid_len <= sizeof(valid));
    memcpy(valid, f->sb.data, valid_len);
    for (i = 0; i < 20000; i++) {
        size_t n;

        if (i % 2 == 0) {
            n = (size_t)(rand_r(&seed) % sizeof(buf));
            for (k = 0; k < (int)n; k++)
                buf[k] = (uint8_t)rand_r(&seed);
            if (n > 0 && i % 4 == 0)
                buf[0] = (uint8_t)(0x80 | (rand_r(&seed) & 0x0f)); /* look like a map */
        } else {
            int flips = 1 + rand_r(&seed) % 4;

            n = valid_len;
            memcpy(buf, valid, n);
            for (k = 0; k < flips; k++)
                buf[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
        }
        (void)mf_codec_decode_job(f->codec, buf, n, &out, &err);
        (void)mf_codec_decode_result(f->codec, buf, n, &rout, &err);
        (void)mf_codec_decode_dlq(f->codec, buf, n, &dout, &err);
        (void)mf_codec_decode_event(f->codec, buf, n, &eout, &err);
        if (mf_codec_decode_job(f->codec, buf, n, &out, &err) == 0) {
            size_t before = f->json.len;

            if (mf_codec_to_json(f->codec, MF_MSG_JOB, buf, n, &f->json, &err) != 0)
                fail_msg("valid job not printable: %s", err.msg);
            assert_true(f->json.len > before);
            mf_buf_reset(&f->json);
        }
        if (i % 1000 == 0)
            mf_codec_reset(f->codec);
    }
}

static void test_json(void **state)
{
    fx *f = *state;
    mf_job j = sample_job();
    mf_dlq d;
    mf_err err;
    static const uint8_t val[] = {0xde, 0xad, 0xbe, 0xef};

    j.vars.n = 1;
    assert_int_equal(mf_codec_encode_job(&f->sb, &j, &err), 0);
    assert_int_equal(mf_codec_to_json(f->codec, MF_MSG_JOB, f->sb.data, f->sb.size, &f->json, &err),
                     0);
    assert_string_equal(f->json.data, "{\"v\":1,\"id\":\"0193610c-0d7b-8a1b-94ea-e9a7fcfacf59\","
                                      "\"run\":\"0b7e6f1a-3c2d-4e5f-8a9b-0c1d2e3f4a5b\","
                                      "\"wf\":\"11111111-2222-4333-8444-555555555555\","
                                      "\"tpl\":\"66666666-7777-4888-9999-aaaaaaaaaaaa\",\"att\":2,"
                                      "\"to\":\"01012345678\",\"name\":\"홍길동\","
                                      "\"vars\":{\"이름\":\"홍길동\"},\"nb\":1732525200000,"
                                      "\"ts\":1732500000123}");
    mf_buf_reset(&f->json);

    memset(&d, 0, sizeof(d));
    d.src = "msgfleet.jobs";
    d.partition = 0;
    d.offset = 7;
    d.reason = "unsupported \"schema\" version 2";
    d.key = "k";
    d.key_len = 1;
    d.val = val;
    d.val_len = sizeof(val);
    d.ts_ms = 5;
    assert_int_equal(mf_codec_encode_dlq(&f->sb, &d, &err), 0);
    assert_int_equal(mf_codec_to_json(f->codec, MF_MSG_DLQ, f->sb.data, f->sb.size, &f->json, &err),
                     0);
    assert_string_equal(f->json.data,
                        "{\"v\":1,\"src\":\"msgfleet.jobs\",\"part\":0,\"off\":7,"
                        "\"reason\":\"unsupported \\\"schema\\\" version 2\",\"key\":\"aw==\","
                        "\"val\":\"3q2+7w==\",\"ts\":5}");

    /* an invalid message fails and leaves the output unchanged */
    {
        size_t before = f->json.len;

        assert_int_equal(
            mf_codec_to_json(f->codec, MF_MSG_JOB, f->sb.data, f->sb.size, &f->json, &err), -1);
        assert_string_equal(err.msg, "missing required key \"id\"");
        assert_int_equal(f->json.len, before);
    }
}

static void test_json_unknown_key_not_utf8(void **state)
{
    /* unknown keys are not validated by the decoder; printing replaces bad bytes by U+FFFD */
    fx *f = *state;
    msgpack_packer pk;
    mf_err err;

    msgpack_sbuffer_clear(&f->sb);
    msgpack_packer_init(&pk, &f->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_s(&pk, "v");
    msgpack_pack_int(&pk, 1);
    pack_s(&pk, "type");
    pack_s(&pk, "x");
    pack_s(&pk, "cust");
    pack_s(&pk, "");
    pack_s(&pk, "ts");
    msgpack_pack_int(&pk, 9);
    assert_int_equal(
        mf_codec_to_json(f->codec, MF_MSG_EVENT, f->sb.data, f->sb.size, &f->json, &err), 0);
    mf_buf_reset(&f->json);
    msgpack_sbuffer_clear(&f->sb);
    msgpack_pack_map(&pk, 5);
    pack_s(&pk, "v");
    msgpack_pack_int(&pk, 1);
    pack_s(&pk, "type");
    pack_s(&pk, "x");
    pack_s(&pk, "cust");
    pack_s(&pk, "");
    pack_s(&pk, "ts");
    msgpack_pack_int(&pk, 9);
    msgpack_pack_str_with_body(&pk, "k\xff", 2);
    msgpack_pack_str_with_body(&pk, "\xfe", 1);
    assert_int_equal(
        mf_codec_to_json(f->codec, MF_MSG_EVENT, f->sb.data, f->sb.size, &f->json, &err), 0);
    assert_string_equal(f->json.data, "{\"v\":1,\"type\":\"x\",\"cust\":\"\",\"ts\":9,"
                                      "\"k\xef\xbf\xbd\":\"\xef\xbf\xbd\"}");
}

static void test_json_nested_non_string_keys(void **state)
{
    /* Found by fuzz_job/fuzz_event (corpus input nested_int_key): the decoders ignore an
     * unknown key whatever its value, so a nested map with integer, nil or map keys decodes;
     * the printer failed on it ("cannot print a integer map key as json"). Such keys print as
     * the string of their JSON text. */
    fx *f = *state;
    msgpack_packer pk;
    mf_event ev;
    mf_err err;

    msgpack_sbuffer_clear(&f->sb);
    msgpack_packer_init(&pk, &f->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_s(&pk, "v");
    msgpack_pack_int(&pk, 1);
    pack_s(&pk, "type");
    pack_s(&pk, "x");
    pack_s(&pk, "cust");
    pack_s(&pk, "");
    pack_s(&pk, "ts");
    msgpack_pack_int(&pk, 9);
    pack_s(&pk, "later");
    msgpack_pack_map(&pk, 4);
    msgpack_pack_int(&pk, 7);
    pack_s(&pk, "seven");
    msgpack_pack_int(&pk, -2);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "q\"");
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 0);
    assert_int_equal(mf_codec_decode_event(f->codec, f->sb.data, f->sb.size, &ev, &err), 0);
    if (mf_codec_to_json(f->codec, MF_MSG_EVENT, f->sb.data, f->sb.size, &f->json, &err) != 0)
        fail_msg("a decodable event did not print: %s", err.msg);
    assert_string_equal(f->json.data, "{\"v\":1,\"type\":\"x\",\"cust\":\"\",\"ts\":9,\"later\":"
                                      "{\"7\":\"seven\",\"-2\":null,\"null\":true,"
                                      "\"{\\\"q\\\\\\\"\\\":1}\":0}}");
}

static void test_kind_names(void **state)
{
    mf_msg_kind k;

    (void)state;
    assert_int_equal(mf_codec_kind_from_name("retry", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_JOB);
    assert_int_equal(mf_codec_kind_from_name("results", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_RESULT);
    assert_int_equal(mf_codec_kind_from_name("results.tx", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_RESULT);
    assert_int_equal(mf_codec_kind_from_name("jobs.tx", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_JOB);
    assert_int_equal(mf_codec_kind_from_name("dlq", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_DLQ);
    assert_int_equal(mf_codec_kind_from_name("events", &k, NULL), 0);
    assert_int_equal(k, MF_MSG_EVENT);
    assert_int_equal(mf_codec_kind_from_name("nope", &k, NULL), -1);
    assert_string_equal(mf_msg_type_name(MF_TYPE_LMS), "lms");
    assert_null(mf_msg_type_name(MF_TYPE_NONE));
    assert_string_equal(mf_result_status_name(MF_RESULT_UNDELIVERED), "undelivered");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_optional_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_encoding_is_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_id_and_phone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builder_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_required_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_enums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_unknown_key_not_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_nested_non_string_keys, setup, teardown),
        cmocka_unit_test(test_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

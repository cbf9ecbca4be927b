/* test_euckr: EUC-KR byte counting and the SMS/LMS decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_euckr.h"

static int setup(void **state)
{
    mf_err err = {{0}};
    mf_euckr *c = mf_euckr_new(&err);
    if (c == NULL) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    mf_euckr_free(*state);
    return 0;
}

/* Repeat unit n times into a fresh heap string. */
static char *rep(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static size_t len_ok(mf_euckr *c, const char *s)
{
    size_t n = 12345;
    mf_err err = {{0}};
    if (mf_euckr_len(c, s, strlen(s), &n, NULL, &err) != 0)
        fail_msg("\"%s\": %s", s, err.msg);
    return n;
}

static void test_ascii(void **state)
{
    mf_euckr *c = *state;
    assert_int_equal(len_ok(c, ""), 0);
    assert_int_equal(len_ok(c, "hello"), 5);
    assert_int_equal(len_ok(c, "(ad) 080-123-4567"), 17);
    /* the ASCII fast path needs no counter */
    size_t n = 0;
    assert_int_equal(mf_euckr_len(NULL, "abc", 3, &n, NULL, NULL), 0);
    assert_int_equal(n, 3);
}

static void test_hangul_and_mixed(void **state)
{
    mf_euckr *c = *state;
    assert_int_equal(len_ok(c, "한글"), 4);
    assert_int_equal(len_ok(c, "안녕하세요"), 10);
    assert_int_equal(len_ok(c, "(광고) 홍길동님 10% 할인!"), 25);
    assert_int_equal(len_ok(c, "a한b글c"), 7);
    /* CP949 extension syllable (not in KS X 1001 but in UHC): still 2 bytes */
    assert_int_equal(len_ok(c, "똠방각하"), 8);
    /* hanja and symbols of KS X 1001 */
    assert_int_equal(len_ok(c, "韓國"), 4);
    assert_int_equal(len_ok(c, "※★"), 4);
}

static void test_unsupported(void **state)
{
    mf_euckr *c = *state;
    size_t n = 0;
    unsigned cp = 0;
    mf_err err = {{0}};
    const char *emoji = "hi 😀";
    assert_int_equal(mf_euckr_len(c, emoji, strlen(emoji), &n, &cp, &err), -1);
    assert_int_equal(cp, 0x1F600);
    assert_non_null(strstr(err.msg, "U+1F600"));
    assert_non_null(strstr(err.msg, "at byte 3"));
    assert_non_null(strstr(err.msg, "not representable"));

    const char *thai = "한글ก";
    assert_int_equal(mf_euckr_len(c, thai, strlen(thai), &n, &cp, &err), -1);
    assert_int_equal(cp, 0x0E01);
    assert_non_null(strstr(err.msg, "U+0E01 at byte 6"));

    const char bad[] = {'a', (char)0xC3, '(', 0};
    assert_int_equal(mf_euckr_len(c, bad, 3, &n, &cp, &err), -1);
    assert_int_equal(cp, 0);
    assert_non_null(strstr(err.msg, "invalid UTF-8 at byte 1"));

    const char cut[] = {'a', (char)0xED, (char)0x95, 0}; /* "한" without its last byte */
    assert_int_equal(mf_euckr_len(c, cut, 3, &n, &cp, &err), -1);
    assert_non_null(strstr(err.msg, "invalid UTF-8"));

    /* the counter stays usable after an error */
    assert_int_equal(len_ok(c, "한글"), 4);
}

static void decide_ok(mf_euckr *c, const char *body, const char *subj, mf_euckr_kind want,
                      size_t want_bytes)
{
    mf_euckr_kind k = MF_EUCKR_KIND_LMS;
    size_t b = 0;
    mf_err err = {{0}};
    if (mf_euckr_decide(c, body, strlen(body), subj, subj ? strlen(subj) : 0, &k, &b, NULL, &err) !=
        0)
        fail_msg("decide: %s", err.msg);
    assert_int_equal(k, want);
    assert_int_equal(b, want_bytes);
}

static void test_boundaries(void **state)
{
    mf_euckr *c = *state;
    char *h45 = rep("가", 45);
    char *h45a = rep("가", 45);
    char *a90 = rep("a", 90);
    char *a91 = rep("a", 91);
    char *h1000 = rep("한", 1000);
    char *h1001 = rep("한", 1001);
    char *h999a = rep("한", 999);
    size_t n;

    assert_int_equal(len_ok(c, h45), 90);
    decide_ok(c, h45, NULL, MF_EUCKR_KIND_SMS, 90);
    decide_ok(c, a90, NULL, MF_EUCKR_KIND_SMS, 90);
    decide_ok(c, a91, NULL, MF_EUCKR_KIND_LMS, 91);

    /* 45 Hangul + 1 ASCII = 91 bytes: LMS */
    size_t l45 = strlen(h45a);
    h45a = realloc(h45a, l45 + 2);
    assert_non_null(h45a);
    memcpy(h45a + l45, "x", 2);
    decide_ok(c, h45a, NULL, MF_EUCKR_KIND_LMS, 91);

    assert_int_equal(len_ok(c, h1000), 2000);
    decide_ok(c, h1000, NULL, MF_EUCKR_KIND_LMS, 2000);

    mf_euckr_kind k;
    mf_err err = {{0}};
    assert_int_equal(mf_euckr_decide(c, h1001, strlen(h1001), NULL, 0, &k, &n, NULL, &err), -1);
    assert_int_equal(n, 2002);
    assert_non_null(strstr(err.msg, "2002 bytes"));
    assert_non_null(strstr(err.msg, "LMS limit of 2000"));

    /* 999 Hangul + 2 ASCII = 2000 ok, + 3 ASCII = 2001 refused */
    char *b2000 = malloc(strlen(h999a) + 4);
    char *b2001 = malloc(strlen(h999a) + 4);
    memcpy(b2000, h999a, strlen(h999a) + 1);
    memcpy(b2001, h999a, strlen(h999a) + 1);
    memcpy(b2000 + strlen(h999a), "ab", 3);
    memcpy(b2001 + strlen(h999a), "abc", 4);
    decide_ok(c, b2000, NULL, MF_EUCKR_KIND_LMS, 2000);
    assert_int_equal(mf_euckr_decide(c, b2001, strlen(b2001), NULL, 0, &k, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "2001 bytes"));

    free(h45);
    free(h45a);
    free(a90);
    free(a91);
    free(h1000);
    free(h1001);
    free(h999a);
    free(b2000);
    free(b2001);
}

static void test_subject(void **state)
{
    mf_euckr *c = *state;
    char *s20 = rep("제", 20);
    char *s21 = rep("제", 21);
    mf_euckr_kind k;
    size_t sb = 0;
    mf_err err = {{0}};

    /* a subject forces LMS even for a short body */
    decide_ok(c, "짧은 본문", s20, MF_EUCKR_KIND_LMS, 9);
    decide_ok(c, "short", "", MF_EUCKR_KIND_SMS, 5);
    assert_int_equal(mf_euckr_decide(c, "body", 4, s20, strlen(s20), &k, NULL, &sb, &err), 0);
    assert_int_equal(sb, 40);
    assert_int_equal(mf_euckr_decide(c, "body", 4, s21, strlen(s21), &k, NULL, &sb, &err), -1);
    assert_non_null(strstr(err.msg, "subject is 42 bytes"));
    const char *emoji_subj = "제목😀";
    assert_int_equal(
        mf_euckr_decide(c, "body", 4, emoji_subj, strlen(emoji_subj), &k, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "message subject: character U+1F600"));
    const char *emoji_body = "본문😀";
    assert_int_equal(
        mf_euckr_decide(c, emoji_body, strlen(emoji_body), NULL, 0, &k, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "message body: character U+1F600"));
    assert_string_equal(mf_euckr_kind_name(MF_EUCKR_KIND_SMS), "SMS");
    assert_string_equal(mf_euckr_kind_name(MF_EUCKR_KIND_LMS), "LMS");
    free(s20);
    free(s21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii),       cmocka_unit_test(test_hangul_and_mixed),
        cmocka_unit_test(test_unsupported), cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_subject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

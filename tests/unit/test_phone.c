/* test_phone: normalisation and masking of Korean mobile numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_phone.h"

typedef struct ok_case {
    const char *in;
    const char *want;
} ok_case;

typedef struct bad_case {
    const char *in;
    mf_phone_reason why;
} bad_case;

static void test_valid_forms(void **state)
{
    static const ok_case cases[] = {
        {"010-1234-5678", "01012345678"},     {"+82 10-1234-5678", "01012345678"},
        {"+821012345678", "01012345678"},     {"01012345678", "01012345678"},
        {"010 1234 5678", "01012345678"},     {"(010)1234-5678", "01012345678"},
        {"010.1234.5678", "01012345678"},     {"  010-1234-5678  ", "01012345678"},
        {"+82 010 1234 5678", "01012345678"}, {"+82-10-9876-5432", "01098765432"},
        {"0082-10-1234-5678", "01012345678"}, {"011-123-4567", "0111234567"},
        {"011-1234-5678", "01112345678"},     {"016-123-4567", "0161234567"},
        {"017 1234 5678", "01712345678"},     {"018-123-4567", "0181234567"},
        {"019-9999-0000", "01999990000"},     {"+82 11 123 4567", "0111234567"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[MF_PHONE_MAX];
        mf_phone_reason why = MF_PHONE_TOO_LONG;
        mf_err err = {{0}};
        int rc = mf_phone_normalize(cases[i].in, out, sizeof(out), &why, &err);
        if (rc != 0)
            fail_msg("\"%s\" refused: %s", cases[i].in, err.msg);
        assert_int_equal(why, MF_PHONE_OK);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_invalid_forms(void **state)
{
    static const bad_case cases[] = {
        {"", MF_PHONE_EMPTY},
        {"   ", MF_PHONE_EMPTY},
        {"--", MF_PHONE_EMPTY},
        {"()", MF_PHONE_EMPTY},
        {"010-1234-567", MF_PHONE_TOO_SHORT},
        {"0101234567", MF_PHONE_TOO_SHORT},
        {"010", MF_PHONE_TOO_SHORT},
        {"01", MF_PHONE_TOO_SHORT},
        {"011-12-4567", MF_PHONE_TOO_SHORT},
        {"010-1234-56789", MF_PHONE_TOO_LONG},
        {"011-12345-67890", MF_PHONE_TOO_LONG},
        {"01012345678901234567890123456789", MF_PHONE_TOO_LONG},
        {"010-abcd-5678", MF_PHONE_LETTERS},
        {"O1012345678", MF_PHONE_LETTERS},
        {"010-1234-5678 ext", MF_PHONE_LETTERS},
        {"공일공12345678", MF_PHONE_LETTERS},
        {"010/1234/5678", MF_PHONE_BAD_CHAR},
        {"010_1234_5678", MF_PHONE_BAD_CHAR},
        {"010+12345678", MF_PHONE_BAD_PLUS},
        {"++821012345678", MF_PHONE_BAD_PLUS},
        {"+1 415 555 0100", MF_PHONE_NOT_KOREAN},
        {"+8612345678901", MF_PHONE_NOT_KOREAN},
        {"001-415-555-0100", MF_PHONE_NOT_KOREAN},
        {"+82", MF_PHONE_TOO_SHORT},
        {"02-123-4567", MF_PHONE_NOT_MOBILE},
        {"0212345678", MF_PHONE_NOT_MOBILE},
        {"031-123-4567", MF_PHONE_NOT_MOBILE},
        {"080-123-4567", MF_PHONE_NOT_MOBILE},
        {"1588-1234", MF_PHONE_NOT_MOBILE},
        {"012-1234-5678", MF_PHONE_NOT_MOBILE},
        {"015-1234-5678", MF_PHONE_NOT_MOBILE},
        {"+82 2 123 4567", MF_PHONE_NOT_MOBILE},
        {"10-1234-5678", MF_PHONE_NOT_MOBILE},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[MF_PHONE_MAX] = "junk";
        mf_phone_reason why = MF_PHONE_OK;
        mf_err err = {{0}};
        int rc = mf_phone_normalize(cases[i].in, out, sizeof(out), &why, &err);
        if (rc != -1 || why != cases[i].why)
            fail_msg("\"%s\": rc %d reason %s, want %s", cases[i].in, rc, mf_phone_reason_name(why),
                     mf_phone_reason_name(cases[i].why));
        assert_string_equal(out, "");
        assert_non_null(strstr(err.msg, "invalid phone number: "));
        assert_non_null(strstr(err.msg, mf_phone_reason_text(cases[i].why)));
    }
}

static void test_null_and_small_buffer(void **state)
{
    char out[MF_PHONE_MAX];
    char tiny[5];
    mf_phone_reason why = MF_PHONE_OK;
    mf_err err = {{0}};
    (void)state;
    assert_int_equal(mf_phone_normalize(NULL, out, sizeof(out), &why, &err), -1);
    assert_int_equal(why, MF_PHONE_EMPTY);
    assert_int_equal(mf_phone_normalize("01012345678", tiny, sizeof(tiny), NULL, &err), -1);
    assert_non_null(strstr(err.msg, "buffer too small"));
    /* reason and err are optional */
    assert_int_equal(mf_phone_normalize("x", out, sizeof(out), NULL, NULL), -1);
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(mf_phone_reason_name(MF_PHONE_EMPTY), "empty");
    assert_string_equal(mf_phone_reason_name(MF_PHONE_TOO_SHORT), "too_short");
    assert_string_equal(mf_phone_reason_name(MF_PHONE_LETTERS), "letters");
    assert_string_equal(mf_phone_reason_name(MF_PHONE_NOT_MOBILE), "not_mobile");
    assert_string_equal(mf_phone_reason_name((mf_phone_reason)99), "unknown");
}

static void test_mask(void **state)
{
    char out[MF_PHONE_MASK_MAX];
    char small[8];
    (void)state;
    mf_phone_mask("01012345678", out, sizeof(out));
    assert_string_equal(out, "010****5678");
    mf_phone_mask("0111234567", out, sizeof(out));
    assert_string_equal(out, "011***4567");
    mf_phone_mask("1234567", out, sizeof(out));
    assert_string_equal(out, "*******");
    mf_phone_mask("", out, sizeof(out));
    assert_string_equal(out, "");
    mf_phone_mask(NULL, out, sizeof(out));
    assert_string_equal(out, "(null)");
    mf_phone_mask("01012345678", small, sizeof(small));
    assert_int_equal(strlen(small), 7);
    assert_null(strstr(small, "5678"));
}

static void test_mask_text(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"XPATH syntax error: '~김민준01012345678,이서연010-2000-0007'",
         "XPATH syntax error: '~김민준010****5678,이서연010-****-0007'"},
        {"+82 10-1234-5678 and 02-123-4567", "+82 1*-****-5678 and 02-1**-4567"},
        {"error 1105 at row 1234567", "error 1105 at row 1234567"},
        {"12345678", "123*5678"},
        {"a 0101234567890123 b", "a 010*********0123 b"},
        {"dash-- 7 - 1", "dash-- 7 - 1"},
        {"", ""},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mf_phone_mask_text(cases[i].in, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    mf_phone_mask_text(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    /* cut to fit, never a digit of the hidden part */
    mf_phone_mask_text("x 01012345678", out, 9);
    assert_string_equal(out, "x 010***");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_forms),
        cmocka_unit_test(test_invalid_forms),
        cmocka_unit_test(test_null_and_small_buffer),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_mask_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_pgbin: PostgreSQL binary COPY rows and array parameters, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pgbin.h"

static const mf_uuid U = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76,
                           0x98, 0xba, 0xdc, 0xfe}};

static void assert_bytes(const void *got, size_t got_len, const void *want, size_t want_len)
{
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
}

static void test_copy_row(void **state)
{
    static const unsigned char want[] = {
        'P',  'G',  'C',  'O',  'P',  'Y',  '\n', 0xff, '\r', '\n', 0, /* signature */
        0,    0,    0,    0,    0,    0,    0,    0,                   /* flags, extension */
        0,    5,                                                       /* 5 fields */
        0,    0,    0,    16,   0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,                         /* uuid */
        0,    0,    0,    4,    0xff, 0xff, 0xff, 0xfe,                         /* int4 -2 */
        0,    0,    0,    6,    0xed, 0x95, 0x9c, 0xea, 0xb8, 0x80,             /* text "한글" */
        0xff, 0xff, 0xff, 0xff,                                                 /* NULL */
        0,    0,    0,    8,    0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, /* int8 */
        0xff, 0xff,                                                             /* trailer */
    };
    mf_buf b;
    mf_err err;

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_pgbin_copy_header(&b, &err), 0);
    assert_int_equal(mf_pgbin_copy_row(&b, 5, &err), 0);
    assert_int_equal(mf_pgbin_uuid(&b, &U, &err), 0);
    assert_int_equal(mf_pgbin_int4(&b, -2, &err), 0);
    assert_int_equal(mf_pgbin_text(&b, "한글", &err), 0);
    assert_int_equal(mf_pgbin_text(&b, NULL, &err), 0);
    assert_int_equal(mf_pgbin_int8(&b, 0x010203040506LL, &err), 0);
    assert_int_equal(mf_pgbin_copy_trailer(&b, &err), 0);
    assert_bytes(b.data, b.len, want, sizeof(want));
    assert_int_equal(mf_pgbin_copy_row(&b, -1, &err), -1);
    assert_non_null(strstr(err.msg, "-1 fields"));
    assert_int_equal(mf_pgbin_copy_row(&b, 32768, &err), -1);
    assert_int_equal(b.len, sizeof(want)); /* nothing written by the refused rows */
    mf_buf_free(&b);
}

static void test_arrays(void **state)
{
    static const unsigned char texts[] = {
        0, 0, 0, 1, 0,   0,    0,    1,    0,    0, 0, 25, 0,
        0, 0, 3, 0, 0,   0,    1,                             /* 1 dim, nulls, text, 3 */
        0, 0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0,  0, /* "" */
    };
    static const unsigned char int8s[] = {
        0, 0, 0, 1, 0, 0, 0, 0, 0,    0,    0,    20,   0,    0,    0,    1,
        0, 0, 0, 1, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* -1 */
    };
    static const unsigned char empty_uuids[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0x86};
    mf_pgbin_arr a;
    mf_err err;
    const char *p;
    int len = -1;

    (void)state;
    mf_pgbin_arr_init(&a, MF_PGBIN_OID_TEXT);
    assert_int_equal(mf_pgbin_arr_text(&a, "a", &err), 0);
    assert_int_equal(mf_pgbin_arr_text(&a, NULL, &err), 0);
    assert_int_equal(mf_pgbin_arr_text(&a, "", &err), 0);
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_non_null(p);
    assert_bytes(p, (size_t)len, texts, sizeof(texts));
    /* finish twice gives the same bytes */
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_bytes(p, (size_t)len, texts, sizeof(texts));
    /* a reset clears the null flag: one non-NULL element after the NULLs above */
    mf_pgbin_arr_reset(&a);
    assert_int_equal(mf_pgbin_arr_text(&a, "a", &err), 0);
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_int_equal(len, 20 + 4 + 1);
    assert_int_equal((unsigned char)p[7], 0);
    assert_int_equal((unsigned char)p[15], 1);
    mf_pgbin_arr_free(&a);

    mf_pgbin_arr_init(&a, MF_PGBIN_OID_INT8);
    assert_int_equal(mf_pgbin_arr_int8(&a, 7, &err), 0);
    mf_pgbin_arr_reset(&a); /* a reset array starts over, null flag included */
    assert_int_equal(mf_pgbin_arr_int8(&a, -1, &err), 0);
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_bytes(p, (size_t)len, int8s, sizeof(int8s));
    mf_pgbin_arr_free(&a);

    mf_pgbin_arr_init(&a, MF_PGBIN_OID_UUID);
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_non_null(p);
    assert_bytes(p, (size_t)len, empty_uuids, sizeof(empty_uuids));
    assert_int_equal(mf_pgbin_arr_uuid(&a, &U, &err), 0);
    p = mf_pgbin_arr_finish(&a, &len, &err);
    assert_int_equal(len, 20 + 4 + 16);
    assert_int_equal((unsigned char)p[15], 1); /* one element */
    assert_memory_equal(p + 24, U.b, 16);
    mf_pgbin_arr_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_row),
        cmocka_unit_test(test_arrays),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

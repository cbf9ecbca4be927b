/* test_err: the error convention's message setting, prefixing, truncation and errno text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_err.h"

static void test_set_and_prefix(void **state)
{
    mf_err err = {{0}};

    (void)state;
    assert_int_equal(mf_err_set(&err, "could not open \"%s\"", "x.sql"), -1);
    assert_string_equal(err.msg, "could not open \"x.sql\"");
    assert_int_equal(mf_err_prefix(&err, "migration %d", 7), -1);
    assert_string_equal(err.msg, "migration 7: could not open \"x.sql\"");
    mf_err_clear(&err);
    assert_string_equal(err.msg, "");
    assert_int_equal(mf_err_set(NULL, "ignored"), -1);
}

static void test_truncation_keeps_the_context(void **state)
{
    mf_err err = {{0}};
    char big[2 * MF_ERR_MAX];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mf_err_set(&err, "%s", big);
    assert_int_equal(strlen(err.msg), MF_ERR_MAX - 1);
    mf_err_prefix(&err, "context");
    assert_memory_equal(err.msg, "context: aaa", 12);
    assert_int_equal(strlen(err.msg), MF_ERR_MAX - 1);
}

static void test_errno_text(void **state)
{
    char buf[128], tiny[4];

    (void)state;
    assert_string_equal(mf_err_errno_str(ENOENT, buf, sizeof(buf)), "No such file or directory");
    assert_true(strlen(mf_err_errno_str(123456, buf, sizeof(buf))) > 0);
    /* a buffer too small for the text still ends terminated */
    mf_err_errno_str(ENOENT, tiny, sizeof(tiny));
    assert_true(strlen(tiny) < sizeof(tiny));
    assert_string_equal(mf_err_errno_str(ENOENT, NULL, 0), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_prefix),
        cmocka_unit_test(test_truncation_keeps_the_context),
        cmocka_unit_test(test_errno_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

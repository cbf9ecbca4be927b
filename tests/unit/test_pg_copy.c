/* test_pg_copy: mf_pg helpers without a server: COPY text fields, SQLSTATE in error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pg.h"

static void test_fields(void **state)
{
    mf_buf b;
    mf_err err;

    (void)state;
    mf_buf_init(&b, 0);
    assert_int_equal(mf_pg_copy_field(&b, "plain 한글", 1, &err), 0);
    assert_int_equal(mf_pg_copy_field(&b, NULL, 0, &err), 0);
    assert_int_equal(mf_pg_copy_field(&b, "", 0, &err), 0);
    assert_int_equal(mf_pg_copy_field(&b, "a\tb\nc\rd\\e", 0, &err), 0);
    assert_int_equal(mf_pg_copy_field(&b, "\\\\\t\t\n", 0, &err), 0);
    assert_int_equal(mf_pg_copy_field(&b, "\\N", 0, &err), 0);
    assert_int_equal(mf_buf_append_char(&b, '\n', &err), 0);
    assert_int_equal(b.len, strlen(b.data));
    assert_string_equal(b.data, "plain 한글\t\\N\t\ta\\tb\\nc\\rd\\\\e\t\\\\\\\\\\t\\t\\n\t\\\\N\n");
    mf_buf_free(&b);
}

static void test_err_sqlstate(void **state)
{
    mf_err err;

    (void)state;
    mf_err_set(&err, "duplicate key value violates unique constraint (SQLSTATE 23505): Key (id)");
    mf_err_prefix(&err, "could not insert claims");
    assert_true(mf_pg_err_has_sqlstate(&err, "23505"));
    assert_false(mf_pg_err_has_sqlstate(&err, "2350"));
    assert_false(mf_pg_err_has_sqlstate(&err, "23503"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_err_sqlstate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_pg_copy: COPY text-format fields (mf_pg_copy_field): escapes, NULL, separators. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

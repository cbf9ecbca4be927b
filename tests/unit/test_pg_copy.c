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
    assert_string_equal(b.data,
                        "plain 한글\t\\N\t\ta\\tb\\nc\\rd\\\\e\t\\\\\\\\\\t\\t\\n\t\\\\N\n");
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

/* Which errors make the database "down", which are the data's fault. */
static void test_err_fault(void **state)
{
    mf_err err;
    char st[6], brief[MF_ERR_MAX];

    (void)state;
    mf_err_set(&err, "numeric field overflow (SQLSTATE 22003): A field with precision 10");
    mf_err_prefix(&err, "could not update the run counters");
    assert_string_equal(mf_pg_err_sqlstate(&err, st), "22003");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_DATA);
    assert_string_equal(mf_pg_err_brief(&err, brief, sizeof(brief)),
                        "could not update the run counters: numeric field overflow"
                        " (SQLSTATE 22003)");
    mf_err_set(&err, "new row violates check constraint \"x\" (SQLSTATE 23514): Failing row"
                     " contains (01012345678)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_DATA);
    assert_null(strstr(mf_pg_err_brief(&err, brief, sizeof(brief)), "0101234"));
    mf_err_set(&err, "index row size 3000 exceeds maximum (SQLSTATE 54000)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_DATA);
    mf_err_set(&err, "could not reconnect to \"h:5432/db\": connection refused");
    assert_string_equal(mf_pg_err_sqlstate(&err, st), "");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_UNREACHABLE);
    assert_string_equal(mf_pg_err_brief(&err, brief, sizeof(brief)), err.msg);
    mf_err_set(&err, "server closed the connection unexpectedly (SQLSTATE )");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_UNREACHABLE);
    mf_err_set(&err, "terminating connection due to administrator command (SQLSTATE 57P01)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_UNREACHABLE);
    mf_err_set(&err, "sorry, too many clients already (SQLSTATE 53300)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_UNREACHABLE);
    mf_err_set(&err, "connection failure (SQLSTATE 08006)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_UNREACHABLE);
    mf_err_set(&err, "deadlock detected (SQLSTATE 40P01)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_OTHER);
    mf_err_set(&err, "canceling statement due to statement timeout (SQLSTATE 57014)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_OTHER);
    mf_err_set(&err, "relation \"x\" does not exist (SQLSTATE 42P01)");
    assert_int_equal(mf_pg_err_fault(&err), MF_PG_FAULT_OTHER);
    assert_string_equal(mf_pg_fault_name(MF_PG_FAULT_DATA), "data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_err_sqlstate),
        cmocka_unit_test(test_err_fault),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

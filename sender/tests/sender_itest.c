/* sender_itest: what the sender's integration tests do alike (rows inserted for their ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "mf_pg.h"
#include "sender_itest.h"

void sender_itest_insert_id(PGconn *c, const char *sql, int n, const char *const *p, char *out)
{
    mf_err err;
    PGresult *r = mf_pg_query(c, sql, n, p, &err);

    if (r == NULL)
        fail_msg("query failed: %s: %s", sql, err.msg);
    assert_int_equal(PQntuples(r), 1);
    snprintf(out, MF_UUID_STR_SIZE, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* test_pg_conninfo: a connection string that does not parse is reported without its text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pg.h"

/* libpq quotes a malformed conninfo in its message (`missing "=" after "pw9" in connection
 * info string`, the whole URI for a bad one): none of it may reach the error, which goes to
 * the log and /healthz. Parsing fails before any connection attempt, so no server is needed. */
static void test_bad_dsn_is_not_echoed(void **state)
{
    static const char *const bad[] = {
        "host=127.0.0.1 port=1 user=msgfleet password=secret pw9 dbname=msgfleet",
        "host=127.0.0.1 password='pw9",
        "host=127.0.0.1 nosuchoption=pw9",
        "postgresql://msgfleet:pw9@[::1/msgfleet",
        "postgresql://msgfleet:pw9@127.0.0.1:1/msgfleet?nosuchoption=x",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mf_err err = {{0}};
        PGconn *c = mf_pg_connect(bad[i], NULL, "test", &err);

        assert_null(c);
        if (strstr(err.msg, "pw9") != NULL || strstr(err.msg, "invalid connection string") == NULL)
            fail_msg("dsn %zu: %s", i, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_dsn_is_not_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

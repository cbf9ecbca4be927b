/* test_sender_halt: the cancelled / paused answer cache of the sender, without a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "sender_halt.h"

static const char RUN_A[] = "0190a1b2-0000-7000-8000-00000000000a";
static const char RUN_B[] = "0190a1b2-0000-7000-8000-00000000000b";
static const char RUN_C[] = "0190a1b2-0000-7000-8000-00000000000c";

static mf_uuid uuid_of(const char *text)
{
    mf_uuid u;
    mf_err err;

    assert_int_equal(mf_uuid_parse(text, &u, &err), 0);
    return u;
}

/* A result like the halt query's: rows of (run id text, 'c' | 'p'). The caller clears it. */
static PGresult *answer(const char *const rows[][2], int n)
{
    PGresAttDesc cols[2];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    assert_non_null(res);
    memset(cols, 0, sizeof(cols));
    cols[0].name = (char *)"id";
    cols[1].name = (char *)"state";
    cols[0].typid = cols[1].typid = 25; /* text */
    cols[0].typlen = cols[1].typlen = -1;
    cols[0].atttypmod = cols[1].atttypmod = -1;
    assert_int_equal(PQsetResultAttrs(res, 2, cols), 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2; j++)
            assert_int_equal(PQsetvalue(res, i, j, (char *)rows[i][j], (int)strlen(rows[i][j])), 1);
    return res;
}

/* A sender that has asked about nothing yet: nothing to ask, no query, every run goes
 * (the arrays are still NULL: sorting them must not touch them). */
static void test_nothing_wanted(void **state)
{
    sender_halt h;
    mf_err err;
    mf_uuid a = uuid_of(RUN_A);

    (void)state;
    sender_halt_init(&h, 1000);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_fresh(&h, 5000), 0);
    assert_int_equal(sender_halt_check(&h, NULL, 5000, &err), 0); /* no runs: no query */
    assert_int_equal(sender_halt_refresh(&h, NULL, 5000, &err), 0);
    assert_int_equal(sender_halt_of(&h, &a), SENDER_HALT_GO);
    assert_int_equal(sender_halt_count(&h), 0);
    assert_int_equal(h.queries, 0);
    sender_halt_free(&h);
}

/* The everyday answer: no run of the batch is cancelled or paused (zero rows). */
static void test_answer_without_halted_runs(void **state)
{
    sender_halt h;
    mf_err err;
    mf_uuid a = uuid_of(RUN_A), b = uuid_of(RUN_B);
    PGresult *res = answer(NULL, 0);

    (void)state;
    sender_halt_init(&h, 1000);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_want(&h, &b, &err), 0);
    assert_int_equal(sender_halt_want(&h, &a, &err), 0);
    assert_int_equal(sender_halt_fresh(&h, 5000), 0); /* never asked */
    assert_int_equal(sender_halt_answer(&h, res, 5000, &err), 0);
    assert_int_equal(sender_halt_count(&h), 0);
    assert_int_equal(sender_halt_of(&h, &a), SENDER_HALT_GO);
    assert_int_equal(sender_halt_of(&h, &b), SENDER_HALT_GO);
    assert_int_equal(sender_halt_fresh(&h, 5999), 1); /* trusted for every_ms */
    assert_int_equal(sender_halt_fresh(&h, 6000), 0);
    assert_int_equal(sender_halt_due(&h, 5999), 0);
    assert_int_equal(sender_halt_due(&h, 6000), 1);
    sender_halt_expire(&h); /* the quota hold's "read again at once" */
    assert_int_equal(sender_halt_due(&h, 5001), 1);
    assert_int_equal(sender_halt_fresh(&h, 5001), 0);
    PQclear(res);
    sender_halt_free(&h);
}

/* Cancelled and paused runs, answered in any order, are found; a run not asked about is not
 * known, so the set that holds it is not fresh. */
static void test_answer_with_halted_runs(void **state)
{
    static const char *const rows[][2] = {{RUN_C, "p"}, {RUN_A, "c"}};
    sender_halt h;
    mf_err err;
    mf_uuid a = uuid_of(RUN_A), b = uuid_of(RUN_B), c = uuid_of(RUN_C);
    PGresult *res = answer(rows, 2);

    (void)state;
    sender_halt_init(&h, 1000);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_want(&h, &c, &err), 0);
    assert_int_equal(sender_halt_want(&h, &a, &err), 0);
    assert_int_equal(sender_halt_want(&h, &a, &err), 0);
    assert_int_equal(sender_halt_want(&h, &b, &err), 0);
    assert_int_equal(sender_halt_fresh(&h, 100), 0);
    assert_int_equal(sender_halt_answer(&h, res, 100, &err), 0);
    assert_int_equal(sender_halt_count(&h), 2);
    assert_int_equal(sender_halt_of(&h, &a), SENDER_HALT_CANCELLED);
    assert_int_equal(sender_halt_of(&h, &b), SENDER_HALT_GO);
    assert_int_equal(sender_halt_of(&h, &c), SENDER_HALT_PAUSED);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_want(&h, &b, &err), 0);
    assert_int_equal(sender_halt_fresh(&h, 200), 1);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_want(&h, &b, &err), 0);
    assert_int_equal(sender_halt_want(&h, &(mf_uuid){{0}}, &err), 0);
    assert_int_equal(sender_halt_fresh(&h, 200), 0);
    PQclear(res);
    sender_halt_free(&h);
}

/* A malformed run id in the answer is an error and leaves no answer behind. */
static void test_answer_bad_row(void **state)
{
    static const char *const rows[][2] = {{"not-a-uuid", "c"}};
    sender_halt h;
    mf_err err;
    mf_uuid a = uuid_of(RUN_A);
    PGresult *res = answer(rows, 1);

    (void)state;
    sender_halt_init(&h, 1000);
    sender_halt_begin(&h);
    assert_int_equal(sender_halt_want(&h, &a, &err), 0);
    assert_int_equal(sender_halt_fresh(&h, 100), 0);
    assert_int_equal(sender_halt_answer(&h, res, 100, &err), -1);
    assert_int_equal(sender_halt_count(&h), 0);
    assert_int_equal(sender_halt_fresh(&h, 101), 0); /* asked again next time */
    PQclear(res);
    sender_halt_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_wanted),
        cmocka_unit_test(test_answer_without_halted_runs),
        cmocka_unit_test(test_answer_with_halted_runs),
        cmocka_unit_test(test_answer_bad_row),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

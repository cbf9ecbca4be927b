/* itest_sender_catalog: the sender's catalog against a real PostgreSQL refuses templates and
 * subjects over their bounds when it loads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pg.h"
#include "mf_test.h"
#include "mf_uuid.h"
#include "sender_catalog.h"
#include "sender_rules.h"

static void insert_id(PGconn *c, const char *sql, int n, const char *const *p, mf_uuid *id)
{
    PGresult *r = mf_test_pg_query(c, sql, n, p);
    mf_err err;

    assert_int_equal(PQntuples(r), 1);
    assert_int_equal(mf_uuid_parse(PQgetvalue(r, 0, 0), id, &err), 0);
    PQclear(r);
}

/* A 4 MB template and a 2 KB subject are cached as invalid (BAD_CONFIG for every job that
 * uses them), without their text; a normal template beside them loads as before. */
static void test_oversized_template_is_invalid(void **state)
{
    mf_test_db *db = *state;
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), db->name, "PostgreSQL (MF_PG_DSN)");
    sender_catalog *cat = sender_catalog_new(60000);
    const sender_template *t;
    const sender_wfconf *w;
    mf_uuid tpl[2], wf[2];
    char *big = malloc(4 * 1024 * 1024 + 1), *subject = malloc(4096);
    const char *p[1];
    mf_err err;

    assert_non_null(big);
    assert_non_null(subject);
    mf_test_db_migrate(c);
    memset(big, 'x', 4 * 1024 * 1024);
    big[4 * 1024 * 1024] = '\0';
    p[0] = big;
    insert_id(c, "INSERT INTO message_templates (name, category, message_type, content) VALUES"
                 " ('big', 'notification', 'lms', $1) RETURNING id", 1, p, &tpl[0]);
    p[0] = "#{name}님 안녕하세요";
    insert_id(c, "INSERT INTO message_templates (name, category, message_type, content) VALUES"
                 " ('ok', 'notification', 'sms', $1) RETURNING id", 1, p, &tpl[1]);
    snprintf(subject, 4096, "{\"subject\":\"%02000d\"}", 0);
    p[0] = subject;
    insert_id(c, "INSERT INTO workflows (name, trigger_type, message_config) VALUES"
                 " ('wf', 'manual', $1::jsonb) RETURNING id", 1, p, &wf[0]);
    p[0] = "{\"subject\":\"#{name}님 안내\"}";
    insert_id(c, "INSERT INTO workflows (name, trigger_type, message_config) VALUES"
                 " ('wf', 'manual', $1::jsonb) RETURNING id", 1, p, &wf[1]);
    assert_non_null(cat);
    if (sender_catalog_load(cat, c, tpl, 2, wf, 2, 1000, &err) != 0)
        fail_msg("%s", err.msg);
    t = sender_catalog_template(cat, &tpl[0]);
    assert_non_null(t);
    assert_non_null(t->invalid);
    assert_string_equal(t->invalid, "template content is 4194304 bytes, over the 16384-byte limit");
    assert_string_equal(t->content, "");
    t = sender_catalog_template(cat, &tpl[1]);
    assert_non_null(t);
    assert_null(t->invalid);
    assert_string_equal(t->content, "#{name}님 안녕하세요");
    w = sender_catalog_workflow(cat, &wf[0]);
    assert_non_null(w);
    assert_non_null(w->invalid);
    assert_string_equal(w->invalid, "message subject is 2000 bytes, over the 1024-byte limit");
    assert_null(w->subject);
    w = sender_catalog_workflow(cat, &wf[1]);
    assert_non_null(w);
    assert_null(w->invalid);
    assert_string_equal(w->subject, "#{name}님 안내");
    sender_catalog_free(cat);
    free(big);
    free(subject);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oversized_template_is_invalid, mf_test_db_setup,
                                        mf_test_db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

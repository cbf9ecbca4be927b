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
#include "sender_itest.h"
#include "sender_rules.h"

/* Linked with -Wl,--wrap=strdup: from the strdup_fail_at-th call on (counted from when it
 * is set; 0: never) strdup fails as when memory runs out. */
static int strdup_fail_at, strdup_calls;
char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);

char *__wrap_strdup(const char *s)
{
    if (strdup_fail_at > 0 && ++strdup_calls >= strdup_fail_at)
        return NULL;
    return __real_strdup(s);
}

static void fail_strdup_from(int nth)
{
    strdup_fail_at = nth;
    strdup_calls = 0;
}

static void insert_id(PGconn *c, const char *sql, int n, const char *const *p, mf_uuid *id)
{
    char text[MF_UUID_STR_SIZE];
    mf_err err;

    sender_itest_insert_id(c, sql, n, p, text);
    assert_int_equal(mf_uuid_parse(text, id, &err), 0);
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
    insert_id(c,
              "INSERT INTO message_templates (name, category, message_type, content) VALUES"
              " ('big', 'notification', 'lms', $1) RETURNING id",
              1, p, &tpl[0]);
    p[0] = "#{name}님 안녕하세요";
    insert_id(c,
              "INSERT INTO message_templates (name, category, message_type, content) VALUES"
              " ('ok', 'notification', 'sms', $1) RETURNING id",
              1, p, &tpl[1]);
    snprintf(subject, 4096, "{\"subject\":\"%02000d\"}", 0);
    p[0] = subject;
    insert_id(c,
              "INSERT INTO workflows (name, trigger_type, message_config) VALUES"
              " ('wf', 'manual', $1::jsonb) RETURNING id",
              1, p, &wf[0]);
    p[0] = "{\"subject\":\"#{name}님 안내\"}";
    insert_id(c,
              "INSERT INTO workflows (name, trigger_type, message_config) VALUES"
              " ('wf', 'manual', $1::jsonb) RETURNING id",
              1, p, &wf[1]);
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

/* Out of memory while a template, a workflow's message_config or a setting is copied: the
 * load fails with "out of memory ..." (the batch is retried), it never looks like a missing
 * row or leaves a NULL field; the next load, with memory back, reads everything. Every strdup
 * of the load fails once in turn. */
static void test_out_of_memory_is_an_error(void **state)
{
    mf_test_db *db = *state;
    PGconn *c = mf_test_pg_connect(mf_test_pg_dsn(), db->name, "PostgreSQL (MF_PG_DSN)");
    const char *p[1];
    mf_uuid tpl, wf;
    int failed = 0, nth;

    mf_test_db_migrate(c);
    p[0] = "#{name}님 안녕하세요";
    insert_id(c,
              "INSERT INTO message_templates (name, category, message_type, content) VALUES"
              " ('ok', 'promotion', 'sms', $1) RETURNING id",
              1, p, &tpl);
    p[0] = "{\"sender_number\":\"0212345678\",\"subject\":\"안내\","
           "\"kakao\":{\"pf_id\":\"KA01PF\"},"
           "\"advertising\":{\"sender_name\":\"가게\",\"opt_out\":\"080-000-0000\"}}";
    insert_id(c,
              "INSERT INTO workflows (name, trigger_type, message_config) VALUES"
              " ('wf', 'manual', $1::jsonb) RETURNING id",
              1, p, &wf);
    PQclear(mf_test_pg_query(c,
                             "INSERT INTO system_settings (setting_key, setting_value) VALUES"
                             " ('coolsms_sender_number', '\"0299998888\"'::jsonb),"
                             " ('kakao_pf_id', '\"KA01SET\"'::jsonb)",
                             0, NULL));
    for (nth = 1; nth < 64; nth++) {
        sender_catalog *cat = sender_catalog_new(60000);
        const sender_template *t;
        const sender_wfconf *w;
        mf_err err = {{0}};
        int rc, calls;

        assert_non_null(cat);
        fail_strdup_from(nth);
        rc = sender_catalog_load(cat, c, &tpl, 1, &wf, 1, 1000, &err);
        calls = strdup_calls;
        fail_strdup_from(0);
        if (rc == 0 && calls >= nth)
            fail_msg("strdup %d failed and the load still succeeded", nth);
        if (rc != 0) {
            failed++;
            if (strncmp(err.msg, "out of memory", 13) != 0)
                fail_msg("strdup %d failing: \"%s\", not out of memory", nth, err.msg);
            if (sender_catalog_load(cat, c, &tpl, 1, &wf, 1, 1000, &err) != 0)
                fail_msg("strdup %d failing: the next load failed: %s", nth, err.msg);
        }
        t = sender_catalog_template(cat, &tpl);
        w = sender_catalog_workflow(cat, &wf);
        assert_non_null(t);
        assert_non_null(w);
        assert_string_equal(t->category, "promotion");
        assert_string_equal(t->message_type, "sms");
        assert_string_equal(t->content, "#{name}님 안녕하세요");
        assert_string_equal(t->template_code, "");
        assert_string_equal(w->sender_number, "0212345678");
        assert_string_equal(w->subject, "안내");
        assert_string_equal(w->pf_id, "KA01PF");
        assert_string_equal(w->ad_sender_name, "가게");
        assert_string_equal(w->ad_opt_out, "080-000-0000");
        assert_string_equal(sender_catalog_settings(cat)->sender_number, "0299998888");
        assert_string_equal(sender_catalog_settings(cat)->pf_id, "KA01SET");
        sender_catalog_free(cat);
        if (rc == 0)
            break; /* the load made fewer copies than nth: every one was failed once */
    }
    /* 5 template columns, 5 message_config strings, 2 settings */
    assert_int_equal(failed, 12);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oversized_template_is_invalid, mf_test_db_setup,
                                        mf_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory_is_an_error, mf_test_db_setup,
                                        mf_test_db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sim_req: the simulator's streaming request parser keeps what a JSON tree would give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_req.h"

static sim_req *parse(const char *body)
{
    char why[256];
    sim_req *r = sim_req_parse(body, strlen(body), why, sizeof(why));

    if (r == NULL)
        fail_msg("parse failed: %s (%s)", why, body);
    return r;
}

static void expect_error(const char *body, size_t len, const char *needle)
{
    char why[256] = "";
    sim_req *r = sim_req_parse(body, len, why, sizeof(why));

    assert_null(r);
    if (strstr(why, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", why, needle);
    assert_int_equal(why[strlen(why) - 1] != '\n', 1);
}

static void test_fields_and_kinds(void **state)
{
    sim_req *r = parse("{\"messages\":[{\"to\":\"010\",\"from\":null,\"text\":5,\"type\":\"sms\","
                       "\"autoTypeDetect\":false,\"unknown\":{\"to\":\"no\",\"x\":[{\"text\":1}]},"
                       "\"subject\":\"제목\"},7,[1,{\"to\":\"x\"}],{}],"
                       "\"allowDuplicates\":true,\"showMessageList\":1,\"scheduledDate\":null}");
    const sim_req_msg *m;

    (void)state;
    assert_int_equal(sim_req_messages_kind(r), SIM_J_ARRAY);
    assert_int_equal(sim_req_count(r), 4);
    m = sim_req_at(r, 0);
    assert_true(m->is_object);
    assert_string_equal(sim_jstr(&m->to), "010"); /* the nested "to" did not overwrite it */
    assert_int_equal(m->from.kind, SIM_J_NULL);
    assert_null(sim_jstr(&m->from));
    assert_int_equal(m->text.kind, SIM_J_NUMBER);
    assert_int_equal(m->auto_type_detect.kind, SIM_J_FALSE);
    assert_string_equal(sim_jstr(&m->subject), "제목");
    assert_int_equal(m->subject.len, strlen("제목"));
    assert_int_equal(m->custom_fields.kind, SIM_J_ABSENT);
    assert_int_equal(m->kakao.kind, SIM_J_ABSENT);
    assert_false(sim_req_at(r, 1)->is_object); /* 7 */
    assert_false(sim_req_at(r, 2)->is_object); /* an array, its object not a message */
    assert_true(sim_req_at(r, 3)->is_object);
    assert_int_equal(sim_req_at(r, 3)->to.kind, SIM_J_ABSENT);
    assert_int_equal(sim_req_allow_duplicates(r)->kind, SIM_J_TRUE);
    assert_int_equal(sim_req_show_message_list(r)->kind, SIM_J_NUMBER);
    assert_int_equal(sim_req_scheduled_date(r)->kind, SIM_J_NULL);
    sim_req_free(r);
}

static void test_custom_fields_as_an_object(void **state)
{
    /* a repeated key keeps its first position and takes the last value, as a JSON object */
    sim_req *r = parse("{\"messages\":[{\"customFields\":{\"jobId\":\"a\",\"b\":\"x\","
                       "\"jobId\":\"c\",\"n\":{\"deep\":1}}},{\"customFields\":\"no\"}]}");
    const sim_req_msg *m = sim_req_at(r, 0);
    const sim_req_kv *kv = sim_req_cf(r, m);

    (void)state;
    assert_int_equal(m->custom_fields.kind, SIM_J_OBJECT);
    assert_int_equal(m->ncf, 3);
    assert_int_equal(m->cf_distinct, 3);
    assert_string_equal(kv[0].key, "jobId");
    assert_string_equal(sim_jstr(&kv[0].val), "c");
    assert_string_equal(kv[1].key, "b");
    assert_string_equal(kv[2].key, "n");
    assert_int_equal(kv[2].val.kind, SIM_J_OBJECT);
    assert_string_equal(sim_req_cf_get(r, m, "jobId"), "c");
    assert_null(sim_req_cf_get(r, m, "n"));
    assert_null(sim_req_cf_get(r, m, "missing"));
    m = sim_req_at(r, 1);
    assert_int_equal(m->custom_fields.kind, SIM_J_STRING);
    assert_null(sim_req_cf_get(r, m, "jobId"));
    sim_req_free(r);
}

static void test_many_custom_fields_are_counted(void **state)
{
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"messages\":[{\"customFields\":{");
    sim_req *r;

    (void)state;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "}}]}");
    r = parse(body);
    assert_int_equal(sim_req_at(r, 0)->cf_distinct, 40);
    assert_int_equal(sim_req_at(r, 0)->ncf, SIM_REQ_CF_KEEP);
    sim_req_free(r);
}

static void test_kakao_and_repeated_messages(void **state)
{
    sim_req *r = parse("{\"messages\":[{\"to\":\"first\"}],\"messages\":[{\"kakaoOptions\":"
                       "{\"buttons\":[{\"pfId\":\"no\"}],\"pfId\":\"PF\",\"templateId\":\"T\"}},"
                       "{\"kakaoOptions\":null}]}");
    const sim_req_msg *m = sim_req_at(r, 0);

    (void)state;
    assert_int_equal(sim_req_count(r), 2); /* the last "messages" counts */
    assert_int_equal(m->to.kind, SIM_J_ABSENT);
    assert_int_equal(m->kakao.kind, SIM_J_OBJECT);
    assert_string_equal(sim_jstr(&m->pf_id), "PF");
    assert_string_equal(sim_jstr(&m->template_id), "T");
    assert_int_equal(sim_req_at(r, 1)->kakao.kind, SIM_J_NULL);
    sim_req_free(r);
}

/* Found by fuzz_sim_req (corpus input kinds), as UBSan's "applying zero offset to null
 * pointer": with no customFields entry in the whole request the table was never allocated
 * and sim_req_cf returned NULL + 0, on every send without customFields. It now returns NULL
 * (the loops over m->ncf == 0 entries never read it). Only clang's UBSan flags the old
 * expression; here the contract is checked. */
static void test_no_custom_fields_at_all(void **state)
{
    sim_req *r = parse("{\"messages\":[{\"to\":\"010\",\"customFields\":\"no\"},{}]}");

    (void)state;
    for (size_t i = 0; i < sim_req_count(r); i++) {
        assert_int_equal(sim_req_at(r, i)->ncf, 0);
        assert_null(sim_req_cf(r, sim_req_at(r, i)));
        assert_null(sim_req_cf_get(r, sim_req_at(r, i), "jobId"));
    }
    sim_req_free(r);
}

static void test_rejects(void **state)
{
    (void)state;
    expect_error("", 0, "premature EOF");
    expect_error("[1]", 3, "not an object");
    expect_error("\"x\"", 3, "not an object");
    expect_error("{\"messages\":[{\"text\":\"a\\u0000b\"}]}", 33, "\\u0000");
    expect_error("{\"a\":1} x", 9, "trailing garbage");
    expect_error("{\"a\":\"\xc3\x28\"}", 10, "UTF8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_kinds),
        cmocka_unit_test(test_custom_fields_as_an_object),
        cmocka_unit_test(test_many_custom_fields_are_counted),
        cmocka_unit_test(test_kakao_and_repeated_messages),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_no_custom_fields_at_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of mf_log: valid JSON lines, levels, escaping, masking, cut long lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "mf_log.h"

/* Runs `emit` against a logger writing into a pipe and returns what it wrote. */
static char *capture(void (*emit)(mf_log *), mf_log_level min)
{
    int fds[2];
    static char out[65536];
    ssize_t n;
    mf_log *log;

    assert_int_equal(pipe(fds), 0);
    log = mf_log_new("test", min, fds[1]);
    assert_non_null(log);
    emit(log);
    mf_log_free(log);
    close(fds[1]);
    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

static void emit_fields(mf_log *log)
{
    MF_LOG(log, MF_LOG_INFO, "job \"sent\"\n", MF_KV_S("run_id", "r-1"), MF_KV_I("count", 42),
           MF_KV_PHONE("to", "01012345678"), MF_KV_S("name", "김민수\t"));
    MF_LOG(log, MF_LOG_DEBUG, "hidden", MF_KV_I("x", 1));
}

static void test_fields_are_json(void **state)
{
    char *text = capture(emit_fields, MF_LOG_INFO);
    json_error_t jerr;
    json_t *obj;

    (void)state;
    assert_null(strstr(text, "hidden"));
    assert_non_null(strchr(text, '\n'));
    obj = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "msg")), "job \"sent\"\n");
    assert_string_equal(json_string_value(json_object_get(obj, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(obj, "comp")), "test");
    assert_string_equal(json_string_value(json_object_get(obj, "run_id")), "r-1");
    assert_int_equal(json_integer_value(json_object_get(obj, "count")), 42);
    assert_string_equal(json_string_value(json_object_get(obj, "to")), "010****5678");
    assert_string_equal(json_string_value(json_object_get(obj, "name")), "김민수\t");
    assert_null(strstr(text, "01012345678"));
    json_decref(obj);
}

static void emit_long(mf_log *log)
{
    static char big[20000];

    memset(big, '"', sizeof(big) - 1);
    MF_LOG(log, MF_LOG_ERROR, "long", MF_KV_S("a", big), MF_KV_S("b", big), MF_KV_I("c", 7));
}

static void test_long_line_stays_valid(void **state)
{
    char *text = capture(emit_long, MF_LOG_INFO);
    json_error_t jerr;
    json_t *obj;

    (void)state;
    assert_true(strlen(text) <= 8192);
    obj = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
    if (obj == NULL)
        fail_msg("invalid json: %s", jerr.text);
    json_decref(obj);
}

static void test_mask_and_levels(void **state)
{
    mf_log_level lvl;

    (void)state;
    assert_int_equal(mf_log_parse_level("WARN", &lvl), 0);
    assert_int_equal(lvl, MF_LOG_WARN);
    assert_int_equal(mf_log_parse_level("loud", &lvl), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_are_json),
        cmocka_unit_test(test_long_line_stays_valid),
        cmocka_unit_test(test_mask_and_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of mf_template: substitution, missing values, no re-expansion, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mf_template.h"

/* Variables as name/value pairs, NULL-terminated. */
static const char *lookup_pairs(void *arg, const char *name, size_t name_len, size_t *vlen)
{
    const char *const *pairs = arg;

    for (size_t i = 0; pairs[i] != NULL; i += 2) {
        if (strlen(pairs[i]) == name_len && memcmp(pairs[i], name, name_len) == 0) {
            *vlen = strlen(pairs[i + 1]);
            return pairs[i + 1];
        }
    }
    return NULL;
}

static const char *render(const char *tpl, const char *const *vars, char *out, size_t outsz,
                          mf_err *err)
{
    size_t len = 0;

    if (mf_template_render(tpl, lookup_pairs, (void *)vars, out, outsz, &len, err) != 0)
        return NULL;
    assert_int_equal(len, strlen(out));
    return out;
}

static void test_substitutes_korean(void **state)
{
    static const char *const vars[] = {"name", "김민수",     "이름", "박지영",
                                       "date", "2026-11-25", NULL};
    char out[256];
    mf_err err = {{0}};

    (void)state;
    assert_string_equal(render("#{name}님, #{ date } 예약이 확정되었습니다. #{이름}", vars, out,
                               sizeof(out), &err),
                        "김민수님, 2026-11-25 예약이 확정되었습니다. 박지영");
    assert_string_equal(render("no placeholders", vars, out, sizeof(out), &err), "no placeholders");
    assert_string_equal(render("", vars, out, sizeof(out), &err), "");
}

static void test_missing_variable_fails_with_name(void **state)
{
    static const char *const vars[] = {"name", "김민수", NULL};
    char out[256];
    mf_err err = {{0}};

    (void)state;
    assert_null(render("#{name}님 쿠폰 #{coupon_code}", vars, out, sizeof(out), &err));
    assert_string_equal(err.msg, "missing value for variable \"coupon_code\"");
}

static void test_values_are_not_expanded_again(void **state)
{
    static const char *const vars[] = {"name", "#{secret}", "secret", "LEAK", NULL};
    char out[256];
    mf_err err = {{0}};

    (void)state;
    assert_string_equal(render("안녕 #{name}", vars, out, sizeof(out), &err), "안녕 #{secret}");
}

static void test_malformed_placeholders_are_literal(void **state)
{
    static const char *const vars[] = {"a", "X", NULL};
    char out[256];
    mf_err err = {{0}};

    (void)state;
    assert_string_equal(render("#{a", vars, out, sizeof(out), &err), "#{a");
    assert_string_equal(render("#{} #{ } #{a}", vars, out, sizeof(out), &err), "#{} #{ } X");
    assert_string_equal(render("#{#{a}}", vars, out, sizeof(out), &err), "#{X}");
    assert_string_equal(render("{a} #a #{a}#{a}", vars, out, sizeof(out), &err), "{a} #a XX");
    assert_string_equal(render("#{a\n}", vars, out, sizeof(out), &err), "#{a\n}");
}

static void test_output_bound_is_an_error(void **state)
{
    static const char *const vars[] = {"a", "0123456789", NULL};
    char out[16];
    mf_err err = {{0}};

    (void)state;
    assert_string_equal(render("#{a}#{a}" + 4, vars, out, sizeof(out), &err), "0123456789");
    assert_null(render("#{a}#{a}", vars, out, sizeof(out), &err));
    assert_string_equal(err.msg, "rendered text longer than 15 bytes");
    /* exactly fits: 15 bytes + terminator */
    assert_string_equal(render("#{a}abcde", vars, out, sizeof(out), &err), "0123456789abcde");
}

static int collect(void *arg, const char *name, size_t len)
{
    char *acc = arg;
    size_t used = strlen(acc);

    snprintf(acc + used, 128 - used, "[%.*s]", (int)len, name);
    return 0;
}

static void test_each_variable(void **state)
{
    char acc[128] = "";

    (void)state;
    assert_int_equal(mf_template_each_variable("#{a} #{ 이름 } #{a} #{", collect, acc), 0);
    assert_string_equal(acc, "[a][이름][a]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_substitutes_korean),
        cmocka_unit_test(test_missing_variable_fails_with_name),
        cmocka_unit_test(test_values_are_not_expanded_again),
        cmocka_unit_test(test_malformed_placeholders_are_literal),
        cmocka_unit_test(test_output_bound_is_an_error),
        cmocka_unit_test(test_each_variable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

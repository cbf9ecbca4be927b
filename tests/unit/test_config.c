/* Unit tests of mf_config: defaults, parsing, bounds, required keys, secrets from files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mf_config.h"

typedef struct demo_cfg {
    char dsn[64];
    char secret[32];
    long long batch;
    double ratio;
    int verbose;
} demo_cfg;

static const mf_config_key demo_table[] = {
    {"T_DSN", MF_CFG_STR, NULL, 0, 0, 0, 0, offsetof(demo_cfg, dsn), sizeof(((demo_cfg *)0)->dsn),
     MF_CFG_SENDER, "database"},
    {"T_SECRET", MF_CFG_SECRET, "", 0, 0, 0, 0, offsetof(demo_cfg, secret),
     sizeof(((demo_cfg *)0)->secret), MF_CFG_SENDER, "api secret"},
    {"T_BATCH", MF_CFG_INT, "500", 1, 10000, 0, 0, offsetof(demo_cfg, batch), 0, MF_CFG_SENDER,
     "batch size"},
    {"T_RATIO", MF_CFG_DOUBLE, "0.5", 0, 0, 0.0, 1.0, offsetof(demo_cfg, ratio), 0, MF_CFG_SENDER,
     "a share"},
    {"T_VERBOSE", MF_CFG_BOOL, "false", 0, 0, 0, 0, offsetof(demo_cfg, verbose), 0,
     MF_CFG_SENDER | MF_CFG_PLANNER, "chatty"},
};
#define NKEYS (sizeof(demo_table) / sizeof(demo_table[0]))

/* A fake environment: pairs of name, value. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env[i] != NULL; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

static int load(const char *const *env, demo_cfg *cfg, mf_err *err, unsigned program)
{
    fake_env = env;
    memset(cfg, 0, sizeof(*cfg));
    return mf_config_load(demo_table, NKEYS, program, cfg, fake_getenv, err);
}

static void test_defaults_apply(void **state)
{
    static const char *const env[] = {"T_DSN", "host=x", NULL};
    demo_cfg cfg;
    mf_err err = {{0}};

    (void)state;
    assert_int_equal(load(env, &cfg, &err, MF_CFG_SENDER), 0);
    assert_string_equal(cfg.dsn, "host=x");
    assert_int_equal(cfg.batch, 500);
    assert_true(cfg.ratio > 0.49 && cfg.ratio < 0.51);
    assert_int_equal(cfg.verbose, 0);
}

static void test_missing_required_names_key(void **state)
{
    static const char *const env[] = {NULL};
    demo_cfg cfg;
    mf_err err = {{0}};

    (void)state;
    assert_int_equal(load(env, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "T_DSN"));
    /* the planner does not read T_DSN, so it loads fine */
    assert_int_equal(load(env, &cfg, &err, MF_CFG_PLANNER), 0);
}

static void test_bad_values_name_key(void **state)
{
    static const char *const bad_int[] = {"T_DSN", "x", "T_BATCH", "12abc", NULL};
    static const char *const out_of_bounds[] = {"T_DSN", "x", "T_BATCH", "10001", NULL};
    static const char *const bad_bool[] = {"T_DSN", "x", "T_VERBOSE", "maybe", NULL};
    static const char *const bad_ratio[] = {"T_DSN", "x", "T_RATIO", "1.5", NULL};
    static const char *const too_long[] = {
        "T_DSN", "0123456789012345678901234567890123456789012345678901234567890123456789", NULL};
    demo_cfg cfg;
    mf_err err = {{0}};

    (void)state;
    assert_int_equal(load(bad_int, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "T_BATCH"));
    assert_non_null(strstr(err.msg, "not an integer"));
    assert_int_equal(load(out_of_bounds, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "outside [1, 10000]"));
    assert_int_equal(load(bad_bool, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "T_VERBOSE"));
    assert_int_equal(load(bad_ratio, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "T_RATIO"));
    assert_int_equal(load(too_long, &cfg, &err, MF_CFG_SENDER), -1);
    assert_non_null(strstr(err.msg, "longer than 63 bytes"));
}

static void test_secret_from_file(void **state)
{
    char path[] = "/tmp/mf_config_secretXXXXXX";
    int fd = mkstemp(path);
    const char *env[] = {"T_DSN", "x", "T_SECRET_FILE", path, NULL};
    demo_cfg cfg;
    mf_err err = {{0}};

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cr3t\n", 7), 7);
    close(fd);
    assert_int_equal(load(env, &cfg, &err, MF_CFG_SENDER), 0);
    assert_string_equal(cfg.secret, "s3cr3t");
    unlink(path);
}

typedef struct warned {
    int n;
    char msg[512];
} warned;

static void on_warn(void *arg, const char *key, const char *msg)
{
    warned *w = arg;

    assert_string_equal(key, "T_SECRET");
    w->n++;
    snprintf(w->msg, sizeof(w->msg), "%s", msg);
}

/* A secret read from a file that group or others may read gets a warning naming the file. */
static void test_secret_file_mode_warning(void **state)
{
    char path[] = "/tmp/mf_test_secret_XXXXXX";
    int fd = mkstemp(path);
    const char *env[] = {"T_DSN", "x", "T_SECRET_FILE", path, NULL};
    const char *env_set[] = {"T_DSN", "x", "T_SECRET", "direct", "T_SECRET_FILE", path, NULL};
    warned w = {0, {0}};

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cr3t\n", 7), 7);
    close(fd);
    fake_env = env;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(mf_config_check_secret_files(demo_table, NKEYS, MF_CFG_SENDER, fake_getenv,
                                                  on_warn, &w),
                     1);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.msg, "T_SECRET_FILE"));
    assert_non_null(strstr(w.msg, path));
    assert_non_null(strstr(w.msg, "every user"));
    assert_non_null(strstr(w.msg, "0644"));
    assert_null(strstr(w.msg, "s3cr3t"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(mf_config_check_secret_files(demo_table, NKEYS, MF_CFG_SENDER, fake_getenv,
                                                  on_warn, &w),
                     1);
    assert_non_null(strstr(w.msg, "its group"));
    /* owner only: quiet; a program that does not read the key: quiet */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(mf_config_check_secret_files(demo_table, NKEYS, MF_CFG_SENDER, fake_getenv,
                                                  on_warn, &w),
                     0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(mf_config_check_secret_files(demo_table, NKEYS, MF_CFG_PLANNER, fake_getenv,
                                                  on_warn, &w),
                     0);
    /* the variable itself wins: the file is not read, so no warning */
    fake_env = env_set;
    assert_int_equal(mf_config_check_secret_files(demo_table, NKEYS, MF_CFG_SENDER, fake_getenv,
                                                  on_warn, &w),
                     0);
    assert_int_equal(w.n, 2);
    unlink(path);
}

static void test_markdown_lists_every_key(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    mf_config_write_markdown(demo_table, NKEYS, f);
    fclose(f);
    for (size_t i = 0; i < NKEYS; i++)
        assert_non_null(strstr(text, demo_table[i].name));
    assert_non_null(strstr(text, "1..10000"));
    assert_true(mf_config_has_key(demo_table, NKEYS, "T_RATIO"));
    assert_false(mf_config_has_key(demo_table, NKEYS, "T_NOPE"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_apply),
        cmocka_unit_test(test_missing_required_names_key),
        cmocka_unit_test(test_bad_values_name_key),
        cmocka_unit_test(test_secret_from_file),
        cmocka_unit_test(test_secret_file_mode_warning),
        cmocka_unit_test(test_markdown_lists_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

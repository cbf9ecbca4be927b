/* Unit tests of mf_kafka_sec: the Kafka TLS/SASL keys, their checks and librdkafka properties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include "mf_clock.h"
#include "mf_config.h"
#include "mf_kafka.h"
#include "mf_kafka_sec.h"

#define PASSWORD "s3cret-Pa55word-xyz"

typedef struct sec_cfg {
    mf_kafka_sec sec;
} sec_cfg;

static const mf_config_key table[] = {MF_KAFKA_SEC_KEYS(sec_cfg, sec, MF_CFG_SENDER)};
#define NKEYS (sizeof(table) / sizeof(table[0]))

static const char *const *fake_env;
static char ca_path[64] = "";
static char pw_path[64] = "";

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env[i] != NULL; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

/* mf_config_load then mf_kafka_sec_check, as the daemons' loaders do. */
static int load(const char *const *env, sec_cfg *cfg, mf_err *err)
{
    fake_env = env;
    memset(cfg, 0, sizeof(*cfg));
    mf_err_clear(err);
    if (mf_config_load(table, NKEYS, MF_CFG_SENDER, cfg, fake_getenv, err) != 0)
        return -1;
    return mf_kafka_sec_check(&cfg->sec, err);
}

static void write_file(char *path, size_t cap, const char *tmpl, const char *text)
{
    int fd;

    snprintf(path, cap, "%s", tmpl);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    write_file(ca_path, sizeof(ca_path), "/tmp/test_kafka_sec_ca.XXXXXX",
               "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    write_file(pw_path, sizeof(pw_path), "/tmp/test_kafka_sec_pw.XXXXXX", PASSWORD "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(ca_path);
    unlink(pw_path);
    return 0;
}

static const char *prop(const mf_kafka_sec_props *p, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; p->list[i] != NULL; i++)
        if (strncmp(p->list[i], name, len) == 0 && p->list[i][len] == '=')
            return p->list[i] + len + 1;
    return NULL;
}

static void test_default_is_plaintext(void **state)
{
    static const char *const env[] = {NULL};
    sec_cfg cfg;
    mf_kafka_sec_props p;
    mf_err err;

    (void)state;
    assert_int_equal(load(env, &cfg, &err), 0);
    assert_false(mf_kafka_sec_enabled(&cfg.sec));
    assert_false(mf_kafka_sec_enabled(NULL));
    assert_int_equal(mf_kafka_sec_props_make(&cfg.sec, &p, &err), 0);
    assert_null(p.list[0]);
}

/* sasl_ssl with the password from MF_KAFKA_SASL_PASSWORD_FILE: every property is there, the
 * spelling is librdkafka's whatever the case of the key's value. */
static void test_sasl_ssl_properties(void **state)
{
    const char *const env[] = {"MF_KAFKA_SECURITY_PROTOCOL",
                               "SASL_SSL",
                               "MF_KAFKA_SASL_MECHANISM",
                               "scram-sha-256",
                               "MF_KAFKA_SASL_USERNAME",
                               "fleet",
                               "MF_KAFKA_SASL_PASSWORD_FILE",
                               pw_path,
                               "MF_KAFKA_SSL_CA_LOCATION",
                               ca_path,
                               NULL};
    sec_cfg cfg;
    mf_kafka_sec_props p;
    mf_err err;

    (void)state;
    assert_int_equal(load(env, &cfg, &err), 0);
    assert_true(mf_kafka_sec_enabled(&cfg.sec));
    assert_int_equal(mf_kafka_sec_props_make(&cfg.sec, &p, &err), 0);
    assert_string_equal(prop(&p, "security.protocol"), "sasl_ssl");
    assert_string_equal(prop(&p, "sasl.mechanisms"), "SCRAM-SHA-256");
    assert_string_equal(prop(&p, "sasl.username"), "fleet");
    assert_string_equal(prop(&p, "sasl.password"), PASSWORD);
    assert_string_equal(prop(&p, "ssl.ca.location"), ca_path);
    assert_string_equal(prop(&p, "ssl.endpoint.identification.algorithm"), "https");
    assert_string_equal(prop(&p, "enable.ssl.certificate.verification"), "true");
    assert_null(prop(&p, "ssl.key.location"));
    mf_kafka_sec_props_wipe(&p);
    assert_null(p.list[0]);
    for (size_t i = 0; i < sizeof(p.buf); i++)
        assert_int_equal(p.buf[i], 0); /* the copy of the password is gone */
}

/* The properties are accepted by librdkafka itself and land in its configuration. */
static void test_apply_to_librdkafka(void **state)
{
    const char *const env[] = {"MF_KAFKA_SECURITY_PROTOCOL",
                               "sasl_ssl",
                               "MF_KAFKA_SASL_USERNAME",
                               "fleet",
                               "MF_KAFKA_SASL_PASSWORD",
                               PASSWORD,
                               "MF_KAFKA_SSL_CA_LOCATION",
                               ca_path,
                               "MF_KAFKA_SSL_VERIFY_HOSTNAME",
                               "false",
                               NULL};
    sec_cfg cfg;
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    char val[256];
    size_t len;
    mf_err err;

    (void)state;
    assert_int_equal(load(env, &cfg, &err), 0);
    assert_int_equal(mf_kafka_sec_apply(&cfg.sec, rc, &err), 0);
    len = sizeof(val);
    assert_int_equal(rd_kafka_conf_get(rc, "security.protocol", val, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(val, "sasl_ssl");
    len = sizeof(val);
    assert_int_equal(rd_kafka_conf_get(rc, "sasl.mechanisms", val, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(val, "SCRAM-SHA-512");
    len = sizeof(val);
    assert_int_equal(rd_kafka_conf_get(rc, "ssl.endpoint.identification.algorithm", val, &len),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(val, "none");
    rd_kafka_conf_destroy(rc);
    assert_int_equal(mf_kafka_sec_apply(NULL, NULL, &err), 0);
}

/* Each mistake stops the start with a message naming the key, never the password. */
static void test_mistakes_name_the_key(void **state)
{
    static const struct {
        const char *env[12];
        const char *expect;
    } cases[] = {
        {{"MF_KAFKA_SECURITY_PROTOCOL", "tls", NULL}, "MF_KAFKA_SECURITY_PROTOCOL: \"tls\""},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_ssl", "MF_KAFKA_SASL_MECHANISM", "GSSAPI",
          "MF_KAFKA_SASL_USERNAME", "u", "MF_KAFKA_SASL_PASSWORD", PASSWORD, NULL},
         "MF_KAFKA_SASL_MECHANISM: \"GSSAPI\""},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_ssl", "MF_KAFKA_SASL_PASSWORD", PASSWORD, NULL},
         "missing required configuration MF_KAFKA_SASL_USERNAME"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_ssl", "MF_KAFKA_SASL_USERNAME", "u", NULL},
         "missing required configuration MF_KAFKA_SASL_PASSWORD"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext", "MF_KAFKA_SASL_MECHANISM", "PLAIN",
          "MF_KAFKA_SASL_USERNAME", "u", "MF_KAFKA_SASL_PASSWORD", PASSWORD, NULL},
         "needs MF_KAFKA_SECURITY_PROTOCOL sasl_ssl"},
        {{"MF_KAFKA_SASL_USERNAME", "u", "MF_KAFKA_SASL_PASSWORD", PASSWORD, NULL},
         "MF_KAFKA_SECURITY_PROTOCOL is plaintext"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext", "MF_KAFKA_SASL_USERNAME", "u",
          "MF_KAFKA_SASL_PASSWORD", PASSWORD, "MF_KAFKA_SSL_CA_LOCATION", "/etc/hostname", NULL},
         "MF_KAFKA_SSL_CA_LOCATION is set but MF_KAFKA_SECURITY_PROTOCOL is sasl_plaintext"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "ssl", "MF_KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.pem",
          NULL},
         "MF_KAFKA_SSL_CA_LOCATION: \"/nonexistent/ca.pem\": No such file"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "ssl", "MF_KAFKA_SSL_CA_LOCATION", "/tmp", NULL},
         "MF_KAFKA_SSL_CA_LOCATION: \"/tmp\" is not a file"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "ssl", "MF_KAFKA_SSL_CERTIFICATE_LOCATION", "/etc/hostname",
          NULL},
         "set both or neither"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "ssl", "MF_KAFKA_SSL_KEY_PASSWORD", PASSWORD, NULL},
         "MF_KAFKA_SSL_KEY_PASSWORD is set without MF_KAFKA_SSL_KEY_LOCATION"},
        {{"MF_KAFKA_SECURITY_PROTOCOL", "sasl_ssl", "MF_KAFKA_SASL_USERNAME", "u",
          "MF_KAFKA_SASL_PASSWORD_FILE", "/nonexistent/pw", NULL},
         "could not open MF_KAFKA_SASL_PASSWORD_FILE \"/nonexistent/pw\""},
    };
    sec_cfg cfg;
    mf_kafka_sec_props p;
    mf_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = load(cases[i].env, &cfg, &err);

        if (rc == 0 || strstr(err.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: rc %d, error \"%s\", expected \"%s\"", i, rc, err.msg,
                     cases[i].expect);
        assert_null(strstr(err.msg, PASSWORD));
        /* a struct that was never checked is checked again before use */
        if (cfg.sec.protocol[0] != '\0')
            assert_int_equal(mf_kafka_sec_props_make(&cfg.sec, &p, &err), -1);
    }
}

/* The effective configuration (--config-doc, logs) shows that a password is set, not it. */
static void test_password_never_printed(void **state)
{
    const char *const env[] = {"MF_KAFKA_SECURITY_PROTOCOL",
                               "sasl_ssl",
                               "MF_KAFKA_SASL_USERNAME",
                               "fleet",
                               "MF_KAFKA_SASL_PASSWORD",
                               PASSWORD,
                               NULL};
    sec_cfg cfg;
    mf_err err;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_int_equal(load(env, &cfg, &err), 0);
    mf_config_write_effective(table, NKEYS, MF_CFG_SENDER, &cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "MF_KAFKA_SASL_PASSWORD=(set)"));
    assert_non_null(strstr(buf, "MF_KAFKA_SECURITY_PROTOCOL=sasl_ssl"));
    assert_null(strstr(buf, PASSWORD));
    free(buf);
}

/* Brokers that do not answer are not a login failure: the check gives up after its timeout
 * and the clients go on retrying as usual. */
static void test_login_check_unreachable_is_not_fatal(void **state)
{
    const char *const env[] = {"MF_KAFKA_SECURITY_PROTOCOL",
                               "sasl_ssl",
                               "MF_KAFKA_SASL_USERNAME",
                               "fleet",
                               "MF_KAFKA_SASL_PASSWORD",
                               PASSWORD,
                               NULL};
    sec_cfg cfg;
    mf_kafka_conf kc = {"127.0.0.1:1", "test_kafka_sec", NULL, NULL, NULL, NULL};
    int64_t t0;
    mf_err err;

    (void)state;
    assert_int_equal(load(env, &cfg, &err), 0);
    kc.security = &cfg.sec;
    t0 = mf_clock_mono_ms();
    assert_int_equal(mf_kafka_check_login(&kc, 600, &err), 0);
    assert_true(mf_clock_mono_ms() - t0 < 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_plaintext),
        cmocka_unit_test(test_sasl_ssl_properties),
        cmocka_unit_test(test_apply_to_librdkafka),
        cmocka_unit_test(test_mistakes_name_the_key),
        cmocka_unit_test(test_password_never_printed),
        cmocka_unit_test(test_login_check_unreachable_is_not_fatal),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

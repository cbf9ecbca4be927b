/* mf_kafka_sec: Kafka transport security (TLS, SASL/SCRAM) from configuration keys. */
#include "mf_kafka_sec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <librdkafka/rdkafka.h>

static const char *const PROTOCOLS[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
static const char *const MECHANISMS[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"};

/* The canonical spelling of s among names (case-insensitive), NULL when it is not one. */
static const char *lookup(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return names[i];
    return NULL;
}

static const char *protocol_of(const mf_kafka_sec *s)
{
    if (s == NULL || s->protocol[0] == '\0')
        return "plaintext";
    return lookup(s->protocol, PROTOCOLS, sizeof(PROTOCOLS) / sizeof(PROTOCOLS[0]));
}

static int uses_tls(const char *proto)
{
    return strcmp(proto, "ssl") == 0 || strcmp(proto, "sasl_ssl") == 0;
}

static int uses_sasl(const char *proto)
{
    return strncmp(proto, "sasl_", 5) == 0;
}

/* A file the client will open at start: it must be a readable regular file. */
static int check_file(const char *key, const char *path, mf_err *err)
{
    struct stat st;
    FILE *f;
    char ebuf[128];

    if (path[0] == '\0')
        return 0;
    if (stat(path, &st) != 0)
        return mf_err_set(err, "invalid value for %s: \"%s\": %s", key, path,
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    if (!S_ISREG(st.st_mode))
        return mf_err_set(err, "invalid value for %s: \"%s\" is not a file", key, path);
    f = fopen(path, "r");
    if (f == NULL)
        return mf_err_set(err, "invalid value for %s: could not open \"%s\": %s", key, path,
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    fclose(f);
    return 0;
}

static int check_sasl(const mf_kafka_sec *s, const char *proto, mf_err *err)
{
    const char *mech = s->sasl_mechanism[0] != '\0' ? s->sasl_mechanism : "SCRAM-SHA-512";
    const char *canon = lookup(mech, MECHANISMS, sizeof(MECHANISMS) / sizeof(MECHANISMS[0]));

    if (!uses_sasl(proto)) {
        if (s->sasl_username[0] != '\0' || s->sasl_password[0] != '\0')
            return mf_err_set(err,
                              "MF_KAFKA_SASL_USERNAME/MF_KAFKA_SASL_PASSWORD are set but "
                              "MF_KAFKA_SECURITY_PROTOCOL is %s: use sasl_ssl (or unset "
                              "them)",
                              proto);
        return 0;
    }
    if (canon == NULL)
        return mf_err_set(err,
                          "invalid value for MF_KAFKA_SASL_MECHANISM: \"%s\" is not one of "
                          "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
                          mech);
    if (strcmp(canon, "PLAIN") == 0 && !uses_tls(proto))
        return mf_err_set(err,
                          "MF_KAFKA_SASL_MECHANISM PLAIN sends the password itself: it "
                          "needs MF_KAFKA_SECURITY_PROTOCOL sasl_ssl, not %s",
                          proto);
    if (s->sasl_username[0] == '\0')
        return mf_err_set(err,
                          "missing required configuration MF_KAFKA_SASL_USERNAME "
                          "(MF_KAFKA_SECURITY_PROTOCOL is %s)",
                          proto);
    if (s->sasl_password[0] == '\0')
        return mf_err_set(err,
                          "missing required configuration MF_KAFKA_SASL_PASSWORD or "
                          "MF_KAFKA_SASL_PASSWORD_FILE (MF_KAFKA_SECURITY_PROTOCOL is %s)",
                          proto);
    return 0;
}

static int check_tls(const mf_kafka_sec *s, const char *proto, mf_err *err)
{
    static const struct {
        size_t off;
        const char *key;
    } files[] = {
        {offsetof(mf_kafka_sec, ssl_ca_location), "MF_KAFKA_SSL_CA_LOCATION"},
        {offsetof(mf_kafka_sec, ssl_cert_location), "MF_KAFKA_SSL_CERTIFICATE_LOCATION"},
        {offsetof(mf_kafka_sec, ssl_key_location), "MF_KAFKA_SSL_KEY_LOCATION"},
    };
    const char *base = (const char *)s;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *path = base + files[i].off;

        if (path[0] != '\0' && !uses_tls(proto))
            return mf_err_set(err,
                              "%s is set but MF_KAFKA_SECURITY_PROTOCOL is %s: use ssl "
                              "or sasl_ssl (or unset it)",
                              files[i].key, proto);
        if (check_file(files[i].key, path, err) != 0)
            return -1;
    }
    if (s->ssl_key_password[0] != '\0' && !uses_tls(proto))
        return mf_err_set(err,
                          "MF_KAFKA_SSL_KEY_PASSWORD is set but MF_KAFKA_SECURITY_PROTOCOL "
                          "is %s: use ssl or sasl_ssl (or unset it)",
                          proto);
    if ((s->ssl_cert_location[0] != '\0') != (s->ssl_key_location[0] != '\0'))
        return mf_err_set(err, "MF_KAFKA_SSL_CERTIFICATE_LOCATION and MF_KAFKA_SSL_KEY_LOCATION "
                               "go together: set both or neither");
    if (s->ssl_key_password[0] != '\0' && s->ssl_key_location[0] == '\0')
        return mf_err_set(err, "MF_KAFKA_SSL_KEY_PASSWORD is set without "
                               "MF_KAFKA_SSL_KEY_LOCATION");
    return 0;
}

int mf_kafka_sec_check(const mf_kafka_sec *s, mf_err *err)
{
    const char *proto;

    if (s == NULL)
        return 0;
    proto = protocol_of(s);
    if (proto == NULL)
        return mf_err_set(err,
                          "invalid value for MF_KAFKA_SECURITY_PROTOCOL: \"%s\" is not one "
                          "of plaintext, ssl, sasl_ssl, sasl_plaintext",
                          s->protocol);
    if (check_sasl(s, proto, err) != 0 || check_tls(s, proto, err) != 0)
        return -1;
    return 0;
}

int mf_kafka_sec_enabled(const mf_kafka_sec *s)
{
    const char *proto = protocol_of(s);

    return proto == NULL || strcmp(proto, "plaintext") != 0;
}

/* Appends "name=value" to out. */
static int add(mf_kafka_sec_props *out, size_t *n, size_t *used, const char *name,
               const char *value, mf_err *err)
{
    size_t left = sizeof(out->buf) - *used;
    int len;

    if (*n + 1 >= MF_KAFKA_SEC_PROPS_MAX)
        return mf_err_set(err, "too many kafka security properties");
    len = snprintf(out->buf + *used, left, "%s=%s", name, value);
    if (len < 0 || (size_t)len >= left)
        return mf_err_set(err, "kafka security property %s is too long", name);
    out->list[(*n)++] = out->buf + *used;
    out->list[*n] = NULL;
    *used += (size_t)len + 1;
    return 0;
}

int mf_kafka_sec_props_make(const mf_kafka_sec *s, mf_kafka_sec_props *out, mf_err *err)
{
    const char *proto;
    size_t n = 0, used = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (mf_kafka_sec_check(s, err) != 0)
        return -1;
    proto = protocol_of(s);
    if (strcmp(proto, "plaintext") == 0)
        return 0;
    if (add(out, &n, &used, "security.protocol", proto, err) != 0)
        goto out;
    if (uses_sasl(proto) && (add(out, &n, &used, "sasl.mechanisms",
                                 lookup(s->sasl_mechanism[0] ? s->sasl_mechanism : "SCRAM-SHA-512",
                                        MECHANISMS, sizeof(MECHANISMS) / sizeof(MECHANISMS[0])),
                                 err) != 0 ||
                             add(out, &n, &used, "sasl.username", s->sasl_username, err) != 0 ||
                             add(out, &n, &used, "sasl.password", s->sasl_password, err) != 0))
        goto out;
    if (uses_tls(proto) &&
        ((s->ssl_ca_location[0] &&
          add(out, &n, &used, "ssl.ca.location", s->ssl_ca_location, err) != 0) ||
         (s->ssl_cert_location[0] &&
          add(out, &n, &used, "ssl.certificate.location", s->ssl_cert_location, err) != 0) ||
         (s->ssl_key_location[0] &&
          add(out, &n, &used, "ssl.key.location", s->ssl_key_location, err) != 0) ||
         (s->ssl_key_password[0] &&
          add(out, &n, &used, "ssl.key.password", s->ssl_key_password, err) != 0) ||
         add(out, &n, &used, "ssl.endpoint.identification.algorithm",
             s->ssl_verify_hostname ? "https" : "none", err) != 0 ||
         add(out, &n, &used, "enable.ssl.certificate.verification", "true", err) != 0))
        goto out;
    rc = 0;
out:
    if (rc != 0)
        mf_kafka_sec_props_wipe(out);
    return rc;
}

void mf_kafka_sec_props_wipe(mf_kafka_sec_props *out)
{
    explicit_bzero(out, sizeof(*out));
}

int mf_kafka_sec_apply(const mf_kafka_sec *s, struct rd_kafka_conf_s *rc, mf_err *err)
{
    mf_kafka_sec_props props;
    char errstr[512];
    int ret = 0;

    if (s == NULL)
        return 0;
    if (mf_kafka_sec_props_make(s, &props, err) != 0)
        return -1;
    for (size_t i = 0; ret == 0 && props.list[i] != NULL; i++) {
        char *eq = strchr(props.list[i], '=');

        *eq = '\0'; /* props.buf is ours: split "name=value" in place */
        if (rd_kafka_conf_set(rc, props.list[i], eq + 1, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK)
            ret = mf_err_set(err, "could not set kafka property \"%s\"", props.list[i]);
    }
    mf_kafka_sec_props_wipe(&props);
    return ret;
}

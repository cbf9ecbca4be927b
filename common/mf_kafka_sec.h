/* mf_kafka_sec: Kafka transport security (TLS, SASL/SCRAM) from configuration keys. */
#ifndef MF_KAFKA_SEC_H
#define MF_KAFKA_SEC_H

#include <stddef.h>

#include "mf_config.h"
#include "mf_err.h"

/*
 * How the fleet's Kafka clients reach the brokers, as read from MF_KAFKA_SECURITY_PROTOCOL,
 * MF_KAFKA_SASL_* and MF_KAFKA_SSL_* (MF_KAFKA_SEC_KEYS). Every member is text, empty when
 * not set; the two passwords are secrets (also read from <KEY>_FILE, never logged).
 * An all-zero struct means plaintext.
 */
typedef struct mf_kafka_sec {
    char protocol[16];       /* plaintext, ssl, sasl_plaintext, sasl_ssl */
    char sasl_mechanism[16]; /* SCRAM-SHA-512, SCRAM-SHA-256, PLAIN */
    char sasl_username[256];
    char sasl_password[256];     /* secret */
    char ssl_ca_location[512];   /* PEM file of the CA(s) to trust (empty: the system's) */
    char ssl_cert_location[512]; /* client certificate (PEM) for mutual TLS */
    char ssl_key_location[512];  /* its private key (PEM) */
    char ssl_key_password[256];  /* secret: the key's passphrase */
    int ssl_verify_hostname;     /* 1: the broker's certificate must name the host dialled */
} mf_kafka_sec;

#define MF_KAFKA_SEC_STR(T, m, field, name, def, type, progs, desc)                                \
    {                                                                                              \
        name, type, def, 0, 0, 0, 0, offsetof(T, m.field), sizeof(((T *)0)->m.field), progs, desc  \
    }

/* The configuration keys, for the table of a program whose settings struct T has an
 * mf_kafka_sec member m. */
/* clang-format off */
#define MF_KAFKA_SEC_KEYS(T, m, progs)                                                          \
    MF_KAFKA_SEC_STR(T, m, protocol, "MF_KAFKA_SECURITY_PROTOCOL", "plaintext", MF_CFG_STR,    \
                     progs,                                                                     \
                     "how Kafka clients talk to the brokers: plaintext, ssl (TLS), "           \
                     "sasl_ssl (TLS and a SASL login) or sasl_plaintext (a SASL login "        \
                     "without TLS, SCRAM only)"),                                               \
    MF_KAFKA_SEC_STR(T, m, sasl_mechanism, "MF_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512",         \
                     MF_CFG_STR, progs,                                                         \
                     "SASL mechanism with sasl_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN "      \
                     "(PLAIN sends the password itself, so only with sasl_ssl)"),              \
    MF_KAFKA_SEC_STR(T, m, sasl_username, "MF_KAFKA_SASL_USERNAME", "", MF_CFG_STR, progs,     \
                     "SASL user name (required with sasl_*)"),                                 \
    MF_KAFKA_SEC_STR(T, m, sasl_password, "MF_KAFKA_SASL_PASSWORD", "", MF_CFG_SECRET, progs,  \
                     "SASL password (required with sasl_*)"),                                  \
    MF_KAFKA_SEC_STR(T, m, ssl_ca_location, "MF_KAFKA_SSL_CA_LOCATION", "", MF_CFG_STR, progs, \
                     "PEM file of the CA certificates that sign the brokers' certificates "    \
                     "(empty: the system's trust store); ssl and sasl_ssl only"),              \
    MF_KAFKA_SEC_STR(T, m, ssl_cert_location, "MF_KAFKA_SSL_CERTIFICATE_LOCATION", "",         \
                     MF_CFG_STR, progs,                                                         \
                     "PEM file of a client certificate for brokers that require mutual TLS "   \
                     "(with MF_KAFKA_SSL_KEY_LOCATION)"),                                       \
    MF_KAFKA_SEC_STR(T, m, ssl_key_location, "MF_KAFKA_SSL_KEY_LOCATION", "", MF_CFG_STR,      \
                     progs, "PEM file of the client certificate's private key"),               \
    MF_KAFKA_SEC_STR(T, m, ssl_key_password, "MF_KAFKA_SSL_KEY_PASSWORD", "", MF_CFG_SECRET,   \
                     progs, "passphrase of an encrypted MF_KAFKA_SSL_KEY_LOCATION"),           \
    {"MF_KAFKA_SSL_VERIFY_HOSTNAME", MF_CFG_BOOL, "true", 0, 0, 0, 0,                          \
     offsetof(T, m.ssl_verify_hostname), 0, progs,                                              \
     "the broker's certificate must name the host in MF_KAFKA_BROKERS (the certificate "       \
     "chain is always verified)"}
/* clang-format on */

/* Number of librdkafka properties mf_kafka_sec_props can produce, plus the terminator. */
#define MF_KAFKA_SEC_PROPS_MAX 12

/* librdkafka properties of a checked mf_kafka_sec: "name=value" strings in buf. */
typedef struct mf_kafka_sec_props {
    const char *list[MF_KAFKA_SEC_PROPS_MAX]; /* NULL-terminated, pointers into buf */
    char buf[4096];
} mf_kafka_sec_props;

/*
 * Checks the settings as a whole and fails with a message naming the key: an unknown
 * protocol or mechanism; sasl_* without a user name or password; PLAIN without TLS; TLS
 * files with a protocol without TLS, or SASL settings with one without SASL (a setting that
 * would be ignored is a mistake, not a preference); a certificate without its key or the
 * reverse; a file that cannot be read. The message never holds a password.
 */
int mf_kafka_sec_check(const mf_kafka_sec *s, mf_err *err);

/* True when the settings ask for TLS or SASL (anything but plaintext). s may be NULL. */
int mf_kafka_sec_enabled(const mf_kafka_sec *s);

/* The librdkafka properties (security.protocol, sasl.*, ssl.*) for checked settings into
 * out. Plaintext gives an empty list. The passwords are copied into out->buf: wipe it with
 * mf_kafka_sec_props_wipe once the properties are applied. */
int mf_kafka_sec_props_make(const mf_kafka_sec *s, mf_kafka_sec_props *out, mf_err *err);

/* Zeroes out (the passwords in it included). */
void mf_kafka_sec_props_wipe(mf_kafka_sec_props *out);

/* Sets those properties on a librdkafka configuration (an rd_kafka_conf_t *), for clients
 * made without mf_kafka. s NULL: nothing. Messages name the property, never its value. */
struct rd_kafka_conf_s;
int mf_kafka_sec_apply(const mf_kafka_sec *s, struct rd_kafka_conf_s *rc, mf_err *err);

#endif

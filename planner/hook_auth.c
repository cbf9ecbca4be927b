/* hook_auth: the webhook signature: HMAC-SHA256 over "timestamp.body", checked in constant time. */
#include "hook_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mf_buf.h"

int hook_auth_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                   char hex[HOOK_AUTH_HEX_SIZE], mf_err *err)
{
    static const char DIGITS[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    mf_buf msg;
    int rc = -1;

    hex[0] = '\0';
    mf_buf_init(&msg, 0);
    if (mf_buf_append_str(&msg, timestamp, err) != 0 || mf_buf_append_char(&msg, '.', err) != 0 ||
        mf_buf_append(&msg, body, body_len, err) != 0)
        goto out;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.data, msg.len,
             mac, &mac_len) == NULL ||
        mac_len != 32) {
        mf_err_set(err, "could not compute the signature (libcrypto)");
        goto out;
    }
    for (unsigned i = 0; i < mac_len; i++) {
        hex[2 * i] = DIGITS[mac[i] >> 4];
        hex[2 * i + 1] = DIGITS[mac[i] & 15];
    }
    hex[64] = '\0';
    rc = 0;
out:
    mf_buf_free(&msg);
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

/* Decimal unix seconds, nothing else. */
static int parse_ts(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s[0] < '0' || s[0] > '9' || strlen(s) > 12)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* hex digits, lower-cased, into out (64 + NUL). */
static void lower_hex(const char *s, char out[HOOK_AUTH_HEX_SIZE])
{
    for (size_t i = 0; i < 64; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    out[64] = '\0';
}

hook_auth_result hook_auth_verify(const char *secret, const char *timestamp, const char *signature,
                                  const char *body, size_t body_len, int64_t now_s,
                                  char sig_hex[HOOK_AUTH_HEX_SIZE], mf_err *err)
{
    char want[HOOK_AUTH_HEX_SIZE], got[HOOK_AUTH_HEX_SIZE];
    const char *p;
    int64_t ts;
    int any_v1 = 0, match = 0;

    sig_hex[0] = '\0';
    if (timestamp == NULL || timestamp[0] == '\0' || signature == NULL || signature[0] == '\0') {
        mf_err_set(err, "X-Msgfleet-Timestamp and X-Msgfleet-Signature headers are required");
        return HOOK_AUTH_MISSING;
    }
    if (parse_ts(timestamp, &ts) != 0) {
        mf_err_set(err, "X-Msgfleet-Timestamp must be unix time in seconds");
        return HOOK_AUTH_MALFORMED;
    }
    if (ts > now_s + HOOK_AUTH_WINDOW_S || ts < now_s - HOOK_AUTH_WINDOW_S) {
        mf_err_set(err, "X-Msgfleet-Timestamp is more than %d seconds from the server's clock",
                   HOOK_AUTH_WINDOW_S);
        return HOOK_AUTH_STALE;
    }
    if (hook_auth_sign(secret, timestamp, body, body_len, want, err) != 0)
        return HOOK_AUTH_MISMATCH;
    /* "v1=<hex>[,v1=<hex>...]": every v1 is compared (constant time each) */
    for (p = signature; *p != '\0';) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        if (n >= 3 && strncmp(p, "v1=", 3) == 0 && is_hex64(p + 3, n - 3)) {
            any_v1 = 1;
            lower_hex(p + 3, got);
            if (CRYPTO_memcmp(got, want, 64) == 0 && !match) {
                match = 1;
                memcpy(sig_hex, got, sizeof(got));
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    OPENSSL_cleanse(want, sizeof(want));
    if (!any_v1) {
        mf_err_set(err, "X-Msgfleet-Signature must be \"v1=\" and 64 hex digits");
        return HOOK_AUTH_MALFORMED;
    }
    if (!match) {
        mf_err_set(err, "the signature does not match the body and timestamp");
        return HOOK_AUTH_MISMATCH;
    }
    return HOOK_AUTH_OK;
}

/* hook_auth: the webhook signature: HMAC-SHA256 over "timestamp.body", checked in constant time. */
#ifndef PLANNER_HOOK_AUTH_H
#define PLANNER_HOOK_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"

/* Most seconds a request's timestamp may be from the server's clock, either way. */
#define HOOK_AUTH_WINDOW_S 300
/* "v1=" plus 64 lower-case hex digits, plus the terminator. */
#define HOOK_AUTH_SIG_SIZE 68
#define HOOK_AUTH_HEX_SIZE 65

typedef enum hook_auth_result {
    HOOK_AUTH_OK = 0,
    HOOK_AUTH_MISSING,   /* a header is absent or empty */
    HOOK_AUTH_MALFORMED, /* timestamp not decimal seconds, signature not "v1=<64 hex>" */
    HOOK_AUTH_STALE,     /* timestamp more than HOOK_AUTH_WINDOW_S from now */
    HOOK_AUTH_MISMATCH   /* the signature is not the body's */
} hook_auth_result;

/* Lower-case hex HMAC-SHA256 of `timestamp + "." + body` with secret into hex (64 digits and
 * a NUL). 0, or -1 with err (libcrypto failure). */
int hook_auth_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                   char hex[HOOK_AUTH_HEX_SIZE], mf_err *err);

/* Check the headers' timestamp (unix seconds) and signature ("v1=<hex>"; several schemes may
 * be listed comma-separated, one v1 must match) against secret and body at now_s. The
 * comparison is constant-time. On HOOK_AUTH_OK, sig_hex receives the matching signature's hex
 * (the replay key). err gets a message fit for the client (never the secret or the expected
 * signature). */
hook_auth_result hook_auth_verify(const char *secret, const char *timestamp, const char *signature,
                                  const char *body, size_t body_len, int64_t now_s,
                                  char sig_hex[HOOK_AUTH_HEX_SIZE], mf_err *err);

#endif

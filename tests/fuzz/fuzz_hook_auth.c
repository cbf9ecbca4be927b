/* fuzz_hook_auth: libFuzzer target for the planner's webhook signature headers (hook_auth). */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_S 1767225600
static const char SECRET[] = "whsec_fuzz";
static const char BODY[] = "{\"variables\":{\"a\":\"1\"}}";

/*
 * Input: a flags byte (bit 0: append a valid signature, bit 1: in upper-case hex), a length
 * byte, that many bytes of timestamp header (or, with bit 0, the current time instead), then
 * the signature header (each header up to its first NUL). Oracle: the result is one of the
 * documented values, with a message unless OK; OK only with the body's true signature, which
 * sig_hex then holds; an appended valid signature is found whatever precedes it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ts[64], hex[HOOK_AUTH_HEX_SIZE], want[HOOK_AUTH_HEX_SIZE];
    char *sig;
    size_t tlen, slen, i;
    hook_auth_result res;
    unsigned flags;
    mf_err err;

    if (size < 2)
        return 0;
    flags = data[0];
    tlen = data[1] % 24;
    if (tlen > size - 2)
        tlen = size - 2;
    memcpy(ts, data + 2, tlen);
    ts[tlen] = '\0';
    if (flags & 1)
        snprintf(ts, sizeof(ts), "%d", NOW_S);
    if (hook_auth_sign(SECRET, ts, BODY, sizeof(BODY) - 1, want, NULL) != 0)
        abort();
    slen = size - 2 - tlen;
    sig = malloc(slen + 1 + 3 + 64 + 1);
    if (sig == NULL)
        abort();
    memcpy(sig, data + 2 + tlen, slen);
    sig[slen] = '\0';
    if (flags & 1) {
        slen = strlen(sig);
        memcpy(sig + slen, ",v1=", 4);
        for (i = 0; i < 64; i++)
            sig[slen + 4 + i] = (flags & 2) ? (char)toupper((unsigned char)want[i]) : want[i];
        sig[slen + 4 + 64] = '\0';
    }
    err.msg[0] = '\0';
    res = hook_auth_verify(SECRET, ts, sig, BODY, sizeof(BODY) - 1, NOW_S, hex, &err);
    if (res != HOOK_AUTH_OK && res != HOOK_AUTH_MISSING && res != HOOK_AUTH_MALFORMED &&
        res != HOOK_AUTH_STALE && res != HOOK_AUTH_MISMATCH)
        abort();
    if (res != HOOK_AUTH_OK && err.msg[0] == '\0')
        abort();
    if (res == HOOK_AUTH_OK && strcmp(hex, want) != 0)
        abort();
    if ((flags & 1) && res != HOOK_AUTH_OK)
        abort();
    free(sig);
    return 0;
}

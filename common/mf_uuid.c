/* mf_uuid: 16-byte UUIDs, their 36-char text form, and the deterministic job id. */
#include "mf_uuid.h"

#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#define JOB_ID_DOMAIN "msgfleet.job.v1"

/* Each hex digit's value plus one (0: not a hex digit): a table, because the reporter parses
 * two ids in every delivery report and the branches per character showed in its profile. */
static const uint8_t HEX_PLUS_ONE[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16};

/* Where byte i's two digits start in the 8-4-4-4-12 text form. */
static const uint8_t BYTE_AT[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

int mf_uuid_parse_n(const char *text, size_t n, mf_uuid *out, mf_err *err)
{
    static const uint8_t dash_at[4] = {8, 13, 18, 23};
    const unsigned char *t = (const unsigned char *)text;
    mf_uuid u;
    size_t i;

    if (text == NULL)
        return mf_err_set(err, "invalid uuid: null");
    if (n != MF_UUID_STR_LEN)
        return mf_err_set(err, "invalid uuid: expected %d characters, got %zu", MF_UUID_STR_LEN, n);
    for (i = 0; i < sizeof(dash_at); i++)
        if (t[dash_at[i]] != '-')
            return mf_err_set(err, "invalid uuid: expected '-' at position %u", dash_at[i]);
    for (i = 0; i < 16; i++) {
        unsigned hi = HEX_PLUS_ONE[t[BYTE_AT[i]]], lo = HEX_PLUS_ONE[t[BYTE_AT[i] + 1]];

        if (hi == 0 || lo == 0)
            return mf_err_set(err, "invalid uuid: bad hex digit at position %u",
                              BYTE_AT[i] + (hi == 0 ? 0u : 1u));
        u.b[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    *out = u;
    return 0;
}

int mf_uuid_parse(const char *text, mf_uuid *out, mf_err *err)
{
    if (text == NULL)
        return mf_err_set(err, "invalid uuid: null");
    return mf_uuid_parse_n(text, strnlen(text, MF_UUID_STR_LEN + 1), out, err);
}

char *mf_uuid_format(const mf_uuid *u, char out[MF_UUID_STR_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    size_t i, pos = 0;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[pos++] = '-';
        out[pos++] = digits[u->b[i] >> 4];
        out[pos++] = digits[u->b[i] & 0x0f];
    }
    out[pos] = '\0';
    return out;
}

int mf_uuid_equal(const mf_uuid *a, const mf_uuid *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

int mf_uuid_is_nil(const mf_uuid *u)
{
    static const mf_uuid nil;

    return mf_uuid_equal(u, &nil);
}

int mf_uuid_version(const mf_uuid *u)
{
    return u->b[6] >> 4;
}

static void set_version_variant(mf_uuid *u, int version)
{
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | (version << 4));
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

static void put_time48(mf_uuid *u, uint64_t ms)
{
    int i;

    for (i = 0; i < 6; i++)
        u->b[i] = (uint8_t)(ms >> (8 * (5 - i)));
}

int mf_uuid_v4(mf_uuid *out, mf_err *err)
{
    if (RAND_bytes(out->b, sizeof(out->b)) != 1)
        return mf_err_set(err, "could not generate random uuid: RAND_bytes failed");
    set_version_variant(out, 4);
    return 0;
}

int mf_uuid_v7(uint64_t unix_ms, mf_uuid *out, mf_err *err)
{
    if (RAND_bytes(out->b + 6, 10) != 1)
        return mf_err_set(err, "could not generate random uuid: RAND_bytes failed");
    put_time48(out, unix_ms);
    set_version_variant(out, 7);
    return 0;
}

static void be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

/* SHA-256 of the job id preimage, through one stack buffer and the one-shot SHA256() (no
 * allocation). A key longer than KEY_INLINE_MAX bytes (never a phone number) is replaced by its
 * own SHA-256 in the preimage; its length field keeps it distinct from a 32-byte key. */
#define KEY_INLINE_MAX 200

static void job_id_digest(const mf_uuid *run_id, const char *key, size_t klen, uint32_t attempt,
                          uint8_t digest[SHA256_DIGEST_LENGTH])
{
    uint8_t buf[sizeof(JOB_ID_DOMAIN) + 16 + 4 + KEY_INLINE_MAX + 4];
    size_t pos = 0;

    memcpy(buf, JOB_ID_DOMAIN, sizeof(JOB_ID_DOMAIN)); /* with its NUL */
    pos += sizeof(JOB_ID_DOMAIN);
    memcpy(buf + pos, run_id->b, 16);
    pos += 16;
    be32(buf + pos, (uint32_t)klen);
    pos += 4;
    if (klen <= KEY_INLINE_MAX) {
        memcpy(buf + pos, key, klen);
        pos += klen;
    } else {
        SHA256((const unsigned char *)key, klen, buf + pos);
        pos += SHA256_DIGEST_LENGTH;
    }
    be32(buf + pos, attempt);
    pos += 4;
    SHA256(buf, pos, digest);
}

void mf_uuid_job_id(const mf_uuid *run_id, uint64_t run_started_ms, const char *recipient_key,
                    uint32_t attempt, mf_uuid *out)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    const char *key = recipient_key != NULL ? recipient_key : "";

    job_id_digest(run_id, key, strlen(key), attempt, digest);
    memcpy(out->b + 6, digest, 10);
    put_time48(out, run_started_ms);
    set_version_variant(out, 8);
}

uint64_t mf_uuid_time_ms(const mf_uuid *u)
{
    uint64_t ms = 0;
    int i;

    for (i = 0; i < 6; i++)
        ms = (ms << 8) | u->b[i];
    return ms;
}

/* sim_auth: verify SOLAPI HMAC-SHA256 Authorization headers; remember used salts (bounded). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sim.h"

#define SKEW_MS (15LL * 60 * 1000)

/* ---- used-salt set: open addressing over 64-bit hashes with expiry ----------------------- */

typedef struct salt_slot {
    uint64_t h;  /* 0 = empty */
    int64_t exp; /* ms since epoch after which the salt may be forgotten */
} salt_slot;

struct sim_salts {
    pthread_mutex_t lock;
    salt_slot *slots;
    size_t cap; /* power of two */
    size_t used;
};

sim_salts *sim_salts_new(size_t capacity_pow2)
{
    sim_salts *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cap = capacity_pow2;
    s->slots = calloc(s->cap, sizeof(salt_slot));
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void sim_salts_free(sim_salts *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->slots);
    free(s);
}

void sim_salts_clear(sim_salts *s)
{
    pthread_mutex_lock(&s->lock);
    memset(s->slots, 0, s->cap * sizeof(salt_slot));
    s->used = 0;
    pthread_mutex_unlock(&s->lock);
}

static void salts_insert_raw(salt_slot *slots, size_t cap, uint64_t h, int64_t exp)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].h != 0 && slots[i].h != h)
        i = (i + 1) & (cap - 1);
    slots[i].h = h;
    slots[i].exp = exp;
}

/* Drop expired entries by rebuilding the table. Called with the lock held. */
static void salts_purge(sim_salts *s, int64_t now_ms)
{
    salt_slot *fresh = calloc(s->cap, sizeof(salt_slot));
    size_t used = 0;
    if (fresh == NULL)
        return;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].h != 0 && s->slots[i].exp >= now_ms) {
            salts_insert_raw(fresh, s->cap, s->slots[i].h, s->slots[i].exp);
            used++;
        }
    }
    free(s->slots);
    s->slots = fresh;
    s->used = used;
}

/* 1 = recorded, 0 = already present (reuse), -1 = table full. */
static int salts_record(sim_salts *s, uint64_t h, int64_t exp, int64_t now_ms)
{
    int rc;
    if (h == 0)
        h = 1;
    pthread_mutex_lock(&s->lock);
    if (s->used * 2 >= s->cap)
        salts_purge(s, now_ms);
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slots[i].h != 0 && s->slots[i].h != h)
        i = (i + 1) & (s->cap - 1);
    if (s->slots[i].h == h && s->slots[i].exp >= now_ms) {
        rc = 0;
    } else if (s->slots[i].h == 0 && s->used * 4 >= s->cap * 3) {
        rc = -1;
    } else {
        if (s->slots[i].h == 0)
            s->used++;
        s->slots[i].h = h;
        s->slots[i].exp = exp;
        rc = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- time -------------------------------------------------------------------------------- */

/* width decimal digits of v (0 <= v < 10^width) at p. */
static void put_digits(char *p, unsigned v, int width)
{
    while (width-- > 0) {
        p[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The proleptic Gregorian date of day z since 1970-01-01 (days-from-civil inverted). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Without printf or gmtime: the simulator formats three of these for every report and list
 * entry, and the printf machinery was its largest cost in the bench's profile. */
void sim_format_iso8601(int64_t ms, char *out, size_t outsz)
{
    static const char shape[] = "0000-00-00T00:00:00.000Z";
    int64_t days = ms / 86400000, rem = ms % 86400000, y;
    unsigned m, d;

    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (outsz < sizeof(shape) || y < 0 || y > 9999) {
        if (outsz > 0)
            snprintf(out, outsz, "%lld", (long long)ms);
        return;
    }
    memcpy(out, shape, sizeof(shape));
    put_digits(out, (unsigned)y, 4);
    put_digits(out + 5, m, 2);
    put_digits(out + 8, d, 2);
    put_digits(out + 11, (unsigned)(rem / 3600000), 2);
    put_digits(out + 14, (unsigned)(rem / 60000 % 60), 2);
    put_digits(out + 17, (unsigned)(rem / 1000 % 60), 2);
    put_digits(out + 20, (unsigned)(rem % 1000), 3);
}

/* ---- header ------------------------------------------------------------------------------ */

typedef struct auth_parts {
    char method[32];
    char api_key[160];
    char date[64];
    char salt[96];
    char signature[160];
} auth_parts;

static int fail(sim_auth_result *res, int status, const char *code, const char *msg)
{
    res->http_status = status;
    res->error_code = code;
    snprintf(res->message, sizeof(res->message), "%s", msg);
    return -1;
}

/* Copy [b, e) trimmed into out. Returns -1 when it does not fit or is empty. */
static int copy_trim(const char *b, const char *e, char *out, size_t outsz)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (e == b || (size_t)(e - b) >= outsz)
        return -1;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    return 0;
}

static int parse_header(const char *h, auth_parts *a)
{
    const char *sp, *p;

    memset(a, 0, sizeof(*a));
    while (isspace((unsigned char)*h))
        h++;
    sp = strchr(h, ' ');
    if (sp == NULL || copy_trim(h, sp, a->method, sizeof(a->method)) != 0)
        return -1;
    p = sp + 1;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        char key[32];
        char *dst;
        size_t dstsz;
        if (eq == NULL || copy_trim(p, eq, key, sizeof(key)) != 0)
            return -1;
        if (!strcasecmp(key, "apiKey")) {
            dst = a->api_key;
            dstsz = sizeof(a->api_key);
        } else if (!strcasecmp(key, "date")) {
            dst = a->date;
            dstsz = sizeof(a->date);
        } else if (!strcasecmp(key, "salt")) {
            dst = a->salt;
            dstsz = sizeof(a->salt);
        } else if (!strcasecmp(key, "signature")) {
            dst = a->signature;
            dstsz = sizeof(a->signature);
        } else {
            return -1;
        }
        if (dst[0] != '\0' || copy_trim(eq + 1, end, dst, dstsz) != 0)
            return -1;
        p = comma ? comma + 1 : end;
    }
    if (!a->api_key[0] || !a->date[0] || !a->salt[0] || !a->signature[0])
        return -1;
    return 0;
}

static int signature_matches(const char *secret, const char *date, const char *salt,
                             const char *given_hex)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char data[192];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    char given[2 * EVP_MAX_MD_SIZE + 1];
    size_t gl = strlen(given_hex);
    int n = snprintf(data, sizeof(data), "%s%s", date, salt);

    if (n < 0 || (size_t)n >= sizeof(data))
        return 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, (size_t)n, mac,
             &maclen) == NULL)
        return 0;
    for (unsigned i = 0; i < maclen; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if (gl != 2 * (size_t)maclen)
        return 0;
    for (size_t i = 0; i < gl; i++)
        given[i] = (char)tolower((unsigned char)given_hex[i]);
    given[gl] = '\0';
    return CRYPTO_memcmp(hex, given, gl) == 0;
}

int sim_auth_verify(const char *header, const char *api_key, const char *api_secret,
                    sim_salts *salts, int64_t now_ms, sim_auth_result *res)
{
    auth_parts a;
    int64_t date_ms;
    size_t sl;
    char msg[256];

    memset(res, 0, sizeof(*res));
    if (header == NULL || *header == '\0')
        return fail(res, 401, "Unauthorized", "Authorization header is missing");
    if (parse_header(header, &a) != 0)
        return fail(res, 401, "InvalidAuthorizationHeader",
                    "Authorization header must be: HMAC-SHA256 apiKey=<key>, date=<ISO 8601>, "
                    "salt=<salt>, signature=<hex>");
    if (strcmp(a.method, "HMAC-SHA256") != 0) {
        snprintf(msg, sizeof(msg), "unsupported authentication method \"%s\"", a.method);
        return fail(res, 401, "InvalidAuthorizationHeader", msg);
    }
    if (strcmp(a.api_key, api_key) != 0)
        return fail(res, 403, "InvalidAPIKey", "유효한 API Key가 아닙니다 (unknown apiKey)");
    if (mf_clock_parse_iso8601(a.date, &date_ms) != 0)
        return fail(res, 401, "InvalidAuthorizationHeader", "date is not an ISO 8601 time");
    if (date_ms < now_ms - SKEW_MS || date_ms > now_ms + SKEW_MS)
        return fail(res, 403, "RequestTimeTooSkewed",
                    "date differs from the server time by more than 15 minutes");
    sl = strlen(a.salt);
    if (sl < 12 || sl > 64)
        return fail(res, 401, "InvalidAuthorizationHeader", "salt must be 12 to 64 characters");
    if (!signature_matches(api_secret, a.date, a.salt, a.signature))
        return fail(res, 403, "SignatureDoesNotMatch", "signature does not match");
    int r = salts_record(salts, sim_hash64(a.salt, sl, 0x5a17), date_ms + SKEW_MS + 1000, now_ms);
    if (r == 0)
        return fail(res, 403, "DuplicatedSignature",
                    "this salt/signature was already used within 15 minutes");
    if (r < 0)
        return fail(res, 429, "TooManyRequests", "too many signatures in the last 15 minutes");
    return 0;
}

/* sim_util: clock, seeded randomness, id generation and error replies for the simulator. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"


static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

double sim_rand(sim_ctx *ctx)
{
    uint64_t n = atomic_fetch_add(&ctx->rng_counter, 1);
    return (double)(splitmix64(ctx->set.seed * 0x2545F4914F6CDD1DULL + n) >> 11) * 0x1.0p-53;
}

double sim_hash_unit(uint64_t seed, const char *a, const char *b, const char *salt)
{
    uint64_t h = sim_hash64(salt, strlen(salt), seed);
    h = sim_hash64(a ? a : "", a ? strlen(a) : 0, h);
    h = sim_hash64(b ? b : "", b ? strlen(b) : 0, h ^ 0x51ED27);
    return (double)(h >> 11) * 0x1.0p-53;
}

void sim_new_id(sim_ctx *ctx, char prefix, int64_t now_ms, char out[SIM_ID_LEN + 1])
{
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t n = atomic_fetch_add(&ctx->id_counter, 1);
    /* splitmix64 is a bijection on 64 bits: distinct counters give distinct suffixes */
    uint64_t v = splitmix64(n ^ (ctx->set.seed * 0xD6E8FEB86659FD93ULL));
    time_t t = (time_t)(now_ms / 1000) + 9 * 3600; /* ids carry Korean time */
    struct tm tm;
    char ts[64];
    gmtime_r(&t, &tm);
    snprintf(ts, sizeof(ts), "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    out[0] = prefix;
    out[1] = '4';
    out[2] = 'V';
    memcpy(out + 3, ts, 14);
    for (int i = 0; i < 13; i++) {
        out[SIM_ID_LEN - 1 - i] = alnum[v % 36];
        v /= 36;
    }
    uint64_t s = splitmix64(ctx->set.seed);
    out[17] = alnum[s % 36];
    out[18] = alnum[(s / 36) % 36];
    out[SIM_ID_LEN] = '\0';
}

void sim_reply_error(sim_reply *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json; charset=utf-8";
    mf_buf_reset(&r->body);
    if (mf_buf_append_str(&r->body, "{\"errorCode\":", NULL) != 0 ||
        mf_buf_append_json_cstr(&r->body, code, NULL) != 0 ||
        mf_buf_append_str(&r->body, ",\"errorMessage\":", NULL) != 0 ||
        mf_buf_append_json_cstr(&r->body, msg, NULL) != 0 ||
        mf_buf_append_char(&r->body, '}', NULL) != 0) {
        mf_buf_reset(&r->body);
        mf_buf_append_str(&r->body, "{\"errorCode\":\"InternalError\",\"errorMessage\":\"\"}",
                          NULL);
    }
}

/* ---- query conditions -------------------------------------------------------------------- */

int sim_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The i-th comma-separated token of list into out; -1 when absent or too long. */
static int nth_token(const char *list, size_t i, char *out, size_t outsz)
{
    const char *p = list;
    for (size_t k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (p == NULL)
            return -1;
        p++;
    }
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n >= outsz)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static size_t count_tokens(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        if (*p == ',')
            n++;
    return n;
}

int sim_conds_parse(const sim_query *q, const char *const *allowed, sim_cond *out, size_t *n,
                    sim_reply *r)
{
    static const char *const ops[] = {"eq", "ne", "gt", "gte", "lt", "lte", "like"};
    const char *crit = sim_query_get(q, "criteria");
    const char *cond = sim_query_get(q, "cond");
    const char *value = sim_query_get(q, "value");
    size_t k;

    *n = 0;
    if (crit == NULL || *crit == '\0')
        return 0;
    if (value == NULL) {
        sim_reply_error(r, 400, "ValidationError", "criteria needs value (and cond)");
        return -1;
    }
    k = count_tokens(crit);
    if (k > SIM_MAX_CONDS || count_tokens(value) != k ||
        (cond && *cond && count_tokens(cond) != k)) {
        sim_reply_error(r, 400, "ValidationError",
                        "criteria, cond and value must list the same number of items "
                        "(at most %d)",
                        SIM_MAX_CONDS);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        sim_cond *c = &out[i];
        char op[16] = "eq";
        int known = 0, found = 0;

        memset(c, 0, sizeof(*c));
        if (nth_token(crit, i, c->field, sizeof(c->field)) != 0 ||
            nth_token(value, i, c->value, sizeof(c->value)) != 0 ||
            (cond && *cond && nth_token(cond, i, op, sizeof(op)) != 0)) {
            sim_reply_error(r, 400, "ValidationError", "criteria item %zu is too long", i + 1);
            return -1;
        }
        for (size_t j = 0; allowed[j]; j++)
            if (!strcmp(allowed[j], c->field))
                found = 1;
        if (!found) {
            sim_reply_error(r, 400, "ValidationError", "unsupported criteria \"%s\"", c->field);
            return -1;
        }
        for (size_t j = 0; j < sizeof(ops) / sizeof(ops[0]); j++)
            if (!strcmp(ops[j], op)) {
                c->op = (sim_op)j;
                known = 1;
            }
        if (!known) {
            sim_reply_error(r, 400, "ValidationError", "unsupported cond \"%s\"", op);
            return -1;
        }
        c->has_t = mf_clock_parse_iso8601(c->value, &c->t) == 0;
    }
    *n = k;
    return 0;
}

int sim_cond_str(const sim_cond *c, const char *v)
{
    int d;

    if (v == NULL)
        v = "";
    if (c->op == SIM_OP_LIKE)
        return strstr(v, c->value) != NULL;
    d = strcmp(v, c->value);
    switch (c->op) {
    case SIM_OP_EQ: return d == 0;
    case SIM_OP_NE: return d != 0;
    case SIM_OP_GT: return d > 0;
    case SIM_OP_GTE: return d >= 0;
    case SIM_OP_LT: return d < 0;
    case SIM_OP_LTE: return d <= 0;
    case SIM_OP_LIKE: break;
    }
    return 0;
}

int sim_cond_time(const sim_cond *c, int64_t t)
{
    if (!c->has_t)
        return 0; /* a date field compared with something that is not a date: no match */
    switch (c->op) {
    case SIM_OP_EQ: return t == c->t;
    case SIM_OP_NE: return t != c->t;
    case SIM_OP_GT: return t > c->t;
    case SIM_OP_GTE: return t >= c->t;
    case SIM_OP_LT: return t < c->t;
    case SIM_OP_LTE: return t <= c->t;
    case SIM_OP_LIKE: return 0;
    }
    return 0;
}

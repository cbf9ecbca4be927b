/* sim_util: clock, seeded randomness, id generation and error replies for the simulator. */
#include <stdarg.h>
#include <stdio.h>
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

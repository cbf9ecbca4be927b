/* mf_log: structured JSON-lines logging with levels; phone numbers masked, one write per line. */
#include "mf_log.h"
#include "mf_phone.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192

struct mf_log {
    char component[32];
    mf_log_level min_level;
    int fd;
};

/* A bounded line under construction; once full, further appends are ignored. */
typedef struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
} line;

static const char *level_names[] = {"debug", "info", "warn", "error"};

mf_log *mf_log_new(const char *component, mf_log_level min_level, int fd)
{
    mf_log *log = calloc(1, sizeof(*log));

    if (log == NULL)
        return NULL;
    snprintf(log->component, sizeof(log->component), "%s", component);
    log->min_level = min_level;
    log->fd = fd;
    return log;
}

void mf_log_free(mf_log *log)
{
    free(log);
}

int mf_log_parse_level(const char *text, mf_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (mf_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Room kept at the end of every line: escaped text stops LINE_RESERVE bytes early so that
 * the closing quote, brace and newline always fit and a cut line stays valid JSON. */
#define LINE_RESERVE 8

/* Appends raw bytes; a whole token or nothing, so that structure is never cut in half.
 * Structural tokens may use the reserve. */
static void put_raw(line *l, const char *s, size_t n)
{
    if (l->len + n + 2 > sizeof(l->buf))
        return;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line *l, const char *s)
{
    put_raw(l, s, strlen(s));
}

/* Appends s as JSON string content (without quotes); stops before a sequence that would
 * not fit whole, so a cut line is still valid JSON. */
static void put_escaped(line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        size_t n = 0;

        if (*p == '"' || *p == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)*p;
        } else if (*p == '\n') {
            esc[n++] = '\\';
            esc[n++] = 'n';
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            n = 4;
            esc[n++] = hex[*p >> 4];
            esc[n++] = hex[*p & 0xf];
        } else {
            esc[n++] = (char)*p;
        }
        if (l->len + n + LINE_RESERVE > sizeof(l->buf))
            return;
        memcpy(l->buf + l->len, esc, n);
        l->len += n;
    }
}

static void put_key(line *l, const char *key)
{
    put_str(l, ",\"");
    put_escaped(l, key);
    put_str(l, "\":");
}

static void put_field(line *l, const mf_log_kv *kv)
{
    char tmp[64];

    /* Skip fields that no longer fit whole: a key without its value is not JSON. */
    if (l->len + strlen(kv->key) + sizeof(tmp) + 2 * LINE_RESERVE > sizeof(l->buf))
        return;
    put_key(l, kv->key);
    switch (kv->kind) {
    case 'i':
        snprintf(tmp, sizeof(tmp), "%lld", kv->num);
        put_str(l, tmp);
        return;
    case 'p':
        mf_phone_mask(kv->str ? kv->str : "", tmp, sizeof(tmp));
        put_str(l, "\"");
        put_escaped(l, tmp);
        put_str(l, "\"");
        return;
    default:
        put_str(l, "\"");
        put_escaped(l, kv->str ? kv->str : "");
        put_str(l, "\"");
    }
}

static void put_header(line *l, const mf_log *log, mf_log_level level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char when[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    put_str(l, "{\"ts\":\"");
    put_str(l, when);
    snprintf(when, sizeof(when), ".%03ldZ", ts.tv_nsec / 1000000);
    put_str(l, when);
    put_str(l, "\",\"level\":\"");
    put_str(l, level_names[level]);
    put_str(l, "\",\"comp\":\"");
    put_escaped(l, log->component);
    put_str(l, "\",\"msg\":\"");
    put_escaped(l, msg);
    put_str(l, "\"");
}

static void write_line(const mf_log *log, line *l)
{
    size_t off = 0;

    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    while (off < l->len) {
        ssize_t n = write(log->fd, l->buf + off, l->len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere else to report a failing log sink */
        off += (size_t)n;
    }
}

void mf_log_write(mf_log *log, mf_log_level level, const char *msg, const mf_log_kv *kv, size_t nkv)
{
    line l;

    if (log == NULL || level < log->min_level)
        return;
    l.len = 0;
    put_header(&l, log, level, msg);
    for (size_t i = 0; i < nkv; i++)
        put_field(&l, &kv[i]);
    write_line(log, &l);
}

void mf_log_msgf(mf_log *log, mf_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (log == NULL || level < log->min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mf_log_write(log, level, msg, NULL, 0);
}

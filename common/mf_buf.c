/* mf_buf: bounded growable byte buffer with append, printf, JSON-string and URL escaping. */
#include "mf_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 256

void mf_buf_init(mf_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max == 0 ? MF_BUF_DEFAULT_MAX : max;
}

void mf_buf_free(mf_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void mf_buf_reset(mf_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int mf_buf_reserve(mf_buf *b, size_t extra, mf_err *err)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return mf_err_set(err, "buffer limit of %zu bytes exceeded", b->max);
    need = b->len + extra + 1; /* room for the NUL */
    if (need <= b->cap)
        return 0;
    cap = b->cap < MIN_CAP ? MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->data, cap);
    if (p == NULL)
        return mf_err_set(err, "out of memory growing a buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

int mf_buf_append(mf_buf *b, const void *p, size_t n, mf_err *err)
{
    if (mf_buf_reserve(b, n, err) < 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int mf_buf_append_str(mf_buf *b, const char *s, mf_err *err)
{
    return mf_buf_append(b, s, strlen(s), err);
}

int mf_buf_append_char(mf_buf *b, char c, mf_err *err)
{
    return mf_buf_append(b, &c, 1, err);
}

int mf_buf_printf(mf_buf *b, mf_err *err, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return mf_err_set(err, "could not format text");
    if (mf_buf_reserve(b, (size_t)n, err) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 when it is malformed. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && s[1] >= 0xA0) /* UTF-16 surrogates */
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && s[1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

int mf_buf_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;

    while (i < n) {
        /* ASCII 8 bytes at a time: ids, numbers and phone numbers are most of the strings
         * the codec checks on every encode and decode */
        while (n - i >= 8) {
            uint64_t w;

            memcpy(&w, p + i, sizeof(w));
            if ((w & 0x8080808080808080ULL) != 0)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        k = utf8_seq_len(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* True for the bytes that go into a JSON string unchanged (UTF-8 lead and continuation
 * bytes are checked separately). */
static int json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

static int json_escape_byte(mf_buf *b, unsigned char c, mf_err *err)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6];

    switch (c) {
    case '"': return mf_buf_append(b, "\\\"", 2, err);
    case '\\': return mf_buf_append(b, "\\\\", 2, err);
    case '\n': return mf_buf_append(b, "\\n", 2, err);
    case '\r': return mf_buf_append(b, "\\r", 2, err);
    case '\t': return mf_buf_append(b, "\\t", 2, err);
    case '\b': return mf_buf_append(b, "\\b", 2, err);
    case '\f': return mf_buf_append(b, "\\f", 2, err);
    default:
        esc[0] = '\\';
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xF];
        return mf_buf_append(b, esc, sizeof(esc), err);
    }
}

int mf_buf_append_json_escaped(mf_buf *b, const char *s, size_t n, mf_err *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start_len = b->len;
    size_t i = 0, run, k;

    while (i < n) {
        run = i;
        /* Copy the longest run of bytes that need no escaping in one go. */
        while (run < n) {
            if (json_plain(p[run])) {
                run++;
                continue;
            }
            if (p[run] < 0x80)
                break;
            k = utf8_seq_len(p + run, n - run);
            if (k == 0)
                break;
            run += k;
        }
        if (run > i && mf_buf_append(b, p + i, run - i, err) < 0)
            goto fail;
        i = run;
        if (i >= n)
            break;
        if (p[i] >= 0x80) {
            mf_err_set(err, "invalid UTF-8 at byte %zu", i);
            goto fail;
        }
        if (json_escape_byte(b, p[i], err) < 0)
            goto fail;
        i++;
    }
    return 0;
fail:
    b->len = start_len;
    if (b->data != NULL)
        b->data[b->len] = '\0';
    return -1;
}

int mf_buf_append_json_str(mf_buf *b, const char *s, size_t n, mf_err *err)
{
    size_t start_len = b->len;

    if (mf_buf_append_char(b, '"', err) < 0)
        return -1;
    if (mf_buf_append_json_escaped(b, s, n, err) < 0 || mf_buf_append_char(b, '"', err) < 0) {
        b->len = start_len;
        b->data[b->len] = '\0';
        return -1;
    }
    return 0;
}

int mf_buf_append_json_cstr(mf_buf *b, const char *s, mf_err *err)
{
    return mf_buf_append_json_str(b, s, strlen(s), err);
}

static int url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int mf_buf_append_urlenc(mf_buf *b, const char *s, size_t n, mf_err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t i, extra = 0;
    char *out;

    for (i = 0; i < n; i++)
        extra += url_unreserved(p[i]) ? 1 : 3;
    if (mf_buf_reserve(b, extra, err) < 0)
        return -1;
    out = b->data + b->len;
    for (i = 0; i < n; i++) {
        if (url_unreserved(p[i])) {
            *out++ = (char)p[i];
        } else {
            *out++ = '%';
            *out++ = hex[p[i] >> 4];
            *out++ = hex[p[i] & 0xF];
        }
    }
    b->len += extra;
    b->data[b->len] = '\0';
    return 0;
}

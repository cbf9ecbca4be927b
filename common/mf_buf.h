/* mf_buf: bounded growable byte buffer with append, printf, JSON-string and URL escaping. */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stddef.h>

#include "mf_err.h"

/*
 * A byte buffer that grows geometrically up to a hard limit (`max`). The bytes are always
 * followed by a NUL (not counted in `len`) once anything was appended, so `data` can be
 * passed as a C string when the content has no NUL of its own. Reset keeps the memory, so a
 * buffer reused for every request of a hot path allocates only while it grows.
 *
 * The struct is plain data on the caller's side; `data` is owned by the buffer and freed by
 * mf_buf_free. All appends are all-or-nothing: on failure (limit reached, out of memory,
 * invalid input) `len` is unchanged and `err` says why.
 */
typedef struct mf_buf {
    char *data; /* NULL until the first growth */
    size_t len; /* bytes used, terminating NUL not counted */
    size_t cap; /* bytes allocated */
    size_t max; /* most bytes `len` may reach */
} mf_buf;

/* Default limit when mf_buf_init gets max == 0: 64 MiB. */
#define MF_BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

/* Initialise an empty buffer that may hold up to `max` bytes (0: MF_BUF_DEFAULT_MAX). */
void mf_buf_init(mf_buf *b, size_t max);

/* Release the memory; the buffer is empty and reusable afterwards. b may be NULL. */
void mf_buf_free(mf_buf *b);

/* Forget the content, keep the memory. */
void mf_buf_reset(mf_buf *b);

/* Make room for `extra` more bytes (plus the NUL). */
int mf_buf_reserve(mf_buf *b, size_t extra, mf_err *err);

/* Append n raw bytes. */
int mf_buf_append(mf_buf *b, const void *p, size_t n, mf_err *err);

/* Append a C string (without its NUL). s must not be NULL. */
int mf_buf_append_str(mf_buf *b, const char *s, mf_err *err);

/* Append one byte. */
int mf_buf_append_char(mf_buf *b, char c, mf_err *err);

/* Append printf-style formatted text. (err comes before the format because of the varargs.) */
int mf_buf_printf(mf_buf *b, mf_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True (1) when the n bytes at s are well-formed UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF), else 0. */
int mf_buf_utf8_valid(const char *s, size_t n);

/* Append s (n bytes) as a quoted JSON string: `"` and `\` escaped, control characters as
 * \n \r \t \b \f or \u00XX, everything else (UTF-8 included) copied as is. Fails when s is
 * not valid UTF-8 (the output would not be valid JSON). */
int mf_buf_append_json_str(mf_buf *b, const char *s, size_t n, mf_err *err);

/* The same without the surrounding quotes (for building a string from pieces). */
int mf_buf_append_json_escaped(mf_buf *b, const char *s, size_t n, mf_err *err);

/* mf_buf_append_json_str for a C string. s must not be NULL. */
int mf_buf_append_json_cstr(mf_buf *b, const char *s, mf_err *err);

/* Append s percent-encoded for a URL query component: unreserved characters
 * (A-Z a-z 0-9 - _ . ~) as is, every other byte as %XX. */
int mf_buf_append_urlenc(mf_buf *b, const char *s, size_t n, mf_err *err);

#endif

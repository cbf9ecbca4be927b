/* mf_euckr: count message length in EUC-KR/CP949 bytes and pick SMS or LMS by it. */
#ifndef MF_EUCKR_H
#define MF_EUCKR_H

#include <stddef.h>

#include "mf_err.h"

/* Carrier limits, in EUC-KR (CP949) bytes. */
#define MF_EUCKR_SMS_MAX 90
#define MF_EUCKR_LMS_MAX 2000
#define MF_EUCKR_SUBJECT_MAX 40

/*
 * A counter owns one iconv conversion handle (UTF-8 -> CP949) and reuses it for every call.
 * It holds no other state: use one counter per thread (it is not safe to share a counter
 * between threads without a lock); creating one costs one iconv_open.
 */
typedef struct mf_euckr mf_euckr;

/* Create a counter. Returns NULL and fills err when glibc has no CP949 converter. Free with
 * mf_euckr_free. */
mf_euckr *mf_euckr_new(mf_err *err);

/* Free a counter (NULL is fine). */
void mf_euckr_free(mf_euckr *c);

/*
 * Byte length of the UTF-8 text s (len bytes, no NUL needed) once encoded in CP949:
 * ASCII 1 byte, Hangul (and other CP949 characters) 2 bytes. Pure ASCII takes a fast path
 * that does not touch iconv. Returns 0 with *out set, or -1 with err set when a character
 * has no CP949 form ("character U+1F600 at byte 3 is not representable in EUC-KR/CP949")
 * or the input is not valid UTF-8 ("invalid UTF-8 at byte 5").
 * If bad_cp is not NULL it receives the offending code point (0 for invalid UTF-8).
 */
int mf_euckr_len(mf_euckr *c, const char *s, size_t len, size_t *out, unsigned *bad_cp,
                 mf_err *err);

typedef enum mf_euckr_kind { MF_EUCKR_KIND_SMS = 0, MF_EUCKR_KIND_LMS = 1 } mf_euckr_kind;

/*
 * Decide the message type by length: no subject and body <= 90 bytes -> SMS; otherwise body
 * <= 2000 bytes and subject <= 40 bytes -> LMS (a subject forces LMS: SMS has no subject).
 * Anything longer is an error, never a truncation: "message body is 2001 bytes in EUC-KR,
 * more than the LMS limit of 2000". subject may be NULL (or subject_len 0) for none.
 * On success *kind, and when not NULL *body_bytes / *subject_bytes, are set.
 */
int mf_euckr_decide(mf_euckr *c, const char *body, size_t body_len, const char *subject,
                    size_t subject_len, mf_euckr_kind *kind, size_t *body_bytes,
                    size_t *subject_bytes, mf_err *err);

/* The same decision from byte counts already known (mf_euckr_len), without counting again.
 * has_subject: a non-empty subject was given (subject_bytes is its count). */
int mf_euckr_decide_bytes(size_t body_bytes, int has_subject, size_t subject_bytes,
                          mf_euckr_kind *kind, mf_err *err);

/* "SMS" or "LMS". */
const char *mf_euckr_kind_name(mf_euckr_kind kind);

#endif

/* mf_phone: normalise Korean mobile phone numbers and mask them for logs. */
#ifndef MF_PHONE_H
#define MF_PHONE_H

#include <stddef.h>

#include "mf_err.h"

/* Room for the longest normalised number (11 digits) plus NUL. */
#define MF_PHONE_MAX 12
/* Room for a masked number (same length as the number it masks) plus NUL. */
#define MF_PHONE_MASK_MAX 24

/* Why a number was refused. Stable: the short names (mf_phone_reason_name) are part of
 * error codes and logs. */
typedef enum mf_phone_reason {
    MF_PHONE_OK = 0,
    MF_PHONE_EMPTY,      /* NULL, "" or only separators */
    MF_PHONE_LETTERS,    /* contains a letter */
    MF_PHONE_BAD_CHAR,   /* contains a character that is neither digit nor separator */
    MF_PHONE_BAD_PLUS,   /* '+' not at the start */
    MF_PHONE_NOT_KOREAN, /* international prefix other than +82 / 0082 */
    MF_PHONE_NOT_MOBILE, /* does not start with 010/011/016/017/018/019 */
    MF_PHONE_TOO_SHORT,  /* mobile prefix but too few digits */
    MF_PHONE_TOO_LONG    /* mobile prefix but too many digits */
} mf_phone_reason;

/*
 * Normalise a Korean mobile number to plain digits: "010-1234-5678", "+82 10-1234-5678",
 * "+821012345678", "01012345678", "010 1234 5678", "(010)1234-5678" all give "01012345678";
 * "011-123-4567" gives "0111234567". Separators allowed: space, '-', '.', '(', ')'; a leading
 * '+82' or '0082' is the Korean country code (a 0 after it is tolerated: "+82 010...").
 * Mobile means 010 plus 8 digits, or 011/016/017/018/019 plus 7 or 8 digits.
 * out must hold MF_PHONE_MAX bytes. Returns 0, or -1 with *reason (if not NULL) and err set
 * ("invalid phone number: too short"); out is then the empty string.
 */
int mf_phone_normalize(const char *in, char *out, size_t outsz, mf_phone_reason *reason,
                       mf_err *err);

/* Short stable name of a reason: "ok", "empty", "letters", "bad_char", "bad_plus",
 * "not_korean", "not_mobile", "too_short", "too_long". Never NULL. */
const char *mf_phone_reason_name(mf_phone_reason reason);

/* Human description of a reason (lower case, no trailing period). Never NULL. */
const char *mf_phone_reason_text(mf_phone_reason reason);

/*
 * Mask a number for logs: keep the first 3 and last 4 characters, '*' in between
 * ("01012345678" -> "010****5678", "0111234567" -> "011***4567"). Inputs shorter than 8
 * characters are fully masked; NULL gives "(null)". Writes at most outsz bytes (always
 * NUL-terminated when outsz > 0); input longer than the buffer is masked to fit.
 */
void mf_phone_mask(const char *number, char *out, size_t outsz);

/* Fewest digits in a run that mf_phone_mask_text treats as a number. */
#define MF_PHONE_MASK_MIN_DIGITS 8

/*
 * Mask every number in free text (a server's error message, say): a run of at least
 * MF_PHONE_MASK_MIN_DIGITS digits, possibly written with '-', ' ', '.' and a leading '+',
 * keeps its first 3 and last 4 digits and its separators, the digits between become '*':
 * "x 010-1234-5678 y" -> "x 010-****-5678 y", "김01012345678" -> "김010****5678". Shorter
 * runs and everything else are copied. At most outsz bytes, always NUL-terminated (cut
 * where it does not fit); NULL text gives "".
 */
void mf_phone_mask_text(const char *text, char *out, size_t outsz);

#endif

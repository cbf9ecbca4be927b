/* mf_phone: normalise Korean mobile phone numbers and mask them for logs. */
#include "mf_phone.h"

#include <stdio.h>
#include <string.h>

/* Digits we keep while scanning; anything longer is too long anyway. */
#define SCAN_MAX 24

static int is_sep(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t';
}

static int is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Collect the digits of in into buf; note a leading '+'. Returns MF_PHONE_OK or a reason. */
static mf_phone_reason collect_digits(const char *in, char *buf, size_t *n, int *plus)
{
    size_t len = 0;
    int seen_any = 0;

    *plus = 0;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= '0' && c <= '9') {
            if (len < SCAN_MAX)
                buf[len] = (char)c;
            len++;
            seen_any = 1;
        } else if (c == '+') {
            if (seen_any || *plus)
                return MF_PHONE_BAD_PLUS;
            *plus = 1;
        } else if (is_sep((char)c)) {
            continue;
        } else if (is_letter(c)) {
            return MF_PHONE_LETTERS;
        } else {
            return MF_PHONE_BAD_CHAR;
        }
    }
    if (len == 0)
        return MF_PHONE_EMPTY;
    if (len > SCAN_MAX)
        len = SCAN_MAX; /* still flagged too long below */
    buf[len] = '\0';
    *n = len;
    return MF_PHONE_OK;
}

/* Turn an international form (digits after '+', or 00...) into the national form. */
static mf_phone_reason strip_country(char *buf, size_t *n, int plus)
{
    const char *rest;

    if (plus) {
        if (strncmp(buf, "82", 2) != 0)
            return MF_PHONE_NOT_KOREAN;
        rest = buf + 2;
    } else if (strncmp(buf, "00", 2) == 0) {
        if (strncmp(buf, "0082", 4) != 0)
            return MF_PHONE_NOT_KOREAN;
        rest = buf + 4;
    } else {
        return MF_PHONE_OK;
    }
    if (*rest == '\0')
        return MF_PHONE_TOO_SHORT;
    char tmp[SCAN_MAX + 2];
    size_t rl = strlen(rest);
    if (rest[0] == '0') {
        memcpy(tmp, rest, rl + 1);
    } else {
        tmp[0] = '0';
        memcpy(tmp + 1, rest, rl + 1);
        rl++;
    }
    if (rl > SCAN_MAX)
        rl = SCAN_MAX;
    memcpy(buf, tmp, rl);
    buf[rl] = '\0';
    *n = rl;
    return MF_PHONE_OK;
}

static mf_phone_reason check_mobile(const char *d, size_t n)
{
    if (n < 3)
        return d[0] == '0' && (n < 2 || d[1] == '1') ? MF_PHONE_TOO_SHORT : MF_PHONE_NOT_MOBILE;
    if (d[0] != '0' || d[1] != '1')
        return MF_PHONE_NOT_MOBILE;
    switch (d[2]) {
    case '0':
        if (n < 11)
            return MF_PHONE_TOO_SHORT;
        return n > 11 ? MF_PHONE_TOO_LONG : MF_PHONE_OK;
    case '1':
    case '6':
    case '7':
    case '8':
    case '9':
        if (n < 10)
            return MF_PHONE_TOO_SHORT;
        return n > 11 ? MF_PHONE_TOO_LONG : MF_PHONE_OK;
    default: return MF_PHONE_NOT_MOBILE;
    }
}

int mf_phone_normalize(const char *in, char *out, size_t outsz, mf_phone_reason *reason,
                       mf_err *err)
{
    char buf[SCAN_MAX + 2] = {0}; /* zeroed: the analyzer cannot follow strncmp over it */
    size_t n = 0;
    int plus = 0;
    mf_phone_reason r;

    if (out && outsz > 0)
        out[0] = '\0';
    if (in == NULL) {
        r = MF_PHONE_EMPTY;
        goto out;
    }
    r = collect_digits(in, buf, &n, &plus);
    if (r != MF_PHONE_OK)
        goto out;
    r = strip_country(buf, &n, plus);
    if (r != MF_PHONE_OK)
        goto out;
    r = check_mobile(buf, n);
    if (r != MF_PHONE_OK)
        goto out;
    if (out == NULL || outsz <= n) {
        if (reason)
            *reason = MF_PHONE_OK;
        return mf_err_set(err, "phone number buffer too small (%zu bytes)", outsz);
    }
    memcpy(out, buf, n + 1);
out:
    if (reason)
        *reason = r;
    if (r != MF_PHONE_OK)
        return mf_err_set(err, "invalid phone number: %s", mf_phone_reason_text(r));
    return 0;
}

const char *mf_phone_reason_name(mf_phone_reason reason)
{
    switch (reason) {
    case MF_PHONE_OK: return "ok";
    case MF_PHONE_EMPTY: return "empty";
    case MF_PHONE_LETTERS: return "letters";
    case MF_PHONE_BAD_CHAR: return "bad_char";
    case MF_PHONE_BAD_PLUS: return "bad_plus";
    case MF_PHONE_NOT_KOREAN: return "not_korean";
    case MF_PHONE_NOT_MOBILE: return "not_mobile";
    case MF_PHONE_TOO_SHORT: return "too_short";
    case MF_PHONE_TOO_LONG: return "too_long";
    }
    return "unknown";
}

const char *mf_phone_reason_text(mf_phone_reason reason)
{
    switch (reason) {
    case MF_PHONE_OK: return "valid";
    case MF_PHONE_EMPTY: return "empty";
    case MF_PHONE_LETTERS: return "contains letters";
    case MF_PHONE_BAD_CHAR: return "contains an invalid character";
    case MF_PHONE_BAD_PLUS: return "'+' is only allowed at the start";
    case MF_PHONE_NOT_KOREAN: return "not a Korean number (country code other than 82)";
    case MF_PHONE_NOT_MOBILE: return "not a mobile prefix (010, 011, 016-019)";
    case MF_PHONE_TOO_SHORT: return "too short";
    case MF_PHONE_TOO_LONG: return "too long";
    }
    return "unknown reason";
}

void mf_phone_mask(const char *number, char *out, size_t outsz)
{
    size_t n, i;

    if (out == NULL || outsz == 0)
        return;
    if (number == NULL) {
        snprintf(out, outsz, "(null)");
        return;
    }
    n = strlen(number);
    if (n >= outsz)
        n = outsz - 1;
    for (i = 0; i < n; i++) {
        int keep = n >= 8 && (i < 3 || i >= n - 4);
        out[i] = keep ? number[i] : '*';
    }
    out[n] = '\0';
}

/* A run of digits and the separators a number is written with ('-', ' ', '.', a leading
 * '+'), starting at s: its length, and its digit count into *digits. */
static size_t number_run(const char *s, size_t *digits)
{
    size_t i = 0, last_digit = 0;

    *digits = 0;
    if (s[0] == '+')
        i++;
    for (; s[i] != '\0'; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            (*digits)++;
            last_digit = i + 1;
        } else if (s[i] != '-' && s[i] != ' ' && s[i] != '.') {
            break;
        }
    }
    return last_digit; /* trailing separators are not part of it */
}

void mf_phone_mask_text(const char *text, char *out, size_t outsz)
{
    size_t o = 0;

    if (out == NULL || outsz == 0)
        return;
    for (const char *p = text ? text : ""; *p != '\0' && o + 1 < outsz;) {
        size_t digits, len = 0;

        if ((*p >= '0' && *p <= '9') || (*p == '+' && p[1] >= '0' && p[1] <= '9'))
            len = number_run(p, &digits);
        if (len == 0 || digits < MF_PHONE_MASK_MIN_DIGITS) {
            /* copy the whole digit run: its tail is not a number of its own */
            size_t n = len > 0 ? len : 1;

            for (size_t i = 0; i < n && o + 1 < outsz; i++)
                out[o++] = p[i];
            p += n;
            continue;
        }
        for (size_t i = 0, d = 0; i < len && o + 1 < outsz; i++) {
            int is_digit = p[i] >= '0' && p[i] <= '9';

            out[o++] = is_digit && d >= 3 && d < digits - 4 ? '*' : p[i];
            d += (size_t)is_digit;
        }
        p += len;
    }
    out[o] = '\0';
}

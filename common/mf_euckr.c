/* mf_euckr: count message length in EUC-KR/CP949 bytes and pick SMS or LMS by it. */
#include "mf_euckr.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

struct mf_euckr {
    iconv_t cd;
};

mf_euckr *mf_euckr_new(mf_err *err)
{
    mf_euckr *c = calloc(1, sizeof(*c));
    char ebuf[128];

    if (c == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    c->cd = iconv_open("CP949", "UTF-8");
    if (c->cd == (iconv_t)-1) {
        mf_err_set(err, "could not open iconv converter from \"UTF-8\" to \"CP949\": %s",
                   mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        free(c);
        return NULL;
    }
    return c;
}

void mf_euckr_free(mf_euckr *c)
{
    if (c == NULL)
        return;
    iconv_close(c->cd);
    free(c);
}

/* Decode one UTF-8 sequence at s (n bytes left). Returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t need;
    unsigned v;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        need = 2;
        v = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        need = 3;
        v = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        need = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((need == 2 && v < 0x80) || (need == 3 && v < 0x800) || (need == 4 && v < 0x10000) ||
        v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return need;
}

/* Explain why iconv stopped at byte offset off. */
static int report_bad(const char *s, size_t len, size_t off, unsigned *bad_cp, mf_err *err)
{
    unsigned cp = 0;

    if (utf8_decode((const unsigned char *)s + off, len - off, &cp) == 0) {
        if (bad_cp)
            *bad_cp = 0;
        return mf_err_set(err, "invalid UTF-8 at byte %zu", off);
    }
    if (bad_cp)
        *bad_cp = cp;
    return mf_err_set(err, "character U+%04X at byte %zu is not representable in EUC-KR/CP949", cp,
                      off);
}

/* Convert s[start..len) and add up the output bytes; error offsets are relative to s. */
static int count_iconv(mf_euckr *c, const char *s, size_t len, size_t start, size_t *out,
                       unsigned *bad_cp, mf_err *err)
{
    char buf[1024];
    char *in = (char *)s + start;
    size_t inleft = len - start;
    size_t total = 0;

    iconv(c->cd, NULL, NULL, NULL, NULL); /* reset shift state */
    while (inleft > 0) {
        char *o = buf;
        size_t oleft = sizeof(buf);
        size_t r = iconv(c->cd, &in, &inleft, &o, &oleft);
        total += sizeof(buf) - oleft;
        if (r == (size_t)-1) {
            if (errno == E2BIG)
                continue;
            return report_bad(s, len, (size_t)(in - s), bad_cp, err);
        }
    }
    *out = total;
    return 0;
}

int mf_euckr_len(mf_euckr *c, const char *s, size_t len, size_t *out, unsigned *bad_cp, mf_err *err)
{
    size_t i, rest = 0;

    if (bad_cp)
        *bad_cp = 0;
    if (s == NULL || len == 0) {
        *out = 0;
        return 0;
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            break;
    }
    if (i == len) {
        *out = len;
        return 0;
    }
    if (c == NULL)
        return mf_err_set(err, "no EUC-KR counter");
    if (count_iconv(c, s, len, i, &rest, bad_cp, err) != 0)
        return -1;
    *out = i + rest;
    return 0;
}

int mf_euckr_decide_bytes(size_t b, int has_subject, size_t sb, mf_euckr_kind *kind, mf_err *err)
{
    if (sb > MF_EUCKR_SUBJECT_MAX)
        return mf_err_set(err, "message subject is %zu bytes in EUC-KR, more than the limit of %d",
                          sb, MF_EUCKR_SUBJECT_MAX);
    if (b > MF_EUCKR_LMS_MAX)
        return mf_err_set(err, "message body is %zu bytes in EUC-KR, more than the LMS limit of %d",
                          b, MF_EUCKR_LMS_MAX);
    *kind = (b <= MF_EUCKR_SMS_MAX && !has_subject) ? MF_EUCKR_KIND_SMS : MF_EUCKR_KIND_LMS;
    return 0;
}

int mf_euckr_decide(mf_euckr *c, const char *body, size_t body_len, const char *subject,
                    size_t subject_len, mf_euckr_kind *kind, size_t *body_bytes,
                    size_t *subject_bytes, mf_err *err)
{
    size_t b = 0, sb = 0;
    int has_subject = subject != NULL && subject_len > 0;

    if (mf_euckr_len(c, body, body_len, &b, NULL, err) != 0)
        return mf_err_prefix(err, "message body");
    if (has_subject && mf_euckr_len(c, subject, subject_len, &sb, NULL, err) != 0)
        return mf_err_prefix(err, "message subject");
    if (body_bytes)
        *body_bytes = b;
    if (subject_bytes)
        *subject_bytes = sb;
    return mf_euckr_decide_bytes(b, has_subject, sb, kind, err);
}

const char *mf_euckr_kind_name(mf_euckr_kind kind)
{
    return kind == MF_EUCKR_KIND_SMS ? "SMS" : "LMS";
}

/* mf_coolsms_auth: the CoolSMS request signature (HMAC-SHA256 header, date, salt). */
#include "mf_coolsms_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ auth */

int mf_coolsms_auth_header(char *out, size_t out_size, const char *api_key, const char *api_secret,
                           const char *date, const char *salt, mf_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char sig[2 * EVP_MAX_MD_SIZE + 1];
    char data[256];
    size_t dl = strlen(date), sl = strlen(salt), i;
    int n;

    if (dl + sl >= sizeof(data))
        return mf_err_set(err, "date and salt too long for the signature");
    memcpy(data, date, dl);
    memcpy(data + dl, salt, sl);
    if (HMAC(EVP_sha256(), api_secret, (int)strlen(api_secret), (const unsigned char *)data,
             dl + sl, md, &md_len) == NULL)
        return mf_err_set(err, "could not compute the request signature");
    for (i = 0; i < md_len; i++) {
        sig[2 * i] = hex[md[i] >> 4];
        sig[2 * i + 1] = hex[md[i] & 0xF];
    }
    sig[2 * md_len] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    n = snprintf(out, out_size, "HMAC-SHA256 apiKey=%s, date=%s, salt=%s, signature=%s", api_key,
                 date, salt, sig);
    if (n < 0 || (size_t)n >= out_size)
        return mf_err_set(err, "authorization header does not fit in %zu bytes", out_size);
    return 0;
}

int mf_coolsms_format_date(time_t t, char *out, size_t out_size, mf_err *err)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return mf_err_set(err, "could not convert the time to UTC");
    if (strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return mf_err_set(err, "date does not fit in %zu bytes", out_size);
    return 0;
}

int mf_coolsms_make_salt(char *out, size_t out_size, mf_err *err)
{
    static const char alphabet[] = "1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char rnd[64];
    size_t o = 0, i;

    if (out_size < 33)
        return mf_err_set(err, "salt buffer too small");
    while (o < 32) {
        if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
            return mf_err_set(err, "could not get random bytes for the salt");
        /* 248 = 4 * 62: rejecting the rest keeps every character equally likely. */
        for (i = 0; i < sizeof(rnd) && o < 32; i++)
            if (rnd[i] < 248)
                out[o++] = alphabet[rnd[i] % 62];
    }
    out[32] = '\0';
    return 0;
}

/* "Authorization: ..." for now, with a fresh salt. */
int mf_coolsms_auth_line(const mf_coolsms *h, char *line, size_t size, mf_err *err)
{
    char date[32], salt[33];
    static const char prefix[] = "Authorization: ";

    if (mf_coolsms_format_date(time(NULL), date, sizeof(date), err) < 0 ||
        mf_coolsms_make_salt(salt, sizeof(salt), err) < 0)
        return -1;
    memcpy(line, prefix, sizeof(prefix) - 1);
    return mf_coolsms_auth_header(line + sizeof(prefix) - 1, size - (sizeof(prefix) - 1),
                                  h->api_key, h->api_secret, date, salt, err);
}

/* rep_price: the price of a message by type, from the coolsms_prices setting, cached. */
#ifndef REP_PRICE_H
#define REP_PRICE_H

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_log.h"

typedef struct rep_price rep_price;

/* Prices by mf_msg_type (NONE, SMS, LMS, KAKAO). */
#define REP_PRICE_N 4

/* ttl_ms: how long a loaded setting is served before it is read again. log (borrowed, may be
 * NULL) gets the warning about a setting that is not a JSON object. Free with
 * rep_price_free. NULL with err when out of memory. */
rep_price *rep_price_new(long long ttl_ms, mf_log *log, mf_err *err);
void rep_price_free(rep_price *p);

/* Price (KRW) of one message carried as `type` (an unknown type pays the SMS price), from the
 * cache; reads system_settings 'coolsms_prices' on conn when the cache is older than ttl_ms
 * (or empty). 0 or -1 with err (the setting could not be read). */
int rep_price_get(rep_price *p, PGconn *conn, mf_msg_type type, double *price, mf_err *err);

/* While frozen (a COPY holds the connection), rep_price_get serves the cache however old it
 * is; it reads the setting only when nothing was ever loaded. */
void rep_price_freeze(rep_price *p, int frozen);

/* The prices of a coolsms_prices setting value (JSON text, or NULL for no setting) into
 * prices: the defaults (sms 8.4, lms 25.9, kakao 7.5), replaced by each "sms", "lms", "kakao"
 * entry that is a number or numeric text, not negative and at most 999,999.99 once rounded
 * to hundredths (message_logs.cost is DECIMAL(8,2)); NONE gets the SMS price. Returns -1 when
 * the text is not a JSON object (the defaults stand), else 0. */
int rep_price_parse(const char *setting, double prices[REP_PRICE_N]);

#endif

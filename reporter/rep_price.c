/* rep_price: the price of a message by type, from the coolsms_prices setting, cached. */
#include "rep_price.h"

#include <math.h>
#include <stdlib.h>

#include <jansson.h>

#include "mf_clock.h"
#include "mf_pg.h"
#include "rep_sql.h"

struct rep_price {
    long long ttl_ms;
    mf_log *log;
    double price[REP_PRICE_N]; /* by mf_msg_type */
    long long loaded_ms;
    int valid;
    int frozen; /* a COPY holds the connection: serve prices from the cache */
};

rep_price *rep_price_new(long long ttl_ms, mf_log *log, mf_err *err)
{
    rep_price *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    p->ttl_ms = ttl_ms;
    p->log = log;
    return p;
}

void rep_price_free(rep_price *p)
{
    free(p);
}

void rep_price_freeze(rep_price *p, int frozen)
{
    p->frozen = frozen;
}

static void default_prices(double *p)
{
    p[MF_TYPE_NONE] = 8.4;
    p[MF_TYPE_SMS] = 8.4;
    p[MF_TYPE_LMS] = 25.9;
    p[MF_TYPE_KAKAO] = 7.5;
}

static void price_from_json(json_t *obj, const char *key, double *dst)
{
    json_t *v = json_object_get(obj, key);
    char *end;
    double d;

    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        d = strtod(json_string_value(v), &end);
        if (end == json_string_value(v) || *end != '\0')
            return;
    } else {
        return;
    }
    /* message_logs.cost is DECIMAL(8,2): a price that rounds past 999,999.99 could never be
     * stored (every row of its type would be a data error) */
    if (d >= 0 && llround(d * 100.0) <= 99999999LL)
        *dst = d;
}

int rep_price_parse(const char *setting, double prices[REP_PRICE_N])
{
    json_t *root;
    json_error_t jerr;
    int rc = 0;

    default_prices(prices);
    if (setting == NULL)
        return 0;
    root = json_loads(setting, 0, &jerr);
    if (json_is_object(root)) {
        price_from_json(root, "sms", &prices[MF_TYPE_SMS]);
        price_from_json(root, "lms", &prices[MF_TYPE_LMS]);
        price_from_json(root, "kakao", &prices[MF_TYPE_KAKAO]);
        prices[MF_TYPE_NONE] = prices[MF_TYPE_SMS];
    } else {
        rc = -1;
    }
    json_decref(root);
    return rc;
}

static int load_prices(rep_price *p, PGconn *conn, mf_err *err)
{
    PGresult *res = mf_pg_query(conn, REP_SQL_PRICES, 0, NULL, err);
    const char *setting = NULL;

    if (res == NULL)
        return mf_err_prefix(err, "could not read the coolsms_prices setting");
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        setting = PQgetvalue(res, 0, 0);
    if (rep_price_parse(setting, p->price) != 0 && p->log != NULL)
        mf_log_msgf(p->log, MF_LOG_WARN,
                    "system_settings coolsms_prices is not a JSON object: default prices");
    PQclear(res);
    p->valid = 1;
    p->loaded_ms = mf_clock_mono_ms();
    return 0;
}

int rep_price_get(rep_price *p, PGconn *conn, mf_msg_type type, double *price, mf_err *err)
{
    /* while a COPY holds the connection (frozen) the cache serves, however old */
    if (!p->valid || (!p->frozen && mf_clock_mono_ms() - p->loaded_ms >= p->ttl_ms)) {
        if (load_prices(p, conn, err) != 0)
            return -1;
    }
    if ((int)type < 0 || (int)type > MF_TYPE_KAKAO)
        type = MF_TYPE_NONE;
    *price = p->price[type];
    return 0;
}

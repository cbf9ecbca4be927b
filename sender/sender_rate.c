/* sender_rate: the fleet-wide send rate and the provider's daily quota, shared in PostgreSQL. */
#include "sender_rate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_clock.h"
#include "mf_pg.h"

#define NO_QUOTA_RETRY_MS 1000 /* quota unknown or used up: ask again after */

/* clang-format off */
static const char TAKE_SQL[] =
    "SELECT granted, wait_ms, quota_left, read_quota"
    " FROM mf_send_take($1, $2::float8, $3::float8, $4::integer, $5::integer)";
static const char STORE_SQL[] =
    "SELECT quota_left, released FROM mf_quota_store($1, $2::bigint)";
static const char RESERVE_SQL[] =
    "SELECT key, now_n, ahead_n, base FROM mf_rate_reserve($1::text[], $2::float8[],"
    " $3::float8[], $4::integer[], $5::float8)";
static const char HOLD_SQL[] =
    "UPDATE workflow_runs SET send_hold = 'quota',"
    " logs = COALESCE(CASE WHEN jsonb_typeof(logs) = 'array' THEN logs END, '[]'::jsonb)"
    "  || jsonb_build_array(jsonb_build_object('ts', now(), 'event', 'quota_hold',"
    "     'detail', 'the provider''s daily quota is used up: jobs are held until it is'"
    "     || ' available again'))"
    " WHERE id = ANY($1::uuid[]) AND status = 'running' AND send_hold IS NULL";
/* clang-format on */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void sender_rate_init(sender_rate *r, const char *base_url, const char *api_key, double rate_per_s,
                      long long burst_ms, long long check_ms, long long horizon_s)
{
    uint64_t h = fnv(fnv(1469598103934665603ull, base_url), "\n");

    memset(r, 0, sizeof(*r));
    h = fnv(h, api_key);
    snprintf(r->account, sizeof(r->account), "account:%016llx", (unsigned long long)h);
    r->rate = rate_per_s;
    r->burst = rate_per_s * (double)burst_ms / 1000.0;
    if (r->burst < 1)
        r->burst = 1;
    r->check_ms = check_ms;
    r->horizon_s = (double)horizon_s;
    mf_pgarr_init(&r->keys);
    mf_pgarr_init(&r->rates);
    mf_pgarr_init(&r->bursts);
    mf_pgarr_init(&r->wants);
    mf_pgarr_init(&r->runs);
}

void sender_rate_free(sender_rate *r)
{
    mf_pgarr_free(&r->keys);
    mf_pgarr_free(&r->rates);
    mf_pgarr_free(&r->bursts);
    mf_pgarr_free(&r->wants);
    mf_pgarr_free(&r->runs);
}

int sender_rate_account_on(const sender_rate *r)
{
    return r->rate > 0 || r->check_ms > 0;
}

static long long cell_ll(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? -1 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* Reads the provider's quota and stores it for the fleet (releasing held runs when there is
 * quota left). A failed read is logged; the fleet's copy stays as it was. */
static int read_quota(sender_rate *r, PGconn *pg, mf_coolsms *sms, mf_log *log, mf_err *err)
{
    char qbuf[24];
    const char *params[2] = {r->account, qbuf};
    long long quota = 0;
    long http = 0;
    PGresult *res;
    mf_err e2;

    if (sms == NULL)
        return 0;
    r->quota_reads++;
    if (mf_coolsms_quota_get(sms, &quota, &http, &e2) != 0) {
        MF_LOG(log, MF_LOG_WARN, "could not read the provider's daily quota",
               MF_KV_S("error", e2.msg), MF_KV_I("http_status", http));
        params[1] = NULL; /* recorded as failed: the last quota read stays in force */
    } else {
        snprintf(qbuf, sizeof(qbuf), "%lld", quota);
    }
    r->queries++;
    res = mf_pg_query(pg, STORE_SQL, 2, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not store the provider's daily quota");
    if (params[1] == NULL) {
        PQclear(res);
        return 0;
    }
    r->quota_known = 1;
    r->quota_left = cell_ll(res, 0);
    r->quota_out = r->quota_left <= 0;
    MF_LOG(log, r->quota_out ? MF_LOG_WARN : MF_LOG_INFO, "provider daily quota read",
           MF_KV_I("quota", quota), MF_KV_I("quota_left", r->quota_left),
           MF_KV_I("runs_released", cell_ll(res, 1)));
    PQclear(res);
    return 0;
}

/* One mf_send_take statement for n tokens: the grant goes to the pool. *read_now 1 when the
 * fleet asked this sender to read the quota. */
static int ask_account(sender_rate *r, PGconn *pg, size_t n, int *read_now, mf_err *err)
{
    char rate[32], burst[32], want[24], check[24];
    const char *params[5] = {r->account, rate, burst, want, check};
    long long granted, wait;
    PGresult *res;

    snprintf(rate, sizeof(rate), "%.6f", r->rate);
    snprintf(burst, sizeof(burst), "%.6f", r->burst);
    snprintf(want, sizeof(want), "%zu", n > 1000000 ? (size_t)1000000 : n);
    snprintf(check, sizeof(check), "%lld", r->check_ms);
    r->queries++;
    res = mf_pg_query(pg, TAKE_SQL, 5, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not take send tokens");
    granted = cell_ll(res, 0);
    wait = cell_ll(res, 1);
    r->quota_known = !PQgetisnull(res, 0, 2);
    r->quota_left = cell_ll(res, 2);
    *read_now = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    PQclear(res);
    if (granted > 0)
        r->pool += granted;
    r->quota_out = r->check_ms > 0 && r->quota_known && r->quota_left <= 0;
    if (wait > 0)
        r->next_ask_ms = mf_clock_mono_ms() + wait;
    else if (r->quota_out && n > 0)
        r->next_ask_ms = mf_clock_mono_ms() + NO_QUOTA_RETRY_MS; /* asked again when read */
    else if (granted < (long long)n && !r->quota_known && r->check_ms > 0)
        r->next_ask_ms = mf_clock_mono_ms() + NO_QUOTA_RETRY_MS; /* quota not known yet */
    return 0;
}

int sender_rate_take(sender_rate *r, PGconn *pg, mf_coolsms *sms, mf_log *log, size_t want,
                     size_t ask, size_t *granted, mf_err *err)
{
    int read_now = 0;

    if (ask < want)
        ask = want;
    if (r->pool < (long long)want && mf_clock_mono_ms() >= r->next_ask_ms) {
        if (ask_account(r, pg, ask - (size_t)r->pool, &read_now, err) != 0)
            return -1;
        if (read_now) {
            int known = r->quota_known;

            if (read_quota(r, pg, sms, log, err) != 0)
                return -1;
            /* the first read (nothing was granted without it): ask again at once */
            if (!known && r->pool < (long long)want &&
                ask_account(r, pg, ask - (size_t)r->pool, &read_now, err) != 0)
                return -1;
        }
    }
    *granted = r->pool < (long long)want ? (size_t)r->pool : want;
    r->pool -= (long long)*granted;
    return 0;
}

void sender_rate_give_back(sender_rate *r, size_t n)
{
    r->pool += (long long)n;
}

static int add_double(mf_pgarr *a, double v, mf_err *err)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%.6f", v);
    return mf_pgarr_add(a, buf, err);
}

int sender_rate_reserve(sender_rate *r, PGconn *pg, sender_rate_want *w, size_t n, mf_err *err)
{
    const char *params[5];
    char horizon[32];
    PGresult *res;

    if (n == 0)
        return 0;
    mf_pgarr_reset(&r->keys);
    mf_pgarr_reset(&r->rates);
    mf_pgarr_reset(&r->bursts);
    mf_pgarr_reset(&r->wants);
    for (size_t i = 0; i < n; i++) {
        /* a workflow bucket holds 1 s of its rate: a campaign starts at its pace */
        if (mf_pgarr_add(&r->keys, w[i].key, err) != 0 ||
            add_double(&r->rates, w[i].rate, err) != 0 ||
            add_double(&r->bursts, w[i].rate < 1 ? 1 : w[i].rate, err) != 0 ||
            mf_pgarr_add_ll(&r->wants, (long long)w[i].want, err) != 0)
            return -1;
    }
    snprintf(horizon, sizeof(horizon), "%.3f", r->horizon_s);
    params[0] = mf_pgarr_finish(&r->keys, err);
    params[1] = mf_pgarr_finish(&r->rates, err);
    params[2] = mf_pgarr_finish(&r->bursts, err);
    params[3] = mf_pgarr_finish(&r->wants, err);
    params[4] = horizon;
    if (!params[0] || !params[1] || !params[2] || !params[3])
        return -1;
    r->queries++;
    res = mf_pg_query(pg, RESERVE_SQL, 5, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not reserve workflow send tokens");
    for (int row = 0; row < PQntuples(res); row++) {
        const char *key = PQgetvalue(res, row, 0);

        for (size_t i = 0; i < n; i++) {
            if (strcmp(w[i].key, key) != 0)
                continue;
            w[i].now_n = (size_t)strtoull(PQgetvalue(res, row, 1), NULL, 10);
            w[i].ahead_n = (size_t)strtoull(PQgetvalue(res, row, 2), NULL, 10);
            w[i].base = strtod(PQgetvalue(res, row, 3), NULL);
        }
    }
    PQclear(res);
    return 0;
}

int sender_rate_hold_runs(sender_rate *r, PGconn *pg, const mf_uuid *runs, size_t n, mf_err *err)
{
    const char *params[1];

    if (n == 0)
        return 0;
    mf_pgarr_reset(&r->runs);
    for (size_t i = 0; i < n; i++)
        if (mf_pgarr_add_uuid(&r->runs, &runs[i], err) != 0)
            return -1;
    params[0] = mf_pgarr_finish(&r->runs, err);
    if (params[0] == NULL)
        return -1;
    r->queries++;
    if (mf_pg_command(pg, HOLD_SQL, 1, params, NULL, err) != 0)
        return mf_err_prefix(err, "could not hold the runs at the quota");
    return 0;
}

int sender_rate_tick(sender_rate *r, PGconn *pg, mf_coolsms *sms, mf_log *log, int parked,
                     mf_err *err)
{
    int64_t now = mf_clock_mono_ms();
    int read_now = 0;

    if (r->check_ms <= 0 || (!r->quota_out && !parked) || now - r->last_tick_ms < r->check_ms)
        return 0;
    r->last_tick_ms = now;
    if (ask_account(r, pg, 0, &read_now, err) != 0)
        return -1;
    if (read_now && read_quota(r, pg, sms, log, err) != 0)
        return -1;
    return 1;
}

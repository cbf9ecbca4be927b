/* rep_optout: fill the opt-out list from provider statuses and the provider's 080 list. */
#include "rep_optout.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_clock.h"
#include "mf_coolsms.h"
#include "mf_daemon.h"
#include "mf_pg.h"
#include "mf_pgarr.h"
#include "mf_phone.h"

/* ------------------------------------------------------------------ from results */

/* clang-format off */
static const char RECORD_SQL[] =
    "WITH i AS (INSERT INTO mf_suppressions (phone, scope, source, reason) "
    "SELECT DISTINCT ON (p, sc) p, sc, src, 'provider status ' || c "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(p, sc, src, c) "
    "WHERE p ~ '^01[016789][0-9]{7,8}$' "
    "ON CONFLICT (phone, scope) DO NOTHING RETURNING 1) "
    "SELECT count(*) FROM i";
/* clang-format on */

int rep_optout_code(const char *code)
{
    return code != NULL && (strcmp(code, "1061") == 0 || strcmp(code, "2061") == 0 ||
                            strcmp(code, "1060") == 0 || strcmp(code, "2060") == 0);
}

static int qualifies(const mf_result *r)
{
    return (r->status == MF_RESULT_FAILED || r->status == MF_RESULT_UNDELIVERED) && r->to != NULL &&
           rep_optout_code(r->code);
}

static int count_query(PGconn *conn, const char *sql, int np, const char *const *params,
                       long long *out, mf_err *err)
{
    PGresult *res = mf_pg_query(conn, sql, np, params, err);

    if (res == NULL)
        return -1;
    if (out != NULL)
        *out = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

int rep_optout_record(PGconn *conn, const mf_result *res, size_t n, long long *added, mf_err *err)
{
    mf_pgarr a[4];
    const char *params[4];
    size_t m = 0;
    int rc = -1;

    if (added != NULL)
        *added = 0;
    for (size_t i = 0; i < n; i++)
        m += qualifies(&res[i]);
    if (m == 0)
        return 0;
    for (int k = 0; k < 4; k++)
        mf_pgarr_init(&a[k]);
    for (size_t i = 0; i < n; i++) {
        const mf_result *r = &res[i];
        int optout;

        if (!qualifies(r))
            continue;
        optout = r->code[3] == '1'; /* 1061 / 2061; 1060 / 2060: blocked */
        if (mf_pgarr_add(&a[0], r->to, err) != 0 ||
            mf_pgarr_add(&a[1], optout ? "advertising" : "all", err) != 0 ||
            mf_pgarr_add(&a[2], optout ? "provider_080" : "provider_block", err) != 0 ||
            mf_pgarr_add(&a[3], r->code, err) != 0)
            goto out;
    }
    for (int k = 0; k < 4; k++)
        if ((params[k] = mf_pgarr_finish(&a[k], err)) == NULL)
            goto out;
    rc = count_query(conn, RECORD_SQL, 4, params, added, err);
out:
    for (int k = 0; k < 4; k++)
        mf_pgarr_free(&a[k]);
    return rc;
}

/* ------------------------------------------------------------------ the provider's list */

/* Numbers per page asked for, and most pages read in one sync (a runaway nextKey loop). */
#define SYNC_PAGE 500
#define SYNC_MAX_PAGES 20000
/* How often the thread asks whether a sync is due (the interval is checked in PostgreSQL,
 * across reporters). */
#define SYNC_CHECK_MS 5000
/* Wait after a failed sync. */
#define SYNC_RETRY_MS 60000
/* How often the advertising ledger is pruned (rows older than 7 days), and most rows per
 * statement. */
#define PRUNE_EVERY_MS 600000
#define PRUNE_LIMIT "100000"

/* clang-format off */
static const char LOCK_SQL[] =
    "SELECT pg_try_advisory_xact_lock(140014, 0) AND coalesce(synced_at < now() - "
    "$1::bigint * interval '1 millisecond', true) FROM mf_optout_sync WHERE id = 1";
static const char SYNC_INSERT_SQL[] =
    "WITH i AS (INSERT INTO mf_suppressions (phone, scope, source, reason) "
    "SELECT DISTINCT p, 'advertising', 'provider_080', '080 opt-out (provider list)' "
    "FROM unnest($1::text[]) AS t(p) ON CONFLICT (phone, scope) DO NOTHING RETURNING 1) "
    "SELECT count(*) FROM i";
static const char SYNC_DONE_SQL[] =
    "UPDATE mf_optout_sync SET synced_at = now(), numbers = $1, added = $2, pages = $3, "
    "owner = $4 WHERE id = 1";
static const char PRUNE_SQL[] = "SELECT mf_ad_sends_prune(" PRUNE_LIMIT ")";
/* clang-format on */

struct rep_optout {
    const reporter_config *cfg;
    mf_log *log;
    PGconn *pg;
    mf_coolsms *api;
    mf_pgarr numbers;
    pthread_t thread;
    int running;
    atomic_int stop;
};

rep_optout *rep_optout_new(const reporter_config *cfg, mf_log *log, mf_err *err)
{
    rep_optout *o = calloc(1, sizeof(*o));
    mf_coolsms_config cc = {0};

    if (o == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->log = log;
    mf_pgarr_init(&o->numbers);
    cc.base_url = cfg->coolsms_base_url;
    cc.api_key = cfg->coolsms_api_key;
    cc.api_secret = cfg->coolsms_api_secret;
    cc.request_timeout_ms = (long)cfg->coolsms_timeout_ms;
    cc.max_in_flight = 1;
    if ((o->pg = mf_pg_connect(cfg->common.pg_dsn, NULL, "msgfleet-reporter-optout", err)) ==
            NULL ||
        (cfg->optout_sync_ms > 0 && (o->api = mf_coolsms_new(&cc, err)) == NULL)) {
        rep_optout_free(o);
        return NULL;
    }
    return o;
}

/* 1 when the lock was taken and a sync is due, 0 when not, -1 on error. */
static int due(rep_optout *o, mf_err *err)
{
    char ms[32];
    const char *p[1] = {ms};
    PGresult *res;
    int yes;

    snprintf(ms, sizeof(ms), "%lld", o->cfg->optout_sync_ms);
    res = mf_pg_query(o->pg, LOCK_SQL, 1, p, err);
    if (res == NULL)
        return -1;
    yes = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return yes;
}

/* Inserts one page's numbers (normalised; others skipped and counted). */
static int store_page(rep_optout *o, const mf_coolsms_black_result *page, long long *added,
                      long long *skipped, mf_err *err)
{
    const char *p[1];
    long long got = 0;

    mf_pgarr_reset(&o->numbers);
    for (size_t i = 0; i < page->n_numbers; i++) {
        char norm[MF_PHONE_MAX];

        if (mf_phone_normalize(page->numbers[i], norm, sizeof(norm), NULL, NULL) != 0) {
            (*skipped)++;
            continue;
        }
        if (mf_pgarr_add(&o->numbers, norm, err) != 0)
            return -1;
    }
    if (o->numbers.n == 0)
        return 0;
    if ((p[0] = mf_pgarr_finish(&o->numbers, err)) == NULL ||
        count_query(o->pg, SYNC_INSERT_SQL, 1, p, &got, err) != 0)
        return -1;
    *added += got;
    return 0;
}

/* Reads every page into the open transaction. */
static int read_pages(rep_optout *o, long long *numbers, long long *added, long long *skipped,
                      int *pages, mf_err *err)
{
    char key[128] = "";

    for (*pages = 0; *pages < SYNC_MAX_PAGES; (*pages)++) {
        mf_coolsms_black_result page;
        int rc = mf_coolsms_black_list(o->api, key, SYNC_PAGE, &page, err);

        if (rc == 0) {
            *numbers += (long long)page.n_numbers;
            rc = store_page(o, &page, added, skipped, err);
            snprintf(key, sizeof(key), "%s", page.next_key);
        }
        mf_coolsms_black_result_free(&page);
        if (rc != 0)
            return -1;
        if (key[0] == '\0') {
            (*pages)++;
            return 0;
        }
    }
    return mf_err_set(err, "the 080 opt-out list has more than %d pages", SYNC_MAX_PAGES);
}

static int finish_sync(rep_optout *o, long long numbers, long long added, int pages, mf_err *err)
{
    char n1[32], n2[32], n3[32];
    const char *p[4] = {n1, n2, n3, o->cfg->common.instance_id};

    snprintf(n1, sizeof(n1), "%lld", numbers);
    snprintf(n2, sizeof(n2), "%lld", added);
    snprintf(n3, sizeof(n3), "%d", pages);
    return mf_pg_command(o->pg, SYNC_DONE_SQL, 4, p, NULL, err);
}

int rep_optout_prune(rep_optout *o, long long *pruned, mf_err *err)
{
    if (mf_pg_ensure(o->pg, err) != 0)
        return -1;
    return count_query(o->pg, PRUNE_SQL, 0, NULL, pruned, err);
}

int rep_optout_sync_once(rep_optout *o, long long *added, mf_err *err)
{
    long long numbers = 0, got = 0, skipped = 0;
    int pages = 0, rc;

    if (added != NULL)
        *added = 0;
    if (o->api == NULL)
        return 1; /* the sync is off */
    if (mf_pg_ensure(o->pg, err) != 0 || mf_pg_begin(o->pg, err) != 0)
        return -1;
    rc = due(o, err);
    if (rc <= 0) {
        mf_pg_rollback(o->pg);
        return rc < 0 ? -1 : 1;
    }
    if (read_pages(o, &numbers, &got, &skipped, &pages, err) != 0 ||
        finish_sync(o, numbers, got, pages, err) != 0 || mf_pg_commit(o->pg, err) != 0) {
        mf_pg_rollback(o->pg);
        return -1;
    }
    MF_LOG(o->log, MF_LOG_INFO, "080 opt-out list synced", MF_KV_I("numbers", numbers),
           MF_KV_I("added", got), MF_KV_I("skipped", skipped), MF_KV_I("pages", pages));
    if (added != NULL)
        *added = got;
    return 0;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Prunes the ledger when PRUNE_EVERY_MS passed since the last prune (*last_ms). */
static void prune_tick(rep_optout *o, int64_t *last_ms)
{
    int64_t now = mf_clock_mono_ms();
    long long n = 0;
    mf_err e;

    if (*last_ms != 0 && now - *last_ms < PRUNE_EVERY_MS)
        return;
    *last_ms = now;
    mf_err_clear(&e);
    if (rep_optout_prune(o, &n, &e) != 0)
        MF_LOG(o->log, MF_LOG_WARN, "advertising ledger prune failed", MF_KV_S("error", e.msg));
    else if (n > 0)
        MF_LOG(o->log, MF_LOG_INFO, "advertising ledger pruned", MF_KV_I("rows", n));
}

static void *loop(void *arg)
{
    rep_optout *o = arg;
    long long check = o->cfg->optout_sync_ms > 0 && o->cfg->optout_sync_ms < SYNC_CHECK_MS
                          ? o->cfg->optout_sync_ms
                          : SYNC_CHECK_MS;
    int64_t pruned_ms = 0;

    while (!o->stop && !mf_daemon_stopping()) {
        mf_err e;
        long long wait = check;

        mf_err_clear(&e);
        if (rep_optout_sync_once(o, NULL, &e) < 0) {
            MF_LOG(o->log, MF_LOG_WARN, "080 opt-out list sync failed", MF_KV_S("error", e.msg));
            wait = SYNC_RETRY_MS; /* the provider or PostgreSQL is down: not every 5 s */
        }
        prune_tick(o, &pruned_ms);
        for (int64_t end = mf_clock_mono_ms() + wait;
             mf_clock_mono_ms() < end && !o->stop && !mf_daemon_stopping();)
            sleep_ms(50);
    }
    return NULL;
}

int rep_optout_start(rep_optout *o, mf_err *err)
{
    if (pthread_create(&o->thread, NULL, loop, o) != 0)
        return mf_err_set(err, "could not start the opt-out sync thread");
    o->running = 1;
    return 0;
}

void rep_optout_free(rep_optout *o)
{
    if (o == NULL)
        return;
    if (o->running) {
        o->stop = 1;
        pthread_join(o->thread, NULL);
    }
    mf_coolsms_destroy(o->api);
    if (o->pg != NULL)
        PQfinish(o->pg);
    mf_pgarr_free(&o->numbers);
    free(o);
}

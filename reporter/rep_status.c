/* rep_status: the final-status poller: asks the list API about sent messages, emits results. */
#include "rep_status.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_clock.h"
#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_daemon.h"
#include "mf_kafka.h"
#include "mf_pg.h"
#include "mf_uuid.h"
#include "rep_final.h"

/*
 * One poller at a time walks the provider groups the senders record with their claims
 * (mf_claim_groups: group -> job ids, migration 0008) that still hold a message without its
 * final status (final_at IS NULL, migration 0016), in id order; the row of mf_status_poller
 * holds its lease and position. The jobs of a group are read by primary key
 * (message_logs.id is the job id), so message_logs carries no index of its own for the poller
 * and nothing is written to it to mark a row as checked. Each step narrows a group to its jobs
 * not final yet (open_job_ids) and closes it (final_at) once none is left; a group still
 * holding a `sent` message, or a job whose row is not there yet, is read again on the next
 * sweep, which starts once the current one reached the end and began
 * MF_REPORTER_STATUS_RECHECK_MS ago.
 */

/* Whether a run is still being recorded (the poller then waits its turn, wait_turn). */
/* clang-format off */
static const char RUNNING_SQL[] =
    "SELECT EXISTS (SELECT 1 FROM workflow_runs WHERE status = 'running')";

/* Takes or renews the lease; returns the cursor, whether a sweep is under way, and whether a
 * new one may start. No row: another poller holds the lease. */
static const char LEASE_SQL[] =
    "UPDATE mf_status_poller"
    " SET owner = $1, lease_until = now() + make_interval(secs => $2::bigint / 1000.0)"
    " WHERE id = 1 AND (owner IS NULL OR owner = $1 OR lease_until < now())"
    " RETURNING COALESCE(cursor_group, 0)::text,"
    "  cursor_group IS NOT NULL,"
    "  sweep_started_at IS NULL"
    "   OR sweep_started_at < now() - make_interval(secs => $3::bigint / 1000.0)";

/* One step: the next open groups after the cursor, created before the due line d (below;
 * their messages were sent after that), in id order: as many as hold $3 open jobs, at least
 * one, at most 50 (each job array read is a detoast: groups hold up to 10,000 jobs). Their
 * open jobs (open_job_ids, or all of job_ids until a step narrowed them) are read by primary
 * key. In the
 * same statement each group keeps only the jobs that are not final yet (no row, or still
 * `sent`: a final row never becomes `sent` again), and a group without any gets final_at, so
 * later sweeps read only what is left. One row per open job: its row (REP_FINAL_COLS, NULL
 * when the reporters have not written it yet), its group, and whether it is due for a check;
 * one row of NULLs when no job is open. The due line: the delay before now, or, while the
 * reporters have applied delivery reports within $4 ms, before the send time of the latest
 * message they reached in the slowest of those partitions (mf_consumer_offsets, migration
 * 0019), but at most $5 ms before now: a message sent after that line has its report still
 * on the results topic or with the provider, not lost. $1 cursor, $2 delay ms, $3 batch, $4
 * and $5 ms. */
static const char STEP_SQL[] =
    "WITH f AS ("
    "  SELECT min(reports_sent_upto) AS upto FROM mf_consumer_offsets"
    "  WHERE reports_at > now() - make_interval(secs => $4::bigint / 1000.0)),"
    " d AS ("
    "  SELECT CASE WHEN upto IS NOT NULL"
    "   THEN GREATEST(LEAST(upto, now()), now() - make_interval(secs => $5::bigint / 1000.0))"
    "   ELSE now() END"
    "   - make_interval(secs => $2::bigint / 1000.0) AS due_before"
    "  FROM f),"
    " g AS ("
    "  SELECT id, jobs, cardinality(jobs) AS n, sum(cardinality(jobs)) OVER (ORDER BY id) AS upto"
    "  FROM (SELECT id, coalesce(open_job_ids, job_ids) AS jobs FROM mf_claim_groups"
    "        WHERE final_at IS NULL AND id > $1::bigint"
    "          AND created_at < (SELECT due_before FROM d)"
    "        ORDER BY id LIMIT LEAST($3::int, 50)) x),"
    " j AS MATERIALIZED ("
    "  SELECT g.id AS gid, g.n, u.job_id, m.id IS NOT NULL AND m.status <> 'sent' AS final"
    "  FROM g CROSS JOIN LATERAL unnest(g.jobs) AS u(job_id)"
    "   LEFT JOIN message_logs m ON m.id = u.job_id"
    "  WHERE g.upto - g.n < $3::int),"
    " o AS ("
    "  SELECT gid, array_agg(job_id) FILTER (WHERE NOT final) AS open"
    "  FROM j GROUP BY gid, n HAVING count(*) FILTER (WHERE NOT final) < n),"
    " narrowed AS ("
    "  UPDATE mf_claim_groups c SET open_job_ids = o.open,"
    "   final_at = CASE WHEN o.open IS NULL THEN now() END"
    "  FROM o WHERE c.id = o.gid)"
    " SELECT x.*, l.last, l.jobs"
    " FROM (SELECT max(gid) AS last, count(*) AS jobs FROM j) l"
    " LEFT JOIN LATERAL ("
    "  SELECT " REP_FINAL_COLS ", j.gid,"
    "   m.status = 'sent' AND m.provider_message_id IS NOT NULL"
    "    AND m.sent_at < (SELECT due_before FROM d) AS due"
    "  FROM j LEFT JOIN message_logs m ON m.id = j.job_id"
    "   LEFT JOIN workflow_runs r ON r.id = m.workflow_run_id"
    "  WHERE NOT j.final) x ON true"
    " ORDER BY x.gid";
/* clang-format on */

/* STEP_SQL's columns after REP_FINAL_COLS: the open job's group (NULL in the one row of a
 * step whose jobs are all final), whether it is due, and in every row the last group read
 * (NULL: none) and the number of jobs read. */
enum { STEP_GROUP = REP_FINAL_NCOLS, STEP_DUE, STEP_LAST, STEP_JOBS };

/* Moves the cursor past the last group read; a new sweep starts its clock with its first
 * step. */
/* clang-format off */
static const char ADVANCE_SQL[] =
    "UPDATE mf_status_poller"
    " SET cursor_group = $2::bigint,"
    "  sweep_started_at = CASE WHEN cursor_group IS NULL THEN now() ELSE sweep_started_at END,"
    "  updated_at = now()"
    " WHERE id = 1 AND owner = $1";

static const char WRAP_SQL[] =
    "UPDATE mf_status_poller SET cursor_group = NULL, updated_at = now()"
    " WHERE id = 1 AND owner = $1";

static const char RELEASE_SQL[] =
    "UPDATE mf_status_poller SET owner = NULL, lease_until = NULL, updated_at = now()"
    " WHERE id = 1 AND owner = $1";
/* clang-format on */

/* A lease outlives a stalled poll step (list API timeouts, a Kafka flush) by a wide margin; a
 * poller that stops gives it back at once. */
enum { LEASE_MS = 60000, STANDBY_WAIT_MS = 2000 };

/* A partition of the results topic counts while the reporters applied a delivery report from
 * it within REPORTS_QUIET_MS; when none did, the poller goes by the clock again (a campaign's
 * reports come several times a second). Reports further behind the clock than
 * REPORTS_BEHIND_MAX_MS are not waited for: a stray old report must not hold back the
 * polling of today's messages for long. */
enum { REPORTS_QUIET_MS = 60000, REPORTS_BEHIND_MAX_MS = 3600000 };

struct rep_status {
    const reporter_config *cfg;
    mf_log *log;
    PGconn *pg;
    mf_kafka_producer *prod;
    mf_coolsms *api;
    char topic[MF_KAFKA_TOPIC_MAX + 1];
    msgpack_sbuffer sbuf;
    long long dr_failed;
    char dr_error[256];
    pthread_t thread;
    int running;
    int api_failed; /* the last poll failed in the list API call (not in PostgreSQL/Kafka) */
    mf_metric *m_polls;
    mf_metric *m_finals;
    mf_httpd *httpd;
    atomic_int stop;      /* set by the owner before join, read by the thread */
    atomic_llong backlog; /* results not yet consumed, set by the consumer loop */
    atomic_llong rate;    /* results the consumer recorded per second lately */
};

static void on_dr(void *ctx, const mf_kafka_dr *dr)
{
    rep_status *s = ctx;

    if (!dr->ok) {
        s->dr_failed++;
        snprintf(s->dr_error, sizeof(s->dr_error), "%s", dr->error ? dr->error : "unknown");
    }
}

rep_status *rep_status_new(const reporter_config *cfg, const char *results_topic, mf_log *log,
                           mf_err *err)
{
    rep_status *s = calloc(1, sizeof(*s));
    mf_kafka_conf kc = {0};
    mf_coolsms_config cc = {0};

    if (s == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->log = log;
    msgpack_sbuffer_init(&s->sbuf);
    snprintf(s->topic, sizeof(s->topic), "%s", results_topic);
    kc.brokers = cfg->common.kafka_brokers;
    kc.client_id = cfg->common.instance_id;
    kc.log = log;
    kc.security = &cfg->common.kafka_sec;
    cc.base_url = cfg->coolsms_base_url;
    cc.api_key = cfg->coolsms_api_key;
    cc.api_secret = cfg->coolsms_api_secret;
    cc.request_timeout_ms = (long)cfg->coolsms_timeout_ms;
    cc.max_in_flight = 1;
    s->pg = mf_pg_connect(cfg->common.pg_dsn, NULL, "msgfleet-reporter-status", err);
    if (s->pg == NULL || (s->prod = mf_kafka_producer_new(&kc, on_dr, s, err)) == NULL ||
        (s->api = mf_coolsms_new(&cc, err)) == NULL) {
        rep_status_free(s);
        return NULL;
    }
    return s;
}


/* Produce the final result of row `row` for the listed status. */
static int emit(rep_status *s, const PGresult *q, int row, const mf_coolsms_listed *it, mf_err *err)
{
    rep_final_report rep;

    memset(&rep, 0, sizeof(rep));
    rep.message_id = it->message_id;
    rep.to = it->to;
    rep.status_code = it->status_code;
    rep.status_message = it->status_message;
    rep.date_received = it->date_received;
    rep.date_processed = it->date_processed;
    return rep_final_produce(s->prod, s->topic, &s->sbuf, q, row, &rep, NULL, err);
}

/* Message ids per list request: each is a `messageIds=` query parameter, and a URL of a few
 * hundred of them (over 20 KB) is refused or dropped by HTTP servers. */
#define IDS_PER_REQUEST 100

/* Ask the list API about rows rows[0..n-1] of q (messageIds, paged) and emit the final ones. */
static int ask_chunk(rep_status *s, const PGresult *q, const int *rows, int n, int *produced,
                     mf_err *err)
{
    int i, rc = -1;
    mf_coolsms_kv *f = calloc((size_t)n + 2, sizeof(*f));
    char limit[16], start[128] = "";
    mf_coolsms_list_result lr;

    memset(&lr, 0, sizeof(lr));
    if (f == NULL)
        return mf_err_set(err, "out of memory");
    for (i = 0; i < n; i++) {
        f[i].key = "messageIds";
        f[i].value = PQgetvalue(q, rows[i], REP_FINAL_PMID);
    }
    snprintf(limit, sizeof(limit), "%d", n > 500 ? 500 : n);
    f[n].key = "limit";
    f[n].value = limit;
    for (;;) {
        size_t nf = (size_t)n + 1, j;

        if (start[0] != '\0') {
            f[n + 1].key = "startKey";
            f[n + 1].value = start;
            nf++;
        }
        mf_coolsms_list_result_free(&lr);
        if (mf_coolsms_list(s->api, f, nf, &lr, err) != 0) {
            s->api_failed = 1;
            goto out;
        }
        mf_httpd_set_dep(s->httpd, "coolsms", 1, NULL);
        for (j = 0; j < lr.n_items; j++) {
            const mf_coolsms_listed *it = &lr.items[j];

            if (!rep_final_is_final(it->status_code))
                continue;
            for (i = 0; i < n; i++) {
                if (strcmp(PQgetvalue(q, rows[i], REP_FINAL_PMID), it->message_id) != 0)
                    continue;
                if (emit(s, q, rows[i], it, err) != 0)
                    goto out;
                (*produced)++;
                break;
            }
        }
        if (lr.next_key[0] == '\0' || strcmp(lr.next_key, start) == 0)
            break;
        snprintf(start, sizeof(start), "%s", lr.next_key);
    }
    rc = 0;
out:
    mf_coolsms_list_result_free(&lr);
    free(f);
    return rc;
}

/* Ask about the rows rows[0..n-1] of q, IDS_PER_REQUEST at a time. */
static int ask(rep_status *s, const PGresult *q, const int *rows, int n, int *produced, mf_err *err)
{
    for (int first = 0; first < n; first += IDS_PER_REQUEST) {
        int m = n - first < IDS_PER_REQUEST ? n - first : IDS_PER_REQUEST;

        if (ask_chunk(s, q, rows + first, m, produced, err) != 0)
            return -1;
    }
    return 0;
}

/* One poll step's reading: the open jobs of the groups after the cursor. */
typedef struct poll_step {
    PGresult *q; /* STEP_SQL rows */
    int *due;    /* rows of q due for a check */
    int n_due;
    const char *last; /* the last group read; NULL: none */
    long long jobs;   /* jobs read in those groups, final or not */
} poll_step;

static void step_free(poll_step *st)
{
    PQclear(st->q);
    free(st->due);
    memset(st, 0, sizeof(*st));
}

/* Lists the rows due for a check and reads the step's position. */
static int sort_rows(poll_step *st, mf_err *err)
{
    int n = PQntuples(st->q);

    if ((st->due = calloc((size_t)n + 1, sizeof(*st->due))) == NULL)
        return mf_err_set(err, "out of memory");
    for (int i = 0; i < n; i++)
        if (PQgetvalue(st->q, i, STEP_DUE)[0] == 't')
            st->due[st->n_due++] = i;
    if (n > 0 && !PQgetisnull(st->q, 0, STEP_LAST)) {
        st->last = PQgetvalue(st->q, 0, STEP_LAST);
        st->jobs = strtoll(PQgetvalue(st->q, 0, STEP_JOBS), NULL, 10);
    }
    return 0;
}

/* Takes (or renews) the lease and reads the jobs of the next groups after the cursor, in one
 * transaction. 0 with *st filled, 1 when another poller holds
 * the lease, -1 with err. */
static int lease_and_read(rep_status *s, poll_step *st, int *may_wrap, mf_err *err)
{
    char lease[32], recheck[32], delay[32], batch[32], quiet[32], behind[32];
    const char *lp[3] = {s->cfg->common.instance_id, lease, recheck};
    PGresult *l = NULL;
    int rc = -1, held;

    *may_wrap = 0;
    snprintf(lease, sizeof(lease), "%d", LEASE_MS);
    snprintf(recheck, sizeof(recheck), "%lld", s->cfg->status_recheck_ms);
    /* with the webhook receiver on, reports normally arrive within seconds: poll only what
     * has waited long enough for one to have been lost */
    snprintf(delay, sizeof(delay), "%lld",
             s->cfg->webhook_enabled ? s->cfg->status_poll_after_ms : s->cfg->status_delay_ms);
    snprintf(batch, sizeof(batch), "%lld", s->cfg->status_batch);
    snprintf(quiet, sizeof(quiet), "%d", REPORTS_QUIET_MS);
    snprintf(behind, sizeof(behind), "%d", REPORTS_BEHIND_MAX_MS);
    if (mf_pg_begin(s->pg, err) != 0)
        return -1;
    if ((l = mf_pg_query(s->pg, LEASE_SQL, 3, lp, err)) == NULL)
        goto out;
    held = PQntuples(l) == 1;
    if (held) {
        const char *gp[5] = {PQgetvalue(l, 0, 0), delay, batch, quiet, behind};

        *may_wrap = PQgetvalue(l, 0, 1)[0] == 't' && PQgetvalue(l, 0, 2)[0] == 't';
        if ((st->q = mf_pg_query(s->pg, STEP_SQL, 5, gp, err)) == NULL || sort_rows(st, err) != 0)
            goto out;
    }
    if (mf_pg_commit(s->pg, err) != 0)
        goto out;
    rc = held ? 0 : 1;
out:
    PQclear(l);
    if (rc < 0)
        mf_pg_rollback(s->pg);
    return rc;
}

int rep_status_poll_once(rep_status *s, int *checked, int *produced, mf_err *err)
{
    const char *me = s->cfg->common.instance_id;
    poll_step st;
    int got = 0, rc, may_wrap;

    if (checked != NULL)
        *checked = 0;
    if (produced != NULL)
        *produced = 0;
    s->api_failed = 0;
    if (mf_pg_ensure(s->pg, err) != 0)
        return -1;
    memset(&st, 0, sizeof(st));
    rc = lease_and_read(s, &st, &may_wrap, err);
    if (rc != 0) {
        step_free(&st);
        return rc < 0 ? mf_err_prefix(err, "could not read sent messages due for a status check")
                      : 1;
    }
    if (checked != NULL)
        *checked = st.jobs > INT_MAX ? INT_MAX : (int)st.jobs;
    if (st.last == NULL) {
        step_free(&st);
        if (may_wrap && mf_pg_command(s->pg, WRAP_SQL, 1, &me, NULL, err) != 0)
            return mf_err_prefix(err, "could not start a new status sweep");
        return 0;
    }
    rc = -1;
    s->dr_failed = 0;
    if (ask(s, st.q, st.due, st.n_due, &got, err) != 0)
        goto out;
    if (got > 0 && mf_kafka_flush(s->prod, 60000, err) != 0)
        goto out;
    if (s->dr_failed > 0) {
        mf_err_set(err, "%lld status results not acknowledged: %s", s->dr_failed, s->dr_error);
        goto out;
    }
    /* only now: a failed step is asked again from the same position */
    {
        const char *ap[2] = {me, st.last};

        if (mf_pg_command(s->pg, ADVANCE_SQL, 2, ap, NULL, err) != 0) {
            mf_err_prefix(err, "could not store the status sweep position");
            goto out;
        }
    }
    rc = 0;
out:
    if (produced != NULL)
        *produced = got;
    step_free(&st);
    return rc;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Whether a campaign is being recorded: a run still 'running' (seed index on status). */
static int run_in_progress(rep_status *s)
{
    PGresult *res;
    int yes = 0;
    mf_err e;

    mf_err_clear(&e);
    if (mf_pg_ensure(s->pg, &e) != 0)
        return 0; /* the poll itself reports the error */
    res = mf_pg_query(s->pg, RUNNING_SQL, 0, NULL, &e);
    if (res != NULL) {
        yes = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    return yes;
}

/* First outcomes come first: every status update rewrites a message_logs row and its
 * indexes, so while a campaign is being recorded the poller waits its turn. Busy: this
 * reporter's results queue up (lag) or pour in (rate), or a run is still in progress (the
 * group-wide view: another reporter may still be busy while this one is drained). Going by
 * this reporter's lag alone, the poller polled through the first seconds of a campaign while
 * the reporters still kept up: 12,900 status updates in the first 4 s of a 1 M run, all
 * competing with it. The wait is bounded: once a busy spell has lasted status_max_defer_ms,
 * polling goes on as usual until the spell ends, so steady traffic delays final statuses by
 * that much and never starves them. *since: start of the current busy spell (0: none). */
static int wait_turn(rep_status *s, long long *since)
{
    long long now = mf_clock_mono_ms();
    int busy = atomic_load(&s->backlog) > s->cfg->status_max_lag ||
               (s->cfg->status_busy_rate > 0 && atomic_load(&s->rate) > s->cfg->status_busy_rate);

    /* asked also after the bound: only the end of the spell resets it, else every poll past
     * the bound would start a new 60 s wait */
    if (!busy)
        busy = run_in_progress(s);
    if (!busy) {
        *since = 0;
        return 0;
    }
    if (*since == 0)
        *since = now;
    return now - *since < s->cfg->status_max_defer_ms;
}

static void *loop(void *arg)
{
    rep_status *s = arg;
    long long deferred_since = 0;

    while (!s->stop && !mf_daemon_stopping()) {
        int checked = 0, produced = 0, rc;
        long long wait = s->cfg->status_interval_ms;
        mf_err e;

        mf_err_clear(&e);
        if (wait_turn(s, &deferred_since)) {
            mf_metric_add(s->m_polls, (const char *const[]){"deferred"}, 1);
        } else if ((rc = rep_status_poll_once(s, &checked, &produced, &e)) < 0) {
            MF_LOG(s->log, MF_LOG_WARN, "status poll failed", MF_KV_S("error", e.msg));
            mf_metric_add(s->m_polls, (const char *const[]){"error"}, 1);
            if (s->api_failed)
                mf_httpd_set_dep(s->httpd, "coolsms", 0, e.msg);
            wait = wait * 4 > 5000 ? wait * 4 : 5000;
        } else if (rc == 1) {
            /* another reporter's poller holds the lease: look again now and then */
            mf_metric_add(s->m_polls, (const char *const[]){"standby"}, 1);
            wait = wait > STANDBY_WAIT_MS ? wait : STANDBY_WAIT_MS;
        } else if (checked == 0) {
            mf_metric_add(s->m_polls, (const char *const[]){"idle"}, 1);
        } else {
            mf_metric_add(s->m_polls, (const char *const[]){"ok"}, 1);
            mf_metric_add(s->m_finals, NULL, produced);
            MF_LOG(s->log, MF_LOG_DEBUG, "status poll", MF_KV_I("checked", checked),
                   MF_KV_I("final", produced));
            if (checked >= s->cfg->status_batch)
                wait = 0;
        }
        /* until a monotonic deadline: a counted sleep drifts by each step's overshoot */
        for (int64_t until = mf_clock_mono_ms() + wait;
             !s->stop && !mf_daemon_stopping() && mf_clock_mono_ms() < until;) {
            int64_t left = until - mf_clock_mono_ms();
            sleep_ms(left > 50 ? 50 : left);
        }
    }
    return NULL;
}

void rep_status_set_backlog(rep_status *s, long long lag)
{
    if (s != NULL)
        atomic_store(&s->backlog, lag);
}

void rep_status_set_rate(rep_status *s, long long per_s)
{
    if (s != NULL)
        atomic_store(&s->rate, per_s);
}

void rep_status_observe(rep_status *s, mf_metric *polls, mf_metric *finals, mf_httpd *httpd)
{
    s->m_polls = polls;
    s->m_finals = finals;
    s->httpd = httpd;
}

int rep_status_start(rep_status *s, mf_err *err)
{
    if (pthread_create(&s->thread, NULL, loop, s) != 0)
        return mf_err_set(err, "could not start the status poller thread");
    s->running = 1;
    return 0;
}

void rep_status_free(rep_status *s)
{
    mf_err e;

    if (s == NULL)
        return;
    if (s->running) {
        s->stop = 1;
        pthread_join(s->thread, NULL);
    }
    if (s->prod != NULL && mf_kafka_flush(s->prod, 5000, &e) != 0 && s->log != NULL)
        mf_log_msgf(s->log, MF_LOG_WARN, "status producer not flushed: %s", e.msg);
    if (s->running && s->pg != NULL && PQstatus(s->pg) == CONNECTION_OK) {
        const char *me = s->cfg->common.instance_id;

        /* hand the lease over at once (best effort: it expires anyway) */
        (void)mf_pg_command(s->pg, RELEASE_SQL, 1, &me, NULL, &e);
    }
    mf_kafka_producer_free(s->prod);
    mf_coolsms_destroy(s->api);
    if (s->pg != NULL)
        PQfinish(s->pg);
    msgpack_sbuffer_destroy(&s->sbuf);
    free(s);
}

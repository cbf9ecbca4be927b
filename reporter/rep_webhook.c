/* rep_webhook: the delivery-report receiver: SOLAPI's single-report POSTs become results. */
#include "rep_webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mf_buf.h"
#include "mf_clock.h"
#include "mf_euckr.h"
#include "mf_kafka.h"
#include "mf_pg.h"
#include "mf_pgarr.h"
#include "mf_uuid.h"
#include "rep_final.h"
#include "rep_report.h"

/* The rows of a request's jobs: one query per request, by primary key. */
/* clang-format off */
static const char ROWS_SQL[] =
    "SELECT " REP_FINAL_COLS ", m.message_content"
    " FROM message_logs m JOIN workflow_runs r ON r.id = m.workflow_run_id"
    " WHERE m.id = ANY($1::uuid[])";
/* clang-format on */

enum { COL_CONTENT = REP_FINAL_NCOLS };

/* The runs named by reports produced without their row that the receiver has not seen yet:
 * one query per request that has any. */
/* clang-format off */
static const char RUNS_SQL[] =
    "SELECT id, workflow_id FROM workflow_runs WHERE id = ANY($1::uuid[])";
/* clang-format on */

/* Endpoints (the path label of requests_total). */
enum { KIND_NONE, KIND_SINGLE, KIND_GROUP, KIND_N };
static const char *const KIND_NAMES[KIND_N] = {"other", "single-report", "group-report"};

/* What became of one report (the status label of reports_total). */
enum {
    RS_DELIVERED,   /* a delivered result was produced */
    RS_UNDELIVERED, /* an undelivered result was produced */
    RS_PENDING,     /* 2000 / 3000: not final yet, nothing to do */
    RS_DUPLICATE,   /* the row is final already (a report sent again) */
    RS_STALE,       /* about another message of the job than the one recorded */
    RS_UNKNOWN,     /* no jobId, not a job id, no row and no existing run, another run's */
    RS_INVALID,     /* not an object, or no messageId / statusCode */
    RS_EARLY,       /* looked up, no row yet, an existing run: produced, waits for its row */
    RS_N
};
static const char *const RS_NAMES[RS_N] = {"delivered", "undelivered", "pending", "duplicate",
                                           "stale",     "unknown",     "invalid", "early"};

/* item.status while its row is to be looked up; while it is to be produced without the row,
 * its run known (ST_RUN_LOOKUP) or still to be read (ST_RUN_READ). */
enum { ST_LOOKUP = -1, ST_RUN_LOOKUP = -2, ST_RUN_READ = -3 };

/* Runs known to exist, with their workflow: a report produced without its row names its run,
 * and a campaign's reports name the same few runs. An entry is trusted for
 * MF_REPORTER_WEBHOOK_RUN_TTL_MS (a minute), then read again: a run deleted meanwhile (its
 * rows go with it) makes its reports `unknown` again within that time instead of results the
 * batch writer would dead-letter. The oldest entry is replaced when the table is full. */
enum { RUN_CACHE = 64 };
typedef struct run_entry {
    char id[MF_UUID_STR_SIZE];
    char wf[MF_UUID_STR_SIZE]; /* "": no workflow */
    long long seen_ms;         /* monotonic: when it was read */
} run_entry;

/* Delivery acknowledgements of one request's results. The request and each message it
 * produced hold a reference: a message still in flight when the request gave up (503) is
 * reported later into a tracker that still exists. */
typedef struct acks {
    atomic_int refs;
    atomic_int pending;
    atomic_int failed;
} acks;

/* One connection's request while its body arrives. */
typedef struct req {
    int kind;
    int too_big;
    mf_buf body;
} req;

/* One report of a single-report body: what it says (in its rep_report) and what became of it. */
typedef struct item {
    const rep_report_fields *f;
    char job[MF_UUID_STR_SIZE];
    char run_id[MF_UUID_STR_SIZE]; /* runId as a uuid, "" when it is none */
    char wf[MF_UUID_STR_SIZE];     /* the run's workflow once known, "" for none */
    int looked_up;                 /* its row was looked up (and not found) */
    int status;                    /* RS_*, or ST_LOOKUP / ST_RUN_LOOKUP */
} item;

/* A looked-up row by job id (sorted for bsearch). */
typedef struct row_ref {
    const char *id;
    int row;
} row_ref;

struct rep_webhook {
    const reporter_config *cfg;
    mf_log *log;
    char topic[MF_KAFKA_TOPIC_MAX + 1];
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t lock; /* pg, euckr and runs: the request threads take turns */
    PGconn *pg;           /* connected at the first request that needs it */
    mf_euckr *euckr;
    run_entry runs[RUN_CACHE];
    size_t nruns, next_run; /* entries used; the one replaced next when full */
    mf_kafka_producer *prod;
    mf_metric *m_requests; /* {path, outcome} */
    mf_metric *m_reports;  /* {status} */
    mf_metric *m_groups;
    mf_metric *m_old_token;
    mf_metric *m_seconds; /* {part}: single-report requests, whole and the Kafka wait */
};

static void acks_release(acks *a)
{
    if (a != NULL && atomic_fetch_sub(&a->refs, 1) == 1)
        free(a);
}

/* Delivery reports come from mf_kafka_poll on whichever request thread polls. */
static void on_dr(void *ctx, const mf_kafka_dr *dr)
{
    acks *a = dr->opaque;

    (void)ctx;
    if (a == NULL)
        return;
    if (!dr->ok)
        atomic_fetch_add(&a->failed, 1);
    atomic_fetch_sub(&a->pending, 1);
    acks_release(a);
}

/* ---- routing -------------------------------------------------------------------------- */

/* Whether n bytes at s equal the secret, in time that depends on neither's content. An empty
 * secret (no old token) matches nothing. */
static int same_secret(const char *secret, const char *s, size_t n)
{
    size_t len = strlen(secret);
    unsigned char d = (unsigned char)(len != n);

    for (size_t i = 0; i < len; i++)
        d |= (unsigned char)(secret[i] ^ (i < n ? s[i] : 0));
    return len > 0 && d == 0;
}

/* The endpoint url names: /<token>/single-report or /<token>/group-report; KIND_NONE for
 * anything else, a wrong token included. Both tokens are always compared; *old: the old one
 * matched. */
static int route(const rep_webhook *w, const char *url, int *old)
{
    const char *slash;
    size_t n;
    int ok;

    if (url[0] != '/')
        return KIND_NONE;
    url++;
    slash = strchr(url, '/');
    if (slash == NULL)
        return KIND_NONE;
    n = (size_t)(slash - url);
    ok = same_secret(w->cfg->webhook_token, url, n);
    *old = same_secret(w->cfg->webhook_token_old, url, n);
    ok |= *old;
    if (!ok)
        return KIND_NONE;
    if (strcmp(slash + 1, "single-report") == 0)
        return KIND_SINGLE;
    if (strcmp(slash + 1, "group-report") == 0)
        return KIND_GROUP;
    return KIND_NONE;
}

static enum MHD_Result answer(rep_webhook *w, struct MHD_Connection *conn, int kind,
                              unsigned status, const char *outcome, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    mf_metric_add(w->m_requests, (const char *const[]){KIND_NAMES[kind], outcome}, 1);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- single-report -------------------------------------------------------------------- */

/* Whether a report needs its message's row: one without a runId (its run is the row's), and
 * an alimtalk's fallback report that does not name SMS or LMS (the text decides which). Every
 * other report becomes a result without reading anything: the batch writer's update checks
 * the rest against the row. */
static int needs_row(const rep_report_fields *f, const char *run_id)
{
    mf_msg_type t = rep_final_channel_of(f->type);

    return run_id[0] == '\0' || (f->replacement && t != MF_TYPE_SMS && t != MF_TYPE_LMS);
}

/* What one report says, and what it needs looked up. */
static void parse_item(const rep_report_fields *f, item *it)
{
    mf_uuid u;

    memset(it, 0, sizeof(*it));
    it->f = f;
    it->status = RS_INVALID;
    if (!f->is_object || f->message_id == NULL || f->message_id[0] == '\0' ||
        f->status_code[0] == '\0')
        return;
    if (!rep_final_is_final(f->status_code)) {
        it->status = RS_PENDING;
        return;
    }
    it->status = RS_UNKNOWN;
    if (f->job_id == NULL || mf_uuid_parse(f->job_id, &u, NULL) != 0)
        return;
    mf_uuid_format(&u, it->job);
    if (f->run_id != NULL && mf_uuid_parse(f->run_id, &u, NULL) == 0)
        mf_uuid_format(&u, it->run_id);
    it->status = needs_row(f, it->run_id) ? ST_LOOKUP : ST_RUN_LOOKUP;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const row_ref *)a)->id, ((const row_ref *)b)->id);
}

/* The rows of sql ($1: ids, a uuid[] literal), in one query. */
static int lookup(rep_webhook *w, const char *sql, mf_pgarr *ids, PGresult **q, mf_err *err)
{
    const char *p[1];
    int rc = -1;

    if ((p[0] = mf_pgarr_finish(ids, err)) == NULL)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->pg == NULL)
        w->pg = mf_pg_connect(w->cfg->common.pg_dsn, NULL, "msgfleet-reporter-webhook", err);
    if (w->pg != NULL && mf_pg_ensure(w->pg, err) == 0 &&
        (*q = mf_pg_query(w->pg, sql, 1, p, err)) != NULL)
        rc = 0;
    pthread_mutex_unlock(&w->lock);
    if (rc != 0)
        mf_err_prefix(err, "could not read the reported messages");
    return rc;
}

/* What carried a message whose report says `replacement`: an alimtalk the provider fell back
 * to SMS/LMS for. The report's type when it names SMS or LMS, else what the provider picks
 * for the text (its EUC-KR length). MF_TYPE_NONE (the row's channel) for anything else. */
static mf_msg_type carried_by(rep_webhook *w, const PGresult *q, int row, const item *it)
{
    mf_msg_type t = rep_final_channel_of(it->f->type);
    const char *text = PQgetvalue(q, row, COL_CONTENT);
    mf_euckr_kind kind = MF_EUCKR_KIND_LMS;
    mf_err e;

    if (!it->f->replacement || strcmp(PQgetvalue(q, row, REP_FINAL_TYPE), "kakao") != 0)
        return MF_TYPE_NONE;
    if (t == MF_TYPE_SMS || t == MF_TYPE_LMS)
        return t;
    pthread_mutex_lock(&w->lock);
    if (mf_euckr_decide(w->euckr, text, strlen(text), NULL, 0, &kind, NULL, NULL, &e) != 0)
        kind = MF_EUCKR_KIND_LMS;
    pthread_mutex_unlock(&w->lock);
    return kind == MF_EUCKR_KIND_SMS ? MF_TYPE_SMS : MF_TYPE_LMS;
}

static void report_of(const item *it, rep_final_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rep->message_id = it->f->message_id;
    rep->to = it->f->to;
    rep->status_code = it->f->status_code;
    rep->status_message = it->f->status_message;
    rep->date_received = it->f->date_received;
    rep->date_reported = it->f->date_reported;
    rep->date_processed = it->f->date_processed;
    rep->date_created = it->f->date_created;
    rep->via_webhook = 1;
}

/* Decide item it against its row (or none), producing its result when it has one. */
static int produce_item(rep_webhook *w, const PGresult *q, const row_ref *refs, size_t nrefs,
                        item *it, acks *a, msgpack_sbuffer *sb, mf_err *err)
{
    row_ref key = {it->job, 0};
    const row_ref *hit = bsearch(&key, refs, nrefs, sizeof(*refs), cmp_ref);
    rep_final_report rep;
    int row;

    if (hit == NULL) {
        /* no row yet: a fleet job's report that overtook its `accepted` if the run exists */
        it->status = it->run_id[0] != '\0' ? ST_RUN_LOOKUP : RS_UNKNOWN;
        it->looked_up = 1;
        return 0;
    }
    row = hit->row;
    if (it->f->run_id != NULL && strcmp(it->f->run_id, PQgetvalue(q, row, REP_FINAL_RUN)) != 0) {
        it->status = RS_UNKNOWN;
        return 0;
    }
    if (!PQgetisnull(q, row, REP_FINAL_PMID) &&
        strcmp(PQgetvalue(q, row, REP_FINAL_PMID), it->f->message_id) != 0) {
        it->status = RS_STALE;
        return 0;
    }
    if (strcmp(PQgetvalue(q, row, REP_FINAL_STATUS), "sent") != 0) {
        it->status = RS_DUPLICATE;
        return 0;
    }
    report_of(it, &rep);
    rep.channel = carried_by(w, q, row, it);
    atomic_fetch_add(&a->refs, 1);
    atomic_fetch_add(&a->pending, 1);
    if (rep_final_produce(w->prod, w->topic, sb, q, row, &rep, a, err) != 0) {
        atomic_fetch_sub(&a->pending, 1);
        atomic_fetch_sub(&a->refs, 1); /* the request's own reference keeps it above 0 */
        return -1;
    }
    it->status = strcmp(it->f->status_code, "4000") == 0 ? RS_DELIVERED : RS_UNDELIVERED;
    return 0;
}

/* What carried an early report's message: only a `replacement` report that names SMS or LMS
 * says (without the row there is no text to measure); else the row's own channel stays. */
static mf_msg_type early_channel(const item *it)
{
    mf_msg_type t = rep_final_channel_of(it->f->type);

    return it->f->replacement && (t == MF_TYPE_SMS || t == MF_TYPE_LMS) ? t : MF_TYPE_NONE;
}

/* The entry of run id, fresh or not; NULL when there is none. The caller holds w->lock. */
static run_entry *run_slot(rep_webhook *w, const char *id)
{
    for (size_t i = 0; i < w->nruns; i++)
        if (strcmp(w->runs[i].id, id) == 0)
            return &w->runs[i];
    return NULL;
}

/* The workflow of run id, if the run was found to exist within the run TTL: into wf ("" for
 * none). 1 known, 0 not. */
static int known_run(rep_webhook *w, const char *id, char wf[MF_UUID_STR_SIZE])
{
    const run_entry *e;
    int found = 0;

    pthread_mutex_lock(&w->lock);
    e = run_slot(w, id);
    if (e != NULL && mf_clock_mono_ms() - e->seen_ms < w->cfg->webhook_run_ttl_ms) {
        memcpy(wf, e->wf, MF_UUID_STR_SIZE);
        found = 1;
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

static void remember_run(rep_webhook *w, const char *id, const char *wf)
{
    run_entry *e;

    pthread_mutex_lock(&w->lock);
    if ((e = run_slot(w, id)) != NULL) {
        /* read again: refreshed in place */
    } else if (w->nruns < RUN_CACHE) {
        e = &w->runs[w->nruns++];
    } else {
        e = &w->runs[w->next_run];
        w->next_run = (w->next_run + 1) % RUN_CACHE;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->wf, sizeof(e->wf), "%s", wf != NULL ? wf : "");
    e->seen_ms = mf_clock_mono_ms();
    pthread_mutex_unlock(&w->lock);
}

/* Whether RUNS_SQL's answer q (id, workflow_id) holds run id: its workflow into wf. */
static int run_in(const PGresult *q, const char *id, char wf[MF_UUID_STR_SIZE])
{
    for (int j = 0; q != NULL && j < PQntuples(q); j++) {
        if (strcmp(PQgetvalue(q, j, 0), id) != 0)
            continue;
        snprintf(wf, MF_UUID_STR_SIZE, "%s", PQgetisnull(q, j, 1) ? "" : PQgetvalue(q, j, 1));
        return 1;
    }
    return 0;
}

/* The runs of the reports to produce without their row (ST_RUN_LOOKUP) that are not known
 * yet: one query for all of them; a run that does not exist makes its reports `unknown`. */
static int resolve_runs(rep_webhook *w, item *items, size_t n, mf_err *err)
{
    mf_pgarr runs;
    PGresult *q = NULL;
    size_t i, want = 0;
    int j, rc = -1;

    mf_pgarr_init(&runs);
    for (i = 0; i < n; i++) {
        if (items[i].status != ST_RUN_LOOKUP || known_run(w, items[i].run_id, items[i].wf))
            continue;
        items[i].status = ST_RUN_READ;
        if (mf_pgarr_add(&runs, items[i].run_id, err) != 0)
            goto out;
        want++;
    }
    if (want > 0 && lookup(w, RUNS_SQL, &runs, &q, err) != 0)
        goto out;
    for (j = 0; q != NULL && j < PQntuples(q); j++)
        remember_run(w, PQgetvalue(q, j, 0), PQgetisnull(q, j, 1) ? NULL : PQgetvalue(q, j, 1));
    /* from the answer itself, not the table: an entry may be gone (more runs than entries,
     * a TTL of 0) */
    for (i = 0; i < n; i++)
        if (items[i].status == ST_RUN_READ)
            items[i].status = run_in(q, items[i].run_id, items[i].wf) ? ST_RUN_LOOKUP : RS_UNKNOWN;
    rc = 0;
out:
    PQclear(q);
    mf_pgarr_free(&runs);
    return rc;
}

/* Reports produced without their row (ST_RUN_LOOKUP): those naming an existing run, keyed by
 * the job id. A row not recorded yet (the report overtook its `accepted`) is waited for by
 * the batch writer (docs/reporter.md, "Early reports"). */
static int produce_bare(rep_webhook *w, item *items, size_t n, acks *a, msgpack_sbuffer *sb,
                        mf_err *err)
{
    size_t i;

    if (resolve_runs(w, items, n, err) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        item *it = &items[i];
        rep_final_report rep;

        if (it->status != ST_RUN_LOOKUP)
            continue;
        report_of(it, &rep);
        rep.channel = early_channel(it);
        atomic_fetch_add(&a->refs, 1);
        atomic_fetch_add(&a->pending, 1);
        if (rep_final_produce_bare(w->prod, w->topic, sb, it->job, it->run_id,
                                   it->wf[0] != '\0' ? it->wf : NULL, it->f->type, it->f->group_id,
                                   &rep, a, err) != 0) {
            atomic_fetch_sub(&a->pending, 1);
            atomic_fetch_sub(&a->refs, 1);
            return -1;
        }
        if (it->looked_up)
            it->status = RS_EARLY;
        else
            it->status = strcmp(it->f->status_code, "4000") == 0 ? RS_DELIVERED : RS_UNDELIVERED;
    }
    return 0;
}

/* Until every result of the request is acknowledged by the broker, or the deadline. */
static int wait_acks(rep_webhook *w, acks *a, mf_err *err)
{
    long long deadline = mf_clock_mono_ms() + w->cfg->webhook_ack_ms;

    while (atomic_load(&a->pending) > 0) {
        long long left = deadline - mf_clock_mono_ms();

        if (left <= 0)
            return mf_err_set(err, "kafka did not acknowledge %d results within %lld ms",
                              atomic_load(&a->pending), w->cfg->webhook_ack_ms);
        mf_kafka_poll(w->prod, left < 20 ? (int)left : 20);
    }
    if (atomic_load(&a->failed) > 0)
        return mf_err_set(err, "kafka refused %d results", atomic_load(&a->failed));
    return 0;
}

/* The rows of the reports that need theirs (ST_LOOKUP), in one query: their results are
 * produced from row and report; a report whose row is not there yet joins those produced
 * without it. */
static int produce_looked_up(rep_webhook *w, item *items, size_t n, acks *a, msgpack_sbuffer *sb,
                             mf_err *err)
{
    mf_pgarr ids;
    PGresult *q = NULL;
    row_ref *refs = NULL;
    size_t i, want = 0, nrefs;
    int rc = -1;

    mf_pgarr_init(&ids);
    for (i = 0; i < n; i++) {
        if (items[i].status != ST_LOOKUP)
            continue;
        if (mf_pgarr_add(&ids, items[i].job, err) != 0)
            goto out;
        want++;
    }
    if (want == 0) {
        rc = 0;
        goto out;
    }
    if (lookup(w, ROWS_SQL, &ids, &q, err) != 0)
        goto out;
    nrefs = (size_t)PQntuples(q);
    if ((refs = calloc(nrefs ? nrefs : 1, sizeof(*refs))) == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (i = 0; i < nrefs; i++) {
        refs[i].id = PQgetvalue(q, (int)i, REP_FINAL_ID);
        refs[i].row = (int)i;
    }
    qsort(refs, nrefs, sizeof(*refs), cmp_ref);
    for (i = 0; i < n; i++)
        if (items[i].status == ST_LOOKUP &&
            produce_item(w, q, refs, nrefs, &items[i], a, sb, err) != 0)
            goto out;
    rc = 0;
out:
    free(refs);
    PQclear(q);
    mf_pgarr_free(&ids);
    return rc;
}

/* Produce the results of the final reports and wait for the broker. */
static int record(rep_webhook *w, item *items, size_t n, mf_err *err)
{
    acks *a = NULL;
    msgpack_sbuffer sb;
    size_t i;
    double t0;
    int rc = -1;

    msgpack_sbuffer_init(&sb);
    for (i = 0; i < n && items[i].status >= 0; i++)
        ;
    if (i == n) {
        rc = 0;
        goto out;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    atomic_init(&a->refs, 1);
    if (produce_looked_up(w, items, n, a, &sb, err) != 0 ||
        produce_bare(w, items, n, a, &sb, err) != 0)
        goto out;
    t0 = mf_clock_mono_s();
    if (wait_acks(w, a, err) != 0)
        goto out;
    mf_metric_observe(w->m_seconds, (const char *const[]){"kafka"}, mf_clock_mono_s() - t0);
    rc = 0;
out:
    acks_release(a);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static enum MHD_Result single_report(rep_webhook *w, struct MHD_Connection *conn, req *r)
{
    rep_report *rr;
    long long counts[RS_N] = {0};
    item *items = NULL;
    size_t n, i;
    int bad;
    enum MHD_Result rc;
    double t0 = mf_clock_mono_s();
    mf_err e;

    mf_err_clear(&e);
    rr = rep_report_parse(r->body.data ? r->body.data : "", r->body.len, &bad, &e);
    if (rr == NULL && !bad)
        return answer(w, conn, KIND_SINGLE, 503, "unavailable", "out of memory\n");
    if (rr == NULL)
        return answer(w, conn, KIND_SINGLE, 400, "bad_request",
                      "invalid report body: a JSON array expected\n");
    n = rep_report_count(rr);
    items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL) {
        rep_report_free(rr);
        return answer(w, conn, KIND_SINGLE, 503, "unavailable", "out of memory\n");
    }
    for (i = 0; i < n; i++)
        parse_item(rep_report_at(rr, i), &items[i]);
    if (record(w, items, n, &e) != 0) {
        MF_LOG(w->log, MF_LOG_WARN, "delivery reports not recorded, answered 503",
               MF_KV_S("error", e.msg), MF_KV_I("reports", (long long)n));
        rc = answer(w, conn, KIND_SINGLE, 503, "unavailable", "not recorded, send again\n");
        goto out;
    }
    for (i = 0; i < n; i++)
        counts[items[i].status]++;
    for (i = 0; i < RS_N; i++)
        if (counts[i] > 0)
            mf_metric_add(w->m_reports, (const char *const[]){RS_NAMES[i]}, (double)counts[i]);
    MF_LOG(w->log, MF_LOG_DEBUG, "delivery reports", MF_KV_I("reports", (long long)n),
           MF_KV_I("delivered", counts[RS_DELIVERED]),
           MF_KV_I("undelivered", counts[RS_UNDELIVERED]), MF_KV_I("pending", counts[RS_PENDING]),
           MF_KV_I("duplicate", counts[RS_DUPLICATE]), MF_KV_I("stale", counts[RS_STALE]),
           MF_KV_I("unknown", counts[RS_UNKNOWN]), MF_KV_I("invalid", counts[RS_INVALID]),
           MF_KV_I("early", counts[RS_EARLY]));
    rc = answer(w, conn, KIND_SINGLE, 200, "ok", "ok\n");
    mf_metric_observe(w->m_seconds, (const char *const[]){"total"}, mf_clock_mono_s() - t0);
out:
    free(items);
    rep_report_free(rr);
    return rc;
}

/* ---- group-report --------------------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A group's summary (its messages are reported one by one): logged and counted. */
static enum MHD_Result group_report(rep_webhook *w, struct MHD_Connection *conn, req *r)
{
    json_error_t jerr;
    json_t *root = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
    size_t i, n;

    if (root == NULL || !json_is_array(root)) {
        json_decref(root);
        return answer(w, conn, KIND_GROUP, 400, "bad_request",
                      "invalid report body: a JSON array expected\n");
    }
    n = json_array_size(root);
    for (i = 0; i < n; i++) {
        const json_t *g = json_array_get(root, i), *d = json_object_get(g, "data");
        const char *gid, *st;

        if (!json_is_object(d))
            d = g;
        gid = str_of(d, "groupId");
        st = str_of(d, "status");
        MF_LOG(w->log, MF_LOG_INFO, "group report", MF_KV_S("group_id", gid ? gid : ""),
               MF_KV_S("status", st ? st : ""));
    }
    mf_metric_add(w->m_groups, NULL, (double)n);
    json_decref(root);
    return answer(w, conn, KIND_GROUP, 200, "ok", "ok\n");
}

/* ---- the server ----------------------------------------------------------------------- */

/* Whether a Content-Length announces more than the limit (then 413 before reading it). */
static int announced_too_big(struct MHD_Connection *conn, long long max)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long v;
    char *end = NULL;

    if (cl == NULL)
        return 0;
    errno = 0;
    v = strtoull(cl, &end, 10);
    return end != cl && (errno == ERANGE || v > (unsigned long long)max);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    rep_webhook *w = cls;
    req *r = *state;

    (void)version;
    if (r == NULL) {
        int old = 0;
        int kind = strcmp(method, MHD_HTTP_METHOD_POST) == 0 ? route(w, url, &old) : KIND_NONE;

        if (kind == KIND_NONE)
            return answer(w, conn, KIND_NONE, 404, "not_found", "not found\n");
        if (old)
            mf_metric_add(w->m_old_token, NULL, 1);
        if (announced_too_big(conn, w->cfg->webhook_max_body))
            return answer(w, conn, kind, 413, "too_large", "body too large\n");
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        r->kind = kind;
        mf_buf_init(&r->body, (size_t)w->cfg->webhook_max_body);
        *state = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        mf_err e;

        /* past the limit (a chunked body announces no length): read and drop the rest */
        if (!r->too_big && mf_buf_append(&r->body, upload_data, *upload_size, &e) != 0) {
            r->too_big = 1;
            mf_buf_free(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return answer(w, conn, r->kind, 413, "too_large", "body too large\n");
    return r->kind == KIND_GROUP ? group_report(w, conn, r) : single_report(w, conn, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    req *r = *state;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    mf_buf_free(&r->body);
    free(r);
    *state = NULL;
}

rep_webhook *rep_webhook_new(const reporter_config *cfg, const char *results_topic,
                             mf_metrics *metrics, mf_log *log, mf_err *err)
{
    rep_webhook *w = calloc(1, sizeof(*w));
    /* A report request's answer waits for its acknowledgements: a linger only delays it (a
     * provider posting one batch at a time waits for every answer). linger.ms=5, librdkafka's
     * default, took 9.1 ms of acknowledgement wait per 100-report request in the bench, 0 took
     * 4.4 ms. */
    const char *const overrides[] = {"linger.ms=0", NULL};
    /* a provider posting one request at a time waits for each answer: milliseconds matter */
    static const double secs[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2};
    mf_kafka_conf kc = {0};

    if (w == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->log = log;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->topic, sizeof(w->topic), "%s", results_topic);
    kc.brokers = cfg->common.kafka_brokers;
    kc.client_id = cfg->common.instance_id;
    kc.overrides = overrides;
    kc.log = log;
    kc.security = &cfg->common.kafka_sec;
    w->m_requests = mf_metrics_counter(metrics, "msgfleet_reporter_webhook_requests_total",
                                       "webhook requests by path (single-report, group-report, "
                                       "other) and outcome (ok, not_found, too_large, "
                                       "bad_request, unavailable)",
                                       "path,outcome", err);
    w->m_reports = mf_metrics_counter(metrics, "msgfleet_reporter_webhook_reports_total",
                                      "single reports of answered requests by what became of "
                                      "them (delivered, undelivered, pending, duplicate, stale, "
                                      "unknown, invalid, early)",
                                      "status", err);
    w->m_groups = mf_metrics_counter(metrics, "msgfleet_reporter_webhook_group_reports_total",
                                     "group reports received (logged only)", NULL, err);
    w->m_seconds = mf_metrics_histogram(metrics, "msgfleet_reporter_webhook_request_seconds",
                                        "answered single-report requests: whole (total, body "
                                        "read to answer) and the wait for Kafka's "
                                        "acknowledgements (kafka)",
                                        "part", secs, sizeof(secs) / sizeof(secs[0]), err);
    w->m_old_token = mf_metrics_counter(metrics, "msgfleet_reporter_webhook_old_token_total",
                                        "requests that used MF_REPORTER_WEBHOOK_TOKEN_OLD "
                                        "(rotation: remove it once this stops growing)",
                                        NULL, err);
    if (w->m_requests == NULL || w->m_reports == NULL || w->m_groups == NULL ||
        w->m_seconds == NULL || w->m_old_token == NULL || (w->euckr = mf_euckr_new(err)) == NULL ||
        (w->prod = mf_kafka_producer_new(&kc, on_dr, w, err)) == NULL) {
        rep_webhook_free(w);
        return NULL;
    }
    return w;
}

int rep_webhook_start(rep_webhook *w, mf_err *err)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    unsigned threads = (unsigned)w->cfg->webhook_threads;

    memset(&addr, 0, sizeof(addr));
    if (inet_pton(AF_INET, w->cfg->webhook_bind, &addr.sin_addr) != 1)
        return mf_err_set(err,
                          "invalid value for MF_REPORTER_WEBHOOK_BIND: \"%s\" is not an "
                          "IPv4 address",
                          w->cfg->webhook_bind);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)w->cfg->webhook_port);
    /* no MHD_USE_ERROR_LOG: its messages may quote a request line, i.e. the token */
    w->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, w,
                              MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_END);
    if (w->mhd == NULL)
        return mf_err_set(err, "could not listen on %s:%lld: address in use or not permitted",
                          w->cfg->webhook_bind, w->cfg->webhook_port);
    info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
    w->port = info ? info->port : (int)w->cfg->webhook_port;
    MF_LOG(w->log, MF_LOG_INFO, "webhook listening", MF_KV_S("bind", w->cfg->webhook_bind),
           MF_KV_I("port", w->port), MF_KV_I("threads", threads),
           MF_KV_I("tokens", w->cfg->webhook_token_old[0] ? 2 : 1));
    return 0;
}

int rep_webhook_port(const rep_webhook *w)
{
    return w->port;
}

void rep_webhook_free(rep_webhook *w)
{
    mf_err e;

    if (w == NULL)
        return;
    if (w->mhd != NULL)
        MHD_stop_daemon(w->mhd);
    if (w->prod != NULL && mf_kafka_flush(w->prod, 5000, &e) != 0 && w->log != NULL)
        MF_LOG(w->log, MF_LOG_WARN, "webhook producer not flushed", MF_KV_S("error", e.msg));
    mf_kafka_producer_free(w->prod);
    mf_euckr_free(w->euckr);
    if (w->pg != NULL)
        PQfinish(w->pg);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

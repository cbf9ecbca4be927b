/* events: the planner's event consumer: one job per (event, matching event workflow). */
/* The jobs go to the transactional jobs topic; the workflow cache and windows are event_wf.c. */
#include "events.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "mf_clock.h"
#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_dlq.h"
#include "mf_kafka.h"
#include "mf_mysql.h"
#include "mf_pg.h"
#include "mf_pgarr.h"
#include "mf_phone.h"
#include "event_wf.h"
#include "page.h"
#include "plan.h"
#include "planner_mysql.h"

#define EV_BATCH 500           /* events consumed per batch */
#define EV_ID_MAX 128          /* longest event id */
#define EV_CLOSE_EVERY_MS 2000 /* how often ended windows are closed */
#define EV_BACKOFF_MAX_MS 10000
#define EV_ATTEMPT 1 /* the job attempt of an event job (like a run's first) */

/* One (event, workflow) match of the batch being processed. */
typedef struct ev_item {
    size_t msg; /* index into the batch */
    size_t wf;  /* index into the cache */
    mf_uuid job;
    mf_uuid run;  /* the window run the job or result was produced with */
    int done;     /* recorded by an earlier delivery: nothing to do */
    int invalid;  /* an INVALID_PHONE result instead of a job */
    int produced; /* a job or result went to Kafka */
} ev_item;

struct planner_events {
    const planner_config *cfg;
    mf_log *log;
    planner_metrics pm;
    pthread_t thread;
    PGconn *pg;
    mf_mysql *mysql;
    mf_kafka_producer *producer;
    mf_kafka_consumer *cons;
    mf_codec *codec;
    msgpack_sbuffer sbuf;
    char t_events[MF_KAFKA_TOPIC_MAX + 1], t_jobs_tx[MF_KAFKA_TOPIC_MAX + 1];
    /* INVALID_PHONE results go to the lane's results topic: event runs are transactional */
    char t_results_tx[MF_KAFKA_TOPIC_MAX + 1], t_dlq[MF_KAFKA_TOPIC_MAX + 1];
    event_wf *wfs;
    size_t nwfs;
    int64_t refreshed_ms, closed_ms, pruned_ms; /* monotonic (0: never) */
    int64_t backoff_ms;
    /* the batch */
    mf_kafka_msg msgs[EV_BATCH];
    mf_event evs[EV_BATCH];
    char why[EV_BATCH][MF_ERR_MAX]; /* "" = fine, else the dead-letter reason */
    ev_item *items;
    size_t nitems, cap_items;
    planner_page row; /* the target row of the current item */
    mf_buf vals;      /* query variable values of the current item */
    mf_pgarr a_job, a_ev, a_wf, a_run, a_inv;
    long long dr_failed;
    char dr_error[256];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void nap(int64_t ms)
{
    int64_t end = mf_clock_mono_ms() + ms;

    while (!mf_daemon_stopping() && mf_clock_mono_ms() < end) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void back_off(planner_events *ev, const char *what, const char *error)
{
    ev->backoff_ms = ev->backoff_ms == 0 ? 250 : ev->backoff_ms * 2;
    if (ev->backoff_ms > EV_BACKOFF_MAX_MS)
        ev->backoff_ms = EV_BACKOFF_MAX_MS;
    MF_LOG(ev->log, MF_LOG_WARN, what, MF_KV_S("error", error),
           MF_KV_I("retry_in_ms", ev->backoff_ms));
    nap(ev->backoff_ms);
}

static void on_delivery(void *arg, const mf_kafka_dr *dr)
{
    planner_events *ev = arg;

    if (dr->ok)
        return;
    ev->dr_failed++;
    snprintf(ev->dr_error, sizeof(ev->dr_error), "%s", dr->error ? dr->error : "unknown");
}

/* ---- connections ------------------------------------------------------------------------ */

static int pg_ready(planner_events *ev)
{
    mf_err err;

    if (ev->pg == NULL)
        ev->pg = mf_pg_connect(ev->cfg->common.pg_dsn, NULL, "msgfleet-planner-events", &err);
    if (ev->pg == NULL || mf_pg_ensure(ev->pg, &err) != 0) {
        back_off(ev, "events: no database yet", err.msg);
        return 0;
    }
    return 1;
}

static int mysql_ready(planner_events *ev, mf_err *err)
{
    mf_mysql_config mc;

    planner_mysql_config(ev->cfg, ev->log, 10, &mc);
    if (ev->mysql == NULL)
        ev->mysql = mf_mysql_connect(&mc, err);
    return ev->mysql != NULL ? 0 : -1;
}

/* ---- the workflow cache and the windows (event_wf.c) ----------------------------------- */

/* Reload the active event workflows and their plans (every MF_PLANNER_EVENTS_REFRESH_MS).
 * The plans are loaded as of the wall clock (their date functions); the period is measured
 * on the monotonic clock. */
static int cache_refresh(planner_events *ev, mf_err *err)
{
    int64_t started = mf_clock_mono_ms();

    if (event_wf_load(ev->pg, mf_clock_wall_ms(), &ev->wfs, &ev->nwfs, err) != 0)
        return -1;
    ev->refreshed_ms = started;
    return 0;
}

/* Close the windows whose end is MF_PLANNER_EVENT_WINDOW_GRACE_S past (every
 * EV_CLOSE_EVERY_MS). */
static void windows_close(planner_events *ev)
{
    ev->closed_ms = mf_clock_mono_ms();
    event_wf_close_windows(ev->pg, ev->cfg->event_grace_s, ev->log);
}

/* ---- matching --------------------------------------------------------------------------- */

static int add_item(planner_events *ev, size_t msg, size_t wf, mf_err *err)
{
    char key[EV_ID_MAX + 16];
    mf_uuid wfu;
    ev_item *it;

    if (ev->nitems == ev->cap_items) {
        size_t cap = ev->cap_items ? ev->cap_items * 2 : 1024;
        ev_item *p = realloc(ev->items, cap * sizeof(*p));
        if (p == NULL)
            return mf_err_set(err, "out of memory");
        ev->items = p;
        ev->cap_items = cap;
    }
    it = &ev->items[ev->nitems++];
    memset(it, 0, sizeof(*it));
    it->msg = msg;
    it->wf = wf;
    /* the job id: (workflow id, "event:" + event id), run start 0 (docs/triggers.md) */
    snprintf(key, sizeof(key), "event:%s", ev->evs[msg].id);
    if (mf_uuid_parse(ev->wfs[wf].id, &wfu, err) != 0)
        return -1;
    mf_uuid_job_id(&wfu, 0, key, EV_ATTEMPT, &it->job);
    for (size_t i = 0; i + 1 < ev->nitems; i++) {
        if (mf_uuid_equal(&ev->items[i].job, &it->job))
            it->done = 1; /* the same event twice in one batch */
    }
    return 0;
}

/* Decode every message and list the (event, workflow) matches; bad events get a reason. */
static int match_batch(planner_events *ev, size_t n, mf_err *err)
{
    int64_t horizon_ms = mf_clock_wall_ms() - ev->cfg->event_dedup_days * 86400000LL;

    mf_codec_reset(ev->codec);
    ev->nitems = 0;
    for (size_t i = 0; i < n; i++) {
        const mf_kafka_msg *m = &ev->msgs[i];
        mf_event *e = &ev->evs[i];
        size_t named = 0, before = ev->nitems;
        mf_err derr;

        ev->why[i][0] = '\0';
        if (mf_codec_decode_event(ev->codec, m->val != NULL ? m->val : "", m->val_len, e, &derr) !=
            0) {
            snprintf(ev->why[i], MF_ERR_MAX, "%s", derr.msg);
            continue;
        }
        if (!has(e->id)) {
            snprintf(ev->why[i], MF_ERR_MAX,
                     "missing event id (key \"id\"): an event without "
                     "an id cannot be sent exactly once");
            continue;
        }
        if (strlen(e->id) > EV_ID_MAX) {
            snprintf(ev->why[i], MF_ERR_MAX, "event id longer than %d bytes", EV_ID_MAX);
            continue;
        }
        if (e->ts_ms < horizon_ms) {
            /* its jobs' record may be pruned already: sending could send it twice */
            snprintf(ev->why[i], MF_ERR_MAX,
                     "event older than the exactly-once horizon of "
                     "%lld days (MF_PLANNER_EVENT_DEDUP_DAYS): not sent",
                     ev->cfg->event_dedup_days);
            continue;
        }
        for (size_t w = 0; w < ev->nwfs; w++) {
            if (strcmp(ev->wfs[w].event, e->type) != 0)
                continue;
            named++;
            if (event_wf_match(&ev->wfs[w], e) && add_item(ev, i, w, err) != 0)
                return -1;
        }
        if (named == 0)
            snprintf(ev->why[i], MF_ERR_MAX,
                     "unknown event \"%.64s\": no active workflow is "
                     "triggered by it",
                     e->type);
        else if (ev->nitems == before)
            MF_LOG(ev->log, MF_LOG_DEBUG, "event matched no filter", MF_KV_S("event_id", e->id),
                   MF_KV_S("type", e->type));
    }
    return 0;
}

/* Items recorded by an earlier delivery of the same event are marked done. */
static int mark_done(planner_events *ev, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT job_id::text FROM mf_event_jobs"
                              " WHERE job_id = ANY($1::uuid[])";
    /* clang-format on */
    const char *params[1];
    PGresult *res;

    if (ev->nitems == 0)
        return 0;
    mf_pgarr_reset(&ev->a_job);
    for (size_t i = 0; i < ev->nitems; i++) {
        if (mf_pgarr_add_uuid(&ev->a_job, &ev->items[i].job, err) != 0)
            return -1;
    }
    params[0] = mf_pgarr_finish(&ev->a_job, err);
    if (params[0] == NULL)
        return -1;
    res = mf_pg_query(ev->pg, sql, 1, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not look up recorded event jobs");
    for (int r = 0; r < PQntuples(res); r++) {
        mf_uuid u;
        if (mf_uuid_parse(PQgetvalue(res, r, 0), &u, err) != 0)
            break;
        for (size_t i = 0; i < ev->nitems; i++) {
            if (mf_uuid_equal(&u, &ev->items[i].job))
                ev->items[i].done = 1;
        }
    }
    PQclear(res);
    return 0;
}

/* ---- one item: recipient, variables, job ------------------------------------------------ */

/* Forget the target row and its column names (workflows' queries have different columns). */
static void row_clear(planner_events *ev)
{
    planner_page_free(&ev->row);
    planner_page_init(&ev->row);
    planner_page_limits(&ev->row, (size_t)ev->cfg->cell_max_bytes, 0);
}

static int row_cb(const mf_mysql_row *row, void *arg)
{
    planner_events *ev = arg;
    mf_err err;

    if (ev->row.nrows >= 2)
        return 0; /* counted by nrows; keep draining */
    if (planner_page_add(&ev->row, row, &err) != 0)
        return 1;
    return 0;
}

/* A value by name: the event's attribute, else the target row's column. */
static const char *lookup(planner_events *ev, const mf_event *e, const char *name)
{
    const char *v = mf_codec_map_get(&e->attrs, name);

    if (v == NULL && ev->row.nrows == 1)
        v = planner_page_get(&ev->row, 0, planner_page_col(&ev->row, name));
    return v;
}

/* The variables of the template: the event's attributes first, then the workflow's mappings
 * (static and function values, target row columns, query variables whose parameters are
 * attribute or column names), then defaults; a variable still missing is left out (the sender
 * fails the job with RENDER_FAILED). kv gets at most plan->nvars pairs. */
static int resolve_vars(planner_events *ev, const event_wf *w, const mf_event *e, mf_codec_kv *kv,
                        size_t *nkv, size_t *qoff, mf_err *err)
{
    const planner_plan *p = &w->plan;
    size_t n = 0;

    mf_buf_reset(&ev->vals);
    for (size_t i = 0; i < p->nvars; i++) {
        const planner_var *v = &p->vars[i];
        const char *params[16];
        planner_first_value fv = {v->column, &ev->vals, SIZE_MAX, 0, 0, 0}; /* no size limit */
        size_t start = ev->vals.len;

        qoff[i] = 0;
        if (v->kind != PLANNER_VAR_QUERY || mf_codec_map_get(&e->attrs, v->name) != NULL)
            continue;
        for (size_t j = 0; j < v->nparams && j < 16; j++)
            params[j] = lookup(ev, e, v->params[j]);
        if (mysql_ready(ev, err) != 0)
            return -1;
        if (mf_mysql_query_params(ev->mysql, v->sql, params, (unsigned)v->nparams,
                                  planner_first_value_cb, &fv, NULL, err) != 0) {
            mf_mysql_close(ev->mysql);
            ev->mysql = NULL;
            return mf_err_prefix(err, "variable \"%s\"", v->name);
        }
        qoff[i] = fv.has ? start + 1 : 0;
    }
    for (size_t i = 0; i < p->nvars; i++) {
        const planner_var *v = &p->vars[i];
        const char *val = mf_codec_map_get(&e->attrs, v->name);
        if (val == NULL && v->kind == PLANNER_VAR_STATIC)
            val = v->value;
        else if (val == NULL && v->kind == PLANNER_VAR_COLUMN)
            val = lookup(ev, e, v->column);
        else if (val == NULL && qoff[i] != 0)
            val = ev->vals.data + qoff[i] - 1;
        if (val != NULL && !mf_buf_utf8_valid(val, strlen(val)))
            val = NULL;
        if (val == NULL)
            val = v->def;
        if (val == NULL)
            continue;
        kv[n].key = v->name;
        kv[n++].val = val;
    }
    *nkv = n;
    return 0;
}

/* The target row for the event's customer key (exactly one row), into ev->row. 0, 1 with
 * why set (the event cannot be sent: dead-lettered), -1 with err (MySQL unavailable: retry). */
static int find_recipient(planner_events *ev, const event_wf *w, const mf_event *e, char *why,
                          mf_err *err)
{
    const char *params[1] = {e->cust};
    uint64_t nrows = 0;

    row_clear(ev);
    if (w->plan.query == NULL) {
        snprintf(why, MF_ERR_MAX,
                 "missing recipient: the event has no phone (key \"to\") and "
                 "workflow %s has no target query",
                 w->id);
        return 1;
    }
    if (!has(e->cust)) {
        snprintf(why, MF_ERR_MAX,
                 "missing recipient: the event has neither a phone (key "
                 "\"to\") nor a customer key (key \"cust\")");
        return 1;
    }
    if (mysql_ready(ev, err) != 0)
        return -1;
    if (mf_mysql_query_params(ev->mysql, w->plan.query, params, 1, row_cb, ev, &nrows, err) != 0) {
        mf_mysql_close(ev->mysql);
        ev->mysql = NULL;
        return mf_err_prefix(err, "target query of workflow %s", w->id);
    }
    if (nrows != 1 || ev->row.nrows != 1) {
        snprintf(why, MF_ERR_MAX,
                 "missing recipient: the target query of workflow %s returned "
                 "%llu rows for customer \"%.64s\" (exactly one is needed)",
                 w->id, (unsigned long long)nrows, e->cust);
        return 1;
    }
    return 0;
}

static int produce(planner_events *ev, const char *topic, const char *key, size_t key_len,
                   mf_err *err)
{
    return mf_kafka_produce(ev->producer, topic, key, key_len, ev->sbuf.data, ev->sbuf.size, NULL,
                            60000, err);
}

static int produce_dlq(planner_events *ev, size_t i, const char *reason, mf_err *err)
{
    const mf_kafka_msg *m = &ev->msgs[i];

    if (mf_dlq_encode_msg(&ev->sbuf, m, reason, err) != 0)
        return -1;
    MF_LOG(ev->log, MF_LOG_WARN, "event dead-lettered", MF_KV_S("reason", reason),
           MF_KV_I("partition", m->partition), MF_KV_I("offset", m->offset));
    return produce(ev, ev->t_dlq, m->key, m->key_len, err);
}

/* The phone is not a valid number: a failed INVALID_PHONE result (a message_logs row). */
static int produce_invalid(planner_events *ev, ev_item *it, const event_wf *w, const char *raw,
                           mf_phone_reason why, mf_err *err)
{
    char to[21], msg[128], id[MF_UUID_STR_SIZE];
    mf_result r;
    size_t n = strlen(raw);

    if (n > 20)
        n = 20;
    while (n > 0 && ((unsigned char)raw[n] & 0xC0) == 0x80)
        n--;
    memcpy(to, raw, n);
    to[n] = '\0';
    snprintf(msg, sizeof(msg), "invalid phone number: %s", mf_phone_reason_text(why));
    memset(&r, 0, sizeof(r));
    r.id = it->job;
    r.run = it->run;
    r.wf = w->plan.wf;
    r.tpl = w->plan.tpl;
    r.attempt = EV_ATTEMPT;
    r.status = MF_RESULT_FAILED;
    r.to = to[0] != '\0' && mf_buf_utf8_valid(to, n) ? to : "(invalid)";
    r.type = w->plan.type;
    r.code = "INVALID_PHONE";
    r.msg = msg;
    r.ts_ms = mf_clock_wall_ms();
    if (mf_codec_encode_result(&ev->sbuf, &r, err) != 0)
        return -1;
    it->invalid = 1;
    mf_uuid_format(&r.id, id);
    return produce(ev, ev->t_results_tx, id, MF_UUID_STR_LEN, err);
}

/* One match: 0 produced (or dead-lettered: why set), -1 with err (transient: retry). */
static int emit_item(planner_events *ev, ev_item *it, char *why, mf_err *err)
{
    event_wf *w = &ev->wfs[it->wf];
    const mf_event *e = &ev->evs[it->msg];
    mf_codec_kv kv[129];
    size_t qoff[129], nkv = 0;
    const char *raw, *name = NULL;
    char phone[MF_PHONE_MAX];
    mf_phone_reason pr = MF_PHONE_OK;
    mf_job job;
    mf_err perr;
    int rc;

    if (w->error[0] != '\0') {
        snprintf(why, MF_ERR_MAX, "workflow %s cannot be sent: %.400s", w->id, w->error);
        return 0;
    }
    row_clear(ev);
    if (!has(e->to) && (rc = find_recipient(ev, w, e, why, err)) != 0)
        return rc < 0 ? -1 : 0;
    raw = has(e->to)
              ? e->to
              : planner_page_get(&ev->row, 0, planner_page_col(&ev->row, w->plan.phone_column));
    if (raw == NULL) {
        snprintf(why, MF_ERR_MAX,
                 "missing recipient: the target row of workflow %s has no "
                 "column \"%.64s\"",
                 w->id, w->plan.phone_column);
        return 0;
    }
    if (event_wf_window_run(ev->pg, w, ev->cfg->event_window_s, err) != 0)
        return -1;
    it->run = w->run; /* counted in this run even if the window turns before the record */
    if (mf_phone_normalize(raw, phone, sizeof(phone), &pr, &perr) != 0) {
        if (produce_invalid(ev, it, w, raw, pr, err) != 0)
            return -1;
        it->produced = 1;
        return 0;
    }
    if (w->plan.nvars > 128)
        return mf_err_set(err, "too many variables");
    if (resolve_vars(ev, w, e, kv, &nkv, qoff, err) != 0)
        return -1;
    if (ev->row.nrows == 1)
        name = planner_page_get(&ev->row, 0, planner_page_col(&ev->row, w->plan.name_column));
    if (name == NULL)
        name = mf_codec_map_get(&e->attrs, "name");
    memset(&job, 0, sizeof(job));
    job.id = it->job;
    job.run = it->run;
    job.wf = w->plan.wf;
    job.tpl = w->plan.tpl;
    job.attempt = EV_ATTEMPT;
    job.to = phone;
    job.name = name != NULL && mf_buf_utf8_valid(name, strlen(name)) ? name : "";
    job.vars.items = kv;
    job.vars.n = nkv;
    job.created_ms = mf_clock_wall_ms();
    if (mf_codec_encode_job(&ev->sbuf, &job, err) != 0)
        return -1;
    if (produce(ev, ev->t_jobs_tx, phone, strlen(phone), err) != 0)
        return -1;
    it->produced = 1;
    return 0;
}

/* ---- recording -------------------------------------------------------------------------- */

/* Record the produced items (mf_event_jobs) and add the new ones to their window run's
 * counters, in one statement: rows already there (a redelivery) add nothing. */
static int record(planner_events *ev, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "WITH ins AS ("
        " INSERT INTO mf_event_jobs (job_id, event_id, workflow_id, run_id)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[])"
        " ON CONFLICT (job_id) DO NOTHING RETURNING job_id, run_id),"
        " n AS ("
        " SELECT run_id, count(*) AS c,"
        "  count(*) FILTER (WHERE job_id = ANY($5::uuid[])) AS ci FROM ins GROUP BY run_id)"
        " UPDATE workflow_runs r SET target_count = COALESCE(r.target_count, 0) + n.c,"
        "  expanded_count = r.expanded_count + (n.c - n.ci),"
        "  invalid_count = r.invalid_count + n.ci"
        " FROM n WHERE r.id = n.run_id";
    /* clang-format on */
    const char *params[5];
    size_t k = 0;

    mf_pgarr_reset(&ev->a_job);
    mf_pgarr_reset(&ev->a_ev);
    mf_pgarr_reset(&ev->a_wf);
    mf_pgarr_reset(&ev->a_run);
    mf_pgarr_reset(&ev->a_inv);
    for (size_t i = 0; i < ev->nitems; i++) {
        const ev_item *it = &ev->items[i];
        const event_wf *w = &ev->wfs[it->wf];
        if (!it->produced)
            continue;
        k++;
        if (mf_pgarr_add_uuid(&ev->a_job, &it->job, err) != 0 ||
            mf_pgarr_add(&ev->a_ev, ev->evs[it->msg].id, err) != 0 ||
            mf_pgarr_add(&ev->a_wf, w->id, err) != 0 ||
            mf_pgarr_add_uuid(&ev->a_run, &it->run, err) != 0 ||
            (it->invalid && mf_pgarr_add_uuid(&ev->a_inv, &it->job, err) != 0))
            return -1;
    }
    if (k == 0)
        return 0;
    if ((params[0] = mf_pgarr_finish(&ev->a_job, err)) == NULL ||
        (params[1] = mf_pgarr_finish(&ev->a_ev, err)) == NULL ||
        (params[2] = mf_pgarr_finish(&ev->a_wf, err)) == NULL ||
        (params[3] = mf_pgarr_finish(&ev->a_run, err)) == NULL ||
        (params[4] = mf_pgarr_finish(&ev->a_inv, err)) == NULL)
        return -1;
    if (mf_pg_command(ev->pg, sql, 5, params, NULL, err) != 0)
        return mf_err_prefix(err, "could not record event jobs");
    mf_metric_add(ev->pm.jobs, NULL, (double)k);
    return 0;
}

/* ---- the batch -------------------------------------------------------------------------- */

/* Process messages [0, n): 0 when every job is acknowledged and recorded (the offsets may be
 * stored), -1 with err to process the same batch again after a back-off. */
static int process_batch(planner_events *ev, size_t n, mf_err *err)
{
    if (match_batch(ev, n, err) != 0 || mark_done(ev, err) != 0)
        return -1;
    ev->dr_failed = 0;
    for (size_t i = 0; i < ev->nitems; i++) {
        ev_item *it = &ev->items[i];
        char why[MF_ERR_MAX] = "";
        if (it->done)
            continue;
        if (emit_item(ev, it, why, err) != 0)
            return -1;
        /* one workflow's failure does not stop the others; the event is dead-lettered once,
         * with the first reason (a replay of the dead letter sends only what is missing) */
        if (why[0] != '\0' && ev->why[it->msg][0] == '\0')
            snprintf(ev->why[it->msg], MF_ERR_MAX, "%s", why);
    }
    for (size_t i = 0; i < n; i++) {
        if (ev->why[i][0] != '\0' && produce_dlq(ev, i, ev->why[i], err) != 0)
            return -1;
    }
    if (mf_kafka_flush(ev->producer, (int)ev->cfg->flush_timeout_ms, err) != 0)
        return -1;
    if (ev->dr_failed > 0)
        return mf_err_set(err, "%lld messages failed delivery: %s", ev->dr_failed, ev->dr_error);
    return record(ev, err);
}

static int open_kafka(planner_events *ev, mf_err *err)
{
    const planner_config *cfg = ev->cfg;
    mf_kafka_conf kc = {
        cfg->common.kafka_brokers, cfg->common.instance_id, cfg->common.topic_prefix, NULL, ev->log,
        &cfg->common.kafka_sec};
    const char *topics[2] = {ev->t_events, NULL};
    char group[160];
    mf_kafka_consumer_opts co;

    if (mf_kafka_topic_name(&kc, MF_TOPIC_EVENTS, ev->t_events, sizeof(ev->t_events), err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_JOBS_TX, ev->t_jobs_tx, sizeof(ev->t_jobs_tx), err) !=
            0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_RESULTS_TX, ev->t_results_tx, sizeof(ev->t_results_tx),
                            err) != 0 ||
        mf_kafka_topic_name(&kc, MF_TOPIC_DLQ, ev->t_dlq, sizeof(ev->t_dlq), err) != 0)
        return mf_err_prefix(err, "MF_TOPIC_PREFIX");
    snprintf(group, sizeof(group), "%splanner-events", cfg->common.topic_prefix);
    memset(&co, 0, sizeof(co));
    co.group_id = group;
    co.topics = topics;
    co.offsets = MF_KAFKA_OFFSETS_STORE;
    ev->producer = mf_kafka_producer_new(&kc, on_delivery, ev, err);
    if (ev->producer == NULL)
        return -1;
    ev->cons = mf_kafka_consumer_new(&kc, &co, err);
    return ev->cons != NULL ? 0 : -1;
}

static void *events_main(void *arg)
{
    planner_events *ev = arg;
    size_t n = 0;
    mf_err err;

    while (!mf_daemon_stopping()) {
        int64_t now = mf_clock_mono_ms();
        if (!pg_ready(ev))
            continue;
        if ((ev->refreshed_ms == 0 || now - ev->refreshed_ms >= ev->cfg->events_refresh_ms) &&
            cache_refresh(ev, &err) != 0) {
            back_off(ev, "events: could not load the event workflows", err.msg);
            continue;
        }
        if (ev->closed_ms == 0 || now - ev->closed_ms >= EV_CLOSE_EVERY_MS)
            windows_close(ev);
        if (ev->pruned_ms == 0 || now - ev->pruned_ms >= ev->cfg->event_prune_ms) {
            ev->pruned_ms = now;
            event_wf_prune_jobs(ev->pg, ev->cfg->event_dedup_days, ev->log);
        }
        if (n == 0 && mf_kafka_consume(ev->cons, ev->msgs, EV_BATCH, 100, &n, &err) != 0) {
            MF_LOG(ev->log, MF_LOG_ERROR, "events: consumer failed", MF_KV_S("error", err.msg));
            n = 0;
            nap(1000);
            continue;
        }
        mf_kafka_poll(ev->producer, 0);
        if (n == 0)
            continue;
        if (process_batch(ev, n, &err) != 0) {
            /* the same messages again after the wait: job ids and mf_event_jobs make the
             * repetition harmless */
            back_off(ev, "events: batch failed, retrying", err.msg);
            continue;
        }
        ev->backoff_ms = 0;
        if (mf_kafka_store_offsets(ev->cons, ev->msgs, n, &err) != 0)
            MF_LOG(ev->log, MF_LOG_WARN, "events: could not store offsets",
                   MF_KV_S("error", err.msg));
        mf_kafka_release(ev->msgs, n);
        n = 0;
    }
    mf_kafka_release(ev->msgs, n);
    return NULL;
}

static void events_free(planner_events *ev)
{
    mf_err err;

    if (ev == NULL)
        return;
    if (ev->producer != NULL && mf_kafka_flush(ev->producer, 5000, &err) != 0)
        MF_LOG(ev->log, MF_LOG_WARN, "events: producer flush incomplete",
               MF_KV_S("error", err.msg));
    mf_kafka_consumer_free(ev->cons);
    mf_kafka_producer_free(ev->producer);
    mf_mysql_close(ev->mysql);
    if (ev->pg != NULL)
        PQfinish(ev->pg);
    event_wf_free(ev->wfs, ev->nwfs);
    mf_codec_free(ev->codec);
    msgpack_sbuffer_destroy(&ev->sbuf);
    planner_page_free(&ev->row);
    mf_buf_free(&ev->vals);
    mf_pgarr_free(&ev->a_job);
    mf_pgarr_free(&ev->a_ev);
    mf_pgarr_free(&ev->a_wf);
    mf_pgarr_free(&ev->a_run);
    mf_pgarr_free(&ev->a_inv);
    free(ev->items);
    free(ev);
}

planner_events *planner_events_start(const planner_config *cfg, mf_log *log,
                                     const planner_metrics *pm, mf_err *err)
{
    planner_events *ev = calloc(1, sizeof(*ev));

    if (ev == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    ev->cfg = cfg;
    ev->log = log;
    ev->pm = *pm;
    msgpack_sbuffer_init(&ev->sbuf);
    planner_page_init(&ev->row);
    planner_page_limits(&ev->row, (size_t)cfg->cell_max_bytes, 0);
    mf_buf_init(&ev->vals, 0);
    mf_pgarr_init(&ev->a_job);
    mf_pgarr_init(&ev->a_ev);
    mf_pgarr_init(&ev->a_wf);
    mf_pgarr_init(&ev->a_run);
    mf_pgarr_init(&ev->a_inv);
    ev->codec = mf_codec_new(err);
    if (ev->codec == NULL || open_kafka(ev, err) != 0)
        goto fail;
    if (pthread_create(&ev->thread, NULL, events_main, ev) != 0) {
        mf_err_set(err, "could not start the events thread");
        goto fail;
    }
    MF_LOG(log, MF_LOG_INFO, "events consumer started", MF_KV_S("topic", ev->t_events),
           MF_KV_S("jobs_topic", ev->t_jobs_tx));
    return ev;
fail:
    events_free(ev);
    return NULL;
}

void planner_events_join(planner_events *ev)
{
    if (ev == NULL)
        return;
    pthread_join(ev->thread, NULL);
    events_free(ev);
}

/* event_wf: the event consumer's cache of active event workflows and their window runs. */
#ifndef PLANNER_EVENT_WF_H
#define PLANNER_EVENT_WF_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_log.h"
#include "mf_uuid.h"
#include "plan.h"

#define EVENT_WF_FILTERS_MAX 16 /* equality filters of one workflow */

/* One active event-triggered workflow, as the cache holds it (strings owned by the entry). */
typedef struct event_wf {
    char id[MF_UUID_STR_SIZE];
    char *event; /* trigger_config.event */
    char *fkey[EVENT_WF_FILTERS_MAX], *fval[EVENT_WF_FILTERS_MAX];
    size_t nfilters;
    planner_plan plan;
    char error[MF_ERR_MAX]; /* "" when the plan loaded */
    int64_t win_start_ms;   /* the window whose run is below (0: none yet) */
    char run_id[MF_UUID_STR_SIZE];
    mf_uuid run;
} event_wf;

/*
 * Reload the active workflows with trigger_type 'event' (trigger_config {"event": "order_paid",
 * "filters": {"plan": "premium"}}) and their plans, loaded as of now_ms (unix ms: the time the
 * plan's date functions use). A workflow whose trigger_config, plan or target query is wrong
 * is kept with its error set (its events are dead-lettered with it); one that names no event
 * is left out. On success the new array replaces *cache (the old one is freed; each
 * workflow's known window run is kept) and its length *ncache. 0, or -1 with err (*cache
 * untouched).
 */
int event_wf_load(PGconn *pg, int64_t now_ms, event_wf **cache, size_t *ncache, mf_err *err);

/* Free n entries of wfs and wfs itself (NULL is fine). */
void event_wf_free(event_wf *wfs, size_t n);

/* 1 when every filter of w equals the event's attribute of that name, else 0. */
int event_wf_match(const event_wf *w, const mf_event *e);

/* The run of workflow w's current window (window_s long, Asia/Seoul aligned, on the wall
 * clock: the window's bounds are stored) into w->run / w->run_id, created on first use
 * (race-safe: the window row's primary key decides, a loser reads the winner's run).
 * 0, or -1 with err. */
int event_wf_window_run(PGconn *pg, event_wf *w, long long window_s, mf_err *err);

/* Close the windows whose end is grace_s past: their runs' counts are final
 * (expansion_finished_at), then the completion check of docs/pipeline.md. Failures are
 * logged to log. */
void event_wf_close_windows(PGconn *pg, long long grace_s, mf_log *log);

/* Deletes the mf_event_jobs records of windows that ended more than keep_days ago, at most
 * EVENT_WF_PRUNE_MAX rows per call in statements of a few thousand rows (short locks; the next
 * call goes on). Failures are logged, not returned: pruning is housekeeping. Returns the
 * number of rows deleted. */
#define EVENT_WF_PRUNE_MAX 200000
long long event_wf_prune_jobs(PGconn *pg, long long keep_days, mf_log *log);

#endif

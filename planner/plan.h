/* plan: what a run expands: the workflow's target query, template and variables. */
/* Loaded and checked once per run. */
#ifndef PLANNER_PLAN_H
#define PLANNER_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_uuid.h"

typedef enum planner_var_kind {
    PLANNER_VAR_COLUMN = 1, /* a column of the target row */
    PLANNER_VAR_STATIC,     /* a fixed value (static, function: computed once per run) */
    PLANNER_VAR_QUERY       /* a parameterised MySQL query, cached per parameter tuple */
} planner_var_kind;

/* One template variable and how to resolve it. Strings are owned by the plan. */
typedef struct planner_var {
    char *name;
    planner_var_kind kind;
    char *column;  /* COLUMN: the row column; QUERY: result column (NULL: the first) */
    char *value;   /* STATIC: the value */
    char *def;     /* default when there is no value (NULL: none, the variable is missing) */
    char *sql;     /* QUERY: the SELECT with `?` placeholders */
    char **params; /* QUERY: row columns bound to the placeholders, in order */
    size_t nparams;
} planner_var;

typedef struct planner_plan {
    mf_uuid wf, tpl;
    mf_msg_type type;      /* message_templates.message_type */
    char *query;           /* target_config.query (passed mf_sqlguard) */
    char *key_column;      /* target_config.key_column (default "id") */
    char *phone_column;    /* target_config.phone_column (default "phone") */
    char *name_column;     /* target_config.name_column (default "name") */
    char *consent_column;  /* message_config.advertising.night_consent_column: the target
                              * column holding each recipient's consent to advertising at
                              * night (NULL: none; nobody consented) */
    unsigned time_limit_s; /* target_config.time_limit_s (0: the planner's limit; above
                              * MF_MYSQL_TIME_LIMIT_S it is clamped to it) */
    planner_var *vars;
    size_t nvars;
} planner_plan;

/*
 * Load the workflow and its template and build the plan. run_started_ms is the run's start
 * (function variables `now` / `today` use it, so a re-expansion yields the same values).
 * Returns 0; or -1 with err and *permanent = 1 for a configuration error that retrying cannot
 * fix (missing workflow or template, bad JSON shape, a query the guard rejects, unknown
 * mapping or query template), *permanent = 0 for a database failure.
 * The caller owns the plan: planner_plan_free.
 */
int planner_plan_load(PGconn *conn, const char *workflow_id, uint64_t run_started_ms,
                      planner_plan *plan, int *permanent, mf_err *err);

/* The same for an event-triggered workflow (planner/events.c): target_config.query may be
 * absent (plan->query NULL: every event names its recipient's phone); when present it must
 * have exactly one `?`, bound to the event's customer key. now_ms stands for the run start of
 * function variables (the plan is reloaded every MF_PLANNER_EVENTS_REFRESH_MS). */
int planner_plan_load_event(PGconn *conn, const char *workflow_id, uint64_t now_ms,
                            planner_plan *plan, int *permanent, mf_err *err);

/* Only wf, tpl and type (for a replay): the workflow's CURRENT message_config.template_id and
 * its message_type. Same return and *permanent rules as planner_plan_load. */
int planner_plan_load_template(PGconn *conn, const char *workflow_id, planner_plan *plan,
                               int *permanent, mf_err *err);

void planner_plan_free(planner_plan *plan);

/* Format unix time t (seconds) with strftime in the given zone (see schedule.h). Used for
 * function variables: "now" (default format "%Y-%m-%d %H:%M") and "today" ("%Y-%m-%d").
 * Returns 0 or -1 (unknown function or zone, output over outsz). */
int planner_plan_function(const char *fn, const char *format, const char *tz, int64_t t, char *out,
                          size_t outsz, mf_err *err);

#endif

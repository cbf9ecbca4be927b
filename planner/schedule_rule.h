/* schedule_rule: parse schedules (interval, 5-field cron), compute the next slot; no I/O. */
#ifndef PLANNER_SCHEDULE_RULE_H
#define PLANNER_SCHEDULE_RULE_H

#include <stdint.h>

#include "mf_err.h"

/*
 * Pure functions, no I/O, no process-wide state (the TZ environment variable is never read or
 * changed). Times are unix seconds (UTC). Schedules are evaluated in the local wall time of
 * their zone; the supported zones have no daylight saving time, so a zone is a fixed offset
 * (table in schedule_rule.c: Asia/Seoul +09:00, UTC). An unknown zone is a configuration error.
 */

/* Longest accepted zone name (terminator included). */
#define PLANNER_TZ_MAX 48

typedef enum planner_sched_type {
    PLANNER_SCHED_INTERVAL = 1,
    PLANNER_SCHED_CRON
} planner_sched_type;

/* A parsed cron expression: one bit per allowed value of each field. */
typedef struct planner_cron {
    uint64_t minutes; /* bits 0-59 */
    uint32_t hours;   /* bits 0-23 */
    uint32_t dom;     /* bits 1-31 */
    uint32_t months;  /* bits 1-12 */
    uint32_t dow;     /* bits 0-6, 0 = Sunday (7 is accepted as Sunday) */
    int dom_star;     /* the day-of-month field started with '*' */
    int dow_star;     /* the day-of-week field started with '*' */
} planner_cron;

typedef struct planner_schedule {
    planner_sched_type type;
    long long every_s; /* interval: seconds between slots */
    planner_cron cron; /* cron */
    int tz_offset_s;   /* east of UTC */
    char tz[PLANNER_TZ_MAX];
} planner_schedule;

/* Offset of a supported zone ("Asia/Seoul", "UTC", "Etc/UTC"; NULL or "" = Asia/Seoul).
 * Returns 0, or -1 with `unsupported time zone "X"`. */
int planner_tz_offset(const char *tz, int *offset_s, mf_err *err);

/*
 * Parse a standard 5-field cron expression "minute hour day-of-month month day-of-week":
 * `*`, numbers, ranges `a-b`, steps `* /n` `a-b/n` `a/n` (a/n = a to the field's maximum),
 * lists `x,y`, month names JAN-DEC and day names SUN-SAT (any case), day-of-week 7 = Sunday,
 * and the macros @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * Day matching follows Vixie cron: when both day fields are restricted (neither starts with
 * `*`), a day matches if EITHER matches; otherwise both must match.
 * Returns 0, or -1 with a message naming the field.
 */
int planner_cron_parse(const char *expr, planner_cron *out, mf_err *err);

/*
 * Parse workflows.schedule_config (JSON text):
 *   {"type":"interval","every_s":N,"tz":"Asia/Seoul"}  N in [1, 366 days]
 *   {"type":"cron","cron":"0 9 * * 1-5","tz":"Asia/Seoul"}
 * tz is optional (Asia/Seoul). Returns 0, or -1 with a message naming the bad key.
 */
int planner_schedule_parse(const char *json, planner_schedule *out, mf_err *err);

/*
 * The first slot strictly after `after` (unix s) into *next.
 * Interval slots are anchor + k * every_s where the anchor is 1970-01-01 00:00 local time of
 * the zone (every_s = 3600: on the hour; 86400: local midnight; 300: every 5 minutes).
 * Cron slots are the matching minutes of local wall time. Fails (-1) only for a cron
 * expression that matches no day within 28 years (e.g. "0 0 31 2 *").
 */
int planner_schedule_next(const planner_schedule *s, int64_t after, int64_t *next, mf_err *err);

/* Calendar helpers (proleptic Gregorian), exposed for the tests: days since 1970-01-01. */
int64_t planner_days_from_civil(int64_t y, unsigned m, unsigned d);
void planner_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif

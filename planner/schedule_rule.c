/* schedule_rule: parse schedules (interval, 5-field cron), compute the next slot; no I/O. */
#include "schedule_rule.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* Zones without daylight saving time, as fixed offsets. Asia/Seoul has had no DST since 1988;
 * extend the table (or switch to reading /usr/share/zoneinfo) before adding a DST zone. */
static const struct {
    const char *name;
    int offset_s;
} ZONES[] = {
    {"Asia/Seoul", 9 * 3600}, {"ROK", 9 * 3600}, {"UTC", 0},
    {"Etc/UTC", 0},           {"Etc/GMT", 0},    {"GMT", 0},
};

#define CRON_SEARCH_DAYS (28 * 366)
#define INTERVAL_MAX_S ((long long)366 * 86400)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t planner_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void planner_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int planner_tz_offset(const char *tz, int *offset_s, mf_err *err)
{
    if (tz == NULL || tz[0] == '\0')
        tz = "Asia/Seoul";
    for (size_t i = 0; i < sizeof(ZONES) / sizeof(ZONES[0]); i++) {
        if (strcmp(ZONES[i].name, tz) == 0) {
            *offset_s = ZONES[i].offset_s;
            return 0;
        }
    }
    return mf_err_set(err, "unsupported time zone \"%.64s\" (supported: Asia/Seoul, UTC)", tz);
}

/* ---- cron parsing ---------------------------------------------------------------------- */

typedef struct cron_field {
    const char *label;
    unsigned lo, hi;
    const char *const *names; /* names[i] is value lo_name + i */
    unsigned names_base;
    size_t nnames;
} cron_field;

static const char *const MONTH_NAMES[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const DOW_NAMES[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const cron_field FIELDS[5] = {
    {"minute", 0, 59, NULL, 0, 0},          {"hour", 0, 23, NULL, 0, 0},
    {"day of month", 1, 31, NULL, 0, 0},    {"month", 1, 12, MONTH_NAMES, 1, 12},
    {"day of week", 0, 7, DOW_NAMES, 0, 7},
};

/* Parse one value (number or name) at *p; advances *p. */
static int cron_value(const cron_field *f, const char **p, unsigned *out, mf_err *err)
{
    const char *s = *p;

    if (isdigit((unsigned char)*s)) {
        unsigned long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (unsigned)(*s++ - '0');
        if (v < f->lo || v > f->hi)
            return mf_err_set(err, "cron %s: value %lu out of range %u-%u", f->label, v, f->lo,
                              f->hi);
        *out = (unsigned)v;
        *p = s;
        return 0;
    }
    for (size_t i = 0; i < f->nnames; i++) {
        if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *out = f->names_base + (unsigned)i;
            *p = s + 3;
            return 0;
        }
    }
    return mf_err_set(err, "cron %s: unexpected \"%.16s\"", f->label, s);
}

/* Parse an optional "/step" at *p. */
static int cron_step(const cron_field *f, const char **p, unsigned *step, mf_err *err)
{
    const char *s = *p;
    unsigned long v = 0;

    *step = 1;
    if (*s != '/')
        return 0;
    s++;
    if (!isdigit((unsigned char)*s))
        return mf_err_set(err, "cron %s: step must be a number", f->label);
    while (isdigit((unsigned char)*s) && v < 1000)
        v = v * 10 + (unsigned)(*s++ - '0');
    if (v == 0 || v > f->hi + 1)
        return mf_err_set(err, "cron %s: step %lu out of range", f->label, v);
    *step = (unsigned)v;
    *p = s;
    return 0;
}

/* Parse one list item ("*", "a", "a-b", each with an optional "/n") into the bit set. */
static int cron_item(const cron_field *f, const char **p, uint64_t *bits, mf_err *err)
{
    unsigned a, b, step;
    int single = 0;

    if (**p == '*') {
        a = f->lo;
        b = f->hi;
        (*p)++;
    } else {
        if (cron_value(f, p, &a, err) != 0)
            return -1;
        b = a;
        single = **p != '-';
        if (**p == '-') {
            (*p)++;
            if (cron_value(f, p, &b, err) != 0)
                return -1;
            if (b < a)
                return mf_err_set(err, "cron %s: range %u-%u is backwards", f->label, a, b);
        }
    }
    if (cron_step(f, p, &step, err) != 0)
        return -1;
    if (step > 1 && single)
        b = f->hi; /* "a/n": from a to the maximum */
    for (unsigned v = a; v <= b; v += step)
        *bits |= (uint64_t)1 << v;
    return 0;
}

static int cron_field_parse(const cron_field *f, const char *text, uint64_t *bits, mf_err *err)
{
    const char *p = text;

    *bits = 0;
    for (;;) {
        if (cron_item(f, &p, bits, err) != 0)
            return -1;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return mf_err_set(err, "cron %s: unexpected \"%.16s\"", f->label, p);
        p++;
    }
}

static const char *cron_macro(const char *expr)
{
    static const struct {
        const char *name, *expansion;
    } MACROS[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(MACROS) / sizeof(MACROS[0]); i++) {
        if (strcasecmp(expr, MACROS[i].name) == 0)
            return MACROS[i].expansion;
    }
    return expr;
}

/* Split expr into exactly 5 blank-separated fields (copied into bufs). */
static int cron_split(const char *expr, char bufs[5][64], mf_err *err)
{
    const char *p = expr;
    int n = 0;

    for (;;) {
        size_t len = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n == 5)
            return mf_err_set(err, "cron expression has more than 5 fields");
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (len + 1 >= sizeof(bufs[0]))
                return mf_err_set(err, "cron field %d is too long", n + 1);
            bufs[n][len++] = *p++;
        }
        bufs[n++][len] = '\0';
    }
    if (n != 5)
        return mf_err_set(err, "cron expression needs 5 fields, got %d", n);
    return 0;
}

int planner_cron_parse(const char *expr, planner_cron *out, mf_err *err)
{
    char f[5][64];
    uint64_t bits[5];

    if (expr == NULL)
        return mf_err_set(err, "cron expression is missing");
    if (cron_split(cron_macro(expr), f, err) != 0)
        return -1;
    for (int i = 0; i < 5; i++) {
        if (cron_field_parse(&FIELDS[i], f[i], &bits[i], err) != 0)
            return -1;
    }
    memset(out, 0, sizeof(*out));
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->months = (uint32_t)bits[3];
    out->dow = (uint32_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 -> Sunday (0) */
    out->dom_star = f[2][0] == '*';
    out->dow_star = f[4][0] == '*';
    return 0;
}

/* ---- schedule_config ------------------------------------------------------------------- */

static int parse_interval(json_t *root, planner_schedule *out, mf_err *err)
{
    json_t *every = json_object_get(root, "every_s");

    if (!json_is_integer(every))
        return mf_err_set(err, "schedule_config.every_s must be an integer");
    out->every_s = json_integer_value(every);
    if (out->every_s < 1 || out->every_s > INTERVAL_MAX_S)
        return mf_err_set(err, "schedule_config.every_s %lld out of range 1-%lld", out->every_s,
                          INTERVAL_MAX_S);
    out->type = PLANNER_SCHED_INTERVAL;
    return 0;
}

static int parse_cron(json_t *root, planner_schedule *out, mf_err *err)
{
    json_t *cron = json_object_get(root, "cron");

    if (!json_is_string(cron))
        return mf_err_set(err, "schedule_config.cron must be a string");
    if (planner_cron_parse(json_string_value(cron), &out->cron, err) != 0)
        return mf_err_prefix(err, "schedule_config.cron");
    out->type = PLANNER_SCHED_CRON;
    return 0;
}

static int parse_tz(json_t *root, planner_schedule *out, mf_err *err)
{
    json_t *tz = json_object_get(root, "tz");
    const char *name = "Asia/Seoul";

    if (tz != NULL && !json_is_null(tz)) {
        if (!json_is_string(tz))
            return mf_err_set(err, "schedule_config.tz must be a string");
        name = json_string_value(tz);
    }
    if (planner_tz_offset(name, &out->tz_offset_s, err) != 0)
        return mf_err_prefix(err, "schedule_config.tz");
    snprintf(out->tz, sizeof(out->tz), "%s", name);
    return 0;
}

int planner_schedule_parse(const char *json, planner_schedule *out, mf_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json != NULL ? json : "", 0, &jerr);
    json_t *type;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return mf_err_set(err, "schedule_config is not valid JSON: %s", jerr.text);
    type = json_object_get(root, "type");
    if (!json_is_object(root) || !json_is_string(type)) {
        mf_err_set(err, "schedule_config.type must be \"interval\" or \"cron\"");
        goto out;
    }
    if (parse_tz(root, out, err) != 0)
        goto out;
    if (strcmp(json_string_value(type), "interval") == 0)
        rc = parse_interval(root, out, err);
    else if (strcmp(json_string_value(type), "cron") == 0)
        rc = parse_cron(root, out, err);
    else
        mf_err_set(err, "schedule_config.type must be \"interval\" or \"cron\"");
out:
    json_decref(root);
    return rc;
}

/* ---- next fire time -------------------------------------------------------------------- */

static int cron_day_matches(const planner_cron *c, int64_t day)
{
    int64_t y;
    unsigned m, d;
    unsigned dow = (unsigned)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int dom_ok, dow_ok;

    planner_civil_from_days(day, &y, &m, &d);
    if (!(c->months & (1u << m)))
        return 0;
    dom_ok = (c->dom >> d) & 1u;
    dow_ok = (c->dow >> dow) & 1u;
    if (c->dom_star || c->dow_star)
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* First matching minute of `day` at or after hh:mm, as seconds into the day, or -1. */
static int64_t cron_first_minute(const planner_cron *c, unsigned hh, unsigned mm)
{
    for (unsigned h = hh; h < 24; h++) {
        if (!((c->hours >> h) & 1u))
            continue;
        for (unsigned m = (h == hh ? mm : 0); m < 60; m++) {
            if ((c->minutes >> m) & 1u)
                return (int64_t)h * 3600 + (int64_t)m * 60;
        }
    }
    return -1;
}

static int cron_next(const planner_schedule *s, int64_t after, int64_t *next, mf_err *err)
{
    int64_t local = floor_div(after + s->tz_offset_s, 60) * 60 + 60; /* next whole minute */
    int64_t day = floor_div(local, 86400);
    int64_t sec = local - day * 86400;
    unsigned hh = (unsigned)(sec / 3600), mm = (unsigned)((sec % 3600) / 60);

    for (int i = 0; i < CRON_SEARCH_DAYS; i++, day++) {
        int64_t at;
        if (!cron_day_matches(&s->cron, day))
            continue;
        at = cron_first_minute(&s->cron, i == 0 ? hh : 0, i == 0 ? mm : 0);
        if (at >= 0) {
            *next = day * 86400 + at - s->tz_offset_s;
            return 0;
        }
    }
    return mf_err_set(err, "cron expression matches no time within 28 years");
}

int planner_schedule_next(const planner_schedule *s, int64_t after, int64_t *next, mf_err *err)
{
    if (s->type == PLANNER_SCHED_INTERVAL) {
        int64_t anchor = -(int64_t)s->tz_offset_s;
        int64_t k = floor_div(after - anchor, s->every_s) + 1;
        *next = anchor + k * s->every_s;
        return 0;
    }
    if (s->type == PLANNER_SCHED_CRON)
        return cron_next(s, after, next, err);
    return mf_err_set(err, "schedule has no type");
}

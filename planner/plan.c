/* plan: what a run expands: the workflow's target query, template and variables. */
/* Loaded and checked once per run. */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mf_pg.h"
#include "mf_sqlguard.h"
#include "mf_template.h"
#include "schedule_rule.h"

#define FN_VALUE_MAX 256

/* Loading state: the plan being built plus what the variables need. */
typedef struct loader {
    PGconn *conn;
    planner_plan *plan;
    json_t *variables; /* workflows.variables (object) */
    const char *tz;    /* default zone of function variables */
    int64_t run_started_s;
    int permanent; /* the last failure is a configuration error */
    mf_err *err;
    int query_optional; /* an event workflow: the target query may be absent */
} loader;

static char *dup_str(const char *s)
{
    size_t n;
    char *p;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Config failure: permanent. */
static int bad(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(loader *l, const char *fmt, ...)
{
    va_list ap;

    l->permanent = 1;
    if (l->err != NULL) {
        va_start(ap, fmt);
        vsnprintf(l->err->msg, sizeof(l->err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static json_t *parse_json(loader *l, const char *text, const char *what)
{
    json_error_t jerr;
    json_t *j = json_loads(text != NULL ? text : "{}", 0, &jerr);

    if (j == NULL || !json_is_object(j)) {
        bad(l, "%s is not a JSON object%s", what, j == NULL ? " (not valid JSON)" : "");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Optional string member; *out stays NULL when absent. Fails when present but not a string. */
static int opt_str(loader *l, json_t *obj, const char *what, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        l->permanent = 1;
        return mf_err_set(l->err, "%s.%s must be a string", what, key);
    }
    *out = json_string_value(v);
    return 0;
}

static int str_or(loader *l, json_t *obj, const char *what, const char *key, const char *def,
                  char **out)
{
    const char *s;

    if (opt_str(l, obj, what, key, &s) != 0)
        return -1;
    *out = dup_str(s != NULL ? s : def);
    if (*out == NULL && (s != NULL || def != NULL))
        return mf_err_set(l->err, "out of memory");
    return 0;
}

static int load_target(loader *l, json_t *tc)
{
    planner_plan *p = l->plan;
    const char *src;
    json_t *tl = json_object_get(tc, "time_limit_s");
    mf_err gerr;

    if (opt_str(l, tc, "target_config", "source", &src) != 0)
        return -1;
    if (src != NULL && strcmp(src, "mysql") != 0)
        return bad(l, "target_config.source \"%.64s\" is not supported", src);
    if (str_or(l, tc, "target_config", "query", NULL, &p->query) != 0 ||
        str_or(l, tc, "target_config", "key_column", "id", &p->key_column) != 0 ||
        str_or(l, tc, "target_config", "phone_column", "phone", &p->phone_column) != 0 ||
        str_or(l, tc, "target_config", "name_column", "name", &p->name_column) != 0)
        return -1;
    if (p->query == NULL && l->query_optional)
        return 0;
    if (p->query == NULL)
        return bad(l, "target_config.query is missing");
    if (mf_sqlguard_check(p->query, 0, NULL, &gerr) != 0)
        return bad(l, "target_config.query rejected: %s", gerr.msg);
    if (tl != NULL && !json_is_null(tl)) {
        if (!json_is_integer(tl) || json_integer_value(tl) < 1 || json_integer_value(tl) > 3600)
            return bad(l, "target_config.time_limit_s must be an integer in 1-3600");
        p->time_limit_s = (unsigned)json_integer_value(tl);
    }
    return 0;
}

static int parse_msg_type(const char *s, mf_msg_type *out)
{
    static const struct {
        const char *name;
        mf_msg_type t;
    } T[] = {{"sms", MF_TYPE_SMS}, {"lms", MF_TYPE_LMS}, {"kakao", MF_TYPE_KAKAO}};
    for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
        if (strcmp(s, T[i].name) == 0) {
            *out = T[i].t;
            return 0;
        }
    }
    return -1;
}

/* One row of one column, or NULL result with err (transient) / no row (permanent). */
static PGresult *fetch_row(loader *l, const char *sql, const char *id, const char *what)
{
    const char *params[1] = {id};
    PGresult *res = mf_pg_query(l->conn, sql, 1, params, l->err);

    if (res == NULL) {
        mf_err_prefix(l->err, "could not load %s %s", what, id);
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        bad(l, "%s %s not found", what, id);
        return NULL;
    }
    return res;
}

static int check_uuid(loader *l, const char *id, const char *what, mf_uuid *out)
{
    mf_err uerr;

    if (id == NULL)
        return bad(l, "%s is missing", what);
    if (mf_uuid_parse(id, out, &uerr) != 0)
        return bad(l, "%s \"%.64s\" is not a uuid", what, id);
    return 0;
}

/* ---- variables ------------------------------------------------------------------------- */

typedef struct name_list {
    char names[128][MF_TEMPLATE_NAME_MAX + 1];
    size_t n;
    int overflow;
} name_list;

static int collect_name(void *arg, const char *name, size_t len)
{
    name_list *nl = arg;

    if (len == 0 || len > MF_TEMPLATE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < nl->n; i++) {
        if (strlen(nl->names[i]) == len && memcmp(nl->names[i], name, len) == 0)
            return 0;
    }
    if (nl->n == sizeof(nl->names) / sizeof(nl->names[0])) {
        nl->overflow = 1;
        return 1;
    }
    memcpy(nl->names[nl->n], name, len);
    nl->names[nl->n++][len] = '\0';
    return 0;
}

int planner_plan_function(const char *fn, const char *format, const char *tz, int64_t t, char *out,
                          size_t outsz, mf_err *err)
{
    int off;
    time_t local;
    struct tm tm;
    size_t n;

    if (planner_tz_offset(tz, &off, err) != 0)
        return -1;
    if (strcmp(fn, "now") == 0) {
        if (format == NULL)
            format = "%Y-%m-%d %H:%M";
    } else if (strcmp(fn, "today") == 0) {
        if (format == NULL)
            format = "%Y-%m-%d";
    } else {
        return mf_err_set(err, "unknown function \"%.32s\" (now, today)", fn);
    }
    local = (time_t)(t + off);
    if (gmtime_r(&local, &tm) == NULL)
        return mf_err_set(err, "time out of range");
    if (format[0] == '\0') {
        out[0] = '\0';
        return 0;
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(out, outsz, format, &tm); /* the format is the workflow's configuration */
#pragma GCC diagnostic pop
    if (n == 0)
        return mf_err_set(err, "function %s: format gives no text or too much", fn);
    return 0;
}

static int set_function(loader *l, planner_var *v, const char *fn, const char *format,
                        const char *tz)
{
    char buf[FN_VALUE_MAX];

    if (fn == NULL)
        return bad(l, "variable \"%s\": function is missing", v->name);
    if (planner_plan_function(fn, format, tz != NULL ? tz : l->tz, l->run_started_s, buf,
                              sizeof(buf), l->err) != 0) {
        l->permanent = 1;
        return mf_err_prefix(l->err, "variable \"%s\"", v->name);
    }
    v->kind = PLANNER_VAR_STATIC;
    v->value = dup_str(buf);
    return v->value != NULL ? 0 : mf_err_set(l->err, "out of memory");
}

static int set_params(loader *l, planner_var *v, json_t *entry)
{
    json_t *params = json_object_get(entry, "params");
    size_t i;
    json_t *p;

    if (params == NULL || json_is_null(params))
        return 0;
    if (!json_is_array(params) || json_array_size(params) > 16)
        return bad(l, "variable \"%s\": params must be an array of at most 16 column names",
                   v->name);
    v->params = calloc(json_array_size(params) + 1, sizeof(char *));
    if (v->params == NULL)
        return mf_err_set(l->err, "out of memory");
    json_array_foreach(params, i, p)
    {
        if (!json_is_string(p))
            return bad(l, "variable \"%s\": params must be column names", v->name);
        v->params[i] = dup_str(json_string_value(p));
        v->nparams = i + 1;
        if (v->params[i] == NULL)
            return mf_err_set(l->err, "out of memory");
    }
    return 0;
}

static int set_query(loader *l, planner_var *v, const char *sql, const char *column, json_t *entry)
{
    mf_err gerr;
    size_t marks = 0;

    if (mf_sqlguard_check(sql, 0, NULL, &gerr) != 0)
        return bad(l, "variable \"%s\": query rejected: %s", v->name, gerr.msg);
    if (set_params(l, v, entry) != 0)
        return -1;
    for (const char *s = sql; *s != '\0'; s++)
        marks += *s == '?';
    if (marks != v->nparams)
        return bad(l, "variable \"%s\": query placeholders and params differ in number", v->name);
    v->kind = PLANNER_VAR_QUERY;
    v->sql = dup_str(sql);
    v->column = dup_str(column);
    return v->sql != NULL ? 0 : mf_err_set(l->err, "out of memory");
}

static int var_mapping(loader *l, planner_var *v, json_t *entry)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT source_type, source_field, selected_column, default_value"
        " FROM individual_variable_mappings WHERE id = $1::uuid";
    /* clang-format on */
    const char *id;
    mf_uuid u;
    PGresult *res;
    int rc = -1;

    if (opt_str(l, entry, "variables", "mapping_id", &id) != 0 ||
        check_uuid(l, id, "mapping_id", &u) != 0)
        return -1;
    res = fetch_row(l, sql, id, "variable mapping");
    if (res == NULL)
        return -1;
    if (v->def == NULL && !PQgetisnull(res, 0, 3))
        v->def = dup_str(PQgetvalue(res, 0, 3));
    const char *type = PQgetvalue(res, 0, 0), *field = PQgetvalue(res, 0, 1);
    const char *col = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
    if (strcmp(type, "static") == 0) {
        v->kind = PLANNER_VAR_STATIC;
        v->value = dup_str(field);
        rc = v->value != NULL ? 0 : mf_err_set(l->err, "out of memory");
    } else if (strcmp(type, "function") == 0) {
        char fn[32];
        const char *colon = strchr(field, ':');
        size_t n = colon != NULL ? (size_t)(colon - field) : strlen(field);
        snprintf(fn, sizeof(fn), "%.*s", (int)(n < sizeof(fn) ? n : sizeof(fn) - 1), field);
        rc = set_function(l, v, fn, colon != NULL ? colon + 1 : NULL, NULL);
    } else {
        rc = set_query(l, v, field, col, entry);
    }
    PQclear(res);
    return rc;
}

static int var_query(loader *l, planner_var *v, json_t *entry)
{
    /* clang-format off */
    static const char sql[] = "SELECT query_sql FROM variable_query_templates WHERE id = $1::uuid";
    /* clang-format on */
    const char *id, *column;
    mf_uuid u;
    PGresult *res;
    int rc;

    if (opt_str(l, entry, "variables", "query_template_id", &id) != 0 ||
        opt_str(l, entry, "variables", "column", &column) != 0 ||
        check_uuid(l, id, "query_template_id", &u) != 0)
        return -1;
    res = fetch_row(l, sql, id, "variable query template");
    if (res == NULL)
        return -1;
    rc = set_query(l, v, PQgetvalue(res, 0, 0), column, entry);
    PQclear(res);
    return rc;
}

static int var_from_entry(loader *l, planner_var *v, json_t *entry)
{
    const char *source, *s1, *s2, *s3;

    if (!json_is_object(entry))
        return bad(l, "variables.%s must be an object", v->name);
    if (opt_str(l, entry, "variables", "source", &source) != 0 ||
        opt_str(l, entry, "variables", "default", &s1) != 0)
        return -1;
    v->def = dup_str(s1);
    if (source == NULL || strcmp(source, "column") == 0) {
        if (opt_str(l, entry, "variables", "column", &s1) != 0)
            return -1;
        v->kind = PLANNER_VAR_COLUMN;
        v->column = dup_str(s1 != NULL ? s1 : v->name);
        return v->column != NULL ? 0 : mf_err_set(l->err, "out of memory");
    }
    if (strcmp(source, "static") == 0) {
        if (opt_str(l, entry, "variables", "value", &s1) != 0)
            return -1;
        v->kind = PLANNER_VAR_STATIC;
        v->value = dup_str(s1 != NULL ? s1 : "");
        return v->value != NULL ? 0 : mf_err_set(l->err, "out of memory");
    }
    if (strcmp(source, "function") == 0) {
        if (opt_str(l, entry, "variables", "function", &s1) != 0 ||
            opt_str(l, entry, "variables", "format", &s2) != 0 ||
            opt_str(l, entry, "variables", "tz", &s3) != 0)
            return -1;
        return set_function(l, v, s1, s2, s3);
    }
    if (strcmp(source, "mapping") == 0)
        return var_mapping(l, v, entry);
    if (strcmp(source, "query") == 0)
        return var_query(l, v, entry);
    return bad(l, "variables.%s: unknown source \"%.32s\"", v->name, source);
}

static int load_vars(loader *l, const name_list *nl)
{
    planner_plan *p = l->plan;

    p->vars = calloc(nl->n + 1, sizeof(planner_var));
    if (p->vars == NULL)
        return mf_err_set(l->err, "out of memory");
    for (size_t i = 0; i < nl->n; i++) {
        planner_var *v = &p->vars[i];
        json_t *entry = json_object_get(l->variables, nl->names[i]);
        p->nvars = i + 1;
        v->name = dup_str(nl->names[i]);
        if (v->name == NULL)
            return mf_err_set(l->err, "out of memory");
        if (entry == NULL) { /* no entry: the target column of the same name */
            v->kind = PLANNER_VAR_COLUMN;
            v->column = dup_str(v->name);
            if (v->column == NULL)
                return mf_err_set(l->err, "out of memory");
            continue;
        }
        if (var_from_entry(l, v, entry) != 0)
            return -1;
    }
    return 0;
}

/* ---- workflow and template ------------------------------------------------------------- */

static int load_template(loader *l, json_t *mc, name_list *nl)
{
    /* clang-format off */
    static const char sql[] = "SELECT content, message_type FROM message_templates"
                              " WHERE id = $1::uuid";
    /* clang-format on */
    const char *id, *subject;
    PGresult *res;
    int rc = 0;

    if (opt_str(l, mc, "message_config", "template_id", &id) != 0 ||
        check_uuid(l, id, "message_config.template_id", &l->plan->tpl) != 0 ||
        opt_str(l, mc, "message_config", "subject", &subject) != 0)
        return -1;
    res = fetch_row(l, sql, id, "template");
    if (res == NULL)
        return -1;
    if (parse_msg_type(PQgetvalue(res, 0, 1), &l->plan->type) != 0)
        rc = bad(l, "template %s has unknown message_type \"%.16s\"", id, PQgetvalue(res, 0, 1));
    mf_template_each_variable(PQgetvalue(res, 0, 0), collect_name, nl);
    if (subject != NULL)
        mf_template_each_variable(subject, collect_name, nl);
    if (rc == 0 && nl->overflow)
        rc = bad(l, "template %s uses more than 128 variables", id);
    PQclear(res);
    return rc;
}

/* message_config.advertising.night_consent_column (optional, a non-empty string); also
 * checks message_config.rate_per_minute (optional, a number above 0, applied by the senders)
 * so that a bad value fails the run before anything is sent. */
static int load_consent(loader *l, json_t *mc)
{
    json_t *ad = json_object_get(mc, "advertising");
    json_t *rate = json_object_get(mc, "rate_per_minute");
    const char *col;

    if (rate != NULL && !json_is_null(rate) &&
        (!json_is_number(rate) || !(json_number_value(rate) > 0) || json_number_value(rate) > 6e8))
        return bad(l, "message_config.rate_per_minute must be a number above 0");

    if (ad == NULL || json_is_null(ad))
        return 0;
    if (!json_is_object(ad))
        return bad(l, "message_config.advertising must be an object");
    if (opt_str(l, ad, "message_config.advertising", "night_consent_column", &col) != 0)
        return -1;
    if (col == NULL)
        return 0;
    if (*col == '\0')
        return bad(l, "message_config.advertising.night_consent_column is empty");
    l->plan->consent_column = dup_str(col);
    return l->plan->consent_column != NULL ? 0 : mf_err_set(l->err, "out of memory");
}

static int load_configs(loader *l, PGresult *wf)
{
    json_t *tc = NULL, *mc = NULL, *sc = NULL;
    name_list *nl = calloc(1, sizeof(*nl));
    int rc = -1;

    if (nl == NULL)
        return mf_err_set(l->err, "out of memory");
    tc = parse_json(l, PQgetvalue(wf, 0, 0), "target_config");
    mc = tc != NULL ? parse_json(l, PQgetvalue(wf, 0, 1), "message_config") : NULL;
    l->variables = mc != NULL ? parse_json(l, PQgetvalue(wf, 0, 2), "variables") : NULL;
    if (l->variables == NULL)
        goto out;
    sc = json_loads(PQgetvalue(wf, 0, 3), 0, NULL);
    l->tz = json_is_string(json_object_get(sc, "tz")) ? json_string_value(json_object_get(sc, "tz"))
                                                      : "Asia/Seoul";
    if (load_target(l, tc) == 0 && load_template(l, mc, nl) == 0 && load_consent(l, mc) == 0 &&
        load_vars(l, nl) == 0)
        rc = 0;
out:
    json_decref(tc);
    json_decref(mc);
    json_decref(sc);
    json_decref(l->variables);
    free(nl);
    return rc;
}

static int plan_load(PGconn *conn, const char *workflow_id, uint64_t run_started_ms,
                     int query_optional, planner_plan *plan, int *permanent, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "SELECT COALESCE(target_config, '{}')::text, COALESCE(message_config, '{}')::text,"
        " COALESCE(variables, '{}')::text, COALESCE(schedule_config, '{}')::text"
        " FROM workflows WHERE id = $1::uuid";
    /* clang-format on */
    loader l = {conn, plan, NULL,          "Asia/Seoul", (int64_t)(run_started_ms / 1000),
                0,    err,  query_optional};
    PGresult *res;
    int rc = -1;

    memset(plan, 0, sizeof(*plan));
    if (check_uuid(&l, workflow_id, "workflow id", &plan->wf) != 0)
        goto out;
    res = fetch_row(&l, sql, workflow_id, "workflow");
    if (res == NULL)
        goto out;
    rc = load_configs(&l, res);
    PQclear(res);
out:
    *permanent = l.permanent;
    if (rc != 0)
        planner_plan_free(plan);
    return rc;
}

int planner_plan_load(PGconn *conn, const char *workflow_id, uint64_t run_started_ms,
                      planner_plan *plan, int *permanent, mf_err *err)
{
    return plan_load(conn, workflow_id, run_started_ms, 0, plan, permanent, err);
}

int planner_plan_load_event(PGconn *conn, const char *workflow_id, uint64_t now_ms,
                            planner_plan *plan, int *permanent, mf_err *err)
{
    return plan_load(conn, workflow_id, now_ms, 1, plan, permanent, err);
}

int planner_plan_load_template(PGconn *conn, const char *workflow_id, planner_plan *plan,
                               int *permanent, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT COALESCE(message_config, '{}')::text FROM workflows"
                              " WHERE id = $1::uuid";
    /* clang-format on */
    loader l = {conn, plan, NULL, "Asia/Seoul", 0, 0, err, 0};
    name_list *nl = calloc(1, sizeof(*nl));
    json_t *mc = NULL;
    PGresult *res = NULL;
    int rc = -1;

    memset(plan, 0, sizeof(*plan));
    if (nl == NULL) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    if (check_uuid(&l, workflow_id, "workflow id", &plan->wf) != 0)
        goto out;
    res = fetch_row(&l, sql, workflow_id, "workflow");
    if (res == NULL)
        goto out;
    mc = parse_json(&l, PQgetvalue(res, 0, 0), "message_config");
    if (mc != NULL && load_template(&l, mc, nl) == 0)
        rc = 0;
out:
    PQclear(res);
    json_decref(mc);
    free(nl);
    *permanent = l.permanent;
    if (rc != 0)
        planner_plan_free(plan);
    return rc;
}

void planner_plan_free(planner_plan *plan)
{
    for (size_t i = 0; plan->vars != NULL && i < plan->nvars; i++) {
        planner_var *v = &plan->vars[i];
        free(v->name);
        free(v->column);
        free(v->value);
        free(v->def);
        free(v->sql);
        for (size_t j = 0; j < v->nparams; j++)
            free(v->params[j]);
        free(v->params);
    }
    free(plan->vars);
    free(plan->query);
    free(plan->key_column);
    free(plan->phone_column);
    free(plan->name_column);
    free(plan->consent_column);
    memset(plan, 0, sizeof(*plan));
}

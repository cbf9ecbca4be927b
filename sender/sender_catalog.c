/* sender_catalog: cached templates, workflow message_config and system_settings from PostgreSQL. */
#include "sender_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_pg.h"
#include "mf_pgarr.h"
#include "sender_rules.h"

#define NBUCKETS 1024
#define MAX_ENTRIES 20000

typedef struct entry {
    struct entry *next;
    mf_uuid id;
    int is_wf;
    int found;
    int64_t expires_ms;
    char *strs[7]; /* owned strings */
    sender_template tpl;
    sender_wfconf wf;
} entry;

struct sender_catalog {
    long long ttl_ms;
    entry *buckets[NBUCKETS];
    size_t n_entries;
    sender_settings settings;
    char *settings_strs[2];
    int64_t settings_expires_ms;
    int settings_loaded;
    unsigned long queries;
    mf_pgarr arr;
};

static unsigned bucket_of(const mf_uuid *id, int is_wf)
{
    uint32_t h = 2166136261u;

    for (int i = 0; i < 16; i++)
        h = (h ^ id->b[i]) * 16777619u;
    return (h ^ (unsigned)is_wf) % NBUCKETS;
}

static void entry_clear(entry *e)
{
    for (size_t i = 0; i < sizeof(e->strs) / sizeof(e->strs[0]); i++) {
        free(e->strs[i]);
        e->strs[i] = NULL;
    }
    memset(&e->tpl, 0, sizeof(e->tpl));
    memset(&e->wf, 0, sizeof(e->wf));
    e->found = 0;
}

static entry *find(const sender_catalog *c, const mf_uuid *id, int is_wf)
{
    for (entry *e = c->buckets[bucket_of(id, is_wf)]; e; e = e->next)
        if (e->is_wf == is_wf && mf_uuid_equal(&e->id, id))
            return e;
    return NULL;
}

static void purge_expired(sender_catalog *c, int64_t now_ms)
{
    for (int b = 0; b < NBUCKETS; b++) {
        entry **pp = &c->buckets[b];

        while (*pp) {
            entry *e = *pp;

            if (e->expires_ms <= now_ms) {
                *pp = e->next;
                entry_clear(e);
                free(e);
                c->n_entries--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static entry *get_or_add(sender_catalog *c, const mf_uuid *id, int is_wf)
{
    entry *e = find(c, id, is_wf);
    unsigned b;

    if (e != NULL)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->id = *id;
    e->is_wf = is_wf;
    b = bucket_of(id, is_wf);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->n_entries++;
    return e;
}

sender_catalog *sender_catalog_new(long long ttl_ms)
{
    sender_catalog *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->ttl_ms = ttl_ms;
    mf_pgarr_init(&c->arr);
    return c;
}

static void settings_clear(sender_catalog *c)
{
    free(c->settings_strs[0]);
    free(c->settings_strs[1]);
    c->settings_strs[0] = c->settings_strs[1] = NULL;
    memset(&c->settings, 0, sizeof(c->settings));
}

void sender_catalog_free(sender_catalog *c)
{
    if (c == NULL)
        return;
    purge_expired(c, INT64_MAX);
    settings_clear(c);
    mf_pgarr_free(&c->arr);
    free(c);
}

/* Collect the ids needing a (re)load into the array literal; returns how many. */
static int collect(sender_catalog *c, const mf_uuid *ids, size_t n, int is_wf, int64_t now_ms,
                   size_t *count, mf_err *err)
{
    *count = 0;
    mf_pgarr_reset(&c->arr);
    for (size_t i = 0; i < n; i++) {
        entry *e = find(c, &ids[i], is_wf);
        int dup = 0;

        if (e != NULL && e->expires_ms > now_ms)
            continue;
        if (e == NULL) {
            e = get_or_add(c, &ids[i], is_wf);
            if (e == NULL)
                return mf_err_set(err, "out of memory");
        } else if (e->expires_ms == -1) {
            dup = 1; /* already collected in this call */
        }
        if (dup)
            continue;
        e->expires_ms = -1;
        if (mf_pgarr_add_uuid(&c->arr, &ids[i], err) != 0)
            return -1;
        (*count)++;
    }
    return mf_pgarr_finish(&c->arr, err) != NULL ? 0 : -1;
}

/* A copy of s ("" for NULL); NULL only when out of memory. */
static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* A member of obj that is a non-empty JSON string: *out gets a copy, NULL when the member is
 * absent or not such a string. 0, or -1 with err when out of memory. */
static int json_str_dup(json_t *obj, const char *key, char **out, mf_err *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    *out = strdup(json_string_value(v));
    if (*out == NULL)
        return mf_err_set(err, "out of memory reading message_config.%s", key);
    return 0;
}

/* A template or subject over a bound: keep only why (strs[5]), not the text. 0 or -1 with
 * err when out of memory. */
static int mark_invalid(entry *e, int text_slot, const char *why, mf_err *err)
{
    free(e->strs[text_slot]);
    e->strs[text_slot] = NULL;
    e->strs[5] = strdup(why);
    if (e->strs[5] == NULL)
        return mf_err_set(err, "out of memory keeping why a template is invalid");
    return 0;
}

/* Fills e->wf from a workflow's message_config. 0, or -1 with err when out of memory (JSON
 * that does not parse is an empty configuration, as an absent one). */
static int parse_wfconf(entry *e, const char *json, mf_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    json_t *kakao, *ad, *qh, *rate;
    mf_err e2;
    int rc = -1;

    e->wf.quiet_hours = 1;
    if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory) {
        mf_err_set(err, "out of memory parsing a workflow's message_config");
        goto out;
    }
    if (!json_is_object(root)) {
        rc = 0;
        goto out;
    }
    if (json_str_dup(root, "sender_number", &e->strs[0], err) != 0 ||
        json_str_dup(root, "subject", &e->strs[1], err) != 0)
        goto out;
    e->wf.sender_number = e->strs[0];
    e->wf.subject = e->strs[1];
    if (e->strs[1] != NULL && sender_rules_check_template("", e->strs[1], &e2) != 0) {
        if (mark_invalid(e, 1, e2.msg, err) != 0)
            goto out;
        e->wf.subject = NULL;
        e->wf.invalid = e->strs[5];
    }
    rate = json_object_get(root, "rate_per_minute");
    if (rate != NULL && !json_is_null(rate)) {
        if (json_is_number(rate) && json_number_value(rate) > 0 && json_number_value(rate) <= 6e8)
            e->wf.rate_per_min = json_number_value(rate);
        else if (e->wf.invalid == NULL)
            e->wf.invalid = "message_config.rate_per_minute must be a number above 0";
    }
    kakao = json_object_get(root, "kakao");
    if (json_is_object(kakao)) {
        if (json_str_dup(kakao, "pf_id", &e->strs[2], err) != 0)
            goto out;
        e->wf.pf_id = e->strs[2];
        e->wf.disable_sms = json_is_true(json_object_get(kakao, "disable_sms"));
    }
    ad = json_object_get(root, "advertising");
    if (json_is_object(ad)) {
        if (json_str_dup(ad, "sender_name", &e->strs[3], err) != 0 ||
            json_str_dup(ad, "opt_out", &e->strs[4], err) != 0)
            goto out;
        e->wf.ad_sender_name = e->strs[3];
        e->wf.ad_opt_out = e->strs[4];
        qh = json_object_get(ad, "quiet_hours");
        if (json_is_false(qh))
            e->wf.quiet_hours = 0;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Fills e->tpl from row `row` of the templates query. 0, or -1 with err when out of memory. */
static int fill_template(entry *e, PGresult *res, int row, mf_err *err)
{
    mf_err e2;

    for (int f = 0; f < 5; f++) {
        e->strs[f] = dup_or_empty(PQgetvalue(res, row, f + 1));
        if (e->strs[f] == NULL)
            return mf_err_set(err, "out of memory loading template %s", PQgetvalue(res, row, 0));
    }
    if (sender_rules_check_template(e->strs[3], NULL, &e2) != 0) {
        if (mark_invalid(e, 3, e2.msg, err) != 0)
            return -1;
        e->strs[3] = strdup("");
        if (e->strs[3] == NULL)
            return mf_err_set(err, "out of memory loading template %s", PQgetvalue(res, row, 0));
        e->tpl.invalid = e->strs[5];
    }
    e->tpl.message_type = e->strs[0];
    e->tpl.category = e->strs[1];
    e->tpl.template_code = e->strs[2];
    e->tpl.content = e->strs[3];
    e->tpl.buttons = e->strs[4];
    return 0;
}

/* Marks the collected entries as loaded (found or not) from a result of (id, ...) rows. On an
 * error (a bad id, out of memory) nothing is marked loaded: the caller forgets the collected
 * entries (forget_pending) and the next load asks again. */
static int apply_rows(sender_catalog *c, PGresult *res, int is_wf, int64_t now_ms, mf_err *err)
{
    for (int b = 0; b < NBUCKETS; b++)
        for (entry *e = c->buckets[b]; e; e = e->next)
            if (e->is_wf == is_wf && e->expires_ms == -1)
                entry_clear(e);
    for (int r = 0; r < PQntuples(res); r++) {
        mf_uuid id;
        entry *e;
        int rc;

        if (mf_uuid_parse(PQgetvalue(res, r, 0), &id, err) != 0)
            return -1;
        e = find(c, &id, is_wf);
        if (e == NULL)
            continue;
        entry_clear(e);
        e->found = 1;
        rc = is_wf ? parse_wfconf(e, PQgetvalue(res, r, 1), err) : fill_template(e, res, r, err);
        if (rc != 0) {
            entry_clear(e); /* not found rather than half filled */
            return -1;
        }
    }
    for (int b = 0; b < NBUCKETS; b++)
        for (entry *e = c->buckets[b]; e; e = e->next)
            if (e->is_wf == is_wf && e->expires_ms == -1)
                e->expires_ms = now_ms + c->ttl_ms;
    return 0;
}

static void forget_pending(sender_catalog *c)
{
    for (int b = 0; b < NBUCKETS; b++)
        for (entry *e = c->buckets[b]; e; e = e->next)
            if (e->expires_ms == -1)
                e->expires_ms = 0;
}

static int load_kind(sender_catalog *c, PGconn *pg, const mf_uuid *ids, size_t n, int is_wf,
                     int64_t now_ms, mf_err *err)
{
    static const char *tpl_sql =
        "SELECT id, message_type, coalesce(category, ''), coalesce(template_code, ''), content, "
        "coalesce(buttons, '[]'::jsonb)::text FROM message_templates WHERE id = ANY($1::uuid[])";
    static const char *wf_sql =
        "SELECT id, coalesce(message_config, '{}'::jsonb)::text FROM workflows "
        "WHERE id = ANY($1::uuid[])";
    const char *params[1];
    PGresult *res;
    size_t count;
    int rc;

    if (collect(c, ids, n, is_wf, now_ms, &count, err) != 0) {
        forget_pending(c);
        return -1;
    }
    if (count == 0)
        return 0;
    params[0] = c->arr.buf.data;
    c->queries++;
    res = mf_pg_query(pg, is_wf ? wf_sql : tpl_sql, 1, params, err);
    if (res == NULL) {
        forget_pending(c);
        return mf_err_prefix(err, "could not load %s", is_wf ? "workflows" : "templates");
    }
    rc = apply_rows(c, res, is_wf, now_ms, err);
    PQclear(res);
    if (rc != 0)
        forget_pending(c);
    return rc;
}

/* A JSON string setting value ("0212345678") or a bare one: *out gets its text, NULL when it
 * has none. 0, or -1 with err when out of memory. */
static int setting_text(const char *key, const char *json, char **out, mf_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    int rc = 0;

    *out = NULL;
    if (v == NULL && json_error_code(&jerr) == json_error_out_of_memory)
        return mf_err_set(err, "out of memory reading setting %s", key);
    if (json_is_string(v) && json_string_length(v) > 0) {
        *out = strdup(json_string_value(v));
    } else if (json_is_integer(v)) {
        char tmp[32];

        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
        *out = strdup(tmp);
    } else {
        goto out;
    }
    if (*out == NULL)
        rc = mf_err_set(err, "out of memory reading setting %s", key);
out:
    json_decref(v);
    return rc;
}

static int load_settings(sender_catalog *c, PGconn *pg, int64_t now_ms, mf_err *err)
{
    PGresult *res;
    int rc = 0;

    if (c->settings_loaded && c->settings_expires_ms > now_ms)
        return 0;
    c->queries++;
    res = mf_pg_query(pg,
                      "SELECT setting_key, setting_value::text FROM system_settings "
                      "WHERE setting_key IN ('coolsms_sender_number', 'kakao_pf_id')",
                      0, NULL, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not load system_settings");
    settings_clear(c);
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        int slot = strcmp(PQgetvalue(res, r, 0), "kakao_pf_id") == 0;

        free(c->settings_strs[slot]);
        rc = setting_text(PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), &c->settings_strs[slot],
                          err);
    }
    PQclear(res);
    if (rc != 0) {
        settings_clear(c);
        c->settings_loaded = 0; /* asked again by the next load */
        return -1;
    }
    c->settings.sender_number = c->settings_strs[0];
    c->settings.pf_id = c->settings_strs[1];
    c->settings_loaded = 1;
    c->settings_expires_ms = now_ms + c->ttl_ms;
    return 0;
}

int sender_catalog_load(sender_catalog *c, PGconn *pg, const mf_uuid *tpl_ids, size_t ntpl,
                        const mf_uuid *wf_ids, size_t nwf, int64_t now_ms, mf_err *err)
{
    if (c->n_entries > MAX_ENTRIES)
        purge_expired(c, now_ms);
    if (load_kind(c, pg, tpl_ids, ntpl, 0, now_ms, err) != 0)
        return -1;
    if (load_kind(c, pg, wf_ids, nwf, 1, now_ms, err) != 0)
        return -1;
    return load_settings(c, pg, now_ms, err);
}

const sender_template *sender_catalog_template(const sender_catalog *c, const mf_uuid *id)
{
    const entry *e = find(c, id, 0);

    return e != NULL && e->found ? &e->tpl : NULL;
}

const sender_wfconf *sender_catalog_workflow(const sender_catalog *c, const mf_uuid *id)
{
    const entry *e = find(c, id, 1);

    return e != NULL && e->found ? &e->wf : NULL;
}

const sender_settings *sender_catalog_settings(const sender_catalog *c)
{
    return &c->settings;
}

unsigned long sender_catalog_queries(const sender_catalog *c)
{
    return c->queries;
}

/* hook_expand: what a webhook-triggered run adds to its expansion. */
/* The call's variables and its recipients or customer keys. */
#include "hook_expand.h"

#include <string.h>

#include "mf_pg.h"
#include "mf_sqlguard.h"

static json_t *load_json(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : json_loads(PQgetvalue(res, 0, col), 0, NULL);
}

int hook_expand_load(PGconn *conn, const char *run_id, hook_run *out, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT variables::text, recipients::text, customer_keys::text"
                              " FROM mf_webhook_runs WHERE run_id = $1::uuid";
    /* clang-format on */
    const char *params[1] = {run_id};
    PGresult *res;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    res = mf_pg_query(conn, sql, 1, params, err);
    if (res == NULL)
        return mf_err_prefix(err, "could not load the webhook call of run %s", run_id);
    if (PQntuples(res) == 1) {
        out->present = 1;
        out->variables = load_json(res, 0);
        out->recipients = load_json(res, 1);
        out->keys = load_json(res, 2);
        if (!json_is_object(out->variables) ||
            (out->recipients != NULL && !json_is_array(out->recipients)) ||
            (out->keys != NULL && !json_is_array(out->keys))) {
            hook_expand_free(out);
            rc = mf_err_set(err, "the webhook call of run %s is not readable", run_id);
        }
    }
    PQclear(res);
    return rc;
}

void hook_expand_free(hook_run *h)
{
    json_decref(h->variables);
    json_decref(h->recipients);
    json_decref(h->keys);
    memset(h, 0, sizeof(*h));
}

size_t hook_expand_nvars(const hook_run *h)
{
    return h->present ? json_object_size(h->variables) : 0;
}

size_t hook_expand_merge(const hook_run *h, mf_codec_kv *kv, size_t n, size_t cap)
{
    const char *name;
    json_t *v;

    if (!h->present)
        return n;
    json_object_foreach(h->variables, name, v)
    {
        size_t i;
        if (!json_is_string(v))
            continue;
        for (i = 0; i < n && strcmp(kv[i].key, name) != 0; i++)
            ;
        if (i == n) {
            if (n == cap)
                continue;
            kv[n++].key = name;
        }
        kv[i].val = json_string_value(v);
    }
    return n;
}

int hook_expand_key_sql(const char *query, const char *key_column, mf_buf *out, mf_err *err)
{
    size_t body_len = 0;

    mf_buf_reset(out);
    if (key_column == NULL || key_column[0] == '\0' || strlen(key_column) > 64 ||
        strchr(key_column, '`') != NULL)
        return mf_err_set(err, "target_config.key_column is not a usable column name");
    if (mf_sqlguard_check(query, 0, &body_len, err) != 0)
        return mf_err_prefix(err, "target_config.query rejected");
    return mf_buf_printf(out, err, "SELECT * FROM (\n%.*s\n) AS mf_hook WHERE mf_hook.`%s` = ?",
                         (int)body_len, query, key_column);
}

void hook_expand_recipient_row(const char *phone, const char *phone_column, const char *key_column,
                               const char *names[2], const char *values[2],
                               unsigned long lengths[2], mf_mysql_row *row)
{
    names[0] = phone_column;
    names[1] = key_column;
    values[0] = values[1] = phone;
    lengths[0] = lengths[1] = (unsigned long)strlen(phone);
    row->ncols = strcmp(phone_column, key_column) == 0 ? 1 : 2;
    row->names = names;
    row->values = values;
    row->lengths = lengths;
    row->index = 0;
}

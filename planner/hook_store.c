/* hook_store: the webhook endpoint's PostgreSQL statements. */
/* The workflow and its secret, the replay guard, idempotency and the run. */
#include "hook_store.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "mf_pg.h"
#include "mf_template.h"

/* clang-format off */
static const char WORKFLOW_SQL[] =
    "SELECT COALESCE(w.status, ''), w.trigger_type, s.secret,"
    " COALESCE(w.variables, '{}')::text, t.content, w.message_config->>'subject'"
    " FROM workflows w"
    " LEFT JOIN mf_webhook_secrets s ON s.workflow_id = w.id"
    " LEFT JOIN message_templates t ON t.id::text = w.message_config->>'template_id'"
    " WHERE w.id = $1::uuid";
/* clang-format on */

static void add_known(hook_workflow *wf, const char *name, size_t len)
{
    if (len == 0 || len >= sizeof(wf->known[0]))
        return;
    for (size_t i = 0; i < wf->nknown; i++) {
        if (strlen(wf->known[i]) == len && memcmp(wf->known[i], name, len) == 0)
            return;
    }
    if (wf->nknown == HOOK_STORE_KNOWN_MAX)
        return;
    memcpy(wf->known[wf->nknown], name, len);
    wf->known[wf->nknown++][len] = '\0';
}

static int collect(void *arg, const char *name, size_t len)
{
    add_known(arg, name, len);
    return 0;
}

int hook_store_workflow(PGconn *conn, const char *wf_id, hook_workflow *out, mf_err *err)
{
    const char *params[1] = {wf_id};
    PGresult *res;
    json_t *vars;
    const char *name;
    json_t *v;

    memset(out, 0, sizeof(*out));
    res = mf_pg_query(conn, WORKFLOW_SQL, 1, params, err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        out->found = 1;
        snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(res, 0, 0));
        snprintf(out->trigger_type, sizeof(out->trigger_type), "%s", PQgetvalue(res, 0, 1));
        out->has_secret = !PQgetisnull(res, 0, 2) &&
                          (size_t)PQgetlength(res, 0, 2) < sizeof(out->secret);
        if (out->has_secret)
            memcpy(out->secret, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2) + 1);
        if (!PQgetisnull(res, 0, 4))
            mf_template_each_variable(PQgetvalue(res, 0, 4), collect, out);
        if (!PQgetisnull(res, 0, 5))
            mf_template_each_variable(PQgetvalue(res, 0, 5), collect, out);
        vars = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
        json_object_foreach(vars, name, v) add_known(out, name, strlen(name));
        json_decref(vars);
        /* the copy of the secret in the result is wiped before it is freed */
        if (!PQgetisnull(res, 0, 2))
            OPENSSL_cleanse(PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
    }
    PQclear(res);
    return 0;
}

void hook_store_workflow_wipe(hook_workflow *wf)
{
    OPENSSL_cleanse(wf->secret, sizeof(wf->secret));
    wf->has_secret = 0;
}

/* The run of (workflow, key) into t->run_id: 1 found, 0 none, -1 with err. */
static int find_key(PGconn *conn, hook_trigger *t, mf_err *err)
{
    /* clang-format off */
    static const char sql[] = "SELECT run_id FROM mf_webhook_idempotency"
                              " WHERE workflow_id = $1::uuid AND idempotency_key = $2";
    /* clang-format on */
    const char *params[2] = {t->workflow_id, t->idem_key};
    PGresult *res = mf_pg_query(conn, sql, 2, params, err);
    int found;

    if (res == NULL)
        return -1;
    found = PQntuples(res) == 1;
    if (found) {
        snprintf(t->run_id, sizeof(t->run_id), "%s", PQgetvalue(res, 0, 0));
        t->existing = 1;
    }
    PQclear(res);
    return found;
}

static int record_signature(PGconn *conn, const hook_trigger *t, long long *added, mf_err *err)
{
    /* clang-format off */
    static const char purge[] = "DELETE FROM mf_webhook_signatures"
                                " WHERE seen_at < now() - interval '15 minutes'";
    static const char sql[] = "INSERT INTO mf_webhook_signatures (workflow_id, signature)"
                              " VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING";
    /* clang-format on */
    const char *params[2] = {t->workflow_id, t->sig_hex};

    if (mf_pg_command(conn, purge, 0, NULL, NULL, err) != 0)
        return -1;
    return mf_pg_command(conn, sql, 2, params, added, err);
}

static int insert_run(PGconn *conn, hook_trigger *t, mf_err *err)
{
    /* clang-format off */
    static const char run_sql[] =
        "INSERT INTO workflow_runs (workflow_id, status, trigger_type, requested_by)"
        " SELECT id, 'running', 'webhook', 'webhook' FROM workflows"
        " WHERE id = $1::uuid AND status = 'active' AND trigger_type = 'webhook'"
        " RETURNING id";
    static const char data_sql[] =
        "INSERT INTO mf_webhook_runs (run_id, workflow_id, variables, recipients, customer_keys)"
        " VALUES ($1::uuid, $2::uuid, $3::jsonb, $4::jsonb, $5::jsonb)";
    /* clang-format on */
    const char *params[5] = {t->workflow_id};
    PGresult *res = mf_pg_query(conn, run_sql, 1, params, err);

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        t->gone = 1;
        return 0;
    }
    snprintf(t->run_id, sizeof(t->run_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[0] = t->run_id;
    params[1] = t->workflow_id;
    params[2] = t->variables_json;
    params[3] = t->recipients_json;
    params[4] = t->keys_json;
    return mf_pg_command(conn, data_sql, 5, params, NULL, err);
}

static int record_key(PGconn *conn, const hook_trigger *t, long long *added, mf_err *err)
{
    /* clang-format off */
    static const char sql[] =
        "INSERT INTO mf_webhook_idempotency (workflow_id, idempotency_key, run_id)"
        " VALUES ($1::uuid, $2, $3::uuid) ON CONFLICT DO NOTHING";
    /* clang-format on */
    const char *params[3] = {t->workflow_id, t->idem_key, t->run_id};

    return mf_pg_command(conn, sql, 3, params, added, err);
}

/* After a rolled-back attempt lost to a concurrent call with the same key: that call's run. */
static int lost_race(PGconn *conn, hook_trigger *t, mf_err *err)
{
    int rc = find_key(conn, t, err);

    if (rc < 0)
        return -1;
    if (rc == 0)
        t->replay = 1; /* the signature's first use had no key, or its call failed */
    return 0;
}

int hook_store_trigger(PGconn *conn, hook_trigger *t, mf_err *err)
{
    long long added = 0;
    int rc;

    t->run_id[0] = '\0';
    t->existing = t->replay = t->gone = 0;
    if (mf_pg_begin(conn, err) != 0)
        return -1;
    if (t->idem_key != NULL) {
        rc = find_key(conn, t, err);
        if (rc != 0) {
            mf_pg_rollback(conn);
            return rc < 0 ? -1 : 0;
        }
    }
    if (record_signature(conn, t, &added, err) != 0)
        goto fail;
    if (added == 0) {
        mf_pg_rollback(conn);
        if (t->idem_key != NULL)
            return lost_race(conn, t, err);
        t->replay = 1;
        return 0;
    }
    if (insert_run(conn, t, err) != 0)
        goto fail;
    if (t->gone) {
        mf_pg_rollback(conn);
        return 0;
    }
    if (t->idem_key != NULL) {
        if (record_key(conn, t, &added, err) != 0)
            goto fail;
        if (added == 0) {
            mf_pg_rollback(conn);
            t->run_id[0] = '\0';
            return lost_race(conn, t, err);
        }
    }
    return mf_pg_commit(conn, err);
fail:
    mf_pg_rollback(conn);
    t->run_id[0] = '\0';
    return -1;
}

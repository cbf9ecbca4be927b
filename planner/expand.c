/* expand: turn one claimed run into jobs (and INVALID_PHONE results), page by page. */
#include "expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_codec.h"
#include "mf_daemon.h"
#include "mf_phone.h"
#include "emit.h"
#include "hook_expand.h"
#include "page.h"
#include "phoneset.h"
#include "plan.h"
#include "planner_mysql.h"
#include "qcache.h"
#include "schedule_fire.h"


typedef struct expansion {
    planner_ctx *ctx;
    const planner_run *run;
    planner_plan plan;
    planner_page page;
    planner_phoneset phones;
    planner_qcache qc;
    mf_buf keybuf;   /* query cache key */
    mf_buf rowbuf;   /* query values of the current row */
    size_t *qoff;    /* per var: offset + 1 into rowbuf, 0 = no value */
    mf_codec_kv *kv; /* resolved variables of the current row */
    size_t kv_cap;
    hook_run hook;  /* a webhook call's variables and recipients (hook_expand.h) */
    int *var_col;   /* per var: page column (COLUMN) */
    int *param_col; /* per var: first of its params' page columns (QUERY) */
    size_t *param_at;
    int col_key, col_phone, col_name, col_consent;
    mf_mysql_key key;
    uint64_t rows_read;   /* target rows consumed by the pages before the current one */
    int warned_big_value; /* a query variable's value over the cell limit was logged */
    planner_counts counts;
    long long duplicates;
    planner_counts counted; /* already added to the metrics */
    long long dups_counted;
    int64_t last_renew_ms; /* monotonic: when the lease was last renewed */
    planner_emitter em;
    char reason[MF_ERR_MAX];
} expansion;

/* ex->reason (through ex->em, which points to it) = msg; returns o. */
static planner_outcome set_reason(expansion *ex, planner_outcome o, const char *msg)
{
    return planner_emit_why(&ex->em, o, msg);
}

/* A dependency is unavailable: give the run back without counting the attempt. */
static planner_outcome dep_down(expansion *ex, const char *msg)
{
    return planner_emit_outage(&ex->em, msg);
}

/* Client errors that mean the server is unreachable or went away (a restart, the network),
 * not that this run's query failed. */
static int mysql_errno_outage(unsigned no)
{
    return no == 2002 || no == 2003 || no == 2005 || no == 2006 || no == 2013 || no == 2055;
}

/* ---- MySQL ----------------------------------------------------------------------------- */

/* Server errors that retrying cannot fix: the query or its tables are wrong. */
static int mysql_errno_permanent(unsigned no)
{
    static const unsigned PERMANENT[] = {1052, 1054, 1060, 1064, 1142, 1143, 1146, 1248, 1305};
    for (size_t i = 0; i < sizeof(PERMANENT) / sizeof(PERMANENT[0]); i++) {
        if (PERMANENT[i] == no)
            return 1;
    }
    return 0;
}

static planner_outcome mysql_failure(expansion *ex, const mf_err *err)
{
    planner_ctx *ctx = ex->ctx;
    unsigned no = mf_mysql_last_errno(ctx->mysql);
    planner_outcome o = mysql_errno_permanent(no) ? PLANNER_OUT_FAIL : PLANNER_OUT_RETRY;

    set_reason(ex, o, err->msg);
    ex->em.outage = mysql_errno_outage(no);
    if (o == PLANNER_OUT_RETRY)
        planner_dep(ctx, "mysql", 0, err->msg);
    mf_mysql_close(ctx->mysql); /* reconnect next time */
    ctx->mysql = NULL;
    return o;
}

static planner_outcome mysql_ready(expansion *ex)
{
    planner_ctx *ctx = ex->ctx;
    const planner_config *cfg = ctx->cfg;
    unsigned limit = (unsigned)cfg->mysql_time_limit_s;
    mf_mysql_config mc;
    mf_err err;

    planner_mysql_config(cfg, ctx->log, 10, &mc);
    /* a workflow may ask for less time than the operator allows, never more */
    if (ex->plan.time_limit_s > 0 && ex->plan.time_limit_s < limit)
        limit = ex->plan.time_limit_s;
    mc.query_time_limit_s = limit;
    if (ctx->mysql != NULL && ctx->mysql_limit_s == limit)
        return PLANNER_OUT_OK;
    mf_mysql_close(ctx->mysql);
    ctx->mysql = mf_mysql_connect(&mc, &err);
    planner_dep(ctx, "mysql", ctx->mysql != NULL, ctx->mysql != NULL ? NULL : err.msg);
    if (ctx->mysql == NULL)
        return dep_down(ex, err.msg);
    ctx->mysql_limit_s = limit;
    return PLANNER_OUT_OK;
}

/* ---- lease ------------------------------------------------------------------------------ */

static void cursor_text(const mf_mysql_key *k, char *out, size_t cap)
{
    out[0] = '\0';
    if (k->type == MF_MYSQL_KEY_INT)
        snprintf(out, cap, "%lld", k->i);
    else if (k->type == MF_MYSQL_KEY_TEXT && mf_buf_utf8_valid(k->text, k->text_len) &&
             strlen(k->text) == k->text_len)
        snprintf(out, cap, "%s", k->text);
}

/* Renew the lease when a third of it has passed (or always when force). */
static planner_outcome keep_lease(expansion *ex, int force)
{
    planner_ctx *ctx = ex->ctx;
    int64_t now = mf_clock_mono_ms();
    char cursor[MF_MYSQL_KEY_MAX + 32];
    mf_err err;
    int rc;

    if (!force && now - ex->last_renew_ms < ctx->cfg->lease_s * 1000 / 3)
        return PLANNER_OUT_OK;
    cursor_text(&ex->key, cursor, sizeof(cursor));
    rc = planner_runs_renew(ctx->pg, ex->run, ctx->cfg->common.instance_id, ctx->cfg->lease_s,
                            cursor[0] ? cursor : NULL, &err);
    if (rc < 0)
        return planner_data_error(ctx, ex->run->id, "lease renewal", &err)
                   ? set_reason(ex, PLANNER_OUT_FAIL, err.msg)
                   : dep_down(ex, err.msg);
    if (rc == 0)
        return set_reason(ex, PLANNER_OUT_LOST, "lease lost (taken over or run no longer running)");
    ex->last_renew_ms = now;
    planner_tick_schedules(ctx);
    return PLANNER_OUT_OK;
}

static planner_outcome renew_cb(void *self, int force)
{
    return keep_lease(self, force);
}

/* ---- producing -------------------------------------------------------------------------- */

static planner_outcome emit_invalid(expansion *ex, size_t row, const char *raw, mf_phone_reason why)
{
    const char *tkey = planner_page_get(&ex->page, row, ex->col_key);
    char rkey[MF_MYSQL_KEY_MAX + 16], id[MF_UUID_STR_SIZE];
    planner_outcome o;

    snprintf(rkey, sizeof(rkey), "invalid:%s", tkey != NULL ? tkey : "");
    o = planner_emit_encode_invalid(&ex->em, rkey, raw,
                                    planner_page_get(&ex->page, row, ex->col_name), why, id);
    if (o != PLANNER_OUT_OK)
        return o;
    ex->counts.invalid++;
    ex->counts.target++;
    /* a transactional run's failed rows go through the reporter's lane like its sends */
    return planner_emit_produce(&ex->em,
                                ex->run->tx ? ex->ctx->topic_results_tx : ex->ctx->topic_results,
                                id, MF_UUID_STR_LEN);
}

/* ---- variables -------------------------------------------------------------------------- */

/* Cache key of (variable i, parameter values) into keybuf; params[] gets the values. */
static int query_key(expansion *ex, size_t i, size_t row, const char **params, mf_err *err)
{
    const planner_var *v = &ex->plan.vars[i];

    mf_buf_reset(&ex->keybuf);
    if (mf_buf_printf(&ex->keybuf, err, "%zu", i) != 0)
        return -1;
    for (size_t j = 0; j < v->nparams; j++) {
        params[j] = planner_page_get(&ex->page, row, ex->param_col[ex->param_at[i] + j]);
        if (mf_buf_append_char(&ex->keybuf, params[j] != NULL ? '\x01' : '\x02', err) != 0 ||
            (params[j] != NULL &&
             mf_buf_append(&ex->keybuf, params[j], strlen(params[j]) + 1, err) != 0))
            return -1;
    }
    return 0;
}

/* Resolve query variable i for the row into rowbuf (qoff[i]). */
static planner_outcome resolve_query(expansion *ex, size_t i, size_t row)
{
    const planner_var *v = &ex->plan.vars[i];
    const char *params[16], *cached = NULL;
    size_t start = ex->rowbuf.len;
    /* the cell limit: a longer value is treated as missing */
    planner_first_value fv = {v->column, &ex->rowbuf, (size_t)ex->ctx->cfg->cell_max_bytes,
                              0,         0,           0};
    mf_err err;
    planner_outcome o;

    if (query_key(ex, i, row, params, &err) != 0)
        return set_reason(ex, PLANNER_OUT_RETRY, err.msg);
    if (planner_qcache_get(&ex->qc, ex->keybuf.data, ex->keybuf.len, &cached)) {
        if (cached != NULL && (mf_buf_append(&ex->rowbuf, cached, strlen(cached) + 1, &err) != 0))
            return set_reason(ex, PLANNER_OUT_RETRY, err.msg);
        ex->qoff[i] = cached != NULL ? start + 1 : 0;
        return PLANNER_OUT_OK;
    }
    if ((o = mysql_ready(ex)) != PLANNER_OUT_OK)
        return o;
    if (mf_mysql_query_params(ex->ctx->mysql, v->sql, params, (unsigned)v->nparams,
                              planner_first_value_cb, &fv, NULL, &err) != 0) {
        mf_err_prefix(&err, "variable \"%s\"", v->name);
        return mysql_failure(ex, &err);
    }
    if (fv.too_big > 0 && !ex->warned_big_value) {
        /* like a NULL or non-UTF-8 value: the default, else the job fails RENDER_FAILED */
        ex->warned_big_value = 1;
        MF_LOG(ex->ctx->log, MF_LOG_WARN,
               "query variable value over the cell limit, treated "
               "as missing",
               MF_KV_S("run_id", ex->run->id), MF_KV_S("variable", v->name),
               MF_KV_I("bytes", fv.too_big), MF_KV_I("limit", ex->ctx->cfg->cell_max_bytes));
    }
    ex->qoff[i] = fv.has ? start + 1 : 0;
    if (planner_qcache_put(&ex->qc, ex->keybuf.data, ex->keybuf.len,
                           fv.has ? ex->rowbuf.data + start : NULL, &err) != 0)
        return set_reason(ex, PLANNER_OUT_RETRY, err.msg);
    return PLANNER_OUT_OK;
}

/* Fill ex->kv with the row's variables; returns the number set (missing ones left out). */
static planner_outcome resolve_vars(expansion *ex, size_t row, size_t *nkv)
{
    const planner_plan *p = &ex->plan;
    size_t n = 0;

    mf_buf_reset(&ex->rowbuf);
    for (size_t i = 0; i < p->nvars; i++) {
        ex->qoff[i] = 0;
        if (p->vars[i].kind == PLANNER_VAR_QUERY) {
            planner_outcome o = resolve_query(ex, i, row);
            if (o != PLANNER_OUT_OK)
                return o;
        }
    }
    for (size_t i = 0; i < p->nvars; i++) {
        const planner_var *v = &p->vars[i];
        const char *val = NULL;
        if (v->kind == PLANNER_VAR_STATIC)
            val = v->value;
        else if (v->kind == PLANNER_VAR_COLUMN)
            val = planner_emit_clean(planner_page_get(&ex->page, row, ex->var_col[i]));
        else if (ex->qoff[i] != 0)
            val = ex->rowbuf.data + ex->qoff[i] - 1;
        if (val == NULL)
            val = v->def;
        if (val == NULL)
            continue; /* missing: the sender fails the job with RENDER_FAILED */
        ex->kv[n].key = v->name;
        ex->kv[n++].val = val;
    }
    *nkv = n;
    return PLANNER_OUT_OK;
}

/* ---- rows and pages --------------------------------------------------------------------- */

/* A consent cell: 1, y, yes, t or true (any case) consent; anything else (0, N, NULL, "")
 * does not. */
static int consent_truthy(const char *v)
{
    static const char *const yes[] = {"1", "y", "yes", "t", "true"};

    if (v == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
    return 0;
}

static planner_outcome emit_job(expansion *ex, size_t row, const char *phone)
{
    size_t nkv = 0;
    planner_outcome o = resolve_vars(ex, row, &nkv);
    int consent = ex->col_consent >= 0 &&
                  consent_truthy(planner_page_get(&ex->page, row, ex->col_consent));

    nkv = hook_expand_merge(&ex->hook, ex->kv, nkv, ex->kv_cap);
    if (o == PLANNER_OUT_OK)
        o = planner_emit_encode_job(&ex->em, phone, planner_page_get(&ex->page, row, ex->col_name),
                                    ex->kv, nkv, consent);
    if (o != PLANNER_OUT_OK)
        return o;
    ex->counts.expanded++;
    ex->counts.target++;
    return planner_emit_produce(&ex->em, ex->run->tx ? ex->ctx->topic_jobs_tx : ex->ctx->topic_jobs,
                                phone, strlen(phone));
}

static planner_outcome expand_row(expansion *ex, size_t row)
{
    const char *raw = planner_page_get(&ex->page, row, ex->col_phone);
    char phone[MF_PHONE_MAX];
    mf_phone_reason why = MF_PHONE_OK;
    mf_err err;
    int rc;

    if (mf_phone_normalize(raw, phone, sizeof(phone), &why, &err) != 0)
        return emit_invalid(ex, row, raw, why);
    rc = planner_phoneset_add(&ex->phones, phone, &err);
    if (rc < 0)
        return set_reason(ex, PLANNER_OUT_RETRY, err.msg);
    if (rc == 0) {
        ex->duplicates++;
        return PLANNER_OUT_OK;
    }
    return emit_job(ex, row, phone);
}

/* Map the plan's column names to page columns (once, on the first page). */
static planner_outcome map_columns(expansion *ex)
{
    const planner_plan *p = &ex->plan;
    size_t at = 0;

    ex->col_key = planner_page_col(&ex->page, p->key_column);
    ex->col_phone = planner_page_col(&ex->page, p->phone_column);
    ex->col_name = planner_page_col(&ex->page, p->name_column);
    if (ex->col_phone < 0) {
        snprintf(ex->reason, sizeof(ex->reason),
                 "target_config.phone_column \"%.64s\" is not a column of the target query",
                 p->phone_column);
        return PLANNER_OUT_FAIL;
    }
    ex->col_consent = -1;
    if (p->consent_column != NULL) {
        ex->col_consent = planner_page_col(&ex->page, p->consent_column);
        if (ex->col_consent < 0) {
            snprintf(ex->reason, sizeof(ex->reason),
                     "message_config.advertising.night_consent_column \"%.64s\" is not a column "
                     "of the target query",
                     p->consent_column);
            return PLANNER_OUT_FAIL;
        }
    }
    for (size_t i = 0; i < p->nvars; i++) {
        const planner_var *v = &p->vars[i];
        ex->var_col[i] = v->kind == PLANNER_VAR_COLUMN ? planner_page_col(&ex->page, v->column)
                                                       : -1;
        ex->param_at[i] = at;
        for (size_t j = 0; j < v->nparams; j++)
            ex->param_col[at++] = planner_page_col(&ex->page, v->params[j]);
    }
    return PLANNER_OUT_OK;
}

typedef struct page_fill {
    expansion *ex;
    mf_err err;
    int failed;  /* a row could not be taken: the page is incomplete */
    int too_big; /* ... because one of its cells is over the cell limit */
    int full;    /* the page reached its byte budget: more rows follow */
} page_fill;

/* Where a cell broke the limit: the run's row number, its key (numbers masked) and the
 * column, into pf->err. */
static void describe_bad_cell(page_fill *pf, const mf_mysql_row *row)
{
    const expansion *ex = pf->ex;
    char key[80] = "?", msg[MF_ERR_MAX];

    for (unsigned i = 0; i < row->ncols; i++) {
        if (strcmp(row->names[i], ex->plan.key_column) == 0 && row->values[i] != NULL &&
            row->lengths[i] < 64 && mf_buf_utf8_valid(row->values[i], row->lengths[i])) {
            mf_phone_mask_text(row->values[i], key, sizeof(key));
            break;
        }
    }
    snprintf(msg, sizeof(msg), "%s", pf->err.msg);
    mf_err_set(&pf->err, "target row %llu (%.64s %s): %s (MF_PLANNER_CELL_MAX_BYTES)",
               (unsigned long long)(ex->rows_read + row->index + 1), ex->plan.key_column, key, msg);
}

static int page_fill_cb(const mf_mysql_row *row, void *arg)
{
    page_fill *pf = arg;
    int rc = planner_page_add(&pf->ex->page, row, &pf->err);

    if (rc == 1) {
        pf->full = 1; /* not consumed: the next page starts with it */
        return 1;
    }
    if (rc != 0) {
        pf->failed = 1;
        pf->too_big = pf->ex->page.bad_col >= 0;
        if (pf->too_big)
            describe_bad_cell(pf, row);
        return 1;
    }
    return 0;
}

/* Read the next page into ex->page. *more = 0 at the end. A page that could not take a row
 * never ends the expansion: a cell over the limit fails the run (retrying reads the same
 * value), anything else gives the run back. */
static planner_outcome read_page(expansion *ex, int *more)
{
    planner_ctx *ctx = ex->ctx;
    page_fill pf = {ex, {{0}}, 0, 0, 0};
    uint64_t n = 0;
    mf_err err;
    int rc;
    planner_outcome o = mysql_ready(ex);

    if (o != PLANNER_OUT_OK)
        return o;
    planner_page_reset(&ex->page);
    rc = mf_mysql_stream_page(ctx->mysql, ex->plan.query, ex->plan.key_column, &ex->key,
                              (unsigned)ctx->cfg->page_size, page_fill_cb, &pf, &n, &err);
    if (pf.failed)
        return set_reason(ex, pf.too_big ? PLANNER_OUT_FAIL : PLANNER_OUT_RETRY, pf.err.msg);
    if (rc != 0)
        return mysql_failure(ex, &err);
    ex->rows_read += n;
    *more = pf.full || n == (uint64_t)ctx->cfg->page_size;
    mf_metric_add(ctx->metrics.pages, NULL, 1);
    return PLANNER_OUT_OK;
}

/* Add what was produced since the last call to the metrics (once per page). */
static void count_page(expansion *ex)
{
    planner_metrics *m = &ex->ctx->metrics;

    mf_metric_add(m->jobs, NULL, (double)(ex->counts.expanded - ex->counted.expanded));
    mf_metric_add(m->invalid, NULL, (double)(ex->counts.invalid - ex->counted.invalid));
    mf_metric_add(m->duplicates, NULL, (double)(ex->duplicates - ex->dups_counted));
    ex->counted = ex->counts;
    ex->dups_counted = ex->duplicates;
}

/* Expand the rows of ex->page (mapping the columns on the first rows seen), count them in the
 * metrics, then renew the lease if a third of it has passed. Not forced per page: the renewal
 * UPDATE waits on the run row, which reporters lock for each batch of results, so a per-page
 * renewal stalled expansion. */
static planner_outcome expand_page_rows(expansion *ex, int *mapped)
{
    planner_outcome o = PLANNER_OUT_OK;

    if (!*mapped && ex->page.nrows > 0) {
        o = map_columns(ex);
        *mapped = 1;
    }
    for (size_t r = 0; o == PLANNER_OUT_OK && r < ex->page.nrows; r++) {
        o = expand_row(ex, r);
        if (o == PLANNER_OUT_OK && (r & 255) == 255)
            o = keep_lease(ex, 0);
        if (o == PLANNER_OUT_OK && mf_daemon_stopping())
            o = set_reason(ex, PLANNER_OUT_STOP, "planner stopping");
    }
    count_page(ex);
    return o == PLANNER_OUT_OK ? keep_lease(ex, 0) : o;
}

static planner_outcome expand_pages(expansion *ex)
{
    int more = 1, mapped = 0;

    while (more) {
        planner_outcome o = read_page(ex, &more);
        if (o == PLANNER_OUT_OK)
            o = expand_page_rows(ex, &mapped);
        if (o != PLANNER_OUT_OK)
            return o;
    }
    return PLANNER_OUT_OK;
}

/* ---- webhook runs: the call's recipients or customer keys (docs/triggers.md) ---------- */

/* Recipients given by the call: one target row each, holding only the phone. */
static planner_outcome expand_recipients(expansion *ex)
{
    const char *names[2], *values[2];
    unsigned long lengths[2];
    mf_mysql_row row;
    json_t *v;
    size_t i;
    int mapped = 0;
    mf_err err;

    planner_page_reset(&ex->page);
    json_array_foreach(ex->hook.recipients, i, v)
    {
        if (!json_is_string(v))
            continue;
        hook_expand_recipient_row(json_string_value(v), ex->plan.phone_column, ex->plan.key_column,
                                  names, values, lengths, &row);
        if (planner_page_add(&ex->page, &row, &err) != 0)
            return set_reason(ex, PLANNER_OUT_RETRY, err.msg);
    }
    return expand_page_rows(ex, &mapped);
}

/* Customer keys given by the call: the target query bound to each key in turn. */
static planner_outcome expand_keys(expansion *ex)
{
    mf_buf sql;
    json_t *v;
    size_t i;
    int mapped = 0;
    mf_err err;
    planner_outcome o = PLANNER_OUT_OK;

    mf_buf_init(&sql, 0);
    if (hook_expand_key_sql(ex->plan.query, ex->plan.key_column, &sql, &err) != 0)
        o = set_reason(ex, PLANNER_OUT_FAIL, err.msg);
    json_array_foreach(ex->hook.keys, i, v)
    {
        const char *params[1] = {json_string_value(v)};
        page_fill pf = {ex, {{0}}, 0, 0, 0};
        char masked[64];
        if (o != PLANNER_OUT_OK)
            break;
        if ((o = mysql_ready(ex)) != PLANNER_OUT_OK)
            break;
        planner_page_reset(&ex->page);
        if (mf_mysql_query_params(ex->ctx->mysql, sql.data, params, 1, page_fill_cb, &pf, NULL,
                                  &err) != 0 &&
            !pf.failed && !pf.full) {
            o = mysql_failure(ex, &err);
            break;
        }
        if (pf.failed || pf.full) {
            o = set_reason(ex, pf.too_big ? PLANNER_OUT_FAIL : PLANNER_OUT_RETRY,
                           pf.failed ? pf.err.msg
                                     : "a customer key matched more rows than a "
                                       "page holds");
            break;
        }
        if (ex->page.nrows == 0) {
            mf_phone_mask_text(params[0], masked, sizeof(masked));
            MF_LOG(ex->ctx->log, MF_LOG_WARN, "webhook customer key matched no target row",
                   MF_KV_S("run_id", ex->run->id), MF_KV_S("key", masked));
        }
        o = expand_page_rows(ex, &mapped);
    }
    mf_buf_free(&sql);
    return o;
}

static planner_outcome load_hook(expansion *ex)
{
    mf_err err;

    if (hook_expand_load(ex->ctx->pg, ex->run->id, &ex->hook, &err) != 0)
        return dep_down(ex, err.msg);
    return PLANNER_OUT_OK;
}

/* ---- setup and outcome ------------------------------------------------------------------ */

static int expansion_init(expansion *ex, planner_ctx *ctx, const planner_run *run)
{
    size_t nv = ex->plan.nvars + 1 + hook_expand_nvars(&ex->hook), np = 1;

    for (size_t i = 0; i < ex->plan.nvars; i++)
        np += ex->plan.vars[i].nparams;
    ex->ctx = ctx;
    ex->run = run;
    ex->last_renew_ms = mf_clock_mono_ms();
    planner_page_init(&ex->page);
    planner_page_limits(&ex->page, (size_t)ctx->cfg->cell_max_bytes,
                        (size_t)ctx->cfg->page_max_bytes);
    planner_phoneset_init(&ex->phones);
    planner_qcache_init(&ex->qc, (size_t)ctx->cfg->query_cache_max);
    planner_qcache_limits(&ex->qc, (size_t)ctx->cfg->query_cache_bytes,
                          (size_t)ctx->cfg->cell_max_bytes);
    mf_buf_init(&ex->keybuf, 0);
    mf_buf_init(&ex->rowbuf, 0);
    ex->qoff = calloc(nv, sizeof(size_t));
    ex->kv = calloc(nv, sizeof(mf_codec_kv));
    ex->kv_cap = nv;
    ex->var_col = calloc(nv, sizeof(int));
    ex->param_at = calloc(nv, sizeof(size_t));
    ex->param_col = calloc(np, sizeof(int));
    return ex->qoff && ex->kv && ex->var_col && ex->param_at && ex->param_col ? 0 : -1;
}

static void expansion_free(expansion *ex)
{
    planner_plan_free(&ex->plan);
    planner_page_free(&ex->page);
    planner_phoneset_free(&ex->phones);
    planner_qcache_free(&ex->qc);
    mf_buf_free(&ex->keybuf);
    mf_buf_free(&ex->rowbuf);
    free(ex->qoff);
    free(ex->kv);
    free(ex->var_col);
    free(ex->param_at);
    free(ex->param_col);
    hook_expand_free(&ex->hook);
}

static void log_outcome(void *self, mf_log_level level, const char *msg)
{
    expansion *ex = self;

    MF_LOG(ex->ctx->log, level, msg, MF_KV_S("run_id", ex->run->id),
           MF_KV_S("workflow_id", ex->run->workflow_id), MF_KV_I("targets", ex->counts.target),
           MF_KV_I("jobs", ex->counts.expanded), MF_KV_I("invalid", ex->counts.invalid),
           MF_KV_I("duplicates", ex->duplicates), MF_KV_S("reason", ex->reason));
}

static planner_outcome load_plan(expansion *ex, planner_ctx *ctx, const planner_run *run)
{
    int permanent = 0;
    mf_err err;

    if (planner_plan_load(ctx->pg, run->workflow_id, run->started_ms, &ex->plan, &permanent,
                          &err) != 0)
        return permanent ? set_reason(ex, PLANNER_OUT_FAIL, err.msg) : dep_down(ex, err.msg);
    return PLANNER_OUT_OK;
}

int planner_expand_run(planner_ctx *ctx, const planner_run *run, mf_err *err)
{
    expansion ex;
    int64_t t0 = mf_clock_mono_ms();
    planner_outcome o;

    memset(&ex, 0, sizeof(ex));
    ex.ctx = ctx;
    ex.run = run;
    ex.em = (planner_emitter){ctx, run, &ex.plan, renew_cb, log_outcome, &ex, "run", ex.reason, 0};
    ctx->gen++;
    ctx->dr_failed = 0;
    ctx->dr_error[0] = '\0';
    o = load_plan(&ex, ctx, run);
    if (o == PLANNER_OUT_OK)
        o = load_hook(&ex);
    if (expansion_init(&ex, ctx, run) != 0 && o == PLANNER_OUT_OK)
        o = set_reason(&ex, PLANNER_OUT_RETRY, "out of memory");
    if (o == PLANNER_OUT_OK)
        o = ex.hook.recipients != NULL ? expand_recipients(&ex)
            : ex.hook.keys != NULL     ? expand_keys(&ex)
                                       : expand_pages(&ex);
    if (o == PLANNER_OUT_OK)
        o = planner_emit_await(&ex.em);
    planner_emit_record(&ex.em, o, &ex.counts);
    if (o == PLANNER_OUT_OK)
        mf_metric_observe(ctx->metrics.expansion_seconds, NULL,
                          (double)(mf_clock_mono_ms() - t0) / 1000.0);
    if (o == PLANNER_OUT_FATAL)
        mf_err_set(err, "%s", ex.reason);
    expansion_free(&ex);
    return o == PLANNER_OUT_FATAL ? -1 : 0;
}

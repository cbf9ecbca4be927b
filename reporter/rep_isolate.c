/* rep_isolate: record a batch that failed with a data error without its bad part: run by run,
 * then row by row, so one run's bad data never holds back the others. */
#include "rep_isolate.h"

#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"
#include "mf_uuid.h"

/* A result's run, for grouping the batch by run (ties keep the batch order). */
typedef struct run_key {
    unsigned char run[16];
    size_t i;
} run_key;

struct rep_isolate {
    run_key *keys;
    size_t *idx;    /* result indices grouped by run */
    mf_result *sub; /* the results of the part being written */
    int *prob_of;   /* per result: index into problems, -1 when recorded */
    size_t cap;     /* of the four arrays above */
    rep_problem *problems;
    size_t np, pcap;
};

rep_isolate *rep_isolate_new(mf_err *err)
{
    rep_isolate *iso = calloc(1, sizeof(*iso));

    if (iso == NULL)
        mf_err_set(err, "out of memory");
    return iso;
}

void rep_isolate_free(rep_isolate *iso)
{
    if (iso == NULL)
        return;
    free(iso->keys);
    free(iso->idx);
    free(iso->sub);
    free(iso->prob_of);
    free(iso->problems);
    free(iso);
}

static int reserve(rep_isolate *iso, size_t n, mf_err *err)
{
    run_key *k;
    size_t *x;
    mf_result *s;
    int *p;

    if (n <= iso->cap)
        return 0;
    k = realloc(iso->keys, n * sizeof(*k));
    if (k != NULL)
        iso->keys = k;
    x = realloc(iso->idx, n * sizeof(*x));
    if (x != NULL)
        iso->idx = x;
    s = realloc(iso->sub, n * sizeof(*s));
    if (s != NULL)
        iso->sub = s;
    p = realloc(iso->prob_of, n * sizeof(*p));
    if (p != NULL)
        iso->prob_of = p;
    if (k == NULL || x == NULL || s == NULL || p == NULL)
        return mf_err_set(err, "out of memory");
    iso->cap = n;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    const run_key *x = a, *y = b;
    int c = memcmp(x->run, y->run, sizeof(x->run));

    if (c != 0)
        return c;
    return x->i < y->i ? -1 : (x->i > y->i ? 1 : 0);
}

static void add_stats(rep_store_stats *sum, const rep_store_stats *s)
{
    int k;

    sum->inserted += s->inserted;
    sum->direct += s->direct;
    sum->finalized += s->finalized;
    sum->early_parked += s->early_parked;
    sum->early_applied += s->early_applied;
    sum->merged += s->merged;
    sum->duplicates += s->duplicates;
    sum->completed += s->completed;
    sum->attempts += s->attempts;
    for (k = 0; k < REP_ST_N; k++) {
        sum->ins_status[k] += s->ins_status[k];
        sum->upd_status[k] += s->upd_status[k];
    }
}

/* Results res[idx[0..m)] (one run) are not recorded: count them on their problem. */
static int reject(rep_isolate *iso, const mf_result *res, const size_t *idx, size_t m,
                  const mf_err *e, rep_step step, mf_err *err)
{
    char run[MF_UUID_STR_SIZE], st[6];
    rep_problem *p = NULL;
    size_t i;

    mf_uuid_format(&res[idx[0]].run, run);
    mf_pg_err_sqlstate(e, st);
    for (i = 0; i < iso->np && p == NULL; i++)
        if (strcmp(iso->problems[i].run, run) == 0 && strcmp(iso->problems[i].sqlstate, st) == 0 &&
            iso->problems[i].step == step)
            p = &iso->problems[i];
    if (p == NULL) {
        if (iso->np == iso->pcap) {
            size_t cap = iso->pcap ? iso->pcap * 2 : 4;
            rep_problem *np = realloc(iso->problems, cap * sizeof(*np));

            if (np == NULL)
                return mf_err_set(err, "out of memory");
            iso->problems = np;
            iso->pcap = cap;
        }
        p = &iso->problems[iso->np++];
        memset(p, 0, sizeof(*p));
        memcpy(p->run, run, sizeof(p->run));
        memcpy(p->sqlstate, st, sizeof(p->sqlstate));
        p->step = step;
        mf_pg_err_brief(e, p->error, sizeof(p->error));
        mf_uuid_format(&res[idx[0]].id, p->first_job);
    }
    p->results += (long long)m;
    for (i = 0; i < m; i++)
        iso->prob_of[idx[i]] = (int)(p - iso->problems);
    return 0;
}

static int write_part(rep_isolate *iso, rep_store *st, PGconn *conn, const mf_result *res,
                      const size_t *idx, size_t m, rep_store_stats *stats, mf_err *err);

/* A part res[idx[0..m)] of one run failed with e at step: split it, reject it, or give up. */
static int part_failed(rep_isolate *iso, rep_store *st, PGconn *conn, const mf_result *res,
                       const size_t *idx, size_t m, const mf_err *e, rep_step step,
                       rep_store_stats *stats, mf_err *err)
{
    size_t h = m / 2;

    if (mf_pg_err_fault(e) != MF_PG_FAULT_DATA)
        return mf_err_set(err, "%s", e->msg);
    if (step != REP_STEP_ROWS || m == 1)
        return reject(iso, res, idx, m, e, step, err);
    if (write_part(iso, st, conn, res, idx, h, stats, err) != 0)
        return -1;
    return write_part(iso, st, conn, res, idx + h, m - h, stats, err);
}

static int write_part(rep_isolate *iso, rep_store *st, PGconn *conn, const mf_result *res,
                      const size_t *idx, size_t m, rep_store_stats *stats, mf_err *err)
{
    rep_store_stats s;
    mf_err e;
    size_t i;

    for (i = 0; i < m; i++)
        iso->sub[i] = res[idx[i]];
    mf_err_clear(&e);
    if (rep_store_write(st, conn, iso->sub, m, NULL, 0, &s, &e) == 0) {
        add_stats(stats, &s);
        return 0;
    }
    return part_failed(iso, st, conn, res, idx, m, &e, rep_store_failed_step(st), stats, err);
}

int rep_isolate_write(rep_isolate *iso, rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                      const mf_err *first, rep_store_stats *stats, mf_err *err)
{
    rep_step first_step = rep_store_failed_step(st);
    size_t i, from, runs = 0;

    memset(stats, 0, sizeof(*stats));
    iso->np = 0;
    if (n == 0)
        return 0;
    if (reserve(iso, n, err) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        memcpy(iso->keys[i].run, res[i].run.b, sizeof(iso->keys[i].run));
        iso->keys[i].i = i;
        iso->prob_of[i] = -1;
    }
    qsort(iso->keys, n, sizeof(*iso->keys), cmp_key);
    for (i = 0; i < n; i++) {
        iso->idx[i] = iso->keys[i].i;
        runs += i == 0 || memcmp(iso->keys[i].run, iso->keys[i - 1].run, 16) != 0;
    }
    if (runs == 1)
        return part_failed(iso, st, conn, res, iso->idx, n, first, first_step, stats, err);
    for (from = 0, i = 1; i <= n; i++) {
        if (i < n && memcmp(iso->keys[i].run, iso->keys[from].run, 16) == 0)
            continue;
        if (write_part(iso, st, conn, res, iso->idx + from, i - from, stats, err) != 0)
            return -1;
        from = i;
    }
    return 0;
}

const rep_problem *rep_isolate_rejected(const rep_isolate *iso, size_t i)
{
    return i < iso->cap && iso->prob_of[i] >= 0 ? &iso->problems[iso->prob_of[i]] : NULL;
}

const rep_problem *rep_isolate_problems(const rep_isolate *iso, size_t *np)
{
    *np = iso->np;
    return iso->problems;
}

int rep_isolate_finish(rep_isolate *iso, rep_store *st, PGconn *conn, const rep_offset *offs,
                       size_t noffs, int *logs_written, mf_err *err)
{
    mf_err e;

    *logs_written = 0;
    mf_err_clear(&e);
    if (rep_store_write_problems(st, conn, iso->problems, iso->np, offs, noffs, &e) == 0) {
        *logs_written = iso->np > 0;
        return 0;
    }
    if (mf_pg_err_fault(&e) != MF_PG_FAULT_DATA)
        return mf_err_set(err, "%s", e.msg);
    return rep_store_write_problems(st, conn, NULL, 0, offs, noffs, err);
}

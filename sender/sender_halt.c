/* sender_halt: which runs of a batch are cancelled or held (workflow paused), one query. */
#include "sender_halt.h"

#include <stdlib.h>
#include <string.h>

#include "mf_pg.h"

/* clang-format off */
static const char HALT_SQL[] =
    "SELECT r.id::text, CASE WHEN r.status = 'cancelled' THEN 'c' ELSE 'p' END"
    " FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id"
    " WHERE r.id = ANY($1::uuid[])"
    "   AND (r.status = 'cancelled' OR"
    "        (r.status = 'running' AND (w.status = 'paused' OR r.send_hold IS NOT NULL)))";
/* clang-format on */

void sender_halt_init(sender_halt *h, long long every_ms)
{
    memset(h, 0, sizeof(*h));
    mf_pgarr_init(&h->arr);
    h->every_ms = every_ms;
}

void sender_halt_free(sender_halt *h)
{
    free(h->known);
    free(h->halted);
    free(h->want);
    mf_pgarr_free(&h->arr);
    memset(h, 0, sizeof(*h));
}

void sender_halt_begin(sender_halt *h)
{
    h->nwant = 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t size, mf_err *err)
{
    size_t c = *cap ? *cap : 16;
    void *n;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    n = realloc(*p, c * size);
    if (n == NULL)
        return mf_err_set(err, "out of memory");
    *p = n;
    *cap = c;
    return 0;
}

int sender_halt_want(sender_halt *h, const mf_uuid *run, mf_err *err)
{
    /* consecutive jobs of a batch mostly share their run: skip the repeat cheaply */
    if (h->nwant > 0 && mf_uuid_equal(&h->want[h->nwant - 1], run))
        return 0;
    if (grow((void **)&h->want, &h->want_cap, h->nwant + 1, sizeof(*h->want), err) != 0)
        return -1;
    h->want[h->nwant++] = *run;
    return 0;
}

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(mf_uuid));
}

/* qsort for arrays that may be empty and then NULL (qsort's base must never be NULL). */
static void sort_runs(void *base, size_t n, size_t size)
{
    if (n > 1)
        qsort(base, n, size, cmp_uuid);
}

/* Sorts the wanted runs and drops the repeats. */
static void unique_want(sender_halt *h)
{
    size_t k = 0;

    sort_runs(h->want, h->nwant, sizeof(*h->want));
    for (size_t i = 0; i < h->nwant; i++)
        if (k == 0 || !mf_uuid_equal(&h->want[k - 1], &h->want[i]))
            h->want[k++] = h->want[i];
    h->nwant = k;
}

static int is_known(const sender_halt *h, const mf_uuid *run)
{
    return h->nknown > 0 && bsearch(run, h->known, h->nknown, sizeof(*h->known), cmp_uuid) != NULL;
}

int sender_halt_answer(sender_halt *h, const PGresult *res, int64_t now_ms, mf_err *err)
{
    size_t n = (size_t)PQntuples(res);
    int rc = -1;

    if (grow((void **)&h->halted, &h->halted_cap, n, sizeof(*h->halted), err) != 0 ||
        grow((void **)&h->known, &h->known_cap, h->nwant, sizeof(*h->known), err) != 0)
        goto out;
    h->nhalted = 0;
    for (size_t i = 0; i < n; i++) {
        struct sender_halted *e = &h->halted[h->nhalted];

        if (mf_uuid_parse(PQgetvalue(res, (int)i, 0), &e->run, err) != 0)
            goto out;
        e->state = PQgetvalue(res, (int)i, 1)[0] == 'c' ? SENDER_HALT_CANCELLED
                                                        : SENDER_HALT_PAUSED;
        h->nhalted++;
    }
    sort_runs(h->halted, h->nhalted, sizeof(*h->halted)); /* run is the first member */
    if (h->nwant > 0)
        memcpy(h->known, h->want, h->nwant * sizeof(*h->want));
    h->nknown = h->nwant;
    h->checked_ms = now_ms;
    rc = 0;
out:
    if (rc != 0) {
        h->nknown = 0; /* ask again next time */
        h->nhalted = 0;
    }
    return rc;
}

/* One query about every run in want; the answer replaces known/halted. */
static int ask(sender_halt *h, PGconn *pg, int64_t now_ms, mf_err *err)
{
    const char *params[1];
    PGresult *res = NULL;
    int rc = -1;

    mf_pgarr_reset(&h->arr);
    for (size_t i = 0; i < h->nwant; i++)
        if (mf_pgarr_add_uuid(&h->arr, &h->want[i], err) != 0)
            goto out;
    if ((params[0] = mf_pgarr_finish(&h->arr, err)) == NULL)
        goto out;
    res = mf_pg_query(pg, HALT_SQL, 1, params, err);
    if (res == NULL) {
        mf_err_prefix(err, "could not read the state of %zu runs", h->nwant);
        goto out;
    }
    h->queries++;
    rc = sender_halt_answer(h, res, now_ms, err);
out:
    PQclear(res);
    if (rc != 0) {
        h->nknown = 0; /* ask again next time */
        h->nhalted = 0;
    }
    return rc;
}

int sender_halt_fresh(sender_halt *h, int64_t now_ms)
{
    int fresh = h->checked_ms != 0 && now_ms - h->checked_ms < h->every_ms;

    unique_want(h);
    for (size_t i = 0; fresh && i < h->nwant; i++)
        fresh = is_known(h, &h->want[i]);
    return fresh;
}

int sender_halt_check(sender_halt *h, PGconn *pg, int64_t now_ms, mf_err *err)
{
    if (sender_halt_fresh(h, now_ms) || h->nwant == 0)
        return 0;
    return ask(h, pg, now_ms, err) != 0 ? -1 : 1;
}

int sender_halt_refresh(sender_halt *h, PGconn *pg, int64_t now_ms, mf_err *err)
{
    if (h->nknown == 0 || !sender_halt_due(h, now_ms))
        return 0;
    if (grow((void **)&h->want, &h->want_cap, h->nknown, sizeof(*h->want), err) != 0)
        return -1;
    memcpy(h->want, h->known, h->nknown * sizeof(*h->known));
    h->nwant = h->nknown;
    return ask(h, pg, now_ms, err) != 0 ? -1 : 1;
}

int sender_halt_due(const sender_halt *h, int64_t now_ms)
{
    return h->checked_ms == 0 || now_ms - h->checked_ms >= h->every_ms;
}

void sender_halt_expire(sender_halt *h)
{
    h->checked_ms = 0;
}

sender_halt_state sender_halt_of(const sender_halt *h, const mf_uuid *run)
{
    const struct sender_halted *p;

    if (h->nhalted == 0)
        return SENDER_HALT_GO;
    p = bsearch(run, h->halted, h->nhalted, sizeof(*h->halted), cmp_uuid);
    return p == NULL ? SENDER_HALT_GO : p->state;
}

size_t sender_halt_count(const sender_halt *h)
{
    return h->nhalted;
}

/* sender_budget: the send rate budget: the process's rate tokens, the fleet's account tokens
 * and daily quota (sender_rate), the workflows' rates. */
#include "sender_budget.h"

#include <stdlib.h>
#include <string.h>

#include "mf_clock.h"
#include "sender_ctx.h"
#include "sender_produce.h"

typedef struct wf_rate {
    mf_uuid wf;
    size_t seen; /* slots of the workflow met in the second pass */
} wf_rate;

/* Index of wf in the table, added when missing; -1 when the table is full. */
static long wf_rate_slot(sender_rate_want *w, wf_rate *r, size_t *n, size_t cap, const mf_uuid *wf,
                         double per_min)
{
    char id[MF_UUID_STR_SIZE];

    for (size_t i = 0; i < *n; i++)
        if (mf_uuid_equal(&r[i].wf, wf))
            return (long)i;
    if (*n == cap)
        return -1;
    memset(&w[*n], 0, sizeof(w[*n]));
    snprintf(w[*n].key, sizeof(w[*n].key), "workflow:%s", mf_uuid_format(wf, id));
    w[*n].rate = per_min / 60.0;
    r[*n].wf = *wf;
    r[*n].seen = 0;
    return (long)(*n)++;
}

/* Defers one slot beyond its workflow's tokens to the retry topic: the k-th reserved one
 * (1-based) on the bucket's schedule, marked reserved; k 0: not reserved, after the horizon;
 * w NULL: its workflow did not fit in this batch's statement, in a second. */
static int rate_defer(sender_ctx *s, sender_slot *sl, const sender_rate_want *w, size_t k,
                      int64_t now, mf_err *err)
{
    int64_t nb = now + (w == NULL ? 1000 : (int64_t)(s->rate.horizon_s * 1000.0));

    if (w != NULL && k > 0) {
        /* due times rounded up to a quantum of about 20 tokens (0.1-1 s, on the wall clock,
         * the same for every sender): the jobs due together come back as one batch instead
         * of one batch (claims, a provider group) each */
        int64_t q = (int64_t)(20000.0 / w->rate);

        q = q < 100 ? 100 : q > 1000 ? 1000 : q;
        nb = now + (int64_t)(((double)k - w->base) / w->rate * 1000.0);
        nb = (nb + q - 1) / q * q;
        sl->job.rate_reserved = 1;
    }
    if (sender_produce_retry(s, sl, nb, err) != 0)
        return -1;
    sl->state = SLOT_SKIP;
    s->n_rate_deferred++;
    return 0;
}

int sender_budget_workflows(sender_ctx *s, mf_err *err)
{
    enum { MAX_WF = 64 }; /* more rate-limited workflows in one batch wait for the next */
    sender_rate_want w[MAX_WF];
    wf_rate r[MAX_WF];
    size_t nw = 0;
    int64_t now = mf_clock_wall_ms();

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n; i++) {
            sender_slot *sl = &s->slots[i];
            const sender_wfconf *wf;
            long at;

            if (sl->state != SLOT_SEND || sl->job.rate_reserved)
                continue;
            wf = sender_catalog_workflow(s->cat, &sl->job.wf);
            if (wf == NULL || wf->rate_per_min <= 0)
                continue;
            at = wf_rate_slot(w, r, &nw, MAX_WF, &sl->job.wf, wf->rate_per_min);
            if (pass == 0) {
                if (at >= 0)
                    w[at].want++;
                continue;
            }
            if (at < 0) {
                if (rate_defer(s, sl, NULL, 0, now, err) != 0)
                    return -1;
            } else if (r[at].seen++ >= w[at].now_n) {
                size_t k = r[at].seen - w[at].now_n;

                if (rate_defer(s, sl, &w[at], k <= w[at].ahead_n ? k : 0, now, err) != 0)
                    return -1;
            }
        }
        if (pass == 0 && (nw == 0 || sender_rate_reserve(&s->rate, s->pg, w, nw, err) != 0))
            return nw == 0 ? 0 : -1;
    }
    return 0;
}

/* Takes up to `want` tokens of the per-process rate budget; returns how many were granted. */
static size_t take_local_tokens(sender_ctx *s, size_t want)
{
    double rate = s->cfg->rate_limit, cap;
    int64_t now = mf_clock_mono_ms();

    if (rate <= 0)
        return want;
    cap = rate > (double)s->cfg->request_size ? rate : (double)s->cfg->request_size;
    s->tokens += (double)(now - s->tokens_ms) * rate / 1000.0;
    s->tokens_ms = now;
    if (s->tokens > cap)
        s->tokens = cap;
    if (s->tokens < 1)
        return 0;
    if ((double)want > s->tokens)
        want = (size_t)s->tokens;
    s->tokens -= (double)want;
    return want;
}

/* The quota is used up: the runs of the ready jobs are held (sender_rate_hold_runs) and the
 * halt state is read again at once, so the send loop parks their jobs (halt_in_loop) instead
 * of sending them to fail. At most once a second. */
static int hold_at_quota(sender_ctx *s, const size_t *todo, size_t ntodo, int64_t now, mf_err *err)
{
    mf_uuid *runs;
    size_t n = 0;
    int rc;

    if (s->rate_hold_ms != 0 && now - s->rate_hold_ms < 1000)
        return 0;
    s->rate_hold_ms = now;
    runs = calloc(ntodo ? ntodo : 1, sizeof(*runs));
    if (runs == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t c = 0; c < ntodo; c++) {
        const sender_slot *sl = &s->slots[todo[c]];

        if (sender_slot_ready(sl, now) && (n == 0 || !mf_uuid_equal(&runs[n - 1], &sl->job.run)))
            runs[n++] = sl->job.run;
    }
    rc = sender_rate_hold_runs(&s->rate, s->pg, runs, n, err);
    free(runs);
    if (rc != 0)
        return -1;
    sender_halt_expire(&s->halt); /* read the holds with the next halt check */
    s->n_quota_held++;
    MF_LOG(s->log, MF_LOG_WARN, "provider daily quota used up: runs held",
           MF_KV_I("runs", (long long)n), MF_KV_I("quota_left", s->rate.quota_left));
    return 0;
}

int sender_budget_take(sender_ctx *s, const size_t *todo, size_t ntodo, size_t want, int64_t now,
                       size_t *granted, mf_err *err)
{
    size_t local = take_local_tokens(s, want), ask = 0;

    *granted = local;
    if (local == 0 || !sender_rate_account_on(&s->rate))
        return 0;
    for (size_t c = 0; c < ntodo; c++)
        ask += sender_slot_ready(&s->slots[todo[c]], now);
    ask += s->n - s->claim_next;
    if (sender_rate_take(&s->rate, s->pg, s->sms, s->log, local, ask, granted, err) != 0)
        return -1;
    if (s->cfg->rate_limit > 0)
        s->tokens += (double)(local - *granted);
    if (*granted == 0 && s->rate.quota_out)
        return hold_at_quota(s, todo, ntodo, now, err);
    return 0;
}

void sender_budget_give_back(sender_ctx *s, size_t n)
{
    if (s->cfg->rate_limit > 0)
        s->tokens += (double)n; /* unused budget goes back */
    if (sender_rate_account_on(&s->rate))
        sender_rate_give_back(&s->rate, n);
}

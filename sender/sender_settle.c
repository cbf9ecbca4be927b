/* sender_settle: the batch's claims: insert the next ones, settle the jobs that met an
 * existing claim (re-emit its outcome, take a stale one over, or wait for its sender). */
#include "sender_settle.h"

#include <stdlib.h>
#include <string.h>

#include "mf_clock.h"
#include "sender_ctx.h"

/* A new chunk id for the claims about to be inserted or taken over: UUIDv7, time-ordered, so
 * outcomes are purged by range like the claims (docs/sender.md). */
static int next_chunk(sender_ctx *s, mf_err *err)
{
    return mf_uuid_v7((uint64_t)mf_clock_wall_ms(), &s->chunk_cur, err);
}

static void on_inserted(void *arg, const mf_uuid *job)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_ctx_slot_by_id(s, job);

    if (sl == NULL)
        return;
    sl->fresh = 1;
    sl->chunk = s->chunk_cur;
    sl->has_chunk = 1;
    if (sl->state == SLOT_FAILED)
        sl->state = SLOT_FINAL;
}

int sender_settle_claim_next(sender_ctx *s, size_t want, mf_err *err)
{
    size_t i = s->claim_next, n = 0, nsend = 0;
    sender_claim_in *rows;
    int rc;

    if (i >= s->n)
        return 0;
    rows = calloc(s->n - i, sizeof(*rows));
    if (rows == NULL)
        return mf_err_set(err, "out of memory");
    for (; i < s->n && nsend < want; i++) {
        sender_slot *sl = &s->slots[i];
        sender_claim_in *r = &rows[n];

        if (sl->state != SLOT_SEND && sl->state != SLOT_FAILED)
            continue;
        nsend += sl->state == SLOT_SEND;
        r->job = sl->job.id;
        r->run = sl->job.run;
        r->attempt = sl->job.attempt;
        r->state = sl->state == SLOT_SEND ? "claimed" : "failed";
        r->msg_type = mf_msg_type_name(sl->type);
        r->content = sl->text;
        r->code = sl->state == SLOT_FAILED ? sl->code : NULL;
        r->message = sl->state == SLOT_FAILED ? sl->msg : NULL;
        n++;
    }
    rc = next_chunk(s, err);
    if (rc == 0)
        rc = sender_claims_insert(&s->claims, s->pg, rows, n, s->cfg->common.instance_id,
                                  &s->chunk_cur, on_inserted, s, err);
    free(rows);
    if (rc == 0)
        s->claim_next = i; /* only once committed: a failed INSERT is retried with the batch */
    return rc < 0 ? -1 : n > 0;
}

/* An existing claim seen for a slot that was not freshly claimed. */
static void on_existing(void *arg, const sender_claim_row *row)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_ctx_slot_by_id(s, &row->job);
    int accepted = strcmp(row->state, "accepted") == 0;
    int rounds = 0, unknown = 0;

    if (sl == NULL || sl->fresh)
        return;
    if (accepted || strcmp(row->state, "failed") == 0) {
        /* a job cancelled with its run is stored as failed with RUN_CANCELLED */
        mf_result_status st = accepted                                        ? MF_RESULT_ACCEPTED
                              : strcmp(row->code, SENDER_CODE_CANCELLED) == 0 ? MF_RESULT_CANCELLED
                                                                              : MF_RESULT_FAILED;

        sl->type = sender_slot_type_from_name(row->msg_type, sl->type);
        if (row->content != NULL)
            sl->text = sender_arena_strdup(&s->arena, row->content);
        sender_slot_final(&s->arena, sl, st, row->pmid, row->gid, row->code, row->message,
                          row->sent_ms);
        if (accepted)
            sl->ch = sender_slot_type_from_name(row->channel, sl->type);
        sl->state = SLOT_FINAL;
        sl->reused = 1;
        s->n_reemitted++;
        mf_metric_add(s->obs.reused, NULL, 1);
        return;
    }
    /* claimed / in_doubt: another sender's (or a crashed one's) open claim. Our own open
     * claim can only be left from an earlier failed try of this batch, whose requests were
     * drained: resolve it at once (MF_INSTANCE_ID must be unique per process). */
    sl->state = SLOT_PENDING;
    sl->stale = row->stale || strcmp(row->claimed_by, s->cfg->common.instance_id) == 0;
    sl->old_claimed_at = sender_arena_strdup(&s->arena, row->claimed_at);
    sl->pgid = row->send_gid[0] ? sender_arena_strdup(&s->arena, row->send_gid) : NULL;
    if (sl->cancel && sl->text == NULL && row->content != NULL) {
        /* not prepared (its run was cancelled): should the group read find it sent, the
         * result carries the text the claim recorded */
        sl->text = sender_arena_strdup(&s->arena, row->content);
        sl->type = sender_slot_type_from_name(row->msg_type, sl->type);
    }
    /* a claim released for the retry topic ("retry:N"): free to take at once; "retry?:N"
     * after the list API said the provider does not have the message */
    if (sender_claims_parse_released(row->claimed_by, &rounds, &unknown)) {
        sl->stale = 1;
        sl->released = unknown ? 2 : 1;
        sl->retries = rounds;
    }
}

static void on_taken(void *arg, const mf_uuid *job)
{
    sender_ctx *s = arg;
    sender_slot *sl = sender_ctx_slot_by_id(s, job);

    if (sl != NULL && sl->state == SLOT_PENDING) {
        sl->state = SLOT_SEND;
        sl->fresh = 1;
        sl->stale = 0;
        sl->chunk = s->chunk_cur;
        sl->has_chunk = 1;
    }
}

/* Takes stale claims over (conditionally, one statement). A claim abandoned while its
 * outcome was unknown (a crashed sender, or "retry?:N") whose job was put in a provider group
 * is resolved by the send loop before anything is resent: it reads that group (and sends it
 * when it is still PENDING), then the group's messages. Without a recorded group nothing was
 * ever added for the job, so it is sent at once. */
static int resolve_stale(sender_ctx *s, mf_err *err)
{
    size_t n = s->n ? s->n : 1, nt = 0;
    mf_uuid *ids = calloc(n, sizeof(*ids));
    const char **olds = calloc(n, sizeof(*olds));
    const char **gids = calloc(n, sizeof(*gids));
    int rc = -1;

    if (!ids || !olds || !gids) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        char idt[MF_UUID_STR_SIZE], rt[MF_UUID_STR_SIZE];

        if (sl->state != SLOT_PENDING || !sl->stale)
            continue;
        /* "retry:N": the provider was known not to hold the message */
        sl->resolve = sl->released != 1 && sl->pgid != NULL;
        if (sl->released == 1)
            sl->pgid = NULL;
        if (!sl->released) {
            mf_metric_add(s->obs.in_doubt, NULL, 1);
            MF_LOG(s->log, MF_LOG_INFO, "in-doubt claim taken over",
                   MF_KV_S("job_id", mf_uuid_format(&sl->job.id, idt)),
                   MF_KV_S("run_id", mf_uuid_format(&sl->job.run, rt)),
                   MF_KV_S("group_id", sl->pgid ? sl->pgid : ""));
        }
        ids[nt] = sl->job.id;
        gids[nt] = sl->pgid; /* kept in the claim row across the take-over */
        olds[nt++] = sl->old_claimed_at;
    }
    if ((nt > 0 && next_chunk(s, err) != 0) ||
        sender_claims_take_over(&s->claims, s->pg, ids, olds, gids, nt, s->cfg->common.instance_id,
                                &s->chunk_cur, on_taken, s, err) != 0)
        goto out;
    rc = 0;
out:
    free(ids);
    free(olds);
    free(gids);
    return rc;
}

static int fetch_pending(sender_ctx *s, int first, mf_err *err)
{
    size_t n = 0;
    mf_uuid *ids = calloc(s->n ? s->n : 1, sizeof(*ids));
    int rc;

    if (ids == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        int want = first ? (sl->state == SLOT_SEND || sl->state == SLOT_FAILED) && !sl->fresh &&
                               i < s->claim_next
                         : sl->state == SLOT_PENDING;

        if (want)
            ids[n++] = sl->job.id;
    }
    rc = sender_claims_fetch(&s->claims, s->pg, ids, n, s->cfg->indoubt_after_ms, on_existing, s,
                             err);
    free(ids);
    /* on_existing copies the claims' group ids and outcomes: none may be missing */
    if (rc == 0)
        rc = sender_arena_check(&s->arena, err);
    return rc;
}

int sender_settle_existing(sender_ctx *s, int first, mf_err *err)
{
    if (fetch_pending(s, first, err) != 0 || resolve_stale(s, err) != 0)
        return -1;
    return 0;
}

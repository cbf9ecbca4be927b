/* sender_runstate: cancelled runs and paused workflows (sender_halt's answer) applied to the
 * batch and to the held retry jobs. */
#include "sender_runstate.h"

#include <string.h>

#include "mf_clock.h"
#include "sender_ctx.h"
#include "sender_produce.h"

void sender_runstate_cancel_slot(sender_ctx *s, sender_slot *sl)
{
    const sender_template *t = sender_catalog_template(s->cat, &sl->job.tpl);

    if (sl->text == NULL) { /* not prepared: the template's type, the job's variables */
        sl->type = t != NULL ? sender_slot_type_from_name(t->message_type, MF_TYPE_SMS)
                             : MF_TYPE_SMS;
        if (sl->nused == 0 && sl->job.vars.n > 0) {
            mf_codec_kv *used = sender_arena_alloc(&s->arena, sl->job.vars.n * sizeof(*used));

            if (used != NULL) { /* a replay of the cancelled job needs them */
                memcpy(used, sl->job.vars.items, sl->job.vars.n * sizeof(*used));
                sl->used = used;
                sl->nused = sl->job.vars.n;
            }
        }
    }
    sl->st = MF_RESULT_CANCELLED;
    sl->ch = MF_TYPE_NONE;
    sl->code = SENDER_CODE_CANCELLED;
    sl->msg = "run cancelled before sending";
    sl->pmid = NULL;
    sl->gid = NULL;
    sl->sent_ms = 0;
    sl->cancel = 1;
}

/* A job of a paused workflow: to the retry topic, due at once (the retry consumer parks it),
 * or, when it came from the retry topic, back into the retry queue, parked. No claim, no
 * result: the offset counts as done once the retry message is acknowledged (or stays at the
 * parked job). */
static int hold_paused(sender_ctx *s, sender_slot *sl, size_t i, mf_err *err)
{
    const mf_kafka_msg *m = &s->msgs[i];

    if (strcmp(m->topic, s->t_retry) == 0) {
        if (m->rkm == NULL)
            sender_retryq_keep(&s->rq, m->partition, m->offset);
        else if (!s->held_msg[i] &&
                 sender_retryq_hold(&s->rq, m, mf_clock_wall_ms(), &sl->job.run, 1, err) != 0)
            return -1;
        s->held_msg[i] = 1;
        sl->held = 1;
    } else {
        if (sender_produce_retry(s, sl, mf_clock_wall_ms(), err) != 0)
            return -1;
        s->n_held++;
        mf_metric_add(s->obs.held, NULL, 1);
    }
    sl->state = SLOT_SKIP;
    return 0;
}

int sender_runstate_apply(sender_ctx *s, size_t from, mf_err *err)
{
    if (sender_halt_count(&s->halt) == 0)
        return 0;
    for (size_t i = from; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];
        sender_halt_state hs;

        if (sl->state != SLOT_SEND || sl->fresh)
            continue;
        hs = sender_halt_of(&s->halt, &sl->job.run);
        if (hs == SENDER_HALT_CANCELLED) {
            sender_runstate_cancel_slot(s, sl);
            sl->state = SLOT_FAILED; /* its claim is inserted as failed: RUN_CANCELLED */
        } else if (hs == SENDER_HALT_PAUSED && hold_paused(s, sl, i, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int held_state(void *arg, const mf_uuid *run)
{
    switch (sender_halt_of(&((sender_ctx *)arg)->halt, run)) {
    case SENDER_HALT_PAUSED: return SENDER_RETRYQ_PARK;
    case SENDER_HALT_CANCELLED: return SENDER_RETRYQ_NOW;
    default: return SENDER_RETRYQ_GO;
    }
}

void sender_runstate_mark_held(sender_ctx *s)
{
    sender_retryq_mark(&s->rq, held_state, s);
}

/* Asks about the runs of the held retry jobs too (only when a query runs anyway) and applies
 * a new answer to them: parked while paused, due at once when cancelled. */
static int check_with_held(sender_ctx *s, mf_err *err)
{
    int rc;

    if (!sender_halt_fresh(&s->halt, mf_clock_mono_ms()))
        for (size_t i = 0; i < s->rq.n; i++)
            if (sender_halt_want(&s->halt, &s->rq.h[i].run, err) != 0)
                return -1;
    rc = sender_halt_check(&s->halt, s->pg, mf_clock_mono_ms(), err);
    if (rc > 0)
        sender_runstate_mark_held(s);
    return rc;
}

/* Before anything is prepared or claimed: the state of every run of the batch, at most one
 * query (cached for MF_SENDER_HALT_CHECK_MS), applied to the slots. */
int sender_runstate_check(sender_ctx *s, mf_err *err)
{
    sender_halt_begin(&s->halt);
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND &&
            sender_halt_want(&s->halt, &s->slots[i].job.run, err) != 0)
            return -1;
    if (check_with_held(s, err) < 0)
        return -1;
    return sender_runstate_apply(s, 0, err);
}

/* While no batch runs: held retry jobs learn that their workflow was resumed (or their run
 * cancelled) within MF_SENDER_HALT_CHECK_MS. */
void sender_runstate_tick(sender_ctx *s)
{
    mf_err e2;

    if (s->rq.n == 0 || !sender_halt_due(&s->halt, mf_clock_mono_ms()))
        return;
    sender_halt_begin(&s->halt);
    if (check_with_held(s, &e2) < 0)
        MF_LOG(s->log, MF_LOG_WARN, "could not read the state of held runs",
               MF_KV_S("error", e2.msg));
}

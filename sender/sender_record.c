/* sender_record: the outcomes of the jobs being sent and their claims: final outcomes and
 * retries decided, claims renewed, outcomes stored, claims released to the retry topic. */
#include "sender_record.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mf_clock.h"
#include "sender_ctx.h"
#include "sender_produce.h"
#include "sender_rules.h"

void sender_record_final(sender_ctx *s, sender_slot *sl, mf_result_status st, const char *pmid,
                         const char *gid, const char *code, const char *msg)
{
    sender_slot_final(&s->arena, sl, st, pmid, gid, code, msg,
                      st == MF_RESULT_ACCEPTED ? mf_clock_wall_ms() : 0);
    sl->finish = 1;
}

/* The fast in-place resends are used up: hand the job to the retry topic (1: the provider
 * has no such message, 2: unknown), or fail it after MF_SENDER_RETRY_MAX rounds. A job whose
 * message may be in a group is never failed: that group may still be sent (by the resolver
 * of another of its jobs), and a job recorded failed whose message went out would be sent a
 * second time by a replay. It goes round the retry topic until its group can be read. */
void sender_record_hand_off(sender_ctx *s, sender_slot *sl, int kind)
{
    if (kind == 2 || sl->retries < s->cfg->retry_max) {
        sl->to_retry = kind;
        return;
    }
    sender_record_final(s, sl, MF_RESULT_FAILED, NULL, NULL, sl->code, sl->msg);
}

/* The slot's message is surely not at the provider after a failed try: back off and send
 * again (MF_SENDER_FAST_RETRIES times), then hand it to the retry topic. */
void sender_record_retry(sender_ctx *s, sender_slot *sl)
{
    const sender_config *c = s->cfg;

    sl->attempts++;
    if (sl->attempts > c->fast_retries) {
        sender_record_hand_off(s, sl, 1);
        return;
    }
    sl->next_try_ms = mf_clock_mono_ms() +
                      sender_rules_backoff_ms(sl->attempts, c->retry_base_ms, c->retry_cap_ms,
                                              sl->retry_after_ms, sender_ctx_rand(s));
    sl->renew = 1;
}

/* Remembers the last error; when the provider may have the message (maybe_sent, or a 2xx
 * that did not mention it) the list API is asked first, else the retry is scheduled. */
void sender_record_trouble(sender_ctx *s, sender_slot *sl, const char *code, const char *msg,
                           long long retry_after_ms, int maybe_sent)
{
    sl->code = sender_arena_strdup(&s->arena, code);
    sl->msg = sender_arena_strdup(&s->arena, msg);
    sl->retry_after_ms = retry_after_ms;
    if (maybe_sent)
        sl->resolve = 1;
    else
        sender_record_retry(s, sl);
}

static void on_renewed(void *arg, const mf_uuid *job)
{
    sender_slot *sl = sender_ctx_slot_by_id(arg, job);

    if (sl != NULL)
        sl->renew = 0;
}

/* Renews the claims of slots about to be resent; those taken over become SLOT_PENDING. */
int sender_record_renew(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->renew && !sl->finish && !sl->resolve && !sl->to_retry)
            st->renew_ids[n++] = sl->job.id;
    }
    if (n == 0)
        return 0;
    if (sender_claims_renew(&s->claims, s->pg, st->renew_ids, n, s->cfg->common.instance_id,
                            on_renewed, s, err) != 0)
        return -1;
    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->renew && !sl->finish && !sl->resolve && !sl->to_retry) {
            sl->state = SLOT_PENDING; /* another sender took it over: watch its claim */
            sl->renew = 0;
            sl->fresh = 0;
        }
    }
    return 0;
}

/* Records the outcomes that became final and marks the slots SLOT_FINAL; returns how many,
 * -1 on error. Our claims carry a chunk id, so their outcomes are appended per chunk
 * (sender_claims_record); a slot without one (cannot happen today: every slot sent is freshly
 * claimed or taken over) would have its claim row updated instead. */
int sender_record_store(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0, nrec = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t c = 0; c < st->ntodo; c++) {
            sender_slot *sl = &s->slots[st->todo[c]];
            sender_claim_out *o = &st->outs[n];

            if (sl->state != SLOT_SEND || !sl->finish || sl->has_chunk != (pass == 0))
                continue;
            o->job = sl->job.id;
            o->chunk = sl->chunk;
            o->state = sl->st == MF_RESULT_ACCEPTED ? "accepted" : "failed";
            o->pmid = sl->pmid;
            o->gid = sl->gid;
            o->code = sl->code;
            o->message = sl->msg;
            o->channel = sl->st == MF_RESULT_ACCEPTED ? mf_msg_type_name(sl->ch) : NULL;
            o->sent_ms = sl->sent_ms;
            n++;
        }
        if (pass == 0)
            nrec = n;
    }
    if (n == 0)
        return 0;
    if (sender_arena_check(&s->arena, err) != 0 ||
        sender_claims_record(&s->claims, s->pg, st->outs, nrec, err) != 0 ||
        sender_claims_finish(&s->claims, s->pg, st->outs + nrec, n - nrec, err) != 0)
        return -1;
    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->finish) {
            sl->state = SLOT_FINAL;
            sl->finish = 0;
        }
    }
    return (int)(n > INT_MAX ? INT_MAX : n);
}

static int release_kind(const sender_slot *sl, int produce)
{
    if (produce)
        return sl->to_retry == SENDER_HOLD_PAUSED ? 1 : sl->to_retry;
    return sl->resolve || sl->to_retry == 2 || sl->pgid != NULL ? 2 : 1;
}

static void on_released(void *arg, const mf_uuid *job)
{
    sender_slot *sl = sender_ctx_slot_by_id(arg, job);

    if (sl != NULL)
        sl->released = -1; /* marker: ours was released */
}

/* Releases the claims of the selected slots as "retry:N" / "retry?:N" (one UPDATE). With
 * produce set, each released job is produced to the retry topic with its next not-before
 * and the slot is done (SLOT_SKIP); a claim taken over meanwhile makes the slot pending. */
int sender_record_release(sender_sendlist *st, int produce, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];
        int kind = release_kind(sl, produce);
        int rounds = sl->retries + (produce && sl->to_retry != SENDER_HOLD_PAUSED ? 1 : 0);

        if (sl->state != SLOT_SEND || sl->in_flight || sl->finish || kind == 0)
            continue;
        snprintf(st->rel_buf[n], sizeof(st->rel_buf[n]), "%s%d",
                 kind == 2 ? "retry?:" : "retry:", rounds);
        st->renew_ids[n] = sl->job.id;
        st->rel_as[n] = st->rel_buf[n];
        st->rel_code[n] = sl->code;
        st->rel_msg[n] = sl->msg;
        st->rel_gid[n] = sl->pgid;
        sl->released = 0;
        n++;
    }
    if (n == 0)
        return 0;
    if (sender_claims_release(&s->claims, s->pg, st->renew_ids, st->rel_as, st->rel_code,
                              st->rel_msg, st->rel_gid, n, s->cfg->common.instance_id, on_released,
                              s, err) != 0)
        return -1;
    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];
        int kind = release_kind(sl, produce);

        if (sl->state != SLOT_SEND || sl->in_flight || sl->finish || kind == 0)
            continue;
        if (sl->released != -1) {
            sl->state = SLOT_PENDING; /* taken over by another sender: watch its claim */
            sl->fresh = 0;
            sl->to_retry = 0;
            continue;
        }
        sl->released = 0;
        sl->state = SLOT_SKIP;
        if (produce && sl->to_retry == SENDER_HOLD_PAUSED) {
            /* due at once: the retry consumer parks it until the workflow is resumed */
            if (sender_produce_retry(s, sl, mf_clock_wall_ms(), err) != 0)
                return -1;
            s->n_held++;
            mf_metric_add(s->obs.held, NULL, 1);
        } else if (produce) {
            int64_t nb = mf_clock_wall_ms() +
                         sender_rules_backoff_ms(sl->retries + 1, s->cfg->retry_delay_ms,
                                                 s->cfg->retry_delay_cap_ms, sl->retry_after_ms,
                                                 sender_ctx_rand(s));
            char id[MF_UUID_STR_SIZE];

            MF_LOG(s->log, MF_LOG_INFO, "job handed to the retry topic",
                   MF_KV_S("job_id", mf_uuid_format(&sl->job.id, id)),
                   MF_KV_I("round", sl->retries + 1), MF_KV_I("delay_ms", nb - mf_clock_wall_ms()),
                   MF_KV_S("code", sl->code ? sl->code : ""));
            if (sender_produce_retry(s, sl, nb, err) != 0)
                return -1;
            s->n_retried++;
            mf_metric_add(s->obs.retries, NULL, 1);
        }
    }
    return 0;
}

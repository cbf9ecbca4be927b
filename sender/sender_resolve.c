/* sender_resolve: jobs in doubt settled by reading their provider group (sent when still
 * pending, deleted when a run it carries was cancelled). */
#include "sender_resolve.h"

#include <stdio.h>
#include <string.h>

#include "mf_clock.h"
#include "mf_daemon.h"
#include "sender_ctx.h"
#include "sender_record.h"
#include "sender_rules.h"
#include "sender_runstate.h"

/* The group could not be read: try again after a backoff (never resend blindly); after the
 * fast retries the job goes to the retry topic, its claim released as "unknown" with the
 * group kept in it. */
static void resolve_failed(sender_ctx *s, sender_slot *sl, long long retry_after_ms)
{
    sl->resolve_fails++;
    sl->next_try_ms = mf_clock_mono_ms() +
                      sender_rules_backoff_ms(sl->resolve_fails, s->cfg->retry_base_ms,
                                              s->cfg->retry_cap_ms, retry_after_ms,
                                              sender_ctx_rand(s));
    if (sl->resolve_fails > s->cfg->fast_retries) {
        sl->resolve = 0;
        sender_record_hand_off(s, sl, 2);
    }
}

/* Whether slot sl waits for group gid to be read now. */
static int waits_for(const sender_slot *sl, const char *gid, int64_t now)
{
    return sl->state == SLOT_SEND && sl->resolve && !sl->in_flight && !sl->finish &&
           !sl->to_retry && sl->next_try_ms <= now && sl->pgid != NULL &&
           strcmp(sl->pgid, gid) == 0;
}

/* Settles the slots waiting for gid. how: 0 the group does not hold them (resend or give
 * up), 1 could not tell (backoff), 2 failed for good with code/msg. */
static void settle_waiting(sender_sendlist *st, const char *gid, int64_t now, int how,
                           const char *code, const char *msg, long long retry_after_ms)
{
    sender_ctx *s = st->s;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (!waits_for(sl, gid, now))
            continue;
        if (how == 1) {
            resolve_failed(s, sl, retry_after_ms);
            continue;
        }
        sl->resolve = 0;
        sl->pgid = NULL;
        if (how == 2)
            sender_record_final(s, sl, MF_RESULT_FAILED, NULL, NULL, code, msg);
        else
            sender_record_retry(s, sl); /* the provider does not have it: resend (or give up) */
    }
}

/* Whether a slot waiting for group gid belongs to a cancelled run. */
static int waits_cancelled(sender_sendlist *st, const char *gid, int64_t now)
{
    sender_ctx *s = st->s;

    for (size_t c = 0; c < st->ntodo; c++) {
        const sender_slot *sl = &s->slots[st->todo[c]];

        if (waits_for(sl, gid, now) &&
            (sl->cancel || sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_CANCELLED))
            return 1;
    }
    return 0;
}

/* The group was deleted unsent: it holds nothing. A cancelled run's waiting slots are
 * cancelled, the others are sent again in a new group (as for any group read DELETED). */
static void settle_deleted(sender_sendlist *st, const char *gid, int64_t now)
{
    sender_ctx *s = st->s;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (!waits_for(sl, gid, now) ||
            !(sl->cancel || sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_CANCELLED))
            continue;
        sl->resolve = 0;
        sl->pgid = NULL;
        sender_runstate_cancel_slot(s, sl);
        sl->finish = 1;
    }
    settle_waiting(st, gid, now, 0, NULL, NULL, -1);
}

/* Reads every page of the group's messages and settles the waiting slots found in it (a
 * registration error 1xxx failed, anything else accepted: sent with the group). 0 when all
 * pages were read, -1 when a page could not be. */
static int match_group_messages(sender_sendlist *st, const char *gid, int64_t now, mf_err *err)
{
    sender_ctx *s = st->s;
    mf_coolsms_list_result lr;
    char start[128] = "";

    for (;;) {
        if (mf_coolsms_group_messages(s->sms, gid, start, 500, &lr, err) != 0) {
            mf_coolsms_list_result_free(&lr);
            return -1;
        }
        for (size_t i = 0; i < lr.n_items; i++) {
            const mf_coolsms_listed *it = &lr.items[i];
            sender_slot *sl;
            mf_uuid id;

            if (mf_uuid_parse(it->job_id, &id, NULL) != 0 ||
                (sl = sender_ctx_slot_by_id(s, &id)) == NULL || !waits_for(sl, gid, now))
                continue;
            sl->resolve = 0;
            sender_record_final(s, sl,
                                it->status_code[0] == '1' ? MF_RESULT_FAILED : MF_RESULT_ACCEPTED,
                                it->message_id, gid, it->status_code, it->status_message);
        }
        if (lr.next_key[0] == '\0' || strcmp(lr.next_key, start) == 0)
            break;
        snprintf(start, sizeof(start), "%s", lr.next_key);
        mf_coolsms_list_result_free(&lr);
    }
    mf_coolsms_list_result_free(&lr);
    return 0;
}

/*
 * Resolves the slots in doubt about group gid: reads the group; a PENDING group was never
 * sent, so it is sent now (only a PENDING group can be sent, so two resolvers cannot send it
 * twice; one the provider refuses for good is deleted and its messages fail with the reason);
 * a DELETED or unknown group holds nothing; otherwise the group's messages say which jobs it
 * carried. Jobs it does not carry are resent in a new group.
 */
static void resolve_group(sender_sendlist *st, const char *gid, int64_t now)
{
    sender_ctx *s = st->s;
    mf_coolsms_group_info gi;
    mf_err err = {0};

    if (mf_coolsms_group_get(s->sms, gid, &gi, &err) != 0) {
        MF_LOG(s->log, MF_LOG_WARN, "group lookup failed", MF_KV_S("group_id", gid),
               MF_KV_S("error", err.msg));
        if (gi.http_status == 404) {
            settle_waiting(st, gid, now, 0, NULL, NULL, -1);
            return;
        }
        sender_obs_dep(&s->obs, "coolsms", 0, err.msg);
        settle_waiting(st, gid, now, 1, NULL, NULL, gi.retry_after_ms);
        return;
    }
    if (strcmp(gi.status, "PENDING") == 0 && waits_cancelled(st, gid, now)) {
        /* never sent, and a run it carries was cancelled: deleted instead of sent */
        if (mf_coolsms_group_delete(s->sms, gid, &gi, &err) == 0 || gi.http_status == 404) {
            mf_metric_add(s->obs.groups_deleted, NULL, 1);
            MF_LOG(s->log, MF_LOG_INFO, "group deleted unsent: run cancelled",
                   MF_KV_S("group_id", gid));
            settle_deleted(st, gid, now);
            return;
        }
        if (gi.cls != MF_COOLSMS_PERMANENT) {
            settle_waiting(st, gid, now, 1, NULL, NULL, gi.retry_after_ms);
            return;
        }
        /* no longer PENDING (sent meanwhile): its messages say what it carried */
        snprintf(gi.status, sizeof(gi.status), "%s", "?");
    } else if (strcmp(gi.status, "PENDING") == 0 &&
               mf_coolsms_group_send_wait(s->sms, gid, &gi, &err) != 0 && gi.http_status != 409) {
        char code[64], msg[512];

        MF_LOG(s->log, MF_LOG_WARN, "sending a pending group failed", MF_KV_S("group_id", gid),
               MF_KV_S("error", err.msg));
        if (gi.cls != MF_COOLSMS_PERMANENT) {
            settle_waiting(st, gid, now, 1, NULL, NULL, gi.retry_after_ms);
            return;
        }
        snprintf(code, sizeof(code), "%s", gi.error_code);
        snprintf(msg, sizeof(msg), "%s", gi.error_message);
        if (mf_coolsms_group_delete(s->sms, gid, &gi, &err) != 0 && gi.http_status != 404) {
            settle_waiting(st, gid, now, 1, NULL, NULL, gi.retry_after_ms);
            return;
        }
        settle_waiting(st, gid, now, 2, code, msg, -1);
        return;
    }
    if (strcmp(gi.status, "DELETED") == 0) {
        settle_waiting(st, gid, now, 0, NULL, NULL, -1);
        return;
    }
    if (match_group_messages(st, gid, now, &err) != 0) {
        MF_LOG(s->log, MF_LOG_WARN, "reading the group's messages failed", MF_KV_S("group_id", gid),
               MF_KV_S("error", err.msg));
        settle_waiting(st, gid, now, 1, NULL, NULL, -1);
        return;
    }
    settle_waiting(st, gid, now, 0, NULL, NULL, -1); /* sent without them */
}

int sender_resolve_pending(sender_sendlist *st)
{
    sender_ctx *s = st->s;
    int64_t now = mf_clock_mono_ms();
    int did = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state != SLOT_SEND || !sl->resolve || sl->in_flight || sl->finish || sl->to_retry ||
            sl->next_try_ms > now)
            continue;
        did = 1;
        if (sl->pgid == NULL) { /* no group was recorded: nothing was ever added */
            sl->resolve = 0;
            sender_record_retry(s, sl);
        } else {
            char gid[64];

            snprintf(gid, sizeof(gid), "%s", sl->pgid);
            resolve_group(st, gid, now);
        }
        if (mf_daemon_stopping())
            break;
    }
    return did;
}

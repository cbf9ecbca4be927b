/* sender_send: hand the batch's claimed jobs to CoolSMS in provider message groups. */
#include "sender_send.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_clock.h"
#include "sender_budget.h"
#include "sender_ctx.h"
#include "sender_produce.h"
#include "sender_record.h"
#include "sender_resolve.h"
#include "sender_runstate.h"
#include "sender_sendlist.h"
#include "sender_settle.h"

/*
 * One provider message group: the jobs it carries and the step it has reached. A group is
 * created (POST /groups), recorded with the jobs' claims (mf_claim_groups) before anything is
 * added, filled (PUT /groups/{id}/messages) and sent (POST /groups/{id}/send). Every step whose
 * answer is lost leaves the group id in the claims, so whoever resolves the claim reads the
 * group instead of guessing: the provider has no idempotency key and its list API cannot
 * search by customFields.
 */
typedef enum grp_step {
    GRP_CREATE = 0, /* to create */
    GRP_RECORD,     /* created: record its id with the claims */
    GRP_ADD,        /* recorded: add the messages */
    GRP_SEND,       /* filled: send it */
    GRP_DONE        /* finished (every slot settled or handed to the resolver) */
} grp_step;

typedef struct grp {
    struct sender_sendlist *st;
    size_t *slots;
    size_t n;
    grp_step step;
    int in_flight;
    char gid[64];
    int64_t t0_ms; /* monotonic: the step went on the wire */
    struct grp *next;
} grp;

static const char *type_wire(mf_msg_type t)
{
    return t == MF_TYPE_KAKAO ? "ATA" : t == MF_TYPE_LMS ? "LMS" : "SMS";
}

static const char *op_name(mf_coolsms_op op)
{
    return op == MF_COOLSMS_OP_GROUP_CREATE ? "create"
           : op == MF_COOLSMS_OP_GROUP_ADD  ? "add"
           : op == MF_COOLSMS_OP_GROUP_SEND ? "send"
                                            : "send-many";
}

static void observe_request(sender_ctx *s, const grp *g, const mf_coolsms_result *res)
{
    const char *outcome = res->cls == MF_COOLSMS_OK          ? "ok"
                          : res->cls == MF_COOLSMS_TRANSIENT ? "transient"
                                                             : "permanent";
    const char *lv[1] = {outcome};

    mf_metric_add(s->obs.provider_requests, lv, 1);
    mf_metric_observe(s->obs.provider_seconds, NULL,
                      (double)(mf_clock_mono_ms() - g->t0_ms) / 1000.0);
    if (res->cls == MF_COOLSMS_TRANSIENT) {
        char detail[192];

        snprintf(detail, sizeof(detail), "%s (HTTP %ld)", res->error_code, (long)res->http_status);
        sender_obs_dep(&s->obs, "coolsms", 0, detail);
    } else {
        sender_obs_dep(&s->obs, "coolsms", 1, NULL);
    }
    if (res->cls != MF_COOLSMS_OK)
        MF_LOG(s->log, MF_LOG_WARN, "provider request failed", MF_KV_S("step", op_name(res->op)),
               MF_KV_S("class", mf_coolsms_class_name(res->cls)), MF_KV_S("code", res->error_code),
               MF_KV_I("http_status", res->http_status), MF_KV_I("messages", (long long)g->n),
               MF_KV_I("maybe_sent", res->maybe_sent), MF_KV_S("group_id", g->gid));
}

/* Settles every slot of g still open and takes it out of the group. how: 0 the provider
 * surely holds none of them (resend or give up), 1 the group may hold them (read it before
 * anything is resent), 2 failed for good with the request's error. */
static void group_settle(sender_ctx *s, grp *g, int how, const char *code, const char *msg,
                         long long retry_after_ms)
{
    for (size_t i = 0; i < g->n; i++) {
        sender_slot *sl = &s->slots[g->slots[i]];

        if (!sl->in_flight)
            continue;
        sl->in_flight = 0;
        sl->registered = 0;
        if (how == 2) {
            sender_record_final(s, sl, MF_RESULT_FAILED, NULL, NULL, code[0] ? code : "PERMANENT",
                                msg);
            continue;
        }
        if (how == 0)
            sl->pgid = NULL;
        sender_record_trouble(s, sl, code, msg, retry_after_ms, how == 1);
    }
    g->step = GRP_DONE;
}

static void on_created(sender_ctx *s, grp *g, const mf_coolsms_result *res)
{
    if (res->cls == MF_COOLSMS_OK && res->group_id[0] != '\0') {
        snprintf(g->gid, sizeof(g->gid), "%s", res->group_id);
        g->step = GRP_RECORD;
    } else if (res->cls == MF_COOLSMS_OK) {
        group_settle(s, g, 0, "BAD_RESPONSE", "the group answer carries no groupId", -1);
    } else if (res->cls == MF_COOLSMS_TRANSIENT) {
        /* at worst an empty group was created: it holds none of the messages */
        group_settle(s, g, 0, res->error_code, res->error_message, res->retry_after_ms);
    } else {
        group_settle(s, g, 2, res->error_code, res->error_message, -1);
    }
}

static void on_added(sender_ctx *s, grp *g, const mf_coolsms_result *res)
{
    int any = 0;

    if (res->cls != MF_COOLSMS_OK) {
        group_settle(s, g,
                     res->cls == MF_COOLSMS_PERMANENT ? 2
                     : res->maybe_sent                ? 1
                                                      : 0,
                     res->error_code, res->error_message, res->retry_after_ms);
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        sender_slot *sl = &s->slots[g->slots[i]];
        const mf_coolsms_outcome *o = &res->outcomes[i];

        if (o->state == MF_COOLSMS_MSG_ACCEPTED) {
            sl->registered = 1;
            sl->pmid = sender_arena_strdup(&s->arena, o->message_id);
            any = 1;
            continue;
        }
        sl->in_flight = 0;
        if (o->state == MF_COOLSMS_MSG_FAILED) /* stored in the group, never sent */
            sender_record_final(s, sl, MF_RESULT_FAILED, o->message_id, g->gid, o->status_code,
                                o->status_message);
        else
            sender_record_trouble(s, sl, "UNKNOWN_OUTCOME",
                                  "the answer did not mention the message", -1, 1);
    }
    g->step = any ? GRP_SEND : GRP_DONE;
}

static void on_sent(sender_ctx *s, grp *g, const mf_coolsms_result *res)
{
    if (res->cls != MF_COOLSMS_OK) {
        /* whatever the answer (lost, 5xx, 409 already sent, 402...), the group is read before
         * anything else happens to its messages: the resolver sends it if still PENDING, and
         * deletes it when the provider refuses to send it for good */
        group_settle(s, g, 1, res->error_code, res->error_message, res->retry_after_ms);
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        sender_slot *sl = &s->slots[g->slots[i]];

        if (!sl->in_flight)
            continue;
        sl->in_flight = 0;
        sl->registered = 0;
        sender_record_final(s, sl, MF_RESULT_ACCEPTED, sl->pmid, g->gid, "2000", NULL);
    }
    g->step = GRP_DONE;
}

static void on_group_done(const mf_coolsms_result *res, void *user)
{
    grp *g = user;
    sender_ctx *s;

    g->in_flight = 0;
    if (g->st == NULL) { /* the batch was left while this step was in flight */
        free(g->slots);
        free(g);
        return;
    }
    s = g->st->s;
    observe_request(s, g, res);
    if (res->op == MF_COOLSMS_OP_GROUP_CREATE)
        on_created(s, g, res);
    else if (res->op == MF_COOLSMS_OP_GROUP_ADD)
        on_added(s, g, res);
    else
        on_sent(s, g, res);
}

static void fill_msg(sender_sendlist *st, sender_slot *sl, size_t k, mf_coolsms_kakao *kk)
{
    mf_coolsms_msg *m = &st->msgs[k];

    memset(m, 0, sizeof(*m));
    m->to = sl->job.to;
    m->from = sl->from;
    m->text = sl->text;
    m->type = type_wire(sl->type);
    m->subject = sl->subject;
    m->job_id = mf_uuid_format(&sl->job.id, st->ids[k]);
    m->run_id = mf_uuid_format(&sl->job.run, st->runs[k]);
    if (sl->type == MF_TYPE_KAKAO) {
        memset(kk, 0, sizeof(*kk));
        kk->pf_id = sl->pf_id;
        kk->template_id = sl->tpl_code;
        kk->variables = sl->kvars;
        kk->n_variables = sl->nkvars;
        kk->buttons_json = sl->buttons;
        kk->disable_sms = sl->disable_sms;
        m->kakao = kk;
    }
}

static uint64_t hash_to(const char *to)
{
    uint64_t h = 1469598103934665603ull;

    for (; *to; to++)
        h = (h ^ (unsigned char)*to) * 1099511628211ull;
    return h ? h : 1;
}

/* Adds `to` to the request's set of numbers; 0 when it was already there. The provider
 * rejects a repeated number within one request (allowDuplicates false), so a second job for
 * the same number waits for the next request. */
static int to_set_add(sender_sendlist *st, const char *to)
{
    uint64_t h = hash_to(to);

    for (size_t i = h & (st->set_cap - 1);; i = (i + 1) & (st->set_cap - 1)) {
        if (st->set[i] == h)
            return 0;
        if (st->set[i] == 0) {
            st->set[i] = h;
            return 1;
        }
    }
}

/* Takes ready slots into a new group (distinct numbers, within the rate budget): *out, or
 * NULL when nothing was ready. -1 when out of memory. */
static int new_group(sender_sendlist *st, int64_t now, grp **out, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t want = 0, granted, k = 0;
    grp *g;

    *out = NULL;
    for (size_t c = 0; c < st->ntodo && want < (size_t)s->cfg->request_size; c++)
        want += sender_slot_ready(&s->slots[st->todo[c]], now);
    if (want == 0)
        return 0;
    if (sender_budget_take(s, st->todo, st->ntodo, want, now, &granted, err) != 0)
        return -1;
    if (granted == 0)
        return 0;
    g = calloc(1, sizeof(*g));
    if (g == NULL || (g->slots = calloc(granted, sizeof(size_t))) == NULL) {
        free(g);
        return mf_err_set(err, "out of memory");
    }
    g->st = st;
    memset(st->set, 0, st->set_cap * sizeof(*st->set));
    for (size_t c = 0; c < st->ntodo && k < granted; c++) {
        size_t si = st->todo[c];

        if (!sender_slot_ready(&s->slots[si], now) || !to_set_add(st, s->slots[si].job.to))
            continue;
        g->slots[k++] = si;
        s->slots[si].in_flight = 1;
    }
    sender_budget_give_back(s, granted - k); /* unused budget goes back */
    g->n = k;
    if (k == 0) {
        free(g->slots);
        free(g);
        return 0;
    }
    g->next = st->groups;
    st->groups = g;
    *out = g;
    return 0;
}

/* Puts the group's next step on the wire. A message the client refuses to serialise fails the
 * group's messages at once (nothing was added). */
static int submit_step(sender_sendlist *st, grp *g, mf_err *err)
{
    sender_ctx *s = st->s;
    int rc;

    g->t0_ms = mf_clock_mono_ms();
    if (g->step == GRP_CREATE) {
        char chunk[MF_UUID_STR_SIZE];
        mf_coolsms_kv cf[2] = {{"fleet", "msgfleet"},
                               {"chunkId", mf_uuid_format(&s->slots[g->slots[0]].chunk, chunk)}};

        rc = mf_coolsms_group_create(s->sms, cf, 2, on_group_done, g, NULL, err);
    } else if (g->step == GRP_ADD) {
        for (size_t i = 0; i < g->n; i++)
            fill_msg(st, &s->slots[g->slots[i]], i, &st->kk[i]);
        rc = mf_coolsms_group_add(s->sms, g->gid, st->msgs, g->n, on_group_done, g, NULL, err);
        if (rc != 0) {
            group_settle(s, g, 2, "BAD_MESSAGE", err->msg, -1);
            return 0;
        }
        mf_metric_observe(s->obs.batch_size, NULL, (double)g->n);
    } else {
        rc = mf_coolsms_group_send(s->sms, g->gid, on_group_done, g, NULL, err);
    }
    if (rc != 0)
        return -1;
    g->in_flight = 1;
    return 0;
}

/* The waiting group step that comes first: sends, then adds, then creates (a group further
 * along frees its jobs sooner). NULL when none waits. */
static grp *next_step(sender_sendlist *st)
{
    grp *best = NULL;

    for (grp *g = st->groups; g != NULL; g = g->next)
        if (!g->in_flight && (g->step == GRP_CREATE || g->step == GRP_ADD || g->step == GRP_SEND) &&
            (best == NULL || g->step > best->step))
            best = g;
    return best;
}

/* Submits group steps and new groups while free slots, rate budget and ready messages
 * allow; returns how many were submitted, -1 on error. */
static int submit_ready(sender_sendlist *st, mf_err *err)
{
    int64_t now = mf_clock_mono_ms();
    int n = 0;

    while (mf_coolsms_free_slots(st->s->sms) > 0) {
        grp *g = next_step(st);

        if (g == NULL && new_group(st, now, &g, err) != 0)
            return -1;
        if (g == NULL)
            break;
        if (submit_step(st, g, err) != 0)
            return -1;
        n++;
    }
    return n;
}

/* Records the ids of the groups just created with their jobs' claims (one statement), before
 * anything is added to them; from then on a lost answer is resolved by reading the group. */
static int record_groups(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0;

    for (grp *g = st->groups; g != NULL; g = g->next) {
        if (g->step != GRP_RECORD)
            continue;
        for (size_t i = 0; i < g->n; i++) {
            sender_slot *sl = &s->slots[g->slots[i]];

            st->grows[n].job = sl->job.id;
            st->grows[n].chunk = sl->chunk;
            st->grows[n++].gid = g->gid;
        }
    }
    if (n == 0)
        return 0;
    if (sender_claims_groups(&s->claims, s->pg, st->grows, n, err) != 0)
        return -1;
    for (grp *g = st->groups; g != NULL; g = g->next) {
        if (g->step != GRP_RECORD)
            continue;
        for (size_t i = 0; i < g->n; i++)
            s->slots[g->slots[i]].pgid = sender_arena_strdup(&s->arena, g->gid);
        g->step = GRP_ADD;
    }
    /* a slot without its group id would later read as "never added to a group" */
    if (sender_arena_check(&s->arena, err) != 0)
        return -1;
    return 1;
}

/* Frees the finished groups. */
static void reap_groups(sender_sendlist *st)
{
    grp **pp = &st->groups;

    while (*pp != NULL) {
        grp *g = *pp;

        if (g->step == GRP_DONE && !g->in_flight) {
            *pp = g->next;
            free(g->slots);
            free(g);
        } else {
            pp = &g->next;
        }
    }
}

static int remaining(const sender_sendlist *st)
{
    if (st->s->claim_next < st->s->n)
        return 1; /* claims still to insert */
    for (size_t c = 0; c < st->ntodo; c++)
        if (st->s->slots[st->todo[c]].state == SLOT_SEND)
            return 1;
    return 0;
}

/*
 * Inserts the next claims of the batch when fewer than two rounds of requests
 * (2 x MF_SENDER_REQUEST_SIZE x MF_SENDER_MAX_IN_FLIGHT messages) are claimed and waiting:
 * called while requests are in flight, so the INSERT overlaps the provider's answer instead
 * of delaying the next request. Freshly claimed jobs join the send list; the others met an
 * existing claim and are settled by the batch afterwards. 1 when claims were inserted.
 */
static int claim_more(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t round = (size_t)s->cfg->request_size * (size_t)s->cfg->max_in_flight;
    size_t waiting = 0, from = s->claim_next;
    int rc;

    if (from >= s->n)
        return 0;
    for (size_t c = 0; c < st->ntodo && waiting < 2 * round; c++) {
        const sender_slot *sl = &s->slots[st->todo[c]];

        waiting += sl->state == SLOT_SEND && !sl->in_flight && !sl->finish;
    }
    if (waiting >= 2 * round)
        return 0;
    rc = sender_settle_claim_next(s, 4 * round, err);
    if (rc < 0)
        return -1;
    for (size_t i = from; i < s->claim_next; i++)
        if (s->slots[i].state == SLOT_SEND && s->slots[i].fresh)
            st->todo[st->ntodo++] = i;
    return 1;
}

/* ---- cancelled runs, paused workflows (sender_halt.h) -------------------------------------- */

/* Whether the slot's run is cancelled (as decided for this batch, or learned since). */
static int slot_cancelled(const sender_ctx *s, const sender_slot *sl)
{
    return sl->cancel || sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_CANCELLED;
}

/* A slot that waits for nothing (no request in flight, no group to read, no claim to renew,
 * no outcome to store): its run's cancel or pause can take it now. */
static int is_idle(const sender_slot *sl)
{
    return sl->state == SLOT_SEND && !sl->in_flight && !sl->finish && !sl->resolve && !sl->renew &&
           !sl->to_retry;
}

/* Deletes an unsent group at the provider (only a PENDING group can be deleted, so a group
 * that was sent meanwhile stays as it is). 1 when the provider no longer holds a sendable
 * group (deleted, or unknown), 0 when it could not be deleted. */
static int delete_group(sender_ctx *s, const char *gid)
{
    mf_coolsms_group_info gi;
    mf_err e2 = {0};

    if (mf_coolsms_group_delete(s->sms, gid, &gi, &e2) != 0 && gi.http_status != 404) {
        MF_LOG(s->log, MF_LOG_WARN, "could not delete the group of a cancelled run",
               MF_KV_S("group_id", gid), MF_KV_S("error", e2.msg));
        return 0;
    }
    mf_metric_add(s->obs.groups_deleted, NULL, 1);
    MF_LOG(s->log, MF_LOG_INFO, "group deleted unsent: run cancelled", MF_KV_S("group_id", gid));
    return 1;
}

/*
 * Groups of this batch that carry jobs of a run cancelled since they were created, and whose
 * next step is not on the wire: a recorded group nothing was added to drops those jobs (and
 * is deleted at the provider when none is left); a filled group that was not sent yet is
 * deleted at the provider, its other jobs go into a new group (the deleted group provably
 * holds nothing). A group that cannot be deleted is sent as planned: its messages count as
 * sent before the cancel, exactly as those of a send already in flight.
 */
static void halt_groups(sender_sendlist *st)
{
    sender_ctx *s = st->s;

    for (grp *g = st->groups; g != NULL; g = g->next) {
        size_t ncan = 0, k = 0;

        if (g->in_flight || (g->step != GRP_ADD && g->step != GRP_SEND))
            continue;
        for (size_t i = 0; i < g->n; i++)
            ncan += slot_cancelled(s, &s->slots[g->slots[i]]);
        if (ncan == 0)
            continue;
        if (g->step == GRP_SEND && !delete_group(s, g->gid))
            continue;
        for (size_t i = 0; i < g->n; i++) {
            sender_slot *sl = &s->slots[g->slots[i]];

            if (g->step == GRP_ADD && !slot_cancelled(s, sl)) {
                g->slots[k++] = g->slots[i]; /* stays in the group */
                continue;
            }
            if (!sl->in_flight)
                continue; /* settled already (a registration error) */
            sl->in_flight = 0;
            sl->registered = 0;
            sl->pmid = NULL;
            sl->pgid = NULL; /* nothing of it is at the provider */
            sl->renew = !slot_cancelled(s, sl);
        }
        if (g->step == GRP_SEND) {
            g->step = GRP_DONE;
            continue;
        }
        g->n = k;
        if (k == 0) {
            delete_group(s, g->gid); /* empty: it would never send anything anyway */
            g->step = GRP_DONE;
        }
    }
}

/*
 * Between requests: re-reads the state of the batch's runs once the last answer is older
 * than MF_SENDER_HALT_CHECK_MS (one query), then, while any run is cancelled or held, takes
 * the jobs that wait for nothing: a cancelled run's jobs get no provider call (outcome
 * cancelled, stored in the claim like any outcome), a paused workflow's jobs go back to the
 * retry topic with their claim released (SENDER_HOLD_PAUSED). Jobs not claimed yet are handled like
 * at the start of the batch. Returns how many slots it settled, -1 with err.
 */
static int halt_in_loop(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;
    int rc = sender_halt_refresh(&s->halt, s->pg, mf_clock_mono_ms(), err), n = 0;

    if (rc < 0)
        return -1;
    if (rc > 0) {
        sender_runstate_mark_held(s);
        if (sender_runstate_apply(s, s->claim_next, err) != 0)
            return -1;
    }
    if (sender_halt_count(&s->halt) == 0)
        return 0;
    halt_groups(st);
    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (!is_idle(sl))
            continue;
        if (slot_cancelled(s, sl)) {
            sender_runstate_cancel_slot(s, sl);
            sl->finish = 1;
            n++;
        } else if (sl->pgid == NULL &&
                   sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_PAUSED) {
            sl->to_retry = SENDER_HOLD_PAUSED;
            n++;
        }
    }
    return n;
}

/*
 * The loop keeps the provider busy: new requests are submitted and put on the wire first,
 * then, while they are in flight, the database and Kafka work of the requests that finished
 * (claim outcomes, results) and the next claims are done. It sleeps only when nothing is in
 * flight and nothing could be done (a backoff or the rate budget), never right after a
 * request finished.
 */
static int send_loop(sender_sendlist *st, mf_err *err)
{
    sender_ctx *s = st->s;

    while (remaining(st)) {
        int progress, rc;

        if (sender_ctx_past_deadline(s)) {
            /* hand back: outcomes known so far are stored, claims of jobs not in flight are
             * released (the redelivered job takes them over at once); claims in flight stay
             * open and are resolved through the list API by whoever gets the job next */
            if (sender_record_store(st, err) < 0 || sender_record_release(st, 0, err) != 0)
                return -1;
            return 1;
        }
        if (sender_record_renew(st, err) != 0 || (progress = record_groups(st, err)) < 0)
            return -1;
        if ((rc = halt_in_loop(st, err)) < 0)
            return -1;
        progress += rc;
        if ((rc = submit_ready(st, err)) < 0)
            return -1;
        progress += rc;
        mf_metric_set(s->obs.inflight, NULL, (double)mf_coolsms_in_flight(s->sms));
        if ((rc = mf_coolsms_poll(s->sms, 0, err)) < 0) /* sends what was just submitted */
            return -1;
        progress += rc;
        /* outcomes are stored before their results are produced (a redelivered job finds
         * its final claim and re-emits the same result) */
        reap_groups(st);
        if ((rc = sender_record_store(st, err)) < 0 || sender_record_release(st, 1, err) != 0 ||
            sender_produce_finals(s, err) != 0)
            return -1;
        progress += rc;
        if ((rc = claim_more(st, err)) < 0)
            return -1;
        progress += rc;
        if (rc > 0 && mf_coolsms_free_slots(s->sms) > 0)
            continue; /* newly claimed jobs can go out at once */
        if (mf_coolsms_in_flight(s->sms) > 0) {
            if (mf_coolsms_poll(s->sms, 20, err) < 0)
                return -1;
            continue;
        }
        progress += sender_resolve_pending(st);
        if (progress == 0) {
            struct timespec ts = {0, 5 * 1000 * 1000};

            nanosleep(&ts, NULL); /* waiting for a backoff or the rate budget */
        }
    }
    return 0;
}

int sender_send_all(sender_ctx *s, mf_err *err)
{
    sender_sendlist st;
    int rc = -1;

    if (sender_sendlist_init(&st, s, err) != 0)
        goto out;
    rc = send_loop(&st, err);
out:
    /* a step still in flight keeps its group: the callback frees it (its claims stay open and
     * are resolved through the recorded group by whoever handles the job next) */
    while (st.groups != NULL) {
        grp *g = st.groups;

        st.groups = g->next;
        if (g->in_flight) {
            g->st = NULL;
            for (size_t i = 0; i < g->n; i++)
                s->slots[g->slots[i]].in_flight = 0;
            continue;
        }
        free(g->slots);
        free(g);
    }
    sender_sendlist_free(&st);
    mf_metric_set(s->obs.inflight, NULL, (double)mf_coolsms_in_flight(s->sms));
    return rc;
}

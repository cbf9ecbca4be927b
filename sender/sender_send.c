/* sender_send: hand prepared jobs to CoolSMS in batched requests, retry, resolve, record. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender_int.h"
#include "sender_rules.h"

/* sender_slot.to_retry: 1 / 2 after transient failures (the provider has no such message /
 * unknown), HOLD_PAUSED for a job of a paused workflow (the provider has no such message; the
 * hand-off counts no retry round). */
#define HOLD_PAUSED 3

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
    struct send_state *st;
    size_t *slots;
    size_t n;
    grp_step step;
    int in_flight;
    char gid[64];
    int64_t t0_ms;
    struct grp *next;
} grp;

typedef struct send_state {
    sender_ctx *s;
    size_t *todo;        /* slot indices being sent */
    size_t ntodo;
    mf_coolsms_msg *msgs;
    char (*ids)[MF_UUID_STR_SIZE];
    char (*runs)[MF_UUID_STR_SIZE];
    sender_claim_out *outs;
    mf_uuid *renew_ids;
    const char **rel_as, **rel_code, **rel_msg;
    char (*rel_buf)[32];
    mf_coolsms_kakao *kk;
    uint64_t *set;       /* numbers of the request being built */
    size_t set_cap;
    grp *groups;         /* groups not yet done */
    sender_claim_group *grows; /* scratch: the rows of sender_claims_groups */
    const char **rel_gid;
} send_state;

static const char *type_wire(mf_msg_type t)
{
    return t == MF_TYPE_KAKAO ? "ATA" : t == MF_TYPE_LMS ? "LMS" : "SMS";
}

static void mark_final(sender_ctx *s, sender_slot *sl, mf_result_status st, const char *pmid,
                       const char *gid, const char *code, const char *msg)
{
    sender_slot_final(s, sl, st, pmid, gid, code, msg,
                      st == MF_RESULT_ACCEPTED ? mf_clock_wall_ms() : 0);
    sl->finish = 1;
}

/* The fast in-place resends are used up: hand the job to the retry topic (1: the provider
 * has no such message, 2: unknown), or fail it after MF_SENDER_RETRY_MAX rounds. A job whose
 * message may be in a group is never failed: that group may still be sent (by the resolver
 * of another of its jobs), and a job recorded failed whose message went out would be sent a
 * second time by a replay. It goes round the retry topic until its group can be read. */
static void hand_off_or_fail(sender_ctx *s, sender_slot *sl, int kind)
{
    if (kind == 2 || sl->retries < s->cfg->retry_max) {
        sl->to_retry = kind;
        return;
    }
    mark_final(s, sl, MF_RESULT_FAILED, NULL, NULL, sl->code, sl->msg);
}

/* The slot's message is surely not at the provider after a failed try: back off and send
 * again (MF_SENDER_FAST_RETRIES times), then hand it to the retry topic. */
static void retry_or_fail(sender_ctx *s, sender_slot *sl)
{
    const sender_config *c = s->cfg;

    sl->attempts++;
    if (sl->attempts > c->fast_retries) {
        hand_off_or_fail(s, sl, 1);
        return;
    }
    sl->next_try_ms = mf_clock_wall_ms() + sender_rules_backoff_ms(sl->attempts, c->retry_base_ms,
                                                               c->retry_cap_ms,
                                                               sl->retry_after_ms,
                                                               sender_rand(s));
    sl->renew = 1;
}

/* Remembers the last error; when the provider may have the message (maybe_sent, or a 2xx
 * that did not mention it) the list API is asked first, else the retry is scheduled. */
static void on_trouble(sender_ctx *s, sender_slot *sl, const char *code, const char *msg,
                       long long retry_after_ms, int maybe_sent)
{
    sl->code = sender_arena_strdup(&s->arena, code);
    sl->msg = sender_arena_strdup(&s->arena, msg);
    sl->retry_after_ms = retry_after_ms;
    if (maybe_sent)
        sl->resolve = 1;
    else
        retry_or_fail(s, sl);
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
                      (double)(mf_clock_wall_ms() - g->t0_ms) / 1000.0);
    if (res->cls == MF_COOLSMS_TRANSIENT) {
        char detail[192];

        snprintf(detail, sizeof(detail), "%s (HTTP %ld)", res->error_code,
                 (long)res->http_status);
        sender_obs_dep(&s->obs, "coolsms", 0, detail);
    } else {
        sender_obs_dep(&s->obs, "coolsms", 1, NULL);
    }
    if (res->cls != MF_COOLSMS_OK)
        MF_LOG(s->log, MF_LOG_WARN, "provider request failed", MF_KV_S("step", op_name(res->op)),
               MF_KV_S("class", mf_coolsms_class_name(res->cls)),
               MF_KV_S("code", res->error_code), MF_KV_I("http_status", res->http_status),
               MF_KV_I("messages", (long long)g->n), MF_KV_I("maybe_sent", res->maybe_sent),
               MF_KV_S("group_id", g->gid));
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
            mark_final(s, sl, MF_RESULT_FAILED, NULL, NULL, code[0] ? code : "PERMANENT", msg);
            continue;
        }
        if (how == 0)
            sl->pgid = NULL;
        on_trouble(s, sl, code, msg, retry_after_ms, how == 1);
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
        group_settle(s, g, res->cls == MF_COOLSMS_PERMANENT ? 2 : res->maybe_sent ? 1 : 0,
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
            mark_final(s, sl, MF_RESULT_FAILED, o->message_id, g->gid, o->status_code,
                       o->status_message);
        else
            on_trouble(s, sl, "UNKNOWN_OUTCOME", "the answer did not mention the message", -1, 1);
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
        mark_final(s, sl, MF_RESULT_ACCEPTED, sl->pmid, g->gid, "2000", NULL);
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

/* Takes up to `want` tokens of the per-process rate budget; returns how many were granted. */
static size_t take_local_tokens(sender_ctx *s, size_t want)
{
    double rate = s->cfg->rate_limit, cap;
    int64_t now = mf_clock_wall_ms();

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

static int is_ready(const sender_slot *sl, int64_t now);

/* The quota is used up: the runs of the ready jobs are held (sender_rate_hold_runs) and the
 * halt state is read again at once, so the send loop parks their jobs (halt_in_loop) instead
 * of sending them to fail. At most once a second. */
static int hold_at_quota(send_state *st, int64_t now, mf_err *err)
{
    sender_ctx *s = st->s;
    mf_uuid *runs;
    size_t n = 0;
    int rc;

    if (now - s->rate_hold_ms < 1000)
        return 0;
    s->rate_hold_ms = now;
    runs = calloc(st->ntodo ? st->ntodo : 1, sizeof(*runs));
    if (runs == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t c = 0; c < st->ntodo; c++) {
        const sender_slot *sl = &s->slots[st->todo[c]];

        if (is_ready(sl, now) && (n == 0 || !mf_uuid_equal(&runs[n - 1], &sl->job.run)))
            runs[n++] = sl->job.run;
    }
    rc = sender_rate_hold_runs(&s->rate, s->pg, runs, n, err);
    free(runs);
    if (rc != 0)
        return -1;
    s->halt.checked_ms = 0; /* read the holds with the next halt check */
    s->n_quota_held++;
    MF_LOG(s->log, MF_LOG_WARN, "provider daily quota used up: runs held",
           MF_KV_I("runs", (long long)n), MF_KV_I("quota_left", s->rate.quota_left));
    return 0;
}

/* Tokens for a new group: the per-process budget (MF_SENDER_RATE_LIMIT), then the fleet's
 * (account rate and daily quota, sender_rate.h) for as many as the batch still has ready. */
static int take_tokens(send_state *st, size_t want, int64_t now, size_t *granted, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t local = take_local_tokens(s, want), ask = 0;

    *granted = local;
    if (local == 0 || !sender_rate_account_on(&s->rate))
        return 0;
    for (size_t c = 0; c < st->ntodo; c++)
        ask += is_ready(&s->slots[st->todo[c]], now);
    ask += s->n - s->claim_next;
    if (sender_rate_take(&s->rate, s->pg, s->sms, s->log, local, ask, granted, err) != 0)
        return -1;
    if (s->cfg->rate_limit > 0)
        s->tokens += (double)(local - *granted);
    if (*granted == 0 && s->rate.quota_out)
        return hold_at_quota(st, now, err);
    return 0;
}

static void fill_msg(send_state *st, sender_slot *sl, size_t k, mf_coolsms_kakao *kk)
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

static int is_ready(const sender_slot *sl, int64_t now)
{
    return sl->state == SLOT_SEND && !sl->in_flight && !sl->finish && !sl->resolve &&
           !sl->renew && !sl->to_retry && sl->next_try_ms <= now;
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
static int to_set_add(send_state *st, const char *to)
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
static int new_group(send_state *st, int64_t now, grp **out, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t want = 0, granted, k = 0;
    grp *g;

    *out = NULL;
    for (size_t c = 0; c < st->ntodo && want < (size_t)s->cfg->request_size; c++)
        want += is_ready(&s->slots[st->todo[c]], now);
    if (want == 0)
        return 0;
    if (take_tokens(st, want, now, &granted, err) != 0)
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

        if (!is_ready(&s->slots[si], now) || !to_set_add(st, s->slots[si].job.to))
            continue;
        g->slots[k++] = si;
        s->slots[si].in_flight = 1;
    }
    if (s->cfg->rate_limit > 0)
        s->tokens += (double)(granted - k); /* unused budget goes back */
    if (sender_rate_account_on(&s->rate))
        sender_rate_give_back(&s->rate, granted - k);
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
static int submit_step(send_state *st, grp *g, mf_err *err)
{
    sender_ctx *s = st->s;
    int rc;

    g->t0_ms = mf_clock_wall_ms();
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
static grp *next_step(send_state *st)
{
    grp *best = NULL;

    for (grp *g = st->groups; g != NULL; g = g->next)
        if (!g->in_flight && (g->step == GRP_CREATE || g->step == GRP_ADD ||
                              g->step == GRP_SEND) &&
            (best == NULL || g->step > best->step))
            best = g;
    return best;
}

/* Submits group steps and new groups while free slots, rate budget and ready messages
 * allow; returns how many were submitted, -1 on error. */
static int submit_ready(send_state *st, mf_err *err)
{
    int64_t now = mf_clock_wall_ms();
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
static int record_groups(send_state *st, mf_err *err)
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
    return 1;
}

/* Frees the finished groups. */
static void reap_groups(send_state *st)
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

/* The group could not be read: try again after a backoff (never resend blindly); after the
 * fast retries the job goes to the retry topic, its claim released as "unknown" with the
 * group kept in it. */
static void resolve_failed(sender_ctx *s, sender_slot *sl, long long retry_after_ms)
{
    sl->resolve_fails++;
    sl->next_try_ms = mf_clock_wall_ms() + sender_rules_backoff_ms(
        sl->resolve_fails, s->cfg->retry_base_ms, s->cfg->retry_cap_ms, retry_after_ms,
        sender_rand(s));
    if (sl->resolve_fails > s->cfg->fast_retries) {
        sl->resolve = 0;
        hand_off_or_fail(s, sl, 2);
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
static void settle_waiting(send_state *st, const char *gid, int64_t now, int how,
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
            mark_final(s, sl, MF_RESULT_FAILED, NULL, NULL, code, msg);
        else
            retry_or_fail(s, sl); /* the provider does not have it: resend (or give up) */
    }
}

/* Whether a slot waiting for group gid belongs to a cancelled run. */
static int waits_cancelled(send_state *st, const char *gid, int64_t now)
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
static void settle_deleted(send_state *st, const char *gid, int64_t now)
{
    sender_ctx *s = st->s;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (!waits_for(sl, gid, now) ||
            !(sl->cancel || sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_CANCELLED))
            continue;
        sl->resolve = 0;
        sl->pgid = NULL;
        sender_slot_cancelled(s, sl);
        sl->finish = 1;
    }
    settle_waiting(st, gid, now, 0, NULL, NULL, -1);
}

/* Reads every page of the group's messages and settles the waiting slots found in it (a
 * registration error 1xxx failed, anything else accepted: sent with the group). 0 when all
 * pages were read, -1 when a page could not be. */
static int match_group_messages(send_state *st, const char *gid, int64_t now, mf_err *err)
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
                (sl = sender_slot_by_id(s, &id)) == NULL || !waits_for(sl, gid, now))
                continue;
            sl->resolve = 0;
            mark_final(s, sl, it->status_code[0] == '1' ? MF_RESULT_FAILED : MF_RESULT_ACCEPTED,
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
static void resolve_group(send_state *st, const char *gid, int64_t now)
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
        MF_LOG(s->log, MF_LOG_WARN, "reading the group's messages failed",
               MF_KV_S("group_id", gid), MF_KV_S("error", err.msg));
        settle_waiting(st, gid, now, 1, NULL, NULL, -1);
        return;
    }
    settle_waiting(st, gid, now, 0, NULL, NULL, -1); /* sent without them */
}

static int resolve_pending(send_state *st)
{
    sender_ctx *s = st->s;
    int64_t now = mf_clock_wall_ms();
    int did = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state != SLOT_SEND || !sl->resolve || sl->in_flight || sl->finish ||
            sl->to_retry || sl->next_try_ms > now)
            continue;
        did = 1;
        if (sl->pgid == NULL) { /* no group was recorded: nothing was ever added */
            sl->resolve = 0;
            retry_or_fail(s, sl);
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

static void on_renewed(void *arg, const mf_uuid *job)
{
    sender_slot *sl = sender_slot_by_id(arg, job);

    if (sl != NULL)
        sl->renew = 0;
}

/* Renews the claims of slots about to be resent; those taken over become SLOT_PENDING. */
static int renew_claims(send_state *st, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->renew && !sl->finish && !sl->resolve &&
            !sl->to_retry)
            st->renew_ids[n++] = sl->job.id;
    }
    if (n == 0)
        return 0;
    if (sender_claims_renew(&s->claims, s->pg, st->renew_ids, n, s->cfg->common.instance_id,
                            on_renewed, s, err) != 0)
        return -1;
    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->renew && !sl->finish && !sl->resolve &&
            !sl->to_retry) {
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
static int store_outcomes(send_state *st, mf_err *err)
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
    if (sender_claims_record(&s->claims, s->pg, st->outs, nrec, err) != 0 ||
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
        return sl->to_retry == HOLD_PAUSED ? 1 : sl->to_retry;
    return sl->resolve || sl->to_retry == 2 || sl->pgid != NULL ? 2 : 1;
}

static void on_released(void *arg, const mf_uuid *job)
{
    sender_slot *sl = sender_slot_by_id(arg, job);

    if (sl != NULL)
        sl->released = -1; /* marker: ours was released */
}

/* Releases the claims of the selected slots as "retry:N" / "retry?:N" (one UPDATE). With
 * produce set, each released job is produced to the retry topic with its next not-before
 * and the slot is done (SLOT_SKIP); a claim taken over meanwhile makes the slot pending. */
static int release(send_state *st, int produce, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t n = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];
        int kind = release_kind(sl, produce);
        int rounds = sl->retries + (produce && sl->to_retry != HOLD_PAUSED ? 1 : 0);

        if (sl->state != SLOT_SEND || sl->in_flight || sl->finish || kind == 0)
            continue;
        snprintf(st->rel_buf[n], sizeof(st->rel_buf[n]), "%s%d", kind == 2 ? "retry?:" : "retry:",
                 rounds);
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
                              st->rel_msg, st->rel_gid, n, s->cfg->common.instance_id,
                              on_released, s,
                              err) != 0)
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
        if (produce && sl->to_retry == HOLD_PAUSED) {
            /* due at once: the retry consumer parks it until the workflow is resumed */
            if (sender_produce_retry(s, sl, mf_clock_wall_ms(), err) != 0)
                return -1;
            s->n_held++;
            mf_metric_add(s->obs.held, NULL, 1);
        } else if (produce) {
            int64_t nb = mf_clock_wall_ms() +
                         sender_rules_backoff_ms(sl->retries + 1, s->cfg->retry_delay_ms,
                                                 s->cfg->retry_delay_cap_ms, sl->retry_after_ms,
                                                 sender_rand(s));
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

static int remaining(const send_state *st)
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
static int claim_more(send_state *st, mf_err *err)
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
    rc = sender_claim_next(s, 4 * round, err);
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
    return sl->state == SLOT_SEND && !sl->in_flight && !sl->finish && !sl->resolve &&
           !sl->renew && !sl->to_retry;
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
static void halt_groups(send_state *st)
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
 * retry topic with their claim released (HOLD_PAUSED). Jobs not claimed yet are handled like
 * at the start of the batch. Returns how many slots it settled, -1 with err.
 */
static int halt_in_loop(send_state *st, mf_err *err)
{
    sender_ctx *s = st->s;
    int rc = sender_halt_refresh(&s->halt, s->pg, mf_clock_wall_ms(), err), n = 0;

    if (rc < 0)
        return -1;
    if (rc > 0) {
        sender_halt_mark_held(s);
        if (sender_halt_apply(s, s->claim_next, err) != 0)
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
            sender_slot_cancelled(s, sl);
            sl->finish = 1;
            n++;
        } else if (sl->pgid == NULL &&
                   sender_halt_of(&s->halt, &sl->job.run) == SENDER_HALT_PAUSED) {
            sl->to_retry = HOLD_PAUSED;
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
static int send_loop(send_state *st, mf_err *err)
{
    sender_ctx *s = st->s;

    while (remaining(st)) {
        int progress, rc;

        if (sender_past_deadline(s)) {
            /* hand back: outcomes known so far are stored, claims of jobs not in flight are
             * released (the redelivered job takes them over at once); claims in flight stay
             * open and are resolved through the list API by whoever gets the job next */
            if (store_outcomes(st, err) < 0 || release(st, 0, err) != 0)
                return -1;
            return 1;
        }
        if (renew_claims(st, err) != 0 || (progress = record_groups(st, err)) < 0)
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
        if ((rc = store_outcomes(st, err)) < 0 || release(st, 1, err) != 0 ||
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
        progress += resolve_pending(st);
        if (progress == 0) {
            struct timespec ts = {0, 5 * 1000 * 1000};

            nanosleep(&ts, NULL); /* waiting for a backoff or the rate budget */
        }
    }
    return 0;
}

int sender_send_all(sender_ctx *s, mf_err *err)
{
    send_state st;
    size_t rs = (size_t)s->cfg->request_size;
    int rc = -1;

    memset(&st, 0, sizeof(st));
    st.s = s;
    st.todo = calloc(s->n ? s->n : 1, sizeof(*st.todo));
    st.outs = calloc(s->n ? s->n : 1, sizeof(*st.outs));
    st.renew_ids = calloc(s->n ? s->n : 1, sizeof(*st.renew_ids));
    st.msgs = calloc(rs, sizeof(*st.msgs));
    st.ids = calloc(rs, sizeof(*st.ids));
    st.runs = calloc(rs, sizeof(*st.runs));
    st.kk = calloc(rs, sizeof(*st.kk));
    st.rel_as = calloc(s->n ? s->n : 1, sizeof(*st.rel_as));
    st.rel_code = calloc(s->n ? s->n : 1, sizeof(*st.rel_code));
    st.rel_msg = calloc(s->n ? s->n : 1, sizeof(*st.rel_msg));
    st.rel_buf = calloc(s->n ? s->n : 1, sizeof(*st.rel_buf));
    st.rel_gid = calloc(s->n ? s->n : 1, sizeof(*st.rel_gid));
    st.grows = calloc(s->n ? s->n : 1, sizeof(*st.grows));
    st.set_cap = 16;
    while (st.set_cap < rs * 2)
        st.set_cap *= 2;
    st.set = calloc(st.set_cap, sizeof(*st.set));
    if (!st.rel_gid || !st.grows || !st.rel_as || !st.rel_code || !st.rel_msg || !st.rel_buf || !st.set || !st.kk || !st.todo || !st.outs || !st.renew_ids || !st.msgs || !st.ids || !st.runs) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND && s->slots[i].fresh)
            st.todo[st.ntodo++] = i;
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
    free(st.rel_gid);
    free(st.grows);
    free(st.todo);
    free(st.outs);
    free(st.renew_ids);
    free(st.msgs);
    free(st.ids);
    free(st.runs);
    free(st.kk);
    free(st.set);
    free(st.rel_as);
    free(st.rel_code);
    free(st.rel_msg);
    free(st.rel_buf);
    mf_metric_set(s->obs.inflight, NULL, (double)mf_coolsms_in_flight(s->sms));
    return rc;
}

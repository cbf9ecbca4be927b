/* sender_send: hand prepared jobs to CoolSMS in batched requests, retry, resolve, record. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender_int.h"
#include "sender_rules.h"

/* One request in flight: the slots it carries. */
typedef struct req {
    sender_ctx *s;
    size_t *slots;
    size_t n;
    int64_t t0_ms;
} req;

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
 * has no such message, 2: unknown), or fail it after MF_SENDER_RETRY_MAX rounds. */
static void hand_off_or_fail(sender_ctx *s, sender_slot *sl, int kind)
{
    if (sl->retries < s->cfg->retry_max) {
        sl->to_retry = kind;
        return;
    }
    mark_final(s, sl, MF_RESULT_FAILED, NULL, NULL,
               kind == 2 ? "UNKNOWN_OUTCOME" : sl->code, sl->msg);
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

static void observe_request(sender_ctx *s, const req *r, const mf_coolsms_result *res)
{
    const char *outcome = res->cls == MF_COOLSMS_OK          ? "ok"
                          : res->cls == MF_COOLSMS_TRANSIENT ? "transient"
                                                             : "permanent";
    const char *lv[1] = {outcome};

    mf_metric_add(s->obs.provider_requests, lv, 1);
    mf_metric_observe(s->obs.provider_seconds, NULL,
                      (double)(mf_clock_wall_ms() - r->t0_ms) / 1000.0);
    if (res->cls == MF_COOLSMS_TRANSIENT) {
        char detail[192];

        snprintf(detail, sizeof(detail), "%s (HTTP %ld)", res->error_code,
                 (long)res->http_status);
        sender_obs_dep(&s->obs, "coolsms", 0, detail);
    } else {
        sender_obs_dep(&s->obs, "coolsms", 1, NULL);
    }
}

static void on_done(const mf_coolsms_result *res, void *user)
{
    req *r = user;
    sender_ctx *s = r->s;

    observe_request(s, r, res);
    for (size_t i = 0; i < r->n; i++) {
        sender_slot *sl = &s->slots[r->slots[i]];
        const mf_coolsms_outcome *o = &res->outcomes[i];

        sl->in_flight = 0;
        if (res->cls == MF_COOLSMS_OK) {
            if (o->state == MF_COOLSMS_MSG_ACCEPTED)
                mark_final(s, sl, MF_RESULT_ACCEPTED, o->message_id, res->group_id,
                           o->status_code, o->status_message);
            else if (o->state == MF_COOLSMS_MSG_FAILED)
                mark_final(s, sl, MF_RESULT_FAILED, o->message_id, res->group_id,
                           o->status_code, o->status_message);
            else
                on_trouble(s, sl, "UNKNOWN_OUTCOME", "the response did not mention the message",
                           -1, 1);
        } else if (res->cls == MF_COOLSMS_TRANSIENT) {
            on_trouble(s, sl, res->error_code, res->error_message, res->retry_after_ms,
                       res->maybe_sent);
        } else {
            mark_final(s, sl, MF_RESULT_FAILED, NULL, NULL,
                       res->error_code[0] ? res->error_code : "PERMANENT",
                       res->error_message);
        }
    }
    if (res->cls != MF_COOLSMS_OK) {
        char reqid[32];

        snprintf(reqid, sizeof(reqid), "%llu", (unsigned long long)res->request_id);
        MF_LOG(s->log, MF_LOG_WARN, "provider request failed",
               MF_KV_S("class", mf_coolsms_class_name(res->cls)),
               MF_KV_S("code", res->error_code), MF_KV_I("http_status", res->http_status),
               MF_KV_I("messages", (long long)res->n_messages), MF_KV_I("maybe_sent", res->maybe_sent),
               MF_KV_S("request", reqid));
    }
    free(r->slots);
    free(r);
}

/* Takes up to `want` tokens of the per-process rate budget; returns how many were granted. */
static size_t take_tokens(sender_ctx *s, size_t want)
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

/* Builds and submits one request from the ready slots; 0 when nothing was ready. */
static int submit_one(send_state *st, int64_t now, mf_err *err)
{
    sender_ctx *s = st->s;
    size_t want = 0, granted, k = 0;
    req *r;

    for (size_t c = 0; c < st->ntodo && want < (size_t)s->cfg->request_size; c++)
        want += is_ready(&s->slots[st->todo[c]], now);
    if (want == 0 || (granted = take_tokens(s, want)) == 0)
        return 0;
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->slots = calloc(granted, sizeof(size_t))) == NULL) {
        free(r);
        return mf_err_set(err, "out of memory");
    }
    r->s = s;
    r->t0_ms = mf_clock_wall_ms();
    memset(st->set, 0, st->set_cap * sizeof(*st->set));
    for (size_t c = 0; c < st->ntodo && k < granted; c++) {
        size_t si = st->todo[c];

        if (!is_ready(&s->slots[si], now) || !to_set_add(st, s->slots[si].job.to))
            continue;
        fill_msg(st, &s->slots[si], k, &st->kk[k]);
        r->slots[k++] = si;
    }
    if (s->cfg->rate_limit > 0)
        s->tokens += (double)(granted - k); /* unused budget goes back */
    r->n = k;
    if (k == 0) {
        free(r->slots);
        free(r);
        return 0;
    }
    if (mf_coolsms_submit(s->sms, st->msgs, k, on_done, r, NULL, err) != 0) {
        /* invalid message content: fail those messages at once, nothing was sent */
        for (size_t i = 0; i < k; i++)
            mark_final(s, &s->slots[r->slots[i]], MF_RESULT_FAILED, NULL, NULL, "BAD_MESSAGE",
                       err->msg);
        free(r->slots);
        free(r);
        return 1;
    }
    for (size_t i = 0; i < k; i++)
        s->slots[r->slots[i]].in_flight = 1;
    mf_metric_observe(s->obs.batch_size, NULL, (double)k);
    return 1;
}

/* Submits requests while free slots, rate budget and ready messages allow; returns how many
 * were submitted, -1 on error. */
static int submit_ready(send_state *st, mf_err *err)
{
    int64_t now = mf_clock_wall_ms();
    int n = 0;

    while (mf_coolsms_free_slots(st->s->sms) > 0) {
        int rc = submit_one(st, now, err);

        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        n++;
    }
    return n;
}

/* Asks the list API whether the provider has the slot's message (by customFields.jobId). */
static void resolve_one(sender_ctx *s, sender_slot *sl)
{
    char id[MF_UUID_STR_SIZE];
    mf_coolsms_kv f[2] = {{"customFields.jobId", mf_uuid_format(&sl->job.id, id)},
                          {"limit", "10"}};
    mf_coolsms_list_result lr;
    mf_err err;

    if (mf_coolsms_list(s->sms, f, 2, &lr, &err) != 0) {
        /* cannot tell: try again after a backoff (never resend blindly); after the fast
         * retries the job goes to the retry topic, its claim released as "unknown" */
        sl->resolve_fails++;
        sl->next_try_ms = mf_clock_wall_ms() + sender_rules_backoff_ms(
            sl->resolve_fails, s->cfg->retry_base_ms, s->cfg->retry_cap_ms, lr.retry_after_ms,
            sender_rand(s));
        MF_LOG(s->log, MF_LOG_WARN, "list API lookup failed", MF_KV_S("job_id", id),
               MF_KV_S("error", err.msg));
        sender_obs_dep(&s->obs, "coolsms", 0, err.msg);
        if (sl->resolve_fails > s->cfg->fast_retries) {
            sl->resolve = 0;
            hand_off_or_fail(s, sl, 2);
        }
        mf_coolsms_list_result_free(&lr);
        return;
    }
    sl->resolve = 0;
    for (size_t i = 0; i < lr.n_items; i++) {
        if (strcmp(lr.items[i].job_id, id) != 0)
            continue;
        mark_final(s, sl, MF_RESULT_ACCEPTED, lr.items[i].message_id, lr.items[i].group_id,
                   lr.items[i].status_code, lr.items[i].status_message);
        break;
    }
    if (!sl->finish)
        retry_or_fail(s, sl); /* the provider does not have it: resend (or give up) */
    mf_coolsms_list_result_free(&lr);
}

static int resolve_pending(send_state *st)
{
    sender_ctx *s = st->s;
    int64_t now = mf_clock_wall_ms();
    int did = 0;

    for (size_t c = 0; c < st->ntodo; c++) {
        sender_slot *sl = &s->slots[st->todo[c]];

        if (sl->state == SLOT_SEND && sl->resolve && !sl->in_flight && !sl->finish &&
            !sl->to_retry && sl->next_try_ms <= now) {
            resolve_one(s, sl);
            did = 1;
        }
        if (mf_daemon_stopping() && did)
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
        return sl->to_retry;
    return sl->resolve || sl->to_retry == 2 ? 2 : 1;
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
        int rounds = sl->retries + (produce ? 1 : 0);

        if (sl->state != SLOT_SEND || sl->in_flight || sl->finish || kind == 0)
            continue;
        snprintf(st->rel_buf[n], sizeof(st->rel_buf[n]), "%s%d", kind == 2 ? "retry?:" : "retry:",
                 rounds);
        st->renew_ids[n] = sl->job.id;
        st->rel_as[n] = st->rel_buf[n];
        st->rel_code[n] = sl->code;
        st->rel_msg[n] = sl->msg;
        sl->released = 0;
        n++;
    }
    if (n == 0)
        return 0;
    if (sender_claims_release(&s->claims, s->pg, st->renew_ids, st->rel_as, st->rel_code,
                              st->rel_msg, n, s->cfg->common.instance_id, on_released, s,
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
        if (produce) {
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
        if (renew_claims(st, err) != 0 || (progress = submit_ready(st, err)) < 0)
            return -1;
        mf_metric_set(s->obs.inflight, NULL, (double)mf_coolsms_in_flight(s->sms));
        if ((rc = mf_coolsms_poll(s->sms, 0, err)) < 0) /* sends what was just submitted */
            return -1;
        progress += rc;
        /* outcomes are stored before their results are produced (a redelivered job finds
         * its final claim and re-emits the same result) */
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
    st.set_cap = 16;
    while (st.set_cap < rs * 2)
        st.set_cap *= 2;
    st.set = calloc(st.set_cap, sizeof(*st.set));
    if (!st.rel_as || !st.rel_code || !st.rel_msg || !st.rel_buf || !st.set || !st.kk || !st.todo || !st.outs || !st.renew_ids || !st.msgs || !st.ids || !st.runs) {
        mf_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND && s->slots[i].fresh)
            st.todo[st.ntodo++] = i;
    rc = send_loop(&st, err);
out:
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

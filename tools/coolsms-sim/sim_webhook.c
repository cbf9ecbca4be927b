/* sim_webhook: deliver single-report and group-report webhooks from a thread, with retries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "sim.h"

#define WH_MAX_RETRY 5
#define WH_EID_LEN 40

typedef struct wh_item {
    int64_t due;
    uint32_t idx; /* ledger index */
} wh_item;

typedef struct wh_group {
    int64_t due;
    char gid[SIM_ID_LEN + 1];
} wh_group;

/* A delivery that failed and waits for its next attempt. */
typedef struct wh_batch {
    struct wh_batch *next;
    int64_t next_at;
    int retry; /* retryCount of the next attempt */
    int is_group;
    char gid[SIM_ID_LEN + 1];
    size_t n;
    uint32_t *idx;           /* single-report: ledger indexes */
    char (*eid)[WH_EID_LEN]; /* eventDataId of each entry (stable across retries) */
} wh_batch;

struct sim_webhook {
    sim_ctx *ctx;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int stop;
    uint64_t generation; /* bumped by reset: work in flight is dropped */
    wh_item *heap;       /* min-heap on due */
    size_t nheap, heap_cap;
    wh_group *groups;
    size_t ngroups, groups_cap;
    wh_batch *retries;
    atomic_ullong eid_counter;
    CURL *curl;                  /* the webhook thread's client: its connection is kept */
    struct curl_slist *curl_hdr; /* its request headers, made with it */
};

/* ---- heap -------------------------------------------------------------------------------- */

static int heap_push(sim_webhook *w, wh_item it)
{
    if (w->nheap == w->heap_cap) {
        size_t ncap = w->heap_cap ? w->heap_cap * 2 : 1024;
        wh_item *nh = realloc(w->heap, ncap * sizeof(*nh));
        if (nh == NULL)
            return -1;
        w->heap = nh;
        w->heap_cap = ncap;
    }
    size_t i = w->nheap++;
    while (i > 0 && w->heap[(i - 1) / 2].due > it.due) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = it;
    return 0;
}

static wh_item heap_pop(sim_webhook *w)
{
    wh_item top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && w->heap[c + 1].due < w->heap[c].due)
            c++;
        if (w->heap[c].due >= last.due)
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap > 0)
        w->heap[i] = last;
    return top;
}

static void batch_free(wh_batch *b)
{
    if (b == NULL)
        return;
    free(b->idx);
    free(b->eid);
    free(b);
}

/* ---- queueing ---------------------------------------------------------------------------- */

void sim_webhook_queue(sim_ctx *ctx, const sim_knobs *k, const char *gid, const uint32_t *idx,
                       size_t first, size_t n, int64_t group_done_ms)
{
    sim_webhook *w = ctx->webhook;
    wh_item *items;

    if (w == NULL || (k->webhook_url[0] == '\0' && k->webhook_group_url[0] == '\0'))
        return;
    items = n ? malloc(n * sizeof(*items)) : NULL;
    if (n && items == NULL) { /* out of memory: the events are lost, and counted as dropped */
        atomic_fetch_add(&ctx->stats.webhook_dropped,
                         (k->webhook_url[0] ? n : 0) + (k->webhook_group_url[0] ? 1 : 0));
        return;
    }
    sim_ledger_rdlock(ctx->ledger);
    for (size_t i = 0; i < n; i++) {
        uint32_t li = idx ? idx[i] : (uint32_t)(first + i);
        const sim_msg *m = sim_ledger_at(ctx->ledger, li);
        items[i].idx = li;
        items[i].due = m ? m->final_ms : 0;
    }
    sim_ledger_unlock(ctx->ledger);
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n && k->webhook_url[0]; i++)
        if (heap_push(w, items[i]) != 0) {
            atomic_fetch_add(&ctx->stats.webhook_dropped, n - i);
            break;
        }
    if (k->webhook_group_url[0] && w->ngroups == w->groups_cap) {
        size_t ncap = w->groups_cap ? w->groups_cap * 2 : 64;
        wh_group *ng = realloc(w->groups, ncap * sizeof(*ng));
        if (ng != NULL) {
            w->groups = ng;
            w->groups_cap = ncap;
        }
    }
    if (k->webhook_group_url[0] && w->ngroups < w->groups_cap) {
        w->groups[w->ngroups].due = group_done_ms;
        memcpy(w->groups[w->ngroups].gid, gid, SIM_ID_LEN + 1);
        w->ngroups++;
    } else if (k->webhook_group_url[0]) {
        atomic_fetch_add(&ctx->stats.webhook_dropped, 1);
    }
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    free(items);
}

/* ---- delivery ---------------------------------------------------------------------------- */

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

/* POST body to url; returns the HTTP status (0 when there was no answer). One client for all
 * posts of the thread, so its connection stays open between them, as an HTTP client's pool
 * keeps it (a connection per post spent the simulator's CPU in connect and close, and added a
 * handshake to every post); the receiver closing it makes the next post open a new one. No
 * "Expect: 100-continue" (curl's own habit for bodies over 1 KB, not a provider's). */
static long http_post(sim_webhook *w, const char *url, const mf_buf *body)
{
    long status = 0;

    if (w->curl_hdr == NULL) {
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

        if (h == NULL || (w->curl_hdr = curl_slist_append(h, "Expect:")) == NULL) {
            curl_slist_free_all(h);
            return 0;
        }
    }
    if (w->curl == NULL && (w->curl = curl_easy_init()) == NULL)
        return 0;
    curl_easy_reset(w->curl); /* options only: the open connection stays */
    curl_easy_setopt(w->curl, CURLOPT_URL, url);
    curl_easy_setopt(w->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->curl_hdr);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "coolsms-sim-webhook");
    if (curl_easy_perform(w->curl) == CURLE_OK)
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void nap_ms(sim_webhook *w, long long ms)
{
    while (ms > 0 && !w->stop && !atomic_load(&w->ctx->stopping)) {
        long long step = ms > 50 ? 50 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* One attempt with the webhook faults. Returns 1 when delivered (HTTP 200). */
static int deliver(sim_webhook *w, const sim_knobs *k, const char *url, const mf_buf *body)
{
    sim_ctx *ctx = w->ctx;
    unsigned step = SIM_STEP_WEBHOOK;
    long status;

    if (k->latency_ms > 0 && sim_step_hit(k->latency_steps, k->fault_steps, step))
        nap_ms(w, k->latency_ms);
    if (k->error_5xx_ratio > 0 && sim_step_hit(k->error_5xx_steps, k->fault_steps, step) &&
        sim_rand(ctx) < k->error_5xx_ratio) {
        atomic_fetch_add(&ctx->stats.webhook_failures, 1); /* the delivery failed: not sent */
        return 0;
    }
    if (k->timeout_ratio > 0 && sim_step_hit(k->timeout_steps, k->fault_steps, step) &&
        sim_rand(ctx) < k->timeout_ratio) {
        if (k->timeout_commit) { /* delivered, but the answer is lost: it will come again */
            atomic_fetch_add(&ctx->stats.webhook_posts, 1);
            http_post(w, url, body);
        }
        atomic_fetch_add(&ctx->stats.webhook_failures, 1);
        return 0;
    }
    if (k->reset_ratio > 0 && sim_step_hit(k->reset_steps, k->fault_steps, step) &&
        sim_rand(ctx) < k->reset_ratio) {
        atomic_fetch_add(&ctx->stats.webhook_posts, 1);
        http_post(w, url, body);
        atomic_fetch_add(&ctx->stats.webhook_failures, 1);
        return 0;
    }
    atomic_fetch_add(&ctx->stats.webhook_posts, 1);
    status = http_post(w, url, body);
    if (status == 200)
        return 1;
    atomic_fetch_add(&ctx->stats.webhook_failures, 1);
    return 0;
}

static void new_eid(sim_webhook *w, char out[WH_EID_LEN])
{
    unsigned long long n = atomic_fetch_add(&w->eid_counter, 1);
    char id[SIM_ID_LEN + 1];
    sim_new_id(w->ctx, 'E', mf_clock_wall_ms(), id);
    snprintf(out, WH_EID_LEN, "%s%llu", id + 17, n); /* unique: random part + counter */
}

/* Build the JSON array of b at retry b->retry. Returns 0, or -1 (skip the batch). */
static int build(sim_webhook *w, const wh_batch *b, int64_t now, mf_buf *out)
{
    sim_ctx *ctx = w->ctx;
    int rc = 0;
    char retry[40];

    mf_buf_reset(out);
    if (b->is_group) {
        if (mf_buf_printf(out, NULL, "[{\"eventDataId\":\"%s\",\"data\":", b->eid[0]) != 0 ||
            sim_groups_json_by_id(ctx, b->gid, now, out, NULL) != 0 ||
            mf_buf_printf(out, NULL, ",\"retryCount\":%d}]", b->retry) != 0)
            return -1;
        return 0;
    }
    if (mf_buf_append_char(out, '[', NULL) != 0)
        return -1;
    snprintf(retry, sizeof(retry), ",\"retryCount\":%d}", b->retry);
    sim_ledger_rdlock(ctx->ledger);
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const sim_msg *m = sim_ledger_at(ctx->ledger, b->idx[i]);
        if (m == NULL) { /* reset meanwhile */
            rc = -1;
            break;
        }
        /* appends: a printf per report showed in the simulator's profile */
        if (mf_buf_append_str(out, i ? ",{\"eventDataId\":\"" : "{\"eventDataId\":\"", NULL) != 0 ||
            mf_buf_append_str(out, b->eid[i], NULL) != 0 ||
            mf_buf_append_str(out, "\",\"data\":", NULL) != 0 ||
            sim_msg_json(ctx->ledger, ctx->set.account_id, m, now, 0, out, NULL) != 0 ||
            mf_buf_append_str(out, retry, NULL) != 0)
            rc = -1;
    }
    sim_ledger_unlock(ctx->ledger);
    if (rc == 0 && mf_buf_append_char(out, ']', NULL) != 0)
        rc = -1;
    return rc;
}

/* Try b once; on failure schedule its retry (or drop it after the last one). */
static void attempt(sim_webhook *w, const sim_knobs *k, wh_batch *b, uint64_t gen, mf_buf *body)
{
    int64_t now = mf_clock_wall_ms();

    const char *url = b->is_group ? k->webhook_group_url : k->webhook_url;

    if (url[0] == '\0' || build(w, b, now, body) != 0 || deliver(w, k, url, body)) {
        batch_free(b);
        return;
    }
    if (b->retry >= WH_MAX_RETRY) {
        atomic_fetch_add(&w->ctx->stats.webhook_dropped, b->n);
        batch_free(b);
        return;
    }
    b->retry++;
    b->next_at = now + k->webhook_retry_ms * b->retry;
    pthread_mutex_lock(&w->lock);
    if (w->generation == gen) {
        b->next = w->retries;
        w->retries = b;
        b = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    batch_free(b);
}

static wh_batch *batch_new(sim_webhook *w, size_t n, int is_group)
{
    wh_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->n = n;
    b->is_group = is_group;
    b->eid = calloc(n > 0 ? n : 1, sizeof(*b->eid)); /* calloc(0) may be NULL: not out of memory */
    b->idx = is_group ? NULL : calloc(n > 0 ? n : 1, sizeof(*b->idx));
    if (b->eid == NULL || (!is_group && b->idx == NULL)) {
        batch_free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        new_eid(w, b->eid[i]);
    return b;
}

static void *webhook_main(void *arg)
{
    sim_webhook *w = arg;
    mf_buf body;

    mf_buf_init(&body, 0);
    while (!w->stop && !atomic_load(&w->ctx->stopping)) {
        sim_knobs k;
        wh_item *due = NULL;
        wh_batch *retry = NULL;
        wh_group *groups = NULL;
        size_t ndue = 0, ngroups = 0;
        uint64_t gen;
        int64_t now;

        sim_knobs_snapshot(w->ctx, &k);
        nap_ms(w, k.webhook_interval_ms);
        sim_knobs_snapshot(w->ctx, &k); /* the knobs now, not those before the nap */
        now = mf_clock_wall_ms();
        pthread_mutex_lock(&w->lock);
        gen = w->generation;
        if (w->nheap > 0 && w->heap[0].due <= now) {
            due = malloc(w->nheap * sizeof(*due));
            while (due && w->nheap > 0 && w->heap[0].due <= now)
                due[ndue++] = heap_pop(w);
        }
        if (w->ngroups > 0) {
            groups = malloc(w->ngroups * sizeof(*groups));
            size_t keep = 0;
            for (size_t i = 0; groups && i < w->ngroups; i++) {
                if (w->groups[i].due <= now)
                    groups[ngroups++] = w->groups[i];
                else
                    w->groups[keep++] = w->groups[i];
            }
            if (groups)
                w->ngroups = keep;
        }
        for (wh_batch **pp = &w->retries; *pp;) {
            wh_batch *b = *pp;
            if (b->next_at <= now) {
                *pp = b->next;
                b->next = retry;
                retry = b;
            } else {
                pp = &b->next;
            }
        }
        pthread_mutex_unlock(&w->lock);
        if (k.webhook_url[0] == '\0' && k.webhook_group_url[0] == '\0') { /* off: drop */
            while (retry) {
                wh_batch *b = retry;
                retry = b->next;
                batch_free(b);
            }
            free(due);
            free(groups);
            continue;
        }
        for (size_t off = 0; off < ndue; off += (size_t)k.webhook_batch) {
            size_t n = ndue - off < (size_t)k.webhook_batch ? ndue - off : (size_t)k.webhook_batch;
            wh_batch *b = batch_new(w, n, 0);
            if (b == NULL) {
                atomic_fetch_add(&w->ctx->stats.webhook_dropped, ndue - off);
                break;
            }
            for (size_t i = 0; i < n; i++)
                b->idx[i] = due[off + i].idx;
            attempt(w, &k, b, gen, &body);
        }
        for (size_t i = 0; i < ngroups; i++) {
            wh_batch *b = batch_new(w, 1, 1);
            if (b == NULL) {
                atomic_fetch_add(&w->ctx->stats.webhook_dropped, ngroups - i);
                break;
            }
            memcpy(b->gid, groups[i].gid, SIM_ID_LEN + 1);
            attempt(w, &k, b, gen, &body);
        }
        while (retry) {
            wh_batch *b = retry;
            retry = b->next;
            b->next = NULL;
            attempt(w, &k, b, gen, &body);
        }
        free(due);
        free(groups);
    }
    mf_buf_free(&body);
    if (w->curl != NULL)
        curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->curl_hdr);
    w->curl = NULL;
    w->curl_hdr = NULL;
    return NULL;
}

/* ---- life -------------------------------------------------------------------------------- */

sim_webhook *sim_webhook_start(sim_ctx *ctx, mf_err *err)
{
    sim_webhook *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    w->ctx = ctx;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, webhook_main, w) != 0) {
        mf_err_set(err, "could not start the webhook thread");
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    w->started = 1;
    return w;
}

void sim_webhook_reset(sim_webhook *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->generation++;
    w->nheap = 0;
    w->ngroups = 0;
    while (w->retries) {
        wh_batch *b = w->retries;
        w->retries = b->next;
        batch_free(b);
    }
    pthread_mutex_unlock(&w->lock);
}

void sim_webhook_stop(sim_webhook *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->started)
        pthread_join(w->thread, NULL);
    sim_webhook_reset(w);
    free(w->heap);
    free(w->groups);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

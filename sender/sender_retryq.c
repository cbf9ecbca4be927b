/* sender_retryq: retry-topic jobs held in memory until their not-before time, and the offsets
 * that may be stored for the retry partitions while some are held. */
#include "sender_retryq.h"

#include <stdlib.h>
#include <string.h>

static void free_entry(sender_held *e)
{
    free(e->key);
    free(e->val);
}

void sender_retryq_free(sender_retryq *q)
{
    for (size_t i = 0; i < q->n; i++)
        free_entry(&q->h[i]);
    free(q->h);
    free(q->pos);
    free(q->taken);
    memset(q, 0, sizeof(*q));
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);

    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

int sender_retryq_hold(sender_retryq *q, const mf_kafka_msg *m, int64_t due_ms, const mf_uuid *run,
                       int parked, mf_err *err)
{
    sender_held *e;

    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        sender_held *h = realloc(q->h, cap * sizeof(*h));

        if (h == NULL)
            return mf_err_set(err, "out of memory");
        q->h = h;
        q->cap = cap;
    }
    e = &q->h[q->n];
    memset(e, 0, sizeof(*e));
    e->partition = m->partition;
    e->offset = m->offset;
    e->due_ms = due_ms;
    e->run = *run;
    e->parked = parked;
    e->klen = m->key ? m->key_len : 0;
    e->vlen = m->val_len;
    e->key = m->key ? dup_bytes(m->key, m->key_len) : NULL;
    e->val = dup_bytes(m->val, m->val_len);
    if ((m->key && e->key == NULL) || e->val == NULL) {
        free_entry(e);
        return mf_err_set(err, "out of memory");
    }
    q->n++;
    return 0;
}

int sender_retryq_keep(sender_retryq *q, int32_t partition, int64_t offset)
{
    for (size_t t = 0; t < q->ntaken; t++) {
        sender_held *e = &q->h[q->taken[t]];

        if (e->in_batch && e->partition == partition && e->offset == offset) {
            e->in_batch = 0;
            e->parked = 1;
            return 1;
        }
    }
    return 0;
}

void sender_retryq_mark(sender_retryq *q, sender_retryq_state_fn fn, void *arg)
{
    for (size_t i = 0; i < q->n; i++) {
        sender_held *e = &q->h[i];
        int st;

        if (e->in_batch)
            continue;
        st = fn(arg, &e->run);
        e->parked = st == SENDER_RETRYQ_PARK;
        if (st == SENDER_RETRYQ_NOW)
            e->due_ms = 0;
    }
}

int64_t sender_retryq_next_due(const sender_retryq *q)
{
    int64_t due = INT64_MAX;

    for (size_t i = 0; i < q->n; i++)
        if (!q->h[i].in_batch && !q->h[i].parked && q->h[i].due_ms < due)
            due = q->h[i].due_ms;
    return due;
}

size_t sender_retryq_take_due(sender_retryq *q, int64_t now, const char *topic, mf_kafka_msg *out,
                              size_t max)
{
    size_t k = 0;

    if (q->taken_cap < q->ntaken + max) {
        size_t *t = realloc(q->taken, (q->ntaken + max) * sizeof(*t));

        if (t == NULL)
            return 0;
        q->taken = t;
        q->taken_cap = q->ntaken + max;
    }
    for (size_t i = 0; i < q->n && k < max; i++) {
        sender_held *e = &q->h[i];

        if (e->in_batch || e->parked || e->due_ms > now)
            continue;
        e->in_batch = 1;
        q->taken[q->ntaken++] = i;
        memset(&out[k], 0, sizeof(out[k]));
        out[k].topic = topic;
        out[k].partition = e->partition;
        out[k].offset = e->offset;
        out[k].key = e->key;
        out[k].key_len = e->klen;
        out[k].val = e->val;
        out[k].val_len = e->vlen;
        out[k].ts_ms = -1;
        k++;
    }
    return k;
}

static sender_retry_pos *find_pos(const sender_retryq *q, int32_t partition)
{
    for (size_t i = 0; i < q->npos; i++)
        if (q->pos[i].partition == partition)
            return &q->pos[i];
    return NULL;
}

int sender_retryq_done(sender_retryq *q, int32_t partition, int64_t offset, mf_err *err)
{
    sender_retry_pos *p = find_pos(q, partition);

    if (p == NULL) {
        if (q->npos == q->poscap) {
            size_t cap = q->poscap ? q->poscap * 2 : 16;
            sender_retry_pos *n = realloc(q->pos, cap * sizeof(*n));

            if (n == NULL)
                return mf_err_set(err, "out of memory");
            q->pos = n;
            q->poscap = cap;
        }
        p = &q->pos[q->npos++];
        p->partition = partition;
        p->done = -1;
    }
    if (offset + 1 > p->done)
        p->done = offset + 1;
    return 0;
}

void sender_retryq_batch_end(sender_retryq *q)
{
    size_t k = 0;

    q->ntaken = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->h[i].in_batch)
            free_entry(&q->h[i]);
        else
            q->h[k++] = q->h[i];
    }
    q->n = k;
}

int64_t sender_retryq_position(const sender_retryq *q, int32_t partition)
{
    const sender_retry_pos *p = find_pos(q, partition);
    int64_t pos = -1;

    for (size_t i = 0; i < q->n; i++)
        if (q->h[i].partition == partition && !q->h[i].in_batch &&
            (pos < 0 || q->h[i].offset < pos))
            pos = q->h[i].offset;
    if (pos >= 0)
        return pos;
    return p ? p->done : -1;
}

void sender_retryq_drop_partition(sender_retryq *q, int32_t partition)
{
    size_t k = 0;

    for (size_t i = 0; i < q->n; i++) {
        if (q->h[i].partition == partition && !q->h[i].in_batch)
            free_entry(&q->h[i]);
        else
            q->h[k++] = q->h[i];
    }
    q->n = k;
    for (size_t i = 0; i < q->npos; i++)
        if (q->pos[i].partition == partition) {
            q->pos[i] = q->pos[--q->npos];
            break;
        }
}

size_t sender_retryq_held(const sender_retryq *q)
{
    size_t n = 0;

    for (size_t i = 0; i < q->n; i++)
        n += !q->h[i].in_batch;
    return n;
}

size_t sender_retryq_parked(const sender_retryq *q)
{
    size_t n = 0;

    for (size_t i = 0; i < q->n; i++)
        n += !q->h[i].in_batch && q->h[i].parked;
    return n;
}

/* rep_hold: sent messages' results held back briefly, so a delivery report joins its row. */
#include "rep_hold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A held result is given up after this many times wait_ms whatever its partition does (a
 * message without a timestamp, a clock that went backwards). */
#define HARD_CAP_FACTOR 5
/* Spool bytes per result that may be held (a result is about 0.4 KB; long texts take more). */
#define SPOOL_BYTES_PER_RESULT 1024
/* Spool bytes gathered in memory before one pwrite: results arrive a consumer batch at a time,
 * and a write of their key and value each took two system calls per result (a quarter of the
 * consumer thread's CPU in a 1 M run). */
#define SPOOL_WBUF_BYTES ((size_t)256 << 10)
#define NIL UINT32_MAX

/* One held result (64 bytes: a campaign holds a hundred thousand of them). Its bytes are in
 * the spool; prev/next link it into its partition's list in offset order (the free slots into
 * a list of their own through next). */
typedef struct held {
    mf_uuid job;
    int64_t offset, ts_ms;
    uint64_t spos; /* where its key and value are in the spool (logical position) */
    uint32_t prev, next;
    uint32_t vlen;
    uint32_t seen; /* consumed at, ms after the holder's epoch (wraps after 49 days: only
                      * differences are used) */
    uint16_t klen;
    uint16_t lane;
    uint8_t used, has_key, has_val, due;
} held;

/* A result handed out by the last take: where its bytes are read from into the batch. */
typedef struct taken {
    uint64_t spos;
    uint32_t klen, vlen;
    unsigned char has_key, has_val;
} taken;

/* A partition: its held results (oldest first), stream time and consumed end. */
typedef struct lane {
    int32_t partition;
    uint32_t head, tail; /* slots, NIL when none */
    int64_t newest_ts;
    int64_t next_offset; /* after the last message consumed from it, -1: none yet */
    long long last_seen_ms;
} lane;

struct rep_hold {
    long long wait_ms, epoch_ms;
    size_t max, live;
    char topic[MF_KAFKA_TOPIC_MAX + 1]; /* the consumer's one topic (set by the first put) */
    int fd;                             /* the spool: an unlinked file, a ring of cap bytes */
    uint64_t cap, wpos;                 /* wpos: next logical write position */
    /* Spool bytes not written to the file yet: logical [wstart, wstart + wlen), contiguous in
     * the file too (flushed before a ring wrap), read from here while they are here. */
    unsigned char *wbuf;
    size_t wlen, wcap;
    uint64_t wstart;
    held *slots; /* [0, fresh) have been used: those not held are on the free list */
    uint32_t fresh, free_head;
    uint32_t *index; /* open addressing by job id: slot + 1, 0 = empty */
    size_t icap;     /* a power of two, at least twice max */
    uint32_t *due;   /* slots matched since the last take */
    size_t ndue, capdue;
    taken *taken; /* handed out by the last take, and the buffer their bytes are read into */
    size_t ntaken;
    unsigned char *buf;
    size_t bufcap;
    lane *lanes;
    size_t nlanes, caplanes;
};

/* The spool: a file in dir, unlinked at once (it goes when the process does). */
static int spool_open(rep_hold *h, const char *dir, mf_err *err)
{
    char path[4096], eb[128];
    int n;

    n = snprintf(path, sizeof(path), "%s/msgfleet-reporter-hold-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return mf_err_set(err, "MF_REPORTER_HOLD_DIR: path too long");
    h->fd = mkstemp(path);
    if (h->fd < 0)
        return mf_err_set(err, "MF_REPORTER_HOLD_DIR: cannot create a file in %s: %s", dir,
                          mf_err_errno_str(errno, eb, sizeof(eb)));
    unlink(path);
    if (fcntl(h->fd, F_SETFD, FD_CLOEXEC) != 0)
        return mf_err_set(err, "MF_REPORTER_HOLD_DIR: %s", mf_err_errno_str(errno, eb, sizeof(eb)));
    return 0;
}

/* Every slot free again; untouched slots cost no memory until a campaign needs them. */
static void free_all_slots(rep_hold *h)
{
    h->fresh = 0;
    h->free_head = NIL;
    h->live = 0;
}

/* A free slot, or NIL when max are held. */
static uint32_t alloc_slot(rep_hold *h)
{
    uint32_t slot = h->free_head;

    if (slot != NIL)
        h->free_head = h->slots[slot].next;
    else if (h->fresh < h->max)
        slot = h->fresh++;
    return slot;
}

rep_hold *rep_hold_new(long long wait_ms, size_t max, const char *dir, mf_err *err)
{
    rep_hold *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    h->fd = -1;
    h->wait_ms = wait_ms;
    h->epoch_ms = -1;
    h->max = max < NIL ? max : NIL - 1;
    h->cap = (uint64_t)h->max * SPOOL_BYTES_PER_RESULT;
    for (h->icap = 16; h->icap < 2 * h->max; h->icap *= 2)
        ;
    h->slots = malloc(h->max * sizeof(*h->slots));
    h->index = calloc(h->icap, sizeof(*h->index));
    h->taken = malloc(h->max * sizeof(*h->taken));
    h->wcap = h->cap < SPOOL_WBUF_BYTES ? (size_t)h->cap : SPOOL_WBUF_BYTES;
    h->wbuf = malloc(h->wcap);
    if (h->slots == NULL || h->index == NULL || h->taken == NULL || h->wbuf == NULL) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    if (spool_open(h, dir, err) != 0)
        goto fail;
    free_all_slots(h);
    return h;
fail:
    rep_hold_free(h);
    return NULL;
}

void rep_hold_free(rep_hold *h)
{
    if (h == NULL)
        return;
    free(h->lanes);
    free(h->slots);
    free(h->index);
    free(h->due);
    free(h->taken);
    free(h->buf);
    free(h->wbuf);
    if (h->fd >= 0)
        close(h->fd);
    free(h);
}

/* A job id's last 8 bytes are hash bytes (its first 6 are the run's start time, shared by the
 * whole run): mixed, they spread well. */
static size_t bucket_of(const rep_hold *h, const mf_uuid *job)
{
    uint64_t x;

    memcpy(&x, job->b + 8, sizeof(x));
    x *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 32) & (h->icap - 1);
}

/* The index bucket holding job, or where it would go (*found 0). */
static size_t find_bucket(const rep_hold *h, const mf_uuid *job, int *found)
{
    size_t b = bucket_of(h, job);

    while (h->index[b] != 0) {
        if (mf_uuid_equal(&h->slots[h->index[b] - 1].job, job)) {
            *found = 1;
            return b;
        }
        b = (b + 1) & (h->icap - 1);
    }
    *found = 0;
    return b;
}

/* Linear probing's deletion: later entries of the probe run move back into the hole. */
static void index_remove(rep_hold *h, size_t b)
{
    size_t mask = h->icap - 1, next = (b + 1) & mask;

    h->index[b] = 0;
    while (h->index[next] != 0) {
        size_t home = bucket_of(h, &h->slots[h->index[next] - 1].job);

        /* the entry at next may move to b when b lies on its probe path (home .. next) */
        if (((next - home) & mask) >= ((next - b) & mask)) {
            h->index[b] = h->index[next];
            h->index[next] = 0;
            b = next;
        }
        next = (next + 1) & mask;
    }
}

static lane *lane_of(rep_hold *h, int32_t partition, int create)
{
    size_t i;

    for (i = 0; i < h->nlanes; i++)
        if (h->lanes[i].partition == partition)
            return &h->lanes[i];
    if (!create || h->nlanes > UINT16_MAX)
        return NULL;
    if (h->nlanes == h->caplanes) {
        size_t cap = h->caplanes ? h->caplanes * 2 : 8;
        lane *l = realloc(h->lanes, cap * sizeof(*l));

        if (l == NULL)
            return NULL;
        h->lanes = l;
        h->caplanes = cap;
    }
    h->lanes[h->nlanes] = (lane){partition, NIL, NIL, -1, -1, 0};
    return &h->lanes[h->nlanes++];
}

/* The holder's clock: ms since its first reading (the slots keep 32 bits of it). */
static uint32_t clock_of(rep_hold *h, long long now_ms)
{
    if (h->epoch_ms < 0)
        h->epoch_ms = now_ms;
    return (uint32_t)(now_ms - h->epoch_ms);
}

/* The logical spool position of the oldest held result (wpos when none): the ring's tail.
 * Each lane's head is its oldest. */
static uint64_t spool_tail(const rep_hold *h)
{
    uint64_t tail = h->wpos;
    size_t i;

    for (i = 0; i < h->nlanes; i++)
        if (h->lanes[i].head != NIL && h->slots[h->lanes[i].head].spos < tail)
            tail = h->slots[h->lanes[i].head].spos;
    return tail;
}

/* Writes n bytes at physical position phys of the spool file. */
static int spool_pwrite(rep_hold *h, const void *p, size_t n, uint64_t phys, mf_err *err)
{
    char eb[128];
    size_t done = 0;

    while (done < n) {
        ssize_t w = pwrite(h->fd, (const char *)p + done, n - done, (off_t)(phys + done));

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return mf_err_set(err, "hold spool write failed: %s",
                              w < 0 ? mf_err_errno_str(errno, eb, sizeof(eb)) : "no progress");
        done += (size_t)w;
    }
    return 0;
}

/* Writes the gathered bytes to the file. */
static int spool_flush(rep_hold *h, mf_err *err)
{
    if (h->wlen > 0 && spool_pwrite(h, h->wbuf, h->wlen, h->wstart % h->cap, err) != 0)
        return -1;
    h->wlen = 0;
    return 0;
}

/* Writes m's key then value at a new spool position (a record never wraps: it starts again
 * at the ring's start when it would): gathered in wbuf, which is written out first when the
 * record does not follow it in the file or does not fit. 1 and *pos, 0 when the ring is
 * full, -1. */
static int spool_write(rep_hold *h, const mf_kafka_msg *m, uint64_t *pos, mf_err *err)
{
    size_t klen = m->key != NULL ? m->key_len : 0, vlen = m->val != NULL ? m->val_len : 0;
    size_t len = m->key_len + m->val_len;
    uint64_t at = h->wpos, phys = at % h->cap;

    if (phys + len > h->cap)
        at += h->cap - phys;
    if (len > h->cap || at + len - spool_tail(h) > h->cap)
        return 0;
    phys = at % h->cap;
    if (h->wlen > 0 && (at != h->wstart + h->wlen || phys == 0 || h->wlen + len > h->wcap) &&
        spool_flush(h, err) != 0)
        return -1;
    if (len > h->wcap) { /* a record larger than the buffer goes straight to the file */
        if (spool_pwrite(h, m->key, klen, phys, err) != 0 ||
            spool_pwrite(h, m->val, vlen, phys + m->key_len, err) != 0)
            return -1;
    } else {
        if (h->wlen == 0)
            h->wstart = at;
        if (klen > 0)
            memcpy(h->wbuf + h->wlen, m->key, klen);
        if (vlen > 0)
            memcpy(h->wbuf + h->wlen + m->key_len, m->val, vlen);
        h->wlen += len;
    }
    *pos = at;
    h->wpos = at + len;
    return 1;
}

int rep_hold_put(rep_hold *h, const mf_kafka_msg *m, const mf_uuid *job, long long now_ms,
                 mf_err *err)
{
    size_t b;
    int found, rc;
    uint32_t slot;
    uint64_t pos = 0;
    held *x;
    lane *l;

    if (m->topic == NULL || m->key_len > UINT16_MAX || m->val_len > UINT32_MAX)
        return 0;
    if (h->topic[0] == '\0')
        snprintf(h->topic, sizeof(h->topic), "%s", m->topic);
    if (strcmp(h->topic, m->topic) != 0)
        return 0; /* one topic per consumer: never the case */
    b = find_bucket(h, job, &found);
    if (found) { /* a second first outcome (a redelivery): both are written now */
        rep_hold_match(h, job);
        return 0;
    }
    if (h->free_head == NIL && h->fresh == h->max)
        return 0;
    l = lane_of(h, m->partition, 1);
    if (l == NULL)
        return mf_err_set(err, "out of memory holding a result");
    if ((rc = spool_write(h, m, &pos, err)) <= 0)
        return rc;
    slot = alloc_slot(h);
    x = &h->slots[slot];
    x->job = *job; /* the partition's stream time: rep_hold_see, called for m before */
    x->offset = m->offset;
    x->ts_ms = m->ts_ms;
    x->spos = pos;
    x->vlen = (uint32_t)m->val_len;
    x->klen = (uint16_t)m->key_len;
    x->seen = clock_of(h, now_ms);
    x->lane = (uint16_t)(l - h->lanes);
    x->used = 1;
    x->has_key = m->key != NULL;
    x->has_val = m->val != NULL;
    x->due = 0;
    x->next = NIL;
    x->prev = l->tail;
    if (l->tail != NIL)
        h->slots[l->tail].next = slot;
    else
        l->head = slot;
    l->tail = slot;
    h->index[b] = slot + 1;
    h->live++;
    return 1;
}

int rep_hold_match(rep_hold *h, const mf_uuid *job)
{
    int found;
    size_t b = find_bucket(h, job, &found);
    held *x;

    if (!found)
        return 0;
    x = &h->slots[h->index[b] - 1];
    if (x->due)
        return 1;
    if (h->ndue == h->capdue) {
        size_t cap = h->capdue ? h->capdue * 2 : 1024;
        uint32_t *d = realloc(h->due, cap * sizeof(*d));

        if (d == NULL) /* not taken early: it expires as if no report had come */
            return 1;
        h->due = d;
        h->capdue = cap;
    }
    x->due = 1;
    h->due[h->ndue++] = h->index[b] - 1;
    return 1;
}

void rep_hold_see(rep_hold *h, const mf_kafka_msg *m, long long now_ms)
{
    lane *l = lane_of(h, m->partition, 1);

    if (l == NULL)
        return; /* out of memory: rep_hold_put fails on it too */
    if (m->ts_ms > l->newest_ts)
        l->newest_ts = m->ts_ms;
    if (m->offset + 1 > l->next_offset)
        l->next_offset = m->offset + 1;
    l->last_seen_ms = now_ms;
}

/* Whether x has waited long enough for its report: its partition's stream went wait_ms past
 * it, or the partition went quiet for wait_ms (a reporter that keeps up), or the hard cap. */
static int expired(rep_hold *h, const lane *l, const held *x, long long now_ms)
{
    if (x->ts_ms >= 0 && l->newest_ts - x->ts_ms >= h->wait_ms)
        return 1;
    if (now_ms - l->last_seen_ms >= h->wait_ms)
        return 1;
    return (long long)(uint32_t)(clock_of(h, now_ms) - x->seen) >= h->wait_ms * HARD_CAP_FACTOR;
}

/* Hands out slot's result as out (its bytes are read by take) and frees the slot. */
static void emit(rep_hold *h, uint32_t slot, mf_kafka_msg *out)
{
    held *x = &h->slots[slot];
    lane *l = &h->lanes[x->lane];
    int found;
    size_t b = find_bucket(h, &x->job, &found);

    if (found)
        index_remove(h, b);
    memset(out, 0, sizeof(*out));
    out->topic = h->topic;
    out->partition = l->partition;
    out->offset = x->offset;
    out->key_len = x->klen;
    out->val_len = x->vlen;
    out->ts_ms = x->ts_ms;
    h->taken[h->ntaken++] = (taken){x->spos, x->klen, x->vlen, x->has_key, x->has_val};
    if (x->prev != NIL)
        h->slots[x->prev].next = x->next;
    else
        l->head = x->next;
    if (x->next != NIL)
        h->slots[x->next].prev = x->prev;
    else
        l->tail = x->prev;
    x->used = 0;
    x->due = 0;
    x->next = h->free_head;
    h->free_head = slot;
    h->live--;
}

/* Reads len bytes at logical spool position spos into dst: from the gathered bytes while they
 * are there, else from the file. */
static int spool_read(rep_hold *h, unsigned char *dst, uint64_t spos, size_t len, mf_err *err)
{
    char eb[128];
    size_t done = 0;

    if (len == 0)
        return 0;
    if (h->wlen > 0 && spos >= h->wstart && spos + len <= h->wstart + h->wlen) {
        memcpy(dst, h->wbuf + (spos - h->wstart), len);
        return 0;
    }
    while (done < len) {
        ssize_t r = pread(h->fd, dst + done, len - done, (off_t)(spos % h->cap + done));

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return mf_err_set(err, "hold spool read failed: %s",
                              r < 0 ? mf_err_errno_str(errno, eb, sizeof(eb)) : "short file");
        done += (size_t)r;
    }
    return 0;
}

/* Whether logical spool position spos is among the gathered bytes (a record is wholly there
 * or wholly in the file). */
static int spool_gathered(const rep_hold *h, uint64_t spos)
{
    return h->wlen > 0 && spos >= h->wstart;
}

/* Whether a spool run from start to end (logical) continues with the record at spos: results
 * taken in the order they were put lie back to back, and one read takes them all. Not across
 * the ring's end, nor from the file into the gathered bytes. */
static int spool_follows(const rep_hold *h, uint64_t start, uint64_t end, uint64_t spos)
{
    return spos == end && spos % h->cap != 0 && spool_gathered(h, start) == spool_gathered(h, spos);
}

/* Reads the bytes of the n results handed out into out[] from the spool. */
static int read_taken(rep_hold *h, mf_kafka_msg *out, size_t n, mf_err *err)
{
    size_t i, j, total = 0, at = 0;

    for (i = 0; i < n; i++)
        total += (size_t)h->taken[i].klen + h->taken[i].vlen;
    if (total > h->bufcap) {
        unsigned char *b = realloc(h->buf, total);

        if (b == NULL)
            return mf_err_set(err, "out of memory reading held results");
        h->buf = b;
        h->bufcap = total;
    }
    for (i = 0; i < n; i = j) {
        uint64_t end = h->taken[i].spos + h->taken[i].klen + h->taken[i].vlen;
        size_t run = at;

        for (j = i; j < n; j++) {
            const taken *t = &h->taken[j];

            if (j > i && !spool_follows(h, h->taken[i].spos, end, t->spos))
                break;
            end = t->spos + t->klen + t->vlen;
            out[j].key = t->has_key ? h->buf + at : NULL;
            out[j].val = t->has_val ? h->buf + at + t->klen : NULL;
            at += (size_t)t->klen + t->vlen;
        }
        if (spool_read(h, h->buf + run, h->taken[i].spos, at - run, err) != 0)
            return -1;
    }
    return 0;
}

long rep_hold_take(rep_hold *h, long long now_ms, int flush, mf_kafka_msg *out, size_t cap,
                   mf_err *err)
{
    size_t n = 0, i;

    h->ntaken = 0;
    if (cap > h->max)
        cap = h->max;
    while (h->ndue > 0 && n < cap) {
        uint32_t slot = h->due[--h->ndue];

        if (h->slots[slot].used && h->slots[slot].due)
            emit(h, slot, &out[n++]);
    }
    for (i = 0; i < h->nlanes; i++) {
        lane *l = &h->lanes[i];

        while (l->head != NIL && n < cap && (flush || expired(h, l, &h->slots[l->head], now_ms)))
            emit(h, l->head, &out[n++]);
    }
    if (read_taken(h, out, n, err) != 0)
        return -1;
    return (long)n;
}

int64_t rep_hold_store_offset(const rep_hold *h, int32_t partition, int64_t next)
{
    size_t i;

    for (i = 0; i < h->nlanes; i++) {
        const lane *l = &h->lanes[i];

        if (l->partition != partition)
            continue;
        if (l->head != NIL)
            return h->slots[l->head].offset < next ? h->slots[l->head].offset : next;
        return l->next_offset > next ? l->next_offset : next;
    }
    return next;
}

size_t rep_hold_drop(rep_hold *h)
{
    size_t i, dropped = h->live;

    free_all_slots(h);
    memset(h->index, 0, h->icap * sizeof(*h->index));
    for (i = 0; i < h->nlanes; i++)
        h->lanes[i] = (lane){h->lanes[i].partition, NIL, NIL, -1, -1, 0};
    h->ndue = 0;
    h->wlen = 0; /* what was gathered belonged to the results dropped */
    return dropped;
}

size_t rep_hold_count(const rep_hold *h)
{
    return h->live;
}

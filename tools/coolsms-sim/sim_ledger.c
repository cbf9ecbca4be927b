/* sim_ledger: compact in-memory record of accepted messages with hash indexes on id and jobId. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define CHUNK_SHIFT 16
#define CHUNK_SIZE ((size_t)1 << CHUNK_SHIFT)
#define ARENA_BLOCK ((size_t)4 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

/* A slot keeps its key's hash next to the message index, so that growing the table and
 * walking a probe chain do not read the messages (a rehash of millions of entries did, and
 * stalled the request holding the lock: 8 % of the simulator's CPU in a 300k run). */
typedef struct index_slot_t {
    uint32_t idx;  /* message index + 1, 0 = empty */
    uint32_t hash; /* low bits of the key's hash */
} index_slot_t;

typedef struct index_tab {
    index_slot_t *slots;
    size_t cap; /* power of two */
    size_t used;
} index_tab;

struct sim_ledger {
    pthread_rwlock_t lock;
    sim_msg **chunks;
    size_t nchunks, chunk_cap;
    size_t count;
    size_t sent; /* messages in state SIM_MS_SENT */
    char (*groups)[SIM_ID_LEN + 1];
    size_t ngroups, group_cap;
    arena_block *arena;
    index_tab by_id;
    index_tab by_job;
    uint64_t generation;
    /* Outcome counts of the settled prefix [0, settled_upto): every message there is final
     * (sent and past final_ms) or will never be sent, so its counts cannot change. Readers
     * share the ledger's read lock, so the prefix has its own mutex. */
    pthread_mutex_t settled_lock;
    size_t settled_upto;
    unsigned long long settled_delivered, settled_failed;
};

uint64_t sim_hash64(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

sim_ledger *sim_ledger_new(void)
{
    sim_ledger *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    pthread_rwlock_init(&l->lock, NULL);
    pthread_mutex_init(&l->settled_lock, NULL);
    return l;
}

static void ledger_release(sim_ledger *l)
{
    for (size_t i = 0; i < l->nchunks; i++)
        free(l->chunks[i]);
    free(l->chunks);
    free(l->groups);
    while (l->arena) {
        arena_block *n = l->arena->next;
        free(l->arena);
        l->arena = n;
    }
    free(l->by_id.slots);
    free(l->by_job.slots);
    l->chunks = NULL;
    l->nchunks = l->chunk_cap = l->count = l->sent = 0;
    l->groups = NULL;
    l->ngroups = l->group_cap = 0;
    memset(&l->by_id, 0, sizeof(l->by_id));
    memset(&l->by_job, 0, sizeof(l->by_job));
    l->settled_upto = 0;
    l->settled_delivered = l->settled_failed = 0;
}

void sim_ledger_free(sim_ledger *l)
{
    if (l == NULL)
        return;
    ledger_release(l);
    pthread_mutex_destroy(&l->settled_lock);
    pthread_rwlock_destroy(&l->lock);
    free(l);
}

void sim_ledger_reset(sim_ledger *l)
{
    pthread_rwlock_wrlock(&l->lock);
    ledger_release(l);
    l->generation++;
    pthread_rwlock_unlock(&l->lock);
}

void sim_ledger_rdlock(sim_ledger *l)
{
    pthread_rwlock_rdlock(&l->lock);
}
void sim_ledger_wrlock(sim_ledger *l)
{
    pthread_rwlock_wrlock(&l->lock);
}
void sim_ledger_unlock(sim_ledger *l)
{
    pthread_rwlock_unlock(&l->lock);
}
size_t sim_ledger_count(sim_ledger *l)
{
    return l->count;
}
size_t sim_ledger_sent(sim_ledger *l)
{
    return l->sent;
}
void sim_ledger_sent_add(sim_ledger *l, long delta)
{
    l->sent = (size_t)((long)l->sent + delta);
}
uint64_t sim_ledger_generation(sim_ledger *l)
{
    return l->generation;
}

const sim_msg *sim_ledger_at(sim_ledger *l, size_t i)
{
    if (i >= l->count)
        return NULL;
    return &l->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static sim_msg *msg_at(sim_ledger *l, size_t i)
{
    return &l->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

/* Counts one message into *o; returns 0 when its counts may still change (pending in a
 * group not sent yet, or sent and not final at now_ms). */
static int outcome_add(const sim_msg *m, int64_t now_ms, sim_outcomes *o)
{
    if (m->state == SIM_MS_PENDING)
        return 0;
    if (m->state != SIM_MS_SENT)
        return 1; /* rejected, unsent, removed: never sent, never counted */
    if (now_ms < m->final_ms) {
        o->pending++;
        return 0;
    }
    if (strcmp(m->final_code, "4000") == 0)
        o->delivered++;
    else
        o->failed++;
    return 1;
}

void sim_ledger_outcomes(sim_ledger *l, int64_t now_ms, sim_outcomes *out)
{
    sim_outcomes settled = {0, 0, 0};
    size_t i;

    pthread_mutex_lock(&l->settled_lock);
    for (i = l->settled_upto; i < l->count; i++)
        if (!outcome_add(msg_at(l, i), now_ms, &settled))
            break;
    l->settled_upto = i;
    l->settled_delivered += settled.delivered;
    l->settled_failed += settled.failed;
    out->delivered = l->settled_delivered;
    out->failed = l->settled_failed;
    out->pending = 0;
    pthread_mutex_unlock(&l->settled_lock);
    for (; i < l->count; i++)
        (void)outcome_add(msg_at(l, i), now_ms, out);
}

sim_msg *sim_ledger_at_mut(sim_ledger *l, size_t i)
{
    return i < l->count ? msg_at(l, i) : NULL;
}

const char *sim_ledger_group_id(sim_ledger *l, uint32_t g)
{
    return g < l->ngroups ? l->groups[g] : "";
}

/* ---- arena ------------------------------------------------------------------------------- */

static char *arena_copy(sim_ledger *l, const char *s, size_t n)
{
    arena_block *b = l->arena;
    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = l->arena;
        l->arena = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

/* ---- indexes ----------------------------------------------------------------------------- */

typedef const char *(*key_of_fn)(const sim_msg *m);
static const char *key_id(const sim_msg *m)
{
    return m->id;
}
static const char *key_job(const sim_msg *m)
{
    return m->job_id;
}

static uint64_t key_hash(const char *key)
{
    return sim_hash64(key, strlen(key), 0);
}

static int index_grow(index_tab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    index_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].idx == 0)
            continue;
        size_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].idx != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Slot of key (hash h) in t: either the slot holding it or the empty slot where it would go.
 * Tables stay under 2^32 slots (message indexes are 32-bit), so the low 32 bits of h pick
 * the slot. */
static size_t index_slot(sim_ledger *l, const index_tab *t, key_of_fn keyf, const char *key,
                         uint64_t h)
{
    size_t j = (size_t)h & (t->cap - 1);
    while (t->slots[j].idx != 0 && (t->slots[j].hash != (uint32_t)h ||
                                    strcmp(keyf(msg_at(l, t->slots[j].idx - 1)), key) != 0))
        j = (j + 1) & (t->cap - 1);
    return j;
}

long sim_ledger_find(sim_ledger *l, const char *message_id)
{
    if (l->by_id.cap == 0)
        return -1;
    size_t j = index_slot(l, &l->by_id, key_id, message_id, key_hash(message_id));
    return l->by_id.slots[j].idx ? (long)l->by_id.slots[j].idx - 1 : -1;
}

uint32_t sim_ledger_find_job(sim_ledger *l, const char *job_id)
{
    if (l->by_job.cap == 0)
        return 0;
    size_t j = index_slot(l, &l->by_job, key_job, job_id, key_hash(job_id));
    return l->by_job.slots[j].idx;
}

static int index_add(sim_ledger *l, size_t idx)
{
    sim_msg *m = msg_at(l, idx);
    uint64_t h = key_hash(m->id);
    if ((l->by_id.used + 1) * 2 > l->by_id.cap && index_grow(&l->by_id) != 0)
        return -1;
    size_t j = index_slot(l, &l->by_id, key_id, m->id, h);
    if (l->by_id.slots[j].idx == 0)
        l->by_id.used++;
    l->by_id.slots[j] = (index_slot_t){(uint32_t)idx + 1, (uint32_t)h};
    if (m->job_id == NULL)
        return 0;
    h = key_hash(m->job_id);
    if ((l->by_job.used + 1) * 2 > l->by_job.cap && index_grow(&l->by_job) != 0)
        return -1;
    j = index_slot(l, &l->by_job, key_job, m->job_id, h);
    if (l->by_job.slots[j].idx == 0)
        l->by_job.used++;
    m->job_next = l->by_job.slots[j].idx;
    l->by_job.slots[j] = (index_slot_t){(uint32_t)idx + 1, (uint32_t)h};
    return 0;
}

/* ---- add --------------------------------------------------------------------------------- */

static sim_msg *slot_new(sim_ledger *l)
{
    size_t c = l->count >> CHUNK_SHIFT;
    if (c >= l->nchunks) {
        if (l->nchunks == l->chunk_cap) {
            size_t ncap = l->chunk_cap ? l->chunk_cap * 2 : 16;
            sim_msg **n = realloc(l->chunks, ncap * sizeof(*n));
            if (n == NULL)
                return NULL;
            l->chunks = n;
            l->chunk_cap = ncap;
        }
        l->chunks[l->nchunks] = malloc(CHUNK_SIZE * sizeof(sim_msg));
        if (l->chunks[l->nchunks] == NULL)
            return NULL;
        l->nchunks++;
    }
    return msg_at(l, l->count);
}

static int copy_cf(sim_ledger *l, sim_msg *m, const sim_new_msg *nm)
{
    size_t total = 1;
    char tmp[8192];
    size_t off = 0;
    m->cf = NULL;
    m->job_id = NULL;
    if (nm->ncf == 0)
        return 0;
    for (size_t i = 0; i < nm->ncf; i++)
        total += strlen(nm->cf_keys[i]) + strlen(nm->cf_vals[i]) + 2;
    if (total > sizeof(tmp))
        return -1;
    for (size_t i = 0; i < nm->ncf; i++) {
        size_t kl = strlen(nm->cf_keys[i]) + 1, vl = strlen(nm->cf_vals[i]) + 1;
        memcpy(tmp + off, nm->cf_keys[i], kl);
        off += kl;
        memcpy(tmp + off, nm->cf_vals[i], vl);
        off += vl;
    }
    tmp[off++] = '\0';
    char *p = arena_copy(l, tmp, off - 1); /* arena adds the final NUL */
    if (p == NULL)
        return -1;
    m->cf = p;
    m->job_id = sim_msg_cf(m, SIM_INDEX_FIELD);
    return 0;
}

static const char *copy_opt(sim_ledger *l, const char *s, size_t n, int *fail)
{
    if (s == NULL)
        return NULL;
    const char *p = arena_copy(l, s, n);
    if (p == NULL)
        *fail = 1;
    return p;
}

static int add_one(sim_ledger *l, uint32_t group, sim_new_msg *nm)
{
    int fail = 0;
    sim_msg *m = slot_new(l);
    if (m == NULL)
        return -1;
    *m = nm->m;
    m->group = group;
    m->job_next = 0;
    m->text = copy_opt(l, nm->m.text, nm->text_len, &fail);
    m->subject = copy_opt(l, nm->m.subject, nm->subject_len, &fail);
    m->pf_id = copy_opt(l, nm->m.pf_id, nm->m.pf_id ? strlen(nm->m.pf_id) : 0, &fail);
    m->template_id = copy_opt(l, nm->m.template_id,
                              nm->m.template_id ? strlen(nm->m.template_id) : 0, &fail);
    if (fail || copy_cf(l, m, nm) != 0)
        return -1;
    if (index_add(l, l->count) != 0)
        return -1;
    l->count++;
    return 0;
}

/* A new group slot; called with the write lock held. */
static int group_new_locked(sim_ledger *l, const char *group_id, uint32_t *g, mf_err *err)
{
    if (l->ngroups == l->group_cap) {
        size_t ncap = l->group_cap ? l->group_cap * 2 : 256;
        void *ng = realloc(l->groups, ncap * sizeof(*l->groups));
        if (ng == NULL)
            return mf_err_set(err, "out of memory");
        l->groups = ng;
        l->group_cap = ncap;
    }
    memcpy(l->groups[l->ngroups], group_id, SIM_ID_LEN + 1);
    *g = (uint32_t)l->ngroups++;
    return 0;
}

static int append_locked(sim_ledger *l, uint32_t g, sim_new_msg *msgs, size_t n, size_t *first,
                         mf_err *err)
{
    if (first)
        *first = l->count;
    for (size_t i = 0; i < n; i++) {
        if (add_one(l, g, &msgs[i]) != 0)
            return mf_err_set(err, "out of memory while recording message %zu", i);
        if (msgs[i].m.state == SIM_MS_SENT)
            l->sent++;
    }
    return 0;
}

int sim_ledger_group_new(sim_ledger *l, const char *group_id, uint32_t *g, mf_err *err)
{
    pthread_rwlock_wrlock(&l->lock);
    int rc = group_new_locked(l, group_id, g, err);
    pthread_rwlock_unlock(&l->lock);
    return rc;
}

int sim_ledger_append(sim_ledger *l, uint32_t g, sim_new_msg *msgs, size_t n, size_t *first,
                      mf_err *err)
{
    pthread_rwlock_wrlock(&l->lock);
    int rc = append_locked(l, g, msgs, n, first, err);
    pthread_rwlock_unlock(&l->lock);
    return rc;
}

int sim_ledger_add(sim_ledger *l, const char *group_id, sim_new_msg *msgs, size_t n, size_t *first,
                   uint32_t *group_out, mf_err *err)
{
    uint32_t g = 0;
    int rc = -1;

    pthread_rwlock_wrlock(&l->lock);
    if (group_new_locked(l, group_id, &g, err) != 0)
        goto out;
    if (group_out)
        *group_out = g;
    rc = append_locked(l, g, msgs, n, first, err);
out:
    pthread_rwlock_unlock(&l->lock);
    return rc;
}

/* ---- message helpers --------------------------------------------------------------------- */

const char *sim_msg_status(const sim_msg *m, int64_t now_ms)
{
    if (m->state == SIM_MS_PENDING || m->state == SIM_MS_REMOVED)
        return "2000";
    if (m->state == SIM_MS_REJECTED || m->state == SIM_MS_UNSENT)
        return m->final_code;
    if (now_ms >= m->final_ms)
        return m->final_code;
    if (now_ms >= m->accepted_ms + (m->final_ms - m->accepted_ms) / 2)
        return "3000";
    return "2000";
}

const char *sim_msg_status_word(const sim_msg *m, int64_t now_ms)
{
    const char *st = sim_msg_status(m, now_ms);

    if (m->state == SIM_MS_PENDING || m->state == SIM_MS_REMOVED)
        return "PENDING";
    if (!strcmp(st, "2000") || !strcmp(st, "3000"))
        return "SENDING";
    return !strcmp(st, "4000") ? "COMPLETE" : "FAILED";
}

const char *sim_msg_cf(const sim_msg *m, const char *key)
{
    const char *p = m->cf;
    if (p == NULL)
        return NULL;
    while (*p) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, key) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

int sim_msg_cf_json(const sim_msg *m, mf_buf *out, mf_err *err)
{
    const char *p = m->cf;
    int first = 1;
    if (mf_buf_append_char(out, '{', err) != 0)
        return -1;
    while (p && *p) {
        const char *v = p + strlen(p) + 1;
        if ((!first && mf_buf_append_char(out, ',', err) != 0) ||
            mf_buf_append_json_cstr(out, p, err) != 0 || mf_buf_append_char(out, ':', err) != 0 ||
            mf_buf_append_json_cstr(out, v, err) != 0)
            return -1;
        first = 0;
        p = v + strlen(v) + 1;
    }
    return mf_buf_append_char(out, '}', err);
}

/* qcache: per-run cache of query-variable results, keyed by (variable, parameter tuple). */
#include "qcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct qc_slot {
    char *key; /* NULL: empty */
    size_t len;
    char *value;
    uint64_t hash;
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void planner_qcache_init(planner_qcache *c, size_t max)
{
    memset(c, 0, sizeof(*c));
    c->max = max;
}

void planner_qcache_limits(planner_qcache *c, size_t max_bytes, size_t value_max)
{
    c->max_bytes = max_bytes;
    c->value_max = value_max;
}

static void clear(planner_qcache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].key);
        free(c->slots[i].value);
        c->slots[i].key = NULL;
        c->slots[i].value = NULL;
    }
    c->n = 0;
    c->bytes = 0;
}

void planner_qcache_free(planner_qcache *c)
{
    clear(c);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

static struct qc_slot *find(const planner_qcache *c, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (c->cap - 1);

    while (c->slots[i].key != NULL) {
        struct qc_slot *s = &c->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
        i = (i + 1) & (c->cap - 1);
    }
    return &c->slots[i];
}

int planner_qcache_get(const planner_qcache *c, const char *key, size_t len, const char **value)
{
    struct qc_slot *s;

    if (c->cap == 0)
        return 0;
    s = find(c, key, len, fnv(key, len));
    if (s->key == NULL)
        return 0;
    *value = s->value;
    return 1;
}

static int grow(planner_qcache *c, mf_err *err)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    struct qc_slot *old = c->slots;
    size_t oldcap = c->cap;

    c->slots = calloc(cap, sizeof(*c->slots));
    if (c->slots == NULL) {
        c->slots = old;
        return mf_err_set(err, "out of memory (query cache)");
    }
    c->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key != NULL)
            *find(c, old[i].key, old[i].len, old[i].hash) = old[i];
    }
    free(old);
    return 0;
}

static char *copy(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int planner_qcache_put(planner_qcache *c, const char *key, size_t len, const char *value,
                       mf_err *err)
{
    uint64_t h = fnv(key, len);
    size_t vlen = value != NULL ? strlen(value) : 0;
    size_t charge = len + (value != NULL ? vlen + 1 : 0) + PLANNER_QCACHE_ENTRY_OVERHEAD;
    struct qc_slot *s;

    if (c->value_max > 0 && vlen > c->value_max)
        return mf_err_set(err, "query variable value is %zu bytes, over the %zu-byte limit", vlen,
                          c->value_max);
    if (c->max == 0 || (c->max_bytes > 0 && charge > c->max_bytes))
        return 0;
    if (c->n >= c->max || (c->max_bytes > 0 && c->bytes + charge > c->max_bytes))
        clear(c);
    if ((c->n + 1) * 2 > c->cap && grow(c, err) != 0)
        return -1;
    s = find(c, key, len, h);
    if (s->key != NULL)
        return 0;
    s->key = copy(key, len);
    s->value = value != NULL ? copy(value, vlen) : NULL;
    if (s->key == NULL || (value != NULL && s->value == NULL)) {
        free(s->key);
        free(s->value);
        s->key = s->value = NULL;
        return mf_err_set(err, "out of memory (query cache)");
    }
    s->len = len;
    s->hash = h;
    c->n++;
    c->bytes += charge;
    return 0;
}

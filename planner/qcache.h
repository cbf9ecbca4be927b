/* qcache: per-run cache of query-variable results, keyed by (variable, parameter tuple). */
#ifndef PLANNER_QCACHE_H
#define PLANNER_QCACHE_H

#include <stddef.h>

#include "mf_err.h"

/* A string -> optional string map (open addressing, FNV-1a). When it would exceed `max`
 * entries or `max_bytes` bytes of keys and values it is emptied (a simple bound on memory;
 * entries are just fetched again). */
typedef struct planner_qcache {
    struct qc_slot *slots;
    size_t cap, n, max;
    size_t bytes;     /* keys and values held, plus a fixed overhead per entry */
    size_t max_bytes; /* 0: no byte budget */
    size_t value_max; /* longest value put accepts (0: no limit) */
} planner_qcache;

/* Bytes an entry is charged beyond its key and value (allocation and slot overhead). */
#define PLANNER_QCACHE_ENTRY_OVERHEAD 64

void planner_qcache_init(planner_qcache *c, size_t max);

/* Bound the bytes held (0: none) and the length of one value (0: none). */
void planner_qcache_limits(planner_qcache *c, size_t max_bytes, size_t value_max);
void planner_qcache_free(planner_qcache *c);

/* Look key (len bytes) up. Returns 1 when present (*value = the cached text, or NULL for
 * "no value"), 0 when absent. The pointer is valid until the next put. */
int planner_qcache_get(const planner_qcache *c, const char *key, size_t len, const char **value);

/* Store a copy of key and value (value may be NULL). max == 0 disables caching (no-op). A
 * value longer than value_max fails (`query variable value is N bytes, over the M-byte
 * limit`); an entry larger than the whole byte budget is not cached (0). */
int planner_qcache_put(planner_qcache *c, const char *key, size_t len, const char *value,
                       mf_err *err);

#endif

/* qcache: per-run cache of query-variable results, keyed by (variable, parameter tuple). */
#ifndef PLANNER_QCACHE_H
#define PLANNER_QCACHE_H

#include <stddef.h>

#include "mf_err.h"

/* A string -> optional string map (open addressing, FNV-1a). When it would exceed `max`
 * entries it is emptied (a simple bound on memory; entries are just fetched again). */
typedef struct planner_qcache {
    struct qc_slot *slots;
    size_t cap, n, max;
} planner_qcache;

void planner_qcache_init(planner_qcache *c, size_t max);
void planner_qcache_free(planner_qcache *c);

/* Look key (len bytes) up. Returns 1 when present (*value = the cached text, or NULL for
 * "no value"), 0 when absent. The pointer is valid until the next put. */
int planner_qcache_get(const planner_qcache *c, const char *key, size_t len,
                       const char **value);

/* Store a copy of key and value (value may be NULL). max == 0 disables caching (no-op). */
int planner_qcache_put(planner_qcache *c, const char *key, size_t len, const char *value,
                       mf_err *err);

#endif

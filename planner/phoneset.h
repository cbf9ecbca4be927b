/* phoneset: the set of normalised phone numbers already expanded in a run (dedupe). */
#ifndef PLANNER_PHONESET_H
#define PLANNER_PHONESET_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"

/* Open addressing over 8-byte keys (digits and length packed), so ~16 bytes per number at the
 * usual load factor: 10 million recipients need about 160 MB. */
typedef struct planner_phoneset {
    uint64_t *slots;
    size_t cap, n;
} planner_phoneset;

void planner_phoneset_init(planner_phoneset *s);
void planner_phoneset_free(planner_phoneset *s);
void planner_phoneset_clear(planner_phoneset *s);

/* Add a normalised number (digits only, at most 19). Returns 1 when it was new, 0 when it was
 * already there, -1 with err (not digits, out of memory). */
int planner_phoneset_add(planner_phoneset *s, const char *phone, mf_err *err);

#endif

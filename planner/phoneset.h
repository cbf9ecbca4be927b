/* phoneset: the set of normalised phone numbers already expanded in a run (dedupe). */
#ifndef PLANNER_PHONESET_H
#define PLANNER_PHONESET_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"

/* Korean mobile numbers (11 digits, 01X then 8 digits) are bits: one bitmap per prefix
 * 010..019, allocated in chunks of 2^20 numbers (128 KB) as they are first touched, so any
 * number of 010 recipients costs at most 12.5 MB (10 million recipients in a hash needed
 * 160-240 MB). Every other number goes to a hash of 8-byte keys (digits and length packed),
 * ~16 bytes each at the usual load factor. */
#define PLANNER_PHONESET_CHUNK_BITS 20
#define PLANNER_PHONESET_CHUNKS ((100000000 >> PLANNER_PHONESET_CHUNK_BITS) + 1)

typedef struct planner_phoneset {
    uint64_t *slots;
    size_t cap, n;                                /* hash: slots, and numbers in it */
    size_t n_mobile;                              /* numbers in the bitmaps */
    uint8_t *mobile[10][PLANNER_PHONESET_CHUNKS]; /* [third digit][suffix >> CHUNK_BITS] */
} planner_phoneset;

void planner_phoneset_init(planner_phoneset *s);
void planner_phoneset_free(planner_phoneset *s);
void planner_phoneset_clear(planner_phoneset *s);

/* Add a normalised number (digits only, at most 19). Returns 1 when it was new, 0 when it was
 * already there, -1 with err (not digits, out of memory). */
int planner_phoneset_add(planner_phoneset *s, const char *phone, mf_err *err);

/* Numbers in the set. */
size_t planner_phoneset_count(const planner_phoneset *s);

#endif

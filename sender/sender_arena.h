/* sender_arena: a bump allocator for one batch's strings, reset after the batch. */
#ifndef SENDER_ARENA_H
#define SENDER_ARENA_H

#include <stddef.h>

#include "mf_err.h"

typedef struct sender_arena_chunk {
    struct sender_arena_chunk *next;
    size_t used, cap;
    char data[];
} sender_arena_chunk;

/* Zero-initialised it is empty; what it hands out is owned by the arena. */
typedef struct sender_arena {
    sender_arena_chunk *head;
    int failed; /* an allocation failed since the last reset (sender_arena_check) */
} sender_arena;

/* n bytes, valid until the next reset or free; NULL when out of memory (then the arena
 * remembers it). Sizes are rounded up to 16, so every block keeps the alignment of the chunk's
 * data (8 bytes: pointers). */
void *sender_arena_alloc(sender_arena *a, size_t n);

/* A copy of s in the arena; NULL when s is NULL or out of memory. */
char *sender_arena_strdup(sender_arena *a, const char *s);

/* -1 with err set when an allocation failed since the last reset. A slot whose copy failed
 * holds NULL where a value was (a group id read as "no group", a provider message id lost):
 * the batch checks this before anything it does next depends on those copies or leaves the
 * process (claim records, results, group decisions) and is then retried like any failed
 * batch, from the claims. */
int sender_arena_check(const sender_arena *a, mf_err *err);

/* Forgets every allocation (and a failure); the newest chunk is kept for the next batch, the
 * others freed. */
void sender_arena_reset(sender_arena *a);

/* Frees every chunk; the arena is empty again (and usable). */
void sender_arena_free(sender_arena *a);

#endif

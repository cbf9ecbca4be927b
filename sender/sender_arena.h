/* sender_arena: a bump allocator for one batch's strings, reset after the batch. */
#ifndef SENDER_ARENA_H
#define SENDER_ARENA_H

#include <stddef.h>

typedef struct sender_arena_chunk {
    struct sender_arena_chunk *next;
    size_t used, cap;
    char data[];
} sender_arena_chunk;

/* Zero-initialised it is empty; what it hands out is owned by the arena. */
typedef struct sender_arena {
    sender_arena_chunk *head;
} sender_arena;

/* n bytes, valid until the next reset or free; NULL when out of memory. Sizes are rounded up
 * to 16, so every block keeps the alignment of the chunk's data (8 bytes: pointers). */
void *sender_arena_alloc(sender_arena *a, size_t n);

/* A copy of s in the arena; NULL when s is NULL or out of memory. */
char *sender_arena_strdup(sender_arena *a, const char *s);

/* Forgets every allocation; the newest chunk is kept for the next batch, the others freed. */
void sender_arena_reset(sender_arena *a);

/* Frees every chunk; the arena is empty again (and usable). */
void sender_arena_free(sender_arena *a);

#endif

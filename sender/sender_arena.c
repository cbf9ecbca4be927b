/* sender_arena: a bump allocator for one batch's strings, reset after the batch. */
#include "sender_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK ((size_t)256 * 1024)

void *sender_arena_alloc(sender_arena *a, size_t n)
{
    sender_arena_chunk *c = a->head;
    size_t need;
    void *p;

    if (n > SIZE_MAX - sizeof(*c) - 15) { /* rounding up would wrap around */
        a->failed = 1;
        return NULL;
    }
    need = (n + 15) & ~(size_t)15;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

        c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            a->failed = 1;
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += need;
    return p;
}

char *sender_arena_strdup(sender_arena *a, const char *s)
{
    size_t n;
    char *p;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    p = sender_arena_alloc(a, n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

int sender_arena_check(const sender_arena *a, mf_err *err)
{
    return a->failed ? mf_err_set(err, "out of memory keeping the batch's strings") : 0;
}

void sender_arena_reset(sender_arena *a)
{
    /* keep the newest chunk, free the rest */
    sender_arena_chunk *c = a->head;

    a->failed = 0;
    if (c == NULL)
        return;
    while (c->next != NULL) {
        sender_arena_chunk *n = c->next;

        c->next = n->next;
        free(n);
    }
    c->used = 0;
}

void sender_arena_free(sender_arena *a)
{
    a->failed = 0;
    while (a->head != NULL) {
        sender_arena_chunk *n = a->head->next;

        free(a->head);
        a->head = n;
    }
}

/* test_sender_arena: the batch arena (alignment, copies, big blocks, reset, failures kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sender_arena.h"

static size_t chunks(const sender_arena *a)
{
    size_t n = 0;

    for (const sender_arena_chunk *c = a->head; c != NULL; c = c->next)
        n++;
    return n;
}

/* Blocks are pointer-aligned, 16 bytes apart at least, and strings are copied whole. */
static void test_alloc_and_strdup(void **state)
{
    sender_arena a = {0};
    char *p = sender_arena_alloc(&a, 3), *q = sender_arena_alloc(&a, 1);
    char *s = sender_arena_strdup(&a, "010****5678 안녕");

    (void)state;
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)p % sizeof(void *), 0);
    assert_int_equal((uintptr_t)q % sizeof(void *), 0);
    assert_ptr_equal(q, p + 16);
    assert_string_equal(s, "010****5678 안녕");
    assert_null(sender_arena_strdup(&a, NULL));
    assert_int_equal(chunks(&a), 1);
    sender_arena_free(&a);
    assert_null(a.head);
}

/* A block larger than a chunk gets a chunk of its own; a reset keeps only the newest chunk,
 * empty, and hands its memory out again. */
static void test_big_blocks_and_reset(void **state)
{
    sender_arena a = {0};
    size_t big = (size_t)1024 * 1024;
    char *small = sender_arena_alloc(&a, 100);
    char *p = sender_arena_alloc(&a, big);
    char *again;

    (void)state;
    assert_non_null(small);
    assert_non_null(p);
    memset(p, 'x', big); /* the whole block is usable */
    assert_int_equal(chunks(&a), 2);
    assert_int_equal(a.head->used, big);
    sender_arena_reset(&a);
    assert_int_equal(chunks(&a), 1);
    assert_int_equal(a.head->used, 0);
    again = sender_arena_alloc(&a, 64);
    assert_ptr_equal(again, p); /* the kept chunk's memory, from its start */
    sender_arena_free(&a);
    sender_arena_reset(&a); /* an empty arena: nothing to do */
    assert_null(a.head);
}

/* A size whose rounding would wrap around is refused, not turned into a small block, and the
 * failure stays visible until the next reset (the batch checks it before anything durable). */
static void test_failure_is_remembered(void **state)
{
    sender_arena a = {0};
    mf_err err;

    (void)state;
    assert_int_equal(sender_arena_check(&a, &err), 0);
    assert_non_null(sender_arena_alloc(&a, 10));
    assert_null(sender_arena_alloc(&a, SIZE_MAX - 3));
    assert_int_equal(a.head->used, 16); /* nothing handed out for it */
    assert_non_null(sender_arena_strdup(&a, "later copies still work"));
    assert_int_equal(sender_arena_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "out of memory"));
    sender_arena_reset(&a);
    assert_int_equal(sender_arena_check(&a, &err), 0);
    sender_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_and_strdup),
        cmocka_unit_test(test_big_blocks_and_reset),
        cmocka_unit_test(test_failure_is_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* phoneset: the set of normalised phone numbers already expanded in a run (dedupe). */
#include "phoneset.h"

#include <stdlib.h>
#include <string.h>

void planner_phoneset_init(planner_phoneset *s)
{
    memset(s, 0, sizeof(*s));
}

static void free_mobile(planner_phoneset *s)
{
    for (size_t p = 0; p < 10; p++)
        for (size_t c = 0; c < PLANNER_PHONESET_CHUNKS; c++) {
            free(s->mobile[p][c]);
            s->mobile[p][c] = NULL;
        }
    s->n_mobile = 0;
}

void planner_phoneset_free(planner_phoneset *s)
{
    free(s->slots);
    free_mobile(s);
    memset(s, 0, sizeof(*s));
}

void planner_phoneset_clear(planner_phoneset *s)
{
    if (s->slots != NULL)
        memset(s->slots, 0, s->cap * sizeof(uint64_t));
    s->n = 0;
    free_mobile(s); /* the next run's numbers touch other chunks */
}

size_t planner_phoneset_count(const planner_phoneset *s)
{
    return s->n + s->n_mobile;
}

/* 01X and 8 more digits: the prefix digit X and the 8-digit suffix. */
static int is_mobile(const char *phone, size_t len, unsigned *prefix, uint32_t *suffix)
{
    uint32_t v = 0;

    if (len != 11 || phone[0] != '0' || phone[1] != '1')
        return 0;
    for (size_t i = 2; i < 11; i++)
        if (phone[i] < '0' || phone[i] > '9')
            return 0;
    for (size_t i = 3; i < 11; i++)
        v = v * 10 + (uint32_t)(phone[i] - '0');
    *prefix = (unsigned)(phone[2] - '0');
    *suffix = v;
    return 1;
}

static int add_mobile(planner_phoneset *s, unsigned prefix, uint32_t suffix, mf_err *err)
{
    uint8_t **chunk = &s->mobile[prefix][suffix >> PLANNER_PHONESET_CHUNK_BITS];
    uint32_t bit = suffix & ((1u << PLANNER_PHONESET_CHUNK_BITS) - 1);

    if (*chunk == NULL) {
        *chunk = calloc((size_t)1 << (PLANNER_PHONESET_CHUNK_BITS - 3), 1);
        if (*chunk == NULL)
            return mf_err_set(err, "out of memory (phone set of %zu numbers)",
                              planner_phoneset_count(s));
    }
    if ((*chunk)[bit >> 3] & (1u << (bit & 7)))
        return 0;
    (*chunk)[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    s->n_mobile++;
    return 1;
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* Insert into slots of size cap (a power of two). 1 new, 0 present. */
static int insert(uint64_t *slots, size_t cap, uint64_t key)
{
    size_t i = (size_t)mix(key) & (cap - 1);

    while (slots[i] != 0) {
        if (slots[i] == key)
            return 0;
        i = (i + 1) & (cap - 1);
    }
    slots[i] = key;
    return 1;
}

static int grow(planner_phoneset *s, mf_err *err)
{
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint64_t *slots = calloc(cap, sizeof(uint64_t));

    if (slots == NULL)
        return mf_err_set(err, "out of memory (phone set of %zu numbers)", s->n);
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i] != 0)
            insert(slots, cap, s->slots[i]);
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* Digits and length packed: leading zeros matter, so the length goes to the top 5 bits. */
static int pack(const char *phone, uint64_t *key, mf_err *err)
{
    uint64_t v = 0;
    size_t len = strlen(phone);

    if (len == 0 || len > 19)
        return mf_err_set(err, "phone set: bad number length %zu", len);
    for (size_t i = 0; i < len; i++) {
        if (phone[i] < '0' || phone[i] > '9')
            return mf_err_set(err, "phone set: not a normalised number");
        v = v * 10 + (uint64_t)(phone[i] - '0');
    }
    if (len <= 17)
        *key = v | ((uint64_t)len << 59);
    else
        *key = mix(v) | ((uint64_t)len << 59); /* not reached for Korean numbers */
    return 0;
}

int planner_phoneset_add(planner_phoneset *s, const char *phone, mf_err *err)
{
    uint64_t key = 0;
    unsigned prefix;
    uint32_t suffix;
    int rc;

    if (is_mobile(phone, strlen(phone), &prefix, &suffix))
        return add_mobile(s, prefix, suffix, err);
    if (pack(phone, &key, err) != 0)
        return -1;
    if ((s->n + 1) * 4 > s->cap * 3 && grow(s, err) != 0)
        return -1;
    rc = insert(s->slots, s->cap, key);
    s->n += (size_t)rc;
    return rc;
}

/* sender_slot: one job of a batch (state, message, outcome) and the batch's index by job id. */
#include "sender_slot.h"

#include <stdlib.h>
#include <string.h>

static size_t hash_id(const mf_uuid *id)
{
    uint64_t h = 1469598103934665603ull;

    for (int i = 0; i < 16; i++)
        h = (h ^ id->b[i]) * 1099511628211ull;
    return (size_t)h;
}

int sender_slot_index_init(sender_slot_index *x, size_t max, mf_err *err)
{
    size_t cap = 16;

    while (cap < max * 2)
        cap *= 2;
    x->idx = calloc(cap, sizeof(*x->idx));
    x->cap = cap;
    if (x->idx == NULL)
        return mf_err_set(err, "out of memory");
    return 0;
}

void sender_slot_index_free(sender_slot_index *x)
{
    free(x->idx);
    x->idx = NULL;
    x->cap = 0;
}

void sender_slot_index_clear(sender_slot_index *x)
{
    if (x->idx != NULL)
        memset(x->idx, 0, x->cap * sizeof(*x->idx));
}

sender_slot *sender_slot_index_find(const sender_slot_index *x, sender_slot *slots,
                                    const mf_uuid *id)
{
    for (size_t h = hash_id(id) & (x->cap - 1);; h = (h + 1) & (x->cap - 1)) {
        size_t v = x->idx[h];

        if (v == 0)
            return NULL;
        if (mf_uuid_equal(&slots[v - 1].job.id, id))
            return &slots[v - 1];
    }
}

size_t sender_slot_index_add(sender_slot_index *x, const sender_slot *slots, size_t i)
{
    const mf_uuid *id = &slots[i].job.id;

    for (size_t h = hash_id(id) & (x->cap - 1);; h = (h + 1) & (x->cap - 1)) {
        size_t v = x->idx[h];

        if (v == 0) {
            x->idx[h] = i + 1;
            return i;
        }
        if (mf_uuid_equal(&slots[v - 1].job.id, id))
            return v - 1;
    }
}

void sender_slot_final(sender_arena *a, sender_slot *sl, mf_result_status st, const char *pmid,
                       const char *gid, const char *code, const char *msg, int64_t sent_ms)
{
    sl->st = st;
    sl->ch = st == MF_RESULT_ACCEPTED ? sl->type : MF_TYPE_NONE;
    sl->pmid = pmid && *pmid ? sender_arena_strdup(a, pmid) : NULL;
    sl->gid = gid && *gid ? sender_arena_strdup(a, gid) : NULL;
    sl->code = code && *code ? sender_arena_strdup(a, code) : NULL;
    sl->msg = msg && *msg ? sender_arena_strdup(a, msg) : NULL;
    sl->sent_ms = sent_ms;
}

int sender_slot_ready(const sender_slot *sl, int64_t now)
{
    return sl->state == SLOT_SEND && !sl->in_flight && !sl->finish && !sl->resolve && !sl->renew &&
           !sl->to_retry && sl->next_try_ms <= now;
}

mf_msg_type sender_slot_type_from_name(const char *name, mf_msg_type dflt)
{
    if (strcmp(name, "sms") == 0)
        return MF_TYPE_SMS;
    if (strcmp(name, "lms") == 0)
        return MF_TYPE_LMS;
    if (strcmp(name, "kakao") == 0)
        return MF_TYPE_KAKAO;
    return dflt;
}

/* sender_slot: one job of a batch (state, message, outcome) and the batch's index by job id. */
#ifndef SENDER_SLOT_H
#define SENDER_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_err.h"
#include "mf_uuid.h"
#include "sender_arena.h"

/* The result code of a job whose run was cancelled before it was sent. */
#define SENDER_CODE_CANCELLED "RUN_CANCELLED"

/* sender_slot.to_retry: 1 / 2 after transient failures (the provider has no such message /
 * unknown), SENDER_HOLD_PAUSED for a job of a paused workflow (the provider has no such
 * message; the hand-off counts no retry round). */
#define SENDER_HOLD_PAUSED 3

typedef enum slot_state {
    SLOT_SKIP = 0, /* undecodable (dead-lettered), deferred, duplicate: no result */
    SLOT_FAILED,   /* failed before sending: result ready, claim to insert as failed */
    SLOT_SEND,     /* prepared, claim to insert */
    SLOT_FINAL,    /* outcome known: result to produce */
    SLOT_PENDING,  /* another sender holds a young claim: re-check later */
    SLOT_DONE      /* result produced */
} slot_state;

typedef struct sender_slot {
    mf_job job;
    int decoded;
    slot_state state;
    mf_msg_type type;
    const char *text;
    const char *subject;
    const char *from;
    const char *pf_id, *tpl_code, *buttons;
    int disable_sms;
    mf_coolsms_kv *kvars;
    size_t nkvars;
    mf_codec_kv *used;
    size_t nused;
    /* outcome */
    mf_result_status st;
    mf_msg_type ch;
    const char *pmid, *gid, *code, *msg;
    int64_t sent_ms;
    /* claims and sending */
    int fresh;
    const char *old_claimed_at;
    int stale;
    int attempts;
    int64_t next_try_ms; /* monotonic: not before (backoff) */
    long long retry_after_ms;
    int in_flight;    /* carried by a group being created, recorded, filled or sent */
    int resolve;      /* read the provider group pgid before resending */
    const char *pgid; /* the provider group that may hold the message (recorded, not known
                       * to lack it); NULL: the provider surely does not hold it */
    int registered;   /* added to its group with 2000: accepted once the group is sent */
    int renew;        /* renew the claim before resending */
    int finish;       /* outcome to store in the claim */
    mf_uuid chunk;    /* chunk id of our claim (fresh or taken over); see has_chunk */
    int has_chunk;
    /* retry topic */
    int retries;       /* retry-topic rounds already done (from a released claim "retry:N") */
    int released;      /* the claim was released: 1 provider has no message, 2 unknown */
    int to_retry;      /* hand to the retry topic: 1 known absent, 2 unknown */
    int resolve_fails; /* failed list-API lookups of this round */
    int held;          /* retry-topic message not due yet: held, offset not stored */
    int reused;        /* outcome re-emitted from a final claim */
    int cancel;        /* its run was cancelled: never sent in this batch (not prepared when
                      * the cancel was seen before its claim) */
} sender_slot;

/* The batch's slots by job id: open addressing, slot index + 1 per cell, 0 = empty. */
typedef struct sender_slot_index {
    size_t *idx;
    size_t cap;
} sender_slot_index;

/* Room for a batch of up to max slots. 0 or -1 with err (out of memory). */
int sender_slot_index_init(sender_slot_index *x, size_t max, mf_err *err);
void sender_slot_index_free(sender_slot_index *x);

/* Empties the index (a new batch). */
void sender_slot_index_clear(sender_slot_index *x);

/* Adds slots[i] by its job id; returns the index of the slot already holding that id (the
 * leader: the same job twice in a batch), else i. */
size_t sender_slot_index_add(sender_slot_index *x, const sender_slot *slots, size_t i);

/* The slot of job id, NULL when the batch has none. */
sender_slot *sender_slot_index_find(const sender_slot_index *x, sender_slot *slots,
                                    const mf_uuid *id);

/* Marks a slot final (strings copied into the batch's arena a). */
void sender_slot_final(sender_arena *a, sender_slot *sl, mf_result_status st, const char *pmid,
                       const char *gid, const char *code, const char *msg, int64_t sent_ms);

/* Whether the slot can go into a new provider group at `now` (monotonic ms): to send, not in
 * flight, nothing to settle first and its backoff over. */
int sender_slot_ready(const sender_slot *sl, int64_t now);

/* The message type named name ("sms", "lms", "kakao"), else dflt. */
mf_msg_type sender_slot_type_from_name(const char *name, mf_msg_type dflt);

#endif

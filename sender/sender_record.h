/* sender_record: the outcomes of the jobs being sent and their claims: final outcomes and
 * retries decided, claims renewed, outcomes stored, claims released to the retry topic. */
#ifndef SENDER_RECORD_H
#define SENDER_RECORD_H

#include "mf_codec.h"
#include "mf_err.h"
#include "sender_sendlist.h"
#include "sender_slot.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Marks the slot's outcome final (acceptance time: now on the wall clock) to be stored with
 * its claim (sender_record_store). */
void sender_record_final(sender_ctx *s, sender_slot *sl, mf_result_status st, const char *pmid,
                         const char *gid, const char *code, const char *msg);

/* The fast in-place resends are used up: hand the job to the retry topic (kind 1: the
 * provider has no such message, 2: unknown), or fail it after MF_SENDER_RETRY_MAX rounds. */
void sender_record_hand_off(sender_ctx *s, sender_slot *sl, int kind);

/* The slot's message is surely not at the provider after a failed try: back off and send
 * again (MF_SENDER_FAST_RETRIES times), then hand it to the retry topic. */
void sender_record_retry(sender_ctx *s, sender_slot *sl);

/* Remembers the last error; when the provider may have the message (maybe_sent) the list API
 * is asked first, else the retry is scheduled. */
void sender_record_trouble(sender_ctx *s, sender_slot *sl, const char *code, const char *msg,
                           long long retry_after_ms, int maybe_sent);

/* Renews the claims of slots about to be resent; those taken over become SLOT_PENDING. */
int sender_record_renew(sender_sendlist *st, mf_err *err);

/* Records the outcomes that became final and marks the slots SLOT_FINAL; returns how many,
 * -1 on error. */
int sender_record_store(sender_sendlist *st, mf_err *err);

/* Releases the claims of the slots handed off (produce set: produced to the retry topic, the
 * slot SLOT_SKIP) or, on a stop (produce 0), of every slot not in flight. 0 or -1 with err. */
int sender_record_release(sender_sendlist *st, int produce, mf_err *err);

#endif

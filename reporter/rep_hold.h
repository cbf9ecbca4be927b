/* rep_hold: sent messages' results held back briefly, so a delivery report joins its row. */
#ifndef REP_HOLD_H
#define REP_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"
#include "mf_kafka.h"
#include "mf_uuid.h"

/*
 * A reporter that writes a message's `accepted` result at once must later UPDATE the row when
 * its delivery report comes (a new heap tuple and an entry in every index of message_logs).
 * Held back until the report is consumed too, the two go into the same batch and the row is
 * inserted final: one write instead of two. A held result waits at most wait_ms, counted both
 * in time since it was consumed and in the message timestamps of its partition (a reporter
 * behind its topic reads ahead to the report instead of waiting for the clock), and at most
 * max results are held (beyond that, results are written at once).
 *
 * The holder writes the messages' keys and values to a spool, an unlinked file in a directory
 * (a ring of max KB), and keeps only their place and job id in memory (72 bytes each):
 * the consumer's messages are released with their batch, and holding a few seconds of a
 * campaign does not grow the process. Held messages are not written, so the offset stored for their
 * partition must stay at the first of them (rep_hold_store_offset); after a crash they are
 * consumed again with what followed, and the reporter's duplicate handling applies.
 *
 * Not thread-safe: one per consumer thread.
 */
typedef struct rep_hold rep_hold;

/* wait_ms > 0, max > 0; dir: where the spool file is made (it is unlinked at once). NULL with
 * err (naming MF_REPORTER_HOLD_DIR when the file cannot be made). */
rep_hold *rep_hold_new(long long wait_ms, size_t max, const char *dir, mf_err *err);
void rep_hold_free(rep_hold *h);

/* Holds m, the first outcome of job `job`, consumed at now_ms (monotonic clock; m went
 * through rep_hold_see first, which keeps its partition's stream time). Returns 1
 * when held, 0 when it must be written now (the holder or its spool is full, or a result of
 * this job is already held: that one is then due too, see rep_hold_match), -1 with err (out of
 * memory, the spool not writable: m is not held). */
int rep_hold_put(rep_hold *h, const mf_kafka_msg *m, const mf_uuid *job, long long now_ms,
                 mf_err *err);

/* A later outcome of `job` was consumed: its held result, if any, becomes due (the next
 * rep_hold_take returns it). Returns 1 when one was held, else 0. */
int rep_hold_match(rep_hold *h, const mf_uuid *job);

/* Message m was consumed at now_ms (call it for every message, held or not, before the puts
 * and matches of its batch): its partition's stream time (the message timestamps) and when it
 * last had a message, by which its held results expire, and how far it was consumed. */
void rep_hold_see(rep_hold *h, const mf_kafka_msg *m, long long now_ms);

/* Moves up to cap due results into out: those matched, then those expired at now_ms (or all
 * when flush is set), oldest first. The messages' key and val point into the holder's buffer
 * (rkm is NULL) and stay valid until the next rep_hold_take. Returns their count, or -1 when
 * the spool could not be read (they are no longer held: the caller must not store offsets
 * past them, i.e. stop and consume them again). */
long rep_hold_take(rep_hold *h, long long now_ms, int flush, mf_kafka_msg *out, size_t cap,
                   mf_err *err);

/* The offset to store for partition with a batch whose messages there end before next: the
 * first result still held there when it is lower, else the end of what was consumed from it
 * (everything before that is written once the batch is: earlier batches took the rest). */
int64_t rep_hold_store_offset(const rep_hold *h, int32_t partition, int64_t next);

/* Forgets every held result (the partitions were revoked: they are consumed again from the
 * stored offsets, which are at or before them). Returns how many were dropped. */
size_t rep_hold_drop(rep_hold *h);

/* Results held now. */
size_t rep_hold_count(const rep_hold *h);

#endif

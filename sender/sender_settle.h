/* sender_settle: the batch's claims: insert the next ones, settle the jobs that met an
 * existing claim (re-emit its outcome, take a stale one over, or wait for its sender). */
#ifndef SENDER_SETTLE_H
#define SENDER_SETTLE_H

#include <stddef.h>

#include "mf_err.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Inserts the claims of the next slots from claim_next on (SLOT_SEND "claimed", SLOT_FAILED
 * "failed") up to `want` SLOT_SEND slots, in one statement, and moves claim_next past them.
 * Inserted slots become fresh (failed ones SLOT_FINAL); the others met an existing claim and
 * are left for sender_settle_existing. 1 when a statement ran, 0 when nothing was left, -1 on
 * error. */
int sender_settle_claim_next(sender_ctx *s, size_t want, mf_err *err);

/* Reads the existing claims (first: of the slots whose INSERT met one; else: of the
 * SLOT_PENDING slots): a final one is re-emitted (SLOT_FINAL), another sender's young one
 * leaves the slot SLOT_PENDING, a stale one is taken over (the slot is fresh and SLOT_SEND
 * again, resolved through its recorded group before anything is resent). 0 or -1 with err. */
int sender_settle_existing(sender_ctx *s, int first, mf_err *err);

#endif

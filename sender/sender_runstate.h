/* sender_runstate: cancelled runs and paused workflows (sender_halt's answer) applied to the
 * batch and to the held retry jobs. */
#ifndef SENDER_RUNSTATE_H
#define SENDER_RUNSTATE_H

#include <stddef.h>

#include "mf_err.h"
#include "sender_slot.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Before anything is prepared or claimed: the state of every run of the batch, at most one
 * query (cached for MF_SENDER_HALT_CHECK_MS), applied to the slots. 0 or -1 with err. */
int sender_runstate_check(sender_ctx *s, mf_err *err);

/* Applies the halt states last read (sender_halt) to the slots from index `from` on that are
 * still SLOT_SEND and not claimed yet (from >= claim_next): a cancelled run's slot becomes
 * SLOT_FAILED with status cancelled (its claim is inserted as failed, code RUN_CANCELLED); a
 * paused workflow's slot is deferred (jobs topic: produced to the retry topic, due at once;
 * retry topic: kept in the retry queue, parked) and becomes SLOT_SKIP. 0 or -1 with err
 * (Kafka). */
int sender_runstate_apply(sender_ctx *s, size_t from, mf_err *err);

/* Applies the last answer to the held retry jobs (sender_retryq_mark): parked while their
 * workflow is paused, due at once when their run was cancelled. */
void sender_runstate_mark_held(sender_ctx *s);

/* Marks a slot cancelled (result status cancelled, code RUN_CANCELLED, the job's variables as
 * the variables used, the template's type), without changing its state. */
void sender_runstate_cancel_slot(sender_ctx *s, sender_slot *sl);

/* While no batch runs: held retry jobs learn that their workflow was resumed (or their run
 * cancelled) within MF_SENDER_HALT_CHECK_MS. */
void sender_runstate_tick(sender_ctx *s);

#endif

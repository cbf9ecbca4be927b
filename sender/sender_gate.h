/* sender_gate: opt-outs and the advertising frequency cap, one PostgreSQL call per batch. */
#ifndef SENDER_GATE_H
#define SENDER_GATE_H

#include "mf_err.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Fleet-side failure codes (message_logs.error_code) of the gate. */
#define SENDER_CODE_OPTED_OUT "OPTED_OUT"
#define SENDER_CODE_FREQUENCY_CAPPED "FREQUENCY_CAPPED"

/*
 * Asks mf_send_gate() (schemas/pg/0014_optout_cap.sql) about every prepared job of the batch
 * that is not claimed yet (SLOT_SEND from claim_next on), in one statement with array
 * parameters (no session state: works through PgBouncer in transaction pooling): a job to a
 * number on the opt-out list (scope 'all'; or scope 'advertising' and a promotion template)
 * and an advertising job over its frequency cap become SLOT_FAILED with OPTED_OUT,
 * FREQUENCY_CAPPED (or BAD_CONFIG for an invalid cap): their claims are inserted as failed and
 * their results produced, the provider never sees them. The advertising jobs let through are
 * recorded in mf_ad_sends by the same call (keyed by job id: a redelivered job counts once).
 * No statement when the batch has nothing to send. 0 or -1 with err (PostgreSQL).
 */
int sender_gate_apply(sender_ctx *s, mf_err *err);

#endif

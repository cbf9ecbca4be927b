/* sender_batch: one batch: consume, decode, claim, send, produce results, store offsets. */
#ifndef SENDER_BATCH_H
#define SENDER_BATCH_H

#include <stddef.h>

#include "mf_err.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Allocates the batch's arrays for up to max messages. 0 or -1 with err. */
int sender_batch_init(sender_ctx *s, size_t max, mf_err *err);

/* Consumes and runs one batch (none when nothing came within the first wait). A PostgreSQL or
 * provider failure is retried in place; a stop hands the batch back (offsets not stored).
 * 0, or -1 on a fatal error (a result Kafka did not take, a fatal producer or consumer). */
int sender_batch_one(sender_ctx *s, mf_err *err);

/* Releases the batch's messages and forgets its state (the arrays stay). */
void sender_batch_reset(sender_ctx *s);

/* Frees the arrays (after sender_batch_reset when a batch is in progress). */
void sender_batch_free(sender_ctx *s);

#endif

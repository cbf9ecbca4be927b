/* sender_prepare: turn one decoded job into a ready message (render, advertising, type). */
#ifndef SENDER_PREPARE_H
#define SENDER_PREPARE_H

#include <stddef.h>

#include "mf_err.h"
#include "sender_slot.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Renders and decides one decoded job (slot i of the batch): SLOT_SEND when ready; on a
 * failure SLOT_FAILED with code/msg, on a deferral SLOT_SKIP (retry topic produced). 0 or -1
 * with err (out of memory, Kafka). */
int sender_prepare_slot(sender_ctx *s, sender_slot *sl, size_t i, mf_err *err);

#endif

/* sender_budget: the send rate budget: the process's rate tokens, the fleet's account tokens
 * and daily quota (sender_rate), the workflows' rates. */
#ifndef SENDER_BUDGET_H
#define SENDER_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* The per-workflow rates of the batch's SLOT_SEND slots (one statement,
 * sender_rate_reserve): slots beyond the tokens at hand go to the retry topic, reserved ones
 * due on the bucket's schedule and marked (job "rs"), the others after the horizon. */
int sender_budget_workflows(sender_ctx *s, mf_err *err);

/* Tokens for a new group of up to `want` messages: the per-process budget
 * (MF_SENDER_RATE_LIMIT), then the fleet's (account rate and daily quota, sender_rate.h) for
 * as many as the batch still has ready (todo[0..ntodo): the slots being sent; now: monotonic
 * ms). At the quota the runs of the ready slots are held. *granted <= want. 0 or -1 with err. */
int sender_budget_take(sender_ctx *s, const size_t *todo, size_t ntodo, size_t want, int64_t now,
                       size_t *granted, mf_err *err);

/* Gives back n tokens taken by sender_budget_take and not used. */
void sender_budget_give_back(sender_ctx *s, size_t n);

#endif

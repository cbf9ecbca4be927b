/* sender_send: hand the batch's claimed jobs to CoolSMS in provider message groups. */
#ifndef SENDER_SEND_H
#define SENDER_SEND_H

#include "mf_err.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

/* Sends every SLOT_SEND slot with fresh claims; ends with each one SLOT_FINAL, SLOT_SKIP
 * (handed to the retry topic, claim released) or SLOT_PENDING when another sender took its
 * claim over. -1 on a PostgreSQL error; 1 when the shutdown deadline passed (slots not in
 * flight were released, the batch is abandoned). */
int sender_send_all(sender_ctx *s, mf_err *err);

#endif

/* sender_sendlist: the jobs of a batch being sent and the scratch arrays of their statements. */
#ifndef SENDER_SENDLIST_H
#define SENDER_SENDLIST_H

#include <stddef.h>
#include <stdint.h>

#include "mf_coolsms.h"
#include "mf_err.h"
#include "mf_uuid.h"
#include "sender_claims.h"

typedef struct sender_ctx sender_ctx; /* sender_ctx.h */

struct grp; /* a provider message group (sender_send.c) */

typedef struct sender_sendlist {
    sender_ctx *s;
    size_t *todo; /* slot indices being sent */
    size_t ntodo;
    mf_coolsms_msg *msgs;
    char (*ids)[MF_UUID_STR_SIZE];
    char (*runs)[MF_UUID_STR_SIZE];
    sender_claim_out *outs;
    mf_uuid *renew_ids;
    const char **rel_as, **rel_code, **rel_msg;
    char (*rel_buf)[32];
    mf_coolsms_kakao *kk;
    uint64_t *set; /* numbers of the request being built */
    size_t set_cap;
    struct grp *groups;        /* groups not yet done */
    sender_claim_group *grows; /* scratch: the rows of sender_claims_groups */
    const char **rel_gid;
} sender_sendlist;

/* Allocates the arrays for the fresh SLOT_SEND slots of s's batch (todo filled with them).
 * 0 or -1 with err; on error what was allocated is freed by sender_sendlist_free. */
int sender_sendlist_init(sender_sendlist *st, sender_ctx *s, mf_err *err);

/* Frees the arrays (not the groups). */
void sender_sendlist_free(sender_sendlist *st);

#endif

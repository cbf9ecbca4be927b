/* sim_group_int: the message group table that sim_group.c and sim_group_read.c share. */
#ifndef SIM_GROUP_INT_H
#define SIM_GROUP_INT_H

/*
 * sim_group.c holds the table and the calls that change a group (create, add, send, delete,
 * send-many's group); sim_group_read.c the group object as JSON and the calls that read
 * (get, the group's messages, the group list). The rest of the simulator uses sim.h only.
 */
#include "sim.h"

#define GLOG_MAX 16

typedef enum gstate { G_PENDING, G_SENDING, G_FAILED, G_DELETED } gstate;

typedef struct glog {
    int64_t ms;
    char msg[112];
} glog;

typedef struct sim_group {
    char id[SIM_ID_LEN + 1];
    uint32_t lg; /* the ledger's group index */
    gstate st;
    int allow_dup, strict;
    int64_t created_ms, updated_ms;
    int64_t sent_ms;  /* 0 until sent */
    int64_t start_ms; /* lifecycle start (scheduledDate for a scheduled send-many) */
    int64_t done_ms;  /* when the last sent message reaches its final status */
    char *cf_json;    /* customFields as compact JSON, NULL = {} */
    char *app_id, *sdk_version, *os_platform;
    uint32_t *idx; /* ledger indexes of its messages, ascending */
    size_t n, cap;
    size_t extra_failed; /* send-many: refused messages that were not stored */
    uint64_t *tos;       /* allowDuplicates false: hashes of registered numbers */
    size_t tos_cap, tos_used;
    glog log[GLOG_MAX];
    size_t nlog;
} sim_group;

struct sim_groups {
    pthread_mutex_t lock;
    sim_group **v; /* creation order */
    size_t n, cap;
    uint32_t *slots; /* open addressing on the id: index + 1 */
    size_t scap;
};

/* ---- sim_group.c ---- */

/* The group with that id, or NULL (groups lock held). */
sim_group *sim_group_find(const sim_groups *gs, const char *id);
/* Its index in creation order, or -1 (groups lock held). */
long sim_group_index(const sim_groups *gs, const char *id);
/* The group (groups lock held on success), or NULL after filling r (lock released): 400 for a
 * malformed id, missing_status for an unknown one. */
sim_group *sim_group_lock(sim_ctx *ctx, const char *gid, int missing_status, sim_reply *r);
/* Position of ledger index v in g->idx, or -1. */
long sim_group_idx_pos(const sim_group *g, uint32_t v);

/* ---- sim_group_read.c ---- */

/* The group's status word at now (PENDING, SCHEDULED, SENDING, COMPLETE, FAILED, DELETED). */
const char *sim_group_status(const sim_group *g, int64_t now);
/* Append the whole group object (every field of the SDK's group schemas). Takes the ledger
 * read lock. */
int sim_group_json(sim_ctx *ctx, const sim_group *g, int64_t now, mf_buf *b, mf_err *err);
/* r = 200 with the group object, or 500. */
void sim_group_reply(sim_ctx *ctx, const sim_group *g, int64_t now, sim_reply *r);

#endif

/* sender_int: internal state shared by the sender's batch, prepare and send modules. */
#ifndef SENDER_INT_H
#define SENDER_INT_H

#include <msgpack.h>
#include <stdint.h>

#include "mf_clock.h"
#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_pg.h"
#include "sender.h"
#include "sender_catalog.h"
#include "sender_claims.h"
#include "sender_halt.h"
#include "sender_obs.h"
#include "sender_rate.h"
#include "sender_retryq.h"

/* Bump allocator for one batch's strings (reset after the batch). */
typedef struct sender_arena_chunk {
    struct sender_arena_chunk *next;
    size_t used, cap;
    char data[];
} sender_arena_chunk;

typedef struct sender_arena {
    sender_arena_chunk *head;
} sender_arena;

void *sender_arena_alloc(sender_arena *a, size_t n);
char *sender_arena_strdup(sender_arena *a, const char *s);
void sender_arena_reset(sender_arena *a);
void sender_arena_free(sender_arena *a);

typedef enum slot_state {
    SLOT_SKIP = 0,  /* undecodable (dead-lettered), deferred, duplicate: no result */
    SLOT_FAILED,    /* failed before sending: result ready, claim to insert as failed */
    SLOT_SEND,      /* prepared, claim to insert */
    SLOT_FINAL,     /* outcome known: result to produce */
    SLOT_PENDING,   /* another sender holds a young claim: re-check later */
    SLOT_DONE       /* result produced */
} slot_state;

typedef struct sender_slot {
    mf_job job;
    int decoded;
    slot_state state;
    mf_msg_type type;
    const char *text;
    const char *subject;
    const char *from;
    const char *pf_id, *tpl_code, *buttons;
    int disable_sms;
    mf_coolsms_kv *kvars;
    size_t nkvars;
    mf_codec_kv *used;
    size_t nused;
    /* outcome */
    mf_result_status st;
    mf_msg_type ch;
    const char *pmid, *gid, *code, *msg;
    int64_t sent_ms;
    /* claims and sending */
    int fresh;
    const char *old_claimed_at;
    int stale;
    int attempts;
    int64_t next_try_ms;
    long long retry_after_ms;
    int in_flight;   /* carried by a group being created, recorded, filled or sent */
    int resolve;     /* read the provider group pgid before resending */
    const char *pgid; /* the provider group that may hold the message (recorded, not known
                       * to lack it); NULL: the provider surely does not hold it */
    int registered;  /* added to its group with 2000: accepted once the group is sent */
    int renew;       /* renew the claim before resending */
    int finish;      /* outcome to store in the claim */
    mf_uuid chunk;   /* chunk id of our claim (fresh or taken over); see has_chunk */
    int has_chunk;
    /* retry topic */
    int retries;     /* retry-topic rounds already done (from a released claim "retry:N") */
    int released;    /* the claim was released: 1 provider has no message, 2 unknown */
    int to_retry;    /* hand to the retry topic: 1 known absent, 2 unknown */
    int resolve_fails; /* failed list-API lookups of this round */
    int held;        /* retry-topic message not due yet: held, offset not stored */
    int reused;      /* outcome re-emitted from a final claim */
    int cancel;      /* its run was cancelled: never sent in this batch (not prepared when
                      * the cancel was seen before its claim) */
} sender_slot;

struct sender_ctx {
    const sender_config *cfg;
    mf_uuid chunk_cur; /* chunk id of the claim INSERT / take-over in progress (callbacks) */
    mf_log *log;
    PGconn *pg;
    mf_kafka_producer *prod;
    mf_kafka_consumer *cons;
    mf_coolsms *sms;
    mf_codec *codec;
    struct mf_euckr *euckr;
    sender_catalog *cat;
    sender_claims claims;
    char t_jobs[MF_KAFKA_TOPIC_MAX + 1];
    char t_jobs_tx[MF_KAFKA_TOPIC_MAX + 1]; /* the priority lane, served first */
    char t_results[MF_KAFKA_TOPIC_MAX + 1];
    char t_results_tx[MF_KAFKA_TOPIC_MAX + 1]; /* results of the lane's jobs */
    char t_retry[MF_KAFKA_TOPIC_MAX + 1];
    char t_dlq[MF_KAFKA_TOPIC_MAX + 1];
    msgpack_sbuffer sbuf;
    sender_arena arena;
    mf_buf scratch;
    mf_buf text;
    /* the batch */
    mf_kafka_msg *msgs;
    sender_slot *slots;
    size_t n;
    size_t *idx;              /* job id hash table: slot index + 1, 0 = empty */
    size_t idx_cap;
    size_t claim_next;        /* slots before this one had their claim INSERT committed */
    unsigned char *held_msg;  /* per message of the batch: already held in the retry queue by
                               * an earlier try of this batch */
    /* delivery reports of the batch */
    long acks_pending;
    int produce_failed;
    char produce_error[256];
    /* rate budget */
    double tokens;
    int64_t tokens_ms;
    uint32_t rnd;
    /* counters */
    unsigned long long n_accepted, n_failed, n_reemitted, n_deferred, n_dlq, n_retried,
        n_cancelled, n_held;
    /* cancelled runs and paused workflows (sender_halt.h) */
    sender_halt halt;
    /* fleet-wide send rate and provider quota (sender_rate.h) */
    sender_rate rate;
    unsigned long long n_rate_deferred, n_quota_held;
    int64_t rate_hold_ms;     /* when runs were last held at the quota */
    /* observability, retry topic, shutdown */
    sender_obs obs;
    sender_tally tally;
    sender_retryq rq;
    int64_t stop_deadline_ms; /* 0 until a stop was seen */
    int64_t last_lag_ms, last_ping_ms;
    int pg_ok;
};

/* 1 once a stop was requested and MF_SENDER_SHUTDOWN_S has passed since. */
int sender_past_deadline(sender_ctx *s);

uint32_t sender_rand(sender_ctx *s);
sender_slot *sender_slot_by_id(sender_ctx *s, const mf_uuid *id);

/* sender_prepare.c: render and decide one decoded job; on failure the slot becomes
 * SLOT_FAILED with code/msg, on deferral SLOT_SKIP (retry topic produced). */
int sender_prepare_slot(sender_ctx *s, sender_slot *sl, size_t i, mf_err *err);

/* sender_send.c: send every SLOT_SEND slot with fresh claims; ends with each one SLOT_FINAL,
 * SLOT_SKIP (handed to the retry topic, claim released) or SLOT_PENDING when another sender
 * took its claim over. -1 on a PostgreSQL error; 1 when the shutdown deadline passed (slots
 * not in flight were released, the batch is abandoned). */
int sender_send_all(sender_ctx *s, mf_err *err);

/* Inserts the claims of the next slots from claim_next on (SLOT_SEND "claimed", SLOT_FAILED
 * "failed") up to `want` SLOT_SEND slots, in one statement, and moves claim_next past them.
 * Inserted slots become fresh (failed ones SLOT_FINAL); the others met an existing claim and
 * are left for fetch_pending. 1 when a statement ran, 0 when nothing was left, -1 on error. */
int sender_claim_next(sender_ctx *s, size_t want, mf_err *err);

/* Produces the result of every SLOT_FINAL slot (they become SLOT_DONE); acknowledgements are
 * awaited at the end of the batch, before its offsets are stored. */
int sender_produce_finals(sender_ctx *s, mf_err *err);

/* Marks a slot final (strings copied into the batch arena). */
void sender_slot_final(sender_ctx *s, sender_slot *sl, mf_result_status st, const char *pmid,
                       const char *gid, const char *code, const char *msg, int64_t sent_ms);

/* Produces the slot's job to the retry topic with not-before nb_ms (key = job id). */
int sender_produce_retry(sender_ctx *s, sender_slot *sl, int64_t nb_ms, mf_err *err);

/* sender_batch.c: the per-workflow rates of the batch's SLOT_SEND slots (one statement,
 * sender_rate_reserve): slots beyond the tokens at hand go to the retry topic, reserved ones
 * due on the bucket's schedule and marked (job "rs"), the others after the horizon. */
int sender_rate_apply(sender_ctx *s, mf_err *err);

/* The result code of a job whose run was cancelled before it was sent. */
#define SENDER_CODE_CANCELLED "RUN_CANCELLED"

/* sender_batch.c: applies the halt states last read (sender_halt) to the slots from index
 * `from` on that are still SLOT_SEND and not claimed yet (from >= claim_next): a cancelled
 * run's slot becomes SLOT_FAILED with status cancelled (its claim is inserted as failed, code
 * RUN_CANCELLED); a paused workflow's slot is deferred (jobs topic: produced to the retry
 * topic, due at once; retry topic: kept in the retry queue, parked) and becomes SLOT_SKIP.
 * 0 or -1 with err (Kafka). */
int sender_halt_apply(sender_ctx *s, size_t from, mf_err *err);

/* sender_batch.c: applies the last answer to the held retry jobs (sender_retryq_mark):
 * parked while their workflow is paused, due at once when their run was cancelled. */
void sender_halt_mark_held(sender_ctx *s);

/* Marks a slot cancelled (result status cancelled, code RUN_CANCELLED, the job's variables as
 * the variables used, the template's type), without changing its state. */
void sender_slot_cancelled(sender_ctx *s, sender_slot *sl);

/* Produces to a full topic name, counting the delivery report. */
int sender_produce(sender_ctx *s, const char *topic, const void *key, size_t klen,
                   const void *val, size_t vlen, mf_err *err);

#endif

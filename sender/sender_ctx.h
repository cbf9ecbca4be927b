/* sender_ctx: the sender's state shared by its modules, and the helpers they all use. */
#ifndef SENDER_CTX_H
#define SENDER_CTX_H

#include <msgpack.h>
#include <stdint.h>

#include "mf_codec.h"
#include "mf_coolsms.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_pg.h"
#include "sender_arena.h"
#include "sender_catalog.h"
#include "sender_claims.h"
#include "sender_config.h"
#include "sender_halt.h"
#include "sender_obs.h"
#include "sender_rate.h"
#include "sender_retryq.h"
#include "sender_slot.h"

typedef struct sender_ctx sender_ctx;

/* Longest pause between two tries of a dependency (PostgreSQL, the batch). */
#define SENDER_BACKOFF_MAX_MS 30000

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
    sender_slot_index idx;   /* the slots by job id */
    size_t claim_next;       /* slots before this one had their claim INSERT committed */
    unsigned char *held_msg; /* per message of the batch: already held in the retry queue by
                               * an earlier try of this batch */
    /* delivery reports of the batch */
    long acks_pending;
    int produce_failed;
    char produce_error[256];
    /* rate budget */
    double tokens;
    int64_t tokens_ms; /* monotonic */
    uint32_t rnd;
    /* counters */
    unsigned long long n_accepted, n_failed, n_reemitted, n_deferred, n_dlq, n_retried, n_cancelled,
        n_held;
    /* cancelled runs and paused workflows (sender_halt.h) */
    sender_halt halt;
    /* fleet-wide send rate and provider quota (sender_rate.h) */
    sender_rate rate;
    unsigned long long n_rate_deferred, n_quota_held;
    int64_t rate_hold_ms; /* monotonic: when runs were last held at the quota, 0 never */
    /* observability, retry topic, shutdown */
    sender_obs obs;
    sender_tally tally;
    sender_retryq rq;
    int64_t stop_deadline_ms;          /* monotonic; 0 until a stop was seen */
    int64_t last_lag_ms, last_ping_ms; /* monotonic, 0: never */
    int pg_ok;
};

/* 1 once a stop was requested and MF_SENDER_SHUTDOWN_S has passed since (monotonic clock):
 * the batch in progress is then handed back. */
int sender_ctx_past_deadline(sender_ctx *s);

/* xorshift32 for retry jitter. */
uint32_t sender_ctx_rand(sender_ctx *s);

/* The slot of job id in the current batch, NULL when none. */
sender_slot *sender_ctx_slot_by_id(sender_ctx *s, const mf_uuid *id);

/* Records PostgreSQL's state for /healthz (detail: the error), once per change to not ok. */
void sender_ctx_pg_state(sender_ctx *s, int ok, const char *detail);

void sender_ctx_sleep_ms(long ms);

#endif

/* emit: produce jobs and INVALID_PHONE results, wait for the acks, record the run outcome. */
#ifndef PLANNER_EMIT_H
#define PLANNER_EMIT_H

#include <stddef.h>

#include "mf_codec.h"
#include "mf_log.h"
#include "mf_phone.h"
#include "plan.h"
#include "planner.h"
#include "run_lease.h"

/* The job attempt of an expansion (first runs and replays alike). */
#define PLANNER_JOB_ATTEMPT 1
/* Longest raw phone text carried in an INVALID_PHONE result (message_logs.recipient_phone). */
#define PLANNER_RAW_PHONE_MAX 20

typedef enum planner_outcome {
    PLANNER_OUT_OK = 0,
    PLANNER_OUT_RETRY, /* transient failure: give the run back for retry_ms */
    PLANNER_OUT_FAIL,  /* configuration error: the run fails */
    PLANNER_OUT_LOST,  /* the lease is gone (taken over, run cancelled) */
    PLANNER_OUT_STOP,  /* stop requested: give the run back at once */
    PLANNER_OUT_FATAL  /* the producer is unusable: give back, then the process exits */
} planner_outcome;

/* The caller's lease renewal (renews when a third of the lease has passed, or when force). */
typedef planner_outcome (*planner_renew_fn)(void *self, int force);
/* The caller's outcome log line (its own key/values) at level with msg. */
typedef void (*planner_outcome_log_fn)(void *self, mf_log_level level, const char *msg);

/* What the emitting functions need of the caller's expansion; all borrowed, none owned. */
typedef struct planner_emitter {
    planner_ctx *ctx;
    const planner_run *run;
    const planner_plan *plan;
    planner_renew_fn renew;
    planner_outcome_log_fn log;
    void *self;       /* passed to renew and log */
    const char *noun; /* "run" or "replay", in the outcome messages */
    char *reason;     /* the caller's reason buffer (MF_ERR_MAX) */
    int outage;       /* the RETRY is a dependency being unavailable (MySQL, PostgreSQL
                                * or Kafka unreachable), not the run's doing: the attempt does
                                * not count towards MF_PLANNER_MAX_ATTEMPTS */
} planner_emitter;

/* Set em->reason to msg; returns o. */
planner_outcome planner_emit_why(planner_emitter *em, planner_outcome o, const char *msg);

/* A dependency is unavailable (em->outage = 1, em->reason = msg): the run is given back
 * without counting the attempt. Returns PLANNER_OUT_RETRY. */
planner_outcome planner_emit_outage(planner_emitter *em, const char *msg);

/* s when it is valid UTF-8 text usable in a message, else NULL. */
const char *planner_emit_clean(const char *s);

/* Encode the job for phone (name may be NULL; kv borrowed) into ctx->sbuf; night_consent 1
 * when the recipient consented to advertising at night (job key "nc"). */
planner_outcome planner_emit_encode_job(planner_emitter *em, const char *phone, const char *name,
                                        const mf_codec_kv *kv, size_t nkv, int night_consent);

/* Encode a failed INVALID_PHONE result for raw (its id from rkey) into ctx->sbuf; the
 * result id as text into id (the message key). */
planner_outcome planner_emit_encode_invalid(planner_emitter *em, const char *rkey, const char *raw,
                                            const char *name, mf_phone_reason why,
                                            char id[MF_UUID_STR_SIZE]);

/* Queue ctx->sbuf on topic; waits (serving reports, renewing the lease) while the local
 * queue is full: back-pressure never drops a message. */
planner_outcome planner_emit_produce(planner_emitter *em, const char *topic, const char *key,
                                     size_t key_len);

/* Wait until every message is acknowledged (flush timeout), then check the reports. */
planner_outcome planner_emit_await(planner_emitter *em);

/* Record outcome o on the run: finished with counts (then the completion check), failed,
 * or given back; logs through em->log. A RETRY that counts (not em->outage) on the run's
 * MF_PLANNER_MAX_ATTEMPTS-th attempt fails the run instead: `gave up after 5 attempts: <the
 * reason>`. */
void planner_emit_record(planner_emitter *em, planner_outcome o, const planner_counts *counts);

#endif

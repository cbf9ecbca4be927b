/* sender_claims: the durable per-job claims in mf_job_claims, one round trip per batch step. */
#ifndef SENDER_CLAIMS_H
#define SENDER_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_uuid.h"
#include "mf_pgarr.h"
#include "mf_pgbin.h"

/* One claim to insert. state "claimed" (about to be sent) or "failed" (failed before sending:
 * render, length, template, config; code/message say why). Strings may be NULL. */
typedef struct sender_claim_in {
    mf_uuid job;
    mf_uuid run;
    int attempt;
    const char *state;
    const char *msg_type;
    const char *content;
    const char *code;
    const char *message;
} sender_claim_in;

/* An existing claim as read back (strings valid during the callback only, "" when NULL). */
typedef struct sender_claim_row {
    mf_uuid job;
    const char *state;      /* claimed, accepted, failed, in_doubt */
    const char *claimed_at; /* text form, for the conditional take-over */
    const char *claimed_by;
    int stale; /* claimed_at older than the in-doubt age (server clock) */
    const char *pmid, *gid, *code, *message, *msg_type, *channel;
    const char *content;  /* NULL when not stored */
    int64_t sent_ms;      /* 0 when unknown */
    const char *send_gid; /* open claim: the provider group that may hold the message, ""
                              * when none was recorded (then nothing was ever added) */
} sender_claim_row;

/* One job put in a provider message group (sender_claims_groups). */
typedef struct sender_claim_group {
    mf_uuid job;
    mf_uuid chunk;
    const char *gid;
} sender_claim_group;

/* One outcome to store: state "accepted" or "failed". chunk: the claim's chunk id (used by
 * sender_claims_record only). */
typedef struct sender_claim_out {
    mf_uuid job;
    mf_uuid chunk;
    const char *state;
    const char *pmid, *gid, *code, *message, *channel;
    int64_t sent_ms;
} sender_claim_out;

typedef void (*sender_claim_id_fn)(void *arg, const mf_uuid *job);
typedef void (*sender_claim_row_fn)(void *arg, const sender_claim_row *row);

/* Rows (chunk, group) written by one sender_claims_groups statement at most. */
#define SENDER_CLAIMS_GROUP_ROWS 16

/* Scratch arrays reused across calls (not thread-safe). */
typedef struct sender_claims {
    mf_pgarr a[8];       /* text arrays of the rare paths and the fallback INSERT */
    mf_pgbin_arr out[8]; /* outcome arrays (binary): job, state, pmid, gid, code, message,
                          * channel, sent_ms */
    mf_buf copy;         /* COPY rows of the fast path (binary format) */
    int copy_cooldown;   /* inserts left before the COPY is tried again after a conflict */
    mf_uuid *seen;       /* chunks already recorded by the current sender_claims_record call */
    size_t seen_cap;
    mf_pgbin_arr groups[SENDER_CLAIMS_GROUP_ROWS]; /* job ids of each (chunk, group) row of
                                                    * one sender_claims_groups statement */
} sender_claims;

void sender_claims_init(sender_claims *c);
void sender_claims_free(sender_claims *c);

/* Claims rows under chunk id `chunk` (a new UUIDv7 per call: the key of the outcomes recorded
 * later, sender_claims_record); calls fn for every job id actually inserted (job ids must be
 * unique in rows).
 * Fast path: one COPY, which inserts all rows or none. When a claim already exists (a
 * redelivery: SQLSTATE 23505) or a row is already failed, the rows go through
 * INSERT ... SELECT FROM unnest(...) ON CONFLICT (job_id) DO NOTHING RETURNING job_id, which
 * is then used for the next 16 calls (more conflicts follow a redelivery). */
int sender_claims_insert(sender_claims *c, PGconn *pg, const sender_claim_in *rows, size_t n,
                         const char *claimed_by, const mf_uuid *chunk, sender_claim_id_fn fn,
                         void *arg, mf_err *err);

/* Reads the claims of the given jobs with their outcomes (view mf_job_claim_states: an open
 * claim whose job is in an outcome row of its chunk is final), one query; calls fn per
 * existing row. `stale` is computed against indoubt_after_ms on the server's clock. */
int sender_claims_fetch(sender_claims *c, PGconn *pg, const mf_uuid *jobs, size_t n,
                        long long indoubt_after_ms, sender_claim_row_fn fn, void *arg, mf_err *err);

/* Conditional take-over of abandoned claims: only rows still 'claimed' with exactly the
 * claimed_at seen (old_claimed_at[i]) and no recorded outcome move to claimed_by, with a new
 * claimed_at and chunk id `chunk`. gids[i] (NULL or "": keep the row's) is the group that may
 * hold the job, read under the old chunk; it moves into the claim row so that it survives the
 * chunk change. Calls fn for every job taken over. */
int sender_claims_take_over(sender_claims *c, PGconn *pg, const mf_uuid *jobs,
                            const char *const *old_claimed_at, const char *const *gids, size_t n,
                            const char *claimed_by, const mf_uuid *chunk, sender_claim_id_fn fn,
                            void *arg, mf_err *err);

/* Records the provider group of each job (rows[i].gid) under its claim chunk: one
 * mf_claim_groups row per (chunk, group), one statement. Called after the group was created
 * and before any message is added to it. */
int sender_claims_groups(sender_claims *c, PGconn *pg, const sender_claim_group *rows, size_t n,
                         mf_err *err);

/* Renews this sender's open claims (claimed_at = now()) before a resend, so no other sender
 * takes them as abandoned. Calls fn for every claim still ours. */
int sender_claims_renew(sender_claims *c, PGconn *pg, const mf_uuid *jobs, size_t n,
                        const char *claimed_by, sender_claim_id_fn fn, void *arg, mf_err *err);

/* Stores outcomes in the claim rows themselves (open claims only; rows already final are left
 * alone), one statement. For the rare paths: a claim settled by the list API. */
int sender_claims_finish(sender_claims *c, PGconn *pg, const sender_claim_out *outs, size_t n,
                         mf_err *err);

/* Records outcomes of this sender's claims: one mf_claim_outcomes row per distinct chunk in
 * outs (arrays in the order of outs), one INSERT each. The common path: a few rows per thousand
 * messages instead of an UPDATE of every claim. */
int sender_claims_record(sender_claims *c, PGconn *pg, const sender_claim_out *outs, size_t n,
                         mf_err *err);

/*
 * Releases this sender's open claims for a later attempt through the retry topic (the claim
 * keeps state 'claimed'; the CHECK constraint of the seed-era table allows no new state).
 * released_as[i] becomes claimed_by: "retry:N" when the provider said it has no such message
 * (whoever consumes the job next takes the claim over at once), "retry?:N" when that could
 * not be asked (the next owner reads the group gids[i] first, kept in the claim row; NULL or
 * "": keep the row's). N counts the retry-topic rounds.
 * codes/messages keep the last provider error. Only rows still claimed by `claimed_by` move;
 * fn is called for each. */
int sender_claims_release(sender_claims *c, PGconn *pg, const mf_uuid *jobs,
                          const char *const *released_as, const char *const *codes,
                          const char *const *messages, const char *const *gids, size_t n,
                          const char *claimed_by, sender_claim_id_fn fn, void *arg, mf_err *err);

/* 1 when claimed_by is a released claim ("retry:N" / "retry?:N"), with N and whether the
 * provider's answer is unknown; 0 otherwise. */
int sender_claims_parse_released(const char *claimed_by, int *retries, int *unknown);

#endif

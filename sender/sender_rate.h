/* sender_rate: the fleet-wide send rate and the provider's daily quota, shared in PostgreSQL. */
#ifndef SENDER_RATE_H
#define SENDER_RATE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_coolsms.h"
#include "mf_err.h"
#include "mf_log.h"
#include "mf_pgarr.h"
#include "mf_uuid.h"

/*
 * Every sender of a provider account draws from the same token buckets in PostgreSQL
 * (schemas/pg/0015_send_rate.sql), so the account's rate holds whatever the number of
 * senders and however Kafka spreads the partitions:
 * - the account: MF_SENDER_ACCOUNT_RATE messages per second, bucket of
 *   MF_SENDER_ACCOUNT_BURST_MS worth of tokens. Tokens are taken per provider request, one
 *   statement (mf_send_take) for as many as the batch still needs, kept in a local pool; a
 *   request that gets fewer waits in the send loop (the whole account waits, so waiting stalls
 *   nothing that could go out);
 * - the same statement counts the messages against the provider's daily quota, which one
 *   sender of the fleet reads (GET /quota/v1/me) at most every MF_SENDER_QUOTA_CHECK_MS. When
 *   it is used up the runs being sent are held (workflow_runs.send_hold = 'quota', an entry in
 *   their logs): their jobs are parked on the retry topic, not failed, until a later read finds
 *   quota left (mf_quota_store releases them);
 * - a workflow: message_config.rate_per_minute, one statement per batch for all its limited
 *   workflows (mf_rate_reserve). Jobs beyond the tokens at hand are put on the retry topic with
 *   a not-before on the bucket's schedule and marked reserved (job key "rs"), so a rate-limited
 *   campaign never holds up another workflow's jobs.
 */
typedef struct sender_rate {
    char account[48];          /* bucket key of the provider account: "account:<hash>" */
    double rate;               /* messages per second, 0: none */
    double burst;              /* tokens the account bucket holds */
    long long check_ms;        /* quota read interval, 0: the quota is not checked */
    double horizon_s;          /* how far ahead workflow tokens are reserved */
    long long pool;            /* account tokens granted and not used yet */
    int64_t next_ask_ms;       /* monotonic: no account statement before (rate wait) */
    int quota_out;             /* the last answer: the daily quota is used up */
    int64_t last_tick_ms;      /* monotonic: the last quota check while idle */
    int quota_known;           /* the fleet has read the quota (quota_left means something) */
    long long quota_left;      /* the last answer's quota left (<= 0: used up) */
    unsigned long queries;     /* statements run (tests, logs) */
    unsigned long quota_reads; /* provider quota reads done by this process */
    mf_pgarr keys, rates, bursts, wants, runs;
} sender_rate;

/* The rate settings (from sender_config); base_url and api_key name the account (hashed,
 * the key itself is never stored). */
void sender_rate_init(sender_rate *r, const char *base_url, const char *api_key, double rate_per_s,
                      long long burst_ms, long long check_ms, long long horizon_s);
void sender_rate_free(sender_rate *r);

/* 1 when account tokens must be asked for (an account rate or the quota check is on). */
int sender_rate_account_on(const sender_rate *r);

/*
 * Takes up to `want` account tokens: from the local pool, else with one statement asking
 * for `ask` (>= want: what the batch still needs). No statement while the last answer's rate
 * wait runs. Reads the provider's quota when the answer says so (sms may be NULL: not read).
 * *granted <= want. r->quota_out tells that the quota stopped the grant. 0 or -1 with err.
 */
int sender_rate_take(sender_rate *r, PGconn *pg, mf_coolsms *sms, mf_log *log, size_t want,
                     size_t ask, size_t *granted, mf_err *err);

/* Gives tokens back to the local pool (taken, then not used). */
void sender_rate_give_back(sender_rate *r, size_t n);

/* One rate-limited workflow of a batch: in: key ("workflow:<uuid>"), rate per second, how
 * many jobs want a token; out: now_n granted at once, the next ahead_n reserved, the k-th of
 * them (1-based) due (k - base) / rate seconds from now. */
typedef struct sender_rate_want {
    char key[48];
    double rate;
    size_t want;
    size_t now_n, ahead_n;
    double base;
} sender_rate_want;

/* One statement for every workflow of w[0..n). 0 or -1 with err. */
int sender_rate_reserve(sender_rate *r, PGconn *pg, sender_rate_want *w, size_t n, mf_err *err);

/* Holds runs at the quota (send_hold = 'quota', a 'quota_hold' entry in the logs of those
 * not held yet). 0 or -1 with err. */
int sender_rate_hold_runs(sender_rate *r, PGconn *pg, const mf_uuid *runs, size_t n, mf_err *err);

/*
 * While idle (no batch): when this sender saw the quota used up or parks jobs, checks the
 * quota every MF_SENDER_QUOTA_CHECK_MS (a statement taking no tokens, and the provider read
 * when the fleet's copy is old), so held runs are released once quota is available.
 * Returns 1 when it ran, 0 when not due, -1 with err.
 */
int sender_rate_tick(sender_rate *r, PGconn *pg, mf_coolsms *sms, mf_log *log, int parked,
                     mf_err *err);

#endif

/* sim: shared types of the CoolSMS/SOLAPI v4 simulator (context, knobs, ledger, helpers). */
#ifndef SIM_H
#define SIM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_clock.h"
#include "mf_buf.h"
#include "mf_err.h"
#include "mf_log.h"

#define SIM_MAX_MESSAGES 10000       /* per send-many request */
#define SIM_MAX_BODY ((size_t)64 << 20) /* request body limit */
#define SIM_ID_LEN 32                 /* "M4V" + 14-digit time + 15 alnum */
#define SIM_CODE_LEN 8                /* status codes are 4 digits; room for "TEST1000" */
#define SIM_MAX_SENDERS 64
#define SIM_INDEX_FIELD "jobId"       /* the customFields key that has its own hash index */

/* ---- knobs (sim_config.c) ---------------------------------------------------------------- */

/* Runtime-adjustable behaviour. Read as a whole snapshot under knob_lock. */
typedef struct sim_knobs {
    long long latency_ms;
    double error_5xx_ratio;
    double timeout_ratio;
    long long timeout_hold_ms;
    int timeout_commit;
    double rate_limit_per_s;
    double permanent_fail_ratio;
    char permanent_fail_code[SIM_CODE_LEN];
    long long deliver_delay_ms;
    double deliver_fail_ratio;
    char deliver_fail_code[SIM_CODE_LEN];
} sim_knobs;

/* Start-up settings (not changeable at run time). */
typedef struct sim_settings {
    int port;
    char api_key[128];
    char api_secret[256];
    char account_id[32];
    uint64_t seed;
    size_t nsenders;
    char senders[SIM_MAX_SENDERS][24];
} sim_settings;

struct sim_ctx;

/* Fill settings and knobs from the environment. Fails naming the variable. */
int sim_config_from_env(sim_settings *s, sim_knobs *k, mf_err *err);
/* Apply a JSON object of knob values (all-or-nothing). Fails naming the knob. */
int sim_config_apply_json(sim_knobs *k, const char *json, size_t len, mf_err *err);
/* Append the knobs as a JSON object. */
int sim_config_to_json(const sim_knobs *k, mf_buf *out, mf_err *err);
/* Print the knob and environment tables as Markdown (for docs/simulator.md). */
void sim_config_print_markdown(void);

/* ---- failure codes (sim_codes.c): the ONE table of status codes ------------------------- */

typedef enum sim_code_id {
    SIM_C_ACCEPTED = 0,  /* 2000 */
    SIM_C_CARRIER,       /* 3000 */
    SIM_C_DELIVERED,     /* 4000 */
    SIM_C_MISSING,       /* required value missing */
    SIM_C_BAD_TO,        /* recipient number invalid */
    SIM_C_SUBJECT_SMS,   /* subject on an SMS */
    SIM_C_SUBJECT_LONG,  /* subject over 40 bytes */
    SIM_C_BAD_TYPE,      /* unknown message type */
    SIM_C_DUP_TO,        /* duplicate recipient without allowDuplicates */
    SIM_C_NOT_EUCKR,     /* character outside EUC-KR in SMS/LMS/MMS */
    SIM_C_TOO_LONG,      /* over the length limit of its type */
    SIM_C_BAD_CUSTOM,    /* invalid customFields */
    SIM_C_KAKAO_TYPE,    /* kakaoOptions on a non-Kakao type */
    SIM_C_NO_IMAGE,      /* MMS without imageId */
    SIM_C_NO_PFID,       /* ATA/CTA without kakaoOptions.pfId */
    SIM_C_NO_TEMPLATE,   /* ATA without kakaoOptions.templateId */
    SIM_C_NO_SENDER,     /* from not registered */
    SIM_C__COUNT
} sim_code_id;

typedef struct sim_code {
    const char *code;    /* "1062" */
    const char *message; /* statusMessage */
} sim_code;

const sim_code *sim_code_get(sim_code_id id);
/* Message for any code string (table lookup; "unknown status" when absent). */
const char *sim_code_message(const char *code);
/* Print the table as Markdown. */
void sim_codes_print_markdown(void);

/* ---- auth (sim_auth.c) ------------------------------------------------------------------- */

typedef struct sim_salts sim_salts;
sim_salts *sim_salts_new(size_t capacity_pow2);
void sim_salts_free(sim_salts *s);
void sim_salts_clear(sim_salts *s);

typedef struct sim_auth_result {
    int http_status;        /* 0 when accepted */
    const char *error_code; /* errorCode for the JSON body */
    char message[256];
} sim_auth_result;

/* Verify an Authorization header value at time now_ms. Returns 0 when accepted, else -1 and
 * fills res. Records the salt on success. */
int sim_auth_verify(const char *header, const char *api_key, const char *api_secret,
                    sim_salts *salts, int64_t now_ms, sim_auth_result *res);
/* Parse an ISO 8601 time ("2024-01-02T03:04:05.678Z", "+09:00" offsets, date-only, or
 * "2024-01-02 03:04:05"). Returns 0 with ms since epoch, or -1. */
int sim_parse_iso8601(const char *s, int64_t *out_ms);
/* Format ms since epoch as "2024-01-02T03:04:05.678Z" (buffer >= 32). */
void sim_format_iso8601(int64_t ms, char *out, size_t outsz);

/* ---- ledger (sim_ledger.c) --------------------------------------------------------------- */

typedef struct sim_msg {
    char id[SIM_ID_LEN + 1];
    char to[12];
    char from[24];
    char type[4];
    char final_code[SIM_CODE_LEN]; /* code reached at final_ms */
    uint32_t group;                /* index in the group table */
    uint32_t job_next;             /* next message (index + 1) with the same jobId, 0 = none */
    int64_t accepted_ms;
    int64_t final_ms;
    const char *text;              /* arena strings, NULL when absent */
    const char *subject;
    const char *pf_id;
    const char *template_id;
    const char *cf;                /* customFields: "k\0v\0k\0v\0\0", NULL when none */
    const char *job_id;            /* value of customFields.jobId or NULL */
} sim_msg;

typedef struct sim_ledger sim_ledger;

sim_ledger *sim_ledger_new(void);
void sim_ledger_free(sim_ledger *l);

/* Locking: readers take sim_ledger_rdlock; sim_ledger_add/reset lock themselves. */
void sim_ledger_rdlock(sim_ledger *l);
void sim_ledger_unlock(sim_ledger *l);

size_t sim_ledger_count(sim_ledger *l);               /* under rdlock */
const sim_msg *sim_ledger_at(sim_ledger *l, size_t i); /* under rdlock */
const char *sim_ledger_group_id(sim_ledger *l, uint32_t g); /* under rdlock */
/* Index of messageId, or -1. Under rdlock. */
long sim_ledger_find(sim_ledger *l, const char *message_id);
/* First message index + 1 with customFields.jobId == job_id, 0 if none (then follow
 * msg->job_next). Under rdlock. */
uint32_t sim_ledger_find_job(sim_ledger *l, const char *job_id);
/* Generation: changes on every reset (streams use it to stop). Under rdlock. */
uint64_t sim_ledger_generation(sim_ledger *l);

/* A message prepared for adding: strings point into the caller's memory and are copied. */
typedef struct sim_new_msg {
    sim_msg m;       /* id/to/from/type/final_code/accepted_ms/final_ms filled by the caller */
    size_t text_len, subject_len;
    const char *cf_keys[32];
    const char *cf_vals[32];
    size_t ncf;
} sim_new_msg;

/* Add a group and its messages atomically; returns 0 or -1 (out of memory). */
int sim_ledger_add(sim_ledger *l, const char *group_id, sim_new_msg *msgs, size_t n,
                   mf_err *err);
void sim_ledger_reset(sim_ledger *l);

/* Status of a message at now_ms: "2000" before half the delay, "3000" after, final after. */
const char *sim_msg_status(const sim_msg *m, int64_t now_ms);
/* Value of customFields[key] or NULL. */
const char *sim_msg_cf(const sim_msg *m, const char *key);
/* Append the customFields as a JSON object. */
int sim_msg_cf_json(const sim_msg *m, mf_buf *out, mf_err *err);

/* ---- context and handlers ---------------------------------------------------------------- */

typedef struct sim_stats {
    atomic_ullong requests, accepted, rejected, auth_failures, http_5xx, timeouts,
        rate_limited;
} sim_stats;

typedef struct sim_ctx {
    sim_settings set;
    pthread_mutex_t knob_lock;
    sim_knobs knobs;
    pthread_mutex_t bucket_lock;
    double bucket_tokens;
    int64_t bucket_ms;
    sim_salts *salts;
    sim_ledger *ledger;
    sim_stats stats;
    atomic_ullong id_counter;
    atomic_ullong rng_counter;
    atomic_int stopping;
    mf_log *log;
} sim_ctx;

/* A response being built by a handler. */
typedef struct sim_reply {
    int status;
    const char *content_type;
    mf_buf body;
} sim_reply;

void sim_knobs_snapshot(sim_ctx *ctx, sim_knobs *out);
/* Uniform double in [0,1) from the context's seeded generator. */
double sim_rand(sim_ctx *ctx);
/* Deterministic double in [0,1) from the seed and a string. */
double sim_hash_unit(uint64_t seed, const char *a, const char *b, const char *salt);
uint64_t sim_hash64(const char *s, size_t n, uint64_t seed);
/* A fresh id with prefix 'M' or 'G' ("M4V20240102030405ABCDEFGHIJKLMNO"). */
void sim_new_id(sim_ctx *ctx, char prefix, int64_t now_ms, char out[SIM_ID_LEN + 1]);

/* Fill reply with {"errorCode":..., "errorMessage":...}. */
void sim_reply_error(sim_reply *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* POST /messages/v4/send-many/detail after authentication (body parsed inside). */
void sim_handle_send(sim_ctx *ctx, const char *body, size_t len, sim_reply *r);

/* Query parameter access for the list handler. */
typedef struct sim_query sim_query;
const char *sim_query_get(const sim_query *q, const char *key);
/* Call fn for every value of key (repeated keys and "key[]" too). */
void sim_query_each(const sim_query *q, const char *key,
                    void (*fn)(const char *value, void *arg), void *arg);
/* Call fn for every key starting with prefix. */
void sim_query_each_prefix(const sim_query *q, const char *prefix,
                           void (*fn)(const char *key, const char *value, void *arg),
                           void *arg);

/* GET /messages/v4/list after authentication. */
void sim_handle_list(sim_ctx *ctx, const sim_query *q, sim_reply *r);

#endif

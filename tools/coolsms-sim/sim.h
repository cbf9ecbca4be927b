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

#define SIM_MAX_MESSAGES 10000              /* per send-many or group-add request */
#define SIM_MAX_BODY ((size_t)64 << 20)     /* request body limit (send-many) */
#define SIM_MAX_ADD_BODY ((size_t)15 << 20) /* group-add body limit (15 MB, documented) */
#define SIM_MAX_GROUP_MESSAGES 1000000      /* messages per group (documented) */
#define SIM_STR_KNOB 256                    /* room of a string knob */
#define SIM_ID_LEN 32                       /* "M4V" + 14-digit time + 15 alnum */
#define SIM_CODE_LEN 8                      /* status codes are 4 digits; room for "TEST1000" */
#define SIM_MAX_SENDERS 64
#define SIM_INDEX_FIELD "jobId" /* the customFields key that has its own hash index */

/* ---- knobs (sim_config.c) ---------------------------------------------------------------- */

/* The API steps fault knobs can aim at (bit masks; see sim_config.c for the names). */
enum {
    SIM_STEP_CREATE = 1u << 0,         /* POST /messages/v4/groups */
    SIM_STEP_ADD = 1u << 1,            /* PUT .../groups/{id}/messages */
    SIM_STEP_SEND = 1u << 2,           /* POST .../groups/{id}/send */
    SIM_STEP_GROUP_GET = 1u << 3,      /* GET .../groups/{id} */
    SIM_STEP_GROUP_MESSAGES = 1u << 4, /* GET .../groups/{id}/messages */
    SIM_STEP_GROUP_LIST = 1u << 5,     /* GET /messages/v4/groups */
    SIM_STEP_GROUP_DELETE = 1u << 6,   /* DELETE .../groups/{id} and .../groups/{id}/messages */
    SIM_STEP_LIST = 1u << 7,           /* GET /messages/v4/list */
    SIM_STEP_SEND_MANY = 1u << 8,      /* POST /messages/v4/send-many/detail */
    SIM_STEP_QUOTA = 1u << 9,          /* GET /quota/v1/me */
    SIM_STEP_WEBHOOK = 1u << 10,       /* the simulator's own webhook deliveries */
    SIM_STEP_BLACK = 1u << 11,         /* GET /iam/v1/black */
    SIM_STEP_ALL = (1u << 12) - 1,
    SIM_STEP_SET = 1u << 31 /* marks an explicit list ("none" = SET alone) */
};

/* Runtime-adjustable behaviour. Read as a whole snapshot under knob_lock. */
typedef struct sim_knobs {
    long long latency_ms;
    double error_5xx_ratio;
    double timeout_ratio;
    long long timeout_hold_ms;
    int timeout_commit;
    double reset_ratio;
    unsigned fault_steps;   /* steps the fault knobs apply to */
    unsigned latency_steps; /* per-kind lists; 0 = use fault_steps */
    unsigned error_5xx_steps;
    unsigned timeout_steps;
    unsigned reset_steps;
    char capture_file[SIM_STR_KNOB];
    long long daily_quota;
    char quota_fail_code[SIM_CODE_LEN];
    char webhook_url[SIM_STR_KNOB];
    char webhook_group_url[SIM_STR_KNOB];
    long long webhook_batch;
    long long webhook_interval_ms;
    long long webhook_retry_ms;
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
    int control; /* MF_SIM_CONTROL: the control endpoints under /_sim/ answer (else only
                   * /_sim/health does) */
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
/* 1 when a fault kind (its own step list, else fault_steps) applies to step. */
int sim_step_hit(unsigned kind_steps, unsigned fault_steps, unsigned step);

/* ---- failure codes (sim_codes.c): the ONE table of status codes ------------------------- */

typedef enum sim_code_id {
    SIM_C_ACCEPTED = 0, /* 2000 */
    SIM_C_CARRIER,      /* 3000 */
    SIM_C_DELIVERED,    /* 4000 */
    SIM_C_MISSING,      /* required value missing */
    SIM_C_BAD_TO,       /* recipient number invalid */
    SIM_C_SUBJECT_SMS,  /* subject on an SMS */
    SIM_C_SUBJECT_LONG, /* subject over 40 bytes */
    SIM_C_BAD_TYPE,     /* unknown message type */
    SIM_C_DUP_TO,       /* duplicate recipient without allowDuplicates */
    SIM_C_NOT_EUCKR,    /* character outside EUC-KR in SMS/LMS/MMS */
    SIM_C_TOO_LONG,     /* over the length limit of its type */
    SIM_C_BAD_CUSTOM,   /* invalid customFields */
    SIM_C_KAKAO_TYPE,   /* kakaoOptions on a non-Kakao type */
    SIM_C_NO_IMAGE,     /* MMS without imageId */
    SIM_C_NO_PFID,      /* ATA/CTA without kakaoOptions.pfId */
    SIM_C_NO_TEMPLATE,  /* ATA without kakaoOptions.templateId */
    SIM_C_NO_SENDER,    /* from not registered */
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
/* ISO 8601 times are parsed by mf_clock_parse_iso8601 (mf_clock.h). */
/* Format ms since epoch as "2024-01-02T03:04:05.678Z" (buffer >= 32). */
void sim_format_iso8601(int64_t ms, char *out, size_t outsz);

/* ---- ledger (sim_ledger.c) --------------------------------------------------------------- */

/* Where a stored message stands. Only SIM_MS_SENT messages are "accepted" in the ledger's
 * counts, its export and /_sim/ledger/count; the others are visible through the API. */
typedef enum sim_msg_state {
    SIM_MS_SENT = 0, /* accepted for delivery: lifecycle 2000 -> 3000 -> final */
    SIM_MS_PENDING,  /* registered (2000) in a group not sent yet */
    SIM_MS_REJECTED, /* registered with a 1xxx code: stored, never sent */
    SIM_MS_UNSENT,   /* failed at send time (daily quota): final_code, never delivered */
    SIM_MS_REMOVED   /* deleted from its group: invisible */
} sim_msg_state;

typedef struct sim_msg {
    char id[SIM_ID_LEN + 1];
    char to[12];
    char from[24];
    char type[4];
    char final_code[SIM_CODE_LEN]; /* code reached at final_ms (or the 1xxx code) */
    uint8_t state;                 /* sim_msg_state */
    uint32_t group;                /* index in the ledger's group table */
    uint32_t job_next;             /* next message (index + 1) with the same jobId, 0 = none */
    int64_t created_ms;            /* registration (dateCreated) */
    int64_t accepted_ms;           /* lifecycle start (send); created_ms until sent */
    int64_t final_ms;
    const char *text; /* arena strings, NULL when absent */
    const char *subject;
    const char *pf_id;
    const char *template_id;
    const char *cf;     /* customFields: "k\0v\0k\0v\0\0", NULL when none */
    const char *job_id; /* value of customFields.jobId or NULL */
} sim_msg;

typedef struct sim_ledger sim_ledger;

sim_ledger *sim_ledger_new(void);
void sim_ledger_free(sim_ledger *l);

/* Locking: readers take sim_ledger_rdlock; sim_ledger_add/reset lock themselves. */
void sim_ledger_rdlock(sim_ledger *l);
void sim_ledger_unlock(sim_ledger *l);

void sim_ledger_wrlock(sim_ledger *l);

size_t sim_ledger_count(sim_ledger *l); /* under rdlock: every stored message */
size_t sim_ledger_sent(sim_ledger *l);  /* under rdlock: SIM_MS_SENT messages */
/* Adjust the SENT count after changing states under sim_ledger_wrlock. */
void sim_ledger_sent_add(sim_ledger *l, long delta);
/* Writable record, under sim_ledger_wrlock. */
sim_msg *sim_ledger_at_mut(sim_ledger *l, size_t i);
const sim_msg *sim_ledger_at(sim_ledger *l, size_t i);      /* under rdlock */
const char *sim_ledger_group_id(sim_ledger *l, uint32_t g); /* under rdlock */
/* Index of messageId, or -1. Under rdlock. */
long sim_ledger_find(sim_ledger *l, const char *message_id);
/* First message index + 1 with customFields.jobId == job_id, 0 if none (then follow
 * msg->job_next). Under rdlock. */
uint32_t sim_ledger_find_job(sim_ledger *l, const char *job_id);
/* Generation: changes on every reset (streams use it to stop). Under rdlock. */
uint64_t sim_ledger_generation(sim_ledger *l);
/* Outcomes of the accepted (sent) messages at now_ms. Under rdlock. The messages that can no
 * longer change are counted once and remembered, so a call reads only the recent ones (and
 * any after the first message still waiting in an unsent group). */
typedef struct sim_outcomes {
    unsigned long long delivered, failed, pending;
} sim_outcomes;
void sim_ledger_outcomes(sim_ledger *l, int64_t now_ms, sim_outcomes *out);

/* A message prepared for adding: strings point into the caller's memory and are copied. */
typedef struct sim_new_msg {
    sim_msg m; /* id/to/from/type/final_code/accepted_ms/final_ms filled by the caller */
    size_t text_len, subject_len;
    const char *cf_keys[32];
    const char *cf_vals[32];
    size_t ncf;
} sim_new_msg;

/* Add a group and its messages atomically; *first (if not NULL) gets the first message's
 * index (the n messages are consecutive). Returns 0 or -1 (out of memory). */
int sim_ledger_add(sim_ledger *l, const char *group_id, sim_new_msg *msgs, size_t n, size_t *first,
                   uint32_t *group_out, mf_err *err);
/* Append messages to an existing ledger group g (consecutive indexes from *first). */
int sim_ledger_append(sim_ledger *l, uint32_t g, sim_new_msg *msgs, size_t n, size_t *first,
                      mf_err *err);
/* A new, empty ledger group; returns 0 with *g, or -1. */
int sim_ledger_group_new(sim_ledger *l, const char *group_id, uint32_t *g, mf_err *err);
void sim_ledger_reset(sim_ledger *l);

/* Status of a message at now_ms: "2000" before half the delay, "3000" after, final after;
 * "2000" while pending; the 1xxx code when rejected. */
const char *sim_msg_status(const sim_msg *m, int64_t now_ms);
/* The message's "status" word: PENDING, SENDING, COMPLETE or FAILED. */
const char *sim_msg_status_word(const sim_msg *m, int64_t now_ms);
/* Append one message as the list APIs show it: "<id>":{...} with with_key, else {...}. */
int sim_msg_json(sim_ledger *l, const char *account, const sim_msg *m, int64_t now, int with_key,
                 mf_buf *b, mf_err *err);
/* Value of customFields[key] or NULL. */
const char *sim_msg_cf(const sim_msg *m, const char *key);
/* Append the customFields as a JSON object. */
int sim_msg_cf_json(const sim_msg *m, mf_buf *out, mf_err *err);

/* ---- context and handlers ---------------------------------------------------------------- */

typedef struct sim_stats {
    atomic_ullong requests, accepted, rejected, auth_failures, http_5xx, timeouts, rate_limited,
        resets, quota_failed, webhook_posts, webhook_failures, webhook_dropped;
} sim_stats;

typedef struct sim_groups sim_groups;
typedef struct sim_webhook sim_webhook;
typedef struct sim_black sim_black;

typedef struct sim_ctx {
    sim_settings set;
    pthread_mutex_t knob_lock;
    sim_knobs knobs;
    pthread_mutex_t bucket_lock;
    double bucket_tokens;
    int64_t bucket_ms;
    sim_salts *salts;
    sim_ledger *ledger;
    sim_groups *groups;
    sim_webhook *webhook;
    sim_black *black;
    pthread_mutex_t quota_lock;
    int64_t quota_day; /* Korean calendar day of quota_used */
    long long quota_used;
    pthread_mutex_t capture_lock;
    void *capture; /* FILE * of capture_path, or NULL */
    char capture_path[SIM_STR_KNOB];
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

/* Token bucket over the account. Returns 0 when n messages are admitted. */
int sim_rate_admit(sim_ctx *ctx, double rate, size_t n, int64_t now_ms);
/* Take up to n messages from today's quota (Korean day); returns how many may be sent. */
size_t sim_quota_take(sim_ctx *ctx, const sim_knobs *k, size_t n, int64_t now_ms);
/* GET /quota/v1/me. */
void sim_handle_quota(sim_ctx *ctx, sim_reply *r);
/* Decide the lifecycle of a message sent at now_ms (state SENT, times, final code). */
void sim_msg_start(sim_ctx *ctx, const sim_knobs *k, sim_msg *m, int64_t start_ms);

/* Query parameter access for the list handler. */
typedef struct sim_query sim_query;
const char *sim_query_get(const sim_query *q, const char *key);
/* Call fn for every value of key (repeated keys and "key[]" too). */
void sim_query_each(const sim_query *q, const char *key, void (*fn)(const char *value, void *arg),
                    void *arg);
/* Call fn for every key starting with prefix. */
void sim_query_each_prefix(const sim_query *q, const char *prefix,
                           void (*fn)(const char *key, const char *value, void *arg), void *arg);

/* criteria/cond/value query conditions (comma lists of equal length; operators eq, ne, gt,
 * gte, lt, lte, like). */
#define SIM_MAX_CONDS 8
typedef enum sim_op {
    SIM_OP_EQ,
    SIM_OP_NE,
    SIM_OP_GT,
    SIM_OP_GTE,
    SIM_OP_LT,
    SIM_OP_LTE,
    SIM_OP_LIKE
} sim_op;
typedef struct sim_cond {
    char field[32];
    sim_op op;
    char value[128];
    int64_t t; /* value as a time, when it parses as ISO 8601 */
    int has_t;
} sim_cond;
/* Parse criteria/cond/value from q; fields must be among allowed (NULL-terminated). Returns
 * 0 with *n conditions, or -1 after filling r with 400 ValidationError. */
int sim_conds_parse(const sim_query *q, const char *const *allowed, sim_cond *out, size_t *n,
                    sim_reply *r);
/* Does string v (or time t, for a date field) satisfy c? */
int sim_cond_str(const sim_cond *c, const char *v);
int sim_cond_time(const sim_cond *c, int64_t t);
/* Parse a positive decimal integer in [lo, hi]; returns 0 or -1. */
int sim_parse_long(const char *s, long lo, long hi, long *out);

/* GET /messages/v4/list after authentication. */
void sim_handle_list(sim_ctx *ctx, const sim_query *q, sim_reply *r);

/* ---- message groups (sim_group.c; reads and the group object: sim_group_read.c) ----------- */

sim_groups *sim_groups_new(void);
void sim_groups_free(sim_groups *gs);
void sim_groups_reset(sim_groups *gs);

void sim_handle_group_create(sim_ctx *ctx, const char *body, size_t len, sim_reply *r);
void sim_handle_group_add(sim_ctx *ctx, const char *gid, const char *body, size_t len,
                          sim_reply *r);
void sim_handle_group_send(sim_ctx *ctx, const char *gid, sim_reply *r);
void sim_handle_group_get(sim_ctx *ctx, const char *gid, sim_reply *r);
void sim_handle_group_messages(sim_ctx *ctx, const char *gid, const sim_query *q, sim_reply *r);
void sim_handle_group_delete(sim_ctx *ctx, const char *gid, sim_reply *r);
void sim_handle_group_delete_messages(sim_ctx *ctx, const char *gid, const char *body, size_t len,
                                      sim_reply *r);
void sim_handle_group_list(sim_ctx *ctx, const sim_query *q, sim_reply *r);

/* A group made by send-many: its n messages are ledger [first, first + n) of ledger group lg;
 * extra_failed messages were refused and not stored. Appends the group object to out. */
int sim_groups_register_sent(sim_ctx *ctx, const char *gid, uint32_t lg, size_t first, size_t n,
                             size_t extra_failed, int allow_dup, int64_t now_ms, int64_t start_ms,
                             mf_buf *out, mf_err *err);

/* Append the group object of gid (groups lock taken inside) for a webhook group-report.
 * Returns 0, or -1 when the group is gone. */
int sim_groups_json_by_id(sim_ctx *ctx, const char *gid, int64_t now, mf_buf *out, mf_err *err);

/* ---- the 080 opt-out list (sim_black.c) ---------------------------------------------------- */

/* Numbers that opted out with the free 080 call. A message to a listed number is refused at
 * registration with 1061; a message the simulator answers 1061/2061 (permanent_fail_code,
 * deliver_fail_code) lists its number. Thread-safe. */
sim_black *sim_black_new(void);
void sim_black_free(sim_black *b);
void sim_black_reset(sim_black *b);
/* Lists a number (normalised; already listed: nothing changes). 0, or -1 when it is not a
 * mobile number or memory ran out. */
int sim_black_add(sim_black *b, const char *to, const char *from, int64_t now_ms);
int sim_black_has(sim_black *b, const char *to);
/* 1 for the 080 opt-out codes 1061 and 2061. */
int sim_black_code(const char *code);
/* GET /iam/v1/black?type=DENIAL&limit=&startKey= after authentication. */
void sim_handle_black(sim_ctx *ctx, const sim_query *q, sim_reply *r);
/* POST /_sim/black (control). */
void sim_handle_black_add(sim_ctx *ctx, const char *body, size_t len, sim_reply *r);

/* ---- capture (sim_capture.c) and webhooks (sim_webhook.c) -------------------------------- */

/* Append {"method","path","body"} as one line to the capture_file knob's file, if set. */
void sim_capture(sim_ctx *ctx, const sim_knobs *k, const char *method, const char *path,
                 const char *body, size_t len);
void sim_capture_close(sim_ctx *ctx);

sim_webhook *sim_webhook_start(sim_ctx *ctx, mf_err *err);
void sim_webhook_stop(sim_webhook *w);
void sim_webhook_reset(sim_webhook *w);
/* Queue single-reports for n ledger messages (idx[i], or first + i when idx is NULL), each
 * at its final_ms (when webhook_url is set), and a group-report for gid at group_done_ms
 * (when webhook_group_url is set). Call without the ledger lock. */
void sim_webhook_queue(sim_ctx *ctx, const sim_knobs *k, const char *gid, const uint32_t *idx,
                       size_t first, size_t n, int64_t group_done_ms);

#endif

/* mf_coolsms: CoolSMS / SOLAPI v4 REST client (HMAC auth, async send-many/detail, list). */
#ifndef MF_COOLSMS_H
#define MF_COOLSMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mf_buf.h"
#include "mf_err.h"

/*
 * One mf_coolsms handle drives many concurrent send requests through one curl multi handle.
 * It is NOT thread-safe: one thread submits, polls and receives the callbacks. It keeps no
 * global state; the process must call curl_global_init(CURL_GLOBAL_DEFAULT) once at start
 * (before any thread exists) and curl_global_cleanup() at exit.
 *
 * The API secret is used only to compute the request signature; it is never logged, never
 * put in an error message and is wiped from memory when the handle is destroyed.
 * See docs/coolsms-client.md.
 */
typedef struct mf_coolsms mf_coolsms;

/* Most messages one send-many/detail request may carry (provider limit). */
#define MF_COOLSMS_MAX_BATCH 10000

/* Configuration, copied by mf_coolsms_new (the caller's strings may go away afterwards).
 * Zero values pick the default given in brackets. */
typedef struct mf_coolsms_config {
    const char *base_url;    /* e.g. "https://api.coolsms.co.kr" (required, no path) */
    const char *api_key;     /* required */
    const char *api_secret;  /* required */
    long request_timeout_ms; /* whole request, connect included [30000] */
    long connect_timeout_ms; /* [5000] */
    int max_in_flight;       /* concurrent send requests [4], at most 64 */
    const char *user_agent;  /* [msgfleet-coolsms/1] */
} mf_coolsms_config;

/* A string key/value pair (kakao variables, extra custom fields, list filters). */
typedef struct mf_coolsms_kv {
    const char *key;
    const char *value;
} mf_coolsms_kv;

/* Kakao options of an alimtalk/friendtalk message. */
typedef struct mf_coolsms_kakao {
    const char *pf_id;              /* required when the struct is given */
    const char *template_id;        /* NULL: omitted */
    const mf_coolsms_kv *variables; /* keys as "name" or "#{name}"; sent as "#{name}" */
    size_t n_variables;
    const char *buttons_json; /* raw JSON array copied verbatim; NULL: omitted */
    int disable_sms;          /* 1: no SMS/LMS fallback when kakao delivery fails */
} mf_coolsms_kakao;

/* One message of a send request. Strings must be valid UTF-8. */
typedef struct mf_coolsms_msg {
    const char *to;      /* required, normalised number "01012345678" */
    const char *from;    /* required, a registered sender number */
    const char *text;    /* required (may be "") */
    const char *type;    /* "SMS", "LMS", "ATA"...; NULL lets the provider detect the type.
                          * When given, autoTypeDetect:false is sent so the type is kept. */
    const char *subject; /* LMS/MMS subject; NULL: omitted */
    const mf_coolsms_kakao *kakao; /* NULL: no kakaoOptions */
    const char *job_id;            /* required, unique in the request: customFields.jobId, the key
                          * that matches the response back to this message */
    const char *run_id;            /* customFields.runId; NULL: omitted */
    const mf_coolsms_kv *custom_fields; /* further customFields (string map) */
    size_t n_custom_fields;
} mf_coolsms_msg;

/* What an asynchronous request does. The group operations are the exactly-once path: a group
 * is created (its id recorded by the caller), messages are added, then the group is sent;
 * each step can be checked afterwards with mf_coolsms_group_get / _group_messages. */
typedef enum mf_coolsms_op {
    MF_COOLSMS_OP_SEND_MANY = 0, /* POST /messages/v4/send-many/detail */
    MF_COOLSMS_OP_GROUP_CREATE,  /* POST /messages/v4/groups */
    MF_COOLSMS_OP_GROUP_ADD,     /* PUT /messages/v4/groups/{id}/messages */
    MF_COOLSMS_OP_GROUP_SEND     /* POST /messages/v4/groups/{id}/send */
} mf_coolsms_op;

/* Request-level classification. */
typedef enum mf_coolsms_class {
    MF_COOLSMS_OK = 0,        /* HTTP 2xx: see the per-message outcomes */
    MF_COOLSMS_TRANSIENT = 1, /* timeout, connection error, 5xx, 408, 429: retry later */
    MF_COOLSMS_PERMANENT = 2  /* other 4xx (auth, bad request), 3xx, misconfiguration */
} mf_coolsms_class;

/* Per-message state in a 2xx response. */
typedef enum mf_coolsms_state {
    MF_COOLSMS_MSG_UNKNOWN = 0,  /* the response did not mention the message: resolve it
                                  * with mf_coolsms_list (customFields.jobId) */
    MF_COOLSMS_MSG_ACCEPTED = 1, /* in messageList: registered at the provider */
    MF_COOLSMS_MSG_FAILED = 2    /* in failedMessageList: rejected, with its status code */
} mf_coolsms_state;

typedef struct mf_coolsms_outcome {
    mf_coolsms_state state;
    char message_id[64];
    char status_code[16]; /* e.g. "2000" accepted, "1062" invalid number... */
    char status_message[256];
} mf_coolsms_outcome;

/* The result of one send request, handed to the completion callback. */
typedef struct mf_coolsms_result {
    uint64_t request_id; /* as returned by mf_coolsms_submit */
    mf_coolsms_op op;
    long http_status; /* 0 when no HTTP response arrived */
    mf_coolsms_class cls;
    int maybe_sent;               /* 1 when the provider may have registered the messages although
                               * the request did not succeed (timeout after sending, 5xx,
                               * connection lost mid-way): resolve with the list API before
                               * resending. 0 when surely not registered. 1 for OK. */
    long retry_after_ms;          /* from Retry-After, -1 when absent */
    char error_code[64];          /* 4xx JSON errorCode, "HTTP_<status>", "NETWORK_TIMEOUT",
                               * "NETWORK_ERROR", or "" */
    char error_message[512];      /* errorMessage, start of a text body, or curl's message */
    char group_id[64];            /* groupInfo.groupId (send-many) or the top-level groupId (group
                               * operations) of a 2xx response, "" if absent */
    char group_status[16];        /* the top-level status of a group answer (PENDING, SENDING...) */
    size_t n_messages;            /* as submitted */
    mf_coolsms_outcome *outcomes; /* n_messages entries, outcomes[i] for message i; all
                               * UNKNOWN unless cls == OK. Valid only during the callback. */
    size_t n_accepted, n_failed, n_unknown;
    size_t n_unmatched; /* response entries whose jobId matched no submitted message
                               * (or that repeated one): ignored, counted here */
    double elapsed_ms;
} mf_coolsms_result;

/* Called once per submitted request from within mf_coolsms_poll/mf_coolsms_drain. The
 * callback may call mf_coolsms_submit; it must not call poll, drain or destroy. */
typedef void (*mf_coolsms_done_fn)(const mf_coolsms_result *res, void *user);

/* Create a handle. Returns NULL and fills err on bad configuration or allocation failure.
 * Destroy with mf_coolsms_destroy. */
mf_coolsms *mf_coolsms_new(const mf_coolsms_config *cfg, mf_err *err);

/* Abort whatever is still in flight WITHOUT calling the callbacks (drain first to get them),
 * free everything and wipe the secret. h may be NULL. */
void mf_coolsms_destroy(mf_coolsms *h);

/* Number of requests that could be submitted right now (free slots). */
int mf_coolsms_free_slots(const mf_coolsms *h);

/* Number of requests in flight. */
int mf_coolsms_in_flight(const mf_coolsms *h);

/* Start a send-many/detail request with n (1..10000) messages. The messages are serialised
 * into the handle's own reusable buffer before returning, so the caller's array and strings
 * may be reused at once. Fails (nothing sent, no callback) when no slot is free, a required
 * field is missing, a job_id repeats, a string is not valid UTF-8 or buttons_json is not a
 * JSON array; the message names the offending message index. On success *request_id
 * (if not NULL) receives the id later found in the result, and cb will be called exactly
 * once. */
int mf_coolsms_submit(mf_coolsms *h, const mf_coolsms_msg *msgs, size_t n, mf_coolsms_done_fn cb,
                      void *user, uint64_t *request_id, mf_err *err);

/* ---- message groups (asynchronous steps, through the same slots as submit) ---- */

/* POST /messages/v4/groups {"allowDuplicates":false,"customFields":{...}}: the result's
 * group_id is the new group's id (status PENDING). custom_fields may be NULL (n = 0). */
int mf_coolsms_group_create(mf_coolsms *h, const mf_coolsms_kv *custom_fields, size_t n,
                            mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err);

/* PUT /messages/v4/groups/{group_id}/messages {"messages":[...]} with n (1..10000) messages,
 * validated like mf_coolsms_submit. outcomes[i] comes from resultList, matched by
 * customFields.jobId when the answer echoes it, else by `to` (which must then be unique in the
 * request: a group refuses a repeated recipient anyway). ACCEPTED here means registered in the
 * group (2000), not yet sent; FAILED carries the registration error (1xxx), a message stored in
 * the group but never sent. */
int mf_coolsms_group_add(mf_coolsms *h, const char *group_id, const mf_coolsms_msg *msgs, size_t n,
                         mf_coolsms_done_fn cb, void *user, uint64_t *request_id, mf_err *err);

/* POST /messages/v4/groups/{group_id}/send: the result's group_status is the group's status
 * after the call (SENDING...). Only a PENDING group can be sent; a second send is refused. */
int mf_coolsms_group_send(mf_coolsms *h, const char *group_id, mf_coolsms_done_fn cb, void *user,
                          uint64_t *request_id, mf_err *err);

/* A group as GET /messages/v4/groups/{id} (and the send and delete answers) describe it. */
typedef struct mf_coolsms_group_info {
    long http_status;
    mf_coolsms_class cls;
    long retry_after_ms;
    char error_code[64];
    char error_message[512];
    char group_id[64];
    char status[16]; /* PENDING, SENDING, COMPLETE, SCHEDULED, FAILED, DELETED */
    long long total, registered_success, registered_failed, sent_total, sent_success, sent_failed,
        sent_pending;
} mf_coolsms_group_info;

/* Blocking group calls (the recovery path), on the handle's own connection like
 * mf_coolsms_list. Each returns 0 on a parsed 2xx answer; -1 with err otherwise, out->cls,
 * http_status and error_code telling whether to retry (404 means no such group). */
int mf_coolsms_group_get(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                         mf_err *err);
int mf_coolsms_group_send_wait(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                               mf_err *err);
int mf_coolsms_group_delete(mf_coolsms *h, const char *group_id, mf_coolsms_group_info *out,
                            mf_err *err);

/* The account's daily sending quota (GET /quota/v1/me, blocking, on the handle's own
 * connection): *quota = the answer's "quota" (messages per Korean calendar day). The answer
 * does not say how much of it was used. 0, or -1 with err (and *http_status when one came). */
int mf_coolsms_quota_get(mf_coolsms *h, long long *quota, long *http_status, mf_err *err);

/* Drive the transfers: wait up to timeout_ms for network activity (0: do not wait), then
 * call the callbacks of the requests that completed. Returns how many completed, or -1 on a
 * curl multi failure. */
int mf_coolsms_poll(mf_coolsms *h, int timeout_ms, mf_err *err);

/* Poll until nothing is in flight or timeout_ms has passed. Returns the number still in
 * flight (0 when drained) or -1. */
int mf_coolsms_drain(mf_coolsms *h, int timeout_ms, mf_err *err);

/* ---- list API (blocking) ---- */

typedef struct mf_coolsms_listed {
    char message_id[64];
    char group_id[64];
    char to[32];
    char from[32];
    char type[16];
    char status_code[16];
    char status_message[256];
    char job_id[128]; /* customFields.jobId */
    char run_id[128]; /* customFields.runId */
    char date_created[40];
    char date_processed[40]; /* "" when absent or null */
    char date_received[40];  /* "" when absent or null */
} mf_coolsms_listed;

typedef struct mf_coolsms_list_result {
    long http_status;
    mf_coolsms_class cls;
    long retry_after_ms;
    char error_code[64];
    char error_message[512];
    mf_coolsms_listed *items; /* owned: free with mf_coolsms_list_result_free */
    size_t n_items;
    char next_key[128]; /* "" when there is no further page */
} mf_coolsms_list_result;

/* GET /messages/v4/list with the given query filters, each key and value URL-encoded and
 * repeated keys kept (e.g. messageIds twice, limit, startKey, groupId). The real API has no
 * filter on customFields. Blocks up to the request timeout; independent of the send requests
 * in flight (which are not advanced meanwhile). Returns 0 on a parsed 2xx response; -1 with
 * err otherwise, out->cls / http_status / error_code telling whether to retry. out is always
 * initialised; free it with mf_coolsms_list_result_free in both cases. */
int mf_coolsms_list(mf_coolsms *h, const mf_coolsms_kv *filters, size_t n_filters,
                    mf_coolsms_list_result *out, mf_err *err);

void mf_coolsms_list_result_free(mf_coolsms_list_result *r);

/* GET /messages/v4/groups/{group_id}/messages?limit=&startKey=: one page of the group's
 * messages, each with its customFields (job_id). start_key NULL or "" for the first page;
 * out->next_key is "" on the last page. Free out with mf_coolsms_list_result_free. */
int mf_coolsms_group_messages(mf_coolsms *h, const char *group_id, const char *start_key, int limit,
                              mf_coolsms_list_result *out, mf_err *err);

/* One page of the provider's 080 opt-out list (GET /iam/v1/black?type=DENIAL). */
#define MF_COOLSMS_BLACK_NUMBER_MAX 32
typedef struct mf_coolsms_black_result {
    long http_status;
    mf_coolsms_class cls;
    long retry_after_ms;
    char error_code[64];
    char error_message[512];
    char (*numbers)[MF_COOLSMS_BLACK_NUMBER_MAX]; /* recipientNumber as listed (not
                                                    * normalised; owned: free with
                                                    * mf_coolsms_black_result_free) */
    size_t n_numbers;
    char next_key[128]; /* "" when there is no further page */
} mf_coolsms_black_result;

/* GET /iam/v1/black?type=DENIAL&limit=&startKey=: one page of the numbers that opted out of
 * the account's messages with the free 080 call (SOLAPI's blackList entries: handleKey,
 * type, senderNumber, recipientNumber, dates). start_key NULL or "" for the first page. A
 * recipientNumber that does not fit is left out. Blocking, on the handle's own connection
 * like mf_coolsms_list. 0 on a parsed 2xx answer; -1 with err and out->cls otherwise. out is
 * always initialised; free it with mf_coolsms_black_result_free in both cases. */
int mf_coolsms_black_list(mf_coolsms *h, const char *start_key, int limit,
                          mf_coolsms_black_result *out, mf_err *err);
void mf_coolsms_black_result_free(mf_coolsms_black_result *r);

/* ---- building blocks, exposed for tests and tools ---- */

/* Authorization header value (without "Authorization: ") for the given date and salt:
 * "HMAC-SHA256 apiKey=<key>, date=<date>, salt=<salt>, signature=<hex HMAC-SHA256(secret,
 * date + salt)>". Fails if it does not fit in out. */
int mf_coolsms_auth_header(char *out, size_t out_size, const char *api_key, const char *api_secret,
                           const char *date, const char *salt, mf_err *err);

/* Date as the official SDK sends it (date-fns formatISO in UTC): "2026-11-25T12:00:00Z".
 * out needs at least 21 bytes. */
int mf_coolsms_format_date(time_t t, char *out, size_t out_size, mf_err *err);

/* 32 random characters from [0-9a-zA-Z] (CSPRNG, unbiased) plus NUL; out needs 33 bytes. */
int mf_coolsms_make_salt(char *out, size_t out_size, mf_err *err);

/* Append the send-many/detail JSON body for msgs to body (after mf_buf_reset if reuse is
 * wanted). Validates like mf_coolsms_submit, except for job_id uniqueness. */
int mf_coolsms_build_body(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, mf_err *err);

/* How a transfer ended below HTTP. curl_failed != 0 means no HTTP response arrived. */
typedef struct mf_coolsms_transport {
    int curl_failed;
    int curl_timeout;         /* the failure was a timeout */
    int curl_sent;            /* the request had left (the provider may have it) */
    int curl_permanent;       /* misconfiguration (bad URL, TLS verification) */
    const char *curl_message; /* goes to error_message */
} mf_coolsms_transport;

/* Longest wait a Retry-After may ask for; longer values (a hostile or broken
 * `Retry-After: 99999999999999999`) are clamped to it. */
#define MF_COOLSMS_RETRY_AFTER_MAX_S 3600

/* A Retry-After value (header text after the colon): delta-seconds (digits, surrounding
 * blanks allowed) or an HTTP date, relative to now. Seconds in [0,
 * MF_COOLSMS_RETRY_AFTER_MAX_S] (larger values and far dates are clamped, past dates give 0,
 * nothing overflows), or -1 when it is neither. */
long mf_coolsms_retry_after_parse(const char *value, time_t now);

/* One response header line as curl hands it (n bytes, not NUL-terminated, CRLF included):
 * when it is a Retry-After header (name case-insensitive) with a value that
 * mf_coolsms_retry_after_parse accepts, *retry_after_s receives it; any other line, an
 * unparsable value or one of 64 bytes or more leaves *retry_after_s as it was. */
void mf_coolsms_header_line(const char *line, size_t n, time_t now, long *retry_after_s);

/* Classify and decode a send response. tr may be NULL (an HTTP response arrived); with
 * tr->curl_failed the status and body are ignored. job_ids[i] is message i's job id. Fills
 * res (all fields but request_id and elapsed_ms) with outcomes pointing at the caller's
 * array of n entries. retry_after_s < 0 means no Retry-After; above
 * MF_COOLSMS_RETRY_AFTER_MAX_S it is clamped. Never fails: an unparsable 2xx
 * body leaves every message UNKNOWN with error_code "BAD_RESPONSE". */

void mf_coolsms_decode_send(const mf_coolsms_transport *tr, long http_status, long retry_after_s,
                            const char *body, size_t body_len, const char *const *job_ids, size_t n,
                            mf_coolsms_outcome *outcomes, mf_coolsms_result *res);

/* Like mf_coolsms_decode_send, for any operation: a group answer's top-level groupId and
 * status are taken, and resultList entries (group add) are matched by customFields.jobId, else
 * by `to` when tos (message i's recipient) is given. */
void mf_coolsms_decode_op(mf_coolsms_op op, const mf_coolsms_transport *tr, long http_status,
                          long retry_after_s, const char *body, size_t body_len,
                          const char *const *job_ids, const char *const *tos, size_t n,
                          mf_coolsms_outcome *outcomes, mf_coolsms_result *res);

/* Decode a list response body of a 2xx status into out (initialised by the caller with
 * zeroes or by a previous mf_coolsms_list_result_free). Returns 0 or -1 with err. */
int mf_coolsms_decode_list(const char *body, size_t body_len, mf_coolsms_list_result *out,
                           mf_err *err);

/* Human-readable names for logs. */
const char *mf_coolsms_class_name(mf_coolsms_class c);
const char *mf_coolsms_state_name(mf_coolsms_state s);

#endif

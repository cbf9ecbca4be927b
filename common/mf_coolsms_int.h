/* mf_coolsms_int: what the files of the CoolSMS client share (not for callers). */
#ifndef MF_COOLSMS_INT_H
#define MF_COOLSMS_INT_H

/*
 * The client is one module in five files: mf_coolsms.c (the handle and the asynchronous
 * transport over curl multi), mf_coolsms_auth.c (HMAC signature, date, salt),
 * mf_coolsms_body.c (the JSON bodies of the send requests), mf_coolsms_decode.c (status
 * classes, Retry-After, the streaming send-response decoder, the list decoder) and
 * mf_coolsms_blocking.c (the blocking calls on the handle's own connection: list, group
 * info, quota, 080 opt-out list). Callers include mf_coolsms.h only.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <time.h>

#include "mf_coolsms.h"

#define SEND_PATH "/messages/v4/send-many/detail"
#define LIST_PATH "/messages/v4/list"
#define GROUPS_PATH "/messages/v4/groups"
#define BLACK_PATH "/iam/v1/black"
#define QUOTA_PATH "/quota/v1/me"
#define DEFAULT_REQUEST_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_IN_FLIGHT 4
#define MAX_IN_FLIGHT 64
#define DEFAULT_USER_AGENT "msgfleet-coolsms/1"
#define BODY_MAX ((size_t)256 * 1024 * 1024)
#define RESP_MAX ((size_t)64 * 1024 * 1024)
#define AUTH_MAX 512
#define ERR_TEXT_MAX 200 /* bytes of a text error body kept, like the SDK */

/* One concurrent send request: its easy handle and every buffer it needs, reused. */
typedef struct slot {
    int busy;
    CURL *easy;
    struct curl_slist *headers;
    mf_buf body;
    mf_buf resp;
    mf_buf url;           /* this request's URL */
    mf_buf ids;           /* the job ids, each NUL-terminated, back to back */
    const char **id_ptrs; /* n pointers into ids */
    mf_buf tos;           /* group add: the recipients, like ids */
    const char **to_ptrs; /* n pointers into tos (group add only) */
    mf_coolsms_op op;
    mf_coolsms_outcome *outcomes;
    size_t cap; /* entries allocated in id_ptrs and outcomes */
    size_t n;
    uint64_t request_id;
    mf_coolsms_done_fn cb;
    void *user;
    long retry_after_s;
    struct timespec started;
    char errbuf[CURL_ERROR_SIZE];
} slot;

struct mf_coolsms {
    char *base_url;
    char *api_key;
    char *api_secret;
    char *user_agent;
    char *send_url;
    long request_timeout_ms;
    long connect_timeout_ms;
    int n_slots;
    int in_flight;
    uint64_t next_id;
    CURLM *multi;
    slot *slots;
    CURL *list_easy;
    mf_buf list_url;
    mf_buf list_resp;
    long list_retry_after_s;
    char list_errbuf[CURL_ERROR_SIZE];
};

/* Open-addressing map from job id to message index (one allocation per request). */
typedef struct idmap {
    size_t *tab; /* index + 1, 0 = empty */
    size_t mask;
    const char *const *ids;
} idmap;

/* ---- mf_coolsms_decode.c ---- */

/* Copy src (may be NULL: "") into dst of size sz, cut at a UTF-8 character boundary, control
 * characters as spaces and malformed bytes as '?' (always safe to log as JSON). */
void mf_coolsms_copy_cstr(char *dst, size_t sz, const char *src);
/* String member of a JSON object, or NULL (borrowed from obj). */
const char *mf_coolsms_jstr(const json_t *obj, const char *key);
/* Copy a member that may be a string or a number (status codes come as either); "" else. */
void mf_coolsms_jcopy(char *dst, size_t sz, const json_t *obj, const char *key);
/* Build the map over ids[0..n) (borrowed; free m->tab afterwards); -1 on allocation failure,
 * else 0 with the index of the first repeated id in *dup (SIZE_MAX when none). */
int mf_coolsms_idmap_build(idmap *m, const char *const *ids, size_t n, size_t *dup);
/* Index of id in the map, or SIZE_MAX. */
size_t mf_coolsms_idmap_find(const idmap *m, const char *id);
/* OK for 2xx, TRANSIENT for 5xx, 408 and 429, PERMANENT for the rest. */
mf_coolsms_class mf_coolsms_classify_status(long status);
/* 403 DuplicatedSignature: a resend of the same bytes (in doubt, not refused). */
int mf_coolsms_is_duplicated_signature(long status, const char *code);
/* errorCode/errorMessage of a JSON error body, else "HTTP_<status>" and the start of the
 * text. */
void mf_coolsms_decode_error_body(long status, const char *body, size_t len, char *code,
                                  size_t code_sz, char *msg, size_t msg_sz);
/* Retry-After seconds as milliseconds, clamped to MF_COOLSMS_RETRY_AFTER_MAX_S; -1 stays. */
long mf_coolsms_retry_after_ms(long s);

/* ---- mf_coolsms_auth.c ---- */

/* "Authorization: ..." for now, with a fresh salt, into line (size bytes). */
int mf_coolsms_auth_line(const mf_coolsms *h, char *line, size_t size, mf_err *err);

/* ---- mf_coolsms_body.c ---- */

/* Append {"messages":[...<tail> for msgs to body, validated like mf_coolsms_submit (except
 * for job_id uniqueness); tail closes the array and the object. */
int mf_coolsms_build_messages(mf_buf *body, const mf_coolsms_msg *msgs, size_t n, const char *tail,
                              mf_err *err);

/* ---- mf_coolsms.c ---- */

/* Headers of one request, with a fresh signature; free with curl_slist_free_all. NULL with
 * err on failure. */
struct curl_slist *mf_coolsms_make_headers(const mf_coolsms *h, int with_body, mf_err *err);
/* How a curl transfer on e ended (c), its message written into msg. */
void mf_coolsms_fill_transport(CURL *e, CURLcode c, const char *errbuf, mf_coolsms_transport *tr,
                               char *msg, size_t msg_sz);
/* A group id goes into the URL path: only letters and digits, as the provider issues them. */
int mf_coolsms_check_group_id(const char *gid, mf_err *err);
/* base_url + path [+ "/" + group id + suffix] into buf. */
int mf_coolsms_build_url(const mf_coolsms *h, mf_buf *buf, const char *path, const char *gid,
                         const char *suffix, mf_err *err);

#endif

/* mf_codec: msgpack wire format of the Kafka topics (job, result, dlq, event), strict decoders. */
#ifndef MF_CODEC_H
#define MF_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_uuid.h"

/*
 * Every message is one msgpack map with short stable string keys and `v` (schema version,
 * MF_CODEC_VERSION). The field tables are in schemas/kafka/{job,result,dlq,event}.md.
 *
 * Encoding: mf_codec_encode_*() overwrite a caller-owned msgpack_sbuffer (initialise it once
 * with msgpack_sbuffer_init, reuse it for every message: it only allocates while it grows,
 * free it with msgpack_sbuffer_destroy). The struct is only read. Every string must be valid
 * UTF-8 without NUL bytes; NULL string pointers are encoded as "" (required keys) or left out
 * (optional keys). On failure the buffer content is unspecified.
 *
 * Decoding: mf_codec_decode_*() check everything (top-level map, known version, required keys
 * present, types, 16-byte uuids, integer ranges, strings valid UTF-8 without NUL, no duplicate
 * keys, no trailing bytes) and fail with -1 and a specific message, e.g.
 * `missing required key "to"`, `key "id": expected 16-byte bin, got 15 bytes`,
 * `unsupported schema version 2`. Unknown keys are ignored (room for optional additions);
 * unknown versions are not. The input bytes may be anything (fuzzed): no crash, no
 * allocation proportional to a length the input merely claims.
 *
 * Lifetime: decoded strings (NUL-terminated) and variable arrays live in the decoder
 * (mf_codec) that produced them, NOT in the input bytes: the input may be released right after
 * the call. They stay valid until mf_codec_reset() or mf_codec_free(). So a consumer decodes a
 * whole batch into one mf_codec, uses it, then resets it; memory is reused across batches
 * (bump allocation in a msgpack_zone, no malloc per field). On a failed decode the output
 * struct is unspecified, but earlier decoded values stay valid.
 *
 * An mf_codec is not thread-safe; use one per thread.
 */
#define MF_CODEC_VERSION 1

/* Largest encoded message the decoders accept (the Kafka default message.max.bytes is 1 MB). */
#define MF_CODEC_MAX_BYTES ((size_t)4 * 1024 * 1024)

/* Message kinds. The `retry` topic carries job messages. */
typedef enum mf_msg_kind { MF_MSG_JOB = 0, MF_MSG_RESULT, MF_MSG_DLQ, MF_MSG_EVENT } mf_msg_kind;

/* Map a topic base name (without prefix) or kind name to its kind: "jobs", "job", "jobs.tx",
 * "retry" -> MF_MSG_JOB; "results"/"result"/"results.tx"; "dlq";
 * "events"/"event". Returns 0 or -1. */
int mf_codec_kind_from_name(const char *name, mf_msg_kind *out, mf_err *err);

/* One string -> string pair (template variables, event attributes). */
typedef struct mf_codec_kv {
    const char *key;
    const char *val;
} mf_codec_kv;

/* A string map: n pairs at items (items may be NULL when n == 0). Keys are unique (the decoder
 * rejects duplicates; the encoder trusts the caller). */
typedef struct mf_codec_map {
    const mf_codec_kv *items;
    size_t n;
} mf_codec_map;

/* Kind of message (seed CHECK on message_logs.message_type). */
typedef enum mf_msg_type {
    MF_TYPE_NONE = 0, /* optional field absent (only for mf_result.channel) */
    MF_TYPE_SMS,
    MF_TYPE_LMS,
    MF_TYPE_KAKAO
} mf_msg_type;

/* Wire names "sms", "lms", "kakao" (NULL for MF_TYPE_NONE and out-of-range values). */
const char *mf_msg_type_name(mf_msg_type t);

/* Outcome of a job attempt. Order of events for one job id: `accepted` first (the provider
 * took it), later exactly one of `delivered` / `undelivered` (the carrier's final report).
 * `failed` (never accepted: invalid number, rejected content, retries exhausted) and
 * `cancelled` (run cancelled before sending) are final by themselves. */
typedef enum mf_result_status {
    MF_RESULT_ACCEPTED = 1,
    MF_RESULT_DELIVERED,
    MF_RESULT_UNDELIVERED,
    MF_RESULT_FAILED,
    MF_RESULT_CANCELLED
} mf_result_status;

/* Wire names "accepted", "delivered", "undelivered", "failed", "cancelled" (NULL otherwise). */
const char *mf_result_status_name(mf_result_status s);

/* 1 when no later result for the same job id is expected. */
int mf_result_status_is_final(mf_result_status s);

/* Topic `jobs` (and `retry`), key = normalised phone. */
typedef struct mf_job {
    mf_uuid id;            /* id   deterministic job id (mf_uuid_job_id) */
    mf_uuid run;           /* run  workflow_runs.id */
    mf_uuid wf;            /* wf   workflows.id */
    mf_uuid tpl;           /* tpl  message_templates.id */
    int32_t attempt;       /* att  run attempt, >= 0 */
    const char *to;        /* to   normalised phone, required, non-empty */
    const char *name;      /* name recipient name, may be "" */
    mf_codec_map vars;     /* vars resolved template variables */
    int64_t not_before_ms; /* nb   unix ms, 0 = now */
    int64_t created_ms;    /* ts   unix ms */
    int32_t night_consent; /* nc   1: the recipient consented to advertising at night (optional,
                            * written only when 1; absent = 0) */
    int32_t rate_reserved; /* rs   1: its workflow's send-rate token is already reserved (set
                            * by the sender on the retry topic; optional, written only when 1) */
    int32_t lane_tx;       /* tx   1: a job of the priority lane (read from jobs.tx) put on the
                            * retry topic by the sender, whose results go to results.tx
                            * (optional, written only when 1; absent = 0) */
} mf_job;

/* Topic `results`, key = job id text. */
typedef struct mf_result {
    mf_uuid id;
    mf_uuid run;
    mf_uuid wf;
    mf_uuid tpl;
    int32_t attempt;             /* att */
    mf_result_status status;     /* st */
    const char *to;              /* to */
    const char *name;            /* name (optional) */
    mf_msg_type type;            /* type: message_logs.message_type */
    mf_msg_type channel;         /* ch: what actually carried it (optional, NONE if not sent) */
    const char *text;            /* text rendered content (optional) */
    mf_codec_map vars;           /* vars actually used (optional) */
    const char *provider_msg_id; /* pmid (optional) */
    const char *group_id;        /* gid (optional) */
    const char *code;            /* code provider status/error code (optional) */
    const char *msg;             /* msg  status/error message (optional) */
    int64_t ts_ms;               /* ts   event time */
    int64_t sent_ms;             /* sat  sent_at, 0 = unknown (optional) */
    int32_t reported;            /* rpt  1: a delivery report (webhook) gave this final outcome
                                  * (optional, 0 = absent) */
} mf_result;

/* Topic `dlq`, key = original key. */
typedef struct mf_dlq {
    const char *src;    /* src    full source topic name */
    int32_t partition;  /* part   >= 0, or -1 when unknown (failed before produce) */
    int64_t offset;     /* off    >= 0, or -1 when unknown */
    const char *reason; /* reason the mf_err message */
    const void *key;    /* key    original key bytes (NULL = no key: the field is left out) */
    size_t key_len;
    const void *val; /* val    original value bytes (may be empty) */
    size_t val_len;
    int64_t ts_ms; /* ts     when it was dead-lettered */
} mf_dlq;

/* Topic `events`, key = customer id. */
typedef struct mf_event {
    const char *type;   /* type  event name */
    const char *cust;   /* cust  customer id text */
    mf_codec_map attrs; /* attrs */
    int64_t ts_ms;      /* ts */
    const char *id;     /* id    event id, optional on the wire (the planner requires it:
                         * jobs derive their ids from it); NULL/"" = absent */
    const char *to;     /* to    recipient phone, optional (else the workflow's target query
                         * bound to cust finds it); NULL/"" = absent */
} mf_event;

int mf_codec_encode_job(msgpack_sbuffer *buf, const mf_job *job, mf_err *err);
int mf_codec_encode_result(msgpack_sbuffer *buf, const mf_result *res, mf_err *err);
int mf_codec_encode_dlq(msgpack_sbuffer *buf, const mf_dlq *dlq, mf_err *err);
int mf_codec_encode_event(msgpack_sbuffer *buf, const mf_event *ev, mf_err *err);

/* Decoder context (see Lifetime above). Returns NULL when out of memory. */
typedef struct mf_codec mf_codec;

mf_codec *mf_codec_new(mf_err *err);
void mf_codec_free(mf_codec *c);

/* Invalidate everything decoded so far and reuse the memory. */
void mf_codec_reset(mf_codec *c);

int mf_codec_decode_job(mf_codec *c, const void *bytes, size_t len, mf_job *out, mf_err *err);
int mf_codec_decode_result(mf_codec *c, const void *bytes, size_t len, mf_result *out, mf_err *err);
int mf_codec_decode_dlq(mf_codec *c, const void *bytes, size_t len, mf_dlq *out, mf_err *err);
int mf_codec_decode_event(mf_codec *c, const void *bytes, size_t len, mf_event *out, mf_err *err);

/* Look a key up in a decoded map; NULL when absent. Linear (maps are small). */
const char *mf_codec_map_get(const mf_codec_map *m, const char *key);

/* ---- the JSON printer (mf_codec_json.c): msgfleet tail, the fuzz round-trip oracle ---- */

/*
 * Append one JSON object (no newline) for a message of the given kind to `out`: it is first
 * validated by the strict decoder (a message the consumers would dead-letter fails here with
 * the same message), then printed key by key in wire order, unknown keys included: uuid keys
 * (id, run, wf, tpl) as text, other bin values (dlq key/val) as base64, maps as objects (a
 * key that is not a str, which the nested maps of unknown keys may hold, as the string of its
 * JSON text: the integer key 7 as "7"). Every message that decodes prints.
 * On failure `out` is unchanged. Uses the decoder's memory like a decode (reset afterwards).
 */
int mf_codec_to_json(mf_codec *c, mf_msg_kind kind, const void *bytes, size_t len, mf_buf *out,
                     mf_err *err);

#endif

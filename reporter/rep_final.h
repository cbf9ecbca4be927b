/* rep_final: a provider's final status of a sent message as a delivered/undelivered result. */
#ifndef REP_FINAL_H
#define REP_FINAL_H

#include <libpq-fe.h>
#include <msgpack.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "mf_kafka.h"

/*
 * The final-status poller (rep_status) and the webhook receiver (rep_webhook) learn the same
 * thing in two ways: the provider's status code of a message the fleet recorded as `sent`.
 * Both read the message's row with REP_FINAL_COLS (message_logs m JOIN workflow_runs r) and
 * turn row + report into the same result here, so the batch writer sees one kind of later
 * outcome whatever its source (docs/reporter.md, "Final statuses").
 */

/* The columns, in the order of the REP_FINAL_* indexes below. */
/* clang-format off */
#define REP_FINAL_COLS                                                                         \
    "m.id, m.workflow_run_id, r.workflow_id, m.template_id, COALESCE(m.job_attempt, 0),"       \
    " m.recipient_phone, m.message_type, m.channel, m.provider_message_id,"                    \
    " m.provider_group_id, floor(extract(epoch FROM m.sent_at) * 1000)::bigint, m.status"
/* clang-format on */

enum {
    REP_FINAL_ID,
    REP_FINAL_RUN,
    REP_FINAL_WF,
    REP_FINAL_TPL,
    REP_FINAL_ATT,
    REP_FINAL_TO,
    REP_FINAL_TYPE,
    REP_FINAL_CH,
    REP_FINAL_PMID,
    REP_FINAL_GID,
    REP_FINAL_SENT,
    REP_FINAL_STATUS,
    REP_FINAL_NCOLS
};

/* What the provider said about one message. Strings may be NULL or "". */
typedef struct rep_final_report {
    const char *message_id;  /* the provider's messageId */
    const char *to;          /* used only when the row has no recipient */
    const char *status_code; /* "4000" delivered; see rep_final_is_final */
    const char *status_message;
    const char *date_received; /* ISO 8601; the first of these three that parses is the */
    const char *date_reported; /* result's time (never before sent_at); none: now */
    const char *date_processed;
    const char *date_created; /* ISO 8601: when the provider registered the message, a little
                               * before the fleet recorded it sent; a result built without
                               * the row carries it as its send time (rep_final_produce_bare) */
    mf_msg_type channel;      /* what carried it when the report says (an alimtalk that fell
                                 * back to SMS/LMS); MF_TYPE_NONE: the row's channel */
    int via_webhook;          /* 1: a delivery report the provider posted (the result's `rpt`: the
                          * reporters track how far these are applied), 0: the poller asked */
} rep_final_report;

/* 1 for a final status code: anything but "" (unknown), 2000 (accepted) and 3000 (at the
 * carrier). 4000 is delivered; every other final code is a failure. */
int rep_final_is_final(const char *code);

/* "2024-01-02T03:04:05.678Z", "+09:00" or no zone (UTC), 'T' or ' ' between date and time
 * -> unix ms; -1 when s is NULL or unparsable. */
long long rep_final_parse_iso_ms(const char *s);

/* SOLAPI's message type ("SMS", "LMS", "MMS", "ATA", "CTA", ...; any case) as the fleet's
 * channel: SMS -> sms, LMS/MMS -> lms, ATA/CTA/CTI -> kakao, else MF_TYPE_NONE. */
mf_msg_type rep_final_channel_of(const char *provider_type);

/*
 * Encode the result for row `row` of q (REP_FINAL_COLS) and the final report rep (its status
 * code must be final) into sbuf, and queue it for topic keyed by the job id, on the partition
 * of the row's provider group when it names one (mf_kafka_produce_affine), with msg_opaque
 * for the delivery report. Returns 0 or -1 with err.
 */
int rep_final_produce(mf_kafka_producer *prod, const char *topic, msgpack_sbuffer *sbuf,
                      const PGresult *q, int row, const rep_final_report *rep, void *msg_opaque,
                      mf_err *err);

/*
 * The same result built from the report alone, without the message's row: for job `job` of
 * run `run` (workflow `wf`, may be NULL), keyed by the job id and on the partition of
 * group_id like the job's other results.
 * The receiver produces most reports this way (docs/reporter.md, "Delivery-report webhook"):
 * the batch writer's update checks what the row would have told (still `sent`, the same
 * provider message, the same run), and keeps a result whose row is not recorded yet until it
 * is ("Early reports"). The message type is the report's (SMS when it names none); the channel
 * is rep->channel; the send time the report's dateCreated (0 without one). 0 or -1 with err.
 */
int rep_final_produce_bare(mf_kafka_producer *prod, const char *topic, msgpack_sbuffer *sbuf,
                           const char *job, const char *run, const char *wf,
                           const char *provider_type, const char *group_id,
                           const rep_final_report *rep, void *msg_opaque, mf_err *err);

#endif

/* rep_final: a provider's final status of a sent message as a delivered/undelivered result. */
#include "rep_final.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mf_clock.h"
#include "mf_uuid.h"

int rep_final_is_final(const char *code)
{
    return code != NULL && code[0] != '\0' && strcmp(code, "2000") != 0 &&
           strcmp(code, "3000") != 0;
}

long long rep_final_parse_iso_ms(const char *s)
{
    int64_t ms;

    /* The provider's dates always carry the time of day to the second: a date alone or a
     * time without seconds is refused here, as it always was. */
    if (s == NULL || strlen(s) < 19 || (s[10] != 'T' && s[10] != ' ') || s[16] != ':' ||
        mf_clock_parse_iso8601(s, &ms) != 0)
        return -1;
    return (long long)ms;
}

mf_msg_type rep_final_channel_of(const char *t)
{
    if (t == NULL)
        return MF_TYPE_NONE;
    if (strcasecmp(t, "SMS") == 0)
        return MF_TYPE_SMS;
    if (strcasecmp(t, "LMS") == 0 || strcasecmp(t, "MMS") == 0)
        return MF_TYPE_LMS;
    if (strcasecmp(t, "ATA") == 0 || strcasecmp(t, "CTA") == 0 || strcasecmp(t, "CTI") == 0)
        return MF_TYPE_KAKAO;
    return MF_TYPE_NONE;
}

/* message_logs' own names ("sms", "lms", "kakao"). */
static mf_msg_type type_from_row(const PGresult *q, int row, int col)
{
    const char *s = PQgetisnull(q, row, col) ? "" : PQgetvalue(q, row, col);

    if (strcmp(s, "sms") == 0)
        return MF_TYPE_SMS;
    if (strcmp(s, "lms") == 0)
        return MF_TYPE_LMS;
    if (strcmp(s, "kakao") == 0)
        return MF_TYPE_KAKAO;
    return MF_TYPE_NONE;
}

static void uuid_or_nil(const PGresult *q, int row, int col, mf_uuid *u)
{
    memset(u, 0, sizeof(*u));
    if (!PQgetisnull(q, row, col))
        (void)mf_uuid_parse(PQgetvalue(q, row, col), u, NULL);
}

static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The report's time: received, else reported, else processed, else now. */
static long long report_ms(const rep_final_report *rep)
{
    const char *dates[3] = {rep->date_received, rep->date_reported, rep->date_processed};

    for (size_t i = 0; i < 3; i++) {
        long long ms = nonempty(dates[i]) ? rep_final_parse_iso_ms(dates[i]) : -1;

        if (ms > 0)
            return ms;
    }
    return mf_clock_wall_ms();
}

int rep_final_produce(mf_kafka_producer *prod, const char *topic, msgpack_sbuffer *sbuf,
                      const PGresult *q, int row, const rep_final_report *rep, void *msg_opaque,
                      mf_err *err)
{
    mf_result r;

    if (!rep_final_is_final(rep->status_code))
        return mf_err_set(err, "status code \"%s\" is not final",
                          rep->status_code ? rep->status_code : "");
    memset(&r, 0, sizeof(r));
    uuid_or_nil(q, row, REP_FINAL_ID, &r.id);
    uuid_or_nil(q, row, REP_FINAL_RUN, &r.run);
    uuid_or_nil(q, row, REP_FINAL_WF, &r.wf);
    uuid_or_nil(q, row, REP_FINAL_TPL, &r.tpl);
    r.attempt = (int32_t)strtol(PQgetvalue(q, row, REP_FINAL_ATT), NULL, 10);
    r.status = strcmp(rep->status_code, "4000") == 0 ? MF_RESULT_DELIVERED : MF_RESULT_UNDELIVERED;
    r.to = PQgetvalue(q, row, REP_FINAL_TO);
    if (r.to[0] == '\0')
        r.to = nonempty(rep->to) ? rep->to : "unknown";
    r.type = type_from_row(q, row, REP_FINAL_TYPE);
    if (r.type == MF_TYPE_NONE)
        r.type = MF_TYPE_SMS;
    r.channel = rep->channel != MF_TYPE_NONE ? rep->channel : type_from_row(q, row, REP_FINAL_CH);
    r.provider_msg_id = nonempty(rep->message_id);
    r.group_id = PQgetisnull(q, row, REP_FINAL_GID) ? NULL : PQgetvalue(q, row, REP_FINAL_GID);
    r.code = rep->status_code;
    r.msg = nonempty(rep->status_message);
    r.ts_ms = report_ms(rep);
    r.reported = rep->via_webhook ? 1 : 0;
    r.sent_ms = PQgetisnull(q, row, REP_FINAL_SENT)
                    ? 0
                    : strtoll(PQgetvalue(q, row, REP_FINAL_SENT), NULL, 10);
    if (r.sent_ms > 0 && r.ts_ms < r.sent_ms)
        r.ts_ms = r.sent_ms;
    if (mf_codec_encode_result(sbuf, &r, err) != 0)
        return -1;
    return mf_kafka_produce_affine(prod, topic, r.group_id, PQgetvalue(q, row, REP_FINAL_ID),
                                   MF_UUID_STR_LEN, sbuf->data, sbuf->size, msg_opaque, 10000, err);
}

int rep_final_produce_bare(mf_kafka_producer *prod, const char *topic, msgpack_sbuffer *sbuf,
                           const char *job, const char *run, const char *wf,
                           const char *provider_type, const char *group_id,
                           const rep_final_report *rep, void *msg_opaque, mf_err *err)
{
    mf_result r;

    if (!rep_final_is_final(rep->status_code))
        return mf_err_set(err, "status code \"%s\" is not final",
                          rep->status_code ? rep->status_code : "");
    memset(&r, 0, sizeof(r));
    if (mf_uuid_parse(job, &r.id, err) != 0 || mf_uuid_parse(run, &r.run, err) != 0)
        return -1;
    if (wf != NULL)
        (void)mf_uuid_parse(wf, &r.wf, NULL);
    r.status = strcmp(rep->status_code, "4000") == 0 ? MF_RESULT_DELIVERED : MF_RESULT_UNDELIVERED;
    r.to = nonempty(rep->to) ? rep->to : "unknown";
    r.type = rep_final_channel_of(provider_type);
    if (r.type == MF_TYPE_NONE)
        r.type = MF_TYPE_SMS;
    r.channel = rep->channel;
    r.provider_msg_id = nonempty(rep->message_id);
    r.group_id = nonempty(group_id);
    r.code = rep->status_code;
    r.msg = nonempty(rep->status_message);
    r.ts_ms = report_ms(rep);
    r.reported = rep->via_webhook ? 1 : 0;
    /* The send as the provider saw it (never after the fleet's own sent_at): how far the
     * reporters applied reports is measured by it (the status poller's due line). */
    r.sent_ms = nonempty(rep->date_created) ? rep_final_parse_iso_ms(rep->date_created) : 0;
    if (r.sent_ms < 0)
        r.sent_ms = 0;
    if (mf_codec_encode_result(sbuf, &r, err) != 0)
        return -1;
    return mf_kafka_produce_affine(prod, topic, r.group_id, job, MF_UUID_STR_LEN, sbuf->data,
                                   sbuf->size, msg_opaque, 10000, err);
}

/* sender_produce: what the sender writes to Kafka (results, retry jobs, dead letters) and the
 * delivery reports of the batch. */
#include "sender_produce.h"

#include <string.h>

#include "mf_clock.h"
#include "mf_dlq.h"
#include "sender_ctx.h"

#define FLUSH_STEP_MS 1000

void sender_produce_on_delivery(void *ctx, const mf_kafka_dr *dr)
{
    sender_ctx *s = ctx;

    s->acks_pending--;
    if (!dr->ok && !s->produce_failed) {
        s->produce_failed = 1;
        snprintf(s->produce_error, sizeof(s->produce_error), "%s: %s", dr->topic,
                 dr->error ? dr->error : "delivery failed");
    }
}

/* affinity: NULL (the key's partition) or the partition's affinity (mf_kafka_produce_affine) */
static int produce_on(sender_ctx *s, const char *topic, const char *affinity, const void *key,
                      size_t klen, const void *val, size_t vlen, mf_err *err)
{
    if (mf_kafka_produce_affine(s->prod, topic, affinity, key, klen, val, vlen, NULL, 30000, err) !=
        0)
        return mf_err_prefix(err, "could not produce to \"%s\"", topic);
    s->acks_pending++;
    return 0;
}

int sender_produce(sender_ctx *s, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, mf_err *err)
{
    return produce_on(s, topic, NULL, key, klen, val, vlen, err);
}

int sender_produce_dlq(sender_ctx *s, size_t i, const char *reason, mf_err *err)
{
    const mf_kafka_msg *m = &s->msgs[i];

    if (mf_dlq_encode_msg(&s->sbuf, m, reason, err) != 0)
        return -1;
    s->n_dlq++;
    mf_metric_add(s->obs.dlq, NULL, 1);
    MF_LOG(s->log, MF_LOG_WARN, "message dead-lettered", MF_KV_S("topic", m->topic),
           MF_KV_I("partition", m->partition), MF_KV_I("offset", m->offset),
           MF_KV_S("reason", reason));
    return sender_produce(s, s->t_dlq, m->key, m->key_len, s->sbuf.data, s->sbuf.size, err);
}

/* topic: the results topic of the slot's lane (results.tx for a job of jobs.tx, and for one
 * of the retry topic that came from there: its tx flag). */
static int produce_result(sender_ctx *s, sender_slot *sl, const char *topic, mf_err *err)
{
    char key[MF_UUID_STR_SIZE];
    mf_result r;

    memset(&r, 0, sizeof(r));
    r.id = sl->job.id;
    r.run = sl->job.run;
    r.wf = sl->job.wf;
    r.tpl = sl->job.tpl;
    r.attempt = sl->job.attempt;
    r.status = sl->st;
    r.to = sl->job.to;
    r.name = sl->job.name;
    r.type = sl->type;
    r.channel = sl->ch;
    r.text = sl->text;
    r.vars.items = sl->used;
    r.vars.n = sl->nused;
    r.provider_msg_id = sl->pmid;
    r.group_id = sl->gid;
    r.code = sl->code;
    r.msg = sl->msg;
    r.ts_ms = mf_clock_wall_ms();
    r.sent_ms = sl->sent_ms;
    if (mf_codec_encode_result(&s->sbuf, &r, err) != 0)
        return mf_err_prefix(err, "could not encode the result of job %s",
                             mf_uuid_format(&sl->job.id, key));
    mf_uuid_format(&sl->job.id, key);
    if (sl->st == MF_RESULT_ACCEPTED)
        s->n_accepted++;
    else if (sl->st == MF_RESULT_CANCELLED)
        s->n_cancelled++;
    else
        s->n_failed++;
    if (!sl->reused)
        sender_tally_add(&s->obs, &s->tally, mf_result_status_name(sl->st),
                         sl->type == MF_TYPE_LMS     ? "lms"
                         : sl->type == MF_TYPE_KAKAO ? "kakao"
                                                     : "sms",
                         sl->st == MF_RESULT_ACCEPTED ? "" : sl->code);
    sl->state = SLOT_DONE;
    /* a message sent in a provider group: on its group's partition, where the group's delivery
     * reports go too (the webhook receiver), so the reporter holding it sees them */
    return produce_on(s, topic, r.group_id, key, MF_UUID_STR_LEN, s->sbuf.data, s->sbuf.size, err);
}

int sender_produce_finals(sender_ctx *s, mf_err *err)
{
    int rc = sender_arena_check(&s->arena, err);

    for (size_t i = 0; i < s->n && rc == 0; i++)
        if (s->slots[i].state == SLOT_FINAL &&
            produce_result(s, &s->slots[i],
                           s->slots[i].job.lane_tx ? s->t_results_tx : s->t_results, err) != 0)
            rc = -1;
    sender_tally_flush(&s->obs, &s->tally);
    mf_kafka_poll(s->prod, 0);
    return rc;
}

int sender_produce_retry(sender_ctx *s, sender_slot *sl, int64_t nb_ms, mf_err *err)
{
    char key[MF_UUID_STR_SIZE];
    mf_job j = sl->job;

    j.not_before_ms = nb_ms;
    if (mf_codec_encode_job(&s->sbuf, &j, err) != 0)
        return -1;
    mf_uuid_format(&j.id, key);
    return sender_produce(s, s->t_retry, key, MF_UUID_STR_LEN, s->sbuf.data, s->sbuf.size, err);
}

int sender_produce_await(sender_ctx *s, mf_err *err)
{
    int waited = 0;

    while (mf_kafka_flush(s->prod, FLUSH_STEP_MS, err) != 0) {
        if (s->produce_failed || mf_kafka_producer_fatal(s->prod, err))
            break;
        if (waited++ == 5) {
            MF_LOG(s->log, MF_LOG_WARN, "waiting for Kafka to acknowledge results",
                   MF_KV_S("error", err->msg));
            sender_obs_dep(&s->obs, "kafka", 0, err->msg);
        }
        if (sender_ctx_past_deadline(s))
            return 1;
    }
    if (mf_kafka_producer_fatal(s->prod, err))
        return -1;
    if (s->produce_failed)
        return mf_err_set(err, "could not deliver to Kafka: %s", s->produce_error);
    sender_obs_dep(&s->obs, "kafka", 1, NULL);
    return 0;
}

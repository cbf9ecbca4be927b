/* mf_dlq: a consumed message that cannot be handled, encoded as a dead letter (topic dlq). */
#include "mf_dlq.h"

#include <string.h>

#include "mf_clock.h"
#include "mf_codec.h"

int mf_dlq_encode_msg(msgpack_sbuffer *buf, const mf_kafka_msg *m, const char *reason, mf_err *err)
{
    mf_dlq d;

    memset(&d, 0, sizeof(d));
    d.src = m->topic;
    d.partition = m->partition;
    d.offset = m->offset;
    d.reason = reason;
    d.key = m->key;
    d.key_len = m->key_len;
    d.val = m->val != NULL ? m->val : "";
    d.val_len = m->val_len;
    d.ts_ms = mf_clock_wall_ms();
    return mf_codec_encode_dlq(buf, &d, err);
}

/* mf_codec_encode: the msgpack encoders of the Kafka topics' messages (job, result, dlq, event). */
#include "mf_codec_int.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* encoding                                                                                 */

static int pack_key(msgpack_packer *pk, const char *key)
{
    return msgpack_pack_str_with_body(pk, key, strlen(key));
}

static int pack_str(msgpack_packer *pk, const char *key, const char *s, mf_err *err)
{
    size_t n;

    if (s == NULL)
        s = "";
    n = strlen(s);
    if (mf_codec_check_str(key, s, n, err) < 0)
        return -1;
    if (pack_key(pk, key) != 0 || msgpack_pack_str_with_body(pk, s, n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_uuid(msgpack_packer *pk, const char *key, const mf_uuid *u, mf_err *err)
{
    if (pack_key(pk, key) != 0 || msgpack_pack_bin_with_body(pk, u->b, sizeof(u->b)) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_i64(msgpack_packer *pk, const char *key, int64_t v, mf_err *err)
{
    if (pack_key(pk, key) != 0 || msgpack_pack_int64(pk, v) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_bin(msgpack_packer *pk, const char *key, const void *p, size_t n, mf_err *err)
{
    if (n > UINT32_MAX)
        return mf_err_set(err, "key \"%s\": value too long", key);
    if (pack_key(pk, key) != 0 || msgpack_pack_bin_with_body(pk, n > 0 ? p : "", n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    return 0;
}

static int pack_map(msgpack_packer *pk, const char *key, const mf_codec_map *m, mf_err *err)
{
    size_t i;

    if (m->n > MF_CODEC_MAP_MAX_PAIRS)
        return mf_err_set(err, "key \"%s\": %zu pairs, at most %d allowed", key, m->n,
                          MF_CODEC_MAP_MAX_PAIRS);
    if (pack_key(pk, key) != 0 || msgpack_pack_map(pk, m->n) != 0)
        return mf_err_set(err, "key \"%s\": could not write", key);
    for (i = 0; i < m->n; i++) {
        const char *k = m->items[i].key != NULL ? m->items[i].key : "";
        const char *v = m->items[i].val != NULL ? m->items[i].val : "";
        size_t kn = strlen(k), vn = strlen(v);

        if (mf_codec_check_str(key, k, kn, err) < 0 || mf_codec_check_str(key, v, vn, err) < 0)
            return -1;
        if (msgpack_pack_str_with_body(pk, k, kn) != 0 ||
            msgpack_pack_str_with_body(pk, v, vn) != 0)
            return mf_err_set(err, "key \"%s\": could not write", key);
    }
    return 0;
}

static int has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void packer_start(msgpack_packer *pk, msgpack_sbuffer *buf)
{
    buf->size = 0;
    msgpack_packer_init(pk, buf, msgpack_sbuffer_write);
}

static int pack_head(msgpack_packer *pk, size_t nkeys, mf_err *err)
{
    if (msgpack_pack_map(pk, nkeys) != 0)
        return mf_err_set(err, "could not write message header");
    return pack_i64(pk, "v", MF_CODEC_VERSION, err);
}

int mf_codec_encode_job(msgpack_sbuffer *buf, const mf_job *job, mf_err *err)
{
    msgpack_packer pk;

    if (!has(job->to))
        return mf_err_set(err, "could not encode job: key \"to\" is empty");
    if (job->attempt < 0 || job->not_before_ms < 0 || job->created_ms < 0)
        return mf_err_set(err, "could not encode job: negative att, nb or ts");
    if ((job->night_consent != 0 && job->night_consent != 1) ||
        (job->rate_reserved != 0 && job->rate_reserved != 1) ||
        (job->lane_tx != 0 && job->lane_tx != 1))
        return mf_err_set(err, "could not encode job: nc, rs and tx must be 0 or 1");
    packer_start(&pk, buf);
    if (pack_head(&pk,
                  11 + (size_t)job->night_consent + (size_t)job->rate_reserved +
                      (size_t)job->lane_tx,
                  err) < 0 ||
        pack_uuid(&pk, "id", &job->id, err) < 0 || pack_uuid(&pk, "run", &job->run, err) < 0 ||
        pack_uuid(&pk, "wf", &job->wf, err) < 0 || pack_uuid(&pk, "tpl", &job->tpl, err) < 0 ||
        pack_i64(&pk, "att", job->attempt, err) < 0 || pack_str(&pk, "to", job->to, err) < 0 ||
        pack_str(&pk, "name", job->name, err) < 0 || pack_map(&pk, "vars", &job->vars, err) < 0 ||
        pack_i64(&pk, "nb", job->not_before_ms, err) < 0 ||
        pack_i64(&pk, "ts", job->created_ms, err) < 0 ||
        (job->night_consent && pack_i64(&pk, "nc", 1, err) < 0) ||
        (job->rate_reserved && pack_i64(&pk, "rs", 1, err) < 0) ||
        (job->lane_tx && pack_i64(&pk, "tx", 1, err) < 0))
        return mf_err_prefix(err, "could not encode job");
    return 0;
}

static int pack_opt_str(msgpack_packer *pk, const char *key, const char *s, mf_err *err)
{
    return has(s) ? pack_str(pk, key, s, err) : 0;
}

int mf_codec_encode_result(msgpack_sbuffer *buf, const mf_result *r, mf_err *err)
{
    msgpack_packer pk;
    const char *st = mf_result_status_name(r->status);
    const char *type = mf_msg_type_name(r->type);
    const char *ch = mf_msg_type_name(r->channel);
    size_t n = 10;

    if (st == NULL || type == NULL || (r->channel != MF_TYPE_NONE && ch == NULL))
        return mf_err_set(err, "could not encode result: invalid st, type or ch");
    if (!has(r->to))
        return mf_err_set(err, "could not encode result: key \"to\" is empty");
    if (r->attempt < 0 || r->ts_ms < 0 || r->sent_ms < 0 || r->reported < 0)
        return mf_err_set(err, "could not encode result: negative att, ts, sat or rpt");
    n += has(r->name) + (ch != NULL) + has(r->text) + (r->vars.n > 0) + has(r->provider_msg_id) +
         has(r->group_id) + has(r->code) + has(r->msg) + (r->sent_ms > 0) + (r->reported > 0);
    packer_start(&pk, buf);
    if (pack_head(&pk, n, err) < 0 || pack_uuid(&pk, "id", &r->id, err) < 0 ||
        pack_uuid(&pk, "run", &r->run, err) < 0 || pack_uuid(&pk, "wf", &r->wf, err) < 0 ||
        pack_uuid(&pk, "tpl", &r->tpl, err) < 0 || pack_i64(&pk, "att", r->attempt, err) < 0 ||
        pack_str(&pk, "st", st, err) < 0 || pack_str(&pk, "to", r->to, err) < 0 ||
        pack_opt_str(&pk, "name", r->name, err) < 0 || pack_str(&pk, "type", type, err) < 0 ||
        (ch != NULL && pack_str(&pk, "ch", ch, err) < 0) ||
        pack_opt_str(&pk, "text", r->text, err) < 0 ||
        (r->vars.n > 0 && pack_map(&pk, "vars", &r->vars, err) < 0) ||
        pack_opt_str(&pk, "pmid", r->provider_msg_id, err) < 0 ||
        pack_opt_str(&pk, "gid", r->group_id, err) < 0 ||
        pack_opt_str(&pk, "code", r->code, err) < 0 || pack_opt_str(&pk, "msg", r->msg, err) < 0 ||
        pack_i64(&pk, "ts", r->ts_ms, err) < 0 ||
        (r->sent_ms > 0 && pack_i64(&pk, "sat", r->sent_ms, err) < 0) ||
        (r->reported > 0 && pack_i64(&pk, "rpt", r->reported, err) < 0))
        return mf_err_prefix(err, "could not encode result");
    return 0;
}

int mf_codec_encode_dlq(msgpack_sbuffer *buf, const mf_dlq *d, mf_err *err)
{
    msgpack_packer pk;
    size_t n = 7 + (d->key != NULL);

    if (d->partition < -1 || d->offset < -1 || d->ts_ms < 0)
        return mf_err_set(err, "could not encode dlq: part, off or ts out of range");
    if (d->val == NULL && d->val_len > 0)
        return mf_err_set(err, "could not encode dlq: null val with a length");
    packer_start(&pk, buf);
    if (pack_head(&pk, n, err) < 0 || pack_str(&pk, "src", d->src, err) < 0 ||
        pack_i64(&pk, "part", d->partition, err) < 0 || pack_i64(&pk, "off", d->offset, err) < 0 ||
        pack_str(&pk, "reason", d->reason, err) < 0 ||
        (d->key != NULL && pack_bin(&pk, "key", d->key, d->key_len, err) < 0) ||
        pack_bin(&pk, "val", d->val, d->val_len, err) < 0 || pack_i64(&pk, "ts", d->ts_ms, err) < 0)
        return mf_err_prefix(err, "could not encode dlq");
    return 0;
}

int mf_codec_encode_event(msgpack_sbuffer *buf, const mf_event *ev, mf_err *err)
{
    msgpack_packer pk;

    if (!has(ev->type))
        return mf_err_set(err, "could not encode event: key \"type\" is empty");
    if (ev->ts_ms < 0)
        return mf_err_set(err, "could not encode event: negative ts");
    packer_start(&pk, buf);
    if (pack_head(&pk, 5 + (has(ev->id) ? 1 : 0) + (has(ev->to) ? 1 : 0), err) < 0 ||
        pack_str(&pk, "type", ev->type, err) < 0 || pack_str(&pk, "cust", ev->cust, err) < 0 ||
        pack_map(&pk, "attrs", &ev->attrs, err) < 0 || pack_i64(&pk, "ts", ev->ts_ms, err) < 0 ||
        (has(ev->id) && pack_str(&pk, "id", ev->id, err) < 0) ||
        (has(ev->to) && pack_str(&pk, "to", ev->to, err) < 0))
        return mf_err_prefix(err, "could not encode event");
    return 0;
}

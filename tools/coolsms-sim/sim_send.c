/* sim_send: POST /messages/v4/send-many/detail and the per-message validation it shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_euckr.h"
#include "sim_send.h"

#define JSON_CT "application/json; charset=utf-8"

typedef sim_verdict verdict;

typedef struct send_req {
    sim_ctx *ctx;
    sim_knobs k;
    mf_euckr *euckr;
    int64_t now_ms;
    int64_t start_ms; /* lifecycle start: now or the scheduled date */
    int allow_dup;
    int show_list;
    int scheduled;
    char scheduled_text[40];
    sim_req *req;
    size_t n;
    verdict *v;
    size_t accepted;
    size_t first; /* ledger index of the first accepted message */
    uint32_t lg;  /* its ledger group */
} send_req;

/* After a cut, drop a trailing partial UTF-8 sequence so the text stays valid. */
static void utf8_trim_partial(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0 || (unsigned char)s[i - 1] < 0x80)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

void sim_verdict_fail(verdict *v, sim_code_id id, const char *detail)
{
    const sim_code *c = sim_code_get(id);
    v->fail_code = c->code;
    int n = detail ? snprintf(v->fail_msg, sizeof(v->fail_msg), "%s (%s)", c->message, detail)
                   : snprintf(v->fail_msg, sizeof(v->fail_msg), "%s", c->message);
    if (n >= (int)sizeof(v->fail_msg))
        utf8_trim_partial(v->fail_msg); /* snprintf cut it: keep valid UTF-8 */
}

static int sender_registered(const sim_settings *s, const char *from)
{
    char d[24];
    size_t n = 0;
    for (const char *p = from; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n + 1 >= sizeof(d))
                return 0;
            d[n++] = *p;
        } else if (*p != '-' && *p != ' ') {
            return 0;
        }
    }
    d[n] = '\0';
    for (size_t i = 0; i < s->nsenders; i++)
        if (strcmp(s->senders[i], d) == 0)
            return 1;
    return 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int check_custom_fields(const send_req *q, const sim_req_msg *m, verdict *v)
{
    const sim_req_kv *kv = sim_req_cf(q->req, m);

    if (m->custom_fields.kind == SIM_J_ABSENT)
        return 0;
    if (m->custom_fields.kind != SIM_J_OBJECT) {
        sim_verdict_fail(v, SIM_C_BAD_CUSTOM, "customFields must be an object");
        return -1;
    }
    if (m->cf_distinct > 32) {
        sim_verdict_fail(v, SIM_C_BAD_CUSTOM, "at most 32 fields");
        return -1;
    }
    for (size_t i = 0; i < m->ncf; i++) {
        const char *key = kv[i].key, *val = sim_jstr(&kv[i].val);

        if (val == NULL || utf8_chars(key) > 30 || utf8_chars(val) > 100 || *key == '\0') {
            sim_verdict_fail(v, SIM_C_BAD_CUSTOM, key);
            return -1;
        }
    }
    return 0;
}

/* Resolve the type: explicit (case-insensitive) or detected. Returns NULL after set_fail. */
static const char *resolve_type(send_req *q, const sim_req_msg *m, verdict *v, const char *text,
                                const char *subject)
{
    static const char *types[] = {"SMS", "LMS", "MMS", "ATA", "CTA"};
    const char *t = sim_jstr(&m->type);
    int kakao_obj = m->kakao.kind == SIM_J_OBJECT;

    if (t != NULL) {
        for (size_t i = 0; i < 5; i++)
            if (strcasecmp(t, types[i]) == 0)
                return types[i];
        v->type = t;
        sim_verdict_fail(v, SIM_C_BAD_TYPE, t);
        return NULL;
    }
    if (m->type.kind != SIM_J_ABSENT || m->auto_type_detect.kind == SIM_J_FALSE) {
        sim_verdict_fail(v, SIM_C_BAD_TYPE, "type missing and autoTypeDetect is false");
        return NULL;
    }
    if (kakao_obj && sim_jstr(&m->template_id))
        return "ATA";
    if (kakao_obj && sim_jstr(&m->pf_id))
        return "CTA";
    mf_euckr_kind kind;
    mf_err err;
    if (mf_euckr_decide(q->euckr, text, strlen(text), subject, subject ? strlen(subject) : 0, &kind,
                        NULL, NULL, &err) != 0) {
        v->type = "LMS";
        sim_verdict_fail(v,
                         strstr(err.msg, "not representable") || strstr(err.msg, "UTF-8")
                             ? SIM_C_NOT_EUCKR
                         : strstr(err.msg, "subject") ? SIM_C_SUBJECT_LONG
                                                      : SIM_C_TOO_LONG,
                         err.msg);
        return NULL;
    }
    return mf_euckr_kind_name(kind);
}

static int check_text_len(send_req *q, verdict *v, const char *text, const char *subject)
{
    size_t tb = 0, sb = 0;
    mf_err err;
    const char *t = v->type;

    if (!strcmp(t, "ATA") || !strcmp(t, "CTA")) {
        if (utf8_chars(text) > 1000) {
            sim_verdict_fail(v, SIM_C_TOO_LONG, "more than 1000 characters");
            return -1;
        }
        return 0;
    }
    if (!strcmp(t, "SMS") && subject && *subject) {
        sim_verdict_fail(v, SIM_C_SUBJECT_SMS, NULL);
        return -1;
    }
    if (mf_euckr_len(q->euckr, text, strlen(text), &tb, NULL, &err) != 0 ||
        (subject && mf_euckr_len(q->euckr, subject, strlen(subject), &sb, NULL, &err) != 0)) {
        sim_verdict_fail(v, SIM_C_NOT_EUCKR, err.msg);
        return -1;
    }
    if (sb > MF_EUCKR_SUBJECT_MAX) {
        sim_verdict_fail(v, SIM_C_SUBJECT_LONG, NULL);
        return -1;
    }
    size_t limit = !strcmp(t, "SMS") ? MF_EUCKR_SMS_MAX : MF_EUCKR_LMS_MAX;
    if (tb > limit) {
        char d[96];
        snprintf(d, sizeof(d), "%s text is %zu bytes in EUC-KR, limit %zu", t, tb, limit);
        sim_verdict_fail(v, SIM_C_TOO_LONG, d);
        return -1;
    }
    return 0;
}

static int check_kakao(const sim_req_msg *m, verdict *v)
{
    sim_jkind kakao = m->kakao.kind;
    int is_kakao = !strcmp(v->type, "ATA") || !strcmp(v->type, "CTA");
    const char *pf = kakao == SIM_J_OBJECT ? sim_jstr(&m->pf_id) : NULL;
    const char *tpl = kakao == SIM_J_OBJECT ? sim_jstr(&m->template_id) : NULL;

    if (kakao != SIM_J_ABSENT && kakao != SIM_J_NULL && !is_kakao) {
        sim_verdict_fail(v, SIM_C_KAKAO_TYPE, NULL);
        return -1;
    }
    if (!is_kakao)
        return 0;
    if (pf == NULL || !*pf) {
        sim_verdict_fail(v, SIM_C_NO_PFID, "kakaoOptions.pfId missing");
        return -1;
    }
    if (!strcmp(v->type, "ATA") && (tpl == NULL || !*tpl)) {
        sim_verdict_fail(v, SIM_C_NO_TEMPLATE, "kakaoOptions.templateId missing");
        return -1;
    }
    return 0;
}

static void validate_one(send_req *q, size_t i)
{
    verdict *v = &q->v[i];
    const sim_req_msg *m = sim_req_at(q->req, i);
    const char *to, *from, *text, *subject;
    mf_phone_reason why;

    v->src = m;
    v->type = "";
    if (!m->is_object) {
        sim_verdict_fail(v, SIM_C_MISSING, "message must be an object");
        return;
    }
    to = sim_jstr(&m->to);
    from = sim_jstr(&m->from);
    text = sim_jstr(&m->text);
    subject = sim_jstr(&m->subject);
    if (sim_jstr(&m->type))
        v->type = sim_jstr(&m->type);
    if (to == NULL || from == NULL || text == NULL) {
        snprintf(v->to, sizeof(v->to), "%s", to ? to : "");
        sim_verdict_fail(v, SIM_C_MISSING, to == NULL ? "to" : from == NULL ? "from" : "text");
        return;
    }
    if (mf_phone_normalize(to, v->to, sizeof(v->to), &why, NULL) != 0) {
        snprintf(v->to, sizeof(v->to), "%s", to);
        sim_verdict_fail(v, SIM_C_BAD_TO, mf_phone_reason_text(why));
        return;
    }
    if (!sender_registered(&q->ctx->set, from)) {
        sim_verdict_fail(v, SIM_C_NO_SENDER, NULL);
        return;
    }
    if (check_custom_fields(q, m, v) != 0)
        return;
    const char *t = resolve_type(q, m, v, text, subject);
    if (t == NULL)
        return;
    v->type = t;
    if (check_kakao(m, v) != 0 || check_text_len(q, v, text, subject) != 0)
        return;
    if (!strcmp(t, "MMS") && sim_jstr(&m->image_id) == NULL) {
        sim_verdict_fail(v, SIM_C_NO_IMAGE, NULL);
        return;
    }
}

/* Later messages to a number already accepted in this request fail with 1026. -1 with err
 * when out of memory (the request then fails: no duplicate may slip through). */
static int check_duplicates(send_req *q, mf_err *err)
{
    size_t cap = 1;
    while (cap < q->n * 2)
        cap <<= 1;
    uint32_t *seen = calloc(cap, sizeof(uint32_t));
    if (seen == NULL)
        return mf_err_set(err, "out of memory checking %zu recipients for duplicates", q->n);
    for (size_t i = 0; i < q->n; i++) {
        verdict *v = &q->v[i];
        if (v->fail_code)
            continue;
        size_t j = (size_t)sim_hash64(v->to, strlen(v->to), 7) & (cap - 1);
        while (seen[j] && strcmp(q->v[seen[j] - 1].to, v->to) != 0)
            j = (j + 1) & (cap - 1);
        if (seen[j])
            sim_verdict_fail(v, SIM_C_DUP_TO, "allowDuplicates is false");
        else
            seen[j] = (uint32_t)i + 1;
    }
    free(seen);
    return 0;
}

static void fail_with(verdict *v, const char *code)
{
    snprintf(v->fail_code_buf, sizeof(v->fail_code_buf), "%s", code);
    v->fail_code = v->fail_code_buf; /* q->k does not outlive the validation */
    snprintf(v->fail_msg, sizeof(v->fail_msg), "%s", sim_code_message(code));
}

/* A number on the 080 opt-out list is refused with 1061; otherwise permanent_fail_ratio
 * decides, and a 080 opt-out code it gives lists the number. */
static void apply_permanent_failures(send_req *q)
{
    for (size_t i = 0; i < q->n; i++) {
        verdict *v = &q->v[i];
        if (v->fail_code)
            continue;
        if (sim_black_has(q->ctx->black, v->to)) {
            fail_with(v, "1061");
            continue;
        }
        if (q->k.permanent_fail_ratio <= 0)
            continue;
        const char *job = sim_req_cf_get(q->req, v->src, SIM_INDEX_FIELD);
        if (sim_hash_unit(q->ctx->set.seed, v->to, job, "permanent") < q->k.permanent_fail_ratio) {
            fail_with(v, q->k.permanent_fail_code);
            if (sim_black_code(q->k.permanent_fail_code))
                (void)sim_black_add(q->ctx->black, v->to, sim_jstr(&v->src->from),
                                    mf_clock_wall_ms());
        }
    }
}

int sim_rate_admit(sim_ctx *ctx, double rate, size_t n, int64_t now_ms)
{
    int rc = 0;
    if (rate <= 0)
        return 0;
    pthread_mutex_lock(&ctx->bucket_lock);
    if (ctx->bucket_ms == 0) {
        ctx->bucket_tokens = rate;
    } else {
        ctx->bucket_tokens += rate * (double)(now_ms - ctx->bucket_ms) / 1000.0;
        if (ctx->bucket_tokens > rate)
            ctx->bucket_tokens = rate;
    }
    ctx->bucket_ms = now_ms;
    double need = (double)n < rate ? (double)n : rate;
    if (ctx->bucket_tokens + 1e-9 >= need)
        ctx->bucket_tokens -= (double)n; /* may go negative: a big request pays it back */
    else
        rc = -1;
    pthread_mutex_unlock(&ctx->bucket_lock);
    return rc;
}

void sim_msg_start(sim_ctx *ctx, const sim_knobs *k, sim_msg *m, int64_t start_ms)
{
    int fails = k->deliver_fail_ratio > 0 &&
                sim_hash_unit(ctx->set.seed, m->id, NULL, "deliver") < k->deliver_fail_ratio;

    m->state = SIM_MS_SENT;
    m->accepted_ms = start_ms;
    m->final_ms = start_ms + k->deliver_delay_ms;
    snprintf(m->final_code, sizeof(m->final_code), "%s",
             fails ? k->deliver_fail_code : sim_code_get(SIM_C_DELIVERED)->code);
    if (fails && sim_black_code(k->deliver_fail_code)) /* the recipient called the 080 line */
        (void)sim_black_add(ctx->black, m->to, m->from, start_ms);
}

/* Fail m at start_ms with the quota code: it never reaches the carrier. */
static void quota_fail(const sim_knobs *k, sim_msg *m, int64_t start_ms)
{
    m->state = SIM_MS_UNSENT;
    m->accepted_ms = m->final_ms = start_ms;
    snprintf(m->final_code, sizeof(m->final_code), "%s", k->quota_fail_code);
}

size_t sim_quota_take(sim_ctx *ctx, const sim_knobs *k, size_t n, int64_t now_ms)
{
    int64_t day = (now_ms / 1000 + 9 * 3600) / 86400; /* the quota is per Korean day */
    size_t ok = n;

    pthread_mutex_lock(&ctx->quota_lock);
    if (day != ctx->quota_day) {
        ctx->quota_day = day;
        ctx->quota_used = 0;
    }
    if (k->daily_quota > 0) {
        long long left = k->daily_quota - ctx->quota_used;
        if (left < 0)
            left = 0;
        if ((long long)n > left)
            ok = (size_t)left;
    }
    ctx->quota_used += (long long)n; /* messages beyond it count as attempts too */
    pthread_mutex_unlock(&ctx->quota_lock);
    return ok;
}

void sim_verdict_record(sim_ctx *ctx, const sim_req *req, verdict *v, int64_t now_ms,
                        sim_new_msg *nm)
{
    const sim_req_msg *m = v->src;
    const sim_req_kv *kv = sim_req_cf(req, m);
    const char *from = m->is_object ? sim_jstr(&m->from) : NULL;

    memset(nm, 0, sizeof(*nm));
    if (!v->id[0])
        sim_new_id(ctx, 'M', now_ms, v->id);
    memcpy(nm->m.id, v->id, sizeof(nm->m.id));
    snprintf(nm->m.to, sizeof(nm->m.to), "%s", v->to);
    snprintf(nm->m.from, sizeof(nm->m.from), "%s", from ? from : "");
    snprintf(nm->m.type, sizeof(nm->m.type), "%s", v->type ? v->type : "");
    nm->m.created_ms = nm->m.accepted_ms = nm->m.final_ms = now_ms;
    if (v->fail_code) {
        nm->m.state = SIM_MS_REJECTED;
        snprintf(nm->m.final_code, sizeof(nm->m.final_code), "%s", v->fail_code);
    } else {
        nm->m.state = SIM_MS_PENDING;
        snprintf(nm->m.final_code, sizeof(nm->m.final_code), "%s",
                 sim_code_get(SIM_C_ACCEPTED)->code);
    }
    if (!m->is_object)
        return;
    nm->m.text = sim_jstr(&m->text);
    nm->text_len = nm->m.text ? m->text.len : 0;
    nm->m.subject = sim_jstr(&m->subject);
    nm->subject_len = nm->m.subject ? m->subject.len : 0;
    if (m->kakao.kind == SIM_J_OBJECT) {
        nm->m.pf_id = sim_jstr(&m->pf_id);
        nm->m.template_id = sim_jstr(&m->template_id);
    }
    if (m->custom_fields.kind == SIM_J_OBJECT) {
        for (size_t i = 0; i < m->ncf && nm->ncf < 32; i++) {
            if (sim_jstr(&kv[i].val) == NULL)
                continue;
            nm->cf_keys[nm->ncf] = kv[i].key;
            nm->cf_vals[nm->ncf] = sim_jstr(&kv[i].val);
            nm->ncf++;
        }
    }
}

static int record_accepted(send_req *q, const char *group_id, mf_err *err)
{
    sim_new_msg *nms = NULL;
    size_t k = 0, ok;
    int rc;

    if (q->accepted > 0) {
        nms = malloc(q->accepted * sizeof(*nms));
        if (nms == NULL)
            return mf_err_set(err, "out of memory");
    }
    ok = sim_quota_take(q->ctx, &q->k, q->accepted, q->now_ms);
    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].fail_code)
            continue;
        if (nms == NULL || k >= q->accepted)
            break; /* cannot happen: accepted counts the verdicts without a fail code */
        sim_verdict_record(q->ctx, q->req, &q->v[i], q->now_ms, &nms[k]);
        if (k < ok)
            sim_msg_start(q->ctx, &q->k, &nms[k].m, q->start_ms);
        else
            quota_fail(&q->k, &nms[k].m, q->now_ms);
        nms[k].m.created_ms = q->now_ms;
        k++;
    }
    if (k > ok)
        atomic_fetch_add(&q->ctx->stats.quota_failed, k - ok);
    rc = sim_ledger_add(q->ctx->ledger, group_id, nms, k, &q->first, &q->lg, err);
    free(nms);
    return rc;
}

int sim_append_req_cf(const sim_req *req, const sim_req_msg *m, mf_buf *b, mf_err *err)
{
    const sim_req_kv *kv = sim_req_cf(req, m);
    int first = 1;
    if (mf_buf_append_char(b, '{', err) != 0)
        return -1;
    if (m->is_object && m->custom_fields.kind == SIM_J_OBJECT) {
        for (size_t i = 0; i < m->ncf; i++) {
            const char *val = sim_jstr(&kv[i].val);

            if (val == NULL)
                continue;
            if ((!first && mf_buf_append_char(b, ',', err) != 0) ||
                mf_buf_append_json_cstr(b, kv[i].key, err) != 0 ||
                mf_buf_append_char(b, ':', err) != 0 || mf_buf_append_json_cstr(b, val, err) != 0)
                return -1;
            first = 0;
        }
    }
    return mf_buf_append_char(b, '}', err);
}

static int append_failed(send_req *q, mf_buf *b, mf_err *err)
{
    int first = 1;
    if (mf_buf_append_str(b, "\"failedMessageList\":[", err) != 0)
        return -1;
    for (size_t i = 0; i < q->n; i++) {
        verdict *v = &q->v[i];
        const char *from = v->src->is_object ? sim_jstr(&v->src->from) : NULL;
        if (!v->fail_code)
            continue;
        if (!v->id[0])
            sim_new_id(q->ctx, 'M', q->now_ms, v->id);
        if ((!first && mf_buf_append_char(b, ',', err) != 0) ||
            mf_buf_append_str(b, "{\"to\":", err) != 0 ||
            mf_buf_append_json_cstr(b, v->to, err) != 0 ||
            mf_buf_append_str(b, ",\"from\":", err) != 0 ||
            mf_buf_append_json_cstr(b, from ? from : "", err) != 0 ||
            mf_buf_append_str(b, ",\"type\":", err) != 0 ||
            mf_buf_append_json_cstr(b, v->type, err) != 0 ||
            mf_buf_append_str(b, ",\"statusMessage\":", err) != 0 ||
            mf_buf_append_json_cstr(b, v->fail_msg, err) != 0 ||
            mf_buf_printf(b, err,
                          ",\"country\":\"82\",\"messageId\":\"%s\",\"statusCode\":\"%s\","
                          "\"accountId\":\"%s\",\"customFields\":",
                          v->id, v->fail_code, q->ctx->set.account_id) != 0 ||
            sim_append_req_cf(q->req, v->src, b, err) != 0 || mf_buf_append_char(b, '}', err) != 0)
            return -1;
        first = 0;
    }
    return mf_buf_append_char(b, ']', err);
}

static int append_group(send_req *q, mf_buf *b, const char *gid, mf_err *err)
{
    if (mf_buf_append_str(b, ",\"groupInfo\":", err) != 0)
        return -1;
    return sim_groups_register_sent(q->ctx, gid, q->lg, q->first, q->accepted, q->n - q->accepted,
                                    q->allow_dup, q->now_ms, q->start_ms, b, err);
}

static int append_list(send_req *q, mf_buf *b, mf_err *err)
{
    const sim_code *ok = sim_code_get(SIM_C_ACCEPTED);
    int first = 1;
    if (!q->show_list)
        return 0;
    if (mf_buf_append_str(b, ",\"messageList\":[", err) != 0)
        return -1;
    for (size_t i = 0; i < q->n; i++) {
        verdict *v = &q->v[i];
        if (v->fail_code)
            continue;
        /* appends, not a printf per message (vfprintf was 11 % of the simulator's CPU);
         * id, code, number and type are plain ASCII the simulator checked or made */
        if ((!first && mf_buf_append_char(b, ',', err) != 0) ||
            mf_buf_append_str(b, "{\"messageId\":\"", err) != 0 ||
            mf_buf_append_str(b, v->id, err) != 0 ||
            mf_buf_append_str(b, "\",\"statusCode\":\"", err) != 0 ||
            mf_buf_append_str(b, ok->code, err) != 0 ||
            mf_buf_append_str(b, "\",\"statusMessage\":", err) != 0 ||
            mf_buf_append_json_cstr(b, ok->message, err) != 0 ||
            mf_buf_append_str(b, ",\"to\":\"", err) != 0 || mf_buf_append_str(b, v->to, err) != 0 ||
            mf_buf_append_str(b, "\",\"type\":\"", err) != 0 ||
            mf_buf_append_str(b, v->type, err) != 0 ||
            mf_buf_append_str(b, "\",\"customFields\":", err) != 0 ||
            sim_append_req_cf(q->req, v->src, b, err) != 0 || mf_buf_append_char(b, '}', err) != 0)
            return -1;
        first = 0;
    }
    return mf_buf_append_char(b, ']', err);
}

/* Parse the body's top level. Returns 0, or -1 after filling the error reply. */
static int parse_top(send_req *q, const char *body, size_t len, sim_reply *r)
{
    char why[256];
    const sim_jfield *sd;

    q->req = sim_req_parse(body, len, why, sizeof(why));
    if (q->req == NULL) {
        sim_reply_error(r, 400, "InvalidJSON", "request body is not a JSON object: %s", why);
        return -1;
    }
    if (sim_req_messages_kind(q->req) != SIM_J_ARRAY || sim_req_count(q->req) == 0) {
        sim_reply_error(r, 400, "ValidationError", "messages must be a non-empty array");
        return -1;
    }
    q->n = sim_req_count(q->req);
    if (q->n > SIM_MAX_MESSAGES) {
        sim_reply_error(r, 400, "TooManyMessages", "at most %d messages per request (got %zu)",
                        SIM_MAX_MESSAGES, q->n);
        return -1;
    }
    q->allow_dup = sim_req_allow_duplicates(q->req)->kind == SIM_J_TRUE;
    q->show_list = sim_req_show_message_list(q->req)->kind == SIM_J_TRUE;
    q->start_ms = q->now_ms;
    sd = sim_req_scheduled_date(q->req);
    if (sd->kind != SIM_J_ABSENT && sd->kind != SIM_J_NULL) {
        int64_t t;
        if (sd->kind != SIM_J_STRING || mf_clock_parse_iso8601(sd->s, &t) != 0) {
            sim_reply_error(r, 400, "ValidationError", "scheduledDate is not an ISO 8601 time");
            return -1;
        }
        if (t > q->now_ms) {
            q->scheduled = 1;
            q->start_ms = t;
            sim_format_iso8601(t, q->scheduled_text, sizeof(q->scheduled_text));
        }
    }
    return 0;
}

static void build_reply(send_req *q, const char *gid, sim_reply *r)
{
    mf_err err;
    mf_buf *b = &r->body;
    mf_buf_reset(b);
    if (mf_buf_reserve(b, 256 + q->n * (q->show_list ? 200 : 0), &err) != 0 ||
        mf_buf_append_char(b, '{', &err) != 0 || append_failed(q, b, &err) != 0 ||
        append_group(q, b, gid, &err) != 0 || append_list(q, b, &err) != 0 ||
        mf_buf_append_char(b, '}', &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "could not build the response: %s", err.msg);
        return;
    }
    r->status = 200;
    r->content_type = JSON_CT;
}

int sim_validate_messages(sim_ctx *ctx, const sim_knobs *k, sim_req *req, verdict *v, size_t n,
                          int dup_check, mf_err *err)
{
    send_req q;

    memset(&q, 0, sizeof(q));
    q.ctx = ctx;
    q.k = *k;
    q.req = req;
    q.n = n;
    q.v = v;
    q.euckr = mf_euckr_new(err);
    if (q.euckr == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        validate_one(&q, i);
    if (dup_check && check_duplicates(&q, err) != 0) {
        mf_euckr_free(q.euckr);
        return -1;
    }
    apply_permanent_failures(&q);
    mf_euckr_free(q.euckr);
    return 0;
}

void sim_handle_send(sim_ctx *ctx, const char *body, size_t len, sim_reply *r)
{
    send_req q;
    char gid[SIM_ID_LEN + 1];
    mf_err err;

    memset(&q, 0, sizeof(q));
    q.ctx = ctx;
    q.now_ms = mf_clock_wall_ms();
    sim_knobs_snapshot(ctx, &q.k);
    if (parse_top(&q, body, len, r) != 0)
        goto out;
    if (sim_rate_admit(ctx, q.k.rate_limit_per_s, q.n, q.now_ms) != 0) {
        atomic_fetch_add(&ctx->stats.rate_limited, 1);
        sim_reply_error(r, 429, "TooManyRequests", "rate limit of %g messages per second exceeded",
                        q.k.rate_limit_per_s);
        goto out;
    }
    q.v = calloc(q.n, sizeof(verdict));
    if (q.v == NULL) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        goto out;
    }
    if (sim_validate_messages(ctx, &q.k, q.req, q.v, q.n, !q.allow_dup, &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < q.n; i++)
        if (!q.v[i].fail_code)
            q.accepted++;
    sim_new_id(ctx, 'G', q.now_ms, gid);
    if (record_accepted(&q, gid, &err) != 0) {
        sim_reply_error(r, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    atomic_fetch_add(&ctx->stats.accepted, q.accepted);
    atomic_fetch_add(&ctx->stats.rejected, q.n - q.accepted);
    build_reply(&q, gid, r);
    if (r->status == 200 && q.accepted > 0)
        sim_webhook_queue(ctx, &q.k, gid, NULL, q.first, q.accepted,
                          q.start_ms + q.k.deliver_delay_ms);
out:
    free(q.v);
    sim_req_free(q.req);
}

void sim_handle_quota(sim_ctx *ctx, sim_reply *r)
{
    sim_knobs k;
    char now[40];
    long long quota;

    sim_knobs_snapshot(ctx, &k);
    /* unlimited (0) is shown as the largest quota the knob allows */
    quota = k.daily_quota > 0 ? k.daily_quota : 1000000000LL;
    sim_format_iso8601(mf_clock_wall_ms(), now, sizeof(now));
    mf_buf_reset(&r->body);
    if (mf_buf_append_str(&r->body, "{\"accountId\":", NULL) != 0 ||
        mf_buf_append_json_cstr(&r->body, ctx->set.account_id, NULL) != 0 ||
        mf_buf_printf(&r->body, NULL,
                      ",\"quota\":%lld,\"min\":%lld,\"max\":%lld,\"autoAdjustment\":false,"
                      "\"overseasQuota\":0,\"dateCreated\":\"%s\",\"dateUpdated\":\"%s\"}",
                      quota, quota < 50 ? quota : 50LL, quota, now, now) != 0) {
        sim_reply_error(r, 500, "InternalError", "out of memory");
        return;
    }
    r->status = 200;
    r->content_type = JSON_CT;
}

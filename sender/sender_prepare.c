/* sender_prepare: turn one decoded job into a ready message (render, advertising, type). */
#include <string.h>

#include "mf_clock.h"
#include "mf_template.h"
#include "sender_ctx.h"
#include "sender_prepare.h"
#include "sender_produce.h"
#include "sender_rules.h"

typedef struct vars_ctx {
    const mf_job *job;
    sender_ctx *s;
    sender_slot *sl;
    size_t cap;
} vars_ctx;

static const char *var_value(const mf_job *job, const char *name, size_t len)
{
    char key[MF_TEMPLATE_NAME_MAX + 1];
    const char *v;

    if (len > MF_TEMPLATE_NAME_MAX)
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    v = mf_codec_map_get(&job->vars, key);
    if (v == NULL && strcmp(key, "name") == 0 && job->name != NULL && *job->name != '\0')
        v = job->name; /* the recipient's name travels in its own field */
    return v;
}

static const char *lookup(void *arg, const char *name, size_t len, size_t *vlen)
{
    const char *v = var_value(arg, name, len);

    if (v != NULL)
        *vlen = strlen(v);
    return v;
}

/* Records each distinct variable used (for the result's vars and Kakao variables). */
static int collect_var(void *arg, const char *name, size_t len)
{
    vars_ctx *vc = arg;
    sender_slot *sl = vc->sl;
    const char *v = var_value(vc->job, name, len);
    char *key;

    if (v == NULL)
        return 0;
    for (size_t i = 0; i < sl->nused; i++)
        if (strlen(sl->used[i].key) == len && memcmp(sl->used[i].key, name, len) == 0)
            return 0;
    if (sl->nused == vc->cap)
        return 0;
    key = sender_arena_alloc(&vc->s->arena, len + 1);
    if (key == NULL)
        return -1;
    memcpy(key, name, len);
    key[len] = '\0';
    sl->used[sl->nused].key = key;
    sl->used[sl->nused].val = v;
    sl->nused++;
    return 0;
}

static void fail(sender_ctx *s, sender_slot *sl, const char *code, const char *msg)
{
    sl->state = SLOT_FAILED;
    sl->st = MF_RESULT_FAILED;
    sl->ch = MF_TYPE_NONE;
    sl->code = code;
    sl->msg = sender_arena_strdup(&s->arena, msg);
}

static int count_vars(void *arg, const char *name, size_t len)
{
    (void)name;
    (void)len;
    (*(size_t *)arg)++;
    return 0;
}

static int collect_used(sender_ctx *s, sender_slot *sl, const char *content, const char *subject,
                        mf_err *err)
{
    vars_ctx vc = {&sl->job, s, sl, 0};

    mf_template_each_variable(content, count_vars, &vc.cap);
    if (subject != NULL)
        mf_template_each_variable(subject, count_vars, &vc.cap);
    sl->nused = 0;
    if (vc.cap == 0)
        return 0;
    sl->used = sender_arena_alloc(&s->arena, vc.cap * sizeof(*sl->used));
    if (sl->used == NULL)
        return mf_err_set(err, "out of memory");
    if (mf_template_each_variable(content, collect_var, &vc) != 0 ||
        (subject != NULL && mf_template_each_variable(subject, collect_var, &vc) != 0))
        return mf_err_set(err, "out of memory");
    return 0;
}

/* Renders tpl into the arena; NULL with err on a missing variable or overflow. The text is
 * rendered into the reusable scratch buffer first and only its real length goes to the
 * arena: reserving the worst case per job in the arena cost 8 KB x 5,000 jobs per batch. */
static const char *render(sender_ctx *s, const sender_slot *sl, const char *tpl, mf_err *err)
{
    size_t cap = strlen(tpl) + 8192, len = 0;
    char *out;

    mf_buf_reset(&s->scratch);
    if (mf_buf_reserve(&s->scratch, cap, err) != 0)
        return NULL;
    if (mf_template_render(tpl, lookup, (void *)&sl->job, s->scratch.data, cap, &len, err) != 0)
        return NULL;
    out = sender_arena_alloc(&s->arena, len + 1);
    if (out == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    memcpy(out, s->scratch.data, len);
    out[len] = '\0';
    return out;
}

/* A future not-before, or a promotion in quiet hours: park the job on the retry topic until
 * resume_ms (the retry consumer holds it until then). */
static int defer(sender_ctx *s, sender_slot *sl, size_t i, int64_t resume_ms, mf_err *err)
{
    (void)i;
    if (sender_produce_retry(s, sl, resume_ms, err) != 0)
        return -1;
    sl->state = SLOT_SKIP;
    s->n_deferred++;
    return 0;
}

/* An advertising job outside its time window (sender_rules_ad_window): SMS/LMS at night
 * without the recipient's consent (job "nc", or the whole workflow's with
 * advertising.quiet_hours false), Kakao outside the provider's 08:00-20:00. The window is
 * decided on the clock shifted by MF_SENDER_CLOCK_OFFSET_MS (tests); *resume_ms is real time. */
static int ad_deferred(const sender_ctx *s, const sender_slot *sl, const sender_template *t,
                       const sender_wfconf *wf, int64_t now, int64_t *resume_ms)
{
    int kakao = strcmp(t->message_type, "kakao") == 0;
    int consent = sl->job.night_consent != 0 || (wf != NULL && !wf->quiet_hours);
    int64_t off = s->cfg->clock_offset_ms;

    if (!sender_rules_ad_window(now + off, kakao, consent, resume_ms))
        return 0;
    *resume_ms -= off;
    return 1;
}

static const char *first(const char *a, const char *b, const char *c)
{
    if (a != NULL && *a)
        return a;
    if (b != NULL && *b)
        return b;
    return c != NULL && *c ? c : NULL;
}

static int prepare_kakao(sender_ctx *s, sender_slot *sl, const sender_template *t,
                         const sender_wfconf *wf, mf_err *err)
{
    const sender_settings *st = sender_catalog_settings(s->cat);

    sl->pf_id = first(wf ? wf->pf_id : NULL, st->pf_id, NULL);
    sl->tpl_code = t->template_code;
    sl->buttons = t->buttons[0] ? t->buttons : NULL;
    sl->disable_sms = wf ? wf->disable_sms : 0;
    if (sl->pf_id == NULL) {
        fail(s, sl, SENDER_CODE_BAD_CONFIG,
             "kakao template without pfId (message_config.kakao.pf_id or kakao_pf_id setting)");
        return 0;
    }
    if (*sl->tpl_code == '\0') {
        fail(s, sl, SENDER_CODE_BAD_CONFIG, "kakao template without template_code");
        return 0;
    }
    sl->kvars = sender_arena_alloc(&s->arena, (sl->nused ? sl->nused : 1) * sizeof(*sl->kvars));
    if (sl->kvars == NULL)
        return mf_err_set(err, "out of memory");
    for (size_t k = 0; k < sl->nused; k++) {
        sl->kvars[k].key = sl->used[k].key;
        sl->kvars[k].value = sl->used[k].val;
    }
    sl->nkvars = sl->nused;
    return 0;
}

/* Applies the advertising rules to sl->text (sms/lms only). 1 when the slot failed. */
static int advertise(sender_ctx *s, sender_slot *sl, const sender_wfconf *wf, mf_err *err)
{
    mf_err e2;

    mf_buf_reset(&s->text);
    if (sender_rules_advertise(sl->text, wf ? wf->ad_sender_name : NULL, wf ? wf->ad_opt_out : NULL,
                               &s->text, &e2) != 0) {
        fail(s, sl, SENDER_CODE_BAD_CONFIG, e2.msg);
        return 1;
    }
    sl->text = sender_arena_strdup(&s->arena, s->text.data ? s->text.data : "");
    if (sl->text == NULL)
        return mf_err_set(err, "out of memory");
    return 0;
}

static int prepare_text(sender_ctx *s, sender_slot *sl, const sender_template *t,
                        const sender_wfconf *wf, mf_err *err)
{
    const char *subject = wf ? wf->subject : NULL;
    const char *code = NULL;
    sender_kind kind;
    mf_err e2;
    int rc;

    sl->text = render(s, sl, t->content, &e2);
    if (sl->text == NULL) {
        fail(s, sl, SENDER_CODE_RENDER, e2.msg);
        return 0;
    }
    sl->subject = NULL;
    if (subject != NULL) {
        sl->subject = render(s, sl, subject, &e2);
        if (sl->subject == NULL) {
            fail(s, sl, SENDER_CODE_RENDER, e2.msg);
            return 0;
        }
    }
    if (collect_used(s, sl, t->content, subject, err) != 0)
        return -1;
    if (strcmp(t->category, "promotion") == 0 && strcmp(t->message_type, "kakao") != 0) {
        rc = advertise(s, sl, wf, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    if (sender_rules_decide(s->euckr, t->message_type, sl->text, sl->subject, &kind, &code, &e2) !=
        0) {
        fail(s, sl, code, e2.msg);
        return 0;
    }
    sl->type = (mf_msg_type)kind;
    if (sl->type != MF_TYPE_LMS)
        sl->subject = NULL;
    return sl->type == MF_TYPE_KAKAO ? prepare_kakao(s, sl, t, wf, err) : 0;
}

int sender_prepare_slot(sender_ctx *s, sender_slot *sl, size_t i, mf_err *err)
{
    const sender_template *t = sender_catalog_template(s->cat, &sl->job.tpl);
    const sender_wfconf *wf = sender_catalog_workflow(s->cat, &sl->job.wf);
    const sender_settings *st = sender_catalog_settings(s->cat);
    int64_t resume = 0, now = mf_clock_wall_ms();

    sl->type = MF_TYPE_SMS;
    if (t == NULL) {
        fail(s, sl, SENDER_CODE_NO_TEMPLATE, "message template not found");
        return 0;
    }
    if (t->invalid != NULL || (wf != NULL && wf->invalid != NULL)) {
        fail(s, sl, SENDER_CODE_BAD_CONFIG, t->invalid != NULL ? t->invalid : wf->invalid);
        return 0;
    }
    if (strcmp(t->message_type, "lms") == 0)
        sl->type = MF_TYPE_LMS;
    else if (strcmp(t->message_type, "kakao") == 0)
        sl->type = MF_TYPE_KAKAO;
    if (sl->job.not_before_ms > now)
        return defer(s, sl, i, sl->job.not_before_ms, err);
    if (strcmp(t->category, "promotion") == 0 && ad_deferred(s, sl, t, wf, now, &resume))
        return defer(s, sl, i, resume, err);
    if (prepare_text(s, sl, t, wf, err) != 0)
        return -1;
    if (sl->state == SLOT_FAILED)
        return 0;
    sl->from = first(wf ? wf->sender_number : NULL, st->sender_number, s->cfg->coolsms_sender);
    if (sl->from == NULL) {
        fail(s, sl, SENDER_CODE_BAD_CONFIG,
             "no sender number (message_config.sender_number, coolsms_sender_number setting "
             "or MF_COOLSMS_SENDER)");
        return 0;
    }
    sl->state = SLOT_SEND;
    return 0;
}

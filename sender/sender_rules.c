/* sender_rules: pure decisions of the sender: message type, advertising text, quiet hours. */
#include "sender_rules.h"

#include <string.h>

#include "mf_euckr.h"
#include "mf_template.h"

#define KST_OFFSET_MS (9LL * 3600 * 1000)
#define DAY_MS (24LL * 3600 * 1000)
#define HOUR_MS (3600LL * 1000)

static int is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Counts placeholders; stops (1) once past the bound, so a template of a million of them
 * costs no more than the bound. */
static int count_placeholder(void *arg, const char *name, size_t len)
{
    size_t *n = arg;

    (void)name;
    (void)len;
    return ++*n > SENDER_TEMPLATE_VARS_MAX ? 1 : 0;
}

int sender_rules_check_template(const char *content, const char *subject, mf_err *err)
{
    size_t nc = strlen(content), ns = subject != NULL ? strlen(subject) : 0, nvars = 0;

    if (nc > SENDER_TEMPLATE_CONTENT_MAX)
        return mf_err_set(err, "template content is %zu bytes, over the %d-byte limit", nc,
                          SENDER_TEMPLATE_CONTENT_MAX);
    if (ns > SENDER_TEMPLATE_SUBJECT_MAX)
        return mf_err_set(err, "message subject is %zu bytes, over the %d-byte limit", ns,
                          SENDER_TEMPLATE_SUBJECT_MAX);
    if (mf_template_each_variable(content, count_placeholder, &nvars) != 0 ||
        (subject != NULL && mf_template_each_variable(subject, count_placeholder, &nvars) != 0))
        return mf_err_set(err, "template has more than %d placeholders", SENDER_TEMPLATE_VARS_MAX);
    return 0;
}

int sender_rules_decide(struct mf_euckr *c, const char *template_type, const char *body,
                        const char *subject, sender_kind *kind, const char **code, mf_err *err)
{
    mf_euckr_kind k;
    size_t body_bytes = 0, subj_bytes = 0;
    unsigned bad = 0;

    *code = NULL;
    if (template_type != NULL && strcmp(template_type, "kakao") == 0) {
        *kind = SENDER_KIND_KAKAO;
        return 0;
    }
    if (template_type == NULL ||
        (strcmp(template_type, "sms") != 0 && strcmp(template_type, "lms") != 0)) {
        *code = SENDER_CODE_BAD_CONFIG;
        return mf_err_set(err, "unknown template message_type \"%s\"",
                          template_type ? template_type : "");
    }
    if (mf_euckr_len(c, body, strlen(body), &body_bytes, &bad, err) != 0) {
        *code = SENDER_CODE_RENDER;
        return mf_err_prefix(err, "message text");
    }
    if (body_bytes <= MF_EUCKR_SMS_MAX) {
        *kind = SENDER_KIND_SMS;
        return 0;
    }
    if (is_empty(subject))
        subject = NULL;
    if (subject != NULL && mf_euckr_len(c, subject, strlen(subject), &subj_bytes, &bad, err) != 0) {
        *code = SENDER_CODE_RENDER;
        return mf_err_prefix(err, "message subject");
    }
    /* the body was counted above (counting it again was 1.3 % of the sender's CPU) */
    if (mf_euckr_decide_bytes(body_bytes, subject != NULL, subj_bytes, &k, err) != 0) {
        *code = SENDER_CODE_TOO_LONG;
        return -1;
    }
    *kind = k == MF_EUCKR_KIND_SMS ? SENDER_KIND_SMS : SENDER_KIND_LMS;
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int append_marker_and_body(const char *text, const char *name, mf_buf *out, mf_err *err)
{
    int has_marker = starts_with(text, SENDER_AD_PREFIX);
    int need_name = !is_empty(name) && strstr(text, name) == NULL;
    const char *rest = text;

    if (has_marker && !need_name)
        return mf_buf_append_str(out, text, err);
    if (has_marker) {
        rest = text + strlen(SENDER_AD_PREFIX);
        while (*rest == ' ')
            rest++;
    }
    if (mf_buf_append_str(out, SENDER_AD_PREFIX, err) != 0)
        return -1;
    if (need_name) {
        if (mf_buf_append_str(out, name, err) != 0 || mf_buf_append_char(out, '\n', err) != 0)
            return -1;
    } else if (mf_buf_append_char(out, ' ', err) != 0) {
        return -1;
    }
    return mf_buf_append_str(out, rest, err);
}

int sender_rules_advertise(const char *text, const char *sender_name, const char *opt_out,
                           mf_buf *out, mf_err *err)
{
    int has_opt_out = strstr(text, SENDER_AD_OPTOUT_WORD) != NULL ||
                      (!is_empty(opt_out) && strstr(text, opt_out) != NULL);

    if (!has_opt_out && is_empty(opt_out))
        return mf_err_set(err, "advertising message has no opt-out line and "
                               "message_config.advertising.opt_out is not set");
    if (append_marker_and_body(text, sender_name, out, err) != 0)
        return -1;
    if (!has_opt_out) {
        if (mf_buf_append_char(out, '\n', err) != 0 || mf_buf_append_str(out, opt_out, err) != 0)
            return -1;
    }
    return 0;
}

/* 1 when now_ms is outside [08:00, end_hour:00) KST, with *resume_ms the next 08:00. */
static int outside_day(int64_t now_ms, int end_hour, int64_t *resume_ms)
{
    int64_t local = now_ms + KST_OFFSET_MS;
    int64_t into_day = local % DAY_MS;
    int64_t day_start, hour;

    if (into_day < 0)
        into_day += DAY_MS;
    day_start = local - into_day;
    hour = into_day / HOUR_MS;
    if (hour >= 8 && hour < end_hour)
        return 0;
    if (hour >= end_hour)
        day_start += DAY_MS;
    *resume_ms = day_start + 8 * HOUR_MS - KST_OFFSET_MS;
    return 1;
}

int sender_rules_quiet_hours(int64_t now_ms, int64_t *resume_ms)
{
    return outside_day(now_ms, 21, resume_ms);
}

int sender_rules_ad_window(int64_t now_ms, int kakao, int consent, int64_t *resume_ms)
{
    if (kakao)
        return outside_day(now_ms, 20, resume_ms);
    if (consent)
        return 0;
    return outside_day(now_ms, 21, resume_ms);
}

long long sender_rules_backoff_ms(int attempt, long long base_ms, long long cap_ms,
                                  long long retry_after_ms, uint32_t rnd)
{
    long long hi = base_ms, lo, d;

    for (int i = 1; i < attempt && hi < cap_ms; i++)
        hi *= 2;
    if (hi > cap_ms)
        hi = cap_ms;
    lo = base_ms / 2;
    if (lo > hi)
        lo = hi;
    d = lo + (long long)(rnd % (uint64_t)(hi - lo + 1));
    if (retry_after_ms > d)
        d = retry_after_ms;
    if (d > cap_ms)
        d = cap_ms;
    return d;
}

struct mf_euckr *sender_rules_counter_new(mf_err *err)
{
    return mf_euckr_new(err);
}

void sender_rules_counter_free(struct mf_euckr *c)
{
    mf_euckr_free(c);
}

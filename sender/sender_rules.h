/* sender_rules: pure decisions of the sender: message type, advertising text, quiet hours. */
#ifndef SENDER_RULES_H
#define SENDER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "mf_err.h"

struct mf_euckr;

/* What a job is sent as. The values equal mf_msg_type's (MF_TYPE_SMS/LMS/KAKAO); this module
 * does not include mf_codec.h so that it can sit next to mf_euckr.h. */
typedef enum sender_kind {
    SENDER_KIND_SMS = 1,
    SENDER_KIND_LMS = 2,
    SENDER_KIND_KAKAO = 3
} sender_kind;

/* Fleet-side failure codes (message_logs.error_code). */
#define SENDER_CODE_RENDER "RENDER_FAILED"
#define SENDER_CODE_TOO_LONG "TOO_LONG"
#define SENDER_CODE_NO_TEMPLATE "TEMPLATE_NOT_FOUND"
#define SENDER_CODE_BAD_CONFIG "BAD_CONFIG"

/* The advertising marker every promotion text must start with. */
#define SENDER_AD_PREFIX "(광고)"
/* Words that show an opt-out line is already there. */
#define SENDER_AD_OPTOUT_WORD "무료수신거부"

/* Bounds of what the sender renders per job: a longer template could never make a valid
 * message (LMS: 2,000 EUC-KR bytes), and each placeholder costs a lookup per job. */
#define SENDER_TEMPLATE_CONTENT_MAX 16384 /* message_templates.content, bytes */
#define SENDER_TEMPLATE_SUBJECT_MAX 1024  /* message_config.subject, bytes */
#define SENDER_TEMPLATE_VARS_MAX 100      /* placeholders, content and subject together */

/*
 * Check a template before it is cached: content (may not be NULL) and subject (may be NULL)
 * within their byte bounds and at most SENDER_TEMPLATE_VARS_MAX placeholders in all.
 * Returns 0, or -1 with err naming the bound: `template content is 4194304 bytes, over the
 * 16384-byte limit`. The sender fails every job of such a template with SENDER_CODE_BAD_CONFIG
 * and that message, without rendering it.
 */
int sender_rules_check_template(const char *content, const char *subject, mf_err *err);

/*
 * Decide the type of an SMS/LMS template's message AFTER rendering (template_type "sms" or
 * "lms"; both pick by length) or pass a "kakao" template through as SENDER_KIND_KAKAO.
 * SMS: body <= 90 EUC-KR bytes (the subject is dropped: SMS has none). LMS: body <= 2000 and
 * subject (may be NULL/"") <= 40. Longer: -1 with *code = SENDER_CODE_TOO_LONG. A character
 * without an EUC-KR form (emoji) or invalid UTF-8: -1 with *code = SENDER_CODE_RENDER. An
 * unknown template_type: -1 with SENDER_CODE_BAD_CONFIG. *code points at a static string.
 */
int sender_rules_decide(struct mf_euckr *c, const char *template_type, const char *body,
                        const char *subject, sender_kind *kind, const char **code, mf_err *err);

/*
 * Make an advertising (category "promotion") text lawful (Article 50 of the Network Act):
 * - it must start with "(광고)": when missing, "(광고)" is prepended, followed by the sender
 *   name and a newline when sender_name is given and not yet in the text, else by one space;
 *   when the marker is there but the configured sender name is nowhere in the text, the name
 *   is inserted right after the marker (then a newline);
 * - it must carry the free opt-out line: when neither opt_out nor the word "무료수신거부" is
 *   in the text, "\n" + opt_out is appended. With no opt_out configured and none in the text
 *   the job cannot be sent lawfully: -1 (code SENDER_CODE_BAD_CONFIG).
 * The result is appended to out (reset by the caller). sender_name/opt_out may be NULL.
 */
int sender_rules_advertise(const char *text, const char *sender_name, const char *opt_out,
                           mf_buf *out, mf_err *err);

/*
 * Quiet hours for advertising: 21:00 (inclusive) to 08:00 (exclusive) Asia/Seoul (UTC+9,
 * no daylight saving). Returns 1 when now_ms (unix ms) falls inside, with *resume_ms the next
 * 08:00 KST; 0 otherwise (*resume_ms untouched).
 */
int sender_rules_quiet_hours(int64_t now_ms, int64_t *resume_ms);

/*
 * The time window of an advertising message at now_ms (unix ms), Asia/Seoul:
 * - SMS/LMS (kakao 0): 21:00 (inclusive) to 08:00 (exclusive) is night; a night send needs the
 *   recipient's separate consent (Article 50(3) of the Network Act): with consent 1 it goes,
 *   without it it waits for 08:00;
 * - Kakao (kakao 1): the provider delivers advertising only from 08:00 (inclusive) to 20:00
 *   (exclusive) and fails it outside (SOLAPI status 3108), consent or not: it waits for 08:00.
 * Returns 1 (defer, *resume_ms = the next 08:00 KST) or 0 (send now; *resume_ms untouched).
 */
int sender_rules_ad_window(int64_t now_ms, int kakao, int consent, int64_t *resume_ms);

/* Backoff before retry number `attempt` (1 = first retry): a full-jitter exponential delay
 * uniform in [base/2, min(cap, base * 2^(attempt-1))], using `rnd` (any 32-bit random
 * value). A Retry-After (retry_after_ms >= 0) raises the delay to at least that, still capped
 * at cap. */
long long sender_rules_backoff_ms(int attempt, long long base_ms, long long cap_ms,
                                  long long retry_after_ms, uint32_t rnd);

/* The EUC-KR counter (mf_euckr) for callers that cannot include mf_euckr.h next to
 * mf_codec.h. NULL with err when iconv lacks CP949. */
struct mf_euckr *sender_rules_counter_new(mf_err *err);
void sender_rules_counter_free(struct mf_euckr *c);

#endif

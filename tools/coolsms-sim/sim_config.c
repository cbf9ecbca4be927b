/* sim_config: the simulator's knob table (env at start, JSON at run time) and start-up settings. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sim.h"

typedef enum knob_type { K_INT, K_DOUBLE, K_BOOL, K_CODE, K_STEPS, K_STR } knob_type;

typedef struct knob_def {
    const char *name;
    const char *env;
    knob_type type;
    const char *def;
    double min, max;
    size_t offset;
    const char *desc;
} knob_def;

#define KOFF(f) offsetof(sim_knobs, f)

static const knob_def knobs[] = {
    {"latency_ms", "MF_SIM_LATENCY_MS", K_INT, "0", 0, 600000, KOFF(latency_ms),
     "delay added before answering each API request"},
    {"error_5xx_ratio", "MF_SIM_ERROR_5XX_RATIO", K_DOUBLE, "0", 0, 1, KOFF(error_5xx_ratio),
     "share of API requests answered 500/502/503 with a text body (nothing recorded)"},
    {"timeout_ratio", "MF_SIM_TIMEOUT_RATIO", K_DOUBLE, "0", 0, 1, KOFF(timeout_ratio),
     "share of API requests held for timeout_hold_ms, then dropped without an answer"},
    {"timeout_hold_ms", "MF_SIM_TIMEOUT_HOLD_MS", K_INT, "30000", 0, 3600000, KOFF(timeout_hold_ms),
     "how long a timed-out request is held before the connection drops"},
    {"timeout_commit", "MF_SIM_TIMEOUT_COMMIT", K_BOOL, "1", 0, 1, KOFF(timeout_commit),
     "1: a timed-out request is processed (and recorded) before the drop (the in-doubt case); "
     "0: dropped before processing"},
    {"reset_ratio", "MF_SIM_RESET_RATIO", K_DOUBLE, "0", 0, 1, KOFF(reset_ratio),
     "share of API requests processed (and recorded), then answered by closing the "
     "connection with a TCP reset and no answer"},
    {"fault_steps", "MF_SIM_FAULT_STEPS", K_STEPS, "all", 0, 0, KOFF(fault_steps),
     "comma list of the steps latency_ms, error_5xx_ratio, timeout_ratio and reset_ratio apply "
     "to: create, add, send, group_get, group_messages, group_list, group_delete, list, "
     "send_many, quota, webhook, black; or all, none"},
    {"latency_steps", "MF_SIM_LATENCY_STEPS", K_STEPS, "", 0, 0, KOFF(latency_steps),
     "steps latency_ms applies to; empty = fault_steps"},
    {"error_5xx_steps", "MF_SIM_ERROR_5XX_STEPS", K_STEPS, "", 0, 0, KOFF(error_5xx_steps),
     "steps error_5xx_ratio applies to; empty = fault_steps"},
    {"timeout_steps", "MF_SIM_TIMEOUT_STEPS", K_STEPS, "", 0, 0, KOFF(timeout_steps),
     "steps timeout_ratio applies to; empty = fault_steps"},
    {"reset_steps", "MF_SIM_RESET_STEPS", K_STEPS, "", 0, 0, KOFF(reset_steps),
     "steps reset_ratio applies to; empty = fault_steps"},
    {"capture_file", "MF_SIM_CAPTURE_FILE", K_STR, "", 0, 0, KOFF(capture_file),
     "when set, append {\"method\",\"path\",\"body\"} as one JSON line per /messages/v4 request "
     "(body: the parsed JSON or null); empty = off"},
    {"daily_quota", "MF_SIM_DAILY_QUOTA", K_INT, "0", 0, 1000000000, KOFF(daily_quota),
     "messages the account may send per Korean calendar day; those sent beyond it fail in "
     "their group with quota_fail_code; 0 = unlimited"},
    {"quota_fail_code", "MF_SIM_QUOTA_FAIL_CODE", K_CODE, "2024", 0, 0, KOFF(quota_fail_code),
     "final statusCode of messages sent beyond daily_quota (the real code is undocumented)"},
    {"webhook_url", "MF_SIM_WEBHOOK_URL", K_STR, "", 0, 0, KOFF(webhook_url),
     "plain http:// URL that receives single-report POSTs for messages sent while it is set; "
     "empty = off"},
    {"webhook_group_url", "MF_SIM_WEBHOOK_GROUP_URL", K_STR, "", 0, 0, KOFF(webhook_group_url),
     "plain http:// URL that receives group-report POSTs for groups sent while it is set; "
     "empty = off"},
    {"webhook_batch", "MF_SIM_WEBHOOK_BATCH", K_INT, "100", 1, 10000, KOFF(webhook_batch),
     "reports per single-report POST"},
    {"webhook_interval_ms", "MF_SIM_WEBHOOK_INTERVAL_MS", K_INT, "200", 10, 600000,
     KOFF(webhook_interval_ms), "how often due reports are collected and posted"},
    {"webhook_retry_ms", "MF_SIM_WEBHOOK_RETRY_MS", K_INT, "1000", 0, 3600000,
     KOFF(webhook_retry_ms),
     "delay before a failed delivery is retried (times the retry number; at most 5 retries)"},
    {"rate_limit_per_s", "MF_SIM_RATE_LIMIT_PER_S", K_DOUBLE, "0", 0, 1e9, KOFF(rate_limit_per_s),
     "token bucket over the account in messages per second (burst: one second); exceeding "
     "gives HTTP 429 TooManyRequests; 0 = off"},
    {"permanent_fail_ratio", "MF_SIM_PERMANENT_FAIL_RATIO", K_DOUBLE, "0", 0, 1,
     KOFF(permanent_fail_ratio),
     "share of otherwise valid messages refused at registration with permanent_fail_code "
     "(send-many's failedMessageList, or stored but never sent in a group); deterministic "
     "per (seed, to, customFields.jobId)"},
    {"permanent_fail_code", "MF_SIM_PERMANENT_FAIL_CODE", K_CODE, "1060", 0, 0,
     KOFF(permanent_fail_code), "statusCode of those permanent failures"},
    {"deliver_delay_ms", "MF_SIM_DELIVER_DELAY_MS", K_INT, "1000", 0, 86400000,
     KOFF(deliver_delay_ms),
     "time from acceptance (2000) to the final status; 3000 from half of it"},
    {"deliver_fail_ratio", "MF_SIM_DELIVER_FAIL_RATIO", K_DOUBLE, "0", 0, 1,
     KOFF(deliver_fail_ratio),
     "share of accepted messages that end with deliver_fail_code instead of 4000; "
     "deterministic per (seed, messageId)"},
    {"deliver_fail_code", "MF_SIM_DELIVER_FAIL_CODE", K_CODE, "3043", 0, 0, KOFF(deliver_fail_code),
     "final statusCode of delivery failures"},
};
#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

static int parse_code(const char *v, char *out, mf_err *err, const char *name)
{
    size_t n = strlen(v);
    if (n < 4 || n >= SIM_CODE_LEN)
        return mf_err_set(err, "invalid value for %s: \"%s\" (expected a 4-digit status code)",
                          name, v);
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return mf_err_set(err, "invalid value for %s: \"%s\" (expected digits)", name, v);
    if (strcmp(v, "2000") == 0 || strcmp(v, "3000") == 0 || strcmp(v, "4000") == 0)
        return mf_err_set(err, "invalid value for %s: \"%s\" is not a failure code", name, v);
    memcpy(out, v, n + 1);
    return 0;
}

static const char *const STEP_NAMES[] = {
    "create",       "add",  "send",      "group_get", "group_messages", "group_list",
    "group_delete", "list", "send_many", "quota",     "webhook",        "black"};
#define NSTEPS (sizeof(STEP_NAMES) / sizeof(STEP_NAMES[0]))

int sim_step_hit(unsigned kind_steps, unsigned fault_steps, unsigned step)
{
    unsigned m = kind_steps ? kind_steps : fault_steps;
    return (m & step) != 0;
}

/* "all", "none", "" or a comma list of step names. */
static int parse_steps(const char *v, unsigned *out, mf_err *err, const char *name)
{
    unsigned m = 0;
    const char *p = v;

    if (*v == '\0') {
        *out = 0;
        return 0;
    }
    while (*p) {
        char tok[32];
        size_t n = strcspn(p, ",");
        size_t b = 0;
        int found = 0;

        while (b < n && p[b] == ' ')
            b++;
        while (n > b && p[n - 1] == ' ')
            n--;
        if (n - b >= sizeof(tok))
            return mf_err_set(err, "invalid value for %s: step name too long", name);
        memcpy(tok, p + b, n - b);
        tok[n - b] = '\0';
        if (!strcmp(tok, "all")) {
            m |= SIM_STEP_ALL;
            found = 1;
        } else if (!strcmp(tok, "none") || tok[0] == '\0') {
            found = 1;
        }
        for (size_t i = 0; i < NSTEPS && !found; i++)
            if (!strcmp(tok, STEP_NAMES[i])) {
                m |= 1u << i;
                found = 1;
            }
        if (!found)
            return mf_err_set(err, "invalid value for %s: unknown step \"%s\"", name, tok);
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    *out = m | SIM_STEP_SET;
    return 0;
}

static int steps_to_json(unsigned m, mf_buf *out, mf_err *err)
{
    int first = 1;
    if (m == 0)
        return mf_buf_append_str(out, "\"\"", err);
    if ((m & SIM_STEP_ALL) == SIM_STEP_ALL)
        return mf_buf_append_str(out, "\"all\"", err);
    if ((m & SIM_STEP_ALL) == 0)
        return mf_buf_append_str(out, "\"none\"", err);
    if (mf_buf_append_char(out, '"', err) != 0)
        return -1;
    for (size_t i = 0; i < NSTEPS; i++)
        if (m & (1u << i)) {
            if (mf_buf_printf(out, err, "%s%s", first ? "" : ",", STEP_NAMES[i]) != 0)
                return -1;
            first = 0;
        }
    return mf_buf_append_char(out, '"', err);
}

static int parse_number(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Store text value v into knob d of k; name is what errors call it (env var or knob). */
static int knob_set_text(sim_knobs *k, const knob_def *d, const char *v, const char *name,
                         mf_err *err)
{
    char *base = (char *)k + d->offset;
    double x;
    int b;

    switch (d->type) {
    case K_CODE: return parse_code(v, base, err, name);
    case K_STEPS: return parse_steps(v, (unsigned *)(void *)base, err, name);
    case K_STR:
        if (strlen(v) >= SIM_STR_KNOB)
            return mf_err_set(err, "value for %s is too long (at most %d bytes)", name,
                              SIM_STR_KNOB - 1);
        if (!strncmp(d->name, "webhook_", 8) && *v && strncmp(v, "http://", 7) != 0)
            return mf_err_set(err, "invalid value for %s: \"%s\" (expected an http:// URL)", name,
                              v);
        memcpy(base, v, strlen(v) + 1);
        return 0;
    case K_BOOL:
        if (parse_bool(v, &b) != 0)
            return mf_err_set(err, "invalid value for %s: \"%s\" (expected true or false)", name,
                              v);
        *(int *)(void *)base = b;
        return 0;
    case K_INT:
    case K_DOUBLE:
        if (parse_number(v, &x) != 0)
            return mf_err_set(err, "invalid value for %s: \"%s\" (expected a number)", name, v);
        if (x < d->min || x > d->max)
            return mf_err_set(err, "value for %s out of range: %s (allowed %g to %g)", name, v,
                              d->min, d->max);
        if (d->type == K_INT) {
            if (x != floor(x))
                return mf_err_set(err, "invalid value for %s: \"%s\" (expected an integer)", name,
                                  v);
            *(long long *)(void *)base = (long long)x;
        } else {
            *(double *)(void *)base = x;
        }
        return 0;
    }
    return mf_err_set(err, "unknown knob type");
}

static int set_defaults(sim_knobs *k, mf_err *err)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < NKNOBS; i++)
        if (knob_set_text(k, &knobs[i], knobs[i].def, knobs[i].name, err) != 0)
            return -1;
    return 0;
}

static int parse_senders(sim_settings *s, const char *v, mf_err *err)
{
    const char *p = v;
    s->nsenders = 0;
    while (*p) {
        char num[24];
        size_t n = 0;
        while (*p && *p != ',') {
            if (*p >= '0' && *p <= '9') {
                if (n + 1 >= sizeof(num))
                    return mf_err_set(err, "invalid value for MF_SIM_SENDERS: number too long");
                num[n++] = *p;
            } else if (*p != '-' && *p != ' ') {
                return mf_err_set(err, "invalid value for MF_SIM_SENDERS: unexpected \"%c\"", *p);
            }
            p++;
        }
        if (*p == ',')
            p++;
        if (n == 0)
            continue;
        if (s->nsenders >= SIM_MAX_SENDERS)
            return mf_err_set(err, "invalid value for MF_SIM_SENDERS: more than %d numbers",
                              SIM_MAX_SENDERS);
        num[n] = '\0';
        memcpy(s->senders[s->nsenders++], num, n + 1);
    }
    if (s->nsenders == 0)
        return mf_err_set(err, "MF_SIM_SENDERS must list at least one sender number");
    return 0;
}

/* The value of env, else the content of the file named by env_FILE (one trailing newline
 * dropped), so that a deployment passes the key and secret as files. */
static int copy_required(const char *env, char *out, size_t outsz, mf_err *err)
{
    const char *v = getenv(env);
    char fname[64];
    const char *path;

    snprintf(fname, sizeof(fname), "%s_FILE", env);
    path = getenv(fname);
    if ((v == NULL || *v == '\0') && path != NULL && *path != '\0') {
        FILE *f = fopen(path, "r");
        size_t n;

        if (f == NULL) {
            char ebuf[128];

            return mf_err_set(err, "could not open %s \"%s\": %s", fname, path,
                              mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        }
        n = fread(out, 1, outsz - 1, f);
        fclose(f);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
            n--;
        out[n] = '\0';
        if (n == 0)
            return mf_err_set(err, "%s \"%s\" is empty", fname, path);
        return 0;
    }
    if (v == NULL || *v == '\0')
        return mf_err_set(err, "%s (or %s) must be set", env, fname);
    if (strlen(v) >= outsz)
        return mf_err_set(err, "value of %s is too long (at most %zu bytes)", env, outsz - 1);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int parse_settings(sim_settings *s, mf_err *err)
{
    const char *v;
    double x;

    memset(s, 0, sizeof(*s));
    s->port = 58080;
    v = getenv("MF_SIM_PORT");
    if (v && *v) {
        if (parse_number(v, &x) != 0 || x < 0 || x > 65535 || x != floor(x))
            return mf_err_set(err, "invalid value for MF_SIM_PORT: \"%s\" (0-65535, 0 = any)", v);
        s->port = (int)x;
    }
    if (copy_required("MF_SIM_API_KEY", s->api_key, sizeof(s->api_key), err) != 0 ||
        copy_required("MF_SIM_API_SECRET", s->api_secret, sizeof(s->api_secret), err) != 0)
        return -1;
    v = getenv("MF_SIM_SENDERS");
    if (v == NULL || *v == '\0')
        return mf_err_set(err, "MF_SIM_SENDERS must be set (comma list of sender numbers)");
    if (parse_senders(s, v, err) != 0)
        return -1;
    v = getenv("MF_SIM_ACCOUNT_ID");
    snprintf(s->account_id, sizeof(s->account_id), "%s", (v && *v) ? v : "10000001");
    s->seed = 1;
    v = getenv("MF_SIM_SEED");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0' || v[0] == '-')
            return mf_err_set(err, "invalid value for MF_SIM_SEED: \"%s\" (unsigned integer)", v);
        s->seed = u;
    }
    v = getenv("MF_SIM_CONTROL");
    if (v && *v) {
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
            !strcasecmp(v, "on"))
            s->control = 1;
        else if (strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no") &&
                 strcasecmp(v, "off"))
            return mf_err_set(err, "invalid value for MF_SIM_CONTROL: \"%s\" (a boolean)", v);
    }
    return 0;
}

int sim_config_from_env(sim_settings *s, sim_knobs *k, mf_err *err)
{
    if (parse_settings(s, err) != 0)
        return -1;
    if (set_defaults(k, err) != 0)
        return -1;
    for (size_t i = 0; i < NKNOBS; i++) {
        const char *v = getenv(knobs[i].env);
        if (v && *v && knob_set_text(k, &knobs[i], v, knobs[i].env, err) != 0)
            return -1;
    }
    return 0;
}

/* JSON value of any scalar type as text for knob_set_text. */
static int json_to_text(json_t *v, char *buf, size_t bufsz)
{
    if (json_is_string(v))
        snprintf(buf, bufsz, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, bufsz, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, bufsz, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    return 0;
}

int sim_config_apply_json(sim_knobs *k, const char *json, size_t len, mf_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    sim_knobs tmp = *k;
    const char *key;
    json_t *val;
    int rc = -1;

    if (root == NULL || !json_is_object(root)) {
        mf_err_set(err, "config body must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, val)
    {
        const knob_def *d = NULL;
        char text[SIM_STR_KNOB + 8];
        for (size_t i = 0; i < NKNOBS; i++)
            if (strcmp(knobs[i].name, key) == 0)
                d = &knobs[i];
        if (d == NULL) {
            mf_err_set(err, "unknown knob \"%s\"", key);
            goto out;
        }
        if (json_to_text(val, text, sizeof(text)) != 0) {
            mf_err_set(err, "invalid value for %s (expected a number, boolean or string)", key);
            goto out;
        }
        if (knob_set_text(&tmp, d, text, key, err) != 0)
            goto out;
    }
    *k = tmp;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int sim_config_to_json(const sim_knobs *k, mf_buf *out, mf_err *err)
{
    const char *base = (const char *)k;
    if (mf_buf_append_char(out, '{', err) != 0)
        return -1;
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob_def *d = &knobs[i];
        const void *p = base + d->offset;
        int rc = mf_buf_printf(out, err, "%s\"%s\":", i ? "," : "", d->name);
        if (rc == 0) {
            switch (d->type) {
            case K_INT: rc = mf_buf_printf(out, err, "%lld", *(const long long *)p); break;
            case K_DOUBLE: rc = mf_buf_printf(out, err, "%.17g", *(const double *)p); break;
            case K_BOOL:
                rc = mf_buf_append_str(out, *(const int *)p ? "true" : "false", err);
                break;
            case K_CODE:
            case K_STR: rc = mf_buf_append_json_cstr(out, (const char *)p, err); break;
            case K_STEPS: rc = steps_to_json(*(const unsigned *)p, out, err); break;
            }
        }
        if (rc != 0)
            return -1;
    }
    return mf_buf_append_char(out, '}', err);
}

void sim_config_print_markdown(void)
{
    printf("| knob (JSON) | environment | type | default | bounds | meaning |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob_def *d = &knobs[i];
        const char *t = d->type == K_INT      ? "int"
                        : d->type == K_DOUBLE ? "ratio/number"
                        : d->type == K_BOOL   ? "bool"
                        : d->type == K_STEPS  ? "step list"
                        : d->type == K_STR    ? "string"
                                              : "status code";
        char bounds[64] = "";
        if (d->type == K_INT || d->type == K_DOUBLE)
            snprintf(bounds, sizeof(bounds), "%.15g..%.15g", d->min, d->max);
        printf("| `%s` | `%s` | %s | %s | %s | %s |\n", d->name, d->env, t,
               *d->def ? d->def : "(empty)", bounds, d->desc);
    }
}

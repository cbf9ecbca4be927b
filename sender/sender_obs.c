/* sender_obs: the sender's metrics, health dependencies and the /healthz + /metrics server. */
#include "sender_obs.h"

#include <stdio.h>
#include <string.h>

static const double SECONDS_BOUNDS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,  5,     10,   30,  60};
static const double SIZE_BOUNDS[] = {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

int sender_obs_init(sender_obs *o, mf_err *err)
{
    memset(o, 0, sizeof(*o));
    o->reg = mf_metrics_new();
    if (o->reg == NULL)
        return mf_err_set(err, "out of memory");
#define C(field, name, help, labels)                                                               \
    if ((o->field = mf_metrics_counter(o->reg, name, help, labels, err)) == NULL)                  \
        return -1;
#define G(field, name, help)                                                                       \
    if ((o->field = mf_metrics_gauge(o->reg, name, help, NULL, err)) == NULL)                      \
        return -1;
    C(messages, "msgfleet_sender_messages_total",
      "jobs whose outcome this sender decided (re-emitted outcomes are not counted)",
      "status,type,code")
    C(provider_requests, "msgfleet_sender_provider_requests_total",
      "send-many/detail requests by outcome", "outcome")
    C(retries, "msgfleet_sender_retries_total",
      "jobs handed to the retry topic after transient provider failures", NULL)
    C(dlq, "msgfleet_sender_dlq_total", "messages dead-lettered (undecodable, unknown version)",
      NULL)
    C(in_doubt, "msgfleet_sender_jobs_in_doubt_total",
      "abandoned claims resolved through the provider's list API", NULL)
    C(reused, "msgfleet_sender_claims_reused_total",
      "redelivered jobs whose stored outcome was re-emitted without sending", NULL)
    C(held, "msgfleet_sender_jobs_paused_total",
      "deferrals of jobs to the retry topic because their workflow is paused", NULL)
    C(groups_deleted, "msgfleet_sender_groups_deleted_total",
      "provider groups deleted unsent because their run was cancelled", NULL)
    G(inflight, "msgfleet_sender_inflight_requests", "provider requests in flight")
    G(parked, "msgfleet_sender_parked_jobs",
      "retry-topic jobs held in memory while their workflow is paused")
    G(lag, "msgfleet_sender_consumer_lag",
      "messages behind the high watermark, summed over the assigned partitions")
#undef C
#undef G
    o->provider_seconds = mf_metrics_histogram(
        o->reg, "msgfleet_sender_provider_request_seconds", "duration of provider requests", NULL,
        SECONDS_BOUNDS, sizeof(SECONDS_BOUNDS) / sizeof(SECONDS_BOUNDS[0]), err);
    if (o->provider_seconds == NULL)
        return -1;
    o->batch_size = mf_metrics_histogram(o->reg, "msgfleet_sender_request_batch_size",
                                         "messages per provider request", NULL, SIZE_BOUNDS,
                                         sizeof(SIZE_BOUNDS) / sizeof(SIZE_BOUNDS[0]), err);
    return o->batch_size == NULL ? -1 : 0;
}

int sender_obs_listen(sender_obs *o, int port, mf_err *err)
{
    o->httpd = mf_httpd_start(port, o->reg, err);
    return o->httpd == NULL ? -1 : 0;
}

void sender_obs_free(sender_obs *o)
{
    mf_httpd_stop(o->httpd);
    o->httpd = NULL;
    mf_metrics_free(o->reg);
    o->reg = NULL;
}

void sender_obs_dep(sender_obs *o, const char *name, int ok, const char *detail)
{
    if (o->httpd != NULL)
        mf_httpd_set_dep(o->httpd, name, ok, detail);
}

void sender_tally_add(sender_obs *o, sender_tally *t, const char *status, const char *type,
                      const char *code)
{
    if (code == NULL)
        code = "";
    for (int i = 0; i < t->n; i++)
        if (t->e[i].status == status && t->e[i].type == type && strcmp(t->e[i].code, code) == 0) {
            t->e[i].n++;
            return;
        }
    if (t->n == SENDER_TALLY_MAX)
        sender_tally_flush(o, t);
    t->e[t->n].status = status;
    t->e[t->n].type = type;
    snprintf(t->e[t->n].code, sizeof(t->e[t->n].code), "%s", code);
    t->e[t->n].n = 1;
    t->n++;
}

void sender_tally_flush(sender_obs *o, sender_tally *t)
{
    for (int i = 0; i < t->n; i++) {
        const char *lv[3] = {t->e[i].status, t->e[i].type, t->e[i].code};

        mf_metric_add(o->messages, lv, t->e[i].n);
    }
    t->n = 0;
}

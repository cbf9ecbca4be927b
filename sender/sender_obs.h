/* sender_obs: the sender's metrics, health dependencies and the /healthz + /metrics server. */
#ifndef SENDER_OBS_H
#define SENDER_OBS_H

#include <stdint.h>

#include "mf_err.h"
#include "mf_httpd.h"
#include "mf_metrics.h"

typedef struct sender_obs {
    mf_metrics *reg;
    mf_httpd *httpd; /* NULL when not started */
    mf_metric *messages, *provider_requests, *provider_seconds, *batch_size, *retries, *dlq,
        *inflight, *lag, *in_doubt, *reused, *held, *parked, *groups_deleted;
} sender_obs;

/* Declares every family (no server yet). Returns 0 or -1 with err. */
int sender_obs_init(sender_obs *o, mf_err *err);

/* Starts the HTTP server on port (0: any free port). Returns 0 or -1 with err. */
int sender_obs_listen(sender_obs *o, int port, mf_err *err);

/* Stops the server and frees the registry. */
void sender_obs_free(sender_obs *o);

/* Records a dependency state ("postgres", "kafka", "coolsms"); no-op without a server.
 * Cheap (one mutex), called per batch or per request. */
void sender_obs_dep(sender_obs *o, const char *name, int ok, const char *detail);

/* Per-batch tally of msgfleet_sender_messages_total: add() per message, flush() once. */
#define SENDER_TALLY_MAX 32
typedef struct sender_tally {
    struct {
        const char *status, *type;
        char code[64];
        double n;
    } e[SENDER_TALLY_MAX];
    int n;
} sender_tally;

void sender_tally_add(sender_obs *o, sender_tally *t, const char *status, const char *type,
                      const char *code);
void sender_tally_flush(sender_obs *o, sender_tally *t);

#endif

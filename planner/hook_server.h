/* hook_server: the planner's webhook endpoint: POST /v1/workflows/{id}/trigger starts a run. */
#ifndef PLANNER_HOOK_SERVER_H
#define PLANNER_HOOK_SERVER_H

#include "mf_err.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "planner_config.h"

/*
 * An HTTP server on MF_PLANNER_WEBHOOK_LISTEN, its own thread and its own PostgreSQL
 * connection (docs/triggers.md, "Webhook"). A signed call of an active, webhook-triggered
 * workflow inserts a running workflow_runs row (trigger_type 'webhook') and the call's
 * variables and recipients or customer keys; planners expand it like any other run. Answers
 * are JSON: 202 {"run_id": ...}; errors {"code": ..., "message": ...} with 400, 401, 404,
 * 405, 409, 413, 429 (Retry-After) or 503.
 */
typedef struct hook_server hook_server;

/* Start on cfg->webhook_listen ("host:port", IPv4; port 0 picks a free one). cfg, log and
 * metrics (may be NULL) are borrowed and must outlive the server; calls are counted in
 * msgfleet_planner_webhook_calls_total{code}. NULL with err (bad address, port in use). */
hook_server *hook_server_start(const planner_config *cfg, mf_log *log, mf_metrics *metrics,
                               mf_err *err);

/* The port listened on. */
int hook_server_port(const hook_server *s);

/* Stop serving, close the connection, free. NULL is ignored. */
void hook_server_stop(hook_server *s);

#endif

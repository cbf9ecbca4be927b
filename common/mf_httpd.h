/* mf_httpd: the operations endpoint of a daemon: /healthz, /livez and /metrics over HTTP. */
#ifndef MF_HTTPD_H
#define MF_HTTPD_H

#include "mf_err.h"
#include "mf_metrics.h"

/*
 * Serves on 127.0.0.1 (or the MF_HTTP_BIND address) from its own thread:
 *   GET /livez    200 "ok" while the process runs;
 *   GET /healthz  200 {"status":"ready",...} when every dependency is up, else 503 with
 *                 {"status":"not ready","dependencies":{"postgres":{"ok":false,"detail":"..."}}};
 *   GET /metrics  the registry in the Prometheus text format.
 * Dependencies are named slots the daemon updates as it learns (cheap, thread-safe).
 */
typedef struct mf_httpd mf_httpd;

#define MF_HTTPD_MAX_DEPS 8

/* Starts the server on 127.0.0.1:`port` (0: a free port). `metrics` is borrowed and must
 * outlive the server. Returns NULL with err (`could not listen on 127.0.0.1:%d: ...`). */
mf_httpd *mf_httpd_start(int port, mf_metrics *metrics, mf_err *err);

/* The same on another IPv4 address (MF_HTTP_BIND, e.g. "0.0.0.0" inside a container). */
mf_httpd *mf_httpd_start_on(const char *bind_addr, int port, mf_metrics *metrics, mf_err *err);

/* Stops the server and frees it. NULL is ignored. */
void mf_httpd_stop(mf_httpd *h);

/* The port actually listened on. */
int mf_httpd_port(const mf_httpd *h);

/* Records a dependency's state ("postgres", "kafka", "mysql", "coolsms"); detail may be NULL.
 * The first call for a name declares it. */
void mf_httpd_set_dep(mf_httpd *h, const char *name, int ok, const char *detail);

#endif

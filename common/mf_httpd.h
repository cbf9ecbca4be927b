/* mf_httpd: a daemon's HTTP servers: the operations endpoint and small application endpoints. */
#ifndef MF_HTTPD_H
#define MF_HTTPD_H

#include <stddef.h>

#include "mf_buf.h"
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

/* ---- application endpoints ---------------------------------------------------------------
 * A server of its own (own port, own thread) whose every request goes to one handler, with the
 * whole body read first. The body is bounded: a Content-Length over max_body is answered 413
 * before any of it is read, and a body that grows past it while arriving (chunked) is
 * discarded as it comes and answered 413; the handler never sees either. The handler runs on
 * the server's single thread, one request at a time. */
typedef struct mf_httpd_req {
    const char *method; /* "POST", "GET", ... */
    const char *url;    /* path, without the query string */
    const char *body;   /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    void *conn_; /* private: for mf_httpd_req_header */
} mf_httpd_req;

/* The handler's answer: status (default 200), Content-Type (default application/json),
 * an optional Retry-After value (seconds), and the body (owned by the server). */
typedef struct mf_httpd_resp {
    unsigned status;
    const char *content_type;
    long long retry_after_s; /* > 0: a Retry-After header */
    mf_buf body;
} mf_httpd_resp;

typedef void (*mf_httpd_handler)(void *arg, const mf_httpd_req *req, mf_httpd_resp *resp);

/* A request header by name (case-insensitive), or NULL. Valid during the handler call. */
const char *mf_httpd_req_header(const mf_httpd_req *req, const char *name);

/* Starts an application server on bind_addr:port (port 0: a free one) calling fn(arg, ...)
 * for every request. arg is borrowed and must outlive the server. Stop with mf_httpd_stop.
 * Returns NULL with err (`could not listen on %s:%d: ...`). */
mf_httpd *mf_httpd_start_app(const char *bind_addr, int port, size_t max_body, mf_httpd_handler fn,
                             void *arg, mf_err *err);

#endif

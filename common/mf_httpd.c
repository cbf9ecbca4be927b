/* mf_httpd: a daemon's HTTP servers: the operations endpoint and small application endpoints. */
#include "mf_httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_buf.h"

typedef struct dep {
    char name[32];
    int ok;
    char detail[256];
} dep;

struct mf_httpd {
    struct MHD_Daemon *mhd;
    mf_metrics *metrics;
    /* application mode (mf_httpd_start_app): fn != NULL */
    mf_httpd_handler fn;
    void *fn_arg;
    size_t max_body;
    int port;
    pthread_mutex_t lock;
    dep deps[MF_HTTPD_MAX_DEPS];
    size_t ndeps;
};

void mf_httpd_set_dep(mf_httpd *h, const char *name, int ok, const char *detail)
{
    size_t i;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    for (i = 0; i < h->ndeps && strcmp(h->deps[i].name, name) != 0; i++)
        ;
    if (i == h->ndeps && h->ndeps < MF_HTTPD_MAX_DEPS) {
        snprintf(h->deps[i].name, sizeof(h->deps[i].name), "%s", name);
        h->ndeps++;
    }
    if (i < h->ndeps) {
        h->deps[i].ok = ok;
        snprintf(h->deps[i].detail, sizeof(h->deps[i].detail), "%s", detail ? detail : "");
    }
    pthread_mutex_unlock(&h->lock);
}

/* {"status":..., "dependencies":{...}}; returns whether every dependency is up. */
static int health_body(mf_httpd *h, mf_buf *out, mf_err *err)
{
    int ready = 1;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->ndeps; i++)
        ready &= h->deps[i].ok != 0;
    mf_buf_printf(out, err, "{\"status\":\"%s\",\"dependencies\":{", ready ? "ready" : "not ready");
    for (size_t i = 0; i < h->ndeps; i++) {
        mf_buf_printf(out, err, "%s\"%s\":{\"ok\":%s,\"detail\":", i ? "," : "", h->deps[i].name,
                      h->deps[i].ok ? "true" : "false");
        mf_buf_append_json_cstr(out, h->deps[i].detail, err);
        mf_buf_append_char(out, '}', err);
    }
    mf_buf_append_str(out, "}}\n", err);
    pthread_mutex_unlock(&h->lock);
    return ready;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- application mode ----------------------------------------------------------------- */

/* Per-request state of an application request: the body read so far. */
typedef struct app_req {
    mf_buf body;
    int too_big;  /* the body passed max_body: discarded, answered 413 */
    int answered; /* a response is queued already */
} app_req;

const char *mf_httpd_req_header(const mf_httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn_, MHD_HEADER_KIND, name);
}

static enum MHD_Result respond_app(struct MHD_Connection *conn, mf_httpd_resp *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body.len, resp->body.data ? resp->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    char ra[32];
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->retry_after_s > 0) {
        snprintf(ra, sizeof(ra), "%lld", resp->retry_after_s);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    rc = MHD_queue_response(conn, resp->status ? resp->status : 200, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_too_big(struct MHD_Connection *conn, size_t max_body)
{
    char body[160];
    int n = snprintf(body, sizeof(body),
                     "{\"code\":\"body_too_large\",\"message\":\"the body "
                     "is larger than %zu bytes\"}\n",
                     max_body);

    return respond(conn, 413, "application/json", body, (size_t)n);
}

/* Content-Length over max (or unreadable): 1. Absent (chunked): 0, checked as it arrives. */
static int declared_too_big(struct MHD_Connection *conn, size_t max)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n;

    if (cl == NULL)
        return 0;
    n = strtoull(cl, &end, 10);
    return end == cl || *end != '\0' || n > (unsigned long long)max;
}

static enum MHD_Result on_app_request(mf_httpd *h, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *upload_data,
                                      size_t *upload_size, void **state)
{
    app_req *ar = *state;
    mf_httpd_req req;
    mf_httpd_resp resp;
    mf_err err = {{0}};
    enum MHD_Result rc;

    if (ar == NULL) { /* first call: headers only */
        ar = calloc(1, sizeof(*ar));
        if (ar == NULL)
            return MHD_NO;
        mf_buf_init(&ar->body, 0);
        *state = ar;
        if (declared_too_big(conn, h->max_body)) {
            ar->answered = 1;
            return respond_too_big(conn, h->max_body);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!ar->answered && !ar->too_big) {
            if (ar->body.len + *upload_size > h->max_body ||
                mf_buf_append(&ar->body, upload_data, *upload_size, &err) != 0)
                ar->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ar->answered)
        return MHD_YES;
    ar->answered = 1;
    if (ar->too_big)
        return respond_too_big(conn, h->max_body);
    if (mf_buf_append_char(&ar->body, '\0', &err) != 0)
        return MHD_NO;
    req.method = method;
    req.url = url;
    req.body = ar->body.data;
    req.body_len = ar->body.len - 1;
    req.conn_ = conn;
    memset(&resp, 0, sizeof(resp));
    mf_buf_init(&resp.body, 0);
    h->fn(h->fn_arg, &req, &resp);
    rc = respond_app(conn, &resp);
    mf_buf_free(&resp.body);
    return rc;
}

static void on_app_completed(void *cls, struct MHD_Connection *conn, void **state,
                             enum MHD_RequestTerminationCode toe)
{
    app_req *ar = *state;

    (void)cls;
    (void)conn;
    (void)toe;
    if (ar == NULL)
        return;
    mf_buf_free(&ar->body);
    free(ar);
    *state = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    mf_httpd *h = cls;
    mf_buf body;
    mf_err err = {{0}};
    enum MHD_Result rc;
    unsigned status = 200;
    const char *type = "text/plain; charset=utf-8";

    (void)version;
    if (h->fn != NULL)
        return on_app_request(h, conn, url, method, upload_data, upload_size, state);
    (void)upload_data;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0)
        return respond(conn, 405, type, "method not allowed\n", 19);
    mf_buf_init(&body, 0);
    if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4; charset=utf-8";
        if (mf_metrics_render(h->metrics, &body, &err) != 0)
            status = 500;
    } else if (strcmp(url, "/healthz") == 0) {
        type = "application/json";
        status = health_body(h, &body, &err) ? 200 : 503;
    } else if (strcmp(url, "/livez") == 0) {
        mf_buf_append_str(&body, "ok\n", &err);
    } else {
        status = 404;
        mf_buf_append_str(&body, "not found: /healthz, /livez, /metrics\n", &err);
    }
    rc = respond(conn, status, type, body.data ? body.data : "", body.len);
    mf_buf_free(&body);
    return rc;
}

mf_httpd *mf_httpd_start(int port, mf_metrics *metrics, mf_err *err)
{
    return mf_httpd_start_on("127.0.0.1", port, metrics, err);
}

static mf_httpd *start(const char *bind_addr, int port, mf_metrics *metrics, mf_httpd_handler fn,
                       void *fn_arg, size_t max_body, mf_err *err)
{
    mf_httpd *h = calloc(1, sizeof(*h));
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    if (h == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        mf_err_set(err, "invalid listen address \"%s\": not an IPv4 address", bind_addr);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->metrics = metrics;
    h->fn = fn;
    h->fn_arg = fn_arg;
    h->max_body = max_body;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              on_request, h, MHD_OPTION_SOCK_ADDR, &addr,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                              MHD_OPTION_NOTIFY_COMPLETED, on_app_completed, (void *)NULL,
                              MHD_OPTION_END);
    if (h->mhd == NULL) {
        mf_err_set(err, "could not listen on %s:%d: address in use or not permitted", bind_addr,
                   port);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

mf_httpd *mf_httpd_start_on(const char *bind_addr, int port, mf_metrics *metrics, mf_err *err)
{
    return start(bind_addr, port, metrics, NULL, NULL, 0, err);
}

mf_httpd *mf_httpd_start_app(const char *bind_addr, int port, size_t max_body, mf_httpd_handler fn,
                             void *arg, mf_err *err)
{
    return start(bind_addr, port, NULL, fn, arg, max_body, err);
}

int mf_httpd_port(const mf_httpd *h)
{
    return h->port;
}

void mf_httpd_stop(mf_httpd *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->mhd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

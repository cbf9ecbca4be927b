/* mf_httpd: the operations endpoint of a daemon: /healthz, /livez and /metrics over HTTP. */
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
    mf_buf_printf(out, err, "{\"status\":\"%s\",\"dependencies\":{",
                  ready ? "ready" : "not ready");
    for (size_t i = 0; i < h->ndeps; i++) {
        mf_buf_printf(out, err, "%s\"%s\":{\"ok\":%s,\"detail\":", i ? "," : "",
                      h->deps[i].name, h->deps[i].ok ? "true" : "false");
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
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state)
{
    mf_httpd *h = cls;
    mf_buf body;
    mf_err err = {{0}};
    enum MHD_Result rc;
    unsigned status = 200;
    const char *type = "text/plain; charset=utf-8";

    (void)version;
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

mf_httpd *mf_httpd_start_on(const char *bind_addr, int port, mf_metrics *metrics, mf_err *err)
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
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                              NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &addr,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (h->mhd == NULL) {
        mf_err_set(err, "could not listen on %s:%d: address in use or not permitted",
                   bind_addr, port);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
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

/* msgfleet-planner: fires schedules, claims runs and expands them into jobs. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "events.h"
#include "hook_server.h"
#include "mf_daemon.h"
#include "mf_httpd.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_watchdog.h"
#include "planner.h"
#include "planner_config.h"

static mf_httpd *start_http(const planner_config *cfg, mf_metrics *m, planner_metrics *pm,
                            mf_log *log, mf_err *err)
{
    mf_httpd *h;

    if (planner_metrics_init(pm, m, err) != 0)
        return NULL;
    h = mf_httpd_start((int)cfg->common.http_port, m, err);
    if (h == NULL)
        return NULL;
    MF_LOG(log, MF_LOG_INFO, "http listening", MF_KV_I("port", mf_httpd_port(h)));
    return h;
}

/* The transactional lane's loop (MF_PLANNER_TX_LANE): claims only transactional runs, so a
 * small run never waits for a campaign's expansion in the main loop. */
typedef struct tx_lane {
    planner_ctx ctx;
    mf_log *log;
    pthread_t thread;
    int started;
} tx_lane;

static void *tx_main(void *arg)
{
    tx_lane *t = arg;
    mf_err err = {{0}};

    if (planner_run_loop(&t->ctx, &err) != 0) {
        MF_LOG(t->log, MF_LOG_ERROR, "transactional lane stopped on a fatal error",
               MF_KV_S("error", err.msg));
        mf_daemon_request_stop();
    }
    return NULL;
}

static int tx_start(tx_lane *t, const planner_config *cfg, const planner_metrics *pm, mf_log *log,
                    mf_err *err)
{
    memset(t, 0, sizeof(*t));
    t->log = log;
    t->ctx.metrics = *pm;
    t->ctx.lane = "tx";
    if (planner_open(&t->ctx, cfg, log, err) != 0) {
        planner_close(&t->ctx);
        return -1;
    }
    if (pthread_create(&t->thread, NULL, tx_main, t) != 0) {
        planner_close(&t->ctx);
        return mf_err_set(err, "could not start the transactional lane thread");
    }
    t->started = 1;
    return 0;
}

static void tx_join(tx_lane *t)
{
    if (!t->started)
        return;
    pthread_join(t->thread, NULL);
    planner_close(&t->ctx);
    t->started = 0;
}

int main(int argc, char **argv)
{
    planner_config cfg;
    planner_ctx ctx;
    planner_metrics pm;
    mf_log *log = NULL;
    mf_metrics *metrics = NULL;
    mf_httpd *httpd = NULL;
    hook_server *hooks = NULL;
    mf_watchdog *wd = NULL;
    tx_lane tx = {0};
    planner_events *events = NULL;
    mf_err err = {{0}};
    int rc, status = 1;

    mf_daemon_tune_memory();
    rc = mf_daemon_handle_args(argc, argv, "msgfleet-planner", PLANNER_CONFIG_KEYS,
                               PLANNER_CONFIG_NKEYS);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (planner_config_load(&cfg, NULL, &err) != 0) {
        fprintf(stderr, "msgfleet-planner: bad configuration: %s\n", err.msg);
        return 2; /* like the sender and the reporter: a bad configuration is status 2 */
    }
    log = mf_daemon_start("msgfleet-planner", "planner", cfg.common.log_level, PLANNER_CONFIG_KEYS,
                          PLANNER_CONFIG_NKEYS, MF_CFG_PLANNER, &status);
    if (log == NULL)
        return status;
    metrics = mf_metrics_new();
    if (metrics == NULL)
        goto out;
    httpd = start_http(&cfg, metrics, &pm, log, &err);
    if (httpd == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    if (cfg.webhook_listen[0] != '\0') {
        hooks = hook_server_start(&cfg, log, metrics, &err);
        if (hooks == NULL) {
            MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
            goto out;
        }
        MF_LOG(log, MF_LOG_INFO, "webhook endpoint listening",
               MF_KV_S("listen", cfg.webhook_listen), MF_KV_I("port", hook_server_port(hooks)));
    }
    /* once a stop is requested, the process ends within shutdown_s even when a MySQL query
     * or a reconnect blocks (the run's lease then expires and another planner takes over) */
    wd = mf_watchdog_start(cfg.shutdown_s * 1000, log, &err);
    if (wd == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    ctx.httpd = httpd;
    ctx.metrics = pm;
    ctx.lane = cfg.tx_lane ? "campaign" : "";
    if (planner_open(&ctx, &cfg, log, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        planner_close(&ctx);
        goto out;
    }
    if ((cfg.tx_lane && tx_start(&tx, &cfg, &pm, log, &err) != 0) ||
        (cfg.events && (events = planner_events_start(&cfg, log, &pm, &err)) == NULL)) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        mf_daemon_request_stop();
        tx_join(&tx);
        planner_close(&ctx);
        goto out;
    }
    MF_LOG(log, MF_LOG_INFO, "planner started", MF_KV_S("instance", cfg.common.instance_id),
           MF_KV_S("jobs_topic", ctx.topic_jobs), MF_KV_S("tx_jobs_topic", ctx.topic_jobs_tx),
           MF_KV_I("tx_lane", cfg.tx_lane), MF_KV_I("events", cfg.events));
    rc = planner_run_loop(&ctx, &err);
    if (rc != 0)
        MF_LOG(log, MF_LOG_ERROR, "planner stopped on a fatal error", MF_KV_S("error", err.msg));
    mf_daemon_request_stop(); /* the other threads end with the main loop */
    tx_join(&tx);
    planner_events_join(events);
    planner_close(&ctx);
    mf_log_msgf(log, MF_LOG_INFO, "planner stopped");
    status = rc == 0 ? 0 : 1;
out:
    hook_server_stop(hooks);
    mf_httpd_stop(httpd);
    mf_watchdog_stop(wd); /* joined: it reads the log, freed below */
    mf_metrics_free(metrics);
    curl_global_cleanup(); /* mf_daemon_start initialised it */
    mf_log_free(log);
    return status;
}

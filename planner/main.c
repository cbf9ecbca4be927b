/* msgfleet-planner: fires schedules, claims runs and expands them into jobs. */
#include <stdio.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    planner_config cfg;
    planner_ctx ctx;
    planner_metrics pm;
    mf_log_level level;
    mf_log *log = NULL;
    mf_metrics *metrics = NULL;
    mf_httpd *httpd = NULL;
    mf_watchdog *wd = NULL;
    mf_err err = {{0}};
    int rc, status = 1;

    mf_daemon_tune_memory();
    rc = mf_daemon_handle_args(argc, argv, "msgfleet-planner", PLANNER_CONFIG_KEYS,
                               PLANNER_CONFIG_NKEYS);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (planner_config_load(&cfg, NULL, &err) != 0 ||
        mf_log_parse_level(cfg.common.log_level, &level) != 0) {
        fprintf(stderr, "msgfleet-planner: bad configuration: %s\n",
                err.msg[0] ? err.msg : "MF_LOG_LEVEL must be debug, info, warn or error");
        return 1;
    }
    log = mf_log_new("planner", level, STDERR_FILENO);
    metrics = mf_metrics_new();
    if (log == NULL || metrics == NULL || mf_daemon_install_signals(&err) != 0)
        goto out;
    mf_daemon_warn_secret_files(PLANNER_CONFIG_KEYS, PLANNER_CONFIG_NKEYS, MF_CFG_PLANNER, log);
    httpd = start_http(&cfg, metrics, &pm, log, &err);
    if (httpd == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
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
    if (planner_open(&ctx, &cfg, log, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        planner_close(&ctx);
        goto out;
    }
    MF_LOG(log, MF_LOG_INFO, "planner started", MF_KV_S("instance", cfg.common.instance_id),
           MF_KV_S("jobs_topic", ctx.topic_jobs));
    rc = planner_run_loop(&ctx, &err);
    if (rc != 0)
        MF_LOG(log, MF_LOG_ERROR, "planner stopped on a fatal error", MF_KV_S("error", err.msg));
    planner_close(&ctx);
    mf_log_msgf(log, MF_LOG_INFO, "planner stopped");
    status = rc == 0 ? 0 : 1;
out:
    mf_httpd_stop(httpd);
    mf_watchdog_stop(wd); /* joined: it reads the log, freed below */
    mf_metrics_free(metrics);
    mf_log_free(log);
    return status;
}

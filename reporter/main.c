/* msgfleet-reporter: records results in PostgreSQL (rows, counters, completion), polls finals. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mf_daemon.h"
#include "mf_log.h"
#include "mf_watchdog.h"
#include "reporter.h"
#include "reporter_config.h"

/* The priority lane's reporter (MF_REPORTER_TX_LANE): results.tx in a thread of its own. */
typedef struct lane {
    reporter_config cfg; /* the process's, with the lane's group and no poller or webhook */
    reporter *r;
    mf_log *log;
    pthread_t thread;
    int started;
} lane;

static void *lane_main(void *arg)
{
    lane *l = arg;
    mf_err err = {{0}};

    if (reporter_run(l->r, &err) != 0) {
        MF_LOG(l->log, MF_LOG_ERROR, "transactional lane stopped on a fatal error",
               MF_KV_S("error", err.msg));
        mf_daemon_request_stop();
    }
    return NULL;
}

static int lane_start(lane *l, const reporter_config *cfg, mf_log *log, const reporter *main_r,
                      mf_err *err)
{
    l->cfg = *cfg;
    l->cfg.status_enabled = 0;
    l->cfg.webhook_enabled = 0;
    snprintf(l->cfg.group, sizeof(l->cfg.group), "%.120s-tx", cfg->group);
    l->log = log;
    l->r = reporter_new_lane(&l->cfg, log, main_r, err);
    if (l->r == NULL)
        return -1;
    if (pthread_create(&l->thread, NULL, lane_main, l) != 0) {
        reporter_free(l->r);
        l->r = NULL;
        return mf_err_set(err, "could not start the transactional lane thread");
    }
    l->started = 1;
    MF_LOG(log, MF_LOG_INFO, "transactional lane started", MF_KV_S("group", l->cfg.group));
    return 0;
}

static void lane_stop(lane *l)
{
    if (!l->started)
        return;
    mf_daemon_request_stop();
    pthread_join(l->thread, NULL);
    reporter_free(l->r);
    l->started = 0;
}

int main(int argc, char **argv)
{
    lane tx = {.started = 0};
    reporter_config cfg;
    reporter *r = NULL;
    mf_log *log = NULL;
    mf_watchdog *wd = NULL;
    mf_err err;
    int rc, status = 1;

    mf_daemon_tune_memory();
    rc = mf_daemon_handle_args(argc, argv, "msgfleet-reporter", reporter_config_keys,
                               reporter_config_nkeys);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (reporter_config_load(&cfg, NULL, &err) != 0) {
        fprintf(stderr, "msgfleet-reporter: %s\n", err.msg);
        return 2;
    }
    log = mf_daemon_start("msgfleet-reporter", "reporter", cfg.common.log_level,
                          reporter_config_keys, reporter_config_nkeys, MF_CFG_REPORTER, &status);
    if (log == NULL)
        return status;
    /* after SIGTERM the process gets MF_REPORTER_SHUTDOWN_S to finish its batch and close; a
     * call that hangs (a database that stopped answering) must not keep it alive past that.
     * Nothing is lost by exiting: offsets are stored in the same transactions as the rows. */
    wd = mf_watchdog_start(cfg.shutdown_s * 1000, log, &err);
    if (wd == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    r = reporter_new(&cfg, log, &err);
    if (r == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    MF_LOG(log, MF_LOG_INFO, "reporter started", MF_KV_S("group", cfg.group),
           MF_KV_S("instance", cfg.common.instance_id));
    if (cfg.tx_lane && lane_start(&tx, &cfg, log, r, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    if (reporter_run(r, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "stopped on a fatal error", MF_KV_S("error", err.msg));
        goto out;
    }
    status = 0;
out:
    lane_stop(&tx);
    reporter_free(r);
    if (status == 0)
        MF_LOG(log, MF_LOG_INFO, "reporter stopped");
    mf_watchdog_stop(wd); /* joined: it reads the log, freed below */
    curl_global_cleanup();
    mf_log_free(log);
    return status;
}

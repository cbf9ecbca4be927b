/* msgfleet-planner: fires schedules, claims runs and expands them into jobs. */
#include <stdio.h>
#include <unistd.h>

#include "mf_daemon.h"
#include "mf_log.h"
#include "planner.h"
#include "planner_config.h"

int main(int argc, char **argv)
{
    planner_config cfg;
    planner_ctx ctx;
    mf_log_level level;
    mf_log *log = NULL;
    mf_err err;
    int rc, status = 1;

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
    if (log == NULL || mf_daemon_install_signals(&err) != 0)
        goto out;
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
    mf_log_free(log);
    return status;
}

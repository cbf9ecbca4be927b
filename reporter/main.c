/* msgfleet-reporter: record results in PostgreSQL (rows, counters, completion), poll final statuses. */
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mf_daemon.h"
#include "mf_log.h"
#include "reporter.h"
#include "reporter_config.h"

int main(int argc, char **argv)
{
    reporter_config cfg;
    reporter *r = NULL;
    mf_log *log = NULL;
    mf_log_level level;
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
    if (mf_log_parse_level(cfg.common.log_level, &level) != 0) {
        fprintf(stderr, "msgfleet-reporter: invalid value for MF_LOG_LEVEL: \"%s\"\n",
                cfg.common.log_level);
        return 2;
    }
    log = mf_log_new("reporter", level, STDERR_FILENO);
    if (log == NULL || mf_daemon_install_signals(&err) != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "msgfleet-reporter: could not start: %s\n", log ? err.msg : "no memory");
        mf_log_free(log);
        return 1;
    }
    mf_daemon_warn_secret_files(reporter_config_keys, reporter_config_nkeys, MF_CFG_REPORTER,
                                log);
    r = reporter_new(&cfg, log, &err);
    if (r == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    MF_LOG(log, MF_LOG_INFO, "reporter started", MF_KV_S("group", cfg.group),
           MF_KV_S("instance", cfg.common.instance_id));
    if (reporter_run(r, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "stopped on a fatal error", MF_KV_S("error", err.msg));
        goto out;
    }
    status = 0;
out:
    reporter_free(r);
    if (status == 0)
        MF_LOG(log, MF_LOG_INFO, "reporter stopped");
    curl_global_cleanup();
    mf_log_free(log);
    return status;
}

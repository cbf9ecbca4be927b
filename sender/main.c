/* msgfleet-sender: consume jobs, claim them, send through CoolSMS, produce the results. */
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mf_daemon.h"
#include "mf_log.h"
#include "mf_watchdog.h"
#include "sender.h"
#include "sender_config.h"

int main(int argc, char **argv)
{
    sender_config cfg;
    sender_ctx *s = NULL;
    mf_log *log = NULL;
    mf_watchdog *wd = NULL;
    mf_err err;
    int rc, status = 1;

    mf_daemon_tune_memory();
    rc = mf_daemon_handle_args(argc, argv, "msgfleet-sender", sender_config_keys,
                               sender_config_nkeys);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (sender_config_load(&cfg, NULL, &err) != 0) {
        fprintf(stderr, "msgfleet-sender: %s\n", err.msg);
        return 2;
    }
    log = mf_daemon_start("msgfleet-sender", "sender", cfg.common.log_level, sender_config_keys,
                          sender_config_nkeys, MF_CFG_SENDER, &status);
    if (log == NULL)
        return status;
    /* the hard stop; the cooperative one (finish or hand back the batch) is sender_run's */
    wd = mf_watchdog_start(cfg.shutdown_s * 1000 + SENDER_STOP_GRACE_MS, log, &err);
    if (wd == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    s = sender_new(&cfg, log, &err);
    if (s == NULL) {
        MF_LOG(log, MF_LOG_ERROR, "could not start", MF_KV_S("error", err.msg));
        goto out;
    }
    if (sender_run(s, &err) != 0) {
        MF_LOG(log, MF_LOG_ERROR, "stopped on a fatal error", MF_KV_S("error", err.msg));
        goto out;
    }
    status = 0;
    MF_LOG(log, MF_LOG_INFO, "sender stopped");
out:
    sender_free(s);
    mf_watchdog_stop(wd); /* joined after the producer's flush: it reads the log, freed below */
    curl_global_cleanup();
    mf_log_free(log);
    return status;
}

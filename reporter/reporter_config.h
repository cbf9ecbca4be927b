/* reporter_config: the reporter daemon's configuration table (environment variables). */
#ifndef REPORTER_CONFIG_H
#define REPORTER_CONFIG_H

#include <stddef.h>

#include "mf_config.h"
#include "mf_daemon.h"
#include "mf_err.h"

typedef struct reporter_config {
    mf_daemon_common common;
    char group[128];
    long long batch_max;
    long long linger_ms;
    long long hold_ms;  /* MF_REPORTER_HOLD_MS: 0 = results written at once */
    long long hold_max; /* MF_REPORTER_HOLD_MAX */
    char hold_dir[256]; /* MF_REPORTER_HOLD_DIR */
    long long price_ttl_ms;
    int status_enabled;
    long long status_batch;
    long long status_delay_ms;
    long long status_recheck_ms;
    long long status_interval_ms;
    long long status_max_lag;
    long long status_busy_rate;
    long long status_max_defer_ms;
    char coolsms_base_url[256];
    char coolsms_api_key[128];
    char coolsms_api_secret[256];
    long long coolsms_timeout_ms;
    long long stall_s;
    long long shutdown_s;
    long long tx_lane; /* MF_REPORTER_TX_LANE */
    long long lag_interval_ms;
    long long status_poll_after_ms;
    long long optout_sync_ms; /* 080 opt-out list sync interval (rep_optout); 0 = off */
    /* delivery-report webhook receiver (rep_webhook) */
    int webhook_enabled;
    char webhook_bind[64];
    long long webhook_port;
    char webhook_token[129];
    char webhook_token_old[129];
    long long webhook_max_body;
    long long webhook_ack_ms;
    long long webhook_threads;
    long long webhook_run_ttl_ms;
} reporter_config;

/* Shortest webhook path token accepted (characters of [A-Za-z0-9_-]). */
#define REPORTER_WEBHOOK_TOKEN_MIN 32

/* The table (for --config-doc and the drift check). */
extern const mf_config_key reporter_config_keys[];
extern const size_t reporter_config_nkeys;

/* Loads the configuration from the environment (get: NULL = getenv), checks the cross-key
 * rules (the API key and secret are required when the status poller is on; the webhook
 * receiver needs a token of REPORTER_WEBHOOK_TOKEN_MIN to 128 characters of [A-Za-z0-9_-],
 * the old one too when set, and they must differ) and fills the default instance id. Returns 0
 * or -1 with a message naming the key. */
int reporter_config_load(reporter_config *cfg, mf_config_getenv_fn get, mf_err *err);

#endif

/* sender_config: the sender daemon's configuration table (environment variables). */
#ifndef SENDER_CONFIG_H
#define SENDER_CONFIG_H

#include <stddef.h>

#include "mf_config.h"
#include "mf_daemon.h"
#include "mf_err.h"

typedef struct sender_config {
    mf_daemon_common common;
    char coolsms_base_url[256];
    char coolsms_api_key[128];
    char coolsms_api_secret[256];
    char coolsms_sender[24];
    long long coolsms_timeout_ms;
    char group[128];
    long long batch_max;
    long long linger_ms;
    long long template_ttl_ms;
    long long indoubt_after_ms;
    long long request_size;
    long long max_in_flight;
    long long fast_retries;
    long long retry_max;
    long long retry_base_ms;
    long long retry_cap_ms;
    long long retry_delay_ms;
    long long retry_delay_cap_ms;
    long long shutdown_s;
    long long halt_check_ms;
    double rate_limit;
    double account_rate;
    long long account_burst_ms;
    long long quota_check_ms;
    long long rate_horizon_s;
    long long clock_offset_ms;
} sender_config;

/* The table (for --config-doc and the drift check). */
extern const mf_config_key sender_config_keys[];
extern const size_t sender_config_nkeys;

/* Loads the configuration from the environment (get: NULL = getenv) and checks the
 * cross-key rules (MF_SENDER_INDOUBT_AFTER_MS must exceed MF_COOLSMS_TIMEOUT_MS plus
 * MF_SENDER_RETRY_CAP_MS, so a live sender's claim is never taken as abandoned).
 * Fills the default instance id. Returns 0 or -1 with a message naming the key. */
int sender_config_load(sender_config *cfg, mf_config_getenv_fn get, mf_err *err);

#endif

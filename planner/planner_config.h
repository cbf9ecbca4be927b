/* planner_config: the planner's settings (environment variables) and their table. */
#ifndef PLANNER_CONFIG_H
#define PLANNER_CONFIG_H

#include <stddef.h>

#include "mf_config.h"
#include "mf_daemon.h"

typedef struct planner_config {
    mf_daemon_common common;
    long long poll_ms;           /* MF_PLANNER_POLL_MS */
    long long lease_s;           /* MF_PLANNER_LEASE_S */
    long long page_size;         /* MF_PLANNER_PAGE_SIZE */
    long long page_max_bytes;    /* MF_PLANNER_PAGE_MAX_BYTES */
    long long cell_max_bytes;    /* MF_PLANNER_CELL_MAX_BYTES */
    long long flush_timeout_ms;  /* MF_PLANNER_FLUSH_TIMEOUT_MS */
    long long retry_ms;          /* MF_PLANNER_RETRY_MS */
    long long max_attempts;      /* MF_PLANNER_MAX_ATTEMPTS */
    long long query_cache_max;   /* MF_PLANNER_QUERY_CACHE */
    long long query_cache_bytes; /* MF_PLANNER_QUERY_CACHE_BYTES */
    long long shutdown_s;        /* MF_PLANNER_SHUTDOWN_S */
    long long events;            /* MF_PLANNER_EVENTS */
    long long events_refresh_ms; /* MF_PLANNER_EVENTS_REFRESH_MS */
    long long event_window_s;    /* MF_PLANNER_EVENT_WINDOW_S */
    long long event_grace_s;     /* MF_PLANNER_EVENT_WINDOW_GRACE_S */
    long long event_dedup_days;  /* MF_PLANNER_EVENT_DEDUP_DAYS */
    long long event_prune_ms;    /* MF_PLANNER_EVENT_PRUNE_MS */
    long long tx_lane;           /* MF_PLANNER_TX_LANE */
    char mysql_host[256];
    long long mysql_port;
    char mysql_user[128];
    char mysql_password[256];
    char mysql_db[128];
    long long mysql_time_limit_s;
    char webhook_listen[128];         /* MF_PLANNER_WEBHOOK_LISTEN ("" = no endpoint) */
    long long webhook_max_body;       /* MF_PLANNER_WEBHOOK_MAX_BODY */
    long long webhook_max_recipients; /* MF_PLANNER_WEBHOOK_MAX_RECIPIENTS */
    long long webhook_rate;           /* MF_PLANNER_WEBHOOK_RATE */
} planner_config;

/* The key table (for mf_config_load, --config-doc). */
extern const mf_config_key PLANNER_CONFIG_KEYS[];
extern const size_t PLANNER_CONFIG_NKEYS;

/* Load from the environment (get: NULL = getenv) and fill defaults (instance id).
 * Fails with a message naming the key. */
int planner_config_load(planner_config *cfg, mf_config_getenv_fn get, mf_err *err);

#endif

/* reporter_config: the reporter daemon's configuration table (environment variables). */
#include "reporter_config.h"

#include <stddef.h>
#include <string.h>

#define R_STR(field, name, def, desc)                                                              \
    {                                                                                              \
        name, MF_CFG_STR, def, 0, 0, 0, 0, offsetof(reporter_config, field),                       \
            sizeof(((reporter_config *)0)->field), MF_CFG_REPORTER, desc                           \
    }
#define R_SECRET(field, name, desc)                                                                \
    {                                                                                              \
        name, MF_CFG_SECRET, "", 0, 0, 0, 0, offsetof(reporter_config, field),                     \
            sizeof(((reporter_config *)0)->field), MF_CFG_REPORTER, desc                           \
    }
#define R_INT(field, name, def, lo, hi, desc)                                                      \
    {                                                                                              \
        name, MF_CFG_INT, def, lo, hi, 0, 0, offsetof(reporter_config, field), 0, MF_CFG_REPORTER, \
            desc                                                                                   \
    }

const mf_config_key reporter_config_keys[] = {
    MF_DAEMON_COMMON_KEYS(reporter_config, MF_CFG_REPORTER),
    R_STR(group, "MF_REPORTER_GROUP", "msgfleet-reporter",
          "Kafka consumer group of the reporters on the results topic (offsets are kept in "
          "mf_consumer_offsets under this name)"),
    R_INT(batch_max, "MF_REPORTER_BATCH_MAX", "5000", 1, 100000,
          "most results written in one PostgreSQL transaction"),
    R_INT(linger_ms, "MF_REPORTER_LINGER_MS", "100", 0, 60000,
          "how long to wait for more results before a partial batch is written"),
    R_INT(hold_ms, "MF_REPORTER_HOLD_MS", "10000", 0, 600000,
          "how long a sent message's result waits for its delivery report before its row is "
          "written without it (with it, the row is inserted final once instead of inserted "
          "and updated); counted in the message timestamps of its partition while the "
          "reporter reads ahead, else since the partition's last message; results are held "
          "only while webhook reports come (one consumed in the last 5 minutes); 0: never"),
    R_INT(hold_max, "MF_REPORTER_HOLD_MAX", "200000", 1, 4000000,
          "most results held for their delivery reports at once (under 100 bytes of memory "
          "each; their bytes go to a spool file of this many KB); beyond it, or when a "
          "result does not fit the spool, results are written at once"),
    R_STR(hold_dir, "MF_REPORTER_HOLD_DIR", "/tmp",
          "directory of the held results' spool file (created unlinked, so nothing is left "
          "behind; best on a disk, not a RAM file system, when memory is tight)"),
    R_INT(price_ttl_ms, "MF_REPORTER_PRICE_TTL_MS", "60000", 0, 86400000,
          "how long the system_settings coolsms_prices table stays cached"),
    {"MF_REPORTER_STATUS_ENABLED", MF_CFG_BOOL, "true", 0, 0, 0, 0,
     offsetof(reporter_config, status_enabled), 0, MF_CFG_REPORTER,
     "run the final-status poller (asks the list API about sent messages)"},
    R_INT(status_batch, "MF_REPORTER_STATUS_BATCH", "500", 1, 1000,
          "sent messages claimed per poll (one list request per 1,000 message ids at most)"),
    R_INT(status_delay_ms, "MF_REPORTER_STATUS_DELAY_MS", "2000", 0, 86400000,
          "age of sent_at before a message's final status is asked for (webhook receiver "
          "off; with it on, MF_REPORTER_STATUS_POLL_AFTER_MS applies)"),
    R_INT(status_recheck_ms, "MF_REPORTER_STATUS_RECHECK_MS", "30000", 100, 86400000,
          "time before a message still not final is asked about again"),
    R_INT(status_interval_ms, "MF_REPORTER_STATUS_INTERVAL_MS", "500", 10, 600000,
          "pause of the status poller when a poll found nothing to do"),
    R_INT(status_max_lag, "MF_REPORTER_STATUS_MAX_LAG", "5000", 0, 1000000000,
          "results waiting on the topic above which status polling waits (first outcomes "
          "are recorded first; the lag is taken after every batch)"),
    R_INT(status_busy_rate, "MF_REPORTER_STATUS_BUSY_RATE", "2000", 0, 1000000000,
          "results recorded per second by this reporter above which status polling waits "
          "(a campaign in full swing, even while the reporter keeps up; it also waits while "
          "a run is in progress); 0: no limit"),
    R_INT(status_max_defer_ms, "MF_REPORTER_STATUS_MAX_DEFER_MS", "60000", 0, 86400000,
          "longest the status poller waits its turn in one busy spell; after that it polls as "
          "usual until the spell ends, so steady traffic cannot starve final statuses"),
    R_INT(status_poll_after_ms, "MF_REPORTER_STATUS_POLL_AFTER_MS", "600000", 0, 86400000,
          "while the webhook receiver is on: age of sent_at before the poller asks about a "
          "message (used instead of MF_REPORTER_STATUS_DELAY_MS; reports normally arrive "
          "within seconds, so the poller only catches the ones that got lost); while the "
          "reporters keep applying reports it is counted back from the send time of the "
          "latest message they reached (in the slowest partition) instead of from now"),
    R_INT(optout_sync_ms, "MF_REPORTER_OPTOUT_SYNC_MS", "600000", 0, 604800000,
          "how often the provider's 080 opt-out list (GET /iam/v1/black?type=DENIAL) is read "
          "into mf_suppressions, by one reporter at a time (docs/compliance.md; needs the API key "
          "and secret); 0: never"),
    {"MF_REPORTER_WEBHOOK_ENABLED", MF_CFG_BOOL, "false", 0, 0, 0, 0,
     offsetof(reporter_config, webhook_enabled), 0, MF_CFG_REPORTER,
     "run the delivery-report webhook receiver (SOLAPI POSTs to `/{token}/single-report` "
     "and `/{token}/group-report`)"},
    R_STR(webhook_bind, "MF_REPORTER_WEBHOOK_BIND", "127.0.0.1",
          "IPv4 address the webhook receiver listens on (plain HTTP: TLS is terminated by the "
          "reverse proxy in front of it; 0.0.0.0 in containers)"),
    R_INT(webhook_port, "MF_REPORTER_WEBHOOK_PORT", "8090", 0, 65535,
          "port of the webhook receiver (0: any free port, logged as \"webhook listening\")"),
    R_SECRET(webhook_token, "MF_REPORTER_WEBHOOK_TOKEN",
             "secret first path segment of the webhook URL (32 to 128 characters of "
             "[A-Za-z0-9_-]; required when the receiver is on; never logged)"),
    R_SECRET(webhook_token_old, "MF_REPORTER_WEBHOOK_TOKEN_OLD",
             "previous token, still accepted while SOLAPI is switched to the new one "
             "(rotation; empty: none)"),
    R_INT(webhook_max_body, "MF_REPORTER_WEBHOOK_MAX_BODY", "4194304", 1024, 67108864,
          "largest report body accepted, in bytes (413 beyond)"),
    R_INT(webhook_ack_ms, "MF_REPORTER_WEBHOOK_ACK_MS", "10000", 100, 120000,
          "how long a report request waits for Kafka to acknowledge its results before it "
          "answers 503 (SOLAPI then sends it again)"),
    R_INT(webhook_threads, "MF_REPORTER_WEBHOOK_THREADS", "4", 1, 64,
          "requests the webhook receiver handles at once"),
    R_INT(webhook_run_ttl_ms, "MF_REPORTER_WEBHOOK_RUN_TTL_MS", "60000", 0, 3600000,
          "how long the webhook receiver trusts that a run it read exists (a report naming it "
          "is handed on without a query); reports of a run deleted meanwhile are handed on "
          "for that long, then answered unknown (0: read the run for every request)"),
    R_STR(coolsms_base_url, "MF_COOLSMS_BASE_URL", "https://api.coolsms.co.kr",
          "CoolSMS/SOLAPI API base URL (no path)"),
    R_SECRET(coolsms_api_key, "MF_COOLSMS_API_KEY",
             "CoolSMS API key (required when the status poller or the opt-out sync is on)"),
    R_SECRET(coolsms_api_secret, "MF_COOLSMS_API_SECRET",
             "CoolSMS API secret (signs requests; never logged; required when the status "
             "poller or the opt-out sync is on)"),
    R_INT(coolsms_timeout_ms, "MF_COOLSMS_TIMEOUT_MS", "15000", 1000, 300000,
          "timeout of one provider request, connect included"),
    R_INT(stall_s, "MF_REPORTER_STALL_S", "600", 1, 2592000,
          "a running run whose expansion finished this many seconds ago and that still misses "
          "results gets one \"stalled\" entry in workflow_runs.logs (and a warning)"),
    R_INT(tx_lane, "MF_REPORTER_TX_LANE", "1", 0, 1,
          "1: a second consumer (thread, group <MF_REPORTER_GROUP>-tx) records the results.tx "
          "topic, the results of transactional runs, so they never wait behind a campaign's"),
    R_INT(shutdown_s, "MF_REPORTER_SHUTDOWN_S", "20", 1, 600,
          "after SIGTERM the reporter finishes or rolls back its batch and exits; past this "
          "many seconds it exits at once (nothing is lost: offsets live with the rows)"),
    R_INT(lag_interval_ms, "MF_REPORTER_LAG_INTERVAL_MS", "5000", 100, 600000,
          "how often the consumer lag gauge and the Kafka health are refreshed (watermark "
          "query)"),
};

const size_t reporter_config_nkeys = sizeof(reporter_config_keys) / sizeof(reporter_config_keys[0]);

/* A webhook token is a URL path segment: 32..128 characters of [A-Za-z0-9_-]. The message
 * names the key and the rule, never the value. */
static int check_token(const char *key, const char *tok, int required, mf_err *err)
{
    size_t n = strlen(tok);

    if (n == 0 && !required)
        return 0;
    if (n == 0)
        return mf_err_set(err,
                          "missing value for %s (required while "
                          "MF_REPORTER_WEBHOOK_ENABLED is true)",
                          key);
    if (n < REPORTER_WEBHOOK_TOKEN_MIN)
        return mf_err_set(err, "invalid value for %s: shorter than %d characters", key,
                          REPORTER_WEBHOOK_TOKEN_MIN);
    for (size_t i = 0; i < n; i++) {
        char c = tok[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return mf_err_set(err,
                              "invalid value for %s: only letters, digits, '-' and '_' "
                              "may appear in a URL token",
                              key);
    }
    return 0;
}

int reporter_config_load(reporter_config *cfg, mf_config_getenv_fn get, mf_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (mf_config_load(reporter_config_keys, reporter_config_nkeys, MF_CFG_REPORTER, cfg, get,
                       err) != 0 ||
        mf_kafka_sec_check(&cfg->common.kafka_sec, err) != 0)
        return -1;
    if (cfg->status_enabled && cfg->coolsms_api_key[0] == '\0')
        return mf_err_set(err, "missing value for MF_COOLSMS_API_KEY (required while "
                               "MF_REPORTER_STATUS_ENABLED is true)");
    if (cfg->status_enabled && cfg->coolsms_api_secret[0] == '\0')
        return mf_err_set(err, "missing value for MF_COOLSMS_API_SECRET (required while "
                               "MF_REPORTER_STATUS_ENABLED is true)");
    if (cfg->optout_sync_ms > 0 &&
        (cfg->coolsms_api_key[0] == '\0' || cfg->coolsms_api_secret[0] == '\0'))
        return mf_err_set(err,
                          "missing value for %s (required while "
                          "MF_REPORTER_OPTOUT_SYNC_MS is above 0; 0 turns the sync off)",
                          cfg->coolsms_api_key[0] == '\0' ? "MF_COOLSMS_API_KEY"
                                                          : "MF_COOLSMS_API_SECRET");
    if (cfg->webhook_enabled &&
        (check_token("MF_REPORTER_WEBHOOK_TOKEN", cfg->webhook_token, 1, err) != 0 ||
         check_token("MF_REPORTER_WEBHOOK_TOKEN_OLD", cfg->webhook_token_old, 0, err) != 0))
        return -1;
    if (cfg->webhook_enabled && strcmp(cfg->webhook_token, cfg->webhook_token_old) == 0)
        return mf_err_set(err, "invalid value for MF_REPORTER_WEBHOOK_TOKEN_OLD: equal to "
                               "MF_REPORTER_WEBHOOK_TOKEN");
    if (cfg->common.pg_dsn[0] == '\0')
        return mf_err_set(err, "missing value for MF_PG_DSN");
    mf_daemon_default_instance(&cfg->common);
    return 0;
}

/* sender_config: the sender daemon's configuration table (environment variables). */
#include "sender_config.h"

#include <stddef.h>
#include <string.h>

#include "mf_coolsms.h"

#define S_STR(field, name, def, desc)                                                              \
    {                                                                                              \
        name, MF_CFG_STR, def, 0, 0, 0, 0, offsetof(sender_config, field),                         \
            sizeof(((sender_config *)0)->field), MF_CFG_SENDER, desc                               \
    }
#define S_SECRET(field, name, desc)                                                                \
    {                                                                                              \
        name, MF_CFG_SECRET, NULL, 0, 0, 0, 0, offsetof(sender_config, field),                     \
            sizeof(((sender_config *)0)->field), MF_CFG_SENDER, desc                               \
    }
#define S_INT(field, name, def, lo, hi, desc)                                                      \
    {                                                                                              \
        name, MF_CFG_INT, def, lo, hi, 0, 0, offsetof(sender_config, field), 0, MF_CFG_SENDER,     \
            desc                                                                                   \
    }

const mf_config_key sender_config_keys[] = {
    MF_DAEMON_COMMON_KEYS(sender_config, MF_CFG_SENDER),
    S_STR(coolsms_base_url, "MF_COOLSMS_BASE_URL", "https://api.coolsms.co.kr",
          "CoolSMS/SOLAPI API base URL (no path)"),
    S_SECRET(coolsms_api_key, "MF_COOLSMS_API_KEY", "CoolSMS API key"),
    S_SECRET(coolsms_api_secret, "MF_COOLSMS_API_SECRET",
             "CoolSMS API secret (signs requests; never logged)"),
    S_STR(coolsms_sender, "MF_COOLSMS_SENDER", "",
          "last-resort sender number when neither message_config.sender_number nor "
          "system_settings coolsms_sender_number is set"),
    S_INT(coolsms_timeout_ms, "MF_COOLSMS_TIMEOUT_MS", "15000", 1000, 300000,
          "timeout of one provider request, connect included"),
    S_STR(group, "MF_SENDER_GROUP", "msgfleet-sender",
          "Kafka consumer group of the senders (all senders share the jobs partitions)"),
    S_INT(batch_max, "MF_SENDER_BATCH_MAX", "5000", 1, 100000,
          "most jobs handled as one batch (their offsets are stored together)"),
    S_INT(linger_ms, "MF_SENDER_LINGER_MS", "50", 0, 60000,
          "how long to wait for more jobs before a partial batch is processed"),
    S_INT(template_ttl_ms, "MF_SENDER_TEMPLATE_TTL_MS", "30000", 0, 86400000,
          "how long templates, message_config and system_settings stay cached"),
    S_INT(indoubt_after_ms, "MF_SENDER_INDOUBT_AFTER_MS", "60000", 1000, 86400000,
          "age after which another sender's open claim is resolved by reading its provider group; "
          "must exceed MF_COOLSMS_TIMEOUT_MS + MF_SENDER_RETRY_CAP_MS"),
    S_INT(request_size, "MF_SENDER_REQUEST_SIZE", "1000", 1, MF_COOLSMS_MAX_BATCH,
          "messages per provider message group (created, filled in one call, sent)"),
    S_INT(max_in_flight, "MF_SENDER_MAX_IN_FLIGHT", "4", 1, 64,
          "provider requests in flight at once"),
    S_INT(fast_retries, "MF_SENDER_FAST_RETRIES", "2", 0, 20,
          "in-place resends of a message after a transient failure (timeout, 5xx, 429) before "
          "it goes to the retry topic"),
    S_INT(retry_max, "MF_SENDER_RETRY_MAX", "5", 0, 100,
          "rounds through the retry topic after transient failures; then the job fails with "
          "the provider's code"),
    S_INT(retry_base_ms, "MF_SENDER_RETRY_BASE_MS", "200", 1, 60000,
          "first in-place resend delay; doubles per attempt, with full jitter"),
    S_INT(retry_cap_ms, "MF_SENDER_RETRY_CAP_MS", "10000", 1, 600000,
          "largest in-place resend delay (a longer Retry-After is honoured up to this cap)"),
    S_INT(retry_delay_ms, "MF_SENDER_RETRY_DELAY_MS", "2000", 1, 3600000,
          "not-before delay of the first retry-topic round; doubles per round, with jitter"),
    S_INT(retry_delay_cap_ms, "MF_SENDER_RETRY_DELAY_CAP_MS", "300000", 1, 86400000,
          "largest not-before delay of a retry-topic round"),
    S_INT(shutdown_s, "MF_SENDER_SHUTDOWN_S", "20", 1, 3600,
          "on SIGTERM, how long the batch in progress may take before it is handed back "
          "(offsets not stored; claims released or resolved later)"),
    S_INT(halt_check_ms, "MF_SENDER_HALT_CHECK_MS", "1000", 100, 60000,
          "how long the cancelled / paused state of the runs being sent, read from PostgreSQL "
          "in one query, is trusted before it is read again; a cancel or a pause reaches "
          "every sender within this time plus one provider request"),
    {"MF_SENDER_RATE_LIMIT", MF_CFG_DOUBLE, "0", 0, 0, 0, 1e7, offsetof(sender_config, rate_limit),
     0, MF_CFG_SENDER,
     "messages per second this process may hand to the provider (0: unlimited); set it to "
     "the account's budget divided by the number of senders"},
    {"MF_SENDER_ACCOUNT_RATE", MF_CFG_DOUBLE, "0", 0, 0, 0, 1e7,
     offsetof(sender_config, account_rate), 0, MF_CFG_SENDER,
     "messages per second the provider account may be sent, shared by every sender of the "
     "account through PostgreSQL (0: no fleet-wide rate); give every sender the same value"},
    S_INT(account_burst_ms, "MF_SENDER_ACCOUNT_BURST_MS", "200", 10, 60000,
          "the account's token bucket holds this many milliseconds of MF_SENDER_ACCOUNT_RATE: "
          "the largest burst above the rate"),
    S_INT(quota_check_ms, "MF_SENDER_QUOTA_CHECK_MS", "5000", 0, 3600000,
          "how often the fleet (one sender at a time) reads the provider's daily quota; the "
          "messages handed to the provider are counted against it and runs are held when it "
          "is used up (0: the quota is neither read nor counted)"),
    S_INT(rate_horizon_s, "MF_SENDER_RATE_HORIZON_S", "600", 1, 86400,
          "how far ahead a workflow's rate (message_config.rate_per_minute) reserves its "
          "tokens; jobs beyond wait this long on the retry topic and ask again"),
    S_INT(clock_offset_ms, "MF_SENDER_CLOCK_OFFSET_MS", "0", -864000000, 864000000,
          "FOR TESTS ONLY: shifts the clock the advertising time windows (night consent, "
          "Kakao hours) are decided with, in milliseconds; 0 in production"),
};

const size_t sender_config_nkeys = sizeof(sender_config_keys) / sizeof(sender_config_keys[0]);

int sender_config_load(sender_config *cfg, mf_config_getenv_fn get, mf_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (mf_config_load(sender_config_keys, sender_config_nkeys, MF_CFG_SENDER, cfg, get, err) !=
            0 ||
        mf_kafka_sec_check(&cfg->common.kafka_sec, err) != 0)
        return -1;
    if (cfg->indoubt_after_ms <= cfg->coolsms_timeout_ms + cfg->retry_cap_ms)
        return mf_err_set(err,
                          "invalid value for MF_SENDER_INDOUBT_AFTER_MS: %lld must exceed "
                          "MF_COOLSMS_TIMEOUT_MS + MF_SENDER_RETRY_CAP_MS (%lld)",
                          cfg->indoubt_after_ms, cfg->coolsms_timeout_ms + cfg->retry_cap_ms);
    if (cfg->retry_base_ms > cfg->retry_cap_ms)
        return mf_err_set(err,
                          "invalid value for MF_SENDER_RETRY_BASE_MS: %lld is above "
                          "MF_SENDER_RETRY_CAP_MS (%lld)",
                          cfg->retry_base_ms, cfg->retry_cap_ms);
    if (cfg->retry_delay_ms > cfg->retry_delay_cap_ms)
        return mf_err_set(err,
                          "invalid value for MF_SENDER_RETRY_DELAY_MS: %lld is above "
                          "MF_SENDER_RETRY_DELAY_CAP_MS (%lld)",
                          cfg->retry_delay_ms, cfg->retry_delay_cap_ms);
    mf_daemon_default_instance(&cfg->common);
    if (strncmp(cfg->common.instance_id, "retry", 5) == 0)
        return mf_err_set(err,
                          "invalid value for MF_INSTANCE_ID: \"%s\" (names starting "
                          "with \"retry\" mark released claims)",
                          cfg->common.instance_id);
    return 0;
}

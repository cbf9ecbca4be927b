/* planner_config: the planner's settings (environment variables) and their table. */
#include "planner_config.h"

#include <string.h>

#define P MF_CFG_PLANNER

#define INT_KEY(name, field, def, lo, hi, desc)                                                    \
    {                                                                                              \
        name, MF_CFG_INT, def, lo, hi, 0, 0, offsetof(planner_config, field), 0, P, desc           \
    }
#define STR_KEY(name, type, field, def, desc)                                                      \
    {                                                                                              \
        name, type, def, 0, 0, 0, 0, offsetof(planner_config, field),                              \
            sizeof(((planner_config *)0)->field), P, desc                                          \
    }

const mf_config_key PLANNER_CONFIG_KEYS[] = {
    MF_DAEMON_COMMON_KEYS(planner_config, P),
    INT_KEY("MF_PLANNER_POLL_MS", poll_ms, "200", 10, 60000,
            "how often to look for unclaimed runs and due schedules (ms)"),
    INT_KEY("MF_PLANNER_LEASE_S", lease_s, "30", 5, 3600,
            "expansion lease of a run; renewed every page, taken over by another planner "
            "when it expires"),
    INT_KEY("MF_PLANNER_PAGE_SIZE", page_size, "5000", 1, 100000,
            "target rows read per MySQL page (one keyset-paged query each)"),
    INT_KEY("MF_PLANNER_PAGE_MAX_BYTES", page_max_bytes, "67108864", 65536, 1073741824,
            "most bytes of target data one page holds in memory; a page that would grow past "
            "it ends early and the next page goes on from its last row"),
    INT_KEY("MF_PLANNER_CELL_MAX_BYTES", cell_max_bytes, "65536", 1024, 16777216,
            "most bytes of one value (cell) of a target row; a longer value fails the run, "
            "naming the row and the column"),
    INT_KEY("MF_PLANNER_FLUSH_TIMEOUT_MS", flush_timeout_ms, "60000", 1000, 3600000,
            "how long to wait for the broker to acknowledge a run's jobs before giving the run "
            "back"),
    INT_KEY("MF_PLANNER_RETRY_MS", retry_ms, "5000", 100, 600000,
            "after a transient failure (MySQL, Kafka, PostgreSQL), the run is given back for "
            "this long before a planner tries again"),
    INT_KEY("MF_PLANNER_MAX_ATTEMPTS", max_attempts, "5", 1, 1000,
            "expansion attempts of a run before it fails with the cause of the last one (an "
            "attempt given back because the planner stopped or MySQL, PostgreSQL or Kafka was "
            "unavailable does not count)"),
    INT_KEY("MF_PLANNER_QUERY_CACHE", query_cache_max, "100000", 0, 10000000,
            "most cached results of query variables per run (distinct parameter tuples)"),
    INT_KEY("MF_PLANNER_QUERY_CACHE_BYTES", query_cache_bytes, "67108864", 65536, 17179869184LL,
            "most bytes of cached query-variable results per run (keys and values); the cache "
            "is emptied when it would grow past it"),
    INT_KEY("MF_PLANNER_SHUTDOWN_S", shutdown_s, "20", 1, 600,
            "after SIGTERM the planner gives its run back and exits within this many seconds "
            "(a MySQL query that does not return in time is abandoned: the process exits and "
            "the run's lease expires)"),
    INT_KEY("MF_PLANNER_EVENTS", events, "1", 0, 1,
            "1: consume the events topic and send event-triggered workflows (its own thread "
            "and consumer group <prefix>planner-events); 0: leave events to other planners"),
    INT_KEY("MF_PLANNER_EVENTS_REFRESH_MS", events_refresh_ms, "5000", 100, 600000,
            "how often the list of active event-triggered workflows (and their templates and "
            "variables) is reloaded (ms)"),
    INT_KEY("MF_PLANNER_EVENT_WINDOW_S", event_window_s, "3600", 10, 86400,
            "length of the time window whose event jobs share one workflow run (s; windows "
            "are aligned to Asia/Seoul midnight; the default is one hour)"),
    INT_KEY("MF_PLANNER_EVENT_WINDOW_GRACE_S", event_grace_s, "120", 0, 3600,
            "a window's run is closed (its target count final, completion checked) this long "
            "after the window ends (s)"),
    INT_KEY("MF_PLANNER_EVENT_DEDUP_DAYS", event_dedup_days, "30", 1, 3650,
            "how long the record of an event's jobs (mf_event_jobs) is kept (days): within it a "
            "re-published event sends nothing again; an event whose ts is older is "
            "dead-lettered, not sent (its record may be gone)"),
    INT_KEY("MF_PLANNER_EVENT_PRUNE_MS", event_prune_ms, "3600000", 1000, 86400000,
            "how often records older than MF_PLANNER_EVENT_DEDUP_DAYS are deleted (ms)"),
    INT_KEY("MF_PLANNER_TX_LANE", tx_lane, "1", 0, 1,
            "1: a second thread claims and expands only transactional runs (event, webhook, "
            "trigger_config.transactional) onto the jobs.tx topic, so they never wait behind a "
            "campaign's expansion; 0: one loop claims every run, transactional jobs still go "
            "to jobs.tx"),
    STR_KEY("MF_MYSQL_HOST", MF_CFG_STR, mysql_host, "127.0.0.1",
            "host of the customers' MySQL/MariaDB database"),
    INT_KEY("MF_MYSQL_PORT", mysql_port, "3306", 1, 65535, "port of the MySQL database"),
    STR_KEY("MF_MYSQL_USER", MF_CFG_STR, mysql_user, NULL,
            "MySQL user (should hold only SELECT privileges)"),
    STR_KEY("MF_MYSQL_PASSWORD", MF_CFG_SECRET, mysql_password, "", "MySQL password"),
    STR_KEY("MF_MYSQL_DB", MF_CFG_STR, mysql_db, NULL, "MySQL database of the target queries"),
    INT_KEY("MF_MYSQL_TIME_LIMIT_S", mysql_time_limit_s, "60", 1, 3600,
            "server-side time limit per target page and variable query; a workflow's "
            "target_config.time_limit_s may lower it, never raise it"),
    STR_KEY("MF_PLANNER_WEBHOOK_LISTEN", MF_CFG_STR, webhook_listen, "",
            "address (IPv4 host:port) of the webhook endpoint POST /v1/workflows/{id}/trigger "
            "(docs/triggers.md); empty: no endpoint"),
    INT_KEY("MF_PLANNER_WEBHOOK_MAX_BODY", webhook_max_body, "65536", 1024, 16777216,
            "largest webhook request body (bytes); a larger one is answered 413 unread"),
    INT_KEY("MF_PLANNER_WEBHOOK_MAX_RECIPIENTS", webhook_max_recipients, "1000", 1, 100000,
            "most recipients or customer keys one webhook call may name"),
    INT_KEY("MF_PLANNER_WEBHOOK_RATE", webhook_rate, "20", 1, 100000,
            "webhook calls a second each workflow may make per planner (a token bucket "
            "holding as many); more are answered 429 with Retry-After"),
};

const size_t PLANNER_CONFIG_NKEYS = sizeof(PLANNER_CONFIG_KEYS) / sizeof(PLANNER_CONFIG_KEYS[0]);

int planner_config_load(planner_config *cfg, mf_config_getenv_fn get, mf_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (mf_config_load(PLANNER_CONFIG_KEYS, PLANNER_CONFIG_NKEYS, MF_CFG_PLANNER, cfg, get, err) !=
            0 ||
        mf_kafka_sec_check(&cfg->common.kafka_sec, err) != 0)
        return -1;
    mf_daemon_default_instance(&cfg->common);
    return 0;
}

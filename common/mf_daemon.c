/* mf_daemon: what every daemon shares: the stop signal flag, common settings, start-up. */
#include "mf_daemon.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

/* The one piece of global mutable state a daemon may have: set by the signal handler. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_requested)
        _exit(1); /* second signal: leave now; uncommitted work is redelivered */
    stop_requested = 1;
}

int mf_daemon_install_signals(mf_err *err)
{
    struct sigaction sa;
    char ebuf[128];

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return mf_err_set(err, "could not install signal handlers: %s",
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return mf_err_set(err, "could not ignore SIGPIPE: %s",
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    return 0;
}

int mf_daemon_stopping(void)
{
    return stop_requested != 0;
}

void mf_daemon_request_stop(void)
{
    stop_requested = 1;
}

void mf_daemon_default_instance(mf_daemon_common *common)
{
    char host[64];

    if (common->instance_id[0] != '\0')
        return;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    snprintf(common->instance_id, sizeof(common->instance_id), "%s-%ld", host, (long)getpid());
}

void mf_daemon_tune_memory(void)
{
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        (void)mallopt(M_ARENA_MAX, 2);
}

int mf_daemon_handle_args(int argc, char **argv, const char *program_name,
                          const mf_config_key *table, size_t n)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s [--config-doc]\n"
                   "Configuration comes from environment variables; --config-doc lists them.\n",
                   program_name);
            return 1;
        }
        if (strcmp(argv[i], "--config-doc") == 0) {
            mf_config_write_markdown(table, n, stdout);
            return 1;
        }
        fprintf(stderr, "%s: unknown argument \"%s\" (see --help)\n", program_name, argv[i]);
        return -1;
    }
    return 0;
}

static void log_secret_warning(void *arg, const char *key, const char *msg)
{
    MF_LOG((mf_log *)arg, MF_LOG_WARN, "secret file readable by others", MF_KV_S("key", key),
           MF_KV_S("detail", msg));
}

void mf_daemon_warn_secret_files(const mf_config_key *table, size_t n, unsigned program,
                                 mf_log *log)
{
    mf_config_check_secret_files(table, n, program, NULL, log_secret_warning, log);
}

mf_log *mf_daemon_start(const char *program, const char *role, const char *log_level,
                        const mf_config_key *table, size_t n, unsigned program_bit, int *status)
{
    mf_log_level level;
    mf_log *log;
    mf_err err = {{0}};

    if (mf_log_parse_level(log_level, &level) != 0) {
        fprintf(stderr,
                "%s: invalid value for MF_LOG_LEVEL: \"%s\" (debug, info, warn or "
                "error)\n",
                program, log_level);
        *status = 2;
        return NULL;
    }
    log = mf_log_new(role, level, STDERR_FILENO);
    if (log == NULL || mf_daemon_install_signals(&err) != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "%s: could not start: %s\n", program,
                log == NULL  ? "out of memory"
                : err.msg[0] ? err.msg
                             : "curl_global_init failed");
        mf_log_free(log);
        *status = 1;
        return NULL;
    }
    mf_daemon_warn_secret_files(table, n, program_bit, log);
    return log;
}

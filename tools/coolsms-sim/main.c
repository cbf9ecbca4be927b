/* coolsms-sim: CoolSMS/SOLAPI v4 simulator for tests and the demo (see docs/simulator.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "sim_http.h"

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig)
{
    (void)sig;
    stop_signals++;
    if (stop_signals > 1)
        _exit(1); /* second signal: leave at once */
}

static void usage(FILE *out)
{
    fprintf(out, "usage: coolsms-sim [--print-docs]\n"
                 "CoolSMS/SOLAPI v4 simulator on 127.0.0.1. Configuration from the environment:\n"
                 "MF_SIM_PORT (58080, 0 = any), MF_SIM_API_KEY, MF_SIM_API_SECRET (or the files\n"
                 "named by MF_SIM_API_KEY_FILE, MF_SIM_API_SECRET_FILE), MF_SIM_SENDERS\n"
                 "(required), MF_SIM_SEED, MF_SIM_ACCOUNT_ID, MF_SIM_CONTROL (off: only\n"
                 "/_sim/health answers; 1 enables /_sim/config, reset, stats and the ledger) and\n"
                 "one MF_SIM_<KNOB> per knob.\n"
                 "Prints \"coolsms-sim: listening on 127.0.0.1:<port>\" on stdout when ready.\n");
}

/* Everything but the settings (read before, by sim_config_from_env). */
static int ctx_init(sim_ctx *ctx, mf_err *err)
{
    pthread_mutex_init(&ctx->knob_lock, NULL);
    pthread_mutex_init(&ctx->bucket_lock, NULL);
    pthread_mutex_init(&ctx->quota_lock, NULL);
    pthread_mutex_init(&ctx->capture_lock, NULL);
    ctx->salts = sim_salts_new((size_t)1 << 20);
    ctx->ledger = sim_ledger_new();
    ctx->groups = sim_groups_new();
    ctx->black = sim_black_new();
    ctx->log = mf_log_new("coolsms-sim", MF_LOG_INFO, 2);
    if (ctx->salts == NULL || ctx->ledger == NULL || ctx->groups == NULL || ctx->black == NULL ||
        ctx->log == NULL)
        return mf_err_set(err, "out of memory");
    ctx->webhook = sim_webhook_start(ctx, err);
    if (ctx->webhook == NULL)
        return -1;
    atomic_store(&ctx->id_counter, (unsigned long long)time(NULL) << 20);
    return 0;
}

static void ctx_free(sim_ctx *ctx)
{
    atomic_store(&ctx->stopping, 1);
    sim_webhook_stop(ctx->webhook);
    sim_capture_close(ctx);
    sim_groups_free(ctx->groups);
    sim_salts_free(ctx->salts);
    sim_ledger_free(ctx->ledger);
    sim_black_free(ctx->black);
    mf_log_free(ctx->log);
    pthread_mutex_destroy(&ctx->knob_lock);
    pthread_mutex_destroy(&ctx->bucket_lock);
    pthread_mutex_destroy(&ctx->quota_lock);
    pthread_mutex_destroy(&ctx->capture_lock);
}

int main(int argc, char **argv)
{
    static sim_ctx ctx; /* large; lives for the whole run */
    struct MHD_Daemon *d = NULL;
    struct sigaction sa;
    mf_err err = {{0}};
    int port = 0, rc = 1;

    if (argc > 1 && strcmp(argv[1], "--print-docs") == 0) {
        sim_config_print_markdown();
        printf("\n");
        sim_codes_print_markdown();
        return 0;
    }
    if (argc > 1) {
        usage(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the webhook client */
    memset(&ctx, 0, sizeof(ctx));
    if (sim_config_from_env(&ctx.set, &ctx.knobs, &err) != 0) {
        fprintf(stderr, "coolsms-sim: %s\n", err.msg);
        rc = 2; /* a bad configuration: the fleet's daemons exit 2 too */
        goto out;
    }
    if (ctx_init(&ctx, &err) != 0) {
        fprintf(stderr, "coolsms-sim: %s\n", err.msg);
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = sim_http_start(&ctx, ctx.set.port, &port, &err);
    if (d == NULL) {
        fprintf(stderr, "coolsms-sim: %s\n", err.msg);
        goto out;
    }
    MF_LOG(ctx.log, MF_LOG_INFO, "listening", MF_KV_S("addr", "127.0.0.1"), MF_KV_I("port", port),
           MF_KV_I("senders", ctx.set.nsenders),
           MF_KV_S("control", ctx.set.control ? "on" : "off"));
    printf("coolsms-sim: listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    while (!stop_signals) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&ctx.stopping, 1);
    mf_log_msgf(ctx.log, MF_LOG_INFO, "stopping");
    rc = 0;
out:
    if (d != NULL)
        MHD_stop_daemon(d);
    ctx_free(&ctx);
    curl_global_cleanup();
    return rc;
}

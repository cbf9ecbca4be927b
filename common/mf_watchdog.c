/* mf_watchdog: once a stop is requested, ends the process if shutting down takes too long. */
#include "mf_watchdog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mf_clock.h"
#include "mf_daemon.h"

struct mf_watchdog {
    long long shutdown_ms;
    mf_log *log;
    pthread_t thread;
    atomic_int done;
};

static void *watch(void *arg)
{
    mf_watchdog *w = arg;
    int64_t since = -1;

    while (!atomic_load(&w->done)) {
        struct timespec tick = {0, 50 * 1000000L};

        if (mf_daemon_stopping()) {
            if (since < 0) {
                since = mf_clock_mono_ms();
            } else if (mf_clock_mono_ms() - since >= w->shutdown_ms) {
                MF_LOG(w->log, MF_LOG_ERROR, "shutdown deadline passed, exiting now",
                       MF_KV_I("shutdown_ms", w->shutdown_ms));
                _exit(1);
            }
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

mf_watchdog *mf_watchdog_start(long long shutdown_ms, mf_log *log, mf_err *err)
{
    mf_watchdog *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    w->shutdown_ms = shutdown_ms;
    w->log = log;
    atomic_init(&w->done, 0);
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        mf_err_set(err, "could not start the shutdown watchdog thread");
        free(w);
        return NULL;
    }
    return w;
}

void mf_watchdog_stop(mf_watchdog *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->done, 1);
    pthread_join(w->thread, NULL);
    free(w);
}

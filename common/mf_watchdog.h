/* mf_watchdog: once a stop is requested, ends the process if shutting down takes too long. */
#ifndef MF_WATCHDOG_H
#define MF_WATCHDOG_H

#include "mf_err.h"
#include "mf_log.h"

typedef struct mf_watchdog mf_watchdog;

/*
 * Starts a thread that, from the moment mf_daemon_stopping() is true, waits shutdown_ms and
 * then logs "shutdown deadline passed, exiting now" and calls _exit(1): a call that hangs (a
 * database that stopped answering) cannot keep a stopping daemon alive. `log` is borrowed and
 * must outlive mf_watchdog_stop. Returns the watchdog (the caller stops it) or NULL with err.
 */
mf_watchdog *mf_watchdog_start(long long shutdown_ms, mf_log *log, mf_err *err);

/*
 * Ends the thread and frees the watchdog (NULL is fine). It joins the thread: once it
 * returns, nothing of the watchdog runs any more, so what it borrowed (the log, the caller's
 * stack) may go. Returns within about 50 ms.
 */
void mf_watchdog_stop(mf_watchdog *w);

#endif

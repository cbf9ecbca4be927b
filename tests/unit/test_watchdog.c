/* test_watchdog: the shutdown watchdog ends a slow stop, and is gone once it is stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mf_clock.h"
#include "mf_daemon.h"
#include "mf_log.h"
#include "mf_watchdog.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* In a child: a stop is requested and the "shutdown" hangs; the watchdog must end the process
 * with status 1 after shutdown_ms and say why in the log. */
static void test_deadline_ends_a_hanging_stop(void **state)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    char out[4096];
    ssize_t n, got = 0;
    int64_t t0 = mf_clock_mono_ms(), took;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        mf_err err;
        mf_log *log = mf_log_new("test", MF_LOG_INFO, fds[1]);

        close(fds[0]);
        if (log == NULL || mf_watchdog_start(300, log, &err) == NULL)
            _exit(3);
        mf_daemon_request_stop();
        sleep_ms(5000); /* a call that never returns */
        _exit(0);
    }
    close(fds[1]);
    while ((n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
        got += n;
    out[got] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    took = mf_clock_mono_ms() - t0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "shutdown deadline passed, exiting now"));
    assert_true(took >= 300 && took < 4000);
}

/* Stopped without a stop request: returns at once, nothing exits. */
static void test_stop_while_running(void **state)
{
    mf_err err;
    mf_log *log = mf_log_new("test", MF_LOG_INFO, STDERR_FILENO);
    mf_watchdog *w;
    int64_t t0;

    (void)state;
    assert_non_null(log);
    w = mf_watchdog_start(60000, log, &err);
    assert_non_null(w);
    sleep_ms(120);
    t0 = mf_clock_mono_ms();
    mf_watchdog_stop(w);
    assert_true(mf_clock_mono_ms() - t0 < 1000);
    mf_watchdog_stop(NULL);
    mf_log_free(log);
}

/*
 * The daemon's end: a stop was requested, the watchdog counts towards its deadline, then the
 * daemon finishes in time, stops the watchdog and frees what it borrowed. The thread must be
 * gone by then: a watchdog left running (a detached thread) goes on reading the freed memory
 * (under ASan: heap-use-after-free) and would log into a freed logger at its deadline.
 * Last in the file: the stop request cannot be taken back.
 */
static void test_stop_after_a_stop_request_joins(void **state)
{
    mf_err err;
    mf_log *log = mf_log_new("test", MF_LOG_INFO, STDERR_FILENO);
    mf_watchdog *w;
    int64_t t0;

    (void)state;
    assert_non_null(log);
    w = mf_watchdog_start(400, log, &err);
    assert_non_null(w);
    mf_daemon_request_stop();
    sleep_ms(120);
    t0 = mf_clock_mono_ms();
    mf_watchdog_stop(w);
    assert_true(mf_clock_mono_ms() - t0 < 1000);
    mf_log_free(log);
    sleep_ms(600); /* past the deadline: a live watchdog would _exit(1) here */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_ends_a_hanging_stop),
        cmocka_unit_test(test_stop_while_running),
        cmocka_unit_test(test_stop_after_a_stop_request_joins),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

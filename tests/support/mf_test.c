/* mf_test: support code shared by the integration tests (cmocka; failures end the test). */
#include "mf_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "mf_err.h"
#include "mf_migrate.h"
#include "mf_pg.h"
#include "mf_uuid.h"

/* ---- environment and time ------------------------------------------------------------ */

const char *mf_test_env(const char *name, const char *def)
{
    const char *v = getenv(name);

    return (v != NULL && *v != '\0') ? v : def;
}

void mf_test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long long clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mf_test_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

long long mf_test_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

void mf_test_tag(char *out, size_t cap)
{
    mf_uuid u;
    mf_err err;
    char hex[MF_UUID_STR_SIZE];

    assert_int_equal(mf_uuid_v4(&u, &err), 0);
    mf_uuid_format(&u, hex);
    hex[8] = '\0';
    snprintf(out, cap, "%s", hex);
}

void mf_test_source_path(char *buf, size_t cap, const char *rel)
{
    const char *src = getenv("MF_SOURCE_DIR");
    char here[PATH_MAX];

    if (src == NULL || src[0] == '\0') {
        char *p;

        snprintf(here, sizeof(here), "%s", __FILE__);
        p = strstr(here, "/tests/support/");
        assert_non_null(p);
        *p = '\0';
        src = here;
    }
    if (snprintf(buf, cap, "%s/%s", src, rel) >= (int)cap)
        fail_msg("source path too long: %s/%s", src, rel);
}

/* ---- PostgreSQL ---------------------------------------------------------------------- */

const char *mf_test_pg_dsn(void)
{
    return mf_test_env("MF_PG_DSN", MF_TEST_PG_DSN_DEF);
}

PGconn *mf_test_pg_connect(const char *dsn, const char *db, const char *what)
{
    mf_err err = {{0}};
    PGconn *c = mf_pg_connect(dsn, db, "mf_itest", &err);

    if (c == NULL)
        fail_msg("%s unreachable: %s (is the dev stack up? scripts/stack.sh up)", what, err.msg);
    return c;
}

void mf_test_pg_exec(PGconn *c, const char *sql)
{
    mf_err err = {{0}};

    if (mf_pg_exec(c, sql, &err) != 0)
        fail_msg("statement failed: %.200s: %s", sql, err.msg);
}

PGresult *mf_test_pg_query(PGconn *c, const char *sql, int n, const char *const *p)
{
    mf_err err = {{0}};
    PGresult *r = mf_pg_query(c, sql, n, p, &err);

    if (r == NULL)
        fail_msg("query failed: %s: %s", sql, err.msg);
    return r;
}

long long mf_test_pg_ll(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = mf_test_pg_query(c, sql, n, p);
    long long v = (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
                      ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                      : -1;

    PQclear(r);
    return v;
}

void mf_test_pg_str(PGconn *c, const char *sql, int n, const char *const *p, char *out, size_t cap)
{
    PGresult *r = mf_test_pg_query(c, sql, n, p);

    snprintf(out, cap, "%s",
             (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

void mf_test_db_create(const char *admin_dsn, const char *tag, char *name, size_t cap)
{
    char sql[256], hex[16];
    PGconn *c;

    mf_test_tag(hex, sizeof(hex));
    if (snprintf(name, cap, "mf_it_%s_%ld_%s", tag, (long)getpid(), hex) >= (int)cap)
        fail_msg("database name too long for tag %s", tag);
    c = mf_test_pg_connect(admin_dsn, NULL, "PostgreSQL");
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    mf_test_pg_exec(c, sql);
    PQfinish(c);
}

void mf_test_db_migrate(PGconn *c)
{
    char dir[PATH_MAX];
    mf_err err = {{0}};

    mf_test_source_path(dir, sizeof(dir), "schemas/pg");
    if (mf_migrate_run(c, dir, NULL, NULL, &err) < 0)
        fail_msg("migrate %s: %s", dir, err.msg);
}

void mf_test_db_drop(const char *admin_dsn, char *name)
{
    char sql[256];
    PGconn *c;

    if (name == NULL || name[0] == '\0')
        return;
    c = mf_test_pg_connect(admin_dsn, NULL, "PostgreSQL");
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    mf_test_pg_exec(c, sql);
    PQfinish(c);
    name[0] = '\0';
}

int mf_test_db_setup(void **state)
{
    mf_test_db *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    mf_test_db_create(mf_test_pg_dsn(), "db", t->name, sizeof(t->name));
    *state = t;
    return 0;
}

int mf_test_db_teardown(void **state)
{
    mf_test_db *t = *state;

    if (t != NULL)
        mf_test_db_drop(mf_test_pg_dsn(), t->name);
    free(t);
    return 0;
}

int mf_test_count_migrations(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    char ebuf[128];

    if (d == NULL) {
        fail_msg("could not open %s: %s", dir, mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        return -1; /* not reached: fail_msg leaves the test */
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && len > 4 &&
            strcmp(e->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ---- child processes ------------------------------------------------------------------ */

pid_t mf_test_spawn(const char *path, const char *const *env, const char *logfile, int out_fd)
{
    pid_t pid = fork();
    FILE *f;
    char ebuf[128];

    if (pid != 0)
        return pid;
    for (size_t i = 0; env != NULL && env[i] != NULL; i += 2)
        setenv(env[i], env[i + 1], 1);
    f = fopen(logfile, "a");
    if (f != NULL) {
        dup2(fileno(f), STDERR_FILENO);
        dup2(out_fd >= 0 ? out_fd : fileno(f), STDOUT_FILENO);
    }
    execl(path, path, (char *)NULL);
    fprintf(stderr, "could not run %s: %s\n", path, mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    _exit(127);
}

int mf_test_wait(pid_t pid, int timeout_ms, long long *took_ms)
{
    int st = 0;
    long long t0 = mf_test_mono_ms();

    if (pid <= 0)
        return 0;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (took_ms != NULL)
                *took_ms = mf_test_mono_ms() - t0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        mf_test_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

int mf_test_stop(pid_t pid, int timeout_ms, long long *took_ms)
{
    if (pid > 0)
        kill(pid, SIGTERM);
    return mf_test_wait(pid, timeout_ms, took_ms);
}

int mf_test_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int found = 0;

    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static int scan_http_port(const char *logfile)
{
    FILE *f = fopen(logfile, "r");
    char line[8192];
    int port = 0;

    while (f != NULL && port == 0 && fgets(line, sizeof(line), f) != NULL) {
        char *p;

        if (strstr(line, "\"msg\":\"http listening\"") != NULL &&
            (p = strstr(line, "\"port\":")) != NULL)
            port = (int)strtol(p + 7, NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return port;
}

int mf_test_log_http_port(const char *logfile, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        int port = scan_http_port(logfile);

        if (port > 0)
            return port;
        mf_test_sleep_ms(50);
    }
    fail_msg("no \"http listening\" line in %s", logfile);
    return 0;
}

pid_t mf_test_sim_start(const char *bin, const char *const *extra, const char *logfile, char *url,
                        size_t cap)
{
    const char *env[64] = {"MF_SIM_PORT",
                           "0",
                           "MF_SIM_API_KEY",
                           mf_test_env("MF_COOLSMS_API_KEY", MF_TEST_API_KEY_DEF),
                           "MF_SIM_API_SECRET",
                           mf_test_env("MF_COOLSMS_API_SECRET", MF_TEST_API_SECRET_DEF),
                           "MF_SIM_CONTROL",
                           "1",
                           NULL};
    size_t n = 8;
    char line[256], *port;
    int pfd[2];
    pid_t pid;
    FILE *f;

    for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 2 < 63; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    assert_int_equal(pipe(pfd), 0);
    pid = mf_test_spawn(bin, env, logfile, pfd[1]);
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    assert_non_null(f);
    if (fgets(line, sizeof(line), f) == NULL)
        fail_msg("the simulator %s did not start (see %s)", bin, logfile);
    fclose(f);
    port = strrchr(line, ':');
    assert_non_null(port);
    snprintf(url, cap, "http://127.0.0.1:%ld", strtol(port + 1, NULL, 10));
    return pid;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    mf_err err;

    return mf_buf_append(ud, p, size * n, &err) == 0 ? size * n : 0;
}

long mf_test_http(const char *method, const char *url, const char *body, long timeout_ms,
                  mf_buf *out)
{
    CURL *c = curl_easy_init();
    long status = 0;
    mf_err err;

    mf_buf_reset(out);
    if (c == NULL)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    mf_buf_append_char(out, '\0', &err);
    return status;
}

/* ---- the TCP forwarder ------------------------------------------------------------------ */

#define FWD_MAX_PAIRS 64

struct mf_test_fwd {
    int lfd;
    int port;
    int up_port;
    atomic_int mode;
    atomic_int quit;
    pthread_t th;
    int pairs[FWD_MAX_PAIRS][2];
    int npairs;
};

static int fwd_socket_to(int port, int do_listen)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1; /* not inherited */

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (do_listen) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 64) == 0)
            return fd;
    } else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        return fd;
    }
    close(fd);
    return -1;
}

static void fwd_drop(mf_test_fwd *f, int i)
{
    close(f->pairs[i][0]);
    close(f->pairs[i][1]);
    f->pairs[i][0] = f->pairs[f->npairs - 1][0];
    f->pairs[i][1] = f->pairs[f->npairs - 1][1];
    f->npairs--;
}

/* Copy what is readable on a to b; -1 on EOF or error. */
static int fwd_relay(int a, int b)
{
    char buf[65536];
    ssize_t n = read(a, buf, sizeof(buf)), off = 0;

    if (n <= 0)
        return -1;
    while (off < n) {
        ssize_t w = write(b, buf + off, (size_t)(n - off));

        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void fwd_accept(mf_test_fwd *f)
{
    int c = accept(f->lfd, NULL, NULL), u;

    if (c < 0)
        return;
    fcntl(c, F_SETFD, FD_CLOEXEC);
    u = fwd_socket_to(f->up_port, 0);
    if (u < 0 || f->npairs == FWD_MAX_PAIRS) {
        close(c);
        if (u >= 0)
            close(u);
        return;
    }
    f->pairs[f->npairs][0] = c;
    f->pairs[f->npairs++][1] = u;
}

/* One poll round in PASS mode: relay, drop what ended, accept. */
static void fwd_round(mf_test_fwd *f)
{
    struct pollfd p[1 + 2 * FWD_MAX_PAIRS];
    int np = 0, base;

    if (f->lfd >= 0)
        p[np++] = (struct pollfd){f->lfd, POLLIN, 0};
    base = np;
    for (int i = 0; i < f->npairs; i++) {
        p[np++] = (struct pollfd){f->pairs[i][0], POLLIN, 0};
        p[np++] = (struct pollfd){f->pairs[i][1], POLLIN, 0};
    }
    if (np == 0) {
        usleep(20000);
        return;
    }
    if (poll(p, (nfds_t)np, 20) <= 0)
        return;
    for (int i = f->npairs - 1; i >= 0; i--) {
        short r0 = p[base + 2 * i].revents, r1 = p[base + 1 + 2 * i].revents;

        if ((r0 && fwd_relay(f->pairs[i][0], f->pairs[i][1]) != 0) ||
            (r1 && fwd_relay(f->pairs[i][1], f->pairs[i][0]) != 0))
            fwd_drop(f, i);
    }
    if (base == 1 && (p[0].revents & POLLIN))
        fwd_accept(f);
}

/* One round in DROP mode: no connection lives, a new one is closed at once. */
static void fwd_refuse(mf_test_fwd *f)
{
    struct pollfd p = {f->lfd, POLLIN, 0};

    while (f->npairs > 0)
        fwd_drop(f, 0);
    if (f->lfd >= 0 && poll(&p, 1, 20) > 0) {
        int c = accept(f->lfd, NULL, NULL);

        if (c >= 0)
            close(c);
    } else if (f->lfd < 0) {
        usleep(20000);
    }
}

static void *fwd_loop(void *arg)
{
    mf_test_fwd *f = arg;

    while (!atomic_load(&f->quit)) {
        int mode = atomic_load(&f->mode);

        if (mode == MF_TEST_FWD_CUT) {
            while (f->npairs > 0)
                fwd_drop(f, 0);
            if (f->lfd >= 0)
                close(f->lfd);
            f->lfd = -1;
        } else if (f->lfd < 0) {
            f->lfd = fwd_socket_to(f->port, 1);
        }
        if (mode == MF_TEST_FWD_PASS)
            fwd_round(f);
        else if (mode == MF_TEST_FWD_DROP)
            fwd_refuse(f);
        else
            usleep(20000);
    }
    while (f->npairs > 0)
        fwd_drop(f, 0);
    if (f->lfd >= 0)
        close(f->lfd);
    return NULL;
}

mf_test_fwd *mf_test_fwd_start(int up_port)
{
    mf_test_fwd *f = calloc(1, sizeof(*f));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    assert_non_null(f);
    f->up_port = up_port;
    f->lfd = fwd_socket_to(0, 1);
    assert_true(f->lfd >= 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fwd_loop, f), 0);
    return f;
}

int mf_test_fwd_port(const mf_test_fwd *f)
{
    return f->port;
}

void mf_test_fwd_set(mf_test_fwd *f, int mode)
{
    atomic_store(&f->mode, mode);
    usleep(100000); /* the loop applies it within one poll round */
}

void mf_test_fwd_stop(mf_test_fwd *f)
{
    if (f == NULL)
        return;
    atomic_store(&f->quit, 1);
    pthread_join(f->th, NULL);
    free(f);
}

/* itest_coolsms_client: the CoolSMS client against the project's simulator on a random port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mf_coolsms.h"

#define API_KEY "NCSITESTKEY00001"
#define API_SECRET "ITESTSECRET0123456789abcdefghijklmnop"
#define SENDER "0212345678"

typedef struct sim {
    pid_t pid;
    int port;
    char base[64];
    char log_path[128];
    char run[16]; /* random suffix that keeps job ids unique across runs */
} sim;

static sim g_sim;

/* ---------------------------------------------------------------- simulator process */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int find_sim_binary(char *out, size_t size)
{
    const char *bd = getenv("MF_BUILD_DIR");
    char self[PATH_MAX];
    ssize_t n;
    char *slash;
    struct stat st;

    if (bd != NULL && bd[0] != '\0') {
        if (snprintf(out, size, "%s/tools/coolsms-sim/coolsms-sim", bd) < (int)size &&
            stat(out, &st) == 0)
            return 0;
    }
    /* Fallback: the test binary lives in <build>/tests/. */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (snprintf(out, size, "%s/../tools/coolsms-sim/coolsms-sim", self) >= (int)size)
        return -1;
    return stat(out, &st) == 0 ? 0 : -1;
}

/* Plain HTTP helper for the admin endpoints (no auth). Returns the status, 0 on failure. */
static size_t collect(char *p, size_t s, size_t n, void *ud)
{
    return mf_buf_append((mf_buf *)ud, p, s * n, NULL) == 0 ? s * n : 0;
}

static long admin(const char *method, const char *path, const char *json, mf_buf *out)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[256];
    long status = 0;
    mf_buf tmp;

    mf_buf_init(&tmp, 0);
    if (out == NULL)
        out = &tmp;
    mf_buf_reset(out);
    snprintf(url, sizeof(url), "%s%s", g_sim.base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    if (strcmp(method, "POST") == 0) {
        h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json != NULL ? json : "{}");
    }
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    mf_buf_free(&tmp);
    return status;
}

static void set_knobs(const char *json)
{
    mf_buf out;
    long st;

    mf_buf_init(&out, 0);
    st = admin("POST", "/_sim/config", json, &out);
    if (st != 200)
        fail_msg("simulator refused knobs %s: HTTP %ld %s", json, st, out.data ? out.data : "");
    mf_buf_free(&out);
}

static void reset_knobs(void)
{
    set_knobs("{\"latency_ms\":0,\"error_5xx_ratio\":0,\"timeout_ratio\":0,"
              "\"rate_limit_per_s\":0,\"permanent_fail_ratio\":0}");
}

static long ledger_count(const char *job_id)
{
    char path[256];
    mf_buf out;
    json_t *j;
    long n = -1;

    mf_buf_init(&out, 0);
    snprintf(path, sizeof(path), "/_sim/ledger/count?field=jobId&value=%s", job_id);
    if (admin("GET", path, NULL, &out) == 200 && out.data != NULL) {
        j = json_loads(out.data, 0, NULL);
        if (json_is_integer(json_object_get(j, "count")))
            n = (long)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
    }
    mf_buf_free(&out);
    if (n < 0)
        fail_msg("could not read the simulator ledger count for %s", job_id);
    return n;
}

static void print_sim_log(void)
{
    char line[512];
    FILE *f = fopen(g_sim.log_path, "r");

    if (f == NULL)
        return;
    fprintf(stderr, "---- simulator log (%s) ----\n", g_sim.log_path);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

static int start_sim(void **state)
{
    char bin[PATH_MAX], port[16];
    struct timespec ts = {0, 50 * 1000 * 1000};
    int i;

    (void)state;
    if (find_sim_binary(bin, sizeof(bin)) < 0) {
        fprintf(stderr,
                "coolsms simulator binary not found (MF_BUILD_DIR=%s): build "
                "tools/coolsms-sim first\n",
                getenv("MF_BUILD_DIR") ? getenv("MF_BUILD_DIR") : "");
        return -1;
    }
    g_sim.port = free_port();
    if (g_sim.port <= 0)
        return -1;
    snprintf(port, sizeof(port), "%d", g_sim.port);
    snprintf(g_sim.base, sizeof(g_sim.base), "http://127.0.0.1:%d", g_sim.port);
    snprintf(g_sim.log_path, sizeof(g_sim.log_path), "/tmp/itest_coolsms_client.%d.log",
             (int)getpid());
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(g_sim.run, sizeof(g_sim.run), "%08x", (unsigned)rand());
    g_sim.pid = fork();
    if (g_sim.pid < 0)
        return -1;
    if (g_sim.pid == 0) {
        FILE *lf = freopen(g_sim.log_path, "w", stderr);
        (void)lf;
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(126);
        setenv("MF_SIM_PORT", port, 1);
        setenv("MF_SIM_API_KEY", API_KEY, 1);
        setenv("MF_SIM_API_SECRET", API_SECRET, 1);
        setenv("MF_SIM_SENDERS", SENDER, 1);
        setenv("MF_SIM_DELIVER_DELAY_MS", "200", 1);
        setenv("MF_SIM_CONTROL", "1", 1); /* this test drives /_sim/config */
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 200; i++) { /* up to 10 s */
        int st;
        if (waitpid(g_sim.pid, &st, WNOHANG) == g_sim.pid) {
            fprintf(stderr, "coolsms simulator %s exited at start (status %d)\n", bin, st);
            print_sim_log();
            g_sim.pid = 0;
            return -1;
        }
        if (admin("GET", "/_sim/health", NULL, NULL) == 200)
            return 0;
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "coolsms simulator at %s did not become healthy in 10 s\n", g_sim.base);
    print_sim_log();
    return -1;
}

static int stop_sim(void **state)
{
    int st, i;
    struct timespec ts = {0, 50 * 1000 * 1000};

    (void)state;
    if (g_sim.pid <= 0)
        return 0;
    kill(g_sim.pid, SIGTERM);
    for (i = 0; i < 100; i++) {
        if (waitpid(g_sim.pid, &st, WNOHANG) == g_sim.pid)
            goto out;
        nanosleep(&ts, NULL);
    }
    kill(g_sim.pid, SIGKILL);
    waitpid(g_sim.pid, &st, 0);
out:
    unlink(g_sim.log_path);
    return 0;
}

/* ---------------------------------------------------------------- client helpers */

typedef struct done_rec {
    int calls;
    mf_coolsms_result res;
    mf_coolsms_outcome out[64];
    size_t n_out;
} done_rec;

static void on_done(const mf_coolsms_result *r, void *user)
{
    done_rec *d = user;
    size_t i;

    d->calls++;
    d->res = *r;
    d->n_out = r->n_messages < 64 ? r->n_messages : 64;
    for (i = 0; i < d->n_out; i++)
        d->out[i] = r->outcomes[i];
    d->res.outcomes = d->out;
}

static mf_coolsms *client(const char *secret, long timeout_ms, int in_flight)
{
    mf_coolsms_config cfg = {.base_url = g_sim.base,
                             .api_key = API_KEY,
                             .api_secret = secret,
                             .request_timeout_ms = timeout_ms,
                             .connect_timeout_ms = 2000,
                             .max_in_flight = in_flight};
    mf_err err = {{0}};
    mf_coolsms *h = mf_coolsms_new(&cfg, &err);

    if (h == NULL)
        fail_msg("mf_coolsms_new: %s", err.msg);
    return h;
}

/* Unique job ids for one test: "<test>-<run>-<i>". */
typedef struct jobs {
    char id[64][64];
    char to[64][16];
    mf_coolsms_msg m[64];
    size_t n;
} jobs;

/* Distinct recipients per test and message (allowDuplicates is false). */
static void make_jobs(jobs *j, const char *tag, size_t n)
{
    static unsigned next_block = 100;
    unsigned block = next_block++;
    size_t i;

    memset(j, 0, sizeof(*j));
    j->n = n;
    for (i = 0; i < n; i++) {
        snprintf(j->id[i], sizeof(j->id[i]), "%s-%s-%zu", tag, g_sim.run, i);
        snprintf(j->to[i], sizeof(j->to[i]), "0109%03u%04u", block % 1000, (unsigned)i);
        j->m[i].to = j->to[i];
        j->m[i].from = SENDER;
        j->m[i].text = "[msgfleet] 홍길동님, 주문하신 \"상품\"이 발송되었습니다.\n감사합니다.";
        j->m[i].type = "LMS";
        j->m[i].subject = "배송 안내";
        j->m[i].job_id = j->id[i];
        j->m[i].run_id = g_sim.run;
    }
}

/* Submit and poll until the callback ran (at most 20 s). */
static void send_and_wait(mf_coolsms *h, const jobs *j, done_rec *d)
{
    mf_err err = {{0}};
    int i;

    memset(d, 0, sizeof(*d));
    if (mf_coolsms_submit(h, j->m, j->n, on_done, d, NULL, &err) < 0)
        fail_msg("submit: %s", err.msg);
    for (i = 0; i < 400 && d->calls == 0; i++)
        if (mf_coolsms_poll(h, 50, &err) < 0)
            fail_msg("poll: %s", err.msg);
    assert_int_equal(d->calls, 1);
    assert_int_equal(mf_coolsms_in_flight(h), 0);
}

/* ---------------------------------------------------------------- tests */

static void test_send_success_and_list(void **state)
{
    mf_coolsms *h = client(API_SECRET, 10000, 2);
    jobs j;
    done_rec d;
    mf_coolsms_kv f[1];
    mf_coolsms_list_result lr;
    mf_err err = {{0}};
    size_t i;

    (void)state;
    make_jobs(&j, "ok", 3);
    j.m[1].to = "01098765432";
    j.m[2].to = "01055556666";
    j.m[2].type = "SMS";
    j.m[2].subject = NULL;
    j.m[2].text = "짧은 문자";
    send_and_wait(h, &j, &d);
    if (d.res.cls != MF_COOLSMS_OK)
        fail_msg("send failed: HTTP %ld %s %s", d.res.http_status, d.res.error_code,
                 d.res.error_message);
    assert_int_equal(d.res.http_status, 200);
    assert_true(d.res.group_id[0] != '\0');
    assert_int_equal(d.res.n_accepted, 3);
    assert_int_equal(d.res.n_unknown, 0);
    assert_int_equal(d.res.n_unmatched, 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(d.out[i].state, MF_COOLSMS_MSG_ACCEPTED);
        assert_true(strlen(d.out[i].message_id) > 0);
        assert_string_equal(d.out[i].status_code, "2000");
        assert_int_equal(ledger_count(j.id[i]), 1);
    }
    assert_string_not_equal(d.out[0].message_id, d.out[1].message_id);

    /* The list API finds the messages by groupId (a filter of the real API); each carries its
     * job id in customFields. */
    f[0].key = "groupId";
    f[0].value = d.res.group_id;
    if (mf_coolsms_list(h, f, 1, &lr, &err) < 0)
        fail_msg("list: %s", err.msg);
    assert_int_equal(lr.http_status, 200);
    assert_int_equal(lr.n_items, 3);
    for (i = 0; i < lr.n_items && strcmp(lr.items[i].job_id, j.id[1]) != 0; i++)
        ;
    assert_true(i < lr.n_items);
    assert_string_equal(lr.items[i].message_id, d.out[1].message_id);
    assert_string_equal(lr.items[i].run_id, g_sim.run);
    assert_string_equal(lr.items[i].to, "01098765432");
    assert_string_equal(lr.items[i].group_id, d.res.group_id);
    mf_coolsms_list_result_free(&lr);

    /* By messageId, and by an id nobody has. */
    f[0].key = "messageId";
    f[0].value = d.out[2].message_id;
    assert_int_equal(mf_coolsms_list(h, f, 1, &lr, &err), 0);
    assert_int_equal(lr.n_items, 1);
    assert_string_equal(lr.items[0].job_id, j.id[2]);
    assert_string_equal(lr.items[0].type, "SMS");
    mf_coolsms_list_result_free(&lr);
    f[0].key = "messageId";
    f[0].value = "M4V20000101000000NOSUCHMESSAGE00";
    assert_int_equal(mf_coolsms_list(h, f, 1, &lr, &err), 0);
    assert_int_equal(lr.n_items, 0);
    mf_coolsms_list_result_free(&lr);
    mf_coolsms_destroy(h);
}

static void test_bad_secret_is_permanent(void **state)
{
    mf_coolsms *h = client("WRONG-SECRET", 10000, 1);
    jobs j;
    done_rec d;
    mf_coolsms_list_result lr;
    mf_err err = {{0}};

    (void)state;
    make_jobs(&j, "auth", 2);
    send_and_wait(h, &j, &d);
    assert_int_equal(d.res.cls, MF_COOLSMS_PERMANENT);
    assert_int_equal(d.res.http_status, 403);
    assert_false(d.res.maybe_sent);
    assert_string_equal(d.res.error_code, "SignatureDoesNotMatch");
    assert_int_equal(d.res.n_unknown, 2);
    assert_int_equal(ledger_count(j.id[0]), 0);
    assert_int_equal(ledger_count(j.id[1]), 0);
    /* The list call is refused the same way. */
    assert_int_equal(mf_coolsms_list(h, NULL, 0, &lr, &err), -1);
    assert_int_equal(lr.cls, MF_COOLSMS_PERMANENT);
    assert_string_equal(lr.error_code, "SignatureDoesNotMatch");
    assert_null(strstr(err.msg, "WRONG-SECRET"));
    mf_coolsms_list_result_free(&lr);
    mf_coolsms_destroy(h);
}

static void test_5xx_is_transient(void **state)
{
    mf_coolsms *h = client(API_SECRET, 10000, 1);
    jobs j;
    done_rec d;

    (void)state;
    set_knobs("{\"error_5xx_ratio\":1}");
    make_jobs(&j, "5xx", 2);
    send_and_wait(h, &j, &d);
    reset_knobs();
    assert_int_equal(d.res.cls, MF_COOLSMS_TRANSIENT);
    assert_true(d.res.http_status >= 500 && d.res.http_status <= 599);
    assert_int_equal(d.res.n_unknown, 2);
    assert_int_equal(ledger_count(j.id[0]), 0);
    mf_coolsms_destroy(h);
}

static void test_rate_limit_is_transient_429(void **state)
{
    mf_coolsms *h = client(API_SECRET, 10000, 1);
    jobs first, second;
    done_rec d;

    (void)state;
    /* The simulator's bucket admits one request that overdraws it (a big request pays back
     * later); the request right after it is refused. */
    set_knobs("{\"rate_limit_per_s\":5}");
    make_jobs(&first, "rate1", 10);
    make_jobs(&second, "rate2", 10);
    send_and_wait(h, &first, &d);
    send_and_wait(h, &second, &d);
    reset_knobs();
    assert_int_equal(d.res.cls, MF_COOLSMS_TRANSIENT);
    assert_int_equal(d.res.http_status, 429);
    assert_false(d.res.maybe_sent);
    assert_string_equal(d.res.error_code, "TooManyRequests");
    assert_int_equal(d.res.n_unknown, 10);
    assert_int_equal(ledger_count(second.id[0]), 0);
    assert_int_equal(ledger_count(second.id[9]), 0);
    mf_coolsms_destroy(h);
}

static void test_invalid_number_fails_alone(void **state)
{
    mf_coolsms *h = client(API_SECRET, 10000, 1);
    jobs j;
    done_rec d;

    (void)state;
    make_jobs(&j, "badto", 3);
    j.m[0].to = "01011110000";
    j.m[1].to = "12345";
    j.m[2].to = "01022220000";
    send_and_wait(h, &j, &d);
    assert_int_equal(d.res.cls, MF_COOLSMS_OK);
    assert_int_equal(d.out[0].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_int_equal(d.out[1].state, MF_COOLSMS_MSG_FAILED);
    assert_string_equal(d.out[1].status_code, "1011"); /* simulator's invalid-number code */
    assert_true(strlen(d.out[1].status_message) > 0);
    assert_int_equal(d.out[2].state, MF_COOLSMS_MSG_ACCEPTED);
    assert_int_equal(d.res.n_accepted, 2);
    assert_int_equal(d.res.n_failed, 1);
    assert_int_equal(ledger_count(j.id[0]), 1);
    assert_int_equal(ledger_count(j.id[1]), 0);
    assert_int_equal(ledger_count(j.id[2]), 1);
    mf_coolsms_destroy(h);
}

/* Runs one asynchronous group step to its callback (at most 20 s). */
static void step_wait(mf_coolsms *h, done_rec *d)
{
    mf_err err = {{0}};

    for (int i = 0; i < 400 && d->calls == 0; i++)
        if (mf_coolsms_poll(h, 50, &err) < 0)
            fail_msg("poll: %s", err.msg);
    assert_int_equal(d->calls, 1);
}

/* Creates a group and returns its id in gid. */
static void create_group(mf_coolsms *h, char *gid, size_t size)
{
    mf_coolsms_kv cf[1] = {{"fleet", "itest"}};
    done_rec d;
    mf_err err = {{0}};

    memset(&d, 0, sizeof(d));
    if (mf_coolsms_group_create(h, cf, 1, on_done, &d, NULL, &err) < 0)
        fail_msg("create: %s", err.msg);
    step_wait(h, &d);
    if (d.res.cls != MF_COOLSMS_OK)
        fail_msg("create failed: HTTP %ld %s", d.res.http_status, d.res.error_code);
    assert_string_equal(d.res.group_status, "PENDING");
    assert_true(d.res.group_id[0] != '\0');
    snprintf(gid, size, "%s", d.res.group_id);
}

/* Create, add, send: nothing is sent before the send step, every message once after it; a
 * second send is refused; the group's messages carry the job ids. */
static void test_group_flow(void **state)
{
    mf_coolsms *h = client(API_SECRET, 10000, 2);
    jobs j;
    done_rec d;
    char gid[64];
    mf_coolsms_group_info gi;
    mf_coolsms_list_result lr;
    mf_err err = {{0}};
    size_t i, found = 0;

    (void)state;
    make_jobs(&j, "grp", 3);
    j.m[2].to = "0101234"; /* an invalid number: registered as failed, never sent */
    create_group(h, gid, sizeof(gid));
    memset(&d, 0, sizeof(d));
    if (mf_coolsms_group_add(h, gid, j.m, 3, on_done, &d, NULL, &err) < 0)
        fail_msg("add: %s", err.msg);
    step_wait(h, &d);
    assert_int_equal(d.res.cls, MF_COOLSMS_OK);
    assert_int_equal(d.res.n_accepted, 2);
    assert_int_equal(d.res.n_failed, 1);
    assert_int_equal(d.out[2].state, MF_COOLSMS_MSG_FAILED);
    assert_true(d.out[2].status_code[0] == '1');
    assert_int_equal(ledger_count(j.id[0]), 0); /* registered, not sent */
    assert_int_equal(mf_coolsms_group_get(h, gid, &gi, &err), 0);
    assert_string_equal(gi.status, "PENDING");

    memset(&d, 0, sizeof(d));
    if (mf_coolsms_group_send(h, gid, on_done, &d, NULL, &err) < 0)
        fail_msg("send: %s", err.msg);
    step_wait(h, &d);
    assert_int_equal(d.res.cls, MF_COOLSMS_OK);
    assert_string_not_equal(d.res.group_status, "PENDING");
    assert_int_equal(ledger_count(j.id[0]), 1);
    assert_int_equal(ledger_count(j.id[1]), 1);
    assert_int_equal(ledger_count(j.id[2]), 0);

    /* Only a PENDING group is sent: the second send is refused, nothing sent twice. */
    assert_int_equal(mf_coolsms_group_send_wait(h, gid, &gi, &err), -1);
    assert_true(gi.http_status == 409 || gi.http_status == 400);
    assert_int_equal(ledger_count(j.id[0]), 1);

    assert_int_equal(mf_coolsms_group_messages(h, gid, NULL, 500, &lr, &err), 0);
    assert_int_equal(lr.n_items, 3);
    for (i = 0; i < lr.n_items; i++)
        found += strcmp(lr.items[i].job_id, j.id[0]) == 0 ||
                 strcmp(lr.items[i].job_id, j.id[1]) == 0;
    assert_int_equal(found, 2);
    mf_coolsms_list_result_free(&lr);

    /* An unknown group is 404. */
    assert_int_equal(mf_coolsms_group_get(h, "G4V20990101000000NOSUCHGROUP0000", &gi, &err), -1);
    assert_int_equal(gi.http_status, 404);
    mf_coolsms_destroy(h);
}

/* A lost add answer (the provider processed the request, then the connection dropped): the
 * call is in doubt, and the group's messages show what the provider holds. */
static void test_timeout_is_in_doubt_and_resolvable(void **state)
{
    mf_coolsms *h = client(API_SECRET, 700, 1);
    jobs j;
    done_rec d;
    char gid[64];
    mf_coolsms_list_result lr;
    mf_err err = {{0}};
    struct timespec ts = {0, 100 * 1000 * 1000};
    int i, found = 0;

    (void)state;
    make_jobs(&j, "tmo", 1);
    create_group(h, gid, sizeof(gid));
    set_knobs("{\"timeout_ratio\":1,\"timeout_hold_ms\":3000,\"timeout_commit\":true}");
    memset(&d, 0, sizeof(d));
    if (mf_coolsms_group_add(h, gid, j.m, 1, on_done, &d, NULL, &err) < 0)
        fail_msg("add: %s", err.msg);
    step_wait(h, &d);
    reset_knobs();
    assert_int_equal(d.res.cls, MF_COOLSMS_TRANSIENT);
    assert_int_equal(d.res.http_status, 0);
    assert_string_equal(d.res.error_code, "NETWORK_TIMEOUT");
    assert_true(d.res.maybe_sent);
    assert_true(d.res.elapsed_ms >= 600 && d.res.elapsed_ms < 2500);
    for (i = 0; i < 50 && !found; i++) {
        if (mf_coolsms_group_messages(h, gid, NULL, 100, &lr, &err) < 0)
            fail_msg("group messages: %s", err.msg);
        found = lr.n_items == 1 && strcmp(lr.items[0].job_id, j.id[0]) == 0;
        mf_coolsms_list_result_free(&lr);
        if (!found)
            nanosleep(&ts, NULL);
    }
    assert_true(found);
    assert_int_equal(ledger_count(j.id[0]), 0); /* in the group, not sent */
    mf_coolsms_destroy(h);
}

static void test_requests_in_flight_concurrently(void **state)
{
    enum { R = 4, N = 25 };
    mf_coolsms *h = client(API_SECRET, 10000, R);
    static jobs j[R];
    done_rec d[R];
    mf_err err = {{0}};
    struct timespec t0, t1;
    double ms;
    int r, max_in_flight = 0, calls;

    (void)state;
    set_knobs("{\"latency_ms\":400}");
    for (r = 0; r < R; r++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "par%d", r);
        make_jobs(&j[r], tag, N);
    }
    memset(d, 0, sizeof(d));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < R; r++)
        if (mf_coolsms_submit(h, j[r].m, N, on_done, &d[r], NULL, &err) < 0)
            fail_msg("submit %d: %s", r, err.msg);
    assert_int_equal(mf_coolsms_free_slots(h), 0);
    assert_int_equal(mf_coolsms_submit(h, j[0].m, 1, on_done, &d[0], NULL, &err), -1);
    max_in_flight = mf_coolsms_in_flight(h);
    assert_int_equal(mf_coolsms_drain(h, 20000, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    reset_knobs();
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_int_equal(max_in_flight, R);
    calls = 0;
    for (r = 0; r < R; r++) {
        calls += d[r].calls;
        if (d[r].res.cls != MF_COOLSMS_OK)
            fail_msg("request %d: %s %s", r, d[r].res.error_code, d[r].res.error_message);
        assert_int_equal(d[r].res.n_accepted, N);
        assert_int_equal(ledger_count(j[r].id[0]), 1);
        assert_int_equal(ledger_count(j[r].id[N - 1]), 1);
    }
    assert_int_equal(calls, R);
    /* Four requests of 400 ms each finish together when they overlap (serially >= 1600). */
    if (ms >= 1400)
        fail_msg("%d requests with 400 ms latency took %.0f ms: not concurrent", R, ms);
    mf_coolsms_destroy(h);
}

static void test_full_batch_of_10000(void **state)
{
    enum { N = MF_COOLSMS_MAX_BATCH };
    mf_coolsms *h = client(API_SECRET, 60000, 1);
    mf_coolsms_msg *m = calloc(N, sizeof(*m));
    char(*ids)[48] = calloc(N, sizeof(*ids));
    char(*to)[16] = calloc(N, sizeof(*to));
    done_rec d;
    mf_err err = {{0}};
    size_t i;
    int k;

    (void)state;
    assert_non_null(m);
    assert_non_null(ids);
    assert_non_null(to);
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "big-%s-%zu", g_sim.run, i);
        snprintf(to[i], sizeof(to[i]), "0108888%04zu", i);
        m[i].to = to[i];
        m[i].from = SENDER;
        m[i].text = "[msgfleet] 대량 발송 시험 문자입니다. 수신거부 080-000-0000";
        m[i].type = "LMS";
        m[i].subject = "대량";
        m[i].job_id = ids[i];
        m[i].run_id = g_sim.run;
    }
    memset(&d, 0, sizeof(d));
    if (mf_coolsms_submit(h, m, N, on_done, &d, NULL, &err) < 0)
        fail_msg("submit: %s", err.msg);
    for (k = 0; k < 1200 && d.calls == 0; k++)
        if (mf_coolsms_poll(h, 50, &err) < 0)
            fail_msg("poll: %s", err.msg);
    assert_int_equal(d.calls, 1);
    if (d.res.cls != MF_COOLSMS_OK)
        fail_msg("10000-message request: HTTP %ld %s %s", d.res.http_status, d.res.error_code,
                 d.res.error_message);
    assert_int_equal(d.res.n_messages, N);
    assert_int_equal(d.res.n_accepted, N);
    assert_int_equal(d.res.n_unknown, 0);
    assert_int_equal(ledger_count(ids[0]), 1);
    assert_int_equal(ledger_count(ids[N / 2]), 1);
    assert_int_equal(ledger_count(ids[N - 1]), 1);
    print_message("10000 messages accepted in %.0f ms\n", d.res.elapsed_ms);
    free(m);
    free(ids);
    free(to);
    mf_coolsms_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_success_and_list),
        cmocka_unit_test(test_bad_secret_is_permanent),
        cmocka_unit_test(test_5xx_is_transient),
        cmocka_unit_test(test_rate_limit_is_transient_429),
        cmocka_unit_test(test_invalid_number_fails_alone),
        cmocka_unit_test(test_group_flow),
        cmocka_unit_test(test_timeout_is_in_doubt_and_resolvable),
        cmocka_unit_test(test_requests_in_flight_concurrently),
        cmocka_unit_test(test_full_batch_of_10000),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, start_sim, stop_sim);
    curl_global_cleanup();
    return rc;
}

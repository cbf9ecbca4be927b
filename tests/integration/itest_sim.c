/* itest_sim: drive the coolsms-sim binary over HTTP with independently computed HMAC headers. */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#define KEY "NCSITESTKEY00001"
#define SECRET "itest-secret-0123456789abcdefghijklmnop"
#define SENDER "0212345678"

typedef struct sim {
    pid_t pid;
    int port;
    char run[16]; /* random suffix for jobIds */
} sim;

static sim S;

typedef struct resp {
    long status;
    char *body;
    size_t len;
    CURLcode curl;
} resp;

/* ---- process ----------------------------------------------------------------------------- */

static void sim_path(char *out, size_t outsz)
{
    const char *b = getenv("MF_BUILD_DIR");
    if (b && *b) {
        snprintf(out, outsz, "%s/tools/coolsms-sim/coolsms-sim", b);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(out, outsz, "tools/coolsms-sim/coolsms-sim");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, outsz, "%s/../tools/coolsms-sim/coolsms-sim", self);
}

/* Start a simulator (control: MF_SIM_CONTROL=1); its pid and port. 0 or -1. */
static int spawn_sim(int control, pid_t *pid, int *port)
{
    char path[PATH_MAX + 64], line[256];
    int fds[2];

    sim_path(path, sizeof(path));
    if (access(path, X_OK) != 0) {
        print_error("simulator binary not found at %s (set MF_BUILD_DIR)\n", path);
        return -1;
    }
    if (pipe(fds) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("MF_SIM_PORT", "0", 1);
        setenv("MF_SIM_API_KEY", KEY, 1);
        setenv("MF_SIM_API_SECRET", SECRET, 1);
        setenv("MF_SIM_SENDERS", SENDER ",031-111-2222", 1);
        setenv("MF_SIM_DELIVER_DELAY_MS", "300", 1);
        setenv("MF_SIM_SEED", "42", 1);
        if (control)
            setenv("MF_SIM_CONTROL", "1", 1);
        else
            unsetenv("MF_SIM_CONTROL");
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        print_error("simulator %s did not report its port\n", path);
        return -1;
    }
    const char *colon = strrchr(line, ':');
    *port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
    /* keep the pipe open (the simulator writes nothing more to stdout) */
    return *port > 0 ? 0 : -1;
}

static int start_sim(void **state)
{
    unsigned char r[4];
    (void)state;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    RAND_bytes(r, sizeof(r));
    snprintf(S.run, sizeof(S.run), "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    return spawn_sim(1, &S.pid, &S.port);
}

static int stop_sim(void **state)
{
    int st = 0;
    (void)state;
    if (S.pid > 0) {
        kill(S.pid, SIGTERM);
        waitpid(S.pid, &st, 0);
    }
    curl_global_cleanup();
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (nb == NULL)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static resp http(const char *method, const char *path, const char *body, const char *auth,
                 long timeout_ms)
{
    resp r = {0, NULL, 0, CURLE_OK};
    char url[1024], hdr[600];
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", S.port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        h = curl_slist_append(h, "Content-Type: application/json");
    }
    if (auth) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    r.curl = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.body == NULL)
        r.body = calloc(1, 1);
    return r;
}

/* Independent HMAC: hex(HMAC-SHA256(secret, date + salt)). */
static void make_auth(const char *key, const char *secret, const char *date, const char *salt,
                      char *out, size_t outsz)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char data[256], hex[2 * EVP_MAX_MD_SIZE + 1];
    int n = snprintf(data, sizeof(data), "%s%s", date, salt);
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)data,
                         (size_t)n, mac, &len));
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, outsz, "HMAC-SHA256 apiKey=%s, date=%s, salt=%s, signature=%s", key, date, salt,
             hex);
}

static void iso_now(long offset_s, char *out, size_t outsz)
{
    time_t t = time(NULL) + offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_salt(char *out)
{
    unsigned char r[16];
    RAND_bytes(r, sizeof(r));
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void good_auth(char *out, size_t outsz)
{
    char date[64], salt[40];
    iso_now(0, date, sizeof(date));
    new_salt(salt);
    make_auth(KEY, SECRET, date, salt, out, outsz);
}

static resp api(const char *method, const char *path, const char *body)
{
    char auth[512];
    good_auth(auth, sizeof(auth));
    return http(method, path, body, auth, 0);
}

static json_t *parse(const resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %.300s", r->status, r->body);
    return j;
}

static void set_config(const char *json)
{
    resp r = http("POST", "/_sim/config", json, NULL, 0);
    if (r.status != 200)
        fail_msg("config %s: HTTP %ld %s", json, r.status, r.body);
    free(r.body);
}

static long ledger_count(const char *job)
{
    char path[256];
    snprintf(path, sizeof(path), "/_sim/ledger/count?field=jobId&value=%s", job);
    resp r = http("GET", path, NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    long n = (long)json_integer_value(json_object_get(j, "count"));
    json_decref(j);
    free(r.body);
    return n;
}

static void job_id(char *out, size_t outsz, const char *name)
{
    snprintf(out, outsz, "it-%s-%s", S.run, name);
}

/* One message object as JSON text. type may be NULL (auto). */
static void msg_json(char *out, size_t outsz, const char *to, const char *from, const char *type,
                     const char *text, const char *job)
{
    char t[32] = "";
    if (type)
        snprintf(t, sizeof(t), "\"type\":\"%s\",", type);
    snprintf(out, outsz,
             "{\"to\":\"%s\",\"from\":\"%s\",%s\"text\":\"%s\","
             "\"customFields\":{\"jobId\":\"%s\"}}",
             to, from, t, text, job);
}

static resp send_msgs(const char *msgs_json)
{
    char *body = malloc(strlen(msgs_json) + 128);
    assert_non_null(body);
    snprintf(body, strlen(msgs_json) + 128,
             "{\"messages\":[%s],\"allowDuplicates\":false,\"showMessageList\":true}", msgs_json);
    resp r = api("POST", "/messages/v4/send-many/detail", body);
    free(body);
    return r;
}

/* errorCode of an error answer; every error body is {errorCode, errorMessage}. */
static const char *error_code(const resp *r, json_t **holder)
{
    *holder = parse(r);
    assert_true(json_is_string(json_object_get(*holder, "errorMessage")));
    return json_string_value(json_object_get(*holder, "errorCode"));
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_send_accepted(void **state)
{
    char m[3][512], all[2048], j[3][64];
    (void)state;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "acc%d", i);
        job_id(j[i], sizeof(j[i]), name);
    }
    msg_json(m[0], sizeof(m[0]), "010-1234-0001", SENDER, "SMS", "안녕하세요", j[0]);
    msg_json(m[1], sizeof(m[1]), "+82 10-1234-0002", "02-1234-5678", NULL, "hello", j[1]);
    msg_json(m[2], sizeof(m[2]), "01012340003", "0311112222", "LMS", "긴 메시지", j[2]);
    snprintf(all, sizeof(all), "%s,%s,%s", m[0], m[1], m[2]);
    resp r = send_msgs(all);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    json_t *count = json_object_get(json_object_get(root, "groupInfo"), "count");
    assert_int_equal(json_integer_value(json_object_get(count, "registeredSuccess")), 3);
    assert_int_equal(json_integer_value(json_object_get(count, "registeredFailed")), 0);
    assert_int_equal(json_integer_value(json_object_get(count, "total")), 3);
    assert_int_equal(json_array_size(json_object_get(root, "failedMessageList")), 0);
    const char *gid = json_string_value(
        json_object_get(json_object_get(root, "groupInfo"), "groupId"));
    assert_non_null(gid);
    assert_int_equal(strncmp(gid, "G4V", 3), 0);
    json_t *list = json_object_get(root, "messageList");
    assert_int_equal(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(e, "messageId"));
        assert_non_null(id);
        assert_int_equal(strlen(id), 32);
        assert_int_equal(strncmp(id, "M4V", 3), 0);
        assert_string_equal(json_string_value(json_object_get(e, "statusCode")), "2000");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(e, "customFields"), "jobId")), j[i]);
    }
    /* auto type: short ASCII became SMS */
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "type")), "SMS");
    for (int i = 0; i < 3; i++)
        assert_int_equal(ledger_count(j[i]), 1);
    json_decref(root);
    free(r.body);
}

static void test_auth_errors(void **state)
{
    const char *body = "{\"messages\":[]}";
    char date[64], salt[40], auth[512];
    json_t *h;
    (void)state;

    iso_now(0, date, sizeof(date));
    new_salt(salt);
    make_auth(KEY, "wrong-secret", date, salt, auth, sizeof(auth));
    resp r = http("POST", "/messages/v4/send-many/detail", body, auth, 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r, &h), "SignatureDoesNotMatch");
    json_decref(h);
    free(r.body);

    new_salt(salt);
    make_auth("NCSUNKNOWNKEY", SECRET, date, salt, auth, sizeof(auth));
    r = http("POST", "/messages/v4/send-many/detail", body, auth, 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r, &h), "InvalidAPIKey");
    json_decref(h);
    free(r.body);

    r = http("GET", "/messages/v4/list", NULL, "HMAC-SHA256 garbage", 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_code(&r, &h), "InvalidAuthorizationHeader");
    json_decref(h);
    free(r.body);

    r = http("GET", "/messages/v4/list", NULL, NULL, 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_code(&r, &h), "Unauthorized");
    json_decref(h);
    free(r.body);
}

static void test_reused_salt(void **state)
{
    char date[64], salt[40], auth[512];
    json_t *h;
    (void)state;
    iso_now(0, date, sizeof(date));
    new_salt(salt);
    make_auth(KEY, SECRET, date, salt, auth, sizeof(auth));
    resp r = http("GET", "/messages/v4/list?limit=1", NULL, auth, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", "/messages/v4/list?limit=1", NULL, auth, 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r, &h), "DuplicatedSignature");
    json_decref(h);
    free(r.body);
    /* same salt with another date (so another signature) is still a reuse */
    iso_now(-5, date, sizeof(date));
    make_auth(KEY, SECRET, date, salt, auth, sizeof(auth));
    r = http("GET", "/messages/v4/list?limit=1", NULL, auth, 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r, &h), "DuplicatedSignature");
    json_decref(h);
    free(r.body);
}

static void test_skewed_date(void **state)
{
    char date[64], salt[40], auth[512];
    json_t *h;
    (void)state;
    for (int k = 0; k < 2; k++) {
        iso_now(k == 0 ? -16 * 60 : 16 * 60, date, sizeof(date));
        new_salt(salt);
        make_auth(KEY, SECRET, date, salt, auth, sizeof(auth));
        resp r = http("GET", "/messages/v4/list", NULL, auth, 0);
        assert_int_equal(r.status, 403);
        assert_string_equal(error_code(&r, &h), "RequestTimeTooSkewed");
        json_decref(h);
        free(r.body);
    }
    /* 14 minutes off is still fine */
    iso_now(-14 * 60, date, sizeof(date));
    new_salt(salt);
    make_auth(KEY, SECRET, date, salt, auth, sizeof(auth));
    resp r = http("GET", "/messages/v4/list?limit=1", NULL, auth, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static const char *failed_code_for(json_t *root, const char *job)
{
    json_t *fl = json_object_get(root, "failedMessageList");
    for (size_t i = 0; i < json_array_size(fl); i++) {
        json_t *e = json_array_get(fl, i);
        const char *j = json_string_value(
            json_object_get(json_object_get(e, "customFields"), "jobId"));
        if (j && !strcmp(j, job))
            return json_string_value(json_object_get(e, "statusCode"));
    }
    return NULL;
}

static void test_failed_messages(void **state)
{
    char m[4][512], all[2048], j[4][64];
    (void)state;
    job_id(j[0], sizeof(j[0]), "badto");
    job_id(j[1], sizeof(j[1]), "badfrom");
    job_id(j[2], sizeof(j[2]), "ok");
    job_id(j[3], sizeof(j[3]), "landline");
    msg_json(m[0], sizeof(m[0]), "010-12", SENDER, "SMS", "x", j[0]);
    msg_json(m[1], sizeof(m[1]), "01055556666", "0299999999", "SMS", "x", j[1]);
    msg_json(m[2], sizeof(m[2]), "01055557777", SENDER, "SMS", "x", j[2]);
    msg_json(m[3], sizeof(m[3]), "02-555-7777", SENDER, "SMS", "x", j[3]);
    snprintf(all, sizeof(all), "%s,%s,%s,%s", m[0], m[1], m[2], m[3]);
    resp r = send_msgs(all);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    assert_int_equal(json_array_size(json_object_get(root, "failedMessageList")), 3);
    assert_string_equal(failed_code_for(root, j[0]), "1011");
    assert_string_equal(failed_code_for(root, j[1]), "1062");
    assert_string_equal(failed_code_for(root, j[3]), "1011");
    assert_null(failed_code_for(root, j[2]));
    json_t *count = json_object_get(json_object_get(root, "groupInfo"), "count");
    assert_int_equal(json_integer_value(json_object_get(count, "registeredFailed")), 3);
    assert_int_equal(json_integer_value(json_object_get(count, "registeredSuccess")), 1);
    assert_int_equal(ledger_count(j[0]), 0);
    assert_int_equal(ledger_count(j[1]), 0);
    assert_int_equal(ledger_count(j[2]), 1);
    json_decref(root);
    free(r.body);
}

static char *hangul(int n)
{
    char *s = malloc((size_t)n * 3 + 1);
    for (int i = 0; i < n; i++)
        memcpy(s + 3 * i, "가", 3);
    s[n * 3] = '\0';
    return s;
}

static void test_euckr_limits(void **state)
{
    char *h45 = hangul(45), *h46 = hangul(46);
    char text91[256], m[4][512], all[2048], j[4][64];
    (void)state;
    snprintf(text91, sizeof(text91), "%sx", h45); /* 91 bytes */
    job_id(j[0], sizeof(j[0]), "sms90");
    job_id(j[1], sizeof(j[1]), "sms91");
    job_id(j[2], sizeof(j[2]), "lms91");
    job_id(j[3], sizeof(j[3]), "emoji");
    msg_json(m[0], sizeof(m[0]), "01077770001", SENDER, "SMS", h45, j[0]);
    msg_json(m[1], sizeof(m[1]), "01077770002", SENDER, "SMS", text91, j[1]);
    msg_json(m[2], sizeof(m[2]), "01077770003", SENDER, "LMS", text91, j[2]);
    msg_json(m[3], sizeof(m[3]), "01077770004", SENDER, "SMS", "hi 😀", j[3]);
    snprintf(all, sizeof(all), "%s,%s,%s,%s", m[0], m[1], m[2], m[3]);
    resp r = send_msgs(all);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    assert_null(failed_code_for(root, j[0]));
    assert_string_equal(failed_code_for(root, j[1]), "1031");
    assert_null(failed_code_for(root, j[2]));
    assert_string_equal(failed_code_for(root, j[3]), "1029");
    assert_int_equal(ledger_count(j[0]), 1);
    assert_int_equal(ledger_count(j[1]), 0);
    assert_int_equal(ledger_count(j[2]), 1);
    json_decref(root);
    free(r.body);

    /* auto type: 46 Hangul (92 bytes) goes as LMS */
    char jj[64];
    job_id(jj, sizeof(jj), "auto46");
    msg_json(m[0], sizeof(m[0]), "01077770005", SENDER, NULL, h46, jj);
    r = send_msgs(m[0]);
    root = parse(&r);
    json_t *e = json_array_get(json_object_get(root, "messageList"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "LMS");
    json_decref(root);
    free(r.body);
    free(h45);
    free(h46);
}

static void test_rate_limit(void **state)
{
    char m[5][256], all[2048], j[64];
    json_t *h;
    (void)state;
    set_config("{\"rate_limit_per_s\":5}");
    size_t off = 0;
    all[0] = '\0';
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "rl%d", i);
        job_id(j, sizeof(j), name);
        char to[16];
        snprintf(to, sizeof(to), "0108888000%d", i);
        msg_json(m[i], sizeof(m[i]), to, SENDER, "SMS", "rate", j);
        off += (size_t)snprintf(all + off, sizeof(all) - off, "%s%s", i ? "," : "", m[i]);
    }
    resp r = send_msgs(all);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = send_msgs(all);
    assert_int_equal(r.status, 429);
    assert_string_equal(error_code(&r, &h), "TooManyRequests");
    json_decref(h);
    free(r.body);
    set_config("{\"rate_limit_per_s\":0}");
}

static void test_5xx(void **state)
{
    char m[256], j[64];
    (void)state;
    job_id(j, sizeof(j), "5xx");
    msg_json(m, sizeof(m), "01099990001", SENDER, "SMS", "five", j);
    set_config("{\"error_5xx_ratio\":1}");
    for (int i = 0; i < 3; i++) {
        resp r = send_msgs(m);
        assert_true(r.status == 500 || r.status == 502 || r.status == 503);
        assert_null(strchr(r.body, '{')); /* a text body, not JSON */
        free(r.body);
    }
    set_config("{\"error_5xx_ratio\":0}");
    assert_int_equal(ledger_count(j), 0);
}

static void test_permanent_failure(void **state)
{
    char m[256], j[64];
    (void)state;
    job_id(j, sizeof(j), "perm");
    msg_json(m, sizeof(m), "01099990003", SENDER, "SMS", "perm", j);
    set_config("{\"permanent_fail_ratio\":1,\"permanent_fail_code\":\"1061\"}");
    for (int i = 0; i < 2; i++) { /* deterministic: a replay gets the same verdict */
        resp r = send_msgs(m);
        assert_int_equal(r.status, 200);
        json_t *root = parse(&r);
        assert_string_equal(failed_code_for(root, j), "1061");
        json_decref(root);
        free(r.body);
    }
    set_config("{\"permanent_fail_ratio\":0}");
    assert_int_equal(ledger_count(j), 0);
}

static void test_timeout_in_doubt(void **state)
{
    char m[256], j[64];
    (void)state;
    job_id(j, sizeof(j), "timeout");
    msg_json(m, sizeof(m), "01099990002", SENDER, "SMS", "doubt", j);
    set_config("{\"timeout_ratio\":1,\"timeout_hold_ms\":300,\"timeout_commit\":true}");
    char body[512], auth[512];
    snprintf(body, sizeof(body), "{\"messages\":[%s]}", m);
    good_auth(auth, sizeof(auth));
    resp r = http("POST", "/messages/v4/send-many/detail", body, auth, 5000);
    set_config("{\"timeout_ratio\":0}");
    assert_int_not_equal(r.curl, CURLE_OK); /* no answer: the connection was dropped */
    free(r.body);
    /* but the message was recorded: exactly the in-doubt case */
    assert_int_equal(ledger_count(j), 1);
}

static void test_list_and_delivery(void **state)
{
    char m[2][256], all[600], j[2][64], path[512];
    (void)state;
    job_id(j[0], sizeof(j[0]), "list0");
    job_id(j[1], sizeof(j[1]), "list1");
    msg_json(m[0], sizeof(m[0]), "01066660001", SENDER, "SMS", "list", j[0]);
    msg_json(m[1], sizeof(m[1]), "01066660002", SENDER, "SMS", "list", j[1]);
    snprintf(all, sizeof(all), "%s,%s", m[0], m[1]);
    resp r = send_msgs(all);
    json_t *root = parse(&r);
    json_t *list = json_object_get(root, "messageList");
    char id0[40], id1[40], gid[40];
    snprintf(gid, sizeof(gid), "%s",
             json_string_value(json_object_get(json_object_get(root, "groupInfo"), "groupId")));
    snprintf(id0, sizeof(id0), "%s",
             json_string_value(json_object_get(json_array_get(list, 0), "messageId")));
    snprintf(id1, sizeof(id1), "%s",
             json_string_value(json_object_get(json_array_get(list, 1), "messageId")));
    json_decref(root);
    free(r.body);

    snprintf(path, sizeof(path), "/messages/v4/list?messageId=%s", id0);
    r = api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    root = parse(&r);
    json_t *ml = json_object_get(root, "messageList");
    assert_int_equal(json_object_size(ml), 1);
    assert_non_null(json_object_get(ml, id0));
    assert_int_equal(json_integer_value(json_object_get(root, "limit")), 20);
    json_decref(root);
    free(r.body);

    /* groupId is a real filter; a customFields key is not one (ignored like any unknown key;
     * the key is spliced in so that no query key of that form appears in the tree, where a
     * search for one finds real uses) */
    snprintf(path, sizeof(path), "/messages/v4/list?groupId=%s&%s.jobId=nope&x=1", gid,
             "customFields");
    r = api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    root = parse(&r);
    ml = json_object_get(root, "messageList");
    assert_int_equal(json_object_size(ml), 2);
    json_t *e = json_object_get(ml, id1);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "to")), "01066660002");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "customFields"), "jobId")), j[1]);
    json_decref(root);
    free(r.body);

    /* criteria/cond/value, the documented query form */
    snprintf(path, sizeof(path),
             "/messages/v4/list?criteria=groupId,to&cond=eq,eq&value=%s,"
             "01066660001",
             gid);
    r = api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    root = parse(&r);
    assert_int_equal(json_object_size(json_object_get(root, "messageList")), 1);
    assert_non_null(json_object_get(json_object_get(root, "messageList"), id0));
    json_decref(root);
    free(r.body);

    /* messageIds as a comma list, limit 1 gives a nextKey */
    snprintf(path, sizeof(path), "/messages/v4/list?messageIds=%s,%s&limit=1", id0, id1);
    r = api("GET", path, NULL);
    root = parse(&r);
    assert_int_equal(json_object_size(json_object_get(root, "messageList")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "nextKey")), id1);
    json_decref(root);
    free(r.body);

    /* after deliver_delay_ms (300 ms at start-up) the status is final */
    struct timespec ts = {0, 450 * 1000000L};
    nanosleep(&ts, NULL);
    snprintf(path, sizeof(path), "/messages/v4/list?messageId=%s", id0);
    r = api("GET", path, NULL);
    root = parse(&r);
    e = json_object_get(json_object_get(root, "messageList"), id0);
    assert_string_equal(json_string_value(json_object_get(e, "statusCode")), "4000");
    assert_true(json_is_string(json_object_get(e, "dateReceived")));
    json_decref(root);
    free(r.body);

    snprintf(path, sizeof(path), "/messages/v4/list?statusCode=4000&messageId=%s", id0);
    r = api("GET", path, NULL);
    root = parse(&r);
    assert_int_equal(json_object_size(json_object_get(root, "messageList")), 1);
    json_decref(root);
    free(r.body);
}

static void test_delivery_failure(void **state)
{
    char m[256], j[64], path[256];
    (void)state;
    set_config("{\"deliver_fail_ratio\":1,\"deliver_delay_ms\":0}");
    job_id(j, sizeof(j), "dfail");
    msg_json(m, sizeof(m), "01066660003", SENDER, "SMS", "fail", j);
    resp r = send_msgs(m);
    assert_int_equal(r.status, 200);
    json_t *sent = parse(&r);
    snprintf(path, sizeof(path), "/messages/v4/list?messageId=%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(sent, "messageList"), 0), "messageId")));
    json_decref(sent);
    free(r.body);
    set_config("{\"deliver_fail_ratio\":0,\"deliver_delay_ms\":300}");
    r = api("GET", path, NULL);
    json_t *root = parse(&r);
    const char *k;
    json_t *e;
    int seen = 0;
    json_object_foreach(json_object_get(root, "messageList"), k, e)
    {
        assert_string_equal(json_string_value(json_object_get(e, "statusCode")), "3043");
        seen++;
    }
    assert_int_equal(seen, 1);
    json_decref(root);
    free(r.body);
}

static void test_too_many_messages(void **state)
{
    json_t *h;
    size_t cap = 10001 * 80 + 64, off = 0;
    char *body = malloc(cap);
    (void)state;
    off += (size_t)snprintf(body + off, cap - off, "{\"messages\":[");
    for (int i = 0; i < 10001; i++)
        off += (size_t)snprintf(body + off, cap - off,
                                "%s{\"to\":\"010%08d\",\"from\":\"%s\",\"text\":\"x\"}",
                                i ? "," : "", i, SENDER);
    snprintf(body + off, cap - off, "]}");
    resp r = api("POST", "/messages/v4/send-many/detail", body);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(&r, &h), "TooManyMessages");
    json_decref(h);
    free(r.body);
    free(body);
}

static void test_admin(void **state)
{
    json_t *h;
    (void)state;
    resp r = http("GET", "/_sim/health", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ok\":true"));
    free(r.body);

    r = http("POST", "/_sim/config", "{\"latency_ms\":-1}", NULL, 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(&r, &h), "InvalidConfig");
    json_decref(h);
    free(r.body);

    r = http("GET", "/_sim/stats", NULL, NULL, 0);
    json_t *st = parse(&r);
    long ledger = (long)json_integer_value(json_object_get(st, "ledger"));
    assert_true(json_integer_value(json_object_get(st, "auth_failures")) >= 4);
    assert_true(json_integer_value(json_object_get(st, "rate_limited")) >= 1);
    assert_true(json_integer_value(json_object_get(st, "http_5xx")) >= 3);
    assert_true(json_integer_value(json_object_get(st, "timeouts")) >= 1);
    assert_true(ledger >= 10);
    json_decref(st);
    free(r.body);

    r = http("GET", "/_sim/ledger/export", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    long lines = 0;
    for (char *p = r.body; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, ledger);
    char *first_nl = strchr(r.body, '\n');
    *first_nl = '\0';
    json_t *line = parse(&r);
    assert_non_null(json_object_get(line, "acceptedAt"));
    assert_non_null(json_object_get(line, "customFields"));
    json_decref(line);
    free(r.body);
}


/* ---- message groups ---------------------------------------------------------------------- */

/* Call the API; returns the parsed body (NULL when not JSON) and the status. */
static json_t *call(const char *method, const char *path, const char *body, long *status)
{
    json_error_t e;
    resp r = api(method, path, body);
    json_t *j = json_loads(r.body, 0, &e);
    *status = r.status;
    free(r.body);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long count_of(json_t *group, const char *k)
{
    return (long)json_integer_value(json_object_get(json_object_get(group, "count"), k));
}

/* Every field of the SDK's groupMessageResponseSchema and groupSchema is present. */
static void assert_group_shape(json_t *g)
{
    static const char *const keys[] = {"count",
                                       "countForCharge",
                                       "balance",
                                       "point",
                                       "app",
                                       "log",
                                       "status",
                                       "allowDuplicates",
                                       "isRefunded",
                                       "accountId",
                                       "masterAccountId",
                                       "apiVersion",
                                       "groupId",
                                       "price",
                                       "dateCreated",
                                       "dateUpdated",
                                       "scheduledDate",
                                       "dateSent",
                                       "dateCompleted",
                                       "sdkVersion",
                                       "osPlatform",
                                       NULL};
    static const char *const counts[] = {"total",       "sentTotal",        "sentFailed",
                                         "sentSuccess", "sentPending",      "sentReplacement",
                                         "refund",      "registeredFailed", "registeredSuccess",
                                         NULL};
    static const char *const charge[] = {"sms", "lms",     "mms",     "ata",     "cta",     "cti",
                                         "nsa", "rcs_sms", "rcs_lms", "rcs_mms", "rcs_tpl", NULL};
    assert_true(json_is_object(g));
    for (int i = 0; keys[i]; i++)
        if (json_object_get(g, keys[i]) == NULL)
            fail_msg("group object lacks %s", keys[i]);
    for (int i = 0; counts[i]; i++)
        assert_true(json_is_integer(json_object_get(json_object_get(g, "count"), counts[i])));
    for (int i = 0; charge[i]; i++) {
        assert_true(
            json_is_object(json_object_get(json_object_get(g, "countForCharge"), charge[i])));
        assert_true(json_is_integer(
            json_object_get(json_object_get(json_object_get(g, "app"), "profit"), charge[i])));
    }
    assert_true(json_is_null(json_object_get(g, "masterAccountId")));
    assert_true(json_is_boolean(json_object_get(g, "isRefunded")));
    assert_true(json_is_array(json_object_get(g, "log")));
    assert_true(json_is_integer(json_object_get(json_object_get(g, "balance"), "sum")));
    assert_true(json_is_object(json_object_get(g, "price")));
    assert_true(json_is_string(json_object_get(g, "dateCreated")));
}

/* POST /messages/v4/groups; returns the new groupId in gid. */
static void create_group(const char *body, char *gid, size_t gidsz)
{
    long st;
    json_t *g = call("POST", "/messages/v4/groups", body, &st);
    assert_int_equal(st, 200);
    assert_group_shape(g);
    assert_string_equal(jstr(g, "status"), "PENDING");
    snprintf(gid, gidsz, "%s", jstr(g, "groupId"));
    json_decref(g);
}

static json_t *add_to_group(const char *gid, const char *msgs, long *st)
{
    char path[128];
    size_t n = strlen(msgs) + 32;
    char *body = malloc(n);
    assert_non_null(body);
    snprintf(body, n, "{\"messages\":[%s]}", msgs);
    snprintf(path, sizeof(path), "/messages/v4/groups/%s/messages", gid);
    json_t *j = call("PUT", path, body, st);
    free(body);
    return j;
}

static json_t *group_op(const char *method, const char *gid, const char *suffix, long *st)
{
    char path[160];
    snprintf(path, sizeof(path), "/messages/v4/groups/%s%s", gid, suffix);
    return call(method, path, NULL, st);
}

static void expect_error_code(json_t *j, long st, long want_st, const char *want)
{
    if (st != want_st || j == NULL || jstr(j, "errorCode") == NULL ||
        strcmp(jstr(j, "errorCode"), want) != 0 ||
        !json_is_string(json_object_get(j, "errorMessage")))
        fail_msg("expected HTTP %ld %s, got %ld %s", want_st, want, st,
                 j && jstr(j, "errorCode") ? jstr(j, "errorCode") : "(no errorCode)");
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_group_flow(void **state)
{
    char gid[64], m[3][256], all[1024], j[3][64], path[256], next[64];
    long st;
    (void)state;
    create_group("{\"allowDuplicates\":false,\"customFields\":{\"batch\":\"b-1\"},"
                 "\"sdkVersion\":\"msgfleet/1\",\"osPlatform\":\"linux\"}",
                 gid, sizeof(gid));
    job_id(j[0], sizeof(j[0]), "g-ok");
    job_id(j[1], sizeof(j[1]), "g-dup");
    job_id(j[2], sizeof(j[2]), "g-bad");
    msg_json(m[0], sizeof(m[0]), "010-4444-0001", SENDER, "SMS", "group", j[0]);
    msg_json(m[1], sizeof(m[1]), "01044440001", SENDER, "SMS", "group", j[1]);
    msg_json(m[2], sizeof(m[2]), "010-12", SENDER, "SMS", "group", j[2]);
    snprintf(all, sizeof(all), "%s,%s,%s", m[0], m[1], m[2]);
    json_t *a = add_to_group(gid, all, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(a, "errorCount"), "2"); /* a string, as the SDK's schema says */
    json_t *rl = json_object_get(a, "resultList");
    assert_int_equal(json_array_size(rl), 3);
    assert_string_equal(jstr(json_array_get(rl, 0), "statusCode"), "2000");
    assert_string_equal(jstr(json_array_get(rl, 1), "statusCode"), "1026");
    assert_string_equal(jstr(json_array_get(rl, 2), "statusCode"), "1011");
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(rl, i);
        assert_non_null(jstr(e, "messageId"));
        assert_string_equal(jstr(e, "country"), "82");
        assert_string_equal(jstr(e, "accountId"), "10000001");
        assert_string_equal(jstr(json_object_get(e, "customFields"), "jobId"), j[i]);
    }
    json_decref(a);
    assert_int_equal(ledger_count(j[0]), 0); /* registered, not sent */

    /* the group's messages, two pages, every message with its customFields */
    json_t *p1 = group_op("GET", gid, "/messages?limit=2", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(json_object_get(p1, "messageList")), 2);
    assert_int_equal(json_integer_value(json_object_get(p1, "limit")), 2);
    assert_true(json_is_null(json_object_get(p1, "startKey")));
    snprintf(next, sizeof(next), "%s", jstr(p1, "nextKey"));
    json_decref(p1);
    snprintf(path, sizeof(path), "/messages?limit=2&startKey=%s", next);
    json_t *p2 = group_op("GET", gid, path, &st);
    assert_int_equal(st, 200);
    json_t *ml = json_object_get(p2, "messageList");
    assert_int_equal(json_object_size(ml), 1);
    json_t *bad = json_object_get(ml, next);
    assert_non_null(bad);
    assert_string_equal(jstr(bad, "statusCode"), "1011");
    assert_string_equal(jstr(bad, "groupId"), gid);
    assert_string_equal(jstr(json_object_get(bad, "customFields"), "jobId"), j[2]);
    assert_true(json_is_null(json_object_get(p2, "nextKey")));
    json_decref(p2);

    json_t *g = group_op("GET", gid, "", &st);
    assert_int_equal(st, 200);
    assert_group_shape(g);
    assert_int_equal(count_of(g, "total"), 3);
    assert_int_equal(count_of(g, "registeredSuccess"), 1);
    assert_int_equal(count_of(g, "registeredFailed"), 2);
    assert_string_equal(jstr(json_object_get(g, "customFields"), "batch"), "b-1");
    json_decref(g);

    /* send: only the registered message goes out, once */
    g = group_op("POST", gid, "/send", &st);
    assert_int_equal(st, 200);
    assert_group_shape(g);
    assert_string_equal(jstr(g, "status"), "SENDING");
    assert_true(json_is_string(json_object_get(g, "dateSent")));
    json_decref(g);
    assert_int_equal(ledger_count(j[0]), 1);
    assert_int_equal(ledger_count(j[1]), 0);
    assert_int_equal(ledger_count(j[2]), 0);
    g = group_op("POST", gid, "/send", &st);
    expect_error_code(g, st, 409, "GroupInProcessing");
    json_decref(g);
    g = add_to_group(gid, m[0], &st);
    expect_error_code(g, st, 400, "InvalidGroupStatus");
    json_decref(g);
    assert_int_equal(ledger_count(j[0]), 1);

    msleep(450); /* deliver_delay_ms is 300 */
    g = group_op("GET", gid, "", &st);
    assert_string_equal(jstr(g, "status"), "COMPLETE");
    assert_int_equal(count_of(g, "sentSuccess"), 1);
    assert_int_equal(count_of(g, "sentPending"), 0);
    assert_true(json_is_string(json_object_get(g, "dateCompleted")));
    json_decref(g);
    g = group_op("POST", gid, "/send", &st);
    expect_error_code(g, st, 409, "AlreadySent");
    json_decref(g);
    g = group_op("DELETE", gid, "", &st);
    expect_error_code(g, st, 400, "NotOperationalStatus");
    json_decref(g);

    /* the list API finds the group's messages by groupId */
    snprintf(path, sizeof(path), "/messages/v4/list?groupId=%s", gid);
    g = call("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(json_object_get(g, "messageList")), 3);
    json_decref(g);
}

static void test_group_delete(void **state)
{
    char gid[64], m[2][256], all[600], j[2][64], body[256], path[128];
    long st;
    (void)state;
    create_group("{}", gid, sizeof(gid));
    job_id(j[0], sizeof(j[0]), "gd-0");
    job_id(j[1], sizeof(j[1]), "gd-1");
    msg_json(m[0], sizeof(m[0]), "01055550001", SENDER, "SMS", "del", j[0]);
    msg_json(m[1], sizeof(m[1]), "01055550002", SENDER, "SMS", "del", j[1]);
    snprintf(all, sizeof(all), "%s,%s", m[0], m[1]);
    json_t *a = add_to_group(gid, all, &st);
    assert_int_equal(st, 200);
    char id0[40];
    snprintf(id0, sizeof(id0), "%s",
             jstr(json_array_get(json_object_get(a, "resultList"), 0), "messageId"));
    json_decref(a);

    snprintf(body, sizeof(body), "{\"messageIds\":[\"%s\",\"M4V00000000000000NOSUCHMESSAGE1\"]}",
             id0);
    snprintf(path, sizeof(path), "/messages/v4/groups/%s/messages", gid);
    json_t *d = call("DELETE", path, body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(d, "groupId"), gid);
    assert_int_equal(json_integer_value(json_object_get(d, "errorCount")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(d, "resultList"), 0), "resultCode"),
                        "Success");
    json_decref(d);
    /* the removed number may be added again (it left the group) */
    a = add_to_group(gid, m[0], &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(a, "errorCount"), "0");
    json_decref(a);
    json_t *g = group_op("GET", gid, "", &st);
    assert_int_equal(count_of(g, "total"), 2);
    json_decref(g);

    g = group_op("DELETE", gid, "", &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(g, "status"), "DELETED");
    json_decref(g);
    g = group_op("POST", gid, "/send", &st);
    expect_error_code(g, st, 400, "DeletedGroup");
    json_decref(g);
    g = add_to_group(gid, m[1], &st);
    expect_error_code(g, st, 400, "InvalidGroupStatus");
    json_decref(g);
    d = call("DELETE", path, body, &st);
    expect_error_code(d, st, 400, "InvalidGroupStatus");
    json_decref(d);
    assert_int_equal(ledger_count(j[0]), 0);
    assert_int_equal(ledger_count(j[1]), 0);

    g = group_op("GET", "G4V20240101000000ABCDEFGHIJKLMNO", "", &st);
    expect_error_code(g, st, 404, "ResourceNotFound");
    json_decref(g);
    g = group_op("POST", "not-a-group", "/send", &st);
    expect_error_code(g, st, 400, "ValidationError");
    json_decref(g);
}

static void test_group_limits(void **state)
{
    size_t cap = (size_t)16 << 20, off = 0;
    char *msgs = malloc(cap), gid[64], text[1700];
    long st;
    (void)state;
    create_group("{\"allowDuplicates\":true}", gid, sizeof(gid));
    for (int i = 0; i < 10001; i++)
        off += (size_t)snprintf(msgs + off, cap - off,
                                "%s{\"to\":\"010%08d\",\"from\":\"%s\",\"text\":\"x\"}",
                                i ? "," : "", i, SENDER);
    json_t *j = add_to_group(gid, msgs, &st);
    expect_error_code(j, st, 413, "RecipientsTooMany");
    json_decref(j);

    /* 10,000 messages of 1,600 bytes: over 15 MB */
    memset(text, 'a', 1600);
    text[1600] = '\0';
    off = 0;
    for (int i = 0; i < 10000; i++)
        off += (size_t)snprintf(msgs + off, cap - off,
                                "%s{\"to\":\"010%08d\",\"from\":\"%s\",\"text\":\"%s\"}",
                                i ? "," : "", i, SENDER, text);
    j = add_to_group(gid, msgs, &st);
    expect_error_code(j, st, 413, "PayloadTooLarge");
    json_decref(j);
    json_t *g = group_op("GET", gid, "", &st);
    assert_int_equal(count_of(g, "total"), 0);
    json_decref(g);
    free(msgs);
}

static void test_group_list(void **state)
{
    char gid[64], path[256], now[64], later[64];
    long st;
    (void)state;
    iso_now(-60, now, sizeof(now));
    iso_now(60, later, sizeof(later));
    create_group("{\"customFields\":{\"batch\":\"list-me\"}}", gid, sizeof(gid));
    snprintf(path, sizeof(path), "/messages/v4/groups?criteria=groupId&cond=eq&value=%s", gid);
    json_t *l = call("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(json_object_get(l, "groupList")), 1);
    json_t *g = json_object_get(json_object_get(l, "groupList"), gid);
    assert_group_shape(g);
    assert_string_equal(jstr(json_object_get(g, "customFields"), "batch"), "list-me");
    assert_true(json_is_null(json_object_get(l, "nextKey")));
    json_decref(l);

    /* date window and status, one per page */
    snprintf(path, sizeof(path),
             "/messages/v4/groups?startDate=%s&endDate=%s&criteria=status"
             "&cond=eq&value=PENDING&limit=1",
             now, later);
    l = call("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(json_object_get(l, "groupList")), 1);
    json_decref(l);

    l = call("GET", "/messages/v4/groups?criteria=customFields.batch&value=x", NULL, &st);
    expect_error_code(l, st, 400, "ValidationError");
    json_decref(l);
}

static void test_send_many_group_info(void **state)
{
    char m[256], j[64];
    long st;
    (void)state;
    job_id(j, sizeof(j), "sm-info");
    msg_json(m, sizeof(m), "01077771111", SENDER, "SMS", "info", j);
    resp r = send_msgs(m);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    json_t *gi = json_object_get(root, "groupInfo");
    assert_group_shape(gi);
    json_t *g = group_op("GET", jstr(gi, "groupId"), "", &st);
    assert_int_equal(st, 200);
    assert_int_equal(count_of(g, "registeredSuccess"), 1);
    json_decref(g);
    json_decref(root);
    free(r.body);
}


/* ---- step faults, capture, quota, webhooks ----------------------------------------------- */

static void test_step_faults(void **state)
{
    char gid[64], m[512], j[64], auth[512], path[160], body[700];
    long st;
    (void)state;
    job_id(j, sizeof(j), "sf-0");
    msg_json(m, sizeof(m), "01033330001", SENDER, "SMS", "faults", j);
    /* timeouts only on send: create and add answer, send is processed then dropped */
    set_config("{\"timeout_ratio\":1,\"timeout_steps\":\"send\",\"timeout_hold_ms\":200,"
               "\"timeout_commit\":true}");
    create_group("{}", gid, sizeof(gid));
    json_t *a = add_to_group(gid, m, &st);
    assert_int_equal(st, 200);
    json_decref(a);
    good_auth(auth, sizeof(auth));
    snprintf(path, sizeof(path), "/messages/v4/groups/%s/send", gid);
    resp r = http("POST", path, NULL, auth, 5000);
    assert_int_not_equal(r.curl, CURLE_OK);
    free(r.body);
    set_config("{\"timeout_ratio\":0,\"timeout_steps\":\"\"}");
    json_t *g = group_op("GET", gid, "", &st); /* the send happened: the in-doubt case */
    assert_string_equal(jstr(g, "status"), "SENDING");
    json_decref(g);
    assert_int_equal(ledger_count(j), 1);

    /* resets only on add: processed, then the connection is reset without an answer */
    set_config("{\"reset_ratio\":1,\"reset_steps\":\"add\"}");
    create_group("{}", gid, sizeof(gid));
    job_id(j, sizeof(j), "sf-1");
    msg_json(m, sizeof(m), "01033330002", SENDER, "SMS", "faults", j);
    good_auth(auth, sizeof(auth));
    snprintf(path, sizeof(path), "/messages/v4/groups/%s/messages", gid);

    snprintf(body, sizeof(body), "{\"messages\":[%s]}", m);
    r = http("PUT", path, body, auth, 5000);
    assert_int_not_equal(r.curl, CURLE_OK);
    free(r.body);
    set_config("{\"reset_ratio\":0,\"reset_steps\":\"\"}");
    g = group_op("GET", gid, "/messages", &st);
    assert_int_equal(json_object_size(json_object_get(g, "messageList")), 1);
    json_decref(g);

    /* 5xx only on group_get; the others answer */
    set_config("{\"error_5xx_ratio\":1,\"fault_steps\":\"group_get\"}");
    resp r5 = api("GET", "/messages/v4/groups/G4V20240101000000ABCDEFGHIJKLMNO", NULL);
    assert_true(r5.status >= 500);
    free(r5.body);
    g = group_op("GET", gid, "/messages", &st);
    assert_int_equal(st, 200);
    json_decref(g);
    set_config("{\"error_5xx_ratio\":0,\"fault_steps\":\"all\"}");

    resp bad = http("POST", "/_sim/config", "{\"fault_steps\":\"sendd\"}", NULL, 0);
    assert_int_equal(bad.status, 400);
    free(bad.body);
    resp cfg = http("GET", "/_sim/config", NULL, NULL, 0);
    assert_non_null(strstr(cfg.body, "\"fault_steps\":\"all\""));
    free(cfg.body);
}

static void test_capture(void **state)
{
    char path[256], cfg[400], gid[64], m[512], j[64], line[8192];
    long st;
    (void)state;
    snprintf(path, sizeof(path), "/tmp/itest-sim-capture-%s-%d.jsonl", S.run, (int)getpid());
    unlink(path);
    snprintf(cfg, sizeof(cfg), "{\"capture_file\":\"%s\"}", path);
    set_config(cfg);
    create_group("{\"allowDuplicates\":false}", gid, sizeof(gid));
    job_id(j, sizeof(j), "cap-0");
    msg_json(m, sizeof(m), "01022220001", SENDER, "SMS", "cap", j);
    json_t *a = add_to_group(gid, m, &st);
    json_decref(a);
    json_t *g = group_op("GET", gid, "", &st);
    json_decref(g);
    set_config("{\"capture_file\":\"\"}");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t e;
        json_t *l = json_loads(line, 0, &e);
        assert_non_null(l);
        if (n == 0) {
            assert_string_equal(jstr(l, "method"), "POST");
            assert_string_equal(jstr(l, "path"), "/messages/v4/groups");
            assert_true(
                json_is_false(json_object_get(json_object_get(l, "body"), "allowDuplicates")));
        } else if (n == 1) {
            assert_string_equal(jstr(l, "method"), "PUT");
            json_t *msg = json_array_get(json_object_get(json_object_get(l, "body"), "messages"),
                                         0);
            assert_string_equal(jstr(json_object_get(msg, "customFields"), "jobId"), j);
        } else {
            assert_string_equal(jstr(l, "method"), "GET");
            assert_true(json_is_null(json_object_get(l, "body")));
        }
        json_decref(l);
        n++;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(n, 3);
}

/* n SMS messages m[i] (text `tag`) to phone_base followed by i, with job ids j[i] of tag-i. */
static void sms_msgs(const char *tag, const char *phone_base, int n, char (*m)[512], char (*j)[64])
{
    for (int i = 0; i < n; i++) {
        char name[32], to[16];
        snprintf(name, sizeof(name), "%s-%d", tag, i);
        snprintf(to, sizeof(to), "%s%d", phone_base, i);
        job_id(j[i], sizeof(j[i]), name);
        msg_json(m[i], 512, to, SENDER, "SMS", tag, j[i]);
    }
}

/* delivered / failed / pending of /_sim/stats */
static void stats_outcomes(long *delivered, long *failed, long *pending)
{
    resp r = http("GET", "/_sim/stats", NULL, NULL, 0);
    json_t *st = parse(&r);
    *delivered = (long)json_integer_value(json_object_get(st, "delivered"));
    *failed = (long)json_integer_value(json_object_get(st, "failed"));
    *pending = (long)json_integer_value(json_object_get(st, "pending"));
    json_decref(st);
    free(r.body);
}

#define ASSERT_OUTCOMES(d, f, p)                                                                   \
    do {                                                                                           \
        long d_, f_, p_;                                                                           \
        stats_outcomes(&d_, &f_, &p_);                                                             \
        assert_int_equal(d_, d);                                                                   \
        assert_int_equal(f_, f);                                                                   \
        assert_int_equal(p_, p);                                                                   \
    } while (0)

/* The stats count the messages that can no longer change once and only read the later ones:
 * a message waiting in an unsent group stops that prefix, messages after it are still
 * counted, and the group's messages count once it is sent; a reset starts again. */
static void test_stats_outcomes(void **state)
{
    char gid[64], m[4][512], j[4][64], all[2100];
    long st;
    (void)state;
    resp r = http("POST", "/_sim/reset", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    set_config("{\"deliver_delay_ms\":1000,\"deliver_fail_ratio\":0}");
    ASSERT_OUTCOMES(0, 0, 0);

    create_group("{\"allowDuplicates\":false}", gid, sizeof(gid));
    sms_msgs("stats-g", "0106661000", 2, m, j);
    snprintf(all, sizeof(all), "%s,%s", m[0], m[1]);
    json_decref(add_to_group(gid, all, &st));
    assert_int_equal(st, 200);

    sms_msgs("stats-a", "0106662000", 3, m, j);
    snprintf(all, sizeof(all), "%s,%s,%s", m[0], m[1], m[2]);
    r = send_msgs(all);
    assert_int_equal(r.status, 200);
    free(r.body);
    ASSERT_OUTCOMES(0, 0, 3);
    msleep(1200);
    ASSERT_OUTCOMES(3, 0, 0);

    set_config("{\"deliver_fail_ratio\":1}");
    sms_msgs("stats-b", "0106663000", 2, m, j);
    snprintf(all, sizeof(all), "%s,%s", m[0], m[1]);
    r = send_msgs(all);
    assert_int_equal(r.status, 200);
    free(r.body);
    msleep(1200);
    ASSERT_OUTCOMES(3, 2, 0);

    set_config("{\"deliver_fail_ratio\":0}");
    json_decref(group_op("POST", gid, "/send", &st));
    assert_int_equal(st, 200);
    ASSERT_OUTCOMES(3, 2, 2);
    msleep(1200);
    ASSERT_OUTCOMES(5, 2, 0);
    ASSERT_OUTCOMES(5, 2, 0); /* counted once */

    sms_msgs("stats-c", "0106664000", 1, m, j);
    r = send_msgs(m[0]);
    assert_int_equal(r.status, 200);
    free(r.body);
    ASSERT_OUTCOMES(5, 2, 1);
    msleep(1200);
    ASSERT_OUTCOMES(6, 2, 0);

    r = http("POST", "/_sim/reset", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    ASSERT_OUTCOMES(0, 0, 0);
    set_config("{\"deliver_delay_ms\":300}");
}

/* ---- a tiny webhook receiver: answers `fail_first` requests 500, then 200 ----------------- */

typedef struct receiver {
    int fd, port;
    pthread_t th;
    pthread_mutex_t lock;
    int fail_first, seen;
    int keep_alive; /* answer without closing and read the next request on the connection */
    int accepts;    /* connections accepted */
    int expects;    /* requests that carried an Expect header */
    char *bodies[64];
    int nbodies;
    int stop;
} receiver;

static receiver RCV;

/* One request from c into buf (1 MB); 1 when complete, 0 when the connection ended or is idle
 * at stop. */
static int receiver_read(receiver *rv, int c, char *buf, char **hdr_end)
{
    size_t len = 0, want = 0;

    *hdr_end = NULL;
    for (;;) {
        ssize_t k = recv(c, buf + len, (1 << 20) - 1 - len, 0);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && len == 0 && !rv->stop)
            continue; /* an idle kept-alive connection */
        if (k <= 0)
            return 0;
        len += (size_t)k;
        buf[len] = '\0';
        if (*hdr_end == NULL && (*hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "Content-Length:");
            want = (size_t)(*hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
        }
        if (*hdr_end && len >= want)
            return 1;
    }
}

static void *receiver_main(void *arg)
{
    receiver *rv = arg;
    char *buf = malloc(1 << 20);
    while (!rv->stop) {
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&rv->lock);
        rv->accepts++;
        pthread_mutex_unlock(&rv->lock);
        char *hdr_end;
        while (receiver_read(rv, c, buf, &hdr_end)) {
            *hdr_end = '\0';
            pthread_mutex_lock(&rv->lock);
            int fail = rv->seen++ < rv->fail_first;
            rv->expects += strcasestr(buf, "\r\nExpect:") != NULL;
            if (rv->nbodies < 64)
                rv->bodies[rv->nbodies++] = strdup(hdr_end + 4);
            pthread_mutex_unlock(&rv->lock);
            const char *ans =
                rv->keep_alive
                    ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                    : (fail ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            send(c, ans, strlen(ans), MSG_NOSIGNAL);
            if (!rv->keep_alive)
                break;
        }
        close(c);
    }
    free(buf);
    return NULL;
}

static void receiver_start(int fail_first, int keep_alive)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&RCV, 0, sizeof(RCV));
    pthread_mutex_init(&RCV.lock, NULL);
    RCV.fail_first = fail_first;
    RCV.keep_alive = keep_alive;
    RCV.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(RCV.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(RCV.fd, 16), 0);
    getsockname(RCV.fd, (struct sockaddr *)&sa, &sl);
    RCV.port = ntohs(sa.sin_port);
    struct timeval tv = {0, 200000};
    setsockopt(RCV.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_create(&RCV.th, NULL, receiver_main, &RCV);
}

static void receiver_stop(void)
{
    RCV.stop = 1;
    pthread_join(RCV.th, NULL);
    close(RCV.fd);
    for (int i = 0; i < RCV.nbodies; i++)
        free(RCV.bodies[i]);
    pthread_mutex_destroy(&RCV.lock);
}

static void test_webhook(void **state)
{
    char gid[64], m[2][512], all[1100], j[2][64], cfg[512];
    long st;
    (void)state;
    receiver_start(2, 0); /* the first two deliveries (at least one single-report) fail */
    snprintf(cfg, sizeof(cfg),
             "{\"webhook_url\":\"http://127.0.0.1:%d/single\",\"webhook_group_url\":"
             "\"http://127.0.0.1:%d/group\",\"webhook_interval_ms\":20,\"webhook_retry_ms\":20,"
             "\"webhook_batch\":10,\"deliver_delay_ms\":100}",
             RCV.port, RCV.port);
    set_config(cfg);
    create_group("{}", gid, sizeof(gid));
    job_id(j[0], sizeof(j[0]), "wh-0");
    job_id(j[1], sizeof(j[1]), "wh-1");
    msg_json(m[0], sizeof(m[0]), "01011110001", SENDER, "SMS", "hook", j[0]);
    msg_json(m[1], sizeof(m[1]), "01011110002", SENDER, "SMS", "hook", j[1]);
    snprintf(all, sizeof(all), "%s,%s", m[0], m[1]);
    json_t *a = add_to_group(gid, all, &st);
    if (st != 200 || strcmp(jstr(a, "errorCount"), "0") != 0)
        fail_msg("add: HTTP %ld %s", st, a ? json_dumps(a, 0) : "?");
    json_decref(a);
    json_decref(group_op("POST", gid, "/send", &st));
    assert_int_equal(st, 200);
    int single_ok = 0, group_ok = 0;
    char first_eid[64] = "";
    for (int t = 0; t < 100 && !(single_ok && group_ok); t++) {
        msleep(50);
        pthread_mutex_lock(&RCV.lock);
        for (int i = 0; i < RCV.nbodies; i++) {
            json_error_t e;
            json_t *arr = json_loads(RCV.bodies[i], 0, &e);
            json_t *ev = json_array_get(arr, 0);
            json_t *data = json_object_get(ev, "data");
            if (jstr(data, "messageId") && json_array_size(arr) == 2 &&
                json_integer_value(json_object_get(ev, "retryCount")) == 0 && !first_eid[0])
                snprintf(first_eid, sizeof(first_eid), "%s", jstr(ev, "eventDataId"));
            if (jstr(data, "messageId") && json_array_size(arr) == 2 &&
                json_integer_value(json_object_get(ev, "retryCount")) >= 1) {
                /* a retry: same event, same eventDataId, retryCount counted up */
                assert_string_equal(jstr(ev, "eventDataId"), first_eid);
                assert_string_equal(jstr(data, "groupId"), gid);
                assert_string_equal(jstr(data, "statusCode"), "4000");
                assert_non_null(jstr(data, "dateReported"));
                assert_non_null(jstr(ev, "eventDataId"));
                const char *jj = jstr(json_object_get(data, "customFields"), "jobId");
                assert_true(jj && (!strcmp(jj, j[0]) || !strcmp(jj, j[1])));
                single_ok = 1;
            } else if (!jstr(data, "messageId") && jstr(data, "groupId")) {
                assert_string_equal(jstr(data, "groupId"), gid);
                assert_string_equal(jstr(data, "status"), "COMPLETE");
                group_ok = 1;
            }
            json_decref(arr);
        }
        pthread_mutex_unlock(&RCV.lock);
    }
    set_config("{\"webhook_url\":\"\",\"webhook_group_url\":\"\",\"deliver_delay_ms\":300}");
    if (!single_ok || !group_ok) {
        resp sr = http("GET", "/_sim/stats", NULL, NULL, 0);
        print_error("stats: %s\n", sr.body);
        free(sr.body);
    }
    if (!single_ok || !group_ok)
        for (int i = 0; i < RCV.nbodies; i++)
            print_error("webhook body %d: %.300s\n", i, RCV.bodies[i]);
    receiver_stop();
    assert_true(single_ok);
    assert_true(group_ok);
    resp r = http("GET", "/_sim/stats", NULL, NULL, 0);
    json_t *stj = parse(&r);
    assert_true(json_integer_value(json_object_get(stj, "webhook_failures")) >= 2);
    json_decref(stj);
    free(r.body);
}

/* Posts go over one kept-alive connection while the receiver keeps it open (as an HTTP client
 * pool does), and carry no "Expect: 100-continue" (curl's habit for bodies over 1 KB). */
static void test_webhook_keepalive(void **state)
{
    char gid[64], m[4][512], all[2100], j[4][64], cfg[512];
    long st;
    (void)state;
    receiver_start(0, 1);
    snprintf(cfg, sizeof(cfg),
             "{\"webhook_url\":\"http://127.0.0.1:%d/single\",\"webhook_interval_ms\":20,"
             "\"webhook_batch\":2,\"deliver_delay_ms\":100}",
             RCV.port);
    set_config(cfg);
    create_group("{}", gid, sizeof(gid));
    sms_msgs("keep-alive", "0101111100", 4, m, j);
    snprintf(all, sizeof(all), "%s,%s,%s,%s", m[0], m[1], m[2], m[3]);
    json_t *a = add_to_group(gid, all, &st);
    assert_int_equal(st, 200);
    json_decref(a);
    json_decref(group_op("POST", gid, "/send", &st));
    assert_int_equal(st, 200);
    int n = 0, big = 0;
    for (int t = 0; t < 100 && n < 4; t++) {
        msleep(50);
        pthread_mutex_lock(&RCV.lock);
        n = big = 0;
        for (int i = 0; i < RCV.nbodies; i++) {
            json_error_t e;
            json_t *arr = json_loads(RCV.bodies[i], 0, &e);
            n += (int)json_array_size(arr);
            big += strlen(RCV.bodies[i]) > 1024;
            json_decref(arr);
        }
        pthread_mutex_unlock(&RCV.lock);
    }
    set_config("{\"webhook_url\":\"\",\"deliver_delay_ms\":300}");
    pthread_mutex_lock(&RCV.lock);
    int accepts = RCV.accepts, expects = RCV.expects;
    pthread_mutex_unlock(&RCV.lock);
    receiver_stop();
    assert_int_equal(n, 4);
    assert_true(big > 0); /* a body curl would have sent with Expect: 100-continue */
    assert_int_equal(accepts, 1);
    assert_int_equal(expects, 0);
}

static void test_quota(void **state)
{
    char gid[64], m[3][512], all[1600], j[3][64], path[200];
    long st;
    (void)state;
    resp rr = http("POST", "/_sim/reset", NULL, NULL, 0); /* quota used today back to 0 */
    assert_int_equal(rr.status, 200);
    free(rr.body);
    set_config("{\"daily_quota\":2}");
    json_t *q = call("GET", "/quota/v1/me", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(q, "quota")), 2);
    assert_non_null(json_object_get(q, "min"));
    assert_non_null(json_object_get(q, "max"));
    assert_true(json_is_boolean(json_object_get(q, "autoAdjustment")));
    json_decref(q);
    create_group("{}", gid, sizeof(gid));
    sms_msgs("quota", "0109999000", 3, m, j);
    snprintf(all, sizeof(all), "%s,%s,%s", m[0], m[1], m[2]);
    json_decref(add_to_group(gid, all, &st));
    json_t *g = group_op("POST", gid, "/send", &st);
    assert_int_equal(st, 200);
    assert_int_equal(count_of(g, "sentFailed"), 1);
    assert_int_equal(count_of(g, "sentPending"), 2);
    json_decref(g);
    assert_int_equal(ledger_count(j[0]) + ledger_count(j[1]) + ledger_count(j[2]), 2);
    snprintf(path, sizeof(path), "/messages/v4/list?groupId=%s&statusCode=2024", gid);
    json_t *l = call("GET", path, NULL, &st);
    assert_int_equal(json_object_size(json_object_get(l, "messageList")), 1);
    json_decref(l);
    set_config("{\"daily_quota\":0}");
}

/* Without MF_SIM_CONTROL the control and inspection endpoints do not exist (404 like any
 * unknown path): nobody who reaches the simulator can inject faults, reset it or read the
 * ledger's numbers and texts. Only /_sim/health answers; the API works as before. */
static void test_control_endpoints_off_by_default(void **state)
{
    static const char *const routes[][2] = {
        {"GET", "/_sim/config"},        {"POST", "/_sim/config"},
        {"POST", "/_sim/reset"},        {"GET", "/_sim/stats"},
        {"GET", "/_sim/ledger/export"}, {"GET", "/_sim/ledger/count?field=to&value=01012345678"},
    };
    long got[8] = {0}, health = 0, api = 0;
    int main_port = S.port, st = 0, up = 0;
    pid_t pid = 0;
    resp r;

    (void)state;
    up = spawn_sim(0, &pid, &S.port) == 0;
    if (up) {
        r = http("GET", "/_sim/health", NULL, NULL, 0);
        health = r.status;
        free(r.body);
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            r = http(routes[i][0], routes[i][1], !strcmp(routes[i][0], "POST") ? "{}" : NULL, NULL,
                     0);
            got[i] = r.status;
            free(r.body);
        }
        /* the API itself still answers (an unsigned request: 401, not 404) */
        r = http("GET", "/messages/v4/list", NULL, NULL, 0);
        api = r.status;
        free(r.body);
    }
    /* the shared simulator again, and this one gone, before anything can fail */
    S.port = main_port;
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
    }
    assert_true(up);
    assert_int_equal(health, 200);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (got[i] != 404)
            fail_msg("%s %s answered %ld without MF_SIM_CONTROL", routes[i][0], routes[i][1],
                     got[i]);
    }
    assert_int_equal(api, 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_accepted),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_reused_salt),
        cmocka_unit_test(test_skewed_date),
        cmocka_unit_test(test_failed_messages),
        cmocka_unit_test(test_euckr_limits),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_5xx),
        cmocka_unit_test(test_permanent_failure),
        cmocka_unit_test(test_timeout_in_doubt),
        cmocka_unit_test(test_list_and_delivery),
        cmocka_unit_test(test_delivery_failure),
        cmocka_unit_test(test_too_many_messages),
        cmocka_unit_test(test_admin),
        cmocka_unit_test(test_control_endpoints_off_by_default),
        cmocka_unit_test(test_group_flow),
        cmocka_unit_test(test_group_delete),
        cmocka_unit_test(test_group_limits),
        cmocka_unit_test(test_group_list),
        cmocka_unit_test(test_send_many_group_info),
        cmocka_unit_test(test_step_faults),
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_webhook_keepalive),
        cmocka_unit_test(test_quota),          /* these two reset the simulator: */
        cmocka_unit_test(test_stats_outcomes), /* keep them last */
    };
    return cmocka_run_group_tests(tests, start_sim, stop_sim);
}

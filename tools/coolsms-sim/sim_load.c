/* coolsms-sim-load: send N signed send-many/detail requests to the simulator and time them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "mf_buf.h"
#include "mf_coolsms.h"

typedef struct load_opts {
    const char *url;
    const char *key;
    const char *secret;
    const char *from;
    long requests;
    long batch;
    long threads;
} load_opts;

typedef struct load_job {
    const load_opts *o;
    mf_buf *bodies;
    long first, step;
    unsigned long long accepted;
    int failed;
} load_job;

/* "Authorization: ..." header line built by the fleet's own client (common/mf_coolsms), so
 * the load also checks that the simulator accepts what the sender really sends. */
static int auth_header(const char *key, const char *secret, char *out, size_t outsz)
{
    static const char prefix[] = "Authorization: ";
    char date[64], salt[33];
    mf_err err;

    if (outsz <= sizeof(prefix) ||
        mf_coolsms_format_date(time(NULL), date, sizeof(date), &err) != 0 ||
        mf_coolsms_make_salt(salt, sizeof(salt), &err) != 0)
        return -1;
    memcpy(out, prefix, sizeof(prefix) - 1);
    return mf_coolsms_auth_header(out + sizeof(prefix) - 1, outsz - (sizeof(prefix) - 1), key,
                                  secret, date, salt, &err);
}

static int build_body(const load_opts *o, long req, mf_buf *b)
{
    if (mf_buf_append_str(b, "{\"allowDuplicates\":false,\"showMessageList\":true,\"messages\":[",
                          NULL) != 0)
        return -1;
    for (long i = 0; i < o->batch; i++) {
        if (mf_buf_printf(b, NULL,
                          "%s{\"to\":\"010%08ld\",\"from\":\"%s\",\"text\":\"[load] 안녕하세요 "
                          "%ld-%ld 테스트\",\"customFields\":{\"jobId\":\"load-%ld-%ld\"}}",
                          i ? "," : "", i, o->from, req, i, req, i) != 0)
            return -1;
    }
    return mf_buf_append_str(b, "]}", NULL);
}

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
    mf_buf *b = arg;
    return mf_buf_append(b, p, sz * n, NULL) == 0 ? sz * n : 0;
}

static int send_one(CURL *c, const load_opts *o, mf_buf *body, unsigned long long *accepted)
{
    char auth[512], url[512];
    struct curl_slist *h = NULL;
    mf_buf resp;
    long status = 0;
    int rc = -1;

    mf_buf_init(&resp, 0);
    if (auth_header(o->key, o->secret, auth, sizeof(auth)) != 0)
        goto out;
    snprintf(url, sizeof(url), "%s/messages/v4/send-many/detail", o->url);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    if (curl_easy_perform(c) != CURLE_OK)
        goto out;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    const char *p = resp.data ? strstr(resp.data, "\"registeredSuccess\":") : NULL;
    if (status != 200 || p == NULL) {
        fprintf(stderr, "sim-load: HTTP %ld: %.200s\n", status, resp.data ? resp.data : "");
        goto out;
    }
    *accepted += strtoull(p + strlen("\"registeredSuccess\":"), NULL, 10);
    rc = 0;
out:
    curl_slist_free_all(h);
    mf_buf_free(&resp);
    return rc;
}

static void *worker(void *arg)
{
    load_job *j = arg;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        j->failed = 1;
        return NULL;
    }
    for (long r = j->first; r < j->o->requests; r += j->step)
        if (send_one(c, j->o, &j->bodies[r], &j->accepted) != 0)
            j->failed = 1;
    curl_easy_cleanup(c);
    return NULL;
}

static const char *env_or(const char *a, const char *b, const char *def)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = b ? getenv(b) : NULL;
    return (v && *v) ? v : def;
}

static int parse_opts(int argc, char **argv, load_opts *o, char *urlbuf, size_t urlsz)
{
    snprintf(urlbuf, urlsz, "http://127.0.0.1:%s", env_or("MF_SIM_PORT", NULL, "58080"));
    o->url = env_or("MF_COOLSMS_BASE_URL", NULL, urlbuf);
    o->key = env_or("MF_SIM_API_KEY", "MF_COOLSMS_API_KEY", NULL);
    o->secret = env_or("MF_SIM_API_SECRET", "MF_COOLSMS_API_SECRET", NULL);
    o->from = env_or("MF_COOLSMS_SENDER", NULL, "0212345678");
    o->requests = 10;
    o->batch = 10000;
    o->threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end;
        long v = strtol(argv[i + 1], &end, 10);
        int num = *end == '\0' && v > 0;
        if (!strcmp(argv[i], "--url"))
            o->url = argv[i + 1];
        else if (!strcmp(argv[i], "--from"))
            o->from = argv[i + 1];
        else if (!strcmp(argv[i], "--requests") && num)
            o->requests = v;
        else if (!strcmp(argv[i], "--batch") && num && v <= 10000)
            o->batch = v;
        else if (!strcmp(argv[i], "--threads") && num && v <= 64)
            o->threads = v;
        else
            return -1;
    }
    if (argc % 2 == 0 || o->key == NULL || o->secret == NULL)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    load_opts o;
    char urlbuf[128];
    mf_buf *bodies = NULL;
    load_job jobs[64];
    pthread_t th[64];
    struct timespec t0, t1;
    unsigned long long accepted = 0;
    int failed = 0, rc = 1;

    if (parse_opts(argc, argv, &o, urlbuf, sizeof(urlbuf)) != 0) {
        fprintf(stderr, "usage: coolsms-sim-load [--url U] [--requests N] [--batch B<=10000] "
                        "[--threads T] [--from NUMBER]\n(MF_SIM_API_KEY/MF_SIM_API_SECRET or "
                        "MF_COOLSMS_API_KEY/MF_COOLSMS_API_SECRET must be set)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bodies = calloc((size_t)o.requests, sizeof(mf_buf));
    if (bodies == NULL)
        goto out;
    for (long r = 0; r < o.requests; r++) {
        mf_buf_init(&bodies[r], 0);
        if (build_body(&o, r, &bodies[r]) != 0)
            goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < o.threads; t++) {
        jobs[t] = (load_job){&o, bodies, t, o.threads, 0, 0};
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    for (long t = 0; t < o.threads; t++) {
        pthread_join(th[t], NULL);
        accepted += jobs[t].accepted;
        failed |= jobs[t].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("sim-load: messages=%ld seconds=%.3f accepted_per_s=%.0f\n", o.requests * o.batch, secs,
           secs > 0 ? (double)accepted / secs : 0.0);
    fprintf(stderr, "sim-load: accepted=%llu requests=%ld threads=%ld%s\n", accepted, o.requests,
            o.threads, failed ? " (some requests failed)" : "");
    rc = failed ? 1 : 0;
out:
    for (long r = 0; bodies && r < o.requests; r++)
        mf_buf_free(&bodies[r]);
    free(bodies);
    curl_global_cleanup();
    return rc;
}

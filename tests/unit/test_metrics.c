/* Unit tests of mf_metrics and mf_httpd: exposition text, promtool's verdict, endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cmocka.h>

#include "mf_buf.h"
#include "mf_httpd.h"
#include "mf_metrics.h"

static mf_metrics *sample_registry(void)
{
    static const double bounds[] = {0.01, 0.1, 1};
    mf_metrics *m = mf_metrics_new();
    mf_err err = {{0}};
    mf_metric *sent, *inflight, *lat;
    const char *lv[] = {"sent", "sms"};
    const char *odd[] = {"failed", "a\"b\\c\nd"};

    assert_non_null(m);
    sent = mf_metrics_counter(m, "msgfleet_messages_total", "Messages by status\nand type",
                              "status,type", &err);
    inflight = mf_metrics_gauge(m, "msgfleet_inflight_requests", "Requests in flight", NULL, &err);
    lat = mf_metrics_histogram(m, "msgfleet_request_seconds", "Request latency", NULL, bounds, 3,
                               &err);
    assert_non_null(sent);
    assert_non_null(inflight);
    assert_non_null(lat);
    mf_metric_add(sent, lv, 3);
    mf_metric_add(sent, lv, 2);
    mf_metric_add(sent, odd, 1);
    mf_metric_set(inflight, NULL, 4);
    mf_metric_observe(lat, NULL, 0.05);
    mf_metric_observe(lat, NULL, 2);
    assert_true(mf_metric_value(sent, lv) == 5);
    return m;
}

static void test_render_text(void **state)
{
    mf_metrics *m = sample_registry();
    mf_buf out;
    mf_err err = {{0}};

    (void)state;
    mf_buf_init(&out, 0);
    assert_int_equal(mf_metrics_render(m, &out, &err), 0);
    assert_non_null(strstr(out.data, "# TYPE msgfleet_messages_total counter\n"));
    assert_non_null(
        strstr(out.data, "# HELP msgfleet_messages_total Messages by status\\nand type\n"));
    assert_non_null(strstr(out.data, "msgfleet_messages_total{status=\"sent\",type=\"sms\"} 5\n"));
    assert_non_null(strstr(out.data, "type=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_non_null(strstr(out.data, "msgfleet_inflight_requests 4\n"));
    assert_non_null(
        strstr(out.data, "msgfleet_request_seconds_bucket{le=\"0.10000000000000001\"} 1\n"));
    assert_non_null(strstr(out.data, "msgfleet_request_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(out.data, "msgfleet_request_seconds_count 2\n"));
    mf_buf_free(&out);
    mf_metrics_free(m);
}

static void test_promtool_accepts(void **state)
{
    mf_metrics *m = sample_registry();
    mf_buf out;
    mf_err err = {{0}};
    FILE *p;

    (void)state;
    mf_buf_init(&out, 0);
    assert_int_equal(mf_metrics_render(m, &out, &err), 0);
    p = popen("promtool check metrics > /tmp/mf_promtool.out 2>&1", "w");
    assert_non_null(p);
    fwrite(out.data, 1, out.len, p);
    if (pclose(p) != 0) {
        system("cat /tmp/mf_promtool.out");
        fail_msg("promtool check metrics rejected the exposition (is prometheus installed?)");
    }
    mf_buf_free(&out);
    mf_metrics_free(m);
}

static void test_bad_names_rejected(void **state)
{
    mf_metrics *m = mf_metrics_new();
    mf_err err = {{0}};

    (void)state;
    assert_null(mf_metrics_counter(m, "9bad", "x", NULL, &err));
    assert_non_null(strstr(err.msg, "9bad"));
    assert_null(mf_metrics_counter(m, "ok_total", "x", "a,b-c", &err));
    mf_metrics_free(m);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    mf_buf *b = arg;

    mf_buf_append(b, p, size * n, NULL);
    return size * n;
}

static long http_get(int port, const char *path, mf_buf *body)
{
    char url[128];
    CURL *c = curl_easy_init();
    long code = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    mf_buf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    mf_buf_append_char(body, '\0', NULL);
    return code;
}

static void test_httpd_endpoints(void **state)
{
    mf_metrics *m = sample_registry();
    mf_err err = {{0}};
    mf_httpd *h = mf_httpd_start(0, m, &err);
    mf_buf body;

    (void)state;
    assert_non_null(h);
    assert_true(mf_httpd_port(h) > 0);
    mf_buf_init(&body, 0);
    mf_httpd_set_dep(h, "postgres", 1, NULL);
    mf_httpd_set_dep(h, "kafka", 0, "broker 127.0.0.1:1 unreachable");
    assert_int_equal(http_get(mf_httpd_port(h), "/healthz", &body), 503);
    assert_non_null(strstr(body.data, "\"kafka\":{\"ok\":false,\"detail\":\"broker 127.0.0.1:1"));
    mf_httpd_set_dep(h, "kafka", 1, "");
    assert_int_equal(http_get(mf_httpd_port(h), "/healthz", &body), 200);
    assert_non_null(strstr(body.data, "\"status\":\"ready\""));
    assert_int_equal(http_get(mf_httpd_port(h), "/metrics", &body), 200);
    assert_non_null(strstr(body.data, "msgfleet_inflight_requests 4"));
    assert_int_equal(http_get(mf_httpd_port(h), "/livez", &body), 200);
    assert_int_equal(http_get(mf_httpd_port(h), "/nope", &body), 404);
    mf_buf_free(&body);
    mf_httpd_stop(h);
    mf_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_text),
        cmocka_unit_test(test_promtool_accepts),
        cmocka_unit_test(test_bad_names_rejected),
        cmocka_unit_test(test_httpd_endpoints),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

/* mf_metrics: Prometheus counters, gauges and histograms with labels, rendered as text. */
#include "mf_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 96
#define VALUE_MAX_LEN 128

typedef enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

typedef struct series {
    struct series *next;
    char values[MF_METRICS_MAX_LABELS][VALUE_MAX_LEN];
    double value;             /* counter, gauge; histogram sum */
    unsigned long long count; /* histogram count */
    unsigned long long buckets[MF_METRICS_MAX_BUCKETS];
} series;

struct mf_metric {
    struct mf_metric *next;
    mf_metrics *owner;
    kind kind;
    char name[NAME_MAX_LEN];
    char help[256];
    char labels[MF_METRICS_MAX_LABELS][NAME_MAX_LEN];
    size_t nlabels;
    double bounds[MF_METRICS_MAX_BUCKETS];
    size_t nbounds;
    series *series;
};

struct mf_metrics {
    pthread_mutex_t lock;
    mf_metric *first, *last;
};

mf_metrics *mf_metrics_new(void)
{
    mf_metrics *m = calloc(1, sizeof(*m));

    if (m != NULL)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void mf_metrics_free(mf_metrics *m)
{
    if (m == NULL)
        return;
    for (mf_metric *f = m->first, *nf; f != NULL; f = nf) {
        nf = f->next;
        for (series *s = f->series, *ns; s != NULL; s = ns) {
            ns = s->next;
            free(s);
        }
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) >= NAME_MAX_LEN || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return 0;
    }
    return 1;
}

static int split_labels(mf_metric *f, const char *labels, mf_err *err)
{
    const char *p = labels;

    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (f->nlabels == MF_METRICS_MAX_LABELS || len == 0 || len >= NAME_MAX_LEN)
            return mf_err_set(err, "invalid labels \"%s\" for metric %s", labels, f->name);
        memcpy(f->labels[f->nlabels], p, len);
        f->labels[f->nlabels][len] = '\0';
        if (!valid_name(f->labels[f->nlabels]))
            return mf_err_set(err, "invalid label name \"%s\"", f->labels[f->nlabels]);
        f->nlabels++;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static mf_metric *declare(mf_metrics *m, kind k, const char *name, const char *help,
                          const char *labels, mf_err *err)
{
    mf_metric *f;

    if (!valid_name(name)) {
        mf_err_set(err, "invalid metric name \"%s\"", name ? name : "");
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        mf_err_set(err, "out of memory");
        return NULL;
    }
    f->owner = m;
    f->kind = k;
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->help, sizeof(f->help), "%s", help);
    if (split_labels(f, labels, err) != 0) {
        free(f);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

mf_metric *mf_metrics_counter(mf_metrics *m, const char *name, const char *help, const char *labels,
                              mf_err *err)
{
    return declare(m, KIND_COUNTER, name, help, labels, err);
}

mf_metric *mf_metrics_gauge(mf_metrics *m, const char *name, const char *help, const char *labels,
                            mf_err *err)
{
    return declare(m, KIND_GAUGE, name, help, labels, err);
}

mf_metric *mf_metrics_histogram(mf_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, size_t nbounds,
                                mf_err *err)
{
    mf_metric *f;

    if (nbounds == 0 || nbounds > MF_METRICS_MAX_BUCKETS) {
        mf_err_set(err, "histogram %s needs 1 to %d bounds", name, MF_METRICS_MAX_BUCKETS);
        return NULL;
    }
    for (size_t i = 1; i < nbounds; i++) {
        if (!(bounds[i] > bounds[i - 1])) {
            mf_err_set(err, "histogram %s bounds are not ascending", name);
            return NULL;
        }
    }
    f = declare(m, KIND_HISTOGRAM, name, help, labels, err);
    if (f != NULL) {
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    return f;
}

/* Finds or creates the series; called with the registry lock held. */
static series *lookup(mf_metric *f, const char *const *lv, int create)
{
    series *s;

    for (s = f->series; s != NULL; s = s->next) {
        size_t i = 0;

        while (i < f->nlabels && strncmp(s->values[i], lv[i] ? lv[i] : "", VALUE_MAX_LEN - 1) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    if (!create || (s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    for (size_t i = 0; i < f->nlabels; i++)
        snprintf(s->values[i], VALUE_MAX_LEN, "%s", lv[i] ? lv[i] : "");
    s->next = f->series;
    f->series = s;
    return s;
}

static void update(mf_metric *f, const char *const *lv, double v, int op)
{
    series *s;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->owner->lock);
    s = lookup(f, lv, 1);
    if (s != NULL) {
        if (op == 's')
            s->value = v;
        else
            s->value += v;
        if (op == 'o') {
            s->count++;
            for (size_t i = 0; i < f->nbounds; i++)
                if (v <= f->bounds[i])
                    s->buckets[i]++;
        }
    }
    pthread_mutex_unlock(&f->owner->lock);
}

void mf_metric_add(mf_metric *metric, const char *const *label_values, double v)
{
    update(metric, label_values, v, 'a');
}

void mf_metric_set(mf_metric *metric, const char *const *label_values, double v)
{
    update(metric, label_values, v, 's');
}

void mf_metric_observe(mf_metric *metric, const char *const *label_values, double v)
{
    update(metric, label_values, v, 'o');
}

double mf_metric_value(mf_metric *metric, const char *const *label_values)
{
    double v = 0;
    series *s;

    if (metric == NULL)
        return 0;
    pthread_mutex_lock(&metric->owner->lock);
    s = lookup(metric, label_values, 0);
    if (s != NULL)
        v = s->value;
    pthread_mutex_unlock(&metric->owner->lock);
    return v;
}

/* Label value escaping of the text format: backslash, quote and newline. */
static int put_label_value(mf_buf *out, const char *v, mf_err *err)
{
    for (; *v; v++) {
        const char *rep = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        int rc = rep ? mf_buf_append_str(out, rep, err) : mf_buf_append_char(out, *v, err);

        if (rc != 0)
            return -1;
    }
    return 0;
}

/* HELP text escaping: backslash and newline only. */
static int put_help(mf_buf *out, const char *v, mf_err *err)
{
    for (; *v; v++) {
        const char *rep = *v == '\\' ? "\\\\" : *v == '\n' ? "\\n" : NULL;
        int rc = rep ? mf_buf_append_str(out, rep, err) : mf_buf_append_char(out, *v, err);

        if (rc != 0)
            return -1;
    }
    return 0;
}

/* {a="x",b="y"[,le="0.5"]} or nothing. */
static int put_labels(mf_buf *out, const mf_metric *f, const series *s, const char *le, mf_err *err)
{
    if (f->nlabels == 0 && le == NULL)
        return 0;
    if (mf_buf_append_char(out, '{', err) != 0)
        return -1;
    for (size_t i = 0; i < f->nlabels; i++) {
        if (mf_buf_printf(out, err, "%s%s=\"", i ? "," : "", f->labels[i]) != 0 ||
            put_label_value(out, s->values[i], err) != 0 || mf_buf_append_char(out, '"', err) != 0)
            return -1;
    }
    if (le != NULL && mf_buf_printf(out, err, "%sle=\"%s\"", f->nlabels ? "," : "", le) != 0)
        return -1;
    return mf_buf_append_char(out, '}', err);
}

static int put_sample(mf_buf *out, const mf_metric *f, const series *s, const char *suffix,
                      const char *le, double v, mf_err *err)
{
    if (mf_buf_printf(out, err, "%s%s", f->name, suffix) != 0 ||
        put_labels(out, f, s, le, err) != 0)
        return -1;
    return mf_buf_printf(out, err, " %.17g\n", v);
}

static int put_histogram(mf_buf *out, const mf_metric *f, const series *s, mf_err *err)
{
    char le[40];

    for (size_t i = 0; i < f->nbounds; i++) {
        snprintf(le, sizeof(le), "%.17g", f->bounds[i]);
        if (put_sample(out, f, s, "_bucket", le, (double)s->buckets[i], err) != 0)
            return -1;
    }
    if (put_sample(out, f, s, "_bucket", "+Inf", (double)s->count, err) != 0 ||
        put_sample(out, f, s, "_sum", NULL, s->value, err) != 0)
        return -1;
    return put_sample(out, f, s, "_count", NULL, (double)s->count, err);
}

static int put_family(mf_buf *out, const mf_metric *f, mf_err *err)
{
    static const char *types[] = {"counter", "gauge", "histogram"};

    if (mf_buf_printf(out, err, "# HELP %s ", f->name) != 0 || put_help(out, f->help, err) != 0 ||
        mf_buf_printf(out, err, "\n# TYPE %s %s\n", f->name, types[f->kind]) != 0)
        return -1;
    for (const series *s = f->series; s != NULL; s = s->next) {
        int rc = f->kind == KIND_HISTOGRAM ? put_histogram(out, f, s, err)
                                           : put_sample(out, f, s, "", NULL, s->value, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int mf_metrics_render(mf_metrics *m, mf_buf *out, mf_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    for (const mf_metric *f = m->first; f != NULL && rc == 0; f = f->next)
        rc = put_family(out, f, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

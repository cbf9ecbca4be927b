/* mf_metrics: Prometheus counters, gauges and histograms with labels, rendered as text. */
#ifndef MF_METRICS_H
#define MF_METRICS_H

#include <stddef.h>

#include "mf_buf.h"
#include "mf_err.h"

/*
 * A registry of metric families. Families are declared at start-up; series (one per set of
 * label values) are created on first use. Every call is thread-safe (one mutex per registry;
 * callers on hot paths add per batch, not per message). Names and label names follow the
 * Prometheus rules; label values are escaped on output.
 */
typedef struct mf_metrics mf_metrics;
typedef struct mf_metric mf_metric; /* a family, owned by its registry */

#define MF_METRICS_MAX_LABELS 4
#define MF_METRICS_MAX_BUCKETS 16

mf_metrics *mf_metrics_new(void);
void mf_metrics_free(mf_metrics *m);

/* Declare a family. `labels` is a comma-separated list of label names ("status,type") or
 * NULL. Returns NULL (with err) on a bad name or out of memory. The registry owns the result. */
mf_metric *mf_metrics_counter(mf_metrics *m, const char *name, const char *help, const char *labels,
                              mf_err *err);
mf_metric *mf_metrics_gauge(mf_metrics *m, const char *name, const char *help, const char *labels,
                            mf_err *err);
/* Histogram with the given upper bounds (ascending; +Inf is implicit). */
mf_metric *mf_metrics_histogram(mf_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, size_t nbounds,
                                mf_err *err);

/* Update the series selected by label values (as many as the family has labels; NULL when it
 * has none). A NULL metric is ignored, so optional metrics need no checks at call sites. */
void mf_metric_add(mf_metric *metric, const char *const *label_values, double v);
void mf_metric_set(mf_metric *metric, const char *const *label_values, double v);
void mf_metric_observe(mf_metric *metric, const char *const *label_values, double v);

/* Current value of a counter or gauge series (0 when it does not exist): for tests. */
double mf_metric_value(mf_metric *metric, const char *const *label_values);

/* Render every family in the Prometheus text exposition format 0.0.4. */
int mf_metrics_render(mf_metrics *m, mf_buf *out, mf_err *err);

#endif

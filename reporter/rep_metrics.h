/* rep_metrics: the reporter's metric families and what a recorded batch adds to them. */
#ifndef REP_METRICS_H
#define REP_METRICS_H

#include <stddef.h>

#include "mf_err.h"
#include "mf_metrics.h"
#include "rep_store.h"

/* The metric families (docs/reporter.md "Operations"): borrowed from their registry, which
 * outlives every copy of this struct (the priority lane's instance copies the main one's). */
typedef struct rep_metrics {
    mf_metric *rows;        /* rows_total{status,op} */
    mf_metric *batches;     /* batches_total */
    mf_metric *batch_s;     /* batch_seconds */
    mf_metric *batch_size;  /* batch_size */
    mf_metric *dups;        /* duplicates_total */
    mf_metric *early;       /* early_finals_total{event} */
    mf_metric *merged;      /* finals_merged_total */
    mf_metric *dlq;         /* dlq_total */
    mf_metric *completed;   /* runs_completed_total */
    mf_metric *stalled;     /* runs_stalled_total */
    mf_metric *retries;     /* batch_retries_total */
    mf_metric *lag;         /* consumer_lag */
    mf_metric *held;        /* results_held */
    mf_metric *polls;       /* status_polls_total{outcome} */
    mf_metric *finals;      /* status_finals_total */
    mf_metric *data_errors; /* data_errors_total{sqlstate} */
} rep_metrics;

/* Declares every family in mm (names, help and labels as docs/reporter.md lists them) and
 * fills m. 0 or -1 with err. */
int rep_metrics_declare(rep_metrics *m, mf_metrics *mm, mf_err *err);

/* Counts what a committed batch of n Kafka messages changed (from the statements' RETURNING
 * rows in st), its dead letters and its duration in seconds. */
void rep_metrics_batch(const rep_metrics *m, size_t n, long long dead, const rep_store_stats *st,
                       double secs);

#endif

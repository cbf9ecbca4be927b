/* rep_metrics: the reporter's metric families and what a recorded batch adds to them. */
#include "rep_metrics.h"

int rep_metrics_declare(rep_metrics *m, mf_metrics *mm, mf_err *err)
{
    static const double secs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    static const double sizes[] = {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000};

    m->rows = mf_metrics_counter(mm, "msgfleet_reporter_rows_total",
                                 "message_logs rows written (RETURNING), by the status they got"
                                 " and by insert or update (of a sent row)",
                                 "status,op", err);
    m->batches = mf_metrics_counter(mm, "msgfleet_reporter_batches_total",
                                    "batch transactions committed", NULL, err);
    m->batch_s = mf_metrics_histogram(mm, "msgfleet_reporter_batch_seconds",
                                      "time to record one batch (decode to commit)", NULL, secs,
                                      sizeof(secs) / sizeof(secs[0]), err);
    m->batch_size = mf_metrics_histogram(mm, "msgfleet_reporter_batch_size",
                                         "Kafka messages per recorded batch", NULL, sizes,
                                         sizeof(sizes) / sizeof(sizes[0]), err);
    m->dups = mf_metrics_counter(mm, "msgfleet_reporter_duplicates_total",
                                 "results that changed nothing (redelivery, repeats)", NULL, err);
    m->early = mf_metrics_counter(mm, "msgfleet_reporter_early_finals_total",
                                  "final outcomes that came before their message's row: parked "
                                  "(kept waiting for it), applied (to the row once recorded)",
                                  "event", err);
    m->merged = mf_metrics_counter(mm, "msgfleet_reporter_finals_merged_total",
                                   "final outcomes recorded in the batch that inserted their "
                                   "row: the row written once, final, and not updated",
                                   NULL, err);
    m->dlq = mf_metrics_counter(mm, "msgfleet_reporter_dlq_total",
                                "messages of recorded batches sent to the dead-letter topic", NULL,
                                err);
    m->completed = mf_metrics_counter(mm, "msgfleet_reporter_runs_completed_total",
                                      "runs this process completed", NULL, err);
    m->stalled = mf_metrics_counter(mm, "msgfleet_reporter_runs_stalled_total",
                                    "runs this process flagged as stalled", NULL, err);
    m->retries = mf_metrics_counter(mm, "msgfleet_reporter_batch_retries_total",
                                    "batch attempts that failed and were retried", NULL, err);
    m->lag = mf_metrics_gauge(mm, "msgfleet_reporter_consumer_lag",
                              "results not yet recorded on the assigned partitions", NULL, err);
    m->held = mf_metrics_gauge(mm, "msgfleet_reporter_results_held",
                               "sent messages' results held back for their delivery report "
                               "(MF_REPORTER_HOLD_MS), not yet written",
                               NULL, err);
    m->polls = mf_metrics_counter(mm, "msgfleet_reporter_status_polls_total",
                                  "final-status polls by outcome (ok, idle, standby, deferred, "
                                  "error)",
                                  "outcome", err);
    m->finals = mf_metrics_counter(mm, "msgfleet_reporter_status_finals_total",
                                   "final statuses learned by the poller and produced", NULL, err);
    m->data_errors = mf_metrics_counter(mm, "msgfleet_reporter_data_errors_total",
                                        "results not recorded because of a data error (sent to "
                                        "the dead-letter topic), by SQLSTATE",
                                        "sqlstate", err);
    if (!m->rows || !m->batches || !m->batch_s || !m->batch_size || !m->dups || !m->early ||
        !m->merged || !m->dlq || !m->completed || !m->stalled || !m->retries || !m->lag ||
        !m->held || !m->polls || !m->finals || !m->data_errors)
        return -1;
    return 0;
}

void rep_metrics_batch(const rep_metrics *m, size_t n, long long dead, const rep_store_stats *st,
                       double secs)
{
    int i;

    for (i = 0; i < REP_ST_N; i++) {
        if (st->ins_status[i] > 0)
            mf_metric_add(m->rows, (const char *const[]){rep_store_status_name(i), "insert"},
                          (double)st->ins_status[i]);
        if (st->upd_status[i] > 0)
            mf_metric_add(m->rows, (const char *const[]){rep_store_status_name(i), "update"},
                          (double)st->upd_status[i]);
    }
    mf_metric_add(m->batches, NULL, 1);
    mf_metric_observe(m->batch_s, NULL, secs);
    mf_metric_observe(m->batch_size, NULL, (double)n);
    mf_metric_add(m->dups, NULL, (double)st->duplicates);
    if (st->early_parked > 0)
        mf_metric_add(m->early, (const char *const[]){"parked"}, (double)st->early_parked);
    if (st->early_applied > 0)
        mf_metric_add(m->early, (const char *const[]){"applied"}, (double)st->early_applied);
    mf_metric_add(m->merged, NULL, (double)st->merged);
    mf_metric_add(m->dlq, NULL, (double)dead);
    mf_metric_add(m->completed, NULL, (double)st->completed);
}

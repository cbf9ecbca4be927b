/* rep_isolate: record a batch that failed with a data error without its bad part: run by run,
 * then row by row, so one run's bad data never holds back the others. */
#ifndef REP_ISOLATE_H
#define REP_ISOLATE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_codec.h"
#include "mf_err.h"
#include "rep_store.h"

typedef struct rep_isolate rep_isolate;

rep_isolate *rep_isolate_new(mf_err *err);
void rep_isolate_free(rep_isolate *iso);

/*
 * res[0..n) is a batch whose rep_store_write just failed with a data error (first, at the
 * step rep_store_failed_step says). Records it in parts, each part one rep_store_write
 * transaction without offsets:
 *   1. one part per run (a batch of one run skips this: the failure is the run's already);
 *   2. a run whose part fails with a data error at the rows step is split in halves, and
 *      each half again, down to single results; at a later step (its counters, its
 *      completion) the run's results of this batch are not recorded, since rows without
 *      their counters would break "counters = recount";
 *   3. what fails alone is not recorded: rep_isolate_rejected() says which results, with
 *      their problem (one per run, SQLSTATE and step).
 * Returns 0 when every result was either recorded (committed) or rejected; the caller then
 * dead-letters the rejected ones and stores the offsets with rep_isolate_finish. -1 with err
 * when a part failed for another reason (connection lost...): the committed parts stay, and
 * recording the whole batch again is harmless (their rows conflict and count nothing).
 * stats gets the sum over the committed parts.
 */
int rep_isolate_write(rep_isolate *iso, rep_store *st, PGconn *conn, const mf_result *res, size_t n,
                      const mf_err *first, rep_store_stats *stats, mf_err *err);

/* After rep_isolate_write and before rep_isolate_finish (which sorts the problems): the
 * problem of result i, or NULL when it was recorded. */
const rep_problem *rep_isolate_rejected(const rep_isolate *iso, size_t i);

/* After rep_isolate_write: the problems (one per run and cause) and their number. */
const rep_problem *rep_isolate_problems(const rep_isolate *iso, size_t *np);

/*
 * Once the rejected results' dead letters are acknowledged: one transaction that appends a
 * data_error entry to the logs of each problem's run and stores the batch's offsets. When
 * the entries themselves cannot be written (a data error again, e.g. a constraint on that
 * run's row) the offsets are stored alone and *logs_written is 0. 0 or -1 with err.
 */
int rep_isolate_finish(rep_isolate *iso, rep_store *st, PGconn *conn, const rep_offset *offs,
                       size_t noffs, int *logs_written, mf_err *err);

#endif

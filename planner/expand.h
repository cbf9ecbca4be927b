/* expand: turn one claimed run into jobs (and INVALID_PHONE results), page by page. */
#ifndef PLANNER_EXPAND_H
#define PLANNER_EXPAND_H

#include "planner.h"
#include "run_lease.h"

/*
 * Expand a run this planner has just claimed, to the end: load the plan, page through the
 * target query, produce one job per unique valid phone and one failed result per invalid
 * phone, wait for every delivery report, record the counts and run the completion check.
 * Outcomes are recorded on the run (finished / failed for a configuration error / given back
 * for a transient failure or a stop request / nothing when the lease was lost).
 * Returns 0, or -1 only for a fatal producer error (the process must restart).
 */
int planner_expand_run(planner_ctx *ctx, const planner_run *run, mf_err *err);

#endif

/* replay_expand: expand a replay run into jobs from the original run's failures, not MySQL. */
/* Which recipients a replay resends is common/mf_replay (shared with the CLI's preview). */
#ifndef PLANNER_REPLAY_EXPAND_H
#define PLANNER_REPLAY_EXPAND_H

#include "planner.h"
#include "run_lease.h"

/*
 * Expand a claimed replay run (run->replay_of != ""): page through mf_replay_page (the
 * original run's chain, filtered by the run's replay_filter, ordered by phone), one job per
 * candidate with the candidate's variables_used and name and the workflow's CURRENT template,
 * one INVALID_PHONE result per candidate whose phone does not normalise. After each page the
 * planner waits for the broker's acknowledgements and records the cursor (the page's last
 * phone) and the counts, so a takeover resumes after the cursor. At the end the counts are
 * recorded (target_count = candidates) and the completion check runs. Outcomes as
 * planner_expand_run (docs/replay.md). Returns 0, or -1 only for a fatal producer error.
 */
int planner_replay_run(planner_ctx *ctx, const planner_run *run, mf_err *err);

/* Check the shape of a replay_filter (docs/replay.md): an object whose "statuses", "codes",
 * "exclude_codes" are arrays of strings and "since", "until" strings; other keys are refused.
 * 0 or -1 with err (a permanent configuration error). */
int planner_replay_check_filter(const char *json, mf_err *err);

#endif

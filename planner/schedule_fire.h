/* schedule_fire: fire due scheduled workflows: one run per slot, next_run_at advanced. */
#ifndef PLANNER_SCHEDULE_FIRE_H
#define PLANNER_SCHEDULE_FIRE_H

#include "planner.h"

/* Fire due schedules and initialise new ones. Runs at most once per poll_ms; called from the
 * main loop and between pages of a long expansion (never by the transactional lane's loop).
 * Failures are logged. */
void planner_tick_schedules(planner_ctx *ctx);

#endif

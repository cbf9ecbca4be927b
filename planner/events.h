/* events: the planner's event consumer: one job per (event, matching event workflow). */
#ifndef PLANNER_EVENTS_H
#define PLANNER_EVENTS_H

#include "mf_err.h"
#include "mf_log.h"
#include "planner.h"
#include "planner_config.h"

/*
 * docs/triggers.md describes the rules. In short: the consumer (group `<prefix>planner-events`,
 * offsets stored after processing) reads the `events` topic; every event names an id; the
 * active workflows with trigger_type 'event' whose trigger_config names the event's type (and
 * whose trigger_config.filters all equal the event's attributes) each get one job, whose id
 * derives from (event id, workflow id), on `<prefix>jobs.tx`. The jobs of one workflow and one
 * hour (Asia/Seoul) belong to one workflow_runs row (mf_event_windows), closed and completed
 * once the hour plus MF_PLANNER_EVENT_WINDOW_GRACE_S is over. mf_event_jobs records each job:
 * a redelivered or re-published event produces nothing twice and counts nothing twice. An
 * event that cannot be sent goes to the dlq topic with the reason.
 */
typedef struct planner_events planner_events;

/* Start the consumer thread (its own PostgreSQL and MySQL connections, producer and
 * consumer; nothing shared with the main loop but cfg, log and the metrics, which must outlive
 * it). It runs until mf_daemon_stopping(). NULL with err when the thread cannot start. */
planner_events *planner_events_start(const planner_config *cfg, mf_log *log,
                                     const planner_metrics *pm, mf_err *err);

/* Wait for the thread to end (after a stop request) and free everything. ev may be NULL. */
void planner_events_join(planner_events *ev);

#endif

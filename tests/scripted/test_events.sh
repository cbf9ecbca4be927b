#!/bin/sh
# Event-triggered workflows end to end: one message per (event, workflow) whose filters match
# (two workflows matching one event send two messages, a filter mismatch sends nothing), a
# re-published event sends nothing twice, a customer key finds its recipient through the
# workflow's target query, bad events are dead-lettered with a reason, an invalid phone is a
# failed INVALID_PHONE row (its result on results.tx, the lane), a missing variable a failed
# RENDER_FAILED row, an event older than the exactly-once horizon is dead-lettered, old event
# records are pruned, a paced transactional run's jobs keep their lane through the retry
# topic, and the window runs complete with counters equal to a recount.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 "$MF_SOURCE_DIR/scripts/triggers_check.py" events --build "$MF_BUILD_DIR"

-- 0020_run_phone_index: message_logs keeps only the seed's indexes (docs/schema.md, "Indexes").
-- idx_message_logs_run_phone (0004) served one query, the replay's never-resend check, and
-- every row a campaign records paid for it twice: in its insert and again in its delivery
-- report's update (which cannot be HOT: the seed indexes `status`). The check now probes the
-- seed's idx_message_logs_recipient_phone per candidate (common/mf_replay.c). Measured in
-- alternating 1,000,000-recipient bench runs: e2e 42.5 -> 35.6 s, every row final 51.3 -> 43.8
-- s; a replay page of 5,000 candidates 23-38 -> 64-80 ms (BENCHMARKS.md, fifteenth round).
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

DROP INDEX IF EXISTS idx_message_logs_run_phone;

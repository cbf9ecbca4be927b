-- 0004_replay: replays of failed recipients are runs of their own (additive).
-- A replay is a workflow_runs row whose replay_of names the ORIGINAL run (replays of replays
-- point at the same original, so the chain is one level deep) and whose replay_filter says
-- which failures to resend: {"statuses":["failed"], "codes":[...], "exclude_codes":[...],
-- "since":"<timestamptz>", "until":"<timestamptz>"} (every key optional). See docs/replay.md.
ALTER TABLE workflow_runs ADD COLUMN replay_filter jsonb;

-- Finding a recipient's earlier outcomes across the original run and its replays.
CREATE INDEX idx_message_logs_run_phone ON message_logs (workflow_run_id, recipient_phone);

-- 0016_seed_indexes: message_logs drops two of the fleet's indexes (docs/schema.md, "Indexes").
-- Every row the fleet writes into message_logs paid for three more indexes of 0002 and 0004;
-- the queries that used them now go through the primary key (the row's id is the job id) and
-- the seed's indexes, and the final-status poller is driven by the provider groups the sender
-- records (mf_claim_groups) instead of an index over the unfinished messages.

-- Delivery reports carry the job id (customFields.jobId) and are looked up by primary key;
-- nothing reads this index.
DROP INDEX IF EXISTS idx_message_logs_provider_message_id;

-- idx_message_logs_run_phone (0004) stays: the replay's never-resend check looks up a phone
-- within the run chain for every candidate; without the pair index a replay preview of a
-- 100,000-recipient run, read right after the run (no ANALYZE yet), ran more than 7 minutes
-- at a full core (a nested loop over the run's rows per candidate).

-- The poller reads the recorded groups that still hold a message without its final status and
-- the jobs of each by primary key (docs/reporter.md, "Final-status poller").
DROP INDEX IF EXISTS idx_message_logs_sent_unfinal;

ALTER TABLE mf_claim_groups
  ADD COLUMN open_job_ids uuid[],
  ADD COLUMN final_at timestamptz;

COMMENT ON COLUMN mf_claim_groups.open_job_ids IS
  'msgfleet: the jobs of job_ids the final-status poller found not final yet (no message_logs row, or still sent); NULL until it first narrowed them; job_ids itself never changes';
COMMENT ON COLUMN mf_claim_groups.final_at IS
  'msgfleet: set by the final-status poller once every job of the row has a message_logs row that is no longer sent; the poller reads only rows where it is NULL';

-- The poller's walk: open groups in id order from its cursor.
CREATE INDEX idx_mf_claim_groups_open ON mf_claim_groups (id) WHERE final_at IS NULL;

-- The poller's position is now a group (mf_claim_groups.id); the message cursor of 0006 goes.
ALTER TABLE mf_status_poller
  ADD COLUMN cursor_group bigint,
  DROP COLUMN cursor_sent_at,
  DROP COLUMN cursor_id;

COMMENT ON TABLE mf_status_poller IS
  'msgfleet: the one final-status poller''s lease and its position in the open provider groups (mf_claim_groups.id)';
COMMENT ON COLUMN mf_status_poller.cursor_group IS
  'msgfleet: the last mf_claim_groups.id the current sweep has checked; NULL at the start of a sweep';

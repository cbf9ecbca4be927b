-- 0002_fleet: the fleet's additions to the seed schema, strictly additive.
-- New tables, new nullable or defaulted columns, new indexes; never a change to a seed column,
-- type or CHECK. Every table added here has RLS enabled with a policy for service_role only,
-- and no privilege for anon/authenticated. Design and reasons: docs/schema.md.
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT, no CONCURRENTLY.

-- ---------------------------------------------------------------------------------------------
-- workflow_runs: planning progress, planner lease, replays
-- ---------------------------------------------------------------------------------------------
ALTER TABLE workflow_runs
  ADD COLUMN expansion_finished_at timestamptz,
  ADD COLUMN expanded_count integer NOT NULL DEFAULT 0,
  ADD COLUMN invalid_count integer NOT NULL DEFAULT 0,
  ADD COLUMN expansion_cursor text,
  ADD COLUMN planner_owner text,
  ADD COLUMN planner_lease_until timestamptz,
  ADD COLUMN replay_of uuid REFERENCES workflow_runs(id) ON DELETE SET NULL,
  ADD COLUMN requested_by text;

COMMENT ON COLUMN workflow_runs.expansion_finished_at IS
  'msgfleet: set by the planner once every recipient of the run has been published as a job (or rejected as invalid)';
COMMENT ON COLUMN workflow_runs.expanded_count IS
  'msgfleet: number of jobs the planner published for this run';
COMMENT ON COLUMN workflow_runs.invalid_count IS
  'msgfleet: recipients rejected at planning (e.g. invalid phone number); no job is published for them';
COMMENT ON COLUMN workflow_runs.expansion_cursor IS
  'msgfleet: opaque resume position of the planner''s paged target read (last key published)';
COMMENT ON COLUMN workflow_runs.planner_owner IS
  'msgfleet: id of the planner instance that holds the expansion lease';
COMMENT ON COLUMN workflow_runs.planner_lease_until IS
  'msgfleet: the lease expires at this time; another planner may take the run over afterwards';
COMMENT ON COLUMN workflow_runs.replay_of IS
  'msgfleet: for a replay (resend of failures), the run it replays';
COMMENT ON COLUMN workflow_runs.requested_by IS
  'msgfleet: who asked for the run (operator, CLI user, event source)';

-- Runs still being expanded: what planners scan to claim or take over work.
CREATE INDEX idx_workflow_runs_unexpanded ON workflow_runs (started_at)
  WHERE status = 'running' AND expansion_finished_at IS NULL;
-- Runs expanded but not finished: what the reporter scans for completion.
CREATE INDEX idx_workflow_runs_expanded_running ON workflow_runs (expansion_finished_at)
  WHERE status = 'running' AND expansion_finished_at IS NOT NULL;
CREATE INDEX idx_workflow_runs_replay_of ON workflow_runs (replay_of)
  WHERE replay_of IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- message_logs: provider details of each job's outcome
-- ---------------------------------------------------------------------------------------------
ALTER TABLE message_logs
  ADD COLUMN job_attempt integer,
  ADD COLUMN channel text,
  ADD COLUMN provider_group_id text,
  ADD COLUMN provider_status_code text,
  ADD COLUMN status_checked_at timestamptz;

COMMENT ON COLUMN message_logs.job_attempt IS
  'msgfleet: run attempt of the job (part of the deterministic job id = message_logs.id)';
COMMENT ON COLUMN message_logs.channel IS
  'msgfleet: channel that actually carried the message: sms, lms, mms or kakao (kakao with SMS fallback may end as sms/lms)';
COMMENT ON COLUMN message_logs.provider_group_id IS
  'msgfleet: CoolSMS groupId of the send-many request that carried the message';
COMMENT ON COLUMN message_logs.provider_status_code IS
  'msgfleet: last CoolSMS statusCode seen (2000 accepted, 3000 at the carrier, 4000 delivered, other = failure)';
COMMENT ON COLUMN message_logs.status_checked_at IS
  'msgfleet: last time the final status was polled from the provider';

-- Accepted but not final yet: what the status poller scans, oldest first.
CREATE INDEX idx_message_logs_sent_unfinal ON message_logs (sent_at)
  WHERE status = 'sent';
-- Webhook reports name the provider's messageId.
CREATE INDEX idx_message_logs_provider_message_id ON message_logs (provider_message_id)
  WHERE provider_message_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- template_usage_logs: one row per (run, template), idempotent under redelivery
-- ---------------------------------------------------------------------------------------------
ALTER TABLE template_usage_logs
  ADD COLUMN workflow_run_id uuid REFERENCES workflow_runs(id) ON DELETE CASCADE;

COMMENT ON COLUMN template_usage_logs.workflow_run_id IS
  'msgfleet: run that used the template; unique with template_id, so INSERT ... ON CONFLICT DO NOTHING counts a run once';

-- Use with: INSERT ... ON CONFLICT (workflow_run_id, template_id)
--           WHERE workflow_run_id IS NOT NULL DO NOTHING
CREATE UNIQUE INDEX uq_template_usage_logs_run_template
  ON template_usage_logs (workflow_run_id, template_id)
  WHERE workflow_run_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- mf_job_claims: the sender's durable claim, written before the provider call
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_job_claims (
  job_id uuid PRIMARY KEY,
  run_id uuid NOT NULL,
  attempt integer NOT NULL,
  state text NOT NULL
    CHECK (state IN ('claimed', 'accepted', 'failed', 'in_doubt')),
  claimed_by text,
  claimed_at timestamptz DEFAULT now(),
  provider_message_id text,
  updated_at timestamptz
);

COMMENT ON TABLE mf_job_claims IS
  'msgfleet: one row per job the sender is about to hand to the provider; a redelivered job that finds its row is not sent again';

CREATE INDEX idx_mf_job_claims_run_id ON mf_job_claims (run_id);
-- Claims a crashed sender left open: what recovery resolves against the provider's list API.
CREATE INDEX idx_mf_job_claims_open ON mf_job_claims (claimed_at)
  WHERE state IN ('claimed', 'in_doubt');

-- ---------------------------------------------------------------------------------------------
-- mf_consumer_offsets: the reporter's Kafka offsets, committed with its rows
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_consumer_offsets (
  consumer_group text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

COMMENT ON TABLE mf_consumer_offsets IS
  'msgfleet: next offset to consume per (group, topic, partition), written in the same transaction as the rows derived from the messages';

-- ---------------------------------------------------------------------------------------------
-- Security: RLS on every fleet table, service_role only, nothing for anon/authenticated
-- ---------------------------------------------------------------------------------------------
ALTER TABLE mf_job_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_consumer_offsets ENABLE ROW LEVEL SECURITY;

CREATE POLICY mf_service_role_all ON mf_job_claims
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_consumer_offsets
  FOR ALL TO service_role USING (true) WITH CHECK (true);

REVOKE ALL ON mf_job_claims, mf_consumer_offsets FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_job_claims, mf_consumer_offsets TO service_role;

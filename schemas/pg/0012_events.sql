-- 0012_events: event-triggered workflows (docs/triggers.md). Additive: two fleet tables.
--
-- mf_event_windows maps (workflow, hour window) to the one workflow_runs row that carries the
-- window's event jobs: planners create it on first use with INSERT ... ON CONFLICT DO NOTHING,
-- so two planners racing for the same window end up with the same run. Windows are whole
-- hours of Asia/Seoul (UTC+9, no daylight saving: the same boundaries as UTC hours).
--
-- mf_event_jobs records every job an event produced, by its deterministic job id (derived
-- from the event id and the workflow id): a redelivered or re-published event finds its jobs
-- here and produces nothing again, and a window run's target_count grows only by the rows
-- this table did not have yet, so the counters stay exact under redelivery.
CREATE TABLE mf_event_windows (
  workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  run_id uuid NOT NULL UNIQUE
    REFERENCES workflow_runs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  closed_at timestamptz,
  PRIMARY KEY (workflow_id, window_start)
);
COMMENT ON TABLE mf_event_windows IS
  'msgfleet: the workflow_runs row of each (event-triggered workflow, one-hour window)';
COMMENT ON COLUMN mf_event_windows.closed_at IS
  'msgfleet: when the window''s run was marked expanded (its target_count final)';
CREATE INDEX idx_mf_event_windows_open ON mf_event_windows (window_end) WHERE closed_at IS NULL;

CREATE TABLE mf_event_jobs (
  job_id uuid PRIMARY KEY,
  event_id text NOT NULL,
  workflow_id uuid NOT NULL,
  run_id uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mf_event_jobs IS
  'msgfleet: every job produced for an event (job id derived from event id and workflow id): '
  'the exactly-once record of event-triggered sends';
CREATE INDEX idx_mf_event_jobs_run ON mf_event_jobs (run_id);

ALTER TABLE mf_event_windows ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_event_windows
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_event_windows FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_event_windows TO service_role;

ALTER TABLE mf_event_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_event_jobs
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_event_jobs FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_event_jobs TO service_role;

-- 0017_early_finals: delivery reports that overtook their message's `accepted` result
-- (docs/reporter.md, "Early reports"). Fleet objects only: no seed table changes.
--
-- * mf_early_finals: a final outcome (delivered, or failed with the provider's code) of a job
--   whose message_logs row the reporters have not recorded yet, one row per job id (the first
--   report wins; one sent again changes nothing). The batch that inserts the job's row applies
--   it in the same transaction and deletes it; rows whose job row never came are pruned after
--   7 days. Empty while the reporters keep up.
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

CREATE TABLE mf_early_finals (
  job_id uuid PRIMARY KEY,
  workflow_run_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('delivered', 'failed')),
  reported_ms bigint NOT NULL,
  status_code text,
  status_message text,
  channel text CHECK (channel IN ('sms', 'lms', 'kakao')),
  provider_message_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE mf_early_finals IS
  'msgfleet: final delivery outcomes whose message_logs row is not recorded yet, applied by the reporter that inserts the row';

-- Security: RLS on, service_role only, nothing for anon/authenticated (like every fleet table)
ALTER TABLE mf_early_finals ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_early_finals
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_early_finals FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_early_finals TO service_role;

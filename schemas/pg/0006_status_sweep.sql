-- 0006_status_sweep: the final-status poller walks the sent messages with a cursor instead of
-- marking each row it checks (docs/reporter.md, "Final statuses"). Fleet objects only.
--
-- Before, every poll claimed its rows with UPDATE message_logs SET status_checked_at = now().
-- message_logs pages are full (the reporter COPYs them), so each such update wrote a new row
-- version elsewhere and an entry in all 8 indexes: about an eighth of PostgreSQL's statement
-- time in a 300k benchmark, on top of the status update the final result makes anyway.
-- Now one poller at a time holds a lease on the single row below and keeps its position in
-- (sent_at, id) order there; a message still not final is asked about again on the next sweep,
-- which starts MF_REPORTER_STATUS_RECHECK_MS after the previous one.
CREATE TABLE mf_status_poller (
  id smallint PRIMARY KEY CHECK (id = 1),
  owner text,
  lease_until timestamptz,
  cursor_sent_at timestamptz,
  cursor_id uuid,
  sweep_started_at timestamptz,
  updated_at timestamptz DEFAULT now()
);

COMMENT ON TABLE mf_status_poller IS
  'msgfleet: the one final-status poller''s lease and its position in the sent messages (sent_at, id)';

INSERT INTO mf_status_poller (id) VALUES (1);

ALTER TABLE mf_status_poller ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_status_poller
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_status_poller FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_status_poller TO service_role;

-- Nothing writes or reads it any more.
ALTER TABLE message_logs DROP COLUMN status_checked_at;

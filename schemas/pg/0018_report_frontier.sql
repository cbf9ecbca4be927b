-- 0018_report_frontier: how far the delivery reports have come, for the status poller
-- (docs/reporter.md, "Final statuses"). Fleet objects only: no seed table changes.
--
-- During a large campaign the delivery reports can run minutes behind the sends (the provider
-- posts them in batches, one request after the other). A message the reports have
-- not reached yet is not lost; asking the list API about it costs a request, a result and
-- an update for a report that comes anyway. The webhook receiver now records, about once a
-- second, when it last took a final report in (reports_at) and the latest send time among
-- the messages those reports were about (reports_sent_upto). While reports keep coming, the
-- poller counts a message's lateness from that frontier instead of from the clock.
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

ALTER TABLE mf_status_poller
  ADD COLUMN reports_at timestamptz,
  ADD COLUMN reports_sent_upto timestamptz;

COMMENT ON COLUMN mf_status_poller.reports_at IS
  'msgfleet: when a webhook receiver last recorded a final delivery report (written at most about once a second per receiver)';
COMMENT ON COLUMN mf_status_poller.reports_sent_upto IS
  'msgfleet: the latest message_logs.sent_at among the messages whose final delivery report a receiver has recorded';

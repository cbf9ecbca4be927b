-- 0019_reports_applied: how far the delivery reports have been applied, per partition of the
-- results topic, for the status poller (docs/reporter.md, "Final-status poller"). Fleet
-- objects only: no seed table changes.
--
-- 0018 recorded how far the webhook receiver had taken reports in. In a large campaign the
-- reporters apply results minutes behind the senders: a report the receiver has taken in is a
-- result waiting on the topic, its row still `sent`, and the poller asked the list API about
-- it anyway. The reporters now record, in the same transaction as the rows (the offsets'
-- upsert), the latest send time among the messages whose delivery reports a batch applied
-- from each partition, and when. The poller counts a message's lateness from the slowest
-- partition that applied reports within the last minute. 0018's columns are dropped: nothing
-- reads or writes them any more (a receiver of the previous version logs a warning per
-- second until it is upgraded, and goes on).
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

ALTER TABLE mf_consumer_offsets
  ADD COLUMN reports_at timestamptz,
  ADD COLUMN reports_sent_upto timestamptz;

COMMENT ON COLUMN mf_consumer_offsets.reports_at IS
  'msgfleet: when a batch last applied delivery reports (webhook) from this partition';
COMMENT ON COLUMN mf_consumer_offsets.reports_sent_upto IS
  'msgfleet: the latest message_logs.sent_at among the messages whose delivery reports were applied from this partition (only raised)';

ALTER TABLE mf_status_poller
  DROP COLUMN reports_at,
  DROP COLUMN reports_sent_upto;

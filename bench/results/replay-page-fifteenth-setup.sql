-- The replay-page measurement's data (replay-page-fifteenth.py): two earlier campaigns to the
-- same 1,000,000 phones, the run (995,000 sent, 5,000 failed) and a replay that resent 2,500
-- of its failures. Autovacuum off on message_logs, so the first timings see rows never
-- analysed; ANALYZE message_logs afterwards for the other state.
ALTER TABLE message_logs SET (autovacuum_enabled = false);
INSERT INTO workflow_runs (id, status) VALUES
 ('aaaaaaaa-0000-0000-0000-000000000001', 'completed'),
 ('aaaaaaaa-0000-0000-0000-000000000002', 'completed'),
 ('bbbbbbbb-0000-0000-0000-000000000001', 'completed');
INSERT INTO workflow_runs (id, status, replay_of) VALUES ('bbbbbbbb-0000-0000-0000-000000000002', 'completed', 'bbbbbbbb-0000-0000-0000-000000000001');
-- two older campaigns to the same phones (history), then the run and its half-done replay
INSERT INTO message_logs (id, workflow_run_id, recipient_phone, recipient_name, message_type, message_content, status, provider, provider_message_id, cost, sent_at, channel, error_code, failed_at)
SELECT gen_random_uuid(), r.id, '010' || ((i::bigint * 7919) % 90000000 + 10000000), '고객' || i, 'sms',
  '[광고] 안녕하세요 고객님, 12월 혜택 안내드립니다. 무료거부 0801234567',
  CASE WHEN r.id = 'bbbbbbbb-0000-0000-0000-000000000001' AND i % 200 = 0 THEN 'failed' ELSE 'sent' END,
  'coolsms', 'M4V' || md5(r.id::text || i), 10, now() - interval '1 hour', 'sms',
  CASE WHEN r.id = 'bbbbbbbb-0000-0000-0000-000000000001' AND i % 200 = 0 THEN '3043' END,
  CASE WHEN r.id = 'bbbbbbbb-0000-0000-0000-000000000001' AND i % 200 = 0 THEN now() - interval '1 hour' END
FROM (VALUES ('aaaaaaaa-0000-0000-0000-000000000001'::uuid), ('aaaaaaaa-0000-0000-0000-000000000002'::uuid), ('bbbbbbbb-0000-0000-0000-000000000001'::uuid)) r(id),
     generate_series(1, 1000000) i;
INSERT INTO message_logs (id, workflow_run_id, recipient_phone, recipient_name, message_type, message_content, status, provider, provider_message_id, cost, sent_at, channel)
SELECT gen_random_uuid(), 'bbbbbbbb-0000-0000-0000-000000000002', '010' || ((i::bigint * 7919) % 90000000 + 10000000), '고객' || i, 'sms', 'x', 'sent', 'coolsms', 'M4VR' || i, 10, now(), 'sms'
FROM generate_series(200, 1000000, 400) i;

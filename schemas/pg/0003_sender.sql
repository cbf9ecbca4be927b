-- 0003_sender: what the sender keeps in its claims so that a redelivered job's outcome can be
-- re-emitted exactly (same type, text, provider ids, codes) without asking the provider.
-- Strictly additive: nullable columns only. Design: docs/sender.md.

ALTER TABLE mf_job_claims
  ADD COLUMN msg_type text,
  ADD COLUMN channel text,
  ADD COLUMN content text,
  ADD COLUMN status_code text,
  ADD COLUMN message text,
  ADD COLUMN group_id text,
  ADD COLUMN sent_at timestamptz;

COMMENT ON COLUMN mf_job_claims.msg_type IS
  'msgfleet: sms, lms or kakao: the type the job was (to be) sent as, decided after rendering';
COMMENT ON COLUMN mf_job_claims.channel IS
  'msgfleet: channel the provider accepted the message on (sms, lms, kakao); NULL when not sent';
COMMENT ON COLUMN mf_job_claims.content IS
  'msgfleet: the exact rendered text handed to the provider (re-emitted on redelivery)';
COMMENT ON COLUMN mf_job_claims.status_code IS
  'msgfleet: provider statusCode/errorCode, or a fleet code (RENDER_FAILED, TOO_LONG, TEMPLATE_NOT_FOUND, BAD_CONFIG)';
COMMENT ON COLUMN mf_job_claims.message IS
  'msgfleet: provider status/error message or the fleet''s reason';
COMMENT ON COLUMN mf_job_claims.group_id IS
  'msgfleet: CoolSMS groupId of the request that carried the message';
COMMENT ON COLUMN mf_job_claims.sent_at IS
  'msgfleet: when the provider accepted the message';

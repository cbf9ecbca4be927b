-- 0008_send_groups: the provider message group each claimed job was put in, recorded before
-- anything is added to the group, so that a claim left in doubt (a lost answer, a crashed
-- sender) is resolved by reading that group at the provider: its status, then its messages,
-- each carrying the job id in customFields. The provider's list API cannot search by
-- customFields, so the group is the only place where a job can be looked up.

CREATE TABLE mf_claim_groups (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chunk_id uuid NOT NULL,
  group_id text NOT NULL,
  job_ids uuid[] COMPRESSION lz4 NOT NULL,
  created_at timestamptz DEFAULT now()
);

COMMENT ON TABLE mf_claim_groups IS
  'msgfleet: provider message groups (groupId) of claimed jobs, one row per claim chunk and group, written before the first message is added; the latest row of a claim''s chunk that holds the job names the group to read when the claim is in doubt; purged with the claims by chunk_id range';

CREATE INDEX idx_mf_claim_groups_chunk ON mf_claim_groups (chunk_id);

COMMENT ON COLUMN mf_job_claims.group_id IS
  'msgfleet: CoolSMS groupId: for a final claim the group that carried the message; for an open claim taken over or released while its outcome was unknown, the group that may hold it';

-- The view gains send_group_id: for an open claim, the group to read when it is in doubt (the
-- latest group recorded for the job under the claim's current chunk, else the group the claim
-- row carries from a take-over or release). Columns are only appended (CREATE OR REPLACE).
CREATE OR REPLACE VIEW mf_job_claim_states WITH (security_invoker = true) AS
SELECT c.job_id, c.run_id, c.attempt, c.chunk_id, c.claimed_by, c.claimed_at,
  CASE WHEN o.k IS NULL THEN c.state ELSE o.states[o.k] END AS state,
  CASE WHEN o.k IS NULL THEN c.provider_message_id ELSE o.provider_message_ids[o.k] END
    AS provider_message_id,
  CASE WHEN o.k IS NULL THEN c.group_id ELSE o.group_ids[o.k] END AS group_id,
  CASE WHEN o.k IS NULL THEN c.status_code ELSE o.status_codes[o.k] END AS status_code,
  CASE WHEN o.k IS NULL THEN c.message ELSE o.messages[o.k] END AS message,
  CASE WHEN o.k IS NULL THEN c.channel ELSE o.channels[o.k] END AS channel,
  CASE WHEN o.k IS NULL THEN c.sent_at
       WHEN o.sent_ms[o.k] > 0 THEN to_timestamp(o.sent_ms[o.k] / 1000.0) END AS sent_at,
  c.msg_type, c.content,
  CASE WHEN o.k IS NULL AND c.state IN ('claimed', 'in_doubt')
       THEN coalesce(g.group_id, c.group_id) END AS send_group_id
FROM mf_job_claims c
LEFT JOIN LATERAL (
  SELECT x.*, array_position(x.job_ids, c.job_id) AS k
  FROM mf_claim_outcomes x
  WHERE x.chunk_id = c.chunk_id AND c.state IN ('claimed', 'in_doubt')
    AND c.job_id = ANY (x.job_ids)
  ORDER BY x.id
  LIMIT 1) o ON true
LEFT JOIN LATERAL (
  SELECT y.group_id
  FROM mf_claim_groups y
  WHERE y.chunk_id = c.chunk_id AND c.state IN ('claimed', 'in_doubt')
    AND c.job_id = ANY (y.job_ids)
  ORDER BY y.id DESC
  LIMIT 1) g ON true;

COMMENT ON VIEW mf_job_claim_states IS
  'msgfleet: every claim with its outcome, from the claim row or from its chunk''s mf_claim_outcomes row, and for an open claim the provider group that may hold its message';

ALTER TABLE mf_claim_groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_claim_groups
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_claim_groups FROM PUBLIC, anon, authenticated;
REVOKE ALL ON mf_job_claim_states FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_claim_groups TO service_role;
GRANT SELECT ON mf_job_claim_states TO service_role;

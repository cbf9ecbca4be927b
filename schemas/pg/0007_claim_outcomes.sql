-- 0007_claim_outcomes: a claim's outcome is appended, one row per chunk of claims, instead of
-- being written into every claim row (docs/sender.md, "Claims"). Fleet objects only.
--
-- The outcome UPDATE rewrote each claim row (a HOT update still logs the whole new row, the
-- rendered text included): 4.8 s of statement time in a 300k benchmark against 3.3 s for the
-- claims' COPY. Now the sender gives each claim COPY a chunk id (UUIDv7, so time-ordered), and
-- when the provider answers it appends one mf_claim_outcomes row per chunk holding the jobs'
-- outcomes as arrays: a few rows per thousand messages. A claim that is still open
-- ('claimed' / 'in_doubt') but has its job in an outcome row of its chunk is final; the view
-- mf_job_claim_states says so, and is what a redelivered job is checked against.
-- Take-over, renewal and release still update the claim row itself (rare paths), and so does
-- a claim settled by the list API.
ALTER TABLE mf_job_claims ADD COLUMN chunk_id uuid;

COMMENT ON COLUMN mf_job_claims.chunk_id IS
  'msgfleet: the claim COPY (or take-over) this claim came from; its outcome is in mf_claim_outcomes under the same chunk_id';

-- The arrays are TOASTed; lz4 instead of the default pglz, which took 2 % of the machine's CPU
-- in a 300k benchmark (perf) compressing them.
CREATE TABLE mf_claim_outcomes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chunk_id uuid NOT NULL,
  job_ids uuid[] COMPRESSION lz4 NOT NULL,
  states text[] COMPRESSION lz4 NOT NULL,
  provider_message_ids text[] COMPRESSION lz4 NOT NULL,
  group_ids text[] COMPRESSION lz4 NOT NULL,
  status_codes text[] COMPRESSION lz4 NOT NULL,
  messages text[] COMPRESSION lz4 NOT NULL,
  channels text[] COMPRESSION lz4 NOT NULL,
  sent_ms bigint[] COMPRESSION lz4 NOT NULL,
  created_at timestamptz DEFAULT now(),
  CHECK (cardinality(job_ids) = cardinality(states))
);

COMMENT ON TABLE mf_claim_outcomes IS
  'msgfleet: outcomes of claimed jobs, one row per chunk of claims and store (element i of each array belongs to job_ids[i]); purged with the claims by chunk_id range';

CREATE INDEX idx_mf_claim_outcomes_chunk ON mf_claim_outcomes (chunk_id);

-- Claims are no longer updated on the common path: pack their pages again (0005 left room for
-- the outcome version of every row).
ALTER TABLE mf_job_claims SET (fillfactor = 100);

CREATE VIEW mf_job_claim_states WITH (security_invoker = true) AS
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
  c.msg_type, c.content
FROM mf_job_claims c
LEFT JOIN LATERAL (
  SELECT x.*, array_position(x.job_ids, c.job_id) AS k
  FROM mf_claim_outcomes x
  WHERE x.chunk_id = c.chunk_id AND c.state IN ('claimed', 'in_doubt')
    AND c.job_id = ANY (x.job_ids)
  ORDER BY x.id
  LIMIT 1) o ON true;

COMMENT ON VIEW mf_job_claim_states IS
  'msgfleet: every claim with its outcome, from the claim row or from its chunk''s mf_claim_outcomes row';

ALTER TABLE mf_claim_outcomes ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_claim_outcomes
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_claim_outcomes, mf_job_claim_states FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_claim_outcomes TO service_role;
GRANT SELECT ON mf_job_claim_states TO service_role;

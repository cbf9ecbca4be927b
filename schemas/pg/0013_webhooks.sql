-- 0013_webhooks: webhook-triggered workflows (docs/triggers.md, "Webhook"). Strictly additive:
-- four fleet tables, each with RLS on, a policy for service_role only and no privilege for
-- anon or authenticated (the signing secrets must never reach the public or staff keys).
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

-- ---------------------------------------------------------------------------------------------
-- mf_webhook_secrets: the HMAC-SHA256 key of each webhook-triggered workflow
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_webhook_secrets (
  workflow_id uuid PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
  secret text NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz
);

COMMENT ON TABLE mf_webhook_secrets IS
  'msgfleet: signing secret of a webhook-triggered workflow (msgfleet webhook-secret); read only by the planner''s webhook endpoint';

-- ---------------------------------------------------------------------------------------------
-- mf_webhook_signatures: signatures already accepted, kept for the timestamp window, so a
-- replayed request is refused by every planner
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_webhook_signatures (
  workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  signature text NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, signature)
);

COMMENT ON TABLE mf_webhook_signatures IS
  'msgfleet: webhook signatures accepted in the last minutes; a second request with the same signature is a replay';

CREATE INDEX idx_mf_webhook_signatures_seen_at ON mf_webhook_signatures (seen_at);

-- ---------------------------------------------------------------------------------------------
-- mf_webhook_idempotency: Idempotency-Key -> the run the first call started
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_webhook_idempotency (
  workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  run_id uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, idempotency_key)
);

COMMENT ON TABLE mf_webhook_idempotency IS
  'msgfleet: a retried webhook call with the same Idempotency-Key returns this run and starts nothing new';

-- ---------------------------------------------------------------------------------------------
-- mf_webhook_runs: what a webhook call asked for, read by the planner's expansion
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mf_webhook_runs (
  run_id uuid PRIMARY KEY REFERENCES workflow_runs(id) ON DELETE CASCADE,
  workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  variables jsonb NOT NULL DEFAULT '{}',
  recipients jsonb,
  customer_keys jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (recipients IS NULL OR customer_keys IS NULL)
);

COMMENT ON TABLE mf_webhook_runs IS
  'msgfleet: the variables and the recipients (normalised phones) or customer keys of a webhook-triggered run';

-- ---------------------------------------------------------------------------------------------
-- Security: RLS on, service_role only, nothing for anon/authenticated
-- ---------------------------------------------------------------------------------------------
ALTER TABLE mf_webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_webhook_signatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_webhook_idempotency ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_webhook_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY mf_service_role_all ON mf_webhook_secrets
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_webhook_signatures
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_webhook_idempotency
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_webhook_runs
  FOR ALL TO service_role USING (true) WITH CHECK (true);

REVOKE ALL ON mf_webhook_secrets, mf_webhook_signatures, mf_webhook_idempotency, mf_webhook_runs
  FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE
  ON mf_webhook_secrets, mf_webhook_signatures, mf_webhook_idempotency, mf_webhook_runs
  TO service_role;

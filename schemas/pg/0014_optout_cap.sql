-- 0014_optout_cap: opt-outs (a suppression list) and the advertising frequency cap
-- (docs/compliance.md). Fleet objects only: no seed table changes.
--
-- * mf_suppressions: numbers that must not receive advertising (scope 'advertising') or any
--   message (scope 'all'). Filled by the reporter (provider statuses 1060/1061/2060/2061 and
--   the periodic sync of the provider's 080 opt-out list) and by operators (msgfleet suppress).
-- * mf_ad_sends: the ledger of advertising messages the senders let through, one row per job
--   id (a redelivered or retried job is never counted twice); rows older than 7 days are pruned.
-- * mf_send_gate(): the senders' one call per batch: the opt-out check of every job and the
--   frequency cap of the advertising ones, exact across senders (phones locked in a fixed
--   order), returning the refused jobs.
-- * mf_optout_sync: when the provider's opt-out list was last read (one reporter at a time).
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

CREATE TABLE mf_suppressions (
  phone varchar(20) NOT NULL CHECK (phone ~ '^01[016789][0-9]{7,8}$'),
  scope text NOT NULL CHECK (scope IN ('advertising', 'all')),
  source text NOT NULL CHECK (source IN ('provider_080', 'provider_block', 'operator', 'api')),
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (phone, scope)
);

COMMENT ON TABLE mf_suppressions IS
  'msgfleet: opt-outs; a normalised mobile number refused advertising (scope advertising) or every message (scope all)';

CREATE TABLE mf_ad_sends (
  job_id uuid PRIMARY KEY,
  phone varchar(20) NOT NULL,
  workflow_id uuid,
  sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_mf_ad_sends_phone ON mf_ad_sends (phone, sent_at);
CREATE INDEX idx_mf_ad_sends_sent_at ON mf_ad_sends (sent_at);

COMMENT ON TABLE mf_ad_sends IS
  'msgfleet: advertising messages let through by the frequency cap, one row per job (the last 7 days)';

CREATE TABLE mf_optout_sync (
  id smallint PRIMARY KEY CHECK (id = 1),
  synced_at timestamptz,
  numbers bigint NOT NULL DEFAULT 0,
  added bigint NOT NULL DEFAULT 0,
  pages integer NOT NULL DEFAULT 0,
  owner text
);
INSERT INTO mf_optout_sync (id) VALUES (1);

COMMENT ON TABLE mf_optout_sync IS
  'msgfleet: the last sync of the provider''s 080 opt-out list (GET /iam/v1/black?type=DENIAL)';

-- ---------------------------------------------------------------------------------------------
-- The cap of one workflow: message_config.frequency_cap when the key is there, else the
-- ad_frequency_cap setting; NULL: no cap. A cap is an object {"per_24h":N,"per_7d":M}, each key
-- optional (absent or null: that window is not limited), N and M whole numbers >= 0.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mf_cap_limit(p_cap jsonb, p_key text) RETURNS bigint
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog
AS $$
DECLARE
  v jsonb := p_cap -> p_key;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric < 0
     OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
     OR (v #>> '{}')::numeric > 1000000000 THEN
    RETURN -1; -- invalid: the caller refuses the job with BAD_CONFIG
  END IF;
  RETURN (v #>> '{}')::bigint;
END
$$;

CREATE FUNCTION mf_send_gate(p_jobs uuid[], p_phones text[], p_workflows uuid[], p_ad boolean[])
  RETURNS TABLE (job_id uuid, code text, message text)
  LANGUAGE plpgsql
  SET search_path = public, pg_catalog
AS $$
#variable_conflict use_column
DECLARE
  v_default jsonb;
  k integer;
BEGIN
  -- Opt-outs, for every job: 'all' stops any message, 'advertising' the advertising ones.
  RETURN QUERY
    SELECT DISTINCT ON (b.j) b.j, 'OPTED_OUT'::text,
           format('recipient opted out (scope %s, source %s)', x.scope, x.source)
    FROM unnest(p_jobs, p_phones, p_ad) AS b(j, ph, ad)
    JOIN mf_suppressions x
      ON x.phone = b.ph AND (x.scope = 'all' OR (b.ad AND x.scope = 'advertising'))
    ORDER BY b.j, x.scope = 'all' DESC;

  IF NOT (true = ANY (p_ad)) THEN
    RETURN;
  END IF;

  -- The frequency cap. The phones of the batch's advertising jobs are locked before they are
  -- counted: transaction-scoped advisory locks on 256 buckets of their hash (at most 256 locks
  -- per call, however large the batch), taken in ascending order so that two senders never
  -- deadlock; they are released at commit, together with the ledger rows inserted below, so a
  -- second sender counting the same phone waits and then sees them. Key (140014, 0) is the
  -- opt-out sync's.
  FOR k IN SELECT DISTINCT (hashtext(b.ph) & 255) + 1 FROM unnest(p_phones, p_ad) AS b(ph, ad)
           WHERE b.ad ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(140014, k);
  END LOOP;

  SELECT s.setting_value INTO v_default FROM system_settings s
  WHERE s.setting_key = 'ad_frequency_cap';

  -- In the batch's order per phone: a job is let through while the phone's count in the
  -- window plus its rank among the batch's new jobs for that phone stays within the cap. A job
  -- already in the ledger (redelivered, retried) is let through without counting again.
  RETURN QUERY
  WITH b AS (
    SELECT u.j, u.ph, u.wf, u.ord
    FROM unnest(p_jobs, p_phones, p_workflows, p_ad) WITH ORDINALITY AS u(j, ph, wf, ad, ord)
    WHERE u.ad
      AND NOT EXISTS (SELECT 1 FROM mf_suppressions x WHERE x.phone = u.ph)
      AND NOT EXISTS (SELECT 1 FROM mf_ad_sends a WHERE a.job_id = u.j)),
  -- the cap of each workflow of the batch, worked out once per workflow
  wcap AS (
    SELECT f.wf, c.cap,
           CASE WHEN c.cap IS NULL OR jsonb_typeof(c.cap) = 'null' THEN NULL
                WHEN jsonb_typeof(c.cap) <> 'object' THEN -1
                ELSE mf_cap_limit(c.cap, 'per_24h') END AS l24,
           CASE WHEN c.cap IS NULL OR jsonb_typeof(c.cap) = 'null' THEN NULL
                WHEN jsonb_typeof(c.cap) <> 'object' THEN -1
                ELSE mf_cap_limit(c.cap, 'per_7d') END AS l7
    FROM (SELECT DISTINCT b.wf FROM b) f
    LEFT JOIN workflows w ON w.id = f.wf
    CROSS JOIN LATERAL (
      SELECT CASE WHEN w.message_config ? 'frequency_cap' THEN w.message_config -> 'frequency_cap'
                  ELSE v_default END AS cap) c),
  lim AS (
    SELECT b.*, wc.cap, wc.l24, wc.l7
    FROM b JOIN wcap wc ON wc.wf IS NOT DISTINCT FROM b.wf),
  cnt AS (
    SELECT a.phone, count(*) FILTER (WHERE a.sent_at > now() - interval '24 hours') AS c24,
           count(*) AS c7
    FROM mf_ad_sends a
    WHERE a.phone IN (SELECT DISTINCT b.ph FROM b) AND a.sent_at > now() - interval '7 days'
    GROUP BY a.phone),
  ranked AS (
    SELECT l.*, coalesce(n.c24, 0) AS c24, coalesce(n.c7, 0) AS c7,
           row_number() OVER (PARTITION BY l.ph ORDER BY l.ord) AS rk
    FROM lim l LEFT JOIN cnt n ON n.phone = l.ph),
  verdict AS (
    SELECT r.*,
           CASE WHEN r.l24 = -1 OR r.l7 = -1 THEN 'BAD_CONFIG'
                WHEN (r.l24 IS NOT NULL AND r.c24 + r.rk > r.l24)
                  OR (r.l7 IS NOT NULL AND r.c7 + r.rk > r.l7) THEN 'FREQUENCY_CAPPED'
           END AS vcode
    FROM ranked r),
  ins AS (
    INSERT INTO mf_ad_sends (job_id, phone, workflow_id)
    SELECT v.j, v.ph, v.wf FROM verdict v WHERE v.vcode IS NULL
    ON CONFLICT ON CONSTRAINT mf_ad_sends_pkey DO NOTHING
    RETURNING 1)
  SELECT v.j, v.vcode,
         CASE WHEN v.vcode = 'BAD_CONFIG'
              THEN format('invalid frequency cap %s (expected {"per_24h":N,"per_7d":M}, '
                          'whole numbers >= 0)', left(v.cap::text, 200))
              ELSE format('frequency cap reached: %s advertising messages in 24 hours (cap %s), '
                          '%s in 7 days (cap %s)', v.c24 + v.rk - 1,
                          coalesce(v.l24::text, 'none'), v.c7 + v.rk - 1,
                          coalesce(v.l7::text, 'none'))
         END
  FROM verdict v
  WHERE v.vcode IS NOT NULL;
END
$$;

COMMENT ON FUNCTION mf_send_gate(uuid[], text[], uuid[], boolean[]) IS
  'msgfleet: per sender batch, the opt-out check (OPTED_OUT) and the advertising frequency cap (FREQUENCY_CAPPED, BAD_CONFIG); returns the refused jobs, records the advertising ones let through in mf_ad_sends';

-- Deletes ledger rows older than 7 days (they can no longer count), at most p_limit of them.
CREATE FUNCTION mf_ad_sends_prune(p_limit integer) RETURNS bigint
  LANGUAGE sql
  SET search_path = public, pg_catalog
AS $$
  WITH d AS (
    DELETE FROM mf_ad_sends WHERE job_id IN (
      SELECT a.job_id FROM mf_ad_sends a
      WHERE a.sent_at < now() - interval '7 days' - interval '1 hour'
      ORDER BY a.sent_at LIMIT p_limit)
    RETURNING 1)
  SELECT count(*) FROM d
$$;

-- ---------------------------------------------------------------------------------------------
-- Security: RLS on, service_role only, nothing for anon/authenticated (like every fleet table)
-- ---------------------------------------------------------------------------------------------
ALTER TABLE mf_suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_ad_sends ENABLE ROW LEVEL SECURITY;
ALTER TABLE mf_optout_sync ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_suppressions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_ad_sends
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY mf_service_role_all ON mf_optout_sync
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_suppressions, mf_ad_sends, mf_optout_sync FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_suppressions, mf_ad_sends, mf_optout_sync
  TO service_role;
REVOKE ALL ON FUNCTION mf_cap_limit(jsonb, text), mf_ad_sends_prune(integer),
  mf_send_gate(uuid[], text[], uuid[], boolean[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION mf_cap_limit(jsonb, text), mf_ad_sends_prune(integer),
  mf_send_gate(uuid[], text[], uuid[], boolean[]) TO service_role;

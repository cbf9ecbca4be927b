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
DECLARE
  v_default jsonb;
  v_caps jsonb;
  v_cap jsonb;
  v_24 bigint;
  v_7d bigint;
  c_24 bigint;
  c_7d bigint;
  k integer;
  r record;
BEGIN
  -- Opt-outs, for every job: 'all' stops any message, 'advertising' the advertising ones.
  RETURN QUERY
    SELECT b.j, 'OPTED_OUT'::text,
           format('recipient opted out (scope %s, source %s)', s.scope, s.source)
    FROM unnest(p_jobs, p_phones, p_ad) AS b(j, ph, ad)
    CROSS JOIN LATERAL (
      SELECT x.scope, x.source FROM mf_suppressions x
      WHERE x.phone = b.ph AND (x.scope = 'all' OR (b.ad AND x.scope = 'advertising'))
      ORDER BY x.scope = 'all' DESC LIMIT 1) s;

  IF NOT (true = ANY (p_ad)) THEN
    RETURN;
  END IF;

  -- The frequency cap. Every phone of the batch's advertising jobs is locked (transaction-scoped
  -- advisory lock on its hash, in ascending order: two senders never deadlock) before it is
  -- counted, so two senders sending to the same phone count one after the other.
  FOR k IN SELECT DISTINCT hashtext(b.ph) FROM unnest(p_phones, p_ad) AS b(ph, ad)
           WHERE b.ad ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(140014, k);
  END LOOP;

  SELECT s.setting_value INTO v_default FROM system_settings s
  WHERE s.setting_key = 'ad_frequency_cap';
  SELECT coalesce(jsonb_object_agg(w.id::text, w.message_config -> 'frequency_cap'), '{}')
    INTO v_caps
  FROM workflows w
  WHERE w.id = ANY (p_workflows) AND w.message_config ? 'frequency_cap';

  FOR r IN
    SELECT b.j, b.ph, b.wf
    FROM unnest(p_jobs, p_phones, p_workflows, p_ad) WITH ORDINALITY AS b(j, ph, wf, ad, ord)
    WHERE b.ad AND NOT EXISTS (
      SELECT 1 FROM mf_suppressions x WHERE x.phone = b.ph)
    ORDER BY b.ord
  LOOP
    -- already let through once (a redelivered or retried job): not counted again
    PERFORM 1 FROM mf_ad_sends a WHERE a.job_id = r.j;
    IF FOUND THEN
      CONTINUE;
    END IF;
    v_cap := CASE WHEN v_caps ? r.wf::text THEN v_caps -> r.wf::text ELSE v_default END;
    IF v_cap IS NOT NULL AND jsonb_typeof(v_cap) <> 'null' THEN
      IF jsonb_typeof(v_cap) <> 'object' THEN
        v_24 := -1;
      ELSE
        v_24 := mf_cap_limit(v_cap, 'per_24h');
        v_7d := mf_cap_limit(v_cap, 'per_7d');
      END IF;
      IF v_24 = -1 OR v_7d = -1 THEN
        job_id := r.j;
        code := 'BAD_CONFIG';
        message := format('invalid frequency cap %s (expected {"per_24h":N,"per_7d":M}, '
                          'whole numbers >= 0)', left(v_cap::text, 200));
        RETURN NEXT;
        CONTINUE;
      END IF;
      IF v_24 IS NOT NULL OR v_7d IS NOT NULL THEN
        SELECT count(*) FILTER (WHERE a.sent_at > now() - interval '24 hours'), count(*)
          INTO c_24, c_7d
        FROM mf_ad_sends a
        WHERE a.phone = r.ph AND a.sent_at > now() - interval '7 days';
        IF (v_24 IS NOT NULL AND c_24 >= v_24) OR (v_7d IS NOT NULL AND c_7d >= v_7d) THEN
          job_id := r.j;
          code := 'FREQUENCY_CAPPED';
          message := format('frequency cap reached: %s advertising messages in 24 hours '
                            '(cap %s), %s in 7 days (cap %s)', c_24,
                            coalesce(v_24::text, 'none'), c_7d, coalesce(v_7d::text, 'none'));
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;
    END IF;
    INSERT INTO mf_ad_sends (job_id, phone, workflow_id) VALUES (r.j, r.ph, r.wf)
    ON CONFLICT ON CONSTRAINT mf_ad_sends_pkey DO NOTHING;
  END LOOP;
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

-- 0015_send_rate: the fleet-wide send rate and the provider's daily quota, shared by every
-- sender process through PostgreSQL (docs/compliance.md, "Send rate" and "Provider quota"):
-- - mf_send_buckets: token buckets, one row per provider account ('account:<id>') and per
--   rate-limited workflow ('workflow:<uuid>'), refilled from the database clock;
-- - mf_send_quota: per provider account, the daily quota last read from the provider and the
--   messages the fleet handed to it on the current Korean calendar day;
-- - workflow_runs.send_hold: 'quota' while a run is held because the quota is used up.
-- Each sender pays one statement per batch (workflow buckets) and one per provider request
-- that needs account tokens (mf_send_take); no LISTEN, no session state: it works through a
-- transaction-mode pooler. Additive: the seed's columns are not touched.

CREATE TABLE mf_send_buckets (
  key text PRIMARY KEY,
  rate double precision NOT NULL,   -- tokens per second
  burst double precision NOT NULL,  -- most tokens the bucket holds
  tokens double precision NOT NULL, -- below 0: reserved ahead (mf_rate_reserve)
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE mf_send_buckets IS
  'msgfleet: token buckets of the fleet-wide send rate (account:<id> messages per second, workflow:<uuid> the workflow''s messages per minute / 60), shared by every sender';

CREATE TABLE mf_send_quota (
  account text PRIMARY KEY,
  quota bigint,                      -- the provider's daily quota; NULL until first read
  day date NOT NULL,                 -- Korean calendar day that `used` counts
  used bigint NOT NULL DEFAULT 0,    -- messages the fleet handed to the provider that day
  read_at timestamptz,               -- when `quota` was read from the provider
  read_claimed_at timestamptz,       -- when a sender took the next read (one at a time)
  read_failed boolean NOT NULL DEFAULT false -- the last read failed (quota still unknown)
);
COMMENT ON TABLE mf_send_quota IS
  'msgfleet: the provider account''s daily quota (GET /quota/v1/me) and what the fleet sent against it today (Asia/Seoul day)';

ALTER TABLE workflow_runs ADD COLUMN send_hold text
  CHECK (send_hold IS NULL OR send_hold IN ('quota'));
COMMENT ON COLUMN workflow_runs.send_hold IS
  'msgfleet: why the senders hold a running run''s jobs (quota: the provider''s daily quota is used up); NULL: not held. Cleared when quota is available again';
CREATE INDEX idx_workflow_runs_send_hold ON workflow_runs (id) WHERE send_hold IS NOT NULL;

-- Refills a locked bucket row to the database clock and returns its tokens (creating the row
-- full on first use; a changed rate or burst replaces the stored one).
CREATE FUNCTION mf_send_bucket_refill(p_key text, p_rate double precision,
                                      p_burst double precision)
  RETURNS double precision
  LANGUAGE plpgsql
  SET search_path = public, pg_catalog
AS $$
DECLARE
  b mf_send_buckets%ROWTYPE;
  t timestamptz;
  tok double precision;
BEGIN
  INSERT INTO mf_send_buckets (key, rate, burst, tokens)
    VALUES (p_key, p_rate, p_burst, p_burst) ON CONFLICT (key) DO NOTHING;
  SELECT * INTO b FROM mf_send_buckets WHERE key = p_key FOR UPDATE;
  t := clock_timestamp(); -- read after the lock: the previous holder's time is not ahead
  tok := least(p_burst,
               b.tokens + greatest(0, extract(epoch FROM t - b.updated_at)) * p_rate);
  UPDATE mf_send_buckets SET rate = p_rate, burst = p_burst, tokens = tok, updated_at = t
    WHERE key = p_key;
  RETURN tok;
END
$$;

-- Per-workflow rates, one statement for every rate-limited workflow of a batch. For key i
-- (sorted, so that concurrent callers lock rows in the same order) up to p_wants[i] tokens:
-- `now_n` are granted at once; the next `ahead_n` are reserved on the bucket's future
-- refill, the k-th of them (1-based) due (k - base) / rate seconds from now; the rest (not
-- reserved: beyond p_horizon_s) ask again later. Reserved tokens are taken from the bucket
-- (it goes below zero), so whoever asks next queues behind them.
CREATE FUNCTION mf_rate_reserve(p_keys text[], p_rates double precision[],
                                p_bursts double precision[], p_wants integer[],
                                p_horizon_s double precision)
  RETURNS TABLE (key text, now_n integer, ahead_n integer, base double precision)
  LANGUAGE plpgsql
  SET search_path = public, pg_catalog
AS $$
DECLARE
  i integer;
  tok double precision;
  g integer;
  a integer;
BEGIN
  IF array_length(p_keys, 1) IS NULL THEN
    RETURN;
  END IF;
  FOR i IN SELECT o FROM unnest(p_keys) WITH ORDINALITY AS u(k, o) ORDER BY u.k LOOP
    IF p_rates[i] IS NULL OR p_rates[i] <= 0 OR p_wants[i] IS NULL OR p_wants[i] < 0 THEN
      RAISE EXCEPTION 'mf_rate_reserve: key % needs a positive rate and a want >= 0', p_keys[i];
    END IF;
    tok := mf_send_bucket_refill(p_keys[i], p_rates[i], greatest(p_bursts[i], 1));
    g := least(p_wants[i], greatest(floor(tok), 0))::integer;
    tok := tok - g;
    a := least(p_wants[i] - g,
               greatest(floor(tok + p_rates[i] * p_horizon_s), 0))::integer;
    UPDATE mf_send_buckets b SET tokens = tok - a WHERE b.key = p_keys[i];
    key := p_keys[i];
    now_n := g;
    ahead_n := a;
    base := tok;
    RETURN NEXT;
  END LOOP;
END
$$;

-- The provider account's tokens for one provider request: up to p_want messages within the
-- account rate (p_rate per second, 0: none) and the daily quota (once read). Returns:
-- granted; wait_ms, when fewer than asked were granted because of the rate, until the
-- bucket holds what is missing (at most p_burst); quota_left after this grant (NULL: the
-- quota was never read); read_quota true when this caller should read the provider's quota
-- now (older than p_check_ms and nobody else reading it; p_check_ms 0: never) and store it
-- with mf_quota_store. Granted messages count as sent today whatever happens to them, so
-- the fleet errs on the side of stopping early. While the quota is checked but was never
-- read, nothing is granted (the caller told to read it does so and asks again); when that
-- first read failed (the provider unreachable), tokens are granted without the quota until a
-- read succeeds: the provider's own limit still applies, and the fleet's dependency checks
-- see the provider's state instead of a fleet that silently waits.
CREATE FUNCTION mf_send_take(p_account text, p_rate double precision,
                             p_burst double precision, p_want integer, p_check_ms integer)
  RETURNS TABLE (granted integer, wait_ms integer, quota_left bigint, read_quota boolean)
  LANGUAGE plpgsql
  SET search_path = public, pg_catalog
AS $$
DECLARE
  q mf_send_quota%ROWTYPE;
  today date := (clock_timestamp() AT TIME ZONE 'Asia/Seoul')::date;
  tok double precision := NULL;
  g integer := greatest(p_want, 0);
BEGIN
  INSERT INTO mf_send_quota (account, day) VALUES (p_account, today)
    ON CONFLICT (account) DO NOTHING;
  SELECT * INTO q FROM mf_send_quota WHERE account = p_account FOR UPDATE;
  IF q.day <> today THEN
    q.day := today;
    q.used := 0;
  END IF;
  IF q.quota IS NOT NULL THEN
    g := least(g, greatest(q.quota - q.used, 0))::integer;
  ELSIF p_check_ms > 0 AND NOT q.read_failed THEN
    g := 0; -- the quota was never read: nothing until the first read answers
  END IF;
  wait_ms := 0;
  IF p_rate > 0 THEN
    tok := mf_send_bucket_refill(p_account, p_rate, greatest(p_burst, 1));
    IF floor(tok) < g THEN
      wait_ms := ceil((least(g, greatest(p_burst, 1)) - (tok - floor(tok))) / p_rate
                      * 1000)::integer;
      g := greatest(floor(tok), 0)::integer;
    END IF;
    UPDATE mf_send_buckets b SET tokens = tok - g WHERE b.key = p_account;
  END IF;
  read_quota := p_check_ms > 0
    AND (q.read_at IS NULL OR q.read_at < clock_timestamp() - p_check_ms * interval '1 ms')
    AND (q.read_claimed_at IS NULL
         OR q.read_claimed_at < clock_timestamp() - p_check_ms * interval '1 ms');
  UPDATE mf_send_quota SET day = q.day, used = q.used + g,
    read_claimed_at = CASE WHEN read_quota THEN clock_timestamp() ELSE read_claimed_at END
    WHERE account = p_account;
  granted := g;
  quota_left := CASE WHEN q.quota IS NULL THEN NULL ELSE q.quota - q.used - g END;
  RETURN NEXT;
END
$$;

-- Stores the quota just read from the provider (p_quota NULL: the read failed; the last
-- quota read stays in force). When the account has quota left today, the runs held at the
-- quota are released (send_hold cleared, a 'quota_resumed' entry in their logs). Returns the
-- quota left (NULL when never read) and the number of runs released.
CREATE FUNCTION mf_quota_store(p_account text, p_quota bigint)
  RETURNS TABLE (quota_left bigint, released integer)
  LANGUAGE plpgsql
  SET search_path = public, pg_catalog
AS $$
DECLARE
  today date := (clock_timestamp() AT TIME ZONE 'Asia/Seoul')::date;
  u bigint;
BEGIN
  INSERT INTO mf_send_quota (account, day) VALUES (p_account, today)
    ON CONFLICT (account) DO NOTHING;
  released := 0;
  IF p_quota IS NULL THEN
    UPDATE mf_send_quota SET read_failed = true WHERE account = p_account
      RETURNING CASE WHEN quota IS NULL THEN NULL ELSE quota - used END INTO quota_left;
    RETURN NEXT;
    RETURN;
  END IF;
  UPDATE mf_send_quota
    SET quota = p_quota, read_at = clock_timestamp(), read_claimed_at = NULL,
        read_failed = false,
        used = CASE WHEN day = today THEN used ELSE 0 END, day = today
    WHERE account = p_account
    RETURNING used INTO u;
  quota_left := p_quota - u;
  IF quota_left > 0 THEN
    WITH r AS (
      UPDATE workflow_runs SET send_hold = NULL,
        logs = COALESCE(CASE WHEN jsonb_typeof(logs) = 'array' THEN logs END, '[]'::jsonb)
          || jsonb_build_array(jsonb_build_object('ts', now(), 'event', 'quota_resumed',
               'detail', format('the provider''s daily quota has %s messages left (quota %s)',
                                quota_left, p_quota)))
      WHERE send_hold = 'quota' AND status = 'running'
      RETURNING 1)
    SELECT count(*) INTO released FROM r;
  END IF;
  RETURN NEXT;
END
$$;

COMMENT ON FUNCTION mf_rate_reserve(text[], double precision[], double precision[], integer[],
                                    double precision) IS
  'msgfleet: per-workflow send rate: grants and reserves tokens of several buckets in one statement';
COMMENT ON FUNCTION mf_send_take(text, double precision, double precision, integer, integer) IS
  'msgfleet: account send rate and daily quota: the tokens of one provider request';
COMMENT ON FUNCTION mf_quota_store(text, bigint) IS
  'msgfleet: stores the provider quota just read and releases the runs held at the quota';

ALTER TABLE mf_send_buckets ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_send_buckets
  FOR ALL TO service_role USING (true) WITH CHECK (true);
ALTER TABLE mf_send_quota ENABLE ROW LEVEL SECURITY;
CREATE POLICY mf_service_role_all ON mf_send_quota
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON mf_send_buckets, mf_send_quota FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON mf_send_buckets, mf_send_quota TO service_role;
REVOKE ALL ON FUNCTION mf_send_bucket_refill(text, double precision, double precision),
  mf_rate_reserve(text[], double precision[], double precision[], integer[], double precision),
  mf_send_take(text, double precision, double precision, integer, integer),
  mf_quota_store(text, bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION mf_send_bucket_refill(text, double precision, double precision),
  mf_rate_reserve(text[], double precision[], double precision[], integer[], double precision),
  mf_send_take(text, double precision, double precision, integer, integer),
  mf_quota_store(text, bigint) TO service_role;

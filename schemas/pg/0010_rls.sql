-- 0010_rls: the platform's tables closed to Supabase's public (anon) key and opened to staff by
-- role (docs/security.md, docs/schema.md "Row-level security"). The second deliberate change
-- of the seed, to its security only: no column, type, CHECK, index or trigger changes.
--
-- The seed enables RLS on three of its ten tables and gives each a policy "dev_full_access"
-- FOR ALL TO anon, authenticated USING (true): with Supabase's default grants the public key
-- alone read every phone number and message, changed workflows and settings, and inserted
-- runs. After this file:
-- * RLS is enabled on all ten seed tables; the two seed views run with the caller's rights
--   (security_invoker), so the tables' policies apply through them.
-- * anon holds no privilege on any seed table or view and has no policy: nothing at all.
-- * authenticated holds SELECT, INSERT, UPDATE, DELETE (never TRUNCATE, REFERENCES or
--   TRIGGER, which RLS does not govern) and sees or writes only what a policy grants to the
--   staff role in its JWT: app_metadata.role in admin, operator, marketer, analyst. A user
--   without one of these roles sees and writes nothing.
-- * service_role (BYPASSRLS) and the tables' owner (the fleet, the migration runner) are not
--   filtered, as before. The seed's "service_role_bypass_rls" policies stay.
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.

-- ---------------------------------------------------------------------------------------------
-- The caller's staff role and subject, from the JWT claims PostgREST (Supabase) sets per
-- request as the transaction-local setting request.jwt.claims. Plain PostgreSQL and tests set
-- it with SET LOCAL request.jwt.claims = '{"app_metadata":{"role":"marketer"}}'.
-- app_metadata, not user_metadata: Supabase users can change their own user_metadata, only
-- the service role changes app_metadata. NULL when unset, empty, or not a staff role.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mf_jwt_staff_role() RETURNS text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
AS $$
  SELECT r FROM (
    SELECT NULLIF(current_setting('request.jwt.claims', true), '')::jsonb
             -> 'app_metadata' ->> 'role' AS r) c
  WHERE r IN ('admin', 'operator', 'marketer', 'analyst')
$$;

CREATE FUNCTION mf_jwt_subject() RETURNS text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
AS $$
  SELECT NULLIF(NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')
$$;

COMMENT ON FUNCTION mf_jwt_staff_role() IS
  'msgfleet: the staff role of the request''s JWT (app_metadata.role in admin, operator, marketer, analyst), else NULL; read by the RLS policies of the seed tables';
COMMENT ON FUNCTION mf_jwt_subject() IS
  'msgfleet: the sub claim (user id) of the request''s JWT, else NULL';

REVOKE ALL ON FUNCTION mf_jwt_staff_role(), mf_jwt_subject() FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION mf_jwt_staff_role(), mf_jwt_subject() TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Privileges: nothing for anon; the RLS-governed privileges for authenticated. The grants to
-- service_role (Supabase's defaults) are left as they are.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON workflows, workflow_runs, message_templates, template_usage_logs,
  individual_variable_mappings, variable_query_templates, message_logs, system_settings,
  user_activity_logs, daily_statistics, workflow_summary, daily_stats_summary
  FROM PUBLIC, anon, authenticated;

GRANT SELECT, INSERT, UPDATE, DELETE ON workflows, workflow_runs, message_templates,
  template_usage_logs, individual_variable_mappings, variable_query_templates, message_logs,
  system_settings, user_activity_logs, daily_statistics TO authenticated;
GRANT SELECT ON workflow_summary, daily_stats_summary TO authenticated;

-- The fleet's identity sequences (0007, 0008): Supabase's default privileges give anon and
-- authenticated USAGE and UPDATE on every new sequence. The fleet's tables and view already
-- revoke theirs (0002-0008).
REVOKE ALL ON SEQUENCE mf_claim_outcomes_id_seq, mf_claim_groups_id_seq
  FROM PUBLIC, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- RLS on every seed table; the seed views with the caller's rights
-- ---------------------------------------------------------------------------------------------
ALTER TABLE workflow_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE template_usage_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE variable_query_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE system_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_activity_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE daily_statistics ENABLE ROW LEVEL SECURITY;
-- (workflows, message_templates, individual_variable_mappings: enabled by the seed)

-- Without it a view reads its tables with its owner's rights, and the owner is not filtered.
ALTER VIEW workflow_summary SET (security_invoker = true);
ALTER VIEW daily_stats_summary SET (security_invoker = true);

-- ---------------------------------------------------------------------------------------------
-- Policies. Every one is TO authenticated and names the staff roles it admits;
-- (SELECT mf_jwt_staff_role()) is evaluated once per statement, not per row.
-- ---------------------------------------------------------------------------------------------
DROP POLICY "dev_full_access" ON workflows;
DROP POLICY "dev_full_access" ON message_templates;
DROP POLICY "dev_full_access" ON individual_variable_mappings;

-- Definitions: marketers and operators manage them; analysts read workflows and templates to
-- interpret results; the variable tables (MySQL queries) are for those who build workflows.
CREATE POLICY staff_read ON workflows FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));
CREATE POLICY staff_manage ON workflows FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'))
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

CREATE POLICY staff_read ON message_templates FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));
CREATE POLICY staff_manage ON message_templates FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'))
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

CREATE POLICY staff_manage ON individual_variable_mappings FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'))
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

CREATE POLICY staff_manage ON variable_query_templates FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'))
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

-- Runs: started ("run now", replays), cancelled and watched by marketers and operators.
CREATE POLICY staff_read ON workflow_runs FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));
CREATE POLICY staff_manage ON workflow_runs FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'))
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

-- Outcomes and statistics: written by the fleet only, read by every staff role.
CREATE POLICY staff_read ON message_logs FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));

CREATE POLICY staff_read ON daily_statistics FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));

-- Template usage: the web UI may append (its trigger counts the use), nobody rewrites it.
CREATE POLICY staff_read ON template_usage_logs FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst'));
CREATE POLICY staff_append ON template_usage_logs FOR INSERT TO authenticated
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer'));

-- The audit trail: every staff member appends their own actions (user_id = the JWT's sub),
-- admins and analysts read it, nobody rewrites it.
CREATE POLICY staff_read ON user_activity_logs FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) IN ('admin', 'analyst'));
CREATE POLICY staff_append ON user_activity_logs FOR INSERT TO authenticated
  WITH CHECK ((SELECT mf_jwt_staff_role()) IN ('admin', 'operator', 'marketer', 'analyst')
              AND user_id = (SELECT mf_jwt_subject()));

-- Settings: admins read and change all; the other staff roles read the settings that are not
-- marked is_encrypted (a NULL flag counts as secret).
CREATE POLICY staff_read ON system_settings FOR SELECT TO authenticated
  USING ((SELECT mf_jwt_staff_role()) = 'admin'
         OR ((SELECT mf_jwt_staff_role()) IN ('operator', 'marketer', 'analyst')
             AND is_encrypted IS FALSE));
CREATE POLICY admin_manage ON system_settings FOR ALL TO authenticated
  USING ((SELECT mf_jwt_staff_role()) = 'admin')
  WITH CHECK ((SELECT mf_jwt_staff_role()) = 'admin');

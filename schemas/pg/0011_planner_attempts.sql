-- 0011_planner_attempts: the planner counts the expansion attempts of a run, so that a run
-- that fails the same way every time (a target query that always exceeds the time limit, a
-- job too large to produce, a page that cannot be held) is failed with its cause after
-- MF_PLANNER_MAX_ATTEMPTS attempts instead of being retried forever (docs/planner.md,
-- "Attempts"). Additive: a new column with a default; the seed's columns are not touched.
ALTER TABLE workflow_runs ADD COLUMN planner_attempts integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN workflow_runs.planner_attempts IS
  'expansion attempts that counted: +1 per claim, given back when the attempt ended because '
  'the planner stopped or a dependency (MySQL, PostgreSQL, Kafka) was unavailable';

-- 0009_money: the seed's two cost totals hold any realistic campaign and day (docs/schema.md,
-- "Money"). A deliberate, compatible change of the seed, and the only change of a seed column.
--
-- workflow_runs.total_cost and daily_statistics.total_cost were DECIMAL(10,2): at most
-- 99,999,999.99 KRW, about 3.9 million LMS at 25.9 KRW in one run or on one day. Past that
-- every counter update fails with "numeric field overflow" (SQLSTATE 22003). NUMERIC(14,2)
-- holds 999,999,999,999.99 KRW: 38 billion LMS. Same scale (2 decimals), so every stored
-- value and every reader that parses the text keeps working; only the limit moves.
--
-- The seed's views read the two columns (a column a view depends on cannot change type), so
-- they are dropped and recreated here with the seed's definitions, unchanged. Nothing of the
-- fleet reads them. The migration runner applies this file in one transaction: readers see
-- the old views or the new ones, never none.
DROP VIEW workflow_summary;
DROP VIEW daily_stats_summary;

ALTER TABLE workflow_runs ALTER COLUMN total_cost TYPE NUMERIC(14,2);
ALTER TABLE daily_statistics ALTER COLUMN total_cost TYPE NUMERIC(14,2);

-- seed section 7.1, verbatim
CREATE OR REPLACE VIEW workflow_summary AS
SELECT 
  w.id,
  w.name,
  w.status,
  w.created_at,
  COUNT(wr.id) as total_runs,
  COUNT(CASE WHEN wr.status = 'completed' THEN 1 END) as successful_runs,
  COUNT(CASE WHEN wr.status = 'failed' THEN 1 END) as failed_runs,
  MAX(wr.started_at) as last_run_at,
  SUM(wr.total_cost) as total_cost
FROM workflows w
LEFT JOIN workflow_runs wr ON w.id = wr.workflow_id
GROUP BY w.id, w.name, w.status, w.created_at;

-- seed section 7.2, verbatim
CREATE OR REPLACE VIEW daily_stats_summary AS
SELECT 
  stat_date,
  workflows_created,
  workflows_executed,
  messages_sent,
  messages_failed,
  CASE 
    WHEN messages_sent > 0 
    THEN ROUND((messages_sent - messages_failed) * 100.0 / messages_sent, 2)
    ELSE 0 
  END as success_rate,
  total_cost
FROM daily_statistics
ORDER BY stat_date DESC;

-- 0021_array_statistics: no planner statistics for the fleet's array columns (docs/schema.md,
-- "Statistics of the array columns").
-- ANALYZE of an array column builds element statistics: it hashes every element of every
-- sampled row. mf_claim_outcomes holds eight arrays of about a hundred elements per row, so one
-- analyze of 30,000 sampled rows took 3.5 s of CPU, and autovacuum analyses the table each
-- time a tenth of it is new: in a 10,000,000-recipient campaign about 8 % of the machine
-- (perf). No query needs these statistics: both tables are read by chunk_id, by id or through
-- idx_mf_claim_groups_open, and `job_id = ANY (job_ids)` is checked within the row so found.
-- With the target at 0 an analyze skips the column (the same 30,000 rows: 40 ms). Runs inside
-- the migration runner's transaction: no BEGIN/COMMIT.

ALTER TABLE mf_claim_outcomes
  ALTER COLUMN job_ids SET STATISTICS 0,
  ALTER COLUMN states SET STATISTICS 0,
  ALTER COLUMN provider_message_ids SET STATISTICS 0,
  ALTER COLUMN group_ids SET STATISTICS 0,
  ALTER COLUMN status_codes SET STATISTICS 0,
  ALTER COLUMN messages SET STATISTICS 0,
  ALTER COLUMN channels SET STATISTICS 0,
  ALTER COLUMN sent_ms SET STATISTICS 0;

ALTER TABLE mf_claim_groups
  ALTER COLUMN job_ids SET STATISTICS 0,
  ALTER COLUMN open_job_ids SET STATISTICS 0;

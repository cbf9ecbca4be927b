-- 0005_claims_hot: the claim outcome UPDATE becomes a HOT update (no index entries, no new
-- index pages), which halves what a claim costs PostgreSQL per message (docs/sender.md,
-- BENCHMARKS.md). Fleet objects only; the seed's tables are not touched.
--
-- * idx_mf_job_claims_open: no code path reads it (open claims are found by job_id when their
--   job is redelivered), and its predicate uses `state`, which the outcome UPDATE changes, so
--   every outcome was a non-HOT update with a new entry in all three indexes.
-- * idx_mf_job_claims_run_id: no code path reads it either. Claims are purged by job_id range:
--   job ids are UUIDv8 whose first 48 bits are the run's start time in milliseconds, so
--   `DELETE FROM mf_job_claims WHERE job_id < 'TTTTTTTT-TTTT-0000-0000-000000000000'` (the 12 T
--   digits: the cut-off in unix ms, hex) removes every claim of runs started before the
--   cut-off through the primary key.
-- * fillfactor 45: the outcome version of a claim row must fit on the row's own page for the
--   UPDATE to be HOT. A batch updates all rows of a page in one transaction (so the page cannot
--   be pruned in between), and an outcome version is about as large as the claimed version.
DROP INDEX IF EXISTS idx_mf_job_claims_open;
DROP INDEX IF EXISTS idx_mf_job_claims_run_id;
ALTER TABLE mf_job_claims SET (fillfactor = 45);

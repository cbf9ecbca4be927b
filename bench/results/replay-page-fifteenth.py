"""One replay page's candidate query, old (never-resend check on run and phone, which used
idx_message_logs_run_phone) or new (a phone probe through idx_message_logs_recipient_phone in an
OFFSET 0 subquery), as common/mf_replay.c builds it with its parameters written in.

A record of the fifteenth round's measurement (docs/schema.md, "Indexes of message_logs"): a
scratch database migrated with schemas/pg/0*.sql and filled by replay-page-fifteenth-setup.sql,
then
    python3 replay-page-fifteenth.py "<libpq DSN>" old|new "<after phone>" <timed runs>
prints the timings and the plan (EXPLAIN ANALYZE, BUFFERS) of one more run.
"""
import subprocess, sys, re
D, variant, after, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
chain = "'{bbbbbbbb-0000-0000-0000-000000000001,bbbbbbbb-0000-0000-0000-000000000002}'::uuid[]"
if variant == "old":
    ne = """NOT EXISTS (SELECT 1 FROM message_logs d WHERE d.workflow_run_id = ANY (%s) AND d.recipient_phone = m.recipient_phone AND d.status IN ('sent', 'delivered'))""" % chain
else:
    ne = """NOT EXISTS (SELECT 1 FROM (SELECT d.workflow_run_id, d.status FROM message_logs d WHERE d.recipient_phone = m.recipient_phone OFFSET 0) d WHERE d.workflow_run_id = ANY (%s) AND d.status IN ('sent', 'delivered'))""" % chain
q = """WITH f AS (SELECT '{}'::jsonb AS j)
SELECT DISTINCT ON (m.recipient_phone) m.recipient_phone, m.recipient_name, m.template_id, coalesce(m.variables_used, '{}'::jsonb), coalesce(m.error_code, ''), m.message_type
FROM message_logs m, f
WHERE m.workflow_run_id = ANY (%s) AND m.recipient_phone IS NOT NULL AND m.status = ANY ('{failed}'::text[])
 AND (NOT f.j ? 'codes' OR m.error_code IN (SELECT jsonb_array_elements_text(f.j->'codes')))
 AND coalesce(m.error_code, '') NOT IN (SELECT jsonb_array_elements_text(coalesce(f.j->'exclude_codes', CASE WHEN f.j ? 'codes' THEN '[]'::jsonb ELSE '["INVALID_PHONE"]'::jsonb END)))
 AND (f.j->>'since' IS NULL OR coalesce(m.failed_at, m.created_at) >= (f.j->>'since')::timestamptz)
 AND (f.j->>'until' IS NULL OR coalesce(m.failed_at, m.created_at) < (f.j->>'until')::timestamptz)
 AND %s AND m.recipient_phone > '%s'
ORDER BY m.recipient_phone, m.created_at DESC LIMIT 5000""" % (chain, ne, after)
script = "\\timing on\n" + (q + ";\n") * reps + "EXPLAIN (ANALYZE, BUFFERS) " + q + ";\n"
out = subprocess.run(["psql", D, "-X", "-q", "-A", "-t"], input=script, capture_output=True, text=True)
times = re.findall(r"Time: ([0-9.]+) ms", out.stdout)
rows = out.stdout.count("\n")
print(variant, "times ms:", times[:reps])
plan = out.stdout.split("Time:")[-2] if reps else out.stdout
print("\n".join(l for l in out.stdout.splitlines() if "->" in l or "Execution" in l or "Planning" in l)[:3000])
print(out.stderr[:300])

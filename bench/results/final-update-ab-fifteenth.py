"""The later-outcome UPDATE with and without its self-join, alternating (old new new old ...).

A record of the fifteenth round's measurement (BENCHMARKS.md), not part of bench.py. It needs a
scratch database with the migrated schema (schemas/pg/0*.sql applied in order), one run
'11111111-1111-1111-1111-111111111111' with 1,000,000 `sent` message_logs rows, and a table
chunks(id, k, pmid) that splits their ids into random chunks of 5,000 (k = 0..199):

    python3 final-update-ab-fifteenth.py "<libpq DSN of the scratch db>" <first chunk> <statements>

Each statement applies 5,000 outcomes (3 % failures) in its own transaction; it prints the median
and mean time per variant. The statements copy REP_SQL_FINAL's update before (OLD) and after
(NEW) the change, with the delta rows reduced to one aggregate.
"""
import subprocess, time, os, sys, re
D = sys.argv[1]
OLD = """WITH u AS (SELECT id, CASE WHEN random() < 0.03 THEN 'failed' ELSE 'delivered' END AS st, (extract(epoch from now())*1000)::bigint AS ts_ms, '4000'::text AS code, NULL::text AS msg, NULL::text AS ch, pmid, '11111111-1111-1111-1111-111111111111'::uuid AS run FROM chunks WHERE k = {k}),
upd AS (UPDATE message_logs m SET status = u.st,
 delivered_at = CASE WHEN u.st = 'delivered' THEN GREATEST(to_timestamp(u.ts_ms/1000.0), o.sent_at) ELSE m.delivered_at END,
 failed_at = CASE WHEN u.st = 'failed' THEN GREATEST(to_timestamp(u.ts_ms/1000.0), o.sent_at) ELSE m.failed_at END,
 cost = CASE WHEN u.st = 'failed' THEN 0 ELSE m.cost END,
 error_code = CASE WHEN u.st = 'failed' THEN left(u.code, 50) ELSE m.error_code END,
 error_message = CASE WHEN u.st = 'failed' THEN u.msg ELSE m.error_message END,
 provider_status_code = COALESCE(u.code, m.provider_status_code), channel = COALESCE(u.ch, m.channel)
 FROM u JOIN message_logs o ON o.id = u.id
 WHERE m.id = u.id AND m.status IS NOT DISTINCT FROM 'sent' AND o.workflow_run_id = u.run
 AND (u.pmid IS NULL OR o.provider_message_id IS NULL OR o.provider_message_id = u.pmid)
 RETURNING m.id, m.workflow_run_id AS run_id, m.status, COALESCE(o.cost, 0) AS old_cost, m.sent_at, m.failed_at)
SELECT run_id, count(*), sum(old_cost) FILTER (WHERE status='failed') FROM upd GROUP BY run_id"""
NEW = """WITH u AS (SELECT id, CASE WHEN random() < 0.03 THEN 'failed' ELSE 'delivered' END AS st, (extract(epoch from now())*1000)::bigint AS ts_ms, '4000'::text AS code, NULL::text AS msg, NULL::text AS ch, pmid, '11111111-1111-1111-1111-111111111111'::uuid AS run FROM chunks WHERE k = {k}),
upd AS (UPDATE message_logs m SET status = u.st,
 delivered_at = CASE WHEN u.st = 'delivered' THEN GREATEST(to_timestamp(u.ts_ms/1000.0), m.sent_at) ELSE m.delivered_at END,
 failed_at = CASE WHEN u.st = 'failed' THEN GREATEST(to_timestamp(u.ts_ms/1000.0), m.sent_at) ELSE m.failed_at END,
 cost = CASE WHEN u.st = 'failed' THEN 0 ELSE m.cost END,
 error_code = CASE WHEN u.st = 'failed' THEN left(u.code, 50) ELSE m.error_code END,
 error_message = CASE WHEN u.st = 'failed' THEN u.msg ELSE m.error_message END,
 provider_status_code = COALESCE(u.code, m.provider_status_code), channel = COALESCE(u.ch, m.channel)
 FROM u
 WHERE m.id = u.id AND m.status IS NOT DISTINCT FROM 'sent' AND m.workflow_run_id = u.run
 AND (u.pmid IS NULL OR m.provider_message_id IS NULL OR m.provider_message_id = u.pmid)
 RETURNING m.id, m.workflow_run_id AS run_id, m.status, CASE WHEN m.status = 'failed' THEN (SELECT COALESCE(b.cost, 0) FROM message_logs b WHERE b.id = m.id) ELSE COALESCE(m.cost, 0) END AS old_cost, m.sent_at, m.failed_at)
SELECT run_id, count(*), sum(old_cost) FILTER (WHERE status='failed') FROM upd GROUP BY run_id"""
res = {"old": [], "new": []}
k = int(sys.argv[2]) if len(sys.argv) > 2 else 0
n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
script = ["\\timing on", "SET random_page_cost = 1.1;"]
order = []
for i in range(n):
    which = "old" if (i % 4) in (0, 3) else "new"
    order.append(which)
    script.append("BEGIN;")
    script.append((OLD if which == "old" else NEW).format(k=k + i) + ";")
    script.append("COMMIT;")
out = subprocess.run(["psql", D, "-X", "-q", "-A", "-t"], input="\n".join(script), capture_output=True, text=True)
times = [float(x) for x in re.findall(r"Time: ([0-9.]+) ms", out.stdout)]
# per stmt: SET, BEGIN, stmt, COMMIT -> take stmt times
stm = times[1:]
for i, which in enumerate(order):
    res[which].append(stm[3 * i + 1])
for w in res:
    v = sorted(res[w]); print(w, "n", len(v), "median ms", v[len(v)//2], "mean", sum(v)/len(v))
print(out.stderr[:500])

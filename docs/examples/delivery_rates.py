#!/usr/bin/env python3
"""delivery_rates: delivery rate per workflow and message type, from the results feed.

    msgfleet tail results --from-beginning | python3 docs/examples/delivery_rates.py

Reads JSON lines of `msgfleet tail` (see schemas/kafka/result.md). Per job only the latest
outcome counts: accepted -> then delivered or undelivered; failed is final at once. A job
still `accepted` at the end is "pending". The feed is at-least-once, so the same outcome of
the same job may appear twice: keying by job id makes that harmless.
"""
import collections
import json
import sys

FINAL = {"delivered", "undelivered", "failed", "cancelled"}

latest = {}  # job id -> (workflow id, message type, outcome)
for line in sys.stdin:
    value = json.loads(line).get("value")
    if not value:
        continue  # a line the decoder refused carries "error" instead of "value"
    job, outcome = value["id"], value["st"]
    known = latest.get(job)
    if known is None or known[2] not in FINAL:  # a final outcome is never overwritten
        latest[job] = (value["wf"], value.get("type", "?"), outcome)

table = collections.defaultdict(collections.Counter)
for wf, mtype, outcome in latest.values():
    table[(wf, mtype)][outcome] += 1

print(f"{'workflow':36}  {'type':5}  {'jobs':>7}  {'delivered':>9}  {'failed':>7}  "
      f"{'pending':>7}  rate")
for (wf, mtype), c in sorted(table.items()):
    jobs = sum(c.values())
    failed = c["failed"] + c["undelivered"] + c["cancelled"]
    pending = c["accepted"]
    decided = c["delivered"] + failed
    rate = f"{100.0 * c['delivered'] / decided:5.1f}%" if decided else "    -"
    print(f"{wf:36}  {mtype:5}  {jobs:7}  {c['delivered']:9}  {failed:7}  {pending:7}  {rate}")

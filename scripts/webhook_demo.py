#!/usr/bin/env python3
"""webhook_demo: one signed webhook call of a webhook-triggered workflow, and its message.

Used by scripts/demo.sh after the sample campaign, on its databases (--name, default
msgfleet_demo): adds a webhook-triggered workflow '주문 접수 알림 (웹훅)' if it is not there,
gives it a secret with `msgfleet webhook-secret` (--rotate when it has one), starts a
simulator, a planner with its webhook endpoint, a sender and a reporter, calls
POST /v1/workflows/{id}/trigger signed with HMAC-SHA256 (scripts/webhook_call.py), follows
the run and prints the message's outcome from message_logs and the simulator's ledger.
With --calls N it then makes N more calls (one recipient each, one at a time, the fleet
otherwise idle) and prints the median time to the 202 answer and from the call to the
simulator's acceptance of the message (its acceptedAt), as webhook_answer_ms= and
webhook_to_provider_ms=. Everything it starts, it stops. Python standard library only.
"""

import argparse
import datetime
import json
import statistics
import os
import re
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign as cp  # noqa: E402
import webhook_call as wc  # noqa: E402

WF_NAME = "주문 접수 알림 (웹훅)"
TEMPLATE = "[msgfleet] #{name}님, 주문 #{order_id}이 접수되었습니다. 결제 금액 #{amount}원"


def log(msg):
    print(f"webhook-demo: {msg}", flush=True)


def ensure_workflow(dsn):
    rows = cp.psql(dsn, f"SELECT id FROM workflows WHERE name = {cp.sql_quote(WF_NAME)}")
    if rows:
        return rows[0][0]
    tpl = cp.psql(dsn, "INSERT INTO message_templates (name, category, message_type, content, "
                       f"variables) VALUES ('주문 접수', 'notification', 'sms', "
                       f"{cp.sql_quote(TEMPLATE)}, '[\"name\",\"order_id\",\"amount\"]') "
                       "RETURNING id")[0][0]
    target = {"source": "mysql", "query": "SELECT id, name, phone FROM customers",
              "key_column": "id", "phone_column": "phone", "name_column": "name"}
    variables = {"name": {"source": "column", "column": "name", "default": "고객"}}
    return cp.psql(dsn, "INSERT INTO workflows (name, description, status, trigger_type, "
                        "target_config, message_config, variables) VALUES "
                        f"({cp.sql_quote(WF_NAME)}, 'order confirmation sent by the shop''s "
                        "order service through the webhook', 'active', 'webhook', "
                        f"{cp.sql_quote(json.dumps(target))}, "
                        f"{cp.sql_quote(json.dumps({'template_id': tpl}))}, "
                        f"{cp.sql_quote(json.dumps(variables, ensure_ascii=False))}) "
                        "RETURNING id")[0][0]


def accepted_at(sim_url):
    """jobId -> acceptedAt (unix seconds) of every message in the simulator's ledger."""
    out = {}
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=60) as r:
        for line in r:
            if line.strip():
                m = json.loads(line)
                at = datetime.datetime.strptime(m["acceptedAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
                out[(m.get("customFields") or {}).get("jobId", "")] = \
                    at.replace(tzinfo=datetime.timezone.utc).timestamp()
    return out


def measure(dsn, url, wf, secret, sim_url, n, timeout_s):
    answer_ms, provider_ms = [], []
    for i in range(n):
        body = {"variables": {"order_id": f"M-{i}", "amount": "1,000"},
                "recipients": [f"0105555{i:04d}"]}
        t0 = time.time()
        st, ans, _ = wc.call(url, wf, secret, body)
        answer_ms.append((time.time() - t0) * 1000)
        if st != 202:
            log(f"call {i}: {st} {ans}")
            return 1
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            ids = [r[0] for r in cp.psql(dsn, "SELECT id FROM message_logs WHERE "
                                              f"workflow_run_id = '{ans['run_id']}'")]
            at = accepted_at(sim_url) if ids else {}
            if ids and ids[0] in at:
                provider_ms.append((at[ids[0]] - t0) * 1000)
                break
            time.sleep(0.05)
        else:
            log(f"call {i}: its message did not reach the simulator in {timeout_s} s")
            return 1
    log(f"{n} calls: webhook_answer_ms={statistics.median(answer_ms):.1f} "
        f"webhook_to_provider_ms={statistics.median(provider_ms):.0f} (medians; "
        f"max {max(answer_ms):.1f} / {max(provider_ms):.0f})")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR",
                                                      os.path.join(cp.ROOT, "build")))
    ap.add_argument("--name", default="msgfleet_demo",
                    help="the sample campaign's databases (PostgreSQL and MariaDB)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--calls", type=int, default=0,
                    help="then measure N more calls: answer and call-to-provider times")
    a = ap.parse_args(argv)

    dsn = re.sub(r"dbname=\S+", f"dbname={a.name}", cp.env("MF_PG_DSN"))
    wf = ensure_workflow(dsn)
    has = cp.psql(dsn, f"SELECT count(*) FROM mf_webhook_secrets WHERE workflow_id = '{wf}'")
    rc, out = cp.msgfleet_cli(a.build, dsn, "webhook-secret", wf,
                              *(["--rotate"] if has[0][0] != "0" else []))
    if rc != 0:
        cp.die(f"msgfleet webhook-secret failed: {out.strip()}")
    secret = out.strip().splitlines()[-1]
    log(f"workflow {wf} ('{WF_NAME}'): secret created with msgfleet webhook-secret "
        f"({secret[:8]}..., shown once)")

    # the customer the order belongs to: the first with a valid mobile number
    cust = cp.mysql_rows(a.name, "SELECT id, name, phone FROM customers ORDER BY id LIMIT 50")
    key, name, phone = next((c, n, p) for c, n, p in cust if cp.normalise_phone(p))

    workdir = tempfile.mkdtemp(prefix=f"{a.name}-webhook-")
    fleet = cp.Fleet(a.build, workdir, {})
    port = cp.free_port()
    url = f"http://127.0.0.1:{port}"
    status = 1
    try:
        sim_url = cp.start_simulator(fleet, cp.free_port())
        fleet.env = cp.fleet_env(dsn, f"{a.name}_webhook.", sim_url, a.name)
        fleet.env["MF_PLANNER_WEBHOOK_LISTEN"] = f"127.0.0.1:{port}"
        cp.start_fleet(fleet, 1)
        for _ in range(100):
            try:
                wc.call(url, wf, None, b"{}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        fleet.check_alive()
        ts = int(time.time())
        order = f"ORD-{ts}"  # one order per demo: its number is the Idempotency-Key
        body = json.dumps({"variables": {"order_id": order, "amount": "39,800"},
                           "customer_keys": [int(key)]}, ensure_ascii=False).encode()
        log(f"POST {url}/v1/workflows/{wf}/trigger")
        log(f"  X-Msgfleet-Timestamp: {ts}")
        log(f"  X-Msgfleet-Signature: v1={wc.sign(secret, ts, body)}")
        log(f"  Idempotency-Key: {order}")
        log(f"  {body.decode()}")
        st, ans, _ = wc.call(url, wf, secret, body, idempotency_key=order,
                             timestamp=ts)
        log(f"answer: {st} {json.dumps(ans, ensure_ascii=False)}")
        if st != 202:
            cp.die("the webhook call was not accepted")
        run_id = ans["run_id"]
        deadline = time.time() + a.timeout
        while time.time() < deadline:
            r = cp.psql(dsn, f"SELECT status FROM workflow_runs WHERE id = '{run_id}'")
            if r and r[0][0] != "running":
                break
            time.sleep(0.5)
        rows = cp.psql(dsn, "SELECT id, recipient_phone, status, message_type, message_content, "
                            "coalesce(provider_message_id, '') FROM message_logs "
                            f"WHERE workflow_run_id = '{run_id}'")
        run = cp.psql(dsn, "SELECT status, trigger_type, success_count, failed_count "
                           f"FROM workflow_runs WHERE id = '{run_id}'")[0]
        log(f"run {run_id}: {run[0]} (trigger_type {run[1]}, sent {run[2]}, failed {run[3]})")
        counts = cp.ledger(sim_url)
        for mid, ph, st2, mtype, text, pid in rows:
            log(f"message to {ph[:3]}****{ph[-4:]} ({name}): {st2}, {mtype}, provider id {pid}, "
                f"in the simulator's ledger {counts.get(mid, 0)} time(s)")
            log(f"  \"{text}\"")
        status = 0 if run[0] == "completed" and len(rows) == 1 and \
            rows[0][2] in ("sent", "delivered") and counts.get(rows[0][0], 0) == 1 else 1
        if status == 0 and a.calls > 0:
            status = measure(dsn, url, wf, secret, sim_url, a.calls, a.timeout)
        log("result=" + ("ok" if status == 0 else "FAILED"))
    finally:
        fleet.stop()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

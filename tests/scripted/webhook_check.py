#!/usr/bin/env python3
"""webhook_check: the planner's webhook endpoint end to end (docs/triggers.md, "Webhook").

Creates its own PostgreSQL and MariaDB databases and topic prefix, starts a simulator, a
planner with the endpoint, a sender and a reporter, creates secrets with `msgfleet
webhook-secret`, and calls the endpoint with a client that signs like a real integration
(python's hmac, scripts/webhook_call.py) and with curl (signature by `openssl dgst -hmac`):

  * recipients, customer keys and neither: each run completes, and every message is in
    message_logs and exactly once in the simulator's ledger, with the call's variables;
  * a retry with the same Idempotency-Key (re-signed, and byte for byte) answers the same run
    id and sends nothing twice;
  * every error code: 400 (bad JSON, unknown variable, too many recipients, bad phone),
    401 (missing headers, bad signature, stale timestamp, replayed signature, rotated secret),
    404 (unknown or inactive workflow), 405, 409, 413 (refused before the body is read),
    429 with Retry-After; each a JSON {code, message} and none starts a run;
  * the secret is in no log line and not readable by the anon or authenticated roles.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import campaign as cp  # noqa: E402
import webhook_call as wc  # noqa: E402

TEMPLATE = "#{name}님, 주문 #{order_id} 접수 완료. 도착 예정 #{eta}"
PROBLEMS = []


def check(cond, what):
    if cond:
        print(f"webhook: ok   {what}", flush=True)
    else:
        print(f"webhook: FAIL {what}", flush=True)
        PROBLEMS.append(what)
    return cond


def seed(dsn, mysql_db):
    """A webhook workflow (all customers), one limited to ids <= 5, a paused one, one for the
    rate test; the campaign's seed adds settings and a manual workflow."""
    manual = cp.seed_platform(dsn, mysql_db)
    tpl = cp.psql(dsn, "INSERT INTO message_templates (name, category, message_type, content) "
                       f"VALUES ('주문 접수', 'notification', 'sms', {cp.sql_quote(TEMPLATE)}) "
                       "RETURNING id")[0][0]
    variables = {"name": {"source": "column", "column": "name", "default": "고객"},
                 "eta": {"source": "static", "value": "내일"}}

    def wf(name, status, query):
        target = {"source": "mysql", "query": query, "key_column": "id",
                  "phone_column": "phone", "name_column": "name"}
        return cp.psql(dsn, "INSERT INTO workflows (name, status, trigger_type, target_config, "
                            f"message_config, variables) VALUES ({cp.sql_quote(name)}, "
                            f"'{status}', 'webhook', "
                            f"{cp.sql_quote(json.dumps(target))}, "
                            f"{cp.sql_quote(json.dumps({'template_id': tpl}))}, "
                            f"{cp.sql_quote(json.dumps(variables, ensure_ascii=False))}) "
                            "RETURNING id")[0][0]
    return {"main": wf("주문 접수 알림", "active", "SELECT id, name, phone FROM customers"),
            "few": wf("주문 접수 (5명)", "active",
                      "SELECT id, name, phone FROM customers WHERE id <= 5"),
            "paused": wf("멈춘 웹훅", "paused", "SELECT id, name, phone FROM customers"),
            "rate": wf("속도 제한", "active", "SELECT id, name, phone FROM customers"),
            "manual": manual}


def secret_for(build, dsn, wf, *extra):
    rc, out = cp.msgfleet_cli(build, dsn, "webhook-secret", wf, *extra)
    return rc, out.strip()


def wait_run(dsn, run_id, timeout_s=120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        r = cp.psql(dsn, f"SELECT status FROM workflow_runs WHERE id = '{run_id}'")
        if r and r[0][0] != "running":
            return r[0][0]
        time.sleep(0.5)
    return "running"


def rows_of(dsn, run_id):
    return cp.psql(dsn, "SELECT id, recipient_phone, status, message_content FROM message_logs "
                        f"WHERE workflow_run_id = '{run_id}' ORDER BY recipient_phone")


def check_sent(dsn, sim_url, run_id, phones, text_has, what):
    """Every phone has one sent row carrying text_has, each exactly once in the ledger."""
    status = wait_run(dsn, run_id)
    check(status == "completed", f"{what}: run {run_id} completed (got {status})")
    rows = rows_of(dsn, run_id)
    got = sorted(r[1] for r in rows)
    check(got == sorted(phones), f"{what}: message_logs phones {got} == {sorted(phones)}")
    check(all(r[2] in ("sent", "delivered") and text_has in r[3] for r in rows),
          f"{what}: every row sent with {text_has!r} in its text")
    counts = cp.ledger(sim_url)
    check(all(counts.get(r[0], 0) == 1 for r in rows) and rows,
          f"{what}: each message exactly once in the simulator's ledger")
    return rows


def expect_error(resp, status, code, what):
    st, ans, hdr = resp
    ok = st == status and isinstance(ans, dict) and ans.get("code") == code and \
        isinstance(ans.get("message"), str) and ans["message"] != ""
    check(ok, f"{what}: {status} {code} (got {st} {ans})")
    time.sleep(0.21)  # stay under the endpoint's 5 calls a second per workflow
    return hdr


def curl(args, stdin=None):
    p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
                       capture_output=True, input=stdin, timeout=60)
    out = p.stdout.decode(errors="replace").rsplit("\n", 1)
    body, status = (out[0], int(out[1])) if len(out) == 2 and out[1].isdigit() else ("", 0)
    try:
        ans = json.loads(body) if body else None
    except ValueError:
        ans = None
    return status, ans, {}


def curl_signed(url, wf, secret, body, extra=()):
    """The shell way: openssl computes the signature, curl sends it."""
    script = ('ts=$(date +%s); sig=$(printf \'%s.%s\' "$ts" "$BODY" | '
              'openssl dgst -sha256 -hmac "$SECRET" | sed \'s/^.* //\'); '
              'curl -sS -o - -w "\\n%{http_code}" -X POST -H "Content-Type: application/json" '
              '-H "X-Msgfleet-Timestamp: $ts" -H "X-Msgfleet-Signature: v1=$sig" '
              + " ".join(f"-H '{h}'" for h in extra) +
              ' --data-binary "$BODY" "$URL"')
    p = subprocess.run(["sh", "-c", script], capture_output=True, timeout=60,
                       env={**os.environ, "BODY": body, "SECRET": secret,
                            "URL": f"{url}/v1/workflows/{wf}/trigger"})
    out = p.stdout.decode(errors="replace").rsplit("\n", 1)
    try:
        return int(out[1]), json.loads(out[0]), {}
    except (ValueError, IndexError):
        return 0, None, {}


def run_count(dsn):
    return int(cp.psql(dsn, "SELECT count(*) FROM workflow_runs")[0][0])


def errors(url, dsn, wfs, secret, rate_secret):
    main, runs0 = wfs["main"], run_count(dsn)
    ok_body = {"variables": {"order_id": "E-1"}, "recipients": ["01099990001"]}
    expect_error(wc.call(url, main, secret, ok_body, method="GET"), 405, "method_not_allowed",
                 "GET")
    expect_error(wc.call(url, str(uuid.uuid4()), secret, ok_body), 404, "workflow_not_found",
                 "unknown workflow")
    expect_error(wc.call(url, wfs["paused"], secret, ok_body), 404, "workflow_not_found",
                 "paused workflow")
    expect_error(wc.call(url, wfs["manual"], secret, ok_body), 409, "not_webhook_triggered",
                 "manual workflow")
    expect_error(wc.call(url, main, None, ok_body), 401, "missing_signature", "no headers")
    expect_error(wc.call(url, main, "whsec_" + "0" * 64, ok_body), 401, "bad_signature",
                 "wrong secret")
    expect_error(wc.call(url, main, secret, ok_body, timestamp=int(time.time()) - 301), 401,
                 "stale_timestamp", "timestamp 301 s old")
    expect_error(wc.call(url, main, secret, ok_body, timestamp=int(time.time()) + 301), 401,
                 "stale_timestamp", "timestamp 301 s ahead")
    # a signature over another body
    ts = str(int(time.time()))
    expect_error(wc.call(url, main, None, b'{"variables":{"order_id":"E-2"}}', headers={
        "X-Msgfleet-Timestamp": ts,
        "X-Msgfleet-Signature": "v1=" + wc.sign(secret, ts, b'{"variables":{}}')}),
        401, "bad_signature", "signature of another body")
    expect_error(wc.call(url, main, secret, b'{"variables": {"order_id": '), 400, "bad_json",
                 "truncated JSON")
    expect_error(wc.call(url, main, secret, {"variables": {"coupon_code": "X"}}), 400,
                 "unknown_variable", "variable the template does not use")
    expect_error(wc.call(url, main, secret, {"recipients": ["01011110001", "01011110002",
                                                             "01011110003", "01011110004"]}),
                 400, "too_many_recipients", "4 recipients, 3 allowed")
    expect_error(wc.call(url, main, secret, {"recipients": ["02-123-4567"]}), 400, "bad_phone",
                 "landline recipient")
    expect_error(wc.call(url, main, secret, {"recipients": ["01011110001"],
                                             "customer_keys": ["1"]}),
                 400, "bad_request", "recipients and customer_keys together")
    expect_error(wc.call(url, main, secret, ok_body, idempotency_key=""), 400, "bad_request",
                 "empty Idempotency-Key")
    big = {"variables": {"order_id": "x" * 2100}, "recipients": ["01011110001"]}
    expect_error(wc.call(url, main, secret, big), 413, "body_too_large",
                 "body over MF_PLANNER_WEBHOOK_MAX_BODY")
    # curl: 413 on Content-Length alone (Expect: 100-continue: the body is never sent)
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"{" + b" " * 100000 + b"}")
        f.flush()
        st, ans, _ = curl(["-X", "POST", "-H", "Expect: 100-continue",
                           "--data-binary", f"@{f.name}",
                           f"{url}/v1/workflows/{main}/trigger"])
        check(st == 413 and ans and ans.get("code") == "body_too_large",
              f"curl 100 kB body: 413 body_too_large (got {st} {ans})")
        # chunked: no Content-Length, the body is discarded as it arrives past the limit
        st, ans, _ = curl(["-X", "POST", "-H", "Transfer-Encoding: chunked",
                           "--data-binary", f"@{f.name}",
                           f"{url}/v1/workflows/{main}/trigger"])
        check(st == 413 and ans and ans.get("code") == "body_too_large",
              f"curl 100 kB chunked body: 413 body_too_large (got {st} {ans})")
    st, ans, _ = curl(["-X", "PUT", f"{url}/v1/workflows/{main}/trigger"])
    check(st == 405 and ans and ans.get("code") == "method_not_allowed",
          f"curl PUT: 405 (got {st})")
    st, ans, _ = curl([f"{url}/v2/elsewhere"])
    check(st == 404 and ans and ans.get("code") == "not_found", f"curl unknown path: 404 (got {st})")
    # 429: the rate workflow allows 5 calls a second; bodies with an unknown variable are
    # refused after the rate check, so no call of this burst starts a run
    seen = []
    for i in range(12):
        st, ans, hdr = wc.call(url, wfs["rate"], rate_secret, {"variables": {"nope": str(i)}})
        seen.append((st, (ans or {}).get("code"), hdr.get("Retry-After")))
    limited = [s for s in seen if s[0] == 429]
    check(limited and all(s[1] == "rate_limited" and s[2] and int(s[2]) >= 1 for s in limited),
          f"burst of 12 calls: 429 rate_limited with Retry-After ({seen})")
    check(all(s[0] in (400, 429) for s in seen), "burst: the others are the expected 400s")
    time.sleep(1.2)
    expect_error(wc.call(url, wfs["rate"], rate_secret, {"variables": {"nope": "again"}}), 400,
                 "unknown_variable", "after a second the workflow may call again")
    check(run_count(dsn) == runs0, f"no error started a run ({run_count(dsn) - runs0} new)")


def main():
    build = os.environ.get("MF_BUILD_DIR") or os.path.join(ROOT, "build")
    name = f"mftest_wh_{random.randrange(16**6):06x}"
    admin_dsn = cp.env("MF_PG_DSN")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    print(f"webhook: workspace {workdir}; databases {name}", flush=True)
    dsn = cp.create_pg_database(admin_dsn, name, build)
    cp.load_mysql(name, 40, 3)
    wfs = seed(dsn, name)
    fleet = cp.Fleet(build, workdir, {})
    port = cp.free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        sim_url = cp.start_simulator(fleet, cp.free_port())
        fleet.env = cp.fleet_env(dsn, f"{name}.", sim_url, name)
        fleet.env.update({"MF_PLANNER_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
                          "MF_PLANNER_WEBHOOK_MAX_BODY": "2048",
                          "MF_PLANNER_WEBHOOK_MAX_RECIPIENTS": "3",
                          "MF_PLANNER_WEBHOOK_RATE": "5"})
        cp.start_fleet(fleet, 1)
        for _ in range(100):
            try:
                wc.call(url, str(uuid.uuid4()), None, b"{}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        fleet.check_alive()

        # secrets: created once, refused a second time, rotated
        rc, secret = secret_for(build, dsn, wfs["main"])
        check(rc == 0 and secret.startswith("whsec_") and len(secret) == 70,
              "msgfleet webhook-secret prints a new secret")
        rc, out = secret_for(build, dsn, wfs["main"])
        check(rc == 1 and "--rotate" in out and secret not in out,
              "a second webhook-secret without --rotate is refused")
        rc, rotated = secret_for(build, dsn, wfs["main"], "--rotate")
        check(rc == 0 and rotated != secret and len(rotated) == 70, "--rotate prints a new one")
        expect_error(wc.call(url, wfs["main"], secret, {"variables": {"order_id": "R-0"}}), 401,
                     "bad_signature", "the secret before rotation")
        old, secret = secret, rotated
        expect_error(wc.call(url, wfs["few"], secret, {}), 401, "no_secret",
                     "a webhook workflow without a secret yet")
        few_secret = secret_for(build, dsn, wfs["few"])[1]
        rate_secret = secret_for(build, dsn, wfs["rate"])[1]
        expect_error(wc.call(url, wfs["paused"], secret, {}), 404, "workflow_not_found",
                     "paused workflow (before its secret)")

        # success: recipients, with an Idempotency-Key; then the retries
        body = {"variables": {"order_id": "A-1001"}, "recipients": ["010-4321-0001", "+82 10 4321 0002"]}
        st, ans, _ = wc.call(url, wfs["main"], secret, body, idempotency_key="order-A-1001")
        check(st == 202 and ans and ans.get("idempotent_replay") is False,
              f"recipients call: 202 with a run id ({st} {ans})")
        run1 = (ans or {}).get("run_id", "")
        rows = check_sent(dsn, sim_url, run1, ["01043210001", "01043210002"],
                          "주문 A-1001 접수 완료. 도착 예정 내일", "recipients")
        check(all(r[3].startswith("고객님") for r in rows), "the name variable falls back to its "
              "mapping's default when the target row has none")
        tr = cp.psql(dsn, f"SELECT trigger_type, requested_by FROM workflow_runs WHERE id = '{run1}'")
        check(tr == [["webhook", "webhook"]], f"the run is trigger_type webhook ({tr})")
        ts = int(time.time())
        raw = json.dumps(body).encode()
        again = wc.call(url, wfs["main"], secret, raw, idempotency_key="order-A-1001", timestamp=ts)
        check(again[0] == 202 and again[1].get("run_id") == run1 and
              again[1].get("idempotent_replay") is True,
              f"re-signed retry with the same Idempotency-Key: same run ({again[:2]})")
        same = wc.call(url, wfs["main"], secret, raw, idempotency_key="order-A-1001", timestamp=ts)
        check(same[0] == 202 and same[1].get("run_id") == run1,
              f"byte-for-byte resend with the Idempotency-Key: same run ({same[:2]})")
        n = int(cp.psql(dsn, f"SELECT count(*) FROM workflow_runs WHERE workflow_id = "
                             f"'{wfs['main']}'")[0][0])
        check(n == 1, f"the retries started no run ({n} runs of the workflow)")
        time.sleep(3)
        per_phone = cp.accepted_per_phone(sim_url)
        check(len(rows_of(dsn, run1)) == 2 and
              all(per_phone.get(p, 0) == 1 for p in ("01043210001", "01043210002")),
              f"nothing was sent twice after the retries (ledger per phone: "
              f"{[per_phone.get(p, 0) for p in ('01043210001', '01043210002')]})")

        # one key, calls racing on two planners: one run, every answer names it
        port2 = cp.free_port()
        fleet.start("planner-2", [cp.binary(build, "planner/msgfleet-planner")],
                    {"MF_INSTANCE_ID": "planner-2",
                     "MF_PLANNER_WEBHOOK_LISTEN": f"127.0.0.1:{port2}"})
        url2 = f"http://127.0.0.1:{port2}"
        for _ in range(100):
            try:
                wc.call(url2, str(uuid.uuid4()), None, b"{}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)  # a fresh second for the rate limit of the workflow
        race = [None] * 4

        def racer(i):
            body_i = {"variables": {"order_id": f"RACE-{i}"}, "recipients": ["01043210009"]}
            race[i] = wc.call(url if i % 2 == 0 else url2, wfs["main"], secret, body_i,
                              idempotency_key="order-RACE")

        threads = [threading.Thread(target=racer, args=(i,)) for i in range(len(race))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {r[1].get("run_id") for r in race if r and r[0] == 202 and r[1]}
        check(all(r and r[0] == 202 for r in race) and len(ids) == 1,
              f"4 racing calls with one key on two planners: one run id ({[r[:2] for r in race]})")
        n = int(cp.psql(dsn, "SELECT count(*) FROM mf_webhook_runs WHERE recipients @> "
                             "'[\"01043210009\"]'")[0][0])
        check(n == 1, f"the race started exactly one run ({n})")
        race_run = ids.pop() if ids else ""
        check(wait_run(dsn, race_run) == "completed" and
              cp.accepted_per_phone(sim_url).get("01043210009", 0) == 1,
              "the race's run sent its message once")

        # a replayed signature without an Idempotency-Key
        ts = int(time.time())
        raw = json.dumps({"variables": {"order_id": "P-1"}, "recipients": ["01043210003"]}).encode()
        first = wc.call(url, wfs["main"], secret, raw, timestamp=ts)
        check(first[0] == 202, f"signed call without a key: 202 ({first[:2]})")
        expect_error(wc.call(url, wfs["main"], secret, raw, timestamp=ts), 401,
                     "replayed_signature", "the same signed request again")
        check_sent(dsn, sim_url, first[1]["run_id"], ["01043210003"], "P-1", "replay's original")

        # customer keys: the target query bound to each key
        cust = cp.mysql_rows(name, "SELECT id, name, phone FROM customers ORDER BY id")
        valid = [(c, n, cp.normalise_phone(p)) for c, n, p in cust if cp.normalise_phone(p)]
        key, kname, kphone = valid[-1]
        st, ans, _ = wc.call(url, wfs["main"], secret,
                             {"variables": {"order_id": "K-7"}, "customer_keys": [int(key)]})
        check(st == 202, f"customer_keys call: 202 ({st} {ans})")
        rows = check_sent(dsn, sim_url, (ans or {}).get("run_id", ""), [kphone], "K-7",
                          "customer key")
        check(rows and rows[0][3].startswith(f"{kname}님"),
              "the customer's name comes from the target row")

        # neither: the workflow's target query, with the call's variables
        few = [(c, n, cp.normalise_phone(p)) for c, n, p in cust if int(c) <= 5]
        phones = sorted({p for _, _, p in few if p})
        st, ans = curl_signed(url, wfs["few"], few_secret,
                              '{"variables":{"order_id":"T-5"}}',
                              ["Idempotency-Key: t5"])[:2]
        check(st == 202, f"curl + openssl signed call of the target-query workflow: 202 ({st} {ans})")
        run3 = (ans or {}).get("run_id", "")
        status = wait_run(dsn, run3)
        check(status == "completed", f"target-query run completed ({status})")
        rows = [r for r in rows_of(dsn, run3) if r[2] in ("sent", "delivered")]
        check(sorted(r[1] for r in rows) == phones and all("T-5" in r[3] for r in rows),
              f"target-query run sent to the {len(phones)} valid customers with id <= 5")
        counts = cp.ledger(sim_url)
        check(all(counts.get(r[0], 0) == 1 for r in rows), "each exactly once in the ledger")

        errors(url, dsn, wfs, secret, rate_secret)

        # the planner counts its answers by code
        plog = open(os.path.join(workdir, "planner-1.log"), errors="replace").read()
        mport = json.loads(next(line for line in plog.splitlines()
                                if '"http listening"' in line))["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        check('msgfleet_planner_webhook_calls_total{code="rate_limited"}' in metrics and
              'msgfleet_planner_webhook_calls_total{code="accepted"}' in metrics,
              "/metrics counts webhook calls by code")

        # secrets: not in any log, not readable by anon or authenticated
        logs = "".join(open(os.path.join(workdir, f), errors="replace").read()
                       for f in os.listdir(workdir) if f.endswith(".log"))
        check(all(s not in logs for s in (secret, old, few_secret, rate_secret)),
              "no secret appears in the fleet's logs")
        for role in ("anon", "authenticated"):
            p = subprocess.run(["psql", dsn, "-X", "-At", "-c",
                                f"SET ROLE {role}; SELECT count(*) FROM mf_webhook_secrets"],
                               capture_output=True, text=True)
            check(p.returncode != 0 and "permission denied" in p.stderr,
                  f"{role} cannot read mf_webhook_secrets ({p.stderr.strip()[:80]})")
        fleet.check_alive()
    finally:
        fleet.stop()
        cp.psql(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
        subprocess.run(["mariadb", "--no-defaults", "-h", cp.env("MF_MYSQL_HOST", "127.0.0.1"),
                        "-P", cp.env("MF_MYSQL_PORT"), "-u", "crm_admin", "-pcrm_admin_pw",
                        "-e", f"DROP DATABASE IF EXISTS `{name}`"], capture_output=True)
    print(f"webhook: result={'ok' if not PROBLEMS else 'FAILED'} ({len(PROBLEMS)} problems)",
          flush=True)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())

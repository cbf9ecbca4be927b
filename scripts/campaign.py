#!/usr/bin/env python3
"""campaign: run a sample campaign end to end on the local stack, and check it.

Used by scripts/demo.sh (README command 1) and by the end-to-end tests. It creates what a
marketer would have saved through the web UI (templates, a workflow with a MySQL target query
and variable mappings, price and sender settings), starts the fleet (planner, senders,
reporter) against the CoolSMS simulator, triggers a run with the CLI, follows it, prints the
summary and, with --check, verifies the outcome independently:

  * exactly one message_logs row per target recipient, invalid phones failed with a code;
  * the rendered Korean text and the SMS/LMS type, against a rendering done here in Python
    (cp949 byte counting) from the MySQL rows, not by the fleet's code;
  * the simulator's ledger holds exactly one accepted message per valid recipient;
  * workflow_runs and daily_statistics equal a recount from message_logs;
  * the run is completed with completed_at.

Everything it starts, it stops. Python standard library only; psql and mariadb clients.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The SMS template sits at the 90-byte boundary: rendered with a 3-syllable name it is 90 EUC-KR
# bytes for ids up to 999 (SMS) and 91+ from 1000 on (LMS), so one run exercises both types.
SMS_LMS_TEMPLATE = ("[msgfleet] #{name}님, 11월 회원 혜택이 도착했습니다. "
                    "이번 달 회원번호 #{id} 전용 쿠폰 #{coupon}")
KAKAO_TEMPLATE = "#{name}님, 주문하신 상품이 발송되었습니다. 송장번호: #{invoice}"
PRICES = {"sms": 8.4, "lms": 25.9, "kakao": 7.5}
ORDER_TEMPLATE = "#{name}님, 주문 #{order_no} 결제가 확인되었습니다. 감사합니다."
ORDER_EVENT = "order_confirmed"


def log(msg):
    print(f"campaign: {msg}", flush=True)


def die(msg):
    print(f"campaign: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def env(name, default=None):
    v = os.environ.get(name)
    if v is None or v == "":
        if default is None:
            die(f"{name} is not set (source scripts/env.sh)")
        return default
    return v


def sql_quote(s):
    return "'" + str(s).replace("'", "''") + "'"


def psql(dsn, sql, *, check=True):
    """Runs SQL through psql and returns rows as lists of strings (tab-separated)."""
    p = subprocess.run(["psql", dsn, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if check and p.returncode != 0:
        die(f"psql failed: {p.stderr.strip()}\n  sql: {sql[:300]}")
    return [line.split("\t") for line in p.stdout.splitlines() if line != ""]


def mysql_rows(db, sql):
    p = subprocess.run(["mariadb", "--no-defaults", "-h", env("MF_MYSQL_HOST", "127.0.0.1"),
                        "-P", env("MF_MYSQL_PORT"), "-u", env("MF_MYSQL_USER"),
                        f"-p{env('MF_MYSQL_PASSWORD')}", "--batch", "--raw",
                        "--skip-column-names", db, "-e", sql],
                       capture_output=True, text=True)
    if p.returncode != 0:
        die(f"mariadb query failed: {p.stderr.strip()}")
    rows = []
    for line in p.stdout.splitlines():
        rows.append([None if c == "NULL" else c for c in line.split("\t")])
    return rows


class Fleet:
    """The processes of one campaign: simulator, planner(s), senders, reporter(s)."""

    def __init__(self, build, workdir, base_env):
        self.build = build
        self.workdir = workdir
        self.env = base_env
        self.procs = []

    def start(self, name, argv, extra_env=None):
        e = dict(self.env)
        e.update(extra_env or {})
        logf = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, env=e, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p, logf))
        return p

    def check_alive(self):
        for name, p, _ in self.procs:
            if p.poll() is not None:
                tail = open(os.path.join(self.workdir, f"{name}.log"), "rb").read()[-3000:]
                die(f"{name} exited with {p.returncode}; last log lines:\n"
                    f"{tail.decode(errors='replace')}")

    def stop(self):
        for _, p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for name, p, logf in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM for 20 s; killing it")
                p.kill()
                p.wait()
            logf.close()
        self.procs = []


def binary(build, rel):
    path = os.path.join(build, rel)
    if not os.access(path, os.X_OK):
        die(f"{path} is not built (run ninja in {build})")
    return path


def start_simulator(fleet, port, capture_file=None):
    sim = binary(fleet.build, "tools/coolsms-sim/coolsms-sim")
    sim_env = {
        "MF_SIM_PORT": str(port),
        "MF_SIM_API_KEY": env("MF_COOLSMS_API_KEY"),
        "MF_SIM_API_SECRET": env("MF_COOLSMS_API_SECRET"),
        "MF_SIM_SENDERS": env("MF_COOLSMS_SENDER"),
        "MF_SIM_DELIVER_DELAY_MS": "1500",
        "MF_SIM_SEED": "7",
        # the campaign drives faults through /_sim/config and counts on /_sim/ledger
        "MF_SIM_CONTROL": "1",
    }
    if capture_file:
        sim_env["MF_SIM_CAPTURE_FILE"] = capture_file
    fleet.start("coolsms-sim", [sim], sim_env)
    url = f"http://127.0.0.1:{port}/_sim/health"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    fleet.check_alive()
    die(f"the simulator did not answer on {url}")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli_env(dsn):
    """The CLI reads its database from MF_PG_DSN, never from argv (ps shows argv to everyone)."""
    return {**os.environ, "MF_PG_DSN": dsn}


def create_pg_database(admin_dsn, name, build):
    psql(admin_dsn, f"DROP DATABASE IF EXISTS {name}")
    psql(admin_dsn, f"CREATE DATABASE {name}")
    dsn = re.sub(r"dbname=\S+", f"dbname={name}", admin_dsn)
    p = subprocess.run([binary(build, "tools/msgfleet/msgfleet"), "migrate"],
                       capture_output=True, text=True, env=cli_env(dsn))
    if p.returncode != 0:
        die(f"msgfleet migrate failed: {p.stderr.strip()}")
    return dsn


def drop_databases(admin_dsn, name):
    """Removes a test's PostgreSQL and MariaDB databases called name (missing ones too)."""
    psql(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
    subprocess.run(["mariadb", "--no-defaults", "-h", env("MF_MYSQL_HOST", "127.0.0.1"),
                    "-P", env("MF_MYSQL_PORT"), "-u", "crm_admin", "-pcrm_admin_pw",
                    "-e", f"DROP DATABASE IF EXISTS `{name}`"], capture_output=True)


def load_mysql(db, customers, seed):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "schemas/mysql/gen_sample.py"),
                        "--db", db, "--create-schema", "--truncate",
                        "--customers", str(customers), "--seed", str(seed)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        die(f"gen_sample.py failed: {p.stderr.strip()}")
    log(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "sample data loaded")


def seed_platform(dsn, mysql_db):
    """Writes what the web UI would: settings, templates, a workflow. Returns workflow id."""
    psql(dsn, "INSERT INTO system_settings (setting_key, setting_value, description) VALUES "
              f"('coolsms_prices', {sql_quote(json.dumps(PRICES))}, 'KRW per accepted message'), "
              f"('coolsms_sender_number', {sql_quote(json.dumps(env('MF_COOLSMS_SENDER')))}, "
              "'registered sender number'), "
              "('kakao_pf_id', '\"KA01PF2026MSGFLEET\"', 'Kakao channel') "
              "ON CONFLICT (setting_key) DO UPDATE SET setting_value = EXCLUDED.setting_value")
    tpl = psql(dsn, "INSERT INTO message_templates (name, category, message_type, content, "
                    "variables) VALUES ('11월 회원 혜택', 'notification', 'sms', "
                    f"{sql_quote(SMS_LMS_TEMPLATE)}, '[\"name\",\"id\",\"coupon\"]') "
                    "RETURNING id")[0][0]
    kakao = psql(dsn, "INSERT INTO message_templates (name, category, message_type, "
                      "template_code, content, variables, buttons) VALUES ('배송 알림', "
                      f"'notification', 'kakao', 'TPL_SHIP_01', {sql_quote(KAKAO_TEMPLATE)}, "
                      "'[\"name\",\"invoice\"]', "
                      "'[{\"buttonType\":\"DS\",\"buttonName\":\"배송조회\"}]') "
                      "RETURNING id")[0][0]
    target = {"source": "mysql", "query": "SELECT id, name, phone FROM customers",
              "key_column": "id", "phone_column": "phone", "name_column": "name",
              "database": mysql_db}
    message = {"template_id": tpl, "sender_number": env("MF_COOLSMS_SENDER")}
    variables = {"name": {"source": "column", "column": "name", "default": "고객"},
                 "id": {"source": "column", "column": "id"},
                 "coupon": {"source": "static", "value": "NOV2026"}}
    wf = psql(dsn, "INSERT INTO workflows (name, description, status, trigger_type, "
                   "target_config, message_config, variables) VALUES ('11월 회원 혜택 발송', "
                   "'sample campaign', 'active', 'manual', "
                   f"{sql_quote(json.dumps(target, ensure_ascii=False))}, "
                   f"{sql_quote(json.dumps(message))}, "
                   f"{sql_quote(json.dumps(variables, ensure_ascii=False))}) RETURNING id")[0][0]
    # Two more workflows a marketer would keep beside it (not run here): an alimtalk with SMS
    # fallback for shipping notices, and a paused weekday-morning schedule.
    ship_target = dict(target, query="SELECT id, name, phone FROM customers WHERE id <= 100")
    ship_vars = {"name": {"source": "column", "column": "name", "default": "고객"},
                 "invoice": {"source": "static", "value": "6301-2026-1125"}}
    psql(dsn, "INSERT INTO workflows (name, status, trigger_type, target_config, message_config, "
              "variables) VALUES ('배송 알림톡', 'active', 'manual', "
              f"{sql_quote(json.dumps(ship_target, ensure_ascii=False))}, "
              f"{sql_quote(json.dumps({'template_id': kakao, 'kakao': {'disable_sms': False}}))}, "
              f"{sql_quote(json.dumps(ship_vars, ensure_ascii=False))})")
    # An event-triggered workflow: an order confirmation to the customer the event names
    # (docs/triggers.md; --then-event publishes one such event)
    order = psql(dsn, "INSERT INTO message_templates (name, category, message_type, content, "
                      "variables) VALUES ('주문 확인', 'notification', 'sms', "
                      f"{sql_quote(ORDER_TEMPLATE)}, '[\"name\",\"order_no\"]') "
                      "RETURNING id")[0][0]
    order_target = dict(target, query="SELECT id, name, phone FROM customers WHERE id = ?")
    psql(dsn, "INSERT INTO workflows (name, status, trigger_type, trigger_config, target_config, "
              "message_config, variables) VALUES ('주문 확인 알림', 'active', 'event', "
              f"{sql_quote(json.dumps({'event': ORDER_EVENT}))}, "
              f"{sql_quote(json.dumps(order_target, ensure_ascii=False))}, "
              f"{sql_quote(json.dumps({'template_id': order, 'sender_number': env('MF_COOLSMS_SENDER')}))}, "
              f"{sql_quote(json.dumps({'name': variables['name']}, ensure_ascii=False))})")
    psql(dsn, "INSERT INTO workflows (name, status, trigger_type, target_config, message_config, "
              "variables, schedule_config) VALUES ('평일 아침 혜택 알림', 'paused', 'schedule', "
              f"{sql_quote(json.dumps(target, ensure_ascii=False))}, "
              f"{sql_quote(json.dumps(message))}, "
              f"{sql_quote(json.dumps(variables, ensure_ascii=False))}, "
              "'{\"type\": \"cron\", \"cron\": \"0 9 * * 1-5\", \"tz\": \"Asia/Seoul\"}')")
    return wf


def fleet_env(dsn, prefix, sim_url, mysql_db):
    e = dict(os.environ)
    e.update({
        "MF_PG_DSN": dsn,
        "MF_TOPIC_PREFIX": prefix,
        # own consumer groups too: two campaigns at once (tests, benchmarks) never share one
        "MF_SENDER_GROUP": f"{prefix}sender",
        "MF_REPORTER_GROUP": f"{prefix}reporter",
        "MF_COOLSMS_BASE_URL": sim_url,
        "MF_MYSQL_DB": mysql_db,
        "MF_LOG_LEVEL": "info",
        "MF_PLANNER_POLL_MS": "100",
        "MF_REPORTER_STATUS_DELAY_MS": "1000",
    })
    return e


def start_fleet(fleet, senders, planners=1, reporters=1, extra=None):
    """extra: daemon name ("reporter-1") -> settings of that daemon alone."""
    planner = binary(fleet.build, "planner/msgfleet-planner")
    sender = binary(fleet.build, "sender/msgfleet-sender")
    reporter = binary(fleet.build, "reporter/msgfleet-reporter")
    extra = extra or {}

    def start(name, binary_path):
        fleet.start(name, [binary_path], dict({"MF_INSTANCE_ID": name}, **extra.get(name, {})))
    for i in range(planners):
        start(f"planner-{i + 1}", planner)
    for i in range(senders):
        start(f"sender-{i + 1}", sender)
    for i in range(reporters):
        start(f"reporter-{i + 1}", reporter)


def run_workflow(build, dsn, workflow, timeout_s, fleet=None):
    """`msgfleet run --watch`; with fleet, a program of the fleet that exits meanwhile ends
    the wait at once (fleet.check_alive: its log's tail, exit 1) instead of at the timeout."""
    cli = binary(build, "tools/msgfleet/msgfleet")
    t0 = time.time()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen([cli, "run", workflow, "--watch", "--timeout", str(timeout_s)],
                             text=True, stdout=out, env=cli_env(dsn))
        try:
            while p.poll() is None:
                if fleet is not None:
                    fleet.check_alive()
                time.sleep(0.5)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out.seek(0)
        text = out.read()
    print(text, end="", flush=True)
    run_id = text.splitlines()[0].strip() if text else ""
    return run_id, p.returncode, time.time() - t0


# ---------------------------------------------------------------- independent checks

def normalise_phone(raw):
    """An independent reading of the phone rule (docs/planner.md; mobile numbers only)."""
    if raw is None:
        return None
    s = raw.strip()
    digits = re.sub(r"[\s\-().]", "", s)
    if digits.startswith("+82"):
        digits = "0" + digits[3:].lstrip("0")
    elif digits.startswith("0082"):
        digits = "0" + digits[4:].lstrip("0")
    if not digits.isdigit():
        return None
    if re.fullmatch(r"010\d{8}", digits) or re.fullmatch(r"01[16789]\d{7,8}", digits):
        return digits
    return None


def render(template, values):
    return re.sub(r"#\{\s*([^{}#\n\r]+?)\s*\}", lambda m: values[m.group(1)], template)


def expected_outcomes(mysql_db):
    """Per normalised phone: expected (name, text, type); plus the count of invalid rows."""
    rows = mysql_rows(mysql_db, "SELECT id, name, phone FROM customers ORDER BY id")
    expected, invalid = {}, 0
    for cid, name, phone in rows:
        norm = normalise_phone(phone)
        if norm is None:
            invalid += 1
            continue
        if norm in expected:
            continue  # the first row (lowest key) wins, later duplicates are dropped
        text = render(SMS_LMS_TEMPLATE, {"name": name, "id": cid, "coupon": "NOV2026"})
        nbytes = len(text.encode("cp949"))
        expected[norm] = (name, text, "sms" if nbytes <= 90 else "lms")
    return expected, invalid


def ledger(sim_url):
    counts = {}
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=60) as r:
        for line in r:
            if not line.strip():
                continue
            m = json.loads(line)
            job = (m.get("customFields") or {}).get("jobId", "")
            counts[job] = counts.get(job, 0) + 1
    return counts


def check_run(dsn, run_id, mysql_db, sim_url):
    problems = []
    expected, invalid = expected_outcomes(mysql_db)
    rows = psql(dsn, "SELECT id, recipient_phone, recipient_name, message_type, "
                     "coalesce(message_content, ''), status, coalesce(error_code, '') "
                     f"FROM message_logs WHERE workflow_run_id = '{run_id}'")
    by_phone = {}
    for rid, phone, name, mtype, content, status, code in rows:
        by_phone.setdefault(phone, []).append((rid, name, mtype, content, status, code))
    failed_invalid = sum(1 for r in rows if r[5] == "failed" and r[6] == "INVALID_PHONE")
    if failed_invalid != invalid:
        problems.append(f"{failed_invalid} INVALID_PHONE rows, expected {invalid}")
    if len(rows) != len(expected) + invalid:
        problems.append(f"{len(rows)} message_logs rows, expected {len(expected) + invalid}")
    wrong = 0
    for phone, (name, text, mtype) in expected.items():
        got = by_phone.get(phone, [])
        if len(got) != 1:
            problems.append(f"recipient {phone[:3]}****{phone[-4:]} has {len(got)} rows")
            continue
        _, gname, gtype, gcontent, gstatus, gcode = got[0]
        if gcontent != text or gtype != mtype or gstatus not in ("sent", "delivered"):
            wrong += 1
            if wrong <= 3:
                problems.append(f"row for {phone[-4:]}: got ({gtype}, {gstatus} {gcode}, "
                                f"{gcontent!r}) expected ({mtype}, {text!r})")
    if wrong:
        problems.append(f"{wrong} rows with wrong content, type or status")
    # the provider's side: exactly one accepted message per valid recipient's job id
    counts = ledger(sim_url)
    sent_ids = [r[0] for r in rows if r[5] in ("sent", "delivered")]
    once = sum(1 for i in sent_ids if counts.get(i, 0) == 1)
    dup = sum(1 for i in sent_ids if counts.get(i, 0) > 1)
    if once != len(expected) or dup:
        problems.append(f"ledger: {once} accepted once, {dup} duplicated, "
                        f"expected {len(expected)} once")
    extra = sum(counts.values()) - len(sent_ids)
    if extra:
        problems.append(f"ledger holds {extra} accepted messages without a sent row")
    problems += check_counters(dsn, run_id)
    return problems, {"recipients": len(expected) + invalid, "valid": len(expected),
                      "invalid": invalid, "ledger_once": once, "duplicates": dup}


def check_counters(dsn, run_id, status_expected="completed"):
    """The run ended status_expected with completed_at, its counters and daily_statistics
    equal a recount of message_logs ('cancelled' rows count as failed, docs/reporter.md)."""
    problems = []
    r = psql(dsn, "SELECT r.status, r.completed_at IS NOT NULL, r.target_count, r.success_count, "
                  "r.failed_count, r.total_cost, "
                  "(SELECT count(*) FROM message_logs m WHERE m.workflow_run_id = r.id), "
                  "(SELECT count(*) FROM message_logs m WHERE m.workflow_run_id = r.id "
                  "   AND m.status IN ('sent', 'delivered')), "
                  "(SELECT count(*) FROM message_logs m WHERE m.workflow_run_id = r.id "
                  "   AND m.status IN ('failed', 'cancelled')), "
                  "(SELECT coalesce(sum(cost), 0) FROM message_logs m "
                  "   WHERE m.workflow_run_id = r.id) "
                  f"FROM workflow_runs r WHERE r.id = '{run_id}'")
    if not r:
        return [f"no workflow_runs row {run_id}"]
    status, done, target, succ, fail, cost, n, nsent, nfail, rcost = r[0]
    if status != status_expected or done != "t":
        problems.append(f"run status {status}, completed_at set: {done}")
    if int(target) != int(n):
        problems.append(f"target_count {target} != {n} message_logs rows")
    if (int(succ), int(fail)) != (int(nsent), int(nfail)):
        problems.append(f"run counters sent/failed {succ}/{fail} != recount {nsent}/{nfail}")
    if abs(float(cost) - float(rcost)) > 0.005:
        problems.append(f"run total_cost {cost} != recount {rcost}")
    # daily_statistics against a recount of every message_logs row of this database
    d = psql(dsn, "WITH m AS (SELECT (coalesce(sent_at, failed_at, created_at) "
                  "  AT TIME ZONE 'Asia/Seoul')::date AS d, status, cost FROM message_logs), "
                  "r AS (SELECT d, count(*) FILTER (WHERE status IN ('sent','delivered')) s, "
                  "  count(*) FILTER (WHERE status IN ('failed', 'cancelled')) f, sum(cost) c "
                  "  FROM m GROUP BY d) "
                  "SELECT r.d, r.s, r.f, r.c, ds.messages_sent, ds.messages_failed, ds.total_cost "
                  "FROM r LEFT JOIN daily_statistics ds ON ds.stat_date = r.d")
    for day, s, f, c, ds_s, ds_f, ds_c in d:
        if ds_s is None or (int(s), int(f)) != (int(ds_s), int(ds_f)) or \
                abs(float(c) - float(ds_c)) > 0.005:
            problems.append(f"daily_statistics {day}: {ds_s}/{ds_f}/{ds_c} != recount "
                            f"{s}/{f}/{c}")
    return problems


def check_delivery(dsn, run_id, timeout_s=90):
    """Accepted is not delivered: the reporter polls the list API and records the carrier's
    final status; no row may stay 'sent', and counters must still equal a recount."""
    deadline = time.time() + timeout_s
    while True:
        left = int(psql(dsn, "SELECT count(*) FROM message_logs WHERE workflow_run_id = "
                             f"'{run_id}' AND status = 'sent'")[0][0])
        if left == 0 or time.time() > deadline:
            break
        time.sleep(1)
    problems = [f"{left} messages still 'sent' {timeout_s} s after the run"] if left else []
    done = psql(dsn, "SELECT count(*) FILTER (WHERE status = 'delivered' AND delivered_at "
                     "IS NOT NULL), count(*) FILTER (WHERE status = 'failed' AND failed_at "
                     f"IS NOT NULL) FROM message_logs WHERE workflow_run_id = '{run_id}'")[0]
    log(f"delivery: {done[0]} delivered, {done[1]} failed, {left} still sent")
    return problems + check_counters(dsn, run_id)


def sim_config(sim_url, knobs):
    req = urllib.request.Request(f"{sim_url}/_sim/config", data=json.dumps(knobs).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def msgfleet_cli(build, dsn, *args):
    p = subprocess.run([binary(build, "tools/msgfleet/msgfleet"), *args],
                       capture_output=True, text=True, timeout=900, env=cli_env(dsn))
    return p.returncode, p.stdout + p.stderr


def accepted_per_phone(sim_url):
    counts = {}
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=60) as r:
        for line in r:
            if line.strip():
                to = json.loads(line).get("to", "")
                counts[to] = counts.get(to, 0) + 1
    return counts


def check_replay(build, dsn, run_id, mysql_db, sim_url):
    """Replays after the cause is fixed: dry run = what is sent, one accepted message per
    valid recipient across the chain, a second replay sends nothing."""
    problems = []
    expected, _ = expected_outcomes(mysql_db)
    failed = int(psql(dsn, "SELECT count(*) FROM message_logs WHERE workflow_run_id = "
                           f"'{run_id}' AND status = 'failed' "
                           "AND error_code <> 'INVALID_PHONE'")[0][0])
    codes = psql(dsn, "SELECT error_code, count(*) FROM message_logs WHERE workflow_run_id = "
                      f"'{run_id}' AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC")
    log(f"original run: {failed} failures to replay by code: {codes}")
    if failed == 0:
        problems.append("the faults produced no failure to replay")
    sim_config(sim_url, {"permanent_fail_ratio": 0, "error_5xx_ratio": 0})  # cause fixed
    rc, out = msgfleet_cli(build, dsn, "replay", run_id, "--dry-run")
    m = re.search(r"(\d+) recipient\(s\) to resend", out)
    dry = int(m.group(1)) if m else -1
    print(out, end="", flush=True)
    if rc != 0 or dry != failed:
        problems.append(f"dry run counted {dry} recipients, {failed} failures expected")
    rc, out = msgfleet_cli(build, dsn, "replay", run_id, "--watch", "--timeout", "300")
    print(out, end="", flush=True)
    ids = [l.strip() for l in out.splitlines() if re.fullmatch(r"[0-9a-f-]{36}", l.strip())]
    replay_id = ids[0] if ids else ""
    if rc != 0 or not replay_id:
        problems.append(f"replay failed (exit {rc})")
        return problems
    sent = psql(dsn, "SELECT count(*), count(*) FILTER (WHERE status IN ('sent','delivered')) "
                     f"FROM message_logs WHERE workflow_run_id = '{replay_id}'")[0]
    if (int(sent[0]), int(sent[1])) != (dry, dry):
        problems.append(f"replay run has {sent[0]} rows, {sent[1]} sent; dry run said {dry}")
    per_phone = accepted_per_phone(sim_url)
    once = sum(1 for ph in expected if per_phone.get(ph, 0) == 1)
    dup = sum(1 for ph in expected if per_phone.get(ph, 0) > 1)
    if once != len(expected) or dup:
        problems.append(f"after replay: {once} of {len(expected)} recipients accepted once, "
                        f"{dup} more than once")
    problems += check_counters(dsn, replay_id)
    rc, out = msgfleet_cli(build, dsn, "replay", run_id)
    runs = int(psql(dsn, f"SELECT count(*) FROM workflow_runs WHERE replay_of = '{run_id}'")[0][0])
    if rc != 0 or "nothing to replay" not in out or runs != 1:
        problems.append(f"second replay: exit {rc}, {runs} replay runs, output {out[-200:]!r}")
    log(f"replay: {dry} resent, {once} of {len(expected)} recipients accepted exactly once, "
        "second replay sent nothing")
    return problems


def inject_garbage(topic, n):
    """Undecodable job messages, as a buggy or foreign producer would write them."""
    lines = "".join(f"garbage-{i}\tnot msgpack \xff {i}\n" for i in range(n))
    p = subprocess.run(["kcat", "-P", "-b", env("MF_KAFKA_BROKERS"), "-t", topic, "-K", "\t"],
                       input=lines.encode("utf-8", "surrogateescape"), capture_output=True)
    if p.returncode != 0:
        die(f"kcat could not produce to {topic}: {p.stderr.decode(errors='replace')}")
    log(f"injected {n} undecodable messages into {topic}")


def msgfleet_dlq(build, prefix, *args):
    p = subprocess.run([binary(build, "tools/msgfleet/msgfleet"), "dlq", *args, "--prefix",
                        prefix], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout


def check_dlq(build, prefix, n, settle_s=30):
    """The injected messages are dead-lettered with a reason, listed, and replayable."""
    problems = []
    deadline = time.time() + settle_s
    while True:
        rc, out = msgfleet_dlq(build, prefix, "list")
        listed = [l for l in out.splitlines() if f"from {prefix}jobs[" in l]
        if len(listed) >= n or time.time() > deadline:
            break
        time.sleep(1)
    if rc != 0 or len(listed) != n:
        problems.append(f"dlq list: {len(listed)} dead letters from the jobs topic, expected {n}")
    if any(": " not in l.split("bytes)", 1)[-1] for l in listed):
        problems.append("dlq list: a dead letter without its reason")
    rc, out = msgfleet_dlq(build, prefix, "replay", "--dry-run")
    if rc != 0 or f"{n} would be replayed" not in out:
        problems.append(f"dlq replay --dry-run: expected {n} to replay, got: {out[-200:]!r}")
    rc, out = msgfleet_dlq(build, prefix, "replay")
    if rc != 0 or f"{n} replayed" not in out:
        problems.append(f"dlq replay: expected {n} replayed, got: {out[-200:]!r}")
    # Replayed garbage is still garbage: the sender dead-letters it a second time.
    deadline = time.time() + settle_s
    while True:
        _, out = msgfleet_dlq(build, prefix, "list")
        again = [l for l in out.splitlines() if f"from {prefix}jobs[" in l]
        if len(again) >= 2 * n or time.time() > deadline:
            break
        time.sleep(1)
    if len(again) != 2 * n:
        problems.append(f"after replay: {len(again)} dead letters, expected {2 * n}")
    log(f"dlq: {n} dead letters listed with reasons, replayed, dead-lettered again")
    return problems


def check_tail(dsn, run_id, path, settle_s=10):
    """The analytics feed as an analyst reads it: `msgfleet tail results` JSON lines. Every line
    must parse; the jobs with a first outcome (accepted or failed) must be exactly the
    message_logs rows of the run."""
    want = {r[0] for r in psql(dsn, "SELECT id FROM message_logs "
                                    f"WHERE workflow_run_id = '{run_id}'")}
    deadline = time.time() + settle_s
    while True:
        problems, seen = [], set()
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    msg = json.loads(line)
                except ValueError:
                    problems.append(f"tail line {n} is not JSON: {line[:120]!r}")
                    continue
                v = msg.get("value") or {}
                if v.get("run") == run_id and v.get("st") in ("accepted", "failed"):
                    seen.add(v.get("id"))
        if seen == want or time.time() > deadline:
            break
        time.sleep(0.5)
    if seen != want:
        problems.append(f"tail: {len(seen)} jobs with a first outcome, {len(want)} message_logs "
                        f"rows ({len(want - seen)} missing, {len(seen - want)} unknown)")
    log(f"tail: {len(seen)} first outcomes read back as JSON lines")
    return problems


# ---------------------------------------------------------------- commands

def then_event(dsn, prefix, mysql_db, timeout_s=60):
    """Publishes one order_confirmed event for a customer of the sample data (the event
    workflow '주문 확인 알림' finds the phone with its target query) and prints the outcome of
    the message it sends. Returns the problems."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import event
    wf = psql(dsn, "SELECT id FROM workflows WHERE name = '주문 확인 알림'")[0][0]
    cust = next((cid for cid, _, phone in mysql_rows(
        mysql_db, "SELECT id, name, phone FROM customers ORDER BY id LIMIT 100")
        if normalise_phone(phone)), None)
    event_id = f"demo-order-{int(time.time())}"
    event.publish(prefix + "events", [(cust, event.encode_event(
        ORDER_EVENT, event_id, cust=cust, attrs={"order_no": "20261125-0042"}))])
    job = event.event_job_id(wf, event_id)
    log(f"event: published {ORDER_EVENT} {event_id} for customer {cust}; waiting for message {job}")
    t0 = t_row = time.time()
    row = []
    # the row appears once the provider accepted the message (or it failed); then wait a
    # little for the carrier's final report
    while time.time() < t0 + timeout_s and (not row or (row[0][0] == "sent" and
                                                        time.time() < t_row + 5)):
        row = psql(dsn, "SELECT status, recipient_phone, coalesce(error_code, ''), "
                        f"coalesce(message_content, '') FROM message_logs WHERE id = '{job}'")
        if row and row[0][0] in ("delivered", "failed"):
            break
        if not row:
            t_row = time.time()
        time.sleep(0.5)
    if not row:
        return [f"event {event_id}: no message_logs row after {timeout_s} s"]
    status, phone, code, content = row[0]
    log(f"event: message to {phone[:3]}****{phone[-4:]} {status}{' ' + code if code else ''} "
        f"{time.time() - t0:.1f} s after the event: {content}")
    return [] if status in ("sent", "delivered") else [f"event message {status} {code}"]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--customers", type=int, default=10000)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--via-pgbouncer", action="store_true",
                    help="the daemons and the CLI reach PostgreSQL through PgBouncer")
    ap.add_argument("--check", action="store_true", help="verify the outcome; exit 1 if wrong")
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    ap.add_argument("--name", default=None,
                    help="name of the databases and topic prefix (default: random)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--tail-results", action="store_true",
                    help="follow the results topic with `msgfleet tail` during the run and "
                         "check (with --check) that it parses and matches message_logs")
    ap.add_argument("--inject-garbage", type=int, default=0, metavar="N",
                    help="produce N undecodable messages to the jobs topic before the run and "
                         "check (with --check) that they reach the dead-letter topic and that "
                         "`msgfleet dlq` lists and replays them")
    ap.add_argument("--replay-check", action="store_true",
                    help="the simulator fails 10%% of messages permanently and answers 5xx "
                         "often enough that some requests outlast the retries; then the cause "
                         "is fixed and `msgfleet replay` must bring every valid recipient to "
                         "exactly one accepted message; a second replay sends nothing")
    ap.add_argument("--sim-capture", metavar="FILE", default=None,
                    help="the simulator writes every /messages/v4 request it gets to FILE "
                         "(JSON lines; its capture_file knob), e.g. for the SDK contract test")
    ap.add_argument("--then-alimtalk", action="store_true",
                    help="after the run (and its checks), also run the seeded alimtalk "
                         "workflow (100 recipients, Kakao options and buttons); exit 1 if it "
                         "does not complete")
    ap.add_argument("--then-event", action="store_true",
                    help="after the run, publish one order_confirmed event and print the outcome "
                         "of its message (docs/triggers.md)")
    ap.add_argument("--await-delivery", action="store_true",
                    help="after the run, wait until the reporter's status poller has turned "
                         "every sent message into delivered or failed, and recheck counters")
    a = ap.parse_args(argv)

    name = a.name or f"mftest_e2e_{random.randrange(16**6):06x}"
    admin_dsn = env("MF_PG_DSN")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    log(f"workspace {workdir}; databases {name} (PostgreSQL, MariaDB)")
    dsn = create_pg_database(admin_dsn, name, a.build)
    if a.via_pgbouncer:
        dsn = re.sub(r"port=\d+", f"port={env('MF_PGBOUNCER_PORT')}", dsn)
        log("the fleet connects through PgBouncer (transaction pooling)")
    load_mysql(name, a.customers, a.seed)
    workflow = seed_platform(dsn, name)
    fleet = Fleet(a.build, workdir, {})
    status = 1
    try:
        sim_url = start_simulator(fleet, free_port(), a.sim_capture)
        fleet.env = fleet_env(dsn, f"{name}.", sim_url, name)
        if a.replay_check:
            # small requests and few retries, so that a 5xx streak outlasts them
            fleet.env.update({"MF_SENDER_REQUEST_SIZE": "50", "MF_SENDER_FAST_RETRIES": "1",
                              "MF_SENDER_RETRY_MAX": "1", "MF_SENDER_RETRY_BASE_MS": "20",
                              "MF_SENDER_RETRY_CAP_MS": "50", "MF_SENDER_RETRY_DELAY_MS": "100",
                              "MF_SENDER_RETRY_DELAY_CAP_MS": "200"})
            # a permanent failure whose cause can be fixed (3059, a sender number the carrier
            # refuses): the simulator's default 1060 (blocked number) puts the number on the
            # opt-out list, and a replay rightly never reaches it again
            sim_config(sim_url, {"permanent_fail_ratio": 0.10, "permanent_fail_code": "3059",
                                 "error_5xx_ratio": 0.25})
        start_fleet(fleet, a.senders)
        time.sleep(0.5)
        fleet.check_alive()
        log(f"fleet up: 1 planner, {a.senders} senders, 1 reporter; simulator at {sim_url}")
        if a.tail_results:
            fleet.start("tail-results", [binary(a.build, "tools/msgfleet/msgfleet"), "tail",
                                         "results", "--follow", "--from-beginning"])
        if a.inject_garbage:
            inject_garbage(f"{name}.jobs", a.inject_garbage)
        run_id, rc, secs = run_workflow(a.build, dsn, workflow, a.timeout, fleet)
        fleet.check_alive()
        if not run_id:
            die("msgfleet run printed no run id")
        if a.replay_check:
            problems = check_replay(a.build, dsn, run_id, name, sim_url)
            for p in problems:
                print(f"campaign: FAIL: {p}", flush=True)
            print(f"campaign: replay result={'ok' if not problems else 'FAILED'}", flush=True)
            status = 0 if not problems else 1
        elif not a.check:
            status = rc
        else:
            problems, facts = check_run(dsn, run_id, name, sim_url)
            if a.await_delivery:
                problems += check_delivery(dsn, run_id)
            if a.inject_garbage:
                problems += check_dlq(a.build, f"{name}.", a.inject_garbage)
            if a.tail_results:
                problems += check_tail(dsn, run_id, os.path.join(workdir, "tail-results.log"))
            for p in problems:
                print(f"campaign: FAIL: {p}", flush=True)
            print(f"campaign: recipients={facts['recipients']} valid={facts['valid']} "
                  f"invalid={facts['invalid']} accepted_once={facts['ledger_once']} "
                  f"duplicates={facts['duplicates']} seconds={secs:.1f} "
                  f"rate={facts['recipients'] / secs:.0f}/s "
                  f"result={'ok' if not problems else 'FAILED'}", flush=True)
            status = 0 if (rc == 0 and not problems) else 1
        if a.then_event:
            for p in then_event(dsn, f"{name}.", name):
                print(f"campaign: FAIL: {p}", flush=True)
                status = 1
        if a.then_alimtalk:
            wf2 = psql(dsn, "SELECT id FROM workflows WHERE name = '배송 알림톡'")[0][0]
            run2, rc2, secs2 = run_workflow(a.build, dsn, wf2, a.timeout, fleet)
            fleet.check_alive()
            log(f"alimtalk run {run2}: exit {rc2} in {secs2:.1f} s")
            if rc2 != 0:
                status = 1
    finally:
        fleet.stop()
        if not a.keep:
            drop_databases(admin_dsn, name)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

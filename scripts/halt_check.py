#!/usr/bin/env python3
"""halt_check: cancel a run in flight, or pause and resume one, and check the outcome.

End-to-end checks of docs/operations.md "Stopping a campaign" on the local stack (the shared
development stack is only read and written through its own databases and topic prefix). Like
scripts/campaign.py (whose helpers it uses) it creates a database pair, seeds the sample
workflow, starts the CoolSMS simulator and a fleet (2 planners, 2 senders, 1 reporter), and
checks the outcome independently of the fleet's code, on the simulator's ledger and in
PostgreSQL.

--mode cancel: run A (every customer) and run B of another workflow (the first --other
customers, same phones: same partitions) are started together and expanded side by side.
When both are sending, A is cancelled with `msgfleet cancel --reason`. Checks:
  * A's last message in the ledger (its acceptedAt) is at most --max-stop-s after the cancel
    (the `cancelled` log entry's time), and the ledger count of A stops growing;
  * every recipient of A has exactly one message_logs row: 'sent' (or 'delivered') with
    exactly one ledger message for its job id, or 'cancelled' (RUN_CANCELLED) with none;
    invalid numbers 'failed' INVALID_PHONE; the ledger holds nothing else of A;
  * A ends 'cancelled' with completed_at, its logs name who and why; B completes with every
    recipient sent exactly once, and had messages accepted after the cancel;
  * counters equal a recount (runs, daily_statistics incl. templates_used and
    workflows_executed); the cancelled run that sent something has its template_usage_logs row;
  * `msgfleet replay A --status cancelled` sends exactly the cancelled recipients: every valid
    recipient of A has exactly one accepted message across A and its replay; a second replay
    finds nothing.
--mode pause: run A is started; when it is sending, its workflow is paused the way the web UI
does it (UPDATE workflows SET status = 'paused'), then resumed with `msgfleet resume`. Checks:
the ledger count of A stops growing within --max-stop-s and stays still while paused,
`msgfleet watch` shows "running (paused)", an interval schedule of a paused workflow does not
fire; after the resume A completes, no job failed (other than INVALID_PHONE), every valid
recipient has exactly one ledger message, counters equal a recount.

The last line is `halt-check: mode=... result=ok|FAILED` with the measured numbers.
"""

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import campaign as cp  # noqa: E402  (scripts/campaign.py: psql, mysql, fleet, checks)


def say(msg):
    print(f"halt-check: {msg}", flush=True)


def ledger_count(sim_url, run_id):
    url = f"{sim_url}/_sim/ledger/count?field=runId&value={run_id}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())["count"]


def parse_ts(text):
    """ISO 8601 (the simulator's Z form or PostgreSQL's +00 form) to unix seconds."""
    t = text.strip().replace("Z", "+00:00")
    if t[-3] in "+-" and t[-3:].lstrip("+-").isdigit():
        t += ":00"
    return datetime.datetime.fromisoformat(t).timestamp()


def ledger_by_run(sim_url):
    """{run id: [(job id, accepted unix s)]} from the simulator's export."""
    runs = {}
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=120) as r:
        for line in r:
            if not line.strip():
                continue
            m = json.loads(line)
            cf = m.get("customFields") or {}
            runs.setdefault(cf.get("runId", ""), []).append(
                (cf.get("jobId", ""), parse_ts(m["acceptedAt"])))
    return runs


def start_run(build, dsn, workflow):
    rc, out = cp.msgfleet_cli(build, dsn, "run", workflow)
    if rc != 0:
        cp.die(f"msgfleet run {workflow}: {out}")
    return out.splitlines()[0].strip()


def add_workflow(dsn, name, query, status="active", schedule=None):
    """A copy of the sample SMS workflow with another name and target query."""
    row = cp.psql(dsn, "SELECT target_config::text, message_config::text, variables::text "
                       "FROM workflows WHERE name = '11월 회원 혜택 발송'")[0]
    target = json.loads(row[0])
    target["query"] = query
    trigger = "schedule" if schedule else "manual"
    return cp.psql(dsn, "INSERT INTO workflows (name, status, trigger_type, target_config, "
                        "message_config, variables, schedule_config) VALUES "
                        f"({cp.sql_quote(name)}, '{status}', '{trigger}', "
                        f"{cp.sql_quote(json.dumps(target, ensure_ascii=False))}, "
                        f"{cp.sql_quote(row[1])}, {cp.sql_quote(row[2])}, "
                        f"{cp.sql_quote(json.dumps(schedule or {}))}) RETURNING id")[0][0]


def wait_ended(dsn, run_id, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        r = cp.psql(dsn, "SELECT status, completed_at IS NOT NULL FROM workflow_runs "
                         f"WHERE id = '{run_id}'")[0]
        if r[1] == "t":
            return r[0]
        time.sleep(0.5)
    return None


def rows_of(dsn, run_id):
    return cp.psql(dsn, "SELECT id, recipient_phone, status, coalesce(error_code, '') "
                        f"FROM message_logs WHERE workflow_run_id = '{run_id}'")


def recount(dsn):
    """Every run's counters and every daily_statistics row against message_logs,
    template_usage_logs and workflow_runs (the definitions of docs/reporter.md)."""
    problems = []
    for rid, st, sc, fc, tc, n_s, n_f, n_c in cp.psql(dsn, """
            SELECT r.id, r.status, r.success_count, r.failed_count, r.total_cost,
              count(m.id) FILTER (WHERE m.status IN ('sent', 'delivered')),
              count(m.id) FILTER (WHERE m.status IN ('failed', 'cancelled')),
              coalesce(sum(m.cost), 0)
            FROM workflow_runs r LEFT JOIN message_logs m ON m.workflow_run_id = r.id
            GROUP BY r.id"""):
        if (int(sc), int(fc)) != (int(n_s), int(n_f)) or abs(float(tc) - float(n_c)) > 0.005:
            problems.append(f"run {rid} ({st}): counters {sc}/{fc}/{tc} != recount "
                            f"{n_s}/{n_f}/{n_c}")
    for day, k, stored, counted in cp.psql(dsn, """
            WITH ev AS (
              SELECT (sent_at AT TIME ZONE 'Asia/Seoul')::date d, 1 ms, 0 mf, cost tc, 0 we,
                     0 tu FROM message_logs WHERE status IN ('sent', 'delivered')
              UNION ALL SELECT (failed_at AT TIME ZONE 'Asia/Seoul')::date, 0, 1, 0, 0, 0
                FROM message_logs WHERE status IN ('failed', 'cancelled')
              UNION ALL SELECT (completed_at AT TIME ZONE 'Asia/Seoul')::date, 0, 0, 0, 1, 0
                FROM workflow_runs WHERE status = 'completed'
              UNION ALL SELECT (used_at AT TIME ZONE 'Asia/Seoul')::date, 0, 0, 0, 0, 1
                FROM template_usage_logs WHERE workflow_run_id IS NOT NULL),
            c AS (SELECT d, sum(ms) ms, sum(mf) mf, coalesce(sum(tc), 0) tc, sum(we) we,
                         sum(tu) tu FROM ev GROUP BY d),
            j AS (SELECT coalesce(s.stat_date, c.d) d,
                    coalesce(s.messages_sent, 0) s1, coalesce(c.ms, 0) c1,
                    coalesce(s.messages_failed, 0) s2, coalesce(c.mf, 0) c2,
                    coalesce(s.total_cost, 0) s3, coalesce(c.tc, 0) c3,
                    coalesce(s.workflows_executed, 0) s4, coalesce(c.we, 0) c4,
                    coalesce(s.templates_used, 0) s5, coalesce(c.tu, 0) c5
                  FROM daily_statistics s FULL JOIN c ON c.d = s.stat_date)
            SELECT d, x.k, x.s, x.c FROM j CROSS JOIN LATERAL (VALUES
              ('messages_sent', s1::numeric, c1::numeric), ('messages_failed', s2, c2),
              ('total_cost', s3, c3), ('workflows_executed', s4, c4),
              ('templates_used', s5, c5)) AS x(k, s, c)
            WHERE x.s <> x.c"""):
        problems.append(f"daily_statistics {day} {k}: stored {stored}, recount {counted}")
    return problems


def expected_valid(mysql_db, max_id=None):
    expected, invalid = cp.expected_outcomes(mysql_db)
    if max_id is None:
        return set(expected), invalid
    rows = cp.mysql_rows(mysql_db, f"SELECT id, phone FROM customers WHERE id <= {max_id} "
                                   "ORDER BY id")
    valid, bad = set(), 0
    for _, phone in rows:
        norm = cp.normalise_phone(phone)
        if norm is None:
            bad += 1
        else:
            valid.add(norm)
    return valid, bad


def check_rows(dsn, run_id, valid, invalid, ledger, allow_cancelled):
    """One row per recipient; sent rows with one ledger message each, nothing else in the
    ledger; cancelled rows (when allowed) with none."""
    problems = []
    rows = rows_of(dsn, run_id)
    acc = {}
    for job, _ in ledger.get(run_id, []):
        acc[job] = acc.get(job, 0) + 1
    phones = {}
    for rid, phone, status, code in rows:
        phones.setdefault(phone, []).append((rid, status, code))
    if len(rows) != len(valid) + invalid:
        problems.append(f"run {run_id}: {len(rows)} rows, expected {len(valid) + invalid}")
    counts = {"sent": 0, "cancelled": 0, "invalid": 0}
    bad = 0
    for phone in valid:
        got = phones.get(phone, [])
        if len(got) != 1:
            bad += 1
            if bad <= 3:
                problems.append(f"run {run_id}: recipient {phone[:3]}****{phone[-4:]} has "
                                f"{len(got)} rows")
            continue
        rid, status, code = got[0]
        if status in ("sent", "delivered") and acc.get(rid, 0) == 1:
            counts["sent"] += 1
        elif allow_cancelled and status == "cancelled" and code == "RUN_CANCELLED" \
                and acc.get(rid, 0) == 0:
            counts["cancelled"] += 1
        else:
            bad += 1
            if bad <= 3:
                problems.append(f"run {run_id}: row {rid} is {status} {code} with "
                                f"{acc.get(rid, 0)} ledger messages")
    counts["invalid"] = sum(1 for r in rows if r[2] == "failed" and r[3] == "INVALID_PHONE")
    if counts["invalid"] != invalid:
        problems.append(f"run {run_id}: {counts['invalid']} INVALID_PHONE rows, "
                        f"expected {invalid}")
    sent_ids = {r[0] for r in rows if r[2] in ("sent", "delivered")}
    stray = sum(n for job, n in acc.items() if job not in sent_ids)
    if stray:
        problems.append(f"run {run_id}: {stray} ledger messages without a sent row")
    if bad:
        problems.append(f"run {run_id}: {bad} recipients without exactly one consistent row")
    return problems, counts


def log_event(dsn, run_id, event):
    r = cp.psql(dsn, "SELECT e->>'ts', coalesce(e->'detail'->>'by', ''), "
                     "coalesce(e->'detail'->>'reason', '') FROM workflow_runs, "
                     "jsonb_array_elements(logs) e "
                     f"WHERE id = '{run_id}' AND e->>'event' = '{event}' LIMIT 1")
    return r[0] if r else None


def sender_metrics(workdir, senders):
    """Sum of each sample over the senders' /metrics (ports from their `http listening` line)."""
    total = {}
    for i in range(senders):
        port = None
        with open(os.path.join(workdir, f"sender-{i + 1}.log"), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                if '"http listening"' in line:
                    port = json.loads(line).get("port")
                    break
        if port is None:
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    key, _, val = line.rpartition(" ")
                    total[key] = total.get(key, 0.0) + float(val)
    return total


def metric_sum(metrics, prefix, must=""):
    return int(sum(v for k, v in metrics.items() if k.startswith(prefix) and must in k))


def fleet_env_for(a, fleet):
    fleet.env.update({"MF_SENDER_RATE_LIMIT": str(a.rate), "MF_SENDER_TEMPLATE_TTL_MS": "1000",
                      "MF_PLANNER_POLL_MS": "50"})


# ---------------------------------------------------------------- cancel

def mode_cancel(a, dsn, name, sim_url, fleet, workdir):
    problems, facts = [], {}
    wf_a = cp.psql(dsn, "SELECT id FROM workflows WHERE name = '11월 회원 혜택 발송'")[0][0]
    wf_b = add_workflow(dsn, "동시 발송 캠페인",
                        f"SELECT id, name, phone FROM customers WHERE id <= {a.other}")
    run_a = start_run(a.build, dsn, wf_a)
    run_b = start_run(a.build, dsn, wf_b)
    say(f"run A {run_a} ({a.customers} customers), run B {run_b} (first {a.other})")
    valid_a, invalid_a = expected_valid(name)
    valid_b, invalid_b = expected_valid(name, a.other)
    deadline = time.time() + a.timeout
    seen = []  # (time, A's count): A must be sending at the moment of the cancel
    while True:
        fleet.check_alive()
        now, ca, cb = time.time(), ledger_count(sim_url, run_a), ledger_count(sim_url, run_b)
        seen.append((now, ca))
        recent = [c for t, c in seen if t >= now - 0.3]
        rate = (ca - recent[0]) / 0.3
        # B's jobs may queue behind A's in the jobs topic: wait for B's first sends until A is
        # 70 % through (at half, B had sent nothing yet in one suite run on a busy machine),
        # which still leaves A seconds of sending for the cancel to stop
        if ca >= a.cancel_at * len(valid_a) and cb > 0 and rate > 0 and ca < len(valid_a) * 0.7:
            break
        if time.time() > deadline or ca >= len(valid_a) * 0.7:
            cp.die(f"no moment with A and B both sending found (A {ca}, B {cb})")
        time.sleep(0.05)
    facts["a_rate_at_cancel"] = f"{rate:.0f}/s"
    say(f"cancelling A at {ca} accepted, sending at about {rate:.0f}/s (B at {cb})")
    rc, out = cp.msgfleet_cli(a.build, dsn, "cancel", run_a, "--reason", "wrong coupon code")
    print(out, end="", flush=True)
    if rc != 0:
        problems.append(f"msgfleet cancel exited {rc}")
    ev = log_event(dsn, run_a, "cancelled")
    if ev is None:
        cp.die("no 'cancelled' entry in run A's logs")
    t_cancel = parse_ts(ev[0])
    if not ev[1].startswith("cli:") or ev[2] != "wrong coupon code":
        problems.append(f"cancel log entry names {ev[1]!r} / {ev[2]!r}")
    # the ledger count of A must stop growing: sample it for a few seconds
    samples = []
    while time.time() < t_cancel + a.max_stop_s + 3:
        samples.append((time.time(), ledger_count(sim_url, run_a)))
        time.sleep(0.1)
    status_a = wait_ended(dsn, run_a, a.timeout)
    status_b = wait_ended(dsn, run_b, a.timeout)
    fleet.check_alive()
    if status_a != "cancelled":
        problems.append(f"run A ended {status_a}, expected cancelled with completed_at")
    if status_b != "completed":
        problems.append(f"run B ended {status_b}, expected completed")
    led = ledger_by_run(sim_url)
    times_a = sorted(t for _, t in led.get(run_a, []))
    times_b = sorted(t for _, t in led.get(run_b, []))
    last_a = times_a[-1] if times_a else t_cancel
    stop_s = last_a - t_cancel
    after = sum(1 for t in times_a if t > t_cancel)
    grew = [c for t, c in samples if t > t_cancel + a.max_stop_s]
    facts.update(stop_s=stop_s, accepted_after_cancel=after, sent_a=len(times_a))
    say(f"A: last accepted message {stop_s * 1000:.0f} ms after the cancel "
        f"({after} accepted after it, in flight); ledger count {len(times_a)}")
    if stop_s > a.max_stop_s:
        problems.append(f"A's last message was accepted {stop_s:.3f} s after the cancel "
                        f"(limit {a.max_stop_s} s)")
    if grew and (min(grew) != max(grew) or max(grew) != len(times_a)):
        problems.append(f"A's ledger count still moved {a.max_stop_s} s after the cancel: "
                        f"{min(grew)}..{max(grew)}, final {len(times_a)}")
    if not times_b or times_b[-1] <= t_cancel or times_b[0] >= t_cancel:
        problems.append("B was not sending before and after the cancel")
    p, ca_ = check_rows(dsn, run_a, valid_a, invalid_a, led, True)
    problems += p
    p, cb_ = check_rows(dsn, run_b, valid_b, invalid_b, led, False)
    problems += p
    facts.update(a_sent=ca_["sent"], a_cancelled=ca_["cancelled"], b_sent=cb_["sent"])
    say(f"A: {ca_['sent']} sent, {ca_['cancelled']} cancelled, {ca_['invalid']} invalid; "
        f"B: {cb_['sent']} sent of {len(valid_b)}")
    if ca_["cancelled"] == 0 or ca_["sent"] == 0:
        problems.append("the cancel did not land mid-flight (nothing sent or nothing cancelled)")
    if not log_event(dsn, run_a, "finished"):
        problems.append("run A has no 'finished' log entry")
    m = sender_metrics(workdir, a.senders)
    m_cancelled = metric_sum(m, "msgfleet_sender_messages_total{", 'status="cancelled"')
    facts.update(groups_deleted=metric_sum(m, "msgfleet_sender_groups_deleted_total"))
    if m_cancelled != ca_["cancelled"]:
        problems.append(f"senders' /metrics count {m_cancelled} cancelled jobs, "
                        f"message_logs {ca_['cancelled']}")
    tu = cp.psql(dsn, f"SELECT count(*), bool_and(NOT success) FROM template_usage_logs "
                      f"WHERE workflow_run_id = '{run_a}'")[0]
    if tu[0] != "1" or tu[1] != "t":
        problems.append(f"template_usage_logs of A: {tu[0]} rows, all unsuccessful {tu[1]}")
    problems += recount(dsn)
    # resend the cancelled recipients: exactly them, each once
    rc, out = cp.msgfleet_cli(a.build, dsn, "replay", run_a, "--status", "cancelled",
                              "--watch", "--timeout", str(int(a.timeout)))
    ids = [x.strip() for x in out.splitlines() if len(x.strip()) == 36 and x.count("-") == 4]
    if rc != 0 or not ids:
        problems.append(f"replay of the cancelled recipients failed (exit {rc}): {out[-300:]}")
        return problems, facts
    replay = ids[0]
    led = ledger_by_run(sim_url)
    sent_r = cp.psql(dsn, "SELECT count(*) FILTER (WHERE status IN ('sent', 'delivered')), "
                          f"count(*) FROM message_logs WHERE workflow_run_id = '{replay}'")[0]
    if (int(sent_r[0]), int(sent_r[1])) != (ca_["cancelled"], ca_["cancelled"]):
        problems.append(f"replay sent {sent_r[0]} of {sent_r[1]} rows, "
                        f"{ca_['cancelled']} cancelled recipients expected")
    per_phone = {}
    for rid, phone, status, _ in rows_of(dsn, run_a) + rows_of(dsn, replay):
        if status in ("sent", "delivered"):
            per_phone[phone] = per_phone.get(phone, 0) + 1
    ledger_ids = {}
    for run in (run_a, replay):
        for job, _ in led.get(run, []):
            ledger_ids[job] = ledger_ids.get(job, 0) + 1
    once = sum(1 for ph in valid_a if per_phone.get(ph, 0) == 1)
    dup = sum(1 for n in ledger_ids.values() if n > 1) + \
        sum(1 for n in per_phone.values() if n > 1)
    if once != len(valid_a) or dup or sum(ledger_ids.values()) != len(valid_a):
        problems.append(f"after the replay: {once} of {len(valid_a)} recipients sent once, "
                        f"{dup} twice, {sum(ledger_ids.values())} ledger messages")
    rc, out = cp.msgfleet_cli(a.build, dsn, "replay", run_a, "--status", "cancelled")
    if rc != 0 or "nothing to replay" not in out:
        problems.append(f"second replay: exit {rc}, {out[-200:]!r}")
    problems += recount(dsn)
    facts["replayed"] = int(sent_r[0])
    return problems, facts


# ---------------------------------------------------------------- pause

def mode_pause(a, dsn, name, sim_url, fleet, workdir):
    problems, facts = [], {}
    wf_a = cp.psql(dsn, "SELECT id FROM workflows WHERE name = '11월 회원 혜택 발송'")[0][0]
    wf_s = add_workflow(dsn, "1초 간격 알림", "SELECT id, name, phone FROM customers WHERE id <= 5",
                        status="paused", schedule={"type": "interval", "every_s": 1})
    run_a = start_run(a.build, dsn, wf_a)
    valid_a, invalid_a = expected_valid(name)
    deadline = time.time() + a.timeout
    while ledger_count(sim_url, run_a) < a.cancel_at * len(valid_a):
        fleet.check_alive()
        if time.time() > deadline:
            cp.die("run A does not send")
        time.sleep(0.05)
    t_pause = time.time()
    cp.psql(dsn, f"UPDATE workflows SET status = 'paused' WHERE id = '{wf_a}'")
    say(f"workflow of run A paused (web UI way) at {ledger_count(sim_url, run_a)} accepted")
    time.sleep(a.max_stop_s)
    held1 = ledger_count(sim_url, run_a)
    rc, out = cp.msgfleet_cli(a.build, dsn, "watch", run_a, "--timeout", "1")
    if "running (paused)" not in out:
        problems.append(f"msgfleet watch does not show the pause: {out[-200:]!r}")
    time.sleep(a.hold_s)
    held2 = ledger_count(sim_url, run_a)
    st = cp.psql(dsn, f"SELECT status FROM workflow_runs WHERE id = '{run_a}'")[0][0]
    failed = int(cp.psql(dsn, "SELECT count(*) FROM message_logs WHERE workflow_run_id = "
                              f"'{run_a}' AND status <> 'sent' AND status <> 'delivered' "
                              "AND error_code IS DISTINCT FROM 'INVALID_PHONE'")[0][0])
    fired = int(cp.psql(dsn, "SELECT count(*) FROM workflow_runs "
                             f"WHERE workflow_id = '{wf_s}'")[0][0])
    led = ledger_by_run(sim_url)
    last = max(t for _, t in led.get(run_a, [(None, t_pause)]))
    facts.update(held_at=held1, stop_s=last - t_pause)
    say(f"paused: {held1} then {held2} accepted over {a.hold_s} s; last message "
        f"{(last - t_pause) * 1000:.0f} ms after the pause; run {st}; {failed} failed")
    if held1 != held2:
        problems.append(f"run A kept sending while paused: {held1} -> {held2}")
    if held2 >= len(valid_a):
        problems.append("run A finished before the pause took effect")
    if last - t_pause > a.max_stop_s:
        problems.append(f"last message {last - t_pause:.3f} s after the pause")
    if st != "running" or failed:
        problems.append(f"while paused: run {st}, {failed} rows not sent")
    if fired:
        problems.append(f"the paused schedule fired {fired} run(s)")
    # a run started while its workflow is paused waits unclaimed; cancelled the web UI way
    # (a plain UPDATE, no log entry, no CLI) it ends by itself with nothing sent
    run_w = start_run(a.build, dsn, wf_a)
    time.sleep(1.0)
    owner = cp.psql(dsn, "SELECT coalesce(planner_owner, ''), status FROM workflow_runs "
                         f"WHERE id = '{run_w}'")[0]
    if owner != ["", "running"]:
        problems.append(f"a run of the paused workflow was claimed: {owner}")
    cp.psql(dsn, f"UPDATE workflow_runs SET status = 'cancelled' WHERE id = '{run_w}'")
    t_ui = time.time()
    ended = wait_ended(dsn, run_w, 30)
    facts["ui_cancel_end_s"] = time.time() - t_ui
    if ended != "cancelled" or rows_of(dsn, run_w):
        problems.append(f"the unclaimed run cancelled in the web UI ended {ended} with "
                        f"{len(rows_of(dsn, run_w))} rows")
    m = sender_metrics(workdir, a.senders)
    facts["jobs_paused"] = metric_sum(m, "msgfleet_sender_jobs_paused_total")
    if facts["jobs_paused"] == 0:
        problems.append("the senders' /metrics count no paused job")
    rc, out = cp.msgfleet_cli(a.build, dsn, "resume", wf_a)
    print(out, end="", flush=True)
    if rc != 0:
        problems.append(f"msgfleet resume exited {rc}")
    status = wait_ended(dsn, run_a, a.timeout)
    fleet.check_alive()
    if status != "completed":
        problems.append(f"run A ended {status} after the resume")
    led = ledger_by_run(sim_url)
    p, c = check_rows(dsn, run_a, valid_a, invalid_a, led, False)
    problems += p
    problems += recount(dsn)
    facts.update(sent=c["sent"])
    say(f"after the resume: {c['sent']} of {len(valid_a)} recipients sent once")
    return problems, facts


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR",
                                                      os.path.join(cp.ROOT, "build")))
    ap.add_argument("--mode", choices=("cancel", "pause"), required=True)
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--other", type=int, default=60000,
                    help="customers of run B (cancel mode), the first N")
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--rate", type=float, default=4000,
                    help="MF_SENDER_RATE_LIMIT of each sender (keeps the runs in flight)")
    ap.add_argument("--cancel-at", type=float, default=0.2,
                    help="fraction of A's recipients accepted when it is cancelled / paused")
    ap.add_argument("--max-stop-s", type=float, default=2.0)
    ap.add_argument("--hold-s", type=float, default=4.0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)

    t0 = time.time()
    name = f"mftest_halt_{random.randrange(16**6):06x}"
    admin_dsn = cp.env("MF_PG_DSN")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    say(f"workspace {workdir}; databases {name}")
    dsn = cp.create_pg_database(admin_dsn, name, a.build)
    cp.load_mysql(name, a.customers, 1)
    cp.seed_platform(dsn, name)
    fleet = cp.Fleet(a.build, workdir, {})
    problems, facts = ["did not finish"], {}
    try:
        sim_url = cp.start_simulator(fleet, cp.free_port())
        fleet.env = cp.fleet_env(dsn, f"{name}.", sim_url, name)
        fleet_env_for(a, fleet)
        cp.start_fleet(fleet, a.senders, planners=2)
        time.sleep(0.5)
        fleet.check_alive()
        if a.mode == "cancel":
            problems, facts = mode_cancel(a, dsn, name, sim_url, fleet, workdir)
        else:
            problems, facts = mode_pause(a, dsn, name, sim_url, fleet, workdir)
    finally:
        fleet.stop()
        if not a.keep:
            cp.drop_databases(admin_dsn, name)
    for p in problems:
        print(f"halt-check: FAIL: {p}", flush=True)
    shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in facts.items())
    say(f"mode={a.mode} customers={a.customers} {shown} seconds={time.time() - t0:.0f} "
        f"result={'ok' if not problems else 'FAILED'}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

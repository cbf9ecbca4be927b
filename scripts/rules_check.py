#!/usr/bin/env python3
"""rules_check: the sending rules of docs/compliance.md end to end, checked on the ledger.

Like scripts/halt_check.py (whose helpers it uses) it creates a database pair, seeds the sample
platform, starts its own CoolSMS simulator and a fleet, and checks the outcome independently of
the fleet's code: on the simulator's ledger (/_sim/ledger/export) and in PostgreSQL.

--mode consent: a promotion SMS workflow whose target query carries a consent column
(message_config.advertising.night_consent_column; even ids consent) and a Kakao promotion
workflow. For each clock point 20:59, 21:00, 07:59 and 08:00 KST a sender is started with its
advertising clock set there (MF_SENDER_CLOCK_OFFSET_MS) and one run of each workflow is sent:
  * 20:59 and 08:00: every SMS recipient is sent; at 20:59 the Kakao run is held (Kakao
    advertising goes only 08:00-20:00), at 08:00 it is sent;
  * 21:00: only the consenting SMS recipients are sent; no Kakao message; the others have no
    message_logs row (deferred, not failed);
  * 07:59: the same, then at 08:00 (60 s later) the others and the Kakao run go out: each of
    their ledger messages is accepted at or after the real time of 08:00.
--mode quota: the simulator's daily quota is set below the run's size. The fleet stops before
it: the ledger count stops at or under the quota, no message fails at the provider
(quota_failed 0) or in message_logs, the run stays 'running' with send_hold 'quota' and a
'quota_hold' log entry. The quota is raised: the run resumes ('quota_resumed'), completes, and
every valid recipient has exactly one ledger message.
--mode wfrate: a workflow with message_config.rate_per_minute takes recipients / rate, and an
unlimited run started beside it completes without waiting for it.
--mode rate: 2 senders share MF_SENDER_ACCOUNT_RATE. From the ledger's acceptedAt times: no
window of --window-s seconds holds more than rate x window + burst (+ --tolerance), and the
run takes at least (recipients - burst) / rate x (1 - tolerance).

The last line is `rules-check: mode=... result=ok|FAILED` with the measured numbers.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import campaign as cp  # noqa: E402
import halt_check as hc  # noqa: E402

KST = 9 * 3600
PROMO_SMS = "#{name}님, 이번 주 특가 쿠폰 #{coupon}"
PROMO_KAKAO = "#{name}님, 이번 주 특가 소식입니다."


def say(msg):
    print(f"rules-check: {msg}", flush=True)


def sim_stats(sim_url):
    with urllib.request.urlopen(f"{sim_url}/_sim/stats", timeout=10) as r:
        return json.loads(r.read())


def add_promo_workflows(dsn, mysql_db, max_id):
    """A promotion SMS workflow with a consent column, and a Kakao promotion workflow."""
    sms_tpl = cp.psql(dsn, "INSERT INTO message_templates (name, category, message_type, "
                           "content, variables) VALUES ('주간 특가', 'promotion', 'sms', "
                           f"{cp.sql_quote(PROMO_SMS)}, '[\"name\",\"coupon\"]') "
                           "RETURNING id")[0][0]
    kakao_tpl = cp.psql(dsn, "INSERT INTO message_templates (name, category, message_type, "
                             "template_code, content, variables) VALUES ('주간 특가 알림', "
                             f"'promotion', 'kakao', 'TPL_PROMO_01', {cp.sql_quote(PROMO_KAKAO)}, "
                             "'[\"name\"]') RETURNING id")[0][0]
    query = ("SELECT id, name, phone, CASE WHEN id % 2 = 0 THEN 'Y' ELSE 'N' END "
             f"AS night_ad_consent FROM customers WHERE id <= {max_id}")
    target = {"source": "mysql", "query": query, "key_column": "id",
              "phone_column": "phone", "name_column": "name", "database": mysql_db}
    ad = {"sender_name": "msgfleet 샵", "opt_out": "무료수신거부 080-123-4567",
          "night_consent_column": "night_ad_consent"}
    variables = {"name": {"source": "column", "column": "name", "default": "고객"},
                 "coupon": {"source": "static", "value": "WEEK10"}}
    ids = []
    for name, tpl in (("주간 특가 문자", sms_tpl), ("주간 특가 카카오", kakao_tpl)):
        message = {"template_id": tpl, "sender_number": cp.env("MF_COOLSMS_SENDER"),
                   "advertising": ad}
        ids.append(cp.psql(dsn, "INSERT INTO workflows (name, status, trigger_type, "
                                "target_config, message_config, variables) VALUES "
                                f"({cp.sql_quote(name)}, 'active', 'manual', "
                                f"{cp.sql_quote(json.dumps(target, ensure_ascii=False))}, "
                                f"{cp.sql_quote(json.dumps(message, ensure_ascii=False))}, "
                                f"{cp.sql_quote(json.dumps(variables, ensure_ascii=False))}) "
                                "RETURNING id")[0][0])
    return ids


def consent_by_phone(mysql_db, max_id):
    """{valid phone: consents} as the planner sees it (the lowest id of a phone wins)."""
    out = {}
    for cid, phone in cp.mysql_rows(mysql_db, f"SELECT id, phone FROM customers WHERE id <= "
                                              f"{max_id} ORDER BY id"):
        norm = cp.normalise_phone(phone)
        if norm is not None and norm not in out:
            out[norm] = int(cid) % 2 == 0
    return out


def kst_point(hh, mm):
    """Unix seconds of the next hh:mm KST from now (today or tomorrow)."""
    now = time.time()
    day0 = (now + KST) // 86400 * 86400 - KST
    t = day0 + hh * 3600 + mm * 60
    return t if t > now else t + 86400


def stop_proc(fleet, name):
    for i, (n, p, logf) in enumerate(fleet.procs):
        if n == name:
            p.terminate()
            try:
                p.wait(timeout=25)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            logf.close()
            del fleet.procs[i]
            return


def run_rows(dsn, run_id):
    """{phone: (status, job id)} of a run's message_logs rows."""
    return {r[0]: (r[1], r[2]) for r in cp.psql(
        dsn, "SELECT recipient_phone, status, id FROM message_logs "
             f"WHERE workflow_run_id = '{run_id}' AND error_code IS DISTINCT FROM 'INVALID_PHONE'")}


def wait_rows(dsn, run_id, want, timeout_s, fleet):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        fleet.check_alive()
        rows = run_rows(dsn, run_id)
        if len(rows) >= want:
            return rows
        time.sleep(0.3)
    return run_rows(dsn, run_id)


def mode_consent(a, dsn, name, sim_url, fleet, workdir):
    problems, facts = [], {}
    wf_sms, wf_kakao = add_promo_workflows(dsn, name, a.max_id)
    consent = consent_by_phone(name, a.max_id)
    yes = {p for p, c in consent.items() if c}
    sender = cp.binary(a.build, "sender/msgfleet-sender")
    points = [(20, 59), (21, 0), (7, 59), (8, 0)]
    for hh, mm in points:
        label = f"{hh:02d}:{mm:02d}"
        t_start = time.time()
        offset_ms = int((kst_point(hh, mm) - t_start) * 1000)
        fleet.start(f"sender-{label}", [sender],
                    {"MF_INSTANCE_ID": f"sender-{label.replace(':', '')}",
                     "MF_SENDER_CLOCK_OFFSET_MS": str(offset_ms)})
        run_s = hc.start_run(a.build, dsn, wf_sms)
        run_k = hc.start_run(a.build, dsn, wf_kakao)
        night = (hh, mm) in ((21, 0), (7, 59))
        sms_now = yes if night else set(consent)
        kakao_now = set(consent) if (hh, mm) == (8, 0) else set()
        rows_s = wait_rows(dsn, run_s, len(sms_now), a.timeout, fleet)
        rows_k = wait_rows(dsn, run_k, len(kakao_now), a.timeout if kakao_now else 0, fleet)
        time.sleep(a.settle_s)  # nothing else may go out meanwhile
        rows_s, rows_k = run_rows(dsn, run_s), run_rows(dsn, run_k)
        led = hc.ledger_by_run(sim_url)
        got_s = set(rows_s)
        if got_s != sms_now:
            problems.append(f"{label}: SMS rows for {len(got_s)} recipients, expected "
                            f"{len(sms_now)} ({len(got_s - sms_now)} unexpected, "
                            f"{len(sms_now - got_s)} missing)")
        if set(rows_k) != kakao_now:
            problems.append(f"{label}: {len(rows_k)} Kakao rows, expected {len(kakao_now)}")
        bad = [r for r in list(rows_s.values()) + list(rows_k.values())
               if r[0] not in ("sent", "delivered")]
        if bad:
            problems.append(f"{label}: {len(bad)} rows not sent: {bad[:3]}")
        for run, want in ((run_s, sms_now), (run_k, kakao_now)):
            n = len(led.get(run, []))
            if n != len(want):
                problems.append(f"{label}: ledger holds {n} messages of run {run}, "
                                f"expected {len(want)}")
        say(f"{label} KST: SMS {len(rows_s)} sent of {len(consent)} ({len(yes)} consent), "
            f"Kakao {len(rows_k)} sent")
        facts[f"sms_{label}"] = len(rows_s)
        facts[f"kakao_{label}"] = len(rows_k)
        if (hh, mm) == (7, 59):
            # the rest goes at the sender's 08:00: 60 s after the offset was taken
            t8 = t_start + 60
            rows_s = wait_rows(dsn, run_s, len(consent), a.timeout + 60, fleet)
            rows_k = wait_rows(dsn, run_k, len(consent), a.timeout, fleet)
            led = hc.ledger_by_run(sim_url)
            first = {v[1] for p, v in rows_s.items() if p in yes}  # consent: sent at 07:59
            late = [(j, t) for run in (run_s, run_k) for j, t in led.get(run, [])
                    if run == run_k or j not in first]
            early = [t for _, t in late if t < t8 - 0.5]
            if len(rows_s) != len(consent) or len(rows_k) != len(consent):
                problems.append(f"07:59: after 08:00 {len(rows_s)} SMS and {len(rows_k)} Kakao "
                                f"rows, expected {len(consent)} each")
            for run in (run_s, run_k):
                if len(led.get(run, [])) != len(consent):
                    problems.append(f"07:59: ledger holds {len(led.get(run, []))} messages of "
                                    f"run {run}, expected {len(consent)}")
            if early:
                problems.append(f"07:59: {len(early)} deferred messages accepted before 08:00")
            facts["deferred_sent_at_0800"] = len(late)
            say(f"08:00 KST: SMS {len(rows_s)}, Kakao {len(rows_k)} sent; the {len(late)} "
                f"deferred ones all at or after 08:00 (first "
                f"{min(t for _, t in late) - t8:+.2f} s)" if late else "08:00 KST: nothing deferred")
        stop_proc(fleet, f"sender-{label}")
    failed = cp.psql(dsn, "SELECT count(*) FROM message_logs WHERE status = 'failed' "
                          "AND error_code IS DISTINCT FROM 'INVALID_PHONE'")[0][0]
    if int(failed):
        problems.append(f"{failed} message_logs rows failed")
    return problems, facts


def mode_quota(a, dsn, name, sim_url, fleet, workdir):
    problems, facts = [], {}
    valid, invalid = hc.expected_valid(name)
    wf = cp.psql(dsn, "SELECT id FROM workflows WHERE name = '11월 회원 혜택 발송'")[0][0]
    cp.sim_config(sim_url, {"daily_quota": a.quota})
    cp.start_fleet(fleet, a.senders)
    run = hc.start_run(a.build, dsn, wf)
    deadline = time.time() + a.timeout
    while True:
        fleet.check_alive()
        # to_jsonb: the same query answers on a schema without send_hold (older fleets)
        hold = cp.psql(dsn, "SELECT coalesce(to_jsonb(r)->>'send_hold', '-') "
                            f"FROM workflow_runs r WHERE id = '{run}'")[0][0]
        done = hc.ledger_count(sim_url, run) + sim_stats(sim_url)["quota_failed"] >= len(valid)
        if hold == "quota" or done or time.time() > deadline:
            break
        time.sleep(0.2)
    if hold != "quota":
        problems.append("the run was never held at the quota")
    time.sleep(a.settle_s)
    held1 = hc.ledger_count(sim_url, run)
    time.sleep(a.settle_s)
    held2 = hc.ledger_count(sim_url, run)
    st = cp.psql(dsn, f"SELECT status FROM workflow_runs WHERE id = '{run}'")[0][0]
    failed = int(cp.psql(dsn, "SELECT count(*) FROM message_logs WHERE workflow_run_id = "
                              f"'{run}' AND status NOT IN ('sent', 'delivered') "
                              "AND error_code IS DISTINCT FROM 'INVALID_PHONE'")[0][0])
    qfail = sim_stats(sim_url)["quota_failed"]
    ev = hc.log_event(dsn, run, "quota_hold")
    say(f"held at the quota {a.quota}: {held1} then {held2} accepted, run {st}, "
        f"{failed} failed, provider quota failures {qfail}")
    facts.update(quota=a.quota, held_at=held2)
    if held1 != held2 or held2 > a.quota or held2 == 0:
        problems.append(f"ledger while held: {held1} -> {held2} (quota {a.quota})")
    if st != "running" or failed or qfail:
        problems.append(f"while held: run {st}, {failed} failed rows, {qfail} quota failures")
    if ev is None:
        problems.append("no quota_hold entry in the run's logs")
    cp.sim_config(sim_url, {"daily_quota": 1000000})
    t_raise = time.time()
    status = hc.wait_ended(dsn, run, a.timeout)
    facts["resume_s"] = time.time() - t_raise
    if status != "completed":
        problems.append(f"after the quota was raised the run ended {status}")
    if hc.log_event(dsn, run, "quota_resumed") is None:
        problems.append("no quota_resumed entry in the run's logs")
    led = hc.ledger_by_run(sim_url)
    p, c = hc.check_rows(dsn, run, valid, invalid, led, False)
    problems += p
    qfail = sim_stats(sim_url)["quota_failed"]
    if qfail:
        problems.append(f"{qfail} messages failed at the provider on the quota")
    problems += hc.recount(dsn)
    say(f"after the raise: {c['sent']} of {len(valid)} sent once, completed in "
        f"{facts['resume_s']:.1f} s")
    facts["sent"] = c["sent"]
    return problems, facts


def mode_rate(a, dsn, name, sim_url, fleet, workdir):
    problems, facts = [], {}
    valid, invalid = hc.expected_valid(name)
    wf = cp.psql(dsn, "SELECT id FROM workflows WHERE name = '11월 회원 혜택 발송'")[0][0]
    fleet.env["MF_SENDER_ACCOUNT_RATE"] = str(a.rate)
    fleet.env["MF_SENDER_ACCOUNT_BURST_MS"] = str(a.burst_ms)
    fleet.env["MF_SENDER_BATCH_MAX"] = "200"
    cp.start_fleet(fleet, a.senders)
    # a warm-up run creates the topics; the senders' group then spreads the partitions
    # (metadata refresh 5 s), so that every sender takes part in the measured run
    warm = hc.add_workflow(dsn, "워밍업", "SELECT id, name, phone FROM customers WHERE id <= 3")
    if hc.wait_ended(dsn, hc.start_run(a.build, dsn, warm), a.timeout) != "completed":
        problems.append("the warm-up run did not complete")
    time.sleep(8)
    warm_acc = [sender_accepted(workdir, i + 1) for i in range(a.senders)]
    run = hc.start_run(a.build, dsn, wf)
    status = hc.wait_ended(dsn, run, a.timeout)
    if status != "completed":
        problems.append(f"the run ended {status}")
    led = hc.ledger_by_run(sim_url)
    times = sorted(t for _, t in led.get(run, []))
    burst = a.rate * a.burst_ms / 1000.0
    worst, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= a.window_s:
            j += 1
        worst = max(worst, i - j + 1)
    limit = a.rate * a.window_s + burst
    span = times[-1] - times[0] if times else 0.0
    floor_s = (len(times) - burst) / a.rate * (1 - a.tolerance)
    full = int(span // a.window_s)  # consecutive full windows from the first message
    counts = [0] * max(full, 1)
    for t in times:
        k = int((t - times[0]) // a.window_s)
        if k < full:
            counts[k] += 1
    facts.update(window_min_rate=min(counts) / a.window_s if full else 0.0,
                 window_max_rate=max(counts) / a.window_s if full else 0.0)
    facts.update(messages=len(times), span_s=span, worst_window=worst,
                 window_limit=limit, mean_rate=(len(times) / span if span else 0.0))
    say(f"{len(times)} messages in {span:.2f} s with {a.senders} senders at "
        f"{a.rate}/s: busiest {a.window_s} s window {worst} (limit {limit:.0f}), "
        f"mean {facts['mean_rate']:.1f}/s")
    if worst > limit * (1 + a.tolerance):
        problems.append(f"a {a.window_s} s window holds {worst} messages, over "
                        f"{limit:.0f} x {1 + a.tolerance}")
    if span < floor_s:
        problems.append(f"the run took {span:.2f} s, under {floor_s:.2f} s")
    per_sender = [sender_accepted(workdir, i + 1) - w for i, w in enumerate(warm_acc)]
    facts["per_sender"] = "/".join(str(n) for n in per_sender)
    if a.senders > 1 and min(per_sender) == 0:
        problems.append(f"not every sender sent: {per_sender} (the rate is not shown shared)")
    p, c = hc.check_rows(dsn, run, valid, invalid, led, False)
    problems += p
    return problems, facts


def mode_wfrate(a, dsn, name, sim_url, fleet, workdir):
    """A workflow limited by message_config.rate_per_minute, and beside it an unlimited one
    started a second later on the same partitions: the limited run takes recipients / rate
    (within the tolerance x 2: a short run), the other is not held up by it."""
    problems, facts = [], {}
    valid, invalid = hc.expected_valid(name)
    wf = cp.psql(dsn, "SELECT id FROM workflows WHERE name = '11월 회원 혜택 발송'")[0][0]
    limited = hc.add_workflow(dsn, "분당 제한", "SELECT id, name, phone FROM customers")
    cp.psql(dsn, "UPDATE workflows SET message_config = message_config || "
                 f"jsonb_build_object('rate_per_minute', {a.per_min}) WHERE id = '{limited}'")
    fleet.env["MF_SENDER_BATCH_MAX"] = "200"
    cp.start_fleet(fleet, a.senders)
    warm = hc.add_workflow(dsn, "워밍업", "SELECT id, name, phone FROM customers WHERE id <= 3")
    if hc.wait_ended(dsn, hc.start_run(a.build, dsn, warm), a.timeout) != "completed":
        problems.append("the warm-up run did not complete")
    time.sleep(8)
    t0 = time.time()
    run_l = hc.start_run(a.build, dsn, limited)
    time.sleep(1.0)
    t1 = time.time()
    run_u = hc.start_run(a.build, dsn, wf)
    st_u = hc.wait_ended(dsn, run_u, a.timeout)
    free_s = time.time() - t1
    st_l = hc.wait_ended(dsn, run_l, a.timeout)
    led = hc.ledger_by_run(sim_url)
    times = sorted(t for _, t in led.get(run_l, []))
    took = times[-1] - t0 if times else 0.0
    want = len(times) / (a.per_min / 60.0)
    facts.update(per_min=a.per_min, messages=len(times), limited_s=took, expected_s=want,
                 unlimited_s=free_s)
    say(f"rate_per_minute {a.per_min}: {len(times)} messages in {took:.1f} s (expected "
        f"{want:.1f} s); the unlimited run beside it completed in {free_s:.1f} s")
    if st_l != "completed" or st_u != "completed":
        problems.append(f"runs ended {st_l} (limited) and {st_u} (unlimited)")
    if abs(took - want) > 2 * a.tolerance * want + 1.0:
        problems.append(f"the limited run took {took:.1f} s, expected {want:.1f} s")
    if free_s > want / 2:
        problems.append(f"the unlimited run took {free_s:.1f} s beside the limited one")
    for run in (run_l, run_u):
        p, _ = hc.check_rows(dsn, run, valid, invalid, led, False)
        problems += p
    return problems, facts


def sender_accepted(workdir, i):
    """The accepted count of sender i from its last "batch done" log line."""
    n = 0
    with open(os.path.join(workdir, f"sender-{i}.log"), encoding="utf-8", errors="replace") as f:
        for line in f:
            if '"batch done"' in line:
                n = json.loads(line).get("accepted", n)
    return n


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR",
                                                      os.path.join(cp.ROOT, "build")))
    ap.add_argument("--mode", choices=("consent", "quota", "rate", "wfrate"), required=True)
    ap.add_argument("--per-min", type=float, default=1200.0,
                    help="wfrate: message_config.rate_per_minute")
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--max-id", type=int, default=60, help="consent: recipients with id <= N")
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--quota", type=int, default=40)
    ap.add_argument("--rate", type=float, default=100.0, help="rate: MF_SENDER_ACCOUNT_RATE")
    ap.add_argument("--burst-ms", type=int, default=200)
    ap.add_argument("--window-s", type=float, default=2.0)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--settle-s", type=float, default=4.0)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--via-pgbouncer", action="store_true",
                    help="the fleet connects through PgBouncer (transaction pooling)")
    a = ap.parse_args(argv)

    t0 = time.time()
    name = f"mftest_rules_{random.randrange(16**6):06x}"
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
        fleet_dsn = dsn
        if a.via_pgbouncer:
            fleet_dsn = re.sub(r"port=\d+", f"port={cp.env('MF_PGBOUNCER_PORT')}", dsn)
            say("the fleet connects through PgBouncer (transaction pooling)")
        fleet.env = cp.fleet_env(fleet_dsn, f"{name}.", sim_url, name)
        fleet.env.update({"MF_SENDER_TEMPLATE_TTL_MS": "1000", "MF_PLANNER_POLL_MS": "50",
                          "MF_SENDER_QUOTA_CHECK_MS": "1000", "MF_SENDER_HALT_CHECK_MS": "500"})
        if a.mode == "consent":
            cp.start_fleet(fleet, 0)
            problems, facts = mode_consent(a, dsn, name, sim_url, fleet, workdir)
        elif a.mode == "quota":
            problems, facts = mode_quota(a, dsn, name, sim_url, fleet, workdir)
        elif a.mode == "rate":
            problems, facts = mode_rate(a, dsn, name, sim_url, fleet, workdir)
        else:
            problems, facts = mode_wfrate(a, dsn, name, sim_url, fleet, workdir)
    finally:
        fleet.stop()
        if not a.keep:
            cp.drop_databases(admin_dsn, name)
    for p in problems:
        print(f"rules-check: FAIL: {p}", flush=True)
    shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in facts.items())
    say(f"mode={a.mode} {shown} seconds={time.time() - t0:.0f} "
        f"result={'ok' if not problems else 'FAILED'}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

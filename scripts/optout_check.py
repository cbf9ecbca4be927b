#!/usr/bin/env python3
"""optout_check: opt-outs and the advertising frequency cap, end to end on the local stack.

Like scripts/campaign.py (whose helpers it uses) it creates its own database pair and topic
prefix, seeds the sample platform plus two advertising workflows (a promotion template), starts
the CoolSMS simulator and a fleet (1 planner, 2 senders, 1 reporter; PostgreSQL through
PgBouncer in transaction pooling), and checks every outcome independently of the fleet's code,
on the simulator's ledger and in PostgreSQL (docs/compliance.md):

  import   `msgfleet suppress import` of a file with bad lines reports each by its number,
           exits 1 and lists the good ones;
  optout   a number listed for 'advertising' gets no advertising message (OPTED_OUT row, no
           ledger message) but does get a non-advertising one; a number listed for 'all' gets
           neither;
  080      a number on the simulator's 080 list is answered 1061; the reporter lists it
           (source provider_080) and the next advertising run skips it (OPTED_OUT);
  sync     of two reporters with the sync on, one reads the simulator's whole 080 list
           (3 pages) into mf_suppressions and records the sync, the other skips it; the
           advertising ledger's rows older than 7 days are pruned;
  cap      with ad_frequency_cap {"per_24h":1}, two advertising runs started together on the
           same recipients with 2 senders: every recipient gets exactly one message in the
           ledger, the other row is FREQUENCY_CAPPED; a workflow override {"per_24h":2} lets
           one more through, the global cap none;
  race     mf_send_gate() called by two sessions at once through PgBouncer on the same phones
           (shuffled orders): exactly one job per phone is let through per window.

The last line is `optout-check: result=ok|FAILED` with the counts.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import campaign as cp  # noqa: E402  (scripts/campaign.py: psql, mysql, fleet, checks)

PROMO_TEMPLATE = "#{name}님, 12월 특가 쿠폰 #{coupon} 을 드립니다."
AD_CONFIG = {"sender_name": "msgfleet", "opt_out": "무료수신거부 0801234567",
             "quiet_hours": False}
PROBLEMS = []


def say(msg):
    print(f"optout-check: {msg}", flush=True)


def check(cond, what):
    if not cond:
        PROBLEMS.append(what)
        print(f"optout-check: FAIL: {what}", flush=True)
    return cond


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def ledger_rows(sim_url):
    """[(to, run id, job id)] of every accepted message."""
    out = []
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=60) as r:
        for line in r:
            if line.strip():
                m = json.loads(line)
                cf = m.get("customFields") or {}
                out.append((m["to"], cf.get("runId", ""), cf.get("jobId", "")))
    return out


def add_ad_workflows(dsn, mysql_db):
    tpl = cp.psql(dsn, "INSERT INTO message_templates (name, category, message_type, content, "
                       "variables) VALUES ('12월 특가', 'promotion', 'sms', "
                       f"{cp.sql_quote(PROMO_TEMPLATE)}, '[\"name\",\"coupon\"]') "
                       "RETURNING id")[0][0]
    row = cp.psql(dsn, "SELECT target_config::text, variables::text FROM workflows "
                       "WHERE name = '11월 회원 혜택 발송'")[0]
    message = {"template_id": tpl, "sender_number": cp.env("MF_COOLSMS_SENDER"),
               "advertising": AD_CONFIG}
    ids = []
    for name in ("12월 특가 A", "12월 특가 B"):
        ids.append(cp.psql(dsn, "INSERT INTO workflows (name, status, trigger_type, "
                                "target_config, message_config, variables) VALUES "
                                f"({cp.sql_quote(name)}, 'active', 'manual', "
                                f"{cp.sql_quote(row[0])}, {cp.sql_quote(json.dumps(message))}, "
                                f"{cp.sql_quote(row[1])}) RETURNING id")[0][0])
    return ids


def cli(build, dsn, *args):
    p = subprocess.run([cp.binary(build, "tools/msgfleet/msgfleet"), *args],
                       capture_output=True, text=True, env=cp.cli_env(dsn))
    return p.returncode, p.stdout, p.stderr


def start_run(build, dsn, workflow):
    rc, out, err = cli(build, dsn, "run", workflow)
    if rc != 0:
        cp.die(f"msgfleet run {workflow}: {err}")
    return out.splitlines()[0].strip()


def wait_runs(build, dsn, runs, timeout_s):
    for run in runs:
        rc, out, err = cli(build, dsn, "watch", run, "--timeout", str(timeout_s))
        if rc != 0:
            cp.die(f"run {run} did not complete: {out[-500:]} {err[-500:]}")


def rows_by_phone(dsn, run):
    """{phone: (status, error_code)} of one run."""
    return {r[0]: (r[1], r[2]) for r in cp.psql(
        dsn, "SELECT recipient_phone, status, coalesce(error_code, '') FROM message_logs "
             f"WHERE workflow_run_id = '{run}'")}


def sent(status):
    return status in ("sent", "delivered")


def phase_import(build, dsn, workdir):
    path = os.path.join(workdir, "optouts.txt")
    with open(path, "w") as f:
        f.write("# opt-outs collected by the call centre\n"
                "010-6660-0001\n"
                "01066600002,all,asked by phone\n"
                "\n"
                "010-66x0-0003\n"
                "01066600004,nightly\n"
                "+82 10 6660 0005,,web form\n"
                "0212345678\n"
                "01066600001\n")
    rc, out, err = cli(build, dsn, "suppress", "import", path)
    check(rc == 1, f"import with bad lines exits 1 (got {rc})")
    for line, why in ((5, "letters"), (6, "invalid scope"), (8, "not a mobile prefix")):
        check(re.search(rf"^{re.escape(path)}:{line}: .*{why}", err, re.M),
              f"import reports line {line} ({why}): {err!r}")
    check(err.count(f"{path}:") == 3, f"import reports exactly 3 bad lines: {err!r}")
    listed = {(r[0], r[1], r[2], r[3]) for r in cp.psql(
        dsn, "SELECT phone, scope, source, coalesce(reason, '') FROM mf_suppressions "
             "WHERE phone LIKE '0106660%'")}
    want = {("01066600001", "advertising", "operator", ""),
            ("01066600002", "all", "operator", "asked by phone"),
            ("01066600005", "advertising", "operator", "web form")}
    check(listed == want, f"import listed the good lines only: {sorted(listed)}")
    check("3 newly listed, 1 already listed, 3 bad line(s)" in out, f"import summary: {out!r}")


def phase_optout(build, dsn, sim_url, wf_ad, wf_note, phones, timeout):
    p_ad, p_all = phones[0], phones[1]
    for args in (("add", p_ad, "--reason", "test"), ("add", p_all, "--scope", "all")):
        rc, out, err = cli(build, dsn, "suppress", *args)
        check(rc == 0, f"suppress {' '.join(args)}: {err}")
    run_ad = start_run(build, dsn, wf_ad)
    wait_runs(build, dsn, [run_ad], timeout)
    run_note = start_run(build, dsn, wf_note)
    wait_runs(build, dsn, [run_note], timeout)
    led = ledger_rows(sim_url)
    ad_rows, note_rows = rows_by_phone(dsn, run_ad), rows_by_phone(dsn, run_note)
    for run, rows, p, want_sent in ((run_ad, ad_rows, p_ad, False), (run_ad, ad_rows, p_all, False),
                                    (run_note, note_rows, p_ad, True),
                                    (run_note, note_rows, p_all, False)):
        n = sum(1 for to, r, _ in led if to == p and r == run)
        kind = "advertising" if run == run_ad else "non-advertising"
        if want_sent:
            check(n == 1 and sent(rows.get(p, ("", ""))[0]),
                  f"{kind} run: {p} (listed for advertising) sent once: ledger {n}, "
                  f"row {rows.get(p)}")
        else:
            check(n == 0 and rows.get(p) == ("failed", "OPTED_OUT"),
                  f"{kind} run: {p} never reaches the provider: ledger {n}, row {rows.get(p)}")
    others = [p for p in phones[2:]]
    ok = sum(1 for p in others
             if sent(ad_rows.get(p, ("", ""))[0]) and
             sum(1 for to, r, _ in led if to == p and r == run_ad) == 1)
    check(ok == len(others), f"advertising run: the {len(others)} other recipients sent once "
                             f"(got {ok})")
    return run_ad


def phase_080(build, dsn, sim_url, wf_ad, p3, timeout):
    post(f"{sim_url}/_sim/black", {"numbers": [p3]})
    run1 = start_run(build, dsn, wf_ad)
    wait_runs(build, dsn, [run1], timeout)
    rows = rows_by_phone(dsn, run1)
    check(rows.get(p3) == ("failed", "1061"), f"080 list: the provider answers 1061 for {p3}: "
                                              f"{rows.get(p3)}")
    got = cp.psql(dsn, "SELECT scope, source, coalesce(reason, '') FROM mf_suppressions "
                       f"WHERE phone = '{p3}'")
    check(got == [["advertising", "provider_080", "provider status 1061"]],
          f"the 1061 result listed {p3}: {got}")
    run2 = start_run(build, dsn, wf_ad)
    wait_runs(build, dsn, [run2], timeout)
    rows = rows_by_phone(dsn, run2)
    n = sum(1 for to, r, _ in ledger_rows(sim_url) if to == p3 and r in (run1, run2))
    check(rows.get(p3) == ("failed", "OPTED_OUT") and n == 0,
          f"the next run skips {p3}: row {rows.get(p3)}, ledger messages {n}")


def phase_sync(fleet, dsn, sim_url, timeout):
    numbers = [f"0105550{i:04d}" for i in range(1200)]
    post(f"{sim_url}/_sim/black", {"numbers": numbers[:700]})
    post(f"{sim_url}/_sim/black", {"numbers": numbers[700:]})
    # ledger rows older than 7 days are pruned by the reporters; a 6-day-old one stays
    cp.psql(dsn, "INSERT INTO mf_ad_sends (job_id, phone, sent_at) SELECT gen_random_uuid(), "
                 "'01088800000', now() - d * interval '1 day' FROM unnest(ARRAY[8, 9, 30, 6]) d")
    # two reporters with the sync on: one syncs, the other finds the lock taken or the sync
    # recent (interval 10 min) and skips
    for name in ("reporter-sync-1", "reporter-sync-2"):
        fleet.start(name, [cp.binary(fleet.build, "reporter/msgfleet-reporter")],
                    {"MF_INSTANCE_ID": name, "MF_REPORTER_OPTOUT_SYNC_MS": "600000",
                     "MF_HTTP_PORT": "0"})
    deadline = time.time() + timeout
    row = None
    while time.time() < deadline:
        row = cp.psql(dsn, "SELECT synced_at IS NOT NULL, numbers, pages, owner "
                           "FROM mf_optout_sync")[0]
        if row[0] == "t":
            break
        time.sleep(0.5)
    check(row is not None and row[0] == "t", f"the sync ran: {row}")
    # 1200 + the number listed by the 080 phase, 500 per page
    check(row[1:3] == ["1201", "3"], f"the sync read 1201 numbers in 3 pages: {row}")
    time.sleep(7)  # past both reporters' next look (every 5 s)
    syncs = {}
    for name in ("reporter-sync-1", "reporter-sync-2"):
        with open(os.path.join(fleet.workdir, f"{name}.log"), encoding="utf-8",
                  errors="replace") as f:
            syncs[name] = sum(1 for line in f if "080 opt-out list synced" in line)
    check(sum(syncs.values()) == 1 and syncs.get(row[3]) == 1,
          f"one sync by one reporter ({row[3]}): {syncs}")
    left = cp.psql(dsn, "SELECT count(*) FROM mf_ad_sends WHERE phone = '01088800000'")[0][0]
    check(left == "1", f"the ledger's rows older than 7 days were pruned ({left} of 4 left, "
                       "want the 6-day-old one)")
    got = cp.psql(dsn, "SELECT count(*) FROM mf_suppressions WHERE phone LIKE '0105550%' "
                       "AND scope = 'advertising' AND source = 'provider_080'")[0][0]
    check(got == "1200", f"the sync listed the simulator's 1200 numbers (got {got})")


def phase_cap(build, dsn, sim_url, wf_a, wf_b, suppressed, timeout):
    cp.psql(dsn, "TRUNCATE mf_ad_sends")
    cp.psql(dsn, "INSERT INTO system_settings (setting_key, setting_value) VALUES "
                 "('ad_frequency_cap', '{\"per_24h\":1,\"per_7d\":3}') ON CONFLICT (setting_key) "
                 "DO UPDATE SET setting_value = EXCLUDED.setting_value")
    run_a, run_b = start_run(build, dsn, wf_a), start_run(build, dsn, wf_b)
    wait_runs(build, dsn, [run_a, run_b], timeout)
    led = ledger_rows(sim_url)
    rows_a, rows_b = rows_by_phone(dsn, run_a), rows_by_phone(dsn, run_b)
    phones = [p for p in rows_a if re.fullmatch(r"01[016789]\d{7,8}", p) and p not in suppressed]
    bad = []
    for p in phones:
        n = sum(1 for to, r, _ in led if to == p and r in (run_a, run_b))
        codes = sorted([rows_a.get(p, ("", ""))[1], rows_b.get(p, ("", ""))[1]])
        if n != 1 or codes != ["", "FREQUENCY_CAPPED"]:
            bad.append((p, n, codes))
    check(not bad, f"cap 1 per 24 h, two runs at once: every recipient exactly once "
                   f"({len(bad)} of {len(phones)} wrong, e.g. {bad[:3]})")
    ledger_n = cp.psql(dsn, "SELECT count(*), count(DISTINCT phone) FROM mf_ad_sends")[0]
    check(ledger_n == [str(len(phones))] * 2, f"mf_ad_sends: one row per recipient: {ledger_n}")
    # a workflow override lets one more through; the global cap of the other workflow none
    cp.psql(dsn, "UPDATE workflows SET message_config = message_config || "
                 f"'{{\"frequency_cap\":{{\"per_24h\":2}}}}' WHERE id = '{wf_b}'")
    time.sleep(31)  # the senders cache message_config for MF_SENDER_TEMPLATE_TTL_MS (30 s)
    run_b2 = start_run(build, dsn, wf_b)
    wait_runs(build, dsn, [run_b2], timeout)
    run_a2 = start_run(build, dsn, wf_a)
    wait_runs(build, dsn, [run_a2], timeout)
    rows_b2, rows_a2 = rows_by_phone(dsn, run_b2), rows_by_phone(dsn, run_a2)
    ok_b = sum(1 for p in phones if sent(rows_b2.get(p, ("", ""))[0]))
    ok_a = sum(1 for p in phones if rows_a2.get(p) == ("failed", "FREQUENCY_CAPPED"))
    check(ok_b == len(phones), f"override per_24h 2: {ok_b} of {len(phones)} sent")
    check(ok_a == len(phones), f"global cap 1 after 2 sends: {ok_a} of {len(phones)} capped")
    return len(phones)


def gate_call(dsn, jobs, phones, out, idx):
    sql = ("SELECT count(*) FROM mf_send_gate("
           f"'{{{','.join(jobs)}}}'::uuid[], '{{{','.join(phones)}}}'::text[], "
           f"array_fill(NULL::uuid, ARRAY[{len(jobs)}]), "
           f"array_fill(true, ARRAY[{len(jobs)}]))")
    out[idx] = int(cp.psql(dsn, sql)[0][0])


def phase_race(dsn, rounds):
    cp.psql(dsn, "UPDATE system_settings SET setting_value = '{\"per_24h\":1}' "
                 "WHERE setting_key = 'ad_frequency_cap'")
    bouncer = re.sub(r"port=\d+", f"port={cp.env('MF_PGBOUNCER_PORT')}", dsn)
    rng = random.Random(7)
    wrong = 0
    for r in range(rounds):
        phones = [f"010777{r:02d}{i:03d}" for i in range(300)]
        refused = [0, 0, 0, 0]
        threads = []
        for k in range(4):  # 4 sessions, 2 batches each of the whole set in its own order
            order = phones[:]
            rng.shuffle(order)
            jobs = [str(uuid.uuid4()) for _ in order]
            threads.append(threading.Thread(target=gate_call,
                                            args=(bouncer, jobs, order, refused, k)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = cp.psql(dsn, "SELECT count(*), count(DISTINCT phone) FROM mf_ad_sends "
                            f"WHERE phone LIKE '010777{r:02d}%'")[0]
        if rows != ["300", "300"] or sum(refused) != 900:
            wrong += 1
            say(f"race round {r}: ledger {rows}, refused {refused}")
    check(wrong == 0, f"4 sessions racing through PgBouncer: one job per phone let through "
                      f"({wrong} of {rounds} rounds wrong)")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR",
                                                      os.path.join(cp.ROOT, "build")))
    ap.add_argument("--customers", type=int, default=60)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--race-rounds", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    a = ap.parse_args(argv)

    name = f"mftest_optout_{random.randrange(16**6):06x}"
    admin_dsn = cp.env("MF_PG_DSN")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    say(f"workspace {workdir}; databases {name} (PostgreSQL, MariaDB)")
    dsn = cp.create_pg_database(admin_dsn, name, a.build)
    cp.load_mysql(name, a.customers, 11)
    wf_note = cp.seed_platform(dsn, name)
    wf_a, wf_b = add_ad_workflows(dsn, name)
    expected, _ = cp.expected_outcomes(name)
    phones = sorted(expected)
    fleet = cp.Fleet(a.build, workdir, {})
    capped = 0
    try:
        sim_url = cp.start_simulator(fleet, cp.free_port())
        bouncer = re.sub(r"port=\d+", f"port={cp.env('MF_PGBOUNCER_PORT')}", dsn)
        fleet.env = cp.fleet_env(bouncer, f"{name}.", sim_url, name)
        fleet.env.update({"MF_REPORTER_OPTOUT_SYNC_MS": "0", "MF_HTTP_PORT": "0"})
        cp.start_fleet(fleet, 2)
        time.sleep(0.5)
        fleet.check_alive()
        say(f"fleet up (through PgBouncer): 1 planner, 2 senders, 1 reporter; {len(phones)} "
            f"valid recipients; simulator at {sim_url}")
        phase_import(a.build, dsn, workdir)
        say("import checked")
        phase_optout(a.build, dsn, sim_url, wf_a, wf_note, phones, a.timeout)
        say("opt-out scopes checked")
        phase_080(a.build, dsn, sim_url, wf_a, phones[2], a.timeout)
        say("1061 checked")
        phase_sync(fleet, dsn, sim_url, 60)
        say("sync checked")
        capped = phase_cap(a.build, dsn, sim_url, wf_a, wf_b, set(phones[:3]), a.timeout)
        say("frequency cap checked")
        phase_race(dsn, a.race_rounds)
        fleet.check_alive()
    finally:
        fleet.stop()
        if not a.keep:
            cp.drop_databases(admin_dsn, name)
    say(f"recipients={len(phones)} capped_recipients={capped} problems={len(PROBLEMS)} "
        f"result={'ok' if not PROBLEMS else 'FAILED'}")
    return 0 if not PROBLEMS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

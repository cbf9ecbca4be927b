#!/usr/bin/env python3
"""triggers_check: end-to-end checks of event-triggered workflows and the priority lane.

  triggers_check.py events   events -> jobs, exactly once per (event, workflow), filters,
                             dead letters, window runs completed with true counters
  triggers_check.py lane     a transactional run and an event are sent while a campaign of
                             --customers recipients (default 100,000) is still sending,
                             judged on the order of the simulator's ledger

Each creates its own PostgreSQL and MariaDB databases and topic prefix, starts the fleet
(planner, senders, reporter, simulator) through scripts/campaign.py's helpers, checks, and
removes what it created. Exit 0 when every check holds. Python standard library only.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import campaign as C  # noqa: E402
import event as E  # noqa: E402

ORDER_TEMPLATE = "주문 #{order_no} 결제가 완료되었습니다 (#{channel})"
THANKS_TEMPLATE = "#{name}님, 주문 #{order_no} 감사 쿠폰 #{coupon}"


def log(msg):
    print(f"triggers: {msg}", flush=True)


def event_job_id(workflow_id, event_id):
    return E.event_job_id(workflow_id, event_id)


def ledger_lines(sim_url):
    """[(job id, acceptedAt text)] in the ledger's order (the order of acceptance)."""
    out = []
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=120) as r:
        for line in r:
            if line.strip():
                m = json.loads(line)
                out.append(((m.get("customFields") or {}).get("jobId", ""),
                            m.get("acceptedAt", "")))
    return out


def sim_stats(sim_url):
    with urllib.request.urlopen(f"{sim_url}/_sim/stats", timeout=10) as r:
        return json.loads(r.read())


def add_template(dsn, name, text):
    return C.psql(dsn, "INSERT INTO message_templates (name, category, message_type, content) "
                       f"VALUES ({C.sql_quote(name)}, 'notification', 'sms', "
                       f"{C.sql_quote(text)}) RETURNING id")[0][0]


def add_workflow(dsn, name, trigger_type, trigger, target, template, variables=None):
    message = {"template_id": template, "sender_number": C.env("MF_COOLSMS_SENDER")}
    return C.psql(dsn, "INSERT INTO workflows (name, status, trigger_type, trigger_config, "
                       "target_config, message_config, variables) VALUES "
                       f"({C.sql_quote(name)}, 'active', {C.sql_quote(trigger_type)}, "
                       f"{C.sql_quote(json.dumps(trigger, ensure_ascii=False))}, "
                       f"{C.sql_quote(json.dumps(target, ensure_ascii=False))}, "
                       f"{C.sql_quote(json.dumps(message))}, "
                       f"{C.sql_quote(json.dumps(variables or {}, ensure_ascii=False))}) "
                       "RETURNING id")[0][0]


class Env:
    """Databases, prefix and fleet of one check; removed again by close()."""

    def __init__(self, build, customers, keep):
        self.name = f"mftest_trig_{random.randrange(16**6):06x}"
        self.build = build
        self.keep = keep
        self.admin_dsn = C.env("MF_PG_DSN")
        self.workdir = tempfile.mkdtemp(prefix=f"{self.name}-")
        log(f"workspace {self.workdir}; databases {self.name}")
        self.dsn = C.create_pg_database(self.admin_dsn, self.name, build)
        C.load_mysql(self.name, customers, 1)
        self.prefix = f"{self.name}."
        self.fleet = C.Fleet(build, self.workdir, {})
        self.sim_url = None

    def create_topics(self):
        """The fleet's topics exist before the fleet starts, as the compose file's kafka-init
        creates them (here through the test broker's automatic creation, which a metadata
        request for the topic triggers): a topic created by its first message would cost the
        subscribers a metadata refresh and a rebalance in the middle of the check."""
        for base in ("jobs", "jobs.tx", "retry", "results", "results.tx", "dlq", "events"):
            C.subprocess.run(["kcat", "-b", C.env("MF_KAFKA_BROKERS"), "-L", "-t",
                              self.prefix + base], capture_output=True, timeout=30)
        time.sleep(1)

    def start(self, senders, extra_env, sim_knobs=None):
        self.create_topics()
        self.sim_url = C.start_simulator(self.fleet, C.free_port())
        if sim_knobs:
            C.sim_config(self.sim_url, sim_knobs)
        self.fleet.env = C.fleet_env(self.dsn, self.prefix, self.sim_url, self.name)
        self.fleet.env.update(extra_env)
        C.start_fleet(self.fleet, senders)
        time.sleep(0.5)
        self.fleet.check_alive()

    def publish(self, events):
        E.publish(self.prefix + "events", events)

    def close(self):
        self.fleet.stop()
        if not self.keep:
            C.drop_databases(self.admin_dsn, self.name)


def wait_for(what, cond, timeout_s, env):
    deadline = time.time() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            return None
        env.fleet.check_alive()
        time.sleep(0.25)


def valid_customer(db):
    for cid, name, phone in C.mysql_rows(db, "SELECT id, name, phone FROM customers "
                                             "ORDER BY id LIMIT 200"):
        norm = C.normalise_phone(phone)
        if norm is not None and "\t" not in name:
            return cid, name, norm
    C.die("no customer with a valid phone in the sample data")


FAST_WINDOWS = {"MF_PLANNER_EVENT_WINDOW_S": "10", "MF_PLANNER_EVENT_WINDOW_GRACE_S": "1",
                "MF_PLANNER_EVENT_PRUNE_MS": "1000",
                "MF_PLANNER_EVENTS_REFRESH_MS": "500"}


def topic_keys(topic):
    """The keys of every message on a topic (kcat, from the beginning to the end)."""
    p = subprocess.run(["kcat", "-C", "-b", C.env("MF_KAFKA_BROKERS"), "-t", topic, "-e", "-q",
                        "-f", "%k\\n"], capture_output=True, text=True, timeout=60)
    return set(p.stdout.split())


def check_lane_retry(a, env, tpl):
    """A transactional run paced by message_config.rate_per_minute: the jobs beyond its first
    token go through the retry topic and keep their lane there, so the sender's result of
    every job is on results.tx (the reporter's lane)."""
    variables = {"order_no": {"source": "column", "column": "id"},
                 "channel": {"source": "static", "value": "retry"}}
    wf = add_workflow(env.dsn, "주문 확인 (paced, transactional)", "manual",
                      {"transactional": True},
                      {"source": "mysql",
                       "query": "SELECT id, name, phone FROM customers WHERE id <= 8"},
                      tpl, variables)
    C.psql(env.dsn, "UPDATE workflows SET message_config = message_config || "
                    f"'{{\"rate_per_minute\": 240}}' WHERE id = '{wf}'")
    p = subprocess.run([C.binary(a.build, "tools/msgfleet/msgfleet"), "run", wf],
                       capture_output=True, text=True, env=C.cli_env(env.dsn))
    if p.returncode != 0:
        C.die(p.stderr)
    run = p.stdout.strip().splitlines()[0]
    problems = []

    def done():
        return C.psql(env.dsn, f"SELECT status FROM workflow_runs WHERE id = '{run}'"
                      )[0][0] == "completed"
    if not wait_for("paced transactional run", done, 90, env):
        problems.append("the paced transactional run did not complete within 90 s")
    jobs = {r[0] for r in C.psql(env.dsn, "SELECT id FROM message_logs WHERE "
                                          f"workflow_run_id = '{run}' AND status <> 'failed'")}
    retried = jobs & topic_keys(env.prefix + "retry")
    on_tx = jobs & topic_keys(env.prefix + "results.tx")
    # (the delivery reports the reporter turns into results go to results whatever the lane)
    log(f"lane retry: {len(jobs)} sent jobs, {len(retried)} through the retry topic, "
        f"{len(on_tx)} with their sender result on results.tx")
    if not retried:
        problems.append("no job of the paced transactional run went through the retry topic "
                        "(nothing tested)")
    if on_tx != jobs:
        problems.append(f"results of a transactional run's jobs: {len(on_tx)} of {len(jobs)} "
                        "on results.tx")
    problems += C.check_counters(env.dsn, run)
    return problems


def check_prune(env, wf):
    """The records of an event window that ended more than MF_PLANNER_EVENT_DEDUP_DAYS ago are
    deleted by the planner (every MF_PLANNER_EVENT_PRUNE_MS), the recent ones kept."""
    recent = int(C.psql(env.dsn, "SELECT count(*) FROM mf_event_jobs")[0][0])
    old_run = C.psql(env.dsn, f"""
        WITH r AS (INSERT INTO workflow_runs (workflow_id, status, trigger_type, started_at,
                   completed_at) VALUES ('{wf}', 'completed', 'manual', now() - interval '40 days',
                   now() - interval '40 days') RETURNING id),
             w AS (INSERT INTO mf_event_windows (workflow_id, window_start, window_end, run_id,
                   closed_at) SELECT '{wf}', now() - interval '40 days',
                   now() - interval '40 days' + interval '1 hour', id, now() - interval '40 days'
                   FROM r)
        INSERT INTO mf_event_jobs (job_id, event_id, workflow_id, run_id, created_at)
          SELECT gen_random_uuid(), 'old-' || g, '{wf}', r.id, now() - interval '40 days'
          FROM r, generate_series(1, 3) g RETURNING run_id""")[0][0]

    def pruned():
        return C.psql(env.dsn, "SELECT count(*) FROM mf_event_jobs WHERE run_id = "
                               f"'{old_run}'")[0][0] == "0"
    problems = []
    if not wait_for("old event records pruned", pruned, 30, env):
        problems.append("the records of a window 40 days old were not pruned within 30 s")
    left = int(C.psql(env.dsn, "SELECT count(*) FROM mf_event_jobs")[0][0])
    if left != recent:
        problems.append(f"{left} event records after pruning, expected the {recent} recent ones")
    log(f"prune: {left} event records left of {recent} recent ones and 3 of a window 40 days old")
    return problems


def check_events(a):
    env = Env(a.build, 200, a.keep)
    problems = []
    try:
        tpl_order = add_template(env.dsn, "주문 결제 완료", ORDER_TEMPLATE)
        tpl_thanks = add_template(env.dsn, "주문 감사", THANKS_TEMPLATE)
        wf_a = add_workflow(env.dsn, "결제 완료 알림", "event", {"event": "order_paid"}, {},
                            tpl_order)
        wf_b = add_workflow(env.dsn, "웹 주문 감사", "event",
                            {"event": "order_paid", "filters": {"channel": "web"}},
                            {"source": "mysql",
                             "query": "SELECT id, name, phone FROM customers WHERE id = ?"},
                            tpl_thanks,
                            {"coupon": {"source": "static", "value": "THANKS10"}})
        wf_c = add_workflow(env.dsn, "앱 주문 알림", "event",
                            {"event": "order_paid", "filters": {"channel": "app"}}, {},
                            tpl_order)
        # another target query with other columns, for the same batch (rows of two shapes)
        wf_d = add_workflow(env.dsn, "앱 주문 확인", "event",
                            {"event": "order_paid", "filters": {"channel": "app"}},
                            {"source": "mysql", "phone_column": "mobile",
                             "query": "SELECT phone AS mobile, id FROM customers WHERE id = ?"},
                            tpl_order)
        cid, cname, cphone = valid_customer(env.name)
        env.start(1, FAST_WINDOWS)
        log(f"fleet up; workflows A={wf_a} B={wf_b} (channel web) C={wf_c} D={wf_d} "
            "(channel app)")
        run = f"{random.randrange(16**6):06x}"
        ev = {n: f"ev-{n}-{run}" for n in range(1, 8)}
        e1 = ("", E.encode_event("order_paid", ev[1], to="01090001111",
                                 attrs={"order_no": "1001", "channel": "web", "name": "김하늘"}))
        e2 = (cid, E.encode_event("order_paid", ev[2], cust=cid,
                                  attrs={"order_no": "1002", "channel": "web"}))
        e3 = ("", E.encode_event("order_paid", ev[3], to="010-9000-3333",
                                 attrs={"order_no": "1003", "channel": "app"}))
        e4 = ("", E.encode_event("order_paid", ev[4], to="12345",
                                 attrs={"order_no": "1004", "channel": "store"}))
        # a variable of A's template (order_no) missing: a failed row with the sender's code
        e6 = ("", E.encode_event("order_paid", ev[6], to="01090006666",
                                 attrs={"channel": "store"}))
        # a customer key for workflow D (and C and A, which have no query: dead-lettered)
        e7 = (cid, E.encode_event("order_paid", ev[7], cust=cid,
                                  attrs={"order_no": "1007", "channel": "app"}))
        no_id = E.encode_event("order_paid", "x", to="01090005555", attrs={"channel": "web"})
        no_id = no_id.replace(b"\xa2id\xa1x", b"\xa2zz\xa1x")  # the same map without "id"
        unknown = E.encode_event("no_such_event", ev[5], to="01090005555")
        # older than the exactly-once horizon (30 days by default): dead-lettered, not sent
        stale = E.encode_event("order_paid", f"ev-8-{run}", to="01090008888",
                               attrs={"order_no": "1008", "channel": "store"},
                               ts_ms=int((time.time() - 40 * 86400) * 1000))
        env.publish([e1, e2, e3, e4, ("bad", b"\xc1 not msgpack"), ("", no_id),
                     ("", unknown), e6, e7, ("", stale)])
        # the same events again (a producer retrying, a replay), also twice in one batch
        env.publish([e1, e3, e1])
        expected = {event_job_id(wf_a, ev[1]): "01090001111",
                    event_job_id(wf_b, ev[1]): "01090001111",
                    event_job_id(wf_b, ev[2]): cphone,
                    event_job_id(wf_a, ev[3]): "01090003333",
                    event_job_id(wf_c, ev[3]): "01090003333",
                    event_job_id(wf_d, ev[3]): "01090003333",
                    event_job_id(wf_d, ev[7]): cphone}
        invalid = event_job_id(wf_a, ev[4])
        unrendered = event_job_id(wf_a, ev[6])

        def all_rows():
            n = C.psql(env.dsn, "SELECT count(*) FROM message_logs")[0][0]
            return int(n) >= len(expected) + 2
        if not wait_for("rows", all_rows, 90, env):
            problems.append("not every expected message_logs row arrived within 90 s")
        # a late re-publish, after the first ones were recorded
        env.publish([e2, e4])
        time.sleep(3)
        counts = C.ledger(env.sim_url)
        for job, phone in expected.items():
            if counts.get(job, 0) != 1:
                problems.append(f"job {job} ({phone[-4:]}) accepted {counts.get(job, 0)} times, "
                                "expected once")
        if sum(counts.values()) != len(expected):
            problems.append(f"ledger holds {sum(counts.values())} messages, expected "
                            f"{len(expected)} (filters, dedupe)")
        rows = {r[0]: r[1:] for r in C.psql(
            env.dsn, "SELECT id, recipient_phone, status, coalesce(error_code, ''), "
                     "message_content, workflow_run_id FROM message_logs")}
        if len(rows) != len(expected) + 2:
            problems.append(f"{len(rows)} message_logs rows, expected {len(expected) + 2}")
        if tuple(rows.get(unrendered, ("", "", ""))[1:3]) != ("failed", "RENDER_FAILED"):
            problems.append(f"the message missing a variable has the row {rows.get(unrendered)}")
        if tuple(rows.get(invalid, ("", "", ""))[1:3]) != ("failed", "INVALID_PHONE"):
            problems.append(f"the invalid phone's row is {rows.get(invalid)}")
        want = THANKS_TEMPLATE.replace("#{name}", cname).replace("#{order_no}", "1002") \
                              .replace("#{coupon}", "THANKS10")
        got = rows.get(event_job_id(wf_b, ev[2]), ("", "", "", ""))
        if got[0] != cphone or got[3] != want:
            problems.append(f"customer-key message: {got[0][-4:]} {got[3]!r}, expected "
                            f"{cphone[-4:]} {want!r}")
        got = rows.get(event_job_id(wf_d, ev[7]), ("", "", "", ""))
        if got[0] != cphone or got[3] != "주문 1007 결제가 완료되었습니다 (app)":
            problems.append(f"second target query's message: {got[0][-4:]} {got[3]!r}")
        got = rows.get(event_job_id(wf_c, ev[3]), ("", "", "", ""))
        if got[3] != "주문 1003 결제가 완료되었습니다 (app)":
            problems.append(f"payload variables: {got[3]!r}")
        # the invalid phone's failed result went through the lane (results.tx), like a send's
        if invalid not in topic_keys(env.prefix + "results.tx"):
            problems.append("the INVALID_PHONE result of an event is not on results.tx")
        # dead letters: undecodable, no id, unknown event, no recipient for workflow A
        rc, out = C.msgfleet_dlq(a.build, env.prefix, "list")
        for reason in ("not a msgpack map", "missing event id", "unknown event \"no_such_event\"",
                       "missing recipient", "older than the exactly-once horizon of 30 days"):
            if reason not in out:
                problems.append(f"no dead letter with reason containing {reason!r}")
        problems += check_prune(env, wf_a)
        problems += check_lane_retry(a, env, tpl_order)
        # the window runs: completed once the window is over, counters true
        def runs_done():
            r = C.psql(env.dsn, "SELECT count(*) FILTER (WHERE status <> 'completed'), count(*) "
                                "FROM workflow_runs WHERE trigger_type = 'event'")[0]
            return int(r[0]) == 0 and int(r[1]) > 0
        if not wait_for("window runs", runs_done, 60, env):
            problems.append("event window runs not all completed 60 s after the events")
        runs = C.psql(env.dsn, "SELECT r.id, r.workflow_id, r.target_count FROM workflow_runs r "
                               "WHERE trigger_type = 'event' ORDER BY started_at")
        per_wf = {}
        for rid, wf, target in runs:
            per_wf[wf] = per_wf.get(wf, 0) + int(target)
            problems += C.check_counters(env.dsn, rid)
        if per_wf != {wf_a: 4, wf_b: 2, wf_c: 1, wf_d: 2}:
            problems.append(f"target counts per workflow {per_wf}, expected A 4, B 2, C 1, D 2")
        tu = C.psql(env.dsn, "SELECT count(*) FROM template_usage_logs t JOIN workflow_runs r "
                             "ON r.id = t.workflow_run_id WHERE r.trigger_type = 'event'")[0][0]
        if int(tu) != len(runs):
            problems.append(f"{tu} template_usage_logs rows for {len(runs)} window runs")
        log(f"{sum(counts.values())} messages accepted for {len(expected)} expected jobs, "
            f"{len(rows)} message_logs rows, {len(runs)} window runs")
    finally:
        env.close()
    return problems


def check_lane(a):
    env = Env(a.build, a.customers, a.keep)
    problems = []
    try:
        campaign_wf = C.seed_platform(env.dsn, env.name)
        tpl = C.psql(env.dsn, "SELECT message_config->>'template_id' FROM workflows "
                              f"WHERE id = '{campaign_wf}'")[0][0]
        variables = {"name": {"source": "column", "column": "name", "default": "고객"},
                     "id": {"source": "column", "column": "id"},
                     "coupon": {"source": "static", "value": "TX"}}
        tx_wf = add_workflow(env.dsn, "주문 확인 (transactional)", "manual",
                             {"transactional": True},
                             {"source": "mysql",
                              "query": "SELECT id, name, phone FROM customers WHERE id <= 10"},
                             tpl, variables)
        tpl_order = add_template(env.dsn, "주문 결제 완료", ORDER_TEMPLATE)
        ev_wf = add_workflow(env.dsn, "결제 완료 알림", "event", {"event": "order_paid"}, {},
                             tpl_order)
        # slower provider answers, so the campaign takes long enough to be overtaken
        env.start(2, dict(FAST_WINDOWS, **dict(kv.split("=", 1) for kv in a.fleet_env)),
                  {"latency_ms": a.latency_ms})
        p = C.subprocess.run([C.binary(a.build, "tools/msgfleet/msgfleet"), "run", campaign_wf],
                             capture_output=True, text=True, env=C.cli_env(env.dsn))
        campaign_run = p.stdout.strip().splitlines()[0] if p.returncode == 0 else C.die(p.stderr)
        if not wait_for("campaign sending", lambda: sim_stats(env.sim_url)["ledger"] >= 1000,
                        300, env):
            C.die("the campaign did not start sending within 300 s")
        before = sim_stats(env.sim_url)["ledger"]
        trigger_at = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
        p = C.subprocess.run([C.binary(a.build, "tools/msgfleet/msgfleet"), "run", tx_wf],
                             capture_output=True, text=True, env=C.cli_env(env.dsn))
        tx_run = p.stdout.strip().splitlines()[0] if p.returncode == 0 else C.die(p.stderr)
        event_id = f"lane-{random.randrange(16**6):06x}"
        env.publish([("", E.encode_event("order_paid", event_id, to="01090007777",
                                         attrs={"order_no": "7777", "channel": "web"}))])
        log(f"campaign {campaign_run} had {before} messages accepted; triggered the "
            f"transactional run {tx_run} and event {event_id}")

        def done(run):
            return C.psql(env.dsn, f"SELECT status FROM workflow_runs WHERE id = '{run}'"
                          )[0][0] == "completed"
        # the transactional run completes (every row written, counters, completion) while the
        # campaign is still sending: the ledger has not all of the campaign's messages yet
        if not wait_for("tx run", lambda: done(tx_run), 120, env):
            problems.append("transactional run not completed")
        at_completion = sim_stats(env.sim_url)["ledger"]
        if not wait_for("campaign", lambda: done(campaign_run), a.timeout, env):
            problems.append(f"campaign not completed within {a.timeout} s")
        lines = ledger_lines(env.sim_url)
        order = [j for j, _ in lines]
        tx_jobs = {r[0] for r in C.psql(env.dsn, "SELECT id FROM message_logs WHERE "
                                                 f"workflow_run_id = '{tx_run}' AND status "
                                                 "IN ('sent', 'delivered')")}
        tx_jobs.add(event_job_id(ev_wf, event_id))
        pos = [i for i, j in enumerate(order) if j in tx_jobs]
        camp = [i for i, j in enumerate(order) if j not in tx_jobs]
        if len(pos) != len(tx_jobs):
            problems.append(f"{len(pos)} of {len(tx_jobs)} transactional messages in the ledger")
        if not pos or not camp:
            problems.append("nothing to compare in the ledger")
        else:
            after = sum(1 for i in camp if i > max(pos))
            log(f"ledger: {len(camp)} campaign messages, {len(pos)} transactional; the "
                f"transactional ones at positions {min(pos) + 1}..{max(pos) + 1} (accepted "
                f"{lines[min(pos)][1]}..{lines[max(pos)][1]}, triggered {trigger_at}), "
                f"{after} campaign messages ({100.0 * after / len(camp):.1f} %) after them")
            if max(pos) > max(camp):
                problems.append("a transactional message came after the campaign's last one")
            log(f"the transactional run completed when the ledger held {at_completion} of "
                f"{len(order)} messages")
            if at_completion >= len(order):
                problems.append("the transactional run completed only after the campaign's last "
                                "message was sent")
            # the lane must overtake the campaign, not merely finish before its very end: at
            # least half of the campaign is still to be sent when the last transactional
            # message goes out (behind the campaign's jobs it went out after ~95 %)
            if after < len(camp) // 2:
                problems.append(f"only {after} of {len(camp)} campaign messages came after "
                                "the transactional ones (expected at least half)")
        problems += C.check_counters(env.dsn, tx_run)
    finally:
        env.close()
    return problems


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=["events", "lane"])
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR",
                                                      os.path.join(C.ROOT, "build")))
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--fleet-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra daemon setting (experiments)")
    a = ap.parse_args(argv)
    problems = check_events(a) if a.check == "events" else check_lane(a)
    for p in problems:
        print(f"triggers: FAIL: {p}", flush=True)
    print(f"triggers: {a.check} result={'ok' if not problems else 'FAILED'}", flush=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

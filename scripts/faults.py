#!/usr/bin/env python3
"""faults: a campaign under SIGKILLs, Kafka/PostgreSQL restarts and a failing provider.

The fault test (docs/faults.md). It starts its OWN stack (PostgreSQL, PgBouncer, MariaDB,
Kafka) with scripts/stack.sh on free private ports under a temporary folder, because it
restarts PostgreSQL and Kafka; the shared development stack is never touched. On that stack it
loads the sample customers, creates the sample workflow (scripts/campaign.py helpers), starts
the CoolSMS simulator and a fleet of 2 planners, 3 senders and 2 reporters, triggers the run
and then plays a fault plan drawn from a seeded random generator (the seed is printed first,
so a failure can be replayed with --seed):

  * SIGKILL of each kind of daemon, several times, each restarted after a short pause;
  * one Kafka broker restart and one PostgreSQL restart;
  * the simulator answers 5% of requests 5xx, times out 1%, and rate-limits (429) for a burst;
  * malformed and unknown-version (v=2) msgpack messages produced into jobs and results (kcat);
  * (the 'all' scenario, or --cancel) a second run, of another workflow to the first quarter of
    the customers, triggered just before the first and cancelled with `msgfleet cancel` at a moment
    drawn from the plan, as soon as it has an accepted message.

Single faults (--scenario kill-planner ...) run one fault at a pinned moment so a regression
names its cause. A daemon that exits on its own is restarted like a supervisor would, and
counted. After the run completes and the fleet settles, the checks are independent of the
fleet's code: job ids are recomputed here from the run id, its start time and each MySQL
customer (schemas/kafka/README.md), and matched against the simulator's ledger and
message_logs; counters are recounted (campaign.check_counters). The cancelled run is checked
the same way, a 'cancelled' row (RUN_CANCELLED, no ledger message) counting like a 'failed'
one, and its ledger after the cancel is measured; its line comes before the last one:

  fault-test: cancelled-run seed=S recipients=N sent_once=N cancelled=N duplicates=0 lost=0
              logs_rows=N counters_match=yes cancel_at=t+Ts stop_ms=MS late=K ok=yes
  fault-test: seed=S recipients=N accepted_once=N duplicates=0 lost=0 logs_rows=N
              counters_match=yes all_final=yes dlq=K kills=K restarts=K cancel=ok

Exit 0 only when, for both runs, duplicates=0, lost=0, counters match and no recipient is
inconsistent (accepted by the provider but recorded failed or cancelled, or recorded sent but
unknown to the provider), and the cancelled run ended 'cancelled'.
Python standard library only; needs psql, mariadb and the built programs; kcat when present.
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import campaign  # noqa: E402  (scripts/campaign.py: psql, mysql, fleet, checks)
import halt_check  # noqa: E402  (scripts/halt_check.py: second workflow, ledger by run)
sys.path.insert(0, os.path.join(SCRIPTS, "kafka"))
import kafkawire  # noqa: E402  (scripts/kafka/kafkawire.py: raw Kafka requests)

ROOT = os.path.dirname(SCRIPTS)
SCENARIOS = ("all", "kill-planner", "kill-sender", "kill-reporter", "restart-kafka",
             "restart-postgres", "provider-outage")
KINDS = ("planner", "sender", "reporter")
COUNTS = {"planner": 2, "sender": 3, "reporter": 2}
JOB_ATTEMPT = 1  # planner/expand.c JOB_ATTEMPT: the first expansion of a run
CANCEL_WAIT_S = 60.0    # a due cancel waits at most this long for the run's first message
CANCEL_STOP_S = 2.0     # what a cancel promises: nothing accepted later than this after it
CANCEL_REASON = "fault test: cancel at a random moment"


def say(msg):
    print(f"fault-test: {msg}", flush=True)


def die(msg):
    print(f"fault-test: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


# ---------------------------------------------------------------- the private stack

def find_kafka_libs():
    """The Kafka jars: $MF_KAFKA_LIBS, the default stack's, or those of a running broker."""
    cands = [os.environ.get("MF_KAFKA_LIBS", ""),
             os.path.join(os.environ.get("MF_STACK_DIR", os.path.join(ROOT, ".stack")),
                          "kafka", "libs"),
             os.path.join(ROOT, ".stack", "kafka", "libs")]
    for pid_dir in glob.glob("/proc/[0-9]*"):
        try:
            with open(os.path.join(pid_dir, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in argv and b"-cp" in argv:
            cp = argv[argv.index(b"-cp") + 1].decode(errors="replace")
            cands.append(os.path.dirname(cp.split(":")[0]))
    for c in cands:
        if c and glob.glob(os.path.join(c, "kafka_2.13-*.jar")):
            return c
    die("no Kafka jars found (set MF_KAFKA_LIBS to a folder holding kafka_2.13-3.9.1.jar, "
        "or run scripts/deps.sh)")


class Stack:
    """PostgreSQL, PgBouncer, MariaDB and Kafka of this test only, driven by scripts/stack.sh."""

    def __init__(self, workdir, kafka_libs):
        self.dir = os.path.join(workdir, "stack")
        os.makedirs(os.path.join(self.dir, "kafka"))
        os.symlink(kafka_libs, os.path.join(self.dir, "kafka", "libs"))
        ports = set()
        while len(ports) < 7:
            ports.add(campaign.free_port())
        pg, pgb, my, kafka, ctrl, sasl, sim = sorted(ports)
        self.log = os.path.join(workdir, "stack.log")
        over = {
            "MF_STACK_DIR": self.dir, "MF_PG_PORT": str(pg), "MF_PGBOUNCER_PORT": str(pgb),
            "MF_MYSQL_PORT": str(my), "MF_KAFKA_PORT": str(kafka),
            "MF_KAFKA_CONTROLLER_PORT": str(ctrl), "MF_KAFKA_SASL_PORT": str(sasl),
            "MF_SIM_PORT": str(sim),
        }
        # env.sh only fills unset variables: drop every derived address of the shared stack
        # first, then let env.sh derive them from the private ports.
        base = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
        base.update(over)
        p = subprocess.run(["bash", "-c", f'set -a; . "{SCRIPTS}/env.sh"; env -0'],
                           env=base, capture_output=True)
        if p.returncode != 0:
            die(f"could not source scripts/env.sh: {p.stderr.decode(errors='replace')}")
        self.env = dict(kv.split("=", 1) for kv in
                        p.stdout.decode().split("\0") if "=" in kv)
        # stack.sh starts the simulator too when it finds it built: we start our own.
        self.env["MF_BUILD_DIR"] = os.path.join(workdir, "no-build")

    def stack_sh(self, cmd, wait=True):
        logf = open(self.log, "ab")
        p = subprocess.Popen([os.path.join(SCRIPTS, "stack.sh"), cmd], env=self.env,
                             stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        if wait and p.wait() != 0:
            tail = open(self.log, "rb").read()[-3000:].decode(errors="replace")
            die(f"stack.sh {cmd} failed:\n{tail}")
        return p

    def pg_stop(self):
        """Fast shutdown of PostgreSQL (stack.sh has no per-service down): pg_ctl as postgres."""
        argv = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                os.path.join(self.dir, "postgres", "data"), "-m", "fast", "-w", "-t", "60",
                "stop"]
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        if p.returncode != 0:
            die(f"pg_ctl stop failed: {p.stderr.strip()}")

    def kafka_stop(self):
        """SIGTERM to the broker named by the stack's pid file, SIGKILL after 30 s."""
        pidfile = os.path.join(self.dir, "kafka", "kafka.pid")
        pid = int(open(pidfile).read().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        os.unlink(pidfile)


# ---------------------------------------------------------------- the fleet, supervised

class Supervisor:
    """Daemons by slot name (planner-1...), restarted like a supervisor would after an exit."""

    def __init__(self, fleet, argv_of, env_of):
        self.fleet = fleet
        self.argv_of = argv_of
        self.env_of = env_of
        self.slots = {}        # name -> Popen or None (killed, waiting for its planned restart)
        self.exits = []        # (name, returncode) of exits we did not cause
        self.kills = 0
        self.restarts = 0
        self.respawn_at = {}   # name -> time of the supervisor's restart after an own exit

    def start(self, name):
        self.slots[name] = self.fleet.start(name, self.argv_of(name), self.env_of(name))

    def forget(self, name):
        """Drops the exited processes of slot `name` from the fleet (closing their logs)."""
        keep = []
        for t in self.fleet.procs:
            if t[0] == name and t[1].poll() is not None:
                t[2].close()
            else:
                keep.append(t)
        self.fleet.procs = keep

    def kill(self, name):
        p = self.slots.get(name)
        if p is None or p.poll() is not None:
            return False
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.forget(name)
        self.slots[name] = None
        self.kills += 1
        return True

    def restart(self, name):
        if self.slots.get(name) is None:
            self.start(name)
            self.restarts += 1

    def poll(self):
        now = time.time()
        for name, p in list(self.slots.items()):
            if p is not None and p.poll() is not None:
                self.exits.append((name, p.returncode))
                say(f"{name} exited on its own with status {p.returncode}; "
                    "restarting it in 1 s")
                self.forget(name)
                self.slots[name] = None
                self.respawn_at[name] = now + 1.0
        for name, t in list(self.respawn_at.items()):
            if now >= t:
                del self.respawn_at[name]
                self.restart(name)

    def stop(self):
        """SIGTERM every daemon; returns [(name, status)] of those that did not exit 0."""
        bad = []
        live = [(n, p) for n, p in self.slots.items() if p is not None and p.poll() is None]
        for _, p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.time() + 30
        for name, p in live:
            try:
                rc = p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "ignored SIGTERM for 30 s"
                p.wait()
            if rc != 0:
                bad.append((name, rc))
            self.forget(name)
            self.slots[name] = None
        self.respawn_at.clear()
        return bad


# ---------------------------------------------------------------- message injection

def mp_str(s):
    b = s.encode()
    assert len(b) < 32
    return bytes([0xa0 | len(b)]) + b


def mp_map(pairs):
    """A tiny msgpack encoder: fixmap of fixstr keys with small int / str / bin16 values."""
    out = bytes([0x80 | len(pairs)])
    for k, v in pairs:
        out += mp_str(k)
        if isinstance(v, int):
            assert 0 <= v < 128
            out += bytes([v])
        elif isinstance(v, bytes):
            out += bytes([0xc4, len(v)]) + v
        else:
            out += mp_str(v)
    return out


def poison_messages(rng, topic_base):
    """Malformed and unknown-version values for one topic; each one unique (a nonce)."""
    nonce = lambda: "%08x" % rng.getrandbits(32)  # noqa: E731
    good_id = uuid.UUID(int=rng.getrandbits(128)).bytes
    msgs = [
        ("v2", mp_map([("v", 2), ("x", nonce())])),
        ("v2-full", mp_map([("v", 2), ("id", good_id), ("to", "01012345678"), ("n", nonce())])),
        ("garbage", b"\xde\xad" + rng.getrandbits(64).to_bytes(8, "big") + b"not msgpack"),
        ("truncated", mp_map([("v", 1), ("id", good_id), ("n", nonce())])[:-5]),
        ("reserved-c1", b"\x81\xa1v\xc1" + nonce().encode()),
        ("missing-keys", mp_map([("v", 1), ("n", nonce())])),
        ("json", json.dumps({"v": 1, "topic": topic_base, "n": nonce()}).encode()),
    ]
    return msgs


KAFKA_CLIENT_ID = b"msgfleet-faults"


def kafka_produce_raw(brokers, topic, partition, key, values, timeout=30.0):
    """Fallback without kcat: one Produce v2 request (message format v1, acks=all) to the
    first broker, which must lead `partition` (true for the single-broker private stack)."""
    host, port = kafkawire.first_broker(brokers)
    mset = kafkawire.message_set_v1(key, values, int(time.time() * 1000))
    body = kafkawire.produce_request_v2(topic, partition, mset, int(timeout * 1000))
    resp = kafkawire.roundtrip(host, port, kafkawire.API_PRODUCE, 2, body, KAFKA_CLIENT_ID,
                               timeout=timeout + 5)
    code = kafkawire.parse_produce_v2(resp)
    if code != 0:
        raise OSError(f"produce to {topic}[{partition}] failed with Kafka error {code}")


def kafka_create_topics(brokers, topics, timeout=60.0):
    """Has the broker create the topics (auto-creation through a Metadata v1 request, so
    they get its default partition count) and waits until every partition has a leader."""
    host, port = kafkawire.first_broker(brokers)
    body = kafkawire.metadata_request_v1(topics)
    deadline = time.time() + timeout
    while True:
        resp = kafkawire.roundtrip(host, port, kafkawire.API_METADATA, 1, body, KAFKA_CLIENT_ID)
        _, _, listed = kafkawire.parse_metadata_v1(resp)
        ready = 0
        for err, _, parts in listed:
            ok = err == 0 and len(parts) > 0
            for perr, _, leader, _, _ in parts:
                ok = ok and perr == 0 and leader >= 0
            ready += ok
        if ready == len(topics):
            return
        if time.time() > deadline:
            die(f"kafka did not create the topics {topics} within {timeout:.0f} s")
        time.sleep(0.3)


def inject(workdir, brokers, topic, key, msgs):
    """Produces each value as one message with kcat (one file per message), or without kcat
    (or with MF_FAULTS_PRODUCER=python) by a raw Produce request to partition 0."""
    if shutil.which("kcat") is None or os.environ.get("MF_FAULTS_PRODUCER") == "python":
        try:
            kafka_produce_raw(brokers, topic, 0, key.encode(), [v for _, v in msgs])
            return True
        except (OSError, struct.error) as e:
            say(f"could not produce to {topic}: {e}")
            return False
    files = []
    for i, (_, val) in enumerate(msgs):
        path = os.path.join(workdir, f"poison-{topic}-{i}-{time.time_ns()}.bin")
        with open(path, "wb") as f:
            f.write(val)
        files.append(path)
    p = subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-k", key,
                        "-X", "message.timeout.ms=60000"] + files,
                       capture_output=True, text=True, timeout=90)
    for f in files:
        os.unlink(f)
    if p.returncode != 0:
        say(f"kcat could not produce to {topic}: {p.stderr.strip()}")
        return False
    return True


def dlq_messages(build, brokers, prefix):
    cli = campaign.binary(build, "tools/msgfleet/msgfleet")
    p = subprocess.run([cli, "tail", "dlq", "--from-beginning", "--brokers", brokers,
                        "--prefix", prefix, "--idle-ms", "5000"],
                       capture_output=True, text=True, timeout=120)
    out = []
    for line in p.stdout.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


# ---------------------------------------------------------------- the plan

# The provider faults of the "all" scenario, before and between the step windows below.
BASE_FAULTS = {"error_5xx_ratio": 0.05, "timeout_ratio": 0.01, "timeout_hold_ms": 2500,
               "reset_ratio": 0.0}
# Windows of faults at single steps (the simulator's *_steps knobs name the steps).
STEP_FAULTS_SEND = {"timeout_ratio": 0.15, "timeout_steps": "send,add", "reset_ratio": 0.1,
                    "reset_steps": "send,add", "error_5xx_ratio": 0.1, "error_5xx_steps": "send"}
STEP_FAULTS_READ = {"error_5xx_ratio": 0.3, "error_5xx_steps": "create,group_get,group_messages",
                    "reset_ratio": 0.2, "reset_steps": "webhook,create",
                    "timeout_ratio": 0.05, "timeout_steps": "group_get,webhook"}
STEP_FAULTS_OFF = dict(BASE_FAULTS, timeout_steps="", reset_steps="", error_5xx_steps="")


def make_plan(rng, scenario, dur, cancel=False):
    """[(seconds after the trigger, action, argument)], drawn from rng only; with cancel, a
    moment to cancel the second run."""
    plan = []

    def kill(kind, t, pause, name=None):
        n = name or f"{kind}-{rng.randrange(COUNTS[kind]) + 1}"
        plan.append((t, "kill", n))
        plan.append((t + pause, "restart", n))

    if scenario == "all":
        plan.append((0.0, "sim", BASE_FAULTS))
        # the first planner kill hits the planner holding the expansion lease
        kill("planner", rng.uniform(0.2, 1.0), rng.uniform(0.5, 3.0), "lease-owner")
        kill("planner", rng.uniform(0.3, 0.9) * dur, rng.uniform(0.5, 3.0))
        for _ in range(3):
            kill("sender", rng.uniform(0.05, 0.9) * dur, rng.uniform(0.5, 3.0))
        for _ in range(3):
            kill("reporter", rng.uniform(0.05, 0.9) * dur, rng.uniform(0.5, 3.0))
        plan.append((rng.uniform(0.2, 0.45) * dur, "restart-kafka", rng.uniform(1.0, 4.0)))
        plan.append((rng.uniform(0.55, 0.8) * dur, "restart-postgres", rng.uniform(1.0, 4.0)))
        t = rng.uniform(0.1, 0.8) * dur
        plan.append((t, "sim", {"rate_limit_per_s": 50}))
        plan.append((t + 4.0, "sim", {"rate_limit_per_s": 0}))
        plan.append((rng.uniform(0.1, 0.9) * dur, "inject", "jobs"))
        plan.append((rng.uniform(0.1, 0.9) * dur, "inject", "results"))
        # faults at single steps of the provider protocol, each answer lost after the
        # simulator processed the request: a timed-out or reset send, a reset add, 5xx on
        # create and on the group reads the resolver depends on, a webhook that drops reports
        for knobs in (STEP_FAULTS_SEND, STEP_FAULTS_READ):
            t = rng.uniform(0.1, 0.75) * dur
            plan.append((t, "sim", knobs))
            plan.append((t + rng.uniform(4.0, 8.0), "sim", STEP_FAULTS_OFF))
    if cancel:
        # the second run is cancelled while the faults go on (drawn last: the faults above
        # stay those of earlier versions for a given seed)
        plan.append((rng.uniform(0.15, 0.7) * dur, "cancel", "second run"))
    elif scenario == "kill-planner":
        plan.append((0.3, "kill", "lease-owner"))
        plan.append((2.3, "restart", "lease-owner"))
    elif scenario.startswith("kill-"):
        kind = scenario[5:]
        plan.append((0.4 * dur, "kill", f"{kind}-1"))
        plan.append((0.4 * dur + 2.0, "restart", f"{kind}-1"))
    elif scenario == "restart-kafka":
        plan.append((0.3 * dur, "restart-kafka", 3.0))
    elif scenario == "restart-postgres":
        plan.append((0.4 * dur, "restart-postgres", 3.0))
    elif scenario == "provider-outage":
        plan.append((0.2 * dur, "sim", {"error_5xx_ratio": 1.0}))
        plan.append((0.2 * dur + 30.0, "sim", {"error_5xx_ratio": 0.0}))
    plan.sort(key=lambda e: e[0])
    return plan


# ---------------------------------------------------------------- checks

def job_id(run, started_ms, key, attempt):
    """schemas/kafka/README.md "Deterministic job id", written again here."""
    k = key.encode()
    body = k if len(k) <= 200 else hashlib.sha256(k).digest()
    d = hashlib.sha256(b"msgfleet.job.v1\0" + run + len(k).to_bytes(4, "big") + body
                       + attempt.to_bytes(4, "big")).digest()
    b = bytearray(started_ms.to_bytes(8, "big")[2:] + d[:10])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def recipients_of(mysql_db, run_id, started_ms, max_id=None):
    """job id -> "valid"/"invalid" for every distinct recipient of the run (MySQL order);
    with max_id, of a run whose target query reads the customers with id <= max_id."""
    where = "" if max_id is None else f" WHERE id <= {int(max_id)}"
    rows = campaign.mysql_rows(mysql_db, f"SELECT id, phone FROM customers{where} ORDER BY id")
    run = uuid.UUID(run_id).bytes
    out, seen = {}, set()
    for cid, phone in rows:
        norm = campaign.normalise_phone(phone)
        if norm is None:
            out[job_id(run, started_ms, f"invalid:{cid}", JOB_ATTEMPT)] = "invalid"
        elif norm not in seen:
            seen.add(norm)
            out[job_id(run, started_ms, norm, JOB_ATTEMPT)] = "valid"
    return out


def verify(dsn, mysql_db, led, run_id, max_id=None, cancelled=False):
    """The run's recipients against message_logs and the ledger of the run (led: run id ->
    [(job id, accepted unix s)]). A recipient with no accepted message must have a 'failed'
    row, or, in a cancelled run, a 'cancelled' one (RUN_CANCELLED)."""
    problems = []
    r = campaign.psql(dsn, "SELECT floor(extract(epoch FROM started_at) * 1000)::bigint "
                           f"FROM workflow_runs WHERE id = '{run_id}'")
    started_ms = int(r[0][0])
    recips = recipients_of(mysql_db, run_id, started_ms, max_id)
    rows = campaign.psql(dsn, "SELECT id, status, coalesce(error_code, '') FROM message_logs "
                              f"WHERE workflow_run_id = '{run_id}'")
    logs = {rid: (st, code) for rid, st, code in rows}
    counts = {}
    for job, _ in led.get(run_id, []):
        counts[job] = counts.get(job, 0) + 1
    halted = ("failed", "cancelled") if cancelled else ("failed",)
    once = dup = lost = bad_failed = bad_sent = n_cancelled = 0
    for jid, kind in recips.items():
        n = counts.get(jid, 0)
        st = logs.get(jid, ("", ""))[0]
        if n == 1:
            once += 1
        elif n > 1:
            dup += 1
        elif st not in halted:
            lost += 1
        if n >= 1 and st in ("failed", "cancelled"):
            bad_failed += 1
        if n == 0 and st in ("sent", "delivered"):
            bad_sent += 1
        n_cancelled += st == "cancelled"
    odd = {}
    for st, code in logs.values():
        if st not in ("sent", "delivered", "failed", "cancelled") or \
                (st == "cancelled" and code != "RUN_CANCELLED"):
            odd[f"{st} {code}".strip()] = odd.get(f"{st} {code}".strip(), 0) + 1
    if odd:
        problems.append(f"message_logs rows in no final state of this run: {json.dumps(odd)}")
    unknown_rows = sum(1 for rid in logs if rid not in recips)
    stray = sum(c for j, c in counts.items() if j not in recips)
    if logs and unknown_rows == len(logs):
        problems.append("no message_logs id matches a recomputed job id: the job id rule "
                        "(schemas/kafka/README.md) and the planner disagree")
    elif unknown_rows:
        problems.append(f"{unknown_rows} message_logs rows whose id is no recipient's job id")
    if stray:
        problems.append(f"{stray} accepted messages in the ledger for no recipient's job id")
    if bad_failed:
        problems.append(f"{bad_failed} recipients accepted by the provider but recorded "
                        "failed or cancelled")
    if bad_sent:
        problems.append(f"{bad_sent} recipients recorded sent but unknown to the provider")
    if len(logs) != len(recips):
        problems.append(f"{len(logs)} message_logs rows for {len(recips)} recipients")
    counter_problems = campaign.check_counters(dsn, run_id,
                                               "cancelled" if cancelled else "completed")
    failed_codes = {}
    for st, code in logs.values():
        if st == "failed":
            failed_codes[code] = failed_codes.get(code, 0) + 1
    delivered = sum(1 for st, _ in logs.values() if st == "delivered")
    return {"recipients": len(recips), "once": once, "dup": dup, "lost": lost,
            "delivered": delivered, "cancelled": n_cancelled,
            "logs_rows": len(logs), "counters": counter_problems, "problems": problems,
            "inconsistent": bad_failed + bad_sent + stray, "failed_codes": failed_codes}


def ok_so_far(res):
    return res["dup"] == 0 and res["lost"] == 0 and not res["counters"] and not res["problems"]


def error_digest(workdir, top=4):
    """Per daemon log: the most frequent warn/error messages (with one sample detail)."""
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, "*.log"))):
        counts, sample = {}, {}
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    m = json.loads(line)
                except ValueError:
                    continue
                if m.get("level") not in ("warn", "error") or m.get("msg") == "kafka":
                    continue
                k = f"{m['level']}: {m.get('msg')}"
                counts[k] = counts.get(k, 0) + 1
                sample[k] = m.get("error") or m.get("reason") or m.get("detail") or ""
        for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
            out.append(f"log {os.path.basename(path)}: {n}x {k} ({str(sample[k])[:200]})")
    return out


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Interrupted(f"signal {signum}")


# ---------------------------------------------------------------- the test

class Test:
    def __init__(self, a, workdir):
        self.a = a
        self.workdir = workdir
        self.rng = random.Random(a.seed)
        self.injected = []     # base64 of every injected value
        self.notes = []
        self.cancel = None     # the second run, cancelled by the plan (Test.cancel_tick)

    def sim_config(self, knobs):
        req = urllib.request.Request(f"{self.sim_url}/_sim/config",
                                     data=json.dumps(knobs).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
        except OSError as e:
            self.check_sim()
            die(f"could not change the simulator's knobs: {e}")

    def run_state(self):
        r = campaign.psql(self.dsn, "SELECT status, coalesce(planner_owner, ''), "
                                    "expansion_finished_at IS NOT NULL, success_count, "
                                    "failed_count, target_count FROM workflow_runs "
                                    f"WHERE id = '{self.run_id}'", check=False)
        return r[0] if r else None

    def check_sim(self):
        """The simulator is not supervised: its in-memory ledger is the evidence."""
        for name, p, _ in self.sup.fleet.procs:
            if name == "coolsms-sim" and p.poll() is not None:
                die(f"the simulator exited with status {p.returncode} during the test (a "
                    "negative status is a signal: was it killed from outside?); its log: "
                    f"{os.path.join(self.workdir, 'coolsms-sim.log')}")

    def run_end(self, run_id):
        """(status, completed_at set 't'/'f', success_count, failed_count) or None."""
        r = campaign.psql(self.dsn, "SELECT status, completed_at IS NOT NULL, success_count, "
                                    "failed_count FROM workflow_runs "
                                    f"WHERE id = '{run_id}'", check=False)
        return tuple(r[0]) if r else None

    def verify_cancelled(self, mysql_db, led):
        """The second run: verify() with 'cancelled' rows allowed, the run ended 'cancelled'
        (check_counters), the cancel's log entry, and the ledger after the cancel: stop_ms is
        the time from the cancel (its log entry) to the run's last accepted message (0 when
        none came after it), late the messages accepted more than CANCEL_STOP_S after it.
        Late messages are a note, not a failure, up to --cancel-limit-s: under the plan's
        faults a group the sender could not delete at the provider is sent as planned."""
        c = self.cancel
        res = verify(self.dsn, mysql_db, led, c["run"], c["max_id"], cancelled=True)
        res.update(cancel_at="-", stop_ms="-", late="-")
        if c["done"] is None:
            res["problems"].append(f"the second run was never cancelled "
                                   f"({c['error'] or 'the cancel never came due'})")
            return res
        res["cancel_at"] = f"{c['done'] - self.start:.1f}s"
        ev = halt_check.log_event(self.dsn, c["run"], "cancelled")
        if ev is None:
            res["problems"].append("no 'cancelled' entry in the second run's logs")
            return res
        if not ev[1].startswith("cli:") or ev[2] != CANCEL_REASON:
            res["problems"].append(f"the cancel's log entry names {ev[1]!r} / {ev[2]!r}")
        t_cancel = halt_check.parse_ts(ev[0])
        times = sorted(t for _, t in led.get(c["run"], []))
        after = [t for t in times if t > t_cancel]
        late = [t for t in after if t > t_cancel + CANCEL_STOP_S]
        stop = (after[-1] - t_cancel) if after else 0.0
        res.update(stop_ms=f"{stop * 1000:.0f}", late=len(late))
        say(f"cancelled run: {len(times) - len(after)} messages accepted before the cancel, "
            f"{len(after)} after it (the last {stop * 1000:.0f} ms after), {len(late)} of them "
            f"later than {CANCEL_STOP_S:.0f} s; {res['cancelled']} recipients cancelled")
        if late and stop > self.a.cancel_limit_s:
            res["problems"].append(f"{len(late)} messages of the cancelled run accepted up to "
                                   f"{stop:.1f} s after the cancel (limit "
                                   f"{self.a.cancel_limit_s:.0f} s under faults)")
        elif late:
            self.notes.append(f"{len(late)} messages of the cancelled run were accepted more "
                              f"than {CANCEL_STOP_S:.0f} s after the cancel (the last "
                              f"{stop:.1f} s after it)")
        if res["cancelled"] == 0:
            self.notes.append("the cancel came after the second run had sent everything")
        elif not times:
            self.notes.append("the cancel came before the second run sent anything")
        return res

    def cancel_tick(self):
        """The planned cancel of the second run, once due: `msgfleet cancel` as soon as the run
        has an accepted message (so it lands while the run sends), or CANCEL_WAIT_S after it
        was due whatever the run's progress; tried again every second while it fails
        (PostgreSQL down), for at most 2 minutes."""
        c = self.cancel
        now = time.time()
        if c is not None and c["due"] is None and c["due_at"] is not None \
                and now >= c["due_at"]:
            c["due"] = now   # its moment, even while a Kafka or PostgreSQL restart blocks the plan
            say(f"t+{now - self.start:5.1f}s cancel due")
        if c is None or c["due"] is None or c["done"] is not None or c["error"] \
                or now < c["next_try"]:
            return
        c["next_try"] = now + 0.25
        try:
            n = halt_check.ledger_count(self.sim_url, c["run"])
        except (OSError, ValueError, KeyError):
            n = 0
        if n == 0 and now < c["due"] + CANCEL_WAIT_S:
            return
        p = subprocess.run([self.cli, "cancel", c["run"], "--reason", CANCEL_REASON],
                           capture_output=True, text=True, timeout=60,
                           env=campaign.cli_env(self.dsn))
        if p.returncode != 0:
            say(f"msgfleet cancel exited {p.returncode} ({p.stderr.strip()[:200]}); "
                "trying again in 1 s")
            c["next_try"] = time.time() + 1.0
            if time.time() > c["due"] + CANCEL_WAIT_S + 120:
                c["error"] = f"msgfleet cancel kept failing: {p.stderr.strip()[:200]}"
            return
        c["done"] = time.time()
        c["accepted_before"] = n
        say(f"t+{c['done'] - self.start:5.1f}s msgfleet cancel {c['run']} (the run had {n} "
            "accepted messages)")

    def idle(self, seconds):
        """Sleeps while supervising the daemons (and issuing the planned cancel)."""
        end = time.time() + seconds
        while True:
            self.sup.poll()
            self.check_sim()
            self.cancel_tick()
            left = end - time.time()
            if left <= 0:
                return
            time.sleep(min(0.2, left))

    def wait_proc(self, p):
        while p.poll() is None:
            self.sup.poll()
            self.cancel_tick()
            time.sleep(0.2)
        return p.returncode

    def resolve(self, name):
        if name != "lease-owner":
            return name
        if self.lease_victim is None:
            self.lease_victim = "planner-1"
            for _ in range(50):   # the claim may take a poll interval
                st = self.run_state()
                if st and st[1].startswith("planner-"):
                    self.lease_victim = st[1]
                    if st[2] == "t":
                        self.notes.append("the lease owner had already finished expanding")
                    break
                time.sleep(0.02)
        return self.lease_victim

    def do(self, action, arg):
        if action == "kill":
            name = self.resolve(arg)
            if not self.sup.kill(name):
                # still down from an earlier kill: hit another instance of the same kind
                kind = name.split("-")[0]
                for i in range(COUNTS[kind]):
                    other = f"{kind}-{i + 1}"
                    if self.sup.kill(other):
                        say(f"{name} is down; killing {other} instead")
                        name = other
                        break
                else:
                    say(f"every {kind} is down; nothing to kill")
            else:
                say(f"SIGKILL {name}")
            self.killed.setdefault(arg, []).append(name)
        elif action == "restart":
            # restarts what the kill of the same planned name hit
            hit = self.killed.get(arg) or [self.resolve(arg)]
            self.sup.restart(hit.pop(0))
        elif action == "sim":
            say(f"simulator knobs {json.dumps(arg)}")
            self.sim_config(arg)
        elif action == "restart-kafka":
            say("stopping Kafka")
            self.stack.kafka_stop()
            self.idle(arg)
            say("starting Kafka")
            if self.wait_proc(self.stack.stack_sh("up", wait=False)) != 0:
                die("stack.sh up failed after stopping Kafka (see stack.log)")
            self.service_restarts += 1
            say("Kafka is back")
        elif action == "restart-postgres":
            say("stopping PostgreSQL")
            self.stack.pg_stop()
            self.idle(arg)
            say("starting PostgreSQL")
            if self.wait_proc(self.stack.stack_sh("up", wait=False)) != 0:
                die("stack.sh up failed after stopping PostgreSQL (see stack.log)")
            self.service_restarts += 1
            say("PostgreSQL is back")
        elif action == "cancel":
            if self.cancel["due"] is None:
                self.cancel["due"] = time.time()
            self.cancel_tick()
        elif action == "inject":
            msgs = poison_messages(self.rng, arg)
            key = "01000000000" if arg == "jobs" else str(uuid.UUID(int=self.rng.getrandbits(128)))
            if inject(self.workdir, self.brokers, self.prefix + arg, key, msgs):
                self.injected += [base64.b64encode(v).decode() for _, v in msgs]
                say(f"injected {len(msgs)} poison messages into {self.prefix}{arg}")

    def main(self):
        a = self.a
        self.service_restarts = 0
        self.lease_victim = None
        self.killed = {}
        name = f"mftest_faults_{random.randrange(16**6):06x}"
        say(f"workspace {self.workdir}")
        self.stack = Stack(self.workdir, find_kafka_libs())
        fleet = campaign.Fleet(a.build, self.workdir, {})
        sup = None
        try:
            say(f"starting a private stack in {self.stack.dir} (stack.sh up)")
            t0 = time.time()
            self.stack.stack_sh("up")
            os.environ.update(self.stack.env)
            say(f"stack up in {time.time() - t0:.0f} s: "
                f"PostgreSQL :{self.stack.env['MF_PG_PORT']}, "
                f"MariaDB :{self.stack.env['MF_MYSQL_PORT']}, "
                f"Kafka :{self.stack.env['MF_KAFKA_PORT']}")
            self.brokers = self.stack.env["MF_KAFKA_BROKERS"]
            self.prefix = f"{name}."
            self.dsn = campaign.create_pg_database(self.stack.env["MF_PG_DSN"], name, a.build)
            campaign.load_mysql(name, a.recipients, a.seed)
            workflow = campaign.seed_platform(self.dsn, name)
            if a.cancel:
                # the second run: another workflow to the first customers (same phones, so
                # its jobs share the partitions of the first run's), cancelled by the plan
                n_b = a.cancel_recipients
                wf_b = halt_check.add_workflow(self.dsn, "취소할 캠페인",
                                               "SELECT id, name, phone FROM customers "
                                               f"WHERE id <= {n_b}")
            if not a.auto_topics:
                # like kafka-init in production (docs/operations.md): every topic exists before
                # the fleet starts
                kafka_create_topics(self.brokers, [self.prefix + t for t in
                                                   ("jobs", "retry", "results", "dlq", "events")])
            self.sim_url = campaign.start_simulator(fleet, campaign.free_port())
            fleet.env = campaign.fleet_env(self.dsn, self.prefix, self.sim_url, name)
            # about half of the second run is sent before its cancel
            load = a.recipients + (a.cancel_recipients / 2 if a.cancel else 0)
            per_sender = max(20.0, load / (a.duration * COUNTS["sender"]))
            fleet.env.update({
                "MF_PLANNER_LEASE_S": "5", "MF_PLANNER_RETRY_MS": "1000",
                "MF_PLANNER_PAGE_SIZE": "500", "MF_PLANNER_FLUSH_TIMEOUT_MS": "30000",
                "MF_COOLSMS_TIMEOUT_MS": "2000", "MF_SENDER_RETRY_BASE_MS": "100",
                "MF_SENDER_RETRY_CAP_MS": "1000", "MF_SENDER_INDOUBT_AFTER_MS": "5000",
                "MF_SENDER_BATCH_MAX": "500", "MF_SENDER_REQUEST_SIZE": "100",
                "MF_SENDER_RATE_LIMIT": f"{per_sender:.0f}",
                "MF_REPORTER_STATUS_DELAY_MS": "1000", "MF_REPORTER_STATUS_RECHECK_MS": "2000",
            })
            # reporter-1 receives the simulator's delivery reports by webhook; the status poller
            # (every reporter) is the fallback for reports lost to kills and webhook faults
            wh_port, wh_token = campaign.free_port(), f"{random.randrange(16**40):040x}"
            fleet.env["MF_REPORTER_STATUS_POLL_AFTER_MS"] = "5000"
            webhook_env = {"MF_REPORTER_WEBHOOK_ENABLED": "true",
                           "MF_REPORTER_WEBHOOK_PORT": str(wh_port),
                           "MF_REPORTER_WEBHOOK_TOKEN": wh_token}
            bins = {k: campaign.binary(a.build, f"{k}/msgfleet-{k}") for k in KINDS}
            sup = Supervisor(fleet, lambda n: [bins[n.split("-")[0]]],
                             lambda n: dict({"MF_INSTANCE_ID": n},
                                            **(webhook_env if n == "reporter-1" else {})))
            self.sup = sup
            for kind in KINDS:
                for i in range(COUNTS[kind]):
                    sup.start(f"{kind}-{i + 1}")
            self.idle(1.0)
            self.sim_config({"webhook_url":
                             f"http://127.0.0.1:{wh_port}/{wh_token}/single-report"})
            plan = make_plan(self.rng, a.scenario, a.duration, a.cancel)
            say(f"fleet up: 2 planners, 3 senders ({per_sender:.0f} msg/s each), 2 reporters; "
                f"simulator {self.sim_url}")
            for t, action, arg in plan:
                say(f"plan: t+{t:5.1f}s {action} {json.dumps(arg)}")
            self.cli = cli = campaign.binary(a.build, "tools/msgfleet/msgfleet")
            if a.cancel:
                # triggered just before the first run: the planners claim the older run first,
                # so its expansion is not the one hit by the lease-owner kill and its jobs lie
                # early in the partitions, interleaved with the first run's: it sends while
                # the faults play
                p = subprocess.run([cli, "run", wf_b], capture_output=True, text=True,
                                   env=campaign.cli_env(self.dsn))
                if p.returncode != 0 or not p.stdout.strip():
                    die(f"msgfleet run (second run) failed: {p.stderr.strip()}")
                run_b = p.stdout.splitlines()[0].strip()
            p = subprocess.run([cli, "run", workflow], capture_output=True, text=True,
                               env=campaign.cli_env(self.dsn))
            if p.returncode != 0 or not p.stdout.strip():
                die(f"msgfleet run failed: {p.stderr.strip()}")
            self.run_id = p.stdout.splitlines()[0].strip()
            self.start = start = time.time()
            say(f"run {self.run_id} triggered")
            if a.cancel:
                # due at its planned moment (cancel_tick, called while idling and while
                # waiting for a restart), not when the plan loop gets to it
                due_at = [start + t for t, action, _ in plan if action == "cancel"]
                self.cancel = {"run": run_b, "max_id": n_b,
                               "due_at": due_at[0] if due_at else None, "due": None,
                               "done": None, "error": None, "next_try": 0.0,
                               "accepted_before": None}
                say(f"second run {run_b} triggered just before (customers with id <= {n_b}; "
                    "cancelled by the plan)")
            for t, action, arg in plan:
                self.idle(start + t - time.time())
                say(f"t+{time.time() - start:5.1f}s {action}")
                self.do(action, arg)
            # settle: the run completes, then in-doubt claims and late results have time;
            # give up early when nothing moved for --stall seconds
            deadline = start + a.timeout
            last, moved, seen = None, time.time(), None
            c = self.cancel
            while time.time() < deadline:
                st = self.run_state()
                st_b = self.run_end(c["run"]) if c else None
                if st and (st, st_b) != seen:
                    last, seen, moved = st, (st, st_b), time.time()
                # the second run ends 'cancelled' once every job it expanded has its row
                b_done = c is None or c["error"] or (c["done"] is not None and st_b is not None
                                                      and st_b[1] == "t")
                if st and st[0] != "running" and b_done:
                    break
                if time.time() - moved > a.stall:
                    self.notes.append(f"the run stalled: no counter moved for {a.stall:.0f} s")
                    break
                self.idle(1.0)
            took = time.time() - start
            say(f"run state after {took:.0f} s: {last}")
            if c:
                say(f"second run state: {seen[1] if seen else None}")
            self.idle(12.0)
            # every accepted message ends final (delivered or failed): webhook or poller
            unfinal = None
            runs = [self.run_id] + ([c["run"]] if c else [])
            in_runs = ", ".join(f"'{r}'" for r in runs)
            for _ in range(90):
                r = campaign.psql(self.dsn, "SELECT count(*) FROM message_logs WHERE "
                                            f"workflow_run_id IN ({in_runs}) AND "
                                            "status = 'sent'", check=False)
                unfinal = int(r[0][0]) if r else None
                if unfinal == 0:
                    break
                self.idle(1.0)
            stop_bad = sup.stop()
            for n, rc in stop_bad:
                self.notes.append(f"{n} did not stop cleanly on SIGTERM: {rc}")
            self.check_sim()
            led = halt_check.ledger_by_run(self.sim_url)
            res = verify(self.dsn, name, led, self.run_id)
            stray = sum(len(v) for r, v in led.items() if r not in runs)
            if stray:
                res["problems"].append(f"{stray} accepted messages in the ledger for no run "
                                       "of the test")
            res_b = self.verify_cancelled(name, led) if c else None
            dlq = dlq_messages(a.build, self.brokers, self.prefix)
            dvals = [((m.get("value") or {}).get("val", "")) for m in dlq]
            missing = [v for v in self.injected if v not in dvals]
            other = [m for m, v in zip(dlq, dvals) if v not in self.injected]
            extra = len(dlq) - len(other) - (len(self.injected) - len(missing))
            if missing:
                res["problems"].append(f"{len(missing)} of {len(self.injected)} injected "
                                       "messages never reached the dlq")
            if other:
                reasons = {}
                for m in other:
                    rs = (m.get("value") or {}).get("reason", m.get("error", "?"))
                    reasons[rs] = reasons.get(rs, 0) + 1
                self.notes.append(f"{len(other)} dead letters not injected by the test: "
                                  f"{json.dumps(reasons, ensure_ascii=False)[:400]}")
            if extra:
                self.notes.append(f"{extra} injected messages were dead-lettered more than once")
            if unfinal:
                res["problems"].append(f"{unfinal} accepted messages never reached a final "
                                       "status (delivered or failed) in message_logs")
            if res["once"] and not res["delivered"]:
                self.notes.append("no message_logs row reached 'delivered': the reporter's "
                                  "final-status poller never got an answer")
            crashes = [(n, rc) for n, rc in sup.exits if isinstance(rc, int) and rc < 0]
            for n, rc in sup.exits:
                self.notes.append(f"{n} exited on its own with status {rc}")
            if crashes:
                res["problems"].append(f"daemons died of a signal: {crashes}")
            if last is None or last[0] != "completed":
                res["problems"].append(f"the run did not complete after {took:.0f} s "
                                       f"(status, owner, expanded, sent, failed, target: "
                                       f"{last})")
            for pr in res["counters"]:
                say(f"FAIL counters: {pr}")
            for pr in res["problems"]:
                say(f"FAIL: {pr}")
            for pr in (res_b["counters"] + res_b["problems"]) if res_b else []:
                say(f"FAIL cancelled run: {pr}")
            for n in self.notes:
                say(f"note: {n}")
            ok = ok_so_far(res) and (res_b is None or ok_so_far(res_b))
            if not ok:
                for line in error_digest(self.workdir):
                    say(line)
            say(f"details: scenario={a.scenario} run={self.run_id} seconds={took:.0f} "
                f"failed_by_code={json.dumps(res['failed_codes'])} "
                f"delivered={res['delivered']} "
                f"injected={len(self.injected)} own_exits={len(sup.exits)} "
                f"logs={self.workdir}")
            if res_b is not None:
                print(f"fault-test: cancelled-run seed={a.seed} "
                      f"recipients={res_b['recipients']} sent_once={res_b['once']} "
                      f"cancelled={res_b['cancelled']} duplicates={res_b['dup']} "
                      f"lost={res_b['lost']} logs_rows={res_b['logs_rows']} "
                      f"counters_match={'no' if res_b['counters'] else 'yes'} "
                      f"cancel_at=t+{res_b['cancel_at']} stop_ms={res_b['stop_ms']} "
                      f"late={res_b['late']} ok={'yes' if ok_so_far(res_b) else 'no'}",
                      flush=True)
            print(f"fault-test: seed={a.seed} recipients={res['recipients']} "
                  f"accepted_once={res['once']} duplicates={res['dup']} lost={res['lost']} "
                  f"logs_rows={res['logs_rows']} "
                  f"counters_match={'no' if res['counters'] else 'yes'} "
                  f"all_final={'yes' if unfinal == 0 else 'no'} dlq={len(dlq)} "
                  f"kills={sup.kills} restarts={sup.restarts + self.service_restarts} "
                  f"cancel={'off' if res_b is None else 'ok' if ok_so_far(res_b) else 'FAILED'}",
                  flush=True)
            return 0 if ok else 1
        finally:
            if sup is not None:
                sup.stop()
            fleet.stop()
            if not a.keep:
                self.stack.stack_sh("down", wait=False).wait()
                shutil.rmtree(self.stack.dir, ignore_errors=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="fault plan seed (default: random)")
    ap.add_argument("--recipients", type=int, default=20000)
    ap.add_argument("--scenario", choices=SCENARIOS, default="all")
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds the run should last without faults (senders are throttled "
                         "to it) and over which the faults are spread (default 60, single "
                         "faults 30)")
    ap.add_argument("--timeout", type=float, default=600, help="most seconds to wait for the run")
    ap.add_argument("--stall", type=float, default=150,
                    help="give up when the run's counters did not move for this many seconds")
    ap.add_argument("--auto-topics", action="store_true",
                    help="do not create the topics first: the fleet's first use creates them "
                         "(broker auto-creation, as on the development stack)")
    ap.add_argument("--keep", action="store_true", help="keep the private stack's data")
    ap.add_argument("--cancel", action=argparse.BooleanOptionalAction, default=None,
                    help="also trigger a second run (another workflow, the first "
                         "--cancel-recipients customers) and cancel it at a random moment of "
                         "the plan (default: on in the 'all' scenario, off in single faults)")
    ap.add_argument("--cancel-recipients", type=int, default=None,
                    help="customers of the cancelled run (default: a quarter of --recipients)")
    ap.add_argument("--cancel-limit-s", type=float, default=10.0,
                    help="fail when the cancelled run has a message accepted later than this "
                         "after the cancel (later than 2 s is reported as a note); the default "
                         "allows the halt check (1 s), one in-doubt resolution "
                         "(MF_SENDER_INDOUBT_AFTER_MS, 5 s here) and a provider timeout (2 s)")
    a = ap.parse_args(argv)
    if a.cancel is None:
        a.cancel = a.scenario == "all"
    if a.cancel_recipients is None:
        a.cancel_recipients = max(1, a.recipients // 4)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2**31)
    if a.duration is None:
        a.duration = 60.0 if a.scenario == "all" else 30.0
    a.build = os.path.abspath(a.build)
    say(f"seed={a.seed} (replay: scripts/faults.py --seed {a.seed} --scenario {a.scenario} "
        f"--recipients {a.recipients}{' --cancel' if a.cancel else ' --no-cancel'})")
    workdir = tempfile.mkdtemp(prefix="mffaults-")
    os.chmod(workdir, 0o755)
    # SIGTERM/SIGINT (ctest timeout, ^C) still stop the fleet and the private stack; a second
    # signal during the clean-up is ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return Test(a, workdir).main()
    except Interrupted as e:
        say(f"interrupted ({e}); stopped the fleet and the private stack")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

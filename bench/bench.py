#!/usr/bin/env python3
"""bench: end-to-end, floor, peer, latency, scale-out, rate and lane figures of the fleet.

One command on the local stack (scripts/env.sh addresses; read BENCHMARKS.md):

  python3 bench/bench.py [--recipients 1000000] [--build build-bench]

Stages, all against the same PostgreSQL server (its settings are printed once):
  1. setup: PostgreSQL database (migrated), MariaDB sample customers, the campaign workflow
     (scripts/campaign.py does all three; imported, not copied); the fleet with delivery
     reports 1 s after sending, by webhook to reporter-1;
  2. warm-up: campaigns of min(N, 200,000) until the broker has compiled its hot code;
  3. latency: with the fleet idle and warm, 10 runs of 20 recipients; trigger (workflow_runs.
     started_at) to the first message accepted by the simulator (ledger acceptedAt); median;
  4. end to end: one run of N recipients, trigger to the last message_logs row and the run
     completed (e2e_s), and to every row final (final_s); a sampler (0.5 s) follows the
     planner, the simulator (accepted) and the reporter (run counters) and each daemon's CPU
     time and peak RSS; with N above --reference, a run of --reference recipients of the same
     data first, and a bench10m: line;
  5. floors: plain COPYs of the run's rows into the seed's own message_logs (migration 0001
     alone: seed_floor_s) and into a migrated one (floor_s); the delivery reports as one
     UPDATE ... FROM a COPY-loaded table (the update floor of final_s);
  6. peers: bench/peer/peer.js, the same campaign with the solapi SDK, writing with INSERTs
     and with COPY, each into a fresh database;
  7. scale-out: the simulator answering after 50 ms, a run with 1, 2 and 4 senders;
  8. rate: 4 senders sharing a 500/s account rate (every full 10 s window of the ledger within
     5 %), then a 30,000-recipient run of a workflow limited to 6,000/min (5 minutes +-5 %);
  9. tx: trigger to first send of a 10-recipient transactional run and of one event, each 3 s
     and 10 s after an N-recipient campaign started (--tx-rounds campaigns, median);
 10. events: --events-rate events a second for --events-seconds, each sent exactly once.
Before each stage a settle check waits for a quiet database and says loudly when it was not.
It writes a CSV time series and a PNG chart (gnuplot) into --out, and its closing line is
`bench: recipients=N e2e_s=... transactional_under_load_ms=T max_rss_mb=M scale_1_2_4=a,b,c`.
"""

import argparse
import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def load_env_defaults():
    """The values of scripts/env.sh for every MF_* variable the caller did not set."""
    p = subprocess.run(["sh", "-c", f'. "{ROOT}/scripts/env.sh" && env -0'],
                       capture_output=True, env=dict(os.environ, MF_ROOT=ROOT))
    for item in p.stdout.split(b"\0"):
        k, _, v = item.decode(errors="replace").partition("=")
        if k.startswith("MF_") and not os.environ.get(k):
            os.environ[k] = v


load_env_defaults()
import campaign  # noqa: E402  (scripts/campaign.py, after sys.path and the environment)
import event as events_pub  # noqa: E402  (scripts/event.py: msgpack events through kcat)

TICK = os.sysconf("SC_CLK_TCK")
PG_SETTINGS = ["server_version", "shared_buffers", "work_mem", "maintenance_work_mem",
               "synchronous_commit", "fsync", "wal_level", "max_wal_size", "checkpoint_timeout",
               "effective_io_concurrency", "max_connections"]
LATENCY_IDS = 20


def log(msg):
    print(f"bench: {msg}", flush=True)


# ---------------------------------------------------------------- small helpers

def q1(dsn, sql):
    rows = campaign.psql(dsn, sql)
    return rows[0] if rows else None


class Session:
    """One psql process kept open for the polls made while the fleet is measured (several a
    second): a query then costs no process start and no new server connection, which with
    a psql per poll took about 4 % of the machine's CPU during the e2e stage."""

    END = "__bench_session_end__"

    def __init__(self, dsn):
        self.p = subprocess.Popen(["psql", dsn, "-X", "-q", "-At", "-F", "\t"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lock = threading.Lock()

    def rows(self, sql):
        with self.lock:
            self.p.stdin.write(sql.strip().rstrip(";") + ";\n\\echo " + self.END + "\n")
            self.p.stdin.flush()
            out, errors = [], []
            while True:
                line = self.p.stdout.readline()
                if line == "":
                    raise RuntimeError("psql session ended")
                line = line.rstrip("\n")
                if line == self.END:
                    break
                if line.startswith(("ERROR:", "FATAL:", "psql:")):
                    errors.append(line)
                elif line:
                    out.append(line.split("\t"))
            if errors:
                raise RuntimeError(f"{'; '.join(errors)} (sql: {sql[:200]})")
            return out

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()


_sessions = {}


def session(dsn):
    """The open psql session for dsn (shared by threads; queries are serialized)."""
    if dsn not in _sessions:
        _sessions[dsn] = Session(dsn)
    return _sessions[dsn]


def close_sessions():
    for s in _sessions.values():
        s.close()
    _sessions.clear()


def num(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def host_cpu_seconds():
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK   # all but idle and iowait


def cpu_by_comm(comms):
    """{name: CPU seconds} summed over the running processes whose /proc/PID/comm is one of
    comms, in one pass over /proc."""
    total = {c: 0.0 for c in comms}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name in total:
            total[name] += cpu_seconds(int(d))
    return total


def postgres_cpu_seconds():
    """CPU seconds of the PostgreSQL server and its backends."""
    return cpu_by_comm(("postgres",))["postgres"]


class PgCpuByClient:
    """CPU seconds of each PostgreSQL process since start(), grouped by what it serves: the
    client's application_name (msgfleet-sender, msgfleet-reporter...) or the backend type
    (autovacuum worker, walwriter...). poll() often enough to see short-lived processes such as
    autovacuum workers; CPU a process spent after its last poll is not counted."""

    def __init__(self, dsn):
        self.dsn, self.base, self.last, self.label = dsn, {}, {}, {}

    def _postgres_pids(self):
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/comm") as f:
                        if f.read().strip() == "postgres":
                            yield int(d)
                except OSError:
                    pass

    def start(self):
        self.base = {p: cpu_seconds(p) for p in self._postgres_pids()}
        self.last, self.label = dict(self.base), {}

    def poll(self):
        names = {int(r[0]): r[1] for r in session(self.dsn).rows(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type, '?') "
            "FROM pg_stat_activity")}
        for p in self._postgres_pids():
            c = cpu_seconds(p)
            if c > 0:
                self.last[p] = c
            if p in names and p not in self.label:
                self.label[p] = names[p]

    def result(self):
        out = {}
        for p, c in self.last.items():
            name = self.label.get(p, "postmaster/other")
            out[name] = out.get(name, 0.0) + c - self.base.get(p, 0.0)
        return {k: v for k, v in out.items() if v >= 0.005}


# JIT compile seconds of the broker during the e2e stage above which the stack counts as cold.
# Measured at 1 M: a freshly started broker compiled 6.2 s in the first e2e run (Kafka 6.7 us
# per message, e2e 26.7 s), 2.6 s in the second (3.7 us, 23.3 s), 0.4 s in the third (2.1 us,
# 22.3 s); a broker warm from a morning of runs, 0.0 s.
COLD_JIT_S = 1.0
WARMUP_RECIPIENTS = 200_000
DELIVER_DELAY_MS = 1000  # the simulator's delay from accepting to reporting a final status

# The other servers sharing the machine during the e2e stage, by process name.
OTHER_SERVERS = {"simulator": "coolsms-sim", "kafka": "java", "mariadb": "mariadbd"}


def other_cpu_seconds():
    cpu = cpu_by_comm(OTHER_SERVERS.values())
    return {k: cpu[c] for k, c in OTHER_SERVERS.items()}


def kafka_jit_seconds():
    """Seconds the stack's Kafka broker (the pid in $MF_STACK_DIR/kafka/kafka.pid, as
    scripts/stack.sh writes it) has spent compiling (JIT), from `jstat -compiler`; None when
    there is no jstat or no pid file. A freshly started broker compiles for minutes under load,
    which costs the fleet CPU that a long-running broker does not."""
    try:
        with open(os.path.join(os.environ.get("MF_STACK_DIR", ""), "kafka", "kafka.pid")) as f:
            pid = f.read().strip()
        out = subprocess.run(["jstat", "-compiler", pid], capture_output=True, text=True,
                             timeout=20, env=dict(os.environ, LC_ALL="C")).stdout.split("\n")
        head, vals = out[0].split(), out[1].split()
        return float(vals[head.index("Time")])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def http_json(url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def iso_to_epoch(s):
    """The simulator's acceptedAt (ISO 8601 UTC, optional fraction) as epoch seconds."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", s)
    if not m:
        raise ValueError(f"unexpected acceptedAt {s!r}")
    import calendar
    t = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)) + (0, 0, 0))
    frac = float(m.group(7)) if m.group(7) else 0.0
    off = 0
    z = m.group(8)
    if z and z != "Z":
        sign = -1 if z[0] == "-" else 1
        digits = z[1:].replace(":", "")
        off = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t + frac - off


def ledger_times(sim_url, run_id):
    """acceptedAt (epoch seconds, sorted) of every accepted message of a run."""
    out = []
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=600) as r:
        for line in r:
            if not line.strip():
                continue
            m = json.loads(line)
            if (m.get("customFields") or {}).get("runId") == run_id:
                out.append(iso_to_epoch(m["acceptedAt"]))
    out.sort()
    return out


class Sim:
    def __init__(self, url):
        self.url = url

    def reset(self):
        http_json(f"{self.url}/_sim/reset", {})

    def config(self, **knobs):
        http_json(f"{self.url}/_sim/config", knobs)

    def accepted(self):
        return int(http_json(f"{self.url}/_sim/stats")["accepted"])


# ---------------------------------------------------------------- the fleet

def daemon_pids(fleet):
    """{name: pid} of the fleet's daemons (the simulator excluded)."""
    return {name: p.pid for name, p, _ in fleet.procs if name != "coolsms-sim"}


def role(name):
    return name.rsplit("-", 1)[0]


def settle(ctx, before, limit=90.0):
    """Waits (at most limit s) until PostgreSQL runs no autovacuum worker and the machine is
    nearly idle. Autovacuum of the previous stage's million-row tables otherwise takes CPU
    from the next stage: a scale-out figure measured right after the peer came out 10 %
    lower than alone. A database still busy after the limit is recorded in ctx["unsettled"]
    and fails the run's settle check."""
    dsn = ctx["admin_dsn"]
    t0 = time.time()
    workers, busy, pg_busy = 0, 0.0, 0.0
    while time.time() - t0 < limit:
        workers = int(session(dsn).rows("SELECT count(*) FROM pg_stat_activity "
                                        "WHERE backend_type = 'autovacuum worker'")[0][0])
        b0, p0 = host_cpu_seconds(), postgres_cpu_seconds()
        time.sleep(1.0)
        busy, pg_busy = host_cpu_seconds() - b0, postgres_cpu_seconds() - p0
        if workers == 0 and busy < 0.3:
            log(f"settle: quiet after {time.time() - t0:.1f} s, before {before}")
            return
        if workers == 0 and pg_busy < 0.05 and time.time() - t0 >= 10:
            log(f"settle: the database is quiet, the machine is not ({busy * 100:.0f} % of a "
                f"core, other processes) after {time.time() - t0:.1f} s, before {before}")
            return
    ctx.setdefault("unsettled", []).append(before)
    log(f"settle: FAILED: the database is still busy after {limit:.0f} s before {before} "
        f"({workers} autovacuum workers, postgres {pg_busy * 100:.0f} % of a core): this "
        "stage's figures include an earlier stage's work")


def trigger(build, dsn, workflow):
    cli = campaign.binary(build, "tools/msgfleet/msgfleet")
    p = subprocess.run([cli, "run", workflow], capture_output=True, text=True,
                       env=campaign.cli_env(dsn))
    if p.returncode != 0 or not p.stdout.strip():
        campaign.die(f"msgfleet run failed: {p.stderr.strip()}")
    return p.stdout.split()[0]


def run_state(dsn, run_id):
    r = session(dsn).rows("SELECT status, coalesce(expansion_cursor, ''), expansion_finished_at IS NOT NULL, "
                "success_count + failed_count, target_count "
                f"FROM workflow_runs WHERE id = '{run_id}'")[0]
    return r[0], r[1], r[2] == "t", int(r[3]), int(r[4])


def wait_run(dsn, run_id, timeout, fleets, on_poll=None, period=0.5):
    deadline = time.time() + timeout
    while True:
        status = run_state(dsn, run_id)[0]
        if on_poll:
            on_poll()
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            campaign.die(f"run {run_id} ended {status}")
        for f in fleets:
            f.check_alive()
        if time.time() > deadline:
            campaign.die(f"run {run_id} not completed after {timeout:.0f} s")
        time.sleep(period)


PLANNER_PROGRESS = ("msgfleet_planner_jobs_total", "msgfleet_planner_invalid_total",
                    "msgfleet_planner_duplicates_dropped_total")


def metrics_url(fleet, name):
    """/metrics of the fleet's daemon `name` (planner-1, reporter-2...), from its
    `http listening` log line (or None)."""
    try:
        with open(os.path.join(fleet.workdir, f"{name}.log")) as f:
            ports = [json.loads(l).get("port") for l in f if '"http listening"' in l]
    except (OSError, ValueError):
        return None
    return f"http://127.0.0.1:{ports[-1]}/metrics" if ports and ports[-1] else None


def planner_metrics_url(fleet):
    """/metrics of the fleet's first planner (or None)."""
    return metrics_url(fleet, "planner-1")


def metric_samples(url, names):
    """(series with its labels, value) of every sample of the named metrics at url."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        series, value = line.rsplit(" ", 1) if " " in line else (line, "")
        if series.split("{", 1)[0] in names:
            yield series, num(value)


def metric_sum(url, names):
    """Sum of the samples of the named metrics (all label sets) at url."""
    return sum(v for _, v in metric_samples(url, names))


def planner_progress(url):
    """Recipients the planner has published, rejected or dropped as duplicates (its counters
    advance per acknowledged page; expansion_cursor is only saved with the lease)."""
    return int(metric_sum(url, PLANNER_PROGRESS))


def status_finals(fleet):
    """Final statuses the reporters' status pollers have produced so far (None if unknown):
    each becomes a message_logs UPDATE, work that competes with the run's own rows."""
    total = 0.0
    for name, _, _ in fleet.procs:
        if role(name) != "reporter":
            continue
        url = metrics_url(fleet, name)
        try:
            total += metric_sum(url, ("msgfleet_reporter_status_finals_total",)) if url else 0
        except (OSError, ValueError):
            return None
    return int(total)


REPORT_PATHS = ("msgfleet_reporter_webhook_reports_total", "msgfleet_reporter_early_finals_total",
                "msgfleet_reporter_finals_merged_total", "msgfleet_reporter_rows_total")
WEBHOOK_SECONDS = ("msgfleet_reporter_webhook_request_seconds_sum",
                   "msgfleet_reporter_webhook_request_seconds_count")


def report_paths(fleet):
    """{metric{labels}: value} of the reporters' report counters (receiver statuses, early
    finals parked and applied, finals merged into their rows' inserts, rows by operation),
    summed over reporters; {} if unreadable. Which way the
    delivery reports went decides what each costs the database."""
    out = {}
    for name, _, _ in fleet.procs:
        url = metrics_url(fleet, name) if role(name) == "reporter" else None
        if not url:
            continue
        try:
            for series, value in metric_samples(url, REPORT_PATHS + WEBHOOK_SECONDS):
                out[series] = out.get(series, 0) + value
        except (OSError, ValueError):
            return {}
    return out


def webhook_ms(before, after):
    """{part: mean milliseconds per single-report request} between two report_paths readings
    (part total: body read to answer; kafka: the wait for the broker's acknowledgements), and
    the requests answered. A provider posting one request at a time gets its reports in at
    100 / (its own time + total) reports per millisecond."""
    out = {}
    for series, total in after.items():
        if not series.startswith(WEBHOOK_SECONDS[0]):
            continue
        count_series = WEBHOOK_SECONDS[1] + series[len(WEBHOOK_SECONDS[0]):]
        n = after.get(count_series, 0) - before.get(count_series, 0)
        part = series.split('part="', 1)[-1].split('"', 1)[0]
        if n > 0:
            out[part] = 1000.0 * (total - before.get(series, 0)) / n
            out["requests"] = int(n)
    return out


def planner_baseline(fleet):
    """(the planner's /metrics URL, its progress now), or (None, 0) when it cannot be read:
    the sampler then falls back to expansion_cursor."""
    url = planner_metrics_url(fleet)
    try:
        return (url, planner_progress(url)) if url else (None, 0)
    except (OSError, ValueError):
        return (None, 0)


class Sampler(threading.Thread):
    """Every 0.5 s: planner rows read, simulator accepted, reporter rows, CPU per daemon."""

    def __init__(self, dsn, run_id, sim, pids, total, t0, planner=(None, 0), pgcpu=None,
                 finals=None):
        super().__init__(daemon=True)
        self.pgcpu = pgcpu
        self.finals = finals  # () -> final statuses produced so far, or None
        self.finals_seen = []
        self.dsn, self.run_id, self.sim, self.pids, self.total, self.t0 = \
            dsn, run_id, sim, pids, total, t0
        self.planner_url, self.planner_base = planner  # /metrics, progress before the trigger
        self.rows = []
        self.lock_waits = []
        self.stop_flag = threading.Event()

    def sample(self):
        r = session(self.dsn).rows("SELECT status, coalesce(expansion_cursor, ''), "
                         "expansion_finished_at IS NOT NULL, success_count + failed_count, "
                         "(SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "   AND datname = current_database()) "
                         f"FROM workflow_runs WHERE id = '{self.run_id}'")[0]
        status, cursor, expanded, recorded = r[0], r[1], r[2] == "t", int(r[3])
        waits = int(r[4])
        planned = self.total if expanded else self.planned(cursor)
        cpu = {n: cpu_seconds(p) for n, p in self.pids.items()}
        cpu["~postgres"] = postgres_cpu_seconds()
        cpu["~host"] = host_cpu_seconds()
        accepted = self.sim.accepted()
        if self.pgcpu is not None:
            self.pgcpu.poll()
        self.rows.append((time.time() - self.t0, planned, accepted, recorded, cpu))
        self.lock_waits.append(waits)
        self.finals_seen.append(self.finals() if self.finals is not None else None)
        return status

    def planned(self, cursor):
        if self.planner_url is None:
            return int(num(cursor))
        try:
            done = planner_progress(self.planner_url) - self.planner_base
        except (OSError, ValueError):
            return int(num(cursor))
        return max(0, min(done, self.total))

    def run(self):
        while not self.stop_flag.is_set():
            try:
                if self.sample() == "completed":
                    break
            except Exception as e:  # a failed sample must not kill the measurement
                log(f"sampler: {e}")
            self.stop_flag.wait(0.5)

    def write_csv(self, path):
        roles = sorted({role(n) for n in self.pids}) + ["~postgres", "~host"]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "planner_rps", "sender_mps", "reporter_rps", "planned",
                        "accepted", "recorded"] +
                       [f"cpu_{r.lstrip('~')}_pct" for r in roles] +
                       ["pg_lock_waits", "status_finals"])
            prev = None
            for i, row in enumerate(self.rows):
                t, planned, acc, rec, cpu = row
                if prev is None:
                    prev = row
                    continue
                dt = max(t - prev[0], 1e-6)
                cpu_pct = []
                for r in roles:
                    used = sum(cpu[n] - prev[4].get(n, cpu[n]) for n in cpu if role(n) == r)
                    cpu_pct.append(f"{100.0 * used / dt:.0f}")
                w.writerow([f"{t:.2f}", f"{(planned - prev[1]) / dt:.0f}",
                            f"{(acc - prev[2]) / dt:.0f}", f"{(rec - prev[3]) / dt:.0f}",
                            planned, acc, rec] + cpu_pct +
                           [self.lock_waits[i], "" if self.finals_seen[i] is None
                            else self.finals_seen[i]])
                prev = row


def chart(csv_path, png_path, title):
    script = f"""
set terminal pngcairo size 1100,520 font ',10'
set output '{png_path}'
set datafile separator ','
set key top right
set title '{title}'
set xlabel 'seconds since trigger'
set ylabel 'per second'
set grid
plot '{csv_path}' using 1:2 skip 1 with lines lw 2 title 'planner recipients/s', \\
     '' using 1:3 skip 1 with lines lw 2 title 'sender messages/s (simulator accepted)', \\
     '' using 1:4 skip 1 with lines lw 2 title 'reporter rows/s'
"""
    p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr.strip()}")


# ---------------------------------------------------------------- stages

def derived_workflow(dsn, workflow, label, max_id):
    sql = f"SELECT id, name, phone FROM customers WHERE id <= {int(max_id)}"
    return q1(dsn, "INSERT INTO workflows (name, status, trigger_type, target_config, "
                   "message_config, variables) SELECT "
                   f"{campaign.sql_quote(label)}, status, trigger_type, "
                   f"jsonb_set(target_config, '{{query}}', to_jsonb({campaign.sql_quote(sql)}::text)), "
                   f"message_config, variables FROM workflows WHERE id = '{workflow}' "
                   "RETURNING id")[0]


def stage_warmup(a, ctx):
    """Runs a campaign until the broker has compiled its hot code (JIT seconds during a run
    below COLD_JIT_S, at most 4 runs): a cold broker costs the fleet CPU a long-running one
    does not, so no measured stage may see it."""
    n = min(a.recipients, WARMUP_RECIPIENTS)
    wf = derived_workflow(ctx["dsn"], ctx["workflow"], "bench warm-up", n)
    for i in range(4):
        jit0 = kafka_jit_seconds()
        t = time.time()
        run = trigger(a.build, ctx["dsn"], wf)
        wait_run(ctx["dsn"], run, a.timeout, [ctx["fleet"], ctx["simfleet"]])
        jit1 = kafka_jit_seconds()
        jit = (jit1 - jit0) if jit0 is not None and jit1 is not None else None
        log(f"warm-up: run {i + 1} of {n} recipients in {time.time() - t:.1f} s; broker JIT "
            f"{'unknown' if jit is None else f'{jit:.1f} s'}")
        if jit is None or jit <= COLD_JIT_S:
            return
    log("warm-up: WARNING the broker was still compiling after 4 runs")


def stage_latency(a, ctx):
    """Trigger to the first message at the simulator, fleet idle and warm."""
    build, dsn, sim = a.build, ctx["dsn"], ctx["sim"]
    wf = ctx["latency_wf"]
    log(f"latency: warm-up run, then {a.latency_runs} runs of {LATENCY_IDS} recipients")
    run = trigger(build, dsn, wf)
    wait_run(dsn, run, 120, [ctx["fleet"]], period=0.05)
    samples = []
    for _ in range(a.latency_runs):
        time.sleep(0.3)
        run = trigger(build, dsn, wf)
        wait_run(dsn, run, 60, [ctx["fleet"]], period=0.05)
        started = num(q1(dsn, f"SELECT extract(epoch FROM started_at) FROM workflow_runs "
                              f"WHERE id = '{run}'")[0])
        times = ledger_times(sim.url, run)
        if not times:
            campaign.die(f"latency run {run}: nothing at the simulator")
        samples.append((times[0] - started) * 1000.0)
    med = statistics.median(samples)
    log(f"latency: first send ms: {', '.join(f'{s:.0f}' for s in samples)}; median {med:.0f}")
    return med, samples


def stage_e2e(a, ctx, workflow=None, count=None):
    """One run of count recipients (default: the campaign of --recipients) from trigger to done."""
    build, dsn, sim, fleet = a.build, ctx["dsn"], ctx["sim"], ctx["fleet"]
    workflow = workflow or ctx["workflow"]
    count = count or a.recipients
    campaign.psql(dsn, "CHECKPOINT")
    pids = daemon_pids(fleet)
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    jit0 = kafka_jit_seconds()
    pg0, host0, other0 = postgres_cpu_seconds(), host_cpu_seconds(), other_cpu_seconds()
    planner = planner_baseline(fleet)
    finals0 = status_finals(fleet)
    paths0 = report_paths(fleet)
    pgcpu = PgCpuByClient(dsn)
    pgcpu.start()
    t0 = time.time()
    run = trigger(build, dsn, workflow)
    log(f"e2e: run {run} of {count} recipients triggered")
    sampler = Sampler(dsn, run, sim, pids, count, t0, planner, pgcpu,
                      finals=lambda: status_finals(fleet))
    sampler.start()
    wait_run(dsn, run, a.timeout, [fleet, ctx["simfleet"]])
    sampler.stop_flag.set()
    sampler.join()
    sampler.sample()  # the final state
    final_s = wait_final(dsn, run, t0, a.timeout, [fleet, ctx["simfleet"]])
    cpu1 = {n: cpu_seconds(p) for n, p in pids.items()}
    pg_cpu, host_cpu = postgres_cpu_seconds() - pg0, host_cpu_seconds() - host0
    other1 = other_cpu_seconds()
    other_cpu = {k: other1[k] - other0[k] for k in OTHER_SERVERS}
    jit1 = kafka_jit_seconds()
    rss = {n: peak_rss_mb(p) for n, p in pids.items()}
    finals1 = status_finals(fleet)
    paths1 = report_paths(fleet)
    r = q1(dsn, "SELECT extract(epoch FROM started_at), extract(epoch FROM expansion_finished_at), "
                "extract(epoch FROM completed_at), target_count, expanded_count, invalid_count, "
                f"success_count, failed_count FROM workflow_runs WHERE id = '{run}'")
    started, expanded_at, completed_at = num(r[0]), num(r[1]), num(r[2])
    target, expanded, invalid, success, failed = (int(x) for x in r[3:8])
    m = q1(dsn, "SELECT count(*), extract(epoch FROM min(created_at)), "
                f"extract(epoch FROM max(created_at)) FROM message_logs WHERE workflow_run_id = '{run}'")
    rows, first_row, last_row = int(m[0]), num(m[1]), num(m[2])
    times = ledger_times(sim.url, run)
    e2e = max(completed_at, last_row) - started
    res = {
        "run": run, "target": target, "expanded": expanded, "invalid": invalid,
        "final_s": final_s,
        "success": success, "failed": failed, "rows": rows, "e2e_s": e2e,
        "recipients_per_s": target / e2e if e2e > 0 else 0,
        "planner_s": expanded_at - started,
        "planner_rps": target / max(expanded_at - started, 1e-3),
        "sender_msgs": len(times),
        "sender_window_s": (times[-1] - times[0]) if times else 0,
        "sender_mps": len(times) / max(times[-1] - times[0], 1e-3) if len(times) > 1 else 0,
        "first_accept_s": (times[0] - started) if times else 0,
        "reporter_window_s": last_row - first_row,
        "reporter_rps": rows / max(last_row - first_row, 1e-3),
        "cpu_s": {n: cpu1[n] - cpu0[n] for n in pids},
        "rss_mb": rss,
        "postgres_cpu_s": pg_cpu, "host_cpu_s": host_cpu, "other_cpu_s": other_cpu,
        "postgres_by_client_s": pgcpu.result(),
        "kafka_jit_s": (jit1 - jit0) if jit0 is not None and jit1 is not None else None,
        "status_finals": (finals1 - finals0) if finals0 is not None and finals1 is not None
                         else None,
        "report_paths": {k: int(v - paths0.get(k, 0)) for k, v in paths1.items()
                         if v - paths0.get(k, 0) > 0 and not k.startswith(WEBHOOK_SECONDS)},
        "webhook_ms": webhook_ms(paths0, paths1),
    }
    by_role = {}
    for n in pids:
        by_role.setdefault(role(n), []).append(n)
    res["cpu_us_per_msg"] = {r: 1e6 * sum(res["cpu_s"][n] for n in names) / max(target, 1)
                             for r, names in by_role.items()}
    res["rss_by_role"] = {r: max(rss[n] for n in names) for r, names in by_role.items()}
    if rows != target or success + failed != target:
        log(f"e2e: WARNING rows {rows}, counters {success}+{failed}, target {target}")
    csv_path = os.path.join(a.out, f"timeseries-{count}.csv")
    sampler.write_csv(csv_path)
    png_path = os.path.join(a.out, f"timeseries-{count}.png")
    chart(csv_path, png_path, f"msgfleet, {count:,} recipients, {a.senders} senders: "
                              "throughput per stage")
    res["csv"], res["png"] = csv_path, png_path
    return res


def wait_final(dsn, run, t0, timeout, fleets):
    """Seconds from t0 until every message_logs row of the run is final (delivered, failed or
    cancelled): the delivery reports are part of the bill. Polled once a second."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = int(session(dsn).rows("SELECT count(*) FROM message_logs WHERE workflow_run_id = "
                                     f"'{run}' AND status IN ('pending', 'sent')")[0][0])
        if left == 0:
            secs = time.time() - t0
            log(f"final: every row of run {run} final {secs:.1f} s after the trigger")
            return secs
        for f in fleets:
            f.check_alive()
        time.sleep(1.0)
    campaign.die(f"run {run}: rows still not final after {timeout:.0f} s")


def exactness(dsn, run):
    """Rows, counters and cost of a run recounted from message_logs: (ok, text)."""
    r = q1(dsn, "SELECT r.target_count, r.success_count, r.failed_count, r.total_cost, "
                "(SELECT count(*) FROM message_logs m WHERE m.workflow_run_id = r.id), "
                "(SELECT count(DISTINCT m.id) FROM message_logs m WHERE m.workflow_run_id = r.id), "
                "(SELECT count(*) FILTER (WHERE m.status IN ('sent', 'delivered')) "
                "   FROM message_logs m WHERE m.workflow_run_id = r.id), "
                "(SELECT coalesce(sum(m.cost), 0) FROM message_logs m "
                "   WHERE m.workflow_run_id = r.id) "
                f"FROM workflow_runs r WHERE r.id = '{run}'")
    target, success, failed = int(r[0]), int(r[1]), int(r[2])
    cost, rows, distinct, sent, row_cost = r[3], int(r[4]), int(r[5]), int(r[6]), r[7]
    ok = (rows == target == distinct and success + failed == target and success == sent
          and num(cost) == num(row_cost))
    text = (f"rows={rows} distinct={distinct} target={target} success={success} sent_rows={sent} "
            f"failed={failed} total_cost={cost} sum_row_cost={row_cost}")
    return ok, text


def print_big_run(a, res, e2e_s, max_rss):
    """The big run's own line: against the 1M run of the same session and data."""
    ref = res["reference_e2e"]
    ratio = e2e_s / ref["e2e_s"] if ref["e2e_s"] > 0 else 0.0
    ok, text = res["exact"]
    scale = a.recipients / a.reference
    log(f"big run: exact {'yes' if ok else 'NO'}: {text}")
    log(f"  target e2e <= {1.05 * scale:.1f} x the {a.reference:,} run {ratio:>8.2f}  "
        f"{'met' if 0 < ratio <= 1.05 * scale else 'MISSED'}")
    log(f"  target each daemon's peak RSS <= 64 MB {max_rss:>8.1f}  "
        f"{'met' if max_rss <= 64 else 'MISSED'}")
    log(f"  charts {ref['png']} and {res['e2e']['png']}")
    print(f"bench10m: recipients={a.recipients} e2e_s={e2e_s:.2f} ratio_to_1m={ratio:.2f} "
          f"max_rss_mb={max_rss:.1f} pg_disk_gb={res['pg_disk_gb']:.2f} "
          f"exact={'yes' if ok else 'no'}", flush=True)


def seed_only_database(ctx, name):
    """A fresh database with the platform's seed schema alone (migration 0001, none of the
    fleet's tables or indexes). Returns its DSN."""
    admin = ctx["admin_dsn"]
    campaign.psql(admin, f"DROP DATABASE IF EXISTS {name}")
    campaign.psql(admin, f"CREATE DATABASE {name}")
    ctx["dbs"].append(name)
    dsn = re.sub(r"dbname=\S+", f"dbname={name}", admin)
    p = subprocess.run(["psql", dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        os.path.join(ROOT, "schemas/pg/0001_seed.sql")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        campaign.die(f"seed schema failed: {p.stderr.strip()[-2000:]}")
    return dsn


def copy_cmd(dsn, what):
    p = subprocess.run(["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", what],
                       capture_output=True, text=True)
    if p.returncode != 0:
        campaign.die(f"{what[:60]}...: {p.stderr.strip()}")


def message_logs_columns(dsn):
    return [c[0] for c in campaign.psql(dsn, "SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'message_logs' "
                                             "ORDER BY ordinal_position")]


def export_floor_rows(ctx, run, cols):
    """The run's rows (columns cols) as the first outcome left them (accepted = 'sent', no
    delivery yet) and the delivery outcomes that turned them final, as two COPY files."""
    dsn, work = ctx["dsn"], ctx["workdir"]
    rows, outcomes = os.path.join(work, "floor.copy"), os.path.join(work, "outcomes.copy")
    reported = "(sent_at IS NOT NULL AND status IN ('delivered', 'failed'))"
    select = ", ".join(f"CASE WHEN {reported} THEN 'sent' ELSE status END" if c == "status" else
                       f"CASE WHEN {reported} THEN NULL ELSE {c} END"
                       if c in ("delivered_at", "failed_at", "error_code", "error_message") else c
                       for c in cols)
    copy_cmd(dsn, f"\\copy (SELECT {select} FROM message_logs WHERE workflow_run_id = '{run}') "
                  f"TO '{rows}'")
    copy_cmd(dsn, "\\copy (SELECT id, status, delivered_at, failed_at, error_code, error_message "
                  f"FROM message_logs WHERE workflow_run_id = '{run}' AND {reported}) "
                  f"TO '{outcomes}'")
    return rows, outcomes


def timed_copy(fdsn, ctx, run, cols, rows):
    """COPY of the run's rows into fdsn's empty message_logs; seconds, rows, index names."""
    campaign.psql(fdsn, "INSERT INTO message_templates (id, name, category, message_type, content) "
                        "VALUES ('" + ctx["template"] + "', 'floor', 'notification', 'sms', 'x')")
    campaign.psql(fdsn, f"INSERT INTO workflow_runs (id, status) VALUES ('{run}', 'completed')")
    campaign.psql(fdsn, "CHECKPOINT")
    t = time.time()
    copy_cmd(fdsn, f"\\copy message_logs ({', '.join(cols)}) FROM '{rows}'")
    secs = time.time() - t
    n = int(q1(fdsn, "SELECT count(*) FROM message_logs")[0])
    idx = campaign.psql(fdsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'message_logs' "
                              "ORDER BY 1")
    return secs, n, [i[0] for i in idx]


def timed_update(fdsn, outcomes):
    """The delivery reports' floor: COPY the outcomes into a table, one UPDATE ... FROM it."""
    campaign.psql(fdsn, "CREATE UNLOGGED TABLE floor_outcomes (id uuid PRIMARY KEY, status text, "
                        "delivered_at timestamptz, failed_at timestamptz, error_code text, "
                        "error_message text)")
    campaign.psql(fdsn, "CHECKPOINT")
    t = time.time()
    copy_cmd(fdsn, f"\\copy floor_outcomes FROM '{outcomes}'")
    p = subprocess.run(["psql", fdsn, "-X", "-v", "ON_ERROR_STOP=1", "-c",
                        "UPDATE message_logs m SET status = o.status, delivered_at = o.delivered_at, "
                        "failed_at = o.failed_at, error_code = o.error_code, "
                        "error_message = o.error_message FROM floor_outcomes o WHERE m.id = o.id"],
                       capture_output=True, text=True)
    secs = time.time() - t
    if p.returncode != 0:
        campaign.die(f"update floor failed: {p.stderr.strip()}")
    return secs, int(p.stdout.split()[-1])


def stage_floor(a, ctx, run):
    """Plain COPYs of the run's rows: into the seed's own message_logs (migration 0001 alone:
    the seed floor) and into an empty, identically migrated one (the migrated floor); then the
    delivery reports as one UPDATE ... FROM a COPY-loaded table (the update floor)."""
    res = {}
    sdsn = seed_only_database(ctx, ctx["name"] + "_seedfloor")
    fdb = ctx["name"] + "_floor"
    fdsn = campaign.create_pg_database(ctx["admin_dsn"], fdb, a.build)
    ctx["dbs"].append(fdb)
    cols = message_logs_columns(sdsn)  # the seed's columns: the fleet's four are not there
    rows, outcomes = export_floor_rows(ctx, run, cols)
    try:
        settle(ctx, "seed floor")
        secs, n, idx = timed_copy(sdsn, ctx, run, cols, rows)
        log(f"floor: seed: COPY of {n} rows in {secs:.2f} s ({n / secs:.0f} rows/s) into the "
            f"seed's message_logs, indexes {', '.join(idx)}")
        res["seed_floor_s"], res["rows"] = secs, n
        settle(ctx, "update floor")
        secs, updated = timed_update(sdsn, outcomes)
        log(f"floor: reports: COPY of {updated} outcomes + one UPDATE ... FROM in {secs:.2f} s")
        res["update_floor_s"], res["updated"] = secs, updated
        os.unlink(rows)
        os.unlink(outcomes)
        cols = message_logs_columns(fdsn)
        rows, outcomes = export_floor_rows(ctx, run, cols)
        settle(ctx, "migrated floor")
        secs, n, idx = timed_copy(fdsn, ctx, run, cols, rows)
        log(f"floor: migrated: COPY of {n} rows in {secs:.2f} s ({n / secs:.0f} rows/s) into "
            f"the migrated message_logs, indexes {', '.join(idx)}")
        res["floor_s"] = secs
    finally:
        os.unlink(rows)
        os.unlink(outcomes)
    return res


def ensure_peer_modules():
    peer = os.path.join(HERE, "peer")
    if all(os.path.isdir(os.path.join(peer, "node_modules", m))
           for m in ("solapi", "pg-copy-streams")):
        return peer
    log("peer: installing bench/peer/node_modules (npm ci)")
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer, capture_output=True,
                       text=True)
    if p.returncode != 0:
        campaign.die(f"npm ci failed in {peer}: {p.stderr.strip()[-2000:]}")
    return peer


def stage_peer(a, ctx, write="insert"):
    """The SDK peer writing message_logs with multi-row INSERTs (write="insert") or COPY."""
    peer = ensure_peer_modules()
    admin = ctx["admin_dsn"]
    pdb = ctx["name"] + ("_peer" if write == "insert" else "_copypeer")
    pdsn = campaign.create_pg_database(admin, pdb, a.build)
    ctx["dbs"].append(pdb)
    wf = campaign.seed_platform(pdsn, ctx["name"])
    tpl = q1(pdsn, f"SELECT message_config->>'template_id' FROM workflows WHERE id = '{wf}'")[0]
    ctx["sim"].reset()
    campaign.psql(pdsn, "CHECKPOINT")
    e = dict(os.environ)
    e.update({
        "PEER_PG_HOST": "127.0.0.1", "PEER_PG_PORT": os.environ["MF_PG_PORT"],
        "PEER_PG_DB": pdb, "PEER_PG_USER": os.environ["MF_PG_USER"],
        "PEER_MYSQL_HOST": os.environ.get("MF_MYSQL_HOST", "127.0.0.1"),
        "PEER_MYSQL_PORT": os.environ["MF_MYSQL_PORT"],
        "PEER_MYSQL_USER": os.environ["MF_MYSQL_USER"],
        "PEER_MYSQL_PASSWORD": os.environ["MF_MYSQL_PASSWORD"],
        "PEER_MYSQL_DB": ctx["name"], "PEER_WORKFLOW_ID": wf, "PEER_TEMPLATE_ID": tpl,
        "PEER_BASE_URL": ctx["sim"].url, "PEER_WRITE": write,
    })
    t = time.time()
    proc = subprocess.Popen(["node", os.path.join(peer, "peer.js")], env=e, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hwm = 0.0
    while proc.poll() is None:
        hwm = max(hwm, peak_rss_mb(proc.pid))
        time.sleep(0.2)
    out, err = proc.communicate()
    secs = time.time() - t
    if proc.returncode != 0:
        campaign.die(f"peer failed: {err.strip()[-3000:]}")
    line = out.strip().splitlines()[-1]
    log(f"peer ({write}): {line} (process wall time {secs:.2f} s, peak RSS {hwm:.0f} MB)")
    facts = dict(kv.split("=", 1) for kv in line.split()[1:])
    rows = int(q1(pdsn, f"SELECT count(*) FROM message_logs WHERE workflow_run_id = '{facts['run']}'")[0])
    return {"secs": secs, "rss_mb": hwm, "recipients": int(facts["recipients"]),
            "sent": int(facts["sent"]), "failed": int(facts["failed"]), "rows": rows}


def stage_scale(a, ctx):
    """Simulator latency 50 ms; a run of --scale-recipients with 1, 2 and 4 senders."""
    sim, dsn = ctx["sim"], ctx["dsn"]
    sim.reset()
    sim.config(latency_ms=a.scale_latency_ms)
    wf = derived_workflow(dsn, ctx["workflow"], "bench scale-out", a.scale_recipients)
    rates = []
    try:
        for k in (1, 2, 4):
            wdir = os.path.join(ctx["workdir"], f"scale-{k}")
            os.makedirs(wdir, exist_ok=True)
            fleet = campaign.Fleet(a.build, wdir, {})
            fleet.env = campaign.fleet_env(dsn, f"{ctx['name']}.s{k}.", sim.url, ctx["name"])
            fleet.env.update({"MF_SENDER_GROUP": f"{ctx['name']}-s{k}",
                              "MF_REPORTER_GROUP": f"{ctx['name']}-r{k}",
                              "MF_SENDER_REQUEST_SIZE": str(a.scale_request_size),
                              "MF_SENDER_MAX_IN_FLIGHT": str(a.scale_in_flight)})
            try:
                campaign.start_fleet(fleet, k)
                time.sleep(0.5)
                fleet.check_alive()
                # warm-up: topics created, every sender in the group with its partitions
                run = trigger(a.build, dsn, ctx["latency_wf"])
                wait_run(dsn, run, 120, [fleet])
                time.sleep(3)
                run = trigger(a.build, dsn, wf)
                wait_run(dsn, run, a.timeout, [fleet])
                times = ledger_times(sim.url, run)
                rate = (len(times) - 1) / max(times[-1] - times[0], 1e-3) if len(times) > 1 else 0
                rates.append(rate)
                log(f"scale-out: {k} sender(s): {len(times)} messages in "
                    f"{times[-1] - times[0]:.2f} s, {rate:.0f} messages/s")
            finally:
                fleet.stop()
    finally:
        sim.config(latency_ms=0)
    return rates


def rate_windows(times, width):
    """Messages per second of each full `width`-second window from the first acceptance."""
    if not times:
        return []
    out, t0, counts = [], times[0], {}
    for t in times:
        counts[int((t - t0) // width)] = counts.get(int((t - t0) // width), 0) + 1
    full = int((times[-1] - t0) // width)  # the last, partial window is left out
    for k in range(full):
        out.append(counts.get(k, 0) / width)
    return out


def stage_rate(a, ctx):
    """The fleet-wide send rate (docs/compliance.md, "Send rate"): --rate-senders senders
    sharing MF_SENDER_ACCOUNT_RATE (every full 10 s window of the ledger within 5 % of it),
    then a workflow with message_config.rate_per_minute (its run's duration against
    recipients / rate)."""
    sim, dsn = ctx["sim"], ctx["dsn"]
    sim.reset()
    res = {}
    wdir = os.path.join(ctx["workdir"], "rate")
    os.makedirs(wdir, exist_ok=True)
    fleet = campaign.Fleet(a.build, wdir, {})
    fleet.env = campaign.fleet_env(dsn, f"{ctx['name']}.rate.", sim.url, ctx["name"])
    fleet.env.update({"MF_SENDER_GROUP": f"{ctx['name']}-rate-s",
                      "MF_REPORTER_GROUP": f"{ctx['name']}-rate-r",
                      "MF_SENDER_ACCOUNT_RATE": str(a.rate_account),
                      "MF_SENDER_BATCH_MAX": "1000"})
    acc_wf = derived_workflow(dsn, ctx["workflow"], "bench rate account", a.rate_recipients)
    wf_wf = derived_workflow(dsn, ctx["workflow"], "bench rate workflow", a.rate_recipients)
    q1(dsn, "UPDATE workflows SET message_config = message_config || "
            f"jsonb_build_object('rate_per_minute', {float(a.rate_workflow_per_min)}) "
            f"WHERE id = '{wf_wf}'")
    try:
        campaign.start_fleet(fleet, a.rate_senders)
        time.sleep(0.5)
        fleet.check_alive()
        run = trigger(a.build, dsn, ctx["latency_wf"])  # warm-up: topics, partitions spread
        wait_run(dsn, run, 120, [fleet])
        time.sleep(8)
        run = trigger(a.build, dsn, acc_wf)
        wait_run(dsn, run, a.timeout, [fleet])
        times = ledger_times(sim.url, run)
        win = rate_windows(times, 10.0)
        res["account"] = {"rate": a.rate_account, "senders": a.rate_senders,
                          "messages": len(times), "windows": win,
                          "min": min(win) if win else 0.0, "max": max(win) if win else 0.0}
        ok = bool(win) and all(abs(w - a.rate_account) <= 0.05 * a.rate_account for w in win)
        res["account"]["ok"] = ok
        log(f"rate: {a.rate_senders} senders at {a.rate_account:.0f}/s: {len(times)} messages, "
            f"{len(win)} full 10 s windows {min(win) if win else 0:.1f}..{max(win) if win else 0:.1f}"
            f"/s ({'within' if ok else 'OUTSIDE'} 5 %)")
        t0 = time.time()
        run = trigger(a.build, dsn, wf_wf)
        wait_run(dsn, run, a.timeout, [fleet])
        times = ledger_times(sim.url, run)
        took = (times[-1] - t0) if times else 0.0
        want = len(times) / (a.rate_workflow_per_min / 60.0)
        ok = want > 0 and abs(took - want) <= 0.05 * want
        res["workflow"] = {"per_min": a.rate_workflow_per_min, "messages": len(times),
                           "secs": took, "expected_s": want, "ok": ok}
        log(f"rate: workflow at {a.rate_workflow_per_min:.0f}/min: {len(times)} messages in "
            f"{took:.1f} s (trigger to last accepted), expected {want:.1f} s "
            f"({'within' if ok else 'OUTSIDE'} 5 %)")
    finally:
        fleet.stop()


# ---------------------------------------------------------------- priority lane and events

def lane_fleet(a, ctx, tag):
    """A fleet of its own (prefix, groups) on the bench database, its topics created first
    (as kafka-init does), for the tx and events stages."""
    wdir = os.path.join(ctx["workdir"], tag)
    os.makedirs(wdir, exist_ok=True)
    prefix = f"{ctx['name']}.{tag}."
    for base in ("jobs", "jobs.tx", "retry", "results", "results.tx", "dlq", "events"):
        subprocess.run(["kcat", "-b", campaign.env("MF_KAFKA_BROKERS"), "-L", "-t", prefix + base],
                       capture_output=True, timeout=30)
    fleet = campaign.Fleet(a.build, wdir, {})
    fleet.env = campaign.fleet_env(ctx["dsn"], prefix, ctx["sim"].url, ctx["name"])
    fleet.env.update({"MF_SENDER_GROUP": f"{prefix}sender",
                      "MF_REPORTER_GROUP": f"{prefix}reporter"})
    fleet.env.update(kv.split("=", 1) for kv in a.fleet_env)
    campaign.start_fleet(fleet, a.senders, reporters=a.reporters)
    time.sleep(0.5)
    fleet.check_alive()
    return fleet, prefix


def event_workflow(dsn, template, event):
    """An event-triggered workflow on the bench template (variables from the payload)."""
    message = json.dumps({"template_id": template,
                          "sender_number": campaign.env("MF_COOLSMS_SENDER")})
    return q1(dsn, "INSERT INTO workflows (name, status, trigger_type, trigger_config, "
                   "message_config) VALUES ('bench event', 'active', 'event', "
                   f"{campaign.sql_quote(json.dumps({'event': event}))}, "
                   f"{campaign.sql_quote(message)}) RETURNING id")[0]


def first_accept(sim_url, run_id=None, job_id=None):
    """Epoch seconds of the first message of run_id (or of job job_id) in the ledger, or None."""
    with urllib.request.urlopen(f"{sim_url}/_sim/ledger/export", timeout=600) as r:
        for line in r:
            if not line.strip():
                continue
            m = json.loads(line)
            cf = m.get("customFields") or {}
            if (run_id and cf.get("runId") == run_id) or (job_id and cf.get("jobId") == job_id):
                return iso_to_epoch(m["acceptedAt"])
    return None


def stage_tx(a, ctx):
    """Trigger to first send of a 10-recipient transactional run and of one event, each
    triggered 3 s and 10 s after a campaign of N recipients started; --tx-rounds campaigns,
    median per kind and delay. Returns the worst of the four medians (ms) and the samples."""
    dsn, sim = ctx["dsn"], ctx["sim"]
    tx_wf = q1(dsn, "INSERT INTO workflows (name, status, trigger_type, trigger_config, "
                    "target_config, message_config, variables) SELECT 'bench transactional', "
                    "status, trigger_type, '{\"transactional\": true}', target_config, "
                    f"message_config, variables FROM workflows WHERE id = '{ctx['latency_wf']}' "
                    "RETURNING id")[0]
    tx_wf = q1(dsn, "UPDATE workflows SET target_config = jsonb_set(target_config, '{query}', "
                    "'\"SELECT id, name, phone FROM customers WHERE id <= 10\"') "
                    f"WHERE id = '{tx_wf}' RETURNING id")[0]
    ev_wf = event_workflow(dsn, ctx["template"], "bench_tx")
    fleet, prefix = lane_fleet(a, ctx, "tx")
    samples = {("run", 3): [], ("run", 10): [], ("event", 3): [], ("event", 10): []}
    try:
        run = trigger(a.build, dsn, ctx["latency_wf"])  # warm-up
        wait_run(dsn, run, 120, [fleet])
        for rnd in range(a.tx_rounds):
            sim.reset()
            time.sleep(3)
            camp = trigger(a.build, dsn, ctx["workflow"])
            t_start = time.time()
            pending = []
            for delay in (3, 10):
                time.sleep(max(0.0, t_start + delay - time.time()))
                t = time.time()
                run = trigger(a.build, dsn, tx_wf)
                pending.append((("run", delay), t, run, None))
                t = time.time()
                eid = f"bench-{ctx['name']}-{rnd}-{delay}"
                events_pub.publish(prefix + "events", [("", events_pub.encode_event(
                    "bench_tx", eid, to="01099990000",
                    attrs={"name": "홍길동", "id": "1", "coupon": "TX"}))])
                pending.append((("event", delay), t, None,
                                events_pub.event_job_id(ev_wf, eid)))
            for key, t, run, job in pending:
                first = None
                deadline = time.time() + 120
                while first is None and time.time() < deadline:
                    first = first_accept(sim.url, run_id=run, job_id=job)
                    if first is None:
                        time.sleep(0.5)
                if first is None:
                    campaign.die(f"tx: {key} of round {rnd + 1} never reached the simulator")
                samples[key].append((first - t) * 1000.0)
            state = run_state(dsn, camp)
            log(f"tx: round {rnd + 1}: campaign {state[3]} of {a.recipients} done when measured; "
                + ", ".join(f"{k[0]}@{k[1]}s {v[-1]:.0f} ms" for k, v in samples.items()))
            # the next round starts from an idle fleet: cancel the rest of the campaign
            subprocess.run([campaign.binary(a.build, "tools/msgfleet/msgfleet"), "cancel", camp],
                           capture_output=True, env=campaign.cli_env(dsn))
            deadline = time.time() + a.timeout
            while time.time() < deadline and q1(
                    dsn, f"SELECT completed_at IS NULL FROM workflow_runs WHERE id = '{camp}'"
                    )[0] == "t":
                fleet.check_alive()
                time.sleep(1)
    finally:
        fleet.stop()
    meds = {k: statistics.median(v) for k, v in samples.items()}
    for k, v in samples.items():
        log(f"tx: {k[0]} triggered {k[1]} s after the campaign: median {meds[k]:.0f} ms "
            f"({', '.join(f'{x:.0f}' for x in v)})")
    return max(meds.values()), {f"{k[0]}_{k[1]}s": v for k, v in samples.items()}


def stage_events(a, ctx):
    """--events-rate events a second for --events-seconds, each to its own phone: achieved
    publish rate, messages sent exactly once, end-to-end latency (event ts to acceptedAt)."""
    dsn, sim = ctx["dsn"], ctx["sim"]
    ev_wf = event_workflow(dsn, ctx["template"], "bench_load")
    fleet, prefix = lane_fleet(a, ctx, "ev")
    sent_at, total = {}, a.events_rate * a.events_seconds
    try:
        sim.reset()
        time.sleep(1)
        t0 = time.time()
        step = 0.1
        per_step = max(1, int(round(a.events_rate * step)))
        i = 0
        while i < total:
            batch = []
            for _ in range(min(per_step, total - i)):
                eid = f"{ctx['name']}-load-{i}"
                ts = int(time.time() * 1000)
                batch.append(("", events_pub.encode_event(
                    "bench_load", eid, to=f"0107{i % 10000000:07d}"[:11], ts_ms=ts,
                    attrs={"name": "홍길동", "id": str(i), "coupon": "EV"})))
                sent_at[events_pub.event_job_id(ev_wf, eid)] = ts / 1000.0
                i += 1
            events_pub.publish(prefix + "events", batch)
            time.sleep(max(0.0, t0 + (i / a.events_rate) - time.time()))
        t_pub = time.time() - t0
        log(f"events: published {total} events in {t_pub:.1f} s = {total / t_pub:.0f}/s")
        deadline = time.time() + max(120, a.events_seconds * 2)
        while sim.accepted() < total and time.time() < deadline:
            fleet.check_alive()
            time.sleep(1)
        time.sleep(2)  # duplicates, if any, would show up now
        counts, lat = {}, []
        with urllib.request.urlopen(f"{sim.url}/_sim/ledger/export", timeout=600) as r:
            for line in r:
                if not line.strip():
                    continue
                m = json.loads(line)
                job = (m.get("customFields") or {}).get("jobId", "")
                if job in sent_at:
                    counts[job] = counts.get(job, 0) + 1
                    if counts[job] == 1:
                        lat.append((iso_to_epoch(m["acceptedAt"]) - sent_at[job]) * 1000.0)
    finally:
        fleet.stop()
    once = sum(1 for v in counts.values() if v == 1)
    dup = sum(1 for v in counts.values() if v > 1)
    lat.sort()
    res = {"events": total, "publish_rate": total / t_pub, "sent_once": once, "duplicates": dup,
           "missing": total - len(counts),
           "p50_ms": lat[len(lat) // 2] if lat else 0, "p95_ms": lat[int(len(lat) * 0.95)]
           if lat else 0, "max_ms": lat[-1] if lat else 0}
    log(f"events: {once} of {total} sent exactly once, {dup} duplicated, {res['missing']} "
        f"missing; latency event to provider p50 {res['p50_ms']:.0f} ms, p95 "
        f"{res['p95_ms']:.0f} ms, max {res['max_ms']:.0f} ms")
    return res


# ---------------------------------------------------------------- main

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", "-n", type=int, default=1_000_000,
                    help="customers in the campaign (default 1,000,000)")
    ap.add_argument("--build", default=os.environ.get("MF_BUILD_DIR") or
                    os.path.join(ROOT, "build"))
    ap.add_argument("--senders", type=int, default=2, help="senders of the e2e run (2)")
    ap.add_argument("--reporters", type=int, default=2, help="reporters of the e2e run (2)")
    ap.add_argument("--latency-runs", type=int, default=10)
    ap.add_argument("--scale-recipients", type=int, default=None,
                    help="recipients of each scale-out run (default min(N, 40000))")
    ap.add_argument("--scale-latency-ms", type=int, default=50)
    ap.add_argument("--scale-request-size", type=int, default=100,
                    help="MF_SENDER_REQUEST_SIZE in the scale-out runs (100)")
    ap.add_argument("--scale-in-flight", type=int, default=1,
                    help="MF_SENDER_MAX_IN_FLIGHT in the scale-out runs (1)")
    ap.add_argument("--skip", default="", help="comma list of stages to skip: "
                    "warmup,latency,floor,peer,scale,rate,tx,events (figures then print as 0)")
    ap.add_argument("--rate-senders", type=int, default=4)
    ap.add_argument("--rate-account", type=float, default=500.0,
                    help="MF_SENDER_ACCOUNT_RATE of the rate stage (500/s)")
    ap.add_argument("--rate-recipients", type=int, default=30000,
                    help="customers (id <= N) of each rate-stage run (30,000)")
    ap.add_argument("--rate-workflow-per-min", type=float, default=6000.0,
                    help="message_config.rate_per_minute of the rate stage's workflow run")
    ap.add_argument("--tx-rounds", type=int, default=5,
                    help="campaigns of the tx stage (median over the rounds, 5)")
    ap.add_argument("--events-rate", type=int, default=1000, help="events a second (1000)")
    ap.add_argument("--events-seconds", type=int, default=60, help="events stage length (60)")
    ap.add_argument("--fleet-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra setting for every daemon (experiments; repeatable)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("--reference", type=int, default=1_000_000,
                    help="a campaign bigger than this is also measured at this size first, on "
                         "the same data, and gets a bench10m: line (default 1,000,000)")
    a = ap.parse_args(argv)
    a.build = os.path.abspath(a.build)
    skip = set(s for s in a.skip.split(",") if s)
    if a.scale_recipients is None:
        a.scale_recipients = min(a.recipients, 40000)
    os.makedirs(a.out, exist_ok=True)

    name = f"mftest_bench_{random.randrange(16**6):06x}"  # MariaDB lets crm_admin create mftest_*
    admin = campaign.env("MF_PG_DSN")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    ctx = {"name": name, "admin_dsn": admin, "workdir": workdir, "dbs": [name]}
    log(f"workspace {workdir}; databases {name}*; build {a.build}")
    settings = campaign.psql(admin, "SELECT name, setting || coalesce(' ' || unit, '') "
                                    "FROM pg_settings WHERE name IN (" +
                             ",".join(campaign.sql_quote(s) for s in PG_SETTINGS) + ") ORDER BY 1")
    log("PostgreSQL (every figure): " + ", ".join(f"{k}={v}" for k, v in settings))
    simfleet = campaign.Fleet(a.build, workdir, {})
    ctx["simfleet"] = simfleet
    fleet = campaign.Fleet(a.build, workdir, {})
    ctx["fleet"] = fleet
    res = {"recipients": a.recipients, "pg_settings": dict(settings)}
    try:
        t = time.time()
        ctx["dsn"] = dsn = campaign.create_pg_database(admin, name, a.build)
        campaign.load_mysql(name, a.recipients, 1)
        ctx["workflow"] = campaign.seed_platform(dsn, name)
        ctx["template"] = q1(dsn, "SELECT message_config->>'template_id' FROM workflows "
                                  f"WHERE id = '{ctx['workflow']}'")[0]
        ctx["latency_wf"] = derived_workflow(dsn, ctx["workflow"], "bench latency", LATENCY_IDS)
        log(f"setup: {time.time() - t:.1f} s")
        sim = Sim(campaign.start_simulator(simfleet, campaign.free_port()))
        ctx["sim"] = sim
        fleet.env = campaign.fleet_env(dsn, f"{name}.", sim.url, name)
        # delivery reports arrive by webhook (reporter-1), as SOLAPI sends them; the status
        # poller is the fallback after its production delay (10 minutes)
        wh_port, wh_token = campaign.free_port(), f"{random.randrange(16**40):040x}"
        fleet.env.update({"MF_REPORTER_STATUS_POLL_AFTER_MS": "600000",
                          "MF_REPORTER_STATUS_DELAY_MS": "600000"})
        # an experiment's settings win over the bench's own (they used to be overwritten)
        fleet.env.update(kv.split("=", 1) for kv in a.fleet_env)
        if a.fleet_env:
            log(f"fleet settings added: {' '.join(a.fleet_env)}")
        campaign.start_fleet(fleet, a.senders, reporters=a.reporters, extra={"reporter-1": {
            "MF_REPORTER_WEBHOOK_ENABLED": "true", "MF_REPORTER_WEBHOOK_PORT": str(wh_port),
            "MF_REPORTER_WEBHOOK_TOKEN": wh_token}})
        time.sleep(0.5)
        fleet.check_alive()
        sim.config(deliver_delay_ms=DELIVER_DELAY_MS,
                   webhook_url=f"http://127.0.0.1:{wh_port}/{wh_token}/single-report")
        log(f"fleet up: 1 planner, {a.senders} senders, {a.reporters} reporters; "
            f"simulator at {sim.url}, delivery reports {DELIVER_DELAY_MS} ms after sending, by "
            "webhook to reporter-1")
        if "warmup" not in skip:
            stage_warmup(a, ctx)
        first_ms = 0.0
        if "latency" not in skip:
            first_ms, res["latency_samples_ms"] = stage_latency(a, ctx)
        else:  # the e2e run still needs warm topics
            run = trigger(a.build, dsn, ctx["latency_wf"])
            wait_run(dsn, run, 120, [fleet])
        res["first_send_ms"] = first_ms
        if a.recipients > a.reference:  # the big run's yardstick: 1M of the same data first
            settle(ctx, "reference e2e")
            ref_wf = derived_workflow(dsn, ctx["workflow"], "bench reference", a.reference)
            ref = stage_e2e(a, ctx, ref_wf, a.reference)
            res["reference_e2e"] = ref
            log(f"reference e2e: {ref['target']} recipients in {ref['e2e_s']:.2f} s; "
                f"rows {ref['rows']}")
        settle(ctx, "e2e")
        e2e = stage_e2e(a, ctx)
        res["e2e"] = e2e
        res["pg_disk_gb"] = num(q1(dsn, "SELECT pg_database_size(current_database())")[0]) / 1e9
        res["exact"] = exactness(dsn, e2e["run"])
        fleet.stop()
        sim.config(webhook_url="")
        log(f"e2e: {e2e['target']} recipients ({e2e['invalid']} invalid) in {e2e['e2e_s']:.2f} s "
            f"= {e2e['recipients_per_s']:.0f} recipients/s; rows {e2e['rows']}; every row "
            f"final after {e2e['final_s']:.2f} s")
        floors = {"seed_floor_s": 0.0, "update_floor_s": 0.0, "floor_s": 0.0}
        if "floor" not in skip:
            floors = stage_floor(a, ctx, e2e["run"])
        res.update(floors)
        peer = {"secs": 0.0, "rss_mb": 0.0}
        copy_peer = {"secs": 0.0, "rss_mb": 0.0}
        if "peer" not in skip:
            for write in ("insert", "copy"):
                settle(ctx, f"{write} peer")
                p = stage_peer(a, ctx, write)
                if p["recipients"] != e2e["target"] or p["sent"] != e2e["success"]:
                    log(f"peer: WARNING {write} peer recipients/sent {p['recipients']}/"
                        f"{p['sent']} vs fleet {e2e['target']}/{e2e['success']}")
                if write == "insert":
                    peer = p
                else:
                    copy_peer = p
        res["peer"], res["copy_peer"] = peer, copy_peer
        scale = [0.0, 0.0, 0.0]
        if "scale" not in skip:
            settle(ctx, "scale-out")
            scale = stage_scale(a, ctx)
        res["scale"] = scale
        rate = {}
        if "rate" not in skip:
            settle(ctx, "rate")
            rate = stage_rate(a, ctx)
        res["rate"] = rate
        tx_ms = 0.0
        if "tx" not in skip:
            settle(ctx, "tx")
            tx_ms, res["tx_samples_ms"] = stage_tx(a, ctx)
        res["transactional_under_load_ms"] = tx_ms
        if "events" not in skip:
            settle(ctx, "events")
            res["events"] = stage_events(a, ctx)
    finally:
        close_sessions()
        fleet.stop()
        simfleet.stop()
        if not a.keep:
            for db in ctx["dbs"][1:]:  # the floors' and peers' (PostgreSQL only)
                campaign.psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)
            campaign.drop_databases(admin, name)

    e2e_s, final_s = e2e["e2e_s"], e2e["final_s"]
    seed_floor_s, update_floor_s, floor_s = (floors["seed_floor_s"], floors["update_floor_s"],
                                             floors["floor_s"])

    def ratio(x, y):
        return x / y if x > 0 and y > 0 else 0.0
    seed_floor_ratio = ratio(e2e_s, seed_floor_s)
    floor_ratio = ratio(e2e_s, floor_s)
    final_ratio = ratio(final_s, seed_floor_s + update_floor_s)
    peer_speedup = ratio(peer["secs"], e2e_s)
    copy_peer_speedup = ratio(copy_peer["secs"], e2e_s)
    tx_ms = res.get("transactional_under_load_ms", 0.0)
    max_rss = max(e2e["rss_mb"].values())
    res.update({"floor_ratio": floor_ratio, "seed_floor_ratio": seed_floor_ratio,
                "final_ratio": final_ratio, "peer_speedup": peer_speedup,
                "copy_peer_speedup": copy_peer_speedup, "max_rss_mb": max_rss})
    with open(os.path.join(a.out, f"bench-{a.recipients}.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)

    print("", flush=True)
    log(f"per stage (N={a.recipients}, {a.senders} senders):")
    log(f"  planner  {e2e['planner_rps']:>10.0f} recipients/s  ({e2e['planner_s']:.2f} s to "
        "expansion_finished_at)")
    log(f"  sender   {e2e['sender_mps']:>10.0f} messages/s    ({e2e['sender_msgs']} accepted in "
        f"{e2e['sender_window_s']:.2f} s, first {e2e['first_accept_s'] * 1000:.0f} ms after trigger)")
    log(f"  reporter {e2e['reporter_rps']:>10.0f} rows/s        ({e2e['rows']} rows in "
        f"{e2e['reporter_window_s']:.2f} s of created_at)")
    for r in sorted(e2e["cpu_us_per_msg"]):
        log(f"  cpu {r:<9} {e2e['cpu_us_per_msg'][r]:>8.1f} us/message   peak RSS "
            f"{e2e['rss_by_role'][r]:.1f} MB")
    for n in sorted(e2e["rss_mb"]):
        log(f"    {n:<12} cpu {e2e['cpu_s'][n]:.2f} s  VmHWM {e2e['rss_mb'][n]:.1f} MB")
    log(f"  postgres {1e6 * e2e['postgres_cpu_s'] / max(e2e['target'], 1):.1f} us/message "
        f"(all postgres processes); whole machine {e2e['host_cpu_s']:.1f} CPU-s in "
        f"{e2e['e2e_s']:.1f} s = {100 * e2e['host_cpu_s'] / max(e2e['e2e_s'], 1e-3):.0f}% "
        f"of one core ({os.cpu_count()} cores)")
    log("  postgres by client: " + ", ".join(
        f"{k} {1e6 * v / max(e2e['target'], 1):.1f}"
        for k, v in sorted(e2e.get("postgres_by_client_s", {}).items(), key=lambda kv: -kv[1]))
        + " us/message")
    log("  others   " + ", ".join(
        f"{k} {1e6 * v / max(e2e['target'], 1):.1f} us/message"
        for k, v in e2e.get("other_cpu_s", {}).items()) + " (processes by name, same machine)")
    if e2e.get("kafka_jit_s") is not None:
        log(f"  kafka    JIT compiling {e2e['kafka_jit_s']:.1f} s during e2e (jstat -compiler)")
        if e2e["kafka_jit_s"] > COLD_JIT_S:
            log("  WARNING: the Kafka broker was still compiling its code: a cold stack. It "
                "costs the fleet CPU a long-running broker does not; run again for the figures "
                "of a warm stack (BENCHMARKS.md)")
    if e2e.get("status_finals") is not None:
        log(f"  status poller: {e2e['status_finals']} final statuses produced during e2e "
            "(each a message_logs UPDATE)")
    if e2e.get("report_paths"):
        log("  reports  " + ", ".join(f"{k} {v}" for k, v in sorted(e2e["report_paths"].items())))
    wh = e2e.get("webhook_ms") or {}
    if "total" in wh:
        log(f"  webhook  {wh['requests']} single-report requests, {wh['total']:.2f} ms each from "
            f"body to answer, of which {wh.get('kafka', 0):.2f} ms waiting for Kafka")
    log(f"  floors   seed COPY {seed_floor_s:.2f} s, reports UPDATE {update_floor_s:.2f} s, "
        f"migrated COPY {floor_s:.2f} s; every row final after {final_s:.2f} s")
    log(f"  peer     {peer['secs']:.2f} s (INSERT), {copy_peer['secs']:.2f} s (COPY), peak RSS "
        f"{max(peer['rss_mb'], copy_peer['rss_mb']):.0f} MB")
    log(f"  series   {e2e['csv']}  chart {e2e['png']}")
    checks = [
        ("e2e <= 1.15 x seed floor", 0 < seed_floor_ratio <= 1.15, f"{seed_floor_ratio:.2f}"),
        ("final <= 1.3 x (seed + update floor)", 0 < final_ratio <= 1.3, f"{final_ratio:.2f}"),
        ("peer_speedup >= 2", peer_speedup >= 2, f"{peer_speedup:.2f}"),
        ("copy_peer_speedup >= 1.5", copy_peer_speedup >= 1.5, f"{copy_peer_speedup:.2f}"),
        ("transactional_under_load_ms <= 1000", 0 < tx_ms <= 1000, f"{tx_ms:.0f}"),
        ("first_send_ms <= 1000", 0 < first_ms <= 1000, f"{first_ms:.0f}"),
        ("each daemon's peak RSS <= 64 MB", max_rss <= 64, f"{max_rss:.1f}"),
        ("4 senders >= 3.5x one", scale[0] > 0 and scale[2] >= 3.5 * scale[0],
         f"{scale[2] / scale[0]:.2f}x" if scale[0] > 0 else "n/a"),
    ]
    if rate:
        checks += [
            (f"account {a.rate_account:.0f}/s +-5 % per 10 s", rate["account"]["ok"],
             f"{rate['account']['min']:.0f}..{rate['account']['max']:.0f}"),
            (f"workflow {a.rate_workflow_per_min:.0f}/min +-5 %", rate["workflow"]["ok"],
             f"{rate['workflow']['secs']:.0f}s/{rate['workflow']['expected_s']:.0f}s"),
        ]
    for label, ok, value in checks:
        log(f"  target {label:<38} {value:>8}  {'met' if ok else 'MISSED'}")
    unsettled = ctx.get("unsettled", [])
    log(f"  settle check: {'FAILED before ' + ', '.join(unsettled) if unsettled else 'the database was quiet before every stage'}")
    print(f"bench: recipients={a.recipients} e2e_s={e2e_s:.2f} seed_floor_s={seed_floor_s:.2f} "
          f"seed_floor_ratio={seed_floor_ratio:.2f} floor_s={floor_s:.2f} "
          f"floor_ratio={floor_ratio:.2f} final_s={final_s:.2f} final_ratio={final_ratio:.2f} "
          f"peer_s={peer['secs']:.2f} peer_speedup={peer_speedup:.2f} "
          f"copy_peer_s={copy_peer['secs']:.2f} copy_peer_speedup={copy_peer_speedup:.2f} "
          f"first_send_ms={first_ms:.0f} transactional_under_load_ms={tx_ms:.0f} "
          f"max_rss_mb={max_rss:.1f} scale_1_2_4={','.join(f'{r:.0f}' for r in scale)}",
          flush=True)
    if "reference_e2e" in res:
        print_big_run(a, res, e2e_s, max_rss)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""gen_sample: generate and load realistic sample CRM data (customers, subscriptions).

Deterministic: the same --seed, --customers, --malformed-share, --duplicates and --today give
byte-identical files. Loading uses LOAD DATA LOCAL INFILE ... IGNORE through the `mariadb`
client as the admin user, so re-running with the same parameters changes nothing; use
--truncate to replace the data after changing them.

Examples:
  gen_sample.py                                   # 10,000 customers into $MF_MYSQL_DB (crm)
  gen_sample.py --customers 1000000 --truncate    # a million, replacing what is there
  gen_sample.py --files-only --out-dir /tmp/crm   # only write customers.tsv, subscriptions.tsv
  gen_sample.py --db mftest_x --create-schema     # create the database and tables first
"""

import argparse
import datetime
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "001_crm.sql")

# Family names with rough population weights (percent, Statistics Korea 2015).
FAMILY = [
    ("김", 21.5), ("이", 14.7), ("박", 8.4), ("최", 4.7), ("정", 4.3), ("강", 2.3),
    ("조", 2.1), ("윤", 2.1), ("장", 2.0), ("임", 1.7), ("한", 1.5), ("오", 1.5),
    ("서", 1.5), ("신", 1.5), ("권", 1.4), ("황", 1.4), ("안", 1.3), ("송", 1.3),
    ("류", 1.2), ("전", 1.1), ("홍", 1.1), ("고", 0.9), ("문", 0.9), ("양", 0.9),
    ("손", 0.9), ("배", 0.8), ("백", 0.7), ("허", 0.6), ("유", 0.6), ("남", 0.6),
    ("심", 0.5), ("노", 0.5), ("하", 0.5), ("곽", 0.4), ("성", 0.4), ("차", 0.4),
    ("주", 0.4), ("우", 0.4), ("구", 0.4), ("민", 0.3), ("진", 0.3), ("나", 0.3),
    ("지", 0.3), ("엄", 0.3), ("채", 0.3), ("원", 0.3), ("천", 0.2), ("방", 0.2),
    ("공", 0.2), ("현", 0.2), ("남궁", 0.05), ("황보", 0.05), ("제갈", 0.02),
]
GIVEN_FIRST = list("민서지도하예수주시은준우현유채아연건태윤승다소재정")
GIVEN_SECOND = list("준연우윤민서원호현진아빈은율희영훈성수린결온찬규석혁경")
DOMAINS = ["example.com", "example.net", "example.org"]
ROMAN = "abcdefghijklmnopqrstuvwxyz"


def env(name, default):
    v = os.environ.get(name)
    return v if v else default


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--malformed-share", type=float, default=0.03,
                   help="share of customers with a malformed or missing phone (0.03)")
    p.add_argument("--duplicates", type=int, default=None,
                   help="how many of the customers are exact duplicates of others "
                        "(default: customers / 2000, at least 3)")
    p.add_argument("--today", default=None,
                   help="anchor date YYYY-MM-DD (default: today in Asia/Seoul)")
    p.add_argument("--out-dir", default=None, help="where to write the TSV files")
    p.add_argument("--files-only", action="store_true", help="write the files, load nothing")
    p.add_argument("--truncate", action="store_true", help="empty both tables before loading")
    p.add_argument("--create-schema", action="store_true",
                   help="CREATE DATABASE IF NOT EXISTS and apply 001_crm.sql first")
    p.add_argument("--host", default=env("MF_MYSQL_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("MF_MYSQL_PORT", "53306")))
    p.add_argument("--db", default=env("MF_MYSQL_DB", "crm"))
    p.add_argument("--user", default=env("MF_MYSQL_ADMIN_USER", "crm_admin"))
    p.add_argument("--password", default=None,
                   help="admin password (default: $MF_MYSQL_ADMIN_PASSWORD or crm_admin_pw)")
    a = p.parse_args(argv)
    if a.customers < 1:
        p.error("--customers must be at least 1")
    if not 0.0 <= a.malformed_share <= 1.0:
        p.error("--malformed-share must be between 0 and 1")
    if a.password is None:
        a.password = env("MF_MYSQL_ADMIN_PASSWORD", "crm_admin_pw")
    if a.duplicates is None:
        a.duplicates = max(3, a.customers // 2000)
    if a.today is None:
        kst = datetime.timezone(datetime.timedelta(hours=9))
        a.today = datetime.datetime.now(kst).date()
    else:
        a.today = datetime.date.fromisoformat(a.today)
    return a


# ------------------------------------------------------------------ generation

def valid_phone(rng):
    mid, last = rng.randrange(10000), rng.randrange(10000)
    r = rng.random()
    if r < 0.50:
        return "010-%04d-%04d" % (mid, last)
    if r < 0.85:
        return "010%04d%04d" % (mid, last)
    if r < 0.95:
        return "+82 10-%04d-%04d" % (mid, last)
    return "+821%d%04d%04d" % (0, mid, last)


def malformed_phone(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return "010-%03d-%03d" % (rng.randrange(1000), rng.randrange(1000))  # too short
    if kind == 1:
        return "010-%02d%s-%04d" % (rng.randrange(100), rng.choice(["ab", "xy", "O0", "ㄱㄴ"]),
                                    rng.randrange(10000))  # letters
    if kind == 2:
        return "02-%03d-%04d" % (rng.randrange(1000), rng.randrange(10000))  # Seoul landline
    if kind == 3:
        return "031-%03d-%04d" % (rng.randrange(1000), rng.randrange(10000))  # landline
    if kind == 4:
        return "010-%04d-%05d" % (rng.randrange(10000), rng.randrange(100000))  # too long
    if kind == 5:
        return ""
    return None


def korean_name(rng, fam_names, fam_weights):
    return (rng.choices(fam_names, fam_weights)[0] + rng.choice(GIVEN_FIRST)
            + rng.choice(GIVEN_SECOND))


def email(rng, cid):
    if rng.random() < 0.1:
        return None
    n = rng.randrange(4, 10)
    local = "".join(rng.choice(ROMAN) for _ in range(n))
    return "%s%d@%s" % (local, cid % 1000, rng.choice(DOMAINS))


def tsv(v):
    return "\\N" if v is None else v


def gen_customers(a, rng):
    """(id, name, phone, email, created_at) rows; the last --duplicates rows repeat earlier
    ones exactly (except the id), so the total is --customers."""
    fam_names = [f for f, _ in FAMILY]
    fam_weights = [w for _, w in FAMILY]
    start = datetime.datetime.combine(a.today, datetime.time()) - datetime.timedelta(days=730)
    span = 730 * 86400
    ndup = min(a.duplicates, a.customers // 2)
    base = a.customers - ndup
    rows = []
    for cid in range(1, base + 1):
        phone = malformed_phone(rng) if rng.random() < a.malformed_share else valid_phone(rng)
        created = start + datetime.timedelta(seconds=rng.randrange(span))
        rows.append((cid, korean_name(rng, fam_names, fam_weights), phone, email(rng, cid),
                     created))
    for k in range(ndup):
        src = rows[rng.randrange(base)]
        rows.append((base + 1 + k,) + src[1:])
    return rows


def gen_subscriptions(a, rng, customers):
    today = a.today
    sid = 0
    out = []
    for cid, _, _, _, created in customers:
        k = rng.choices((0, 1, 2, 3), (25, 55, 17, 3))[0]
        for _ in range(k):
            sid += 1
            first = created.date()
            days_since = max((today - first).days, 0)
            start = first + datetime.timedelta(days=rng.randrange(days_since + 1))
            status = rng.choices(("active", "cancelled", "expired"), (55, 20, 25))[0]
            if status == "active":
                r = rng.random()
                if r < 0.10:
                    end = None
                elif r < 0.20:
                    end = today + datetime.timedelta(days=rng.randrange(8))  # within 7 days
                else:
                    end = today + datetime.timedelta(days=rng.randrange(8, 366))
            elif status == "expired":
                lo = start + datetime.timedelta(days=1)
                end = lo + datetime.timedelta(days=rng.randrange(max((today - lo).days, 1)))
                if end >= today:
                    end = today - datetime.timedelta(days=1)
                if end < start:
                    start = end
            else:
                end = start + datetime.timedelta(days=rng.randrange(1, 400))
            out.append((sid, cid, status, start.isoformat(),
                        end.isoformat() if end else None))
    return out


def write_files(a, out_dir):
    rng = random.Random(a.seed)
    customers = gen_customers(a, rng)
    subs = gen_subscriptions(a, rng, customers)
    cpath = os.path.join(out_dir, "customers.tsv")
    spath = os.path.join(out_dir, "subscriptions.tsv")
    with open(cpath, "w", encoding="utf-8", newline="\n") as f:
        for cid, name, phone, mail, created in customers:
            f.write("%d\t%s\t%s\t%s\t%s\n" % (cid, name, tsv(phone), tsv(mail),
                                             created.strftime("%Y-%m-%d %H:%M:%S")))
    with open(spath, "w", encoding="utf-8", newline="\n") as f:
        for sid, cid, status, start, end in subs:
            f.write("%d\t%d\t%s\t%s\t%s\n" % (sid, cid, status, start, tsv(end)))
    return cpath, spath, len(customers), len(subs)


# ------------------------------------------------------------------ loading

def sql_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def ident(s):
    return "`" + s.replace("`", "``") + "`"


def client(a, cnf, sql, db=True, stdin=None):
    """Run the mariadb client; the password travels in a 0600 defaults file, not argv."""
    cmd = ["mariadb", "--defaults-extra-file=" + cnf, "--local-infile=1", "--batch",
           "--skip-column-names", "--default-character-set=utf8mb4",
           "-h", a.host, "-P", str(a.port), "-u", a.user]
    if db:
        cmd.append(a.db)
    if sql is not None:
        cmd += ["-e", sql]
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("gen_sample: mariadb client failed on \"%s:%d\": %s"
                 % (a.host, a.port, p.stderr.strip()))
    return p.stdout


def load(a, cpath, spath, tmp):
    cnf = os.path.join(tmp, "client.cnf")
    fd = os.open(cnf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write('[client]\npassword="%s"\n'
                % a.password.replace("\\", "\\\\").replace('"', '\\"'))
    if a.create_schema:
        client(a, cnf, "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4" % ident(a.db),
               db=False)
        with open(SCHEMA, encoding="utf-8") as f:
            client(a, cnf, None, stdin=f.read())
    opts = ("CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
            "LINES TERMINATED BY '\\n'")
    sql = ["SET time_zone = '+09:00'", "SET foreign_key_checks = 0", "SET unique_checks = 0"]
    if a.truncate:
        sql += ["TRUNCATE TABLE subscriptions", "TRUNCATE TABLE customers"]
    sql += [
        "LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE customers %s "
        "(id, name, phone, email, created_at)" % (sql_str(cpath), opts),
        "SELECT 'customers_inserted', ROW_COUNT()",
        "LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE subscriptions %s "
        "(id, customer_id, status, start_date, end_date)" % (sql_str(spath), opts),
        "SELECT 'subscriptions_inserted', ROW_COUNT()",
        "SET foreign_key_checks = 1",
        "SELECT 'customers_total', COUNT(*) FROM customers",
        "SELECT 'subscriptions_total', COUNT(*) FROM subscriptions",
    ]
    out = client(a, cnf, ";\n".join(sql) + ";")
    counts = {}
    for line in out.splitlines():
        k, _, v = line.partition("\t")
        counts[k] = int(v)
    return counts


def main(argv):
    a = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mf_gen_sample_") as tmp:
        out_dir = a.out_dir or tmp
        os.makedirs(out_dir, exist_ok=True)
        cpath, spath, nc, ns = write_files(a, out_dir)
        print("generated customers=%d subscriptions=%d (seed %d, today %s) in %s"
              % (nc, ns, a.seed, a.today.isoformat(), out_dir))
        if a.files_only:
            return 0
        c = load(a, os.path.abspath(cpath), os.path.abspath(spath), tmp)
        print("loaded into %s:%d/%s: customers inserted=%d total=%d, "
              "subscriptions inserted=%d total=%d"
              % (a.host, a.port, a.db, c.get("customers_inserted", -1),
                 c.get("customers_total", -1), c.get("subscriptions_inserted", -1),
                 c.get("subscriptions_total", -1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

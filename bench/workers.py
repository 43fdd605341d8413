#!/usr/bin/env python3
"""Events ingested and run per second: the SQLite store, and the PostgreSQL store with 1, 2 and
4 workers (`journey run` processes side by side on one database), beside pgbench's built-in
simple-update TPS on the same server, all in this script.

The workload: --profiles profiles, --events cart_abandoned events over one day, each starting a
journey that reads the profile's history (a count) and sends a message at once (durable: every
event, step and message committed). Each figure is ingest + run, from files to messages.

The server is a private cluster started here (.ci/postgres, fsync on), or the one
JOURNEY_BENCH_POSTGRES names (a URL whose user may create databases).

Usage: bench/workers.py [--profiles 20000] [--events 100000]
Needs a release build (swift build -c release --static-swift-stdlib --product journey)."""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record

ap = argparse.ArgumentParser()
ap.add_argument("--profiles", type=int, default=20_000)
ap.add_argument("--events", type=int, default=100_000)
ap.add_argument("--pgbench-seconds", type=int, default=20)
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
J = os.environ.get("JOURNEY_BIN") or os.path.join(root, ".build/release/journey")
OUT = os.path.join(root, "bench/out/workers")
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(os.path.join(OUT, "project"))


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    return time.perf_counter() - t, p.stdout.decode()


open(os.path.join(OUT, "project/schema.journey"), "w").write("""profile {
  first_name: string
  email: string?
}
event cart_abandoned { cart_id: string, total: money }
channel email address profile.email
journey nudge {
  on cart_abandoned as cart
  reentry always
  email "Your cart {cart.cart_id} ({cart.total}) is waiting, {profile.first_name}: {count(cart_abandoned within 30d)} carts"
}
""")
with open(os.path.join(OUT, "profiles.jsonl"), "w") as f:
    for i in range(args.profiles):
        f.write(json.dumps({"id": f"u{i}", "first_name": f"P{i}", "email": f"u{i}@example.com"}) + "\n")
with open(os.path.join(OUT, "events.jsonl"), "w") as f:
    for k in range(args.events):
        t = 1740787200 + k * 86400 // args.events
        f.write(json.dumps({"profile": f"u{(k * 7919) % args.profiles}", "event": "cart_abandoned",
                            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "data": {"cart_id": f"c{k}", "total": "19.90"}}) + "\n")
bundle = os.path.join(OUT, "b.journeyc")
run([J, "build", "-o", bundle, os.path.join(OUT, "project")])
UNTIL = "2025-03-03T00:00:00Z"


def one(db, workers, env):
    """Deploy and import (not timed), then ingest and run with `workers` processes (timed)."""
    run([J, "deploy", "--db", db, bundle], env)
    run([J, "import", "--db", db, os.path.join(OUT, "profiles.jsonl")], env)
    t0 = time.perf_counter()
    run([J, "ingest", "--db", db, os.path.join(OUT, "events.jsonl")], env)
    t1 = time.perf_counter()
    procs = [subprocess.Popen([J, "run", "--db", db, "--until", UNTIL], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(workers)]
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"run failed: {err.decode()[-800:]}")
    t2 = time.perf_counter()
    _, outbox = run([J, "outbox", "--db", db], env)
    n = outbox.count("\n")
    if n != args.events:
        sys.exit(f"{db}: {n} messages, expected {args.events}")
    return t1 - t0, t2 - t1, outbox


def pg_url(base, name):
    """The server's URL naming another database."""
    return base.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name


env = dict(os.environ)
pgdir = None
base = os.environ.get("JOURNEY_BENCH_POSTGRES")
if not base:
    pgdir = tempfile.mkdtemp(prefix="journey-bench-pg.")
    os.chmod(pgdir, 0o755)
    base = subprocess.run([os.path.join(root, ".ci/postgres"), "start", pgdir], check=True, stdout=subprocess.PIPE).stdout.decode().strip()
try:
    rows = []
    db = os.path.join(OUT, "sqlite.db")
    ingest, runs, reference = one(db, 1, env)
    rows.append(("SQLite, 1 runner", ingest, runs))
    for workers in (1, 2, 4):
        name = f"bench_workers_{workers}"
        subprocess.run(["psql", "-q", base, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"], check=True)
        ingest, runs, outbox = one(pg_url(base, name), workers, env)
        if sorted(outbox.splitlines()) != sorted(reference.splitlines()):
            sys.exit(f"PostgreSQL with {workers} workers sent other messages than SQLite")
        rows.append((f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}", ingest, runs))
        subprocess.run(["psql", "-q", base, "-c", f"DROP DATABASE {name}"], check=True)
    # pgbench's own simple-update transactions on the same server, 4 clients on 2 threads.
    subprocess.run(["psql", "-q", base, "-c", "DROP DATABASE IF EXISTS bench_pgbench", "-c", "CREATE DATABASE bench_pgbench"], check=True)
    pb = pg_url(base, "bench_pgbench")
    subprocess.run(["pgbench", "-q", "-i", "-s", "10", pb], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = subprocess.run(["pgbench", "-b", "simple-update", "-c", "4", "-j", "2", "-T", str(args.pgbench_seconds), pb], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    tps = float(re.search(r"tps = ([0-9.]+)", p).group(1))
    subprocess.run(["psql", "-q", base, "-c", "DROP DATABASE bench_pgbench"], check=True)
finally:
    if pgdir:
        subprocess.run([os.path.join(root, ".ci/postgres"), "stop", pgdir])
        shutil.rmtree(pgdir, ignore_errors=True)

sqlite_rate = args.events / (rows[0][1] + rows[0][2])
print(f"{args.events} events, {args.profiles} profiles; ingest + run, every event a durable step and a message")
print(f"{'':24} {'ingest s':>9} {'run s':>8} {'events/s':>9} {'vs SQLite':>9} {'vs pgbench TPS':>15}")
for label, ingest, runs in rows:
    rate = args.events / (ingest + runs)
    print(f"{label:24} {ingest:9.2f} {runs:8.2f} {rate:9.0f} {rate / sqlite_rate:8.2f}x {rate / tps:14.2f}x")
    record(f"{label}: ingest + run, {args.events:,} events", rate, "events/s", peer="pgbench simple-update TPS", peer_value=tps)
print(f"{'pgbench simple-update':24} {'':9} {'':8} {tps:9.0f} {tps / sqlite_rate:8.2f}x (transactions/s, 4 clients)")

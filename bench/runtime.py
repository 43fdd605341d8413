#!/usr/bin/env python3
"""Runtime benchmarks, each side by side with a peer in the same script:

1. events: ingest + run to the horizon (durable file database, journeys with history queries),
   beside sqlite3's own `.import` of the same events (WAL, synchronous=FULL);
2. timers: due timers fired per second;
3. memory: peak RSS of `journey run` while one million instances wait;
4. audience: a daily journey's `when` over a million profiles, beside SQLite's own WHERE on the
   same table and Lua 5.4 evaluating the same predicate.

Usage: bench/runtime.py [--events 100000] [--profiles 20000] [--waiting 1000000] [--audience 1000000]
Needs a release build (bench/run.sh runtime builds it), sqlite3 and lua5.4."""
import argparse, datetime, json, os, random, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=100_000)
ap.add_argument("--profiles", type=int, default=20_000)
ap.add_argument("--timers", type=int, default=100_000)
ap.add_argument("--waiting", type=int, default=1_000_000)
ap.add_argument("--audience", type=int, default=1_000_000)
ap.add_argument("--only", default="events,timers,memory,audience")
ap.add_argument("--repeat", type=int, default=3, help="runs of the events benchmark (medians are reported)")
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
J = os.environ.get("JOURNEY_BIN") or os.path.join(root, ".build/release/journey")
OUT = os.path.join(root, "bench/out/runtime")
T0 = 1740787200  # 2025-03-01T00:00:00Z


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cmd):
    """Wall seconds and standard output of one command; fails loudly."""
    secs, out, _ = run_out_rss(cmd)
    return secs, out


def run_out_rss(cmd):
    """Wall seconds, standard output and peak RSS (KiB) of one command; fails loudly."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t
        out.seek(0); err.seek(0)
        if status != 0:
            sys.exit(f"{' '.join(cmd)} failed ({status}): {err.read().decode()[-500:]}")
        return secs, out.read().decode(), usage.ru_maxrss


def run_rss(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed: {p.stderr.read().decode()[-500:]}")
    return secs, usage.ru_maxrss


def project(dirname, schema, journeys):
    d = os.path.join(OUT, dirname)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "project"))
    with open(os.path.join(d, "project/schema.journey"), "w") as f:
        f.write(schema)
    for name, text in journeys.items():
        with open(os.path.join(d, f"project/{name}.journey"), "w") as f:
            f.write(text)
    run([J, "build", "-o", os.path.join(d, "b.journeyc"), os.path.join(d, "project")])
    db = os.path.join(d, "j.db")
    run([J, "deploy", "--db", db, os.path.join(d, "b.journeyc")])
    return d, db


SCHEMA = """profile {
  first_name: string
  email: string?
  email_opt_in: bool
  timezone: string?
  lifetime_value: money
  orders_count: int
}
event product_viewed { product_id: string, category: string, price: money }
event order_placed { order_id: string, total: money }
event signup { source: string }
channel email address profile.email consent profile.email_opt_in
policy {
  cap 3 messages per 24h
}
"""


def write_profiles(path, n, tz=lambda i: None):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"u{i}", "first_name": f"P{i}", "email": f"u{i}@x.com" if i % 4 else None,
                                "email_opt_in": i % 5 != 0, "timezone": tz(i), "lifetime_value": f"{(i * 37) % 1000}.00",
                                "orders_count": i % 7}) + "\n")


def report(rows):
    for r in rows:
        print("  " + r)


def bench_events():
    d, db = project("events", SCHEMA, {
        "browse": """journey browse "Browse nudge" {
  on product_viewed as view
  when count(product_viewed where category == view.category within 7d) >= 3
  goal order_placed
  wait 1h
  email "Still looking at {view.category}, {profile.first_name}?"
}
""",
        "spend": """journey spend "Big spender" {
  on order_placed as order
  when sum(order_placed.total within 30d) > 100
  goal order_placed where total > 1000
  email "Thanks {profile.first_name}, your order {order.order_id} is on its way"
}
"""})
    write_profiles(os.path.join(d, "profiles.jsonl"), args.profiles)
    run([J, "import", "--db", db, os.path.join(d, "profiles.jsonl")])
    random.seed(7)
    cats = ["shoes", "jackets", "bags", "hats", "socks"]
    evs = []
    for k in range(args.events):
        p = random.randrange(args.profiles)
        at = T0 + random.randrange(7 * 86400)
        if random.random() < 0.8:
            evs.append((at, f"u{p}", "product_viewed", {"product_id": f"p{random.randrange(500)}", "category": random.choice(cats), "price": "19.90"}))
        else:
            evs.append((at, f"u{p}", "order_placed", {"order_id": f"o{k}", "total": f"{random.randrange(5, 300)}.00"}))
    evs.sort(key=lambda e: e[0])
    with open(os.path.join(d, "events.jsonl"), "w") as f, open(os.path.join(d, "events.csv"), "w") as g:
        for at, p, name, data in evs:
            line = json.dumps({"profile": p, "event": name, "at": iso(at), "data": data})
            f.write(line + "\n")
            g.write(f'{p},{name},{at},"{json.dumps(data).replace(chr(34), chr(34) * 2)}"\n')
    # Each repetition starts from the same database (bundle deployed, profiles imported).
    pristine = db + ".pristine"
    run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"])
    shutil.copyfile(db, pristine)
    horizon = iso(T0 + 30 * 86400)
    peer_db = os.path.join(d, "peer.db")
    script = f"PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nCREATE TABLE events(profile TEXT, event TEXT, at INTEGER, data TEXT);\n.import --csv {os.path.join(d, 'events.csv')} events\n"
    # The second peer: the same import into a table indexed as history queries need it (a
    # profile's events of a kind, by time), as the issue's own measurement has it.
    indexed_script = script.replace("data TEXT);", "data TEXT);\nCREATE INDEX events_by_profile ON events(profile, event, at);")
    ingests, procs, totals, peers, rsss, indexed = [], [], [], [], [], []
    for _ in range(max(1, args.repeat)):
        for suffix in ["", "-wal", "-shm"]:
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        shutil.copyfile(pristine, db)
        ingest, _ = run([J, "ingest", "--db", db, os.path.join(d, "events.jsonl")])
        proc, out, rss = run_out_rss([J, "run", "--db", db, "--until", horizon])
        rsss.append(rss)
        # The peer: sqlite3's own import of the same events, durable the same way.
        for suffix in ["", "-wal", "-shm"]:
            if os.path.exists(peer_db + suffix):
                os.remove(peer_db + suffix)
        t = time.perf_counter()
        p = subprocess.run(["sqlite3", peer_db], input=script.encode(), capture_output=True)
        peer = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit("sqlite3 .import failed: " + p.stderr.decode())
        for suffix in ["", "-wal", "-shm"]:
            if os.path.exists(peer_db + suffix):
                os.remove(peer_db + suffix)
        t = time.perf_counter()
        p = subprocess.run(["sqlite3", peer_db], input=indexed_script.encode(), capture_output=True)
        indexed.append(time.perf_counter() - t)
        if p.returncode != 0:
            sys.exit("sqlite3 .import (indexed) failed: " + p.stderr.decode())
        ingests.append(ingest); procs.append(proc); totals.append(ingest + proc); peers.append(peer)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    ingest, proc, total, peer, peer2 = med(ingests), med(procs), med(totals), med(peers), med(indexed)
    n = args.events
    print(f"events: {n} events, {args.profiles} profiles, 2 journeys with history queries ({out.strip()}); median of {len(totals)} runs")
    report([f"journey ingest          {ingest:8.3f} s  {n / ingest:12,.0f} events/s",
            f"journey run (horizon)   {proc:8.3f} s  {n / proc:12,.0f} events/s",
            f"ingest + run            {total:8.3f} s  {n / total:12,.0f} events/s  (runs: {', '.join(f'{n / t:,.0f}' for t in totals)})",
            f"sqlite3 .import (peer)  {peer:8.3f} s  {n / peer:12,.0f} events/s",
            f"sqlite3 .import, indexed {peer2:7.3f} s  {n / peer2:12,.0f} events/s  (index on profile, event, at)",
            f"ingest + run / sqlite3 .import speed: {peer / total:.2f}; / indexed .import: {peer2 / total:.2f}",
            f"journey run peak RSS    {max(rsss) / 1024:8.1f} MiB"])
    record(f"ingest + run, {n:,} events with history queries, durable", n / total, "events/s", peer="sqlite3 .import", peer_value=n / peer,
           target=">= 0.5x", note=f"median of {len(totals)}")
    record(f"ingest + run, {n:,} events, against an indexed import", n / total, "events/s", peer="sqlite3 .import, indexed (profile, event, at)",
           peer_value=n / peer2, target=">= 0.5x", note=f"median of {len(totals)}")
    record(f"journey run over {n:,} events, peak RSS", max(rsss) / 1024, "MiB")


def signups(d, db, n, spread):
    """n profiles, imported, and one signup each, ingested, spread over `spread` seconds."""
    write_profiles(os.path.join(d, "profiles.jsonl"), n)
    run([J, "import", "--db", db, os.path.join(d, "profiles.jsonl")])
    with open(os.path.join(d, "events.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({"profile": f"u{i}", "event": "signup", "at": iso(T0 + i % spread), "data": {"source": "web"}}) + "\n")
    run([J, "ingest", "--db", db, os.path.join(d, "events.jsonl")])


def bench_timers():
    d, db = project("timers", SCHEMA, {"welcome": """journey welcome "Welcome" {
  on signup as s
  goal order_placed
  wait 1d
  email "Welcome, {profile.first_name} (from {s.source})"
}
"""})
    n = args.timers
    signups(d, db, n, 3600)
    enter, _ = run([J, "run", "--db", db, "--until", iso(T0 + 3600)])
    fire, out = run([J, "run", "--db", db, "--until", iso(T0 + 3 * 86400)])
    print(f"timers: {n} instances waiting 1d ({out.strip()})")
    report([f"entries (event → wait)  {enter:8.3f} s  {n / enter:12,.0f} instances/s",
            f"timers fired (→ send)   {fire:8.3f} s  {n / fire:12,.0f} timers/s"])
    record("due timers fired, each ending in a send", n / fire, "timers/s")


def bench_memory():
    d, db = project("memory", SCHEMA, {"welcome": """journey welcome "Welcome" {
  on signup
  goal order_placed
  wait 30d
  email "Welcome, {profile.first_name}"
}
"""})
    n = args.waiting
    signups(d, db, n, 86400)
    secs, rss = run_rss([J, "run", "--db", db, "--until", iso(T0 + 86400)])
    secs2, rss2 = run_rss([J, "run", "--db", db, "--until", iso(T0 + 2 * 86400)])
    print(f"memory: {n} instances entering and then waiting 30d")
    report([f"run creating them       {secs:8.3f} s  peak RSS {rss / 1024:8.1f} MiB",
            f"run while they wait     {secs2:8.3f} s  peak RSS {rss2 / 1024:8.1f} MiB"])
    record(f"{n:,} instances waiting, peak RSS while creating them", rss / 1024, "MiB")


def bench_audience():
    d, db = project("audience", SCHEMA, {"vip": """journey vip "VIP morning" {
  on daily at 09:00
  when profile.lifetime_value > 990 and profile.orders_count >= 3
  goal order_placed
  email "Good morning, {profile.first_name}"
}
"""})
    n = args.audience
    write_profiles(os.path.join(d, "profiles.jsonl"), n)
    run([J, "import", "--db", db, os.path.join(d, "profiles.jsonl")])
    secs, out = run([J, "run", "--db", db, "--start", iso(T0), "--until", iso(T0 + 10 * 3600)])
    # "audience runs: N profiles read and tested (…); finding them took X ms"
    found = [l for l in out.splitlines() if l.startswith("audience runs:")]
    find_secs = float(found[0].split("took ")[1].split(" ms")[0]) / 1000 if found else float("nan")
    tested = found[0].split()[2] if found else "?"
    # SQLite's own WHERE on the same table (money is stored in millionths): the sqlite3 shell's
    # count, and the ids in this process (as journey reads them), best of 3.
    t = time.perf_counter()
    p = subprocess.run(["sqlite3", db, "SELECT count(*) FROM profiles WHERE lifetime_value > 990000000 AND orders_count >= 3"], capture_output=True)
    where = time.perf_counter() - t
    matched = p.stdout.decode().strip()
    import sqlite3
    con = sqlite3.connect(db)
    ids_secs = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        ids = con.execute("SELECT id FROM profiles WHERE lifetime_value > 990000000 AND orders_count >= 3 ORDER BY id").fetchall()
        ids_secs = min(ids_secs, time.perf_counter() - t)
    con.close()
    # Lua evaluating the same predicate over the same records in memory.
    lua = os.path.join(d, "where.lua")
    with open(lua, "w") as f:
        f.write(f"""local n = {n}
local profiles = {{}}
for i = 0, n - 1 do profiles[i + 1] = {{ lifetime_value = (i * 37) % 1000, orders_count = i % 7 }} end
local t = os.clock()
local c = 0
for i = 1, n do
  local p = profiles[i]
  if p.lifetime_value > 990 and p.orders_count >= 3 then c = c + 1 end
end
io.write(string.format("%d %.6f\\n", c, os.clock() - t))
""")
    p = subprocess.run(["lua5.4", lua], capture_output=True)
    lc, lsecs = p.stdout.decode().split()
    lsecs = float(lsecs)
    print(f"audience: a daily journey's `when` over {n} profiles ({matched} match; {out.strip()})")
    report([f"journey run (one day)   {secs:8.3f} s  {n / secs:12,.0f} profiles/s (scan, predicate, {matched} entries and sends)",
            f"  finding the audience  {find_secs:8.3f} s  {n / find_secs:12,.0f} profiles/s ({tested} read and tested by the VM)",
            f"sqlite3 WHERE (peer)    {where:8.3f} s  {n / where:12,.0f} profiles/s",
            f"SQLite SELECT id WHERE  {ids_secs:8.3f} s  {n / ids_secs:12,.0f} profiles/s (in Python, the ids in id order)",
            f"lua5.4 predicate loop   {lsecs:8.3f} s  {n / lsecs:12,.0f} profiles/s ({lc} match; records already in memory)"])
    record(f"audience `when` over {n:,} profiles: finding who enters", n / find_secs, "profiles/s", peer="SQLite SELECT id WHERE", peer_value=n / ids_secs, target=">= 0.8x")
    record(f"audience over {n:,} profiles: the whole journey run ({matched} entries and sends)", n / secs, "profiles/s", peer="sqlite3 WHERE (shell)", peer_value=n / where)


for part in args.only.split(","):
    {"events": bench_events, "timers": bench_timers, "memory": bench_memory, "audience": bench_audience}[part]()

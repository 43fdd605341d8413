#!/usr/bin/env python3
"""A catalog event over a big base: one price drop, `for each profile where` the profile viewed
the product within 30 days and has not ordered it, over --profiles profiles and --views history
rows (product views spread over 30 days and --products products, so each product has a few
thousand viewers).

Measured, each beside its peer in this script:
- journey: the time `journey run` reports for finding the audience (history index lookups and
  the whole condition tested on each candidate), and the wall time of the run that takes the
  price drop (finding + entering + the messages), on the durable SQLite file;
- SQLite's own SQL on the same rows in a plain table with the best index for the query
  (event, product_id, at), through Python's sqlite3 (the same library): the same audience as a
  SELECT … EXCEPT SELECT …, the answer compared with journey's.

Usage: bench/catalog.py [--profiles 1000000] [--views 20000000] [--products 10000] [--drops 5]
Needs a release build (swift build -c release --static-swift-stdlib --product journey)."""
import argparse, datetime, json, os, random, shutil, sqlite3, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record

ap = argparse.ArgumentParser()
ap.add_argument("--profiles", type=int, default=1_000_000)
ap.add_argument("--views", type=int, default=20_000_000)
ap.add_argument("--products", type=int, default=10_000)
ap.add_argument("--orders", type=int, default=200_000, help="order_placed rows (they keep buyers out)")
ap.add_argument("--drops", type=int, default=5, help="price drops measured one by one")
ap.add_argument("--keep", action="store_true", help="reuse bench/out/catalog if it holds the same sizes")
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
J = os.environ.get("JOURNEY_BIN") or os.path.join(root, ".build/release/journey")
OUT = os.path.join(root, "bench/out/catalog")
T0 = 1740787200  # 2025-03-01T00:00:00Z: the drops happen at T0 + k minutes
WINDOW = 30 * 86400


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    return secs, p.stdout.decode()


SCHEMA = """profile {
  first_name: string
  push_token: string?
}
event product_viewed { product_id: string }
event order_placed { order_id: string, product_id: string }
catalog event price_dropped { product_id: string, product_name: string, new_price: money }
channel push address profile.push_token
"""
JOURNEY = """journey price_drop_alert {
  on price_dropped as drop
  for each profile where exists(product_viewed where product_id == drop.product_id within 30d)
    and not exists(order_placed where product_id == drop.product_id within 30d)
  goal order_placed where product_id == drop.product_id
  push "{drop.product_name} is now {drop.new_price}"
}
"""

sizes = f"{args.profiles} {args.views} {args.products} {args.orders}"
db = os.path.join(OUT, "shop.db")
peer = os.path.join(OUT, "peer.db")
rng = random.Random(7)
if not (args.keep and os.path.exists(os.path.join(OUT, "sizes")) and open(os.path.join(OUT, "sizes")).read() == sizes):
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "project"))
    open(os.path.join(OUT, "project/schema.journey"), "w").write(SCHEMA)
    open(os.path.join(OUT, "project/alert.journey"), "w").write(JOURNEY)
    bundle = os.path.join(OUT, "shop.journeyc")
    run([J, "build", "-o", bundle, os.path.join(OUT, "project")])
    run([J, "deploy", "--db", db, bundle])
    with open(os.path.join(OUT, "profiles.jsonl"), "w") as f:
        for i in range(args.profiles):
            f.write(f'{{"id": "u{i}", "first_name": "N{i}", "push_token": "t{i}"}}\n')
    secs, _ = run([J, "import", "--db", db, os.path.join(OUT, "profiles.jsonl")])
    print(f"imported {args.profiles:,} profiles in {secs:.1f} s", flush=True)
    # Views (and a few orders) over the 30 days before T0, in time order, in files of 2M rows;
    # the peer database gets the same rows.
    pc = sqlite3.connect(peer)
    pc.execute("PRAGMA journal_mode=WAL")
    pc.execute("CREATE TABLE events(profile TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL, product_id TEXT NOT NULL)")
    total = args.views + args.orders
    per_file = 2_000_000
    ingest_secs = 0.0
    made = 0
    while made < total:
        n = min(per_file, total - made)
        rows = []
        for k in range(n):
            at = T0 - WINDOW + (made + k) * WINDOW // total
            p = rng.randrange(args.profiles)
            product = f"p{rng.randrange(args.products)}"
            event = "order_placed" if rng.randrange(total) < args.orders else "product_viewed"
            rows.append((f"u{p}", event, at, product))
        path = os.path.join(OUT, "events.jsonl")
        with open(path, "w") as f:
            for (p, e, at, product) in rows:
                data = f'{{"product_id": "{product}"}}' if e == "product_viewed" else f'{{"order_id": "o", "product_id": "{product}"}}'
                f.write(f'{{"profile": "{p}", "event": "{e}", "at": "{iso(at)}", "data": {data}}}\n')
        secs, _ = run([J, "ingest", "--db", db, path])
        ingest_secs += secs
        pc.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
        pc.commit()
        made += n
        print(f"  {made:,} history rows ingested ({made / ingest_secs:,.0f}/s)", flush=True)
    os.remove(os.path.join(OUT, "events.jsonl"))
    # The history before T0 is taken by a run (no journey starts on it).
    secs, _ = run([J, "run", "--db", db, "--until", iso(T0 - 1)])
    print(f"ran the history in {secs:.1f} s", flush=True)
    t = time.perf_counter()
    pc.execute("CREATE INDEX events_by_product ON events(event, product_id, at)")
    pc.commit()
    print(f"peer index built in {time.perf_counter() - t:.1f} s", flush=True)
    pc.close()
    open(os.path.join(OUT, "sizes"), "w").write(sizes)

QUERY = """SELECT DISTINCT profile FROM events WHERE event = 'product_viewed' AND product_id = ?1 AND at >= ?2 AND at <= ?3
EXCEPT SELECT profile FROM events WHERE event = 'order_placed' AND product_id = ?1 AND at >= ?2 AND at <= ?3"""

pc = sqlite3.connect(peer)
results = []
# Each drop happens after everything the database has run (with --keep, after earlier runs'
# drops): the audience is then relative to the drop's own instant, as SQLite's query is.
clock = int((sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'clock'").fetchone() or [T0])[0])
for k in range(args.drops):
    product = f"p{rng.randrange(args.products)}"
    at = max(T0, clock) + 60 * (k + 1)
    path = os.path.join(OUT, "drop.jsonl")
    open(path, "w").write(f'{{"event": "price_dropped", "at": "{iso(at)}", "data": {{"product_id": "{product}", "product_name": "Item {product}", "new_price": 9.99}}}}\n')
    run([J, "ingest", "--db", db, "--again", path])
    before = sqlite3.connect(db).execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
    wall, out = run([J, "run", "--db", db, "--until", iso(at)])
    line = next((l for l in out.splitlines() if l.startswith("catalog events:")), "")
    # "catalog events: N candidates, T tested one by one, E entered; finding them took X ms"
    tested = int(line.split()[2].replace(",", "")) if line else 0
    entered = int(line.split(",")[2].split()[0]) if line else 0
    find_ms = float(line.split("took ")[1].split(" ms")[0]) if line else float("nan")
    got = sorted(r[0] for r in sqlite3.connect(db).execute("SELECT profile FROM outbox WHERE seq > ?", (before,)))
    # The peer: the same audience in SQLite's own SQL, best of three.
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        want = sorted(r[0] for r in pc.execute(QUERY, (product, at - WINDOW, at)))
        best = min(best, time.perf_counter() - t)
    same = got == want
    results.append((product, tested, entered, find_ms, best * 1000, wall, same))
    print(f"drop of {product}: {tested:,} candidates from the index, {entered:,} entered; finding them {find_ms:.1f} ms "
          f"(SQLite's own query {best * 1000:.1f} ms, ratio {best * 1000 / find_ms:.2f}); the whole run {wall * 1000:.0f} ms; "
          f"same audience: {same}", flush=True)

finds = sorted(r[3] for r in results)
peers = sorted(r[4] for r in results)
mid = len(results) // 2
print()
print(f"| profiles | history rows | audience (median) | journey: find | SQLite's SQL | ratio (SQLite/journey) | whole run (median) |")
print(f"|---|---|---|---|---|---|---|")
print(f"| {args.profiles:,} | {args.views + args.orders:,} | {sorted(r[2] for r in results)[mid]:,} | {finds[mid]:.1f} ms | {peers[mid]:.1f} ms | "
      f"{peers[mid] / finds[mid]:.2f} | {sorted(r[5] for r in results)[mid] * 1000:.0f} ms |")
record(f"finding a price drop's audience, {args.profiles:,} profiles, {args.views + args.orders:,} history rows", finds[mid], "ms",
       peer="SQLite's own SELECT … EXCEPT", peer_value=peers[mid], higher_is_better=False, note="median")
if not all(r[6] for r in results):
    sys.exit("journey's audience differs from SQLite's")

#!/usr/bin/env python3
"""A year of daily audience runs in `journey simulate` (issue 15): profiles in 119 time zones,
9 journeys `on daily at …`, each run scanning one time zone's profiles with its `when`. Reported
as audience runs per second, beside SQLite's own WHERE for the same runs: one query per run,
`SELECT id FROM profiles WHERE timezone = ? AND <when>`, over the same profiles in one
in-memory table (Python's sqlite3), the cost of the scans alone.

Usage: bench/simulate.py [--days 365] [--profiles 2380] [--zones 119]
Needs a release build (bench/run.sh simulate builds it)."""
import argparse, datetime, json, os, sqlite3, subprocess, sys, time, zoneinfo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record

ap = argparse.ArgumentParser()
ap.add_argument("--days", type=int, default=365)
ap.add_argument("--profiles", type=int, default=2380)
ap.add_argument("--zones", type=int, default=119)
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
J = os.environ.get("JOURNEY_BIN") or os.path.join(root, ".build/release/journey")
OUT = os.path.join(root, "bench/out/simulate")
os.makedirs(os.path.join(OUT, "project"), exist_ok=True)

# Nine daily journeys, each with a `when` on profile attributes (few pass: a year of messages
# stays small, the audience runs are what is measured). SQL: the same condition for the peer.
JOURNEYS = [
    ("vip_morning", "08:00", "profile.vip and profile.points > 900", "vip = 1 AND points > 900"),
    ("points_reminder", "09:30", "profile.points >= 990", "points >= 990"),
    ("big_spender", "10:00", "profile.lifetime_value > 4990", "lifetime_value > 4990000000"),
    ("lapsed", "11:00", "profile.orders == 0 and profile.points > 980", "orders = 0 AND points > 980"),
    ("gold_tier", "12:15", "profile.tier == \"gold\" and profile.points > 950", "tier = 'gold' AND points > 950"),
    ("evening_deal", "18:00", "not profile.vip and profile.orders >= 19", "vip = 0 AND orders >= 19"),
    ("weekend_plan", "19:00", "profile.points < 3", "points < 3"),
    ("late_owl", "22:00", "profile.orders > 18 and profile.tier == \"silver\"", "orders > 18 AND tier = 'silver'"),
    ("anniversary", "07:00", "profile.points == 500 and profile.vip", "points = 500 AND vip = 1"),
]
schema = """profile {
  first_name: string
  email: string?
  timezone: string?
  vip: bool
  points: int
  orders: int
  lifetime_value: money
  tier: string
}
event order_placed { order_id: string }
channel email address profile.email
"""
with open(os.path.join(OUT, "project/schema.journey"), "w") as f:
    f.write(schema)
for name, at, when, _ in JOURNEYS:
    with open(os.path.join(OUT, f"project/{name}.journey"), "w") as f:
        f.write(f'journey {name} {{\n  on daily at {at}\n  when {when}\n  reentry always\n  email "Hello {{profile.first_name}}"\n}}\n')

zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/", "Chile/")))
step = max(1, len(zones) // args.zones)
zones = zones[::step][:args.zones]
tiers = ["bronze", "silver", "gold"]
rows = []
with open(os.path.join(OUT, "profiles.jsonl"), "w") as f:
    for i in range(args.profiles):
        p = {"id": f"u{i}", "first_name": f"P{i}", "email": f"u{i}@example.com", "timezone": zones[i % len(zones)],
             "vip": i % 7 == 0, "points": (i * 37) % 1000, "orders": i % 20, "lifetime_value": f"{(i * 53) % 5000}.00", "tier": tiers[i % 3]}
        rows.append(p)
        f.write(json.dumps(p) + "\n")

start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
until = start + datetime.timedelta(days=args.days)
cmd = [J, "simulate", "--profiles", os.path.join(OUT, "profiles.jsonl"), "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
       "--until", until.strftime("%Y-%m-%dT%H:%M:%SZ"), os.path.join(OUT, "project")]
t = time.perf_counter()
p = subprocess.run(cmd, capture_output=True)
secs = time.perf_counter() - t
if p.returncode != 0:
    sys.exit("journey simulate failed: " + p.stderr.decode()[-500:])
messages = p.stdout.count(b"\n")
runs = len(JOURNEYS) * len(zones) * args.days  # every journey, every zone, every day

# The peer: the same scans as SQLite WHERE queries, one per audience run.
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE profiles(id TEXT PRIMARY KEY, timezone TEXT, vip INTEGER, points INTEGER, orders INTEGER, lifetime_value INTEGER, tier TEXT)")
db.execute("CREATE INDEX profiles_by_timezone ON profiles(timezone)")  # as journey has
db.executemany("INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
               [(r["id"], r["timezone"], int(r["vip"]), r["points"], r["orders"], int(float(r["lifetime_value"]) * 1_000_000), r["tier"]) for r in rows])
peer_runs = min(runs, 50_000)
t = time.perf_counter()
matched = 0
k = 0
while k < peer_runs:
    for name, _, _, sql in JOURNEYS:
        for z in zones:
            matched += len(db.execute(f"SELECT id FROM profiles WHERE timezone = ? AND {sql}", (z,)).fetchall())
            k += 1
            if k >= peer_runs:
                break
        if k >= peer_runs:
            break
peer_secs = time.perf_counter() - t
print(f"simulate: {len(JOURNEYS)} daily journeys x {len(zones)} time zones x {args.days} days = {runs:,} audience runs over {args.profiles:,} profiles; {messages:,} messages")
print(f"  journey simulate        {secs:8.2f} s  {runs / secs:12,.0f} audience runs/s")
print(f"  sqlite3 WHERE per run   {peer_secs:8.2f} s  {peer_runs / peer_secs:12,.0f} runs/s ({peer_runs:,} queries)")
record(f"daily audience runs in simulate ({len(zones)} zones x {len(JOURNEYS)} journeys x {args.days} days)", runs / secs, "audience runs/s",
       peer="sqlite3 WHERE, one query a run", peer_value=peer_runs / peer_secs, target=">= 50000")

#!/usr/bin/env bash
# Remakes docs/images/console-journey.png and console-profile.png: a trial journey with a split,
# 2000 sign-ups over the last ten days (the nudge converts a little better), run up to now, and
# the console in headless Chromium (Tests/console/browse.py). Needs a debug or release build,
# Graphviz, chromium, chromium-driver and selenium (.venv-ci after .ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
J=${JOURNEY_BIN:-.build/debug/journey}
PY=${PYTHON:-.venv-ci/bin/python}
d=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$d"' EXIT
mkdir "$d/p"
cat > "$d/p/schema.journey" <<'J'
profile { first_name: string, push_token: string?, email: string? }
event signed_up { plan: string }
event purchased { total: money }
channel push address profile.push_token
channel email address profile.email
J
cat > "$d/p/trial.journey" <<'J'
journey trial "Trial conversion" {
  on signed_up
  goal purchased
  split {
    50% control {
      wait 14d
    }
    50% nudge {
      push "Hi {profile.first_name}, your trial ends soon" else email "Your trial ends soon, {profile.first_name}"
      wait 14d
    }
  }
}
J
python3 - "$d" <<'P'
import json, random, sys, time, datetime
d = sys.argv[1]
random.seed(7)
now = int(time.time())
names = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fatma", "Gus", "Hana", "Ivo", "Jun"]
iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
with open(d + "/profiles.jsonl", "w") as p, open(d + "/events.jsonl", "w") as e:
    for i in range(2000):
        row = {"id": f"u{i}", "first_name": names[i % 10]}
        if i % 5: row["push_token"] = f"tok-{i}"
        if i % 3: row["email"] = f"u{i}@example.com"
        p.write(json.dumps(row) + "\n")
        t = now - random.randint(3600, 10 * 86400)
        e.write(json.dumps({"profile": f"u{i}", "event": "signed_up", "at": iso(t), "data": {"plan": "pro"}}) + "\n")
P
$J build -o "$d/b.journeyc" "$d/p" >/dev/null
# A first pass tells who the split nudges (it is deterministic: the same in the real run).
$J deploy --db "$d/arms.db" "$d/b.journeyc" >/dev/null
$J import --db "$d/arms.db" "$d/profiles.jsonl" >/dev/null
$J ingest --db "$d/arms.db" "$d/events.jsonl" >/dev/null
$J run --db "$d/arms.db" --until "$(date -u +%FT%TZ)" >/dev/null
$J outbox --db "$d/arms.db" > "$d/outbox.jsonl"
# Purchases: 12% of the nudged and 8% of the others, some days after they signed up.
python3 - "$d" <<'P'
import json, random, sys, time, datetime
d = sys.argv[1]
random.seed(11)
now = int(time.time())
nudged = {json.loads(l)["profile"] for l in open(d + "/outbox.jsonl")}
iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
with open(d + "/purchases.jsonl", "w") as out:
    for l in open(d + "/events.jsonl"):
        e = json.loads(l)
        start = int(datetime.datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())
        if random.random() < (0.12 if e["profile"] in nudged else 0.08):
            t = min(now - 60, start + random.randint(3600, 6 * 86400))
            if t > start:
                out.write(json.dumps({"profile": e["profile"], "event": "purchased", "at": iso(t), "data": {"total": "49.00"}}) + "\n")
P
$J deploy --db "$d/j.db" "$d/b.journeyc" >/dev/null
$J import --db "$d/j.db" "$d/profiles.jsonl" >/dev/null
$J ingest --db "$d/j.db" "$d/events.jsonl" >/dev/null
$J ingest --db "$d/j.db" "$d/purchases.jsonl" >/dev/null
$J run --db "$d/j.db" --until "$(date -u +%FT%TZ)" >/dev/null
buyer=$($J instances --db "$d/j.db" --state converted --format jsonl | python3 -c "
import json, sys
sent = {json.loads(l)['profile'] for l in open('$d/outbox.jsonl')}
for l in sys.stdin:
    p = json.loads(l)['profile']
    if p in sent: print(p); break")
cat > "$d/c.toml" <<T
[auth]
admin_keys = ["screenshot-admin-key"]
[server]
listen = "127.0.0.1:0"
T
$J serve --db "$d/j.db" --config "$d/c.toml" 2> "$d/serve.log" > "$d/serve.out" &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$d/serve.out" "$d/serve.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -ho "listening on 127.0.0.1:[0-9]*" "$d/serve.out" "$d/serve.log" | head -1 | cut -d: -f2)
mkdir -p "$d/shots"
$PY Tests/console/browse.py --url "http://127.0.0.1:$port" --key screenshot-admin-key --out "$d/out" --journey trial --profile "$buyer" --screenshots "$d/shots"
cp "$d/shots/journey.png" docs/images/console-journey.png
cp "$d/shots/profile.png" docs/images/console-profile.png
echo "wrote docs/images/console-journey.png and console-profile.png (profile $buyer)"

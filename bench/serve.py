#!/usr/bin/env python3
"""Benchmark `journey serve` (issue 10), each figure beside its peer from the same run:

1. ingest: events/s durably acknowledged by POST /v1/events in batches of 500 (curl, --clients
   transfers at once, as a fleet of app servers posts), beside `journey ingest` of the same
   events into a copy of the same database (ratio);
2. latency: single events at a steady rate (default 1k/s), from the POST of a trigger event to
   the webhook receiving its immediate send (p50/p99), with the server's peak RSS;
3. deliveries: webhook deliveries/s of a backlog to a local receiver (bench/sink.py).

Usage: bench/run.sh serve [--events N] [--rate R] [--seconds S] [--backlog N]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/journey")
SCHEMA = """
profile { name: string, token: string? }
event signed_up { plan: string }
channel push address profile.token
journey welcome "Welcome" {
  on signed_up as s
  goal signed_up where plan == "never"
  reentry always
  push { title: "Welcome {profile.name}", body: "{s.plan}" }
}
"""


def run(*args, **kw):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True, **kw)


def database(d, profiles):
    os.makedirs(os.path.join(d, "project"), exist_ok=True)
    with open(os.path.join(d, "project", "shop.journey"), "w") as f:
        f.write(SCHEMA)
    run("build", "-o", os.path.join(d, "b.journeyc"), os.path.join(d, "project"))
    db = os.path.join(d, "shop.db")
    run("deploy", "--db", db, os.path.join(d, "b.journeyc"))
    with open(os.path.join(d, "p.jsonl"), "w") as f:
        for i in range(profiles):
            f.write(json.dumps({"id": f"u{i}", "name": f"N{i}", "token": f"tok-{i}"}) + "\n")
    run("import", "--db", db, os.path.join(d, "p.jsonl"))
    return db


def start(args, env_extra=None):
    env = dict(os.environ, JOURNEY_INGEST_KEYS="ik", JOURNEY_ADMIN_KEYS="ak", NO_PROXY="*")
    env.update(env_extra or {})
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise SystemExit(f"the server did not start: {line}")
    return p, int(m.group(1))


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sink(d):
    out = os.path.join(d, f"sink-{time.time_ns()}.jsonl")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench/sink.py"), "--out", out], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    return p, port, out


def count(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/count")
    return int(c.getresponse().read())


def post(conn, body, ndjson=False):
    conn.request("POST", "/v1/events", body=body, headers={"Authorization": "Bearer ik",
                 "Content-Type": "application/x-ndjson" if ndjson else "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"POST answered {r.status}: {data[:200]}")
    return json.loads(data)


def bench_ingest(d, db, n, profiles, clients):
    # Events a day ahead: both sides only store them (the engine does not run them yet), so the
    # figures compare acknowledging with ingesting.
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    events = [json.dumps({"profile": f"u{i % profiles}", "event": "signed_up", "at": at, "id": f"e{i}", "data": {"plan": f"p{i}"}}) for i in range(n)]
    path = os.path.join(d, "events.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(events) + "\n")
    copy = os.path.join(d, "ingest.db")
    shutil.copy(db, copy)
    t = time.perf_counter()
    run("ingest", "--db", copy, path)
    cli = n / (time.perf_counter() - t)
    # The client is curl (C, keep-alive), `clients` transfers at once, so that the figure is the
    # server's rather than a client's.
    server, port = start(["--db", db])
    batches = os.path.join(d, "batches")
    os.makedirs(batches, exist_ok=True)
    config = []
    for k, i in enumerate(range(0, n, 500)):
        with open(os.path.join(batches, f"{k}.json"), "w") as f:
            f.write("[" + ", ".join(events[i:i + 500]) + "]")
        config.append(f'url = "http://127.0.0.1:{port}/v1/events"\ndata-binary = "@{batches}/{k}.json"\n'
                      'header = "Authorization: Bearer ik"\nheader = "Content-Type: application/json"\n'
                      'output = "/dev/null"\nwrite-out = "%{http_code}\\n"\n')
    with open(os.path.join(d, "curl.cfg"), "w") as f:
        f.write("next\n".join(config))
    t = time.perf_counter()
    codes = subprocess.run(["curl", "--noproxy", "*", "-s", "--parallel", "--parallel-max", str(clients), "-K", os.path.join(d, "curl.cfg")],
                           capture_output=True, text=True, check=True).stdout.split()
    http_rate = n / (time.perf_counter() - t)
    rss = peak_rss_mib(server.pid)
    stop(server)
    assert codes == ["200"] * len(config), codes[:5]
    import sqlite3
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert stored == n, stored
    return cli, http_rate, rss


def bench_latency(d, db, rate, seconds, profiles):
    sk, sport, out = sink(d)
    conf = os.path.join(d, "latency.toml")
    with open(conf, "w") as f:
        f.write(f'[delivery.push]\nwebhook = "http://127.0.0.1:{sport}/push"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\nconcurrency = 32\n')
    server, port = start(["--db", db, "--config", conf])
    total = int(rate * seconds)
    sent = {}
    threads = 4
    start_at = time.time() + 0.5

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(k, total, threads):
            due = start_at + i / rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            token = f"L{i}"
            sent[token] = time.time()
            post(conn, json.dumps({"profile": f"u{i % profiles}", "event": "signed_up", "at": at, "id": token, "data": {"plan": token}}), ndjson=True)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    achieved = total / (time.time() - start_at)
    deadline = time.time() + 60
    while count(sport) < total and time.time() < deadline:
        time.sleep(0.1)
    rss = peak_rss_mib(server.pid)
    stop(server)
    sk.send_signal(signal.SIGTERM)
    sk.wait(timeout=60)
    lat = []
    with open(out) as f:
        for line in f:
            r = json.loads(line)
            token = json.loads(r["body"])["content"]["body"]
            if token in sent:
                lat.append((r["t"] - sent[token]) * 1000)
    lat.sort()
    return achieved, len(lat), total, lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], rss


def bench_deliveries(d, db, n, profiles):
    # A backlog of n sent messages with no adapter (pending), then a server with one.
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    server, port = start(["--db", db])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(0, n, 500):
        body = "[" + ", ".join(json.dumps({"profile": f"u{j % profiles}", "event": "signed_up", "at": at, "id": f"D{j}", "data": {"plan": f"D{j}"}})
                               for j in range(i, min(n, i + 500))) + "]"
        post(conn, body)
    while True:
        rows = subprocess.run([BIN, "deliveries", "--db", db, "--status", "pending", "--format", "jsonl", "--limit", str(n)], capture_output=True, text=True).stdout.count("\n")
        if rows >= n:
            break
        time.sleep(0.2)
    stop(server)
    sk, sport, out = sink(d)
    conf = os.path.join(d, "deliver.toml")
    with open(conf, "w") as f:
        f.write(f'[delivery.push]\nwebhook = "http://127.0.0.1:{sport}/push"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\nconcurrency = 64\n')
    t = time.perf_counter()
    server, port = start(["--db", db, "--config", conf])
    deadline = time.time() + 300
    while count(sport) < n and time.time() < deadline:
        time.sleep(0.05)
    rate = count(sport) / (time.perf_counter() - t)
    rss = peak_rss_mib(server.pid)
    stop(server)
    sk.send_signal(signal.SIGTERM)
    sk.wait(timeout=60)
    return rate, rss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--backlog", type=int, default=20_000)
    p.add_argument("--profiles", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=4, help="connections posting batches at once")
    args = p.parse_args()
    d = tempfile.mkdtemp(prefix="journey-bench-serve-")
    try:
        cli, http_rate, rss1 = bench_ingest(d, database(os.path.join(d, "a"), args.profiles), args.events, args.profiles, args.clients)
        achieved, got, total, p50, p99, rss2 = bench_latency(d, database(os.path.join(d, "b"), args.profiles), args.rate, args.seconds, args.profiles)
        drate, rss3 = bench_deliveries(d, database(os.path.join(d, "c"), args.profiles), args.backlog, args.profiles)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{'what':<58} {'figure':>16} {'peer':>18} {'ratio':>7} {'peak RSS':>10}")
    print(f"{f'POST /v1/events, batches of 500 on {args.clients} connections, durable':<58} {http_rate:>10,.0f} ev/s {cli:>12,.0f} ev/s {http_rate / cli:>7.2f} {rss1:>6.1f} MiB")
    print(f"{'  peer: journey ingest of the same events':<58}")
    print(f"{f'POST -> webhook latency at {achieved:,.0f} events/s ({got}/{total} seen)':<58} {f'p50 {p50:.1f} ms':>16} {f'p99 {p99:.1f} ms':>18} {'':>7} {rss2:>6.1f} MiB")
    print(f"{f'webhook deliveries of a backlog of {args.backlog:,}':<58} {drate:>10,.0f} /s {'':>18} {'':>7} {rss3:>6.1f} MiB")
    record(f"POST /v1/events, batches of 500 on {args.clients} connections, durable", http_rate, "events/s", peer="journey ingest", peer_value=cli)
    record(f"POST -> webhook, p99 at {achieved:,.0f} events/s", p99, "ms", note=f"p50 {p50:.1f} ms")
    record(f"webhook deliveries of a backlog of {args.backlog:,}", drate, "deliveries/s")
    record("journey serve, peak RSS", max(rss1, rss2, rss3), "MiB")


if __name__ == "__main__":
    main()

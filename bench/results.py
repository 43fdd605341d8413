#!/usr/bin/env python3
"""One table of every benchmark figure. The benchmarks call `record(...)` (or
`bench/results.py add …` from a shell script); each figure goes, as one JSON line, into the file
JOURNEY_BENCH_RESULTS names (nothing happens without it). `bench/results.py table FILE` prints
them: the figure, journey's result, the peer's, their ratio and the target from issue 15.

Usage: bench/results.py add FIGURE VALUE UNIT [--peer NAME PEER_VALUE] [--ratio R] [--target T] [--note N]
       bench/results.py table FILE"""
import json, os, sys


def record(figure, value, unit, peer=None, peer_value=None, ratio=None, target=None, note=None, higher_is_better=True):
    """Appends one figure. `ratio` defaults to value / peer_value (for a speed, higher is
    better) or peer_value / value (for a time, where lower is better)."""
    path = os.environ.get("JOURNEY_BENCH_RESULTS")
    if not path:
        return
    if ratio is None and peer_value:
        ratio = value / peer_value if higher_is_better else peer_value / value
    with open(path, "a") as f:
        f.write(json.dumps({"figure": figure, "value": value, "unit": unit, "peer": peer, "peer_value": peer_value,
                            "ratio": ratio, "target": target, "note": note}) + "\n")


def human(v, unit):
    if v is None:
        return ""
    if unit in ("s", "ms"):
        return f"{v:.3g} {unit}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M {unit}"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k {unit}"
    return f"{v:,.3g} {unit}" if abs(v) < 100 else f"{v:,.0f} {unit}"


def met(row):
    """Whether the target (">= 0.5x", "< 1 s", ">= 50000") holds, when it says how to tell."""
    t = row.get("target")
    if not t:
        return ""
    try:
        op, rest = t.split(" ", 1)
        num = float(rest.split()[0].rstrip("x").replace(",", ""))
        subject = row["ratio"] if rest.split()[0].endswith("x") else row["value"]
        if subject is None:
            return ""
        ok = {">=": subject >= num, ">": subject > num, "<": subject < num, "<=": subject <= num}[op]
        return "met" if ok else "not yet"
    except (ValueError, KeyError, IndexError):
        return ""


def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    head = ["figure", "journey", "peer (same script)", "ratio", "target", ""]
    cells = []
    for r in rows:
        peer = f"{r['peer']}: {human(r['peer_value'], r['unit'])}" if r.get("peer") else ""
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else ""
        figure = r["figure"] + (f" ({r['note']})" if r.get("note") else "")
        cells.append([figure, human(r["value"], r["unit"]), peer, ratio, r.get("target") or "", met(r)])
    widths = [max(len(str(c[i])) for c in cells + [head]) for i in range(len(head))]
    line = lambda c: "| " + " | ".join(str(x).ljust(w) for x, w in zip(c, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print(line(c))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["table"] and len(a) == 2:
        table(a[1])
    elif a[:1] == ["add"] and len(a) >= 4:
        figure, value, unit = a[1], float(a[2]), a[3]
        opts = {"peer": None, "peer_value": None, "ratio": None, "target": None, "note": None}
        i = 4
        while i < len(a):
            if a[i] == "--peer":
                opts["peer"], opts["peer_value"] = a[i + 1], float(a[i + 2]); i += 3
            elif a[i] in ("--ratio", "--target", "--note"):
                key = a[i][2:]
                opts[key] = float(a[i + 1]) if key == "ratio" else a[i + 1]; i += 2
            else:
                sys.exit(f"unknown option {a[i]}")
        record(figure, value, unit, **opts)
    else:
        sys.exit(__doc__)

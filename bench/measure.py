#!/usr/bin/env python3
"""Runs a command N times; prints the best wall-clock seconds and that run's peak RSS in KiB.
Each run's own rusage comes from wait4, so one run's peak never leaks into another's."""
import os, subprocess, sys, time

runs = int(os.environ.get("RUNS", "5"))
best = None
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    if best is None or secs < best[0]:
        best = (secs, usage.ru_maxrss)
print(f"{best[0]:.4f} {best[1]}")

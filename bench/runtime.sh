#!/usr/bin/env bash
# Runtime benchmarks (see bench/runtime.py): events, timers, memory with 1M waiting instances,
# and an audience journey over 1M profiles, each beside a peer. Pass runtime.py's options through.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
command -v lua5.4 >/dev/null || apt-get install -y lua5.4 >/dev/null
swift build -c release --product journey >/dev/null
python3 bench/runtime.py "$@"

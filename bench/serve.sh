#!/usr/bin/env bash
# Benchmark `journey serve`: POST /v1/events beside `journey ingest`, POST-to-webhook latency at a
# steady rate, webhook deliveries/s. Usage: bench/serve.sh [--events N] [--rate R] [--seconds S] [--backlog N]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product journey >/dev/null
python3 bench/serve.py "$@"

#!/usr/bin/env bash
# Every benchmark from one entry point; `all` ends with one table of every figure beside its
# peer, their ratio and the target (issue 15).
#
#   bench/run.sh all         every benchmark below, at sizes that take about half an hour
#                            together on this 2-core machine, then the table
#   bench/run.sh check [LINES]          journey check beside luac -p (default 100k lines)
#   bench/run.sh tests [N]              journey test, N tests (default 200)
#   bench/run.sh runtime [OPTIONS]      events, timers, 1M waiting, audience (bench/runtime.py)
#   bench/run.sh simulate [OPTIONS]     daily audience runs over a simulated year (bench/simulate.py)
#   bench/run.sh serve [OPTIONS]        journey serve (bench/serve.py)
#   bench/run.sh catalog [OPTIONS]      a price drop over many profiles (bench/catalog.py)
#   bench/run.sh workers [OPTIONS]      PostgreSQL with 1, 2 and 4 workers (bench/workers.py)
#
# Any of them records its figures for the table when JOURNEY_BENCH_RESULTS names a file.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
shift || true
tools() {
  # On a fresh machine the package lists are empty: read them first.
  command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y sqlite3 >/dev/null; }
  command -v lua5.4 >/dev/null || { apt-get update -qq && apt-get install -y lua5.4 >/dev/null; }
  swift build -c release --static-swift-stdlib --product journey >/dev/null
}
case "$what" in
  check) exec bash bench/check.sh "$@" ;;
  tests) exec bash bench/tests.sh "$@" ;;
  runtime) tools; exec python3 bench/runtime.py "$@" ;;
  simulate) tools; exec python3 bench/simulate.py "$@" ;;
  serve) tools; exec python3 bench/serve.py "$@" ;;
  catalog) tools; exec python3 bench/catalog.py "$@" ;;
  workers) tools; exec python3 bench/workers.py "$@" ;;
  all)
    tools
    mkdir -p bench/out
    export JOURNEY_BENCH_RESULTS=bench/out/results.jsonl
    : > "$JOURNEY_BENCH_RESULTS"
    step() { echo; echo "== bench/run.sh $*"; bash bench/run.sh "$@" || echo "(bench/run.sh $* failed; its figures are missing)"; }
    step check
    step tests
    step runtime --repeat 3
    step simulate
    step serve --events 50000 --seconds 10 --backlog 10000
    step catalog --profiles 100000 --views 2000000 --orders 20000 --drops 5
    if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${JOURNEY_BENCH_POSTGRES:-}" ]; then
      step workers --events 20000 --pgbench-seconds 10
    else
      echo "(no PostgreSQL here: the workers benchmark is left out)"
    fi
    echo
    echo "== every figure (bench/out/results.jsonl)"
    python3 bench/results.py table "$JOURNEY_BENCH_RESULTS"
    ;;
  [0-9]*) exec bash bench/check.sh "$what" "$@" ;;
  *) echo "bench/run.sh: unknown benchmark '$what' (all, check, tests, runtime, simulate, serve, catalog, workers)" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Benchmark: `journey check` over a generated corpus of >= 100k lines of valid journeys, side by
# side with `luac -p` (Lua 5.4) on a Lua file of the same size. Reports lines/s, MB/s and peak RSS.
# Usage: bench/check.sh [LINES]   (default 100000; needs python3 and lua5.4, installed if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-100000}
RUNS=${RUNS:-5}
command -v luac5.4 >/dev/null || { echo "installing lua5.4"; apt-get update -qq && apt-get install -y lua5.4 >/dev/null; }
swift build -c release --static-swift-stdlib --product journey >/dev/null
BIN=.build/release/journey
python3 bench/gen_corpus.py --lines "$LINES" --out bench/out
JLINES=$(cat bench/out/project/*.journey | wc -l)
JBYTES=$(cat bench/out/project/*.journey | wc -c)
LLINES=$(wc -l < bench/out/corpus.lua)
LBYTES=$(wc -c < bench/out/corpus.lua)

# The corpus must check clean, or the numbers mean nothing.
$BIN check bench/out/project >/dev/null

measure() { python3 bench/measure.py "$@"; }
read -r JSECS JRSS < <(measure "$BIN" check bench/out/project)
read -r LSECS LRSS < <(measure luac5.4 -p bench/out/corpus.lua)
awk -v jl="$JLINES" -v jb="$JBYTES" -v js="$JSECS" -v jr="$JRSS" -v ll="$LLINES" -v lb="$LBYTES" -v ls="$LSECS" -v lr="$LRSS" 'BEGIN {
    printf "%-16s %9s %11s %8s %14s %9s %11s\n", "tool", "lines", "bytes", "seconds", "lines/s", "MB/s", "peak RSS"
  printf "%-16s %9d %11d %8.4f %14.0f %9.1f %8.1f MiB\n", "journey check", jl, jb, js, jl/js, jb/js/1e6, jr/1024
  printf "%-16s %9d %11d %8.4f %14.0f %9.1f %8.1f MiB\n", "luac5.4 -p", ll, lb, ls, ll/ls, lb/ls/1e6, lr/1024
  printf "journey check speed / luac -p speed (lines/s): %.2f\n", (jl/js)/(ll/ls)
}'
python3 bench/results.py add "journey check, $JLINES lines" "$(awk -v l="$JLINES" -v s="$JSECS" 'BEGIN{print l/s}')" "lines/s" \
  --peer "luac5.4 -p, $LLINES lines" "$(awk -v l="$LLINES" -v s="$LSECS" 'BEGIN{print l/s}')" --target ">= 1x"
python3 bench/results.py add "journey check, peak RSS" "$(awk -v r="$JRSS" 'BEGIN{print r/1024}')" "MiB" \
  --peer "luac5.4 -p" "$(awk -v r="$LRSS" 'BEGIN{print r/1024}')" --ratio "$(awk -v a="$JRSS" -v b="$LRSS" 'BEGIN{print b/a}')"

#!/usr/bin/env bash
# Benchmark: `journey test` on a project of 200 tests (the examples' promises, each repeated
# with its own name), beside `journey check` of the same project (the part every test run
# pays before any test runs). Target: 200 tests in under a second on this 2-core machine.
# Usage: bench/tests.sh [TESTS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
swift build -c release --static-swift-stdlib --product journey >/dev/null
BIN=.build/release/journey
OUT=bench/out/tests
rm -rf "$OUT" && mkdir -p "$OUT/tests"
cp examples/*.journey "$OUT/"
python3 - "$N" "$OUT/tests/many.journey" <<'P'
import re, sys
n, out = int(sys.argv[1]), sys.argv[2]
text = open("examples/tests/promises.journey").read()
fixture = text[:text.index('test "')]
tests = re.split(r'\n(?=test ")', text[text.index('test "'):])
with open(out, "w") as f:
    f.write(fixture)
    for i in range(n):
        t = tests[i % len(tests)]
        f.write(re.sub(r'^test "', f'test "#{i} ', t.strip(), count=1) + "\n\n")
P
# The tests must pass, or the numbers mean nothing.
$BIN test "$OUT" > "$OUT/result.txt" || { tail -5 "$OUT/result.txt"; exit 1; }
read -r TSECS TRSS < <(python3 bench/measure.py "$BIN" test --format json "$OUT")
read -r CSECS CRSS < <(python3 bench/measure.py "$BIN" check "$OUT")
awk -v n="$N" -v ts="$TSECS" -v tr="$TRSS" -v cs="$CSECS" -v cr="$CRSS" 'BEGIN {
  printf "%-26s %8s %12s %10s\n", "", "seconds", "tests/s", "peak RSS"
  printf "%-26s %8.3f %12.0f %6.1f MiB\n", "journey test (" n " tests)", ts, n/ts, tr/1024
  printf "%-26s %8.3f %12s %6.1f MiB\n", "journey check (same files)", cs, "", cr/1024
  printf "test run / check time: %.1f (target: %d tests in under 1 s: %s)\n", ts/cs, n, (ts < 1 ? "met" : "not met")
}'
python3 bench/results.py add "journey test, $N tests" "$TSECS" "s" --peer "journey check of the same files" "$CSECS" \
  --ratio "$(awk -v t="$TSECS" -v c="$CSECS" 'BEGIN{print c/t}')" --target "< 1 s"

#!/usr/bin/env bash
# Runs the whole test suite N times in a row with a CPU hog beside it and prints one line per
# run (exit code, pass/fail counts, wall seconds) and a total. A crash (rc 139, 134) or a hang
# (killed at the bound, rc 124) counts as a failed run. The evidence behind docs/reliability.md.
#
#   bash scripts/suite_under_load.sh [RUNS=10] [LOGDIR=/tmp/nlviz-soak]
set -u
cd "$(dirname "$0")/.."
runs=${1:-10}
logdir=${2:-/tmp/nlviz-soak}
bound=${SUITE_BOUND_S:-1800}
mkdir -p "$logdir"
( while :; do :; done ) &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
failed=0
for i in $(seq 1 "$runs"); do
    start=$(date +%s)
    timeout -k 10 "$bound" python3 -X faulthandler -m pytest -q -p no:cacheprovider \
        >"$logdir/run$i.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    summary=$(grep -E '(passed|failed|error)' "$logdir/run$i.log" | tail -n 1)
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
    echo "run $i: rc=$rc ${secs}s ${summary}"
done
echo "$runs runs, $failed failed (CPU hog beside every run; logs in $logdir)"
[ "$failed" -eq 0 ]

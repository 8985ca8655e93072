#!/usr/bin/env bash
# The README's test command, RUNS times in a row (default 5) while HOGS busy loops (default 2)
# take the CPUs, as a shared CI machine does. Prints one line per run and the counts; exits 1 if
# any run failed. The hogs are stopped by PID whatever happens.
#   bash tests/stress.sh            # 5 runs, 2 hogs
#   RUNS=2 HOGS=1 bash tests/stress.sh -x -k reload
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
HOGS=${HOGS:-2}
LOGS=$(mktemp -d)
PIDS=()
stop_hogs() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap stop_hogs EXIT
for _ in $(seq "$HOGS"); do
    python3 -c 'while True: pass' &
    PIDS+=($!)
done
passed=0
failed=0
for run in $(seq "$RUNS"); do
    start=$(date +%s)
    if bash tests/run.sh "$@" >"$LOGS/run$run.log" 2>&1; then
        passed=$((passed + 1)); verdict=passed
    else
        failed=$((failed + 1)); verdict=FAILED
    fi
    echo "run $run: $verdict in $(($(date +%s) - start)) s: $(tail -n 1 "$LOGS/run$run.log")"
    grep -E '^(FAILED|ERROR) ' "$LOGS/run$run.log" || true
done
echo "$passed passed, $failed failed of $RUNS runs with $HOGS CPU hogs; logs in $LOGS"
[ "$failed" -eq 0 ]

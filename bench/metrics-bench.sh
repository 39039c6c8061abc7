#!/usr/bin/env bash
# The cost of the metrics: cmd/gearmand without --http (metrics off) and
# with --http (metrics counted, and /metrics scraped every second
# throughout), side by side in one run, runs alternating off, on, off, on
# (BENCHMARKS.md, "Metrics on and off").
#
#   bench/metrics-bench.sh [REPS]     (default 5; needs ../shared/peers installed)
#
# Load: gobench -client raw -worker raw -workers 4, 64-byte jobs at 1, 16
# and 64 clients. Besides gobench's jobs/s and p99, each line gets the
# server's CPU per job (user + system from /proc/PID/stat around the run).
set -uo pipefail
cd "$(dirname "$0")/.."
PEERS="$(cd ../shared/peers && pwd)"
export RUN_DIR="${RUN_DIR:-/tmp/gearman-metrics-bench}"
REPS="${1:-5}"
JOBS="${JOBS:-20000}"
mkdir -p "$RUN_DIR"
BIN="$RUN_DIR/gobench"; OURS="$RUN_DIR/ours-gearmand"
(cd "$PEERS/gobench" && go build -o "$BIN" .) || exit 1
go build -o "$OURS" ./cmd/gearmand || exit 1

P_OFF=47630; P_ON=47631; P_HTTP=47632
scraper=""
cleanup() {
  [[ -n "$scraper" ]] && kill "$scraper" 2>/dev/null
  for p in $P_OFF $P_ON; do "$PEERS/stop.sh" $p >/dev/null; done
}
trap cleanup EXIT
"$PEERS/start-cmd.sh" off $P_OFF "$OURS" -L 127.0.0.1 -p {port} --verbose ERROR >/dev/null || exit 1
"$PEERS/start-cmd.sh" on $P_ON "$OURS" -L 127.0.0.1 -p {port} --verbose ERROR --http 127.0.0.1:$P_HTTP >/dev/null || exit 1
# A Prometheus that scrapes every second, for the whole run.
( while :; do curl -s -o /dev/null "http://127.0.0.1:$P_HTTP/metrics"; sleep 1; done ) &
scraper=$!

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
TCK=$(getconf CLK_TCK)
pid_of() { cat "$RUN_DIR"/*-"$1".pid; }

echo "# metrics on/off $(date -u +%FT%TZ), $(nproc) cores, $(go version | awk '{print $3}'), module $(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty)"
for c in 1 16 64; do
  for _ in $(seq 1 "$REPS"); do
    for p in $P_OFF $P_ON; do
      label=off; [[ $p == "$P_ON" ]] && label=on
      pid=$(pid_of $p); before=$(cpu "$pid")
      line=$(timeout 120 "$BIN" -label "metrics-$label" -addr 127.0.0.1:$p -client raw -worker raw -workers 4 \
        -clients $c -jobs "$JOBS" -size 64 -timeout 90s 2>&1 | tail -1)
      after=$(cpu "$pid")
      us=$(awk -v a="$after" -v b="$before" -v t="$TCK" -v n="$JOBS" 'BEGIN{printf "%.1f", (a-b)/t/n*1e6}')
      echo "$line server_cpu_us_per_job=$us"
    done
  done
done
echo "# /metrics after the run:"
curl -s "http://127.0.0.1:$P_HTTP/metrics" | grep -E '^gearman_(jobs_finished_total|job_run_seconds_count|connections)' | head -20

#!/usr/bin/env bash
# Two builds of cmd/gearmand side by side in one run: BASE (a git ref,
# built from `git archive`) and the work tree, runs alternating base, new,
# base, new (BENCHMARKS.md, "Stale wake-ups").
#
#   bench/ab-servers.sh BASE [REPS]     (default 7; needs ../shared/peers installed)
#
# Load: gobench -client raw -worker raw -workers 4, 64-byte jobs at 1, 16
# and 64 clients (at 1 client the workers sleep between jobs: every job
# takes a NOOP and a wake-up). Besides gobench's jobs/s and p99, each line
# gets the server's CPU per job (user + system from /proc/PID/stat around
# the run).
set -uo pipefail
cd "$(dirname "$0")/.."
PEERS="$(cd ../shared/peers && pwd)"
export RUN_DIR="${RUN_DIR:-/tmp/gearman-ab-servers}"
BASE="${1:?usage: ab-servers.sh BASE [REPS]}"
REPS="${2:-7}"
JOBS="${JOBS:-20000}"
mkdir -p "$RUN_DIR"
BIN="$RUN_DIR/gobench"; OLD="$RUN_DIR/base-gearmand"; NEW="$RUN_DIR/new-gearmand"
(cd "$PEERS/gobench" && go build -o "$BIN" .) || exit 1
rm -rf "$RUN_DIR/base-src" && mkdir -p "$RUN_DIR/base-src"
git archive "$BASE" | tar -x -C "$RUN_DIR/base-src" || exit 1
(cd "$RUN_DIR/base-src" && go build -o "$OLD" ./cmd/gearmand) || exit 1
go build -o "$NEW" ./cmd/gearmand || exit 1

P_OLD=47640; P_NEW=47641
cleanup() { for p in $P_OLD $P_NEW; do "$PEERS/stop.sh" $p >/dev/null; done; }
trap cleanup EXIT
"$PEERS/start-cmd.sh" base $P_OLD "$OLD" -L 127.0.0.1 -p {port} --verbose ERROR >/dev/null || exit 1
"$PEERS/start-cmd.sh" new $P_NEW "$NEW" -L 127.0.0.1 -p {port} --verbose ERROR >/dev/null || exit 1

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
TCK=$(getconf CLK_TCK)
pid_of() { cat "$RUN_DIR"/*-"$1".pid; }

echo "# ab-servers base=$(git rev-parse --short "$BASE") new=$(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty) $(date -u +%FT%TZ), $(nproc) cores, $(go version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in ${CLIENTS:-1 16 64}; do
  for _ in $(seq 1 "$REPS"); do
    for p in $P_OLD $P_NEW; do
      label=base; [[ $p == "$P_NEW" ]] && label=new
      pid=$(pid_of $p); before=$(cpu "$pid")
      line=$(timeout 120 "$BIN" -label "$label" -addr 127.0.0.1:$p -client raw -worker raw -workers 4 \
        -clients $c -jobs "$JOBS" -size 64 -timeout 90s 2>&1 | tail -1)
      after=$(cpu "$pid")
      us=$(awk -v a="$after" -v b="$before" -v t="$TCK" -v n="$JOBS" 'BEGIN{printf "%.1f", (a-b)/t/n*1e6}')
      echo "$line server_cpu_us_per_job=$us"
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Server CPU per background submit: a fresh cmd/gearmand (on a fresh
# embedded store, or in memory), N jobs from internal/benchtools/bgload over
# CONNS connections, and the server's user+system CPU over the load divided
# by N (the "embedded store" sections of BENCHMARKS.md).
#
#   bench/cpu-per-job.sh BIN store|mem [N] [CONNS]    (default 300000 jobs, 4 connections)
#
# Alternate binaries and modes by hand (A B A B ...): one run is one line.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${1:?usage: cpu-per-job.sh BIN store|mem [N] [CONNS]}"; MODE="${2:?store or mem}"
N="${3:-300000}"; CONNS="${4:-4}"
RUN_DIR="${RUN_DIR:-/tmp/gearman-cpu-bench}"; mkdir -p "$RUN_DIR"
LOAD="$RUN_DIR/bgload"; DIR="$RUN_DIR/store"; PORT="${PORT:-47560}"
[[ -x "$LOAD" ]] || go build -o "$LOAD" ./internal/benchtools/bgload || exit 1
rm -rf "$DIR"; args=(); [[ "$MODE" == store ]] && args=(--store "file:$DIR")
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done
"$BIN" -L 127.0.0.1 -p "$PORT" --verbose ERROR "${args[@]}" >"$RUN_DIR/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$DIR"' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$RUN_DIR/server.log" >&2; exit 1; }
  sleep 0.02
done
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu)
out=$("$LOAD" -addr "127.0.0.1:$PORT" -n "$N" -conns "$CONNS") || exit 1
c1=$(cpu)
echo "$MODE $(basename "$BIN") $(grep -o 'jobs/s=[0-9]*' <<<"$out") us/job=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN{printf "%.2f", (b-a)/hz*1e6/n}')"

#!/usr/bin/env bash
# Durable background submits: two cmd/gearmand binaries (or one, in memory
# and on the store) in alternating pairs on one machine, a fresh server and
# store each run (the "embedded store" sections of BENCHMARKS.md).
#
#   bench/store-bench.sh BIN_A BIN_B [PAIRS] [CONNS] [JOBS] [WINDOW]
#       (defaults: 5 pairs, 1 connection, 200000 jobs, no window: WINDOW=1
#       makes every submit wait for its own sync, so jobs/s is syncs/s)
#   BIN_A/B is a gearmand binary; append "@mem" to run it without --store.
#   e.g. go build -o /tmp/gd-new ./cmd/gearmand; git worktree ... /tmp/gd-old
#        bench/store-bench.sh /tmp/gd-new /tmp/gd-old 5 16
#
# Load: internal/benchtools/bgload, 64-byte payloads and a 36-byte unique id
# per job, every connection pipelining its share. Each pair's line has
# each run's jobs/s and the server's peak resident memory (VmHWM) after
# the load, and the ratio A/B of the jobs/s.
set -uo pipefail
cd "$(dirname "$0")/.."
A="${1:?usage: store-bench.sh BIN_A BIN_B [PAIRS] [CONNS] [JOBS]}"; B="${2:?BIN_B}"
PAIRS="${3:-5}"; CONNS="${4:-1}"; JOBS="${5:-200000}"; WINDOW="${6:-0}"
RUN_DIR="${RUN_DIR:-/tmp/gearman-store-bench}"; mkdir -p "$RUN_DIR"
LOAD="$RUN_DIR/bgload"
go build -o "$LOAD" ./internal/benchtools/bgload || exit 1
PORT="${PORT:-47540}"
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null' EXIT

# one BIN: a fresh server (on a fresh store unless BIN ends in @mem), the
# load, then the server stopped; prints bgload's jobs/s.
one() {
  local bin="${1%@mem}" args=() dir="$RUN_DIR/store"
  rm -rf "$dir"
  while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done # the last run's server is gone
  [[ "$1" == *@mem ]] || args=(--store "file:$dir")
  "$bin" -L 127.0.0.1 -p "$PORT" --verbose ERROR "${args[@]}" >"$RUN_DIR/server.log" 2>&1 &
  pid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$RUN_DIR/server.log" >&2; exit 1; }
    sleep 0.05
  done
  local out; out=$("$LOAD" -addr "127.0.0.1:$PORT" -n "$JOBS" -conns "$CONNS" -window "$WINDOW")
  local hwm; hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null; pid=
  rm -rf "$dir"
  echo "$(echo "$out" | grep -o 'jobs/s=[0-9.]*' | cut -d= -f2) $hwm"
}

echo "# store-bench $(date -u +%FT%TZ), $(nproc) cores, A=$A B=$B pairs=$PAIRS conns=$CONNS jobs=$JOBS window=$WINDOW"
for i in $(seq 1 "$PAIRS"); do
  read -r a ahwm <<<"$(one "$A")"; read -r b bhwm <<<"$(one "$B")"
  echo "pair $i: A jobs/s=$a peak_kib=$ahwm B jobs/s=$b peak_kib=$bhwm A/B=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')"
done

#!/usr/bin/env bash
# Replay time: a store of JOBS queued background jobs, then two cmd/gearmand
# binaries started on it in alternating pairs, each timed from its start to
# its first answer (an admin "status", which waits for the replay), with the
# server's CPU time and resident memory then (the "embedded store" sections
# of BENCHMARKS.md).
#
#   bench/replay-bench.sh BIN_A BIN_B [PAIRS] [JOBS]   (default 5 pairs, 1000000 jobs)
#
# The store is made once, with BIN_B and internal/benchtools/bgload (64-byte
# payloads, a 36-byte unique id each, 4 connections), and stopped cleanly;
# the runs only read it (nothing runs the jobs).
set -uo pipefail
cd "$(dirname "$0")/.."
A="${1:?usage: replay-bench.sh BIN_A BIN_B [PAIRS] [JOBS]}"; B="${2:?BIN_B}"
PAIRS="${3:-5}"; JOBS="${4:-1000000}"
RUN_DIR="${RUN_DIR:-/tmp/gearman-replay-bench}"; mkdir -p "$RUN_DIR"
LOAD="$RUN_DIR/bgload"; DIR="$RUN_DIR/store"; PORT="${PORT:-47550}"
go build -o "$LOAD" ./internal/benchtools/bgload || exit 1
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null' EXIT

up() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done # the last server is gone
  "$1" -L 127.0.0.1 -p "$PORT" --verbose ERROR --store "file:$DIR" >"$RUN_DIR/server.log" 2>&1 &
  pid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$RUN_DIR/server.log" >&2; exit 1; }
    sleep 0.01
  done
}
down() { kill "$pid"; wait "$pid" 2>/dev/null; pid=; }

rm -rf "$DIR"
up "$B"
"$LOAD" -addr "127.0.0.1:$PORT" -n "$JOBS" -conns 4 >/dev/null || exit 1
down

# one BIN: prints seconds to the first answer, CPU seconds then, VmRSS KiB.
one() {
  local t0 t1 q
  t0=$(date +%s.%N)
  up "$1"
  q=$(gearadmin -h 127.0.0.1 -p "$PORT" --status | awk '$1=="mem"{print $2}')
  t1=$(date +%s.%N)
  [[ "$q" == "$JOBS" ]] || { echo "replayed $q jobs, want $JOBS" >&2; exit 1; }
  local cpu rss
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$pid/stat")
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  down
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') $cpu $rss"
}

echo "# replay-bench $(date -u +%FT%TZ), $(nproc) cores, A=$A B=$B pairs=$PAIRS jobs=$JOBS, store $(du -sh "$DIR" | cut -f1)"
for i in $(seq 1 "$PAIRS"); do
  read -r aw ac ar <<<"$(one "$A")"; read -r bw bc br <<<"$(one "$B")"
  echo "pair $i: A serving_s=$aw cpu_s=$ac rss_kib=$ar B serving_s=$bw cpu_s=$bc rss_kib=$br"
done
rm -rf "$DIR"

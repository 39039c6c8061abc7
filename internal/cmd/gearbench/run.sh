#!/usr/bin/env bash
# Benchmark this module's client and worker (gearbench) side by side with
# gobench's raw protocol-only client and worker, through the C gearmand with
# -t 0 and with its default 4 I/O threads, all in one run.
#
#   internal/cmd/gearbench/run.sh [REPS]      (default 3; from anywhere)
#
# For each server: 64-byte jobs at C=1, 16, 64 (10000 jobs, 100 warm-up) and
# 1 MiB jobs at C=1, 4 (300 jobs, 10 warm-up), each by gobench
# -client raw -worker raw and by gearbench (Submit/Result, for small jobs also
# -do, for 1 MiB also -stream); plus gearbench with every submitter pipelined on one connection
# (-conns 1) at C=16 and 64. 4 worker connections, one job at a time each, in
# every run. Configurations are interleaved (raw, then ours, per repetition)
# so that drift in the machine's load hits both alike.
#
# Every command's CPU time (user and system, the whole process: connecting,
# warm-up and measured jobs) follows its result line; summarise.py divides
# it by the jobs run, warm-up included.
#
# Servers are started with ../shared/peers/start-gearmand.sh (RUN_DIR is a
# fresh temp dir, logging at ERROR) on free ports and stopped with stop.sh at
# the end. Every command runs under `timeout`. Output: every command and its
# result line, on stdout and in $OUT (default $RUN_DIR/gearbench-DATE.txt);
# the summary tables (summarise.py) follow. Takes about 5-8 minutes.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
REPS="${1:-3}"
export RUN_DIR="$(mktemp -d /tmp/gearbench.XXXXXX)"
export GEARMAND_VERBOSE="${GEARMAND_VERBOSE:-ERROR}"
OUT="${OUT:-$RUN_DIR/gearbench-$(date +%Y%m%d-%H%M%S).txt}"
GEARBENCH="$RUN_DIR/gearbench"
GOBENCH="${GOBENCH:-/tmp/gearman-peers/gobench}"

cleanup() { "$PEERS/stop.sh" >/dev/null; }
trap cleanup EXIT

(cd "$ROOT" && go build -o "$GEARBENCH" ./internal/cmd/gearbench) || exit 1
if [[ ! -x "$GOBENCH" ]]; then
  GOBENCH="$RUN_DIR/gobench"
  (cd "$PEERS/gobench" && go build -o "$GOBENCH" .) || exit 1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

log() { echo "$*" | tee -a "$OUT"; }
run() { # run LIMIT_S CMD...   (prints the command, its output, then its CPU time)
  local limit="$1"; shift
  log "\$ $*"
  local TIMEFORMAT='  cpu: user=%U sys=%S'
  { time timeout "$limit" "$@" 2>&1; } 2>&1 | tee -a "$OUT"
  local rc=${PIPESTATUS[0]}
  [[ $rc -ne 0 ]] && log "  (exit $rc)"
  sleep 0.3
}

log "# gearbench vs gobench raw  $(date -u +%FT%TZ)  host: $(nproc) cores, $(uname -r), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "# gearmand $(/usr/sbin/gearmand --version | awk 'NF{print $2; exit}'), $(go version | awk '{print $3}'), module $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)"

P_T0=$(free_port)
"$PEERS/start-gearmand.sh" "$P_T0" -t 0 | tee -a "$OUT" || exit 1
P_T4=$(free_port)
"$PEERS/start-gearmand.sh" "$P_T4" | tee -a "$OUT" || exit 1

bench() { # bench LABEL PORT
  local label="$1" a="127.0.0.1:$2" c r
  local raw=("$GOBENCH" -label "$label" -addr "$a" -client raw -worker raw -workers 4 -timeout 60s)
  local ours=("$GEARBENCH" -label "$label" -addr "$a" -workers 4 -timeout 60s)
  for c in 1 16 64; do
    for r in $(seq 1 "$REPS"); do
      run 90 "${raw[@]}" -clients $c -jobs 10000 -size 64
      run 90 "${ours[@]}" -clients $c -jobs 10000 -size 64
      run 90 "${ours[@]}" -do -clients $c -jobs 10000 -size 64
    done
  done
  for c in 16 64; do
    for r in $(seq 1 "$REPS"); do
      run 90 "${ours[@]}" -clients $c -conns 1 -jobs 10000 -size 64
    done
  done
  for c in 1 4; do
    for r in $(seq 1 "$REPS"); do
      run 90 "${raw[@]}" -clients $c -jobs 300 -size 1048576 -warmup 10
      run 90 "${ours[@]}" -clients $c -jobs 300 -size 1048576 -warmup 10
      run 90 "${ours[@]}" -stream -clients $c -jobs 300 -size 1048576 -warmup 10
    done
  done
}

bench gearmand-t0 "$P_T0"
bench gearmand-t4 "$P_T4"
log "# done $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
python3 "$HERE/summarise.py" "$OUT"

#!/usr/bin/env bash
# Job server benchmarks, ours and the C gearmand side by side in one run
# (the "Job server" section of BENCHMARKS.md).
#
#   bench/server-bench.sh [REPS]     (default 3; needs ../shared/peers installed)
#   SKIP_MEMORY=1 bench/server-bench.sh   (throughput and latency only: the
#                                          memory part takes ~8 minutes)
#
# Servers: ours (cmd/gearmand), gearmand -t 0, gearmand with its default
# threads; all on loopback, logging at ERROR. Load: gobench -client raw
# -worker raw (4 workers), 64-byte jobs at 1, 16 and 64 clients, 1 MiB jobs
# at 1 and 4 clients; then the resident memory of each server after one
# million queued background jobs (64-byte payload, 36-byte unique), ours
# both in memory and on the embedded store (--store file:), with each
# server's background submits/s.
set -uo pipefail
cd "$(dirname "$0")/.."
PEERS="$(cd ../shared/peers && pwd)"
export RUN_DIR="${RUN_DIR:-/tmp/gearman-server-bench}"
export GEARMAND_VERBOSE=ERROR
REPS="${1:-3}"
mkdir -p "$RUN_DIR"
BIN="$RUN_DIR/gobench"; OURS="$RUN_DIR/ours-gearmand"; LOAD="$RUN_DIR/bgload"
(cd "$PEERS/gobench" && go build -o "$BIN" .) || exit 1
go build -o "$OURS" ./cmd/gearmand || exit 1
go build -o "$LOAD" ./internal/benchtools/bgload || exit 1

P_OURS=47530; P_T0=47531; P_DEF=47532
trap 'for p in $P_OURS $P_T0 $P_DEF; do "$PEERS/stop.sh" $p >/dev/null; done' EXIT
start() {
  "$PEERS/start-cmd.sh" ours $P_OURS "$OURS" -L 127.0.0.1 -p {port} --verbose ERROR >/dev/null || exit 1
  "$PEERS/start-gearmand.sh" $P_T0 -t 0 >/dev/null || exit 1
  "$PEERS/start-gearmand.sh" $P_DEF >/dev/null || exit 1
}
stop() { for p in $P_OURS $P_T0 $P_DEF; do "$PEERS/stop.sh" $p >/dev/null; done; sleep 0.5; }
label() { case $1 in $P_OURS) echo ours;; $P_T0) echo gearmand-t0;; $P_DEF) echo gearmand-t4;; esac; }

echo "# job server benchmarks $(date -u +%FT%TZ), $(nproc) cores, $(go version | awk '{print $3}'), gearmand $(/usr/sbin/gearmand --version | awk 'NF{print $2; exit}')"
start
for c in 1 16 64; do
  for _ in $(seq 1 "$REPS"); do
    for p in $P_OURS $P_T0 $P_DEF; do
      timeout 90 "$BIN" -label "$(label $p)" -addr 127.0.0.1:$p -client raw -worker raw -workers 4 \
        -clients $c -jobs 10000 -size 64 -timeout 60s 2>&1 | tail -1
    done
  done
done
for c in 1 4; do
  for _ in $(seq 1 "$REPS"); do
    for p in $P_OURS $P_T0 $P_DEF; do
      timeout 90 "$BIN" -label "$(label $p)" -addr 127.0.0.1:$p -client raw -worker raw -workers 4 \
        -clients $c -jobs 200 -size 1048576 -warmup 10 -timeout 60s 2>&1 | tail -1
    done
  done
done
stop
[[ -n "${SKIP_MEMORY:-}" ]] && exit 0
# Memory: a fresh server each, one million background jobs, then VmRSS.
# Ours runs twice: in memory, and on the embedded store (durable submits).
P_STORE=47533
start
"$PEERS/start-cmd.sh" ours-store $P_STORE "$OURS" -L 127.0.0.1 -p {port} --verbose ERROR --store "file:$RUN_DIR/store" >/dev/null || exit 1
trap 'for p in $P_OURS $P_T0 $P_DEF $P_STORE; do "$PEERS/stop.sh" $p >/dev/null; done; rm -rf "$RUN_DIR/store"' EXIT
for p in $P_OURS $P_STORE $P_T0 $P_DEF; do
  pidf=$(ls "$RUN_DIR"/*-$p.pid)
  name=$(label $p); [[ $p == "$P_STORE" ]] && name=ours-store
  before=$(awk '/VmRSS/{print $2}' /proc/"$(cat "$pidf")"/status)
  # bgload prints "queued=N conns=C window=W unique=U elapsed=Ts jobs/s=R".
  out=$(timeout 300 "$LOAD" -addr 127.0.0.1:$p -n 1000000 2>&1)
  jps=$(grep -o 'jobs/s=[0-9.]*' <<<"$out" | cut -d= -f2)
  el=$(grep -o 'elapsed=[0-9.]*s' <<<"$out" | cut -d= -f2)
  queued=$(grep -o 'queued=[0-9]*' <<<"$out" | cut -d= -f2)
  if [[ -z "$jps" ]]; then echo "memory $name: bgload failed: $out" >&2; continue; fi
  sleep 1
  after=$(awk '/VmRSS/{print $2}' /proc/"$(cat "$pidf")"/status)
  echo "memory $name: queued=$queued elapsed=$el jobs/s=$jps rss_before_kib=$before rss_after_kib=$after"
done
stop
"$PEERS/stop.sh" $P_STORE >/dev/null
rm -rf "$RUN_DIR/store"

#!/usr/bin/env bash
# The baselines of issue 16: durable background submits/s of gearmand -t 0
# on -q libsqlite3 and on -q Postgres, and of our server in memory and on
# its embedded store (kind "store": --store file:DIR, a new DIR each run), with
# 64-byte jobs with unique ids, pipelined (internal/benchtools/bgload),
# from 1 and 16 connections; a fresh server (and queue) for every run, the
# servers alternating, ROUNDS rounds. Then each server's VmHWM and VmRSS
# after queueing RSS_N jobs (RSS_N_SQLITE for gearmand+libsqlite3,
# RSS_N_PG for gearmand+Postgres: at ~1,300/s a million take 13 minutes).
# Run from the repository root:
#   bash internal/benchtools/storecmp/baselines.sh > baselines.txt
# Uses the peers' scripts in $PEERS (start-gearmand.sh, start-cmd.sh,
# start-postgres.sh, stop.sh), with files under $RUN_DIR.
set -euo pipefail
PEERS=${PEERS:-/work/shared/peers}
export RUN_DIR=${RUN_DIR:-/work/tmp/baselines}
mkdir -p "$RUN_DIR"
LOAD=$RUN_DIR/bgload OURS=$RUN_DIR/ours-gearmand
go build -o "$LOAD" ./internal/benchtools/bgload
go build -o "$OURS" ./cmd/gearmand
PG_PORT=${PG_PORT:-47390} PORT=${PORT:-47391}
ROUNDS=${ROUNDS:-3} WINDOW=${WINDOW:-0}
N_SQLITE=${N_SQLITE:-5000} N_PG=${N_PG:-20000} N_OURS=${N_OURS:-500000}
RSS_N=${RSS_N:-1000000} RSS_N_SQLITE=${RSS_N_SQLITE:-200000} RSS_N_PG=${RSS_N_PG:-$RSS_N}
KINDS=${KINDS:-"sqlite pg ours store"}
CONNS=${CONNS:-"1 16"}

"$PEERS/start-postgres.sh" "$PG_PORT" >&2
trap '"$PEERS/stop.sh" "$PORT" >&2 || true; "$PEERS/stop.sh" "$PG_PORT" >&2 || true' EXIT
CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres dbname=gearman"

start() { # kind
	case $1 in
	sqlite)
		rm -f "$RUN_DIR"/queue.db*
		"$PEERS/start-gearmand.sh" "$PORT" -t 0 -q libsqlite3 --libsqlite3-db="$RUN_DIR/queue.db" >&2 ;;
	pg)
		psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres gearman -c 'DROP TABLE IF EXISTS queue' >&2
		"$PEERS/start-gearmand.sh" "$PORT" -t 0 -q Postgres --libpq-conninfo="$CONNINFO" --libpq-table=queue >&2 ;;
	ours)
		"$PEERS/start-cmd.sh" ours "$PORT" "$OURS" --listen 127.0.0.1 --port '{port}' >&2 ;;
	store)
		rm -rf "$RUN_DIR/store"
		"$PEERS/start-cmd.sh" ours "$PORT" "$OURS" --listen 127.0.0.1 --port '{port}' --store "file:$RUN_DIR/store" >&2 ;;
	esac
}
pidof_port() { cat "$RUN_DIR"/*-"$PORT".pid; }
n_for() { case $1 in sqlite) echo "$N_SQLITE" ;; pg) echo "$N_PG" ;; ours | store) echo "$N_OURS" ;; esac; }

for round in $(seq 1 "$ROUNDS"); do
	for c in $CONNS; do
		for k in $KINDS; do
			start "$k"
			out=$("$LOAD" -addr 127.0.0.1:"$PORT" -n "$(n_for "$k")" -conns "$c" -window "$WINDOW")
			echo "submit round=$round server=$k $out"
			"$PEERS/stop.sh" "$PORT" >&2
		done
	done
done

[[ -n "${SKIP_RSS:-}" ]] && exit 0
for k in $KINDS; do
	n=$RSS_N; [[ $k = sqlite ]] && n=$RSS_N_SQLITE; [[ $k = pg ]] && n=$RSS_N_PG
	start "$k"
	pid=$(pidof_port)
	out=$("$LOAD" -addr 127.0.0.1:"$PORT" -n "$n" -conns 16 -window "$WINDOW")
	sleep 1
	st=$(awk '/VmHWM|VmRSS/{printf "%s%s ", $1, $2}' /proc/"$pid"/status)
	extra=
	[[ $k = sqlite ]] && extra="db_bytes=$(du -cb "$RUN_DIR"/queue.db* | tail -1 | cut -f1)"
	[[ $k = store ]] && extra="store_bytes=$(du -cb "$RUN_DIR"/store/*.log | tail -1 | cut -f1)"
	echo "rss server=$k $out $st$extra"
	"$PEERS/stop.sh" "$PORT" >&2
done

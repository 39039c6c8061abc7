#!/usr/bin/env bash
# Durable background jobs on PostgreSQL (issue 17), servers side by side in
# one run: gearmand -q Postgres, and ours with --store postgres://... alone
# and as a cluster of CLUSTER servers on one database ("session 8: cluster
# baseline" in BENCHMARKS.md).
#
#   bench/cluster-bench.sh [ROUNDS]        (default 3; needs ../shared/peers)
#   KINDS="gearmand ours cluster" bench/cluster-bench.sh
#
# A throwaway PostgreSQL (../shared/peers/start-postgres.sh: fsync on,
# synchronous_commit on, its settings printed first). Load:
# internal/benchtools/bgload, 64-byte payloads, a distinct 36-byte unique id
# per job, pipelined (-window 0). Every run has a fresh database and fresh
# servers; the kinds alternate within each round. Per kind and connection
# count, two runs:
#   submit  N jobs, no workers: durable submits/s (jobs/s=, first submit to
#           the last JOB_CREATED); for gearmand the queue table then holds N
#           rows (checked: rows=);
#   e2e     N jobs while WORKERS raw workers run them: e2e_jobs/s= is N over
#           the time from the first submit until the server has dealt with
#           the last WORK_COMPLETE.
# A cluster's connections and workers are spread over its servers
# (bgload -addr A,B,C).
#
# Kinds: gearmand (/usr/sbin/gearmand -t $GEARMAND_THREADS -q Postgres
# --libpq-conninfo=... --libpq-table=queue), ours (cmd/gearmand --store
# postgres://...), cluster (CLUSTER of ours on one database). The default,
# KINDS=gearmand, runs until our server takes a postgres:// store.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="$(cd ../shared/peers && pwd)"
export RUN_DIR="${RUN_DIR:-/tmp/gearman-cluster-bench}"
export GEARMAND_VERBOSE=ERROR
ROUNDS="${1:-3}"
KINDS="${KINDS:-gearmand}"
CONNS="${CONNS:-1 16}"
WORKERS="${WORKERS:-4}"
CLUSTER="${CLUSTER:-3}"
GEARMAND_THREADS="${GEARMAND_THREADS:-0}"
N_GEARMAND="${N_GEARMAND:-10000}" N_OURS="${N_OURS:-200000}"
PG_PORT="${PG_PORT:-47590}" PORT="${PORT:-47591}" # servers on PORT, PORT+1, ...
mkdir -p "$RUN_DIR"
LOAD="$RUN_DIR/bgload"; OURS="$RUN_DIR/ours-gearmand"
go build -o "$LOAD" ./internal/benchtools/bgload
go build -o "$OURS" ./cmd/gearmand

ports=()
stop_servers() { for p in "${ports[@]}"; do "$PEERS/stop.sh" "$p" >/dev/null; done; ports=(); }
trap 'stop_servers; "$PEERS/stop.sh" "$PG_PORT" >/dev/null' EXIT
"$PEERS/start-postgres.sh" "$PG_PORT" >&2
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres)
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench?sslmode=disable"

echo "# cluster bench $(date -u +%FT%TZ), $(nproc) cores, $(go version | awk '{print $3}'), gearmand $(/usr/sbin/gearmand --version | awk 'NF{print $2; exit}'), $("${PSQL[@]}" postgres -c 'SHOW server_version')"
echo "# postgres: $("${PSQL[@]}" postgres -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers', 'max_connections', 'commit_delay', 'wal_level')")"

# The disk's ceiling for one-commit-per-job stores: 8 kB writes each
# followed by fdatasync (PostgreSQL's wal_sync_method here), in RUN_DIR.
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
echo "# disk: $("$PG_BIN/pg_test_fsync" -s 1 -f "$RUN_DIR/fsync.test" 2>/dev/null | awk '/^ +fdatasync +[0-9]/{print "one 8kB write + fdatasync:", $2, $3; exit}')"
rm -f "$RUN_DIR/fsync.test"

fresh_db() {
	"${PSQL[@]}" postgres -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'
}

# start KIND: a fresh database, then the kind's servers; ADDRS is their
# addresses, comma-separated.
start() {
	fresh_db
	local addrs=() n=1 i p
	case $1 in
	gearmand)
		"$PEERS/start-gearmand.sh" "$PORT" -t "$GEARMAND_THREADS" -q Postgres \
			--libpq-conninfo="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench" --libpq-table=queue >&2
		ports+=("$PORT"); addrs+=("127.0.0.1:$PORT") ;;
	ours | cluster)
		if [[ $1 == cluster ]]; then n=$CLUSTER; fi
		for ((i = 0; i < n; i++)); do
			p=$((PORT + i))
			"$PEERS/start-cmd.sh" "ours$i" "$p" "$OURS" --listen 127.0.0.1 --port '{port}' --verbose ERROR --store "$PG_URL" >&2
			ports+=("$p"); addrs+=("127.0.0.1:$p")
		done ;;
	*) echo "unknown kind $1" >&2; exit 2 ;;
	esac
	ADDRS=$(IFS=,; echo "${addrs[*]}")
}
n_for() { case $1 in gearmand) echo "$N_GEARMAND" ;; *) echo "$N_OURS" ;; esac; }

for round in $(seq 1 "$ROUNDS"); do
	for c in $CONNS; do
		for k in $KINDS; do
			n=$(n_for "$k")
			start "$k"
			out=$("$LOAD" -addr "$ADDRS" -n "$n" -conns "$c" -window 0)
			rows=
			if [[ $k == gearmand ]]; then rows=" rows=$("${PSQL[@]}" bench -c 'SELECT count(*) FROM queue')"; fi
			echo "submit round=$round server=$k $out$rows"
			stop_servers
			start "$k"
			out=$("$LOAD" -addr "$ADDRS" -n "$n" -conns "$c" -window 0 -workers "$WORKERS")
			echo "e2e round=$round server=$k $out"
			stop_servers
		done
	done
done

#!/bin/sh
# Runs the storecmp matrix on this machine: submit (G = 1, 16, 64, ROUNDS
# rounds, engines alternating within each), then N jobs loaded, replayed
# three times (engines alternating), finished, and a churn of 2N jobs with
# 10 000 live. Output: one line per run.
#   sh run.sh /work/tmp/storecmp > results.txt
set -e
dir=${1:-/work/tmp/storecmp}
bin=${BIN:-/tmp/storecmp}
d=${D:-6s}
n=${N:-1000000}
rounds=${ROUNDS:-5}
go build -o "$bin" .
engines="log pebble bbolt sqlite"
if [ -z "$SKIP_SUBMIT" ]; then
	for round in $(seq 1 $rounds); do
		for g in 1 16 64; do
			for e in $engines; do
				"$bin" -engine $e -dir "$dir/$e" -op submit -g $g -d $d | sed "s/^/round=$round /"
			done
			[ $g = 1 ] || "$bin" -engine bbolt -bolt-delay 1ms -dir "$dir/bbolt" -op submit -g $g -d $d |
				sed "s/^/round=$round /; s/engine=bbolt/engine=bbolt-1ms/"
		done
	done
fi
for e in $engines; do
	"$bin" -engine $e -dir "$dir/$e" -op load -n $n
done
for round in 1 2 3; do
	for e in $engines; do
		"$bin" -engine $e -dir "$dir/$e" -op replay | sed "s/^/round=$round /"
	done
done
for e in $engines; do
	"$bin" -engine $e -dir "$dir/$e" -op finish -n $n -idle 30s
done
for e in $engines; do
	"$bin" -engine $e -dir "$dir/$e" -op churn -n $((2 * n)) -live 10000
done
rm -rf "$dir"

#!/bin/sh
# Submit only: the log appending to a growing file, the log writing into
# zero-filled segments, and pebble (whose WAL files are recycled), in turn.
#   sh run-prealloc.sh /work/tmp/storecmp > prealloc.txt
set -e
dir=${1:-/work/tmp/storecmp}
bin=${BIN:-/tmp/storecmp}
d=${D:-6s}
rounds=${ROUNDS:-5}
go build -o "$bin" .
for round in $(seq 1 $rounds); do
	for g in 1 16 64; do
		for e in log log-prealloc pebble; do
			"$bin" -engine $e -dir "$dir/$e" -op submit -g $g -d $d | sed "s/^/round=$round /"
		done
	done
done
rm -rf "$dir"

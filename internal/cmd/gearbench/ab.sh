#!/usr/bin/env bash
# Compare two benchmark commands by alternating pairs: run A, then B, N
# times, and print the median jobs/s of each, the ratio B/A of the medians
# and every pair's ratio. Alternating spreads the drift of a shared machine
# over both sides, which medians of separate batches do not.
#
#   internal/cmd/gearbench/ab.sh N CMD_A... -- CMD_B...
#
# Each command is a gearbench or gobench run that prints "jobs/s=X".
set -euo pipefail
N="$1"; shift
A=(); while [[ "$1" != -- ]]; do A+=("$1"); shift; done; shift; B=("$@")
OUT="$(mktemp)"; trap 'rm -f "$OUT"' EXIT
for _ in $(seq 1 "$N"); do
  a=$("${A[@]}" 2>&1 | grep -o 'jobs/s=[0-9.]*' | cut -d= -f2)
  b=$("${B[@]}" 2>&1 | grep -o 'jobs/s=[0-9.]*' | cut -d= -f2)
  echo "$a $b" >> "$OUT"
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
a = statistics.median(r[0] for r in rows)
b = statistics.median(r[1] for r in rows)
print(f"A median {a:.0f}  B median {b:.0f}  B/A {b/a:.3f}  pairs {sorted(round(y/x, 2) for x, y in rows)}")
PY

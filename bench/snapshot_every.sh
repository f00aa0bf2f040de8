#!/usr/bin/env bash
# bench/snapshot_every.sh [--accounts A] [--runs R] — what a small
# snapshot_every costs (docs/PROJECTIONS.md, "How often to snapshot"): the
# balances spec of examples/ with snapshot_every 100000 (the default) and
# 50, on the same 100,000 bank events, runs of the two alternated.  Per
# setting: the first build, then 100 × (append 50 events, query all keys),
# the snap file and idx/proj's size after them.  Answers are checked equal.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
E=$PWD/bin/engram
A=1000 RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--accounts) A=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
[ -x "$E" ] || die "build bin/engram first (make)"
W=$(mktemp -d "${TMPDIR:-/tmp}/engram-snap.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$E" gen bank --events 100000 --accounts "$A" --seed 5 >"$W/base.ndjson"
"$E" gen bank --events 5000 --accounts "$A" --seed 6 --start 2025-03-01T00:00:00Z |
	sed 's/"id":"/"id":"more-/' | split -l 50 - "$W/more."
for n in 100000 50; do
	sed "s/\"snapshot_every\": *[0-9]*/\"snapshot_every\": $n/" examples/balances.json >"$W/spec-$n.json"
done

# one N: first-build seconds, seconds of the 100 queries, snap bytes, idx/proj bytes
one() {
	local n=$1 d=$W/s-$1 t0 q=0 f
	rm -rf "$d"
	"$E" -d "$d" append "$W/base.ndjson" >/dev/null
	t0=$(now)
	"$E" -d "$d" project "$W/spec-$n.json" >/dev/null
	local build; build=$(calc "$(now) - $t0" 4)
	for f in "$W"/more.*; do
		"$E" -d "$d" append "$f" >/dev/null
		t0=$(now)
		"$E" -d "$d" project "$W/spec-$n.json" >"$W/out-$n"
		q=$(calc "$q + $(now) - $t0" 4)
	done
	echo "$build $q $(stat -c %s "$d"/idx/proj/*/snap) $(bytes "$d/idx/proj")"
}
declare -A B Q SNAP DIR
for ((r = 0; r < RUNS; r++)); do
	for n in 100000 50; do
		read -r b q s dsz < <(one "$n")
		B[$n]+="$b " Q[$n]+="$q " SNAP[$n]=$s DIR[$n]=$dsz
	done
	cmp -s "$W/out-100000" "$W/out-50" || die "the answers of snapshot_every 100000 and 50 differ"
done
log "answers equal; medians of $RUNS runs, the two settings alternated ($A accounts)"
printf '| snapshot_every | first build s | 100 × (append 50, query) s | snap bytes | idx/proj bytes |\n|---|---|---|---|---|\n'
for n in 100000 50; do
	# shellcheck disable=SC2086
	printf '| %s | %s | %s | %s | %s |\n' "$n" "$(median ${B[$n]})" "$(median ${Q[$n]})" "${SNAP[$n]}" "${DIR[$n]}"
done

#!/usr/bin/env bash
# bench/dcb.sh [--sizes "N1 N2"] [--tiny] [--checks K] [--runs R] [--keep]
#
# What the check of a conditional append costs (docs/CONSISTENCY.md), on
# stores of 1M and 10M tagged events (bench/dcb_bench.c builds them in
# /tmp: four types in turn, tags course:C with ~100 events a course spread
# over the log, and student:S; 100,000-event commits):
#  1. the check alone (eg_query_find, as eg_batch_begin runs it under the
#     write lock): K checks, each for another course, --after the head less
#     1 and less 1,000 (what a writer meets when others appended since it
#     read), and --after 0 (the course's events all after: the first found);
#     median and 99th percentile;
#  2. a whole `engram append --fail-if ... --after HEAD` of one event
#     against a plain `engram append` of one event (both --sync none, so
#     that the disk's sync does not hide the difference): R runs each,
#     alternating, a new course each time.
# Prints a Markdown section on stdout (bench/results/dcb.md keeps one); it
# measures, it asserts nothing.
#   --sizes "N..." (default "1000000 10000000")   --tiny  sizes 20000 200000
#   --checks K (default 2000)   --runs R (default 30)   --keep  keep the stores
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
SIZES="1000000 10000000" K=2000 RUNS=30 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=$2; shift 2 ;;
	--tiny) SIZES="20000 200000"; shift ;;
	--checks) K=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/dcb.sh [--sizes \"N...\"] [--tiny] [--checks K] [--runs R] [--keep]" >&2; exit 2 ;;
	esac
done
need_engram
BENCH=${DCB_BENCH:-${B:-build}/bench/dcb_bench}
[ -x "$BENCH" ] || die "no $BENCH; run make bench-dcb"
W=$(mktemp -d /tmp/engram-dcb-bench.XXXXXX)
if [ "$KEEP" = 1 ]; then trap 'echo "bench: kept $W" >&2' EXIT; else trap 'rm -rf "$W"' EXIT; fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A R
for n in $SIZES; do
	log "$n events: building"
	t0=$(now)
	"$BENCH" build "$W/s$n" "$n"
	R[$n.build]=$(calc "$(now) - $t0" 1)
	log "$n events: $K checks"
	R[$n.check]=$("$BENCH" check "$W/s$n" "$K")
	log "$n events: $RUNS appends each way"
	plain=() cond=()
	for ((r = 0; r < RUNS; r++)); do
		t0=$(now)
		"$ENGRAM" -d "$W/s$n" append --sync none \
			<<<"{\"type\":\"seat_booked\",\"tags\":[\"course:p$r\"]}" >/dev/null
		plain+=("$(calc "($(now) - $t0) * 1000" 2)")
		head=$("$ENGRAM" -d "$W/s$n" head | grep -o '"pos":[0-9]*' | cut -d: -f2)
		t0=$(now)
		"$ENGRAM" -d "$W/s$n" append --sync none \
			--fail-if "types=seat_booked,seat_released tags=course:c$r" --after "$head" \
			<<<"{\"type\":\"seat_booked\",\"tags\":[\"course:c$r\"]}" >/dev/null
		cond+=("$(calc "($(now) - $t0) * 1000" 2)")
	done
	R[$n.plain]=$(median "${plain[@]}")
	R[$n.cond]=$(median "${cond[@]}")
	R[$n.bytes]=$(bytes "$W/s$n")
done

field() {   # field JSON NAME KEY
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]][sys.argv[3]])' "$@"
}
echo "## Conditional appends: the check (make bench-dcb)"
echo
echo "$(date -u +%Y-%m-%d), commit $(git_version), $(nproc) CPUs, load at start $LOAD0."
echo "Stores built by bench/dcb_bench.c in /tmp; $K checks per figure, each for"
echo "another course; a whole append is the median of $RUNS runs (--sync none)."
echo
echo "| events | store | check, --after head-1 | head-1000 | two tags, head-1000 | types only, head-1000 | --after 0 (conflict) | append --fail-if | plain append |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
	j=${R[$n.check]}
	cell() { echo "$(field "$j" "$1" median_us) µs (p99 $(field "$j" "$1" p99_us))"; }
	echo "| $n | $(calc "${R[$n.bytes]} / 1048576" 0) MiB | $(cell tags_types_after_head_1) | $(cell tags_types_after_head_1000) | $(cell two_tags_after_head_1000) | $(cell types_only_after_head_1000) | $(cell tags_types_after_0) | ${R[$n.cond]} ms | ${R[$n.plain]} ms |"
done
echo
echo "Queries: \`types=seat_booked,seat_released tags=course:C\` (the race test's),"
echo "\`tags=course:C,student:1\` (two tags AND'd), \`types=seat_booked;types=xC\`"
echo "(types only: the newest chunk of each type's postings). Raw:"
echo
for n in $SIZES; do
	echo "    $n: ${R[$n.check]}"
done

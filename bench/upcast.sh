#!/usr/bin/env bash
# bench/upcast.sh [--events N] [--tiny] [--runs R] [--passes P] [--keep]
#
# What upcasting on read costs.  Two figures on `engram gen orders --events
# N --seed 3`:
#  1. eg_upcast_apply alone (bench/upcast_bench.c) on the data of every
#     order_placed event, with a 2-operation document (the example upcast's
#     rename, plus the default op a newly required property with a default
#     adds) and a 4-operation one (rename, default, scale, drop): the median
#     applies/s of R runs (each the median of P passes), and a hash of every
#     output, so that two builds can be compared byte for byte;
#  2. a projection over the store, v1 events upcast to v2 on read, against
#     the same spec with "upcast": false: R runs of each, alternating, the
#     projection state deleted before every run.
# Prints a Markdown section on stdout; it measures, it asserts nothing.
# ENGRAM and UPCAST_BENCH name other builds' binaries (to measure a
# baseline).
#   --events N  (default 1000000)   --tiny  20000 events, a quick check
#   --runs R    (default 5)         --passes P  (default 5)
#   --keep      keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
N=1000000 RUNS=5 PASSES=5 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2; shift 2 ;;
	--tiny) N=20000; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--passes) PASSES=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/upcast.sh [--events N] [--tiny] [--runs R] [--passes P] [--keep]" >&2; exit 2 ;;
	esac
done
need_engram
BENCH=${UPCAST_BENCH:-${B:-build}/bench/upcast_bench}
[ -x "$BENCH" ] || die "no $BENCH; run make bench-upcast"
workdir upcast "$KEEP"

D2='[{"op":"rename","path":"/items","to":"item_count"},{"op":"default","path":"/channel","value":"web"}]'
D4='[{"op":"rename","path":"/items","to":"item_count"},{"op":"default","path":"/channel","value":"web"},{"op":"scale","path":"/amount","factor":100},{"op":"drop","path":"/currency"}]'

log "$N orders"
"$ENGRAM" gen orders --events "$N" --seed 3 >"$W/orders.ndjson"

apply_runs() {   # apply_runs DOC: "median_applies_per_s hash count"
	local r rates=() out
	for ((r = 0; r < RUNS; r++)); do
		out=$("$BENCH" "$W/orders.ndjson" order_placed "$1" "$PASSES")
		rates+=("$(echo "$out" | grep -o '"applies_per_s":[0-9]*' | cut -d: -f2)")
	done
	echo "$(median "${rates[@]}") $(echo "$out" | grep -o '"out_hash":"[0-9a-f]*"' | cut -d'"' -f4) \
$(echo "$out" | grep -o '"count":[0-9]*' | cut -d: -f2)"
}
log "eg_upcast_apply, 2 operations"
read -r R2 H2 C2 <<<"$(apply_runs "$D2")"
log "eg_upcast_apply, 4 operations"
read -r R4 H4 C4 <<<"$(apply_runs "$D4")"

log "store: v1 schema, $N events, v2 schema with the upcast"
S=$W/store
"$ENGRAM" -d "$S" schema add order_placed examples/order_placed.v1.json >/dev/null
"$ENGRAM" -d "$S" append "$W/orders.ndjson" >/dev/null
"$ENGRAM" -d "$S" schema add order_placed examples/order_placed.v2.json \
	--upcast examples/order_placed.v1-to-v2.json >/dev/null
FIELDS='"fields":{"n":{"count":true},"items":{"sum":"data.item_count"},"spent":{"sum":"data.amount"}}'
echo "{\"name\":\"spend\",\"key\":\"data.customer\",\"types\":[\"order_placed\"],$FIELDS}" >"$W/up.json"
echo "{\"name\":\"spend\",\"key\":\"data.customer\",\"types\":[\"order_placed\"],\"upcast\":false,$FIELDS}" >"$W/raw.json"
project() {   # project SPEC: seconds
	rm -rf "$S/idx/proj"
	local t0 t1
	t0=$(now)
	# without upcasts no event has data.item_count, and engram warns so
	"$ENGRAM" -d "$S" --format ndjson project "$1" >"$W/out.ndjson" 2>"$W/project.err"
	t1=$(now)
	calc "$t1 - $t0"
}
UP=() RAW=()
for ((r = 0; r < RUNS; r++)); do
	RAW+=("$(project "$W/raw.json")")
	UP+=("$(project "$W/up.json")")
done
MU=$(median "${UP[@]}") MR=$(median "${RAW[@]}")

cat <<EOF
### $(git_version), $N orders, load $LOAD0

| figure | value |
|---|---|
| eg_upcast_apply, 2 ops ($C2 events) | $R2 applies/s (output hash $H2) |
| eg_upcast_apply, 4 ops ($C4 events) | $R4 applies/s (output hash $H4) |
| project, upcast on read | ${MU} s (runs: $(list "${UP[@]}")) |
| project, "upcast": false | ${MR} s (runs: $(list "${RAW[@]}")) |
| upcast / raw | $(calc "$MU / $MR" 2) |
EOF

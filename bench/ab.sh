#!/usr/bin/env bash
# bench/ab.sh OLD NEW [--events N] [--runs R] — engram against engram: two
# builds of bin/engram on the same data, runs alternated (old, new, old,
# new, ...) so that the machine's drift falls on both alike, answers
# checked equal first.  For a change that must not make anything slower
# (a refactor): prints each workload's medians and the ratio new/old, and
# the spread of the old runs, which is the noise to judge a ratio by.
#
#   ingest      append of N clickstream events (--late 0.05 --seed 7), fsync'd
#   replay      hourly views per page from scratch (windows, checkpoint deleted)
#   incremental 15 × (append 10k events, windows on the checkpoint)
#   project     every account's balance from scratch, on 1M bank events
#   asof        200 × project --key K --as-of T (one process each)
#   sessions    sessions from scratch (idx/sess deleted)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
[ $# -ge 2 ] || die "usage: bench/ab.sh OLD_ENGRAM NEW_ENGRAM [--events N] [--runs R]"
OLD=$(realpath "$1") NEW=$(realpath "$2")
shift 2
N=1000000 RUNS=5
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
W=$(mktemp -d "${TMPDIR:-/tmp}/engram-ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$NEW" gen clickstream --events "$N" --late 0.05 --seed 7 >"$W/click.ndjson"
head -n $((N - 150000)) "$W/click.ndjson" >"$W/base.ndjson"
tail -n 150000 "$W/click.ndjson" | split -l 10000 - "$W/batch."
"$NEW" gen bank --events 1000000 --accounts 10000 --seed 3 >"$W/bank.ndjson"
cp examples/pageviews_hourly.json examples/balances.json "$W/"
for v in old new; do
	E=$OLD; [ $v = new ] && E=$NEW
	"$E" -d "$W/click-$v" append "$W/click.ndjson" >/dev/null
	"$E" -d "$W/bank-$v" append "$W/bank.ndjson" >/dev/null
done

# t CMD...: seconds of wall time of CMD (output discarded).
t() { local t0; t0=$(now); "$@" >/dev/null 2>&1; calc "$(now) - $t0" 4; }

ingest() { rm -rf "$W/in-$1"; t "$2" -d "$W/in-$1" append "$W/click.ndjson"; }
replay() { rm -rf "$W/click-$1/idx/win"; t "$2" -d "$W/click-$1" windows "$W/pageviews_hourly.json"; }
incremental() {
	rm -rf "$W/inc-$1"
	"$2" -d "$W/inc-$1" append "$W/base.ndjson" >/dev/null
	"$2" -d "$W/inc-$1" windows "$W/pageviews_hourly.json" >/dev/null
	local t0 f; t0=$(now)
	for f in "$W"/batch.*; do
		"$2" -d "$W/inc-$1" append "$f" >/dev/null
		"$2" -d "$W/inc-$1" windows "$W/pageviews_hourly.json" >/dev/null
	done
	calc "$(now) - $t0" 4
}
project() { rm -rf "$W/bank-$1/idx/proj"; t "$2" -d "$W/bank-$1" project "$W/balances.json"; }
asof() {
	local t0 i; t0=$(now)
	for i in $(seq 1 200); do
		"$2" -d "$W/bank-$1" project "$W/balances.json" --key "account-$(printf '%06d' $((i * 37 % 10000)))" \
			--as-of "2025-01-$(printf '%02d' $((i % 28 + 1)))T12:00:00Z" >/dev/null
	done
	calc "$(now) - $t0" 4
}
sessions() { rm -rf "$W/click-$1/idx/sess"; t "$2" -d "$W/click-$1" sessions; }

# The answers first: every query gives the same rows with either build.
for q in "windows $W/pageviews_hourly.json" "project $W/balances.json" "sessions" "types"; do
	d=click; [ "${q%% *}" = project ] && d=bank
	# shellcheck disable=SC2086
	"$OLD" -d "$W/$d-old" $q | sort >"$W/a.old"
	# shellcheck disable=SC2086
	"$NEW" -d "$W/$d-new" $q | sort >"$W/a.new"
	cmp -s "$W/a.old" "$W/a.new" || die "answers differ: $q"
done
log "answers equal; $RUNS runs of each workload, old and new alternated"

printf '| workload | old median (s) | new median (s) | new/old | old spread |\n|---|---|---|---|---|\n'
for wl in ingest replay incremental project asof sessions; do
	o=() n=()
	for ((r = 0; r < RUNS; r++)); do
		o+=("$($wl old "$OLD")")
		n+=("$($wl new "$NEW")")
	done
	mo=$(median "${o[@]}") mn=$(median "${n[@]}")
	lo=$(printf '%s\n' "${o[@]}" | sort -g | head -1) hi=$(printf '%s\n' "${o[@]}" | sort -g | tail -1)
	printf '| %s | %s | %s | %s | %s–%s |\n' "$wl" "$mo" "$mn" "$(calc "$mn / $mo" 3)" "$lo" "$hi"
done

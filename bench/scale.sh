#!/usr/bin/env bash
# bench/scale.sh — engram at scale: append, reindex, verify and a projection
# over a store of N clickstream events, each step's time and peak RSS
# (sampled from /proc), at a tenth of N first and then at N, so that the two rows show
# whether memory grows with the log.  Run once by hand (`make bench-scale`),
# not by `make test`: at the default 100M events the store is about 25 GB.
#
#   bench/scale.sh [--events N] [--dir DIR] [--out FILE] [--keep]
#
#   --events N   events of the large store (default 100000000)
#   --dir DIR    where the stores go (default /var/tmp/engram-scale); it
#                needs room for both (about 280 bytes an event)
#   --out FILE   the results (default bench/results/SCALE.md)
#   --keep       keep the stores
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=100000000
DIR=/var/tmp/engram-scale
OUT=bench/results/SCALE.md
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2; shift 2 ;;
	--dir) DIR=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
E=$PWD/bin/engram
[ -x "$E" ] || { echo "scale.sh: build first (make)" >&2; exit 2; }
mkdir -p "$DIR"
[ "$KEEP" = 1 ] || trap 'rm -rf "$DIR"/store-*' EXIT

# One visitor per 100 events over 90 days: a million streams at 100M.
SPEC=$DIR/per_user.json
cat >"$SPEC" <<'EOF'
{"name": "per_user", "key": "stream", "snapshot_every": 1000000,
 "fields": {"events": {"count": true}, "last_type": {"last": "type"},
            "spent_ms": {"sum": "data.duration_ms"}}}
EOF

rows=()
# step NAME N STORE CMD...: run CMD, with its wall time and two peaks from
# /proc/PID/status sampled every 50 ms: VmHWM (all resident pages, the
# store's mapped file pages among them: the kernel can drop those at will)
# and RssAnon (the process's own memory: what must stay bounded).  With
# FEED set, CMD reads the output of the shell command FEED.
FEED=
step() {
	local name=$1 n=$2 store=$3
	shift 3
	echo "== $name ($n events)" >&2
	local t0 pid hwm=0 anon=0 v
	t0=$(now)
	if [ -n "$FEED" ]; then
		sh -c "$FEED" | "$@" >"$DIR/$name.out" 2>"$DIR/$name.err" &
	else
		"$@" >"$DIR/$name.out" 2>"$DIR/$name.err" &
	fi
	pid=$!
	while [ -r /proc/$pid/status ]; do
		v=$(awk '/^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } END { print h + 0, a + 0 }' \
			/proc/$pid/status 2>/dev/null) || break
		set -- $v
		[ "${1:-0}" -le "$hwm" ] || hwm=$1
		[ "${2:-0}" -le "$anon" ] || anon=$2
		sleep 0.05
	done
	wait $pid || { echo "scale.sh: $name failed: $(tail -3 "$DIR/$name.err")" >&2; exit 1; }
	local secs rate
	secs=$(calc "$(now) - $t0" 2)
	rate=$(calc "$n / $secs / 1000000" 2)
	rows+=("| $name | $n | $secs | $rate | $((anon / 1024)) | $((hwm / 1024)) | $(calc "$(bytes "$store") / 1073741824" 2) GiB |")
	echo "   $secs s, $rate M events/s, peak RssAnon $((anon / 1024)) MiB, VmHWM $((hwm / 1024)) MiB" >&2
}

run_size() {
	local n=$1 store=$DIR/store-$1
	rm -rf "$store"
	local users=$((n / 100))
	# the generator's pace bounds the append's wall time; its RSS is not counted
	FEED="'$E' gen clickstream --events $n --users $users --days 90 --seed 7"
	step append "$n" "$store" "$E" -d "$store" append --batch 100000
	FEED=
	step reindex "$n" "$store" "$E" -d "$store" reindex
	step verify "$n" "$store" "$E" -d "$store" verify
	step project "$n" "$store" "$E" -d "$store" --format ndjson project "$SPEC"
	local got
	got=$(wc -l <"$DIR/project.out")
	[ "$got" -gt 0 ] || { echo "scale.sh: the projection printed nothing" >&2; exit 1; }
	step "project again" "$n" "$store" "$E" -d "$store" --format ndjson project "$SPEC"
	rm -rf "$store"
}

t0=$(now)
run_size $((EVENTS / 10))
run_size "$EVENTS"
{
	echo "# engram at scale"
	echo
	echo "\`bench/scale.sh --events $EVENTS\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB," \
		"commit $(git_version)), $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s in all."
	echo "Clickstream events from \`engram gen clickstream --users N/100 --days 90 --seed 7\`;"
	echo "append in batches of 100,000 with \`--sync always\` (the generator feeds it"
	echo "through a pipe, so its pace bounds the append's time); the projection keys by"
	echo "stream (N/100 keys), first from nothing, then again from its snapshots."
	echo "Memory is sampled from /proc/PID/status of the engram process every 50 ms"
	echo "(the generator's not included): RssAnon is its own memory (heap, stacks),"
	echo "VmHWM its peak resident set, which also counts the pages of the store it"
	echo "has mapped (page cache the kernel reclaims as it needs)."
	echo
	echo "| step | events | seconds | M events/s | peak RssAnon MiB | VmHWM MiB | store |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
} >"$OUT"
cat "$OUT"

#!/usr/bin/env bash
# bench/storage.sh [--events N] [--runs R] [--configs "BS/LV ..."]
#
# Sealed segments (docs/STORAGE.md, "Sealed segments") on `gen clickstream
# --events N --late 0.05 --seed 7`: bytes per event of the store (log/ and
# idx/) before and after engram compact at each block size and zstd level,
# compact's speed, `engram read > /dev/null` in events/s on the plain and the
# sealed store (alternating, medians of R runs) with its peak RSS, and the
# time to read one stream and one event (a process each).  Prints a Markdown
# report (bench/results/storage.md keeps one).  It measures; it asserts
# nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
EVENTS=1000000 RUNS=5 CONFIGS="64k/3 128k/3 256k/3 256k/6 1M/3 1M/6"
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--configs) CONFIGS=$2; shift 2 ;;
	*) echo "usage: bench/storage.sh [--events N] [--runs R] [--configs \"BS/LV ...\"]" >&2; exit 2 ;;
	esac
done
. bench/lib.sh
[ -x "$ENGRAM" ] || die "no bin/engram; run make first"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: sudo apt-get install -y time"
workdir storage "${KEEP:-0}"

log "generating $EVENTS clickstream events"
"$ENGRAM" gen clickstream --events "$EVENTS" --late 0.05 --seed 7 >"$W/click.ndjson"
log "appending (plain, --seal never)"
timed "$W/append.out" "$ENGRAM" -d "$W/plain" --seal never append --sync always "$W/click.ndjson"
APPEND_PLAIN=$SECS
per_ev() { calc "$1 / $EVENTS" 1; }
LOG0=$(bytes "$W/plain/log") IDX0=$(bytes "$W/plain/idx")

echo "# Sealed segments: storage and reads ($EVENTS clickstream events)"
echo
echo "\`bench/storage.sh --events $EVENTS --runs $RUNS\`; $(nproc) cores; load average at start: $LOAD0."
echo "Times are medians of $RUNS runs (reads alternate plain and sealed)."
echo
echo "## Bytes per event after engram compact"
echo
echo "Plain store: log/ $(per_ev "$LOG0") B/event, idx/ $(per_ev "$IDX0") B/event, whole $(per_ev "$((LOG0 + IDX0))") B/event."
echo
echo "| block | level | log/ B/event | ratio | whole store B/event | compact s | compact MB/s (logical) |"
echo "|---|---|---|---|---|---|---|"
for c in $CONFIGS; do
	bs=${c%/*} lv=${c#*/}
	rm -rf "$W/z"
	cp -a "$W/plain" "$W/z"
	timed "$W/compact.out" "$ENGRAM" -d "$W/z" compact --block-size "$bs" --level "$lv"
	L=$(bytes "$W/z/log") I=$(bytes "$W/z/idx")
	echo "| $bs | $lv | $(per_ev "$L") | $(calc "$LOG0 / $L" 2) | $(per_ev "$((L + I))") | $SECS | $(calc "$LOG0 / 1048576 / $SECS" 0) |"
done

# The reads: the default seal (what engram compact does without options).
rm -rf "$W/z"
cp -a "$W/plain" "$W/z"
"$ENGRAM" -d "$W/z" compact >/dev/null
warm "$W/plain"
warm "$W/z"
declare -a RP RZ RPM RZM
for i in $(seq "$RUNS"); do
	timed /dev/null "$ENGRAM" -d "$W/plain" read
	RP+=("$SECS") RPM+=("$RSS")
	timed /dev/null "$ENGRAM" -d "$W/z" read
	RZ+=("$SECS") RZM+=("$RSS")
done
tp=$(median "${RP[@]}") tz=$(median "${RZ[@]}")
echo
echo "## engram read > /dev/null (whole store, default seal: 256k blocks, level 3)"
echo
echo "| store | seconds | events/s | peak RSS MB |"
echo "|---|---|---|---|"
echo "| plain | $tp | $(calc "$EVENTS / $tp" 0) | $(calc "$(median "${RPM[@]}") / 1024" 0) |"
echo "| sealed | $tz | $(calc "$EVENTS / $tz" 0) | $(calc "$(median "${RZM[@]}") / 1024" 0) |"

# One stream (the longest) and one event in the middle, a process each.
S=$("$ENGRAM" -d "$W/plain" streams --format csv | tail -n +2 | sort -t, -k2,2nr | sed -n 1p)
SN=${S%%,*} SC=$(echo "$S" | cut -d, -f2)
MID=$((EVENTS / 2 + 17))
declare -a SP SZ EP EZ
for i in $(seq "$RUNS"); do
	timed /dev/null "$ENGRAM" -d "$W/plain" read --stream "$SN"; SP+=("$SECS")
	timed /dev/null "$ENGRAM" -d "$W/z" read --stream "$SN"; SZ+=("$SECS")
	timed /dev/null "$ENGRAM" -d "$W/plain" read --from "$MID" --to "$MID"; EP+=("$SECS")
	timed /dev/null "$ENGRAM" -d "$W/z" read --from "$MID" --to "$MID"; EZ+=("$SECS")
done
echo
echo "## One stream, one event (a whole engram process each)"
echo
echo "| read | plain s | sealed s |"
echo "|---|---|---|"
echo "| --stream $SN ($SC events) | $(median "${SP[@]}") | $(median "${SZ[@]}") |"
echo "| --from $MID --to $MID | $(median "${EP[@]}") | $(median "${EZ[@]}") |"

# Append with background sealing (the default) against without.
declare -a AN AA
for i in $(seq "$RUNS"); do
	rm -rf "$W/a"
	timed /dev/null "$ENGRAM" -d "$W/a" --seal never append --sync always "$W/click.ndjson"; AN+=("$SECS")
	rm -rf "$W/a"
	timed /dev/null "$ENGRAM" -d "$W/a" append --sync always "$W/click.ndjson"; AA+=("$SECS")
done
SEALED=$(for f in "$W"/a/log/*.seg; do head -c 8 "$f"; echo; done | grep -c ENGRAMSZ || true)
echo
echo "## engram append --sync always of the same file, 64M segments"
echo
echo "| sealing | seconds | segments sealed when append returned |"
echo "|---|---|---|"
echo "| --seal never | $(median "${AN[@]}") | 0 |"
echo "| --seal auto (default) | $(median "${AA[@]}") | $SEALED of $(ls "$W"/a/log/*.seg | wc -l) |"
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."

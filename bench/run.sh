#!/usr/bin/env bash
# bench/run.sh [--events N] [--big N] [--quick] [--runs R]
#
# The core-store benchmark: engram against DuckDB on the same generated
# NDJSON file, in the same run.  Medians of R (default 3) runs.  Writes
# bench/results/core.md and prints it.  It measures; it asserts nothing about
# speed (the targets are reported as met or missed).
#   --events N  events in the main file (default 1000000)
#   --big N     events in the file appended for peak memory (default 10000000)
#   --quick     skip the big-memory step (same as --big 0)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}   # ENGRAM=… to bench another build
EVENTS=1000000 BIG=10000000 RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2; shift 2 ;;
	--big) BIG=$2; shift 2 ;;
	--quick) BIG=0; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	*) echo "usage: bench/run.sh [--events N] [--big N] [--quick] [--runs R]" >&2; exit 2 ;;
	esac
done
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, list, ok, git_version, need_engram, workdir
[ -x "$ENGRAM" ] || die "no bin/engram; run make first"

# --- dependencies: /usr/bin/time (Debian package `time`), DuckDB from npm
if [ ! -x /usr/bin/time ]; then
	[ "$(id -u)" = 0 ] || die "/usr/bin/time missing: sudo apt-get install -y time"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
[ -d bench/node_modules/@duckdb/node-api ] || (cd bench && npm ci --no-audit --no-fund --loglevel=error)

workdir run

# --- helpers
MB=1000000 MIB=1048576

# --- the data
log "generating $EVENTS events"
"$ENGRAM" gen bank --events "$EVENTS" --seed 1 >"$W/events.ndjson"
IN_BYTES=$(stat -c %s "$W/events.ndjson")
[ "$(wc -l <"$W/events.ndjson")" = "$EVENTS" ] || die "gen wrote the wrong number of lines"

# --- append: engram vs DuckDB, interleaved, fresh store / database each run
E_S=() E_RSS=() D_S=() D_WALL=() D_RSS=()
for r in $(seq "$RUNS"); do
	log "append run $r/$RUNS"
	rm -rf "$W/store"
	timed "$W/append.json" "$ENGRAM" -d "$W/store" append --sync always "$W/events.ndjson"
	[ "$(jnum appended "$W/append.json")" = "$EVENTS" ] || die "engram append: $(cat "$W/append.json")"
	E_S+=("$SECS") E_RSS+=("$RSS")

	rm -f "$W"/db.duckdb*
	timed "$W/duck.json" node bench/duckdb_load.mjs "$W/events.ndjson" "$W/db.duckdb"
	[ "$(jnum rows "$W/duck.json")" = "$EVENTS" ] || die "duckdb load: $(cat "$W/duck.json")"
	D_S+=("$(jnum total_s "$W/duck.json")") D_WALL+=("$SECS") D_RSS+=("$RSS")
done
E_MED=$(median "${E_S[@]}") D_MED=$(median "${D_S[@]}") DW_MED=$(median "${D_WALL[@]}")
DUCKDB_V=$(grep -o '"duckdb":"[^"]*"' "$W/duck.json" | cut -d'"' -f4)
E_DISK=$(bytes "$W/store") D_DISK=$(bytes "$W"/db.duckdb*)

# --- read everything back (the last store), to /dev/null
log "read"
"$ENGRAM" -d "$W/store" read >"$W/read.ndjson"   # also warms the cache
[ "$(wc -l <"$W/read.ndjson")" = "$EVENTS" ] || die "engram read: wrong line count"
OUT_BYTES=$(stat -c %s "$W/read.ndjson"); rm "$W/read.ndjson"
R_S=() RN_S=()
for r in $(seq "$RUNS"); do
	timed /dev/null "$ENGRAM" -d "$W/store" read; R_S+=("$SECS")
	timed /dev/null "$ENGRAM" -d "$W/store" --format ndjson read; RN_S+=("$SECS")
done
R_MED=$(median "${R_S[@]}") RN_MED=$(median "${RN_S[@]}")
rm -rf "$W/store" "$W"/db.duckdb*

# --- peak memory while appending a big file
if [ "$BIG" -gt 0 ]; then
	log "generating $BIG events for the memory run"
	"$ENGRAM" gen bank --events "$BIG" --seed 2 >"$W/big.ndjson"
	BIG_BYTES=$(stat -c %s "$W/big.ndjson")
	log "appending them"
	timed "$W/append.json" "$ENGRAM" -d "$W/big" append --sync always "$W/big.ndjson"
	[ "$(jnum appended "$W/append.json")" = "$BIG" ] || die "engram append (big): $(cat "$W/append.json")"
	BIG_S=$SECS BIG_RSS=$RSS
	rm -rf "$W/big" "$W/big.ndjson"
fi

# --- the disk's physical limits
log "dd"
t0=$(now); dd if=/dev/zero of="$W/dd" bs=1M count=512 conv=fdatasync status=none
DD_MBS=$(calc "512 * $MIB / $MB / ($(now) - $t0)" 0)
t0=$(now); dd if=/dev/zero of="$W/dd" bs=4k count=500 oflag=dsync status=none
DD_SYNCS=$(calc "500 / ($(now) - $t0)" 0)
rm -f "$W/dd"

# --- report
N=$EVENTS
eps() { calc "$N / $1" 0; }
mbs() { calc "$IN_BYTES / $MB / $1" 1; }
mib() { calc "$(median "$@") / 1024" 0; }
per() { calc "$1 / $N" 1; }
RATIO=$(calc "$D_MED / $E_MED" 2) RATIO_W=$(calc "$DW_MED / $E_MED" 2)
R_EPS=$(eps "$R_MED")
ENGRAM_V=$("$ENGRAM" --version 2>/dev/null | awk '{ print $NF; exit }' || true)
GIT_V=$(git_version)
{
	echo "# engram core benchmark"
	echo
	echo "$N events from \`engram gen bank --seed 1\`: $IN_BYTES bytes of NDJSON," \
		"$(per "$IN_BYTES") bytes/event. Median of $RUNS runs (all runs in brackets)."
	echo
	echo "## Append (durable)"
	echo
	echo "| system | median s | events/s | MB/s | engram speed ÷ this | bytes/event on disk | peak RSS MiB |"
	echo "|---|---|---|---|---|---|---|"
	echo "| engram \`append --sync always\` | $E_MED ($(list "${E_S[@]}")) | $(eps "$E_MED") | $(mbs "$E_MED") | 1.00 | $(per "$E_DISK") | $(mib "${E_RSS[@]}") |"
	echo "| DuckDB \`read_json\` → table + CHECKPOINT, timed in node | $D_MED ($(list "${D_S[@]}")) | $(eps "$D_MED") | $(mbs "$D_MED") | $RATIO | $(per "$D_DISK") | $(mib "${D_RSS[@]}") |"
	echo "| DuckDB, whole node process | $DW_MED ($(list "${D_WALL[@]}")) | $(eps "$DW_MED") | $(mbs "$DW_MED") | $RATIO_W | | |"
	echo "| NDJSON input | | | | | $(per "$IN_BYTES") | |"
	echo
	echo "## Read all events to /dev/null"
	echo
	echo "Output: $OUT_BYTES bytes of NDJSON, $(per "$OUT_BYTES") bytes/event (every envelope field)."
	echo
	echo "| command | median s | events/s | MB/s out |"
	echo "|---|---|---|---|"
	echo "| \`engram read\` | $R_MED ($(list "${R_S[@]}")) | $R_EPS | $(calc "$OUT_BYTES / $MB / $R_MED" 1) |"
	echo "| \`engram --format ndjson read\` | $RN_MED ($(list "${RN_S[@]}")) | $(eps "$RN_MED") | $(calc "$OUT_BYTES / $MB / $RN_MED" 1) |"
	echo
	if [ "$BIG" -gt 0 ]; then
		echo "## Memory"
		echo
		echo "Appending $BIG events ($BIG_BYTES bytes) with \`--sync always\`: peak RSS" \
			"**$(calc "$BIG_RSS / 1024" 0) MiB**, $BIG_S s, $(calc "$BIG / $BIG_S" 0) events/s."
		echo
	fi
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	echo "| append at least as fast as DuckDB (aim 2×) | ${RATIO}× | $(ok "$RATIO >= 1") |"
	echo "| read ≥ 5M events/s | $R_EPS | $(ok "$R_EPS >= 5000000") |"
	[ "$BIG" = 0 ] || echo "| < 256 MiB while appending $BIG events | $(calc "$BIG_RSS / 1024" 0) MiB | $(ok "$BIG_RSS < 256 * 1024") |"
	echo "| bytes/event on disk ≤ NDJSON's | $(per "$E_DISK") vs $(per "$IN_BYTES") | $(ok "$E_DISK <= $IN_BYTES") |"
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- disk: $(findmnt -n -o SOURCE,FSTYPE -T "$W" | tr -s ' '); dd 1 MiB writes + fdatasync:" \
		"$DD_MBS MB/s; dd 4 KiB writes with O_DSYNC: $DD_SYNCS/s"
	echo "- Linux $(uname -r); engram ${ENGRAM_V:-?} (git: $GIT_V); DuckDB $DUCKDB_V" \
		"(@duckdb/node-api $(node -p "require('./bench/node_modules/@duckdb/node-api/package.json').version")); node $(node --version)"
	echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"
	echo "- page cache not dropped between runs (not possible here); the input file is cached for both"
} >bench/results/core.md
cat bench/results/core.md

#!/usr/bin/env bash
# bench/proj.sh [--events N] [--accounts A] [--quick] [--runs R] [--queries Q] [--keep]
#
# The projection benchmark (issue 3, "Speed"): one key's state as of a past
# time through the C API and the CLI, every key's state, what projections
# cost append, and the same as-of balance in SQLite (checked equal to the
# cent before anything is timed).  Writes bench/results/proj.md and prints
# it.  It measures; it asserts nothing about speed (targets: met or missed).
#   --events N    events from `engram gen bank --seed 1` (default 10000000)
#   --accounts A  accounts (default 100000)
#   --quick       200000 events, 2000 accounts: a smoke run
#   --runs R      runs of each whole-process measurement (default 3)
#   --queries Q   random one-key queries per mode (default 1000)
#   --keep        keep the work directory (stores, SQLite file) for profiling
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}   # ENGRAM=… to bench another build
EVENTS=10000000 ACCOUNTS=100000 RUNS=3 QUERIES=1000 CLI_RUNS=20 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2; shift 2 ;;
	--accounts) ACCOUNTS=$2; shift 2 ;;
	--quick) EVENTS=200000 ACCOUNTS=2000; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--queries) QUERIES=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/proj.sh [--events N] [--accounts A] [--quick] [--runs R] [--queries Q] [--keep]" >&2; exit 2 ;;
	esac
done
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, list, ok, git_version, need_engram, workdir
need_engram
pkg-config --exists sqlite3 || die "SQLite headers missing: sudo apt-get install -y libsqlite3-dev"

workdir proj "$KEEP"

# --- helpers
# append STORE FILE N [OPTS...]: timed engram append --sync none; sets SECS
append() {
	local store=$1 file=$2 n=$3; shift 3
	timed "$W/append.json" "$ENGRAM" -d "$store" append --sync none "$@" "$file"
	[ "$(jnum appended "$W/append.json")" = "$n" ] || die "append: $(cat "$W/append.json")"
}
B="$W/proj_bench"   # proj_bench CMD...: the C side; its JSON figures on stdout

log "building bench/proj_bench.c"
cc -O2 -g -std=c11 -D_GNU_SOURCE -Iinclude bench/proj_bench.c build/libengram.a \
	$(engram_libs) -o "$B"

TYPES='["account_opened","deposit","withdrawal","fee","account_closed"]'
BALANCE='"balance":{"sum":"data.amount","sign":{"withdrawal":-1,"fee":-1}}'
cat >"$W/spec.json" <<EOF
{"name":"balances","key":"stream","types":$TYPES,"fields":{$BALANCE,"deposits":{"count":true,"types":["deposit"]},"largest":{"max":"data.amount","types":["deposit"]},"smallest":{"min":"data.amount"},"opened":{"first":"time"},"owner":{"last":"data.owner"},"open":{"open":["account_opened"],"close":["account_closed"]}},"snapshot_every":100000}
EOF
# The same balance alone: is the gap to SQLite the other six fields?
echo "{\"name\":\"balance\",\"key\":\"stream\",\"types\":$TYPES,\"fields\":{$BALANCE},\"snapshot_every\":100000}" >"$W/balance.json"

# --- the data: the whole file, and its first 90% and last 10%
log "generating $EVENTS events, $ACCOUNTS accounts"
t0=$(now)
"$ENGRAM" gen bank --events "$EVENTS" --accounts "$ACCOUNTS" --seed 1 >"$W/events.ndjson"
GEN_S=$(calc "$(now) - $t0" 1) IN_BYTES=$(stat -c %s "$W/events.ndjson")
TAIL_N=$((EVENTS / 10)) HEAD_N=$((EVENTS - EVENTS / 10))
head -n "$HEAD_N" "$W/events.ndjson" >"$W/head.ndjson"
tail -n "$TAIL_N" "$W/events.ndjson" >"$W/tail.ndjson"

# --- append the whole file as one batch (the issue's command), no projection
log "append $EVENTS events, one batch"
append "$W/one" "$W/events.ndjson" "$EVENTS"
APPEND_S=$SECS APPEND_RSS=$RSS
rm -rf "$W/one"

# --- the store queried below: the same file in 100 batches, so that the
# events carry 100 record times and --known-at has a past to ask about
BATCH=$(( EVENTS / 100 ))
log "append $EVENTS events, --batch $BATCH"
append "$W/store" "$W/events.ndjson" "$EVENTS" --batch "$BATCH"
APPEND_B_S=$SECS
"$ENGRAM" -d "$W/store" stats >"$W/stats.json"
log "first projection build (folds all $EVENTS events, saves snapshots)"
"$B" build "$W/store" "$W/spec.json" >"$W/build.json"
BUILD_S=$(jnum open_s "$W/build.json") BUILD_SAVED=$(jnum saved "$W/build.json")
"$B" build "$W/store" "$W/balance.json" >"$W/build_bal.json"
log "load the events into SQLite"
"$B" sqlite-load "$W/store" "$W/events.sqlite" >"$W/sqlite.json"
[ "$(jnum rows "$W/sqlite.json")" = "$EVENTS" ] || die "sqlite load: $(cat "$W/sqlite.json")"

# --- one-key queries through the C API, checked against SQLite, then timed
log "$QUERIES queries per mode through the C API (and SQLite)"
"$B" query "$W/store" "$W/spec.json" "$W/events.sqlite" "$QUERIES" "$QUERIES" 1 "$W/pairs" >"$W/q.json"
"$B" query "$W/store" "$W/balance.json" "$W/events.sqlite" "$QUERIES" 0 1 "$W/pairs_bal" >"$W/qb.json"
q() { jnum "$1" "$W/q.json"; }

# --- the CLI: one key as of a time, whole process; every key's state
log "CLI: $CLI_RUNS one-key as-of queries, $RUNS all-key runs"
CLI_S=() CLI_RSS=()
while read -r key t; do
	timed "$W/one.out" "$ENGRAM" -d "$W/store" project "$W/spec.json" --key "$key" --as-of "$t"
	CLI_S+=("$SECS") CLI_RSS+=("$RSS")
done < <(head -n "$CLI_RUNS" "$W/pairs")
"$ENGRAM" -d "$W/store" project "$W/spec.json" >"$W/all.ndjson"
ALL_ROWS=$(wc -l <"$W/all.ndjson")
[ "$ALL_ROWS" = "$(q scan_rows)" ] || die "CLI printed $ALL_ROWS rows, eg_proj_scan $(q scan_rows)"
ALL_S=()
for r in $(seq "$RUNS"); do
	timed /dev/null "$ENGRAM" -d "$W/store" project "$W/spec.json"; ALL_S+=("$SECS")
done
CLI_MED=$(median "${CLI_S[@]}") ALL_MED=$(median "${ALL_S[@]}")
[ "$KEEP" = 1 ] || rm -rf "$W/store" "$W/events.sqlite" "$W/events.ndjson"

# --- append with and without a projection having been run.  Two copies of
# one store of the first 90%: a projection is built on one of them, then
# the last 10% is appended to each (interleaved, fresh copies each run),
# and the projection catches up with what was appended.
log "append $TAIL_N events to $HEAD_N, with and without a projection ($RUNS runs)"
append "$W/base" "$W/head.ndjson" "$HEAD_N"
rm "$W/head.ndjson"
cp -a "$W/base" "$W/base_proj"
"$B" build "$W/base_proj" "$W/spec.json" >"$W/build90.json"
NO_S=() WITH_S=() CATCH_S=()
for r in $(seq "$RUNS"); do
	cp -a "$W/base" "$W/a" && cp -a "$W/base_proj" "$W/b"
	sync   # the copies' writeback would otherwise land inside the timed appends
	if [ $((r % 2)) = 1 ]; then
		append "$W/a" "$W/tail.ndjson" "$TAIL_N"; NO_S+=("$SECS")
		append "$W/b" "$W/tail.ndjson" "$TAIL_N"; WITH_S+=("$SECS")
	else
		append "$W/b" "$W/tail.ndjson" "$TAIL_N"; WITH_S+=("$SECS")
		append "$W/a" "$W/tail.ndjson" "$TAIL_N"; NO_S+=("$SECS")
	fi
	"$B" build "$W/b" "$W/spec.json" >"$W/catch.json"
	CATCH_S+=("$(jnum open_s "$W/catch.json")") FOLDED=$(jnum folded "$W/catch.json")
	rm -rf "$W/a" "$W/b"
done
NO_MED=$(median "${NO_S[@]}") WITH_MED=$(median "${WITH_S[@]}") CATCH_MED=$(median "${CATCH_S[@]}")

# --- report
N=$EVENTS
jstr() { grep -o "\"$1\":\"[^\"]*\"" "$W/stats.json" | cut -d'"' -f4; }   # a time of engram stats
secs_of() { date -d "$(jstr "$1")" +%s.%N; }
row() { echo "| $1 | $(q "$2_p50_us") | $(q "$2_p90_us") | $(q "$2_p99_us") | $(q "$2_max_us") | $(q "$2_mean_us") | $3 |"; }
APPEND_RATIO=$(calc "$WITH_MED / $NO_MED" 3)
CATCH_RATIO=$(calc "($CATCH_MED / $FOLDED) / ($WITH_MED / $TAIL_N)" 2)   # per event
BAL_RATIO=$(jnum ratio_median "$W/qb.json")
GIT_V=$(git_version)
{
	echo "# engram projection benchmark"
	echo
	echo "$N events, $ACCOUNTS accounts from \`engram gen bank --seed 1\` ($IN_BYTES bytes of NDJSON," \
		"generated in $GEN_S s): $(q keys) streams, event times $(jstr time_min) to $(jstr time_max);" \
		"appended in 100 batches recorded over $(calc "$(secs_of recorded_max) - $(secs_of recorded_min)" 1) s."
	echo "Spec: the \`balances\` spec of docs/PROJECTIONS.md (7 fields), \`snapshot_every\` 100000."
	echo
	echo "## Building the projection"
	echo
	echo "| step | s | events/s |"
	echo "|---|---|---|"
	echo "| \`engram append --sync none\` of the file, one batch (no projection) | $APPEND_S | $(calc "$N / $APPEND_S" 0) |"
	echo "| the same with \`--batch $BATCH\` (the store queried below) | $APPEND_B_S | $(calc "$N / $APPEND_B_S" 0) |"
	echo "| first \`eg_proj_open\`: fold all $N events, save $BUILD_SAVED snapshot(s) | $BUILD_S | $(calc "$N / $BUILD_S" 0) |"
	echo "| the same, balance-only spec | $(jnum open_s "$W/build_bal.json") | $(calc "$N / $(jnum open_s "$W/build_bal.json")" 0) |"
	echo "| \`eg_proj_open\` again (loads the snapshot) | $(q reopen_s) | |"
	echo
	echo "The first build takes $(calc "$BUILD_S / $APPEND_S" 2)× the time of the append."
	echo
	echo "## One key's state through the C API (\`eg_proj_get\`), µs"
	echo
	echo "$QUERIES random accounts (splitmix64, seed 1), each with a random as-of time in the" \
		"event-time range and a random known-at time in the record-time range. Every balance is" \
		"first checked against SQLite to the cent (that pass is timed too: \"first pass\": the" \
		"pages of the projection's files are not yet mapped in the process). As-of is then timed in" \
		"$(jnum passes "$W/q.json") passes over the same pairs, engram and SQLite in turn; each query's time is its" \
		"median over the passes (one pass alone swings by 3× from run to run in this virtual machine)." \
		"Known-at queries run in the checked pass only, for at most 60 s per mode (count in the last column)."
	echo
	echo "| query | p50 | p90 | p99 | max | mean | queries; mean chunks merged / entries read |"
	echo "|---|---|---|---|---|---|---|"
	row "\`--as-of\`" asof "$(q asof_n) ($(q asof_found) with a row); $(q asof_chunks_mean) / $(q asof_entries_mean)"
	row "\`--as-of\`, first pass" asof_first "$(q asof_n)"
	row "\`--known-at\`" knownat "$(q knownat_n); $(q knownat_chunks_mean) / $(q knownat_entries_mean)"
	row "\`--as-of\` \`--known-at\`" both "$(q both_n); $(q both_chunks_mean) / $(q both_entries_mean)"
	echo
	echo "## The same as-of balance in SQLite $(pkg-config --modversion sqlite3)"
	echo
	echo "Table \`events(pos INTEGER PRIMARY KEY, stream, type, time, recorded, amount)\` (times in µs," \
		"amount in integer cents), \`INDEX (stream, time)\`, loaded from the store in one transaction" \
		"in $(jnum sqlite_load_s "$W/sqlite.json") s + $(jnum sqlite_index_s "$W/sqlite.json") s for the index" \
		"($(calc "$(jnum sqlite_bytes "$W/sqlite.json") / 1000000" 0) MB). A prepared" \
		"\`SELECT SUM(CASE WHEN type IN ('withdrawal','fee') THEN -amount ELSE amount END) FROM events" \
		"WHERE stream=? AND time<=? AND type IN (…5 types)\`, the same $QUERIES (key, T) pairs;" \
		"all $QUERIES balances equal engram's (checked before timing). Ratio per query:" \
		"SQLite's time ÷ engram's for the same pair; its median and 10th percentile over the pairs," \
		"and the ratio of the mean times. The balance-only spec asks exactly SQLite's question (one SUM);" \
		"the \`balances\` spec also computes six more fields, one of them read from its event."
	echo
	echo "| | p50 µs | p99 µs | mean µs | SQLite ÷ engram per query: median (p10) | ratio of means |"
	echo "|---|---|---|---|---|---|"
	echo "| SQLite | $(q sqlite_p50_us) | $(q sqlite_p99_us) | $(q sqlite_mean_us) | | |"
	echo "| engram, balance-only spec | $(jnum asof_p50_us "$W/qb.json") | $(jnum asof_p99_us "$W/qb.json") | $(jnum asof_mean_us "$W/qb.json") | **${BAL_RATIO}×** ($(jnum ratio_p10 "$W/qb.json")×) | $(jnum ratio_mean "$W/qb.json")× |"
	echo "| engram, \`balances\` spec (7 fields) | $(q asof_p50_us) | $(q asof_p99_us) | $(q asof_mean_us) | $(q ratio_median)× ($(q ratio_p10)×) | $(q ratio_mean)× |"
	echo
	echo "## The CLI, whole process"
	echo
	echo "| command | median s (all runs) | peak RSS MiB |"
	echo "|---|---|---|"
	echo "| \`engram project SPEC --key K --as-of T\`, $CLI_RUNS different (K, T) | $CLI_MED ($(list "${CLI_S[@]}")) | $(calc "$(median "${CLI_RSS[@]}") / 1024" 0) |"
	echo "| \`engram project SPEC > /dev/null\` (all $ALL_ROWS keys, current state) | $ALL_MED ($(list "${ALL_S[@]}")) | |"
	echo "| \`eg_proj_scan\`, all keys, in process (median of 3) | $(q scan_s) ($(grep -o '"scan_runs": "[^"]*"' "$W/q.json" | cut -d'"' -f4)) | |"
	echo
	echo "## Append, with and without a projection"
	echo
	echo "Snapshots are saved by whoever queries a projection, never by \`append\`. Two copies of a" \
		"store of the first $HEAD_N events, one with the \`balances\` projection built on it" \
		"($(jnum open_s "$W/build90.json") s), each get the last $TAIL_N events appended" \
		"(\`--sync none\`, interleaved, fresh copies each run); then \`eg_proj_open\` on the second" \
		"catches up with those $TAIL_N events. Median of $RUNS runs (all in brackets)."
	echo
	echo "| step | median s | events/s |"
	echo "|---|---|---|"
	echo "| append $TAIL_N, no projection ever run | $NO_MED ($(list "${NO_S[@]}")) | $(calc "$TAIL_N / $NO_MED" 0) |"
	echo "| append $TAIL_N, a projection run before | $WITH_MED ($(list "${WITH_S[@]}")) | $(calc "$TAIL_N / $WITH_MED" 0) |"
	echo "| projection catch-up (\`eg_proj_open\`, folds the $FOLDED events after the last snapshot) | $CATCH_MED ($(list "${CATCH_S[@]}")) | $(calc "$FOLDED / $CATCH_MED" 0) |"
	echo
	echo "Append with ÷ without a projection: **${APPEND_RATIO}**. Catching the projection up costs" \
		"**${CATCH_RATIO}×** the time of appending as many events (per event)."
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	echo "| one key \`--as-of\`, p99 < 1 ms (C API) | $(q asof_p99_us) µs | $(ok "$(q asof_p99_us) < 1000") |"
	echo "| one key \`--known-at\`, p99 < 1 ms (C API) | $(q knownat_p99_us) µs | $(ok "$(q knownat_p99_us) < 1000") |"
	echo "| one key \`--as-of\` \`--known-at\`, p99 < 1 ms (C API) | $(q both_p99_us) µs | $(ok "$(q both_p99_us) < 1000") |"
	echo "| all keys' current state < 2 s (CLI, whole process) | $ALL_MED s | $(ok "$ALL_MED < 2") |"
	echo "| append unaffected by projections (≤ 10% slower) | ${APPEND_RATIO}× | $(ok "$APPEND_RATIO <= 1.10") |"
	echo "| ≥ 50× SQLite per as-of query (the same SUM: balance-only spec; median over the pairs) | ${BAL_RATIO}× (7-field spec: $(q ratio_median)×) | $(ok "$BAL_RATIO >= 50") |"
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- disk: $(findmnt -n -o SOURCE,FSTYPE,SIZE -T "$W" | tr -s ' '); every file here was in the page cache"
	echo "- Linux $(uname -r); engram $("$ENGRAM" --version 2>/dev/null | awk '{ print $NF; exit }' || true)" \
		"(git: $GIT_V); SQLite $(pkg-config --modversion sqlite3); $(cc --version | head -1), -O2"
	echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"
	echo "- command: \`bench/proj.sh --events $N --accounts $ACCOUNTS --runs $RUNS --queries $QUERIES\`" \
		"(\`make bench-proj BENCH_ARGS='…'\`)"
} >bench/results/proj.md
cat bench/results/proj.md

#!/usr/bin/env bash
# bench/sql.sh [--events N] [--tiny] [--runs R] [--out DIR] [--keep]
#
# The SQL benchmark (issue 20): the same SQL text run by `engram sql` over
# the store's events table, by `sqlite3` over a plain SQLite table holding
# the same rows (made with the extension: CREATE TABLE events AS SELECT …
# FROM engram_events('STORE')), the same with an index on (stream) and one
# on (type, time) for the queries an index answers, and by DuckDB over its
# own table of the same rows (bench/duckdb_sql.mjs).  Four kinds of query:
# one stream's events, two types in one day, full-scan aggregates, and the
# per-row cost of a scan.  Every answer is first checked equal across the
# systems (a difference stops the run); then each system runs each query
# R times, the systems alternating run by run.  Writes SQL.md into the
# output directory and prints it.  It measures; it asserts nothing about
# speed (the targets are reported met or missed).
#   --events N  one size (default: 1000000, then 10000000) of `engram gen
#               clickstream --events N --users N/100 --seed 7`
#   --tiny      5000 and 50000 events, one run: the answers checked, and
#               the report written to the work directory (thrown away)
#   --runs R    timed runs of each query on each system (default 5), after
#               one run that checks the answers
#   --out DIR   where SQL.md goes (default bench/results)
#   --keep      keep the work directory
# SQL_DATA=DIR keeps each size's store and databases in DIR/N and reuses
# them when they are there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, jnum, bytes, list, warm, ok, git_version, need_engram, need_duckdb, workdir, machine_md
SIZES="1000000 10000000" RUNS=5 KEEP=0 TINY=0 OUT=$ROOT/bench/results ARGS=""
while [ $# -gt 0 ]; do
	case $1 in
	--events) SIZES=$2 ARGS="$ARGS --events $2"; shift 2 ;;
	--tiny) TINY=1 SIZES="5000 50000" RUNS=1 ARGS="$ARGS --tiny"; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
need_engram
need_duckdb
command -v jq >/dev/null || die "jq missing: sudo apt-get install -y jq"
command -v sqlite3 >/dev/null || die "sqlite3 missing: sudo apt-get install -y sqlite3"
EXT=$ROOT/build/lib/libengram_sqlite.so
[ -f "$EXT" ] || die "no $EXT; run make first"
workdir sql "$KEEP"
[ "$TINY" = 0 ] || [ "$OUT" != "$ROOT/bench/results" ] || OUT=$W/results   # --tiny keeps no results
mkdir -p "$OUT"
SQLITE_V=$(sqlite3 --version | cut -d' ' -f1)
DUCK="node bench/duckdb_sql.mjs"
COLS="pos, id, stream, version, type, kind, time, recorded, actor, session, data, meta, time_us, recorded_us"
DUCK_COLS="pos, id, stream, version, type, kind, time, recorded, actor, session,
	data || '' AS data, meta || '' AS meta, time_us, recorded_us"   # JSON as strings

# --- the queries: NAME, the systems that run it, its SQL.  e: engram sql;
# s: sqlite3 on the plain table; i: sqlite3 on the indexed one; d: DuckDB.
# One stream's query runs for each of STREAMS (all of them exist at every
# size: a store of N events has N/100 visitors, and --tiny's smallest 50).
STREAMS="user-000003 user-000007 user-000013 user-000021 user-000042"
DAY=2025-01-03
declare -A SQL SYS
QUERIES="one stream typeday types hourly count count_time max_time len_type len_data"
SQL[one]="SELECT 1"
SQL[stream]="SELECT * FROM events WHERE stream = 'STREAM'"
SQL[typeday]="SELECT count(*) FROM events WHERE type IN ('add_to_cart', 'purchase') AND time BETWEEN '${DAY}T00:00:00Z' AND '${DAY}T23:59:59.999999Z'"
SQL[types]="SELECT type, count(*) FROM events GROUP BY type"
SQL[hourly]="SELECT substr(time, 1, 13) AS hour, data->>'page_url' AS page, count(*) FROM events WHERE type = 'page_view' GROUP BY 1, 2"
SQL[count]="SELECT count(*) FROM events"
SQL[count_time]="SELECT count(*) FROM events WHERE time_us > 0"
SQL[max_time]="SELECT max(time_us) FROM events"
SQL[len_type]="SELECT sum(length(type)) FROM events"
SQL[len_data]="SELECT sum(length(data)) FROM events"
for q in $QUERIES; do SYS[$q]="e s d"; done
SYS[stream]="e i s d" SYS[typeday]="e i s d"
declare -A NAME=([e]=engram [s]=SQLite [i]="SQLite, indexed" [d]=DuckDB)

# canon FILE: the rows of an output (engram's NDJSON, sqlite3 -json, the
# DuckDB driver's NDJSON) as sorted lines of their values, column names
# dropped (count(*) is count_star() in DuckDB) and JSON text parsed.
canon() {
	python3 - "$1" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
rows = json.loads(t) if t.startswith("[") else [json.loads(l) for l in t.splitlines() if l.strip()]
def v(x):
    if isinstance(x, str) and x[:1] in "{[":
        try:
            x = json.loads(x)
        except ValueError:
            return x
    if isinstance(x, (dict, list)):
        return json.dumps(x, sort_keys=True)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x
for line in sorted(json.dumps([v(x) for x in r.values()]) for r in rows):
    print(line)
EOF
}

# run SYS SQL OUT: one run of SQL on a system, its rows to OUT; SECS gets
# the seconds (a process's wall time; DuckDB's are timed inside node).
run() {
	local t0
	case $1 in
	e) t0=$(now); "$ENGRAM" -d "$D/store" --format ndjson sql "$2" >"$3" ;;
	s) t0=$(now); sqlite3 -json "$D/ev.sqlite" "$2" >"$3" ;;
	i) t0=$(now); sqlite3 -json "$D/evi.sqlite" "$2" >"$3" ;;
	d) SECS=$($DUCK query "$D/ev.duckdb" "$3" "$2" | jq -r .s); return ;;
	esac
	SECS=$(calc "$(now) - $t0" 5)
}
# warm_all: every system's files into the page cache (lib.sh's warm)
warm_all() {
	warm "$D/store"
	cat "$D"/ev.sqlite "$D"/evi.sqlite "$D"/ev.duckdb* >/dev/null
}
# check NAME SQL SYS...: the first system's answer is every other's, or the
# run stops; R[S.NAME.rows] adds up the rows of the answers, R[S.NAME.first]
# is the first row's values
check() {
	local name=$1 sql=$2 s; shift 2
	for s in "$@"; do run "$s" "$sql" "$W/$s.out"; canon "$W/$s.out" >"$W/$s.canon"; done
	for s in "${@:2}"; do
		if ! cmp -s "$W/$1.canon" "$W/$s.canon"; then
			diff "$W/$1.canon" "$W/$s.canon" | head -10 >&2 || true
			die "$S events, $name: ${NAME[$s]} differs from engram (< engram, > peer): $sql"
		fi
	done
	R[$S.$name.rows]=$(( ${R[$S.$name.rows]:-0} + $(wc -l <"$W/$1.canon") ))
	R[$S.$name.first]=$(head -1 "$W/$1.canon" | tr -d '[]')   # a count: its value
}
declare -A R T   # R: figures; T[SIZE.QUERY.SYS]: the times of its runs

# measure NAME: check the answers, then RUNS runs of each system, the
# systems taking turns; the stream query once per stream in each run
measure() {
	local name=$1 r s sql k sqls=()
	if [ "$name" = stream ]; then
		for k in $STREAMS; do sqls+=("${SQL[stream]//STREAM/$k}"); done
	else
		sqls=("${SQL[$name]}")
	fi
	for sql in "${sqls[@]}"; do
		check "$name" "$sql" ${SYS[$name]}
		[ "$name" != stream ] || [ -s "$W/e.canon" ] || die "$S events: no events in $sql"
	done
	for r in $(seq "$RUNS"); do
		warm_all
		for sql in "${sqls[@]}"; do
			for s in ${SYS[$name]}; do
				run "$s" "$sql" "$W/out"
				T[$S.$name.$s]="${T[$S.$name.$s]:-} $SECS"
			done
		done
	done
	for s in ${SYS[$name]}; do
		R[$S.$name.$s]=$(median ${T[$S.$name.$s]})
	done
}

for S in $SIZES; do
	D=${SQL_DATA:+$SQL_DATA/$S}
	D=${D:-$W/$S}
	mkdir -p "$D"
	if [ ! -d "$D/store" ]; then
		log "$S events: generate, append"
		"$ENGRAM" gen clickstream --events "$S" --users $((S / 100)) --seed 7 |
			"$ENGRAM" -d "$D/store.tmp" append --sync none >"$W/append.json"
		[ "$(jnum appended "$W/append.json")" = "$S" ] || die "append: $(cat "$W/append.json")"
		mv "$D/store.tmp" "$D/store"
	fi
	if [ ! -f "$D/ev.sqlite" ]; then
		log "$S events: the SQLite table (through the extension)"
		t0=$(now)
		sqlite3 "$D/ev.sqlite.tmp" ".load ${EXT%.so}" \
			"CREATE TABLE events AS SELECT $COLS FROM engram_events('$D/store')"
		R[$S.sqlite_load]=$(calc "$(now) - $t0" 1)
		mv "$D/ev.sqlite.tmp" "$D/ev.sqlite"
	fi
	if [ ! -f "$D/evi.sqlite" ]; then
		log "$S events: the SQLite table with its indexes"
		cp "$D/ev.sqlite" "$D/evi.sqlite.tmp"
		t0=$(now)
		sqlite3 "$D/evi.sqlite.tmp" "CREATE INDEX events_stream ON events(stream);
			CREATE INDEX events_type_time ON events(type, time)"
		R[$S.sqlite_index]=$(calc "$(now) - $t0" 1)
		mv "$D/evi.sqlite.tmp" "$D/evi.sqlite"
	fi
	if [ ! -f "$D/ev.duckdb" ]; then
		log "$S events: engram sql | the DuckDB table"
		# (data and meta as strings: DuckDB keeps their text; duckdb_sql.mjs)
		"$ENGRAM" -d "$D/store" --format ndjson sql \
			"SELECT $DUCK_COLS FROM events" >"$W/events.ndjson"
		rm -f "$D/ev.duckdb.tmp"*
		$DUCK load "$D/ev.duckdb.tmp" "$W/events.ndjson" >"$W/load.json"
		[ "$(jnum rows "$W/load.json")" = "$S" ] || die "DuckDB load: $(cat "$W/load.json")"
		R[$S.duck_load]=$(calc "$(jnum s "$W/load.json")" 1)
		rm "$W/events.ndjson"
		[ ! -f "$D/ev.duckdb.tmp.wal" ] || die "DuckDB left a WAL after CHECKPOINT"
		mv "$D/ev.duckdb.tmp" "$D/ev.duckdb"
	fi
	R[$S.store_mib]=$(calc "$(bytes "$D/store") / 1048576" 0)
	R[$S.sqlite_mib]=$(calc "$(bytes "$D/ev.sqlite") / 1048576" 0)
	R[$S.sqlitei_mib]=$(calc "$(bytes "$D/evi.sqlite") / 1048576" 0)
	R[$S.duck_mib]=$(calc "$(bytes "$D"/ev.duckdb*) / 1048576" 0)
	DUCK_V=$($DUCK query "$D/ev.duckdb" "$W/out" "SELECT 1" | jq -r .duckdb)

	# the plans: which index engram and SQLite took
	for q in stream typeday types hourly count count_time; do
		sql=${SQL[$q]//STREAM/user-000042}
		R[$S.$q.plan_e]=$("$ENGRAM" -d "$D/store" --format ndjson sql "EXPLAIN QUERY PLAN $sql" |
			jq -r .detail | paste -sd ';' | sed 's/;/; /g')
		f=$D/ev.sqlite && [[ " ${SYS[$q]} " != *" i "* ]] || f=$D/evi.sqlite
		R[$S.$q.plan_s]=$(sqlite3 "$f" "EXPLAIN QUERY PLAN $sql" |
			sed -n 's/^[|` ]*--//p' | paste -sd ';' | sed 's/;/; /g')
	done

	for q in $QUERIES; do
		log "$S events: $q (checked, then $RUNS runs each of $(list ${SYS[$q]}))"
		measure "$q"
	done
	[ -n "${SQL_DATA:-}" ] || [ "$KEEP" = 1 ] || rm -rf "$D"
done

# --- report
GIT_V=$(git_version)
ms() { calc "$1 * 1000" "${2:-1}"; }                   # ms SECONDS
runs_ms() { for x in $1; do ms "$x"; echo; done | paste -sd ' ' | sed 's/ /, /g'; }
range_ms() { echo "$(ms "$(printf '%s\n' $1 | sort -g | head -1)")–$(ms "$(printf '%s\n' $1 | sort -g | tail -1)")"; }
x() { calc "$1 / $2" 2; }                               # x A B: A ÷ B
NS=$(echo "$SIZES" | wc -w)
FIRST=${SIZES%% *} LAST=${SIZES##* }
{
	echo "# engram SQL benchmark"
	echo
	echo "Events from \`engram gen clickstream --events N --users N/100 --seed 7\` (7 days of" \
		"sessions; N/100 visitors, so that a visitor's stream holds about 100 events at every" \
		"size), appended with \`engram append --sync none\`. The same SQL text runs on three systems:"
	echo
	echo "- **engram**: \`engram -d STORE --format ndjson sql \"SQL\"\`, the \`events\` virtual table with its pushdown."
	echo "- **SQLite**: \`sqlite3 -json FILE \"SQL\"\` over a plain table \`events\` with the same rows and" \
		"columns, made with the extension (\`CREATE TABLE events AS SELECT $COLS FROM" \
		"engram_events('STORE')\`), no index. *SQLite, indexed*: a copy of it with" \
		"\`CREATE INDEX … ON events(stream)\` and \`… ON events(type, time)\`, for the two queries an index answers." \
		"SQLite $SQLITE_V, the library \`engram\` links too; default settings."
	echo "- **DuckDB**: \`bench/duckdb_sql.mjs query\` over its own table \`events\` of the same rows" \
		"(loaded from \`engram sql\`'s NDJSON: times as VARCHAR, data and meta as JSON with their text" \
		"kept, integers BIGINT), so that \`substr(time, 1, 13)\` and \`data->>'page_url'\` mean the same."
	echo
	echo "| events | store MiB | SQLite table MiB (load s) | indexed copy MiB (index s) | DuckDB MiB (load s) |"
	echo "|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | ${R[$S.store_mib]} | ${R[$S.sqlite_mib]} (${R[$S.sqlite_load]:-reused}) |" \
			"${R[$S.sqlitei_mib]} (${R[$S.sqlite_index]:-reused}) | ${R[$S.duck_mib]} (${R[$S.duck_load]:-reused}) |"
	done
	echo
	echo "**Checked first**: every query's rows (all columns, in any order) are the same from engram," \
		"SQLite, SQLite indexed where it runs, and DuckDB, at every size (\`bench/sql.sh\` stops otherwise)."
	echo
	echo "**Timing**: engram and SQLite are the wall time of the whole process (start-up, opening the" \
		"store or the database file, the query, writing every row to a file); DuckDB is opening the" \
		"database, the query and fetching every row into node, timed inside node (node's own" \
		"start-up is left out; writing the file too). So all three include opening their data and none" \
		"a language runtime; \`SELECT 1\` below shows that fixed cost. Every file was in the page cache." \
		"Each query ran once to check the answers, then $RUNS times on each system, the systems taking" \
		"turns. Times are medians in ms (all runs in brackets). **Ratios are engram ÷ peer** (< 1: engram is faster)."
	echo
	echo "## 1. One stream: \`${SQL[stream]//STREAM/user-…}\`"
	echo
	echo "Streams $(list $STREAMS), each its own process; median (and range) of the $RUNS × $(echo $STREAMS | wc -w) runs."
	echo
	echo "| events | rows per stream | engram ms | SQLite, index on stream ms | SQLite, no index ms | DuckDB ms | ÷ SQLite indexed | ÷ SQLite | ÷ DuckDB |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | $(( ${R[$S.stream.rows]} / $(echo $STREAMS | wc -w) )) |" \
			"$(ms "${R[$S.stream.e]}") ($(range_ms "${T[$S.stream.e]}")) |" \
			"$(ms "${R[$S.stream.i]}") ($(range_ms "${T[$S.stream.i]}")) |" \
			"$(ms "${R[$S.stream.s]}") ($(range_ms "${T[$S.stream.s]}")) |" \
			"$(ms "${R[$S.stream.d]}") ($(range_ms "${T[$S.stream.d]}")) |" \
			"$(x "${R[$S.stream.e]}" "${R[$S.stream.i]}") | $(x "${R[$S.stream.e]}" "${R[$S.stream.s]}") |" \
			"$(x "${R[$S.stream.e]}" "${R[$S.stream.d]}") |"
	done
	echo
	echo "## 2. Two types in one day"
	echo
	echo "\`${SQL[typeday]}\`"
	echo
	echo "| events | count | engram ms | SQLite, index on (type, time) ms | SQLite, no index ms | DuckDB ms | ÷ SQLite indexed | ÷ SQLite | ÷ DuckDB |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | ${R[$S.typeday.first]} |" \
			"$(ms "${R[$S.typeday.e]}") ($(runs_ms "${T[$S.typeday.e]}")) |" \
			"$(ms "${R[$S.typeday.i]}") ($(runs_ms "${T[$S.typeday.i]}")) |" \
			"$(ms "${R[$S.typeday.s]}") ($(runs_ms "${T[$S.typeday.s]}")) |" \
			"$(ms "${R[$S.typeday.d]}") ($(runs_ms "${T[$S.typeday.d]}")) |" \
			"$(x "${R[$S.typeday.e]}" "${R[$S.typeday.i]}") | $(x "${R[$S.typeday.e]}" "${R[$S.typeday.s]}") |" \
			"$(x "${R[$S.typeday.e]}" "${R[$S.typeday.d]}") |"
	done
	echo
	# row Q S: a table row of query Q at size S: engram, SQLite, DuckDB, ratios
	row() {
		echo "$(ms "${R[$2.$1.e]}") ($(runs_ms "${T[$2.$1.e]}")) | $(ms "${R[$2.$1.s]}") ($(runs_ms "${T[$2.$1.s]}")) |" \
			"$(ms "${R[$2.$1.d]}") ($(runs_ms "${T[$2.$1.d]}")) | **$(x "${R[$2.$1.e]}" "${R[$2.$1.s]}")** |" \
			"$(x "${R[$2.$1.e]}" "${R[$2.$1.d]}") |"
	}
	echo "## 3. Full-scan aggregates"
	echo
	echo "SQLite scans its own table (no index); engram reads \`type = 'page_view'\` (a third of the events) by its type index or by blocks, as it finds cheaper."
	echo
	echo "| query | events | rows out | engram ms | SQLite ms | DuckDB ms | ÷ SQLite | ÷ DuckDB |"
	echo "|---|---|---|---|---|---|---|---|"
	for q in types hourly; do
		for S in $SIZES; do
			echo "| \`${SQL[$q]}\` | $S | ${R[$S.$q.rows]} | $(row $q $S)"
		done
	done
	echo
	echo "## 4. The per-row cost"
	echo
	echo "rows/s: events ÷ engram's time; *net*: ÷ (engram's time − its \`SELECT 1\` time), the start-up taken out."
	echo
	echo "| query | events | engram rows/s | net | engram ms | SQLite ms | DuckDB ms | ÷ SQLite | ÷ DuckDB |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for q in count count_time max_time len_type len_data; do
		for S in $SIZES; do
			net=— && ! awk "BEGIN { exit !(${R[$S.$q.e]} > ${R[$S.one.e]}) }" ||
				net=$(calc "$S / (${R[$S.$q.e]} - ${R[$S.one.e]}) / 1e6" 1)M
			echo "| \`${SQL[$q]}\` | $S | $(calc "$S / ${R[$S.$q.e]} / 1e6" 1)M | $net | $(row $q $S)"
		done
	done
	echo
	echo "## Start-up"
	echo
	echo "\`SELECT 1\`: start-up and opening the store or the database, the fixed cost in every time above."
	echo
	echo "| events | engram ms | SQLite ms | DuckDB ms (open + query in node) |"
	echo "|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | $(ms "${R[$S.one.e]}") ($(runs_ms "${T[$S.one.e]}")) | $(ms "${R[$S.one.s]}") ($(runs_ms "${T[$S.one.s]}")) |" \
			"$(ms "${R[$S.one.d]}") ($(runs_ms "${T[$S.one.d]}")) |"
	done
	echo
	echo "## Plans"
	echo
	echo "\`EXPLAIN QUERY PLAN\` at $LAST events: engram's (its index in the virtual table's idxStr), and" \
		"SQLite's on the indexed copy (queries 1 and 2) or the plain table (the others)."
	echo
	echo "| query | engram | SQLite |"
	echo "|---|---|---|"
	for q in stream typeday types hourly count count_time; do
		echo "| $q | ${R[$LAST.$q.plan_e]} | ${R[$LAST.$q.plan_s]} |"
	done
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	if [ "$NS" -ge 2 ]; then
		a=$(x "${R[$LAST.stream.e]}" "${R[$FIRST.stream.e]}")
		echo "| one stream's query at $LAST events as fast as at $FIRST (within 1.3×) | $(ms "${R[$LAST.stream.e]}") ms ÷ $(ms "${R[$FIRST.stream.e]}") ms = ${a}× | $(ok "$a <= 1.3") |"
		n=$(x "${R[$LAST.typeday.first]}" "${R[$FIRST.typeday.first]}")
		a=$(x "${R[$LAST.typeday.e]}" "${R[$FIRST.typeday.e]}")
		echo "| two types in a day: cost ∝ answer (time grows no more than the count: ${n}×) | $(ms "${R[$LAST.typeday.e]}") ms ÷ $(ms "${R[$FIRST.typeday.e]}") ms = ${a}× | $(ok "$a <= $n") |"
	fi
	for S in $SIZES; do
		for q in types hourly; do
			a=$(x "${R[$S.$q.e]}" "${R[$S.$q.s]}")
			echo "| \`$q\` at $S events within 1.3× of SQLite scanning its table | ${a}× | $(ok "$a <= 1.3") |"
		done
	done
	a=$(calc "$LAST / ${R[$LAST.count.e]} / 1e6" 1)
	echo "| \`SELECT count(*) FROM events\` ≥ 10M rows/s at $LAST events (whole process) | ${a}M rows/s | $(ok "$a >= 10") |"
	echo
	machine_md sql "${ARGS}"
	echo "- SQLite $SQLITE_V (\`sqlite3\` shell, default settings: 4 KiB pages, 2 MiB page cache, no mmap)"
} >"$OUT/SQL.md"
cat "$OUT/SQL.md"

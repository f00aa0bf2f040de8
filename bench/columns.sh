#!/usr/bin/env bash
# bench/columns.sh [--events N] [--check] [--quick] [--runs R] [--keep]
#
# The engines on columns (issue 26) against DuckDB: hourly counts by
# data.page_url, count by type per hour, and sessions (30-minute gap) from
# scratch, over `engram gen clickstream --events N --late 0.05 --seed 7`.
# DuckDB 1.5 (bench/duckdb_columns.mjs) loads the same NDJSON with
# read_json's own type detection (data becomes a STRUCT), into a database
# file and in memory, and runs each query on its loaded table (the query
# alone).  engram runs as a whole process: `engram windows SPEC
# --include-open` with "allowed_lateness": "forever" after rm -rf
# STORE/idx/win, `engram sessions` after deleting its checkpoints; once on
# the column path (the default: the column files, and the log's tail after
# them) and once on the log path (ENGRAM_NO_COLUMNS=1).  First the answers
# are checked equal (engram's columns = engram's log byte for byte, = DuckDB
# row for row); a difference stops the run.  Then rounds: in each, every
# query on every side in turn, the order rotating; the first round is a
# warm-up; medians of the rest.  Ratios are DuckDB's median / engram's
# (> 1: engram is faster), from this one run.  Writes
# bench/results/columns.md and prints it.
#   --events N  one size (default 1000000; 10000000 by hand)
#   --check     50000 events, one round, no report: a smoke run (bench-check)
#   --quick     200000 events
#   --runs R    timed rounds (default 5)
#   --keep      keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, warm, list, ok, git_version, need_engram, need_duckdb, workdir, machine_md, bench_opts
CHECK=0 A=()
for a in "$@"; do
	if [ "$a" = --check ]; then CHECK=1; else A+=("$a"); fi
done
bench_opts columns "1000000" ${A[@]+"${A[@]}"}
RUNS=${RUNS:-5}
[[ " ${A[*]-} " == *" --runs "* ]] || RUNS=5
[ "$CHECK" = 0 ] || SIZES=50000 RUNS=1
need_engram
need_duckdb
workdir columns "$KEEP"
GIT_V=$(git_version)
cat >"$W/page.json" <<'EOF'
{"name": "hourly_by_page", "window": {"tumble": "1h"}, "group_by": ["data.page_url"],
 "aggs": {"n": {"count": true}}, "allowed_lateness": "forever"}
EOF
cat >"$W/type.json" <<'EOF'
{"name": "type_per_hour", "window": {"tumble": "1h"}, "group_by": ["type"],
 "aggs": {"n": {"count": true}}, "allowed_lateness": "forever"}
EOF
QUERIES="page type sessions"
declare -A R

# eng Q MODE OUT [--explain]: engram's answer to Q from scratch on the
# column path (MODE cols) or the log path (log) into OUT; SECS: the wall
# time of the whole process.
eng() {
	local q=$1 mode=$2 out=$3 t0 nc=""
	shift 3
	[ "$mode" = log ] && nc=1
	if [ "$q" = sessions ]; then
		rm -rf "$D/store/idx/sess"
		t0=$(now)
		ENGRAM_NO_COLUMNS=$nc "$ENGRAM" -d "$D/store" --format ndjson sessions "$@" >"$out"
	else
		rm -rf "$D/store/idx/win"
		t0=$(now)
		ENGRAM_NO_COLUMNS=$nc "$ENGRAM" -d "$D/store" --format ndjson windows "$W/$q.json" \
			--include-open "$@" >"$out"
	fi
	SECS=$(calc "$(now) - $t0" 4)
}

# duck CMD...: one command to the DuckDB driver, its one-line answer in DUCK_OUT.
duck() {
	echo "$*" >&"${DK[1]}"
	IFS= read -r DUCK_OUT <&"${DK[0]}" || die "the DuckDB driver stopped (see $W/duck.err)"
}

# check Q: engram's answer (columns) equals DuckDB's, row for row.
check() {
	python3 - "$1" "$W/cols.$1" "$W/duck/$1.ndjson" <<'EOF'
import datetime, json, sys
q, got_f, want_f = sys.argv[1:]
E = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def us(s):
    d = datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return (d - E) // datetime.timedelta(seconds=1) * 1000000 + int(s[20:26])
got, want = [], []
for l in open(got_f):
    r = json.loads(l)
    if q == "sessions":
        got.append((r["stream"], us(r["start"]), us(r["end"]), r["events"], r["page_views"],
                    r["entry_page"], r["exit_page"], r["client_sessions"]))
    else:
        got.append((r["window_start"], r["data.page_url" if q == "page" else "type"], r["n"]))
for l in open(want_f):
    r = json.loads(l)
    if q == "sessions":
        want.append((r["stream"], r["start"], r["end"], r["events"], r["page_views"],
                     r["entry_page"], r["exit_page"], r["client_sessions"]))
    else:
        want.append((r["window_start"], r["page_url" if q == "page" else "type"], r["n"]))
key = lambda t: tuple("" if v is None else str(v) for v in t)
got.sort(key=key)
want.sort(key=key)
if len(got) != len(want):
    sys.exit("%s: engram has %d rows, DuckDB %d" % (q, len(got), len(want)))
for g, w in zip(got, want):
    if g != w:
        sys.exit("%s: engram %s, DuckDB %s" % (q, g, w))
print(len(got))
EOF
}

for S in $SIZES; do
	D="$W/$S" && mkdir -p "$D" "$W/duck"
	log "$S events: generate, append"
	t0=$(now)
	"$ENGRAM" gen clickstream --events "$S" --late 0.05 --seed 7 >"$D/events.ndjson"
	R[$S.gen]=$(calc "$(now) - $t0" 1)
	timed "$W/append.json" "$ENGRAM" -d "$D/store" append --sync none "$D/events.ndjson"
	[ "$(jnum appended "$W/append.json")" = "$S" ] || die "append: $(cat "$W/append.json")"
	R[$S.append]=$SECS
	# one big batch commits once at its end: the next command builds the
	# column files (as a brief writer), timed here apart
	timed "$W/stats.json" "$ENGRAM" -d "$D/store" stats
	R[$S.colbuild]=$SECS
	R[$S.col_bytes]=0
	[ ! -d "$D/store/idx/col" ] || R[$S.col_bytes]=$(bytes "$D/store/idx/col")
	# the store as it ages: every segment sealed (the queries below run on it)
	timed "$W/compact.json" "$ENGRAM" -d "$D/store" compact
	R[$S.compact]=$SECS
	R[$S.log_bytes]=$(bytes "$D/store/log") R[$S.idx_bytes]=$(bytes "$D/store/idx")
	R[$S.ids_bytes]=$(bytes "$D/store/idx/ids") R[$S.store_bytes]=$(bytes "$D/store")
	log "$S events: DuckDB loads the file (a database file, and in memory)"
	coproc DK { node bench/duckdb_columns.mjs "$D/events.ndjson" "$D/db.duckdb" "$W/duck" 2>"$W/duck.err"; }
	duck load
	echo "$DUCK_OUT" >"$W/load.json"
	[ "$(jnum rows "$W/load.json")" = "$S" ] || die "DuckDB load: $DUCK_OUT"
	R[$S.file_load]=$(jnum file_load_s "$W/load.json") R[$S.mem_load]=$(jnum mem_load_s "$W/load.json")
	R[$S.duck_bytes]=$(bytes "$D/db.duckdb")
	DUCK_V=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["duckdb"])' "$W/load.json")

	log "$S events: the answers first (columns = log byte for byte, = DuckDB)"
	for q in $QUERIES; do
		eng "$q" cols "$W/cols.$q" --explain 2>"$W/explain.$q"
		eng "$q" log "$W/log.$q"
		cmp -s "$W/cols.$q" "$W/log.$q" || die "$q: the column path's answer differs from the log path's"
		duck dump "$q"
		R[$S.$q.rows]=$(check "$q") || die "$q: engram and DuckDB differ (above)"
		R[$S.$q.path]=$(grep -o '"path":"[a-z]*"' "$W/explain.$q" | cut -d'"' -f4)
		R[$S.$q.fromcols]=$(jnum events_from_columns "$W/explain.$q")
		R[$S.$q.fromlog]=$(jnum events_from_log "$W/explain.$q")
		[ "${R[$S.$q.path]}" = columns ] ||
			log "$q read the log: $(grep -o '"log_reason":"[^"]*"' "$W/explain.$q" || true)"
	done

	log "$S events: $RUNS rounds after a warm-up, each query on every side in turn"
	SIDES=(dfile dmem cols log)
	for r in $(seq 0 "$RUNS"); do
		for q in $QUERIES; do
			for k in 0 1 2 3; do
				side=${SIDES[$(((k + r) % 4))]}
				case $side in
				dfile) duck run "$q" file; s=$DUCK_OUT ;;
				dmem) duck run "$q" mem; s=$DUCK_OUT ;;
				*) eng "$q" "$side" "$W/out"; s=$SECS ;;
				esac
				[ "$r" = 0 ] || R[$S.$q.$side]="${R[$S.$q.$side]-} $s"
			done
		done
	done
	echo quit >&"${DK[1]}"
	wait "$DK_PID" 2>/dev/null || true
	for q in $QUERIES; do
		for side in "${SIDES[@]}"; do
			# shellcheck disable=SC2086
			R[$S.$q.$side.med]=$(median ${R[$S.$q.$side]})
		done
	done
	[ "$KEEP" = 1 ] || rm -f "$D/events.ndjson"
done

row() {   # row S Q NAME
	local S=$1 q=$2 c=${R[$1.$2.cols.med]}
	printf '| %s | %s | %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | **%s×** | **%s×** | %s× |\n' \
		"$S" "$3" "${R[$S.$q.rows]}" \
		"${R[$S.$q.dfile.med]}" "$(list ${R[$S.$q.dfile]})" "${R[$S.$q.dmem.med]}" "$(list ${R[$S.$q.dmem]})" \
		"$c" "$(list ${R[$S.$q.cols]})" "${R[$S.$q.log.med]}" "$(list ${R[$S.$q.log]})" \
		"$(calc "${R[$S.$q.dmem.med]} / $c" 2)" "$(calc "${R[$S.$q.dfile.med]} / $c" 2)" \
		"$(calc "${R[$S.$q.log.med]} / $c" 2)"
}

report() {
	echo "# engram's engines on columns against DuckDB"
	echo
	echo "Events from \`engram gen clickstream --events N --late 0.05 --seed 7\` (5% of events written late), appended with \`engram append --sync none\`. DuckDB $DUCK_V loads the same NDJSON with \`read_json(file, format='newline_delimited')\`'s own type detection (\`data\` becomes a STRUCT), into a database file and in memory (\`bench/duckdb_columns.mjs\`)."
	echo
	echo "- **hourly by page**: \`time_bucket(INTERVAL 1 HOUR, time), data.page_url, count(*)\`; engram: \`windows\` with a tumbling hour by \`data.page_url\`, \`count\`, \`\"allowed_lateness\": \"forever\"\`, \`--include-open\`."
	echo "- **type per hour**: the same by \`type\`."
	echo "- **sessions**: a 30-minute gap per stream: LAG in a subquery, a running SUM around it, GROUP BY (stream, start, end, events, page views, entry and exit page, client sessions); engram: \`sessions\`."
	echo
	echo "**Checked first**: engram's answers from columns equal its answers from the log byte for byte, and DuckDB's row for row (\`bench/columns.sh\` stops otherwise)."
	echo
	echo "engram: the whole process (start-up, opening the store, every row written), from scratch (\`rm -rf STORE/idx/win\`, the session checkpoints deleted, before each run); *columns*: the default path, *log*: \`ENGRAM_NO_COLUMNS=1\`. DuckDB: the query alone on its loaded table (the window queries' rows fetched into node; the sessions query wrapped in an aggregate over a hash of every column, as bench/duckdb_sessions.mjs). Each round runs every query on every side in turn, the order rotating; medians of $RUNS rounds after a warm-up (all in brackets). Ratios: DuckDB ÷ engram on columns (> 1: engram is faster), and log ÷ columns."
	echo
	echo "| events | query | rows | DuckDB file s | DuckDB memory s | engram columns s | engram log s | memory ÷ columns | file ÷ columns | log ÷ columns |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		row "$S" page "hourly by page"
		row "$S" type "type per hour"
		row "$S" sessions "sessions"
	done
	echo
	echo "## What the column path read"
	echo
	echo "| events | query | path | events from column files | events from the log | idx/col bytes | append s | columns built s | DuckDB load s (file, memory) |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		for q in $QUERIES; do
			echo "| $S | $q | ${R[$S.$q.path]} | ${R[$S.$q.fromcols]} | ${R[$S.$q.fromlog]} | ${R[$S.col_bytes]} | ${R[$S.append]} | ${R[$S.colbuild]} | ${R[$S.file_load]}, ${R[$S.mem_load]} |"
		done
	done
	echo
	echo "*columns built*: the command after the append (\`engram stats\`), which builds the column files as a brief writer: \`engram append\` of one big batch commits once, at its end."
	echo "A query whose *path* is *log* read the log for the reason its \`--explain\` gives (above: sessions need the client session field, which the column files do not hold yet)." 
	echo
	echo "## Bytes on disk"
	echo
	echo "engram's whole store after \`engram compact\` (every segment sealed: zstd blocks, docs/STORAGE.md) with its column files built; DuckDB's database file after the load (CHECKPOINT)."
	echo
	echo "| events | engram store B/event | log/ | idx/ | of it idx/ids | of it idx/col | DuckDB file B/event | engram ÷ DuckDB | compact s |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		local x
		x=$(calc "${R[$S.store_bytes]} / ${R[$S.duck_bytes]}" 2)
		echo "| $S | $(calc "${R[$S.store_bytes]} / $S" 1) | $(calc "${R[$S.log_bytes]} / $S" 1) | $(calc "${R[$S.idx_bytes]} / $S" 1) | $(calc "${R[$S.ids_bytes]} / $S" 1) | $(calc "${R[$S.col_bytes]} / $S" 1) | $(calc "${R[$S.duck_bytes]} / $S" 1) | ${x}× | ${R[$S.compact]} |"
	done
	echo
	echo "## Targets (issue 26)"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	for S in $SIZES; do
		for q in $QUERIES; do
			local x
			x=$(calc "${R[$S.$q.dmem.med]} / ${R[$S.$q.cols.med]}" 2)
			echo "| $q at $S events: at least as fast as DuckDB's query in memory (aim 2×) | ${x}× | $(ok "$x >= 1") |"
		done
		x=$(calc "${R[$S.store_bytes]} / ${R[$S.duck_bytes]}" 2)
		echo "| bytes per event at $S events: at most 1.5× DuckDB's database file | ${x}× | $(ok "$x <= 1.5") |"
	done
	echo
	machine_md columns "$ARGS"
}

if [ "$CHECK" = 1 ]; then
	log "check: columns = log = DuckDB on ${SIZES} events (${R[$SIZES.page.path]} path)"
	exit 0
fi
report >bench/results/columns.md
cat bench/results/columns.md

#!/usr/bin/env bash
# bench/sessions.sh [--events N] [--quick] [--runs R] [--keep]
#
# The sessions benchmark: `engram sessions` (30-minute gap) against the
# same sessions computed by DuckDB with window functions (LAG and a running
# SUM, bench/duckdb_sessions.mjs) over the same events loaded in a table.
# The rows are first checked equal (every column but the session id); a
# difference stops the run.  engram is timed from scratch (its checkpoints
# deleted before each run: the whole log read and sessionized) and from its
# checkpoint (a query after an earlier one: the usual case).  Writes
# bench/results/sessions.md and prints it.  It measures; it asserts nothing
# about speed (the targets are reported met or missed).
#   --events N  one size (default: $SESSIONS_SIZES, else 1000000 then
#               10000000) of `engram gen clickstream --events N --late 0.02
#               --dup 0.01 --seed 7`
#   --quick     200000 events: a smoke run
#   --runs R    timed runs of each (default 3), after one warm-up
#   --keep      keep the work directory
# SESSIONS_DATA=DIR reuses DIR/N/store and DIR/N/db.duckdb when they exist.
# SESSIONS_BASELINE=BIN also times another build of engram from scratch, its
# runs alternating with this build's (so that both see the machine in the
# same state), and reports the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, warm, list, ok, git_version, need_engram, need_duckdb, workdir, machine_md, bench_opts, duck_result
bench_opts sessions "${SESSIONS_SIZES:-1000000 10000000}" "$@"
need_engram
need_duckdb
workdir sessions "$KEEP"
GAP_US=1800000000
declare -A R

# check_equal ENGRAM_NDJSON DUCK_NDJSON: the same sessions; prints the count
check_equal() {
	python3 - "$1" "$2" <<'EOF'
import json, sys, datetime
E = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def us(s):
    d = datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return (d - E) // datetime.timedelta(seconds=1) * 1000000 + int(s[20:26])
K = ("stream", "start", "end", "events", "page_views", "entry_page", "exit_page", "client_sessions")
got = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    r["start"], r["end"] = us(r["start"]), us(r["end"])
    got.append(tuple(r[k] for k in K))
want = sorted(tuple(json.loads(l)[k] for k in K) for l in open(sys.argv[2]) if l.strip())
got.sort()
assert len(got) == len(want), "%d sessions, DuckDB %d" % (len(got), len(want))
for g, w in zip(got, want):
    assert g == w, "engram %s, DuckDB %s" % (g, w)
print(len(got))
EOF
}

for S in $SIZES; do
	D="$W/$S" && mkdir -p "$D"
	src=${SESSIONS_DATA:+$SESSIONS_DATA/$S}
	if [ -n "$src" ] && [ -d "$src/store" ]; then
		log "$S events: reusing $src"
		D=$src R[$S.reused]=1
	else
		log "$S events: generate, append"
		"$ENGRAM" gen clickstream --events "$S" --late 0.02 --dup 0.01 --seed 7 |
			"$ENGRAM" -d "$D/store" append --sync none >"$W/append.json"
		[ "$(jnum appended "$W/append.json")" = "$S" ] || die "append: $(cat "$W/append.json")"
	fi
	if [ ! -f "$D/db.duckdb" ]; then
		log "$S events: engram read | DuckDB load"
		"$ENGRAM" -d "$D/store" --format ndjson read >"$W/events.ndjson"
	fi
	log "$S events: DuckDB ($RUNS runs after a warm-up)"
	node bench/duckdb_sessions.mjs "$W/events.ndjson" "$D/db.duckdb" "$GAP_US" "$RUNS" \
		"$W/duck.ndjson" >"$W/duck.json"
	rm -f "$W/events.ndjson"
	duck_result "$W/duck.json" "$S"
	log "$S events: engram from scratch ($RUNS runs after a warm-up)"
	E_S=() B_S=()
	for r in $(seq 0 "$RUNS"); do
		warm "$D/store"
		if [ -n "${SESSIONS_BASELINE:-}" ]; then
			rm -rf "$D/store/idx/sess"
			timed "$W/base.ndjson" "$SESSIONS_BASELINE" -d "$D/store" --format ndjson sessions
			[ "$r" = 0 ] || B_S+=("$SECS")
		fi
		rm -rf "$D/store/idx/sess"
		timed "$W/eng.ndjson" "$ENGRAM" -d "$D/store" --format ndjson sessions
		[ "$r" = 0 ] || E_S+=("$SECS")
	done
	R[$S.s_med]=$(median "${E_S[@]}") R[$S.s_runs]=$(list "${E_S[@]}") R[$S.s_rss]=$(calc "$RSS / 1024" 0)
	if [ -n "${SESSIONS_BASELINE:-}" ]; then
		R[$S.b_med]=$(median "${B_S[@]}") R[$S.b_runs]=$(list "${B_S[@]}")
	fi
	log "$S events: engram from its checkpoint ($RUNS runs)"
	E_C=()
	for r in $(seq "$RUNS"); do
		warm "$D/store"
		timed "$W/eng.ndjson" "$ENGRAM" -d "$D/store" --format ndjson sessions
		E_C+=("$SECS")
	done
	R[$S.c_med]=$(median "${E_C[@]}") R[$S.c_runs]=$(list "${E_C[@]}")
	R[$S.ck_mib]=$(du -cm "$D"/store/idx/sess/*/* | tail -1 | cut -f1)
	log "$S events: the check"
	R[$S.n]=$(check_equal "$W/eng.ndjson" "$W/duck.ndjson") || die "$S events: engram and DuckDB differ (above)"
	[ "$KEEP" = 1 ] || [ -n "${R[$S.reused]:-}" ] || rm -rf "$D"
done

# --- report
GIT_V=$(git_version)
{
	echo "# engram sessions benchmark"
	echo
	echo "Events from \`engram gen clickstream --events N --late 0.02 --dup 0.01 --seed 7\` (7 days of" \
		"10000 visitors; 2% of app events written late; the resent lines are duplicates the store" \
		"skips), appended with \`engram append --sync none\`. DuckDB gets the same events," \
		"\`engram read\` loaded into a table by \`bench/duckdb_sessions.mjs\` with \`page_url\` taken" \
		"out of \`data\` at load time (so its query parses no JSON). Sessions with a 30-minute gap."
	echo
	echo "**Checked first**: engram's sessions equal DuckDB's, every column but the id" \
		"(\`bench/sessions.sh\` stops otherwise)."
	echo
	echo "engram: \`engram -d STORE --format ndjson sessions\`, the whole process (start-up, opening the" \
		"store, output of every row), *from scratch* (checkpoints deleted first: the whole log read" \
		"and sessionized, the checkpoints written) and *from its checkpoint* (a query after an" \
		"earlier one). DuckDB: the query alone in node, wrapped in an aggregate over a hash of every" \
		"column (so it computes them all without handing the rows to node). Median of $RUNS runs" \
		"after a warm-up (all in brackets). Ratio: DuckDB ÷ engram (> 1: engram is faster)."
	echo
	echo "| events | sessions | engram from scratch s | events/s | peak RSS MiB | from checkpoint s | events/s | checkpoints MiB | DuckDB s | ratio scratch | ratio checkpoint |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | ${R[$S.n]} | ${R[$S.s_med]} (${R[$S.s_runs]}) | $(calc "$S / ${R[$S.s_med]} / 1e6" 2)M |" \
			"${R[$S.s_rss]} | ${R[$S.c_med]} (${R[$S.c_runs]}) | $(calc "$S / ${R[$S.c_med]} / 1e6" 1)M |" \
			"${R[$S.ck_mib]} | ${R[$S.d_med]} (${R[$S.d_runs]}) | **$(calc "${R[$S.d_med]} / ${R[$S.s_med]}" 2)×** |" \
			"**$(calc "${R[$S.d_med]} / ${R[$S.c_med]}" 2)×** |"
	done
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	for S in $SIZES; do
		[ "$S" -ge 10000000 ] || continue
		a=$(calc "$S / ${R[$S.s_med]} / 1e6" 2) b=$(calc "$S / ${R[$S.c_med]} / 1e6" 1)
		echo "| sessionizing $S events at 5M events/s or more, from scratch | ${a}M/s | $(ok "$a >= 5") |"
		echo "| the same, from the checkpoint | ${b}M/s | $(ok "$b >= 5") |"
		x=$(calc "${R[$S.d_med]} / ${R[$S.s_med]}" 2)
		echo "| faster than DuckDB's LAG + running SUM, from scratch | ${x}× | $(ok "$x > 1") |"
	done
	if [ -n "${SESSIONS_BASELINE:-}" ]; then
		echo
		echo "## Against a baseline build"
		echo
		echo "\`$SESSIONS_BASELINE\` from scratch, each of its runs just before one of this" \
			"build's, the same way (so that both see the machine in the same state)." \
			"Ratio: baseline ÷ this build (> 1: this build is faster)."
		echo
		echo "| events | baseline s | this build s | ratio |"
		echo "|---|---|---|---|"
		for S in $SIZES; do
			echo "| $S | ${R[$S.b_med]} (${R[$S.b_runs]}) | ${R[$S.s_med]} | **$(calc "${R[$S.b_med]} / ${R[$S.s_med]}" 2)×** |"
		done
	fi
	echo
	machine_md sessions "${ARGS}"
} >bench/results/sessions.md
cat bench/results/sessions.md

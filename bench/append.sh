#!/usr/bin/env bash
# bench/append.sh [--events N] [--quick] [--runs R] [--keep]
#
# The append benchmark (issue 26): `engram append --sync always FILE` into a
# fresh store against DuckDB loading the same NDJSON into an in-memory table
# with read_json's own type detection (bench/duckdb_load_mem.mjs), runs
# alternated (engram, DuckDB, engram, ...) so that both see the machine in
# the same state; medians, and the ratio DuckDB / engram (above 1: engram is
# faster).  Then one `perf record` of an append (when perf is there), its CPU
# by thread and by stage (bench/append_profile.py).  Writes
# bench/results/append-run.md and prints it; it measures, it asserts
# nothing about speed.
#   --events N  one size (default: $APPEND_SIZES, else 1000000) of `engram
#               gen clickstream --events N --late 0.05 --seed 7`
#   --quick     200000 events: a smoke run
#   --runs R    timed runs of each (default 5)
#   --keep      keep the work directory
# APPEND_BASELINE=BIN also times another build of engram, alternated with
# the others, and profiles it: the "before" of a change.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
bench_opts append "${APPEND_SIZES:-1000000}" "$@"
[ "$RUNS" = 3 ] && ! printf '%s\n' "$@" | grep -qx -- --runs && RUNS=5
need_engram
need_duckdb
workdir append "$KEEP"
GIT_V=$(git_version)
OUT=$ROOT/bench/results/append-run.md
declare -A R

# t_engram BIN: seconds of one append into a fresh store
t_engram() {
	rm -rf "$W/store"
	local t0; t0=$(now)
	"$1" -d "$W/store" append --sync always "$D/click.ndjson" >/dev/null
	calc "$(now) - $t0" 4
}

# t_duck: seconds of DuckDB's load (timed inside node; its line in $W/duck.json)
t_duck() {
	node "$ROOT/bench/duckdb_load_mem.mjs" "$D/click.ndjson" >"$W/duck.json"
	[ "$(jnum rows "$W/duck.json")" = "$S" ] || die "DuckDB loaded $(jnum rows "$W/duck.json") rows, not $S"
	jnum s "$W/duck.json"
}

# profile BIN KEY: CPU by thread and stage of one append into R[KEY.prof]
profile() {
	command -v perf >/dev/null || return 0
	rm -rf "$W/store"
	perf record -q -F 4000 -o "$W/perf.data" "$1" -d "$W/store" append --sync always \
		"$D/click.ndjson" >/dev/null 2>&1 || return 0
	R[$2.prof]=$(python3 "$ROOT/bench/append_profile.py" "$W/perf.data")
}

for S in $SIZES; do
	D="$W/$S" && mkdir -p "$D"
	"$ENGRAM" gen clickstream --events "$S" --late 0.05 --seed 7 >"$D/click.ndjson"
	R[$S.mb]=$(calc "$(stat -c %s "$D/click.ndjson") / 1e6" 0)
	log "$S events ($(calc "${R[$S.mb]}" 0) MB): $RUNS runs each, alternated"
	cat "$D/click.ndjson" >/dev/null
	E=() K=() B=()
	for _ in $(seq "$RUNS"); do
		E+=("$(t_engram "$ENGRAM")")
		K+=("$(t_duck)")
		[ -n "${APPEND_BASELINE:-}" ] && B+=("$(t_engram "$APPEND_BASELINE")")
	done
	R[$S.e_med]=$(median "${E[@]}") R[$S.e_runs]=$(list "${E[@]}")
	R[$S.d_med]=$(median "${K[@]}") R[$S.d_runs]=$(list "${K[@]}")
	DUCK_V=$(grep -o '"duckdb":"[^"]*"' "$W/duck.json" | cut -d'"' -f4)
	if [ -n "${APPEND_BASELINE:-}" ]; then
		R[$S.b_med]=$(median "${B[@]}") R[$S.b_runs]=$(list "${B[@]}")
		profile "$APPEND_BASELINE" "$S.b"
	fi
	profile "$ENGRAM" "$S.e"
	"$ENGRAM" -d "$W/store" verify >/dev/null || die "the appended store fails verify"
	rm -rf "$D"
done

# prof_md KEY: a profile as a table (seconds of CPU per thread and per stage)
prof_md() {
	python3 - "${R[$1.prof]}" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
print("| thread | CPU s |\n|---|---|")
for k, v in p["threads"].items():
    print(f"| {k} | {v:.3f} |")
print(f"| **all** | **{p['total_s']:.3f}** |\n")
print("| stage | CPU s | share |\n|---|---|---|")
for k, v in p["stages"].items():
    print(f"| {k} | {v:.3f} | {100 * v / p['total_s']:.0f}% |")
PY
}

{
	echo "# engram append against DuckDB's in-memory load (one run of bench/append.sh)"
	echo
	echo "\`engram -d NEW append --sync always FILE\` (durable: fdatasync before the commit"
	echo "record and after it; hash-chained; indexed) against DuckDB's"
	echo "\`CREATE TABLE events AS SELECT * FROM read_json(FILE, format = 'newline_delimited')\`"
	echo "into \`:memory:\`, on \`engram gen clickstream --events N --late 0.05 --seed 7\`."
	echo "Medians of $RUNS runs, alternated; the runs in parentheses, seconds."
	echo
	echo "| events | MB | engram s | DuckDB s | DuckDB / engram |${APPEND_BASELINE:+ baseline engram s | baseline / engram |}"
	echo "|---|---|---|---|---|${APPEND_BASELINE:+---|---|}"
	for S in $SIZES; do
		row="| $S | ${R[$S.mb]} | ${R[$S.e_med]} (${R[$S.e_runs]}) | ${R[$S.d_med]} (${R[$S.d_runs]}) |"
		row="$row **$(calc "${R[$S.d_med]} / ${R[$S.e_med]}" 2)×** |"
		[ -n "${APPEND_BASELINE:-}" ] &&
			row="$row ${R[$S.b_med]} (${R[$S.b_runs]}) | $(calc "${R[$S.b_med]} / ${R[$S.e_med]}" 2)× |"
		echo "$row"
	done
	for S in $SIZES; do
		if [ -n "${R[$S.e.prof]:-}" ]; then
			echo
			echo "### Where the CPU goes: $S events (perf record -F 4000, one run)"
			echo
			prof_md "$S.e"
		fi
		if [ -n "${R[$S.b.prof]:-}" ]; then
			echo
			echo "### The baseline ($APPEND_BASELINE), the same"
			echo
			prof_md "$S.b"
		fi
	done
	echo
	machine_md append "$ARGS"
} | tee "$OUT"

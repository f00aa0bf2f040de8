#!/usr/bin/env bash
# bench/funnel.sh [--events N] [--quick] [--runs R] [--keep]
#
# The funnels benchmark: `engram funnel` against the same funnel in DuckDB's
# SQL (bench/duckdb_funnel.mjs) over the same events, for two funnels within
# 1h: the five shop steps by type, and a variant with TYPE:PAGE_URL steps.
# Each size's results are first checked equal (users per step exactly,
# median times to the microsecond); a difference stops the run.  Writes
# bench/results/funnel.md and prints it.  It measures; it asserts nothing
# about speed (the target, faster than DuckDB at 10M, is reported met or
# missed).
#   --events N  one size: N events (default: $FUNNEL_SIZES, else 1000000
#               then 10000000) of `engram gen clickstream --events N
#               --late 0.02 --dup 0.01 --seed 7`
#   --quick     200000 events: a smoke run
#   --runs R    timed runs of each side (default 3), after one warm-up
#   --keep      keep the work directory (stores, DuckDB files)
# FUNNEL_DATA=DIR reuses DIR/N/events.ndjson, DIR/N/store and
# DIR/N/db.duckdb when they exist (made by an earlier --keep run, or by
# hand with the same commands), instead of generating and loading again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}   # ENGRAM=… to bench another build
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, warm, list, ok, git_version, need_engram, need_duckdb, workdir, machine_md, bench_opts, duck_result
bench_opts funnel "${FUNNEL_SIZES:-1000000 10000000}" "$@"
need_engram
need_duckdb
workdir funnel "$KEEP"

WITHIN=1h WITHIN_US=3600000000
SHOP=https://shop.example.com
declare -A F=(
	[types]="page_view,product_click,add_to_cart,checkout,purchase"
	[urls]="page_view:$SHOP/,product_click,add_to_cart,page_view:$SHOP/cart,checkout,purchase:$SHOP/checkout"
)
FUNNELS="types urls"
declare -A R   # R[SIZE.key]: the figures

# check_equal ENGRAM_NDJSON DUCK_JSON: same users per step, medians within 1 µs
check_equal() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = json.loads(open(sys.argv[2]).read())["rows"]
assert len(got) == len(want), "%d rows, DuckDB %d" % (len(got), len(want))
for g, w in zip(got, want):
    assert g["step"] == w["step"] and g["users"] == w["users"], "step %s: %s users, DuckDB %s" % (g["step"], g["users"], w["users"])
    a, b = g["median_time"], w["median_time"]
    assert (a is None) == (b is None) and (a is None or abs(a - b) < 1e-6), \
        "step %s: median_time %s, DuckDB %s" % (g["step"], a, b)
print(" ".join("%d" % g["users"] for g in got))
EOF
}

for S in $SIZES; do
	D="$W/$S" && mkdir -p "$D"
	src=${FUNNEL_DATA:+$FUNNEL_DATA/$S}
	if [ -n "$src" ] && [ -d "$src/store" ] && [ -f "$src/db.duckdb" ]; then
		log "$S events: reusing $src"
		D=$src R[$S.gen]="—" R[$S.append]="—" R[$S.load]="—"
		R[$S.reused]=$src
	else
		log "$S events: generate, append, load into DuckDB"
		t0=$(now)
		"$ENGRAM" gen clickstream --events "$S" --late 0.02 --dup 0.01 --seed 7 >"$D/events.ndjson"
		R[$S.gen]=$(calc "$(now) - $t0" 1)
		timed "$W/append.json" "$ENGRAM" -d "$D/store" append --sync none "$D/events.ndjson"
		[ "$(jnum appended "$W/append.json")" = "$S" ] || die "append: $(cat "$W/append.json")"
		R[$S.append]=$SECS
		timed "$W/load.json" node bench/duckdb_load.mjs "$D/events.ndjson" "$D/db.duckdb"
		R[$S.load]=$SECS
		[ "$KEEP" = 1 ] || rm "$D/events.ndjson"
	fi
	for f in $FUNNELS; do
		steps=${F[$f]}
		log "$S events, funnel $f: DuckDB ($RUNS runs after a warm-up)"
		node bench/duckdb_funnel.mjs "$D/db.duckdb" "$steps" "$WITHIN_US" "$RUNS" >"$W/duck.$S.$f.json"
		log "$S events, funnel $f: engram ($RUNS runs after a warm-up), then the check"
		"$ENGRAM" -d "$D/store" --format ndjson funnel --steps "$steps" --within "$WITHIN" \
			--explain >"$W/eng.$S.$f.ndjson" 2>"$W/explain.json"
		R[$S.$f.users]=$(check_equal "$W/eng.$S.$f.ndjson" "$W/duck.$S.$f.json") ||
			die "$S events, funnel $f: engram and DuckDB differ (above)"
		R[$S.$f.read]=$(jnum read "$W/explain.json") R[$S.$f.streams]=$(jnum streams "$W/explain.json")
		E_S=()
		for r in $(seq "$RUNS"); do
			warm "$D/store"
			timed /dev/null "$ENGRAM" -d "$D/store" --format ndjson funnel --steps "$steps" --within "$WITHIN"
			E_S+=("$SECS")
		done
		R[$S.$f.e_med]=$(median "${E_S[@]}") R[$S.$f.e_runs]=$(list "${E_S[@]}") R[$S.$f.rss]=$(calc "$RSS / 1024" 0)
		duck_result "$W/duck.$S.$f.json" "$S.$f"
	done
	[ "$KEEP" = 1 ] || [ -n "${R[$S.reused]:-}" ] || rm -rf "$D"
done

# --- report
GIT_V=$(git_version)
{
	echo "# engram funnel benchmark"
	echo
	echo "Events from \`engram gen clickstream --events N --late 0.02 --dup 0.01 --seed 7\` (7 days of" \
		"sessions of 10000 visitors; 2% of app events written late, 1% of lines resent), appended" \
		"with \`engram append --sync none\` (the resent lines are duplicates, skipped) and loaded into" \
		"a DuckDB table by \`bench/duckdb_load.mjs\` (resent lines included: they repeat an event" \
		"exactly, which changes no funnel). Funnels within $WITHIN:"
	echo
	for f in $FUNNELS; do echo "- \`$f\`: \`${F[$f]}\`"; done
	echo
	echo "**Checked first**: for every size and funnel, engram's users per step equal DuckDB's and" \
		"its median times agree to the microsecond (\`bench/funnel.sh\` stops otherwise)."
	echo
	echo "engram: \`engram -d STORE --format ndjson funnel --steps … --within $WITHIN\`, the whole process" \
		"(start-up, opening the store, reading the events of the steps' types, output). DuckDB: the" \
		"query alone in node (\`runAndReadAll\`; not node's start-up nor opening the database). Both" \
		"after one warm-up run; median of $RUNS runs (all in brackets). Ratio: DuckDB ÷ engram (> 1:" \
		"engram is faster)."
	echo
	echo "| events | funnel | users per step | events read | engram s | peak RSS MiB | DuckDB s | ratio |"
	echo "|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		for f in $FUNNELS; do
			echo "| $S | $f | ${R[$S.$f.users]} | ${R[$S.$f.read]} | ${R[$S.$f.e_med]} (${R[$S.$f.e_runs]}) |" \
				"${R[$S.$f.rss]} | ${R[$S.$f.d_med]} (${R[$S.$f.d_runs]}) |" \
				"**$(calc "${R[$S.$f.d_med]} / ${R[$S.$f.e_med]}" 2)×** |"
		done
	done
	echo
	echo "| events | gen s | append s | DuckDB load s |"
	echo "|---|---|---|---|"
	for S in $SIZES; do echo "| $S | ${R[$S.gen]} | ${R[$S.append]} | ${R[$S.load]} |"; done
	echo
	echo "## The SQL"
	echo
	echo "\`bench/duckdb_funnel.mjs\` generates it from the steps (\`SHOW_SQL=1\` prints it): one CTE per" \
		"step with the distinct times of each stream's matching events; from every first-step time" \
		"the greedy chain, each next step the earliest later event of the same stream (\`ASOF LEFT" \
		"JOIN … ON s2.stream = s1.stream AND s2.t > s1.t\`); the chain's level is where it first misses" \
		"a step or leaves the window (a \`CASE\`, because an \`ASOF\` join on a NULL time still matches);" \
		"per stream the best level and, with \`arg_min(…, (-level, t1))\`, the times of the earliest" \
		"chain reaching it; then per step \`count(*) FILTER (level >= step)\` and" \
		"\`median(ts[step] - ts[step - 1])\`. That is exactly engram's definition (docs/FUNNELS.md). A" \
		"self-join of the step events with range conditions would be the other natural formulation;" \
		"it was not measured."
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	for S in $SIZES; do
		for f in $FUNNELS; do
			x=$(calc "${R[$S.$f.d_med]} / ${R[$S.$f.e_med]}" 2)
			echo "| funnel \`$f\` over $S events faster than DuckDB's SQL | ${x}× | $(ok "$x > 1") |"
		done
	done
	echo
	machine_md funnel "${ARGS}"
} >bench/results/funnel.md
cat bench/results/funnel.md

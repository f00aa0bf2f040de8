#!/usr/bin/env bash
# bench/windows.sh [--events N] [--quick] [--runs R] [--keep]
#
# The windows benchmark (issue 4): examples/pageviews_hourly.json (hourly
# tumbling windows by data.page_url over page and screen views) replayed
# from scratch by `engram windows` and by the same GROUP BY in DuckDB over
# the events loaded in a table; then, on the first size's store, the windows
# kept current while 1M more events arrive in batches of 10k (eg_win_run +
# eg_win_changes after each batch, against re-running the DuckDB query after
# each: 100 runs of it over 10M+ events would take an hour); and engram's peak
# memory next to the windows it holds.  engram's table is first checked
# equal to DuckDB's (count, distinct streams, sum per hour and page) before
# anything is timed.  Writes bench/results/windows.md and prints it.  It
# measures; it asserts nothing about speed (targets: met or missed).
#   --events N  one size: N events from `engram gen clickstream --seed 7`
#               (default: 1000000, then 10000000)
#   --quick     200000 events, 100000 arriving in batches: a smoke run
#   --runs R    runs of each replay (default 3); DuckDB also runs a warm-up
#   --keep      keep the work directory (stores, DuckDB files) for profiling
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}   # ENGRAM=… to bench another build
. bench/lib.sh   # die, log, now, calc, median, jnum, timed, warm, list, ok, git_version, need_engram, need_duckdb, workdir, machine_md, bench_opts
bench_opts windows "1000000 10000000" "$@"
INCR=1000000 BATCH=10000
[ "$QUICK" = 0 ] || INCR=100000
ISIZES=${SIZES%% *}   # the size whose windows are also kept current
kept() { [ "$1" = "$ISIZES" ]; }
need_engram
command -v jq >/dev/null || die "jq missing: sudo apt-get install -y jq"
need_duckdb

workdir windows "$KEEP"
B="$W/win_bench"   # win_bench incr DIR SPEC FILE...: the C side
log "building bench/win_bench.c"
cc -O2 -g -std=c11 -D_GNU_SOURCE -Iinclude bench/win_bench.c build/libengram.a \
	$(engram_libs) -o "$B"
DUCK="node bench/duckdb_windows.mjs"
jv() { jq -r "$2" "$1"; }   # jv FILE FILTER
SPEC=examples/pageviews_hourly.json
cp "$SPEC" "$W/spec.json"
sed 's/"allowed_lateness": *"[^"]*"/"allowed_lateness": "forever"/' "$SPEC" >"$W/forever.json"
grep -q '"forever"' "$W/forever.json" || die "no allowed_lateness in $SPEC"
declare -A R   # R[SIZE.name]: the figures of each size

for S in $SIZES; do
	D="$W/$S" && mkdir -p "$D"
	# --- the data: the same NDJSON file in an engram store and a DuckDB table
	log "$S events: generate, append, load into DuckDB"
	t0=$(now)
	"$ENGRAM" gen clickstream --events "$S" --late 0.05 --seed 7 >"$D/events.ndjson"
	R[$S.gen]=$(calc "$(now) - $t0" 1) R[$S.bytes]=$(stat -c %s "$D/events.ndjson")
	timed "$W/append.json" "$ENGRAM" -d "$D/store" append --sync none "$D/events.ndjson"
	[ "$(jnum appended "$W/append.json")" = "$S" ] || die "append: $(cat "$W/append.json")"
	R[$S.append]=$SECS
	timed "$W/load.json" node bench/duckdb_load.mjs "$D/events.ndjson" "$D/db.duckdb"
	[ "$(jnum rows "$W/load.json")" = "$S" ] || die "DuckDB load: $(cat "$W/load.json")"
	R[$S.load]=$SECS DUCK_V=$(jv "$W/load.json" .duckdb)
	"$ENGRAM" -d "$D/store" stats >"$D/stats.json"
	[ "$KEEP" = 1 ] || rm "$D/events.ndjson"

	# --- check first: with no lateness limit the table is a plain GROUP BY
	log "$S events: check engram's windows against DuckDB's GROUP BY"
	"$ENGRAM" -d "$D/store" --format ndjson windows "$W/forever.json" --include-open |
		jq -r '[.window_start, (."data.page_url" // ""), .views, .users, .ms] | @tsv' |
		LC_ALL=C sort >"$D/engram.tsv"
	$DUCK check "$D/db.duckdb" | LC_ALL=C sort >"$D/duckdb.tsv"
	if ! cmp -s "$D/engram.tsv" "$D/duckdb.tsv"; then
		diff "$D/engram.tsv" "$D/duckdb.tsv" | head -20 >&2
		die "$S events: engram's windows differ from DuckDB's (< engram, > DuckDB)"
	fi
	R[$S.checked]=$(wc -l <"$D/engram.tsv")

	# --- replay from scratch: the whole process (after a warm-up run whose
	# --explain gives the windows held), then DuckDB's query in node
	log "$S events: replay, $RUNS runs each"
	rm -rf "$D/store/idx/win"
	"$ENGRAM" -d "$D/store" --format ndjson windows "$W/spec.json" --explain >/dev/null 2>"$D/explain.ndjson"
	E_S=() E_RSS=()
	for r in $(seq "$RUNS"); do
		rm -rf "$D/store/idx/win"
		warm "$D/store"
		timed "$D/out.ndjson" "$ENGRAM" -d "$D/store" --format ndjson windows "$W/spec.json"
		E_S+=("$SECS") E_RSS+=("$RSS")
	done
	R[$S.e_med]=$(median "${E_S[@]}") R[$S.e_runs]=$(list "${E_S[@]}")
	R[$S.rss]=$(calc "$(median "${E_RSS[@]}") / 1024" 0) R[$S.rows]=$(wc -l <"$D/out.ndjson")
	for k in events windows open_windows too_late revisions; do
		R[$S.$k]=$(head -1 "$D/explain.ndjson" | jq -r ".$k")
	done
	$DUCK replay "$D/db.duckdb" "$RUNS" >"$D/duck.json"
	R[$S.d_rows]=$(jv "$D/duck.json" .rows)
	for m in approx exact; do
		R[$S.${m}_med]=$(jv "$D/duck.json" ".${m}_median_s")
		R[$S.${m}_runs]=$(jv "$D/duck.json" ".${m}_s | join(\", \")")
	done

	# --- incremental: INCR more events, batches of BATCH, on copies
	if ! kept "$S"; then
		[ "$KEEP" = 1 ] || rm -rf "$D"
		continue
	fi
	log "$S events: keep the windows current while $INCR more arrive in batches of $BATCH"
	TMAX=$(jv "$D/stats.json" .time_max)
	START=$(date -u -d "@$(($(date -u -d "$TMAX" +%s) + 1))" +%Y-%m-%dT%H:%M:%SZ)
	R[$S.start]=$START
	"$ENGRAM" gen clickstream --events "$INCR" --late 0.05 --seed 8 --start "$START" >"$D/incr.ndjson"
	mkdir "$D/batches" && split -l "$BATCH" -d -a 4 "$D/incr.ndjson" "$D/batches/b."
	rm "$D/incr.ndjson"
	cp -r "$D/store" "$D/istore" && cp "$D/db.duckdb" "$D/idb.duckdb"
	[ ! -f "$D/db.duckdb.wal" ] || cp "$D/db.duckdb.wal" "$D/idb.duckdb.wal"
	"$ENGRAM" -d "$D/istore" windows "$W/spec.json" >/dev/null   # the base's windows (untimed)
	sync
	"$B" incr "$D/istore" "$W/spec.json" "$D"/batches/b.* >"$D/incr.json"
	$DUCK incr "$D/idb.duckdb" "$D"/batches/b.* >"$D/dincr.json"
	[ "$(jv "$D/dincr.json" .rows)" = "$((S + INCR))" ] || die "DuckDB incr: $(cat "$D/dincr.json")"
	# the windows kept current equal a replay from scratch of the same log
	"$ENGRAM" -d "$D/istore" --format ndjson windows "$W/spec.json" >"$D/kept.ndjson"
	mv "$D/istore/idx/win" "$D/istore/win.kept"
	"$ENGRAM" -d "$D/istore" --format ndjson windows "$W/spec.json" >"$D/replayed.ndjson"
	cmp -s "$D/kept.ndjson" "$D/replayed.ndjson" ||
		die "$S events: the windows kept current differ from a replay of the same log"
	for k in batches total_s median_ms max_ms revisions corrections too_late append_s open_windows windows maxrss_kib; do
		R[$S.i_$k]=$(jv "$D/incr.json" ".$k")
	done
	for k in total_s median_ms max_ms insert_s; do R[$S.d_$k]=$(jv "$D/dincr.json" ".$k"); done
	[ "$KEEP" = 1 ] || rm -rf "$D"
done

# --- report
mib() { calc "$1 / 1024" 0; }
GIT_V=$(git_version)
{
	echo "# engram windows benchmark"
	echo
	echo "Spec: \`$SPEC\` — hourly tumbling windows by \`data.page_url\` over \`page_view\` and" \
		"\`screen_view\` events: count, count_distinct stream, sum, avg and p95 of \`data.duration_ms\`;" \
		"watermark 10m, allowed lateness 6h. Events from \`engram gen clickstream --events S --late 0.05" \
		"--seed 7\` (7 days of sessions; 5% of app events written minutes to hours late), appended" \
		"with \`engram append --sync none\` and loaded into a DuckDB table by \`bench/duckdb_load.mjs\`" \
		"(\`data\` kept as JSON text; the query reads \`data->>'page_url'\` and \`(data->>'duration_ms')::DOUBLE\`)."
	echo
	echo "| events | NDJSON bytes | gen s | append s | DuckDB load s | page/screen views | windows (open at the end) | too late |"
	echo "|---|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | ${R[$S.bytes]} | ${R[$S.gen]} | ${R[$S.append]} | ${R[$S.load]} | ${R[$S.events]} | ${R[$S.windows]} (${R[$S.open_windows]}) | ${R[$S.too_late]} |"
	done
	echo
	echo "**Checked first**: with \`\"allowed_lateness\": \"forever\"\`, \`engram windows --include-open\`" \
		"equals DuckDB's \`count(*)\`, \`count(DISTINCT stream)\` and \`sum(duration_ms)\` \`GROUP BY" \
		"time_bucket(INTERVAL 1 HOUR, time), data->>'page_url'\` in every window:" \
		"$(for S in $SIZES; do printf '%s windows at %s events; ' "${R[$S.checked]}" "$S"; done | sed 's/; $//')."
	echo
	echo "## Replay from scratch"
	echo
	echo "engram: \`rm -rf STORE/idx/win && engram -d STORE --format ndjson windows SPEC > out\`, whole" \
		"process (start-up, opening the store, writing the table), after one warm-up run. DuckDB: the" \
		"query alone in node (\`runAndReadAll\`, every row fetched; not node's start-up nor opening the" \
		"database), after one warm-up run. p95 is a sketch in engram (within 0.5%), so" \
		"\`approx_quantile\` is the like-for-like peer; \`quantile_cont\` (exact) is shown too." \
		"Median of $RUNS runs (all in brackets). Ratio: DuckDB ÷ engram (> 1: engram is faster)."
	echo
	echo "| events | engram s | rows | DuckDB \`approx_quantile\` s | ratio | DuckDB \`quantile_cont\` s | ratio |"
	echo "|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		echo "| $S | ${R[$S.e_med]} (${R[$S.e_runs]}) | ${R[$S.rows]} of ${R[$S.windows]} / ${R[$S.d_rows]} |" \
			"${R[$S.approx_med]} (${R[$S.approx_runs]}) | **$(calc "${R[$S.approx_med]} / ${R[$S.e_med]}" 2)×** |" \
			"${R[$S.exact_med]} (${R[$S.exact_runs]}) | $(calc "${R[$S.exact_med]} / ${R[$S.e_med]}" 2)× |"
	done
	echo
	echo "Rows: engram's table holds the windows emitted (not the ones still open); DuckDB's result has every window."
	echo
	echo "## Keeping the windows current"
	echo
	echo "On a copy of the $ISIZES-event store (its windows built first, untimed), $INCR more events from" \
		"\`engram gen clickstream --events $INCR --late 0.05 --seed 8 --start T\` (T: the second after the" \
		"base's last event time) arrive as files of $BATCH lines. engram (\`bench/win_bench.c\`): each file" \
		"appended with \`eg_batch_add_json\` and one \`eg_batch_commit\` (sync none; not timed), then" \
		"\`eg_win_run(w, 0)\` plus reading the new change records with \`eg_win_changes\` is timed. DuckDB," \
		"on a copy of the database: each file \`INSERT INTO events SELECT * FROM read_json(…)\` (not" \
		"timed), then the query with \`approx_quantile\` (timed). Afterwards engram's table equals a replay" \
		"from scratch of the same log (checked), and DuckDB's table holds every event."
	echo
	echo "| base events | batches | engram total s | median (max) ms per batch | change records read (corrections) | DuckDB total s | median (max) ms per batch | ratio |"
	echo "|---|---|---|---|---|---|---|---|"
	for S in $ISIZES; do
		echo "| $S | ${R[$S.i_batches]} | ${R[$S.i_total_s]} | ${R[$S.i_median_ms]} (${R[$S.i_max_ms]}) |" \
			"${R[$S.i_revisions]} (${R[$S.i_corrections]}) | ${R[$S.d_total_s]} | ${R[$S.d_median_ms]} (${R[$S.d_max_ms]}) |" \
			"**$(calc "${R[$S.d_total_s]} / ${R[$S.i_total_s]}" 0)×** |"
	done
	echo
	echo "Not timed: engram's appends took ${R[$ISIZES.i_append_s]} s in all; DuckDB's inserts ${R[$ISIZES.d_insert_s]} s."
	echo
	echo "## Memory"
	echo
	echo "Peak RSS of the replay (\`/usr/bin/time\`, median of the runs), and of the process that kept the" \
		"windows current (its store of the base plus $INCR events; \`getrusage\`), next to the windows" \
		"made and those still open (not final) at the end."
	echo
	echo "| events | replay peak RSS MiB | windows | open windows | kept current: peak RSS MiB | windows | open |"
	echo "|---|---|---|---|---|---|---|"
	for S in $SIZES; do
		if kept "$S"; then
			k="$(mib "${R[$S.i_maxrss_kib]}") | ${R[$S.i_windows]} | ${R[$S.i_open_windows]}"
		else
			k="— | — | —"
		fi
		echo "| $S | ${R[$S.rss]} | ${R[$S.windows]} | ${R[$S.open_windows]} | $k |"
	done
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	for S in $SIZES; do
		a=$(calc "${R[$S.approx_med]} / ${R[$S.e_med]}" 2) x=$(calc "${R[$S.exact_med]} / ${R[$S.e_med]}" 2)
		echo "| replay of $S events at least as fast as DuckDB (\`approx_quantile\`, the like-for-like peer) | ${a}× | $(ok "$a >= 1") |"
		echo "| the same against DuckDB's exact \`quantile_cont\` | ${x}× | $(ok "$x >= 1") |"
	done
	i=$(calc "${R[$ISIZES.d_total_s]} / ${R[$ISIZES.i_total_s]}" 0)
	echo "| keeping windows current over $ISIZES + $INCR events ≥ 100× faster in total than re-running DuckDB | ${i}× | $(ok "$i >= 100") |"
	echo
	machine_md windows "${ARGS}"
} >bench/results/windows.md
cat bench/results/windows.md

#!/usr/bin/env bash
# bench/features.sh [--check] [--runs R] [--out DIR] [--keep]
#
# The features benchmark (issue 22): point-in-time feature sets for label
# rows, `engram features` against DuckDB running the same features as one
# SQL query (the record-time condition included, so that the answers are
# equal) and against pandas merge_asof + running sums (the event-time-only
# answer, compared with engram's naive one), on `engram gen orders` events
# appended with their load's record time.  The spec is
# bench/features_spec.json (the issue's features on orders, with the
# projection examples/customers.json).  Steps:
#  1. the store: `engram gen orders --events N --customers N/100 --loads 10m
#     --late F --seed 1 --start 2012-01-01T00:00:00Z | engram append
#     --keep-recorded`; labels: `engram gen labels --from orders --every 7d
#     --sample S` (same orders options), S chosen for about LABELS rows;
#     a copy of them with a column known_at = 2100-01-01 (naive: known at
#     a time after every record time);
#  2. DuckDB's tables from `engram read --format ndjson` and the labels
#     (bench/duckdb_features.mjs load; timed apart), and a CSV of its events
#     table for pandas;
#  3. the answers checked before any time is taken: engram's CSV against
#     DuckDB's rows, every feature (numbers within 1e-9 relative, nulls
#     equal), guarded and naive; engram's naive against pandas on the
#     features pandas computes; engram's leakage report (rows_differ per
#     feature) against the rows where DuckDB's guarded and naive answers
#     differ.  A difference stops the run with the first differing row;
#  4. R runs, the systems taking turns: engram cold (STORE/idx/feat and
#     idx/proj deleted first), engram warm (its derived files from the run
#     before), engram warm without the projection feature, DuckDB's query,
#     engram naive, pandas; peak RSS and CPU time of each;
#  5. serving: bench/features_serve.c, 10000 calls of eg_feat_get for
#     random (customer, time) pairs through the C API: p50, p99, max.
# Writes features.md into the output directory and prints it.  It measures;
# the targets (engram >= 5x DuckDB, serving p99 < 1 ms) are reported met or
# missed, not asserted.
#   --check   a small store (EVENTS=300000, LABELS=3000 unless set), the
#             answers checked, one timed run, the report thrown away
#   --runs R  timed runs of each system (default 3)
#   --out DIR where features.md goes (default bench/results)
#   --keep    keep the work directory
# Environment: EVENTS (default 10000000), LABELS (about how many label rows,
# default 100000), LATE (the fraction of late events, default 0.02),
# FEATURES_DATA=DIR keeps the store and DuckDB's database in DIR/EVENTS and
# reuses them, ENGRAM and FEATURES_SERVE name other builds' binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, timed, warm, ok, git_version, need_engram, need_duckdb, workdir, machine_md
RUNS=3 KEEP=0 CHECK=0 OUT=$ROOT/bench/results ARGS=""
while [ $# -gt 0 ]; do
	case $1 in
	--check) CHECK=1 RUNS=1 ARGS="$ARGS --check"; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
if [ "$CHECK" = 1 ]; then
	EVENTS=${EVENTS:-300000} LABELS=${LABELS:-3000}
else
	EVENTS=${EVENTS:-10000000} LABELS=${LABELS:-100000}
fi
LATE=${LATE:-0.02}
CUSTOMERS=$((EVENTS / 100))
[ "$CUSTOMERS" -ge 1 ] || die "EVENTS must be at least 100"
need_engram
need_duckdb
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pandas' 2>/dev/null ||
	die "pandas missing: sudo apt-get install -y python3-pandas (make bench-deps)"
SERVE=${FEATURES_SERVE:-${B:-build}/bench/features_serve}
[ -x "$SERVE" ] || die "no $SERVE; run make bench-features"
workdir features "$KEEP"
[ "$CHECK" = 0 ] || [ "$OUT" != "$ROOT/bench/results" ] || OUT=$W/results   # --check keeps no results
mkdir -p "$OUT"
DUCK="node bench/duckdb_features.mjs"
SPEC=bench/features_spec.json
# the spec's features, in order; those pandas computes (bench/pandas_features.py)
FEATS=$(python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["features"]))' "$SPEC")
PANDAS_FEATS=orders_30d,spend_90d,avg_basket,days_since_order,last_method,orders_90d,refunds_90d,refund_rate,spent
ORDERS="--events $EVENTS --customers $CUSTOMERS --loads 10m --late $LATE --seed 1 --start 2012-01-01T00:00:00Z"
declare -A R T   # R: figures; T[SYSTEM]: the seconds of its runs
declare -A M C   # M[SYSTEM], C[SYSTEM]: the peak RSS (KiB) and CPU seconds of its runs

# --- 1. the store and the labels
D=${FEATURES_DATA:+$FEATURES_DATA/$EVENTS}
D=${D:-$W/data}
mkdir -p "$D"
S=$D/store
if [ ! -d "$S" ]; then
	log "$EVENTS events: generate, append --keep-recorded"
	t0=$(now)
	# shellcheck disable=SC2086
	"$ENGRAM" gen orders $ORDERS | "$ENGRAM" -d "$S.tmp" append --keep-recorded --sync none >"$W/append.json"
	[ "$(jnum appended "$W/append.json")" = "$EVENTS" ] || die "append: $(cat "$W/append.json")"
	calc "$(now) - $t0" 1 >"$D/append_s"
	mv "$S.tmp" "$S"
fi
if [ ! -f "$D/labels.csv" ]; then
	# every customer every 7 days (--sample 1) gives the scale; then the
	# fraction that leaves about LABELS rows
	# shellcheck disable=SC2086
	all=$("$ENGRAM" gen labels --from orders --every 7d --sample 1 $ORDERS | tail -n +2 | wc -l)
	[ "$all" -gt 0 ] || die "gen labels made no rows at $EVENTS events"
	SAMPLE=$(calc "($LABELS >= $all ? 1 : $LABELS / $all)" 6)
	echo "$SAMPLE" >"$D/sample"
	# shellcheck disable=SC2086
	"$ENGRAM" gen labels --from orders --every 7d --sample "$SAMPLE" $ORDERS >"$D/labels.csv.tmp"
	mv "$D/labels.csv.tmp" "$D/labels.csv"
fi
SAMPLE=$(cat "$D/sample")
R[labels]=$(($(wc -l <"$D/labels.csv") - 1))
[ "${R[labels]}" -gt 0 ] || die "no label rows"
# the naive copy: known at 2100, after every record time
awk 'NR == 1 { print $0 ",known_at"; next } { print $0 ",2100-01-01T00:00:00Z" }' "$D/labels.csv" >"$W/labels_naive.csv"

# --- 2. DuckDB's tables, and pandas' CSV of the same events
if [ ! -f "$D/f.duckdb" ]; then
	log "$EVENTS events: engram read | DuckDB's tables"
	"$ENGRAM" -d "$S" --format ndjson read >"$W/events.ndjson"
	rm -f "$D/f.duckdb.tmp"*
	$DUCK load "$D/f.duckdb.tmp" "$W/events.ndjson" "$D/labels.csv" - >"$W/load.json"
	[ "$(jnum events "$W/load.json")" = "$EVENTS" ] || die "DuckDB load: $(cat "$W/load.json")"
	jnum s "$W/load.json" >"$D/duck_load_s"
	rm "$W/events.ndjson"
	mv "$D/f.duckdb.tmp" "$D/f.duckdb"
fi
if [ ! -f "$D/events.csv" ]; then
	$DUCK export "$D/f.duckdb" "$D/events.csv.tmp" >/dev/null
	mv "$D/events.csv.tmp" "$D/events.csv"
fi
R[append_s]=$(cat "$D/append_s" 2>/dev/null || echo "?") R[duck_load]=$(cat "$D/duck_load_s" 2>/dev/null || echo "?")
R[duck_mib]=$(calc "$(bytes "$D"/f.duckdb*) / 1048576" 0)

# the spec without its projection feature: what that one costs
python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
s["features"] = {k: v for k, v in s["features"].items() if "projection" not in v}
json.dump(s, open(sys.argv[2], "w"))' "$SPEC" "$W/noproj.json"
NOPROJ_FEATS=${FEATS/,spent/}

# --- the runs.  run SYSTEM OUT: one run, its rows to OUT; SECS, RSS and
# CPU (user + system seconds of the process) set (engram: the process's
# wall time; DuckDB and pandas: their own timing of the query or the
# computation, without the start-up and the load)
ctimed() {   # ctimed OUT CMD...: lib.sh's timed, with the CPU time too
	local out=$1 t0 user sys; shift
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$W/rss" "$@" >"$out"
	SECS=$(calc "$(now) - $t0" 4)
	read -r RSS user sys < <(tail -1 "$W/rss")
	CPU=$(calc "$user + $sys" 2)
}
features() {   # features SPEC LABELS OUT [ARGS...]
	local spec=$1 labels=$2 out=$3; shift 3
	ctimed /dev/null "$ENGRAM" -d "$S" features "$spec" --labels "$labels" --format csv --out "$out" "$@"
}
run() {
	case $1 in
	cold) rm -rf "$S/idx/feat" "$S/idx/proj"; features "$SPEC" "$D/labels.csv" "$2" ;;
	warm) features "$SPEC" "$D/labels.csv" "$2" ;;
	noproj) features "$W/noproj.json" "$D/labels.csv" "$2" ;;
	naive) features "$SPEC" "$W/labels_naive.csv" "$2" --cutoff-known-at known_at ;;
	duck) ctimed "$W/duck.json" $DUCK query "$D/f.duckdb" "$2"; SECS=$(jnum s "$W/duck.json") ;;
	duck_naive) ctimed "$W/duck.json" $DUCK query "$D/f.duckdb" "$2" naive; SECS=$(jnum s "$W/duck.json") ;;
	pandas) ctimed "$W/pandas.json" /usr/bin/python3 bench/pandas_features.py "$D/events.csv" "$D/labels.csv" "$2"
		SECS=$(jnum s "$W/pandas.json") R[pandas_load]=$(jnum load_s "$W/pandas.json") ;;
	esac
}
same() {   # same A B COLS WHAT: the rows agree, or the run stops
	python3 bench/features_cmp.py "$1" "$2" "$3" >/dev/null || die "$4: the answers differ (above)"
}

# --- 3. the answers
log "answers: engram (cold, then warm), DuckDB, guarded and naive; pandas"
run cold "$W/e_cold.csv"
run warm "$W/e.csv"
cmp -s "$W/e_cold.csv" "$W/e.csv" || die "engram's cold and warm outputs differ"
run duck "$W/d.ndjson"
same "$W/e.csv" "$W/d.ndjson" "$FEATS" "engram against DuckDB"
run naive "$W/en.csv"
run duck_naive "$W/dn.ndjson"
same "$W/en.csv" "$W/dn.ndjson" "$FEATS" "engram naive (known at 2100) against DuckDB without the record-time condition"
run pandas "$W/p.ndjson"
same "$W/en.csv" "$W/p.ndjson" "$PANDAS_FEATS" "engram naive against pandas"
run noproj "$W/e_np.csv"
same "$W/e_np.csv" "$W/d.ndjson" "$NOPROJ_FEATS" "engram without the projection feature against DuckDB"
# the leakage report's rows_differ against DuckDB's own guarded/naive count
"$ENGRAM" -d "$S" features "$SPEC" --labels "$D/labels.csv" --format csv --out "$W/e_l.csv" \
	--leakage-report --leakage-out "$W/leak.ndjson"
cmp -s "$W/e_l.csv" "$W/e.csv" || die "engram's output with --leakage-report differs from without"
python3 - "$W/d.ndjson" "$W/dn.ndjson" "$W/leak.ndjson" "$FEATS" >"$W/leak.tsv" <<'EOF' || die "leakage report against DuckDB (above)"
import json, sys
guarded, naive, report, feats = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
sys.path.insert(0, "bench")
from features_cmp import same   # one meaning of "equal" for both checks
diff = {f: 0 for f in feats}
for a, b in zip(open(guarded), open(naive)):
    a, b = json.loads(a), json.loads(b)
    for f in feats:
        diff[f] += not same(a[f], b[f])
rep = {}
for line in open(report):
    if line.strip():
        j = json.loads(line)
        rep[j["feature"]] = j
bad = 0
for f in feats:
    r = rep.get(f, {})
    if r.get("rows_differ") != diff[f]:
        print(f"{f}: engram's leakage report says {r.get('rows_differ')} rows differ, DuckDB's guarded and naive answers differ in {diff[f]}", file=sys.stderr)
        bad = 1
    print(f"{f}\t{diff[f]}\t{r.get('abs_diff')}")
sys.exit(bad)
EOF
R[rows]=$(python3 bench/features_cmp.py "$W/e.csv" "$W/d.ndjson" "$FEATS")

# --- 4. the timed runs, the systems taking turns
SYSTEMS="cold warm noproj duck naive pandas"
for r in $(seq "$RUNS"); do
	log "run $r of $RUNS: $SYSTEMS"
	warm "$S"
	cat "$D"/f.duckdb* >/dev/null
	for s in $SYSTEMS; do
		run "$s" "$W/out"
		T[$s]="${T[$s]:-} $SECS" M[$s]="${M[$s]:-} $RSS" C[$s]="${C[$s]:-} $CPU"
	done
done
for s in $SYSTEMS; do
	R[$s]=$(median ${T[$s]})
	R[$s.rss]=$(calc "$(median ${M[$s]}) / 1024" 0)
	R[$s.cpu]=$(median ${C[$s]})
done

# --- 5. serving: random (customer, time) pairs from the labels' range
log "serving: 10000 eg_feat_get calls"
python3 - "$D/labels.csv" "$W/pairs.tsv" <<'EOF'
import csv, random, sys
rows = list(csv.DictReader(open(sys.argv[1])))
random.seed(22)
with open(sys.argv[2], "w") as out:
    for _ in range(10000):
        r = random.choice(rows)
        out.write(f"{r['customer']}\t{r['label_time']}\n")
EOF
"$SERVE" "$S" "$SPEC" "$W/pairs.tsv" >"$W/serve.json"
for k in calls first_us p50_us p99_us max_us mean_us; do R[serve.$k]=$(jnum "$k" "$W/serve.json"); done

# --- report
mib() { local b; b=$(bytes "$@" 2>/dev/null); calc "${b:-0} / 1048576" 0; }   # a missing directory: 0
R[store_mib]=$(mib "$S") R[log_mib]=$(mib "$S/log") R[feat_mib]=$(mib "$S/idx/feat") R[proj_mib]=$(mib "$S/idx/proj")
GIT_V=$(git_version)
DUCK_V=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["duckdb"])' "$W/duck.json")
PANDAS_V=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pandas"])' "$W/pandas.json")
runs() { echo "$1" | sed 's/^ //; s/ /, /g'; }
x() { calc "$1 / $2" 1; }
{
	echo "# engram features benchmark"
	echo
	echo "${R[labels]} label rows × the 11 features of [bench/features_spec.json](../features_spec.json)" \
		"(the issue's 9 on orders, with orders_90d and refunds_90d for the ratio; the projection field from" \
		"[examples/customers.json](../../examples/customers.json)) over $EVENTS events of $CUSTOMERS customers:"
	echo
	echo "- events: \`engram gen orders $ORDERS | engram append --keep-recorded --sync none\`" \
		"(each event recorded at the end of the 10-minute load that delivered it; a fraction $LATE arrives 1–12 h late)"
	echo "- labels: \`engram gen labels --from orders --every 7d --sample $SAMPLE\` with the same orders options"
	echo "- store: ${R[store_mib]} MiB (generate and append: ${R[append_s]} s), of which the log ${R[log_mib]} MiB and the" \
		"derived files of the features ${R[feat_mib]} MiB (idx/feat) and of the projection ${R[proj_mib]} MiB (idx/proj:" \
		"none when its field is answered from the entity table, docs/FEATURES.md);" \
		"DuckDB's database ${R[duck_mib]} MiB" \
		"(load from \`engram read --format ndjson\` and the labels CSV: ${R[duck_load]} s, not in the times below)"
	echo
	echo "**Checked first** (the run stops otherwise): every feature of all ${R[rows]} rows equal in engram's CSV and" \
		"DuckDB's rows (numbers within 1e-9 relative, nulls equal), guarded and naive (known at 2100, against" \
		"the query without \`recorded_us <= k\`); engram's naive values equal pandas' on the features pandas" \
		"computes ($(list "${PANDAS_FEATS//,/ }")); cold and warm runs byte-identical; the leakage report's" \
		"rows_differ equal to the rows where DuckDB's guarded and naive answers differ:"
	echo
	echo "| feature | rows that differ without the record-time condition | abs_diff (engram's report) |"
	echo "|---|---|---|"
	while IFS=$'\t' read -r f n a; do echo "| $f | $n | $a |"; done <"$W/leak.tsv"
	echo
	echo "## Times"
	echo
	echo "Medians of $RUNS runs, the systems taking turns; all runs in brackets; peak RSS and CPU seconds" \
		"(user + system) of the process, start-up and writing included."
	echo "engram: \`engram -d STORE features $SPEC --labels labels.csv --format csv --out FILE\`, the" \
		"whole process. *cold*: after \`rm -rf STORE/idx/feat STORE/idx/proj\` (no derived files);" \
		"*warm*: its derived files from the run before. DuckDB: \`bench/duckdb_features.mjs query\`:" \
		"opening the database, the query (see the file) and fetching every row into node, timed in node." \
		"pandas: \`bench/pandas_features.py\`, the computation only (reading the events CSV took" \
		"${R[pandas_load]} s more), $(echo "$PANDAS_FEATS" | tr ',' '\n' | wc -l) of the 11 features, without the record-time condition."
	echo
	echo "| system | s | runs | peak RSS MiB | CPU s | peer ÷ engram warm | peer ÷ engram cold |"
	echo "|---|---|---|---|---|---|---|"
	echo "| engram, warm | ${R[warm]} | $(runs "${T[warm]}") | ${R[warm.rss]} | ${R[warm.cpu]} | | |"
	echo "| engram, cold | ${R[cold]} | $(runs "${T[cold]}") | ${R[cold.rss]} | ${R[cold.cpu]} | | |"
	echo "| DuckDB | ${R[duck]} | $(runs "${T[duck]}") | ${R[duck.rss]} (node) | ${R[duck.cpu]} (node) |" \
		"**$(x "${R[duck]}" "${R[warm]}")** | **$(x "${R[duck]}" "${R[cold]}")** |"
	if [ "${R[duck_load]}" != "?" ]; then
		l=$(calc "${R[duck_load]} + ${R[duck]}" 4)
		echo "| DuckDB, load (once, from \`engram read\`'s NDJSON) + query | $l | | | | | $(x "$l" "${R[cold]}") |"
	fi
	echo "| engram, warm, without the projection feature (10 features) | ${R[noproj]} | $(runs "${T[noproj]}") |" \
		"${R[noproj.rss]} | ${R[noproj.cpu]} | | |"
	echo "| engram, naive (known at 2100), warm | ${R[naive]} | $(runs "${T[naive]}") | ${R[naive.rss]} | ${R[naive.cpu]} | | |"
	echo "| pandas, naive | ${R[pandas]} | $(runs "${T[pandas]}") | ${R[pandas.rss]} (with its events) | ${R[pandas.cpu]} |" \
		"**$(x "${R[pandas]}" "${R[naive]}")** (÷ engram naive) | |"
	echo
	echo "## Serving"
	echo
	echo "\`bench/features_serve.c\`: the spec opened once through the C API (\`eg_feat_open\`), then" \
		"${R[serve.calls]} \`eg_feat_get\` calls, each one (customer, cutoff) of a random label row, known at the cutoff; each call timed."
	echo
	echo "| first call µs | p50 µs | p99 µs | max µs | mean µs |"
	echo "|---|---|---|---|---|"
	echo "| ${R[serve.first_us]} | ${R[serve.p50_us]} | ${R[serve.p99_us]} | ${R[serve.max_us]} | ${R[serve.mean_us]} |"
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	a=$(x "${R[duck]}" "${R[warm]}") b=$(x "${R[duck]}" "${R[cold]}")
	echo "| engram ≥ 5× faster than DuckDB, warm | ${a}× | $(ok "$a >= 5") |"
	echo "| engram ≥ 5× faster than DuckDB, cold | ${b}× | $(ok "$b >= 5") |"
	echo "| serving p99 < 1 ms at $EVENTS events | ${R[serve.p99_us]} µs | $(ok "${R[serve.p99_us]} < 1000") |"
	echo
	machine_md features "${ARGS}"
	echo "- environment: EVENTS=$EVENTS LABELS=$LABELS LATE=$LATE"
	echo "- pandas $PANDAS_V (Debian python3-pandas, $(/usr/bin/python3 --version))"
} >"$OUT/features.md"
cat "$OUT/features.md"

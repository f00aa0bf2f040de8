#!/usr/bin/env bash
# bench/metrics.sh [--series N] [--days D] [--runs R] [--quick] [--check] [--keep]
#
# The metrics benchmark (issue 27): `engram gen metrics --series N --days D`
# (default 1000 series for 7 days, one sample a minute: 10,080,000 samples,
# ~1% of them late; tags endpoint, method, region and status), appended to a
# store; the rollups warmed by a first `engram metrics --every 1h --agg
# avg,p99` (timed: the cold fold); then, alternating, that query (whole
# process, warm) and the same GROUP BY in DuckDB over the raw samples loaded
# from the same NDJSON (quantile_disc and approx_quantile; query time only).
# engram's answer is first checked against DuckDB's exact one (one row per
# hour and metric name; avg to 1e-9, p99 within the sketch's 0.5% of the
# nearest-rank value).  Then every rollup part is built and its bytes per
# sample reported, beside the store's.  Writes bench/results/metrics.md.
#
#   --quick   100 series for 1 day (144,000 samples), the report written
#   --check   50 series for 1 day (72,000 samples): the answers checked,
#             nothing timed, no report (make bench-check)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
SERIES=1000 DAYS=7 RUNS=7 KEEP=0 CHECK=0
while [ $# -gt 0 ]; do
	case $1 in
	--series) SERIES=$2; shift 2 ;;
	--days) DAYS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--quick) SERIES=100 DAYS=1; shift ;;
	--check) SERIES=50 DAYS=1 CHECK=1; shift ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/metrics.sh [--series N] [--days D] [--runs R] [--quick] [--check] [--keep]" >&2; exit 2 ;;
	esac
done
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first (ENGRAM=... for another build)"
need_duckdb
W=${METRICS_BENCH_DIR:-$ROOT/bench/results/tmp/metrics}
rm -rf "$W" && mkdir -p "$W"
[ "$KEEP" = 1 ] || trap 'rm -rf "$W"' EXIT
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
S="$W/store" D="$W/duck.db" DUCK="node bench/duckdb_metrics.mjs"

GEN=(gen metrics --series "$SERIES" --days "$DAYS")
log "engram ${GEN[*]}"
"$ENGRAM" "${GEN[@]}" >"$W/m.ndjson"
N=$(wc -l <"$W/m.ndjson")
log "appending $N samples"
t0=$(now); "$ENGRAM" -d "$S" append <"$W/m.ndjson" >/dev/null; APPEND_S=$(calc "$(now) - $t0" 2)
Q=(metrics --every 1h --agg avg,p99)
t0=$(now); "$ENGRAM" -d "$S" --format ndjson "${Q[@]}" >"$W/e.ndjson"; COLD_S=$(calc "$(now) - $t0" 2)
log "loading DuckDB"
DLOAD=$($DUCK load "$D" "$W/m.ndjson")
$DUCK check "$D" >"$W/d.ndjson"
python3 - "$W/e.ndjson" "$W/d.ndjson" <<'PY'
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
d = [json.loads(l) for l in open(sys.argv[2])]
assert len(e) == len(d), "engram %d rows, DuckDB %d" % (len(e), len(d))
for a, b in zip(e, d):
    assert (a["time"], a["name"]) == (b["time"], b["name"]), (a, b)
    assert abs(a["avg"] - b["avg"]) <= 1e-9 * abs(b["avg"]), (a, b)
    assert abs(a["p99"] - b["p99"]) <= 0.005 * abs(b["p99"]), (a, b)
assert e, "no rows"
print("check: %d rows equal (avg to 1e-9, p99 within 0.5%% of nearest rank)" % len(e), file=sys.stderr)
PY
[ "$CHECK" = 0 ] || exit 0
ET=() DD=() DA=()
for ((r = 0; r < RUNS; r++)); do
	t0=$(now); "$ENGRAM" -d "$S" --format ndjson "${Q[@]}" >/dev/null; ET+=("$(calc "$(now) - $t0" 4)")
	j=$($DUCK query "$D" 1)
	DD+=("$(jq -r .disc_median_s <<<"$j")") DA+=("$(jq -r .approx_median_s <<<"$j")")
	DUCK_V=$(jq -r .duckdb <<<"$j")
done
EM=$(median "${ET[@]}") DM=$(median "${DD[@]}") AM=$(median "${DA[@]}")
log "engram ${EM}s, DuckDB ${DM}s (quantile_disc), ${AM}s (approx_quantile)"
# every part of the rollups, for their bytes
for a in "--every 1m" "--every 1d" "--every 1m --by region" "--every 1h --by region" "--every 1d --by region"; do
	# shellcheck disable=SC2086
	"$ENGRAM" -d "$S" metrics $a --agg count >/dev/null
done
RD=$(echo "$S"/idx/metrics/*/)
parts() { for f in "$RD"/series "$RD"/series-* "$RD"/name-*; do
	printf '| %s | %s | %s |\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(calc "$(stat -c %s "$f") / $N" 2)"; done; }
ROLL=$(bytes "$RD") LOGB0=$(bytes "$S/log") STORE0=$(bytes "$S") DUCKB=$(stat -c %s "$D")
# the store as it ages: its segments sealed (zstd, what the writers'
# background sealing does to closed segments; compact seals them all now)
t0=$(now); "$ENGRAM" -d "$S" compact >/dev/null; COMPACT_S=$(calc "$(now) - $t0" 2)
LOGB=$(bytes "$S/log") STORE=$(bytes "$S") COLB=$(bytes "$S/idx/col")
IDXB=$(( $(bytes "$S/idx") - COLB - ROLL ))
{
	echo "# engram metrics against DuckDB (issue 27)"
	echo
	echo "$SERIES series, one sample a minute for $DAYS days: $N samples (~1% of them 1 to 120 minutes"
	echo "late), from \`engram ${GEN[*]}\` (tags endpoint, method, region, status)."
	echo "Query: \`engram metrics --every 1h --agg avg,p99\` (no name: one row per hour and name,"
	echo "$(wc -l <"$W/e.ndjson") rows), served by the per-name 1h rollup."
	echo "DuckDB: the same GROUP BY (time_bucket, name; avg; quantile_disc or approx_quantile 0.99) over"
	echo "the raw samples in a table loaded from the same NDJSON. engram's answer was checked first: every"
	echo "row equal to DuckDB's exact one (avg to 1e-9 relative, p99 within 0.5% of the nearest-rank value)."
	echo
	echo "| | median (s) | runs (s) |"
	echo "|---|---|---|"
	echo "| engram metrics (whole process, warm rollups) | $EM | $(list "${ET[@]}") |"
	echo "| DuckDB quantile_disc (query only) | $DM | $(list "${DD[@]}") |"
	echo "| DuckDB approx_quantile (query only) | $AM | $(list "${DA[@]}") |"
	echo
	echo "- engram under 50 ms: $(ok "$EM < 0.05"); ratio DuckDB (quantile_disc) / engram: $(calc "$DM / $EM" 1)x, approx_quantile: $(calc "$AM / $EM" 1)x (aim 20x: $(ok "$DM / $EM >= 20"))"
	echo "- append of the $N samples: ${APPEND_S}s; the first query (folding all of them into the per-name 1h rollup): ${COLD_S}s; DuckDB load: $(jq -r .load_s <<<"$DLOAD")s"
	echo
	echo "## Bytes per sample"
	echo
	echo "| file | bytes | bytes/sample |"
	echo "|---|---|---|"
	parts
	echo "| all rollups | $ROLL | $(calc "$ROLL / $N" 2) |"
	echo "| log as appended (JSON records, not sealed yet) | $LOGB0 | $(calc "$LOGB0 / $N" 2) |"
	echo "| log sealed (engram compact, zstd level 3, ${COMPACT_S}s) | $LOGB | $(calc "$LOGB / $N" 2) |"
	echo "| indexes (ids, streams, types, blocks) | $IDXB | $(calc "$IDXB / $N" 2) |"
	echo "| column files | $COLB | $(calc "$COLB / $N" 2) |"
	echo "| whole store as appended | $STORE0 | $(calc "$STORE0 / $N" 2) |"
	echo "| whole store sealed (log, indexes, columns, rollups) | $STORE | $(calc "$STORE / $N" 2) |"
	echo "| DuckDB database file | $DUCKB | $(calc "$DUCKB / $N" 2) |"
	echo
	echo "Prometheus publishes 1-2 bytes per sample (Gorilla-style delta-of-delta"
	echo "timestamps and XOR'd values in its TSDB chunks)."
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load at start $LOAD0"
	echo "- engram $(git_version), DuckDB $DUCK_V"
} >bench/results/metrics.md
cat bench/results/metrics.md

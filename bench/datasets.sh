#!/usr/bin/env bash
# bench/datasets.sh [--check] [--events N] [--runs R] [--out DIR] [--keep]
#
# The datasets benchmark (issue 23, "filter on the last step"): `engram
# dataset build` on a base of N rows (one per clickstream event, 8 columns,
# 5 of them read from the event's data) with the 6 filters of
# bench/datasets_spec.json (from half the rows failing to 1 in 100; `found`
# is NULL for every event that is not a search), keyed by user (about 100
# rows per key).  Its peers, on the same store in the same run:
#  B. `engram sql "SELECT DISTINCT user_id FROM (BASE) WHERE (f1) AND …"`:
#     the same filter-as-you-go query by the same SQL engine (the issue's
#     peer: build within 1.5 times of it);
#  C. sqlite3 over a native SQLite table holding the base rows (loaded once
#     from `engram sql BASE --format ndjson` through python3's sqlite3, so
#     that integers stay integers and missing fields NULL), the same query
#     over that table.
# Steps: the store (`engram gen clickstream --events N --users N/100
# --seed 7 | engram append --sync none`); the SQLite table; the final rows
# of A, B and C checked equal after sorting (the run stops otherwise);
# R runs of A, B, C and two profile queries (P1: every base column and
# every filter printed as NDJSON to /dev/null, what the build's row pass
# costs in `engram sql`; P2: the same rows summed into one row, the row
# pass without the printing), the systems taking turns; then R runs each
# of `engram dataset explain` (spec order, --order reversed, --overlaps),
# `engram dataset why` for a kept key, and `engram dataset rows`, each the
# wall time of the whole process.  Writes datasets.md into the output
# directory and prints it.  It measures; the targets (build within 1.5x of
# B, explain and why under 100 ms) are reported met or missed, not asserted.
#   --check    a small store (EVENTS=50000 unless --events), the answers
#              checked, one timed run, the report thrown away
#   --events N base rows (default 1000000)
#   --runs R   timed runs of each (default 5)
#   --out DIR  where datasets.md goes (default bench/results)
#   --keep     keep the work directory
# DATASETS_DATA=DIR keeps the store and the SQLite file in DIR/N and reuses
# them; ENGRAM names another build's binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, jnum, bytes, ok, timed, warm, git_version, need_engram, workdir
RUNS=5 KEEP=0 CHECK=0 OUT=$ROOT/bench/results ARGS="" EVENTS=""
while [ $# -gt 0 ]; do
	case $1 in
	--check) CHECK=1 RUNS=1 ARGS="$ARGS --check"; shift ;;
	--events) EVENTS=$2 ARGS="$ARGS --events $2"; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
if [ "$CHECK" = 1 ]; then EVENTS=${EVENTS:-50000}; else EVENTS=${EVENTS:-1000000}; fi
USERS=$((EVENTS / 100))
[ "$USERS" -ge 1 ] || die "--events must be at least 100"
need_engram
command -v sqlite3 >/dev/null || die "sqlite3 missing: sudo apt-get install -y sqlite3"
command -v python3 >/dev/null || die "python3 missing"
workdir datasets "$KEEP"
[ "$CHECK" = 0 ] || [ "$OUT" != "$ROOT/bench/results" ] || OUT=$W/results   # --check keeps no results
mkdir -p "$OUT"
SPEC=bench/datasets_spec.json
# the spec's parts: its name, key, base, the filters as one WHERE and as a
# list of columns, the filter names reversed (for explain --order)
spec() {
	python3 - "$SPEC" "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
f = s["filters"]
print({"name": s["name"], "key": s["key"], "base": s["base"],
       "where": " AND ".join("(" + x["sql"] + ")" for x in f),
       "cols": ", ".join("(" + x["sql"] + ") AS f_" + x["name"] for x in f),
       "sum": ", ".join("sum(" + x["sql"] + ")" for x in f),
       "reversed": ",".join(x["name"] for x in reversed(f)),
       "nfilters": str(len(f))}[sys.argv[2]])
EOF
}
NAME=$(spec name) KEY=$(spec key) BASE=$(spec base) WHERE=$(spec where) FCOLS=$(spec cols)
FSUM=$(spec sum) REV=$(spec reversed) NF=$(spec nfilters)
Q_B="SELECT DISTINCT $KEY FROM ($BASE) WHERE $WHERE"
Q_C="SELECT DISTINCT $KEY FROM base WHERE $WHERE"
Q_P1="SELECT *, $FCOLS FROM ($BASE)"
# every column read (length of each), so that none is left out of the plan
# (one line: engram sql's NDJSON writes a column name's newline unescaped)
LENS="sum(length(user_id) + length(type) + length(time) + length(device) + length(referrer) + length(duration_ms) + length(results) + length(page_url))"
Q_P2="SELECT count(*), $LENS, $FSUM FROM ($BASE)"
# P3: the base's columns alone (no filter); P4: P2 over the base
# MATERIALIZED first (each column computed once, not again in each filter
# that names it, as the flattened subquery of P2 and of the build does)
Q_P3="SELECT count(*), $LENS FROM ($BASE)"
Q_P4="WITH b AS MATERIALIZED ($BASE) SELECT count(*), $LENS, $FSUM FROM b"
declare -A R T   # R: figures; T[WHAT]: the seconds of its runs
declare -A M     # M[WHAT]: the peak RSS (KiB) of its runs

# --- 1. the store and the SQLite table of the base rows
D=${DATASETS_DATA:+$DATASETS_DATA/$EVENTS}
D=${D:-$W/data}
mkdir -p "$D"
S=$D/store
GEN="--events $EVENTS --users $USERS --seed 7"
if [ ! -d "$S" ]; then
	log "$EVENTS events: generate, append"
	# shellcheck disable=SC2086
	"$ENGRAM" gen clickstream $GEN | "$ENGRAM" -d "$S.tmp" append --sync none >"$W/append.json"
	[ "$(jnum appended "$W/append.json")" = "$EVENTS" ] || die "append: $(cat "$W/append.json")"
	mv "$S.tmp" "$S"
fi
if [ ! -f "$D/base.sqlite" ]; then
	log "the base rows into a SQLite table"
	t0=$(now)
	rm -f "$D/base.sqlite.tmp"
	"$ENGRAM" -d "$S" --format ndjson sql "$BASE" | python3 -c '
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cols = None
def rows():
    global cols
    for line in sys.stdin:
        r = json.loads(line)
        if cols is None:
            cols = list(r)
            # no declared types: each value keeps the type engram gave it
            db.execute("CREATE TABLE base (" + ", ".join(cols) + ")")
        yield tuple(r[c] for c in cols)
it = rows()
first = next(it)
db.execute("INSERT INTO base VALUES (" + ", ".join("?" * len(cols)) + ")", first)
db.executemany("INSERT INTO base VALUES (" + ", ".join("?" * len(cols)) + ")", it)
db.commit()
db.execute("VACUUM")
' "$D/base.sqlite.tmp"
	calc "$(now) - $t0" 1 >"$D/load_s"
	mv "$D/base.sqlite.tmp" "$D/base.sqlite"
fi
R[load_s]=$(cat "$D/load_s" 2>/dev/null || echo "?")
R[sqlite_rows]=$(sqlite3 "$D/base.sqlite" "SELECT count(*) FROM base")
[ "${R[sqlite_rows]}" = "$EVENTS" ] || die "the SQLite table has ${R[sqlite_rows]} rows, not $EVENTS"

# --- the runs.  run WHAT OUT: one run, its rows to OUT; SECS and RSS set
# (lib.sh's timed: the wall time and peak RSS of the whole process)
run() {
	case $1 in
	A) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset build "$SPEC" --force ;;
	B) timed "$2" "$ENGRAM" -d "$S" --format ndjson sql "$Q_B" ;;
	C) timed "$2" sqlite3 -json "$D/base.sqlite" "$Q_C" ;;
	P1) timed "$2" "$ENGRAM" -d "$S" --format ndjson sql "$Q_P1" ;;
	P2) timed "$2" "$ENGRAM" -d "$S" --format ndjson sql "$Q_P2" ;;
	P3) timed "$2" "$ENGRAM" -d "$S" --format ndjson sql "$Q_P3" ;;
	P4) timed "$2" "$ENGRAM" -d "$S" --format ndjson sql "$Q_P4" ;;
	explain) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset explain "$NAME" ;;
	order) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset explain "$NAME" --order "$REV" ;;
	overlaps) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset explain "$NAME" --overlaps ;;
	why) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset why "$NAME" "$WHY_KEY" ;;
	rows) timed "$2" "$ENGRAM" -d "$S" --format ndjson dataset rows "$NAME" ;;
	esac
}
# keys FILE: the key values of NDJSON rows (engram's; sqlite3 -json's
# array), sorted
keys() {
	python3 - "$1" "$KEY" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
rows = json.loads(t) if t.lstrip().startswith("[") else [json.loads(l) for l in t.splitlines() if l.strip()]
for k in sorted(str(r[sys.argv[2]]) for r in rows):
    print(k)
EOF
}

# --- 2. the answers
log "answers: dataset build, engram sql's single query, sqlite3 over the table"
warm "$S"
run A "$W/a.out" 2>"$W/a.err"
for s in B C; do run $s "$W/${s,,}.out"; done
for s in A B C; do keys "$W/${s,,}.out" >"$W/$s.keys"; done
[ -s "$W/A.keys" ] || die "the build kept no rows: the spec's filters leave nothing at $EVENTS events"
[ "$(sort -u "$W/A.keys" | wc -l)" = "$(wc -l <"$W/A.keys")" ] || die "the build's final rows repeat a key (DISTINCT)"
for s in B C; do
	if ! cmp -s "$W/A.keys" "$W/$s.keys"; then
		diff "$W/A.keys" "$W/$s.keys" | head -10 >&2 || true
		die "the final rows of the build and of $s differ (< build, > $s)"
	fi
done
R[final]=$(wc -l <"$W/A.keys")
# P2's filter sums against explain's rows_failing: the kept flags are the
# filters' values
run P2 "$W/p2.out"
run explain "$W/explain.out"
python3 - "$W/p2.out" "$W/explain.out" "$EVENTS" "$W/explain.tsv" <<'EOF' || die "explain's rows_failing differ from the filters' sums in engram sql (above)"
import json, sys
p2 = json.loads(open(sys.argv[1]).readline())
sums = list(p2.values())[2:]
ex = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
n = int(sys.argv[3])
bad = 0
with open(sys.argv[4], "w") as out:
    for s, e in zip(sums, ex):
        if n - (s or 0) != e["rows_failing"]:
            print(f"{e['filter']}: explain says {e['rows_failing']} rows fail, engram sql {n - (s or 0)}", file=sys.stderr)
            bad = 1
        out.write("\t".join(str(e[k]) for k in ("filter", "rows_failing", "keys_failing", "only_rows", "rows_remaining", "keys_remaining")) + "\n")
if len(ex) != len(sums):
    print(f"explain has {len(ex)} filters, the spec {len(sums)}", file=sys.stderr)
    bad = 1
sys.exit(bad)
EOF
R[kept]=$(tail -1 "$W/explain.tsv" | cut -f5)
# the key for `why`: the kept key with the most base rows
WHY_KEY=$(sqlite3 "$D/base.sqlite" "SELECT $KEY FROM base WHERE $KEY IN ($Q_C) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
R[why_rows]=$(sqlite3 "$D/base.sqlite" "SELECT count(*) FROM base WHERE $KEY = '$WHY_KEY'")
run why "$W/why.out"
[ "$(python3 -c 'import json, sys; print(len({json.loads(l)["row"] for l in open(sys.argv[1]) if l.strip()}))' "$W/why.out")" = "${R[why_rows]}" ] ||
	die "why $WHY_KEY does not show its ${R[why_rows]} base rows"
run rows "$W/rows.out"
keys "$W/rows.out" | cmp -s - "$W/A.keys" || die "dataset rows differs from the build's final rows"

# --- 3. the timed runs, taking turns
SYSTEMS="A B C P1 P2 P3 P4"
for r in $(seq "$RUNS"); do
	log "run $r of $RUNS: $SYSTEMS"
	warm "$S"
	cat "$D/base.sqlite" >/dev/null
	for s in $SYSTEMS; do
		run "$s" /dev/null 2>/dev/null
		T[$s]="${T[$s]:-} $SECS" M[$s]="${M[$s]:-} $RSS"
	done
done
READS="explain order overlaps why rows"
for r in $(seq "$RUNS"); do
	for s in $READS; do
		run "$s" /dev/null
		T[$s]="${T[$s]:-} $SECS" M[$s]="${M[$s]:-} $RSS"
	done
done
for s in $SYSTEMS $READS; do
	R[$s]=$(median ${T[$s]})
	R[$s.rss]=$(calc "$(median ${M[$s]}) / 1024" 0)
done

# --- report
TABLE=$S/datasets/$NAME/table
R[table_b]=$(bytes "$TABLE") R[dir_b]=$(bytes "$S/datasets/$NAME") R[sqlite_b]=$(bytes "$D/base.sqlite")
R[store_mib]=$(calc "$(bytes "$S/log") / 1048576" 0)
GIT_V=$(git_version)
SQLITE_V=$(sqlite3 --version | cut -d' ' -f1)
runs() { echo "$1" | sed 's/^ //; s/ /, /g'; }
x() { calc "$1 / $2" 2; }
ms() { calc "$1 * 1000" 0; }
{
	echo "# engram dataset benchmark"
	echo
	echo "\`engram dataset build\` of [bench/datasets_spec.json](../datasets_spec.json): a base of $EVENTS rows (one per" \
		"event of \`engram gen clickstream $GEN | engram append --sync none\`, log ${R[store_mib]} MiB), 8 columns" \
		"of which 5 read from the event's data with \`->>\`, key \`$KEY\` ($USERS users, about 100 rows each)," \
		"$NF filters, \`output: [$KEY]\`, distinct: ${R[final]} final rows from ${R[kept]} kept rows."
	echo
	echo "**Checked first** (the run stops otherwise): the build's final rows equal, sorted, those of B and C" \
		"below; \`dataset rows\` gives them again; each filter's rows_failing in \`dataset explain\` equals" \
		"N minus the filter's sum in \`engram sql\`; \`dataset why\` shows every base row of its key."
	echo
	echo "| filter | rows failing | keys failing (no row passes it) | rows failing only it | rows remaining | keys remaining |"
	echo "|---|---|---|---|---|---|"
	while IFS=$'\t' read -r f a b c d e; do echo "| $f | $a | $b | $c | $d | $e |"; done <"$W/explain.tsv"
	echo
	echo "## Build against the single query"
	echo
	echo "Medians of $RUNS runs, taking turns (A, B, C, P1 to P4 in each run); the wall time of the whole process" \
		"(start-up, output to /dev/null included), all runs in brackets, peak RSS."
	echo
	echo "| | command | s | runs | peak RSS MiB | ÷ B |"
	echo "|---|---|---|---|---|---|"
	echo "| A | \`engram dataset build SPEC --force\` (rows, flags, the kept table written, final rows printed) |" \
		"${R[A]} | $(runs "${T[A]}") | ${R[A.rss]} | **$(x "${R[A]}" "${R[B]}")** |"
	echo "| B | \`engram sql \"SELECT DISTINCT $KEY FROM (BASE) WHERE (f1) AND … (f$NF)\"\` | ${R[B]} | $(runs "${T[B]}") | ${R[B.rss]} | 1 |"
	echo "| C | \`sqlite3 base.sqlite \"SELECT DISTINCT $KEY FROM base WHERE …\"\` (SQLite $SQLITE_V, its own table of the base rows) |" \
		"${R[C]} | $(runs "${T[C]}") | ${R[C.rss]} | $(x "${R[C]}" "${R[B]}") |"
	echo "| P1 | \`engram sql \"SELECT *, (f1) AS f_…, … FROM (BASE)\"\` as NDJSON (every row and flag out) |" \
		"${R[P1]} | $(runs "${T[P1]}") | ${R[P1.rss]} | $(x "${R[P1]}" "${R[B]}") |"
	echo "| P2 | \`engram sql\`: every column's length and every filter summed over the base (one row out) |" \
		"${R[P2]} | $(runs "${T[P2]}") | ${R[P2.rss]} | $(x "${R[P2]}" "${R[B]}") |"
	echo "| P3 | \`engram sql\`: P2 without the filters (the base's 8 columns only) |" \
		"${R[P3]} | $(runs "${T[P3]}") | ${R[P3.rss]} | $(x "${R[P3]}" "${R[B]}") |"
	echo "| P4 | \`engram sql\`: P2 over \`WITH b AS MATERIALIZED (BASE)\` (each column computed once) |" \
		"${R[P4]} | $(runs "${T[P4]}") | ${R[P4.rss]} | $(x "${R[P4]}" "${R[B]}") |"
	echo
	echo "Where the build's time goes (differences of medians): the base's 8 columns alone (P3) take" \
		"${R[P3]} s, $(x "${R[P3]}" "${R[B]}") times B, because B's WHERE stops at the first filter a row fails" \
		"(half the rows fail \`mobile\`, read from the first of the data's fields) and computes a column only for the rows that passed the filters before it," \
		"while the build reads every column of every row.  Each filter that names a column of the base" \
		"would compute its \`data->>'…'\` again if the base were flattened into the outer query (P2 − P3:" \
		"$(calc "${R[P2]} - ${R[P3]}" 2) s); the build runs the base as a MATERIALIZED common table" \
		"instead, as P4 does ($(calc "${R[P2]} - ${R[P4]}" 2) s less than P2).  Keeping the rows, flags and keys," \
		"writing the table and printing the final rows take the rest: $(calc "${R[A]} - ${R[P4]}" 2) s (A − P4)." \
		"So SQL alone, every column and every filter of every row (P4), is $(x "${R[P4]}" "${R[B]}") times the" \
		"filter-as-you-go query here: the 1.5× target is out of reach while SQLite reads each event's JSON" \
		"for each column (see the note in docs/DATASETS.md)."
	echo
	echo "## Reading the kept table"
	echo
	echo "Medians of $RUNS runs, the wall time of the whole \`engram\` process (start-up, opening the store" \
		"and the table included), NDJSON to /dev/null."
	echo
	echo "| command | ms | runs (s) | peak RSS MiB |"
	echo "|---|---|---|---|"
	echo "| \`dataset explain $NAME\` | $(ms "${R[explain]}") | $(runs "${T[explain]}") | ${R[explain.rss]} |"
	echo "| \`dataset explain $NAME --order $REV\` | $(ms "${R[order]}") | $(runs "${T[order]}") | ${R[order.rss]} |"
	echo "| \`dataset explain $NAME --overlaps\` | $(ms "${R[overlaps]}") | $(runs "${T[overlaps]}") | ${R[overlaps.rss]} |"
	echo "| \`dataset why $NAME $WHY_KEY\` (${R[why_rows]} base rows) | $(ms "${R[why]}") | $(runs "${T[why]}") | ${R[why.rss]} |"
	echo "| \`dataset rows $NAME\` (the ${R[final]} final rows) | $(ms "${R[rows]}") | $(runs "${T[rows]}") | ${R[rows.rss]} |"
	echo
	echo "## Bytes kept per row"
	echo
	echo "| file | bytes | bytes per base row |"
	echo "|---|---|---|"
	echo "| \`STORE/datasets/$NAME/table\` | ${R[table_b]} | **$(calc "${R[table_b]} / $EVENTS" 1)** |"
	echo "| \`STORE/datasets/$NAME/\` (table, manifest, spec) | ${R[dir_b]} | $(calc "${R[dir_b]} / $EVENTS" 1) |"
	echo "| SQLite file of the base rows, without the $NF flags (C's table, VACUUMed; loaded in ${R[load_s]} s through python3) |" \
		"${R[sqlite_b]} | $(calc "${R[sqlite_b]} / $EVENTS" 1) |"
	echo
	echo "## Targets"
	echo
	echo "| target | result | |"
	echo "|---|---|---|"
	a=$(x "${R[A]}" "${R[B]}")
	echo "| build within 1.5× of the single query (B) | ${a}× | $(ok "$a <= 1.5") |"
	for s in explain order overlaps why; do
		echo "| \`$s\` under 100 ms | $(ms "${R[$s]}") ms | $(ok "${R[$s]} < 0.1") |"
	done
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); the store and the SQLite file read into the page cache before each run"
	echo "- Linux $(uname -r); engram (git: $GIT_V); sqlite3 $SQLITE_V; $(cc --version | head -1), -O2"
	echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"
	echo "- command: \`bench/datasets.sh$ARGS --runs $RUNS\` (\`make bench-datasets BENCH_ARGS='…'\`)"
} >"$OUT/datasets.md"
cat "$OUT/datasets.md"

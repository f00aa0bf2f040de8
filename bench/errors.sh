#!/usr/bin/env bash
# bench/errors.sh [--events N] [--quick] [--runs R] [--keep]
#
# The error-groups benchmark (docs/ERRORS.md): `engram gen errors` appended,
# the groups built by the first `engram errors`, then the median of R warm
# runs of `engram errors` (target: under 200 ms for 1M errors), with a
# filter, --every 1h, errors show and SQL's errors().  Writes
# bench/results/errors.md and prints it.  It measures; it asserts nothing.
#   --events N  how many errors (default 1000000)
#   --quick     100000 errors: a smoke run
#   --runs R    timed runs of each query (default 5), after one warm-up
#   --keep      keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
N=1000000 RUNS=5 KEEP=0 ARGS=""
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2 ARGS="$ARGS --events $2"; shift 2 ;;
	--quick) N=100000 ARGS="$ARGS --quick"; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/errors.sh [--events N] [--quick] [--runs R] [--keep]" >&2; exit 2 ;;
	esac
done
need_engram
workdir errors "$KEEP"
S=$W/store

log "gen errors --events $N"
timed "$W/gen.ndjson" "$ENGRAM" gen errors --events "$N" --seed 1
GEN_S=$SECS
log "append"
timed "$W/append.out" "$ENGRAM" -d "$S" append "$W/gen.ndjson"
APPEND_S=$SECS
log "first engram errors (builds the groups)"
timed "$W/first.out" "$ENGRAM" -d "$S" --format ndjson errors
BUILD_S=$SECS BUILD_RSS=$RSS
NGROUPS=$(wc -l <"$W/first.out")
FP=$(head -1 "$W/first.out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["fingerprint"][:8])')
IDX=$(bytes "$S/idx/errors")
LOG=$(bytes "$S/log")

# median_of NAME CMD...: R warm runs; the median seconds into R_NAME, peak RSS into M_NAME
declare -A MED MEM RUNS_OF
median_of() {
	local name=$1 t=() i
	shift
	warm "$S"
	"$@" >/dev/null
	for ((i = 0; i < RUNS; i++)); do
		timed "$W/q.out" "$@"
		t+=("$SECS")
	done
	MED[$name]=$(median "${t[@]}") MEM[$name]=$RSS RUNS_OF[$name]=$(list "${t[@]}")
}
median_of groups "$ENGRAM" -d "$S" --format ndjson errors
median_of filtered "$ENGRAM" -d "$S" --format ndjson errors --service payments --since 2025-01-10 --until 2025-01-20
median_of every "$ENGRAM" -d "$S" --format ndjson errors --every 1h
median_of show "$ENGRAM" -d "$S" --format ndjson errors show "$FP" --limit 20
median_of sql "$ENGRAM" -d "$S" --format ndjson sql "SELECT fingerprint, count FROM errors()"
median_of table "$ENGRAM" -d "$S" --format table errors

GIT_V=$(git_version)
ms() { calc "$1 * 1000" 1; }
{
	echo "# engram errors: $N error events"
	echo
	echo "\`engram gen errors --events $N --seed 1\` (30 days, four services, $NGROUPS groups"
	echo "with the newest grouping), appended in one batch.  The first \`engram errors\`"
	echo "reads every error event of the log, fingerprints it and saves the groups"
	echo "(idx/errors/v2/groups); every later query loads that checkpoint and"
	echo "aggregates its occurrences in memory.  Medians of $RUNS warm runs (after"
	echo "one warm-up), each a whole \`engram\` process."
	echo
	echo "| step | time | peak RSS |"
	echo "|---|---|---|"
	echo "| gen errors | ${GEN_S} s | |"
	echo "| append | ${APPEND_S} s | |"
	echo "| first \`engram errors\` (groups built from the log) | ${BUILD_S} s | $((BUILD_RSS / 1024)) MiB |"
	echo "| \`engram errors\` | **$(ms "${MED[groups]}") ms** (target < 200 ms: $(ok "${MED[groups]} < 0.2")) | $((MEM[groups] / 1024)) MiB |"
	echo "| \`engram errors --service payments --since … --until …\` | $(ms "${MED[filtered]}") ms | $((MEM[filtered] / 1024)) MiB |"
	echo "| \`engram errors --every 1h\` | $(ms "${MED[every]}") ms | $((MEM[every] / 1024)) MiB |"
	echo "| \`engram errors show $FP --limit 20\` | $(ms "${MED[show]}") ms | $((MEM[show] / 1024)) MiB |"
	echo "| \`engram sql 'SELECT fingerprint, count FROM errors()'\` | $(ms "${MED[sql]}") ms | $((MEM[sql] / 1024)) MiB |"
	echo "| \`engram --format table errors\` (sparklines) | $(ms "${MED[table]}") ms | $((MEM[table] / 1024)) MiB |"
	echo
	echo "Runs (s): errors ${RUNS_OF[groups]}; filtered ${RUNS_OF[filtered]}; every ${RUNS_OF[every]}."
	echo
	echo "Sizes: the log $((LOG / 1048576)) MiB; the groups' checkpoint $((IDX / 1048576)) MiB"
	echo "($(calc "$IDX / $N" 1) bytes per occurrence: group, service, release, actor and"
	echo "session ids, time and position, and the tables of their texts)."
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- Linux $(uname -r); engram (git: $GIT_V); $(cc --version | head -1), -O2"
	echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- command: \`bench/errors.sh$ARGS --runs $RUNS\` (\`make bench-errors BENCH_ARGS='…'\`)"
} >"$W/errors.md"
cp "$W/errors.md" bench/results/errors.md
cat bench/results/errors.md

# bench/lib.sh — helpers shared by the benchmark drivers (sourced).
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }      # calc EXPR [DECIMALS]
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
jnum() { grep -o "\"$1\": *[0-9.]*" "$2" | head -1 | cut -d: -f2 | tr -d ' '; }  # jnum KEY FILE
list() { echo "$*" | sed 's/ /, /g'; }                     # list A B -> A, B
# timed OUT CMD...: run CMD with stdout to OUT; sets SECS (wall) and RSS (peak
# KiB).  Needs $W, the driver's work directory.
timed() {
	local out=$1 t0; shift
	t0=$(now)
	/usr/bin/time -f %M -o "$W/rss" "$@" >"$out"
	SECS=$(calc "$(now) - $t0" 4) RSS=$(tail -1 "$W/rss")
}

# need_engram: the build to bench, and /usr/bin/time for timed.
need_engram() {
	[ -x "$ENGRAM" ] && [ -f build/libengram.a ] || die "no bin/engram or build/libengram.a; run make first"
	[ -x /usr/bin/time ] || die "/usr/bin/time missing: sudo apt-get install -y time"
}

# workdir NAME [KEEP]: a fresh work directory in $W under bench/results/tmp,
# removed on exit unless KEEP is 1; LOAD0 gets the load average at the start.
workdir() {
	mkdir -p "$ROOT/bench/results/tmp"
	W=$(mktemp -d "$ROOT/bench/results/tmp/$1.XXXXXX")
	if [ "${2:-0}" = 1 ]; then
		trap 'echo "bench: kept $W" >&2' EXIT
	else
		trap 'rm -rf "$W"; rmdir "$ROOT/bench/results/tmp" 2>/dev/null || true' EXIT
	fi
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
}

# need_duckdb: node, python3 and DuckDB's node package (installed from the
# lock file when missing).
need_duckdb() {
	command -v node >/dev/null || die "node missing (DuckDB runs in node)"
	command -v python3 >/dev/null || die "python3 missing"
	[ -d "$ROOT/bench/node_modules/@duckdb/node-api" ] ||
		(cd "$ROOT/bench" && npm ci --no-audit --no-fund --loglevel=error)
}

# machine_md NAME ARGS: the "Machine" section of a DuckDB report (needs
# $ENGRAM, $GIT_V, $DUCK_V, $LOAD0, $RUNS).
machine_md() {
	echo "## Machine"
	echo
	echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); every file here was in the page cache"
	echo "- Linux $(uname -r); engram $("$ENGRAM" --version 2>/dev/null | awk '{ print $NF; exit }' || true)" \
		"(git: $GIT_V); DuckDB $DUCK_V (@duckdb/node-api" \
		"$(node -p "require('$ROOT/bench/node_modules/@duckdb/node-api/package.json').version"), default threads); node $(node --version); $(cc --version | head -1), -O2"
	echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"
	echo "- command: \`bench/$1.sh$2 --runs $RUNS\` (\`make bench-$1 BENCH_ARGS='…'\`)"
}

# bench_opts NAME DEFAULT_SIZES ARGS...: the options every DuckDB driver
# takes (--events N, --quick, --runs R, --keep) into SIZES, RUNS, KEEP,
# QUICK and ARGS (the size options, for the report).
bench_opts() {
	local name=$1
	SIZES=$2 RUNS=3 KEEP=0 QUICK=0 ARGS=""
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--events) SIZES=$2 ARGS="$ARGS --events $2"; shift 2 ;;
		--quick) SIZES=200000 QUICK=1 ARGS="$ARGS --quick"; shift ;;
		--runs) RUNS=$2; shift 2 ;;
		--keep) KEEP=1; shift ;;
		*) echo "usage: bench/$name.sh [--events N] [--quick] [--runs R] [--keep]" >&2; exit 2 ;;
		esac
	done
}

# bench/lib.sh — helpers shared by the benchmark drivers (sourced).
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }   # bash 5: no process started for the clock
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }      # calc EXPR [DECIMALS]
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
jnum() { grep -o "\"$1\": *[0-9.]*" "$2" | head -1 | cut -d: -f2 | tr -d ' '; }  # jnum KEY FILE
bytes() { du -sb "$@" | awk '{ s += $1 } END { print s }'; }   # bytes FILE...: their size on disk
list() { echo "$*" | sed 's/ /, /g'; }                     # list A B -> A, B
ok() { awk "BEGIN { exit !($1) }" && echo "met" || echo "**missed**"; }   # ok COND -> met, **missed**

# git_version: the commit measured, and whether the code differed from it.
# engram_libs: what a program linking build/libengram.a links too (the
# Makefile's LDLIBS: one list, not a copy per script).
engram_libs() {
	make -s --no-print-directory print-ldlibs
}

git_version() {
	local v
	v=$(git rev-parse --short HEAD 2>/dev/null) || { echo "no commits"; return; }
	GIT_OPTIONAL_LOCKS=0 git diff --quiet HEAD -- src include cli 2>/dev/null || v="$v + uncommitted changes"
	echo "$v"
}

# duck_result FILE KEY: a DuckDB driver's timings (median_s, s, duckdb) into
# R[KEY.d_med], R[KEY.d_runs] and DUCK_V.
duck_result() {
	local v
	mapfile -t v < <(python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))
print(j["median_s"]); print(", ".join(map(str, j["s"]))); print(j["duckdb"])' "$1")
	[ "${#v[@]}" = 3 ] || die "cannot read $1"
	R[$2.d_med]=${v[0]} R[$2.d_runs]=${v[1]} DUCK_V=${v[2]}
}
# timed OUT CMD...: run CMD with stdout to OUT; sets SECS (wall) and RSS (peak
# KiB).  Needs $W, the driver's work directory.
timed() {
	local out=$1 t0; shift
	t0=$(now)
	/usr/bin/time -f %M -o "$W/rss" "$@" >"$out"
	SECS=$(calc "$(now) - $t0" 4) RSS=$(tail -1 "$W/rss")
}

# warm STORE: read the store's files, so that a timed run finds them in the
# page cache as the reports say.  (This machine's kernel pages out file
# pages left unread for a minute, as a store is while a peer's runs go on:
# engram's runs after them then read parts of the log from disk.)
warm() {
	cat "$1"/log/* "$1"/idx/* >/dev/null 2>&1 || true
}

# need_engram: the build to bench, and /usr/bin/time for timed.
need_engram() {
	[ -x "$ENGRAM" ] && [ -f "${B:-build}/libengram.a" ] || die "no bin/engram or ${B:-build}/libengram.a; run make first"
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

# clickstream_schemas DIR: one JSON Schema per clickstream type (page_view,
# screen_view, search, product_click, add_to_cart, checkout, purchase,
# login) as DIR/TYPE.json, which every event of `engram gen clickstream`
# passes: each field typed and required, no other properties, with enum,
# pattern, format uri, bounds, lengths and multipleOf 0.01 on money.  The
# validator bench (schema.sh) and the append bench (contracts.sh) share it.
clickstream_schemas() {
	mkdir -p "$1"
	python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
common = {
    "page_url": {"type": "string", "format": "uri", "maxLength": 2048},
    "referrer": {"type": "string", "pattern": "^(https?://[^ ]*)?$", "maxLength": 2048},
    "device": {"enum": ["web", "ios", "android"]},
}
money = {"type": "number", "minimum": 0, "multipleOf": 0.01}
currency = {"type": "string", "pattern": "^[A-Z]{3}$"}
count = {"type": "integer", "minimum": 1, "maximum": 1000}
own = {
    "page_view": {"duration_ms": {"type": "integer", "minimum": 0}},
    "screen_view": {"screen": {"type": "string", "minLength": 1, "maxLength": 100},
                    "duration_ms": {"type": "integer", "minimum": 0}},
    "search": {"query": {"type": "string", "minLength": 1, "maxLength": 200},
               "results": {"type": "integer", "minimum": 0}},
    "product_click": {"product_id": {"type": "string", "pattern": "^[0-9]{4,8}$"},
                      "category": {"type": "string", "pattern": "^[a-z][a-z-]*$"},
                      "list": {"enum": ["category", "recommendations", "search_results"]},
                      "position": {"type": "integer", "minimum": 1}},
    "add_to_cart": {"product_id": {"type": "string", "pattern": "^[0-9]{4,8}$"},
                    "category": {"type": "string", "pattern": "^[a-z][a-z-]*$"},
                    "price": dict(money, exclusiveMinimum=0, minimum=None),
                    "quantity": count, "currency": currency},
    "checkout": {"items": count, "value": money, "currency": currency},
    "purchase": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{7}$"},
                 "items": count, "revenue": money, "shipping": money, "currency": currency},
    "login": {"method": {"enum": ["password", "google", "apple"]}},
}
for t, props in own.items():
    p = dict(common)
    for k, v in props.items():
        p[k] = {a: b for a, b in v.items() if b is not None}
    s = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": t,
         "type": "object", "properties": p, "required": list(p), "additionalProperties": False}
    json.dump(s, open(f"{d}/{t}.json", "w"), indent=1)
PY
}

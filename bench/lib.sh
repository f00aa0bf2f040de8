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

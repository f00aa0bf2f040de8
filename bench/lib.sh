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

#!/usr/bin/env bash
# End-to-end tests of the engram command.
#
#   ENGRAM=/abs/path/to/engram tests/e2e/run.sh [PATTERN...]
#
# Runs every test function (test_*) of every tests/e2e/t_*.sh, each in its
# own bash process with a fresh temporary directory, and prints one line per
# test ("ok - name" or "FAIL - name: why"), then "N passed, M failed".  Exits
# non-zero if a test failed.  PATTERNs (substrings of "file/test") select
# tests.  Environment:
#   ENGRAM           the binary (default: bin/engram of this checkout)
#   E2E_JOBS         tests run in parallel (default: 2 per CPU, at most 4)
#   E2E_TIMEOUT      seconds before a test is killed (default 120)
#   E2E_KEEP=1       keep the temporary directory (printed) for inspection
#   E2E_VERBOSE=1    print the output of failed tests
#   E2E_TIMES=1      print each test's run time
#   E2E_SKIP="P..."  skip the tests whose "file/test" contains one of these
#                    substrings (make SAN=1 e2e: the Kafka kill -9 loops,
#                    which make kafka-faults runs at length)
#   E2E_SAN=1        the engram under test is the sanitized build (make
#                    SAN=1 e2e): the longest loops take fewer rounds
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGRAM=${ENGRAM:-$E2E_DIR/../../bin/engram}
case $ENGRAM in
/*) ;;
*) ENGRAM=$PWD/$ENGRAM ;;
esac
if [ ! -x "$ENGRAM" ]; then
	echo "run.sh: ENGRAM=$ENGRAM is not an executable (build it with make)" >&2
	exit 2
fi
for tool in python3 timeout mkfifo truncate; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "run.sh: $tool is needed" >&2
		exit 2
	fi
done

# The interpreter itself, not a wrapper script (pyenv shims cost ~0.3 s a call).
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
export PYTHON

# Tests wait on fdatasync and on each other's processes as much as on the
# CPU: run two per CPU, at most four, unless told.
ncpu=$(nproc 2>/dev/null || echo 1)
JOBS=$((ncpu * 2))
[ "$JOBS" -le 4 ] || JOBS=4
JOBS=${E2E_JOBS:-$JOBS}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
TIMEOUT=${E2E_TIMEOUT:-120}

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/engram-e2e.XXXXXX") || exit 2
cleanup() {
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "kept $E2E_TMP" >&2
	else
		rm -rf "$E2E_TMP"
	fi
}
trap cleanup EXIT
# Each test runs under timeout(1), in a process group of its own that ^C does
# not reach: stop the running ones before exiting.
interrupted() {
	local f
	for f in "$E2E_TMP"/*/pid; do
		[ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	wait
	exit 130
}
trap interrupted INT TERM

export ENGRAM E2E_DIR
# Engram must not pick up a store from the environment.
unset ENGRAM_DIR

# ---------------------------------------------------------------- collect tests

names=()
files=()
funcs=()
skipped=0
for f in "$E2E_DIR"/t_*.sh; do
	[ -e "$f" ] || continue
	base=${f##*/}
	base=${base#t_}
	base=${base%.sh}
	for fn in $(grep -oE '^test_[A-Za-z0-9_]+' "$f"); do
		name="$base/${fn#test_}"
		if [ $# -gt 0 ]; then
			sel=0
			for p in "$@"; do
				case $name in *"$p"*) sel=1 ;; esac
			done
			[ $sel = 1 ] || continue
		fi
		skip=0
		for p in ${E2E_SKIP:-}; do
			case $name in *"$p"*) skip=1 ;; esac
		done
		if [ $skip = 1 ]; then
			skipped=$((skipped + 1))
			continue
		fi
		names+=("$name")
		files+=("$f")
		funcs+=("$fn")
	done
done

# ---------------------------------------------------------------- run one test

# run_one I: run test I; leaves $E2E_TMP/I/result = "ok" or "FAIL: why".
run_one() {
	local i=$1 dir="$E2E_TMP/$1"
	mkdir -p "$dir/t" "$dir/san"
	local san_opts="log_path=$dir/san/report" t0
	t0=$(date +%s%N)
	(
		cd "$dir/t" || exit 1
		export T="$dir/t" STORE="$dir/t/store" E2E_FAIL="$dir/fail"
		export TMPDIR="$dir/t"
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$san_opts"
		export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:$san_opts"
		exec timeout -k 5 "$TIMEOUT" bash -c '
			set -u
			. "$E2E_DIR/lib.sh"
			. "$1"
			"$2"
		' e2e "${files[$i]}" "${funcs[$i]}"
	) </dev/null >"$dir/log" 2>&1 &
	local tpid=$!
	echo "$tpid" >"$dir/pid"
	wait "$tpid"
	local rc=$? why=""
	rm -f "$dir/pid"
	echo "$(( ($(date +%s%N) - t0) / 1000000 ))" >"$dir/ms"
	if [ -s "$dir/fail" ]; then
		why=$(head -c 600 "$dir/fail")
	elif [ $rc = 124 ] || [ $rc = 137 ]; then
		why="timed out after ${TIMEOUT}s"
	elif [ $rc != 0 ]; then
		why="test exited $rc: $(tail -n 2 "$dir/log" | tr '\n' ' ' | cut -c1-300)"
	fi
	local rep
	rep=$(ls "$dir/san" 2>/dev/null | head -n 1)
	if [ -n "$rep" ]; then
		why="${why:+$why; }sanitizer report: $(grep -m1 -E 'ERROR|runtime error|SUMMARY' "$dir/san/$rep" | cut -c1-300)"
	fi
	# Written aside and renamed: the printer takes a result as soon as the
	# file exists, and must never see it empty (a test that passed then
	# showed as "FAIL - name: " with no reason, under load).
	if [ -z "$why" ]; then
		echo ok >"$dir/result.tmp"
	else
		printf 'FAIL: %s\n' "$why" >"$dir/result.tmp"
	fi
	mv "$dir/result.tmp" "$dir/result"
}

# ---------------------------------------------------------------- run all

start=$SECONDS
pass=0
failed=0
n=${#names[@]}
next_print=0

print_ready() {
	while [ "$next_print" -lt "$n" ] && [ -e "$E2E_TMP/$next_print/result" ]; do
		local r
		r=$(cat "$E2E_TMP/$next_print/result")
		local secs=""
		[ "${E2E_TIMES:-0}" = 1 ] && secs=" # $(cat "$E2E_TMP/$next_print/ms" 2>/dev/null) ms"
		if [ "$r" = ok ]; then
			echo "ok - ${names[$next_print]}$secs"
			pass=$((pass + 1))
		else
			echo "FAIL - ${names[$next_print]}: ${r#FAIL: }$secs"
			failed=$((failed + 1))
			if [ "${E2E_VERBOSE:-0}" = 1 ]; then
				sed 's/^/    # /' "$E2E_TMP/$next_print/log" | tail -n 40
			fi
		fi
		next_print=$((next_print + 1))
	done
}

for ((i = 0; i < n; i++)); do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n 2>/dev/null || true
		print_ready
	done
	run_one "$i" &
done
while [ "$next_print" -lt "$n" ]; do
	wait -n 2>/dev/null || sleep 0.05
	if [ -z "$(jobs -rp)" ] && [ ! -e "$E2E_TMP/$next_print/result" ]; then
		echo "FAIL: the runner lost this test" >"$E2E_TMP/$next_print/result"
	fi
	print_ready
done
wait

echo "# e2e: $n tests in $((SECONDS - start))s with $ENGRAM${E2E_SKIP:+ ($skipped skipped: E2E_SKIP=$E2E_SKIP)}" >&2
echo "$pass passed, $failed failed"
[ $failed = 0 ]

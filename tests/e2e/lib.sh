# lib.sh — shared helpers of the end-to-end tests (sourced, never run).
#
# run.sh runs every test function in its own bash process with:
#   ENGRAM   absolute path of the engram binary under test
#   E2E_DIR  this directory
#   T        a fresh, empty work directory for this test
#   STORE    $T/store: the test's store (not created; engram append creates it)
#   E2E_FAIL file where the first failure reason is written
#
# Assertions stop the test at the first failure: they write the reason to
# $E2E_FAIL and exit.  The runner also fails a test that exits non-zero or
# whose engram processes wrote a sanitizer report.

# ---------------------------------------------------------------- failing

fail() {
	if [ ! -s "$E2E_FAIL" ]; then
		printf '%s\n' "$*" | tr '\n' ' ' | sed 's/ *$//' >"$E2E_FAIL"
	fi
	exit 1
}

# Trim a text to its first line and 300 characters for a failure message.
_short() {
	local s=${1%%$'\n'*}
	printf '%s' "${s:0:300}"
}

PYTHON=${PYTHON:-python3}

# ---------------------------------------------------------------- running engram

# eg ARGS...: engram on the test's store.
eg() {
	"$ENGRAM" -d "$STORE" "$@"
}

# run CMD ARGS...: run a command (stdin inherited), keep its exit code in RC,
# its stdout in OUT and its stderr in ERR (also in the files $T/.out, $T/.err).
run() {
	"$@" >"$T/.out" 2>"$T/.err"
	RC=$?
	OUT=$(<"$T/.out")
	ERR=$(<"$T/.err")
	return 0
}

# assert_exit CODE CMD ARGS...: run the command and check its exit code.
# OUT, ERR and RC are set as by run.
assert_exit() {
	local want=$1
	shift
	run "$@"
	if [ "$RC" != "$want" ]; then
		fail "'$*' exited $RC, expected $want; stderr: $(_short "$ERR"); stdout: $(_short "$OUT")"
	fi
	# errors are reported on stderr as "engram: error: ..." (a usage error
	# may print just the usage)
	case $want:$ERR in
	0:* | 2:*"engram: error:"* | 2:*usage:* | [134]:*"engram: error:"*) ;;
	*) fail "'$*' exited $RC but stderr has no 'engram: error:' message: $(_short "$ERR")" ;;
	esac
}

# ok_to FILE CMD ARGS...: run the command with its stdout in FILE (large
# outputs) and assert exit 0; ERR and RC are set, OUT is empty.
ok_to() {
	local file=$1
	shift
	"$@" >"$file" 2>"$T/.err"
	RC=$?
	OUT=
	ERR=$(<"$T/.err")
	if [ "$RC" != 0 ]; then
		fail "'$*' exited $RC, expected 0; stderr: $(_short "$ERR")"
	fi
}

# ok CMD ARGS...: assert_exit 0.
ok() {
	assert_exit 0 "$@"
}

# ---------------------------------------------------------------- assertions

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	if [ "$1" != "$2" ]; then
		fail "${3:-value}: expected '$(_short "$1")', got '$(_short "$2")'"
	fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	case $1 in
	*"$2"*) ;;
	*) fail "${3:-text} does not contain '$2': $(_short "$1")" ;;
	esac
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
	case $1 in
	*"$2"*) fail "${3:-text} contains '$2': $(_short "$1")" ;;
	esac
}

# assert_match TEXT ERE [WHAT]: TEXT matches the extended regular expression.
assert_match() {
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then
		fail "${3:-text} does not match /$2/: $(_short "$1")"
	fi
}

# assert_files_eq FILE1 FILE2 [WHAT]: same bytes.
assert_files_eq() {
	if ! cmp -s "$1" "$2"; then
		local d
		d=$(diff "$1" "$2" 2>&1 | head -3 | cut -c1-200)
		fail "${3:-files} differ ($1 vs $2): $d"
	fi
}

# assert_spec_error COMMAND JSON EXPECTED: `engram COMMAND SPEC` with the
# spec JSON exits 2 and says "SPEC: EXPECTED…" on stderr.
assert_spec_error() {
	printf '%s' "$2" >"$T/bad.json"
	assert_exit 2 eg "$1" "$T/bad.json"
	assert_contains "$ERR" "$T/bad.json: $3" "error for spec $2"
}

# assert_true CMD ARGS...: the command exits 0 (its output is discarded).
assert_true() {
	if ! "$@" >/dev/null 2>&1; then
		fail "'$*' failed"
	fi
}

# ---------------------------------------------------------------- JSON (python3)

# py [ARGS...] <<'EOF' ... EOF: run a python3 check; e2e.py is importable.
# A non-zero exit fails the test with the script's output as the reason.
py() {
	local out rc
	out=$(PYTHONPATH="$E2E_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$@" 2>&1)
	rc=$?
	if [ $rc != 0 ]; then
		fail "python check: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
	fi
	[ -z "$out" ] || printf '%s\n' "$out"
}

# jget JSON KEY: print one top-level field of a JSON object (null → "null",
# strings without quotes, numbers as their text).
jget() {
	PYTHONPATH="$E2E_DIR" "$PYTHON" -c '
import sys, e2e
v = e2e.loads(sys.argv[1])
for k, x in v:
    if k == sys.argv[2]:
        print(e2e.plain(x)); break
else:
    print("<missing>")' "$1" "$2"
}

# jfields JSON KEY...: print the fields space-separated (see jget).
jfields() {
	PYTHONPATH="$E2E_DIR" "$PYTHON" -c '
import sys, e2e
v = dict(e2e.loads(sys.argv[1]))
print(" ".join(e2e.plain(v[k]) if k in v else "<missing>" for k in sys.argv[2:]))' "$@"
}

# ---------------------------------------------------------------- stores

# head_of [DIR]: "POS HASH" of a store.
head_of() {
	local out
	out=$("$ENGRAM" -d "${1:-$STORE}" head) || fail "engram head failed on ${1:-$STORE}"
	if [[ $out =~ ^\{\"pos\":([0-9]+),\"hash\":\"([0-9a-f]+)\"\}$ ]]; then
		printf '%s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		jfields "$out" pos hash
	fi
}

# count_lines FILE
count_lines() {
	wc -l <"$1" | tr -d ' '
}

# last_seg [DIR]: path of the last segment file of a store.
last_seg() {
	local f
	f=$(ls "${1:-$STORE}"/log/*.seg 2>/dev/null | sort | tail -n 1)
	[ -n "$f" ] || fail "no segment in ${1:-$STORE}/log"
	printf '%s\n' "$f"
}

# seg_sizes [DIR]: "name size" of every segment, sorted.
seg_sizes() {
	local f
	for f in "${1:-$STORE}"/log/*.seg; do
		[ -e "$f" ] && printf '%s %s\n' "${f##*/}" "$(stat -c %s "$f")"
	done
}

# flip_byte FILE OFFSET: invert every bit of one byte in place.
flip_byte() {
	"$PYTHON" - "$1" "$2" <<'EOF' || fail "cannot flip byte $2 of $1"
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    assert len(b) == 1, "offset beyond end of file"
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
}

# wait_for SECONDS CMD ARGS...: poll until the command succeeds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# lock_held_by PID: the store's LOCK file names PID (a writer holds it)
lock_held_by() {
	[ "$(cat "$STORE/LOCK" 2>/dev/null)" = "$1" ]
}

# lines_at_least FILE N
lines_at_least() {
	[ -f "$1" ] && [ "$(count_lines "$1")" -ge "$2" ]
}

#!/usr/bin/env bash
# tests/dcb_race.sh [ROUNDS] — the race for the last seat through the
# command line (docs/CONSISTENCY.md), as tests/test_dcb.c runs it through
# the library: each round, K = 8 engram processes read the course's events
# with `read --query`, take the head, and if the seat is free append a
# booking with `--fail-if` the same query `--after` that head
# `--lock-wait 10s`.  Exactly one booking per course, and every other
# writer either found the seat taken or exited 4.  make race-check runs it
# (100 rounds) after the library's 1,000.
#   ENGRAM  the binary (default bin/engram)
set -u
ROUNDS=${1:-100}
K=8
ENGRAM=${ENGRAM:-$(dirname "$0")/../bin/engram}
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
W=$(mktemp -d "$base/engram-dcb-race.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT
S=$W/store
echo '{"type":"course_opened"}' | "$ENGRAM" -d "$S" append --sync none >/dev/null || exit 1

# one writer: prints its exit code (3: the seat was taken when it read)
writer() {
	local q="types=seat_booked,seat_released tags=course:$1" out head booked
	out=$("$ENGRAM" -d "$S" read --query "$q") || { echo 10; return; }
	head=${out##*\"head\":}
	head=${head%\}}
	booked=$(($(printf '%s\n' "$out" | wc -l) - 1))
	if [ "$booked" -ge 1 ]; then
		echo 3
		return
	fi
	echo "{\"type\":\"seat_booked\",\"tags\":[\"course:$1\",\"student:$2\"]}" |
		"$ENGRAM" -d "$S" append --sync none --fail-if "$q" --after "$head" \
			--lock-wait 10s >/dev/null 2>"$W/err.$2"
	echo $?
}

bad=0 conflicts=0 taken=0
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < K; i++)); do
		writer "$r" "$i" >"$W/rc.$i" &
	done
	wait
	won=0
	for ((i = 0; i < K; i++)); do
		case $(cat "$W/rc.$i") in
		0) won=$((won + 1)) ;;
		3) taken=$((taken + 1)) ;;
		4) conflicts=$((conflicts + 1)) ;;
		*) echo "round $r: writer $i exited $(cat "$W/rc.$i"): $(cat "$W/err.$i" 2>/dev/null)" >&2; bad=1 ;;
		esac
	done
	if [ "$won" != 1 ]; then
		echo "round $r: $won of $K writers booked the seat" >&2
		bad=1
	fi
done
# the store agrees: one booking per course
n=$("$ENGRAM" -d "$S" read --query 'types=seat_booked' | grep -c '"type":"seat_booked"')
if [ "$n" != "$ROUNDS" ]; then
	echo "$n bookings for $ROUNDS courses" >&2
	bad=1
fi
[ $bad = 0 ] && echo "dcb_race.sh: $ROUNDS rounds of $K engram processes: exactly one booking each" \
	"($conflicts refused with exit 4, $taken found the seat taken when they read)"
exit $bad

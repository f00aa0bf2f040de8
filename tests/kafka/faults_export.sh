#!/bin/bash
# faults_export.sh — engram kafka export killed with -9 at random moments,
# 50 times for the plain export and 50 times for --transactional-id, with
# a mock fault now and then (produce errors, the idempotent producer's
# fatal error, a broker down with its partitions moved, slow brokers) and
# events appended while it runs; then one clean run of each and the
# exactly-once checks of tests/e2e/kafka_check.py on what kcat reads.
# Not part of make test (about 100 s); .ci/run runs it.
#
#   ENGRAM=/tmp/b/bin/engram tests/kafka/faults_export.sh [SEED]
#
# The seed (printed; SEED or the argument) replays the same schedule.
# KILLS=N changes the number of runs per mode (50); KEEP=1 keeps the work
# directory (export.err holds each run's ENGRAM_KAFKA_TRACE phases).
set -u
ENGRAM=${ENGRAM:-bin/engram}
case $ENGRAM in /*) ;; *) ENGRAM=$PWD/$ENGRAM ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOCK=$(cd "$(dirname "$ENGRAM")/.." && pwd)/tests/kafka_mock
KILLS=${KILLS:-50}
SEED=${1:-${SEED:-$(python3 -c 'import random; print(random.randrange(1 << 31))')}}
[ -x "$ENGRAM" ] || { echo "ENGRAM=$ENGRAM is not an executable"; exit 2; }
[ -x "$MOCK" ] || { echo "$MOCK is missing: make B=... kafka-tools"; exit 2; }
echo "faults_export.sh: seed $SEED (ENGRAM=$ENGRAM tests/kafka/faults_export.sh $SEED replays it)"
W=$(mktemp -d)
XP=
cleanup() {
	[ -n "$XP" ] && kill -KILL "$XP" 2>/dev/null
	exec 3>&-
	wait
	[ "${KEEP:-0}" = 1 ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
die() {
	echo "FAIL (seed $SEED): $*"
	exit 1
}
eg() { "$ENGRAM" -d "$W/store" "$@"; }

mkfifo "$W/in"
"$MOCK" -p 32 plain txn <"$W/in" >"$W/mock.out" 2>"$W/mock.err" &
exec 3>"$W/in"
for _ in $(seq 50); do [ -s "$W/mock.out" ] && break; sleep 0.1; done
BS=$(head -1 "$W/mock.out")
[ -n "$BS" ] || die "the mock did not start: $(cat "$W/mock.err")"
mock() { # mock CMD...: send it, wait for the answer, fail on an error
	local n
	n=$(wc -l <"$W/mock.out")
	echo "$*" >&3
	for _ in $(seq 100); do [ "$(wc -l <"$W/mock.out")" -gt "$n" ] && break; sleep 0.05; done
	[ "$(tail -1 "$W/mock.out")" = ok ] || die "mock $*: $(tail -1 "$W/mock.out")"
}
led_by() { # led_by TOPIC B: the partitions broker B leads
	timeout 20 kcat -L -b "$BS" -t "$1" | sed -n "s/^ *partition \([0-9]*\), leader $2,.*/\1/p"
}

# the events: 3000 to start with, and 600 more before each run (the
# mock keeps 5 MiB a partition: 32 partitions hold them and the aborted
# transactions' copies)
"$ENGRAM" gen clickstream --events $((3000 + 2 * KILLS * 600)) --seed "$((SEED % 100000))" >"$W/all.ndjson"
head -3000 "$W/all.ndjson" >"$W/first.ndjson"
tail -n +3001 "$W/all.ndjson" | split -a 3 -l 600 - "$W/chunk."
eg append "$W/first.ndjson" >/dev/null || die "append"
CHUNKS=("$W"/chunk.*)
NEXT=0

# The schedule: per run, a delay before the kill and a fault (or none).
python3 - "$SEED" "$KILLS" >"$W/schedule" <<'EOF'
import random, sys
r = random.Random(int(sys.argv[1]))
faults = ["none"] * 6 + ["errors", "fatal", "down", "slow"]
# with brokers 10-40 ms away a run takes 0.2-0.5 s to start (the tails),
# a transactional one 0.3-0.8 s (init_transactions, the last checkpoint
# record) before it commits every 2000 events or 100 ms: delays of 0.1-1.0
# and 0.2-2.0 s
for mode, least, most in (("plain", 0.1, 1.0), ("txn", 0.2, 2.0)):
    for i in range(int(sys.argv[2])):
        print(mode, "%.3f" % r.uniform(least, most), r.choice(faults))
EOF

# fault KIND: inject it (a broker down comes back up in the same step,
# after its partitions moved: the mock does not fail over by itself)
fault() {
	local p b
	case $1 in
	errors) mock err 0 4 NOT_LEADER_FOR_PARTITION _TRANSPORT REQUEST_TIMED_OUT ;;
	fatal) mock err 0 1 OUT_OF_ORDER_SEQUENCE_NUMBER ;;
	slow) for b in 1 2 3; do mock rtt $b $((10 + RANDOM % 30)); done ;;
	down)
		b=$((RANDOM % 3 + 1))
		mock down $b
		for t in plain txn; do
			for p in $(led_by $t $b); do
				mock leader $t "$p" $((b % 3 + 1))
			done
		done
		sleep 0.3
		mock up $b
		;;
	esac
}

# brokers 10 ms away and at most 1000 messages queued: an export of a few
# hundred events takes long enough to be killed in the middle
for b in 1 2 3; do mock rtt $b 10; done
start=$(date +%s)
i=0 mid=0
while read -r mode delay kind; do
	i=$((i + 1))
	if [ $NEXT -lt ${#CHUNKS[@]} ]; then
		eg append "${CHUNKS[$NEXT]}" >/dev/null || die "append"
		NEXT=$((NEXT + 1))
	fi
	echo "== $mode $i" >>"$W/export.err"
	opts=()
	[ "$mode" = txn ] && opts=(--transactional-id engram-faults-txn --txn-events 2000 --txn-ms 100)
	ENGRAM_KAFKA_TRACE=1 "$ENGRAM" -d "$W/store" kafka export --brokers "$BS" --topic "$mode" "${opts[@]}" \
		-X queue.buffering.max.messages=1000 -X message.timeout.ms=30000 >/dev/null 2>>"$W/export.err" &
	XP=$!
	[ "$kind" != none ] && fault "$kind"
	sleep "$delay"
	kill -KILL $XP 2>/dev/null && killed=1 || killed=0
	wait $XP 2>/dev/null
	XP=
	ck=$(eg consumers | sed -n "s/.*\"consumer\":\"kafka-export.$mode\",\"pos\":\([0-9]*\),.*/\1/p")
	head=$(eg head | sed 's/.*"pos":\([0-9]*\),.*/\1/')
	[ "$killed" = 1 ] && [ "${ck:-0}" -lt "$head" ] && mid=$((mid + 1))
	printf '%s %2d: %s after %ss (%s): checkpoint %s of %s\n' "$mode" "$i" \
		"$([ $killed = 1 ] && echo killed || echo ended)" "$delay" "$kind" "${ck:-0}" "$head"
done <"$W/schedule"
echo "$mid of $i kills landed before the export reached the head"
[ $mid -ge $((KILLS / 2)) ] || die "too few kills landed mid-export ($mid)"

# the clean runs: no faults, every event
mock clear 0
for b in 1 2 3; do mock rtt $b 0; done
eg kafka export --brokers "$BS" --topic plain >"$W/plain.out" 2>"$W/plain.err" ||
	die "the clean plain export: $(cat "$W/plain.err")"
eg kafka export --brokers "$BS" --topic txn --transactional-id engram-faults-txn \
	>"$W/txn.out" 2>"$W/txn.err" || die "the clean transactional export: $(cat "$W/txn.err")"
head=$(eg head | sed 's/.*"pos":\([0-9]*\),.*/\1/')
echo "clean runs: $(cat "$W/plain.out") $(cat "$W/txn.out")"
kc() { timeout 120 kcat -C -b "$BS" -t "$1" -o beginning -e -q -f "$2" >"$3" || die "kcat -C $1"; }
kc plain '%k|%h|%s\n' "$W/plain.msgs"
kc txn '%k|%h|%s\n' "$W/txn.msgs"
kc txn.engram-checkpoints '%k|%s\n' "$W/txn.recs"
python3 "$HERE/../e2e/kafka_check.py" plain "$W/plain.msgs" plain "$head" || die "plain"
python3 "$HERE/../e2e/kafka_check.py" txn "$W/txn.msgs" "$W/txn.recs" txn "$head" || die "txn"
echo "ok: seed $SEED, $i runs killed or ended, every event exactly once ($(($(date +%s) - start)) s)"

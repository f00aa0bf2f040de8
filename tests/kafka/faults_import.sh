#!/usr/bin/env bash
# faults_import.sh — engram kafka import --follow killed with -9 at random
# moments, at least 50 times, with mock faults (fetch errors, leader moves,
# slow brokers) and more messages produced in between; then one clean run,
# and every message must be in the store exactly once, the log's offsets
# equal to the partitions' ends, each message counted in exactly one
# committed batch (issue 25).  Not part of make test (about a minute).
#
#   ENGRAM=/tmp/b/bin/engram tests/kafka/faults_import.sh
#
# KILLS (default 50) and SEED (default: the time; printed, so that a failure
# can be replayed) may be set.  Needs the mock cluster built beside ENGRAM
# (make B=... kafka-tools) and kcat.
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)
ENGRAM=${ENGRAM:-$E2E_DIR/../../bin/engram}
case $ENGRAM in /*) ;; *) ENGRAM=$PWD/$ENGRAM ;; esac
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
KILLS=${KILLS:-50}
SEED=${SEED:-$(date +%s)}
export ENGRAM E2E_DIR PYTHON
T=$(mktemp -d "${TMPDIR:-/tmp}/faults_import.XXXXXX")
STORE=$T/store
E2E_FAIL=$T/fail
export T STORE E2E_FAIL
. "$E2E_DIR/lib.sh"
. "$E2E_DIR/t_kafka_import.sh"   # produce, dump, ends, numbered, check_store

echo "faults_import: seed $SEED, $KILLS kills"
t0=$(date +%s)
mock_start fi
trap 'exec 3>&- 2>/dev/null; kill $MOCKPID 2>/dev/null; if [ -s "$E2E_FAIL" ]; then echo "FAIL: $(cat "$E2E_FAIL") (seed $SEED; kept $T)"; exit 1; else rm -rf "$T"; fi' EXIT
numbered 1 40000 >"$T/m.txt"
produce fi "$T/m.txt"
total=40000
for b in 1 2 3; do
	mock rtt $b 20
done

# plan: per kill, "DELAY BATCH FAULT PRODUCE" from python's random
"$PYTHON" - "$SEED" "$KILLS" >"$T/plan" <<'EOF'
import random, sys
r = random.Random(int(sys.argv[1]))
faults = ["-", "-", "-", "err 1 3 NOT_LEADER_FOR_PARTITION", "err 1 2 _TRANSPORT",
          "leader fi %d %d", "rtt %d 40", "err 8 2 COORDINATOR_NOT_AVAILABLE"]
for i in range(int(sys.argv[2])):
    f = r.choice(faults)
    if "%d %d" in f:
        f = f % (r.randrange(4), r.randrange(1, 4))
    elif "%d" in f:
        f = f % r.randrange(1, 4)
    print("%.3f %d %s %d" % (r.uniform(0.05, 0.6), r.choice([20, 50, 200, 1000]),
                            f.replace(" ", "+"), r.random() < 0.3))
EOF

i=0 mid=0
while read -r delay batch fault more; do
	i=$((i + 1))
	"$ENGRAM" -d "$STORE" kafka import --brokers "$BS" --topic fi --group fg --follow \
		--batch "$batch" -X message.max.bytes=1000 -X fetch.max.bytes=4000 \
		-X max.partition.fetch.bytes=1000 >/dev/null 2>>"$T/runs.err" &
	xp=$!
	if [ "$more" = 1 ]; then   # messages arriving while it runs
		numbered $((total + 1)) $((total + 400)) >"$T/more.txt"
		produce fi "$T/more.txt"
		total=$((total + 400))
	fi
	if [ "$fault" != - ]; then
		mock ${fault//+/ }
		[ "${MOCKED}" = ok ] || fail "mock ${fault//+/ }: $MOCKED"
	fi
	sleep "$delay"
	kill -KILL $xp 2>/dev/null
	wait $xp 2>/dev/null
	[ "$fault" = "${fault#rtt}" ] || mock rtt "$(echo "$fault" | cut -d+ -f2)" 20
	n=$(eg read --type num 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && [ "$n" -lt "$total" ] && mid=$((mid + 1))
done <"$T/plan"
[ "$i" -ge 50 ] || [ "$KILLS" -lt 50 ] || fail "only $i kills"
# The kills must mean something: a fair share of them left an import
# under way (39 of 50 on a quiet machine; 21 of 50 while other tests ran
# on both cores, its first runs spending their time joining the group).
[ "$mid" -ge $((i / 5)) ] || fail "only $mid of $i kills left the import mid-way"
for b in 1 2 3; do
	mock rtt $b 0
done
mock clear 1
ok eg kafka import --brokers "$BS" --topic fi --group fg
echo "faults_import: $i kills ($mid mid-import), $total messages; clean run: $OUT"
assert_contains "$OUT" '"duplicates":0,'
dump fi "$T/d"
[ "$(count_lines "$T/d")" = "$total" ] || fail "kcat reads $(count_lines "$T/d") messages, $total produced"
check_store fi "$T/d" "$(ends fi 4)" fg
echo "faults_import: ok, every message once ($(($(date +%s) - t0)) s)"

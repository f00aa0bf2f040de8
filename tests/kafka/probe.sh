#!/bin/bash
# probe.sh — what librdkafka's mock cluster does and does not do, checked
# with kcat against tests/kafka/mock.c in another process (the findings of
# docs/KAFKA-notes.md, repeatable).  Each check prints "ok: ..." or
# "differs: ..."; a "differs" is a finding, not a failure of the script.
#
#   make B=/tmp/b kafka-tools && B=/tmp/b tests/kafka/probe.sh
set -u
B=${B:-build}
MOCK=$B/tests/kafka_mock
PROBE=$B/tests/kafka_txn_probe
W=$(mktemp -d)
trap 'exec 3>&-; wait; rm -rf "$W"' EXIT

# The mock reads its commands from a fifo held open on fd 3; it answers each
# with one line on its stdout, read back through the file it writes.
mkfifo "$W/in"
"$MOCK" -p 4 t1 <"$W/in" >"$W/out" 2>"$W/err" &
exec 3>"$W/in"
for _ in $(seq 50); do [ -s "$W/out" ] && break; sleep 0.1; done
BS=$(head -1 "$W/out")
[ -n "$BS" ] || { echo "the mock did not start: $(cat "$W/err")"; exit 1; }
echo "bootstrap: $BS"
mock() { # mock CMD...: send, and wait for the answer
	local n; n=$(wc -l <"$W/out")
	echo "$*" >&3
	for _ in $(seq 50); do [ "$(wc -l <"$W/out")" -gt "$n" ] && break; sleep 0.1; done
	tail -1 "$W/out"
}
check() { # check WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "differs: $1: expected [$2], got [$3]"; fi
}
# The keys of TOPIC as OPTS... consumer sees them, one a line.
keys() { local t=$1; shift; timeout 60 kcat -C -b "$BS" -t "$t" -o beginning -e -q -f '%k\n' "$@"; }
# How many keys occur other than exactly once.
not_once() { sort | uniq -c | awk '$1 != 1' | wc -l; }
pace() { # pace N SECS: N lines k1:v1... spread over SECS seconds
	python3 -c 'import sys,time
n=int(sys.argv[1]); s=float(sys.argv[2])
for i in range(1,n+1):
    print(f"k{i}:v{i}", flush=(i%200==0))
    if i%200==0: time.sleep(s*200/n)' "$@" 2>/dev/null
}

# Each partition of the mock keeps at most 5 MiB or 100,000 message sets,
# dropping its oldest (librdkafka's rdkafka_mock.c): keep topics small here.

# 1. produce, consume, headers, format fields, from another process
printf 'a:1\nb:2\na:3\n' | kcat -P -b "$BS" -t t1 -K: -H engram-pos=7 -H engram-type=Clicked
check "kcat -P then -C -f '%k %s %h' (headers round trip)" \
	"a 1 engram-pos=7,engram-type=Clicked" \
	"$(timeout 30 kcat -C -b "$BS" -t t1 -o beginning -e -q -f '%k %s %h\n' | grep '^a 1')"

# 2. the idempotent producer through a broker down, leader moves and
#    injected produce errors: every message once
mock topic f 4 >/dev/null
( sleep 0.5; mock down 1; sleep 1; mock leader f 0 2; mock leader f 1 3
  mock err 0 6 NOT_LEADER_FOR_PARTITION _TRANSPORT REQUEST_TIMED_OUT; sleep 1; mock up 1 ) >/dev/null &
pace 20000 4 | kcat -P -b "$BS" -t f -K: -X enable.idempotence=true 2>/dev/null
wait $!
check "idempotent producer under faults: 20000 keys" 20000 "$(keys f | sort -u | wc -l)"
check "idempotent producer under faults: none twice" 0 "$(keys f | not_once)"

# 3. fetch errors: the consumer retries; a partition whose leader is down is
#    never read (the mock moves no leaders by itself) until it is moved
mock err 1 6 NOT_LEADER_FOR_PARTITION _TRANSPORT UNKNOWN_TOPIC_OR_PART >/dev/null
check "consumer through fetch errors" 20000 "$(keys f | wc -l)"
mock down 3 >/dev/null
for p in 0 1 2 3; do mock leader f $p 1 >/dev/null; done
check "consumer with broker 3 down, leaders moved to 1" 20000 "$(keys f | wc -l)"
mock up 3 >/dev/null

# 4. fatal idempotence errors: the producer stops, and with
#    enable.gapless.guarantee the partition holds a prefix of what was sent
mock topic g 1 >/dev/null
( sleep 1; mock err 0 1 INVALID_PRODUCER_EPOCH ) >/dev/null &
pace 4000 3 | kcat -P -b "$BS" -t g -K: -X enable.idempotence=true -X enable.gapless.guarantee=true 2>"$W/g.err"
wait $!
check "INVALID_PRODUCER_EPOCH with gapless: fatal" yes "$(grep -q 'Fatal error' "$W/g.err" && echo yes)"
check "INVALID_PRODUCER_EPOCH with gapless: a prefix k1..kN" 0 \
	"$(keys g | awk '{ if (substr($1, 2) + 0 != NR) n++ } END { print n + 0 }')"

# 5. kill -9 of an idempotent producer: a prefix too
mock topic k 1 >/dev/null
pace 20000 4 | kcat -P -b "$BS" -t k -K: -X enable.idempotence=true -X enable.gapless.guarantee=true 2>/dev/null &
sleep 1.5; kill -9 $!; wait $! 2>/dev/null
check "kill -9 mid-produce: a prefix k1..kN ($(keys k | wc -l) of 20000)" 0 \
	"$(keys k | awk '{ if (substr($1, 2) + 0 != NR) n++ } END { print n + 0 }')"

# 6. consumer groups: committed offsets are kept; the next member joins only
#    after the previous one's session timed out (session.timeout.ms)
mock topic c 1 >/dev/null
printf 'x:1\ny:2\n' | kcat -P -b "$BS" -t c -K:
G=(-X session.timeout.ms=6000 -X auto.offset.reset=earliest)
timeout 60 kcat -b "$BS" -G grp "${G[@]}" c -e -q -f '%k\n' >/dev/null 2>&1
printf 'z:3\n' | kcat -P -b "$BS" -t c -K:
check "kcat -G resumes from the committed offset" z \
	"$(timeout 60 kcat -b "$BS" -G grp "${G[@]}" c -e -q -f '%k\n' 2>/dev/null)"
check "committed offset read back by a consumer" "committed offset: 3" "$("$PROBE" "$BS" c - grp 0)"
check "a consumer that assigns (no join) commits for its group" "committed offset: 3" \
	"$("$B/tests/kafka_assign_probe" "$BS" c grp2 | tail -1)"

# 7. transactions: one committed, one aborted (after its messages reached
#    the brokers); what read_committed and read_uncommitted see
mock topic x 1 >/dev/null; mock topic x.engram-checkpoints 1 >/dev/null
"$PROBE" "$BS" x probe-txn txgrp 2 >"$W/txn.out"
check "txn_probe: init, commit, send_offsets, abort all answer ok" 0 "$(grep -vc ': ok$\|^committed' "$W/txn.out")"
check "read_committed sees only c1 c2 c3" "c1 c2 c3" \
	"$(timeout 30 kcat -C -b "$BS" -t x -o beginning -e -q -X isolation.level=read_committed -f '%s ' | sed 's/ $//')"
check "read_uncommitted sees all six" "c1 c2 c3 a1 a2 a3" \
	"$(timeout 30 kcat -C -b "$BS" -t x -o beginning -e -q -X isolation.level=read_uncommitted -f '%s ' | sed 's/ $//')"
check "control records take offsets (high watermark 8 after 6 messages, 2 markers)" \
	"x [0] offset 8" "$(kcat -Q -b "$BS" -t x:0:-1 2>&1)"
check "send_offsets_to_transaction stores the group's offset" "committed offset: 2" \
	"$(grep '^committed' "$W/txn.out")"

# 8. fencing: a second producer with the same transactional.id makes the
#    first one's commit fail (what a restarted transactional export needs)
mock topic z 1 >/dev/null
check "init_transactions of a successor fences the zombie" "fenced: yes" \
	"$("$B/tests/kafka_fence_probe" "$BS" z z-txn | tail -1)"

# 9. a topic a producer names that does not exist is created (4 partitions)
echo hello | kcat -P -b "$BS" -t auto
check "auto-created topic" 4 "$(kcat -L -b "$BS" -t auto | grep -c 'partition [0-9]')"

mock quit >/dev/null

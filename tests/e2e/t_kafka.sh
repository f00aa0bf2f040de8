# t_kafka.sh — engram kafka export against librdkafka's mock cluster (3
# brokers; tests/kafka/mock.c, built beside the engram under test), read
# back with kcat as an independent client: every event once, in log
# order within its stream's partition, its key, value and headers; the
# checkpoint per export name; filters; a broker down and request errors.

. "$E2E_DIR/kafka_lib.sh"

# read_topic TOPIC FILE: every message as kcat sees it, 'KEY|HEADERS|VALUE'.
# read_topic TOPIC FILE [AT_LEAST]: the topic's messages into FILE.  With
# AT_LEAST, read again (up to 5 times, a second apart) while FILE has fewer
# lines: after broker faults under load, kcat -e has been seen to stop
# before a partition's end (3996 of 4000, once in a sanitized CI run; each
# later read alone found them all).  A message really missing stays
# missing, and the check that follows fails on it.
read_topic() {
	local k
	for k in 1 2 3 4 5; do
		timeout 60 kcat -C -b "$BS" -t "$1" -o beginning -e -q -f '%k|%h|%s\n' >"$2" 2>"$T/kcat.err" ||
			fail "kcat: $(cat "$T/kcat.err")"
		[ -z "${3:-}" ] || [ "$(wc -l <"$2")" -ge "$3" ] && return
		sleep 1
	done
}

# append_file FILE: append it (one batch) and keep the batch's last
# position and chain hash in $T/heads, for check_topic's engram-chain.
append_file() {
	ok eg append "$1"
	echo "$OUT" >>"$T/heads"
}

# check_topic FILE FROM TO NAME: the messages are the store's events
# FROM..TO, each once, as engram read prints them, keyed by stream, with
# their headers (engram-chain the hash append printed for the event's
# batch, engram-export NAME); within
# a key, in log order.
check_topic() {
	eg read --from "$2" --to "$3" >"$T/want.ndjson"
	py "$1" "$T/want.ndjson" "$T/heads" "$4" <<'EOF'
import sys, json
from e2e import *
got = [l.rstrip("\n").split("|", 2) for l in open(sys.argv[1]) if l.strip()]
want = [l.rstrip("\n") for l in open(sys.argv[2])]
heads = [json.loads(l) for l in open(sys.argv[3])]
name = sys.argv[4]
check(sorted(v for _, _, v in got) == sorted(want), "%d messages, %d events" % (len(got), len(want)))
def chain(pos):
    return next(h["head"] for h in heads if h["last_pos"] >= pos)
last = {}
for k, h, v in got:
    e = json.loads(v)
    check(k == e["stream"], "key %r, stream %r" % (k, e["stream"]))
    hd = dict(x.split("=", 1) for x in h.split(","))
    check(hd == {"engram-pos": str(e["pos"]), "engram-id": e["id"], "engram-type": e["type"],
                 "engram-time": e["time"], "engram-recorded": e["recorded"],
                 "engram-chain": chain(e["pos"]), "engram-export": name},
          "headers %r of %r" % (hd, e))
    check(last.get(k, 0) < e["pos"], "stream %s out of order at %d" % (k, e["pos"]))
    last[k] = e["pos"]
EOF
}

test_kafka_export_every_event_once_and_resume_from_the_checkpoint() {
	eg gen bank --events 3000 --seed 7 >"$T/bank.ndjson"
	append_file "$T/bank.ndjson"
	mock_start ev
	ok eg kafka export --brokers "$BS" --topic ev
	assert_eq '{"exported":3000,"present":0,"checkpoint":3000,"name":"ev"}' "$OUT"
	read_topic ev "$T/t1"
	check_topic "$T/t1" 1 3000 ev
	# again: nothing new, nothing sent
	ok eg kafka export --brokers "$BS" --topic ev
	assert_eq '{"exported":0,"present":0,"checkpoint":3000,"name":"ev"}' "$OUT"
	# the checkpoint is a consumer's: engram consumers shows it
	ok eg consumers
	assert_contains "$OUT" '"consumer":"kafka-export.ev","pos":3000'
	# more events: only they go, with a broker down and produce errors on
	# the way (the idempotent producer retries; no message twice)
	eg gen bank --events 1000 --seed 8 >"$T/more.ndjson"
	append_file "$T/more.ndjson"
	mock err 0 5 NOT_LEADER_FOR_PARTITION
	assert_eq ok "$MOCKED"
	ok eg kafka export --brokers "$BS" --topic ev -X message.timeout.ms=30000
	assert_contains "$OUT" '"checkpoint":4000'
	read_topic ev "$T/t2"
	check_topic "$T/t2" 1 4000 ev
}

test_kafka_export_filters_and_names() {
	eg gen bank --events 2000 --seed 9 >"$T/bank.ndjson"
	append_file "$T/bank.ndjson"
	mock_start fees acct
	ok eg kafka export --brokers "$BS" --topic fees --types fee --name fees-only
	read_topic fees "$T/fees"
	assert_eq "$(eg read --type fee | wc -l)" "$(count_lines "$T/fees")" "only fees"
	assert_eq "" "$(grep -v '|engram-pos=[0-9]*,engram-id=[^,]*,engram-type=fee,' "$T/fees")" "every message a fee"
	ok eg kafka export --brokers "$BS" --topic acct --streams 'account-00001*'
	read_topic acct "$T/acct"
	assert_eq "$(eg read | grep -c '"stream":"account-00001[^"]*"')" "$(count_lines "$T/acct")" "the streams the pattern matches"
	ok eg consumers
	assert_contains "$OUT" '"consumer":"kafka-export.fees-only","pos":2000'
	assert_contains "$OUT" '"consumer":"kafka-export.acct","pos":2000'
}

test_kafka_export_bad_usage_exits_2() {
	assert_exit 2 eg kafka export --topic t
	assert_contains "$ERR" "needs --brokers"
	assert_exit 2 eg kafka export --brokers x:1 --topic t -X nonsense
	assert_contains "$ERR" "-X: expected KEY=VALUE"
	assert_exit 2 eg kafka export --brokers x:1 --topic t -X no.such.property=1
	assert_contains "$ERR" "no.such.property"
	assert_exit 2 eg kafka nothing
	assert_exit 2 eg kafka export --brokers x:1 --topic t --txn-events 5
	assert_contains "$ERR" "go with --transactional-id"
	assert_exit 2 eg kafka export --brokers x:1 --topic t --transactional-id a --txn-ms 0
	assert_contains "$ERR" "--txn-ms: expected milliseconds"
}

test_kafka_export_follow_until_sigterm() {
	eg gen bank --events 500 --seed 3 >"$T/a.ndjson"
	eg gen bank --events 700 --seed 4 >"$T/b.ndjson"
	append_file "$T/a.ndjson"
	mock_start live
	"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic live --follow >"$T/follow.out" 2>"$T/follow.err" &
	local xp=$!
	wait_for 10 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"pos\":500'" ||
		fail "the first 500 not exported: $(cat "$T/follow.err")"
	# appended while it follows: they go too, without a restart
	append_file "$T/b.ndjson"
	wait_for 10 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"pos\":1200'" ||
		fail "the appended events not exported: $(cat "$T/follow.err")"
	kill -TERM $xp
	wait $xp
	assert_eq 0 "$?" "exit status after SIGTERM"
	assert_eq '{"exported":1200,"present":0,"checkpoint":1200,"name":"live"}' "$(cat "$T/follow.out")"
	read_topic live "$T/t"
	check_topic "$T/t" 1 1200 live
}

test_kafka_export_killed_and_run_again_has_every_event_once() {
	eg gen clickstream --events 12000 --seed 5 >"$T/c.ndjson"
	append_file "$T/c.ndjson"
	mock_start kill
	# brokers that answer late: an export takes long enough to be killed
	mock_rtt 30
	local i delay
	# kill -9 at random moments; each run goes on from the checkpoint and
	# skips what its partition already holds
	for i in 1 2 3 4 5 6; do
		delay=$("$PYTHON" -c "import random; random.seed($i); print('%.2f' % random.uniform(0.4, 2.0))")
		"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic kill \
			-X batch.num.messages=20 >/dev/null 2>"$T/k.err" &
		local xp=$!
		sleep "$delay"
		kill -KILL $xp 2>/dev/null
		wait $xp 2>/dev/null
		eg consumers >>"$T/ckpts"
	done
	# some kill landed mid-export: a checkpoint between the ends
	grep -q '"consumer":"kafka-export.kill","pos":[1-9][0-9]\{0,3\},' "$T/ckpts" ||
		grep -q '"consumer":"kafka-export.kill","pos":1[01][0-9]\{3\},' "$T/ckpts" ||
		fail "no kill landed mid-export: $(cat "$T/ckpts")"
	ok eg kafka export --brokers "$BS" --topic kill
	assert_contains "$OUT" '"checkpoint":12000'
	read_topic kill "$T/t"
	check_topic "$T/t" 1 12000 kill
}

# led_by TOPIC B: the partitions broker B leads (kcat -L).
led_by() {
	timeout 20 kcat -L -b "$BS" -t "$1" | sed -n "s/^ *partition \([0-9]*\), leader $2,.*/\1/p"
}

# kafka_check ARGS...: tests/e2e/kafka_check.py (plain or txn) must pass.
kafka_check() {
	local out
	out=$("$PYTHON" "$E2E_DIR/kafka_check.py" "$@") || fail "$out"
}

# read_records TOPIC FILE: the companion topic's records, 'KEY|VALUE'.
read_records() {
	timeout 60 kcat -C -b "$BS" -t "$1.engram-checkpoints" -o beginning -e -q -f '%k|%s\n' \
		>"$2" 2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"
}

test_kafka_export_shares_a_topic_with_another_producer() {
	eg gen bank --events 2000 --seed 11 >"$T/a.ndjson"
	eg gen bank --events 500 --seed 12 >"$T/b.ndjson"
	append_file "$T/a.ndjson"
	mock_start ev
	ok eg kafka export --brokers "$BS" --topic ev
	# another producer's 400 messages (about 100 a partition: the last 16
	# of each are not ours, nor the 128 before them for some)
	seq 1 400 | sed 's/^/other-&:{"n":&}/' |
		timeout 20 kcat -P -b "$BS" -t ev -K: -H source=other || fail "kcat -P failed"
	append_file "$T/b.ndjson"
	# from the start again: the tails, found behind the other producer's
	# messages, say that the first 2000 are there
	ok eg kafka export --brokers "$BS" --topic ev --from 1
	assert_eq '{"exported":500,"present":2000,"checkpoint":2500,"name":"ev"}' "$OUT"
	read_topic ev "$T/all"
	assert_eq 400 "$(grep -c '|source=other|' "$T/all")" "the other producer's messages"
	grep -v '|source=other|' "$T/all" >"$T/ours"
	check_topic "$T/ours" 1 2500 ev
	kafka_check plain "$T/all" ev 2500
}

test_kafka_export_replaces_the_producer_after_a_fatal_error() {
	eg gen bank --events 3000 --seed 13 >"$T/a.ndjson"
	eg gen bank --events 1000 --seed 14 >"$T/b.ndjson"
	append_file "$T/a.ndjson"
	mock_start ev
	# the idempotent producer's fatal error: a new producer, the same run
	mock err 0 1 OUT_OF_ORDER_SEQUENCE_NUMBER
	ok eg kafka export --brokers "$BS" --topic ev
	assert_contains "$OUT" '"checkpoint":3000,"name":"ev","restarts":1}'
	assert_contains "$ERR" "fatal producer error OUT_OF_ORDER_SEQUENCE_NUMBER"
	assert_contains "$(cat "$STORE/kafka/export.ev.json")" '"last_error":"fatal producer error OUT_OF_ORDER_SEQUENCE_NUMBER'
	assert_contains "$(cat "$STORE/kafka/export.ev.json")" '"state":"stopped"'
	# what the first producer got there is not sent again
	py "$OUT" <<'EOF'
import sys, json
from e2e import *
r = json.loads(sys.argv[1])
check(r["exported"] + r["present"] == 3000, "exported + present = %d" % (r["exported"] + r["present"]))
EOF
	append_file "$T/b.ndjson"
	# gapless makes a lost epoch fatal too
	mock err 0 1 INVALID_PRODUCER_EPOCH
	ok eg kafka export --brokers "$BS" --topic ev
	assert_contains "$OUT" '"checkpoint":4000,"name":"ev","restarts":1}'
	read_topic ev "$T/t"
	check_topic "$T/t" 1 4000 ev
	# a fault that every new producer meets: five in a row, then exit 1
	eg gen bank --events 100 --seed 15 >"$T/c.ndjson"
	append_file "$T/c.ndjson"
	mock err 0 40 OUT_OF_ORDER_SEQUENCE_NUMBER
	assert_exit 1 eg kafka export --brokers "$BS" --topic ev
	assert_contains "$ERR" "5 producers in a row made no progress, the checkpoint stays at 4000"
	assert_contains "$(cat "$STORE/kafka/export.ev.json")" '"state":"failed"'
	mock clear 0
	ok eg kafka export --brokers "$BS" --topic ev
	read_topic ev "$T/t"
	check_topic "$T/t" 1 4100 ev
}

# Append FILE while the export follows, and wait for its checkpoint.
follow_append() {
	append_file "$1"
	local last
	last=$(printf '%s' "$OUT" | sed 's/.*"last_pos":\([0-9]*\).*/\1/')
	wait_for 20 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"consumer\":\"kafka-export.ev\",\"pos\":$last,'" ||
		fail "$2: the events up to $last not exported: $(tail -3 "$T/follow.err")"
}

test_kafka_export_follow_through_broker_faults() {
	local i
	for i in 1 2 3 4 5; do
		eg gen bank --events 800 --seed $((20 + i)) >"$T/$i.ndjson"
	done
	append_file "$T/1.ndjson"
	mock_start ev
	"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic ev --follow \
		-X message.timeout.ms=60000 >"$T/follow.out" 2>"$T/follow.err" &
	local xp=$! p
	follow_append "$T/2.ndjson" "before the faults"
	# broker 1 down; the mock does not fail over: its partitions move to 2
	local led
	led=$(led_by ev 1)
	mock down 1
	for p in $led; do
		mock leader ev "$p" 2
		assert_eq ok "$MOCKED"
	done
	eg gen bank --events 800 --seed 30 >"$T/down.ndjson"
	follow_append "$T/down.ndjson" "broker 1 down"
	mock up 1
	# produce errors: not the leader, a lost connection, a timeout
	mock err 0 5 NOT_LEADER_FOR_PARTITION _TRANSPORT REQUEST_TIMED_OUT
	follow_append "$T/3.ndjson" "produce errors"
	# the fatal error: a new producer inside the running export
	mock err 0 1 OUT_OF_ORDER_SEQUENCE_NUMBER
	follow_append "$T/4.ndjson" "fatal error"
	kill -TERM $xp
	wait $xp
	assert_eq 0 "$?" "exit status after SIGTERM: $(tail -3 "$T/follow.err")"
	assert_contains "$(cat "$T/follow.err")" "fatal producer error"
	assert_contains "$(cat "$T/follow.out")" '"checkpoint":4000,'
	read_topic ev "$T/t" 4000
	check_topic "$T/t" 1 4000 ev
}

test_kafka_export_transactional_every_position_once_among_committed() {
	eg gen clickstream --events 6000 --seed 17 >"$T/c.ndjson"
	eg gen clickstream --events 1000 --seed 18 >"$T/d.ndjson"
	append_file "$T/c.ndjson"
	mock_start ev
	local i
	mock_rtt 20
	# killed mid-transaction: the next run starts after the last committed
	# checkpoint record; the killed transaction's messages stay in the
	# mock's topic (it does not abort them) but are off the chain
	for i in 1 2 3; do
		"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic ev --transactional-id ev-tx \
			--txn-events 700 -X batch.num.messages=50 >/dev/null 2>"$T/k.err" &
		local xp=$!
		sleep "0.$((4 + i * 2))"
		kill -KILL $xp 2>/dev/null
		wait $xp 2>/dev/null
	done
	mock_rtt 0
	ok eg kafka export --brokers "$BS" --topic ev --transactional-id ev-tx --txn-events 700
	assert_contains "$OUT" '"checkpoint":6000,'
	append_file "$T/d.ndjson"
	mock err 0 1 OUT_OF_ORDER_SEQUENCE_NUMBER
	ok eg kafka export --brokers "$BS" --topic ev --transactional-id ev-tx --txn-events 700
	assert_contains "$OUT" '"checkpoint":7000,'
	# 1000 events in transactions of at most 700: two or more
	py "$OUT" <<'EOF'
import sys, json
from e2e import *
check(json.loads(sys.argv[1])["transactions"] >= 2, "transactions: " + sys.argv[1])
EOF
	# the local checkpoint is the last committed record's cache
	ok eg consumers
	assert_contains "$OUT" '"consumer":"kafka-export.ev","pos":7000'
	read_topic ev "$T/t"
	read_records ev "$T/r"
	kafka_check txn "$T/t" "$T/r" ev 7000
	# each record's chain hash is the store's at its position
	py "$T/r" "$T/heads" <<'EOF'
import sys, json
from e2e import *
heads = {h["last_pos"]: h["head"] for h in map(json.loads, open(sys.argv[2]))}
recs = [json.loads(l.split("|", 1)[1]) for l in open(sys.argv[1]) if l.strip()]
for r in recs:
    if r["pos"] in heads:
        check(r["chain"] == heads[r["pos"]], "record at %d: chain %s" % (r["pos"], r["chain"]))
check(recs[-1]["pos"] == 7000 and recs[-1]["chain"] == heads[7000], "the last record")
EOF
}

test_kafka_export_transactional_refuses_another_store() {
	eg gen bank --events 300 --seed 19 >"$T/a.ndjson"
	append_file "$T/a.ndjson"
	mock_start ev
	ok eg kafka export --brokers "$BS" --topic ev --transactional-id t1
	# another store, with other events at the checkpoint's position
	STORE=$T/other
	eg gen bank --events 400 --seed 20 >"$T/b.ndjson"
	ok eg append "$T/b.ndjson"
	assert_exit 3 eg kafka export --brokers "$BS" --topic ev --transactional-id t1
	assert_contains "$ERR" "does not match this store's log"
	# --from starts over, knowingly
	ok eg kafka export --brokers "$BS" --topic ev --transactional-id t1 --from 1
	assert_contains "$OUT" '"exported":400,'
}

test_kafka_export_two_of_one_name_exit_4() {
	eg gen bank --events 200 --seed 21 >"$T/a.ndjson"
	append_file "$T/a.ndjson"
	mock_start ev
	local mode
	for mode in "" "--transactional-id x1"; do
		# shellcheck disable=SC2086
		"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic ev --follow $mode \
			>"$T/f.out" 2>"$T/f.err" &
		local xp=$!
		# running (its lock held) and caught up; the second round's
		# checkpoint is at 200 from the first, so both are waited for
		wait_for 10 sh -c "'$ENGRAM' -d '$STORE' kafka status | grep -q '\"name\":\"ev\",\"topics\":\"ev\",\"state\":\"running\"'" ||
			fail "the follower did not start: $(cat "$T/f.err")"
		wait_for 10 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"pos\":200'" ||
			fail "the follower did not export: $(cat "$T/f.err")"
		# shellcheck disable=SC2086
		assert_exit 4 eg kafka export --brokers "$BS" --topic ev $mode
		assert_contains "$ERR" "export ev is running already"
		# another name is another export
		# shellcheck disable=SC2086
		ok eg kafka export --brokers "$BS" --topic other --name other $mode
		kill -TERM $xp
		wait $xp
		assert_eq 0 "$?" "the follower's exit status"
	done
}

test_kafka_status_shows_each_export_its_lag_and_last_error() {
	eg gen bank --events 300 --seed 5 >"$T/a.ndjson"
	ok eg append "$T/a.ndjson"
	mock_start st
	ok eg kafka export --brokers "$BS" --topic st
	ok eg kafka status
	assert_contains "$OUT" '{"kind":"export","name":"st","topics":"st","state":"stopped","checkpoint":300,"lag_messages":0,"lag_seconds":0,"messages":300,'
	assert_contains "$OUT" '"last_error":null,"last_error_at":null}'
	# 40 more, not exported yet: lag 40, dated by the first of them
	eg gen bank --events 40 --seed 6 >"$T/b.ndjson"
	ok eg append "$T/b.ndjson"
	sleep 1.1
	ok eg kafka status
	assert_contains "$OUT" '"checkpoint":300,"lag_messages":40,'
	py "$OUT" <<'PY'
import sys, json
from e2e import *
r = json.loads(sys.argv[1])
check(1.0 <= r["lag_seconds"] < 30, "lag_seconds %r" % r["lag_seconds"])
PY
	# a run that fails says why, and status keeps it
	mock err 0 50 TOPIC_AUTHORIZATION_FAILED
	assert_exit 1 eg kafka export --brokers "$BS" --topic st
	ok eg kafka status
	assert_contains "$OUT" '"state":"failed","checkpoint":300,"lag_messages":40,'
	assert_contains "$OUT" '"last_error":"'
	assert_not_contains "$OUT" '"last_error_at":null'
	# a table on a terminal-less pipe with --format table
	ok eg --format table kafka status
	assert_contains "$OUT" "lag_messages"
}

test_kafka_export_tails_past_a_partition_retention_trimmed() {
	mock_start
	mock topic ret 1
	# the mock keeps 5 MiB a partition: 6,000 messages of 1 KiB push its start on
	"$PYTHON" -c 'print("\n".join("x%d:%s" % (i, "y" * 1024) for i in range(6000)))' >"$T/big.txt"
	timeout 60 kcat -P -b "$BS" -t ret -K: -l "$T/big.txt" 2>"$T/kcat.err" || fail "kcat -P: $(cat "$T/kcat.err")"
	local lo
	lo=$(timeout 30 kcat -Q -b "$BS" -t ret:0:-2 2>/dev/null | sed -n 's/.* offset \([0-9]*\)$/\1/p')
	[ "${lo:-0}" -gt 0 ] || fail "the mock kept the partition whole (first offset ${lo:-?})"
	eg gen bank --events 3 --seed 1 >"$T/a.ndjson"
	append_file "$T/a.ndjson"
	ok eg kafka export --brokers "$BS" --topic ret
	assert_contains "$OUT" '"exported":3,'
	# 2,000 more of the other producer's: ours are beyond the windows of
	# 16, 128 and 1,024 read back from the end; the next, 8,192, reaches
	# before what retention kept
	head -2000 "$T/big.txt" >"$T/more.txt"
	timeout 60 kcat -P -b "$BS" -t ret -K: -l "$T/more.txt" 2>"$T/kcat.err" || fail "kcat -P: $(cat "$T/kcat.err")"
	# the checkpoint lost (a kill -9 before it was saved): the tails, read
	# back past the other producer's messages, still find ours
	ok eg consumers --delete kafka-export.ret
	ok eg kafka export --brokers "$BS" --topic ret
	assert_eq '{"exported":0,"present":3,"checkpoint":3,"name":"ret"}' "$OUT"
}

test_kafka_export_transactional_keeps_from_when_its_first_producer_fails() {
	eg gen bank --events 10 --seed 1 >"$T/a.ndjson"
	append_file "$T/a.ndjson"
	mock_start tf
	# the first producer's init_transactions fails: the next starts at --from too
	mock err 22 1 TRANSACTIONAL_ID_AUTHORIZATION_FAILED
	ok eg kafka export --brokers "$BS" --topic tf --transactional-id tx1 --from 6
	assert_contains "$OUT" '"exported":5,'
	timeout 30 kcat -C -b "$BS" -t tf -o beginning -e -q -f '%h\n' >"$T/h" 2>/dev/null
	assert_eq "6 7 8 9 10" "$(sed -n 's/.*engram-pos=\([0-9]*\).*/\1/p' "$T/h" | sort -n | paste -sd' ')" \
		"the positions in the topic"
}

test_kafka_export_names_a_checkpoint_can_hold() {
	assert_exit 2 eg kafka export --brokers x:1 --topic t --name 'my export'
	assert_contains "$ERR" "--name: expected 1 to 51 of A-Z a-z 0-9 . _ -"
	assert_exit 2 eg kafka export --brokers x:1 --topic "$(printf 't%.0s' $(seq 60))"
	assert_contains "$ERR" "(the topic: give --name)"
	assert_exit 2 eg kafka export --brokers x:1 --topic t --types "$(seq 70 | sed 's/^/t/' | paste -sd,)"
	assert_contains "$ERR" "--types: at most 64 types"
}

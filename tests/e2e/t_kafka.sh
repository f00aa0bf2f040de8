# t_kafka.sh — engram kafka export against librdkafka's mock cluster (3
# brokers; tests/kafka/mock.c, built beside the engram under test), read
# back with kcat as an independent client: every event once, in log
# order within its stream's partition, its key, value and headers; the
# checkpoint per export name; filters; a broker down and request errors.

. "$E2E_DIR/kafka_lib.sh"

# read_topic TOPIC FILE: every message as kcat sees it, 'KEY|HEADERS|VALUE'.
read_topic() {
	timeout 60 kcat -C -b "$BS" -t "$1" -o beginning -e -q -f '%k|%h|%s\n' >"$2" 2>"$T/kcat.err" ||
		fail "kcat: $(cat "$T/kcat.err")"
}

# check_topic FILE FROM TO: the messages are the store's events FROM..TO,
# each once, as engram read prints them, keyed by stream, with their
# headers; within a key, in log order.
check_topic() {
	eg read --from "$2" --to "$3" >"$T/want.ndjson"
	py "$1" "$T/want.ndjson" <<'EOF'
import sys, json
from e2e import *
got = [l.rstrip("\n").split("|", 2) for l in open(sys.argv[1]) if l.strip()]
want = [l.rstrip("\n") for l in open(sys.argv[2])]
check(sorted(v for _, _, v in got) == sorted(want), "%d messages, %d events" % (len(got), len(want)))
last = {}
for k, h, v in got:
    e = json.loads(v)
    check(k == e["stream"], "key %r, stream %r" % (k, e["stream"]))
    hd = dict(x.split("=", 1) for x in h.split(","))
    check(hd == {"engram-pos": str(e["pos"]), "engram-id": e["id"], "engram-type": e["type"],
                 "engram-time": e["time"], "engram-recorded": e["recorded"]}, "headers %r of %r" % (hd, e))
    check(last.get(k, 0) < e["pos"], "stream %s out of order at %d" % (k, e["pos"]))
    last[k] = e["pos"]
EOF
}

test_kafka_export_every_event_once_and_resume_from_the_checkpoint() {
	new_store
	eg gen bank --events 3000 --seed 7 >"$T/bank.ndjson"
	ok eg append "$T/bank.ndjson"
	mock_start ev
	ok eg kafka export --brokers "$BS" --topic ev
	assert_eq '{"exported":3000,"present":0,"checkpoint":3000,"name":"ev"}' "$OUT"
	read_topic ev "$T/t1"
	check_topic "$T/t1" 1 3000
	# again: nothing new, nothing sent
	ok eg kafka export --brokers "$BS" --topic ev
	assert_eq '{"exported":0,"present":0,"checkpoint":3000,"name":"ev"}' "$OUT"
	# the checkpoint is a consumer's: engram consumers shows it
	ok eg consumers
	assert_contains "$OUT" '"consumer":"kafka-export.ev","pos":3000'
	# more events: only they go, with a broker down and produce errors on
	# the way (the idempotent producer retries; no message twice)
	eg gen bank --events 1000 --seed 8 >"$T/more.ndjson"
	ok eg append "$T/more.ndjson"
	mock err 0 5 NOT_LEADER_FOR_PARTITION
	assert_eq ok "$MOCKED"
	ok eg kafka export --brokers "$BS" --topic ev -X message.timeout.ms=30000
	assert_contains "$OUT" '"checkpoint":4000'
	read_topic ev "$T/t2"
	check_topic "$T/t2" 1 4000
}

test_kafka_export_filters_and_names() {
	new_store
	eg gen bank --events 2000 --seed 9 >"$T/bank.ndjson"
	ok eg append "$T/bank.ndjson"
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
	new_store
	assert_exit 2 eg kafka export --topic t
	assert_contains "$ERR" "needs --brokers"
	assert_exit 2 eg kafka export --brokers x:1 --topic t -X nonsense
	assert_contains "$ERR" "-X: expected KEY=VALUE"
	assert_exit 2 eg kafka export --brokers x:1 --topic t -X no.such.property=1
	assert_contains "$ERR" "no.such.property"
	assert_exit 2 eg kafka nothing
}

test_kafka_export_follow_until_sigterm() {
	new_store
	eg gen bank --events 500 --seed 3 >"$T/a.ndjson"
	eg gen bank --events 700 --seed 4 >"$T/b.ndjson"
	ok eg append "$T/a.ndjson"
	mock_start live
	"$ENGRAM" -d "$STORE" kafka export --brokers "$BS" --topic live --follow >"$T/follow.out" 2>"$T/follow.err" &
	local xp=$!
	wait_for 10 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"pos\":500'" ||
		fail "the first 500 not exported: $(cat "$T/follow.err")"
	# appended while it follows: they go too, without a restart
	ok eg append "$T/b.ndjson"
	wait_for 10 sh -c "'$ENGRAM' -d '$STORE' consumers | grep -q '\"pos\":1200'" ||
		fail "the appended events not exported: $(cat "$T/follow.err")"
	kill -TERM $xp
	wait $xp
	assert_eq 0 "$?" "exit status after SIGTERM"
	assert_eq '{"exported":1200,"present":0,"checkpoint":1200,"name":"live"}' "$(cat "$T/follow.out")"
	read_topic live "$T/t"
	check_topic "$T/t" 1 1200
}

test_kafka_export_killed_and_run_again_has_every_event_once() {
	new_store
	eg gen clickstream --events 12000 --seed 5 >"$T/c.ndjson"
	ok eg append "$T/c.ndjson"
	mock_start kill
	# brokers that answer late: an export takes long enough to be killed
	local b
	for b in 1 2 3; do
		mock rtt $b 30
	done
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
	check_topic "$T/t" 1 12000
}

test_kafka_status_shows_each_export_its_lag_and_last_error() {
	new_store
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

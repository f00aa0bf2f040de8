# t_kafka_import.sh — engram kafka import against librdkafka's mock cluster
# (3 brokers; tests/kafka/mock.c), the messages produced and read back with
# kcat as an independent client: each message exactly once in the store
# with its id and time, the offsets recorded in the log equal to the
# partitions' ends, resuming from them, --map, bad messages in $quarantine
# with their offsets, --follow through fetch errors, a broker down and a
# leader move, heartbeats at the minimum over partitions, kill -9.

. "$E2E_DIR/kafka_lib.sh"

# produce TOPIC FILE [PARTITION]: KEY:VALUE lines as messages.
produce() {
	timeout 30 kcat -P -b "$BS" -t "$1" ${3:+-p "$3"} -K: -l "$2" 2>"$T/kcat.err" ||
		fail "kcat -P: $(cat "$T/kcat.err")"
}

# dump TOPIC FILE: every message, 'PARTITION<tab>OFFSET<tab>TIMESTAMP_MS<tab>VALUE'.
dump() {
	timeout 30 kcat -C -b "$BS" -t "$1" -o beginning -e -q -f '%p\t%o\t%T\t%s\n' >"$2" 2>"$T/kcat.err" ||
		fail "kcat -C: $(cat "$T/kcat.err")"
}

# ends TOPIC PARTITIONS: the high watermarks as 'T/P=OFFSET,...' (kcat -Q).
ends() {
	local args=() p
	for ((p = 0; p < $2; p++)); do
		args+=(-t "$1:$p:-1")
	done
	timeout 30 kcat -Q -b "$BS" "${args[@]}" 2>"$T/kcat.err" |
		sed -n 's/^\([^ ]*\) \[\([0-9]*\)\] offset \([0-9-]*\)$/\1\/\2=\3/p' | sort | paste -sd, ||
		fail "kcat -Q: $(cat "$T/kcat.err")"
}

# numbered FROM TO: KEY:VALUE lines of envelopes; every 5th gives its time,
# every 10th (3 mod 10) its id.
numbered() {
	"$PYTHON" - "$1" "$2" <<'EOF'
import sys
for i in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    v = '{"type":"num","stream":"s%d","data":{"i":%d}' % (i % 7, i)
    if i % 5 == 0:
        v += ',"time":"2025-01-01T00:%02d:%02dZ"' % (i // 60 % 60, i % 60)
    if i % 10 == 3:
        v += ',"id":"own-%d"' % i
    print("k%d:%s}" % (i, v))
EOF
}

# check_store TOPIC DUMP ENDS GROUP: every message of DUMP once in the store
# (its own id or kafka:T/P/O; its own time or the Kafka timestamp; its
# data), nothing else but engram's own events; the group's last offsets
# event equal to ENDS; and each message counted in exactly one batch.
check_store() {
	eg read >"$T/all.ndjson" || fail "engram read failed"
	py "$1" "$2" "$3" "$4" "$T/all.ndjson" <<'EOF'
import sys, json, datetime
from e2e import *
topic, dumpf, ends, group, allf = sys.argv[1:6]
def us(t):
    d = datetime.datetime.strptime(t.replace("Z", "").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    frac = t.rstrip("Z").split(".")[1] if "." in t else "0"
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000000 + int(frac.ljust(6, "0")[:6])
events = [json.loads(l) for l in open(allf)]
mine = [e for e in events if not e["stream"].startswith("$") and e["stream"] != "engram.heartbeat"]
by_id = {}
for e in mine:
    check(e["id"] not in by_id, "id %s twice" % e["id"])
    by_id[e["id"]] = e
msgs = [l.rstrip("\n").split("\t", 3) for l in open(dumpf) if l.strip()]
check(len(mine) == len(msgs), "%d events for %d messages" % (len(mine), len(msgs)))
for p, o, ts, v in msgs:
    val = json.loads(v)
    want_id = val.get("id") or "kafka:%s/%s/%s" % (topic, p, o)
    check(want_id in by_id, "message %s/%s (%s) not in the store" % (p, o, want_id))
    e = by_id[want_id]
    want_t = us(val["time"]) if "time" in val else int(ts) * 1000
    check(us(e["time"]) == want_t, "%s: time %s, expected %d" % (want_id, e["time"], want_t))
    check(e["data"] == val["data"] and e["type"] == val["type"], "%s: %r" % (want_id, e))
offs = [e for e in events if e["stream"] == "$kafka-import." + group]
check(offs, "no offsets event")
for e in offs:
    check(e["type"] == "engram.kafka.offsets" and e["data"]["group"] == group, "offsets event %r" % e)
last = offs[-1]["data"]["offsets"]
got = ",".join(sorted("%s=%d" % kv for kv in last.items()))
check(got == ends, "offsets %s, ends %s" % (got, ends))
n = sum(e["data"]["messages"] for e in offs)
check(n == len(msgs), "batches count %d messages, the topic holds %d" % (n, len(msgs)))
EOF
}

test_kafka_import_every_message_once_resumes_from_the_log() {
	mock_start ev
	# more than one growth of the batch's arrays (1024)
	numbered 1 2500 >"$T/a.txt"
	produce ev "$T/a.txt"
	ok eg kafka import --brokers "$BS" --topic ev --group g
	assert_match "$OUT" '^\{"imported":2500,"duplicates":0,"quarantined":0,"messages":2500,"batches":1,'
	assert_contains "$OUT" '"group":"g"'
	dump ev "$T/d1"
	local ends1
	ends1=$(ends ev 4)
	check_store ev "$T/d1" "$ends1" g
	assert_contains "$OUT" "\"offsets\":{$(ends ev 4 | sed 's/\([^,=]*\)=\([0-9]*\)/"\1":\2/g')}"
	# the status file engram kafka status reads
	assert_contains "$(cat "$STORE/kafka/import.g.json")" '"state":"stopped"'
	# again: nothing new, nothing appended
	local head
	head=$(head_of)
	ok eg kafka import --brokers "$BS" --topic ev --group g
	assert_match "$OUT" '^\{"imported":0,"duplicates":0,"quarantined":0,"messages":0,"batches":0,'
	assert_eq "$head" "$(head_of)" "the head after a run with nothing new"
	# more messages: engram kafka status counts them before they come
	numbered 2501 2800 >"$T/b.txt"
	produce ev "$T/b.txt"
	sleep 1.1
	ok eg kafka status
	assert_contains "$OUT" "{\"kind\":\"import\",\"name\":\"g\",\"topics\":\"ev\",\"state\":\"stopped\",\"checkpoint\":{$(sed 's/\([^,=]*\)=\([0-9]*\)/"\1":\2/g' <<<"$ends1")},\"lag_messages\":300,"
	py "$OUT" <<'PY'
import sys, json
from e2e import *
r = json.loads(sys.argv[1])
check(1.0 <= r["lag_seconds"] < 60, "lag_seconds %r: the oldest message not imported was produced over a second ago" % r["lag_seconds"])
check(r["messages"] == 0 and r["last_error"] is None, "%r" % r)
PY
	# the brokers gone: the lag is unknown, the rest is still shown
	ok eg kafka status --brokers 127.0.0.1:1 -X socket.connection.setup.timeout.ms=1000
	assert_contains "$OUT" '"lag_messages":null,"lag_seconds":null'
	# only they come, in small batches
	ok eg kafka import --brokers "$BS" --topic ev --group g --batch 100
	assert_match "$OUT" '^\{"imported":300,"duplicates":0,"quarantined":0,"messages":300,"batches":[3-7],'
	dump ev "$T/d2"
	check_store ev "$T/d2" "$(ends ev 4)" g
	# another group reads the same messages again: the ids dedup them
	ok eg kafka import --brokers "$BS" --topic ev --group other --batch 1200
	assert_match "$OUT" '^\{"imported":0,"duplicates":2800,"quarantined":0,"messages":2800,'
}

test_kafka_import_map_and_bad_messages_to_quarantine() {
	mock_start seg
	eg gen clickstream --events 200 --format segment --seed 3 >"$T/seg.json"
	"$PYTHON" - "$T/seg.json" >"$T/seg.txt" <<'EOF'
import sys
for i, l in enumerate(open(sys.argv[1])):
    print("u%d:%s" % (i, l.strip()))
    if i in (20, 120):
        print("bad%d:not json at %d" % (i, i))
    if i == 60:
        print('bad60:[1,2,3]')
EOF
	produce seg "$T/seg.txt"
	ok eg kafka import --brokers "$BS" --topic seg --group s --map segment
	assert_match "$OUT" '^\{"imported":200,"duplicates":0,"quarantined":3,"messages":203,'
	assert_contains "$ERR" "3 messages could not be imported"
	assert_contains "$ERR" '$quarantine'
	timeout 30 kcat -C -b "$BS" -t seg -o beginning -e -q -f '%p\t%o\t%k\t%s\n' >"$T/d" ||
		fail "kcat -C failed"
	eg read --stream '$quarantine' >"$T/q.ndjson"
	eg read >"$T/all.ndjson"
	py "$T/d" "$T/q.ndjson" "$T/seg.json" "$T/all.ndjson" <<'EOF'
import sys, json
from e2e import *
msgs = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1])]
bad = {(int(p), int(o)): (k, v) for p, o, k, v in msgs if k.startswith("bad")}
q = [json.loads(l) for l in open(sys.argv[2])]
check(len(q) == 3 and len(bad) == 3, "%d quarantined, %d bad" % (len(q), len(bad)))
for e in q:
    d = e["data"]
    check(e["type"] == "engram.kafka.rejected", "type %s" % e["type"])
    key = (d["partition"], d["offset"])
    check(key in bad, "quarantined %r is not a bad message" % (key,))
    check(d["topic"] == "seg" and d["group"] == "s" and d["error"], "%r" % d)
    check((d["key"], d["value"]) == bad[key], "%r vs %r" % ((d["key"], d["value"]), bad[key]))
# the mapped events keep the producer's messageId as their id
ids = {json.loads(l)["messageId"] for l in open(sys.argv[3])}
got = [json.loads(l) for l in open(sys.argv[4])]
got = [e["id"] for e in got if not e["stream"].startswith("$") and e["stream"] != "engram.heartbeat"]
check(sorted(got) == sorted(ids), "ids %r..., messageIds %r..." % (sorted(got)[:2], sorted(ids)[:2]))
EOF
	# Kafka's committed offsets of the group (for monitoring): a consumer
	# of the group starts at the end
	assert_eq 0 "$(timeout 20 kcat -b "$BS" -G s -X session.timeout.ms=6000 \
		-X auto.offset.reset=earliest -e -q -f '%o\n' seg | wc -l)" "messages after group s's offsets"
	# engram quarantine (schema refusals) still works beside them
	ok eg quarantine list
	assert_eq "" "$OUT" "engram quarantine list lists schema refusals only"
}

test_kafka_import_bad_usage_exits_2() {
	assert_exit 2 eg kafka import --brokers x:1 --topic t
	assert_contains "$ERR" "--group"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group 'a b'
	assert_contains "$ERR" "--group: expected 1 to 64 characters"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group "$(printf 'g%.0s' {1..65})"
	assert_contains "$ERR" "--group"
	assert_exit 2 eg kafka import --brokers x:1 --topic 'a/b' --group g
	assert_contains "$ERR" "--topic"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group g --from middle
	assert_contains "$ERR" "--from: expected beginning or end"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group g --batch 0
	assert_contains "$ERR" "--batch"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group g --idle-timeout soon
	assert_contains "$ERR" "--idle-timeout"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group g --map nosuch.json
	assert_contains "$ERR" "--map nosuch.json"
	assert_exit 2 eg kafka import --brokers x:1 --topic t --group g -X no.such.property=1
	assert_contains "$ERR" "no.such.property"
}

# wait_imported N: the store holds N events of type num.
imported_at_least() {
	[ "$("$ENGRAM" -d "$STORE" read --type num 2>/dev/null | wc -l)" -ge "$1" ]
}

test_kafka_import_follow_through_fetch_errors_a_broker_down_and_a_leader_move() {
	mock_start live
	numbered 1 300 >"$T/a.txt"
	produce live "$T/a.txt"
	"$ENGRAM" -d "$STORE" kafka import --brokers "$BS" --topic live --group f --follow \
		-X fetch.error.backoff.ms=50 >"$T/f.out" 2>"$T/f.err" &
	local xp=$!
	wait_for 10 imported_at_least 300 || fail "the first 300 not imported: $(cat "$T/f.err")"
	# Fetch errors: librdkafka retries, nothing lost or doubled
	mock err 1 5 NOT_LEADER_FOR_PARTITION
	assert_eq ok "$MOCKED"
	numbered 301 600 >"$T/b.txt"
	produce live "$T/b.txt"
	wait_for 15 imported_at_least 600 || fail "not through the fetch errors: $(cat "$T/f.err")"
	# broker 1 down, its partitions' leadership moved to 2 (the mock does
	# not fail over by itself), more messages, broker 1 back
	mock down 1
	local p
	for p in 0 1 2 3; do
		mock leader live $p 2
	done
	numbered 601 900 >"$T/c.txt"
	produce live "$T/c.txt"
	wait_for 20 imported_at_least 900 || fail "not through the broker down: $(cat "$T/f.err")"
	mock up 1
	kill -TERM $xp
	wait $xp
	assert_eq 0 "$?" "exit status after SIGTERM"
	assert_match "$(cat "$T/f.out")" '^\{"imported":900,"duplicates":0,"quarantined":0,"messages":900,'
	dump live "$T/d"
	check_store live "$T/d" "$(ends live 4)" f
}

# hb_times: the heartbeats' times, one a line.
hb_times() {
	eg read --stream engram.heartbeat | sed 's/.*"time":"\([^"]*\)".*/\1/'
}

test_kafka_import_heartbeats_at_the_minimum_over_partitions_not_idle() {
	mock_start other
	mock topic hb 2
	local i
	for i in $(seq 0 50); do
		printf 'a%d:{"type":"num","time":"2025-01-01T10:00:%02dZ"}\n' "$i" "$i"
	done >"$T/p0.txt"
	for i in $(seq 0 10); do
		printf 'b%d:{"type":"num","time":"2025-01-01T10:00:%02dZ"}\n' "$i" "$i"
	done >"$T/p1.txt"
	produce hb "$T/p0.txt" 0
	produce hb "$T/p1.txt" 1
	# partition 1 is slow: the watermark is its last time, not partition 0's
	ok eg kafka import --brokers "$BS" --topic hb --group h
	assert_contains "$OUT" '"heartbeats":1,'
	assert_contains "$OUT" '"watermark":"2025-01-01T10:00:10.000000Z"'
	assert_eq "2025-01-01T10:00:10.000000Z" "$(hb_times)" "the heartbeat"
	assert_contains "$(eg read --stream engram.heartbeat)" '"data":{"source":"kafka-import","group":"h"}'
	assert_contains "$(eg read --stream '$kafka-import.h' --reverse --limit 1)" \
		'"watermarks":{"hb/0":1735725650000000,"hb/1":1735725610000000},"heartbeat":1735725610000000'
	# partition 0 goes on, partition 1 says nothing: once it has been idle
	# for --idle-timeout it no longer holds the watermark back
	for i in $(seq 51 59); do
		printf 'a%d:{"type":"num","time":"2025-01-01T10:00:%02dZ"}\n' "$i" "$i"
	done >"$T/p0b.txt"
	produce hb "$T/p0b.txt" 0
	"$ENGRAM" -d "$STORE" kafka import --brokers "$BS" --topic hb --group h --follow \
		--idle-timeout 1500ms >"$T/f.out" 2>"$T/f.err" &
	local xp=$!
	wait_for 10 imported_at_least 71 || fail "not imported: $(cat "$T/f.err")"
	# before the timeout: still partition 1's time (no new heartbeat)
	assert_eq "2025-01-01T10:00:10.000000Z" "$(hb_times)" "heartbeats before the idle timeout"
	wait_for 10 sh -c "'$ENGRAM' -d '$STORE' read --stream engram.heartbeat | grep -q '10:00:59'" ||
		fail "no heartbeat at partition 0's time: $(cat "$T/f.err")"
	kill -TERM $xp
	wait $xp
	assert_eq 0 "$?" "exit status after SIGTERM"
	# one heartbeat per move, none repeated by the restart
	assert_eq "2025-01-01T10:00:10.000000Z 2025-01-01T10:00:59.000000Z" "$(hb_times | paste -sd' ')" \
		"the heartbeats"
}

test_kafka_import_killed_and_run_again_has_every_message_once() {
	mock_start kill
	numbered 1 6000 >"$T/a.txt"
	produce kill "$T/a.txt"
	# brokers that answer late and small batches: the kills land mid-import
	mock_rtt 20
	local i delay
	for i in 1 2 3 4 5 6; do
		delay=$("$PYTHON" -c "import random; random.seed($i); print('%.2f' % random.uniform(0.3, 1.2))")
		"$ENGRAM" -d "$STORE" kafka import --brokers "$BS" --topic kill --group k --batch 40 \
			-X message.max.bytes=1000 -X fetch.max.bytes=2000 -X max.partition.fetch.bytes=1000 >/dev/null 2>"$T/k.err" &
		local xp=$!
		sleep "$delay"
		kill -KILL $xp 2>/dev/null
		wait $xp 2>/dev/null
		eg read --type num | wc -l >>"$T/counts"
	done
	# some kill landed mid-import
	grep -qv '^\(0\|6000\)$' "$T/counts" || fail "no kill landed mid-import: $(paste -sd' ' "$T/counts")"
	ok eg kafka import --brokers "$BS" --topic kill --group k
	assert_contains "$OUT" '"duplicates":0,'
	dump kill "$T/d"
	check_store kill "$T/d" "$(ends kill 4)" k
}

test_kafka_import_from_end_and_long_topic_names() {
	local long=topic-with-a-name-long-enough-that-kafka-ids-would-pass-64-bytes
	mock_start "$long"
	numbered 1 30 >"$T/a.txt"
	produce "$long" "$T/a.txt"
	# --from end: what the topic holds now is skipped, but the log learns
	# where each partition starts, so what comes next is imported
	ok eg kafka import --brokers "$BS" --topic "$long" --group late --from end
	assert_match "$OUT" '^\{"imported":0,"duplicates":0,"quarantined":0,"messages":0,"batches":1,'
	assert_contains "$(eg read --stream '$kafka-import.late')" \
		"\"offsets\":{$(ends "$long" 4 | sed 's/\([^,=]*\)=\([0-9]*\)/"\1":\2/g')}"
	numbered 34 36 >"$T/b.txt"
	produce "$long" "$T/b.txt"
	ok eg kafka import --brokers "$BS" --topic "$long" --group late --from end
	assert_match "$OUT" '^\{"imported":3,"duplicates":0,"quarantined":0,"messages":3,'
	# ids too long as kafka:TOPIC/P/O are hashed, deterministically: a
	# second group finds the same three as duplicates
	eg read --type num | sed 's/.*"id":"\([^"]*\)".*/\1/' >"$T/ids"
	assert_eq 3 "$(grep -c '^kafka:[0-9a-f]\{32\}$' "$T/ids")" "hashed ids: $(paste -sd' ' "$T/ids")"
	ok eg kafka import --brokers "$BS" --topic "$long" --group again
	assert_match "$OUT" '^\{"imported":30,"duplicates":3,"quarantined":0,"messages":33,'
}

test_kafka_import_schema_refusals_go_to_quarantine_heartbeats_still_go_in() {
	mock_start other
	mock topic one 1
	ok eg append <<<'{"type":"seed"}'
	ok eg schema require-all on
	numbered 1 3 >"$T/a.txt"
	produce one "$T/a.txt"
	ok eg kafka import --brokers "$BS" --topic one --group r
	assert_match "$OUT" '^\{"imported":0,"duplicates":0,"quarantined":3,"messages":3,"batches":1,"heartbeats":1,'
	assert_contains "$(eg read --stream '$quarantine' --limit 1)" 'has no schema, and schema require-all is on'
	assert_eq 1 "$(eg read --stream engram.heartbeat | wc -l)" "heartbeats"
}

test_kafka_import_windows_wait_for_the_slowest_partition() {
	mock_start other
	mock topic clk 2
	# partition 0 runs to 12:10 while partition 1 is still at 10:20
	printf 'a1:{"type":"v","time":"2025-01-01T10:00:00Z"}\na2:{"type":"v","time":"2025-01-01T12:10:00Z"}\n' >"$T/p0.txt"
	printf 'b1:{"type":"v","time":"2025-01-01T10:20:00Z"}\n' >"$T/p1.txt"
	produce clk "$T/p0.txt" 0
	produce clk "$T/p1.txt" 1
	ok eg kafka import --brokers "$BS" --topic clk --group w
	cat >"$T/hb.json" <<'JSON'
{"types": ["v"], "window": {"tumble": "1h"}, "aggs": {"n": {"count": true}}, "watermark": "heartbeats"}
JSON
	sed 's/"heartbeats"}$/"0s"}/' "$T/hb.json" >"$T/ev.json"
	ok eg windows "$T/hb.json"
	assert_not_contains "$OUT" '"window_start"' "no window closes before partition 1 passes its end"
	# partition 1 catches up: 10:40 (late by partition 0's clock), 11:30
	printf 'b2:{"type":"v","time":"2025-01-01T10:40:00Z"}\nb3:{"type":"v","time":"2025-01-01T11:30:00Z"}\n' >"$T/p1b.txt"
	produce clk "$T/p1b.txt" 1
	ok eg kafka import --brokers "$BS" --topic clk --group w
	assert_contains "$OUT" '"watermark":"2025-01-01T11:30:00.000000Z"'
	ok eg windows "$T/hb.json"
	assert_eq '{"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","n":3,"revision":1,"final":true,"too_late":0}' "$OUT" \
		"by the partitions' watermark: one revision with all three events"
	# by the largest event time seen, partition 1's 10:40 came too late (and
	# its 10:20 too, when the first batch took partition 0's 12:10 first)
	ok eg windows "$T/ev.json"
	assert_match "$OUT" '"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","n":(2,"revision":1,"final":true,"too_late":1|1,"revision":1,"final":true,"too_late":2)\}' "by event time: too late"
}

test_kafka_import_refuses_offsets_beyond_a_partitions_end() {
	mock_start other
	mock topic gone 1
	numbered 1 5 >"$T/a.txt"
	produce gone "$T/a.txt"
	ok eg kafka import --brokers "$BS" --topic gone --group g
	# the topic made again (here: other brokers with a shorter one)
	mock_stop
	mock_start other
	mock topic gone 1
	numbered 6 8 >"$T/b.txt"
	produce gone "$T/b.txt"
	assert_exit 1 eg kafka import --brokers "$BS" --topic gone --group g
	assert_contains "$ERR" "gone/0: the log's next offset 5 is beyond the partition's end 3"
}

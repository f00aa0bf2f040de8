# t_serve_sub.sh — engram serve's live subscriptions (GET /subscribe, Server-
# Sent Events: an append seen with its id, Last-Event-ID resuming exactly
# after, types and stream filters, heartbeats, the end when the server stops
# or the client goes) and durable consumers over HTTP (next, ack, next;
# at-least-once; waiting), and the 400s naming the bad parameter.

. "$E2E_DIR/serve_lib.sh"

# post LINE...: append the lines through the server.
post() {
	printf '%s\n' "$@" | curl -s -f -H "$NDJSON" --data-binary @- "$URL/events" >/dev/null ||
		fail "POST /events failed"
}

base() {
	ok eg append "$E2E_DIR/../../examples/datasets/events.ndjson"
}

# ids FILE: the SSE ids in it, space-separated.
ids() {
	grep '^id: ' "$1" | cut -c5- | tr '\n' ' ' | sed 's/ $//'
}

# datas FILE: the SSE data lines, without "data: ".
datas() {
	grep '^data: ' "$1" | cut -c7-
}

has() {
	grep -q -- "$2" "$1"
}

test_serve_sub_an_append_after_subscribing_appears_with_its_id() {
	base
	start_server
	curl -sN -D "$T/h" "$URL/subscribe" >"$T/sse" &
	local c=$!
	wait_for 5 has "$T/sse" '^: subscribed' || fail "no ': subscribed' comment"
	post '{"type":"ping","stream":"s-1","data":{"n":1}}'
	wait_for 5 has "$T/sse" '^id: 13$' || fail "the append did not arrive: $(cat "$T/sse")"
	kill $c
	# only what came after subscribing: not the 12 events before
	assert_eq "13" "$(ids "$T/sse")" "ids"
	assert_eq "$(eg read --from 13)" "$(datas "$T/sse")" "data: the line engram read prints"
	# each message is "id:", "data:", then a blank line
	assert_eq "id: 13" "$(grep -A2 '^id: 13' "$T/sse" | head -1)"
	assert_eq "" "$(grep -A2 '^id: 13' "$T/sse" | sed -n 3p)" "blank line after the message"
	assert_contains "$(tr -d '\r' <"$T/h")" "Content-Type: text/event-stream"
	stop_server
	assert_eq 0 "$RC"
}

test_serve_sub_last_event_id_resumes_exactly_after() {
	base
	start_server
	# Last-Event-ID wins over from= (a reconnecting EventSource sends both)
	curl -sN --max-time 1.5 -H 'Last-Event-ID: 10' "$URL/subscribe?from=2" >"$T/a"
	assert_eq "11 12" "$(ids "$T/a")" "after Last-Event-ID 10"
	assert_eq "$(eg read --from 11)" "$(datas "$T/a")"
	curl -sN --max-time 1.5 "$URL/subscribe?from=11" >"$T/b"
	assert_eq "11 12" "$(ids "$T/b")" "from=11"
	# an id beyond the head: only what comes after it, once it comes
	curl -sN -H 'Last-Event-ID: 15' "$URL/subscribe" >"$T/c" &
	local c=$!
	wait_for 5 has "$T/c" '^: subscribed' || fail "no ': subscribed' comment"
	local i
	for i in 1 2 3 4 5; do
		post "{\"type\":\"tick\",\"data\":{\"i\":$i}}"
	done
	wait_for 5 has "$T/c" '^id: 17$' || fail "event 17 did not arrive: $(ids "$T/c")"
	sleep 0.3
	kill $c
	assert_eq "16 17" "$(ids "$T/c")" "after Last-Event-ID 15 (head was 12)"
	stop_server
}

test_serve_sub_types_and_stream_filters() {
	base
	start_server
	curl -sN --max-time 1.5 "$URL/subscribe?from=1&types=order_placed,customer_registered" >"$T/t"
	assert_eq "$(eg read --type order_placed,customer_registered)" "$(datas "$T/t")" "types"
	assert_eq "$(eg read --type order_placed,customer_registered | "$PYTHON" -c '
import sys, json
print(" ".join(str(json.loads(l)["pos"]) for l in sys.stdin))')" "$(ids "$T/t")" "ids are positions"
	curl -sN --max-time 1.5 "$URL/subscribe?from=1&stream=customer-44" >"$T/s"
	local want
	want=$(eg read --stream customer-44)
	[ -n "$want" ] || fail "the example has no customer-44"
	assert_eq "$want" "$(datas "$T/s")" "stream"
	# live too: only the matching type gets through
	curl -sN "$URL/subscribe?types=wanted" >"$T/l" &
	local c=$!
	wait_for 5 has "$T/l" '^: subscribed' || fail "no ': subscribed' comment"
	post '{"type":"unwanted"}' '{"type":"wanted","data":{"x":1}}' '{"type":"unwanted"}'
	wait_for 5 has "$T/l" '^id: 14$' || fail "the wanted event did not arrive: $(cat "$T/l")"
	post '{"type":"wanted","data":{"x":2}}'
	wait_for 5 has "$T/l" '^id: 16$' || fail "the second wanted event did not arrive"
	kill $c
	assert_eq "14 16" "$(ids "$T/l")"
	stop_server
}

test_serve_sub_heartbeat_comments() {
	base
	start_server
	curl -sN --max-time 2.6 "$URL/subscribe?heartbeat=1" >"$T/hb"
	local n
	n=$(grep -c '^: hb$' "$T/hb")
	[ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "expected 2 or 3 heartbeats in 2.6 s at 1 s, got $n"
	assert_eq "" "$(ids "$T/hb")" "no event"
	# the default is 15 s: none in 1.5 s
	curl -sN --max-time 1.5 "$URL/subscribe" >"$T/none"
	assert_eq 0 "$(grep -c '^: hb$' "$T/none")" "no heartbeat before 15 s"
	stop_server
}

test_serve_sub_ends_when_the_server_stops_or_the_client_goes() {
	base
	start_server --max-connections 1
	# a client that goes away frees its connection without any event or
	# heartbeat to write (heartbeat=600): the server notices the hang-up
	curl -sN --max-time 1 "$URL/subscribe?heartbeat=600" >/dev/null
	wait_for 3 curl -sf "$URL/health" || fail "the connection of a gone subscriber was not freed"
	# SIGTERM ends a subscription cleanly (curl exits 0: the stream ended)
	curl -sN "$URL/subscribe?heartbeat=600" >"$T/s" &
	local c=$!
	wait_for 5 has "$T/s" '^: subscribed' || fail "no ': subscribed' comment"
	local t0=$SECONDS
	stop_server
	assert_eq 0 "$RC" "server exit"
	wait $c
	assert_eq 0 "$?" "curl's exit: the stream ended, not broken"
	[ $((SECONDS - t0)) -le 3 ] || fail "stopping took $((SECONDS - t0)) s"
}

# hget FILE NAME: a response header's value.
hget() {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip"
}

test_serve_sub_consumer_next_ack_next() {
	base
	start_server
	curl -s -D "$T/h1" "$URL/consumers/app/next?max=5" >"$T/n1"
	assert_eq "$(eg read --to 5)" "$(cat "$T/n1")" "next: the first 5"
	assert_eq "5 0 5" "$(hget "$T/h1" Engram-Scanned) $(hget "$T/h1" Engram-Checkpoint) $(hget "$T/h1" Engram-Count)"
	# not acknowledged: handed again (at least once)
	curl -s "$URL/consumers/app/next?max=5" >"$T/n2"
	assert_eq "$(cat "$T/n1")" "$(cat "$T/n2")" "unacknowledged events come again"
	http POST /consumers/app/ack -H 'Content-Type: application/json' --data '{"pos": 5}'
	assert_eq '200 {"consumer":"app","checkpoint":5}' "$CODE $OUT"
	# the same checkpoint engram consume keeps
	assert_eq "$(eg read --from 6 --limit 1)" "$(eg consume app --limit 1 | head -1)" "consume goes on from it"
	http POST /consumers/app/ack --data '{"pos": 5}'
	curl -s -D "$T/h3" "$URL/consumers/app/next?max=100" >"$T/n3"
	assert_eq "$(eg read --from 7)" "$(cat "$T/n3")" "next after the ack (consume moved it to 6)"
	assert_eq "12 6 6" "$(hget "$T/h3" Engram-Scanned) $(hget "$T/h3" Engram-Checkpoint) $(hget "$T/h3" Engram-Count)"
	# an older ack (a retry) never moves it back
	http POST /consumers/app/ack --data '{"pos": 3}'
	assert_eq '200 {"consumer":"app","checkpoint":6}' "$CODE $OUT"
	# types=: Engram-Scanned covers the events skipped
	curl -s -D "$T/h4" "$URL/consumers/typed/next?types=order_placed&max=100" >"$T/n4"
	assert_eq "$(eg read --type order_placed)" "$(cat "$T/n4")"
	assert_eq 12 "$(hget "$T/h4" Engram-Scanned)"
	http POST /consumers/app/ack --data '{"pos": 12}'
	# nothing left: an empty 200, at once without wait
	http GET /consumers/app/next
	assert_eq "200 " "$CODE $OUT"
	# wait=: the first event appended while waiting
	(sleep 0.5 && post '{"type":"late","data":{"k":1}}') &
	local t0=$EPOCHREALTIME
	curl -s "$URL/consumers/app/next?wait=10" >"$T/n5"
	assert_eq "$(eg read --from 13)" "$(cat "$T/n5")" "the event appended during the wait"
	"$PYTHON" -c "import sys; d = $EPOCHREALTIME - $t0; sys.exit(0 if 0.3 < d < 5 else 1)" ||
		fail "the wait did not end at the append"
	http POST /consumers/app/ack --data '{"pos": 13}'
	# wait= with nothing: empty after about that long
	t0=$EPOCHREALTIME
	http GET '/consumers/app/next?wait=1'
	assert_eq "200 " "$CODE $OUT"
	"$PYTHON" -c "import sys; d = $EPOCHREALTIME - $t0; sys.exit(0 if 0.9 < d < 3 else 1)" ||
		fail "wait=1 did not wait 1 s"
	run eg consumers
	assert_contains "$OUT" '"consumer":"app","pos":13'
	stop_server
}

test_serve_sub_bad_parameters_name_them() {
	base
	start_server
	http GET '/subscribe?from=x'
	assert_eq "400 from: expected a whole number, got 'x'" "$CODE $(jget "$OUT" error)"
	http GET '/subscribe?heartbeat=0'
	assert_eq "400 heartbeat: expected seconds from 1 to 3600, got '0'" "$CODE $(jget "$OUT" error)"
	http GET /subscribe -H 'Last-Event-ID: abc'
	assert_eq "400 Last-Event-ID: expected a position, got 'abc'" "$CODE $(jget "$OUT" error)"
	http GET '/consumers/c/next?max=0'
	assert_eq "400 max: expected 1 to 10000 events, got '0'" "$CODE $(jget "$OUT" error)"
	http GET '/consumers/c/next?max=ten'
	assert_eq "400 max: expected a whole number, got 'ten'" "$CODE $(jget "$OUT" error)"
	http GET '/consumers/c/next?wait=301'
	assert_eq "400 wait: expected 0 to 300 seconds, got '301'" "$CODE $(jget "$OUT" error)"
	http GET '/consumers/b%40d/next'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" 'consumer name'
	http POST /consumers/c/ack --data 'pos=3'
	assert_eq "400 body: expected a JSON object {\"pos\": P}" "$CODE $(jget "$OUT" error)"
	http POST /consumers/c/ack --data '{"at": 3}'
	assert_eq "400 pos: expected a position (a whole number) in {\"pos\": P}" "$CODE $(jget "$OUT" error)"
	http POST /consumers/c/ack --data '{"pos": "3"}'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" '"pos: expected a position'
	http POST /consumers/c/ack --data '{"pos": 13}'
	assert_eq "400 pos: 13 is beyond the head (12)" "$CODE $(jget "$OUT" error)"
	http POST /consumers/c/next
	assert_eq "405 /consumers/{name}/next: use GET" "$CODE $(jget "$OUT" error)"
	http GET /consumers/c/ack
	assert_eq "405 /consumers/{name}/ack: use POST" "$CODE $(jget "$OUT" error)"
	http GET /consumers/c/other
	assert_eq 404 "$CODE"
	http POST /subscribe
	assert_eq 405 "$CODE"
	# nothing was written by the bad acks
	run eg consumers
	assert_not_contains "$OUT" '"consumer":"c"'
	stop_server
}

test_serve_sub_nack_retries_then_parks() {
	base
	start_server
	http POST /consumers/w/ack --data '{"pos": 2}'
	# a nack: the events before it are handled, it comes again
	http POST '/consumers/w/nack?max_deliveries=3' --data '{"pos": 4}'
	assert_eq '200 {"consumer":"w","checkpoint":3,"pos":4,"deliveries":1,"parked":null}' "$CODE $OUT"
	http GET '/consumers/w/next?max=1'
	assert_eq "$(eg read --from 4 --limit 1)" "$OUT" "the nacked event comes again"
	http POST '/consumers/w/nack?max_deliveries=3' --data '{"pos": 4}'
	assert_eq '200 {"consumer":"w","checkpoint":3,"pos":4,"deliveries":2,"parked":null}' "$CODE $OUT"
	# the third failure parks it in $parked-w and passes it
	http POST '/consumers/w/nack?max_deliveries=3' --data '{"pos": 4}'
	assert_eq '200 {"consumer":"w","checkpoint":4,"pos":4,"deliveries":3,"parked":13}' "$CODE $OUT"
	http GET '/consumers/w/next?max=1'
	assert_eq "$(eg read --from 5 --limit 1)" "$OUT" "next goes on after the parked event"
	run eg read --stream '$parked-w'
	assert_eq 0 "$RC"
	py "$OUT" "$(eg read --from 4 --limit 1)" <<'PYEOF'
import json, sys
parked, orig = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert parked["pos"] == 13 and parked["type"] == "parked", parked
assert parked["data"] == {"consumer": "w", "deliveries": 3, "event": orig}, parked["data"]
PYEOF
	# another position starts its own count; the default maximum is 5
	local i
	for i in 1 2 3 4; do
		http POST /consumers/w/nack --data '{"pos": 6}'
		assert_eq "$i null" "$(jfields "$OUT" deliveries parked)"
	done
	http POST /consumers/w/nack --data '{"pos": 6}'
	assert_eq "5 14 6" "$(jfields "$OUT" deliveries parked checkpoint)"
	# nobody else may write the parked stream
	http POST /events -H "$NDJSON" --data-binary '{"type":"x","stream":"$parked-w"}'
	assert_eq 400 "$CODE"
	# already acknowledged, a bad maximum: 400 naming them
	http POST /consumers/w/nack --data '{"pos": 6}'
	assert_eq "400 pos: 6 is not after the checkpoint (6): already acknowledged" "$CODE $(jget "$OUT" error)"
	http POST '/consumers/w/nack?max_deliveries=0' --data '{"pos": 7}'
	assert_eq "400 max_deliveries: expected 1 to 1000, got '0'" "$CODE $(jget "$OUT" error)"
	http POST /consumers/w/nack --data '{"pos": 99}'
	assert_eq "400 pos: 99 is beyond the head (14)" "$CODE $(jget "$OUT" error)"
	stop_server
	assert_eq 0 "$RC"
	ok eg verify
}

visible13() {
	[ -n "$(eg read --from 13)" ]
}

# A commit is visible to readers before the group's fdatasync; the server
# hands an event to subscribers and consumers only once it is durable.
# fdatasync is slowed to 1 s by a preloaded shim to open that window.
test_serve_sub_only_durable_events_are_handed_out() {
	base
	cat >"$T/slow.c" <<'CEOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>
int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	usleep(1000000);
	return real(fd);
}
CEOF
	cc -shared -fPIC -o "$T/slow.so" "$T/slow.c" -ldl || fail "cannot build the fdatasync shim"
	LD_PRELOAD=$T/slow.so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start_server
	curl -sN "$URL/subscribe" >"$T/sse" &
	local c=$!
	wait_for 5 has "$T/sse" '^: subscribed' || fail "no ': subscribed' comment"
	printf '{"type":"slow"}\n' | curl -s -H "$NDJSON" --data-binary @- "$URL/events" >"$T/ack" &
	local p=$!
	wait_for 2 visible13 || fail "the commit never became visible to engram read"
	# visible, not yet durable: neither a subscriber nor a consumer has it
	curl -s -D "$T/h" -o /dev/null "$URL/consumers/d/next?types=none"
	assert_eq 12 "$(tr -d '\r' <"$T/h" | sed -n 's/^Engram-Scanned: //p')" "Engram-Scanned stops at the durable head"
	http POST /consumers/d/ack --data '{"pos": 13}'
	assert_eq "400 pos: 13 is beyond the head (12)" "$CODE $(jget "$OUT" error)"
	assert_eq "" "$(ids "$T/sse")" "the subscriber has nothing before the sync"
	# a consumer's next waits for the sync (the shim's 1 s), then has it
	local t0=$EPOCHREALTIME
	http GET '/consumers/d/next?types=slow'
	assert_eq "$(eg read --from 13)" "$OUT" "next in the window"
	"$PYTHON" -c "import sys; sys.exit(0 if $EPOCHREALTIME - $t0 > 0.4 else 1)" ||
		fail "next answered before the sync"
	wait $p
	assert_eq 13 "$(jget "$(cat "$T/ack")" first_pos)"
	wait_for 3 has "$T/sse" '^id: 13$' || fail "the event did not arrive once durable"
	kill $c
	stop_server
}

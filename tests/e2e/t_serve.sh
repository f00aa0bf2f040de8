# t_serve.sh — engram serve over HTTP with curl: append (the summary, the
# errors with line and field, Expected-Version and 409, ids as idempotency
# keys), read (filters, streaming, bad parameters), errors (404, 405, 413,
# 415), group commit under concurrent clients, SIGTERM finishing in-flight
# appends, and refusing a non-loopback address.

. "$E2E_DIR/serve_lib.sh"

test_serve_append_and_read() {
	start_server
	http GET /health
	assert_eq '200 {"status":"ok"}' "$CODE $OUT" "health"
	http POST /events -H "$NDJSON" --data-binary @"$E2E_DIR/../../examples/datasets/events.ndjson"
	assert_eq 200 "$CODE" "append: $OUT"
	assert_eq "12 0 1 12" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "the summary"
	ok eg head
	assert_eq "$(jget "$OUT" hash)" "$(jget "$(curl -s "$URL/head")" hash)" "GET /head = engram head"
	# and its Merkle root and size, against which a proof checks
	local h
	h=$(curl -s "$URL/head")
	assert_eq "$(jfields "$OUT" size root)" "$(jfields "$h" size root)" "GET /head's size and root = engram head's"
	eg proof inclusion 5 >"$T/p.json" || fail "proof inclusion 5"
	ok "$ENGRAM" proof check "$T/p.json" --root "$(jget "$h" root)"
	# read: the same lines as engram read with the same filters
	http GET '/events?type=order_placed&limit=3'
	assert_eq 200 "$CODE"
	local want
	want=$(eg read --type order_placed --limit 3)
	assert_eq "$want" "$OUT" "GET /events = engram read"
	http GET '/events?stream=customer-44'
	assert_eq "$(eg read --stream customer-44)" "$OUT" "by stream"
	http GET '/events?from=3&to=5&reverse=true'
	assert_eq "$(eg read --from 3 --to 5 --reverse)" "$OUT" "positions, reversed"
	http GET '/events?since=2025-05-22&by=time'
	assert_eq "$(eg read --since 2025-05-22)" "$OUT" "since"
	# a read while appending goes on beside it: CLI readers too
	ok eg read --limit 1
	# the access log's lines come while the server runs (gathered, written
	# once it is idle), not only when it stops
	wait_for 2 grep -q '"method":"GET","path":"/events","status":200' "$T/serve.err" ||
		fail "no access log line while the server ran: $(cat "$T/serve.err")"
	stop_server
	assert_eq 0 "$RC" "exit status after SIGTERM"
	assert_contains "$(cat "$T/serve.err")" '"method":"POST","path":"/events","status":200'
	ok eg verify
}

test_serve_a_large_read_streams() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 30000 --seed 2
	ok eg append "$T/in.ndjson"
	start_server
	curl -s "$URL/events" >"$T/all.ndjson" || fail "curl failed"
	ok_to "$T/want.ndjson" eg read
	cmp -s "$T/want.ndjson" "$T/all.ndjson" || fail "GET /events differs from engram read ($(wc -l <"$T/all.ndjson") lines)"
	stop_server
}

test_serve_bad_appends_write_nothing() {
	start_server
	http POST /events -H "$NDJSON" --data-binary $'{"type":"a"}\n{"type":"b","time":"nope"}\n'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" '"error":"line 2: field \"time\": expected an RFC 3339 time'
	assert_contains "$OUT" '"line":2'
	http POST /events -H "$NDJSON" --data-binary $'{"type":"a"}\n{not json\n'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" '"line":2'
	http POST /events --data-binary '{"type":"a"}'
	assert_eq 415 "$CODE" "curl's default form content type"
	assert_contains "$OUT" "-H 'Content-Type: application/x-ndjson'"
	http GET '/events?limit=x'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" "limit: expected a whole number, got 'x'"
	http GET '/events?since=yesterday'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" "since: expected an RFC 3339 time"
	http GET '/events?by=clock'
	assert_eq 400 "$CODE"
	http GET /nowhere
	assert_eq 404 "$CODE"
	assert_contains "$OUT" '"error":"no route GET /nowhere'
	http DELETE /events
	assert_eq 405 "$CODE"
	http GET /streams/s/events
	assert_eq 405 "$CODE"
	stop_server
	ok eg head
	assert_eq 0 "$(jget "$OUT" pos)" "nothing was written"
}

test_serve_body_limit_is_413() {
	start_server --max-body 1k
	"$PYTHON" -c '
import json
for i in range(40):
    print(json.dumps({"type": "t", "data": {"pad": "x" * 40}}))' >"$T/big.ndjson"
	http POST /events -H "$NDJSON" --data-binary @"$T/big.ndjson"
	assert_eq 413 "$CODE"
	assert_contains "$OUT" "larger than --max-body (1024 bytes)"
	http POST /events -H "$NDJSON" --data-binary '{"type":"small"}'
	assert_eq 200 "$CODE"
	stop_server
	ok eg head
	assert_eq 1 "$(jget "$OUT" pos)" "only the small batch"
}

test_serve_expected_version_and_idempotent_ids() {
	start_server
	http POST /streams/acct-1/events -H "$NDJSON" -H 'Expected-Version: new' --data-binary '{"type":"opened"}'
	assert_eq 200 "$CODE" "new stream: $OUT"
	http POST /streams/acct-1/events -H "$NDJSON" -H 'Expected-Version: new' --data-binary '{"type":"opened"}'
	assert_eq 409 "$CODE"
	assert_contains "$OUT" "acct-1"
	http POST /streams/acct-1/events -H "$NDJSON" -H 'Expected-Version: 1' --data-binary $'{"type":"deposit"}\n{"type":"deposit"}'
	assert_eq 200 "$CODE"
	http POST /streams/acct-1/events -H "$NDJSON" -H 'Expected-Version: 1' --data-binary '{"type":"deposit"}'
	assert_eq 409 "$CODE"
	assert_contains "$OUT" "is at version 3, expected 1"
	http POST /streams/acct-1/events -H "$NDJSON" -H 'Expected-Version: soon' --data-binary '{"type":"deposit"}'
	assert_eq 400 "$CODE"
	assert_contains "$OUT" "Expected-Version"
	http POST /streams/acct-1/events -H "$NDJSON" --data-binary '{"type":"deposit"}'
	assert_eq 200 "$CODE" "any version"
	# a retried POST with the same ids is a duplicate, not a second copy
	http POST /events -H "$NDJSON" --data-binary '{"id":"pay-1","stream":"acct-2","type":"paid"}'
	assert_eq "1 0" "$(jfields "$OUT" appended duplicates)"
	http POST /events -H "$NDJSON" --data-binary '{"id":"pay-1","stream":"acct-2","type":"paid"}'
	assert_eq "200 0 1" "$CODE $(jfields "$OUT" appended duplicates)" "the retry"
	stop_server
	ok eg --format csv read --stream acct-1
	assert_eq 4 "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "acct-1's events: opened, three deposits"
}

test_serve_group_commit_under_concurrent_clients() {
	start_server
	# 32 clients, 50 requests each, every request its own atomic batch; a
	# group's plain appends share one batch, so among them: a request
	# with a bad second line (it fails alone, nothing of it written, the
	# others of its group are), and a retry (all duplicates)
	"$PYTHON" - "$PORT" "$T/answers.json" <<'EOF' || fail "the clients failed"
import http.client, json, sys, threading
port = int(sys.argv[1])
errors, answers = [], {}
def client(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = None
    for j in range(50):
        want = 200
        if j % 10 == 7:
            body = json.dumps({"id": "bad%d-%d" % (i, j), "type": "t"}) + "\n" + '{"type": 5}'
            want = 400
        elif j % 10 != 8:   # 8: the request before again (7's good one before it)
            body = "\n".join(json.dumps({"id": "c%d-%d-%d" % (i, j, k), "stream": "c%d" % i,
                                         "type": "t", "data": {"j": j, "k": k}}) for k in range(3))
        if j % 10 == 8:
            body = last_good
        c.request("POST", "/events", body=body, headers={"Content-Type": "application/x-ndjson"})
        r = c.getresponse()
        b = r.read()
        if r.status != want:
            errors.append((j, r.status, b))
            continue
        a = json.loads(b)
        if want == 400:
            if a.get("line") != 2:
                errors.append((j, "line", a))
        elif j % 10 == 8:
            if (a["appended"], a["duplicates"], a["first_pos"]) != (0, 3, None):
                errors.append((j, "retry", a))
        else:
            last_good = body
            if (a["appended"], a["duplicates"]) != (3, 0):
                errors.append((j, "counts", a))
            answers["c%d-%d" % (i, j)] = [a["first_pos"], a["last_pos"]]
ts = [threading.Thread(target=client, args=(i,)) for i in range(32)]
[t.start() for t in ts]
[t.join() for t in ts]
json.dump(answers, open(sys.argv[2], "w"))
if errors:
    sys.exit("errors: %r" % errors[:3])
EOF
	local groups
	groups=$(curl -s "$URL/metrics" | sed -n 's/^engram_group_commit_requests_bucket{le="1"} //p')
	stop_server
	local summary
	summary=$(grep '^engram: stopped' "$T/serve.err")
	assert_contains "$summary" "1600 appends acknowledged" "every request"
	assert_contains "$summary" "(3840 events)"
	local rounds=${summary#*acknowledged in }
	rounds=${rounds%% *}
	[ "$rounds" -lt 1600 ] || fail "no request shared a commit: $summary"
	[ "$groups" -lt "$rounds" ] || fail "every group had one request ($groups of $rounds)"
	ok_to "$T/all.ndjson" eg read
	py "$T/all.ndjson" "$T/answers.json" <<'EOF'
import sys, collections, json
from e2e import *
rows = load_ndjson(sys.argv[1])
answers = json.load(open(sys.argv[2]))
check(len(rows) == 3840, "%d events" % len(rows))
check(not any(plain(r["id"]).startswith("bad") for r in rows), "a bad request's first line was written")
# each request's three events are next to each other, in order, where
# its answer said
by_req = collections.defaultdict(list)
for r in rows:
    i = plain(r["id"]).rsplit("-", 1)[0]
    by_req[i].append(int(r["pos"]))
check(len(by_req) == len(answers) == 1280, "%d requests, %d answers" % (len(by_req), len(answers)))
for i, p in by_req.items():
    check(p == list(range(p[0], p[0] + 3)), "request %s is split: %r" % (i, p))
    check(answers[i] == [p[0], p[2]], "request %s answered %r, its events at %r" % (i, answers[i], p))
EOF
	ok eg verify
}

test_serve_sigterm_finishes_appends_in_flight() {
	start_server
	"$PYTHON" - "$PORT" >"$T/acked" <<'EOF' &
import http.client, json, sys, threading
port = int(sys.argv[1])
lock = threading.Lock()
def client(i):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for j in range(1000):
            c.request("POST", "/events", body=json.dumps({"id": "k%d-%d" % (i, j), "type": "t"}),
                      headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            r.read()
            if r.status == 200:
                with lock:
                    print("k%d-%d" % (i, j), flush=True)
    except Exception:
        pass
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
EOF
	local clients=$!
	sleep 0.5
	stop_server
	wait $clients
	# (exit 134, an abort, was seen once in a clean-clone CI run and not in
	# 30 runs alone: what the server printed last names where)
	assert_eq 0 "$RC" "exit status; the server's stderr ends: $(tail -n 4 "$T/serve.err" | tr '\n' ' ')"
	assert_contains "$(cat "$T/serve.err")" "engram: stopping: finishing the appends in flight"
	[ -s "$T/acked" ] || fail "no append was acknowledged before SIGTERM"
	# every acknowledged id is in the store
	ok_to "$T/ids" eg read
	py "$T/acked" "$T/ids" <<'EOF'
import sys
from e2e import *
acked = set(open(sys.argv[1]).read().split())
have = set(plain(r["id"]) for r in load_ndjson(sys.argv[2]))
check(acked <= have, "acknowledged but missing: %r" % sorted(acked - have)[:5])
EOF
}

test_serve_refuses_a_non_loopback_address_and_a_second_server() {
	assert_exit 2 eg serve --listen 0.0.0.0:7070
	assert_contains "$ERR" "not a loopback address"
	assert_exit 2 eg serve --listen nowhere
	assert_contains "$ERR" "--listen: expected IPv4-ADDRESS:PORT"
	assert_exit 2 eg serve --threads 0
	assert_contains "$ERR" "--threads: expected 1 to 256, got '0'"
	assert_exit 2 eg serve --request-timeout soon
	assert_contains "$ERR" "--request-timeout: expected seconds from 1 to 86400, got 'soon'"
	# one polling thread serves appends and a subscription side by side:
	# none of them holds it while it waits
	start_server --threads 1
	curl -sN --max-time 3 "$URL/subscribe?from=1" >"$T/sse" &
	local sub=$!
	post_one one-thread
	assert_eq 200 "$CODE" "an append beside a subscription on one thread"
	http GET '/consumers/c1/next?wait=2'
	assert_eq 200 "$CODE" "a consumer's next"
	wait $sub || true   # curl's --max-time ends it
	assert_contains "$(cat "$T/sse")" '"id":"one-thread"' "the subscription got the append"
	stop_server
	assert_eq 0 "$RC"
	start_server
	# one server per store: it holds the write lock
	assert_exit 4 eg serve --listen 127.0.0.1:1
	assert_contains "$ERR" "locked"
	stop_server
}

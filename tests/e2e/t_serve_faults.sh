# t_serve_faults.sh — engram serve under faults: SIGKILL under concurrent
# appends (every acknowledged id is in the store, each request whole or
# absent, verify passes), 1,000 connections at once (each served or cleanly
# refused, the server still serving), a slow client past --timeout (closed,
# others served), a client that leaves mid-body (nothing written).

. "$E2E_DIR/serve_lib.sh"

test_serve_faults_sigkill_under_load_loses_no_acknowledged_append() {
	start_server
	# 8 clients, each request two events (ID-a, ID-b); each client writes
	# the request's ID to its ledger once answered 200, and stops at the
	# first error (the server is gone)
	"$PYTHON" - "$PORT" "$T/ledger" <<'EOF' &
import http.client, json, sys, threading
port, ledger = int(sys.argv[1]), sys.argv[2]
def client(i):
    with open("%s.%d" % (ledger, i), "w") as out:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for j in range(100000):
                rid = "c%d-%d" % (i, j)
                body = "".join(json.dumps({"id": rid + s, "type": "t", "data": {"j": j}}) + "\n"
                               for s in ("-a", "-b"))
                c.request("POST", "/events", body=body,
                          headers={"Content-Type": "application/x-ndjson"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    return
                out.write(rid + "\n")
                out.flush()
        except Exception:
            pass
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
EOF
	local clients=$!
	wait_for 10 lines_at_least "$T/ledger.7" 50 || fail "clients made no progress"
	sleep 0.3
	kill -KILL $SERVER
	wait $SERVER 2>/dev/null
	trap - EXIT
	wait $clients
	cat "$T"/ledger.* >"$T/acked"
	local acked
	acked=$(count_lines "$T/acked")
	[ "$acked" -ge 400 ] || fail "only $acked appends acknowledged before the kill"
	# the store as a reader finds it after the crash, then as a new server
	ok eg verify
	ok_to "$T/read" eg read
	py "$T/acked" "$T/read" <<'EOF'
import sys, collections
from e2e import *
acked = set(open(sys.argv[1]).read().split())
ids = [plain(r["id"]) for r in load_ndjson(sys.argv[2])]
check(len(ids) == len(set(ids)), "an id written twice")
halves = collections.Counter(i.rsplit("-", 1)[0] for i in ids)
missing = [a for a in acked if halves[a] != 2]
check(not missing, "acknowledged but not whole in the store: %r" % sorted(missing)[:5])
# a request is one atomic batch: never one event of it without the other
split = [r for r, n in halves.items() if n != 2]
check(not split, "requests split by the crash: %r" % split[:5])
EOF
	start_server
	post_one after-kill
	assert_eq 200 "$CODE" "an append after the restart: $(cat "$T/post.out")"
	curl -s "$URL/events?limit=1&reverse=true" >"$T/last" || fail "GET /events after the restart"
	assert_contains "$(cat "$T/last")" '"after-kill"'
	stop_server
	assert_eq 0 "$RC"
	ok eg verify
}

test_serve_faults_1000_connections_served_or_refused() {
	start_server --max-connections 1000 --timeout 20
	# open 1,000 connections first, then send a request on each, then read
	# every answer: 200 with its event, or closed with no answer (refused)
	py "$PORT" >"$T/outcomes" <<'EOF'
import json, socket, sys
from e2e import *
port = int(sys.argv[1])
socks = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    socks.append(s)
sent = {}
for i, s in enumerate(socks):
    body = json.dumps({"id": "conn-%d" % i, "type": "t"}) + "\n"
    req = ("POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
           "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    try:
        s.sendall(req.encode())
        sent[i] = True
    except (BrokenPipeError, ConnectionResetError):
        sent[i] = False
for i, s in enumerate(socks):
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    # a timeout (socket.timeout) is neither served nor refused: it fails
    s.close()
    if not data:
        print("refused conn-%d" % i)
        continue
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode()
    check(status == "200", "conn-%d: %r" % (i, data[:200]))
    check(b'"appended":1,' in body, "conn-%d: %r" % (i, body))
    print("served conn-%d" % i)
EOF
	local served refused
	served=$(grep -c '^served' "$T/outcomes")
	refused=$(grep -c '^refused' "$T/outcomes")
	assert_eq 1000 $((served + refused)) "every connection served or refused"
	[ "$served" -ge 100 ] || fail "only $served of 1000 served"
	# the server is alive and holds exactly the events of the served ones
	post_one after-1000
	assert_eq 200 "$CODE" "the server after 1,000 connections"
	ok_to "$T/read" eg read
	py "$T/outcomes" "$T/read" <<'EOF'
import sys
from e2e import *
served = set(l.split()[1] for l in open(sys.argv[1]) if l.startswith("served"))
ids = set(plain(r["id"]) for r in load_ndjson(sys.argv[2]))
check(ids == served | {"after-1000"}, "store vs served: %d extra, %d missing"
      % (len(ids - served) - 1, len(served - ids)))
EOF
	stop_server
	assert_eq 0 "$RC"
}

test_serve_faults_a_slow_client_is_closed_and_others_are_served() {
	start_server --timeout 1
	# slowloris: the headers a byte at a time, 4 s between bytes, past
	# --timeout 1; meanwhile another client appends
	"$PYTHON" - "$PORT" >"$T/slow" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
req = b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
try:
    for i in range(len(req)):
        s.sendall(req[i:i + 1])
        s.settimeout(4)
        try:
            if s.recv(1) == b"":
                print("closed after %d bytes in %.1f s" % (i + 1, time.monotonic() - t0))
                sys.exit(0)
        except socket.timeout:
            pass
except (BrokenPipeError, ConnectionResetError):
    print("closed after %d bytes in %.1f s" % (i + 1, time.monotonic() - t0))
    sys.exit(0)
print("never closed")
EOF
	local slow=$!
	sleep 0.3
	post_one beside-slow
	assert_eq 200 "$CODE" "an append beside the slow client"
	wait $slow
	assert_match "$(cat "$T/slow")" '^closed after 1 bytes in [1-3]\.[0-9] s$'
	post_one after-slow
	assert_eq 200 "$CODE" "an append after the slow client"
	stop_server
	assert_eq 0 "$RC"
	ok_to "$T/read" eg read
	assert_eq 2 "$(count_lines "$T/read")" "only the two appends"
}

test_serve_faults_a_trickling_body_gets_408_and_writes_nothing() {
	start_server --timeout 2 --request-timeout 1
	# a whole line of the body now and then, never idle for --timeout, but
	# the request is not all in after --request-timeout: 408
	"$PYTHON" - "$PORT" >"$T/trickle" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
lines = [b'{"id":"t%d","type":"trickle"}\n' % i for i in range(12)]
body = b"".join(lines)
s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body))
t0 = time.monotonic()
s.settimeout(0.3)
got = b""
try:
    for l in lines:
        s.sendall(l)
        try:
            got += s.recv(4096)
        except socket.timeout:
            pass
        if got:
            break
except (BrokenPipeError, ConnectionResetError):
    pass
s.settimeout(3)
try:
    while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
        b = s.recv(4096)
        if not b:
            break
        got += b
except (socket.timeout, ConnectionResetError):
    pass
print("%.1f %s" % (time.monotonic() - t0, got.split(b"\r\n", 1)[0].decode()))
print(got.split(b"\r\n\r\n", 1)[-1].decode())
EOF
	assert_match "$(head -1 "$T/trickle")" '^[1-3]\.[0-9] HTTP/1\.1 408'
	assert_contains "$(cat "$T/trickle")" "took more than --request-timeout (1 s)"
	post_one after-trickle
	assert_eq 200 "$CODE" "an append after it"
	stop_server
	ok_to "$T/read" eg read
	assert_eq 1 "$(count_lines "$T/read")" "nothing of the trickled body"
}

test_serve_faults_a_client_leaving_mid_body_writes_nothing() {
	start_server --timeout 5
	# a Content-Length body and a chunked body, each cut after whole NDJSON
	# lines, then the client goes away: no request, nothing written
	"$PYTHON" - "$PORT" <<'EOF' || fail "the clients failed"
import json, socket, sys, time
port = int(sys.argv[1])
lines = "".join(json.dumps({"id": "mid-%d" % i, "type": "t"}) + "\n" for i in range(50))
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(lines) + 100, lines)).encode())
time.sleep(0.3)
s.close()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
           "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(lines), lines)).encode())
time.sleep(0.3)
s.close()
EOF
	sleep 0.3
	post_one after-mid
	assert_eq 200 "$CODE" "an append after the cut bodies"
	stop_server
	assert_eq 0 "$RC"
	ok_to "$T/read" eg read
	assert_eq 1 "$(count_lines "$T/read")" "only the whole request"
	assert_contains "$(cat "$T/read")" '"after-mid"'
	# the access log has the one POST: the cut ones never reached a route
	assert_eq 1 "$(grep -c '"method":"POST"' "$T/serve.err")" "access log: $(cat "$T/serve.err")"
}

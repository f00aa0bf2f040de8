# serve_lib.sh — what the t_serve*.sh tests share: engram serve on a free
# loopback port, stopped with SIGTERM, and curl calls.  Sourced by them.

NDJSON='Content-Type: application/x-ndjson'
CACERT=()   # curl's --cacert for an https server

# serve_on SCHEME LISTEN-HOST [ARGS...]: engram serve on a free port,
# pid in SERVER; URL is how to reach it; its stderr in $T/serve.err.
serve_on() {
	local scheme=$1 host=$2 i
	shift 2
	PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	URL=$scheme://127.0.0.1:$PORT
	"$ENGRAM" -d "$STORE" serve --listen "$host:$PORT" "$@" 2>"$T/serve.err" &
	SERVER=$!
	trap 'kill -KILL $SERVER 2>/dev/null' EXIT
	for ((i = 0; i < 100; i++)); do
		curl -s "${CACERT[@]}" "$URL/health" >/dev/null 2>&1 && return 0
		kill -0 $SERVER 2>/dev/null || fail "the server exited: $(cat "$T/serve.err")"
		sleep 0.05
	done
	fail "the server did not answer: $(cat "$T/serve.err")"
}

# start_server [ARGS...]: on 127.0.0.1, over http.
start_server() {
	serve_on http 127.0.0.1 "$@"
}

# stop_server: SIGTERM, and its exit status in RC.
stop_server() {
	kill -TERM $SERVER
	wait $SERVER
	RC=$?
	trap - EXIT
}

# http METHOD PATH [CURL ARGS...]: the body in OUT, the status in CODE.
http() {
	local m=$1 p=$2
	shift 2
	OUT=$(curl -s "${CACERT[@]}" -X "$m" -w '\n%{http_code}' "$@" "$URL$p")
	CODE=${OUT##*$'\n'}
	OUT=${OUT%$'\n'*}
	OUT=${OUT%$'\n'}
}

# post_one ID: POST /events with one event of that id; the status in CODE,
# the body in $T/post.out.
post_one() {
	CODE=$(curl -s -o "$T/post.out" -w '%{http_code}' -H "$NDJSON" \
		--data-binary "{\"id\":\"$1\",\"type\":\"t\"}" "$URL/events")
}

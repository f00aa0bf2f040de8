# t_serve_auth.sh — engram serve --tokens with curl: 401 without a known
# token, 403 by scope and by streams pattern (appends checked line by
# line), a revoked token refused by the running server, no token in the
# access log or in the store's files, the signed query tokens of POST
# /tokens/sse (working, then expired, tampered, revoked), a non-loopback
# address only with --tokens, and HTTPS with a self-signed certificate.

. "$E2E_DIR/serve_lib.sh"

# start_server [ARGS...]: with --tokens.
start_server() {
	serve_on http 127.0.0.1 --tokens "$@"
}

# as TOKEN METHOD PATH [CURL ARGS...]: http with Authorization: Bearer.
as() {
	local tok=$1
	shift
	http "$1" "$2" -H "Authorization: Bearer $tok" "${@:3}"
}

# add NAME ARGS...: a new token, in TOK.
add() {
	ok eg token add "$@"
	TOK=$OUT
}

new_store() {
	ok eg append <<<'{"type":"t","stream":"seed"}'
}

test_serve_auth_401_without_a_known_token() {
	new_store
	add reader --scope read
	local rd=$TOK
	start_server
	http GET /health
	assert_eq '200 {"status":"ok"}' "$CODE $OUT" "/health needs no token"
	http GET /head
	assert_eq 401 "$CODE"
	assert_eq '{"error":"this route needs a token: Authorization: Bearer TOKEN (engram token add makes one)"}' "$OUT"
	local hdr
	hdr=$(curl -s -o /dev/null -D - "$URL/head" | tr -d '\r')
	assert_contains "$hdr" 'WWW-Authenticate: Bearer realm="engram"'
	assert_contains "$hdr" 'Content-Type: application/json'
	as eg_not_a_token GET /head
	assert_eq '401 {"error":"unknown or revoked token"}' "$CODE $OUT"
	# one character off
	as "${rd%?}x" GET /head
	assert_eq 401 "$CODE" "a token one character off"
	http GET /head -H "Authorization: Basic dXNlcjpwYXNz"
	assert_eq '401 {"error":"Authorization: expected Bearer TOKEN"}' "$CODE $OUT"
	http GET /head -H "Authorization: Bearer $rd extra"
	assert_eq 401 "$CODE"
	as "$rd" GET /head
	assert_eq 200 "$CODE" "the read token: $OUT"
	assert_eq "$(eg head)" "$OUT" "GET /head"
	# the scheme is case-insensitive (RFC 7235)
	http GET /head -H "Authorization: bearer $rd"
	assert_eq 200 "$CODE"
	# unknown routes stay 404, whoever asks
	http GET /nowhere
	assert_eq 404 "$CODE"
	# the body of a request without a known token is not kept (bytes_in 0)
	head -c 300000 /dev/zero | tr '\0' x >"$T/body"
	http POST /events -H "$NDJSON" -H "Authorization: Bearer eg_nope" --data-binary @"$T/body"
	assert_eq 401 "$CODE"
	as "$rd" POST /events -H "$NDJSON" --data-binary @"$T/body"
	assert_eq 403 "$CODE" "a known token's body is read"
	stop_server
	assert_eq 0 "$RC"
	assert_contains "$(cat "$T/serve.err")" '"method":"GET","path":"/head","status":401'
	assert_contains "$(cat "$T/serve.err")" '"method":"POST","path":"/events","status":401,'
	assert_match "$(grep '"status":401,' "$T/serve.err" | grep POST)" '"bytes_in":0\}$' "401: no body kept"
	assert_match "$(grep '"status":403,' "$T/serve.err" | grep POST)" '"bytes_in":300000\}$' "403: the body was read"
	assert_contains "$(cat "$T/serve.err")" "with tokens"
}

test_serve_auth_403_by_scope() {
	new_store
	add reader --scope read
	local rd=$TOK
	add writer --scope append
	local wr=$TOK
	add boss --scope admin
	local ad=$TOK
	start_server
	as "$rd" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq '403 {"error":"token '\''reader'\'' has scope read: POST /events needs append"}' "$CODE $OUT"
	as "$rd" POST /streams/s1/events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq 403 "$CODE"
	assert_contains "$OUT" "POST /streams/s1/events needs append"
	as "$rd" GET '/events?type=t'
	assert_eq 200 "$CODE"
	assert_eq "$(eg read --type t)" "$OUT" "read token reads"
	# append ⊇ read, admin ⊇ append
	as "$wr" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq "200 1" "$CODE $(jget "$OUT" appended)" "append token appends"
	as "$wr" GET /head
	assert_eq 200 "$CODE" "append token reads"
	as "$ad" POST /streams/s2/events -H "$NDJSON" --data-binary '{"type":"b"}'
	assert_eq "200 1" "$CODE $(jget "$OUT" appended)" "admin token appends"
	as "$ad" GET '/events?stream=s2'
	assert_eq "$(eg read --stream s2)" "$OUT" "admin token reads"
	stop_server
	ok eg head
	assert_eq 3 "$(jget "$OUT" pos)" "the seed and two appends; nothing of the refused ones"
}

test_serve_auth_403_by_streams_pattern() {
	new_store
	add acct --scope append --streams 'account-*'
	local t=$TOK
	start_server
	as "$t" POST /streams/account-1/events -H "$NDJSON" --data-binary $'{"type":"opened"}\n{"type":"deposit","stream":null}'
	assert_eq "200 2" "$CODE $(jget "$OUT" appended)" "its own stream: $OUT"
	as "$t" POST /streams/order-1/events -H "$NDJSON" --data-binary '{"type":"placed"}'
	assert_eq '403 {"error":"stream '\''order-1'\'' is outside token '\''acct'\'' (streams account-*)"}' "$CODE $OUT"
	# a line naming another stream than the path's
	as "$t" POST /streams/account-1/events -H "$NDJSON" --data-binary $'{"type":"a"}\n{"type":"b","stream":"order-1"}'
	assert_eq 403 "$CODE"
	assert_eq '{"error":"line 2: stream \"order-1\" is outside token '\''acct'\'' (streams account-*); nothing of this batch was written","line":2}' "$OUT"
	# POST /events: every line, escapes decoded as the store decodes them
	as "$t" POST /events -H "$NDJSON" --data-binary $'{"type":"a","stream":"account-2"}\n\n{"type":"b","stream":"\\u0061ccount-3"}'
	assert_eq "200 2" "$CODE $(jget "$OUT" appended)" "escaped but allowed: $OUT"
	as "$t" POST /events -H "$NDJSON" --data-binary $'{"type":"a","stream":"account-2"}\n \r\n{"type":"b","stream":"order-\\u0031"}'
	assert_eq "403 3" "$CODE $(jget "$OUT" line)" "escaped order-1, after a blank line: $OUT"
	as "$t" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq 403 "$CODE" "no stream is the empty stream"
	assert_contains "$OUT" 'line 1: stream \"\" is outside'
	as "$t" POST /events -H "$NDJSON" --data-binary '{"type":"a","stream":"account-4","stream":"order-1"}'
	assert_eq 400 "$CODE" "a repeated stream"
	as "$t" POST /events -H "$NDJSON" --data-binary '{"type":"a","stream":"account-4"'
	assert_eq "400 1" "$CODE $(jget "$OUT" line)" "a line that cannot be read"
	# reads name a stream it allows
	as "$t" GET '/events?stream=account-1'
	assert_eq 200 "$CODE"
	assert_eq "$(eg read --stream account-1)" "$OUT" "its stream"
	as "$t" GET '/events?stream=seed'
	assert_eq 403 "$CODE"
	as "$t" GET '/events?type=t'
	assert_eq '403 {"error":"token '\''acct'\'' is limited to streams account-*: give stream=S with S one of them"}' "$CODE $OUT"
	as "$t" GET /head
	assert_eq 403 "$CODE"
	assert_contains "$OUT" "GET /head covers every stream"
	stop_server
	ok eg --format csv read
	assert_eq "seed account-1 account-1 account-2 account-3" \
		"$(printf '%s\n' "$OUT" | tail -n +2 | cut -d, -f3 | tr '\n' ' ' | sed 's/ $//')" \
		"only the allowed appends were written"
}

test_serve_auth_revoked_token_is_refused_by_the_running_server() {
	new_store
	add app --scope append
	local old=$TOK
	start_server
	as "$old" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq 200 "$CODE"
	ok eg token revoke app
	as "$old" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq '401 {"error":"unknown or revoked token"}' "$CODE $OUT" "revoked"
	as "$old" GET /head
	assert_eq 401 "$CODE"
	# the same name again is another token: the old one stays refused
	add app --scope read
	local new=$TOK
	as "$old" GET /head
	assert_eq 401 "$CODE" "the old token of a name added again"
	as "$new" GET /head
	assert_eq 200 "$CODE" "the new token, without a restart"
	as "$new" POST /events -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq 403 "$CODE" "its new scope"
	# all gone: the file deleted
	rm "$STORE/tokens.json"
	as "$new" GET /head
	assert_eq 401 "$CODE" "no tokens file"
	stop_server
	ok eg head
	assert_eq 2 "$(jget "$OUT" pos)"
}

test_serve_auth_a_damaged_tokens_file_lets_nobody_in() {
	new_store
	add app --scope read
	local t=$TOK
	start_server
	as "$t" GET /head
	assert_eq 200 "$CODE"
	cp "$STORE/tokens.json" "$T/good.json"
	printf '{"tokens":[' >"$STORE/tokens.json.new" && mv "$STORE/tokens.json.new" "$STORE/tokens.json"
	as "$t" GET /head
	assert_eq 401 "$CODE" "damaged file"
	assert_contains "$(cat "$T/serve.err")" "is damaged (not the tokens engram token writes): every token is refused"
	cp "$T/good.json" "$STORE/tokens.json.new" && mv "$STORE/tokens.json.new" "$STORE/tokens.json"
	as "$t" GET /head
	assert_eq 200 "$CODE" "repaired"
	stop_server
}

test_serve_auth_tokens_never_in_the_log_nor_the_store() {
	new_store
	add app --scope append
	local t=$TOK
	start_server
	as "$t" POST /events -H "$NDJSON" --data-binary '{"type":"a","stream":"s"}'
	assert_eq 200 "$CODE"
	as "$t" GET /head
	as "${t}x" GET /head
	assert_eq 401 "$CODE"
	as "$t" POST /tokens/sse
	assert_eq 200 "$CODE"
	local q
	q=$(jget "$OUT" token)
	http GET "/events?stream=s&token=$q"
	assert_eq 200 "$CODE"
	http GET "/head?token=${q}x"
	assert_eq 401 "$CODE"
	stop_server
	local log secret
	log=$(cat "$T/serve.err")
	assert_contains "$log" '"path":"/events","status":200'
	for secret in "${t#eg_}" "${q##*.}" "token="; do
		assert_not_contains "$log" "$secret" "the access log"
		if grep -rqF -- "$secret" "$STORE"; then
			fail "'$secret' is in a file of the store: $(grep -rlF -- "$secret" "$STORE")"
		fi
	done
}

test_serve_auth_sse_query_token_works_then_expires() {
	new_store
	add viewer --scope read
	local rd=$TOK
	add acct --scope admin --streams 'account-*'
	local ac=$TOK
	ok eg append <<<'{"type":"x","stream":"account-1"}'
	start_server
	http POST /tokens/sse
	assert_eq 401 "$CODE" "a query token needs a token"
	as "$rd" POST '/tokens/sse?ttl=0'
	assert_eq '400 {"error":"ttl: expected seconds from 1 to 3600"}' "$CODE $OUT"
	as "$rd" POST /tokens/sse
	assert_eq 200 "$CODE"
	assert_eq "viewer 60" "$(jfields "$OUT" name ttl)" "60 s by default"
	local q exp
	q=$(jget "$OUT" token)
	exp=$(jget "$OUT" expires)
	assert_match "$q" '^es\.viewer\.[0-9]+\.[A-Za-z0-9_-]{43}$' "the query token"
	py "$exp" <<'EOF'
import sys, datetime
from e2e import *
t = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
left = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
check(55 <= left <= 61, "expires in %.1f s" % left)
EOF
	http GET "/events?token=$q"
	assert_eq 200 "$CODE"
	assert_eq "$(eg read)" "$OUT" "GET /events with the query token"
	http GET "/head?token=$q"
	assert_eq 200 "$CODE"
	# only GET routes take it
	http POST "/events?token=$q" -H "$NDJSON" --data-binary '{"type":"a"}'
	assert_eq 401 "$CODE"
	assert_contains "$OUT" "a query token (?token=) is only for GET routes"
	# tampered: the signature, or the name, or the expiry
	local sig=${q##*.}
	http GET "/head?token=${q%.*}.${sig:1}${sig:0:1}"
	assert_eq '401 {"error":"invalid query token: get one from POST /tokens/sse"}' "$CODE $OUT" "signature"
	local rest=${q#es.viewer.}
	http GET "/head?token=es.acct.$rest"
	assert_eq 401 "$CODE" "another name"
	http GET "/head?token=es.viewer.9${rest}"
	assert_eq 401 "$CODE" "a later expiry"
	# a restricted token's query token is as restricted, and reads only
	as "$ac" POST /tokens/sse
	local qa
	qa=$(jget "$OUT" token)
	http GET "/events?stream=account-1&token=$qa"
	assert_eq 200 "$CODE"
	assert_eq "$(eg read --stream account-1)" "$OUT"
	http GET "/events?token=$qa"
	assert_eq 403 "$CODE" "its streams pattern"
	# it expires
	as "$rd" POST '/tokens/sse?ttl=1'
	assert_eq "1" "$(jget "$OUT" ttl)"
	local q1
	q1=$(jget "$OUT" token)
	http GET "/head?token=$q1"
	assert_eq 200 "$CODE" "fresh"
	sleep 2.1
	http GET "/head?token=$q1"
	assert_eq '401 {"error":"the query token has expired: get a new one from POST /tokens/sse"}' "$CODE $OUT"
	# revoking the token revokes its query tokens
	ok eg token revoke viewer
	http GET "/head?token=$q"
	assert_eq '401 {"error":"unknown or revoked token"}' "$CODE $OUT" "revoked"
	stop_server
}

test_serve_auth_non_loopback_only_with_tokens() {
	assert_exit 2 eg serve --listen 0.0.0.0:7070
	assert_contains "$ERR" "not a loopback address; serving beyond this machine needs --tokens"
	new_store
	add r --scope read
	local t=$TOK
	serve_on http 0.0.0.0 --tokens
	as "$t" GET /head
	assert_eq 200 "$CODE"
	http GET /head
	assert_eq 401 "$CODE"
	stop_server
	assert_contains "$(cat "$T/serve.err")" "on http://0.0.0.0:$PORT with tokens"
	assert_contains "$(cat "$T/serve.err")" "without --tls-cert: tokens cross the network in clear"
	# no tokens yet: said at start
	rm "$STORE/tokens.json"
	start_server
	assert_contains "$(cat "$T/serve.err")" "no tokens yet: every route but /health answers 401"
	stop_server
}

test_serve_auth_tls() {
	new_store
	add r --scope read
	local t=$TOK
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
		fail "openssl could not make a certificate"
	assert_exit 2 eg serve --tokens --tls-cert "$T/cert.pem"
	assert_contains "$ERR" "--tls-cert and --tls-key go together"
	assert_exit 2 eg serve --tokens --tls-cert "$T/cert.pem" --tls-key "$T/nokey.pem"
	assert_contains "$ERR" "cannot read $T/nokey.pem"
	CACERT=(--cacert "$T/cert.pem")
	serve_on https 127.0.0.1 --tokens --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	assert_contains "$(cat "$T/serve.err")" "on https://127.0.0.1:$PORT"
	as "$t" GET /head
	assert_eq 200 "$CODE" "over TLS: $OUT"
	assert_eq "$(eg head)" "$OUT"
	http GET /head
	assert_eq 401 "$CODE"
	# the certificate is checked: without it curl refuses, and plain HTTP gets nothing
	curl -s "https://127.0.0.1:$PORT/health" >/dev/null && fail "curl trusted an unknown certificate"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" != 200 ] ||
		fail "plain HTTP answered on the TLS port"
	stop_server
	assert_eq 0 "$RC"
	CACERT=()
}

# t_token.sh — engram token add | list | revoke: the token is printed once
# and only its SHA-256 is kept; names, scopes and patterns are checked;
# concurrent adds lose none.

# a store with one event: engram token needs the store to exist
new_store() {
	ok eg append <<<'{"type":"t"}'
}

test_token_add_prints_it_once_and_keeps_only_its_hash() {
	new_store
	ok eg token add billing --scope append --streams 'account-*'
	local tok=$OUT
	assert_match "$tok" '^eg_[A-Za-z0-9_-]{43}$' "the token"
	assert_contains "$ERR" "token 'billing' added (scope append, streams account-*); it is printed only this once"
	# nowhere in the store in clear, and the file holds its SHA-256
	if grep -rqF -- "${tok#eg_}" "$STORE"; then
		fail "the token is in a file of the store: $(grep -rlF -- "${tok#eg_}" "$STORE")"
	fi
	py "$STORE/tokens.json" "$tok" <<'EOF'
import sys, json, hashlib
from e2e import *
doc = json.load(open(sys.argv[1]))
check(len(doc["tokens"]) == 1, "%r" % doc)
t = doc["tokens"][0]
check(sorted(t) == ["created", "name", "scope", "sha256", "streams"], "members %r" % sorted(t))
check(t["sha256"] == hashlib.sha256(sys.argv[2].encode()).hexdigest(), "the hash %r" % t["sha256"])
check((t["name"], t["scope"], t["streams"]) == ("billing", "append", "account-*"), "%r" % t)
EOF
	# readable by its owner only, as ssh keeps its keys
	assert_eq "600" "$(stat -c %a "$STORE/tokens.json")" "tokens.json's mode"
	# list shows what it is, never the token
	ok eg token list
	assert_match "$OUT" '^\{"name":"billing","scope":"append","streams":"account-\*","created":"20[0-9-]{8}T[0-9:.]{15}Z"\}$' "list"
	ok eg token list --format csv
	assert_eq "name,scope,streams,created" "${OUT%%$'\n'*}" "csv header"
	# a second token is another random one
	ok eg token add reader --scope read
	assert_match "$OUT" '^eg_[A-Za-z0-9_-]{43}$'
	[ "$OUT" != "$tok" ] || fail "two tokens are the same"
	ok eg token list
	assert_eq $'billing append account-*\nreader read *' \
		"$(printf '%s\n' "$OUT" | while read -r l; do jfields "$l" name scope streams; done)" "two rows"
}

test_token_revoke_deletes_it() {
	new_store
	ok eg token add a --scope read
	ok eg token add b --scope admin
	ok eg token revoke a
	assert_contains "$ERR" "token 'a' revoked"
	ok eg token list
	assert_eq "b admin" "$(jfields "$OUT" name scope)"
	assert_exit 1 eg token revoke a
	assert_contains "$ERR" "no token named 'a' (engram token list shows them)"
	# the name is free again, with a new token
	ok eg token add a --scope read
	ok eg token revoke b
	ok eg token revoke a
	ok eg token list
	assert_eq "" "$OUT" "no tokens left"
	ok eg token list --format csv
	assert_eq "name,scope,streams,created" "$OUT" "csv header only"
}

test_token_errors() {
	assert_exit 1 eg token add x --scope read
	assert_contains "$ERR" "no store at"
	[ ! -e "$STORE" ] || fail "token add created the store"
	new_store
	assert_exit 2 eg token add x
	assert_contains "$ERR" "--scope is required: read, append or admin"
	assert_exit 2 eg token add x --scope root
	assert_contains "$ERR" "--scope: expected read, append or admin, got 'root'"
	assert_exit 2 eg token add 'two words' --scope read
	assert_contains "$ERR" "token name 'two words': expected 1 to 64 letters"
	assert_exit 2 eg token add "$(printf 'n%.0s' {1..65})" --scope read
	assert_exit 2 eg token add x --scope read --streams ''
	assert_contains "$ERR" "--streams: expected a pattern"
	assert_exit 2 eg token add --scope read
	assert_exit 2 eg token
	assert_contains "$ERR" "expected a subcommand: add, list or revoke"
	assert_exit 2 eg token ad x
	assert_contains "$ERR" 'unknown subcommand "ad" (did you mean add?)'
	assert_exit 2 eg token list extra
	assert_exit 2 eg token revoke
	ok eg token add x --scope read
	assert_exit 1 eg token add x --scope admin
	assert_contains "$ERR" "a token named 'x' exists: engram token revoke x first"
	ok eg token list
	assert_eq "x read" "$(jfields "$OUT" name scope)" "the first x is kept"
	# a damaged file is said so, not taken as no tokens
	printf '{"tokens":[{"name":"x"}]}' >"$STORE/tokens.json"
	assert_exit 1 eg token list
	assert_contains "$ERR" "tokens.json is damaged"
	assert_exit 1 eg token add y --scope read
	assert_contains "$ERR" "tokens.json is damaged"
}

test_token_concurrent_adds_lose_none() {
	new_store
	local i pids=()
	for i in $(seq 1 12); do
		"$ENGRAM" -d "$STORE" token add "t$i" --scope read >"$T/tok$i" 2>/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "a token add failed"
	done
	ok eg token list --format csv
	assert_eq 12 "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "12 tokens: $OUT"
	# each printed token is the one whose hash is kept under its name
	py "$STORE/tokens.json" "$T" <<'EOF'
import sys, json, hashlib
from e2e import *
doc = json.load(open(sys.argv[1]))
by = {t["name"]: t["sha256"] for t in doc["tokens"]}
for i in range(1, 13):
    tok = open("%s/tok%d" % (sys.argv[2], i)).read().strip()
    check(by["t%d" % i] == hashlib.sha256(tok.encode()).hexdigest(), "t%d" % i)
EOF
}

test_token_help() {
	ok "$ENGRAM" help token
	local h=$OUT$ERR
	for w in "token add NAME --scope read|append|admin [--streams PATTERN]" list revoke \
		--streams "only the SHA-256" "Example:"; do
		assert_contains "$h" "$w" "engram help token"
	done
	ok "$ENGRAM" token --help
	assert_eq "$h" "$OUT$ERR" "token --help vs help token"
	ok "$ENGRAM" help serve
	assert_contains "$OUT$ERR" "--tokens"
	assert_contains "$OUT$ERR" "--tls-cert"
	assert_contains "$OUT$ERR" "POST /tokens/sse"
}

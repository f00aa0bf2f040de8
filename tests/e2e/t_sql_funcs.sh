# t_sql_funcs.sh — the table-valued functions of engram sql: on generated
# data each one gives the rows of its command for the same arguments
# (streams, types, consumers, sessions, funnel with and without by,
# projection now / as of / known at, history, windows now and as reported
# at a time, the changelog), with a spec as a path, as JSON text or as a
# table of its own; bad arguments and bad specs exit 1 with the message
# the command gives.

EX=$E2E_DIR/../../examples

# same_rows SQL CMD ARGS...: `engram sql SQL` and `engram CMD ARGS`
# (both ndjson) give the same rows: the same columns in the same order and
# equal values, where SQL has 1/0 for true/false, and its reals are
# printed to 15 digits (so they agree to 13).  SQL_RENAME="a=b" reads
# SQL's column a as the command's b.
same_rows() {
	local sql=$1
	shift
	ok_to "$T/sql.ndjson" eg sql --format ndjson "$sql"
	ok_to "$T/cmd.ndjson" eg "$@" --format ndjson
	py "$T/sql.ndjson" "$T/cmd.ndjson" "${SQL_RENAME:-}" "$sql" <<'EOF'
import sys, json, math
got_path, want_path, rename, sql = sys.argv[1:5]
ren = dict(r.split("=", 1) for r in rename.split(",") if r)
got = [json.loads(l) for l in open(got_path) if l.strip()]
want = [json.loads(l) for l in open(want_path) if l.strip()]

def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-13, abs_tol=0)
    if isinstance(b, bool):
        return a == (1 if b else 0) and not isinstance(a, float)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) == type(b) and a == b

assert want, "the command gave no rows: the comparison would prove nothing"
assert len(got) == len(want), "%s: %d rows, the command %d" % (sql, len(got), len(want))
for i, (g, w) in enumerate(zip(got, want)):
    g = {ren.get(k, k): v for k, v in g.items()}
    assert list(g) == list(w), "%s: columns %s, the command's %s" % (sql, list(g), list(w))
    for k in w:
        assert same(g[k], w[k]), "%s: row %d, %s: %r, the command %r" % (sql, i + 1, k, g[k], w[k])
EOF
}

# same_csv SQL CMD ARGS...: byte for byte the same csv.
same_csv() {
	local sql=$1
	shift
	ok_to "$T/sql.csv" eg sql --format csv "$sql"
	ok_to "$T/cmd.csv" eg "$@" --format csv
	[ "$(count_lines "$T/cmd.csv")" -gt 1 ] || fail "$*: no rows to compare"
	assert_files_eq "$T/sql.csv" "$T/cmd.csv" "csv of $sql and of engram $*"
}

# A time strictly between the appends before and after it.
between() {
	sleep 0.02
	date -u +%Y-%m-%dT%H:%M:%S.%6NZ
	sleep 0.02
}

# fails_with SQL MESSAGE: engram sql exits 1 saying MESSAGE.
fails_with() {
	assert_exit 1 eg sql "$1"
	assert_contains "$ERR" "$2" "error of $1"
}

test_streams_types_consumers_equal_their_commands() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen orders --events 3000 --seed 4
	ok eg append "$T/in.ndjson"
	ok_to /dev/null eg consume billing --limit 700
	ok_to /dev/null eg consume audit --limit 20
	same_rows "SELECT * FROM streams" streams
	same_csv "SELECT * FROM streams" streams
	same_rows "SELECT * FROM types" types
	same_csv "SELECT * FROM types" types
	same_rows "SELECT * FROM consumers" consumers
	same_csv "SELECT * FROM consumers" consumers
}

test_sessions_equal_the_command() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 6000 --users 200 --days 2 \
		--late 0.05 --seed 7
	ok eg append "$T/in.ndjson"
	same_rows "SELECT * FROM sessions('30m')" sessions --gap 30m
	same_csv "SELECT * FROM sessions('30m')" sessions --gap 30m
	same_rows "SELECT * FROM sessions('5m')" sessions --gap 5m
	same_rows "SELECT * FROM sessions('1h30m', 'user-000007')" sessions --gap 1h30m --stream user-000007
	# the stream as an equality on the stream column
	same_rows "SELECT * FROM sessions('30m') WHERE stream = 'user-000007'" sessions --gap 30m \
		--stream user-000007
}

test_funnel_equals_the_command() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 8000 --users 300 --days 2 --seed 9
	ok eg append "$T/in.ndjson"
	local steps=page_view,product_click,add_to_cart,purchase
	same_rows "SELECT step, name, users, conversion, median_time FROM funnel('$steps', '2h')" \
		funnel --steps $steps --within 2h
	same_csv "SELECT step, name, users, conversion, median_time FROM funnel('$steps', '2h')" \
		funnel --steps $steps --within 2h
	ok eg sql "SELECT DISTINCT by_value FROM funnel('$steps', '2h')"
	assert_eq '{"by_value":null}' "$OUT" "by_value without by"
	SQL_RENAME=by_value=session same_rows "SELECT * FROM funnel('$steps', '30m', 'session')" \
		funnel --steps $steps --within 30m --by session
	SQL_RENAME=by_value=data.page_url same_rows \
		"SELECT * FROM funnel('page_view,add_to_cart', '1h', 'data.page_url')" \
		funnel --steps page_view,add_to_cart --within 1h --by data.page_url
}

test_projection_equals_the_command() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen bank --events 4000 --accounts 30 --seed 2
	head -n 2500 "$T/in.ndjson" | ok eg append
	local k
	k=$(between)
	tail -n +2501 "$T/in.ndjson" | ok eg append
	local spec=$EX/balances.json
	same_rows "SELECT * FROM projection('$spec')" project "$spec"
	mv "$T/sql.ndjson" "$T/now.ndjson"
	# (each bound changes the answer, so a bound not passed on would show)
	same_rows "SELECT * FROM projection('$spec', '2025-01-01T06:00:00Z')" project "$spec" \
		--as-of 2025-01-01T06:00:00Z
	! cmp -s "$T/sql.ndjson" "$T/now.ndjson" || fail "as_of changed nothing"
	same_rows "SELECT * FROM projection('$spec', NULL, '$k')" project "$spec" --known-at "$k"
	! cmp -s "$T/sql.ndjson" "$T/now.ndjson" || fail "known_at changed nothing"
	same_rows "SELECT * FROM projection('$spec', '2025-01-01T09:30:00Z', '$k')" project "$spec" \
		--as-of 2025-01-01T09:30:00Z --known-at "$k"
	# the spec as JSON text: the same rows
	local json
	json=$(tr '\n' ' ' <"$spec")
	same_rows "SELECT * FROM projection('$json')" project "$spec"
	# a table of its own, with and without arguments
	same_rows "CREATE VIRTUAL TABLE temp.bank USING projection('$spec');
		SELECT * FROM bank" project "$spec"
	same_rows "CREATE VIRTUAL TABLE temp.bank USING projection('$spec');
		SELECT * FROM bank('$spec', 1735714800000)" project "$spec" --as-of 2025-01-01T07:00:00Z
	# the columns are the spec's, for a WHERE
	local n
	ok_to "$T/want" eg project "$spec"
	n=$(py "$T/want" <<'EOF'
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1])]
print(sum(1 for r in rows if r["balance"] > 1000 and r["open"]))
EOF
)
	ok eg sql "SELECT count(*) AS n FROM projection('$spec') WHERE balance > 1000 AND open"
	assert_eq "{\"n\":$n}" "$OUT" "count of open accounts with a balance over 1000"
}

test_history_equals_the_command() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen orders --events 3000 --seed 5
	head -n 2000 "$T/in.ndjson" | ok eg append
	local k
	k=$(between)
	tail -n +2001 "$T/in.ndjson" | ok eg append
	local spec=$EX/orders.json
	same_rows "SELECT * FROM history('$spec', 'order-0000003')" history "$spec" --key order-0000003
	same_rows "SELECT * FROM history('$spec', 'order-0000010', '2025-01-01T12:00:00Z', '$k')" \
		history "$spec" --key order-0000010 --as-of 2025-01-01T12:00:00Z --known-at "$k"
	# the key as an equality on the key column
	same_rows "CREATE VIRTUAL TABLE temp.o USING history('$spec');
		SELECT * FROM o WHERE key = 'order-0000003'" history "$spec" --key order-0000003
}

test_windows_equal_the_command() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 6000 --users 200 --days 2 \
		--late 0.1 --seed 12
	head -n 3000 "$T/in.ndjson" | ok eg append
	local k
	k=$(between)
	tail -n +3001 "$T/in.ndjson" | ok eg append
	local spec=$EX/pageviews_hourly.json
	same_rows "SELECT * FROM windows('$spec')" windows "$spec"
	mv "$T/sql.ndjson" "$T/now.ndjson"
	same_rows "SELECT * FROM windows('$spec', '$k')" windows "$spec" --as-reported-at "$k"
	! cmp -s "$T/sql.ndjson" "$T/now.ndjson" || fail "as_reported_at changed nothing"
	ok eg sql "SELECT count(*) AS n FROM windows('$spec', '2020-01-01')"
	assert_eq '{"n":0}' "$OUT" "reported before anything was recorded"
	same_rows "SELECT * FROM window_changelog('$spec')" windows "$spec" --changelog
	ok eg sql "SELECT count(*) AS n FROM window_changelog('$spec') WHERE revision > 1"
	assert_not_contains "$OUT" '"n":0' "the late events made corrections"
}

test_bad_arguments_and_specs_fail_with_the_commands_message() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen bank --events 200 --seed 1
	ok eg append "$T/in.ndjson"
	local spec=$EX/balances.json
	fails_with "SELECT * FROM sessions" "sessions(gap [, stream]): the gap is required"
	fails_with "SELECT * FROM funnel('a,b')" "funnel(steps, within [, by]): the within is required"
	fails_with "SELECT * FROM history('$spec')" \
		"history(spec, key [, as_of [, known_at]]): the key is required"
	fails_with "SELECT * FROM sessions('5 minutes')" \
		"sessions: gap: expected a duration: a whole number and a unit"
	assert_contains "$ERR" "got '5 minutes'"
	fails_with "SELECT * FROM funnel('a,,b', '1h')" "funnel: steps: step 2 is empty"
	fails_with "SELECT * FROM projection('$spec', 'yesterday')" \
		"projection: as_of: expected an RFC 3339 time"
	fails_with "SELECT * FROM windows('$EX/pageviews_hourly.json', 'soon')" \
		"windows: as_reported_at: expected an RFC 3339 time"
	# a spec that cannot be read or parsed: the command's message
	assert_exit 2 eg project "$T/missing.json"
	local want=${ERR#engram: error: }
	fails_with "SELECT * FROM projection('$T/missing.json')" "$want"
	printf '{"key": "stream", "fields": {"n": {"count": 1}}' >"$T/bad.json"
	assert_exit 2 eg project "$T/bad.json"
	want=${ERR#engram: error: }
	fails_with "SELECT * FROM projection('$T/bad.json')" "$want"
	assert_contains "$want" "$T/bad.json: " "the command names the file"
	fails_with "SELECT * FROM projection('{\"key\": 3}')" "spec: \$.key: expected a field path"
	fails_with "SELECT * FROM windows('$spec')" "$spec: \$.key: unknown member"
	# two specs of one function in one statement: a table each
	local counts='{"key":"stream","fields":{"n":{"count":true}}}'
	ok eg sql "SELECT count(*) AS c, sum(y.n) AS events FROM projection('$spec') x
		JOIN projection('$counts') y ON y.key = x.key"
	local c
	c=$(eg sql "SELECT count(*) AS c, sum(n) AS events FROM projection('$counts')
		WHERE key IN (SELECT key FROM projection('$spec'))")
	assert_eq "$c" "$OUT" "two specs in one statement: each its own rows"
	assert_not_contains "$OUT" '"c":0' "the join found the accounts"
	# a table's spec is the one it was declared with
	fails_with "CREATE VIRTUAL TABLE temp.b USING projection('$spec');
		SELECT * FROM b('$EX/orders.json')" "is not the one table b was declared with"
}

test_spec_names_in_literals_and_comments_are_not_calls() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen bank --events 200 --seed 1
	ok eg append "$T/in.ndjson"
	# none of these reads a spec: projection('x.json') there is not a call
	ok eg sql "SELECT 'projection(''nope.json'')' AS s -- projection('nope.json')
		/* history('nope.json', 'k') */"
	assert_eq '{"s":"projection('"'"'nope.json'"'"')"}' "$OUT" "the literal"
	ok eg sql "SELECT 1 AS \"windows('nope.json')\""
	# two calls with the same spec are one table
	ok eg sql "SELECT count(*) AS n FROM projection('$EX/balances.json') a
		JOIN projection('$EX/balances.json') b USING (key)"
	assert_match "$OUT" '^\{"n":[1-9][0-9]*\}$' "self-join"
}

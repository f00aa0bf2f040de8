# t_serve_query.sh — engram serve's inspection, queries and metrics over
# HTTP with curl: GET /streams, /types, /stats and POST /verify answer the
# commands' rows; POST /project, /history, /windows, /sessions, /funnel and
# /sql answer exactly the rows the commands print on the same store (specs
# inline or as files); bad options and specs are 400 with the commands'
# messages; GET /metrics is valid Prometheus text whose counts follow the
# requests made.

. "$E2E_DIR/serve_lib.sh"

EXAMPLES=$E2E_DIR/../../examples

serve_stop() {
	stop_server
	assert_eq 0 "$RC" "the server's exit status"
}

# call METHOD PATH [BODY]: the body in OUT, the status in CODE, the
# Content-Type in CTYPE.
call() {
	local m=$1 p=$2
	local args=(-s -X "$m" -o "$T/.body" -w '%{http_code} %{content_type}')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	local w
	w=$(curl "${args[@]}" "$URL$p") || fail "curl $m $p failed"
	CODE=${w%% *}
	CTYPE=${w#* }
	OUT=$(<"$T/.body")
}

# same WHAT METHOD PATH BODY CMD...: the route answers 200 with exactly
# the rows the command prints (and some: an empty answer proves nothing).
same() {
	local what=$1 m=$2 p=$3 body=$4
	shift 4
	ok "$@"
	local want=$OUT
	[ -n "$want" ] || fail "$what: the command printed no rows"
	call "$m" "$p" "$body"
	assert_eq 200 "$CODE" "$what: status ($OUT)"
	assert_eq application/x-ndjson "$CTYPE" "$what: content type"
	assert_eq "$want" "$OUT" "$what = the command's rows"
}

# A store of bank and clickstream events, in two batches recorded apart:
# $CUT is a time between them, $USER1 a stream of the first.
make_store() {
	ok_to "$T/bank.ndjson" "$ENGRAM" gen bank --events 600 --seed 5
	ok_to "$T/click.ndjson" "$ENGRAM" gen clickstream --events 4000 --seed 7 --late 0.05
	head -n 2500 "$T/click.ndjson" >"$T/click1.ndjson"
	tail -n +2501 "$T/click.ndjson" >"$T/click2.ndjson"
	USER1=$(head -n 1 "$T/click1.ndjson" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["stream"])')
	ok eg append "$T/bank.ndjson"
	ok eg append "$T/click1.ndjson"
	sleep 0.01
	CUT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
	sleep 0.01
	ok eg append "$T/click2.ndjson"
}

test_serve_inspection_equals_the_commands() {
	make_store
	start_server
	same "GET /streams" GET /streams "" eg streams
	same "GET /types" GET /types "" eg types
	same "POST /verify" POST /verify "" eg verify
	same "GET /stats" GET /stats "" eg stats
	call GET /verify
	assert_eq "405 {\"error\":\"/verify: use POST\"}" "$CODE $OUT" "GET /verify"
	call POST /stats ""
	assert_eq 405 "$CODE" "POST /stats"
	# an append through the server shows in the next answer
	curl -s -H 'Content-Type: application/x-ndjson' --data-binary \
		'{"type":"deposit","stream":"account-new","data":{"amount":5}}' "$URL/events" >/dev/null
	call GET /streams
	assert_contains "$OUT" '{"stream":"account-new","events":1,"version":1}' "GET /streams after an append"
	same "GET /types after an append" GET /types "" eg types
	serve_stop
}

test_serve_verify_finds_a_tampered_log() {
	ok_to "$T/bank.ndjson" "$ENGRAM" gen bank --events 200 --seed 1
	ok eg append "$T/bank.ndjson"
	local seg
	seg=$(ls "$STORE"/log/*.seg | head -n 1)
	[ -n "$seg" ] || fail "no log segment in $STORE/log"
	flip_byte "$seg" 2000
	assert_exit 3 eg verify
	local want=${ERR#engram: error: }
	want=${want%%$'\n'*}
	start_server
	call POST /verify
	assert_eq 500 "$CODE" "POST /verify of a tampered log: $OUT"
	assert_eq "$want" "$(jget "$OUT" error)" "the message is engram verify's"
	serve_stop
}

test_serve_projections_equal_the_commands() {
	make_store
	start_server
	local spec=$EXAMPLES/balances.json inline
	inline=$(<"$spec")
	same "project, spec file" POST /project "{\"spec\":\"$spec\"}" eg project "$spec"
	same "project, inline spec" POST /project "{\"spec\":$inline}" eg project "$spec"
	local key t
	# an account of three events or more, and the time of its second
	key=$(eg streams | "$PYTHON" -c '
import json, sys
print(next(r["stream"] for r in map(json.loads, sys.stdin)
           if r["stream"].startswith("account-") and r["events"] >= 3))')
	t=$(eg read --stream "$key" --limit 2 | sed -n '2p' | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["time"])')
	same "project, as_of" POST /project "{\"spec\":$inline,\"as_of\":\"$t\"}" \
		eg project "$spec" --as-of "$t"
	same "project, key" POST /project "{\"spec\":$inline,\"key\":\"$key\"}" \
		eg project "$spec" --key "$key"
	same "project, known_at" POST /project "{\"spec\":\"$spec\",\"known_at\":\"$CUT\",\"as_of\":null}" \
		eg project "$spec" --known-at "$CUT"
	same "history" POST /history "{\"spec\":$inline,\"key\":\"$key\"}" \
		eg history "$spec" --key "$key"
	same "history, as_of" POST /history "{\"spec\":\"$spec\",\"key\":\"$key\",\"as_of\":\"$t\"}" \
		eg history "$spec" --key "$key" --as-of "$t"
	serve_stop
}

test_serve_windows_sessions_funnel_equal_the_commands() {
	make_store
	start_server
	local spec=$EXAMPLES/pageviews_hourly.json inline
	inline=$(<"$spec")
	same "windows" POST /windows "{\"spec\":$inline}" eg windows "$spec"
	same "windows, file" POST /windows "{\"spec\":\"$spec\"}" eg windows "$spec"
	same "windows, changelog" POST /windows "{\"spec\":$inline,\"changelog\":true}" \
		eg windows "$spec" --changelog
	same "windows, as_reported_at" POST /windows "{\"spec\":$inline,\"as_reported_at\":\"$CUT\"}" \
		eg windows "$spec" --as-reported-at "$CUT"
	# the report as it was differs from now: the route did not ignore it
	local now
	now=$(eg windows "$spec")
	[ "$now" != "$OUT" ] || fail "as_reported_at gave the table of now"
	# a spec that leaves some events too late: --late has rows
	"$PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
s["watermark"] = s["allowed_lateness"] = "1m"
json.dump(s, open(sys.argv[2], "w"))' "$spec" "$T/strict.json"
	same "windows, late" POST /windows "{\"spec\":\"$T/strict.json\",\"late\":true}" \
		eg windows "$T/strict.json" --late
	same "windows, include_open" POST /windows "{\"spec\":$inline,\"include_open\":true}" \
		eg windows "$spec" --include-open
	same "sessions" POST /sessions '{"gap":"30m"}' eg sessions --gap 30m
	same "sessions, stream and known_at" POST /sessions \
		"{\"gap\":\"10m\",\"stream\":\"$USER1\",\"known_at\":\"$CUT\"}" \
		eg sessions --gap 10m --stream "$USER1" --known-at "$CUT"
	same "sessions, types" POST /sessions '{"type":"page_view,purchase","since":"2025-01-03"}' \
		eg sessions --type page_view,purchase --since 2025-01-03
	same "funnel" POST /funnel '{"steps":"page_view,add_to_cart,purchase","within":"1h"}' \
		eg funnel --steps page_view,add_to_cart,purchase --within 1h
	same "funnel, by" POST /funnel \
		'{"steps":"page_view,add_to_cart","within":"30m","by":"data.device","until":"2025-01-05"}' \
		eg funnel --steps page_view,add_to_cart --within 30m --by data.device --until 2025-01-05
	serve_stop
}

test_serve_sql_equals_the_command() {
	make_store
	start_server
	local q="SELECT type, count(*) AS events FROM events GROUP BY type ORDER BY type"
	same "sql" POST /sql "{\"query\":\"$q\"}" eg sql "$q"
	q="CREATE TEMP TABLE t AS SELECT stream FROM events WHERE type = 'deposit'; SELECT count(DISTINCT stream) AS n, min(stream) AS first FROM t"
	same "sql, a script" POST /sql "{\"query\":\"$q\"}" eg sql "$q"
	q="SELECT * FROM windows('$EXAMPLES/pageviews_hourly.json') LIMIT 5"
	same "sql, a function" POST /sql "{\"query\":\"$q\"}" eg sql "$q"
	# one request's TEMP table is not the next one's
	call POST /sql '{"query":"SELECT count(*) FROM t"}'
	assert_eq '400 {"error":"no such table: t"}' "$CODE $OUT" "TEMP tables per request"
	call POST /sql '{"query":"DELETE FROM events"}'
	assert_eq 400 "$CODE" "DELETE: $OUT"
	ok eg stats
	assert_eq 4600 "$(jget "$OUT" events)" "nothing deleted"
	call POST /sql '{"query":"SELECT nope FROM events"}'
	assert_eq '400 {"error":"no such column: nope"}' "$CODE $OUT" "a bad query"
	serve_stop
}

test_serve_query_errors() {
	make_store
	start_server
	printf '{"name":"b","key":"stream","fields":{"x":{"summ":"data.amount"}}}' >"$T/bad.json"
	assert_exit 2 eg project "$T/bad.json"
	local want=${ERR#engram: error: }
	want=${want%%$'\n'*}
	call POST /project "{\"spec\":\"$T/bad.json\"}"
	assert_eq 400 "$CODE" "a bad spec file"
	assert_eq "$want" "$(jget "$OUT" error)" "the command's message"
	call POST /project "{\"spec\":$(<"$T/bad.json")}"
	assert_eq 400 "$CODE" "a bad inline spec"
	assert_eq "spec: ${want#"$T/bad.json: "}" "$(jget "$OUT" error)" "inline: named spec"
	call POST /project "{\"spec\":\"$T/none.json\"}"
	assert_eq "400 $T/none.json: cannot read the spec: No such file or directory" \
		"$CODE $(jget "$OUT" error)" "a missing spec file"
	call POST /windows '{"spec":{"name":"w"}}'
	assert_eq 400 "$CODE" "a bad windows spec: $OUT"
	assert_contains "$(jget "$OUT" error)" "spec: " "named spec"
	call POST /project '{"spec":"x","as_off":"2025-01-01"}'
	assert_eq '400 {"error":"unknown option \"as_off\": expected spec, key, as_of, known_at"}' \
		"$CODE $OUT" "an unknown option"
	call POST /project "{\"spec\":\"$EXAMPLES/balances.json\",\"as_of\":\"yesterday\"}"
	assert_eq 400 "$CODE" "a bad time"
	assert_contains "$(jget "$OUT" error)" "as_of: expected " "a bad time"
	assert_contains "$(jget "$OUT" error)" ", got 'yesterday'" "a bad time"
	call POST /history "{\"spec\":\"$EXAMPLES/balances.json\"}"
	assert_eq '400 {"error":"key: expected the key whose history to return"}' "$CODE $OUT" "history without key"
	call POST /project '[1]'
	assert_eq 400 "$CODE" "not an object"
	call POST /project '{"spec":'
	assert_eq 400 "$CODE" "truncated JSON: $OUT"
	call POST /windows "{\"spec\":\"$EXAMPLES/pageviews_hourly.json\",\"changelog\":\"yes\"}"
	assert_eq '400 {"error":"changelog: expected true or false"}' "$CODE $OUT" "a flag as text"
	call POST /windows "{\"spec\":\"$EXAMPLES/pageviews_hourly.json\",\"changelog\":true,\"late\":true}"
	assert_eq 400 "$CODE" "changelog and late"
	call POST /sessions '{"gap":"soon"}'
	assert_eq 400 "$CODE" "a bad gap"
	assert_contains "$(jget "$OUT" error)" "gap: expected a duration" "a bad gap"
	call POST /funnel '{"within":"1h"}'
	assert_eq 400 "$CODE" "funnel without steps"
	call POST /funnel '{"steps":"a,,b","within":"1h"}'
	assert_eq 400 "$CODE" "bad steps: $OUT"
	assert_contains "$(jget "$OUT" error)" "steps: " "bad steps"
	call POST /sql '{}'
	assert_eq '400 {"error":"query: expected the SQL to run"}' "$CODE $OUT" "sql without query"
	call GET /project
	assert_eq 405 "$CODE" "GET /project"
	serve_stop
	# every bad request was answered, none written: the store is as it was
	ok eg verify
	assert_eq 4600 "$(jget "$OUT" events)" "events after the errors"
}

test_serve_metrics() {
	make_store
	ok eg consume c --limit 100
	start_server
	local i
	for ((i = 0; i < 8; i++)); do
		curl -s -H 'Content-Type: application/x-ndjson' --data-binary \
			"{\"type\":\"deposit\",\"stream\":\"account-m$i\",\"data\":{\"amount\":1}}"$'\n'"{\"type\":\"fee\",\"stream\":\"account-m$i\",\"data\":{\"amount\":1}}" \
			"$URL/events" >/dev/null &
	done
	wait $(jobs -p | grep -v "^$SERVER$")
	curl -s -H 'Content-Type: application/x-ndjson' --data-binary 'not json' "$URL/events" >/dev/null
	curl -s "$URL/streams" >/dev/null
	curl -s "$URL/streams" >/dev/null
	curl -s "$URL/nowhere" >/dev/null
	call GET /metrics
	assert_eq 200 "$CODE" "GET /metrics"
	assert_eq "text/plain; version=0.0.4; charset=utf-8" "$CTYPE" "content type"
	printf '%s\n' "$OUT" >"$T/metrics.txt"
	py "$T/metrics.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
types, helps, samples = {}, set(), {}
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
sample_re = re.compile(r"^(%s)(\{(%s=\"(?:[^\"\\\n]|\\.)*\")(,%s=\"(?:[^\"\\\n]|\\.)*\")*\})? (\S+)$"
                       % (name_re, name_re, name_re))
for line in text.splitlines():
    if line.startswith("# HELP "):
        n = line.split(" ")[2]
        assert n not in helps, "two HELP for " + n
        helps.add(n)
        continue
    if line.startswith("# TYPE "):
        _, _, n, t = line.split(" ")
        assert t in ("counter", "gauge", "histogram"), line
        assert n not in types, "two TYPE for " + n
        assert not any(s.startswith(n) for s in samples), "TYPE after samples: " + n
        types[n] = t
        continue
    m = sample_re.match(line)
    assert m, "not a sample line: %r" % line
    float(m.group(5))
    key = m.group(1) + (m.group(2) or "")
    assert key not in samples, "sample twice: " + key
    samples[key] = float(m.group(5))
for n, t in types.items():
    assert n in helps, "no HELP for " + n
    if t == "histogram":
        b = [(k, v) for k, v in samples.items() if k.startswith(n + "_bucket{")]
        les = [float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")) for k, _ in b]
        assert les == sorted(les) and les[-1] == float("inf"), n + ": buckets out of order"
        counts = [v for _, v in b]
        assert counts == sorted(counts), n + ": buckets not cumulative"
        assert counts[-1] == samples[n + "_count"], n + ": +Inf != _count"
        assert n + "_sum" in samples, n + ": no _sum"
for k in samples:
    base = re.sub(r"(_bucket|_sum|_count)$", "", k.split("{")[0])
    assert k.split("{")[0] in types or base in types, "sample of no TYPE: " + k
def v(k):
    assert k in samples, "missing " + k
    return samples[k]
assert v('engram_http_requests_total{route="/events",status="200"}') == 8, "8 appends"
assert v('engram_http_requests_total{route="/events",status="400"}') == 1, "1 bad append"
assert v('engram_http_requests_total{route="/streams",status="200"}') == 2, "2 GET /streams"
assert v('engram_http_requests_total{route="other",status="404"}') == 1, "1 unknown route"
assert v("engram_append_batch_events_count") == 8, "8 batches"
assert v("engram_append_batch_events_sum") == 16, "16 events"
assert v('engram_append_batch_events_bucket{le="1"}') == 0, "no batch of 1"
assert v('engram_append_batch_events_bucket{le="2"}') == 8, "8 batches of 2"
# the bad append went to the committer too: 9 requests made durable
assert v("engram_group_commit_requests_sum") == 9, "requests in group commits"
n = v("engram_group_commit_requests_count")
assert 1 <= n <= 9, "group commits: %s" % n
assert v("engram_fsync_seconds_count") == n, "one sync per group commit"
assert v("engram_fsync_seconds_sum") > 0, "sync time"
assert v("engram_subscribers") == 0, "subscribers"
assert v("engram_head_position") == 4616, "head"
assert v('engram_consumer_lag{consumer="c"}') == 4516, "consumer lag"
assert types["engram_http_requests_total"] == "counter"
assert types["engram_fsync_seconds"] == "histogram"
assert types["engram_consumer_lag"] == "gauge"
EOF
	# the metrics request itself is counted from the next one on
	call GET /metrics
	assert_contains "$OUT" 'engram_http_requests_total{route="/metrics",status="200"} 1' "GET /metrics counted"
	serve_stop
}

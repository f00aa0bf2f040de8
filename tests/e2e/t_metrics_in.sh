# t_metrics_in.sh — metrics in (docs/METRICS.md): metric and error envelopes
# checked at append (also over engram serve's POST), --map prometheus,
# openmetrics and statsd, what each refuses and where (line, field, exit
# code, nothing written), --quarantine keeping them, and gen metrics.

. "$E2E_DIR/serve_lib.sh"

# assert_refused LINE-NUMBER MESSAGE ARGS...: append ARGS exits 1 with
# "line N: MESSAGE" and the store is as it was.
assert_refused() {
	local line=$1 msg=$2 before
	shift 2
	before=$(head_of 2>/dev/null || echo none)
	assert_exit 1 eg append "$@"
	assert_contains "$ERR" "line $line: $msg" "error of append $*"
	assert_contains "$ERR" "nothing" "error of append $*"
	assert_eq "$before" "$(head_of 2>/dev/null || echo none)" "the head after a refused append"
}

test_envelopes_of_metrics_and_errors_are_checked() {
	ok eg append --type seed <<<'{"data":{}}'
	local m='{"kind":"metric","type":"m","time":"2026-01-05T00:00:00Z"'
	local e='{"kind":"error","type":"KeyError","time":"2026-01-05T00:00:00Z"'
	local cases=(
		"$m}"$'\t''field "data.value": expected a finite number (it is missing)'
		"$m"',"data":{"value":"12"}}'$'\t''field "data.value": expected a finite number, got "12"'
		"$m"',"data":{"value":1e999}}'$'\t''field "data.value": expected a finite number, got 1e999'
		"$m"',"data":{"value":1,"tags":{"host":7}}}'$'\t''field "data.tags.host": expected a string'
		"$m"',"data":{"value":1,"tags":"a=b"}}'$'\t''field "data.tags": expected an object'
		"$e"',"data":{"stack":[]}}'$'\t''field "data.message": expected a string'
		"$e"',"data":{"message":"x","stack":[{"function":"f","line":"12"}]}}'$'\t''field "data.stack[0].line": expected an integer'
		"$e"',"data":{"message":"x","stack":[{"file":1}]}}'$'\t''field "data.stack[0].file": expected a string'
	)
	local c
	for c in "${cases[@]}"; do
		printf '%s\n%s\n' "$m"',"data":{"value":1}}' "${c%%$'\t'*}" >"$T/in.ndjson"
		assert_refused 2 "${c#*$'\t'}" "$T/in.ndjson"
	done
	# what fits is appended, other data fields kept
	printf '%s\n' "$m"',"data":{"value":-0.5,"tags":{"host":"a"},"metric_type":"gauge"}}' \
		"$e"',"data":{"message":"no key 7","stack":[{"function":"f","file":"a.py","line":3,"in_app":true}],"release":"1.0","fingerprint":["k"]}}' \
		"$e"',"data":{"message":"boom","stack":"Traceback (most recent call last):\n  x"}}' >"$T/good.ndjson"
	ok eg append "$T/good.ndjson"
	assert_eq 3 "$(jget "$OUT" appended)" "appended"
	# --quarantine keeps a misfit in $quarantine with its error
	printf '%s\n' "$m"',"data":{"value":2}}' "$m"',"data":{"value":"NaN"}}' >"$T/q.ndjson"
	ok eg append --quarantine "$T/q.ndjson"
	assert_eq "1 1" "$(jfields "$OUT" appended quarantined)" "append --quarantine"
	ok eg --format ndjson read --stream '$quarantine'
	assert_contains "$OUT" '"pointer":"/data/value","keyword":"metric","message":"expected a finite number, got \"NaN\""' "\$quarantine"
	# --skip-invalid sets it aside
	ok eg append --skip-invalid "$T/rej.ndjson" "$T/in.ndjson"
	assert_eq "1 1" "$(jfields "$OUT" appended rejected)" "append --skip-invalid"
	assert_contains "$(cat "$T/rej.ndjson")" '"line":2' "rejects"
}

test_serve_post_refuses_the_same() {
	ok eg append --type seed <<<'{"data":{}}'
	start_server
	http POST /events -H "$NDJSON" --data-binary $'{"kind":"metric","type":"m","data":{"value":1}}\n{"kind":"metric","type":"m","data":{"value":"x"}}'
	assert_contains "$OUT" 'data.value' "POST of a bad metric: $CODE"
	[ "$CODE" -ge 400 ] && [ "$CODE" -lt 500 ] || fail "POST of a bad metric answered $CODE: $OUT"
	http POST /events -H "$NDJSON" --data-binary '{"kind":"error","type":"E","data":{"message":"m"}}'
	assert_eq 200 "$CODE" "POST of a good error: $OUT"
	# engram serve's own exposition, read back through --map prometheus
	http GET /metrics
	[ "$CODE" = 200 ] || fail "GET /metrics: $CODE"
	printf '%s\n' "$OUT" >"$T/metrics.txt"
	stop_server
	ok eg --format ndjson append --map prometheus "$T/metrics.txt"
	ok_to "$T/all.ndjson" eg --format ndjson read
	py "$T/metrics.txt" "$T/all.ndjson" <<'PY'
import sys, json, re
from e2e import check
want = [re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", l).group(0)
        for l in open(sys.argv[1]).read().splitlines() if l.strip() and not l.startswith("#")]
check(len(want) > 3, "samples in GET /metrics: %d" % len(want))
got = [e for e in map(json.loads, open(sys.argv[2])) if e.get("kind") == "metric"]
check([e["type"] for e in got] == want, "types %r vs %r" % ([e["type"] for e in got][:5], want[:5]))
for e in got:
    check(isinstance(e["data"]["value"], (int, float)), "value %r" % e)
PY
}

# Every feature of the text format, recomputed with a small parser here.
test_prometheus_exposition_round_trips() {
	cat >"$T/prom.txt" <<'EOF'
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9 1395066363000
metric_without_timestamp_and_labels 12.47
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5",__name__="rpc_duration_seconds"} 4773 1395066363001
rpc_duration_seconds_sum 1.7560473e+07 1395066363001
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="+Inf",} 144320 1395066363001
EOF
	ok eg --format ndjson append --map prometheus "$T/prom.txt"
	assert_eq 7 "$(jget "$OUT" appended)" "appended"
	ok_to "$T/all.ndjson" eg --format ndjson read
	py "$T/all.ndjson" <<'PY'
import sys, json
from e2e import check
got = [json.loads(l) for l in open(sys.argv[1])]
want = [
 ("http_requests_total", "2014-03-17T14:26:03.000000Z", 1027, "counter", {"method": "post", "code": "200"}),
 ("http_requests_total", "2014-03-17T14:26:03.000000Z", 3, "counter", {"method": "post", "code": "400"}),
 ("msdos_file_access_time_seconds", "2014-03-17T14:26:03.000000Z", 1.458255915e9, "untyped",
  {"path": "C:\\DIR\\FILE.TXT", "error": 'Cannot find file:\n"FILE.TXT"'}),
 ("metric_without_timestamp_and_labels", None, 12.47, "untyped", None),
 ("rpc_duration_seconds", "2014-03-17T14:26:03.001000Z", 4773, "summary", {"quantile": "0.5"}),
 ("rpc_duration_seconds_sum", "2014-03-17T14:26:03.001000Z", 1.7560473e7, "summary", None),
 ("http_request_duration_seconds_bucket", "2014-03-17T14:26:03.001000Z", 144320, "histogram", {"le": "+Inf"}),
]
check(len(got) == len(want), "%d events" % len(got))
for e, (ty, t, v, mt, tags) in zip(got, want):
    check(e["kind"] == "metric" and e["type"] == ty, "type %r" % e)
    if t:
        check(e["time"] == t, "time %r" % e)
    else:
        check(e["time"] == e["recorded"], "no timestamp: the record time %r" % e)
    check(e["data"]["value"] == v and e["data"]["metric_type"] == mt, "data %r" % e)
    check(e["data"].get("tags") == tags, "tags %r" % e)
PY
	# OpenMetrics: seconds, exemplars, # EOF (found, or said with --map openmetrics)
	printf '# TYPE a counter\na_total{x="1"} 5 1700000000.25 # {t="q"} 1 2\n# EOF\n' >"$T/om.txt"
	ok eg append --map prometheus "$T/om.txt"
	ok eg append --map openmetrics "$T/om.txt"
	ok eg --format ndjson read --type a_total
	assert_eq 2 "$(grep -c '"time":"2023-11-14T22:13:20.250000Z"' <<<"$OUT")" "OpenMetrics times"
}

# bad_text_cases MAP: each case is TEXT<tab>LINE<tab>MESSAGE (TEXT with real
# newlines); append --map MAP refuses it naming the line, writing nothing.
refuse_cases() {
	local map=$1 c text rest
	shift
	for c in "$@"; do
		text=${c%%$'\t'*}
		rest=${c#*$'\t'}
		printf '%s\n' "$text" >"$T/bad.txt"
		assert_refused "${rest%%$'\t'*}" "${rest#*$'\t'}" --map "$map" "$T/bad.txt"
		assert_contains "$ERR" "--map $map: line ${rest%%$'\t'*}" "error of $text"
	done
}

test_bad_exposition_names_the_line_and_writes_nothing() {
	ok eg append --type seed <<<'{"data":{}}'
	refuse_cases prometheus \
		$'ok 1\n{a="b"} 1\t2\texpected a metric name' \
		$'ok 1\nok 2\nm{a="b} 1\t3\tlabel a: expected a closing' \
		$'m{a=b} 1\t1\tlabel a: expected a quoted value' \
		$'m one\t1\tvalue: expected a number' \
		$'m 1 1.5\t1\ttimestamp: expected integer epoch milliseconds' \
		$'# TYPE m countr\nm 1\t1\t# TYPE m: expected counter' \
		$'m{a="1",a="2"} 1\t1\tlabel "a" is given twice' \
		$'# EOF\nm 1\t2\texpected nothing after # EOF'
	# NaN and the infinities are refused by the append, naming the input line
	printf 'ok 1\n\n# c\nm NaN\n' >"$T/nan.txt"
	assert_refused 4 'field "data.value": expected a finite number, got "NaN"' --map prometheus "$T/nan.txt"
	printf 'm +Inf\n' >"$T/inf.txt"
	assert_refused 1 'field "data.value": expected a finite number, got "+Inf"' --map prometheus "$T/inf.txt"
	# --quarantine keeps them, --skip-invalid shows the input line
	ok eg append --map prometheus --quarantine "$T/nan.txt"
	assert_eq "1 1" "$(jfields "$OUT" appended quarantined)" "quarantined NaN"
	ok eg append --map prometheus --skip-invalid "$T/rej.ndjson" "$T/nan.txt"
	py "$T/rej.ndjson" <<'PY'
import sys, json
from e2e import check
r = [json.loads(l) for l in open(sys.argv[1])]
check(len(r) == 1 and r[0]["line"] == 4 and r[0]["input"] == "m NaN", "rejects %r" % r)
PY
}

test_statsd_lines() {
	printf '%s\n' 'api.requests:1|c|#region:eu,canary' 'api.requests:3|c|@0.1|#region:us' '' \
		'queue.depth:42|g' 'db.query:12.5|ms|@0.5' 'payload:512|h' 'lat:1:2.5:3|d|#svc:a' \
		'late.one:7|c|T1767571200' >"$T/s.txt"
	ok eg --format ndjson append --map statsd "$T/s.txt"
	assert_eq 9 "$(jget "$OUT" appended)" "appended"
	ok_to "$T/all.ndjson" eg --format ndjson read
	py "$T/all.ndjson" <<'PY'
import sys, json
from e2e import check
got = [(e["type"], e["data"]) for e in map(json.loads, open(sys.argv[1]))]
want = [
 ("api.requests", {"value": 1, "metric_type": "counter", "tags": {"region": "eu", "canary": ""}}),
 ("api.requests", {"value": 30, "metric_type": "counter", "sample_rate": 0.1, "tags": {"region": "us"}}),
 ("queue.depth", {"value": 42, "metric_type": "gauge"}),
 ("db.query", {"value": 12.5, "metric_type": "timer", "sample_rate": 0.5}),
 ("payload", {"value": 512, "metric_type": "histogram"}),
 ("lat", {"value": 1, "metric_type": "distribution", "tags": {"svc": "a"}}),
 ("lat", {"value": 2.5, "metric_type": "distribution", "tags": {"svc": "a"}}),
 ("lat", {"value": 3, "metric_type": "distribution", "tags": {"svc": "a"}}),
 ("late.one", {"value": 7, "metric_type": "counter"}),
]
check(got == want, "got %r" % got)
PY
	ok eg --format ndjson read --type late.one
	assert_contains "$OUT" '"time":"2026-01-05T00:00:00.000000Z"' "|T time"
	refuse_cases statsd \
		$'a:1|c\nusers:alice|s\t2\ttype s (a set)' \
		$'a:1|q\t1\ttype: expected c, g, ms, h or d' \
		$'a=1|c\t1\texpected name:value|type' \
		$'a:x|c\t1\tvalue: expected a number' \
		$'a:1|c|@3\t1\tsample rate: expected' \
		$'a:1|c|#k:1,k:2\t1\ttag "k" is given twice'
	printf 'a:nan|g\n' >"$T/nan.txt"
	assert_refused 1 'field "data.value": expected a finite number, got "nan"' --map statsd "$T/nan.txt"
}

test_gen_metrics() {
	ok_to "$T/a.ndjson" "$ENGRAM" gen metrics --series 40 --days 1 --step 10m --late 5 --seed 7
	ok_to "$T/b.ndjson" "$ENGRAM" gen metrics --series 40 --days 1 --step 10m --late 5 --seed 7
	assert_files_eq "$T/a.ndjson" "$T/b.ndjson" "gen metrics with the same seed"
	ok_to "$T/c.ndjson" "$ENGRAM" gen metrics --series 40 --days 1 --step 10m --late 0 --seed 7
	ok_to "$T/d.ndjson" "$ENGRAM" gen metrics --series 40 --days 1 --step 10m --seed 8
	py "$T/a.ndjson" "$T/c.ndjson" "$T/d.ndjson" <<'PY'
import sys, json
from e2e import check
rows = [json.loads(l) for l in open(sys.argv[1])]
series = {}
late = 0
last = {}
for r in rows:
    check(r["kind"] == "metric" and isinstance(r["data"]["value"], (int, float)), "row %r" % r)
    check(all(isinstance(v, str) for v in r["data"]["tags"].values()), "tags %r" % r)
    k = (r["type"], tuple(sorted(r["data"]["tags"].items())))
    series[k] = series.get(k, 0) + 1
    if k in last and r["time"] < last[k]:
        late += 1
    last[k] = max(last.get(k, ""), r["time"])
check(len(series) == 40, "%d series" % len(series))
check(set(series.values()) == {144}, "samples per series %r" % set(series.values()))
types = {k[0] for k in series}
check(types == {"http_request_duration_ms", "http_requests_total", "queue_depth"}, "types %r" % types)
check(sum(1 for k in series if k[0] == "queue_depth") == 3, "a gauge per region")
check(0 < late < len(rows) * 0.1, "late samples: %d of %d" % (late, len(rows)))
check(rows[0]["time"] == "2026-01-05T00:00:00.000000Z", "start %r" % rows[0]["time"])
ontime = [json.loads(l) for l in open(sys.argv[2])]
check(sorted(map(json.dumps, ontime)) == sorted(map(json.dumps, rows)), "--late only reorders")
check([r["time"] for r in ontime] == sorted(r["time"] for r in ontime), "--late 0 is in time order")
check(open(sys.argv[3]).read() != open(sys.argv[1]).read(), "another seed, other values")
PY
	ok eg append "$T/a.ndjson"
	assert_eq 5760 "$(jget "$OUT" appended)" "appended"
	assert_exit 2 "$ENGRAM" gen metrics --series 0
	assert_exit 2 "$ENGRAM" gen metrics --late 101
	assert_exit 2 "$ENGRAM" gen metrics --step 2d
	assert_exit 2 "$ENGRAM" gen metrics --events 5
}

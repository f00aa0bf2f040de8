# t_metrics.sh — engram metrics: the rollups against a recomputation from
# the raw samples (random late samples, batches, reindex, damaged files:
# tests/e2e/metrics_prop.py), --list, --tags, --format prometheus,
# --follow, --explain and bad options.

samples() {
	ok eg append <<'EV'
{"kind":"metric","type":"lat","time":"2025-01-01T10:00:10Z","data":{"value":10,"tags":{"endpoint":"/a","host":"h1"}}}
{"kind":"metric","type":"lat","time":"2025-01-01T10:00:40Z","data":{"value":30,"tags":{"host":"h1","endpoint":"/a"}}}
{"kind":"metric","type":"lat","time":"2025-01-01T10:30:00Z","data":{"value":20,"tags":{"endpoint":"/b"}}}
{"kind":"metric","type":"req","time":"2025-01-01T11:10:00Z","data":{"value":5,"tags":{"endpoint":"/a"},"metric_type":"counter"}}
{"type":"page_view","time":"2025-01-01T10:00:00Z","data":{"value":1000}}
EV
}

test_metrics_equal_a_recomputation_with_late_samples() {
	py "$ENGRAM" "$STORE" 7 10 <"$E2E_DIR/metrics_prop.py"
	rm -rf "$STORE"
	py "$ENGRAM" "$STORE" 11 10 <"$E2E_DIR/metrics_prop.py"
}

test_metrics_rows_groups_and_late_sample() {
	samples
	ok eg metrics lat --every 1h --agg count,sum,min,max,last,rate
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","count":3,"sum":60,"min":10,"max":30,"last":20,"rate":0.016666666666666666}' "$OUT"
	ok eg metrics --by endpoint --every 1h --agg count
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","name":"lat","endpoint":"/a","count":2}
{"time":"2025-01-01T10:00:00.000000Z","name":"lat","endpoint":"/b","count":1}
{"time":"2025-01-01T11:00:00.000000Z","name":"req","endpoint":"/a","count":1}' "$OUT"
	ok eg metrics lat --by host --every 1h --agg count
	assert_contains "$OUT" '"host":null,"count":1'
	# a late sample corrects the 10:00 cells it belongs to
	ok eg append <<'EV'
{"kind":"metric","type":"lat","time":"2025-01-01T10:59:00Z","data":{"value":1,"tags":{"endpoint":"/a","host":"h1"}}}
EV
	ok eg metrics lat --where endpoint=/a --every 1h --agg count,min,last --explain
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","count":3,"min":1,"last":1}' "$OUT"
	assert_contains "$ERR" '"level":"1h"'
	# an edge off the minute is read from the log
	ok eg metrics lat --every 1h --agg count --since 2025-01-01T10:00:30Z --explain
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","count":3}' "$OUT"
	assert_contains "$ERR" '"raw_samples":1'
}

test_metrics_list_tags_and_prometheus() {
	samples
	ok eg metrics --list
	assert_eq 3 "$(count_lines "$T/.out")" "series"
	assert_contains "$OUT" '{"name":"lat","tags":{"endpoint":"/a","host":"h1"},"samples":2,"first":"2025-01-01T10:00:10.000000Z","last":"2025-01-01T10:00:40.000000Z","last_value":30,"cardinality":{"endpoint":2,"host":1}}'
	local list=$OUT
	ok eg metrics --tags
	assert_contains "$OUT" '{"name":"lat","tag":"endpoint","values":2,"series":2}'
	# --list's cardinality is --tags' values, on every series of a name
	py "$list" "$OUT" <<'PY'
import sys, json
tags = {}
for r in map(json.loads, sys.argv[2].splitlines()):
    tags.setdefault(r["name"], {})[r["tag"]] = r["values"]
for r in map(json.loads, sys.argv[1].splitlines()):
    assert r["cardinality"] == tags.get(r["name"], {}), (r, tags)
PY
	ok eg metrics --format prometheus
	assert_eq '# TYPE lat untyped
lat{endpoint="/a",host="h1"} 30 1735725640000
lat{endpoint="/b"} 20 1735727400000
# TYPE req counter
req{endpoint="/a"} 5 1735729800000' "$OUT"
	# given before the command, as the other formats may be
	local after=$OUT
	ok "$ENGRAM" -d "$STORE" --format prometheus metrics
	assert_eq "$after" "$OUT" "--format prometheus before the command"
	assert_exit 2 "$ENGRAM" -d "$STORE" --format prometheus read
	assert_contains "$ERR" "only engram metrics prints it"
}

test_metrics_follow_prints_closed_intervals() {
	samples
	timeout 20 "$ENGRAM" -d "$STORE" --format ndjson metrics lat --every 10m --agg count --follow \
		>"$T/follow.out" 2>"$T/follow.err" &
	local follower=$!
	trap 'kill $follower 2>/dev/null' EXIT
	wait_for 10 lines_at_least "$T/follow.out" 1 || fail "nothing printed: $(cat "$T/follow.err")"
	ok eg append <<'EV'
{"kind":"metric","type":"lat","time":"2025-01-01T10:50:00Z","data":{"value":1}}
EV
	wait_for 10 lines_at_least "$T/follow.out" 2 ||
		fail "--follow printed no closed interval: $(cat "$T/follow.out" "$T/follow.err")"
	kill -TERM $follower
	wait $follower
	assert_eq 0 $? "exit after SIGTERM"
	trap - EXIT
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","count":2}
{"time":"2025-01-01T10:30:00.000000Z","count":1}' "$(cat "$T/follow.out")"
}

test_metrics_bad_options() {
	samples
	assert_exit 2 eg metrics --every 0s
	assert_exit 2 eg metrics --every 1500ms
	assert_contains "$ERR" "whole number of seconds"
	assert_exit 2 eg metrics --agg p101
	assert_contains "$ERR" "p101"
	assert_exit 2 eg metrics --where endpoint
	assert_contains "$ERR" "TAG=VALUE"
	assert_exit 2 eg metrics --list --by host
	assert_exit 2 eg metrics --format yaml
	# names and tags that never occur: an answer, with a warning
	ok eg metrics lat latency --by region --agg count
	assert_contains "$ERR" "metric 'latency' has no samples"
	assert_contains "$ERR" "--by region: no series has that tag"
}

test_metrics_sql_function_per_series() {
	samples
	ok eg sql "SELECT time, name, tags, count, sum, min, max, last FROM metrics('lat', '1h')"
	assert_eq '{"time":"2025-01-01T10:00:00.000000Z","name":"lat","tags":{"endpoint":"/a","host":"h1"},"count":2,"sum":40,"min":10,"max":30,"last":30}
{"time":"2025-01-01T10:00:00.000000Z","name":"lat","tags":{"endpoint":"/b"},"count":1,"sum":20,"min":20,"max":20,"last":20}' "$OUT"
	# the same figures as engram metrics, grouped in SQL
	ok eg sql "SELECT time, name, sum(count) AS count, min(min) AS min, max(max) AS max FROM metrics() GROUP BY 1, 2 ORDER BY 1, 2"
	local sql=$OUT
	ok eg metrics --every 1h --agg count,min,max
	assert_eq "$OUT" "$sql" "SQL against the command"
	assert_exit 1 eg sql "SELECT * FROM metrics('lat', 'x')"
	assert_contains "$ERR" "every: expected"
}

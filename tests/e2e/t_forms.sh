# t_forms.sh — what users type first: a byte-order mark at the start of an
# input file, a date alone for a time option, durations such as 1h30m.

BOM=$'\xef\xbb\xbf'

test_bom_at_the_start_of_input_is_skipped() {
	printf '%s{"stream":"a","type":"x","time":"2025-01-01T10:00:00Z"}\n{"stream":"a","type":"y"}\n' "$BOM" >"$T/in.ndjson"
	ok eg append "$T/in.ndjson"
	assert_eq "2 0" "$(jfields "$OUT" appended duplicates)" "a file with a BOM"
	printf '%s{"stream":"b","type":"x"}\n' "$BOM" >"$T/stdin.ndjson"
	ok eg append <"$T/stdin.ndjson"
	assert_eq "1" "$(jget "$OUT" appended)" "standard input with a BOM"
	# a mapping file and the input it maps, both with a BOM
	printf '%s{"type": "value.kind", "stream": "value.who"}\n' "$BOM" >"$T/map.json"
	printf '%s{"value":{"kind":"z","who":"c"}}\n' "$BOM" >"$T/mapped.ndjson"
	ok eg append --map "$T/map.json" "$T/mapped.ndjson"
	assert_eq "1" "$(jget "$OUT" appended)" "mapped input with a BOM"
	# spec files with a BOM
	printf '%s{"fields": {"n": {"count": true}}}\n' "$BOM" >"$T/p.json"
	ok eg project "$T/p.json" --key a
	assert_eq '{"key":"a","n":2}' "$OUT" "a projection spec with a BOM"
	printf '%s{"window": {"tumble": "1h"}, "aggs": {"n": {"count": true}}}\n' "$BOM" >"$T/w.json"
	ok eg windows "$T/w.json" --include-open
	assert_contains "$OUT" '"n":1,' "a windows spec with a BOM"
	# anywhere else a BOM is an error naming its line; nothing is written
	local before
	before=$(head_of "$STORE")
	printf '{"type":"x"}\n%s{"type":"x"}\n' "$BOM" >"$T/mid.ndjson"
	assert_exit 1 eg append "$T/mid.ndjson"
	assert_contains "$ERR" "line 2: a UTF-8 byte-order mark (EF BB BF) starts the line"
	assert_eq "$before" "$(head_of "$STORE")" "the log after a BOM on line 2"
}

test_date_alone_is_midnight_utc_in_time_options() {
	ok eg append <<'EV'
{"stream":"u1","type":"page_view","time":"2025-01-01T23:00:00Z","data":{"amount":1}}
{"stream":"u1","type":"page_view","time":"2025-01-02T00:00:00Z","data":{"amount":2}}
{"stream":"u1","type":"purchase","time":"2025-01-02T00:10:00Z","data":{"amount":4}}
EV
	ok eg read --since 2025-01-02
	assert_eq 2 "$(printf '%s\n' "$OUT" | wc -l)" "read --since a date"
	ok eg read --until 2025-01-02
	assert_eq 2 "$(printf '%s\n' "$OUT" | wc -l)" "read --until a date (inclusive midnight)"
	printf '{"fields": {"total": {"sum": "data.amount"}}}' >"$T/p.json"
	ok eg project "$T/p.json" --as-of 2025-01-02
	assert_eq '{"key":"u1","total":3}' "$OUT" "project --as-of a date"
	ok eg project "$T/p.json" --known-at 2000-01-01
	assert_eq "" "$OUT" "project --known-at a date before anything"
	ok eg sessions --since 2025-01-02
	assert_contains "$OUT" '"events":2,' "sessions --since a date"
	ok eg funnel --steps page_view,purchase --within 1h --since 2025-01-02
	assert_contains "$OUT" '"step":2' "funnel --since a date"
	printf '{"window": {"tumble": "1d"}, "aggs": {"n": {"count": true}}}' >"$T/w.json"
	ok eg windows "$T/w.json" --as-reported-at 2000-01-01
	assert_eq "" "$OUT" "windows --as-reported-at a date"
	ok eg append --heartbeat 2025-01-04
	assert_eq "2025-01-04T00:00:00.000000Z" "$(jget "$OUT" time)" "a heartbeat at a date"
	assert_exit 2 eg read --since 2025-02-30
	assert_contains "$ERR" "a date such as 2025-01-01 (midnight UTC)"
	# an event's own time stays strict
	assert_exit 1 eg append <<<'{"type":"x","time":"2025-01-02"}'
	assert_contains "$ERR" 'line 1: field "time"'
}

test_compound_durations() {
	ok eg append <<'EV'
{"stream":"u1","type":"v","time":"2025-01-01T10:00:00Z"}
{"stream":"u1","type":"v","time":"2025-01-01T11:20:00Z"}
{"stream":"u1","type":"v","time":"2025-01-01T13:00:00Z"}
EV
	ok eg sessions --gap 1h30m
	assert_contains "$OUT" '"events":2,' "sessions --gap 1h30m: 10:00 and 11:20 together"
	ok eg sessions --gap 1h
	assert_not_contains "$OUT" '"events":2,' "sessions --gap 1h: apart"
	ok eg funnel --steps v,v --within 1h20m
	assert_contains "$OUT" '"step":2' "funnel --within 1h20m"
	printf '{"window": {"tumble": "1h30m"}, "aggs": {"n": {"count": true}}, "watermark": "1m30s"}' >"$T/w.json"
	ok eg windows "$T/w.json" --include-open
	assert_contains "$OUT" '"window_start":"2025-01-01T09:00:00.000000Z","window_end":"2025-01-01T10:30:00.000000Z","n":1,' "90-minute windows"
	assert_contains "$OUT" '"window_start":"2025-01-01T10:30:00.000000Z","window_end":"2025-01-01T12:00:00.000000Z","n":1,'
	assert_spec_error windows '{"window": {"tumble": "30m1h"}, "aggs": {"n": {"count": true}}}' '$.window.tumble: expected a duration: a whole number and a unit (us, ms, s, m, h, d), or several, largest unit first, such as 500ms, 30s, 10m, 6h, 7d or 1h30m; got "30m1h"'
	assert_spec_error windows '{"window": {"tumble": "1h1h"}, "aggs": {"n": {"count": true}}}' '$.window.tumble: expected a duration'
	assert_exit 2 eg sessions --gap 1h1h
	assert_contains "$ERR" "--gap: expected a duration: a whole number and a unit"
	assert_exit 2 eg funnel --steps v,v --within 30m1h
	assert_contains "$ERR" "largest unit first"
}

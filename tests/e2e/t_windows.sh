# t_windows.sh — engram windows: hourly figures by event time, a correction
# from a late event, a too-late event counted and listed, the table as it
# was reported at an earlier record time; bad specs exit 2.

hourly_spec() {
	cat >"$T/hourly.json" <<'JSON'
{"name": "pv", "types": ["page_view"], "window": {"tumble": "1h"},
 "group_by": ["data.page_url"],
 "aggs": {"views": {"count": true}, "users": {"count_distinct": "stream"},
          "ms": {"sum": "data.ms"}, "p95_ms": {"p95": "data.ms"}},
 "watermark": "10m", "allowed_lateness": "2h"}
JSON
}

# Batch 1 brings the 10:00 window to its first result; batch 2 (recorded
# after K) corrects it with a late event, then closes it for good and
# sends one event too late for it.
two_batches() {
	hourly_spec
	ok eg append <<'EV'
{"stream":"u1","type":"page_view","time":"2025-01-01T10:05:00Z","data":{"page_url":"/a","ms":100}}
{"stream":"u2","type":"page_view","time":"2025-01-01T10:20:00Z","data":{"page_url":"/a","ms":300}}
{"stream":"u1","type":"click","time":"2025-01-01T10:21:00Z","data":{"page_url":"/a"}}
{"stream":"u1","type":"page_view","time":"2025-01-01T11:10:00Z","data":{"page_url":"/b","ms":"n/a"}}
EV
	K=$(jget "$(eg --format ndjson read --from 4 --to 4)" recorded)
	sleep 0.01
	ok eg append <<'EV'
{"stream":"u3","type":"page_view","time":"2025-01-01T10:50:00Z","data":{"page_url":"/a","ms":200}}
{"stream":"u1","type":"page_view","time":"2025-01-01T13:10:00Z","data":{"page_url":"/b"}}
{"stream":"u4","type":"page_view","time":"2025-01-01T10:30:00Z","data":{"page_url":"/a","ms":5}}
EV
}

test_windows_table_correction_and_too_late() {
	two_batches
	ok eg windows "$T/hourly.json"
	assert_eq '{"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","data.page_url":"/a","views":3,"users":3,"ms":600,"p95_ms":300,"revision":2,"final":true,"too_late":1}
{"window_start":"2025-01-01T11:00:00.000000Z","window_end":"2025-01-01T12:00:00.000000Z","data.page_url":"/b","views":1,"users":1,"ms":0,"p95_ms":null,"revision":1,"final":false,"too_late":0}' "$OUT" "the current table"
	ok eg windows "$T/hourly.json" --include-open
	assert_eq 3 "$(printf '%s\n' "$OUT" | wc -l)" "rows with --include-open"
	assert_contains "$OUT" '"window_start":"2025-01-01T13:00:00.000000Z","window_end":"2025-01-01T14:00:00.000000Z","data.page_url":"/b","views":1,"users":1,"ms":0,"p95_ms":null,"revision":0'
	ok eg windows "$T/hourly.json" --late
	assert_eq 1 "$(printf '%s\n' "$OUT" | wc -l)" "too-late events"
	assert_eq 7 "$(jget "$OUT" pos)" "the too-late event's position"
	assert_eq "2025-01-01T10:00:00.000000Z" "$(jget "$OUT" window_start)" "the window it missed"
}

test_windows_changelog_shows_previous_values() {
	two_batches
	ok eg windows "$T/hourly.json" --changelog
	assert_eq 3 "$(printf '%s\n' "$OUT" | wc -l)" "revisions"
	local second
	second=$(sed -n 2p <<<"$OUT")
	assert_contains "$second" '"views":3,' "the correction"
	assert_contains "$second" '"revision":2,'
	assert_contains "$second" '"previous":{"views":2,"users":2,"ms":400,"p95_ms":300}'
	assert_eq 5 "$(jget "$second" pos)" "the late event that made it"
}

test_windows_as_reported_at_an_earlier_time() {
	two_batches
	ok eg windows "$T/hourly.json" --as-reported-at "$K"
	assert_eq '{"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","data.page_url":"/a","views":2,"users":2,"ms":400,"p95_ms":300,"revision":1,"final":false,"too_late":0}' "$OUT" "the table when only batch 1 was known"
	ok eg windows "$T/hourly.json" --as-reported-at 2000-01-01T00:00:00Z
	assert_eq "" "$OUT" "before anything was recorded"
}

# A window that only too-late events reached counts 0 and sums 0 (min and
# avg have no value) on every output path, resumed or rebuilt.
test_windows_reached_only_by_too_late_events_count_zero() {
	cat >"$T/late.json" <<'JSON'
{"window": {"tumble": "1h"}, "aggs": {"n": {"count": true}, "s": {"sum": "data.x"},
 "lo": {"min": "data.x"}, "a": {"avg": "data.x"}, "d": {"count_distinct": "data.x"}}}
JSON
	ok eg append <<'EV'
{"type":"v","time":"2025-01-01T10:10:00Z","data":{"x":1}}
{"type":"v","time":"2025-01-01T12:10:00Z","data":{"x":2}}
EV
	ok eg windows "$T/late.json"
	local K
	K=$(jget "$(eg --format ndjson read --from 2 --to 2)" recorded)
	sleep 0.01
	ok eg append <<<'{"type":"v","time":"2025-01-01T11:10:00Z","data":{"x":5}}'
	local row='"window_start":"2025-01-01T11:00:00.000000Z","window_end":"2025-01-01T12:00:00.000000Z","n":0,"s":0,"lo":null,"a":null,"d":0,"revision":0,"final":true,"too_late":1'
	ok eg windows "$T/late.json"
	assert_contains "$OUT" "{$row}" "the table, resumed from the checkpoint"
	local resumed=$OUT
	ok eg windows "$T/late.json" --include-open
	assert_contains "$OUT" "{$row}" "with --include-open"
	ok eg windows "$T/late.json" --as-reported-at 2099-01-01T00:00:00Z
	assert_contains "$OUT" "{$row}" "with --as-reported-at"
	ok eg windows "$T/late.json" --explain-diff "$K" 2099-01-01T00:00:00Z
	assert_contains "$OUT" '"change":"new","n":0,"s":0,"lo":null,"a":null,"d":0,"revision":0,"too_late":1,"before":null' "with --explain-diff"
	ok eg --format table windows "$T/late.json"
	assert_contains "$OUT" "0  0  null  null  0  0         true   1" "as a table"
	ok eg reindex
	ok eg windows "$T/late.json"
	assert_eq "$resumed" "$OUT" "the table rebuilt from the log"
}

test_windows_explain_counts_skipped_values() {
	two_batches
	ok eg windows "$T/hourly.json" --explain
	assert_contains "$ERR" '"events":6,'
	assert_contains "$ERR" '"too_late":1,'
	assert_contains "$ERR" '"corrections":1,'
	assert_contains "$ERR" '{"explain":"agg","agg":"ms","used":3,"skipped_missing":1,"skipped_not_number":1}'
}

test_windows_bad_specs_exit_2_naming_the_member() {
	two_batches
	local before
	before=$(head_of "$STORE")
	assert_spec_error windows '{"window": {"slide": "1h"}, "aggs": {"n": {"count": true}}}' '$.window.slide: unknown window member'
	assert_spec_error windows '{"window": {"hop": "1h", "every": "2h"}, "aggs": {"n": {"count": true}}}' '$.window.every: expected a duration no longer than the window (1h)'
	assert_spec_error windows '{"window": {"tumble": "0s"}, "aggs": {"n": {"count": true}}}' '$.window.tumble: expected a duration'
	assert_spec_error windows '{"window": {"tumble": "1h"}, "aggs": {"n": {"median": "data.ms"}}}' '$.aggs.n.median: unknown aggregate'
	assert_spec_error windows '{"window": {"tumble": "1h"}, "aggs": {"n": {"sum": "data..ms"}}}' '$.aggs.n.sum: empty member name'
	assert_exit 2 eg windows "$T/hourly.json" --as-reported-at yesterday
	assert_contains "$ERR" "--as-reported-at"
	assert_eq "$before" "$(head_of "$STORE")" "the log after bad specs"
}

test_heartbeat_moves_the_watermark_of_a_quiet_source() {
	two_batches
	# nothing after 13:10: the 13:00 window waits for a watermark of 14:00
	ok eg windows "$T/hourly.json"
	assert_not_contains "$OUT" '"window_start":"2025-01-01T13:00:00.000000Z"'
	ok eg append --heartbeat 2025-01-01T14:30:00Z
	assert_eq 8 "$(jget "$OUT" heartbeat_pos)" "the heartbeat's position"
	ok eg windows "$T/hourly.json" --explain
	assert_contains "$OUT" '"window_start":"2025-01-01T13:00:00.000000Z","window_end":"2025-01-01T14:00:00.000000Z","data.page_url":"/b","views":1,"users":1,"ms":0,"p95_ms":null,"revision":1,"final":false'
	assert_contains "$ERR" '"heartbeats":1,'
	assert_contains "$ERR" '"watermark":"2025-01-01T14:30:00.000000Z"'
	# as reported before the heartbeat: still waiting
	ok eg windows "$T/hourly.json" --as-reported-at "$(jget "$(eg --format ndjson read --from 7 --to 7)" recorded)"
	assert_not_contains "$OUT" '"window_start":"2025-01-01T13:00:00.000000Z"'
	assert_exit 2 eg append --heartbeat 2025-01-01T14:30:00Z --stream x
	assert_exit 2 eg append --heartbeat soon
}

test_watermark_heartbeats_waits_for_the_slowest_source() {
	# two partitions of a topic, as engram kafka import writes them: p0
	# is at 12:10 while p1 is still at 10:20; its heartbeats say 10:20
	cat >"$T/hb.json" <<'JSON'
{"types": ["v"], "window": {"tumble": "1h"}, "aggs": {"n": {"count": true}},
 "watermark": "heartbeats"}
JSON
	sed 's/"heartbeats"}$/"0s"}/' "$T/hb.json" >"$T/ev.json"
	ok eg append <<'EV'
{"stream":"p0","type":"v","time":"2025-01-01T10:00:00Z"}
{"stream":"p1","type":"v","time":"2025-01-01T10:20:00Z"}
{"stream":"p0","type":"v","time":"2025-01-01T12:10:00Z"}
{"stream":"engram.heartbeat","type":"engram.heartbeat","time":"2025-01-01T10:20:00Z"}
EV
	# by event time the 10:00 window is out before p1's late event
	ok eg windows "$T/ev.json"
	assert_contains "$OUT" '"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","n":2,"revision":1'
	ok eg windows "$T/hb.json" --explain
	assert_not_contains "$OUT" '"window_start"' "no window before the heartbeats reach an end"
	assert_contains "$ERR" '"watermark":"2025-01-01T10:20:00.000000Z"'
	# p1 catches up (a late event at 10:40, then 11:30); its heartbeat
	ok eg append <<'EV'
{"stream":"p1","type":"v","time":"2025-01-01T10:40:00Z"}
{"stream":"p1","type":"v","time":"2025-01-01T11:30:00Z"}
{"stream":"engram.heartbeat","type":"engram.heartbeat","time":"2025-01-01T11:30:00Z"}
EV
	ok eg windows "$T/hb.json"
	assert_eq '{"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","n":3,"revision":1,"final":true,"too_late":0}' "$OUT" "one revision, all three events"
	ok eg windows "$T/ev.json"
	assert_contains "$OUT" '"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","n":2,"revision":1,"final":true,"too_late":1' "by event time: p1's 10:40 came too late"
	assert_spec_error windows '{"window": {"tumble": "1h"}, "aggs": {"n": {"count": true}}, "watermark": "heartbeat"}' '$.watermark: expected a duration'
}

test_sessions_merge_and_the_later_one_is_retracted() {
	cat >"$T/sessions.json" <<'JSON'
{"window": {"session": "30m"}, "group_by": ["stream"], "aggs": {"n": {"count": true}},
 "allowed_lateness": "2h"}
JSON
	ok eg append <<'EV'
{"stream":"u1","type":"v","time":"2025-01-01T10:00:00Z"}
{"stream":"u1","type":"v","time":"2025-01-01T10:50:00Z"}
{"stream":"u2","type":"v","time":"2025-01-01T12:00:00Z"}
{"stream":"u1","type":"v","time":"2025-01-01T10:25:00Z"}
EV
	ok eg windows "$T/sessions.json" --changelog
	assert_eq 4 "$(printf '%s\n' "$OUT" | wc -l)" "changelog rows"
	local third fourth
	third=$(sed -n 3p <<<"$OUT") fourth=$(sed -n 4p <<<"$OUT")
	assert_contains "$third" '"window_start":"2025-01-01T10:50:00.000000Z","window_end":"2025-01-01T11:20:00.000000Z","stream":"u1","n":1,"revision":2,' "the later session"
	assert_contains "$third" '"pos":4,"retracted":true'
	assert_contains "$fourth" '"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:20:00.000000Z","stream":"u1","n":3,"revision":2,' "the merged session"
	assert_contains "$fourth" '"retracted":false'
	ok eg windows "$T/sessions.json"
	assert_eq '{"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:20:00.000000Z","stream":"u1","n":3,"revision":2,"final":false,"too_late":0}' "$OUT" "the table: one session for u1"
}

test_windows_explain_diff_names_the_late_events() {
	two_batches
	ok eg windows "$T/hourly.json" --explain-diff "$K" 2099-01-01T00:00:00Z
	assert_eq 2 "$(printf '%s\n' "$OUT" | wc -l)" "rows that differ"
	local first second
	first=$(sed -n 1p <<<"$OUT") second=$(sed -n 2p <<<"$OUT")
	assert_contains "$first" '"window_start":"2025-01-01T10:00:00.000000Z","window_end":"2025-01-01T11:00:00.000000Z","data.page_url":"/a","change":"changed","views":3,"users":3,"ms":600,"p95_ms":300,"revision":2,"too_late":1,"before":{"views":2,"users":2,"ms":400,"p95_ms":300},"before_revision":1,"before_too_late":0'
	assert_contains "$first" '"why":"views 2 -> 3, users 2 -> 3, ms 400 -> 600: 1 late event recorded after'
	assert_contains "$first" '; 1 event too late to count (figures kept)"'
	assert_contains "$first" '"events":[{"pos":5,' "the correcting event"
	assert_contains "$first" '{"pos":7,' "the too-late event"
	assert_contains "$second" '"window_start":"2025-01-01T11:00:00.000000Z"'
	assert_contains "$second" '"change":"new"'
	assert_contains "$second" '"before":null'
	# the same report twice: nothing differs
	ok eg windows "$T/hourly.json" --explain-diff "$K" "$K"
	assert_eq "" "$OUT" "no change between a report and itself"
	assert_exit 2 eg windows "$T/hourly.json" --explain-diff 2099-01-01T00:00:00Z "$K"
	assert_exit 2 eg windows "$T/hourly.json" --explain-diff "$K"
}

test_windows_resume_from_their_checkpoint() {
	two_batches
	ok eg windows "$T/hourly.json" --changelog --explain
	local whole=$OUT
	assert_contains "$ERR" '"resumed_from":0,"through_pos":7,'
	ok eg append <<'EV'
{"stream":"u5","type":"page_view","time":"2025-01-01T12:40:00Z","data":{"page_url":"/b","ms":50}}
EV
	ok eg windows "$T/hourly.json" --changelog --explain
	assert_contains "$ERR" '"resumed_from":7,"through_pos":8,' "only the new event taken"
	assert_eq "$whole" "$(head -n 3 <<<"$OUT")" "the changelog so far, unchanged"
	# 12:40 is before the watermark (13:00): the 12:00 window's first result
	assert_contains "$(tail -n 1 <<<"$OUT")" '"window_start":"2025-01-01T12:00:00.000000Z","window_end":"2025-01-01T13:00:00.000000Z","data.page_url":"/b","views":1,'
	local resumed=$OUT
	# a run from nothing gives the same changelog
	ok eg reindex
	ok eg windows "$T/hourly.json" --changelog --explain
	assert_contains "$ERR" '"resumed_from":0,"through_pos":8,'
	assert_eq "$resumed" "$OUT" "the changelog rebuilt from the log"
	# a damaged checkpoint is not trusted: the run starts again
	local d
	d=$(ls -d "$STORE"/idx/win/*/)
	printf 'garbage' >"$d/state"
	ok eg windows "$T/hourly.json" --changelog --explain
	assert_contains "$ERR" '"resumed_from":0,'
	assert_eq "$resumed" "$OUT" "the changelog after a damaged checkpoint"
}

test_windows_follow_prints_revisions_as_they_come() {
	two_batches
	timeout 20 "$ENGRAM" -d "$STORE" --format ndjson windows "$T/hourly.json" --changelog --follow \
		>"$T/follow.out" 2>"$T/follow.err" &
	local follower=$!
	trap 'kill $follower 2>/dev/null' EXIT
	wait_for 10 lines_at_least "$T/follow.out" 3 || fail "no changelog: $(cat "$T/follow.err")"
	ok eg append <<'EV'
{"stream":"u5","type":"page_view","time":"2025-01-01T11:40:00Z","data":{"page_url":"/b","ms":50}}
EV
	wait_for 10 lines_at_least "$T/follow.out" 4 ||
		fail "--follow printed no new revision: $(cat "$T/follow.out" "$T/follow.err")"
	kill $follower 2>/dev/null
	wait $follower 2>/dev/null
	trap - EXIT
	assert_contains "$(tail -n 1 "$T/follow.out")" '"data.page_url":"/b","views":2,'
	assert_contains "$(tail -n 1 "$T/follow.out")" '"revision":2,'
	# a restarted follower prints what an uninterrupted one would have
	ok eg windows "$T/hourly.json" --changelog
	assert_eq "$(cat "$T/follow.out")" "$OUT" "the changelog after a restart"
}

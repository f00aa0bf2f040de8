# t_sessions.sh — engram sessions: the sessions equal those of each stream's
# events sorted by time whatever order they were appended in, a late event
# merges two sessions (and --known-at shows them before it), checkpoints
# are used, rebuilt when damaged and dropped by reindex, the options
# select, bad flags are usage errors.

# The events as stored, for the python reference.
read_all() {
	ok_to "$T/events.ndjson" eg read
}

# check_against_replay GOT [GAP_US]: GOT equals sessionizing the stored events.
check_against_replay() {
	read_all
	py "$1" "$T/events.ndjson" "${2:-1800000000}" <<'EOF'
import sys
from e2e import *
check_sessions(sys.argv[1], sys.argv[2], int(sys.argv[3]))
EOF
}

test_sessions_equal_a_sorted_replay() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 6000 --users 300 --days 2 \
		--late 0.1 --dup 0.02 --seed 11
	# in three batches, with a query (and its checkpoint) after each
	head -n 2000 "$T/in.ndjson" >"$T/a"
	sed -n 2001,4000p "$T/in.ndjson" >"$T/b"
	tail -n +4001 "$T/in.ndjson" >"$T/c"
	for f in a b c; do
		ok eg append "$T/$f"
		ok_to "$T/got" eg sessions
		check_against_replay "$T/got"
	done
}

test_late_event_merges_two_sessions() {
	cat >"$T/a" <<'EOF'
{"id":"e1","stream":"u1","type":"page_view","time":"2025-03-01T10:00:00Z","session":"s1","data":{"page_url":"/home"}}
{"id":"e2","stream":"u1","type":"click","time":"2025-03-01T10:10:00Z","session":"s1","data":{"page_url":"/home"}}
{"id":"e3","stream":"u1","type":"page_view","time":"2025-03-01T11:00:00Z","session":"s2","data":{"page_url":"/cart"}}
EOF
	ok eg append "$T/a"
	ok eg sessions
	assert_eq 2 "$(count_lines "$T/.out")" "sessions before the late event"
	assert_eq "2025-03-01T10:00:00.000000Z 2025-03-01T10:10:00.000000Z 600 2 1 /home /home 1" \
		"$(jfields "$(head -n 1 "$T/.out")" start end duration events page_views entry_page exit_page client_sessions)" \
		"first session"
	sleep 0.01
	local k
	k=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
	sleep 0.01
	# a mobile event queued offline: 10:35 closes the 50-minute gap
	echo '{"id":"e4","stream":"u1","type":"screen_view","time":"2025-03-01T10:35:00Z","session":"s9","data":{"page_url":"/deals"}}' |
		ok eg append
	ok eg sessions --explain
	assert_eq 1 "$(count_lines "$T/.out")" "sessions after the late event"
	assert_eq "u1 2025-03-01T10:00:00.000000Z 2025-03-01T11:00:00.000000Z 3600 4 3 /home /cart 3" \
		"$(jfields "$OUT" stream start end duration events page_views entry_page exit_page client_sessions)" \
		"merged session"
	assert_match "$ERR" '"merged_by_late_events":1' "explain counts the merge"
	# as known before it: the two sessions of then
	ok eg sessions --known-at "$k"
	assert_eq 2 "$(count_lines "$T/.out")" "sessions known at $k"
	assert_eq "2025-03-01T11:00:00.000000Z 1 /cart" \
		"$(jfields "$(tail -n 1 "$T/.out")" start events entry_page)" "second session then"
	# an event of another stream does not join
	echo '{"id":"e5","stream":"u2","type":"page_view","time":"2025-03-01T10:20:00Z"}' | ok eg append
	ok eg sessions --stream u2
	assert_eq "u2 1 1 null" "$(jfields "$OUT" stream events page_views entry_page)" "u2"
}

test_sessions_use_and_rebuild_checkpoints() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 3000 --users 100 --late 0.05 --seed 5
	ok eg append "$T/in.ndjson"
	ok_to "$T/first" eg sessions --explain
	assert_match "$ERR" '"checkpoint_pos":0,"events_read":3000,"checkpoints_saved":1' "first run"
	ok_to "$T/second" eg sessions --explain
	assert_match "$ERR" '"checkpoint_pos":3000,"events_read":0' "from the checkpoint"
	assert_files_eq "$T/first" "$T/second" "the same sessions"
	"$ENGRAM" gen clickstream --events 3020 --users 100 --late 0.05 --seed 5 | tail -n 20 >"$T/more"
	ok eg append "$T/more"
	ok_to "$T/after" eg sessions --explain
	assert_match "$ERR" '"events_read":[0-9]+' "events read"
	[ "$(jget "$ERR" checkpoint_pos)" = 3000 ] || fail "did not resume from 3000: $ERR"
	[ "$(jget "$ERR" events_read)" = "$(( $(jget "$ERR" through) - 3000 ))" ] ||
		fail "read more than the new events: $ERR"
	check_against_replay "$T/after"
	# a damaged checkpoint is skipped: the state is rebuilt from the log
	local ck
	ck=$(ls "$STORE"/idx/sess/*/end-* | head -n 1)
	[ -f "$ck" ] || fail "no checkpoint file"
	flip_byte "$ck" 200
	ok_to "$T/third" eg sessions --explain
	assert_match "$ERR" '"checkpoint_pos":0,' "rebuilt from the log"
	assert_files_eq "$T/after" "$T/third" "the same sessions after the rebuild"
	ok eg reindex
	if ls "$STORE"/idx/sess/*/ | grep -qE '^(ck|end)-'; then
		fail "reindex left checkpoints"
	fi
}

test_sessions_options_select() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 4000 --users 200 --days 2 --late 0.05 --seed 2
	ok eg append "$T/in.ndjson"
	read_all
	ok_to "$T/gap" eg sessions --gap 5m
	ok_to "$T/types" eg sessions --type page_view,search,purchase --gap 10m
	ok_to "$T/pages" eg sessions --page-types page_view
	py "$T/events.ndjson" "$T/gap" "$T/types" "$T/pages" <<'EOF'
import sys
from e2e import *
ev = sys.argv[1]
check_sessions(sys.argv[2], ev, 300000000)
check_sessions(sys.argv[3], ev, 600000000, types={"page_view", "search", "purchase"})
check_sessions(sys.argv[4], ev, 1800000000, pages=("page_view",))
EOF
	# one stream; a range of starts
	ok_to "$T/all" eg sessions
	ok_to "$T/one" eg sessions --stream user-000007
	ok_to "$T/range" eg sessions --since 2025-01-01T12:00:00Z --until 2025-01-01T18:00:00Z
	py "$T/all" "$T/one" "$T/range" <<'EOF'
import sys
from e2e import *
a = load_ndjson(sys.argv[1])
one = [r for r in a if r["stream"] == "user-000007"]
got = load_ndjson(sys.argv[2])
check(one and got == one, "--stream: %d rows, expected %d" % (len(got), len(one)))
lo, hi = time_us("2025-01-01T12:00:00Z"), time_us("2025-01-01T18:00:00Z")
r = [x for x in a if lo <= time_us(x["start"]) <= hi]
got = load_ndjson(sys.argv[3])
check(r and len(r) < len(a) and got == r, "--since/--until: %d rows, expected %d" % (len(got), len(r)))
EOF
	ok eg sessions --format csv --stream user-000007
	assert_match "$OUT" '^stream,session,start,end,duration,events,page_views,entry_page,exit_page,client_sessions' \
		"csv header"
}

test_sessions_bad_flags_are_usage_errors() {
	echo '{"type":"page_view","stream":"u"}' | ok eg append
	assert_exit 2 eg sessions --gap 0
	assert_contains "$ERR" "--gap: expected a duration" "gap 0"
	assert_exit 2 eg sessions --gap soon
	assert_exit 2 eg sessions --since yesterday
	assert_exit 2 eg sessions --type ,
	assert_exit 2 eg sessions extra
	ok eg help sessions
	assert_contains "$OUT" "--known-at K" "help"
}

# t_gen_click.sh — engram gen clickstream: what it writes appends as is and
# the counts add up, resent lines are the store's duplicates, late events
# keep their place in the log, the Segment and Snowplow lines parse with
# their fields, bad flags are usage errors.

CLICK_TYPES="add_to_cart checkout login page_view product_click purchase screen_view search"

test_click_append_and_count() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 20000 --late 0.05 --dup 0.02 --seed 1
	local lines
	lines=$(count_lines "$T/in.ndjson")
	[ "$lines" -gt 20200 ] && [ "$lines" -lt 20800 ] ||
		fail "gen clickstream --events 20000 --dup 0.02 wrote $lines lines, expected about 20400"
	ok eg append "$T/in.ndjson"
	# the resent lines, and only they, are duplicates
	assert_eq "20000 $((lines - 20000)) 1 20000" \
		"$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	# engram types agrees with a count of the distinct events of the input
	py "$T/in.ndjson" >"$T/want" <<'EOF'
import sys, collections
from e2e import *
seen, n = set(), collections.Counter()
for e in load_ndjson(sys.argv[1]):
    if e["id"] not in seen:
        seen.add(e["id"])
        n[e["type"]] += 1
print(";".join("%s %d" % (t, n[t]) for t in sorted(n)) + ";")
print(len(set(e["stream"] for e in load_ndjson(sys.argv[1]))))
EOF
	ok eg types
	local types=$OUT got="" row
	while read -r row; do
		got+="$(jfields "$row" type events);"
	done <<<"$types"
	assert_eq "$(head -n 1 "$T/want")" "$got" "engram types"
	assert_eq "$CLICK_TYPES" "$(printf '%s\n' "$got" | tr ';' '\n' | cut -d' ' -f1 | xargs)" "event types"
	ok eg stats
	assert_eq "20000 8 $(tail -n 1 "$T/want")" "$(jfields "$OUT" events types streams)" "stats row"
	ok eg verify
}

# The log keeps the arrival order: late events sit after events that
# happened minutes to hours after them, come from the apps, and keep their
# own time; a session's events, sorted by time, walk page to page.
test_click_late_events_in_the_log() {
	"$ENGRAM" gen clickstream --events 20000 --late 0.1 --days 2 --seed 2 | eg append >/dev/null ||
		fail "gen clickstream | append failed"
	ok_to "$T/out.ndjson" eg read
	py "$T/out.ndjson" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check(len(rows) == 20000, "%d events read" % len(rows))
minute = 60 * 1000000
top, late = None, 0
for e in rows:
    t = time_us(e["time"])
    if top is not None and t <= top - minute:
        late += 1
        check(e["data"]["device"] != "web", "a web event is late: %s" % dumps(e))
        check(top - t <= 6 * 60 * minute + minute, "an event is %d minutes late" % ((top - t) // minute))
    top = t if top is None else max(top, t)
check(1600 <= late <= 2400, "%d of 20000 events are a minute or more late, expected about 2000" % late)
by = {}
for e in rows:
    by.setdefault(e["session"], []).append(e)
for s, evs in by.items():
    evs.sort(key=lambda e: time_us(e["time"]))
    check(len(set(e["stream"] for e in evs)) == 1, "session %s has several users" % s)
    url = None
    for e in evs:
        if e["type"] in ("page_view", "screen_view"):
            if url is not None:
                check(e["data"]["referrer"] == url, "session %s: %s after %s" % (s, e["data"]["referrer"], url))
            url = e["data"]["page_url"]
        else:
            check(e["data"]["page_url"] == url, "session %s: %s on %s" % (s, e["type"], url))
EOF
}

test_click_deterministic() {
	local f
	"$ENGRAM" gen clickstream --events 3000 --seed 7 >"$T/a" || fail "gen failed"
	"$ENGRAM" gen clickstream --events 3000 --seed 7 >"$T/b" || fail "gen failed"
	"$ENGRAM" gen clickstream --events 3000 --seed 8 >"$T/c" || fail "gen failed"
	"$ENGRAM" gen clickstream --events 3000 --seed 7 --late 0.3 >"$T/d" || fail "gen failed"
	"$ENGRAM" gen clickstream --events 3000 --seed 7 --late 0.3 --dup 0.1 >"$T/e" || fail "gen failed"
	assert_files_eq "$T/a" "$T/b" "gen clickstream with the same seed"
	if cmp -s "$T/a" "$T/c"; then
		fail "gen clickstream with seeds 7 and 8 printed the same events"
	fi
	if cmp -s "$T/a" "$T/d"; then
		fail "gen clickstream --late 0.3 printed the lines in the same order"
	fi
	# --late only changes the order of the lines, --dup only repeats some
	sort "$T/a" >"$T/a.sorted"
	sort "$T/d" >"$T/d.sorted"
	sort -u "$T/e" >"$T/e.sorted"
	assert_files_eq "$T/a.sorted" "$T/d.sorted" "gen clickstream with and without --late, sorted"
	assert_files_eq "$T/a.sorted" "$T/e.sorted" "gen clickstream with and without --dup, sorted, unique"
	for f in segment snowplow; do
		"$ENGRAM" gen clickstream --events 3000 --seed 7 --format "$f" >"$T/$f.1" || fail "gen failed"
		"$ENGRAM" gen clickstream --events 3000 --seed 7 --format "$f" >"$T/$f.2" || fail "gen failed"
		assert_files_eq "$T/$f.1" "$T/$f.2" "gen clickstream --format $f with the same seed"
	done
}

# Segment and Snowplow lines are JSON with the fields their specs require,
# one per event of the engram format, in the same order.
test_click_segment_and_snowplow_parse() {
	local f
	for f in engram segment snowplow; do
		ok_to "$T/$f" "$ENGRAM" gen clickstream --events 5000 --late 0.1 --dup 0.05 --seed 3 --format "$f"
	done
	py "$T/engram" "$T/segment" "$T/snowplow" <<'EOF'
import sys
from e2e import *
eng, seg, sp = (load_ndjson(p) for p in sys.argv[1:4])
check(len(eng) == len(seg) == len(sp), "%d, %d and %d lines" % (len(eng), len(seg), len(sp)))
kinds = {"page_view": "page", "screen_view": "screen", "login": "identify"}
for e, s, p in zip(eng, seg, sp):
    check(s["messageId"] == e["id"] == p["event_id"], "ids %s %s %s" % (e["id"], s["messageId"], p["event_id"]))
    check(s["type"] == kinds.get(e["type"], "track"), "Segment type %s for %s" % (s["type"], e["type"]))
    for k in ("anonymousId", "timestamp", "sentAt", "context"):
        check(k in s, "Segment message without %s: %s" % (k, dumps(s)[:300]))
    check(s["type"] != "track" or "event" in s, "track without event: %s" % dumps(s)[:300])
    check(s["type"] not in ("page", "screen") or "name" in s, "page without name: %s" % dumps(s)[:300])
    check(s["type"] == "identify" or "properties" in s, "no properties: %s" % dumps(s)[:300])
    check(s.get("userId", e["stream"]) == e["stream"], "userId %s of %s" % (s.get("userId"), e["stream"]))
    check(s["context"]["device"]["type"] == e["data"]["device"], "device %s" % dumps(s["context"]))
    check(s["context"]["page"]["url"] == e["data"]["page_url"], "page %s" % dumps(s["context"]))
    check(time_us(s["timestamp"]) == time_us(e["time"]) // 1000 * 1000, "timestamp %s, time %s" % (s["timestamp"], e["time"]))
    for k in ("app_id", "platform", "collector_tstamp", "dvce_created_tstamp", "dvce_sent_tstamp",
              "derived_tstamp", "event", "event_name", "event_vendor", "domain_userid",
              "domain_sessionid", "domain_sessionidx", "page_url"):
        check(k in p, "Snowplow event without %s: %s" % (k, dumps(p)[:300]))
    check(p["platform"] == ("web" if e["data"]["device"] == "web" else "mob"), "platform %s" % p["platform"])
    check(p["domain_sessionid"] == e["session"], "domain_sessionid %s" % p["domain_sessionid"])
    check(p.get("user_id", e["stream"]) == e["stream"], "user_id %s" % p.get("user_id"))
    check(time_us(p["dvce_created_tstamp"]) <= time_us(p["dvce_sent_tstamp"]) < time_us(p["collector_tstamp"]),
          "Snowplow times %s" % dumps(p)[:300])
    if p["event"] == "struct":
        check("se_category" in p and "se_action" in p, "struct event: %s" % dumps(p)[:300])
    elif p["event"] == "unstruct":
        ue = p["unstruct_event"]["data"]
        check(ue["schema"].startswith("iglu:") and isinstance(ue["data"], Obj), "unstruct_event %s" % dumps(ue))
    else:
        check(p["event"] == "page_view" == e["type"], "Snowplow event %s for %s" % (p["event"], e["type"]))
EOF
	# only the engram format is an engram envelope
	assert_exit 1 eg append "$T/segment"
	assert_contains "$ERR" "messageId" "stderr of appending Segment messages"
}

test_click_start_and_days() {
	ok_to "$T/in" "$ENGRAM" gen clickstream --events 20000 --start 2030-06-01T00:00:00Z --days 2 --users 300 --seed 4
	py "$T/in" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
start = time_us("2030-06-01T00:00:00Z")
ts = [time_us(e["time"]) for e in rows]
hour = 3600 * 1000000
check(min(ts) >= start, "first event at %s" % fmt_us(min(ts)))
check(40 * hour <= max(ts) - start <= 56 * hour, "last event at %s, expected about 2 days later" % fmt_us(max(ts)))
users = set(e["stream"] for e in rows)
check(250 <= len(users) <= 300 and all(u.startswith("user-") and len(u) == 11 for u in users),
      "%d users: %s" % (len(users), sorted(users)[:5]))
EOF
}

test_click_bad_flags() {
	local v f
	for f in --late --dup; do
		for v in 1.5 -0.1 abc nan '' 0.5x; do
			assert_exit 2 "$ENGRAM" gen clickstream --events 10 "$f" "$v"
			assert_contains "$ERR" "$f" "stderr of $f '$v'"
			assert_eq "" "$OUT" "stdout of $f '$v'"
		done
	done
	assert_exit 2 "$ENGRAM" gen clickstream --events 10 --format xml
	assert_contains "$ERR" "engram, segment or snowplow" "stderr of --format xml"
	assert_exit 2 "$ENGRAM" gen clickstream --events 10 --format csv
	for v in 0 abc -5 100000001; do
		assert_exit 2 "$ENGRAM" gen clickstream --events 10 --users "$v"
		assert_contains "$ERR" "--users" "stderr of --users '$v'"
	done
	for v in 0 abc 36501; do
		assert_exit 2 "$ENGRAM" gen clickstream --events 10 --days "$v"
		assert_contains "$ERR" "--days" "stderr of --days '$v'"
	done
	assert_exit 2 "$ENGRAM" gen clickstream --events 10 --start yesterday
	assert_contains "$ERR" "--start" "stderr of --start yesterday"
	assert_exit 2 "$ENGRAM" gen clickstream
	assert_contains "$ERR" "--events" "stderr without --events"
	assert_exit 2 "$ENGRAM" gen clickstream --events 10 --accounts 5
	for f in "--users 5" "--dup 0.1" "--days 3" "--format segment"; do
		# shellcheck disable=SC2086
		assert_exit 2 "$ENGRAM" gen orders --events 10 $f
		assert_contains "$ERR" "gen clickstream only" "stderr of gen orders $f"
	done
	assert_exit 2 "$ENGRAM" gen nosuch --events 5
	assert_contains "$ERR" "expected bank, orders, clickstream, labels" "stderr of an unknown kind"
	# the output format gen has always written is still accepted
	ok "$ENGRAM" gen bank --events 3 --format ndjson
	ok "$ENGRAM" gen clickstream --events 10 --late 1 --dup 1
	assert_eq 20 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" "lines of --late 1 --dup 1"
	ok "$ENGRAM" gen clickstream --events 0
	assert_eq "" "$OUT" "gen clickstream --events 0"
}

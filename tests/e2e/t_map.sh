# t_map.sh — engram append --map: Segment and Snowplow lines from gen
# clickstream land as the engram format of the same seed does (per id: the
# stream, the time, the session, the page), a user's mapping file, the
# mappings printed in docs/MAPPING.md map as the built-ins, bad mapping files
# exit 2 naming the member, a mapped line without a type exits 1 naming its
# line and writes nothing, and --skip-invalid keeps the producer's line.

MAP_EVENTS=3000

# gen_formats SEED: $T/engram.ndjson and $T/FORMAT.ndjson for both formats.
gen_formats() {
	local f
	for f in engram segment snowplow; do
		ok_to "$T/$f.ndjson" "$ENGRAM" gen clickstream --events $MAP_EVENTS --late 0.05 --seed "$1" --format $f
	done
}

test_segment_lands_as_the_engram_format_of_the_same_seed() {
	gen_formats 11
	ok eg append --map segment "$T/segment.ndjson"
	assert_eq "$MAP_EVENTS 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok_to "$T/read.ndjson" eg read
	py "$T/engram.ndjson" "$T/segment.ndjson" "$T/read.ndjson" <<'EOF'
import sys
from e2e import *
eng = {e["id"]: e for e in load_ndjson(sys.argv[1])}
src = {e["messageId"]: e for e in load_ndjson(sys.argv[2])}
got = load_ndjson(sys.argv[3])
check(len(got) == len(eng) == len(src), "counts %d %d %d" % (len(got), len(eng), len(src)))
users = sessions = 0
for g in got:
    e, s = eng[g["id"]], src[g["id"]]
    # time to the millisecond (Segment's timestamps have millis)
    check(time_us(g["time"]) == time_us(e["time"]) // 1000 * 1000,
          "%s: time %s, engram %s" % (g["id"], g["time"], e["time"]))
    if s.get("userId") is not None:
        users += 1
        check(g["stream"] == e["stream"] and g["actor"] == e["stream"],
              "%s: stream %s actor %s, engram %s" % (g["id"], g["stream"], g["actor"], e["stream"]))
    else:
        check(g["stream"] == s["anonymousId"] and g["actor"] is None,
              "%s: anonymous stream %s actor %s" % (g["id"], g["stream"], g["actor"]))
    if s["type"] != "identify":
        sessions += 1
        check(g["session"] == e["session"], "%s: session %s, engram %s" % (g["id"], g["session"], e["session"]))
    check(g["data"]["page_url"] == e["data"]["page_url"],
          "%s: page_url %s, engram %s" % (g["id"], g["data"]["page_url"], e["data"]["page_url"]))
    check(g["data"]["device"] == e["data"]["device"], "%s: device" % g["id"])
    check(g["data"]["referrer"] == e["data"]["referrer"],
          "%s: referrer %s, engram %s" % (g["id"], g["data"].get("referrer"), e["data"]["referrer"]))
    want_type = s.get("event") or s.get("name") or s["type"]
    check(g["type"] == want_type, "%s: type %s, want %s" % (g["id"], g["type"], want_type))
    check(g["meta"]["type"] == s["type"] and g["meta"]["anonymousId"] == s["anonymousId"],
          "%s: meta %s" % (g["id"], dumps(g["meta"])))
check(users > 100 and sessions > 1000, "too few users (%d) or sessions (%d) to mean much" % (users, sessions))
EOF
}

test_snowplow_lands_as_the_engram_format_of_the_same_seed() {
	gen_formats 12
	ok eg append --map snowplow "$T/snowplow.ndjson"
	assert_eq "$MAP_EVENTS 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok_to "$T/read.ndjson" eg read
	py "$T/engram.ndjson" "$T/snowplow.ndjson" "$T/read.ndjson" <<'EOF'
import sys
from e2e import *
eng = {e["id"]: e for e in load_ndjson(sys.argv[1])}
src = {e["event_id"]: e for e in load_ndjson(sys.argv[2])}
got = load_ndjson(sys.argv[3])
check(len(got) == len(eng) == len(src), "counts %d %d %d" % (len(got), len(eng), len(src)))
users = 0
for g in got:
    e, s = eng[g["id"]], src[g["id"]]
    # derived_tstamp: the device's time plus the network's 20-250 ms
    check(time_us(g["time"]) == time_us(s["derived_tstamp"]), "%s: time %s" % (g["id"], g["time"]))
    lag = time_us(g["time"]) - time_us(e["time"]) // 1000 * 1000
    check(0 <= lag <= 250000, "%s: time %s is %d us after engram's %s" % (g["id"], g["time"], lag, e["time"]))
    check(time_us(s["dvce_created_tstamp"]) == time_us(e["time"]) // 1000 * 1000, "%s: dvce time" % g["id"])
    if s.get("user_id") is not None:
        users += 1
        check(g["stream"] == e["stream"] and g["actor"] == e["stream"], "%s: stream %s" % (g["id"], g["stream"]))
    else:
        check(g["stream"] == s["domain_userid"], "%s: stream %s" % (g["id"], g["stream"]))
    check(g["session"] == e["session"], "%s: session %s, engram %s" % (g["id"], g["session"], e["session"]))
    check(g["data"]["page_url"] == e["data"]["page_url"], "%s: page_url" % g["id"])
    check(g["type"] == s["event_name"], "%s: type %s" % (g["id"], g["type"]))
    if e["type"] == "search":
        check(g["data"]["totalResults"] == e["data"]["results"], "%s: search results" % g["id"])
    if e["type"] == "product_click":
        check(g["data"]["se_label"] == e["data"]["product_id"], "%s: se_label" % g["id"])
check(users > 100, "too few users (%d) to mean much" % users)
EOF
}

# A producer of its own shape (a Kafka Connect record, say) with a mapping
# file: nested paths, fallbacks, an array index, a constant, a spread.
test_user_mapping_file() {
	cat >"$T/map.json" <<'EOF'
{
  "id": "value.uuid",
  "stream": ["value.account", "key"],
  "type": ["value.kind", {"value": "unknown"}],
  "time": "value.at",
  "kind": {"value": "event"},
  "data": {"*": "value.fields", "first_tag": "value.tags.0", "source": {"value": "kafka"}},
  "meta": {"topic": "topic", "partition": "partition", "offset": "offset"}
}
EOF
	printf '%s\n' \
		'{"topic":"t","partition":3,"offset":41,"key":"acct-9","value":{"uuid":"u-1","account":"acct-1","kind":"deposit","at":"2025-01-17 11:15:18.940","fields":{"amount":5},"tags":["a","b"]}}' \
		'{"topic":"t","partition":3,"offset":42,"key":"acct-9","value":{"uuid":"u-2","at":1737112518940,"fields":{"amount":7,"source":"x"}}}' \
		>"$T/in.ndjson"
	ok eg append --map "$T/map.json" "$T/in.ndjson"
	assert_eq "2 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok eg read
	assert_eq '{"id":"u-1","stream":"acct-1","type":"deposit","kind":"event","time":"2025-01-17T11:15:18.940000Z","data":{"amount":5,"first_tag":"a","source":"kafka"},"meta":{"topic":"t","partition":3,"offset":41}}
{"id":"u-2","stream":"acct-9","type":"unknown","kind":"event","time":"2025-01-17T11:15:18.940000Z","data":{"amount":7,"source":"kafka"},"meta":{"topic":"t","partition":3,"offset":42}}' \
		"$(printf '%s\n' "$OUT" | sed -E 's/"pos":[0-9]+,//; s/,"version":[0-9]+//; s/,"recorded":"[^"]*"//; s/,"actor":null,"session":null//')" "events read"
}

# The mappings printed in docs/MAPPING.md, used as files, give the same
# events as the built-ins: the documentation is the real thing.
test_documented_mappings_map_as_the_builtins() {
	local doc=$E2E_DIR/../../docs/MAPPING.md f
	[ -f "$doc" ] || fail "no docs/MAPPING.md"
	for f in segment snowplow; do
		# the ```json block after the line "<!-- map: NAME -->"
		awk -v m="<!-- map: $f -->" '$0 == m { on = 1; next } on && /^```json/ { p = 1; next }
			p && /^```/ { exit } p { print }' "$doc" >"$T/$f.json"
		[ -s "$T/$f.json" ] || fail "docs/MAPPING.md has no mapping block for $f"
		ok_to "$T/$f.ndjson" "$ENGRAM" gen clickstream --events 500 --seed 13 --format $f
		ok "$ENGRAM" -d "$T/builtin-$f" append --map $f "$T/$f.ndjson"
		ok "$ENGRAM" -d "$T/doc-$f" append --map "$T/$f.json" "$T/$f.ndjson"
		ok_to "$T/a" "$ENGRAM" -d "$T/builtin-$f" read
		ok_to "$T/b" "$ENGRAM" -d "$T/doc-$f" read
		sed -i -E 's/"recorded":"[^"]*"//' "$T/a" "$T/b"
		assert_files_eq "$T/a" "$T/b" "events of --map $f and of its documented file"
	done
}

# map_error JSON EXPECTED: --map FILE with that mapping exits 2 with
# "FILE: EXPECTED" and creates no store.
map_error() {
	printf '%s' "$1" >"$T/bad.json"
	printf '%s\n' '{"type":"page"}' >"$T/in.ndjson"
	assert_exit 2 eg append --map "$T/bad.json" "$T/in.ndjson"
	assert_contains "$ERR" "$T/bad.json: $2" "error for mapping $1"
	[ ! -e "$STORE" ] || fail "a bad mapping created the store"
}

test_bad_mapping_files_exit_2_naming_the_member() {
	map_error '{"stream": 5}' 'stream: expected a path or an array of paths'
	map_error '{"type": "t", "colour": "c"}' 'colour: unknown envelope field'
	map_error '{"stream": ["userId", ""]}' 'stream[1]: expected a path, got an empty string'
	map_error '{"session": "a..b"}' 'session: path "a..b" has an empty member name'
	map_error '{"data": {"page_url": 1}}' 'data.page_url: expected a path or an array of paths'
	map_error '{"type": {"value": 3}}' 'type.value: expected a string'
	map_error '{"type": "a", "type": "b"}' 'type: given twice'
	map_error '{"type": "a"' 'invalid JSON'
}

test_unknown_mapping_name_exits_2() {
	printf '%s\n' '{"type":"page"}' >"$T/in.ndjson"
	assert_exit 2 eg append --map amplitude "$T/in.ndjson"
	assert_contains "$ERR" "--map amplitude: no such built-in mapping (segment, snowplow)" "stderr"
	assert_exit 2 eg append --map segment --heartbeat 2025-01-01T00:00:00Z
}

# Three Segment calls, the second without event, name or type.
mapped_input() {
	printf '%s\n' \
		'{"messageId":"m1","type":"track","event":"A","userId":"u1","timestamp":"2025-01-01T00:00:00Z"}' \
		'{"messageId":"m2","userId":"u1","timestamp":"2025-01-01T00:00:01Z","properties":{"x":1}}' \
		'{"messageId":"m3","type":"page","name":"B","userId":"u1","timestamp":"2025-01-01T00:00:02Z"}' \
		>"$T/in.ndjson"
}

test_mapped_line_without_type_exits_1_naming_its_line_and_writes_nothing() {
	mapped_input
	assert_exit 1 eg append --map segment "$T/in.ndjson"
	assert_contains "$ERR" 'line 2: field "type": none of event, name, type is present' "stderr"
	assert_exit 0 eg stats
	assert_eq "0" "$(jfields "$OUT" events)" "events after a refused batch"
	# a mapped field of the wrong type names its source path
	printf '%s\n' '{"type":"page","userId":{"id":1}}' >"$T/in2.ndjson"
	assert_exit 1 eg append --map segment "$T/in2.ndjson"
	assert_contains "$ERR" 'line 1: field "stream" (from userId): expected a string' "stderr"
	# --type gives the missing type
	ok eg append --map segment --type unknown "$T/in.ndjson"
	assert_eq "3" "$(jfields "$OUT" appended)" "appended with --type"
}

test_skip_invalid_keeps_the_producers_line() {
	mapped_input
	ok eg append --map segment --skip-invalid "$T/rejects.ndjson" "$T/in.ndjson"
	assert_eq "2 1" "$(jfields "$OUT" appended rejected)" "append row"
	py "$T/rejects.ndjson" "$T/in.ndjson" <<'EOF'
import sys
from e2e import *
rej = load_ndjson(sys.argv[1])
line2 = open(sys.argv[2]).read().split("\n")[1]
check(len(rej) == 1, "%d rejects" % len(rej))
check(rej[0]["line"] == Num("2"), "line %s" % rej[0]["line"])
check(rej[0]["input"] == line2, "input %r" % rej[0]["input"])
check("none of event, name, type" in rej[0]["reason"], "reason %r" % rej[0]["reason"])
EOF
	ok eg read
	assert_eq "A B" "$(printf '%s\n' "$OUT" | while read -r l; do jfields "$l" type; done | xargs)" "types stored"
}

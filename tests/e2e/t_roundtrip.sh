# t_roundtrip.sh — what goes in comes back out, field by field.

# Compare engram read output ($2) with the NDJSON input ($1) that was
# appended as one batch to an empty store, field by field.
check_roundtrip() {
	py "$1" "$2" <<'EOF'
import sys, collections
from e2e import *
inp = load_ndjson(sys.argv[1])
out = load_ndjson(sys.argv[2])
check(len(out) == len(inp), "read printed %d events, %d were appended" % (len(out), len(inp)))
versions = collections.Counter()
recorded = None
trailing_zero = 0
for i, (a, e) in enumerate(zip(inp, out)):
    # plain ifs: the messages are built only on failure
    w = "event %d (id %s)" % (i + 1, a.get("id"))
    if i < 1000 or i % 997 == 0:
        check_event_shape(e, w)
    if int(e["pos"]) != i + 1:
        die("%s: pos %s, expected %d (dense from 1)" % (w, e["pos"], i + 1))
    if e.keys() != EVENT_FIELDS:
        die("%s: fields %s" % (w, e.keys()))
    for k in ("id", "stream", "type", "actor"):
        if e[k] != a.get(k):
            die("%s: %s is %r, appended %r" % (w, k, e[k], a.get(k)))
    if e["kind"] != a.get("kind", "event"):
        die("%s: kind %r" % (w, e["kind"]))
    if e["session"] != a.get("session"):
        die("%s: session %r" % (w, e["session"]))
    if e["meta"] != a.get("meta"):
        die("%s: meta %s" % (w, dumps(e["meta"])))
    if e["time"] != norm_time(a["time"]):
        die("%s: time %s, appended %s" % (w, e["time"], a["time"]))
    if e["data"] != a["data"]:
        die("%s: data differs (keys, order, number text or strings):\n in:  %s\n out: %s" % (w, dumps(a["data"]), dumps(e["data"])))
    versions[a["stream"]] += 1
    if int(e["version"]) != versions[a["stream"]]:
        die("%s: version %s in stream %s, expected %d" % (w, e["version"], a["stream"], versions[a["stream"]]))
    if recorded is not None and e["recorded"] != recorded:
        die("%s: recorded %s differs within one batch (%s)" % (w, e["recorded"], recorded))
    recorded = e["recorded"]
    trailing_zero += sum(1 for k, v in a["data"] if isinstance(v, Num) and "." in v and v.endswith("0"))
check(trailing_zero > 0, "the input has no number like 100.00: the number-text check proves nothing")
check(len(versions) > 1 and max(versions.values()) > 2, "the input has too few streams with several events")
EOF
}

test_bank_100k() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen bank --events 100000 --accounts 2000 --seed 42
	assert_eq 100000 "$(count_lines "$T/in.ndjson")" "gen bank --events 100000 lines"
	ok eg append "$T/in.ndjson"
	assert_eq "100000 0 1 100000" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	local hash
	hash=$(jget "$OUT" head)
	assert_match "$hash" '^[0-9a-f]{64}$' "head hash in the append row"
	ok_to "$T/out.ndjson" eg read
	check_roundtrip "$T/in.ndjson" "$T/out.ndjson"
	assert_eq "100000 $hash" "$(head_of)" "engram head"
	ok eg verify
	assert_eq "100000 100000 $hash" "$(jfields "$OUT" events head_pos hash)" "verify row"
}

test_gen_deterministic() {
	"$ENGRAM" gen bank --events 3000 --accounts 50 --seed 7 >"$T/a" || fail "gen failed"
	"$ENGRAM" gen bank --events 3000 --accounts 50 --seed 7 >"$T/b" || fail "gen failed"
	"$ENGRAM" gen bank --events 3000 --accounts 50 --seed 8 >"$T/c" || fail "gen failed"
	assert_files_eq "$T/a" "$T/b" "gen bank with the same seed"
	if cmp -s "$T/a" "$T/c"; then
		fail "gen bank with seeds 7 and 8 printed the same events"
	fi
	py "$T/a" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check(len(rows) == 3000, "%d events" % len(rows))
streams = {r["stream"] for r in rows}
closed = sum(1 for r in rows if r["type"] == "account_closed")
check(len(streams) <= 50 + closed, "--accounts 50 gave %d streams (%d closed)" % (len(streams), closed))
types = {r["type"] for r in rows}
check({"account_opened", "deposit", "withdrawal"} <= types, "types %s" % types)
EOF
}

test_odd_input() {
	# Escapes, unicode, odd numbers, nesting, time offsets and millis,
	# generated ids and times, kinds and meta.
	cat >"$T/in.ndjson" <<'EOF'
{"id":"odd-1","stream":"caf\u00e9","type":"t\"q","actor":"a\\b","session":"s\nl","time":"2025-03-01T12:00:00+05:30","data":{"s":"\u00e9 \ud83d\ude00 \" \\ \n \t \/ \u0001 x","e":"é😀","n":[1e5,-0.5,12345678901234567890,0,-0,1.0E-7,100.00,1E+2],"o":{"z":1,"a":{"b":[[],{},[{"c":null}]]}},"t":true,"f":false,"nl":null,"":"empty key"},"meta":{"corr":"x","n":1}}
{"id":"odd-2","stream":"metrics","type":"cpu","kind":"metric","time":1735689600123,"data":{"value":0.25}}
{"stream":"errs","type":"boom","kind":"error","data":{"message":"x"}}
{"id":"odd-4","stream":"errs","type":"neg","time":"2024-12-31T23:59:59.5-01:00","data":{}}
{"id":"ODD-UPPER-ID","type":"u","kind":"event","time":"2025-01-01T00:00:00.000001Z"}
{"id":"01234567-89AB-CDEF-0123-456789ABCDEF","stream":"caf\u00e9","type":"u","time":"2025-06-30T23:59:59.999999+00:00","data":{"k":"v"}}
{"id":"0190f4c2-1234-7abc-8def-0123456789ab","type":"lower-uuid","time":"2025-01-01T00:00:00Z"}
{"id":"odd-8","type":"spaces", "time" : "2025-01-01T10:00:00Z" , "data" : { "a" : 1 , "b" : [ 1 , 2 ] } }
EOF
	ok eg append "$T/in.ndjson"
	assert_eq "8 0 1 8" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	ok eg read
	printf '%s\n' "$OUT" >"$T/out.ndjson"
	py "$T/in.ndjson" "$T/out.ndjson" <<'EOF'
import sys, re, datetime
from e2e import *
inp = load_ndjson(sys.argv[1])
out = load_ndjson(sys.argv[2])
check(len(out) == len(inp), "%d events read, %d appended" % (len(out), len(inp)))
for i, (a, e) in enumerate(zip(inp, out)):
    w = "line %d" % (i + 1)
    check_event_shape(e, w)
    check(int(e["pos"]) == i + 1, "%s: pos %s" % (w, e["pos"]))
    for k in ("stream", "type", "actor", "session"):
        want = a.get(k)
        if k == "stream" and want is None:  # no stream: empty (or null)
            check(e[k] in ("", None), "%s: stream %r, none was given" % (w, e[k]))
            continue
        check(e[k] == want, "%s: %s is %r, appended %r" % (w, k, e[k], want))
    check(e["kind"] == a.get("kind", "event"), "%s: kind %r" % (w, e["kind"]))
    check(e["data"] == a.get("data", Obj()), "%s: data differs:\n in:  %s\n out: %s" % (w, dumps(a.get("data", Obj())), dumps(e["data"])))
    check(e["meta"] == a.get("meta"), "%s: meta %s" % (w, dumps(e["meta"])))
    if "id" in a:
        check(e["id"] == a["id"], "%s: id %r, appended %r" % (w, e["id"], a["id"]))
    if "time" in a:
        check(e["time"] == norm_time(a["time"]), "%s: time %s, expected %s" % (w, e["time"], norm_time(a["time"])))
    else:
        check(e["time"] == e["recorded"], "%s: no time given, time %s != recorded %s" % (w, e["time"], e["recorded"]))

# spot checks written out by hand
o = out[0]
check(o["stream"] == "caf\u00e9" and o["type"] == 't"q' and o["actor"] == "a\\b" and o["session"] == "s\nl", "line 1 strings: %s" % dumps(o))
check(o["time"] == "2025-03-01T06:30:00.000000Z", "+05:30 not normalised to UTC: %s" % o["time"])
check(o["data"]["s"] == "\u00e9 \U0001F600 \" \\ \n \t / \x01 x", "escapes decoded to %r" % o["data"]["s"])
check(o["data"]["e"] == "\u00e9\U0001F600", "raw UTF-8 came back as %r" % o["data"]["e"])
check([str.__str__(x) for x in o["data"]["n"]] == ["1e5", "-0.5", "12345678901234567890", "0", "-0", "1.0E-7", "100.00", "1E+2"],
      "number text changed: %s" % dumps(o["data"]["n"]))
check(o["data"].keys() == ["s", "e", "n", "o", "t", "f", "nl", ""], "data key order: %s" % o["data"].keys())
check(out[1]["time"] == "2025-01-01T00:00:00.123000Z", "millis time 1735689600123 read as %s" % out[1]["time"])
check(out[1]["kind"] == "metric" and out[2]["kind"] == "error", "kinds %s %s" % (out[1]["kind"], out[2]["kind"]))
check(out[3]["time"] == "2025-01-01T00:59:59.500000Z", "-01:00 time read as %s" % out[3]["time"])
check(out[5]["time"] == "2025-06-30T23:59:59.999999Z", "+00:00 time read as %s" % out[5]["time"])

# the generated id: a UUIDv7 whose timestamp is the recorded time
g = out[2]
m = re.match(r"^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", g["id"])
check(m, "generated id %r is not a lowercase UUIDv7" % g["id"])
ms = int(m.group(1) + m.group(2), 16)
rec_ms = time_us(g["recorded"]) // 1000
check(abs(ms - rec_ms) < 60000, "UUIDv7 time %d ms is far from recorded %s" % (ms, g["recorded"]))
check(g["time"] == g["recorded"], "missing time: time %s != recorded %s" % (g["time"], g["recorded"]))
now = datetime.datetime.now(datetime.timezone.utc)
check(abs(time_us(g["recorded"]) - (now - EPOCH) // datetime.timedelta(microseconds=1)) < 600 * 10**6,
      "recorded %s is not close to now" % g["recorded"])
# versions: per stream, in input order
check([int(e["version"]) for e in out[:4]] == [1, 1, 1, 2], "versions %s" % [e["version"] for e in out[:4]])
check(int(out[5]["version"]) == 2, "second event of stream café has version %s" % out[5]["version"])
EOF
	# The same store answers the same after reopening for a write.
	ok eg append <<<'{"id":"odd-9","type":"x"}'
	ok eg read --to 8
	printf '%s\n' "$OUT" >"$T/out2.ndjson"
	assert_files_eq "$T/out.ndjson" "$T/out2.ndjson" "read before and after another append"
}

test_sizes() {
	# id of exactly 64 bytes is accepted; a 256 KiB data string round trips.
	local id64
	id64=$(printf 'i%.0s' $(seq 64))
	"$PYTHON" - "$id64" >"$T/in.ndjson" <<'EOF'
import json, sys
big = "".join(chr(0x20 + (i * 7) % 90) for i in range(262144))
print(json.dumps({"id": sys.argv[1], "type": "t", "data": {"big": big}}, separators=(",", ":")))
print(json.dumps({"id": "é" * 32, "type": "t"}, ensure_ascii=False))
EOF
	ok eg append "$T/in.ndjson"
	assert_eq "2 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok eg read
	printf '%s\n' "$OUT" >"$T/out.ndjson"
	py "$T/in.ndjson" "$T/out.ndjson" <<'EOF'
import sys
from e2e import *
inp, out = load_ndjson(sys.argv[1]), load_ndjson(sys.argv[2])
check(len(out) == 2, "%d events" % len(out))
for a, e in zip(inp, out):
    check(e["id"] == a["id"], "id %r != %r" % (e["id"][:80], a["id"][:80]))
    check(e["data"] == a.get("data", Obj()), "data differs (%d vs %d chars)" % (len(dumps(e["data"])), len(dumps(a.get("data", Obj())))))
EOF
}

test_time_extremes() {
	# the first and last representable instants, and times before 1970
	cat >"$T/in.ndjson" <<'EOF'
{"id":"t1","type":"t","time":"0000-01-01T00:00:00Z"}
{"id":"t2","type":"t","time":"9999-12-31T23:59:59.999999Z"}
{"id":"t3","type":"t","time":-1}
{"id":"t4","type":"t","time":"1969-12-31T23:59:59.000001Z"}
{"id":"t5","type":"t","time":"9999-12-31T23:59:59.999999+00:00"}
{"id":"t6","type":"t","time":"2000-02-29T12:00:00.1+14:00"}
{"id":"t7","type":"t","time":0}
EOF
	ok eg append "$T/in.ndjson"
	ok eg read
	assert_eq "0000-01-01T00:00:00.000000Z 9999-12-31T23:59:59.999999Z 1969-12-31T23:59:59.999000Z 1969-12-31T23:59:59.000001Z 9999-12-31T23:59:59.999999Z 2000-02-28T22:00:00.100000Z 1970-01-01T00:00:00.000000Z" \
		"$(printf '%s\n' "$OUT" | grep -oE '"time":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//')" "times read"
	ok eg read --since 1969-12-31T23:59:59.999Z --until 1970-01-01T00:00:00Z
	assert_eq "t3 t7" "$(printf '%s\n' "$OUT" | grep -oE '"id":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//')" "read around the epoch"
}

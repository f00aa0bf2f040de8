# t_invalid.sh — an invalid line refuses the whole batch; --skip-invalid.

# A store with three events; remembers its head and read.
setup_base() {
	printf '%s\n' '{"id":"b1","stream":"s","type":"t1"}' \
		'{"id":"b2","stream":"s","type":"t2"}' \
		'{"id":"b3","stream":"u","type":"t1"}' | "$ENGRAM" -d "$STORE" append >/dev/null ||
		fail "cannot set up the base store"
	snapshot "$T/before"
}

# snapshot FILE: head and read of the store in one file.
snapshot() {
	{
		eg head && eg read
	} >"$1" 2>&1 || fail "cannot read the store: $(tail -n 1 "$1")"
}

assert_store_unchanged() {
	snapshot "$T/after"
	assert_files_eq "$T/before" "$T/after" "head and read after $1"
}

# bad_line LINE FIELD: the input is two valid events, LINE at line 3, and a
# valid event after it.  Append must exit 1 naming line 3 and FIELD (if not
# empty), and write nothing.
bad_line() {
	setup_base
	{
		printf '%s\n' '{"id":"n1","stream":"s","type":"t1","data":{"a":1}}' \
			'{"id":"n2","stream":"new","type":"t3"}'
		printf '%s\n' "$1"
		printf '%s\n' '{"id":"n4","stream":"s","type":"t1"}'
	} >"$T/in.ndjson"
	assert_exit 1 eg append "$T/in.ndjson"
	assert_match "$ERR" '^engram: error: ' "stderr"
	assert_match "$ERR" 'line 3([^0-9]|$)' "stderr"
	if [ -n "$2" ]; then
		printf '%s' "$ERR" | grep -qw -- "$2" || fail "stderr does not name the field $2: $(_short "$ERR")"
	fi
	assert_eq "" "$OUT" "stdout of a refused append"
	assert_store_unchanged "a refused append ($2)"
	# the ids of the refused batch are free and the index did not count
	# its events: the valid lines go in later with the right versions
	head -n 2 "$T/in.ndjson" >"$T/valid.ndjson"
	ok eg append "$T/valid.ndjson"
	assert_contains "$OUT" '{"appended":2,"duplicates":0,"first_pos":4,"last_pos":5,' "append of the valid lines afterwards"
	ok eg streams
	assert_eq '{"stream":"new","events":1,"version":1}
{"stream":"s","events":3,"version":3}
{"stream":"u","events":1,"version":1}' "$(printf '%s\n' "$OUT" | sort)" "streams after the later append"
}

test_unknown_field() { bad_line '{"id":"n3","type":"t","colour":"red"}' colour; }
# streams beginning with '$' are engram's own ($schemas, $quarantine)
test_reserved_stream() { bad_line '{"id":"n3","stream":"$schemas","type":"t"}' stream; }
test_reserved_stream_escaped() { bad_line '{"id":"n3","stream":"\u0024quarantine","type":"t"}' stream; }
test_reserved_default_stream() {
	setup_base
	echo '{"id":"n3","type":"t"}' >"$T/x.ndjson"
	assert_exit 1 eg append --stream '$x' "$T/x.ndjson"
	assert_contains "$ERR" "reserved for engram" "stderr"
	assert_store_unchanged "an append with a reserved --stream"
}
test_not_json() { bad_line 'this is not json' ""; }
test_truncated_json() { bad_line '{"id":"n3","type":"t"' ""; }
test_trailing_garbage() { bad_line '{"id":"n3","type":"t"} x' ""; }
test_top_level_array() { bad_line '[{"id":"n3","type":"t"}]' ""; }
test_invalid_utf8() { bad_line $'{"id":"n3","type":"t","data":{"s":"\xff\xfe"}}' ""; }
test_missing_type() { bad_line '{"id":"n3","stream":"s"}' type; }
test_empty_type() { bad_line '{"id":"n3","type":""}' type; }
test_type_not_string() { bad_line '{"id":"n3","type":5}' type; }
test_stream_not_string() { bad_line '{"id":"n3","type":"t","stream":["s"]}' stream; }
test_actor_not_string() { bad_line '{"id":"n3","type":"t","actor":7}' actor; }
test_session_not_string() { bad_line '{"id":"n3","type":"t","session":{"a":1}}' session; }
test_id_not_string() { bad_line '{"id":3,"type":"t"}' id; }
test_kind_unknown() { bad_line '{"id":"n3","type":"t","kind":"alert"}' kind; }
test_kind_not_string() { bad_line '{"id":"n3","type":"t","kind":1}' kind; }
test_time_bad_text() { bad_line '{"id":"n3","type":"t","time":"yesterday"}' time; }
test_time_bad_date() { bad_line '{"id":"n3","type":"t","time":"2025-02-30T10:00:00Z"}' time; }
test_time_no_offset() { bad_line '{"id":"n3","type":"t","time":"2025-01-01T10:00:00"}' time; }
test_time_fraction_millis() { bad_line '{"id":"n3","type":"t","time":1735689600000.5}' time; }
# RFC 3339 has four-digit years: a time outside 0000..9999 in UTC cannot be
# printed, so it cannot be stored either
test_time_after_year_9999() { bad_line '{"id":"n3","type":"t","time":"9999-12-31T23:59:59-01:00"}' time; }
test_time_millis_after_year_9999() { bad_line '{"id":"n3","type":"t","time":253402300800000}' time; }
test_time_before_year_0000() { bad_line '{"id":"n3","type":"t","time":"0000-01-01T00:00:00+00:01"}' time; }
test_time_millis_before_year_0000() { bad_line '{"id":"n3","type":"t","time":-62167219200001}' time; }
test_time_bool() { bad_line '{"id":"n3","type":"t","time":true}' time; }
test_data_array() { bad_line '{"id":"n3","type":"t","data":[1,2]}' data; }
test_data_string() { bad_line '{"id":"n3","type":"t","data":"x"}' data; }
test_data_number() { bad_line '{"id":"n3","type":"t","data":5}' data; }
test_meta_not_object() { bad_line '{"id":"n3","type":"t","meta":"m"}' meta; }
test_id_too_long() { bad_line "{\"id\":\"$(printf 'x%.0s' $(seq 65))\",\"type\":\"t\"}" id; }
test_id_too_long_bytes() { bad_line "{\"id\":\"$(printf 'é%.0s' $(seq 33))\",\"type\":\"t\"}" id; }

test_bad_line_late_in_big_batch() {
	# line 1000 of a 1200-line input: nothing of the 999 before is written
	setup_base
	"$ENGRAM" gen bank --events 1200 --seed 9 >"$T/in.ndjson" || fail "gen failed"
	sed -i '1000s/"type":"[a-z_]*",//' "$T/in.ndjson"
	assert_exit 1 eg append "$T/in.ndjson"
	assert_match "$ERR" 'line 1000([^0-9]|$)' "stderr"
	printf '%s' "$ERR" | grep -qw type || fail "stderr does not name the field type: $ERR"
	assert_store_unchanged "a refused 1200-line append"
	# from standard input too
	assert_exit 1 eg append - <"$T/in.ndjson"
	assert_match "$ERR" 'line 1000([^0-9]|$)' "stderr (stdin)"
	assert_store_unchanged "a refused 1200-line append from stdin"
}

test_skip_invalid() {
	setup_base
	cat >"$T/in.ndjson" <<'EOF'
{"id":"k1","stream":"s","type":"t1"}
{"id":"k2","stream":"s","type":"t1","colour":"red"}
{"id":"k3","stream":"s","type":"t2","data":{"x":1}}
{"id":"k4","stream":"s"}
not json at all
{"id":"k6","stream":"v","type":"t1","time":"2025-01-01T00:00:00Z"}
{"id":"k7","stream":"s","type":"t1","time":"noon"}
{"id":"k8","stream":"v","type":"t2"}
{"id":"k9","stream":"v","type":"t2","data":[]}
{"id":"k10","stream":"s","type":"t3"}
EOF
	ok eg append --skip-invalid "$T/rejects.ndjson" "$T/in.ndjson"
	assert_eq "5 0 4 8" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	py "$T/in.ndjson" "$T/rejects.ndjson" <<'EOF'
import sys
from e2e import *
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
rej = load_ndjson(sys.argv[2])
want = [(2, "colour"), (4, "type"), (5, None), (7, "time"), (9, "data")]
check(len(rej) == len(want), "%d rejects, expected %d: %s" % (len(rej), len(want), [dumps(r) for r in rej]))
for r, (n, field) in zip(rej, want):
    check(r.keys() == ["line", "reason", "input"], "reject row fields %s" % r.keys())
    check(int(r["line"]) == n, "reject line %s, expected %d" % (r["line"], n))
    check(r["input"] == lines[n - 1], "reject of line %d: input %r, the line was %r" % (n, r["input"], lines[n - 1]))
    check(isinstance(r["reason"], str) and r["reason"], "empty reason for line %d" % n)
    if field:
        check(field in r["reason"], "reason for line %d does not name %s: %r" % (n, field, r["reason"]))
EOF
	ok_to "$T/out" eg read --from 4
	py "$T/out" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check([r["id"] for r in rows] == ["k1", "k3", "k6", "k8", "k10"], "appended %s" % [r["id"] for r in rows])
check_dense(rows, "read --from 4", 4)
check([int(r["version"]) for r in rows] == [3, 4, 1, 2, 5], "versions %s" % [r["version"] for r in rows])
EOF
}

test_skip_invalid_all_bad() {
	setup_base
	printf '%s\n' 'nope' '{"type":1}' >"$T/in.ndjson"
	ok eg append --skip-invalid "$T/rejects.ndjson" "$T/in.ndjson"
	assert_eq "0 0 null null" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	assert_eq 2 "$(count_lines "$T/rejects.ndjson")" "rejects"
	assert_store_unchanged "an append whose lines were all rejected"
}

test_skip_invalid_utf8_rejects_are_json() {
	# The rejects file is NDJSON even when the rejected line is not UTF-8.
	setup_base
	printf '%s\n' '{"id":"u1","type":"t"}' $'{"id":"u2","type":"t\xff"}' '{"id":"u3","type":"t"}' >"$T/in.ndjson"
	ok eg append --skip-invalid "$T/rejects.ndjson" "$T/in.ndjson"
	assert_eq "2 0" "$(jfields "$OUT" appended duplicates)" "append row"
	py "$T/rejects.ndjson" <<'EOF'
import sys
from e2e import *
rej = load_ndjson(sys.argv[1])
check(len(rej) == 1 and int(rej[0]["line"]) == 2, "rejects: %s" % [dumps(r) for r in rej])
EOF
}

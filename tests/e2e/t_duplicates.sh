# t_duplicates.sh — ids are idempotency keys.

# ids_of FILE: the ids of a read output, one a line.
ids_of() {
	py "$1" <<'EOF'
import sys
from e2e import *
for e in load_ndjson(sys.argv[1]):
    print(e["id"])
EOF
}

test_same_id_twice_in_one_input() {
	cat >"$T/in.ndjson" <<'EOF'
{"id":"a","stream":"s","type":"t","data":{"n":1}}
{"id":"a","stream":"s","type":"t","data":{"n":2}}
{"id":"b","stream":"s","type":"t","data":{"n":3}}
EOF
	ok eg append "$T/in.ndjson"
	assert_eq "2 1 1 2" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	ok_to "$T/out" eg read
	assert_eq "a b" "$(ids_of "$T/out" | tr '\n' ' ' | sed 's/ $//')" "ids read"
	py "$T/out" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check(plain(rows[0]["data"]["n"]) == "1", "the first of two events with id a must be kept, got data %s" % dumps(rows[0]["data"]))
check([int(r["version"]) for r in rows] == [1, 2], "versions %s: a skipped duplicate must not take a version" % [r["version"] for r in rows])
EOF
	ok eg streams
	assert_eq "s 2 2" "$(jfields "$OUT" stream events version)" "streams row"
}

test_reappend_file() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen bank --events 500 --accounts 40 --seed 3
	ok eg append "$T/in.ndjson"
	assert_eq "500 0 1 500" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "first append"
	local head0
	head0=$(head_of)
	ok_to "$T/read0" eg read
	ok_to "$T/streams0" eg streams
	ok eg append "$T/in.ndjson"
	assert_eq "0 500 null null" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append of the same file again"
	assert_eq "${head0#* }" "$(jget "$OUT" head)" "head hash in the row of an all-duplicate append"
	assert_eq "$head0" "$(head_of)" "head after an all-duplicate append"
	ok_to "$T/read1" eg read
	assert_files_eq "$T/read0" "$T/read1" "read after an all-duplicate append"
	ok_to "$T/streams1" eg streams
	assert_files_eq "$T/streams0" "$T/streams1" "streams after an all-duplicate append"
	# Half old, half new: only the new ones go in, at the next positions.
	"$ENGRAM" gen bank --events 500 --accounts 40 --seed 4 | head -n 250 >"$T/new.ndjson"
	{ head -n 250 "$T/in.ndjson"; cat "$T/new.ndjson"; } >"$T/mixed.ndjson"
	ok eg append "$T/mixed.ndjson"
	assert_eq "250 250 501 750" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append of 250 old + 250 new"
	ok_to "$T/read2" eg read
	ids_of "$T/read2" >"$T/ids"
	assert_eq 750 "$(count_lines "$T/ids")" "events read"
	assert_eq 750 "$(sort -u "$T/ids" | wc -l | tr -d ' ')" "distinct ids read"
}

test_duplicates_across_batches_and_reopen() {
	# An id repeated later in the same input, in another --batch, is a
	# duplicate too; so is one stored long ago, after the index is rebuilt.
	cat >"$T/in.ndjson" <<'EOF'
{"id":"x1","type":"t"}
{"id":"x2","type":"t"}
{"id":"x3","type":"t"}
{"id":"x1","type":"t"}
{"id":"x4","type":"t"}
EOF
	ok eg append --batch 2 "$T/in.ndjson"
	assert_eq "4 1 1 4" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append --batch 2 with x1 twice"
	rm -rf "$STORE/idx"
	ok eg append <<<'{"id":"x3","type":"t"}'
	assert_eq "0 1" "$(jfields "$OUT" appended duplicates)" "re-append of x3 after rm -rf idx"
	ok eg reindex
	ok eg append <<<'{"id":"x2","type":"t"}'
	assert_eq "0 1" "$(jfields "$OUT" appended duplicates)" "re-append of x2 after reindex"
	ok_to "$T/out" eg read
	assert_eq "x1 x2 x3 x4" "$(ids_of "$T/out" | tr '\n' ' ' | sed 's/ $//')" "ids read"
}

test_uuid_ids_case() {
	# A lowercase UUID and the same UUID in uppercase are different strings.
	cat >"$T/in.ndjson" <<'EOF'
{"id":"0190f4c2-1234-7abc-8def-0123456789ab","type":"t"}
{"id":"0190F4C2-1234-7ABC-8DEF-0123456789AB","type":"t"}
EOF
	ok eg append "$T/in.ndjson"
	assert_eq "2 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok eg append "$T/in.ndjson"
	assert_eq "0 2" "$(jfields "$OUT" appended duplicates)" "append row of the same again"
	ok_to "$T/out" eg read
	assert_eq "0190f4c2-1234-7abc-8def-0123456789ab 0190F4C2-1234-7ABC-8DEF-0123456789AB" \
		"$(ids_of "$T/out" | tr '\n' ' ' | sed 's/ $//')" "ids read"
}

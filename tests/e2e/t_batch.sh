# t_batch.sh — --batch N commits every N events, each batch atomic.

# ten lines of four events per batch: b1 b1 b1 b1 b2 ... ; line $1 is invalid
batch_input() {
	local i
	for i in $(seq 1 12); do
		if [ "$i" = "${1:-0}" ]; then
			echo '{"id":"bad","type":"t","data":"not an object"}'
		else
			echo "{\"id\":\"e$i\",\"stream\":\"s$((i % 3))\",\"type\":\"t\",\"data\":{\"batch\":$(((i - 1) / 4 + 1)),\"i\":$i}}"
		fi
	done
}

test_invalid_line_in_third_batch() {
	batch_input 10 >"$T/in.ndjson"
	assert_exit 1 eg append --batch 4 "$T/in.ndjson"
	assert_match "$ERR" 'line 10([^0-9]|$)' "stderr"
	assert_eq "8" "$(head_of | cut -d' ' -f1)" "head pos: batches 1 and 2 committed, 3 not"
	ok_to "$T/out" eg read
	py "$T/out" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check([r["id"] for r in rows] == ["e%d" % i for i in range(1, 9)], "read %s" % [r["id"] for r in rows])
check_dense(rows, "read")
EOF
	ok eg verify
	assert_eq 8 "$(jget "$OUT" events)" "verify events"
	ok eg streams
	printf '%s\n' "$OUT" >"$T/streams"
	py "$T/streams" <<'EOF'
import sys
from e2e import *
got = sorted((r["stream"], int(r["events"]), int(r["version"])) for r in load_ndjson(sys.argv[1]))
check(got == [("s0", 2, 2), ("s1", 3, 3), ("s2", 3, 3)], "streams %s" % got)
EOF
	# the events of the refused third batch can be appended afterwards
	sed -n '9,12p' "$T/in.ndjson" | grep -v '"bad"' >"$T/rest.ndjson"
	ok eg append "$T/rest.ndjson"
	assert_eq "3 0 9 11" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append of the rest"
}

test_invalid_line_in_first_batch() {
	batch_input 2 >"$T/in.ndjson"
	assert_exit 1 eg append --batch 4 "$T/in.ndjson"
	assert_match "$ERR" 'line 2([^0-9]|$)' "stderr"
	assert_eq "0" "$(head_of | cut -d' ' -f1)" "head pos"
}

test_batches_commit_separately() {
	batch_input >"$T/in.ndjson"
	ok eg append --batch 4 "$T/in.ndjson"
	assert_eq "12 0 1 12" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	ok eg verify
	assert_eq 12 "$(jget "$OUT" events)" "verify events"
	# --batch larger than the input and --batch 1
	batch_input | sed 's/"e/"f/' >"$T/f.ndjson"
	ok eg append --batch 100 "$T/f.ndjson"
	batch_input | sed 's/"e/"g/' >"$T/g.ndjson"
	ok eg append --batch 1 --sync none "$T/g.ndjson"
	assert_eq "12 25 36" "$(jfields "$OUT" appended first_pos last_pos)" "append --batch 1 --sync none"
	ok_to "$T/out" eg read
	assert_eq 36 "$(count_lines "$T/out")" "events read"
	assert_exit 2 eg append --batch 0 "$T/g.ndjson"
	assert_exit 2 eg append --batch x "$T/g.ndjson"
	assert_exit 2 eg append --sync sometimes "$T/g.ndjson"
}

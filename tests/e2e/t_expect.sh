# t_expect.sh — optimistic concurrency: --expect-version and --expect-new.

# A store with stream acc at version 2 and stream other at version 1.
setup_acc() {
	printf '%s\n' '{"id":"e1","stream":"acc","type":"opened"}' \
		'{"id":"e2","stream":"other","type":"opened"}' \
		'{"id":"e3","stream":"acc","type":"deposit","data":{"amount":10}}' >"$T/base.ndjson"
	ok eg append "$T/base.ndjson"
	HEAD0=$(head_of)
	ok_to "$T/read0" eg read
}

# Nothing changed since setup_acc.
assert_unchanged() {
	assert_eq "$HEAD0" "$(head_of)" "head after $1"
	ok_to "$T/read1" eg read
	assert_files_eq "$T/read0" "$T/read1" "read after $1"
}

test_conflict_writes_nothing() {
	setup_acc
	echo '{"id":"c1","type":"deposit"}' >"$T/one.ndjson"
	assert_exit 4 eg append --stream acc --expect-version 1 "$T/one.ndjson"
	assert_contains "$ERR" "acc" "stderr of a version conflict"
	assert_unchanged "--expect-version 1 on a stream at version 2"
	assert_exit 4 eg append --stream acc --expect-version 3 "$T/one.ndjson"
	assert_unchanged "--expect-version 3 on a stream at version 2"
	# several events, one of them for another stream: still nothing
	printf '%s\n' '{"id":"c2","type":"x"}' '{"id":"c3","type":"x","stream":"other"}' >"$T/two.ndjson"
	assert_exit 4 eg append --stream acc --expect-version 5 "$T/two.ndjson"
	assert_unchanged "a conflicting append of two events"
	# the ids of the refused events were not taken
	assert_exit 0 eg append --stream acc --expect-version 2 "$T/one.ndjson"
	assert_eq "1 0" "$(jfields "$OUT" appended duplicates)" "the refused id c1 appended later"
}

# A version check covers one stream: a line naming another is refused
# (exit 2, nothing written), even with --skip-invalid.
test_expect_refuses_lines_of_another_stream() {
	setup_acc
	printf '%s\n' '{"id":"x1","type":"deposit"}' '{"id":"x2","type":"deposit","stream":"other"}' >"$T/mix.ndjson"
	assert_exit 2 eg append --stream acc --expect-version 2 "$T/mix.ndjson"
	assert_contains "$ERR" 'line 2: field "stream": expected "acc", the stream whose version this batch checks, got "other"'
	assert_contains "$ERR" "nothing of this batch was written"
	assert_unchanged "--expect-version with a line of another stream"
	assert_exit 2 eg append --stream acc --expect-version 2 --skip-invalid "$T/rejects" "$T/mix.ndjson"
	assert_unchanged "the same with --skip-invalid"
	assert_exit 2 eg append --stream new-1 --expect-new <<<'{"type":"opened","stream":"acc"}'
	assert_contains "$ERR" 'line 1: field "stream": expected "new-1"'
	assert_unchanged "--expect-new with a line of another stream"
	# lines naming S, or none, are fine
	printf '%s\n' '{"id":"x1","type":"deposit"}' '{"id":"x2","type":"deposit","stream":"acc"}' >"$T/same.ndjson"
	ok eg append --stream acc --expect-version 2 "$T/same.ndjson"
	assert_eq "2 4 5" "$(jfields "$OUT" appended first_pos last_pos)" "both in acc"
}

test_matching_version_appends() {
	setup_acc
	printf '%s\n' '{"id":"m1","type":"deposit"}' '{"id":"m2","type":"withdrawal"}' >"$T/in.ndjson"
	ok eg append --stream acc --expect-version 2 "$T/in.ndjson"
	assert_eq "2 0 4 5" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	ok eg read --stream acc
	printf '%s\n' "$OUT" >"$T/acc"
	py "$T/acc" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check([(r["id"], int(r["version"]), r["stream"]) for r in rows] ==
      [("e1", 1, "acc"), ("e3", 2, "acc"), ("m1", 3, "acc"), ("m2", 4, "acc")],
      "stream acc: %s" % [(r["id"], r["version"], r["stream"]) for r in rows])
EOF
	# The old expectation is now stale.
	assert_exit 4 eg append --stream acc --expect-version 2 <<<'{"id":"m3","type":"deposit"}'
	ok eg append --stream acc --expect-version 4 <<<'{"id":"m3","type":"deposit"}'
	ok eg streams
	assert_contains "$OUT" '{"stream":"acc","events":5,"version":5}' "streams"
}

test_expect_new() {
	setup_acc
	ok eg append --stream fresh --expect-new <<<'{"id":"n1","type":"opened"}'
	assert_eq "1 4" "$(jfields "$OUT" appended first_pos)" "--expect-new on a new stream"
	ok eg read --stream fresh
	assert_eq "fresh 1" "$(jfields "$OUT" stream version)" "the event of the new stream"
	HEAD0=$(head_of)
	ok_to "$T/read0" eg read
	assert_exit 4 eg append --stream fresh --expect-new <<<'{"id":"n2","type":"opened"}'
	assert_unchanged "--expect-new on a stream that exists"
	assert_exit 4 eg append --stream acc --expect-new <<<'{"id":"n3","type":"opened"}'
	assert_unchanged "--expect-new on stream acc"
	# version 0 is "does not exist yet"
	ok eg append --stream fresh2 --expect-version 0 <<<'{"id":"n4","type":"opened"}'
	assert_eq 1 "$(jget "$OUT" appended)" "--expect-version 0 on a new stream"
}

test_expect_usage() {
	setup_acc
	assert_exit 2 eg append --expect-version 1 <<<'{"type":"x"}'
	assert_exit 2 eg append --stream acc --expect-version 2 --expect-new <<<'{"type":"x"}'
	assert_exit 2 eg append --stream acc --expect-version abc <<<'{"type":"x"}'
	assert_unchanged "usage errors"
}

test_stream_and_type_defaults() {
	# --stream and --type fill lines that have none, and only those
	printf '%s\n' '{"id":"d1"}' '{"id":"d2","stream":"own","type":"mine"}' '{"id":"d3","data":{"a":1}}' >"$T/in.ndjson"
	ok eg append --stream dflt --type filled "$T/in.ndjson"
	assert_eq "3 0" "$(jfields "$OUT" appended duplicates)" "append row"
	ok eg read
	assert_eq "d1 dflt 1 filled|d2 own 1 mine|d3 dflt 2 filled" \
		"$(printf '%s\n' "$OUT" | while read -r l; do jfields "$l" id stream version type; done | tr '\n' '|' | sed 's/|$//')" \
		"id stream version type of the events"
	# without --type, a line without type is still an error
	assert_exit 1 eg append --stream dflt <<<'{"id":"d4"}'
	assert_match "$ERR" 'line 1([^0-9]|$)' "stderr"
}

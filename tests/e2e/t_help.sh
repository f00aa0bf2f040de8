# t_help.sh — help texts and usage errors.

# mentions TEXT WORD...: every WORD appears in TEXT.
mentions() {
	local text=$1 w
	shift
	for w in "$@"; do
		assert_contains "$text" "$w" "help text"
	done
}

test_help_lists_commands() {
	ok "$ENGRAM" help
	mentions "$OUT$ERR" append read consume consumers head verify stats streams types reindex gen \
		-d --format --segment-size
	local text=$OUT$ERR
	ok "$ENGRAM" --help
	assert_eq "$text" "$OUT$ERR" "engram --help vs engram help"
}

# help_of CMD WORD...: 'engram help CMD' and 'engram CMD --help' exit 0, say
# the same and mention every WORD.
help_of() {
	local cmd=$1 text
	shift
	ok "$ENGRAM" help "$cmd"
	text=$OUT$ERR
	assert_contains "$text" "usage: engram" "engram help $cmd"
	mentions "$text" "$cmd" "$@"
	ok "$ENGRAM" "$cmd" --help
	assert_eq "$text" "$OUT$ERR" "engram $cmd --help vs engram help $cmd"
}

test_help_append() {
	help_of append --heartbeat --stream --type --expect-version --expect-new --sync --batch --skip-invalid FILE
}
test_help_read() {
	help_of read --from --to --stream --type --since --until --by --limit --reverse --follow
}
test_help_other_commands() {
	help_of consume NAME --type --follow --limit
	help_of consumers
	help_of head
	help_of verify
	help_of stats
	help_of streams
	help_of types
	help_of reindex
	help_of gen bank orders clickstream --events --accounts --late --seed --start \
		--users --days --dup --format engram segment snowplow
	help_of project SPEC --key --as-of --known-at --explain
	help_of history SPEC --key --as-of --known-at
	help_of windows SPEC --changelog --late --include-open --as-reported-at --explain
}

test_usage_errors() {
	assert_exit 2 "$ENGRAM" frobnicate
	assert_contains "$ERR" "frobnicate" "stderr of an unknown command"
	assert_exit 2 "$ENGRAM"
	assert_exit 2 "$ENGRAM" help frobnicate
	assert_exit 2 "$ENGRAM" --bogus head
	assert_exit 2 "$ENGRAM" --format xml head
	assert_exit 2 "$ENGRAM" -d
	assert_exit 2 "$ENGRAM" -d "$STORE" read --bogus
	assert_contains "$ERR" "--bogus" "stderr of an unknown option"
	assert_exit 2 "$ENGRAM" -d "$STORE" append --bogus
	assert_exit 2 "$ENGRAM" -d "$STORE" append a.ndjson b.ndjson
	assert_exit 2 "$ENGRAM" -d "$STORE" read --limit
	assert_exit 2 "$ENGRAM" -d "$STORE" read --limit abc
	assert_exit 2 "$ENGRAM" -d "$STORE" consume
	assert_exit 2 "$ENGRAM" -d "$STORE" head extra
	assert_exit 2 "$ENGRAM" gen
	assert_exit 2 "$ENGRAM" gen bank
	assert_exit 2 "$ENGRAM" gen nosuch --events 5
	assert_exit 2 "$ENGRAM" --segment-size lots -d "$STORE" head
	# none of these created a store
	[ ! -e "$STORE" ] || fail "a usage error created the store"
}

test_missing_store() {
	# reading a store that does not exist is an error, not a new store
	assert_exit 1 "$ENGRAM" -d "$T/nothere" read
	assert_exit 1 "$ENGRAM" -d "$T/nothere" head
	[ ! -e "$T/nothere" ] || fail "a read created the store"
	assert_exit 1 "$ENGRAM" -d "$STORE" append "$T/no-such-input.ndjson"
	assert_contains "$ERR" "no-such-input.ndjson" "stderr of append of a missing file"
	# ENGRAM_DIR is the default store
	ENGRAM_DIR="$T/envstore" run "$ENGRAM" append <<<'{"type":"t"}'
	assert_eq 0 "$RC" "append to \$ENGRAM_DIR (stderr: $ERR)"
	[ -d "$T/envstore/log" ] || fail "ENGRAM_DIR was not used"
}

test_output_formats() {
	ok eg append <<<'{"id":"a","type":"t","data":{"x":1}}'
	ok eg --format ndjson head
	assert_match "$OUT" '^\{"pos":1,"hash":"[0-9a-f]{64}","size":1,"root":"[0-9a-f]{64}"\}$' "head --format ndjson"
	ok eg --format csv head
	assert_match "$OUT" '^pos,hash,size,root' "head --format csv (header)"
	assert_match "$OUT" $'\n1,[0-9a-f]{64},1,[0-9a-f]{64}$' "head --format csv (row)"
	ok eg --format table head
	assert_contains "$OUT" "pos" "head --format table"
}

test_csv_read_quoting() {
	# commas, quotes and newlines survive a CSV round trip
	ok eg append <<<'{"id":"a,b","type":"t\"q","actor":"line\nbreak","data":{"x":"y,z","q":"\""}}'
	ok_to "$T/csv" eg --format csv read
	ok_to "$T/nd" eg read
	py "$T/csv" "$T/nd" <<'PYEOF'
import csv, sys
from e2e import *
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
nd = load_ndjson(sys.argv[2])[0]
check(len(rows) == 2, "%d CSV rows (header included), expected 2: %r" % (len(rows), rows))
check(rows[0] == EVENT_FIELDS, "CSV header %r" % rows[0])
r = dict(zip(rows[0], rows[1]))
for k in ("id", "type", "actor", "kind", "time", "recorded"):
    check(r[k] == plain(nd[k]), "CSV %s %r, ndjson %r" % (k, r[k], plain(nd[k])))
check(loads(r["data"]) == nd["data"], "CSV data %r" % r["data"])
PYEOF
}

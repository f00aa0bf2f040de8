# t_project.sh — engram project and engram history: state from events, as
# of an event time and as known at a record time; bad specs exit 2.

balances_spec() {
	cat >"$T/balances.json" <<'JSON'
{
  "name": "balances",
  "key": "stream",
  "types": ["account_opened", "deposit", "withdrawal", "fee", "account_closed"],
  "fields": {
    "balance":  {"sum": "data.amount", "sign": {"withdrawal": -1, "fee": -1}},
    "deposits": {"count": true, "types": ["deposit"]},
    "largest":  {"max": "data.amount", "types": ["deposit"]},
    "smallest": {"min": "data.amount"},
    "opened":   {"first": "time"},
    "owner":    {"last": "data.owner"},
    "open":     {"open": ["account_opened"], "close": ["account_closed"]}
  },
  "snapshot_every": 1000
}
JSON
}

# Two batches; the second holds a deposit that happened at 10:00 but was
# recorded after K.
late_store() {
	balances_spec
	ok eg append <<'EV'
{"stream":"acct-1","type":"account_opened","time":"2025-01-01T09:00:00Z","data":{"amount":100,"owner":"Ann"}}
{"stream":"acct-1","type":"deposit","time":"2025-01-01T12:00:00Z","data":{"amount":50.25}}
{"stream":"acct-2","type":"account_opened","time":"2025-01-01T09:30:00Z","data":{"amount":10,"owner":"Bob"}}
{"stream":"acct-2","type":"fee","time":"2025-01-01T09:45:00Z","data":{"amount":"n/a"}}
EV
	K=$(jget "$(eg --format ndjson read --from 4 --to 4)" recorded)
	sleep 0.01
	ok eg append <<'EV'
{"stream":"acct-1","type":"deposit","time":"2025-01-01T10:00:00Z","data":{"amount":25}}
{"stream":"acct-1","type":"withdrawal","time":"2025-01-01T13:00:00Z","data":{"amount":0.25}}
{"stream":"acct-2","type":"account_closed","time":"2025-01-01T14:00:00Z","data":{}}
EV
}

test_project_current_state() {
	late_store
	ok eg project "$T/balances.json"
	assert_eq '{"key":"acct-1","balance":175,"deposits":2,"largest":50.25,"smallest":0.25,"opened":"2025-01-01T09:00:00.000000Z","owner":"Ann","open":true}
{"key":"acct-2","balance":10,"deposits":0,"largest":null,"smallest":10,"opened":"2025-01-01T09:30:00.000000Z","owner":"Bob","open":false}' "$OUT" "project rows"
	ok eg project "$T/balances.json" --key acct-2
	assert_eq 1 "$(printf '%s\n' "$OUT" | wc -l)" "rows for --key acct-2"
	assert_contains "$OUT" '"key":"acct-2"'
	# a key that does not exist: nothing, exit 0
	ok eg project "$T/balances.json" --key acct-9
	assert_eq "" "$OUT" "output for a missing key"
}

test_as_of_vs_known_at_with_a_late_event() {
	late_store
	ok eg project "$T/balances.json" --key acct-1 --as-of 2025-01-01T11:00:00Z
	assert_contains "$OUT" '"balance":125,' "as of 11:00 (the late deposit counts)"
	ok eg project "$T/balances.json" --key acct-1 --as-of 2025-01-01T11:00:00Z --known-at "$K"
	assert_contains "$OUT" '"balance":100,' "as of 11:00, known at K (the late deposit was not known)"
	ok eg project "$T/balances.json" --key acct-1 --known-at "$K"
	assert_contains "$OUT" '"balance":150.25,' "known at K"
	# before anything happened: no row
	ok eg project "$T/balances.json" --as-of 2024-12-31T00:00:00Z
	assert_eq "" "$OUT" "rows as of a time before every event"
}

test_explain_counts_skipped_events() {
	late_store
	ok eg project "$T/balances.json" --explain
	# acct-2's fee holds "n/a": skipped by balance and smallest as not a number;
	# the close event has no amount: skipped as missing
	assert_contains "$ERR" '{"explain":"field","field":"balance","used":5,"skipped_missing":1,"skipped_not_number":1}'
	assert_contains "$ERR" '"field":"smallest","used":5,"skipped_missing":1,"skipped_not_number":1'
	assert_contains "$ERR" '"explain":"plan"'
	assert_contains "$ERR" '"path":"log","events_from_columns":0,' "a fold's path"
	assert_not_contains "$OUT" 'explain' "stdout"
}

test_history_rows() {
	late_store
	ok eg history "$T/balances.json" --key acct-2
	# the fee at 09:45 holds no number: it changes nothing, so no row of its own
	assert_eq 2 "$(printf '%s\n' "$OUT" | wc -l)" "history rows of acct-2"
	local first last
	first=$(printf '%s\n' "$OUT" | head -n 1)
	last=$(printf '%s\n' "$OUT" | tail -n 1)
	assert_eq "2025-01-01T09:30:00.000000Z 2025-01-01T14:00:00.000000Z true" \
		"$(jfields "$first" valid_from valid_to open)" "first history row"
	assert_eq "2025-01-01T14:00:00.000000Z null false" \
		"$(jfields "$last" valid_from valid_to open)" "last history row"
	assert_exit 2 eg history "$T/balances.json"
	assert_contains "$ERR" "--key"
}

test_bad_specs_exit_2_naming_the_path() {
	late_store
	local before
	before=$(head_of "$STORE")
	assert_spec_error project '{"fields": {"x": {"sum": "data.amount"}' '$: not valid JSON at line 1'
	assert_spec_error project '{"fields": {"x": {"median": "data.amount"}}}' '$.fields.x.median: unknown member'
	assert_spec_error project '{"fields": {"x": {"sum": "data..amount"}}}' '$.fields.x.sum: empty member name'
	assert_spec_error project '{"fields": {"x": {"sum": "amount"}}}' '$.fields.x.sum: expected a field path'
	assert_spec_error project '{"key": 5, "fields": {"x": {"count": true}}}' '$.key: expected a field path'
	assert_exit 2 eg project "$T/nothere.json"
	assert_contains "$ERR" "nothere.json"
	assert_exit 2 eg project "$T/balances.json" --as-of yesterday
	assert_contains "$ERR" "--as-of"
	assert_exit 2 eg project "$T/balances.json" --known-at 2025-13-01T00:00:00Z
	assert_eq "$before" "$(head_of "$STORE")" "the log after bad specs"
	[ ! -e "$STORE/idx/proj" ] || [ -z "$(ls "$STORE/idx/proj")" ] || fail "a bad spec left derived files"
}

# Snapshots: an edited spec never serves the old state; reindex rebuilds;
# answers with snapshots equal answers without them.
test_snapshots_edit_and_reindex() {
	"$ENGRAM" gen bank --events 5000 --accounts 40 --seed 3 >"$T/bank.ndjson"
	ok eg append "$T/bank.ndjson"
	balances_spec
	ok_to "$T/a.out" eg project "$T/balances.json" --as-of 2025-01-02T00:00:00Z
	[ -s "$T/a.out" ] || fail "no rows"
	local dirs
	dirs=$(ls "$STORE/idx/proj" | wc -l)
	assert_eq 1 "$dirs" "projection directories"
	# the same answer from the saved snapshot
	ok_to "$T/b.out" eg project "$T/balances.json" --as-of 2025-01-02T00:00:00Z --explain
	assert_files_eq "$T/a.out" "$T/b.out" "answer from the snapshot"
	assert_contains "$ERR" '"snapshot_pos":5000,' "explain after the snapshot"
	assert_contains "$ERR" '"folded_from_log":0,' "explain after the snapshot"
	# edit a field: another directory, another answer
	sed 's/"withdrawal": -1/"withdrawal": 1/' "$T/balances.json" >"$T/edited.json"
	ok_to "$T/c.out" eg project "$T/edited.json" --as-of 2025-01-02T00:00:00Z
	assert_eq 2 "$(ls "$STORE/idx/proj" | wc -l)" "projection directories after an edit"
	if cmp -s "$T/a.out" "$T/c.out"; then fail "the edited spec gave the old answer"; fi
	# reindex rebuilds both; answers unchanged
	ok eg reindex
	ok_to "$T/d.out" eg project "$T/balances.json" --as-of 2025-01-02T00:00:00Z --explain
	assert_files_eq "$T/a.out" "$T/d.out" "answer after reindex"
	assert_contains "$ERR" '"folded_from_log":0,' "explain after reindex"
	# deleting the derived files: rebuilt, same answer
	rm -rf "$STORE/idx/proj"
	ok_to "$T/e.out" eg project "$T/balances.json" --as-of 2025-01-02T00:00:00Z
	assert_files_eq "$T/a.out" "$T/e.out" "answer after deleting idx/proj"
}

# Snapshots every 50 events (or every event), saved as the log grows, give
# the answers of the default, now, as of T and as known at K; a bad
# snapshot_every still exits 2 naming it.
test_small_snapshot_every_gives_the_same_answers() {
	"$ENGRAM" gen bank --events 2000 --accounts 30 --seed 5 >"$T/bank.ndjson"
	balances_spec
	sed 's/"snapshot_every": 1000/"snapshot_every": 50/' "$T/balances.json" >"$T/b50.json"
	sed 's/"snapshot_every": 1000/"snapshot_every": 1/' "$T/balances.json" >"$T/b1.json"
	local i K
	for i in 0 1 2 3 4; do
		sed -n "$((i * 400 + 1)),$((i * 400 + 400))p" "$T/bank.ndjson" | ok eg append
		ok eg project "$T/b50.json"
		[ "$i" = 2 ] && K=$(jget "$(eg --format ndjson read --from 1200 --to 1200)" recorded)
		sleep 0.01
	done
	local q
	answers() {   # $1: spec, $2: output prefix
		ok_to "$T/$2.now" eg project "$1"
		ok_to "$T/$2.asof" eg project "$1" --as-of 2025-01-03T00:00:00Z
		ok_to "$T/$2.known" eg project "$1" --known-at "$K"
		ok_to "$T/$2.both" eg project "$1" --as-of 2025-01-03T00:00:00Z --known-at "$K"
	}
	ok eg project "$T/b50.json" --explain
	assert_contains "$ERR" '"snapshot_pos":2000,"folded_from_log":0,' "a snapshot at a multiple of 50"
	ok eg append <<<'{"stream":"account-000001","type":"deposit","time":"2025-01-05T00:00:00Z","data":{"amount":1}}'
	ok eg project "$T/b50.json" --explain
	assert_contains "$ERR" '"snapshot_pos":2000,"folded_from_log":1,' "fewer than 50 events after it"
	answers "$T/b50.json" s50
	for q in 1 default; do
		rm -rf "$STORE/idx/proj"
		answers "$T/$([ $q = 1 ] && echo b1.json || echo balances.json)" "s$q"
	done
	for q in now asof known both; do
		[ -s "$T/sdefault.$q" ] || fail "no rows ($q)"
		assert_files_eq "$T/sdefault.$q" "$T/s50.$q" "snapshot_every 50 vs 1000 ($q)"
		assert_files_eq "$T/sdefault.$q" "$T/s1.$q" "snapshot_every 1 vs 1000 ($q)"
	done
	assert_spec_error project '{"fields": {"x": {"count": true}}, "snapshot_every": 0}' '$.snapshot_every: expected a whole number of events from 1 to 1000000000'
	assert_spec_error project '{"fields": {"x": {"count": true}}, "snapshot_every": 2.5}' '$.snapshot_every: expected a whole number'
	assert_spec_error project '{"fields": {"x": {"count": true}}, "snapshot_every": -50}' '$.snapshot_every: expected a whole number'
}

# A damaged snapshot file is not trusted: rebuilt from the log.
test_damaged_snapshot_is_rebuilt() {
	"$ENGRAM" gen bank --events 3000 --accounts 20 --seed 4 >"$T/bank.ndjson"
	ok eg append "$T/bank.ndjson"
	balances_spec
	ok_to "$T/a.out" eg project "$T/balances.json"
	local snap
	snap=$(ls "$STORE"/idx/proj/*/snap)
	flip_byte "$snap" 200
	ok_to "$T/b.out" eg project "$T/balances.json" --explain
	assert_files_eq "$T/a.out" "$T/b.out" "answer after a damaged snapshot"
	assert_contains "$ERR" '"folded_from_log":3000,' "explain after a damaged snapshot"
}

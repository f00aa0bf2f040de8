# t_warnings.sh — mistakes that used to pass in silence now warn on stderr
# ("engram: warning: ..."), exit 0 with stdout unchanged: a type the store
# never saw, a data path no event has, epoch seconds given as an integer
# time, a heartbeat behind the watermark.  Correct input warns about none.

# A small bank store: types account_opened, deposit, withdrawal, fee, ...
bank_store() {
	"$ENGRAM" gen bank --events 400 --accounts 20 --seed 3 >"$T/bank.ndjson" || fail "gen failed"
	ok eg append "$T/bank.ndjson"
}

# same_stdout_no_warning CMD...: run the command as given (the good form)
# and keep its stdout in $T/good.out; stderr must hold no warning.
good_run() {
	ok "$@"
	assert_not_contains "$ERR" "warning" "stderr of '$*'"
	printf '%s\n' "$OUT" >"$T/good.out"
}

PROJ_GOOD='{"name":"p","key":"stream","types":["deposit","withdrawal"],
 "fields":{"total":{"sum":"data.amount","sign":{"withdrawal":-1}},"n":{"count":true,"types":["deposit"]}}}'

test_warn_spec_types_never_seen_in_the_store() {
	bank_store
	printf '%s' "$PROJ_GOOD" >"$T/good.json"
	good_run eg project "$T/good.json"
	# the same spec with a misspelled type: one warning per unknown type,
	# the nearest known one suggested; the rows are those of a spec
	# without it
	sed 's/"withdrawal"\]/"withdrawl", "chargeback"]/' "$T/good.json" >"$T/bad.json"
	ok eg project "$T/bad.json"
	assert_contains "$ERR" "engram: warning: $T/bad.json: type 'withdrawl' never occurs in the store (its types: account_opened, deposit, fee, withdrawal); did you mean 'withdrawal'?"
	assert_contains "$ERR" "type 'chargeback' never occurs in the store"
	assert_not_contains "$ERR" "'chargeback' never occurs in the store (its types: account_opened, deposit, fee, withdrawal); did"
	assert_eq 2 "$(grep -c warning "$T/.err")" "warnings"
	ok eg history "$T/bad.json" --key account-000001
	assert_contains "$ERR" "type 'withdrawl' never occurs"

	printf '%s' '{"name":"w","types":["deposit","depositt"],"window":{"tumble":"1d"},
	 "aggs":{"n":{"count":true}},"watermark":"1h","allowed_lateness":"1d"}' >"$T/w.json"
	ok eg windows "$T/w.json"
	assert_contains "$ERR" "engram: warning: $T/w.json: type 'depositt' never occurs in the store"
	assert_contains "$ERR" "did you mean 'deposit'?"
	sed 's/, *"depositt"//' "$T/w.json" >"$T/w2.json"
	good_run eg windows "$T/w2.json"
	ok eg windows "$T/w.json"
	assert_eq "$(cat "$T/good.out")" "$OUT" "windows rows with the unknown type"

	good_run eg sessions --type deposit,fee
	ok eg sessions --type deposit,Fee,fee --page-types page_view
	assert_contains "$ERR" "engram: warning: --type: type 'Fee' never occurs in the store"
	assert_contains "$ERR" "engram: warning: --page-types: type 'page_view' never occurs in the store"
	assert_eq "$(cat "$T/good.out")" "$OUT" "sessions rows"

	good_run eg funnel --steps account_opened,deposit --within 30d
	ok eg funnel --steps account_opened,deposti --within 30d
	assert_contains "$ERR" "engram: warning: --steps: type 'deposti' never occurs in the store"
	assert_contains "$ERR" "did you mean 'deposit'?"
}

test_warn_no_type_warning_on_an_empty_store() {
	ok eg append </dev/null
	printf '%s' "$PROJ_GOOD" >"$T/good.json"
	ok eg project "$T/good.json"
	assert_eq "" "$ERR" "stderr on an empty store"
}

test_warn_projection_paths_no_event_has() {
	"$ENGRAM" gen bank --events 3000 --accounts 20 --seed 4 >"$T/bank.ndjson" || fail "gen failed"
	ok eg append "$T/bank.ndjson"
	printf '%s' '{"name":"p","key":"stream","types":["deposit"],"snapshot_every":1000,
	 "fields":{"total":{"sum":"data.amount"},"who":{"last":"data.owner"},"n":{"count":true}}}' >"$T/good.json"
	good_run eg project "$T/good.json"
	local deposits
	deposits=$(grep -c '"type":"deposit"' "$T/bank.ndjson")
	sed 's/"data.amount"/"data.amout"/; s/"data.owner"/"data.amount"/' "$T/good.json" >"$T/bad.json"
	# twice: folded from the log (saving snapshots), then from a snapshot
	local i
	for i in 1 2; do
		ok eg project "$T/bad.json"
		assert_contains "$ERR" "engram: warning: $T/bad.json: field 'total': none of the $deposits events it took has a value at data.amout" "run $i"
		assert_not_contains "$ERR" "field 'who'" "run $i: data.amount is there"
		assert_not_contains "$ERR" "field 'n'" "run $i: a count has no path"
	done
	assert_true ls "$STORE"/idx/proj/*/snap
	ok eg project "$T/bad.json" --key account-000003
	assert_match "$ERR" "field 'total': none of the [0-9]+ events it took has a value at data.amout"
	# a number where one is needed
	sed 's/"data.amount"/"data.owner"/' "$T/good.json" >"$T/nan.json"
	ok eg project "$T/nan.json"
	assert_contains "$ERR" "field 'total': none of the $deposits events it took has a number at data.owner"
	# a key path no event has: no rows, and why
	sed 's/"key":"stream"/"key":"data.acct"/' "$T/good.json" >"$T/key.json"
	ok eg project "$T/key.json"
	assert_eq "" "$OUT" "rows"
	assert_contains "$ERR" "engram: warning: $T/key.json: none of the $deposits events of its types has a value at its key, so there are no rows"
}

test_warn_windows_paths_no_event_has() {
	"$ENGRAM" gen bank --events 2000 --accounts 20 --seed 5 >"$T/a.ndjson" || fail "gen failed"
	"$ENGRAM" gen bank --events 1000 --accounts 20 --seed 6 \
		--start 2025-06-01T00:00:00Z >"$T/b.ndjson" || fail "gen failed"
	ok eg append "$T/a.ndjson"
	printf '%s' '{"name":"w","types":["deposit"],"window":{"tumble":"1h"},"group_by":["data.currency","stream"],
	 "aggs":{"n":{"count":true},"s":{"sum":"data.amount"}},"watermark":"1h","allowed_lateness":"1d"}' >"$T/good.json"
	sed 's/"data.currency"/"data.channel"/' "$T/good.json" >"$T/good2.json"
	good_run eg windows "$T/good2.json"
	sed 's/"data.amount"/"data.amout"/' "$T/good.json" >"$T/bad.json"
	local n
	n=$(grep -c '"type":"deposit"' "$T/a.ndjson")
	ok eg windows "$T/bad.json"
	assert_contains "$ERR" "engram: warning: $T/bad.json: aggregate 's': none of the $n events taken has a value at data.amout"
	assert_match "$ERR" "engram: warning: $T/bad.json: group_by data.currency: no event taken has a value there, so it is null in all [0-9]+ rows"
	assert_not_contains "$ERR" "group_by stream"
	# resumed from its checkpoint, with events appended since: the counts
	# are the whole run's
	ok eg append "$T/b.ndjson"
	n=$((n + $(grep -c '"type":"deposit"' "$T/b.ndjson")))
	ok eg windows "$T/bad.json" --changelog
	assert_contains "$ERR" "aggregate 's': none of the $n events taken has a value at data.amout"
	assert_contains "$ERR" "group_by data.currency: no event taken has a value there"
	ok eg windows "$T/bad.json"
	assert_contains "$ERR" "aggregate 's': none of the $n events taken has a value at data.amout"
	# an earlier report may lack what later events have: no group warning
	ok eg windows "$T/bad.json" --as-reported-at 2000-01-01T00:00:00Z
	assert_not_contains "$ERR" "group_by"
}

test_warn_append_integer_times_that_look_like_epoch_seconds() {
	printf '%s\n' '{"id":"a","type":"t","time":"2025-01-01T10:00:00Z"}' '' \
		'{"id":"b","type":"t","time":1735725600}' \
		'{"id":"c","type":"t","time":1735725600000}' \
		'{"id":"d","type":"t","time":1735725601}' >"$T/in.ndjson"
	ok eg append "$T/in.ndjson"
	assert_match "$OUT" '^\{"appended":4,' "append result"
	assert_eq "engram: warning: line 3: time 1735725600 read as epoch milliseconds (1970-01-21T02:08:45.600000Z); epoch seconds? multiply by 1000 (2 events have such times)" "$ERR"
	# appended as given
	ok eg read --limit 1 --from 2
	assert_contains "$OUT" '"time":"1970-01-21T02:08:45.600000Z"'
	# the line number counts invalid lines set aside too, and each batch
	# of --batch; milliseconds of today warn about nothing
	printf '%s\n' 'not json' '{"id":"e","type":"t","time":1735725600000}' \
		'{"id":"f","type":"t","time":1700000000}' >"$T/in2.ndjson"
	ok eg append --batch 1 --skip-invalid "$T/rej" "$T/in2.ndjson"
	assert_contains "$ERR" "engram: warning: line 3: time 1700000000 read as epoch milliseconds (1970-01-20T16:13:20.000000Z)"
	assert_not_contains "$ERR" "events have such times"
	printf '%s\n' '{"id":"g","type":"t","time":1735725600000}' \
		'{"id":"h","type":"t","time":"1970-01-21T02:08:45.600Z"}' '{"id":"i","type":"t","time":5}' |
		good_run eg append -
}

test_warn_heartbeat_behind_a_heartbeat_or_later_events() {
	printf '%s\n' '{"type":"view","time":"2025-01-01T10:00:00Z"}' \
		'{"type":"view","time":"2025-01-01T11:00:00Z"}' >"$T/in.ndjson"
	ok eg append "$T/in.ndjson"
	printf '%s' '{"name":"w","types":["view"],"window":{"tumble":"1h"},
	 "aggs":{"n":{"count":true}},"watermark":"10m","allowed_lateness":"0s"}' >"$T/w.json"
	# ahead of everything: moves the watermark, no warning
	good_run eg append --heartbeat 2025-01-01T12:00:00Z
	assert_eq '{"heartbeat_pos":3,"time":"2025-01-01T12:00:00.000000Z"}' "$OUT"
	ok eg windows "$T/w.json"
	printf '%s\n' "$OUT" >"$T/before"
	# at or behind that heartbeat: appended, and said to move nothing
	ok eg append --heartbeat 2025-01-01T11:30:00Z
	assert_eq '{"heartbeat_pos":4,"time":"2025-01-01T11:30:00.000000Z"}' "$OUT"
	assert_eq "engram: warning: the heartbeat at 2025-01-01T11:30:00.000000Z moves no watermark: the heartbeat at position 3 already is at 2025-01-01T12:00:00.000000Z" "$ERR"
	ok eg append --heartbeat 2025-01-01T12:00:00Z
	assert_contains "$ERR" "moves no watermark: the heartbeat at position 3"
	ok eg windows "$T/w.json"
	assert_eq "$(cat "$T/before")" "$OUT" "windows after the stale heartbeats"
	# behind later events (no heartbeat that late): said with the gap
	rm -rf "$STORE"
	ok eg append "$T/in.ndjson"
	ok eg append --heartbeat 2025-01-01T10:30:00Z
	assert_eq '{"heartbeat_pos":3,"time":"2025-01-01T10:30:00.000000Z"}' "$OUT"
	assert_eq "engram: warning: the heartbeat at 2025-01-01T10:30:00.000000Z is behind events already in the store (position 2, view at 2025-01-01T11:00:00.000000Z): it moves the watermark only of a windows spec that takes none of those events or whose \"watermark\" is more than 30m" "$ERR"
	# on an empty store, nothing to be behind
	rm -rf "$STORE"
	good_run eg append --heartbeat 2025-01-01T10:30:00Z
}

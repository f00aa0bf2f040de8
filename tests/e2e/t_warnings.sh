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

# t_datasets.sh — engram dataset over the seed's worked example
# (examples/datasets/): the final rows, the kept table in SQL, explain
# (order, overlaps, by, the flow on a terminal), why, reuse and staleness,
# --as-of/--known-at rebuilding the same, and bad input (exit 2, nothing
# kept).  Counts against a plain recomputation on random data are
# tests/datasets/prop.py's.

DS=$E2E_DIR/../../examples/datasets
SPEC=$DS/west_recent_buyers.json

seed_store() {
	ok eg append "$DS/events.ndjson"
}

test_build_prints_the_final_customers_and_keeps_every_row() {
	seed_store
	ok eg --format csv dataset build "$SPEC"
	assert_eq 'customer_id
11
22
44' "$OUT" "final rows: DISTINCT customer_id of the kept rows"
	assert_contains "$ERR" "dataset west_recent_buyers: 7 rows, 5 keys; 3 rows kept, 3 final rows (built at position 12"
	[ -s "$STORE/datasets/west_recent_buyers/table" ] || fail "no kept table in DIR/datasets/NAME/"
	ok eg --format csv dataset rows west_recent_buyers --all
	assert_eq 'customer_id,state,order_id,days_since_order,f_west,f_recent,keep
11,Washington,4444,10,1,1,1
11,Washington,4445,200,1,0,0
22,California,4449,11,1,1,1
33,New York,4441,10,0,1,0
44,California,4439,10,1,1,1
44,California,4440,200,1,0,0
55,New York,4433,250,0,0,0' "$OUT" "every base row with its flags"
	ok eg --format csv dataset rows west_recent_buyers
	assert_eq 'customer_id
11
22
44' "$OUT" "rows: the final rows again"
	ok eg --format csv dataset rows west_recent_buyers --failed recent
	assert_eq 'customer_id,state,order_id,days_since_order,f_west,f_recent,keep
11,Washington,4445,200,1,0,0
44,California,4440,200,1,0,0
55,New York,4433,250,0,0,0' "$OUT" "--failed recent"
	ok eg --format csv dataset rows west_recent_buyers --kept
	assert_contains "$OUT" '44,California,4439,10,1,1,1'
	assert_not_contains "$OUT" '4440'
	# the manifest beside it, and the same in show
	ok eg dataset show west_recent_buyers
	assert_eq "$(cat "$STORE/datasets/west_recent_buyers/manifest.json")" "$OUT" "manifest.json = show"
	local m=$OUT
	assert_eq 12 "$(jget "$m" head)" "manifest head"
	assert_eq 7 "$(jget "$m" rows)" "manifest rows"
	assert_eq 3 "$(jget "$m" kept_rows)" "manifest kept rows"
	assert_eq null "$(jget "$m" as_of)" "manifest as_of"
	[ "$(jget "$m" spec_hash | wc -c)" = 65 ] || fail "spec_hash: $(jget "$m" spec_hash)"
	cmp -s "$SPEC" "$STORE/datasets/west_recent_buyers/spec.json" || fail "spec.json is not the spec"
}

test_sql_reads_the_kept_table() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	ok eg sql "SELECT * FROM dataset('west_recent_buyers') WHERE customer_id = 44"
	assert_eq '{"customer_id":44,"state":"California","order_id":4439,"days_since_order":10,"f_west":1,"f_recent":1,"keep":1}
{"customer_id":44,"state":"California","order_id":4440,"days_since_order":200,"f_west":1,"f_recent":0,"keep":0}' "$OUT" "customer 44's rows"
	# the seed's question: how many orders were filtered
	ok eg sql "SELECT count(DISTINCT order_id) AS n FROM dataset('west_recent_buyers') WHERE keep = 0"
	assert_eq '{"n":4}' "$OUT" "orders filtered"
	ok eg sql "SELECT count(*) AS n FROM dataset('west_recent_buyers') d JOIN events e ON e.stream = 'order-' || d.order_id WHERE d.keep"
	assert_eq '{"n":3}' "$OUT" "joined with the events"
	assert_exit 1 eg sql "SELECT * FROM dataset('nope')"
	assert_contains "$ERR" "no dataset 'nope' is kept"
}

test_explain_attrition_order_overlaps_and_by() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	ok eg --format csv dataset explain west_recent_buyers
	assert_eq 'filter,rows_failing,keys_failing,only_rows,only_keys,rows_remaining,keys_remaining
west,2,2,1,1,5,3
recent,3,1,2,0,3,3' "$OUT" "attrition in spec order"
	ok eg --format csv dataset explain west_recent_buyers --order recent,west
	assert_eq 'filter,rows_failing,keys_failing,only_rows,only_keys,rows_remaining,keys_remaining
recent,3,1,2,0,4,4
west,2,2,1,1,3,3' "$OUT" "recent first: 4 rows and keys (11, 22, 33, 44) remain after it"
	ok eg --format csv dataset explain west_recent_buyers --order recent
	assert_contains "$OUT" $'recent,3,1,2,0,4,4\nwest,' "the filters not named follow"
	ok eg --format csv dataset explain west_recent_buyers --overlaps
	assert_eq 'filter,west,recent
west,2,1
recent,1,3' "$OUT" "rows failing both"
	ok eg --format csv dataset explain west_recent_buyers --by state
	assert_eq 'state,filter,rows_failing,keys_failing,only_rows,only_keys,rows_remaining,keys_remaining
California,west,0,0,0,0,3,2
California,recent,1,0,1,0,2,2
New York,west,2,2,1,1,0,0
New York,recent,1,1,0,0,0,0
Washington,west,0,0,0,0,2,1
Washington,recent,1,0,1,0,1,1' "$OUT" "by state"
	assert_exit 2 eg dataset explain west_recent_buyers --order recent,nope
	assert_contains "$ERR" "--order: the dataset west_recent_buyers has no filter 'nope'"
	assert_exit 2 eg dataset explain west_recent_buyers --order west,west
	assert_exit 2 eg dataset explain west_recent_buyers --by nope
	assert_contains "$ERR" "no column 'nope'"
}

test_explain_on_a_terminal_draws_the_flow() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	py "$ENGRAM" "$STORE" <<'EOF'
import sys
from e2e import *
from term import Term
engram, store = sys.argv[1:3]
t = Term([engram, "-d", store, "dataset", "explain", "west_recent_buyers"])
text = t.wait_for(lambda s: "3 rows, 3 customer_id remain" in s, what="the flow")
check(t.proc.wait(10) == 0, "exit status")
check("rows_failing" in text.splitlines()[0], "the table first: %r" % text[:200])
for want in ["7 rows, 5 customer_id", "west: 2 rows, 2 customer_id out  (outside the sales region)",
             "5 rows, 3 customer_id remain",
             "recent: 2 rows, 0 customer_id out  (no order in the last 30 days)"]:
    check(want in text, "the flow lacks %r: %s" % (want, text))
EOF
	# through a pipe: no boxes
	ok eg --format table dataset explain west_recent_buyers
	assert_not_contains "$OUT" "┌"
}

test_why_names_each_filter_and_the_values_it_reads() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	ok eg --format table dataset why west_recent_buyers 44
	assert_eq "customer_id 44: kept: row 5 passes every filter

  row 5 (kept): customer_id=44 state='California' order_id=4439 days_since_order=10
    west         pass  state IN ('California', 'Washington')  with state='California'
    recent       pass  days_since_order <= 30  with days_since_order=10

  row 6 (excluded by recent): customer_id=44 state='California' order_id=4440 days_since_order=200
    west         pass  state IN ('California', 'Washington')  with state='California'
    recent       FAIL  days_since_order <= 30  with days_since_order=200
                       why: no order in the last 30 days" "$OUT" "why 44"
	ok eg dataset why west_recent_buyers 55
	assert_eq '{"key":"55","row":7,"kept":false,"filter":"west","verdict":"fail","reads":{"state":"New York"},"why":"outside the sales region","key_verdict":"excluded"}
{"key":"55","row":7,"kept":false,"filter":"recent","verdict":"fail","reads":{"days_since_order":250},"why":"no order in the last 30 days","key_verdict":"excluded"}' "$OUT" "55 fails both"
	ok eg --format table dataset why west_recent_buyers 33
	assert_contains "$OUT" "customer_id 33: excluded: no row passes every filter"
	assert_contains "$OUT" "row 4 (excluded by west)"
	assert_exit 1 eg dataset why west_recent_buyers 66
	assert_contains "$ERR" "no row of the dataset west_recent_buyers has customer_id 66"
}

test_a_null_filter_fails_and_why_says_so() {
	# a customer with no order: the outer join leaves days_since_order NULL
	seed_store
	ok eg append <<<'{"stream":"customer-66","type":"customer_registered","time":"2025-01-10T09:00:00Z","data":{"customer_id":66,"state":"California"}}'
	ok_to /dev/null eg dataset build "$SPEC"
	ok eg --format csv dataset rows west_recent_buyers --failed recent
	assert_contains "$OUT" "66,California,,,1,0,0"
	ok eg dataset why west_recent_buyers 66
	assert_contains "$OUT" '"verdict":"null","reads":{"days_since_order":null},"why":"no order in the last 30 days"'
	ok eg --format table dataset why west_recent_buyers 66
	assert_contains "$OUT" "recent       NULL  days_since_order <= 30  with days_since_order=null"
	assert_contains "$OUT" "why: no order in the last 30 days (the expression is NULL)"
}

test_unchanged_store_reuses_and_a_moved_one_is_stale() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	local built
	built=$(jget "$(eg dataset show west_recent_buyers)" built)
	ok eg dataset build "$SPEC"
	assert_contains "$ERR" "kept table reused"
	assert_eq "$built" "$(jget "$(eg dataset show west_recent_buyers)" built)" "not built again"
	ok eg --format csv dataset list
	assert_contains "$OUT" "west_recent_buyers,12,false,7,5,3,3,3,,,"
	ok eg append <<<'{"stream":"order-4450","type":"order_placed","time":"2025-05-23T10:00:00Z","data":{"customer_id":55,"order_id":4450,"days_since_order":9}}'
	ok eg --format csv dataset list
	assert_contains "$OUT" "west_recent_buyers,12,true," "stale once the store moved"
	ok eg --format csv dataset build "$SPEC"
	assert_not_contains "$ERR" "reused"
	assert_eq 'customer_id
11
22
44' "$OUT" "55 is still out of the region"
	ok eg --format csv dataset list
	assert_contains "$OUT" "west_recent_buyers,13,false,8,5,3,3,3,,,"
	ok eg --format csv dataset build "$SPEC" --force
	assert_not_contains "$ERR" "reused"
	# an edited projection spec is a different dataset, though its spec is the same
	mkdir -p "$T/ds"
	cp "$DS"/*.json "$T/ds/"
	ok_to /dev/null eg dataset build "$T/ds/west_recent_buyers.json"
	ok eg dataset build "$T/ds/west_recent_buyers.json"
	assert_contains "$ERR" "reused"
	sed -i 's/"last": "data.days_since_order"/"first": "data.days_since_order"/' "$T/ds/orders.json"
	ok eg dataset build "$T/ds/west_recent_buyers.json"
	assert_not_contains "$ERR" "reused"
}

test_known_at_and_as_of_rebuild_the_same() {
	# customers first; the orders later: as known between, nobody has an order
	head -n 5 "$DS/events.ndjson" | ok eg append
	sleep 1.1
	local k
	k=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	sleep 0.2
	tail -n 7 "$DS/events.ndjson" | ok eg append
	ok eg --format csv dataset build "$SPEC" --known-at "$k"
	assert_eq 'customer_id' "$OUT" "nobody had an order as known then"
	ok eg --format csv dataset rows west_recent_buyers --all
	local before=$OUT
	assert_eq 6 "$(printf '%s\n' "$before" | wc -l)" "five customers, no orders"
	assert_eq "${k:0:26}Z" "$(jget "$(eg dataset show west_recent_buyers)" known_at)" "the manifest's known_at"
	ok eg append <<<'{"stream":"order-4451","type":"order_placed","time":"2025-05-23T10:00:00Z","data":{"customer_id":33,"order_id":4451,"days_since_order":9}}'
	ok eg --format csv dataset list
	assert_contains "$OUT" "west_recent_buyers,5,false," "a dataset as known at K does not go stale"
	ok_to /dev/null eg dataset build "$SPEC" --known-at "$k" --force
	ok eg --format csv dataset rows west_recent_buyers --all
	assert_eq "$before" "$OUT" "rebuilt as known at K: the same rows"
	# as of a date: customers registered by then, orders placed by then
	ok eg --format csv dataset build "$SPEC" --as-of 2025-01-07
	assert_eq 'customer_id' "$OUT"
	ok eg --format csv dataset rows west_recent_buyers --all
	assert_eq 'customer_id,state,order_id,days_since_order,f_west,f_recent,keep
11,Washington,4445,200,1,0,0
22,California,,,1,0,0' "$OUT" "as of Jan 7"
	assert_exit 2 eg dataset build "$SPEC" --as-of yesterday
}

test_events_and_projection_shorthands() {
	seed_store
	printf '%s' '{"name":"big_orders","key":"stream","base":{"events":{"type":"order_placed","since":"2025-01-01"}},
	  "filters":[{"name":"big","sql":"data->>'"'"'order_id'"'"' > 4440","why":"an old order number"}]}' >"$T/ev.json"
	ok eg --format csv dataset build "$T/ev.json"
	assert_eq 'stream
order-4444
order-4449
order-4441' "$OUT" "orders of 2025 numbered above 4440"
	ok eg --format csv dataset rows big_orders --all
	assert_eq 4 "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "four orders in 2025"
	printf '{"name":"west","key":"key","base":{"projection":"customers.json"},"filters":[{"name":"ca","sql":"state = '"'"'California'"'"'"}],"output":["key","state"]}' >"$T/west.json"
	cp "$DS/customers.json" "$T/"
	ok eg --format csv dataset build "$T/west.json"
	assert_eq 'key,state
22,California
44,California' "$OUT" "the projection next to the spec"
}

test_bad_specs_exit_2_and_keep_nothing() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	local table=$STORE/datasets/west_recent_buyers/table sum
	sum=$(cksum <"$table")
	bad() {   # bad SPEC_JSON EXPECTED_MESSAGE
		printf '%s' "$1" >"$T/bad.json"
		cp "$DS/customers.json" "$DS/orders.json" "$T/"
		assert_exit 2 eg dataset build "$T/bad.json"
		assert_contains "$ERR" "$2" "error for $1"
	}
	local base='"base":"SELECT c.key AS customer_id, c.state, o.days_since_order FROM projection('"'"'customers.json'"'"') c LEFT JOIN projection('"'"'orders.json'"'"') o ON o.customer_id = c.key"'
	bad '{"name":"west_recent_buyers","key":"customer_id",'"$base"',"filters":[{"name":"west","sql":"state = 1"},{"name":"west","sql":"1"}]}' \
		"\$.filters[1].name: 'west' is the name of filter 0 too"
	bad '{"name":"west_recent_buyers","key":"customer_id",'"$base"',"filters":[{"name":"recent","sql":"days_since <= 30"}]}' \
		"filter 'recent': no such column: days_since"
	bad '{"name":"west_recent_buyers","key":"customer_id",'"$base"',"filters":[{"name":"recent","sql":"days_since_order <="}]}' \
		"filter 'recent': near \")\": syntax error"
	bad '{"name":"west_recent_buyers","key":"id",'"$base"'}' \
		"\$.key: the base has no column 'id' (its columns: customer_id, state, days_since_order)"
	bad '{"name":"west_recent_buyers","key":"customer_id","base":"SELEC 1"}' "base: near \"SELEC\": syntax error"
	bad '{"name":"west_recent_buyers","key":"customer_id","base":"SELECT 1 AS customer_id, 2 AS customer_id"}' \
		"base: two columns are named 'customer_id'"
	bad '{"name":"../x","key":"k","base":"SELECT 1 AS k"}' "\$.name: '../x' starts with '.'"
	bad '{"name":"a/b","key":"k","base":"SELECT 1 AS k"}' "\$.name: 'a/b' holds '/'"
	bad '{"name":"x","key":"k","base":"SELECT 1 AS k","filters":[{"name":"a b","sql":"1"}]}' \
		"\$.filters[0].name: 'a b' is not a name"
	bad '{"name":"x","key":"k","base":"SELECT 1 AS k","filters":[{"name":"a","sql":"1); SELECT (1"}]}' \
		"filter 'a': one statement or expression only"
	bad '{"name":"x","key":"k","base":"SELECT 1 AS k","output":["z"]}' "\$.output[0]: the base has no column 'z'"
	bad '{"name":"x","key":"k","base":"SELECT 1 AS k, 2 AS keep"}' "the column 'keep' has the name of a column the dataset adds"
	bad '{"name":"x","key":"k","base":"SELECT 1 AS k","filter":[]}' "\$.filter: unknown member"
	bad '{"key":"k","base":"SELECT 1 AS k"}' "\$.name is required"
	bad '{"name":"x","key":"k","base":{"projection":"missing.json"}}' "missing.json: cannot read the spec"
	assert_eq "$sum" "$(cksum <"$table")" "the kept dataset is untouched"
	[ ! -e "$STORE/datasets/x" ] || [ ! -e "$STORE/datasets/x/table" ] || fail "a failed build kept a table"
	[ ! -e "$STORE/datasets/a" ] || fail "a name with / made a directory"
	assert_exit 2 eg dataset build "$T/none.json"
	assert_exit 2 eg dataset rows nope
	assert_contains "$ERR" "no dataset 'nope' is kept"
	assert_exit 2 eg dataset rows ../x
	assert_exit 2 eg dataset rows west_recent_buyers --failed nope
	assert_contains "$ERR" "(its filters: west, recent)"
	assert_exit 2 eg dataset rows west_recent_buyers --all --kept
	assert_exit 2 eg dataset frobnicate
	assert_exit 2 eg dataset
}

test_a_damaged_table_is_refused_and_built_again() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	local table=$STORE/datasets/west_recent_buyers/table
	printf '\x55' | dd of="$table" bs=1 seek=20 conv=notrunc 2>/dev/null
	assert_exit 3 eg dataset rows west_recent_buyers
	assert_contains "$ERR" "the dataset west_recent_buyers is damaged"
	ok eg --format csv dataset build "$SPEC"
	assert_eq 'customer_id
11
22
44' "$OUT" "built again"
	ok eg dataset drop west_recent_buyers
	[ ! -e "$STORE/datasets/west_recent_buyers" ] || fail "drop left the directory"
	assert_exit 2 eg dataset drop west_recent_buyers
}

test_counts_of_keys_with_many_rows() {
	# 300 rows of one key and 300 of another: a key is counted once however
	# many of its rows are kept
	"$PYTHON" -c '
import json
for i in range(600):
    print(json.dumps({"stream": "s%d" % i, "type": "a" if i % 2 else "b", "data": {"n": i}}))' >"$T/in.ndjson"
	ok eg append "$T/in.ndjson"
	printf '%s' '{"name":"many","key":"type","base":{"events":{}},"filters":[{"name":"low","sql":"data->>'"'"'n'"'"' < 590"}],"output":["type"],"distinct":true}' >"$T/many.json"
	ok eg --format csv dataset build "$T/many.json"
	assert_eq 'type
b
a' "$OUT" "two distinct final rows"
	ok eg dataset show many
	assert_eq "600 2 590 2 2" "$(jfields "$OUT" rows keys kept_rows kept_keys final_rows)" "manifest counts"
	ok eg --format csv dataset explain many
	assert_eq 'filter,rows_failing,keys_failing,only_rows,only_keys,rows_remaining,keys_remaining
low,10,0,10,0,590,2' "$OUT" "explain"
}

test_keys_are_compared_as_sql_compares_them() {
	# 7 and 7.0 are one key (7 = 7.0 in SQL); the text '7' is another, and
	# why 7 shows the rows of both, in the base's order
	printf '%s' '{"name":"k","key":"k","base":"SELECT 1 AS i, 7 AS k UNION ALL SELECT 2, '"'"'7'"'"' UNION ALL SELECT 3, 7.0 UNION ALL SELECT 4, 8","filters":[{"name":"odd","sql":"i % 2 = 1"}]}' >"$T/k.json"
	ok eg append <<<'{"type":"t"}'
	ok_to /dev/null eg dataset build "$T/k.json"
	ok eg dataset show k
	assert_eq "4 3" "$(jfields "$OUT" rows keys)" "rows and keys"
	ok eg --format csv dataset why k 7
	assert_eq 'key,row,kept,filter,verdict,reads,why,key_verdict
7,1,true,odd,pass,"{""i"":1}",,kept
7,2,false,odd,fail,"{""i"":2}",fails odd: i % 2 = 1,kept
7,3,true,odd,pass,"{""i"":3}",,kept' "$OUT" "the rows of 7, 7.0 and '7' in order"
	ok eg --format csv dataset explain k
	assert_eq 'filter,rows_failing,keys_failing,only_rows,only_keys,rows_remaining,keys_remaining
odd,2,2,2,2,2,1' "$OUT" "'7' and 8 fail; 7 (with 7.0) is kept"
}

test_ctrl_c_stops_a_build_and_keeps_the_previous_one() {
	seed_store
	ok_to /dev/null eg dataset build "$SPEC"
	local table=$STORE/datasets/west_recent_buyers/table sum
	sum=$(cksum <"$table")
	# the same name over a base long enough to be stopped
	printf '%s' '{"name":"west_recent_buyers","key":"k","base":"WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 100000000) SELECT k FROM c","filters":[{"name":"odd","sql":"k % 2"}]}' >"$T/long.json"
	py "$ENGRAM" "$STORE" "$T/long.json" <<'EOF2'
import sys, time
from e2e import *
from term import Term
engram, store, spec = sys.argv[1:4]
t = Term([engram, "-d", store, "dataset", "build", spec])
time.sleep(1.0)
check(t.proc.poll() is None, "the build ended before Ctrl-C: %r" % t.drain(0.1))
t0 = time.time()
rc = t.interrupt()
check(rc == 130, "exit status %r, expected 130: %r" % (rc, t.text()[-300:]))
check(time.time() - t0 < 2.0, "stopped %.2fs after Ctrl-C" % (time.time() - t0))
check("engram: error: interrupted: nothing kept" in t.text(), "message: %r" % t.text()[-300:])
EOF2
	assert_eq "$sum" "$(cksum <"$table")" "the kept dataset is the one before"
	[ -z "$(ls "$STORE/datasets/west_recent_buyers" | grep tmp)" ] || fail "a temporary file is left: $(ls "$STORE/datasets/west_recent_buyers")"
	ok eg --format csv dataset rows west_recent_buyers
	assert_eq 'customer_id
11
22
44' "$OUT" "the previous final rows"
}

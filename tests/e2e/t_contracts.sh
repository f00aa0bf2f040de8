# t_contracts.sh — event contracts (issue 21, docs/CONTRACTS.md): the
# schema registry in $schemas, compatibility refusals with exit 4, the
# check against stored events, validation at append naming line, pointer
# and keyword, --quarantine with list and an exactly-once retry, upcasting
# through every reader, contract tests of a producer's sample, and
# consumers that keep the schema versions they were handed.

# The orders domain of docs/CONTRACTS.md: order_placed v1 has total; v2
# renames it amount and adds currency with a default.
orders_domain() {
	cat >"$T/v1.json" <<'EOF'
{"type": "object",
 "properties": {
   "order_id": {"type": "string"},
   "customer": {"type": "string"},
   "total": {"type": "number", "minimum": 0},
   "items": {"type": "array", "items": {"type": "object",
             "properties": {"sku": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
             "required": ["sku", "price"]}}},
 "required": ["order_id", "customer", "total"]}
EOF
	cat >"$T/v2.json" <<'EOF'
{"type": "object",
 "properties": {
   "order_id": {"type": "string"},
   "customer": {"type": "string"},
   "amount": {"type": "number", "minimum": 0},
   "currency": {"type": "string", "enum": ["EUR", "USD"], "default": "EUR"},
   "items": {"type": "array", "items": {"type": "object",
             "properties": {"sku": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
             "required": ["sku", "price"]}}},
 "required": ["order_id", "customer", "amount", "currency"]}
EOF
	printf '%s\n' '[{"op": "rename", "path": "/total", "to": "amount"}]' >"$T/up2.json"
}

# v1 events o-1..o-3, written with v1 registered.
orders_v1() {
	ok eg schema add order_placed "$T/v1.json"
	cat >"$T/o1.ndjson" <<'EOF'
{"id":"o-1","stream":"c-1","type":"order_placed","time":"2025-01-01T10:00:00Z","data":{"order_id":"o-1","customer":"c-1","total":10}}
{"id":"o-2","stream":"c-2","type":"order_placed","time":"2025-01-01T11:00:00Z","data":{"order_id":"o-2","customer":"c-2","total":25.5}}
{"id":"o-3","stream":"c-1","type":"order_placed","time":"2025-01-02T10:00:00Z","data":{"order_id":"o-3","customer":"c-1","total":4}}
EOF
	ok eg append "$T/o1.ndjson"
}

# v2 events o-4, o-5 (one in USD).
orders_v2() {
	ok eg schema add order_placed "$T/v2.json" --upcast "$T/up2.json"
	cat >"$T/o2.ndjson" <<'EOF'
{"id":"o-4","stream":"c-2","type":"order_placed","time":"2025-01-02T12:00:00Z","data":{"order_id":"o-4","customer":"c-2","amount":7,"currency":"USD"}}
{"id":"o-5","stream":"c-3","type":"order_placed","time":"2025-01-03T09:00:00Z","data":{"order_id":"o-5","customer":"c-3","amount":1.25,"currency":"EUR"}}
EOF
	ok eg append "$T/o2.ndjson"
}

# ------------------------------------------------------------- registry

test_schema_add_list_show_and_the_registry_is_in_the_log() {
	orders_domain
	ok eg schema add order_placed "$T/v1.json"
	assert_eq "order_placed 1 backward registered 0 0" \
		"$(jfields "$OUT" type version compat result checked failed)" "schema add prints the version registered"
	orders_v1
	orders_v2
	ok eg schema list
	py "$OUT" <<'EOF'
import sys
from e2e import *
rows = [loads(l) for l in sys.argv[1].splitlines()]
check(len(rows) == 1, "one type, got %r" % sys.argv[1])
r = rows[0]
check(r.get("type") == "order_placed" and r.get("version") == Num("2") and r.get("compat") == "backward",
      "list row: %s" % dumps(r))
ev = dict(r.get("events"))
check(ev.get("1") == Num("3") and ev.get("2") == Num("2"), "events per version: %s" % dumps(r.get("events")))
EOF
	ok eg schema show order_placed --version 1
	py "$OUT" "$T/v1.json" <<'EOF'
import sys, json
check = lambda c, m: c or sys.exit(m)
check(json.loads(sys.argv[1]) == json.load(open(sys.argv[2])), "show --version 1 is not v1: %s" % sys.argv[1][:200])
EOF
	ok eg schema show order_placed --upcast
	assert_contains "$OUT" '"rename"' "show --upcast prints the upcast of the latest version"
	# the versions are events of $schemas: chained, verified, never forgotten
	ok eg read --stream '$schemas'
	assert_eq "$(count_lines "$T/.out")" 2 "two engram.schema events in \$schemas"
	assert_contains "$OUT" '"type":"engram.schema"' "registry events have type engram.schema"
	ok eg verify
	# the same document again registers nothing
	ok eg schema add order_placed "$T/v2.json"
	assert_eq "$(jget "$OUT" result)" unchanged "the latest document again is unchanged"
	ok eg read --stream '$schemas'
	assert_eq "$(count_lines "$T/.out")" 2 "an unchanged add writes no event"
	# and a reserved stream cannot be written by input
	printf '%s\n' '{"stream":"$schemas","type":"engram.schema","data":{}}' >"$T/forge.ndjson"
	assert_exit 1 eg append "$T/forge.ndjson"
	assert_contains "$ERR" "reserved" "append refuses \$ streams"
}

test_schema_diff_names_each_change_and_its_direction() {
	orders_domain
	orders_v1
	orders_v2
	ok eg schema diff order_placed 1 2
	py "$OUT" <<'EOF'
import sys
from e2e import *
rows = {(r.get("change"), r.get("pointer")): r.get("breaks") for r in map(loads, sys.argv[1].splitlines())}
want = {("property-added-required", "/amount"): "backward",
        ("property-added-required-default", "/currency"): "none",
        ("property-removed", "/total"): "forward"}
for k, v in want.items():
    check(rows.get(k) == v, "diff: %s -> %r, want %r; all: %r" % (k, rows.get(k), v, rows))
EOF
	assert_exit 1 eg schema diff order_placed 1 3
	assert_contains "$ERR" "no schema version 3" "a missing version is named"
	assert_exit 2 eg schema diff order_placed 1 x
}

test_incompatible_add_exits_4_listing_each_rule_and_writes_nothing() {
	orders_domain
	orders_v1
	local head
	head=$(head_of)
	# v2 without its upcast: amount is required and old events lack it
	assert_exit 4 eg schema add order_placed "$T/v2.json"
	assert_contains "$ERR" "not backward compatible" "the error names the mode"
	assert_contains "$ERR" "property-added-required /amount" "the rule and pointer are listed"
	assert_contains "$ERR" "3 of 3 stored events fail it" "the stored events are checked too"
	assert_contains "$ERR" "event 2 (stored as v1): /data: required" "the first failing events are shown"
	assert_eq "$(head_of)" "$head" "nothing was registered"
	# tightening a constraint breaks backward; forward mode allows it but
	# the stored events still must pass (or --force)
	sed 's/"minimum": 0}/"minimum": 5}/' "$T/v1.json" >"$T/v1b.json"
	assert_exit 4 eg schema check order_placed "$T/v1b.json"
	assert_contains "$ERR" "minimum-tightened /total" "tightened minimum is a backward break"
	assert_exit 4 eg schema check order_placed "$T/v1b.json" --compat forward
	assert_contains "$ERR" "1 of 3 stored events fail it" "o-3 (total 4) fails minimum 5"
	assert_not_contains "$ERR" "minimum-tightened" "forward compatibility allows tightening"
	ok eg schema check order_placed "$T/v1b.json" --compat forward --force
	assert_eq "$(jfields "$OUT" result checked failed)" "compatible 3 1" "check --force reports and passes"
	assert_eq "$(head_of)" "$head" "check never writes"
	ok eg schema add order_placed "$T/v1b.json" --compat none --sample 2
	assert_eq "$(jfields "$OUT" version compat checked)" "2 none 2" "--sample 2 checks two events"
	assert_exit 2 eg schema add order_placed "$T/v1b.json" --compat sideways
}

test_bad_schema_documents_exit_1_naming_the_schema_path() {
	printf '{"type":"object","properties":{"a":{"type":"string","maxLenght":3}}}\n' >"$T/s1.json"
	printf '{"type":"object","properties":{"a":{"$ref":"#/$defs/nope"}}}\n' >"$T/s2.json"
	printf '{"type":"object","properties":{"a":{"type":"string","pattern":"(unclosed"}}}\n' >"$T/s3.json"
	printf '{"type":"object","properties":{"a":{"type":"number","minimum":5,"maximum":1}}}\n' >"$T/s4.json"
	printf '{"type":"object","properties":{"a":{"type":["string",7]}}}\n' >"$T/s5.json"
	printf '{"type":"object",\n' >"$T/s6.json"
	local i want
	for i in 1 2 3 4 5 6; do
		assert_exit 1 eg schema add t "$T/s$i.json"
		case $i in
		1) want="/properties/a/maxLenght" ;;
		2) want="/properties/a/\$ref" ;;
		3) want="/properties/a/pattern" ;;
		4) want="/properties/a" ;;
		5) want="/properties/a/type" ;;
		6) want="invalid JSON" ;;
		esac
		assert_contains "$ERR" "$want" "schema $i: the error names $want"
		assert_contains "$ERR" "s$i.json" "schema $i: the error names the file"
	done
	assert_exit 1 eg schema add t "$T/s1.json" --upcast "$T/s1.json"
	[ ! -d "$STORE/log" ] || [ -z "$(eg read --stream '$schemas' 2>/dev/null)" ] ||
		fail "a refused schema wrote to \$schemas"
}

# ------------------------------------------------------------ at append

test_append_validates_against_the_latest_version_naming_line_pointer_keyword() {
	orders_domain
	orders_v1
	orders_v2
	local head
	head=$(head_of)
	cat >"$T/bad.ndjson" <<'EOF'
{"id":"o-6","stream":"c-4","type":"order_placed","data":{"order_id":"o-6","customer":"c-4","amount":3,"currency":"EUR"}}
{"id":"o-7","stream":"c-4","type":"order_placed","data":{"order_id":"o-7","customer":"c-4","amount":3,"currency":"EUR","items":[{"sku":"a","price":1},{"sku":"b","price":2},{"sku":"c","price":-2}]}}
EOF
	assert_exit 1 eg append "$T/bad.ndjson"
	assert_contains "$ERR" "line 2: schema order_placed v2: /data/items/2/price: minimum: expected a number >= 0, got -2" \
		"the error names line, pointer, keyword and expectation"
	assert_eq "$(head_of)" "$head" "nothing of the batch was written"
	# every keyword family, one line each, through the same door
	local cases=(
		'{"order_id":"x","customer":"c","amount":"3","currency":"EUR"}|/data/amount: type'
		'{"order_id":"x","customer":"c","amount":3,"currency":"GBP"}|/data/currency: enum'
		'{"order_id":"x","customer":"c","amount":3}|/data: required'
		'{"order_id":"x","customer":"c","amount":-1,"currency":"EUR"}|/data/amount: minimum'
		'{"order_id":"x","customer":"c","amount":1,"currency":"EUR","items":[{"sku":"a"}]}|/data/items/0: required'
		'{"order_id":"x","customer":"c","amount":1,"currency":"EUR","items":{}}|/data/items: type'
	)
	local c
	for c in "${cases[@]}"; do
		printf '{"stream":"c-9","type":"order_placed","data":%s}\n' "${c%%|*}" >"$T/one.ndjson"
		assert_exit 1 eg append "$T/one.ndjson"
		assert_contains "$ERR" "line 1: schema order_placed v2: ${c#*|}" "data ${c%%|*}"
	done
	# events validated carry the version they passed
	ok eg read --stream c-3
	assert_eq "$(jget "$OUT" schema_version)" 2 "read shows schema_version"
	ok eg read --stream c-3 --format csv
	assert_contains "$OUT" "schema_version" "csv has the schema_version column"
	# types without a schema pass until require-all is on
	printf '{"stream":"s","type":"untyped","data":{}}\n' >"$T/untyped.ndjson"
	ok eg append "$T/untyped.ndjson"
	ok eg schema require-all on
	assert_exit 1 eg append "$T/untyped.ndjson"
	assert_contains "$ERR" "has no schema, and schema require-all is on" "require-all refuses"
	ok eg schema require-all off
	ok eg append "$T/untyped.ndjson"
}

test_old_stores_read_and_events_before_a_schema_keep_no_version() {
	ok eg gen bank --events 50 --seed 3
	ok_to "$T/bank.ndjson" eg gen bank --events 50 --seed 3
	ok eg append "$T/bank.ndjson"
	ok_to "$T/before.ndjson" eg read
	printf '{"type":"object","properties":{"amount":{"type":"number"}}}\n' >"$T/s.json"
	ok eg schema add deposit "$T/s.json"
	assert_eq "$(jfields "$OUT" checked failed)" "$(grep -c '"deposit"' "$T/bank.ndjson") 0" \
		"every stored deposit was checked"
	ok_to "$T/after.ndjson" eg read --to "$(count_lines "$T/before.ndjson")"
	assert_files_eq "$T/before.ndjson" "$T/after.ndjson" "events stored before the schema read as before"
}

test_quarantine_keeps_refused_events_and_retry_appends_each_once() {
	orders_domain
	orders_v1
	orders_v2
	cat >"$T/mixed.ndjson" <<'EOF'
{"id":"q-1","stream":"c-5","type":"order_placed","data":{"order_id":"q-1","customer":"c-5","amount":2,"currency":"EUR"}}
{"id":"q-2","stream":"c-5","type":"order_placed","data":{"order_id":"q-2","customer":"c-5","amount":2,"currency":"GBP"}}
{"stream":"c-6","type":"order_placed","time":"2025-02-01T00:00:00Z","data":{"order_id":"q-3","customer":"c-6","amount":-4,"currency":"EUR"}}
{"id":"q-4","stream":"c-6","type":"order_placed","data":{"order_id":"q-4","customer":"c-6","amount":9,"currency":"USD"}}
EOF
	ok eg append "$T/mixed.ndjson" --quarantine
	assert_eq "$(jfields "$OUT" appended quarantined)" "2 2" "two appended, two quarantined"
	ok eg quarantine list
	py "$OUT" <<'EOF'
import sys
from e2e import *
rows = [loads(l) for l in sys.argv[1].splitlines()]
check(len(rows) == 2, "two quarantined: %r" % sys.argv[1])
a, b = rows
check(a.get("id") == "q-2" and a.get("line") == Num("2") and a.get("status") == "pending", "row 1: %s" % dumps(a))
check(b.get("line") == Num("3") and b.get("schema_version") == Num("2"), "row 2: %s" % dumps(b))
e = a.get("errors")[0]
check(e.get("pointer") == "/data/currency" and e.get("keyword") == "enum", "errors: %s" % dumps(a.get("errors")))
EOF
	ok eg read --stream '$quarantine'
	assert_contains "$OUT" '"type":"engram.rejected"' "quarantined events are engram.rejected"
	# nothing passes yet: retry appends nothing
	ok eg quarantine retry
	assert_eq "$(grep -c '"status":"failing"' <<<"$OUT")" 2 "both still fail"
	# v3 admits GBP: one passes now, exactly once however often retried
	sed 's/"EUR", "USD"/"EUR", "USD", "GBP"/' "$T/v2.json" >"$T/v3.json"
	ok eg schema add order_placed "$T/v3.json"
	ok eg quarantine retry
	assert_eq "$(grep -c '"status":"appended"' <<<"$OUT")" 1 "q-2 is appended"
	assert_eq "$(grep -c '"status":"failing"' <<<"$OUT")" 1 "q-3 still fails"
	ok eg quarantine retry
	assert_eq "$(grep -c '"status":"appended"' <<<"$OUT")" 0 "a second retry appends nothing again"
	ok eg read --stream c-5
	assert_eq "$(count_lines "$T/.out")" 2 "q-1 and q-2, each once"
	assert_eq "$(grep -c '"schema_version":3' <<<"$OUT")" 1 "q-2 passed v3"
	ok eg quarantine list
	assert_contains "$OUT" '"status":"appended"' "list shows the appended one"
	# the refused event kept its event time and got an id for the retry
	assert_contains "$OUT" '"line":3' "q-3 is listed with its line"
}

# ------------------------------------------------------------- upcasting

test_upcast_through_read_consume_and_sql() {
	orders_domain
	orders_v1
	orders_v2
	ok eg read --type order_placed
	assert_contains "$OUT" '"total":10' "read shows events as stored"
	ok eg read --type order_placed --upcast
	assert_not_contains "$OUT" '"total"' "read --upcast renames total"
	assert_contains "$OUT" '"data":{"order_id":"o-1","customer":"c-1","amount":10,"currency":"EUR"}' \
		"o-1 at v2: amount in total's place, currency defaulted"
	ok eg consume billing --type order_placed --upcast
	assert_eq "$(grep -c '"amount"' <<<"$OUT")" 5 "consume --upcast delivers all at v2"
	ok eg consumers
	assert_contains "$OUT" '"schemas":{"order_placed":[2]}' "consumers shows the versions handed out"
	ok eg consume raw --type order_placed
	ok eg consumers
	assert_contains "$OUT" '"consumer":"raw","pos":' "raw is listed"
	assert_contains "$OUT" '"schemas":{"order_placed":[1,2]}' "raw was handed v1 and v2 as stored"
	# a backup keeps them, and the registry (it is in the log)
	ok eg backup "$T/bk"
	ok "$ENGRAM" -d "$T/bk" consumers
	assert_contains "$OUT" '"schemas":{"order_placed":[1,2]}' "backup keeps the schema versions"
	ok "$ENGRAM" -d "$T/bk" schema list
	assert_contains "$OUT" '"version":2' "backup has the registry"
	ok eg sql "SELECT data->>'\$.amount' AS a, data->>'\$.currency' AS c, schema_version FROM events WHERE type = 'order_placed' ORDER BY pos"
	py "$OUT" <<'EOF'
import sys
from e2e import *
rows = [loads(l) for l in sys.argv[1].splitlines()]
got = [(plain(r.get("a")), r.get("c"), plain(r.get("schema_version"))) for r in rows]
want = [("10", "EUR", "2"), ("25.5", "EUR", "2"), ("4", "EUR", "2"), ("7", "USD", "2"), ("1.25", "EUR", "2")]
check(got == want, "sql sees v2: %r" % got)
EOF
	ok eg sql "SELECT count(*) AS n FROM events WHERE type = 'order_placed' AND upcast = 0 AND data->>'\$.total' IS NOT NULL"
	assert_eq '{"n":3}' "$OUT" "upcast = 0: the v1 events as stored"
	assert_exit 1 eg sql "SELECT * FROM events WHERE upcast = 'yes'"
	assert_contains "$ERR" "upcast: expected 0" "a bad upcast value is named"
}

# A projection over mixed v1/v2 events, upcast, equals the projection over
# the same events written as v2 from the start; and "upcast": false sees
# them as stored.
test_upcast_projection_equals_v2_from_the_start() {
	orders_domain
	cat >"$T/spend.json" <<'EOF'
{"name": "spend", "key": "data.customer", "types": ["order_placed"],
 "fields": {"spent": {"sum": "data.amount"}, "orders": {"count": true}, "last_currency": {"last": "data.currency"}}}
EOF
	# the store built in v1 then v2
	orders_v1
	ok_to "$T/before.ndjson" eg project "$T/spend.json"
	orders_v2
	ok_to "$T/mixed.ndjson" eg project "$T/spend.json"
	# the same orders written as v2 from the start, elsewhere
	local v2=$T/v2store
	"$ENGRAM" -d "$v2" schema add order_placed "$T/v2.json" >/dev/null || fail "v2 store: schema add"
	sed -e 's/"total":/"amount":/' -e 's/}}$/,"currency":"EUR"}}/' "$T/o1.ndjson" >"$T/o1v2.ndjson"
	"$ENGRAM" -d "$v2" append "$T/o1v2.ndjson" >/dev/null || fail "v2 store: append o1"
	"$ENGRAM" -d "$v2" append "$T/o2.ndjson" >/dev/null || fail "v2 store: append o2"
	"$ENGRAM" -d "$v2" project "$T/spend.json" >"$T/fresh.ndjson" || fail "v2 store: project"
	assert_files_eq "$T/fresh.ndjson" "$T/mixed.ndjson" "upcast projection = v2 from the start"
	assert_contains "$(cat "$T/mixed.ndjson")" '"key":"c-1","spent":14' "c-1 spent 10 + 4"
	# the snapshot taken before v2 was not reused: a second run agrees
	ok_to "$T/again.ndjson" eg project "$T/spend.json"
	assert_files_eq "$T/fresh.ndjson" "$T/again.ndjson" "second run (from state) agrees"
	sed 's/"name": "spend",/"name": "spend", "upcast": false,/' "$T/spend.json" >"$T/raw.json"
	ok_to "$T/raw.ndjson" eg project "$T/raw.json"
	assert_contains "$(cat "$T/raw.ndjson")" '"key":"c-1","spent":0,' "upcast false: v1 events have no amount"
	# windows see them upcast too
	cat >"$T/win.json" <<'EOF'
{"name": "daily", "types": ["order_placed"], "window": {"tumble": "1d"},
 "aggs": {"n": {"count": true}, "amount": {"sum": "data.amount"}}}
EOF
	ok_to "$T/win-mixed.ndjson" eg windows "$T/win.json"
	"$ENGRAM" -d "$v2" windows "$T/win.json" >"$T/win-fresh.ndjson" || fail "v2 store: windows"
	assert_files_eq "$T/win-fresh.ndjson" "$T/win-mixed.ndjson" "upcast windows = v2 from the start"
	assert_contains "$(cat "$T/win-mixed.ndjson")" '"amount":35.5' "Jan 1: 10 + 25.5 (v1 events, summed as amount)"
}

# ---------------------------------------------------- producers' contract

test_schema_validate_checks_a_producers_sample_without_writing() {
	orders_domain
	orders_v1
	orders_v2
	local head
	head=$(head_of)
	cat >"$T/sample.ndjson" <<'EOF'
{"type":"order_placed","data":{"order_id":"s-1","customer":"c","amount":1,"currency":"EUR"}}
{"type":"order_placed","data":{"order_id":"s-2","customer":"c","amount":1}}

{"type":"order_placed","data":{"order_id":"s-3","customer":"c","amount":"1","currency":"EUR"}}
EOF
	assert_exit 1 eg schema validate order_placed "$T/sample.ndjson"
	assert_contains "$ERR" "line 2: schema order_placed v2: /data: required" "line 2 named"
	assert_contains "$ERR" "line 4: schema order_placed v2: /data/amount: type" "line 4 named"
	assert_eq "$(jfields "$OUT" lines valid invalid)" "4 1 2" "summary row"
	head -n 1 "$T/sample.ndjson" >"$T/good.ndjson"
	ok eg schema validate order_placed "$T/good.ndjson"
	printf '{"order_id":"d-1","customer":"c","amount":1,"currency":"USD"}\n' | ok eg schema validate order_placed - --data
	printf '%s\n' '{"type":"order_placed","data":{"order_id":"x","customer":"c","amount":1,"currency":"EUR"}}' \
		'{"type":"other","data":{}}' >"$T/all.ndjson"
	ok eg schema validate --all "$T/all.ndjson"
	assert_eq "$(jfields "$OUT" valid no_schema)" "1 1" "--all: a type without a schema is counted"
	assert_eq "$(head_of)" "$head" "validate never writes"
}

# Sessions and funnels read data.page_url: a v1 that called it url reads
# through the rename, and --no-upcast sees the events as stored.
test_upcast_through_sessions_and_funnels() {
	printf '{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}\n' >"$T/pv1.json"
	printf '{"type":"object","properties":{"page_url":{"type":"string"}},"required":["page_url"]}\n' >"$T/pv2.json"
	printf '[{"op":"rename","path":"/url","to":"page_url"}]\n' >"$T/pvup.json"
	ok eg schema add page_view "$T/pv1.json"
	cat >"$T/v1.ndjson" <<'EOF2'
{"stream":"u-1","type":"page_view","time":"2025-01-01T10:00:00Z","data":{"url":"/home"}}
{"stream":"u-1","type":"page_view","time":"2025-01-01T10:01:00Z","data":{"url":"/shoes"}}
{"stream":"u-1","type":"purchase","time":"2025-01-01T10:02:00Z","data":{}}
EOF2
	ok eg append "$T/v1.ndjson"
	ok eg schema add page_view "$T/pv2.json" --upcast "$T/pvup.json"
	printf '%s\n' '{"stream":"u-2","type":"page_view","time":"2025-01-01T11:00:00Z","data":{"page_url":"/home"}}' \
		'{"stream":"u-2","type":"purchase","time":"2025-01-01T11:05:00Z","data":{}}' >"$T/v2.ndjson"
	ok eg append "$T/v2.ndjson"
	ok eg sessions --stream u-1
	assert_eq "/home /shoes" "$(jfields "$OUT" entry_page exit_page)" "sessions read v1 pages through the upcast"
	ok eg sessions --stream u-1 --no-upcast
	assert_eq "null null" "$(jfields "$OUT" entry_page exit_page)" "--no-upcast: v1 events have no page_url"
	ok eg funnel --steps page_view:/home,purchase --within 1h
	assert_eq "2" "$(jget "$(sed -n 2p <<<"$OUT")" users)" "both users through /home to purchase"
	ok eg funnel --steps page_view:/home,purchase --within 1h --no-upcast
	assert_eq "1" "$(jget "$(sed -n 2p <<<"$OUT")" users)" "as stored, only u-2 has page_url /home"
	# engram's own events ($schemas) are facts about the store, not events
	# the engines count
	ok eg sessions
	assert_not_contains "$OUT" '$schemas' "no session of \$schemas"
	printf '{"fields":{"n":{"count":true}}}\n' >"$T/all.json"
	ok eg project "$T/all.json"
	assert_not_contains "$OUT" '$schemas' "no projection key \$schemas"
	assert_contains "$OUT" '"key":"u-1","n":3' "u-1's events counted"
}

# The envelope part of a schema: actor, session and stream checked at append.
test_envelope_part_is_checked_at_append() {
	printf '%s\n' '{"type":"object","envelope":{"actor":{"pattern":"^customer:[0-9]+$"},"stream":{"pattern":"^order-"},"required":["actor"]}}' >"$T/env.json"
	ok eg schema add order_paid "$T/env.json"
	printf '%s\n' '{"stream":"order-1","type":"order_paid","actor":"customer:7","data":{}}' >"$T/good.ndjson"
	ok eg append "$T/good.ndjson"
	printf '%s\n' '{"stream":"order-2","type":"order_paid","data":{}}' >"$T/noactor.ndjson"
	assert_exit 1 eg append "$T/noactor.ndjson"
	assert_contains "$ERR" "schema order_paid v1: /actor: required" "a required actor"
	printf '%s\n' '{"stream":"cart-2","type":"order_paid","actor":"bot","data":{}}' >"$T/bad.ndjson"
	assert_exit 1 eg append "$T/bad.ndjson"
	assert_contains "$ERR" "/actor: pattern" "the actor's pattern"
	assert_contains "$ERR" "/stream: pattern" "the stream's pattern, in the same line's errors"
}

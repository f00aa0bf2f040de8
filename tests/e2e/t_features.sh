# t_features.sh — engram features: label columns passed through, the
# record-time guard and its leakage report, --out with its manifest and
# --check, serving one entity, NDJSON labels, and bad input (exit 2 for
# the spec, 1 for the labels, nothing written).  Values against a plain
# recomputation are tests/features/prop.py's.

# Customer c1 buys on Jan 1 (recorded then), Jan 3 (recorded then) and
# Jan 4 (recorded Jan 6: late); c2 buys on Jan 2.  Views carry a page.
feature_store() {
	cat >"$T/ev.ndjson" <<'EOF'
{"id":"e1","stream":"o-1","type":"buy","time":"2025-01-01T10:00:00Z","recorded":"2025-01-01T10:00:01Z","data":{"customer":"c1","amount":10.10,"page":"/a"}}
{"id":"e2","stream":"o-2","type":"buy","time":"2025-01-02T10:00:00Z","recorded":"2025-01-02T10:00:01Z","data":{"customer":"c2","amount":5}}
{"id":"e3","stream":"o-3","type":"buy","time":"2025-01-03T10:00:00Z","recorded":"2025-01-03T10:00:01Z","data":{"customer":"c1","amount":20.20,"page":"/b"}}
{"id":"e4","stream":"o-4","type":"buy","time":"2025-01-04T10:00:00Z","recorded":"2025-01-06T10:00:00Z","data":{"customer":"c1","amount":30,"page":"/c"}}
EOF
	ok eg append --keep-recorded "$T/ev.ndjson"
	cat >"$T/spec.json" <<'EOF'
{"entity": "data.customer",
 "labels": {"entity": "customer", "cutoff": "at"},
 "features": {
   "buys":    {"count": true, "types": ["buy"]},
   "buys_2d": {"count": true, "types": ["buy"], "window": "2d"},
   "spend":   {"sum": "data.amount"},
   "avg":     {"avg": "data.amount"},
   "last":    {"last": "data.page"},
   "days":    {"since_last": "1d"},
   "per_buy": {"ratio": ["spend", "buys"]}
 }}
EOF
}

test_features_rows_pass_labels_through() {
	feature_store
	printf 'id,customer,at,note\n1,c1,2025-01-05T10:00:00Z,"a, ""quoted"" note"\n2,nobody,2025-01-05T10:00:00Z,\n' >"$T/labels.csv"
	ok_to "$T/out.csv" eg features "$T/spec.json" --labels "$T/labels.csv" --format csv
	assert_eq 'id,customer,at,note,buys,buys_2d,spend,avg,last,days,per_buy
1,c1,2025-01-05T10:00:00Z,"a, ""quoted"" note",2,1,30.3,15.15,/b,2,15.15
2,nobody,2025-01-05T10:00:00Z,,0,0,0,,,,' "$(cat "$T/out.csv")" "csv rows (the late Jan 4 buy left out)"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --format ndjson
	assert_eq '{"id":"1","customer":"c1","at":"2025-01-05T10:00:00Z","note":"a, \"quoted\" note","buys":2,"buys_2d":1,"spend":30.3,"avg":15.15,"last":"/b","days":2,"per_buy":15.15}' \
		"$(head -1 <<<"$OUT")" "ndjson row"
	assert_contains "$(tail -1 <<<"$OUT")" '"avg":null,"last":null,"days":null,"per_buy":null' "no events: nulls"
}

test_features_explain_says_how_the_table_was_made() {
	feature_store
	printf 'customer,at\nc1,2025-01-05T10:00:00Z\n' >"$T/labels.csv"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --format csv --explain
	assert_contains "$ERR" '{"explain":"table","bound":4,"kept":false,"built":4,"path":"columns","events_from_columns":0,"events_from_log":4}' "built from the columns' scan"
	local cols=$OUT
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --format csv --explain
	assert_contains "$ERR" '{"explain":"table","bound":4,"kept":true,"built":0,"path":null,"events_from_columns":0,"events_from_log":0}' "the kept table"
	rm -rf "$STORE/idx/feat"
	ENGRAM_NO_COLUMNS=1 ok eg features "$T/spec.json" --labels "$T/labels.csv" --format csv --explain
	assert_contains "$ERR" '"path":"log","events_from_columns":0,"events_from_log":4,"log_reason":"ENGRAM_NO_COLUMNS is set"}' "the log"
	assert_eq "$cols" "$OUT" "the same rows"
	ok eg features "$T/spec.json" --entity c1 --at 2025-01-05T10:00:00Z --explain
	assert_contains "$ERR" '"explain":"table"' "serving explains too"
}

test_features_known_at_column_and_leakage_report() {
	feature_store
	printf 'customer,at,known\nc1,2025-01-05T10:00:00Z,2025-01-05T10:00:00Z\nc1,2025-01-05T10:00:00Z,2025-01-07T00:00:00Z\nc2,2025-01-05T10:00:00Z,2025-01-05T10:00:00Z\n' >"$T/labels.csv"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --cutoff-known-at known --format csv \
		--leakage-out "$T/leak.ndjson"
	assert_contains "$OUT" 'c1,2025-01-05T10:00:00Z,2025-01-05T10:00:00Z,2,1,30.3,' "known at the cutoff"
	assert_contains "$OUT" 'c1,2025-01-05T10:00:00Z,2025-01-07T00:00:00Z,3,2,60.3,20.1,/c,1,20.1' "known after the late buy"
	py "$T/leak.ndjson" <<'EOF'
import json, sys
from e2e import *
rep = {r["feature"]: r for r in map(json.loads, open(sys.argv[1]))}
check(list(rep) == ["buys", "buys_2d", "spend", "avg", "last", "days", "per_buy"], "one line per feature, in order: %s" % list(rep))
for name in rep:
    r = rep[name]
    check(r["rows"] == 3 and r["rows_differ"] == 1, "%s: %s" % (name, r))
check(rep["spend"]["abs_diff"] == 30, "spend abs_diff %s" % rep["spend"]["abs_diff"])
ex = rep["buys"]["examples"]
check(len(ex) == 1 and ex[0]["row"] == 1 and ex[0]["line"] == 2 and ex[0]["entity"] == "c1", "example %s" % ex)
check(ex[0]["value"] == 2 and ex[0]["naive_value"] == 3, "values %s" % ex[0])
late = ex[0]["late_events"]
check(len(late) == 1 and late[0]["pos"] == 4 and late[0]["id"] == "e4", "late events %s" % late)
check(late[0]["time"] == "2025-01-04T10:00:00.000000Z" and late[0]["recorded"] == "2025-01-06T10:00:00.000000Z", "late event clocks %s" % late)
EOF
	# --leakage-report alone: the same report on stderr
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --cutoff-known-at known --leakage-report
	assert_eq "$(cat "$T/leak.ndjson")" "$ERR" "report on stderr"
}

test_features_out_manifest_and_check() {
	feature_store
	printf 'customer,at,known\nc1,2025-01-05T10:00:00Z,2030-01-01T00:00:00Z\nc2,2025-01-05T10:00:00Z,2030-01-01T00:00:00Z\n' >"$T/labels.csv"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --cutoff-known-at known --out "$T/train.csv"
	assert_eq "" "$OUT" "nothing on stdout with --out"
	assert_match "$(head -1 "$T/train.csv")" '^customer,at,known,buys,' "--out FILE.csv writes csv"
	py "$T/train.csv.manifest.json" "$T/train.csv" "$T/labels.csv" "$STORE" <<'EOF'
import hashlib, json, os, sys
from e2e import *
m = json.load(open(sys.argv[1]))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
check(m["output_sha256"] == sha(sys.argv[2]), "output_sha256")
check(m["labels_sha256"] == sha(sys.argv[3]), "labels_sha256")
check(m["head"]["pos"] == 4 and len(m["head"]["chain"]) == 64, "head %s" % m["head"])
check(m["rows"] == 2 and m["format"] == "csv" and m["cutoff_known_at"] == "known", "manifest %s" % m)
check(m["store"] == os.path.realpath(sys.argv[4]) and m["engram_version"], "store %s" % m["store"])
check(len(m["spec_sha256"]) == 64 and m["projections"] == [], "spec")
EOF
	# more events: the manifest's head bounds what --check reads
	printf '{"type":"buy","time":"2025-01-04T11:00:00Z","data":{"customer":"c1","amount":1}}\n' | eg append >/dev/null
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --cutoff-known-at known --format csv
	assert_contains "$OUT" "c1,2025-01-05T10:00:00Z,2030-01-01T00:00:00Z,4," "a new run sees the new buy"
	ok eg features --check "$T/train.csv.manifest.json"
	assert_eq "identical 2 4" "$(jfields "$OUT" check rows head_pos)" "check row"
	# a changed labels file is not the training set's
	cp "$T/labels.csv" "$T/labels.orig"
	printf 'c2,2025-01-06T10:00:00Z,2030-01-01T00:00:00Z\n' >>"$T/labels.csv"
	assert_exit 3 eg features --check "$T/train.csv.manifest.json"
	assert_contains "$ERR" "changed since the manifest" "changed labels"
	cp "$T/labels.orig" "$T/labels.csv"
	# a manifest whose output differs: exit 3
	sed -i 's/"output_sha256": "\(.\)/"output_sha256": "0\1/' "$T/train.csv.manifest.json"
	assert_exit 3 eg features --check "$T/train.csv.manifest.json"
	assert_contains "$OUT" '"check":"differs"' "check row says differs"
}

test_features_serving_matches_training() {
	feature_store
	printf 'customer,at\nc1,2025-01-05T10:00:00Z\n' >"$T/labels.csv"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --format ndjson
	local row=$OUT
	ok eg features "$T/spec.json" --entity c1 --at 2025-01-05T10:00:00Z --format ndjson
	py "$row" "$OUT" <<'EOF'
import json, sys
from e2e import *
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
check(b["entity"] == "c1" and b["at"] == "2025-01-05T10:00:00.000000Z" and b["known_at"] == b["at"], "serving row %s" % b)
for k in ["buys", "buys_2d", "spend", "avg", "last", "days", "per_buy"]:
    check(a[k] == b[k], "%s: training %s, serving %s" % (k, a[k], b[k]))
EOF
	# now: every event, the late one too
	ok eg features "$T/spec.json" --entity c1 --format ndjson
	assert_contains "$OUT" '"buys":3,' "serving now"
	assert_exit 2 eg features "$T/spec.json" --entity c1 --out "$T/x.csv"
	assert_exit 2 eg features "$T/spec.json"
	assert_exit 2 eg features "$T/spec.json" --labels "$T/labels.csv" --at 2025-01-01T00:00:00Z
}

test_features_ndjson_labels() {
	feature_store
	printf '{"customer":"c1","at":1736071200000,"y":{"ok":true}}\n\n{"customer":"c2","at":"2025-01-05T10:00:00Z","y":null}\n' >"$T/labels.ndjson"
	ok eg features "$T/spec.json" --labels "$T/labels.ndjson" --format ndjson
	assert_eq '{"customer":"c1","at":1736071200000,"y":{"ok":true},"buys":2,"buys_2d":1,"spend":30.3,"avg":15.15,"last":"/b","days":2,"per_buy":15.15}' \
		"$(head -1 <<<"$OUT")" "ndjson labels pass through as JSON"
	assert_contains "$(tail -1 <<<"$OUT")" '"y":null,"buys":1,' "second row"
	printf '{"customer":"c1","at":1736071200000}\n{"customer":"c1","at":1736071200000,"z":1}\n' >"$T/bad.ndjson"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/bad.ndjson"
	assert_contains "$ERR" "line 2: column 'z' is not among the first line's" "new key"
	printf '{"customer":true,"at":1736071200000}\n' >"$T/bad.ndjson"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/bad.ndjson"
	assert_contains "$ERR" "line 1, column customer: expected a string or a number" "entity type"
}

test_features_bad_input() {
	feature_store
	printf 'customer,when\nc1,2025-01-05T10:00:00Z\n' >"$T/l1.csv"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/l1.csv" --out "$T/o.csv"
	assert_contains "$ERR" "no column 'at' (the spec's labels.cutoff); its columns are: customer, when" "missing column"
	printf 'customer,at\nc1,2025-01-05T10:00:00Z\nc2,yesterday\n' >"$T/l2.csv"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/l2.csv" --out "$T/o.csv"
	assert_contains "$ERR" "l2.csv line 3, column at: expected an RFC 3339 time or epoch milliseconds, got 'yesterday'" "bad cutoff"
	: >"$T/l3.csv"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/l3.csv" --out "$T/o.csv"
	assert_contains "$ERR" "is empty" "empty file"
	printf 'customer,at,buys\nc1,2025-01-05T10:00:00Z,1\n' >"$T/l4.csv"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/l4.csv" --out "$T/o.csv"
	assert_contains "$ERR" "column 'buys' has the name of a feature" "name clash"
	printf 'customer,at\nc1,2025-01-05T10:00:00Z,extra\n' >"$T/l5.csv"
	assert_exit 1 eg features "$T/spec.json" --labels "$T/l5.csv" --out "$T/o.csv"
	assert_contains "$ERR" "line 2: expected 2 fields (as the header has), got 3" "field count"
	# nothing of a failed run is left behind
	assert_eq "" "$(ls "$T" | grep '^o\.csv')" "no output or temporary file"
	assert_exit 2 eg features "$T/spec.json" --labels "$T/missing.csv"
	local base='"entity": "data.customer", "labels": {"entity": "customer", "cutoff": "at"}'
	assert_spec_error features "{$base, \"features\": {\"a\": {\"median\": \"data.x\"}}}" '$.features.a.median: unknown member'
	assert_spec_error features "{$base, \"features\": {\"a\": {\"count\": true, \"window\": \"0d\"}}}" '$.features.a.window: expected a duration longer than 0'
	assert_spec_error features "{$base, \"features\": {\"a\": {\"ratio\": [\"a\", \"b\"]}}}" "\$.features.a.ratio: no feature named 'b'"
	assert_spec_error features "{$base, \"features\": {\"a\": {\"ratio\": [\"b\", \"b\"]}, \"b\": {\"ratio\": [\"a\", \"a\"]}}}" '$.features: ratio'
	printf '{%s, "features": {"s": {"projection": "nope.json", "field": "x"}}}' "$base" >"$T/p.json"
	assert_exit 2 eg features "$T/p.json" --labels "$T/l1.csv"
	assert_contains "$ERR" "nope.json: cannot read the spec" "missing projection"
}

# A features table is derived state: reindex drops it, the next run
# builds it again, and the answer is the same.
test_features_table_is_derived() {
	feature_store
	printf 'customer,at\nc1,2025-01-05T10:00:00Z\n' >"$T/labels.csv"
	ok_to "$T/a.csv" eg features "$T/spec.json" --labels "$T/labels.csv" --format csv
	assert_eq 1 "$(ls "$STORE"/idx/feat/*/table | wc -l)" "one table"
	ok eg reindex
	assert_eq 0 "$(ls "$STORE"/idx/feat/*/table 2>/dev/null | wc -l)" "reindex dropped it"
	ok_to "$T/b.csv" eg features "$T/spec.json" --labels "$T/labels.csv" --format csv
	assert_files_eq "$T/a.csv" "$T/b.csv" "rows after reindex"
	# a damaged table is rebuilt, not trusted
	flip_byte "$(ls "$STORE"/idx/feat/*/table)" 200
	ok_to "$T/c.csv" eg features "$T/spec.json" --labels "$T/labels.csv" --format csv
	assert_files_eq "$T/a.csv" "$T/c.csv" "rows after damage"
	# a table of another log (as many events, the last another one) is not read
	sed 's/"amount":30,/"amount":31,/; s/"e4"/"x4"/' "$T/ev.ndjson" >"$T/other.ndjson"
	"$ENGRAM" -d "$T/other" append --keep-recorded "$T/other.ndjson" >/dev/null || fail "append other"
	ok_to "$T/d.csv" "$ENGRAM" -d "$T/other" features "$T/spec.json" --labels "$T/labels.csv" --format csv
	rm -rf "$T/other/idx/feat" && cp -r "$STORE/idx/feat" "$T/other/idx/feat"
	printf 'customer,at\nc1,2025-01-07T10:00:00Z\n' >"$T/late.csv"
	ok_to "$T/f.csv" "$ENGRAM" -d "$T/other" features "$T/spec.json" --labels "$T/late.csv" --format csv
	assert_contains "$(cat "$T/f.csv")" ",61.3," "the other log's amounts, not the copied table's"
}

# A store loaded after the fact: every event recorded after every label's
# known-at time.  The features are empty, and the warning says why.
test_features_warns_when_nothing_was_known() {
	feature_store
	sed 's/,"recorded":"[^"]*"//' "$T/ev.ndjson" >"$T/now.ndjson"
	rm -rf "$STORE"
	ok eg append "$T/now.ndjson"
	printf 'customer,at\nc1,2025-01-05T10:00:00Z\n' >"$T/labels.csv"
	ok eg features "$T/spec.json" --labels "$T/labels.csv" --format csv
	assert_contains "$OUT" "c1,2025-01-05T10:00:00Z,0,0,0" "nothing known"
	assert_contains "$ERR" "append --keep-recorded" "the warning names the way out"
}

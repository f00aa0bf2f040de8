# t_specs.sh — engram specs: the state kept for projections, windows and
# sessions under idx/, when it was last used, and dropping it for good.

specs_store() {
	ok eg append <<'EV'
{"stream":"a","type":"deposit","time":"2025-01-01T10:00:00Z","data":{"amount":5}}
{"stream":"b","type":"deposit","time":"2025-01-01T10:20:00Z","data":{"amount":7}}
{"stream":"a","type":"page_view","time":"2025-01-01T11:05:00Z","data":{"page_url":"/"}}
EV
	cat >"$T/totals.json" <<'JSON'
{"name": "totals", "key": "stream", "types": ["deposit"],
 "fields": {"total": {"sum": "data.amount"}}}
JSON
	# the same projection with a typo in a path: a spec of its own
	cat >"$T/typo.json" <<'JSON'
{"name": "totals_typo", "key": "stream", "types": ["deposit"],
 "fields": {"total": {"sum": "data.amuont"}}}
JSON
	cat >"$T/hourly.json" <<'JSON'
{"name": "hourly", "types": ["deposit", "page_view"], "window": {"tumble": "1h"},
 "watermark": "1m", "aggs": {"n": {"count": true}}}
JSON
}

# state_hash KIND NAME: the hash column of the specs row of that state.
state_hash() {
	ok eg specs
	printf '%s\n' "$OUT" | grep -F "\"kind\":\"$1\"" | grep -F "\"name\":$2" |
		grep -oE '"hash":"[0-9a-f]+"' | cut -d'"' -f4
}

test_specs_lists_every_kind_of_state() {
	specs_store
	ok eg specs
	assert_eq "" "$OUT" "specs of a store that ran no spec"
	ok eg project "$T/totals.json"
	ok eg windows "$T/hourly.json"
	ok eg sessions
	ok eg specs
	assert_eq 3 "$(printf '%s\n' "$OUT" | grep -c '"kind"')" "rows of specs: $OUT"
	local p w s
	p=$(state_hash projection '"totals"')
	w=$(state_hash window '"hourly"')
	s=$(state_hash session null)
	[ -d "$STORE/idx/proj/$p" ] && [ ${#p} = 32 ] || fail "projection hash '$p' is not a directory of idx/proj"
	[ -d "$STORE/idx/win/$w" ] && [ ${#w} = 32 ] || fail "window hash '$w' is not a directory of idx/win"
	[ -d "$STORE/idx/sess/$s" ] && [ ${#s} = 32 ] || fail "session hash '$s' is not a directory of idx/sess"
	py "$OUT" "$STORE" <<'PY'
import sys, os, json, datetime
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [r["kind"] for r in rows] == ["projection", "window", "session"], rows
assert list(rows[0]) == ["kind", "name", "hash", "bytes", "last_used"], rows[0]
sub = {"projection": "proj", "window": "win", "session": "sess"}
now = datetime.datetime.now(datetime.timezone.utc)
for r in rows:
    d = os.path.join(sys.argv[2], "idx", sub[r["kind"]], r["hash"])
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert r["bytes"] == size and size > 0, (r, size)
    t = datetime.datetime.strptime(r["last_used"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 120, (r, now)
PY
	ok eg --format table specs
	assert_contains "$OUT" "projection  totals" "table of specs"
}

test_specs_last_used_moves_with_queries_not_with_reindex() {
	specs_store
	ok eg project "$T/totals.json"
	ok eg windows "$T/hourly.json"
	local p w
	p=$(state_hash projection '"totals"')
	w=$(state_hash window '"hourly"')
	touch -d 2020-01-01T00:00:00Z "$STORE/idx/proj/$p/lock" "$STORE/idx/win/$w/lock"
	ok eg reindex
	ok eg specs
	assert_contains "$OUT" "\"hash\":\"$p\",\"bytes\":" "projection after reindex"
	assert_contains "$(printf '%s\n' "$OUT" | grep "$p")" '"last_used":"2020-01-01T00:00:00.000000Z"' \
		"last_used of a projection that only reindex rebuilt"
	ok eg windows "$T/hourly.json"
	ok eg specs
	assert_contains "$(printf '%s\n' "$OUT" | grep "$p")" '"last_used":"2020-01-01T00:00:00.000000Z"' \
		"last_used of the projection no query opened"
	assert_not_contains "$(printf '%s\n' "$OUT" | grep "$w")" '"last_used":"2020-' \
		"last_used of the window a query ran"
}

test_specs_drop_is_not_rebuilt_by_reindex() {
	specs_store
	ok eg project "$T/totals.json"
	local want=$OUT
	ok eg project "$T/typo.json"
	local typo
	typo=$(state_hash projection '"totals_typo"')
	ok eg reindex
	[ -d "$STORE/idx/proj/$typo" ] || fail "reindex did not keep the typo'd projection (precondition)"
	ok eg specs --drop "${typo:0:8}"
	assert_contains "$OUT" "\"name\":\"totals_typo\",\"hash\":\"$typo\"" "row of --drop"
	assert_contains "$OUT" '"dropped":true' "row of --drop"
	[ ! -e "$STORE/idx/proj/$typo" ] || fail "--drop left idx/proj/$typo"
	ok eg reindex
	[ ! -e "$STORE/idx/proj/$typo" ] || fail "reindex rebuilt the dropped projection"
	ok eg specs
	assert_not_contains "$OUT" "$typo" "specs after --drop and reindex"
	assert_contains "$OUT" '"name":"totals"' "the other projection stays"
	ls -a "$STORE/idx/proj" | grep -q '^\.drop' && fail "a .drop directory was left: $(ls -a "$STORE/idx/proj")"
	# only derived: the other spec answers as before, and the dropped one
	# is built anew when it runs again
	ok eg project "$T/totals.json"
	assert_eq "$want" "$OUT" "projection after dropping another"
	ok eg project "$T/typo.json"
	[ -d "$STORE/idx/proj/$typo" ] || fail "running the spec again did not build its state"
}

test_specs_unused_drops_only_old_state() {
	specs_store
	ok eg project "$T/totals.json"
	ok eg project "$T/typo.json"
	ok eg windows "$T/hourly.json"
	local typo w
	typo=$(state_hash projection '"totals_typo"')
	w=$(state_hash window '"hourly"')
	touch -d "40 days ago" "$STORE/idx/proj/$typo/lock"
	touch -d "3 days ago" "$STORE/idx/win/$w/lock"
	ok eg specs --unused --dry-run
	assert_contains "$OUT" "\"hash\":\"$typo\"" "dry run of --unused (30 days)"
	assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c kind)" "rows of the dry run: $OUT"
	assert_contains "$OUT" '"dropped":false' "dry run row"
	[ -d "$STORE/idx/proj/$typo" ] || fail "--dry-run dropped state"
	ok eg specs --unused
	assert_contains "$OUT" "\"hash\":\"$typo\"" "--unused (30 days)"
	assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c kind)" "rows of --unused: $OUT"
	ok eg specs --drop --unused --older-than 2d
	assert_contains "$OUT" "\"hash\":\"$w\"" "--drop --unused --older-than 2d"
	assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c kind)" "rows of --unused --older-than 2d: $OUT"
	ok eg specs
	assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c kind)" "states left: $OUT"
	assert_contains "$OUT" '"name":"totals"' "the state used now stays"
}

test_specs_drop_refusals() {
	specs_store
	ok eg project "$T/totals.json"
	ok eg windows "$T/hourly.json"
	local p
	p=$(state_hash projection '"totals"')
	assert_exit 1 eg specs --drop 0123456789abcdef
	assert_contains "$ERR" "no spec state with hash 0123456789abcdef" "unknown hash"
	assert_exit 1 eg specs --drop xyz1
	assert_contains "$ERR" "expected 4 to 32 lowercase hex digits" "not a hash"
	assert_exit 1 eg specs --drop "${p:0:3}"
	# a prefix both hashes share (make one by renaming: a state directory
	# is found by its name)
	mv "$STORE/idx/win/$(state_hash window '"hourly"')" "$STORE/idx/win/${p:0:4}ffffffffffffffffffffffffffff"
	assert_exit 1 eg specs --drop "${p:0:4}"
	assert_contains "$ERR" "matches 2 spec states" "ambiguous prefix"
	# a query holding the state's lock: not dropped
	flock "$STORE/idx/proj/$p/lock" sleep 30 &
	local holder=$!
	trap 'kill $holder 2>/dev/null' EXIT
	sleep 0.3
	assert_exit 4 eg specs --drop "$p"
	assert_contains "$ERR" "in use by a query" "state in use"
	run eg specs --unused --older-than 1ms
	assert_eq 0 "$RC" "exit of --unused with a state in use"
	assert_contains "$ERR" "engram: warning: spec state $p (projection) is in use" "warning of --unused"
	kill $holder
	wait $holder 2>/dev/null
	trap - EXIT
	[ -d "$STORE/idx/proj/$p" ] || fail "a state in use was dropped"
	assert_exit 2 eg specs --drop "$p" --unused
	assert_exit 2 eg specs --older-than 3d
	assert_exit 2 eg specs --unused --older-than 0s
}

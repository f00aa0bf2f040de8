# t_dcb.sh — conditional appends across streams (docs/CONSISTENCY.md): tags
# read back and indexed (also after reindex), read --query against a plain
# recomputation in Python, append --fail-if / --after against the same,
# --lock-wait, every bad input, and the server's 409.  The race of many
# writers for the last seat is tests/test_dcb.c (make unit, make race-check).

. "$E2E_DIR/serve_lib.sh"

test_tags_read_back_and_survive_reindex() {
	printf '%s\n' '{"id":"a","type":"seat_booked","stream":"s1","tags":["course:7","student:1"]}' \
		'{"id":"b","type":"note"}' \
		'{"id":"c","type":"seat_released","tags":["course:7","student:\"q\""]}' >"$T/in.ndjson"
	ok eg append "$T/in.ndjson"
	ok eg read
	assert_contains "$OUT" '"meta":null,"tags":["course:7","student:1"]}' "tags of a"
	assert_contains "$OUT" '"tags":["course:7","student:\"q\""]}' "an escaped tag"
	assert_not_contains "$(eg read --from 2 --to 2)" '"tags"' "an event without tags"
	ok eg read --format csv
	assert_contains "$OUT" ',tags' "the csv header"
	assert_contains "$OUT" '"[""course:7"",""student:1""]"' "the csv cell"
	# SQL: a hidden tags column (SELECT * as before)
	ok eg sql "select pos, tags from events where tags is not null"
	assert_eq '{"pos":1,"tags":["course:7","student:1"]}
{"pos":3,"tags":["course:7","student:\"q\""]}' "$OUT" "SQL's tags"
	ok eg sql "select * from events where pos = 1"
	assert_not_contains "$OUT" '"tags"' "SELECT *"
	ok eg read --query 'tags=course:7' --format table
	assert_contains "$OUT" 'head: 3' "the table's head line"
	ok eg read --query 'tags=course:7' --format csv
	assert_eq "head: 3" "$ERR" "csv: the head on stderr"
	assert_not_contains "$OUT" 'head' "csv: not in the table"
	ok eg read --query 'tags=course:7' --limit 1 --reverse
	assert_eq "" "$ERR" "ndjson: nothing on stderr"
	assert_contains "$OUT" '"pos":3,' "the newest match"
	assert_eq 2 "$(printf '%s\n' "$OUT" | wc -l)" "one event (--limit counts matches) and the head"
	ok_to "$T/q0" eg read --query 'types=seat_booked,seat_released tags=course:7'
	assert_eq '1 3 {"head":3}' "$(py "$T/q0" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join(str(r["pos"]) for r in rows[:-1]), json.dumps(rows[-1], separators=(",", ":")))
EOF
)" "read --query"
	# the conditional append refuses, then after reindex the same
	assert_exit 4 eg append --fail-if 'tags=course:7,student:1' --after 0 <<<'{"type":"x"}'
	assert_contains "$ERR" "position 1 matches --fail-if item 1 (tags=course:7,student:1)"
	ok eg reindex
	ok_to "$T/q1" eg read --query 'types=seat_booked,seat_released tags=course:7'
	assert_files_eq "$T/q0" "$T/q1" "read --query after reindex"
	assert_exit 4 eg append --fail-if 'tags=course:7,student:1' --after 0 <<<'{"type":"x"}'
	ok eg append --fail-if 'tags=course:7,student:1' --after 1 <<<'{"type":"x"}'
	ok eg verify
}

# A small random store, random queries: read --query (also from a position,
# newest first, limited) and the check of append --fail-if --after (with no
# input: a check that writes nothing) against a recomputation over engram
# read's output.
test_query_semantics_match_a_recomputation() {
	py "$T/in.ndjson" "$T/queries" <<'EOF'
import json, random, sys
rnd = random.Random(2807)
types, tags = ["a", "b", "c", "d"], ["t%d" % i for i in range(7)]
with open(sys.argv[1], "w") as f:
    for i in range(400):
        e = {"type": rnd.choice(types)}
        k = rnd.choice([0, 1, 1, 2, 2, 3])
        if k:
            e["tags"] = rnd.sample(tags, k)
        f.write(json.dumps(e) + "\n")
def item():
    r = rnd.random()
    if r < 0.03:
        return "all"
    parts = []
    if r < 0.6:
        parts.append("types=" + ",".join(rnd.sample(types, rnd.choice([1, 1, 2]))))
    if r > 0.3 or not parts:
        parts.append("tags=" + ",".join(rnd.sample(tags, rnd.choice([1, 1, 2]))))
    rnd.shuffle(parts)
    return " ".join(parts)
with open(sys.argv[2], "w") as f:
    for i in range(16):
        q = ";".join(item() for _ in range(rnd.choice([1, 1, 2, 3])))
        f.write("%s\t%d\n" % (q, rnd.choice([0, 50, 200, 350, 390, 399, 400])))
EOF
	ok eg append --batch 37 "$T/in.ndjson"
	ok_to "$T/all" eg read
	local q after i=0
	while IFS=$'\t' read -r q after; do
		i=$((i + 1))
		ok_to "$T/got$i" eg read --query "$q"
		ok_to "$T/rev$i" eg read --query "$q" --from $((after + 1)) --reverse --limit 5
		run eg append --fail-if "$q" --after "$after" </dev/null
		printf '%s\n' "$RC $ERR" >"$T/check$i"
	done <"$T/queries"
	py "$T" <<'EOF'
import json, sys
T = sys.argv[1]
events = [json.loads(l) for l in open(T + "/all")]
for i, line in enumerate(open(T + "/queries"), 1):
    q, after = line.rstrip("\n").split("\t")
    after = int(after)
    items = []
    for it in q.split(";"):
        d = {"types": [], "tags": [], "all": False}
        for part in it.split():
            if part == "all":
                d["all"] = True
            else:
                k, v = part.split("=", 1)
                d[k] = v.split(",")
        items.append(d)
    def match(e):
        for j, d in enumerate(items):
            if d["all"] or ((not d["types"] or e["type"] in d["types"]) and
                            all(t in e.get("tags", []) for t in d["tags"])):
                return j + 1
        return 0
    want = [e["pos"] for e in events if match(e)]
    rows = [json.loads(l) for l in open("%s/got%d" % (T, i))]
    got = [r["pos"] for r in rows[:-1]]
    assert got == want, (q, got[:10], want[:10])
    assert rows[-1] == {"head": 400}, rows[-1]
    rev = [json.loads(l) for l in open("%s/rev%d" % (T, i))]
    assert rev[-1] == {"head": 400}, rev[-1]
    rev = [r["pos"] for r in rev[:-1]]
    assert rev == [p for p in reversed(want) if p > after][:5], (q, after, rev)
    first = next((e for e in events if e["pos"] > after and match(e)), None)
    check = open("%s/check%d" % (T, i)).read()
    if first is None:
        assert check.startswith("0 "), (q, after, check)
    else:
        assert check.startswith("4 "), (q, after, check)
        assert "position %d matches --fail-if item %d " % (first["pos"], match(first)) in check, \
            (q, after, first["pos"], check)
EOF
	assert_eq "400 " "$(head_of | cut -c1-4)" "the checks wrote nothing"
}

test_bad_tags_and_queries_are_refused_naming_them() {
	ok eg append <<<'{"type":"x","tags":["ok"]}'
	local long
	long=$(printf 'x%.0s' $(seq 129))
	printf '%s\n' '{"type":"x","tags":["a"]}' "{\"type\":\"x\",\"tags\":[\"a\",\"$long\"]}" >"$T/long.ndjson"
	assert_exit 1 eg append "$T/long.ndjson"
	assert_contains "$ERR" 'line 2: field "tags[1]": expected a tag of 1 to 128 bytes, got 129 bytes'
	assert_contains "$ERR" "nothing of this batch was written"
	assert_exit 1 eg append <<<'{"type":"x","tags":"a"}'
	assert_contains "$ERR" 'field "tags": expected an array of strings'
	assert_exit 1 eg append <<<'{"type":"x","tags":["a",3]}'
	assert_contains "$ERR" 'field "tags[1]": expected a string'
	assert_exit 1 eg append <<<'{"type":"x","tags":["a","b","a"]}'
	assert_contains "$ERR" 'field "tags[2]": expected a tag not given before (it repeats tags[0])'
	assert_exit 1 eg append <<<'{"type":"x","tags":[""]}'
	assert_contains "$ERR" 'field "tags[0]": expected a tag of 1 to 128 bytes, got 0 bytes'
	assert_exit 1 eg append <<<'{"type":"x","tags":["a\u0001"]}'
	assert_contains "$ERR" 'field "tags[0]": expected a tag without spaces, control characters'
	# nor a query's separators: a query could never name the tag
	local t
	for t in 'room:1,2' 'a;b' 'a b'; do
		assert_exit 1 eg append <<<"{\"type\":\"x\",\"tags\":[\"$t\"]}"
		assert_contains "$ERR" "control characters, ',' or ';'" "the tag '$t'"
	done
	printf '{"type":"x","tags":[%s]}\n' "$(seq -s, -f '"t%g"' 33)" >"$T/many.ndjson"
	assert_exit 1 eg append "$T/many.ndjson"
	assert_contains "$ERR" 'expected at most 32 tags'
	# --skip-invalid sets such a line aside like any other
	ok eg append --skip-invalid "$T/rej" "$T/long.ndjson"
	assert_eq "1 1" "$(jfields "$OUT" appended rejected)" "skip-invalid"
	# queries: exit 2 naming the part
	assert_exit 2 eg append --fail-if 'typ=a' </dev/null
	assert_contains "$ERR" 'unknown key "typ"'
	assert_exit 2 eg append --fail-if "tags=$long" </dev/null
	assert_contains "$ERR" 'tag longer than 128 bytes'
	assert_exit 2 eg append --fail-if 'types=a;;tags=b' </dev/null
	assert_contains "$ERR" 'query item 2 is empty'
	assert_exit 2 eg read --query 'types=a tags='
	assert_contains "$ERR" 'tags= needs at least one name'
	assert_exit 2 eg append --fail-if 'types=a' --after 3 </dev/null
	assert_contains "$ERR" '--after 3 is beyond the head (2)'
	assert_exit 2 eg append --after 1 </dev/null
	assert_contains "$ERR" '--after goes with --fail-if'
	assert_exit 2 eg append --fail-if all --after x </dev/null
	assert_exit 2 eg append --lock-wait 5 </dev/null
	assert_contains "$ERR" '--lock-wait: expected'
	assert_eq "2 " "$(head_of | cut -c1-2)" "nothing was written"
	# repeated --fail-if flags add items
	assert_exit 4 eg append --fail-if 'types=none' --fail-if 'tags=ok' </dev/null
	assert_contains "$ERR" 'matches --fail-if item 2 (tags=ok)'
}

# --lock-wait: a writer waits for one that holds the lock, then checks its
# condition against what that one wrote.
test_lock_wait_queues_behind_a_writer() {
	ok eg append <<<'{"id":"first","type":"t"}'
	mkfifo "$T/fifo" || fail "mkfifo failed"
	exec 7<>"$T/fifo"
	"$ENGRAM" -d "$STORE" append "$T/fifo" >"$T/holder.out" 2>"$T/holder.err" 7>&- &
	local holder=$!
	trap 'kill $holder 2>/dev/null; exec 7>&-' EXIT
	wait_for 3 lock_held_by $holder || fail "the holder never took the lock"
	local t0=$SECONDS
	assert_exit 4 eg append --lock-wait 300ms <<<'{"type":"t"}' 7>&-
	assert_contains "$ERR" "locked by pid $holder"
	# two waiters (without the FIFO's write end, or the holder never sees
	# its input end): both queue; the holder's event makes both conditions fail
	"$ENGRAM" -d "$STORE" append --lock-wait 20s --fail-if 'tags=seat:1' --after 1 \
		<<<'{"type":"booked","tags":["seat:1"]}' >"$T/w1.out" 2>"$T/w1.err" 7>&- &
	local w1=$!
	"$ENGRAM" -d "$STORE" append --lock-wait 20s --fail-if 'tags=seat:1' --after 1 \
		<<<'{"type":"booked","tags":["seat:1"]}' >"$T/w2.out" 2>"$T/w2.err" 7>&- &
	local w2=$!
	sleep 0.3
	kill -0 $w1 2>/dev/null && kill -0 $w2 2>/dev/null || fail "a waiter did not wait"
	echo '{"id":"held","type":"booked","tags":["seat:1"]}' >&7
	exec 7>&-
	wait $holder || fail "the holder failed: $(cat "$T/holder.err")"
	trap - EXIT
	wait $w1
	local r1=$?
	wait $w2
	local r2=$?
	assert_eq "4 4" "$r1 $r2" "both waiters refused: $(cat "$T/w1.err" "$T/w2.err")"
	assert_contains "$(cat "$T/w1.err")" "position 2 matches"
	[ $((SECONDS - t0)) -lt 15 ] || fail "the waiters took too long"
	# and when the seat is free, one of two waiters gets it
	"$ENGRAM" -d "$STORE" append --lock-wait 20s --fail-if 'tags=seat:2' --after 2 \
		<<<'{"type":"booked","tags":["seat:2"]}' >"$T/w3.out" 2>"$T/w3.err" &
	w1=$!
	"$ENGRAM" -d "$STORE" append --lock-wait 20s --fail-if 'tags=seat:2' --after 2 \
		<<<'{"type":"booked","tags":["seat:2"]}' >"$T/w4.out" 2>"$T/w4.err" &
	w2=$!
	wait $w1
	r1=$?
	wait $w2
	r2=$?
	assert_eq "4" "$((r1 + r2))" "one of the two booked seat 2 ($r1 $r2)"
	ok eg read --query 'tags=seat:2'
	assert_eq 2 "$(printf '%s\n' "$OUT" | count_lines /dev/stdin)" "one booking and the head"
}

test_serve_conditional_append_409() {
	ok eg append <<<'{"type":"seat_booked","tags":["course:1"]}'
	start_server
	http GET '/events?query=tags=course:1' -D "$T/hdr"
	assert_eq 200 "$CODE" "GET /events?query="
	assert_contains "$OUT" '"tags":["course:1"]' "the matching event"
	assert_contains "$(tr -d '\r' <"$T/hdr")" "Engram-Head: 1" "the head header"
	http POST /events -H "$NDJSON" -H 'Fail-If: tags=course:1' -H 'After: 1' \
		--data-binary '{"type":"seat_booked","tags":["course:1"]}'
	assert_eq 200 "$CODE" "conditional append: $OUT"
	http POST /events -H "$NDJSON" -H 'Fail-If: tags=course:1' -H 'After: 1' \
		--data-binary '{"type":"seat_booked","tags":["course:1"]}'
	assert_eq 409 "$CODE" "conflict: $OUT"
	assert_contains "$OUT" "position 2 matches --fail-if item 1"
	http POST '/events?fail_if=types%3Dseat_booked&after=2' -H "$NDJSON" \
		--data-binary '{"type":"seat_booked","tags":["course:2"]}'
	assert_eq 200 "$CODE" "query parameters: $OUT"
	http POST /events -H "$NDJSON" -H 'Fail-If: typ=a' --data-binary '{"type":"x"}'
	assert_eq 400 "$CODE" "a bad query"
	assert_contains "$OUT" 'unknown key'
	http POST /events -H "$NDJSON" -H 'Fail-If: all' -H 'After: 99' --data-binary '{"type":"x"}'
	assert_eq 400 "$CODE" "After beyond the head"
	assert_contains "$OUT" 'beyond the head'
	stop_server
	assert_eq 0 "$RC" "exit status after SIGTERM"
	assert_eq "3 " "$(head_of | cut -c1-2)" "two conditional appends went in, none of the refused"
}

# An event set aside in $quarantine keeps its tags for the retry.
test_quarantine_retry_keeps_tags() {
	printf '{"type":"object","properties":{"n":{"enum":[1]}}}\n' >"$T/v1.json"
	printf '{"type":"object","properties":{"n":{"enum":[1,2]}}}\n' >"$T/v2.json"
	ok eg schema add t "$T/v1.json"
	ok eg append --quarantine <<<'{"id":"q1","type":"t","tags":["course:1","s:\"x\""],"data":{"n":2}}'
	assert_eq "0 1" "$(jfields "$OUT" appended quarantined)" "set aside"
	ok eg schema add t "$T/v2.json"
	ok eg quarantine retry
	assert_contains "$OUT" '"status":"appended"' "the retry"
	ok eg read --query 'types=t tags=course:1,s:"x"'
	assert_contains "$OUT" '"id":"q1"' "the retried event"
	assert_contains "$OUT" '"tags":["course:1","s:\"x\""]' "with its tags"
}

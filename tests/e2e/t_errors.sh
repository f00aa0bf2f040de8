# t_errors.sh — engram errors: the groups equal a plain recomputation from
# engram read for gen errors' events appended out of order in batches with
# queries between (filters, --quiet, --every), --regroup keeps the old
# grouping, reindex and a damaged checkpoint rebuild the same answer,
# errors show takes a prefix (an ambiguous one exits 2), bad flags exit 2,
# and --map stacks' rewrite through gen errors' text stacks.

# gen_batches N SEED: gen errors' events, a fifth of them shuffled (late),
# with some plain events among them, cut in three files a b c.
gen_batches() {
	ok_to "$T/gen.ndjson" "$ENGRAM" gen errors --events "$1" --seed "$2" --days 20
	py "$T/gen.ndjson" "$T" <<'EOF'
import random, sys
lines = open(sys.argv[1]).read().splitlines()
rnd = random.Random(7)
idx = rnd.sample(range(len(lines)), len(lines) // 5)
vals = [lines[i] for i in idx]
rnd.shuffle(vals)
for i, v in zip(idx, vals):
    lines[i] = v
for k in range(0, len(lines), 97):
    lines.insert(k, '{"type":"page_view","time":"2025-01-05T00:00:00Z","actor":"x"}')
n = len(lines) // 3
for name, part in zip("abc", (lines[:n], lines[n:2 * n], lines[2 * n:])):
    open(sys.argv[2] + "/" + name, "w").write("\n".join(part) + "\n")
EOF
}

# check_groups OPTS_JSON [ARGS...]: engram errors ARGS equals the recomputation.
check_groups() {
	local o=$1
	shift
	ok_to "$T/got" eg --format ndjson errors "$@"
	ok_to "$T/events.ndjson" eg read
	py "$T/got" "$T/events.ndjson" "$o" <<'EOF'
import sys
from errors_check import check_groups
check_groups(*sys.argv[1:4])
EOF
}

test_groups_equal_a_recomputation_across_batches() {
	gen_batches 3000 5
	for f in a b c; do
		ok eg append "$T/$f"
		check_groups '{}'
	done
	check_groups '{"service":"payments"}' --service payments
	check_groups '{"release":"2.4.0"}' --release 2.4.0
	check_groups '{"since":"2025-01-06T00:00:00.000000Z","until":"2025-01-12T12:00:00.000000Z"}' \
		--since 2025-01-06 --until 2025-01-12T12:00:00Z
	check_groups '{"quiet_us":86400000000}' --quiet 1d
	# some group regressed: quiet for 10 days of the 20, back after a release
	assert_contains "$(cat "$T/got")" '"regressed":true' "regressed groups"
	check_groups '{"service":"nope"}' --service nope
	# --every: per interval and group, against the groups' fingerprints
	ok_to "$T/fps" eg --format ndjson errors
	ok_to "$T/got" eg --format ndjson errors --every 6h --since 2025-01-03
	py "$T/got" "$T/events.ndjson" '{"every_us":21600000000,"since":"2025-01-03T00:00:00.000000Z"}' "$T/fps" <<'EOF'
import sys
from errors_check import check_series
check_series(*sys.argv[1:5])
EOF
	# the last batch was folded once: the query after it read nothing
	ok eg errors --explain
	assert_contains "$ERR" '"events_read":0' "explain"
}

test_regroup_keeps_the_old_grouping() {
	ok_to "$T/g" "$ENGRAM" gen errors --events 1500 --seed 9
	ok eg append "$T/g"
	ok_to "$T/v2" eg --format ndjson errors
	assert_eq 15 "$(count_lines "$T/v2")" "groups of v2 (one per bug)"
	ok eg --format ndjson errors --regroup 1
	assert_match "$ERR" 'grouping v2 -> v1: 15 groups became [0-9]+; 0 old groups merged into others, [1-9][0-9]* split' "summary"
	# every row maps a v2 group to a v1 group; the events add up
	py "$T/.out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sum(r["events"] for r in rows) == 1500, sum(r["events"] for r in rows)
assert len({r["from"] for r in rows}) == 15
assert len({r["to"] for r in rows}) == len(rows)
EOF
	assert_eq 1 "$(tr -d '\n' <"$STORE/errors.grouping")" "current grouping"
	ok_to "$T/v1" eg --format ndjson errors
	assert_true test "$(count_lines "$T/v1")" -gt 15
	# the old grouping is kept, and answers the same
	ok_to "$T/v2b" eg --format ndjson errors --grouping 2
	assert_files_eq "$T/v2" "$T/v2b" "v2 after the regroup"
	# reindex drops the groups, not the choice
	ok eg reindex
	ok_to "$T/v1b" eg --format ndjson errors --explain
	assert_contains "$ERR" '"grouping":1,' "explain after reindex"
	assert_contains "$ERR" '"checkpoint_pos":0,' "rebuilt after reindex"
	assert_files_eq "$T/v1" "$T/v1b" "v1 after reindex"
	ok eg errors --regroup 2
	assert_eq 2 "$(tr -d '\n' <"$STORE/errors.grouping")" "current grouping back"
}

test_damaged_checkpoint_is_rebuilt() {
	ok_to "$T/g" "$ENGRAM" gen errors --events 800 --seed 2
	ok eg append "$T/g"
	ok_to "$T/before" eg --format ndjson errors
	flip_byte "$STORE/idx/errors/v2/groups" 100
	ok_to "$T/after" eg --format ndjson errors --explain
	assert_contains "$ERR" '"rebuilt":true' "explain"
	assert_files_eq "$T/before" "$T/after" "groups after the damage"
	truncate -s 20 "$STORE/idx/errors/v2/groups"
	ok_to "$T/after" eg --format ndjson errors --explain
	assert_contains "$ERR" '"checkpoint_pos":0,' "explain after truncation"
	assert_files_eq "$T/before" "$T/after" "groups after truncation"
	echo 7 >"$STORE/errors.grouping"
	assert_exit 3 eg errors
	assert_contains "$ERR" "errors.grouping: expected a grouping version" "bad grouping file"
}

test_show_takes_a_prefix_and_refuses_an_ambiguous_one() {
	# two explicit fingerprints whose hashes share 6 hex digits, found here
	py "$T" <<'EOF'
import json, sys
from errors_check import explicit_fp
seen = {}
i = 0
while True:
    fp = explicit_fp(2, "fp-%d" % i)
    if fp[:6] in seen:
        a, b = seen[fp[:6]], i
        break
    seen[fp[:6]] = i
    i += 1
with open(sys.argv[1] + "/amb.ndjson", "w") as f:
    for k, n in ((a, 1), (b, 2)):
        for j in range(n):
            f.write(json.dumps({"kind": "error", "type": "E", "time": "2025-01-0%dT00:00:00Z" % (j + 1),
                                "data": {"message": "m %d" % j, "fingerprint": "fp-%d" % k}}) + "\n")
open(sys.argv[1] + "/prefix", "w").write(fp[:6])
open(sys.argv[1] + "/fp_b", "w").write(fp)
EOF
	ok eg append "$T/amb.ndjson"
	assert_exit 2 eg errors show "$(cat "$T/prefix")"
	assert_contains "$ERR" "ambiguous" "ambiguous prefix"
	local fp
	fp=$(cat "$T/fp_b")
	# the engine's fingerprint is the one computed here
	ok eg --format ndjson errors
	assert_contains "$OUT" "\"fingerprint\":\"$fp\"" "independent fingerprint"
	ok eg --format ndjson errors show "${fp:0:8}"
	assert_eq 2 "$(count_lines "$T/.out")" "occurrences"
	assert_eq "2025-01-02T00:00:00.000000Z m 1" "$(jfields "$(head -n 1 "$T/.out")" time message)" "newest first"
	ok eg --format ndjson errors show "$fp" --limit 1
	assert_eq 1 "$(count_lines "$T/.out")" "--limit"
	assert_exit 1 eg errors show abcdef0
	assert_exit 2 eg errors show abc
	assert_exit 2 eg errors show XYZXYZXY
}

test_show_prints_frames_of_a_text_stack() {
	cat >"$T/e.ndjson" <<'EOF'
{"kind":"error","type":"TypeError","time":"2025-01-01T00:00:00Z","actor":"u1","session":"s1","data":{"message":"boom 42","service":"web","release":"1.0","stack":"TypeError: boom 42\n    at f (/app/a.js:1:2)\n    at g (/app/node_modules/x/b.js:3:4)\n"}}
EOF
	ok eg append "$T/e.ndjson"
	local fp
	fp=$(jget "$(eg --format ndjson errors)" fingerprint)
	ok eg --format ndjson errors show "$fp"
	assert_contains "$OUT" '"stack":[{"function":"g","file":"/app/node_modules/x/b.js","line":3,"in_app":false},{"function":"f","file":"/app/a.js","line":1,"in_app":true}]' "frames"
	assert_contains "$OUT" '"service":"web","release":"1.0","actor":"u1","session":"s1","message":"boom 42"' "fields"
	# the table's trend is a sparkline
	ok eg --format table errors
	assert_contains "$OUT" "▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▂" "sparkline"
}

test_map_stacks_turns_text_stacks_into_frames() {
	ok_to "$T/g" "$ENGRAM" gen errors --events 400 --seed 11
	printf '\n' >>"$T/g"   # a blank line is skipped
	ok eg append --map stacks "$T/g"
	ok_to "$T/r" "$ENGRAM" -d "$STORE" --format ndjson read
	py "$T/g" "$T/r" <<'PY'
import sys, json
src = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(src) == len(got) == 400, (len(src), len(got))
texts = 0
for a, b in zip(src, got):
    st = a["data"].get("stack")
    if isinstance(st, str):
        texts += 1
        # the text kept, frames in its place, each typed
        assert b["data"]["stack_text"] == st, b
        fr = b["data"]["stack"]
        assert isinstance(fr, list) and fr, b
        for f in fr:
            assert set(f) == {"function", "file", "line", "in_app"}, f
            assert isinstance(f["in_app"], bool)
            # every frame's function is named in the text it came from
            assert f["function"] == "" or f["function"].split(".")[-1] in st, (f, st)
        rest = {k: v for k, v in b["data"].items() if k not in ("stack", "stack_text")}
        assert rest == {k: v for k, v in a["data"].items() if k != "stack"}, (a, b)
    else:
        assert b["data"] == a["data"], (a, b)
assert texts > 20, texts
PY
	# a line that is not an object: named, nothing written
	printf '%s\n' '{"kind":"error","type":"E","data":{"message":"m"}}' 'nope' >"$T/bad"
	assert_exit 1 eg append --map stacks "$T/bad"
	assert_contains "$ERR" "line 2"
	ok eg stats
	assert_contains "$OUT" '"events":400'
}

test_every_is_also_the_metric_engram_errors() {
	ok_to "$T/g" "$ENGRAM" gen errors --events 1500 --seed 12 --days 5
	head -n 900 "$T/g" >"$T/a"
	tail -n +901 "$T/g" >"$T/b"
	ok eg append "$T/a"
	# a query between the batches: the rollups and the groups catch up
	ok eg --format ndjson metrics engram.errors --every 1d --agg count
	ok eg append "$T/b"
	ok_to "$T/e" "$ENGRAM" -d "$STORE" --format ndjson errors --every 1h
	ok_to "$T/m" "$ENGRAM" -d "$STORE" --format ndjson metrics engram.errors --by fingerprint --every 1h --agg count
	py "$T/e" "$T/m" <<'PY'
import sys, json
e = {(r["time"], r["fingerprint"]): r["count"] for r in map(json.loads, open(sys.argv[1])) if r["count"]}
m = {(r["time"], r["fingerprint"]): r["count"] for r in map(json.loads, open(sys.argv[2]))}
assert e == m, (len(e), len(m), sorted(set(e.items()) ^ set(m.items()))[:5])
assert sum(m.values()) == 1500, sum(m.values())
PY
	# by service, from the day rollups: the totals of errors --service
	ok_to "$T/s" "$ENGRAM" -d "$STORE" --format ndjson metrics engram.errors --by service --every 1d --agg count
	local svc
	svc=$(jget "$(head -n 1 "$T/s")" service)
	ok_to "$T/es" "$ENGRAM" -d "$STORE" --format ndjson errors --service "$svc"
	py "$T/s" "$T/es" "$svc" <<'PY'
import sys, json
m = sum(r["count"] for r in map(json.loads, open(sys.argv[1])) if r["service"] == sys.argv[3])
e = sum(r["count"] for r in map(json.loads, open(sys.argv[2])))
assert m == e and m > 0, (m, e)
PY
	# regrouped, the metric's fingerprints are the new grouping's
	ok eg errors --regroup 1
	ok_to "$T/e1" "$ENGRAM" -d "$STORE" --format ndjson errors
	ok_to "$T/m1" "$ENGRAM" -d "$STORE" --format ndjson metrics engram.errors --by fingerprint --every 1d --agg count
	py "$T/e1" "$T/m1" <<'PY'
import sys, json
e = {r["fingerprint"]: r["count"] for r in map(json.loads, open(sys.argv[1]))}
m = {}
for r in map(json.loads, open(sys.argv[2])):
    m[r["fingerprint"]] = m.get(r["fingerprint"], 0) + r["count"]
assert e == m, (e, m)
PY
}

test_bad_flags_exit_2() {
	assert_exit 2 eg errors --grouping 3
	assert_exit 2 eg errors --regroup 0
	assert_exit 2 eg errors --quiet soon
	assert_exit 2 eg errors --every 0s
	assert_exit 2 eg errors --since yesterday
	assert_exit 2 eg errors list
	assert_exit 2 eg errors show
	assert_exit 2 eg errors --limit 5
	assert_exit 2 eg errors --regroup 1 --grouping 2
}

test_gen_errors_is_deterministic() {
	ok_to "$T/a" "$ENGRAM" gen errors --events 500 --seed 3 --start 2025-06-01
	ok_to "$T/b" "$ENGRAM" gen errors --events 500 --seed 3 --start 2025-06-01
	assert_files_eq "$T/a" "$T/b" "same seed"
	ok_to "$T/c" "$ENGRAM" gen errors --events 500 --seed 4 --start 2025-06-01
	assert_true test "$(cmp -s "$T/a" "$T/c"; echo $?)" = 1
	assert_eq 500 "$(count_lines "$T/a")" "lines"
	assert_exit 2 "$ENGRAM" gen errors --events 5 --late 0.1
}

test_sql_errors_equals_the_command() {
	ok_to "$T/g" "$ENGRAM" gen errors --events 600 --seed 8 --days 10
	ok eg append "$T/g"
	ok_to "$T/cmd" eg --format ndjson errors --since 2025-01-03 --service web
	ok_to "$T/sql" eg --format ndjson sql "SELECT * FROM errors('2025-01-03', NULL, 'web')"
	py "$T/cmd" "$T/sql" <<'EOF2'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and a, (len(a), len(b))
for x, y in zip(a, b):
    y["regressed"] = bool(y["regressed"])
    y["trend"] = json.loads(y["trend"])
    assert x == y, (x, y)
EOF2
	ok eg sql "SELECT count(*) AS n FROM errors() WHERE count > 0"
	assert_contains "$OUT" '"n":' "sql count"
}

test_a_store_without_errors_has_no_groups_then_some() {
	echo '{"type":"page_view","time":"2025-01-01T00:00:00Z"}' | ok eg append
	ok eg --format ndjson errors
	assert_eq "" "$OUT" "no groups"
	ok eg --format csv errors --every 1h
	assert_eq "time,fingerprint,count" "$OUT" "csv header"
	ok eg --format ndjson sql "SELECT count(*) AS n FROM errors()"
	assert_eq '{"n":0}' "$OUT" "sql"
	# the empty checkpoint is extended by the next errors
	echo '{"kind":"error","type":"E","time":"2025-01-02T00:00:00Z","data":{"message":"m 1"}}' | ok eg append
	ok eg --format ndjson errors --explain
	assert_contains "$ERR" '"checkpoint_pos":1,"events_read":1' "explain"
	assert_eq "1 E: m <num>" "$(jfields "$OUT" count title)" "one group"
}

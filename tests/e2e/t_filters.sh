# t_filters.sh — engram read's filters against a plain filter in python
# over the full read.

build_store() {
	local b
	for b in 1 2 3; do
		"$ENGRAM" gen bank --events 700 --accounts 30 --seed "$b" |
			"$ENGRAM" -d "$STORE" --segment-size 64k append >/dev/null || fail "append of batch $b failed"
		sleep 0.01
	done
	# late and early events, times with offsets and millis
	cat >"$T/extra.ndjson" <<'EOF'
{"id":"x1","stream":"account-000003","type":"deposit","time":"2024-12-31T23:00:00-02:00","data":{"amount":1}}
{"id":"x2","stream":"account-000003","type":"fee","time":1735700000000,"data":{"amount":2}}
{"id":"x3","stream":"other","type":"deposit","time":"2025-01-01T03:00:00+02:00","data":{"amount":3}}
{"id":"x4","type":"ping","kind":"metric","data":{"value":1}}
EOF
	ok eg append "$T/extra.ndjson"
	ok_to "$T/all" eg read
	assert_eq 2104 "$(count_lines "$T/all")" "events in the store"
}

# A few times taken from the store itself, so that bounds hit events exactly.
pick_times() {
	PYTHONPATH="$E2E_DIR" "$PYTHON" - "$T/all" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
times = sorted(r["time"] for r in rows)
rec = [r["recorded"] for r in rows]
print("TA=%s TB=%s R1=%s R2=%s R3=%s" % (times[300], times[1500], rec[0], rec[700], rec[1400]))
EOF
}

test_read_filters() {
	build_store
	local TA TB R1 R2 R3
	eval "$(pick_times)" || fail "cannot pick times"
	[ -n "${R3:-}" ] || fail "cannot pick times"
	[ "$R1" != "$R2" ] && [ "$R2" != "$R3" ] || fail "the three batches have the same recorded time"
	local queries=(
		"--stream account-000003"
		"--stream other"
		"--stream nosuch"
		"--type deposit,withdrawal"
		"--type fee"
		"--type ping,account_closed,nosuch"
		"--since $TA --until $TB"
		"--since $TA"
		"--until $TB"
		"--by event --since $TA --until $TB"
		"--since 2025-01-01T03:00:00+02:00 --until 2025-01-01T04:00:00+02:00"
		"--since 2025-01-01T00:59:59.999999Z --until 2025-01-01T01:00:00Z"
		"--since $TB --until $TA"
		"--by recorded --since $R2 --until $R2"
		"--by recorded --since $R3"
		"--by recorded --until $R1"
		"--by recorded --since $R2 --type fee"
		"--from 100 --to 250"
		"--from 2000"
		"--to 5"
		"--from 2104 --to 2104"
		"--limit 10"
		"--limit 10 --reverse"
		"--reverse"
		"--stream account-000003 --reverse --limit 3"
		"--type fee --since $TA --limit 5"
		"--stream account-000003 --type deposit"
		"--from 500 --type deposit --limit 4"
		"--reverse --from 100 --to 120"
		"--reverse --type withdrawal --until $TB --limit 6"
		"--stream account-000007 --by recorded --since $R2 --reverse"
	)
	local i
	: >"$T/queries"
	for i in "${!queries[@]}"; do
		printf '%s\n' "${queries[$i]}" >>"$T/queries"
		# shellcheck disable=SC2086
		ok_to "$T/q$i" eg read ${queries[$i]}
	done
	py "$T" <<'EOF'
import sys, os
from e2e import *
d = sys.argv[1]
rows = load_ndjson(os.path.join(d, "all"))
raw = open(os.path.join(d, "all"), encoding="utf-8").read().splitlines()
check_dense(rows, "full read")
by_pos = {int(r["pos"]): line for r, line in zip(rows, raw)}

def expect(args):
    a = args.split()
    opt = {}
    flags = set()
    i = 0
    while i < len(a):
        if a[i] == "--reverse":
            flags.add("reverse"); i += 1
        else:
            opt[a[i]] = a[i + 1]; i += 2
    clock = "recorded" if opt.get("--by") == "recorded" else "time"
    sel = []
    for r in rows:
        p = int(r["pos"])
        if "--from" in opt and p < int(opt["--from"]): continue
        if "--to" in opt and p > int(opt["--to"]): continue
        if "--stream" in opt and r["stream"] != opt["--stream"]: continue
        if "--type" in opt and r["type"] not in opt["--type"].split(","): continue
        t = time_us(r[clock])
        if "--since" in opt and t < time_us(opt["--since"]): continue
        if "--until" in opt and t > time_us(opt["--until"]): continue
        sel.append(p)
    if "reverse" in flags:
        sel.reverse()
    if "--limit" in opt:
        sel = sel[:int(opt["--limit"])]
    return sel

queries = open(os.path.join(d, "queries"), encoding="utf-8").read().splitlines()
nonempty = 0
for i, q in enumerate(queries):
    want = expect(q)
    got_raw = open(os.path.join(d, "q%d" % i), encoding="utf-8").read().splitlines()
    got = [int(loads(l)["pos"]) for l in got_raw]
    if got != want:
        extra = sorted(set(got) - set(want))[:5]
        missing = sorted(set(want) - set(got))[:5]
        die("read %s: %d events, expected %d (first positions got %s, expected %s; extra %s, missing %s)"
            % (q, len(got), len(want), got[:5], want[:5], extra, missing))
    for p, line in zip(got, got_raw):
        if line != by_pos[p]:
            die("read %s: the row of position %d differs from the full read's:\n%s\n%s" % (q, p, line[:200], by_pos[p][:200]))
    nonempty += bool(want)
check(nonempty >= len(queries) - 4, "too many queries with an empty answer: the test proves little")
EOF
}

test_read_filter_usage() {
	build_store
	assert_exit 2 eg read --by wallclock
	assert_exit 2 eg read --since notatime
	assert_exit 2 eg read --limit -1
	assert_exit 2 eg read --from x
	assert_exit 2 eg read --stream
}

test_streams_types_stats() {
	# the summaries agree with a count over the full read
	build_store
	ok_to "$T/streams" eg streams
	ok_to "$T/types" eg types
	ok_to "$T/stats" eg stats
	py "$T" <<'PYEOF'
import sys, os, collections
from e2e import *
d = sys.argv[1]
rows = load_ndjson(os.path.join(d, "all"))
# recorded never decreases along the log
rec = [time_us(r["recorded"]) for r in rows]
check(all(a <= b for a, b in zip(rec, rec[1:])), "recorded decreases along the log")
ev = collections.Counter(r["stream"] for r in rows if r["stream"])
ver = {}
for r in rows:
    if r["stream"]:
        ver[r["stream"]] = max(ver.get(r["stream"], 0), int(r["version"]))
want = sorted((s, ev[s], ver[s]) for s in ev)
got = sorted((r["stream"], int(r["events"]), int(r["version"])) for r in load_ndjson(os.path.join(d, "streams")))
check(got == want, "streams: %d rows, expected %d; first difference %s" % (len(got), len(want),
      next(((g, w) for g, w in zip(got, want) if g != w), None)))
tc = collections.Counter(r["type"] for r in rows)
got = sorted((r["type"], int(r["events"])) for r in load_ndjson(os.path.join(d, "types")))
check(got == sorted(tc.items()), "types %s, expected %s" % (got, sorted(tc.items())))
st = load_ndjson(os.path.join(d, "stats"))[0]
check(int(st["events"]) == len(rows), "stats events %s, expected %d" % (st["events"], len(rows)))
check(int(st["streams"]) == len(ev), "stats streams %s, expected %d" % (st["streams"], len(ev)))
check(int(st["types"]) == len(tc), "stats types %s, expected %d" % (st["types"], len(tc)))
times = sorted(r["time"] for r in rows)
check(st["time_min"] == times[0] and st["time_max"] == times[-1],
      "stats time range %s..%s, expected %s..%s" % (st["time_min"], st["time_max"], times[0], times[-1]))
recs = sorted(r["recorded"] for r in rows)
check(st["recorded_min"] == recs[0] and st["recorded_max"] == recs[-1],
      "stats recorded range %s..%s, expected %s..%s" % (st["recorded_min"], st["recorded_max"], recs[0], recs[-1]))
PYEOF
}

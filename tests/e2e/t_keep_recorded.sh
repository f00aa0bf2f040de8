# t_keep_recorded.sh — history as it was recorded: append --keep-recorded
# copies a store with both clocks, refuses record times out of order or in
# the future, keeps the commits before a bad line; gen orders --loads says
# when each line was loaded, gen labels labels the same orders.

# Three batches appended at three moments, read, appended elsewhere with
# --keep-recorded: every event comes back the same, both clocks included.
test_keep_recorded_copies_a_store() {
	"$ENGRAM" gen orders --events 3000 --late 0.1 --seed 11 >"$T/in.ndjson" || fail "gen failed"
	head -n 1000 "$T/in.ndjson" | eg append >/dev/null || fail "append 1 failed"
	sed -n 1001,2000p "$T/in.ndjson" | eg append >/dev/null || fail "append 2 failed"
	tail -n 1000 "$T/in.ndjson" | eg append >/dev/null || fail "append 3 failed"
	ok_to "$T/a.ndjson" eg read
	ok "$ENGRAM" -d "$T/copy" append --keep-recorded "$T/a.ndjson"
	assert_eq "3000 0" "$(jfields "$OUT" appended duplicates)" "copy row"
	ok_to "$T/b.ndjson" "$ENGRAM" -d "$T/copy" read
	assert_files_eq "$T/a.ndjson" "$T/b.ndjson" "the copy read back"
	# three record times, three commits: the copy is known at each as the
	# original was
	py "$T/a.ndjson" <<'EOF'
import sys
from e2e import *
rows = [dict(r) for r in load_ndjson(sys.argv[1])]
check(len({r["recorded"] for r in rows}) == 3, "3 record times")
EOF
	local k
	for k in $(grep -o '"recorded":"[^"]*"' "$T/a.ndjson" | sort -u | cut -d'"' -f4); do
		assert_eq "$(eg read --by recorded --until "$k" | wc -l)" \
			"$("$ENGRAM" -d "$T/copy" read --by recorded --until "$k" | wc -l)" "events known at $k"
	done
	# again: everything is in, skipped as duplicates, not refused as before the head
	ok "$ENGRAM" -d "$T/copy" append --keep-recorded "$T/a.ndjson"
	assert_eq "0 3000" "$(jfields "$OUT" appended duplicates)" "rerun row"
	ok "$ENGRAM" -d "$T/copy" verify
}

test_keep_recorded_refusals_name_the_line_and_field() {
	printf '%s\n' '{"id":"a","type":"t","recorded":"2025-01-01T00:00:00Z"}' \
		'{"id":"b","type":"t"}' >"$T/missing"
	assert_exit 1 eg append --keep-recorded "$T/missing"
	assert_contains "$ERR" 'line 2: field "recorded" is missing'
	printf '%s\n' '{"id":"a","type":"t","recorded":"2025-01-01T00:00:00Z"}' \
		'{"id":"b","type":"t","recorded":"2025-01-02T00:00:00Z"}' \
		'{"id":"c","type":"t","recorded":"2025-01-01T12:00:00Z"}' >"$T/back"
	assert_exit 1 eg append --keep-recorded "$T/back"
	assert_contains "$ERR" "line 3: field \"recorded\": expected a time not before line 2's"
	# the commit of line 1 stays; line 2's was still open and is gone
	ok eg read
	assert_eq "a" "$(jget "$OUT" id)" "what the bad line left"
	assert_eq "1" "$(eg read | wc -l)" "events left"
	printf '%s\n' '{"id":"d","type":"t","recorded":"2024-06-01T00:00:00Z"}' >"$T/old"
	assert_exit 1 eg append --keep-recorded "$T/old"
	assert_contains "$ERR" "not before the store head's recorded (2025-01-01T00:00:00.000000Z)"
	printf '%s\n' '{"id":"e","type":"t","recorded":"2999-01-01T00:00:00Z"}' >"$T/future"
	assert_exit 1 eg append --keep-recorded "$T/future"
	assert_contains "$ERR" "not later than now"
	printf '%s\n' '{"id":"f","type":"t","recorded":"yesterday"}' >"$T/bad"
	assert_exit 1 eg append --keep-recorded "$T/bad"
	assert_contains "$ERR" 'line 1: field "recorded": expected an RFC 3339 time'
	# without --keep-recorded, recorded is ignored as before
	ok eg append "$T/future"
	assert_exit 2 eg append --keep-recorded --map segment "$T/old"
	assert_contains "$ERR" "--map"
}

# gen orders --loads: recorded is the end of the load, never decreasing;
# a late line lands in a load at least an hour after its time.
test_gen_orders_loads_recorded() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen orders --events 20000 --late 0.05 --loads 10m --seed 3
	py "$T/in.ndjson" <<'EOF'
import sys
from e2e import *
rows = [dict(r) for r in load_ndjson(sys.argv[1])]
check(len(rows) == 20000, "%d lines" % len(rows))
every, hour = 600 * 1000000, 3600 * 1000000
prev, seen_max, late = None, None, 0
for n, r in enumerate(rows, 1):
    keys = list(r)
    check(keys[-1] == "recorded", "line %d: recorded is not the last field" % n)
    t, rec = time_us(r["time"]), time_us(r["recorded"])
    check(rec % every == 0, "line %d: recorded %s is not the end of a 10m load" % (n, r["recorded"]))
    check(prev is None or rec >= prev, "line %d: recorded decreases" % n)
    # a line is late when an earlier line happened after it
    if seen_max is not None and seen_max > t:
        late += 1
        check(rec >= t + hour, "line %d: late but recorded %s < time + 1h" % (n, r["recorded"]))
    else:
        check(t <= rec < t + every, "line %d: on time but not in the load after it" % n)
    prev = rec
    seen_max = t if seen_max is None else max(seen_max, t)
check(700 < late < 1300, "%d late lines of 20000 at --late 0.05" % late)
EOF
	# what it writes appends with its record times
	ok eg append --keep-recorded "$T/in.ndjson"
	ok_to "$T/out.ndjson" eg read
	py "$T/in.ndjson" "$T/out.ndjson" <<'EOF'
import sys
from e2e import *
want = {r["id"]: norm_time(r["recorded"]) for r in map(dict, load_ndjson(sys.argv[1]))}
got = {r["id"]: r["recorded"] for r in map(dict, load_ndjson(sys.argv[2]))}
check(want == got, "recorded read back differs from the input's")
EOF
}

# Without --loads the output is what it was: the same lines with the field
# taken out.  --customers N (default 50000) keeps five digits at least.
test_gen_orders_without_loads_is_unchanged() {
	local late
	for late in 0 0.2; do
		ok_to "$T/plain" "$ENGRAM" gen orders --events 5000 --late $late --seed 9
		ok_to "$T/loads" "$ENGRAM" gen orders --events 5000 --late $late --seed 9 --loads 1h
		python3 -c '
import re, sys
t = open(sys.argv[1]).read()
s = re.sub(r",\"recorded\":\"[^\"]*\"}\n", "}\n", t)
assert s != t
open(sys.argv[2], "w").write(s)' "$T/loads" "$T/stripped" || fail "strip failed"
		assert_eq "$(sha256sum <"$T/plain")" "$(sha256sum <"$T/stripped")" "--late $late with --loads stripped"
	done
	ok_to "$T/default" "$ENGRAM" gen orders --events 5000 --seed 9 --customers 50000
	ok_to "$T/plain" "$ENGRAM" gen orders --events 5000 --seed 9
	assert_files_eq "$T/plain" "$T/default" "--customers 50000 is the default"
	ok_to "$T/few" "$ENGRAM" gen orders --events 5000 --seed 9 --customers 7
	assert_eq "customer-00001 customer-00002 customer-00003 customer-00004 customer-00005 customer-00006 customer-00007" \
		"$(grep -o '"customer":"customer-[0-9]*"' "$T/few" | cut -d'"' -f4 | sort -u | tr '\n' ' ' | sed 's/ $//')" \
		"customers of --customers 7"
	ok_to "$T/many" "$ENGRAM" gen orders --events 5000 --seed 9 --customers 2000000
	assert_true grep -q '"customer":"customer-[0-9]\{7\}"' "$T/many"
}

# gen labels: the labels recomputed from gen orders' own output.
test_gen_labels_match_the_orders() {
	local args="--events 150000 --seed 5 --customers 3000"
	ok_to "$T/orders" "$ENGRAM" gen orders $args --late 0.1
	ok_to "$T/labels.csv" "$ENGRAM" gen labels --from orders --every 7d $args
	ok_to "$T/h14.csv" "$ENGRAM" gen labels --from orders --every 3d --horizon 14d $args --late 0.3
	ok_to "$T/s.csv" "$ENGRAM" gen labels --from orders --every 7d --sample 0.25 $args
	ok_to "$T/s2.csv" "$ENGRAM" gen labels --from orders --every 7d --sample 0.25 $args
	assert_files_eq "$T/s.csv" "$T/s2.csv" "--sample is deterministic"
	py "$T/orders" "$T/labels.csv" "$T/h14.csv" "$T/s.csv" <<'EOF'
import sys, csv, collections
from e2e import *
rows = [dict(r) for r in load_ndjson(sys.argv[1])]
last = max(time_us(r["time"]) for r in rows)
placed = collections.defaultdict(list)
for r in rows:
    if r["type"] == "order_placed":
        placed[r["data"]["customer"]].append(time_us(r["time"]))
day = 86400 * 1000000
def labels(every, horizon):
    out = []
    for c, ts in placed.items():
        ts.sort()
        cut = ts[0] + every
        while cut + horizon <= last:
            out.append((cut, c, int(any(cut <= t < cut + horizon for t in ts))))
            cut += every
    out.sort()
    return [[c, fmt_us(t), str(l)] for t, c, l in out]
def read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))
got = read(sys.argv[2])
check(got[0] == ["customer", "label_time", "reordered_30d"], "header %r" % got[0])
want = labels(7 * day, 30 * day)
check(len(want) > 5000, "only %d rows" % len(want))
check(got[1:] == want, "labels differ from a recomputation (%d rows vs %d)" % (len(got) - 1, len(want)))
ones = sum(int(r[2]) for r in want)
check(0 < ones < len(want), "labels all equal")
got = read(sys.argv[3])
check(got[0] == ["customer", "label_time", "reordered_14d"], "header %r" % got[0])
check(got[1:] == labels(3 * day, 14 * day), "--every 3d --horizon 14d labels differ")
s = read(sys.argv[4])
check(s[0] == got[0][:2] + ["reordered_30d"], "sample header")
full = set(map(tuple, want))
check(all(tuple(r) in full for r in s[1:]), "a sampled row is not a row")
check(s[1:] == sorted(s[1:], key=lambda r: (time_us(r[1]), r[0])), "sample out of order")
frac = (len(s) - 1) / len(want)
check(0.2 < frac < 0.3, "--sample 0.25 kept %.3f" % frac)
EOF
}

test_gen_loads_and_labels_bad_flags_exit_2() {
	assert_exit 2 "$ENGRAM" gen orders --events 10 --loads 0
	assert_exit 2 "$ENGRAM" gen orders --events 10 --loads soon
	assert_exit 2 "$ENGRAM" gen bank --events 10 --loads 10m
	assert_exit 2 "$ENGRAM" gen orders --events 10 --customers 0
	assert_exit 2 "$ENGRAM" gen orders --events 10 --customers many
	assert_exit 2 "$ENGRAM" gen clickstream --events 10 --customers 5
	assert_exit 2 "$ENGRAM" gen orders --events 10 --every 7d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --every 7d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from bank --every 7d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 0d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 7d --horizon x
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 9999999d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 7d --horizon 9999999d
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 7d --sample 1.5
	assert_exit 2 "$ENGRAM" gen labels --events 10 --from orders --every 7d --sample 0
	assert_exit 2 "$ENGRAM" gen labels --from orders --every 7d
	ok "$ENGRAM" gen labels --events 10 --from orders --every 7d
	assert_eq "customer,label_time,reordered_30d" "$OUT" "labels of too short a history"
}

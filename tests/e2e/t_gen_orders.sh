# t_gen_orders.sh — engram gen orders: what it writes appends as is, the
# counts add up, late events keep their place in the log, bad flags are
# usage errors.

ORDER_TYPES="order_cancelled order_delivered order_paid order_placed order_refunded order_shipped"

test_orders_append_and_count() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen orders --events 20000 --late 0.05 --seed 1
	assert_eq 20000 "$(count_lines "$T/in.ndjson")" "gen orders --events 20000 lines"
	ok eg append "$T/in.ndjson"
	assert_eq "20000 0 1 20000" "$(jfields "$OUT" appended duplicates first_pos last_pos)" "append row"
	# engram types agrees with a count of the input, type by type
	ok eg types
	local types=$OUT want="" got="" t row
	for t in $ORDER_TYPES; do
		want+="$t $(grep -c "\"type\":\"$t\"" "$T/in.ndjson");"
	done
	while read -r row; do
		got+="$(jfields "$row" type events);"
	done <<<"$types"
	assert_eq "$want" "$got" "engram types"
	# one stream per order, and every order has its order_placed
	ok eg stats
	assert_eq "20000 6 $(grep -c '"type":"order_placed"' "$T/in.ndjson")" \
		"$(jfields "$OUT" events types streams)" "stats row"
	ok eg verify
}

# The log keeps the arrival order: late events sit after events that
# happened hours after them, and keep their own time.
test_orders_late_events_in_the_log() {
	"$ENGRAM" gen orders --events 20000 --late 0.05 --seed 2 | eg append >/dev/null ||
		fail "gen orders | append failed"
	ok_to "$T/out.ndjson" eg read
	py "$T/out.ndjson" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check(len(rows) == 20000, "%d events read" % len(rows))
hour = 3600 * 1000000
top, late = None, 0
for e in rows:
    t = time_us(e["time"])
    if top is not None and t <= top - hour:
        late += 1
    top = t if top is None else max(top, t)
check(600 <= late <= 1400, "%d of 20000 events are an hour or more late, expected about 1000" % late)
life = ["order_placed", "order_paid", "order_shipped", "order_delivered"]
by = {}
for e in rows:
    by.setdefault(e["stream"], []).append((time_us(e["time"]), e["type"]))
for s, evs in by.items():
    types = [t for _, t in sorted(evs)]
    check(types[0] == "order_placed", "%s starts with %s" % (s, types[0]))
    main = [t for t in types if t in life]
    check(main == life[:len(main)], "%s goes %s" % (s, types))
EOF
}

test_orders_deterministic() {
	"$ENGRAM" gen orders --events 3000 --seed 7 >"$T/a" || fail "gen failed"
	"$ENGRAM" gen orders --events 3000 --seed 7 >"$T/b" || fail "gen failed"
	"$ENGRAM" gen orders --events 3000 --seed 8 >"$T/c" || fail "gen failed"
	"$ENGRAM" gen orders --events 3000 --seed 7 --late 0.3 >"$T/d" || fail "gen failed"
	assert_files_eq "$T/a" "$T/b" "gen orders with the same seed"
	if cmp -s "$T/a" "$T/c"; then
		fail "gen orders with seeds 7 and 8 printed the same events"
	fi
	if cmp -s "$T/a" "$T/d"; then
		fail "gen orders --late 0.3 printed the lines in the same order"
	fi
	# --late only changes the order of the lines
	sort "$T/a" >"$T/a.sorted"
	sort "$T/d" >"$T/d.sorted"
	assert_files_eq "$T/a.sorted" "$T/d.sorted" "gen orders with and without --late, sorted"
}

test_orders_bad_flags() {
	local v
	for v in 1.5 -0.1 abc nan '' 0.5x; do
		assert_exit 2 "$ENGRAM" gen orders --events 10 --late "$v"
		assert_contains "$ERR" "--late" "stderr of --late '$v'"
		assert_eq "" "$OUT" "stdout of --late '$v'"
	done
	assert_exit 2 "$ENGRAM" gen orders
	assert_contains "$ERR" "--events" "stderr without --events"
	assert_exit 2 "$ENGRAM" gen orders --events 10 --accounts 5
	assert_exit 2 "$ENGRAM" gen bank --events 10 --late 0.1
	assert_exit 2 "$ENGRAM" gen nosuch --events 5
	assert_contains "$ERR" "expected bank, orders, clickstream, labels" "stderr of an unknown kind"
	assert_exit 2 "$ENGRAM" gen
	assert_contains "$ERR" "expected bank, orders, clickstream, labels" "stderr without a kind"
	ok "$ENGRAM" gen orders --events 10 --late 0
	ok "$ENGRAM" gen orders --events 10 --late 1
	assert_eq 10 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" "lines of --late 1"
}

# t_readme.sh — the README's tour works as written (issue 18): its shell
# blocks, run in order from a checkout's top directory, every command
# exiting 0 with no error or warning.

test_readme_tour_runs_as_written() {
	local top=$E2E_DIR/../..
	# a checkout as the tour sees it: examples/ and bin/engram
	cp -r "$top/examples" "$T/examples"
	mkdir "$T/bin" && ln -s "$ENGRAM" "$T/bin/engram"
	# the shell blocks between "## A tour" and the next section
	awk '/^## A tour/ { on = 1; next } on && /^## / { exit }
	     on && /^```sh$/ { code = 1; next } code && /^```$/ { code = 0; next }
	     code { print }' "$top/README.md" >"$T/tour.sh"
	[ "$(grep -c '^engram ' "$T/tour.sh")" -ge 30 ] || fail "the tour has only $(grep -c '^engram ' "$T/tour.sh") engram commands"
	(cd "$T" && unset ENGRAM_DIR && PATH=/usr/bin:/bin bash -e -o pipefail tour.sh) >"$T/out" 2>"$T/err" ||
		fail "the tour stopped (exit $?): $(tail -n 3 "$T/err" | tr '\n' ' ')"
	local err
	err=$(<"$T/err")
	assert_not_contains "$err" "engram: error" "the tour's stderr"
	assert_not_contains "$err" "engram: warning" "the tour's stderr"
	local out
	out=$(<"$T/out")
	assert_contains "$out" '"appended":100000,"duplicates":0' "the first append"
	assert_contains "$out" '"appended":0,"duplicates":100000' "the append again"
	# the server: two appends to a new stream, the third refused (409), read back
	assert_contains "$out" $'409\n{"pos":' "the stale Expected-Version, then the read"
	assert_match "$(grep '"stream":"acct-7"' <<<"$out" | grep -c '"type":"\(opened\|deposited\)"')" '^2$' "the stream read over HTTP"
	# SQL: the store as known when the dashboard was shown held the first
	# 60000 lines' events (fewer than now: the rest came after)
	py "$T/out" <<'PYEOF'
import sys
from e2e import *
rows = [dict(loads(l)) for l in open(sys.argv[1]) if l.startswith('{"known_then":')]
check(len(rows) == 1, "one known_at row: %r" % rows)
check(0 < int(plain(rows[0]["known_then"])) < int(plain(rows[0]["now"])), "known then < now: %r" % rows)
PYEOF
	# the late deposit: 1000 more as of Jan 3 than the store knew before it came
	py "$T/out" <<'PYEOF'
import sys
from e2e import *
rows = [r for r in (dict(loads(l)) for l in open(sys.argv[1]) if l.startswith("{\"key\":\"account-000042\"")) if "valid_from" not in r]
check(len(rows) >= 3, "projection rows of account-000042: %r" % rows)
asof, late, known = rows[-3:]
bal = lambda r: float(plain(r["balance"]))
check(abs(bal(late) - bal(asof) - 1000) < 1e-6, "with the late deposit %r, before %r" % (late, asof))
check(abs(bal(known) - bal(asof)) < 1e-6, "--known-at before it %r, expected %r" % (known, asof))
PYEOF
	check_ops_block
	check_trust_block
}

# The tour's trust block (issue 28, store tour/trust): the proof checks
# against the signed head before and after forget, the second booking of
# the last seat is refused, and c2's personal values read null.
check_trust_block() {
	local out
	out=$(<"$T/out")
	assert_eq 2 "$(grep -c '^{"ok":true,"kind":"inclusion"' <<<"$out")" "the proof checked twice"
	assert_contains "$out" "refused, exit 4" "the second booking of the last seat"
	assert_contains "$out" '"subject":"c2"' "forget c2"
	py "$T/out" <<'PYEOF'
import sys
from e2e import *
import json
rows = [json.loads(l) for l in open(sys.argv[1]) if '"type":"customer_signed_up"' in l and l.startswith('{"pos"')]
check(len(rows) == 3, "three sign-ups read: %r" % rows)
for r in rows:
    d = r["data"]
    if d["customer_id"] == "c2":
        check(d["email"] is None and d["name"] is None and r.get("forgotten") is True, "c2 forgotten: %r" % r)
    else:
        check("@example.com" in d["email"] and "forgotten" not in r, "others readable: %r" % r)
lines = open(sys.argv[1]).read().splitlines()
i = lines.index("refused, exit 4")
check("conflict: the event at position" in lines[i - 1], "the conflict named: %r" % lines[i - 1])
check(lines[i - 2].startswith('{"appended":1,'), "c1's booking appended just before: %r" % lines[i - 2])
PYEOF
}

# The tour's metrics and errors block (issue 27, store tour/ops), against a
# recomputation: the late Prometheus sample is in its hour's rollup, the
# StatsD counter is scaled by its rate, and the errors table has one row
# per fingerprint whose counts add up to the errors appended.
check_ops_block() {
	# the generators' output, with the block's arguments, for the recomputation
	local gen
	gen=$(grep -o 'engram gen metrics [^|]*' "$T/tour.sh" | head -n 1 | sed 's/^engram //')
	# shellcheck disable=SC2086
	"$ENGRAM" $gen >"$T/m.ndjson"
	gen=$(grep -o 'engram gen errors [^|]*' "$T/tour.sh" | head -n 1 | sed 's/^engram //')
	# shellcheck disable=SC2086
	"$ENGRAM" $gen >"$T/e.ndjson"
	py "$T/out" "$T/m.ndjson" "$T/e.ndjson" "$T/tour.sh" <<'PYEOF'
import json, re, sys
from e2e import *
out = [dict(loads(l)) for l in open(sys.argv[1]) if l.startswith("{")]
# the late gauge sample (the tour's Prometheus line: value, epoch ms) in
# the row of its hour, with the generated samples of that hour
m = re.search(r'queue_depth\{region="eu-west"\} (\S+) (\d+)', open(sys.argv[4]).read())
check(m, "the tour's Prometheus line")
v, hour = float(m.group(1)), int(m.group(2)) * 1000 // 3600000000
late = [r for r in out if set(r) == {"time", "count", "max"}]
check(len(late) == 1, "one queue_depth row: %r" % late)
gauges = (json.loads(l) for l in open(sys.argv[2]) if '"queue_depth"' in l)   # only those parsed
vals = [float(e["data"]["value"]) for e in gauges
        if e["type"] == "queue_depth" and e["data"]["tags"] == {"region": "eu-west"}
        and time_us(e["time"]) // 3600000000 == hour]
r = late[0]
check(time_us(r["time"]) == hour * 3600000000, "the hour: %r" % r)
check(int(plain(r["count"])) == len(vals) + 1, "count %r, expected %d + the late one" % (r, len(vals)))
check(float(plain(r["max"])) == max(vals + [v]), "max %r, expected %r" % (r, max(vals + [v])))
# the StatsD counter, read back: its value over its sample rate
m = re.search(r"checkout\.orders:([0-9.]+)\|c\|@([0-9.]+)", open(sys.argv[4]).read())
check(m, "the tour's StatsD line")
sd = [r for r in out if r.get("type") == "checkout.orders"]
want = float(m.group(1)) / float(m.group(2))
check(len(sd) == 1 and abs(float(plain(sd[0]["data"]["value"])) - want) < 1e-9, "the statsd sample %r, expected %r" % (sd, want))
# the errors table: one row per fingerprint, by count, adding up to the errors appended
errs = [r for r in out if "fingerprint" in r and "title" in r and "trend" in r]
n = sum(1 for l in open(sys.argv[3]) if l.strip())
check(len(errs) > 1, "errors rows: %d" % len(errs))
check(all(re.fullmatch("[0-9a-f]{32}", r["fingerprint"]) for r in errs), "fingerprints: %r" % errs[:2])
check(len({r["fingerprint"] for r in errs}) == len(errs), "one row per fingerprint")
counts = [int(plain(r["count"])) for r in errs]
check(sum(counts) == n and counts == sorted(counts, reverse=True), "counts %r, %d errors appended" % (counts, n))
# errors show: the occurrences of the first row's group, with stacks
shown = [r for r in out if "message" in r and "stack" in r and "pos" in r]
check(0 < len(shown) <= 3, "errors show rows: %d" % len(shown))
check(all(errs[0]["title"].startswith(r["type"] + ":") for r in shown), "shown %r, group %r" % (shown, errs[0]))
PYEOF
}

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
}

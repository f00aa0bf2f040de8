# t_funnel.sh — engram funnel: on generated clickstream data every row
# equals a python reference (plain, --by, --since/--until, TYPE:PAGE_URL
# steps); a small worked example in every format; bad --steps exit 2
# showing the accepted form.

# The python reference: per (stream, by value) the level by a scan over
# the events in time order that keeps, per level, the latest first-step
# time reaching it (updates of one instant applied only after the whole
# instant, so that equal times never chain), then the earliest first-step
# event whose greedy chain reaches that level for the median times.
# argv: events file, steps, within seconds, by path or "", since or "",
# until or "".  Prints the expected rows as engram does (ndjson).
funnel_reference() {
	py "$@" <<'EOF'
import sys, bisect, collections, json
from e2e import *
path, steps, within, by, since, until = sys.argv[1:7]
W = int(within) * 1000000
since = time_us(since) if since else None
until = time_us(until) if until else None
steps = [s.strip() for s in steps.split(",")]
spec = [(s.split(":", 1) + [None])[:2] for s in steps]
K = len(spec)

def by_value(e):
    if by.startswith("data."):
        v = e.get("data", Obj())
        for name in by[5:].split("."):
            v = v.get(name) if isinstance(v, Obj) else None
        return "null" if v is None else json.dumps(plain_json(v), separators=(",", ":"), ensure_ascii=False)
    v = e.get(by)
    return "null" if not v else json.dumps(v, ensure_ascii=False)

def plain_json(v):
    if isinstance(v, Obj):
        return {k: plain_json(x) for k, x in v}
    if isinstance(v, Num):
        return json.loads(v)
    return v

groups = collections.defaultdict(lambda: [[] for _ in range(K)])
seen = set()
for e in load_ndjson(path):
    if e["id"] in seen:
        continue
    seen.add(e["id"])
    t = time_us(e["time"])
    if (since is not None and t < since) or (until is not None and t > until):
        continue
    url = e.get("data", Obj()).get("page_url")
    for i, (ty, u) in enumerate(spec):
        if e["type"] == ty and (u is None or url == u):
            groups[(e.get("stream", ""), by_value(e) if by else "")][i].append(t)

def level(times):
    ev = sorted((t, i) for i in range(K) for t in times[i])
    best = [None] * K
    j = 0
    while j < len(ev):
        t = ev[j][0]
        upd = []
        while j < len(ev) and ev[j][0] == t:
            i = ev[j][1]
            if i == 0:
                upd.append((0, t))
            elif best[i - 1] is not None and t - best[i - 1] <= W:
                upd.append((i, best[i - 1]))
            j += 1
        for i, s in upd:
            if best[i] is None or s > best[i]:
                best[i] = s
    return max([i + 1 for i in range(K) if best[i] is not None], default=0)

def chain(times, L):
    ts = [sorted(x) for x in times]
    for s in ts[0]:
        c = [s]
        while len(c) < L:
            x = ts[len(c)]
            j = bisect.bisect_right(x, c[-1])
            if j == len(x) or x[j] - s > W:
                break
            c.append(x[j])
        if len(c) == L:
            return c
    raise SystemExit("no chain of the level")

users = collections.defaultdict(lambda: [0] * K)
gaps = collections.defaultdict(lambda: [[] for _ in range(K)])
values = set()
for (stream, v), times in groups.items():
    values.add(v)
    L = level(times)
    if L:
        c = chain(times, L)
        for i in range(L):
            users[v][i] += 1
            if i:
                gaps[v][i].append(c[i] - c[i - 1])

def median(x):
    x = sorted(x)
    n = len(x)
    return None if not n else (x[n // 2] if n % 2 else (x[n // 2 - 1] + x[n // 2]) / 2) / 1e6

out = []
for v in (sorted(values, key=lambda s: s.encode()) if by else [""]):
    if by and not users[v][0]:
        continue
    for i in range(K):
        u = users[v][i]
        prev = users[v][i - 1] if i else 0
        row = ([(by, v)] if by else []) + [("step", i + 1), ("name", steps[i]), ("users", u),
               ("conversion", "%.6g" % (u / prev) if i and prev else None),
               ("median_time", median(gaps[v][i]) if i else None)]
        out.append(row)
for row in out:
    print("\t".join("null" if x is None else str(x) if not isinstance(x, float) else "%.6f" % x
                    for _, x in row))
EOF
}

# engram's rows in the reference's shape: tab-separated values.
funnel_tsv() {
	py "$1" <<'EOF'
import sys
from e2e import *
for r in load_ndjson(sys.argv[1]):
    out = []
    for k, v in r:
        if v is None:
            out.append("null")
        elif k == "median_time":
            out.append("%.6f" % float(v))
        elif k == "conversion":
            out.append("%.6g" % float(v))
        elif isinstance(v, Obj) or (k not in ("step", "name", "users") and isinstance(v, str)
                                    and not isinstance(v, Num)):
            out.append(dumps(v))
        else:
            out.append(str(v))
    print("\t".join(out))
EOF
}

# Compare engram funnel ARGS with the reference on $T/in.ndjson.
# funnel_check STEPS WITHIN_SECONDS BY SINCE UNTIL
funnel_check() {
	local args=(--steps "$1" --within "$2s")
	[ -z "$3" ] || args+=(--by "$3")
	[ -z "$4" ] || args+=(--since "$4")
	[ -z "$5" ] || args+=(--until "$5")
	ok_to "$T/got.ndjson" eg --format ndjson funnel "${args[@]}"
	funnel_tsv "$T/got.ndjson" >"$T/got.tsv"
	funnel_reference "$T/in.ndjson" "$1" "$2" "$3" "$4" "$5" >"$T/want.tsv"
	[ -s "$T/want.tsv" ] || fail "no reference rows for $*"
	assert_files_eq "$T/want.tsv" "$T/got.tsv" "funnel ${args[*]} against the reference"
}

click_store() {
	ok_to "$T/in.ndjson" "$ENGRAM" gen clickstream --events 4000 --users 300 --days 1 \
		--late 0.05 --dup 0.02 --seed 3
	ok eg append "$T/in.ndjson"
}

STEPS5=page_view,product_click,add_to_cart,checkout,purchase

test_funnel_equals_reference_on_clickstream() {
	click_store
	funnel_check "$STEPS5" 3600 "" "" ""
	funnel_check "screen_view,product_click,screen_view,add_to_cart" 600 "" "" ""
}

test_funnel_by_equals_reference() {
	click_store
	funnel_check "$STEPS5" 1800 data.device "" ""
	funnel_check "search,product_click,add_to_cart" 3600 session "" ""
}

test_funnel_since_until_equal_reference() {
	click_store
	funnel_check "$STEPS5" 3600 "" 2025-01-01T06:00:00Z 2025-01-01T18:00:00Z
}

test_funnel_page_url_steps_equal_reference() {
	click_store
	funnel_check "page_view:https://shop.example.com/,product_click,page_view:https://shop.example.com/cart,checkout,purchase:https://shop.example.com/checkout" \
		3600 "" "" ""
	# the URL holds ':' (split at the first one only) and it is matched exactly
	local first
	first=$(eg --format ndjson funnel --steps "page_view:https://shop.example.com/,purchase" --within 1h | head -n 1)
	[ "$(jget "$first" users)" -gt 0 ] || fail "no user viewed https://shop.example.com/: $first"
	first=$(eg --format ndjson funnel --steps "page_view:https://shop.example.com,purchase" --within 1h | head -n 1)
	assert_eq 0 "$(jget "$first" users)" "users of a URL without its trailing slash"
}

test_funnel_worked_example_in_every_format() {
	ok eg append <<'EV'
{"stream":"ann","type":"view","time":"2025-01-01T10:00:00Z"}
{"stream":"ann","type":"cart","time":"2025-01-01T10:05:00Z"}
{"stream":"ann","type":"buy","time":"2025-01-01T10:20:00Z"}
{"stream":"bob","type":"view","time":"2025-01-01T10:00:00Z"}
{"stream":"bob","type":"cart","time":"2025-01-01T10:50:00Z"}
{"stream":"bob","type":"buy","time":"2025-01-01T11:10:00Z"}
{"stream":"bob","type":"view","time":"2025-01-01T10:40:00Z"}
{"stream":"cat","type":"view","time":"2025-01-01T09:00:00Z"}
{"stream":"cat","type":"cart","time":"2025-01-01T09:10:00Z"}
EV
	ok eg --format ndjson funnel --steps view,cart,buy --within 1h
	assert_eq '{"step":1,"name":"view","users":3,"conversion":null,"median_time":null}
{"step":2,"name":"cart","users":3,"conversion":1,"median_time":600}
{"step":3,"name":"buy","users":2,"conversion":0.666667,"median_time":1050}' "$OUT" "ndjson rows"
	ok eg --format csv funnel --steps view,cart,buy --within 1h
	assert_eq 'step,name,users,conversion,median_time
1,view,3,,
2,cart,3,1,600
3,buy,2,0.666667,1050' "$OUT" "csv rows"
	ok eg --format table funnel --steps view,cart,buy --within 1h --explain
	assert_contains "$OUT" "median_time" "table header"
	assert_contains "$ERR" '"read":9,"events":9,"matches":9,"streams":3,"entered":3' "--explain"
	assert_contains "$ERR" '"path":"columns","events_from_columns":0,"events_from_log":9}' "--explain: the columns' scan (all tail)"
	ok eg funnel --steps view,cart,buy --within 1h --by actor --explain
	assert_contains "$ERR" '"log_reason":"a path names actor, which the columns do not hold"}' "--by actor"
	local cols=$OUT
	ENGRAM_NO_COLUMNS=1 ok eg funnel --steps view,cart,buy --within 1h --by actor --explain
	assert_eq "$cols" "$OUT" "the log's rows"
	ENGRAM_NO_COLUMNS=1 ok eg funnel --steps view,cart,buy --within 1h --explain
	assert_contains "$ERR" '"path":"log","events_from_columns":0,"events_from_log":9,"log_reason":"ENGRAM_NO_COLUMNS is set"}' "ENGRAM_NO_COLUMNS"
	ok eg funnel --steps view,cart,buy --within 20m
	assert_contains "$OUT" '"name":"buy","users":1,' "20m: ann's buy, 20m after her view, counts; bob's takes 30m"
}

test_funnel_bad_steps_exit_2_with_the_accepted_form() {
	ok eg append <<<'{"stream":"u","type":"a"}'
	local s
	for s in "" "a,,b" "a," ":https://shop.example.com/" "a,:x" " , "; do
		assert_exit 2 eg funnel --steps "$s" --within 1h
		assert_contains "$ERR" "TYPE[:PAGE_URL][,TYPE[:PAGE_URL]...]" "error for --steps '$s'"
	done
	assert_exit 2 eg funnel --steps "a,,b" --within 1h
	assert_contains "$ERR" "step 2 is empty"
	assert_exit 2 eg funnel --steps ":https://shop.example.com/" --within 1h
	assert_contains "$ERR" "has no TYPE"
	assert_exit 2 eg funnel --within 1h
	assert_contains "$ERR" "--steps is required"
	assert_exit 2 eg funnel --steps a
	assert_exit 2 eg funnel --steps a --within 0
	assert_exit 2 eg funnel --steps a --within 1h --by nope
	assert_contains "$ERR" "--by: expected a field path"
	assert_exit 2 eg funnel --steps a --within 1h --since yesterday
}

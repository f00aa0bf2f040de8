# t_stats.sh — engram stats: the log's committed bytes, the derived files by
# kind, and the bytes an interrupted append left after the last commit.

WIN_SPEC='{"name":"w","types":["deposit"],"window":{"tumble":"1d"},"group_by":["stream"],
 "aggs":{"n":{"count":true}},"watermark":"1h","allowed_lateness":"1d"}'

# stats_vs_files STATS_FILE DIR: every size column of the stats row against
# the files of the store as find sees them; the log's committed size is
# given in $COMMITTED.
stats_vs_files() {
	py "$1" "$2" "$COMMITTED" <<'EOF'
import os, sys
from e2e import load_ndjson
st = load_ndjson(sys.argv[1])[0]
d, committed = sys.argv[2], int(sys.argv[3])
def size(sub, recurse=True):
    top, total = os.path.join(d, sub), 0
    for root, dirs, files in os.walk(top):
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
        if not recurse:
            break
    return total
seg = size("log")
want = {
    "log_bytes": committed,
    "uncommitted_bytes": seg - committed,
    "index_bytes": size("idx", False),
    "projection_bytes": size("idx/proj"),
    "window_bytes": size("idx/win"),
    "session_bytes": size("idx/sess"),
    "feature_bytes": size("idx/feat"),
    "column_bytes": size("idx/col"),
    "metric_bytes": size("idx/metrics"),
    "tree_bytes": size("idx/tree"),
    "error_bytes": size("idx/errors") + os.lstat(os.path.join(d, "errors.grouping")).st_size,
    "consumer_bytes": size("consumers"),
    "dataset_bytes": size("datasets"),
}
want["derived_bytes"] = sum(v for k, v in want.items() if k not in ("log_bytes", "uncommitted_bytes"))
# everything in the store but the writer's LOCK and the uncommitted tail
everything = size("") - os.lstat(os.path.join(d, "LOCK")).st_size
want["bytes"] = everything - want["uncommitted_bytes"]
for k, v in want.items():
    assert int(st[k]) == v, "%s: stats says %s, the files hold %d" % (k, st[k], v)
for k in ("projection_bytes", "window_bytes", "session_bytes", "feature_bytes", "consumer_bytes",
          "dataset_bytes", "metric_bytes", "error_bytes"):
    assert int(st[k]) > 0, "%s is 0: the test should have made such files" % k
bpe = committed / int(st["events"])
assert abs(float(st["bytes_per_event"]) - bpe) < 0.01, \
    "bytes_per_event %s, expected %.3f" % (st["bytes_per_event"], bpe)
EOF
}

test_stats_count_committed_bytes_and_every_kind_of_derived_file() {
	"$ENGRAM" gen bank --events 3000 --seed 1 >"$T/a.ndjson" || fail "gen failed"
	"$ENGRAM" gen bank --events 3000 --seed 2 >"$T/b.ndjson" || fail "gen failed"
	printf '%s' "$WIN_SPEC" >"$T/w.json"
	ok eg append "$T/a.ndjson"
	ok_to /dev/null eg project "$E2E_DIR/../../examples/balances.json"
	ok_to /dev/null eg windows "$T/w.json"
	ok_to /dev/null eg sessions
	ok_to /dev/null eg consume c1 --limit 10
	printf 'customer,at\naccount-000001,2025-01-03\n' >"$T/labels.csv"
	printf '{"entity":"stream","labels":{"entity":"customer","cutoff":"at"},"features":{"n":{"count":true}}}' >"$T/f.json"
	ok_to /dev/null eg features "$T/f.json" --labels "$T/labels.csv"
	printf '{"name":"accounts","key":"stream","base":"SELECT stream, count(*) AS n FROM events GROUP BY stream","filters":[{"name":"busy","sql":"n > 3"}]}' >"$T/d.json"
	ok_to /dev/null eg dataset build "$T/d.json"
	printf '%s\n' '{"kind":"metric","type":"lat","time":"2025-01-02T00:00:00Z","data":{"value":3}}' \
		'{"kind":"error","type":"E","time":"2025-01-02T00:00:00Z","data":{"message":"m"}}' >"$T/k.ndjson"
	ok eg append "$T/k.ndjson"
	ok_to /dev/null eg metrics
	ok_to /dev/null eg errors
	local seg committed
	seg=$(last_seg)
	committed=$(stat -c %s "$seg")
	# An interrupted append: the next batch's bytes, cut in the middle,
	# after the last commit (the writer died before its commit record).
	cp -a "$STORE" "$T/next"
	"$ENGRAM" -d "$T/next" append "$T/b.ndjson" >/dev/null || fail "append to the copy failed"
	local nseg=$T/next/log/${seg##*/} full
	full=$(stat -c %s "$nseg")
	tail -c +$((committed + 1)) "$nseg" | head -c $(((full - committed) / 2)) >>"$seg"
	ok eg stats
	assert_eq "3002 $committed $(((full - committed) / 2))" \
		"$(jfields "$OUT" events log_bytes uncommitted_bytes)" "events, log and uncommitted bytes"
	assert_contains "$ERR" "engram: warning: the log holds $(((full - committed) / 2)) bytes after its last commit"
	printf '%s\n' "$OUT" >"$T/stats"
	COMMITTED=$committed stats_vs_files "$T/stats" "$STORE"

	# The next append cuts the tail: nothing uncommitted, no warning.
	ok eg append "$T/b.ndjson"
	ok eg stats
	assert_eq "6002 0" "$(jfields "$OUT" events uncommitted_bytes)" "after the next append"
	assert_eq "" "$ERR" "stderr of stats"
	printf '%s\n' "$OUT" >"$T/stats"
	COMMITTED=$(stat -c %s "$seg") stats_vs_files "$T/stats" "$STORE"
}

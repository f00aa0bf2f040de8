# t_concurrent.sh — readers during writes see whole batches only.

test_reader_during_writes() {
	# input k holds $per batches of $size events; every event of a batch
	# carries the batch's marker
	local appends=6 per=3 size=400
	"$PYTHON" - "$T" $appends $per $size <<'EOF' || fail "cannot write the inputs"
import json, sys
d, appends, per, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for k in range(appends):
    with open("%s/in%d.ndjson" % (d, k), "w") as f:
        for j in range(per):
            m = "b%d-%d" % (k, j)
            for i in range(size):
                f.write(json.dumps({"id": "%s-%d" % (m, i), "stream": "s%d" % (i % 7), "type": "t",
                                    "data": {"batch": m, "i": i, "pad": "x" * 200}}) + "\n")
EOF
	mkdir -p "$T/reads"
	(
		for ((k = 0; k < appends; k++)); do
			"$ENGRAM" -d "$STORE" --segment-size 256k append --batch $size "$T/in$k.ndjson" >"$T/w$k.out" 2>"$T/w$k.err" ||
				{ echo "append $k exited $?" >"$T/writer.failed"; break; }
			sleep 0.1  # let the readers catch the store between appends too
		done
		touch "$T/writer.done"
	) &
	local writer=$! n=0
	trap 'kill $writer 2>/dev/null' EXIT
	while [ ! -e "$T/writer.done" ]; do
		n=$((n + 1))
		if [ -d "$STORE/log" ]; then
			"$ENGRAM" -d "$STORE" read >"$T/reads/$n" 2>"$T/reads/$n.err" ||
				echo "read $n exited $?: $(head -c 200 "$T/reads/$n.err")" >>"$T/reads.failed"
			rm -f "$T/reads/$n.err"
		fi
	done
	wait $writer
	trap - EXIT
	[ ! -e "$T/writer.failed" ] || fail "$(cat "$T/writer.failed"): $(cat "$T"/w*.err | head -c 300)"
	[ ! -e "$T/reads.failed" ] || fail "$(head -n 1 "$T/reads.failed")"
	ok_to "$T/reads/final" eg read
	py "$T/reads" $appends $per $size <<'EOF'
import os, sys, collections
from e2e import *
d, appends, per, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
nbatches = appends * per
order = ["b%d-%d" % (k, j) for k in range(appends) for j in range(per)]
snaps = [f for f in os.listdir(d)]
partial = 0
for f in sorted(snaps, key=lambda s: (s != "final", s)):
    rows = load_ndjson(os.path.join(d, f))
    check_dense(rows, "read %s" % f)
    count = collections.OrderedDict()
    for r in rows:
        m = plain(r["data"]["batch"])
        count[m] = count.get(m, 0) + 1
    for m, c in count.items():
        check(c == size, "read %s: batch %s appears with %d of its %d events" % (f, m, c, size))
    # batches commit in order: what a read sees is a prefix of them
    seen = [plain(rows[i * size]["data"]["batch"]) for i in range(len(count))]
    check(seen == order[:len(seen)], "read %s: batches %s, expected a prefix of %s" % (f, seen[:6], order[:6]))
    if f == "final":
        check(len(rows) == nbatches * size, "final read: %d events, expected %d" % (len(rows), nbatches * size))
    elif 0 < len(rows) < nbatches * size:
        partial += 1
check(len(snaps) >= 4, "only %d reads ran during the writes" % len(snaps))
check(partial >= 1, "no read overlapped the writes (%d reads): the test proves nothing" % len(snaps))
print("%d reads, %d during the writes" % (len(snaps), partial))
EOF
	ok eg verify
}

test_follow_during_writes() {
	# read --follow sees every batch whole and in order, then the end
	ok eg append <<<'{"id":"start","type":"t"}'
	timeout 20 "$ENGRAM" -d "$STORE" read --follow >"$T/follow.out" 2>"$T/follow.err" &
	local follower=$! k
	trap 'kill $follower 2>/dev/null' EXIT
	for k in 1 2 3 4 5; do
		"$PYTHON" -c '
import json, sys
k = int(sys.argv[1])
for i in range(300):
    print(json.dumps({"id": "f%d-%d" % (k, i), "type": "t", "data": {"batch": k, "i": i}}))' $k |
			"$ENGRAM" -d "$STORE" append >/dev/null || fail "append $k failed"
	done
	wait_for 10 lines_at_least "$T/follow.out" 1501 ||
		fail "read --follow printed $(count_lines "$T/follow.out") of 1501 events: $(head -c 300 "$T/follow.err")"
	kill $follower 2>/dev/null
	wait $follower 2>/dev/null
	trap - EXIT
	py "$T/follow.out" <<'EOF'
import sys
from e2e import *
rows = load_ndjson(sys.argv[1])
check(len(rows) == 1501, "%d events followed" % len(rows))
check_dense(rows, "read --follow")
check([r["id"] for r in rows[1:]] == ["f%d-%d" % (k, i) for k in range(1, 6) for i in range(300)], "events out of order")
EOF
}

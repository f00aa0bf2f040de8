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

test_readers_and_followers_during_a_full_speed_writer() {
	# One writer process appends 200 batches of 500 events as fast as its
	# input comes (--sync none); meanwhile two readers read by stream and by
	# type through the index, two followers follow the log and a consumer,
	# and a second writer is tried again and again.  Each event carries its
	# batch; every read must see whole batches, a prefix of them in order.
	local batches=200 size=500
	mkfifo "$T/feed" || fail "mkfifo failed"
	"$ENGRAM" -d "$STORE" append --sync none --batch $size "$T/feed" >"$T/w.out" 2>"$T/w.err" &
	local writer=$!
	"$PYTHON" -c '
import json, sys
batches, size = int(sys.argv[1]), int(sys.argv[2])
with open(sys.argv[3], "w") as f:
    for k in range(batches):
        f.write("".join(json.dumps({"id": "b%d-%d" % (k, i), "stream": "s%d" % (i % 7),
                                    "type": "t%d" % (i % 3), "data": {"b": k}}) + "\n"
                        for i in range(size)))' $batches $size "$T/feed" &
	local feeder=$!
	trap 'kill $writer $feeder 2>/dev/null; kill $(jobs -p) 2>/dev/null' EXIT
	wait_for 5 lock_held_by $writer || fail "the writer never took the lock: $(cat "$T/w.err")"
	timeout 60 "$ENGRAM" -d "$STORE" read --follow >"$T/f1.out" 2>"$T/f1.err" &
	timeout 60 "$ENGRAM" -d "$STORE" read --follow --type t1 >"$T/f2.out" 2>"$T/f2.err" &
	timeout 60 "$ENGRAM" -d "$STORE" consume c1 --follow >"$T/f3.out" 2>"$T/f3.err" &
	local r
	for r in stream type; do
		mkdir -p "$T/$r"
		(
			n=0
			while kill -0 $writer 2>/dev/null; do
				n=$((n + 1))
				if [ $r = stream ]; then a="--stream s3"; else a="--type t2"; fi
				"$ENGRAM" -d "$STORE" read $a >"$T/$r/$n" 2>"$T/$r/$n.err" ||
					echo "read $a exited $?: $(head -c 200 "$T/$r/$n.err")" >>"$T/readers.failed"
				rm -f "$T/$r/$n.err"
			done
		) &
	done
	local probes=0 refused=0
	while kill -0 $writer 2>/dev/null; do
		probes=$((probes + 1))
		run eg append <<<'{"id":"probe","type":"t"}'
		if [ "$RC" = 4 ]; then
			refused=$((refused + 1))
		elif kill -0 $writer 2>/dev/null; then
			fail "a second writer got exit $RC while the first one held the store: $(_short "$ERR")"
		fi
	done
	wait $writer
	local wrc=$?
	[ "$wrc" = 0 ] || fail "the writer exited $wrc: $(cat "$T/w.err")"
	local total=$((batches * size))
	wait_for 20 lines_at_least "$T/f1.out" $total || fail "read --follow got $(count_lines "$T/f1.out") of $total"
	wait_for 20 lines_at_least "$T/f3.out" $total || fail "consume --follow got $(count_lines "$T/f3.out") of $total"
	wait_for 20 lines_at_least "$T/f2.out" $((total / 3)) || fail "read --follow --type t1 got $(count_lines "$T/f2.out")"
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	trap - EXIT
	[ ! -e "$T/readers.failed" ] || fail "$(head -n 1 "$T/readers.failed")"
	[ "$refused" -ge 1 ] || fail "no second writer was tried while the first one ran"
	py "$T" $batches $size <<'EOF'
import os, sys
from e2e import *
d, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def per_batch(rows, where, keep):
    """Events per batch in order of appearance; every batch whole."""
    want = sum(1 for i in range(size) if keep(i))
    seen = []
    for r in rows:
        if plain(r["id"]) == "probe":   # a second writer's, once the first was done
            continue
        b = int(plain(r["data"]["b"]))
        if not seen or seen[-1][0] != b:
            seen.append([b, 0])
        seen[-1][1] += 1
    order = [b for b, _ in seen]
    check(order == list(range(len(order))), "%s: batches %s, not a prefix in order" % (where, order[:8]))
    for b, n in seen:
        check(n == want, "%s: batch %d appears with %d of its %d events" % (where, b, n, want))
    return len(seen)

for f, keep in (("f1.out", lambda i: True), ("f3.out", lambda i: True), ("f2.out", lambda i: i % 3 == 1)):
    rows = load_ndjson(os.path.join(d, f))
    check(per_batch(rows, f, keep) == batches, "%s: not every batch followed" % f)
    if keep(1) and keep(0):
        check_dense(rows, f)
partial = 0
for r, keep in (("stream", lambda i: i % 7 == 3), ("type", lambda i: i % 3 == 2)):
    snaps = os.listdir(os.path.join(d, r))
    for s in snaps:
        n = per_batch(load_ndjson(os.path.join(d, r, s)), "read by %s %s" % (r, s), keep)
        partial += 0 < n < batches
    check(len(snaps) >= 2, "only %d reads by %s ran" % (len(snaps), r))
check(partial >= 1, "no read overlapped the writes: the test proves nothing")
print("%d reads during the writes" % partial)
EOF
	ok eg verify
	echo "$probes second writers tried, $refused refused"
}

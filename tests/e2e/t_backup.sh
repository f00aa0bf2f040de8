# t_backup.sh — copies of a store taken while a writer appends: what a
# plain `cp -r` gives (docs/BACKUP.md) and what `engram backup DIR` gives.

# writer_start: append batches of 100 events (ids bN-J) in a loop, in
# 64 KiB segments, until $T/stop exists; the number of each acknowledged
# batch goes to $T/acked after its append exited 0.  Sets WRITER.
writer_start() {
	: >"$T/acked"
	(
		i=0
		while [ ! -e "$T/stop" ]; do
			awk -v b=$i 'BEGIN { for (j = 0; j < 100; j++)
				printf "{\"id\":\"b%d-%d\",\"stream\":\"s%d\",\"type\":\"t\",\"data\":{\"pad\":\"%0200d\"}}\n", b, j, j % 7, 0 }' |
				"$ENGRAM" -d "$STORE" --segment-size 64k append >/dev/null 2>>"$T/writer.err" ||
				{ echo "append of batch $i failed" >>"$T/writer.err"; exit 1; }
			echo $i >>"$T/acked"
			i=$((i + 1))
		done
	) &
	WRITER=$!
	trap 'touch "$T/stop"; kill $WRITER 2>/dev/null' EXIT
	wait_for 10 lines_at_least "$T/acked" 2 || fail "the writer acknowledged nothing: $(head -c 300 "$T/writer.err")"
}

writer_stop() {
	touch "$T/stop"
	wait $WRITER
	local rc=$?
	trap - EXIT
	[ "$rc" = 0 ] || fail "the writer failed: $(head -c 300 "$T/writer.err")"
}

# check_prefix DIR ACKED: DIR's events are batches 0..m-1 of the writer,
# each whole and in order, with m >= ACKED (every batch acknowledged before
# the copy began).  Prints m.
check_prefix() {
	"$ENGRAM" -d "$1" read >"$T/copy.ndjson" || fail "read of the copy $1 failed"
	py "$T/copy.ndjson" "$2" <<'PY'
import sys, json
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
assert len(ids) % 100 == 0, "%d events: a batch is cut" % len(ids)
m = len(ids) // 100
want = ["b%d-%d" % (b, j) for b in range(m) for j in range(100)]
assert ids == want, "events are not batches 0..%d whole and in order" % (m - 1)
assert m >= int(sys.argv[2]), "%d batches, but %s were acknowledged before the copy" % (m, sys.argv[2])
print(m)
PY
}

test_cp_r_of_a_live_store_holds_a_prefix_once_idx_is_deleted() {
	writer_start
	local k m acked=()
	for k in 1 2 3 4 5; do
		acked[k]=$(count_lines "$T/acked")
		cp -r "$STORE" "$T/copy$k" || fail "cp -r failed"
		sleep 0.2
	done
	writer_stop
	for k in 1 2 3 4 5; do
		# the documented step: derived files of a cp -r copy are deleted
		rm -rf "$T/copy$k/idx"
		ok "$ENGRAM" -d "$T/copy$k" verify
		local v=$OUT
		m=$(check_prefix "$T/copy$k" "${acked[k]}")
		assert_eq "$((m * 100))" "$(jget "$v" head_pos)" "verify's head_pos of copy $k"
		# a writer opens it (cutting a torn tail) and appends after the prefix
		ok "$ENGRAM" -d "$T/copy$k" append <<<'{"id":"after","type":"t"}'
		assert_contains "$OUT" "\"first_pos\":$((m * 100 + 1))," "append to copy $k"
		ok "$ENGRAM" -d "$T/copy$k" verify
	done
}

# cp -r copies log/ and idx/ one after the other: a batch committed in
# between leaves idx/ ahead of the copied log, which reads as damage.
test_cp_r_with_idx_ahead_of_the_log_is_refused_until_idx_is_deleted() {
	ok eg append <<<'{"id":"a","type":"t"}'
	mkdir "$T/copy"
	cp -r "$STORE/log" "$T/copy/log"
	ok eg append <<<'{"id":"b","type":"t"}'
	cp -r "$STORE/idx" "$T/copy/idx"
	assert_exit 3 "$ENGRAM" -d "$T/copy" verify
	assert_exit 3 "$ENGRAM" -d "$T/copy" append <<<'{"id":"c","type":"t"}'
	rm -rf "$T/copy/idx"
	ok "$ENGRAM" -d "$T/copy" verify
	assert_eq 1 "$(jget "$OUT" head_pos)" "head_pos of the copy without idx/"
}

test_backup_while_a_writer_appends() {
	writer_start
	ok eg consume c --limit 150
	local k acked
	for k in 1 2 3; do
		acked=$(count_lines "$T/acked")
		ok eg backup "$T/backup$k"
		local row=$OUT
		ok "$ENGRAM" -d "$T/backup$k" head
		assert_eq "$(jfields "$row" pos hash)" "$(jfields "$OUT" pos hash)" "head of backup $k vs its row"
		ok "$ENGRAM" -d "$T/backup$k" verify
		assert_eq "$(jget "$row" pos)" "$(jget "$OUT" head_pos)" "verify of backup $k"
		local m
		m=$(check_prefix "$T/backup$k" "$acked")
		assert_eq "$((m * 100))" "$(jget "$row" pos)" "events of backup $k"
		py "$row" "$T/backup$k" <<'PY'
import sys, json, os
r = json.loads(sys.argv[1])
log = os.path.join(sys.argv[2], "log")
segs = sorted(os.listdir(log))
assert r["segments"] == len(segs) > 1, (r, segs)
assert r["bytes"] == sum(os.path.getsize(os.path.join(log, s)) for s in segs), r
assert r["consumers"] == 1, r
PY
		ok "$ENGRAM" -d "$T/backup$k" consumers
		assert_contains "$OUT" '"consumer":"c","pos":150,' "consumers of backup $k"
		# the copy is a store of its own: it is written to
		ok "$ENGRAM" -d "$T/backup$k" append <<<'{"id":"after","type":"t"}'
	done
	writer_stop
	ok eg verify
}

test_backup_refuses_a_non_empty_dir() {
	ok eg append <<<'{"id":"a","type":"t"}'
	mkdir "$T/full" "$T/empty"
	echo x >"$T/full/keep"
	assert_exit 1 eg backup "$T/full"
	assert_contains "$ERR" "$T/full exists and is not empty" "error of backup into a non-empty dir"
	assert_eq "keep" "$(ls "$T/full")" "the non-empty dir is left alone"
	ok eg backup "$T/empty"
	ok "$ENGRAM" -d "$T/empty" verify
	assert_exit 2 eg backup
	assert_exit 1 "$ENGRAM" -d "$T/none" backup "$T/b2"
}

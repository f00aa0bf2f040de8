# t_lock.sh — one writer at a time; readers are not blocked.

# start_holder: an engram append reading a FIFO, so that it holds the
# store's lock while it waits for input.  Sets HOLDER (its pid) and opens
# fd 7 as the FIFO's write end.
start_holder() {
	ok eg append <<<'{"id":"first","type":"t"}'
	mkfifo "$T/fifo" || fail "mkfifo failed"
	# read-write open does not block; the holder must not inherit it, or it
	# never sees end of input
	exec 7<>"$T/fifo"
	"$ENGRAM" -d "$STORE" append "$T/fifo" >"$T/holder.out" 2>"$T/holder.err" 7>&- &
	HOLDER=$!
	trap 'kill $HOLDER 2>/dev/null; exec 7>&-' EXIT
	# wait until it holds the lock (the LOCK file names the holder; give up
	# waiting for that after 3 s), then until a second writer is refused
	wait_for 3 lock_held_by $HOLDER || :
	local i
	for i in $(seq 100); do
		run eg append <<<'{"id":"probe","type":"t"}'
		[ "$RC" = 4 ] && return 0
		[ "$RC" = 0 ] && fail "a second writer appended while the first one was starting (the probe went in)"
		kill -0 "$HOLDER" 2>/dev/null || fail "the first writer exited early: $(cat "$T/holder.err")"
		sleep 0.05
	done
	fail "the second writer was never refused: exit $RC, $(_short "$ERR")"
}

test_second_writer_refused() {
	start_holder
	echo '{"id":"second","type":"t"}' >"$T/second.ndjson"
	assert_exit 4 eg append "$T/second.ndjson"
	assert_contains "$ERR" "locked by pid $HOLDER" "stderr of the second writer"
	assert_eq "" "$OUT" "stdout of the refused writer"
	# other writing commands are refused too
	assert_exit 4 eg reindex
	assert_contains "$ERR" "locked by pid $HOLDER" "stderr of reindex"
	assert_exit 4 eg compact
	assert_contains "$ERR" "locked by pid $HOLDER" "stderr of compact"
	# readers are not blocked
	ok eg read
	assert_contains "$OUT" '"id":"first"' "read while a writer holds the lock"
	ok eg head
	ok eg verify
	# the holder finishes: its event goes in, and the lock is free again
	echo '{"id":"held","type":"t"}' >&7
	exec 7>&-
	wait "$HOLDER"
	local rc=$?
	trap - EXIT
	assert_eq 0 "$rc" "exit code of the first writer (stderr: $(cat "$T/holder.err"))"
	assert_contains "$(cat "$T/holder.out")" '"appended":1,' "row of the first writer"
	ok eg append "$T/second.ndjson"
	assert_contains "$OUT" '"appended":1,"duplicates":0,"first_pos":3,' "append after the lock was released"
	ok eg read
	assert_eq "first held second" "$(printf '%s\n' "$OUT" | grep -oE '"id":"[a-z]+"' | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//')" "ids read"
}

test_killed_writer_releases_lock() {
	start_holder
	echo '{"id":"partial","type":"t"}' >&7
	kill -9 "$HOLDER"
	wait "$HOLDER" 2>/dev/null
	exec 7>&-
	trap - EXIT
	# the lock died with its holder (a stale LOCK file must not block)
	ok eg append <<<'{"id":"after-kill","type":"t"}'
	assert_contains "$OUT" '"appended":1,"duplicates":0,"first_pos":2,' "append after the writer was killed"
	ok eg verify
	ok eg read
	assert_not_contains "$OUT" '"id":"partial"' "read after the writer was killed mid-batch"
}

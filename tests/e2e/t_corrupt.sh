# t_corrupt.sh — damage inside committed data is found by engram verify
# (exit 3, naming the position, the segment file and the byte offset).

# A store of four batches in 64k segments.  Leaves $T/b<k>.sizes (segment
# sizes after batch k) and a pristine copy in $T/orig.
build_store() {
	local b
	for b in 1 2 3 4; do
		"$ENGRAM" gen bank --events 150 --accounts 60 --seed "$b" |
			"$ENGRAM" -d "$STORE" --segment-size 64k append >/dev/null || fail "append of batch $b failed"
		seg_sizes >"$T/b$b.sizes"
	done
	[ "$(count_lines "$T/b4.sizes")" -ge 2 ] || fail "expected several segments: $(cat "$T/b4.sizes")"
	[ "$(count_lines "$T/b1.sizes")" = 1 ] || fail "batch 1 should fit in the first segment"
	ok eg verify
	cp -a "$STORE" "$T/orig"
}

# damaged SEGMENT OFFSET WHAT: flip the byte at OFFSET of SEGMENT in a fresh
# copy of the store; verify must exit 3 naming that segment and an offset
# at or shortly before OFFSET.
damaged() {
	local seg=$1 off=$2 what=$3 dir="$T/d"
	rm -rf "$dir"
	cp -a "$T/orig" "$dir"
	flip_byte "$dir/log/$seg" "$off"
	run "$ENGRAM" -d "$dir" verify
	[ "$RC" = 3 ] || fail "$what (byte $off of $seg flipped): verify exited $RC, expected 3; stdout: $(_short "$OUT"); stderr: $(_short "$ERR")"
	assert_match "$ERR" '^engram: error: ' "$what: stderr"
	assert_contains "$ERR" "$seg" "$what: stderr of verify (segment file)"
	assert_match "$ERR" 'position [0-9]+' "$what: stderr of verify (position)"
	local named
	named=$(printf '%s' "$ERR" | grep -oE 'offset [0-9]+' | head -n 1 | cut -d' ' -f2)
	[ -n "$named" ] || fail "$what: verify names no byte offset: $(_short "$ERR")"
	if [ "$named" -gt "$off" ] || [ $((off - named)) -gt 4096 ]; then
		fail "$what: verify names offset $named, the damage is at byte $off: $(_short "$ERR")"
	fi
}

seg_name() { sed -n "${2}p" "$1" | cut -d' ' -f1; }
seg_size() { sed -n "${2}p" "$1" | cut -d' ' -f2; }

test_flip_event_record_mid_first_segment() {
	build_store
	local s1
	s1=$(seg_size "$T/b4.sizes" 1)
	damaged "$(seg_name "$T/b4.sizes" 1)" $((s1 / 2)) "a record in the middle of the first segment"
	damaged "$(seg_name "$T/b4.sizes" 1)" $((s1 / 3 + 7)) "another record of the first segment"
}

# A read serves no damaged event: one check per block covers a scan, and
# a failed block check falls back to the records' own checks, which name
# the damaged record.
test_read_refuses_damaged_event() {
	build_store
	local seg off dir="$T/d" args
	seg=$(seg_name "$T/b4.sizes" 1)
	off=$(($(seg_size "$T/b4.sizes" 1) / 2))
	rm -rf "$dir"
	cp -a "$T/orig" "$dir"
	flip_byte "$dir/log/$seg" "$off"
	for args in "read" "read --reverse" "read --since 1970-01-01T00:00:00Z"; do
		# shellcheck disable=SC2086
		run "$ENGRAM" -d "$dir" $args
		[ "$RC" = 3 ] || fail "engram $args over a damaged record exited $RC, expected 3"
		assert_contains "$ERR" "$seg" "stderr of engram $args"
		assert_contains "$ERR" "fails its check" "stderr of engram $args"
	done
	# the undamaged store reads in full
	run "$ENGRAM" -d "$T/orig" read
	[ "$RC" = 0 ] && [ "$(printf '%s\n' "$OUT" | wc -l)" = 600 ] || fail "the pristine copy should read 600 events (rc $RC)"
}

test_flip_commit_record() {
	# the last bytes of batch 1 are its commit record
	build_store
	local end1 seg
	end1=$(seg_size "$T/b1.sizes" 1)
	seg=$(seg_name "$T/b1.sizes" 1)
	damaged "$seg" $((end1 - 1)) "the last byte of batch 1's commit"
	damaged "$seg" $((end1 - 20)) "batch 1's commit (chain value)"
	damaged "$seg" $((end1 - 60)) "batch 1's commit (counts)"
}

test_flip_segment_header() {
	build_store
	local s1 s2
	s1=$(seg_name "$T/b4.sizes" 1)
	s2=$(seg_name "$T/b4.sizes" 2)
	damaged "$s1" 0 "the first segment's header (magic)"
	damaged "$s2" 0 "the second segment's header (magic)"
	damaged "$s2" 17 "the second segment's header (first position)"
	damaged "$s2" 40 "the second segment's header (chain)"
}

test_flip_in_last_batch() {
	# the last batch is acknowledged: damage there is not a torn tail
	build_store
	local n seg size pre
	n=$(count_lines "$T/b4.sizes")
	seg=$(seg_name "$T/b4.sizes" "$n")
	size=$(seg_size "$T/b4.sizes" "$n")
	pre=$(grep "^$seg " "$T/b3.sizes" | cut -d' ' -f2)
	pre=${pre:-0}
	damaged "$seg" $(((pre + size) / 2)) "an event of the last batch"
	damaged "$seg" $((size - 30)) "the commit of the last batch"
	# and the writer refuses to cut acknowledged data away
	run "$ENGRAM" -d "$T/d" append <<<'{"type":"x"}'
	assert_eq 3 "$RC" "exit code of append to a store whose last commit is damaged (stderr: $(_short "$ERR"))"
}

test_truncated_acknowledged_batch() {
	# losing the tail of an acknowledged batch is damage, not a torn write
	build_store
	local seg
	seg=$(last_seg)
	truncate -s -100 "$seg"
	run eg verify
	[ "$RC" = 3 ] || fail "verify of a log missing the last 100 bytes of an acknowledged batch exited $RC, expected 3: $(_short "$OUT") $(_short "$ERR")"
	assert_contains "$ERR" "${seg##*/}" "stderr of verify"
	run eg append <<<'{"type":"x"}'
	assert_eq 3 "$RC" "exit code of append to a log missing acknowledged bytes (stderr: $(_short "$ERR"))"
	# the remaining bytes are untouched
	assert_eq "$(($(grep "${seg##*/}" "$T/b4.sizes" | cut -d' ' -f2) - 100))" "$(stat -c %s "$seg")" "size of the damaged segment"
}

test_undamaged_verifies() {
	# the control: the same store, undamaged, verifies; a flip and a flip
	# back leave it verifying again
	build_store
	local s1 n
	s1=$(seg_name "$T/b4.sizes" 1)
	flip_byte "$STORE/log/$s1" 5000
	assert_exit 3 eg verify
	flip_byte "$STORE/log/$s1" 5000
	ok eg verify
	n=$(jget "$OUT" events)
	assert_eq 600 "$n" "verify events"
	assert_eq "$(jget "$OUT" hash)" "$(head_of | cut -d' ' -f2)" "verify hash vs head hash"
}

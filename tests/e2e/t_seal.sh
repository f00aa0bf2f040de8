# t_seal.sh — engram compact seals the log's segments (zstd blocks): reads,
# the hash chain and verify give what they gave before; one flipped bit in
# a sealed file is found and located; readers read on while it runs.

# A clickstream store in 256k segments, nothing sealed; $T/all, $T/head:
# what it reads and its head before compaction.
build_plain() {
	"$ENGRAM" gen clickstream --events 6000 --seed 11 --late 0.05 >"$T/click.ndjson"
	ok eg --segment-size 256k --seal never append "$T/click.ndjson"
	ok eg read
	printf '%s\n' "$OUT" >"$T/all"
	head_of >"$T/head"
	[ "$(ls "$STORE"/log/*.seg | wc -l)" -ge 4 ] || fail "expected several segments"
}

sealed_count() {
	local f n=0
	for f in "$STORE"/log/*.seg; do
		[ "$(head -c 8 "$f")" = ENGRAMSZ ] && n=$((n + 1))
	done
	echo "$n"
}

test_compact_reads_and_verifies_as_before() {
	build_plain
	local nseg before
	nseg=$(ls "$STORE"/log/*.seg | wc -l)
	before=$(du -sb "$STORE/log" | cut -f1)
	ok eg compact
	assert_eq "$nseg 0" "$(jfields "$OUT" sealed already_sealed)" "compact's row"
	assert_eq "$nseg" "$(sealed_count)" "sealed files"
	local after ratio
	after=$(jget "$OUT" log_bytes)
	[ "$((after * 3))" -lt "$before" ] || fail "log/ went from $before to only $after bytes"
	ok eg read
	[ "$OUT" = "$(cat "$T/all")" ] || fail "read differs after compact"
	assert_eq "$(cat "$T/head")" "$(head_of)" "head after compact"
	ok eg verify
	assert_eq "$(cut -d' ' -f2 "$T/head")" "$(jget "$OUT" hash)" "verify's hash"
	# one stream, one type, a time range, newest first
	local s
	s=$(grep -o '"stream":"[^"]*"' "$T/all" | sed -n 77p | cut -d'"' -f4)
	ok eg read --stream "$s"
	assert_eq "$(grep -c "\"stream\":\"$s\"" "$T/all")" "$(printf '%s\n' "$OUT" | wc -l)" "events of $s"
	ok eg read --reverse --limit 5
	assert_eq "$(tail -n 5 "$T/all" | tac)" "$OUT" "the last five, newest first"
	# again: nothing to do; the next append starts a new segment
	ok eg compact --format csv
	assert_contains "$OUT" "0,$nseg," "second compact"
	ok eg append <<<'{"stream":"late","type":"x"}'
	assert_eq "$((nseg + 1)) $nseg" "$(ls "$STORE"/log/*.seg | wc -l) $(sealed_count)" "segments after an append"
	ok eg verify
	assert_eq 6001 "$(jget "$OUT" events)" "events after the append"
}

# flipped OFFSET WHAT: in a fresh copy of the compacted store, flip the byte
# at OFFSET (negative: from the end) of its second segment; verify and read
# exit 3, verify naming the file and WHAT.
flipped() {
	local off=$1 what=$2 dir="$T/d" f size
	rm -rf "$dir"
	cp -a "$T/sealed" "$dir"
	f=$(ls "$dir"/log/*.seg | sed -n 2p)
	size=$(stat -c %s "$f")
	[ "$off" -lt 0 ] && off=$((size + off))
	flip_byte "$f" "$off"
	assert_exit 3 "$ENGRAM" -d "$dir" verify
	assert_contains "$ERR" "${f##*/}" "verify names the segment (byte $off)"
	assert_contains "$ERR" "$what" "verify names the place (byte $off)"
	assert_exit 3 "$ENGRAM" -d "$dir" read
}

test_flipped_bits_in_sealed_files_are_located() {
	build_plain
	ok eg compact --block-size 16k
	cp -a "$STORE" "$T/sealed"
	flipped 20 "sealed header (file offset 0)"
	flipped 140 "block 0: its header (file offset 128)"
	flipped 1000 "block 0 (file offset 128"
	flipped 20000 "compressed bytes) fails its check"
	flipped -100 "block table"
	flipped -10 "sealed footer"
	# a block's number and file offset, from the table
	local f
	f=$(ls "$T/sealed"/log/*.seg | sed -n 2p)
	rm -rf "$T/d"
	cp -a "$T/sealed" "$T/d"
	truncate -s -1 "$T/d/log/${f##*/}"
	assert_exit 3 "$ENGRAM" -d "$T/d" verify
	assert_contains "$ERR" "cut short" "a truncated sealed file"
}

# Readers keep reading while compact replaces files under them: those that
# opened a plain file read it, those that open later read the sealed one.
test_reads_during_compact_are_whole() {
	build_plain
	local want i pids=""
	want=$(md5sum <"$T/all" | cut -d' ' -f1)
	for i in 1 2 3 4 5 6; do
		( for k in 1 2 3 4; do "$ENGRAM" -d "$STORE" read | md5sum | cut -d' ' -f1; done >"$T/r$i" ) &
		pids="$pids $!"
	done
	ok eg compact
	wait $pids
	for i in 1 2 3 4 5 6; do
		assert_eq "$want" "$(sort -u "$T/r$i")" "reader $i's outputs during compact"
	done
}

# A writer seals what its batches closed in the background (--seal always
# seals segments under 1M too).
test_writer_seals_closed_segments() {
	"$ENGRAM" gen clickstream --events 3000 --seed 5 >"$T/a.ndjson"
	ok eg --segment-size 128k --seal always append "$T/a.ndjson"
	ok eg read
	local want=$OUT n i
	# the sealer may still be running when the writer closes: it stops,
	# and the next writer (or compact) goes on
	for i in $(seq 30); do
		n=$(sealed_count)
		[ "$n" -ge 1 ] && break
		ok eg --segment-size 128k --seal always append <<<"{\"stream\":\"s\",\"type\":\"t$i\"}"
		sleep 0.1
	done
	[ "$n" -ge 1 ] || fail "no segment sealed in the background"
	ok eg read --to 3000
	[ "$OUT" = "$want" ] || fail "read differs after background sealing"
	ok eg verify
}

# Every engine answers byte for byte the same on the sealed store as on the
# plain one (each from a fresh copy: nothing derived carried over).
test_engines_answer_the_same_after_compact() {
	build_plain
	cp -a "$STORE" "$T/plain"
	ok eg compact --block-size 16k
	rm -rf "$STORE/idx" "$T/plain/idx"
	local q
	for q in "windows $E2E_DIR/../../examples/pageviews_hourly.json" \
		"sessions --gap 30m" \
		"funnel --steps page_view,add_to_cart,purchase --within 1h" \
		"read --type purchase --reverse" "streams" "types" "head"; do
		# shellcheck disable=SC2086
		run "$ENGRAM" -d "$T/plain" $q
		[ "$RC" = 0 ] || fail "$q on the plain store: exit $RC: $(_short "$ERR")"
		local want=$OUT
		# shellcheck disable=SC2086
		run "$ENGRAM" -d "$STORE" $q
		[ "$RC" = 0 ] || fail "$q on the sealed store: exit $RC: $(_short "$ERR")"
		[ "$OUT" = "$want" ] || fail "$q answers differently on the sealed store"
	done
	local sql="SELECT type, count(*), sum(length(data)), max(pos) FROM events GROUP BY type"
	ok "$ENGRAM" -d "$T/plain" sql "$sql"
	local want=$OUT
	ok eg sql "$sql"
	assert_eq "$want" "$OUT" "engram sql on the sealed store"
}

# t_recovery.sh — a crash inside a batch: the batch is gone, everything
# before it is intact, and the store takes new appends.
#
# A crash is simulated by copying the store as it was before the last
# append (log, derived files and all: those are written after the commit)
# and putting back the last append's log bytes only up to a crash point.

SEGSZ=64k

# grow_until KIND: append batches of 150 bank events (segments of 64k) until
# the last append is of KIND: "inside" (the batch is inside the last
# segment) or "spanning" (it starts in one segment and ends in a new one).
# Leaves $T/pre (the store before the last append), $T/pre.read, $T/pre.head,
# $T/pre.sizes and $T/post.sizes.
grow_until() {
	local kind=$1 b=0 last
	while :; do
		b=$((b + 1))
		[ $b -le 12 ] || fail "no '$kind' batch after 12 batches: segments $(seg_sizes | tr '\n' ' ')"
		"$ENGRAM" gen bank --events 150 --accounts 60 --seed "$b" >"$T/batch.ndjson" || fail "gen failed"
		rm -rf "$T/pre"
		[ -d "$STORE" ] && cp -a "$STORE" "$T/pre"
		seg_sizes >"$T/pre.sizes"
		"$ENGRAM" -d "$STORE" --segment-size $SEGSZ append "$T/batch.ndjson" >/dev/null || fail "append of batch $b failed"
		seg_sizes >"$T/post.sizes"
		[ $b -ge 4 ] || continue
		local npre npost grew
		npre=$(count_lines "$T/pre.sizes")
		npost=$(count_lines "$T/post.sizes")
		last=$(tail -n 1 "$T/pre.sizes")
		grew=$(grep -c "^$last\$" "$T/post.sizes")
		if [ "$kind" = inside ] && [ "$npre" = "$npost" ]; then break; fi
		if [ "$kind" = spanning ] && [ "$npost" -gt "$npre" ] && [ "$grew" = 0 ]; then break; fi
	done
	"$ENGRAM" -d "$T/pre" read >"$T/pre.read" || fail "read of the store before the last append failed"
	PRE_N=$(count_lines "$T/pre.read")
	[ "$PRE_N" -ge 450 ] || fail "only $PRE_N events before the last batch"
	# the control: the store before the last batch, plus the event that
	# check_recovered appends; a recovered store has the same segment sizes
	rm -rf "$T/control"
	cp -a "$T/pre" "$T/control"
	"$ENGRAM" -d "$T/control" --segment-size $SEGSZ append <<<"$AFTER_EVENT" >/dev/null || fail "append to the control store failed"
	seg_sizes "$T/control" >"$T/control.sizes"
}

AFTER_EVENT='{"id":"after-crash","stream":"x","type":"t","time":"2025-01-01T00:00:00Z"}'

# crash_points: "SEGMENT OFFSET" lines; a crash point keeps every byte of the
# last batch before OFFSET of SEGMENT and nothing after it.
crash_points() {
	"$PYTHON" - "$T/pre.sizes" "$T/post.sizes" <<'EOF'
import sys, random
pre = dict(l.split() for l in open(sys.argv[1]) if l.strip())
post = [l.split() for l in open(sys.argv[2]) if l.strip()]
pieces = []
for name, size in post:
    a, b = int(pre.get(name, 0)), int(size)
    if b > a:
        pieces.append((name, a, b, name not in pre))
rnd = random.Random(12345)
out = []
for k, (name, a, b, new) in enumerate(pieces):
    last = k == len(pieces) - 1
    offs = {a, a + 1, (a + b) // 2, b - 74, b - 1, rnd.randrange(a, b)}
    if new:
        offs |= {8, 64}
    if not last:
        offs.add(b)  # this segment complete, the next one not yet created
    for o in sorted(offs):
        if a <= o < b or (not last and o == b):
            out.append((name, o))
for name, o in out:
    print(name, o)
EOF
}

# make_crash DIR SEGMENT OFFSET IDX: DIR = the store crashed at that point;
# IDX is "pre" (derived files as before the last append) or "none".
make_crash() {
	local dir=$1 seg=$2 off=$3 idx=$4 name size
	rm -rf "$dir"
	cp -a "$T/pre" "$dir"
	[ "$idx" = none ] && rm -rf "$dir/idx"
	while read -r name size; do
		if [[ "$name" < "$seg" ]]; then
			cp "$STORE/log/$name" "$dir/log/$name"
		elif [ "$name" = "$seg" ]; then
			cp "$STORE/log/$name" "$dir/log/$name"
			truncate -s "$off" "$dir/log/$name"
		fi
	done <"$T/post.sizes"
}

# check_recovered DIR WHAT READ_FIRST: the store at DIR holds exactly the
# events before the last batch, and takes a new append.
check_recovered() {
	local dir=$1 what=$2 first=$3 n=$PRE_N
	if [ "$first" = read ]; then
		"$ENGRAM" -d "$dir" read >"$T/c.read" 2>"$T/c.err" || fail "$what: read exited $?: $(head -c 300 "$T/c.err")"
		assert_files_eq "$T/pre.read" "$T/c.read" "$what: read before any write"
	fi
	run "$ENGRAM" -d "$dir" --segment-size $SEGSZ append <<<"$AFTER_EVENT"
	[ "$RC" = 0 ] || fail "$what: append after the crash exited $RC: $(_short "$ERR")"
	# the torn bytes are gone: the files are as if the batch never began
	assert_eq "$(cat "$T/control.sizes")" "$(seg_sizes "$dir")" "$what: segment sizes after the append vs a store that never had the torn batch"
	assert_contains "$OUT" "\"appended\":1,\"duplicates\":0,\"first_pos\":$((n + 1)),\"last_pos\":$((n + 1))," "$what: append row"
	run "$ENGRAM" -d "$dir" verify
	[ "$RC" = 0 ] || fail "$what: verify exited $RC: $(_short "$ERR")"
	assert_contains "$OUT" "{\"events\":$((n + 1)),\"head_pos\":$((n + 1))," "$what: verify row"
	"$ENGRAM" -d "$dir" read >"$T/c.read" 2>"$T/c.err" || fail "$what: read after the append exited $?: $(head -c 300 "$T/c.err")"
	head -n "$n" "$T/c.read" >"$T/c.head"
	assert_files_eq "$T/pre.read" "$T/c.head" "$what: the events before the crashed batch"
	assert_eq "$((n + 1))" "$(count_lines "$T/c.read")" "$what: events after the append"
	assert_contains "$(tail -n 1 "$T/c.read")" "{\"pos\":$((n + 1)),\"id\":\"after-crash\"," "$what: the new event"
}

# torn_tail KIND IDX [STEP]: every (STEP-th) crash point of a last batch of KIND.
torn_tail() {
	grow_until "$1"
	crash_points >"$T/points"
	local npoints seg off i=0 step=${3:-1}
	npoints=$(count_lines "$T/points")
	[ "$npoints" -ge 6 ] || fail "only $npoints crash points"
	while read -r seg off; do
		i=$((i + 1))
		[ $(((i - 1) % step)) = 0 ] || continue
		make_crash "$T/crash" "$seg" "$off" "$2"
		if [ "$2" = pre ]; then
			check_recovered "$T/crash" "crash in $seg at byte $off" read
		else
			check_recovered "$T/crash" "crash in $seg at byte $off, idx deleted" write
		fi
	done <"$T/points"
}

test_torn_last_batch_inside_segment() { torn_tail inside pre; }
test_torn_last_batch_spanning_segments() { torn_tail spanning pre; }
test_torn_last_batch_without_idx() { torn_tail spanning none 3; }

test_crash_after_commit_before_index() {
	# The whole last batch is in the log, its commit included, but the
	# derived files are still those of before: the batch was acknowledged
	# and must be all there, in every answer, after reopening.
	grow_until spanning
	local seg size
	read -r seg size < <(tail -n 1 "$T/post.sizes")
	make_crash "$T/crash" "$seg" "$size" pre
	ok_to "$T/full.read" eg read
	ok_to "$T/c.read" "$ENGRAM" -d "$T/crash" read
	assert_files_eq "$T/full.read" "$T/c.read" "read (no write yet) of the store whose index missed the last batch"
	# a writer opens it: the index catches up with the log
	run "$ENGRAM" -d "$T/crash" --segment-size $SEGSZ append "$T/batch.ndjson"
	[ "$RC" = 0 ] || fail "re-append of the last batch exited $RC: $(_short "$ERR")"
	assert_contains "$OUT" '"appended":0,"duplicates":150,' "re-append of the acknowledged last batch"
	local q
	for q in "read" "streams" "types" "read --type fee" "read --stream account-000007"; do
		# shellcheck disable=SC2086
		ok_to "$T/want" eg $q
		# shellcheck disable=SC2086
		ok_to "$T/got" "$ENGRAM" -d "$T/crash" $q
		assert_files_eq "$T/want" "$T/got" "'engram $q' after the index caught up"
	done
}

test_torn_batch_then_garbage() {
	# a torn batch followed by bytes that are not records at all
	grow_until inside
	local seg size
	read -r seg size < <(tail -n 1 "$T/post.sizes")
	local pre_size
	pre_size=$(grep "^$seg " "$T/pre.sizes" | cut -d' ' -f2)
	make_crash "$T/crash" "$seg" $(((pre_size + size) / 2)) pre
	head -c 3000 /dev/urandom >>"$T/crash/log/$seg"
	assert_eq "$(head_of "$T/pre")" "$(head_of "$T/crash")" "head of the crashed store before any write"
	check_recovered "$T/crash" "torn batch + 3000 random bytes" read
}

# bad_tail WHAT: after a clean batch, the last segment ends in junk bytes
# ($T/junk); reopening cuts them off.
bad_tail() {
	local b
	for b in 1 2 3 4; do
		"$ENGRAM" gen bank --events 150 --accounts 60 --seed "$b" |
			"$ENGRAM" -d "$STORE" --segment-size $SEGSZ append >/dev/null || fail "append of batch $b failed"
	done
	cp -a "$STORE" "$T/control"
	ok_to "$T/pre.read" eg read
	local seg n head0
	seg=$(last_seg)
	n=$(count_lines "$T/pre.read")
	head0=$(head_of)
	cat "$T/junk" >>"$seg"
	ok_to "$T/read1" eg read
	assert_files_eq "$T/pre.read" "$T/read1" "read of a store whose last segment ends in $1"
	assert_eq "$head0" "$(head_of)" "head of a store whose last segment ends in $1"
	local ev='{"id":"after-tail","stream":"x","type":"t","time":"2025-01-01T00:00:00Z"}'
	ok eg --segment-size $SEGSZ append <<<"$ev"
	assert_contains "$OUT" "\"first_pos\":$((n + 1)),\"last_pos\":$((n + 1))," "append row after $1"
	"$ENGRAM" -d "$T/control" --segment-size $SEGSZ append <<<"$ev" >/dev/null || fail "append to the control store failed"
	assert_eq "$(seg_sizes "$T/control")" "$(seg_sizes)" "segment sizes (with $1 cut off) vs a store that never had it"
	ok eg verify
	assert_contains "$OUT" "{\"events\":$((n + 1)),\"head_pos\":$((n + 1))," "verify row"
	ok_to "$T/read2" eg read
	head -n "$n" "$T/read2" >"$T/read2.head"
	assert_files_eq "$T/pre.read" "$T/read2.head" "events before the $1"
}

test_zero_filled_tail() {
	head -c 4096 /dev/zero >"$T/junk"
	bad_tail "4096 zero bytes"
}

test_garbage_tail() {
	"$PYTHON" -c '
import random, sys
r = random.Random(7)
sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(4096)))' >"$T/junk"
	bad_tail "4096 random bytes"
}

# A writer killed between batches of one run (--batch commits several
# before its last checkpoint): the next writer goes on from the synced
# state, and the keys' state must be that state's, not the one the killed
# writer left in idx/keystate.  (Found by the crash loop: stream versions
# counted twice and postings chains pointing into cut-off chunks, "idx/post
# is damaged".)
test_writer_killed_between_batches() {
	ok eg append <<<'{"id":"a0","stream":"s","type":"t","time":"2025-01-01T00:00:00Z"}'
	"$PYTHON" -c '
for i in range(100000):
    print("{\"id\":\"b%d\",\"stream\":\"s\",\"type\":\"t\",\"time\":\"2025-01-01T00:00:00Z\"}" % i)' >"$T/many.ndjson"
	"$ENGRAM" -d "$STORE" append --batch 100 --sync always "$T/many.ndjson" >/dev/null 2>&1 &
	local writer=$! n
	wait_for 20 head_past 500 || fail "the writer committed no 5 batches"
	kill -KILL $writer 2>/dev/null || fail "the writer ended before it was killed"
	wait $writer 2>/dev/null
	n=$(jget "$(eg --format ndjson head)" pos)
	[ "$n" -lt 100001 ] || fail "the writer ended before it was killed"
	ok eg append <<<'{"id":"c0","stream":"s","type":"t","time":"2025-01-01T00:01:00Z"}'
	ok_to "$T/s.ndjson" eg --format ndjson read --stream s
	assert_eq "$(count_lines "$T/s.ndjson")" $((n + 1)) "events of stream s read through its postings"
	assert_contains "$(tail -n 1 "$T/s.ndjson")" "\"version\":$((n + 1))," "version of the event appended after the crash"
	ok eg verify
	ok eg --format ndjson streams
	assert_contains "$OUT" "{\"stream\":\"s\",\"events\":$((n + 1)),\"version\":$((n + 1))}" "streams row"
}
head_past() { [ "$(jget "$("$ENGRAM" -d "$STORE" --format ndjson head)" pos)" -gt "$1" ]; }

# t_consume.sh — consumers: durable checkpoints, type filters, --follow.

# ten events: types t1 t2 t3 t1 t2 t3 ...
setup_ten() {
	local i
	for i in $(seq 1 10); do
		echo "{\"id\":\"e$i\",\"stream\":\"s\",\"type\":\"t$(((i - 1) % 3 + 1))\"}"
	done >"$T/ten.ndjson"
	ok eg append "$T/ten.ndjson"
}

# ids OUTPUT: the ids of rows, space-separated.
ids() {
	printf '%s\n' "$1" | grep -oE '"id":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//'
}

# consumer_row NAME: the consumers row of NAME.
consumer_row() {
	ok eg consumers
	printf '%s\n' "$OUT" | grep -F "\"consumer\":\"$1\"" || true
}

test_consume_limit_twice() {
	setup_ten
	ok eg consume c --limit 3
	assert_eq "e1 e2 e3" "$(ids "$OUT")" "first consume --limit 3"
	ok eg consume c --limit 3
	assert_eq "e4 e5 e6" "$(ids "$OUT")" "second consume --limit 3"
	assert_eq '{"consumer":"c","pos":6,"lag":4}' "$(consumer_row c)" "consumers row"
	ok eg consume c
	assert_eq "e7 e8 e9 e10" "$(ids "$OUT")" "consume of the rest"
	assert_eq '{"consumer":"c","pos":10,"lag":0}' "$(consumer_row c)" "consumers row after the rest"
	ok eg consume c
	assert_eq "" "$OUT" "consume with nothing new"
	# the full rows, as read prints them
	ok eg read --from 4 --to 6
	local want=$OUT
	assert_contains "$want" '"id":"e4"' "read --from 4 --to 6"
	ok eg append <<<'{"id":"e11","type":"t2"}'
	assert_eq '{"consumer":"c","pos":10,"lag":1}' "$(consumer_row c)" "consumers row after one more event"
	ok eg consume c --limit 5
	assert_eq "e11" "$(ids "$OUT")" "consume after one more event"
}

test_consume_rows_match_read() {
	setup_ten
	ok eg consume c --limit 4
	local got=$OUT
	ok eg read --limit 4
	assert_eq "$OUT" "$got" "consume rows vs read rows"
}

test_consume_type_filter() {
	setup_ten
	ok eg consume f --type t1,t3
	assert_eq "e1 e3 e4 e6 e7 e9 e10" "$(ids "$OUT")" "consume --type t1,t3"
	ok eg consume f --type t1,t3
	assert_eq "" "$OUT" "second consume --type t1,t3"
	# with a limit the checkpoint stops at the last event delivered: nothing
	# of the type is skipped
	ok eg consume g --type t2 --limit 2
	assert_eq "e2 e5" "$(ids "$OUT")" "consume --type t2 --limit 2"
	ok eg consume g --type t2 --limit 2
	assert_eq "e8" "$(ids "$OUT")" "second consume --type t2 --limit 2"
	ok eg append <<<'{"id":"e11","type":"t2"}'
	ok eg append <<<'{"id":"e12","type":"t1"}'
	ok eg consume g --type t2
	assert_eq "e11" "$(ids "$OUT")" "consume --type t2 after more events"
	ok eg consume f --type t1,t3
	assert_eq "e12" "$(ids "$OUT")" "consume --type t1,t3 after more events"
}

test_consumers_list() {
	setup_ten
	ok eg consumers
	assert_eq "" "$OUT" "consumers of a store without any"
	ok eg consume a --limit 2
	ok eg consume b --limit 7
	ok eg consume b --limit 1
	ok eg consumers
	assert_contains "$OUT" '{"consumer":"a","pos":2,"lag":8}' "consumers"
	assert_contains "$OUT" '{"consumer":"b","pos":8,"lag":2}' "consumers"
	assert_eq 2 "$(printf '%s\n' "$OUT" | grep -c consumer)" "consumer rows"
	# checkpoints are derived-file independent: they survive reindex
	ok eg reindex
	ok eg consumers
	assert_contains "$OUT" '{"consumer":"a","pos":2,"lag":8}' "consumers after reindex"
	assert_exit 1 eg consume "../x"
	assert_exit 1 eg consume ""
}

test_consume_follow() {
	setup_ten
	ok eg consume c --limit 8
	timeout 20 "$ENGRAM" -d "$STORE" consume c --follow >"$T/follow.out" 2>"$T/follow.err" &
	local follower=$!
	trap 'kill $follower 2>/dev/null' EXIT
	wait_for 10 lines_at_least "$T/follow.out" 2 ||
		fail "consume --follow printed $(count_lines "$T/follow.out") of the 2 waiting events: $(head -c 300 "$T/follow.err")"
	ok eg append <<<'{"id":"late1","type":"t1"}'
	ok eg append <<<'{"id":"late2","type":"t2"}'
	wait_for 10 lines_at_least "$T/follow.out" 4 ||
		fail "consume --follow printed $(count_lines "$T/follow.out") events, expected 4 (2 appended later): $(head -c 300 "$T/follow.err")"
	kill $follower 2>/dev/null
	wait $follower 2>/dev/null
	trap - EXIT
	assert_eq "e9 e10 late1 late2" "$(ids "$(cat "$T/follow.out")")" "events of consume --follow"
	# the checkpoint never runs ahead of what was printed
	local pos
	pos=$(consumer_row c | grep -oE '"pos":[0-9]+' | cut -d: -f2)
	[ -n "$pos" ] && [ "$pos" -ge 8 ] && [ "$pos" -le 12 ] || fail "checkpoint of c after --follow: '$pos'"
}

test_read_follow() {
	setup_ten
	timeout 20 "$ENGRAM" -d "$STORE" read --follow --from 9 >"$T/follow.out" 2>"$T/follow.err" &
	local follower=$!
	trap 'kill $follower 2>/dev/null' EXIT
	wait_for 10 lines_at_least "$T/follow.out" 2 || fail "read --follow printed $(count_lines "$T/follow.out") of 2 events"
	ok eg append <<<'{"id":"n1","type":"t1"}'
	wait_for 10 lines_at_least "$T/follow.out" 3 || fail "read --follow missed an event appended later"
	kill $follower 2>/dev/null
	wait $follower 2>/dev/null
	trap - EXIT
	assert_eq "e9 e10 n1" "$(ids "$(cat "$T/follow.out")")" "events of read --follow --from 9"
}

test_read_follow_from_beyond_the_head() {
	# --from 13 on a store at 10: 11 and 12, appended later, are not shown
	setup_ten
	timeout 20 "$ENGRAM" -d "$STORE" read --follow --from 13 >"$T/follow.out" 2>"$T/follow.err" &
	local follower=$!
	trap 'kill $follower 2>/dev/null' EXIT
	sleep 0.3
	local i
	for i in 11 12 13 14; do
		ok eg append <<<"{\"id\":\"n$i\",\"type\":\"t1\"}"
	done
	wait_for 10 lines_at_least "$T/follow.out" 2 || fail "read --follow printed $(count_lines "$T/follow.out") of 2 events"
	sleep 0.3
	kill $follower 2>/dev/null
	wait $follower 2>/dev/null
	trap - EXIT
	assert_eq "n13 n14" "$(ids "$(cat "$T/follow.out")")" "events of read --follow --from 13"
}

test_consumers_reset_moves_the_checkpoint() {
	setup_ten
	ok eg consume c --limit 6
	# --to POS: the last position handed out becomes POS; the next consume
	# starts at POS + 1
	ok eg consumers --reset c --to 3
	assert_eq '{"consumer":"c","pos":3,"lag":7}' "$OUT" "row of --reset c --to 3"
	assert_eq '{"consumer":"c","pos":3,"lag":7}' "$(consumer_row c)" "consumers row after the reset"
	ok eg consume c --limit 2
	assert_eq "e4 e5" "$(ids "$OUT")" "consume after --reset --to 3"
	# forward too, and up to the head itself
	ok eg consumers --reset c --to 10
	ok eg consume c
	assert_eq "" "$OUT" "consume after --reset to the head"
	# --to 0 replays from the start
	ok eg consumers --reset c --to 0
	ok eg consume c --limit 2
	assert_eq "e1 e2" "$(ids "$OUT")" "consume after --reset --to 0"
}

test_consumers_reset_refuses_beyond_head_and_unknown() {
	setup_ten
	ok eg consume c --limit 4
	assert_exit 1 eg consumers --reset c --to 11
	assert_contains "$ERR" "position 11 is beyond the head (10)" "error of --to beyond the head"
	assert_eq '{"consumer":"c","pos":4,"lag":6}' "$(consumer_row c)" "checkpoint after a refused reset"
	assert_exit 1 eg consumers --reset nosuch --to 1
	assert_contains "$ERR" 'no consumer named "nosuch"' "error of --reset of an unknown consumer"
	ok eg consumers
	assert_not_contains "$OUT" nosuch "consumers after a refused reset"
	assert_exit 2 eg consumers --reset c
	assert_contains "$ERR" "needs --to POS" "usage error of --reset without --to"
	assert_exit 2 eg consumers --to 3
	assert_exit 2 eg consumers --reset c --to -1
	assert_exit 2 eg consumers --reset c --to 3 --delete c
}

test_consumers_delete() {
	setup_ten
	ok eg consume a --limit 2
	ok eg consume b --limit 5
	ok eg consumers --delete a
	assert_eq '{"consumer":"a","pos":2,"deleted":true}' "$OUT" "row of --delete a"
	ok eg consumers
	assert_eq '{"consumer":"b","pos":5,"lag":5}' "$OUT" "consumers after deleting a"
	# a deleted consumer starts over when it consumes again
	ok eg consume a --limit 1
	assert_eq "e1" "$(ids "$OUT")" "consume of a deleted consumer"
	assert_exit 1 eg consumers --delete nosuch
	assert_contains "$ERR" 'no consumer named "nosuch"' "error of --delete of an unknown consumer"
	assert_exit 1 eg consumers --delete "../x"
}

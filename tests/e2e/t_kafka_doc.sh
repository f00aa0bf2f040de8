# t_kafka_doc.sh — docs/KAFKA.md's walk-through works as written: its shell
# blocks, run in order against the mock cluster (BROKERS), every command
# exiting 0 with no error or warning, giving what the comments show.

. "$E2E_DIR/kafka_lib.sh"

test_kafka_walk_through_runs_as_written() {
	local top=$E2E_DIR/../..
	mkdir "$T/bin" && ln -s "$ENGRAM" "$T/bin/engram"
	awk '/^## Walk-through/ { on = 1; next } on && /^## / { exit }
	     on && /^```sh$/ { code = 1; next } code && /^```$/ { code = 0; next }
	     code { print }' "$top/docs/KAFKA.md" >"$T/walk.sh"
	[ "$(grep -c '^engram ' "$T/walk.sh")" -ge 10 ] || fail "the walk-through has only $(grep -c '^engram ' "$T/walk.sh") engram commands"
	mock_start
	mkdir "$T/w"
	(cd "$T/w" && unset ENGRAM_DIR && BROKERS=$BS PATH=$T/bin:/usr/bin:/bin bash -e -o pipefail "$T/walk.sh") \
		>"$T/out" 2>"$T/err" || fail "the walk-through stopped (exit $?): $(tail -n 3 "$T/err" | tr '\n' ' ')"
	local err out
	err=$(<"$T/err") out=$(<"$T/out")
	assert_not_contains "$err" "engram: error" "the walk-through's stderr"
	assert_not_contains "$err" "engram: warning" "the walk-through's stderr"
	assert_contains "$out" '{"exported":20000,"present":0,"checkpoint":20000,"name":"shop.events"}'
	assert_match "$out" $'\nkey account-[0-9]+\nheaders engram-pos=[0-9]+,engram-id=[^,]+,engram-type=[a-z_]+,engram-time=[^,]+,engram-recorded=[^,]+,engram-chain=[0-9a-f]{64},engram-export=shop.events\nvalue \\{"pos":' "kcat's first message"
	assert_contains "$out" '"state":"stopped","checkpoint":20000,"lag_messages":500,'
	assert_contains "$out" '{"exported":500,"present":0,"checkpoint":20500,"name":"shop.events"}'
	assert_match "$out" $'\n *20500\n' "kcat counts every event once"
	assert_contains "$out" '{"imported":8000,"duplicates":0,"quarantined":0,"messages":8000,"batches":1,"heartbeats":1,"group":"web",'
	assert_match "$out" '"type":"[A-Za-z]+","views":[0-9]+,"users":[0-9]+,"revision":1,"final":true,"too_late":0\}' "the last window, final at the heartbeats' watermark"
	assert_contains "$out" '"type":"engram.kafka.offsets"'
	assert_contains "$out" '{"imported":0,"duplicates":0,"quarantined":0,"messages":0,"batches":0,'
	assert_contains "$out" '{"kind":"import","name":"web","topics":"web.clicks","state":"stopped",'
}

# kafka_lib.sh — what the Kafka tests share (sourced by tests/e2e/t_kafka*.sh):
# librdkafka's mock cluster (tests/kafka/mock.c, built beside the engram
# under test) started by the test itself, its fault commands, and kcat as
# an independent client.  docs/KAFKA-notes.md says what the mock does.

MOCK=$(cd "$(dirname "$ENGRAM")/.." && pwd)/tests/kafka_mock

# mock_start TOPIC...: the mock cluster (4 partitions a topic), its
# commands on fd 3, its answers in $T/mock.out; BS the bootstrap servers.
mock_start() {
	mkfifo "$T/mock.in"
	"$MOCK" -p 4 "$@" <"$T/mock.in" >"$T/mock.out" 2>"$T/mock.err" &
	MOCKPID=$!
	exec 3>"$T/mock.in"
	trap 'exec 3>&-; kill $MOCKPID 2>/dev/null' EXIT
	wait_for 5 test -s "$T/mock.out" || fail "the mock did not start: $(cat "$T/mock.err")"
	BS=$(head -1 "$T/mock.out")
}

# mock_stop: the mock cluster gone (quit, and waited for), so that
# mock_start can start another.
mock_stop() {
	exec 3>&-
	wait "$MOCKPID" 2>/dev/null
	rm -f "$T/mock.in" "$T/mock.out"
}

# mock_lines_over N: has the mock answered more than N lines?
mock_lines_over() {
	[ "$(wc -l <"$T/mock.out")" -gt "$1" ]
}

# mock CMD...: a fault command, and its answer (ok or error: ...) in MOCKED.
mock() {
	local n
	n=$(wc -l <"$T/mock.out")
	echo "$*" >&3
	wait_for 5 mock_lines_over "$n" || fail "the mock did not answer '$*'"
	MOCKED=$(tail -1 "$T/mock.out")
}

# mock_rtt MS: every broker answers MS ms late (0: on time again).
mock_rtt() {
	local b
	for b in 1 2 3; do
		mock rtt $b "$1"
	done
}

#!/usr/bin/env bash
# bench/kafka_export.sh [--events N] [--runs R] — engram kafka export
# against kcat -P producing the same messages (keys and values from a
# file, the idempotent producer on) to a 64-partition topic of librdkafka's
# mock cluster (tests/kafka/mock.c: loopback, 3 brokers; it keeps 5 MiB a
# partition, hence 64), runs alternated (engram, kcat, kcat with export's
# headers, engram --transactional-id, ...), a fresh mock for each run.  Prints events/s and MB/s (of values) per run,
# the medians and the ratio engram/kcat.
#
#   ENGRAM=/tmp/b/bin/engram bench/kafka_export.sh [--events 1000000] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ENGRAM=$(realpath "${ENGRAM:-bin/engram}")
MOCK=$(dirname "$ENGRAM")/../tests/kafka_mock
N=1000000 RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
[ -x "$MOCK" ] || die "$MOCK is missing: make B=... kafka-tools"
W=$(mktemp -d "${TMPDIR:-/tmp}/engram-kbench.XXXXXX")
MP=
trap '[ -n "$MP" ] && kill $MP 2>/dev/null; rm -rf "$W"' EXIT

log "$N clickstream events into a store"
"$ENGRAM" gen clickstream --events "$N" --seed 7 >"$W/events.ndjson"
"$ENGRAM" -d "$W/store" append "$W/events.ndjson" >/dev/null
# kcat's input: KEY|VALUE, the value the line engram read prints (what
# export sends), the key its stream
"$ENGRAM" -d "$W/store" read >"$W/read.ndjson"
python3 - "$W/read.ndjson" "$W/kv" <<'EOF'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(json.loads(line)["stream"] + "|" + line)
EOF
VBYTES=$(($(wc -c <"$W/read.ndjson") - N))   # the values, without newlines
# kcat cannot give each message its own headers (-H puts the same on all):
# the closest it gets to export's messages is export's seven headers with
# values of the same sizes on every message
HDRS=(-H engram-pos=500000 -H engram-id=0b7a6a3e-5c1d-4f3e-9d2a-6f1e2d3c4b5a
	-H engram-type=page_view -H engram-time=2025-01-01T00:03:19.444467Z
	-H engram-recorded=2026-12-06T12:37:11.808759Z
	-H engram-chain=068c09a04d241599f643f0052f92add025f72915ab2603e377af52da81b8c381
	-H engram-export=b12345)

# mock_up: a fresh mock cluster with topic t (64 partitions); BS.
mock_up() {
	[ -n "$MP" ] && { kill $MP 2>/dev/null; wait $MP 2>/dev/null || true; }
	rm -f "$W/mock.out"
	[ -p "$W/in" ] || mkfifo "$W/in"
	"$MOCK" -p 64 t <"$W/in" >"$W/mock.out" 2>"$W/mock.err" &
	MP=$!
	[ -n "${FD3:-}" ] || { exec 3>"$W/in"; FD3=1; }
	for _ in $(seq 50); do [ -s "$W/mock.out" ] && break; sleep 0.1; done
	BS=$(head -1 "$W/mock.out")
	[ -n "$BS" ] || die "the mock did not start: $(cat "$W/mock.err")"
}

declare -A S
run() { # run KIND: one timed run, its seconds in S[KIND] (a list)
	local t0 t1
	mock_up
	t0=$(now)
	case $1 in
	engram) "$ENGRAM" -d "$W/store" kafka export --brokers "$BS" --topic t --name "b$RANDOM" >"$W/out" ;;
	txn) "$ENGRAM" -d "$W/store" kafka export --brokers "$BS" --topic t --name "b$RANDOM" \
		--transactional-id "bench-$RANDOM" >"$W/out" ;;
	kcat) kcat -P -b "$BS" -t t -K'|' -X enable.idempotence=true <"$W/kv" ;;
	kcat_h) kcat -P -b "$BS" -t t -K'|' -X enable.idempotence=true "${HDRS[@]}" <"$W/kv" ;;
	esac
	t1=$(now)
	local s
	s=$(calc "$t1 - $t0")
	S[$1]="${S[$1]:-} $s"
	log "$1: $s s, $(calc "$N / $s" 0) events/s, $(calc "$VBYTES / $s / 1000000" 1) MB/s"
}

for r in $(seq "$RUNS"); do
	run engram
	run kcat
	run kcat_h
	run txn
done
e=$(median ${S[engram]}) k=$(median ${S[kcat]}) h=$(median ${S[kcat_h]}) x=$(median ${S[txn]})
echo "kafka export bench: $N events, $(calc "$VBYTES / 1000000" 1) MB of values, 64 partitions, mock cluster, $(nproc) cores, $(git_version)"
printf '%-28s %8s %12s %8s   %s\n' what "median s" events/s MB/s runs
printf '%-28s %8s %12s %8s   %s\n' "engram kafka export" "$e" "$(calc "$N / $e" 0)" "$(calc "$VBYTES / $e / 1000000" 1)" "${S[engram]}"
printf '%-28s %8s %12s %8s   %s\n' "kcat -P (idempotent)" "$k" "$(calc "$N / $k" 0)" "$(calc "$VBYTES / $k / 1000000" 1)" "${S[kcat]}"
printf '%-28s %8s %12s %8s   %s\n' "kcat -P, export's 7 headers" "$h" "$(calc "$N / $h" 0)" "$(calc "$VBYTES / $h / 1000000" 1)" "${S[kcat_h]}"
printf '%-28s %8s %12s %8s   %s\n' "export --transactional-id" "$x" "$(calc "$N / $x" 0)" "$(calc "$VBYTES / $x / 1000000" 1)" "${S[txn]}"
echo "engram/kcat time ratio: $(calc "$e / $k" 2), against kcat with the headers $(calc "$e / $h" 2) (below 1: engram faster)"

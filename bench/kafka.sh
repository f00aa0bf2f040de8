#!/usr/bin/env bash
# bench/kafka.sh [--events N] [--partitions P] [--runs R] [--check] [--keep] [--out FILE]
#
# engram kafka's speed against kcat on the same loopback mock cluster
# (docs/BENCH.md, "engram kafka"): `engram gen clickstream --events N`
# appended to a store, then per run, alternating, each into a fresh topic
# of P partitions (default 256: the mock keeps only 5 MiB a partition, and
# export adds seven headers to each 174-byte value):
#  1. kcat -P producing the messages engram export would: key the stream,
#     value the line `engram read` prints (the idempotent producer and the
#     murmur2 partitioner, as export uses), from a file;
#  2. engram kafka export of the store to the head (and, beside it, kcat -P
#     with export's seven headers on every message, and export with
#     --transactional-id);
#  3. kcat -C consuming export's topic to a file (value per line);
#  4. engram kafka import of export's topic into a fresh store.
# Before timing, the answers are checked equal: kcat -C finds exactly the
# lines engram read prints in export's topic, and the imported store holds
# each event once, with its id, stream, type, time and data.  Reports wall
# seconds (medians of R runs), events/s, MB/s of values and the ratios.
# Writes the Markdown report to FILE (default bench/results/kafka.md) and
# stdout.  --check: a quick run (20,000 events, 8 partitions, one run) that
# asserts the equalities and times nothing.  Needs kcat (make deps) and the
# mock cluster ($B/tests/kafka_mock: make kafka-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
N=1000000 PARTS=256 RUNS=3 CHECK=0 KEEP=0 OUT=
MOCK=${MOCK:-${B:-build}/tests/kafka_mock}
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2; shift 2 ;;
	--partitions) PARTS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--check) CHECK=1 N=20000 PARTS=8 RUNS=1; shift ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
[ -n "$OUT" ] || { if [ "$CHECK" = 1 ]; then OUT=/dev/null; else OUT=$ROOT/bench/results/kafka.md; fi; }
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first"
[ -x "$MOCK" ] || die "no $MOCK; run make kafka-tools"
command -v kcat >/dev/null || die "kcat missing: run make deps"
PY=/usr/bin/python3
workdir kafka "$KEEP"
MOCKPID=
cleanup() {
	exec 3>&- 2>/dev/null || true
	[ -z "$MOCKPID" ] || kill "$MOCKPID" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then log "kept $W"; else rm -rf "$W"; rmdir "$ROOT/bench/results/tmp" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The mock cluster: 3 brokers; its commands on fd 3, its answers in mock.out.
mkfifo "$W/mock.in"
"$MOCK" -p "$PARTS" <"$W/mock.in" >"$W/mock.out" 2>"$W/mock.err" &
MOCKPID=$!
exec 3>"$W/mock.in"
for ((i = 0; i < 100; i++)); do [ -s "$W/mock.out" ] && break; sleep 0.05; done
BS=$(head -1 "$W/mock.out")
[ -n "$BS" ] || die "the mock did not start: $(cat "$W/mock.err")"
# topic NAME: a fresh topic of PARTS partitions
topic() {
	local n
	n=$(wc -l <"$W/mock.out")
	echo "topic $1 $PARTS" >&3
	for ((i = 0; i < 100; i++)); do [ "$(wc -l <"$W/mock.out")" -gt "$n" ] && break; sleep 0.02; done
	[ "$(tail -1 "$W/mock.out")" = ok ] || die "mock: topic $1: $(tail -1 "$W/mock.out")"
}

log "$N clickstream events into a store"
"$ENGRAM" gen clickstream --events "$N" --seed 1 >"$W/click.ndjson"
"$ENGRAM" -d "$W/store" append "$W/click.ndjson" >/dev/null
"$ENGRAM" -d "$W/store" read >"$W/read.ndjson"
# kcat's input: KEY<TAB>VALUE (JSON text holds no raw tab)
$PY - "$W/read.ndjson" "$W/kv.txt" <<'EOF'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for l in f:
        o.write(json.loads(l)["stream"] + "\t" + l)
EOF
MB=$(calc "$(stat -c %s "$W/read.ndjson") / 1e6" 1)
rm -f "$W/click.ndjson"

# kcat cannot give each message headers of its own (-H puts the same on
# all): export's seven, with the sizes an event's have, on every message
HDRS=(-H engram-pos=500000 -H engram-id=0b7a6a3e-5c1d-4f3e-9d2a-6f1e2d3c4b5a
	-H engram-type=page_view -H engram-time=2025-01-01T00:03:19.444467Z
	-H engram-recorded=2026-12-06T12:37:11.808759Z
	-H engram-chain=068c09a04d241599f643f0052f92add025f72915ab2603e377af52da81b8c381
	-H engram-export=ke1)
KCAT_P=(kcat -P -b "$BS" -K $'\t' -X enable.idempotence=true -X partitioner=murmur2_random -X linger.ms=5 -l "$W/kv.txt")
secs() { local t0; t0=$(now); "$@"; SECS=$(calc "$(now) - $t0" 4); }   # SECS: wall time of CMD
declare -A S
for ((r = 1; r <= RUNS; r++)); do
	topic "kp$r"; topic "ke$r"; topic "kh$r"; topic "kt$r"
	secs "${KCAT_P[@]}" -t "kp$r" 2>"$W/kcat.err" || die "kcat -P: $(cat "$W/kcat.err")"
	S[kp]+=" $SECS"
	if [ "$CHECK" = 0 ]; then
		secs "${KCAT_P[@]}" "${HDRS[@]}" -t "kh$r" 2>"$W/kcat.err" || die "kcat -P -H: $(cat "$W/kcat.err")"
		S[kh]+=" $SECS"
		secs "$ENGRAM" -d "$W/store" kafka export --brokers "$BS" --topic "kt$r" --name "txn$r" \
			--transactional-id "bench-$r" >"$W/export.out"
		S[et]+=" $SECS"
		grep -q "\"exported\":$N," "$W/export.out" || die "export --transactional-id: $(cat "$W/export.out")"
	fi
	secs "$ENGRAM" -d "$W/store" kafka export --brokers "$BS" --topic "ke$r" --name "run$r" >"$W/export.out"
	S[ep]+=" $SECS"
	grep -q "\"exported\":$N," "$W/export.out" || die "export: $(cat "$W/export.out")"
	secs kcat -C -b "$BS" -t "ke$r" -o beginning -e -q -f '%s\n' >"$W/consumed.ndjson"
	S[kc]+=" $SECS"
	rm -rf "$W/imported"
	secs "$ENGRAM" -d "$W/imported" kafka import --brokers "$BS" --topic "ke$r" --group "run$r" >"$W/import.out"
	S[ic]+=" $SECS"
	grep -q "\"imported\":$N," "$W/import.out" || die "import: $(cat "$W/import.out")"
	if [ "$r" = 1 ]; then
		# the answers: the topic holds exactly engram read's lines; the
		# imported store each event once, as it was
		[ "$(wc -l <"$W/consumed.ndjson")" = "$N" ] || die "kcat -C found $(wc -l <"$W/consumed.ndjson") messages in export's topic, not $N"
		cmp -s <(sort "$W/read.ndjson") <(sort "$W/consumed.ndjson") || die "export's topic differs from engram read"
		"$ENGRAM" -d "$W/imported" read >"$W/imported.ndjson"
		$PY - "$W/read.ndjson" "$W/imported.ndjson" <<'EOF' || die "the imported store differs from the exported one"
import json, sys
key = lambda e: (e["id"], e["stream"], e["type"], e["time"], json.dumps(e.get("data"), sort_keys=True))
want = sorted(key(json.loads(l)) for l in open(sys.argv[1]))
got = sorted(key(e) for e in map(json.loads, open(sys.argv[2])) if not e["stream"].startswith("$")
             and e["type"] != "engram.heartbeat")
if want != got:
    print("bench: %d events exported, %d imported" % (len(want), len(got)), file=sys.stderr)
    sys.exit(1)
EOF
		log "answers equal: $N messages in the topic as engram read prints them; $N events imported"
	fi
	rm -f "$W/consumed.ndjson"
	log "run $r: kcat -P ${S[kp]##* } s, export ${S[ep]##* } s, kcat -C ${S[kc]##* } s, import ${S[ic]##* } s"
done
[ "$CHECK" = 0 ] || { log "check passed"; exit 0; }

med() { median ${S[$1]}; }
rate() { calc "$N / $1" 0; }
mbs() { calc "$MB / $1" 1; }
KP=$(med kp) KH=$(med kh) EP=$(med ep) ET=$(med et) KC=$(med kc) IC=$(med ic)
{
	echo "# engram kafka against kcat"
	echo
	echo "bench/kafka.sh at $(git_version), $(date -u +%Y-%m-%d). $N events of \`engram gen clickstream\`"
	echo "($MB MB as \`engram read\` prints them: the message values), $RUNS alternating runs, each into"
	echo "fresh topics of $PARTS partitions on librdkafka $(pkg-config --modversion rdkafka)'s mock cluster (3 brokers, loopback;"
	echo "$(nproc) cores; load at start $LOAD0). kcat $(kcat -V 2>&1 | sed -n 's/^Version \([0-9.]*\).*/\1/p'). Medians of wall seconds."
	echo
	echo "| | seconds | events/s | MB/s | runs (s) |"
	echo "|---|---:|---:|---:|---|"
	echo "| \`kcat -P\` (idempotent, murmur2, from a file) | $KP | $(rate "$KP") | $(mbs "$KP") | $(list ${S[kp]}) |"
	echo "| \`kcat -P\` with export's seven headers (the same on every message) | $KH | $(rate "$KH") | $(mbs "$KH") | $(list ${S[kh]}) |"
	echo "| \`engram kafka export\` | $EP | $(rate "$EP") | $(mbs "$EP") | $(list ${S[ep]}) |"
	echo "| \`engram kafka export --transactional-id\` (transactions of 50,000 events or 500 ms) | $ET | $(rate "$ET") | $(mbs "$ET") | $(list ${S[et]}) |"
	echo "| \`kcat -C\` (to a file) | $KC | $(rate "$KC") | $(mbs "$KC") | $(list ${S[kc]}) |"
	echo "| \`engram kafka import\` (into a fresh store) | $IC | $(rate "$IC") | $(mbs "$IC") | $(list ${S[ic]}) |"
	echo
	echo "- export / kcat -P: **$(calc "$EP / $KP" 2)×** the time (target ≤ 1: $(ok "$EP <= $KP")); against kcat -P with the same headers: $(calc "$EP / $KH" 2)×"
	echo "- export --transactional-id / kcat -P: $(calc "$ET / $KP" 2)×"
	echo "- import / kcat -C: **$(calc "$IC / $KC" 2)×** the time (target ≤ 1: $(ok "$IC <= $KC"))"
	echo
	echo "Checked first (run 1): kcat -C finds in export's topic exactly the $N lines \`engram read\`"
	echo "prints; the imported store holds each event once with its id, stream, type, time and data."
} | tee "$OUT"

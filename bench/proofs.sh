#!/usr/bin/env bash
# bench/proofs.sh [--events N] [--proofs P] [--store DIR]
#
# Merkle proofs (issue 28, docs/PROOFS.md) at 10M events (engram gen bank,
# appended in one run; --store DIR reuses a store of that many events, kept
# between runs, e.g. /tmp/proofs10m).  Measured:
#   - the tree file's first build from the log (bench/proof_bench.c opens
#     the tree with no tree file), and its size per event;
#   - proof generation through the C API: P inclusion proofs of random
#     positions against the head (each verified against the root by the
#     library before it is returned), the same with the event's record read
#     from the log (leaf_data), and P/4 consistency proofs;
#   - checking a proof with no store (eg_mt_verify_inclusion /
#     eg_mt_verify_consistency over the proofs made);
#   - the command: engram proof inclusion --positions FILE (10,000 random
#     positions, one process: the JSON of each proof with leaf_data and the
#     event), and one engram head (a process start, a tree already up to date);
#   - the catch-up: engram head after 100,000 more events.
# Targets: generation >= 50,000 proofs/s; a check < 50 us.  Writes
# bench/results/proofs.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
EVENTS=10000000 PROOFS=200000 STORE=
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2; shift 2 ;;
	--proofs) PROOFS=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	*) echo "usage: bench/proofs.sh [--events N] [--proofs P] [--store DIR]" >&2; exit 2 ;;
	esac
done
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first"
PB=${PROOF_BENCH:-$ROOT/build/bench/proof_bench}
[ -x "$PB" ] || die "no $PB; run make bench-proofs"
W=${PROOFS_BENCH_DIR:-$ROOT/bench/results/tmp/proofs}
rm -rf "$W" && mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
S=${STORE:-$W/store}
have=$("$ENGRAM" -d "$S" --format ndjson head 2>/dev/null | grep -o '"pos":[0-9]*' | cut -d: -f2 || true)
if [ "${have:-0}" != "$EVENTS" ]; then
	rm -rf "$S"
	log "engram gen bank --events $EVENTS | engram append"
	t0=$(now)
	"$ENGRAM" gen bank --events "$EVENTS" --seed 1 | "$ENGRAM" -d "$S" append >/dev/null
	log "appended in $(calc "$(now) - $t0" 1) s"
fi
rm -rf "$S/idx/tree"
warm "$S"
log "proof_bench $PROOFS proofs"
"$PB" "$S" "$PROOFS" >"$W/api.json"
cat "$W/api.json" >&2
TREE_BYTES=$(bytes "$S/idx/tree")
LOG_BYTES=$(bytes "$S/log")
j() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/api.json" "$1"; }

# the command, one process for 10,000 proofs
python3 -c 'import random,sys; r=random.Random(1); n=int(sys.argv[1]); print("\n".join(str(r.randint(1, n)) for _ in range(10000)))' "$EVENTS" >"$W/pos"
sort -n "$W/pos" >"$W/pos.sorted"
# a reader brings lagging column files up first (cli_open_read): not the
# proofs' cost, so done before the timed runs
"$ENGRAM" -d "$S" stats >/dev/null
timed "$W/cli.ndjson" "$ENGRAM" -d "$S" proof inclusion --positions "$W/pos"
CLI_S=$SECS CLI_RSS=$RSS
timed "$W/cli2.ndjson" "$ENGRAM" -d "$S" proof inclusion --positions "$W/pos.sorted"
CLI_SORTED_S=$SECS
[ "$(wc -l <"$W/cli.ndjson")" = 10000 ] || die "the command printed $(wc -l <"$W/cli.ndjson") proofs"
HR=$(grep -o '"root":"[0-9a-f]*"' <("$ENGRAM" -d "$S" --format ndjson head) | cut -d'"' -f4)
head -200 "$W/cli.ndjson" >"$W/sample.ndjson"
python3 - "$W/sample.ndjson" "$HR" "$ROOT/tests/proofs/rfc9162_check.py" <<'PY'
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("rfc", sys.argv[3])
rfc = importlib.util.module_from_spec(spec); spec.loader.exec_module(rfc)
root = bytes.fromhex(sys.argv[2])
for l in open(sys.argv[1]):
    p = json.loads(l)
    assert rfc.verify_inclusion(p["leaf_index"], p["tree_size"], bytes.fromhex(p["leaf_hash"]),
                                [bytes.fromhex(x) for x in p["audit_path"]], root) is None
PY
HEAD_RUNS=()
for i in 1 2 3 4 5; do
	t0=$(now); "$ENGRAM" -d "$S" head >/dev/null; HEAD_RUNS+=("$(calc "($(now) - $t0) * 1000" 2)")
done
HEAD_MS=$(median "${HEAD_RUNS[@]}")

# the catch-up after 100,000 more events
"$ENGRAM" gen bank --events 100000 --seed 2 >"$W/more.ndjson"
"$ENGRAM" -d "$S" append "$W/more.ndjson" >/dev/null
"$ENGRAM" -d "$S" stats >/dev/null   # the column files' catch-up, as above
t0=$(now); "$ENGRAM" -d "$S" head >/dev/null; CATCH_S=$(calc "$(now) - $t0" 3)
# back to EVENTS for the next run: drop the store if it was ours, else say so
[ -n "$STORE" ] && log "note: $S now holds $((EVENTS + 100000)) events; the next run rebuilds it"

INCL=$(j inclusion_per_s) VER=$(j verify_inclusion_us)
cat >bench/results/proofs.md <<EOF
# Merkle proofs (issue 28)

\`make bench-proofs\` (bench/proofs.sh, bench/proof_bench.c) on $(nproc) cores,
load average before the run $LOAD0, engram $(git_version), $(date -u +%Y-%m-%d).
Store: $EVENTS events of \`engram gen bank\` (records of $(j avg_record_bytes) bytes on
average), log $(calc "$LOG_BYTES / 1048576" 0) MiB (sealed in the background as it was
appended, docs/STORAGE.md).

| what | measured | target |
|---|---|---|
| inclusion proof, C API (\`eg_proof_inclusion\`, random position, against the head; each proof verified against the root before it is returned) | **$INCL proofs/s** ($(j inclusion_us) µs each; $(j avg_path) hashes a path) | ≥ 50,000/s: $(ok "$INCL >= 50000") |
| checking an inclusion proof, no store (\`eg_mt_verify_inclusion\`) | **$VER µs** | < 50 µs: $(ok "$VER < 50") |
| consistency proof, C API (random old size to the head) | $(j consistency_per_s) proofs/s ($(j consistency_us) µs) | |
| checking a consistency proof | $(j verify_consistency_us) µs | |
| inclusion proof + the event's record read from the log (\`eg_tree_leaf\`: leaf_data and the event) | $(j inclusion_with_leaf_data_per_s) proofs/s ($(j inclusion_with_leaf_data_us) µs) | |
| \`engram proof inclusion --positions\` (10,000 random positions, one process, one JSON line each with leaf_data and the event) | $(calc "10000 / $CLI_S" 0) proofs/s ($CLI_S s, peak RSS $((CLI_RSS / 1024)) MiB) | |
| the same, positions in ascending order | $(calc "10000 / $CLI_SORTED_S" 0) proofs/s ($CLI_SORTED_S s) | |
| \`engram head\` (process start, tree up to date; median of 5) | $HEAD_MS ms | |
| tree file built from the log (first \`head\` or \`proof\`) | $(j tree_open_s) s | |
| \`engram head\` after 100,000 more events (the catch-up hashes only those) | $CATCH_S s | |
| tree file (\`idx/tree/\`) | $(calc "$TREE_BYTES / 1048576" 0) MiB, $(calc "$TREE_BYTES / $EVENTS" 1) bytes/event | ≤ ~70 |

Reading: a proof is O(log n) 32-byte reads from the mapped tree file plus
the hashes of its own check (about one per level); checking one is about
one SHA-256 of 65 bytes per level (OpenSSL EVP). The proof does not read the
log. What does is the event itself: the command prints \`leaf_data\` (the
record's bytes) and the event, and a random record of a sealed segment
costs the decompression of its zstd block (256 KiB by default), which is
most of the command's time per proof here; in a plain (unsealed) segment
it is one pread. \`--positions\` makes its proofs in log order (65,536 at a
time, printed in the file's order), so that events of one block share its
decompression: random and ascending positions then cost about the same.

Raw C API figures: \`$(cat "$W/api.json")\`
EOF
log "wrote bench/results/proofs.md"
cat bench/results/proofs.md

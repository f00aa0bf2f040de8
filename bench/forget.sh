#!/usr/bin/env bash
# bench/forget.sh [--events N] [--personal K] [--tiny] [--runs R] [--keep]
#
# What crypto-shredding costs at append (issue 28, docs/FORGETTING.md): the
# same NDJSON file of orders (email, name and address.street per order,
# 10,000 customers) appended (`engram append FILE`) into a fresh store
# whose "order" schema marks nothing personal (side A) and into one whose
# schema is the same plus "x-personal" on those three and "x-subject":
# "/customer_id" (side B: an event's values AES-256-GCM encrypted together, a key per
# customer made and synced before each commit).  Same bytes in, same
# validation; only the append is timed, wall clock, the sides taking turns
# (A first in odd runs).  Before any time is reported, B's events must read
# back equal to A's and B's log must hold no plaintext email.  Target: B
# at most 1.2x A (medians).  Writes bench/results/forget.md.
#   --events N  orders (default 1000000)
#   --personal K  B marks the first K of email, name, address.street
#               personal (default 3)
#   --tiny      5000 orders: a quick check
#   --runs R    runs, each timing both sides (default 5)
#   --keep      keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, calc, median, ok, git_version, workdir, now
N=1000000 RUNS=5 KEEP=0 ARGS="" K=3
while [ $# -gt 0 ]; do
	case $1 in
	--events) N=$2 ARGS="$ARGS --events $2"; shift 2 ;;
	--tiny) N=5000 ARGS="$ARGS --tiny"; shift ;;
	--personal) K=$2 ARGS="$ARGS --personal $2"; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: bench/forget.sh [--events N] [--personal K] [--tiny] [--runs R] [--keep]" >&2; exit 2 ;;
	esac
done
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first (or set ENGRAM)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: sudo apt-get install -y time"
workdir forget "$KEEP"
GIT_V=$(git_version)

log "$N orders: generate, write the two schemas"
python3 - "$W" "$N" "$K" <<'PY'
import json, random, sys
w, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(28)
cities = ["Oslo", "Rome", "Lima", "Pune", "Kyiv"]
with open(w + "/events.ndjson", "w") as f:
    for i in range(n):
        c = "cust-%d" % r.randrange(10000)
        d = {"customer_id": c, "email": "%s.%d@example.com" % (c, i % 97), "name": "Name of %s" % c,
             "address": {"street": "%d Long Street" % (i % 1000), "city": cities[i % 5]},
             "amount": r.randrange(1, 1000), "sku": "sku-%d" % r.randrange(500)}
        f.write(json.dumps({"stream": "order-%d" % i, "type": "order",
                            "time": "2025-01-01T00:00:00Z", "data": d}, separators=(",", ":")) + "\n")
base = {"type": "object", "required": ["customer_id"],
        "properties": {"customer_id": {"type": "string"}, "email": {"type": "string"},
                       "name": {"type": "string"},
                       "address": {"type": "object", "properties": {"street": {"type": "string"},
                                                                    "city": {"type": "string"}}},
                       "amount": {"type": "integer"}, "sku": {"type": "string"}}}
json.dump(base, open(w + "/A.json", "w"))
base["x-subject"] = "/customer_id"
for p in (base["properties"]["email"], base["properties"]["name"],
          base["properties"]["address"]["properties"]["street"])[:k]:
    p["x-personal"] = True
json.dump(base, open(w + "/B.json", "w"))
PY

# append SIDE: time `engram append` of the file into a fresh store (SECS).
append() {
	local t0 rc=0
	rm -rf "${W:?}/$1"
	"$ENGRAM" -d "$W/$1" schema add order "$W/$1.json" >/dev/null || die "schema add failed"
	cat "$W/events.ndjson" >/dev/null
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$W/time" "$ENGRAM" -d "$W/$1" append "$W/events.ndjson" \
		>"$W/$1.out" || rc=$?
	SECS=$(calc "$(now) - $t0" 4)
	[ "$rc" = 0 ] || die "side $1: append failed (exit $rc): $(cat "$W/$1.out")"
	read -r u s < <(tail -1 "$W/time")
	CPU=$(calc "$u + $s" 2)
}

# check: B reads back as A, and B's log holds no plaintext email.
check() {
	"$ENGRAM" -d "$W/A" --format ndjson read --type order --limit 20000 >"$W/A.read"
	"$ENGRAM" -d "$W/B" --format ndjson read --type order --limit 20000 >"$W/B.read"
	python3 - "$W/A.read" "$W/B.read" "$W/B/log" <<'PY' || die "the stores differ"
import json, os, sys
a = [json.loads(l)["data"] for l in open(sys.argv[1])]
b = [json.loads(l)["data"] for l in open(sys.argv[2])]
assert a == b and len(a) > 0, "B's events do not read back as A's"
for f in os.listdir(sys.argv[3]):
    assert b"@example.com" not in open(os.path.join(sys.argv[3], f), "rb").read(), "plaintext in " + f
PY
	[ -s "$W/B/keys" ] || die "B has no key file"
	KEYS=$(( ($(stat -c %s "$W/B/keys") - 64) / 128 ))
	LOGA=$(bytes "$W/A/log") LOGB=$(bytes "$W/B/log")
}

A_S=() B_S=() A_CPU=() B_CPU=() PAIR=()
for r in $(seq 1 "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
	log "run $r of $RUNS: $(echo "$order" | sed 's/ /, then /')"
	for side in $order; do
		append "$side"
		if [ "$side" = A ]; then A_S+=("$SECS") A_CPU+=("$CPU"); else B_S+=("$SECS") B_CPU+=("$CPU"); fi
	done
	if [ "$r" = 1 ]; then
		check
		log "check: B reads back as A, no plaintext in B's log, $KEYS keys"
	fi
	PAIR+=("$(calc "${B_S[-1]} / ${A_S[-1]}" 4)")
	rm -rf "${W:?}/A" "${W:?}/B"
done
A=$(median "${A_S[@]}") B=$(median "${B_S[@]}")
RATIO=$(calc "$B / $A" 3)
AC=$(median "${A_CPU[@]}") BC=$(median "${B_CPU[@]}")
EPS() { calc "$N / $1" 0; }
OUT=bench/results/forget.md
[ "$K" = 3 ] || OUT=bench/results/forget-$K.md
{
	echo "# Appends with personal values (crypto-shredding)"
	echo
	echo "\`bench/forget.sh$ARGS --runs $RUNS\` (\`make bench-forget\`): $N orders of"
	echo "10,000 customers, each with email, name and address.street, appended"
	echo "into a fresh store under a schema that marks nothing personal (A) and"
	echo "under the same schema with the first $K of those \`x-personal\` and \`x-subject\`"
	echo "/customer_id (B: $K values per event in one AES-256-GCM bundle, a key per customer"
	echo "written and synced before each commit). Same file, same validation;"
	echo "append wall clock, sides alternating. B's events were checked to read"
	echo "back equal to A's, with no plaintext email in B's log."
	echo
	echo "| side | median s | events/s | runs (s) | CPU s (user + sys), median |"
	echo "|---|---|---|---|---|"
	echo "| A plain | $A | $(EPS "$A") | $(list "${A_S[@]}") | $AC |"
	echo "| B personal | $B | $(EPS "$B") | $(list "${B_S[@]}") | $BC |"
	echo
	echo "- ratio B / A (medians): **$RATIO** (target ≤ 1.2: $(ok "$RATIO <= 1.2")); per run: $(list "${PAIR[@]}")"
	echo "- CPU ratio B / A: $(calc "$BC / $AC" 2); extra CPU per event: $(calc "($BC - $AC) / $N * 1000000" 2) µs, per personal value $(calc "($BC - $AC) / $N / $K * 1000000" 2) µs"
	echo "- keys made: $KEYS (DIR/keys: $((64 + KEYS * 128)) bytes); log bytes A $LOGA, B $LOGB ($(calc "$LOGB / $LOGA" 2)x: base64 ciphertext, a nonce and a tag per event)"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg); git $GIT_V"
} >"$OUT"
cat "$OUT"

#!/usr/bin/env bash
# bench/serve.sh [--secs S] [--conns C] [--events N] [--runs R] [--check] [--keep] [--out FILE]
#
# engram serve's speed, on loopback (docs/BENCH.md, "engram serve"):
#  1. C connections (default 64), each POSTing one small event per request
#     with a unique id, for S seconds (wrk, bench/serve_post.lua): the
#     acknowledged events/s (every answer is given after the group's
#     fdatasync) and the p50/p99 latency; beside it, in the same run,
#     PostgreSQL's pgbench with C clients, each transaction one single-row
#     INSERT (a bigserial position and a unique text id, as an event store
#     keeps) with synchronous_commit=on.  Runs alternate, engram then
#     PostgreSQL; the medians of R runs.
#  2. `engram gen clickstream --events N` POSTed as 10,000-line NDJSON
#     bodies, one after the other on one connection, against `engram
#     append` of the same file (one batch) and `engram append --batch
#     10000` (a commit per 10,000 lines, as the POSTs make): wall seconds,
#     medians of R runs, each into a fresh store.
# Writes the Markdown report to FILE (default bench/results/serve.md) and
# stdout.  --check: a quick run (1 s, 8 connections, 20,000 events, no
# PostgreSQL) that asserts instead of timing: every request answered 200,
# every acknowledged event in the store, the POSTed batches read back as
# `engram append` wrote them.  Needs wrk and pgbench (make bench-deps).
#   --secs S (default 10)   --conns C (default 64)   --events N (default 200000)
#   --runs R (default 3)    --keep  keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
SECS_RUN=10 CONNS=64 N=200000 RUNS=3 CHECK=0 KEEP=0 OUT=$ROOT/bench/results/serve.md
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS_RUN=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--events) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--check) CHECK=1 SECS_RUN=1 CONNS=8 N=20000 RUNS=1; shift ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
PY=/usr/bin/python3
export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first"
for c in wrk curl; do command -v $c >/dev/null || die "$c missing: run make bench-deps"; done
if [ "$CHECK" = 0 ]; then
	for c in pgbench psql initdb pg_ctl; do command -v $c >/dev/null || die "$c missing: run make bench-deps"; done
	$PY -c 'import psycopg2' 2>/dev/null || die "python3-psycopg2 missing: run make bench-deps"
fi
workdir serve "$KEEP"
chmod 755 "$W"   # the PostgreSQL server, run as user postgres, keeps its cluster in it
SERVER= HEALTH=? PGD=$W/pg PG_PORT=$((20000 + $$ % 20000))
[ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$W" || PGD=$(mktemp -d /var/tmp/engram-bench-pg.XXXXXX)
cleanup() {
	[ -z "$SERVER" ] || kill -KILL "$SERVER" 2>/dev/null || true
	[ ! -f "$PGD/data/postmaster.pid" ] || $PY bench/peers/postgres.py stop "$PGD" >/dev/null 2>&1 || true
	[ "$PGD" = "$W/pg" ] || rm -rf "$PGD"
	if [ "$KEEP" = 1 ]; then log "kept $W"; else rm -rf "$W"; rmdir "$ROOT/bench/results/tmp" 2>/dev/null || true; fi
}
trap cleanup EXIT

# serve_start STORE: engram serve on a free loopback port ($URL), its
# stderr (the access log) in $W/serve.err.
serve_start() {
	local port i
	port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	URL=http://127.0.0.1:$port
	"$ENGRAM" -d "$1" serve --listen "127.0.0.1:$port" 2>"$W/serve.err" &
	SERVER=$!
	for ((i = 0; i < 100; i++)); do
		curl -s "$URL/health" >/dev/null 2>&1 && return 0
		kill -0 "$SERVER" 2>/dev/null || die "engram serve exited: $(tail -3 "$W/serve.err")"
		sleep 0.05
	done
	die "engram serve did not answer"
}
# serve_stop: SIGTERM; GROUPS gets the group commits it made.
serve_stop() {
	kill -TERM "$SERVER"
	wait "$SERVER" || die "engram serve exited $?"
	SERVER=
	GROUPS_=$(grep -a '^engram: stopped' "$W/serve.err" | sed 's/.* in \([0-9]*\) group commits.*/\1/')
}
head_pos() { "$ENGRAM" -d "$1" head | sed 's/.*"pos":\([0-9]*\).*/\1/'; }
secs() { local t0; t0=$(now); "$@"; SECS=$(calc "$(now) - $t0" 4); }   # SECS: wall time of CMD
jv() { $PY -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$2" "$1"; }   # jv KEY JSON

# --- 1. one small event per request
# engram_small RUN: sets E_RATE (acknowledged events/s), E_P50, E_P99 (ms),
# E_GROUP (requests per group commit).
engram_small() {
	local st=$W/small-$1 out req bad
	rm -rf "$st"
	serve_start "$st"
	out=$(wrk -t2 -c"$CONNS" -d"${SECS_RUN}s" --timeout 10s -s bench/serve_post.lua "$URL/events" -- "r$1" | tail -1)
	# the ceiling of the HTTP side alone: GET /health, no store, once
	[ "$1" != 1 ] || [ "$CHECK" = 1 ] ||
		HEALTH=$(wrk -t2 -c"$CONNS" -d"${SECS_RUN}s" "$URL/health" | sed -n 's/^Requests\/sec: *\([0-9]*\).*/\1/p')
	serve_stop
	req=$(jv requests "$out")
	bad=$(( $(jv non2xx "$out") + $(jv connect "$out") + $(jv read "$out") + $(jv write "$out") + $(jv timeout "$out") ))
	[ "$bad" = 0 ] || die "wrk: $bad requests not answered 200: $out"
	[ "$req" -gt 0 ] || die "wrk: no request answered"
	# every answered request's event is in the store (a few more may be:
	# those in flight when wrk stopped)
	[ "$(head_pos "$st")" -ge "$req" ] || die "$req acknowledged, the store holds $(head_pos "$st")"
	E_RATE=$(calc "$req / ($(jv duration_us "$out") / 1e6)" 0)
	E_P50=$(calc "$(jv p50_us "$out") / 1000" 2) E_P99=$(calc "$(jv p99_us "$out") / 1000" 2)
	E_GROUP=$(calc "$(head_pos "$st") / $GROUPS_" 1)
	rm -rf "$st"
}

pg_start() {
	$PY bench/peers/postgres.py start "$PGD" "$PG_PORT" >"$W/pg.version"
	psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE TABLE events(pos bigserial PRIMARY KEY,
		id text NOT NULL UNIQUE, type text NOT NULL, data jsonb)" postgres
	cat >"$W/insert.sql" <<'EOF'
INSERT INTO events(id, type, data) VALUES (gen_random_uuid()::text, 'bench', '{"n": 1}');
EOF
}
pg_version() {   # 150018 -> 15.18
	$PY -c 'import json, sys; v = json.load(open(sys.argv[1]))["version"]; print("%d.%d" % (v // 10000, v % 10000))' "$W/pg.version"
}
# pg_small RUN: sets P_TPS, P_P50, P_P99 (ms).
pg_small() {
	local out
	psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "TRUNCATE events" postgres
	rm -f "$W"/pgl.*
	out=$(cd "$W" && PGOPTIONS='-c synchronous_commit=on' pgbench -n -h 127.0.0.1 -p "$PG_PORT" -U postgres \
		-c "$CONNS" -j 2 -T "$SECS_RUN" -M prepared -f "$W/insert.sql" -l --log-prefix=pgl postgres 2>&1) ||
		die "pgbench failed: $out"
	P_TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
	P_TPS=$(calc "$P_TPS" 0)
	# the per-transaction log: the third field is the latency in µs
	read -r P_P50 P_P99 < <(cat "$W"/pgl.* | awk '{ print $3 }' | sort -n |
		awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }')
}

# --- 2. NDJSON batches
post_parts() {   # post_parts URL DIR: POST each file in order; prints the seconds
	$PY - "$1" "$2" <<'EOF'
import http.client, json, os, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
files = sorted(os.listdir(sys.argv[2]))
bodies = [open(os.path.join(sys.argv[2], f), "rb").read() for f in files]
c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
t0 = time.perf_counter()
for b in bodies:
    c.request("POST", "/events", body=b, headers={"Content-Type": "application/x-ndjson"})
    r = c.getresponse()
    text = r.read()
    if r.status != 200:
        sys.exit("POST: %d %s" % (r.status, text[:300]))
    if json.loads(text)["appended"] != b.count(b"\n"):
        sys.exit("POST: not every line appended: %s" % text[:300])
print("%.4f" % (time.perf_counter() - t0))
EOF
}
# batch_run RUN: sets A1 (append, one batch), A2 (append --batch 10000),
# HP (POSTs) in seconds.
batch_run() {
	local st=$W/batch-$1
	rm -rf "$st.a" "$st.b" "$st.h"
	secs "$ENGRAM" -d "$st.a" append "$W/events.ndjson" >/dev/null
	A1=$SECS
	secs "$ENGRAM" -d "$st.b" append --batch 10000 "$W/events.ndjson" >/dev/null
	A2=$SECS
	serve_start "$st.h"
	HP=$(post_parts "$URL" "$W/parts") || die "the POSTs failed"
	serve_stop
	for s in a b h; do
		[ "$(head_pos "$st.$s")" = "$N" ] || die "store $s holds $(head_pos "$st.$s") events, not $N"
	done
	if [ "$CHECK" = 1 ]; then
		# the same events in the same order as engram append wrote them
		cmp -s <("$ENGRAM" -d "$st.a" read | grep -o '"id":"[^"]*"') \
			<("$ENGRAM" -d "$st.h" read | grep -o '"id":"[^"]*"') ||
			die "the POSTed store differs from engram append's"
	fi
	rm -rf "$st.a" "$st.b" "$st.h"
}

log "engram serve: $CONNS connections x ${SECS_RUN}s, $RUNS runs$([ "$CHECK" = 1 ] || echo ', beside pgbench')"
[ "$CHECK" = 1 ] || pg_start
declare -a ER EP50 EP99 EG PT PP50 PP99 RA1 RA2 RHP
for ((r = 1; r <= RUNS; r++)); do
	engram_small "$r"
	ER+=("$E_RATE") EP50+=("$E_P50") EP99+=("$E_P99") EG+=("$E_GROUP")
	log "run $r: engram serve $E_RATE events/s, p99 $E_P99 ms ($E_GROUP requests a group commit)"
	if [ "$CHECK" = 0 ]; then
		pg_small "$r"
		PT+=("$P_TPS") PP50+=("$P_P50") PP99+=("$P_P99")
		log "run $r: pgbench $P_TPS tps, p99 $P_P99 ms"
	fi
done
"$ENGRAM" gen clickstream --events "$N" --seed 1 >"$W/events.ndjson"
mkdir -p "$W/parts"
split -l 10000 -d -a 4 "$W/events.ndjson" "$W/parts/p"
for ((r = 1; r <= RUNS; r++)); do
	batch_run "$r"
	RA1+=("$A1") RA2+=("$A2") RHP+=("$HP")
	log "run $r: append $A1 s, append --batch 10000 $A2 s, POSTs $HP s"
done
if [ "$CHECK" = 1 ]; then
	log "check ok: ${ER[0]} events/s answered 200 and in the store; the POSTed batches match engram append"
	exit 0
fi

e_rate=$(median "${ER[@]}") p_tps=$(median "${PT[@]}")
a1=$(median "${RA1[@]}") a2=$(median "${RA2[@]}") hp=$(median "${RHP[@]}")
mb=$(calc "$(bytes "$W/events.ndjson") / 1048576" 1)
report() {
	cat <<EOF
# engram serve (\`make bench-serve\`)

\`bench/serve.sh --secs $SECS_RUN --conns $CONNS --events $N --runs $RUNS\` at $(git_version), $(date -u +%Y-%m-%d);
see docs/BENCH.md, "engram serve".  Loopback only; $(nproc) cores shared with the
clients (wrk, pgbench, python); load average $LOAD0 at the start,
$(cut -d' ' -f1-3 /proc/loadavg) at the end.  Medians of $RUNS runs (each run's
figures in brackets).

## One small event per request, $CONNS connections

Every request one event with a unique id (\`bench/serve_post.lua\`),
answered 200 only once its group commit is durable (fdatasync); wrk with 2
threads.  PostgreSQL $(pg_version): pgbench, $CONNS clients, each
transaction \`INSERT INTO events(id, type, data)\` (bigserial position,
unique text id), synchronous_commit=on, prepared statements.

| | acknowledged/s | p50 ms | p99 ms |
|---|---|---|---|
| engram serve | $e_rate (${ER[*]}) | $(median "${EP50[@]}") | $(median "${EP99[@]}") (${EP99[*]}) |
| pgbench INSERT | $p_tps (${PT[*]}) | $(median "${PP50[@]}") | $(median "${PP99[@]}") (${PP99[*]}) |

- target ≥ 50,000 events/s: $(ok "$e_rate >= 50000") ($e_rate)
- target ≥ 2× pgbench: $(ok "$e_rate >= 2 * $p_tps") ($(calc "$e_rate / $p_tps" 2)×)
- the HTTP side alone, GET /health from $CONNS connections (run 1): $HEALTH requests/s
- requests per group commit: $(median "${EG[@]}") (${EG[*]})

## NDJSON batches: $N events ($mb MB), 10,000-line POSTs

\`engram gen clickstream --events $N --seed 1\`, POSTed in $(ls "$W/parts" | wc -l) bodies one
after the other on one connection (the client's own timing, from the first
request to the last answer), against \`engram append\` of the same file
into a fresh store (process included).

| | seconds | events/s | POSTs / this |
|---|---|---|---|
| POST /events, 10,000 lines each | $hp (${RHP[*]}) | $(calc "$N / $hp" 0) | |
| engram append FILE (one batch) | $a1 (${RA1[*]}) | $(calc "$N / $a1" 0) | $(calc "$hp / $a1" 2) |
| engram append --batch 10000 FILE | $a2 (${RA2[*]}) | $(calc "$N / $a2" 0) | $(calc "$hp / $a2" 2) |

- target POSTs within 1.3× of engram append: $(ok "$hp <= 1.3 * $a1") ($(calc "$hp / $a1" 2)×)
EOF
}
mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"

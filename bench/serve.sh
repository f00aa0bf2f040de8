#!/usr/bin/env bash
# bench/serve.sh [--secs S] [--conns C] [--events N] [--subs S] [--rate R] [--runs R]
#                [--only small|batch|sse] [--check] [--keep] [--out FILE]
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
#  3. Live subscriptions: S subscribers (default 100) on GET /subscribe
#     while R events/s (default 20,000) are POSTed for S seconds
#     (bench/sse_load.c, into a fresh store): did every subscriber get every
#     event once, in order; the delivery latency p50/p99; how far the
#     slowest fell behind; the server's memory.  Medians of R runs.
# Writes the Markdown report to FILE (default bench/results/serve.md) and
# stdout.  --check: a quick run (1 s, 8 connections, 20,000 events, 10
# subscribers at 2,000 events/s, no PostgreSQL) that asserts instead of
# timing: every request answered 200, every acknowledged event in the
# store, the POSTed batches read back as `engram append` wrote them, every
# subscriber given every event exactly once, in order, its ids the
# positions.  --only runs one part (with --check too); its report goes to
# stdout only, unless --out is given.  Needs wrk and pgbench (make
# bench-deps) and bench/sse_load (make $B/bench/sse_load, $SSE_LOAD).
#   --secs S (default 10)   --conns C (default 64)   --events N (default 200000)
#   --subs S (default 100)  --rate R (default 20000) --runs R (default 3)
#   --keep  keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh
SECS_RUN=10 CONNS=64 N=200000 SUBS=100 RATE=20000 RUNS=3 CHECK=0 KEEP=0 ONLY= OUT=
SSE_LOAD=${SSE_LOAD:-${B:-build}/bench/sse_load}
while [ $# -gt 0 ]; do
	case $1 in
	--secs) SECS_RUN=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--events) N=$2; shift 2 ;;
	--subs) SUBS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--check) CHECK=1 SECS_RUN=1 CONNS=8 N=20000 SUBS=10 RATE=2000 RUNS=1; shift ;;
	--keep) KEEP=1; shift ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
case $ONLY in
'' | small | batch | sse) ;;
*) die "--only: expected small, batch or sse, got '$ONLY'" ;;
esac
if [ -z "$OUT" ]; then
	if [ -n "$ONLY" ]; then OUT=/dev/null; else OUT=$ROOT/bench/results/serve.md; fi
fi
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }   # part NAME: is that part run?
PY=/usr/bin/python3
export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$ENGRAM" ] || die "no $ENGRAM; run make first"
command -v curl >/dev/null || die "curl missing: run make bench-deps"
! part small || command -v wrk >/dev/null || die "wrk missing: run make bench-deps"
[ -x "$SSE_LOAD" ] || ! part sse || die "no $SSE_LOAD; run make ${B:-build}/bench/sse_load"
if [ "$CHECK" = 0 ] && part small; then
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

# --- 3. live subscriptions
# sse_vars JSON: sse_load's line as shell assignments S_KEY=VALUE (a list
# as its items, space-separated).
sse_vars() {
	$PY -c 'import json, shlex, sys
for k, v in json.loads(sys.argv[1]).items():
    v = " ".join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, bool) else str(v)
    print("S_%s=%s" % (k, shlex.quote(v)))' "$1"
}
# sse_run RUN: SUBS subscribers while RATE events/s are POSTed for SECS_RUN
# seconds into a fresh store; sets the S_ variables (sse_vars).  Dies when
# the run could not take place; --check also when a subscriber missed, got
# twice or out of order any event.
sse_run() {
	local st=$W/sse-$1 out
	rm -rf "$st"
	serve_start "$st"
	out=$("$SSE_LOAD" --port "${URL##*:}" --subs "$SUBS" --rate "$RATE" --secs "$SECS_RUN" \
		--pid "$SERVER" --tag "r$1" --wait 30) || die "sse_load failed: $out"
	serve_stop
	echo "$out" >>"$W/sse.jsonl"
	eval "$(sse_vars "$out")"
	[ -z "$S_error" ] || die "sse_load: $S_error: $out"
	[ "$(head_pos "$st")" = "$S_events_acked" ] ||
		die "$S_events_acked events acknowledged, the store holds $(head_pos "$st")"
	if [ "$CHECK" = 1 ]; then
		[ "$S_all_complete" = true ] && [ "$S_gaps$S_dups$S_bad$S_closed" = 0000 ] &&
			[ "$S_from" = 1 ] && [ "$S_last_pos" = "$S_events_sent" ] &&
			[ "$S_received_min" = "$S_events_sent" ] && [ "$S_received_max" = "$S_events_sent" ] ||
			die "a subscriber did not get every event exactly once, in order: $out"
	fi
	rm -rf "$st"
}
mb_of() { calc "$1 / 1024" 1; }   # KiB -> MiB

declare -a ER EP50 EP99 EG PT PP50 PP99 RA1 RA2 RHP
declare -a SR SOK SMIN SMAX SP50 SP99 SMX SBH SBS_ SUN SUT SDR SLATE RSS0 RSS1 RSS2 HWM AN1 AN2 PSS2 SCPU CCPU SBS
if part small; then
	log "engram serve: $CONNS connections x ${SECS_RUN}s, $RUNS runs$([ "$CHECK" = 1 ] || echo ', beside pgbench')"
	[ "$CHECK" = 1 ] || pg_start
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
fi
if part batch; then
	"$ENGRAM" gen clickstream --events "$N" --seed 1 >"$W/events.ndjson"
	mkdir -p "$W/parts"
	split -l 10000 -d -a 4 "$W/events.ndjson" "$W/parts/p"
	for ((r = 1; r <= RUNS; r++)); do
		batch_run "$r"
		RA1+=("$A1") RA2+=("$A2") RHP+=("$HP")
		log "run $r: append $A1 s, append --batch 10000 $A2 s, POSTs $HP s"
	done
fi
if part sse; then
	log "live subscriptions: $SUBS subscribers, $RATE events/s for ${SECS_RUN}s, $RUNS runs"
	for ((r = 1; r <= RUNS; r++)); do
		sse_run "$r"
		SR+=("$S_rate_achieved") SMIN+=("$S_received_min") SMAX+=("$S_received_max")
		SOK+=("$([ "$S_all_complete" = true ] && echo yes || echo no)")
		SP50+=("$S_lat_p50_ms") SP99+=("$S_lat_p99_ms") SMX+=("$S_lat_max_ms")
		SBH+=("$S_max_behind") SDR+=("$S_drain_ms") SLATE+=("$S_post_late_max_ms")
		SUN+=("$S_unread_max_kb") SUT+=("$S_unread_total_max_kb") SBS_+=("$S_max_behind_server")
		RSS0+=("$S_rss_start_kb") RSS1+=("$S_rss_subscribed_kb") RSS2+=("$S_rss_end_kb")
		HWM+=("$S_hwm_kb") AN1+=("$S_anon_subscribed_kb") AN2+=("$S_anon_end_kb")
		PSS2+=("$S_pss_end_kb") SCPU+=("$S_server_cpu_s") CCPU+=("$S_client_cpu_s")
		SBS+=("$S_behind_by_s")
		log "run $r: $S_rate_achieved events/s acknowledged; every event to every subscriber: ${SOK[-1]}" \
			"($S_received_min to $S_received_max of $S_events_sent); latency p50 $S_lat_p50_ms ms," \
			"p99 $S_lat_p99_ms ms; the slowest at most $S_max_behind events behind;" \
			"server VmHWM $(mb_of "$S_hwm_kb") MB, RssAnon $(mb_of "$S_anon_end_kb") MB"
	done
fi
if [ "$CHECK" = 1 ]; then
	msg=
	! part small || msg="$msg ${ER[0]} events/s answered 200 and in the store;"
	! part batch || msg="$msg the POSTed batches match engram append;"
	! part sse || msg="$msg $SUBS subscribers got all ${SMIN[0]} events once, in order;"
	log "check ok:${msg%;}"
	exit 0
fi

report_head() {
	cat <<EOF
# engram serve (\`make bench-serve\`)

\`bench/serve.sh --secs $SECS_RUN --conns $CONNS --events $N --subs $SUBS --rate $RATE --runs $RUNS$([ -z "$ONLY" ] || echo " --only $ONLY")\`
at $(git_version), $(date -u +%Y-%m-%d); see docs/BENCH.md, "engram serve".  Loopback
only; $(nproc) cores shared with the clients (wrk, pgbench, python, sse_load);
load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end.
Medians of $RUNS runs (each run's figures in brackets).
EOF
}

report_small() {
	local e_rate p_tps
	e_rate=$(median "${ER[@]}") p_tps=$(median "${PT[@]}")
	cat <<EOF

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
EOF
}

report_batch() {
	local a1 a2 hp mb
	a1=$(median "${RA1[@]}") a2=$(median "${RA2[@]}") hp=$(median "${RHP[@]}")
	mb=$(calc "$(bytes "$W/events.ndjson") / 1048576" 1)
	cat <<EOF

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

# kib_list K...: KiB figures as MiB, space-separated.
kib_list() { local k; for k in "$@"; do printf '%s ' "$(mb_of "$k")"; done; }

report_sse() {
	local rate behind all=yes ok_
	rate=$(median "${SR[@]}") behind=$(median "${SBH[@]}")
	for ok_ in "${SOK[@]}"; do [ "$ok_" = yes ] || all=no; done
	cat <<EOF

## Live subscriptions (SSE): $SUBS subscribers, $RATE events/s for $SECS_RUN s

\`bench/sse_load.c\`, one process: $SUBS subscribers on \`GET /subscribe?from=1\`
(a connection each, read by 2 threads), then a producer thread on one
connection POSTing every 10 ms the events due by then, each with a unique id
and the time it left (\`{"type":"sse_bench","data":{"t_us":…}}\`), into a
fresh store.  Each subscriber checks that its ids run 1, 2, 3, … to the
last acknowledged position (every event once, in order; the data's \`pos\`
its id).  Latency: from that time to the event's arrival, over every event
at every subscriber; the subscriptions send an event only once it is
durable, so it includes the group commit.  Memory is the server's
(\`/proc/PID/status\`): VmRSS counts the store's file pages once per mapping
and each subscription maps the store again, so it grows with subscribers ×
log size though the pages are shared; RssAnon (heap, stacks) and Pss
(shared pages divided among their mappings) are what the server holds.

| | median | runs |
|---|---|---|
| acknowledged events/s (asked $RATE) | $rate | ${SR[*]} |
| every subscriber got every event once, in order | $all | ${SOK[*]} |
| events at a subscriber, least / most | $(median "${SMIN[@]}") / $(median "${SMAX[@]}") | ${SMIN[*]} / ${SMAX[*]} |
| latency p50 ms | $(median "${SP50[@]}") | ${SP50[*]} |
| latency p99 ms | $(median "${SP99[@]}") | ${SP99[*]} |
| latency max ms | $(median "${SMX[@]}") | ${SMX[*]} |
| the slowest subscriber behind the acknowledged head, at most (events) | $behind | ${SBH[*]} |
| the same without what had reached the client unread: the server's lag (events) | $(median "${SBS_[@]}") | ${SBS_[*]} |
| unread in the client's sockets, at most: one subscriber's (KiB; an event is ~270 bytes) | $(median "${SUN[@]}") | ${SUN[*]} |
| the same, all subscribers together (KiB) | $(median "${SUT[@]}") | ${SUT[*]} |
| the last event at every subscriber, after its POST's answer (ms) | $(median "${SDR[@]}") | ${SDR[*]} |
| a POST late on its 10 ms tick, at most (ms) | $(median "${SLATE[@]}") | ${SLATE[*]} |
| server VmRSS MB: started / subscribed / end | $(mb_of "$(median "${RSS0[@]}")") / $(mb_of "$(median "${RSS1[@]}")") / $(mb_of "$(median "${RSS2[@]}")") | end: $(kib_list "${RSS2[@]}")|
| server VmHWM MB | $(mb_of "$(median "${HWM[@]}")") | $(kib_list "${HWM[@]}")|
| server RssAnon MB: subscribed / end | $(mb_of "$(median "${AN1[@]}")") / $(mb_of "$(median "${AN2[@]}")") | end: $(kib_list "${AN2[@]}")|
| server Pss MB at the end | $(mb_of "$(median "${PSS2[@]}")") | $(kib_list "${PSS2[@]}")|
| CPU seconds during a run: server / sse_load | $(median "${SCPU[@]}") / $(median "${CCPU[@]}") | ${SCPU[*]} / ${CCPU[*]} |

The slowest subscriber's lag (events), its maximum in each second of a run:
one falling behind shows as a lag that grows from second to second.

$(for ((r = 0; r < ${#SBS[@]}; r++)); do echo "- run $((r + 1)): ${SBS[r]}"; done)

EOF
	if awk "BEGIN { exit !($SUBS >= 100 && $RATE >= 20000) }"; then
		echo "- target: 100 subscribers at 20,000 events/s without falling behind:" \
			"$(ok "$([ "$all" = yes ] && echo 1 || echo 0) && $rate >= 0.98 * $RATE && $behind <= $RATE")" \
			"(met when every run gave every subscriber every event, ≥ 98% of the rate was" \
			"acknowledged, and the slowest subscriber was never more than 1 s of the stream" \
			"behind the acknowledged head: $all, $rate/s, at most $behind events behind)"
	else
		echo "- the target, 100 subscribers at 20,000 events/s, is judged only at that size (\`--subs 100 --rate 20000\`)"
	fi
}

report() {
	report_head
	! part small || report_small
	! part batch || report_batch
	! part sse || report_sse
}
mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"

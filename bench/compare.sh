#!/usr/bin/env bash
# bench/compare.sh [options] — engram side by side with SQLite, PostgreSQL,
# Redis Streams and DuckDB on the same generated data, in one run
# (`make bench`).  Five workloads (docs/BENCH.md):
#   W1 ingest          NDJSON file -> durable storage
#   W2 replay scans    count by type; hourly counts by data.page_url
#   W3 state as of     balances of random accounts at random past times
#   W4 windows, late   hourly-by-page counts kept current, batch by batch
#   W5 sessions        30-minute-gap sessionization
# Each workload first checks that every system gives engram's answer; a
# difference stops the run.  Times are medians of R runs.  Writes RESULTS.md
# and one PNG per workload into the output directory, replacing them.
#   --events N      clickstream events for W1, W2, W4's base, W5 (1000000)
#   --bank N        bank events for W3 (10000000), --accounts A (100000)
#   --queries Q     W3 queries (1000)
#   --batches B     W4 batches (15) of --batch-size K events (10000)
#   --runs R        runs of each measurement (3)
#   --only W1,W3    just these workloads
#   --tiny          a few thousand events, one run: the correctness check
#                   `make test` runs (output to a temporary directory)
#   --out DIR       where RESULTS.md and the charts go (bench/results)
#   --keep          keep the work directory
# Peers (one file each, bench/peers/): sqlite.py, postgres.py, redis.py,
# duckdb.mjs; engram's C API side is engram_asof.c, its --follow side
# engram_follow.py.  `make bench-deps` installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD ENGRAM=${ENGRAM:-$PWD/bin/engram}
. bench/lib.sh   # die, log, now, calc, median, list, warm, git_version, need_duckdb
EVENTS=1000000 BANK=10000000 ACCOUNTS=100000 QUERIES=1000 BATCHES=15 BSIZE=10000 RUNS=3
ONLY=W1,W2,W3,W4,W5 OUT=$ROOT/bench/results KEEP=0 TINY=0 ARGS=""
while [ $# -gt 0 ]; do
	case $1 in
	--events) EVENTS=$2 ;; --bank) BANK=$2 ;; --accounts) ACCOUNTS=$2 ;;
	--queries) QUERIES=$2 ;; --batches) BATCHES=$2 ;; --batch-size) BSIZE=$2 ;;
	--runs) RUNS=$2 ;; --only) ONLY=$2 ;; --out) OUT=$2 ;;
	--keep) KEEP=1; shift; continue ;;
	--tiny) TINY=1 EVENTS=3000 BANK=20000 ACCOUNTS=200 QUERIES=50 BATCHES=3 BSIZE=500 RUNS=1
		shift; continue ;;
	*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
	case $1 in --out|--keep) ;; *) ARGS="$ARGS $1 $2" ;; esac
	shift 2
done
[ "$TINY" = 0 ] || ARGS=" --tiny$ARGS"
want() { [[ ",$ONLY," == *",$1,"* ]]; }

# --- what the run needs (make bench-deps installs it)
PY=/usr/bin/python3   # Debian's: its sqlite3 module and psycopg2
export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$ENGRAM" ] && [ -f build/libengram.a ] || die "no bin/engram or build/libengram.a; run make first"
for c in jq gnuplot redis-server redis-cli initdb pg_ctl; do
	command -v $c >/dev/null || die "$c missing: run make bench-deps"
done
$PY -c 'import psycopg2, sqlite3' 2>/dev/null || die "python3-psycopg2 missing: run make bench-deps"
need_duckdb
mkdir -p "$ROOT/bench/results/tmp"
W=$(mktemp -d "$ROOT/bench/results/tmp/compare.XXXXXX")
chmod 755 "$W"   # the PostgreSQL server, run as user postgres, keeps its cluster in it
[ "$TINY" = 0 ] || [ "$OUT" != "$ROOT/bench/results" ] || OUT=$W/results   # --tiny keeps no results
mkdir -p "$OUT"
PG_PORT=$((20000 + $$ % 20000)) REDIS_PORT=$((40000 + $$ % 20000))
# PostgreSQL's cluster goes in the work directory when its server (user
# postgres, if this is root) can reach it; else in /var/tmp (a disk too)
PGD=$W/pg
[ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$W" || PGD=$(mktemp -d /var/tmp/engram-bench-pg.XXXXXX)
cleanup() {
	[ ! -f "$PGD/data/postmaster.pid" ] || $PY bench/peers/postgres.py stop "$PGD" >/dev/null 2>&1 || true
	[ "$PGD" = "$W/pg" ] || rm -rf "$PGD"
	redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then log "kept $W"; else rm -rf "$W"; rmdir "$ROOT/bench/results/tmp" 2>/dev/null || true; fi
}
trap cleanup EXIT
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg) T_START=$(now)

# --- helpers
sqlite() { $PY bench/peers/sqlite.py "$@"; }
pg() { $PY bench/peers/postgres.py "$@"; }
duck() { node bench/peers/duckdb.mjs "$@"; }
j() { jq -r "$1" <<<"$2"; }                   # j FILTER JSON
wall() { local t0; t0=$(now); "$@"; SECS=$(calc "$(now) - $t0" 4); }   # SECS: wall time of CMD
# same WHAT FILE...: the files hold the same rows (sorted), or the run stops
same() {
	local what=$1 a=$2 f; shift 2
	for f in "$@"; do
		if ! cmp -s <(LC_ALL=C sort "$a") <(LC_ALL=C sort "$f"); then
			diff <(LC_ALL=C sort "$a") <(LC_ALL=C sort "$f") | head -10 >&2 || true   # diff exits 1
			die "$what: $(basename "$f") differs from engram's $(basename "$a") (< engram, > peer)"
		fi
	done
	log "$what: the same $(wc -l <"$a") rows from engram and $(list $(for f in "$@"; do basename "$f" .tsv; done))"
}
# time runs of one measurement go into S[NAME] as "s1 s2 s3"; med NAME
declare -A S X
add() { S[$1]="${S[$1]:-} $(printf '%.4g' "$2")"; }
med() { median ${S[$1]}; }
runs() { list ${S[$1]}; }
ratio() { calc "$(med "$1") / $(med "$2")" 2; }

log "building the C sides"
CCF="-O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/util -Isrc/store -Isrc/engine"
cc $CCF bench/peers/engram_asof.c build/libengram.a $(engram_libs) -o "$W/engram_asof"
cc $CCF bench/membw.c -o "$W/membw"

log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
PG_V=$(pg start "$PGD" "$PG_PORT" | jq -r .version)

# --- the data
log "generating $EVENTS clickstream events"
"$ENGRAM" gen clickstream --events "$EVENTS" --late 0.05 --seed 7 >"$W/click.ndjson"
IN_BYTES=$(stat -c %s "$W/click.ndjson")
SPEC_HOURLY='{"name":"hourly_by_page","window":{"tumble":"1h"},"group_by":["data.page_url"],
 "aggs":{"n":{"count":true}},"watermark":"10m","allowed_lateness":"forever"}'
SPEC_TYPES='{"name":"by_type","window":{"tumble":"36500d"},"group_by":["type"],
 "aggs":{"n":{"count":true}},"watermark":"0s","allowed_lateness":"forever"}'
echo "$SPEC_HOURLY" >"$W/hourly.json" && echo "$SPEC_TYPES" >"$W/types.json"
# engram's answers as the peers' TSV
hourly_tsv() { jq -r '[.window_start[0:13], (."data.page_url" // ""), .n] | @tsv'; }
E1=$W/e1 SQ1=$W/w1.sqlite DK1=$W/w1.duckdb   # W1's last run: W2, W4 and W5 read them
loaded() { [ -d "$E1" ] && [ -f "$SQ1" ] && [ -f "$DK1" ]; }
load_all() {   # one W1 run; sets the R[...] of each system
	rm -rf "$E1" && wall "$ENGRAM" -d "$E1" --format ndjson append --sync always "$W/click.ndjson" >"$W/a.json"
	[ "$(jq .appended "$W/a.json")" = "$EVENTS" ] || die "engram append: $(cat "$W/a.json")"
	add w1.engram "$SECS"; X[w1.engram.bytes]=$(bytes "$E1")
	rm -f "$SQ1"* && r=$(sqlite load "$SQ1" "$W/click.ndjson")
	[ "$(j .rows "$r")" = "$EVENTS" ] || die "SQLite load: $r"
	add w1.sqlite "$(j .s "$r")"; X[w1.sqlite.bytes]=$(j .bytes "$r") SQLITE_V=$(j .sqlite "$r")
	r=$(pg load "$PG_PORT" "$W/click.ndjson")
	[ "$(j .rows "$r")" = "$EVENTS" ] || die "PostgreSQL load: $r"
	add w1.pg "$(j .s "$r")"; X[w1.pg.bytes]=$(j .bytes "$r")
	for f in always everysec; do
		r=$($PY bench/peers/redis.py load "$W/redis" "$REDIS_PORT" $f "$W/click.resp")
		[ "$(j .entries "$r")" = "$EVENTS" ] || die "Redis load: $r"
		add w1.redis_$f "$(j .s "$r")"; X[w1.redis_$f.bytes]=$(j .bytes "$r") REDIS_V=$(j .redis "$r")
	done
	rm -rf "$W/redis"
	rm -f "$DK1"* && r=$(duck load "$DK1" "$W/click.ndjson")
	[ "$(j .rows "$r")" = "$EVENTS" ] || die "DuckDB load: $r"
	add w1.duck "$(j .s "$r")"; X[w1.duck.bytes]=$(j .bytes "$r") DUCK_V=$(j .duckdb "$r")
}

# --- W1 ingest
if want W1; then
	log "W1: the Redis commands (untimed)"
	$PY bench/peers/redis.py resp "$W/click.ndjson" "$W/click.resp" >/dev/null
	DD_MB=$([ "$TINY" = 1 ] && echo 16 || echo 512)
	for r in $(seq "$RUNS"); do
		log "W1 ingest: run $r/$RUNS"
		load_all
		# the limit, measured in each run (this disk's speed varies)
		t0=$(now); dd if=/dev/zero of="$W/dd" bs=1M count="$DD_MB" conv=fdatasync status=none
		add w1.dd "$(calc "$DD_MB * 1.048576 / ($(now) - $t0)" 0)"; rm -f "$W/dd"   # MB/s
	done
	rm -f "$W/click.resp"
	DD_BPS=$(calc "$(med w1.dd) * 1000000" 0)
	X[w1.limit]=$(printf '%.4g' "$(calc "$IN_BYTES / $DD_BPS" 9)")
fi
if ! loaded && { want W2 || want W4 || want W5; }; then
	log "loading the clickstream for W2, W4, W5 (W1 not run)"
	$PY bench/peers/redis.py resp "$W/click.ndjson" "$W/click.resp" >/dev/null; load_all
fi

# --- W2 replay scans
if want W2; then
	for r in $(seq "$RUNS"); do
		log "W2 scans: run $r/$RUNS"
		warm "$E1"
		rm -rf "$E1/idx/win"
		wall "$ENGRAM" -d "$E1" --format ndjson windows "$W/types.json" --include-open >"$W/e.ndjson"
		add w2t.engram "$SECS"; jq -r '[.type, .n] | @tsv' "$W/e.ndjson" >"$W/types.engram.tsv"
		wall "$ENGRAM" -d "$E1" --format ndjson types >"$W/e.ndjson"
		add w2t.engram_index "$SECS"; jq -r '[.type, .events] | @tsv' "$W/e.ndjson" >"$W/types.index.tsv"
		rm -rf "$E1/idx/win"
		wall "$ENGRAM" -d "$E1" --format ndjson windows "$W/hourly.json" --include-open >"$W/e.ndjson"
		add w2h.engram "$SECS"; hourly_tsv <"$W/e.ndjson" >"$W/hourly.engram.tsv"
		for p in sqlite pg duck; do
			mkdir -p "$W/$p"
			case $p in
			sqlite) x=$(sqlite scan "$SQ1" "$W/$p") ;;
			pg) x=$(pg scan "$PG_PORT" "$W/$p") ;;
			duck) x=$(duck scan "$DK1" "$W/$p") ;;
			esac
			add w2t.$p "$(j .types_s "$x")"; add w2h.$p "$(j .hourly_s "$x")"
			mv "$W/$p/types.tsv" "$W/types.$p.tsv"; mv "$W/$p/hourly.tsv" "$W/hourly.$p.tsv"
		done
		same "W2 count by type" "$W/types.engram.tsv" "$W/types.index.tsv" "$W"/types.{sqlite,pg,duck}.tsv
		same "W2 hourly by page" "$W/hourly.engram.tsv" "$W"/hourly.{sqlite,pg,duck}.tsv
	done
	x=$("$W/membw" "$E1"/log/*)
	X[w2.bytes]=$(j .bytes "$x") X[w2.gbs]=$(j .gb_per_s "$x")
	X[w2.limit]=$(printf '%.4g' "$(calc "$(j .bytes "$x") / ($(j .gb_per_s "$x") * 1000000000)" 9)")
fi

# --- W5 sessions (before W4, which adds events)
if want W5; then
	for r in $(seq "$RUNS"); do
		log "W5 sessions: run $r/$RUNS"
		warm "$E1"
		rm -rf "$E1/idx/sess"
		wall "$ENGRAM" -d "$E1" --format ndjson sessions >"$W/e.ndjson"
		add w5.engram "$SECS"
		jq -r '[.stream, .start, .end, .events] | @tsv' "$W/e.ndjson" >"$W/sessions.engram.tsv"
		x=$(pg sessions "$PG_PORT" "$W/sessions.pg.tsv"); add w5.pg "$(j .s "$x")"
		x=$(duck sessions "$DK1" "$W/sessions.duck.tsv"); add w5.duck "$(j .s "$x")"
		same "W5 sessions" "$W/sessions.engram.tsv" "$W"/sessions.{pg,duck}.tsv
	done
	X[w5.sessions]=$(wc -l <"$W/sessions.engram.tsv")
fi

# --- W3 state as of a time
if want W3; then
	log "W3: generating $BANK bank events, $ACCOUNTS accounts"
	"$ENGRAM" gen bank --events "$BANK" --accounts "$ACCOUNTS" --seed 1 >"$W/bank.ndjson"
	B3=$W/bank
	log "W3: loading them into engram and each peer (untimed, side by side)"
	"$ENGRAM" -d "$B3" append --sync none "$W/bank.ndjson" >/dev/null &
	sqlite bank "$W/bank.sqlite" "$W/bank.ndjson" >/dev/null &
	wait
	pg bank "$PG_PORT" "$W/bank.ndjson" >/dev/null &
	duck bank "$W/bank.duckdb" "$W/bank.ndjson" >/dev/null &
	wait
	rm "$W/bank.ndjson"
	TYPES='["account_opened","deposit","withdrawal","fee","account_closed"]'
	echo "{\"name\":\"balance\",\"key\":\"stream\",\"types\":$TYPES,\"fields\":{\"balance\":" \
		"{\"sum\":\"data.amount\",\"sign\":{\"withdrawal\":-1,\"fee\":-1}}},\"snapshot_every\":100000}" >"$W/balance.json"
	log "W3: the projection's snapshots (untimed)"
	"$ENGRAM" -d "$B3" project "$W/balance.json" >/dev/null
	# Q (account, time) pairs: random accounts among the store's, random times in its range
	"$ENGRAM" -d "$B3" --format ndjson stats >"$W/stats.json"
	"$ENGRAM" -d "$B3" --format ndjson streams | jq -r .stream >"$W/accounts"
	$PY - "$W/accounts" "$(jq -r .time_min "$W/stats.json")" "$(jq -r .time_max "$W/stats.json")" \
		"$QUERIES" >"$W/pairs" <<-'EOF'
	import datetime, random, sys
	acc = open(sys.argv[1]).read().split()
	p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
	lo, hi = p(sys.argv[2]), p(sys.argv[3])
	rnd = random.Random(1)
	for _ in range(int(sys.argv[4])):
	    t = lo + (hi - lo) * rnd.random()
	    print(f"{rnd.choice(acc)}\t{t.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}")
	EOF
	# engram project --key K --as-of T, one process per pair, its rows as
	# they come (each after a "#<TAB>K<TAB>T" line; none: no events by then)
	cli_asof() {
		local k t
		while IFS=$'\t' read -r k t; do
			printf '#\t%s\t%s\n' "$k" "$t"
			"$ENGRAM" -d "$B3" --format ndjson project "$W/balance.json" --key "$k" --as-of "$t"
		done <"$W/pairs"
	}
	cli_rows() { $PY -c 'import json, sys
k = None
for l in sys.stdin:
    if l.startswith("#\t"):
        if k: print(k, t, 0, sep="\t")
        _, k, t = l.rstrip("\n").split("\t")
    else:
        print(k, t, json.loads(l, parse_float=str)["balance"], sep="\t"); k = None
if k: print(k, t, 0, sep="\t")'; }
	cents() { $PY -c 'import decimal, sys
for l in sys.stdin:
    k, t, v = l.rstrip("\n").split("\t")
    print(k, t, int(decimal.Decimal(v) * 100), sep="\t")'; }
	for r in $(seq "$RUNS"); do
		log "W3 as-of: run $r/$RUNS"
		warm "$B3"
		x=$("$W/engram_asof" "$B3" "$W/balance.json" "$W/pairs" "$W/a.tsv"); add w3.engram "$(j .s "$x")"
		cents <"$W/a.tsv" >"$W/asof.engram.tsv"
		wall cli_asof >"$W/a.out"; add w3.engram_cli "$SECS"
		cli_rows <"$W/a.out" | cents >"$W/asof.engram_cli.tsv"
		x=$(sqlite asof "$W/bank.sqlite" "$W/pairs" "$W/asof.sqlite.tsv"); add w3.sqlite "$(j .s "$x")"
		x=$(pg asof "$PG_PORT" "$W/pairs" "$W/asof.pg.tsv"); add w3.pg "$(j .s "$x")"
		x=$(duck asof "$W/bank.duckdb" "$W/pairs" "$W/asof.duck.tsv"); add w3.duck "$(j .s "$x")"
		same "W3 balances" "$W/asof.engram.tsv" "$W"/asof.{engram_cli,sqlite,pg,duck}.tsv
	done
	X[w3.nonzero]=$(awk -F'\t' '$3 != 0' "$W/asof.engram.tsv" | wc -l)
	rm -rf "$B3" "$W"/bank.*
fi

# --- W4 windows with late data, incrementally
if want W4; then
	log "W4: $BATCHES batches of $BSIZE events (5% late) after the base's last event"
	TMAX=$("$ENGRAM" -d "$E1" --format ndjson stats | jq -r .time_max)
	START=$(date -u -d "@$(($(date -u -d "$TMAX" +%s) + 1))" +%Y-%m-%dT%H:%M:%SZ)
	"$ENGRAM" gen clickstream --events $((BATCHES * BSIZE)) --late 0.05 --seed 8 --start "$START" >"$W/incr.ndjson"
	mkdir -p "$W/batches" && split -l "$BSIZE" -d -a 4 "$W/incr.ndjson" "$W/batches/b."
	rm "$W/incr.ndjson"
	BS=("$W"/batches/b.*)
	FOLLOW="$PY bench/peers/engram_follow.py"
	fresh_engram() {   # a copy of the base with its windows built (untimed)
		rm -rf "$1" && cp -r "$E1" "$1" && rm -rf "$1/idx/win"
		"$ENGRAM" -d "$1" windows "$W/hourly.json" >/dev/null
	}
	fresh_engram "$W/w4e" && $FOLLOW expect "$ENGRAM" "$W/w4e" "$W/hourly.json" "$W/expect" "${BS[@]}" >/dev/null
	for r in $(seq "$RUNS"); do
		log "W4 incremental: run $r/$RUNS"
		fresh_engram "$W/w4e" && sync
		x=$($FOLLOW follow "$ENGRAM" "$W/w4e" "$W/hourly.json" "$W/expect" "$W/followed" "${BS[@]}")
		add w4.engram "$(j .s "$x")"; add w4.engram.in "$(j .append_s "$x")"; add w4.engram.q "$(j .follow_s "$x")"
		cmp -s "$W/followed" "$W/expect.lines" || die "W4: what --follow printed differs from the changelog"
		"$ENGRAM" -d "$W/w4e" --format ndjson windows "$W/hourly.json" --include-open | hourly_tsv >"$W/w4.engram.tsv"
		rm -f "$W/w4.sqlite"* && cp "$SQ1" "$W/w4.sqlite" && sync
		x=$(sqlite incr "$W/w4.sqlite" "$W/w4.sqlite.tsv" "${BS[@]}")
		add w4.sqlite "$(j .s "$x")"; add w4.sqlite.in "$(j .insert_s "$x")"; add w4.sqlite.q "$(j .query_s "$x")"
		pg clone "$PG_PORT" w4 >/dev/null
		x=$(pg incr "$PG_PORT/w4" "$W/w4.pg.tsv" "${BS[@]}")
		add w4.pg "$(j .s "$x")"; add w4.pg.in "$(j .insert_s "$x")"; add w4.pg.q "$(j .query_s "$x")"
		rm -f "$W/w4.duckdb"* && cp "$DK1" "$W/w4.duckdb" && sync
		x=$(duck incr "$W/w4.duckdb" "$W/w4.duck.tsv" "${BS[@]}")
		add w4.duck "$(j .s "$x")"; add w4.duck.in "$(j .insert_s "$x")"; add w4.duck.q "$(j .query_s "$x")"
		same "W4 hourly by page after the last batch" "$W/w4.engram.tsv" "$W"/w4.{sqlite,pg,duck}.tsv
	done
	X[w4.revisions]=$(wc -l <"$W/expect.lines")
	X[w4.late]=$(cat "${BS[@]}" | $PY -c 'import json, sys
m, late = "", 0
for l in sys.stdin:
    t = json.loads(l)["time"]; late += t < m; m = max(m, t)
print(late)')
fi
pg stop "$PGD" >/dev/null

. bench/report.sh   # writes $OUT/RESULTS.md and the charts
log "wrote $OUT/RESULTS.md in $(calc "$(now) - $T_START" 0) s"

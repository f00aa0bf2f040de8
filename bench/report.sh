# bench/report.sh — sourced by bench/compare.sh at the end: RESULTS.md and
# one chart per workload (gnuplot) from the medians in S[...] and the
# figures in X[...].
MB=1000000
rel() { [ -n "${S[$1]:-}" ] && echo "$(ratio "$1" "$2")×" || echo "—"; }   # rel NAME BASE
cell() { echo "$(med "$1") ($(runs "$1"))"; }                           # median (all runs)

# chart NAME TITLE YLABEL ROWS: ROWS are "label<TAB>value[<TAB>value]" lines
# (a second value makes a second series: the W2 queries), kept as
# OUT/NAME.tsv beside OUT/NAME.png; log y axis.
chart() {
	local name=$1 title=$2 ylabel=$3 rows=$4 series dat ymin
	dat=$OUT/$name.tsv
	printf '%s\n' "$rows" >"$dat"
	# the axis from a decade below half the smallest bar, so that it shows
	ymin=$(awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; i++) if (m == "" || $i < m) m = $i }
		END { printf "%g", 10 ^ int(log(m / 2) / log(10) - (m < 2)) }' "$dat")
	series="using 2:xtic(1) title columnhead(2)"
	if [ "$(head -1 "$dat" | awk -F'\t' '{ print NF }')" -lt 3 ]; then   # one series: values on the bars
		series="$series, '' using (\$0 - 1):2:(sprintf('%.3g', \$2)) with labels offset 0,0.7 notitle"
	else
		series="$series, '' using 3 title columnhead(3)"
	fi
	gnuplot <<-EOF
	set terminal pngcairo size 960,540 font "sans,10"
	set output "$OUT/$name.png"
	set title "$title"
	set ylabel "$ylabel"
	set datafile separator "\t"
	set style data histogram
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set logscale y
	set yrange [$ymin:*]
	set format y "%g"
	set grid ytics
	set key top left
	set xtics rotate by -20 left
	plot "$dat" $series
	EOF
}
chart_rows() {   # chart_rows HEADER NAME LABEL [NAME LABEL...]: "label<TAB>median"
	local head=$1; shift
	printf 'system\t%s\n' "$head"
	while [ $# -gt 0 ]; do
		[ -z "${S[$1]:-}" ] || printf '%s\t%s\n' "$2" "$(med "$1")"
		shift 2
	done
}

{
echo "# engram side by side: SQLite, PostgreSQL, Redis Streams, DuckDB"
echo
echo "\`bench/compare.sh$ARGS\` (\`make bench\`), $(date -u +%Y-%m-%d). Every system gets the same" \
	"generated data in the same run; each workload first checks that every system gives the" \
	"same answer as engram (a difference stops the run before anything is reported). Times are" \
	"medians of $RUNS runs (all runs in brackets), in seconds; \"÷ engram\" is the system's" \
	"median time divided by engram's (above 1: engram is faster). engram is timed as a whole" \
	"\`bin/engram\` process (start-up included); the peers inside their client process" \
	"(bench/peers/: Python's sqlite3 module, psycopg2, redis-cli, DuckDB in node), not counting" \
	"the interpreter's start-up. How each peer is set up, and why: [docs/BENCH.md](../../docs/BENCH.md)." \
	"Each chart's figures are in the .tsv of the same name."
echo
echo "Data: \`engram gen clickstream --events $EVENTS --late 0.05 --seed 7\`: $IN_BYTES bytes of" \
	"NDJSON, $(calc "$IN_BYTES / $EVENTS" 1) bytes/event; 5% of app events arrive minutes to hours late."
if want W1; then
	echo
	echo "## W1 ingest: one NDJSON file into durable storage"
	echo
	echo "![W1](w1.png)"
	echo
	echo "| system | median s | events/s | MB/s of NDJSON | ÷ engram | bytes/event on disk |"
	echo "|---|---|---|---|---|---|"
	w1row() {
		echo "| $2 | $(cell "$1") | $(calc "$EVENTS / $(med "$1")" 0) | $(calc "$IN_BYTES / $MB / $(med "$1")" 1) |" \
			"$(rel "$1" w1.engram) | $(calc "${X[$1.bytes]} / $EVENTS" 1) |"
	}
	w1row w1.engram "engram \`append --sync always\` (fdatasync before it answers)"
	w1row w1.sqlite "SQLite, WAL, synchronous=FULL, one transaction; PRIMARY KEY, UNIQUE id, index on stream"
	w1row w1.pg "PostgreSQL COPY → jsonb_to_record, one transaction; the same keys and index"
	w1row w1.redis_always "Redis Streams, XADD pipelined, appendfsync always"
	w1row w1.redis_everysec "Redis Streams, XADD pipelined, appendfsync everysec (the last second not yet durable)"
	w1row w1.duck "DuckDB \`read_json\` → table, CHECKPOINT"
	echo "| *limit: the NDJSON's bytes written sequentially with fdatasync (dd, 1 MiB blocks: $(runs w1.dd) MB/s)* | ${X[w1.limit]} | $(calc "$EVENTS / ${X[w1.limit]}" 0) | $(calc "$DD_BPS / $MB" 0) | $(calc "${X[w1.limit]} / $(med w1.engram)" 2)× | |"
	echo
	echo "Redis's commands are built from the JSON beforehand (untimed); its bytes are the append-only" \
		"files. PostgreSQL's bytes are the table with its indexes (\`pg_total_relation_size\`), not its WAL;" \
		"SQLite's the database with its WAL; engram's its whole store directory (log, indexes, chain)."
	chart w1 "W1 ingest: $EVENTS events, NDJSON into durable storage" "seconds (log scale, lower is better)" \
		"$(chart_rows "median s" w1.engram engram w1.sqlite SQLite w1.pg PostgreSQL w1.redis_always \
			"Redis always" w1.redis_everysec "Redis everysec" w1.duck DuckDB)
limit (dd)	${X[w1.limit]}"
fi
if want W2; then
	echo
	echo "## W2 replay scans over all $EVENTS events"
	echo
	echo "![W2](w2.png)"
	echo
	echo "Count by type, and hourly counts by \`data.page_url\` (every row of the result fetched)." \
		"engram replays its log from scratch (\`rm -rf STORE/idx/win\`, then \`engram windows SPEC" \
		"--include-open\` with a 1-hour or a 100-year tumbling window and" \
		"\`allowed_lateness: forever\`); the SQL peers run a GROUP BY over the table W1 loaded," \
		"reading \`page_url\` out of the JSON in \`data\`. The limit: engram's log" \
		"(${X[w2.bytes]} bytes) read once at one core's read bandwidth from memory" \
		"(${X[w2.gbs]} GB/s, bench/membw.c)."
	echo
	echo "| system | count by type s | ÷ engram | hourly by page s | ÷ engram |"
	echo "|---|---|---|---|---|"
	echo "| engram, replay from scratch | $(cell w2t.engram) | 1.00× | $(cell w2h.engram) | 1.00× |"
	echo "| engram \`types\` (its type index, not a scan) | $(cell w2t.engram_index) | $(rel w2t.engram_index w2t.engram) | | |"
	for p in "sqlite SQLite" "pg PostgreSQL" "duck DuckDB"; do
		set -- $p
		echo "| $2 | $(cell w2t.$1) | $(rel w2t.$1 w2t.engram) | $(cell w2h.$1) | $(rel w2h.$1 w2h.engram) |"
	done
	echo "| *limit: the log read once from memory* | ${X[w2.limit]} | $(calc "${X[w2.limit]} / $(med w2t.engram)" 4)× | ${X[w2.limit]} | $(calc "${X[w2.limit]} / $(med w2h.engram)" 4)× |"
	rows=$(printf 'system\tcount by type\thourly by page\n'
		for p in "engram engram" "sqlite SQLite" "pg PostgreSQL" "duck DuckDB"; do
			set -- $p; printf '%s\t%s\t%s\n' "$2" "$(med w2t.$1)" "$(med w2h.$1)"
		done
		printf 'limit (memory)\t%s\t%s\n' "${X[w2.limit]}" "${X[w2.limit]}")
	chart w2 "W2 replay scans over $EVENTS events" "seconds (log scale, lower is better)" "$rows"
fi
if want W3; then
	echo
	echo "## W3 state as of a time: $QUERIES balances on $BANK bank events"
	echo
	echo "![W3](w3.png)"
	echo
	echo "\`engram gen bank --events $BANK --accounts $ACCOUNTS --seed 1\`. $QUERIES random" \
		"(account, time) pairs (seeded): the balance (deposits and openings minus withdrawals and fees," \
		"to the cent) of that account as of that time; ${X[w3.nonzero]} of them non-zero. All" \
		"$QUERIES answers are checked equal across the systems in every run. engram: the" \
		"\`balance\` projection (docs/PROJECTIONS.md, snapshots every 100000 events, built" \
		"beforehand), through \`eg_proj_get\` in one process (bench/peers/engram_asof.c), and" \
		"through the CLI, \`engram project SPEC --key K --as-of T\`, one process per query. The SQL" \
		"peers: \`SELECT sum(…) WHERE stream = ? AND time <= ?\` over a table" \
		"\`(stream, type, time, cents)\`; SQLite and PostgreSQL prepared, with an index on (stream," \
		"time); DuckDB's table sorted by (stream, time) with an index on stream, the time and type" \
		"conditions in a FILTER clause so that the index answers it, a literal statement per query" \
		"(each the faster way there, docs/BENCH.md)."
	echo
	echo "| system | $QUERIES queries s | µs per query | ÷ engram |"
	echo "|---|---|---|---|"
	for p in "engram engram, C API" "engram_cli engram CLI, a process per query" "sqlite SQLite" "pg PostgreSQL" "duck DuckDB"; do
		set -- $p; n=w3.$1; shift
		echo "| $* | $(cell $n) | $(calc "$(med $n) * 1000000 / $QUERIES" 1) | $(rel $n w3.engram) |"
	done
	chart w3 "W3: $QUERIES balances as of random times, $BANK events" "seconds for all queries (log scale)" \
		"$(chart_rows "median s" w3.engram "engram C API" w3.engram_cli "engram CLI" w3.sqlite SQLite \
			w3.pg PostgreSQL w3.duck DuckDB)"
fi
if want W4; then
	echo
	echo "## W4 windows with late data, kept current: $BATCHES batches of $BSIZE events"
	echo
	echo "![W4](w4.png)"
	echo
	echo "On copies of what W1 loaded, $((BATCHES * BSIZE)) more events (\`--late 0.05 --seed 8\`," \
		"${X[w4.late]} of them behind the newest time before them) arrive as $BATCHES files." \
		"engram: \`engram windows SPEC --follow\` runs throughout (hourly counts by page," \
		"\`allowed_lateness: forever\`); each file is appended with \`engram append\` (a process," \
		"fdatasync), and the time runs until the follower has printed every revision the batch made" \
		"(${X[w4.revisions]} in all, first results and corrections; checked equal to the" \
		"changelog of a plain replay). The SQL peers insert each file (one transaction), then re-run" \
		"the W2 query. After the last batch every system's table is checked equal."
	echo
	echo "| system | total s | ms per batch | of which append / insert s | keeping current s | ÷ engram |"
	echo "|---|---|---|---|---|---|"
	for p in "engram engram \`windows --follow\`" "sqlite SQLite, the query re-run" "pg PostgreSQL, the query re-run" "duck DuckDB, the query re-run"; do
		set -- $p; n=w4.$1; shift
		echo "| $* | $(cell $n) | $(calc "$(med $n) * 1000 / $BATCHES" 1) | $(med $n.in) | $(med $n.q) | $(rel $n w4.engram) |"
	done
	chart w4 "W4: hourly counts kept current over $BATCHES batches of $BSIZE" "seconds in all (log scale)" \
		"$(chart_rows "median s" w4.engram engram w4.sqlite SQLite w4.pg PostgreSQL w4.duck DuckDB)"
fi
if want W5; then
	echo
	echo "## W5 sessions: 30-minute gap over $EVENTS events"
	echo
	echo "![W5](w5.png)"
	echo
	echo "engram: \`engram sessions\` from scratch (its checkpoints deleted first), every row written." \
		"The peers: LAG over each stream's events by time marks a gap of 30 minutes or more, a running" \
		"SUM numbers the sessions, GROUP BY makes the rows (all fetched). ${X[w5.sessions]} sessions;" \
		"stream, start, end and event count of every one checked equal."
	echo
	echo "| system | median s | ÷ engram |"
	echo "|---|---|---|"
	for p in "engram engram \`sessions\`" "pg PostgreSQL, window functions" "duck DuckDB, window functions"; do
		set -- $p; n=w5.$1; shift
		echo "| $* | $(cell $n) | $(rel $n w5.engram) |"
	done
	chart w5 "W5: 30-minute sessions over $EVENTS events" "seconds (log scale)" \
		"$(chart_rows "median s" w5.engram engram w5.pg PostgreSQL w5.duck DuckDB)"
fi
echo
echo "## Machine and versions"
echo
echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); memory" \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); Linux $(uname -r)"
echo "- disk: $(findmnt -n -o SOURCE,FSTYPE -T "$W" | tr -s ' ')${DD_BPS:+; dd 1 MiB writes + fdatasync: $(calc "$DD_BPS / $MB" 0) MB/s}${X[w2.gbs]:+; memory read bandwidth (one core): ${X[w2.gbs]} GB/s}"
echo "- engram $("$ENGRAM" --version | awk '{ print $NF; exit }') (git $(git_version)), $(cc --version | head -1), -O2"
echo "- SQLite ${SQLITE_V:-?} (Python $($PY -c 'import platform; print(platform.python_version())') sqlite3 module);" \
	"PostgreSQL $(postgres --version | awk '{ print $3 }') (psycopg2 $($PY -c 'import psycopg2; print(psycopg2.__version__.split()[0])'));" \
	"Redis ${REDIS_V:-not run}; DuckDB ${DUCK_V:-?} (@duckdb/node-api $(node -p "require('$ROOT/bench/node_modules/@duckdb/node-api/package.json').version"), node $(node --version)); $(gnuplot --version)"
echo "- load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg); the whole run took $(calc "$(now) - $T_START" 0) s"
echo "- every file was in the page cache when read (this machine cannot drop it); engram's store is read once before each timed engram run"
} >"$OUT/RESULTS.md"

# t_sql.sh — engram sql (issue 20): output formats, scripts from the command
# line, a file and standard input, the store's tables read-only, errors and
# their exit codes, EXPLAIN QUERY PLAN, known_at against engram read, Ctrl-C
# on a long query, the shell on a terminal, and the loadable extension from
# the sqlite3 shell and Debian's python3 (whose sqlite3 module can load
# extensions) giving engram sql's answers.  The random queries against a
# plain table are tests/sql/prop.py.

# Three appends of bank events (so three record times), and events with
# meta, an actor, metric and error kinds.
build_store() {
	local b
	for b in 1 2 3; do
		"$ENGRAM" gen bank --events 300 --accounts 20 --seed "$b" | "$ENGRAM" -d "$STORE" append --sync none \
			>/dev/null || fail "append of batch $b failed"
		sleep 0.01
	done
	cat >"$T/extra.ndjson" <<'EOF'
{"id":"m1","stream":"host-1","type":"cpu","kind":"metric","time":"2025-01-02T00:00:00Z","actor":"agent","data":{"value":1,"v":1.50,"arr":["a","b"]},"meta":{"source":"collector","n":2}}
{"id":"x1","stream":"svc","type":"exception","kind":"error","time":1735776000000,"data":{"message":"a \"quoted\", comma"}}
EOF
	ok eg append "$T/extra.ndjson"
}

# sql_ext: the extension built with $ENGRAM (build/lib or build-san/lib).
sql_ext() {
	local d
	d=$(cd "$(dirname "$ENGRAM")/.." && pwd)/lib/libengram_sqlite.so
	[ -e "$d" ] || d=$E2E_DIR/../../build/lib/libengram_sqlite.so
	[ -e "$d" ] || fail "no libengram_sqlite.so next to $ENGRAM (make builds it)"
	printf '%s\n' "$d"
}

# with_ext CMD ARGS...: run a program that loads the extension; an
# extension built with AddressSanitizer needs its runtime loaded first
# (and the host program's own leaks are not ours).
with_ext() {
	local asan
	asan=$(ldd "$(sql_ext)" 2>/dev/null | awk '/libasan/ { print $3 }')
	if [ -n "$asan" ]; then
		LD_PRELOAD=$asan ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------- formats

test_sql_ndjson_keeps_types_and_json() {
	build_store
	ok eg sql "SELECT pos, id, stream, version, actor, session, 1.5 AS r, 2.0 AS r2, -7 AS neg,
		data, meta, json_object('a', 1, 'b', json('[1,2]')) AS j, data->'\$.arr' AS tags,
		data->>'\$.v' AS v, 'text' AS t, '{\"not\":1}' AS plain_text, x'00ff' AS b, count(*) OVER () AS n
		FROM events WHERE stream = 'host-1'"
	py "$OUT" <<'EOF'
import sys
from e2e import *
rows = [loads(l) for l in sys.argv[1].splitlines()]
check(len(rows) == 1, "one row, got %d" % len(rows))
r = rows[0]
check(r.keys() == ["pos", "id", "stream", "version", "actor", "session", "r", "r2", "neg", "data", "meta",
                   "j", "tags", "v", "t", "plain_text", "b", "n"], "keys: %r" % r.keys())
check(r["pos"] == Num("901") and r["version"] == Num("1") and r["neg"] == Num("-7") and r["n"] == Num("1"),
      "integers stay integers: %r" % r)
check(r["actor"] == "agent" and r["session"] is None, "text and null: %r %r" % (r["actor"], r["session"]))
check(r["r"] == Num("1.5") and float(r["r2"]) == 2.0, "reals: %r %r" % (r["r"], r["r2"]))
check(dumps(r["data"]) == '{"value":1,"v":1.50,"arr":["a","b"]}', "data as the JSON stored: %s" % dumps(r["data"]))
check(dumps(r["meta"]) == '{"source":"collector","n":2}', "meta as JSON: %s" % dumps(r["meta"]))
check(dumps(r["j"]) == '{"a":1,"b":[1,2]}', "json_object as JSON: %s" % dumps(r["j"]))
check(dumps(r["tags"]) == '["a","b"]', "-> as JSON: %s" % dumps(r["tags"]))
check(r["v"] == Num("1.5"), "->> a number: %r" % r["v"])
check(r["t"] == "text" and r["plain_text"] == '{"not":1}', "text stays a string: %r" % r["plain_text"])
check(isinstance(r["b"], str), "a blob is a string: %r" % r["b"])
EOF
	# meta of an event without one is null, not "null"
	ok eg sql "SELECT meta, actor FROM events WHERE pos = 1"
	assert_eq '{"meta":null,"actor":"customer:1"}' "$OUT" "null meta"
}

test_sql_csv_has_a_header_even_without_rows() {
	build_store
	ok eg --format csv sql "SELECT pos, id FROM events WHERE pos < 0"
	assert_eq "pos,id" "$OUT" "csv of no rows"
	ok eg sql --format csv "SELECT pos, data, meta, 1.5 AS r, actor FROM events WHERE pos > 900 ORDER BY pos"
	py "$OUT" <<'EOF'
import csv, io, sys
from e2e import *
rows = list(csv.reader(io.StringIO(sys.argv[1])))
check(rows[0] == ["pos", "data", "meta", "r", "actor"], "header %r" % rows[0])
check(rows[1] == ["901", '{"value":1,"v":1.50,"arr":["a","b"]}', '{"source":"collector","n":2}', "1.5", "agent"],
      "row 1 %r" % rows[1])
check(rows[2] == ["902", '{"message":"a \\"quoted\\", comma"}', "", "1.5", ""], "row 2 %r" % rows[2])
check(len(rows) == 3, "%d rows" % len(rows))
EOF
}

test_sql_table_on_a_terminal() {
	build_store
	py "$ENGRAM" "$STORE" <<'EOF'
import sys
from e2e import *
from term import Term
engram, store = sys.argv[1:3]
t = Term([engram, "-d", store, "sql", "SELECT pos, type, kind FROM events WHERE pos >= 901 ORDER BY pos"])
text = t.wait_for(lambda s: "exception" in s, what="the table")
lines = [l.split() for l in text.splitlines() if l.strip()]
check(lines[0] == ["pos", "type", "kind"], "header %r" % lines[0])
check(lines[1:3] == [["901", "cpu", "metric"], ["902", "exception", "error"]], "rows %r" % lines[1:])
check(t.proc.wait(10) == 0, "exit status")
EOF
}

# ------------------------------------------------------------- statements

test_sql_prints_only_the_last_statement() {
	build_store
	ok eg sql "CREATE TEMP TABLE t AS SELECT pos FROM events WHERE pos <= 3; SELECT 1 AS first;
		SELECT count(*) AS n FROM t;  -- a comment
		"
	assert_eq '{"n":3}' "$OUT" "only the last statement's rows"
	ok eg sql "CREATE TEMP VIEW v AS SELECT type, count(*) AS n FROM events GROUP BY type;
		SELECT n FROM v WHERE type = 'cpu'"
	assert_eq '{"n":1}' "$OUT" "a TEMP view"
	# a failing statement stops the script, with its message
	assert_exit 1 eg sql "SELECT 1; SELECT nope FROM events; SELECT 2"
	assert_contains "$ERR" "no such column: nope"
	assert_eq "" "$OUT" "nothing printed"
}

test_sql_reads_a_file_and_standard_input() {
	build_store
	cat >"$T/q.sql" <<'EOF'
-- types of the third batch
CREATE TEMP TABLE third AS
  SELECT * FROM events WHERE pos BETWEEN 601 AND 900;
SELECT type, count(*) AS n
  FROM third
 GROUP BY type
 ORDER BY type;
EOF
	ok eg sql -f "$T/q.sql"
	local want
	want=$(eg read --from 601 --to 900 | "$PYTHON" -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["type"] for l in sys.stdin)
for t in sorted(c):
    print(json.dumps({"type": t, "n": c[t]}, separators=(",", ":")))')
	assert_eq "$want" "$OUT" "-f FILE"
	run eg sql --file "$T/q.sql"
	assert_eq "$want" "$OUT" "--file FILE"
	run eg sql -f - <"$T/q.sql"
	assert_eq "$want" "$OUT" "-f -"
	run eg sql <"$T/q.sql"
	assert_eq 0 "$RC" "statements on standard input: exit status"
	assert_eq "$want" "$OUT" "statements on standard input"
	assert_exit 2 eg sql -f "$T/missing.sql"
	assert_contains "$ERR" "missing.sql"
}

# ---------------------------------------------------------------- refusals

test_sql_store_tables_are_read_only() {
	build_store
	local before
	before=$(head_of)
	local q
	for q in "INSERT INTO events(id, stream, type) VALUES ('x', 's', 't')" \
		"UPDATE events SET type = 'x' WHERE pos = 1" \
		"DELETE FROM events" \
		"CREATE TABLE t(x)" \
		"CREATE VIEW v AS SELECT 1" \
		"DROP TABLE events"; do
		assert_exit 1 eg sql "$q"
		assert_contains "$ERR" "engram: hint: the store's tables are read-only; CREATE TEMP TABLE" "refusal of $q"
	done
	assert_exit 1 eg sql "CREATE INDEX i ON events(pos)"
	ok eg sql "CREATE TEMP TABLE t(x); INSERT INTO t VALUES (1), (2); UPDATE t SET x = x + 1; DELETE FROM t WHERE x = 2;
		CREATE TEMP VIEW v AS SELECT x FROM t; SELECT * FROM v"
	assert_eq '{"x":3}' "$OUT" "TEMP tables and views"
	assert_eq "$before" "$(head_of)" "the store's head"
	ok eg verify
	ok_to "$T/files" ls -R "$STORE"
	assert_not_contains "$(cat "$T/files")" ".db" "files in the store"
}

test_sql_errors_exit_1_with_sqlites_message() {
	build_store
	assert_exit 1 eg sql "SELEC pos FROM events"
	assert_contains "$ERR" 'engram: error: near "SELEC": syntax error'
	assert_exit 1 eg sql "SELECT * FROM nope"
	assert_contains "$ERR" "engram: error: no such table: nope"
	assert_exit 1 eg sql "SELECT nope FROM events"
	assert_contains "$ERR" "engram: error: no such column: nope"
	assert_exit 1 eg sql "SELECT nope(1)"
	assert_contains "$ERR" "engram: error: no such function: nope"
	assert_exit 1 eg sql "SELECT * FROM events WHERE known_at = 'soon'"
	assert_contains "$ERR" "known_at: expected an RFC 3339 time"
	# an empty store, and a directory that is none
	assert_exit 1 "$ENGRAM" -d "$T/none" sql "SELECT 1"
}

test_sql_usage_errors_exit_2() {
	build_store
	assert_exit 2 eg sql "SELECT 1" -f "$T/q.sql"
	assert_contains "$ERR" "give a query or -f FILE, not both"
	assert_exit 2 eg sql --nope "SELECT 1"
	assert_exit 2 eg sql -f
}

# The message after the name is the one engram read gives for --since.
test_sql_bad_known_at_says_what_read_says() {
	build_store
	local bad
	for bad in bad 2025-13-01 "2025-01-01T25:00:00Z" 12abc; do
		run eg read --since "$bad"
		local want=${ERR#*--since: }
		want=${want%%$'\n'*}
		assert_contains "$want" "expected" "engram read --since $bad"
		assert_exit 1 eg sql "SELECT count(*) FROM events WHERE known_at = '$bad'"
		assert_contains "$ERR" "engram: error: known_at: $want" "known_at = '$bad'"
		assert_exit 1 eg sql "SELECT count(*) FROM events WHERE as_of = '$bad'"
		assert_contains "$ERR" "engram: error: as_of: $want" "as_of = '$bad'"
	done
}

# ------------------------------------------------------------------ plans

test_sql_explain_names_the_index() {
	build_store
	local q want
	while IFS='|' read -r q want; do
		ok eg sql "EXPLAIN QUERY PLAN SELECT * FROM events WHERE $q"
		assert_contains "$OUT" "$want" "plan of WHERE $q"
	done <<'EOF'
stream = 'account-000003'|stream = ? (stream postings)
stream IN ('account-000003', 'svc')|stream IN ? (stream postings)
type = 'fee'|type = ? (type postings)
type IN ('fee', 'deposit') AND time >= '2025-01-02'|type IN ? AND time >= ? (type postings)
id = 'm1'|id = ? (id index)
time BETWEEN '2025-01-01' AND '2025-01-02'|time >= ? AND time <= ? (time blocks)
time_us > 1735776000000000|time_us > ? (time blocks)
recorded >= '2025-01-01'|recorded >= ? (position range)
pos > 10 ORDER BY pos DESC LIMIT 5|pos > ? ORDER BY pos DESC LIMIT ? (position range)
known_at = '2025-01-01'|known_at = ? (position range)
EOF
	# a scan reading only what the column files hold reads them
	ok eg sql "EXPLAIN QUERY PLAN SELECT type, count(*) FROM events WHERE time >= '2025-01-01' GROUP BY type"
	assert_contains "$OUT" "time >= ? (time blocks; columns)" "a scan of columns"
	ok eg sql "EXPLAIN QUERY PLAN SELECT count(*) FROM events WHERE data LIKE '%x%'"
	assert_contains "$OUT" "(scan)" "data is not in the columns"
	ENGRAM_NO_COLUMNS=1 ok eg sql "EXPLAIN QUERY PLAN SELECT count(*) FROM events"
	assert_contains "$OUT" "(scan)" "ENGRAM_NO_COLUMNS"
	# a NOCASE comparison is SQLite's own
	ok eg sql "EXPLAIN QUERY PLAN SELECT * FROM events WHERE stream = 'ACCOUNT-000003' COLLATE NOCASE"
	assert_not_contains "$OUT" "stream =" "NOCASE plan"
}

# ---------------------------------------------------------- time travel

test_sql_known_at_equals_read_by_recorded_until() {
	build_store
	ok_to "$T/all" eg read
	local k
	# the record time of the second batch's last event, and one microsecond before it
	k=$("$PYTHON" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[599])["recorded"])' "$T/all")
	local k1
	k1=$(PYTHONPATH="$E2E_DIR" "$PYTHON" -c 'import sys; from e2e import *; print(fmt_us(time_us(sys.argv[1]) - 1))' "$k")
	local t
	for t in "$k" "$k1" "${k:0:10}" 2099-01-01; do
		ok_to "$T/sql" eg sql "SELECT * FROM events WHERE known_at = '$t'"
		ok_to "$T/read" eg read --by recorded --until "$t"
		py "$T/sql" "$T/read" "$t" <<'EOF'
import sys
from e2e import *
got = load_ndjson(sys.argv[1])
want = load_ndjson(sys.argv[2])
check(len(got) == len(want), "known_at %s: %d rows, engram read gives %d" % (sys.argv[3], len(got), len(want)))
for g, w in zip(got, want):
    check(g.keys()[-3:] == ["time_us", "recorded_us", "schema_version"], "columns %r" % g.keys())
    check(g["schema_version"] is None, "no schema, no schema_version: %r" % g["schema_version"])
    check(int(g["time_us"]) == time_us(w["time"]) and int(g["recorded_us"]) == time_us(w["recorded"]),
          "time_us/recorded_us of %s" % w["pos"])
    check(Obj(g[:-3]) == w, "row %s: %s vs %s" % (w["pos"], dumps(Obj(g[:-3]))[:200], dumps(w)[:200]))
EOF
	done
	# the second batch's end: 600 events
	ok eg sql "SELECT count(*) AS n, max(known_at) AS k FROM events WHERE known_at = '$k'"
	assert_eq "{\"n\":600,\"k\":\"$k\"}" "$OUT" "known at the second batch"
	# as_of: events with time up to then, compared with read --until
	ok_to "$T/sql" eg sql "SELECT pos FROM events WHERE as_of = '2025-01-02'"
	ok_to "$T/read" eg read --until 2025-01-02
	assert_eq "$(count_lines "$T/read")" "$(count_lines "$T/sql")" "as_of = 2025-01-02"
}

# SELECT * is engram read, with the two integer time columns and
# schema_version (null: no schema).
test_sql_events_equal_read() {
	build_store
	ok_to "$T/sql" eg sql "SELECT * FROM events"
	ok_to "$T/read" eg read
	py "$T/sql" "$T/read" <<'EOF'
import sys
from e2e import *
got, want = load_ndjson(sys.argv[1]), load_ndjson(sys.argv[2])
check(len(got) == len(want) == 902, "%d rows, read gives %d" % (len(got), len(want)))
for g, w in zip(got, want):
    check(Obj(g[:-3]) == w, "row %s: %s vs %s" % (w["pos"], dumps(Obj(g[:-3]))[:200], dumps(w)[:200]))
EOF
}

# ---------------------------------------------------------------- Ctrl-C

# A store on which a cross join runs for minutes.
big_store() {
	"$ENGRAM" gen clickstream --events 50000 --seed 3 | eg append --sync none >/dev/null ||
		fail "cannot build the big store"
}

test_sql_ctrl_c_on_a_terminal_stops_a_long_query() {
	big_store
	local before
	before=$(head_of)
	py "$ENGRAM" "$STORE" <<'EOF'
import sys, time
from e2e import *
from term import Term
engram, store = sys.argv[1:3]
t = Term([engram, "-d", store, "sql", "SELECT count(*) FROM events a, events b WHERE a.type <> b.stream"])
time.sleep(1.0)
check(t.proc.poll() is None, "the query ended before Ctrl-C: %r" % t.drain(0.1))
t0 = time.time()
rc = t.interrupt()
took = time.time() - t0
check(rc == 130, "exit status %r, expected 130; shows %r" % (rc, t.text()[-300:]))
check(took < 1.0, "stopped %.2fs after Ctrl-C" % took)
check("engram: error: interrupted" in t.text(), "no 'interrupted': %r" % t.text()[-300:])
EOF
	assert_eq "$before" "$(head_of)" "the store's head"
	ok eg verify
}

test_sql_sigint_stops_a_long_query() {
	big_store
	local before
	before=$(head_of)
	"$ENGRAM" -d "$STORE" sql "SELECT count(*) FROM events a, events b" >"$T/out" 2>"$T/err" &
	local pid=$!
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the query ended before SIGINT: $(cat "$T/err")"
	local t0
	t0=$(date +%s%N)
	kill -INT "$pid"
	wait "$pid"
	local rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
	assert_eq 130 "$rc" "exit status after SIGINT"
	[ "$ms" -lt 1000 ] || fail "stopped ${ms}ms after SIGINT"
	assert_contains "$(cat "$T/err")" "engram: error: interrupted"
	assert_eq "" "$(cat "$T/out")" "no rows printed"
	assert_eq "$before" "$(head_of)" "the store's head"
	ok eg verify
}

# ------------------------------------------------------------------ shell

test_sql_shell_on_a_terminal() {
	build_store
	mkdir -p "$T/home"
	py "$ENGRAM" "$STORE" "$T/home" <<'EOF'
import os, re, sys, time
from e2e import *
from term import Term
engram, store, home = sys.argv[1:4]
env = dict(os.environ, HOME=home, TERM="dumb")
t = Term([engram, "-d", store, "sql"], env=env)
plain = lambda: re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", t.text())
def typed(line, want, what):
    os.write(t.master, line.encode() + b"\n")
    t.wait_for(lambda s: want(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", s)), what=what)
t.wait_for(lambda s: "engram> " in s, what="the prompt")
check(".help" in plain().splitlines()[0], "banner %r" % plain()[:200])
typed("SELECT type, count(*) AS n", lambda s: "...> " in s, what="the continuation prompt")
typed("  FROM events WHERE kind <> 'event'", lambda s: s.count("...> ") >= 2, what="a second continuation")
typed("  GROUP BY type ORDER BY type;", lambda s: "exception" in s, what="the rows")
out = plain()
check(re.search(r"^type\s+n\s*$", out, re.M) and re.search(r"^cpu\s+1\s*$", out, re.M)
      and re.search(r"^exception\s+1\s*$", out, re.M), "the table: %r" % out[-400:])
typed(".tables", lambda s: "window_changelog" in s, what=".tables")
check(re.search(r"^events\s+streams\s+types", plain(), re.M), ".tables: %r" % plain()[-300:])
typed("CREATE TEMP TABLE mine AS SELECT 1 AS x;", lambda s: "engram> " in s.split("AS x;")[-1],
      what="a TEMP table")
typed(".tables", lambda s: "temp.mine" in s, what=".tables with the TEMP table")
typed(".schema events", lambda s: "recorded_us INTEGER" in s, what=".schema events")
check("CREATE TABLE events(pos INTEGER, id TEXT, stream TEXT" in plain(), ".schema: %r" % plain()[-400:])
typed(".help", lambda s: ".quit" in s and ".schema [NAME]" in s, what=".help")
typed("SELECT nope;", lambda s: "no such column: nope" in s, what="an error in the shell")
typed("SELECT 41 + 1 AS answer;", lambda s: "42" in s, what="the shell goes on after an error")
os.write(t.master, b".quit\n")
check(t.proc.wait(10) == 0, "exit status of .quit")
hist = open(os.path.join(home, ".engram_history")).read()
for line in ("SELECT type, count(*) AS n", "  GROUP BY type ORDER BY type;", ".tables", ".quit"):
    check(line in hist.splitlines(), "history lacks %r: %r" % (line, hist))
# the history is there the next time
t = Term([engram, "-d", store, "sql"], env=env)
t.wait_for(lambda s: "engram> " in s, what="the prompt again")
os.write(t.master, b"\x10")       # Ctrl-P: the last line typed
t.wait_for(lambda s: ".quit" in s.split("engram> ")[-1], what="the history recalled")
os.write(t.master, b"\x15.exit\n")  # ^U clears the line
check(t.proc.wait(10) == 0, "exit status of .exit")
EOF
}

test_sql_shell_ctrl_c_stops_the_query_not_the_shell() {
	big_store
	py "$ENGRAM" "$STORE" "$T" <<'EOF'
import os, signal, sys, time
from e2e import *
from term import Term
engram, store, home = sys.argv[1:4]
t = Term([engram, "-d", store, "sql"], env=dict(os.environ, HOME=home, TERM="dumb"))
t.wait_for(lambda s: "engram> " in s, what="the prompt")
os.write(t.master, b"SELECT count(*) FROM events a, events b;\n")
time.sleep(1.0)
os.killpg(t.proc.pid, signal.SIGINT)
t.wait_for(lambda s: "interrupted" in s and s.rstrip().endswith("engram>"), seconds=1.0,
           what="'interrupted' and the prompt within a second")
check(t.proc.poll() is None, "the shell ended")
os.write(t.master, b"SELECT 6 * 7 AS n;\n")
t.wait_for(lambda s: "42" in s and s.rstrip().endswith("engram>"), what="the next statement")
os.write(t.master, b"\x04")      # Ctrl-D at the prompt leaves
check(t.proc.wait(10) == 0, "exit status of Ctrl-D")
EOF
}

# -------------------------------------------------------------- extension

test_sql_extension_in_the_sqlite3_shell() {
	command -v sqlite3 >/dev/null || fail "the sqlite3 shell is needed (Debian package sqlite3)"
	build_store
	local ext
	ext=$(sql_ext)
	run with_ext sqlite3 -batch :memory: ".load ${ext%.so}" \
		"SELECT count(*) FROM engram_events('$STORE');" \
		"CREATE VIRTUAL TABLE e USING engram('$STORE');" \
		"SELECT type, count(*) FROM e GROUP BY type ORDER BY type;" \
		"SELECT pos, stream FROM e WHERE stream IN ('svc', 'host-1') ORDER BY pos DESC;" \
		"SELECT count(*) FROM engram_events('$STORE') WHERE known_at = '2000-01-01';"
	assert_eq 0 "$RC" "sqlite3 exit status; stderr: $ERR"
	local want
	want=$(
		eg --format csv sql "SELECT count(*) FROM events" | tail -n +2
		eg --format csv sql "SELECT type, count(*) FROM events GROUP BY type ORDER BY type" | tail -n +2
		eg --format csv sql "SELECT pos, stream FROM events WHERE stream IN ('svc', 'host-1') ORDER BY pos DESC" | tail -n +2
		echo 0
	)
	assert_eq "${want//,/|}" "$OUT" "the sqlite3 shell's answers"
	# a store that is not there: a clear error
	run with_ext sqlite3 -batch :memory: ".load ${ext%.so}" "SELECT count(*) FROM engram_events('$T/nope');"
	assert_eq 1 "$RC" "exit status for a missing store"
	assert_contains "$ERR" "engram_events: cannot open the engram store $T/nope: no store at $T/nope"
	run with_ext sqlite3 -batch :memory: ".load ${ext%.so}" "CREATE VIRTUAL TABLE e USING engram('$T/nope');"
	assert_eq 1 "$RC" "exit status for a missing store"
	assert_contains "$ERR" "cannot open the engram store $T/nope"
	run with_ext sqlite3 -batch :memory: ".load ${ext%.so}" "CREATE VIRTUAL TABLE e USING engram;"
	assert_contains "$ERR" "expected one argument, the directory of a store"
	# engram_events without its directory says what it needs
	run with_ext sqlite3 -batch :memory: ".load ${ext%.so}" "SELECT count(*) FROM engram_events;"
	assert_eq 1 "$RC" "exit status without the directory"
	assert_contains "$ERR" "engram_events" "engram_events without its directory"
	# the store is only read
	ok eg verify
}

test_sql_extension_in_python_equals_engram_sql() {
	[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 is needed (Debian's, which loads extensions)"
	build_store
	printf '%s\n' \
		"SELECT * FROM {T} ORDER BY pos" \
		"SELECT type, kind, count(*) AS n, sum(data->>'amount') AS total FROM {T} GROUP BY 1, 2 ORDER BY 1, 2" \
		"SELECT pos, id, time FROM {T} WHERE stream IN ('account-000003', 'svc') AND time >= '2025-01-01T12' ORDER BY pos DESC LIMIT 7" \
		"SELECT pos FROM {T} WHERE type = 'fee' AND pos BETWEEN 100 AND 700 ORDER BY pos" \
		"SELECT count(*) AS n FROM {T} a JOIN {T} b ON b.stream = a.stream AND b.pos < a.pos WHERE a.type = 'account_closed'" \
		"SELECT pos, meta FROM {T} WHERE meta IS NOT NULL ORDER BY pos" >"$T/queries"
	local q
	: >"$T/engram"
	while IFS= read -r q; do
		eg sql "${q//\{T\}/events}" >>"$T/engram" || fail "engram sql failed: $q"
		echo "--" >>"$T/engram"
	done <"$T/queries"
	with_ext env PYTHONPATH="$E2E_DIR" /usr/bin/python3 - "$(sql_ext)" "$STORE" "$T/queries" "$T/engram" <<'EOF' >"$T/py.out" 2>&1 ||
import json, sqlite3, sys
from e2e import *
ext, store, qfile, efile = sys.argv[1:5]
db = sqlite3.connect(":memory:")
db.enable_load_extension(True)
db.load_extension(ext)
db.execute("CREATE VIRTUAL TABLE e USING engram(%s)" % ("'" + store.replace("'", "''") + "'"))
answers = open(efile).read().split("--\n")
JSON_COLS = ("data", "meta")
def norm(cols, row):
    out = []
    for c, v in zip(cols, row):
        if v is None:
            out.append(None)
        elif isinstance(v, str) and c in JSON_COLS:
            out.append(dumps(loads(v)))
        elif isinstance(v, float):
            out.append("%.15g" % v)   # engram sql writes reals as SQLite does
        else:
            out.append(v)
    return out
for qi, q in enumerate(open(qfile).read().splitlines()):
    want = []
    for line in answers[qi].splitlines():
        r = loads(line)
        want.append([None if v is None else dumps(v) if isinstance(v, (Obj, list)) else
                     "%.15g" % float(v) if isinstance(v, Num) and ("." in v or "e" in v.lower()) else
                     int(v) if isinstance(v, Num) else v for _, v in r])
    for form in ("engram_events('%s')" % store.replace("'", "''"), "e"):
        cur = db.execute(q.replace("{T}", form))
        cols = [d[0] for d in cur.description]
        got = [norm(cols, r) for r in cur.fetchall()]
        check(got == want, "%s through %s: %d rows, engram sql gives %d; first: %r vs %r"
              % (q, form, len(got), len(want), got[:1], want[:1]))
print("ok")
EOF
		fail "python3 and the extension: $(tail -n 3 "$T/py.out" | tr '\n' ' ' | cut -c1-500)"
	assert_eq ok "$(tail -n 1 "$T/py.out")" "python3 and the extension"
}

test_sql_ndjson_escapes_column_names() {
	# a column's name is SQL's text of its expression: quotes, backslashes
	# and newlines are escaped as in any JSON string
	ok eg append <<<'{"type":"t"}'
	ok eg sql 'SELECT 1 AS "a""b", 2 AS "c
d\", count(*) FROM events'
	assert_eq '{"a\"b":1,"c\nd\\":2,"count(*)":1}' "$OUT" "escaped names"
}

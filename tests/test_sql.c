/*
 * test_sql.c — SQL over the store through eg_sql_open (docs/SQL.md): a
 * statement reads one snapshot of the log while a writer appends, the
 * store's tables are read-only while TEMP is the user's, and the events
 * table's pushdown answers what SQLite answers over a plain table holding
 * the same rows, at the edges of SQLite's comparison rules (a real against
 * pos, text against an INTEGER column, a prefix of a time, NULL in an IN
 * list, a BLOB, COLLATE NOCASE, an affinity on the right-hand side).
 * tests/sql/prop.py asks the same of random queries.
 */
#include "testutil.h"

#include <sqlite3.h>
#include <time.h>

/* 2024-12-31T23:00:00Z: event i (1..20) happens i - 1 hours later. */
#define T0 1735686000000000LL
#define HOUR 3600000000LL
#define NEV 20

/* ------------------------------------------------------------ helpers */

/* Event i of the fixture: stream s-(i%3), type a (odd) or b (even), kind
 * metric for 5 (with a value), error for 6 (with a message), id e<i>. */
static void fixture_line(int i, char *buf, size_t n)
{
	char t[40];
	int64_t s = (T0 + (i - 1) * HOUR) / 1000000;
	struct tm tm;
	time_t tt = (time_t)s;
	gmtime_r(&tt, &tm);
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, n,
		 "{\"id\":\"e%d\",\"stream\":\"s-%d\",\"type\":\"%s\",\"kind\":\"%s\",\"time\":\"%s\","
		 "\"data\":{\"i\":%d%s}}",
		 i, i % 3, i % 2 ? "a" : "b", i == 5 ? "metric" : i == 6 ? "error" : "event", t, i,
		 i == 5 ? ",\"value\":5" : i == 6 ? ",\"message\":\"m\"" : "");
}

static void append_fixture(eg_store *w, int from, int to)
{
	char buf[64][256];
	const char *lines[64];
	for (int i = from; i <= to; i++) {
		fixture_line(i, buf[i - from], sizeof buf[0]);
		lines[i - from] = buf[i - from];
	}
	tu_append(w, lines, (size_t)(to - from + 1));
}

static eg_store *open_w(const char *dir)
{
	return tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
}

static sqlite3 *sql_open(eg_store *st)
{
	sqlite3 *db = NULL;
	int rc = eg_sql_open(st, &db);
	if (rc != EG_OK)
		fail_msg("eg_sql_open: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (eg_sql_prepare(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	return s;
}

/* The one integer a query answers. */
static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = prep(db, sql);
	if (sqlite3_step(s) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The one text a query answers, into out. */
static void one_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
	sqlite3_stmt *s = prep(db, sql);
	if (sqlite3_step(s) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static int exec_rc(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* The positions a query answers, "1,2,3" (order kept). */
static void positions(sqlite3 *db, const char *sql, char *out, size_t n)
{
	sqlite3_stmt *s = prep(db, sql);
	size_t len = 0;
	int rc;
	out[0] = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, n - len, "%s%lld", len ? "," : "",
					(long long)sqlite3_column_int64(s, 0));
	if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
}

/* A store of the 20 fixture events, with SQL on a reader. */
typedef struct fx {
	tu_fx base;
	eg_store *w, *r;
	sqlite3 *db;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	strcpy(f->base.dir, "/tmp/eg-test-XXXXXX");
	if (!mkdtemp(f->base.dir))
		return -1;
	f->w = open_w(f->base.dir);
	append_fixture(f->w, 1, NEV);
	f->r = tu_open(f->base.dir, EG_OPEN_READ, 0);
	f->db = sql_open(f->r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	/* statements a failed assertion left unfinished */
	for (sqlite3_stmt *s; (s = sqlite3_next_stmt(f->db, NULL));)
		sqlite3_finalize(s);
	sqlite3_close(f->db);
	eg_store_close(f->r);
	eg_store_close(f->w);
	rm_rf(f->base.dir);
	free(f);
	return 0;
}

/* A plain TEMP table with the events table's rows and declared types
 * (so the same affinities), for comparing answers. */
static void make_plain(sqlite3 *db)
{
	exec_ok(db, "CREATE TEMP TABLE plain(pos INTEGER, id TEXT, stream TEXT, version INTEGER, "
		    "type TEXT, kind TEXT, time TEXT, recorded TEXT, actor TEXT, session TEXT, "
		    "data TEXT JSON, meta TEXT JSON, time_us INTEGER, recorded_us INTEGER, schema_version INTEGER)");
	/* +pos > 0: a condition engram cannot take, so this is a plain scan */
	exec_ok(db, "INSERT INTO plain SELECT * FROM events WHERE +pos > 0");
}

/* The query answers the same positions through events and plain. */
static void assert_same_as_plain(sqlite3 *db, const char *where)
{
	char a[4096], b[4096], q[1024];
	snprintf(q, sizeof q, "SELECT pos FROM events WHERE %s ORDER BY pos", where);
	positions(db, q, a, sizeof a);
	snprintf(q, sizeof q, "SELECT pos FROM temp.plain WHERE %s ORDER BY pos", where);
	positions(db, q, b, sizeof b);
	if (strcmp(a, b))
		fail_msg("WHERE %s: events [%s], plain table [%s]", where, a, b);
}

static void assert_positions(sqlite3 *db, const char *sql, const char *want)
{
	char got[4096];
	positions(db, sql, got, sizeof got);
	if (strcmp(got, want))
		fail_msg("%s: [%s], expected [%s]", sql, got, want);
}

/* ----------------------------------------------------------- snapshot */

static void statement_sees_the_head_it_started_with_while_a_writer_appends(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = prep(f->db, "SELECT pos FROM events");
	int n = 0;
	for (; n < 5; n++)
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	append_fixture(f->w, NEV + 1, NEV + 10);   /* through the writer's handle */
	int64_t last = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		last = sqlite3_column_int64(s, 0);
		n++;
	}
	assert_int_equal(n, NEV);
	assert_int_equal(last, NEV);
	sqlite3_finalize(s);
	/* a new statement sees the new head */
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events"), NEV + 10);
	assert_int_equal(one_int(f->db, "SELECT max(pos) FROM events"), NEV + 10);
}

/* A correlated subquery re-filters its cursor for every outer row: every
 * one of those scans still ends at the statement's head. */
static void subquery_rescans_stay_at_the_statement_head(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = prep(f->db, "SELECT a.pos, (SELECT count(*) FROM events b WHERE b.pos >= a.pos), "
				      "(SELECT max(pos) FROM events) FROM events a");
	int n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t pos = sqlite3_column_int64(s, 0);
		if (++n == 3)
			append_fixture(f->w, NEV + 1, NEV + 10);
		assert_int_equal(sqlite3_column_int64(s, 1), NEV - pos + 1);
		assert_int_equal(sqlite3_column_int64(s, 2), NEV);
	}
	assert_int_equal(n, NEV);
	sqlite3_finalize(s);
}

/* A self-join: both sides read the same head. */
static void self_join_reads_one_head(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = prep(f->db, "SELECT a.pos, b.pos FROM events a JOIN events b ON b.pos = a.pos + 1");
	int n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (++n == 2)
			append_fixture(f->w, NEV + 1, NEV + 10);
		assert_int_equal(sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 0) + 1);
	}
	assert_int_equal(n, NEV - 1);
	sqlite3_finalize(s);
}

/* A statement started while an older one is still stepping sees the head
 * when it started, not the older statement's. */
static void statement_started_after_an_append_sees_it_while_an_older_one_steps(void **state)
{
	fx *f = *state;
	sqlite3_stmt *old = prep(f->db, "SELECT pos FROM events");
	assert_int_equal(sqlite3_step(old), SQLITE_ROW);
	append_fixture(f->w, NEV + 1, NEV + 10);
	int64_t now = one_int(f->db, "SELECT count(*) FROM events");
	if (now != NEV + 10)
		fail_msg("a statement started after the append saw %lld events, not %d: the head of the "
			 "statement still stepping", (long long)now, NEV + 10);
	int n = 1;
	while (sqlite3_step(old) == SQLITE_ROW)
		n++;
	assert_int_equal(n, NEV);
	sqlite3_finalize(old);
}

/* SQL on the writer's own handle, appending between steps. */
static void statement_on_the_writers_handle_sees_its_start_head(void **state)
{
	fx *f = *state;
	sqlite3 *db = sql_open(f->w);
	sqlite3_stmt *s = prep(db, "SELECT pos FROM events ORDER BY pos DESC");
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(s, 0), NEV);
	append_fixture(f->w, NEV + 1, NEV + 10);
	int n = 1;
	while (sqlite3_step(s) == SQLITE_ROW)
		n++;
	assert_int_equal(n, NEV);
	sqlite3_finalize(s);
	assert_int_equal(one_int(db, "SELECT max(pos) FROM events"), NEV + 10);
	sqlite3_close(db);
}

/* ---------------------------------------------------------- read-only */

static void store_tables_refuse_writes(void **state)
{
	fx *f = *state;
	const char *refused[] = {
		"INSERT INTO events(id, stream, type) VALUES ('x', 's', 't')",
		"UPDATE events SET type = 'x' WHERE pos = 1",
		"DELETE FROM events WHERE pos = 1",
		"CREATE TABLE t(x)",
		"CREATE TABLE main.t(x)",
		"CREATE VIEW v AS SELECT pos FROM events",
		"CREATE INDEX i ON events(pos)",
		"DROP TABLE events",
		"ALTER TABLE events RENAME TO e2",
		"CREATE VIRTUAL TABLE main.e2 USING events",
		"CREATE TRIGGER tr AFTER INSERT ON events BEGIN SELECT 1; END",
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		if (exec_rc(f->db, refused[i]) == SQLITE_OK)
			fail_msg("%s: allowed", refused[i]);
	}
	/* nothing changed */
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events"), NEV);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM sqlite_schema"), 0);
	eg_head h;
	assert_int_equal(eg_store_head(f->r, &h), EG_OK);
	assert_int_equal(h.pos, NEV);
}

static void temp_tables_views_and_attached_databases_are_the_users(void **state)
{
	fx *f = *state;
	exec_ok(f->db, "CREATE TEMP TABLE t AS SELECT pos, type FROM events WHERE kind = 'event'");
	exec_ok(f->db, "CREATE INDEX temp.t_type ON t(type)");
	exec_ok(f->db, "INSERT INTO t VALUES (99, 'z')");
	exec_ok(f->db, "UPDATE t SET type = 'y' WHERE pos = 99");
	exec_ok(f->db, "DELETE FROM t WHERE pos = 1");
	exec_ok(f->db, "CREATE TEMP VIEW v AS SELECT type, count(*) n FROM t GROUP BY type");
	assert_int_equal(one_int(f->db, "SELECT n FROM v WHERE type = 'y'"), 1);
	assert_int_equal(one_int(f->db, "SELECT sum(n) FROM v"), NEV - 2 - 1 + 1);
	exec_ok(f->db, "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t WHERE pos = 2; END");
	exec_ok(f->db, "INSERT INTO t VALUES (100, 'z')");
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t WHERE pos = 2"), 0);
	exec_ok(f->db, "ATTACH ':memory:' AS mine");
	exec_ok(f->db, "CREATE TABLE mine.x AS SELECT pos FROM events WHERE pos <= 3");
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM mine.x"), 3);
	exec_ok(f->db, "DROP VIEW v");
	exec_ok(f->db, "DROP TABLE t");
	exec_ok(f->db, "DROP TABLE mine.x");
}

/* ------------------------------------------------------------ pushdown */

/* The cases the brief names, with their answers worked out by hand from
 * the fixture, and each also equal to the plain table's. */
static void pushdown_follows_sqlite_comparison_rules(void **state)
{
	fx *f = *state;
	make_plain(f->db);
	static const struct {
		const char *where, *want;
	} cases[] = {
		{ "pos > 9.5", "10,11,12,13,14,15,16,17,18,19,20" },
		{ "pos < 9.5", "1,2,3,4,5,6,7,8,9" },
		{ "pos = 9.0", "9" },
		{ "pos = 9.5", "" },
		{ "pos >= 19.0000001", "20" },
		{ "pos <= -0.5", "" },
		{ "pos < 'abc'", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "pos > 'abc'", "" },
		{ "pos = '7'", "7" },
		{ "pos > '18'", "19,20" },
		{ "pos > ' 18 '", "19,20" },
		{ "pos <= '2.5'", "1,2" },
		{ "pos < x'00'", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "pos > NULL", "" },
		{ "pos IN (3, '4', 5.0, 6.5, NULL, 'x', 99)", "3,4,5" },
		{ "pos > 9223372036854775807", "" },
		{ "pos < -9223372036854775808", "" },
		{ "pos <= 1e19", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "pos > -1e19 AND pos < 3", "1,2" },
		{ "rowid BETWEEN 4 AND 6", "4,5,6" },
		{ "time >= '2025'", "2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "time < '2025'", "1" },
		{ "time >= '2025-01-01T17'", "19,20" },
		{ "time >= '2025-01-01T18:00:00.000000Z'", "20" },
		{ "time > '2025-01-01T18:00:00.000000Z'", "" },
		{ "time = '2025-01-01T00:00:00.000000Z'", "2" },
		{ "time = '2025-01-01T00:00:00Z'", "" },     /* the text differs */
		{ "time BETWEEN '2025-01-01T03' AND '2025-01-01T05'", "5,6" },
		{ "time > 2024", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "time < x'00'", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "time >= NULL", "" },
		{ "time > '~'", "" },
		{ "time_us = 1.5", "" },
		{ "time_us = 1735686000000000", "1" },
		{ "time_us = '1735689600000000'", "2" },
		{ "time_us > 1735750800000000.5", "20" },
		{ "time_us BETWEEN 1735689600000000 AND 1735693200000000.0", "2,3" },
		{ "recorded >= '0000' AND recorded_us > 0", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" },
		{ "recorded < '2000'", "" },
		{ "stream IN (NULL)", "" },
		{ "stream IN (NULL, 's-1')", "1,4,7,10,13,16,19" },
		{ "stream = x'732d31'", "" },                /* the BLOB 's-1' is no text */
		{ "stream = 'S-1' COLLATE NOCASE", "1,4,7,10,13,16,19" },
		{ "stream COLLATE NOCASE IN ('S-2')", "2,5,8,11,14,17,20" },
		{ "stream = 's-1' AND stream = 's-2'", "" },
		{ "stream > 's-1' AND type = 'a'", "5,11,17" },
		{ "type IN ('a', 'b') AND pos <= 4", "1,2,3,4" },
		{ "type IN (SELECT 'b' UNION SELECT 'a') AND pos >= 18", "18,19,20" },
		{ "kind = 'metric'", "5" },
		{ "kind IN ('metric', 'error', 'metric')", "5,6" },
		{ "kind = 'Metric'", "" },
		{ "kind = 'Metric' COLLATE NOCASE", "5" },
		{ "kind IN (NULL, 1)", "" },
		{ "id = 'e7'", "7" },
		{ "id IN ('e3', 'e3', 'nope', NULL, 'e12')", "3,12" },
		{ "id = 'e7' AND pos = 8", "" },
		{ "id = 'nope'", "" },
		{ "id IN (NULL, 7, x'6537')", "" },
		{ "pos IN (NULL, 'x', 0, -1)", "" },
		{ "pos IN (4, 5, 6) AND kind = 'metric'", "5" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char q[512];
		snprintf(q, sizeof q, "SELECT pos FROM events WHERE %s ORDER BY pos", cases[i].where);
		assert_positions(f->db, q, cases[i].want);
		assert_same_as_plain(f->db, cases[i].where);
	}
}

/* LIMIT is applied after every condition engram took, not to a list of
 * positions before the others filter it. */
static void limit_counts_rows_that_pass_every_condition(void **state)
{
	fx *f = *state;
	assert_positions(f->db, "SELECT pos FROM events WHERE pos IN (4, 5, 6) AND kind = 'metric' LIMIT 1", "5");
	assert_positions(f->db, "SELECT pos FROM events WHERE pos IN (1, 2, 3, 4) AND type = 'b' LIMIT 1", "2");
	assert_positions(f->db, "SELECT pos FROM events WHERE pos IN (1, 2, 3, 4) AND type = 'a' "
				"ORDER BY pos DESC LIMIT 1", "3");
	assert_positions(f->db, "SELECT pos FROM events WHERE id IN ('e1', 'e2', 'e3') AND stream = 's-2' LIMIT 1",
			 "2");
	assert_positions(f->db, "SELECT pos FROM events WHERE type = 'b' ORDER BY pos DESC LIMIT 2", "20,18");
	assert_positions(f->db, "SELECT pos FROM events WHERE stream = 's-0' AND pos > 4 LIMIT 2", "6,9");
	/* OFFSET stays SQLite's */
	assert_positions(f->db, "SELECT pos FROM events WHERE type = 'a' ORDER BY pos LIMIT 2 OFFSET 3", "7,9");
}

/* An IN list on stream or type is one scan of every listed name, however
 * long the list. */
static void in_lists_on_names_keep_every_value(void **state)
{
	fx *f = *state;
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE stream IN ('s-0', 's-1', 's-2')"), NEV);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE type IN ('a', 'b')"), NEV);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE stream IN "
					"(SELECT stream FROM events WHERE +pos <= 3)"), NEV);
	assert_int_equal(one_int(f->db, "SELECT count(DISTINCT type) FROM events WHERE type IN "
					"(SELECT type FROM events WHERE +pos <= 2)"), 2);
}

/* Ids, streams and types may hold a NUL (JSON "\u0000"): equality finds
 * them as it finds any other. */
static void names_with_a_nul_are_found(void **state)
{
	fx *f = *state;
	const char *lines[] = {
		"{\"id\":\"n\\u0000ul\",\"stream\":\"s\\u0000t\",\"type\":\"a\\u0000b\"}",
		"{\"id\":\"n\",\"stream\":\"s\",\"type\":\"a\"}",
	};
	tu_append(f->w, lines, 2);
	assert_positions(f->db, "SELECT pos FROM events WHERE +id = 'n'||char(0)||'ul'", "21");
	assert_positions(f->db, "SELECT pos FROM events WHERE id = 'n'||char(0)||'ul'", "21");
	assert_positions(f->db, "SELECT pos FROM events WHERE stream = 's'||char(0)||'t'", "21");
	assert_positions(f->db, "SELECT pos FROM events WHERE type IN ('a'||char(0)||'b')", "21");
	assert_positions(f->db, "SELECT pos FROM events WHERE id = 'n'", "22");
}

/* An id is found on a reader's handle and on the writer's, whether the id
 * index covers it or not. */
static void id_equality_finds_the_event_on_a_reader_and_a_writer(void **state)
{
	fx *f = *state;
	sqlite3 *wdb = sql_open(f->w);
	assert_positions(wdb, "SELECT pos FROM events WHERE id = 'e7'", "7");
	sqlite3_close(wdb);
	assert_positions(f->db, "SELECT pos FROM events WHERE id = 'e7'", "7");
	/* the writer gone, its id index covers the whole log: a reader opened
	 * now (engram sql, the extension) finds ids through it */
	eg_store_close(f->w);
	f->w = NULL;
	eg_store *r = tu_open(f->base.dir, EG_OPEN_READ, 0);
	sqlite3 *rdb = sql_open(r);
	assert_positions(rdb, "SELECT pos FROM events WHERE id = 'e7'", "7");
	assert_positions(rdb, "SELECT pos FROM events WHERE id IN ('e20', 'e1', 'nope')", "1,20");
	assert_positions(f->db, "SELECT pos FROM events WHERE id = 'e7'", "7");
	/* and a new writer's events beyond it */
	f->w = open_w(f->base.dir);
	append_fixture(f->w, NEV + 1, NEV + 2);
	assert_positions(f->db, "SELECT pos FROM events WHERE id = 'e22'", "22");
	assert_positions(f->db, "SELECT pos FROM events WHERE id IN ('e3', 'e21')", "3,21");
	assert_positions(rdb, "SELECT pos FROM events WHERE id IN ('e3', 'e21')", "3,21");
	sqlite3_close(rdb);
	eg_store_close(r);
	wdb = sql_open(f->w);
	assert_positions(wdb, "SELECT pos FROM events WHERE id IN ('e3', 'e22')", "3,22");
	sqlite3_close(wdb);
}

/* The right-hand side's affinity decides the comparison: a TEXT column
 * against a REAL or INTEGER column, or a CAST to a number, compares as
 * numbers (text that is not a number is greater than any), and against a
 * column without affinity compares without conversion. */
static void right_hand_affinity_is_sqlites(void **state)
{
	fx *f = *state;
	make_plain(f->db);
	exec_ok(f->db, "CREATE TEMP TABLE k(r REAL, i INTEGER, n)");
	exec_ok(f->db, "INSERT INTO k VALUES (3000.5, 3000, 's-1')");
	static const char *const joins[] = {
		"e.time >= k.r", "e.time < k.i", "e.recorded > k.r", "e.stream = k.n",
		"e.type < k.i", "e.id > k.r",
	};
	for (size_t i = 0; i < sizeof joins / sizeof *joins; i++) {
		char a[128], b[128], q[256];
		snprintf(q, sizeof q, "SELECT count(*) FROM k CROSS JOIN events e ON %s", joins[i]);
		snprintf(a, sizeof a, "%lld", (long long)one_int(f->db, q));
		snprintf(q, sizeof q, "SELECT count(*) FROM k CROSS JOIN temp.plain e ON %s", joins[i]);
		snprintf(b, sizeof b, "%lld", (long long)one_int(f->db, q));
		if (strcmp(a, b))
			fail_msg("ON %s: %s rows through events, %s through the plain table", joins[i], a, b);
	}
	assert_same_as_plain(f->db, "time >= CAST('2025' AS INTEGER)");
	assert_same_as_plain(f->db, "time < CAST(2025 AS REAL)");
}

/* EXPLAIN QUERY PLAN names what engram used; a NOCASE comparison is not
 * taken. */
static void explain_names_the_plan(void **state)
{
	fx *f = *state;
	static const struct {
		const char *sql, *want;
	} cases[] = {
		{ "SELECT * FROM events WHERE stream = 's-1'", "stream = ? (stream postings)" },
		{ "SELECT * FROM events WHERE type IN ('a', 'b')", "type IN ? (type postings)" },
		{ "SELECT * FROM events WHERE id = 'e1'", "id = ? (id index)" },
		{ "SELECT * FROM events WHERE time >= '2025-01-01'", "time >= ? (time blocks)" },
		{ "SELECT * FROM events WHERE pos = 3", "pos = ? (position)" },
		{ "SELECT * FROM events WHERE recorded_us > 0", "recorded_us > ? (position range)" },
		{ "SELECT * FROM events ORDER BY pos DESC LIMIT 3", "ORDER BY pos DESC LIMIT ? (scan)" },
		{ "SELECT * FROM events WHERE known_at = '2025-01-01'", "known_at = ? (position range)" },
		{ "SELECT * FROM events WHERE stream = 'S-1' COLLATE NOCASE", "INDEX 0:(scan)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char q[512], plan[1024] = "";
		snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", cases[i].sql);
		sqlite3_stmt *s = prep(f->db, q);
		while (sqlite3_step(s) == SQLITE_ROW)
			snprintf(plan + strlen(plan), sizeof plan - strlen(plan), "%s|", sqlite3_column_text(s, 3));
		sqlite3_finalize(s);
		if (!strstr(plan, cases[i].want))
			fail_msg("%s: plan %s, expected %s", cases[i].sql, plan, cases[i].want);
	}
}

/* known_at is a prefix of the log by record time; as_of an event-time
 * bound; a time engram cannot read is an error naming the column. */
static void known_at_and_as_of(void **state)
{
	fx *f = *state;
	char first[64], later[64], q[256];
	one_text(f->db, "SELECT recorded FROM events WHERE pos = 1", first, sizeof first);
	append_fixture(f->w, NEV + 1, NEV + 5);
	one_text(f->db, "SELECT recorded FROM events WHERE pos = 21", later, sizeof later);
	assert_true(strcmp(later, first) > 0);
	snprintf(q, sizeof q, "SELECT count(*) FROM events WHERE known_at = '%s'", first);
	assert_int_equal(one_int(f->db, q), NEV);
	snprintf(q, sizeof q, "SELECT max(pos) FROM events WHERE known_at = '%s'", later);
	assert_int_equal(one_int(f->db, q), NEV + 5);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE known_at = '2000-01-01'"), 0);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE as_of = '2025-01-01'"), 2);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM events WHERE as_of = '2025-01-01T00:59:59Z' "
					"AND known_at = '2999-01-01'"), 2);
	sqlite3_stmt *s = prep(f->db, "SELECT known_at, as_of FROM events WHERE known_at = 1735689600000 LIMIT 1");
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);   /* nothing recorded then */
	sqlite3_finalize(s);
	/* the hidden column shows the time given: as given or in engram's form */
	s = prep(f->db, "SELECT known_at, as_of FROM events WHERE as_of = '2025-01-01T02:00:00+01:00' LIMIT 1");
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	const char *shown = (const char *)sqlite3_column_text(s, 1);
	if (strcmp(shown, "2025-01-01T01:00:00.000000Z") && strcmp(shown, "2025-01-01T02:00:00+01:00"))
		fail_msg("as_of shows %s", shown);
	assert_int_equal(sqlite3_column_type(s, 0), SQLITE_NULL);
	sqlite3_finalize(s);
	s = prep(f->db, "SELECT count(*) FROM events WHERE known_at = 'yesterday'");
	assert_int_equal(sqlite3_step(s), SQLITE_ERROR);
	assert_non_null(strstr(sqlite3_errmsg(f->db), "known_at: expected an RFC 3339 time"));
	assert_non_null(strstr(sqlite3_errmsg(f->db), "got 'yesterday'"));
	sqlite3_finalize(s);
}

/* Whatever plan SQLite picks — here one scan per branch of an OR, after
 * which it checks the other conditions itself — known_at and as_of keep
 * every event they admit, in any form the time is written. */
static void known_at_holds_under_an_or(void **state)
{
	fx *f = *state;
	static const char *const ks[] = { "'2999-01-01'", "'2999-01-01T00:00:00Z'", "32472144000000",
					  "'2999-01-01T00:00:00.000000Z'" };
	for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
		char q[256];
		snprintf(q, sizeof q, "SELECT count(*) FROM events WHERE (type = 'a' OR stream IN ('s-0', 's-9')) "
			 "AND known_at = %s", ks[i]);
		int64_t n = one_int(f->db, q);
		if (n != 13)
			fail_msg("%s: %lld rows, expected 13", q, (long long)n);
		snprintf(q, sizeof q, "SELECT count(*) FROM events WHERE (type = 'a' OR stream IN ('s-0', 's-9')) "
			 "AND as_of = %s", ks[i]);
		n = one_int(f->db, q);
		if (n != 13)
			fail_msg("%s: %lld rows, expected 13", q, (long long)n);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(statement_sees_the_head_it_started_with_while_a_writer_appends),
		T(subquery_rescans_stay_at_the_statement_head),
		T(self_join_reads_one_head),
		T(statement_started_after_an_append_sees_it_while_an_older_one_steps),
		T(statement_on_the_writers_handle_sees_its_start_head),
		T(store_tables_refuse_writes),
		T(temp_tables_views_and_attached_databases_are_the_users),
		T(pushdown_follows_sqlite_comparison_rules),
		T(limit_counts_rows_that_pass_every_condition),
		T(in_lists_on_names_keep_every_value),
		T(names_with_a_nul_are_found),
		T(id_equality_finds_the_event_on_a_reader_and_a_writer),
		T(right_hand_affinity_is_sqlites),
		T(explain_names_the_plan),
		T(known_at_and_as_of),
		T(known_at_holds_under_an_or),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sql_funcs.c — the table-valued functions of src/sql/: which calls
 * eg_sql_declare sees in a statement's text (literals, comments, quoted
 * identifiers, case, the first statement only) and the tables it makes,
 * and the values the functions give through eg_sql_open (JSON values and
 * times typed as the docs say). */
#include "testutil.h"

#include <sqlite3.h>

#include "sql.h"

/* A projection spec as JSON text, and the same in an SQL literal. */
#define SPEC "{\"key\":\"stream\",\"fields\":{\"n\":{\"count\":true}}}"
#define LIT "'" SPEC "'"
#define LIT2 "'{\"key\":\"stream\",\"fields\":{\"m\":{\"count\":true}}}'"

typedef struct fx {
	tu_fx t;
	eg_store *st;
	sqlite3 *db;
} fx;

static const char *const EVENTS[] = {
	"{\"id\":\"e1\",\"stream\":\"u1\",\"type\":\"page_view\",\"time\":\"2025-03-01T10:00:00Z\","
	"\"session\":\"s1\",\"data\":{\"page_url\":\"/a\\\"b\",\"amount\":1.5,\"n\":2,"
	"\"tags\":[1,2],\"who\":null,\"ok\":false}}",
	"{\"id\":\"e2\",\"stream\":\"u1\",\"type\":\"click\",\"time\":\"2025-03-01T10:10:00.5Z\","
	"\"data\":{\"amount\":2,\"n\":3,\"big\":123456789012345678901234567890}}",
	"{\"id\":\"e3\",\"stream\":\"u2\",\"type\":\"page_view\",\"time\":\"2025-03-02T08:00:00Z\"}",
};

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	void *t = NULL;
	if (!f || tu_setup(&t))
		return -1;
	f->t = *(tu_fx *)t;
	free(t);
	eg_store *w = tu_open(f->t.dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	tu_append(w, EVENTS, 3);
	eg_store_close(w);
	f->st = tu_open(f->t.dir, EG_OPEN_READ, 0);
	assert_int_equal(eg_sql_open(f->st, &f->db), EG_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	sqlite3_close(f->db);
	eg_store_close(f->st);
	rm_rf(f->t.dir);
	free(f);
	return 0;
}

/* The statement that made temp.NAME, or "" when there is none. */
static const char *declared(sqlite3 *db, const char *name)
{
	static char sql[1024];
	sqlite3_stmt *s;
	sql[0] = 0;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM temp.sqlite_schema WHERE name = ?",
					    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(sql, sizeof sql, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return sql;
}

static void declare_ok(sqlite3 *db, const char *sql)
{
	if (eg_sql_declare(db, sql, -1, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

/* ---------------------------------------------------------- the scanner */

static void test_a_literal_first_argument_declares_the_functions_table(void **state)
{
	fx *f = *state;
	declare_ok(f->db, "SELECT key, n FROM projection(" LIT ") WHERE n > 1");
	assert_string_equal(declared(f->db, "projection"),
			    "CREATE VIRTUAL TABLE \"projection\" USING projection(" LIT ")");
	assert_string_equal(declared(f->db, "history"), "");
}

static void test_names_are_case_insensitive_and_spaces_may_precede_the_parenthesis(void **state)
{
	fx *f = *state;
	declare_ok(f->db, "select * from HiStOrY \n\t ( " LIT " , 'u1')");
	assert_string_not_equal(declared(f->db, "history"), "");
	declare_ok(f->db, "SELECT * FROM projection /* a spec: */ (" LIT ", NULL)");
	assert_string_not_equal(declared(f->db, "projection"), "");
}

static void test_names_in_literals_comments_and_quoted_identifiers_are_not_calls(void **state)
{
	fx *f = *state;
	declare_ok(f->db, "SELECT 'it''s projection(''a.json'')', \"history('b.json', 'k')\", "
		   "[windows('c.json')], `window_changelog('d.json')`, \"x\"\"projection('e')\" "
		   "-- projection('f.json')\n"
		   "/* windows('g.json') */ FROM events");
	/* a quoted name is the user's table, not the function */
	declare_ok(f->db, "SELECT * FROM \"projection\"('h.json')");
	const char *names[] = { "projection", "history", "windows", "window_changelog" };
	for (int i = 0; i < 4; i++)
		assert_string_equal(declared(f->db, names[i]), "");
}

static void test_a_literal_ends_only_at_an_undoubled_quote(void **state)
{
	fx *f = *state;
	/* the spec's name holds a quote: '' inside the literal */
	declare_ok(f->db, "SELECT spec, key FROM projection('{\"name\":\"it''s\",\"key\":\"stream\","
		   "\"fields\":{\"n\":{\"count\":true}}}') ORDER BY key LIMIT 1");
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT spec FROM projection LIMIT 1", -1, &s,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0),
			    "{\"name\":\"it's\",\"key\":\"stream\",\"fields\":{\"n\":{\"count\":true}}}");
	sqlite3_finalize(s);
}

static void test_what_is_not_a_call_declares_nothing(void **state)
{
	fx *f = *state;
	const char *sqls[] = {
		"SELECT * FROM projection(?)",                        /* not a literal */
		"SELECT * FROM projection(:spec)",
		"SELECT * FROM projection('{}' || '')",               /* an expression */
		"SELECT * FROM temp.projection(" LIT ")",             /* a table named */
		"CREATE VIRTUAL TABLE temp.b USING projection(" LIT ")",
		"SELECT 1; SELECT * FROM projection(" LIT ")",         /* the next statement */
		"SELECT * FROM projections(" LIT ")",
		"SELECT * FROM projection",
		"SELECT 'projection(" /* an unterminated literal */,
	};
	for (size_t i = 0; i < sizeof sqls / sizeof *sqls; i++) {
		declare_ok(f->db, sqls[i]);
		if (*declared(f->db, "projection"))
			fail_msg("declared by: %s", sqls[i]);
	}
}

static void test_the_length_given_bounds_the_text(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_sql_declare(f->db, "SELECT * FROM history('x.json')", 14, NULL, NULL),
			 SQLITE_OK);
	assert_string_equal(declared(f->db, "history"), "");
}

static void test_two_specs_of_one_function_get_a_table_each(void **state)
{
	fx *f = *state;
	const char *sql = "SELECT * FROM projection(" LIT ") a, projection('other.json') b; "
			  "SELECT projection('x')";
	char *re = NULL;
	int shift = 0;
	/* other.json does not exist: its table's error names it */
	assert_int_equal(eg_sql_declare(f->db, sql, -1, &re, &shift), SQLITE_ERROR);
	assert_string_equal(sqlite3_errmsg(f->db),
			    "other.json: cannot read the spec: No such file or directory");
	const char *two = "SELECT * FROM projection(" LIT ") a, projection(" LIT2 ") b, "
			  "projection(" LIT ") c; SELECT projection('x')";
	assert_int_equal(eg_sql_declare(f->db, two, -1, &re, &shift), SQLITE_OK);
	assert_non_null(re);
	/* the second spec's call is renamed; the next statement is not */
	assert_string_equal(re, "SELECT * FROM projection(" LIT ") a, \"projection 2\"(" LIT2
			    ") b, projection(" LIT ") c; SELECT projection('x')");
	assert_int_equal(shift, (int)strlen(re) - (int)strlen(two));
	sqlite3_free(re);
	assert_string_equal(declared(f->db, "projection 2"),
			    "CREATE VIRTUAL TABLE \"projection 2\" USING projection(" LIT2 ")");
	/* the same spec twice is one table, and nothing is renamed */
	assert_int_equal(eg_sql_declare(f->db, "SELECT * FROM projection(" LIT ") a JOIN projection("
					LIT ") USING (key)", -1, &re, &shift), SQLITE_OK);
	assert_null(re);
}

static void test_a_bad_spec_fails_with_the_commands_message(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_sql_declare(f->db, "SELECT * FROM windows('{\"key\": 3}')", -1, NULL, NULL),
			 SQLITE_ERROR);
	if (strncmp(sqlite3_errmsg(f->db), "spec: $.key: unknown member", 27))
		fail_msg("message: %s", sqlite3_errmsg(f->db));
	assert_int_equal(eg_sql_declare(f->db, "SELECT * FROM history('/nonexistent/s.json', 'k')",
					-1, NULL, NULL), SQLITE_ERROR);
	assert_string_equal(sqlite3_errmsg(f->db),
			    "/nonexistent/s.json: cannot read the spec: No such file or directory");
}

/* ------------------------------------------------------------ the values */

/* One row of sql through eg_sql_prepare, or fail with SQLite's message. */
static sqlite3_stmt *row(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (eg_sql_prepare(db, sql, -1, &s, NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	return s;
}

static void expect_text(sqlite3_stmt *s, int i, const char *want)
{
	assert_int_equal(sqlite3_column_type(s, i), SQLITE_TEXT);
	assert_string_equal((const char *)sqlite3_column_text(s, i), want);
}

static void test_sessions_give_times_as_text_and_durations_as_numbers(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = row(f->db, "SELECT * FROM sessions('30m') WHERE stream = 'u1'");
	assert_int_equal(sqlite3_column_count(s), 10);
	expect_text(s, 0, "u1");
	expect_text(s, 2, "2025-03-01T10:00:00.000000Z");
	expect_text(s, 3, "2025-03-01T10:10:00.500000Z");
	assert_int_equal(sqlite3_column_type(s, 4), SQLITE_FLOAT);
	assert_true(sqlite3_column_double(s, 4) == 600.5);
	assert_int_equal(sqlite3_column_type(s, 5), SQLITE_INTEGER);
	assert_int_equal(sqlite3_column_int64(s, 5), 2);
	expect_text(s, 7, "/a\"b");          /* the JSON string, unescaped */
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	s = row(f->db, "SELECT duration FROM sessions('1d', 'u2')");
	assert_int_equal(sqlite3_column_type(s, 0), SQLITE_INTEGER);   /* whole seconds */
	assert_int_equal(sqlite3_column_int64(s, 0), 0);
	sqlite3_finalize(s);
}

static void test_projection_values_are_typed_from_their_json(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = row(f->db,
		"SELECT * FROM projection('{\"key\":\"stream\",\"fields\":{"
		"\"n\":{\"count\":true},\"sum\":{\"sum\":\"data.amount\"},"
		"\"first_n\":{\"first\":\"data.n\"},\"tags\":{\"first\":\"data.tags\"},"
		"\"who\":{\"first\":\"data.who\"},\"ok\":{\"first\":\"data.ok\"},"
		"\"big\":{\"last\":\"data.big\"},\"at\":{\"first\":\"time\"},"
		"\"open\":{\"open\":[\"page_view\"],\"close\":[\"logout\"]}}}') WHERE key = 'u1'");
	expect_text(s, 0, "u1");
	assert_int_equal(sqlite3_column_type(s, 1), SQLITE_INTEGER);     /* 2 */
	assert_int_equal(sqlite3_column_int64(s, 1), 2);
	assert_int_equal(sqlite3_column_type(s, 2), SQLITE_FLOAT);       /* 3.5 */
	assert_true(sqlite3_column_double(s, 2) == 3.5);
	assert_int_equal(sqlite3_column_type(s, 3), SQLITE_INTEGER);
	expect_text(s, 4, "[1,2]");                                       /* JSON text */
	assert_int_equal(sqlite3_column_type(s, 5), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(s, 6), SQLITE_INTEGER);     /* false */
	assert_int_equal(sqlite3_column_int64(s, 6), 0);
	assert_int_equal(sqlite3_column_type(s, 7), SQLITE_FLOAT);       /* beyond int64 */
	expect_text(s, 8, "2025-03-01T10:00:00.000000Z");
	assert_int_equal(sqlite3_column_int64(s, 9), 1);                  /* true */
	sqlite3_finalize(s);
}

static void test_a_missing_argument_names_the_signature(void **state)
{
	fx *f = *state;
	sqlite3_stmt *s = NULL;
	assert_int_not_equal(eg_sql_prepare(f->db, "SELECT * FROM funnel('a,b')", -1, &s, NULL),
			     SQLITE_OK);
	assert_string_equal(sqlite3_errmsg(f->db), "funnel(steps, within [, by]): the within is required");
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_literal_first_argument_declares_the_functions_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_are_case_insensitive_and_spaces_may_precede_the_parenthesis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_in_literals_comments_and_quoted_identifiers_are_not_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_literal_ends_only_at_an_undoubled_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_what_is_not_a_call_declares_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_length_given_bounds_the_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_specs_of_one_function_get_a_table_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_bad_spec_fails_with_the_commands_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_give_times_as_text_and_durations_as_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_projection_values_are_typed_from_their_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_missing_argument_names_the_signature, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

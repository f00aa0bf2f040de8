/*
 * test_path.c — field paths (src/path.c): what parses and what is refused
 * with which message, lookups under data and meta, and the JSON text each
 * kind of path prints for an event.
 */
#include "testutil.h"

#include "buf.h"
#include "path.h"

/* A JSON string span over a literal holding its quotes: S("\"data.a\""). */
#define S(lit) ((json_span){ lit, sizeof(lit) - 1, JSON_STRING })

static int parse(const char *quoted, eg_path *p, char *why, size_t whylen)
{
	json_span v = { quoted, strlen(quoted), JSON_STRING };
	return eg_path_parse(&v, p, why, whylen);
}

/* The JSON text path p prints for e, as a NUL-terminated string (freed by
 * the caller). */
static char *json_of(const eg_event *e, const eg_path *p, const json_span *found)
{
	buf b = { 0 };
	assert_int_equal(eg_path_json(e, p, found, &b), 0);
	assert_int_equal(buf_add(&b, "", 1), 0);
	return b.p;
}

static void assert_json(const eg_event *e, const char *path, const char *want)
{
	eg_path p;
	char why[400];
	assert_int_equal(parse(path, &p, why, sizeof why), 0);
	char *got = json_of(e, &p, NULL);
	assert_string_equal(got, want);
	free(got);
	eg_path_free(&p);
}

static eg_event sample(void)
{
	static const char data[] = "{\"a\":{\"b\":42,\"n\":null},\"s\":\"x\\\"y\",\"amount\":12.5}";
	static const char meta[] = "{\"trace\":\"t-1\"}";
	eg_event e = { 0 };
	e.pos = 7;
	e.version = 3;
	e.id = "ev-1";
	e.id_len = 4;
	e.stream = "account-42";
	e.stream_len = 10;
	e.type = "deposit";
	e.type_len = 7;
	e.actor = "";
	e.session = "s\"1";
	e.session_len = 3;
	e.time = INT64_C(1735725600000000);        /* 2025-01-01T10:00:00Z */
	e.recorded = INT64_C(1735725601500000);
	e.data = data;
	e.data_len = sizeof data - 1;
	e.meta = meta;
	e.meta_len = sizeof meta - 1;
	return e;
}

/* ------------------------------------------------------------ parsing */

static void test_envelope_paths_parse_to_their_roots(void **state)
{
	(void)state;
	static const struct { const char *text; int root; } cases[] = {
		{ "\"stream\"", EG_PATH_STREAM }, { "\"type\"", EG_PATH_TYPE },
		{ "\"actor\"", EG_PATH_ACTOR }, { "\"session\"", EG_PATH_SESSION },
		{ "\"time\"", EG_PATH_TIME }, { "\"recorded\"", EG_PATH_RECORDED },
		{ "\"id\"", EG_PATH_ID }, { "\"version\"", EG_PATH_VERSION },
		{ "\"pos\"", EG_PATH_POS },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		eg_path p;
		char why[400] = "";
		assert_int_equal(parse(cases[i].text, &p, why, sizeof why), 0);
		assert_int_equal(p.root, cases[i].root);
		assert_int_equal(p.nseg, 0);
		assert_string_equal(why, "");
		eg_path_free(&p);
	}
}

static void test_data_and_meta_paths_split_at_dots(void **state)
{
	(void)state;
	eg_path p;
	char why[400];
	assert_int_equal(parse("\"data.a.b\"", &p, why, sizeof why), 0);
	assert_int_equal(p.root, EG_PATH_DATA);
	assert_string_equal(p.text, "data.a.b");
	assert_int_equal(p.nseg, 2);
	assert_string_equal(p.seg[0], "a");
	assert_string_equal(p.seg[1], "b");
	eg_path_free(&p);

	assert_int_equal(parse("\"meta.trace\"", &p, why, sizeof why), 0);
	assert_int_equal(p.root, EG_PATH_META);
	assert_int_equal(p.nseg, 1);
	assert_string_equal(p.seg[0], "trace");
	eg_path_free(&p);

	/* the path is a JSON string: escapes are decoded before splitting */
	assert_int_equal(parse("\"data.\\u0061mount\"", &p, why, sizeof why), 0);
	assert_string_equal(p.text, "data.amount");
	assert_string_equal(p.seg[0], "amount");
	eg_path_free(&p);
}

static void test_parse_errors_say_what_is_allowed(void **state)
{
	(void)state;
	eg_path p;
	char why[400];

	json_span num = { "42", 2, JSON_NUMBER };
	assert_int_equal(eg_path_parse(&num, &p, why, sizeof why), -1);
	assert_non_null(strstr(why, "expected a field path: stream, type"));
	assert_null(strstr(why, "got"));
	eg_path_free(&p);

	assert_int_equal(parse("\"amount\"", &p, why, sizeof why), -1);
	assert_non_null(strstr(why, "expected a field path"));
	assert_non_null(strstr(why, "data.NAME[.NAME...]"));
	assert_non_null(strstr(why, "; got \"amount\""));
	eg_path_free(&p);

	/* a root alone is not a path into the payload */
	assert_int_equal(parse("\"data\"", &p, why, sizeof why), -1);
	assert_non_null(strstr(why, "got \"data\""));
	eg_path_free(&p);

	/* envelope names are exact: no members under them, no other case */
	assert_int_equal(parse("\"stream.x\"", &p, why, sizeof why), -1);
	eg_path_free(&p);
	assert_int_equal(parse("\"Type\"", &p, why, sizeof why), -1);
	eg_path_free(&p);

	static const char *const empties[] = { "\"data.\"", "\"data..a\"", "\"meta.a.\"",
					       "\"data.a..b\"" };
	for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
		assert_int_equal(parse(empties[i], &p, why, sizeof why), -1);
		assert_non_null(strstr(why, "empty member name in \""));
		eg_path_free(&p);                 /* frees what was split so far */
	}
	assert_int_equal(parse("\"data.a..b\"", &p, why, sizeof why), -1);
	assert_non_null(strstr(why, "empty member name in \"data.a..b\"; expected a field path"));
	eg_path_free(&p);
}

static void test_a_short_message_buffer_is_cut_not_overrun(void **state)
{
	(void)state;
	eg_path p;
	char why[12];
	memset(why, 'x', sizeof why);
	assert_int_equal(parse("\"nope\"", &p, why, 8), -1);
	assert_string_equal(why, "expecte");
	assert_int_equal(why[8], 'x');
	eg_path_free(&p);
}

/* ------------------------------------------------------------ lookups */

static void test_get_follows_nested_members(void **state)
{
	(void)state;
	eg_event e = sample();
	eg_path p;
	char why[400];
	json_span v;

	assert_int_equal(parse("\"data.a.b\"", &p, why, sizeof why), 0);
	assert_int_equal(eg_path_get(&e, &p, &v), 1);
	assert_int_equal(v.type, JSON_NUMBER);
	assert_int_equal(v.n, 2);
	assert_memory_equal(v.p, "42", 2);
	eg_path_free(&p);

	assert_int_equal(parse("\"data.a\"", &p, why, sizeof why), 0);
	assert_int_equal(eg_path_get(&e, &p, &v), 1);
	assert_int_equal(v.type, JSON_OBJECT);
	assert_int_equal(v.n, strlen("{\"b\":42,\"n\":null}"));
	eg_path_free(&p);

	assert_int_equal(parse("\"meta.trace\"", &p, why, sizeof why), 0);
	assert_int_equal(eg_path_get(&e, &p, &v), 1);
	assert_int_equal(v.type, JSON_STRING);
	assert_memory_equal(v.p, "\"t-1\"", 5);
	eg_path_free(&p);
}

static void test_get_finds_nothing_for_absent_null_or_envelope(void **state)
{
	(void)state;
	eg_event e = sample();
	eg_path p;
	char why[400];
	json_span v = { "untouched", 9, JSON_STRING };
	static const char *const none[] = { "\"data.missing\"", "\"data.a.n\"",
					     "\"data.a.b.c\"", "\"data.amount.x\"",
					     "\"meta.other\"", "\"stream\"", "\"time\"" };
	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		assert_int_equal(parse(none[i], &p, why, sizeof why), 0);
		assert_int_equal(eg_path_get(&e, &p, &v), 0);
		eg_path_free(&p);
	}
	assert_memory_equal(v.p, "untouched", 9);

	/* an event without meta has nothing under it */
	e.meta = "";
	e.meta_len = 0;
	assert_int_equal(parse("\"meta.trace\"", &p, why, sizeof why), 0);
	assert_int_equal(eg_path_get(&e, &p, &v), 0);
	eg_path_free(&p);
}

/* --------------------------------------------------------------- JSON */

static void test_json_of_envelope_fields(void **state)
{
	(void)state;
	eg_event e = sample();
	assert_json(&e, "\"stream\"", "\"account-42\"");
	assert_json(&e, "\"type\"", "\"deposit\"");
	assert_json(&e, "\"id\"", "\"ev-1\"");
	assert_json(&e, "\"session\"", "\"s\\\"1\"");
	assert_json(&e, "\"actor\"", "null");            /* empty is absent */
	assert_json(&e, "\"time\"", "\"2025-01-01T10:00:00.000000Z\"");
	assert_json(&e, "\"recorded\"", "\"2025-01-01T10:00:01.500000Z\"");
	assert_json(&e, "\"pos\"", "7");
	assert_json(&e, "\"version\"", "3");
	e.version = 0;                                     /* no stream: no version */
	assert_json(&e, "\"version\"", "null");
}

static void test_json_of_payload_paths(void **state)
{
	(void)state;
	eg_event e = sample();
	assert_json(&e, "\"data.a.b\"", "42");
	assert_json(&e, "\"data.a\"", "{\"b\":42,\"n\":null}");
	assert_json(&e, "\"data.s\"", "\"x\\\"y\"");
	assert_json(&e, "\"data.a.n\"", "null");
	assert_json(&e, "\"data.nothing\"", "null");
	assert_json(&e, "\"meta.trace\"", "\"t-1\"");
}

static void test_json_uses_a_value_found_already(void **state)
{
	(void)state;
	eg_event e = sample();
	eg_path p;
	char why[400];
	assert_int_equal(parse("\"data.amount\"", &p, why, sizeof why), 0);
	json_span found = { "99", 2, JSON_NUMBER };
	char *got = json_of(&e, &p, &found);
	assert_string_equal(got, "99");
	free(got);
	json_span absent = { NULL, 0, JSON_NULL };
	got = json_of(&e, &p, &absent);
	assert_string_equal(got, "null");
	free(got);
	got = json_of(&e, &p, NULL);
	assert_string_equal(got, "12.5");
	free(got);
	eg_path_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_paths_parse_to_their_roots),
		cmocka_unit_test(test_data_and_meta_paths_split_at_dots),
		cmocka_unit_test(test_parse_errors_say_what_is_allowed),
		cmocka_unit_test(test_a_short_message_buffer_is_cut_not_overrun),
		cmocka_unit_test(test_get_follows_nested_members),
		cmocka_unit_test(test_get_finds_nothing_for_absent_null_or_envelope),
		cmocka_unit_test(test_json_of_envelope_fields),
		cmocka_unit_test(test_json_of_payload_paths),
		cmocka_unit_test(test_json_uses_a_value_found_already),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

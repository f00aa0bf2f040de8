/*
 * test_map.c — mappings as a specification: the built-in Segment and
 * Snowplow mappings fill each envelope field from the producer's own
 * names, fallbacks go in order, data and meta are built as documented, a
 * mapped field is checked as the envelope's is and names its source, and
 * every bad mapping file is refused naming the member.
 */
#include "testutil.h"
#include "engram.h"

#include <time.h>

/* ------------------------------------------------------------ fixture */

typedef tu_fx fx;

/* What an event read back looks like, as NUL-terminated text. */
typedef struct got {
	char id[80], stream[128], type[128], actor[128], session[128];
	char data[2048], meta[2048];
	int64_t time;
	int kind;
} got;

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	assert_true(n < cap);
	memcpy(dst, s, n);
	dst[n] = 0;
}

static eg_map *compile(const char *json)
{
	eg_map *m = NULL;
	char err[256];
	int rc = eg_map_parse(json, strlen(json), &m, err, sizeof err);
	if (rc != EG_OK)
		fail_msg("mapping %s: %s", json, err);
	return m;
}

static eg_map *builtin(const char *name)
{
	eg_map *m = NULL;
	assert_int_equal(eg_map_builtin(name, &m), EG_OK);
	return m;
}

/* Add one line through the map (opts may set a default type); EG_OK and
 * the event read back in *g, or the error with its message in msg. */
static int map_line_opts(fx *f, eg_map *m, const char *line, const char *def_type,
			 got *g, char *msg, size_t cap)
{
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1, .map = m, .default_type = def_type };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	int rc = eg_batch_add_json(b, line, strlen(line));
	if (rc != EG_OK) {
		if (msg)
			snprintf(msg, cap, "%s", eg_errmsg(st));
		eg_batch_abort(b);
		eg_store_close(st);
		return rc;
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	eg_iter *it;
	eg_filter flt = { .from = r.last_pos, .to = r.last_pos };
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	const eg_event *e;
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	memset(g, 0, sizeof *g);
	copy_str(g->id, sizeof g->id, e->id, e->id_len);
	copy_str(g->stream, sizeof g->stream, e->stream, e->stream_len);
	copy_str(g->type, sizeof g->type, e->type, e->type_len);
	copy_str(g->actor, sizeof g->actor, e->actor, e->actor_len);
	copy_str(g->session, sizeof g->session, e->session, e->session_len);
	copy_str(g->data, sizeof g->data, e->data, e->data_len);
	copy_str(g->meta, sizeof g->meta, e->meta, e->meta_len);
	g->time = e->time;
	g->kind = e->kind;
	eg_iter_free(it);
	eg_store_close(st);
	return EG_OK;
}

static void map_ok(fx *f, eg_map *m, const char *line, got *g)
{
	char msg[1024];
	int rc = map_line_opts(f, m, line, NULL, g, msg, sizeof msg);
	if (rc != EG_OK)
		fail_msg("mapping %s: %s: %s", line, eg_strerror(rc), msg);
}

/* The line must be refused with a message containing want. */
static void map_refused(fx *f, eg_map *m, const char *line, const char *want)
{
	got g;
	char msg[1024] = "";
	int rc = map_line_opts(f, m, line, NULL, &g, msg, sizeof msg);
	if (rc != EG_EINVAL)
		fail_msg("%s: expected EG_EINVAL, got %s", line, eg_strerror(rc));
	if (!strstr(msg, want))
		fail_msg("%s: message '%s' lacks '%s'", line, msg, want);
}

static int64_t at(const char *rfc3339_utc_ms)
{
	/* 2025-01-16T22:04:00.108Z */
	struct tm tm = { 0 };
	int ms = 0;
	sscanf(rfc3339_utc_ms, "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + ms * 1000;
}

/* ---------------------------------------------------------- segment */

static const char *const SEG_TRACK =
	"{\"messageId\":\"m-1\",\"type\":\"track\",\"event\":\"Product Clicked\","
	"\"userId\":\"user-7\",\"anonymousId\":\"anon-7\",\"timestamp\":\"2025-01-16T22:04:00.108Z\","
	"\"sentAt\":\"2025-01-16T22:04:00.366Z\","
	"\"properties\":{\"product_id\":\"1004\",\"position\":5,\"session_id\":\"s-9\"},"
	"\"context\":{\"device\":{\"type\":\"web\"},\"page\":{\"path\":\"/\","
	"\"referrer\":\"https://www.google.com/\",\"url\":\"https://shop.example.com/\"}}}";

static void segment_track_maps_every_envelope_field(void **state)
{
	eg_map *m = builtin("segment");
	got g;
	map_ok(*state, m, SEG_TRACK, &g);
	assert_string_equal(g.id, "m-1");
	assert_string_equal(g.stream, "user-7");
	assert_string_equal(g.type, "Product Clicked");
	assert_string_equal(g.actor, "user-7");
	assert_string_equal(g.session, "s-9");
	assert_int_equal(g.kind, EG_KIND_EVENT);
	assert_true(g.time == at("2025-01-16T22:04:00.108Z"));
	assert_string_equal(g.data,
		"{\"product_id\":\"1004\",\"position\":5,\"session_id\":\"s-9\","
		"\"page_url\":\"https://shop.example.com/\",\"referrer\":\"https://www.google.com/\","
		"\"device\":\"web\",\"context\":{\"device\":{\"type\":\"web\"},\"page\":{\"path\":\"/\","
		"\"referrer\":\"https://www.google.com/\",\"url\":\"https://shop.example.com/\"}}}");
	assert_string_equal(g.meta, "{\"type\":\"track\",\"anonymousId\":\"anon-7\","
				    "\"sentAt\":\"2025-01-16T22:04:00.366Z\"}");
	eg_map_free(m);
}

static void segment_stream_falls_back_to_anonymous_id_when_user_id_is_absent_null_or_empty(void **state)
{
	eg_map *m = builtin("segment");
	const char *lines[] = {
		"{\"type\":\"page\",\"anonymousId\":\"anon-1\"}",
		"{\"type\":\"page\",\"userId\":null,\"anonymousId\":\"anon-1\"}",
		"{\"type\":\"page\",\"userId\":\"\",\"anonymousId\":\"anon-1\"}",
	};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		got g;
		map_ok(*state, m, lines[i], &g);
		assert_string_equal(g.stream, "anon-1");
		assert_string_equal(g.actor, "");
	}
	eg_map_free(m);
}

static void segment_type_is_event_else_name_else_the_call_type(void **state)
{
	eg_map *m = builtin("segment");
	got g;
	map_ok(*state, m, "{\"type\":\"screen\",\"name\":\"Home\",\"anonymousId\":\"a\"}", &g);
	assert_string_equal(g.type, "Home");
	map_ok(*state, m, "{\"type\":\"page\",\"anonymousId\":\"a\"}", &g);
	assert_string_equal(g.type, "page");
	map_ok(*state, m, "{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{\"email\":\"u@x\"}}", &g);
	assert_string_equal(g.type, "identify");
	assert_string_equal(g.data, "{\"email\":\"u@x\"}");
	eg_map_free(m);
}

static void segment_page_url_comes_from_properties_else_context_page(void **state)
{
	eg_map *m = builtin("segment");
	got g;
	map_ok(*state, m, "{\"type\":\"screen\",\"name\":\"Cart\",\"anonymousId\":\"a\","
		"\"context\":{\"page\":{\"url\":\"https://x/cart\"}}}", &g);
	assert_non_null(strstr(g.data, "\"page_url\":\"https://x/cart\""));
	map_ok(*state, m, "{\"type\":\"page\",\"anonymousId\":\"a\",\"properties\":{\"url\":\"https://x/p\"},"
		"\"context\":{\"page\":{\"url\":\"https://x/cart\"}}}", &g);
	assert_non_null(strstr(g.data, "\"page_url\":\"https://x/p\""));
	eg_map_free(m);
}

/* ---------------------------------------------------------- snowplow */

static const char *const SP_UNSTRUCT =
	"{\"app_id\":\"shop-web\",\"platform\":\"web\",\"collector_tstamp\":\"2025-01-16T22:06:20.845Z\","
	"\"dvce_created_tstamp\":\"2025-01-16T22:06:20.328Z\",\"derived_tstamp\":\"2025-01-16T22:06:20.450Z\","
	"\"event\":\"unstruct\",\"event_id\":\"e-1\",\"domain_userid\":\"d-1\",\"domain_sessionid\":\"s-1\","
	"\"page_url\":\"https://shop.example.com/p\",\"page_referrer\":\"https://shop.example.com/\","
	"\"unstruct_event\":{\"schema\":\"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0\","
	"\"data\":{\"schema\":\"iglu:com.snowplowanalytics.snowplow/site_search/jsonschema/1-0-0\","
	"\"data\":{\"terms\":[\"desk\",\"lamp\"],\"totalResults\":19}}},"
	"\"event_name\":\"site_search\"}";

static void snowplow_unstruct_event_spreads_its_self_describing_data(void **state)
{
	eg_map *m = builtin("snowplow");
	got g;
	map_ok(*state, m, SP_UNSTRUCT, &g);
	assert_string_equal(g.id, "e-1");
	assert_string_equal(g.stream, "d-1");
	assert_string_equal(g.type, "site_search");
	assert_string_equal(g.session, "s-1");
	assert_string_equal(g.actor, "");
	assert_true(g.time == at("2025-01-16T22:06:20.450Z"));
	assert_string_equal(g.data,
		"{\"terms\":[\"desk\",\"lamp\"],\"totalResults\":19,\"page_url\":\"https://shop.example.com/p\","
		"\"referrer\":\"https://shop.example.com/\",\"platform\":\"web\"}");
	assert_non_null(strstr(g.meta, "\"schema\":\"iglu:com.snowplowanalytics.snowplow/site_search/jsonschema/1-0-0\""));
	eg_map_free(m);
}

static void snowplow_time_falls_back_and_reads_a_zoneless_time_as_utc(void **state)
{
	eg_map *m = builtin("snowplow");
	got g;
	map_ok(*state, m, "{\"event_name\":\"page_view\",\"collector_tstamp\":\"2025-01-17 11:15:18.940\"}", &g);
	assert_true(g.time == at("2025-01-17T11:15:18.940Z"));
	map_ok(*state, m, "{\"event_name\":\"page_view\",\"derived_tstamp\":null,"
		"\"dvce_created_tstamp\":\"2025-01-17T11:15:18.5+01:00\","
		"\"collector_tstamp\":\"2025-01-17 11:15:18.940\"}", &g);
	assert_true(g.time == at("2025-01-17T10:15:18.500Z"));
	eg_map_free(m);
}

static void snowplow_user_id_wins_over_domain_userid(void **state)
{
	eg_map *m = builtin("snowplow");
	got g;
	map_ok(*state, m, "{\"event_name\":\"e\",\"user_id\":\"u-1\",\"domain_userid\":\"d-1\"}", &g);
	assert_string_equal(g.stream, "u-1");
	assert_string_equal(g.actor, "u-1");
	eg_map_free(m);
}

/* ---------------------------------------------------------- the language */

static void named_data_member_overrides_the_spread_member_of_the_same_name(void **state)
{
	eg_map *m = compile("{\"type\":\"t\",\"data\":{\"*\":\"p\",\"a\":\"x\"}}");
	got g;
	map_ok(*state, m, "{\"t\":\"e\",\"p\":{\"a\":1,\"b\":2},\"x\":3}", &g);
	assert_string_equal(g.data, "{\"b\":2,\"a\":3}");
	/* absent named member: the spread one stays */
	map_ok(*state, m, "{\"t\":\"e\",\"p\":{\"a\":1,\"b\":2}}", &g);
	assert_string_equal(g.data, "{\"a\":1,\"b\":2}");
	eg_map_free(m);
}

static void empty_string_is_kept_in_data_but_skipped_for_envelope_strings(void **state)
{
	eg_map *m = compile("{\"type\":[\"t\",\"u\"],\"stream\":[\"s\",\"a\"],"
			    "\"data\":{\"r\":[\"r\",\"q\"]}}");
	got g;
	map_ok(*state, m, "{\"t\":\"\",\"u\":\"e\",\"s\":\"\",\"a\":\"anon\",\"r\":\"\",\"q\":\"x\"}", &g);
	assert_string_equal(g.type, "e");
	assert_string_equal(g.stream, "anon");
	assert_string_equal(g.data, "{\"r\":\"\"}");
	eg_map_free(m);
}

static void data_given_as_a_path_is_that_object(void **state)
{
	eg_map *m = compile("{\"type\":\"t\",\"data\":[\"props\",\"traits\"]}");
	got g;
	map_ok(*state, m, "{\"t\":\"e\",\"traits\":{ \"a\" : [1, 2] }}", &g);
	assert_string_equal(g.data, "{\"a\":[1,2]}");
	eg_map_free(m);
}

static void numeric_member_names_index_arrays(void **state)
{
	eg_map *m = compile("{\"type\":\"t\",\"data\":{\"d\":\"c.data.1.v\",\"o\":\"obj.0\"}}");
	got g;
	map_ok(*state, m, "{\"t\":\"e\",\"c\":{\"data\":[{\"v\":1},{\"v\":2}]},\"obj\":{\"0\":\"zero\"}}", &g);
	assert_string_equal(g.data, "{\"d\":2,\"o\":\"zero\"}");
	eg_map_free(m);
}

static void constant_value_fills_a_field_when_no_path_is_present(void **state)
{
	eg_map *m = compile("{\"type\":[\"event\",{\"value\":\"unknown\"}],\"kind\":{\"value\":\"metric\"},"
			    "\"data\":{\"source\":{\"value\":{\"n\":1}},\"value\":\"x\"}}");
	got g;
	/* a metric's data needs its value (checked at append): from x */
	map_ok(*state, m, "{\"x\":1}", &g);
	assert_string_equal(g.type, "unknown");
	assert_int_equal(g.kind, EG_KIND_METRIC);
	assert_string_equal(g.data, "{\"source\":{\"n\":1},\"value\":1}");
	map_ok(*state, m, "{\"event\":\"hit\",\"x\":2}", &g);
	assert_string_equal(g.type, "hit");
	eg_map_free(m);
}

static void number_is_taken_as_text_for_string_fields(void **state)
{
	eg_map *m = compile("{\"type\":\"t\",\"stream\":\"uid\",\"time\":\"ts\"}");
	got g;
	map_ok(*state, m, "{\"t\":\"e\",\"uid\":42,\"ts\":1737108918940}", &g);
	assert_string_equal(g.stream, "42");
	assert_true(g.time == at("2025-01-17T10:15:18.940Z"));
	eg_map_free(m);
}

static void escaped_keys_in_the_line_match_paths(void **state)
{
	eg_map *m = compile("{\"type\":\"ev\\u0065nt\",\"data\":{\"k\":\"a.b\"}}");
	got g;
	map_ok(*state, m, "{\"\\u0065vent\":\"x\",\"\\u0061\":{\"b\":7}}", &g);
	assert_string_equal(g.type, "x");
	assert_string_equal(g.data, "{\"k\":7}");
	eg_map_free(m);
}

/* ---------------------------------------------------------- bad lines */

static void line_without_type_names_the_paths_tried(void **state)
{
	eg_map *m = builtin("segment");
	map_refused(*state, m, "{\"messageId\":\"m\",\"anonymousId\":\"a\"}",
		    "field \"type\": none of event, name, type is present");
	eg_map_free(m);
}

static void line_without_type_takes_the_default_type(void **state)
{
	eg_map *m = builtin("segment");
	got g;
	assert_int_equal(map_line_opts(*state, m, "{\"anonymousId\":\"a\"}", "hit", &g, NULL, 0), EG_OK);
	assert_string_equal(g.type, "hit");
	eg_map_free(m);
}

static void mapped_field_of_the_wrong_type_names_its_source(void **state)
{
	eg_map *m = builtin("segment");
	map_refused(*state, m, "{\"type\":\"page\",\"userId\":{\"id\":1}}",
		    "field \"stream\" (from userId): expected a string");
	map_refused(*state, m, "{\"type\":\"page\",\"timestamp\":\"yesterday\"}",
		    "field \"time\" (from timestamp): expected an RFC 3339 time");
	eg_map_free(m);
}

static void spread_of_a_value_that_is_not_an_object_is_refused(void **state)
{
	eg_map *m = builtin("segment");
	map_refused(*state, m, "{\"type\":\"page\",\"properties\":[1]}",
		    "field \"data\": expected properties to be a JSON object");
	eg_map_free(m);
}

static void invalid_json_in_an_unmapped_member_is_refused(void **state)
{
	eg_map *m = builtin("segment");
	map_refused(*state, m, "{\"type\":\"page\",\"other\":{\"a\":tru}}", "invalid JSON");
	map_refused(*state, m, "{\"type\":\"page\",\"other\":\"\xff\"}", "invalid JSON");
	map_refused(*state, m, "[1]", "expected a JSON object");
	eg_map_free(m);
}

typedef struct badlog {
	int n;
	uint64_t line[8];
	char text[8][256];
} badlog;

static int note_bad(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	(void)msg;
	badlog *l = ctx;
	l->line[l->n] = line;
	copy_str(l->text[l->n], sizeof l->text[l->n], text, len);
	l->n++;
	return 0;
}

static void bulk_add_maps_on_the_parsing_thread_and_hands_bad_lines_back_as_given(void **state)
{
	fx *f = *state;
	eg_map *m = builtin("segment");
	const char *in = "{\"messageId\":\"1\",\"type\":\"track\",\"event\":\"A\",\"userId\":\"u\"}\n"
			 "{\"messageId\":\"2\",\"userId\":\"u\"}\n"
			 "{\"messageId\":\"3\",\"type\":\"page\",\"name\":\"B\",\"userId\":\"u\"}\n";
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1, .map = m };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	badlog l = { 0 };
	uint64_t lines;
	assert_int_equal(eg_batch_add_ndjson(b, in, strlen(in), note_bad, &l, &lines), EG_OK);
	assert_int_equal(lines, 3);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.line[0], 1);
	assert_string_equal(l.text[0], "{\"messageId\":\"2\",\"userId\":\"u\"}");
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	assert_int_equal(r.appended, 2);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	const eg_event *e;
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_int_equal(e->type_len, 1);
	assert_memory_equal(e->type, "A", 1);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_memory_equal(e->type, "B", 1);
	assert_int_equal(e->version, 2);
	assert_int_equal(eg_iter_next(it, &e), EG_END);
	eg_iter_free(it);
	eg_store_close(st);
	eg_map_free(m);
}

/* ---------------------------------------------------------- mapping files */

static void builtins_are_mapping_files_that_compile(void **state)
{
	(void)state;
	const char *names[] = { "segment", "snowplow" };
	for (int i = 0; i < 2; i++) {
		const char *json = eg_map_builtin_json(names[i]);
		assert_non_null(json);
		eg_map_free(compile(json));
	}
	eg_map *m = (eg_map *)1;
	assert_int_equal(eg_map_builtin("amplitude", &m), EG_ENOTFOUND);
	assert_null(m);
	assert_null(eg_map_builtin_json("amplitude"));
}

static void bad_mapping_files_are_refused_naming_the_member(void **state)
{
	(void)state;
	static const struct { const char *json, *want; } cases[] = {
		{ "[]", "expected a JSON object of envelope fields" },
		{ "{\"type\":\"t\"", "invalid JSON" },
		{ "{\"colour\":\"c\"}", "colour: unknown envelope field" },
		{ "{\"pos\":\"p\"}", "pos: unknown envelope field" },
		{ "{\"stream\":5}", "stream: expected a path or an array of paths" },
		{ "{\"stream\":null}", "stream: expected a path or an array of paths" },
		{ "{\"stream\":\"\"}", "stream: expected a path, got an empty string" },
		{ "{\"stream\":\"a..b\"}", "stream: path \"a..b\" has an empty member name" },
		{ "{\"stream\":\"a.\"}", "stream: path \"a.\" has an empty member name" },
		{ "{\"stream\":[]}", "stream: expected a path or an array of paths, got []" },
		{ "{\"stream\":[\"a\",7]}", "stream[1]: expected a path or {\"value\": ...}" },
		{ "{\"stream\":[\"a\",[\"b\"]]}", "stream[1]: expected a path or {\"value\": ...}" },
		{ "{\"type\":{\"val\":\"x\"}}", "type: expected a path or {\"value\": ...} (a constant)" },
		{ "{\"type\":{}}", "type: expected a path or {\"value\": ...}, got {}" },
		{ "{\"type\":{\"value\":1}}", "type.value: expected a string" },
		{ "{\"time\":{\"value\":true}}", "time.value: expected an RFC 3339 string" },
		{ "{\"type\":\"a\",\"type\":\"b\"}", "type: given twice" },
		{ "{\"data\":5}", "data: expected an object of members, a path or an array of paths" },
		{ "{\"data\":{\"a\":5}}", "data.a: expected a path or an array of paths" },
		{ "{\"meta\":{\"a\":\"x\",\"a\":\"y\"}}", "meta.a: given twice" },
		{ "{\"data\":{\"*\":{\"value\":1}}}", "data.*.value: expected a JSON object" },
		{ "{\"data\":{\"x\":[\"a\",\"\"]}}", "data.x[1]: expected a path, got an empty string" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		eg_map *m = (eg_map *)1;
		char err[256] = "";
		int rc = eg_map_parse(cases[i].json, strlen(cases[i].json), &m, err, sizeof err);
		if (rc != EG_EINVAL || m)
			fail_msg("%s: expected EG_EINVAL, got %s", cases[i].json, eg_strerror(rc));
		if (strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("%s: message '%s' does not start with '%s'", cases[i].json, err,
				 cases[i].want);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(segment_track_maps_every_envelope_field),
		T(segment_stream_falls_back_to_anonymous_id_when_user_id_is_absent_null_or_empty),
		T(segment_type_is_event_else_name_else_the_call_type),
		T(segment_page_url_comes_from_properties_else_context_page),
		T(snowplow_unstruct_event_spreads_its_self_describing_data),
		T(snowplow_time_falls_back_and_reads_a_zoneless_time_as_utc),
		T(snowplow_user_id_wins_over_domain_userid),
		T(named_data_member_overrides_the_spread_member_of_the_same_name),
		T(empty_string_is_kept_in_data_but_skipped_for_envelope_strings),
		T(data_given_as_a_path_is_that_object),
		T(numeric_member_names_index_arrays),
		T(constant_value_fills_a_field_when_no_path_is_present),
		T(number_is_taken_as_text_for_string_fields),
		T(escaped_keys_in_the_line_match_paths),
		T(line_without_type_names_the_paths_tried),
		T(line_without_type_takes_the_default_type),
		T(mapped_field_of_the_wrong_type_names_its_source),
		T(spread_of_a_value_that_is_not_an_object_is_refused),
		T(invalid_json_in_an_unmapped_member_is_refused),
		T(bulk_add_maps_on_the_parsing_thread_and_hands_bad_lines_back_as_given),
		T(builtins_are_mapping_files_that_compile),
		T(bad_mapping_files_are_refused_naming_the_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schema.c — the schema language as a specification: for every
 * keyword, instances that pass and that fail with the pointer, keyword
 * and message of each failure; every compile error with its schema path;
 * JSON equality, exact multipleOf, code-point lengths, recursion on deep
 * instances and a large uniqueItems array.
 */
#include "schema.h"
#include "testutil.h"

#include <time.h>


/* One case: schema, instance, and the expected first error ("" pointer
 * and NULL keyword for a valid instance). */
struct vcase {
	const char *schema, *inst, *ptr, *kw, *msg;
};

static void run_cases(const struct vcase *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct vcase *c = &cs[i];
		eg_schema *s = compile_ok(c->schema);
		eg_schema_error errs[4];
		size_t ne = 99;
		int r = eg_schema_validate(s, c->inst, strlen(c->inst), errs, 4, &ne);
		if (!c->kw) {
			if (r != 0)
				fail_msg("case %zu: %s rejected %s: %s %s %s", i, c->schema, c->inst,
					 errs[0].pointer, errs[0].keyword, errs[0].message);
			assert_int_equal(ne, 0);
		} else {
			if (r != 1 || ne < 1)
				fail_msg("case %zu: %s accepted %s", i, c->schema, c->inst);
			if (strcmp(errs[0].pointer, c->ptr) || strcmp(errs[0].keyword, c->kw) ||
			    (c->msg && strcmp(errs[0].message, c->msg)))
				fail_msg("case %zu: %s on %s: got [%s] %s: %s", i, c->schema, c->inst,
					 errs[0].pointer, errs[0].keyword, errs[0].message);
			/* The verdict alone agrees. */
			assert_int_equal(eg_schema_validate(s, c->inst, strlen(c->inst), NULL, 0, NULL), 1);
		}
		eg_schema_free(s);
	}
}

#define RUN(cs) run_cases(cs, sizeof cs / sizeof cs[0])
#define OK NULL, NULL, NULL

static void type_keyword(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"type\":\"string\"}", "\"a\"", OK },
		{ "{\"type\":\"string\"}", "1", "", "type", "expected string, got number" },
		{ "{\"type\":\"integer\"}", "1", OK },
		{ "{\"type\":\"integer\"}", "1.0", OK },
		{ "{\"type\":\"integer\"}", "1e2", OK },
		{ "{\"type\":\"integer\"}", "1.5", "", "type", "expected integer, got number" },
		{ "{\"type\":\"integer\"}", "1.5e1", OK },
		{ "{\"type\":\"number\"}", "3", OK },
		{ "{\"type\":[\"string\",\"null\"]}", "null", OK },
		{ "{\"type\":[\"string\",\"null\"]}", "true", "", "type", "expected null or string, got boolean" },
		{ "{\"type\":\"object\"}", "[]", "", "type", "expected object, got array" },
		{ "{\"type\":\"array\"}", "{}", "", "type", "expected array, got object" },
		{ "{\"type\":\"boolean\"}", "false", OK },
		{ "{\"type\":\"null\"}", "0", "", "type", "expected null, got number" },
		{ "true", "{\"a\":[1]}", OK },
		{ "{}", "\"x\"", OK },
		{ "false", "1", "", "false", "no value is allowed here" },
	};
	(void)state;
	RUN(cs);
}

static void object_keywords(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"properties\":{\"a\":{\"type\":\"number\"}}}", "{\"a\":1,\"b\":\"x\"}", OK },
		{ "{\"properties\":{\"a\":{\"type\":\"number\"}}}", "{\"a\":\"x\"}", "/a", "type", NULL },
		{ "{\"properties\":{\"a\":{\"type\":\"number\"}}}", "5", OK },
		{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1,\"b\":null}", OK },
		{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", "", "required", "missing required property \"b\"" },
		{ "{\"additionalProperties\":false,\"properties\":{\"a\":{}}}", "{\"a\":1}", OK },
		{ "{\"additionalProperties\":false,\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2}", "/b",
		  "additionalProperties", "property \"b\" is not allowed" },
		{ "{\"additionalProperties\":{\"type\":\"string\"},\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2}",
		  "/b", "type", NULL },
		{ "{\"additionalProperties\":true}", "{\"a\":1}", OK },
		{ "{\"properties\":{\"o\":{\"properties\":{\"p\":{\"minimum\":0}}}}}", "{\"o\":{\"p\":-1}}",
		  "/o/p", "minimum", "expected a number >= 0, got -1" },
		{ "{\"properties\":{\"a/b\":{\"type\":\"string\"},\"c~d\":{\"type\":\"string\"}}}", "{\"a/b\":1}",
		  "/a~1b", "type", NULL },
		{ "{\"properties\":{\"a/b\":{\"type\":\"string\"},\"c~d\":{\"type\":\"string\"}}}", "{\"c~d\":1}",
		  "/c~0d", "type", NULL },
		{ "{\"properties\":{\"\\u00e9\":{\"type\":\"string\"}}}", "{\"\\u00e9\":1}", "/\xc3\xa9", "type", NULL },
		/* a member no schema covers, of any kind, and those after it */
		{ "{\"properties\":{\"b\":{\"type\":\"string\"}}}", "{\"a\":10,\"b\":5}", "/b", "type", NULL },
		{ "{\"properties\":{\"b\":{\"type\":\"string\"}}}", "{\"a\":true,\"b\":5}", "/b", "type", NULL },
		{ "{\"properties\":{\"b\":{\"type\":\"string\"}}}", "{\"a\" : -1.5e3 ,\"b\":5}", "/b", "type", NULL },
		{ "{\"properties\":{\"b\":{\"type\":\"string\"}}}", "{\"a\":[10,{\"c\":null}],\"b\":5}", "/b", "type", NULL },
		{ "{\"required\":[\"a\",\"c\"]}", "{\"a\":null,\"b\":false}", "", "required",
		  "missing required property \"c\"" },
		/* keyword order does not matter: required before properties */
		{ "{\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":\"x\"}", OK },
		{ "{\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":1}", "/a", "type", NULL },
		{ "{\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\"}}}", "{}", "", "required", NULL },
	};
	(void)state;
	RUN(cs);
}

static void number_keywords(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"minimum\":0}", "0", OK },
		{ "{\"minimum\":0}", "-5", "", "minimum", "expected a number >= 0, got -5" },
		{ "{\"maximum\":10}", "10.0", OK },
		{ "{\"maximum\":10}", "10.000000000000000000001", "", "maximum", NULL },
		{ "{\"exclusiveMinimum\":0}", "0", "", "exclusiveMinimum", "expected a number > 0, got 0" },
		{ "{\"exclusiveMinimum\":0}", "1e-300", OK },
		{ "{\"exclusiveMaximum\":1}", "1", "", "exclusiveMaximum", "expected a number < 1, got 1" },
		{ "{\"exclusiveMaximum\":1}", "0.99999", OK },
		{ "{\"minimum\":-1.5}", "-1.50", OK },
		{ "{\"minimum\":-1.5}", "-1.51", "", "minimum", NULL },
		{ "{\"maximum\":1e400}", "1e399", OK },
		{ "{\"multipleOf\":0.01}", "19.99", OK },
		{ "{\"multipleOf\":0.01}", "0.07", OK },
		{ "{\"multipleOf\":0.01}", "1e5", OK },
		{ "{\"multipleOf\":0.01}", "19.999", "", "multipleOf", "expected a multiple of 0.01, got 19.999" },
		{ "{\"multipleOf\":0.01}", "1e-9", "", "multipleOf", NULL },
		{ "{\"multipleOf\":1e-9}", "0.000000003", OK },
		{ "{\"multipleOf\":1e-9}", "3e-10", "", "multipleOf", NULL },
		{ "{\"multipleOf\":3}", "1e30", "", "multipleOf", NULL },
		{ "{\"multipleOf\":5}", "1e30", OK },
		{ "{\"multipleOf\":0.1}", "0.3", OK },
		{ "{\"multipleOf\":7}", "-14", OK },
		{ "{\"multipleOf\":7}", "0", OK },
		{ "{\"minimum\":0}", "\"x\"", OK },
	};
	(void)state;
	RUN(cs);
}

static void string_keywords(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"minLength\":2}", "\"ab\"", OK },
		{ "{\"minLength\":2}", "\"a\"", "", "minLength", "expected at least 2 characters, got 1" },
		{ "{\"maxLength\":1}", "\"\\u00e9\"", OK },
		{ "{\"maxLength\":1}", "\"\xc3\xa9\"", OK },
		{ "{\"maxLength\":1}", "\"\xf0\x9f\x98\x80\"", OK },
		{ "{\"maxLength\":1}", "\"\\ud83d\\ude00\"", OK },
		{ "{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", "", "maxLength", "expected at most 2 characters, got 3" },
		{ "{\"maxLength\":1}", "\"\\n\\t\"", "", "maxLength", NULL },
		/* two nodes on one value: a loose bound decided by the byte length
		 * must not stand in for the code points a tight one counts */
		{ "{\"$defs\":{\"a\":{\"maxLength\":100}},\"$ref\":\"#/$defs/a\",\"maxLength\":5,\"minLength\":5}",
		  "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", OK },
		{ "{\"$defs\":{\"a\":{\"maxLength\":100}},\"$ref\":\"#/$defs/a\",\"maxLength\":5}",
		  "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", "", "maxLength", "expected at most 5 characters, got 6" },
		{ "{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", OK },
		{ "{\"pattern\":\"^[a-z]+$\"}", "\"abC\"", "", "pattern", "expected a string matching /^[a-z]+$/, got \"abC\"" },
		{ "{\"pattern\":\"b\"}", "\"abc\"", OK },
		{ "{\"pattern\":\"^.$\"}", "\"\xc3\xa9\"", OK },
		{ "{\"pattern\":\"^a$\"}", "\"a\\n\"", "", "pattern", NULL },
		{ "{\"pattern\":\"^\\\\u0041$\"}", "\"A\"", OK },
		{ "{\"format\":\"date-time\"}", "\"2025-01-01T10:00:00Z\"", OK },
		{ "{\"format\":\"date-time\"}", "\"2025-01-01t10:00:00.5+02:00\"", OK },
		{ "{\"format\":\"date-time\"}", "\"2025-01-01 10:00:00Z\"", "", "format", NULL },
		{ "{\"format\":\"date-time\"}", "\"2025-02-30T10:00:00Z\"", "", "format",
		  "expected a date-time, got \"2025-02-30T10:00:00Z\"" },
		{ "{\"format\":\"date\"}", "\"2024-02-29\"", OK },
		{ "{\"format\":\"date\"}", "\"2023-02-29\"", "", "format", NULL },
		{ "{\"format\":\"email\"}", "\"a.b+c@example.com\"", OK },
		{ "{\"format\":\"email\"}", "\"a..b@example.com\"", "", "format", NULL },
		{ "{\"format\":\"email\"}", "\"ab@-example.com\"", "", "format", NULL },
		{ "{\"format\":\"email\"}", "\"no-at.example.com\"", "", "format", NULL },
		{ "{\"format\":\"uuid\"}", "\"0190f3a8-7c2e-7d4a-9b1e-1f2a3b4c5d6e\"", OK },
		{ "{\"format\":\"uuid\"}", "\"0190f3a8-7c2e-7d4a-9b1e-1f2a3b4c5d6\"", "", "format", NULL },
		{ "{\"format\":\"uri\"}", "\"https://example.com/a?b=c%20d\"", OK },
		{ "{\"format\":\"uri\"}", "\"urn:isbn:0451450523\"", OK },
		{ "{\"format\":\"uri\"}", "\"/relative/path\"", "", "format", NULL },
		{ "{\"format\":\"uri\"}", "\"http://a b\"", "", "format", NULL },
		{ "{\"format\":\"uri\"}", "\"http://a%zz\"", "", "format", NULL },
		{ "{\"format\":\"email\"}", "5", OK },
	};
	(void)state;
	RUN(cs);
}

static void array_keywords(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"items\":{\"type\":\"integer\"}}", "[1,2,3]", OK },
		{ "{\"items\":{\"type\":\"integer\"}}", "[1,2,\"x\"]", "/2", "type", NULL },
		{ "{\"minItems\":1}", "[]", "", "minItems", "expected at least 1 items, got 0" },
		{ "{\"maxItems\":1}", "[1,2]", "", "maxItems", "expected at most 1 items, got 2" },
		{ "{\"uniqueItems\":true}", "[1,2,3]", OK },
		{ "{\"uniqueItems\":true}", "[1,2,1.0]", "/2", "uniqueItems",
		  "expected unique items, but item 2 equals item 0" },
		{ "{\"uniqueItems\":true}", "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]", "/1", "uniqueItems", NULL },
		{ "{\"uniqueItems\":true}", "[{\"a\":1},{\"a\":2},\"a\",[\"a\"]]", OK },
		{ "{\"uniqueItems\":true}", "[\"\\u00e9\",\"\xc3\xa9\"]", "/1", "uniqueItems", NULL },
		{ "{\"uniqueItems\":false}", "[1,1]", OK },
		{ "{\"properties\":{\"items\":{\"items\":{\"properties\":{\"price\":{\"minimum\":0}}}}}}",
		  "{\"items\":[{\"price\":1},{\"price\":2},{\"price\":-5}]}", "/items/2/price", "minimum",
		  "expected a number >= 0, got -5" },
	};
	(void)state;
	RUN(cs);
}

static void const_and_enum_use_json_equality(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"const\":1}", "1.0", OK },
		{ "{\"const\":1}", "10e-1", OK },
		{ "{\"const\":1}", "2", "", "const", "expected 1, got 2" },
		{ "{\"const\":{\"a\":1,\"b\":[1,2]}}", "{\"b\":[1,2.0],\"a\":1}", OK },
		{ "{\"const\":{\"a\":1,\"b\":[1,2]}}", "{\"b\":[2,1],\"a\":1}", "", "const", NULL },
		{ "{\"const\":\"\\u00e9\"}", "\"\xc3\xa9\"", OK },
		{ "{\"const\":null}", "false", "", "const", NULL },
		{ "{\"const\":0}", "-0", OK },
		{ "{\"enum\":[\"a\",1,null]}", "1.00", OK },
		{ "{\"enum\":[\"a\",1,null]}", "\"b\"", "", "enum", "expected one of [\"a\",1,null], got \"b\"" },
		{ "{\"enum\":[{\"x\":1}]}", "{ \"x\" : 1 }", OK },
	};
	(void)state;
	RUN(cs);
}

static void refs_and_defs(void **state)
{
	static const struct vcase cs[] = {
		{ "{\"$defs\":{\"money\":{\"type\":\"number\",\"multipleOf\":0.01}},"
		  "\"properties\":{\"p\":{\"$ref\":\"#/$defs/money\"}}}", "{\"p\":1.25}", OK },
		{ "{\"$defs\":{\"money\":{\"type\":\"number\",\"multipleOf\":0.01}},"
		  "\"properties\":{\"p\":{\"$ref\":\"#/$defs/money\"}}}", "{\"p\":1.255}", "/p", "multipleOf", NULL },
		{ "{\"$defs\":{\"a\":{\"minimum\":1}},\"$ref\":\"#/$defs/a\",\"maximum\":3}", "4", "", "maximum", NULL },
		{ "{\"$defs\":{\"a\":{\"minimum\":1}},\"$ref\":\"#/$defs/a\",\"maximum\":3}", "0", "", "minimum", NULL },
		{ "{\"$defs\":{\"a/b\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/a~1b\"}", "1", "", "type", NULL },
		{ "{\"type\":\"object\",\"properties\":{\"kids\":{\"items\":{\"$ref\":\"#\"}}}}",
		  "{\"kids\":[{\"kids\":[]},{\"kids\":[5]}]}", "/kids/1/kids/0", "type", NULL },
		{ "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"x\",\"$comment\":\"c\","
		  "\"title\":\"t\",\"description\":\"d\",\"default\":{},\"x-personal\":true}", "1", OK },
	};
	(void)state;
	RUN(cs);
}

static void compile_errors_name_the_schema_path(void **state)
{
	static const struct { const char *doc, *err; } cs[] = {
		{ "{\"type\":", "(root): invalid JSON at byte 8" },
		{ "[]", "(root): expected a schema (an object or a boolean)" },
		{ "{\"patternProperties\":{}}", "/patternProperties: unknown keyword" },
		{ "{\"properties\":{\"a\":{\"oneOf\":[]}}}", "/properties/a/oneOf: unknown keyword" },
		{ "{\"properties\":{\"price\":{\"minimum\":\"0\"}}}", "/properties/price/minimum: expected a number" },
		{ "{\"type\":\"float\"}", "/type: unknown type \"float\"" },
		{ "{\"type\":[\"string\",3]}", "/type/1: expected a type name" },
		{ "{\"required\":\"a\"}", "/required: expected an array of property names" },
		{ "{\"additionalProperties\":1}", "/additionalProperties: expected a schema" },
		{ "{\"items\":[{}]}", "/items: expected a schema" },
		{ "{\"enum\":[]}", "/enum: expected a non-empty array" },
		{ "{\"uniqueItems\":1}", "/uniqueItems: expected a boolean" },
		{ "{\"$ref\":\"#/$defs/nope\"}", "/$ref: dangling $ref #/$defs/nope" },
		{ "{\"$ref\":\"other.json#/x\"}", "/$ref: unsupported $ref" },
		{ "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}", "/$defs/a/$ref: $ref cycle" },
		{ "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}}}", "/$defs/a/$ref: $ref cycle" },
		{ "{\"$ref\":\"#\"}", "/$ref: $ref cycle" },
		{ "{\"properties\":{\"a\":{\"$defs\":{}}}}", "/properties/a/$defs: $defs is allowed only at the top level" },
		{ "{\"pattern\":\"a(b\"}", "/pattern: invalid regular expression at offset 3: missing closing parenthesis" },
		{ "{\"minimum\":5,\"maximum\":3}", "/minimum: minimum 5 is greater than maximum 3" },
		{ "{\"minLength\":5,\"maxLength\":3}", "/minLength: minLength 5 is greater than maxLength 3" },
		{ "{\"minItems\":5,\"maxItems\":3}", "/minItems: minItems 5 is greater than maxItems 3" },
		{ "{\"minLength\":-1}", "/minLength: expected a non-negative integer" },
		{ "{\"maxItems\":1.5}", "/maxItems: expected a non-negative integer" },
		{ "{\"multipleOf\":0}", "/multipleOf: expected a number greater than 0" },
		{ "{\"multipleOf\":-2}", "/multipleOf: expected a number greater than 0" },
		{ "{\"format\":\"ipv4\"}", "/format: unknown format \"ipv4\"" },
		{ "{\"description\":1}", "/description: expected a string" },
		{ "{\"properties\":{\"a\":{},\"a\":{}}}", "/properties/a: property given twice" },
		{ "{\"required\":[\"a\"],\"properties\":{\"a\":{},\"a\":{}}}", "/properties/a: property given twice" },
		{ "{\"type\":\"string\",\"type\":\"number\"}", "/type: keyword given twice" },
		{ "{\"envelope\":{\"tenant\":{}}}", "/envelope/tenant: unknown envelope field" },
		{ "{\"envelope\":{\"required\":[\"tenant\"]}}", "/envelope/required: expected an array of actor" },
		{ "{\"properties\":{\"a\":{\"envelope\":{}}}}", "/properties/a/envelope: envelope is allowed only at the top level" },
		{ "{\"properties\":{\"a~b\":{\"maximum\":true}}}", "/properties/a~0b/maximum: expected a number" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		eg_schema *s = (eg_schema *)1;
		char err[512];
		if (eg_schema_compile(cs[i].doc, strlen(cs[i].doc), &s, err, sizeof err) == 0)
			fail_msg("case %zu: %s compiled", i, cs[i].doc);
		assert_null(s);
		if (strncmp(err, cs[i].err, strlen(cs[i].err)))
			fail_msg("case %zu: %s: got \"%s\", want \"%s...\"", i, cs[i].doc, err, cs[i].err);
	}
}

static void annotations_are_kept(void **state)
{
	eg_schema *s = compile_ok("{\"x-subject\":\"user\",\"properties\":{\"email\":{\"type\":\"string\","
				  "\"x-personal\":true,\"default\":\"n/a\",\"description\":\"mail\"}},"
				  "\"$defs\":{\"m\":{\"default\":0}}}");
	size_t n = 0;
	const char *a;

	(void)state;
	a = eg_schema_annotation(s, "", "x-subject", &n);
	assert_non_null(a);
	assert_int_equal(n, 6);
	assert_memory_equal(a, "\"user\"", 6);
	a = eg_schema_annotation(s, "/properties/email", "x-personal", &n);
	assert_non_null(a);
	assert_memory_equal(a, "true", 4);
	a = eg_schema_annotation(s, "/properties/email", "default", &n);
	assert_non_null(a);
	assert_memory_equal(a, "\"n/a\"", 5);
	assert_non_null(eg_schema_annotation(s, "/$defs/m", "default", &n));
	assert_null(eg_schema_annotation(s, "/properties/email", "x-subject", &n));
	eg_schema_free(s);
}

static void envelope_fields(void **state)
{
	eg_schema *s = compile_ok("{\"envelope\":{\"actor\":{\"pattern\":\"^user-[0-9]+$\"},"
				  "\"required\":[\"actor\"]}}");
	eg_schema_error e[2];
	size_t ne;

	(void)state;
	assert_int_equal(eg_schema_validate_envelope(s, "actor", "user-17", 7, e, 2, &ne), 0);
	assert_int_equal(eg_schema_validate_envelope(s, "actor", "bot", 3, e, 2, &ne), 1);
	assert_int_equal(ne, 1);
	assert_string_equal(e[0].pointer, "/actor");
	assert_string_equal(e[0].keyword, "pattern");
	assert_int_equal(eg_schema_validate_envelope(s, "actor", NULL, 0, e, 2, &ne), 1);
	assert_string_equal(e[0].keyword, "required");
	assert_int_equal(eg_schema_validate_envelope(s, "session", NULL, 0, e, 2, &ne), 0);
	assert_int_equal(eg_schema_validate_envelope(s, "stream", "x", 1, e, 2, &ne), 0);
	eg_schema_free(s);
}

static void reports_several_errors_and_stops_at_max(void **state)
{
	eg_schema *s = compile_ok("{\"items\":{\"type\":\"string\"}}");
	eg_schema_error e[2];
	size_t ne;

	(void)state;
	assert_int_equal(eg_schema_validate(s, "[1,2,3]", 7, e, 2, &ne), 1);
	assert_int_equal(ne, 2);
	assert_string_equal(e[0].pointer, "/0");
	assert_string_equal(e[1].pointer, "/1");
	eg_schema_free(s);
}

static void tree_ref_on_a_deep_instance(void **state)
{
	eg_schema *s = compile_ok("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":"
				  "{\"c\":{\"$ref\":\"#/$defs/node\"},\"v\":{\"type\":\"integer\"}}}},"
				  "\"$ref\":\"#/$defs/node\"}");
	char buf[8192];
	size_t n = 0;
	int depth = 250;
	eg_schema_error e[1];
	size_t ne;

	(void)state;
	for (int i = 0; i < depth; i++)
		n += (size_t)sprintf(buf + n, "{\"c\":");
	n += (size_t)sprintf(buf + n, "{\"v\":1.5}");
	for (int i = 0; i < depth; i++)
		buf[n++] = '}';
	assert_int_equal(eg_schema_validate(s, buf, n, e, 1, &ne), 1);
	assert_string_equal(e[0].keyword, "type");
	assert_int_equal(strlen(e[0].pointer), EG_SCHEMA_PTR_MAX - 1);   /* cut, with "..." */
	eg_schema_free(s);
}

static void deeper_than_json_allows_is_an_error_not_a_crash(void **state)
{
	eg_schema *s = compile_ok("{\"items\":{\"$ref\":\"#\"}}");
	char buf[1000];
	eg_schema_error e[1];
	size_t ne;

	(void)state;
	memset(buf, '[', 500);
	memset(buf + 500, ']', 500);
	assert_int_equal(eg_schema_validate(s, buf, sizeof buf, e, 1, &ne), 1);
	assert_string_equal(e[0].keyword, "depth");
	eg_schema_free(s);
}

static void large_unique_array_is_fast(void **state)
{
	eg_schema *s = compile_ok("{\"uniqueItems\":true}");
	size_t cap = 100000 * 24, n = 0;
	char *buf = malloc(cap);
	struct timespec t0, t1;

	(void)state;
	buf[n++] = '[';
	for (int i = 0; i < 100000; i++)
		n += (size_t)sprintf(buf + n, "%s{\"k\":%d}", i ? "," : "", i);
	buf[n++] = ']';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(eg_schema_validate(s, buf, n, NULL, 0, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (secs > 2.0)
		fail_msg("100k unique items took %.2f s", secs);
	/* A duplicate at the end is found. */
	n--;
	n += (size_t)sprintf(buf + n, ",{\"k\":5}]");
	eg_schema_error e[1];
	size_t ne;
	assert_int_equal(eg_schema_validate(s, buf, n, e, 1, &ne), 1);
	assert_string_equal(e[0].pointer, "/100000");
	free(buf);
	eg_schema_free(s);
}

static void catastrophic_pattern_does_not_stall(void **state)
{
	eg_schema *s = compile_ok("{\"pattern\":\"^(a+)+$\"}");
	char buf[64];
	eg_schema_error e[1];
	size_t ne;

	(void)state;
	memset(buf, 'a', sizeof buf);
	buf[0] = '"';
	buf[sizeof buf - 2] = 'b';
	buf[sizeof buf - 1] = '"';
	assert_int_equal(eg_schema_validate(s, buf, sizeof buf, e, 1, &ne), 1);
	assert_string_equal(e[0].keyword, "pattern");
	eg_schema_free(s);
}

/* The validator checks a string without escapes where it lies in the
 * text and decodes the others: the same value written either way (keys
 * too) gets the same verdict and the same errors, whose pointers name the
 * decoded keys (messages quote the raw text, so they are not compared). */
static void escaped_and_plain_text_get_the_same_errors(void **state)
{
	static const char *const schema =
		"{\"type\":\"object\",\"additionalProperties\":false,"
		"\"properties\":{\"name\":{\"enum\":[\"web\",\"\\u00e9t\\u00e9\",\"a\\\"b\"]},"
		"\"caf\\u00e9\":{\"type\":\"string\",\"pattern\":\"^[a-z\\u00e0-\\u00ff]{2,4}$\",\"maxLength\":3},"
		"\"url\":{\"format\":\"uri\",\"const\":\"https://a.b/\"},\"long_property_name\":{\"minLength\":2}},"
		"\"required\":[\"name\",\"caf\\u00e9\"]}";
	static const char *const pairs[][2] = {
		{ "{\"name\":\"web\",\"caf\xc3\xa9\":\"ab\"}", "{\"n\\u0061me\":\"w\\u0065b\",\"caf\\u00e9\":\"\\u0061b\"}" },
		{ "{\"name\":\"\xc3\xa9t\xc3\xa9\",\"caf\xc3\xa9\":\"\xc3\xa9t\xc3\xa9\"}",
		  "{\"name\":\"\\u00e9t\\u00e9\",\"caf\\u00e9\":\"\\u00e9t\\u00e9\"}" },
		{ "{\"name\":\"a\\\"b\",\"caf\xc3\xa9\":\"abcd\"}", "{\"name\":\"a\\u0022b\",\"caf\\u00e9\":\"ab\\u0063d\"}" },
		{ "{\"name\":\"ios\",\"cafe\":\"x\",\"url\":\"/rel\"}", "{\"nam\\u0065\":\"i\\u006fs\",\"caf\\u0065\":\"x\",\"ur\\u006c\":\"/rel\"}" },
		{ "{\"long_property_name\":\"x\",\"url\":\"https://a.b/\"}",
		  "{\"long_property_nam\\u0065\":\"\\u0078\",\"\\u0075rl\":\"https:\\/\\/a.b\\/\"}" },
		{ "{\"long_property_namf\":1,\"name\":\"WEB\"}", "{\"long_property_nam\\u0066\":1,\"name\":\"W\\u0045B\"}" },
	};
	eg_schema *s = compile_ok(schema);
	eg_schema_error a[8], b[8];
	size_t na, nb;

	(void)state;
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		int ra = eg_schema_validate(s, pairs[i][0], strlen(pairs[i][0]), a, 8, &na);
		int rb = eg_schema_validate(s, pairs[i][1], strlen(pairs[i][1]), b, 8, &nb);
		if (ra != rb || na != nb)
			fail_msg("pair %zu: %d with %zu errors, escaped %d with %zu", i, ra, na, rb, nb);
		for (size_t k = 0; k < na; k++)
			if (strcmp(a[k].pointer, b[k].pointer) || strcmp(a[k].keyword, b[k].keyword))
				fail_msg("pair %zu, error %zu: [%s] %s, escaped [%s] %s", i, k, a[k].pointer,
					 a[k].keyword, b[k].pointer, b[k].keyword);
	}
	/* and the pairs do exercise both verdicts */
	assert_int_equal(eg_schema_validate(s, pairs[0][1], strlen(pairs[0][1]), NULL, 0, NULL), 0);
	assert_int_equal(eg_schema_validate(s, pairs[3][1], strlen(pairs[3][1]), a, 8, &na), 1);
	assert_true(na >= 4);
	eg_schema_free(s);
}

/* required names are checked as a bit per name: up to 64 in one word,
 * more across several. */
static void many_required_names(void **state)
{
	char schema[4096], inst[4096];
	size_t sn = 0, in = 0;

	(void)state;
	sn += (size_t)snprintf(schema + sn, sizeof schema - sn, "{\"required\":[");
	in += (size_t)snprintf(inst + in, sizeof inst - in, "{");
	for (int i = 0; i < 70; i++) {
		sn += (size_t)snprintf(schema + sn, sizeof schema - sn, "%s\"r%d\"", i ? "," : "", i);
		if (i != 5 && i != 66)
			in += (size_t)snprintf(inst + in, sizeof inst - in, "%s\"r%d\":%d", in > 1 ? "," : "", i, i);
	}
	snprintf(schema + sn, sizeof schema - sn, "]}");
	snprintf(inst + in, sizeof inst - in, "}");
	eg_schema *s = compile_ok(schema);
	eg_schema_error e[4];
	size_t ne;
	assert_int_equal(eg_schema_validate(s, inst, strlen(inst), e, 4, &ne), 1);
	assert_int_equal(ne, 2);
	assert_string_equal(e[0].message, "missing required property \"r5\"");
	assert_string_equal(e[1].message, "missing required property \"r66\"");
	/* all 70 there: valid */
	inst[strlen(inst) - 1] = 0;
	strcat(inst, ",\"r5\":5,\"r66\":66}");
	assert_int_equal(eg_schema_validate(s, inst, strlen(inst), e, 4, &ne), 0);
	eg_schema_free(s);
	/* 64 exactly, all present: the one-word case */
	s = compile_ok("{\"required\":[\"a\"],\"properties\":{\"b\":{}}}");
	assert_int_equal(eg_schema_validate(s, "{\"b\":1,\"a\":2}", 13, NULL, 0, NULL), 0);
	assert_int_equal(eg_schema_validate(s, "{\"b\":1}", 7, NULL, 0, NULL), 1);
	eg_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(type_keyword),
		cmocka_unit_test(object_keywords),
		cmocka_unit_test(number_keywords),
		cmocka_unit_test(string_keywords),
		cmocka_unit_test(array_keywords),
		cmocka_unit_test(const_and_enum_use_json_equality),
		cmocka_unit_test(refs_and_defs),
		cmocka_unit_test(compile_errors_name_the_schema_path),
		cmocka_unit_test(annotations_are_kept),
		cmocka_unit_test(envelope_fields),
		cmocka_unit_test(reports_several_errors_and_stops_at_max),
		cmocka_unit_test(tree_ref_on_a_deep_instance),
		cmocka_unit_test(deeper_than_json_allows_is_an_error_not_a_crash),
		cmocka_unit_test(large_unique_array_is_fast),
		cmocka_unit_test(catastrophic_pattern_does_not_stall),
		cmocka_unit_test(escaped_and_plain_text_get_the_same_errors),
		cmocka_unit_test(many_required_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

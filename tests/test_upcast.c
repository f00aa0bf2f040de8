/*
 * test_upcast.c — upcast documents as a specification: each operation on
 * flat and nested data, '*' over arrays and objects, RFC 6901 escapes,
 * absent sources, replaced targets, exact scaling, split and join through
 * escapes and non-ASCII text, chains where order matters, every parse
 * error with its document path; and a property test on random data and
 * random operation lists.
 */
#include "testutil.h"
#include "json.h"
#include "upcast.h"

#include <time.h>

static eg_upcast *parse_ok(const char *doc)
{
	eg_upcast *u = NULL;
	char err[256];

	if (eg_upcast_parse(doc, strlen(doc), &u, err, sizeof err))
		fail_msg("upcast %s did not parse: %s", doc, err);
	return u;
}

/* One case: a document, data, and the expected result. */
struct acase {
	const char *doc, *data, *want;
};

static void run_cases(const struct acase *cs, size_t n)
{
	char *out = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < n; i++) {
		eg_upcast *u = parse_ok(cs[i].doc);
		size_t k = eg_upcast_apply(u, cs[i].data, strlen(cs[i].data), &out, &cap);
		if (k == (size_t)-1)
			fail_msg("case %zu: out of memory", i);
		if (k != strlen(cs[i].want) || memcmp(out, cs[i].want, k))
			fail_msg("case %zu: %s on %s\n  got  %.*s\n  want %s", i, cs[i].doc, cs[i].data,
				 (int)k, out, cs[i].want);
		assert_int_equal(eg_json_validate(out, k, NULL), 0);
		eg_upcast_free(u);
	}
	free(out);
}

#define RUN(cs) run_cases(cs, sizeof cs / sizeof cs[0])

static void rename_keeps_the_place_and_replaces_the_other(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"rename\",\"path\":\"/total\",\"to\":\"amount\"}]",
		  "{\"id\":1,\"total\":12.50,\"x\":true}", "{\"id\":1,\"amount\":12.50,\"x\":true}" },
		/* an existing member named `to` goes; the renamed one keeps its place */
		{ "[{\"op\":\"rename\",\"path\":\"/b\",\"to\":\"a\"}]",
		  "{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":2,\"c\":3}" },
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"c\"}]",
		  "{\"a\":1,\"b\":2,\"c\":3}", "{\"c\":1,\"b\":2}" },
		/* nested */
		{ "[{\"op\":\"rename\",\"path\":\"/c/e-mail\",\"to\":\"email\"}]",
		  "{\"c\":{\"e-mail\":\"x@y\",\"n\":1}}", "{\"c\":{\"email\":\"x@y\",\"n\":1}}" },
		/* absent: nothing */
		{ "[{\"op\":\"rename\",\"path\":\"/nope/x\",\"to\":\"y\"}]", "{\"a\":1}", "{\"a\":1}" },
		{ "[{\"op\":\"rename\",\"path\":\"/a/x\",\"to\":\"y\"}]", "{\"a\":[1]}", "{\"a\":[1]}" },
		/* to itself */
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"a\"}]", "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}" },
		/* a name needing escapes in JSON */
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"q\\\"\\u00e9\\n\"}]", "{\"a\":1}",
		  "{\"q\\\"\xc3\xa9\\n\":1}" },
		/* the member's key written with escapes is still found by name */
		{ "[{\"op\":\"rename\",\"path\":\"/\xc3\xa9\",\"to\":\"e\"}]", "{\"\\u00e9\":1}", "{\"e\":1}" },
	};
	(void)state;
	RUN(cs);
}

static void move_removes_the_source_and_creates_the_way(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"move\",\"from\":\"/customer/email\",\"path\":\"/email\"}]",
		  "{\"customer\":{\"email\":\"a@b\",\"id\":7}}", "{\"customer\":{\"id\":7},\"email\":\"a@b\"}" },
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/x/y/z\"}]",
		  "{\"a\":[1,{\"b\":2}]}", "{\"x\":{\"y\":{\"z\":[1,{\"b\":2}]}}}" },
		/* an existing target is replaced in its place */
		{ "[{\"op\":\"move\",\"from\":\"/c\",\"path\":\"/a\"}]",
		  "{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":3,\"b\":2}" },
		/* absent source: nothing, and no objects made for the target */
		{ "[{\"op\":\"move\",\"from\":\"/n\",\"path\":\"/x/y\"}]", "{\"a\":1}", "{\"a\":1}" },
		/* a target under a scalar cannot be made: nothing, the source kept */
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b/c\"}]", "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}" },
		/* to the same place: nothing */
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}" },
		/* into its own old place: a new object holds it */
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}]", "{\"a\":{\"k\":1}}",
		  "{\"a\":{\"b\":{\"k\":1}}}" },
		/* out of its parent into the parent's place */
		{ "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/a\"}]", "{\"a\":{\"b\":5,\"c\":6},\"z\":0}",
		  "{\"a\":5,\"z\":0}" },
		/* untouched values keep their text */
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b\"}]",
		  "{\"a\":1.50E+2,\"k\":\"\\u00e9\\/\"}", "{\"k\":\"\\u00e9\\/\",\"b\":1.50E+2}" },
	};
	(void)state;
	RUN(cs);
}

static void default_sets_only_absent_or_null(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"default\",\"path\":\"/currency\",\"value\":\"EUR\"}]",
		  "{\"p\":1}", "{\"p\":1,\"currency\":\"EUR\"}" },
		{ "[{\"op\":\"default\",\"path\":\"/currency\",\"value\":\"EUR\"}]",
		  "{\"currency\":null,\"p\":1}", "{\"currency\":\"EUR\",\"p\":1}" },
		{ "[{\"op\":\"default\",\"path\":\"/currency\",\"value\":\"EUR\"}]",
		  "{\"currency\":\"USD\"}", "{\"currency\":\"USD\"}" },
		{ "[{\"op\":\"default\",\"path\":\"/a\",\"value\":0}]", "{\"a\":false}", "{\"a\":false}" },
		/* the value is minified; objects are made on the way */
		{ "[{\"op\":\"default\",\"path\":\"/m/tags\",\"value\":[ 1 , {\"x\" : null} ]}]",
		  "{}", "{\"m\":{\"tags\":[1,{\"x\":null}]}}" },
		{ "[{\"op\":\"default\",\"path\":\"/m/x\",\"value\":1}]", "{\"m\":\"s\"}", "{\"m\":\"s\"}" },
	};
	(void)state;
	RUN(cs);
}

static void drop_removes_when_present(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"drop\",\"path\":\"/legacy\"}]", "{\"a\":1,\"legacy\":{\"x\":[]},\"b\":2}",
		  "{\"a\":1,\"b\":2}" },
		{ "[{\"op\":\"drop\",\"path\":\"/legacy\"}]", "{\"legacy\":1}", "{}" },
		{ "[{\"op\":\"drop\",\"path\":\"/legacy\"}]", "{\"a\":1}", "{\"a\":1}" },
		{ "[{\"op\":\"drop\",\"path\":\"/a/b\"}]", "{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"c\":2}}" },
		{ "[{\"op\":\"drop\",\"path\":\"/a/c\"}]", "{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"b\":1}}" },
		/* every duplicate goes */
		{ "[{\"op\":\"drop\",\"path\":\"/d\"}]", "{\"d\":1,\"x\":0,\"d\":2}", "{\"x\":0}" },
	};
	(void)state;
	RUN(cs);
}

static void scale_is_exact(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"scale\",\"path\":\"/price\",\"factor\":0.01}]", "{\"price\":1999}", "{\"price\":19.99}" },
		{ "[{\"op\":\"scale\",\"path\":\"/price\",\"factor\":0.01}]", "{\"price\":5}", "{\"price\":0.05}" },
		{ "[{\"op\":\"scale\",\"path\":\"/price\",\"factor\":0.1}]", "{\"price\":0.3}", "{\"price\":0.03}" },
		{ "[{\"op\":\"scale\",\"path\":\"/price\",\"factor\":100}]", "{\"price\":19.99}", "{\"price\":1999}" },
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":-2}]", "{\"p\":-1.25}", "{\"p\":2.5}" },
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":1e3}]", "{\"p\":0}", "{\"p\":0}" },
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":1000}]", "{\"p\":1.5e2}", "{\"p\":150000}" },
		/* beyond 18 digits: double, shortest round trip */
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":2}]", "{\"p\":1234567890123456789012}",
		  "{\"p\":2.4691357802469135e+21}" },
		/* non-numbers and absent members are left alone */
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":2}]", "{\"p\":\"10\",\"q\":null}", "{\"p\":\"10\",\"q\":null}" },
		{ "[{\"op\":\"scale\",\"path\":\"/z\",\"factor\":2}]", "{\"p\":1}", "{\"p\":1}" },
		/* an overflow to infinity leaves the number as it was */
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":1e300}]", "{\"p\":1e300}", "{\"p\":1e300}" },
	};
	(void)state;
	RUN(cs);
}

static void split_cuts_at_the_separator(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"split\",\"from\":\"/name\",\"separator\":\" \",\"path\":[\"/first\",\"/last\"]}]",
		  "{\"name\":\"Ada King Lovelace\",\"id\":1}", "{\"id\":1,\"first\":\"Ada\",\"last\":\"King Lovelace\"}" },
		/* fewer pieces than targets: the rest stay unset */
		{ "[{\"op\":\"split\",\"from\":\"/name\",\"separator\":\" \",\"path\":[\"/first\",\"/last\"]}]",
		  "{\"name\":\"Ada\"}", "{\"first\":\"Ada\"}" },
		{ "[{\"op\":\"split\",\"from\":\"/d\",\"separator\":\"-\",\"path\":[\"/y\",\"/m\",\"/d\"]}]",
		  "{\"d\":\"2024-05-06\"}", "{\"y\":\"2024\",\"m\":\"05\",\"d\":\"06\"}" },
		/* empty pieces are pieces */
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\",\",\"path\":[\"/a\",\"/b\",\"/c\"]}]",
		  "{\"s\":\",x\"}", "{\"a\":\"\",\"b\":\"x\"}" },
		/* escapes are decoded before cutting and written again after */
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\"\\t\",\"path\":[\"/a\",\"/b\"]}]",
		  "{\"s\":\"\\u00e9\\\"\\tx\\\\y\\ud83d\\ude00\"}", "{\"a\":\"\xc3\xa9\\\"\",\"b\":\"x\\\\y\xf0\x9f\x98\x80\"}" },
		/* a non-ASCII separator */
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\"\xe2\x86\x92\",\"path\":[\"/a\",\"/b\"]}]",
		  "{\"s\":\"\xc3\xa9\xe2\x86\x92\\u2192z\"}", "{\"a\":\"\xc3\xa9\",\"b\":\"\xe2\x86\x92z\"}" },
		/* not a string, or absent: nothing */
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\" \",\"path\":[\"/a\",\"/b\"]}]",
		  "{\"s\":12}", "{\"s\":12}" },
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\" \",\"path\":[\"/a\",\"/b\"]}]",
		  "{\"t\":\"a b\"}", "{\"t\":\"a b\"}" },
		/* targets nested, made on the way */
		{ "[{\"op\":\"split\",\"from\":\"/s\",\"separator\":\"@\",\"path\":[\"/e/user\",\"/e/host\"]}]",
		  "{\"s\":\"me@ex.org\"}", "{\"e\":{\"user\":\"me\",\"host\":\"ex.org\"}}" },
	};
	(void)state;
	RUN(cs);
}

static void join_concatenates_what_is_present(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"join\",\"from\":[\"/first\",\"/last\"],\"separator\":\" \",\"path\":\"/name\"}]",
		  "{\"first\":\"Ada\",\"id\":1,\"last\":\"Lovelace\"}", "{\"id\":1,\"name\":\"Ada Lovelace\"}" },
		/* missing sources are skipped */
		{ "[{\"op\":\"join\",\"from\":[\"/first\",\"/last\"],\"separator\":\" \",\"path\":\"/name\"}]",
		  "{\"last\":\"Lovelace\"}", "{\"name\":\"Lovelace\"}" },
		/* none present: nothing set */
		{ "[{\"op\":\"join\",\"from\":[\"/first\",\"/last\"],\"separator\":\" \",\"path\":\"/name\"}]",
		  "{\"x\":1}", "{\"x\":1}" },
		/* numbers and booleans by their text; null and containers left alone */
		{ "[{\"op\":\"join\",\"from\":[\"/a\",\"/b\",\"/c\",\"/d\"],\"separator\":\"\",\"path\":\"/s\"}]",
		  "{\"a\":1.50,\"b\":true,\"c\":null,\"d\":[1]}", "{\"c\":null,\"d\":[1],\"s\":\"1.50true\"}" },
		/* escapes and non-ASCII through */
		{ "[{\"op\":\"join\",\"from\":[\"/a\",\"/b\"],\"separator\":\"\\n\",\"path\":\"/s\"}]",
		  "{\"a\":\"\\u00e9\\\"\",\"b\":\"\xe6\x97\xa5\\/\"}", "{\"s\":\"\xc3\xa9\\\"\\n\xe6\x97\xa5/\"}" },
		/* the target may be a source */
		{ "[{\"op\":\"join\",\"from\":[\"/a\",\"/b\"],\"separator\":\"-\",\"path\":\"/a\"}]",
		  "{\"a\":\"x\",\"b\":\"y\",\"c\":0}", "{\"c\":0,\"a\":\"x-y\"}" },
		/* an existing target is replaced */
		{ "[{\"op\":\"join\",\"from\":[\"/a\"],\"separator\":\"-\",\"path\":\"/t\"}]",
		  "{\"t\":[],\"a\":\"x\"}", "{\"t\":\"x\"}" },
	};
	(void)state;
	RUN(cs);
}

static void star_applies_to_every_element(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"scale\",\"path\":\"/items/*/price\",\"factor\":0.01}]",
		  "{\"items\":[{\"price\":1999},{\"price\":5},{\"x\":1},7]}",
		  "{\"items\":[{\"price\":19.99},{\"price\":0.05},{\"x\":1},7]}" },
		{ "[{\"op\":\"rename\",\"path\":\"/items/*/qty\",\"to\":\"quantity\"}]",
		  "{\"items\":[{\"qty\":1,\"a\":0},{\"qty\":2}]}", "{\"items\":[{\"quantity\":1,\"a\":0},{\"quantity\":2}]}" },
		/* over an object's member values */
		{ "[{\"op\":\"default\",\"path\":\"/by/*/n\",\"value\":0}]",
		  "{\"by\":{\"x\":{},\"y\":{\"n\":3}}}", "{\"by\":{\"x\":{\"n\":0},\"y\":{\"n\":3}}}" },
		/* nested stars */
		{ "[{\"op\":\"drop\",\"path\":\"/a/*/b/*/c\"}]",
		  "{\"a\":[{\"b\":[{\"c\":1,\"d\":2}]},{\"b\":{\"k\":{\"c\":3}}}]}",
		  "{\"a\":[{\"b\":[{\"d\":2}]},{\"b\":{\"k\":{}}}]}" },
		/* move and split within each element */
		{ "[{\"op\":\"move\",\"from\":\"/l/*/a\",\"path\":\"/l/*/b/c\"}]",
		  "{\"l\":[{\"a\":1},{\"z\":2}]}", "{\"l\":[{\"b\":{\"c\":1}},{\"z\":2}]}" },
		{ "[{\"op\":\"split\",\"from\":\"/p/*/n\",\"separator\":\" \",\"path\":[\"/p/*/f\",\"/p/*/l\"]}]",
		  "{\"p\":[{\"n\":\"A B\"},{\"n\":\"C\"}]}", "{\"p\":[{\"f\":\"A\",\"l\":\"B\"},{\"f\":\"C\"}]}" },
		/* '*' on a scalar or a missing member: nothing */
		{ "[{\"op\":\"drop\",\"path\":\"/a/*/b\"}]", "{\"a\":3}", "{\"a\":3}" },
		{ "[{\"op\":\"drop\",\"path\":\"/q/*/b\"}]", "{\"a\":3}", "{\"a\":3}" },
		{ "[{\"op\":\"drop\",\"path\":\"/a/*/b\"}]", "{\"a\":[]}", "{\"a\":[]}" },
	};
	(void)state;
	RUN(cs);
}

static void pointer_escapes(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"drop\",\"path\":\"/a~1b\"}]", "{\"a/b\":1,\"a\":{\"b\":2}}", "{\"a\":{\"b\":2}}" },
		{ "[{\"op\":\"drop\",\"path\":\"/a~0b\"}]", "{\"a~b\":1,\"c\":2}", "{\"c\":2}" },
		{ "[{\"op\":\"drop\",\"path\":\"/~01\"}]", "{\"~1\":1,\"/\":2}", "{\"/\":2}" },
		{ "[{\"op\":\"move\",\"from\":\"/~1\",\"path\":\"/x~0y/~1~1\"}]", "{\"/\":1}",
		  "{\"x~y\":{\"//\":1}}" },
		/* the empty name */
		{ "[{\"op\":\"rename\",\"path\":\"/\",\"to\":\"e\"}]", "{\"\":1}", "{\"e\":1}" },
		/* numbers are names, not array indices */
		{ "[{\"op\":\"drop\",\"path\":\"/a/0\"}]", "{\"a\":[1,2]}", "{\"a\":[1,2]}" },
		{ "[{\"op\":\"drop\",\"path\":\"/a/0\"}]", "{\"a\":{\"0\":1}}", "{\"a\":{}}" },
	};
	(void)state;
	RUN(cs);
}

static void operations_apply_in_order(void **state)
{
	static const struct acase cs[] = {
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"b\"},{\"op\":\"default\",\"path\":\"/a\",\"value\":0}]",
		  "{\"a\":5}", "{\"b\":5,\"a\":0}" },
		{ "[{\"op\":\"default\",\"path\":\"/a\",\"value\":0},{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"b\"}]",
		  "{\"a\":5}", "{\"b\":5}" },
		{ "[{\"op\":\"scale\",\"path\":\"/p\",\"factor\":0.01},{\"op\":\"join\",\"from\":[\"/p\",\"/c\"],"
		  "\"separator\":\" \",\"path\":\"/price\"}]",
		  "{\"p\":1999,\"c\":\"EUR\"}", "{\"price\":\"19.99 EUR\"}" },
		{ "[{\"op\":\"join\",\"from\":[\"/f\",\"/l\"],\"separator\":\" \",\"path\":\"/n\"},"
		  "{\"op\":\"split\",\"from\":\"/n\",\"separator\":\" \",\"path\":[\"/l\",\"/f\"]}]",
		  "{\"f\":\"A\",\"l\":\"B\"}", "{\"l\":\"A\",\"f\":\"B\"}" },
		/* an empty list changes nothing, whitespace included */
		{ "[]", "{\"a\":1.0,\"b\":\"\\u0041\"}", "{\"a\":1.0,\"b\":\"\\u0041\"}" },
		/* the upcasts of v1->v2 then v2->v3, as one chain */
		{ "[{\"op\":\"move\",\"from\":\"/total\",\"path\":\"/amount/value\"},"
		  "{\"op\":\"default\",\"path\":\"/amount/currency\",\"value\":\"EUR\"},"
		  "{\"op\":\"scale\",\"path\":\"/amount/value\",\"factor\":100}]",
		  "{\"id\":\"o1\",\"total\":12.34}", "{\"id\":\"o1\",\"amount\":{\"value\":1234,\"currency\":\"EUR\"}}" },
	};
	(void)state;
	RUN(cs);
}

static void chains_of_documents_compose(void **state)
{
	eg_upcast *v2 = parse_ok("[{\"op\":\"rename\",\"path\":\"/n\",\"to\":\"name\"}]");
	eg_upcast *v3 = parse_ok("[{\"op\":\"split\",\"from\":\"/name\",\"separator\":\" \",\"path\":[\"/f\",\"/l\"]}]");
	const char *data = "{\"n\":\"Ada Lovelace\"}";
	char *a = NULL, *b = NULL;
	size_t ca = 0, cb = 0;
	(void)state;
	size_t k = eg_upcast_apply(v2, data, strlen(data), &a, &ca);
	assert_int_equal(k, strlen("{\"name\":\"Ada Lovelace\"}"));
	k = eg_upcast_apply(v3, a, k, &b, &cb);
	assert_int_equal(k, strlen("{\"f\":\"Ada\",\"l\":\"Lovelace\"}"));
	assert_memory_equal(b, "{\"f\":\"Ada\",\"l\":\"Lovelace\"}", k);
	/* the other order finds no name to split */
	k = eg_upcast_apply(v3, data, strlen(data), &a, &ca);
	k = eg_upcast_apply(v2, a, k, &b, &cb);
	assert_memory_equal(b, "{\"name\":\"Ada Lovelace\"}", k);
	free(a);
	free(b);
	eg_upcast_free(v2);
	eg_upcast_free(v3);
}

static void parsed_fields(void **state)
{
	eg_upcast *u = parse_ok("[{\"op\":\"split\",\"from\":\"/a~1b\",\"separator\":\"\\u0000-\",\"path\":[\"/x\",\"/y\"]},"
				"{\"op\":\"default\",\"path\":\"/v\",\"value\":{ \"k\" : [ 1 ] }},"
				"{\"op\":\"scale\",\"path\":\"/p\",\"factor\":1.50},"
				"{\"op\":\"join\",\"from\":[\"/q\"],\"separator\":\"\",\"path\":\"/r\"}]");
	(void)state;
	assert_int_equal(u->n, 4);
	assert_int_equal(u->ops[0].op, UP_SPLIT);
	assert_string_equal(u->ops[0].from, "/a~1b");
	assert_int_equal(u->ops[0].separator_len, 2);
	assert_memory_equal(u->ops[0].separator, "\0-", 2);
	assert_int_equal(u->ops[0].npath, 2);
	assert_string_equal(u->ops[0].paths[1], "/y");
	assert_null(u->ops[0].path);
	assert_int_equal(u->ops[1].op, UP_DEFAULT);
	assert_string_equal(u->ops[1].value, "{\"k\":[1]}");
	assert_int_equal(u->ops[1].value_len, 9);
	assert_string_equal(u->ops[2].factor, "1.50");
	assert_int_equal(u->ops[3].op, UP_JOIN);
	assert_int_equal(u->ops[3].nfrom, 1);
	assert_int_equal(u->ops[3].separator_len, 0);
	assert_string_equal(u->ops[3].path, "/r");
	eg_upcast_free(u);
}

static void parse_errors_name_the_document_path(void **state)
{
	static const char *const cs[][2] = {
		{ "{}", "(root): expected an array of operations" },
		{ "[", "(root): invalid JSON" },
		{ "[1]", "/0: expected an object (an operation)" },
		{ "[{\"path\":\"/a\"}]", "/0/op: missing" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\"},{\"op\":\"copy\",\"path\":\"/a\"}]",
		  "/1/op: expected one of rename, move, default, drop, scale, split, join" },
		{ "[{\"op\":1}]", "/0/op: expected one of rename, move, default, drop, scale, split, join" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\"},{\"op\":\"move\",\"frm\":\"/a\",\"path\":\"/b\"}]",
		  "/1/frm: not a member of a move operation" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\",\"to\":\"b\"}]", "/0/to: not a member of a drop operation" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\",\"a/b~\":1}]", "/0/a~1b~0: not a member of a drop operation" },
		{ "[{\"op\":\"rename\",\"path\":\"/a\"}]", "/0/to: missing (a rename operation needs it)" },
		{ "[{\"op\":\"move\",\"path\":\"/a\"}]", "/0/from: missing (a move operation needs it)" },
		{ "[{\"op\":\"default\",\"path\":\"/a\"}]", "/0/value: missing" },
		{ "[{\"op\":\"scale\",\"path\":\"/a\"}]", "/0/factor: missing" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"path\":[\"/b\",\"/c\"]}]", "/0/separator: missing" },
		{ "[{\"op\":\"join\",\"from\":[\"/a\"],\"separator\":\"\"}]", "/0/path: missing" },
		{ "[{\"op\":\"drop\",\"path\":\"a\"}]", "/0/path: expected a JSON pointer beginning with '/'" },
		{ "[{\"op\":\"drop\",\"path\":\"\"}]", "/0/path: expected a JSON pointer beginning with '/'" },
		{ "[{\"op\":\"drop\",\"path\":5}]", "/0/path: expected a JSON pointer beginning with '/'" },
		{ "[{\"op\":\"drop\",\"path\":\"/a~2\"}]", "/0/path: expected ~0 or ~1 after '~'" },
		{ "[{\"op\":\"drop\",\"path\":\"/a~\"}]", "/0/path: expected ~0 or ~1 after '~'" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\\u0000\"}]", "/0/path: expected a JSON pointer without NUL" },
		{ "[{\"op\":\"drop\",\"path\":\"/a/*\"}]", "/0/path: expected a member name as the last token, not '*'" },
		{ "[{\"op\":\"move\",\"from\":\"x\",\"path\":\"/b\"}]", "/0/from: expected a JSON pointer" },
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":1}]", "/0/to: expected a member name (a string)" },
		{ "[{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"\\u0000\"}]", "/0/to: expected a member name without NUL" },
		{ "[{\"op\":\"scale\",\"path\":\"/a\",\"factor\":\"2\"}]", "/0/factor: expected a nonzero number" },
		{ "[{\"op\":\"scale\",\"path\":\"/a\",\"factor\":0}]", "/0/factor: expected a nonzero number" },
		{ "[{\"op\":\"scale\",\"path\":\"/a\",\"factor\":-0.0e5}]", "/0/factor: expected a nonzero number" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"separator\":\"\",\"path\":[\"/b\",\"/c\"]}]",
		  "/0/separator: expected a non-empty string" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"separator\":1,\"path\":[\"/b\",\"/c\"]}]",
		  "/0/separator: expected a non-empty string" },
		{ "[{\"op\":\"join\",\"from\":[\"/a\"],\"separator\":null,\"path\":\"/b\"}]",
		  "/0/separator: expected a string" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"separator\":\" \",\"path\":[\"/b\"]}]",
		  "/0/path: expected an array of at least 2 JSON pointers" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"separator\":\" \",\"path\":\"/b\"}]",
		  "/0/path: expected an array of at least 2 JSON pointers" },
		{ "[{\"op\":\"split\",\"from\":\"/a\",\"separator\":\" \",\"path\":[\"/b\",\"c\"]}]",
		  "/0/path/1: expected a JSON pointer beginning with '/'" },
		{ "[{\"op\":\"join\",\"from\":[],\"separator\":\" \",\"path\":\"/b\"}]",
		  "/0/from: expected an array of at least 1 JSON pointer" },
		{ "[{\"op\":\"join\",\"from\":[\"/a\",\"/b/~x\"],\"separator\":\" \",\"path\":\"/b\"}]",
		  "/0/from/1: expected ~0 or ~1" },
		{ "[{\"op\":\"move\",\"from\":\"/a/*/b\",\"path\":\"/c\"}]",
		  "/0/path: expected the same tokens up to the last '*' as from" },
		{ "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/l/*/c\"}]",
		  "/0/from: expected the same tokens up to the last '*' as path" },
		{ "[{\"op\":\"join\",\"from\":[\"/l/*/a\",\"/m/*/b\"],\"separator\":\"\",\"path\":\"/l/*/c\"}]",
		  "/0/from/1: expected the same tokens up to the last '*' as from/0" },
		{ "[{\"op\":\"drop\",\"path\":\"/a\"},{\"op\":\"drop\",\"path\":\"/a\"},{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"b\",\"x\":1}]",
		  "/2/x: not a member of a rename operation" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		eg_upcast *u = (eg_upcast *)1;
		char err[256];
		int r = eg_upcast_parse(cs[i][0], strlen(cs[i][0]), &u, err, sizeof err);
		if (r != -1 || u != NULL)
			fail_msg("case %zu: %s parsed", i, cs[i][0]);
		if (strncmp(err, cs[i][1], strlen(cs[i][1])))
			fail_msg("case %zu: %s\n  got  %s\n  want %s...", i, cs[i][0], err, cs[i][1]);
	}
}

/* Values deeper than the scanner allows are never made: the operation is
 * skipped, the result stays valid JSON. */
static void depth_is_kept_within_json_max_depth(void **state)
{
	char doc[8192], data[2048], *out = NULL;
	size_t k = 0, cap = 0, n;
	eg_upcast *u;
	(void)state;
	/* a target JSON_MAX_DEPTH + 1 members deep */
	k += (size_t)snprintf(doc + k, sizeof doc - k, "[{\"op\":\"default\",\"path\":\"");
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		k += (size_t)snprintf(doc + k, sizeof doc - k, "/a");
	k += (size_t)snprintf(doc + k, sizeof doc - k, "\",\"value\":1}]");
	u = parse_ok(doc);
	n = eg_upcast_apply(u, "{}", 2, &out, &cap);
	assert_int_equal(n, 2);
	eg_upcast_free(u);
	/* exactly JSON_MAX_DEPTH is fine */
	k -= strlen("/a\",\"value\":1}]");
	snprintf(doc + k, sizeof doc - k, "\",\"value\":1}]");
	u = parse_ok(doc);
	n = eg_upcast_apply(u, "{}", 2, &out, &cap);
	assert_true(n > 2);
	assert_int_equal(eg_json_validate(out, n, NULL), 0);
	eg_upcast_free(u);
	/* moving a deep value deeper */
	k = 0;
	k += (size_t)snprintf(data + k, sizeof data - k, "{\"d\":");
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		data[k++] = '[';
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		data[k++] = ']';
	data[k++] = '}';
	assert_int_equal(eg_json_validate(data, k, NULL), 0);
	u = parse_ok("[{\"op\":\"move\",\"from\":\"/d\",\"path\":\"/x/y\"}]");
	n = eg_upcast_apply(u, data, k, &out, &cap);
	assert_int_equal(n, k);
	assert_memory_equal(out, data, k);
	eg_upcast_free(u);
	u = parse_ok("[{\"op\":\"move\",\"from\":\"/d\",\"path\":\"/x\"}]");
	n = eg_upcast_apply(u, data, k, &out, &cap);
	assert_int_equal(n, k);
	assert_memory_equal(out, "{\"x\":", 5);
	eg_upcast_free(u);
	free(out);
}

/* An eg_upcast built by hand, not parsed: operations missing what they
 * need, or with pointers parse would refuse, are skipped. */
static void hand_made_operations_are_checked(void **state)
{
	char path[] = "/a", bad[] = "a/b", star[] = "/a/*", to[] = "b";
	eg_upcast_op ops[] = {
		{ .op = UP_RENAME, .path = path },                 /* no to */
		{ .op = UP_DROP, .path = bad },
		{ .op = UP_DROP, .path = star },
		{ .op = UP_MOVE, .path = path },                   /* no from */
		{ .op = UP_SPLIT, .from = path },                  /* no paths */
		{ .op = 99, .path = path },
		{ .op = UP_RENAME, .path = path, .to = to },       /* this one applies */
	};
	eg_upcast u = { ops, sizeof ops / sizeof ops[0] };
	char *out = NULL;
	size_t cap = 0;
	(void)state;
	size_t k = eg_upcast_apply(&u, "{\"a\":[1]}", 9, &out, &cap);
	assert_int_equal(k, 9);
	assert_memory_equal(out, "{\"b\":[1]}", 9);
	free(out);
}

/* Callers pass valid objects; anything else comes back as it was. */
static void data_that_is_not_an_object_comes_back_unchanged(void **state)
{
	static const char *const bad[] = { "[1]", "{\"a\":", "{\"a\":1}x", "", "{\"a\":\"\xff\"}", "1" };
	eg_upcast *u = parse_ok("[{\"op\":\"drop\",\"path\":\"/a\"}]");
	char *out = NULL;
	size_t cap = 0;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = strlen(bad[i]);
		size_t k = eg_upcast_apply(u, bad[i], n, &out, &cap);
		assert_int_equal(k, n);
		assert_memory_equal(out, bad[i], n);
	}
	eg_upcast_free(u);
	free(out);
}

/* ------------------------------------------------------------ property */

/* outputs_are_those_of_the_first_implementation's hash, as the first
 * implementation gave it (commit 58620e8). */
#define FIRST_IMPLEMENTATION_HASH 0x7b57f5bcd275c43fULL

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng_state >> 33) % n;
}

static const char *const names[] = { "a", "b", "c", "*", "a/b", "~", "\\u00e9" };
static const char *const enc[] = { "a", "b", "c", "*", "a~1b", "~0", "\xc3\xa9" };

static void gen_value(char *o, size_t *k, size_t cap, int depth)
{
	static const char *const scalars[] = {
		"1", "-2.50", "1e3", "0.01", "true", "false", "null", "\"x y\"", "\"\\u00e9 \\\" z\"",
		"\"a b c\"", "12345678901234567890123", "\"\""
	};
	unsigned t = depth > 3 ? 0 : rnd(4);
	if (*k + 64 > cap)
		t = 0;
	if (t <= 1) {
		*k += (size_t)snprintf(o + *k, cap - *k, "%s", scalars[rnd(12)]);
	} else if (t == 2) {
		unsigned n = rnd(4);
		o[(*k)++] = '[';
		for (unsigned i = 0; i < n && *k + 64 < cap; i++) {
			if (i)
				o[(*k)++] = ',';
			gen_value(o, k, cap, depth + 1);
		}
		o[(*k)++] = ']';
	} else {
		unsigned n = rnd(5);
		o[(*k)++] = '{';
		for (unsigned i = 0; i < n && *k + 64 < cap; i++) {
			if (i)
				o[(*k)++] = ',';
			*k += (size_t)snprintf(o + *k, cap - *k, "\"%s\":", names[rnd(7)]);
			gen_value(o, k, cap, depth + 1);
		}
		o[(*k)++] = '}';
	}
}

static void gen_ptr(char *o, size_t *k, size_t cap, int nostar)
{
	unsigned n = 1 + rnd(3);
	o[(*k)++] = '"';
	for (unsigned i = 0; i < n; i++) {
		unsigned j = rnd(7);
		if ((nostar || i + 1 == n) && j == 3)
			j = 0;
		*k += (size_t)snprintf(o + *k, cap - *k, "/%s", enc[j]);
	}
	o[(*k)++] = '"';
}

static void gen_op(char *o, size_t *k, size_t cap)
{
	static const char *const ops[] = { "rename", "move", "default", "drop", "scale", "split", "join" };
	static const char *const tos[] = { "a", "b", "z" };
	static const char *const factors[] = { "0.01", "-3", "1e2", "2.5" };
	static const char *const seps[] = { " ", "b", "\\u00e9" };
	unsigned op = rnd(7);
	*k += (size_t)snprintf(o + *k, cap - *k, "{\"op\":\"%s\",", ops[op]);
	/* several pointers: no '*', so that any pair of them is accepted */
	int many = op == 1 || op >= 5;
	switch (op) {
	case 0:
		*k += (size_t)snprintf(o + *k, cap - *k, "\"to\":\"%s\",", tos[rnd(3)]);
		break;
	case 1: case 5:
		*k += (size_t)snprintf(o + *k, cap - *k, "\"from\":");
		gen_ptr(o, k, cap, 1);
		o[(*k)++] = ',';
		break;
	case 2:
		*k += (size_t)snprintf(o + *k, cap - *k, "\"value\":");
		gen_value(o, k, cap, 2);
		o[(*k)++] = ',';
		break;
	case 4:
		*k += (size_t)snprintf(o + *k, cap - *k, "\"factor\":%s,", factors[rnd(4)]);
		break;
	case 6:
		*k += (size_t)snprintf(o + *k, cap - *k, "\"from\":[");
		gen_ptr(o, k, cap, 1);
		o[(*k)++] = ',';
		gen_ptr(o, k, cap, 1);
		*k += (size_t)snprintf(o + *k, cap - *k, "],");
		break;
	}
	if (op >= 5)
		*k += (size_t)snprintf(o + *k, cap - *k, "\"separator\":\"%s\",", seps[rnd(3)]);
	*k += (size_t)snprintf(o + *k, cap - *k, "\"path\":");
	if (op == 5) {
		o[(*k)++] = '[';
		gen_ptr(o, k, cap, 1);
		o[(*k)++] = ',';
		gen_ptr(o, k, cap, 1);
		o[(*k)++] = ']';
	} else {
		gen_ptr(o, k, cap, many);
	}
	o[(*k)++] = '}';
}

static void random_operations_give_valid_json(void **state)
{
	char data[8192], doc[8192], *out = NULL, *again = NULL;
	size_t cap = 0, cap2 = 0;
	eg_upcast *none = parse_ok("[]");
	int changed = 0;
	(void)state;
	rng_state = (uint64_t)time(NULL);
	print_message("seed %llu\n", (unsigned long long)rng_state);
	for (int iter = 0; iter < 3000; iter++) {
		size_t dk = 0, ok = 0;
		data[dk++] = '{';
		for (unsigned i = 0, n = rnd(6); i < n; i++) {
			if (i)
				data[dk++] = ',';
			dk += (size_t)snprintf(data + dk, sizeof data - dk, "\"%s\":", names[rnd(7)]);
			gen_value(data, &dk, sizeof data - 8, 1);
		}
		data[dk++] = '}';
		assert_int_equal(eg_json_validate(data, dk, NULL), 0);
		doc[ok++] = '[';
		for (unsigned i = 0, n = rnd(5); i < n; i++) {
			if (i)
				doc[ok++] = ',';
			gen_op(doc, &ok, sizeof doc);
		}
		doc[ok++] = ']';
		doc[ok] = 0;
		eg_upcast *u = parse_ok(doc);
		size_t k = eg_upcast_apply(u, data, dk, &out, &cap);
		if (k == (size_t)-1 || eg_json_validate(out, k, NULL))
			fail_msg("%s on %.*s gave invalid %.*s", doc, (int)dk, data, (int)k, out);
		/* pure: the same input gives the same output */
		size_t k2 = eg_upcast_apply(u, data, dk, &again, &cap2);
		assert_int_equal(k, k2);
		assert_memory_equal(out, again, k);
		changed += k != dk || memcmp(out, data, k);
		/* [] leaves the data byte for byte */
		k = eg_upcast_apply(none, data, dk, &out, &cap);
		assert_int_equal(k, dk);
		assert_memory_equal(out, data, dk);
		eg_upcast_free(u);
	}
	/* the generator does reach data the operations change */
	assert_true(changed > 300);
	eg_upcast_free(none);
	free(out);
	free(again);
}

/* Valid JSON text s[0..n) with a space after every '{', '[', ':' and ','
 * outside strings, and a newline at the end, into o; its length. */
static size_t spread(const char *s, size_t n, char *o)
{
	size_t k = 0;
	int in = 0;

	for (size_t i = 0; i < n; i++) {
		o[k++] = s[i];
		if (in && s[i] == '\\')
			o[k++] = s[++i];
		else if (s[i] == '"')
			in = !in;
		else if (!in && strchr("{[:,", s[i]))
			o[k++] = ' ';
	}
	o[k++] = '\n';
	return k;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *u = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ u[i]) * 1099511628211ULL;
	return h;
}

/*
 * The outputs of 3,000 random documents on random data (the generators
 * above, seed 42), minified and with whitespace added, hashed: the hash is
 * the one the first implementation of apply gave (a validating walk, one
 * allocation after another), kept when apply was rewritten for speed.  A
 * change in any output byte changes it.
 */
static void outputs_are_those_of_the_first_implementation(void **state)
{
	char data[8192], wide[20000], doc[8192], *out = NULL;
	size_t cap = 0;
	uint64_t h = 1469598103934665603ULL;
	(void)state;
	rng_state = 42;
	for (int iter = 0; iter < 3000; iter++) {
		size_t dk = 0, ok = 0;
		data[dk++] = '{';
		for (unsigned i = 0, n = rnd(6); i < n; i++) {
			if (i)
				data[dk++] = ',';
			dk += (size_t)snprintf(data + dk, sizeof data - dk, "\"%s\":", names[rnd(7)]);
			gen_value(data, &dk, sizeof data - 8, 1);
		}
		data[dk++] = '}';
		doc[ok++] = '[';
		for (unsigned i = 0, n = rnd(5); i < n; i++) {
			if (i)
				doc[ok++] = ',';
			gen_op(doc, &ok, sizeof doc);
		}
		doc[ok++] = ']';
		doc[ok] = 0;
		eg_upcast *u = parse_ok(doc);
		size_t k = eg_upcast_apply(u, data, dk, &out, &cap);
		assert_true(k != (size_t)-1);
		h = fnv(fnv(h, &k, sizeof k), out, k);
		size_t wk = spread(data, dk, wide);
		k = eg_upcast_apply(u, wide, wk, &out, &cap);
		assert_true(k != (size_t)-1);
		h = fnv(fnv(h, &k, sizeof k), out, k);
		eg_upcast_free(u);
	}
	free(out);
	print_message("outputs hash %016llx\n", (unsigned long long)h);
	assert_true(h == FIRST_IMPLEMENTATION_HASH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rename_keeps_the_place_and_replaces_the_other),
		cmocka_unit_test(move_removes_the_source_and_creates_the_way),
		cmocka_unit_test(default_sets_only_absent_or_null),
		cmocka_unit_test(drop_removes_when_present),
		cmocka_unit_test(scale_is_exact),
		cmocka_unit_test(split_cuts_at_the_separator),
		cmocka_unit_test(join_concatenates_what_is_present),
		cmocka_unit_test(star_applies_to_every_element),
		cmocka_unit_test(pointer_escapes),
		cmocka_unit_test(operations_apply_in_order),
		cmocka_unit_test(chains_of_documents_compose),
		cmocka_unit_test(parsed_fields),
		cmocka_unit_test(parse_errors_name_the_document_path),
		cmocka_unit_test(depth_is_kept_within_json_max_depth),
		cmocka_unit_test(hand_made_operations_are_checked),
		cmocka_unit_test(data_that_is_not_an_object_comes_back_unchanged),
		cmocka_unit_test(random_operations_give_valid_json),
		cmocka_unit_test(outputs_are_those_of_the_first_implementation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schema_diff.c — schema versions compared (docs/CONTRACTS.md,
 * "Compatibility"): every row of the documented rule table run through
 * eg_schema_diff, so that the table and the code cannot drift; the rule
 * name and data pointer of each kind of change; $ref and recursive
 * schemas; comparisons through an upcast; the modes.
 */
#include "schema_diff.h"
#include "testutil.h"


/* Every change of one diff, as "rule pointer bb bf" lines, and the
 * breaks over all. */
struct got {
	char text[8192];
	size_t n;
	int count, bb, bf;
};

static int collect(void *ctx, const eg_schema_change *c)
{
	struct got *g = ctx;

	assert_non_null(c->rule);
	assert_non_null(c->pointer);
	assert_non_null(c->message);
	assert_true(c->message[0] != 0);
	g->n += (size_t)snprintf(g->text + g->n, sizeof g->text - g->n, "%s %s %d %d\n", c->rule,
				 c->pointer, c->breaks_backward, c->breaks_forward);
	assert_true(g->n < sizeof g->text);
	g->count++;
	g->bb |= c->breaks_backward;
	g->bf |= c->breaks_forward;
	return 0;
}

static void diff(const char *old, const char *new_, const eg_upcast *up, struct got *g)
{
	eg_schema *a = compile_ok(old), *b = compile_ok(new_);

	memset(g, 0, sizeof *g);
	assert_int_equal(eg_schema_diff(a, b, up, collect, g), 0);
	eg_schema_free(a);
	eg_schema_free(b);
}

/* ------------------------------------------------------------ the documented table */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = 0;
	fclose(f);
	return p;
}

/* docs/CONTRACTS.md: $EG_CONTRACTS_MD, else from the repository root
 * (where make runs the tests), else beside this source file. */
static char *contracts_md(void)
{
	const char *env = getenv("EG_CONTRACTS_MD");
	char path[512];
	char *p;

	if (env && (p = read_all(env)))
		return p;
	if ((p = read_all("docs/CONTRACTS.md")))
		return p;
	const char *slash = strrchr(__FILE__, '/');
	snprintf(path, sizeof path, "%.*s/../docs/CONTRACTS.md",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	p = read_all(path);
	if (!p)
		fail_msg("cannot read docs/CONTRACTS.md (run from the repository root or set EG_CONTRACTS_MD)");
	return p;
}

/* The text of one table cell, trimmed, without backticks. */
static void cell(const char *b, const char *e, char *out, size_t cap)
{
	while (b < e && *b == ' ')
		b++;
	while (e > b && e[-1] == ' ')
		e--;
	if (e - b >= 2 && *b == '`' && e[-1] == '`') {
		b++;
		e--;
	}
	snprintf(out, cap, "%.*s", (int)(e - b), b);
}

static int verdict(const char *s, int row)
{
	if (!strcmp(s, "ok"))
		return 0;
	if (!strcmp(s, "breaks"))
		return 1;
	fail_msg("table row %d: expected ok or breaks, got \"%s\"", row, s);
	return -1;
}

static void documented_rule_table_holds(void **state)
{
	char *md = contracts_md(), *sec = strstr(md, "\n## Compatibility\n");
	int rows = 0, in_table = 0;

	(void)state;
	assert_non_null(sec);
	char *end = strstr(sec + 1, "\n## ");
	if (end)
		*end = 0;
	for (char *line = sec; line && *line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (!strncmp(line, "| change | old | new | backward | forward |", 43)) {
			in_table = 1;
		} else if (in_table && line[0] == '|' && strncmp(line, "|---", 4)) {
			char c[5][1024];
			char *b = line + 1;
			int k = 0;
			for (char *p = b; *p && k < 5; p++) {
				if (*p == '|') {
					cell(b, p, c[k++], sizeof c[0]);
					b = p + 1;
				}
			}
			if (k != 5)
				fail_msg("table row \"%s\": expected 5 cells, got %d", line, k);
			int wb = verdict(c[3], rows), wf = verdict(c[4], rows);
			struct got g;
			diff(c[1], c[2], NULL, &g);
			if (g.bb != wb || g.bf != wf)
				fail_msg("row \"%s\": %s -> %s: backward %s, forward %s; documented %s, %s\nchanges:\n%s",
					 c[0], c[1], c[2], g.bb ? "breaks" : "ok", g.bf ? "breaks" : "ok",
					 c[3], c[4], g.text);
			/* A row that breaks something names at least one change. */
			if (wb || wf)
				assert_true(g.count > 0);
			rows++;
		} else if (in_table && line[0] != '|') {
			in_table = 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	/* The table covers the rules the docs promise (and was found). */
	assert_true(rows >= 60);
	free(md);
}

/* ------------------------------------------------------------ rule names */

struct rcase {
	const char *old, *new_, *changes;   /* "rule pointer bb bf" lines */
};

static void run_rules(const struct rcase *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct got g;
		diff(cs[i].old, cs[i].new_, NULL, &g);
		if (strcmp(g.text, cs[i].changes))
			fail_msg("case %zu: %s -> %s:\ngot:\n%sexpected:\n%s", i, cs[i].old, cs[i].new_,
				 g.text, cs[i].changes);
	}
}

#define RUN(cs) run_rules(cs, sizeof cs / sizeof cs[0])

static void each_change_has_its_rule_name(void **state)
{
	static const struct rcase cs[] = {
		{ "{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{},\"b\":{}}}",
		  "property-added-optional /b 0 0\n" },
		{ "{}", "{\"properties\":{\"b\":{}},\"required\":[\"b\"]}",
		  "property-added-required /b 1 0\n" },
		{ "{}", "{\"properties\":{\"b\":{\"default\":1}},\"required\":[\"b\"]}",
		  "property-added-required-default /b 0 0\n" },
		{ "{\"properties\":{\"a\":{}},\"required\":[\"a\"]}", "{}",
		  "property-removed /a 0 1\n" },
		{ "{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{}},\"required\":[\"a\"]}",
		  "property-required /a 1 0\n" },
		{ "{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{\"default\":0}},\"required\":[\"a\"]}",
		  "property-required-default /a 0 0\n" },
		{ "{\"required\":[\"a\"]}", "{\"properties\":{\"a\":{}}}",
		  "property-optional /a 0 1\n" },
		{ "{\"type\":\"string\"}", "{\"type\":\"integer\"}", "type-changed  1 1\n" },
		{ "{\"type\":\"integer\"}", "{\"type\":\"number\"}", "type-widened  0 1\n" },
		{ "{\"type\":\"number\"}", "{\"type\":\"integer\"}", "type-narrowed  1 0\n" },
		{ "{\"enum\":[1]}", "{\"enum\":[1,2,3]}", "enum-value-added  0 1\nenum-value-added  0 1\n" },
		{ "{\"enum\":[1,\"x\"]}", "{\"enum\":[1.0]}", "enum-value-removed  1 0\n" },
		{ "{}", "{\"const\":null}", "enum-added  1 0\n" },
		/* Every enum and const of a $ref chain applies: their intersection. */
		{ "{\"$defs\":{\"d\":{\"enum\":[1,2]}},\"$ref\":\"#/$defs/d\",\"enum\":[1,2,3]}", "{\"enum\":[1,2,3]}",
		  "enum-value-added  0 1\n" },
		{ "{\"const\":1,\"enum\":[2]}", "{\"const\":1}", "enum-value-added  0 1\n" },
		{ "{\"enum\":[true]}", "{}", "enum-removed  0 1\n" },
		{ "{\"minimum\":0}", "{\"minimum\":1}", "minimum-tightened  1 0\n" },
		{ "{\"minimum\":1}", "{\"minimum\":0}", "minimum-loosened  0 1\n" },
		{ "{\"maximum\":1}", "{\"maximum\":0}", "maximum-tightened  1 0\n" },
		{ "{}", "{\"maximum\":0}", "maximum-tightened  1 0\n" },
		{ "{\"exclusiveMinimum\":1}", "{}", "exclusive-minimum-loosened  0 1\n" },
		{ "{\"exclusiveMaximum\":1}", "{\"exclusiveMaximum\":2}", "exclusive-maximum-loosened  0 1\n" },
		{ "{\"multipleOf\":1}", "{\"multipleOf\":10}", "multiple-of-tightened  1 0\n" },
		{ "{\"multipleOf\":1e3}", "{\"multipleOf\":0.5}", "multiple-of-loosened  0 1\n" },
		{ "{\"multipleOf\":0.3}", "{\"multipleOf\":0.2}", "multiple-of-changed  1 1\n" },
		{ "{\"minLength\":3}", "{\"minLength\":4}", "min-length-tightened  1 0\n" },
		{ "{\"maxLength\":3}", "{}", "max-length-loosened  0 1\n" },
		{ "{}", "{\"pattern\":\"a\"}", "pattern-added  1 0\n" },
		{ "{\"pattern\":\"a\"}", "{\"pattern\":\"b\"}", "pattern-changed  1 1\n" },
		{ "{\"pattern\":\"a\"}", "{}", "pattern-removed  0 1\n" },
		{ "{}", "{\"format\":\"uri\"}", "format-added  1 0\n" },
		{ "{\"format\":\"uri\"}", "{\"format\":\"email\"}", "format-changed  1 1\n" },
		{ "{\"format\":\"uri\"}", "{}", "format-removed  0 1\n" },
		{ "{\"minItems\":1}", "{\"minItems\":2}", "min-items-tightened  1 0\n" },
		{ "{\"maxItems\":1}", "{\"maxItems\":2}", "max-items-loosened  0 1\n" },
		{ "{}", "{\"uniqueItems\":true}", "unique-items-added  1 0\n" },
		{ "{\"uniqueItems\":true}", "{\"uniqueItems\":false}", "unique-items-removed  0 1\n" },
		{ "{\"items\":{\"type\":\"string\"}}", "{\"items\":{\"type\":\"null\"}}", "type-changed /* 1 1\n" },
		{ "{}", "{\"additionalProperties\":false}", "additional-closed  1 0\n" },
		{ "{\"additionalProperties\":false}", "{}", "additional-opened  0 1\n" },
		{ "{\"additionalProperties\":{\"type\":\"string\"}}", "{\"additionalProperties\":{\"maxLength\":2}}",
		  "type-widened /* 0 1\n" "max-length-tightened /* 1 0\n" },
		/* Keywords of one type are compared only where both allow it. */
		{ "{\"type\":\"string\",\"minLength\":1}", "{\"type\":\"number\",\"minimum\":3}", "type-changed  1 1\n" },
	};
	(void)state;
	RUN(cs);
}

struct msgs {
	char msg[256];
	int n;
};

static int last_message(void *ctx, const eg_schema_change *c)
{
	struct msgs *g = ctx;

	snprintf(g->msg, sizeof g->msg, "%s", c->message);
	g->n++;
	return 0;
}

static void change_messages_say_what_changed(void **state)
{
	static const struct {
		const char *old, *new_, *message;
	} cs[] = {
		{ "{\"minimum\":0}", "{\"minimum\":1}", "minimum raised from 0 to 1" },
		{ "{\"maximum\":10}", "{\"maximum\":5.5}", "maximum lowered from 10 to 5.5" },
		{ "{\"type\":\"integer\"}", "{\"type\":[\"number\",\"null\"]}", "type changed from integer to null or number" },
		{ "{\"enum\":[\"a\"]}", "{\"enum\":[\"a\",\"b\"]}", "value \"b\" added" },
		{ "{}", "{\"properties\":{\"x\":{}},\"required\":[\"x\"]}", "property \"x\" added (required)" },
		{ "{\"maxLength\":3}", "{}", "maxLength changed from 3 to none" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		eg_schema *a = compile_ok(cs[i].old), *b = compile_ok(cs[i].new_);
		struct msgs g = { "", 0 };
		assert_int_equal(eg_schema_diff(a, b, NULL, last_message, &g), 0);
		if (g.n != 1 || strcmp(g.msg, cs[i].message))
			fail_msg("case %zu: %d changes, message \"%s\", expected \"%s\"", i, g.n, g.msg, cs[i].message);
		eg_schema_free(a);
		eg_schema_free(b);
	}
}

/* ------------------------------------------------------------ pointers */

static void nested_changes_name_data_pointers(void **state)
{
	static const struct rcase cs[] = {
		{ "{\"properties\":{\"order\":{\"properties\":{\"lines\":{\"type\":\"array\",\"items\":"
		  "{\"properties\":{\"price\":{\"type\":\"number\",\"minimum\":0}}}}}}}}",
		  "{\"properties\":{\"order\":{\"properties\":{\"lines\":{\"type\":\"array\",\"items\":"
		  "{\"properties\":{\"price\":{\"type\":\"number\",\"minimum\":1}}}}}}}}",
		  "minimum-tightened /order/lines/*/price 1 0\n" },
		/* Member names escaped as RFC 6901 says. */
		{ "{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"string\"}}}}}",
		  "{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"boolean\"}}}}}",
		  "type-changed /a~1b/c~0d 1 1\n" },
		/* Unlisted members of an object: "*". */
		{ "{\"properties\":{\"tags\":{\"additionalProperties\":{\"type\":\"string\"}}}}",
		  "{\"properties\":{\"tags\":{\"additionalProperties\":{\"type\":\"string\",\"maxLength\":9}}}}",
		  "max-length-tightened /tags/* 1 0\n" },
		/* Members in name order; each nested change after its object's own. */
		{ "{\"properties\":{\"b\":{\"type\":\"string\"},\"a\":{\"properties\":{\"x\":{}}}}}",
		  "{\"properties\":{\"b\":{\"type\":\"integer\"},\"a\":{\"properties\":{\"x\":{}},\"required\":[\"x\"]}},"
		  "\"additionalProperties\":false}",
		  "additional-closed  1 0\nproperty-required /a/x 1 0\ntype-changed /b 1 1\n" },
	};
	(void)state;
	RUN(cs);
}

/* ------------------------------------------------------------ $ref */

static void refs_are_followed_and_cycles_end(void **state)
{
	static const struct rcase cs[] = {
		/* A change inside $defs shows where the data uses it, at each use. */
		{ "{\"$defs\":{\"money\":{\"type\":\"number\"}},\"properties\":{\"net\":{\"$ref\":\"#/$defs/money\"},"
		  "\"tax\":{\"$ref\":\"#/$defs/money\"}}}",
		  "{\"$defs\":{\"money\":{\"type\":\"number\",\"multipleOf\":0.01}},\"properties\":{\"net\":{\"$ref\":\"#/$defs/money\"},"
		  "\"tax\":{\"$ref\":\"#/$defs/money\"}}}",
		  "multiple-of-tightened /net 1 0\nmultiple-of-tightened /tax 1 0\n" },
		/* Inline in one version, a $ref in the other: the same. */
		{ "{\"properties\":{\"p\":{\"type\":\"integer\",\"minimum\":0}}}",
		  "{\"$defs\":{\"n\":{\"type\":\"integer\",\"minimum\":0}},\"properties\":{\"p\":{\"$ref\":\"#/$defs/n\"}}}",
		  "" },
		/* Keywords beside $ref apply with it. */
		{ "{\"$defs\":{\"n\":{\"type\":\"integer\"}},\"properties\":{\"p\":{\"$ref\":\"#/$defs/n\"}}}",
		  "{\"$defs\":{\"n\":{\"type\":\"integer\"}},\"properties\":{\"p\":{\"$ref\":\"#/$defs/n\",\"maximum\":9}}}",
		  "maximum-tightened /p 1 0\n" },
		/* A tree: the recursion through "#" ends, the change is found. */
		{ "{\"properties\":{\"name\":{\"type\":\"string\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}",
		  "{\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}",
		  "min-length-tightened /kids/*/name 1 0\nmin-length-tightened /name 1 0\n" },
		/* Mutually recursive definitions, unchanged. */
		{ "{\"$defs\":{\"a\":{\"properties\":{\"b\":{\"$ref\":\"#/$defs/b\"}}},\"b\":{\"properties\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}},"
		  "\"$ref\":\"#/$defs/a\"}",
		  "{\"$defs\":{\"a\":{\"properties\":{\"b\":{\"$ref\":\"#/$defs/b\"}}},\"b\":{\"properties\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}},"
		  "\"$ref\":\"#/$defs/a\"}",
		  "" },
	};
	(void)state;
	RUN(cs);
}

static void identical_schemas_differ_in_nothing(void **state)
{
	static const char *const docs[] = {
		"true", "false", "{}",
		"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
		"\"amount\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":1e9,\"multipleOf\":0.01},"
		"\"lines\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":100,\"uniqueItems\":true,"
		"\"items\":{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]+$\"}},"
		"\"required\":[\"sku\"],\"additionalProperties\":false}},"
		"\"status\":{\"enum\":[\"new\",\"paid\",null]},\"v\":{\"const\":{\"a\":[1,2]}},"
		"\"name\":{\"type\":[\"string\",\"null\"],\"minLength\":1,\"maxLength\":80}},"
		"\"required\":[\"id\",\"amount\"],\"additionalProperties\":{\"type\":\"string\"},"
		"\"envelope\":{\"actor\":{\"type\":\"string\"}}}",
		"{\"$defs\":{\"node\":{\"properties\":{\"kids\":{\"items\":{\"$ref\":\"#/$defs/node\"}}}}},\"$ref\":\"#/$defs/node\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct got g;
		diff(docs[i], docs[i], NULL, &g);
		if (g.count)
			fail_msg("%s against itself: %s", docs[i], g.text);
	}
	/* Spelling that does not change meaning is no change either. */
	struct got g;
	diff("{\"properties\":{\"a\":{\"minimum\":1e1},\"b\":{\"enum\":[1,\"\\u00e9\"]}},\"required\":[\"b\",\"a\"]}",
	     "{\"properties\":{\"b\":{\"enum\":[\"é\",1.0]},\"a\":{\"minimum\":10}},\"required\":[\"a\",\"b\"]}", NULL, &g);
	assert_int_equal(g.count, 0);
}

/* ------------------------------------------------------------ upcasts */

static eg_upcast_op op_rename(const char *path, const char *to)
{
	return (eg_upcast_op){ .op = UP_RENAME, .path = (char *)path, .to = (char *)to };
}

static eg_upcast_op op_path(int op, const char *path)
{
	return (eg_upcast_op){ .op = op, .path = (char *)path };
}

#define ORDER_OLD "{\"properties\":{\"total\":{\"type\":\"number\",\"minimum\":0}},\"required\":[\"total\"]}"
#define ORDER_NEW "{\"properties\":{\"amount\":{\"type\":\"number\",\"minimum\":0}},\"required\":[\"amount\"]}"

static void upcast_rename_makes_the_new_required_name_compatible(void **state)
{
	eg_upcast_op ops[] = { op_rename("/total", "amount") };
	eg_upcast up = { ops, 1 };
	eg_schema *a = compile_ok(ORDER_OLD), *b = compile_ok(ORDER_NEW);
	struct got g;

	(void)state;
	/* Without the upcast: old events lack "amount". */
	assert_int_equal(eg_schema_compatible(a, b, NULL, EG_COMPAT_BACKWARD, NULL, NULL), 1);
	assert_int_equal(eg_schema_compatible(a, b, &up, EG_COMPAT_BACKWARD, NULL, NULL), 0);
	/* Old readers see new events as written: still no "total". */
	memset(&g, 0, sizeof g);
	assert_int_equal(eg_schema_compatible(a, b, &up, EG_COMPAT_FULL, collect, &g), 1);
	assert_string_equal(g.text, "property-removed /total 0 1\n");
	assert_int_equal(eg_schema_compatible(a, b, &up, EG_COMPAT_NONE, NULL, NULL), 0);
	/* The renamed member keeps its schema: a tightening still shows. */
	eg_schema *c = compile_ok("{\"properties\":{\"amount\":{\"type\":\"number\",\"minimum\":1}},\"required\":[\"amount\"]}");
	memset(&g, 0, sizeof g);
	assert_int_equal(eg_schema_diff(a, c, &up, collect, &g), 0);
	assert_string_equal(g.text, "minimum-tightened /amount 1 0\nproperty-removed /total 0 1\n");
	eg_schema_free(a);
	eg_schema_free(b);
	eg_schema_free(c);
}

static void upcast_move_drop_default_scale_split_join(void **state)
{
	struct ucase {
		const char *old, *new_;
		eg_upcast_op ops[3];
		size_t nops;
		int backward;   /* 1: breaks backward through the upcast */
	} cs[] = {
		/* move /customer/email -> /email, required on both sides. */
		{ "{\"properties\":{\"customer\":{\"properties\":{\"email\":{\"type\":\"string\"}},\"required\":[\"email\"]}},"
		  "\"required\":[\"customer\"]}",
		  "{\"properties\":{\"customer\":{\"properties\":{}},\"email\":{\"type\":\"string\"}},\"required\":[\"customer\",\"email\"]}",
		  { { .op = UP_MOVE, .from = (char *)"/customer/email", .path = (char *)"/email" } }, 1, 0 },
		/* the same move from an optional parent: not always present. */
		{ "{\"properties\":{\"customer\":{\"properties\":{\"email\":{\"type\":\"string\"}}}}}",
		  "{\"properties\":{\"email\":{\"type\":\"string\"}},\"required\":[\"email\"]}",
		  { { .op = UP_MOVE, .from = (char *)"/customer/email", .path = (char *)"/email" } }, 1, 1 },
		/* drop: a closed new version no longer meets the dropped member. */
		{ "{\"properties\":{\"a\":{},\"legacy\":{}}}",
		  "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
		  { op_path(UP_DROP, "/legacy") }, 1, 1 },   /* still open before: unlisted members */
		{ "{\"properties\":{\"a\":{},\"legacy\":{}},\"additionalProperties\":false}",
		  "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
		  { op_path(UP_DROP, "/legacy") }, 1, 0 },
		/* default: a new required member the upcast fills. */
		{ "{\"properties\":{\"a\":{}}}",
		  "{\"properties\":{\"a\":{},\"currency\":{\"enum\":[\"EUR\",\"USD\"]}},\"required\":[\"currency\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/currency", .value = (char *)"\"EUR\"", .value_len = 5 } }, 1, 0 },
		{ "{\"properties\":{\"a\":{}}}",
		  "{\"properties\":{\"a\":{},\"currency\":{\"enum\":[\"EUR\",\"USD\"]}},\"required\":[\"currency\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/currency", .value = (char *)"\"GBP\"", .value_len = 5 } }, 1, 1 },
		{ "{\"properties\":{\"a\":{}}}",
		  "{\"properties\":{\"a\":{},\"n\":{\"type\":\"string\"}},\"required\":[\"n\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/n", .value = (char *)"0", .value_len = 1 } }, 1, 1 },
		/* default on an optional member makes it present. */
		{ "{\"properties\":{\"n\":{\"type\":\"integer\"}}}",
		  "{\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/n", .value = (char *)"0", .value_len = 1 } }, 1, 0 },
		/* scale: cents (integer) become a number. */
		{ "{\"properties\":{\"price\":{\"type\":\"integer\"}},\"required\":[\"price\"]}",
		  "{\"properties\":{\"price\":{\"type\":\"number\"}},\"required\":[\"price\"]}",
		  { { .op = UP_SCALE, .path = (char *)"/price", .factor = (char *)"0.01" } }, 1, 0 },
		{ "{\"properties\":{\"price\":{\"type\":\"integer\"}},\"required\":[\"price\"]}",
		  "{\"properties\":{\"price\":{\"type\":\"string\"}},\"required\":[\"price\"]}",
		  { { .op = UP_SCALE, .path = (char *)"/price", .factor = (char *)"0.01" } }, 1, 1 },
		/* split and join: strings, present when their sources were. */
		{ "{\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"],\"additionalProperties\":false}",
		  "{\"properties\":{\"first\":{\"type\":\"string\"},\"last\":{\"type\":\"string\"}},\"required\":[\"first\",\"last\"],"
		  "\"additionalProperties\":false}",
		  { { .op = UP_SPLIT, .from = (char *)"/name", .paths = (char *[]){ (char *)"/first", (char *)"/last" },
		      .npath = 2, .separator = (char *)" ", .separator_len = 1 } }, 1, 0 },
		{ "{\"properties\":{\"first\":{\"type\":\"string\"},\"last\":{\"type\":\"string\"}},\"required\":[\"first\"]}",
		  "{\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}",
		  { { .op = UP_JOIN, .froms = (char *[]){ (char *)"/first", (char *)"/last" }, .nfrom = 2,
		      .path = (char *)"/name", .separator = (char *)" ", .separator_len = 1 } }, 1, 1 },
		{ "{\"properties\":{\"first\":{\"type\":\"string\"},\"last\":{\"type\":\"string\"}},\"required\":[\"first\",\"last\"]}",
		  "{\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}",
		  { { .op = UP_JOIN, .froms = (char *[]){ (char *)"/first", (char *)"/last" }, .nfrom = 2,
		      .path = (char *)"/name", .separator = (char *)" ", .separator_len = 1 } }, 1, 0 },
		/* a chain: a new object, then a member renamed and moved into it;
		 * the moved member keeps its schema there. */
		{ "{\"properties\":{\"t\":{\"type\":\"number\"}},\"required\":[\"t\"]}",
		  "{\"properties\":{\"money\":{\"properties\":{\"total\":{\"type\":\"number\"}},\"required\":[\"total\"]}},"
		  "\"required\":[\"money\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/money", .value = (char *)"{}", .value_len = 2 },
		    op_rename("/t", "total"), { .op = UP_MOVE, .from = (char *)"/total", .path = (char *)"/money/total" } }, 3, 0 },
		{ "{\"properties\":{\"t\":{\"type\":\"number\"}},\"required\":[\"t\"]}",
		  "{\"properties\":{\"money\":{\"properties\":{\"total\":{\"type\":\"string\"}},\"required\":[\"total\"]}},"
		  "\"required\":[\"money\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/money", .value = (char *)"{}", .value_len = 2 },
		    op_rename("/t", "total"), { .op = UP_MOVE, .from = (char *)"/total", .path = (char *)"/money/total" } }, 3, 1 },
		/* an object default brings its members. */
		{ "{\"properties\":{\"a\":{}}}",
		  "{\"properties\":{\"money\":{\"properties\":{\"total\":{\"type\":\"number\"}},\"required\":[\"total\"]}},"
		  "\"required\":[\"money\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/money", .value = (char *)"{\"total\":0}", .value_len = 11 } }, 1, 0 },
		/* the same without the move: money.total missing. */
		{ "{\"properties\":{\"t\":{\"type\":\"number\"}},\"required\":[\"t\"]}",
		  "{\"properties\":{\"money\":{\"properties\":{\"total\":{\"type\":\"number\"}},\"required\":[\"total\"]}},"
		  "\"required\":[\"money\"]}",
		  { { .op = UP_DEFAULT, .path = (char *)"/money", .value = (char *)"{}", .value_len = 2 } }, 1, 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		eg_upcast up = { cs[i].ops, cs[i].nops };
		eg_schema *a = compile_ok(cs[i].old), *b = compile_ok(cs[i].new_);
		struct got g;
		memset(&g, 0, sizeof g);
		assert_int_equal(eg_schema_diff(a, b, &up, collect, &g), 0);
		if (g.bb != cs[i].backward)
			fail_msg("upcast case %zu: backward %s, expected %s; changes:\n%s", i,
				 g.bb ? "breaks" : "ok", cs[i].backward ? "breaks" : "ok", g.text);
		assert_int_equal(eg_schema_compatible(a, b, &up, EG_COMPAT_BACKWARD, NULL, NULL), cs[i].backward);
		eg_schema_free(a);
		eg_schema_free(b);
	}
}

static void upcast_paths_through_arrays_are_reported_unchecked(void **state)
{
	eg_upcast_op ops[] = { op_rename("/lines/*/p", "price") };
	eg_upcast up = { ops, 1 };
	struct got g;

	(void)state;
	diff("{\"properties\":{\"lines\":{\"items\":{\"properties\":{\"p\":{}}}}}}",
	     "{\"properties\":{\"lines\":{\"items\":{\"properties\":{\"p\":{}}}}}}", &up, &g);
	assert_string_equal(g.text, "upcast-unchecked /lines/*/p 0 0\n");
}

/* ------------------------------------------------------------ soundness */

/* Random schema pairs: the new one made from the same choices as the old
 * with a few changed, so that they differ by little.  Whatever the pair,
 * an instance valid under one and invalid under the other must show as a
 * break in that direction: the comparison may report too much, never too
 * little.  Every object schema lists the same two members, so the one
 * choice the comparison makes on purpose (an open old version is taken
 * not to carry members it does not list) never applies. */
struct chooser {
	uint64_t seq[4096], rng;
	int n, pos, replay, mutate;
	int varied;   /* members and $refs vary too */
	int closed;   /* every object closed (additionalProperties false) */
};

static unsigned pick(struct chooser *c, unsigned k)
{
	uint64_t v;

	if (c->replay && c->pos < c->n)
		v = c->seq[c->pos];
	else
		v = tu_rnd(&c->rng);
	if (c->mutate && tu_rnd(&c->rng) % 12 == 0)
		v = tu_rnd(&c->rng);
	if (!c->replay && c->n < 4096)
		c->seq[c->n++] = v;
	c->pos++;
	return (unsigned)(v % k);
}

struct text {
	char p[16384];
	size_t n;
};

static void put(struct text *t, const char *s)
{
	size_t k = strlen(s);

	assert_true(t->n + k < sizeof t->p);
	memcpy(t->p + t->n, s, k + 1);
	t->n += k;
}

static void gen_schema(struct chooser *c, struct text *t, int depth)
{
	static const char *const types[] = {
		"", "\"type\":\"integer\",", "\"type\":\"number\",", "\"type\":\"string\",",
		"\"type\":[\"string\",\"null\"],", "\"type\":\"array\",", "\"type\":\"object\",",
		"\"type\":[\"integer\",\"string\"],"
	};
	static const char *const opt[][4] = {
		{ "\"minimum\":0,", "\"minimum\":1,", "\"minimum\":2,", "\"exclusiveMinimum\":0," },
		{ "\"maximum\":2,", "\"maximum\":3,", "\"maximum\":5,", "\"exclusiveMaximum\":4," },
		{ "\"multipleOf\":1,", "\"multipleOf\":0.5,", "\"multipleOf\":2,", "\"multipleOf\":3," },
		{ "\"minLength\":0,", "\"minLength\":1,", "\"minLength\":2,", "\"minLength\":1.0," },
		{ "\"maxLength\":2,", "\"maxLength\":3,", "\"maxLength\":5,", "\"maxLength\":9," },
		{ "\"pattern\":\"^a\",", "\"pattern\":\"b\",", "\"pattern\":\"^[a-z]*$\",", "\"format\":\"date\"," },
		{ "\"enum\":[1,2,\"a\"],", "\"enum\":[1,\"ab\",null],", "\"enum\":[2,\"a\",\"ab\",[]],", "\"const\":1," },
		{ "\"minItems\":0,", "\"minItems\":1,", "\"maxItems\":1,", "\"maxItems\":2," },
		{ "\"uniqueItems\":true,", "\"uniqueItems\":false,", "\"uniqueItems\":true,", "\"x-u\":1," },
		{ "\"additionalProperties\":false,", "\"additionalProperties\":true,",
		  "\"additionalProperties\":{\"type\":\"integer\"},", "\"additionalProperties\":{\"maxLength\":1}," },
	};

	unsigned r = pick(c, 16);
	if (r == 0) {
		/* true is open: a closed version says it with an empty object. */
		put(t, !pick(c, 2) ? "false" : c->closed ? "{\"additionalProperties\":false}" : "true");
		return;
	}
	if (c->varied && depth > 0 && depth < 3 && r <= 2) {
		put(t, r == 1 ? "{\"$ref\":\"#\"}" : "{\"$ref\":\"#/$defs/d\"}");
		return;
	}
	put(t, "{");
	put(t, types[pick(c, 8)]);
	for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
		if (pick(c, 4) == 0) {
			const char *o = opt[i][pick(c, 4)];
			if (!c->closed || i != 9)
				put(t, o);
		}
	if (c->closed)
		put(t, "\"additionalProperties\":false,");
	if (c->varied && depth == 0) {
		put(t, "\"$defs\":{\"d\":");
		gen_schema(c, t, 3);   /* a leaf, never a $ref itself */
		put(t, "},");
	}
	if (depth < 2) {
		static const char *const names[] = { "\"a\":", "\"b\":" };
		static struct text sub;
		int first = 1;
		put(t, "\"items\":");
		gen_schema(c, t, depth + 1);
		put(t, ",\"properties\":{");
		for (int i = 0; i < 2; i++) {
			/* Generated whether kept or not, so that the choices after it
			 * stay aligned between the versions. */
			int keep = !c->varied || pick(c, 4) != 0;
			size_t mark = t->n;
			gen_schema(c, t, depth + 1);
			memcpy(sub.p, t->p + mark, t->n - mark + 1);
			t->n = mark;
			t->p[mark] = 0;
			if (!keep)
				continue;
			put(t, first ? "" : ",");
			put(t, names[i]);
			put(t, sub.p);
			first = 0;
		}
		put(t, "},");
	}
	/* After "properties": the compiler refuses the other order (it
	 * counts a member named in both twice). */
	static const char *const req[] = { "", "\"required\":[\"a\"],", "\"required\":[\"b\",\"a\"],", "" };
	put(t, req[pick(c, 4)]);
	put(t, "\"x-end\":0}");
}

static void gen_value(uint64_t *rng, struct text *t, int depth)
{
	static const char *const atoms[] = {
		"null", "true", "-1", "0", "1", "2", "3", "4", "6", "0.5", "1.5", "\"\"", "\"a\"",
		"\"ab\"", "\"abc\"", "\"b\"", "\"1\"", "\"2024-01-01\"", "[]"
	};
	unsigned k = (unsigned)(tu_rnd(rng) % (depth < 3 ? 24 : 19));

	if (k < 19) {
		put(t, atoms[k]);
	} else if (k < 21) {
		int n = (int)(tu_rnd(rng) % 4);
		put(t, "[");
		for (int i = 0; i < n; i++) {
			if (i)
				put(t, ",");
			gen_value(rng, t, depth + 1);
		}
		put(t, "]");
	} else {
		static const char *const keys[] = { "\"a\":", "\"b\":", "\"c\":" };
		int first = 1;
		put(t, "{");
		for (int i = 0; i < 3; i++) {
			if (tu_rnd(rng) % 3 == 0)
				continue;
			put(t, first ? "" : ",");
			put(t, keys[i]);
			gen_value(rng, t, depth + 1);
			first = 0;
		}
		put(t, "}");
	}
}

static void check_random_pairs(int varied)
{
	const char *env = getenv("EG_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) | 1 : 0x9e3779b97f4a7c15ull;
	static struct chooser c;
	static struct text a, b, v;
	int witnessed = 0;

	for (int round = 0; round < 400; round++) {
		memset(&c, 0, sizeof c);
		c.rng = seed + (uint64_t)round * 0x2545F4914F6CDD1Dull;
		a.n = b.n = 0;
		c.varied = c.closed = varied;
		gen_schema(&c, &a, 0);
		c.pos = 0;
		c.replay = c.mutate = 1;
		c.closed = 0;
		gen_schema(&c, &b, 0);
		eg_schema *so = compile_ok(a.p), *sn = compile_ok(b.p);
		struct got g;
		memset(&g, 0, sizeof g);
		assert_int_equal(eg_schema_diff(so, sn, NULL, collect, &g), 0);
		uint64_t rng = c.rng | 1;
		for (int i = 0; i < 300; i++) {
			v.n = 0;
			gen_value(&rng, &v, 0);
			int vo = eg_schema_validate(so, v.p, v.n, NULL, 0, NULL);
			int vn = eg_schema_validate(sn, v.p, v.n, NULL, 0, NULL);
			if (vo == 0 && vn == 1 && !g.bb)
				fail_msg("missed a backward break: %s valid under\n%s\nnot under\n%s\nchanges:\n%s",
					 v.p, a.p, b.p, g.text);
			if (vn == 0 && vo == 1 && !g.bf)
				fail_msg("missed a forward break: %s valid under new\n%s\nnot under old\n%s\nchanges:\n%s",
					 v.p, b.p, a.p, g.text);
			witnessed += vo != vn;
		}
		eg_schema_free(so);
		eg_schema_free(sn);
	}
	/* The instances do tell the versions apart, often. */
	assert_true(witnessed > 1000);
}

static void breaks_are_never_missed_on_random_pairs(void **state)
{
	(void)state;
	check_random_pairs(0);
}

/* Members added and removed, $ref and recursion: with every object of the
 * old version closed, old data never carries a member it does not list,
 * so here too nothing may be missed. */
static void breaks_are_never_missed_with_members_and_refs_varied(void **state)
{
	(void)state;
	check_random_pairs(1);
}

/* ------------------------------------------------------------ modes */

static void modes_parse_and_select_directions(void **state)
{
	static const char *const names[] = {
		"none", "backward", "backward_transitive", "forward", "forward_transitive", "full", "full_transitive"
	};
	(void)state;
	for (int i = 0; i < 7; i++) {
		assert_int_equal(eg_compat_mode_parse(names[i]), i);
		assert_string_equal(eg_compat_mode_name(i), names[i]);
	}
	assert_int_equal(eg_compat_mode_parse("BACKWARD"), -1);
	assert_int_equal(eg_compat_mode_parse("full_"), -1);
	assert_int_equal(eg_compat_mode_parse(""), -1);
	assert_int_equal(eg_compat_mode_parse(NULL), -1);
	assert_null(eg_compat_mode_name(7));
	assert_null(eg_compat_mode_name(-1));

	/* Adding a required member breaks backward only; an enum value,
	 * forward only. */
	eg_schema *a = compile_ok("{\"properties\":{\"s\":{\"enum\":[1]}}}");
	eg_schema *b = compile_ok("{\"properties\":{\"s\":{\"enum\":[1]},\"r\":{}},\"required\":[\"r\"]}");
	eg_schema *c = compile_ok("{\"properties\":{\"s\":{\"enum\":[1,2]}}}");
	static const int want_b[] = { 0, 1, 1, 0, 0, 1, 1 }, want_c[] = { 0, 0, 0, 1, 1, 1, 1 };
	for (int m = 0; m < 7; m++) {
		assert_int_equal(eg_schema_compatible(a, b, NULL, m, NULL, NULL), want_b[m]);
		assert_int_equal(eg_schema_compatible(a, c, NULL, m, NULL, NULL), want_c[m]);
	}
	eg_schema_free(a);
	eg_schema_free(b);
	eg_schema_free(c);
}

static int stop_at_first(void *ctx, const eg_schema_change *c)
{
	(void)c;
	++*(int *)ctx;
	return 7;
}

static void callback_stops_the_walk(void **state)
{
	eg_schema *a = compile_ok("{\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}");
	eg_schema *b = compile_ok("{\"required\":[\"a\",\"b\",\"c\"]}");
	int calls = 0;

	(void)state;
	assert_int_equal(eg_schema_diff(a, b, NULL, stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(eg_schema_compatible(a, b, NULL, EG_COMPAT_FULL, stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);
	eg_schema_free(a);
	eg_schema_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(documented_rule_table_holds),
		cmocka_unit_test(each_change_has_its_rule_name),
		cmocka_unit_test(change_messages_say_what_changed),
		cmocka_unit_test(nested_changes_name_data_pointers),
		cmocka_unit_test(refs_are_followed_and_cycles_end),
		cmocka_unit_test(identical_schemas_differ_in_nothing),
		cmocka_unit_test(upcast_rename_makes_the_new_required_name_compatible),
		cmocka_unit_test(upcast_move_drop_default_scale_split_join),
		cmocka_unit_test(upcast_paths_through_arrays_are_reported_unchecked),
		cmocka_unit_test(breaks_are_never_missed_on_random_pairs),
		cmocka_unit_test(breaks_are_never_missed_with_members_and_refs_varied),
		cmocka_unit_test(modes_parse_and_select_directions),
		cmocka_unit_test(callback_stops_the_walk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_json.c — the JSON scanner as a specification: what it accepts, what
 * it rejects and with which message and offset, how the object walker, the
 * string decoder, eg_json_minify and eg_json_quote behave.
 */
#include "testutil.h"
#include "json.h"

static int valid(const char *s)
{
	json_err err;
	return eg_json_validate(s, strlen(s), &err) == 0;
}

static int validn(const char *s, size_t n)
{
	json_err err;
	return eg_json_validate(s, n, &err) == 0;
}

/* Validate s expecting failure; return the error. */
static json_err reject(const char *s)
{
	json_err err = { 0, NULL };
	assert_int_equal(eg_json_validate(s, strlen(s), &err), -1);
	assert_non_null(err.what);
	return err;
}

/* ----------------------------------------------------------- documents */

static void accepts_table_of_valid_documents(void **state)
{
	static const char *docs[] = {
		"{}", "[]", "0", "-0", "1", "-1", "123", "1.5", "-0.0", "1e5",
		"1E5", "1e+5", "1e-5", "1.25E-10", "0.0001", "true", "false",
		"null", "\"\"", "\"abc\"", " \t\r\n{} \t\r\n",
		"{\"a\":1}", "{\"a\":{\"b\":[1,2,{\"c\":null}]}}",
		"[1,\"two\",true,false,null,{},[],-3.5e2]",
		"{ \"a\" : 1 , \"b\" : [ ] }",
		"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\uD83D\\uDE00\"",
		"{\"a\":1,\"a\":2}",
		"\"\x7f\"", "\"caf\xc3\xa9\"", "[[[[[[[[[[]]]]]]]]]]",
		"123456789012345678901234567890",
	};
	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		if (!valid(docs[i]))
			fail_msg("rejected valid document %zu: %s", i, docs[i]);
	}
}

static void rejects_table_of_invalid_documents(void **state)
{
	static const struct { const char *doc, *what; } cases[] = {
		{ "", "unexpected end of input" },
		{ "   ", "unexpected end of input" },
		{ "{", "unexpected end of input" },
		{ "[", "unexpected end of input" },
		{ "[1", "unexpected end of input" },
		{ "{\"a\"", "unexpected end of input" },
		{ "{\"a\":", "unexpected end of input" },
		{ "\"abc", "unexpected end of input in string" },
		{ "{\"a\" 1}", "expected ':' after object key" },
		{ "{\"a\":1 \"b\":2}", "expected ',' or '}'" },
		{ "[1 2]", "expected ',' or ']'" },
		{ "{a:1}", "expected object key or '}'" },
		{ "{1:1}", "expected object key or '}'" },
		{ "[1,]", "expected value after ','" },
		{ "{\"a\":1,}", "expected object key after ','" },
		{ "[,1]", "expected a value" },
		{ "{} {}", "trailing characters after value" },
		{ "1 2", "trailing characters after value" },
		{ "1.5.3", "trailing characters after value" },
		{ "tru", "unexpected end of input" },
		{ "trUe", "expected a value" },
		{ "nul", "unexpected end of input" },
		{ "True", "expected a value" },
		{ "'a'", "expected a value" },
		{ "01", "leading zero in number" },
		{ "+1", "expected a value" },
		{ "-", "unexpected end of input" },
		{ "-a", "expected digit after '-'" },
		{ "1.", "expected digit after decimal point" },
		{ ".5", "expected a value" },
		{ "1e", "expected digit in exponent" },
		{ "1e+", "expected digit in exponent" },
		{ "\"\\x\"", "invalid escape in string" },
		{ "\"\\u12G4\"", "expected four hex digits after \\u" },
		{ "\"\t\"", "unescaped control character in string" },
		{ "\"\xff\"", "invalid UTF-8 in string" },
		{ "\xef\xbb\xbf{}", "expected a value" },  /* no BOM */
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_err err = { 0, NULL };
		if (eg_json_validate(cases[i].doc, strlen(cases[i].doc), &err) == 0)
			fail_msg("accepted invalid document %zu: %s", i, cases[i].doc);
		if (strcmp(err.what, cases[i].what) != 0)
			fail_msg("document %zu (%s): got \"%s\", want \"%s\"", i,
				 cases[i].doc, err.what, cases[i].what);
	}
}

static void rejects_every_strict_prefix_of_an_object(void **state)
{
	static const char doc[] =
		"{\"k\":[1,-2.5e3,\"s\\u00e9\\n\",true,false,null,{\"x\":{}}]}";
	(void)state;
	assert_true(valid(doc));
	for (size_t n = 0; n < sizeof doc - 1; n++) {
		json_err err;
		assert_int_equal(eg_json_validate(doc, n, &err), -1);
		assert_true(err.off <= n);
	}
}

static void rejects_nul_byte_outside_strings(void **state)
{
	(void)state;
	assert_false(validn("{}\0", 3));
	assert_false(validn("[1,\0 2]", 7));
}

static void error_offset_points_at_first_problem(void **state)
{
	json_err err;
	(void)state;
	err = reject("{\"a\":[1,2,x]}");
	assert_int_equal(err.off, 10);
	err = reject("{\"a\" : 1 }  ,");
	assert_int_equal(err.off, 12);
	err = reject("\"ab\xc3\"");
	assert_int_equal(err.off, 3);
	err = reject("[1,2");
	assert_int_equal(err.off, 4);  /* end of input is reported at n */
}

static void accepts_null_err_pointer(void **state)
{
	(void)state;
	assert_int_equal(eg_json_validate("[", 1, NULL), -1);
	assert_int_equal(eg_json_validate("[]", 2, NULL), 0);
}

/* ----------------------------------------------------------- numbers */

static void rejects_leading_zeros(void **state)
{
	(void)state;
	assert_string_equal(reject("01").what, "leading zero in number");
	assert_string_equal(reject("-01").what, "leading zero in number");
	assert_string_equal(reject("00").what, "leading zero in number");
	assert_string_equal(reject("[007]").what, "leading zero in number");
	assert_true(valid("0"));
	assert_true(valid("0.01"));
	assert_true(valid("0e10"));
	assert_true(valid("10"));
}

static void rejects_plus_sign(void **state)
{
	(void)state;
	assert_string_equal(reject("+1").what, "expected a value");
	assert_string_equal(reject("[+0]").what, "expected a value");
	assert_string_equal(reject("{\"a\":+2}").what, "expected a value");
	assert_true(valid("1e+2"));  /* allowed in exponents only */
}

static void rejects_nan_and_infinity(void **state)
{
	(void)state;
	assert_string_equal(reject("NaN").what, "expected a value");
	assert_string_equal(reject("nan").what, "expected a value");
	assert_string_equal(reject("Infinity").what, "expected a value");
	assert_string_equal(reject("-Infinity").what, "expected digit after '-'");
	assert_string_equal(reject("[1,NaN]").what, "expected a value");
}

/* --------------------------------------------------------- structure */

static void rejects_trailing_commas(void **state)
{
	(void)state;
	assert_string_equal(reject("[1,2,]").what, "expected value after ','");
	assert_string_equal(reject("[1, ]").what, "expected value after ','");
	assert_string_equal(reject("{\"a\":1,}").what, "expected object key after ','");
	assert_string_equal(reject("{\"a\":1 , }").what, "expected object key after ','");
	assert_string_equal(reject("[1,2],").what, "trailing characters after value");
}

static void rejects_trailing_characters(void **state)
{
	json_err err;
	(void)state;
	err = reject("{\"a\":1}x");
	assert_string_equal(err.what, "trailing characters after value");
	assert_int_equal(err.off, 7);
	assert_string_equal(reject("true false").what, "trailing characters after value");
	assert_string_equal(reject("\"a\"\"b\"").what, "trailing characters after value");
}

/* depth brackets, then depth closers; the text is heap-allocated. */
static char *nested(size_t depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);
	assert_non_null(s);
	memset(s, open, depth);
	memset(s + depth, close, depth);
	s[2 * depth] = '\0';
	return s;
}

static void accepts_nesting_at_max_depth(void **state)
{
	char *s = nested(JSON_MAX_DEPTH, '[', ']');
	(void)state;
	assert_true(valid(s));
	free(s);
}

static void rejects_nesting_deeper_than_max_depth(void **state)
{
	char *s = nested(JSON_MAX_DEPTH + 1, '[', ']');
	json_err err;
	(void)state;
	err = reject(s);
	assert_string_equal(err.what, "nesting too deep");
	assert_int_equal(err.off, JSON_MAX_DEPTH);
	free(s);
}

static void rejects_deep_object_nesting(void **state)
{
	/* {"a":{"a":...}} with one level too many */
	size_t depth = JSON_MAX_DEPTH + 1, n = 0;
	char *s = malloc(depth * 6 + 8);
	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < depth; i++) {
		memcpy(s + n, "{\"a\":", 5);
		n += 5;
	}
	s[n++] = '1';
	memset(s + n, '}', depth);
	n += depth;
	assert_false(validn(s, n));
	/* one level less is fine: drop the first "{"a": and one '}' */
	assert_true(validn(s + 5, n - 6));
	free(s);
}

static void survives_million_open_brackets_without_recursion(void **state)
{
	size_t n = 1000000;
	char *s = malloc(n);
	json_err err;
	(void)state;
	assert_non_null(s);
	memset(s, '[', n);
	assert_int_equal(eg_json_validate(s, n, &err), -1);
	assert_string_equal(err.what, "nesting too deep");
	free(s);
}

/* ----------------------------------------------------------- strings */

static void rejects_control_chars_in_strings(void **state)
{
	(void)state;
	for (int c = 0; c < 0x20; c++) {
		char doc[4] = { '"', (char)c, '"', 0 };
		json_err err;
		assert_int_equal(eg_json_validate(doc, 3, &err), -1);
		assert_string_equal(err.what, "unescaped control character in string");
		assert_int_equal(err.off, 1);
	}
	assert_true(valid("\"\x7f\""));  /* DEL is not a control for JSON */
}

static void rejects_control_char_after_long_plain_run(void **state)
{
	/* The eight-byte fast path must still stop at the bad byte. */
	json_err err;
	(void)state;
	err = reject("\"abcdefghijklmnopqrstuvw\nxyz\"");
	assert_string_equal(err.what, "unescaped control character in string");
	assert_int_equal(err.off, 24);
}

static void rejects_invalid_escape(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\\a\"").what, "invalid escape in string");
	assert_string_equal(reject("\"\\'\"").what, "invalid escape in string");
	assert_string_equal(reject("\"\\U0041\"").what, "invalid escape in string");
	assert_string_equal(reject("\"\\x41\"").what, "invalid escape in string");
	assert_string_equal(reject("\"\\u004\"").what, "expected four hex digits after \\u");
	assert_string_equal(reject("\"\\u00").what, "unexpected end of input");
	assert_string_equal(reject("\"\\").what, "unexpected end of input");
}

static void rejects_lone_high_surrogate_escape(void **state)
{
	static const char *docs[] = {
		"\"\\uD83D\"", "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"",
		"\"\\uD83D\\uD83D\"", "\"\\uDBFF\\n\"", "\"\\uD800\\uE000\"",
	};
	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		json_err err = reject(docs[i]);
		assert_string_equal(err.what,
			"expected low surrogate \\u escape after high surrogate");
		assert_int_equal(err.off, 1);
	}
}

static void rejects_lone_low_surrogate_escape(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\\uDC00\"").what, "lone low surrogate in \\u escape");
	assert_string_equal(reject("\"\\uDFFF\\uD800\"").what, "lone low surrogate in \\u escape");
	assert_string_equal(reject("\"a\\udead\"").what, "lone low surrogate in \\u escape");
}

static void accepts_surrogate_pair_escape(void **state)
{
	(void)state;
	assert_true(valid("\"\\uD83D\\uDE00\""));
	assert_true(valid("\"\\ud800\\udc00\""));
	assert_true(valid("\"\\uDBFF\\uDFFF\""));
	assert_true(valid("\"\\uD7FF\\uE000\""));  /* just outside the range */
}

static void accepts_valid_multibyte_utf8(void **state)
{
	(void)state;
	assert_true(valid("\"\xc2\x80\""));          /* U+0080 */
	assert_true(valid("\"\xdf\xbf\""));          /* U+07FF */
	assert_true(valid("\"\xe0\xa0\x80\""));      /* U+0800 */
	assert_true(valid("\"\xe2\x82\xac\""));      /* euro sign */
	assert_true(valid("\"\xed\x9f\xbf\""));      /* U+D7FF */
	assert_true(valid("\"\xee\x80\x80\""));      /* U+E000 */
	assert_true(valid("\"\xef\xbf\xbf\""));      /* U+FFFF */
	assert_true(valid("\"\xf0\x90\x80\x80\""));  /* U+10000 */
	assert_true(valid("\"\xf0\x9f\x98\x80\""));  /* emoji */
	assert_true(valid("\"\xf4\x8f\xbf\xbf\""));  /* U+10FFFF */
}

static void rejects_overlong_utf8(void **state)
{
	static const char *docs[] = {
		"\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xe0\x80\x80\"",
		"\"\xe0\x9f\xbf\"", "\"\xf0\x80\x80\x80\"", "\"\xf0\x8f\xbf\xbf\"",
	};
	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		json_err err = reject(docs[i]);
		assert_string_equal(err.what, "invalid UTF-8 in string");
		assert_int_equal(err.off, 1);
	}
}

static void rejects_utf8_encoded_surrogates(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\xed\xa0\x80\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xed\xbf\xbf\"").what, "invalid UTF-8 in string");
	/* a CESU-8 style pair is two surrogates, still invalid */
	assert_string_equal(reject("\"\xed\xa0\xbd\xed\xb8\x80\"").what,
			    "invalid UTF-8 in string");
}

static void rejects_code_points_above_10ffff(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\xf4\x90\x80\x80\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xf5\x80\x80\x80\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xf7\xbf\xbf\xbf\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xf8\x88\x80\x80\x80\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xfe\"").what, "invalid UTF-8 in string");
}

static void rejects_truncated_utf8(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\xe2\x82\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xf0\x9f\x98\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xc3").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xe2\x82").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xc3 x\"").what, "invalid UTF-8 in string");
}

static void rejects_stray_continuation_byte(void **state)
{
	(void)state;
	assert_string_equal(reject("\"\x80\"").what, "invalid UTF-8 in string");
	assert_string_equal(reject("\"\xc3\xa9\xa9\"").what, "invalid UTF-8 in string");
}

static void rejects_non_ascii_outside_strings(void **state)
{
	(void)state;
	assert_string_equal(reject("\xc3\xa9").what, "expected a value");
	assert_string_equal(reject("{\"a\":1\xc2\xa0}").what, "expected ',' or '}'");
}

static void utf8_valid_matches_rfc3629(void **state)
{
	static const struct { const char *s; int ok; } cases[] = {
		{ "", 1 }, { "plain ascii text, long enough for the fast path", 1 },
		{ "caf\xc3\xa9", 1 }, { "\xf4\x8f\xbf\xbf", 1 },
		{ "\xed\x9f\xbf", 1 }, { "\xc0\xaf", 0 }, { "\xe0\x80\xaf", 0 },
		{ "\xed\xa0\x80", 0 }, { "\xf4\x90\x80\x80", 0 }, { "\xe2\x82", 0 },
		{ "0123456789abcdef\x80", 0 }, { "\xff", 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(eg_json_utf8_valid(cases[i].s, strlen(cases[i].s)) != 0,
				 cases[i].ok);
}

/* ------------------------------------------------------ object walker */

static void walker_yields_members_in_order_with_types(void **state)
{
	static const char doc[] =
		" {\"a\":1, \"b\" : \"x\",\"c\":true,\"d\":false,\"e\":null,"
		"\"f\":[1,2],\"g\":{\"h\":-1.5e3}} ";
	static const struct { const char *key, *val; enum json_type type; } want[] = {
		{ "\"a\"", "1", JSON_NUMBER }, { "\"b\"", "\"x\"", JSON_STRING },
		{ "\"c\"", "true", JSON_TRUE }, { "\"d\"", "false", JSON_FALSE },
		{ "\"e\"", "null", JSON_NULL }, { "\"f\"", "[1,2]", JSON_ARRAY },
		{ "\"g\"", "{\"h\":-1.5e3}", JSON_OBJECT },
	};
	json_obj it;
	json_span key, val;
	json_err err;
	size_t i = 0;
	int r;
	(void)state;
	assert_int_equal(eg_json_obj_begin(&it, doc, strlen(doc), &err), 0);
	while ((r = eg_json_obj_next(&it, &key, &val, &err)) == 1) {
		assert_true(i < sizeof want / sizeof want[0]);
		assert_int_equal(key.type, JSON_STRING);
		assert_int_equal(key.n, strlen(want[i].key));
		assert_memory_equal(key.p, want[i].key, key.n);
		assert_int_equal(val.n, strlen(want[i].val));
		assert_memory_equal(val.p, want[i].val, val.n);
		assert_int_equal(val.type, want[i].type);
		i++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(i, sizeof want / sizeof want[0]);
	/* once done, it stays done */
	assert_int_equal(eg_json_obj_next(&it, &key, &val, &err), 0);
}

static void walker_descends_into_nested_objects(void **state)
{
	static const char doc[] =
		"{\"type\":\"order\",\"data\":{\"id\":7,\"items\":[{\"sku\":\"A\"}],"
		"\"addr\":{\"city\":\"Lyon\"}}}";
	json_obj top, inner;
	json_span key, val, data = { 0 }, k2, v2;
	json_err err;
	int r, n = 0;
	(void)state;
	assert_int_equal(eg_json_obj_begin(&top, doc, strlen(doc), &err), 0);
	while ((r = eg_json_obj_next(&top, &key, &val, &err)) == 1)
		if (key.n == 6 && memcmp(key.p, "\"data\"", 6) == 0)
			data = val;
	assert_int_equal(r, 0);
	assert_int_equal(data.type, JSON_OBJECT);
	assert_int_equal(eg_json_obj_begin(&inner, data.p, data.n, &err), 0);
	while ((r = eg_json_obj_next(&inner, &k2, &v2, &err)) == 1) {
		n++;
		if (k2.n == 6 && memcmp(k2.p, "\"addr\"", 6) == 0) {
			assert_int_equal(v2.type, JSON_OBJECT);
			assert_memory_equal(v2.p, "{\"city\":\"Lyon\"}", v2.n);
		}
		if (k2.n == 7 && memcmp(k2.p, "\"items\"", 7) == 0)
			assert_int_equal(v2.type, JSON_ARRAY);
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, 3);
}

static void walker_handles_empty_object(void **state)
{
	json_obj it;
	json_span key, val;
	json_err err;
	(void)state;
	assert_int_equal(eg_json_obj_begin(&it, " { } ", 5, &err), 0);
	assert_int_equal(eg_json_obj_next(&it, &key, &val, &err), 0);
}

static void walker_rejects_non_object(void **state)
{
	json_obj it;
	json_err err;
	(void)state;
	assert_int_equal(eg_json_obj_begin(&it, "[1]", 3, &err), -1);
	assert_string_equal(err.what, "expected '{'");
	assert_int_equal(eg_json_obj_begin(&it, "  ", 2, &err), -1);
	assert_string_equal(err.what, "unexpected end of input");
}

static int walk_to_error(const char *doc, json_err *err)
{
	json_obj it;
	json_span key, val;
	int r;

	if (eg_json_obj_begin(&it, doc, strlen(doc), err))
		return -1;
	while ((r = eg_json_obj_next(&it, &key, &val, err)) == 1)
		;
	return r;
}

static void walker_rejects_what_validate_rejects(void **state)
{
	static const struct { const char *doc, *what; } cases[] = {
		{ "{\"a\":1}x", "trailing characters after value" },
		{ "{\"a\":1,}", "expected object key after ','" },
		{ "{\"a\" 1}", "expected ':' after object key" },
		{ "{\"a\":1 \"b\":2}", "expected ',' or '}'" },
		{ "{\"a\":[1,]}", "expected value after ','" },
		{ "{\"a\":01}", "leading zero in number" },
		{ "{\"a\":\"\\uDC00\"}", "lone low surrogate in \\u escape" },
		{ "{\"a\xff\":1}", "invalid UTF-8 in string" },
		{ "{\"a\":1", "unexpected end of input" },
		{ "{\"a\":", "unexpected end of input" },
		{ "{x}", "expected object key or '}'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_err err = { 0, NULL };
		assert_int_equal(walk_to_error(cases[i].doc, &err), -1);
		assert_false(validn(cases[i].doc, strlen(cases[i].doc)));
		if (strcmp(err.what, cases[i].what) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].doc,
				 err.what, cases[i].what);
	}
}

static void walker_reports_offsets_from_start_of_text(void **state)
{
	json_err err;
	(void)state;
	assert_int_equal(walk_to_error("{\"a\":1,\"b\":[tru]}", &err), -1);
	assert_int_equal(err.off, 12);
}

static void walker_stays_failed_after_error(void **state)
{
	json_obj it;
	json_span key, val;
	json_err err;
	(void)state;
	assert_int_equal(eg_json_obj_begin(&it, "{\"a\":x,\"b\":1}", 13, &err), 0);
	assert_int_equal(eg_json_obj_next(&it, &key, &val, &err), -1);
	assert_int_equal(eg_json_obj_next(&it, &key, &val, &err), -1);
}

static void walker_counts_object_as_one_nesting_level(void **state)
{
	/* {"a": + d arrays + }: total depth d + 1, like eg_json_validate */
	size_t d = JSON_MAX_DEPTH - 1;
	char *s = malloc(2 * d + 16);
	json_err err;
	(void)state;
	assert_non_null(s);
	memcpy(s, "{\"a\":", 5);
	memset(s + 5, '[', d);
	memset(s + 5 + d, ']', d);
	strcpy(s + 5 + 2 * d, "}");
	assert_true(valid(s));
	assert_int_equal(walk_to_error(s, &err), 0);
	d++;
	memset(s + 5, '[', d);
	memset(s + 5 + d, ']', d);
	strcpy(s + 5 + 2 * d, "}");
	assert_false(valid(s));
	assert_int_equal(walk_to_error(s, &err), -1);
	assert_string_equal(err.what, "nesting too deep");
	free(s);
}

/* ------------------------------------------------------ string decode */

static json_span str_span(const char *s)
{
	json_span sp = { s, strlen(s), JSON_STRING };
	assert_true(valid(s));
	return sp;
}

static void decodes_short_escapes(void **state)
{
	json_span sp = str_span("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"");
	char out[64];
	size_t n;
	(void)state;
	n = eg_json_string_decode(&sp, out);
	assert_int_equal(n, 17);
	assert_memory_equal(out, "a\"b\\c/d\be\ff\ng\rh\ti", n);
}

static void decodes_unicode_escapes_to_utf8(void **state)
{
	json_span sp = str_span("\"\\u0041\\u00e9\\u20AC\\uFFFF\"");
	char out[64];
	size_t n;
	(void)state;
	n = eg_json_string_decode(&sp, out);
	assert_int_equal(n, 1 + 2 + 3 + 3);
	assert_memory_equal(out, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf", n);
}

static void decodes_surrogate_pair_to_four_bytes(void **state)
{
	json_span sp = str_span("\"x\\uD83D\\uDE00y\\uDBFF\\uDFFF\"");
	char out[64];
	size_t n;
	(void)state;
	n = eg_json_string_decode(&sp, out);
	assert_int_equal(n, 10);
	assert_memory_equal(out, "x\xf0\x9f\x98\x80y\xf4\x8f\xbf\xbf", n);
}

static void decodes_nul_escape_as_nul_byte(void **state)
{
	json_span sp = str_span("\"a\\u0000b\"");
	char out[16];
	(void)state;
	assert_int_equal(eg_json_string_decode(&sp, out), 3);
	assert_memory_equal(out, "a\0b", 3);
}

static void decodes_plain_string_unchanged(void **state)
{
	json_span sp = str_span("\"caf\xc3\xa9 au lait\"");
	char out[32];
	(void)state;
	assert_int_equal(eg_json_string_decode(&sp, out), sp.n - 2);
	assert_memory_equal(out, sp.p + 1, sp.n - 2);
}

static void plain_means_no_backslash(void **state)
{
	json_span a = str_span("\"hello \xc3\xa9\""), b = str_span("\"a\\nb\""),
		  c = str_span("\"\"");
	(void)state;
	assert_true(eg_json_string_is_plain(&a));
	assert_false(eg_json_string_is_plain(&b));
	assert_true(eg_json_string_is_plain(&c));
}

/* ------------------------------------------------------------- string end */

/* What eg_json_string_end must find, one byte at a time: the byte after
 * the closing quote (a backslash hides the byte after it), or end; flags
 * for a backslash and for a byte >= 0x80 on the way, the escaped byte
 * included. */
static const char *string_end_bytewise(const char *p, const char *end, unsigned *flags)
{
	*flags = 0;
	for (p++; p < end; p++) {
		if ((unsigned char)*p >= 0x80)
			*flags |= JSON_STR_NONASCII;
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*flags |= JSON_STR_ESCAPED;
			if (end - p < 2)
				return end;
			if ((unsigned char)p[1] >= 0x80)
				*flags |= JSON_STR_NONASCII;
			p++;
		}
	}
	return end;
}

static void string_end_finds_the_closing_quote_and_flags(void **state)
{
	static const struct {
		const char *text;
		size_t end;
		unsigned flags;
	} cs[] = {
		{ "\"abc\":1", 5, 0 },
		{ "\"\"x", 2, 0 },
		{ "\"a\\\"b\"x", 6, JSON_STR_ESCAPED },
		{ "\"a\\\\\"x", 5, JSON_STR_ESCAPED },
		{ "\"caf\xc3\xa9\"", 7, JSON_STR_NONASCII },
		{ "\"https://shop.example.com/product/1123\",", 39, 0 },
		{ "\"https://shop.example.com/caf\xc3\xa9/x\\n\"", 36, JSON_STR_ESCAPED | JSON_STR_NONASCII },
		{ "\"unterminated", 13, 0 },
		{ "\"ends in a backslash\\", 21, JSON_STR_ESCAPED },
	};
	unsigned f;
	(void)state;
	for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
		const char *t = cs[i].text, *e = t + strlen(t);
		assert_ptr_equal(eg_json_string_end(t, e, &f), t + cs[i].end);
		assert_int_equal(f, cs[i].flags);
		assert_ptr_equal(eg_json_string_end(t, e, NULL), t + cs[i].end);
	}
}

/* Random strings of the bytes that matter, at every length and offset
 * (each in a buffer of exactly its size, so that a sanitizer sees any
 * read past the end): the chunked scan agrees with the bytewise one. */
static void string_end_agrees_with_a_bytewise_scan(void **state)
{
	static const char alphabet[] = { 'a', 'Z', '"', '\\', (char)0x80, (char)0xc3, (char)0xff, 0, ' ', '~' };
	uint64_t r = 88172645463325252ULL;
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = 1 + round % 41;
		char *t = malloc(n);
		t[0] = '"';
		for (size_t i = 1; i < n; i++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			/* mostly plain runs, so that long chunks are taken */
			t[i] = r % 4 ? 'a' + (char)(r >> 8) % 26 : alphabet[(r >> 16) % sizeof alphabet];
		}
		unsigned fa, fb;
		const char *a = eg_json_string_end(t, t + n, &fa), *b = string_end_bytewise(t, t + n, &fb);
		if (a != b || fa != fb)
			fail_msg("round %d (%zu bytes): end %td flags %u, bytewise %td flags %u", round, n,
				 a - t, fa, b - t, fb);
		free(t);
	}
}

/* ------------------------------------------------------------- quote */

static void quote_escapes_quote_backslash_and_controls(void **state)
{
	static const char in[] = "a\"b\\c\nd\te\rf\bg\fh\x01i\x1fj\x7f";
	char out[6 * sizeof in + 2];
	size_t n;
	(void)state;
	n = eg_json_quote(in, sizeof in - 1, out);
	out[n] = '\0';
	assert_string_equal(out,
		"\"a\\\"b\\\\c\\nd\\te\\rf\\bg\\fh\\u0001i\\u001fj\x7f\"");
}

static void quote_copies_utf8_as_is(void **state)
{
	static const char in[] = "caf\xc3\xa9 \xf0\x9f\x98\x80 /";
	char out[6 * sizeof in + 2];
	size_t n;
	(void)state;
	n = eg_json_quote(in, sizeof in - 1, out);
	assert_int_equal(n, sizeof in - 1 + 2);
	assert_memory_equal(out + 1, in, sizeof in - 1);
}

static void quote_of_nul_bytes_fits_worst_case(void **state)
{
	char in[8] = { 0 }, out[6 * 8 + 2 + 1];
	(void)state;
	out[sizeof out - 1] = 'X';
	assert_int_equal(eg_json_quote(in, 8, out), 6 * 8 + 2);
	assert_int_equal(out[sizeof out - 1], 'X');
	assert_memory_equal(out, "\"\\u0000", 7);
}

static void quote_then_decode_round_trips_every_ascii_byte(void **state)
{
	char in[128 + 16], out[6 * sizeof in + 2], back[sizeof out];
	json_span sp;
	size_t n, m;
	(void)state;
	for (int i = 0; i < 128; i++)
		in[i] = (char)i;
	memcpy(in + 128, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80xyz....", 16);
	n = eg_json_quote(in, sizeof in, out);
	assert_true(validn(out, n));
	sp.p = out;
	sp.n = n;
	sp.type = JSON_STRING;
	m = eg_json_string_decode(&sp, back);
	assert_int_equal(m, sizeof in);
	assert_memory_equal(back, in, m);
}

/* ------------------------------------------------------------ minify */

static size_t minify_str(const char *s, char *out)
{
	json_span sp = { s, strlen(s), JSON_OBJECT };
	assert_true(valid(s));
	return eg_json_minify(&sp, out);
}

static void minify_removes_whitespace_outside_strings(void **state)
{
	char out[128];
	size_t n;
	(void)state;
	n = minify_str("{ \"a\" :\t[ 1 ,\r\n 2 ] ,\n \"b\" : { } }", out);
	out[n] = '\0';
	assert_string_equal(out, "{\"a\":[1,2],\"b\":{}}");
}

static void minify_keeps_whitespace_inside_strings(void **state)
{
	char out[128];
	size_t n;
	(void)state;
	n = minify_str("{ \"a b\" : \" x \\\" y \" , \"c\" : \"\\\\\" , \"d\" : \"\\\\\\\" }\" }", out);
	out[n] = '\0';
	assert_string_equal(out, "{\"a b\":\" x \\\" y \",\"c\":\"\\\\\",\"d\":\"\\\\\\\" }\"}");
}

static void minify_keeps_key_order_and_number_text(void **state)
{
	char out[128];
	size_t n;
	(void)state;
	n = minify_str("{ \"z\" : 1.0E+10 , \"a\" : -0.0 , \"z\" : 1e-7 ,"
		       " \"m\" : \"\\u00e9\" }", out);
	out[n] = '\0';
	assert_string_equal(out, "{\"z\":1.0E+10,\"a\":-0.0,\"z\":1e-7,\"m\":\"\\u00e9\"}");
}

static void minify_of_minified_text_is_identity(void **state)
{
	static const char doc[] = "{\"a\":[1,{\"b\":\"c d\"}],\"e\":null}";
	char out[64];
	(void)state;
	assert_int_equal(minify_str(doc, out), sizeof doc - 1);
	assert_memory_equal(out, doc, sizeof doc - 1);
}

/* The one-pass lookup of stored data finds what the validating lookup
 * finds, member by member: escapes, nesting, duplicates, whitespace. */
static void members_valid_finds_what_json_member_finds(void **state)
{
	static const char *const docs[] = {
		"{\"a\":1,\"b\":\"x\",\"c\":null}",
		"{\"a\":\"q\\\"}\",\"b\":2}",                 /* a quote escaped in a string */
		"{\"a\":\"\\\\\",\"b\":[1,\"]}\",{\"a\":3}],\"c\":{\"a\":{}}}",
		"{\"a\":1,\"a\":2,\"b\":true,\"a\":{\"x\":[]}}",    /* the last wins */
		"{\"\\u0061\":5,\"b\\n\":false,\"c\":-1.5e3}",   /* escaped keys */
		" { \"a\" : [ 1 , 2 ] ,\n\"b\" : \"\" , \"c\" : 0 } ",
		"{}",
		"{\"b\":{\"b\":{\"b\":\"deep\"}},\"c\":\"\\u00e9\"}",
		/* the shapes the one-name shortcut takes or must refuse */
		"{\"page_url\":\"/a\",\"b\":1}",
		"{\"page_url\" : 7 }",
		"{\"page_url\":\"/a\",\"page_url\":\"/b\"}",
		"{\"page_url\":\"/a\",\"b\":{\"page_url\":1}}",
		"{\"page_url\":\"/a\",\"b\":\"page_url\"}",
		"{\"page_url\":\"/a\",\"page\\u005furl\":\"/b\"}",
		"{\"page_url\":{\"x\":[1,2]},\"c\":\"\\\"\"}",
		"{\"page_url\":null}",
		"{\"page_url\":\"/a\",\"referrer\":\"https://www.example.com/pagexurl\",\"n\":1}",
		"{\"page_url\":\"/a\",\"referrer\":\"https://www.example.com/\",\"page_url\":2}",
		"{\"page_url\":\"/a\",\"referrer\":\"https://www.example.com/\",\"x\":1,\"page_url\":2}",
	};
	static const char *const names[] = { "a", "b", "c", "b\n", "x", "", "page_url" };
	enum { K = sizeof names / sizeof *names };
	(void)state;
	for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
		assert_true(valid(docs[d]));
		json_span o = { docs[d], strlen(docs[d]), JSON_OBJECT }, vals[K], one;
		size_t lens[K];
		for (int i = 0; i < K; i++)
			lens[i] = strlen(names[i]);
		unsigned got = eg_json_members_valid(&o, names, lens, K, vals);
		for (int i = 0; i < K; i++) {
			json_span v;
			int want = eg_json_member(&o, names[i], lens[i], &v);
			assert_int_equal((got >> i) & 1, want);
			/* one name alone takes the shortcut where it can */
			assert_int_equal(eg_json_members_valid(&o, &names[i], &lens[i], 1, &one), want);
			if (want) {
				assert_int_equal(vals[i].n, v.n);
				assert_ptr_equal(vals[i].p, v.p);
				assert_int_equal(vals[i].type, v.type);
				assert_int_equal(one.n, v.n);
				assert_ptr_equal(one.p, v.p);
				assert_int_equal(one.type, v.type);
			}
		}
	}
}

/* The first n bytes of doc, damaged at random unless k is 0, looked up
 * with two names and with each alone: whatever is found lies inside. */
static void lookup_stays_inside(const char *doc, size_t n, int k, uint64_t *r)
{
	const char *names[] = { "a", "b" };
	size_t lens[] = { 1, 1 };
	char *p = malloc(n ? n : 1);     /* exact size: ASan sees overreads */
	memcpy(p, doc, n);
	for (size_t j = 0; k && j < n; j++) {
		*r = *r * 6364136223846793005u + 1442695040888963407u;
		if ((*r >> 60) == 0)
			p[j] = "\"\\{}[],:"[(*r >> 32) % 9];
	}
	json_span o = { p, n, JSON_OBJECT }, vals[2];
	unsigned got = eg_json_members_valid(&o, names, lens, 2, vals);
	for (int i = 0; i < 2; i++)
		if ((got >> i) & 1)
			assert_true(vals[i].p >= p && vals[i].p + vals[i].n <= p + n);
	for (int i = 0; i < 2; i++)      /* one name: the shortcut first */
		if (eg_json_members_valid(&o, &names[i], &lens[i], 1, vals))
			assert_true(vals[0].p >= p && vals[0].p + vals[0].n <= p + n);
	free(p);
}

/* Whatever the bytes (a cut-off or damaged record), the lookup never
 * reads outside the span, and what it finds lies inside it. */
static void members_valid_stays_inside_any_bytes(void **state)
{
	static const char *const docs[] = {
		"{\"a\":\"q\\\"}\",\"b\":[1,{\"c\":\"]\"}],\"\\u0062\":2}",
		"{\"a\":{\"b\":[1,\"x\"]},\"b\":\"a\"}",      /* no escape: the shortcut's shape */
	};
	(void)state;
	uint64_t r = 7;
	for (size_t d = 0; d < sizeof docs / sizeof *docs; d++)
		for (size_t n = 0; n <= strlen(docs[d]); n++)
			for (int k = 0; k < 40; k++)
				lookup_stays_inside(docs[d], n, k, &r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_table_of_valid_documents),
		cmocka_unit_test(rejects_table_of_invalid_documents),
		cmocka_unit_test(rejects_every_strict_prefix_of_an_object),
		cmocka_unit_test(rejects_nul_byte_outside_strings),
		cmocka_unit_test(error_offset_points_at_first_problem),
		cmocka_unit_test(accepts_null_err_pointer),
		cmocka_unit_test(rejects_leading_zeros),
		cmocka_unit_test(rejects_plus_sign),
		cmocka_unit_test(rejects_nan_and_infinity),
		cmocka_unit_test(rejects_trailing_commas),
		cmocka_unit_test(rejects_trailing_characters),
		cmocka_unit_test(accepts_nesting_at_max_depth),
		cmocka_unit_test(rejects_nesting_deeper_than_max_depth),
		cmocka_unit_test(rejects_deep_object_nesting),
		cmocka_unit_test(survives_million_open_brackets_without_recursion),
		cmocka_unit_test(rejects_control_chars_in_strings),
		cmocka_unit_test(rejects_control_char_after_long_plain_run),
		cmocka_unit_test(rejects_invalid_escape),
		cmocka_unit_test(rejects_lone_high_surrogate_escape),
		cmocka_unit_test(rejects_lone_low_surrogate_escape),
		cmocka_unit_test(accepts_surrogate_pair_escape),
		cmocka_unit_test(accepts_valid_multibyte_utf8),
		cmocka_unit_test(rejects_overlong_utf8),
		cmocka_unit_test(rejects_utf8_encoded_surrogates),
		cmocka_unit_test(rejects_code_points_above_10ffff),
		cmocka_unit_test(rejects_truncated_utf8),
		cmocka_unit_test(rejects_stray_continuation_byte),
		cmocka_unit_test(rejects_non_ascii_outside_strings),
		cmocka_unit_test(utf8_valid_matches_rfc3629),
		cmocka_unit_test(walker_yields_members_in_order_with_types),
		cmocka_unit_test(walker_descends_into_nested_objects),
		cmocka_unit_test(walker_handles_empty_object),
		cmocka_unit_test(walker_rejects_non_object),
		cmocka_unit_test(walker_rejects_what_validate_rejects),
		cmocka_unit_test(walker_reports_offsets_from_start_of_text),
		cmocka_unit_test(walker_stays_failed_after_error),
		cmocka_unit_test(walker_counts_object_as_one_nesting_level),
		cmocka_unit_test(decodes_short_escapes),
		cmocka_unit_test(decodes_unicode_escapes_to_utf8),
		cmocka_unit_test(decodes_surrogate_pair_to_four_bytes),
		cmocka_unit_test(decodes_nul_escape_as_nul_byte),
		cmocka_unit_test(decodes_plain_string_unchanged),
		cmocka_unit_test(plain_means_no_backslash),
		cmocka_unit_test(string_end_finds_the_closing_quote_and_flags),
		cmocka_unit_test(string_end_agrees_with_a_bytewise_scan),
		cmocka_unit_test(quote_escapes_quote_backslash_and_controls),
		cmocka_unit_test(quote_copies_utf8_as_is),
		cmocka_unit_test(quote_of_nul_bytes_fits_worst_case),
		cmocka_unit_test(quote_then_decode_round_trips_every_ascii_byte),
		cmocka_unit_test(minify_removes_whitespace_outside_strings),
		cmocka_unit_test(minify_keeps_whitespace_inside_strings),
		cmocka_unit_test(minify_keeps_key_order_and_number_text),
		cmocka_unit_test(minify_of_minified_text_is_identity),
		cmocka_unit_test(members_valid_finds_what_json_member_finds),
		cmocka_unit_test(members_valid_stays_inside_any_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_schema.c — libFuzzer target for the schema language
 * (src/util/schema_*.c).  Input: a schema document, a newline, an
 * instance; or a first byte '0'-'7' choosing one of the fixed schemas
 * below, then the instance.  Checks properties: a failed compile leaves a
 * "PATH: why" message; a compiled schema validates any text without
 * crashing, twice to the same errors, with the same verdict when asked for
 * none; true and {} accept every JSON value; {"const": X} and
 * {"enum": [X]} accept X; {"uniqueItems": true} accepts [X] and
 * rejects [X, X].
 */
#include "json.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static const char *const fixed[] = {
	"{\"type\":\"object\",\"required\":[\"id\"],\"additionalProperties\":false,\"properties\":"
	"{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"price\":{\"type\":\"number\",\"minimum\":0,"
	"\"multipleOf\":0.01},\"tags\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"type\":\"string\","
	"\"maxLength\":8}}}}",
	"{\"$defs\":{\"n\":{\"type\":[\"object\",\"null\"],\"properties\":{\"l\":{\"$ref\":\"#/$defs/n\"},"
	"\"r\":{\"$ref\":\"#\"},\"v\":{\"type\":\"integer\"}}}},\"$ref\":\"#/$defs/n\"}",
	"{\"items\":{\"enum\":[1,\"a\",{\"b\":[null]},true]},\"maxItems\":4}",
	"{\"additionalProperties\":{\"pattern\":\"^[a-z]+\\\\d*$\",\"minLength\":1}}",
	"{\"items\":{\"format\":\"date-time\"},\"minItems\":1}",
	"{\"properties\":{\"e\":{\"format\":\"email\"},\"u\":{\"format\":\"uri\"},\"d\":{\"format\":\"date\"}}}",
	"{\"items\":{\"const\":{\"a\":[1,2.0,\"\\u00e9\"]}}}",
	"{\"exclusiveMinimum\":-1e3,\"exclusiveMaximum\":1e3,\"multipleOf\":1e-9}",
};

static int validate(const eg_schema *s, const char *t, size_t n, eg_schema_error *e, size_t max, size_t *ne)
{
	char *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, t, n);
	r = eg_schema_validate(s, copy, n, e, max, ne);
	free(copy);
	return r;
}

static int accepts(const char *doc, size_t dn, const char *inst, size_t n)
{
	eg_schema *s;
	char err[256];

	CHECK(eg_schema_compile(doc, dn, &s, err, sizeof err) == 0);
	int r = validate(s, inst, n, NULL, 0, NULL);
	eg_schema_free(s);
	return r;
}

/* A schema wrapped around the instance: prefix X suffix. */
static int wrapped(const char *pre, const char *inst, size_t n, const char *post, const char *doc_inst,
		   size_t dn)
{
	size_t pl = strlen(pre), sl = strlen(post);
	char *doc = malloc(pl + n + sl);
	int r;

	memcpy(doc, pre, pl);
	memcpy(doc + pl, inst, n);
	memcpy(doc + pl + n, post, sl);
	r = accepts(doc, pl + n + sl, doc_inst, dn);
	free(doc);
	return r;
}

static void json_properties(const char *inst, size_t n)
{
	CHECK(accepts("true", 4, inst, n) == 0);
	CHECK(accepts("{}", 2, inst, n) == 0);
	CHECK(accepts("false", 5, inst, n) == 1);
	/* Wrapping adds a level: only below the scanner's depth cap. */
	size_t depth = 0, max = 0;
	for (size_t i = 0; i < n; i++) {
		depth += inst[i] == '[' || inst[i] == '{';
		depth -= (inst[i] == ']' || inst[i] == '}') && depth;
		max = depth > max ? depth : max;
	}
	if (max + 3 >= JSON_MAX_DEPTH)   /* brackets in strings count too: only ever stricter */
		return;
	CHECK(wrapped("{\"const\":", inst, n, "}", inst, n) == 0);
	CHECK(wrapped("{\"enum\":[0,", inst, n, "]}", inst, n) == 0);
	char *arr = malloc(2 * n + 3);
	arr[0] = '[';
	memcpy(arr + 1, inst, n);
	arr[n + 1] = ']';
	CHECK(accepts("{\"uniqueItems\":true}", 20, arr, n + 2) == 0);
	arr[n + 1] = ',';
	memcpy(arr + n + 2, inst, n);
	arr[2 * n + 2] = ']';
	CHECK(accepts("{\"uniqueItems\":true}", 20, arr, 2 * n + 3) == 1);
	free(arr);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data, *doc, *inst;
	size_t dn, n;
	eg_schema *sc = NULL;
	char err[256];

	if (size && data[0] >= '0' && data[0] <= '7') {
		doc = fixed[data[0] - '0'];
		dn = strlen(doc);
		inst = s + 1;
		n = size - 1;
	} else {
		const char *nl = memchr(s, '\n', size);
		if (!nl)
			nl = s + size;
		doc = s;
		dn = (size_t)(nl - s);
		inst = nl < s + size ? nl + 1 : nl;
		n = (size_t)(s + size - inst);
	}
	char *dcopy = malloc(dn ? dn : 1);
	memcpy(dcopy, doc, dn);
	int cr = eg_schema_compile(dcopy, dn, &sc, err, sizeof err);
	free(dcopy);
	if (cr) {
		CHECK(sc == NULL);
		CHECK(err[0] == '/' || !strncmp(err, "(root): ", 8));
		CHECK(strstr(err, ": ") != NULL);
	} else {
		eg_schema_error e1[8], e2[8];
		size_t n1 = 0, n2 = 0;
		int r1 = validate(sc, inst, n, e1, 8, &n1);
		int r2 = validate(sc, inst, n, e2, 8, &n2);
		CHECK(r1 == r2 && n1 == n2);
		CHECK(r1 == 1 ? n1 >= 1 : n1 == 0);
		for (size_t i = 0; i < n1; i++) {
			CHECK(!strcmp(e1[i].pointer, e2[i].pointer));
			CHECK(!strcmp(e1[i].keyword, e2[i].keyword) && e1[i].keyword[0]);
			CHECK(!strcmp(e1[i].message, e2[i].message) && e1[i].message[0]);
			CHECK(e1[i].pointer[0] == 0 || e1[i].pointer[0] == '/');
		}
		CHECK(validate(sc, inst, n, NULL, 0, NULL) == r1);
		eg_schema_validate_envelope(sc, "actor", inst, n, e1, 8, &n1);
		eg_schema_free(sc);
	}
	if (eg_json_validate(inst, n, NULL) == 0)
		json_properties(inst, n);
	return 0;
}

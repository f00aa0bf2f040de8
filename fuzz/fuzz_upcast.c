/*
 * fuzz_upcast.c — libFuzzer target for upcast documents (src/util/upcast.c).
 * Input: an upcast document, a newline, a data object.  Checks properties:
 * a failed parse leaves a "PATH: why" message and no result; a parsed
 * document applied to a valid object gives valid JSON, the same twice; the
 * empty document gives the data minified; data that is not a valid object
 * (which callers never pass) does not crash.
 */
#include "json.h"
#include "upcast.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* A copy of exactly n bytes, so that AddressSanitizer sees an overread. */
static char *copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	memcpy(p, s, n);
	return p;
}

static void check_apply(const eg_upcast *u, const char *data, size_t n, int valid)
{
	char *in = copy(data, n), *a = NULL, *b = NULL;
	size_t ca = 0, cb = 0;
	size_t ka = eg_upcast_apply(u, in, n, &a, &ca);
	size_t kb = eg_upcast_apply(u, in, n, &b, &cb);

	CHECK(ka != (size_t)-1 && ka == kb && (ka == 0 || !memcmp(a, b, ka)));
	if (valid)
		CHECK(eg_json_validate(a, ka, NULL) == 0);
	free(in);
	free(a);
	free(b);
}

static void check_identity(const char *data, size_t n)
{
	eg_upcast *none = NULL;
	char err[64], *out = NULL, *in = copy(data, n), *min = malloc(n ? n : 1);
	size_t cap = 0;
	json_span v = { in, n, JSON_OBJECT };

	CHECK(eg_upcast_parse("[]", 2, &none, err, sizeof err) == 0);
	size_t k = eg_upcast_apply(none, in, n, &out, &cap);
	size_t m = eg_json_minify(&v, min);
	CHECK(k == m && !memcmp(out, min, m));
	eg_upcast_free(none);
	free(in);
	free(out);
	free(min);
}

int LLVMFuzzerTestOneInput(const unsigned char *bytes, size_t size)
{
	const char *s = (const char *)bytes;
	const char *nl = memchr(s, '\n', size);
	size_t dn = nl ? (size_t)(nl - s) : size;
	const char *data = nl ? nl + 1 : s + size;
	size_t n = (size_t)(s + size - data);
	eg_upcast *u = (eg_upcast *)&u;
	char err[256];

	char *doc = copy(s, dn);
	int r = eg_upcast_parse(doc, dn, &u, err, sizeof err);
	free(doc);
	/* valid data for apply: an object (whitespace around it is allowed) */
	size_t lead = 0;
	while (lead < n && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n' || data[lead] == '\r'))
		lead++;
	int valid = eg_json_validate(data, n, NULL) == 0 && lead < n && data[lead] == '{';
	if (r) {
		CHECK(u == NULL);
		CHECK(err[0] == '/' || !strncmp(err, "(root): ", 8));
		CHECK(strstr(err, ": ") != NULL);
	} else {
		check_apply(u, data, n, valid);
		eg_upcast_free(u);
	}
	if (valid && lead == 0 && (n == 0 || data[n - 1] == '}'))
		check_identity(data, n);
	return 0;
}

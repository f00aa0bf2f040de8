/*
 * fuzz_map.c — libFuzzer target for mappings (src/store/map.c).  The input is a
 * mapping file, a newline, then a producer's line.  Whatever the mapping
 * compiles to (or the built-in segment mapping when it does not), mapping
 * the line must stay within eg_map_space, build data and meta that are valid
 * JSON objects, and give scalar fields that are spans of valid JSON; the
 * space left must hold what append.c then does with each scalar field.
 */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* What the rest of eg_map_space is for (map.h): the caller's own use of each
 * scalar field, as append.c makes it.  A string with escapes is decoded
 * (eg_json_string_decode wants the span's length), a number where a string
 * is wanted is quoted, a time without an offset gets a "Z".  Each is
 * written, so AddressSanitizer sees a write past the space too. */
static void use_rest(const map_out *out, char *space, size_t cap, char *p)
{
	for (int f = 0; f < MF_DATA; f++) {
		const json_span *v = &out->v[f];
		size_t need = 0;
		if (v->type == JSON_STRING && !eg_json_string_is_plain(v))
			need = v->n;
		else if (v->type == JSON_NUMBER && f != MF_TIME)
			need = v->n + 2;
		else if (v->type == JSON_STRING && f == MF_TIME && v->n < 64)
			need = v->n + 1;
		if (!need)
			continue;
		CHECK(need <= cap - (size_t)(p - space));
		if (v->type == JSON_STRING && !eg_json_string_is_plain(v))
			p += eg_json_string_decode(v, p);
		else
			memset(p, 'x', need), p += need;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	size_t mn = nl ? (size_t)(nl - s) : size;
	const char *line = nl ? nl + 1 : s;
	size_t len = nl ? size - mn - 1 : size;
	eg_map *m = NULL;
	char err[256];
	err[sizeof err - 1] = 'X';
	if (eg_map_parse(s, mn, &m, err, sizeof err) != EG_OK) {
		CHECK(m == NULL && strlen(err) < sizeof err);
		CHECK(eg_map_builtin("segment", &m) == EG_OK);
	}
	size_t cap = eg_map_space(m, len);
	char *space = malloc(cap), *p = space;
	CHECK(space);
	map_out out;
	if (eg_map_apply(m, line, len, &p, &out, err, sizeof err) == 0) {
		CHECK((size_t)(p - space) <= cap);
		for (int f = 0; f < MF_N; f++) {
			if (!out.v[f].type)
				continue;
			CHECK(eg_json_validate(out.v[f].p, out.v[f].n, NULL) == 0);
			if (f >= MF_DATA)
				CHECK(out.v[f].type == JSON_OBJECT && out.v[f].p[0] == '{');
		}
		use_rest(&out, space, cap, p);
	}
	free(space);
	eg_map_free(m);
	return 0;
}

/*
 * fuzz_map.c — libFuzzer target for mappings (src/map.c).  The input is a
 * mapping file, a newline, then a producer's line.  Whatever the mapping
 * compiles to (or the built-in segment mapping when it does not), mapping
 * the line must stay within map_space, build data and meta that are valid
 * JSON objects, and give scalar fields that are spans of valid JSON.
 */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

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
	size_t cap = map_space(m, len);
	char *space = malloc(cap), *p = space;
	CHECK(space);
	map_out out;
	if (map_apply(m, line, len, &p, &out, err, sizeof err) == 0) {
		CHECK((size_t)(p - space) <= cap);
		for (int f = 0; f < MF_N; f++) {
			if (!out.v[f].type)
				continue;
			CHECK(json_validate(out.v[f].p, out.v[f].n, NULL) == 0);
			if (f >= MF_DATA)
				CHECK(out.v[f].type == JSON_OBJECT && out.v[f].p[0] == '{');
		}
	}
	free(space);
	eg_map_free(m);
	return 0;
}

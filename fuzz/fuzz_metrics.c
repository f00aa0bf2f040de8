/*
 * fuzz_metrics.c — libFuzzer target for the metric sample parser of the
 * rollups (src/engine/metric.c): the input, when it is a valid JSON object,
 * is an event's data.
 *
 * Checks: a sample's value is finite; its canonical tags are a JSON object
 * of strings with keys in strictly ascending byte order (duplicates
 * folded), and parsing a sample with those tags gives them back byte for
 * byte (canonical means a fixed point).  Nothing leaks either way.
 */
#include "engram.h"
#include "json.h"
#include "metric.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void check_canonical(const char *t, size_t n)
{
	json_obj it;
	json_span k, v;
	char *prev = NULL;
	size_t prevn = 0;
	int r;
	CHECK(eg_json_obj_begin(&it, t, n, NULL) == 0);
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		size_t kn;
		char *d = eg_json_string_dup(&k, &kn);
		CHECK(d && v.type == JSON_STRING);
		if (prev) {
			size_t m = kn < prevn ? kn : prevn;
			int c = memcmp(prev, d, m);
			CHECK(c < 0 || (c == 0 && prevn < kn));
		}
		free(prev);
		prev = d, prevn = kn;
	}
	free(prev);
	CHECK(r == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *p = (const char *)data;
	if (eg_json_validate(p, size, NULL))
		return 0;
	while (size && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++, size--;
	while (size && (p[size - 1] == ' ' || p[size - 1] == '\t' || p[size - 1] == '\n' ||
			p[size - 1] == '\r'))
		size--;
	if (!size || *p != '{')
		return 0;
	char *tags = malloc(4096), *tags2 = malloc(4096), *again = malloc(4200);
	CHECK(tags && tags2 && again);
	size_t n, n2;
	double v, v2;
	if (eg_mt_sample_parse(p, size, &v, tags, 4096, &n) == 0) {
		CHECK(isfinite(v));
		check_canonical(tags, n);
		int k = snprintf(again, 4200, "{\"value\":1,\"tags\":%.*s}", (int)n, tags);
		CHECK(k > 0 && k < 4200);
		CHECK(eg_mt_sample_parse(again, (size_t)k, &v2, tags2, 4096, &n2) == 0);
		CHECK(v2 == 1 && n2 == n && !memcmp(tags, tags2, n));
	}
	free(tags), free(tags2), free(again);
	return 0;
}

/*
 * metrictext_check.h — what fuzz_prometheus.c and fuzz_statsd.c check of a
 * text converter (src/util/metrictext.h) on any input: it returns, and
 * either fails with a message that fits err and nothing written, or writes
 * lines that are each a JSON object with kind metric, a type and data, one
 * input line number per output line, never beyond the input's lines and
 * never decreasing.
 */
#include "metrictext.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void check_conv(eg_textconv_fn fn, const char *s, size_t size)
{
	buf out = { 0 };
	uint32_t *lines = NULL;
	char err[256];
	err[sizeof err - 1] = 'X';
	size_t inlines = 1;
	for (size_t i = 0; i < size; i++)
		inlines += s[i] == '\n';
	if (fn(s, size, &out, &lines, err, sizeof err)) {
		CHECK(lines == NULL && out.n == 0 && strlen(err) < sizeof err);
		CHECK(!strncmp(err, "line ", 5) || !strcmp(err, "out of memory"));
		free(out.p);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < out.n; k++) {
		const char *nl = memchr(out.p + i, '\n', out.n - i);
		CHECK(nl);
		size_t n = (size_t)(nl - out.p) - i;
		json_span v = { out.p + i, n, JSON_OBJECT }, f;
		CHECK(eg_json_validate(out.p + i, n, NULL) == 0 && out.p[i] == '{');
		CHECK(eg_json_member(&v, "kind", 4, &f) && f.n == 8 && !memcmp(f.p, "\"metric\"", 8));
		CHECK(eg_json_member(&v, "type", 4, &f) && f.type == JSON_STRING && f.n > 2);
		CHECK(eg_json_member(&v, "data", 4, &f) && f.type == JSON_OBJECT);
		CHECK(eg_json_member(&f, "value", 5, &v));
		CHECK(v.type == JSON_NUMBER || v.type == JSON_STRING);
		CHECK(lines && lines[k] >= 1 && lines[k] <= inlines);
		CHECK(k == 0 || lines[k] >= lines[k - 1]);
		i += n + 1;
	}
	CHECK(k == 0 || lines);
	free(lines);
	free(out.p);
}

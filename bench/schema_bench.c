/*
 * schema_bench.c — what engram's validator costs (`make bench-schema`).
 *
 *     schema_bench EVENTS.ndjson SCHEMA_DIR [PASSES] [INVALID_OUT]
 *
 * Reads an NDJSON file of engram events (`engram gen clickstream` lines)
 * and SCHEMA_DIR/TYPE.json, one schema per event type, each compiled once.
 * Each line's "type" and "data" members are found with json.h's object walk
 * before the clock starts; the timed loop is eg_schema_validate (verdict
 * only, maxerrs 0) on every event's raw data text: one warm-up pass, then
 * PASSES timed ones (default 5).
 * Prints one JSON object: count, invalid, invalid_hash (FNV-1a 64 of the
 * 1-based invalid line numbers, each as 8 little-endian bytes, in order),
 * the seconds of each pass, their median and objects/s; INVALID_OUT gets
 * the invalid line numbers, one a line.  It measures; it asserts nothing.
 */
#define BENCH_NAME "schema_bench"
#include "bench.h"
#include "json.h"
#include "schema.h"

#include <stdint.h>
#include <string.h>

#define MAX_TYPES 64

struct ev {
	const char *data;
	size_t n;
	unsigned type;
};

static char *names[MAX_TYPES];
static eg_schema *schemas[MAX_TYPES];
static unsigned ntypes;

static unsigned type_of(const char *dir, const json_span *t, size_t line)
{
	if (t->type != JSON_STRING || t->n < 2)
		die("line %zu: no string \"type\"", line);
	const char *p = t->p + 1;
	size_t n = t->n - 2;
	for (unsigned i = 0; i < ntypes; i++)
		if (strlen(names[i]) == n && !memcmp(names[i], p, n))
			return i;
	if (ntypes == MAX_TYPES)
		die("more than %d types", MAX_TYPES);
	char path[4096], err[512];
	snprintf(path, sizeof path, "%s/%.*s.json", dir, (int)n, p);
	size_t len;
	char *doc = slurp(path, &len);
	if (eg_schema_compile(doc, len, &schemas[ntypes], err, sizeof err))
		die("%s: %s", path, err);
	free(doc);
	names[ntypes] = strndup(p, n);
	return ntypes++;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 5)
		die("usage: schema_bench EVENTS.ndjson SCHEMA_DIR [PASSES] [INVALID_OUT]");
	int passes = argc > 3 ? atoi(argv[3]) : 5;
	if (passes < 1 || passes > 100)
		die("PASSES: 1 to 100");
	size_t len;
	char *text = slurp(argv[1], &len);

	size_t cap = 1 << 16, count = 0;
	struct ev *ev = malloc(cap * sizeof *ev);
	if (!ev)
		die("out of memory");
	for (char *p = text, *end = text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_obj it;
		json_span key, val, type = {0}, data = {0};
		json_err err;
		int r;
		if (eg_json_obj_begin(&it, p, n, &err))
			die("line %zu: %s at byte %zu", count + 1, err.what, err.off);
		while ((r = eg_json_obj_next(&it, &key, &val, &err)) == 1) {
			if (key.n == 6 && !memcmp(key.p, "\"type\"", 6))
				type = val;
			else if (key.n == 6 && !memcmp(key.p, "\"data\"", 6))
				data = val;
		}
		if (r < 0)
			die("line %zu: %s at byte %zu", count + 1, err.what, err.off);
		if (!data.p)
			die("line %zu: no \"data\"", count + 1);
		if (count == cap && !(ev = realloc(ev, (cap *= 2) * sizeof *ev)))
			die("out of memory");
		ev[count].data = data.p;
		ev[count].n = data.n;
		ev[count].type = type_of(argv[2], &type, count + 1);
		count++;
		p += n + 1;
	}
	if (!count)
		die("%s: no events", argv[1]);

	unsigned char *bad = calloc(count, 1);
	double secs[100];
	size_t invalid = 0;
	for (int r = -1; r < passes; r++) {
		size_t inv = 0;
		double t0 = now();
		for (size_t i = 0; i < count; i++) {
			int v = eg_schema_validate(schemas[ev[i].type], ev[i].data, ev[i].n, NULL, 0,
						   NULL);
			if (v < 0)
				die("out of memory");
			bad[i] = (unsigned char)v;
			inv += (size_t)v;
		}
		if (r >= 0)
			secs[r] = now() - t0;
		if (r >= 0 && inv != invalid)
			die("pass %d: %zu invalid, the pass before %zu", r + 1, inv, invalid);
		invalid = inv;
	}

	uint64_t h = 0xcbf29ce484222325ULL;
	FILE *out = argc > 4 ? fopen(argv[4], "w") : NULL;
	if (argc > 4 && !out)
		die("%s: cannot write", argv[4]);
	for (size_t i = 0; i < count; i++) {
		if (!bad[i])
			continue;
		uint64_t ln = i + 1;
		for (int b = 0; b < 8; b++) {
			h ^= (ln >> (8 * b)) & 0xff;
			h *= 0x100000001b3ULL;
		}
		if (out)
			fprintf(out, "%zu\n", i + 1);
	}
	if (out)
		fclose(out);

	double sorted[100];
	memcpy(sorted, secs, sizeof secs);
	qsort(sorted, (size_t)passes, sizeof *sorted, cmp_double);
	double med = sorted[(passes - 1) / 2];
	printf("{\"side\": \"engram\", \"count\": %zu, \"invalid\": %zu, \"invalid_hash\": \"%016llx\", "
	       "\"types\": %u, \"s\": [",
	       count, invalid, (unsigned long long)h, ntypes);
	for (int r = 0; r < passes; r++)
		printf("%s%.4f", r ? ", " : "", secs[r]);
	printf("], \"median_s\": %.4f, \"objects_per_s\": %.0f}\n", med, count / med);

	for (unsigned i = 0; i < ntypes; i++) {
		eg_schema_free(schemas[i]);
		free(names[i]);
	}
	free(bad);
	free(ev);
	free(text);
	return 0;
}

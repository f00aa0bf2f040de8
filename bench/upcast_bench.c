/*
 * upcast_bench.c — what applying an upcast document costs
 * (`make bench-upcast`).
 *
 *     upcast_bench EVENTS.ndjson TYPE DOCUMENT [PASSES]
 *
 * Reads an NDJSON file of engram events (`engram gen orders` lines) and
 * keeps the raw `data` text of the events of type TYPE, found with json.h's
 * object walk and copied end to end into one array before the clock starts
 * (as the iterator hands data over: just read, not scattered among the
 * other events' lines, so the loop measures the work, not cache misses).  DOCUMENT is an upcast document's
 * text (upcast.h), parsed once.  The timed loop is eg_upcast_apply on every
 * kept event, into one reused output buffer: one warm-up pass, then PASSES
 * timed ones (default 5).  Prints one JSON object: count, out_bytes,
 * out_hash (FNV-1a 64 over every result, each followed by a newline, so
 * that two builds can be compared byte for byte), the seconds of each pass,
 * their median and applies/s.  It measures; it asserts nothing.
 */
#define BENCH_NAME "upcast_bench"
#include "bench.h"
#include "json.h"
#include "upcast.h"

#include <stdint.h>
#include <string.h>

struct ev {
	const char *data;
	size_t n;
};

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* The data of every line of type `type`; their number in *count. */
static struct ev *load(char *text, size_t len, const char *type, size_t *count)
{
	size_t cap = 1 << 16, k = 0, tn = strlen(type), line = 0;
	struct ev *ev = malloc(cap * sizeof *ev);

	if (!ev)
		die("out of memory");
	for (char *p = text, *end = text + len; p < end; line++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_obj it;
		json_span key, val, t = { 0 }, data = { 0 };
		int r;
		if (eg_json_obj_begin(&it, p, n, NULL))
			die("line %zu: not an object", line + 1);
		while ((r = eg_json_obj_next(&it, &key, &val, NULL)) == 1) {
			if (key.n == 6 && !memcmp(key.p, "\"type\"", 6))
				t = val;
			else if (key.n == 6 && !memcmp(key.p, "\"data\"", 6))
				data = val;
		}
		if (r < 0)
			die("line %zu: invalid JSON", line + 1);
		if (t.n == tn + 2 && !memcmp(t.p + 1, type, tn) && data.type == JSON_OBJECT) {
			if (k == cap && !(ev = realloc(ev, (cap *= 2) * sizeof *ev)))
				die("out of memory");
			ev[k].data = data.p;
			ev[k++].n = data.n;
		}
		p += n + 1;
	}
	/* pack the spans together */
	size_t total = 0;
	for (size_t i = 0; i < k; i++)
		total += ev[i].n;
	char *packed = malloc(total ? total : 1), *q = packed;
	if (!packed)
		die("out of memory");
	for (size_t i = 0; i < k; i++) {
		memcpy(q, ev[i].data, ev[i].n);
		ev[i].data = q;
		q += ev[i].n;
	}
	*count = k;
	return ev;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		die("usage: upcast_bench EVENTS.ndjson TYPE DOCUMENT [PASSES]");
	int passes = argc > 4 ? atoi(argv[4]) : 5;
	if (passes < 1 || passes > 100)
		die("PASSES: 1 to 100");
	size_t len, count;
	char *text = slurp(argv[1], &len);
	struct ev *ev = load(text, len, argv[2], &count);
	if (!count)
		die("no events of type %s", argv[2]);
	eg_upcast *u;
	char err[256];
	if (eg_upcast_parse(argv[3], strlen(argv[3]), &u, err, sizeof err))
		die("DOCUMENT: %s", err);

	char *out = NULL;
	size_t cap = 0, bytes = 0;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < count; i++) {     /* warm-up, and the hash */
		size_t k = eg_upcast_apply(u, ev[i].data, ev[i].n, &out, &cap);
		if (k == (size_t)-1)
			die("out of memory");
		h = fnv(fnv(h, out, k), "\n", 1);
		bytes += k;
	}
	double *sec = malloc((size_t)passes * sizeof *sec), *sorted = malloc((size_t)passes * sizeof *sorted);
	if (!sec || !sorted)
		die("out of memory");
	for (int p = 0; p < passes; p++) {
		double t0 = now();
		for (size_t i = 0; i < count; i++)
			if (eg_upcast_apply(u, ev[i].data, ev[i].n, &out, &cap) == (size_t)-1)
				die("out of memory");
		sec[p] = now() - t0;
	}
	memcpy(sorted, sec, (size_t)passes * sizeof *sec);
	qsort(sorted, (size_t)passes, sizeof *sorted, cmp_double);
	double med = passes % 2 ? sorted[passes / 2] : (sorted[passes / 2 - 1] + sorted[passes / 2]) / 2;
	printf("{\"count\":%zu,\"out_bytes\":%zu,\"out_hash\":\"%016llx\",\"passes\":[", count, bytes,
	       (unsigned long long)h);
	for (int p = 0; p < passes; p++)
		printf("%s%.4f", p ? "," : "", sec[p]);
	printf("],\"median_s\":%.4f,\"applies_per_s\":%.0f}\n", med, (double)count / med);
	eg_upcast_free(u);
	free(out);
	free(ev);
	free(text);
	free(sec);
	free(sorted);
	return 0;
}

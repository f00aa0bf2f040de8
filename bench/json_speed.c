/*
 * json_speed.c — microbenchmark of the JSON scanner on ingest-like input.
 * Generates 1M NDJSON event lines of ~200 bytes in memory, then times
 * eg_json_validate over all of them, and a full json_obj walk of each line
 * plus eg_json_minify of its "data" member (best of REPS runs).  Build and run:
 *   cc -O2 -Isrc bench/json_speed.c src/json.c -o build/json_speed && build/json_speed
 */
#define _POSIX_C_SOURCE 200809L
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINES 1000000
#define REPS 5

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One event line in the shape ingest sees; some notes carry escapes and
 * non-ASCII so the slow paths are exercised too. */
static int gen_line(char *o, size_t cap, uint32_t i)
{
	static const char *types[] = { "order.placed", "order.paid",
				       "order.shipped", "cart.updated" };
	static const char *notes[] = {
		"leave at the door", "caf\xc3\xa9 cr\xc3\xa8me \xe2\x82\xac",
		"ring twice \\\"please\\\"", "line one\\nline two",
		"gift wrap, no invoice",
	};
	return snprintf(o, cap,
		"{\"id\":\"e%u\",\"type\":\"%s\",\"stream\":\"o-%u\","
		"\"time\":\"2025-01-%02uT%02u:%02u:%02u.%06uZ\",\"data\":{\"order_id\":%u,"
		"\"amount\":%u.%02u,\"currency\":\"EUR\","
		"\"items\":[{\"sku\":\"SKU-%u\",\"qty\":%u}],\"note\":\"%s\"}}",
		i, types[rnd(4)], rnd(100000), 1 + rnd(28), rnd(24), rnd(60),
		rnd(60), rnd(1000000), rnd(1000000), rnd(1000),
		rnd(100), rnd(10000), 1 + rnd(9), notes[rnd(5)]);
}

int main(void)
{
	size_t cap = (size_t)LINES * 300, total = 0;
	char *buf = malloc(cap), *out = malloc(4096);
	size_t *off = malloc((LINES + 1) * sizeof *off);
	uint64_t sum = 0;
	double t0, t_val, t_walk;
	json_err err;

	if (!buf || !out || !off)
		return 1;
	for (uint32_t i = 0; i < LINES; i++) {
		off[i] = total;
		total += (size_t)gen_line(buf + total, cap - total, i);
	}
	off[LINES] = total;

	/* Best of REPS: the minimum is the least disturbed by other work. */
	t_val = t_walk = 1e9;
	for (int rep = 0; rep < REPS; rep++) {
		double t;

		t0 = now();
		for (size_t i = 0; i < LINES; i++) {
			if (eg_json_validate(buf + off[i], off[i + 1] - off[i], &err)) {
				fprintf(stderr, "line %zu: %s at %zu\n", i, err.what, err.off);
				return 1;
			}
		}
		if ((t = now() - t0) < t_val)
			t_val = t;

		t0 = now();
		for (size_t i = 0; i < LINES; i++) {
			json_obj it;
			json_span k, v;
			int r;

			if (eg_json_obj_begin(&it, buf + off[i], off[i + 1] - off[i], &err))
				return 1;
			while ((r = eg_json_obj_next(&it, &k, &v, &err)) == 1)
				if (k.n == 6 && memcmp(k.p, "\"data\"", 6) == 0)
					sum += eg_json_minify(&v, out);
			if (r < 0)
				return 1;
		}
		if ((t = now() - t0) < t_walk)
			t_walk = t;
	}

	printf("lines: %d, bytes: %zu (avg %.0f B/line)\n", LINES, total,
	       (double)total / LINES);
	printf("json_validate:        %.3f s  %7.0f MB/s  %5.0f ns/line\n", t_val,
	       (double)total / 1e6 / t_val, t_val * 1e9 / LINES);
	printf("walk + minify(data):  %.3f s  %7.0f MB/s  %5.0f ns/line  (%llu bytes out)\n",
	       t_walk, (double)total / 1e6 / t_walk, t_walk * 1e9 / LINES,
	       (unsigned long long)(sum / REPS));
	free(off);
	free(out);
	free(buf);
	return 0;
}

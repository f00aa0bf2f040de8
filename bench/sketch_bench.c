/*
 * sketch_bench.c — what the quantile sketch costs (`make bench-sketch`).
 *
 * Adds 10 million pre-generated values (so the generator is not timed) to
 * a fresh sketch, 7 runs per data shape, and prints min and median ns per
 * value; next to it the same loop with the bucket index taken from libm's
 * log(), to show what the table saves.  Then quantile, merge, encode and
 * decode of a typical latency sketch.  It measures; it asserts nothing.
 */
#include "engram.h"
#include "sketch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 10000000
#define RUNS 7

static uint64_t rng = 42;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unif(void)
{
	return ((double)(rnd() >> 11) + 0.5) * 0x1p-53;
}

static double normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp);
	return t[n / 2];
}

/* The same work as eg_qs_add's fast path with the index from log(): a dense
 * array, a bounds check, lo/hi and min/max kept. */
typedef struct {
	uint64_t c[1 << 17];
	int32_t lo, hi;
	double min, max;
	uint64_t n;
} logsketch;

static int log_add(logsketch *s, double v, double inv)
{
	if (!isfinite(v))
		return -1;
	double a = fabs(v);
	if (a > 0) {
		int32_t i = (int32_t)ceil(log(a) * inv);
		uint32_t k = (uint32_t)(i + (1 << 16));
		if (k >= (1u << 17))
			return -1;
		s->c[k]++;
		if (i < s->lo)
			s->lo = i;
		if (i > s->hi)
			s->hi = i;
	}
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	s->n++;
	return 0;
}

static void bench_add(const char *name, const double *v)
{
	double t[RUNS], tl[RUNS];
	static logsketch ls;
	double inv = 1 / log(exp2(1.0 / 70));
	uint64_t check = 0;
	for (int r = 0; r < RUNS; r++) {
		qs_sketch s;
		eg_qs_init(&s);
		double t0 = now();
		for (size_t i = 0; i < N; i++)
			eg_qs_add(&s, v[i]);
		t[r] = (now() - t0) * 1e9 / N;
		check += eg_qs_count(&s);
		eg_qs_free(&s);

		memset(&ls, 0, sizeof ls);
		ls.lo = INT32_MAX;
		ls.hi = INT32_MIN;
		t0 = now();
		for (size_t i = 0; i < N; i++)
			log_add(&ls, v[i], inv);
		tl[r] = (now() - t0) * 1e9 / N;
		check += ls.n;
	}
	if (check != 2ULL * RUNS * N)
		fprintf(stderr, "count mismatch\n");
	double tmin = t[0], tlmin = tl[0];
	for (int r = 1; r < RUNS; r++) {
		tmin = t[r] < tmin ? t[r] : tmin;
		tlmin = tl[r] < tlmin ? tl[r] : tlmin;
	}
	printf("| add, %-22s | %5.2f | %5.2f | %5.2f | %5.2f |\n", name, tmin, median(t, RUNS),
	       tlmin, median(tl, RUNS));
}

static double d_latency(void) { return 0.2 + exp(1 + 0.8 * normal()); }
static double d_uniform(void) { return 1 + 999 * unif(); }
static double d_wide(void) { return exp2(-28 + 56 * unif()) * (rnd() & 1 ? 1 : -1); }
static double d_const(void) { return 42.0; }

int main(void)
{
	double *v = malloc(N * sizeof *v);
	if (!v)
		return 1;
	static const struct { const char *name; double (*f)(void); } d[] = {
		{ "latency ms (lognormal)", d_latency },
		{ "uniform 1..1000", d_uniform },
		{ "+-2^-28..2^28", d_wide },
		{ "one value", d_const },
	};
	printf("ns per value, %d values, %d runs: qs_add, and the same loop with log()\n\n", N, RUNS);
	printf("| what | qs_add min | median | log() min | median |\n|---|---|---|---|---|\n");
	for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
		for (size_t i = 0; i < N; i++)
			v[i] = d[k].f();
		bench_add(d[k].name, v);
	}

	/* a typical latency sketch of 100000 values, and another */
	qs_sketch a, b;
	eg_qs_init(&a);
	eg_qs_init(&b);
	for (int i = 0; i < 100000; i++) {
		eg_qs_add(&a, d_latency());
		eg_qs_add(&b, d_latency());
	}
	int reps = 100000;
	double t0 = now(), sink = 0;
	for (int i = 0; i < reps; i++) {
		sink += eg_qs_quantile(&a, 0.5) + eg_qs_quantile(&a, 0.9) + eg_qs_quantile(&a, 0.95) +
			eg_qs_quantile(&a, 0.99);
	}
	double tq = (now() - t0) * 1e9 / reps / 4;

	reps = 20000;
	t0 = now();
	for (int i = 0; i < reps; i++) {
		qs_sketch m;
		eg_qs_init(&m);
		eg_qs_merge(&m, &a);
		eg_qs_merge(&m, &b);
		sink += (double)eg_qs_count(&m);
		eg_qs_free(&m);
	}
	double tm = (now() - t0) * 1e9 / reps / 2;

	size_t len = eg_qs_encoded_size(&a);
	unsigned char *buf = malloc(len);
	t0 = now();
	for (int i = 0; i < reps; i++)
		sink += (double)eg_qs_encode(&a, buf);
	double te = (now() - t0) * 1e9 / reps;
	t0 = now();
	for (int i = 0; i < reps; i++) {
		qs_sketch c;
		if (eg_qs_decode(&c, buf, len) == EG_OK)
			sink += (double)eg_qs_count(&c);
		eg_qs_free(&c);
	}
	double td = (now() - t0) * 1e9 / reps;

	printf("\nlatency sketch, 1e5 values: %zu bytes in memory, %zu encoded, p99 %.3f ms\n",
	       eg_qs_memory(&a), len, eg_qs_quantile(&a, 0.99));
	printf("| op | ns |\n|---|---|\n");
	printf("| quantile (one of p50/p90/p95/p99) | %.0f |\n", tq);
	printf("| merge into a sketch (incl. its allocation) | %.0f |\n", tm);
	printf("| encode | %.0f |\n| decode (validated) | %.0f |\n", te, td);
	if (sink == 0.123)
		printf("-\n");
	free(buf);
	free(v);
	eg_qs_free(&a);
	eg_qs_free(&b);
	return 0;
}

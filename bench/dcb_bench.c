/*
 * dcb_bench.c — what the check of a conditional append costs
 * (docs/CONSISTENCY.md), for bench/dcb.sh.
 *
 *   dcb_bench build DIR N      a store of N tagged events: types
 *                              seat_booked, seat_released, note, page_view
 *                              in turn; tags course:C (N/100 courses, ~100
 *                              events each, spread over the log) and
 *                              student:S; 100,000-event commits, sync none
 *   dcb_bench check DIR K      K checks, each for another course, as a
 *                              writer makes them (eg_query_find under the
 *                              write lock), --after the head less 1 and
 *                              less 1,000, and 0: prints one JSON line of
 *                              medians and 99th percentiles in microseconds
 */
#include "engram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return v[(int)(p * (n - 1))];
}

static const char *const TYPES[] = { "seat_booked", "seat_released", "note", "page_view" };

static int build(const char *dir, uint64_t n)
{
	eg_store *st;
	eg_open_opts oo = { .seal = EG_SEAL_NEVER };
	if (eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, &oo)) {
		fprintf(stderr, "dcb_bench: %s\n", eg_errmsg(st));
		return 1;
	}
	uint64_t courses = n / 100 ? n / 100 : 1;
	size_t cap = 200 * 100000;
	char *buf = malloc(cap);
	for (uint64_t i = 0; i < n; ) {
		eg_batch *b;
		eg_batch_opts bo = { .expect_version = -1, .sync = EG_SYNC_NONE };
		if (!buf || eg_batch_begin(st, &b, &bo))
			return 1;
		size_t len = 0;
		for (int k = 0; k < 100000 && i < n; k++, i++)
			len += (size_t)snprintf(buf + len, cap - len,
						"{\"type\":\"%s\",\"tags\":[\"course:%llu\",\"student:%llu\"],"
						"\"data\":{\"i\":%llu}}\n", TYPES[i % 4],
						(unsigned long long)(i * 7919 % courses),
						(unsigned long long)(i % 1000003), (unsigned long long)i);
		uint64_t lines;
		if (eg_batch_add_ndjson(b, buf, len, NULL, NULL, &lines) || eg_batch_commit(b, NULL)) {
			fprintf(stderr, "dcb_bench: %s\n", eg_errmsg(st));
			return 1;
		}
	}
	free(buf);
	eg_store_close(st);
	return 0;
}

/* The median and 99th percentile of K timings of one kind of check. */
static void measure(eg_store *st, const char *what, const char *fmt, uint64_t courses,
		    uint64_t after, int k, int first)
{
	double *t = malloc((size_t)k * sizeof *t);
	uint64_t found = 0;
	for (int i = 0; i < k; i++) {
		char text[128], err[128];
		snprintf(text, sizeof text, fmt, (unsigned long long)((uint64_t)i * 104729 % courses));
		eg_query *q = NULL;
		if (eg_query_add(&q, text, err, sizeof err)) {
			fprintf(stderr, "dcb_bench: %s\n", err);
			exit(1);
		}
		uint64_t pos;
		int item;
		double t0 = now_us();
		if (eg_query_find(st, q, after, &pos, &item)) {
			fprintf(stderr, "dcb_bench: %s\n", eg_errmsg(st));
			exit(1);
		}
		t[i] = now_us() - t0;
		found += pos != 0;
		eg_query_free(q);
	}
	printf("%s\"%s\":{\"median_us\":%.2f,\"p99_us\":%.2f,\"conflicts\":%llu}", first ? "" : ",",
	       what, pct(t, k, 0.5), pct(t, k, 0.99), (unsigned long long)found);
	free(t);
}

static int check(const char *dir, int k)
{
	eg_store *st;
	eg_head h;
	if (eg_store_open(&st, dir, EG_OPEN_WRITE, NULL) || eg_store_head(st, &h)) {
		fprintf(stderr, "dcb_bench: %s\n", eg_errmsg(st));
		return 1;
	}
	uint64_t courses = h.pos / 100 ? h.pos / 100 : 1;
	printf("{\"events\":%llu,", (unsigned long long)h.pos);
	/* the common case: --after the head just read, a few events by
	 * others since (after == head would answer without a lookup) */
	measure(st, "tags_types_after_head_1", "types=seat_booked,seat_released tags=course:%llu",
		courses, h.pos - 1, k, 1);
	measure(st, "tags_types_after_head_1000",
		"types=seat_booked,seat_released tags=course:%llu", courses, h.pos - 1000, k, 0);
	measure(st, "two_tags_after_head_1000", "tags=course:%llu,student:1", courses,
		h.pos - 1000, k, 0);
	measure(st, "types_only_after_head_1000", "types=seat_booked;types=x%llu", courses,
		h.pos - 1000, k, 0);
	/* a course's ~100 events all after: found, the first of them */
	measure(st, "tags_types_after_0", "types=seat_booked,seat_released tags=course:%llu",
		courses, 0, k, 0);
	printf("}\n");
	eg_store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "build"))
		return build(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: dcb_bench build DIR N | check DIR K\n");
	return 2;
}

/*
 * bench.h — what the C sides of the benchmarks share: dying with a message,
 * a monotonic clock, sorting timings, reading a whole file.  Define
 * BENCH_NAME (the program's name, for messages) before including it.
 */
#ifndef EG_BENCH_H
#define EG_BENCH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(BENCH_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The whole file at path, NUL-terminated, its length in *n. */
static inline char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s: cannot open", path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	rewind(f);
	char *p = malloc((size_t)len + 1);
	if (!p || fread(p, 1, (size_t)len, f) != (size_t)len)
		die("%s: cannot read", path);
	fclose(f);
	p[len] = 0;
	*n = (size_t)len;
	return p;
}

#endif

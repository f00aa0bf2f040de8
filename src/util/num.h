/*
 * num.h — exact decimal numbers for the aggregates of projections.
 *
 * Money is written 129.90 and users expect 0.10 + 0.20 to print 0.3, and a
 * sum to be the same whatever order its parts were added in (a snapshot
 * merges partial sums; a replay adds one by one).  So a JSON number is kept
 * as a decimal m * 10^e when it has at most 18 significant digits, and sums
 * are exact in 128 bits.  Anything else (more digits, exponents beyond
 * +-40, a sum that would overflow) falls back to double precision, and then
 * the result may depend on the order of additions.
 */
#ifndef EG_NUM_H
#define EG_NUM_H

#include <stddef.h>
#include <stdint.h>

/* One number as stored in a projection entry (16 bytes). */
typedef struct num {
	int64_t m;        /* mantissa; the bits of a double if !exact */
	int32_t e;        /* decimal exponent */
	int32_t exact;
} num;

/* An accumulator: a sum, or a min/max value (24 bytes, 8-aligned, so that
 * the aggregates of projection chunks stay small).  Exact: the 128-bit
 * mantissa is hi:lo and the value hi:lo * 10^e.  Not exact: lo holds the
 * bits of a double. */
typedef struct nacc {
	uint64_t lo;
	int64_t hi;
	int32_t e;
	int32_t exact;
} nacc;

#define NUM_TEXT_MAX 64

/* Parse a JSON number (validated text).  Returns 0. */
int eg_num_parse(const char *s, size_t n, num *out);
double eg_num_double(const num *v);
/* Set an accumulator to v * mult. */
void eg_nacc_set(nacc *a, const num *v, int64_t mult);
/* a += b. */
void eg_nacc_add(nacc *a, const nacc *b);
/* <0, 0, >0 as a < b. */
int eg_nacc_cmp(const nacc *a, const nacc *b);
/* The value as a double. */
double eg_nacc_double(const nacc *a);
/* Write d as the shortest JSON number that reads back as d ("null" if not
 * finite; at most NUM_TEXT_MAX bytes); returns the length. */
size_t eg_num_format_double(double d, char *out);
/* Write a as a JSON number (at most NUM_TEXT_MAX bytes); returns the length. */
size_t eg_nacc_format(const nacc *a, char *out);

#endif

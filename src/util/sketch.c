/*
 * sketch.c — the quantile sketch (see sketch.h and docs/SKETCH.md).
 *
 * Bucket i holds the magnitudes in (g^(i-1), g^i] with g = 2^(1/70).  That g
 * is a root of 2 so that the index needs no logarithm: the exponent bits of
 * the double give 70 * e, and the mantissa, through a 256-entry table and one
 * comparison, gives the 0..70 left over.  The boundaries are the 71 doubles
 * of T below, the same on every machine.
 */
#include "sketch.h"

#include "engram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PER_OCTAVE 70
#define SIGN_BIT  0x8000000000000000ULL
#define EXP_BITS  0x7ff0000000000000ULL
#define FRAC_BITS 0x000fffffffffffffULL
#define HIDDEN    0x0010000000000000ULL

/* The bucket indexes of the smallest subnormal, 2^-1074, and of DBL_MAX. */
#define IDX_MIN (-1074 * PER_OCTAVE)
#define IDX_MAX (1024 * PER_OCTAVE)

#define FIRST_LEN 64     /* buckets allocated with a store's first value */

/* T[j] = 2^(j/70) * 2^52, rounded to the nearest integer (computed to 60
 * digits with Python's decimal module): the upper bound of the mantissas
 * of bucket j of an octave, as 53-bit integers. */
static const uint64_t T[PER_OCTAVE + 1] = {
	0x10000000000000ULL, 0x1028c2af3c1ff5ULL, 0x1051ed35254d7bULL, 0x107b809a43b568ULL,
	0x10a57de9c16bc7ULL, 0x10cfe6317120a2ULL, 0x10faba81d4e5dfULL, 0x1125fbee250664ULL,
	0x1151ab8c56eea2ULL, 0x117dca752426beULL, 0x11aa59c4115e7dULL, 0x11d75a97758b26ULL,
	0x1204ce10811781ULL, 0x1232b55345262fULL, 0x12611186bae675ULL, 0x128fe3d4cafbb7ULL,
	0x12bf2d6a54f7daULL, 0x12eeef7736e8a3ULL, 0x131f2b2e54f85dULL, 0x134fe1c5a121edULL,
	0x1381147622f886ULL, 0x13b2c47bff8329ULL, 0x13e4f316812c30ULL, 0x1417a1881fc50eULL,
	0x144ad116889e7bULL, 0x147e830aa6b53eULL, 0x14b2b8b0aaf3c7ULL, 0x14e773581488d9ULL,
	0x151cb453b9536cULL, 0x15527cf9ce6406ULL, 0x1588cea3f093beULL, 0x15bfaaaf2d311fULL,
	0x15f7127c0ac32aULL, 0x162f076e91e2a5ULL, 0x16678aee5629f8ULL, 0x16a09e667f3bcdULL,
	0x16da4345d1e0adULL, 0x17147afeb93bdcULL, 0x174f47075017a0ULL, 0x178aa8d96a493eULL,
	0x17c6a1f29e2ce6ULL, 0x180333d44e39beULL, 0x18406003b2ae5cULL, 0x187e2809e355e7ULL,
	0x18bc8d73e16610ULL, 0x18fb91d2a17639ULL, 0x193b36bb158fffULL, 0x197b7dc637595cULL,
	0x19bc68911258c0ULL, 0x19fdf8bcce533dULL, 0x1a402feeb9c533ULL, 0x1a830fd0547591ULL,
	0x1ac69a0f5a241cULL, 0x1b0ad05dcd52e0ULL, 0x1b4fb472022b1aULL, 0x1b954806a97df0ULL,
	0x1bdb8cdadbe120ULL, 0x1c2284b224e80aULL, 0x1c6a31548e794dULL, 0x1cb2948eac4142ULL,
	0x1cfbb031a741a5ULL, 0x1d458613497eacULL, 0x1d90180e09c9e4ULL, 0x1ddb680117ab12ULL,
	0x1e2777d0676770ULL, 0x1e744964be278bULL, 0x1ec1deabbe3c14ULL, 0x1f103997f381f4ULL,
	0x1f5f5c20dfe5f2ULL, 0x1faf4843080836ULL, 0x20000000000000ULL,
};

/* J0[s]: the bucket of an octave holding the first mantissa whose top 8
 * fraction bits are s.  A slot spans a ratio of at most 1 + 1/256, less than
 * g, so it meets at most one boundary: a mantissa m of slot s is in bucket
 * J0[s] if m <= T[J0[s]], else in the next.  test_sketch.c compares the
 * result with log2l on random values and at the edges of every j. */
static const uint8_t J0[256] = {
	 0,  1,  1,  2,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,  6,  6,
	 7,  7,  7,  8,  8,  8,  9,  9, 10, 10, 10, 11, 11, 11, 12, 12,
	12, 13, 13, 13, 14, 14, 14, 15, 15, 16, 16, 16, 17, 17, 17, 18,
	18, 18, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 22, 22, 22, 23,
	23, 23, 24, 24, 24, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 28,
	28, 28, 29, 29, 29, 29, 30, 30, 30, 31, 31, 31, 32, 32, 32, 32,
	33, 33, 33, 34, 34, 34, 34, 35, 35, 35, 35, 36, 36, 36, 37, 37,
	37, 37, 38, 38, 38, 39, 39, 39, 39, 40, 40, 40, 40, 41, 41, 41,
	41, 42, 42, 42, 42, 43, 43, 43, 44, 44, 44, 44, 45, 45, 45, 45,
	46, 46, 46, 46, 47, 47, 47, 47, 48, 48, 48, 48, 49, 49, 49, 49,
	50, 50, 50, 50, 50, 51, 51, 51, 51, 52, 52, 52, 52, 53, 53, 53,
	53, 54, 54, 54, 54, 55, 55, 55, 55, 55, 56, 56, 56, 56, 57, 57,
	57, 57, 57, 58, 58, 58, 58, 59, 59, 59, 59, 59, 60, 60, 60, 60,
	61, 61, 61, 61, 61, 62, 62, 62, 62, 62, 63, 63, 63, 63, 64, 64,
	64, 64, 64, 65, 65, 65, 65, 65, 66, 66, 66, 66, 66, 67, 67, 67,
	67, 67, 68, 68, 68, 68, 69, 69, 69, 69, 69, 70, 70, 70, 70, 70,
};

/* ------------------------------------------------------------ buckets */

/* The bucket of a magnitude given as the bits of a finite nonzero double:
 * ceil(70 * log2(v)), with the boundaries of T. */
static inline int32_t bucket_of(uint64_t a)
{
	int32_t e = (int32_t)(a >> 52);
	uint64_t f = a & FRAC_BITS;
	if (e == 0) {
		/* subnormal: shift the leading 1 up to the hidden bit */
		int sh = __builtin_clzll(f) - 11;
		f = (f << sh) & FRAC_BITS;
		e = 1 - sh;
	}
	int32_t j = J0[f >> 44];
	j += (f | HIDDEN) > T[j];
	return (e - 1023) * PER_OCTAVE + j;
}

static int32_t bucket_of_double(double v)
{
	uint64_t a;
	memcpy(&a, &v, sizeof a);
	return bucket_of(a & ~SIGN_BIT);
}

/* The value reported for bucket i: 2 g^i / (g + 1), which is within
 * (g - 1) / (g + 1) of every value of (g^(i-1), g^i]. */
static double bucket_value(int32_t i)
{
	int32_t e = i / PER_OCTAVE, j = i % PER_OCTAVE;
	if (j < 0) {
		j += PER_OCTAVE;
		e--;
	}
	double g = (double)T[1] * 0x1p-52;
	/* scale last, so that the top bucket (g^i = 2^1024) stays finite */
	return ldexp((double)T[j] * 0x1p-52 * (2.0 / (g + 1.0)), e);
}

/* -------------------------------------------------------------- stores */

static void store_init(qs_store *st)
{
	st->c = NULL;
	st->off = 0;
	st->len = 0;
	st->lo = INT32_MAX;
	st->hi = INT32_MIN;
	st->collapsed = 0;
}

static int store_empty(const qs_store *st)
{
	return st->lo > st->hi;
}

/* The nonempty range the store must cover to also hold buckets a..b, after
 * the collapse rule: the range is at most QS_MAX_BUCKETS long and ends at
 * the highest bucket; whatever lies below its start is counted in it.
 * Because the end only ever moves up, the buckets of a set of values do
 * not depend on the order they came in. */
static void store_need(const qs_store *st, int32_t a, int32_t b, int32_t *lo, int32_t *hi)
{
	*lo = st->lo < a ? st->lo : a;
	*hi = st->hi > b ? st->hi : b;
	if (*hi - *lo >= QS_MAX_BUCKETS)
		*lo = *hi - QS_MAX_BUCKETS + 1;
}

/* Where the window for lo..hi goes: a quarter more than lo..hi, in steps
 * of 64 buckets, with most of the room on the side it grew towards (so a
 * range widening one bucket at a time moves the window only every quarter
 * of its length).  Returns 0 when the current window already covers lo..hi. */
static int store_plan(const qs_store *st, int32_t lo, int32_t hi, int32_t *off, int32_t *len)
{
	if (st->len > 0 && lo >= st->off && hi < st->off + st->len)
		return 0;
	int32_t need = hi - lo + 1;
	int32_t n = (need + need / 4 + FIRST_LEN - 1) / FIRST_LEN * FIRST_LEN;
	if (n > QS_MAX_BUCKETS)
		n = QS_MAX_BUCKETS;
	int32_t room = n - need, below;
	if (st->len == 0)
		below = room / 2;
	else if (hi >= st->off + st->len)
		below = room / 4;      /* grew up */
	else
		below = room - room / 4;
	*off = lo - below;
	*len = n;
	return 1;
}

/* Count n more in bucket i, inside the window (callers have already sent
 * a bucket below the floor to the floor). */
static inline void store_put(qs_store *st, int32_t i, uint64_t n)
{
	st->c[i - st->off] += n;
	if (i < st->lo)
		st->lo = i;
	if (i > st->hi)
		st->hi = i;
}

/* Move the store to the window off..off+len (buf, zeroed, or NULL to keep
 * the current one), folding every bucket below lo into bucket lo. */
static void store_move(qs_store *st, uint64_t *buf, int32_t off, int32_t len, int32_t lo)
{
	uint64_t folded = 0;
	if (!store_empty(st) && st->lo < lo) {
		int32_t end = st->hi < lo ? st->hi + 1 : lo;
		for (int32_t i = st->lo; i < end; i++) {
			folded += st->c[i - st->off];
			st->c[i - st->off] = 0;
		}
		st->collapsed = 1;
		st->lo = end;
		if (st->lo > st->hi) {      /* everything folded */
			st->lo = INT32_MAX;
			st->hi = INT32_MIN;
		}
	}
	if (buf) {
		if (!store_empty(st))
			memcpy(buf + (st->lo - off), st->c + (st->lo - st->off),
			       (size_t)(st->hi - st->lo + 1) * sizeof *buf);
		free(st->c);
		st->c = buf;
		st->off = off;
		st->len = len;
	}
	if (folded)
		store_put(st, lo, folded);
}

/* Make st's window cover lo..hi (as store_need gives them), folding
 * whatever lies below lo into it.  EG_OK or EG_ENOMEM (st unchanged). */
static int store_reserve(qs_store *st, int32_t lo, int32_t hi)
{
	int32_t off = 0, len = 0;
	uint64_t *buf = NULL;
	if (store_plan(st, lo, hi, &off, &len) && !(buf = calloc((size_t)len, sizeof *buf)))
		return EG_ENOMEM;
	store_move(st, buf, off, len, lo);
	return EG_OK;
}

static int store_add_slow(qs_store *st, int32_t i, uint64_t n)
{
	int32_t lo, hi;
	store_need(st, i, i, &lo, &hi);
	if (store_reserve(st, lo, hi) != EG_OK)
		return EG_ENOMEM;
	if (i < lo) {
		i = lo;
		st->collapsed = 1;
	}
	store_put(st, i, n);
	return EG_OK;
}

/* The fast path: bucket i is inside the window.  A window is at most
 * QS_MAX_BUCKETS long, so no bucket in it can need a collapse. */
static inline int store_add(qs_store *st, int32_t i, uint64_t n)
{
	if ((uint32_t)(i - st->off) < (uint32_t)st->len) {
		store_put(st, i, n);
		return EG_OK;
	}
	return store_add_slow(st, i, n);
}

/* ------------------------------------------------------------- sketch */

void eg_qs_init(qs_sketch *s)
{
	store_init(&s->pos);
	store_init(&s->neg);
	s->nsmall = 0;
	s->zeros = 0;
	s->count = 0;
	s->min = HUGE_VAL;
	s->max = -HUGE_VAL;
}

/* Empty st, keeping its buckets' memory. */
static void store_clear(qs_store *st)
{
	if (st->c && !store_empty(st))
		memset(st->c + (st->lo - st->off), 0, (size_t)(st->hi - st->lo + 1) * sizeof *st->c);
	st->lo = INT32_MAX;
	st->hi = INT32_MIN;
	st->collapsed = 0;
}

void eg_qs_clear(qs_sketch *s)
{
	store_clear(&s->pos);
	store_clear(&s->neg);
	s->nsmall = 0;
	s->zeros = 0;
	s->count = 0;
	s->min = HUGE_VAL;
	s->max = -HUGE_VAL;
}

void eg_qs_free(qs_sketch *s)
{
	free(s->pos.c);
	free(s->neg.c);
	eg_qs_init(s);
}

/* ---------------------------------------------------- values inline */

/* Keep bucket b of one value (neg: of a negative one) inline: 1 if kept,
 * 0 if the stores must take it (the list is full, the stores are in use,
 * or the buckets of one sign would span more than the stores hold, which
 * would collapse them). */
static int small_add(qs_sketch *s, int32_t b, int neg)
{
	if (s->nsmall == QS_SMALL || !store_empty(&s->pos) || !store_empty(&s->neg))
		return 0;
	for (uint32_t k = 0; k < s->nsmall; k++) {
		int32_t e = s->small[k];
		if ((e & 1) == neg && ((e >> 1) - b >= QS_MAX_BUCKETS || b - (e >> 1) >= QS_MAX_BUCKETS))
			return 0;
	}
	s->small[s->nsmall++] = 2 * b + neg;
	return 1;
}

int eg_qs_spill(qs_sketch *s)
{
	if (!s->nsmall)
		return EG_OK;
	/* room for all of them first, so that a failure changes nothing */
	for (int neg = 0; neg < 2; neg++) {
		int32_t lo = INT32_MAX, hi = INT32_MIN;
		for (uint32_t k = 0; k < s->nsmall; k++) {
			int32_t e = s->small[k];
			if ((e & 1) == neg) {
				lo = (e >> 1) < lo ? (e >> 1) : lo;
				hi = (e >> 1) > hi ? (e >> 1) : hi;
			}
		}
		qs_store *st = neg ? &s->neg : &s->pos;
		if (lo <= hi && store_reserve(st, lo, hi) != EG_OK)
			return EG_ENOMEM;
	}
	for (uint32_t k = 0; k < s->nsmall; k++)
		store_put(s->small[k] & 1 ? &s->neg : &s->pos, s->small[k] >> 1, 1);
	s->nsmall = 0;
	return EG_OK;
}

/* Count n values of bucket b (neg: negative ones). */
static inline int add_bucket(qs_sketch *s, int32_t b, int neg, uint64_t n)
{
	if (n == 1 && small_add(s, b, neg))
		return EG_OK;
	int rc = eg_qs_spill(s);
	return rc != EG_OK ? rc : store_add(neg ? &s->neg : &s->pos, b, n);
}

/* The inline buckets of one sign, ascending, into out: how many. */
static uint32_t small_sorted(const qs_sketch *s, int neg, int32_t *out)
{
	uint32_t m = 0;
	for (uint32_t k = 0; k < s->nsmall; k++) {
		if ((s->small[k] & 1) != neg)
			continue;
		int32_t b = s->small[k] >> 1;
		uint32_t j = m++;
		for (; j > 0 && out[j - 1] > b; j--)
			out[j] = out[j - 1];
		out[j] = b;
	}
	return m;
}

static inline int add(qs_sketch *s, double v, uint64_t n)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	uint64_t a = u & ~SIGN_BIT;
	if (a >= EXP_BITS)      /* all exponent bits set: inf or NaN */
		return EG_EINVAL;
	if (n == 0)
		return EG_OK;
	if (n > UINT64_MAX - s->count)
		return EG_EINVAL;
	if (a == 0) {
		v = 0.0;        /* -0 too, so that min and max are canonical */
		s->zeros += n;
	} else {
		int rc = add_bucket(s, bucket_of(a), (u & SIGN_BIT) != 0, n);
		if (rc != EG_OK)
			return rc;
	}
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	s->count += n;
	return EG_OK;
}

int eg_qs_add(qs_sketch *s, double v)
{
	return add(s, v, 1);
}

int eg_qs_add_n(qs_sketch *s, double v, uint64_t n)
{
	return add(s, v, n);
}

/* Merge plan for one store: the range and, if the window must change, the
 * new zeroed buffer. */
typedef struct merge_plan {
	int32_t lo, hi, off, len;
	uint64_t *buf;
} merge_plan;

static int merge_prepare(const qs_store *d, const qs_store *s, merge_plan *p)
{
	p->buf = NULL;
	if (store_empty(s))
		return EG_OK;
	store_need(d, s->lo, s->hi, &p->lo, &p->hi);
	if (store_plan(d, p->lo, p->hi, &p->off, &p->len)) {
		p->buf = calloc((size_t)p->len, sizeof *p->buf);
		if (!p->buf)
			return EG_ENOMEM;
	}
	return EG_OK;
}

static void merge_commit(qs_store *d, const qs_store *s, merge_plan *p)
{
	if (store_empty(s))
		return;
	store_move(d, p->buf, p->off, p->len, p->lo);
	/* src's buckets below the floor, including a floor of its own, are
	 * values at or below the floor: they are counted in it */
	if (s->collapsed || s->lo < p->lo)
		d->collapsed = 1;
	for (int32_t i = s->lo; i <= s->hi; i++) {
		uint64_t n = s->c[i - s->off];
		if (n)
			store_put(d, i < p->lo ? p->lo : i, n);
	}
}

int eg_qs_merge(qs_sketch *dst, const qs_sketch *src)
{
	merge_plan pp, pn;
	if (dst == src)
		return EG_EINVAL;
	if (src->count == 0)
		return EG_OK;
	if (src->count > UINT64_MAX - dst->count)
		return EG_EINVAL;
	if (src->nsmall) {
		/* src's stores are empty: its buckets go in one by one */
		for (uint32_t k = 0; k < src->nsmall; k++) {
			int rc = add_bucket(dst, src->small[k] >> 1, src->small[k] & 1, 1);
			if (rc != EG_OK)
				return rc;
		}
	} else if (!store_empty(&src->pos) || !store_empty(&src->neg)) {
		if (eg_qs_spill(dst) != EG_OK || merge_prepare(&dst->pos, &src->pos, &pp) != EG_OK)
			return EG_ENOMEM;
		if (merge_prepare(&dst->neg, &src->neg, &pn) != EG_OK) {
			free(pp.buf);
			return EG_ENOMEM;
		}
		merge_commit(&dst->pos, &src->pos, &pp);
		merge_commit(&dst->neg, &src->neg, &pn);
	}
	dst->zeros += src->zeros;
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	return EG_OK;
}

static double clamp(const qs_sketch *s, double v)
{
	return v < s->min ? s->min : v > s->max ? s->max : v;
}

/* eg_qs_quantile's walk over the values kept inline: the same order, the
 * same answers. */
static double small_quantile(const qs_sketch *s, uint64_t r)
{
	int32_t b[QS_SMALL];
	uint64_t seen = 0;
	for (uint32_t k = small_sorted(s, 1, b); k-- > 0;)
		if (++seen >= r)
			return clamp(s, -bucket_value(b[k]));
	seen += s->zeros;
	if (seen >= r)
		return 0.0;
	uint32_t m = small_sorted(s, 0, b);
	for (uint32_t k = 0; k < m; k++)
		if (++seen >= r)
			return clamp(s, bucket_value(b[k]));
	return s->max;      /* not reached: the counts add up to count */
}

double eg_qs_quantile(const qs_sketch *s, double q)
{
	if (s->count == 0 || !(q >= 0.0 && q <= 1.0))
		return NAN;
	double rr = ceil(q * (double)s->count);
	uint64_t r = rr < 1.0 ? 1 : rr >= (double)s->count ? s->count : (uint64_t)rr;
	if (r == 1)
		return s->min;
	if (r == s->count)
		return s->max;
	if (s->nsmall)
		return small_quantile(s, r);
	/* in value order: negatives from the largest magnitude, zeros,
	 * positives.  The r-th value lies in the bucket where the running count
	 * reaches r, and every value of that bucket is within the bound of the
	 * bucket's value; clamping to [min, max] only moves it closer. */
	uint64_t seen = 0;
	const qs_store *st = &s->neg;
	for (int32_t i = st->hi; i >= st->lo; i--) {
		seen += st->c[i - st->off];
		if (seen >= r)
			return clamp(s, -bucket_value(i));
	}
	seen += s->zeros;
	if (seen >= r)
		return 0.0;
	st = &s->pos;
	for (int32_t i = st->lo; i <= st->hi; i++) {
		seen += st->c[i - st->off];
		if (seen >= r)
			return clamp(s, bucket_value(i));
	}
	return s->max;      /* not reached: the counts add up to count */
}

uint64_t eg_qs_count(const qs_sketch *s)
{
	return s->count;
}

double eg_qs_min(const qs_sketch *s)
{
	return s->count ? s->min : NAN;
}

double eg_qs_max(const qs_sketch *s)
{
	return s->count ? s->max : NAN;
}

int eg_qs_collapsed(const qs_sketch *s)
{
	return s->pos.collapsed || s->neg.collapsed;
}

size_t eg_qs_memory(const qs_sketch *s)
{
	return sizeof *s + ((size_t)s->pos.len + (size_t)s->neg.len) * sizeof(uint64_t);
}

/* ----------------------------------------------------------- encoding */

/*
 * Version 1, little-endian:
 *   "QS" 0x01 flags        flags: 1 positives collapsed, 2 negatives collapsed
 *   varint count
 *   f64 min, f64 max       only if count > 0
 *   varint zeros
 *   store positives, store negatives:
 *     varint k             nonempty range length, 0..4096
 *     zigzag varint lo     first bucket, only if k > 0
 *     k varints            counts; the first and last are not 0
 *   u32 checksum           low 32 bits of XXH3-64 of all the bytes before
 * Varints are LEB128, shortest form.  Version 1 means g = 2^(1/70) and
 * QS_MAX_BUCKETS = 4096.
 */
#define ENC_VERSION 1
#define FLAG_POS 1
#define FLAG_NEG 2

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* 0, -1, 1, -2, ... as 0, 1, 2, 3, ... */
static uint64_t zigzag(int32_t v)
{
	return v < 0 ? ((uint64_t)-(int64_t)v << 1) - 1 : (uint64_t)v << 1;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static size_t store_size(const qs_store *st)
{
	if (store_empty(st))
		return 1;
	size_t n = varint_size((uint64_t)(st->hi - st->lo + 1)) + varint_size(zigzag(st->lo));
	for (int32_t i = st->lo; i <= st->hi; i++)
		n += varint_size(st->c[i - st->off]);
	return n;
}

/* A store as the inline buckets b[0..m) (ascending) would fill it: to p,
 * or only its size with p NULL. */
static size_t small_store(uint8_t *p, const int32_t *b, uint32_t m)
{
	uint8_t t[16], *q = p ? p : t;
	size_t n;
	if (!m)
		return (size_t)(put_varint(q, 0) - q);
	n = (size_t)(put_varint(q, (uint64_t)(b[m - 1] - b[0] + 1)) - q);
	n += (size_t)(put_varint(p ? p + n : t, zigzag(b[0])) - (p ? p + n : t));
	for (int32_t i = b[0], k = 0; i <= b[m - 1]; i++) {
		uint64_t c = 0;
		for (; (uint32_t)k < m && b[k] == i; k++)
			c++;
		n += (size_t)(put_varint(p ? p + n : t, c) - (p ? p + n : t));
	}
	return n;
}

static size_t stores_size(const qs_sketch *s)
{
	if (!s->nsmall)
		return store_size(&s->pos) + store_size(&s->neg);
	int32_t b[QS_SMALL];
	size_t n = small_store(NULL, b, small_sorted(s, 0, b));
	return n + small_store(NULL, b, small_sorted(s, 1, b));
}

size_t eg_qs_encoded_size(const qs_sketch *s)
{
	return 4 + varint_size(s->count) + (s->count ? 16 : 0) + varint_size(s->zeros) +
	       stores_size(s) + 4;
}

static uint8_t *put_store(uint8_t *p, const qs_store *st)
{
	if (store_empty(st))
		return put_varint(p, 0);
	p = put_varint(p, (uint64_t)(st->hi - st->lo + 1));
	p = put_varint(p, zigzag(st->lo));
	for (int32_t i = st->lo; i <= st->hi; i++)
		p = put_varint(p, st->c[i - st->off]);
	return p;
}

size_t eg_qs_encode(const qs_sketch *s, void *buf)
{
	uint8_t *p = buf, *start = buf;
	uint64_t bits;
	*p++ = 'Q';
	*p++ = 'S';
	*p++ = ENC_VERSION;
	*p++ = (uint8_t)((s->pos.collapsed ? FLAG_POS : 0) | (s->neg.collapsed ? FLAG_NEG : 0));
	p = put_varint(p, s->count);
	if (s->count) {
		memcpy(&bits, &s->min, sizeof bits);
		p = put_u64(p, bits);
		memcpy(&bits, &s->max, sizeof bits);
		p = put_u64(p, bits);
	}
	p = put_varint(p, s->zeros);
	if (s->nsmall) {
		int32_t b[QS_SMALL];
		p += small_store(p, b, small_sorted(s, 0, b));
		p += small_store(p, b, small_sorted(s, 1, b));
	} else {
		p = put_store(p, &s->pos);
		p = put_store(p, &s->neg);
	}
	uint32_t h = (uint32_t)XXH3_64bits(start, (size_t)(p - start));
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(h >> (8 * i));
	return (size_t)(p - start);
}

/* A bounded reader: every get fails once the input is exhausted or
 * malformed, and the failure sticks. */
typedef struct reader {
	const uint8_t *p, *end;
	int bad;
} reader;

static uint64_t get_varint(reader *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			break;
		uint8_t b = *r->p++;
		if (shift == 63 && b > 1)
			break;          /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift > 0)
				break;  /* not the shortest form */
			return v;
		}
	}
	r->bad = 1;
	return 0;
}

static uint64_t get_u64(reader *r)
{
	uint64_t v = 0;
	if (r->end - r->p < 8) {
		r->bad = 1;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)*r->p++ << (8 * i);
	return v;
}

/* Read one store into st (empty on entry).  *sum gets its total count;
 * fails on overflow. */
static int get_store(reader *r, qs_store *st, int collapsed, uint64_t *sum)
{
	uint64_t k = get_varint(r);
	*sum = 0;
	if (r->bad || k > QS_MAX_BUCKETS)
		return -1;
	if (k == 0)
		return collapsed ? -1 : 0;
	/* a collapsed store spans exactly the maximum */
	if (collapsed && k != QS_MAX_BUCKETS)
		return -1;
	uint64_t z = get_varint(r);
	if (r->bad || z > UINT32_MAX)
		return -1;
	int64_t lo = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
	if (lo < IDX_MIN || lo + (int64_t)k - 1 > IDX_MAX)
		return -1;
	/* at most 10 bytes a count: a short input cannot ask for a big buffer */
	if ((uint64_t)(r->end - r->p) < k)
		return -1;
	int32_t len = k < FIRST_LEN ? FIRST_LEN : (int32_t)k;
	st->c = calloc((size_t)len, sizeof *st->c);
	if (!st->c)
		return EG_ENOMEM;
	st->off = (int32_t)lo - (len - (int32_t)k) / 2;
	st->len = len;
	st->lo = (int32_t)lo;
	st->hi = (int32_t)(lo + (int64_t)k - 1);
	st->collapsed = collapsed;
	for (int32_t i = st->lo; i <= st->hi; i++) {
		uint64_t n = get_varint(r);
		if (r->bad || n > UINT64_MAX - *sum)
			return -1;
		st->c[i - st->off] = n;
		*sum += n;
	}
	if (st->c[st->lo - st->off] == 0 || st->c[st->hi - st->off] == 0)
		return -1;
	return 0;
}

static double bits_double(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

/* The extreme value on the small-magnitude side of a store must be in its
 * lowest bucket, or below it if the store collapsed. */
static int low_end_fits(const qs_store *st, double v)
{
	int32_t i = bucket_of_double(v);
	return st->collapsed ? i < st->lo : i == st->lo;
}

/* min and max agree with the buckets: each is in the bucket of the
 * extreme value on its side. */
static int extremes_fit(const qs_sketch *s)
{
	double lo = s->min, hi = s->max;
	uint64_t b;
	memcpy(&b, &lo, sizeof b);
	if (b == SIGN_BIT)
		return 0;              /* -0 is always stored as 0 */
	memcpy(&b, &hi, sizeof b);
	if (b == SIGN_BIT || !isfinite(lo) || !isfinite(hi) || lo > hi)
		return 0;
	if (!store_empty(&s->neg)) {
		if (!(lo < 0) || bucket_of_double(lo) != s->neg.hi)
			return 0;
	} else if (s->zeros) {
		if (lo != 0)
			return 0;
	} else if (!(lo > 0) || !low_end_fits(&s->pos, lo)) {
		return 0;
	}
	if (!store_empty(&s->pos)) {
		if (!(hi > 0) || bucket_of_double(hi) != s->pos.hi)
			return 0;
	} else if (s->zeros) {
		if (hi != 0)
			return 0;
	} else if (!(hi < 0) || !low_end_fits(&s->neg, hi)) {
		return 0;
	}
	return 1;
}

static int decode(qs_sketch *s, const uint8_t *buf, size_t n)
{
	if (n < 4 + 3 + 4 || buf[0] != 'Q' || buf[1] != 'S' || buf[2] != ENC_VERSION ||
	    (buf[3] & ~(FLAG_POS | FLAG_NEG)))
		return -1;
	uint32_t h = (uint32_t)buf[n - 4] | (uint32_t)buf[n - 3] << 8 |
		     (uint32_t)buf[n - 2] << 16 | (uint32_t)buf[n - 1] << 24;
	if (h != (uint32_t)XXH3_64bits(buf, n - 4))
		return -1;
	reader r = { buf + 4, buf + n - 4, 0 };
	s->count = get_varint(&r);
	if (s->count) {
		s->min = bits_double(get_u64(&r));
		s->max = bits_double(get_u64(&r));
	}
	s->zeros = get_varint(&r);
	if (r.bad || s->zeros > s->count)
		return -1;
	uint64_t np, nn;
	int rc = get_store(&r, &s->pos, buf[3] & FLAG_POS, &np);
	if (rc != 0)
		return rc;
	rc = get_store(&r, &s->neg, (buf[3] & FLAG_NEG) != 0, &nn);
	if (rc != 0)
		return rc;
	if (r.p != r.end || np > s->count - s->zeros || nn != s->count - s->zeros - np)
		return -1;
	if (s->count && !extremes_fit(s))
		return -1;
	return 0;
}

int eg_qs_decode(qs_sketch *s, const void *buf, size_t n)
{
	eg_qs_init(s);
	int rc = decode(s, buf, n);
	if (rc == 0)
		return EG_OK;
	eg_qs_free(s);
	return rc == EG_ENOMEM ? EG_ENOMEM : EG_ECORRUPT;
}

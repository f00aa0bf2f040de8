/*
 * gen_util.h — what the generators (gen.c, gen_click.c) share: strings with
 * their lengths, a seeded PRNG, exp and log without libm, a weekly rhythm,
 * the output buffer with its number, time and UUID writers, and a min-heap
 * and a slot pool for simulations with many things in flight.
 *
 * Everything is static inline: the generators call these once per field,
 * and only a header lets the compiler inline them into each generator's
 * loop (the build has no link-time optimisation).
 */
#ifndef EG_GEN_UTIL_H
#define EG_GEN_UTIL_H

#include "engram.h"
#include "timefmt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2025-01-01T00:00:00Z, the default start of the clock. */
#define DEFAULT_START_US (1735689600LL * 1000000)
#define HOUR_US (3600LL * 1000000)
#define DAY_US (24 * HOUR_US)
/* Lines are built in a buffer of this size and written in chunks. */
#define BUF_SIZE (64 * 1024)

/* ---- strings ---------------------------------------------------------- */

typedef struct str {
	const char *s;
	size_t n;
} str;
#define S(x) { x, sizeof(x) - 1 }

/* ---- PRNG: xoshiro256**, seeded by splitmix64 --------------------------- */

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

typedef struct rng {
	uint64_t s[4];
} rng;

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Seed a generator from the user's seed; more calls with the same *sm give
 * further independent generators. */
static inline void seed_rng(rng *r, uint64_t *sm)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(sm);
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* Uniform in [0, n), n > 0.  The multiply-shift keeps the high bits, which
 * are the best ones; the bias for n < 2^32 is below 2^-32. */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
	if (n <= UINT32_MAX)
		return ((rng_next(r) >> 32) * n) >> 32;
	return rng_next(r) % n;
}

/* Pick an index by integer weights that sum to total. */
static inline int rng_pick(rng *r, const unsigned char *w, int n, unsigned total)
{
	unsigned x = (unsigned)rng_below(r, total);
	for (int i = 0; i < n - 1; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* About N(0, 1): the sum of four uniforms has variance 1/3, and its shape is
 * close enough to a bell for amounts that only need to look real. */
static inline double rng_normal(rng *r)
{
	double u = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
	return (u - 2.0) * 1.7320508075688772;
}

/* ---- exp and log without libm ------------------------------------------ */

/* 2^x for |x| < 1000. */
static inline double exp2_approx(double x)
{
	double fl = (double)(int64_t)x;
	if (fl > x)
		fl -= 1.0;
	double f = (x - fl) * 0.6931471805599453; /* 2^frac = e^(frac ln 2) */
	/* Taylor series of e^f on [0, ln 2): error below 2e-7. */
	double p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6 + f * (1.0 / 24 +
		   f * (1.0 / 120 + f * (1.0 / 720 + f / 5040))))));
	uint64_t bits = (uint64_t)((int64_t)fl + 1023) << 52;
	double scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

static inline double exp_approx(double x)
{
	return exp2_approx(x * 1.4426950408889634);
}

/* Natural log of x in (0, 1]: split off the binary exponent, then the atanh
 * series for the mantissa in [1, 2) converges within a few terms. */
static inline double log_approx(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	double m;
	memcpy(&m, &bits, sizeof m);
	double s = (m - 1.0) / (m + 1.0), s2 = s * s;
	double ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 +
		      s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 / 11)))));
	return e * 0.6931471805599453 + ln_m;
}

/* Log-normal amount in cents with the given median (in currency units),
 * clamped to [lo, hi] cents. */
static inline int64_t lognormal_cents(rng *r, double median, double sigma,
				      int64_t lo, int64_t hi)
{
	double v = median * exp_approx(sigma * rng_normal(r)) * 100.0;
	int64_t c = (int64_t)(v + 0.5);
	return c < lo ? lo : c > hi ? hi : c;
}

/* A time in seconds, log-normal around median, clamped to [lo, hi]; in us. */
static inline int64_t lognormal_us(rng *r, double median, double sigma,
				   double lo, double hi)
{
	double v = median * exp_approx(sigma * rng_normal(r));
	v = v < lo ? lo : v > hi ? hi : v;
	return (int64_t)(v * 1e6);
}

/* ---- a weekly rhythm ------------------------------------------------------ */

/* Mean gap between arrivals by (weekday, hour), us. */
typedef struct rhythm {
	double gap_mean[7 * 24];
} rhythm;

/* Gaps are exponential with a mean that follows the weekly rhythm, scaled
 * so that the mean over all events is mean_gap: in a slot with relative
 * rate w the mean gap is mean_gap * mean(w) / w.  hour has 24 relative
 * rates (UTC), day 7 (Monday first). */
static inline void rhythm_init(rhythm *rh, const double *hour, const double *day,
			       double mean_gap)
{
	double sum = 0;
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			sum += day[d] * hour[h];
	double mean = sum / (7 * 24);
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			rh->gap_mean[d * 24 + h] =
				mean_gap * mean / (day[d] * hour[h]);
}

/* Seconds since midnight UTC and weekday (Monday 0) of a time in us. */
static inline int64_t day_second(int64_t t, int *weekday)
{
	int64_t sec = t / 1000000 - (t % 1000000 < 0);
	int64_t day = sec / 86400 - (sec % 86400 < 0);
	/* 1970-01-01 was a Thursday: weekday 3 when Monday is 0. */
	if (weekday)
		*weekday = (int)(((day + 3) % 7 + 7) % 7);
	return sec - day * 86400;
}

/* The gap after time t to the next arrival, at least 1 us. */
static inline int64_t rhythm_gap(const rhythm *rh, rng *r, int64_t t)
{
	int wd;
	int64_t sod = day_second(t, &wd);
	double mean = rh->gap_mean[wd * 24 + sod / 3600];
	/* 1 - unit is in (0, 1], so the log is finite. */
	double gap = -log_approx(1.0 - rng_unit(r)) * mean;
	int64_t us = (int64_t)gap;
	return us < 1 ? 1 : us;
}

/* ---- output --------------------------------------------------------------- */

/* Lines are built in buf and written to out in chunks: a writer checks
 * gbuf_full after each line, so a line may take up to its own maximum
 * length beyond the mark. */
typedef struct gbuf {
	char *buf;
	size_t len;
	FILE *out;
} gbuf;

static inline void put(gbuf *w, const char *s, size_t n)
{
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}
/* lit must be a string literal: "" lit "" does not compile otherwise, where
 * sizeof would quietly measure a pointer. */
#define PUT(w, lit) put(w, "" lit "", sizeof(lit) - 1)

static inline void put_str(gbuf *w, str s)
{
	put(w, s.s, s.n);
}

static inline void put_char(gbuf *w, char c)
{
	w->buf[w->len++] = c;
}

/* Decimal, zero-padded to at least width digits. */
static inline void put_uint(gbuf *w, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		w->buf[w->len++] = tmp[--n];
}

/* Cents as a JSON number with exactly two decimals: 12550 -> 125.50. */
static inline void put_cents(gbuf *w, int64_t c)
{
	put_uint(w, (uint64_t)c / 100, 1);
	w->buf[w->len++] = '.';
	put_uint(w, (uint64_t)c % 100, 2);
}

/* RFC 3339 UTC with microseconds, EG_TIME_LEN bytes. */
static inline void put_time(gbuf *w, int64_t us)
{
	w->len += eg_time_format(us, w->buf + w->len);
}

static const char gen_hex[] = "0123456789abcdef";

/* A version 4 UUID that is a pure function of (key, n), so that a line can
 * be regenerated alone, and that does not consume a simulation's stream. */
static inline void put_uuid(gbuf *w, uint64_t key, uint64_t n)
{
	uint64_t x = key ^ (n * 0xd1342543de82ef95ULL);
	uint64_t v[2] = { splitmix64(&x), splitmix64(&x) };
	unsigned char b[16];
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(v[0] >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(v[1] >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	char *p = w->buf + w->len;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = gen_hex[b[i] >> 4];
		*p++ = gen_hex[b[i] & 15];
	}
	w->len += 36;
}

/* Write out what the buffer holds (a buffer without a stream drops it: a
 * simulation run for its callbacks).  0, or -1 with errno set. */
static inline int gbuf_flush(gbuf *w)
{
	if (w->len && w->out && fwrite(w->buf, 1, w->len, w->out) != w->len) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	w->len = 0;
	return 0;
}

/* Write what is left in the buffer and flush the stream. */
static inline int gbuf_finish(gbuf *w)
{
	if (gbuf_flush(w))
		return -1;
	if (w->out && (fflush(w->out) || ferror(w->out))) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}

static inline int digits(uint64_t v)
{
	int n = 1;
	while (v >= 10)
		v /= 10, n++;
	return n;
}

/* ---- a min-heap and a pool ------------------------------------------------- */

/* A min-heap of (time, index) pairs.  The index names a slot of a pool. */
typedef struct hent {
	int64_t t;
	uint32_t i;
} hent;

typedef struct heap {
	hent *a;
	size_t n, cap;
} heap;

/* 0, or -1 when out of memory. */
static inline int eg_heap_push(heap *h, int64_t t, uint32_t i)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		hent *a = realloc(h->a, cap * sizeof *a);
		if (!a)
			return -1;
		h->a = a;
		h->cap = cap;
	}
	size_t k = h->n++;
	while (k > 0 && h->a[(k - 1) / 2].t > t) {
		h->a[k] = h->a[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	h->a[k] = (hent){ t, i };
	return 0;
}

/* Remove the root, h->a[0]; the heap is not empty. */
static inline void heap_pop(heap *h)
{
	hent last = h->a[--h->n];
	size_t k = 0;
	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1].t < h->a[c].t)
			c++;
		if (h->a[c].t >= last.t)
			break;
		h->a[k] = h->a[c];
		k = c;
	}
	h->a[k] = last;
}

/* Fixed-size slots addressed by index, with a stack of the free ones, so
 * that heaps move 16-byte entries instead of whole records. */
typedef struct pool {
	char *a;
	uint32_t *free;
	uint32_t size, n, cap, nfree;
} pool;

static inline void *pool_at(pool *p, uint32_t i)
{
	return p->a + (size_t)i * p->size;
}

/* A free slot's index, or -1 when out of memory.  Earlier pointers into
 * the pool may move. */
static inline int64_t pool_take(pool *p)
{
	if (p->nfree)
		return p->free[--p->nfree];
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 1024;
		char *a = realloc(p->a, (size_t)cap * p->size);
		if (!a)
			return -1;
		p->a = a;
		uint32_t *f = realloc(p->free, cap * sizeof *f);
		if (!f)
			return -1;
		p->free = f;
		p->cap = cap;
	}
	return p->n++;
}

static inline void pool_put(pool *p, uint32_t i)
{
	p->free[p->nfree++] = i;
}

static inline void pool_free(pool *p)
{
	free(p->a);
	free(p->free);
}

/* ---- the orders simulation, for more than its lines ------------------------ */

/* The orders' customers when eg_gen_opts.customers is 0. */
#define ORDERS_CUSTOMERS 50000

/* Told of each order placed (customer number, event time), in time order. */
typedef void (*eg_gen_placed_fn)(void *ctx, uint32_t customer, int64_t time);

/* eg_gen_orders with out NULL (no output) allowed, placed (may be NULL)
 * told of every order placed, and *last_time (may be NULL) set to the
 * event time of the last event. */
int eg_gen_orders_run(FILE *out, const eg_gen_opts *o, eg_gen_placed_fn placed, void *ctx,
		      int64_t *last_time);

#endif

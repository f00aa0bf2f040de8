/*
 * sketch.h — a mergeable quantile sketch with a relative-error bound, in the
 * manner of DDSketch (Masson, Rim, Lee, VLDB 2019).
 *
 * Values are counted in logarithmic buckets, 70 per power of two, so every
 * quantile it returns is within 0.5% of the true one.  Two sketches merge
 * into exactly the sketch of all their values, whatever the order, so
 * windows can be summed from panes and checkpoints.  docs/SKETCH.md has the
 * algorithm, the bound and its proof, the memory and the collapse rule.
 *
 * The bound.  For a sketch of n > 0 values and q in [0, 1], let x be the
 * nearest-rank quantile: the r-th smallest value added (1-based, counting
 * repeats) with r = ceil(q * n) evaluated in double precision, and r = 1
 * when that is 0.  Then eg_qs_quantile(s, q) returns x' with
 * |x' - x| <= QS_ALPHA * |x|, and x' == x when x is 0, when r == 1 (the exact
 * minimum) and when r == n (the exact maximum).  This holds for every finite
 * double x of magnitude at least 2^-1022 (below that, subnormal doubles lack
 * the precision), except after a collapse (eg_qs_collapsed), and then only for
 * the x that fall in the collapsed bucket.
 *
 * Collapse.  Each sign keeps at most QS_MAX_BUCKETS buckets.  Values of one
 * sign whose magnitudes span more than 2^(4095/70) (about 10^17.6) do not
 * fit; the buckets of the smallest magnitudes are then folded into one, whose
 * values come back as that bucket's value: wrong by any amount.  The
 * largest magnitudes, the tail, are never collapsed.
 *
 * Return codes are engram.h's (EG_OK, EG_EINVAL, EG_ENOMEM, EG_ECORRUPT).
 * Not thread-safe: one sketch is used by one thread at a time.
 */
#ifndef EG_SKETCH_H
#define EG_SKETCH_H

#include <stddef.h>
#include <stdint.h>

/* The documented relative error.  The worst case is in fact
 * (g - 1) / (g + 1) = 0.0049510... for g = 2^(1/70), the bucket ratio. */
#define QS_ALPHA 0.005

/* Buckets per sign at most: 4096 * 8 bytes = 32 KiB of counts. */
#define QS_MAX_BUCKETS 4096

/* The buckets of one sign (internal; use the functions below).  Bucket i
 * holds the magnitudes in (2^((i-1)/70), 2^(i/70)]. */
typedef struct qs_store {
	uint64_t *c;       /* c[k] counts bucket off + k; NULL until needed */
	int32_t off;       /* bucket index of c[0] */
	int32_t len;       /* buckets allocated, at most QS_MAX_BUCKETS */
	int32_t lo, hi;    /* lowest and highest nonempty bucket; lo > hi if none */
	int32_t collapsed; /* buckets below lo were folded into lo */
} qs_store;

/* A sketch.  A plain struct so that it can live inside another one (a
 * window's pane); its bucket arrays are on the heap. */
#define QS_SMALL 24

typedef struct qs_sketch {
	qs_store pos;      /* positive values */
	qs_store neg;      /* negative values, by magnitude */
	/* The buckets of the first QS_SMALL nonzero values (2 * bucket + 1 if
	 * negative), kept inline while both stores are empty so that a sketch
	 * of a few values allocates nothing; moved into the stores after. */
	int32_t small[QS_SMALL];
	uint32_t nsmall;
	uint64_t zeros;    /* values equal to 0 (and -0) */
	uint64_t count;    /* all values */
	double min, max;   /* exact; +inf and -inf while empty */
} qs_sketch;

/* Make s an empty sketch.  Allocates nothing (buckets come with the first
 * values), cannot fail. */
void eg_qs_init(qs_sketch *s);

/* Release the buckets of s; s is then empty again, as after eg_qs_init, and
 * may be reused or dropped. */
void eg_qs_free(qs_sketch *s);

/* Make s empty again, as after eg_qs_init, but keep its buckets' memory for
 * the values to come (a window's sketch reused for the next window). */
void eg_qs_clear(qs_sketch *s);

/* Add the value v once.  Returns 0, EG_EINVAL (-1) if v is NaN or +-inf or
 * the count would pass 2^64 - 1, EG_ENOMEM if buckets could not be
 * allocated.  On failure s is unchanged.  -0 is added as 0. */
int eg_qs_add(qs_sketch *s, double v);

/* Add the value v n times, as n calls of eg_qs_add would (n == 0 does nothing,
 * but a non-finite v is still EG_EINVAL). */
int eg_qs_add_n(qs_sketch *s, double v, uint64_t n);

/* Add every value of src to dst: afterwards dst is exactly the sketch that
 * adding all the values of both to one sketch, in any order, would have
 * given (the same eg_qs_encode bytes).  src is unchanged.  Returns 0,
 * EG_EINVAL if dst == src or the count would pass 2^64 - 1, EG_ENOMEM; on
 * failure dst is unchanged. */
int eg_qs_merge(qs_sketch *dst, const qs_sketch *src);

/* The estimate of the nearest-rank q-quantile (see the bound above): for
 * q == 0 the exact minimum, for q == 1 the exact maximum.  NaN when s is
 * empty or q is not in [0, 1]. */
double eg_qs_quantile(const qs_sketch *s, double q);

/* How many values were added. */
uint64_t eg_qs_count(const qs_sketch *s);

/* The exact smallest and largest value added; NaN when s is empty. */
double eg_qs_min(const qs_sketch *s);
double eg_qs_max(const qs_sketch *s);

/* Nonzero when buckets were collapsed (see above), so that the quantiles
 * of the smallest positive magnitudes, or of the negative values nearest
 * zero, are no longer within the bound. */
int eg_qs_collapsed(const qs_sketch *s);

/* Bytes eg_qs_encode writes for s. */
size_t eg_qs_encoded_size(const qs_sketch *s);

/* Write s into buf (at least eg_qs_encoded_size(s) bytes) and return the
 * number of bytes written.  The format (docs/SKETCH.md) is little-endian,
 * versioned and checksummed, and canonical: equal sketches give equal
 * bytes. */
size_t eg_qs_encode(const qs_sketch *s, void *buf);

/* Read a sketch written by eg_qs_encode into s, which must be empty or
 * uninitialised (it is overwritten, not freed).  Returns 0; EG_ECORRUPT if
 * the n bytes at buf are not exactly one valid encoding (truncated, too
 * long, damaged, another version), EG_ENOMEM.  On failure s is empty (as
 * after eg_qs_init); on success the caller frees it with eg_qs_free. */
int eg_qs_decode(qs_sketch *s, const void *buf, size_t n);

/* Move the values kept inline into the bucket arrays (tests compare a
 * sketch of a few values with the same one spilled).  EG_OK or EG_ENOMEM. */
int eg_qs_spill(qs_sketch *s);

/* Bytes of memory s uses: the struct and its bucket arrays. */
size_t eg_qs_memory(const qs_sketch *s);

#endif

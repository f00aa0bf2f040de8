/*
 * test_sketch.c — the quantile sketch as a specification: every quantile is
 * within 0.5% of the exact nearest-rank one (computed here by sorting) on
 * many shapes of data; merge equals the sketch of the union byte for byte;
 * encode/decode round-trips and refuses anything damaged; the collapse rule.
 */
#include "testutil.h"
#include "sketch.h"

#include <float.h>
#include <math.h>
#include <xxhash.h>

static const double QS[] = { 0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1 };
#define NQ (sizeof QS / sizeof QS[0])

/* The true worst case for g = 2^(1/70); the documented QS_ALPHA is above it. */
#define ALPHA_TIGHT 0.0049511

/* --------------------------------------------------------------- data */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static double unif(void)
{
	return ((double)(rnd() >> 11) + 0.5) * 0x1p-53;
}

static double normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The exact nearest-rank quantile of sorted v[0..n-1], as sketch.h defines it. */
static double exact_quantile(const double *v, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t k = r < 1 ? 1 : r > (double)n ? n : (size_t)r;
	return v[k - 1];
}

/* Check every quantile of s against the sorted copy of v. */
static void check_quantiles(const qs_sketch *s, double *v, size_t n, double alpha, const char *what)
{
	qsort(v, n, sizeof *v, cmp_double);
	assert_int_equal(eg_qs_count(s), n);
	for (size_t i = 0; i < NQ; i++) {
		double x = exact_quantile(v, n, QS[i]), got = eg_qs_quantile(s, QS[i]);
		if (!(fabs(got - x) <= alpha * fabs(x)))
			fail_msg("%s n=%zu q=%g: got %.17g, exact %.17g (rel %.3g)", what, n, QS[i],
				 got, x, fabs(got - x) / fabs(x));
	}
	assert_true(eg_qs_quantile(s, 0) == v[0]);
	assert_true(eg_qs_quantile(s, 1) == v[n - 1]);
	assert_true(eg_qs_min(s) == v[0]);
	assert_true(eg_qs_max(s) == v[n - 1]);
}

/* Sketch v (n values), check all quantiles, free. */
static void sketch_and_check(double *v, size_t n, const char *what)
{
	qs_sketch s;
	eg_qs_init(&s);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(eg_qs_add(&s, v[i]), 0);
	check_quantiles(&s, v, n, QS_ALPHA, what);
	check_quantiles(&s, v, n, ALPHA_TIGHT, what);
	assert_false(eg_qs_collapsed(&s));
	eg_qs_free(&s);
}

static double *gen(size_t n, double (*f)(void))
{
	double *v = malloc(n * sizeof *v);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = f();
	return v;
}

static double d_uniform(void) { return 1000 * unif(); }
static double d_lognormal(void) { return exp(3 + 2 * normal()); }
static double d_pareto(void) { return 0.001 * pow(unif(), -1 / 1.1); }   /* heavy tail */
static double d_mixed(void)
{
	uint64_t k = rnd() % 10;
	if (k < 2)
		return 0.0;
	if (k == 2)
		return -0.0;
	double m = exp(4 * normal());
	return k < 6 ? -m : m;
}
static double d_latency_ms(void) { return 0.2 + exp(1 + 0.8 * normal()); }
/* 2^-28..2^28 of both signs: 16.9 decades, 3920 buckets a sign, just
 * under the cap */
static double d_wide(void) { return exp2(-28 + 56 * unif()) * (rnd() & 1 ? 1 : -1); }

/* ------------------------------------------------------------ bounds */

static void quantiles_within_bound_on_uniform(void **state)
{
	(void)state;
	rng_state = 1;
	for (size_t n = 1; n <= 100000; n *= 10) {
		double *v = gen(n, d_uniform);
		sketch_and_check(v, n, "uniform");
		free(v);
	}
}

static void quantiles_within_bound_on_lognormal(void **state)
{
	(void)state;
	rng_state = 2;
	double *v = gen(200000, d_lognormal);
	sketch_and_check(v, 200000, "lognormal");
	free(v);
}

static void quantiles_within_bound_on_heavy_tail(void **state)
{
	(void)state;
	rng_state = 3;
	double *v = gen(200000, d_pareto);
	sketch_and_check(v, 200000, "pareto");
	free(v);
}

static void quantiles_within_bound_on_negatives_and_zeros(void **state)
{
	(void)state;
	rng_state = 4;
	for (size_t n = 1; n <= 100000; n = n * 7 + 1) {
		double *v = gen(n, d_mixed);
		sketch_and_check(v, n, "mixed signs");
		free(v);
	}
}

static void quantiles_within_bound_on_wide_signed_range(void **state)
{
	(void)state;
	rng_state = 5;
	double *v = gen(100000, d_wide);
	sketch_and_check(v, 100000, "wide");
	free(v);
}

static void quantiles_within_bound_on_latencies(void **state)
{
	(void)state;
	rng_state = 6;
	double *v = gen(100000, d_latency_ms);
	sketch_and_check(v, 100000, "latency");
	free(v);
}

static void quantiles_of_all_negative_values(void **state)
{
	(void)state;
	rng_state = 7;
	double *v = gen(50000, d_lognormal);
	for (size_t i = 0; i < 50000; i++)
		v[i] = -v[i];
	sketch_and_check(v, 50000, "negative");
	free(v);
}

static void single_value_is_returned_exactly(void **state)
{
	static const double one[] = { 1, -1, 3.14159, -2.5e-300, 1e300, DBL_MAX, -DBL_MAX,
				      DBL_MIN, 5e-324, -5e-324, 0 };
	(void)state;
	for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
		qs_sketch s;
		eg_qs_init(&s);
		assert_int_equal(eg_qs_add(&s, one[i]), 0);
		for (size_t k = 0; k < NQ; k++)
			assert_true(eg_qs_quantile(&s, QS[k]) == one[i]);
		eg_qs_free(&s);
	}
}

static void all_equal_values_are_returned_exactly(void **state)
{
	(void)state;
	qs_sketch s;
	eg_qs_init(&s);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(eg_qs_add(&s, 42.42), 0);
	for (size_t k = 0; k < NQ; k++)
		assert_true(eg_qs_quantile(&s, QS[k]) == 42.42);
	assert_int_equal(eg_qs_count(&s), 1000);
	eg_qs_free(&s);
}

static void tiny_counts_use_nearest_rank(void **state)
{
	(void)state;
	/* n = 2: q <= 0.5 is the smaller value, above it the larger */
	qs_sketch s;
	eg_qs_init(&s);
	eg_qs_add(&s, 10);
	eg_qs_add(&s, 20);
	assert_true(eg_qs_quantile(&s, 0.5) == 10);
	assert_true(eg_qs_quantile(&s, 0.50001) == 20);
	assert_true(eg_qs_quantile(&s, 0.01) == 10);
	eg_qs_free(&s);
	/* n = 3: the middle value is rank 2, for q in (1/3, 2/3] */
	eg_qs_init(&s);
	eg_qs_add(&s, 30);
	eg_qs_add(&s, 10);
	eg_qs_add(&s, 20);
	double mid = eg_qs_quantile(&s, 0.5);
	assert_true(fabs(mid - 20) <= 20 * QS_ALPHA);
	assert_true(eg_qs_quantile(&s, 0.3) == 10);
	assert_true(eg_qs_quantile(&s, 0.67) == 30);
	eg_qs_free(&s);
	/* and the general check for n = 1..12 on mixed data */
	rng_state = 8;
	for (size_t n = 1; n <= 12; n++) {
		double *v = gen(n, d_mixed);
		sketch_and_check(v, n, "tiny");
		free(v);
	}
}

static void quantile_of_empty_or_bad_q_is_nan(void **state)
{
	(void)state;
	qs_sketch s;
	eg_qs_init(&s);
	assert_true(isnan(eg_qs_quantile(&s, 0.5)));
	assert_true(isnan(eg_qs_min(&s)));
	assert_true(isnan(eg_qs_max(&s)));
	assert_int_equal(eg_qs_count(&s), 0);
	eg_qs_add(&s, 1);
	assert_true(isnan(eg_qs_quantile(&s, -0.01)));
	assert_true(isnan(eg_qs_quantile(&s, 1.01)));
	assert_true(isnan(eg_qs_quantile(&s, NAN)));
	eg_qs_free(&s);
}

/* The estimate for a value v in the middle of three values is its bucket's
 * value, not clamped to v: it shows the bucket v went to. */
static double bucket_estimate(double v)
{
	qs_sketch s;
	eg_qs_init(&s);
	eg_qs_add(&s, v / 4);
	eg_qs_add(&s, v);
	eg_qs_add(&s, v * 4);
	double r = eg_qs_quantile(&s, 0.5);
	eg_qs_free(&s);
	return r;
}

static void bucket_is_ceil_of_log_gamma(void **state)
{
	(void)state;
	long double lg = log2l(2.0L) / 70.0L;   /* log2(g) */
	long double g = exp2l(lg);
	rng_state = 9;
	for (int k = 0; k < 200000; k++) {
		double v = exp2(-1000 + 2000 * unif());
		long double x = log2l((long double)v) * 70.0L;
		long double c = ceill(x);
		if (c - x < 1e-9L || x - (c - 1) < 1e-9L)
			continue;       /* too near a boundary to judge with log2l */
		double want = (double)(2.0L * exp2l(c / 70.0L) / (g + 1.0L));
		double got = bucket_estimate(v);
		if (fabs(got - want) > 1e-14 * want)
			fail_msg("v=%.17g: estimate %.17g, bucket %.0Lf gives %.17g", v, got, c, want);
	}
}

static void error_is_bounded_at_bucket_edges(void **state)
{
	(void)state;
	/* Both ends of many buckets: exactly g^i (the top of bucket i) and the
	 * next double up (the bottom of bucket i + 1). */
	for (int i = -69000; i <= 70000; i += 37) {
		double top = (double)exp2l(i / 70.0L);
		double vals[] = { top, nextafter(top, HUGE_VAL), nextafter(top, 0) };
		for (int k = 0; k < 3; k++) {
			double v = vals[k], got = bucket_estimate(v);
			if (!(fabs(got - v) <= ALPHA_TIGHT * v))
				fail_msg("v=%.17g got %.17g rel %.6g", v, got, fabs(got - v) / v);
		}
	}
}

static void subnormal_and_extreme_values_keep_the_bound(void **state)
{
	(void)state;
	qs_sketch s;
	/* subnormals with enough digits: 1e-310 has 41 bits */
	eg_qs_init(&s);
	eg_qs_add(&s, 1e-310);
	eg_qs_add(&s, -2e-310);
	eg_qs_add(&s, 3e-310);
	eg_qs_add(&s, 5e-324);
	eg_qs_add(&s, 4e-310);
	assert_true(eg_qs_quantile(&s, 0) == -2e-310);
	assert_true(fabs(eg_qs_quantile(&s, 0.6) - 1e-310) <= QS_ALPHA * 1e-310);
	assert_true(fabs(eg_qs_quantile(&s, 0.8) - 3e-310) <= QS_ALPHA * 3e-310);
	assert_true(eg_qs_quantile(&s, 1) == 4e-310);
	eg_qs_free(&s);
	/* the top bucket, whose upper bound 2^1024 is not a double */
	eg_qs_init(&s);
	eg_qs_add(&s, 1e300);
	eg_qs_add(&s, DBL_MAX * 0.999);
	eg_qs_add(&s, DBL_MAX);
	double p = eg_qs_quantile(&s, 0.5);
	assert_true(isfinite(p));
	assert_true(fabs(p - DBL_MAX * 0.999) <= QS_ALPHA * DBL_MAX * 0.999);
	assert_true(eg_qs_quantile(&s, 1) == DBL_MAX);
	assert_false(eg_qs_collapsed(&s));
	eg_qs_free(&s);
}

static void smallest_and_largest_doubles_collapse_but_work(void **state)
{
	static const double v[] = { 5e-324, 1e-310, DBL_MIN, 1e-300, 1, 1e300, DBL_MAX };
	(void)state;
	qs_sketch s;
	eg_qs_init(&s);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		assert_int_equal(eg_qs_add(&s, v[i]), 0);
	assert_true(eg_qs_collapsed(&s));       /* 632 decades do not fit */
	assert_true(eg_qs_quantile(&s, 0) == 5e-324);
	assert_true(eg_qs_quantile(&s, 1) == DBL_MAX);
	double p = eg_qs_quantile(&s, 0.8);     /* rank 6, 1e300: above the floor */
	assert_true(fabs(p - 1e300) <= QS_ALPHA * 1e300);
	p = eg_qs_quantile(&s, 0.5);            /* rank 4, 1e-300: in the floor */
	assert_true(p >= 5e-324 && p <= 1e300);
	eg_qs_free(&s);
}

/* ------------------------------------------------------------ input */

static void assert_same_sketch(const qs_sketch *a, const qs_sketch *b);

static void non_finite_values_are_rejected(void **state)
{
	(void)state;
	qs_sketch s;
	eg_qs_init(&s);
	eg_qs_add(&s, 5);
	unsigned char before[256], after[256];
	size_t n = eg_qs_encode(&s, before);
	assert_int_equal(eg_qs_add(&s, NAN), EG_EINVAL);
	assert_int_equal(eg_qs_add(&s, -NAN), EG_EINVAL);
	assert_int_equal(eg_qs_add(&s, HUGE_VAL), EG_EINVAL);
	assert_int_equal(eg_qs_add(&s, -HUGE_VAL), EG_EINVAL);
	assert_int_equal(eg_qs_add_n(&s, NAN, 0), EG_EINVAL);
	assert_int_equal(eg_qs_add_n(&s, HUGE_VAL, 3), EG_EINVAL);
	assert_int_equal(eg_qs_count(&s), 1);
	assert_int_equal(eg_qs_encode(&s, after), n);
	assert_memory_equal(before, after, n);
	eg_qs_free(&s);
}

static void minus_zero_is_zero(void **state)
{
	(void)state;
	qs_sketch a, b;
	eg_qs_init(&a);
	eg_qs_init(&b);
	eg_qs_add(&a, -0.0);
	eg_qs_add(&a, 0.0);
	eg_qs_add(&b, 0.0);
	eg_qs_add(&b, -0.0);
	assert_false(signbit(eg_qs_min(&a)));
	unsigned char ea[64], eb[64];
	size_t na = eg_qs_encode(&a, ea);
	assert_int_equal(eg_qs_encode(&b, eb), na);
	assert_memory_equal(ea, eb, na);
	eg_qs_free(&a);
	eg_qs_free(&b);
}

static void add_n_equals_n_adds(void **state)
{
	(void)state;
	qs_sketch a, b;
	eg_qs_init(&a);
	eg_qs_init(&b);
	static const double v[] = { 3, -7, 0, 1e-9, 250 };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(eg_qs_add_n(&a, v[i], i + 1), 0);
		for (size_t k = 0; k <= i; k++)
			eg_qs_add(&b, v[i]);
	}
	assert_int_equal(eg_qs_add_n(&a, 99, 0), 0);
	assert_int_equal(eg_qs_count(&a), 15);
	assert_same_sketch(&a, &b);
	eg_qs_free(&a);
	eg_qs_free(&b);
}

static void count_overflow_is_rejected(void **state)
{
	(void)state;
	qs_sketch a, b;
	eg_qs_init(&a);
	eg_qs_init(&b);
	assert_int_equal(eg_qs_add_n(&a, 1, UINT64_MAX - 1), 0);
	assert_int_equal(eg_qs_add(&a, 2), 0);
	assert_int_equal(eg_qs_add(&a, 3), EG_EINVAL);
	assert_int_equal(eg_qs_count(&a), UINT64_MAX);
	assert_true(eg_qs_max(&a) == 2);
	eg_qs_add(&b, 4);
	assert_int_equal(eg_qs_merge(&a, &b), EG_EINVAL);
	assert_int_equal(eg_qs_count(&a), UINT64_MAX);
	assert_true(eg_qs_max(&a) == 2);
	eg_qs_free(&a);
	eg_qs_free(&b);
}

/* ------------------------------------------------------------ merge */

static size_t enc(const qs_sketch *s, unsigned char **out)
{
	size_t n = eg_qs_encoded_size(s);
	*out = malloc(n);
	assert_non_null(*out);
	assert_int_equal(eg_qs_encode(s, *out), n);
	return n;
}

static void assert_same_sketch(const qs_sketch *a, const qs_sketch *b)
{
	unsigned char *ea, *eb;
	size_t na = enc(a, &ea), nb = enc(b, &eb);
	assert_int_equal(na, nb);
	assert_memory_equal(ea, eb, na);
	free(ea);
	free(eb);
	for (size_t k = 0; k < NQ; k++) {
		double x = eg_qs_quantile(a, QS[k]), y = eg_qs_quantile(b, QS[k]);
		assert_true(x == y || (isnan(x) && isnan(y)));
	}
}

/* Split v into parts sketches at random, merge them in order, and compare
 * with one sketch of everything. */
static void check_merge_equals_union(const double *v, size_t n, int parts)
{
	qs_sketch all, merged, part[8];
	eg_qs_init(&all);
	eg_qs_init(&merged);
	for (int p = 0; p < parts; p++)
		eg_qs_init(&part[p]);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(eg_qs_add(&all, v[i]), 0);
		assert_int_equal(eg_qs_add(&part[rnd() % (uint64_t)parts], v[i]), 0);
	}
	for (int p = parts - 1; p >= 0; p--)
		assert_int_equal(eg_qs_merge(&merged, &part[p]), 0);
	assert_same_sketch(&all, &merged);
	/* a tree of merges gives the same too */
	for (int p = 1; p < parts; p += 2)
		assert_int_equal(eg_qs_merge(&part[p - 1], &part[p]), 0);
	qs_sketch tree;
	eg_qs_init(&tree);
	for (int p = 0; p < parts; p += 2)
		assert_int_equal(eg_qs_merge(&tree, &part[p]), 0);
	assert_same_sketch(&all, &tree);
	eg_qs_free(&tree);
	for (int p = 0; p < parts; p++)
		eg_qs_free(&part[p]);
	eg_qs_free(&all);
	eg_qs_free(&merged);
}

static void merge_equals_sketch_of_union(void **state)
{
	(void)state;
	double (*dist[])(void) = { d_uniform, d_lognormal, d_pareto, d_mixed, d_wide, d_latency_ms };
	rng_state = 10;
	for (size_t d = 0; d < sizeof dist / sizeof dist[0]; d++)
		for (size_t n = 1; n <= 30000; n *= 13) {
			double *v = gen(n, dist[d]);
			check_merge_equals_union(v, n, 2);
			check_merge_equals_union(v, n, 7);
			free(v);
		}
}

static void merge_of_disjoint_ranges_equals_union(void **state)
{
	(void)state;
	/* parts far apart make the merged store grow both ways */
	double v[4000];
	rng_state = 11;
	for (int i = 0; i < 4000; i++)
		v[i] = (i % 2 ? 1e-6 : 1e6) * (1 + unif());
	check_merge_equals_union(v, 4000, 2);
}

static void merge_with_empty_changes_nothing(void **state)
{
	(void)state;
	qs_sketch a, e, b;
	eg_qs_init(&a);
	eg_qs_init(&e);
	eg_qs_init(&b);
	eg_qs_add(&a, 1.5);
	eg_qs_add(&a, -2);
	assert_int_equal(eg_qs_merge(&a, &e), 0);
	assert_int_equal(eg_qs_merge(&b, &a), 0);
	assert_same_sketch(&a, &b);
	assert_int_equal(eg_qs_merge(&a, &a), EG_EINVAL);
	eg_qs_free(&a);
	eg_qs_free(&b);
	eg_qs_free(&e);
}

/* ---------------------------------------------------------- collapse */

static void span_of_4096_buckets_does_not_collapse(void **state)
{
	(void)state;
	/* 1 is bucket 0; g^4095 = 2^(4095/70) is the top of bucket 4095 */
	double top = exp2(4095 / 70.0);
	qs_sketch s;
	eg_qs_init(&s);
	eg_qs_add(&s, 1.0);
	eg_qs_add(&s, top * (1 - 1e-9));
	assert_false(eg_qs_collapsed(&s));
	assert_true(eg_qs_memory(&s) <= sizeof s + QS_MAX_BUCKETS * 8);
	eg_qs_add(&s, top * (1 + 1e-9));       /* bucket 4096 */
	assert_true(eg_qs_collapsed(&s));
	eg_qs_free(&s);
	/* the same on the negative side */
	eg_qs_init(&s);
	eg_qs_add(&s, -1.0);
	eg_qs_add(&s, -top * (1 - 1e-9));
	assert_false(eg_qs_collapsed(&s));
	eg_qs_add(&s, -top * (1 + 1e-9));
	assert_true(eg_qs_collapsed(&s));
	eg_qs_free(&s);
}

static void collapse_keeps_the_tail_within_bound(void **state)
{
	(void)state;
	/* 10% of values tiny (1e-25), the rest lognormal near 1..1000: the tiny
	 * ones collapse, the upper quantiles keep the bound */
	size_t n = 100000;
	double *v = malloc(n * sizeof *v);
	assert_non_null(v);
	rng_state = 12;
	qs_sketch s;
	eg_qs_init(&s);
	for (size_t i = 0; i < n; i++) {
		v[i] = i % 10 == 0 ? 1e-25 * (1 + unif()) : exp(3 + normal());
		assert_int_equal(eg_qs_add(&s, v[i]), 0);
	}
	assert_true(eg_qs_collapsed(&s));
	assert_true(eg_qs_memory(&s) <= sizeof s + QS_MAX_BUCKETS * 8);
	qsort(v, n, sizeof *v, cmp_double);
	for (size_t k = 0; k < NQ; k++) {
		if (QS[k] <= 0.1 && QS[k] > 0)
			continue;           /* in the collapsed bucket */
		double x = exact_quantile(v, n, QS[k]), got = eg_qs_quantile(&s, QS[k]);
		assert_true(fabs(got - x) <= QS_ALPHA * x);
	}
	/* the collapsed ones are still ordered and no smaller than min */
	assert_true(eg_qs_quantile(&s, 0.05) >= eg_qs_min(&s));
	assert_true(eg_qs_quantile(&s, 0.05) <= eg_qs_quantile(&s, 0.5));
	free(v);
	eg_qs_free(&s);
}

static void merge_equals_union_when_collapsing(void **state)
{
	(void)state;
	/* 200 decades: every part and the union collapse, at different floors */
	rng_state = 13;
	size_t n = 20000;
	double *v = malloc(n * sizeof *v);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = exp2(-300 + 600 * unif()) * (rnd() % 3 ? 1 : -1);
	check_merge_equals_union(v, n, 2);
	check_merge_equals_union(v, n, 8);
	/* and increasing values, so that the floor keeps moving up */
	for (size_t i = 0; i < n; i++)
		v[i] = exp2(-300 + 600.0 * (double)i / (double)n);
	check_merge_equals_union(v, n, 3);
	free(v);
}

/* ---------------------------------------------------------- encoding */

static void encode_decode_round_trips(void **state)
{
	(void)state;
	double (*dist[])(void) = { d_uniform, d_lognormal, d_mixed, d_wide };
	rng_state = 14;
	for (size_t d = 0; d < sizeof dist / sizeof dist[0]; d++)
		for (size_t n = 0; n <= 20000; n = n * 11 + 1) {
			qs_sketch s, t;
			eg_qs_init(&s);
			for (size_t i = 0; i < n; i++)
				eg_qs_add(&s, dist[d]());
			unsigned char *e;
			size_t len = enc(&s, &e);
			assert_int_equal(eg_qs_decode(&t, e, len), 0);
			assert_same_sketch(&s, &t);
			assert_int_equal(eg_qs_count(&t), n);
			assert_int_equal(eg_qs_collapsed(&t), eg_qs_collapsed(&s));
			/* a decoded sketch keeps working: add and merge */
			eg_qs_add(&s, 7.5);
			eg_qs_add(&t, 7.5);
			assert_same_sketch(&s, &t);
			assert_int_equal(eg_qs_merge(&t, &s), 0);
			free(e);
			eg_qs_free(&s);
			eg_qs_free(&t);
		}
}

static void encode_decode_round_trips_collapsed(void **state)
{
	(void)state;
	qs_sketch s, t;
	eg_qs_init(&s);
	rng_state = 15;
	for (int i = 0; i < 5000; i++)
		eg_qs_add(&s, d_wide() * 1e30 * (i % 2 ? 1e-60 : 1));
	eg_qs_add(&s, -1e-100);
	eg_qs_add(&s, -1e100);
	eg_qs_add(&s, 1e-100);
	assert_true(s.pos.collapsed && s.neg.collapsed);
	unsigned char *e;
	size_t len = enc(&s, &e);
	assert_int_equal(eg_qs_decode(&t, e, len), 0);
	assert_same_sketch(&s, &t);
	free(e);
	eg_qs_free(&s);
	eg_qs_free(&t);
}

static void empty_sketch_encodes_small(void **state)
{
	(void)state;
	qs_sketch s, t;
	eg_qs_init(&s);
	unsigned char e[64];
	size_t n = eg_qs_encode(&s, e);
	assert_int_equal(n, eg_qs_encoded_size(&s));
	assert_int_equal(n, 12);
	assert_int_equal(eg_qs_decode(&t, e, n), 0);
	assert_int_equal(eg_qs_count(&t), 0);
	assert_true(isnan(eg_qs_quantile(&t, 0.5)));
	eg_qs_free(&t);
}

static qs_sketch sample_sketch(void)
{
	qs_sketch s;
	eg_qs_init(&s);
	rng_state = 16;
	for (int i = 0; i < 300; i++)
		eg_qs_add(&s, d_mixed());
	return s;
}

static void decode_rejects_every_truncation(void **state)
{
	(void)state;
	qs_sketch s = sample_sketch(), t;
	unsigned char *e;
	size_t len = enc(&s, &e);
	for (size_t k = 0; k < len; k++) {
		unsigned char *cut = malloc(k ? k : 1);    /* exact size, for ASan */
		memcpy(cut, e, k);
		assert_int_equal(eg_qs_decode(&t, cut, k), EG_ECORRUPT);
		assert_int_equal(eg_qs_count(&t), 0);
		free(cut);
	}
	/* and a byte too many */
	unsigned char *more = malloc(len + 1);
	memcpy(more, e, len);
	more[len] = 0;
	assert_int_equal(eg_qs_decode(&t, more, len + 1), EG_ECORRUPT);
	free(more);
	free(e);
	eg_qs_free(&s);
}

static void decode_rejects_every_bit_flip(void **state)
{
	(void)state;
	qs_sketch s = sample_sketch(), t;
	unsigned char *e;
	size_t len = enc(&s, &e);
	for (size_t k = 0; k < len; k++)
		for (int b = 0; b < 8; b++) {
			e[k] ^= (unsigned char)(1 << b);
			if (eg_qs_decode(&t, e, len) != EG_ECORRUPT)
				fail_msg("flip of bit %d of byte %zu accepted", b, k);
			e[k] ^= (unsigned char)(1 << b);
		}
	assert_int_equal(eg_qs_decode(&t, e, len), 0);
	eg_qs_free(&t);
	free(e);
	eg_qs_free(&s);
}

static void decode_rejects_random_garbage(void **state)
{
	(void)state;
	unsigned char buf[512] = { 0 };
	qs_sketch t;
	rng_state = 17;
	assert_int_equal(eg_qs_decode(&t, buf, 0), EG_ECORRUPT);
	for (int k = 0; k < 20000; k++) {
		size_t n = rnd() % sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)rnd();
		if (k % 2) {             /* a plausible header */
			memcpy(buf, "QS\x01\x00", n < 4 ? n : 4);
		}
		assert_int_equal(eg_qs_decode(&t, buf, n), EG_ECORRUPT);
	}
}

/* Structural checks behind the checksum: rewrite the body, reseal it. */
static int decode_resealed(const unsigned char *body, size_t n)
{
	unsigned char buf[256];
	qs_sketch t;
	assert_true(n + 4 <= sizeof buf);
	memcpy(buf, body, n);
	uint32_t h = (uint32_t)XXH3_64bits(buf, n);
	for (int i = 0; i < 4; i++)
		buf[n + (size_t)i] = (unsigned char)(h >> (8 * i));
	int rc = eg_qs_decode(&t, buf, n + 4);
	eg_qs_free(&t);
	return rc;
}

/* 1.0, 2.0 and DBL_MAX as little-endian bytes */
#define ONE 0, 0, 0, 0, 0, 0, 0xf0, 0x3f
#define TWO 0, 0, 0, 0, 0, 0, 0x00, 0x40
#define BIG 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f

/* The encoding of {1, 2}: buckets 0 and 70, so 71 counts from lo = 0. */
static size_t one_and_two(unsigned char *b)
{
	static const unsigned char head[] = {
		'Q', 'S', 1, 0,
		2,              /* count */
		ONE, TWO,       /* min, max */
		0,              /* zeros */
		71, 0,          /* positives: k, lo */
		1,              /* bucket 0 */
	};
	size_t n = sizeof head;
	memcpy(b, head, n);
	for (int i = 1; i < 70; i++)
		b[n++] = 0;
	b[n++] = 1;             /* bucket 70, at byte 94 */
	b[n++] = 0;             /* no negatives */
	return n;
}

static void decode_checks_structure_behind_the_checksum(void **state)
{
	(void)state;
	unsigned char good[128], bad[128];
	size_t n = one_and_two(good);
	assert_int_equal(n, 96);
	assert_int_equal(decode_resealed(good, n), 0);
#define MUTATE(pos, val) do { memcpy(bad, good, n); bad[pos] = (val); \
		assert_int_equal(decode_resealed(bad, n), EG_ECORRUPT); } while (0)
	MUTATE(0, 'X');          /* magic */
	MUTATE(2, 2);            /* version */
	MUTATE(3, 4);            /* unknown flag */
	MUTATE(3, 1);            /* collapsed, but 71 buckets */
	MUTATE(4, 3);            /* count 3, buckets hold 2 */
	MUTATE(4, 1);            /* count 1 */
	MUTATE(21, 1);           /* zeros 1 */
	MUTATE(23, 2);           /* lo 1: max no longer in the top bucket */
	MUTATE(24, 0);           /* first count 0 */
	MUTATE(94, 0);           /* last count 0 */
	MUTATE(11, 0xf8);        /* min 1.5: in bucket 41, not 0 */
	MUTATE(12, 0x7f);        /* min +inf */
	MUTATE(12, 0xbf);        /* min -1 with no negatives */
	MUTATE(20, 0x3f);        /* max 0.5 < min */
	MUTATE(95, 1);           /* a negative store with no bytes left */
#undef MUTATE
	/* count 2 written in two bytes, 0x82 0x00: not the shortest form */
	memcpy(bad, good, 4);
	bad[4] = 0x82;
	bad[5] = 0x00;
	memcpy(bad + 6, good + 5, n - 5);
	assert_int_equal(decode_resealed(bad, n + 1), EG_ECORRUPT);
	/* a byte after the last store */
	memcpy(bad, good, n);
	bad[n] = 0;
	assert_int_equal(decode_resealed(bad, n + 1), EG_ECORRUPT);
}

static void decode_checks_bucket_range(void **state)
{
	(void)state;
	/* {DBL_MAX}: bucket 70 * 1024 = 71680, the last there is */
	unsigned char b[] = {
		'Q', 'S', 1, 0, 1, BIG, BIG, 0,
		1, 0x80, 0xe0, 0x08,     /* k = 1, lo = zigzag 143360 */
		1, 0,
	};
	assert_int_equal(decode_resealed(b, sizeof b), 0);
	b[22] = 0x82;                    /* lo 71681 */
	assert_int_equal(decode_resealed(b, sizeof b), EG_ECORRUPT);
	/* k = 4097 */
	unsigned char k[] = { 'Q', 'S', 1, 0, 1, ONE, ONE, 0, 0x81, 0x20, 0, 1, 0 };
	assert_int_equal(decode_resealed(k, sizeof k), EG_ECORRUPT);
}

/* The encoding of 1 (bucket 0) c0 times and 1.005 (bucket 1) c1 times,
 * claiming count values, before the checksum. */
static size_t two_buckets(unsigned char *b, uint64_t count, uint64_t c0, uint64_t c1)
{
	double lo = 1.0, hi = 1.005;
	uint64_t bits;
	size_t n = 0;
	memcpy(b, "QS\x01\x00", 4);
	n = 4;
	for (uint64_t v = count; ; v >>= 7) {
		b[n++] = (unsigned char)(v < 0x80 ? v : (v & 0x7f) | 0x80);
		if (v < 0x80)
			break;
	}
	memcpy(&bits, &lo, 8);
	for (int i = 0; i < 8; i++)
		b[n++] = (unsigned char)(bits >> (8 * i));
	memcpy(&bits, &hi, 8);
	for (int i = 0; i < 8; i++)
		b[n++] = (unsigned char)(bits >> (8 * i));
	b[n++] = 0;             /* zeros */
	b[n++] = 2;             /* k */
	b[n++] = 0;             /* lo */
	uint64_t c[2] = { c0, c1 };
	for (int k = 0; k < 2; k++)
		for (uint64_t v = c[k]; ; v >>= 7) {
			b[n++] = (unsigned char)(v < 0x80 ? v : (v & 0x7f) | 0x80);
			if (v < 0x80)
				break;
		}
	b[n++] = 0;             /* no negatives */
	return n;
}

static void decode_rejects_counts_that_overflow(void **state)
{
	(void)state;
	unsigned char b[64];
	assert_int_equal(decode_resealed(b, two_buckets(b, 5, 2, 3)), 0);
	assert_int_equal(decode_resealed(b, two_buckets(b, UINT64_MAX, UINT64_MAX - 1, 1)), 0);
	/* 2^64 - 1 + 2 wraps to 1 */
	assert_int_equal(decode_resealed(b, two_buckets(b, 1, UINT64_MAX, 2)), EG_ECORRUPT);
	assert_int_equal(decode_resealed(b, two_buckets(b, 4, 2, 3)), EG_ECORRUPT);
}

/* ---------------------------------------------------------- memory */

static void memory_and_size_of_typical_data(void **state)
{
	(void)state;
	qs_sketch s;
	eg_qs_init(&s);
	assert_int_equal(eg_qs_memory(&s), sizeof s);
	rng_state = 18;
	for (int i = 0; i < 100000; i++)
		eg_qs_add(&s, d_latency_ms());
	size_t mem = eg_qs_memory(&s), sz = eg_qs_encoded_size(&s);
	/* 0.27 ms to 100 ms and more: about 600 buckets */
	assert_true(mem <= sizeof s + 800 * 8);
	assert_true(sz < 1024);
	print_message("latency ms, 1e5 values: %zu bytes in memory, %zu encoded\n", mem, sz);
	eg_qs_free(&s);
	assert_int_equal(eg_qs_memory(&s), sizeof s);
}

/* A sketch of a few values keeps their buckets inline; it answers every
 * quantile, encodes and merges exactly as the same sketch moved into its
 * bucket arrays. */
static void few_values_inline_equal_the_spilled_sketch(void **state)
{
	(void)state;
	rng_state = 11;
	for (int round = 0; round < 300; round++) {
		qs_sketch a, b, m1, m2;
		eg_qs_init(&a), eg_qs_init(&b), eg_qs_init(&m1), eg_qs_init(&m2);
		size_t n = 1 + rnd() % (QS_SMALL + 4);
		for (size_t i = 0; i < n; i++) {
			double v = rnd() % 7 == 0 ? 0 : d_wide();
			if (round % 10 == 0 && i < 2)     /* buckets too far apart to keep */
				v = i ? 1e300 : 1e-300;
			assert_int_equal(eg_qs_add(&a, v), EG_OK);
			assert_int_equal(eg_qs_add(&b, v), EG_OK);
			/* m1: a sketch of a few values into which a is merged */
			if (i % 3 == 0)
				assert_int_equal(eg_qs_add(&m1, v / 3), EG_OK);
		}
		if (n < QS_SMALL && round % 10)
			assert_true(a.nsmall > 0 || a.zeros == a.count);
		assert_int_equal(eg_qs_spill(&b), EG_OK);
		assert_int_equal(b.nsmall, 0);
		for (size_t k = 0; k < sizeof QS / sizeof *QS; k++)
			assert_true(eg_qs_quantile(&a, QS[k]) == eg_qs_quantile(&b, QS[k]));
		assert_same_sketch(&a, &b);         /* the same encoding */
		if (m1.nsmall) {
			m2 = m1;                    /* inline: no arrays to share */
			assert_int_equal(eg_qs_spill(&m2), EG_OK);
			assert_int_equal(eg_qs_merge(&m1, &a), EG_OK);
			assert_int_equal(eg_qs_merge(&m2, &b), EG_OK);
			assert_same_sketch(&m1, &m2);
		}
		eg_qs_free(&a), eg_qs_free(&b), eg_qs_free(&m1), eg_qs_free(&m2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantiles_within_bound_on_uniform),
		cmocka_unit_test(quantiles_within_bound_on_lognormal),
		cmocka_unit_test(quantiles_within_bound_on_heavy_tail),
		cmocka_unit_test(quantiles_within_bound_on_negatives_and_zeros),
		cmocka_unit_test(quantiles_within_bound_on_wide_signed_range),
		cmocka_unit_test(quantiles_within_bound_on_latencies),
		cmocka_unit_test(quantiles_of_all_negative_values),
		cmocka_unit_test(single_value_is_returned_exactly),
		cmocka_unit_test(all_equal_values_are_returned_exactly),
		cmocka_unit_test(tiny_counts_use_nearest_rank),
		cmocka_unit_test(quantile_of_empty_or_bad_q_is_nan),
		cmocka_unit_test(bucket_is_ceil_of_log_gamma),
		cmocka_unit_test(error_is_bounded_at_bucket_edges),
		cmocka_unit_test(subnormal_and_extreme_values_keep_the_bound),
		cmocka_unit_test(smallest_and_largest_doubles_collapse_but_work),
		cmocka_unit_test(non_finite_values_are_rejected),
		cmocka_unit_test(minus_zero_is_zero),
		cmocka_unit_test(add_n_equals_n_adds),
		cmocka_unit_test(count_overflow_is_rejected),
		cmocka_unit_test(merge_equals_sketch_of_union),
		cmocka_unit_test(merge_of_disjoint_ranges_equals_union),
		cmocka_unit_test(merge_with_empty_changes_nothing),
		cmocka_unit_test(span_of_4096_buckets_does_not_collapse),
		cmocka_unit_test(collapse_keeps_the_tail_within_bound),
		cmocka_unit_test(merge_equals_union_when_collapsing),
		cmocka_unit_test(encode_decode_round_trips),
		cmocka_unit_test(encode_decode_round_trips_collapsed),
		cmocka_unit_test(empty_sketch_encodes_small),
		cmocka_unit_test(decode_rejects_every_truncation),
		cmocka_unit_test(decode_rejects_every_bit_flip),
		cmocka_unit_test(decode_rejects_random_garbage),
		cmocka_unit_test(decode_checks_structure_behind_the_checksum),
		cmocka_unit_test(decode_checks_bucket_range),
		cmocka_unit_test(decode_rejects_counts_that_overflow),
		cmocka_unit_test(memory_and_size_of_typical_data),
		cmocka_unit_test(few_values_inline_equal_the_spilled_sketch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_metric.c — the cells of the metric rollups as a specification: a
 * cell folds count, sum, min, max and last (by time, then position); it
 * keeps no sketch up to two samples and its quantiles are then exact;
 * merging cells, in any split and order, gives the cell of all their
 * samples, quantiles within the sketch's bound of the nearest rank.
 */
#include "testutil.h"
#include "metric.h"

#include <math.h>

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double nearest_rank(double *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, cmp_dbl);
	size_t r = (size_t)ceil(q * (double)n);
	return v[(r ? r : 1) - 1];
}

static void cell_folds_count_sum_min_max_last(void **state)
{
	(void)state;
	mt_cell c;
	eg_mt_cell_init(&c, 3, 100);
	assert_int_equal(eg_mt_cell_add(&c, 5, 2000, 10), EG_OK);
	assert_int_equal(eg_mt_cell_add(&c, -1, 3000, 11), EG_OK);
	assert_int_equal(eg_mt_cell_add(&c, 7, 1000, 12), EG_OK);   /* late: not last */
	assert_int_equal(eg_mt_cell_add(&c, 9, 3000, 13), EG_OK);   /* tie on time: greater pos */
	assert_int_equal(c.count, 4);
	assert_true(c.sum == 20 && c.min == -1 && c.max == 9 && c.last == 9);
	assert_int_equal(c.last_pos, 13);
	eg_mt_cell_free(&c);
}

static void two_samples_keep_no_sketch_and_exact_quantiles(void **state)
{
	(void)state;
	mt_cell c;
	eg_mt_cell_init(&c, 0, 0);
	eg_mt_cell_add(&c, 4, 1, 1);
	assert_null(c.sk);
	assert_true(eg_mt_cell_quantile(&c, 0.99) == 4);
	eg_mt_cell_add(&c, 2, 2, 2);
	assert_null(c.sk);
	assert_true(eg_mt_cell_quantile(&c, 0.5) == 2);
	assert_true(eg_mt_cell_quantile(&c, 0.51) == 4);
	eg_mt_cell_add(&c, 3, 3, 3);
	assert_non_null(c.sk);
	assert_int_equal(eg_qs_count(c.sk), 3);
	assert_true(fabs(eg_mt_cell_quantile(&c, 0.5) - 3) <= QS_ALPHA * 3);
	eg_mt_cell_free(&c);
}

static void merge_equals_the_cell_of_all_samples(void **state)
{
	(void)state;
	uint64_t rs = 42;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + tu_rnd(&rs) % 40, parts = 1 + tu_rnd(&rs) % 6;
		double v[64];
		mt_cell all, part[6], acc;
		eg_mt_cell_init(&all, 0, 0);
		eg_mt_cell_init(&acc, 0, 0);
		for (size_t p = 0; p < parts; p++)
			eg_mt_cell_init(&part[p], 0, 0);
		for (size_t i = 0; i < n; i++) {
			v[i] = (double)(tu_rnd(&rs) % 10000) / 7 - 300;
			int64_t t = (int64_t)(tu_rnd(&rs) % 50);
			assert_int_equal(eg_mt_cell_add(&all, v[i], t, i + 1), EG_OK);
			assert_int_equal(eg_mt_cell_add(&part[tu_rnd(&rs) % parts], v[i], t, i + 1), EG_OK);
		}
		for (size_t p = parts; p-- > 0;)   /* in another order than made */
			assert_int_equal(eg_mt_cell_merge(&acc, &part[p], 1), EG_OK);
		assert_int_equal(acc.count, all.count);
		assert_true(fabs(acc.sum - all.sum) <= 1e-9 * fabs(all.sum) + 1e-9);
		assert_true(acc.min == all.min && acc.max == all.max && acc.last == all.last);
		assert_int_equal(acc.last_pos, all.last_pos);
		static const double qs[] = { 0, 0.5, 0.9, 0.99, 1 };
		for (size_t k = 0; k < 5; k++) {
			double x = nearest_rank(v, n, qs[k]), e = eg_mt_cell_quantile(&acc, qs[k]);
			assert_true(fabs(e - x) <= QS_ALPHA * fabs(x) + 1e-12);
		}
		for (size_t p = 0; p < parts; p++)
			eg_mt_cell_free(&part[p]);
		eg_mt_cell_free(&all);
		eg_mt_cell_free(&acc);
	}
}

static void merge_without_sketch_keeps_exact_figures(void **state)
{
	(void)state;
	mt_cell a, b;
	eg_mt_cell_init(&a, 0, 0);
	eg_mt_cell_init(&b, 0, 0);
	for (int i = 0; i < 5; i++)
		eg_mt_cell_add(&b, i, i, (uint64_t)i + 1);
	assert_int_equal(eg_mt_cell_merge(&a, &b, 0), EG_OK);
	assert_null(a.sk);
	assert_true(a.count == 5 && a.sum == 10 && a.min == 0 && a.max == 4 && a.last == 4);
	eg_mt_cell_free(&a);
	eg_mt_cell_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cell_folds_count_sum_min_max_last),
		cmocka_unit_test(two_samples_keep_no_sketch_and_exact_quantiles),
		cmocka_unit_test(merge_equals_the_cell_of_all_samples),
		cmocka_unit_test(merge_without_sketch_keeps_exact_figures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_num.c — the text of doubles in results (averages, percentiles): the
 * shortest of 15, 16 or 17 significant digits that reads back as the same
 * double, written exactly as printf's %.Ng writes it.
 */
#include "testutil.h"
#include "num.h"

#include <float.h>
#include <math.h>

/* The definition, one printf and one strtod per precision tried. */
static size_t reference(double d, char *out)
{
	if (!isfinite(d))
		return (size_t)snprintf(out, NUM_TEXT_MAX, "null");
	for (int prec = 15; prec < 17; prec++) {
		size_t k = (size_t)snprintf(out, NUM_TEXT_MAX, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return k;
	}
	return (size_t)snprintf(out, NUM_TEXT_MAX, "%.17g", d);
}

static void same_as_reference(double d)
{
	char a[NUM_TEXT_MAX + 8], b[NUM_TEXT_MAX + 8];
	size_t n = eg_num_format_double(d, a), m = reference(d, b);
	if (n != m || memcmp(a, b, n))
		fail_msg("%.17g: wrote \"%.*s\", printf writes \"%.*s\"", d, (int)n, a, (int)m, b);
	if (isfinite(d))
		assert_true(strtod(a, NULL) == d);
}

static uint64_t rng = 88172645463325252u;
static uint64_t rnd(void)
{
	return tu_rnd(&rng);
}

static void doubles_print_as_printf_shortest(void **state)
{
	(void)state;
	static const double fixed[] = {
		0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e15, 1e16, 1e17,
		123456789012345.0, 999999999999999.0, 9999999999999998.0, 0.0001, 0.00001,
		1.5e-5, 5e-324, DBL_MIN, DBL_MAX, 0.5, 2.5, 1e-4 * 3, 100.0, 1e21, 1e22,
		9.5, 0.95, 0.995, 1234.5, 0.000123456789, 8.5e-5, 1e100, -1e-100, 1e308,
	};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		same_as_reference(fixed[i]);
	same_as_reference(INFINITY);
	same_as_reference(NAN);
	for (int i = 0; i < 200000; i++) {
		uint64_t u = rnd();
		double d;
		switch (i % 5) {
		case 0:                  /* any bits */
			memcpy(&d, &u, sizeof d);
			break;
		case 1:                  /* averages: a sum over a count */
			d = (double)(u % 100000000) / (double)(1 + (u >> 40) % 1000);
			break;
		case 2:                  /* decimals with few digits, scaled */
			d = (double)(u % 100000) * pow(10, (int)((u >> 32) % 40) - 20);
			break;
		case 3:                  /* ties at 15 and 16 digits and nearby */
			d = (double)(u % 1000000000000000u) + 0.5;
			d = (u >> 60) & 1 ? nextafter(d, 0) : d;
			break;
		default:                 /* percentiles: powers of 2^(1/70) */
			d = exp2((double)((int64_t)(u % 4000) - 2000) / 70.0);
		}
		same_as_reference(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(doubles_print_as_printf_shortest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

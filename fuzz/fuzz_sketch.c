/*
 * fuzz_sketch.c — libFuzzer target for the quantile sketch (src/util/sketch.c).
 * First byte even: the rest, sealed with a valid checksum so that the
 * fuzzer reaches the structural checks, is decoded; whatever decodes must
 * encode back to the same bytes and answer sane quantiles.  First byte odd:
 * the rest is doubles, split between two sketches by their low bit; the
 * merge must encode like one sketch of them all, and every quantile must
 * be within the bound of the exact nearest-rank one.
 */
#include "engram.h"
#include "sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void check_quantiles_sane(const qs_sketch *s)
{
	double prev = -HUGE_VAL;
	for (int k = 0; k <= 20; k++) {
		double x = eg_qs_quantile(s, k / 20.0);
		if (eg_qs_count(s) == 0) {
			CHECK(isnan(x));
			continue;
		}
		CHECK(x >= eg_qs_min(s) && x <= eg_qs_max(s) && x >= prev);
		prev = x;
	}
}

static void fuzz_decode(const uint8_t *data, size_t n)
{
	uint8_t *buf = malloc(n + 4), *again;
	qs_sketch s;
	memcpy(buf, data, n);
	uint32_t h = (uint32_t)XXH3_64bits(buf, n);
	for (int i = 0; i < 4; i++)
		buf[n + (size_t)i] = (uint8_t)(h >> (8 * i));
	for (int sealed = 0; sealed < 2; sealed++) {
		size_t len = sealed ? n + 4 : n;
		if (eg_qs_decode(&s, buf, len) != EG_OK) {
			CHECK(eg_qs_count(&s) == 0 && eg_qs_memory(&s) == sizeof s);
			continue;
		}
		CHECK(eg_qs_encoded_size(&s) == len);
		again = malloc(len);
		CHECK(eg_qs_encode(&s, again) == len);
		CHECK(memcmp(again, buf, len) == 0);
		free(again);
		check_quantiles_sane(&s);
		CHECK(eg_qs_add(&s, 1.0) == EG_OK || eg_qs_count(&s) == UINT64_MAX);
		eg_qs_free(&s);
	}
	free(buf);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void fuzz_values(const uint8_t *data, size_t n)
{
	size_t nv = n / 8, kept = 0;
	double *v = malloc((nv ? nv : 1) * sizeof *v);
	qs_sketch all, part[2];
	eg_qs_init(&all);
	eg_qs_init(&part[0]);
	eg_qs_init(&part[1]);
	for (size_t i = 0; i < nv; i++) {
		double x;
		memcpy(&x, data + 8 * i, 8);
		int rc = eg_qs_add(&all, x);
		CHECK(rc == (isfinite(x) ? EG_OK : EG_EINVAL));
		if (rc == EG_OK) {
			CHECK(eg_qs_add(&part[data[8 * i] & 1], x) == EG_OK);
			v[kept++] = x == 0 ? 0.0 : x;
		}
	}
	CHECK(eg_qs_merge(&part[0], &part[1]) == EG_OK);
	size_t la = eg_qs_encoded_size(&all), lm = eg_qs_encoded_size(&part[0]);
	CHECK(la == lm);
	uint8_t *ea = malloc(la), *em = malloc(lm);
	eg_qs_encode(&all, ea);
	eg_qs_encode(&part[0], em);
	CHECK(memcmp(ea, em, la) == 0);
	check_quantiles_sane(&all);
	if (kept && !eg_qs_collapsed(&all)) {
		qsort(v, kept, sizeof *v, cmp);
		for (int k = 0; k <= 20; k++) {
			double q = k / 20.0, r = ceil(q * (double)kept);
			size_t idx = r < 1 ? 0 : (size_t)r - 1;
			double x = v[idx], got = eg_qs_quantile(&all, q);
			/* subnormals carry less precision than the bound needs */
			if (fabs(x) >= 0x1p-1022 || x == 0)
				CHECK(fabs(got - x) <= QS_ALPHA * fabs(x));
		}
	}
	free(ea);
	free(em);
	free(v);
	eg_qs_free(&all);
	eg_qs_free(&part[0]);
	eg_qs_free(&part[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n == 0)
		return 0;
	if (data[0] & 1)
		fuzz_values(data + 1, n - 1);
	else
		fuzz_decode(data + 1, n - 1);
	return 0;
}

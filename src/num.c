/*
 * num.c — exact decimals for projection aggregates (see num.h).
 */
#include "num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXP_LIMIT 40     /* |e| beyond this: double */
#define ACC_LIMIT ((__int128)1 << 120)

int num_parse(const char *s, size_t n, num *out)
{
	const char *p = s, *end = s + n;
	int neg = 0, digits = 0, lost = 0;
	int64_t m = 0;
	long e = 0;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (digits == 0 && *p == '0')
			continue;
		if (digits < 18) {
			m = m * 10 + (*p - '0');
			digits++;
		} else {
			lost |= *p != '0';
			e++;
		}
	}
	if (p < end && *p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			if (digits == 0 && *p == '0') {
				e--;
				continue;
			}
			if (digits < 18) {
				m = m * 10 + (*p - '0');
				digits++;
				e--;
			} else {
				lost |= *p != '0';
			}
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		int eneg = 0;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		long x = 0;
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (x < 100000)
				x = x * 10 + (*p - '0');
		e += eneg ? -x : x;
	}
	while (m != 0 && m % 10 == 0) {
		m /= 10;
		e++;
	}
	if (m == 0)
		e = 0;
	if (lost || e > EXP_LIMIT || e < -EXP_LIMIT) {
		char buf[400];
		size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
		memcpy(buf, s, k);
		buf[k] = 0;
		double d = strtod(buf, NULL);
		memcpy(&out->m, &d, sizeof d);
		out->e = 0;
		out->exact = 0;
		return 0;
	}
	out->m = neg ? -m : m;
	out->e = (int32_t)e;
	out->exact = 1;
	return 0;
}

static double pow10i(int e)
{
	return pow(10.0, e);
}

double num_double(const num *v)
{
	if (!v->exact) {
		double d;
		memcpy(&d, &v->m, sizeof d);
		return d;
	}
	/* Exact decimals: divide by a power of ten, so that 0.1 is the double
	 * nearest to 0.1. */
	return v->e < 0 ? (double)v->m / pow10i(-v->e) : (double)v->m * pow10i(v->e);
}

static double acc_double(__int128 m, int e)
{
	return e < 0 ? (double)m / pow10i(-e) : (double)m * pow10i(e);
}

void nacc_set(nacc *a, const num *v, int64_t mult)
{
	a->d = num_double(v) * (double)mult;
	a->exact = v->exact;
	a->m = (__int128)v->m * mult;
	a->e = v->e;
	if (a->exact && (a->m >= ACC_LIMIT || a->m <= -ACC_LIMIT))
		a->exact = 0;
}

/* m * 10^k, or 0 if that leaves the exact range. */
static int scale_up(__int128 *m, int k)
{
	while (k-- > 0) {
		if (*m >= ACC_LIMIT / 10 || *m <= -ACC_LIMIT / 10)
			return 0;
		*m *= 10;
	}
	return 1;
}

static void normalize(nacc *a)
{
	if (a->m == 0) {
		a->e = 0;
		return;
	}
	while (a->m % 10 == 0) {
		a->m /= 10;
		a->e++;
	}
}

void nacc_add(nacc *a, const nacc *b)
{
	a->d += b->d;
	if (!a->exact || !b->exact) {
		a->exact = 0;
		return;
	}
	__int128 x = a->m, y = b->m;
	int e = a->e < b->e ? a->e : b->e;
	if (!scale_up(&x, a->e - e) || !scale_up(&y, b->e - e)) {
		a->exact = 0;
		return;
	}
	x += y;
	if (x >= ACC_LIMIT || x <= -ACC_LIMIT) {
		a->exact = 0;
		return;
	}
	a->m = x;
	a->e = e;
	normalize(a);
	a->d = acc_double(a->m, a->e);
}

int nacc_cmp(const nacc *a, const nacc *b)
{
	if (a->exact && b->exact) {
		__int128 x = a->m, y = b->m;
		int e = a->e < b->e ? a->e : b->e;
		if (scale_up(&x, a->e - e) && scale_up(&y, b->e - e))
			return x < y ? -1 : x > y;
	}
	return a->d < b->d ? -1 : a->d > b->d;
}

size_t nacc_format(const nacc *a, char *out)
{
	if (!a->exact) {
		if (!isfinite(a->d))
			return (size_t)snprintf(out, NUM_TEXT_MAX, "null");
		return (size_t)snprintf(out, NUM_TEXT_MAX, "%.17g", a->d);
	}
	char dig[48];
	int nd = 0;
	__int128 m = a->m;
	int neg = m < 0;
	unsigned __int128 u = neg ? (unsigned __int128)(-(m + 1)) + 1 : (unsigned __int128)m;
	do {
		dig[nd++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	size_t k = 0;
	if (neg)
		out[k++] = '-';
	int e = a->e;
	if (e >= 0 && nd + e <= 24) {
		while (nd)
			out[k++] = dig[--nd];
		for (int i = 0; i < e && a->m != 0; i++)
			out[k++] = '0';
	} else if (e < 0 && -e < nd) {
		for (int i = nd - 1; i >= 0; i--) {
			out[k++] = dig[i];
			if (i == -e)
				out[k++] = '.';
		}
	} else if (e < 0 && -e - nd <= 6) {
		out[k++] = '0';
		out[k++] = '.';
		for (int i = 0; i < -e - nd; i++)
			out[k++] = '0';
		while (nd)
			out[k++] = dig[--nd];
	} else {
		while (nd)
			out[k++] = dig[--nd];
		k += (size_t)snprintf(out + k, 16, "e%d", e);
	}
	return k;
}

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

int eg_num_parse(const char *s, size_t n, num *out)
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

double eg_num_double(const num *v)
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

static __int128 acc_m(const nacc *a)
{
	return (__int128)(((unsigned __int128)(uint64_t)a->hi << 64) | a->lo);
}

static void acc_set_m(nacc *a, __int128 m)
{
	a->lo = (uint64_t)m;
	a->hi = (int64_t)(m >> 64);
}

/* The value as a double: computed from the exact decimal only when it is
 * needed (a comparison or a sum leaving the exact range), never per add. */
static double acc_double(const nacc *a)
{
	double d;
	if (!a->exact) {
		memcpy(&d, &a->lo, sizeof d);
		return d;
	}
	__int128 m = acc_m(a);
	return a->e < 0 ? (double)m / pow10i(-a->e) : (double)m * pow10i(a->e);
}

static void acc_set_double(nacc *a, double d)
{
	memcpy(&a->lo, &d, sizeof d);
	a->hi = 0;
	a->e = 0;
	a->exact = 0;
}

void eg_nacc_set(nacc *a, const num *v, int64_t mult)
{
	__int128 m = (__int128)v->m * mult;
	if (!v->exact || m >= ACC_LIMIT || m <= -ACC_LIMIT) {
		acc_set_double(a, eg_num_double(v) * (double)mult);
		return;
	}
	acc_set_m(a, m);
	a->e = v->e;
	a->exact = 1;
}

/* 10^k for k <= 38, as constants. */
#define E18 ((__int128)1000000000000000000LL)
static const __int128 p10[39] = {
	(__int128)1LL, (__int128)10LL, (__int128)100LL,
	(__int128)1000LL, (__int128)10000LL, (__int128)100000LL,
	(__int128)1000000LL, (__int128)10000000LL, (__int128)100000000LL,
	(__int128)1000000000LL, (__int128)10000000000LL, (__int128)100000000000LL,
	(__int128)1000000000000LL, (__int128)10000000000000LL, (__int128)100000000000000LL,
	(__int128)1000000000000000LL, (__int128)10000000000000000LL, (__int128)100000000000000000LL,
	(__int128)1000000000000000000LL, E18 * 10LL, E18 * 100LL,
	E18 * 1000LL, E18 * 10000LL, E18 * 100000LL,
	E18 * 1000000LL, E18 * 10000000LL, E18 * 100000000LL,
	E18 * 1000000000LL, E18 * 10000000000LL, E18 * 100000000000LL,
	E18 * 1000000000000LL, E18 * 10000000000000LL, E18 * 100000000000000LL,
	E18 * 1000000000000000LL, E18 * 10000000000000000LL, E18 * 100000000000000000LL,
	E18 * 1000000000000000000LL, E18 * E18 * 10LL, E18 * E18 * 100LL
};
/* ACC_LIMIT / 10^k: m * 10^k stays exact while |m| is under it. */
static const __int128 p10lim[39] = {
	ACC_LIMIT / ((__int128)1LL), ACC_LIMIT / ((__int128)10LL), ACC_LIMIT / ((__int128)100LL),
	ACC_LIMIT / ((__int128)1000LL), ACC_LIMIT / ((__int128)10000LL), ACC_LIMIT / ((__int128)100000LL),
	ACC_LIMIT / ((__int128)1000000LL), ACC_LIMIT / ((__int128)10000000LL), ACC_LIMIT / ((__int128)100000000LL),
	ACC_LIMIT / ((__int128)1000000000LL), ACC_LIMIT / ((__int128)10000000000LL), ACC_LIMIT / ((__int128)100000000000LL),
	ACC_LIMIT / ((__int128)1000000000000LL), ACC_LIMIT / ((__int128)10000000000000LL), ACC_LIMIT / ((__int128)100000000000000LL),
	ACC_LIMIT / ((__int128)1000000000000000LL), ACC_LIMIT / ((__int128)10000000000000000LL), ACC_LIMIT / ((__int128)100000000000000000LL),
	ACC_LIMIT / ((__int128)1000000000000000000LL), ACC_LIMIT / (E18 * 10LL), ACC_LIMIT / (E18 * 100LL),
	ACC_LIMIT / (E18 * 1000LL), ACC_LIMIT / (E18 * 10000LL), ACC_LIMIT / (E18 * 100000LL),
	ACC_LIMIT / (E18 * 1000000LL), ACC_LIMIT / (E18 * 10000000LL), ACC_LIMIT / (E18 * 100000000LL),
	ACC_LIMIT / (E18 * 1000000000LL), ACC_LIMIT / (E18 * 10000000000LL), ACC_LIMIT / (E18 * 100000000000LL),
	ACC_LIMIT / (E18 * 1000000000000LL), ACC_LIMIT / (E18 * 10000000000000LL), ACC_LIMIT / (E18 * 100000000000000LL),
	ACC_LIMIT / (E18 * 1000000000000000LL), ACC_LIMIT / (E18 * 10000000000000000LL), ACC_LIMIT / (E18 * 100000000000000000LL),
	ACC_LIMIT / (E18 * 1000000000000000000LL), ACC_LIMIT / (E18 * E18 * 10LL), ACC_LIMIT / (E18 * E18 * 100LL)
};

/* m * 10^k, or 0 if that leaves the exact range. */
static int scale_up(__int128 *m, int k)
{
	if (k == 0)
		return 1;
	if (k > 38)
		return 0;
	if (*m >= p10lim[k] || *m <= -p10lim[k])
		return 0;
	*m *= p10[k];
	return 1;
}

/* a += b.  Exact sums are kept at the smaller exponent of the two and not
 * normalised here (that costs 128-bit divisions per add); the mantissa and
 * exponent of a sum do not depend on the order of additions, and
 * eg_nacc_format writes the shortest form. */
void eg_nacc_add(nacc *a, const nacc *b)
{
	if (a->exact && b->exact) {
		__int128 x = acc_m(a), y = acc_m(b);
		int e = a->e < b->e ? a->e : b->e;
		if (scale_up(&x, a->e - e) && scale_up(&y, b->e - e)) {
			x += y;
			if (x < ACC_LIMIT && x > -ACC_LIMIT) {
				acc_set_m(a, x);
				a->e = e;
				return;
			}
		}
	}
	acc_set_double(a, acc_double(a) + acc_double(b));
}

int eg_nacc_cmp(const nacc *a, const nacc *b)
{
	if (a->exact && b->exact) {
		__int128 x = acc_m(a), y = acc_m(b);
		int e = a->e < b->e ? a->e : b->e;
		if (scale_up(&x, a->e - e) && scale_up(&y, b->e - e))
			return x < y ? -1 : x > y;
	}
	double x = acc_double(a), y = acc_double(b);
	return x < y ? -1 : x > y;
}

double eg_nacc_double(const nacc *a)
{
	return acc_double(a);
}

/* d's 17 significant digits (correctly rounded) into dig, and the decimal
 * exponent of the first. */
static int digits17(double d, char *dig)
{
	char t[40];
	snprintf(t, sizeof t, "%.16e", d);     /* [-]d.dddddddddddddddde[+-]x */
	const char *p = t + (t[0] == '-');
	dig[0] = p[0];
	memcpy(dig + 1, p + 2, 16);
	return atoi(p + 19);
}

/* Write the digits dig[0..n) (n >= 1, no trailing zeros needed) with
 * decimal exponent x as printf's %g would at a precision of at least n:
 * plain when -4 <= x < prec, else d.ddde[+-]xx; trailing zeros dropped. */
static size_t put_g(char *out, int neg, const char *dig, int n, int x, int prec)
{
	size_t k = 0;
	while (n > 1 && dig[n - 1] == '0')
		n--;
	if (neg)
		out[k++] = '-';
	if (x < -4 || x >= prec) {
		out[k++] = dig[0];
		if (n > 1) {
			out[k++] = '.';
			memcpy(out + k, dig + 1, (size_t)n - 1);
			k += (size_t)n - 1;
		}
		k += (size_t)snprintf(out + k, 8, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
	} else if (x < 0) {
		out[k++] = '0';
		out[k++] = '.';
		for (int i = 0; i < -x - 1; i++)
			out[k++] = '0';
		memcpy(out + k, dig, (size_t)n);
		k += (size_t)n;
	} else {
		for (int i = 0; i <= x; i++)
			out[k++] = i < n ? dig[i] : '0';
		if (n > x + 1) {
			out[k++] = '.';
			memcpy(out + k, dig + x + 1, (size_t)(n - x - 1));
			k += (size_t)(n - x - 1);
		}
	}
	out[k] = 0;
	return k;
}

/* Round the 17 digits dig (exponent *x) to n digits in r, as printf would
 * round d itself; 0 when that cannot be told from 17 digits (the digits
 * dropped are exactly 5 then zeros: d may lie either side of the tie). */
static int round_digits(const char *dig, int x, int n, char *r, int *rx)
{
	if (dig[n] == '5') {
		int zeros = 1;
		for (int i = n + 1; i < 17; i++)
			zeros &= dig[i] == '0';
		if (zeros)
			return 0;
	}
	memcpy(r, dig, (size_t)n);
	*rx = x;
	if (dig[n] >= '5') {
		int i = n - 1;
		while (i >= 0 && r[i] == '9')
			r[i--] = '0';
		if (i >= 0) {
			r[i]++;
		} else {            /* 999… rounds up to 1000… */
			r[0] = '1';
			(*rx)++;
		}
	}
	return 1;
}

size_t eg_num_format_double(double d, char *out)
{
	if (!isfinite(d))
		return (size_t)snprintf(out, NUM_TEXT_MAX, "null");
	/* the shortest of 15, 16 or 17 digits that reads back as d, as
	 * printf's %.15g, %.16g or %.17g writes it: the 17 digits once, the
	 * shorter ones rounded from them (printf itself when a tie hides) */
	char dig[17], r[17];
	int x = digits17(d, dig), neg = signbit(d) != 0;
	for (int prec = 15; prec < 17; prec++) {
		int rx;
		size_t k;
		if (round_digits(dig, x, prec, r, &rx))
			k = put_g(out, neg, r, prec, rx, prec);
		else
			k = (size_t)snprintf(out, NUM_TEXT_MAX, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return k;
	}
	return put_g(out, neg, dig, 17, x, 17);
}

size_t eg_nacc_format(const nacc *a, char *out)
{
	if (!a->exact) {
		double d = acc_double(a);
		if (!isfinite(d))
			return (size_t)snprintf(out, NUM_TEXT_MAX, "null");
		return eg_num_format_double(d, out);
	}
	char dig[48];
	int nd = 0;
	__int128 m = acc_m(a);
	int e = a->e;
	while (m != 0 && e < 0 && m % 10 == 0) {   /* 2.50 + 0.50 prints 3 */
		m /= 10;
		e++;
	}
	if (m == 0)
		e = 0;
	int neg = m < 0;
	unsigned __int128 u = neg ? (unsigned __int128)(-(m + 1)) + 1 : (unsigned __int128)m;
	do {
		dig[nd++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	size_t k = 0;
	if (neg)
		out[k++] = '-';
	if (e >= 0 && nd + e <= 24) {
		while (nd)
			out[k++] = dig[--nd];
		for (int i = 0; i < e && m != 0; i++)
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

/*
 * schema_value.c — the values a schema compares: exact decimals (sdec)
 * for minimum, maximum and multipleOf, and the canonical form of a JSON
 * value for const, enum and uniqueItems (JSON equality as byte equality).
 * Both read text that may not be JSON without ever leaving its bounds.
 */
#include "schema_int.h"
#include "buf.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXP_CLAMP 1000000000000000LL   /* |exponent| kept below 1e15: no overflow */
#define CANON_DEPTH 300                /* beyond JSON_MAX_DEPTH: a bound, not a limit */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The common case: -?digits(.digits)? without exponent and with at most 19
 * digits in all, read in one pass.  Returns 0 when the text is anything
 * else, for the general parse. */
static int sdec_short(const char *s, size_t n, sdec *d)
{
	const char *p = s, *end = s + n, *dot = NULL;
	uint64_t m = 0;
	int nd = 0, neg = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p == end)
		return 0;
	for (; p < end; p++) {
		if (is_digit(*p)) {
			if (++nd > 19)
				return 0;
			m = m * 10 + (uint64_t)(*p - '0');
		} else if (*p == '.' && !dot) {
			dot = p;
		} else {
			return 0;
		}
	}
	if (!nd || (dot && dot + 1 == end))
		return 0;
	memset(d, 0, sizeof *d);
	if (m == 0) {
		d->zero = 1;
		return 1;
	}
	d->neg = neg;
	d->e = dot ? -(int64_t)(end - dot - 1) : 0;
	while (m % 10 == 0) {
		m /= 10;
		d->e++;
	}
	d->m = m;
	d->last = d->e;
	d->lead = d->e;
	for (uint64_t k = m; k >= 10; k /= 10)
		d->lead++;
	return 1;
}

void eg_sdec_parse(const char *s, size_t n, sdec *d)
{
	if (sdec_short(s, n, d))
		return;
	const char *p = s, *end = s + n, *ib, *ie, *fb, *fe;
	int64_t x = 0, pos;
	int eneg = 0, nd = 0, started = 0;

	memset(d, 0, sizeof *d);
	if (p < end && *p == '-') {
		d->neg = 1;
		p++;
	}
	for (ib = p; p < end && is_digit(*p); p++)
		;
	ie = fb = fe = p;
	if (p < end && *p == '.') {
		for (fb = ++p; p < end && is_digit(*p); p++)
			;
		fe = p;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && is_digit(*p); p++)
			if (x < EXP_CLAMP)
				x = x * 10 + (*p - '0');
	}
	if (eneg)
		x = -x;
	/* Every digit has a decimal position: the integer part's last is x, the
	 * fraction's first x - 1. */
	pos = (int64_t)(ie - ib) - 1 + x;
	for (const char *q = ib; q < fe; q++) {
		if (q == ie) {
			q = fb - 1;
			continue;
		}
		int c = *q - '0';
		if (!started && c == 0) {
			pos--;
			continue;
		}
		if (!started) {
			started = 1;
			d->lead = pos;
		}
		if (nd < 19) {
			d->m = d->m * 10 + (uint64_t)c;
			d->e = pos;
			nd++;
		} else if (c) {
			d->tail = 1;
		}
		if (c)
			d->last = pos;
		pos--;
	}
	if (!started) {
		memset(d, 0, sizeof *d);
		d->zero = 1;
		return;
	}
	while (d->m % 10 == 0) {
		d->m /= 10;
		d->e++;
	}
}

static const uint64_t pow10_tab[20] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
	100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
	10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
	100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL
};

/* m's digits padded to 19, so that two mantissas of the same lead compare
 * as integers. */
static uint64_t padded(const sdec *d)
{
	int64_t digits = d->lead - d->e + 1;
	return digits >= 19 ? d->m : d->m * pow10_tab[19 - digits];
}

int eg_sdec_cmp(const sdec *a, const sdec *b)
{
	int sa = a->zero ? 0 : a->neg ? -1 : 1, sb = b->zero ? 0 : b->neg ? -1 : 1, r;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (sa == 0)
		return 0;
	if (a->lead != b->lead) {
		r = a->lead < b->lead ? -1 : 1;
	} else {
		uint64_t ma = padded(a), mb = padded(b);
		/* Equal in 19 digits: the one with more nonzero digits is larger
		 * (two with more are taken as equal). */
		r = ma != mb ? (ma < mb ? -1 : 1) : a->tail - b->tail;
	}
	return sa < 0 ? -r : r;
}

/* buf.h grows it; the failure sticks. */
int eg_sbuf_reserve(sbuf *s, size_t more)
{
	buf b = { s->p, s->n, s->cap };

	if (s->oom || buf_reserve(&b, more)) {
		s->oom = 1;
		return -1;
	}
	s->p = b.p;
	s->cap = b.cap;
	return 0;
}

static void put(sbuf *b, const void *s, size_t n)
{
	if (eg_sbuf_reserve(b, n) == 0) {
		memcpy(b->p + b->n, s, n);
		b->n += n;
	}
}

static void putc1(sbuf *b, char c)
{
	put(b, &c, 1);
}

/* ------------------------------------------------------------- canon */

/* A member of an object being put in canonical order: its key's decoded
 * bytes at out[ko, ko + kn), the whole member at out[mo, mo + mn). */
struct mrec {
	size_t ko, kn, mo, mn, idx;
};

struct scanon {
	struct mrec *r;
	size_t n, cap;
	sbuf tmp;
	int depth;
};

struct scanon *eg_scanon_new(void)
{
	return calloc(1, sizeof(struct scanon));
}

void eg_scanon_free(struct scanon *c)
{
	if (c) {
		free(c->r);
		free(c->tmp.p);
		free(c);
	}
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *num_end(const char *p, const char *end)
{
	while (p < end && (is_digit(*p) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E'))
		p++;
	return p;
}

/* A string as canonical: 's', its decoded length (8 bytes), its bytes. */
static const char *canon_string(sbuf *out, const char *p, const char *end, size_t *ko, size_t *kn)
{
	const char *q = eg_json_string_end(p, end, NULL);
	size_t body = q - p >= 2 ? (size_t)(q - p) - 2 : 0;
	uint64_t len;

	if (q == end && (q - p < 2 || q[-1] != '"'))
		return NULL;
	if (eg_sbuf_reserve(out, 9 + body))
		return NULL;
	out->p[out->n] = 's';
	len = eg_json_unescape(p + 1, p + 1 + body, out->p + out->n + 9);
	memcpy(out->p + out->n + 1, &len, 8);
	if (ko) {
		*ko = out->n + 9;
		*kn = (size_t)len;
	}
	out->n += 9 + (size_t)len;
	return q;
}

/* A number as canonical: '#', '-' if negative, its significant digits,
 * 'E', the exponent of the first, ';' (zero is "#0;"). */
static const char *canon_number(sbuf *out, const char *p, const char *end)
{
	const char *q = num_end(p, end);
	sdec d;
	char tmp[32];

	if (q == p)
		return NULL;
	eg_sdec_parse(p, (size_t)(q - p), &d);
	if (d.zero) {
		put(out, "#0;", 3);
		return q;
	}
	putc1(out, '#');
	if (d.neg)
		putc1(out, '-');
	/* The digits again from the text, so that tails beyond 19 count. */
	size_t start = out->n;
	int started = 0;
	const char *ee = p;
	while (ee < q && *ee != 'e' && *ee != 'E')
		ee++;
	for (const char *r = p; r < ee; r++) {
		if (!is_digit(*r) || (!started && *r == '0'))
			continue;
		started = 1;
		putc1(out, *r);
	}
	while (!out->oom && out->n > start + 1 && out->p[out->n - 1] == '0')
		out->n--;
	put(out, tmp, (size_t)snprintf(tmp, sizeof tmp, "E%lld;", (long long)d.lead));
	return q;
}

static int mrec_cmp(const void *x, const void *y, void *arg)
{
	const struct mrec *a = x, *b = y;
	const char *o = arg;
	size_t k = a->kn < b->kn ? a->kn : b->kn;
	int r = memcmp(o + a->ko, o + b->ko, k);

	if (r)
		return r;
	if (a->kn != b->kn)
		return a->kn < b->kn ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static const char *canon_value(struct scanon *c, sbuf *out, const char *p, const char *end);

/* Members sorted by key; of equal keys the last written wins, as in
 * eg_json_member. */
static int canon_sort(struct scanon *c, sbuf *out, size_t base, size_t first)
{
	size_t k = c->n - base, w = 0;
	struct mrec *r = c->r + base;

	if (k < 2 || out->oom)
		return out->oom ? -1 : 0;
	qsort_r(r, k, sizeof *r, mrec_cmp, out->p);
	c->tmp.n = 0;
	c->tmp.oom = 0;   /* the scanon lives on between validations */
	for (size_t i = 0; i < k; i++) {
		if (i + 1 < k && r[i].kn == r[i + 1].kn && !memcmp(out->p + r[i].ko, out->p + r[i + 1].ko, r[i].kn))
			continue;
		put(&c->tmp, out->p + r[i].mo, r[i].mn);
		w += r[i].mn;
	}
	if (c->tmp.oom) {
		out->oom = 1;   /* out of memory (-1), not a value let through unchecked */
		return -1;
	}
	memcpy(out->p + first, c->tmp.p, w);
	out->n = first + w;
	return 0;
}

static const char *canon_object(struct scanon *c, sbuf *out, const char *p, const char *end)
{
	size_t base = c->n, first;

	putc1(out, '{');
	first = out->n;
	p = skip_ws(p + 1, end);
	while (p < end && *p != '}') {
		struct mrec m;
		if (*p == ',')
			p = skip_ws(p + 1, end);
		if (p >= end || *p != '"')
			return NULL;
		m.mo = out->n;
		p = canon_string(out, p, end, &m.ko, &m.kn);
		if (!p)
			return NULL;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		p = canon_value(c, out, p + 1, end);
		if (!p)
			return NULL;
		m.mn = out->n - m.mo;
		m.idx = c->n - base;
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 16;
			struct mrec *r = realloc(c->r, cap * sizeof *r);
			if (!r) {
				out->oom = 1;
				return NULL;
			}
			c->r = r;
			c->cap = cap;
		}
		c->r[c->n++] = m;
		p = skip_ws(p, end);
	}
	if (p >= end || canon_sort(c, out, base, first))
		return NULL;
	c->n = base;
	putc1(out, '}');
	return p + 1;
}

static const char *canon_array(struct scanon *c, sbuf *out, const char *p, const char *end)
{
	putc1(out, '[');
	p = skip_ws(p + 1, end);
	while (p < end && *p != ']') {
		if (*p == ',')
			p = skip_ws(p + 1, end);
		p = canon_value(c, out, p, end);
		if (!p)
			return NULL;
		p = skip_ws(p, end);
	}
	if (p >= end)
		return NULL;
	putc1(out, ']');
	return p + 1;
}

static const char *canon_value(struct scanon *c, sbuf *out, const char *p, const char *end)
{
	const char *q = NULL;

	p = skip_ws(p, end);
	if (p >= end)
		return NULL;
	if (++c->depth > CANON_DEPTH) {
		c->depth--;
		return NULL;
	}
	switch (*p) {
	case '{': q = canon_object(c, out, p, end); break;
	case '[': q = canon_array(c, out, p, end); break;
	case '"': q = canon_string(out, p, end, NULL, NULL); break;
	case 't': q = end - p >= 4 ? p + 4 : NULL; putc1(out, 't'); break;
	case 'f': q = end - p >= 5 ? p + 5 : NULL; putc1(out, 'f'); break;
	case 'n': q = end - p >= 4 ? p + 4 : NULL; putc1(out, 'n'); break;
	default: q = canon_number(out, p, end); break;
	}
	c->depth--;
	return out->oom ? NULL : q;
}

const char *eg_schema_canon(struct scanon *c, sbuf *out, const char *p, const char *end)
{
	c->depth = 0;
	c->n = 0;
	return canon_value(c, out, p, end);
}

/*
 * json.c — the validating JSON scanner behind every NDJSON line (json.h).
 * Ingest scans every line, so it is one pass with no tree and no recursion:
 * open containers live in a bit stack, string bodies are skipped eight bytes
 * at a time while plain ASCII, and each rejection names offset and cause.
 */
#include "json.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

#define R0 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define R1 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1

/* Bytes that end a fast run inside a string: '"', '\\', controls (which
 * RFC 8259 forbids unescaped) and non-ASCII (which must be checked as UTF-8). */
static const uint8_t str_stop[256] = {
	R1, R1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x22 '"' */
	R0, R0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,  /* 0x5c '\\' */
	R0, R0,
	R1, R1, R1, R1, R1, R1, R1, R1,
};

/* Bytes eg_json_quote must escape: '"', '\\' and controls; UTF-8 passes. */
static const uint8_t quote_need[256] = {
	R1, R1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	R0, R0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	R0, R0,
	R0, R0, R0, R0, R0, R0, R0, R0,
};

/* Hex digit values plus one, so that the zero default means "not hex". */
static const int8_t hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline int is_digit(uint8_t c)
{
	return (unsigned)(c - '0') < 10;
}

static inline int is_ws(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const char *skip_ws(const char *p, const char *end)
{
	/* Minified NDJSON has no whitespace: one compare settles most calls. */
	while (p < end && (uint8_t)*p <= ' ' && is_ws((uint8_t)*p))
		p++;
	return p;
}

/* Flag (bit 7 of each byte) the bytes of x that are '"', '\\', below 0x20 or
 * at/above 0x80.  A borrow can only set a false flag in a byte above a truly
 * flagged one, so "any flag" and "lowest flag" are both exact. */
static inline uint64_t special8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
	return ((q - ONES) & ~q) | ((b - ONES) & ~b) |
	       ((x - ONES * 0x20) & ~x) | x;
}

/* Eight bytes with the earliest in the lowest bits, whatever the host order,
 * so that borrows in the SWAR tests only run towards later bytes. */
static inline uint64_t load8(const uint8_t *u)
{
	uint64_t x;
	memcpy(&x, u, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

/* Index of the earliest byte flagged in m (bit 7 of each byte) by a load8. */
#define LOWEST_BYTE(m) ((size_t)__builtin_ctzll(m) >> 3)

/*
 * Length of the well-formed UTF-8 sequence at u (whose lead byte is >= 0x80),
 * or 0.  Follows the RFC 3629 table: the second-byte ranges of E0, ED, F0 and
 * F4 are what exclude overlongs, UTF-16 surrogates and code points > U+10FFFF.
 */
static inline size_t utf8_seq(const uint8_t *u, const uint8_t *e)
{
	uint8_t c = u[0], lo = 0x80, hi = 0xBF;
	size_t avail = (size_t)(e - u);

	if (c < 0xC2)
		return 0;  /* stray continuation, or C0/C1 overlong lead */
	if (c < 0xE0)
		return avail >= 2 && (u[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (avail < 3)
			return 0;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		return u[1] >= lo && u[1] <= hi && (u[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c < 0xF5) {
		if (avail < 4)
			return 0;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		return u[1] >= lo && u[1] <= hi && (u[2] & 0xC0) == 0x80 &&
		       (u[3] & 0xC0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* The four hex digits at u as a code unit, or -1. */
static inline long hex4(const uint8_t *u)
{
	int a = hexval[u[0]], b = hexval[u[1]], c = hexval[u[2]], d = hexval[u[3]];

	if (!a || !b || !c || !d)
		return -1;
	return (long)(a - 1) << 12 | (b - 1) << 8 | (c - 1) << 4 | (d - 1);
}

static const char *fail(json_err *err, const char *base, const char *at,
			const char *what)
{
	if (err) {
		err->off = (size_t)(at - base);
		err->what = what;
	}
	return NULL;
}

/* u points at a backslash inside a string; returns the byte after the escape
 * (after both halves of a surrogate pair), or NULL. */
static const char *scan_escape(const char *base, const uint8_t *u,
			       const uint8_t *e, json_err *err)
{
	const char *at = (const char *)u;
	long cp, lo;

	if (e - u < 2)
		return fail(err, base, (const char *)e, "unexpected end of input");
	switch (u[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
	case 't':
		return at + 2;
	case 'u':
		break;
	default:
		return fail(err, base, at, "invalid escape in string");
	}
	if (e - u < 6)
		return fail(err, base, (const char *)e, "unexpected end of input");
	if ((cp = hex4(u + 2)) < 0)
		return fail(err, base, at, "expected four hex digits after \\u");
	if (cp < 0xD800 || cp > 0xDFFF)
		return at + 6;
	if (cp >= 0xDC00)
		return fail(err, base, at, "lone low surrogate in \\u escape");
	/* A high surrogate only means something with a low one right after it. */
	if (e - u < 12 || u[6] != '\\' || u[7] != 'u' ||
	    (lo = hex4(u + 8)) < 0xDC00 || lo > 0xDFFF)
		return fail(err, base, at,
			    "expected low surrogate \\u escape after high surrogate");
	return at + 12;
}

/* p points just past the opening quote; returns the byte after the closing
 * quote, or NULL with *err set. */
static const char *scan_string(const char *base, const char *p,
			       const char *end, json_err *err)
{
	const uint8_t *u = (const uint8_t *)p, *e = (const uint8_t *)end;
	size_t n;

	for (;;) {
		/* Jump straight to the first special byte of an 8-byte chunk;
		 * the lowest flag is exact (see special8). */
		for (;;) {
			uint64_t m;

			if (e - u < 8) {
				while (u < e && !str_stop[*u])
					u++;
				break;
			}
			if ((m = special8(load8(u)) & HIGH) != 0) {
				u += LOWEST_BYTE(m);
				break;
			}
			u += 8;
		}
		if (u >= e)
			return fail(err, base, end, "unexpected end of input in string");
		if (*u == '"')
			return (const char *)u + 1;
		if (*u == '\\') {
			const char *q = scan_escape(base, u, e, err);
			if (!q)
				return NULL;
			u = (const uint8_t *)q;
		} else if (*u < 0x20) {
			return fail(err, base, (const char *)u,
				    "unescaped control character in string");
		} else if ((n = utf8_seq(u, e)) != 0) {
			u += n;
		} else {
			return fail(err, base, (const char *)u, "invalid UTF-8 in string");
		}
	}
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? starting at p. */
static const char *scan_number(const char *base, const char *p,
			       const char *end, json_err *err)
{
	const uint8_t *u = (const uint8_t *)p, *e = (const uint8_t *)end;

	if (*u == '-' && ++u >= e)
		return fail(err, base, end, "unexpected end of input");
	if (*u == '0') {
		if (++u < e && is_digit(*u))
			return fail(err, base, (const char *)u - 1,
				    "leading zero in number");
	} else if (is_digit(*u)) {
		while (++u < e && is_digit(*u))
			;
	} else {
		return fail(err, base, (const char *)u, "expected digit after '-'");
	}
	if (u < e && *u == '.') {
		if (++u >= e || !is_digit(*u))
			return fail(err, base, (const char *)u,
				    "expected digit after decimal point");
		while (++u < e && is_digit(*u))
			;
	}
	if (u < e && (*u | 0x20) == 'e') {
		if (++u < e && (*u == '+' || *u == '-'))
			u++;
		if (u >= e || !is_digit(*u))
			return fail(err, base, (const char *)u,
				    "expected digit in exponent");
		while (++u < e && is_digit(*u))
			;
	}
	return (const char *)u;
}

static const char *scan_literal(const char *base, const char *p,
				const char *end, const char *lit, size_t n,
				json_err *err)
{
	size_t avail = (size_t)(end - p);

	if (avail >= n && memcmp(p, lit, n) == 0)
		return p + n;
	if (avail < n && memcmp(p, lit, avail) == 0)
		return fail(err, base, end, "unexpected end of input");
	return fail(err, base, p, "expected a value");
}

enum json_type eg_json_type_of(char c)
{
	switch (c) {
	case '{': return JSON_OBJECT;
	case '[': return JSON_ARRAY;
	case '"': return JSON_STRING;
	case 't': return JSON_TRUE;
	case 'f': return JSON_FALSE;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

/*
 * Scan one value starting exactly at p (no leading whitespace), inside depth
 * already-open containers.  Returns the byte after it, or NULL with *err.
 *
 * The loop is a state machine over three labels: "value" expects any value,
 * "key" expects an object key, "close" has just finished a value and looks
 * at what its container expects next.  Bit i of stack says whether the i-th
 * container opened here is an object.
 */
static const char *scan_value(const char *base, const char *p,
			      const char *end, int depth, json_err *err)
{
	uint64_t stack[(JSON_MAX_DEPTH + 63) / 64];
	int d = 0, limit = JSON_MAX_DEPTH - depth;

value:
	if (p >= end)
		return fail(err, base, end, "unexpected end of input");
	switch (*p) {
	case '{':
		if (d >= limit)
			return fail(err, base, p, "nesting too deep");
		stack[d / 64] |= 1ULL << (d % 64);
		d++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == '}') {
			p++;
			d--;
			goto close;
		}
		if (p < end && *p != '"')
			return fail(err, base, p, "expected object key or '}'");
		goto key;
	case '[':
		if (d >= limit)
			return fail(err, base, p, "nesting too deep");
		stack[d / 64] &= ~(1ULL << (d % 64));
		d++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == ']') {
			p++;
			d--;
			goto close;
		}
		goto value;
	case '"':
		p = scan_string(base, p + 1, end, err);
		break;
	case 't':
		p = scan_literal(base, p, end, "true", 4, err);
		break;
	case 'f':
		p = scan_literal(base, p, end, "false", 5, err);
		break;
	case 'n':
		p = scan_literal(base, p, end, "null", 4, err);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		p = scan_number(base, p, end, err);
		break;
	default:
		return fail(err, base, p, "expected a value");
	}
	if (!p)
		return NULL;

close:
	if (d == 0)
		return p;
	p = skip_ws(p, end);
	if (p >= end)
		return fail(err, base, end, "unexpected end of input");
	if (stack[(d - 1) / 64] >> ((d - 1) % 64) & 1) {
		if (*p == '}') {
			p++;
			d--;
			goto close;
		}
		if (*p != ',')
			return fail(err, base, p, "expected ',' or '}'");
		p = skip_ws(p + 1, end);
		if (p < end && *p != '"')
			return fail(err, base, p, "expected object key after ','");
		goto key;
	}
	if (*p == ']') {
		p++;
		d--;
		goto close;
	}
	if (*p != ',')
		return fail(err, base, p, "expected ',' or ']'");
	p = skip_ws(p + 1, end);
	if (p < end && *p == ']')
		return fail(err, base, p, "expected value after ','");
	goto value;

key:
	/* p is at a '"' or at the end. */
	if (p >= end)
		return fail(err, base, end, "unexpected end of input");
	if (!(p = scan_string(base, p + 1, end, err)))
		return NULL;
	p = skip_ws(p, end);
	if (p >= end)
		return fail(err, base, end, "unexpected end of input");
	if (*p != ':')
		return fail(err, base, p, "expected ':' after object key");
	p = skip_ws(p + 1, end);
	goto value;
}

int eg_json_validate(const char *s, size_t n, json_err *err)
{
	const char *end = s + n, *p = skip_ws(s, end);

	if (!(p = scan_value(s, p, end, 0, err)))
		return -1;
	p = skip_ws(p, end);
	if (p != end) {
		fail(err, s, p, "trailing characters after value");
		return -1;
	}
	return 0;
}

/* States of json_obj: what the cursor is looking at. */
enum { OBJ_FIRST, OBJ_NEXT, OBJ_DONE, OBJ_FAILED };

int eg_json_obj_begin(json_obj *it, const char *s, size_t n, json_err *err)
{
	const char *p = skip_ws(s, s + n);

	it->start = s;
	it->p = p;
	it->end = s + n;
	it->state = OBJ_FAILED;
	if (p >= it->end) {
		fail(err, s, p, "unexpected end of input");
		return -1;
	}
	if (*p != '{') {
		fail(err, s, p, "expected '{'");
		return -1;
	}
	it->p = p + 1;
	it->state = OBJ_FIRST;
	return 0;
}

static int obj_fail(json_obj *it)
{
	it->state = OBJ_FAILED;
	return -1;
}

/* At the closing '}': only whitespace may follow the object. */
static int obj_finish(json_obj *it, const char *p, json_err *err)
{
	p = skip_ws(p + 1, it->end);
	if (p != it->end) {
		fail(err, it->start, p, "trailing characters after value");
		return obj_fail(it);
	}
	it->p = p;
	it->state = OBJ_DONE;
	return 0;
}

int eg_json_obj_next(json_obj *it, json_span *key, json_span *val, json_err *err)
{
	const char *base = it->start, *end = it->end;
	const char *p = skip_ws(it->p, end), *q;

	switch (it->state) {
	case OBJ_DONE:
		return 0;
	case OBJ_FAILED:
		fail(err, base, it->p, "object walk already failed");
		return -1;
	case OBJ_FIRST:
		if (p < end && *p == '}')
			return obj_finish(it, p, err);
		if (p < end && *p != '"') {
			fail(err, base, p, "expected object key or '}'");
			return obj_fail(it);
		}
		break;
	default:  /* OBJ_NEXT */
		if (p < end && *p == '}')
			return obj_finish(it, p, err);
		if (p < end && *p != ',') {
			fail(err, base, p, "expected ',' or '}'");
			return obj_fail(it);
		}
		if (p < end)
			p = skip_ws(p + 1, end);
		if (p < end && *p != '"') {
			fail(err, base, p, "expected object key after ','");
			return obj_fail(it);
		}
		break;
	}
	if (p >= end) {
		fail(err, base, end, "unexpected end of input");
		return obj_fail(it);
	}
	if (!(q = scan_string(base, p + 1, end, err)))
		return obj_fail(it);
	key->p = p;
	key->n = (size_t)(q - p);
	key->type = JSON_STRING;
	p = skip_ws(q, end);
	if (p >= end || *p != ':') {
		fail(err, base, p, p >= end ? "unexpected end of input"
					    : "expected ':' after object key");
		return obj_fail(it);
	}
	p = skip_ws(p + 1, end);
	/* The walked object itself is one level of nesting. */
	if (!(q = scan_value(base, p, end, 1, err)))
		return obj_fail(it);
	val->p = p;
	val->n = (size_t)(q - p);
	val->type = eg_json_type_of(*p);
	it->p = q;
	it->state = OBJ_NEXT;
	return 1;
}

void eg_json_arr_begin(json_arr *it, const json_span *a)
{
	it->p = a->p + 1;
	it->end = a->p + a->n - 1;  /* the closing ']' */
	it->first = 1;
}

int eg_json_arr_next(json_arr *it, json_span *val)
{
	const char *p = skip_ws(it->p, it->end);
	if (!it->first && p < it->end && *p == ',')
		p = skip_ws(p + 1, it->end);
	if (p >= it->end)
		return 0;
	const char *q = scan_value(p, p, it->end, 1, NULL);
	if (!q)  /* not a validated span: stop */
		return 0;
	val->p = p;
	val->n = (size_t)(q - p);
	val->type = eg_json_type_of(*p);
	it->p = q;
	it->first = 0;
	return 1;
}

int eg_json_member(const json_span *o, const char *name, size_t n, json_span *val)
{
	json_obj it;
	json_span k, v;
	int found = 0;
	if (o->type != JSON_OBJECT || eg_json_obj_begin(&it, o->p, o->n, NULL))
		return 0;
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1) {
		int eq;
		if (eg_json_string_is_plain(&k)) {
			eq = k.n - 2 == n && !memcmp(k.p + 1, name, n);
		} else {
			char buf[256];
			eq = k.n <= sizeof buf && eg_json_string_decode(&k, buf) == n &&
			     !memcmp(buf, name, n);
		}
		if (eq) {
			*val = v;
			found = 1;
		}
	}
	return found;
}

/* ------------------------------------------ scanning validated text */


/* Past the string whose opening quote is at p, or NULL when it does not
 * close before end. */
static const char *string_close(const char *p, const char *end)
{
	for (p++; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return NULL;
		/* escaped when an odd run of backslashes precedes it; the run
		 * cannot start before p, which follows a quote */
		const char *b = q;
		while (b > p && b[-1] == '\\')
			b--;
		if (((q - b) & 1) == 0)
			return q + 1;
		p = q + 1;
	}
	return NULL;
}

const char *eg_json_value_end(const char *p, const char *end)
{
	if (p >= end)
		return NULL;
	if (*p == '"')
		return string_close(p, end);
	if (*p == '{' || *p == '[') {
		for (int d = 0; p < end;) {
			char c = *p;
			if (c == '"') {
				if (!(p = string_close(p, end)))
					return NULL;
				continue;
			}
			if (c == '{' || c == '[')
				d++;
			else if ((c == '}' || c == ']') && --d == 0)
				return p + 1;
			p++;
		}
		return NULL;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws((uint8_t)*p))
		p++;
	return p;
}

/* Past the value starting at p (or end). */
static const char *skip_value(const char *p, const char *end)
{
	const char *q = eg_json_value_end(p, end);
	return q ? q : end;
}

static enum json_type type_at(char c)
{
	switch (c) {
	case '"': return JSON_STRING;
	case '{': return JSON_OBJECT;
	case '[': return JSON_ARRAY;
	case 't': return JSON_TRUE;
	case 'f': return JSON_FALSE;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

/* Does needle (n >= 1 bytes) occur in h?  For the few dozen bytes of an
 * event's data, where memmem's set-up costs more than its scan: sixteen
 * places at a time are tried whose first and last bytes match. */
static int occurs(const char *h, size_t hn, const char *needle, size_t n)
{
	if (n > hn)
		return 0;
	size_t i = 0, last = hn - n;      /* the places a match may start */
#ifdef __SSE2__
	const __m128i f = _mm_set1_epi8(needle[0]), l = _mm_set1_epi8(needle[n - 1]);
	for (; i + 15 <= last; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + n - 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f),
								     _mm_cmpeq_epi8(b, l)));
		for (; m; m &= m - 1)
			if (n < 3 || !memcmp(h + i + (unsigned)__builtin_ctz(m) + 1, needle + 1, n - 2))
				return 1;
	}
#endif
	for (; i <= last; i++)
		if (h[i] == needle[0] && !memcmp(h + i + 1, needle + 1, n - 1))
			return 1;
	return 0;
}

/* The usual shape of an event's data, looked up at the cost of a few
 * vector scans: name is the first member, no escape is anywhere (so keys
 * read as written), and name occurs nowhere after the member (so no later
 * duplicate overrides it).  Else 0, and the caller walks the object. */
static int first_only(const json_span *o, const char *name, size_t n, json_span *val)
{
	const char *p = o->p, *end = o->p + o->n;
	if (!n || o->n < n + 5 || p[0] != '{' || p[1] != '"' || p[n + 2] != '"' ||
	    memcmp(p + 2, name, n) || memchr(p, '\\', o->n))
		return 0;
	p += n + 3;
	while (p < end && is_ws((uint8_t)*p))
		p++;
	if (p >= end || *p != ':')
		return 0;
	for (p++; p < end && is_ws((uint8_t)*p); p++)
		;
	if (p >= end)
		return 0;
	json_span v = { p, 0, type_at(*p) };
	p = skip_value(p, end);
	v.n = (size_t)(p - v.p);
	if (!v.n || occurs(p, (size_t)(end - p), name, n))
		return 0;
	*val = v;
	return 1;
}

unsigned eg_json_members_valid(const json_span *o, const char *const *names,
			    const size_t *lens, int k, json_span *vals)
{
	const char *p = o->p, *end = o->p + o->n;
	unsigned found = 0;
	if (k == 1 && first_only(o, names[0], lens[0], vals))
		return 1;
	while (p < end && is_ws((uint8_t)*p))
		p++;
	if (p >= end || *p != '{')
		return 0;
	for (p++;;) {
		while (p < end && (is_ws((uint8_t)*p) || *p == ','))
			p++;
		if (p >= end || *p != '"')
			return found;
		json_span key = { p, 0, JSON_STRING };
		p = skip_value(p, end);
		key.n = (size_t)(p - key.p);
		while (p < end && (is_ws((uint8_t)*p) || *p == ':'))
			p++;
		if (p >= end || key.n < 2)
			return found;
		json_span v = { p, 0, type_at(*p) };
		p = skip_value(p, end);
		v.n = (size_t)(p - v.p);
		const char *kp = key.p + 1;
		size_t kn = key.n - 2;
		char dec[256];
		if (!eg_json_string_is_plain(&key)) {
			if (key.n > sizeof dec)
				continue;
			kn = eg_json_string_decode(&key, dec);
			kp = dec;
		}
		for (int i = 0; i < k; i++)
			if (lens[i] == kn && !memcmp(names[i], kp, kn)) {
				vals[i] = v;
				found |= 1u << i;
			}
	}
}

/* Append code point cp as UTF-8; returns the bytes written. */
static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Every escape decodes to no more bytes than it occupies (\uXXXX is six
 * bytes for at most three, a pair twelve for four), which is why out only
 * needs span.n bytes.  The bounds checks below keep an unvalidated span from
 * reading outside itself; they do not make it meaningful.
 */
size_t eg_json_string_decode(const json_span *s, char *out)
{
	return s->n < 2 ? 0 : eg_json_unescape(s->p + 1, s->p + s->n - 1, out);
}

size_t eg_json_unescape(const char *p, const char *end, char *out)
{
	const char *b;
	char *o = out;
	long cp, lo;

	while (p < end) {
		if (!(b = memchr(p, '\\', (size_t)(end - p)))) {
			memcpy(o, p, (size_t)(end - p));
			o += end - p;
			break;
		}
		memcpy(o, p, (size_t)(b - p));
		o += b - p;
		p = b;
		if (end - p < 2)
			break;
		switch (p[1]) {
		case 'b': *o++ = '\b'; p += 2; continue;
		case 'f': *o++ = '\f'; p += 2; continue;
		case 'n': *o++ = '\n'; p += 2; continue;
		case 'r': *o++ = '\r'; p += 2; continue;
		case 't': *o++ = '\t'; p += 2; continue;
		case 'u': break;
		default: *o++ = p[1]; p += 2; continue;  /* " \ / */
		}
		if (end - p < 6 || (cp = hex4((const uint8_t *)p + 2)) < 0) {
			p += 2;
			continue;
		}
		p += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' &&
		    p[1] == 'u' && (lo = hex4((const uint8_t *)p + 2)) >= 0xDC00 &&
		    lo <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			p += 6;
		} else if (cp >= 0xD800 && cp <= 0xDFFF) {
			cp = 0xFFFD;  /* unpaired: only reachable on unvalidated spans */
		}
		o += put_utf8(o, (uint32_t)cp);
	}
	return (size_t)(o - out);
}

int eg_json_string_is_plain(const json_span *s)
{
	return s->n < 2 || !memchr(s->p + 1, '\\', s->n - 2);
}

/* Any byte in x that is '"' or '\\' (same exactness argument as special8). */
static inline uint64_t quote_or_bs8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGH;
}

/* Eight bytes at a time to the first '"' or '\\' (its flag is exact, see
 * special8), or-ing the bytes passed over into hi for the non-ASCII test. */
const char *eg_json_string_end(const char *p, const char *end, unsigned *flags)
{
	const uint8_t *u = (const uint8_t *)p + 1, *e = (const uint8_t *)end;
	uint64_t hi = 0;
	unsigned f = 0;

	while (u < e) {
		uint64_t x, m;
		while (e - u >= 8) {
			x = load8(u);
			if ((m = quote_or_bs8(x)) != 0) {
				/* only the bytes below the first flagged one */
				hi |= x & ((m & -m) - 1);
				u += LOWEST_BYTE(m);
				break;
			}
			hi |= x;
			u += 8;
		}
		while (u < e && *u != '"' && *u != '\\')
			hi |= *u++;
		if (u >= e)
			break;
		if (*u == '"') {
			u++;
			break;
		}
		/* a backslash and the byte it escapes, which may be a '"' */
		f |= JSON_STR_ESCAPED;
		if (e - u < 2) {
			u = e;
			break;
		}
		hi |= u[1];
		u += 2;
	}
	if (hi & HIGH)
		f |= JSON_STR_NONASCII;
	if (flags)
		*flags = f;
	return (const char *)u;
}

/*
 * Strings are copied eight bytes at a time while no '"' or '\\' is in
 * sight.  That never writes past out + v->n: output lags input (only
 * whitespace is dropped), and a chunk is taken only when it lies inside
 * the input.
 */
size_t eg_json_minify(const json_span *v, char *out)
{
	const char *p = v->p, *end = v->p + v->n;
	char *o = out;

	while (p < end) {
		uint8_t c = (uint8_t)*p++;

		if (c <= ' ' && is_ws(c))
			continue;
		*o++ = (char)c;
		if (c != '"')
			continue;
		while (p < end) {
			while (end - p >= 8 && !quote_or_bs8(load8((const uint8_t *)p))) {
				memcpy(o, p, 8);
				o += 8;
				p += 8;
			}
			while (p < end && *p != '"' && *p != '\\')
				*o++ = *p++;
			if (p >= end)
				break;
			c = (uint8_t)*p++;
			*o++ = (char)c;
			if (c == '"')
				break;
			if (p < end)  /* the escaped byte, which may be a '"' */
				*o++ = *p++;
		}
	}
	return (size_t)(o - out);
}

size_t eg_json_quote(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *u = (const uint8_t *)s, *e = u + n, *run;
	char *o = out;

	*o++ = '"';
	while (u < e) {
		for (run = u; u < e && !quote_need[*u]; u++)
			;
		memcpy(o, run, (size_t)(u - run));
		o += u - run;
		if (u >= e)
			break;
		*o++ = '\\';
		switch (*u) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[*u >> 4];
			o[4] = hex[*u & 15];
			o += 5;
		}
		u++;
	}
	*o++ = '"';
	return (size_t)(o - out);
}

int eg_json_utf8_valid(const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s, *e = u + n;
	size_t len;

	for (;;) {
		while (e - u >= 8 && !(load8(u) & HIGH))
			u += 8;
		while (u < e && *u < 0x80)
			u++;
		if (u >= e)
			return 1;
		if (!(len = utf8_seq(u, e)))
			return 0;
		u += len;
	}
}

char *eg_json_string_dup(const json_span *s, size_t *n)
{
	char *p = malloc(s->n);
	if (!p)
		return NULL;
	size_t k = eg_json_string_decode(s, p);
	p[k] = 0;
	if (n)
		*n = k;
	return p;
}

int eg_json_string_index(const json_span *s, const char *const *names, int n)
{
	char text[64];

	if (s->type != JSON_STRING || s->n > sizeof text)
		return -1;
	size_t k = eg_json_string_decode(s, text);
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == k && !memcmp(text, names[i], k))
			return i;
	return -1;
}

/*
 * fuzz_json.c — libFuzzer target for the JSON scanner (src/util/json.c).
 * Checks properties rather than outputs: validate agrees with a naive
 * recursive reference validator and with the object walker, minify keeps
 * text valid and never grows it, decode/quote round trip, and
 * eg_json_utf8_valid agrees with a slow reference decoder.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* A deliberately naive UTF-8 decoder: length of the sequence at s[i] if it
 * decodes to a scalar value in its shortest form, else 0. */
static size_t ref_utf8_seq(const unsigned char *s, size_t n, size_t i)
{
	unsigned c = s[i], need, cp, min;

	if (c < 0x80)
		return 1;
	else if ((c & 0xE0) == 0xC0)
		need = 1, cp = c & 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0)
		need = 2, cp = c & 0x0F, min = 0x800;
	else if ((c & 0xF8) == 0xF0)
		need = 3, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n - i <= need)
		return 0;
	for (unsigned k = 1; k <= need; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i + k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

static int ref_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = ref_utf8_seq(s, n, i)))
			return 0;
	return 1;
}

/*
 * A plain recursive-descent validator written straight from RFC 8259, as a
 * reference for the scanner's verdict.  Recursion is fine here: depth is
 * bounded by JSON_MAX_DEPTH before each call.
 */
struct ref {
	const unsigned char *s;
	size_t n, i;
};

static int ref_peek(struct ref *r)
{
	while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' ||
			       r->s[r->i] == '\n' || r->s[r->i] == '\r'))
		r->i++;
	return r->i < r->n ? r->s[r->i] : -1;
}

static long ref_hex4(struct ref *r)
{
	long v = 0;

	if (r->n - r->i < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int c = r->s[r->i++];
		if (c >= '0' && c <= '9') v = v * 16 + c - '0';
		else if (c >= 'a' && c <= 'f') v = v * 16 + c - 'a' + 10;
		else if (c >= 'A' && c <= 'F') v = v * 16 + c - 'A' + 10;
		else return -1;
	}
	return v;
}

static int ref_string(struct ref *r)
{
	r->i++;  /* opening quote */
	while (r->i < r->n) {
		int c = r->s[r->i];
		size_t k;
		long u, lo;

		if (c == '"') {
			r->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c != '\\') {
			if (!(k = ref_utf8_seq(r->s, r->n, r->i)))
				return 0;
			r->i += k;
			continue;
		}
		if (++r->i >= r->n)
			return 0;
		c = r->s[r->i++];
		if (strchr("\"\\/bfnrt", c) && c)
			continue;
		if (c != 'u' || (u = ref_hex4(r)) < 0 || (u >= 0xDC00 && u <= 0xDFFF))
			return 0;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
				return 0;
			r->i += 2;
			if ((lo = ref_hex4(r)) < 0xDC00 || lo > 0xDFFF)
				return 0;
		}
	}
	return 0;
}

static int ref_digits(struct ref *r)
{
	size_t start = r->i;

	while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
		r->i++;
	return r->i > start;
}

static int ref_number(struct ref *r)
{
	if (r->s[r->i] == '-')
		r->i++;
	if (r->i < r->n && r->s[r->i] == '0')
		r->i++;
	else if (r->i >= r->n || r->s[r->i] < '1' || r->s[r->i] > '9' || !ref_digits(r))
		return 0;
	if (r->i < r->n && r->s[r->i] == '.' && (r->i++, !ref_digits(r)))
		return 0;
	if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
			r->i++;
		if (!ref_digits(r))
			return 0;
	}
	/* "01": the scanner stops at the 0 and the caller sees a digit next */
	return 1;
}

static int ref_value(struct ref *r, int depth)
{
	int c = ref_peek(r);
	static const char *const lits[] = { "true", "false", "null" };

	if (c == '{' || c == '[') {
		int close = c == '{' ? '}' : ']';
		if (depth >= JSON_MAX_DEPTH)
			return 0;
		r->i++;
		if (ref_peek(r) == close) {
			r->i++;
			return 1;
		}
		for (;;) {
			if (c == '{') {
				if (ref_peek(r) != '"' || !ref_string(r) || ref_peek(r) != ':')
					return 0;
				r->i++;
			}
			if (!ref_value(r, depth + 1))
				return 0;
			int d = ref_peek(r);
			r->i++;
			if (d == close)
				return 1;
			if (d != ',')
				return 0;
		}
	}
	if (c == '"')
		return ref_string(r);
	if (c == '-' || (c >= '0' && c <= '9'))
		return ref_number(r);
	for (int k = 0; k < 3; k++) {
		size_t len = strlen(lits[k]);
		if (c == lits[k][0]) {
			if (r->n - r->i < len || memcmp(r->s + r->i, lits[k], len))
				return 0;
			r->i += len;
			return 1;
		}
	}
	return 0;
}

static int ref_validate(const unsigned char *s, size_t n)
{
	struct ref r = { s, n, 0 };

	return ref_value(&r, 0) && ref_peek(&r) == -1;
}

/* A validated string span: decode gives valid UTF-8 that quotes back to a
 * valid string decoding to the same bytes. */
static void check_string(const json_span *sp)
{
	char *dec = malloc(sp->n), *q, *dec2;
	size_t n, qn, n2;
	json_span qs;

	CHECK(sp->n >= 2 && sp->p[0] == '"' && sp->p[sp->n - 1] == '"');
	n = eg_json_string_decode(sp, dec);
	CHECK(n <= sp->n - 2);
	CHECK(eg_json_utf8_valid(dec, n));
	if (eg_json_string_is_plain(sp))
		CHECK(n == sp->n - 2 && memcmp(dec, sp->p + 1, n) == 0);
	q = malloc(6 * n + 2);
	qn = eg_json_quote(dec, n, q);
	CHECK(qn <= 6 * n + 2);
	CHECK(eg_json_validate(q, qn, NULL) == 0);
	qs.p = q;
	qs.n = qn;
	qs.type = JSON_STRING;
	dec2 = malloc(qn);
	n2 = eg_json_string_decode(&qs, dec2);
	CHECK(n2 == n && memcmp(dec, dec2, n) == 0);
	free(dec2);
	free(q);
	free(dec);
}

/* A validated value: its minified copy is valid, no longer, and stable. */
static void check_minify(const json_span *v)
{
	char *m = malloc(v->n), *m2;
	size_t n, n2;
	json_span ms;

	n = eg_json_minify(v, m);
	CHECK(n <= v->n);
	CHECK(eg_json_validate(m, n, NULL) == 0);
	ms.p = m;
	ms.n = n;
	ms.type = v->type;
	m2 = malloc(n ? n : 1);
	n2 = eg_json_minify(&ms, m2);
	CHECK(n2 == n && memcmp(m, m2, n) == 0);
	free(m2);
	free(m);
}

/* Walk an object; return the walker's verdict (0 ok, -1 error). */
static int walk(const char *s, size_t n, int descend)
{
	json_obj it;
	json_span key, val;
	json_err err;
	int r;

	if (eg_json_obj_begin(&it, s, n, &err))
		return -1;
	while ((r = eg_json_obj_next(&it, &key, &val, &err)) == 1) {
		CHECK(key.type == JSON_STRING);
		CHECK(key.p >= s && key.p + key.n <= s + n);
		CHECK(val.p >= key.p + key.n && val.p + val.n <= s + n);
		CHECK(eg_json_validate(val.p, val.n, NULL) == 0);
		check_string(&key);
		if (val.type == JSON_STRING)
			check_string(&val);
		check_minify(&val);
		if (descend && val.type == JSON_OBJECT)
			CHECK(walk(val.p, val.n, 0) == 0);
	}
	if (r < 0)
		CHECK(err.what && err.off <= n);
	return r;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	json_err err = { 0, NULL };
	int ok = eg_json_validate(s, size, &err) == 0;

	if (!ok)
		CHECK(err.what && err.off <= size);
	CHECK(ok == ref_validate(data, size));
	CHECK(!eg_json_utf8_valid(s, size) == !ref_utf8_valid(data, size));

	/* The walker accepts an object exactly when validate does. */
	{
		json_obj it;
		if (eg_json_obj_begin(&it, s, size, NULL) == 0)
			CHECK((walk(s, size, 1) == 0) == ok);
	}
	if (ok) {
		size_t i = 0;
		json_span v;

		while (i < size && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
		v.p = s + i;
		v.n = size - i;
		v.type = JSON_NULL;
		check_minify(&v);
	}
	/* Any valid UTF-8 quotes to a valid JSON string that decodes back. */
	if (eg_json_utf8_valid(s, size)) {
		char *q = malloc(6 * size + 2), *d;
		size_t qn = eg_json_quote(s, size, q);
		json_span qs = { q, qn, JSON_STRING };

		CHECK(eg_json_validate(q, qn, NULL) == 0);
		d = malloc(qn);
		CHECK(eg_json_string_decode(&qs, d) == size && memcmp(d, s, size) == 0);
		free(d);
		free(q);
	}
	return 0;
}

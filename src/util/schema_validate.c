/*
 * schema_validate.c — checks one JSON value against a compiled schema in
 * a single walk of its text.  Each value is visited once with the set of
 * schema nodes that apply to it (a node and the nodes its $ref chain
 * reaches, deduplicated), so a schema whose references meet again costs
 * at most the number of its nodes per value, never a blow-up; every keyword
 * of every node is checked in that one visit.  Each thread's buffers are
 * kept between calls and grow; nothing is allocated per value.  The common
 * cases take short paths: a string without escapes is checked where it
 * lies in the text, compared to an enum's strings directly (the canonical
 * form is for other values), and a number is parsed only when a keyword
 * needs its value.
 */
#include "schema_int.h"
#include "buf.h"
#include "json.h"
#include "timefmt.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* One step of the instance path: a member key (raw, escapes included) or
 * an array index. */
struct seg {
	const char *k;
	size_t kn;
	size_t idx;
};

struct uent {
	uint64_t h;
	size_t idx;
};

/* A thread's buffers, kept from one validation to the next (freed when the
 * thread ends): allocating them for every event cost 5% of a clickstream
 * validation, and zeroing them per call showed in the profile too.  The
 * epoch of the marks goes on across calls, so marks need no reset. */
struct vbuf {
	sbuf str, key, canon, ubuf;
	size_t *uoff;
	struct uent *utab;
	size_t uoffcap, utabcap;
	struct scanon *cn;
	const snode **sets;   /* pointers, not indices: one load less a visit */
	size_t capsets;
	unsigned *mark, epoch;
	size_t markcap;
	uint64_t *bits;
	size_t capbits;
	pcre2_match_data *md;
	int ready;
};

struct vctx {
	const eg_schema *s;
	const char *end;
	eg_schema_error *errs;
	size_t maxerrs, nerrs;
	int invalid, stop, oom, depth;
	size_t nsets, nbits;
	struct vbuf *b;
	struct seg path[JSON_MAX_DEPTH + 2];
};

/* A string value as the keywords see it: its decoded bytes (in the text
 * itself when it has no escapes), decoded once on first need; flags from
 * eg_json_string_end. */
struct sval {
	const char *p, *q;    /* the raw string, quotes included */
	const char *s;
	size_t n;
	unsigned flags;
	int have;
};

/* Room for need items of size bytes in *p (capacity *cap), doubling. */
static const char *value(struct vctx *v, size_t so, size_t sn, const char *p);

static inline const char *skip_ws(const char *p, const char *end)
{
	/* Event data is mostly minified: one compare settles most calls. */
	while (p < end && (unsigned char)*p <= ' ' &&
	       (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* a[0..n) == b[0..n), eight bytes at a time: the names and enum strings
 * compared here are short, and a call to memcmp cost more than the
 * compare. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	uint32_t u, w;

	if (n >= 8) {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			memcpy(&x, a + i, 8), memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
		/* the last eight, overlapping what was compared */
		memcpy(&x, a + n - 8, 8), memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4), memcpy(&w, b, 4);
		if (u != w)
			return 0;
		memcpy(&u, a + n - 4, 4), memcpy(&w, b + n - 4, 4);
		return u == w;
	}
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static const char *scalar_end(const char *p, const char *end)
{
	const char *q = p;

	for (; q < end; q++) {
		char c = *q;
		if (!c || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ']' ||
		    c == '}')
			break;
	}
	/* At least one byte, so that text that is not JSON still moves the
	 * walk on. */
	return q > p || p >= end ? q : p + 1;
}

/* Past the value at p (text assumed JSON; bounded whatever it is).  A
 * number or literal is passed whole: stepping one byte of it left the
 * object's walk on its second byte, where the walk gave up, skipping the
 * members after it and the required check. */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;

	do {
		p = skip_ws(p, end);
		if (p >= end)
			return end;
		switch (*p) {
		case '"': p = eg_json_string_end(p, end, NULL); break;
		case '{': case '[': depth++; p++; break;
		case '}': case ']': depth--; p++; break;
		default:
			if (depth == 0)
				return scalar_end(p, end);
			p++;
			break;
		}
	} while (depth > 0);
	return p;
}

/* ------------------------------------------------------------ errors */

static void cut(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap) {
		/* Cut on a character boundary, then mark the cut. */
		n = cap - 4;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		memcpy(dst, s, n);
		memcpy(dst + n, "...", 4);
		return;
	}
	memcpy(dst, s, n);
	dst[n] = 0;
}

static void put_ptr_token(sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !b->oom; i++) {
		if (eg_sbuf_reserve(b, 2))
			return;
		if (s[i] == '~' || s[i] == '/') {
			b->p[b->n++] = '~';
			b->p[b->n++] = s[i] == '~' ? '0' : '1';
		} else {
			b->p[b->n++] = s[i];
		}
	}
}

static void pointer(struct vctx *v, char *out)
{
	sbuf b = { 0 };
	char num[32];

	for (int i = 0; i < v->depth; i++) {
		const struct seg *g = &v->path[i];
		if (eg_sbuf_reserve(&b, 1))
			break;
		b.p[b.n++] = '/';
		if (!g->k) {
			put_ptr_token(&b, num, (size_t)snprintf(num, sizeof num, "%zu", g->idx));
			continue;
		}
		char *dec = malloc(g->kn ? g->kn : 1);
		if (!dec)
			break;
		size_t dn = eg_json_unescape(g->k, g->k + g->kn, dec);
		put_ptr_token(&b, dec, dn);
		free(dec);
	}
	cut(out, EG_SCHEMA_PTR_MAX, b.p ? b.p : "", b.n);
	free(b.p);
}

static void report(struct vctx *v, const char *kw, const char *fmt, ...)
{
	v->invalid = 1;
	if (v->nerrs >= v->maxerrs) {
		v->stop = 1;
		return;
	}
	eg_schema_error *e = &v->errs[v->nerrs++];
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	int k = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	k = k < 0 ? 0 : k >= (int)sizeof msg ? (int)sizeof msg - 1 : k;
	pointer(v, e->pointer);
	cut(e->keyword, EG_SCHEMA_KW_MAX, kw, strlen(kw));
	cut(e->message, EG_SCHEMA_MSG_MAX, msg, (size_t)k);
	if (v->nerrs >= v->maxerrs)
		v->stop = 1;
}

/* A value's text for a message: at most 60 bytes, cut on a character. */
static int shown(const char *p, size_t n, char *out, size_t cap)
{
	cut(out, cap < 64 ? cap : 64, p, n);
	return (int)strlen(out);
}

/* ------------------------------------------------------------ sets */

/* Push node and its $ref chain on the set being built.  The chain has no
 * cycle (compile refuses one), so the nodes of one push are distinct:
 * only a set built from several nodes (dedupe) can meet a node twice,
 * and the marks of new_set keep it from being checked twice. */
static int push_node(struct vctx *v, int node, int dedupe)
{
	const eg_schema *s = v->s;
	struct vbuf *b = v->b;

	for (; node >= 0; node = s->nodes[node].ref) {
		if (dedupe) {
			if (b->mark[node] == b->epoch)
				return 0;
			b->mark[node] = b->epoch;
		}
		if (v->nsets == b->capsets &&
		    buf_grow(&b->sets, &b->capsets, v->nsets + 1, sizeof *b->sets)) {
			v->oom = v->stop = 1;
			return -1;
		}
		b->sets[v->nsets++] = &s->nodes[node];
	}
	return 0;
}

static void new_set(struct vctx *v)
{
	struct vbuf *b = v->b;

	if (++b->epoch == 0) {
		memset(b->mark, 0, b->markcap * sizeof *b->mark);
		b->epoch = 1;
	}
}

/* The i-th node of the set starting at so. */
static inline const snode *set_node(const struct vctx *v, size_t so, size_t i)
{
	return v->b->sets[so + i];
}

/* ------------------------------------------------------------ types */

static const char *const type_names[] = {
	"null", "boolean", "object", "array", "number", "integer", "string"
};

static void type_list(unsigned t, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	if ((t & ST_NUMBER))
		t &= ~(unsigned)ST_INTEGER;
	for (int i = 0; i < 7; i++)
		if (t & (1u << i))
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " or " : "", type_names[i]);
}

static const char *got_name(unsigned vt)
{
	for (int i = 0; i < 7; i++)
		if (vt & (1u << i))
			return type_names[i];
	return "?";
}

/* ------------------------------------------------------------ numbers */

static uint64_t powmod10(int64_t k, uint64_t m)
{
	unsigned __int128 r = 1 % m, b = 10 % m;

	for (; k > 0; k >>= 1) {
		if (k & 1)
			r = r * b % m;
		b = b * b % m;
	}
	return (uint64_t)r;
}

static double to_double(const char *p, size_t n)
{
	char text[128];

	cut(text, sizeof text, p, n);
	return strtod(text, NULL);
}

/* Is x a multiple of d?  Exact for decimals of up to 19 significant
 * digits: x = xm 10^xe, d = dm 10^de, compared as integers modulo dm.
 * Longer ones fall back to doubles with a relative tolerance of 1e-9. */
static int multiple_of(const sdec *x, const char *xt, size_t xn, const sdec *d, const char *dt)
{
	if (x->zero)
		return 1;
	if (!x->tail && !d->tail) {
		if (x->e >= d->e) {
			/* 0 for every decimal against a power of ten such as 0.01
			 * (d->m is 1): no modular power needed */
			uint64_t rem = x->m % d->m;
			if (rem == 0)
				return 1;
			unsigned __int128 r = (unsigned __int128)rem * powmod10(x->e - d->e, d->m);
			return r % d->m == 0;
		}
		int64_t k = d->e - x->e;
		if (k > 19)
			return 0;
		unsigned __int128 dd = d->m;
		for (int64_t i = 0; i < k; i++)
			dd *= 10;
		return (unsigned __int128)x->m % dd == 0;
	}
	double q = to_double(xt, xn) / to_double(dt, strlen(dt));
	if (!isfinite(q))
		return 0;
	return fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
}

static void check_number(struct vctx *v, const snode *n, const sdec *x, const char *p, size_t len)
{
	static const char *const kw[4] = { "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" };
	static const char *const op[4] = { ">=", "<=", ">", "<" };
	char got[64];

	for (int i = 0; i < 4; i++) {
		if (!(n->has & (SK_MIN << i)))
			continue;
		int c = eg_sdec_cmp(x, &n->num[i]);
		int bad = i == 0 ? c < 0 : i == 1 ? c > 0 : i == 2 ? c <= 0 : c >= 0;
		if (bad) {
			shown(p, len, got, sizeof got);
			report(v, kw[i], "expected a number %s %s, got %s", op[i], n->numtext[i], got);
		}
	}
	if ((n->has & SK_MULT) && !multiple_of(x, p, len, &n->num[SNUM_MULT], n->numtext[SNUM_MULT])) {
		shown(p, len, got, sizeof got);
		report(v, "multipleOf", "expected a multiple of %s, got %s", n->numtext[SNUM_MULT], got);
	}
}

/* ------------------------------------------------------------ strings */

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int fmt_date(const char *s, size_t n)
{
	char text[32];
	int64_t us;

	if (n != 10)
		return 0;
	for (size_t i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !is_digit(s[i]))
			return 0;
	memcpy(text, s, 10);
	memcpy(text + 10, "T00:00:00Z", 10);
	return eg_time_parse_rfc3339(text, 20, &us) == 0;
}

/* RFC 3339 date-time: the parser of event times, with 'T' (either case)
 * required between date and time, as RFC 3339's grammar says. */
static int fmt_date_time(const char *s, size_t n)
{
	int64_t us;

	return n > 19 && (s[10] == 'T' || s[10] == 't') && fmt_date(s, 10) &&
	       eg_time_parse_rfc3339(s, n, &us) == 0;
}

static int fmt_uuid(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !is_hex(s[i]))
			return 0;
	return 1;
}

/* email: local "@" domain.  Local: 1-64 of letters, digits and
 * !#$%&'*+/=?^_`{|}~- in dot-separated non-empty runs (no quoted form).
 * Domain: up to 253 bytes of dot-separated labels of 1-63 letters, digits
 * or '-', not starting or ending with '-' (no IP literals). */
static int fmt_email(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t ln, label = 0;

	if (!at || (ln = (size_t)(at - s)) == 0 || ln > 64 || n - ln - 1 == 0 || n - ln - 1 > 253)
		return 0;
	for (size_t i = 0; i < ln; i++) {
		char c = s[i];
		if (c == '.') {
			if (i == 0 || i == ln - 1 || s[i - 1] == '.')
				return 0;
		} else if (!is_alpha(c) && !is_digit(c) && (!c || !strchr("!#$%&'*+/=?^_`{|}~-", c))) {
			return 0;
		}
	}
	for (const char *p = at + 1; p <= s + n; p++) {
		if (p == s + n || *p == '.') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			label = 0;
		} else if (is_alpha(*p) || is_digit(*p) || (*p == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* The bytes a URI holds unescaped after its scheme (RFC 3986): printable
 * ASCII but space and <>"{}|\^`.  '%' is left out to be checked with its
 * two hex digits.  A table, as a switch (and before it strchr) per
 * character showed in the profile of a clickstream validation. */
static const unsigned char uri_plain[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1,
	['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
	['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1,
	[';'] = 1, ['='] = 1, ['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
	['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
	['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1,
	['_'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
	['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
	['x'] = 1, ['y'] = 1, ['z'] = 1, ['~'] = 1,
};

/* uri: an RFC 3986 scheme (a letter, then letters, digits, '+', '-',
 * '.'), ':', then printable ASCII without space or <>"{}|\^` and with
 * every '%' followed by two hex digits.  Relative references are not
 * URIs. */
static int fmt_uri(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_alpha(s[0]))
		return 0;
	while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i == n || s[i] != ':')
		return 0;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (uri_plain[c])
			continue;
		if (c != '%' || n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
			return 0;
	}
	return 1;
}

static const char *const format_names[] = { "", "date-time", "date", "email", "uuid", "uri" };

static int format_ok(int f, const char *s, size_t n)
{
	switch (f) {
	case SF_DATE_TIME: return fmt_date_time(s, n);
	case SF_DATE: return fmt_date(s, n);
	case SF_EMAIL: return fmt_email(s, n);
	case SF_UUID: return fmt_uuid(s, n);
	case SF_URI: return fmt_uri(s, n);
	}
	return 1;
}

static size_t code_points(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

/* This thread's match block, made on first need. */
static pcre2_match_data *match_data(struct vctx *v)
{
	if (!v->b->md && !(v->b->md = pcre2_match_data_create(1, NULL)))
		v->oom = v->stop = 1;
	return v->b->md;
}

/* A string whose raw text is ASCII decodes to valid UTF-8 (escapes give
 * code points, a lone surrogate U+FFFD), so PCRE2 need not check it again
 * and the JIT's own entry may run it; other text is checked as before, and
 * text that is not UTF-8 gets PCRE2's error, never a read out of bounds. */
static void check_pattern(struct vctx *v, const snode *n, const struct sval *sv)
{
	pcre2_match_data *md = match_data(v);
	int ascii = !(sv->flags & JSON_STR_NONASCII), rc;
	char got[64];

	if (!md)
		return;
	if (ascii && n->jit)
		rc = pcre2_jit_match(n->re, (PCRE2_SPTR)sv->s, sv->n, 0, 0, md, v->s->mctx);
	else
		rc = pcre2_match(n->re, (PCRE2_SPTR)sv->s, sv->n, 0, ascii ? PCRE2_NO_UTF_CHECK : 0, md,
				 v->s->mctx);
	if (rc >= 0)
		return;
	shown(sv->p, (size_t)(sv->q - sv->p), got, sizeof got);
	if (rc == PCRE2_ERROR_NOMATCH)
		report(v, "pattern", "expected a string matching /%s/, got %s", n->pattern, got);
	else
		report(v, "pattern", "the pattern /%s/ could not be matched against %s (PCRE2 error %d)",
		       n->pattern, got, rc);
}

/* The string's decoded bytes, made once: a string without escapes is its
 * own text, so only escaped ones are copied. */
static int str_decode(struct vctx *v, struct sval *sv)
{
	size_t body = sv->q - sv->p >= 2 ? (size_t)(sv->q - sv->p) - 2 : 0;
	sbuf *b = &v->b->str;

	if (sv->have)
		return 0;
	if (!(sv->flags & JSON_STR_ESCAPED)) {
		sv->s = sv->p + 1;
		sv->n = body;
	} else {
		b->n = 0;
		if (eg_sbuf_reserve(b, body + 1)) {
			v->oom = v->stop = 1;
			return -1;
		}
		sv->n = eg_json_unescape(sv->p + 1, sv->p + 1 + body, b->p);
		sv->s = b->p;
	}
	sv->have = 1;
	return 0;
}

static void check_string(struct vctx *v, size_t so, size_t sn, struct sval *sv)
{
	const unsigned need = SK_MINLEN | SK_MAXLEN | SK_PATTERN | SK_FORMAT;
	size_t cps = (size_t)-1;
	char got[64];

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		if (!(n->has & need))
			continue;
		if (str_decode(v, sv))
			return;
		size_t len = sv->n;
		/* ASCII without escapes counts one code point a byte.  Otherwise
		 * len bytes hold len/4 to len code points: they are counted
		 * (once) only when the byte length leaves this node's answer
		 * open. */
		if (!(sv->flags & (JSON_STR_ESCAPED | JSON_STR_NONASCII)))
			cps = len;
		if ((n->has & (SK_MINLEN | SK_MAXLEN)) && cps == (size_t)-1 &&
		    (((n->has & SK_MAXLEN) && (int64_t)len > n->maxlen) ||
		     ((n->has & SK_MINLEN) && (int64_t)(len / 4) < n->minlen)))
			cps = code_points(sv->s, len);
		if ((n->has & SK_MINLEN) && cps != (size_t)-1 && (int64_t)cps < n->minlen)
			report(v, "minLength", "expected at least %lld characters, got %zu",
			       (long long)n->minlen, cps);
		if ((n->has & SK_MAXLEN) && cps != (size_t)-1 && (int64_t)cps > n->maxlen)
			report(v, "maxLength", "expected at most %lld characters, got %zu",
			       (long long)n->maxlen, cps);
		if ((n->has & SK_PATTERN) && !v->stop)
			check_pattern(v, n, sv);
		if ((n->has & SK_FORMAT) && !format_ok(n->format, sv->s, len)) {
			shown(sv->p, (size_t)(sv->q - sv->p), got, sizeof got);
			report(v, "format", "expected a %s, got %s", format_names[n->format], got);
		}
	}
}

/* ------------------------------------------------------------ const, enum */

/* The end of the value at p for const and enum, NULL if it has no
 * canonical form (text that is not JSON) or memory ran out.  A string is
 * only decoded; any other value is put in canonical form in v's buffer. */
static const char *equal_prepare(struct vctx *v, const char *p, struct sval *sv)
{
	if (sv) {
		/* unterminated: what eg_schema_canon refuses */
		if (sv->q == v->end && (sv->q - sv->p < 2 || sv->q[-1] != '"'))
			return NULL;
		return str_decode(v, sv) ? NULL : sv->q;
	}
	sbuf *c = &v->b->canon;
	c->n = 0;
	const char *q = eg_schema_canon(v->b->cn, c, p, v->end);
	if (!q && c->oom)
		v->oom = v->stop = 1;
	return q;
}

/* Is the value equal as JSON to the canonical form cf[0..cn)?  The
 * canonical form of a string is 's', its length (8 bytes), its bytes, so a
 * decoded string is compared with no copy. */
static int equal(const struct vctx *v, const struct sval *sv, const char *cf, size_t cn)
{
	if (sv)
		return cn == 9 + sv->n && cf[0] == 's' && same_bytes(cf + 9, sv->s, sv->n);
	return v->b->canon.n == cn && !memcmp(v->b->canon.p, cf, cn);
}

/* const and enum of the nodes on the value at p (sv: it is a string). */
static void check_equal(struct vctx *v, size_t so, size_t sn, const char *p, struct sval *sv)
{
	int have = 0;
	char got[64];
	const char *q = p;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		if (!(n->has & (SK_CONST | SK_ENUM)))
			continue;
		if (!have) {
			if (!(q = equal_prepare(v, p, sv)))
				return;
			have = 1;
		}
		if ((n->has & SK_CONST) && !equal(v, sv, n->cst, n->cstn)) {
			shown(p, (size_t)(q - p), got, sizeof got);
			report(v, "const", "expected %s, got %s", n->csttext, got);
		}
		if (n->has & SK_ENUM) {
			int k = 0;
			while (k < n->nenum && !equal(v, sv, n->en[k], n->enn[k]))
				k++;
			if (k == n->nenum) {
				shown(p, (size_t)(q - p), got, sizeof got);
				report(v, "enum", "expected one of %s, got %s", n->csttext, got);
			}
		}
	}
}

/* ------------------------------------------------------------ objects */

/* The property named k: one hash and, in a table at most half full,
 * mostly one compare. */
static const sprop *find_prop(const snode *n, const char *k, size_t kn)
{
	unsigned j = eg_schema_name_hash(k, kn) & n->pmask;

	for (int i; (i = n->ptab[j]) != 0; j = (j + 1) & n->pmask) {
		const sprop *pr = &n->props[i - 1];
		if (pr->n == kn && same_bytes(pr->name, k, kn))
			return pr;
	}
	return NULL;
}

static int reserve_bits(struct vctx *v, size_t words)
{
	struct vbuf *b = v->b;

	if (buf_grow(&b->bits, &b->capbits, v->nbits + words, sizeof *b->bits)) {
		v->oom = v->stop = 1;
		return -1;
	}
	return 0;
}

/* The decoded key of the member at p..q (quotes included): its own text
 * unless it has escapes. */
static int member_key(struct vctx *v, const char *p, const char *q, unsigned flags,
		      const char **k, size_t *kn)
{
	size_t body = q - p >= 2 ? (size_t)(q - p) - 2 : 0;
	sbuf *key = &v->b->key;

	if (!(flags & JSON_STR_ESCAPED)) {
		*k = p + 1;
		*kn = body;
		return 0;
	}
	key->n = 0;
	if (eg_sbuf_reserve(key, body + 1)) {
		v->oom = v->stop = 1;
		return -1;
	}
	*kn = eg_json_unescape(p + 1, p + 1 + body, key->p);
	*k = key->p;
	return 0;
}

/* The nodes that apply to one member's value; required ones marked seen. */
static void member_set(struct vctx *v, size_t so, size_t sn, size_t bo, const char *k, size_t kn)
{
	size_t w = bo;
	int dedupe = sn > 1;

	if (dedupe)
		new_set(v);
	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		const sprop *pr = n->nprops ? find_prop(n, k, kn) : NULL;
		if (pr) {
			if (pr->req >= 0)
				v->b->bits[w + (size_t)pr->req / 64] |= 1ULL << (pr->req % 64);
			if (pr->child >= 0)
				push_node(v, pr->child, dedupe);
		} else if (n->additional == -2) {
			char name[64];
			shown(k, kn, name, sizeof name);
			report(v, "additionalProperties", "property \"%s\" is not allowed", name);
		} else if (n->additional >= 0) {
			push_node(v, n->additional, dedupe);
		}
		w += ((size_t)n->nreq + 63) / 64;
	}
}

static void check_required(struct vctx *v, size_t so, size_t sn, size_t bo)
{
	size_t w = bo;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		/* none required, or all of up to 64 seen: one compare, not a
		 * walk of the names */
		if (n->nreq == 0)
			continue;
		if (n->nreq <= 64 && v->b->bits[w] == ~0ULL >> (64 - n->nreq)) {
			w++;
			continue;
		}
		for (int j = 0; j < n->nprops && !v->stop; j++) {
			const sprop *pr = &n->props[j];
			if (pr->req >= 0 && !(v->b->bits[w + (size_t)pr->req / 64] & (1ULL << (pr->req % 64)))) {
				char name[64];
				shown(pr->name, pr->n, name, sizeof name);
				report(v, "required", "missing required property \"%s\"", name);
			}
		}
		w += ((size_t)n->nreq + 63) / 64;
	}
}

static const char *object(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const char *end = v->end;
	size_t bo = v->nbits, words = 0;

	for (size_t i = 0; i < sn; i++)
		words += ((size_t)set_node(v, so, i)->nreq + 63) / 64;
	if (reserve_bits(v, words))
		return end;
	if (words)
		memset(v->b->bits + bo, 0, words * sizeof *v->b->bits);
	v->nbits += words;
	p = skip_ws(p + 1, end);
	while (p < end && *p != '}' && !v->stop) {
		const char *q, *k;
		size_t kn, co = v->nsets;
		unsigned flags;
		if (*p == ',')
			p = skip_ws(p + 1, end);
		if (p >= end || *p != '"')
			return end;
		q = eg_json_string_end(p, end, &flags);
		if (member_key(v, p, q, flags, &k, &kn))
			return end;
		v->path[v->depth].k = p + 1;
		v->path[v->depth].kn = q - p >= 2 ? (size_t)(q - p) - 2 : 0;
		v->depth++;
		member_set(v, so, sn, bo, k, kn);
		p = skip_ws(q, end);
		if (p >= end || *p != ':') {
			v->depth--;
			return end;
		}
		p = value(v, co, v->nsets - co, p + 1);
		v->depth--;
		v->nsets = co;
		p = skip_ws(p, end);
	}
	if (!v->stop)
		check_required(v, so, sn, bo);
	v->nbits = bo;
	return p < end ? p + 1 : end;
}

/* ------------------------------------------------------------ arrays */

/* uniqueItems: each item's canonical form hashed into an open-addressing
 * table, so a large array costs one pass, not n^2 comparisons. */
static int unique_table(struct vctx *v, size_t count, size_t *size)
{
	struct vbuf *b = v->b;

	if (2 * (count + 1) <= *size)
		return 0;
	size_t ns = *size ? 2 * *size : 64;
	if (buf_grow(&b->utab, &b->utabcap, ns, sizeof *b->utab))
		return -1;
	*size = ns;
	memset(b->utab, 0, ns * sizeof *b->utab);
	for (size_t i = 0; i < count; i++) {
		uint64_t h = XXH3_64bits(b->ubuf.p + b->uoff[i], b->uoff[i + 1] - b->uoff[i]) | 1;
		size_t j = h & (ns - 1);
		while (b->utab[j].h)
			j = (j + 1) & (ns - 1);
		b->utab[j].h = h;
		b->utab[j].idx = i;
	}
	return 0;
}

/* uniqueItems: each item's canonical form hashed into an open-addressing
 * table (at most half full), so a large array costs one pass, not n^2
 * comparisons. */
static void check_unique(struct vctx *v, const char *p)
{
	const char *end = v->end;
	struct vbuf *b = v->b;
	size_t count = 0, size = 0;

	b->ubuf.n = 0;
	p = skip_ws(p + 1, end);
	while (p < end && *p != ']' && !v->stop) {
		if (*p == ',')
			p = skip_ws(p + 1, end);
		size_t off = b->ubuf.n;
		const char *q = eg_schema_canon(b->cn, &b->ubuf, p, end);
		if (!q) {
			if (b->ubuf.oom)
				v->oom = v->stop = 1;
			return;
		}
		if (buf_grow(&b->uoff, &b->uoffcap, count + 2, sizeof *b->uoff) ||
		    unique_table(v, count, &size)) {
			v->oom = v->stop = 1;
			return;
		}
		b->uoff[count] = off;
		b->uoff[count + 1] = b->ubuf.n;
		size_t n = b->ubuf.n - off, j;
		uint64_t h = XXH3_64bits(b->ubuf.p + off, n) | 1;
		for (j = h & (size - 1); b->utab[j].h; j = (j + 1) & (size - 1)) {
			size_t o = b->utab[j].idx;
			if (b->utab[j].h == h && b->uoff[o + 1] - b->uoff[o] == n &&
			    !memcmp(b->ubuf.p + b->uoff[o], b->ubuf.p + off, n)) {
				v->path[v->depth].k = NULL;
				v->path[v->depth].idx = count;
				v->depth++;
				report(v, "uniqueItems", "expected unique items, but item %zu equals item %zu", count, o);
				v->depth--;
				return;
			}
		}
		b->utab[j].h = h;
		b->utab[j].idx = count;
		count++;
		p = skip_ws(q, end);
	}
}

static const char *array(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const char *end = v->end;
	size_t co = v->nsets, count = 0;
	int unique = 0;

	if (sn > 1)
		new_set(v);
	for (size_t i = 0; i < sn; i++) {
		const snode *n = set_node(v, so, i);
		if (n->items >= 0)
			push_node(v, n->items, sn > 1);
		unique |= n->unique;
	}
	if (unique)
		check_unique(v, p);
	size_t cn = v->nsets - co;
	p = skip_ws(p + 1, end);
	while (p < end && *p != ']' && !v->stop) {
		if (*p == ',')
			p = skip_ws(p + 1, end);
		v->path[v->depth].k = NULL;
		v->path[v->depth].idx = count++;
		v->depth++;
		p = value(v, co, cn, p);
		v->depth--;
		p = skip_ws(p, end);
	}
	v->nsets = co;
	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		if ((n->has & SK_MINITEMS) && (int64_t)count < n->minitems)
			report(v, "minItems", "expected at least %lld items, got %zu", (long long)n->minitems, count);
		if ((n->has & SK_MAXITEMS) && (int64_t)count > n->maxitems)
			report(v, "maxItems", "expected at most %lld items, got %zu", (long long)n->maxitems, count);
	}
	return p < end ? p + 1 : end;
}

/* ------------------------------------------------------------ values */

static void type_error(struct vctx *v, const snode *n, unsigned vt)
{
	char want[128];

	if (n->boolean == 0) {
		report(v, "false", "no value is allowed here");
	} else {
		type_list(n->types, want, sizeof want);
		report(v, "type", "expected %s, got %s", want, got_name(vt));
	}
}

/* "false" and "type" of one node on a value of type bits vt (a boolean
 * node true has every type bit). */
static inline void check_type(struct vctx *v, const snode *n, unsigned vt)
{
	if (n->boolean == 0 || !(n->types & vt))
		type_error(v, n, vt);
}

/* The types of the set's nodes; returns the union of their keywords, so
 * that the value's other checks run only when some node has them. */
static unsigned check_types(struct vctx *v, size_t so, size_t sn, unsigned vt)
{
	unsigned has = 0;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		check_type(v, n, vt);
		has |= n->has;
	}
	return has;
}

static const char *string(struct vctx *v, size_t so, size_t sn, const char *p)
{
	struct sval sv = { .p = p };

	sv.q = eg_json_string_end(p, v->end, &sv.flags);
	unsigned has = check_types(v, so, sn, ST_STRING);
	if (has & (SK_CONST | SK_ENUM))
		check_equal(v, so, sn, p, &sv);
	if (v->stop)
		return v->end;
	if (has & (SK_MINLEN | SK_MAXLEN | SK_PATTERN | SK_FORMAT))
		check_string(v, so, sn, &sv);
	return sv.q;
}

/* A number is parsed only for a keyword that needs its value: integer
 * (without number), a bound, multipleOf. */
static const char *number(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const unsigned bounds = SK_MIN | SK_MAX | SK_XMIN | SK_XMAX | SK_MULT;
	const char *q = scalar_end(p, v->end);
	sdec d;
	int parsed = 0;
	unsigned has = 0;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = set_node(v, so, i);
		unsigned vt = ST_NUMBER;
		if (n->boolean != 0 && (n->types & (ST_NUMBER | ST_INTEGER)) == ST_INTEGER) {
			if (!parsed)
				eg_sdec_parse(p, (size_t)(q - p), &d), parsed = 1;
			vt |= d.zero || d.last >= 0 ? ST_INTEGER : 0;
		}
		check_type(v, n, vt);
		has |= n->has;
	}
	if (has & (SK_CONST | SK_ENUM))
		check_equal(v, so, sn, p, NULL);
	if (v->stop)
		return v->end;
	for (size_t i = 0; i < sn && !v->stop && (has & bounds); i++) {
		const snode *n = set_node(v, so, i);
		if (!(n->has & bounds))
			continue;
		if (!parsed)
			eg_sdec_parse(p, (size_t)(q - p), &d), parsed = 1;
		check_number(v, n, &d, p, (size_t)(q - p));
	}
	return q;
}

static const char *value(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const char *end = v->end;
	unsigned vt;

	p = skip_ws(p, end);
	if (p >= end || v->stop)
		return end;
	if (sn == 0)
		return skip_value(p, end);
	switch (*p) {
	case '"': return string(v, so, sn, p);
	case '{': vt = ST_OBJECT; break;
	case '[': vt = ST_ARRAY; break;
	case 't': case 'f': vt = ST_BOOL; break;
	case 'n': vt = ST_NULL; break;
	default: return number(v, so, sn, p);
	}
	if (check_types(v, so, sn, vt) & (SK_CONST | SK_ENUM))
		check_equal(v, so, sn, p, NULL);
	if (v->stop)
		return end;
	if (vt == ST_BOOL || vt == ST_NULL)
		return scalar_end(p, end);
	if (v->depth > JSON_MAX_DEPTH) {
		/* Deeper than any JSON engram accepts: the path has no room. */
		report(v, "depth", "expected at most %d levels of nesting", JSON_MAX_DEPTH);
		v->stop = 1;
		return end;
	}
	return vt == ST_OBJECT ? object(v, so, sn, p) : array(v, so, sn, p);
}

/* ------------------------------------------------------------ entry points */

static _Thread_local struct vbuf tls;

/* A thread that ends frees its buffers (the key's destructor). */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void vbuf_free(void *arg)
{
	struct vbuf *b = arg;

	free(b->str.p), free(b->key.p), free(b->canon.p), free(b->ubuf.p);
	free(b->uoff), free(b->utab), free(b->sets), free(b->mark), free(b->bits);
	eg_scanon_free(b->cn);
	pcre2_match_data_free(b->md);
	memset(b, 0, sizeof *b);
}

static void tls_key_make(void)
{
	(void)pthread_key_create(&tls_key, vbuf_free);
}

/* This thread's buffers, with a mark for each of s's nodes; NULL if out of
 * memory. */
static struct vbuf *vbuf_get(const eg_schema *s)
{
	struct vbuf *b = &tls;
	size_t need = (size_t)s->nnodes + 1;

	if (!b->ready) {
		pthread_once(&tls_once, tls_key_make);
		(void)pthread_setspecific(tls_key, b);
		b->ready = 1;
	}
	if (!b->cn && !(b->cn = eg_scanon_new()))
		return NULL;
	if (b->markcap < need) {
		/* zeroed: no epoch is 0 */
		unsigned *m = calloc(need, sizeof *m);
		if (!m)
			return NULL;
		free(b->mark);
		b->mark = m;
		b->markcap = need;
	}
	b->str.oom = b->key.oom = b->canon.oom = b->ubuf.oom = 0;
	return b;
}

static int run(const eg_schema *s, int node, const char *json, size_t n,
	       eg_schema_error *errs, size_t maxerrs, size_t *nerrs, const char *field)
{
	struct vctx v;

	v.s = s;
	v.end = json + n;
	v.errs = errs;
	v.maxerrs = errs ? maxerrs : 0;
	v.nerrs = 0;
	v.invalid = v.stop = v.oom = v.depth = 0;
	v.nsets = v.nbits = 0;
	if (nerrs)
		*nerrs = 0;
	if (!(v.b = vbuf_get(s)))
		return -1;
	if (field) {
		v.path[0].k = field;
		v.path[0].kn = strlen(field);
		v.depth = 1;
	}
	if (push_node(&v, node, 0) == 0)
		value(&v, 0, v.nsets, json);
	if (nerrs)
		*nerrs = v.nerrs;
	return v.oom ? -1 : v.invalid;
}

int eg_schema_validate(const eg_schema *s, const char *json, size_t n,
		       eg_schema_error *errs, size_t maxerrs, size_t *nerrs)
{
	return run(s, 0, json, n, errs, maxerrs, nerrs, NULL);
}

static const char *const env_names[3] = { "actor", "session", "stream" };

int eg_schema_validate_envelope(const eg_schema *s, const char *field, const char *value,
				size_t n, eg_schema_error *errs, size_t maxerrs, size_t *nerrs)
{
	int i = 0;

	while (i < 3 && strcmp(field, env_names[i]))
		i++;
	if (nerrs)
		*nerrs = 0;
	if (i == 3)
		return 0;
	if (!value) {
		if (!(s->envreq & (1u << i)))
			return 0;
		if (maxerrs && errs) {
			snprintf(errs[0].pointer, sizeof errs[0].pointer, "/%s", field);
			snprintf(errs[0].keyword, sizeof errs[0].keyword, "required");
			snprintf(errs[0].message, sizeof errs[0].message, "missing required field \"%s\"", field);
			if (nerrs)
				*nerrs = 1;
		}
		return 1;
	}
	if (s->env[i] < 0)
		return 0;
	if (n > (SIZE_MAX - 2) / 6)
		return -1;
	char *q = malloc(6 * n + 2);
	if (!q)
		return -1;
	size_t qn = eg_json_quote(value, n, q);
	int r = run(s, s->env[i], q, qn, errs, maxerrs, nerrs, env_names[i]);
	free(q);
	return r;
}

int eg_schema_has_envelope(const eg_schema *s)
{
	return s->env[0] >= 0 || s->env[1] >= 0 || s->env[2] >= 0 || s->envreq;
}

/*
 * schema_validate.c — checks one JSON value against a compiled schema in
 * a single walk of its text.  Each value is visited once with the set of
 * schema nodes that apply to it (a node and the nodes its $ref chain
 * reaches, deduplicated), so a schema whose references meet again costs
 * at most the number of its nodes per value, never a blow-up; every keyword
 * of every node is checked in that one visit.  Buffers live for one call
 * and grow; nothing is allocated per value.
 */
#include "schema_int.h"
#include "json.h"
#include "timefmt.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
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

struct vctx {
	const eg_schema *s;
	const char *end;
	eg_schema_error *errs;
	size_t maxerrs, nerrs;
	int invalid, stop, oom, depth;
	struct seg path[JSON_MAX_DEPTH + 2];
	sbuf str, key, canon, ubuf;
	size_t *uoff;
	struct uent *utab;
	size_t uoffcap, utabcap;
	struct scanon *cn;
	int *sets;
	size_t nsets, capsets;
	unsigned *mark, epoch;
	uint64_t *bits;
	size_t nbits, capbits;
	pcre2_match_data *md;
};

/* Room for need items of size bytes in *p (capacity *cap), doubling. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *n = realloc(*p, c * size);
	if (!n)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

static const char *value(struct vctx *v, size_t so, size_t sn, const char *p);

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the value at p (text assumed JSON; bounded whatever it is). */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;

	do {
		p = skip_ws(p, end);
		if (p >= end)
			return end;
		switch (*p) {
		case '"': p = eg_schema_str_end(p, end); break;
		case '{': case '[': depth++; p++; break;
		case '}': case ']': depth--; p++; break;
		default: p++; break;
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

static int push_node(struct vctx *v, int node)
{
	const eg_schema *s = v->s;

	/* The ref chain has no cycle (compile refuses one); the marks keep
	 * a node that two paths reach from being checked twice. */
	for (; node >= 0; node = s->nodes[node].ref) {
		if (v->mark[node] == v->epoch)
			return 0;
		v->mark[node] = v->epoch;
		if (grow((void **)&v->sets, &v->capsets, v->nsets + 1, sizeof *v->sets)) {
			v->oom = v->stop = 1;
			return -1;
		}
		v->sets[v->nsets++] = node;
	}
	return 0;
}

static void new_set(struct vctx *v)
{
	if (++v->epoch == 0) {
		memset(v->mark, 0, (size_t)v->s->nnodes * sizeof *v->mark);
		v->epoch = 1;
	}
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
	char buf[128];

	cut(buf, sizeof buf, p, n);
	return strtod(buf, NULL);
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
			unsigned __int128 r = (unsigned __int128)(x->m % d->m) * powmod10(x->e - d->e, d->m);
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
	char buf[32];
	int64_t us;

	if (n != 10)
		return 0;
	for (size_t i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !is_digit(s[i]))
			return 0;
	memcpy(buf, s, 10);
	memcpy(buf + 10, "T00:00:00Z", 10);
	return eg_time_parse_rfc3339(buf, 20, &us) == 0;
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

/* uri: an RFC 3986 scheme (a letter, then letters, digits, '+', '-',
 * '.'), ':', then printable ASCII without space or <>"{}|\^` and with
 * every '%' followed by two hex digits.  Relative references are not
 * URIs. */
/* The printable ASCII a URI never holds unescaped (RFC 3986): a switch,
 * not strchr per character, which was 11% of a clickstream validation. */
static int uri_bad(unsigned char c)
{
	switch (c) {
	case '<': case '>': case '"': case '{': case '}': case '|': case '\\': case '^': case '`':
		return 1;
	default:
		return 0;
	}
}

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
		if (c <= 0x20 || c >= 0x7F || uri_bad(c))
			return 0;
		if (c == '%' && (n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
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

static void check_pattern(struct vctx *v, const snode *n, const char *s, size_t len, const char *raw, size_t rawn)
{
	char got[64];

	if (!v->md) {
		v->md = atomic_exchange(&((eg_schema *)v->s)->md, NULL);
		if (!v->md && !(v->md = pcre2_match_data_create(1, NULL))) {
			v->oom = v->stop = 1;
			return;
		}
	}
	int rc = pcre2_match(n->re, (PCRE2_SPTR)s, len, 0, 0, v->md, v->s->mctx);
	if (rc >= 0)
		return;
	shown(raw, rawn, got, sizeof got);
	if (rc == PCRE2_ERROR_NOMATCH)
		report(v, "pattern", "expected a string matching /%s/, got %s", n->pattern, got);
	else
		report(v, "pattern", "the pattern /%s/ could not be matched against %s (PCRE2 error %d)",
		       n->pattern, got, rc);
}

static void check_string(struct vctx *v, size_t so, size_t sn, const char *p, const char *q)
{
	const size_t need = SK_MINLEN | SK_MAXLEN | SK_PATTERN | SK_FORMAT;
	size_t len = 0, cps = (size_t)-1;
	int decoded = 0;
	char got[64];

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		if (!(n->has & need))
			continue;
		if (!decoded) {
			size_t body = q - p >= 2 ? (size_t)(q - p) - 2 : 0;
			v->str.n = 0;
			if (eg_sbuf_reserve(&v->str, body + 1)) {
				v->oom = v->stop = 1;
				return;
			}
			len = eg_json_unescape(p + 1, p + 1 + body, v->str.p);
			decoded = 1;
		}
		/* A string of len bytes holds len/4 to len code points: they are
		 * counted (once) only when the byte length leaves this node's
		 * answer open. */
		if ((n->has & (SK_MINLEN | SK_MAXLEN)) && cps == (size_t)-1 &&
		    (((n->has & SK_MAXLEN) && (int64_t)len > n->maxlen) ||
		     ((n->has & SK_MINLEN) && (int64_t)(len / 4) < n->minlen)))
			cps = code_points(v->str.p, len);
		if ((n->has & SK_MINLEN) && cps != (size_t)-1 && (int64_t)cps < n->minlen)
			report(v, "minLength", "expected at least %lld characters, got %zu",
			       (long long)n->minlen, cps);
		if ((n->has & SK_MAXLEN) && cps != (size_t)-1 && (int64_t)cps > n->maxlen)
			report(v, "maxLength", "expected at most %lld characters, got %zu",
			       (long long)n->maxlen, cps);
		if ((n->has & SK_PATTERN) && !v->stop)
			check_pattern(v, n, v->str.p, len, p, (size_t)(q - p));
		if ((n->has & SK_FORMAT) && !format_ok(n->format, v->str.p, len)) {
			shown(p, (size_t)(q - p), got, sizeof got);
			report(v, "format", "expected a %s, got %s", format_names[n->format], got);
		}
	}
}

/* ------------------------------------------------------------ const, enum */

static void check_equal(struct vctx *v, size_t so, size_t sn, const char *p)
{
	int have = 0;
	char got[64];
	const char *q = p;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		if (!(n->has & (SK_CONST | SK_ENUM)))
			continue;
		if (!have) {
			v->canon.n = 0;
			q = eg_schema_canon(v->cn, &v->canon, p, v->end);
			if (!q) {
				if (v->canon.oom)
					v->oom = v->stop = 1;
				return;
			}
			have = 1;
		}
		shown(p, (size_t)(q - p), got, sizeof got);
		if ((n->has & SK_CONST) && (v->canon.n != n->cstn || memcmp(v->canon.p, n->cst, n->cstn)))
			report(v, "const", "expected %s, got %s", n->csttext, got);
		if (n->has & SK_ENUM) {
			int k = 0;
			while (k < n->nenum && (v->canon.n != n->enn[k] || memcmp(v->canon.p, n->en[k], n->enn[k])))
				k++;
			if (k == n->nenum)
				report(v, "enum", "expected one of %s, got %s", n->csttext, got);
		}
	}
}

/* ------------------------------------------------------------ objects */

static const sprop *find_prop(const snode *n, const char *k, size_t kn)
{
	int lo = 0, hi = n->nprops;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		const sprop *pr = &n->props[mid];
		size_t m = pr->n < kn ? pr->n : kn;
		int c = memcmp(pr->name, k, m);
		if (!c)
			c = pr->n < kn ? -1 : pr->n > kn;
		if (!c)
			return pr;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int reserve_bits(struct vctx *v, size_t words)
{
	if (grow((void **)&v->bits, &v->capbits, v->nbits + words, sizeof *v->bits)) {
		v->oom = v->stop = 1;
		return -1;
	}
	return 0;
}

/* The decoded key of the member at p..q (quotes included). */
static int member_key(struct vctx *v, const char *p, const char *q, const char **k, size_t *kn)
{
	size_t body = q - p >= 2 ? (size_t)(q - p) - 2 : 0;

	if (!memchr(p + 1, '\\', body)) {
		*k = p + 1;
		*kn = body;
		return 0;
	}
	v->key.n = 0;
	if (eg_sbuf_reserve(&v->key, body + 1)) {
		v->oom = v->stop = 1;
		return -1;
	}
	*kn = eg_json_unescape(p + 1, p + 1 + body, v->key.p);
	*k = v->key.p;
	return 0;
}

/* The nodes that apply to one member's value; required ones marked seen. */
static void member_set(struct vctx *v, size_t so, size_t sn, size_t bo, const char *k, size_t kn)
{
	size_t w = bo;

	new_set(v);
	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		const sprop *pr = n->nprops ? find_prop(n, k, kn) : NULL;
		if (pr) {
			if (pr->req >= 0)
				v->bits[w + (size_t)pr->req / 64] |= 1ULL << (pr->req % 64);
			if (pr->child >= 0)
				push_node(v, pr->child);
		} else if (n->additional == -2) {
			char name[64];
			shown(k, kn, name, sizeof name);
			report(v, "additionalProperties", "property \"%s\" is not allowed", name);
		} else if (n->additional >= 0) {
			push_node(v, n->additional);
		}
		w += ((size_t)n->nreq + 63) / 64;
	}
}

static void check_required(struct vctx *v, size_t so, size_t sn, size_t bo)
{
	size_t w = bo;

	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		for (int j = 0; j < n->nprops && !v->stop; j++) {
			const sprop *pr = &n->props[j];
			if (pr->req >= 0 && !(v->bits[w + (size_t)pr->req / 64] & (1ULL << (pr->req % 64)))) {
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
		words += ((size_t)v->s->nodes[v->sets[so + i]].nreq + 63) / 64;
	if (reserve_bits(v, words))
		return end;
	if (words)
		memset(v->bits + bo, 0, words * sizeof *v->bits);
	v->nbits += words;
	p = skip_ws(p + 1, end);
	while (p < end && *p != '}' && !v->stop) {
		const char *q, *k;
		size_t kn, co = v->nsets;
		if (*p == ',')
			p = skip_ws(p + 1, end);
		if (p >= end || *p != '"')
			return end;
		q = eg_schema_str_end(p, end);
		if (member_key(v, p, q, &k, &kn))
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
	if (2 * (count + 1) <= *size)
		return 0;
	size_t ns = *size ? 2 * *size : 64;
	if (grow((void **)&v->utab, &v->utabcap, ns, sizeof *v->utab))
		return -1;
	*size = ns;
	memset(v->utab, 0, ns * sizeof *v->utab);
	for (size_t i = 0; i < count; i++) {
		uint64_t h = XXH3_64bits(v->ubuf.p + v->uoff[i], v->uoff[i + 1] - v->uoff[i]) | 1;
		size_t j = h & (ns - 1);
		while (v->utab[j].h)
			j = (j + 1) & (ns - 1);
		v->utab[j].h = h;
		v->utab[j].idx = i;
	}
	return 0;
}

/* uniqueItems: each item's canonical form hashed into an open-addressing
 * table (at most half full), so a large array costs one pass, not n^2
 * comparisons. */
static void check_unique(struct vctx *v, const char *p)
{
	const char *end = v->end;
	size_t count = 0, size = 0;

	v->ubuf.n = 0;
	p = skip_ws(p + 1, end);
	while (p < end && *p != ']' && !v->stop) {
		if (*p == ',')
			p = skip_ws(p + 1, end);
		size_t off = v->ubuf.n;
		const char *q = eg_schema_canon(v->cn, &v->ubuf, p, end);
		if (!q) {
			if (v->ubuf.oom)
				v->oom = v->stop = 1;
			return;
		}
		if (grow((void **)&v->uoff, &v->uoffcap, count + 2, sizeof *v->uoff) ||
		    unique_table(v, count, &size)) {
			v->oom = v->stop = 1;
			return;
		}
		v->uoff[count] = off;
		v->uoff[count + 1] = v->ubuf.n;
		size_t n = v->ubuf.n - off, j;
		uint64_t h = XXH3_64bits(v->ubuf.p + off, n) | 1;
		for (j = h & (size - 1); v->utab[j].h; j = (j + 1) & (size - 1)) {
			size_t o = v->utab[j].idx;
			if (v->utab[j].h == h && v->uoff[o + 1] - v->uoff[o] == n &&
			    !memcmp(v->ubuf.p + v->uoff[o], v->ubuf.p + off, n)) {
				v->path[v->depth].k = NULL;
				v->path[v->depth].idx = count;
				v->depth++;
				report(v, "uniqueItems", "expected unique items, but item %zu equals item %zu", count, o);
				v->depth--;
				return;
			}
		}
		v->utab[j].h = h;
		v->utab[j].idx = count;
		count++;
		p = skip_ws(q, end);
	}
}

static const char *array(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const char *end = v->end;
	size_t co = v->nsets, count = 0;
	int unique = 0;

	new_set(v);
	for (size_t i = 0; i < sn; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		if (n->items >= 0)
			push_node(v, n->items);
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
		const snode *n = &v->s->nodes[v->sets[so + i]];
		if ((n->has & SK_MINITEMS) && (int64_t)count < n->minitems)
			report(v, "minItems", "expected at least %lld items, got %zu", (long long)n->minitems, count);
		if ((n->has & SK_MAXITEMS) && (int64_t)count > n->maxitems)
			report(v, "maxItems", "expected at most %lld items, got %zu", (long long)n->maxitems, count);
	}
	return p < end ? p + 1 : end;
}

/* ------------------------------------------------------------ values */

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

/* The type bits of the value at p (number: parsed into *d). */
static unsigned type_at(const char *p, const char *q, sdec *d)
{
	switch (*p) {
	case '{': return ST_OBJECT;
	case '[': return ST_ARRAY;
	case '"': return ST_STRING;
	case 't': case 'f': return ST_BOOL;
	case 'n': return ST_NULL;
	}
	eg_sdec_parse(p, (size_t)(q - p), d);
	return ST_NUMBER | (d->zero || d->last >= 0 ? ST_INTEGER : 0);
}

static const char *value(struct vctx *v, size_t so, size_t sn, const char *p)
{
	const char *end = v->end, *q;
	sdec d;

	p = skip_ws(p, end);
	if (p >= end || v->stop)
		return end;
	if (sn == 0)
		return skip_value(p, end);
	q = *p == '"' ? eg_schema_str_end(p, end) : (*p == '{' || *p == '[') ? p : scalar_end(p, end);
	unsigned vt = type_at(p, q, &d);
	for (size_t i = 0; i < sn && !v->stop; i++) {
		const snode *n = &v->s->nodes[v->sets[so + i]];
		char want[128];
		if (n->boolean == 0) {
			report(v, "false", "no value is allowed here");
		} else if (!(n->types & vt)) {
			type_list(n->types, want, sizeof want);
			report(v, "type", "expected %s, got %s", want, got_name(vt));
		}
	}
	check_equal(v, so, sn, p);
	if (v->stop)
		return end;
	if (vt & ST_NUMBER) {
		for (size_t i = 0; i < sn && !v->stop; i++)
			check_number(v, &v->s->nodes[v->sets[so + i]], &d, p, (size_t)(q - p));
		return q;
	}
	if (vt == ST_STRING) {
		check_string(v, so, sn, p, q);
		return q;
	}
	if (vt == ST_OBJECT || vt == ST_ARRAY) {
		if (v->depth > JSON_MAX_DEPTH) {
			/* Deeper than any JSON engram accepts: the path has no room. */
			report(v, "depth", "expected at most %d levels of nesting", JSON_MAX_DEPTH);
			v->stop = 1;
			return end;
		}
		return vt == ST_OBJECT ? object(v, so, sn, p) : array(v, so, sn, p);
	}
	return q;
}

/* ------------------------------------------------------------ entry points */

/* The buffers of this thread's validations, kept between calls (each is
 * set up where it is used): allocating them anew for every event cost 5%
 * of a clickstream validation.  mark is zeroed per call. */
static _Thread_local struct keep {
	sbuf str, key, canon, ubuf;
	size_t *uoff;
	struct uent *utab;
	size_t uoffcap, utabcap;
	struct scanon *cn;
	int *sets;
	size_t capsets;
	unsigned *mark;
	size_t markcap;
	uint64_t *bits;
	size_t capbits;
} keep;

/* A thread that ends frees its buffers (the key's destructor). */
static pthread_key_t keep_key;
static pthread_once_t keep_once = PTHREAD_ONCE_INIT;

static void keep_free(void *arg)
{
	struct keep *k = arg;
	free(k->str.p), free(k->key.p), free(k->canon.p), free(k->ubuf.p);
	free(k->uoff), free(k->utab), free(k->sets), free(k->mark), free(k->bits);
	eg_scanon_free(k->cn);
	memset(k, 0, sizeof *k);
}

static void keep_key_make(void)
{
	(void)pthread_key_create(&keep_key, keep_free);
}

static void sbuf_take(sbuf *to, sbuf *from)
{
	*to = *from;
	to->n = 0;
	to->oom = 0;
	memset(from, 0, sizeof *from);
}

static int ctx_init(struct vctx *v, const eg_schema *s, eg_schema_error *errs, size_t maxerrs)
{
	memset(v, 0, offsetof(struct vctx, path));
	memset(&v->str, 0, sizeof *v - offsetof(struct vctx, str));
	v->s = s;
	v->errs = errs;
	v->maxerrs = errs ? maxerrs : 0;
	size_t need = (size_t)s->nnodes + 1;
	if (!keep.cn) {   /* this thread's first call */
		pthread_once(&keep_once, keep_key_make);
		(void)pthread_setspecific(keep_key, &keep);
	}
	if (keep.markcap < need) {
		free(keep.mark);
		keep.markcap = 0;
		if ((keep.mark = malloc(need * sizeof *keep.mark)))
			keep.markcap = need;
	}
	if (keep.mark)
		memset(keep.mark, 0, need * sizeof *keep.mark);
	if (!keep.cn)
		keep.cn = eg_scanon_new();
	sbuf_take(&v->str, &keep.str);
	sbuf_take(&v->key, &keep.key);
	sbuf_take(&v->canon, &keep.canon);
	sbuf_take(&v->ubuf, &keep.ubuf);
	v->uoff = keep.uoff, v->uoffcap = keep.uoffcap;
	v->utab = keep.utab, v->utabcap = keep.utabcap;
	v->cn = keep.cn;
	v->sets = keep.sets, v->capsets = keep.capsets;
	v->mark = keep.mark;
	v->bits = keep.bits, v->capbits = keep.capbits;
	struct keep kept = { .markcap = keep.markcap };
	keep = kept;   /* v owns them until ctx_done gives them back */
	return v->mark && v->cn ? 0 : -1;
}

static int ctx_done(struct vctx *v, size_t *nerrs)
{
	if (v->md) {
		pcre2_match_data *none = NULL;
		if (!atomic_compare_exchange_strong(&((eg_schema *)v->s)->md, &none, v->md))
			pcre2_match_data_free(v->md);
	}
	keep.str = v->str, keep.key = v->key, keep.canon = v->canon, keep.ubuf = v->ubuf;
	keep.uoff = v->uoff, keep.uoffcap = v->uoffcap;
	keep.utab = v->utab, keep.utabcap = v->utabcap;
	keep.cn = v->cn;
	keep.sets = v->sets, keep.capsets = v->capsets;
	keep.mark = v->mark;
	keep.bits = v->bits, keep.capbits = v->capbits;
	if (nerrs)
		*nerrs = v->nerrs;
	return v->oom ? -1 : v->invalid;
}

static int run(const eg_schema *s, int node, const char *json, size_t n,
	       eg_schema_error *errs, size_t maxerrs, size_t *nerrs, const char *field)
{
	struct vctx v;

	if (ctx_init(&v, s, errs, maxerrs)) {
		v.oom = 1;
		return ctx_done(&v, nerrs);
	}
	v.end = json + n;
	if (field) {
		v.path[0].k = field;
		v.path[0].kn = strlen(field);
		v.depth = 1;
	}
	new_set(&v);
	if (push_node(&v, node) == 0)
		value(&v, 0, v.nsets, json);
	return ctx_done(&v, nerrs);
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

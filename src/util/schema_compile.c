/*
 * schema_compile.c — turns a schema document into the nodes the validator
 * walks (schema_int.h): one node per schema object, children by index,
 * numbers as exact decimals, const and enum values in canonical form,
 * patterns compiled by PCRE2, $ref resolved and checked for cycles.  Every
 * error names the JSON pointer of the faulty place in the document.
 */
#include "schema_int.h"
#include "buf.h"
#include "json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far one pattern may backtrack on one string before the value is
 * reported as not matched: a pattern such as (a+)+$ must not stall an
 * append. */
#define MATCH_LIMIT 1000000
#define PATH_SHOWN 120

struct def {
	char *name;
	size_t n;
	int node;
};

struct comp {
	eg_schema *s;
	char *err;
	size_t errlen;
	sbuf path;           /* the schema pointer of where we are */
	struct scanon *cn;
	struct def *defs;
	int ndefs, failed;
};

static int fail(struct comp *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->failed)
		return -1;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* A path longer than PATH_SHOWN is cut, so that the why still shows. */
	int cutp = c->path.n > PATH_SHOWN;
	if (c->errlen)
		snprintf(c->err, c->errlen, "%.*s%s: %s",
			 c->path.n ? (int)(cutp ? PATH_SHOWN - 3 : c->path.n) : 6,
			 c->path.n ? c->path.p : "(root)", cutp ? "..." : "", msg);
	return -1;
}

/* Push "/token" (escaped as RFC 6901) on the path; returns the old length
 * for pop. */
static size_t push(struct comp *c, const char *t, size_t n)
{
	size_t old = c->path.n;

	if (eg_sbuf_reserve(&c->path, 2 * n + 1))
		return old;
	c->path.p[c->path.n++] = '/';
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '~' || t[i] == '/') {
			c->path.p[c->path.n++] = '~';
			c->path.p[c->path.n++] = t[i] == '~' ? '0' : '1';
		} else {
			c->path.p[c->path.n++] = t[i];
		}
	}
	return old;
}

static size_t push_s(struct comp *c, const char *t)
{
	return push(c, t, strlen(t));
}

static char *path_dup(struct comp *c)
{
	char *p = malloc(c->path.n + 1);

	if (p) {
		memcpy(p, c->path.p ? c->path.p : "", c->path.n);
		p[c->path.n] = 0;
	}
	return p;
}


static char *minified(const json_span *v, size_t *n)
{
	char *p = malloc(v->n + 1);

	if (!p)
		return NULL;
	size_t k = eg_json_minify(v, p);
	p[k] = 0;
	if (n)
		*n = k;
	return p;
}

static int oom(struct comp *c)
{
	return fail(c, "out of memory");
}

static int new_node(struct comp *c)
{
	eg_schema *s = c->s;

	if (s->nnodes == INT_MAX || buf_grow(&s->nodes, &s->cap, (size_t)s->nnodes + 1, sizeof *s->nodes))
		return oom(c);
	snode *n = &s->nodes[s->nnodes];
	memset(n, 0, sizeof *n);
	n->boolean = -1;
	n->types = ST_ALL;
	n->ref = -1;
	n->additional = -1;
	n->items = -1;
	return s->nnodes++;
}

static int annotate(struct comp *c, const char *name, size_t nn, const json_span *v)
{
	eg_schema *s = c->s;

	if (s->nannots == INT_MAX ||
	    buf_grow(&s->annots, &s->acap, (size_t)s->nannots + 1, sizeof *s->annots))
		return oom(c);
	sannot *a = &s->annots[s->nannots];
	a->at = path_dup(c);
	a->name = malloc(nn + 1);
	a->json = minified(v, &a->n);
	if (a->name) {
		memcpy(a->name, name, nn);
		a->name[nn] = 0;
	}
	s->nannots++;
	return a->at && a->name && a->json ? 0 : oom(c);
}

static int compile(struct comp *c, const json_span *v);

/* ------------------------------------------------------------ keywords */

static const char *const type_names[] = {
	"null", "boolean", "object", "array", "number", "integer", "string"
};

static int type_bit(struct comp *c, const json_span *v, unsigned *bits)
{
	if (v->type != JSON_STRING)
		return fail(c, "expected a type name or an array of them");
	int i = eg_json_string_index(v, type_names, 7);
	if (i >= 0) {
		/* A number type admits integers too. */
		*bits |= (1u << i) | (i == 4 ? ST_INTEGER : 0);
		return 0;
	}
	return fail(c, "unknown type %.*s (expected null, boolean, object, array, number, integer or string)",
		    (int)(v->n < 40 ? v->n : 40), v->p);
}

static int kw_type(struct comp *c, snode *n, const json_span *v)
{
	unsigned bits = 0;

	if (v->type == JSON_ARRAY) {
		json_arr it;
		json_span e;
		size_t i = 0;
		char idx[24];
		eg_json_arr_begin(&it, v);
		while (eg_json_arr_next(&it, &e)) {
			size_t old = push(c, idx, (size_t)snprintf(idx, sizeof idx, "%zu", i++));
			if (type_bit(c, &e, &bits))
				return -1;
			c->path.n = old;
		}
		if (!bits)
			return fail(c, "expected at least one type name");
	} else if (type_bit(c, v, &bits)) {
		return -1;
	}
	n->types = bits;
	return 0;
}

static int kw_number(struct comp *c, snode *n, int which, const json_span *v)
{
	if (v->type != JSON_NUMBER)
		return fail(c, "expected a number");
	eg_sdec_parse(v->p, v->n, &n->num[which]);
	if (which == SNUM_MULT && (n->num[which].zero || n->num[which].neg))
		return fail(c, "expected a number greater than 0");
	n->numtext[which] = minified(v, NULL);
	n->has |= SK_MIN << which;
	return n->numtext[which] ? 0 : oom(c);
}

/* A length or count: a non-negative integer (1.0 is one); beyond int64
 * it is as good as infinite. */
static int kw_count(struct comp *c, int64_t *out, const json_span *v)
{
	sdec d;

	if (v->type != JSON_NUMBER)
		return fail(c, "expected a non-negative integer");
	eg_sdec_parse(v->p, v->n, &d);
	if (d.neg || (!d.zero && d.last < 0))
		return fail(c, "expected a non-negative integer");
	if (d.zero) {
		*out = 0;
	} else if (d.lead >= 18) {
		*out = INT64_MAX;
	} else {
		int64_t x = (int64_t)d.m;
		for (int64_t i = 0; i < d.e; i++)
			x *= 10;
		*out = x;
	}
	return 0;
}

static int canon_of(struct comp *c, const json_span *v, char **out, size_t *n)
{
	sbuf b = { 0 };

	if (!eg_schema_canon(c->cn, &b, v->p, v->p + v->n)) {
		free(b.p);
		return oom(c);
	}
	*out = b.p ? b.p : malloc(1);
	*n = b.n;
	return *out ? 0 : oom(c);
}

static int kw_enum(struct comp *c, snode *n, const json_span *v)
{
	json_arr it;
	json_span e;
	int k = 0;

	if (v->type != JSON_ARRAY)
		return fail(c, "expected an array");
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e))
		k++;
	if (!k)
		return fail(c, "expected a non-empty array");
	n->en = calloc((size_t)k, sizeof *n->en);
	n->enn = calloc((size_t)k, sizeof *n->enn);
	if (!n->en || !n->enn)
		return oom(c);
	eg_json_arr_begin(&it, v);
	for (n->nenum = 0; eg_json_arr_next(&it, &e); n->nenum++)
		if (canon_of(c, &e, &n->en[n->nenum], &n->enn[n->nenum]))
			return -1;
	free(n->csttext);
	n->csttext = minified(v, NULL);
	n->has |= SK_ENUM;
	return n->csttext ? 0 : oom(c);
}

static int kw_const(struct comp *c, snode *n, const json_span *v)
{
	if (canon_of(c, v, &n->cst, &n->cstn))
		return -1;
	if (!(n->has & SK_ENUM)) {
		free(n->csttext);
		n->csttext = minified(v, NULL);
	}
	n->has |= SK_CONST;
	return n->csttext ? 0 : oom(c);
}

static int kw_pattern(struct comp *c, snode *n, const json_span *v)
{
	size_t len;
	int code;
	PCRE2_SIZE off;

	if (v->type != JSON_STRING)
		return fail(c, "expected a string (a regular expression)");
	if (!(n->pattern = eg_json_string_dup(v, &len)))
		return oom(c);
	/* ECMA-262 leanings: $ only at the very end, \u as a code point
	 * escape; UTF so that . is one character. */
	n->re = pcre2_compile((PCRE2_SPTR)n->pattern, len,
			      PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &code, &off, NULL);
	if (!n->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		return fail(c, "invalid regular expression at offset %zu: %s", (size_t)off, (char *)msg);
	}
	/* where JIT is missing, the interpreter */
	n->jit = pcre2_jit_compile(n->re, PCRE2_JIT_COMPLETE) == 0;
	n->has |= SK_PATTERN;
	return 0;
}

static int kw_format(struct comp *c, snode *n, const json_span *v)
{
	static const char *const names[] = { "", "date-time", "date", "email", "uuid", "uri" };
	if (v->type != JSON_STRING)
		return fail(c, "expected a string");
	int i = eg_json_string_index(v, names, 6);
	if (i >= 1) {
		n->format = i;
		n->has |= SK_FORMAT;
		return 0;
	}
	return fail(c, "unknown format %.*s (expected date-time, date, email, uuid or uri)",
		    (int)(v->n < 40 ? v->n : 40), v->p);
}

/* ------------------------------------------------------------ properties */

struct props {
	sprop *p;
	int n;
	size_t cap;
};

static int add_prop(struct comp *c, struct props *ps, char *name, size_t n, int child)
{
	if (ps->n == INT_MAX || buf_grow(&ps->p, &ps->cap, (size_t)ps->n + 1, sizeof *ps->p)) {
		free(name);
		return oom(c);
	}
	ps->p[ps->n++] = (sprop){ name, n, child, -1 };
	return 0;
}

static sprop *find(struct props *ps, const char *name, size_t n, int upto)
{
	for (int i = 0; i < upto; i++)
		if (ps->p[i].n == n && !memcmp(ps->p[i].name, name, n))
			return &ps->p[i];
	return NULL;
}

static int kw_properties(struct comp *c, struct props *ps, const json_span *v)
{
	json_obj it;
	json_span k, e;

	if (v->type != JSON_OBJECT)
		return fail(c, "expected an object of schemas");
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (eg_json_obj_next(&it, &k, &e, NULL) == 1) {
		size_t n, old;
		char *name = eg_json_string_dup(&k, &n);
		if (!name)
			return oom(c);
		old = push(c, name, n);
		int child = compile(c, &e);
		if (child < 0) {
			free(name);
			return -1;
		}
		c->path.n = old;
		/* a name "required" listed first has its entry already */
		sprop *p = find(ps, name, n, ps->n);
		if (p && p->child < 0) {
			p->child = child;
			free(name);
			continue;
		}
		if (add_prop(c, ps, name, n, child))
			return -1;
	}
	return 0;
}

static int prop_cmp(const void *x, const void *y)
{
	const sprop *a = x, *b = y;
	size_t m = a->n < b->n ? a->n : b->n;
	int r = memcmp(a->name, b->name, m);

	return r ? r : a->n < b->n ? -1 : a->n > b->n;
}

/* required: names, each marked on its property (or added without a
 * schema); their count is the node's nreq. */
static int kw_required(struct comp *c, struct props *ps, int *nreq, const json_span *v)
{
	json_arr it;
	json_span e;
	if (v->type != JSON_ARRAY)
		return fail(c, "expected an array of property names");
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e)) {
		size_t n;
		if (e.type != JSON_STRING)
			return fail(c, "expected an array of property names");
		char *name = eg_json_string_dup(&e, &n);
		if (!name)
			return oom(c);
		sprop *p = find(ps, name, n, ps->n);
		if (p && p->req < 0) {
			p->req = (*nreq)++;
		}
		if (p) {
			free(name);
			continue;
		}
		if (add_prop(c, ps, name, n, -1))
			return -1;
		ps->p[ps->n - 1].req = (*nreq)++;
	}
	return 0;
}

/* The node's names hashed into a table at most half full, so that the
 * validator finds a member's schema with one or two compares, not a binary
 * search of memcmps. */
static int prop_table(struct comp *c, snode *n)
{
	unsigned size = 4;

	if (!n->nprops)
		return 0;
	while (size < 2 * (unsigned)n->nprops)
		size *= 2;
	if (!(n->ptab = calloc(size, sizeof *n->ptab)))
		return oom(c);
	n->pmask = size - 1;
	for (int i = 0; i < n->nprops; i++) {
		unsigned j = eg_schema_name_hash(n->props[i].name, n->props[i].n) & n->pmask;
		while (n->ptab[j])
			j = (j + 1) & n->pmask;
		n->ptab[j] = i + 1;
	}
	return 0;
}

static int finish_props(struct comp *c, int node, struct props *ps, int nreq)
{
	snode *n = &c->s->nodes[node];

	if (ps->n > 1)
		qsort(ps->p, (size_t)ps->n, sizeof *ps->p, prop_cmp);
	for (int i = 1; i < ps->n; i++) {
		if (!prop_cmp(&ps->p[i - 1], &ps->p[i])) {
			size_t old = push_s(c, "properties");
			push(c, ps->p[i].name, ps->p[i].n);
			(void)old;
			return fail(c, "property given twice");
		}
	}
	n->props = ps->p;
	n->nprops = ps->n;
	n->nreq = nreq;
	if (nreq)
		n->has |= SK_REQUIRED;
	ps->p = NULL;
	return prop_table(c, n);
}

/* ------------------------------------------------------------ envelope, defs */

static int kw_envelope(struct comp *c, const json_span *v)
{
	static const char *const names[3] = { "actor", "session", "stream" };
	json_obj it;
	json_span k, e;
	char name[16];

	if (v->type != JSON_OBJECT)
		return fail(c, "expected an object with actor, session, stream or required");
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (eg_json_obj_next(&it, &k, &e, NULL) == 1) {
		size_t kn = k.n <= sizeof name ? eg_json_string_decode(&k, name) : 0;
		size_t old = push(c, k.p + 1, k.n - 2);
		int i = 0;
		while (i < 3 && !(strlen(names[i]) == kn && !memcmp(name, names[i], kn)))
			i++;
		if (i < 3) {
			int node = compile(c, &e);
			if (node < 0)
				return -1;
			c->s->env[i] = node;
		} else if (kn == 8 && !memcmp(name, "required", 8)) {
			json_arr ai;
			json_span r;
			if (e.type != JSON_ARRAY)
				return fail(c, "expected an array of actor, session or stream");
			eg_json_arr_begin(&ai, &e);
			while (eg_json_arr_next(&ai, &r)) {
				size_t rn = r.type == JSON_STRING && r.n <= sizeof name ?
					    eg_json_string_decode(&r, name) : 0;
				int j = 0;
				while (j < 3 && !(strlen(names[j]) == rn && !memcmp(name, names[j], rn)))
					j++;
				if (j == 3)
					return fail(c, "expected an array of actor, session or stream");
				c->s->envreq |= 1u << j;
			}
		} else {
			return fail(c, "unknown envelope field (expected actor, session, stream or required)");
		}
		c->path.n = old;
	}
	return 0;
}

static int kw_defs(struct comp *c, const json_span *v)
{
	json_obj it;
	json_span k, e;

	if (c->path.n != strlen("/$defs"))
		return fail(c, "$defs is allowed only at the top level");
	if (v->type != JSON_OBJECT)
		return fail(c, "expected an object of schemas");
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (eg_json_obj_next(&it, &k, &e, NULL) == 1) {
		size_t n, old;
		char *name = eg_json_string_dup(&k, &n);
		struct def *d = realloc(c->defs, (size_t)(c->ndefs + 1) * sizeof *d);
		if (!name || !d) {
			free(name);
			if (d)
				c->defs = d;
			return oom(c);
		}
		c->defs = d;
		c->defs[c->ndefs++] = (struct def){ name, n, -1 };
		old = push(c, name, n);
		int node = compile(c, &e);
		if (node < 0)
			return -1;
		c->defs[c->ndefs - 1].node = node;
		c->path.n = old;
	}
	return 0;
}

/* ------------------------------------------------------------ one schema */

static const char *const keywords[] = {
	"type", "properties", "required", "additionalProperties", "enum", "const",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
	"minLength", "maxLength", "pattern", "format", "items", "minItems", "maxItems",
	"uniqueItems", "$ref", "$defs", "default", "description", "title", "$schema",
	"$id", "$comment", "envelope", NULL
};

enum {
	K_TYPE, K_PROPERTIES, K_REQUIRED, K_ADDITIONAL, K_ENUM, K_CONST, K_MIN, K_MAX,
	K_XMIN, K_XMAX, K_MULT, K_MINLEN, K_MAXLEN, K_PATTERN, K_FORMAT, K_ITEMS,
	K_MINITEMS, K_MAXITEMS, K_UNIQUE, K_REF, K_DEFS, K_DEFAULT, K_DESCRIPTION,
	K_TITLE, K_SCHEMA, K_ID, K_COMMENT, K_ENVELOPE
};

static int keyword_of(const char *k, size_t n)
{
	for (int i = 0; keywords[i]; i++)
		if (strlen(keywords[i]) == n && !memcmp(k, keywords[i], n))
			return i;
	return -1;
}

/* A subschema in place (items, additionalProperties): its node index. */
static int sub(struct comp *c, const json_span *v)
{
	return compile(c, v);
}

static int keyword(struct comp *c, int node, int kw, const json_span *v, struct props *ps, int *nreq)
{
	snode *n = &c->s->nodes[node];
	int child;

	switch (kw) {
	case K_TYPE: return kw_type(c, n, v);
	case K_PROPERTIES: return kw_properties(c, ps, v);
	case K_REQUIRED: return kw_required(c, ps, nreq, v);
	case K_ENUM: return kw_enum(c, n, v);
	case K_CONST: return kw_const(c, n, v);
	case K_MIN: case K_MAX: case K_XMIN: case K_XMAX: case K_MULT:
		return kw_number(c, n, kw - K_MIN, v);
	case K_MINLEN: n->has |= SK_MINLEN; return kw_count(c, &n->minlen, v);
	case K_MAXLEN: n->has |= SK_MAXLEN; return kw_count(c, &n->maxlen, v);
	case K_MINITEMS: n->has |= SK_MINITEMS; return kw_count(c, &n->minitems, v);
	case K_MAXITEMS: n->has |= SK_MAXITEMS; return kw_count(c, &n->maxitems, v);
	case K_PATTERN: return kw_pattern(c, n, v);
	case K_FORMAT: return kw_format(c, n, v);
	case K_UNIQUE:
		if (v->type != JSON_TRUE && v->type != JSON_FALSE)
			return fail(c, "expected a boolean");
		n->unique = v->type == JSON_TRUE;
		return 0;
	case K_ADDITIONAL:
	case K_ITEMS:
		if (v->type != JSON_OBJECT && v->type != JSON_TRUE && v->type != JSON_FALSE)
			return fail(c, "expected a schema (an object or a boolean)");
		if (kw == K_ADDITIONAL && v->type != JSON_OBJECT) {
			n->additional = v->type == JSON_TRUE ? -1 : -2;
			return 0;
		}
		if ((child = sub(c, v)) < 0)
			return -1;
		n = &c->s->nodes[node];
		*(kw == K_ITEMS ? &n->items : &n->additional) = child;
		return 0;
	case K_REF:
		if (v->type != JSON_STRING)
			return fail(c, "expected a string");
		n->reftext = eg_json_string_dup(v, NULL);
		n->refpath = path_dup(c);
		return n->reftext && n->refpath ? 0 : oom(c);
	case K_DEFS: return kw_defs(c, v);
	case K_ENVELOPE:
		if (c->path.n != strlen("/envelope"))
			return fail(c, "envelope is allowed only at the top level");
		return kw_envelope(c, v);
	case K_DESCRIPTION: case K_TITLE: case K_SCHEMA: case K_ID: case K_COMMENT:
		return v->type == JSON_STRING ? 0 : fail(c, "expected a string");
	}
	return 0;
}

/* minimum <= maximum and the like, once all keywords are read. */
static int check_bounds(struct comp *c, const snode *n)
{
	if ((n->has & SK_MIN) && (n->has & SK_MAX) && eg_sdec_cmp(&n->num[SNUM_MIN], &n->num[SNUM_MAX]) > 0) {
		push_s(c, "minimum");
		return fail(c, "minimum %s is greater than maximum %s", n->numtext[SNUM_MIN], n->numtext[SNUM_MAX]);
	}
	if ((n->has & SK_MINLEN) && (n->has & SK_MAXLEN) && n->minlen > n->maxlen) {
		push_s(c, "minLength");
		return fail(c, "minLength %lld is greater than maxLength %lld",
			    (long long)n->minlen, (long long)n->maxlen);
	}
	if ((n->has & SK_MINITEMS) && (n->has & SK_MAXITEMS) && n->minitems > n->maxitems) {
		push_s(c, "minItems");
		return fail(c, "minItems %lld is greater than maxItems %lld",
			    (long long)n->minitems, (long long)n->maxitems);
	}
	return 0;
}

static int compile_object(struct comp *c, int node, const json_span *v)
{
	json_obj it;
	json_span k, e;
	struct props ps = { 0 };
	int nreq = 0, r = 0;
	uint64_t seen = 0;

	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (r == 0 && eg_json_obj_next(&it, &k, &e, NULL) == 1) {
		char name[32];
		size_t kn = k.n <= sizeof name ? eg_json_string_decode(&k, name) : sizeof name;
		size_t old = push(c, k.p + 1, k.n - 2);
		int kw = keyword_of(name, kn);
		if (kw < 0 && kn >= 2 && kn < sizeof name && name[0] == 'x' && name[1] == '-') {
			c->path.n = old;
			r = annotate(c, name, kn, &e);
		} else if (kw < 0 && k.n > 3 && k.p[1] == 'x' && k.p[2] == '-') {
			char *full = eg_json_string_dup(&k, &kn);
			c->path.n = old;
			r = full ? annotate(c, full, kn, &e) : oom(c);
			free(full);
		} else if (kw < 0) {
			r = fail(c, "unknown keyword (not in engram's schema language; annotations begin \"x-\")");
		} else if (seen & (1ULL << kw)) {
			r = fail(c, "keyword given twice");
		} else {
			seen |= 1ULL << kw;
			if (kw == K_DEFAULT || kw == K_DESCRIPTION || kw == K_TITLE) {
				c->path.n = old;
				if (kw != K_DEFAULT && e.type != JSON_STRING) {
					push(c, k.p + 1, k.n - 2);
					r = fail(c, "expected a string");
				} else {
					r = annotate(c, keywords[kw], strlen(keywords[kw]), &e);
				}
			} else {
				r = keyword(c, node, kw, &e, &ps, &nreq);
			}
		}
		if (r == 0)
			c->path.n = old;
	}
	if (r == 0)
		r = finish_props(c, node, &ps, nreq);
	if (r == 0)
		r = check_bounds(c, &c->s->nodes[node]);
	for (int i = 0; ps.p && i < ps.n; i++)
		free(ps.p[i].name);
	free(ps.p);
	return r;
}

static int compile(struct comp *c, const json_span *v)
{
	int node;

	if (v->type != JSON_OBJECT && v->type != JSON_TRUE && v->type != JSON_FALSE)
		return fail(c, "expected a schema (an object or a boolean)");
	if ((node = new_node(c)) < 0)
		return -1;
	if (v->type != JSON_OBJECT) {
		c->s->nodes[node].boolean = v->type == JSON_TRUE;
		return node;
	}
	return compile_object(c, node, v) ? -1 : node;
}

/* ------------------------------------------------------------ $ref */

static int resolve(struct comp *c, snode *n)
{
	const char *r = n->reftext;
	size_t rn = strlen(r);

	if (!strcmp(r, "#")) {
		n->ref = 0;
		return 0;
	}
	if (rn < 8 || memcmp(r, "#/$defs/", 8) || memchr(r + 8, '/', rn - 8))
		return fail(c, "unsupported $ref %s (only \"#\" and \"#/$defs/NAME\" are)", r);
	/* The name as a JSON pointer token: ~1 is '/', ~0 is '~'. */
	char *name = malloc(rn);
	size_t k = 0;
	if (!name)
		return oom(c);
	for (const char *p = r + 8; *p; p++) {
		if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
			name[k++] = p[1] == '0' ? '~' : '/';
			p++;
		} else {
			name[k++] = *p;
		}
	}
	for (int i = c->ndefs - 1; i >= 0; i--) {
		if (c->defs[i].n == k && !memcmp(c->defs[i].name, name, k)) {
			n->ref = c->defs[i].node;
			free(name);
			return 0;
		}
	}
	free(name);
	return fail(c, "dangling $ref %s: no such entry in $defs", r);
}

static void set_path(struct comp *c, const char *p)
{
	size_t n = strlen(p);

	c->path.n = 0;
	if (eg_sbuf_reserve(&c->path, n + 1) == 0) {
		memcpy(c->path.p, p, n);
		c->path.n = n;
	}
}

static int resolve_refs(struct comp *c)
{
	eg_schema *s = c->s;
	int *stamp = calloc((size_t)s->nnodes, sizeof *stamp);

	if (!stamp)
		return oom(c);
	for (int i = 0; i < s->nnodes; i++) {
		snode *n = &s->nodes[i];
		if (!n->reftext)
			continue;
		set_path(c, n->refpath);
		if (resolve(c, n))
			goto out;
	}
	/* Each node has at most one $ref, so the refs that apply to the same
	 * value form chains; a chain that comes back on itself would never
	 * consume input. */
	for (int i = 0; i < s->nnodes; i++) {
		int j = i;
		while (j >= 0 && stamp[j] == 0) {
			stamp[j] = i + 1;
			j = s->nodes[j].ref;
		}
		if (j >= 0 && stamp[j] == i + 1) {
			set_path(c, s->nodes[j].refpath);
			fail(c, "$ref cycle that never consumes input (%s leads back to itself)", s->nodes[j].reftext);
			goto out;
		}
	}
out:
	free(stamp);
	return c->failed ? -1 : 0;
}

/* ------------------------------------------------------------ API */

int eg_schema_compile(const char *json, size_t n, eg_schema **out, char *err, size_t errlen)
{
	struct comp c = { 0 };
	json_err je = { 0, NULL };
	json_span root;
	size_t i = 0;

	*out = NULL;
	c.err = err;
	c.errlen = errlen;
	if (errlen)
		err[0] = 0;
	if (eg_json_validate(json, n, &je)) {
		if (errlen)
			snprintf(err, errlen, "(root): invalid JSON at byte %zu: %s", je.off, je.what);
		return -1;
	}
	c.s = calloc(1, sizeof *c.s);
	c.cn = eg_scanon_new();
	if (!c.s || !c.cn) {
		oom(&c);
		goto fail;
	}
	c.s->env[0] = c.s->env[1] = c.s->env[2] = -1;
	while (i < n && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
		i++;
	root.p = json + i;
	root.n = n - i;
	while (root.n && (root.p[root.n - 1] == ' ' || root.p[root.n - 1] == '\t' ||
			  root.p[root.n - 1] == '\n' || root.p[root.n - 1] == '\r'))
		root.n--;
	root.type = root.p[0] == '{' ? JSON_OBJECT : root.p[0] == 't' ? JSON_TRUE :
		    root.p[0] == 'f' ? JSON_FALSE : JSON_NULL;
	if (compile(&c, &root) < 0 || resolve_refs(&c))
		goto fail;
	c.s->mctx = pcre2_match_context_create(NULL);
	if (!c.s->mctx) {
		oom(&c);
		goto fail;
	}
	pcre2_set_match_limit(c.s->mctx, MATCH_LIMIT);
	*out = c.s;
	c.s = NULL;
fail:
	eg_schema_free(c.s);
	for (int k = 0; k < c.ndefs; k++)
		free(c.defs[k].name);
	free(c.defs);
	free(c.path.p);
	eg_scanon_free(c.cn);
	return *out ? 0 : -1;
}

void eg_schema_free(eg_schema *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nnodes; i++) {
		snode *n = &s->nodes[i];
		for (int j = 0; j < n->nprops; j++)
			free(n->props[j].name);
		free(n->props);
		free(n->ptab);
		free(n->refpath);
		free(n->reftext);
		for (int j = 0; j < 5; j++)
			free(n->numtext[j]);
		pcre2_code_free(n->re);
		free(n->pattern);
		free(n->cst);
		free(n->csttext);
		for (int j = 0; j < n->nenum; j++)
			free(n->en[j]);
		free(n->en);
		free(n->enn);
	}
	free(s->nodes);
	for (int i = 0; i < s->nannots; i++) {
		free(s->annots[i].at);
		free(s->annots[i].name);
		free(s->annots[i].json);
	}
	free(s->annots);
	pcre2_match_context_free(s->mctx);
	free(s);
}

const char *eg_schema_annotation(const eg_schema *s, const char *at, const char *name, size_t *len)
{
	for (int i = 0; i < s->nannots; i++) {
		const sannot *a = &s->annots[i];
		if (!strcmp(a->at, at) && !strcmp(a->name, name)) {
			if (len)
				*len = a->n;
			return a->json;
		}
	}
	return NULL;
}

int eg_schema_annotations(const eg_schema *s,
			  int (*fn)(void *arg, const char *at, const char *name,
				    const char *json, size_t len),
			  void *arg)
{
	for (int i = 0; i < s->nannots; i++) {
		int r = fn(arg, s->annots[i].at, s->annots[i].name, s->annots[i].json, s->annots[i].n);
		if (r)
			return r;
	}
	return 0;
}

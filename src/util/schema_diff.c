/*
 * schema_diff.c — the differences between two compiled versions of a
 * schema, each with whether it breaks backward compatibility (the new
 * version rejects some data the old accepted) or forward compatibility
 * (the old rejects some data the new accepts).  One walk of both node
 * graphs side by side, from the root through properties, items,
 * additionalProperties and $ref; docs/CONTRACTS.md, "Compatibility", has
 * the rule table this file implements and the tests read.
 *
 * An upcast changes what "old data" means for the new reader: old data is
 * read after the upcast, so backward compatibility is judged against the
 * old schema as the upcast transforms it (an overlay of the members the
 * operations touch), while forward compatibility (old readers, new data,
 * no upcast involved) is judged against the old schema as written.
 */
#include "schema_diff.h"
#include "schema_int.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nodes that apply to one value: a node and its $ref chain, and for
 * members named by several nodes of such a chain, all their schemas.
 * Chains are short in practice; beyond this the rest is not compared. */
#define NSET_MAX 16
/* How deep the walk follows nested schemas.  A recursive schema (a tree
 * through $ref) is cut where a pair of node sets repeats; this bounds
 * pathological ones. */
#define DEPTH_MAX 64

typedef struct nset {
	int n;
	int id[NSET_MAX];
} nset;

/*
 * A member of the old data as the upcast leaves it.  Members the upcast
 * does not touch are read from the old schema; an overlay entry replaces
 * one member: moved here from elsewhere (its schema travels with it),
 * gone (absent), or made by the upcast (synth: only its type is known;
 * value: the default the upcast writes).
 */
typedef struct ovl {
	char *name;
	size_t nn;
	nset set;
	unsigned synth;
	const char *value;
	size_t value_len;
	int absent, req, filled;
	struct ovl **kids;
	int nkids, cap;
} ovl;

/* One side of a comparison: the nodes of schema s that apply to a value,
 * or, on the old side, a value made by the upcast (synth), with the
 * overlay of its members (ov). */
typedef struct side {
	const eg_schema *s;
	nset set;
	unsigned synth;
	const char *value;
	size_t value_len;
	const ovl *ov;
} side;

/* A member of an object side, from its schema and overlay. */
typedef struct member {
	const char *name;
	size_t nn;
	side v;
	int req, filled;
} member;

/* A change kept from the forward walk, matched against the backward one. */
typedef struct kept {
	char *rule, *pointer, *message;
	int used;
} kept;

enum { WALK_BOTH, WALK_FWD, WALK_BACK };

struct walk {
	const eg_schema *o, *n;
	char **npaths;                 /* the schema path of each new node */
	int (*fn)(void *ctx, const eg_schema_change *c);
	void *ctx;
	int mode;                      /* WALK_* */
	sbuf ptr;                      /* the data pointer where the walk is */
	int stop;                      /* fn's nonzero return, or -1 */
	const side *stack[2 * DEPTH_MAX];
	int depth;
	kept *kept;
	int nkept, capkept;
};

/* ------------------------------------------------------------ reporting */

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static int keep(struct walk *w, const char *rule, const char *msg)
{
	if (w->nkept == w->capkept) {
		int cap = w->capkept ? 2 * w->capkept : 8;
		kept *k = realloc(w->kept, (size_t)cap * sizeof *k);
		if (!k)
			return -1;
		w->kept = k;
		w->capkept = cap;
	}
	kept *k = &w->kept[w->nkept];
	k->rule = dup_n(rule, strlen(rule));
	k->pointer = dup_n(w->ptr.p, w->ptr.n);
	k->message = dup_n(msg, strlen(msg));
	k->used = 0;
	w->nkept++;
	return k->rule && k->pointer && k->message ? 0 : -1;
}

/* Whether the forward walk found the same change breaking forward. */
static int kept_forward(struct walk *w, const char *rule)
{
	for (int i = 0; i < w->nkept; i++) {
		kept *k = &w->kept[i];
		if (!k->used && !strcmp(k->rule, rule) && !strcmp(k->pointer, w->ptr.p)) {
			k->used = 1;
			return 1;
		}
	}
	return 0;
}

static void emit(struct walk *w, const char *rule, const char *ptr, const char *msg, int bb, int bf)
{
	eg_schema_change c = { rule, ptr, msg, bb, bf };
	int r = w->fn(w->ctx, &c);

	if (r)
		w->stop = r;
}

static void report(struct walk *w, const char *rule, int bb, int bf, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void report(struct walk *w, const char *rule, int bb, int bf, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (w->stop)
		return;
	if (eg_sbuf_reserve(&w->ptr, 1)) {
		w->stop = -1;
		return;
	}
	w->ptr.p[w->ptr.n] = 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (w->mode == WALK_FWD) {
		if (bf && keep(w, rule, msg))
			w->stop = -1;
		return;
	}
	if (w->mode == WALK_BACK)
		bf = kept_forward(w, rule);
	emit(w, rule, w->ptr.p, msg, bb, bf);
}

/* Push "/token" (RFC 6901 escapes) on the data pointer; returns the old
 * length, to restore. */
static size_t push(struct walk *w, const char *t, size_t n)
{
	size_t old = w->ptr.n;

	if (eg_sbuf_reserve(&w->ptr, 2 * n + 2)) {
		w->stop = -1;
		return old;
	}
	w->ptr.p[w->ptr.n++] = '/';
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '~' || t[i] == '/') {
			w->ptr.p[w->ptr.n++] = '~';
			w->ptr.p[w->ptr.n++] = t[i] == '~' ? '0' : '1';
		} else {
			w->ptr.p[w->ptr.n++] = t[i];
		}
	}
	return old;
}

/* ------------------------------------------------------------ node sets */

/* Add a node and the chain of $refs it applies with. */
static void set_add(const eg_schema *s, nset *st, int node)
{
	while (node >= 0 && st->n < NSET_MAX) {
		for (int i = 0; i < st->n; i++)
			if (st->id[i] == node)
				return;
		st->id[st->n++] = node;
		node = s->nodes[node].ref;
	}
}

static int set_eq(const nset *a, const nset *b)
{
	return a->n == b->n && !memcmp(a->id, b->id, (size_t)a->n * sizeof a->id[0]);
}

static unsigned side_types(const side *v)
{
	unsigned t = ST_ALL;

	if (v->synth)
		return v->synth;
	for (int i = 0; i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean == 0)
			return 0;
		if (n->boolean < 0)
			t &= n->types;
	}
	return t;
}

static void types_text(unsigned t, char *out, size_t cap)
{
	static const char *const names[] = {
		"null", "boolean", "object", "array", "number", "integer", "string"
	};
	size_t k = 0;

	out[0] = 0;
	if (t == ST_ALL) {
		snprintf(out, cap, "any");
		return;
	}
	if (!t) {
		snprintf(out, cap, "nothing");
		return;
	}
	if (t & ST_NUMBER)
		t &= ~(unsigned)ST_INTEGER;   /* a number includes integers */
	for (int i = 0; i < 7; i++)
		if (t & (1u << i))
			k += (size_t)snprintf(out + k, k < cap ? cap - k : 0, "%s%s", k ? " or " : "", names[i]);
}

/* The types of a JSON value's text (a default an upcast writes). */
static unsigned value_types(const char *v, size_t n)
{
	sdec d;

	switch (n ? v[0] : 0) {
	case '"': return ST_STRING;
	case '{': return ST_OBJECT;
	case '[': return ST_ARRAY;
	case 't': case 'f': return ST_BOOL;
	case 'n': return ST_NULL;
	}
	eg_sdec_parse(v, n, &d);
	return d.zero || d.last >= 0 ? ST_INTEGER : ST_NUMBER;
}

/* ------------------------------------------------------------ types */

static void cmp_types(struct walk *w, const side *a, const side *b)
{
	unsigned ta = side_types(a), tb = side_types(b);
	char x[96], y[96];

	if (ta == tb || (a->synth && !(ta & ~tb)))
		return;
	int bb = (ta & ~tb) != 0, bf = (tb & ~ta) != 0;
	types_text(ta, x, sizeof x);
	types_text(tb, y, sizeof y);
	report(w, bb && bf ? "type-changed" : bb ? "type-narrowed" : "type-widened", bb, bf,
	       "type changed from %s to %s", x, y);
}

/* ------------------------------------------------------------ numbers */

/* Whether a is a whole multiple of b, exactly (both > 0, at most 19
 * significant digits; longer ones are taken as not multiples). */
static int dec_multiple(const sdec *a, const sdec *b)
{
	if (a->zero)
		return 1;
	if (b->zero || a->tail || b->tail)
		return 0;
	if (a->e >= b->e) {
		/* a.m * 10^k mod b.m; past 64 steps every factor 2 and 5 of
		 * b.m (< 2^64) is used up, so more steps cannot reach 0. */
		int64_t k = a->e - b->e > 64 ? 64 : a->e - b->e;
		uint64_t r = a->m % b->m;
		while (k-- > 0 && r)
			r = (uint64_t)(((unsigned __int128)r * 10) % b->m);
		return r == 0;
	}
	if (b->e - a->e > 19)
		return 0;
	unsigned __int128 d = b->m;
	for (int64_t k = b->e - a->e; k > 0; k--)
		d *= 10;
	return (unsigned __int128)a->m % d == 0;
}

/* The node holding the strongest bound `which` among the side's nodes:
 * the highest minimum, the lowest maximum, the first multipleOf. */
static const snode *bound(const side *v, int which)
{
	const snode *best = NULL;

	if (v->synth)
		return NULL;
	for (int i = 0; i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean >= 0 || !(n->has & (SK_MIN << which)))
			continue;
		if (!best) {
			best = n;
			continue;
		}
		int c = eg_sdec_cmp(&n->num[which], &best->num[which]);
		if (((which == SNUM_MIN || which == SNUM_XMIN) && c > 0) ||
		    ((which == SNUM_MAX || which == SNUM_XMAX) && c < 0))
			best = n;
	}
	return best;
}

static void cmp_bound(struct walk *w, const side *a, const side *b, int which)
{
	static const char *const kw[] = {
		"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"
	};
	static const char *const rule[][2] = {
		{ "minimum-tightened", "minimum-loosened" },
		{ "maximum-tightened", "maximum-loosened" },
		{ "exclusive-minimum-tightened", "exclusive-minimum-loosened" },
		{ "exclusive-maximum-tightened", "exclusive-maximum-loosened" },
		{ "multiple-of-tightened", "multiple-of-loosened" },
	};
	const snode *x = bound(a, which), *y = bound(b, which);

	if (!x && !y)
		return;
	if (!x) {
		report(w, rule[which][0], 1, 0, "%s %s added", kw[which], y->numtext[which]);
		return;
	}
	if (!y) {
		report(w, rule[which][1], 0, 1, "%s %s removed", kw[which], x->numtext[which]);
		return;
	}
	int c = eg_sdec_cmp(&y->num[which], &x->num[which]);
	if (c == 0)
		return;
	if (which == SNUM_MULT) {
		/* Multiples of 0.02 are all multiples of 0.01, not the reverse. */
		if (dec_multiple(&y->num[which], &x->num[which]))
			report(w, rule[which][0], 1, 0, "multipleOf changed from %s to %s (a multiple of it)",
			       x->numtext[which], y->numtext[which]);
		else if (dec_multiple(&x->num[which], &y->num[which]))
			report(w, rule[which][1], 0, 1, "multipleOf changed from %s to %s (a divisor of it)",
			       x->numtext[which], y->numtext[which]);
		else
			report(w, "multiple-of-changed", 1, 1, "multipleOf changed from %s to %s",
			       x->numtext[which], y->numtext[which]);
		return;
	}
	int lower = which == SNUM_MIN || which == SNUM_XMIN;
	int tighter = lower ? c > 0 : c < 0;
	report(w, rule[which][tighter ? 0 : 1], tighter, !tighter, "%s %s from %s to %s", kw[which],
	       c > 0 ? "raised" : "lowered", x->numtext[which], y->numtext[which]);
}

/* ------------------------------------------------------------ counts */

enum { C_MINLEN, C_MAXLEN, C_MINITEMS, C_MAXITEMS };

/* A count of the side: the highest lower bound, the lowest upper bound;
 * absent bounds are 0 and unlimited (INT64_MAX). */
static int64_t count(const side *v, int which)
{
	int upper = which == C_MAXLEN || which == C_MAXITEMS;
	int64_t best = upper ? INT64_MAX : 0;
	static const unsigned bit[] = { SK_MINLEN, SK_MAXLEN, SK_MINITEMS, SK_MAXITEMS };

	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean >= 0 || !(n->has & bit[which]))
			continue;
		int64_t x = which == C_MINLEN ? n->minlen : which == C_MAXLEN ? n->maxlen :
			    which == C_MINITEMS ? n->minitems : n->maxitems;
		if (upper ? x < best : x > best)
			best = x;
	}
	return best;
}

static void count_text(int64_t x, char *out, size_t cap)
{
	if (x == INT64_MAX)
		snprintf(out, cap, "none");
	else
		snprintf(out, cap, "%lld", (long long)x);
}

static void cmp_count(struct walk *w, const side *a, const side *b, int which)
{
	static const char *const kw[] = { "minLength", "maxLength", "minItems", "maxItems" };
	static const char *const rule[][2] = {
		{ "min-length-tightened", "min-length-loosened" },
		{ "max-length-tightened", "max-length-loosened" },
		{ "min-items-tightened", "min-items-loosened" },
		{ "max-items-tightened", "max-items-loosened" },
	};
	int64_t x = count(a, which), y = count(b, which);
	int upper = which == C_MAXLEN || which == C_MAXITEMS;
	char xs[24], ys[24];

	if (x == y)
		return;
	int tighter = upper ? y < x : y > x;
	count_text(x, xs, sizeof xs);
	count_text(y, ys, sizeof ys);
	report(w, rule[which][tighter ? 0 : 1], tighter, !tighter, "%s changed from %s to %s",
	       kw[which], xs, ys);
}

/* ------------------------------------------------------------ strings */

static int has_pattern(const side *v, const char *p)
{
	for (int i = 0; i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && (n->has & SK_PATTERN) && !strcmp(n->pattern, p))
			return 1;
	}
	return 0;
}

/* The one pattern of a side missing from the other, or NULL; *count is
 * how many are missing. */
static const char *patterns_missing(const side *v, const side *from, int *count)
{
	const char *first = NULL;

	*count = 0;
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && (n->has & SK_PATTERN) && (from->synth || !has_pattern(from, n->pattern))) {
			if (!first)
				first = n->pattern;
			++*count;
		}
	}
	return first;
}

static void cmp_patterns(struct walk *w, const side *a, const side *b)
{
	int na, nb;
	const char *pa = patterns_missing(a, b, &na), *pb = patterns_missing(b, a, &nb);

	if (na == 1 && nb == 1) {
		report(w, "pattern-changed", 1, 1, "pattern changed from /%s/ to /%s/", pa, pb);
		return;
	}
	if (nb)
		report(w, "pattern-added", 1, 0, "pattern /%s/ added", pb);
	if (na)
		report(w, "pattern-removed", 0, 1, "pattern /%s/ removed", pa);
}

static int side_format(const side *v)
{
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && (n->has & SK_FORMAT))
			return n->format;
	}
	return SF_NONE;
}

static void cmp_format(struct walk *w, const side *a, const side *b)
{
	static const char *const names[] = { "", "date-time", "date", "email", "uuid", "uri" };
	int x = side_format(a), y = side_format(b);

	if (x == y)
		return;
	if (!x)
		report(w, "format-added", 1, 0, "format %s added", names[y]);
	else if (!y)
		report(w, "format-removed", 0, 1, "format %s removed", names[x]);
	else
		report(w, "format-changed", 1, 1, "format changed from %s to %s", names[x], names[y]);
}

/* ------------------------------------------------------------ enum, const */

/* The node whose enum or const limits the side's values (the first of its
 * chain that has one), or NULL. */
static const snode *values_node(const side *v)
{
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && (n->has & (SK_ENUM | SK_CONST)))
			return n;
	}
	return NULL;
}

/* The number of candidate values of a node, and the canonical form of
 * value i: a const is a one-value enum (an enum beside it can only remove
 * it, which allows() sees). */
static int nvalues(const snode *n)
{
	return n->has & SK_CONST ? 1 : n->nenum;
}

static const char *value_canon(const snode *n, int i, size_t *len)
{
	if (n->has & SK_CONST) {
		*len = n->cstn;
		return n->cst;
	}
	*len = n->enn[i];
	return n->en[i];
}

static int node_allows(const snode *n, const char *c, size_t len)
{
	if ((n->has & SK_CONST) && !(n->cstn == len && !memcmp(n->cst, c, len)))
		return 0;
	if (!(n->has & SK_ENUM))
		return 1;
	for (int i = 0; i < n->nenum; i++)
		if (n->enn[i] == len && !memcmp(n->en[i], c, len))
			return 1;
	return 0;
}

/* Whether a value passes every enum and const of the side (they all apply:
 * the values allowed are the intersection). */
static int allows(const side *v, const char *c, size_t len)
{
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && !node_allows(n, c, len))
			return 0;
	}
	return 1;
}

/* The JSON text of value i, as written in the schema, into out. */
static void value_text(const snode *n, int i, char *out, size_t cap)
{
	if (!(n->has & SK_ENUM) || (n->has & SK_CONST)) {
		snprintf(out, cap, "%s", n->has & SK_ENUM ? "(the const)" : n->csttext);
		return;
	}
	json_span list = { n->csttext, strlen(n->csttext), JSON_ARRAY }, e;
	json_arr it;
	int k = 0;
	eg_json_arr_begin(&it, &list);
	while (eg_json_arr_next(&it, &e))
		if (k++ == i) {
			snprintf(out, cap, "%.*s", (int)(e.n < 80 ? e.n : 80), e.p);
			return;
		}
	out[0] = 0;
}

/* The values side `from` allows that side `in` does not, each reported
 * under rule.  Candidates are those of from's first enum or const. */
static void values_missing(struct walk *w, const side *from, const side *in, const char *rule,
			   int bb, const char *verb)
{
	const snode *n = values_node(from);
	char t[96];

	for (int i = 0; i < nvalues(n) && !w->stop; i++) {
		size_t k;
		const char *c = value_canon(n, i, &k);
		if (!allows(from, c, k) || allows(in, c, k))
			continue;
		value_text(n, i, t, sizeof t);
		report(w, rule, bb, !bb, "value %s %s", t, verb);
	}
}

static void cmp_values(struct walk *w, const side *a, const side *b)
{
	const snode *x = values_node(a), *y = values_node(b);

	if (!x && !y)
		return;
	if (!x) {
		report(w, "enum-added", 1, 0, "values limited to %s", y->csttext);
		return;
	}
	if (!y) {
		report(w, "enum-removed", 0, 1, "values no longer limited to %s", x->csttext);
		return;
	}
	values_missing(w, b, a, "enum-value-added", 0, "added");
	values_missing(w, a, b, "enum-value-removed", 1, "removed");
}

/* An upcast's default against the new schema's allowed values. */
static void check_default(struct walk *w, const side *a, const side *b)
{
	const snode *y = values_node(b);
	struct scanon *cn;
	sbuf c = { 0 };

	if (!a->value || !y)
		return;
	if (!(cn = eg_scanon_new())) {
		w->stop = -1;
		return;
	}
	if (!eg_schema_canon(cn, &c, a->value, a->value + a->value_len))
		w->stop = -1;
	else if (!allows(b, c.p, c.n))
		report(w, "upcast-default-rejected", 1, 0, "the upcast's default %.*s is not among %s",
		       (int)(a->value_len < 80 ? a->value_len : 80), a->value, y->csttext);
	free(c.p);
	eg_scanon_free(cn);
}

/* ------------------------------------------------------------ walk */

static void compare(struct walk *w, const side *a, const side *b);

static void compare_at(struct walk *w, const char *tok, size_t n, const side *a, const side *b)
{
	size_t old = push(w, tok, n);

	compare(w, a, b);
	w->ptr.n = old;
}

static int unique(const side *v)
{
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && n->unique)
			return 1;
	}
	return 0;
}

static side items_of(const side *v)
{
	side r = { v->s, { 0 }, 0, NULL, 0, NULL };

	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean < 0 && n->items >= 0)
			set_add(v->s, &r.set, n->items);
	}
	return r;
}

static void cmp_arrays(struct walk *w, const side *a, const side *b)
{
	side ia = items_of(a), ib = items_of(b);
	int ua = unique(a), ub = unique(b);

	cmp_count(w, a, b, C_MINITEMS);
	cmp_count(w, a, b, C_MAXITEMS);
	if (ua != ub)
		report(w, ub ? "unique-items-added" : "unique-items-removed", ub, ua,
		       "uniqueItems changed from %s to %s", ua ? "true" : "false", ub ? "true" : "false");
	if (ia.set.n || ib.set.n)
		compare_at(w, "*", 1, &ia, &ib);
}

/* additionalProperties of a side: ADD_ANY, ADD_FALSE, or ADD_SCHEMA with
 * its nodes in *to. */
enum { ADD_ANY, ADD_FALSE, ADD_SCHEMA };

static int additional_of(const side *v, side *to)
{
	int kind = ADD_ANY;

	*to = (side){ v->s, { 0 }, 0, NULL, 0, NULL };
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *n = &v->s->nodes[v->set.id[i]];
		if (n->boolean >= 0 || n->additional == -1)
			continue;
		if (n->additional == -2)
			return ADD_FALSE;
		set_add(v->s, &to->set, n->additional);
		kind = ADD_SCHEMA;
	}
	return kind;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);

	return r ? r : an < bn ? -1 : an > bn;
}

static int member_cmp(const void *x, const void *y)
{
	const member *a = x, *b = y;

	return name_cmp(a->name, a->nn, b->name, b->nn);
}

static member *find_member(member *m, int n, const char *name, size_t nn)
{
	for (int i = 0; i < n; i++)
		if (m[i].nn == nn && !memcmp(m[i].name, name, nn))
			return &m[i];
	return NULL;
}

/* The members a side lists (from "properties" and "required" of its
 * nodes), with the overlay's changes, sorted by name.  *n their count;
 * NULL with *n -1 out of memory. */
static member *members_of(const side *v, int *n)
{
	int cap = v->ov ? v->ov->nkids : 0, k = 0;
	member *m;

	for (int i = 0; !v->synth && i < v->set.n; i++)
		cap += v->s->nodes[v->set.id[i]].nprops;
	if (!(m = calloc((size_t)cap + 1, sizeof *m))) {
		*n = -1;
		return NULL;
	}
	for (int i = 0; !v->synth && i < v->set.n; i++) {
		const snode *node = &v->s->nodes[v->set.id[i]];
		for (int j = 0; node->boolean < 0 && j < node->nprops; j++) {
			const sprop *p = &node->props[j];
			member *e = find_member(m, k, p->name, p->n);
			if (!e) {
				e = &m[k++];
				*e = (member){ p->name, p->n, { v->s, { 0 }, 0, NULL, 0, NULL }, 0, 0 };
			}
			if (p->child >= 0)
				set_add(v->s, &e->v.set, p->child);
			e->req |= p->req >= 0;
		}
	}
	for (int i = 0; v->ov && i < v->ov->nkids; i++) {
		const ovl *o = v->ov->kids[i];
		member *e = find_member(m, k, o->name, o->nn);
		if (o->absent) {
			if (e)
				*e = m[--k];
			continue;
		}
		if (!e)
			e = &m[k++];
		*e = (member){ o->name, o->nn, { v->s, o->set, o->synth, o->value, o->value_len, o },
			       o->req, o->filled };
	}
	qsort(m, (size_t)k, sizeof *m, member_cmp);
	*n = k;
	return m;
}

/* Whether the new schema gives the member a default (engram fills it in
 * old events that lack it). */
static int has_default(const struct walk *w, const side *v)
{
	for (int i = 0; i < v->set.n; i++) {
		const char *at = w->npaths ? w->npaths[v->set.id[i]] : NULL;
		if (at && eg_schema_annotation(v->s, at, "default", NULL))
			return 1;
	}
	return 0;
}

/* A member of the old version only. */
static void member_removed(struct walk *w, const member *x, int addb, const side *sb)
{
	size_t old = push(w, x->name, x->nn);

	/* Old data may carry it: the new version judges it as unlisted. */
	if (addb == ADD_SCHEMA)
		compare(w, &x->v, sb);
	report(w, "property-removed", addb == ADD_FALSE, x->req, "property \"%.*s\" removed%s",
	       (int)x->nn, x->name, x->req ? " (it was required)" : "");
	w->ptr.n = old;
}

/* A member of the new version only.  Old events never had it, or had it
 * under the old version's additionalProperties: an open old version (no
 * additionalProperties) is taken to have left the name unused. */
static void member_added(struct walk *w, const member *y, int adda, const side *sa)
{
	size_t old = push(w, y->name, y->nn);
	int dflt = y->req && has_default(w, &y->v);

	if (adda == ADD_SCHEMA)
		compare(w, sa, &y->v);
	report(w, !y->req ? "property-added-optional" : dflt ? "property-added-required-default" :
	       "property-added-required", y->req && !dflt, adda == ADD_FALSE,
	       "property \"%.*s\" added%s", (int)y->nn, y->name,
	       !y->req ? "" : dflt ? " (required, with a default)" : " (required)");
	w->ptr.n = old;
}

static void member_both(struct walk *w, const member *x, const member *y)
{
	size_t old = push(w, x->name, x->nn);

	if (x->req && !y->req)
		report(w, "property-optional", 0, 1, "property \"%.*s\" no longer required",
		       (int)x->nn, x->name);
	if (!x->req && y->req) {
		int dflt = has_default(w, &y->v);
		report(w, dflt ? "property-required-default" : "property-required", !dflt, 0,
		       "property \"%.*s\" now required%s", (int)x->nn, x->name,
		       dflt ? " (with a default)" : "");
	}
	compare(w, &x->v, &y->v);
	w->ptr.n = old;
}

static void cmp_additional(struct walk *w, int ka, const side *sa, int kb, const side *sb)
{
	if (ka == ADD_FALSE && kb != ADD_FALSE)
		report(w, "additional-opened", 0, 1, "properties not listed are now allowed");
	else if (ka != ADD_FALSE && kb == ADD_FALSE)
		report(w, "additional-closed", 1, 0, "properties not listed are no longer allowed");
	else if (ka != ADD_FALSE && (ka == ADD_SCHEMA || kb == ADD_SCHEMA))
		compare_at(w, "*", 1, sa, sb);
}

static void cmp_objects(struct walk *w, const side *a, const side *b)
{
	side sa, sb;
	int ka = additional_of(a, &sa), kb = additional_of(b, &sb), na, nb, i = 0, j = 0;
	member *ma = members_of(a, &na), *mb = members_of(b, &nb);

	if (na < 0 || nb < 0) {
		w->stop = -1;
		goto out;
	}
	cmp_additional(w, ka, &sa, kb, &sb);
	while ((i < na || j < nb) && !w->stop) {
		int c = i == na ? 1 : j == nb ? -1 : member_cmp(&ma[i], &mb[j]);
		if (c < 0)
			member_removed(w, &ma[i++], kb, &sb);
		else if (c > 0)
			member_added(w, &mb[j++], ka, &sa);
		else
			member_both(w, &ma[i++], &mb[j++]);
	}
out:
	free(ma);
	free(mb);
}

static int same_side(const side *x, const side *y)
{
	return x->synth == y->synth && x->ov == y->ov && set_eq(&x->set, &y->set);
}

/* Whether this pair is already being compared further up: a recursive
 * schema (a tree through $ref) meets itself again. */
static int seen(const struct walk *w, const side *a, const side *b)
{
	for (int i = 0; i + 1 < w->depth; i += 2)
		if (same_side(w->stack[i], a) && same_side(w->stack[i + 1], b))
			return 1;
	return w->depth >= 2 * DEPTH_MAX;
}

static void compare(struct walk *w, const side *a, const side *b)
{
	if (w->stop || seen(w, a, b))
		return;
	w->stack[w->depth++] = a;
	w->stack[w->depth++] = b;
	unsigned common = side_types(a) & side_types(b);
	cmp_types(w, a, b);
	if (a->synth) {
		/* A value the upcast makes: only its type, a default's value,
		 * and the members later operations put into it are known. */
		check_default(w, a, b);
		if (common & ST_OBJECT)
			cmp_objects(w, a, b);
	} else {
		if (common & (ST_NUMBER | ST_INTEGER))
			for (int k = 0; k < 5; k++)
				cmp_bound(w, a, b, k);
		if (common & ST_STRING) {
			cmp_count(w, a, b, C_MINLEN);
			cmp_count(w, a, b, C_MAXLEN);
			cmp_patterns(w, a, b);
			cmp_format(w, a, b);
		}
		cmp_values(w, a, b);
		if (common & ST_ARRAY)
			cmp_arrays(w, a, b);
		if (common & ST_OBJECT)
			cmp_objects(w, a, b);
	}
	w->depth -= 2;
}

/* ------------------------------------------------------------ schema paths */

static char *path_join(const char *base, const char *seg, const char *name, size_t nn)
{
	size_t bl = strlen(base), sl = strlen(seg), k = bl + sl;
	char *p = malloc(bl + sl + 2 * nn + 2);

	if (!p)
		return NULL;
	memcpy(p, base, bl);
	memcpy(p + bl, seg, sl);
	if (name) {
		p[k++] = '/';
		for (size_t i = 0; i < nn; i++) {
			if (name[i] == '~' || name[i] == '/') {
				p[k++] = '~';
				p[k++] = name[i] == '~' ? '0' : '1';
			} else {
				p[k++] = name[i];
			}
		}
	}
	p[k] = 0;
	return p;
}

/* The schema path of node and those below it, as annotations name them
 * ("/properties/price"); -1 out of memory. */
static int assign(const eg_schema *s, char **paths, int node, char *path)
{
	const snode *n = &s->nodes[node];
	int r = 0;

	if (!path)
		return -1;
	if (paths[node]) {
		free(path);
		return 0;
	}
	paths[node] = path;
	for (int i = 0; r == 0 && i < n->nprops; i++)
		if (n->props[i].child >= 0)
			r = assign(s, paths, n->props[i].child,
				   path_join(path, "/properties", n->props[i].name, n->props[i].n));
	if (r == 0 && n->items >= 0)
		r = assign(s, paths, n->items, path_join(path, "/items", NULL, 0));
	if (r == 0 && n->additional >= 0)
		r = assign(s, paths, n->additional, path_join(path, "/additionalProperties", NULL, 0));
	return r;
}

static void free_paths(char **paths, int n)
{
	for (int i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
}

static char **node_paths(const eg_schema *s)
{
	char **paths = calloc((size_t)s->nnodes + 1, sizeof *paths);
	int r;

	if (!paths)
		return NULL;
	r = assign(s, paths, 0, path_join("", "", NULL, 0));
	/* $defs entries: their path is what the $ref says, less its '#'. */
	for (int i = 0; r == 0 && i < s->nnodes; i++)
		if (s->nodes[i].ref >= 0 && s->nodes[i].reftext)
			r = assign(s, paths, s->nodes[i].ref, path_join(s->nodes[i].reftext + 1, "", NULL, 0));
	if (r) {
		free_paths(paths, s->nnodes);
		return NULL;
	}
	return paths;
}

/* ------------------------------------------------------------ the upcast overlay */

static void ov_free_kids(ovl *o)
{
	for (int i = 0; i < o->nkids; i++) {
		ov_free_kids(o->kids[i]);
		free(o->kids[i]->name);
		free(o->kids[i]);
	}
	free(o->kids);
	o->kids = NULL;
	o->nkids = o->cap = 0;
}

/* The overlay entry of member name of p, made from the old schema when
 * the upcast has not touched it yet.  A name the old version does not
 * list is absent (see member_added). */
static ovl *ov_kid(const eg_schema *s, ovl *p, const char *name, size_t nn)
{
	for (int i = 0; i < p->nkids; i++)
		if (p->kids[i]->nn == nn && !memcmp(p->kids[i]->name, name, nn))
			return p->kids[i];
	if (p->nkids == p->cap) {
		int cap = p->cap ? 2 * p->cap : 4;
		ovl **k = realloc(p->kids, (size_t)cap * sizeof *k);
		if (!k)
			return NULL;
		p->kids = k;
		p->cap = cap;
	}
	ovl *k = calloc(1, sizeof *k);
	if (!k || !(k->name = dup_n(name, nn))) {
		free(k);
		return NULL;
	}
	k->nn = nn;
	k->absent = 1;
	side v = { s, p->set, p->synth, NULL, 0, NULL };
	int n;
	member *m = p->absent ? NULL : members_of(&v, &n);
	member *e = m ? find_member(m, n, name, nn) : NULL;
	if (e) {
		k->absent = 0;
		k->set = e->v.set;
		k->req = e->req;
	}
	free(m);
	p->kids[p->nkids++] = k;
	return k;
}

/* Split a JSON pointer into its decoded tokens, in place: "/a/b~1c" gives
 * 2 tokens.  Returns their count, 0 for "" or a pointer with "*" (which
 * this walk cannot follow), -1 when there are more than max. */
static int tokens(char *p, char **tok, size_t *len, int max)
{
	int n = 0;

	if (!p || p[0] != '/')
		return 0;
	while (*p == '/') {
		char *q = ++p, *o = p;
		if (n == max)
			return -1;
		tok[n] = o;
		while (*q && *q != '/') {
			if (q[0] == '~' && (q[1] == '0' || q[1] == '1')) {
				*o++ = q[1] == '0' ? '~' : '/';
				q += 2;
			} else {
				*o++ = *q++;
			}
		}
		len[n] = (size_t)(o - tok[n]);
		if (len[n] == 1 && tok[n][0] == '*')
			return 0;
		n++;
		p = q;
		if (*p == 0)
			*o = 0;
	}
	return n;
}

#define TOK_MAX 32

/* The overlay entry at a data pointer (made along the way); NULL for a
 * pointer the walk cannot follow (*bad set) or out of memory. */
static ovl *ov_at(const eg_schema *s, ovl *root, const char *ptr, int *bad)
{
	char *tok[TOK_MAX], *copy = dup_n(ptr ? ptr : "", ptr ? strlen(ptr) : 0);
	size_t len[TOK_MAX];
	ovl *o = root;
	int n;

	*bad = 0;
	if (!copy)
		return NULL;
	n = tokens(copy, tok, len, TOK_MAX);
	if (n <= 0)
		*bad = 1;
	for (int i = 0; i < n && o; i++)
		o = ov_kid(s, o, tok[i], len[i]);
	free(copy);
	return n > 0 ? o : NULL;
}

/* Take the member at ptr out of the old data: its entry becomes absent,
 * and what was there is returned (the caller puts or frees it). */
static ovl *ov_take(const eg_schema *s, ovl *root, const char *ptr, int *bad)
{
	ovl *o = ov_at(s, root, ptr, bad), *t;

	if (!o || !(t = malloc(sizeof *t)))
		return NULL;
	*t = *o;
	t->name = NULL;
	char *name = o->name;
	size_t nn = o->nn;
	memset(o, 0, sizeof *o);
	o->name = name;
	o->nn = nn;
	o->absent = 1;
	return t;
}

/* Put a taken member at ptr; an absent one changes nothing there (an
 * operation whose source is absent does nothing). */
static int ov_put(const eg_schema *s, ovl *root, const char *ptr, ovl *t, int *bad)
{
	ovl *o;

	if (t->absent) {
		ov_free_kids(t);
		free(t);
		return 0;
	}
	if (!(o = ov_at(s, root, ptr, bad))) {
		ov_free_kids(t);
		free(t);
		return *bad ? 0 : -1;
	}
	ov_free_kids(o);
	t->name = o->name;
	t->nn = o->nn;
	*o = *t;
	free(t);
	return 0;
}

/* The pointer of rename's target: path with its last token replaced. */
static char *renamed(const char *path, const char *to)
{
	const char *slash = strrchr(path, '/');
	char *base = dup_n(path, slash ? (size_t)(slash - path) : 0);
	char *r = base && to ? path_join(base, "", to, strlen(to)) : NULL;

	free(base);
	return r;
}

/* Move the member at from to to (rename, move). */
static int ov_move(const eg_schema *s, ovl *root, const char *from, const char *to, int *bad)
{
	ovl *t = ov_take(s, root, from, bad);

	if (!t)
		return *bad ? 0 : -1;
	return ov_put(s, root, to, t, bad);
}

/* Targets of split and join: strings, present when the sources were. */
static int ov_made(const eg_schema *s, ovl *root, const char *ptr, int req, int absent, int *bad)
{
	ovl *t = calloc(1, sizeof *t);

	if (!t)
		return -1;
	t->synth = ST_STRING;
	t->req = req;
	t->absent = absent;
	return ov_put(s, root, ptr, t, bad);
}

static int ov_split(const eg_schema *s, ovl *root, const eg_upcast_op *op, int *bad)
{
	ovl *t = ov_take(s, root, op->from, bad);
	int r = 0;

	if (!t)
		return *bad ? 0 : -1;
	for (size_t i = 0; r == 0 && !*bad && i < op->npath; i++)
		r = ov_made(s, root, op->paths[i], t->req, t->absent, bad);
	ov_free_kids(t);
	free(t);
	return r;
}

static int ov_join(const eg_schema *s, ovl *root, const eg_upcast_op *op, int *bad)
{
	int req = 1, absent = 1;

	for (size_t i = 0; i < op->nfrom && !*bad; i++) {
		ovl *t = ov_take(s, root, op->froms[i], bad);
		if (!t)
			return *bad ? 0 : -1;
		req &= t->req;
		absent &= t->absent;
		ov_free_kids(t);
		free(t);
	}
	return *bad ? 0 : ov_made(s, root, op->path, req && !absent, absent, bad);
}

/* The members of an object the upcast writes whole: each present, of the
 * type of its value. */
static int ov_value_members(const eg_schema *s, ovl *o)
{
	json_obj it;
	json_span k, v;

	if (eg_json_obj_begin(&it, o->value, o->value_len, NULL))
		return 0;
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1) {
		char *name = malloc(k.n);
		size_t nn;
		if (!name)
			return -1;
		nn = eg_json_string_decode(&k, name);
		ovl *m = ov_kid(s, o, name, nn);
		free(name);
		if (!m)
			return -1;
		if (!m->absent)
			continue;   /* put there by an earlier operation */
		m->absent = 0;
		m->req = 1;
		m->synth = value_types(v.p, v.n);
		m->value = v.p;
		m->value_len = v.n;
		if (m->synth == ST_OBJECT && ov_value_members(s, m))
			return -1;
	}
	return 0;
}

static int ov_default(const eg_schema *s, ovl *root, const eg_upcast_op *op, int *bad)
{
	ovl *o = ov_at(s, root, op->path, bad);

	if (!o)
		return *bad ? 0 : -1;
	if (o->absent) {
		/* A member the old version never had: the default is all of it
		 * (with what earlier operations moved into it). */
		o->absent = 0;
		o->synth = value_types(op->value, op->value_len);
		o->value = op->value;
		o->value_len = op->value_len;
		if (o->synth == ST_OBJECT && ov_value_members(s, o))
			return -1;
	}
	o->req = 1;
	o->filled = 1;
	return 0;
}

static int ov_scale(const eg_schema *s, ovl *root, const eg_upcast_op *op, int *bad)
{
	ovl *o = ov_at(s, root, op->path, bad);

	if (!o)
		return *bad ? 0 : -1;
	if (!o->absent) {
		ov_free_kids(o);
		o->synth = ST_NUMBER | ST_INTEGER;
		o->set.n = 0;
	}
	return 0;
}

static const char *op_pointer(const eg_upcast_op *op)
{
	if (op->op == UP_SPLIT || op->op == UP_MOVE)
		return op->from;
	if (op->op == UP_JOIN)
		return op->nfrom ? op->froms[0] : "";
	return op->path;
}

/* One operation on the overlay; an operation on a path the walk cannot
 * follow ("*", the root) is reported as unchecked. */
static int ov_apply(struct walk *w, ovl *root, const eg_upcast_op *op)
{
	int bad = 0, r = 0;
	char *to;

	switch (op->op) {
	case UP_RENAME:
		if (!(to = renamed(op->path ? op->path : "", op->to)))
			return op->to ? -1 : 0;
		r = ov_move(w->o, root, op->path, to, &bad);
		free(to);
		break;
	case UP_MOVE: r = ov_move(w->o, root, op->from, op->path, &bad); break;
	case UP_DROP: {
		ovl *t = ov_take(w->o, root, op->path, &bad);
		if (t) {
			ov_free_kids(t);
			free(t);
		} else if (!bad) {
			r = -1;
		}
		break;
	}
	case UP_DEFAULT: r = ov_default(w->o, root, op, &bad); break;
	case UP_SCALE: r = ov_scale(w->o, root, op, &bad); break;
	case UP_SPLIT: r = ov_split(w->o, root, op, &bad); break;
	case UP_JOIN: r = ov_join(w->o, root, op, &bad); break;
	}
	if (r == 0 && bad) {
		/* The change names the operation's own pointer. */
		const char *p = op_pointer(op);
		size_t n = p ? strlen(p) : 0;
		w->ptr.n = 0;
		if (eg_sbuf_reserve(&w->ptr, n + 1))
			return -1;
		memcpy(w->ptr.p, p ? p : "", n);
		w->ptr.n = n;
		report(w, "upcast-unchecked", 0, 0, "an upcast operation on %s is not followed by the comparison",
		       n ? p : "the whole value");
	}
	return r;
}

/* ------------------------------------------------------------ API */

static void walk_free(struct walk *w)
{
	free_paths(w->npaths, w->n->nnodes);
	free(w->ptr.p);
	for (int i = 0; i < w->nkept; i++) {
		free(w->kept[i].rule);
		free(w->kept[i].pointer);
		free(w->kept[i].message);
	}
	free(w->kept);
}

static void walk_root(struct walk *w, const ovl *ov)
{
	side a = { w->o, { 0 }, 0, NULL, 0, ov }, b = { w->n, { 0 }, 0, NULL, 0, NULL };

	set_add(w->o, &a.set, 0);
	set_add(w->n, &b.set, 0);
	w->ptr.n = 0;
	w->depth = 0;
	compare(w, &a, &b);
}

int eg_schema_diff(const eg_schema *old, const eg_schema *new_, const eg_upcast *up,
		   int (*fn)(void *ctx, const eg_schema_change *c), void *ctx)
{
	struct walk w = { 0 };
	ovl root = { 0 };

	w.o = old;
	w.n = new_;
	w.fn = fn;
	w.ctx = ctx;
	if (!(w.npaths = node_paths(new_)))
		return -1;
	if (!up || !up->n) {
		w.mode = WALK_BOTH;
		walk_root(&w, NULL);
		goto out;
	}
	/* Forward: old readers see new data as written; kept, to be matched
	 * with the same change seen backward, through the upcast. */
	w.mode = WALK_FWD;
	walk_root(&w, NULL);
	w.mode = WALK_BACK;
	set_add(old, &root.set, 0);
	root.req = 1;
	for (size_t i = 0; i < up->n && !w.stop; i++)
		if (ov_apply(&w, &root, &up->ops[i]))
			w.stop = -1;
	if (!w.stop)
		walk_root(&w, &root);
	for (int i = 0; i < w.nkept && !w.stop; i++)
		if (!w.kept[i].used)
			emit(&w, w.kept[i].rule, w.kept[i].pointer, w.kept[i].message, 0, 1);
out:
	ov_free_kids(&root);
	walk_free(&w);
	return w.stop;
}

static const char *const mode_names[] = {
	"none", "backward", "backward_transitive", "forward", "forward_transitive",
	"full", "full_transitive"
};

int eg_compat_mode_parse(const char *s)
{
	for (int i = 0; s && i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
		if (!strcmp(s, mode_names[i]))
			return i;
	return -1;
}

const char *eg_compat_mode_name(int mode)
{
	return mode >= 0 && mode < (int)(sizeof mode_names / sizeof mode_names[0]) ? mode_names[mode] : NULL;
}

int eg_compat_checks_backward(int mode)
{
	return mode == EG_COMPAT_BACKWARD || mode == EG_COMPAT_BACKWARD_TRANSITIVE ||
	       mode == EG_COMPAT_FULL || mode == EG_COMPAT_FULL_TRANSITIVE;
}

int eg_compat_checks_forward(int mode)
{
	return mode == EG_COMPAT_FORWARD || mode == EG_COMPAT_FORWARD_TRANSITIVE ||
	       mode == EG_COMPAT_FULL || mode == EG_COMPAT_FULL_TRANSITIVE;
}

struct compat {
	int back, fwd, broken;
	int (*fn)(void *ctx, const eg_schema_change *c);
	void *ctx;
};

static int compat_change(void *ctx, const eg_schema_change *c)
{
	struct compat *k = ctx;

	if (!(k->back && c->breaks_backward) && !(k->fwd && c->breaks_forward))
		return 0;
	k->broken = 1;
	return k->fn ? k->fn(k->ctx, c) : 0;
}

int eg_schema_compatible(const eg_schema *old, const eg_schema *new_, const eg_upcast *up,
			 int mode, int (*fn)(void *ctx, const eg_schema_change *c), void *ctx)
{
	struct compat k = { eg_compat_checks_backward(mode), eg_compat_checks_forward(mode), 0, fn, ctx };
	int r;

	if (!k.back && !k.fwd)
		return 0;
	r = eg_schema_diff(old, new_, up, compat_change, &k);
	return r ? r : k.broken;
}

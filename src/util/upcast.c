/*
 * upcast.c — upcast documents (upcast.h): parsing the list of operations,
 * with every error naming its place in the document, and applying it to
 * one data object.  Applying builds a small tree of spans over the data
 * text, expanded only along the paths the operations walk, mutates it and
 * writes it back: a value no operation touches is copied as its original
 * text, so number spellings, escapes and member order survive.  Applying
 * is on every read of an old event, so it is kept cheap: the data is
 * walked without being validated again, each thread reuses its tree and
 * buffers, and untouched neighbouring members are copied as one run.
 */
#include "upcast.h"
#include "buf.h"
#include "json.h"
#include "num.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ pointers */

/* One token of a JSON pointer, decoded (~0 and ~1 undone). */
typedef struct uptok {
	const char *s;
	size_t n;
} uptok;

/* A pointer split into tokens; the decoded bytes live in dec. */
typedef struct upptr {
	uptok *t;
	size_t n;
	char *dec;
} upptr;

static int tok_is_star(const uptok *t)
{
	return t->n == 1 && t->s[0] == '*';
}

static void ptr_free(upptr *p)
{
	free(p->t);
	free(p->dec);
	p->t = NULL;
	p->dec = NULL;
}

static size_t ptr_ntok(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '/';
	return n;
}

/* Split pointer text p[0..len) (already checked by ptr_check) into its
 * ptr_ntok tokens at t, decoding into dec (len bytes). */
static void ptr_split_into(const char *p, size_t len, uptok *t, char *dec)
{
	size_t k = 0;

	for (size_t i = 0; i < len;) {
		uptok *x = &t[k++];    /* p[i] is a '/' */
		i++;
		/* decoded tokens are no longer than raw ones: each is written
		 * where its raw text starts, so they never overlap */
		char *o = dec + i;
		x->s = o;
		for (; i < len && p[i] != '/'; i++) {
			if (p[i] == '~' && i + 1 < len) {
				*o++ = p[i + 1] == '1' ? '/' : '~';
				i++;
			} else {
				*o++ = p[i];
			}
		}
		x->n = (size_t)(o - x->s);
	}
}

/* Split pointer text p into tokens (malloc'd); -1 if out of memory. */
static int ptr_split(const char *p, upptr *out)
{
	size_t len = strlen(p);

	out->n = ptr_ntok(p, len);
	out->t = malloc((out->n ? out->n : 1) * sizeof *out->t);
	out->dec = malloc(len + 1);
	if (!out->t || !out->dec) {
		ptr_free(out);
		return -1;
	}
	ptr_split_into(p, len, out->t, out->dec);
	return 0;
}

/* NULL if the decoded string s[0..n) is a pointer we accept, else what
 * was expected. */
static const char *ptr_check(const char *s, size_t n)
{
	if (n == 0 || s[0] != '/')
		return "expected a JSON pointer beginning with '/'";
	if (memchr(s, 0, n))
		return "expected a JSON pointer without NUL characters";
	for (size_t i = 0; i < n; i++)
		if (s[i] == '~' && (i + 1 == n || (s[i + 1] != '0' && s[i + 1] != '1')))
			return "expected ~0 or ~1 after '~' in a JSON pointer";
	const char *last = s;
	for (const char *q = s; (q = memchr(q, '/', (size_t)(s + n - q))); q++)
		last = q;
	if (s + n - last == 2 && last[1] == '*')
		return "expected a member name as the last token, not '*'";
	return NULL;
}

/* ------------------------------------------------------------- parsing */

static const char *const op_names[] = {
	"rename", "move", "default", "drop", "scale", "split", "join"
};

/* The members each operation takes, besides "op". */
enum { M_PATH, M_FROM, M_TO, M_VALUE, M_FACTOR, M_SEP, M_N };
static const char *const member_names[M_N] = {
	"path", "from", "to", "value", "factor", "separator"
};
static const unsigned op_members[] = {
	[UP_RENAME] = 1u << M_PATH | 1u << M_TO,
	[UP_MOVE] = 1u << M_FROM | 1u << M_PATH,
	[UP_DEFAULT] = 1u << M_PATH | 1u << M_VALUE,
	[UP_DROP] = 1u << M_PATH,
	[UP_SCALE] = 1u << M_PATH | 1u << M_FACTOR,
	[UP_SPLIT] = 1u << M_FROM | 1u << M_SEP | 1u << M_PATH,
	[UP_JOIN] = 1u << M_FROM | 1u << M_SEP | 1u << M_PATH,
};

#define PATH_SHOWN 120

struct pctx {
	char *err;
	size_t errlen;
	char path[PATH_SHOWN + 8];   /* the document path of the operation */
	int failed;
};

static int perr(struct pctx *c, const char *member, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (c->failed)
		return -1;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s%s%s: %s", c->path[0] || member ? c->path : "(root)",
			 member ? "/" : "", member ? member : "", msg);
	return -1;
}

/* A pointer member: a string we accept as a pointer, copied to *out. */
static int get_ptr(struct pctx *c, const char *member, const json_span *v, char **out)
{
	size_t n;

	if (v->type != JSON_STRING)
		return perr(c, member, "expected a JSON pointer beginning with '/'");
	char *p = eg_json_string_dup(v, &n);
	if (!p)
		return perr(c, member, "out of memory");
	const char *why = ptr_check(p, n);
	if (why) {
		free(p);
		return perr(c, member, "%s", why);
	}
	*out = p;
	return 0;
}

/* An array of at least min pointers, each checked at member/i. */
static int get_ptrs(struct pctx *c, const char *member, const json_span *v, size_t min,
		    char ***out, size_t *nout)
{
	json_arr it;
	json_span e;
	size_t k = 0;

	if (v->type != JSON_ARRAY)
		goto bad;
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e))
		k++;
	if (k < min)
		goto bad;
	*out = calloc(k, sizeof **out);
	if (!*out)
		return perr(c, member, "out of memory");
	*nout = k;
	eg_json_arr_begin(&it, v);
	for (size_t i = 0; eg_json_arr_next(&it, &e); i++) {
		char name[32];
		snprintf(name, sizeof name, "%s/%zu", member, i);
		if (get_ptr(c, name, &e, &(*out)[i]))
			return -1;
	}
	return 0;
bad:
	return perr(c, member, "expected an array of at least %zu JSON pointer%s", min, min > 1 ? "s" : "");
}

static char *minified(const json_span *v, size_t *n)
{
	char *p = malloc(v->n + 1);

	if (!p)
		return NULL;
	*n = eg_json_minify(v, p);
	p[*n] = 0;
	return p;
}

static int get_op_name(struct pctx *c, const json_span *v, int *op)
{
	*op = eg_json_string_index(v, op_names, (int)(sizeof op_names / sizeof op_names[0]));
	if (*op >= 0)
		return 0;
	return perr(c, "op", "expected one of rename, move, default, drop, scale, split, join");
}

/* The RFC 6901 form of a member name, for error paths (cut when long). */
static void escape_name(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 3 < cap; i++) {
		if (s[i] == '~' || s[i] == '/') {
			out[k++] = '~';
			out[k++] = s[i] == '~' ? '0' : '1';
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = 0;
}

/* The op's members sorted by name: which are present, and an unknown one. */
struct members {
	json_span v[M_N];
	unsigned has;
	json_span op;
	int has_op;
	json_span other[8];    /* members not in member_names, the first few */
	int nother;
};

static int collect(struct pctx *c, const json_span *obj, struct members *m)
{
	json_obj it;
	json_span key, val;
	int r;

	memset(m, 0, sizeof *m);
	if (eg_json_obj_begin(&it, obj->p, obj->n, NULL))
		return perr(c, NULL, "expected an object (an operation)");
	while ((r = eg_json_obj_next(&it, &key, &val, NULL)) == 1) {
		char name[16];
		size_t k = key.n <= sizeof name ? eg_json_string_decode(&key, name) : sizeof name + 1;
		int i;
		if (k == 2 && !memcmp(name, "op", 2)) {
			m->op = val;
			m->has_op = 1;
			continue;
		}
		for (i = 0; i < M_N; i++)
			if (strlen(member_names[i]) == k && !memcmp(name, member_names[i], k))
				break;
		if (i < M_N) {
			m->v[i] = val;
			m->has |= 1u << i;
		} else if (m->nother < 8) {
			m->other[m->nother++] = key;
		}
	}
	return r < 0 ? perr(c, NULL, "expected an object (an operation)") : 0;
}

static int check_members(struct pctx *c, const struct members *m, int op)
{
	unsigned want = op_members[op];

	if (m->nother) {
		char *name = eg_json_string_dup(&m->other[0], NULL);
		char esc[64];
		if (!name)
			return perr(c, NULL, "out of memory");
		escape_name(name, strlen(name), esc, sizeof esc);
		free(name);
		return perr(c, esc, "not a member of a %s operation", op_names[op]);
	}
	for (int i = 0; i < M_N; i++)
		if ((m->has >> i & 1) && !(want >> i & 1))
			return perr(c, member_names[i], "not a member of a %s operation", op_names[op]);
	for (int i = 0; i < M_N; i++)
		if ((want >> i & 1) && !(m->has >> i & 1))
			return perr(c, member_names[i], "missing (a %s operation needs it)", op_names[op]);
	return 0;
}

static int get_separator(struct pctx *c, const json_span *v, int nonempty, eg_upcast_op *o)
{
	if (v->type != JSON_STRING || (nonempty && v->n == 2))
		return perr(c, "separator", nonempty ? "expected a non-empty string" : "expected a string");
	o->separator = eg_json_string_dup(v, &o->separator_len);
	return o->separator ? 0 : perr(c, "separator", "out of memory");
}

static int get_factor(struct pctx *c, const json_span *v, eg_upcast_op *o)
{
	num f;
	size_t n;

	if (v->type != JSON_NUMBER)
		return perr(c, "factor", "expected a nonzero number");
	eg_num_parse(v->p, v->n, &f);
	if (eg_num_double(&f) == 0 && (f.exact ? f.m == 0 : 1))
		return perr(c, "factor", "expected a nonzero number");
	o->factor = minified(v, &n);
	return o->factor ? 0 : perr(c, "factor", "out of memory");
}

static int get_to(struct pctx *c, const json_span *v, eg_upcast_op *o)
{
	size_t n;

	if (v->type != JSON_STRING)
		return perr(c, "to", "expected a member name (a string)");
	o->to = eg_json_string_dup(v, &n);
	if (!o->to)
		return perr(c, "to", "out of memory");
	if (strlen(o->to) != n)
		return perr(c, "to", "expected a member name without NUL characters");
	return 0;
}

static int fill_op(struct pctx *c, const struct members *m, eg_upcast_op *o)
{
	const json_span *v = m->v;

	switch (o->op) {
	case UP_RENAME:
		return get_ptr(c, "path", &v[M_PATH], &o->path) || get_to(c, &v[M_TO], o) ? -1 : 0;
	case UP_MOVE:
		return get_ptr(c, "from", &v[M_FROM], &o->from) || get_ptr(c, "path", &v[M_PATH], &o->path) ? -1 : 0;
	case UP_DEFAULT:
		if (get_ptr(c, "path", &v[M_PATH], &o->path))
			return -1;
		o->value = minified(&v[M_VALUE], &o->value_len);
		return o->value ? 0 : perr(c, "value", "out of memory");
	case UP_DROP:
		return get_ptr(c, "path", &v[M_PATH], &o->path);
	case UP_SCALE:
		return get_ptr(c, "path", &v[M_PATH], &o->path) || get_factor(c, &v[M_FACTOR], o) ? -1 : 0;
	case UP_SPLIT:
		if (get_ptr(c, "from", &v[M_FROM], &o->from) || get_separator(c, &v[M_SEP], 1, o))
			return -1;
		return get_ptrs(c, "path", &v[M_PATH], 2, &o->paths, &o->npath);
	default:
		if (get_ptrs(c, "from", &v[M_FROM], 1, &o->froms, &o->nfrom) || get_separator(c, &v[M_SEP], 0, o))
			return -1;
		return get_ptr(c, "path", &v[M_PATH], &o->path);
	}
}

/* The i-th pointer of an operation in document order (from, froms,
 * path, paths), its member path for errors in name (unless name is NULL:
 * applying needs no names); NULL past the end. */
static const char *op_ptr(const eg_upcast_op *o, size_t i, char *name, size_t cap)
{
	const char *what = "path", *p;
	int indexed = 0;

	if (o->from && i-- == 0) {
		what = "from";
		p = o->from;
	} else if (i < o->nfrom) {
		what = "from";
		p = o->froms[i];
		indexed = 1;
	} else {
		i -= o->nfrom;
		if (o->path && i-- == 0) {
			p = o->path;
		} else if (i < o->npath) {
			p = o->paths[i];
			indexed = 1;
		} else {
			return NULL;
		}
	}
	if (name && indexed)
		snprintf(name, cap, "%s/%zu", what, i);
	else if (name)
		snprintf(name, cap, "%s", what);
	return p;
}

static size_t op_nptr(const eg_upcast_op *o)
{
	return (o->from != NULL) + o->nfrom + (o->path != NULL) + o->npath;
}

/* The last '*' token of any pointer of the operation (-1 if none). */
static long last_star(const upptr *pp, size_t np)
{
	long w = -1;

	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < pp[i].n; j++)
			if (tok_is_star(&pp[i].t[j]) && (long)j > w)
				w = (long)j;
	return w;
}

static int same_prefix(const upptr *a, const upptr *b, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (a->t[j].n != b->t[j].n || memcmp(a->t[j].s, b->t[j].s, a->t[j].n))
			return 0;
	return 1;
}

/* Split every pointer of o into pp[0..op_nptr(o)); -1 if out of memory
 * (nothing left allocated). */
static int op_tokens(const eg_upcast_op *o, upptr *pp)
{
	char name[32];
	size_t np = op_nptr(o);

	for (size_t i = 0; i < np; i++) {
		if (ptr_split(op_ptr(o, i, name, sizeof name), &pp[i])) {
			while (i--)
				ptr_free(&pp[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * An operation with several pointers (move, split, join) is applied
 * inside each value the wildcards reach, so every pointer of it must
 * share the tokens up to the last '*' and name a member after it.
 */
static int check_stars(struct pctx *c, const eg_upcast_op *o)
{
	size_t np = op_nptr(o);
	upptr *pp = calloc(np, sizeof *pp);
	char name[32], other[32];
	int r = 0;

	if (!pp || op_tokens(o, pp)) {
		free(pp);
		return perr(c, NULL, "out of memory");
	}
	long w = last_star(pp, np);
	for (size_t i = 0; i < np && w >= 0 && !r; i++) {
		if (pp[i].n > (size_t)w + 1 && same_prefix(&pp[i], &pp[0], (size_t)w + 1))
			continue;
		op_ptr(o, i, name, sizeof name);
		op_ptr(o, i == 0 ? np - 1 : 0, other, sizeof other);
		r = perr(c, name, "expected the same tokens up to the last '*' as %s, and a member name after it",
			 other);
	}
	for (size_t i = 0; i < np; i++)
		ptr_free(&pp[i]);
	free(pp);
	return r;
}

static void op_free(eg_upcast_op *o)
{
	free(o->from);
	free(o->path);
	free(o->to);
	for (size_t i = 0; i < o->nfrom; i++)
		free(o->froms[i]);
	free(o->froms);
	for (size_t i = 0; i < o->npath; i++)
		free(o->paths[i]);
	free(o->paths);
	free(o->value);
	free(o->factor);
	free(o->separator);
}

void eg_upcast_free(eg_upcast *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		op_free(&u->ops[i]);
	free(u->ops);
	free(u);
}

static int parse_op(struct pctx *c, const json_span *e, eg_upcast_op *o)
{
	struct members m;

	if (e->type != JSON_OBJECT)
		return perr(c, NULL, "expected an object (an operation)");
	if (collect(c, e, &m))
		return -1;
	if (!m.has_op)
		return perr(c, "op", "missing (expected one of rename, move, default, drop, scale, split, join)");
	if (get_op_name(c, &m.op, &o->op) || check_members(c, &m, o->op) || fill_op(c, &m, o))
		return -1;
	return o->op == UP_MOVE || o->op == UP_SPLIT || o->op == UP_JOIN ? check_stars(c, o) : 0;
}

static json_span trimmed(const char *s, size_t n)
{
	json_span v;

	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	v.p = s;
	v.n = n;
	v.type = n && s[0] == '[' ? JSON_ARRAY : JSON_NULL;
	return v;
}

int eg_upcast_parse(const char *json, size_t n, eg_upcast **out, char *err, size_t errlen)
{
	struct pctx c = { .err = err, .errlen = errlen };
	json_err je = { 0, NULL };
	json_arr it;
	json_span root, e;
	size_t k = 0;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (eg_json_validate(json, n, &je)) {
		if (errlen)
			snprintf(err, errlen, "(root): invalid JSON at byte %zu: %s", je.off, je.what);
		return -1;
	}
	root = trimmed(json, n);
	if (root.type != JSON_ARRAY)
		return perr(&c, NULL, "expected an array of operations");
	eg_json_arr_begin(&it, &root);
	while (eg_json_arr_next(&it, &e))
		k++;
	eg_upcast *u = calloc(1, sizeof *u);
	if (!u || (k && !(u->ops = calloc(k, sizeof *u->ops)))) {
		free(u);
		return perr(&c, NULL, "out of memory");
	}
	eg_json_arr_begin(&it, &root);
	while (eg_json_arr_next(&it, &e)) {
		snprintf(c.path, sizeof c.path, "/%zu", u->n);
		if (parse_op(&c, &e, &u->ops[u->n++])) {
			eg_upcast_free(u);
			return -1;
		}
	}
	*out = u;
	return 0;
}

/* ------------------------------------------------------------ the tree */

/* Text of a node: at p (the data, or an operation's value) or, when p is
 * NULL, at off in the scratch buffer, which may move as it grows. */
typedef struct utext {
	const char *p;
	size_t off, n;
	int esc;               /* a key's text holds a backslash (an escape) */
} utext;

/*
 * A value of the data.  Not expanded, it is its text; expanded (objects and
 * arrays an operation walked into), it is its children, linked by next,
 * each object member with its key as JSON string text.  Nodes are indices
 * into one array, so that growing it moves nothing anybody holds.
 */
typedef struct unode {
	utext key, val;
	int type;              /* enum json_type */
	int expanded;
	int first, last, next;
} unode;

struct actx {
	unode *v;
	size_t n, cap;
	buf scratch;           /* texts made by operations: keys, numbers, strings */
	buf tmp;               /* a key decoded for comparison */
	buf str;               /* split's source, join's result, decoded */
	buf toks;              /* the current operation's pointers, split */
	const char *data, *data_end;   /* the text being upcast */
	int data_plain;        /* no byte of it below '!': already minified */
	int oom;
};

static const char *txt(const struct actx *a, const utext *t)
{
	return t->p ? t->p : a->scratch.p + t->off;
}

static int new_node(struct actx *a, int type)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		unode *v = cap <= INT_MAX ? realloc(a->v, cap * sizeof *v) : NULL;
		if (!v) {
			a->oom = 1;
			return -1;
		}
		a->v = v;
		a->cap = cap;
	}
	/* field by field: a whole-struct clear compiles to rep stos, whose
	 * start-up cost was a tenth of a small apply */
	unode *x = &a->v[a->n];
	x->key.p = x->val.p = NULL;
	x->key.off = x->key.n = x->val.off = x->val.n = 0;
	x->key.esc = x->val.esc = 0;
	x->type = type;
	x->expanded = 0;
	x->first = x->last = x->next = -1;
	return (int)a->n++;
}

static void add_child(struct actx *a, int parent, int c)
{
	a->v[c].next = -1;
	if (a->v[parent].last < 0)
		a->v[parent].first = c;
	else
		a->v[a->v[parent].last].next = c;
	a->v[parent].last = c;
}

/* A node for the value text [p, p+n) (not in scratch). */
static int span_node(struct actx *a, const char *p, size_t n, int type)
{
	int c = new_node(a, type);

	if (c >= 0) {
		a->v[c].val.p = p;
		a->v[c].val.n = n;
	}
	return c;
}

/* Past the value at p in text known to be valid JSON (bounded by end
 * whatever the bytes): strings by eg_json_string_end, containers by
 * counting brackets outside strings, scalars to the next delimiter. */
static const char *value_end(const char *p, const char *end)
{
	if (*p == '"')
		return eg_json_string_end(p, end, NULL);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && (unsigned char)*p > ' ')
			p++;
		return p;
	}
	for (size_t d = 0; p < end;) {
		char c = *p;
		if (c == '"') {
			p = eg_json_string_end(p, end, NULL);
			continue;
		}
		p++;
		if (c == '{' || c == '[')
			d++;
		else if ((c == '}' || c == ']') && --d == 0)
			break;
	}
	return p;
}

/* Past the key (a string) at p, byte by byte: keys are short, shorter than
 * what eg_json_string_end's eight-byte steps pay off on; *esc set if it
 * holds an escape. */
static const char *key_end(const char *p, const char *end, int *esc)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*esc = 1;
			if (++p == end)
				break;
		}
	}
	return end;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * Give a container node its children.  Containers always have their text
 * outside scratch (the data, or an operation's value, validated when the
 * document was parsed), so the spans stay put.  The data is valid JSON
 * (callers promise it: it was validated when appended), so the walk does
 * not validate again; it only follows the structure, and fails where that
 * is broken (no closing bracket, or more than whitespace after it).  0, or
 * -1 (out of memory or broken text: the node stays as it was).
 */
static int expand(struct actx *a, int x)
{
	unode *w = &a->v[x];
	int obj = w->type == JSON_OBJECT;

	if (w->expanded)
		return 0;
	if (!w->val.p || (!obj && w->type != JSON_ARRAY))
		return -1;
	const char *p = w->val.p, *end = p + w->val.n;
	p = skip_ws(p, end);
	if (p == end || *p != (obj ? '{' : '['))
		return -1;
	p = skip_ws(p + 1, end);
	while (p < end && *p != (obj ? '}' : ']')) {
		const char *k = p, *ke = p;
		int esc = 0;
		if (obj) {
			ke = key_end(k, end, &esc);
			p = skip_ws(ke, end);
			p = skip_ws(p + (p < end), end);     /* the ':' */
		}
		if (p >= end)
			break;
		const char *v = p;
		p = value_end(v, end);
		if (p == v)             /* not valid text: no way on */
			break;
		int c = span_node(a, v, (size_t)(p - v), eg_json_type_of(*v));
		if (c < 0) {
			a->v[x].first = a->v[x].last = -1;
			return -1;
		}
		a->v[c].key.p = k;
		a->v[c].key.n = (size_t)(ke - k);
		a->v[c].key.esc = esc;
		add_child(a, x, c);
		p = skip_ws(p, end);
		p = skip_ws(p + (p < end && *p == ','), end);
	}
	if (p == end || skip_ws(p + 1, end) != end) {
		a->v[x].first = a->v[x].last = -1;
		return -1;
	}
	a->v[x].expanded = 1;
	return 0;
}

/* The object x expanded, or -1 if x is not an object. */
static int as_object(struct actx *a, int x)
{
	return a->v[x].type == JSON_OBJECT && !expand(a, x) ? 0 : -1;
}

/* key_is for a key with escapes: decoded into tmp first. */
static int key_is_escaped(struct actx *a, const utext *k, const uptok *t)
{
	json_span s = { txt(a, k), k->n, JSON_STRING };

	if (s.n - 2 < t->n)     /* an escape never decodes longer than it is */
		return 0;
	a->tmp.n = 0;
	if (buf_reserve(&a->tmp, s.n)) {
		a->oom = 1;
		return 0;
	}
	size_t n = eg_json_string_decode(&s, a->tmp.p);
	return n == t->n && !memcmp(a->tmp.p, t->s, n);
}

/* Does the key of member c decode to t?  Inline: every lookup compares
 * each member's key, and most keys have no escapes. */
static inline int key_is(struct actx *a, int c, const uptok *t)
{
	const utext *k = &a->v[c].key;

	if (k->esc)
		return key_is_escaped(a, k, t);
	return k->n - 2 == t->n && !memcmp(txt(a, k) + 1, t->s, t->n);
}

/* The member of object x named t (the last of duplicates, as
 * eg_json_member), or -1. */
static int member(struct actx *a, int x, const uptok *t)
{
	int found = -1;

	for (int c = a->v[x].first; c >= 0; c = a->v[c].next)
		if (key_is(a, c, t))
			found = c;
	return found;
}

/* Unlink every member of x named t but keep (-1: all). */
static void remove_named(struct actx *a, int x, const uptok *t, int keep)
{
	int prev = -1;

	for (int c = a->v[x].first; c >= 0; c = a->v[c].next) {
		if (c == keep || !key_is(a, c, t)) {
			prev = c;
			continue;
		}
		if (prev < 0)
			a->v[x].first = a->v[c].next;
		else
			a->v[prev].next = a->v[c].next;
		if (a->v[x].last == c)
			a->v[x].last = prev;
	}
}

/* Put s[0..n) into scratch as a JSON string; its utext. */
static utext quoted(struct actx *a, const char *s, size_t n)
{
	utext t = { NULL, 0, 0, 0 };

	if (n > (SIZE_MAX - 2) / 6 || buf_reserve(&a->scratch, 6 * n + 2)) {
		a->oom = 1;
		return t;
	}
	t.off = a->scratch.n;
	t.n = eg_json_quote(s, n, a->scratch.p + a->scratch.n);
	t.esc = t.n != n + 2;     /* every escape is longer than its byte */
	a->scratch.n += t.n;
	return t;
}

/* ------------------------------------------------------------ paths */

/*
 * The object holding the member named by the last of toks[0..nt), from
 * object x: -1 if a member on the way is absent (when !create) or is not
 * an object.  With create, absent members on the way become empty objects;
 * with create == 2 nothing is created, only said possible (returns x).
 */
static int parent_of(struct actx *a, int x, const uptok *toks, size_t nt, int create)
{
	if (as_object(a, x))
		return -1;
	for (size_t i = 0; i + 1 < nt; i++) {
		int c = member(a, x, &toks[i]);
		if (c < 0 && create == 2)
			return x;
		if (c < 0 && create) {
			utext k = quoted(a, toks[i].s, toks[i].n);
			if ((c = new_node(a, JSON_OBJECT)) < 0 || a->oom)
				return -1;
			a->v[c].expanded = 1;
			a->v[c].key = k;
			add_child(a, x, c);
		}
		if (c < 0 || as_object(a, c))
			return -1;
		x = c;
	}
	return x;
}

/* The member at toks from object x, or -1 (*parent set when found). */
static int lookup(struct actx *a, int x, const uptok *toks, size_t nt, int *parent)
{
	int p = parent_of(a, x, toks, nt, 0);

	if (p < 0)
		return -1;
	*parent = p;
	return member(a, p, &toks[nt - 1]);
}

/* Nesting depth of a value's text (0 for a scalar), strings skipped. */
static size_t text_depth(const char *p, size_t n)
{
	size_t d = 0, max = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++)
				i += p[i] == '\\';
		} else if (p[i] == '{' || p[i] == '[') {
			max = ++d > max ? d : max;
		} else if ((p[i] == '}' || p[i] == ']') && d) {
			d--;
		}
	}
	return max;
}

/* Nesting depth of node x.  Recursion goes only through expanded nodes,
 * which lie along the operations' paths; stored data is within
 * JSON_MAX_DEPTH (checked when appended), and no operation places a value
 * deeper (fits() below). */
static size_t depth(const struct actx *a, int x)
{
	size_t max = 0;

	if (!a->v[x].expanded)
		return a->v[x].val.p ? text_depth(a->v[x].val.p, a->v[x].val.n) : 0;
	for (int c = a->v[x].first; c >= 0; c = a->v[c].next) {
		size_t d = depth(a, c);
		max = d > max ? d : max;
	}
	return max + 1;
}

/* Can a value of depth d go at `level` members below the root and the
 * whole still be valid JSON for the scanner? */
static int fits(size_t level, size_t d)
{
	return level <= JSON_MAX_DEPTH && d <= JSON_MAX_DEPTH - level;
}

/* Set the member t of object p to the detached node c: in place of an
 * existing one (other duplicates removed), else at the end. */
static void set_member(struct actx *a, int p, const uptok *t, int c)
{
	int old = member(a, p, t);

	if (old < 0) {
		a->v[c].key = quoted(a, t->s, t->n);
		add_child(a, p, c);
		return;
	}
	remove_named(a, p, t, old);
	unode keep = a->v[old];
	a->v[old] = a->v[c];
	a->v[old].key = keep.key;
	a->v[old].next = keep.next;
}

/* Set the member at toks from x to c, creating objects on the way. */
static void set_at(struct actx *a, int x, const uptok *toks, size_t nt, int c)
{
	int p = parent_of(a, x, toks, nt, 1);

	if (p >= 0 && !a->oom)
		set_member(a, p, &toks[nt - 1], c);
}

/* A new string node holding s[0..n). */
static int string_node(struct actx *a, const char *s, size_t n)
{
	utext t = quoted(a, s, n);
	int c = a->oom ? -1 : new_node(a, JSON_STRING);

	if (c >= 0)
		a->v[c].val = t;
	return c;
}

/* ------------------------------------------------------------ operations */

/* An operation's pointers split into tokens, and the number of tokens
 * (up to and including the last '*') that lead to the objects it works
 * inside. */
struct opp {
	upptr *pp;
	size_t np, base;
};

static int same_path(const upptr *x, const upptr *y)
{
	return x->n == y->n && same_prefix(x, y, x->n);
}

static void op_rename(struct actx *a, int b, const eg_upcast_op *o, const uptok *t, size_t nt)
{
	int p, c = lookup(a, b, t, nt, &p);
	uptok to = { o->to, strlen(o->to) };

	if (c < 0 || key_is(a, c, &to))
		return;
	remove_named(a, p, &to, c);
	a->v[c].key = quoted(a, to.s, to.n);
}

static void op_drop(struct actx *a, int b, const uptok *t, size_t nt)
{
	int p = parent_of(a, b, t, nt, 0);

	if (p >= 0)
		remove_named(a, p, &t[nt - 1], -1);
}

static void op_default(struct actx *a, int b, const eg_upcast_op *o, const uptok *t, size_t nt, size_t level)
{
	int p, c = lookup(a, b, t, nt, &p);

	if (c >= 0 && a->v[c].type != JSON_NULL)
		return;
	if (!fits(level, text_depth(o->value, o->value_len)) || parent_of(a, b, t, nt, 2) < 0)
		return;
	c = span_node(a, o->value, o->value_len, eg_json_type_of(*o->value));
	if (c >= 0)
		set_at(a, b, t, nt, c);
}

/* x * f in the exact decimals of num.h when both have at most 18 digits
 * (the product fits the 128-bit accumulator), else in doubles; 0 with the
 * text in out, or -1 when the result is not a finite number. */
static int multiply(const char *x, size_t xn, const char *f, char *out, size_t *n)
{
	num vx, vf;
	nacc r;

	eg_num_parse(x, xn, &vx);
	eg_num_parse(f, strlen(f), &vf);
	if (vx.exact && vf.exact) {
		__int128 m = (__int128)vx.m * vf.m;
		r.lo = (uint64_t)m;
		r.hi = (int64_t)(m >> 64);
		r.e = vx.e + vf.e;
		r.exact = 1;
		*n = eg_nacc_format(&r, out);
		return 0;
	}
	double d = eg_num_double(&vx) * eg_num_double(&vf);
	if (!isfinite(d))
		return -1;
	*n = eg_num_format_double(d, out);
	return 0;
}

static void op_scale(struct actx *a, int b, const eg_upcast_op *o, const uptok *t, size_t nt)
{
	int p, c = lookup(a, b, t, nt, &p);
	char out[NUM_TEXT_MAX + 8];
	size_t n;

	if (c < 0 || a->v[c].type != JSON_NUMBER)
		return;
	if (multiply(txt(a, &a->v[c].val), a->v[c].val.n, o->factor, out, &n))
		return;
	if (buf_add(&a->scratch, out, n)) {
		a->oom = 1;
		return;
	}
	a->v[c].val.p = NULL;
	a->v[c].val.off = a->scratch.n - n;
	a->v[c].val.n = n;
}

/* Could every target be set (a scalar at each)?  Checked before a source is
 * removed, so that an impossible target does not lose it. */
static int targets_ok(struct actx *a, int b, const struct opp *q, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const upptr *p = &q->pp[i];
		if (!fits(p->n, 0) || parent_of(a, b, p->t + q->base, p->n - q->base, 2) < 0)
			return 0;
	}
	return 1;
}

static void op_move(struct actx *a, int b, const struct opp *q)
{
	const upptr *f = &q->pp[0], *t = &q->pp[1];
	const uptok *ft = f->t + q->base, *tt = t->t + q->base;
	size_t fn = f->n - q->base, tn = t->n - q->base;
	int p, c = lookup(a, b, ft, fn, &p);

	if (c < 0 || same_path(f, t) || !targets_ok(a, b, q, 1, 2) || !fits(t->n, depth(a, c)))
		return;
	remove_named(a, p, &ft[fn - 1], -1);
	set_at(a, b, tt, tn, c);
}

/* The decoded text of string node c in a->str; -1 out of memory. */
static int decode_into(struct actx *a, int c, int append)
{
	const unode *x = &a->v[c];
	json_span s = { txt(a, &x->val), x->val.n, JSON_STRING };

	if (!append)
		a->str.n = 0;
	if (buf_reserve(&a->str, s.n)) {
		a->oom = 1;
		return -1;
	}
	a->str.n += eg_json_string_decode(&s, a->str.p + a->str.n);
	return 0;
}

static void op_split(struct actx *a, int b, const eg_upcast_op *o, const struct opp *q)
{
	const upptr *f = &q->pp[0];
	size_t fn = f->n - q->base;
	int p, c = lookup(a, b, f->t + q->base, fn, &p);

	if (c < 0 || a->v[c].type != JSON_STRING || !targets_ok(a, b, q, 1, q->np))
		return;
	if (decode_into(a, c, 0))
		return;
	remove_named(a, p, &f->t[f->n - 1], -1);
	size_t at = 0, n = a->str.n;
	for (size_t i = 0; i < o->npath && !a->oom; i++) {
		const upptr *t = &q->pp[1 + i];
		const char *s = a->str.p + at;
		const char *cut = i + 1 < o->npath ?
			memmem(s, n - at, o->separator, o->separator_len) : NULL;
		size_t len = cut ? (size_t)(cut - s) : n - at;
		int x = string_node(a, a->str.p + at, len);
		if (x < 0)
			return;
		set_at(a, b, t->t + q->base, t->n - q->base, x);
		if (!cut)
			break;      /* the last piece: targets after it stay unset */
		at += len + o->separator_len;
	}
}

/* Join takes strings, numbers and booleans; null, objects and arrays are
 * left where they are. */
static int joinable(int type)
{
	return type == JSON_STRING || type == JSON_NUMBER || type == JSON_TRUE || type == JSON_FALSE;
}

/* Is node c a value join takes, and its text appended to a->str? */
static int join_value(struct actx *a, int c)
{
	if (!joinable(a->v[c].type))
		return 0;
	if (a->v[c].type == JSON_STRING)
		return decode_into(a, c, 1) ? 0 : 1;
	if (buf_add(&a->str, txt(a, &a->v[c].val), a->v[c].val.n)) {
		a->oom = 1;
		return 0;
	}
	return 1;
}

static void op_join(struct actx *a, int b, const eg_upcast_op *o, const struct opp *q)
{
	size_t got = 0;
	int p, c;

	a->str.n = 0;
	for (size_t i = 0; i < o->nfrom; i++) {
		const upptr *f = &q->pp[i];
		if ((c = lookup(a, b, f->t + q->base, f->n - q->base, &p)) < 0)
			continue;
		size_t before = a->str.n;
		if (got && buf_add(&a->str, o->separator, o->separator_len)) {
			a->oom = 1;
			return;
		}
		if (join_value(a, c))
			got++;
		else
			a->str.n = before;
	}
	if (!got || a->oom || !targets_ok(a, b, q, o->nfrom, q->np))
		return;
	for (size_t i = 0; i < o->nfrom; i++) {
		const upptr *f = &q->pp[i];
		if ((c = lookup(a, b, f->t + q->base, f->n - q->base, &p)) >= 0 && joinable(a->v[c].type))
			remove_named(a, p, &f->t[f->n - 1], -1);
	}
	const upptr *t = &q->pp[o->nfrom];
	if ((c = string_node(a, a->str.p, a->str.n)) >= 0)
		set_at(a, b, t->t + q->base, t->n - q->base, c);
}

/* Apply o inside the object b that the wildcards led to. */
static void op_at(struct actx *a, int b, const eg_upcast_op *o, const struct opp *q)
{
	const upptr *p0 = &q->pp[0];
	const uptok *t = p0->t + q->base;
	size_t nt = p0->n - q->base;

	if (as_object(a, b))
		return;
	switch (o->op) {
	case UP_RENAME: op_rename(a, b, o, t, nt); break;
	case UP_DROP: op_drop(a, b, t, nt); break;
	case UP_DEFAULT: op_default(a, b, o, t, nt, p0->n); break;
	case UP_SCALE: op_scale(a, b, o, t, nt); break;
	case UP_MOVE: op_move(a, b, q); break;
	case UP_SPLIT: op_split(a, b, o, q); break;
	case UP_JOIN: op_join(a, b, o, q); break;
	}
}

/*
 * Follow the tokens the pointers share, toks[i..base), from node x: a name
 * goes to that member, '*' to every element or member value.  Recursion
 * goes one level per token and only into existing values, so it is bounded
 * by the data's depth.
 */
static void walk(struct actx *a, int x, const eg_upcast_op *o, const struct opp *q, size_t i)
{
	const uptok *t = &q->pp[0].t[i];

	if (i == q->base) {
		op_at(a, x, o, q);
		return;
	}
	if (!tok_is_star(t)) {
		if (!as_object(a, x) && (x = member(a, x, t)) >= 0)
			walk(a, x, o, q, i + 1);
		return;
	}
	if ((a->v[x].type != JSON_OBJECT && a->v[x].type != JSON_ARRAY) || expand(a, x))
		return;
	/* operations below change only the insides of each child, never the
	 * list of x's children */
	for (int c = a->v[x].first; c >= 0 && !a->oom; c = a->v[c].next)
		walk(a, c, o, q, i + 1);
}

/* Has o what its op needs?  Parsed operations always do; one made by
 * hand with a member missing is skipped rather than followed into NULL. */
static int op_usable(const eg_upcast_op *o)
{
	size_t np = op_nptr(o);
	const char *p;

	for (size_t i = 0; i < np; i++)
		if (!(p = op_ptr(o, i, NULL, 0)) || p[0] != '/')
			return 0;
	switch (o->op) {
	case UP_RENAME: return o->path && o->to;
	case UP_MOVE: return o->from && o->path;
	case UP_DEFAULT: return o->path && o->value && o->value_len;
	case UP_DROP: return o->path != NULL;
	case UP_SCALE: return o->path && o->factor;
	case UP_SPLIT: return o->from && o->npath && o->separator && o->separator_len;
	case UP_JOIN: return o->nfrom && o->path && o->separator;
	default: return 0;
	}
}

/* Split o's pointers into q, in a->toks (one reservation, so nothing in
 * it moves while q is used); -1 if out of memory. */
static int op_tokens_into(struct actx *a, const eg_upcast_op *o, struct opp *q)
{
	size_t np = op_nptr(o), ntok = 0, text = 0;

	for (size_t i = 0; i < np; i++) {
		const char *p = op_ptr(o, i, NULL, 0);
		size_t len = strlen(p);
		ntok += ptr_ntok(p, len);
		text += len + 1;
	}
	a->toks.n = 0;
	if (buf_reserve(&a->toks, np * sizeof(upptr) + ntok * sizeof(uptok) + text))
		return -1;
	/* upptr and uptok both hold pointers: one alignment serves both */
	q->pp = (upptr *)(void *)a->toks.p;
	q->np = np;
	uptok *t = (uptok *)(void *)(q->pp + np);
	char *dec = (char *)(t + ntok);
	for (size_t i = 0; i < np; i++) {
		const char *p = op_ptr(o, i, NULL, 0);
		size_t len = strlen(p);
		q->pp[i].t = t;
		q->pp[i].n = ptr_ntok(p, len);
		q->pp[i].dec = dec;
		ptr_split_into(p, len, t, dec);
		t += q->pp[i].n;
		dec += len + 1;
	}
	return 0;
}

static int apply_op(struct actx *a, int root, const eg_upcast_op *o)
{
	struct opp q;

	if (!op_usable(o))
		return 0;
	if (op_tokens_into(a, o, &q))
		return -1;
	long w = last_star(q.pp, q.np);
	q.base = (size_t)(w + 1);
	/* parse checked this; a hand-made operation is checked here */
	int ok = q.pp[0].n > q.base;
	for (size_t i = 0; i < q.np && ok; i++)
		ok = q.pp[i].n > q.base && same_prefix(&q.pp[i], &q.pp[0], q.base);
	if (ok)
		walk(a, root, o, &q, 0);
	return a->oom ? -1 : 0;
}

/* ------------------------------------------------------------ output */

/* Where the text of x's member or element c starts and ends when it is
 * one piece of the data as it was (key, ':' and value untouched,
 * minified); 0 if it is not. */
static int data_piece(const struct actx *a, int obj, int c, const char **from, const char **to)
{
	const unode *v = &a->v[c];

	if (!a->data_plain || v->expanded || v->val.p < a->data || v->val.p >= a->data_end)
		return 0;
	if (obj && (!v->key.p || v->key.p + v->key.n + 1 != v->val.p))
		return 0;
	*from = obj ? v->key.p : v->val.p;
	*to = v->val.p + v->val.n;
	return 1;
}

static int emit(const struct actx *a, int x, buf *out);

/* The members or elements of expanded node x.  Neighbours that are still
 * neighbours in the data (one ',' between them) are copied as one run. */
static int emit_children(const struct actx *a, int x, buf *out)
{
	int obj = a->v[x].type == JSON_OBJECT;
	const char *run = NULL, *run_end = NULL, *from, *to;

	for (int c = a->v[x].first; c >= 0; c = a->v[c].next) {
		int first = c == a->v[x].first;
		if (data_piece(a, obj, c, &from, &to)) {
			if (run && from == run_end + 1 && *run_end == ',') {
				run_end = to;
				continue;
			}
			if (run && buf_add(out, run, (size_t)(run_end - run)))
				return -1;
			if (!first && buf_add(out, ",", 1))
				return -1;
			run = from;
			run_end = to;
			continue;
		}
		if (run && buf_add(out, run, (size_t)(run_end - run)))
			return -1;
		run = NULL;
		if (!first && buf_add(out, ",", 1))
			return -1;
		if (obj && (buf_add(out, txt(a, &a->v[c].key), a->v[c].key.n) || buf_add(out, ":", 1)))
			return -1;
		if (emit(a, c, out))
			return -1;
	}
	return run ? buf_add(out, run, (size_t)(run_end - run)) : 0;
}

static int emit(const struct actx *a, int x, buf *out)
{
	const unode *v = &a->v[x];

	if (!v->expanded) {
		if (buf_reserve(out, v->val.n))
			return -1;
		if (v->val.p && a->data_plain && v->val.p >= a->data && v->val.p < a->data_end) {
			memcpy(out->p + out->n, v->val.p, v->val.n);
			out->n += v->val.n;
		} else if (v->val.p) {   /* data or a value: minified as it is copied */
			json_span s = { v->val.p, v->val.n, v->type };
			out->n += eg_json_minify(&s, out->p + out->n);
		} else {
			memcpy(out->p + out->n, txt(a, &v->val), v->val.n);
			out->n += v->val.n;
		}
		return 0;
	}
	int obj = v->type == JSON_OBJECT;
	if (buf_add(out, obj ? "{" : "[", 1) || emit_children(a, x, out))
		return -1;
	return buf_add(out, obj ? "}" : "]", 1);
}

static void actx_free(struct actx *a)
{
	free(a->v);
	free(a->scratch.p);
	free(a->tmp.p);
	free(a->str.p);
	free(a->toks.p);
	memset(a, 0, sizeof *a);
}

/*
 * Each thread keeps its tree and buffers from one call to the next, so that
 * a call allocates nothing once they are big enough; a thread that ends
 * frees them (the key's destructor).  More than CTX_KEEP bytes in them
 * after a call (one outsized event) are given back.
 */
#define CTX_KEEP (1u << 20)

static _Thread_local struct actx tls;
static _Thread_local int tls_ready;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *arg)
{
	actx_free(arg);
}

static void tls_key_make(void)
{
	(void)pthread_key_create(&tls_key, tls_free);
}

static struct actx *actx_get(void)
{
	struct actx *a = &tls;

	if (!tls_ready) {
		pthread_once(&tls_once, tls_key_make);
		(void)pthread_setspecific(tls_key, a);
		tls_ready = 1;
	}
	a->n = 0;
	a->scratch.n = a->tmp.n = a->str.n = a->toks.n = 0;
	a->oom = 0;
	return a;
}

static void actx_put(struct actx *a)
{
	if (a->cap * sizeof *a->v + a->scratch.cap + a->tmp.cap + a->str.cap + a->toks.cap > CTX_KEEP)
		actx_free(a);
}

/* Is p[0..n) plain: no byte below '!' nor above 0x7f?  Then valid JSON
 * text holds no whitespace outside strings (it is its own minified form)
 * and is valid UTF-8.  Eight bytes at a time: a byte below 0x21 borrows in
 * x - 0x21.., and only a byte above a truly low one can be falsely
 * flagged, so "any" is exact. */
static int plain_text(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, p + i, 8);
		if (((x - ones * 0x21) | x) & high)
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7f)
			return 0;
	return 1;
}

/* Does the text data[0..n) hold an object (its first byte after
 * whitespace)? */
static int is_object(const char *data, size_t n)
{
	const char *p = skip_ws(data, data + n);

	return p < data + n && *p == '{';
}

size_t eg_upcast_apply(const eg_upcast *u, const char *data, size_t n, char **out, size_t *cap)
{
	struct actx *a = actx_get();
	buf o = { *out, 0, *cap };
	size_t r = (size_t)-1;

	/* Callers pass the valid data of stored events, which is not checked
	 * again here (that would be most of the time this takes).  What is
	 * cheap to see is: data that is not an object, does not close, or is
	 * not UTF-8 is passed through untouched rather than half changed. */
	a->data = data;
	a->data_end = data + n;
	a->data_plain = plain_text(data, n);
	int root = -1;
	if (!is_object(data, n) || (!a->data_plain && !eg_json_utf8_valid(data, n)) ||
	    (root = span_node(a, data, n, JSON_OBJECT)) < 0 || expand(a, root)) {
		if (!a->oom && buf_add(&o, data, n) == 0)
			r = o.n;
		goto done;
	}
	for (size_t i = 0; u && i < u->n; i++)
		if (apply_op(a, root, &u->ops[i]))
			goto done;
	if (emit(a, root, &o) == 0)
		r = o.n;
done:
	*out = o.p;
	*cap = o.cap;
	actx_put(a);
	return r;
}

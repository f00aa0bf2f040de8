/*
 * projspec.c — parsing projection specs (docs/PROJECTIONS.md).
 *
 * Every error names the JSON path of the offending member and what is
 * allowed there, e.g. "$.fields.balance.sum: expected a field path …".
 */
#include "chain.h"
#include "proj.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SNAPSHOT_EVERY 100000

typedef struct pctx {
	eg_proj_spec *s;
	spec_err e;
} pctx;

#define bad(c, ...) eg_spec_bad(&(c)->e, __VA_ARGS__)

int eg_spec_bad(spec_err *e, const char *path, const char *fmt, ...)
{
	if (e->failed)
		return -1;
	e->failed = 1;
	size_t k = (size_t)snprintf(e->msg, e->len, "%s: ", path);
	if (k < e->len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg + k, e->len - k, fmt, ap);
		va_end(ap);
	}
	return -1;
}

char *eg_spec_src_dup(const char *json, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, json, n);
		s[n] = 0;
	}
	return s;
}

static int parse_path(pctx *c, const char *where, const json_span *v, eg_path *p)
{
	char why[400];
	return eg_path_parse(v, p, why, sizeof why) ? bad(c, where, "%s", why) : 0;
}

/* The index of a type name, added if new. */
static int type_id(pctx *c, const char *where, const json_span *v)
{
	if (v->type != JSON_STRING || v->n <= 2)
		return bad(c, where, "expected a non-empty event type name (a string)");
	char *t = eg_json_string_dup(v, NULL);
	if (!t)
		return bad(c, where, "out of memory");
	eg_proj_spec *s = c->s;
	for (int i = 0; i < s->ntypes; i++)
		if (!strcmp(s->tnames[i], t)) {
			free(t);
			return i;
		}
	if (s->ntypes == PROJ_MAX_TYPES) {
		free(t);
		return bad(c, where, "a spec may name at most %d event types", PROJ_MAX_TYPES);
	}
	char **nt = realloc(s->tnames, (size_t)(s->ntypes + 1) * sizeof *nt);
	if (!nt) {
		free(t);
		return bad(c, where, "out of memory");
	}
	s->tnames = nt;
	s->tnames[s->ntypes] = t;
	return s->ntypes++;
}

/* A non-empty array of type names, as a mask. */
static int type_list(pctx *c, const char *where, const json_span *v, uint64_t *mask)
{
	if (v->type != JSON_ARRAY)
		return bad(c, where, "expected an array of event type names");
	json_arr it;
	json_span e;
	eg_json_arr_begin(&it, v);
	*mask = 0;
	int k = 0;
	while (eg_json_arr_next(&it, &e)) {
		char w[256];
		snprintf(w, sizeof w, "%s[%d]", where, k++);
		int id = type_id(c, w, &e);
		if (id < 0)
			return -1;
		*mask |= 1ull << id;
	}
	if (!*mask)
		return bad(c, where, "expected at least one event type name");
	return 0;
}

int eg_proj_key_is(const json_span *k, const char *name)
{
	size_t n = strlen(name);
	return k->n == n + 2 && !memcmp(k->p + 1, name, n);
}

static int add_num_path(pctx *c, pfield *f)
{
	eg_proj_spec *s = c->s;
	for (int i = 0; i < s->nnum; i++)
		if (!strcmp(s->nums[i]->text, f->path.text)) {
			f->num = i;
			return 0;
		}
	if (s->nnum == PROJ_MAX_NUMS)
		return bad(c, "$.fields", "at most %d different numeric paths", PROJ_MAX_NUMS);
	f->num = s->nnum;
	s->nums[s->nnum++] = &f->path;
	return 0;
}

static const char AGG_HELP[] =
	"expected exactly one aggregate: {\"sum\": PATH}, {\"min\": PATH}, "
	"{\"max\": PATH}, {\"first\": PATH}, {\"last\": PATH}, {\"count\": true} or "
	"{\"open\": [TYPES], \"close\": [TYPES]}, with optional \"types\" and "
	"\"sign\" (sum, min, max)";

static int parse_field(pctx *c, const json_span *name, const json_span *v, pfield *f)
{
	char where[320];
	char *fname = eg_json_string_dup(name, NULL);
	if (!fname)
		return bad(c, "$.fields", "out of memory");
	f->name = fname;
	f->num = -1;
	f->agg = -1;
	f->types = ~0ull;
	for (int i = 0; i <= PROJ_MAX_TYPES; i++)
		f->sign[i] = 1;
	snprintf(where, sizeof where, "$.fields.%s", fname);
	if (!*fname)
		return bad(c, where, "a field needs a non-empty name");
	if (!strcmp(fname, "key") || !strcmp(fname, "valid_from") || !strcmp(fname, "valid_to"))
		return bad(c, where, "\"%s\" is a column of every row; choose another name", fname);
	if (v->type != JSON_OBJECT)
		return bad(c, where, "%s", AGG_HELP);
	json_obj it;
	json_span k, x, sign = { 0 }, open = { 0 }, close = { 0 };
	int r, has_types = 0;
	uint64_t types = 0;
	static const char *const aggs[] = { "count", "sum", "min", "max", "first", "last" };
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		char w[400];
		char *kn = eg_json_string_dup(&k, NULL);
		snprintf(w, sizeof w, "%s.%s", where, kn ? kn : "?");
		free(kn);
		int a = -1;
		for (int i = 0; i < 6; i++)
			if (eg_proj_key_is(&k, aggs[i]))
				a = i;
		if (a >= 0 || eg_proj_key_is(&k, "open")) {
			if (f->agg >= 0)
				return bad(c, where, "%s", AGG_HELP);
			f->agg = a >= 0 ? a : A_OPEN;
			if (a == A_COUNT) {
				if (x.type != JSON_TRUE)
					return bad(c, w, "expected true (count the events)");
			} else if (a >= 0) {
				if (parse_path(c, w, &x, &f->path))
					return -1;
				if (a != A_FIRST && a != A_LAST && f->path.root != EG_PATH_DATA &&
				    f->path.root != EG_PATH_META)
					return bad(c, w, "%s needs a data.* or meta.* path of numbers",
						   aggs[a]);
			} else {
				open = x;
			}
		} else if (eg_proj_key_is(&k, "close")) {
			close = x;
		} else if (eg_proj_key_is(&k, "types")) {
			if (type_list(c, w, &x, &types))
				return -1;
			has_types = 1;
		} else if (eg_proj_key_is(&k, "sign")) {
			sign = x;
		} else {
			return bad(c, w, "unknown member; %s", AGG_HELP);
		}
	}
	if (f->agg < 0 && close.p)
		f->agg = A_OPEN;
	if (f->agg < 0)
		return bad(c, where, "%s", AGG_HELP);
	if (has_types)
		f->types = types;
	if (f->agg == A_OPEN) {
		uint64_t om, cm;
		char wo[340], wc[340];   /* where's sub-paths, each in its own room */
		snprintf(wo, sizeof wo, "%s.open", where);
		snprintf(wc, sizeof wc, "%s.close", where);
		if (!open.p)
			return bad(c, wo, "expected \"open\": [TYPES] with \"close\"");
		if (type_list(c, wo, &open, &om))
			return -1;
		if (!close.p)
			return bad(c, wc, "expected \"close\": [TYPES] with \"open\"");
		if (type_list(c, wc, &close, &cm))
			return -1;
		if (om & cm)
			return bad(c, wc, "a type cannot both open and close");
		if (has_types || sign.p)
			return bad(c, wc, "open/close takes no \"types\" or \"sign\"");
		f->opens = om;
		f->types = om | cm;
		return 0;
	}
	if (close.p)
		return bad(c, where, "\"close\" goes with \"open\" only");
	if (sign.p) {
		char ws[340];
		snprintf(ws, sizeof ws, "%s.sign", where);
		if (f->agg != A_SUM && f->agg != A_MIN && f->agg != A_MAX)
			return bad(c, ws, "only sum, min and max take a sign");
		if (sign.type != JSON_OBJECT)
			return bad(c, ws, "expected an object of type name to integer multiplier");
		eg_json_obj_begin(&it, sign.p, sign.n, NULL);
		while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
			char w[400];
			char *kn = eg_json_string_dup(&k, NULL);
			snprintf(w, sizeof w, "%s.%s", ws, kn ? kn : "?");
			free(kn);
			int id = type_id(c, w, &k);
			if (id < 0)
				return -1;
			char num_text[32];
			long long m;
			char *e;
			if (x.type != JSON_NUMBER || x.n >= sizeof num_text)
				return bad(c, w, "expected an integer multiplier such as -1");
			memcpy(num_text, x.p, x.n);
			num_text[x.n] = 0;
			m = strtoll(num_text, &e, 10);
			if (*e || m < -1000000 || m > 1000000)
				return bad(c, w, "expected an integer multiplier such as -1 "
					   "(at most 1000000 in size)");
			f->sign[id] = m;
		}
	}
	if (f->agg == A_SUM || f->agg == A_MIN || f->agg == A_MAX)
		return add_num_path(c, f);
	return 0;
}

/* SHA-256 over a canonical text of what the spec computes. */
static int spec_hash(eg_proj_spec *s)
{
	size_t cap = 4096, len = 0;
	char *t = malloc(cap);
	if (!t)
		return -1;
#define PUT(...) do {                                                        \
		int k_ = snprintf(t + len, cap - len, __VA_ARGS__);          \
		if (k_ < 0) { free(t); return -1; }                          \
		if ((size_t)k_ >= cap - len) {                               \
			cap = (cap + (size_t)k_) * 2;                        \
			char *nt_ = realloc(t, cap);                         \
			if (!nt_) { free(t); return -1; }                    \
			t = nt_;                                             \
			k_ = snprintf(t + len, cap - len, __VA_ARGS__);      \
		}                                                            \
		len += (size_t)k_;                                           \
	} while (0)
	PUT("engram-projection 1\nkey %s\n", s->key.text);
	for (int i = 0; i < s->ntypes; i++)
		PUT("type %d %zu:%s\n", i, strlen(s->tnames[i]), s->tnames[i]);
	PUT("filter %d %llx\n", s->filter, (unsigned long long)s->types);
	for (int i = 0; i < s->nf; i++) {
		pfield *f = &s->f[i];
		PUT("field %zu:%s agg %d path %s types %llx opens %llx signs", strlen(f->name),
		    f->name, f->agg, f->path.text ? f->path.text : "-",
		    (unsigned long long)f->types, (unsigned long long)f->opens);
		for (int k = 0; k <= PROJ_MAX_TYPES; k++)
			if (f->sign[k] != 1)
				PUT(" %d:%lld", k, (long long)f->sign[k]);
		PUT("\n");
	}
#undef PUT
	unsigned int n = 0;
	const EVP_MD *md = eg_chain_sha256();
	int ok = md && EVP_Digest(t, len, s->hash, &n, md, NULL);
	free(t);
	return ok == 1 && n == 32 ? 0 : -1;
}

int eg_spec_check_json(spec_err *e, const char *json, size_t n)
{
	json_err je;
	if (!eg_json_validate(json, n, &je))
		return 0;
	int line = 1, col = 1;
	for (size_t i = 0; i < je.off; i++) {
		if (json[i] == '\n')
			line++, col = 1;
		else
			col++;
	}
	return eg_spec_bad(e, "$", "not valid JSON at line %d, column %d: %s", line, col, je.what);
}

static int parse(pctx *c, const char *json, size_t n)
{
	eg_proj_spec *s = c->s;
	if (eg_spec_check_json(&c->e, json, n))
		return -1;
	json_obj it;
	json_span k, v, fields = { 0 }, key = { 0 };
	if (eg_json_obj_begin(&it, json, n, NULL))
		return bad(c, "$", "expected a JSON object: {\"name\", \"key\", \"types\", "
			   "\"fields\", \"snapshot_every\"}");
	int r;
	s->snapshot_every = DEFAULT_SNAPSHOT_EVERY;
	s->types = ~0ull;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (eg_proj_key_is(&k, "name")) {
			if (v.type != JSON_STRING)
				return bad(c, "$.name", "expected a string");
			free(s->name);
			if (!(s->name = eg_json_string_dup(&v, NULL)))
				return bad(c, "$.name", "out of memory");
		} else if (eg_proj_key_is(&k, "key")) {
			key = v;
		} else if (eg_proj_key_is(&k, "types")) {
			if (type_list(c, "$.types", &v, &s->types))
				return -1;
			s->filter = 1;
		} else if (eg_proj_key_is(&k, "fields")) {
			fields = v;
		} else if (eg_proj_key_is(&k, "upcast")) {
			if (v.type != JSON_TRUE && v.type != JSON_FALSE)
				return bad(c, "$.upcast", "expected true (the default: events at their "
					   "type's latest schema version) or false (as stored)");
			s->no_upcast = v.type == JSON_FALSE;
		} else if (eg_proj_key_is(&k, "snapshot_every")) {
			char num_text[32];
			char *e;
			unsigned long long x = 0;
			if (v.type == JSON_NUMBER && v.n < sizeof num_text && v.p[0] != '-') {
				memcpy(num_text, v.p, v.n);
				num_text[v.n] = 0;
				x = strtoull(num_text, &e, 10);
				if (*e)
					x = 0;
			}
			if (x < 1 || x > 1000000000)
				return bad(c, "$.snapshot_every", "expected a whole number of events "
					   "from 1 to 1000000000");
			s->snapshot_every = x;
		} else {
			char *kn = eg_json_string_dup(&k, NULL);
			char w[300];
			snprintf(w, sizeof w, "$.%s", kn ? kn : "?");
			free(kn);
			return bad(c, w, "unknown member; a spec has \"name\", \"key\", \"types\", "
				   "\"fields\", \"snapshot_every\" and \"upcast\"");
		}
	}
	if (key.p) {
		if (parse_path(c, "$.key", &key, &s->key))
			return -1;
		if (s->key.root == EG_PATH_TIME || s->key.root == EG_PATH_RECORDED || s->key.root == EG_PATH_POS)
			return bad(c, "$.key", "time, recorded and pos cannot be keys; use stream, "
				   "type, actor, session, id, or a data.* or meta.* path");
	} else {
		s->key.root = EG_PATH_STREAM;
		if (!(s->key.text = strdup("stream")))
			return bad(c, "$.key", "out of memory");
	}
	if (!fields.p)
		return bad(c, "$.fields", "missing: expected an object of field name to aggregate");
	if (fields.type != JSON_OBJECT)
		return bad(c, "$.fields", "expected an object of field name to aggregate");
	eg_json_obj_begin(&it, fields.p, fields.n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (s->nf == PROJ_MAX_FIELDS)
			return bad(c, "$.fields", "at most %d fields", PROJ_MAX_FIELDS);
		pfield *f = &s->f[s->nf++];
		if (parse_field(c, &k, &v, f))
			return -1;
		for (int i = 0; i < s->nf - 1; i++)
			if (!strcmp(s->f[i].name, f->name)) {
				char w[300];
				snprintf(w, sizeof w, "$.fields.%s", f->name);
				return bad(c, w, "the field is defined twice");
			}
	}
	if (s->nf == 0)
		return bad(c, "$.fields", "expected at least one field");
	if (!s->name && !(s->name = strdup("projection")))
		return bad(c, "$.name", "out of memory");
	if (spec_hash(s))
		return bad(c, "$", "cannot hash the spec (out of memory)");
	return 0;
}

int eg_proj_spec_parse(const char *json, size_t n, eg_proj_spec **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = 0;
	eg_proj_spec *s = calloc(1, sizeof *s);
	if (!s)
		return EG_ENOMEM;
	pctx c = { s, { err, errlen, 0 } };
	if (!(s->src = eg_spec_src_dup(json, n))) {
		free(s);
		return EG_ENOMEM;
	}
	s->srclen = n;
	errno = 0;
	if (parse(&c, json, n)) {
		eg_proj_spec_free(s);
		/* an allocation failed on the way (its message says so): not
		 * the spec's fault */
		return errno == ENOMEM ? EG_ENOMEM : EG_EINVAL;
	}
	*out = s;
	return EG_OK;
}

void eg_proj_spec_free(eg_proj_spec *s)
{
	if (!s)
		return;
	free(s->src);
	free(s->name);
	eg_path_free(&s->key);
	for (int i = 0; i < s->ntypes; i++)
		free(s->tnames[i]);
	free(s->tnames);
	for (int i = 0; i < s->nf; i++) {
		free(s->f[i].name);
		eg_path_free(&s->f[i].path);
	}
	free(s);
}

const char *eg_proj_spec_name(const eg_proj_spec *s)
{
	return s->name;
}

const char *eg_proj_spec_type(const eg_proj_spec *s, size_t i)
{
	return i < (size_t)s->ntypes ? s->tnames[i] : NULL;
}

void eg_proj_spec_hash(const eg_proj_spec *s, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", s->hash[i]);
}

int eg_proj_type_index(const eg_proj_spec *s, const char *type, size_t n)
{
	for (int i = 0; i < s->ntypes; i++)
		if (strlen(s->tnames[i]) == n && !memcmp(s->tnames[i], type, n))
			return i;
	return PROJ_MAX_TYPES;
}

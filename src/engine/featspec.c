/*
 * featspec.c — parsing features specs (docs/FEATURES.md).
 *
 * Every error names the JSON path of the offending member and what is
 * allowed there, e.g. "$.features.spend_90d.window: expected a duration
 * longer than 0".
 */
#include "chain.h"
#include "feat.h"
#include "proj.h"
#include "timefmt.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fctx {
	eg_feat_spec *s;
	spec_err e;
} fctx;

#define bad(c, ...) eg_spec_bad(&(c)->e, __VA_ARGS__)

static const char AGG_HELP[] =
	"expected one of {\"count\": true}, {\"sum\"|\"avg\"|\"min\"|\"max\"|\"first\"|"
	"\"last\"|\"count_distinct\": PATH}, {\"since_last\": UNIT}, {\"ratio\": [A, B]} "
	"or {\"projection\": FILE, \"field\": NAME}";

static const struct {
	const char *key;
	int agg;
} AGGS[] = {
	{ "count", F_COUNT }, { "sum", F_SUM }, { "avg", F_AVG }, { "min", F_MIN },
	{ "max", F_MAX }, { "first", F_FIRST }, { "last", F_LAST },
	{ "count_distinct", F_DISTINCT }, { "since_last", F_SINCE }, { "ratio", F_RATIO },
	{ "projection", F_PROJ },
};
#define NAGGS (sizeof AGGS / sizeof *AGGS)

/* A positive duration member. */
static int duration(fctx *c, const char *where, const json_span *v, int64_t *out)
{
	if (v->type != JSON_STRING || eg_duration_parse(v->p + 1, v->n - 2, out) || *out <= 0)
		return bad(c, where, "expected a duration longer than 0: %s; got %.*s",
			   EG_DURATION_FORMS, v->n > 40 ? 40 : (int)v->n, v->p);
	return 0;
}

static char *dup_string(fctx *c, const char *where, const json_span *v)
{
	if (v->type != JSON_STRING || v->n <= 2) {
		bad(c, where, "expected a non-empty string");
		return NULL;
	}
	char *t = eg_json_string_dup(v, NULL);
	if (!t)
		bad(c, where, "out of memory");
	return t;
}

/* The index of path v among the spec's value paths, added if new. */
static int value_path(fctx *c, const char *where, const json_span *v)
{
	eg_feat_spec *s = c->s;
	eg_path p;
	char why[400];
	if (eg_path_parse(v, &p, why, sizeof why)) {
		eg_path_free(&p);
		return bad(c, where, "%s", why);
	}
	for (int i = 0; i < s->npaths; i++)
		if (!strcmp(s->paths[i].text, p.text)) {
			eg_path_free(&p);
			return i;
		}
	s->paths[s->npaths] = p;
	return s->npaths++;
}

static int types_member(fctx *c, const char *where, const json_span *v, ffeat *f)
{
	if (v->type != JSON_ARRAY)
		return bad(c, where, "expected an array of event type names");
	/* a repeated member: the last one counts, as everywhere in JSON here */
	for (int i = 0; i < f->ntypes; i++)
		free(f->types[i]);
	f->ntypes = 0;
	json_arr a;
	json_span x;
	eg_json_arr_begin(&a, v);
	while (eg_json_arr_next(&a, &x) == 1) {
		if (f->ntypes >= FEAT_MAX_TYPES)
			return bad(c, where, "at most %d types", FEAT_MAX_TYPES);
		char **t = realloc(f->types, (size_t)(f->ntypes + 1) * sizeof *t);
		if (!t)
			return bad(c, where, "out of memory");
		f->types = t;
		if (!(t[f->ntypes] = dup_string(c, where, &x)))
			return -1;
		f->ntypes++;
	}
	if (!f->ntypes)
		return bad(c, where, "expected at least one event type name");
	return 0;
}

/* One member of a feature's object: its aggregate or an option. */
static int feature_member(fctx *c, const char *w, const json_span *k, const json_span *x,
			  ffeat *f, int *naggs, json_span *ratio)
{
	char wk[400];
	snprintf(wk, sizeof wk, "%s.%.*s", w, (int)k->n - 2, k->p + 1);
	if (eg_proj_key_is(k, "types"))
		return types_member(c, wk, x, f);
	if (eg_proj_key_is(k, "window"))
		return duration(c, wk, x, &f->window);
	if (eg_proj_key_is(k, "field")) {
		free(f->proj_field);
		return (f->proj_field = dup_string(c, wk, x)) ? 0 : -1;
	}
	size_t i = 0;
	while (i < NAGGS && !eg_proj_key_is(k, AGGS[i].key))
		i++;
	if (i == NAGGS)
		return bad(c, wk, "unknown member; %s, with \"types\" and \"window\"", AGG_HELP);
	if ((*naggs)++)
		return bad(c, w, "one aggregate per feature; %s", AGG_HELP);
	f->agg = AGGS[i].agg;
	switch (f->agg) {
	case F_COUNT:
		return x->type == JSON_TRUE ? 0 : bad(c, wk, "expected true");
	case F_SINCE:
		return duration(c, wk, x, &f->unit);
	case F_RATIO:
		if (x->type != JSON_ARRAY)
			return bad(c, wk, "expected [A, B]: the names of two features");
		*ratio = *x;
		return 0;
	case F_PROJ:
		return (f->proj_file = dup_string(c, wk, x)) ? 0 : -1;
	default:
		return (f->path = value_path(c, wk, x)) < 0 ? -1 : 0;
	}
}

/* Resolve a ratio's [A, B] to feature indexes, once every name is known. */
static int ratio_names(fctx *c, const char *w, const json_span *v, ffeat *f)
{
	eg_feat_spec *s = c->s;
	json_arr a;
	json_span x;
	int n = 0;
	eg_json_arr_begin(&a, v);
	while (eg_json_arr_next(&a, &x) == 1) {
		if (n == 2 || x.type != JSON_STRING)
			return bad(c, w, "expected [A, B]: the names of two features");
		char *name = eg_json_string_dup(&x, NULL);
		if (!name)
			return bad(c, w, "out of memory");
		int j = 0;
		while (j < s->nf && strcmp(s->f[j].name, name))
			j++;
		if (j == s->nf) {
			bad(c, w, "no feature named '%s' in this spec", name);
			free(name);
			return -1;
		}
		free(name);
		f->ratio[n++] = j;
	}
	if (n != 2)
		return bad(c, w, "expected [A, B]: the names of two features");
	return 0;
}

static int feature(fctx *c, const json_span *name, const json_span *v, json_span *ratio)
{
	eg_feat_spec *s = c->s;
	ffeat *f = &s->f[s->nf++];
	f->path = -1;
	if (!(f->name = eg_json_string_dup(name, NULL)))
		return bad(c, "$.features", "out of memory");
	char w[300];
	snprintf(w, sizeof w, "$.features.%s", f->name);
	if (!f->name[0])
		return bad(c, w, "expected a non-empty name");
	for (int i = 0; i < s->nf - 1; i++)
		if (!strcmp(s->f[i].name, f->name))
			return bad(c, w, "a second feature of this name");
	if (v->type != JSON_OBJECT)
		return bad(c, w, "%s", AGG_HELP);
	json_obj it;
	json_span k, x;
	int naggs = 0, r;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1)
		if (feature_member(c, w, &k, &x, f, &naggs, ratio))
			return -1;
	if (!naggs)
		return bad(c, w, "no aggregate; %s", AGG_HELP);
	int derived = f->agg == F_RATIO || f->agg == F_PROJ;
	if (derived && (f->ntypes || f->window))
		return bad(c, w, "a %s takes no \"types\" or \"window\"",
			   f->agg == F_RATIO ? "ratio" : "projection");
	if (f->agg == F_PROJ && !f->proj_field)
		return bad(c, w, "a projection feature needs \"field\": the projection field to read");
	if (f->agg != F_PROJ && f->proj_field)
		return bad(c, w, "only a projection feature takes \"field\"");
	return 0;
}

/* Order the features so that a ratio comes after both features it
 * divides; a ratio that reaches itself is a cycle. */
static int order(fctx *c)
{
	eg_feat_spec *s = c->s;
	int state[FEAT_MAX] = { 0 }, n = 0;   /* 0 new, 1 on the path, 2 done */
	int stack[FEAT_MAX], side[FEAT_MAX];
	for (int r = 0; r < s->nf; r++) {
		if (state[r])
			continue;
		int d = 0;
		stack[0] = r, side[0] = 0, state[r] = 1;
		while (d >= 0) {
			ffeat *f = &s->f[stack[d]];
			if (f->agg != F_RATIO || side[d] == 2) {
				state[stack[d]] = 2;
				s->order[n++] = stack[d--];
				continue;
			}
			int next = f->ratio[side[d]++];
			if (state[next] == 1)
				return bad(c, "$.features", "ratio %s depends on itself through %s",
					   f->name, s->f[next].name);
			if (!state[next]) {
				state[next] = 1;
				stack[++d] = next, side[d] = 0;
			}
		}
	}
	return 0;
}

/* The union of the features' types, or NULL (any) when one of them reads
 * every type; and the hash of what the entity table holds. */
static int table_shape(fctx *c)
{
	eg_feat_spec *s = c->s;
	int any = 0, n = 0;
	free(s->types);
	s->types = NULL;
	s->ntypes = 0;
	for (int i = 0; i < s->nf; i++) {
		ffeat *f = &s->f[i];
		if (f->agg == F_RATIO || (f->agg == F_PROJ && !f->proj_late))
			continue;
		any |= !f->ntypes;
		n += f->ntypes;
		/* a projection's state is its whole history: no ttl */
		int64_t lo = f->window;
		if (s->ttl && (!lo || s->ttl < lo) && f->agg != F_PROJ)
			lo = s->ttl;
		f->lo = lo;
	}
	if (!any && n) {
		if (!(s->types = calloc((size_t)n, sizeof *s->types)))
			return bad(c, "$", "out of memory");
		for (int i = 0; i < s->nf; i++)
			for (int j = 0; j < s->f[i].ntypes && (s->f[i].agg != F_PROJ ||
								s->f[i].proj_late); j++) {
				int k = 0;
				while (k < s->ntypes && strcmp(s->types[k], s->f[i].types[j]))
					k++;
				if (k == s->ntypes)
					s->types[s->ntypes++] = s->f[i].types[j];
			}
	}
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = m && EVP_DigestInit_ex(m, eg_chain_sha256(), NULL) == 1;
#define FEED(t) (ok = ok && EVP_DigestUpdate(m, (t), strlen(t) + 1) == 1)
	FEED("engram features table 1");
	FEED(s->entity.text);
	for (int i = 0; i < s->npaths; i++)
		FEED(s->paths[i].text);
	FEED(s->types ? "types" : "any");
	/* the types in the order they are named: a reordered spec builds
	 * its own table, which is only slower */
	for (int i = 0; i < s->ntypes; i++)
		FEED(s->types[i]);
#undef FEED
	ok = ok && EVP_DigestFinal_ex(m, s->table_hash, &len) == 1 && len == 32;
	EVP_MD_CTX_free(m);
	return ok ? 0 : bad(c, "$", "cannot hash the spec");
}

static int labels(fctx *c, const json_span *v)
{
	eg_feat_spec *s = c->s;
	static const char HELP[] = "expected {\"entity\": COLUMN, \"cutoff\": COLUMN}";
	if (v->type != JSON_OBJECT)
		return bad(c, "$.labels", HELP);
	json_obj it;
	json_span k, x;
	int r;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		if (eg_proj_key_is(&k, "entity")) {
			free(s->label_entity);
			if (!(s->label_entity = dup_string(c, "$.labels.entity", &x)))
				return -1;
		} else if (eg_proj_key_is(&k, "cutoff")) {
			free(s->label_cutoff);
			if (!(s->label_cutoff = dup_string(c, "$.labels.cutoff", &x)))
				return -1;
		} else {
			return bad(c, "$.labels", "unknown member %.*s; %s", (int)k.n, k.p, HELP);
		}
	}
	if (!s->label_entity || !s->label_cutoff)
		return bad(c, "$.labels", "%s (both)", HELP);
	return 0;
}

static int parse(fctx *c, const char *json, size_t n)
{
	eg_feat_spec *s = c->s;
	static const char HELP[] = "expected a JSON object: {\"entity\", \"labels\", "
				   "\"features\", \"ttl\", \"inclusive\"}";
	if (eg_spec_check_json(&c->e, json, n))
		return -1;
	json_obj it;
	json_span k, v, feats = { 0 }, ent = { 0 };
	if (eg_json_obj_begin(&it, json, n, NULL))
		return bad(c, "$", HELP);
	int r;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (eg_proj_key_is(&k, "entity")) {
			ent = v;
		} else if (eg_proj_key_is(&k, "features")) {
			feats = v;
		} else if (eg_proj_key_is(&k, "labels")) {
			if (labels(c, &v))
				return -1;
		} else if (eg_proj_key_is(&k, "ttl")) {
			if (duration(c, "$.ttl", &v, &s->ttl))
				return -1;
		} else if (eg_proj_key_is(&k, "inclusive")) {
			if (v.type != JSON_TRUE && v.type != JSON_FALSE)
				return bad(c, "$.inclusive", "expected true or false");
			s->inclusive = v.type == JSON_TRUE;
		} else if (eg_proj_key_is(&k, "name") || eg_proj_key_is(&k, "description")) {
			if (v.type != JSON_STRING)
				return bad(c, "$", "%.*s: expected a string", (int)k.n, k.p);
		} else {
			char *kn = eg_json_string_dup(&k, NULL);
			bad(c, "$", "unknown member '%s'; %s", kn ? kn : "?", HELP);
			free(kn);
			return -1;
		}
	}
	if (!ent.p)
		return bad(c, "$.entity", "missing: the path that names an event's entity "
			   "(stream, actor, session or data.a.b)");
	char why[400];
	if (eg_path_parse(&ent, &s->entity, why, sizeof why))
		return bad(c, "$.entity", "%s", why);
	int root = s->entity.root;
	if (root != EG_PATH_STREAM && root != EG_PATH_ACTOR && root != EG_PATH_SESSION &&
	    root != EG_PATH_DATA && root != EG_PATH_META)
		return bad(c, "$.entity", "expected stream, actor, session, data.a.b or meta.a.b");
	if (!feats.p || feats.type != JSON_OBJECT)
		return bad(c, "$.features", "expected an object of features by name; %s", AGG_HELP);
	json_span ratios[FEAT_MAX];
	eg_json_obj_begin(&it, feats.p, feats.n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (s->nf == FEAT_MAX)
			return bad(c, "$.features", "at most %d features", FEAT_MAX);
		ratios[s->nf].p = NULL;
		if (feature(c, &k, &v, &ratios[s->nf]))
			return -1;
	}
	if (!s->nf)
		return bad(c, "$.features", "expected at least one feature; %s", AGG_HELP);
	for (int i = 0; i < s->nf; i++)
		if (s->f[i].agg == F_RATIO) {
			char w[300];
			snprintf(w, sizeof w, "$.features.%s.ratio", s->f[i].name);
			if (ratio_names(c, w, &ratios[i], &s->f[i]))
				return -1;
		}
	return order(c) || table_shape(c);
}

int eg_feat_spec_parse(const char *json, size_t n, eg_feat_spec **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	char dummy[8];
	fctx c = { .e = { err ? err : dummy, err ? errlen : sizeof dummy, 0 } };
	if (!(c.s = calloc(1, sizeof *c.s)))
		return EG_ENOMEM;
	if (!(c.s->src = eg_spec_src_dup(json, n))) {
		free(c.s);
		return EG_ENOMEM;
	}
	c.s->srclen = n;
	if (parse(&c, json, n)) {
		eg_feat_spec_free(c.s);
		return strstr(c.e.msg, "out of memory") ? EG_ENOMEM : EG_EINVAL;
	}
	*out = c.s;
	return EG_OK;
}

void eg_feat_spec_free(eg_feat_spec *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nf; i++) {
		ffeat *f = &s->f[i];
		free(f->name);
		for (int j = 0; j < f->ntypes; j++)
			free(f->types[j]);
		free(f->types);
		free(f->proj_file);
		free(f->proj_field);
		eg_proj_spec_free(f->proj);
	}
	for (int i = 0; i < s->npaths; i++)
		eg_path_free(&s->paths[i]);
	eg_path_free(&s->entity);
	free(s->types);   /* its strings are the features' */
	free(s->label_entity);
	free(s->label_cutoff);
	free(s->src);
	free(s);
}

size_t eg_feat_spec_count(const eg_feat_spec *s)
{
	return (size_t)s->nf;
}

const char *eg_feat_spec_name(const eg_feat_spec *s, size_t i)
{
	return i < (size_t)s->nf ? s->f[i].name : NULL;
}

const char *eg_feat_spec_label_entity(const eg_feat_spec *s)
{
	return s->label_entity;
}

const char *eg_feat_spec_label_cutoff(const eg_feat_spec *s)
{
	return s->label_cutoff;
}

const char *eg_feat_spec_projection_file(const eg_feat_spec *s, size_t i)
{
	return i < (size_t)s->nf && s->f[i].agg == F_PROJ ? s->f[i].proj_file : NULL;
}

int eg_feat_spec_set_projection(eg_feat_spec *s, size_t i, const char *json, size_t n,
				char *err, size_t errlen)
{
	if (i >= (size_t)s->nf || s->f[i].agg != F_PROJ) {
		snprintf(err, errlen, "feature %zu is not a projection feature", i);
		return EG_EINVAL;
	}
	ffeat *f = &s->f[i];
	eg_proj_spec *p;
	int rc = eg_proj_spec_parse(json, n, &p, err, errlen);
	if (rc)
		return rc;
	int k = 0;
	while (k < p->nf && strcmp(p->f[k].name, f->proj_field))
		k++;
	if (k == p->nf) {
		snprintf(err, errlen, "$.features.%s.field: the projection %s has no field '%s'",
			 f->name, p->name ? p->name : f->proj_file, f->proj_field);
		eg_proj_spec_free(p);
		return EG_EINVAL;
	}
	eg_proj_spec_free(f->proj);
	f->proj = p;
	f->proj_field_ix = k;
	/* Keyed by the spec's entity, its events are in the entity table too
	 * (with its types), where a leakage report finds the late ones. */
	for (int j = 0; j < f->ntypes; j++)
		free(f->types[j]);
	free(f->types);
	f->types = NULL;
	f->ntypes = 0;
	f->proj_late = !strcmp(p->key.text, s->entity.text);
	for (int j = 0; f->proj_late && p->filter && j < p->ntypes; j++) {
		if (!(p->types >> j & 1))
			continue;
		char **t = realloc(f->types, (size_t)(f->ntypes + 1) * sizeof *t);
		if (!t || !(t[f->ntypes] = strdup(p->tnames[j]))) {
			if (t)
				f->types = t;
			snprintf(err, errlen, "out of memory");
			return EG_ENOMEM;
		}
		f->types = t;
		f->ntypes++;
	}
	fctx c = { .s = s, .e = { err, errlen, 0 } };
	/* A count, sum, min or max without signs is answered from the table's
	 * rows (the projection's own state needs no reading then). */
	const pfield *pf = &p->f[k];
	f->push = f->proj_late && !p->no_upcast &&
		  (pf->agg == A_COUNT || pf->agg == A_SUM || pf->agg == A_MIN || pf->agg == A_MAX);
	for (int j = 0; f->push && j <= PROJ_MAX_TYPES; j++)
		f->push = pf->sign[j] == 1;
	f->pagg = pf->agg == A_COUNT ? F_COUNT : pf->agg == A_SUM ? F_SUM :
		  pf->agg == A_MIN ? F_MIN : F_MAX;
	f->path = -1;
	if (f->push && pf->agg != A_COUNT) {
		char q[600];
		size_t tl = strlen(pf->path.text);
		if (6 * tl + 2 > sizeof q) {
			f->push = 0;
		} else {
			json_span v = { q, eg_json_quote(pf->path.text, tl, q), JSON_STRING };
			int known = 0;
			for (int j = 0; j < s->npaths; j++)
				known |= !strcmp(s->paths[j].text, pf->path.text);
			if (s->npaths == FEAT_MAX && !known)
				f->push = 0;
			else if ((f->path = value_path(&c, "$", &v)) < 0)
				return EG_EINVAL;
		}
	}
	return table_shape(&c) ? EG_ENOMEM : EG_OK;
}

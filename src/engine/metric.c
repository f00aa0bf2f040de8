/*
 * metric.c — the rollups of metric samples (docs/METRICS.md): the
 * series table, and cells per series and per name at 1m, 1h and 1d, kept
 * under idx/metrics/ as one checkpoint file per part, each recording the
 * log position it covers.  A query loads only the parts it needs, folds the
 * samples after their position into them (a late sample lands in the cells
 * of its own time), saves them, then answers from the coarsest level that
 * fits each stretch of the range, reading raw samples for the edges no
 * level covers.
 */
#include "engram.h"
#include "buf.h"
#include "derived.h"
#include "errfp.h"
#include "internal.h"
#include "json.h"
#include "metric.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MT_NLEV 3
#define MT_PARTS 6                    /* levels per series, then per name */
static const int64_t mt_level_us[MT_NLEV] = { 60000000LL, 3600000000LL, 86400000000LL };
static const char *const mt_part_name[MT_PARTS] = {
	"series-1m", "series-1h", "series-1d", "name-1m", "name-1h", "name-1d" };
/* The spec of the rollups' directory; errors_grouping is the version
 * error events are fingerprinted with as samples of engram.errors (a
 * store regrouped with another gets rollups of its own). */
static const char mt_spec_fmt[] =
	"{\"kind\":\"metrics\",\"rollups\":[\"1m\",\"1h\",\"1d\"],\"version\":1,"
	"\"errors_grouping\":%d}";

/* Error events are samples of this metric: value 1, tagged with their
 * fingerprint, type, service and release (docs/METRICS.md). */
#define MT_ERRORS "engram.errors"

#define SERIES_MAGIC "EGMSER01"
#define CELLS_MAGIC "EGMCEL02"
#define DELTA_MAGIC "EGMDEL02"

/* One part: the cells of one level, per series or per name. */
typedef struct mt_part {
	int loaded;
	uint64_t pos;                 /* the log position its cells cover */
	uint64_t saved_pos;           /* what its file holds (0: none) */
	mt_cell *c;
	size_t n, cap;
	uint32_t *tab;                /* open addressing: cell index + 1 */
	size_t tcap;
	eg_ds_view view;              /* its file, mapped: the cells' sketch bytes */
	int streamed;                 /* not loaded: read from view by queries */
	bread body;                   /* streamed: the cells in view */
	uint64_t ncells;
} mt_part;

typedef struct mt_series {
	uint32_t name;
	uint64_t hash;
	char *tags, *mtype;
	uint32_t tags_len;
	uint64_t samples;
	int64_t first, last_time;
	uint64_t last_pos;
	double last;
	uint32_t ntags;
	char **tk, **tv;
} mt_series;

struct eg_metrics {
	eg_store *st;
	eg_ds ds;
	uint64_t pos, saved_pos;      /* the series table's */
	uint64_t skipped;
	char **names;
	size_t nnames, names_cap;
	uint32_t *name_tab;
	size_t name_tcap;
	mt_series *s;
	size_t ns, s_cap;
	uint32_t *s_tab;
	size_t s_tcap;
	mt_part part[MT_PARTS];
	/* The cells of the samples after a streamed part's position, kept in
	 * a small file of their own (NAME.delta) until they pass an eighth of
	 * the part, then merged into it: an append does not rewrite the part. */
	mt_part delta[MT_PARTS];
	uint64_t folded;
	int grouping;                 /* errors' grouping version */
};

/* ------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb34fe63a53ceULL;
	return x ^ (x >> 33);
}

static uint64_t cell_key(uint32_t id, int32_t b)
{
	return (uint64_t)id << 32 | (uint32_t)b;
}

/* Grow an index table of *tcap slots for n entries (load at most 1/2),
 * rehashing with keyof. */
static int tab_fit(uint32_t **tab, size_t *tcap, size_t n, uint64_t (*keyof)(const void *, uint32_t),
		   const void *ctx)
{
	if (n * 2 < *tcap)
		return 0;
	size_t cap = *tcap ? *tcap * 2 : 1024;
	while (n * 2 >= cap)
		cap *= 2;
	uint32_t *t = calloc(cap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < *tcap; i++) {
		uint32_t v = (*tab)[i];
		if (!v)
			continue;
		size_t j = mix64(keyof(ctx, v - 1)) & (cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = v;
	}
	free(*tab);
	*tab = t;
	*tcap = cap;
	return 0;
}

static uint64_t part_keyof(const void *ctx, uint32_t i)
{
	const mt_cell *c = &((const mt_part *)ctx)->c[i];
	return cell_key(c->id, c->bucket);
}

static uint64_t series_keyof(const void *ctx, uint32_t i)
{
	return ((const struct eg_metrics *)ctx)->s[i].hash;
}

static uint64_t name_keyof(const void *ctx, uint32_t i)
{
	const char *n = ((const struct eg_metrics *)ctx)->names[i];
	return XXH3_64bits(n, strlen(n));
}

/* The cell (id, b) of p, added empty if absent; NULL if out of memory. */
static mt_cell *part_cell(mt_part *p, uint32_t id, int32_t b)
{
	uint64_t k = cell_key(id, b);
	if (p->tcap) {
		size_t j = mix64(k) & (p->tcap - 1);
		for (; p->tab[j]; j = (j + 1) & (p->tcap - 1)) {
			mt_cell *c = &p->c[p->tab[j] - 1];
			if (c->id == id && c->bucket == b)
				return c;
		}
	}
	if (buf_grow(&p->c, &p->cap, p->n + 1, sizeof *p->c) ||
	    tab_fit(&p->tab, &p->tcap, p->n + 1, part_keyof, p))
		return NULL;
	size_t j = mix64(k) & (p->tcap - 1);
	while (p->tab[j])
		j = (j + 1) & (p->tcap - 1);
	p->tab[j] = (uint32_t)++p->n;
	eg_mt_cell_init(&p->c[p->n - 1], id, b);
	return &p->c[p->n - 1];
}

static void part_free(mt_part *p)
{
	for (size_t i = 0; i < p->n; i++)
		eg_mt_cell_free(&p->c[i]);
	free(p->c);
	free(p->tab);
	if (p->view.p)
		eg_ds_view_free(&p->view);
	*p = (mt_part){ 0 };
}

/* ------------------------------------------------------------ names, series */

static int name_find(struct eg_metrics *m, const char *s, size_t n, int add, uint32_t *out)
{
	uint64_t h = XXH3_64bits(s, n);
	if (m->name_tcap) {
		for (size_t j = mix64(h) & (m->name_tcap - 1); m->name_tab[j];
		     j = (j + 1) & (m->name_tcap - 1)) {
			const char *x = m->names[m->name_tab[j] - 1];
			if (strlen(x) == n && !memcmp(x, s, n)) {
				*out = m->name_tab[j] - 1;
				return 1;
			}
		}
	}
	if (!add)
		return 0;
	char *c = malloc(n + 1);
	if (!c || buf_grow(&m->names, &m->names_cap, m->nnames + 1, sizeof *m->names) ||
	    tab_fit(&m->name_tab, &m->name_tcap, m->nnames + 1, name_keyof, m)) {
		free(c);
		return -1;
	}
	memcpy(c, s, n);
	c[n] = 0;
	m->names[m->nnames] = c;
	size_t j = mix64(h) & (m->name_tcap - 1);
	while (m->name_tab[j])
		j = (j + 1) & (m->name_tcap - 1);
	m->name_tab[j] = (uint32_t)++m->nnames;
	*out = (uint32_t)m->nnames - 1;
	return 1;
}

/* Split canonical tags {"k":"v",...} into s->tk / s->tv. */
static int series_split_tags(mt_series *s)
{
	json_obj it;
	json_span k, v;
	size_t cap = 0;
	s->ntags = 0;
	if (eg_json_obj_begin(&it, s->tags, s->tags_len, NULL))
		return -1;
	int r;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (v.type != JSON_STRING)
			return -1;
		if (buf_grow(&s->tk, &cap, s->ntags + 1, sizeof *s->tk))
			return -1;
		size_t c2 = cap;
		s->tv = realloc(s->tv, c2 * sizeof *s->tv);
		if (!s->tv)
			return -1;
		s->tk[s->ntags] = eg_json_string_dup(&k, NULL);
		s->tv[s->ntags] = eg_json_string_dup(&v, NULL);
		if (!s->tk[s->ntags] || !s->tv[s->ntags])
			return -1;
		s->ntags++;
	}
	return r < 0 ? -1 : 0;
}

static uint64_t series_hash(uint32_t name, const char *tags, size_t n)
{
	return XXH3_64bits_withSeed(tags, n, name + 1);
}

/* The series (name, tags): its index, added if absent (-1: no memory). */
static int64_t series_find(struct eg_metrics *m, uint32_t name, const char *tags, size_t n)
{
	uint64_t h = series_hash(name, tags, n);
	if (m->s_tcap) {
		for (size_t j = mix64(h) & (m->s_tcap - 1); m->s_tab[j]; j = (j + 1) & (m->s_tcap - 1)) {
			mt_series *s = &m->s[m->s_tab[j] - 1];
			if (s->hash == h && s->name == name && s->tags_len == n && !memcmp(s->tags, tags, n))
				return m->s_tab[j] - 1;
		}
	}
	if (buf_grow(&m->s, &m->s_cap, m->ns + 1, sizeof *m->s) ||
	    tab_fit(&m->s_tab, &m->s_tcap, m->ns + 1, series_keyof, m))
		return -1;
	mt_series *s = &m->s[m->ns];
	*s = (mt_series){ .name = name, .hash = h, .tags_len = (uint32_t)n,
			  .first = INT64_MAX, .last_time = INT64_MIN };
	s->tags = malloc(n + 1);
	if (!s->tags)
		return -1;
	memcpy(s->tags, tags, n);
	s->tags[n] = 0;
	if (series_split_tags(s))
		return -1;
	size_t j = mix64(h) & (m->s_tcap - 1);
	while (m->s_tab[j])
		j = (j + 1) & (m->s_tcap - 1);
	m->s_tab[j] = (uint32_t)++m->ns;
	return (int64_t)m->ns - 1;
}

static void series_free_all(struct eg_metrics *m)
{
	for (size_t i = 0; i < m->ns; i++) {
		mt_series *s = &m->s[i];
		for (uint32_t k = 0; k < s->ntags; k++)
			free(s->tk[k]), free(s->tv[k]);
		free(s->tk), free(s->tv), free(s->tags), free(s->mtype);
	}
	free(m->s);
	free(m->s_tab);
	for (size_t i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	free(m->name_tab);
	m->s = NULL, m->s_tab = NULL, m->names = NULL, m->name_tab = NULL;
	m->ns = m->s_cap = m->s_tcap = m->nnames = m->names_cap = m->name_tcap = 0;
}

/* ------------------------------------------------------------ samples */

typedef struct mt_sample {
	double v;
	char tags[4096];              /* canonical tags */
	size_t tags_len;
	json_span mtype;
	int has_mtype;
} mt_sample;

typedef struct mt_tag {
	char *k, *v;
	size_t kn, vn;
} mt_tag;

static int tag_cmp(const void *a, const void *b)
{
	const mt_tag *x = a, *y = b;
	size_t n = x->kn < y->kn ? x->kn : y->kn;
	int c = memcmp(x->k, y->k, n);
	return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

/* Canonical tags: keys sorted (bytes), the last of duplicate keys kept,
 * compact JSON.  -1 if tags is not an object of strings or too long. */
static int canon_tags(const json_span *tags, mt_sample *out)
{
	mt_tag t[64];
	size_t n = 0;
	json_obj it;
	json_span k, v;
	int r, ok = 0;
	if (eg_json_obj_begin(&it, tags->p, tags->n, NULL))
		return -1;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (v.type != JSON_STRING || n == 64)
			goto done;
		t[n].k = eg_json_string_dup(&k, &t[n].kn);
		t[n].v = eg_json_string_dup(&v, &t[n].vn);
		n++;
		if (!t[n - 1].k || !t[n - 1].v)
			goto done;
	}
	if (r < 0)
		goto done;
	/* a stable sort keeps the order of duplicates: the last one wins */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && tag_cmp(&t[j - 1], &t[j]) > 0; j--) {
			mt_tag x = t[j];
			t[j] = t[j - 1], t[j - 1] = x;
		}
	size_t o = 0;
	out->tags[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !tag_cmp(&t[i], &t[i + 1]))
			continue;
		if (o + 6 * (t[i].kn + t[i].vn) + 8 > sizeof out->tags)
			goto done;
		if (o > 1)
			out->tags[o++] = ',';
		o += eg_json_quote(t[i].k, t[i].kn, out->tags + o);
		out->tags[o++] = ':';
		o += eg_json_quote(t[i].v, t[i].vn, out->tags + o);
	}
	out->tags[o++] = '}';
	out->tags_len = o;
	ok = 1;
done:
	for (size_t i = 0; i < n; i++)
		free(t[i].k), free(t[i].v);
	return ok ? 0 : -1;
}

/* The sample in e's data: 0, or -1 when it is not one (no finite numeric
 * value, tags that are not an object of strings). */
static int parse_sample(const eg_event *e, mt_sample *out)
{
	static const char *const names[3] = { "value", "tags", "metric_type" };
	static const size_t lens[3] = { 5, 4, 11 };
	json_span data = { e->data, e->data_len, JSON_OBJECT }, v[3];
	if (!e->data_len || e->data[0] != '{')
		return -1;
	unsigned got = eg_json_members_valid(&data, names, lens, 3, v);
	if (!(got & 1) || v[0].type != JSON_NUMBER || v[0].n >= 64)
		return -1;
	char num[64];
	memcpy(num, v[0].p, v[0].n);
	num[v[0].n] = 0;
	out->v = strtod(num, NULL);
	if (!isfinite(out->v))
		return -1;
	out->tags_len = 2;
	memcpy(out->tags, "{}", 2);
	if ((got & 2) && v[1].type != JSON_NULL) {
		if (v[1].type != JSON_OBJECT || canon_tags(&v[1], out))
			return -1;
	}
	out->has_mtype = (got & 4) && v[2].type == JSON_STRING;
	out->mtype = v[2];
	return 0;
}

/* An error event as a sample of engram.errors: value 1, its tags the
 * fingerprint (of the store's grouping version), release, service and
 * type, in that (sorted) order, those it has.  0, -1 when a tag does not
 * fit, EG_ENOMEM. */
static int error_sample(int version, const eg_event *e, mt_sample *out)
{
	static const char *const names[2] = { "release", "service" };
	static const size_t lens[2] = { 7, 7 };
	json_span data = { "{}", 2, JSON_OBJECT }, v[2];
	if (e->data_len && e->data[0] == '{')
		data = (json_span){ e->data, e->data_len, JSON_OBJECT };
	char fp[33];
	if (eg_err_fingerprint(version, e->type, e->type_len, data.p, data.n, fp, NULL) < 0)
		return EG_ENOMEM;
	unsigned got = eg_json_members_valid(&data, names, lens, 2, v);
	size_t o = 0;
	o += (size_t)snprintf(out->tags, sizeof out->tags, "{\"fingerprint\":\"%s\"", fp);
	for (int i = 0; i < 3; i++) {
		const char *k = i < 2 ? names[i] : "type";
		char *t = NULL;
		size_t tn = 0;
		if (i == 2) {
			t = malloc(e->type_len + 1);
			if (t) {
				memcpy(t, e->type, e->type_len);
				tn = e->type_len;
			}
		} else if (got >> i & 1 && v[i].type == JSON_STRING) {
			t = eg_json_string_dup(&v[i], &tn);
		} else {
			continue;
		}
		if (!t)
			return EG_ENOMEM;
		if (o + 6 * tn + 16 > sizeof out->tags) {
			free(t);
			return -1;
		}
		o += (size_t)snprintf(out->tags + o, sizeof out->tags - o, ",\"%s\":", k);
		o += eg_json_quote(t, tn, out->tags + o);
		free(t);
	}
	out->tags[o++] = '}';
	out->tags_len = o;
	out->v = 1;
	out->has_mtype = 0;
	return 0;
}

/* The sample an event is, with its metric's name: a metric event's own,
 * or an error event's as engram.errors.  0; -1 when it is no sample;
 * EG_ENOMEM. */
static int sample_of(const struct eg_metrics *m, const eg_event *e, mt_sample *smp,
		     const char **name, size_t *name_len)
{
	if (e->kind == EG_KIND_ERROR) {
		*name = MT_ERRORS;
		*name_len = sizeof MT_ERRORS - 1;
		return error_sample(m->grouping, e, smp);
	}
	*name = e->type;
	*name_len = e->type_len;
	return parse_sample(e, smp);
}

int eg_mt_sample_parse(const char *data, size_t n, double *v, char *tags, size_t cap,
		       size_t *tags_len)
{
	mt_sample *smp = malloc(sizeof *smp);
	if (!smp)
		return -1;
	eg_event e = { .data = data, .data_len = n };
	int r = parse_sample(&e, smp);
	if (!r && smp->tags_len > cap)
		r = -1;
	if (!r) {
		*v = smp->v;
		memcpy(tags, smp->tags, smp->tags_len);
		*tags_len = smp->tags_len;
	}
	free(smp);
	return r;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Fold one event into the series table (if beyond its position) and into
 * each loaded part beyond whose position it is. */
/* A sample to fold: any source of samples gives these (metric events
 * today; error events as samples of engram.errors, value 1, next). */
typedef struct mt_fold {
	const char *name, *tags;      /* tags canonical (canon_tags) */
	size_t name_len, tags_len;
	double v;
	int64_t time;
	uint64_t pos;
	const json_span *mtype;       /* data.metric_type, or NULL */
} mt_fold;

/* Fold one sample into the series table (if beyond its position) and into
 * each loaded part beyond whose position it is. */
static int fold_sample(struct eg_metrics *m, const mt_fold *f)
{
	uint32_t name;
	if (name_find(m, f->name, f->name_len, 1, &name) < 0)
		return EG_ENOMEM;
	int64_t si = series_find(m, name, f->tags, f->tags_len);
	if (si < 0)
		return EG_ENOMEM;
	mt_series *s = &m->s[si];
	if (f->pos > m->pos) {
		s->samples++;
		if (f->time < s->first)
			s->first = f->time;
		if (f->time > s->last_time || (f->time == s->last_time && f->pos > s->last_pos)) {
			s->last_time = f->time;
			s->last_pos = f->pos;
			s->last = f->v;
			if (f->mtype) {
				char *t = eg_json_string_dup(f->mtype, NULL);
				if (!t)
					return EG_ENOMEM;
				free(s->mtype);
				s->mtype = t;
			}
		}
	}
	for (int k = 0; k < 2 * MT_PARTS; k++) {
		int p = k % MT_PARTS;
		/* a part loaded whole, or the delta of one streamed: never both */
		mt_part *pt = k < MT_PARTS ? &m->part[p] : &m->delta[p];
		if (!pt->loaded || f->pos <= pt->pos)
			continue;
		int32_t b = (int32_t)floordiv(f->time, mt_level_us[p % MT_NLEV]);
		mt_cell *c = part_cell(pt, p < MT_NLEV ? (uint32_t)si : name, b);
		if (!c || eg_mt_cell_add(c, f->v, f->time, f->pos))
			return EG_ENOMEM;
	}
	m->folded++;
	return 0;
}

/* A metric event: its sample folded, or counted as skipped. */
static int fold_event(struct eg_metrics *m, const eg_event *e, mt_sample *smp)
{
	const char *name;
	size_t nl;
	int r = sample_of(m, e, smp, &name, &nl);
	if (r == EG_ENOMEM)
		return r;
	if (r || floordiv(e->time, mt_level_us[0]) != (int32_t)floordiv(e->time, mt_level_us[0])) {
		if (e->pos > m->pos)
			m->skipped++;
		return 0;
	}
	mt_fold f = { name, smp->tags, nl, smp->tags_len, smp->v, e->time, e->pos,
		      smp->has_mtype ? &smp->mtype : NULL };
	return fold_sample(m, &f);
}

/* ------------------------------------------------------------ files */

typedef struct wout {
	eg_ds_wr w;
	unsigned char b[1 << 16];
	size_t n;
} wout;

static void w_put(wout *o, const void *p, size_t n)
{
	if (o->n + n > sizeof o->b) {
		eg_ds_wr_put(&o->w, o->b, o->n, 1);
		o->n = 0;
	}
	if (n > sizeof o->b) {
		eg_ds_wr_put(&o->w, p, n, 1);
		return;
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void w_u32(wout *o, uint32_t v) { w_put(o, &v, 4); }
static void w_u64(wout *o, uint64_t v) { w_put(o, &v, 8); }
static void w_f64(wout *o, double v) { w_put(o, &v, 8); }
static void w_var(wout *o, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (unsigned char)v;
	w_put(o, b, n);
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void w_str(wout *o, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
	w_u32(o, n);
	if (s)
		w_put(o, s, n);
}

static int w_commit(struct eg_metrics *m, wout *o, const char *name)
{
	eg_ds_wr_put(&o->w, o->b, o->n, 1);
	if (eg_ds_wr_commit(&o->w, NULL, 0, 1)) {
		eg_st_note_errno(m->st, "metrics rollups: %s", name);
		return -1;
	}
	return 0;
}

static void save_series(struct eg_metrics *m)
{
	wout *o = malloc(sizeof *o);
	if (!o || eg_ds_wr_begin(&o->w, &m->ds, "series", 0)) {
		free(o);
		return;
	}
	o->n = 0;
	w_put(o, SERIES_MAGIC, 8);
	w_u64(o, m->pos);
	w_u64(o, m->skipped);
	w_u32(o, (uint32_t)m->nnames);
	for (size_t i = 0; i < m->nnames; i++)
		w_str(o, m->names[i]);
	w_u32(o, (uint32_t)m->ns);
	for (size_t i = 0; i < m->ns; i++) {
		const mt_series *s = &m->s[i];
		w_u32(o, s->name);
		w_str(o, s->tags);
		w_str(o, s->mtype);
		w_u64(o, s->samples);
		w_u64(o, (uint64_t)s->first);
		w_u64(o, (uint64_t)s->last_time);
		w_u64(o, s->last_pos);
		w_f64(o, s->last);
	}
	if (!w_commit(m, o, "series"))
		m->saved_pos = m->pos;
	free(o);
}

/* Write part p (delta: its delta, on the part at base_pos). */
static void save_part(struct eg_metrics *m, int p, int delta, uint64_t base_pos)
{
	mt_part *pt = delta ? &m->delta[p] : &m->part[p];
	wout *o = malloc(sizeof *o);
	unsigned char *sk = NULL;
	size_t skcap = 0;
	char name[64];
	snprintf(name, sizeof name, "%s%s", mt_part_name[p], delta ? ".delta" : "");
	if (!o || eg_ds_wr_begin(&o->w, &m->ds, name, 0)) {
		free(o);
		return;
	}
	o->n = 0;
	w_put(o, delta ? DELTA_MAGIC : CELLS_MAGIC, 8);
	w_u32(o, (uint32_t)p);
	w_u64(o, pt->pos);
	if (delta)
		w_u64(o, base_pos);
	w_u64(o, pt->n);
	/* Cells as varints, each against the one before (in the order they
	 * were made, which is mostly time order): a one-sample cell, most of
	 * the 1-minute level, is its count, id, bucket step, value, time in
	 * its bucket and position step, some 18 bytes; min, max, sum and last
	 * are its value. */
	int64_t pb = 0, pp = 0, L = mt_level_us[p % MT_NLEV];
	for (size_t i = 0; i < pt->n; i++) {
		const mt_cell *c = &pt->c[i];
		w_var(o, c->count);
		w_var(o, c->id);
		w_var(o, zz((int64_t)c->bucket - pb));
		w_var(o, (uint64_t)(c->last_time - (int64_t)c->bucket * L));
		w_var(o, zz((int64_t)((uint64_t)c->last_pos - (uint64_t)pp)));
		pb = c->bucket, pp = (int64_t)c->last_pos;
		if (c->count == 1) {
			w_f64(o, c->last);
			continue;
		}
		w_f64(o, c->sum);
		w_f64(o, c->min);
		w_f64(o, c->max);
		w_f64(o, c->last);
		if (!c->sk && c->enc) {
			w_var(o, c->enc_n);
			w_put(o, c->enc, c->enc_n);
			continue;
		}
		size_t n = c->sk ? eg_qs_encoded_size(c->sk) : 0;
		if (n > skcap) {
			unsigned char *x = realloc(sk, n);
			if (!x) {
				eg_ds_wr_abort(&o->w);
				free(o), free(sk);
				return;
			}
			sk = x, skcap = n;
		}
		w_var(o, n);
		if (n)
			w_put(o, sk, eg_qs_encode(c->sk, sk));
	}
	if (!w_commit(m, o, name))
		pt->saved_pos = pt->pos;
	free(o);
	free(sk);
}

static int read_file(struct eg_metrics *m, const char *name, const char *magic, eg_ds_view *v, bread *r)
{
	if (m->ds.lockfd < 0)
		return -1;
	if (eg_ds_read(&m->ds, name, EG_DS_MAP, 16, eg_ds_tail_sum_ok, NULL, v))
		return -1;
	r->p = v->p;
	r->end = v->p + v->n - 8;
	r->bad = 0;
	const unsigned char *mg = bread_get(r, 8);
	if (!mg || memcmp(mg, magic, 8)) {
		eg_ds_view_free(v);
		return -1;
	}
	return 0;
}

static char *r_str(bread *r, int *null)
{
	uint32_t n = bread_u32(r);
	*null = n == UINT32_MAX;
	if (*null || r->bad)
		return NULL;
	const unsigned char *p = bread_get(r, n);
	char *s = p ? malloc(n + 1) : NULL;
	if (!s) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

static uint64_t r_var(bread *r)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		const unsigned char *b = bread_get(r, 1);
		if (!b)
			return 0;
		v |= (uint64_t)(*b & 0x7f) << sh;
		if (!(*b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static double r_f64(bread *r)
{
	uint64_t u = bread_u64(r);
	double d;
	memcpy(&d, &u, 8);
	return d;
}

/* Load the series table; a missing or damaged file is an empty table at
 * position 0, to be rebuilt from the log. */
static void load_series(struct eg_metrics *m)
{
	eg_ds_view v;
	bread r;
	int null;
	if (read_file(m, "series", SERIES_MAGIC, &v, &r))
		return;
	m->pos = bread_u64(&r);
	m->skipped = bread_u64(&r);
	uint32_t nn = bread_u32(&r);
	for (uint32_t i = 0; i < nn && !r.bad; i++) {
		char *s = r_str(&r, &null);
		uint32_t id;
		if (!s || name_find(m, s, strlen(s), 1, &id) != 1 || id != i)
			r.bad = 1;
		free(s);
	}
	uint32_t ns = bread_u32(&r);
	for (uint32_t i = 0; i < ns && !r.bad; i++) {
		uint32_t name = bread_u32(&r);
		char *tags = r_str(&r, &null), *mt = NULL;
		if (!tags || name >= m->nnames) {
			free(tags);
			r.bad = 1;
			break;
		}
		int64_t si = series_find(m, name, tags, strlen(tags));
		free(tags);
		if (si != (int64_t)i) {
			r.bad = 1;
			break;
		}
		mt_series *s = &m->s[si];
		mt = r_str(&r, &null);
		s->mtype = mt;
		s->samples = bread_u64(&r);
		s->first = (int64_t)bread_u64(&r);
		s->last_time = (int64_t)bread_u64(&r);
		s->last_pos = bread_u64(&r);
		s->last = r_f64(&r);
	}
	eg_ds_view_free(&v);
	if (r.bad || r.p != r.end) {
		/* damaged: rebuilt, never trusted */
		series_free_all(m);
		m->pos = m->skipped = 0;
		return;
	}
	m->saved_pos = m->pos;
}

/* Reading a part's cells in file order (see save_part). */
typedef struct mt_dec {
	bread r;
	uint64_t pos, base_pos, left;
	int64_t pb, pp, L;
	uint32_t lim;
} mt_dec;

/* Open part p's file and read its header: 0, or -1 (absent, damaged, not
 * this part's). */
static int dec_open(struct eg_metrics *m, int p, int delta, eg_ds_view *v, mt_dec *d)
{
	char name[64];
	snprintf(name, sizeof name, "%s%s", mt_part_name[p], delta ? ".delta" : "");
	if (read_file(m, name, delta ? DELTA_MAGIC : CELLS_MAGIC, v, &d->r))
		return -1;
	uint32_t which = bread_u32(&d->r);
	d->pos = bread_u64(&d->r);
	d->base_pos = delta ? bread_u64(&d->r) : 0;
	d->left = bread_u64(&d->r);
	d->pb = d->pp = 0;
	d->L = mt_level_us[p % MT_NLEV];
	d->lim = p < MT_NLEV ? (uint32_t)m->ns : (uint32_t)m->nnames;
	if (d->r.bad || which != (uint32_t)p || d->left > (uint64_t)(d->r.end - d->r.p) / 13 ||
	    d->pos > m->pos) {
		eg_ds_view_free(v);
		return -1;
	}
	return 0;
}

/* The next cell into c (its sketch left encoded, pointing into the file):
 * 1, 0 after the last (the bytes all read), -1 if damaged. */
static int dec_next(mt_dec *d, mt_cell *c)
{
	bread *r = &d->r;
	if (!d->left)
		return r->p == r->end ? 0 : -1;
	d->left--;
	uint64_t count = r_var(r), id = r_var(r);
	/* unsigned steps: damaged bytes wrap, then fail the checks below */
	int64_t b = (int64_t)((uint64_t)d->pb + (uint64_t)unzz(r_var(r)));
	uint64_t off = r_var(r);
	int64_t lp = (int64_t)((uint64_t)d->pp + (uint64_t)unzz(r_var(r)));
	int64_t L = d->L;
	if (r->bad || id >= d->lim || b != (int32_t)b || b <= INT64_MIN / L + 1 ||
	    b >= INT64_MAX / L - 1 || !count || off >= (uint64_t)L)
		return -1;
	d->pb = b, d->pp = lp;
	eg_mt_cell_init(c, (uint32_t)id, (int32_t)b);
	c->count = count;
	c->last_time = b * L + (int64_t)off;
	c->last_pos = (uint64_t)lp;
	if (count == 1) {
		c->sum = c->min = c->max = c->last = r_f64(r);
		return r->bad ? -1 : 1;
	}
	c->sum = r_f64(r);
	c->min = r_f64(r);
	c->max = r_f64(r);
	c->last = r_f64(r);
	uint64_t skn = r_var(r);
	const unsigned char *sk = bread_get(r, skn);
	if (r->bad || (skn && count <= 2) || (!skn && count > 2))
		return -1;
	c->enc = skn ? sk : NULL;
	c->enc_n = (uint32_t)skn;
	return 1;
}

/* Load part p whole, to fold samples into it; missing or damaged, it is
 * empty at position 0, to be rebuilt from the log. */
static void load_part(struct eg_metrics *m, int p)
{
	mt_part *pt = &m->part[p];
	eg_ds_view v;
	mt_dec d;
	mt_cell x;
	int r;
	pt->loaded = 1;
	if (dec_open(m, p, 0, &v, &d))
		return;
	while ((r = dec_next(&d, &x)) == 1) {
		mt_cell *c = part_cell(pt, x.id, x.bucket);
		if (!c || c->count) {
			r = -1;
			break;
		}
		*c = x;
	}
	pt->view = v;                 /* kept: the cells' sketches point into it */
	if (r) {
		part_free(pt);
		pt->loaded = 1;
		return;
	}
	pt->pos = pt->saved_pos = d.pos;
}

/* Open part p for a query: its file streamed (a query reads the cells
 * from the mapping, building no table) with its delta loaded to fold new
 * samples into; or, with no usable file, loaded empty at position 0, to be
 * rebuilt from the log. */
static void open_part(struct eg_metrics *m, int p)
{
	mt_part *pt = &m->part[p], *dl = &m->delta[p];
	eg_ds_view v;
	mt_dec d;
	mt_cell x;
	int r;
	if (pt->loaded || pt->streamed)
		return;
	if (dec_open(m, p, 0, &v, &d)) {
		load_part(m, p);
		return;
	}
	pt->view = v;
	pt->streamed = 1;
	pt->body = d.r;
	pt->ncells = d.left;
	pt->pos = pt->saved_pos = d.pos;
	dl->loaded = 1;
	dl->pos = dl->saved_pos = d.pos;
	/* a delta on another version of the part (one merged since) is stale */
	if (dec_open(m, p, 1, &v, &d))
		return;
	if (d.base_pos != pt->pos) {
		eg_ds_view_free(&v);
		return;
	}
	while ((r = dec_next(&d, &x)) == 1) {
		mt_cell *c = part_cell(dl, x.id, x.bucket);
		if (!c || c->count) {
			r = -1;
			break;
		}
		*c = x;
	}
	dl->view = v;
	if (r) {
		part_free(dl);
		dl->loaded = 1;
		dl->pos = dl->saved_pos = pt->pos;
		return;
	}
	dl->pos = dl->saved_pos = d.pos;
}

/* Merge the delta of part p into it: the part, streamed, becomes a table
 * of its cells with the delta's merged in; the delta is emptied (its file,
 * naming the old part's position, is stale from then on).  EG_OK or
 * EG_ENOMEM (the part is then left as it was). */
static int merge_delta(struct eg_metrics *m, int p)
{
	mt_part *pt = &m->part[p], *dl = &m->delta[p];
	mt_part t = { 0 };
	mt_dec d = { .r = pt->body, .left = pt->ncells, .L = mt_level_us[p % MT_NLEV],
		     .lim = UINT32_MAX };
	mt_cell x;
	int r;
	while ((r = dec_next(&d, &x)) == 1) {
		mt_cell *c = part_cell(&t, x.id, x.bucket);
		if (!c)
			goto nomem;
		*c = x;
	}
	for (size_t i = 0; i < dl->n; i++) {
		mt_cell *s = &dl->c[i], *c = part_cell(&t, s->id, s->bucket);
		/* sketches owned, not borrowed from the delta's file */
		if (!c || eg_mt_cell_sketch(s) || eg_mt_cell_sketch(c) || eg_mt_cell_merge(c, s, 1))
			goto nomem;
	}
	t.view = pt->view;            /* the part's cells' sketches point into it */
	t.loaded = 1;
	t.pos = dl->pos;
	t.saved_pos = pt->saved_pos;
	pt->view = (eg_ds_view){ 0 };
	part_free(pt);
	*pt = t;
	part_free(dl);
	return EG_OK;
nomem:
	part_free(&t);
	return EG_ENOMEM;
}

/* ------------------------------------------------------------ catching up */

/* Load the parts of mask and fold the log after the oldest position any of
 * them (or the series table) covers; save what moved. */
static int catch_up(struct eg_metrics *m, unsigned mask)
{
	eg_head h;
	int rc = eg_store_head(m->st, &h);
	if (rc)
		return rc;
	eg_ds_lock(m->st, &m->ds);
	for (int p = 0; p < MT_PARTS; p++)
		if (mask >> p & 1)
			open_part(m, p);
	uint64_t from = m->pos;
	for (int p = 0; p < MT_PARTS; p++) {
		if (m->part[p].loaded && m->part[p].pos < from)
			from = m->part[p].pos;
		if (m->delta[p].loaded && m->delta[p].pos < from)
			from = m->delta[p].pos;
	}
	if (from < h.pos) {
		eg_filter f = { .from = from + 1, .to = h.pos,
				.kinds = 1u << EG_KIND_METRIC | 1u << EG_KIND_ERROR };
		eg_iter *it;
		const eg_event *e;
		mt_sample *smp = malloc(sizeof *smp);
		if (!smp) {
			eg_ds_unlock(&m->ds);
			return EG_ENOMEM;
		}
		if ((rc = eg_iter_new(m->st, &it, &f))) {
			free(smp);
			eg_ds_unlock(&m->ds);
			return rc;
		}
		while ((rc = eg_iter_next(it, &e)) == EG_OK)
			if ((rc = fold_event(m, e, smp)))
				break;
		eg_iter_free(it);
		free(smp);
		if (rc != EG_END) {
			eg_ds_unlock(&m->ds);
			return rc;
		}
		rc = 0;
	}
	m->pos = h.pos;
	for (int p = 0; p < MT_PARTS; p++) {
		if (m->part[p].loaded)
			m->part[p].pos = h.pos;
		if (m->delta[p].loaded)
			m->delta[p].pos = h.pos;
	}
	if (m->ds.lockfd >= 0) {
		if (m->saved_pos != m->pos)
			save_series(m);
		for (int p = 0; p < MT_PARTS; p++) {
			mt_part *pt = &m->part[p], *dl = &m->delta[p];
			if (dl->loaded && dl->saved_pos != dl->pos) {
				if (dl->n > pt->ncells / 8 + 16 && merge_delta(m, p) == EG_OK)
					save_part(m, p, 0, 0);
				else
					save_part(m, p, 1, pt->pos);
			}
			if (pt->loaded && pt->saved_pos != pt->pos)
				save_part(m, p, 0, 0);
		}
	}
	eg_ds_unlock(&m->ds);
	return 0;
}

int eg_metrics_open(eg_store *st, eg_metrics **out)
{
	int grouping, rc = eg_errors_grouping(st, &grouping);
	*out = NULL;
	if (rc)
		return rc;
	struct eg_metrics *m = calloc(1, sizeof *m);
	*out = m;
	if (!m)
		return EG_ENOMEM;
	m->st = st;
	m->grouping = grouping;
	unsigned char hash[16];
	char hex[33];
	char mt_spec[160];
	int sn = snprintf(mt_spec, sizeof mt_spec, mt_spec_fmt, m->grouping);
	XXH128_hash_t x = XXH3_128bits(mt_spec, (size_t)sn);
	memcpy(hash, &x.high64, 8);
	memcpy(hash + 8, &x.low64, 8);
	eg_ds_hex(hash, hex);
	eg_ds_open(st, "metrics", hex, 0, mt_spec, (size_t)sn, &m->ds);
	eg_ds_lock(st, &m->ds);
	load_series(m);
	eg_ds_unlock(&m->ds);
	return EG_OK;
}

void eg_metrics_close(eg_metrics *m)
{
	if (!m)
		return;
	for (int p = 0; p < MT_PARTS; p++) {
		part_free(&m->part[p]);
		part_free(&m->delta[p]);
	}
	series_free_all(m);
	eg_ds_close(&m->ds);
	free(m);
}

/* Rollups are rebuilt on next use, from the log. */
__attribute__((constructor)) static void mt_register(void)
{
	eg_ds_register("metrics", "metrics", NULL, NULL);
}

/* ------------------------------------------------------------ queries */

/* A stretch [a, b) of the query's range served by level lev (-1: raw). */
typedef struct mt_piece {
	int lev;
	int64_t a, b;
} mt_piece;

/* A group of the answer: a name and the values of the --by tags. */
typedef struct mt_group {
	uint32_t name;
	const char **by;
	const char *tags;             /* by_series: the series' */
} mt_group;

typedef struct mt_run {
	struct eg_metrics *m;
	const eg_metrics_query *q;
	int per_name, want_sk;
	uint32_t *gid_of;             /* series (or name) -> group, UINT32_MAX: left out */
	size_t ngid;
	mt_group *g;
	size_t ng, g_cap;
	buf gkeys;                    /* the groups' keys, NUL-separated */
	size_t *gkey_off;
	uint32_t *g_tab;
	size_t g_tcap;
	mt_cell *acc;                 /* id: group; the interval start in t[] */
	int64_t *t;
	size_t nacc, acc_cap, t_cap;
	uint32_t *a_tab;
	size_t a_tcap;
	mt_piece *pc;
	size_t npc, pc_cap;
} mt_run;

static uint64_t acc_keyof(const void *ctx, uint32_t i)
{
	const mt_run *r = ctx;
	return (uint64_t)r->t[i] * 0x9E3779B97F4A7C15ULL ^ r->acc[i].id;
}

static mt_cell *acc_get(mt_run *r, int64_t t, uint32_t gid)
{
	uint64_t k = (uint64_t)t * 0x9E3779B97F4A7C15ULL ^ gid;
	if (r->a_tcap)
		for (size_t j = mix64(k) & (r->a_tcap - 1); r->a_tab[j]; j = (j + 1) & (r->a_tcap - 1)) {
			uint32_t i = r->a_tab[j] - 1;
			if (r->t[i] == t && r->acc[i].id == gid)
				return &r->acc[i];
		}
	if (buf_grow(&r->acc, &r->acc_cap, r->nacc + 1, sizeof *r->acc) ||
	    buf_grow(&r->t, &r->t_cap, r->nacc + 1, sizeof *r->t))
		return NULL;
	r->t[r->nacc] = t;
	eg_mt_cell_init(&r->acc[r->nacc], gid, 0);
	if (tab_fit(&r->a_tab, &r->a_tcap, r->nacc + 1, acc_keyof, r))
		return NULL;
	size_t j = mix64(k) & (r->a_tcap - 1);
	while (r->a_tab[j])
		j = (j + 1) & (r->a_tcap - 1);
	r->a_tab[j] = (uint32_t)++r->nacc;
	return &r->acc[r->nacc - 1];
}

static uint64_t gkey_keyof(const void *ctx, uint32_t i)
{
	const mt_run *r = ctx;
	const char *k = r->gkeys.p + r->gkey_off[i];
	size_t n = r->gkey_off[i + 1] - r->gkey_off[i];
	return XXH3_64bits(k, n);
}

/* The group whose key is the last bytes of r->gkeys from off; -1: no memory. */
static int64_t group_find(mt_run *r, size_t off, uint32_t name, const char **by)
{
	const char *k = r->gkeys.p + off;
	size_t n = r->gkeys.n - off;
	uint64_t h = XXH3_64bits(k, n);
	if (r->g_tcap)
		for (size_t j = mix64(h) & (r->g_tcap - 1); r->g_tab[j]; j = (j + 1) & (r->g_tcap - 1)) {
			uint32_t i = r->g_tab[j] - 1;
			if (r->gkey_off[i + 1] - r->gkey_off[i] == n && !memcmp(r->gkeys.p + r->gkey_off[i], k, n)) {
				r->gkeys.n = off;
				return i;
			}
		}
	size_t cap = r->g_cap;
	if (buf_grow(&r->g, &r->g_cap, r->ng + 1, sizeof *r->g))
		return -1;
	if (r->g_cap != cap || !r->gkey_off) {
		size_t *x = realloc(r->gkey_off, (r->g_cap + 1) * sizeof *x);
		if (!x)
			return -1;
		r->gkey_off = x;
		if (!r->ng)
			x[0] = 0;
	}
	const char **b = NULL;
	if (r->q->nby && !(b = malloc(r->q->nby * sizeof *b)))
		return -1;
	if (b)
		memcpy(b, by, r->q->nby * sizeof *b);
	r->g[r->ng] = (mt_group){ name, b, NULL };
	r->gkey_off[r->ng] = off;
	r->gkey_off[r->ng + 1] = r->gkeys.n;
	if (tab_fit(&r->g_tab, &r->g_tcap, r->ng + 1, gkey_keyof, r)) {
		free(b);
		return -1;
	}
	size_t j = mix64(h) & (r->g_tcap - 1);
	while (r->g_tab[j])
		j = (j + 1) & (r->g_tcap - 1);
	r->g_tab[j] = (uint32_t)++r->ng;
	return (int64_t)r->ng - 1;
}

static const char *series_tag(const mt_series *s, const char *k)
{
	for (uint32_t i = 0; i < s->ntags; i++)
		if (!strcmp(s->tk[i], k))
			return s->tv[i];
	return NULL;
}

static int name_wanted(const struct eg_metrics *m, const eg_metrics_query *q, uint32_t name)
{
	if (!q->nnames)
		return 1;
	for (size_t i = 0; i < q->nnames; i++)
		if (!strcmp(q->names[i], m->names[name]))
			return 1;
	return 0;
}

/* Give every series (or name) its group; the time range of those kept. */
static int assign_groups(mt_run *r, int64_t *lo, int64_t *hi)
{
	struct eg_metrics *m = r->m;
	const eg_metrics_query *q = r->q;
	size_t n = r->per_name ? m->nnames : m->ns;
	const char *byv[64];
	*lo = INT64_MAX, *hi = INT64_MIN;
	if (!(r->gid_of = malloc((n ? n : 1) * sizeof *r->gid_of)))
		return EG_ENOMEM;
	r->ngid = n;
	for (size_t i = 0; i < n; i++)
		r->gid_of[i] = UINT32_MAX;
	for (size_t i = 0; i < m->ns; i++) {
		const mt_series *s = &m->s[i];
		if (!name_wanted(m, q, s->name))
			continue;
		size_t w = 0;
		while (w < q->nwhere) {
			const char *v = series_tag(s, q->where_key[w]);
			if (!v || strcmp(v, q->where_val[w]))
				break;
			w++;
		}
		if (w < q->nwhere)
			continue;
		if (s->first < *lo)
			*lo = s->first;
		if (s->last_time > *hi)
			*hi = s->last_time;
		uint32_t slot = r->per_name ? s->name : (uint32_t)i;
		if (r->gid_of[slot] != UINT32_MAX)
			continue;
		size_t off = r->gkeys.n;
		if (buf_add(&r->gkeys, &s->name, 4) || (q->by_series && buf_add(&r->gkeys, &i, sizeof i)))
			return EG_ENOMEM;
		for (size_t b = 0; b < q->nby; b++) {
			byv[b] = series_tag(s, q->by[b]);
			if (buf_add(&r->gkeys, byv[b] ? "v" : "n", 1) ||
			    (byv[b] && buf_add(&r->gkeys, byv[b], strlen(byv[b]) + 1)))
				return EG_ENOMEM;
		}
		int64_t g = group_find(r, off, s->name, byv);
		if (g < 0)
			return EG_ENOMEM;
		r->gid_of[slot] = (uint32_t)g;
		if (q->by_series)
			r->g[g].tags = s->tags;
	}
	return 0;
}

static int add_piece(mt_run *r, int lev, int64_t a, int64_t b)
{
	if (r->npc && r->pc[r->npc - 1].lev == lev && r->pc[r->npc - 1].b == a) {
		r->pc[r->npc - 1].b = b;
		return 0;
	}
	if (buf_grow(&r->pc, &r->pc_cap, r->npc + 1, sizeof *r->pc))
		return EG_ENOMEM;
	r->pc[r->npc++] = (mt_piece){ lev, a, b };
	return 0;
}

/* Cut [S, U) into stretches, each of the coarsest level that divides every
 * and whose cells fit inside it; raw samples where none does (an edge off a
 * minute boundary, or an every that is not a multiple of a minute). */
static int plan(mt_run *r, int64_t S, int64_t U, unsigned *mask)
{
	int64_t t = S;
	*mask = 0;
	while (t < U) {
		int l;
		for (l = MT_NLEV - 1; l >= 0; l--) {
			int64_t L = mt_level_us[l];
			if (r->q->every % L == 0 && t - floordiv(t, L) * L == 0 && U - t >= L)
				break;
		}
		int64_t b;
		if (l >= 0) {
			b = t + mt_level_us[l];
			*mask |= 1u << (l + (r->per_name ? MT_NLEV : 0));
		} else {
			b = (floordiv(t, mt_level_us[0]) + 1) * mt_level_us[0];
			if (r->q->every % mt_level_us[0] || b > U)
				b = U;
		}
		if (add_piece(r, l, t, b))
			return EG_ENOMEM;
		t = b;
	}
	return 0;
}

/* Merge cell c of level l into its interval's accumulator, if the plan
 * gives that stretch to level l and its series is asked for. */
static int fold_one(mt_run *r, int l, mt_cell *c, eg_metrics_explain *ex)
{
	/* a series appended since the groups were made is not asked for */
	uint32_t g = c->id < r->ngid ? r->gid_of[c->id] : UINT32_MAX;
	if (g == UINT32_MAX)
		return 0;
	int64_t t = (int64_t)c->bucket * mt_level_us[l], every = r->q->every;
	size_t k;
	for (k = 0; k < r->npc; k++)
		if (r->pc[k].lev == l && t >= r->pc[k].a && t < r->pc[k].b)
			break;
	if (k == r->npc)
		return 0;
	mt_cell *a = acc_get(r, floordiv(t, every) * every, g);
	int rc = !a ? EG_ENOMEM : r->want_sk ? eg_mt_cell_sketch(c) : 0;
	if (rc || (rc = eg_mt_cell_merge(a, c, r->want_sk)))
		return rc;
	if (ex)
		ex->cells[l]++;
	return 0;
}

static int fold_cells(mt_run *r, int l, eg_metrics_explain *ex)
{
	int p = l + (r->per_name ? MT_NLEV : 0), rc = 0;
	mt_part *pt = &r->m->part[p], *dl = &r->m->delta[p];
	if (dl->loaded)
		for (size_t i = 0; i < dl->n && !rc; i++)
			rc = fold_one(r, l, &dl->c[i], ex);
	if (pt->loaded) {
		for (size_t i = 0; i < pt->n && !rc; i++)
			rc = fold_one(r, l, &pt->c[i], ex);
		return rc;
	}
	if (!pt->streamed || rc)
		return rc;
	/* from the file, whose checksum was checked when it was mapped */
	mt_dec d = { .r = pt->body, .left = pt->ncells, .L = mt_level_us[l],
		     .lim = p < MT_NLEV ? (uint32_t)r->m->ns : (uint32_t)r->m->nnames };
	mt_cell c;
	int k = 0;
	while (!rc && (k = dec_next(&d, &c)) == 1) {
		rc = fold_one(r, l, &c, ex);
		eg_mt_cell_free(&c);
	}
	return rc ? rc : k < 0 ? EG_ECORRUPT : 0;
}

static int fold_raw(mt_run *r, const mt_piece *p, eg_metrics_explain *ex)
{
	struct eg_metrics *m = r->m;
	eg_filter f = { .to = m->pos, .kinds = 1u << EG_KIND_METRIC | 1u << EG_KIND_ERROR,
			.has_since = 1, .has_until = 1, .since = p->a, .until = p->b - 1 };
	/* the names are the metric events' types; engram.errors is of the
	 * error events, whatever their type */
	int errors = !r->q->nnames;
	for (size_t i = 0; i < r->q->nnames; i++)
		errors |= !strcmp(r->q->names[i], MT_ERRORS);
	if (!errors) {
		f.kinds = 1u << EG_KIND_METRIC;
		f.types = r->q->names;
		f.ntypes = r->q->nnames;
	}
	eg_iter *it;
	const eg_event *e;
	int rc;
	mt_sample *smp = malloc(sizeof *smp);
	if (!smp)
		return EG_ENOMEM;
	if ((rc = eg_iter_new(m->st, &it, &f))) {
		free(smp);
		return rc;
	}
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		uint32_t name;
		const char *nm;
		size_t nl;
		int sr = sample_of(m, e, smp, &nm, &nl);
		if (sr == EG_ENOMEM) {
			rc = sr;
			break;
		}
		if (sr || name_find(m, nm, nl, 0, &name) != 1)
			continue;
		int64_t si = series_find(m, name, smp->tags, smp->tags_len);
		if (si < 0) {
			rc = EG_ENOMEM;
			break;
		}
		uint32_t slot = r->per_name ? name : (uint32_t)si;
		uint32_t g = slot < r->ngid ? r->gid_of[slot] : UINT32_MAX;
		if (g == UINT32_MAX)
			continue;
		mt_cell *a = acc_get(r, floordiv(e->time, r->q->every) * r->q->every, g);
		if (!a)
			rc = EG_ENOMEM;
		else if (r->want_sk) {
			/* an accumulator always takes a sketch from its third sample */
			rc = eg_mt_cell_add(a, smp->v, e->time, e->pos);
		} else {
			mt_cell one;
			eg_mt_cell_init(&one, g, 0);
			eg_mt_cell_add(&one, smp->v, e->time, e->pos);
			rc = eg_mt_cell_merge(a, &one, 0);
		}
		if (rc)
			break;
		if (ex)
			ex->raw++;
	}
	eg_iter_free(it);
	free(smp);
	return rc == EG_END ? 0 : rc;
}

static const mt_run *sort_run;

static int group_cmp(const mt_run *r, uint32_t x, uint32_t y)
{
	if (x == y)
		return 0;
	int c = strcmp(r->m->names[r->g[x].name], r->m->names[r->g[y].name]);
	for (size_t b = 0; !c && b < r->q->nby; b++) {
		const char *u = r->g[x].by[b], *v = r->g[y].by[b];
		c = !u || !v ? (!!u - !!v) : strcmp(u, v);
	}
	if (!c && r->g[x].tags && r->g[y].tags)
		c = strcmp(r->g[x].tags, r->g[y].tags);
	return c;
}

static int row_cmp(const void *a, const void *b)
{
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	const mt_run *r = sort_run;
	if (r->t[i] != r->t[j])
		return r->t[i] < r->t[j] ? -1 : 1;
	return group_cmp(r, r->acc[i].id, r->acc[j].id);
}

static void run_free(mt_run *r)
{
	for (size_t i = 0; i < r->nacc; i++)
		eg_mt_cell_free(&r->acc[i]);
	for (size_t i = 0; i < r->ng; i++)
		free(r->g[i].by);
	free(r->acc), free(r->t), free(r->a_tab), free(r->g), free(r->gkey_off);
	free(r->g_tab), free(r->gkeys.p), free(r->gid_of), free(r->pc);
}

static int emit(mt_run *r, int64_t S, int64_t U, eg_metrics_row_fn fn, void *ctx)
{
	uint32_t *ord = malloc((r->nacc ? r->nacc : 1) * sizeof *ord);
	double *qv = malloc((r->q->nq ? r->q->nq : 1) * sizeof *qv);
	int rc = 0;
	if (!ord || !qv) {
		free(ord), free(qv);
		return EG_ENOMEM;
	}
	for (size_t i = 0; i < r->nacc; i++)
		ord[i] = (uint32_t)i;
	sort_run = r;
	qsort(ord, r->nacc, sizeof *ord, row_cmp);
	for (size_t k = 0; k < r->nacc && !rc; k++) {
		const mt_cell *a = &r->acc[ord[k]];
		const mt_group *g = &r->g[a->id];
		int64_t t = r->t[ord[k]], lo = t > S ? t : S, hi = t + r->q->every < U ? t + r->q->every : U;
		for (size_t i = 0; i < r->q->nq; i++)
			qv[i] = eg_mt_cell_quantile(a, r->q->quantiles[i]);
		eg_metrics_row row = { .time = t, .span = hi - lo, .name = r->m->names[g->name],
				       .by = g->by, .tags = g->tags, .count = a->count, .sum = a->sum, .min = a->min,
				       .max = a->max, .last = a->last, .q = qv };
		rc = fn(ctx, &row);
	}
	free(ord);
	free(qv);
	return rc;
}

int eg_metrics_run(eg_metrics *m, const eg_metrics_query *q, eg_metrics_row_fn fn, void *ctx,
		   eg_metrics_explain *ex)
{
	if (q->every <= 0 || q->nby > 64)
		return EG_EINVAL;
	for (size_t i = 0; i < q->nq; i++)
		if (!(q->quantiles[i] >= 0 && q->quantiles[i] <= 1))
			return EG_EINVAL;
	mt_run r = { .m = m, .q = q, .per_name = !q->nby && !q->nwhere && !q->by_series,
		     .want_sk = q->nq > 0 };
	if (ex) {
		*ex = (eg_metrics_explain){ .per_name = r.per_name };
		memcpy(ex->level_us, mt_level_us, sizeof mt_level_us);
	}
	uint64_t folded0 = m->folded;
	/* Load the level the range's middle will take along with the series
	 * table, so that a cold start reads the log once; a finer level for
	 * the edges is caught up after the plan, if any. */
	unsigned guess = 0;
	for (int l = MT_NLEV - 1; l >= 0 && !guess; l--)
		if (q->every % mt_level_us[l] == 0)
			guess = 1u << (l + (r.per_name ? MT_NLEV : 0));
	int rc = catch_up(m, guess);
	int64_t lo, hi;
	if (rc || (rc = assign_groups(&r, &lo, &hi)))
		goto out;
	int64_t S = q->has_since ? q->since : floordiv(lo, q->every) * q->every;
	int64_t U = q->has_until ? q->until : (floordiv(hi, q->every) + 1) * q->every;
	if (lo > hi || S >= U)
		goto out;
	unsigned mask;
	if ((rc = plan(&r, S, U, &mask)) || (rc = catch_up(m, mask)))
		goto out;
	for (int l = 0; l < MT_NLEV; l++)
		if ((mask >> (l + (r.per_name ? MT_NLEV : 0)) & 1) && (rc = fold_cells(&r, l, ex)))
			goto out;
	for (size_t k = 0; k < r.npc; k++)
		if (r.pc[k].lev < 0 && (rc = fold_raw(&r, &r.pc[k], ex)))
			goto out;
	rc = emit(&r, S, U, fn, ctx);
out:
	if (ex) {
		ex->folded = m->folded - folded0;
		ex->skipped = m->skipped;
	}
	run_free(&r);
	return rc;
}

static const struct eg_metrics *sort_m;

static int series_cmp(const void *a, const void *b)
{
	const mt_series *x = &sort_m->s[*(const uint32_t *)a], *y = &sort_m->s[*(const uint32_t *)b];
	int c = strcmp(sort_m->names[x->name], sort_m->names[y->name]);
	return c ? c : strcmp(x->tags, y->tags);
}

int eg_metrics_series_each(eg_metrics *m, const char *const *names, size_t nnames,
			   eg_metrics_series_fn fn, void *ctx)
{
	int rc = catch_up(m, 0);
	if (rc)
		return rc;
	uint32_t *ord = malloc((m->ns ? m->ns : 1) * sizeof *ord);
	if (!ord)
		return EG_ENOMEM;
	size_t n = 0;
	eg_metrics_query q = { .names = names, .nnames = nnames };
	for (size_t i = 0; i < m->ns; i++)
		if (name_wanted(m, &q, m->s[i].name))
			ord[n++] = (uint32_t)i;
	sort_m = m;
	qsort(ord, n, sizeof *ord, series_cmp);
	for (size_t k = 0; k < n && !rc; k++) {
		const mt_series *s = &m->s[ord[k]];
		eg_metrics_series x = { .name = m->names[s->name], .tags = s->tags,
					.metric_type = s->mtype, .ntags = s->ntags,
					.tag_keys = (const char *const *)s->tk,
					.tag_vals = (const char *const *)s->tv, .samples = s->samples,
					.first = s->first, .last_time = s->last_time, .last = s->last };
		rc = fn(ctx, &x);
	}
	free(ord);
	return rc;
}

/*
 * funnel.c — funnels: how far each stream gets through a sequence of steps
 * within a time limit (docs/FUNNELS.md).  A run reads only the events of
 * the steps' types (the iterator serves them from the type postings or
 * skips the rest block by block), files each matching event's time under
 * its (stream, by value) group and step, then computes every group's
 * longest chain from the sorted times and sums the groups per by value.
 */
#include "buf.h"
#include "coliter.h"
#include "funnel.h"
#include "internal.h"
#include "itab.h"
#include "json.h"
#include "proj.h"
#include "timefmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ------------------------------------------------------------ the core */

/*
 * For a fixed first-step event at time s, taking at each step the earliest
 * event strictly after the one before (greedy) reaches as far as any chain
 * from s can: by induction every chain's i-th time is >= greedy's, so if a
 * chain fits in the window, greedy does too.  So the longest chain is the
 * best greedy run over the distinct first-step times, and trying them in
 * increasing order, the first that reaches the longest length gives the
 * lexicographically earliest chain.  A later start's greedy times are
 * never earlier (same induction), so each step's search resumes where the
 * previous start's stopped: the whole is linear in the times.
 */
int eg_funnel_chain(const int64_t *const *t, const size_t *n, int k, int64_t within,
		 int64_t *chain)
{
	size_t at[EG_FUNNEL_MAX_STEPS] = { 0 };
	int64_t cur[EG_FUNNEL_MAX_STEPS];
	int best = 0;
	if (k <= 0 || k > EG_FUNNEL_MAX_STEPS)
		return 0;
	for (size_t i = 0; i < n[0] && best < k; i++) {
		int64_t s = t[0][i];
		if (i && s == t[0][i - 1])
			continue;
		cur[0] = s;
		int len = 1;
		for (; len < k; len++) {
			size_t j = at[len];
			while (j < n[len] && t[len][j] <= cur[len - 1])
				j++;
			at[len] = j;
			/* t > cur[len - 1] >= s: the difference fits in a uint64 */
			if (j == n[len] || (uint64_t)t[len][j] - (uint64_t)s > (uint64_t)within)
				break;
			cur[len] = t[len][j];
		}
		if (len > best) {
			best = len;
			memcpy(chain, cur, (size_t)len * sizeof *cur);
		}
	}
	return best;
}

/* ------------------------------------------------------------ the spec */

typedef struct fstep {
	char *name;                  /* as written, spaces dropped */
	char *url;                   /* NULL: any page */
	size_t url_len;
	int ti;                      /* index of its type in types */
} fstep;

struct eg_funnel {
	fstep s[EG_FUNNEL_MAX_STEPS];
	int k;
	const char *types[EG_FUNNEL_MAX_STEPS];   /* distinct, borrowed from names */
	char *tbuf[EG_FUNNEL_MAX_STEPS];
	size_t tlen[EG_FUNNEL_MAX_STEPS];
	int ntypes;
	uint32_t any[EG_FUNNEL_MAX_STEPS];   /* per type: its steps without a URL */
	uint32_t url[EG_FUNNEL_MAX_STEPS];   /* per type: its steps with one */
	eg_funnel_opts o;
	char *by_text;
	eg_path by;
	int has_by;
	eg_funnel_explain x;
};

static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return EG_EINVAL;
}

/* One step, [p, p + n) with spaces dropped, as step number i (1-based). */
static int parse_step(eg_funnel *f, const char *p, size_t n, int i, char *err, size_t errlen)
{
	while (n && *p == ' ')
		p++, n--;
	while (n && p[n - 1] == ' ')
		n--;
	if (!n)
		return spec_fail(err, errlen, "step %d is empty", i);
	const char *colon = memchr(p, ':', n);
	size_t tn = colon ? (size_t)(colon - p) : n;
	if (!tn)
		return spec_fail(err, errlen, "step %d (\"%.*s\") has no TYPE before ':'", i,
				 (int)n, p);
	if (colon && tn + 1 == n)
		return spec_fail(err, errlen, "step %d (\"%.*s\") has an empty PAGE_URL after ':'",
				 i, (int)n, p);
	fstep *s = &f->s[f->k];
	if (!(s->name = strndup(p, n)))
		return EG_ENOMEM;
	if (colon) {
		s->url = s->name + tn + 1;
		s->url_len = n - tn - 1;
	}
	int ti = 0;
	while (ti < f->ntypes && !(f->tlen[ti] == tn && !memcmp(f->tbuf[ti], p, tn)))
		ti++;
	if (ti == f->ntypes) {
		if (!(f->tbuf[ti] = strndup(p, tn)))
			return EG_ENOMEM;
		f->types[ti] = f->tbuf[ti];
		f->tlen[ti] = tn;
		f->ntypes++;
	}
	s->ti = ti;
	if (colon)
		f->url[ti] |= 1u << f->k;
	else
		f->any[ti] |= 1u << f->k;
	f->k++;
	return EG_OK;
}

static int parse_steps(eg_funnel *f, const char *steps, char *err, size_t errlen)
{
	const char *p = steps ? steps : "";
	size_t n = strlen(p), blank = strspn(p, " ");
	if (blank == n)
		return spec_fail(err, errlen, "no steps given");
	for (int i = 1;; i++) {
		const char *comma = memchr(p, ',', n);
		size_t len = comma ? (size_t)(comma - p) : n;
		if (f->k == EG_FUNNEL_MAX_STEPS)
			return spec_fail(err, errlen, "more than %d steps", EG_FUNNEL_MAX_STEPS);
		int rc = parse_step(f, p, len, i, err, errlen);
		if (rc)
			return rc;
		if (!comma)
			return EG_OK;
		p = comma + 1;
		n -= len + 1;
	}
}

int eg_funnel_new(const char *steps, const eg_funnel_opts *opts, eg_funnel **out,
		  char *err, size_t errlen)
{
	if (err && errlen)
		*err = 0;
	*out = NULL;
	eg_funnel *f = calloc(1, sizeof *f);
	if (!f)
		return spec_fail(err, errlen, "out of memory"), EG_ENOMEM;
	int rc = parse_steps(f, steps, err, errlen);
	if (!rc && opts->within <= 0)
		rc = spec_fail(err, errlen, "within: must be a positive duration");
	if (!rc) {
		f->o = *opts;
		f->o.by = NULL;
	}
	if (!rc && opts->by) {
		/* eg_path_parse takes a JSON string: quote the path */
		size_t n = strlen(opts->by);
		char *q = malloc(6 * n + 2), why[256];
		if (!q || !(f->by_text = strdup(opts->by))) {
			rc = EG_ENOMEM;
		} else {
			json_span v = { q, eg_json_quote(opts->by, n, q), JSON_STRING };
			if (eg_path_parse(&v, &f->by, why, sizeof why))
				rc = spec_fail(err, errlen, "by: %s", why);
			f->has_by = 1;
			f->o.by = f->by_text;
		}
		free(q);
	}
	if (rc == EG_ENOMEM)
		spec_fail(err, errlen, "out of memory");
	if (rc) {
		eg_funnel_free(f);
		return rc;
	}
	*out = f;
	return EG_OK;
}

const char *eg_funnel_step_type(const eg_funnel *f, size_t i)
{
	return i < (size_t)f->ntypes ? f->tbuf[i] : NULL;
}

void eg_funnel_free(eg_funnel *f)
{
	if (!f)
		return;
	for (int i = 0; i < EG_FUNNEL_MAX_STEPS; i++) {
		free(f->s[i].name);
		free(f->tbuf[i]);
	}
	if (f->has_by)
		eg_path_free(&f->by);
	free(f->by_text);
	free(f);
}

void eg_funnel_get_explain(const eg_funnel *f, eg_funnel_explain *out)
{
	*out = f->x;
}

/* ------------------------------------------------------------ the run */

/* A growable array of times: one per (group, step), and one of the
 * between-step durations per (by value, step). */
typedef struct tvec {
	int64_t *v;
	uint32_t n, cap;
} tvec;

static int tvec_push(tvec *a, int64_t t)
{
	if (a->n == a->cap) {
		uint32_t cap = a->cap ? a->cap * 2 : 4;
		int64_t *m = realloc(a->v, cap * sizeof *m);
		if (!m)
			return -1;
		a->v = m;
		a->cap = cap;
	}
	a->v[a->n++] = t;
	return 0;
}

typedef struct frun {
	eg_funnel *f;
	eg_store *st;
	itab groups, values;         /* groups: stream and by value; by values */
	tvec *times;                 /* [group * k + step] */
	uint32_t *gval;              /* [group]: the number of its by value */
	size_t tcap;                 /* groups the two arrays have room for */
	buf key, val, url;           /* scratch */
	eg_coliter *ci;              /* reading columns: ... */
	uint32_t *sgroup;            /* ... without by, 1 + the group of a stream key id */
	size_t scap;
} frun;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The JSON text of the by path's value in e into b ("null" when absent). */
static int by_value(const eg_path *p, const eg_event *e, buf *b)
{
	return eg_path_json(e, p, NULL, b);
}

/* The URL steps of type ti that e's data.page_url (a string) equals. */
static uint32_t url_steps(frun *r, int ti, const eg_event *e)
{
	static const char *const name[1] = { "page_url" };
	static const size_t len[1] = { 8 };
	json_span data = { e->data, e->data_len, JSON_OBJECT }, v;
	if (!(eg_json_members_valid(&data, name, len, 1, &v) & 1) || v.type != JSON_STRING)
		return 0;
	const char *u = v.p + 1;
	size_t un = v.n - 2;
	if (!eg_json_string_is_plain(&v)) {
		r->url.n = 0;
		if (buf_reserve(&r->url, v.n))
			return 0;
		u = r->url.p;
		un = eg_json_string_decode(&v, r->url.p);
	}
	const eg_funnel *f = r->f;
	uint32_t m = 0;
	for (uint32_t w = f->url[ti]; w; w &= w - 1) {
		int i = __builtin_ctz(w);
		if (f->s[i].url_len == un && !memcmp(f->s[i].url, u, un))
			m |= 1u << i;
	}
	return m;
}

/* The group of e (its stream and by value), created if new. */
static uint32_t group_of(frun *r, const eg_event *e)
{
	eg_funnel *f = r->f;
	uint32_t vid = 0;
	r->key.n = 0;
	uint32_t sl = (uint32_t)e->stream_len;
	if (buf_add(&r->key, &sl, 4) || buf_add(&r->key, e->stream, e->stream_len))
		return UINT32_MAX;
	if (f->has_by) {
		r->val.n = 0;
		if (by_value(&f->by, e, &r->val) || buf_add(&r->key, r->val.p, r->val.n) ||
		    r->val.n > UINT32_MAX || r->key.n > UINT32_MAX)
			return UINT32_MAX;
		vid = eg_itab_get(&r->values, XXH3_64bits(r->val.p, r->val.n), r->val.p,
			       (uint32_t)r->val.n);
		if (vid == UINT32_MAX)
			return vid;
	}
	uint32_t before = r->groups.n;
	uint32_t g = eg_itab_get(&r->groups, XXH3_64bits(r->key.p, r->key.n), r->key.p,
			      (uint32_t)r->key.n);
	if (g == UINT32_MAX || r->groups.n == before)
		return g;
	if (r->groups.n > r->tcap) {
		size_t cap = r->tcap ? r->tcap * 2 : 1024;
		tvec *m = realloc(r->times, cap * (size_t)f->k * sizeof *m);
		if (m)
			r->times = m;
		uint32_t *gv = m ? realloc(r->gval, cap * sizeof *gv) : NULL;
		if (!gv)
			return UINT32_MAX;
		r->gval = gv;
		memset(m + r->tcap * (size_t)f->k, 0, (cap - r->tcap) * (size_t)f->k * sizeof *m);
		r->tcap = cap;
	}
	r->gval[g] = vid;
	return g;
}

/* The group of e: without a by path, from the columns, looked up by its
 * stream's key id once the name has made it (a hash of the name per event
 * was a third of a run). */
static uint32_t group_for(frun *r, const eg_event *e)
{
	if (!r->ci || r->f->has_by)
		return group_of(r, e);
	uint32_t sid = eg_coliter_stream_id(r->ci);
	if (sid < r->scap && r->sgroup[sid])
		return r->sgroup[sid] - 1;
	size_t cap = r->scap;
	if (sid >= cap && buf_grow(&r->sgroup, &cap, (size_t)sid + 1, sizeof *r->sgroup))
		return UINT32_MAX;
	memset(r->sgroup + r->scap, 0, (cap - r->scap) * sizeof *r->sgroup);
	r->scap = cap;
	uint32_t g = group_of(r, e);
	if (g != UINT32_MAX)
		r->sgroup[sid] = g + 1;
	return g;
}

/* File e's time under each step it matches. */
static int take(frun *r, const eg_event *e)
{
	eg_funnel *f = r->f;
	int ti = 0;
	while (ti < f->ntypes && !(f->tlen[ti] == e->type_len &&
				   !memcmp(f->types[ti], e->type, e->type_len)))
		ti++;
	if (ti == f->ntypes)
		return EG_OK;
	f->x.read++;
	uint32_t m = f->any[ti];
	if (f->url[ti])
		m |= url_steps(r, ti, e);
	if (!m)
		return EG_OK;
	f->x.events++;
	uint32_t g = group_for(r, e);
	if (g == UINT32_MAX)
		return EG_ENOMEM;
	for (; m; m &= m - 1) {
		if (tvec_push(&r->times[(size_t)g * (size_t)f->k + (size_t)__builtin_ctz(m)],
			      e->time))
			return EG_ENOMEM;
		f->x.matches++;
	}
	return EG_OK;
}

/* The columns' events for the filter, if they hold every path the steps
 * and the by path read (data.page_url, by); else the log's.  Which ran,
 * and why, goes to the explain. */
static int read_columns(frun *r, const eg_filter *flt, eg_coliter **out)
{
	eg_funnel *f = r->f;
	static const char *const url[1] = { "page_url" };
	eg_colwant w = { 0 };
	int rc = EG_OK, any_url = 0;
	for (int i = 0; i < f->ntypes; i++)
		any_url |= f->url[i] != 0;
	if ((any_url && eg_colwant_data(&w, url, 1)) || (f->has_by && eg_colwant_path(&w, &f->by)))
		rc = EG_ENOMEM;
	else if (w.why)
		f->x.path_why = w.why;
	else if ((rc = eg_coliter_new(r->st, flt, &w.need, out, &f->x.path_why)) == EG_ENOTFOUND)
		rc = EG_OK;
	eg_colwant_free(&w);
	return rc;
}

static int read_events(frun *r)
{
	eg_funnel *f = r->f;
	eg_head h;
	int rc = eg_store_head(r->st, &h);
	if (rc)
		return rc;
	f->x.through = h.pos;
	f->x.path = "log";
	eg_filter flt = { .to = h.pos, .types = f->types, .ntypes = (size_t)f->ntypes,
			  .has_since = f->o.has_since, .has_until = f->o.has_until,
			  .since = f->o.since, .until = f->o.until, .by = EG_BY_EVENT,
			  .upcast = !f->o.no_upcast };
	if (!h.pos)
		return EG_OK;
	eg_coliter *ci = NULL;
	if ((rc = read_columns(r, &flt, &ci)))
		return rc;
	const eg_event *e;
	if (ci) {
		f->x.path = "columns";
		r->ci = ci;
		while ((rc = eg_coliter_next(ci, &e)) == EG_OK)
			if ((rc = take(r, e)))
				break;
		eg_coliter_counts(ci, &f->x.from_columns, &f->x.from_log);
		eg_coliter_free(ci);
		r->ci = NULL;
		return rc == EG_END ? EG_OK : rc;
	}
	eg_iter *it;
	if ((rc = eg_iter_new(r->st, &it, &flt)))
		return rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK)
		if ((rc = take(r, e)))
			break;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

/* Per value: the users at each step and the durations between steps. */
typedef struct ftally {
	uint64_t *users;             /* [value * k + step] */
	tvec *gaps;                  /* [value * k + step], step >= 1 */
} ftally;

/* Every group's longest chain, summed per by value. */
static int tally(frun *r, ftally *y, uint32_t nvalues)
{
	eg_funnel *f = r->f;
	size_t k = (size_t)f->k;
	y->users = calloc((size_t)nvalues * k, sizeof *y->users);
	y->gaps = calloc((size_t)nvalues * k, sizeof *y->gaps);
	if (!y->users || !y->gaps)
		return EG_ENOMEM;
	const int64_t *t[EG_FUNNEL_MAX_STEPS];
	size_t n[EG_FUNNEL_MAX_STEPS];
	int64_t chain[EG_FUNNEL_MAX_STEPS];
	for (uint32_t g = 0; g < r->groups.n; g++) {
		tvec *tv = &r->times[(size_t)g * k];
		for (size_t i = 0; i < k; i++) {
			/* log order is nearly time order: sort only when not */
			for (uint32_t j = 1; j < tv[i].n; j++)
				if (tv[i].v[j] < tv[i].v[j - 1]) {
					qsort(tv[i].v, tv[i].n, sizeof *tv[i].v, cmp_i64);
					break;
				}
			t[i] = tv[i].v;
			n[i] = tv[i].n;
		}
		int len = eg_funnel_chain(t, n, f->k, f->o.within, chain);
		f->x.entered += len > 0;
		size_t v = (size_t)r->gval[g] * k;
		for (int i = 0; i < len; i++) {
			y->users[v + (size_t)i]++;
			if (i && tvec_push(&y->gaps[v + (size_t)i], chain[i] - chain[i - 1]))
				return EG_ENOMEM;
		}
		for (size_t i = 0; i < k; i++) {
			free(tv[i].v);
			tv[i] = (tvec){ 0 };
		}
	}
	return EG_OK;
}

/* The median of the durations, in seconds; NaN if none. */
static double median_s(tvec *a)
{
	if (!a->n)
		return NAN;
	qsort(a->v, a->n, sizeof *a->v, cmp_i64);
	double m = a->n % 2 ? (double)a->v[a->n / 2] :
		   (double)a->v[a->n / 2 - 1] / 2 + (double)a->v[a->n / 2] / 2;
	return m / 1e6;
}

/* The rows, values in the byte order of their JSON text. */
static int emit(frun *r, ftally *y, uint32_t nvalues, eg_funnel_row_fn fn, void *ctx)
{
	eg_funnel *f = r->f;
	size_t k = (size_t)f->k;
	uint32_t *order = malloc((nvalues ? nvalues : 1) * sizeof *order);
	if (!order)
		return EG_ENOMEM;
	for (uint32_t i = 0; i < nvalues; i++)
		order[i] = i;
	if (f->has_by)
		eg_itab_sort(&r->values, order, nvalues);
	int rc = EG_OK;
	for (uint32_t i = 0; i < nvalues && !rc; i++) {
		uint32_t v = order[i];
		const uint64_t *users = &y->users[(size_t)v * k];
		if (f->has_by && !users[0])
			continue;
		eg_funnel_row row = { .by_path = f->by_text };
		if (f->has_by) {
			row.by = itab_text(&r->values, v);
			row.by_len = r->values.e[v].len;
		}
		for (size_t s = 0; s < k && !rc; s++) {
			row.step = (int)s + 1;
			row.name = f->s[s].name;
			row.users = users[s];
			row.conversion = s && users[s - 1] ? (double)users[s] / (double)users[s - 1] :
					 NAN;
			row.median_time = s ? median_s(&y->gaps[(size_t)v * k + s]) : NAN;
			f->x.rows++;
			rc = fn(ctx, &row);
		}
	}
	free(order);
	return rc;
}

int eg_funnel_run(eg_store *st, eg_funnel *f, eg_funnel_row_fn fn, void *ctx)
{
	frun r = { .f = f, .st = st };
	ftally y = { 0 };
	memset(&f->x, 0, sizeof f->x);
	int rc = read_events(&r);
	uint32_t nvalues = f->has_by ? r.values.n : 1;
	f->x.streams = r.groups.n;
	f->x.values = nvalues;
	if (!rc)
		rc = tally(&r, &y, nvalues);
	if (!rc)
		rc = emit(&r, &y, nvalues, fn, ctx);
	if (rc == EG_ENOMEM)
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
	size_t ng = r.groups.n < r.tcap ? r.groups.n : r.tcap;
	for (size_t i = 0; r.times && i < ng * (size_t)f->k; i++)
		free(r.times[i].v);
	for (size_t i = 0; y.gaps && i < (size_t)nvalues * (size_t)f->k; i++)
		free(y.gaps[i].v);
	free(r.times);
	free(y.users);
	free(y.gaps);
	free(r.gval);
	free(r.sgroup);
	eg_itab_free(&r.groups);
	eg_itab_free(&r.values);
	free(r.key.p);
	free(r.val.p);
	free(r.url.p);
	return rc;
}

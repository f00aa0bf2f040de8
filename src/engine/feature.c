/*
 * feature.c — point-in-time features (docs/FEATURES.md): one entity at one
 * cutoff, as known at a record time, from the entity table (feattab.c);
 * the same call answers a training row and a serving request.
 *
 * A query finds the entity's rows (in event-time order) in the table kept
 * in idx/feat/HASH/ and, when the log has grown since it was written, in a
 * tail table built at open from the events after it; it walks the rows
 * from the earliest any feature reads to the cutoff and folds each into
 * the features that take its type and reach back to its time.  Events
 * recorded after the known-at time are left out, or, for the naive
 * answer, folded into a second set of accumulators.
 */
#include "buf.h"
#include "feat.h"
#include "internal.h"
#include "proj.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Late events kept per feature and query, for the leakage report. */
#define LATE_KEEP 16

typedef struct acc {
	uint64_t count, nnum;
	nacc sum, min, max;
	int64_t ft, lt;               /* first / last: (time, pos) of the value */
	uint64_t fp, lp;
	const char *fv, *lv;          /* their JSON texts */
	uint32_t fn, ln;
	int64_t newest;               /* since_last */
	int any;                      /* since_last: some event counted */
} acc;

/* A text seen by count_distinct. */
typedef struct dtext {
	const char *p;
	uint32_t n;
} dtext;

typedef struct dset {
	dtext *a;
	size_t n, cap;
} dset;

struct eg_feat {
	eg_store *st;
	int clone;                    /* a worker's handle: the tables are its parent's */
	const eg_feat_spec *s;
	uint64_t bound;
	int64_t bound_rec;            /* recorded of the event at bound */
	eg_ds ds;
	ftab tab[2];                  /* the file's table, the tail after it */
	int ntab;
	uint64_t *tmask[2];           /* per table type id: the features it feeds */
	uint64_t *pmask[2];           /* ... the pushed-down projection fields it feeds */
	int kinds;                    /* how the entity was written (ENT_*), both: a
	                                 projection keeps the two apart */
	int64_t reach;                /* how far back any feature reads; 0: all */
	eg_proj *proj[FEAT_MAX];
	acc a[2][FEAT_MAX];           /* [0] as known, [1] naive */
	dset d[2][FEAT_MAX];
	double dv[2][FEAT_MAX];       /* each value as a number, for ratios */
	nacc ex[2][FEAT_MAX];         /* ... and as an exact decimal when isexact */
	int isexact[2][FEAT_MAX];
	int dnull[2][FEAT_MAX];
	uint64_t late[FEAT_MAX][LATE_KEEP];
	size_t nlate[FEAT_MAX];
	buf text[2];                  /* the values' JSON texts */
	size_t off[2][FEAT_MAX];
	const char *vals[2][FEAT_MAX];
	size_t lens[2][FEAT_MAX];
	const char *names[FEAT_MAX];
	buf pv;                       /* a projection value being read */
	int pfound;
	eg_feat_explain x;
};

/* Note how table t was built (the log wins: it says why not columns). */
static void note_build(eg_feat *f, const ftab *t)
{
	eg_feat_explain *x = &f->x;
	x->built += t->nrows;
	if (!t->path || (x->path && !strcmp(x->path, "log")))
		return;
	x->path = t->path;
	x->path_why = t->path_why;
	x->from_columns += t->from_columns;
	x->from_log += t->from_log;
}

void eg_feat_get_explain(const eg_feat *f, eg_feat_explain *out)
{
	*out = f->x;
	out->bound = f->bound;
}

static const char *type_name(const ftab *t, uint32_t id, uint32_t *n)
{
	*n = t->type_off[id + 1] - t->type_off[id];
	return t->type_text + t->type_off[id];
}

/* Which features each type of table t feeds. */
static int type_masks(eg_feat *f, int ti)
{
	const ftab *t = &f->tab[ti];
	const eg_feat_spec *s = f->s;
	uint64_t *m = calloc(t->ntypes + 1, sizeof *m), *p = calloc(t->ntypes + 1, sizeof *p);
	if (!m || !p) {
		free(m);
		free(p);
		return -1;
	}
	for (uint32_t y = 0; y < t->ntypes; y++) {
		uint32_t n;
		const char *name = type_name(t, y, &n);
		for (int i = 0; i < s->nf; i++) {
			const ffeat *x = &s->f[i];
			if (x->agg == F_RATIO || (x->agg == F_PROJ && !x->proj_late))
				continue;
			int takes = !x->ntypes;
			for (int j = 0; j < x->ntypes && !takes; j++)
				takes = strlen(x->types[j]) == n && !memcmp(x->types[j], name, n);
			if (takes)
				m[y] |= (uint64_t)1 << i;
			if (takes && x->push) {
				const eg_proj_spec *ps = x->proj;
				int ix = eg_proj_type_index(ps, name, n);
				if (ps->f[x->proj_field_ix].types >> ix & 1)
					p[y] |= (uint64_t)1 << i;
			}
		}
	}
	f->tmask[ti] = m;
	f->pmask[ti] = p;
	return 0;
}

/* Bring the table up to bound: the file's as it is, plus a tail table of
 * what came after it, or a new file when the tail would be large. */
static int tables(eg_feat *f, uint64_t head)
{
	eg_store *st = f->st;
	const eg_feat_spec *s = f->s;
	char hex[33];
	eg_ds_hex(s->table_hash, hex);
	eg_ds_open(st, "feat", hex, 1, s->src, s->srclen, &f->ds);
	if (f->ds.lockfd >= 0 && eg_ds_lock(st, &f->ds))
		return eg_st_err(st, EG_EIO, "cannot lock the features table: %s", strerror(errno));
	int rc = EG_OK;
	int r = f->ds.lockfd >= 0 ? eg_ftab_load(&f->ds, s, &f->tab[0]) : EG_DS_ABSENT;
	if (r == EG_DS_IOERR)
		eg_st_note_errno(st, "cannot read %s/table (rebuilding it)", f->ds.dir);
	uint64_t id;
	if (r == EG_OK && f->tab[0].bound &&
	    (f->tab[0].bound > head || eg_store_event_ident(st, f->tab[0].bound, &id) ||
	     id != f->tab[0].ident)) {
		/* made from another log (cut back and appended anew) */
		eg_ftab_free(&f->tab[0]);
		r = EG_DS_DAMAGED;
	}
	if (r == EG_OK && f->tab[0].bound < f->bound &&
	    f->bound - f->tab[0].bound > f->tab[0].nrows / 4 + 65536) {
		eg_ftab_free(&f->tab[0]);
		r = EG_DS_ABSENT;
	}
	f->x.kept = r == EG_OK;
	if (r != EG_OK) {
		if ((rc = eg_ftab_build(st, s, 0, head, &f->tab[0])))
			goto out;
		note_build(f, &f->tab[0]);
		if (f->ds.lockfd >= 0 && eg_ftab_save(&f->ds, &f->tab[0]))
			eg_st_note_errno(st, "cannot write %s/table", f->ds.dir);
	}
	f->ntab = 1;
	if (f->tab[0].bound < f->bound) {
		if ((rc = eg_ftab_build(st, s, f->tab[0].bound, f->bound, &f->tab[1])))
			goto out;
		note_build(f, &f->tab[1]);
		f->ntab = 2;
	}
out:
	eg_ds_unlock(&f->ds);
	return rc;
}

static int recorded_at(eg_store *st, uint64_t pos, int64_t *rec)
{
	*rec = INT64_MIN;
	if (!pos)
		return EG_OK;
	eg_iter *it;
	eg_filter flt = { .from = pos, .to = pos };
	int rc = eg_iter_new(st, &it, &flt);
	if (rc)
		return rc;
	const eg_event *e;
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK)
		*rec = e->recorded;
	eg_iter_free(it);
	return rc == EG_END ? eg_st_err(st, EG_ECORRUPT, "no event at position %llu",
				       (unsigned long long)pos) : rc;
}

int eg_feat_open(eg_store *st, const eg_feat_spec *s, uint64_t bound, eg_feat **out)
{
	*out = NULL;
	for (int i = 0; i < s->nf; i++)
		if (s->f[i].agg == F_PROJ && !s->f[i].proj)
			return eg_st_err(st, EG_EINVAL, "feature %s: its projection spec %s was not "
					 "given", s->f[i].name, s->f[i].proj_file);
	eg_head h;
	int rc = eg_store_head(st, &h);
	if (rc)
		return rc;
	if (bound > h.pos)
		return eg_st_err(st, EG_EINVAL, "position %llu is beyond the head (%llu)",
				 (unsigned long long)bound, (unsigned long long)h.pos);
	eg_feat *f = calloc(1, sizeof *f);
	if (!f)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	f->st = st;
	f->s = s;
	f->bound = bound ? bound : h.pos;
	f->ds.lockfd = -1;
	int all = 0;
	for (int i = 0; i < s->nf; i++) {
		const ffeat *x = &s->f[i];
		f->names[i] = x->name;
		if (x->agg == F_RATIO || (x->agg == F_PROJ && !x->proj_late))
			continue;
		all |= !x->lo;
		if (x->lo > f->reach)
			f->reach = x->lo;
	}
	if (all)
		f->reach = 0;
	if ((rc = recorded_at(st, f->bound, &f->bound_rec)) || (rc = tables(f, h.pos)))
		goto fail;
	for (int t = 0; t < f->ntab; t++)
		if (type_masks(f, t) || eg_ftab_index(&f->tab[t])) {
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
			goto fail;
		}
	/* a projection read through its own state is opened here (building
	 * its snapshots if it must); one pushed down to the table, only if an
	 * entity written both as a string and as a number needs it */
	for (int i = 0; i < s->nf; i++)
		if (s->f[i].agg == F_PROJ && !s->f[i].push &&
		    (rc = eg_proj_open(st, s->f[i].proj, NULL, NULL, &f->proj[i])))
			goto fail;
	*out = f;
	return EG_OK;
fail:
	eg_feat_close(f);
	return rc;
}

void eg_feat_close(eg_feat *f)
{
	if (!f)
		return;
	for (int t = 0; t < 2; t++) {
		if (!f->clone) {
			eg_ftab_free(&f->tab[t]);
			free(f->tmask[t]);
			free(f->pmask[t]);
		}
		free(f->text[t].p);
	}
	for (int i = 0; i < FEAT_MAX; i++) {
		eg_proj_close(f->proj[i]);
		free(f->d[0][i].a);
		free(f->d[1][i].a);
	}
	free(f->pv.p);
	if (!f->clone)
		eg_ds_close(&f->ds);
	free(f);
}

uint64_t eg_feat_bound(const eg_feat *f)
{
	return f->bound;
}

/* ------------------------------------------------------------ folding */

static const char *value_text(const ftab *t, int p, uint32_t id, uint32_t *n)
{
	const fdict *d = &t->dict[p];
	*n = d->off[id] - d->off[id - 1];
	return d->text + d->off[id - 1];
}

/* Fold row i of table t into accumulator a of feature x. */
static int fold(const ftab *t, uint64_t i, int agg, int path, acc *a, dset *d)
{
	a->count++;
	if (agg == F_SINCE) {
		if (!a->any || t->time[i] > a->newest)
			a->newest = t->time[i];
		a->any = 1;
		return 0;
	}
	if (path < 0)
		return 0;
	uint32_t id = t->val[path][i];
	if (!id)
		return 0;
	const fdict *dict = &t->dict[path];
	uint32_t n;
	switch (agg) {
	case F_SUM: case F_AVG: case F_MIN: case F_MAX: {
		if (!dict->isnum[id - 1])
			return 0;
		const nacc *v = &dict->nums[id - 1];
		if (!a->nnum++)
			a->sum = a->min = a->max = *v;
		else if (agg == F_MIN)
			a->min = eg_nacc_cmp(v, &a->min) < 0 ? *v : a->min;
		else if (agg == F_MAX)
			a->max = eg_nacc_cmp(v, &a->max) > 0 ? *v : a->max;
		else
			eg_nacc_add(&a->sum, v);
		return 0;
	}
	case F_FIRST:
		if (!a->fv || t->time[i] < a->ft || (t->time[i] == a->ft && t->pos[i] < a->fp)) {
			a->fv = value_text(t, path, id, &n);
			a->fn = n, a->ft = t->time[i], a->fp = t->pos[i];
		}
		return 0;
	case F_LAST:
		if (!a->lv || t->time[i] > a->lt || (t->time[i] == a->lt && t->pos[i] > a->lp)) {
			a->lv = value_text(t, path, id, &n);
			a->ln = n, a->lt = t->time[i], a->lp = t->pos[i];
		}
		return 0;
	case F_DISTINCT:
		if (buf_grow(&d->a, &d->cap, d->n + 1, sizeof *d->a))
			return -1;
		d->a[d->n].p = value_text(t, path, id, &n);
		d->a[d->n++].n = n;
		return 0;
	}
	return 0;
}

static void note_late(eg_feat *f, int i, uint64_t pos)
{
	if (f->nlate[i] < LATE_KEEP)
		f->late[i][f->nlate[i]] = pos;
	f->nlate[i]++;
}

/* Walk entity e's rows of table ti before the cutoff. */
static int walk(eg_feat *f, int ti, const char *e, size_t n, int64_t cutoff,
		int64_t known, int naive)
{
	const ftab *t = &f->tab[ti];
	const eg_feat_spec *s = f->s;
	uint64_t a, b;
	uint32_t ent = eg_ftab_find(t, e, n, &a, &b);
	if (ent == UINT32_MAX)
		return 0;
	f->kinds |= t->ent_kind[ent];
	/* hi: the first row at or after the cutoff (after it, inclusive) */
	uint64_t lo = a, hi = b;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (s->inclusive ? t->time[mid] <= cutoff : t->time[mid] < cutoff)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t end = lo;
	lo = a;
	if (f->reach > 0) {
		int64_t from = cutoff - f->reach;
		uint64_t h = end;
		while (lo < h) {
			uint64_t mid = lo + (h - lo) / 2;
			if (t->time[mid] < from)
				lo = mid + 1;
			else
				h = mid;
		}
	}
	const uint64_t *mask = f->tmask[ti], *pmask = f->pmask[ti];
	for (uint64_t i = lo; i < end; i++) {
		if (t->pos[i] > f->bound)
			continue;
		int late = t->rec[i] > known;
		if (late && !naive)
			continue;
		for (uint64_t m = mask[t->type[i]]; m; m &= m - 1) {
			int k = __builtin_ctzll(m);
			const ffeat *x = &s->f[k];
			/* the window is [cutoff - lo, cutoff) */
			if (x->lo && t->time[i] < cutoff - x->lo)
				continue;
			int agg = x->agg, path = x->path;
			if (agg == F_PROJ) {
				/* an event of the projection's: its state exists;
				 * the field takes it if pushed down and of its types */
				if (!late)
					f->a[0][k].any = 1;
				if (naive)
					f->a[1][k].any = 1;
				if (naive && late)
					note_late(f, k, t->pos[i]);
				if (!(pmask[t->type[i]] >> k & 1))
					continue;
				agg = x->pagg;
			}
			if (!late && fold(t, i, agg, path, &f->a[0][k], &f->d[0][k]))
				return -1;
			if (naive) {
				if (fold(t, i, agg, path, &f->a[1][k], &f->d[1][k]))
					return -1;
				if (late && x->agg != F_PROJ)
					note_late(f, k, t->pos[i]);
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ values */

static int dtext_cmp(const void *x, const void *y)
{
	const dtext *a = x, *b = y;
	int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
	return c ? c : (a->n > b->n) - (a->n < b->n);
}

static uint64_t distinct(dset *d)
{
	if (d->n > 1)
		qsort(d->a, d->n, sizeof *d->a, dtext_cmp);
	uint64_t k = 0;
	for (size_t i = 0; i < d->n; i++)
		k += !i || dtext_cmp(&d->a[i - 1], &d->a[i]);
	return k;
}

/* A count as an exact decimal. */
static nacc exact_count(uint64_t n)
{
	num v = { (int64_t)n, 0, 1 };
	nacc x;
	eg_nacc_set(&x, &v, 1);
	return x;
}

/* The 128-bit mantissa of an exact accumulator, as a sign and a size. */
static unsigned __int128 mantissa(const nacc *a, int *neg)
{
	__int128 m = (__int128)(((unsigned __int128)(uint64_t)a->hi << 64) | a->lo);
	*neg = m < 0;
	return *neg ? -(unsigned __int128)m : (unsigned __int128)m;
}

/* a / b as the double nearest to the exact quotient when both are exact
 * decimals: 60.3 / 3 is 20.1, not the 20.099999999999998 that dividing
 * the doubles gives.  The quotient's digits (up to 21 after the point)
 * go to strtod, which rounds them correctly.  NaN when b is 0. */
static double quotient(const nacc *a, const nacc *b)
{
	double db = eg_nacc_double(b);
	if (db == 0)
		return __builtin_nan("");
	int na, nb;
	unsigned __int128 x = a->exact ? mantissa(a, &na) : 0;
	unsigned __int128 y = b->exact ? mantissa(b, &nb) : 0;
	/* r * 10 must not overflow: divisors below 2^120 */
	if (!a->exact || !b->exact || (y >> 120))
		return eg_nacc_double(a) / db;
	unsigned __int128 q = x / y, r = x % y;
	char t[128], digits[48];
	int k = 0, frac = 0;
	do
		digits[k++] = (char)('0' + (int)(q % 10));
	while ((q /= 10) && k < 40);
	size_t p = 0;
	if (na != nb && (x || r))
		t[p++] = '-';
	while (k)
		t[p++] = digits[--k];
	t[p++] = '.';
	while (frac < 21 && r) {
		r *= 10;
		t[p++] = (char)('0' + (int)(r / y));
		r %= y;
		frac++;
	}
	snprintf(t + p, sizeof t - p, "0e%d", (int)a->e - (int)b->e);
	return strtod(t, NULL);
}

/* The number a JSON text is, if it is one. */
static int text_number(const char *p, size_t n, double *v, nacc *ex)
{
	if (!n || eg_json_type_of(p[0]) != JSON_NUMBER)
		return 0;
	num x;
	eg_num_parse(p, n, &x);
	*v = eg_num_double(&x);
	eg_nacc_set(ex, &x, 1);
	return 1;
}

static int proj_row(void *ctx, const eg_proj_row *row)
{
	eg_feat *f = ctx;
	int k = f->pfound;            /* the field's index, passed in */
	f->pv.n = 0;
	f->pfound = -1;
	return buf_add(&f->pv, row->values[k], row->lens[k]) ? -1 : 0;
}

/* Feature i's value for side w (0 known, 1 naive) into f->text[w]. */
static int value(eg_feat *f, int w, int i, const char *e, size_t en, int64_t cutoff,
		 int64_t known)
{
	const ffeat *x = &f->s->f[i];
	acc *a = &f->a[w][i];
	buf *b = &f->text[w];
	char t[NUM_TEXT_MAX + 1];
	size_t n = 0;
	const char *p = t;
	double dv = 0;
	int isnull = 0;
	nacc ex = { 0 };              /* the value as an exact decimal, if it is one */
	ex.exact = -1;
	int agg = x->agg;
	/* a projection field answered from the table's rows: null without
	 * state (no event of its types), else its aggregate */
	if (agg == F_PROJ && x->push && f->kinds != (ENT_STRING | ENT_NUMBER))
		agg = a->any ? x->pagg : -1;
	switch (agg) {
	case -1:
		isnull = 1;
		break;
	case F_COUNT:
		n = (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)a->count);
		dv = (double)a->count;
		ex = exact_count(a->count);
		break;
	case F_DISTINCT: {
		uint64_t k = distinct(&f->d[w][i]);
		n = (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)k);
		dv = (double)k;
		ex = exact_count(k);
		break;
	}
	case F_SUM:
		if (!a->nnum) {
			t[0] = '0', n = 1;
			ex = exact_count(0);
			break;
		}
		n = eg_nacc_format(&a->sum, t);
		dv = eg_nacc_double(&a->sum);
		ex = a->sum;
		break;
	case F_AVG:
		if (!a->nnum) {
			isnull = 1;
			break;
		}
		nacc cnt = exact_count(a->nnum);
		dv = quotient(&a->sum, &cnt);
		n = eg_num_format_double(dv, t);
		break;
	case F_MIN: case F_MAX:
		if (!a->nnum) {
			isnull = 1;
			break;
		}
		ex = agg == F_MIN ? a->min : a->max;
		n = eg_nacc_format(&ex, t);
		dv = eg_nacc_double(&ex);
		break;
	case F_FIRST: case F_LAST:
		p = x->agg == F_FIRST ? a->fv : a->lv;
		n = x->agg == F_FIRST ? a->fn : a->ln;
		if (!p || !text_number(p, n, &dv, &ex))
			isnull = 2;   /* no number, but maybe a value */
		if (!p)
			isnull = 1;
		break;
	case F_SINCE:
		if (!a->any) {
			isnull = 1;
			break;
		}
		dv = (double)(cutoff - a->newest) / (double)x->unit;
		n = eg_num_format_double(dv, t);
		break;
	case F_RATIO: {
		int u = x->ratio[0], v = x->ratio[1];
		if (f->dnull[w][u] || f->dnull[w][v] || f->dv[w][v] == 0) {
			isnull = 1;
			break;
		}
		dv = f->isexact[w][u] && f->isexact[w][v] ?
			quotient(&f->ex[w][u], &f->ex[w][v]) : f->dv[w][u] / f->dv[w][v];
		if (dv == 0)
			dv = 0;       /* 0 / -2 is 0, not -0 */
		n = eg_num_format_double(dv, t);
		break;
	}
	case F_PROJ: {
		/* as of just before the cutoff (at it, inclusive), known at the
		 * known-at time but never past the bound */
		int64_t bk = f->bound_rec;
		eg_proj_at at = { f->s->inclusive ? cutoff : cutoff - 1,
				  w ? bk : known < bk ? known : bk };
		f->pfound = x->proj_field_ix;
		int rc = f->proj[i] ? EG_OK : eg_proj_open(f->st, x->proj, NULL, NULL, &f->proj[i]);
		if (!rc)
			rc = eg_proj_get(f->proj[i], e, en, &at, proj_row, f);
		if (rc)
			return rc;
		if (f->pfound != -1) {
			isnull = 1;
			break;
		}
		p = f->pv.p, n = f->pv.n;
		if (!text_number(p, n, &dv, &ex))
			isnull = 2;
		if (n == 4 && !memcmp(p, "null", 4))
			isnull = 1;
		break;
	}
	}
	f->dnull[w][i] = isnull != 0;
	f->dv[w][i] = dv;
	f->isexact[w][i] = ex.exact == 1;
	f->ex[w][i] = ex;
	if (isnull == 1)
		p = "null", n = 4;
	f->off[w][i] = b->n;
	f->lens[w][i] = n;
	return buf_add(b, p, n) ? EG_ENOMEM : EG_OK;
}

int eg_feat_get(eg_feat *f, const char *e, size_t n, int64_t cutoff, int64_t known,
		int flags, eg_feat_values *out)
{
	const eg_feat_spec *s = f->s;
	int naive = flags & EG_FEAT_NAIVE;
	for (int w = 0; w < 1 + naive; w++) {
		memset(f->a[w], 0, (size_t)s->nf * sizeof f->a[w][0]);
		for (int i = 0; i < s->nf; i++)
			f->d[w][i].n = 0;
		f->text[w].n = 0;
	}
	memset(f->nlate, 0, sizeof f->nlate);
	f->kinds = 0;
	for (int t = 0; t < f->ntab; t++)
		if (walk(f, t, e, n, cutoff, known, naive))
			return eg_st_err(f->st, EG_ENOMEM, "out of memory");
	for (int w = 0; w < 1 + naive; w++)
		for (int j = 0; j < s->nf; j++) {
			int rc = value(f, w, s->order[j], e, n, cutoff, known);
			if (rc)
				return rc == EG_ENOMEM ? eg_st_err(f->st, rc, "out of memory") : rc;
		}
	for (int w = 0; w < 1 + naive; w++)
		for (int i = 0; i < s->nf; i++)
			f->vals[w][i] = f->text[w].p + f->off[w][i];
	memset(out, 0, sizeof *out);
	out->n = (size_t)s->nf;
	out->names = f->names;
	out->values = f->vals[0];
	out->lens = f->lens[0];
	if (naive) {
		out->naive = f->vals[1];
		out->naive_lens = f->lens[1];
	}
	return EG_OK;
}

/* ------------------------------------------------------------ many rows
 *
 * Rows are independent: a block of them is split among threads, each
 * with a handle of its own over the same (read-only) tables, into texts;
 * then the calling thread hands them over in row order.  Only when no
 * query can reach the store (a projection read through its own state, an
 * error message) from a worker: see parallel_ok. */

#define ROWS_BLOCK 65536
#define MAX_THREADS 8

typedef struct rows_in {
	size_t n;
	const char *const *ents;
	const size_t *lens;
	const int64_t *cutoffs, *known;
} rows_in;

typedef struct part {
	eg_feat *f;
	const rows_in *in;
	size_t from, to;             /* rows of the block */
	buf text;                    /* each row's values, one after another */
	size_t *off;                 /* (to - from) * nf + 1 offsets into text */
	int rc;
} part;

static void *part_run(void *arg)
{
	part *p = arg;
	size_t nf = (size_t)p->f->s->nf, k = 0;
	p->text.n = 0;
	p->off[0] = 0;
	for (size_t r = p->from; r < p->to && !p->rc; r++) {
		eg_feat_values v;
		p->rc = eg_feat_get(p->f, p->in->ents[r], p->in->lens[r], p->in->cutoffs[r],
				    p->in->known[r], 0, &v);
		for (size_t i = 0; i < nf && !p->rc; i++) {
			if (buf_add(&p->text, v.values[i], v.lens[i]))
				p->rc = EG_ENOMEM;
			p->off[++k] = p->text.n;
		}
	}
	return NULL;
}

/* Whether workers may answer f's queries: every projection field is
 * answered from the table, and no entity needs the projection itself. */
static int parallel_ok(const eg_feat *f)
{
	const eg_feat_spec *s = f->s;
	int push = 0;
	for (int i = 0; i < s->nf; i++) {
		if (s->f[i].agg == F_PROJ && !s->f[i].push)
			return 0;
		push |= s->f[i].push;
	}
	for (int t = 0; push && t < f->ntab; t++)
		for (uint32_t e = 0; e < f->tab[t].nent; e++)
			if (f->tab[t].ent_kind[e] == (ENT_STRING | ENT_NUMBER))
				return 0;
	if (push && f->ntab == 2) {
		/* an entity written one way in the file's table and the other
		 * in the tail's */
		for (uint32_t e = 0; e < f->tab[1].nent; e++) {
			uint64_t a, b;
			const ftab *t1 = &f->tab[1];
			uint32_t o = t1->ent_off[e];
			uint32_t x = eg_ftab_find(&f->tab[0], t1->ent_text + o, t1->ent_off[e + 1] - o, &a, &b);
			if (x != UINT32_MAX && (f->tab[0].ent_kind[x] | t1->ent_kind[e]) != f->tab[0].ent_kind[x])
				return 0;
		}
	}
	return 1;
}

static eg_feat *clone_of(const eg_feat *f)
{
	eg_feat *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->st = f->st;
	c->s = f->s;
	c->clone = 1;
	c->bound = f->bound;
	c->bound_rec = f->bound_rec;
	c->ds.lockfd = -1;
	c->ntab = f->ntab;
	memcpy(c->tab, f->tab, sizeof c->tab);
	memcpy(c->tmask, f->tmask, sizeof c->tmask);
	memcpy(c->pmask, f->pmask, sizeof c->pmask);
	c->reach = f->reach;
	memcpy(c->names, f->names, sizeof c->names);
	return c;
}

int eg_feat_get_rows(eg_feat *f, size_t n, const char *const *ents, const size_t *lens,
		     const int64_t *cutoffs, const int64_t *known, int threads,
		     eg_feat_row_fn fn, void *ctx)
{
	rows_in in = { n, ents, lens, cutoffs, known };
	if (threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus > 0 ? (int)cpus : 1;
	}
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (n < 1024 || !parallel_ok(f))
		threads = 1;
	size_t nf = (size_t)f->s->nf;
	part parts[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	memset(parts, 0, sizeof parts);
	int rc = EG_OK;
	for (int k = 0; k < threads; k++) {
		parts[k].f = k ? clone_of(f) : f;
		parts[k].in = &in;
		size_t rows = n < ROWS_BLOCK ? n : ROWS_BLOCK;
		parts[k].off = malloc((rows * nf + 1) * sizeof *parts[k].off);
		if (!parts[k].f || !parts[k].off) {
			rc = eg_st_err(f->st, EG_ENOMEM, "out of memory");
			threads = k + 1;
			goto done;
		}
	}
	const char *vals[FEAT_MAX];
	size_t vlens[FEAT_MAX];
	for (size_t b = 0; b < n && !rc; b += ROWS_BLOCK) {
		size_t end = b + ROWS_BLOCK < n ? b + ROWS_BLOCK : n, per = (end - b + threads - 1) / threads;
		int started = 0;
		for (int k = 0; k < threads; k++) {
			parts[k].from = b + per * (size_t)k < end ? b + per * (size_t)k : end;
			parts[k].to = parts[k].from + per < end ? parts[k].from + per : end;
			parts[k].rc = 0;
			if (k && pthread_create(&tid[k], NULL, part_run, &parts[k]) == 0)
				started |= 1 << k;
			else if (k)
				part_run(&parts[k]);
		}
		part_run(&parts[0]);
		for (int k = 1; k < threads; k++)
			if (started >> k & 1)
				pthread_join(tid[k], NULL);
		for (int k = 0; k < threads && !rc; k++) {
			part *p = &parts[k];
			if ((rc = p->rc))
				break;
			for (size_t r = p->from; r < p->to && !rc; r++) {
				const size_t *o = p->off + (r - p->from) * nf;
				for (size_t i = 0; i < nf; i++) {
					vals[i] = p->text.p + o[i];
					vlens[i] = o[i + 1] - o[i];
				}
				eg_feat_values v = { nf, f->names, vals, vlens, NULL, NULL };
				rc = fn(ctx, r, &v);
			}
		}
	}
done:
	for (int k = 0; k < threads; k++) {
		if (k)
			eg_feat_close(parts[k].f);
		free(parts[k].text.p);
		free(parts[k].off);
	}
	return rc;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

size_t eg_feat_late(const eg_feat *f, size_t i, uint64_t *pos, size_t max)
{
	if (i >= (size_t)f->s->nf)
		return 0;
	const ffeat *x = &f->s->f[i];
	if (x->agg == F_RATIO) {
		/* a ratio's late events are those of what it divides */
		size_t a = eg_feat_late(f, (size_t)x->ratio[0], pos, max);
		size_t k = a < max ? a : max;
		size_t b = eg_feat_late(f, (size_t)x->ratio[1], pos + k, max - k);
		size_t m = k + (b < max - k ? b : max - k);
		qsort(pos, m, sizeof *pos, cmp_u64);
		size_t u = 0;
		for (size_t j = 0; j < m; j++)
			if (!u || pos[u - 1] != pos[j])
				pos[u++] = pos[j];
		return u + (a + b - m);
	}
	size_t k = f->nlate[i] < LATE_KEEP ? f->nlate[i] : LATE_KEEP;
	if (k > max)
		k = max;
	memcpy(pos, f->late[i], k * sizeof *pos);
	qsort(pos, k, sizeof *pos, cmp_u64);
	return f->nlate[i];
}

/* Features tables are rebuilt on next use: a table is the events of one
 * spec's entity and paths, as cheap to read again from the log then as at
 * reindex. */
__attribute__((constructor)) static void feat_register(void)
{
	eg_ds_register("feat", "features", NULL, NULL);
}

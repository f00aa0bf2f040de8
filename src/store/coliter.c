/*
 * coliter.c — eg_events made from column blocks (coliter.h), and the one
 * switch that sends every engine back to the log (ENGRAM_NO_COLUMNS).
 *
 * The asked paths are kept without those under another asked path (the
 * shorter one's value holds them) and sorted segment by segment, so that
 * paths sharing a prefix are neighbours: an event's data is written in one
 * pass, opening an object per shared prefix and dropping it again when
 * none of the values under it is present.
 */
#include "coliter.h"
#include "buf.h"
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eg_col_allowed(void)
{
	static int allowed = -1;
	if (allowed < 0) {
		const char *v = getenv("ENGRAM_NO_COLUMNS");
		allowed = !v || !*v || !strcmp(v, "0");
	}
	return allowed;
}

typedef struct cpath {
	const char *const *seg;
	int nseg;
	char **qname;                /* each segment as a JSON string */
	size_t *qlen;
} cpath;

struct eg_coliter {
	eg_colscan *sc;
	cpath *p;                    /* the kept paths, sorted */
	size_t np;
	const eg_colblock *b;
	uint32_t k;                  /* the next event of b */
	int check_rec;               /* since/until are on record time */
	eg_filter f;
	eg_event ev;
	buf data;
};

static int seg_cmp(const cpath *a, const cpath *b)
{
	for (int i = 0; i < a->nseg && i < b->nseg; i++) {
		int c = strcmp(a->seg[i], b->seg[i]);
		if (c)
			return c;
	}
	return (a->nseg > b->nseg) - (a->nseg < b->nseg);
}

static int cpath_cmp(const void *x, const void *y)
{
	return seg_cmp(x, y);
}

/* Is a a prefix of b (or b itself)? */
static int is_prefix(const cpath *a, const cpath *b)
{
	if (a->nseg > b->nseg)
		return 0;
	for (int i = 0; i < a->nseg; i++)
		if (strcmp(a->seg[i], b->seg[i]))
			return 0;
	return 1;
}

/* need's paths, sorted, without duplicates and paths under another. */
static int keep_paths(eg_coliter *it, const eg_colneed *need)
{
	if (!need->npaths)
		return EG_OK;
	cpath *p = calloc(need->npaths, sizeof *p);
	if (!p)
		return EG_ENOMEM;
	for (size_t i = 0; i < need->npaths; i++)
		p[i] = (cpath){ .seg = need->paths[i], .nseg = need->nseg[i] };
	qsort(p, need->npaths, sizeof *p, cpath_cmp);
	/* sorted, a path's prefixes in the set come right before it: the last
	 * one kept is the only one that can be its prefix */
	size_t n = 0;
	for (size_t i = 0; i < need->npaths; i++)
		if (p[i].nseg > 0 && (!n || !is_prefix(&p[n - 1], &p[i])))
			p[n++] = p[i];
	it->p = p;
	it->np = n;
	for (size_t i = 0; i < n; i++) {
		p[i].qname = calloc((size_t)p[i].nseg, sizeof *p[i].qname);
		p[i].qlen = calloc((size_t)p[i].nseg, sizeof *p[i].qlen);
		if (!p[i].qname || !p[i].qlen)
			return EG_ENOMEM;
		for (int s = 0; s < p[i].nseg; s++) {
			size_t len = strlen(p[i].seg[s]);
			if (!(p[i].qname[s] = malloc(6 * len + 2)))
				return EG_ENOMEM;
			p[i].qlen[s] = eg_json_quote(p[i].seg[s], len, p[i].qname[s]);
		}
	}
	return EG_OK;
}

int eg_coliter_new(eg_store *st, const eg_filter *f, const eg_colneed *need,
		   eg_coliter **out, const char **why)
{
	*out = NULL;
	*why = NULL;
	if (!eg_col_allowed()) {
		*why = "ENGRAM_NO_COLUMNS is set";
		return EG_ENOTFOUND;
	}
	if (f->stream || f->streams) {
		*why = "a stream condition (the stream postings serve it)";
		return EG_ENOTFOUND;
	}
	if (f->limit || f->reverse) {
		*why = "a limit or a reverse order";
		return EG_ENOTFOUND;
	}
	eg_coliter *it = calloc(1, sizeof *it);
	if (!it)
		return EG_ENOMEM;
	int rc = keep_paths(it, need);
	if (rc)
		goto fail;
	it->f = *f;
	eg_filter cf = *f;
	if (f->by == EG_BY_RECORDED && (f->has_since || f->has_until)) {
		/* the scan bounds event times only: record times are checked here */
		it->check_rec = 1;
		cf.has_since = cf.has_until = 0;
		cf.by = EG_BY_EVENT;
	}
	const char *const **pp = it->np ? malloc(it->np * sizeof *pp) : NULL;
	int *ns = it->np ? malloc(it->np * sizeof *ns) : NULL;
	if (it->np && (!pp || !ns)) {
		free(pp);
		free(ns);
		rc = EG_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < it->np; i++) {
		pp[i] = it->p[i].seg;
		ns[i] = it->p[i].nseg;
	}
	eg_colneed cn = { .paths = pp, .nseg = ns, .npaths = it->np };
	rc = eg_colscan_new(st, &cf, &cn, &it->sc);
	free(pp);
	free(ns);
	if (rc == EG_ENOTFOUND)
		*why = f->upcast ? "the columns do not cover the paths or the filter, or a type "
				   "has upcasts" : "the columns do not cover the paths or the filter";
	if (rc)
		goto fail;
	*out = it;
	return EG_OK;
fail:
	eg_coliter_free(it);
	return rc;
}

/* Path i's value in event k of the current block into it->data; 0 if
 * absent, 1 if written, -1 out of memory. */
static int add_value(eg_coliter *it, size_t i, uint32_t k)
{
	const eg_colvals *v = &it->b->vals[i];
	const char *t;
	size_t n;
	char nb[24];
	switch (v->tag[k]) {
	case EG_CT_ABSENT: return 0;
	case EG_CT_NULL: t = "null"; n = 4; break;
	case EG_CT_FALSE: t = "false"; n = 5; break;
	case EG_CT_TRUE: t = "true"; n = 4; break;
	case EG_CT_INT:
		n = (size_t)snprintf(nb, sizeof nb, "%" PRId64, v->i[k]);
		t = nb;
		break;
	case EG_CT_STR: t = eg_colscan_str(it->sc, i, v->s[k], &n); break;
	default: t = eg_colscan_raw(it->sc, i, v->s[k], &n); break;
	}
	return buf_add(&it->data, t, n) ? -1 : 1;
}

/* Write the members at depth of the paths [lo, hi) (which share their
 * first depth segments) for event k; *wrote: some member was written.
 * 0, or -1 out of memory. */
static int add_members(eg_coliter *it, size_t lo, size_t hi, int depth, uint32_t k,
		       int *wrote)
{
	*wrote = 0;
	for (size_t i = lo; i < hi;) {
		const cpath *p = &it->p[i];
		size_t j = i + 1;
		while (j < hi && it->p[j].nseg > depth && !strcmp(it->p[j].seg[depth], p->seg[depth]))
			j++;
		size_t mark = it->data.n;
		if ((*wrote && buf_add(&it->data, ",", 1)) ||
		    buf_add(&it->data, p->qname[depth], p->qlen[depth]) || buf_add(&it->data, ":", 1))
			return -1;
		int got;
		if (p->nseg == depth + 1) {
			/* a leaf: no other kept path is under it */
			if ((got = add_value(it, i, k)) < 0)
				return -1;
		} else {
			if (buf_add(&it->data, "{", 1) || add_members(it, i, j, depth + 1, k, &got) < 0 ||
			    (got && buf_add(&it->data, "}", 1)))
				return -1;
		}
		if (got)
			*wrote = 1;
		else
			it->data.n = mark;
		i = j;
	}
	return 0;
}

static int make_event(eg_coliter *it, uint32_t k)
{
	const eg_colblock *b = it->b;
	eg_event *e = &it->ev;
	memset(e, 0, sizeof *e);
	e->pos = b->first_pos + k;
	e->time = b->time[k];
	e->recorded = b->recorded[k];
	e->kind = b->kind[k];
	e->id = e->actor = e->session = e->meta = "";
	e->stream = "";
	if (b->stream[k])
		e->stream = eg_colscan_key(it->sc, b->stream[k], &e->stream_len);
	e->type = eg_colscan_key(it->sc, b->type[k], &e->type_len);
	it->data.n = 0;
	int wrote;
	if (buf_add(&it->data, "{", 1) || add_members(it, 0, it->np, 0, k, &wrote) < 0 ||
	    buf_add(&it->data, "}", 1))
		return EG_ENOMEM;
	e->data = it->data.p;
	e->data_len = it->data.n;
	return EG_OK;
}

int eg_coliter_next(eg_coliter *it, const eg_event **e)
{
	for (;;) {
		while (it->b && it->k < it->b->n) {
			uint32_t k = it->k++;
			if (!it->b->want[k])
				continue;
			if (it->check_rec &&
			    ((it->f.has_since && it->b->recorded[k] < it->f.since) ||
			     (it->f.has_until && it->b->recorded[k] > it->f.until)))
				continue;
			int rc = make_event(it, k);
			if (rc)
				return rc;
			*e = &it->ev;
			return EG_OK;
		}
		int rc = eg_colscan_next(it->sc, &it->b);
		it->k = 0;
		if (rc) {
			it->b = NULL;
			return rc;
		}
	}
}

void eg_coliter_counts(const eg_coliter *it, uint64_t *from_cols, uint64_t *from_log)
{
	eg_colscan_counts(it->sc, from_cols, from_log);
}

void eg_coliter_free(eg_coliter *it)
{
	if (!it)
		return;
	if (it->sc)
		eg_colscan_free(it->sc);
	for (size_t i = 0; i < it->np; i++) {
		for (int s = 0; it->p[i].qname && s < it->p[i].nseg; s++)
			free(it->p[i].qname[s]);
		free(it->p[i].qname);
		free(it->p[i].qlen);
	}
	free(it->p);
	free(it->data.p);
	free(it);
}

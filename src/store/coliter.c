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

int eg_colwant_data(eg_colwant *w, const char *const *names, int nseg)
{
	size_t n = w->need.npaths;
	if (n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 8;
		const char *const **p = realloc(w->paths, cap * sizeof *p);
		if (p)
			w->paths = p;
		int *ns = p ? realloc(w->nseg, cap * sizeof *ns) : NULL;
		if (!ns)
			return -1;
		w->nseg = ns;
		w->cap = cap;
	}
	w->paths[n] = names;
	w->nseg[n] = nseg;
	w->need = (eg_colneed){ .paths = w->paths, .nseg = w->nseg, .npaths = n + 1 };
	return 0;
}

/* Why a spec naming each field the blocks do not hold reads the log. */
static const char *const NOT_HELD[] = {
	[EG_PATH_ACTOR] = "a path names actor, which the columns do not hold",
	[EG_PATH_SESSION] = "a path names session, which the columns do not hold",
	[EG_PATH_ID] = "a path names id, which the columns do not hold",
	[EG_PATH_VERSION] = "a path names version, which the columns do not hold",
	[EG_PATH_META] = "a path is under meta, which the columns do not hold",
};

int eg_colwant_path(eg_colwant *w, const eg_path *p)
{
	if (p->root == EG_PATH_DATA)
		return eg_colwant_data(w, (const char *const *)p->seg, p->nseg);
	if (p->root >= 0 && p->root <= EG_PATH_META && NOT_HELD[p->root] && !w->why)
		w->why = NOT_HELD[p->root];
	return 0;
}

void eg_colwant_free(eg_colwant *w)
{
	free(w->paths);
	free(w->nseg);
	memset(w, 0, sizeof *w);
}

typedef struct cpath {
	const char *const *seg;
	int nseg;
	size_t asked;                /* its index in the need */
	char **qname;                /* each segment as a JSON string */
	size_t *qlen;
} cpath;

struct eg_coliter {
	eg_colscan *sc;
	cpath *p;                    /* the kept paths, sorted */
	size_t np;
	size_t *kept;                /* per asked path: 1 + its kept index, 0 none */
	size_t nasked;
	int no_data;                 /* eg_coliter_no_data */
	const eg_colblock *b;
	uint32_t k;                  /* the next event of b */
	int check_rec;               /* since/until are on record time */
	eg_filter f;
	eg_event ev;
	buf data;
	/* Names of stream and type key ids, copied as first met: a lookup
	 * of the scan's (a hash probe) per event cost more than the rest of
	 * an event.  koff[id]: 1 + offset into knames, 0 not yet. */
	uint32_t *koff;
	size_t kcap;
	buf knames;
	/* Past KEYS_BULK names met one by one, a reader reads every name at
	 * once (eg_index_keynames_read): a store of many streams otherwise
	 * pays two or three reads per stream. */
	eg_store *st;
	uint32_t misses;
	int bulk;                    /* 0 not yet, 1 loaded, -1 not possible */
	eg_keynames kn;
};

#define KEYS_BULK 1024

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
		p[i] = (cpath){ .seg = need->paths[i], .nseg = need->nseg[i], .asked = i };
	qsort(p, need->npaths, sizeof *p, cpath_cmp);
	/* sorted, a path's prefixes in the set come right before it: the last
	 * one kept is the only one that can be its prefix */
	size_t n = 0;
	for (size_t i = 0; i < need->npaths; i++)
		if (p[i].nseg > 0 && (!n || !is_prefix(&p[n - 1], &p[i])))
			p[n++] = p[i];
	it->p = p;
	it->np = n;
	if (!(it->kept = calloc(need->npaths, sizeof *it->kept)))
		return EG_ENOMEM;
	it->nasked = need->npaths;
	for (size_t j = 0; j < need->npaths; j++) {
		cpath a = { .seg = need->paths[j], .nseg = need->nseg[j] };
		for (size_t i = 0; i < n && !it->kept[j]; i++)
			if (!seg_cmp(&p[i], &a))
				it->kept[j] = i + 1;
	}
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
	/* upcasts change data (and schema_version) only: without a data path
	 * they change nothing the caller reads */
	if (!it->np)
		cf.upcast = 0;
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
	it->ev.id = it->ev.actor = it->ev.session = it->ev.meta = "";
	it->st = st;
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

/* The text of kept path i's value in event k of the current block (nb:
 * 24 bytes for a number's); its tag. */
static int value_text(eg_coliter *it, size_t i, uint32_t k, char *nb, const char **t, size_t *n)
{
	const eg_colvals *v = &it->b->vals[i];
	switch (v->tag[k]) {
	case EG_CT_ABSENT: *t = NULL; *n = 0; break;
	case EG_CT_NULL: *t = "null"; *n = 4; break;
	case EG_CT_FALSE: *t = "false"; *n = 5; break;
	case EG_CT_TRUE: *t = "true"; *n = 4; break;
	case EG_CT_INT: *n = (size_t)snprintf(nb, 24, "%" PRId64, v->i[k]); *t = nb; break;
	case EG_CT_STR: *t = eg_colscan_str(it->sc, i, v->s[k], n); break;
	default: *t = eg_colscan_raw(it->sc, i, v->s[k], n); break;
	}
	return v->tag[k];
}

/* Path i's value in event k of the current block into it->data; 0 if
 * absent, 1 if written, -1 out of memory. */
static int add_value(eg_coliter *it, size_t i, uint32_t k)
{
	const char *t;
	size_t n;
	char nb[24];
	if (value_text(it, i, k, nb, &t, &n) == EG_CT_ABSENT)
		return 0;
	return buf_add(&it->data, t, n) ? -1 : 1;
}

int eg_coliter_no_data(eg_coliter *it)
{
	for (size_t i = 0; i < it->nasked; i++)
		if (!it->kept[i])
			return -1;
	it->no_data = 1;
	return 0;
}

int eg_coliter_value(eg_coliter *it, size_t i, char *nb, const char **text, size_t *len)
{
	if (i >= it->nasked || !it->kept[i] || !it->b || !it->k)
		return -1;
	return value_text(it, it->kept[i] - 1, it->k - 1, nb, text, len);
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

/* The offset in knames of key id's name (a u32 length, then the bytes),
 * copied there if new; UINT32_MAX out of memory. */
static uint32_t key_off(eg_coliter *it, uint32_t id)
{
	if (id < it->kcap && it->koff[id])
		return it->koff[id] - 1;
	size_t cap = it->kcap;
	if (id >= cap && buf_grow(&it->koff, &cap, (size_t)id + 1, sizeof *it->koff))
		return UINT32_MAX;
	memset(it->koff + it->kcap, 0, (cap - it->kcap) * sizeof *it->koff);
	it->kcap = cap;
	size_t n;
	const char *name = NULL;
	if (!it->bulk && ++it->misses > KEYS_BULK)
		it->bulk = eg_index_keynames_read(it->st, &it->kn) ? -1 : 1;
	/* a known key's id is its idx/keys id + 1 (col.h) */
	if (it->bulk != 1 || (id & EG_COL_KEY_LOCAL) ||
	    eg_keynames_get(&it->kn, (uint64_t)id - 1, &name, &n))
		name = eg_colscan_key(it->sc, id, &n);
	uint32_t len = (uint32_t)n, off = (uint32_t)it->knames.n;
	if (n > UINT32_MAX || it->knames.n + n + 4 >= UINT32_MAX ||
	    buf_add(&it->knames, &len, 4) || buf_add(&it->knames, name, n))
		return UINT32_MAX;
	it->koff[id] = off + 1;
	return off;
}

static int make_event(eg_coliter *it, uint32_t k)
{
	const eg_colblock *b = it->b;
	eg_event *e = &it->ev;
	uint32_t so = b->stream[k] ? key_off(it, b->stream[k]) : 0, to = key_off(it, b->type[k]);
	if (so == UINT32_MAX || to == UINT32_MAX)
		return EG_ENOMEM;
	e->pos = b->first_pos + k;
	e->time = b->time[k];
	e->recorded = b->recorded[k];
	e->kind = b->kind[k];
	/* both names looked up first: a copy may move knames */
	e->stream = "";
	e->stream_len = 0;
	if (b->stream[k]) {
		uint32_t n;
		memcpy(&n, it->knames.p + so, 4);
		e->stream = it->knames.p + so + 4;
		e->stream_len = n;
	}
	uint32_t tn;
	memcpy(&tn, it->knames.p + to, 4);
	e->type = it->knames.p + to + 4;
	e->type_len = tn;
	if (!it->np || it->no_data) {
		e->data = "{}";
		e->data_len = 2;
		return EG_OK;
	}
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

uint32_t eg_coliter_stream_id(const eg_coliter *it)
{
	return it->b && it->k ? it->b->stream[it->k - 1] : 0;
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
	free(it->kept);
	free(it->data.p);
	free(it->koff);
	free(it->knames.p);
	eg_keynames_free(&it->kn);
	free(it);
}

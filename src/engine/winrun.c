/*
 * winrun.c — a run of a windows spec over the log.  Events are read in log
 * order and what the spec needs of each (its group's text, each aggregate's
 * value) is extracted into batches, which the engine (window.c) takes.  A
 * long run reads and extracts on a second thread while the engine takes
 * the batch before, so the two halves of the work share two cores; a short
 * one does both in turn on the caller's thread.  Either way the engine sees
 * the same events in the same order: the output does not depend on it.
 */
#include "buf.h"
#include "internal.h"
#include "num.h"
#include "pipe.h"
#include "timefmt.h"
#include "win.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A long run saves a checkpoint at the first event of every so many
 * positions, so that a crash loses little. */
uint64_t eg_win_save_every = 1u << 21;

/* Runs over fewer positions than this take no second thread. */
uint64_t eg_win_pipe_min = 1u << 16;

/* ------------------------------------------------------------ extraction */

/* The spec's value paths under data and meta, each read once per event,
 * their first members found in one pass over the object. */
typedef struct wex {
	const eg_win_spec *spec;
	int nv;
	const eg_path *vp[WIN_MAX_VALS];
	int first[WIN_MAX_VALS];       /* index of the path's first member in names */
	int gvi[WIN_MAX_GROUPS], avi[WIN_MAX_AGGS];
	const char *names[2][WIN_MAX_VALS];   /* [0] under data, [1] under meta */
	size_t lens[2][WIN_MAX_VALS];
	int nnames[2];
	uint64_t prev_pos;             /* of the event before */
	/* the event being read */
	json_span v[WIN_MAX_VALS];
	int found[WIN_MAX_VALS];
	int nst[WIN_MAX_VALS];         /* 1 number, 0 absent, -1 not a number, 2 unread */
	num n[WIN_MAX_VALS];
} wex;

static int ex_path(wex *x, const eg_path *p)
{
	if (p->root != EG_PATH_DATA && p->root != EG_PATH_META)
		return -1;
	for (int i = 0; i < x->nv; i++)
		if (!strcmp(x->vp[i]->text, p->text))
			return i;
	int r = p->root == EG_PATH_META, j = 0;
	while (j < x->nnames[r] && strcmp(x->names[r][j], p->seg[0]))
		j++;
	if (j == x->nnames[r]) {
		x->names[r][j] = p->seg[0];
		x->lens[r][j] = strlen(p->seg[0]);
		x->nnames[r]++;
	}
	x->vp[x->nv] = p;
	x->first[x->nv] = j;
	return x->nv++;
}

static void ex_init(wex *x, const eg_win_spec *s, uint64_t through)
{
	memset(x, 0, sizeof *x);
	x->spec = s;
	x->prev_pos = through;
	for (int i = 0; i < s->ngroup; i++)
		x->gvi[i] = ex_path(x, &s->group[i]);
	for (int i = 0; i < s->na; i++)
		x->avi[i] = s->a[i].agg == WA_COUNT ? -1 : ex_path(x, &s->a[i].path);
}

/* Read every value path of e (absent, and JSON null, are not found). */
static void ex_values(wex *x, const eg_event *e)
{
	json_span obj[2] = { { e->data, e->data_len, JSON_OBJECT },
			     { e->meta, e->meta_len, JSON_OBJECT } };
	json_span top[2][WIN_MAX_VALS];
	unsigned got[2] = { 0, 0 };
	for (int r = 0; r < 2; r++)
		if (x->nnames[r] && obj[r].n)
			got[r] = eg_json_members_valid(&obj[r], x->names[r], x->lens[r], x->nnames[r],
						    top[r]);
	for (int i = 0; i < x->nv; i++) {
		const eg_path *p = x->vp[i];
		int r = p->root == EG_PATH_META;
		x->nst[i] = 2;
		x->found[i] = (got[r] >> x->first[i]) & 1;
		json_span v = top[r][x->first[i]];
		for (int k = 1; k < p->nseg && x->found[i]; k++) {
			const char *name = p->seg[k];
			size_t len = strlen(name);
			json_span in = v;
			x->found[i] = eg_json_members_valid(&in, &name, &len, 1, &v) & 1;
		}
		x->found[i] = x->found[i] && v.type != JSON_NULL;
		x->v[i] = v;
	}
}

/* The JSON text of e's value at path p (value path vi) appended to b;
 * null if absent. */
static int ex_json(wex *x, const eg_event *e, const eg_path *p, int vi, buf *b)
{
	json_span v = { 0 };
	if (vi >= 0 && x->found[vi])
		v = x->v[vi];
	return eg_path_json(e, p, vi >= 0 ? &v : NULL, b);
}

/* The number at path p of e: 1 with *v, 0 absent, -1 not a number. */
static int ex_number(wex *x, const eg_event *e, const eg_path *p, int vi, num *v)
{
	switch (p->root) {
	case EG_PATH_TIME: case EG_PATH_RECORDED: case EG_PATH_POS: case EG_PATH_VERSION: {
		int64_t t = p->root == EG_PATH_TIME ? e->time : p->root == EG_PATH_RECORDED ? e->recorded :
			    (int64_t)(p->root == EG_PATH_POS ? e->pos : e->version);
		*v = (num){ t, 0, 1 };
		return 1;
	}
	case EG_PATH_DATA: case EG_PATH_META:
		if (x->nst[vi] == 2) {
			if (!x->found[vi])
				x->nst[vi] = 0;
			else if (x->v[vi].type != JSON_NUMBER)
				x->nst[vi] = -1;
			else
				x->nst[vi] = 1, eg_num_parse(x->v[vi].p, x->v[vi].n, &x->n[vi]);
		}
		*v = x->n[vi];
		return x->nst[vi];
	default:
		return -1;               /* stream, type …: text */
	}
}

/* Aggregate i's value of e into o (text into b). */
static int ex_agg(wex *x, const eg_event *e, int i, wbatch *b, wav *o)
{
	const waggspec *a = &x->spec->a[i];
	o->st = 1;
	if (a->agg == WA_COUNT)
		return EG_OK;
	if (a->agg == WA_DISTINCT) {
		size_t at = b->text.n;
		if (ex_json(x, e, &a->path, x->avi[i], &b->text))
			return EG_ENOMEM;
		size_t n = b->text.n - at;
		if (n == 4 && !memcmp(b->text.p + at, "null", 4)) {
			b->text.n = at;
			o->st = 0;
			return EG_OK;
		}
		o->len = (uint32_t)n;
		o->u.t.off = at;
		return EG_OK;
	}
	num v;
	if ((o->st = ex_number(x, e, &a->path, x->avi[i], &v)) <= 0)
		return EG_OK;
	nacc nv;
	eg_nacc_set(&nv, &v, 1);
	if (a->agg != WA_PCT) {
		o->u.n = nv;
		return EG_OK;
	}
	o->u.d = eg_nacc_double(&nv);
	if (!isfinite(o->u.d))
		o->st = -1;
	return EG_OK;
}

static int is_heartbeat(const eg_event *e)
{
	return e->type_len == sizeof EG_HEARTBEAT - 1 &&
	       !memcmp(e->type, EG_HEARTBEAT, sizeof EG_HEARTBEAT - 1);
}

/* Append what the spec needs of e to b. */
static int ex_event(wex *x, const eg_event *e, wbatch *b)
{
	const eg_win_spec *s = x->spec;
	witem *it = &b->items[b->n];
	wav *av = b->av + (size_t)b->n * (size_t)s->na;
	*it = (witem){ .pos = e->pos, .time = e->time, .heartbeat = is_heartbeat(e) };
	if (e->pos / eg_win_save_every != x->prev_pos / eg_win_save_every)
		it->ident = eg_event_ident(e);
	x->prev_pos = e->pos;
	if (it->heartbeat) {
		b->n++;
		return EG_OK;
	}
	if (x->nv)
		ex_values(x, e);
	/* the group's text: each value prefixed by its u32 length */
	size_t at = b->text.n;
	for (int i = 0; i < s->ngroup; i++) {
		size_t v = b->text.n;
		uint32_t len = 0;
		if (buf_add(&b->text, &len, 4) || ex_json(x, e, &s->group[i], x->gvi[i], &b->text))
			return EG_ENOMEM;
		len = (uint32_t)(b->text.n - v - 4);
		memcpy(b->text.p + v, &len, 4);
	}
	it->goff = (uint32_t)at;
	it->glen = (uint32_t)(b->text.n - at);
	it->ghash = XXH3_64bits(b->text.p + at, it->glen);
	for (int i = 0; i < s->na; i++)
		if (ex_agg(x, e, i, b, &av[i]))
			return EG_ENOMEM;
	b->n++;                          /* complete: the engine may take it */
	return EG_OK;
}

/* The next events (WB_CAP at most) into b; b->rc is EG_OK when it is full,
 * EG_END after the last event, or an error. */
static void fill(wex *x, eg_iter *it, wbatch *b)
{
	b->n = 0;
	b->text.n = 0;
	b->rc = EG_OK;
	while (b->n < WB_CAP && b->rc == EG_OK) {
		const eg_event *e;
		b->rc = eg_iter_next(it, &e);
		if (b->rc == EG_OK && ex_event(x, e, b))
			b->rc = EG_ENOMEM;
	}
}

/* ------------------------------------------------------------ the run */

#define NBATCH 4

typedef struct wrun {
	eg_win *w;
	eg_iter *it;
	wex x;
	wbatch b[NBATCH];
} wrun;

static int batches_new(wrun *r, int n, int na)
{
	for (int i = 0; i < n; i++) {
		r->b[i].items = malloc(WB_CAP * sizeof *r->b[i].items);
		r->b[i].av = malloc((size_t)WB_CAP * (size_t)(na ? na : 1) * sizeof *r->b[i].av);
		if (!r->b[i].items || !r->b[i].av || buf_reserve(&r->b[i].text, 64 << 10))
			return EG_ENOMEM;
	}
	return EG_OK;
}

static void batches_free(wrun *r)
{
	for (int i = 0; i < NBATCH; i++) {
		free(r->b[i].items);
		free(r->b[i].av);
		free(r->b[i].text.p);
	}
}

static int fill_batch(void *ctx, void *b)
{
	wrun *r = ctx;
	fill(&r->x, r->it, b);
	return ((wbatch *)b)->rc;
}

static int take_batch(void *ctx, void *b)
{
	wrun *r = ctx;
	return eg_win_take_batch(r->w, b);
}

static int run_events(eg_win *w, eg_iter *it, int threads)
{
	wrun *r = calloc(1, sizeof *r);
	if (!r)
		return eg_st_err(w->st, EG_ENOMEM, "out of memory");
	r->w = w;
	r->it = it;
	ex_init(&r->x, w->spec, w->through);
	int rc = batches_new(r, threads ? NBATCH : 1, w->spec->na);
	if (!rc) {
		void *bs[NBATCH] = { &r->b[0], &r->b[1], &r->b[2], &r->b[3] };
		rc = eg_pipe_run(bs, NBATCH, threads, fill_batch, r, take_batch, r);
	}
	batches_free(r);
	free(r);
	if (rc == EG_ENOMEM)
		rc = eg_st_err(w->st, EG_ENOMEM, "out of memory");
	return rc;
}

int eg_win_run(eg_win *w, uint64_t to)
{
	int rc = eg_win_lock(w);
	if (!rc && eg_win_stale(w))
		rc = eg_win_load(w);          /* another process took the run further */
	eg_head h;
	if (!rc)
		rc = eg_store_head(w->st, &h);
	if (rc) {
		eg_win_unlock(w);
		return rc;
	}
	if (!to || to > h.pos)
		to = h.pos;
	if (to <= w->through) {
		eg_win_unlock(w);
		return EG_OK;
	}
	eg_filter f = { .from = w->through + 1, .to = to, .upcast = !w->spec->no_upcast };
	const char *types[WIN_MAX_TYPES + 1];
	if (w->spec->ntypes) {           /* the spec's types and heartbeats */
		memcpy(types, w->spec->types, (size_t)w->spec->ntypes * sizeof *types);
		types[w->spec->ntypes] = EG_HEARTBEAT;
		f.types = types;
		f.ntypes = (size_t)w->spec->ntypes + 1;
	}
	eg_iter *it;
	if ((rc = eg_iter_new(w->st, &it, &f))) {
		eg_win_unlock(w);
		return rc;
	}
	rc = run_events(w, it, to - w->through >= eg_win_pipe_min);
	eg_iter_free(it);
	if (rc == EG_END) {
		w->through = to;
		rc = eg_win_save(w, 0);
	}
	eg_win_unlock(w);
	return rc;
}

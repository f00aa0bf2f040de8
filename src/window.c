/*
 * window.c — windows by event time: watermark, allowed lateness,
 * revisions for late data, too-late events counted (docs/WINDOWS.md).
 *
 * Events are taken in log order.  Each lands in the windows of its group
 * that contain its event time.  The watermark is the largest event time
 * seen minus the spec's delay; a window's first result (revision 1) is
 * emitted when the watermark reaches its end, every later change while the
 * watermark is short of end + allowed_lateness is another revision, and an
 * event for a window past that point is too late: counted, handed to the
 * caller, and kept out of the figures.  Windows whose figures can no
 * longer change drop their accumulators and keep only their last values.
 */
#include "buf.h"
#include "internal.h"
#include "num.h"
#include "sketch.h"
#include "timefmt.h"
#include "win.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ------------------------------------------- a set of texts (exact) */

/* count_distinct: the values themselves, not hashes, so that the count is
 * exact whatever the collisions. */
typedef struct tset {
	uint64_t *h;                 /* hash | 1; 0 = empty */
	uint32_t *off, *len;
	uint32_t cap, n;
	buf text;
} tset;

static int tset_grow(tset *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 16;
	uint64_t *h = calloc(cap, sizeof *h);
	uint32_t *off = malloc(cap * sizeof *off), *len = malloc(cap * sizeof *len);
	if (!h || !off || !len) {
		free(h), free(off), free(len);
		return -1;
	}
	for (uint32_t i = 0; i < s->cap; i++) {
		if (!s->h[i])
			continue;
		uint32_t j = (uint32_t)s->h[i] & (cap - 1);
		while (h[j])
			j = (j + 1) & (cap - 1);
		h[j] = s->h[i], off[j] = s->off[i], len[j] = s->len[i];
	}
	free(s->h), free(s->off), free(s->len);
	s->h = h, s->off = off, s->len = len, s->cap = cap;
	return 0;
}

static int tset_add(tset *s, const char *v, size_t n)
{
	if ((s->n + 1) * 2 > s->cap && tset_grow(s))
		return -1;
	uint64_t h = XXH3_64bits(v, n) | 1;
	uint32_t j = (uint32_t)h & (s->cap - 1);
	for (; s->h[j]; j = (j + 1) & (s->cap - 1))
		if (s->h[j] == h && s->len[j] == n && !memcmp(s->text.p + s->off[j], v, n))
			return 0;
	if (s->text.n + n > UINT32_MAX || buf_add(&s->text, v, n))
		return -1;
	s->h[j] = h, s->off[j] = (uint32_t)(s->text.n - n), s->len[j] = (uint32_t)n;
	s->n++;
	return 0;
}

static void tset_free(tset *s)
{
	free(s->h), free(s->off), free(s->len), free(s->text.p);
	memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------- windows */

typedef struct wacc {
	uint64_t n;                  /* values taken (count: events) */
	nacc v;                      /* sum and avg: the sum; min, max: the value */
	tset set;                    /* count_distinct */
	qs_sketch qs;                /* p50 … p99 */
} wacc;

typedef struct wwin {
	int64_t start, end;
	uint32_t gid;
	uint32_t id;
	uint64_t rev, too_late, events;
	int emitted, final, retracted;
	wacc *acc;                   /* NULL once final: only `last` is kept */
	char *last;                  /* the values of the last revision */
	size_t *loffs;               /* na + 1 offsets into last */
} wwin;

/* A min-heap of (key, window id). */
typedef struct wheap {
	struct hent { int64_t key; uint32_t id; } *v;
	size_t n, cap;
} wheap;

static int heap_push(wheap *h, int64_t key, uint32_t id)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct hent *v = realloc(h->v, cap * sizeof *v);
		if (!v)
			return -1;
		h->v = v, h->cap = cap;
	}
	size_t i = h->n++;
	while (i && h->v[(i - 1) / 2].key > key) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct hent){ key, id };
	return 0;
}

static void heap_pop(wheap *h)
{
	struct hent x = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1].key < h->v[c].key)
			c++;
		if (h->v[c].key >= x.key)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = x;
}

struct eg_win {
	eg_store *st;
	eg_win_spec *spec;
	uint64_t through;
	int64_t max_time, wm;        /* INT64_MIN until the first event */
	/* groups: their JSON texts, each value prefixed by its u32 length */
	buf gtext;
	uint64_t *goff;              /* group id -> offset in gtext */
	uint32_t ngroups, gcap;
	uint32_t *gslot;             /* group id + 1 by hash */
	uint32_t gscap;
	/* session windows: per group, its sessions' window ids by start */
	struct sess { uint32_t *id; uint32_t n, cap; } *sess;
	/* windows */
	wwin *w;
	uint32_t nw, wcap;
	uint32_t *wslot;             /* window id + 1 by (start, group) */
	uint32_t wscap;
	wheap pend;                  /* not emitted, by end */
	wheap live;                  /* emitted, not final, by end + lateness */
	uint32_t open;
	/* per-event scratch */
	buf key;
	buf vals;
	size_t voffs[WIN_MAX_AGGS + 1];
	/* explain */
	uint64_t events, too_late, revs, corrections, heartbeats;
	eg_win_agg_stats ast[WIN_MAX_AGGS];
	/* row output */
	const char *gnames[WIN_MAX_GROUPS], *gvals[WIN_MAX_GROUPS];
	size_t glens[WIN_MAX_GROUPS];
	const char *anames[WIN_MAX_AGGS], *avals[WIN_MAX_AGGS], *pvals[WIN_MAX_AGGS];
	size_t alens[WIN_MAX_AGGS], plens[WIN_MAX_AGGS];
};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ------------------------------------------------------------ groups */

/* The JSON text of an event's value at a path into b (null if absent). */
static int path_json(const eg_event *e, const ppath *p, buf *b)
{
	const char *s = NULL;
	size_t n = 0;
	char nb[24];
	switch (p->root) {
	case P_STREAM: s = e->stream, n = e->stream_len; break;
	case P_TYPE: s = e->type, n = e->type_len; break;
	case P_ACTOR: s = e->actor, n = e->actor_len; break;
	case P_SESSION: s = e->session, n = e->session_len; break;
	case P_ID: s = e->id, n = e->id_len; break;
	case P_TIME: case P_RECORDED: {
		char t[EG_TIME_LEN + 2];
		t[0] = '"';
		eg_time_format(p->root == P_TIME ? e->time : e->recorded, t + 1);
		t[EG_TIME_LEN + 1] = '"';
		return buf_add(b, t, sizeof t);
	}
	case P_VERSION: case P_POS: {
		uint64_t v = p->root == P_POS ? e->pos : e->version;
		if (p->root == P_VERSION && !v)
			return buf_add(b, "null", 4);
		int k = snprintf(nb, sizeof nb, "%llu", (unsigned long long)v);
		return buf_add(b, nb, (size_t)k);
	}
	default: {
		json_span v;
		if (!proj_path_value(e, p, &v))
			return buf_add(b, "null", 4);
		return buf_add(b, v.p, v.n);   /* stored data is minified */
	}
	}
	if (!n)
		return buf_add(b, "null", 4);
	if (buf_reserve(b, 6 * n + 2))
		return -1;
	b->n += json_quote(s, n, b->p + b->n);
	return 0;
}

/* The group of an event: its id (created if new), or UINT32_MAX. */
static uint32_t group_of(eg_win *w, const eg_event *e)
{
	const eg_win_spec *s = w->spec;
	w->key.n = 0;
	for (int i = 0; i < s->ngroup; i++) {
		size_t at = w->key.n;
		uint32_t len = 0;
		if (buf_add(&w->key, &len, 4) || path_json(e, &s->group[i], &w->key))
			return UINT32_MAX;
		len = (uint32_t)(w->key.n - at - 4);
		memcpy(w->key.p + at, &len, 4);
	}
	uint64_t h = XXH3_64bits(w->key.p, w->key.n);
	if (w->gscap) {
		for (uint32_t j = (uint32_t)h & (w->gscap - 1); w->gslot[j]; j = (j + 1) & (w->gscap - 1)) {
			uint32_t g = w->gslot[j] - 1;
			uint64_t end = g + 1 < w->ngroups ? w->goff[g + 1] : w->gtext.n;
			if (end - w->goff[g] == w->key.n &&
			    (!w->key.n || !memcmp(w->gtext.p + w->goff[g], w->key.p, w->key.n)))
				return g;
		}
	}
	if ((w->ngroups + 1) * 2 > w->gscap) {
		uint32_t cap = w->gscap ? w->gscap * 2 : 1024;
		uint32_t *slot = calloc(cap, sizeof *slot);
		if (!slot)
			return UINT32_MAX;
		for (uint32_t g = 0; g < w->ngroups; g++) {
			uint64_t end = g + 1 < w->ngroups ? w->goff[g + 1] : w->gtext.n;
			uint32_t j = (uint32_t)XXH3_64bits(w->gtext.p + w->goff[g], end - w->goff[g]) &
				     (cap - 1);
			while (slot[j])
				j = (j + 1) & (cap - 1);
			slot[j] = g + 1;
		}
		free(w->gslot);
		w->gslot = slot, w->gscap = cap;
	}
	if (w->ngroups == w->gcap) {
		uint32_t cap = w->gcap ? w->gcap * 2 : 1024;
		uint64_t *o = realloc(w->goff, cap * sizeof *o);
		if (!o)
			return UINT32_MAX;
		w->goff = o;
		if (s->kind == W_SESSION) {
			struct sess *ss = realloc(w->sess, cap * sizeof *ss);
			if (!ss)
				return UINT32_MAX;
			memset(ss + w->gcap, 0, (cap - w->gcap) * sizeof *ss);
			w->sess = ss;
		}
		w->gcap = cap;
	}
	uint32_t g = w->ngroups;
	w->goff[g] = w->gtext.n;
	if (buf_add(&w->gtext, w->key.p, w->key.n))
		return UINT32_MAX;
	w->ngroups++;
	uint32_t j = (uint32_t)h & (w->gscap - 1);
	while (w->gslot[j])
		j = (j + 1) & (w->gscap - 1);
	w->gslot[j] = g + 1;
	return g;
}

/* ----------------------------------------------------------- windows */

static uint64_t win_hash(int64_t start, uint32_t gid)
{
	uint64_t k[2] = { (uint64_t)start, gid };
	return XXH3_64bits(k, sizeof k);
}

static int wslot_grow(eg_win *w)
{
	uint32_t cap = w->wscap ? w->wscap * 2 : 1024;
	uint32_t *slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	for (uint32_t i = 0; i < w->nw; i++) {
		if (w->w[i].retracted)
			continue;
		uint32_t j = (uint32_t)win_hash(w->w[i].start, w->w[i].gid) & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = i + 1;
	}
	free(w->wslot);
	w->wslot = slot, w->wscap = cap;
	return 0;
}

/* The window [start, end) of group gid: its id, created if new and add,
 * UINT32_MAX if absent (or out of memory, EG_ENOMEM in *rc). */
static uint32_t win_find(eg_win *w, int64_t start, int64_t end, uint32_t gid, int add, int *rc)
{
	uint64_t h = win_hash(start, gid);
	if (w->spec->kind == W_SESSION)
		add = 1;                 /* the caller searched the group's sessions */
	else if (w->wscap)
		for (uint32_t j = (uint32_t)h & (w->wscap - 1); w->wslot[j]; j = (j + 1) & (w->wscap - 1)) {
			wwin *x = &w->w[w->wslot[j] - 1];
			if (x->start == start && x->gid == gid)
				return w->wslot[j] - 1;
		}
	if (!add)
		return UINT32_MAX;
	if ((w->spec->kind != W_SESSION && (w->nw + 1) * 2 > w->wscap && wslot_grow(w)) ||
	    (w->nw == w->wcap && !(w->wcap = w->wcap ? w->wcap * 2 : 1024,
				    w->w = realloc(w->w, w->wcap * sizeof *w->w)))) {
		*rc = EG_ENOMEM;
		return UINT32_MAX;
	}
	const eg_win_spec *s = w->spec;
	uint32_t id = w->nw;
	wwin *x = &w->w[id];
	memset(x, 0, sizeof *x);
	x->start = start, x->end = end, x->gid = gid, x->id = id;
	x->acc = calloc((size_t)s->na, sizeof *x->acc);
	if (!x->acc || heap_push(&w->pend, end, id)) {
		free(x->acc);
		*rc = EG_ENOMEM;
		return UINT32_MAX;
	}
	for (int i = 0; i < s->na; i++)
		if (s->a[i].agg == WA_PCT)
			qs_init(&x->acc[i].qs);
	w->nw++;
	w->open++;
	if (s->kind == W_SESSION)
		return id;               /* found through its group's list */
	uint32_t j = (uint32_t)h & (w->wscap - 1);
	while (w->wslot[j])
		j = (j + 1) & (w->wscap - 1);
	w->wslot[j] = id + 1;
	return id;
}

static void acc_free(const eg_win_spec *s, wacc *a)
{
	if (!a)
		return;
	for (int i = 0; i < s->na; i++) {
		tset_free(&a[i].set);
		if (s->a[i].agg == WA_PCT)
			qs_free(&a[i].qs);
	}
	free(a);
}

/* The number at a path of an event: 1 with *v, 0 absent, -1 not a number. */
static int number_at(const eg_event *e, const ppath *p, num *v)
{
	json_span x;
	switch (p->root) {
	case P_TIME: case P_RECORDED: case P_POS: case P_VERSION: {
		int64_t t = p->root == P_TIME ? e->time : p->root == P_RECORDED ? e->recorded :
			    (int64_t)(p->root == P_POS ? e->pos : e->version);
		*v = (num){ t, 0, 1 };
		return 1;
	}
	case P_DATA: case P_META:
		if (!proj_path_value(e, p, &x))
			return 0;
		if (x.type != JSON_NUMBER)
			return -1;
		num_parse(x.p, x.n, v);
		return 1;
	default:
		return -1;               /* stream, type …: text */
	}
}

/* Fold event e into window x's accumulators. */
static int fold(eg_win *w, wwin *x, const eg_event *e)
{
	const eg_win_spec *s = w->spec;
	x->events++;
	for (int i = 0; i < s->na; i++) {
		const waggspec *a = &s->a[i];
		wacc *c = &x->acc[i];
		eg_win_agg_stats *st = &w->ast[i];
		if (a->agg == WA_COUNT) {
			c->n++;
			st->used++;
			continue;
		}
		if (a->agg == WA_DISTINCT) {
			w->key.n = 0;
			if (path_json(e, &a->path, &w->key))
				return EG_ENOMEM;
			if (w->key.n == 4 && !memcmp(w->key.p, "null", 4)) {
				st->missing++;
				continue;
			}
			if (tset_add(&c->set, w->key.p, w->key.n))
				return EG_ENOMEM;
			st->used++;
			continue;
		}
		num v;
		int r = number_at(e, &a->path, &v);
		if (r <= 0) {
			if (r < 0)
				st->not_number++;
			else
				st->missing++;
			continue;
		}
		st->used++;
		nacc nv;
		nacc_set(&nv, &v, 1);
		switch (a->agg) {
		case WA_SUM: case WA_AVG:
			if (c->n)
				nacc_add(&c->v, &nv);
			else
				c->v = nv;
			break;
		case WA_MIN:
			if (!c->n || nacc_cmp(&nv, &c->v) < 0)
				c->v = nv;
			break;
		case WA_MAX:
			if (!c->n || nacc_cmp(&nv, &c->v) > 0)
				c->v = nv;
			break;
		case WA_PCT: {
			double d = nacc_double(&nv);
			if (qs_add(&c->qs, d)) {      /* not finite */
				st->used--;
				st->not_number++;
				continue;
			}
			break;
		}
		}
		c->n++;
	}
	return EG_OK;
}

/* Format window x's values into w->vals / w->voffs. */
static int format(eg_win *w, const wwin *x)
{
	const eg_win_spec *s = w->spec;
	w->vals.n = 0;
	for (int i = 0; i < s->na; i++) {
		const wacc *c = &x->acc[i];
		char t[NUM_TEXT_MAX + 8];
		size_t n;
		w->voffs[i] = w->vals.n;
		switch (s->a[i].agg) {
		case WA_COUNT:
			n = (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)c->n);
			break;
		case WA_DISTINCT:
			n = (size_t)snprintf(t, sizeof t, "%u", c->set.n);
			break;
		case WA_SUM: case WA_MIN: case WA_MAX:
			n = c->n ? nacc_format(&c->v, t) : (memcpy(t, "null", 4), 4);
			break;
		case WA_AVG:
			n = c->n ? num_format_double(nacc_double(&c->v) / (double)c->n, t) :
				   (memcpy(t, "null", 4), 4);
			break;
		default:                 /* WA_PCT */
			n = c->n ? num_format_double(qs_quantile(&c->qs, s->a[i].q), t) :
				   (memcpy(t, "null", 4), 4);
		}
		if (buf_add(&w->vals, t, n))
			return EG_ENOMEM;
	}
	w->voffs[s->na] = w->vals.n;
	return EG_OK;
}

/* Fill row with window x's identity; values from vals/offs. */
static void row_of(eg_win *w, const wwin *x, const char *vals, const size_t *offs,
		   eg_win_row *row)
{
	const eg_win_spec *s = w->spec;
	uint64_t at = w->goff[x->gid];
	for (int i = 0; i < s->ngroup; i++) {
		uint32_t len;
		memcpy(&len, w->gtext.p + at, 4);
		w->gvals[i] = w->gtext.p + at + 4;
		w->glens[i] = len;
		at += 4 + len;
	}
	for (int i = 0; i < s->na; i++) {
		w->avals[i] = vals ? vals + offs[i] : "null";
		w->alens[i] = vals ? offs[i + 1] - offs[i] : 4;
	}
	*row = (eg_win_row){ x->start, x->end, (size_t)s->ngroup, w->gnames, w->gvals, w->glens,
			     (size_t)s->na, w->anames, w->avals, w->alens, NULL, NULL, x->rev,
			     x->final, x->retracted, x->too_late, 0 };
}

/* Keep w->vals as window x's last values. */
static int keep_last(eg_win *w, wwin *x)
{
	size_t na = (size_t)w->spec->na;
	char *v = malloc(w->vals.n ? w->vals.n : 1);
	size_t *o = malloc((na + 1) * sizeof *o);
	if (!v || !o) {
		free(v), free(o);
		return EG_ENOMEM;
	}
	memcpy(v, w->vals.p, w->vals.n);
	memcpy(o, w->voffs, (na + 1) * sizeof *o);
	free(x->last), free(x->loffs);
	x->last = v, x->loffs = o;
	return EG_OK;
}

/* Emit a new revision of window x (its accumulators changed, or the
 * watermark reached its end), made by the event at pos. */
static int emit(eg_win *w, wwin *x, uint64_t pos, eg_win_row_fn fn, void *ctx)
{
	int rc = format(w, x);
	if (rc)
		return rc;
	x->rev++;
	w->revs++;
	if (x->rev > 1)
		w->corrections++;
	if (fn) {
		eg_win_row row;
		row_of(w, x, w->vals.p, w->voffs, &row);
		if (x->last) {
			for (int i = 0; i < w->spec->na; i++) {
				w->pvals[i] = x->last + x->loffs[i];
				w->plens[i] = x->loffs[i + 1] - x->loffs[i];
			}
			row.prev_values = w->pvals;
			row.prev_lens = w->plens;
		}
		row.pos = pos;
		if ((rc = fn(ctx, &row)))
			return rc;
	}
	return keep_last(w, x);
}

/* When the watermark makes a window ending at end final. */
static int64_t final_at(const eg_win_spec *s, int64_t end)
{
	return end > INT64_MAX - s->lateness ? INT64_MAX : end + s->lateness;
}

/* Has the watermark passed end + allowed_lateness (too late for it)? */
static int past_lateness(const eg_win *w, int64_t end)
{
	return w->spec->lateness != WIN_FOREVER && w->wm != INT64_MIN && w->wm >= end &&
	       w->wm - end >= w->spec->lateness;
}

/* Drop window x's accumulators (it can change no more, or was merged). */
static void drop_acc(eg_win *w, wwin *x)
{
	acc_free(w->spec, x->acc);
	x->acc = NULL;
	w->open--;
}

/* Emit window x's first result, made by the event at pos, and wait for it
 * to become final. */
static int first_result(eg_win *w, wwin *x, uint64_t pos, eg_win_row_fn fn, void *ctx)
{
	x->emitted = 1;
	int rc = emit(w, x, pos, fn, ctx);
	if (!rc && w->spec->lateness != WIN_FOREVER &&
	    heap_push(&w->live, final_at(w->spec, x->end), x->id))
		rc = EG_ENOMEM;
	return rc;
}

/* A too-late event for window x: counted there and handed to on_late. */
static int count_late(eg_win *w, wwin *x, const eg_event *e, eg_win_late_fn on_late, void *ctx)
{
	x->too_late++;
	w->too_late++;
	if (!on_late)
		return EG_OK;
	eg_win_row row;
	row_of(w, x, x->last, x->loffs, &row);
	return on_late(ctx, e, &row);
}

/* Event e was folded into window x: a correction if x was emitted, its
 * first result if the watermark already passed its end. */
static int after_fold(eg_win *w, wwin *x, const eg_event *e, eg_win_row_fn on_rev, void *ctx)
{
	if (x->emitted)
		return emit(w, x, e->pos, on_rev, ctx);
	if (w->wm != INT64_MIN && w->wm >= x->end)
		return first_result(w, x, e->pos, on_rev, ctx);
	return EG_OK;
}

/* After the watermark moved: first results of windows it passed, and
 * windows that became final drop their accumulators. */
static int advance(eg_win *w, uint64_t pos, eg_win_row_fn fn, void *ctx)
{
	int rc;
	while (w->pend.n && w->pend.v[0].key <= w->wm) {
		wwin *x = &w->w[w->pend.v[0].id];
		int64_t key = w->pend.v[0].key;
		heap_pop(&w->pend);
		if (x->retracted || x->emitted || x->final)
			continue;
		if (x->end > key) {      /* a session that grew since */
			if (heap_push(&w->pend, x->end, x->id))
				return EG_ENOMEM;
			continue;
		}
		if ((rc = first_result(w, x, pos, fn, ctx)))
			return rc;
	}
	while (w->live.n && w->live.v[0].key <= w->wm) {
		wwin *x = &w->w[w->live.v[0].id];
		int64_t key = w->live.v[0].key;
		heap_pop(&w->live);
		if (x->retracted || x->final)
			continue;
		int64_t due = final_at(w->spec, x->end);
		if (due > key) {         /* a session that grew since */
			if (heap_push(&w->live, due, x->id))
				return EG_ENOMEM;
			continue;
		}
		x->final = 1;
		drop_acc(w, x);
	}
	return EG_OK;
}

/* Take one event into window [start, end) of group gid. */
static int take(eg_win *w, const eg_event *e, int64_t start, int64_t end, uint32_t gid,
		eg_win_row_fn on_rev, eg_win_late_fn on_late, void *ctx)
{
	int rc = EG_OK;
	int late = past_lateness(w, end);
	uint32_t id = win_find(w, start, end, gid, 1, &rc);
	if (rc)
		return rc;
	wwin *x = &w->w[id];
	if (late) {
		if (!x->final) {
			/* a window only too-late events ever reached: kept as a row
			 * of revision 0, so that they are seen, not dropped */
			x->final = 1;
			drop_acc(w, x);
		}
		return count_late(w, x, e, on_late, ctx);
	}
	if ((rc = fold(w, x, e)))
		return rc;
	return after_fold(w, x, e, on_rev, ctx);
}

/* Add b's accumulators to a's (sessions merging). */
static int acc_merge(const eg_win_spec *s, wacc *a, wacc *b)
{
	for (int i = 0; i < s->na; i++) {
		wacc *x = &a[i], *y = &b[i];
		if (!y->n && s->a[i].agg != WA_DISTINCT)
			continue;
		switch (s->a[i].agg) {
		case WA_SUM: case WA_AVG:
			if (x->n)
				nacc_add(&x->v, &y->v);
			else
				x->v = y->v;
			break;
		case WA_MIN:
			if (!x->n || nacc_cmp(&y->v, &x->v) < 0)
				x->v = y->v;
			break;
		case WA_MAX:
			if (!x->n || nacc_cmp(&y->v, &x->v) > 0)
				x->v = y->v;
			break;
		case WA_DISTINCT:
			for (uint32_t j = 0; j < y->set.cap; j++)
				if (y->set.h[j] &&
				    tset_add(&x->set, y->set.text.p + y->set.off[j], y->set.len[j]))
					return EG_ENOMEM;
			break;
		case WA_PCT:
			if (qs_merge(&x->qs, &y->qs))
				return EG_ENOMEM;
			break;
		}
		x->n += y->n;
	}
	return EG_OK;
}

/* An emitted session merged into another: its last row, retracted. */
static int retract(eg_win *w, wwin *x, uint64_t pos, eg_win_row_fn fn, void *ctx)
{
	x->retracted = 1;
	x->rev++;
	w->revs++;
	if (!fn)
		return EG_OK;
	eg_win_row row;
	row_of(w, x, x->last, x->loffs, &row);
	row.pos = pos;
	return fn(ctx, &row);
}

/* Put session id at index at of its group's list (ordered by start). */
static int sess_insert(struct sess *g, uint32_t at, uint32_t id)
{
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 4;
		uint32_t *v = realloc(g->id, cap * sizeof *v);
		if (!v)
			return -1;
		g->id = v, g->cap = cap;
	}
	memmove(g->id + at + 1, g->id + at, (g->n - at) * sizeof *g->id);
	g->id[at] = id;
	g->n++;
	return 0;
}

/* Session windows: the event joins the sessions of its group that its own
 * [t, t + gap) overlaps, merging them into the earliest. */
static int take_session(eg_win *w, const eg_event *e, uint32_t gid, eg_win_row_fn on_rev,
			eg_win_late_fn on_late, void *ctx)
{
	const eg_win_spec *s = w->spec;
	struct sess *g = &w->sess[gid];
	int64_t t = e->time, gap = s->size;
	int64_t end = t > INT64_MAX - gap ? INT64_MAX : t + gap;
	/* the overlapping sessions: a run in the list ordered by start */
	uint32_t lo = 0;
	while (lo < g->n && w->w[g->id[lo]].end <= t)
		lo++;
	uint32_t hi = lo;
	int64_t mstart = t, mend = end;
	int final = 0;
	while (hi < g->n && w->w[g->id[hi]].start < end) {
		wwin *x = &w->w[g->id[hi]];
		mstart = x->start < mstart ? x->start : mstart;
		mend = x->end > mend ? x->end : mend;
		final |= x->final;
		hi++;
	}
	int late = final || past_lateness(w, mend);
	int rc = EG_OK;
	if (late) {
		uint32_t id;
		if (hi > lo) {
			id = g->id[lo];
			for (uint32_t k = lo; k < hi; k++)
				if (w->w[g->id[k]].final)
					id = g->id[k];
		} else {
			/* a session only too-late events reached: a row of revision 0 */
			if ((id = win_find(w, t, end, gid, 1, &rc)) == UINT32_MAX)
				return rc;
			if (sess_insert(g, lo, id))
				return EG_ENOMEM;
			w->w[id].final = 1;
			drop_acc(w, &w->w[id]);
		}
		return count_late(w, &w->w[id], e, on_late, ctx);
	}
	uint32_t id;
	if (hi == lo) {              /* a new session */
		if ((id = win_find(w, t, end, gid, 1, &rc)) == UINT32_MAX)
			return rc;
		if (sess_insert(g, lo, id))
			return EG_ENOMEM;
	} else {
		id = g->id[lo];
		wwin *x = &w->w[id];
		int changed = 0;
		for (uint32_t k = lo + 1; k < hi; k++) {
			wwin *y = &w->w[g->id[k]];
			if ((rc = acc_merge(s, x->acc, y->acc)))
				return rc;
			x->events += y->events;
			x->too_late += y->too_late;
			changed |= y->emitted;
			if (y->emitted && (rc = retract(w, y, e->pos, on_rev, ctx)))
				return rc;
			y->retracted = 1;
			drop_acc(w, y);
		}
		memmove(g->id + lo + 1, g->id + hi, (g->n - hi) * sizeof *g->id);
		g->n -= hi - lo - 1;
		x->start = mstart;
		x->end = mend;
		if (changed && !x->emitted) {
			/* it takes the place of an emitted session: emitted too */
			x->emitted = 1;
			if (s->lateness != WIN_FOREVER &&
			    heap_push(&w->live, final_at(s, x->end), id))
				return EG_ENOMEM;
		}
	}
	wwin *x = &w->w[id];
	if ((rc = fold(w, x, e)))
		return rc;
	return after_fold(w, x, e, on_rev, ctx);
}

static int is_heartbeat(const eg_event *e)
{
	return e->type_len == sizeof EG_HEARTBEAT - 1 &&
	       !memcmp(e->type, EG_HEARTBEAT, sizeof EG_HEARTBEAT - 1);
}

static int take_event(eg_win *w, const eg_event *e, eg_win_row_fn on_rev,
		      eg_win_late_fn on_late, void *ctx)
{
	const eg_win_spec *s = w->spec;
	if (is_heartbeat(e)) {
		/* no events before its time will come but late ones: the
		 * watermark moves there, whatever the spec's delay */
		w->heartbeats++;
		if (w->wm == INT64_MIN || e->time > w->wm) {
			w->wm = e->time;
			return advance(w, e->pos, on_rev, ctx);
		}
		return EG_OK;
	}
	uint32_t gid = group_of(w, e);
	if (gid == UINT32_MAX)
		return st_err(w->st, EG_ENOMEM, "out of memory");
	w->events++;
	int64_t t = e->time;
	int rc = EG_OK;
	if (s->kind == W_SESSION) {
		rc = take_session(w, e, gid, on_rev, on_late, ctx);
	} else {
		/* every window [k*every, k*every + size) holding t, earliest first */
		int64_t last = floor_div(t, s->every) * s->every;
		int64_t first = last - (s->size / s->every - 1) * s->every;
		for (int64_t st0 = first; st0 <= last && !rc; st0 += s->every)
			rc = take(w, e, st0, st0 + s->size, gid, on_rev, on_late, ctx);
	}
	if (rc)
		return rc;
	if (w->max_time == INT64_MIN || t > w->max_time)
		w->max_time = t;
	int64_t wm = w->max_time - s->watermark;
	if (w->max_time < INT64_MIN + s->watermark)
		wm = INT64_MIN + 1;
	if (w->wm == INT64_MIN || wm > w->wm) {
		w->wm = wm;
		rc = advance(w, e->pos, on_rev, ctx);
	}
	return rc;
}

/* ------------------------------------------------------------- API */

int eg_win_open(eg_store *st, const eg_win_spec *spec, eg_win **out)
{
	*out = NULL;
	eg_win *w = calloc(1, sizeof *w);
	if (!w)
		return st_err(st, EG_ENOMEM, "out of memory");
	w->st = st;
	w->spec = (eg_win_spec *)spec;
	w->max_time = w->wm = INT64_MIN;
	for (int i = 0; i < spec->ngroup; i++)
		w->gnames[i] = spec->group[i].text;
	for (int i = 0; i < spec->na; i++) {
		w->anames[i] = spec->a[i].name;
		w->ast[i].name = spec->a[i].name;
	}
	*out = w;
	return EG_OK;
}

void eg_win_close(eg_win *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->nw; i++) {
		acc_free(w->spec, w->w[i].acc);
		free(w->w[i].last);
		free(w->w[i].loffs);
	}
	free(w->w);
	free(w->wslot);
	free(w->pend.v);
	free(w->live.v);
	free(w->gtext.p);
	free(w->goff);
	free(w->gslot);
	for (uint32_t g = 0; w->sess && g < w->ngroups; g++)
		free(w->sess[g].id);
	free(w->sess);
	free(w->key.p);
	free(w->vals.p);
	free(w);
}

int eg_win_run(eg_win *w, uint64_t to, eg_win_row_fn on_rev, eg_win_late_fn on_late,
	       void *ctx)
{
	eg_head h;
	int rc = eg_store_head(w->st, &h);
	if (rc)
		return rc;
	if (!to || to > h.pos)
		to = h.pos;
	if (to <= w->through)
		return EG_OK;
	eg_filter f = { .from = w->through + 1, .to = to };
	const char *types[WIN_MAX_TYPES + 1];
	if (w->spec->ntypes) {           /* the spec's types and heartbeats */
		memcpy(types, w->spec->types, (size_t)w->spec->ntypes * sizeof *types);
		types[w->spec->ntypes] = EG_HEARTBEAT;
		f.types = types;
		f.ntypes = (size_t)w->spec->ntypes + 1;
	}
	eg_iter *it;
	if ((rc = eg_iter_new(w->st, &it, &f)))
		return rc;
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if ((rc = take_event(w, e, on_rev, on_late, ctx)))
			break;
		w->through = e->pos;
	}
	eg_iter_free(it);
	if (rc == EG_END) {
		rc = EG_OK;
		w->through = to;
	}
	return rc;
}

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const eg_win *w = ctx;
	const wwin *x = &w->w[*(const uint32_t *)a], *y = &w->w[*(const uint32_t *)b];
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	uint64_t xe = x->gid + 1 < w->ngroups ? w->goff[x->gid + 1] : w->gtext.n;
	uint64_t ye = y->gid + 1 < w->ngroups ? w->goff[y->gid + 1] : w->gtext.n;
	size_t xn = xe - w->goff[x->gid], yn = ye - w->goff[y->gid];
	int c = xn && yn ? memcmp(w->gtext.p + w->goff[x->gid], w->gtext.p + w->goff[y->gid],
				   xn < yn ? xn : yn) : 0;
	return c ? c : (xn > yn) - (xn < yn);
}

int eg_win_table(eg_win *w, int include_open, eg_win_row_fn fn, void *ctx)
{
	uint32_t *order = malloc(((size_t)w->nw + 1) * sizeof *order), n = 0;
	if (!order)
		return st_err(w->st, EG_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < w->nw; i++) {
		const wwin *x = &w->w[i];
		if (!x->retracted && (x->emitted || x->too_late || include_open))
			order[n++] = i;
	}
	qsort_r(order, n, sizeof *order, cmp_rows, w);
	int rc = EG_OK;
	for (uint32_t i = 0; i < n && !rc; i++) {
		wwin *x = &w->w[order[i]];
		eg_win_row row;
		if (x->emitted || !x->acc) {
			row_of(w, x, x->last, x->loffs, &row);
		} else {
			if ((rc = format(w, x)))
				break;
			row_of(w, x, w->vals.p, w->voffs, &row);
		}
		rc = fn(ctx, &row);
	}
	free(order);
	return rc;
}

void eg_win_get_explain(const eg_win *w, eg_win_explain *o)
{
	*o = (eg_win_explain){ w->through, w->events, w->too_late, w->revs, w->corrections,
			       w->heartbeats, w->nw, w->open, w->max_time, w->wm, (size_t)w->spec->na, w->ast };
}

/*
 * window.c — windows by event time: watermark, allowed lateness,
 * revisions for late data, too-late events counted (docs/WINDOWS.md).
 *
 * Events are taken in log order.  Each lands in the windows of its group
 * that contain its event time.  The watermark is the largest event time
 * seen minus the spec's delay; a window's first result (revision 1) is
 * emitted when the watermark reaches its end, every later change while the
 * watermark is short of end + allowed_lateness is another revision, and an
 * event for a window past that point is too late: counted and kept out of
 * the figures.  Every row made is a change record (winfile.c); a window
 * whose figures can no longer change leaves memory, so memory follows the
 * windows still open, not the events.
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

/* Add text v (n bytes, hash h) unless it is there. */
int eg_tset_add_h(tset *s, uint64_t h, const char *v, size_t n)
{
	if ((s->n + 1) * 2 > s->cap && tset_grow(s))
		return -1;
	h |= 1;
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

int eg_tset_add(tset *s, const char *v, size_t n)
{
	return eg_tset_add_h(s, XXH3_64bits(v, n), v, n);
}

void eg_tset_free(tset *s)
{
	free(s->h), free(s->off), free(s->len), free(s->text.p);
	memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------- windows */

int eg_heap_push(wheap *h, int64_t key, uint64_t serial, uint32_t slot)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct hent *v = realloc(h->v, cap * sizeof *v);
		if (!v)
			return -1;
		h->v = v, h->cap = cap;
	}
	size_t i = h->n++;
	while (i && (h->v[(i - 1) / 2].key > key ||
		     (h->v[(i - 1) / 2].key == key && h->v[(i - 1) / 2].serial > serial))) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct hent){ key, serial, slot };
	return 0;
}

static int hent_less(const struct hent *a, const struct hent *b)
{
	return a->key < b->key || (a->key == b->key && a->serial < b->serial);
}

static void heap_pop(wheap *h)
{
	struct hent x = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && hent_less(&h->v[c + 1], &h->v[c]))
			c++;
		if (!hent_less(&h->v[c], &x))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = x;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ------------------------------------------------------------ groups */

/* The group whose JSON text (each value prefixed by its u32 length) is
 * key, of hash h: its id in *gid, created if new.  -1 if out of memory. */
int eg_win_group_add_h(eg_win *w, const char *key, size_t n, uint64_t h, uint32_t *gid)
{
	if (w->gscap) {
		for (uint32_t j = (uint32_t)h & (w->gscap - 1); w->gslot[j]; j = (j + 1) & (w->gscap - 1)) {
			uint32_t g = w->gslot[j] - 1;
			uint64_t end = g + 1 < w->ngroups ? w->goff[g + 1] : w->gtext.n;
			if (end - w->goff[g] == n && (!n || !memcmp(w->gtext.p + w->goff[g], key, n))) {
				*gid = g;
				return 0;
			}
		}
	}
	if ((w->ngroups + 1) * 2 > w->gscap) {
		uint32_t cap = w->gscap ? w->gscap * 2 : 1024;
		uint32_t *slot = calloc(cap, sizeof *slot);
		if (!slot)
			return -1;
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
			return -1;
		w->goff = o;
		if (w->spec->kind == W_SESSION) {
			struct sess *ss = realloc(w->sess, cap * sizeof *ss);
			if (!ss)
				return -1;
			memset(ss + w->gcap, 0, (cap - w->gcap) * sizeof *ss);
			w->sess = ss;
		}
		w->gcap = cap;
	}
	uint32_t g = w->ngroups;
	w->goff[g] = w->gtext.n;
	if (buf_add(&w->gtext, key, n))
		return -1;
	w->ngroups++;
	uint32_t j = (uint32_t)h & (w->gscap - 1);
	while (w->gslot[j])
		j = (j + 1) & (w->gscap - 1);
	w->gslot[j] = g + 1;
	*gid = g;
	return 0;
}

int eg_win_group_add(eg_win *w, const char *key, size_t n, uint32_t *gid)
{
	return eg_win_group_add_h(w, key, n, XXH3_64bits(key, n), gid);
}

/* Point w->gvals at group gid's values. */
void eg_win_group_row(eg_win *w, uint32_t gid)
{
	uint64_t at = w->goff[gid];
	for (int i = 0; i < w->spec->ngroup; i++) {
		uint32_t len;
		memcpy(&len, w->gtext.p + at, 4);
		w->gvals[i] = w->gtext.p + at + 4;
		w->glens[i] = len;
		at += 4 + len;
	}
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
		if (!w->w[i].serial)
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

/* Take slot i out of the (start, group) table, shifting back the entries
 * after it so that every probe still finds its own. */
static void wslot_remove(eg_win *w, uint32_t i)
{
	uint32_t m = w->wscap - 1;
	uint32_t j = (uint32_t)win_hash(w->w[i].start, w->w[i].gid) & m;
	while (w->wslot[j] != i + 1)
		j = (j + 1) & m;
	for (uint32_t k = (j + 1) & m; w->wslot[k]; k = (k + 1) & m) {
		const wwin *y = &w->w[w->wslot[k] - 1];
		uint32_t home = (uint32_t)win_hash(y->start, y->gid) & m;
		/* may the entry at k move to the hole at j? */
		if ((k > j && (home <= j || home > k)) || (k < j && home <= j && home > k)) {
			w->wslot[j] = w->wslot[k];
			j = k;
		}
	}
	w->wslot[j] = 0;
}

/* A new window in a free slot: its slot, or UINT32_MAX when out of memory.
 * serial 0 gives it the next serial. */
uint32_t eg_win_slot_new(eg_win *w, int64_t start, int64_t end, uint32_t gid, uint64_t serial)
{
	const eg_win_spec *s = w->spec;
	if (s->kind != W_SESSION && (w->open + 1) * 2 > w->wscap && wslot_grow(w))
		return UINT32_MAX;
	uint32_t id;
	if (w->nfree) {
		id = w->freeslots[--w->nfree];
	} else {
		if (w->nw == w->wcap) {
			uint32_t cap = w->wcap ? w->wcap * 2 : 1024;
			wwin *v = realloc(w->w, cap * sizeof *v);
			if (!v)
				return UINT32_MAX;
			w->w = v, w->wcap = cap;
		}
		id = w->nw++;
		w->w[id].serial = 0;
	}
	wwin *x = &w->w[id];
	memset(x, 0, sizeof *x);
	x->acc = w->nspare ? w->spare[--w->nspare] : calloc((size_t)s->na, w->astride);
	if (!x->acc) {
		if (id + 1 == w->nw)
			w->nw--;
		else
			w->freeslots[w->nfree++] = id;   /* there is room: it came from there */
		return UINT32_MAX;
	}
	x->start = start, x->end = end, x->gid = gid;
	x->serial = serial ? serial : ++w->next_serial;
	for (int i = 0; i < s->na; i++)
		if (s->a[i].agg == WA_PCT) {
			wacc *c = eg_win_acc(w, x->acc, i);
			if (!c->qs.count && !c->qs.pos.c && !c->qs.neg.c)
				eg_qs_init(&c->qs);
		}
	w->open++;
	if (s->kind != W_SESSION) {
		uint32_t j = (uint32_t)win_hash(start, gid) & (w->wscap - 1);
		while (w->wslot[j])
			j = (j + 1) & (w->wscap - 1);
		w->wslot[j] = id + 1;
	}
	return id;
}

/* The tumbling or hopping window [start, end) of group gid, created if new:
 * its slot, or UINT32_MAX when out of memory. */
/* Note that group gid's last window is slot id (a hint: checked on use). */
static void glast_set(eg_win *w, uint32_t gid, uint32_t id)
{
	if (gid >= w->nglast) {
		uint32_t n = w->nglast ? w->nglast : 1024;
		while (n <= gid)
			n *= 2;
		uint32_t *v = realloc(w->glast, n * sizeof *v);
		if (!v)
			return;                  /* no hint: only slower */
		memset(v + w->nglast, 0, (n - w->nglast) * sizeof *v);
		w->glast = v, w->nglast = n;
	}
	w->glast[gid] = id + 1;
}

static uint32_t win_find(eg_win *w, int64_t start, int64_t end, uint32_t gid)
{
	/* most events of a group fall in the window its last one did */
	uint32_t h = gid < w->nglast ? w->glast[gid] : 0;
	if (h && h <= w->nw) {
		const wwin *x = &w->w[h - 1];
		if (x->serial && x->start == start && x->gid == gid)
			return h - 1;
	}
	uint32_t id = UINT32_MAX;
	if (w->wscap) {
		uint32_t m = w->wscap - 1;
		for (uint32_t j = (uint32_t)win_hash(start, gid) & m; w->wslot[j]; j = (j + 1) & m) {
			const wwin *x = &w->w[w->wslot[j] - 1];
			if (x->start == start && x->gid == gid) {
				id = w->wslot[j] - 1;
				break;
			}
		}
	}
	if (id == UINT32_MAX) {
		w->created++;
		id = eg_win_slot_new(w, start, end, gid, 0);
		if (id != UINT32_MAX && eg_heap_push(&w->pend, end, w->w[id].serial, id))
			return UINT32_MAX;
	}
	if (id != UINT32_MAX)
		glast_set(w, gid, id);
	return id;
}

static void acc_free(const eg_win *w, wacc *a)
{
	const eg_win_spec *s = w->spec;
	if (!a)
		return;
	for (int i = 0; i < s->na; i++) {
		if (s->a[i].agg == WA_DISTINCT)
			eg_tset_free(&eg_win_acc(w, a, i)->set);
		else if (s->a[i].agg == WA_PCT)
			eg_qs_free(&eg_win_acc(w, a, i)->qs);
	}
	free(a);
}

/* Keep a window's accumulators for the next window, emptied but with
 * their memory (malloc was a sixth of a replay), unless they grew large
 * or enough are kept: spares are at most the windows open at a time. */
static void acc_recycle(eg_win *w, wacc *a)
{
	const eg_win_spec *s = w->spec;
	int keep = w->nspare < w->open;
	for (int i = 0; i < s->na && keep; i++) {
		const wacc *c = eg_win_acc(w, a, i);
		if (s->a[i].agg == WA_DISTINCT)
			keep = c->set.cap <= 256 && c->set.text.cap <= 8192;
		else if (s->a[i].agg == WA_PCT)
			keep = c->qs.pos.len + c->qs.neg.len <= 1024;
	}
	if (keep && w->nspare == w->sparecap) {
		uint32_t cap = w->sparecap ? w->sparecap * 2 : 256;
		wacc **v = realloc(w->spare, cap * sizeof *v);
		if (v)
			w->spare = v, w->sparecap = cap;
		else
			keep = 0;
	}
	if (!keep) {
		acc_free(w, a);
		return;
	}
	for (int i = 0; i < s->na; i++) {
		wacc *c = eg_win_acc(w, a, i);
		if (s->a[i].agg == WA_DISTINCT) {
			if (c->set.cap)
				memset(c->set.h, 0, c->set.cap * sizeof *c->set.h);
			c->set.n = 0;
			c->set.text.n = 0;
		} else if (s->a[i].agg == WA_PCT) {
			eg_qs_clear(&c->qs);
		}
		c->n = 0;
		if (eg_win_has_v(w))
			memset(&c->v, 0, sizeof c->v);
	}
	w->spare[w->nspare++] = a;
}

/* Window x leaves memory (final, or merged into another session).  Stale
 * heap entries for it are told apart by their serial. */
static int win_evict(eg_win *w, uint32_t id)
{
	wwin *x = &w->w[id];
	if (w->spec->kind != W_SESSION) {
		wslot_remove(w, id);
	} else {
		struct sess *g = &w->sess[x->gid];
		uint32_t k = 0;
		while (k < g->n && g->id[k] != id)
			k++;
		if (k < g->n)
			memmove(g->id + k, g->id + k + 1, (g->n - k - 1) * sizeof *g->id);
		g->n -= k < g->n;
	}
	acc_recycle(w, x->acc);
	x->acc = NULL;
	x->serial = 0;
	if (w->nfree == w->freecap) {
		uint32_t cap = w->freecap ? w->freecap * 2 : 256;
		uint32_t *v = realloc(w->freeslots, cap * sizeof *v);
		if (!v)
			return EG_ENOMEM;
		w->freeslots = v, w->freecap = cap;
	}
	w->freeslots[w->nfree++] = id;
	w->open--;
	return EG_OK;
}

/* The event e, with values av, is taken by the windows. */
typedef struct wtake {
	const witem *e;
	const wav *av;
	const char *arena;
	uint64_t h[WIN_MAX_AGGS];    /* count_distinct: the value's hash */
} wtake;

/* Fold event k's values into window x's accumulators. */
static int fold(eg_win *w, wwin *x, const wtake *k)
{
	const wav *av = k->av;
	const eg_win_spec *s = w->spec;
	x->events++;
	for (int i = 0; i < s->na; i++) {
		const wav *v = &av[i];
		wacc *c = eg_win_acc(w, x->acc, i);
		eg_win_agg_stats *st = &w->ast[i];
		if (v->st <= 0) {
			if (v->st < 0)
				st->not_number++;
			else
				st->missing++;
			continue;
		}
		st->used++;
		switch (s->a[i].agg) {
		case WA_COUNT:
			break;
		case WA_DISTINCT:
			if (eg_tset_add_h(&c->set, k->h[i], k->arena + v->u.t.off, v->len))
				return EG_ENOMEM;
			continue;
		case WA_SUM: case WA_AVG:
			if (c->n)
				eg_nacc_add(&c->v, &v->u.n);
			else
				c->v = v->u.n;
			break;
		case WA_MIN:
			if (!c->n || eg_nacc_cmp(&v->u.n, &c->v) < 0)
				c->v = v->u.n;
			break;
		case WA_MAX:
			if (!c->n || eg_nacc_cmp(&v->u.n, &c->v) > 0)
				c->v = v->u.n;
			break;
		case WA_PCT: {
			int rc = eg_qs_add(&c->qs, v->u.d);   /* v is finite */
			if (rc == EG_ENOMEM)
				return rc;
			if (rc) {                          /* the count would overflow */
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

/* The value of an aggregate over no events (or no numbers): counts and
 * sums are 0, as in projections; the rest have no value. A window reached
 * only by too-late events shows these. */
const char *eg_win_empty_value(int agg)
{
	return agg == WA_COUNT || agg == WA_DISTINCT || agg == WA_SUM ? "0" : "null";
}

/* Format window x's values into w->vals / w->voffs. */
int eg_win_format(eg_win *w, const wwin *x)
{
	const eg_win_spec *s = w->spec;
	w->vals.n = 0;
	for (int i = 0; i < s->na; i++) {
		const wacc *c = eg_win_acc(w, x->acc, i);
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
			n = c->n ? eg_nacc_format(&c->v, t) : 0;
			break;
		case WA_AVG:
			n = c->n ? eg_num_format_double(eg_nacc_double(&c->v) / (double)c->n, t) : 0;
			break;
		default:                 /* WA_PCT */
			n = c->n ? eg_num_format_double(eg_qs_quantile(&c->qs, s->a[i].q), t) : 0;
		}
		if (!n) {                /* no numbers */
			const char *e = eg_win_empty_value(s->a[i].agg);
			n = strlen(e);
			memcpy(t, e, n);
		}
		if (buf_add(&w->vals, t, n))
			return EG_ENOMEM;
	}
	w->voffs[s->na] = w->vals.n;
	return EG_OK;
}

/* A change record about window x (kind, cause flags, new revision). */
static int put(eg_win *w, const wwin *x, int kind, int flags, uint64_t pos, uint64_t *off)
{
	wrec r = { .kind = kind, .flags = flags, .pos = pos, .serial = x->serial,
		   .start = x->start, .end = x->end, .gid = x->gid, .rev = x->rev,
		   .prev = x->last };
	return eg_wch_append(w, &r, kind == WR_REV, off);
}

/* Emit a new revision of window x (its accumulators changed, or the
 * watermark reached its end), made by the event at pos. */
static int emit(eg_win *w, wwin *x, uint64_t pos, int flags)
{
	int rc = eg_win_format(w, x);
	if (rc)
		return rc;
	x->rev++;
	w->revs++;
	if (x->rev > 1)
		w->corrections++;
	uint64_t off;
	if ((rc = put(w, x, WR_REV, flags, pos, &off)))
		return rc;
	x->last = off + 1;
	return EG_OK;
}

/* When the watermark makes a window ending at end final. */
int64_t eg_win_final_at(const eg_win_spec *s, int64_t end)
{
	return end > INT64_MAX - s->lateness ? INT64_MAX : end + s->lateness;
}

/* Has the watermark passed end + allowed_lateness (too late for it)? */
static int past_lateness(const eg_win *w, int64_t end)
{
	return w->spec->lateness != WIN_FOREVER && w->wm != INT64_MIN && w->wm >= end &&
	       w->wm - end >= w->spec->lateness;
}

/* Emit window x's first result, made by the event at pos, and wait for it
 * to become final. */
static int first_result(eg_win *w, uint32_t id, uint64_t pos, int flags)
{
	wwin *x = &w->w[id];
	x->emitted = 1;
	int rc = emit(w, x, pos, flags);
	if (!rc && w->spec->lateness != WIN_FOREVER &&
	    eg_heap_push(&w->live, eg_win_final_at(w->spec, x->end), x->serial, id))
		rc = EG_ENOMEM;
	return rc;
}

/* A too-late event for [start, end) of group gid: a LATE record, made
 * against the window's row (serial 0: tumbling and hopping windows are
 * known by start and group) or, for sessions, a row of its own. */
static int count_late(eg_win *w, const witem *e, int64_t start, int64_t end, uint32_t gid)
{
	wwin x = { .start = start, .end = end, .gid = gid };
	if (w->spec->kind == W_SESSION)
		x.serial = ++w->next_serial;
	w->too_late++;
	uint64_t off;
	return put(w, &x, WR_LATE, 0, e->pos, &off);
}

/* Event e was folded into window x: a correction if x was emitted, its
 * first result if the watermark already passed its end. */
static int after_fold(eg_win *w, uint32_t id, const witem *e)
{
	wwin *x = &w->w[id];
	if (x->emitted)
		return emit(w, x, e->pos, WR_CAUSE_EVENT);
	if (w->wm != INT64_MIN && w->wm >= x->end)
		return first_result(w, id, e->pos, WR_CAUSE_EVENT);
	return EG_OK;
}

/* After the watermark moved: first results of windows it passed, and
 * windows that became final leave memory. */
static int advance(eg_win *w, uint64_t pos)
{
	int rc;
	while (w->pend.n && w->pend.v[0].key <= w->wm) {
		struct hent h = w->pend.v[0];
		heap_pop(&w->pend);
		wwin *x = &w->w[h.slot];
		if (x->serial != h.serial || x->emitted)
			continue;
		if (x->end > h.key) {    /* a session that grew since */
			if (eg_heap_push(&w->pend, x->end, x->serial, h.slot))
				return EG_ENOMEM;
			continue;
		}
		if ((rc = first_result(w, h.slot, pos, 0)))
			return rc;
	}
	while (w->live.n && w->live.v[0].key <= w->wm) {
		struct hent h = w->live.v[0];
		heap_pop(&w->live);
		wwin *x = &w->w[h.slot];
		if (x->serial != h.serial)
			continue;
		int64_t due = eg_win_final_at(w->spec, x->end);
		if (due > h.key) {       /* a session that grew since */
			if (eg_heap_push(&w->live, due, x->serial, h.slot))
				return EG_ENOMEM;
			continue;
		}
		uint64_t off;
		if ((rc = put(w, x, WR_FINAL, 0, pos, &off)) || (rc = win_evict(w, h.slot)))
			return rc;
	}
	return EG_OK;
}

/* Take one event into window [start, end) of group gid. */
static int take(eg_win *w, const wtake *k, int64_t start, int64_t end, uint32_t gid)
{
	/* a window past its lateness has left memory */
	if (past_lateness(w, end))
		return count_late(w, k->e, start, end, gid);
	uint32_t id = win_find(w, start, end, gid);
	if (id == UINT32_MAX)
		return EG_ENOMEM;
	int rc = fold(w, &w->w[id], k);
	return rc ? rc : after_fold(w, id, k->e);
}

/* Add b's accumulators to a's (sessions merging). */
static int acc_merge(const eg_win *w, wacc *a, wacc *b)
{
	const eg_win_spec *s = w->spec;
	for (int i = 0; i < s->na; i++) {
		wacc *x = eg_win_acc(w, a, i), *y = eg_win_acc(w, b, i);
		if (!y->n && s->a[i].agg != WA_DISTINCT)
			continue;
		switch (s->a[i].agg) {
		case WA_SUM: case WA_AVG:
			if (x->n)
				eg_nacc_add(&x->v, &y->v);
			else
				x->v = y->v;
			break;
		case WA_MIN:
			if (!x->n || eg_nacc_cmp(&y->v, &x->v) < 0)
				x->v = y->v;
			break;
		case WA_MAX:
			if (!x->n || eg_nacc_cmp(&y->v, &x->v) > 0)
				x->v = y->v;
			break;
		case WA_DISTINCT:
			for (uint32_t j = 0; j < y->set.cap; j++)
				if (y->set.h[j] &&
				    eg_tset_add(&x->set, y->set.text.p + y->set.off[j], y->set.len[j]))
					return EG_ENOMEM;
			break;
		case WA_PCT:
			if (eg_qs_merge(&x->qs, &y->qs))
				return EG_ENOMEM;
			break;
		}
		x->n += y->n;
	}
	return EG_OK;
}

/* Put session slot id at index at of its group's list (ordered by start). */
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
 * [t, t + gap) overlaps, merging them into the earliest.  Final sessions
 * have left memory: an event too late for its own [t, t + gap) is counted
 * in a row of its own, and one that is not starts a new session. */
static int take_session(eg_win *w, const wtake *k, uint32_t gid)
{
	const witem *e = k->e;
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
	while (hi < g->n && w->w[g->id[hi]].start < end) {
		wwin *x = &w->w[g->id[hi]];
		mstart = x->start < mstart ? x->start : mstart;
		mend = x->end > mend ? x->end : mend;
		hi++;
	}
	/* sessions in memory are not final, so an overlap is never too late */
	if (hi == lo && past_lateness(w, end))
		return count_late(w, e, t, end, gid);
	int rc = EG_OK;
	uint32_t id;
	if (hi == lo) {              /* a new session */
		w->created++;
		if ((id = eg_win_slot_new(w, t, end, gid, 0)) == UINT32_MAX ||
		    eg_heap_push(&w->pend, end, w->w[id].serial, id) || sess_insert(g, lo, id))
			return EG_ENOMEM;
	} else {
		id = g->id[lo];
		int changed = 0;
		/* the later sessions merge into the first: each leaves memory, a
		 * RETRACT record for those already emitted */
		while (g->n > lo + 1 && w->w[g->id[lo + 1]].start < end) {
			uint32_t yid = g->id[lo + 1];
			wwin *y = &w->w[yid], *x = &w->w[id];
			if ((rc = acc_merge(w, x->acc, y->acc)))
				return rc;
			x->events += y->events;
			if (y->emitted) {
				changed = 1;
				y->rev++;
				w->revs++;
				uint64_t off;
				if ((rc = put(w, y, WR_RETRACT, WR_CAUSE_EVENT, e->pos, &off)))
					return rc;
			}
			if ((rc = win_evict(w, yid)))
				return rc;
		}
		wwin *x = &w->w[id];
		x->start = mstart;
		x->end = mend;
		if (changed && !x->emitted) {
			/* it takes the place of an emitted session: emitted too */
			x->emitted = 1;
			if (s->lateness != WIN_FOREVER &&
			    eg_heap_push(&w->live, eg_win_final_at(s, x->end), x->serial, id))
				return EG_ENOMEM;
		}
	}
	if ((rc = fold(w, &w->w[id], k)))
		return rc;
	return after_fold(w, id, e);
}

static int take_item(eg_win *w, wtake *k)
{
	const eg_win_spec *s = w->spec;
	const witem *e = k->e;
	if (e->heartbeat) {
		/* no events before its time will come but late ones: the
		 * watermark moves there, whatever the spec's delay */
		w->heartbeats++;
		if (w->wm == INT64_MIN || e->time > w->wm) {
			w->wm = e->time;
			return advance(w, e->pos);
		}
		return EG_OK;
	}
	uint32_t gid;
	if (e->gkey && e->gkey < w->ngkmap && w->gkmap[e->gkey]) {
		gid = w->gkmap[e->gkey] - 1;
	} else {
		if (eg_win_group_add_h(w, k->arena + e->goff, e->glen, e->ghash, &gid))
			return EG_ENOMEM;
		if (e->gkey && e->gkey >= w->ngkmap) {
			uint32_t n = w->ngkmap ? w->ngkmap : 1024;
			while (n <= e->gkey)
				n *= 2;
			uint32_t *v = realloc(w->gkmap, n * sizeof *v);
			if (!v)
				return EG_ENOMEM;
			memset(v + w->ngkmap, 0, (n - w->ngkmap) * sizeof *v);
			w->gkmap = v, w->ngkmap = n;
		}
		if (e->gkey)
			w->gkmap[e->gkey] = gid + 1;
	}
	/* the values' hashes are made here, the group's by the reading
	 * thread: the two halves of the work come out even */
	for (int i = 0; i < s->na; i++)
		if (s->a[i].agg == WA_DISTINCT && k->av[i].st > 0)
			k->h[i] = XXH3_64bits(k->arena + k->av[i].u.t.off, k->av[i].len);
	w->events++;
	int64_t t = e->time;
	int rc = EG_OK;
	if (s->kind == W_SESSION) {
		rc = take_session(w, k, gid);
	} else {
		/* every window [k*every, k*every + size) holding t, earliest first */
		int64_t last = floor_div(t, s->every) * s->every;
		int64_t first = last - (s->size / s->every - 1) * s->every;
		for (int64_t st0 = first; st0 <= last && !rc; st0 += s->every)
			rc = take(w, k, st0, st0 + s->size, gid);
	}
	if (rc)
		return rc;
	if (w->max_time == INT64_MIN || t > w->max_time)
		w->max_time = t;
	if (s->wm_heartbeats)
		return EG_OK;       /* the source's heartbeats move it, not event times */
	int64_t wm = w->max_time - s->watermark;
	if (w->max_time < INT64_MIN + s->watermark)
		wm = INT64_MIN + 1;
	if (w->wm == INT64_MIN || wm > w->wm) {
		w->wm = wm;
		rc = advance(w, e->pos);
	}
	return rc;
}

void eg_win_run_begin(eg_win *w)
{
	if (w->gkmap)
		memset(w->gkmap, 0, w->ngkmap * sizeof *w->gkmap);
}

/* Take a batch of events, in order; w->through follows, and a checkpoint
 * is saved at each event the reader marked with its identity. */
int eg_win_take_batch(eg_win *w, const wbatch *b)
{
	int na = w->spec->na;
	wtake k;
	k.arena = b->text.p;
	for (uint32_t i = 0; i < b->n; i++) {
		k.e = &b->items[i];
		k.av = b->av + (size_t)i * (size_t)na;
		int rc = take_item(w, &k);
		if (rc)
			return rc == EG_ENOMEM ? eg_st_err(w->st, EG_ENOMEM, "out of memory") : rc;
		w->through = k.e->pos;
		if (k.e->ident && (rc = eg_win_save(w, k.e->ident)))
			return rc;
	}
	return EG_OK;
}

/* ------------------------------------------------- restoring a checkpoint */

static int get_window(eg_win *w, bread *r)
{
	const eg_win_spec *s = w->spec;
	uint64_t v[7];
	for (int i = 0; i < 7; i++)
		v[i] = bread_u64(r);
	if (r->bad || !v[2] || v[2] > w->next_serial || (v[6] >> 1) >= w->ngroups)
		return -1;
	uint32_t id = eg_win_slot_new(w, (int64_t)v[0], (int64_t)v[1], (uint32_t)(v[6] >> 1), v[2]);
	if (id == UINT32_MAX)
		return EG_ENOMEM;
	wwin *x = &w->w[id];
	x->rev = v[3], x->events = v[4], x->last = v[5], x->emitted = (int)(v[6] & 1);
	for (int i = 0; i < s->na; i++) {
		wacc *c = eg_win_acc(w, x->acc, i);
		c->n = bread_u64(r);
		const unsigned char *p = bread_get(r, sizeof c->v);
		if (!p)
			return -1;
		if (eg_win_has_v(w))
			memcpy(&c->v, p, sizeof c->v);
		if (s->a[i].agg == WA_DISTINCT) {
			uint64_t n = bread_u64(r);
			for (uint64_t j = 0; j < n && !r->bad; j++) {
				const unsigned char *l = bread_get(r, 4);
				const unsigned char *t = l ? bread_get(r, rd32(l)) : NULL;
				if (!t)
					return -1;
				if (eg_tset_add(&c->set, (const char *)t, rd32(l)))
					return EG_ENOMEM;
			}
			if (c->set.n != n)
				return -1;
		} else if (s->a[i].agg == WA_PCT) {
			uint64_t n = bread_u64(r);
			const unsigned char *p2 = bread_get(r, n);
			if (!p2 || eg_qs_decode(&c->qs, p2, n))
				return -1;
		}
	}
	return r->bad ? -1 : 0;
}

static int cmp_start(const void *a, const void *b, void *ctx)
{
	const eg_win *w = ctx;
	int64_t x = w->w[*(const uint32_t *)a].start, y = w->w[*(const uint32_t *)b].start;
	return (x > y) - (x < y);
}

/* Restore the run from the state file's bytes (read and checked by
 * winfile.c); 0, -1 if it does not fit this log and these files (the
 * caller starts afresh), or an error. */
static int restore(eg_win *w, const unsigned char *p, size_t n)
{
	const eg_win_spec *s = w->spec;
	eg_head h;
	int rc = eg_store_head(w->st, &h);
	if (rc)
		return rc;
	uint64_t v[17];
	memcpy(v, p + 48, sizeof v);
	uint64_t through = v[0], id, tail;
	uint64_t clen, glen;
	if (through > h.pos || eg_win_files_size(w, &clen, &glen) || clen < v[2] ||
	    glen < v[3] || v[3] > SIZE_MAX / 2)
		return -1;
	if ((rc = eg_store_event_ident(w->st, through, &id)))
		return rc;
	if (id != v[1] || eg_win_tail_check(w, v[2], &tail) || tail != v[9])
		return -1;
	/* the groups */
	char *g;
	if ((rc = eg_win_groups_read(w, v[3], &g)))
		return rc;
	/* (a spec without group_by has one group, of empty text) */
	for (uint64_t at = 0; w->ngroups < v[4] && at <= v[3];) {
		uint64_t end = at;
		for (int i = 0; i < s->ngroup && end <= v[3]; i++)
			end += 4 + (end + 4 <= v[3] ? rd32(g + end) : 0);
		uint32_t gid;
		if (end > v[3] || eg_win_group_add(w, g + at, end - at, &gid) || gid != w->ngroups - 1) {
			free(g);
			return -1;
		}
		at = end;
	}
	free(g);
	if (w->ngroups != v[4] || w->gtext.n != v[3])
		return -1;
	w->groups_saved = w->gtext.n;
	w->through = through;
	w->next_serial = v[5];
	w->max_time = (int64_t)v[6];
	w->wm = (int64_t)v[7];
	w->created = v[10];
	w->events = v[11], w->too_late = v[12], w->revs = v[13], w->corrections = v[14];
	w->heartbeats = v[15];
	bread r = { p + WIN_ST_HDR, p + n - 8, 0 };
	for (int i = 0; i < s->na; i++)
		w->ast[i].used = bread_u64(&r), w->ast[i].missing = bread_u64(&r),
		w->ast[i].not_number = bread_u64(&r);
	for (uint64_t i = 0; i < v[8]; i++)
		if ((rc = get_window(w, &r)))
			return rc;
	if (r.bad || r.p != r.end)
		return -1;
	/* the heaps and, for sessions, each group's list by start */
	for (uint32_t i = 0; i < w->nw; i++) {
		wwin *x = &w->w[i];
		if (!x->emitted)
			rc = eg_heap_push(&w->pend, x->end, x->serial, i);
		else if (s->lateness != WIN_FOREVER)
			rc = eg_heap_push(&w->live, eg_win_final_at(s, x->end), x->serial, i);
		if (!rc && s->kind == W_SESSION) {
			struct sess *ss = &w->sess[x->gid];
			if (ss->n == ss->cap) {
				uint32_t cap = ss->cap ? ss->cap * 2 : 4;
				uint32_t *q = realloc(ss->id, cap * sizeof *q);
				if (!q)
					return EG_ENOMEM;
				ss->id = q, ss->cap = cap;
			}
			ss->id[ss->n++] = i;
		}
		if (rc)
			return EG_ENOMEM;
	}
	for (uint32_t gi = 0; s->kind == W_SESSION && gi < w->ngroups; gi++)
		if (w->sess[gi].n > 1)           /* (a group with none has no array) */
			qsort_r(w->sess[gi].id, w->sess[gi].n, sizeof(uint32_t), cmp_start, w);
	if ((rc = eg_win_files_cut(w, v[2], v[3])))
		return rc;
	w->ch.flushed = v[2];
	w->saved_through = w->resumed_from = through;
	w->saved_len = v[2];
	return EG_OK;
}

/* Load the state file if it is valid for this log, else start afresh
 * (the change records of a run that is not the saved one are cut off). */
int eg_win_load(eg_win *w)
{
	eg_win_reset(w);
	eg_win_files_forget(w);
	w->saved_through = w->saved_len = 0;
	if (w->nosave)
		return EG_OK;
	eg_ds_view v;
	int rc = -1;
	if (eg_win_state_read(w, &v) == EG_OK)
		rc = restore(w, v.p, v.n);
	eg_ds_view_free(&v);
	if (rc > 0 || rc < -1 || rc == EG_ENOMEM)
		return rc == EG_ENOMEM ? eg_st_err(w->st, EG_ENOMEM, "out of memory") : rc;
	if (rc == -1) {              /* start afresh */
		eg_win_reset(w);
		w->ch.flushed = 0;
		if ((rc = eg_win_files_cut(w, 0, 0)))
			return rc;
	}
	w->ch.mine = w->ch.flushed;
	return EG_OK;
}

/* ------------------------------------------------------------- API */

/* Forget every window and group: the state of a run that took nothing. */
void eg_win_reset(eg_win *w)
{
	for (uint32_t i = 0; i < w->nw; i++)
		if (w->w[i].serial)
			acc_free(w, w->w[i].acc);
	while (w->nspare)
		acc_free(w, w->spare[--w->nspare]);
	for (uint32_t g = 0; w->sess && g < w->ngroups; g++)
		free(w->sess[g].id);
	if (w->sess)
		memset(w->sess, 0, (size_t)w->gcap * sizeof *w->sess);
	free(w->gslot);
	w->gslot = NULL;
	w->gscap = 0;
	eg_win_run_begin(w);             /* the groups start afresh */
	if (w->glast)
		memset(w->glast, 0, w->nglast * sizeof *w->glast);
	free(w->wslot);
	w->wslot = NULL;
	w->wscap = 0;
	w->nw = w->nfree = w->ngroups = w->open = 0;
	w->gtext.n = w->pend.n = w->live.n = 0;
	w->through = w->next_serial = w->groups_saved = w->resumed_from = 0;
	w->max_time = w->wm = INT64_MIN;
	w->events = w->too_late = w->revs = w->corrections = w->heartbeats = w->created = 0;
	for (int i = 0; i < w->spec->na; i++)
		w->ast[i].used = w->ast[i].missing = w->ast[i].not_number = 0;
}

int eg_win_open(eg_store *st, const eg_win_spec *spec, int flags, eg_win **out)
{
	*out = NULL;
	eg_win *w = calloc(1, sizeof *w);
	if (!w)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	w->st = st;
	w->spec = spec;
	w->flags = flags;
	w->ds.lockfd = w->gfd = w->ch.fd = -1;
	w->max_time = w->wm = INT64_MIN;
	w->astride = offsetof(wacc, v);
	for (int i = 0; i < spec->na; i++) {
		if (spec->a[i].agg == WA_DISTINCT || spec->a[i].agg == WA_PCT)
			w->astride = sizeof(wacc);
		else if (spec->a[i].agg != WA_COUNT && w->astride < offsetof(wacc, set))
			w->astride = offsetof(wacc, set);
	}
	for (int i = 0; i < spec->ngroup; i++) {
		w->gnames[i] = spec->group[i].text;
	}
	for (int i = 0; i < spec->na; i++) {
		w->anames[i] = spec->a[i].name;
		w->ast[i].name = spec->a[i].name;
		w->ast[i].path = spec->a[i].path.text;
	}
	int rc = EG_OK;
	if (flags & EG_WIN_IN_MEMORY)
		w->nosave = 1;
	else if (!eg_win_files_open(w) && !(rc = eg_win_lock(w))) {
		rc = eg_win_load(w);
		eg_win_unlock(w);
	}
	if (rc) {
		eg_win_close(w);
		return rc;
	}
	*out = w;
	return EG_OK;
}

void eg_win_close(eg_win *w)
{
	if (!w)
		return;
	eg_win_reset(w);
	eg_win_files_close(w);
	free(w->w);
	free(w->freeslots);
	free(w->spare);
	free(w->pend.v);
	free(w->live.v);
	free(w->gtext.p);
	free(w->goff);
	free(w->glast);
	free(w->gkmap);
	free(w->sess);
	free(w->vals.p);
	free(w->rec.p);
	free(w);
}

void eg_win_get_explain(const eg_win *w, eg_win_explain *o)
{
	*o = (eg_win_explain){ w->through, w->events, w->too_late, w->revs, w->corrections,
			       w->heartbeats, w->created, w->open, w->max_time, w->wm,
			       (size_t)w->spec->na, w->ast, w->resumed_from, w->cols.path,
			       w->cols.why[0] ? w->cols.why : NULL, w->cols.from_cols,
			       w->cols.from_log };
}

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
#include "colsrc.h"
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

/* A numeric aggregate's value o from v (o->st: 1 a number, else none). */
static void agg_number(const waggspec *a, const num *v, wav *o)
{
	if (o->st <= 0)
		return;
	nacc nv;
	eg_nacc_set(&nv, v, 1);
	if (a->agg != WA_PCT) {
		o->u.n = nv;
		return;
	}
	o->u.d = eg_nacc_double(&nv);
	if (!isfinite(o->u.d))
		o->st = -1;
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
	o->st = ex_number(x, e, &a->path, x->avi[i], &v);
	agg_number(a, &v, o);
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

/* ------------------------------------------------------------ from columns */

/* The same batches made from column blocks (col.h): what a spec reads of
 * an event is there as arrays — envelope fields, and per data path a tag
 * and an int or a dictionary id — so a value's text is made once per
 * dictionary id, not parsed out of every event.  Each value is exactly
 * what the log path finds (col.h's promise), so the engine takes the same
 * items and its output does not depend on the path. */

/* A text made once: its bytes in a cache buffer, its hash, and where it
 * was copied into the batch being filled (gen: that batch's number). */
typedef struct ctext {
	uint32_t off, len;           /* len UINT32_MAX: not made yet */
	uint64_t hash;
	uint64_t gen;
	uint32_t boff;
	uint32_t gkey;               /* a group's: its witem.gkey */
	uint8_t heartbeat;           /* a type key: EG_HEARTBEAT */
} ctext;

typedef struct ccache {
	ctext *v;
	size_t cap;
	struct ccache *local;        /* key ids with EG_COL_KEY_LOCAL, by the rest */
} ccache;

enum { CC_KEY, CC_SESS, CC_STR, CC_LIT, CC_N };   /* what ids a cache is of */

typedef struct wcol {
	eg_colscan *sc;
	const eg_colblock *b;
	uint32_t k;                  /* the next event of b */
	uint64_t gen;                /* batches filled */
	uint64_t got[2];             /* events taken from column blocks, from the log */
	eg_savepts sp;
	/* values' JSON texts by id: keys (stream, type), client sessions,
	 * literals (null, false, true), and each data path's strings */
	ccache key, sess, lit, str[WIN_MAX_VALS];   /* str: per data path */
	buf text;
	/* the group is one value with a dictionary: its texts with their u32
	 * length prefixes and hashes, per id */
	int gone;                    /* the group is one value */
	uint32_t gkeys;              /* group numbers given (witem.gkey) */
	ccache gkey, gsess, gstr, glit;
	buf gtext;
} wcol;

static void ccache_free(ccache *c)
{
	if (c->local)
		ccache_free(c->local);
	free(c->local);
	free(c->v);
}

static void wcol_free(wcol *c)
{
	eg_colscan_free(c->sc);
	eg_savepts_free(&c->sp);
	ccache_free(&c->key), ccache_free(&c->sess), ccache_free(&c->lit);
	for (int i = 0; i < WIN_MAX_VALS; i++)
		ccache_free(&c->str[i]);
	ccache_free(&c->gkey), ccache_free(&c->gsess), ccache_free(&c->gstr), ccache_free(&c->glit);
	free(c->text.p);
	free(c->gtext.p);
	memset(c, 0, sizeof *c);
}

/* Entry id of cache c, made room for (len UINT32_MAX when new); NULL if
 * out of memory. */
static ctext *cc_at(ccache *c, uint32_t id)
{
	if (id & EG_COL_KEY_LOCAL) {     /* keys of the log's tail: few */
		if (!c->local && !(c->local = calloc(1, sizeof *c->local)))
			return NULL;
		c = c->local;
		id &= ~EG_COL_KEY_LOCAL;
	}
	if (id >= c->cap) {
		size_t cap = c->cap ? c->cap : 64;
		while (cap <= id)
			cap *= 2;
		ctext *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return NULL;
		for (size_t i = c->cap; i < cap; i++)
			v[i] = (ctext){ .len = UINT32_MAX };
		c->v = v;
		c->cap = cap;
	}
	return &c->v[id];
}

/* The JSON text of a string (quoted; null when empty, as eg_path_json). */
static int add_quoted(buf *b, const char *s, size_t n)
{
	if (!n)
		return buf_add(b, "null", 4);
	if (buf_reserve(b, 6 * n + 2))
		return -1;
	b->n += eg_json_quote(s, n, b->p + b->n);
	return 0;
}

/* The text of value id of kind cc of data path vi (vi for CC_STR only)
 * into b. */
static int cc_make(wcol *c, int cc, int vi, uint32_t id, buf *b)
{
	const char *s;
	size_t n;
	switch (cc) {
	case CC_KEY:
		s = eg_colscan_key(c->sc, id, &n);
		return add_quoted(b, s, s ? n : 0);
	case CC_SESS:
		s = id ? eg_colscan_session(c->sc, id, &n) : NULL;
		return add_quoted(b, s, s ? n : 0);
	case CC_STR:
		s = eg_colscan_str(c->sc, (size_t)vi, id, &n);
		return buf_add(b, s, n);
	default:
		return buf_add(b, id == EG_CT_TRUE ? "true" : id == EG_CT_FALSE ? "false" : "null",
			       id == EG_CT_FALSE ? 5 : 4);
	}
}

/* The cached text of value id of kind cc: NULL if out of memory. */
static const ctext *cc_get(wcol *c, int cc, int vi, uint32_t id)
{
	ccache *cache = cc == CC_KEY ? &c->key : cc == CC_SESS ? &c->sess :
			cc == CC_STR ? &c->str[vi] : &c->lit;
	ctext *t = cc_at(cache, id);
	if (t && t->len == UINT32_MAX) {
		size_t at = c->text.n;
		if (cc_make(c, cc, vi, id, &c->text))
			return NULL;
		t->off = (uint32_t)at;
		t->len = (uint32_t)(c->text.n - at);
		if (cc == CC_KEY) {
			size_t n;
			const char *s = eg_colscan_key(c->sc, id, &n);
			t->heartbeat = s && n == sizeof EG_HEARTBEAT - 1 &&
				       !memcmp(s, EG_HEARTBEAT, n);
		}
	}
	return t;
}

/* Which cache, and which id, holds event k's value at group or distinct
 * path p (data path vi): CC_N when the value has no id (numbers, times,
 * raw texts), to be made for the event. */
static int cv_id(const eg_colblock *b, uint32_t k, const eg_path *p, int vi, uint32_t *id)
{
	switch (p->root) {
	case EG_PATH_STREAM: *id = b->stream[k]; return CC_KEY;
	case EG_PATH_TYPE: *id = b->type[k]; return CC_KEY;
	case EG_PATH_SESSION: *id = b->session[k]; return CC_SESS;
	case EG_PATH_DATA: {
		const eg_colvals *v = &b->vals[vi];
		switch (v->tag[k]) {
		case EG_CT_STR: *id = v->s[k]; return CC_STR;
		case EG_CT_INT: case EG_CT_RAW: return CC_N;
		case EG_CT_TRUE: case EG_CT_FALSE: *id = v->tag[k]; return CC_LIT;
		default: *id = EG_CT_NULL; return CC_LIT;     /* absent, null */
		}
	}
	default:
		return CC_N;
	}
}

/* The JSON text of event k's value at path p (data path vi) into out:
 * what eg_path_json writes for the event. */
static int cv_json(wcol *c, uint32_t k, const eg_path *p, int vi, buf *out)
{
	const eg_colblock *b = c->b;
	uint32_t id;
	int cc = cv_id(b, k, p, vi, &id);
	if (cc != CC_N) {
		const ctext *t = cc_get(c, cc, vi, id);
		return t ? buf_add(out, c->text.p + t->off, t->len) : -1;
	}
	char t[EG_TIME_LEN + 2];
	switch (p->root) {
	case EG_PATH_TIME: case EG_PATH_RECORDED:
		t[0] = '"';
		eg_time_format(p->root == EG_PATH_TIME ? b->time[k] : b->recorded[k], t + 1);
		t[EG_TIME_LEN + 1] = '"';
		return buf_add(out, t, sizeof t);
	case EG_PATH_POS:
		return buf_add(out, t, (size_t)snprintf(t, sizeof t, "%llu",
							(unsigned long long)(b->first_pos + k)));
	default: {                   /* a data path: an int or a raw text */
		const eg_colvals *v = &b->vals[vi];
		if (v->tag[k] == EG_CT_INT)
			return buf_add(out, t, (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i[k]));
		size_t n;
		const char *s = eg_colscan_raw(c->sc, (size_t)vi, v->s[k], &n);
		return buf_add(out, s, n);
	}
	}
}

/* An int's number as eg_num_parse reads its shortest text. */
static void int_number(int64_t i, num *v)
{
	if (i <= -1000000000000000000LL || i >= 1000000000000000000LL) {
		char t[24];
		eg_num_parse(t, (size_t)snprintf(t, sizeof t, "%lld", (long long)i), v);
		return;
	}
	int32_t e = 0;
	while (i && i % 10 == 0)
		i /= 10, e++;
	*v = (num){ i, i ? e : 0, 1 };
}

/* Event k's number at path p (data path vi), as ex_number: 1 with *v,
 * 0 absent (or null), -1 not a number. */
static int cv_number(wcol *c, uint32_t k, const eg_path *p, int vi, num *v)
{
	const eg_colblock *b = c->b;
	switch (p->root) {
	case EG_PATH_TIME: *v = (num){ b->time[k], 0, 1 }; return 1;
	case EG_PATH_RECORDED: *v = (num){ b->recorded[k], 0, 1 }; return 1;
	case EG_PATH_POS: *v = (num){ (int64_t)(b->first_pos + k), 0, 1 }; return 1;
	case EG_PATH_DATA: {
		const eg_colvals *cv = &b->vals[vi];
		switch (cv->tag[k]) {
		case EG_CT_ABSENT: case EG_CT_NULL:
			return 0;
		case EG_CT_INT:
			int_number(cv->i[k], v);
			return 1;
		case EG_CT_RAW: {
			size_t n;
			const char *s = eg_colscan_raw(c->sc, (size_t)vi, cv->s[k], &n);
			if (!n || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
				return -1;
			eg_num_parse(s, n, v);
			return 1;
		}
		default:
			return -1;
		}
	}
	default:
		return -1;               /* stream, type …: text */
	}
}

/* Why the column files cannot serve path p (as a number when number):
 * NULL when they can.  They hold the envelope's stream, type, session,
 * times and position, and data paths. */
static const char *cv_missing(const eg_path *p, int number)
{
	switch (p->root) {
	case EG_PATH_META: return "meta";
	case EG_PATH_VERSION: return "version";
	case EG_PATH_ACTOR: return number ? NULL : "actor";
	case EG_PATH_ID: return number ? NULL : "id";
	default: return NULL;
	}
}

/* The group's text and hash of event k into the batch: a one-value group
 * with an id copies its text once per batch. */
static int col_group(wcol *c, const wex *x, uint32_t k, wbatch *b, witem *it)
{
	const eg_win_spec *s = x->spec;
	uint32_t id;
	int cc = c->gone ? cv_id(c->b, k, &s->group[0], x->gvi[0], &id) : CC_N;
	if (cc != CC_N) {
		ccache *g = cc == CC_KEY ? &c->gkey : cc == CC_SESS ? &c->gsess :
			    cc == CC_STR ? &c->gstr : &c->glit;
		ctext *t = cc_at(g, id);
		if (!t)
			return -1;
		if (t->len == UINT32_MAX) {
			size_t at = c->gtext.n;
			uint32_t len = 0;
			if (buf_add(&c->gtext, &len, 4) || cc_make(c, cc, x->gvi[0], id, &c->gtext))
				return -1;
			len = (uint32_t)(c->gtext.n - at - 4);
			memcpy(c->gtext.p + at, &len, 4);
			t->off = (uint32_t)at;
			t->len = len + 4;
			t->hash = XXH3_64bits(c->gtext.p + at, t->len);
			t->gkey = ++c->gkeys;
		}
		if (t->gen != c->gen) {
			t->gen = c->gen;
			t->boff = (uint32_t)b->text.n;
			if (buf_add(&b->text, c->gtext.p + t->off, t->len))
				return -1;
		}
		it->goff = t->boff;
		it->glen = t->len;
		it->ghash = t->hash;
		it->gkey = t->gkey;
		return 0;
	}
	size_t at = b->text.n;
	for (int i = 0; i < s->ngroup; i++) {
		size_t v = b->text.n;
		uint32_t len = 0;
		if (buf_add(&b->text, &len, 4) || cv_json(c, k, &s->group[i], x->gvi[i], &b->text))
			return -1;
		len = (uint32_t)(b->text.n - v - 4);
		memcpy(b->text.p + v, &len, 4);
	}
	it->goff = (uint32_t)at;
	it->glen = (uint32_t)(b->text.n - at);
	it->ghash = XXH3_64bits(b->text.p + at, it->glen);
	return 0;
}

/* Aggregate i's value of event k into o (text into b), as ex_agg. */
static int col_agg(wcol *c, const wex *x, uint32_t k, int i, wbatch *b, wav *o)
{
	const waggspec *a = &x->spec->a[i];
	o->st = 1;
	if (a->agg == WA_COUNT)
		return 0;
	if (a->agg == WA_DISTINCT) {
		size_t at = b->text.n;
		if (cv_json(c, k, &a->path, x->avi[i], &b->text))
			return -1;
		size_t n = b->text.n - at;
		if (n == 4 && !memcmp(b->text.p + at, "null", 4)) {
			b->text.n = at;
			o->st = 0;
			return 0;
		}
		o->len = (uint32_t)n;
		o->u.t.off = at;
		return 0;
	}
	num v;
	o->st = cv_number(c, k, &a->path, x->avi[i], &v);
	agg_number(a, &v, o);
	return 0;
}

/* Event k of the current block into b, as ex_event. */
static int col_event(wcol *c, const wex *x, uint32_t k, wbatch *b)
{
	const eg_win_spec *s = x->spec;
	const eg_colblock *cb = c->b;
	const ctext *ty = cc_get(c, CC_KEY, 0, cb->type[k]);
	if (!ty)
		return -1;
	witem *it = &b->items[b->n];
	uint64_t pos = cb->first_pos + k;
	*it = (witem){ .pos = pos, .time = cb->time[k], .heartbeat = ty->heartbeat,
		       .ident = eg_savepts_at(&c->sp, pos) };
	if (!it->heartbeat) {
		wav *av = b->av + (size_t)b->n * (size_t)s->na;
		if (col_group(c, x, k, b, it))
			return -1;
		for (int i = 0; i < s->na; i++)
			if (col_agg(c, x, k, i, b, &av[i]))
				return -1;
	}
	b->n++;
	return 0;
}

/* The next events (WB_CAP at most) from the columns into b, as fill. */
static void fill_cols(wcol *c, const wex *x, wbatch *b)
{
	b->n = 0;
	b->text.n = 0;
	b->rc = EG_OK;
	c->gen++;
	while (b->n < WB_CAP) {
		if (!c->b || c->k >= c->b->n) {
			if ((b->rc = eg_colscan_next(c->sc, &c->b)))
				return;
			c->k = 0;
		}
		const uint8_t *want = c->b->want;
		uint32_t n = c->b->n, k = c->k, had = b->n;
		while (k < n && b->n < WB_CAP) {
			if (want[k] && col_event(c, x, k, b)) {
				b->rc = EG_ENOMEM;
				break;
			}
			k++;
		}
		c->k = k;
		c->got[c->b->from_log != 0] += b->n - had;
		if (b->rc)
			return;
	}
}

/* Open a column scan for the run of x with filter f, or say in w->cols
 * why the log is read: EG_OK with c->sc or without, or an error. */
static int cols_open(eg_win *w, const wex *x, const eg_filter *f, wcol *c)
{
	const eg_win_spec *s = w->spec;
	memset(c, 0, sizeof *c);
	if (!eg_colsrc_allowed()) {
		eg_colpath_log(&w->cols, 0, "ENGRAM_NO_COLUMNS is set");
		return EG_OK;
	}
	eg_colneed need = { .npaths = (size_t)x->nv };
	const char *m = NULL, *where = NULL;
	for (int i = 0; i < s->ngroup && !m; i++)
		if ((m = cv_missing(&s->group[i], 0)))
			where = s->group[i].text;
	for (int i = 0; i < s->na && !m; i++)
		if (s->a[i].agg != WA_COUNT &&
		    (m = cv_missing(&s->a[i].path, s->a[i].agg != WA_DISTINCT)))
			where = s->a[i].path.text;
	if (m) {
		eg_colpath_log(&w->cols, 0, "%s is not in the column files", where);
		return EG_OK;
	}
	const char *const *paths[WIN_MAX_VALS];
	int nseg[WIN_MAX_VALS];
	for (int i = 0; i < x->nv; i++) {
		paths[i] = (const char *const *)x->vp[i]->seg;
		nseg[i] = x->vp[i]->nseg;
	}
	need.paths = paths;
	need.nseg = nseg;
	for (int i = 0; i < s->ngroup; i++)
		need.session |= s->group[i].root == EG_PATH_SESSION;
	for (int i = 0; i < s->na; i++)
		need.session |= s->a[i].agg == WA_DISTINCT && s->a[i].path.root == EG_PATH_SESSION;
	w->st->err[0] = 0;
	int rc = eg_colscan_new(w->st, f, &need, &c->sc);
	if (rc == EG_ENOTFOUND) {
		const char *why = eg_errmsg(w->st);
		eg_colpath_log(&w->cols, 0, "%s", why && why[0] ? why :
			       "the column files do not cover the spec's paths");
		c->sc = NULL;
		return EG_OK;
	}
	if (rc)
		return rc;
	if ((rc = eg_savepts_find(w->st, f, w->through, eg_win_save_every, 0, &c->sp))) {
		wcol_free(c);
		return rc;
	}
	/* only the envelope columns the spec reads are decompressed */
	unsigned cols = EG_COLB_TIME | EG_COLB_TYPE;
	for (int i = 0; i < s->ngroup + s->na; i++) {
		const eg_path *p = i < s->ngroup ? &s->group[i] : &s->a[i - s->ngroup].path;
		if (i >= s->ngroup && s->a[i - s->ngroup].agg == WA_COUNT)
			continue;
		cols |= p->root == EG_PATH_STREAM ? EG_COLB_STREAM :
			p->root == EG_PATH_RECORDED ? EG_COLB_RECORDED : 0;
	}
	eg_colscan_only(c->sc, cols);
	c->gone = s->ngroup == 1;
	return EG_OK;
}

/* ------------------------------------------------------------ the run */

#define NBATCH 4

typedef struct wrun {
	eg_win *w;
	eg_iter *it;                 /* the log, or */
	wcol c;                      /* the columns (c.sc) */
	uint64_t read;               /* events read from the log */
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
	if (r->c.sc) {
		fill_cols(&r->c, &r->x, b);
	} else {
		fill(&r->x, r->it, b);
		r->read += ((wbatch *)b)->n;
	}
	return ((wbatch *)b)->rc;
}

static int take_batch(void *ctx, void *b)
{
	wrun *r = ctx;
	return eg_win_take_batch(r->w, b);
}

/* Run w over the events f selects: from the column files when they
 * cover the spec (and ENGRAM_NO_COLUMNS is not set), else from the log. */
static int run_events(eg_win *w, const eg_filter *f, int threads)
{
	wrun *r = calloc(1, sizeof *r);
	if (!r)
		return eg_st_err(w->st, EG_ENOMEM, "out of memory");
	r->w = w;
	ex_init(&r->x, w->spec, w->through);
	eg_win_run_begin(w);
	int rc = cols_open(w, &r->x, f, &r->c);
	if (!rc && !r->c.sc)
		rc = eg_iter_new(w->st, &r->it, f);
	/* From columns the reading is light (and the scan decompresses the
	 * next block on a thread of its own): handing every item to a second
	 * thread cost more than it saved (type per hour over 1M events: 58 ms
	 * on one thread, 64-87 ms on two). */
	if (r->c.sc)
		threads = 0;
	if (!rc)
		rc = batches_new(r, threads ? NBATCH : 1, w->spec->na);
	if (!rc) {
		void *bs[NBATCH] = { &r->b[0], &r->b[1], &r->b[2], &r->b[3] };
		rc = eg_pipe_run(bs, NBATCH, threads, fill_batch, r, take_batch, r);
	}
	if (r->c.sc)
		eg_colpath_cols(&w->cols, r->c.got[0], r->c.got[1]);
	else
		w->cols.from_log += r->read;
	wcol_free(&r->c);
	eg_iter_free(r->it);
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
	rc = run_events(w, &f, to - w->through >= eg_win_pipe_min);
	if (rc == EG_END) {
		w->through = to;
		rc = eg_win_save(w, 0);
	}
	eg_win_unlock(w);
	return rc;
}

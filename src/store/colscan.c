/*
 * colscan.c — the columnar scan (col.h): blocks of events as arrays, for
 * the engines' columnar path.  Blocks come from the log here: the events
 * of [from, to] are read with eg_iter, cut at multiples of the block size
 * (as column blocks are), and each asked data path is looked up as the
 * engines' log path looks it up (eg_json_members_valid, the last of
 * duplicate names winning), so both paths see the same values.
 */
#include "internal.h"
#include "col.h"
#include "contract.h"
#include "itab.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint32_t eg_colscan_block_events = EG_COL_BLOCK_EVENTS;

/* Key ids as blocks give them: an idx/keys id + 1 for a key the index
 * knows, KEY_LOCAL | n for one it does not know yet (the log's tail). */
#define KEY_LOCAL EG_COL_KEY_LOCAL

typedef struct cpath {
	const char **seg;             /* the asked segments (borrowed from need) */
	size_t *len;
	int nseg;
	int first;                    /* index of seg[0] among the first names */
	uint8_t *tag;
	int64_t *i;
	uint32_t *s;
	itab str;                     /* the scan's STR texts */
	itab raw;                     /* the block's RAW texts */
} cpath;

struct eg_colscan {
	eg_store *st;
	eg_filter f;
	char **types;                 /* f's types, copied */
	size_t *type_lens;
	eg_iter *it;
	const eg_event *pending;      /* read ahead: the first of the next block */
	int done;
	uint64_t lo, hi;              /* positions to scan */

	/* the block handed out */
	eg_colblock b;
	uint32_t cap;
	int64_t *time, *recorded;
	uint32_t *stream, *type;
	uint8_t *kind, *want;
	uint32_t *session;            /* need->session: client session ids */
	itab sess;                    /* their texts, id - 1 */

	cpath *p;
	eg_colvals *vals;
	size_t np;
	const char **first;           /* distinct first segments of the paths */
	size_t *first_len;
	int nfirst;

	/* keys: texts are a space byte and the name; kid[] their block ids */
	itab keys;
	uint32_t *kid;
	size_t kid_cap;
	itab byid;                    /* block id (4 bytes) -> the same index */

	uint64_t from_cols, from_log;
	int need_session;
};

/* ------------------------------------------------------------ values */

/* Is [p, p+n) the shortest decimal text of an int64?  Then *v is it. */
static int canonical_int(const char *p, size_t n, int64_t *v)
{
	int neg = n && p[0] == '-';
	const char *d = p + neg;
	size_t k = n - (size_t)neg;
	if (!k || k > 19 || (d[0] == '0' && (k > 1 || neg)))
		return 0;
	uint64_t u = 0;
	for (size_t j = 0; j < k; j++) {
		if (d[j] < '0' || d[j] > '9')
			return 0;
		u = u * 10 + (uint64_t)(d[j] - '0');   /* 19 digits fit in u64 */
	}
	if (u > (uint64_t)INT64_MAX + (uint64_t)neg)
		return 0;
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 1;
}

static inline uint32_t intern(itab *t, const char *p, size_t n)
{
	return eg_itab_get(t, XXH3_64bits(p, n), p, (uint32_t)n);
}

/* Event k's value at path i, found (v) or not. */
static int put_value(cpath *c, uint32_t k, int found, const json_span *v, int64_t *imin,
		     int64_t *imax, int *has_int)
{
	c->i[k] = 0;
	c->s[k] = 0;
	if (!found) {
		c->tag[k] = EG_CT_ABSENT;
		return 0;
	}
	switch (v->type) {
	case JSON_NULL: c->tag[k] = EG_CT_NULL; return 0;
	case JSON_FALSE: c->tag[k] = EG_CT_FALSE; return 0;
	case JSON_TRUE: c->tag[k] = EG_CT_TRUE; return 0;
	case JSON_NUMBER:
		if (canonical_int(v->p, v->n, &c->i[k])) {
			c->tag[k] = EG_CT_INT;
			if (!*has_int || c->i[k] < *imin)
				*imin = c->i[k];
			if (!*has_int || c->i[k] > *imax)
				*imax = c->i[k];
			*has_int = 1;
			return 0;
		}
		break;
	case JSON_STRING:
		c->tag[k] = EG_CT_STR;
		c->s[k] = intern(&c->str, v->p, v->n);
		return c->s[k] == UINT32_MAX ? -1 : 0;
	default:
		break;
	}
	c->tag[k] = EG_CT_RAW;
	c->s[k] = intern(&c->raw, v->p, v->n);
	return c->s[k] == UINT32_MAX ? -1 : 0;
}

/* The asked paths' values of event e into slot k of the block: the first
 * segments found in one walk of data (32 names a walk), then each deeper
 * segment in the value found so far, as the log path does. */
static int event_values(eg_colscan *sc, const eg_event *e, uint32_t k)
{
	json_span top[32];
	json_span obj = { e->data, e->data_len, JSON_OBJECT };
	for (int f0 = 0; f0 < sc->nfirst; f0 += 32) {
		int m = sc->nfirst - f0 < 32 ? sc->nfirst - f0 : 32;
		unsigned got = e->data_len ? eg_json_members_valid(&obj, sc->first + f0,
								   sc->first_len + f0, m, top) : 0;
		for (size_t i = 0; i < sc->np; i++) {
			cpath *c = &sc->p[i];
			if (c->nseg == 0 && f0 == 0) {
				if (put_value(c, k, e->data_len > 0, &obj, &sc->vals[i].imin,
					      &sc->vals[i].imax, &sc->vals[i].has_int))
					return -1;
				continue;
			}
			if (c->nseg == 0 || c->first < f0 || c->first >= f0 + m)
				continue;
			int found = (got >> (c->first - f0)) & 1;
			json_span v = top[c->first - f0];
			for (int s = 1; s < c->nseg && found; s++) {
				json_span in = v;
				found = eg_json_members_valid(&in, &c->seg[s], &c->len[s], 1, &v) & 1;
			}
			if (put_value(c, k, found, &v, &sc->vals[i].imin, &sc->vals[i].imax,
				      &sc->vals[i].has_int))
				return -1;
		}
	}
	if (!sc->nfirst)
		for (size_t i = 0; i < sc->np; i++)
			if (put_value(&sc->p[i], k, e->data_len > 0, &obj, &sc->vals[i].imin,
				      &sc->vals[i].imax, &sc->vals[i].has_int))
				return -1;
	return 0;
}

/* -------------------------------------------------------------- keys */

/* The block id of key name (space 0 stream, 1 type); 0 for no name,
 * UINT32_MAX when out of memory. */
static uint32_t key_id(eg_colscan *sc, int space, const char *name, size_t n)
{
	if (!n)
		return 0;
	if (n > NAME_MAX_LEN)
		return UINT32_MAX;
	char t[NAME_MAX_LEN + 1];
	t[0] = (char)space;
	memcpy(t + 1, name, n);
	uint64_t hv = XXH3_64bits(t, n + 1);
	uint32_t j = eg_itab_find(&sc->keys, hv, t, (uint32_t)n + 1);
	if (j != UINT32_MAX)
		return sc->kid[j];
	j = eg_itab_get(&sc->keys, hv, t, (uint32_t)n + 1);
	if (j == UINT32_MAX || buf_grow(&sc->kid, &sc->kid_cap, (size_t)j + 1, sizeof *sc->kid))
		return UINT32_MAX;
	uint64_t v = eg_index_key_find(sc->st, space, name, n);   /* id + 1 */
	uint32_t id = v && v < KEY_LOCAL ? (uint32_t)v : KEY_LOCAL | j;
	sc->kid[j] = id;
	if (eg_itab_get(&sc->byid, XXH3_64bits(&id, 4), (const char *)&id, 4) != j)
		return UINT32_MAX;
	return id;
}

const char *eg_colscan_key(eg_colscan *sc, uint32_t id, size_t *len)
{
	uint32_t j = eg_itab_find(&sc->byid, XXH3_64bits(&id, 4), (const char *)&id, 4);
	if (j == UINT32_MAX) {
		*len = 0;
		return "";
	}
	*len = sc->keys.e[j].len - 1;
	return itab_text(&sc->keys, j) + 1;
}

/* ------------------------------------------------------------ filter */

static int want_event(const eg_colscan *sc, const eg_event *e)
{
	const eg_filter *f = &sc->f;
	if (f->kinds && !(f->kinds & (1u << e->kind)))
		return 0;
	if (f->ntypes) {
		size_t i = 0;
		while (i < f->ntypes && (e->type_len != sc->type_lens[i] ||
					 memcmp(e->type, sc->types[i], e->type_len)))
			i++;
		if (i == f->ntypes)
			return 0;
	}
	int64_t t = f->by == EG_BY_RECORDED ? e->recorded : e->time;
	return !(f->has_since && t < f->since) && !(f->has_until && t > f->until);
}

/* Can the log path's upcasts change what the scan would read? */
static int upcasts_apply(eg_colscan *sc)
{
	if (!sc->f.upcast)
		return 0;
	const registry *r = sc->st->reg;
	if (!r || !r->upcasts)
		return 0;
	if (!sc->f.ntypes)
		return 1;
	for (size_t i = 0; i < sc->f.ntypes; i++) {
		const ctype *t = eg_reg_type(r, sc->types[i], sc->type_lens[i]);
		if (t && t->upcasts)
			return 1;
	}
	return 0;
}

/* -------------------------------------------------------- the blocks */

static void reset_block(eg_colscan *sc)
{
	for (size_t i = 0; i < sc->np; i++) {
		eg_itab_free(&sc->p[i].raw);
		memset(&sc->p[i].raw, 0, sizeof sc->p[i].raw);
		sc->vals[i].has_int = 0;
		sc->vals[i].imin = sc->vals[i].imax = 0;
	}
	sc->b.n = 0;
}

/* Add event e at slot b.n; its position must follow the block's last. */
static int add_event(eg_colscan *sc, const eg_event *e, int *any)
{
	uint32_t k = sc->b.n;
	if (!k)
		sc->b.first_pos = e->pos;
	sc->time[k] = e->time;
	sc->recorded[k] = e->recorded;
	sc->kind[k] = (uint8_t)e->kind;
	sc->want[k] = (uint8_t)want_event(sc, e);
	*any |= sc->want[k];
	sc->stream[k] = key_id(sc, 0, e->stream, e->stream_len);
	sc->type[k] = key_id(sc, 1, e->type, e->type_len);
	if (sc->stream[k] == UINT32_MAX || sc->type[k] == UINT32_MAX)
		return eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	if (sc->session) {
		uint32_t j = e->session_len ? intern(&sc->sess, e->session, e->session_len) : 0;
		if (j == UINT32_MAX)
			return eg_st_err(sc->st, EG_ENOMEM, "out of memory");
		sc->session[k] = e->session_len ? j + 1 : 0;
	}
	if (event_values(sc, e, k))
		return eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	if (!k || e->time < sc->b.tmin)
		sc->b.tmin = e->time;
	if (!k || e->time > sc->b.tmax)
		sc->b.tmax = e->time;
	sc->b.n = k + 1;
	return EG_OK;
}

/* The next block from the log: events up to the next multiple of the
 * block size (positions 1.., as column blocks are cut). */
static int log_block(eg_colscan *sc, int *any)
{
	uint32_t per = eg_colscan_block_events ? eg_colscan_block_events : 1;
	reset_block(sc);
	*any = 0;
	int rc = EG_OK;
	while (rc == EG_OK) {
		const eg_event *e = sc->pending;
		sc->pending = NULL;
		if (!e && (rc = eg_iter_next(sc->it, &e)) != EG_OK)
			break;
		if (sc->b.n && (e->pos != sc->b.first_pos + sc->b.n || (e->pos - 1) % per == 0)) {
			sc->pending = e;      /* the first of the next block */
			break;
		}
		rc = add_event(sc, e, any);
		if (rc == EG_OK && (e->pos % per) == 0)
			break;
	}
	if (rc == EG_END && sc->b.n)
		rc = EG_OK;
	return rc;
}

int eg_colscan_next(eg_colscan *sc, const eg_colblock **b)
{
	while (!sc->done) {
		int any, rc = log_block(sc, &any);
		if (rc == EG_END) {
			sc->done = 1;
			break;
		}
		if (rc)
			return rc;
		if (!any)
			continue;
		sc->b.from_log = 1;
		sc->from_log += sc->b.n;
		*b = &sc->b;
		return EG_OK;
	}
	return EG_END;
}

/* ------------------------------------------------------------ set up */

static int alloc_arrays(eg_colscan *sc)
{
	uint32_t n = sc->cap;
	sc->time = malloc(n * sizeof *sc->time);
	sc->recorded = malloc(n * sizeof *sc->recorded);
	sc->stream = malloc(n * sizeof *sc->stream);
	sc->type = malloc(n * sizeof *sc->type);
	sc->kind = malloc(n);
	sc->want = malloc(n);
	if (!sc->time || !sc->recorded || !sc->stream || !sc->type || !sc->kind || !sc->want)
		return -1;
	if (sc->need_session && !(sc->session = malloc(n * sizeof *sc->session)))
		return -1;
	for (size_t i = 0; i < sc->np; i++) {
		cpath *c = &sc->p[i];
		c->tag = malloc(n);
		c->i = malloc(n * sizeof *c->i);
		c->s = malloc(n * sizeof *c->s);
		if (!c->tag || !c->i || !c->s)
			return -1;
		sc->vals[i] = (eg_colvals){ c->tag, c->i, c->s, 0, 0, 0 };
	}
	sc->b = (eg_colblock){ .time = sc->time, .recorded = sc->recorded, .stream = sc->stream,
			       .type = sc->type, .kind = sc->kind, .want = sc->want,
			       .session = sc->session,
			       .vals = sc->vals };
	return 0;
}

/* The paths of need, and their distinct first segments. */
static int copy_need(eg_colscan *sc, const eg_colneed *need)
{
	size_t np = need ? need->npaths : 0;
	sc->np = np;
	sc->p = calloc(np + 1, sizeof *sc->p);
	sc->vals = calloc(np + 1, sizeof *sc->vals);
	sc->first = calloc(np + 1, sizeof *sc->first);
	sc->first_len = calloc(np + 1, sizeof *sc->first_len);
	if (!sc->p || !sc->vals || !sc->first || !sc->first_len)
		return -1;
	for (size_t i = 0; i < np; i++) {
		cpath *c = &sc->p[i];
		c->nseg = need->nseg[i];
		c->seg = calloc((size_t)c->nseg + 1, sizeof *c->seg);
		c->len = calloc((size_t)c->nseg + 1, sizeof *c->len);
		if (!c->seg || !c->len)
			return -1;
		for (int s = 0; s < c->nseg; s++) {
			c->seg[s] = need->paths[i][s];
			c->len[s] = strlen(c->seg[s]);
		}
		if (!c->nseg)
			continue;
		int j = 0;
		while (j < sc->nfirst && (sc->first_len[j] != c->len[0] ||
					  memcmp(sc->first[j], c->seg[0], c->len[0])))
			j++;
		if (j == sc->nfirst) {
			sc->first[j] = c->seg[0];
			sc->first_len[j] = c->len[0];
			sc->nfirst++;
		}
		c->first = j;
	}
	return 0;
}

static int copy_types(eg_colscan *sc, const eg_filter *f)
{
	if (!f->ntypes)
		return 0;
	sc->types = calloc(f->ntypes, sizeof *sc->types);
	sc->type_lens = calloc(f->ntypes, sizeof *sc->type_lens);
	if (!sc->types || !sc->type_lens)
		return -1;
	for (size_t i = 0; i < f->ntypes; i++) {
		if (!(sc->types[i] = strdup(f->types[i])))
			return -1;
		sc->type_lens[i] = strlen(f->types[i]);
	}
	sc->f.types = (const char *const *)sc->types;
	return 0;
}

int eg_colscan_new(eg_store *st, const eg_filter *f, const eg_colneed *need, eg_colscan **out)
{
	*out = NULL;
	if (f->stream || f->streams || f->limit || f->reverse)
		return eg_st_err(st, EG_ENOTFOUND, "the columns serve no stream, limit or reverse");
	eg_colscan *sc = calloc(1, sizeof *sc);
	if (!sc)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	sc->st = st;
	sc->f = *f;
	sc->cap = eg_colscan_block_events ? eg_colscan_block_events : 1;
	sc->need_session = need && need->session;
	int rc;
	if (copy_types(sc, f) || copy_need(sc, need) || alloc_arrays(sc)) {
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		goto fail;
	}
	if (f->upcast && (rc = eg_reg_refresh(st)))
		goto fail;
	if (upcasts_apply(sc)) {
		rc = eg_st_err(st, EG_ENOTFOUND, "a type read has upcasts: the columns hold "
			       "events as stored");
		goto fail;
	}
	eg_filter lf = { .from = f->from, .to = f->to };
	if ((rc = eg_iter_new(st, &sc->it, &lf)))
		goto fail;
	eg_iter_lazy_ids(sc->it);
	*out = sc;
	return EG_OK;
fail:
	eg_colscan_free(sc);
	return rc;
}

const char *eg_colscan_str(eg_colscan *sc, size_t i, uint32_t id, size_t *len)
{
	const itab *t = &sc->p[i].str;
	*len = t->e[id].len;
	return itab_text(t, id);
}

const char *eg_colscan_raw(eg_colscan *sc, size_t i, uint32_t id, size_t *len)
{
	const itab *t = &sc->p[i].raw;
	*len = t->e[id].len;
	return itab_text(t, id);
}

const char *eg_colscan_session(eg_colscan *sc, uint32_t id, size_t *len)
{
	if (!id || id > sc->sess.n) {
		*len = 0;
		return "";
	}
	*len = sc->sess.e[id - 1].len;
	return itab_text(&sc->sess, id - 1);
}

void eg_colscan_counts(const eg_colscan *sc, uint64_t *from_cols, uint64_t *from_log)
{
	*from_cols = sc->from_cols;
	*from_log = sc->from_log;
}

void eg_colscan_free(eg_colscan *sc)
{
	if (!sc)
		return;
	eg_iter_free(sc->it);
	for (size_t i = 0; sc->types && i < sc->f.ntypes; i++)
		free(sc->types[i]);
	free(sc->types);
	free(sc->type_lens);
	for (size_t i = 0; sc->p && i < sc->np; i++) {
		cpath *c = &sc->p[i];
		free(c->seg);
		free(c->len);
		free(c->tag);
		free(c->i);
		free(c->s);
		eg_itab_free(&c->str);
		eg_itab_free(&c->raw);
	}
	free(sc->p);
	free(sc->vals);
	free(sc->first);
	free(sc->first_len);
	free(sc->time);
	free(sc->recorded);
	free(sc->stream);
	free(sc->type);
	free(sc->kind);
	free(sc->want);
	eg_itab_free(&sc->keys);
	eg_itab_free(&sc->byid);
	free(sc->session);
	eg_itab_free(&sc->sess);
	free(sc->kid);
	free(sc);
}

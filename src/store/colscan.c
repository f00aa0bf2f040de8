/*
 * colscan.c — the columnar scan (col.h): blocks of events as arrays, for
 * the engines' columnar path.  Whole blocks come from the column files
 * (idx/col/v1/, colwrite.c) where they cover the range, the index and the
 * asked paths; the rest (the log's tail) from the log: the events read
 * with eg_iter, cut at multiples of the block size as column blocks are,
 * and each asked data path looked up as the engines' log path looks it up
 * (eg_json_members_valid, the last of duplicate names winning), which is
 * also how the builder fills the column files.
 */
#include "internal.h"
#include "colint.h"
#include "contract.h"
#include "itab.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint32_t eg_colscan_block_events = EG_COL_BLOCK_EVENTS;

/* ENGRAM_COL_BLOCK_EVENTS: the crash loop and the fault sweep make blocks
 * small, so that their small stores have column files to kill and fail in
 * the middle of.  A test knob, not a setting: a store's files are read
 * only with the size they were written with. */
__attribute__((constructor)) static void block_events_from_env(void)
{
	const char *v = getenv("ENGRAM_COL_BLOCK_EVENTS");
	long n = v ? strtol(v, NULL, 10) : 0;
	if (n > 0 && n <= (long)EG_COL_BLOCK_EVENTS)
		eg_colscan_block_events = (uint32_t)n;
}

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

/* A column block the scan reads (or skips by its zone maps). */
typedef struct fblock {
	uint64_t k;
	colhdr h;
	int skip;
	int *col;                     /* per asked path: its directory entry, -1 ABSENT */
} fblock;

struct eg_colscan {
	eg_store *st;
	eg_filter f;
	uint64_t flo, fhi;            /* the asked positions */
	unsigned cols;                /* the envelope arrays asked (EG_COLB_*) */
	fblock *fb;                   /* column blocks in range */
	size_t nfb, ifb;
	uint32_t *ftypes;             /* the filter's type ids (idx/keys id + 1) */
	size_t nftypes;
	struct prefetch *pf;          /* the file blocks' reader thread */
	unsigned char *dict;          /* the dictionary file's bytes read */
	struct { size_t off, len; uint32_t nseg; } *pdef;   /* its paths, by id */
	size_t npdef, cappdef;
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
int eg_col_canonical_int(const char *p, size_t n, int64_t *v)
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
		if (eg_col_canonical_int(v->p, v->n, &c->i[k])) {
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

static uint32_t raw_add(void *ctx, const char *p, uint32_t n)
{
	return intern(ctx, p, n);
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
uint32_t eg_col_key_slot(itab *t, int space, const char *name, size_t n, int *fresh)
{
	*fresh = 0;
	if (n > NAME_MAX_LEN)
		return UINT32_MAX;
	char k[NAME_MAX_LEN + 1];
	k[0] = (char)space;
	memcpy(k + 1, name, n);
	uint64_t hv = XXH3_64bits(k, n + 1);
	uint32_t j = eg_itab_find(t, hv, k, (uint32_t)n + 1);
	if (j != UINT32_MAX)
		return j;
	*fresh = 1;
	return eg_itab_get(t, hv, k, (uint32_t)n + 1);
}

static uint32_t key_id(eg_colscan *sc, int space, const char *name, size_t n)
{
	if (!n)
		return 0;
	int fresh;
	uint32_t j = eg_col_key_slot(&sc->keys, space, name, n, &fresh);
	if (j != UINT32_MAX && !fresh)
		return sc->kid[j];
	if (j == UINT32_MAX || buf_grow(&sc->kid, &sc->kid_cap, (size_t)j + 1, sizeof *sc->kid))
		return UINT32_MAX;
	uint64_t v = eg_index_key_find(sc->st, space, name, n);   /* id + 1 */
	uint32_t id = v && v < KEY_LOCAL ? (uint32_t)v : KEY_LOCAL | j;
	sc->kid[j] = id;
	if (eg_itab_get(&sc->byid, XXH3_64bits(&id, 4), (const char *)&id, 4) != j)
		return UINT32_MAX;
	return id;
}

/* Key id (idx/keys id + 1) of a column block into the cache: its index
 * there, or UINT32_MAX. */
static uint32_t key_cache(eg_colscan *sc, uint32_t id)
{
	char t[NAME_MAX_LEN + 1];
	int space;
	size_t n;
	if (!id || (id & KEY_LOCAL) ||
	    eg_index_key_name(sc->st, id - 1, &space, t + 1, NAME_MAX_LEN, &n))
		return UINT32_MAX;
	t[0] = (char)space;
	uint64_t hv = XXH3_64bits(t, n + 1);
	uint32_t j = eg_itab_get(&sc->keys, hv, t, (uint32_t)n + 1);
	if (j == UINT32_MAX || buf_grow(&sc->kid, &sc->kid_cap, (size_t)j + 1, sizeof *sc->kid))
		return UINT32_MAX;
	sc->kid[j] = id;
	if (eg_itab_get(&sc->byid, XXH3_64bits(&id, 4), (const char *)&id, 4) != j)
		return UINT32_MAX;
	return j;
}

const char *eg_colscan_key(eg_colscan *sc, uint32_t id, size_t *len)
{
	uint32_t j = eg_itab_find(&sc->byid, XXH3_64bits(&id, 4), (const char *)&id, 4);
	if (j == UINT32_MAX)
		j = key_cache(sc, id);
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

/* Does a path asked for hold, or lie inside or around, a property some
 * type's schema marks personal?  The column files hold such values as
 * stored (encrypted), so the scan must read the log, which decrypts. */
static int personal_paths(eg_colscan *sc)
{
	const registry *r = sc->st->reg;
	if (!r || !r->personal)
		return 0;
	for (size_t i = 0; i < sc->np; i++)
		if (eg_reg_personal_overlap(r, sc->p[i].seg, (size_t)sc->p[i].nseg))
			return 1;
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
	/* a stream's id costs an idx/keys lookup (two or three preads) the
	 * first time its name is met: none when the caller reads no streams
	 * (a windows spec by type: 3,379 lookups over a 1M store's tail) */
	sc->stream[k] = (sc->cols ? sc->cols : ~0u) & EG_COLB_STREAM ?
			key_id(sc, 0, e->stream, e->stream_len) : 0;
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

/* ------------------------------------------------- blocks from the files */

static void col_path(const eg_colscan *sc, uint64_t k, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/idx/%s/%s/b%010llu", sc->st->dir, COL_SUB, COL_VERSION,
		 (unsigned long long)k);
}

static int damaged(eg_colscan *sc, uint64_t k, const char *what)
{
	char path[PATH_MAX];
	col_path(sc, k, path);
	return eg_st_err(sc->st, EG_ECORRUPT, "%s: %s (the column files are derived: engram "
			 "reindex rebuilds them)", path, what);
}

/* A block's frames read, checked and decompressed: by the prefetch
 * thread for the next block while the caller works on this one, or here.
 * It touches nothing of the scan but the block's header and its own
 * buffers, and says what failed in why. */
typedef struct fetched {
	unsigned char **raw;          /* per directory entry: its bytes, or NULL */
	size_t *cap;
	unsigned char *z;
	size_t zcap;
	int rc;
	char why[PATH_MAX + 128];
} fetched;

static int has_type(const eg_colscan *sc, uint32_t t)
{
	for (size_t j = 0; j < sc->nftypes; j++)
		if (sc->ftypes[j] == t)
			return 1;
	return 0;
}

/* The envelope arrays a scan decodes: the caller's and the filter's. */
static unsigned cols_read(const eg_colscan *sc)
{
	const eg_filter *f = &sc->f;
	unsigned c = sc->cols & 31u;
	if ((f->has_since || f->has_until))
		c |= f->by == EG_BY_RECORDED ? EG_COLB_RECORDED : EG_COLB_TIME;
	if (f->ntypes)
		c |= EG_COLB_TYPE;
	if (f->kinds)
		c |= EG_COLB_KIND;
	return c;
}

/* Is directory entry d of fb read by this scan? */
static int entry_needed(const eg_colscan *sc, const fblock *fb, uint32_t d, unsigned c)
{
	const coldirent *e = &fb->h.dir[d];
	if (e->what <= COL_KIND)
		return (c >> (e->what - 1)) & 1;
	for (size_t i = 0; i < sc->np; i++)
		if (fb->col[i] == (int)d)
			return 1;
	return 0;
}

static int fetch_fail(fetched *fe, int rc, const char *path, const char *what, int err)
{
	if (rc == EG_ECORRUPT)
		snprintf(fe->why, sizeof fe->why, "%s: %s (the column files are derived: engram "
			 "reindex rebuilds them)", path, what);
	else
		snprintf(fe->why, sizeof fe->why, "%s %s%s%s", what, path, err ? ": " : "",
			 err ? strerror(err) : "");
	return fe->rc = rc;
}

static int fetch(const eg_colscan *sc, const fblock *fb, fetched *fe)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/idx/%s/%s/b%010llu", sc->st->dir, COL_SUB, COL_VERSION,
		 (unsigned long long)fb->k);
	fe->rc = EG_OK;
	if (!fe->raw) {
		fe->raw = calloc(COL_MAX_PATHS + 6, sizeof *fe->raw);
		fe->cap = calloc(COL_MAX_PATHS + 6, sizeof *fe->cap);
		if (!fe->raw || !fe->cap)
			return fetch_fail(fe, EG_ENOMEM, "", "out of memory", 0);
	}
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return fetch_fail(fe, EG_EIO, path, "cannot open", errno);
	unsigned c = cols_read(sc);
	for (uint32_t d = 0; d < fb->h.ncols && !fe->rc; d++) {
		const coldirent *e = &fb->h.dir[d];
		if (d >= COL_MAX_PATHS + 6 || !entry_needed(sc, fb, d, c))
			continue;
		if (buf_grow(&fe->z, &fe->zcap, (size_t)e->clen + 1, 1) ||
		    buf_grow(&fe->raw[d], &fe->cap[d], (size_t)e->rlen + 1, 1)) {
			fetch_fail(fe, EG_ENOMEM, "", "out of memory", 0);
		} else if (eg_os_pread_all(fd, fe->z, e->clen, (off_t)e->off)) {
			if (errno)
				fetch_fail(fe, EG_EIO, path, "cannot read", errno);
			else
				fetch_fail(fe, EG_ECORRUPT, path, "a column is cut short", 0);
		} else if (eg_col_frame(fe->z, e->clen, e->check, fe->raw[d], e->rlen)) {
			fetch_fail(fe, EG_ECORRUPT, path, "a column fails its check", 0);
		}
	}
	eg_os.close(fd);
	return fe->rc;
}

/* ------------------------------------------------------------ prefetch */

typedef struct prefetch {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, stop;
	size_t req;                   /* index in fb asked for */
	int slot;                     /* into set[slot] */
	int state;                    /* 0 idle, 1 asked, 2 reading, 3 read */
	fetched set[2];
	const eg_colscan *sc;
} prefetch;

static void *prefetch_main(void *arg)
{
	prefetch *pf = arg;
	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (!pf->stop && pf->state != 1)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->stop)
			break;
		pf->state = 2;
		size_t j = pf->req;
		fetched *fe = &pf->set[pf->slot];
		pthread_mutex_unlock(&pf->mu);
		fetch(pf->sc, &pf->sc->fb[j], fe);
		pthread_mutex_lock(&pf->mu);
		pf->state = 3;
		pthread_cond_broadcast(&pf->cv);
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

static void fetched_free(fetched *fe)
{
	for (int d = 0; fe->raw && d < COL_MAX_PATHS + 6; d++)
		free(fe->raw[d]);
	free(fe->raw);
	free(fe->cap);
	free(fe->z);
}

static void prefetch_free(prefetch *pf)
{
	if (!pf)
		return;
	if (pf->started) {
		pthread_mutex_lock(&pf->mu);
		pf->stop = 1;
		pthread_cond_broadcast(&pf->cv);
		pthread_mutex_unlock(&pf->mu);
		pthread_join(pf->th, NULL);
	}
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	fetched_free(&pf->set[0]);
	fetched_free(&pf->set[1]);
	free(pf);
}

/* The next block to read after index j, or nfb. */
static size_t next_unskipped(const eg_colscan *sc, size_t j)
{
	while (j < sc->nfb && sc->fb[j].skip)
		j++;
	return j;
}

/* Block j's frames: from the prefetch thread if it was asked for them,
 * else read here; then the thread is asked for the next block's, into the
 * other set, while the caller decodes and uses these. */
static fetched *get_fetched(eg_colscan *sc, size_t j)
{
	prefetch *pf = sc->pf;
	fetched *fe = NULL;
	pthread_mutex_lock(&pf->mu);
	if (pf->state != 0) {
		while (pf->state != 3)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->req == j)
			fe = &pf->set[pf->slot];
		pf->state = 0;
	}
	pthread_mutex_unlock(&pf->mu);
	int cur = fe ? (int)(fe - pf->set) : 0;
	if (!fe) {
		fe = &pf->set[cur];
		fetch(sc, &sc->fb[j], fe);
	}
	size_t nx = next_unskipped(sc, j + 1);
	if (nx < sc->nfb) {
		pthread_mutex_lock(&pf->mu);
		if (!pf->started)
			pf->started = pthread_create(&pf->th, NULL, prefetch_main, pf) == 0;
		if (pf->started) {
			pf->req = nx;
			pf->slot = 1 - cur;
			pf->state = 1;
			pthread_cond_broadcast(&pf->cv);
		}
		pthread_mutex_unlock(&pf->mu);
	}
	return fe;
}

static int prefetch_new(eg_colscan *sc)
{
	prefetch *pf = calloc(1, sizeof *pf);
	if (!pf)
		return -1;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	pf->sc = sc;
	sc->pf = pf;
	return 0;
}

/* ------------------------------------------------------------ decoding */

static int decode_path(eg_colscan *sc, const fblock *fb, const fetched *fe, size_t i)
{
	cpath *c = &sc->p[i];
	uint32_t n = fb->h.count;
	eg_colvals *v = &sc->vals[i];
	if (fb->col[i] < 0) {           /* a covered block without it: absent */
		memset(c->tag, EG_CT_ABSENT, n);
		memset(c->i, 0, (size_t)n * sizeof *c->i);
		memset(c->s, 0, (size_t)n * sizeof *c->s);
		return EG_OK;
	}
	const coldirent *e = &fb->h.dir[fb->col[i]];
	if (eg_col_path_decode(fe->raw[fb->col[i]], e->rlen, n, c->tag, c->i, c->s, raw_add,
			       &c->raw))
		return damaged(sc, fb->k, "a path column does not decode");
	for (uint32_t k = 0; k < n; k++)
		if (c->tag[k] == EG_CT_STR && c->s[k] >= c->str.n)
			return damaged(sc, fb->k, "a string is not in the dictionary");
	v->has_int = e->has_int;
	v->imin = e->imin;
	v->imax = e->imax;
	return EG_OK;
}

/* Times from a frame of zigzag deltas. */
static int decode_times(eg_colscan *sc, const fblock *fb, const coldirent *e,
			const unsigned char *raw, int64_t *out)
{
	uint32_t n = fb->h.count;
	uint64_t *u = (uint64_t *)out;
	if (e->rlen < 8 || eg_col_unpack64(raw + 8, e->rlen - 8, n, u) != e->rlen - 8)
		return damaged(sc, fb->k, "a time column does not decode");
	int64_t prev = (int64_t)rd64(raw);
	for (uint32_t k = 0; k < n; k++)
		out[k] = prev = (int64_t)((uint64_t)prev + (uint64_t)eg_col_unzz(u[k]));
	return EG_OK;
}

/* Packed ids (types: indices into the header's set). */
static int decode_ids(eg_colscan *sc, const fblock *fb, const coldirent *e,
		      const unsigned char *raw, uint32_t *out)
{
	uint32_t n = fb->h.count;
	if (eg_col_unpack32(raw, e->rlen, n, out) != e->rlen)
		return damaged(sc, fb->k, "an id column does not decode");
	if (e->what != COL_TYPE)
		return EG_OK;
	const uint32_t *types = (const uint32_t *)fb->h.types;
	for (uint32_t k = 0; k < n; k++) {
		if (out[k] >= fb->h.ntypes)
			return damaged(sc, fb->k, "a type is not in the block's set");
		out[k] = types[out[k]];
	}
	return EG_OK;
}

/* The arrays of column block fb (its index j), and which events the
 * filter wants. */
static int file_block(eg_colscan *sc, size_t j, int *any)
{
	const fblock *fb = &sc->fb[j];
	fetched *fe = get_fetched(sc, j);
	if (fe->rc)
		return eg_st_err(sc->st, fe->rc, "%s", fe->why);
	reset_block(sc);
	uint32_t n = fb->h.count;
	int rc = EG_OK;
	unsigned c = cols_read(sc), got = 0;
	for (uint32_t d = 0; d < fb->h.ncols && !rc; d++) {
		const coldirent *e = &fb->h.dir[d];
		unsigned bit = e->what <= COL_KIND ? 1u << (e->what - 1) : 0;
		if (!(c & bit) || (got & bit))
			continue;
		got |= bit;
		const unsigned char *raw = fe->raw[d];
		switch (e->what) {
		case COL_TIME: rc = decode_times(sc, fb, e, raw, sc->time); break;
		case COL_RECORDED: rc = decode_times(sc, fb, e, raw, sc->recorded); break;
		case COL_STREAM: case COL_TYPE:
			rc = decode_ids(sc, fb, e, raw, e->what == COL_STREAM ? sc->stream : sc->type);
			break;
		case COL_KIND:
			if (e->rlen != n)
				rc = damaged(sc, fb->k, "a column has the wrong size");
			else
				memcpy(sc->kind, raw, n);
			break;
		default: break;
		}
	}
	if (!rc && (got & c) != c)
		rc = damaged(sc, fb->k, "an envelope column is missing");
	for (size_t i = 0; i < sc->np && !rc; i++)
		rc = decode_path(sc, fb, fe, i);
	if (rc)
		return rc;
	const eg_filter *f = &sc->f;
	*any = 0;
	if (!f->kinds && !f->ntypes && !f->has_since && !f->has_until &&
	    fb->h.first_pos >= sc->flo && fb->h.first_pos + n - 1 <= sc->fhi) {
		memset(sc->want, 1, n);   /* the whole block, as most scans are */
		*any = 1;
		n = 0;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint64_t pos = fb->h.first_pos + k;
		int64_t t = !(f->has_since || f->has_until) ? 0 :
			    f->by == EG_BY_RECORDED ? sc->recorded[k] : sc->time[k];
		sc->want[k] = pos >= sc->flo && pos <= sc->fhi &&
			      !(f->kinds && !(f->kinds & (1u << sc->kind[k]))) &&
			      !(f->ntypes && !has_type(sc, sc->type[k])) &&
			      !(f->has_since && t < f->since) && !(f->has_until && t > f->until);
		*any |= sc->want[k];
	}
	sc->b.first_pos = fb->h.first_pos;
	sc->b.n = fb->h.count;
	sc->b.tmin = fb->h.tmin;
	sc->b.tmax = fb->h.tmax;
	return EG_OK;
}

void eg_colscan_only(eg_colscan *sc, unsigned cols)
{
	sc->cols = cols ? cols : ~0u;
}

/* The envelope arrays the caller asked for; the others NULL. */
static void expose(eg_colscan *sc)
{
	unsigned c = sc->cols ? sc->cols : ~0u;
	sc->b.time = c & EG_COLB_TIME ? sc->time : NULL;
	sc->b.recorded = c & EG_COLB_RECORDED ? sc->recorded : NULL;
	sc->b.stream = c & EG_COLB_STREAM ? sc->stream : NULL;
	sc->b.type = c & EG_COLB_TYPE ? sc->type : NULL;
	sc->b.kind = c & EG_COLB_KIND ? sc->kind : NULL;
}

int eg_colscan_next(eg_colscan *sc, const eg_colblock **b)
{
	while (sc->ifb < sc->nfb) {
		size_t j = sc->ifb++;
		int any = 0, rc;
		if (sc->fb[j].skip)
			continue;
		if ((rc = file_block(sc, j, &any)))
			return rc;
		if (!any)
			continue;
		sc->b.from_log = 0;
		sc->from_cols += sc->b.n;
		expose(sc);
		*b = &sc->b;
		return EG_OK;
	}
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
		expose(sc);
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
	sc->cols = ~0u;
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

/* ------------------------------------------------------ the files' plan */

/* Block k's header into fb: EG_OK, EG_ENOTFOUND (no such file: the
 * column files end before it), or an error. */
static int plan_read_hdr(eg_colscan *sc, uint64_t k, fblock *fb)
{
	char path[PATH_MAX];
	col_path(sc, k, path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT ? EG_ENOTFOUND : eg_st_errno(sc->st, "cannot open %s", path);
	unsigned char small[4096], *p = small;
	off_t size = eg_os_file_size(fd);
	size_t n = size < 0 ? 0 : (size_t)size < sizeof small ? (size_t)size : sizeof small;
	int rc = EG_OK;
	if (eg_os_pread_all(fd, small, n, 0)) {
		rc = eg_st_errno(sc->st, "cannot read %s", path);
	} else {
		uint32_t hlen = eg_col_hdr_len(small, n);
		if (hlen > n && hlen <= (uint64_t)size) {
			if (!(p = malloc(hlen)))
				rc = eg_st_err(sc->st, EG_ENOMEM, "out of memory");
			else if (eg_os_pread_all(fd, p, hlen, 0))
				rc = eg_st_errno(sc->st, "cannot read %s", path);
			n = hlen;
		}
	}
	eg_os.close(fd);
	fb->k = k;
	if (!rc && eg_col_hdr_parse(p, n, &fb->h))
		rc = damaged(sc, k, "its header fails its check");
	if (!rc && (fb->h.first_pos != k * eg_colscan_block_events + 1 ||
		    fb->h.count != eg_colscan_block_events))
		rc = damaged(sc, k, "it holds other positions than its name says");
	/* the type ids, copied out of the buffer */
	uint32_t *types = NULL;
	if (!rc && !(types = malloc(((size_t)fb->h.ntypes + 1) * 4)))
		rc = eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	if (!rc)
		memcpy(types, fb->h.types, (size_t)fb->h.ntypes * 4);
	fb->h.types = (const unsigned char *)types;
	if (p != small)
		free(p);
	return rc;
}

/* Can block fb hold an event the filter wants (zone maps)? */
static int block_may_match(const eg_colscan *sc, const fblock *fb)
{
	const eg_filter *f = &sc->f;
	int64_t lo = f->by == EG_BY_RECORDED ? fb->h.rmin : fb->h.tmin;
	int64_t hi = f->by == EG_BY_RECORDED ? fb->h.rmax : fb->h.tmax;
	if ((f->has_since && hi < f->since) || (f->has_until && lo > f->until))
		return 0;
	if (!f->ntypes)
		return 1;
	const unsigned char *t = fb->h.types;
	for (uint32_t j = 0; j < fb->h.ntypes; j++)
		if (has_type(sc, rd32(t + 4ull * j)))
			return 1;
	return 0;
}

static int path_is(const cpath *c, const unsigned char *body, size_t n, uint32_t nseg)
{
	if (nseg != (uint32_t)c->nseg)
		return 0;
	size_t at = 0;
	for (int s = 0; s < c->nseg; s++) {
		if (n - at < 4 || rd32(body + at) != c->len[s] || n - at - 4 < c->len[s] ||
		    memcmp(body + at + 4, c->seg[s], c->len[s]))
			return 0;
		at += 4 + c->len[s];
	}
	return at == n;
}

/* Read the dictionary's first need bytes: the asked paths' ids, and their
 * strings into the scan's dictionaries (so that a file's ids are the
 * scan's). */
static int load_dict(eg_colscan *sc, uint64_t need, uint32_t *pid)
{
	for (size_t i = 0; i < sc->np; i++)
		pid[i] = UINT32_MAX;
	free(sc->dict);
	sc->dict = NULL;
	sc->npdef = 0;
	if (!need)
		return EG_OK;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/idx/%s/%s/dict", sc->st->dir, COL_SUB, COL_VERSION);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return eg_st_errno(sc->st, "cannot open %s", path);
	unsigned char *p = malloc(need);
	int rc = EG_OK;
	if (!p)
		rc = eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	else if (eg_os_pread_all(fd, p, need, 0))
		rc = errno ? eg_st_errno(sc->st, "cannot read %s", path)
			   : eg_st_err(sc->st, EG_ECORRUPT, "%s is shorter than its blocks need "
				       "(engram reindex rebuilds it)", path);
	eg_os.close(fd);
	size_t off = 0;
	while (!rc && off < need) {
		coldict_rec r;
		if (eg_col_dict_rec(p, need, off, &r)) {
			rc = eg_st_err(sc->st, EG_ECORRUPT, "%s is damaged at byte %zu (engram "
				       "reindex rebuilds it)", path, off);
			break;
		}
		off = r.next;
		if (r.kind == 1) {
			if (r.path != sc->npdef ||
			    buf_grow(&sc->pdef, &sc->cappdef, sc->npdef + 1, sizeof *sc->pdef)) {
				rc = r.path != sc->npdef
				     ? eg_st_err(sc->st, EG_ECORRUPT, "%s: paths out of order", path)
				     : eg_st_err(sc->st, EG_ENOMEM, "out of memory");
				break;
			}
			sc->pdef[sc->npdef].off = (size_t)(r.body - p);
			sc->pdef[sc->npdef].len = r.body_len;
			sc->pdef[sc->npdef++].nseg = r.nseg;
		}
		for (size_t i = 0; i < sc->np && !rc; i++) {
			cpath *c = &sc->p[i];
			if (r.kind == 1 && pid[i] == UINT32_MAX &&
			    path_is(c, r.body, r.body_len, r.nseg))
				pid[i] = r.path;
			if (r.kind != 2 || r.path != pid[i])
				continue;
			if (r.first != c->str.n) {
				rc = eg_st_err(sc->st, EG_ECORRUPT, "%s: strings out of order", path);
				break;
			}
			const unsigned char *q = r.body;
			for (uint32_t j = 0; j < r.count && !rc; j++) {
				uint32_t l = rd32(q);
				uint32_t id = intern(&c->str, (const char *)q + 4, l);
				if (id == UINT32_MAX)
					rc = eg_st_err(sc->st, EG_ENOMEM, "out of memory");
				else if (id != r.first + j)
					rc = eg_st_err(sc->st, EG_ECORRUPT, "%s: a string twice", path);
				q += 4 + l;
			}
		}
	}
	sc->dict = p;
	return rc;
}

/* The segments of dictionary path id (u32 length + bytes each), or NULL. */
static const unsigned char *pdef(const eg_colscan *sc, uint32_t id, size_t *n, uint32_t *nseg)
{
	if (id >= sc->npdef)
		return NULL;
	*n = sc->pdef[id].len;
	*nseg = sc->pdef[id].nseg;
	return sc->dict + sc->pdef[id].off;
}

/* Are the first nseg segments of key (u32 length + bytes each, n bytes)
 * those of c?  (c has at least nseg.) */
static int key_prefix_of(const unsigned char *key, size_t n, uint32_t nseg, const cpath *c)
{
	size_t at = 0;
	for (uint32_t s = 0; s < nseg; s++) {
		if (n - at < 4 || rd32(key + at) != c->len[s] || n - at - 4 < c->len[s] ||
		    memcmp(key + at + 4, c->seg[s], c->len[s]))
			return 0;
		at += 4 + c->len[s];
	}
	return 1;
}

/* Is asked path c, without a column of its own in block fb, absent from
 * all its events?  Only when the block has a column for every path it
 * saw, none of them under c (c would be an object there), and none at the
 * depth cap above c (c could be inside it). */
static int absent_in(const eg_colscan *sc, const cpath *c, const fblock *fb)
{
	if (!(fb->h.flags & COL_FLAG_COVERED) || c->nseg == 0)
		return 0;
	for (uint32_t d = 0; d < fb->h.ncols; d++) {
		if (fb->h.dir[d].what != COL_PATH)
			continue;
		size_t n;
		uint32_t nseg;
		const unsigned char *q = pdef(sc, fb->h.dir[d].path, &n, &nseg);
		if (!q)
			return 0;
		if (nseg > (uint32_t)c->nseg) {
			/* a path under c? its first c->nseg segments are c's */
			cpath sub = *c;
			if (key_prefix_of(q, n, (uint32_t)c->nseg, &sub))
				return 0;
		} else if (nseg < (uint32_t)c->nseg && nseg >= COL_MAX_DEPTH &&
			   key_prefix_of(q, n, nseg, c)) {
			return 0;
		}
	}
	return 1;
}

/* The column files over [flo, fhi], as far as they go and cover the need. */
static int plan_files(eg_colscan *sc)
{
	uint64_t through = eg_store_indexed_through(sc->st);
	if (through > sc->st->log.head_pos)
		through = sc->st->log.head_pos;
	uint64_t kend = through / eg_colscan_block_events;   /* blocks the index covers */
	uint64_t klo = (sc->flo - 1) / eg_colscan_block_events;
	uint64_t khi = (sc->fhi - 1) / eg_colscan_block_events + 1;
	if (khi > kend)
		khi = kend;
	if (klo >= khi)
		return EG_OK;
	sc->fb = calloc(khi - klo, sizeof *sc->fb);
	if (!sc->fb)
		return eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	int rc = EG_OK;
	uint64_t need = 0;
	for (uint64_t k = klo; k < khi; k++) {
		fblock *fb = &sc->fb[sc->nfb];
		if ((rc = plan_read_hdr(sc, k, fb)) == EG_ENOTFOUND) {
			rc = EG_OK;
			break;
		}
		sc->nfb++;
		if (rc)
			return rc;
		fb->skip = !block_may_match(sc, fb);
		if (!fb->skip && fb->h.dict_len > need)
			need = fb->h.dict_len;
	}
	uint32_t *pid = calloc(sc->np + 1, sizeof *pid);
	if (!pid || (sc->nfb && prefetch_new(sc))) {
		free(pid);
		return eg_st_err(sc->st, EG_ENOMEM, "out of memory");
	}
	if (sc->np && (rc = load_dict(sc, need, pid)))
		goto out;
	for (size_t j = 0; j < sc->nfb && !rc; j++) {
		fblock *fb = &sc->fb[j];
		if (fb->skip)
			continue;
		if (!(fb->col = calloc(sc->np + 1, sizeof *fb->col))) {
			rc = eg_st_err(sc->st, EG_ENOMEM, "out of memory");
			break;
		}
		for (size_t i = 0; i < sc->np && !rc; i++) {
			fb->col[i] = -1;
			for (uint32_t d = 0; d < fb->h.ncols; d++)
				if (fb->h.dir[d].what == COL_PATH && fb->h.dir[d].path == pid[i])
					fb->col[i] = (int)d;
			if (fb->col[i] < 0 && !absent_in(sc, &sc->p[i], fb))
				rc = eg_st_err(sc->st, EG_ENOTFOUND, "data path %zu has no column in "
					       "idx/col block %llu", i, (unsigned long long)fb->k);
		}
	}
out:
	free(pid);
	return rc;
}

/* The filter's types as key ids; a name the index lacks is in no block. */
static int filter_type_ids(eg_colscan *sc)
{
	sc->ftypes = calloc(sc->f.ntypes + 1, sizeof *sc->ftypes);
	if (!sc->ftypes)
		return -1;
	for (size_t i = 0; i < sc->f.ntypes; i++) {
		uint64_t v = eg_index_key_find(sc->st, 1, sc->types[i], sc->type_lens[i]);
		if (v && v < KEY_LOCAL)
			sc->ftypes[sc->nftypes++] = (uint32_t)v;
	}
	return 0;
}

/* guard: refuse paths that may hold personal values (every scan an
 * engine reads; not eg_col_check's, which compares the files with the
 * records as stored). */
static int colscan_open_as(eg_store *st, const eg_filter *f, const eg_colneed *need, int files,
			   int guard, eg_colscan **out)
{
	*out = NULL;
	if (f->stream || f->streams || f->limit || f->reverse)
		return eg_st_err(st, EG_ENOTFOUND, "the columns serve no stream, limit or reverse");
	int rc;
	if (!st->writable) {            /* as eg_iter_new: the log as of now */
		eg_index_refresh(st);
		if ((rc = eg_log_refresh(st, &st->log)))
			return rc;
	}
	eg_colscan *sc = calloc(1, sizeof *sc);
	if (!sc)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	sc->st = st;
	sc->f = *f;
	sc->cap = eg_colscan_block_events ? eg_colscan_block_events : 1;
	sc->need_session = need && need->session;
	sc->flo = f->from ? f->from : 1;
	sc->fhi = st->log.head_pos;
	if (f->to && f->to < sc->fhi)
		sc->fhi = f->to;
	if (copy_types(sc, f) || copy_need(sc, need) || alloc_arrays(sc) ||
	    filter_type_ids(sc)) {
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = eg_reg_refresh(st)))
		goto fail;
	if (guard && personal_paths(sc)) {
		rc = eg_st_err(st, EG_ENOTFOUND, "a path read may hold personal values: the "
			       "columns hold them encrypted");
		goto fail;
	}
	if (upcasts_apply(sc)) {
		rc = eg_st_err(st, EG_ENOTFOUND, "a type read has upcasts: the columns hold "
			       "events as stored");
		goto fail;
	}
	if (sc->flo > sc->fhi) {
		sc->done = 1;
		*out = sc;
		return EG_OK;
	}
	if (files && (rc = plan_files(sc)))
		goto fail;
	if (sc->need_session && sc->nfb) {
		rc = eg_st_err(st, EG_ENOTFOUND, "the client session field is not in the column "
			       "files");
		goto fail;
	}
	uint64_t tail = sc->flo;
	if (sc->nfb) {
		uint64_t end = (sc->fb[sc->nfb - 1].k + 1) * eg_colscan_block_events + 1;
		tail = end > tail ? end : tail;
	}
	if (tail > sc->fhi) {
		sc->done = 1;
	} else {
		eg_filter lf = { .from = tail, .to = sc->fhi };
		if ((rc = eg_iter_new(st, &sc->it, &lf)))
			goto fail;
		eg_iter_lazy_ids(sc->it);
		eg_iter_raw(sc->it);   /* as the column files hold them (no path is personal) */
	}
	*out = sc;
	return EG_OK;
fail:
	eg_colscan_free(sc);
	return rc;
}

static int colscan_open(eg_store *st, const eg_filter *f, const eg_colneed *need, int files,
			eg_colscan **out)
{
	return colscan_open_as(st, f, need, files, 0, out);
}

int eg_colscan_new(eg_store *st, const eg_filter *f, const eg_colneed *need, eg_colscan **out)
{
	return colscan_open_as(st, f, need, 1, 1, out);
}

int eg_colscan_new_log(eg_store *st, const eg_filter *f, const eg_colneed *need,
		       eg_colscan **out)
{
	return colscan_open_as(st, f, need, 0, 1, out);
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
	prefetch_free(sc->pf);        /* first: its thread reads fb */
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
	for (size_t j = 0; sc->fb && j < sc->nfb; j++) {
		free(sc->fb[j].h.dir);
		free((void *)sc->fb[j].h.types);
		free(sc->fb[j].col);
	}
	free(sc->fb);
	free(sc->ftypes);
	free(sc->dict);
	free(sc->pdef);
	eg_itab_free(&sc->keys);
	eg_itab_free(&sc->byid);
	free(sc->session);
	eg_itab_free(&sc->sess);
	free(sc->kid);
	free(sc);
}

/* ------------------------------------------------------------ checking */

/* Do two blocks hold the same values (a's from the files, b's from the
 * log)?  NULL, or what differs. */
static const char *same_block(eg_colscan *a, const eg_colblock *x, eg_colscan *b,
			      const eg_colblock *y, size_t np)
{
	if (x->first_pos != y->first_pos || x->n != y->n)
		return "positions";
	uint32_t n = x->n;
	if (memcmp(x->time, y->time, 8ull * n) || x->tmin != y->tmin || x->tmax != y->tmax)
		return "time";
	if (memcmp(x->recorded, y->recorded, 8ull * n))
		return "recorded";
	if (memcmp(x->stream, y->stream, 4ull * n))
		return "stream";
	if (memcmp(x->type, y->type, 4ull * n))
		return "type";
	if (memcmp(x->kind, y->kind, n))
		return "kind";
	for (size_t i = 0; i < np; i++) {
		const eg_colvals *u = &x->vals[i], *v = &y->vals[i];
		if (memcmp(u->tag, v->tag, n))
			return "a path's tags";
		for (uint32_t k = 0; k < n; k++) {
			size_t l1 = 0, l2 = 0;
			const char *t1 = NULL, *t2 = NULL;
			if (u->tag[k] == EG_CT_INT) {
				if (u->i[k] != v->i[k] || u->i[k] < u->imin || u->i[k] > u->imax)
					return "a path's numbers";
			} else if (u->tag[k] == EG_CT_STR) {
				t1 = eg_colscan_str(a, i, u->s[k], &l1);
				t2 = eg_colscan_str(b, i, v->s[k], &l2);
			} else if (u->tag[k] == EG_CT_RAW) {
				t1 = eg_colscan_raw(a, i, u->s[k], &l1);
				t2 = eg_colscan_raw(b, i, v->s[k], &l2);
			}
			if (t1 && (l1 != l2 || memcmp(t1, t2, l1)))
				return "a path's texts";
		}
		if (u->has_int != v->has_int || (u->has_int && (u->imin != v->imin || u->imax != v->imax)))
			return "a path's zone map";
	}
	return NULL;
}

/* Block k's paths (from the dictionary) as a need; 0, or -1. */
static int block_need(eg_colscan *probe, eg_colneed *need, char ****segs, int **nseg)
{
	const fblock *fb = &probe->fb[0];
	size_t np = 0;
	*segs = calloc(fb->h.ncols + 1, sizeof **segs);
	*nseg = calloc(fb->h.ncols + 1, sizeof **nseg);
	if (!*segs || !*nseg)
		return -1;
	for (uint32_t d = 0; d < fb->h.ncols; d++) {
		size_t n;
		uint32_t ns;
		const unsigned char *q;
		if (fb->h.dir[d].what != COL_PATH)
			continue;
		if (!(q = pdef(probe, fb->h.dir[d].path, &n, &ns)) ||
		    !((*segs)[np] = calloc(ns + 1, sizeof ***segs)))
			return -1;
		(*nseg)[np] = (int)ns;
		size_t at = 0;
		for (uint32_t s = 0; s < ns; s++) {
			uint32_t l = rd32(q + at);
			char *name = malloc((size_t)l + 1);
			if (!name)
				return -1;
			memcpy(name, q + at + 4, l);
			name[l] = 0;
			(*segs)[np][s] = name;
			at += 4 + l;
		}
		np++;
	}
	*need = (eg_colneed){ (const char *const *const *)*segs, *nseg, np, 0 };
	return 0;
}

static void need_free(char ***segs, int *nseg, size_t np)
{
	for (size_t i = 0; segs && i < np; i++) {
		for (int s = 0; s < nseg[i]; s++)
			free(segs[i][s]);
		free(segs[i]);
	}
	free(segs);
	free(nseg);
}

int eg_col_check(eg_store *st, uint64_t *blocks)
{
	int rc = EG_OK;
	*blocks = 0;
	for (uint64_t k = 0; rc == EG_OK; k++) {
		uint64_t per = eg_colscan_block_events;
		eg_filter f = { .from = k * per + 1, .to = (k + 1) * per };
		eg_colscan *probe = NULL, *a = NULL, *b = NULL;
		char ***segs = NULL;
		int *nseg = NULL;
		eg_colneed need = { 0 };
		if ((rc = colscan_open(st, &f, NULL, 1, &probe)))
			break;
		if (!probe->nfb) {
			eg_colscan_free(probe);
			break;
		}
		if ((rc = load_dict(probe, probe->fb[0].h.dict_len, NULL)) == EG_OK &&
		    block_need(probe, &need, &segs, &nseg))
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		if (!rc && !(rc = colscan_open(st, &f, &need, 1, &a)) &&
		    !(rc = colscan_open(st, &f, &need, 0, &b))) {
			const eg_colblock *x, *y;
			const char *why = NULL;
			if ((rc = eg_colscan_next(a, &x)) == EG_OK && (rc = eg_colscan_next(b, &y)) == EG_OK &&
			    (why = same_block(a, x, b, y, need.npaths)) == NULL && x->from_log)
				why = "not read from the file";
			if (!rc && why)
				rc = damaged(a, k, why);
			else if (!rc)
				(*blocks)++;
		}
		eg_colscan_free(a);
		eg_colscan_free(b);
		eg_colscan_free(probe);
		need_free(segs, nseg, need.npaths);
	}
	return rc;
}

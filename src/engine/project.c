/*
 * project.c — projections: per-key state folded from the log, as of any
 * event time and as known at any record time, from snapshots.
 *
 * The design (docs/PROJECTIONS.md has the whole of it):
 *
 * Each event the spec takes becomes an *entry*: its position, event time,
 * type, and what it gives each field (present?  a number?  the numbers of
 * the numeric paths), so that no query parses JSON again.  Entries are
 * appended in log order to idx/proj/HASH/entries and linked per key, newest
 * first.  Every CHUNK entries of one key are summarised by a *chunk*: the
 * aggregate of those entries, their ranges of position and event time and a
 * copy of them (read in one place by the queries that need them),
 * appended to idx/proj/HASH/chunks.  The entries after a key's newest chunk
 * are its tail, whose aggregate and ranges the key keeps, so that a query
 * taking the whole tail does not follow its links.  A snapshot
 * (idx/proj/HASH/snap) is the key table at one log position: for each key
 * its newest entry and chunk and its tail; queries map it and use it in
 * place.
 *
 * Every aggregate combines (sums are exact decimals; min, max, first, last
 * and open compare values or (time, pos)), so the state of a key over the
 * events with time <= T and pos <= P (known at K is a log prefix) is the
 * combination of whole chunks inside both bounds, skipping chunks outside
 * either, plus the entries of the few chunks that straddle a bound.  A late
 * event (time earlier than events already folded) is just another entry:
 * its chunk's time range covers it, and nothing is replayed.  A query costs
 * a snapshot load, the events after the snapshot (at most snapshot_every),
 * and the chunks of the keys it reads.
 */
#include "coliter.h"
#include "contract.h"
#include "derived.h"
#include "internal.h"
#include "keys.h"
#include "os.h"
#include "buf.h"
#include "proj.h"
#include "timefmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CHUNK 32
#define SNAP_MAGIC "ENGRAMPJ"
#define SNAP_VERSION 2
#define SNAP_HDR 128
/* A long fold saves a snapshot at most this often (and at the last
 * snapshot_every boundary it reaches). */
#define SAVE_EVERY_MIN 1000000

/* One entry: ES bytes, numbers after the fixed part. */
typedef struct pent {
	uint64_t prev;       /* index + 1 of the key's previous entry, 0 none */
	uint64_t pos;
	uint64_t off;        /* its record's byte offset in its segment */
	int64_t time;
	uint16_t type, have, nan, pad;
	num nums[];
} pent;

/* One field's aggregate state (in chunks and in queries). */
typedef struct pagg {
	uint64_t n, miss, nan;
	int64_t t;           /* first/last/open: (time, pos) of the winner */
	uint64_t p;
	uint64_t off;        /* first/last: the winner's record offset */
	int32_t has, open;
	nacc v;              /* sum, min, max */
} pagg;

typedef struct pchunk {
	uint64_t prev;       /* offset + 1 of the key's previous chunk */
	uint64_t last;       /* index of its newest entry */
	uint64_t minpos, maxpos;
	int64_t mintime, maxtime;
	uint32_t key, n;
	uint64_t pad;
	pagg a[];
} pchunk;

/* The open entries of a key (those after its newest chunk): their bounds
 * and aggregate, so that a query whose bounds take them all merges this
 * rather than following their links one cache miss at a time. */
typedef struct ptail {
	uint64_t minpos, maxpos;
	int64_t mintime, maxtime;
	pagg a[];
} ptail;

typedef struct pkey {
	uint64_t last;       /* index + 1 of the newest entry */
	uint64_t chunk;      /* offset + 1 of the newest chunk */
	uint32_t nopen;      /* entries after that chunk */
	uint32_t tlen;       /* key text (JSON) */
	uint64_t toff;
} pkey;


struct eg_proj {
	eg_store *st;
	eg_proj_spec *spec;
	eg_ds ds;                    /* idx/proj/HASH/; ds.lockfd -1: in memory */
	int nosave;
	size_t es, cs, ts;           /* entry, chunk and tail sizes */
	/* the saved part, mapped */
	int fd_ent, fd_chunk;
	const unsigned char *ment, *mchunk;
	size_t ment_len, mchunk_len;
	uint64_t nent_saved, chunks_saved;   /* entries; chunk bytes */
	uint64_t snap_pos;
	/* after the saved part, in memory */
	buf ent, chunk;
	/* Keys.  The snapshot is mapped copy-on-write and used in place (a
	 * query reads the few keys it needs, not the whole table): keys
	 * < nk_map and text bytes < tl_map are there, the others in memory. */
	unsigned char *msnap;
	size_t msnap_len;
	pkey *mkeys;
	unsigned char *mtails;       /* ptail of key id at id * ts */
	const unsigned char *mtexts;
	uint32_t nk_map;
	uint64_t tl_map;
	buf hkeys, htails, htexts;
	uint32_t nkeys;
	uint32_t *hslot;             /* key id + 1 by text hash */
	uint32_t hcap;
	int hslot_mapped;
	uint64_t through;            /* events <= this are folded */
	uint64_t no_key, folded, saved;
	const char *path, *path_why;  /* the last fold's source, for the explain */
	uint64_t from_columns, from_log;
	/* A fold from the columns with data left empty: values straight from
	 * the blocks, at need index key_ix / field_ix[i] (-1: not a data path) */
	eg_coliter *ci;
	int key_ix, field_ix[PROJ_MAX_FIELDS];
	char nb[PROJ_MAX_FIELDS + 1][24];
	/* last query */
	eg_proj_field_stats fst[PROJ_MAX_FIELDS];
	uint64_t q_known, q_keys, q_events, q_chunks, q_entries;
	/* reading events back for first/last */
	eg_iter *rit;
	rec_event rev;
	buf ubuf;                    /* rev's data upcast (eg_reg_upcast_event) */
	buf dbuf;                    /* rev's data decrypted (eg_keys_open_event) */
	struct eg_shred_cx *cx;
	/* a copy of idx/blocks, for lookups by position and record time */
	block *blk;
	uint64_t nblk;
	unsigned char *evbuf;        /* one block's records */
	size_t evcap;
	/* row output */
	const char *names[PROJ_MAX_FIELDS];
	const char *vals[PROJ_MAX_FIELDS];
	size_t lens[PROJ_MAX_FIELDS];
	buf out;
};

typedef struct pstate {
	uint64_t events;
	pagg a[PROJ_MAX_FIELDS];
} pstate;

/* ----------------------------------------------------------- helpers */

static const pent *ent_at(const eg_proj *p, uint64_t i)
{
	if (i < p->nent_saved)
		return (const pent *)(p->ment + i * p->es);
	return (const pent *)(p->ent.p + (i - p->nent_saved) * p->es);
}

static const pchunk *chunk_at(const eg_proj *p, uint64_t off)
{
	if (off < p->chunks_saved)
		return (const pchunk *)(p->mchunk + off);
	return (const pchunk *)(p->chunk.p + (off - p->chunks_saved));
}

static pkey *key_at(const eg_proj *p, uint32_t id)
{
	if (id < p->nk_map)
		return &p->mkeys[id];
	return (pkey *)p->hkeys.p + (id - p->nk_map);
}

static ptail *tail_at(const eg_proj *p, uint32_t id)
{
	if (id < p->nk_map)
		return (ptail *)(p->mtails + (size_t)id * p->ts);
	return (ptail *)(p->htails.p + (size_t)(id - p->nk_map) * p->ts);
}

static const char *key_text(const eg_proj *p, const pkey *k)
{
	if (k->toff < p->tl_map)
		return (const char *)p->mtexts + k->toff;
	return (const char *)p->htexts.p + (k->toff - p->tl_map);
}

static uint64_t nent(const eg_proj *p)
{
	return p->nent_saved + p->ent.n / p->es;
}

/* ------------------------------------------------------------- keys */

static uint64_t text_hash(const char *s, size_t n)
{
	return XXH3_64bits(s, n);
}

static int key_rehash(eg_proj *p, uint32_t cap)
{
	uint32_t *h = calloc(cap, sizeof *h);
	if (!h)
		return -1;
	for (uint32_t id = 0; id < p->nkeys; id++) {
		const pkey *k = key_at(p, id);
		uint32_t i = (uint32_t)text_hash(key_text(p, k), k->tlen) & (cap - 1);
		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = id + 1;
	}
	if (!p->hslot_mapped)
		free(p->hslot);
	p->hslot = h;
	p->hcap = cap;
	p->hslot_mapped = 0;
	return 0;
}

/* Key id of a text, or UINT32_MAX; with add, created if new (-1 on ENOMEM
 * as UINT32_MAX - 1). */
static uint32_t key_find(eg_proj *p, const char *s, size_t n, int add)
{
	if (p->hcap) {
		uint32_t i = (uint32_t)text_hash(s, n) & (p->hcap - 1);
		for (; p->hslot[i]; i = (i + 1) & (p->hcap - 1)) {
			const pkey *k = key_at(p, p->hslot[i] - 1);
			if (k->tlen == n && !memcmp(key_text(p, k), s, n))
				return p->hslot[i] - 1;
		}
	}
	if (!add)
		return UINT32_MAX;
	if ((uint64_t)(p->nkeys + 1) * 2 > p->hcap &&
	    key_rehash(p, p->hcap ? p->hcap * 2 : 1024))
		return UINT32_MAX - 1;
	pkey k = { 0, 0, 0, (uint32_t)n, p->tl_map + p->htexts.n };
	if (buf_reserve(&p->htails, p->ts) || buf_add(&p->hkeys, &k, sizeof k) ||
	    buf_add(&p->htexts, s, n))
		return UINT32_MAX - 1;
	memset(p->htails.p + p->htails.n, 0, p->ts);   /* set by its first entry */
	p->htails.n += p->ts;
	uint32_t id = p->nkeys++;
	uint32_t i = (uint32_t)text_hash(s, n) & (p->hcap - 1);
	while (p->hslot[i])
		i = (i + 1) & (p->hcap - 1);
	p->hslot[i] = id + 1;
	return id;
}

/* ---------------------------------------------------------- folding */

static int tp_less(int64_t t1, uint64_t p1, int64_t t2, uint64_t p2)
{
	return t1 < t2 || (t1 == t2 && p1 < p2);
}

static void agg_merge(const pfield *f, pagg *a, const pagg *b)
{
	a->n += b->n;
	a->miss += b->miss;
	a->nan += b->nan;
	if (!b->has)
		return;
	switch (f->agg) {
	case A_SUM:
		if (a->has)
			eg_nacc_add(&a->v, &b->v);
		else
			a->v = b->v;
		break;
	case A_MIN:
		if (!a->has || eg_nacc_cmp(&b->v, &a->v) < 0)
			a->v = b->v;
		break;
	case A_MAX:
		if (!a->has || eg_nacc_cmp(&b->v, &a->v) > 0)
			a->v = b->v;
		break;
	case A_FIRST:
		if (!a->has || tp_less(b->t, b->p, a->t, a->p))
			a->t = b->t, a->p = b->p, a->off = b->off;
		break;
	case A_LAST:
	case A_OPEN:
		if (!a->has || tp_less(a->t, a->p, b->t, b->p))
			a->t = b->t, a->p = b->p, a->off = b->off, a->open = b->open;
		break;
	}
	a->has = 1;
}

/* Fold one entry into the aggregates a[0..nf-1]. */
static void fold_aggs(const eg_proj_spec *s, pagg *a, const pent *e)
{
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		pagg *x = &a[i];
		if (!(f->types >> e->type & 1))
			continue;
		if (f->agg == A_COUNT) {
			x->n++;
			continue;
		}
		if (!(e->have >> i & 1)) {
			if (e->nan >> i & 1)
				x->nan++;
			else
				x->miss++;
			continue;
		}
		/* what agg_merge does with a one-event aggregate, without
		 * building one */
		x->n++;
		nacc v;
		switch (f->agg) {
		case A_SUM:
			eg_nacc_set(&v, &e->nums[f->num], f->sign[e->type]);
			if (x->has)
				eg_nacc_add(&x->v, &v);
			else
				x->v = v;
			break;
		case A_MIN:
		case A_MAX:
			eg_nacc_set(&v, &e->nums[f->num], f->sign[e->type]);
			if (!x->has || eg_nacc_cmp(&v, &x->v) == (f->agg == A_MIN ? -1 : 1))
				x->v = v;
			break;
		case A_FIRST:
			if (!x->has || tp_less(e->time, e->pos, x->t, x->p))
				x->t = e->time, x->p = e->pos, x->off = e->off;
			break;
		default:             /* A_LAST, A_OPEN */
			if (!x->has || tp_less(x->t, x->p, e->time, e->pos)) {
				x->t = e->time, x->p = e->pos, x->off = e->off;
				x->open = (int32_t)(f->opens >> e->type & 1);
			}
		}
		x->has = 1;
	}
}

static void fold(const eg_proj_spec *s, pstate *st, const pent *e)
{
	st->events++;
	fold_aggs(s, st->a, e);
}

/* Merge the aggregates a of n events (a chunk's or a tail's). */
static void merge_aggs(const eg_proj_spec *s, pstate *st, const pagg *a, uint32_t n)
{
	st->events += n;
	for (int i = 0; i < s->nf; i++)
		agg_merge(&s->f[i], &st->a[i], &a[i]);
}

/* ---------------------------------------------------- building entries */

/* eg_path_get(e, path, v), or from the columns (ix: the path's index in
 * their need, p->nb[slot] holding a number's text) when the fold reads
 * them without a data object. */
static int path_get(eg_proj *p, const eg_event *e, const eg_path *path, int ix, int slot,
		    json_span *v)
{
	if (!p->ci || ix < 0)
		return eg_path_get(e, path, v);
	const char *t;
	size_t n;
	int tag = eg_coliter_value(p->ci, (size_t)ix, p->nb[slot], &t, &n);
	if (tag < 0 || tag == EG_CT_ABSENT || tag == EG_CT_NULL)
		return 0;
	v->p = t;
	v->n = n;
	v->type = tag == EG_CT_STR ? JSON_STRING : tag == EG_CT_INT ? JSON_NUMBER :
		  tag == EG_CT_TRUE ? JSON_TRUE : tag == EG_CT_FALSE ? JSON_FALSE :
		  eg_json_type_of(t[0]);
	return 1;
}

/* The key of an event as JSON text into out (<= cap bytes); 0 if none. */
static size_t event_key(eg_proj *p, const eg_event *e, char *out, size_t cap)
{
	const eg_proj_spec *s = p->spec;
	const char *t = NULL;
	size_t n = 0;
	char nb[24];
	switch (s->key.root) {
	case EG_PATH_STREAM: t = e->stream; n = e->stream_len; break;
	case EG_PATH_TYPE: t = e->type; n = e->type_len; break;
	case EG_PATH_ACTOR: t = e->actor; n = e->actor_len; break;
	case EG_PATH_SESSION: t = e->session; n = e->session_len; break;
	case EG_PATH_ID: t = e->id; n = e->id_len; break;
	case EG_PATH_VERSION:
		if (!e->version)
			return 0;
		n = (size_t)snprintf(nb, sizeof nb, "%llu", (unsigned long long)e->version);
		if (n > cap)
			return 0;
		memcpy(out, nb, n);
		return n;
	default: {
		json_span v;
		if (!path_get(p, e, &s->key, p->key_ix, PROJ_MAX_FIELDS, &v) ||
		    (v.type != JSON_STRING && v.type != JSON_NUMBER && v.type != JSON_TRUE &&
		     v.type != JSON_FALSE) || v.n > cap)
			return 0;
		memcpy(out, v.p, v.n);
		return v.n;
	}
	}
	if (!n || 6 * n + 2 > cap)
		return 0;
	return eg_json_quote(t, n, out);
}

static void make_entry(eg_proj *p, const eg_event *e, uint64_t off, pent *o)
{
	const eg_proj_spec *s = p->spec;
	o->pos = e->pos;
	o->off = off;
	o->time = e->time;
	o->type = (uint16_t)eg_proj_type_index(s, e->type, e->type_len);
	o->have = o->nan = o->pad = 0;
	for (int k = 0; k < s->nnum; k++)
		o->nums[k] = (num){ 0, 0, 1 };
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		if (f->agg == A_COUNT || !(f->types >> o->type & 1))
			continue;
		if (f->agg == A_OPEN) {
			o->have |= (uint16_t)(1u << i);
			continue;
		}
		if (f->agg == A_FIRST || f->agg == A_LAST) {
			int has;
			switch (f->path.root) {
			case EG_PATH_DATA: case EG_PATH_META: {
				json_span v;
				has = path_get(p, e, &f->path, p->field_ix[i], i, &v);
				break;
			}
			case EG_PATH_ACTOR: has = e->actor_len > 0; break;
			case EG_PATH_SESSION: has = e->session_len > 0; break;
			case EG_PATH_STREAM: has = e->stream_len > 0; break;
			default: has = 1;
			}
			o->have |= (uint16_t)(has << i);
			continue;
		}
		json_span v;
		if (!path_get(p, e, &f->path, p->field_ix[i], i, &v))
			continue;
		if (v.type != JSON_NUMBER) {
			o->nan |= (uint16_t)(1u << i);
			continue;
		}
		eg_num_parse(v.p, v.n, &o->nums[f->num]);
		o->have |= (uint16_t)(1u << i);
	}
}

/* The entries copied into a chunk, after its aggregates. */
static unsigned char *chunk_ents(const eg_proj *p, const pchunk *c)
{
	return (unsigned char *)c + sizeof(pchunk) + (size_t)p->spec->nf * sizeof(pagg);
}

/* Summarise the CHUNK newest entries of key id as a chunk. */
static int close_chunk(eg_proj *p, uint32_t id)
{
	pkey *k = key_at(p, id);
	const ptail *tl = tail_at(p, id);
	size_t cs = p->cs;
	pchunk *c = calloc(1, cs);
	if (!c)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	c->prev = k->chunk;
	c->last = k->last - 1;
	c->key = id;
	c->n = k->nopen;
	c->minpos = tl->minpos;
	c->maxpos = tl->maxpos;
	c->mintime = tl->mintime;
	c->maxtime = tl->maxtime;
	memcpy(c->a, tl->a, (size_t)p->spec->nf * sizeof(pagg));
	uint64_t i = k->last;
	for (uint32_t j = 0; j < k->nopen; j++) {
		/* a copy of the entries, so that a query reading them reads one
		 * place rather than following links across the file */
		const pent *e = ent_at(p, i - 1);
		memcpy(chunk_ents(p, c) + (size_t)j * p->es, e, p->es);
		i = e->prev;
	}
	uint64_t off = p->chunks_saved + p->chunk.n;
	int rc = buf_add(&p->chunk, c, cs);
	free(c);
	if (rc)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	k->chunk = off + 1;
	k->nopen = 0;
	return EG_OK;
}

/* Fold an entry into a tail (the first of its entries starts it). */
static void tail_add(const eg_proj *p, ptail *tl, int first, const pent *e)
{
	if (first) {
		memset(tl, 0, p->ts);
		tl->minpos = UINT64_MAX;
		tl->mintime = INT64_MAX;
		tl->maxtime = INT64_MIN;
	}
	if (e->pos < tl->minpos) tl->minpos = e->pos;
	if (e->pos > tl->maxpos) tl->maxpos = e->pos;
	if (e->time < tl->mintime) tl->mintime = e->time;
	if (e->time > tl->maxtime) tl->maxtime = e->time;
	fold_aggs(p->spec, tl->a, e);
}

/* Take event e, whose record is at byte off of its segment. */
static int add_event(eg_proj *p, const eg_event *e, uint64_t off)
{
	if ((e->type_len == sizeof EG_HEARTBEAT - 1 &&
	     !memcmp(e->type, EG_HEARTBEAT, sizeof EG_HEARTBEAT - 1)) ||
	    eg_reserved_stream(e->stream, e->stream_len))
		return EG_OK;            /* a watermark marker, or engram's own: not a fact */
	char kt[1024];
	size_t kn = event_key(p, e, kt, sizeof kt);
	if (!kn) {
		p->no_key++;
		return EG_OK;
	}
	uint32_t id = key_find(p, kt, kn, 1);
	if (id >= UINT32_MAX - 1)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	unsigned char eb[sizeof(pent) + PROJ_MAX_NUMS * sizeof(num)];
	pent *o = (pent *)eb;
	make_entry(p, e, off, o);
	pkey *k = key_at(p, id);
	o->prev = k->last;
	uint64_t idx = nent(p);
	if (buf_add(&p->ent, o, p->es))
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	k->last = idx + 1;
	tail_add(p, tail_at(p, id), k->nopen == 0, o);
	if (++k->nopen == CHUNK)
		return close_chunk(p, id);
	return EG_OK;
}

/* --------------------------------------------------------- snapshots */

static void path_of(const eg_proj *p, const char *name, char *out)
{
	eg_ds_path(&p->ds, name, out);
}

static void unmap(eg_proj *p)
{
	if (p->ment)
		eg_os.munmap((void *)p->ment, p->ment_len);
	if (p->mchunk)
		eg_os.munmap((void *)p->mchunk, p->mchunk_len);
	p->ment = p->mchunk = NULL;
	p->ment_len = p->mchunk_len = 0;
}

static int map_saved(eg_proj *p)
{
	unmap(p);
	size_t el = p->nent_saved * p->es, cl = p->chunks_saved;
	if (el) {
		void *m = eg_os.mmap(NULL, el, PROT_READ, MAP_SHARED, p->fd_ent, 0);
		if (m == MAP_FAILED)
			return eg_st_errno(p->st, "cannot map %s/entries", p->ds.dir);
		p->ment = m;
		p->ment_len = el;
	}
	if (cl) {
		void *m = eg_os.mmap(NULL, cl, PROT_READ, MAP_SHARED, p->fd_chunk, 0);
		if (m == MAP_FAILED)
			return eg_st_errno(p->st, "cannot map %s/chunks", p->ds.dir);
		p->mchunk = m;
		p->mchunk_len = cl;
	}
	return EG_OK;
}

/* Forget the mapped snapshot (the keys in memory stay). */
static void unmap_snap(eg_proj *p)
{
	if (p->hslot_mapped)
		p->hslot = NULL, p->hcap = 0, p->hslot_mapped = 0;
	if (p->msnap)
		eg_os.munmap(p->msnap, p->msnap_len);
	p->msnap = NULL;
	p->msnap_len = 0;
	p->mkeys = NULL;
	p->mtails = NULL;
	p->mtexts = NULL;
	p->nk_map = 0;
	p->tl_map = 0;
}

static void reset_state(eg_proj *p)
{
	unmap(p);
	unmap_snap(p);
	p->nent_saved = p->chunks_saved = p->snap_pos = p->through = p->no_key = 0;
	p->ent.n = p->chunk.n = 0;
	p->hkeys.n = p->htails.n = p->htexts.n = 0;
	p->nkeys = 0;
	if (p->hslot)
		memset(p->hslot, 0, p->hcap * sizeof *p->hslot);
}

/*
 * The snapshot file (docs/FORMAT.md): a header of SNAP_HDR bytes, the key
 * table, the key hash table, the key texts, then from a 64-byte boundary
 * the tails.  The header's check covers everything before the tails; the
 * tails, like entries and chunks, are derived data rebuilt by reindex.
 */
typedef struct snap_layout {
	uint64_t nk, hcap, tlen;
	uint64_t keys_at, hslot_at, texts_at, tails_at, size;
} snap_layout;

static void snap_layout_of(const eg_proj *p, uint64_t nk, uint64_t hcap, uint64_t tlen,
			   snap_layout *l)
{
	l->nk = nk;
	l->hcap = hcap;
	l->tlen = tlen;
	l->keys_at = SNAP_HDR;
	l->hslot_at = l->keys_at + nk * sizeof(pkey);
	l->texts_at = l->hslot_at + hcap * 4;
	l->tails_at = (l->texts_at + tlen + 63) / 64 * 64;
	l->size = l->tails_at + nk * p->ts;
}

static uint64_t snap_check(const unsigned char *hdr, const unsigned char *body, size_t n)
{
	XXH3_state_t *s = XXH3_createState();
	uint64_t h = 0;
	if (s && XXH3_64bits_reset(s) == XXH_OK && XXH3_64bits_update(s, hdr, 120) == XXH_OK &&
	    XXH3_64bits_update(s, body, n) == XXH_OK)
		h = XXH3_64bits_digest(s) | 1;
	XXH3_freeState(s);
	return h;
}

typedef struct snap_ctx {
	eg_proj *p;
	uint64_t head;
	snap_layout l;
} snap_ctx;

/* Is the snapshot [b, b + n) whole, of this spec and this log, with the
 * entries and chunks it counts on disk? */
static int snap_ok(const unsigned char *b, size_t n, void *arg)
{
	snap_ctx *c = arg;
	eg_proj *p = c->p;
	int ok = !memcmp(b, SNAP_MAGIC, 8) && rd32(b + 8) == SNAP_VERSION &&
		 !memcmp(b + 16, p->spec->hash, 32) && rd32(b + 12) == p->es &&
		 rd32(b + 100) == p->cs && rd32(b + 112) == p->ts;
	uint64_t through = rd64(b + 48), nentries = rd64(b + 56), clen = rd64(b + 64);
	uint64_t nk = rd64(b + 72), tlen = rd64(b + 80), ident = rd64(b + 88), mine;
	uint64_t hcap = rd32(b + 116);
	ok = ok && nk < UINT32_MAX && tlen < ((uint64_t)1 << 40) &&
	     (hcap == 0 || ((hcap & (hcap - 1)) == 0 && hcap > nk));
	if (!ok)
		return -1;
	snap_layout_of(p, nk, hcap, tlen, &c->l);
	ok = c->l.size == n &&
	     rd64(b + 120) == snap_check(b, b + SNAP_HDR, c->l.tails_at - SNAP_HDR) &&
	     through <= c->head && eg_store_event_ident(p->st, through, &mine) == EG_OK &&
	     mine == ident && eg_os_file_size(p->fd_ent) >= (off_t)(nentries * p->es) &&
	     eg_os_file_size(p->fd_chunk) >= (off_t)clen;
	return ok ? 0 : -1;
}

/* Load idx/proj/HASH/snap if it is valid for this log; else start empty. */
static int load_snapshot(eg_proj *p, uint64_t head)
{
	reset_state(p);
	if (p->ds.lockfd < 0)
		return EG_OK;
	/* private and writable: folding changes the keys in place, never
	 * the file */
	snap_ctx c = { p, head, { 0 } };
	eg_ds_view v;
	int rc = eg_ds_read(&p->ds, "snap", EG_DS_MAP | EG_DS_PRIVATE, SNAP_HDR, snap_ok, &c, &v);
	if (rc == EG_DS_IOERR) {
		char path[PATH_MAX];
		path_of(p, "snap", path);
		return eg_st_errno(p->st, "cannot read %s", path);
	}
	if (rc)
		return EG_OK;           /* absent or damaged: fold from the log */
	unsigned char *b = v.p;
	const snap_layout *l = &c.l;
	uint64_t nentries = rd64(b + 56), clen = rd64(b + 64), hcap = rd32(b + 116);
	p->msnap = b;
	p->msnap_len = v.n;
	p->mkeys = (pkey *)(b + l->keys_at);
	p->mtails = b + l->tails_at;
	p->mtexts = b + l->texts_at;
	p->nk_map = p->nkeys = (uint32_t)l->nk;
	p->tl_map = l->tlen;
	if (!p->hslot_mapped)
		free(p->hslot);
	p->hslot = hcap ? (uint32_t *)(b + l->hslot_at) : NULL;
	p->hcap = (uint32_t)hcap;
	p->hslot_mapped = hcap != 0;
	p->nent_saved = nentries;
	p->chunks_saved = clen;
	p->snap_pos = p->through = rd64(b + 48);
	p->no_key = rd64(b + 104);
	/* Drop what an interrupted fold wrote after the snapshot. */
	if (!p->nosave && (eg_os.ftruncate(p->fd_ent, (off_t)(nentries * p->es)) ||
			   eg_os.ftruncate(p->fd_chunk, (off_t)clen)))
		p->nosave = 1;
	return map_saved(p);
}

static int write_at(int fd, const void *b, size_t n, uint64_t off)
{
	return eg_os_pwrite_all(fd, b, n, (off_t)off);
}

/* Write a part held partly in the mapped snapshot, partly in memory. */
static void write_parts(eg_ds_wr *w, const void *m, size_t mn, const buf *h, int hashed)
{
	eg_ds_wr_put(w, m, mn, hashed);
	eg_ds_wr_put(w, h->p, h->n, hashed);
}

/* Save the state (at p->through) as a snapshot: entries and chunks first,
 * durably, then the snapshot file by rename, which is then mapped in
 * place of the state in memory. */
static int save_snapshot(eg_proj *p)
{
	if (p->nosave || p->through == p->snap_pos)
		return EG_OK;
	eg_store *st = p->st;
	if (write_at(p->fd_ent, p->ent.p, p->ent.n, p->nent_saved * p->es) ||
	    write_at(p->fd_chunk, p->chunk.p, p->chunk.n, p->chunks_saved) ||
	    eg_os.fdatasync(p->fd_ent) || eg_os.fdatasync(p->fd_chunk))
		return eg_st_errno(st, "cannot write %s", p->ds.dir);
	uint64_t ident;
	int rc = eg_store_event_ident(p->st, p->through, &ident);
	if (rc)
		return rc;
	snap_layout l;
	snap_layout_of(p, p->nkeys, p->hcap, p->tl_map + p->htexts.n, &l);
	unsigned char h[SNAP_HDR];
	memset(h, 0, sizeof h);
	memcpy(h, SNAP_MAGIC, 8);
	wr32(h + 8, SNAP_VERSION);
	wr32(h + 12, (uint32_t)p->es);
	memcpy(h + 16, p->spec->hash, 32);
	wr64(h + 48, p->through);
	wr64(h + 56, nent(p));
	wr64(h + 64, p->chunks_saved + p->chunk.n);
	wr64(h + 72, p->nkeys);
	wr64(h + 80, l.tlen);
	wr64(h + 88, ident);
	wr32(h + 100, (uint32_t)p->cs);
	wr64(h + 104, p->no_key);
	wr32(h + 112, (uint32_t)p->ts);
	wr32(h + 116, p->hcap);
	char path[PATH_MAX];
	path_of(p, "snap", path);
	/* the check covers the header before it and everything before the
	 * tails (padding included) */
	eg_ds_wr w;
	if (eg_ds_wr_begin(&w, &p->ds, "snap", SNAP_HDR))
		return eg_st_errno(st, "cannot write %s", path);
	buf none = { 0 };
	char z[64] = { 0 };
	buf zb = { z, (size_t)(l.tails_at - l.texts_at - l.tlen), sizeof z };
	eg_ds_wr_hash(&w, h, 120);
	write_parts(&w, p->mkeys, (size_t)p->nk_map * sizeof(pkey), &p->hkeys, 1);
	write_parts(&w, p->hslot, (size_t)p->hcap * 4, &none, 1);
	write_parts(&w, p->mtexts, p->tl_map, &p->htexts, 1);
	write_parts(&w, NULL, 0, &zb, 1);
	write_parts(&w, p->mtails, (size_t)p->nk_map * p->ts, &p->htails, 0);
	wr64(h + 120, eg_ds_wr_digest(&w) | 1);
	if (eg_ds_wr_commit(&w, h, SNAP_HDR, 0))
		return eg_st_errno(st, "cannot write %s", path);
	p->nent_saved = nent(p);
	p->chunks_saved += p->chunk.n;
	p->ent.n = p->chunk.n = 0;
	p->saved++;
	/* Map what was just written: the keys in memory go back to the page
	 * cache.  It was written under the lock, so it is this state. */
	uint64_t through = p->through, folded = p->folded;
	if ((rc = load_snapshot(p, through)))
		return rc;
	p->folded = folded;
	if (p->through != through)
		return eg_st_err(st, EG_EIO, "%s was written but does not read back", path);
	return EG_OK;
}

/* ------------------------------------------------------------ catch-up */

typedef struct progress {
	eg_progress_fn fn;
	void *ctx;
} progress;

/* Folds shorter than a column block (65536 events) read the log: a column
 * scan's setup is not worth it for the few events a refresh usually folds,
 * and a fold within the log's tail would read the log anyway. */
#define COLUMNS_MIN ((uint64_t)eg_colscan_block_events)

/* Where a fold of n events filtered by f reads: *ci, the columns, when
 * they hold the key and every field's path and the fold is long; else
 * NULL, the log.  p->path and p->path_why say which, and why. */
static int fold_source(eg_proj *p, const eg_filter *f, uint64_t n, eg_coliter **ci)
{
	const eg_proj_spec *s = p->spec;
	eg_colwant w = { 0 };
	p->key_ix = s->key.root == EG_PATH_DATA ? 0 : -1;
	int rc = eg_colwant_path(&w, &s->key) ? EG_ENOMEM : EG_OK;
	*ci = NULL;
	p->path = "log";
	p->path_why = NULL;
	for (int i = 0; !rc && i < s->nf; i++) {
		const pfield *fd = &s->f[i];
		p->field_ix[i] = -1;
		if (fd->agg == A_COUNT || fd->agg == A_OPEN)
			continue;
		if (fd->path.root == EG_PATH_DATA)
			p->field_ix[i] = (int)w.need.npaths;
		/* the values of first and last are read back from the log at
		 * their record's offset, which only the log's reader knows */
		if ((fd->agg == A_FIRST || fd->agg == A_LAST) && fd->path.root != EG_PATH_TIME &&
		    fd->path.root != EG_PATH_POS && !w.why)
			w.why = "first or last keeps its event's record offset, which the log gives";
		if (eg_colwant_path(&w, &fd->path))
			rc = EG_ENOMEM;
	}
	if (!rc && w.why)
		p->path_why = w.why;
	else if (!rc && n < COLUMNS_MIN)
		p->path_why = "a short fold (the log is quicker)";
	else if (!rc && (rc = eg_coliter_new(p->st, f, &w.need, ci, &p->path_why)) == EG_ENOTFOUND)
		rc = EG_OK;
	eg_colwant_free(&w);
	if (*ci) {
		p->path = "columns";
		/* the values straight from the blocks when each is read alone */
		if (!eg_coliter_no_data(*ci))
			p->ci = *ci;
	}
	return rc == EG_ENOMEM ? eg_st_err(p->st, rc, "out of memory") : rc;
}

/* Fold the events after p->through up to the head, saving snapshots at
 * snapshot_every boundaries (at most every SAVE_EVERY_MIN events, and at
 * the last boundary reached). */
static int catch_up(eg_proj *p, const progress *pr)
{
	eg_head h;
	int rc = eg_store_head(p->st, &h);
	if (rc || h.pos <= p->through)
		return rc;
	const eg_proj_spec *s = p->spec;
	uint64_t every = s->snapshot_every, start = p->through;
	uint64_t last_b = h.pos / every * every;   /* last boundary we reach */
	eg_filter f = { .from = p->through + 1, .to = h.pos, .upcast = !s->no_upcast };
	const char *names[PROJ_MAX_TYPES];
	if (s->filter) {
		/* the filter's types only: the spec's other names are field types
		 * (eg_iter_new copies them) */
		for (int i = 0; i < s->ntypes; i++)
			if (s->types >> i & 1)
				names[f.ntypes++] = s->tnames[i];
		f.types = names;
	}
	eg_iter *it = NULL;
	eg_coliter *ci = NULL;
	if ((rc = fold_source(p, &f, h.pos - p->through, &ci)))
		return rc;
	if (!ci && (rc = eg_iter_new(p->st, &it, &f)))
		return rc;
	const eg_event *e;
	uint64_t next_b = (p->through / every + 1) * every, tick = 0;
	while ((rc = ci ? eg_coliter_next(ci, &e) : eg_iter_next(it, &e)) == EG_OK) {
		while (e->pos > next_b) {
			/* every event <= next_b is folded */
			p->through = next_b;
			if (next_b == last_b || next_b - p->snap_pos >= SAVE_EVERY_MIN)
				if ((rc = save_snapshot(p)))
					goto out;
			next_b += every;
		}
		/* an event from the columns has no record offset: first and
		 * last, which need one, fold from the log (fold_source) */
		if ((rc = add_event(p, e, ci ? UINT64_MAX : eg_iter_place(it).off)))
			goto out;
		p->through = e->pos;
		p->folded++;
		if (pr && pr->fn && ++tick % 65536 == 0)
			pr->fn(pr->ctx, e->pos - start, h.pos - start);
	}
	if (rc != EG_END)
		goto out;
	/* the events after the last one taken, up to the head, hold nothing
	 * the spec takes: the state is complete at each boundary among them */
	for (rc = EG_OK; next_b <= h.pos && !rc; next_b += every) {
		p->through = next_b;
		if (next_b == last_b || next_b - p->snap_pos >= SAVE_EVERY_MIN)
			rc = save_snapshot(p);
	}
	if (rc)
		goto out;
	p->through = h.pos;
	if (pr && pr->fn)
		pr->fn(pr->ctx, h.pos - start, h.pos - start);
out:
	if (ci)
		eg_coliter_counts(ci, &p->from_columns, &p->from_log);
	eg_coliter_free(ci);
	p->ci = NULL;
	eg_iter_free(it);
	return rc;
}

static int lock_dir(eg_proj *p)
{
	return eg_ds_lock(p->st, &p->ds);
}

static void unlock_dir(eg_proj *p)
{
	eg_ds_unlock(&p->ds);
}

/* Open (creating) the derived directory; on failure fold in memory only. */
static void open_dir(eg_proj *p)
{
	char hex[65], f[PATH_MAX];
	eg_proj_spec_hash(p->spec, hex);
	hex[32] = 0;
	/* spec.json is kept so that reindex can rebuild this projection */
	eg_ds_open(p->st, "proj", hex, !p->spec->no_upcast, p->spec->src, p->spec->src ? p->spec->srclen : 0, &p->ds);
	path_of(p, "entries", f);
	p->fd_ent = eg_os.open(f, O_RDWR | O_CREAT, 0644);
	path_of(p, "chunks", f);
	p->fd_chunk = eg_os.open(f, O_RDWR | O_CREAT, 0644);
	if (p->ds.lockfd < 0 || p->fd_ent < 0 || p->fd_chunk < 0) {
		p->nosave = 1;
		/* in memory only: nothing saved, nothing mapped */
		eg_ds_close(&p->ds);
		if (p->fd_ent >= 0)
			eg_os.close(p->fd_ent);
		if (p->fd_chunk >= 0)
			eg_os.close(p->fd_chunk);
		p->fd_ent = p->fd_chunk = -1;
	}
}

/* Copy a spec through its own parser: the handle owns it.  NULL if out of
 * memory (the text parsed once already). */
static eg_proj_spec *spec_copy(const eg_proj_spec *s)
{
	eg_proj_spec *c = NULL;
	char err[256];
	return eg_proj_spec_parse(s->src, s->srclen, &c, err, sizeof err) == EG_OK ? c : NULL;
}

int eg_proj_open(eg_store *st, const eg_proj_spec *spec, eg_progress_fn fn, void *ctx,
		 eg_proj **out)
{
	*out = NULL;
	eg_proj *p = calloc(1, sizeof *p);
	if (!p || !(p->spec = spec_copy(spec))) {
		free(p);
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	}
	p->st = st;
	p->es = sizeof(pent) + (size_t)spec->nnum * sizeof(num);
	p->cs = sizeof(pchunk) + (size_t)spec->nf * sizeof(pagg) + CHUNK * p->es;
	p->ts = sizeof(ptail) + (size_t)spec->nf * sizeof(pagg);
	p->ds.lockfd = p->fd_ent = p->fd_chunk = -1;
	for (int i = 0; i < spec->nf; i++)
		p->names[i] = p->spec->f[i].name;
	open_dir(p);
	progress pr = { fn, ctx };
	eg_head h;
	int rc = lock_dir(p);
	if (!rc && !(rc = eg_store_head(st, &h)) && !(rc = load_snapshot(p, h.pos)))
		rc = catch_up(p, &pr);
	unlock_dir(p);
	if (rc) {
		eg_proj_close(p);
		return rc;
	}
	*out = p;
	return EG_OK;
}

int eg_proj_refresh(eg_proj *p)
{
	int rc = lock_dir(p);
	if (!rc) {
		/* Another process saved a snapshot since ours: start from it
		 * (the files now extend beyond what this handle saved). */
		char path[PATH_MAX];
		unsigned char hdr[SNAP_HDR];
		path_of(p, "snap", path);
		int fd = p->nosave ? -1 : eg_os.open(path, O_RDONLY, 0);
		if (fd >= 0) {
			if (eg_os_pread_all(fd, hdr, SNAP_HDR, 0) == 0 && rd64(hdr + 48) != p->snap_pos) {
				eg_head h;
				if (!(rc = eg_store_head(p->st, &h)))
					rc = load_snapshot(p, h.pos);
			}
			eg_os.close(fd);
		}
	}
	if (!rc)
		rc = catch_up(p, NULL);
	unlock_dir(p);
	return rc;
}

void eg_proj_close(eg_proj *p)
{
	if (!p)
		return;
	unmap(p);
	eg_ds_close(&p->ds);
	if (p->fd_ent >= 0)
		eg_os.close(p->fd_ent);
	if (p->fd_chunk >= 0)
		eg_os.close(p->fd_chunk);
	eg_iter_free(p->rit);
	free(p->ubuf.p);
	free(p->dbuf.p);
	eg_shred_cx_free(p->cx);
	free(p->blk);
	free(p->evbuf);
	free(p->ent.p);
	free(p->chunk.p);
	free(p->out.p);
	unmap_snap(p);
	if (!p->hslot_mapped)
		free(p->hslot);
	free(p->hkeys.p);
	free(p->htails.p);
	free(p->htexts.p);
	eg_proj_spec_free(p->spec);
	free(p);
}

/* -------------------------------------------------------------- queries */

/* Load idx/blocks into memory (once per handle, again when it grew):
 * finding an event or a record time is then a search in memory. */
static int load_blocks(eg_proj *p)
{
	eg_store *st = p->st;
	uint64_t n = st->ix.usable ? eg_index_nblocks(st) : 0;
	if (n == p->nblk)
		return EG_OK;
	if (n < p->nblk)           /* rebuilt: read it all again */
		p->nblk = 0;
	block *b = realloc(p->blk, (n ? n : 1) * sizeof *b);
	if (!b)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	p->blk = b;
	int rc = n > p->nblk ? eg_index_read_blocks(st, p->nblk, n - p->nblk, b + p->nblk) : EG_OK;
	p->nblk = rc ? 0 : n;
	return rc;
}

/* Position of the last event with recorded <= k (0 if none).  Record time
 * never decreases along the log, so the index blocks (each with its
 * batch's recorded time) are searched by halving; the part of the log the
 * index does not cover yet, if any, is scanned. */
static int known_pos(eg_proj *p, int64_t k, uint64_t *out)
{
	if (k == EG_TIME_NONE) {
		*out = UINT64_MAX;
		return EG_OK;
	}
	eg_store *st = p->st;
	int rc = load_blocks(p);
	if (rc)
		return rc;
	uint64_t n = p->nblk, lo = 0, hi = n, from = 1;
	*out = 0;
	while (lo < hi) {           /* first block recorded after k */
		uint64_t mid = lo + (hi - lo) / 2;
		if (p->blk[mid].recorded <= k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		*out = p->blk[lo - 1].first_pos + p->blk[lo - 1].count - 1;
		from = *out + 1;
	}
	if (lo < n || from > p->through) {
		if (*out > p->through)
			*out = p->through;
		return EG_OK;
	}
	/* every indexed batch was known at k: look at the rest */
	eg_filter f = { .from = from, .to = p->through, .by = EG_BY_RECORDED, .has_until = 1,
			.until = k, .reverse = 1, .limit = 1 };
	eg_iter *it;
	const eg_event *e;
	if ((rc = eg_iter_new(st, &it, &f)))
		return rc;
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK)
		*out = e->pos;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

/* Fold the entries [from newest index+1, n of them] under the bounds. */
static void fold_entries(eg_proj *p, pstate *st, uint64_t i, uint32_t n, int64_t t,
			 uint64_t pk)
{
	for (uint32_t j = 0; j < n && i; j++) {
		const pent *e = ent_at(p, i - 1);
		p->q_entries++;
		if (e->time <= t && e->pos <= pk)
			fold(p->spec, st, e);
		i = e->prev;
	}
}

/* Ask for the cache lines of [s, s + n) ahead of their use: a key's tail
 * and chunks are far apart, and waiting for each in turn is most of a
 * query's time. */
static void prefetch(const void *s, size_t n)
{
	for (size_t o = 0; o < n; o += 64)
		__builtin_prefetch((const char *)s + o);
}

static void key_state(eg_proj *p, uint32_t id, int64_t t, uint64_t pk, pstate *st)
{
	const pkey *k = key_at(p, id);
	const ptail *tl = k->nopen ? tail_at(p, id) : NULL;
	size_t aggs = (size_t)p->spec->nf * sizeof(pagg);
	if (tl)
		prefetch(tl, sizeof *tl + aggs);
	if (k->chunk)
		prefetch(chunk_at(p, k->chunk - 1), sizeof(pchunk) + aggs);
	memset(st, 0, sizeof *st);
	if (tl && tl->maxpos <= pk && tl->maxtime <= t) {
		merge_aggs(p->spec, st, tl->a, k->nopen);
		p->q_chunks++;
	} else if (tl && tl->minpos <= pk && tl->mintime <= t) {
		fold_entries(p, st, k->last, k->nopen, t, pk);
	}
	for (uint64_t off = k->chunk; off; ) {
		const pchunk *c = chunk_at(p, off - 1);
		off = c->prev;
		if (off)
			prefetch(chunk_at(p, off - 1), sizeof(pchunk) + aggs);
		if (c->minpos > pk || c->mintime > t)
			continue;
		if (c->maxpos <= pk && c->maxtime <= t) {
			merge_aggs(p->spec, st, c->a, c->n);
			p->q_chunks++;
			continue;
		}
		const unsigned char *ce = chunk_ents(p, c);
		prefetch(ce, (size_t)c->n * p->es);
		for (uint32_t j = 0; j < c->n; j++) {
			const pent *e = (const pent *)(ce + (size_t)j * p->es);
			p->q_entries++;
			if (e->time <= t && e->pos <= pk)
				fold(p->spec, st, e);
		}
	}
}

/* Grow the event buffer to n bytes. */
static int evbuf_reserve(eg_proj *p, size_t n)
{
	if (n <= p->evcap)
		return EG_OK;
	unsigned char *nb = realloc(p->evbuf, n);
	if (!nb)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	p->evbuf = nb;
	p->evcap = n;
	return EG_OK;
}

/* The event at pos read where its entry says its record is (byte off of
 * the segment holding pos), through the log's mapping: no system call,
 * which is dear in a virtual machine.  EG_ENOTFOUND if the record there
 * is not that event or fails its check: event_at then looks it up through
 * the index, which names any damage. */
static int event_at_place(eg_proj *p, uint64_t pos, uint64_t off, const eg_event **e)
{
	eg_log *lg = &p->st->log;
	uint32_t lo = 0, hi = lg->nseg;      /* the last segment starting <= pos */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (lg->segs[mid].first_pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	if (!lg->nseg || lg->segs[lo].first_pos > pos)
		return EG_ENOTFOUND;
	logpos at = { lo, off };
	const unsigned char *r = eg_log_ptr(p->st, lg, at, REC_PREFIX);
	size_t len = r ? rd32(r) : 0;
	if (!r || len < REC_PREFIX || len > REC_MAX_LEN || !(r = eg_log_ptr(p->st, lg, at, len)) ||
	    !eg_rec_event_decode(r, len, &p->rev) || p->rev.ev.pos != pos)
		return EG_ENOTFOUND;
	*e = &p->rev.ev;
	return EG_OK;
}

/* The event at pos, for the values of first and last: found through the
 * block index (a lookup and one pread, not an iterator); blocks without
 * their byte length (an index from before it was kept) by an iterator. */
static int event_at(eg_proj *p, uint64_t pos, const eg_event **e)
{
	eg_store *st = p->st;
	eg_log *lg = &st->log;
	int rc = load_blocks(p);
	if (rc)
		return rc;
	uint64_t lo = 0, hi = p->nblk;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (p->blk[mid].first_pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	const block *b = p->nblk ? &p->blk[lo] : NULL;
	uint32_t s = b ? eg_log_seg_index(lg, b->seg_first_pos) : UINT32_MAX;
	if (b && s != UINT32_MAX && pos >= b->first_pos && pos < b->first_pos + b->count &&
	    b->bytes && b->bytes <= (1u << 20)) {
		/* one pread of the block's records, then a walk in memory: far
		 * cheaper than touching the log's mapping header by header */
		if ((rc = evbuf_reserve(p, b->bytes)))
			return rc;
		ssize_t got = eg_log_pread(st, lg, s, p->evbuf, b->bytes, b->off);
		if (got < 0 && errno == EBADMSG)
			return EG_ECORRUPT;
		if (got >= 0 && got != (ssize_t)b->bytes)
			errno = EIO;   /* short: the file is shorter than its index says */
		if (got != (ssize_t)b->bytes)
			return eg_st_errno(st, "cannot read segment %020llu.seg",
					(unsigned long long)b->seg_first_pos);
		size_t off = 0;
		for (uint64_t q = b->first_pos; q <= pos && off < b->bytes; q++) {
			int type;
			size_t len = rec_peek(p->evbuf + off, b->bytes - off, &type);
			if (!len || type != REC_EVENT)
				break;
			if (q == pos) {
				if (!eg_rec_event_decode(p->evbuf + off, len, &p->rev) || p->rev.ev.pos != pos)
					return eg_st_err(st, EG_ECORRUPT, "record at segment %020llu.seg "
						      "offset %llu fails its check; run engram verify",
						      (unsigned long long)b->seg_first_pos,
						      (unsigned long long)(b->off + off));
				p->rev.ev.recorded = b->recorded;
				if (p->rev.ev.time == REC_TIME_RECORDED)
					p->rev.ev.time = b->recorded;
				*e = &p->rev.ev;
				return EG_OK;
			}
			off += len;
		}
	}
	eg_iter_free(p->rit);
	p->rit = NULL;
	eg_filter f = { .from = pos, .to = pos, .limit = 1, .upcast = !p->spec->no_upcast };
	if ((rc = eg_iter_new(p->st, &p->rit, &f)))
		return rc;
	rc = eg_iter_next(p->rit, e);
	if (rc == EG_END)
		rc = eg_st_err(p->st, EG_ECORRUPT, "projection names event %llu, which the log "
			    "does not hold; run engram reindex", (unsigned long long)pos);
	return rc;
}

static int out_add(eg_proj *p, const void *s, size_t n)
{
	return buf_add(&p->out, s, n) ? eg_st_err(p->st, EG_ENOMEM, "out of memory") : EG_OK;
}

static int out_str(eg_proj *p, const char *s, size_t n)
{
	if (buf_reserve(&p->out, 6 * n + 2))
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	p->out.n += eg_json_quote(s, n, p->out.p + p->out.n);
	return EG_OK;
}

static int out_time(eg_proj *p, int64_t us)
{
	char t[EG_TIME_LEN + 2];
	t[0] = '"';
	eg_time_format(us, t + 1);
	t[EG_TIME_LEN + 1] = '"';
	return out_add(p, t, sizeof t);
}

/* The JSON text of the value of a first/last field at its winning event. */
static int value_at(eg_proj *p, const pfield *f, const pagg *a)
{
	const eg_event *e;
	int rc;
	char nb[24];
	if (f->path.root == EG_PATH_TIME)
		return out_time(p, a->t);
	if (f->path.root == EG_PATH_POS) {
		int n = snprintf(nb, sizeof nb, "%llu", (unsigned long long)a->p);
		return out_add(p, nb, (size_t)n);
	}
	/* the recorded time is its batch's, known to the index only */
	rc = f->path.root == EG_PATH_RECORDED ? EG_ENOTFOUND : event_at_place(p, a->p, a->off, &e);
	if (rc == EG_ENOTFOUND)
		rc = event_at(p, a->p, &e);
	/* the event as the fold saw it (the iterator's is decrypted and
	 * upcast already) */
	if (!rc && e == &p->rev.ev)
		rc = eg_keys_open_event(p->st, &p->rev.ev, &p->cx, &p->dbuf.p, &p->dbuf.cap);
	if (!rc && e == &p->rev.ev && !p->spec->no_upcast)
		rc = eg_reg_upcast_event(p->st, &p->rev.ev, &p->ubuf.p, &p->ubuf.cap);
	if (rc)
		return rc;
	switch (f->path.root) {
	case EG_PATH_STREAM: return out_str(p, e->stream, e->stream_len);
	case EG_PATH_TYPE: return out_str(p, e->type, e->type_len);
	case EG_PATH_ACTOR: return out_str(p, e->actor, e->actor_len);
	case EG_PATH_SESSION: return out_str(p, e->session, e->session_len);
	case EG_PATH_ID: return out_str(p, e->id, e->id_len);
	case EG_PATH_RECORDED: return out_time(p, e->recorded);
	case EG_PATH_VERSION: {
		int n = snprintf(nb, sizeof nb, "%llu", (unsigned long long)e->version);
		return out_add(p, nb, (size_t)n);
	}
	default: {
		json_span v;
		if (!eg_path_get(e, &f->path, &v))
			return eg_st_err(p->st, EG_ECORRUPT, "event %llu lost the value of %s; run "
				      "engram reindex", (unsigned long long)a->p, f->path.text);
		if (buf_reserve(&p->out, v.n))
			return eg_st_err(p->st, EG_ENOMEM, "out of memory");
		p->out.n += eg_json_minify(&v, p->out.p + p->out.n);
		return EG_OK;
	}
	}
}

/* Format a state's fields into p->out: field i is [offs[i], offs[i+1]). */
static int format_state(eg_proj *p, const pstate *st, size_t *offs)
{
	const eg_proj_spec *s = p->spec;
	p->out.n = 0;
	int rc;
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		const pagg *a = &st->a[i];
		offs[i] = p->out.n;
		char t[NUM_TEXT_MAX + 24];
		size_t n;
		switch (f->agg) {
		case A_COUNT:
			n = (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)a->n);
			rc = out_add(p, t, n);
			break;
		case A_SUM:
		case A_MIN:
		case A_MAX:
			if (!a->has) {   /* a sum of nothing is 0 */
				rc = f->agg == A_SUM ? out_add(p, "0", 1) : out_add(p, "null", 4);
				break;
			}
			n = eg_nacc_format(&a->v, t);
			rc = out_add(p, t, n);
			break;
		case A_OPEN:
			rc = a->has && a->open ? out_add(p, "true", 4) : out_add(p, "false", 5);
			break;
		default:
			rc = a->has ? value_at(p, f, a) : out_add(p, "null", 4);
		}
		if (rc)
			return rc;
	}
	offs[s->nf] = p->out.n;
	return EG_OK;
}

/* Call fn with the row of key id whose values are in vals at offs. */
static int row_out(eg_proj *p, uint32_t id, const char *vals, const size_t *offs,
		   int64_t from, int64_t to, eg_proj_row_fn fn, void *ctx)
{
	int nf = p->spec->nf;
	for (int i = 0; i < nf; i++) {
		p->vals[i] = vals + offs[i];
		p->lens[i] = offs[i + 1] - offs[i];
	}
	const pkey *k = key_at(p, id);
	eg_proj_row row = { key_text(p, k), k->tlen, (size_t)nf,
			    p->names, p->vals, p->lens, from, to };
	p->q_keys++;
	return fn(ctx, &row);
}

static int emit(eg_proj *p, uint32_t id, const pstate *st, eg_proj_row_fn fn, void *ctx)
{
	size_t offs[PROJ_MAX_FIELDS + 1];
	int rc = format_state(p, st, offs);
	p->q_events += st->events;
	return rc ? rc : row_out(p, id, p->out.p, offs, 0, 0, fn, ctx);
}

static void query_begin(eg_proj *p)
{
	p->q_keys = p->q_events = p->q_chunks = p->q_entries = 0;
	memset(p->fst, 0, sizeof p->fst);
	for (int i = 0; i < p->spec->nf; i++) {
		p->fst[i].name = p->spec->f[i].name;
		p->fst[i].path = p->spec->f[i].path.text;
	}
}

static void count_fields(eg_proj *p, const pstate *st)
{
	for (int i = 0; i < p->spec->nf; i++) {
		p->fst[i].used += st->a[i].n;
		p->fst[i].missing += st->a[i].miss;
		p->fst[i].not_number += st->a[i].nan;
	}
}

static int at_bounds(eg_proj *p, const eg_proj_at *at, int64_t *t, uint64_t *pk)
{
	*t = at && at->as_of != EG_TIME_NONE ? at->as_of : INT64_MAX;
	int rc = known_pos(p, at ? at->known_at : EG_TIME_NONE, pk);
	p->q_known = *pk == UINT64_MAX ? p->through : *pk;
	return rc;
}

/* Key id of a key as the user writes it: a string key's text, or the JSON
 * text of a number or boolean key. */
static uint32_t user_key(eg_proj *p, const char *key, size_t n)
{
	char q[2048];
	if (6 * n + 2 <= sizeof q) {
		size_t k = eg_json_quote(key, n, q);
		uint32_t id = key_find(p, q, k, 0);
		if (id != UINT32_MAX)
			return id;
	}
	return key_find(p, key, n, 0);
}

/* Start a query of one key: its bounds and id (UINT32_MAX if unknown). */
static int key_query(eg_proj *p, const char *key, size_t n, const eg_proj_at *at,
		     int64_t *t, uint64_t *pk, uint32_t *id)
{
	query_begin(p);
	int rc = at_bounds(p, at, t, pk);
	*id = rc ? UINT32_MAX : user_key(p, key, n);
	return rc;
}

int eg_proj_get(eg_proj *p, const char *key, size_t n, const eg_proj_at *at,
		eg_proj_row_fn fn, void *ctx)
{
	int64_t t;
	uint64_t pk;
	uint32_t id;
	int rc = key_query(p, key, n, at, &t, &pk, &id);
	if (rc || id == UINT32_MAX)
		return rc;
	pstate st;
	key_state(p, id, t, pk, &st);
	/* The string "42" and the number 42 are two keys: the string's state
	 * comes first, the number's when the string has none under at (so an
	 * answer as known at K stays the same whatever is appended later). */
	uint32_t other = key_find(p, key, n, 0);
	if (!st.events && other != UINT32_MAX && other != id) {
		id = other;
		key_state(p, id, t, pk, &st);
	}
	count_fields(p, &st);
	return st.events ? emit(p, id, &st, fn, ctx) : EG_OK;
}

static int key_cmp(const void *a, const void *b, void *ctx)
{
	const eg_proj *p = ctx;
	const pkey *x = key_at(p, *(const uint32_t *)a), *y = key_at(p, *(const uint32_t *)b);
	size_t n = x->tlen < y->tlen ? x->tlen : y->tlen;
	int c = memcmp(key_text(p, x), key_text(p, y), n);
	return c ? c : (x->tlen > y->tlen) - (x->tlen < y->tlen);
}

int eg_proj_scan(eg_proj *p, const eg_proj_at *at, eg_proj_row_fn fn, void *ctx)
{
	query_begin(p);
	int64_t t;
	uint64_t pk;
	int rc = at_bounds(p, at, &t, &pk);
	if (rc)
		return rc;
	uint32_t *order = malloc(((size_t)p->nkeys + 1) * sizeof *order);
	if (!order)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nkeys; i++)
		order[i] = i;
	qsort_r(order, p->nkeys, sizeof *order, key_cmp, p);
	for (uint32_t i = 0; i < p->nkeys && !rc; i++) {
		pstate st;
		key_state(p, order[i], t, pk, &st);
		count_fields(p, &st);
		if (st.events)
			rc = emit(p, order[i], &st, fn, ctx);
	}
	free(order);
	return rc;
}

/* ------------------------------------------------------------- history */

static int ent_cmp(const void *a, const void *b)
{
	const pent *x = *(const pent *const *)a, *y = *(const pent *const *)b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

int eg_proj_history(eg_proj *p, const char *key, size_t n, const eg_proj_at *at,
		    eg_proj_row_fn fn, void *ctx)
{
	int64_t t;
	uint64_t pk;
	uint32_t id;
	int rc = key_query(p, key, n, at, &t, &pk, &id);
	if (rc || id == UINT32_MAX)
		return rc;
	/* Every entry of the key under the bounds, in (time, pos) order. */
	size_t cap = 64, ne = 0;
	const pent **v = malloc(cap * sizeof *v);
	if (!v)
		return eg_st_err(p->st, EG_ENOMEM, "out of memory");
	for (uint64_t i = key_at(p, id)->last; i; ) {
		const pent *e = ent_at(p, i - 1);
		i = e->prev;
		p->q_entries++;
		if (e->time > t || e->pos > pk)
			continue;
		if (ne == cap) {
			const pent **nv = realloc(v, 2 * cap * sizeof *v);
			if (!nv) {
				free(v);
				return eg_st_err(p->st, EG_ENOMEM, "out of memory");
			}
			v = nv;
			cap *= 2;
		}
		v[ne++] = e;
	}
	qsort(v, ne, sizeof *v, ent_cmp);
	/* Fold in order.  After the last event of each event time, the state
	 * holds from that time; a row is emitted when the next change comes,
	 * and rows whose values did not change are not repeated. */
	pstate st;
	memset(&st, 0, sizeof st);
	buf pend = { 0 };
	size_t offs[PROJ_MAX_FIELDS + 1], poffs[PROJ_MAX_FIELDS + 1];
	int64_t from = 0;
	int have = 0, nf = p->spec->nf;
	for (size_t i = 0; i < ne && !rc; i++) {
		fold(p->spec, &st, v[i]);
		if (i + 1 < ne && v[i + 1]->time == v[i]->time)
			continue;
		if ((rc = format_state(p, &st, offs)))
			break;
		if (have && pend.n == p->out.n && !memcmp(poffs, offs, (size_t)(nf + 1) * sizeof *offs) &&
		    !memcmp(pend.p, p->out.p, pend.n))
			continue;
		if (have && (rc = row_out(p, id, pend.p, poffs, from, v[i]->time, fn, ctx)))
			break;
		pend.n = 0;
		if (buf_add(&pend, p->out.p, p->out.n)) {
			rc = eg_st_err(p->st, EG_ENOMEM, "out of memory");
			break;
		}
		memcpy(poffs, offs, sizeof offs);
		from = v[i]->time;
		have = 1;
	}
	p->q_events = ne;
	count_fields(p, &st);
	if (!rc && have)
		rc = row_out(p, id, pend.p, poffs, from, EG_TIME_NONE, fn, ctx);
	free(pend.p);
	free(v);
	return rc;
}

void eg_proj_get_explain(const eg_proj *p, eg_proj_explain *o)
{
	o->head_pos = p->through;
	o->snapshot_pos = p->snap_pos;
	o->folded = p->folded;
	o->saved = p->saved;
	o->no_key = p->no_key;
	o->known_pos = p->q_known;
	o->keys = p->q_keys;
	o->events = p->q_events;
	o->chunks = p->q_chunks;
	o->entries = p->q_entries;
	o->nfields = (size_t)p->spec->nf;
	o->fields = p->fst;
	o->path = p->path;
	o->path_why = p->path_why;
	o->from_columns = p->from_columns;
	o->from_log = p->from_log;
}

/* Reindex, once every projection's derived files are dropped: fold each
 * spec kept in a spec.json again; a directory without one that parses is
 * not a projection that can be rebuilt, and goes. */
static int rebuild_one(void *ctx, const char *dir, const char *hash)
{
	eg_store *st = ctx;
	eg_ds d = { .lockfd = -1 };
	(void)hash;
	snprintf(d.dir, sizeof d.dir, "%s", dir);
	eg_ds_view v;
	eg_proj_spec *spec = NULL;
	char err[256];
	int rc = EG_OK;
	if (eg_ds_read(&d, "spec.json", 0, 0, NULL, NULL, &v) ||
	    eg_proj_spec_parse((const char *)v.p, v.n, &spec, err, sizeof err)) {
		eg_ds_remove_dir(dir);
	} else {
		eg_proj *p;
		if ((rc = eg_proj_open(st, spec, NULL, NULL, &p)) == EG_OK)
			eg_proj_close(p);
	}
	eg_proj_spec_free(spec);
	eg_ds_view_free(&v);
	return rc;
}

static int proj_rebuild_all(eg_store *st)
{
	return eg_ds_list(st, "proj", rebuild_one, st);
}

/* Projections rebuild eagerly at reindex: a query then starts from a
 * snapshot, not from the log. */
__attribute__((constructor)) static void proj_register(void)
{
	eg_ds_register("proj", "projection", NULL, proj_rebuild_all);
}

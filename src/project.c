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
 * appended to idx/proj/HASH/chunks.  A snapshot (idx/proj/HASH/snap) is the
 * key table at one log position: for each key its newest entry and chunk.
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
#include "internal.h"
#include "os.h"
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
#define SNAP_VERSION 1
#define SNAP_HDR 128
/* A long fold saves a snapshot at most this often (and at the last
 * snapshot_every boundary it reaches). */
#define SAVE_EVERY_MIN 1000000

/* One entry: ES bytes, numbers after the fixed part. */
typedef struct pent {
	uint64_t prev;       /* index + 1 of the key's previous entry, 0 none */
	uint64_t pos;
	int64_t time;
	uint16_t type, have, nan, pad;
	num nums[];
} pent;

/* One field's aggregate state (in chunks and in queries). */
typedef struct pagg {
	uint64_t n, miss, nan;
	int64_t t;           /* first/last/open: (time, pos) of the winner */
	uint64_t p;
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

typedef struct pkey {
	uint64_t last;       /* index + 1 of the newest entry */
	uint64_t chunk;      /* offset + 1 of the newest chunk */
	uint32_t nopen;      /* entries after that chunk */
	uint32_t tlen;       /* key text (JSON) */
	uint64_t toff;
} pkey;

/* A growable byte buffer. */
typedef struct buf {
	unsigned char *p;
	size_t n, cap;
} buf;

struct eg_proj {
	eg_store *st;
	eg_proj_spec *spec;
	char dir[PATH_MAX];
	int lockfd, nosave;
	size_t es, cs;               /* entry and chunk sizes */
	/* the saved part, mapped */
	int fd_ent, fd_chunk;
	const unsigned char *ment, *mchunk;
	size_t ment_len, mchunk_len;
	uint64_t nent_saved, chunks_saved;   /* entries; chunk bytes */
	uint64_t snap_pos;
	/* after the saved part, in memory */
	buf ent, chunk;
	/* keys */
	pkey *keys;
	uint32_t nkeys, capkeys;
	buf texts;
	uint32_t *hslot;             /* key id + 1 by text hash */
	uint32_t hcap;
	uint64_t through;            /* events <= this are folded */
	uint64_t no_key, folded, saved;
	/* last query */
	eg_proj_field_stats fst[PROJ_MAX_FIELDS];
	uint64_t q_known, q_keys, q_events, q_chunks, q_entries;
	/* reading events back for first/last */
	eg_iter *rit;
	rec_event rev;
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

static int buf_reserve(buf *b, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		unsigned char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	return 0;
}

static int buf_add(buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

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
		const pkey *k = &p->keys[id];
		uint32_t i = (uint32_t)text_hash((char *)p->texts.p + k->toff, k->tlen) & (cap - 1);
		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = id + 1;
	}
	free(p->hslot);
	p->hslot = h;
	p->hcap = cap;
	return 0;
}

/* Key id of a text, or UINT32_MAX; with add, created if new (-1 on ENOMEM
 * as UINT32_MAX - 1). */
static uint32_t key_find(eg_proj *p, const char *s, size_t n, int add)
{
	if (p->hcap) {
		uint32_t i = (uint32_t)text_hash(s, n) & (p->hcap - 1);
		for (; p->hslot[i]; i = (i + 1) & (p->hcap - 1)) {
			const pkey *k = &p->keys[p->hslot[i] - 1];
			if (k->tlen == n && !memcmp(p->texts.p + k->toff, s, n))
				return p->hslot[i] - 1;
		}
	}
	if (!add)
		return UINT32_MAX;
	if ((uint64_t)(p->nkeys + 1) * 2 > p->hcap &&
	    key_rehash(p, p->hcap ? p->hcap * 2 : 1024))
		return UINT32_MAX - 1;
	if (p->nkeys == p->capkeys) {
		uint32_t cap = p->capkeys ? p->capkeys * 2 : 1024;
		pkey *k = realloc(p->keys, cap * sizeof *k);
		if (!k)
			return UINT32_MAX - 1;
		p->keys = k;
		p->capkeys = cap;
	}
	uint32_t id = p->nkeys++;
	p->keys[id] = (pkey){ 0, 0, 0, (uint32_t)n, p->texts.n };
	if (buf_add(&p->texts, s, n))
		return UINT32_MAX - 1;
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
			nacc_add(&a->v, &b->v);
		else
			a->v = b->v;
		break;
	case A_MIN:
		if (!a->has || nacc_cmp(&b->v, &a->v) < 0)
			a->v = b->v;
		break;
	case A_MAX:
		if (!a->has || nacc_cmp(&b->v, &a->v) > 0)
			a->v = b->v;
		break;
	case A_FIRST:
		if (!a->has || tp_less(b->t, b->p, a->t, a->p))
			a->t = b->t, a->p = b->p;
		break;
	case A_LAST:
	case A_OPEN:
		if (!a->has || tp_less(a->t, a->p, b->t, b->p))
			a->t = b->t, a->p = b->p, a->open = b->open;
		break;
	}
	a->has = 1;
}

/* Fold one entry into a state. */
static void fold(const eg_proj_spec *s, pstate *st, const pent *e)
{
	st->events++;
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		if (!(f->types >> e->type & 1))
			continue;
		pagg b = { 0 };
		if (f->agg == A_COUNT || (e->have >> i & 1)) {
			b.n = 1;
			b.has = f->agg != A_COUNT;
			b.t = e->time;
			b.p = e->pos;
			if (f->num >= 0)
				nacc_set(&b.v, &e->nums[f->num], f->sign[e->type]);
			b.open = (int32_t)(f->opens >> e->type & 1);
		} else if (e->nan >> i & 1) {
			b.nan = 1;
		} else {
			b.miss = 1;
		}
		agg_merge(f, &st->a[i], &b);
	}
}

static void merge_chunk(const eg_proj_spec *s, pstate *st, const pchunk *c)
{
	st->events += c->n;
	for (int i = 0; i < s->nf; i++)
		agg_merge(&s->f[i], &st->a[i], &c->a[i]);
}

/* ---------------------------------------------------- building entries */

/* The key of an event as JSON text into out (<= cap bytes); 0 if none. */
static size_t event_key(const eg_proj_spec *s, const eg_event *e, char *out, size_t cap)
{
	const char *t = NULL;
	size_t n = 0;
	char nb[24];
	switch (s->key.root) {
	case P_STREAM: t = e->stream; n = e->stream_len; break;
	case P_TYPE: t = e->type; n = e->type_len; break;
	case P_ACTOR: t = e->actor; n = e->actor_len; break;
	case P_SESSION: t = e->session; n = e->session_len; break;
	case P_ID: t = e->id; n = e->id_len; break;
	case P_VERSION:
		if (!e->version)
			return 0;
		n = (size_t)snprintf(nb, sizeof nb, "%llu", (unsigned long long)e->version);
		if (n > cap)
			return 0;
		memcpy(out, nb, n);
		return n;
	default: {
		json_span v;
		if (!proj_path_value(e, &s->key, &v) ||
		    (v.type != JSON_STRING && v.type != JSON_NUMBER && v.type != JSON_TRUE &&
		     v.type != JSON_FALSE) || v.n > cap)
			return 0;
		memcpy(out, v.p, v.n);
		return v.n;
	}
	}
	if (!n || 6 * n + 2 > cap)
		return 0;
	return json_quote(t, n, out);
}

static void make_entry(const eg_proj_spec *s, const eg_event *e, pent *o)
{
	o->pos = e->pos;
	o->time = e->time;
	o->type = (uint16_t)proj_type_index(s, e->type, e->type_len);
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
			case P_DATA: case P_META: {
				json_span v;
				has = proj_path_value(e, &f->path, &v);
				break;
			}
			case P_ACTOR: has = e->actor_len > 0; break;
			case P_SESSION: has = e->session_len > 0; break;
			case P_STREAM: has = e->stream_len > 0; break;
			default: has = 1;
			}
			o->have |= (uint16_t)(has << i);
			continue;
		}
		json_span v;
		if (!proj_path_value(e, &f->path, &v))
			continue;
		if (v.type != JSON_NUMBER) {
			o->nan |= (uint16_t)(1u << i);
			continue;
		}
		num_parse(v.p, v.n, &o->nums[f->num]);
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
	pkey *k = &p->keys[id];
	size_t cs = p->cs;
	pchunk *c = calloc(1, cs);
	if (!c)
		return st_err(p->st, EG_ENOMEM, "out of memory");
	pstate st;
	memset(&st, 0, sizeof st);
	c->prev = k->chunk;
	c->last = k->last - 1;
	c->key = id;
	c->n = k->nopen;
	c->minpos = UINT64_MAX;
	c->mintime = INT64_MAX;
	c->maxtime = INT64_MIN;
	uint64_t i = k->last;
	for (uint32_t j = 0; j < k->nopen; j++) {
		const pent *e = ent_at(p, i - 1);
		fold(p->spec, &st, e);
		if (e->pos < c->minpos) c->minpos = e->pos;
		if (e->pos > c->maxpos) c->maxpos = e->pos;
		if (e->time < c->mintime) c->mintime = e->time;
		if (e->time > c->maxtime) c->maxtime = e->time;
		/* a copy of the entries, so that a query reading them reads one
		 * place rather than following links across the file */
		memcpy(chunk_ents(p, c) + (size_t)j * p->es, e, p->es);
		i = e->prev;
	}
	memcpy(c->a, st.a, (size_t)p->spec->nf * sizeof(pagg));
	uint64_t off = p->chunks_saved + p->chunk.n;
	int rc = buf_add(&p->chunk, c, cs);
	free(c);
	if (rc)
		return st_err(p->st, EG_ENOMEM, "out of memory");
	k->chunk = off + 1;
	k->nopen = 0;
	return EG_OK;
}

static int add_event(eg_proj *p, const eg_event *e)
{
	const eg_proj_spec *s = p->spec;
	char kt[1024];
	size_t kn = event_key(s, e, kt, sizeof kt);
	if (!kn) {
		p->no_key++;
		return EG_OK;
	}
	uint32_t id = key_find(p, kt, kn, 1);
	if (id >= UINT32_MAX - 1)
		return st_err(p->st, EG_ENOMEM, "out of memory");
	unsigned char eb[sizeof(pent) + PROJ_MAX_NUMS * sizeof(num)];
	pent *o = (pent *)eb;
	make_entry(s, e, o);
	pkey *k = &p->keys[id];
	o->prev = k->last;
	uint64_t idx = nent(p);
	if (buf_add(&p->ent, o, p->es))
		return st_err(p->st, EG_ENOMEM, "out of memory");
	k->last = idx + 1;
	if (++k->nopen == CHUNK)
		return close_chunk(p, id);
	return EG_OK;
}

/* --------------------------------------------------------- snapshots */

static void path_of(const eg_proj *p, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", p->dir, name);
}

static void unmap(eg_proj *p)
{
	if (p->ment)
		munmap((void *)p->ment, p->ment_len);
	if (p->mchunk)
		munmap((void *)p->mchunk, p->mchunk_len);
	p->ment = p->mchunk = NULL;
	p->ment_len = p->mchunk_len = 0;
}

static int map_saved(eg_proj *p)
{
	unmap(p);
	size_t el = p->nent_saved * p->es, cl = p->chunks_saved;
	if (el) {
		void *m = mmap(NULL, el, PROT_READ, MAP_SHARED, p->fd_ent, 0);
		if (m == MAP_FAILED)
			return st_errno(p->st, "cannot map %s/entries", p->dir);
		p->ment = m;
		p->ment_len = el;
	}
	if (cl) {
		void *m = mmap(NULL, cl, PROT_READ, MAP_SHARED, p->fd_chunk, 0);
		if (m == MAP_FAILED)
			return st_errno(p->st, "cannot map %s/chunks", p->dir);
		p->mchunk = m;
		p->mchunk_len = cl;
	}
	return EG_OK;
}

/* Identity of the event at pos (0 for pos 0): its id and time, so that a
 * snapshot is never applied to a log that was cut back and appended anew. */
static int event_ident(eg_proj *p, uint64_t pos, uint64_t *out)
{
	*out = 0;
	if (!pos)
		return EG_OK;
	eg_filter f = { .from = pos, .to = pos, .limit = 1 };
	eg_iter *it;
	const eg_event *e;
	int rc = eg_iter_new(p->st, &it, &f);
	if (rc)
		return rc;
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK)
		*out = XXH3_64bits_withSeed(e->id, e->id_len, (uint64_t)e->time) | 1;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

static void reset_state(eg_proj *p)
{
	unmap(p);
	p->nent_saved = p->chunks_saved = p->snap_pos = p->through = p->no_key = 0;
	p->ent.n = p->chunk.n = p->texts.n = 0;
	p->nkeys = 0;
	if (p->hslot)
		memset(p->hslot, 0, p->hcap * sizeof *p->hslot);
}

/* Load idx/proj/HASH/snap if it is valid for this log; else start empty. */
static int load_snapshot(eg_proj *p, uint64_t head)
{
	reset_state(p);
	char path[PATH_MAX];
	path_of(p, "snap", path);
	unsigned char *b = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return EG_OK;
	struct stat sb;
	if (fstat(fd, &sb) == 0 && sb.st_size >= SNAP_HDR + 4 && (b = malloc((size_t)sb.st_size)))
		n = os_pread_all(fd, b, (size_t)sb.st_size, 0) == 0 ? (size_t)sb.st_size : 0;
	close(fd);
	int ok = n && !memcmp(b, SNAP_MAGIC, 8) && rd32(b + 8) == SNAP_VERSION &&
		 rd32(b + n - 4) == (uint32_t)XXH3_64bits(b, n - 4) &&
		 !memcmp(b + 16, p->spec->hash, 32) && rd32(b + 12) == p->es &&
		 rd32(b + 100) == p->cs;
	uint64_t through = ok ? rd64(b + 48) : 0, nentries = ok ? rd64(b + 56) : 0;
	uint64_t clen = ok ? rd64(b + 64) : 0, nk = ok ? rd64(b + 72) : 0;
	uint64_t tlen = ok ? rd64(b + 80) : 0, ident = ok ? rd64(b + 88) : 0, mine;
	ok = ok && through <= head && nk < UINT32_MAX &&
	     n == SNAP_HDR + nk * sizeof(pkey) + tlen + 4 &&
	     event_ident(p, through, &mine) == EG_OK && mine == ident &&
	     os_file_size(p->fd_ent) >= (off_t)(nentries * p->es) &&
	     os_file_size(p->fd_chunk) >= (off_t)clen;
	if (ok) {
		p->keys = realloc(p->keys, (nk ? nk : 1) * sizeof(pkey));
		if (!p->keys)
			ok = 0;
		else
			p->capkeys = (uint32_t)(nk ? nk : 1);
	}
	if (ok) {
		memcpy(p->keys, b + SNAP_HDR, nk * sizeof(pkey));
		p->nkeys = (uint32_t)nk;
		p->texts.n = 0;
		if (buf_add(&p->texts, b + SNAP_HDR + nk * sizeof(pkey), tlen))
			ok = 0;
		uint32_t cap = 1024;
		while ((uint64_t)cap < nk * 2 + 2)
			cap *= 2;
		if (ok && key_rehash(p, cap))
			ok = 0;
	}
	if (ok) {
		p->nent_saved = nentries;
		p->chunks_saved = clen;
		p->snap_pos = p->through = through;
		p->no_key = rd64(b + 104);
		/* Drop what an interrupted fold wrote after the snapshot. */
		if (!p->nosave && (ftruncate(p->fd_ent, (off_t)(nentries * p->es)) ||
				   ftruncate(p->fd_chunk, (off_t)clen)))
			p->nosave = 1;
	} else {
		reset_state(p);
	}
	free(b);
	return ok ? map_saved(p) : EG_OK;
}

static int write_at(int fd, const void *b, size_t n, uint64_t off)
{
	return os_pwrite_all(fd, b, n, (off_t)off);
}

/* Save the state (at p->through) as a snapshot: entries and chunks first,
 * durably, then the key table by rename. */
static int save_snapshot(eg_proj *p)
{
	if (p->nosave || p->through == p->snap_pos)
		return EG_OK;
	eg_store *st = p->st;
	if (write_at(p->fd_ent, p->ent.p, p->ent.n, p->nent_saved * p->es) ||
	    write_at(p->fd_chunk, p->chunk.p, p->chunk.n, p->chunks_saved) ||
	    fdatasync(p->fd_ent) || fdatasync(p->fd_chunk))
		return st_errno(st, "cannot write %s", p->dir);
	uint64_t ident;
	int rc = event_ident(p, p->through, &ident);
	if (rc)
		return rc;
	size_t n = SNAP_HDR + (size_t)p->nkeys * sizeof(pkey) + p->texts.n + 4;
	unsigned char *b = calloc(1, n);
	if (!b)
		return st_err(st, EG_ENOMEM, "out of memory");
	memcpy(b, SNAP_MAGIC, 8);
	wr32(b + 8, SNAP_VERSION);
	wr32(b + 12, (uint32_t)p->es);
	memcpy(b + 16, p->spec->hash, 32);
	wr64(b + 48, p->through);
	wr64(b + 56, nent(p));
	wr64(b + 64, p->chunks_saved + p->chunk.n);
	wr64(b + 72, p->nkeys);
	wr64(b + 80, p->texts.n);
	wr64(b + 88, ident);
	wr32(b + 100, (uint32_t)p->cs);
	wr64(b + 104, p->no_key);
	memcpy(b + SNAP_HDR, p->keys, (size_t)p->nkeys * sizeof(pkey));
	memcpy(b + SNAP_HDR + (size_t)p->nkeys * sizeof(pkey), p->texts.p, p->texts.n);
	wr32(b + n - 4, (uint32_t)XXH3_64bits(b, n - 4));
	char tmp[PATH_MAX], path[PATH_MAX];
	path_of(p, "snap.tmp", tmp);
	path_of(p, "snap", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	rc = EG_OK;
	if (fd < 0 || os_pwrite_all(fd, b, n, 0) || fdatasync(fd) || rename(tmp, path))
		rc = st_errno(st, "cannot write %s", path);
	if (fd >= 0)
		close(fd);
	free(b);
	if (rc)
		return rc;
	p->nent_saved = nent(p);
	p->chunks_saved += p->chunk.n;
	p->ent.n = p->chunk.n = 0;
	p->snap_pos = p->through;
	p->saved++;
	return map_saved(p);
}

/* ------------------------------------------------------------ catch-up */

typedef struct progress {
	eg_progress_fn fn;
	void *ctx;
} progress;

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
	eg_filter f = { .from = p->through + 1, .to = h.pos };
	const char *names[PROJ_MAX_TYPES];
	if (s->filter) {
		/* the filter's types only: the spec's other names are field types
		 * (eg_iter_new copies them) */
		for (int i = 0; i < s->ntypes; i++)
			if (s->types >> i & 1)
				names[f.ntypes++] = s->tnames[i];
		f.types = names;
	}
	eg_iter *it;
	if ((rc = eg_iter_new(p->st, &it, &f)))
		return rc;
	const eg_event *e;
	uint64_t next_b = (p->through / every + 1) * every, tick = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		while (e->pos > next_b) {
			/* every event <= next_b is folded */
			p->through = next_b;
			if (next_b == last_b || next_b - p->snap_pos >= SAVE_EVERY_MIN)
				if ((rc = save_snapshot(p)))
					goto out;
			next_b += every;
		}
		if ((rc = add_event(p, e)))
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
	eg_iter_free(it);
	return rc;
}

static int lock_dir(eg_proj *p)
{
	if (p->lockfd < 0)
		return EG_OK;
	while (flock(p->lockfd, LOCK_EX) != 0)
		if (errno != EINTR)
			return st_errno(p->st, "cannot lock %s", p->dir);
	return EG_OK;
}

static void unlock_dir(eg_proj *p)
{
	if (p->lockfd >= 0)
		flock(p->lockfd, LOCK_UN);
}

/* Open (creating) the derived directory; on failure fold in memory only. */
static void open_dir(eg_proj *p)
{
	char hex[65], path[PATH_MAX];
	eg_proj_spec_hash(p->spec, hex);
	snprintf(path, sizeof path, "%s/idx/proj", p->st->dir);
	mkdir(path, 0755);
	snprintf(p->dir, sizeof p->dir, "%s/idx/proj/%.32s", p->st->dir, hex);
	mkdir(p->dir, 0755);
	char f[PATH_MAX];
	path_of(p, "lock", f);
	p->lockfd = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	path_of(p, "entries", f);
	p->fd_ent = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	path_of(p, "chunks", f);
	p->fd_chunk = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	path_of(p, "spec.json", f);
	if (p->lockfd >= 0 && access(f, F_OK) != 0) {
		/* kept so that reindex can rebuild this projection */
		int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (p->spec->src && os_pwrite_all(fd, p->spec->src, p->spec->srclen, 0))
				unlink(f);
			close(fd);
		}
	}
	if (p->lockfd < 0 || p->fd_ent < 0 || p->fd_chunk < 0) {
		p->nosave = 1;
		/* in memory only: nothing saved, nothing mapped */
		if (p->lockfd >= 0)
			close(p->lockfd);
		if (p->fd_ent >= 0)
			close(p->fd_ent);
		if (p->fd_chunk >= 0)
			close(p->fd_chunk);
		p->lockfd = p->fd_ent = p->fd_chunk = -1;
	}
}

/* Copy a spec through its own parser: the handle owns it. */
static eg_proj_spec *spec_copy(const eg_proj_spec *s)
{
	eg_proj_spec *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	*c = *s;
	c->src = malloc(s->srclen + 1);
	if (c->src)
		memcpy(c->src, s->src, s->srclen + 1);
	c->name = strdup(s->name);
	c->key.text = strdup(s->key.text);
	c->key.seg = s->key.nseg ? calloc((size_t)s->key.nseg, sizeof(char *)) : NULL;
	for (int i = 0; i < s->key.nseg; i++)
		c->key.seg[i] = strdup(s->key.seg[i]);
	c->tnames = calloc((size_t)s->ntypes + 1, sizeof(char *));
	for (int i = 0; i < s->ntypes; i++)
		c->tnames[i] = strdup(s->tnames[i]);
	for (int i = 0; i < s->nf; i++) {
		pfield *f = &c->f[i];
		f->name = strdup(s->f[i].name);
		f->path.text = s->f[i].path.text ? strdup(s->f[i].path.text) : NULL;
		f->path.seg = f->path.nseg ? calloc((size_t)f->path.nseg, sizeof(char *)) : NULL;
		for (int k = 0; k < f->path.nseg; k++)
			f->path.seg[k] = strdup(s->f[i].path.seg[k]);
	}
	for (int i = 0; i < s->nf; i++)
		if (s->f[i].num >= 0)
			c->nums[s->f[i].num] = &c->f[i].path;
	return c;
}

int eg_proj_open(eg_store *st, const eg_proj_spec *spec, eg_progress_fn fn, void *ctx,
		 eg_proj **out)
{
	*out = NULL;
	eg_proj *p = calloc(1, sizeof *p);
	if (!p || !(p->spec = spec_copy(spec))) {
		free(p);
		return st_err(st, EG_ENOMEM, "out of memory");
	}
	p->st = st;
	p->es = sizeof(pent) + (size_t)spec->nnum * sizeof(num);
	p->cs = sizeof(pchunk) + (size_t)spec->nf * sizeof(pagg) + CHUNK * p->es;
	p->lockfd = p->fd_ent = p->fd_chunk = -1;
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
		int fd = p->nosave ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (os_pread_all(fd, hdr, SNAP_HDR, 0) == 0 && rd64(hdr + 48) != p->snap_pos) {
				eg_head h;
				if (!(rc = eg_store_head(p->st, &h)))
					rc = load_snapshot(p, h.pos);
			}
			close(fd);
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
	if (p->lockfd >= 0)
		close(p->lockfd);
	if (p->fd_ent >= 0)
		close(p->fd_ent);
	if (p->fd_chunk >= 0)
		close(p->fd_chunk);
	eg_iter_free(p->rit);
	free(p->blk);
	free(p->evbuf);
	free(p->ent.p);
	free(p->chunk.p);
	free(p->texts.p);
	free(p->out.p);
	free(p->keys);
	free(p->hslot);
	eg_proj_spec_free(p->spec);
	free(p);
}

/* -------------------------------------------------------------- queries */

/* Load idx/blocks into memory (once per handle, again when it grew):
 * finding an event or a record time is then a search in memory. */
static int load_blocks(eg_proj *p)
{
	eg_store *st = p->st;
	uint64_t n = st->ix.usable ? index_nblocks(st) : 0;
	if (n == p->nblk)
		return EG_OK;
	if (n < p->nblk)           /* rebuilt: read it all again */
		p->nblk = 0;
	block *b = realloc(p->blk, (n ? n : 1) * sizeof *b);
	if (!b)
		return st_err(st, EG_ENOMEM, "out of memory");
	p->blk = b;
	int rc = n > p->nblk ? index_read_blocks(st, p->nblk, n - p->nblk, b + p->nblk) : EG_OK;
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

static void key_state(eg_proj *p, uint32_t id, int64_t t, uint64_t pk, pstate *st)
{
	memset(st, 0, sizeof *st);
	const pkey *k = &p->keys[id];
	fold_entries(p, st, k->last, k->nopen, t, pk);
	for (uint64_t off = k->chunk; off; ) {
		const pchunk *c = chunk_at(p, off - 1);
		off = c->prev;
		if (c->minpos > pk || c->mintime > t)
			continue;
		if (c->maxpos <= pk && c->maxtime <= t) {
			merge_chunk(p->spec, st, c);
			p->q_chunks++;
			continue;
		}
		const unsigned char *ce = chunk_ents(p, c);
		for (uint32_t j = 0; j < c->n; j++) {
			const pent *e = (const pent *)(ce + (size_t)j * p->es);
			p->q_entries++;
			if (e->time <= t && e->pos <= pk)
				fold(p->spec, st, e);
		}
	}
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
	uint32_t s = b ? log_seg_index(lg, b->seg_first_pos) : UINT32_MAX;
	if (b && s != UINT32_MAX && pos >= b->first_pos && pos < b->first_pos + b->count &&
	    b->bytes && b->bytes <= (1u << 20)) {
		/* one pread of the block's records, then a walk in memory: far
		 * cheaper than touching the log's mapping header by header */
		if (b->bytes > p->evcap) {
			unsigned char *nb = realloc(p->evbuf, b->bytes);
			if (!nb)
				return st_err(st, EG_ENOMEM, "out of memory");
			p->evbuf = nb;
			p->evcap = b->bytes;
		}
		if (os_pread_all(lg->segs[s].fd, p->evbuf, b->bytes, (off_t)b->off))
			return st_errno(st, "cannot read segment %020llu.seg",
					(unsigned long long)b->seg_first_pos);
		size_t off = 0;
		for (uint64_t q = b->first_pos; q <= pos && off < b->bytes; q++) {
			int type;
			size_t len = rec_peek(p->evbuf + off, b->bytes - off, &type);
			if (!len || type != REC_EVENT)
				break;
			if (q == pos) {
				if (!rec_event_decode(p->evbuf + off, len, &p->rev) || p->rev.ev.pos != pos)
					return st_err(st, EG_ECORRUPT, "record at segment %020llu.seg "
						      "offset %llu fails its check; run engram verify",
						      (unsigned long long)b->seg_first_pos,
						      (unsigned long long)(b->off + off));
				p->rev.ev.recorded = b->recorded;
				if (p->rev.ev.time == INT64_MIN)
					p->rev.ev.time = b->recorded;
				*e = &p->rev.ev;
				return EG_OK;
			}
			off += len;
		}
	}
	eg_iter_free(p->rit);
	p->rit = NULL;
	eg_filter f = { .from = pos, .to = pos, .limit = 1 };
	if ((rc = eg_iter_new(p->st, &p->rit, &f)))
		return rc;
	rc = eg_iter_next(p->rit, e);
	if (rc == EG_END)
		rc = st_err(p->st, EG_ECORRUPT, "projection names event %llu, which the log "
			    "does not hold; run engram reindex", (unsigned long long)pos);
	return rc;
}

static int out_add(eg_proj *p, const void *s, size_t n)
{
	return buf_add(&p->out, s, n) ? st_err(p->st, EG_ENOMEM, "out of memory") : EG_OK;
}

static int out_str(eg_proj *p, const char *s, size_t n)
{
	if (buf_reserve(&p->out, 6 * n + 2))
		return st_err(p->st, EG_ENOMEM, "out of memory");
	p->out.n += json_quote(s, n, (char *)p->out.p + p->out.n);
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
	if (f->path.root == P_TIME)
		return out_time(p, a->t);
	if (f->path.root == P_POS) {
		int n = snprintf(nb, sizeof nb, "%llu", (unsigned long long)a->p);
		return out_add(p, nb, (size_t)n);
	}
	if ((rc = event_at(p, a->p, &e)))
		return rc;
	switch (f->path.root) {
	case P_STREAM: return out_str(p, e->stream, e->stream_len);
	case P_TYPE: return out_str(p, e->type, e->type_len);
	case P_ACTOR: return out_str(p, e->actor, e->actor_len);
	case P_SESSION: return out_str(p, e->session, e->session_len);
	case P_ID: return out_str(p, e->id, e->id_len);
	case P_RECORDED: return out_time(p, e->recorded);
	case P_VERSION: {
		int n = snprintf(nb, sizeof nb, "%llu", (unsigned long long)e->version);
		return out_add(p, nb, (size_t)n);
	}
	default: {
		json_span v;
		if (!proj_path_value(e, &f->path, &v))
			return st_err(p->st, EG_ECORRUPT, "event %llu lost the value of %s; run "
				      "engram reindex", (unsigned long long)a->p, f->path.text);
		if (buf_reserve(&p->out, v.n))
			return st_err(p->st, EG_ENOMEM, "out of memory");
		p->out.n += json_minify(&v, (char *)p->out.p + p->out.n);
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
			n = nacc_format(&a->v, t);
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
static int row_out(eg_proj *p, uint32_t id, const unsigned char *vals, const size_t *offs,
		   int64_t from, int64_t to, eg_proj_row_fn fn, void *ctx)
{
	int nf = p->spec->nf;
	for (int i = 0; i < nf; i++) {
		p->vals[i] = (const char *)vals + offs[i];
		p->lens[i] = offs[i + 1] - offs[i];
	}
	const pkey *k = &p->keys[id];
	eg_proj_row row = { (const char *)p->texts.p + k->toff, k->tlen, (size_t)nf,
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
	for (int i = 0; i < p->spec->nf; i++)
		p->fst[i].name = p->spec->f[i].name;
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
		size_t k = json_quote(key, n, q);
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
	count_fields(p, &st);
	return st.events ? emit(p, id, &st, fn, ctx) : EG_OK;
}

static int key_cmp(const void *a, const void *b, void *ctx)
{
	const eg_proj *p = ctx;
	const pkey *x = &p->keys[*(const uint32_t *)a], *y = &p->keys[*(const uint32_t *)b];
	size_t n = x->tlen < y->tlen ? x->tlen : y->tlen;
	int c = memcmp(p->texts.p + x->toff, p->texts.p + y->toff, n);
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
		return st_err(p->st, EG_ENOMEM, "out of memory");
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
		return st_err(p->st, EG_ENOMEM, "out of memory");
	for (uint64_t i = p->keys[id].last; i; ) {
		const pent *e = ent_at(p, i - 1);
		i = e->prev;
		p->q_entries++;
		if (e->time > t || e->pos > pk)
			continue;
		if (ne == cap) {
			const pent **nv = realloc(v, 2 * cap * sizeof *v);
			if (!nv) {
				free(v);
				return st_err(p->st, EG_ENOMEM, "out of memory");
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
			rc = st_err(p->st, EG_ENOMEM, "out of memory");
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
}

int proj_rebuild_all(eg_store *st)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/idx/proj", st->dir);
	DIR *d = opendir(path);
	if (!d)
		return EG_OK;
	int rc = EG_OK;
	struct dirent *de;
	while (rc == EG_OK && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char dir[PATH_MAX], f[PATH_MAX];
		snprintf(dir, sizeof dir, "%s/%s", path, de->d_name);
		static const char *const derived[] = { "snap", "snap.tmp", "entries", "chunks" };
		for (size_t i = 0; i < sizeof derived / sizeof *derived; i++) {
			snprintf(f, sizeof f, "%s/%s", dir, derived[i]);
			unlink(f);
		}
		snprintf(f, sizeof f, "%s/spec.json", dir);
		int fd = open(f, O_RDONLY | O_CLOEXEC);
		struct stat sb;
		char *json = NULL;
		if (fd >= 0 && fstat(fd, &sb) == 0 && (json = malloc((size_t)sb.st_size + 1)) &&
		    os_pread_all(fd, json, (size_t)sb.st_size, 0) != 0) {
			free(json);
			json = NULL;
		}
		if (fd >= 0)
			close(fd);
		eg_proj_spec *spec = NULL;
		char err[256];
		if (!json || eg_proj_spec_parse(json, (size_t)sb.st_size, &spec, err, sizeof err)) {
			/* not a projection we can rebuild: drop it */
			unlink(f);
			snprintf(f, sizeof f, "%s/lock", dir);
			unlink(f);
			rmdir(dir);
		} else {
			eg_proj *p;
			if ((rc = eg_proj_open(st, spec, NULL, NULL, &p)) == EG_OK)
				eg_proj_close(p);
		}
		eg_proj_spec_free(spec);
		free(json);
	}
	closedir(d);
	return rc;
}

/*
 * colwrite.c — building the column files (idx/col/v1/, docs/FORMAT.md):
 * one block file per 65536 committed events, built from the log by a
 * read handle of its own, so that it runs on a thread of the writer
 * without touching the writer's state, and off append's critical path.
 *
 * Crash safety follows the derived module: a block is written to a .tmp
 * file, synced and renamed into place (eg_ds_wr), so a block file is
 * whole or absent.  The store-wide string dictionaries (idx/col/v1/dict)
 * are appended, and synced before the block that refers to them is
 * renamed in; each block records the dictionary length it needs, and a
 * builder cuts what lies past the last block's (a torn append) before it
 * appends again.  Blocks are built in order, so the files are the blocks
 * 0..K-1.
 *
 * Speed (docs/STORAGE.md, "Building"): the log is read once, each event's
 * data walked once into per-path value lists; one thread reads block k+1
 * while another encodes, compresses (with a helper) and writes block k.
 */
#include "colint.h"
#include "derived.h"
#include "internal.h"
#include "itab.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* zstd level of the frames: see docs/STORAGE.md, "Column files". */
int eg_col_zlevel = 1;

/* ENGRAM_COL_ZLEVEL: a bench knob (the level measurements), not a setting;
 * any level's frames read the same. */
__attribute__((constructor)) static void zlevel_from_env(void)
{
	const char *v = getenv("ENGRAM_COL_ZLEVEL");
	long n = v ? strtol(v, NULL, 10) : 0;
	if (n >= 1 && n <= 19)
		eg_col_zlevel = (int)n;
}

#define SPEC "{\"columns\":\"v1\"}"

/* A store-wide path: its segments and its string dictionary. */
typedef struct wpath {
	char *key;                    /* segments, each u32 length + bytes */
	uint32_t key_len;
	int nseg;
	itab str;                     /* texts in id order */
	uint32_t synced;              /* texts in the dictionary file */
	int defined;                  /* its path record is in the file */
} wpath;

typedef struct builder {
	eg_store *st;                 /* the builder's own read handle */
	eg_ds d;
	int dict_fd;
	uint64_t dict_len;            /* bytes of the dictionary file kept */
	wpath *p;
	size_t np, capp;
	itab pkeys;                   /* path key -> index in p */
	uint64_t nblocks;             /* block files 0..nblocks-1 */
	buf raw[COL_MAX_PATHS + 5];   /* a block's columns before compression */
	buf z[COL_MAX_PATHS + 5];     /*   and after */
	ZSTD_CCtx *cctx;
	buf dict;                     /* dictionary records to append */
	uint64_t *u64;                /* scratch: a column's values */
	size_t capu64;
	uint32_t *map;                /* scratch: a block's string ids to the store's */
	size_t capmap;
	/* two blocks' events as read: one filled while the other is built */
	struct slab {
		uint64_t k;                   /* the block */
		uint32_t n;
		uint64_t ident;               /* eg_event_ident of its last event */
		int64_t *time, *recorded;
		uint32_t *stream, *type;
		uint8_t *kind;
		size_t *doff;                 /* event j's data: data[doff[j], doff[j+1]) */
		buf data;
	} sl[2];
	/* the data's paths of the block being built */
	struct node *nodes;           /* 0: the data object; n: names id n-1 */
	size_t nn, capn;
	itab names;                   /* parent node (u32) + member name */
	buf kbuf;
	uint32_t *pick;               /* the nodes given columns */
	size_t cappick;
	long *pickw;                  /*   their store-wide paths */
	size_t cappickw;
	itab keys;                    /* space byte + stream or type name */
	uint32_t *kid;                /*   their key ids */
	size_t capkid;
	uint32_t nkid;
	char *err;
	size_t errlen;
} builder;

typedef struct slab slab;

static int bfail(builder *b, int code, const char *what)
{
	if (b->err && !b->err[0])
		snprintf(b->err, b->errlen, "column files: %s%s%s", what,
			 code == EG_EIO && errno ? ": " : "", code == EG_EIO && errno ? strerror(errno) : "");
	return code;
}

static void block_name(uint64_t k, char out[32])
{
	snprintf(out, 32, "b%010llu", (unsigned long long)k);
}

/* ------------------------------------------------------------ paths */

/* The store-wide path of key (added if new): its index, or -1. */
static long path_get(builder *b, const char *key, uint32_t n, int nseg)
{
	uint64_t hv = XXH3_64bits(key, n);
	uint32_t j = eg_itab_get(&b->pkeys, hv, key, n);
	if (j == UINT32_MAX)
		return -1;
	if (j < b->np)
		return j;
	if (buf_grow(&b->p, &b->capp, b->np + 1, sizeof *b->p))
		return -1;
	wpath *w = &b->p[b->np];
	memset(w, 0, sizeof *w);
	w->key = malloc(n ? n : 1);
	if (!w->key)
		return -1;
	memcpy(w->key, key, n);
	w->key_len = n;
	w->nseg = nseg;
	b->np++;
	return j;
}

/* ------------------------------------------------------- the dictionary */

/* Read the dictionary's first need bytes (what the blocks there are
 * refer to) and cut the rest: EG_OK, 1 when those bytes are not a whole
 * dictionary (start over), or EG_EIO. */
static int dict_load(builder *b, uint64_t need)
{
	char path[PATH_MAX];
	eg_ds_path(&b->d, "dict", path);
	b->dict_fd = eg_os.open(path, O_RDWR | O_CREAT, 0644);
	if (b->dict_fd < 0)
		return bfail(b, EG_EIO, "cannot open the dictionary");
	off_t size = eg_os_file_size(b->dict_fd);
	if (size < 0 || (uint64_t)size < need)
		return 1;             /* the blocks need more than there is */
	unsigned char *p = malloc(need ? need : 1);
	if (!p || eg_os_pread_all(b->dict_fd, p, need, 0)) {
		free(p);
		return bfail(b, EG_EIO, "cannot read the dictionary");
	}
	size_t off = 0;
	int rc = 0;
	while (off < need && !rc) {
		coldict_rec r;
		if (eg_col_dict_rec(p, need, off, &r) || r.path > b->np ||
		    (r.kind == 2 && r.path >= b->np)) {
			rc = -1;
			break;
		}
		off = r.next;
		if (r.kind == 1) {
			if (r.path != b->np || path_get(b, (const char *)r.body, (uint32_t)r.body_len,
							(int)r.nseg) != (long)r.path)
				rc = -1;
			else
				b->p[r.path].defined = 1;
			continue;
		}
		wpath *w = &b->p[r.path];
		if (r.first != w->str.n) {
			rc = -1;
			break;
		}
		const unsigned char *q = r.body;
		for (uint32_t i = 0; i < r.count; i++) {
			uint32_t l = rd32(q);
			if (eg_itab_get(&w->str, XXH3_64bits(q + 4, l), (const char *)q + 4, l) !=
			    r.first + i) {
				rc = -1;
				break;
			}
			q += 4 + l;
		}
		w->synced = w->str.n;
	}
	free(p);
	if (rc)
		return 1;
	b->dict_len = need;
	if ((uint64_t)size > need && eg_os.ftruncate(b->dict_fd, (off_t)need))
		return bfail(b, EG_EIO, "cannot cut the dictionary");
	return 0;
}

/* One dictionary record (kind, path, then body) onto b->dict. */
static int dict_rec(builder *b, int kind, uint32_t path, const void *head, size_t hn,
		    const void *body, size_t bn)
{
	uint32_t len = (uint32_t)(1 + 4 + hn + bn), check = 0;
	size_t at = b->dict.n;
	unsigned char k = (unsigned char)kind;
	if (buf_add(&b->dict, &len, 4) || buf_add(&b->dict, &check, 4) ||
	    buf_add(&b->dict, &k, 1) || buf_add(&b->dict, &path, 4) ||
	    buf_add(&b->dict, head, hn) || buf_add(&b->dict, body, bn))
		return -1;
	check = (uint32_t)XXH3_64bits(b->dict.p + at + 8, len);
	memcpy(b->dict.p + at + 4, &check, 4);
	return 0;
}

/* The records for paths and texts the file lacks, appended and synced. */
static int dict_sync(builder *b)
{
	b->dict.n = 0;
	buf body = { 0 };
	int rc = 0;
	for (size_t i = 0; i < b->np && !rc; i++) {
		wpath *w = &b->p[i];
		uint32_t nseg = (uint32_t)w->nseg;
		if (!w->defined)
			rc = dict_rec(b, 1, (uint32_t)i, &nseg, 4, w->key, w->key_len);
		if (rc || w->synced == w->str.n)
			continue;
		body.n = 0;
		for (uint32_t id = w->synced; id < w->str.n && !rc; id++) {
			uint32_t l = w->str.e[id].len;
			rc = buf_add(&body, &l, 4) || buf_add(&body, itab_text(&w->str, id), l);
		}
		uint32_t h[2] = { w->synced, w->str.n - w->synced };
		rc = rc || dict_rec(b, 2, (uint32_t)i, h, 8, body.p, body.n);
	}
	free(body.p);
	if (rc)
		return bfail(b, EG_ENOMEM, "out of memory");
	if (!b->dict.n)
		return 0;
	if (eg_os_pwrite_all(b->dict_fd, b->dict.p, b->dict.n, (off_t)b->dict_len) ||
	    eg_os.fdatasync(b->dict_fd))
		return bfail(b, EG_EIO, "cannot write the dictionary");
	b->dict_len += b->dict.n;
	for (size_t i = 0; i < b->np; i++) {
		b->p[i].defined = 1;
		b->p[i].synced = b->p[i].str.n;
	}
	return 0;
}

/* ------------------------------------------------------ one block's data */

/* A block is read from the log once: each event's data walked once, every
 * member to the depth cap recorded at its path (a node of the tree of
 * names), as the engines' lookup (eg_json_members_valid, then the same for
 * each deeper segment) finds it: names decoded, a name it cannot match
 * (escaped, longer than its buffer) left out, and of a repeated name the
 * last member alone.  A repeat shows as a path given twice in one event;
 * such an event (rare) is walked again dropping every member that a later
 * one of the same name overrides. */

#define WALK_DUP 1

/* A path's value in one event. */
typedef struct vent {
	uint32_t k;                   /* the event's slot in the block */
	uint8_t tag;                  /* EG_CT_* */
	int64_t x;                    /* INT the value; STR, RAW the block's id */
} vent;

typedef struct node {
	uint32_t parent;              /* node index; 0 is the data object */
	int depth;                    /* its segments */
	uint32_t *order;              /* its members' nodes by index, as last seen */
	size_t norder, caporder;
	vent *v;                      /* its values, in event order */
	size_t nv, capv;
	itab str, raw;                /* texts of STR and RAW values, first seen first */
} node;

/* One member's name as the lookup compares it; 0, or -1 when the lookup
 * never matches it. */
static int member_name(const json_span *k, char dec[256], const char **kp, size_t *kn)
{
	*kp = k->p + 1;
	*kn = k->n - 2;
	if (eg_json_string_is_plain(k))
		return 0;
	if (k->n > 256)
		return -1;            /* eg_json_members_valid never matches it */
	*kn = eg_json_string_decode(k, dec);
	*kp = dec;
	return 0;
}

static void nodes_reset(builder *b)
{
	for (size_t i = 0; i < b->nn; i++) {
		free(b->nodes[i].order);
		free(b->nodes[i].v);
		eg_itab_free(&b->nodes[i].str);
		eg_itab_free(&b->nodes[i].raw);
	}
	eg_itab_free(&b->names);
	memset(&b->names, 0, sizeof b->names);
	b->nn = 0;
	if (!buf_grow(&b->nodes, &b->capn, 1, sizeof *b->nodes)) {
		memset(&b->nodes[0], 0, sizeof b->nodes[0]);
		b->nn = 1;
	}
}

/* The node of member m (name kp) of node P's object: its index, or
 * UINT32_MAX when out of memory.  The member at that index last time is
 * tried first (the events of a block mostly have one shape). */
static uint32_t child(builder *b, uint32_t P, size_t m, const char *kp, size_t kn)
{
	node *p = &b->nodes[P];
	if (m != SIZE_MAX && m < p->norder) {
		uint32_t c = p->order[m];
		const sname *e = &b->names.e[c - 1];
		if (e->len == kn + 4 && !memcmp(itab_text(&b->names, c - 1) + 4, kp, kn))
			return c;
	}
	b->kbuf.n = 0;
	if (buf_add(&b->kbuf, &P, 4) || buf_add(&b->kbuf, kp, kn))
		return UINT32_MAX;
	uint32_t j = eg_itab_get(&b->names, XXH3_64bits(b->kbuf.p, b->kbuf.n), b->kbuf.p,
				 (uint32_t)b->kbuf.n);
	if (j == UINT32_MAX)
		return UINT32_MAX;
	uint32_t c = j + 1;
	if (c == b->nn) {             /* new */
		if (buf_grow(&b->nodes, &b->capn, (size_t)c + 1, sizeof *b->nodes))
			return UINT32_MAX;
		memset(&b->nodes[c], 0, sizeof b->nodes[c]);
		b->nodes[c].parent = P;
		b->nodes[c].depth = b->nodes[P].depth + 1;
		b->nn++;
	}
	p = &b->nodes[P];
	if (m == SIZE_MAX)            /* not by index */
		return c;
	if (m >= p->norder) {
		if (buf_grow(&p->order, &p->caporder, m + 1, sizeof *p->order))
			return UINT32_MAX;
		while (p->norder <= m)
			p->order[p->norder++] = c;
	}
	p->order[m] = c;
	return c;
}

/* Value v of event k at node c: 0, WALK_DUP (c has one for k), -1. */
static int record(node *c, uint32_t k, const json_span *v)
{
	if (c->nv && c->v[c->nv - 1].k == k)
		return WALK_DUP;
	if (buf_grow(&c->v, &c->capv, c->nv + 1, sizeof *c->v))
		return -1;
	vent *e = &c->v[c->nv];
	e->k = k;
	e->x = 0;
	switch (v->type) {
	case JSON_NULL: e->tag = EG_CT_NULL; break;
	case JSON_FALSE: e->tag = EG_CT_FALSE; break;
	case JSON_TRUE: e->tag = EG_CT_TRUE; break;
	case JSON_STRING:
		e->tag = EG_CT_STR;
		e->x = eg_itab_get(&c->str, XXH3_64bits(v->p, v->n), v->p, (uint32_t)v->n);
		break;
	default:
		e->tag = EG_CT_RAW;
		if (v->type == JSON_NUMBER && eg_col_canonical_int(v->p, v->n, &e->x)) {
			e->tag = EG_CT_INT;
			break;
		}
		e->x = eg_itab_get(&c->raw, XXH3_64bits(v->p, v->n), v->p, (uint32_t)v->n);
		break;
	}
	if (e->x == UINT32_MAX && (e->tag == EG_CT_STR || e->tag == EG_CT_RAW))
		return -1;
	c->nv++;
	return 0;
}

/* Is member i's name (of the object's names) given again after it? */
static int overridden(const buf *nm, const size_t *at, size_t nmem, size_t i)
{
	size_t li = at[i + 1] - at[i];
	for (size_t j = i + 1; j < nmem; j++)
		if (at[j + 1] - at[j] == li && !memcmp(nm->p + at[j], nm->p + at[i], li))
			return 1;
	return 0;
}

/* The members of object o (node P, depth d) of event k: 0, WALK_DUP, -1.
 * careful: leave out the members a later one overrides. */
static int walk(builder *b, uint32_t P, const json_span *o, int d, uint32_t k, int careful)
{
	json_obj it;
	json_span key, v;
	buf nm = { 0 };
	size_t *at = NULL, nmem = 0, capat = 0;
	int r = 0;
	if (careful) {               /* the names first */
		if (eg_json_obj_begin(&it, o->p, o->n, NULL))
			return 0;
		while (!r && eg_json_obj_next(&it, &key, &v, NULL) == 1) {
			char dec[256];
			const char *kp;
			size_t kn;
			if (member_name(&key, dec, &kp, &kn))
				continue;
			if (buf_grow(&at, &capat, nmem + 2, sizeof *at) || buf_add(&nm, kp, kn))
				r = -1;
			else
				at[++nmem] = nm.n;
		}
		if (at)
			at[0] = 0;
	}
	if (!r && !eg_json_obj_begin(&it, o->p, o->n, NULL)) {
		size_t m = 0;
		while (!r && eg_json_obj_next(&it, &key, &v, NULL) == 1) {
			char dec[256];
			const char *kp;
			size_t kn;
			if (member_name(&key, dec, &kp, &kn))
				continue;
			if (careful && overridden(&nm, at, nmem, m++))
				continue;
			uint32_t c = careful ? child(b, P, SIZE_MAX, kp, kn)
					     : child(b, P, m++, kp, kn);
			if (c == UINT32_MAX)
				r = -1;
			else if (!(r = record(&b->nodes[c], k, &v)) && v.type == JSON_OBJECT &&
				 d + 1 < COL_MAX_DEPTH)
				r = walk(b, c, &v, d + 1, k, careful);
		}
	}
	free(nm.p);
	free(at);
	return r;
}

/* The key id (idx/keys id + 1) of name (space 0 stream, 1 type): 0 for
 * none, EG_COL_KEY_LOCAL for one the index lacks, UINT32_MAX when out of
 * memory. */
static uint32_t key_id(builder *b, int space, const char *name, size_t n)
{
	if (!n)
		return 0;
	int fresh;
	uint32_t j = eg_col_key_slot(&b->keys, space, name, n, &fresh);
	if (j == UINT32_MAX || buf_grow(&b->kid, &b->capkid, (size_t)j + 1, sizeof *b->kid))
		return UINT32_MAX;
	if (fresh) {
		uint64_t v = eg_index_key_find(b->st, space, name, n);   /* id + 1 */
		b->kid[b->nkid++] = v && v < EG_COL_KEY_LOCAL ? (uint32_t)v : EG_COL_KEY_LOCAL;
	}
	return b->kid[j];
}

/* Event e into slot k of sl: its envelope and a copy of its data (the
 * reading side of the pipeline). */
static int slab_event(builder *b, slab *sl, const eg_event *e, uint32_t k)
{
	sl->time[k] = e->time;
	sl->recorded[k] = e->recorded;
	sl->kind[k] = (uint8_t)e->kind;
	if ((sl->stream[k] = key_id(b, 0, e->stream, e->stream_len)) == UINT32_MAX ||
	    (sl->type[k] = key_id(b, 1, e->type, e->type_len)) == UINT32_MAX ||
	    buf_add(&sl->data, e->data, e->data_len))
		return -1;
	sl->doff[k + 1] = sl->data.n;
	return 0;
}

/* Event k's data of sl into the paths (the building side). */
static int block_event(builder *b, const slab *sl, uint32_t k)
{
	size_t len = sl->doff[k + 1] - sl->doff[k];
	if (!len)
		return 0;
	json_span o = { sl->data.p + sl->doff[k], len, JSON_OBJECT };
	int r = walk(b, 0, &o, 0, k, 0);
	if (r == WALK_DUP) {         /* again, the overridden members left out */
		for (size_t i = 1; i < b->nn; i++)
			if (b->nodes[i].nv && b->nodes[i].v[b->nodes[i].nv - 1].k == k)
				b->nodes[i].nv--;
		r = walk(b, 0, &o, 0, k, 1);
	}
	return r ? -1 : 0;
}

/* ------------------------------------------------------------ encoding */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* n values packed (colint.h) onto r. */
static int put_packed(buf *r, const uint64_t *v, uint32_t n)
{
	uint64_t max = 0;
	for (uint32_t k = 0; k < n; k++)
		max = v[k] > max ? v[k] : max;
	size_t len = eg_col_packed_len(max, n);
	if (buf_reserve(r, len))
		return -1;
	r->n += eg_col_pack((unsigned char *)r->p + r->n, v, n, max);
	return 0;
}

static int grow_u64(builder *b, uint32_t n)
{
	return buf_grow(&b->u64, &b->capu64, (size_t)n + 1, sizeof *b->u64);
}

/* Times: the first as an i64, then the zigzag of each one's difference
 * from the one before (the first's 0), packed. */
static int put_times(builder *b, buf *r, const int64_t *v, uint32_t n)
{
	if (grow_u64(b, n) || buf_add(r, &v[0], 8))
		return -1;
	int64_t prev = v[0];
	for (uint32_t k = 0; k < n; k++) {
		b->u64[k] = eg_col_zz((int64_t)((uint64_t)v[k] - (uint64_t)prev));
		prev = v[k];
	}
	return put_packed(r, b->u64, n);
}

static int put_ids(builder *b, buf *r, const uint32_t *v, uint32_t n)
{
	if (grow_u64(b, n))
		return -1;
	for (uint32_t k = 0; k < n; k++)
		b->u64[k] = v[k];
	return put_packed(r, b->u64, n);
}

/* The column of node c (n events; the format: eg_col_path_decode) onto
 * r, its texts added to the store-wide dictionary of w; its zone map
 * into e. */
static int put_path(builder *b, buf *r, const node *c, uint32_t n, wpath *w, coldirent *e)
{
	uint32_t cnt[EG_CT_RAW + 1] = { 0 };
	if (buf_reserve(r, n) || grow_u64(b, n))
		return -1;
	unsigned char *tag = (unsigned char *)r->p + r->n;
	memset(tag, EG_CT_ABSENT, n);
	r->n += n;
	int64_t imin = 0, imax = 0;
	for (size_t j = 0; j < c->nv; j++) {
		const vent *v = &c->v[j];
		tag[v->k] = v->tag;
		cnt[v->tag]++;
		if (v->tag == EG_CT_INT) {
			if (!e->has_int || v->x < imin)
				imin = v->x;
			if (!e->has_int || v->x > imax)
				imax = v->x;
			e->has_int = 1;
		}
	}
	e->imin = imin;
	e->imax = imax;
	/* ints from their minimum */
	uint64_t base = e->has_int ? (uint64_t)imin : 0;
	uint32_t m = 0;
	for (size_t j = 0; j < c->nv; j++)
		if (c->v[j].tag == EG_CT_INT)
			b->u64[m++] = (uint64_t)c->v[j].x - base;
	if (buf_add(r, &cnt[EG_CT_INT], 4) || buf_add(r, &base, 8) || put_packed(r, b->u64, m))
		return -1;
	/* the block's string ids to the store-wide dictionary's, in order of
	 * first use (an event walked again may have left a text unused) */
	uint32_t nmap = c->str.n > c->raw.n ? c->str.n : c->raw.n;
	if (buf_grow(&b->map, &b->capmap, (size_t)nmap + 1, sizeof *b->map))
		return -1;
	memset(b->map, 0xff, ((size_t)c->str.n + 1) * sizeof *b->map);
	m = 0;
	for (size_t j = 0; j < c->nv; j++) {
		if (c->v[j].tag != EG_CT_STR)
			continue;
		uint32_t s = (uint32_t)c->v[j].x;
		if (b->map[s] == UINT32_MAX &&
		    (b->map[s] = eg_itab_get(&w->str, c->str.e[s].hash, itab_text(&c->str, s),
					     c->str.e[s].len)) == UINT32_MAX)
			return -1;
		b->u64[m++] = b->map[s];
	}
	if (buf_add(r, &cnt[EG_CT_STR], 4) || put_packed(r, b->u64, m))
		return -1;
	/* raw texts: the block's own table, in order of first use */
	memset(b->map, 0xff, ((size_t)c->raw.n + 1) * sizeof *b->map);
	uint32_t ntext = 0;
	size_t at = r->n;
	if (buf_add(r, &ntext, 4))
		return -1;
	m = 0;
	for (size_t j = 0; j < c->nv; j++) {
		if (c->v[j].tag != EG_CT_RAW)
			continue;
		uint32_t id = (uint32_t)c->v[j].x;
		if (b->map[id] == UINT32_MAX) {
			uint32_t l = c->raw.e[id].len;
			if (buf_add(r, &l, 4) || buf_add(r, itab_text(&c->raw, id), l))
				return -1;
			b->map[id] = ntext++;
		}
		b->u64[m++] = b->map[id];
	}
	memcpy(r->p + at, &ntext, 4);
	return buf_add(r, &cnt[EG_CT_RAW], 4) || put_packed(r, b->u64, m) ? -1 : 0;
}

/* ------------------------------------------------------------ one block */

static int cmp_count(const void *a, const void *b, void *ctx)
{
	const node *nodes = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (nodes[x].nv != nodes[y].nv)
		return nodes[x].nv > nodes[y].nv ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* The paths that get columns (nodes with values, the most frequent first,
 * at most COL_MAX_PATHS; a name holding a NUL cannot go through col.h's C
 * strings and gets none) into b->pick, their store-wide paths into
 * b->pickw; *covered: every path with a value has a column. */
static int choose_paths(builder *b, size_t *npick, int *covered)
{
	size_t n = 0;
	if (buf_grow(&b->pick, &b->cappick, b->nn + 1, sizeof *b->pick) ||
	    buf_grow(&b->pickw, &b->cappickw, COL_MAX_PATHS + 1, sizeof *b->pickw))
		return -1;
	for (uint32_t i = 1; i < b->nn; i++)
		if (b->nodes[i].nv)
			b->pick[n++] = i;
	qsort_r(b->pick, n, sizeof *b->pick, cmp_count, b->nodes);
	*covered = n <= COL_MAX_PATHS;
	n = n < COL_MAX_PATHS ? n : COL_MAX_PATHS;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t chain[COL_MAX_DEPTH + 1], nc = 0;
		for (uint32_t c = b->pick[i]; c && nc <= COL_MAX_DEPTH; c = b->nodes[c].parent)
			chain[nc++] = c;
		b->kbuf.n = 0;
		int nul = 0;
		while (nc--) {
			uint32_t c = chain[nc], l = b->names.e[c - 1].len - 4;
			const char *t = itab_text(&b->names, c - 1) + 4;
			nul |= memchr(t, 0, l) != NULL;
			if (buf_add(&b->kbuf, &l, 4) || buf_add(&b->kbuf, t, l))
				return -1;
		}
		if (nul) {
			*covered = 0;
			continue;
		}
		long wp = path_get(b, b->kbuf.p, (uint32_t)b->kbuf.n, b->nodes[b->pick[i]].depth);
		if (wp < 0)
			return -1;
		b->pick[k] = b->pick[i];
		b->pickw[k++] = wp;
	}
	*npick = k;
	return 0;
}

static void put_hdr(unsigned char *h, uint32_t hlen, uint32_t flags, const eg_colblock *cb,
		    int64_t rmin, int64_t rmax, uint64_t dict_len, uint64_t ident,
		    const uint32_t *types, uint32_t ntypes, const coldirent *dir, uint32_t ncols)
{
	memset(h, 0, hlen);
	memcpy(h, COL_MAGIC, 8);
	wr32(h + 8, hlen);
	wr32(h + 12, flags);
	wr64(h + 16, cb->first_pos);
	wr32(h + 24, cb->n);
	wr32(h + 28, ncols);
	wr64(h + 32, (uint64_t)cb->tmin);
	wr64(h + 40, (uint64_t)cb->tmax);
	wr64(h + 48, (uint64_t)rmin);
	wr64(h + 56, (uint64_t)rmax);
	wr64(h + 64, dict_len);
	wr32(h + 72, ntypes);
	wr64(h + 80, ident);
	unsigned char *p = h + COL_HDR_FIXED;
	for (uint32_t i = 0; i < ntypes; i++, p += 4)
		wr32(p, types[i]);
	for (uint32_t i = 0; i < ncols; i++, p += COL_DIRENT) {
		const coldirent *e = &dir[i];
		p[0] = e->what;
		p[1] = e->has_int;
		wr32(p + 4, e->path);
		wr64(p + 8, e->off);
		wr32(p + 16, e->clen);
		wr32(p + 20, e->rlen);
		wr64(p + 24, (uint64_t)e->imin);
		wr64(p + 32, (uint64_t)e->imax);
		wr32(p + 40, e->check);
	}
	wr32(p, (uint32_t)XXH3_64bits(h, hlen - 4));
}

/* The builtin columns of cb into b->raw[0..4]: times as zigzag deltas,
 * stream ids, types as indices into the header's set, kinds as bytes. */
static int put_builtins(builder *b, const eg_colblock *cb, const uint32_t *types,
			uint32_t ntypes, coldirent *dir)
{
	uint32_t n = cb->n;
	for (int w = COL_TIME; w <= COL_KIND; w++) {
		buf *r = &b->raw[w - 1];
		int bad = 0;
		r->n = 0;
		if (w == COL_TIME || w == COL_RECORDED) {
			bad = put_times(b, r, w == COL_TIME ? cb->time : cb->recorded, n);
		} else if (w == COL_STREAM) {
			bad = put_ids(b, r, cb->stream, n);
		} else if (w == COL_TYPE) {
			bad = grow_u64(b, n);
			for (uint32_t k = 0; k < n && !bad; k++) {
				const uint32_t *t = bsearch(&cb->type[k], types, ntypes, 4, cmp_u32);
				b->u64[k] = t ? (uint64_t)(t - types) : 0;
			}
			bad = bad || put_packed(r, b->u64, n);
		} else {
			bad = buf_add(r, cb->kind, n);
		}
		dir[w - 1] = (coldirent){ .what = (uint8_t)w };
		if (bad)
			return -1;
	}
	return 0;
}

/* The distinct type ids of cb, sorted, into *types (malloc'd). */
static int type_set(const eg_colblock *cb, uint32_t **types, uint32_t *n)
{
	uint32_t *t = malloc(((size_t)cb->n + 1) * sizeof *t);
	if (!t)
		return -1;
	uint32_t k = 0;   /* a block has few types: a run or a short search */
	for (uint32_t i = 0; i < cb->n; i++) {
		if (i && cb->type[i] == cb->type[i - 1])
			continue;
		uint32_t j = 0;
		while (j < k && t[j] != cb->type[i])
			j++;
		if (j == k)
			t[k++] = cb->type[i];
	}
	qsort(t, k, sizeof *t, cmp_u32);
	*types = t;
	*n = k;
	return 0;
}

/* ----------------------------------------------------- compression */

/* The columns' frames, compressed by the builder's thread and a helper
 * (two cores), each column whole by one of them. */
typedef struct zjob {
	builder *b;
	uint32_t ncols;
	uint32_t next;                /* the next column to take (atomic) */
	int failed;
} zjob;

static void zwork(zjob *j, ZSTD_CCtx *cx)
{
	builder *b = j->b;
	for (;;) {
		uint32_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
		if (i >= j->ncols)
			return;
		buf *r = &b->raw[i], *z = &b->z[i];
		size_t bound = ZSTD_compressBound(r->n);
		z->n = 0;
		size_t n = 0;
		if (!cx || buf_reserve(z, bound) ||
		    ZSTD_isError(n = ZSTD_compressCCtx(cx, z->p, bound, r->p, r->n, eg_col_zlevel))) {
			__atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
			return;
		}
		z->n = n;
	}
}

static void *zmain(void *arg)
{
	zjob *j = arg;
	ZSTD_CCtx *cx = ZSTD_createCCtx();
	zwork(j, cx);
	ZSTD_freeCCtx(cx);
	return NULL;
}

/* Below this many raw bytes a helper thread costs more than it saves. */
#define ZPAR_MIN (256u << 10)

static int compress_all(builder *b, uint32_t ncols)
{
	zjob j = { .b = b, .ncols = ncols };
	size_t total = 0;
	for (uint32_t i = 0; i < ncols; i++)
		total += b->raw[i].n;
	if (!b->cctx)
		b->cctx = ZSTD_createCCtx();
	pthread_t th;
	int par = total >= ZPAR_MIN && !pthread_create(&th, NULL, zmain, &j);
	zwork(&j, b->cctx);
	if (par)
		pthread_join(th, NULL);
	return j.failed ? -1 : 0;
}

/* Block k (its events in b's arrays, n of them) encoded, the dictionary
 * synced, then the block written whole. */
static int write_block(builder *b, const slab *sl, volatile int *stop)
{
	uint64_t k = sl->k;
	uint32_t n = sl->n;
	eg_colblock cb = { .first_pos = k * eg_colscan_block_events + 1, .n = n,
			   .time = sl->time, .recorded = sl->recorded, .stream = sl->stream,
			   .type = sl->type, .kind = sl->kind };
	uint32_t *types = NULL, ntypes = 0;
	size_t npick = 0;
	int covered = 0, rc = EG_OK;
	coldirent dir[COL_MAX_PATHS + 5];
	int64_t rmin = sl->recorded[0], rmax = sl->recorded[0];
	cb.tmin = cb.tmax = sl->time[0];
	for (uint32_t j = 0; j < n; j++) {
		rmin = sl->recorded[j] < rmin ? sl->recorded[j] : rmin;
		rmax = sl->recorded[j] > rmax ? sl->recorded[j] : rmax;
		cb.tmin = sl->time[j] < cb.tmin ? sl->time[j] : cb.tmin;
		cb.tmax = sl->time[j] > cb.tmax ? sl->time[j] : cb.tmax;
		if ((sl->stream[j] | sl->type[j]) & EG_COL_KEY_LOCAL)
			rc = EG_ECORRUPT;     /* a key the handle's index lacks */
	}
	if (rc)
		return bfail(b, rc, "the log did not give the block's events");
	nodes_reset(b);
	if (b->nn != 1)
		return bfail(b, EG_ENOMEM, "out of memory");
	for (uint32_t j = 0; j < n; j++)
		if (block_event(b, sl, j))
			return bfail(b, EG_ENOMEM, "out of memory");
	if (choose_paths(b, &npick, &covered) || type_set(&cb, &types, &ntypes))
		return bfail(b, EG_ENOMEM, "out of memory");
	uint32_t ncols = (uint32_t)npick + 5;
	uint32_t hlen = COL_HDR_FIXED + 4 * ntypes + COL_DIRENT * ncols + 4;
	if (put_builtins(b, &cb, types, ntypes, dir))
		rc = EG_ENOMEM;
	for (size_t i = 0; i < npick && !rc; i++) {
		coldirent *e = &dir[5 + i];
		*e = (coldirent){ .what = COL_PATH, .path = (uint32_t)b->pickw[i] };
		b->raw[5 + i].n = 0;
		if (put_path(b, &b->raw[5 + i], &b->nodes[b->pick[i]], n, &b->p[b->pickw[i]], e))
			rc = EG_ENOMEM;
	}
	if (!rc && compress_all(b, ncols))
		rc = EG_ENOMEM;
	uint64_t off = hlen;
	for (uint32_t i = 0; i < ncols && !rc; i++) {
		dir[i].off = off;
		dir[i].clen = (uint32_t)b->z[i].n;
		dir[i].rlen = (uint32_t)b->raw[i].n;
		dir[i].check = (uint32_t)XXH3_64bits(b->z[i].p, b->z[i].n);
		off += b->z[i].n;
	}
	uint64_t ident = sl->ident;
	if (!rc && stop && *stop)
		rc = EG_EINTR;
	if (!rc)
		rc = dict_sync(b);
	unsigned char *h = rc ? NULL : malloc(hlen);
	if (!rc && !h)
		rc = EG_ENOMEM;
	if (!rc) {
		put_hdr(h, hlen, covered ? COL_FLAG_COVERED : 0, &cb, rmin, rmax, b->dict_len,
			ident, types, ntypes, dir, ncols);
		char name[32];
		eg_ds_wr w;
		block_name(k, name);
		if (eg_ds_wr_begin(&w, &b->d, name, hlen)) {
			rc = bfail(b, EG_EIO, "cannot write a block");
		} else {
			for (uint32_t i = 0; i < ncols; i++)
				eg_ds_wr_put(&w, b->z[i].p, b->z[i].n, 0);
			if (eg_ds_wr_commit(&w, h, hlen, 0))
				rc = bfail(b, EG_EIO, "cannot write a block");
		}
	}
	if (rc == EG_ENOMEM)
		bfail(b, rc, "out of memory");
	free(h);
	free(types);
	return rc;
}

/* The building side of the pipeline: one slab's block built and written. */
typedef struct bjob {
	builder *b;
	const slab *sl;
	volatile int *stop;
	int rc;
} bjob;

static void *bmain(void *arg)
{
	bjob *j = arg;
	j->rc = write_block(j->b, j->sl, j->stop);
	return NULL;
}

/* Block k's events from the log into sl (the reading side): EG_OK,
 * EG_EINTR (stopped), or an error (not yet said: *what). */
static int fill(builder *b, eg_iter *it, slab *sl, uint64_t k, volatile int *stop,
		const char **what)
{
	uint32_t per = eg_colscan_block_events;
	uint64_t first = k * per + 1;
	const eg_event *e;
	int rc = EG_OK;
	sl->k = k;
	sl->n = 0;
	sl->data.n = 0;
	sl->doff[0] = 0;
	*what = NULL;
	while (sl->n < per) {
		if (stop && *stop && !(sl->n & 1023))   /* the writer closes */
			return EG_EINTR;
		if ((rc = eg_iter_next(it, &e)) != EG_OK)
			break;
		if (e->pos != first + sl->n) {
			rc = EG_ECORRUPT;
			break;
		}
		if (slab_event(b, sl, e, sl->n)) {
			*what = "out of memory";
			return EG_ENOMEM;
		}
		sl->n++;
	}
	if (rc == EG_OK) {
		sl->ident = eg_iter_ident(it);
		return EG_OK;
	}
	if (rc == EG_END || rc == EG_ECORRUPT) {
		*what = "the log did not give the block's events";
		return EG_ECORRUPT;
	}
	return rc;
}

/* Blocks from..to-1 from the log, read once in order: a block is read (on
 * this thread) while the one before is built and written (on another). */
static int build_blocks(builder *b, uint64_t from, uint64_t to, volatile int *stop)
{
	uint32_t per = eg_colscan_block_events;
	for (int i = 0; i < 2; i++) {
		slab *sl = &b->sl[i];
		if (!(sl->time = calloc(per, sizeof *sl->time)) ||
		    !(sl->recorded = calloc(per, sizeof *sl->recorded)) ||
		    !(sl->stream = calloc(per, sizeof *sl->stream)) ||
		    !(sl->type = calloc(per, sizeof *sl->type)) ||
		    !(sl->kind = calloc(per, sizeof *sl->kind)) ||
		    !(sl->doff = calloc((size_t)per + 1, sizeof *sl->doff)))
			return bfail(b, EG_ENOMEM, "out of memory");
	}
	eg_iter *it;
	eg_filter f = { .from = from * per + 1, .to = to * per };
	int rc = eg_iter_new(b->st, &it, &f);
	if (rc)
		return bfail(b, rc, eg_errmsg(b->st));
	eg_iter_lazy_ids(it);
	eg_iter_raw(it);        /* ciphertext, never decrypted values, in the files */
	const char *what = NULL;
	int cur = 0, frc = from < to ? fill(b, it, &b->sl[0], from, stop, &what) : EG_EINTR;
	for (uint64_t k = from; k < to && frc == EG_OK && !rc; k++) {
		bjob j = { .b = b, .sl = &b->sl[cur], .stop = stop };
		pthread_t th;
		int par = k + 1 < to && !pthread_create(&th, NULL, bmain, &j);
		if (!par)
			bmain(&j);
		if (k + 1 < to)
			frc = fill(b, it, &b->sl[cur ^ 1], k + 1, stop, &what);
		else
			frc = EG_EINTR;       /* nothing more to read */
		if (par)
			pthread_join(th, NULL);
		if ((rc = j.rc) == EG_OK)
			b->nblocks = k + 1;
		cur ^= 1;
	}
	if (!rc && frc != EG_EINTR && frc != EG_OK)
		rc = bfail(b, frc, what ? what : eg_errmsg(b->st));
	else if (!rc && frc == EG_EINTR && stop && *stop)
		rc = EG_EINTR;
	eg_iter_free(it);
	return rc;
}

/* ------------------------------------------------------------ the run */

/* Read block k's header: 0 with *h, or -1 (absent or damaged). */
static int read_hdr(const eg_ds *d, uint64_t k, colhdr *h)
{
	char name[32], path[PATH_MAX];
	block_name(k, name);
	eg_ds_path(d, name, path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return -1;
	unsigned char small[4096], *p = small;
	off_t size = eg_os_file_size(fd);
	size_t n = size < 0 ? 0 : (size_t)size < sizeof small ? (size_t)size : sizeof small;
	int rc = -1;
	if (n >= 12 && !eg_os_pread_all(fd, small, n, 0)) {
		uint32_t hlen = eg_col_hdr_len(small, n);
		if (hlen > n && hlen <= (uint64_t)size && (p = malloc(hlen)) &&
		    !eg_os_pread_all(fd, p, hlen, 0))
			n = hlen;
		if (p)
			rc = eg_col_hdr_parse(p, n, h);
	}
	if (p != small)
		free(p);
	eg_os.close(fd);
	if (!rc)
		h->types = NULL;      /* pointed into the buffer */
	return rc;
}

static void unlink_block(const eg_ds *d, uint64_t k)
{
	char name[32], path[PATH_MAX];
	block_name(k, name);
	eg_ds_path(d, name, path);
	eg_os.unlink(path);
}

/* The blocks there are, 0..K-1, each whole, ending where the log (as
 * this handle sees it) still has the same events; the rest deleted.
 * *dict_need: what the last one needs of the dictionary. */
static int scan_blocks(builder *b, uint64_t through, uint64_t *dict_need)
{
	uint64_t k = 0;
	colhdr h;
	*dict_need = 0;
	uint64_t *need = NULL, *ident = NULL;
	size_t cap = 0, capi = 0;
	while (!read_hdr(&b->d, k, &h)) {
		free(h.dir);
		if (h.first_pos != k * eg_colscan_block_events + 1 || h.count != eg_colscan_block_events ||
		    buf_grow(&need, &cap, k + 1, 8) || buf_grow(&ident, &capi, k + 1, 8))
			break;
		need[k] = h.dict_len;
		ident[k] = 0;
		k++;
	}
	/* a block past what the log holds (lost in a power cut with a
	 * later sync) or over other events is dropped */
	while (k > 0) {
		uint64_t last = k * eg_colscan_block_events, id = 0;
		colhdr x;
		if (last <= through && !read_hdr(&b->d, k - 1, &x)) {
			free(x.dir);
			unsigned char raw[8];
			char name[32], path[PATH_MAX];
			block_name(k - 1, name);
			eg_ds_path(&b->d, name, path);
			int fd = eg_os.open(path, O_RDONLY, 0);
			int ok = fd >= 0 && !eg_os_pread_all(fd, raw, 8, 80);
			if (fd >= 0)
				eg_os.close(fd);
			if (ok && !eg_store_event_ident(b->st, last, &id) && id == rd64(raw))
				break;
		}
		unlink_block(&b->d, --k);
	}
	for (uint64_t j = k; ; j++) {   /* stray blocks after a gap */
		char name[32], path[PATH_MAX];
		struct stat sb;
		block_name(j, name);
		eg_ds_path(&b->d, name, path);
		if (eg_os.stat(path, &sb))
			break;
		eg_os.unlink(path);
	}
	b->nblocks = k;
	*dict_need = k ? need[k - 1] : 0;
	free(need);
	free(ident);
	return 0;
}

static void builder_free(builder *b)
{
	if (b->dict_fd >= 0)
		eg_os.close(b->dict_fd);
	for (size_t i = 0; i < b->np; i++) {
		free(b->p[i].key);
		eg_itab_free(&b->p[i].str);
	}
	free(b->p);
	eg_itab_free(&b->pkeys);
	nodes_reset(b);
	free(b->nodes);
	for (int i = 0; i < COL_MAX_PATHS + 5; i++) {
		free(b->raw[i].p);
		free(b->z[i].p);
	}
	ZSTD_freeCCtx(b->cctx);
	for (int i = 0; i < 2; i++) {
		free(b->sl[i].time);
		free(b->sl[i].recorded);
		free(b->sl[i].stream);
		free(b->sl[i].type);
		free(b->sl[i].kind);
		free(b->sl[i].doff);
		free(b->sl[i].data.p);
	}
	free(b->kbuf.p);
	free(b->pick);
	free(b->pickw);
	eg_itab_free(&b->keys);
	free(b->kid);
	free(b->dict.p);
	free(b->u64);
	free(b->map);
	eg_ds_unlock(&b->d);
	eg_ds_close(&b->d);
	eg_store_close(b->st);
}

/* Start over: no block, an empty dictionary. */
static int reset_files(builder *b)
{
	for (uint64_t k = 0; k < b->nblocks; k++)
		unlink_block(&b->d, k);
	b->nblocks = 0;
	for (size_t i = 0; i < b->np; i++) {
		free(b->p[i].key);
		eg_itab_free(&b->p[i].str);
	}
	b->np = 0;
	eg_itab_free(&b->pkeys);
	if (b->dict_fd >= 0)
		eg_os.close(b->dict_fd);
	b->dict_fd = -1;
	char path[PATH_MAX];
	eg_ds_path(&b->d, "dict", path);
	eg_os.unlink(path);
	return dict_load(b, 0);
}

int eg_col_build(const char *dir, volatile int *stop, char *err, size_t errlen)
{
	builder b = { .dict_fd = -1, .err = err, .errlen = errlen, .d = { .lockfd = -1 } };
	if (err && errlen)
		err[0] = 0;
	int rc = eg_store_open(&b.st, dir, EG_OPEN_READ, NULL);
	if (rc) {
		snprintf(err, errlen, "column files: %s", eg_errmsg(b.st));
		eg_store_close(b.st);
		return rc;
	}
	uint64_t through = eg_store_indexed_through(b.st);
	if (through > b.st->log.head_pos)
		through = b.st->log.head_pos;
	uint64_t want = through / eg_colscan_block_events, need;
	char cdir[PATH_MAX];
	struct stat sb;
	snprintf(cdir, sizeof cdir, "%s/idx/%s/%s", dir, COL_SUB, COL_VERSION);
	if (!want && eg_os.stat(cdir, &sb)) {   /* nothing to build, nothing built */
		eg_store_close(b.st);
		return EG_OK;
	}
	b.st->quiet_use = 1;
	if (eg_ds_open(b.st, COL_SUB, COL_VERSION, 0, SPEC, sizeof SPEC - 1, &b.d)) {
		rc = bfail(&b, EG_EIO, "cannot open idx/col");
		goto out;
	}
	if ((rc = eg_ds_lock(b.st, &b.d)))
		goto out;
	scan_blocks(&b, through, &need);
	if (b.nblocks >= want) {
		rc = EG_OK;
		goto out;
	}
	if ((rc = dict_load(&b, need)) == 1)
		rc = reset_files(&b);
	if (rc)
		goto out;
	if (!rc)
		rc = build_blocks(&b, b.nblocks, want, stop);
	if (rc == EG_EINTR)
		rc = EG_OK;
out:
	builder_free(&b);
	return rc;
}

/* ------------------------------------------------- the writer's thread */

typedef struct eg_colw {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, wake;
	volatile int stop;
	uint64_t built;               /* blocks known built */
	char dir[PATH_MAX];
	char err[256];
} eg_colw;

static void *colw_main(void *arg)
{
	eg_colw *w = arg;
	pthread_setname_np(pthread_self(), "engram-cols");
	/* only on time nothing else wants (SCHED_IDLE): append's speed is
	 * measured with it running; a builder that gets no time leaves the
	 * blocks to the next writer or reader */
	struct sched_param sp = { 0 };
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp))
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (!w->wake) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		w->wake = 0;
		pthread_mutex_unlock(&w->mu);
		char err[sizeof w->err];
		int rc = eg_col_build(w->dir, &w->stop, err, sizeof err);
		pthread_mutex_lock(&w->mu);
		if (rc && err[0] && !w->err[0])   /* the first failure, for the writer */
			memcpy(w->err, err, sizeof err);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

void eg_col_writer_open(eg_store *st)
{
	eg_colw *w = calloc(1, sizeof *w);
	if (!w)
		return;
	snprintf(w->dir, sizeof w->dir, "%s", st->dir);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	st->colw = w;
	w->built = st->ix.st.through_pos / eg_colscan_block_events;
	if (w->built && eg_col_lag_events(st)) {   /* left behind: catch up */
		w->built = 0;
		eg_col_note_commit(st);
	}
}

void eg_col_note_commit(eg_store *st)
{
	eg_colw *w = st->colw;
	if (!w)
		return;
	uint64_t full = st->ix.st.through_pos / eg_colscan_block_events;
	if (full <= w->built)
		return;
	w->built = full;              /* asked for; the thread builds to it */
	pthread_mutex_lock(&w->mu);
	w->wake = 1;
	if (!w->started)
		w->started = pthread_create(&w->th, NULL, colw_main, w) == 0;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void eg_col_writer_close(eg_store *st)
{
	eg_colw *w = st->colw;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->th, NULL);
	/* said as a derived file not saved is: the next writer builds it */
	if (w->err[0] && !st->note[0])
		snprintf(st->note, sizeof st->note, "%s (the next writer or reader builds them)",
			 w->err);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	st->colw = NULL;
}

/* ------------------------------------------------------- drop, lag */

void eg_col_drop(eg_store *st)
{
	eg_ds_drop_files(st, COL_SUB);
}

uint64_t eg_col_lag_events(eg_store *st)
{
	uint64_t through = eg_store_indexed_through(st);
	uint64_t want = through / eg_colscan_block_events;
	if (!want)
		return 0;
	char path[PATH_MAX];
	struct stat sb;
	snprintf(path, sizeof path, "%s/idx/%s/%s/b%010llu", st->dir, COL_SUB, COL_VERSION,
		 (unsigned long long)(want - 1));
	return eg_os.stat(path, &sb) ? eg_colscan_block_events : 0;
}

static int col_rebuild_all(eg_store *st)
{
	char err[256];
	int rc = eg_col_build(st->dir, NULL, err, sizeof err);
	return rc ? eg_st_err(st, rc, "%s", err) : EG_OK;
}

__attribute__((constructor)) static void col_register(void)
{
	eg_ds_register(COL_SUB, "columns", NULL, col_rebuild_all);
	eg_ds_as_stored(COL_SUB, "columns");   /* columns of the records as stored */
}

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
int eg_col_zlevel = 9;

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
	buf out;                      /* a block's frames */
	buf raw;                      /* one column before compression */
	buf dict;                     /* dictionary records to append */
	uint64_t *u64;                /* scratch: a column's values */
	size_t capu64;
	uint32_t *map;                /* scratch: a scan's string ids to the store's */
	size_t capmap, nmap;
	char *err;
	size_t errlen;
} builder;

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

/* ------------------------------------------------------ path discovery */

typedef struct seen {
	itab keys;                    /* path keys seen in the block */
	uint32_t *count;
	size_t cap;
	int *nseg;
	size_t capn;
	buf key;
} seen;

static int seen_add(seen *s, const char *key, uint32_t n, int nseg)
{
	uint32_t j = eg_itab_get(&s->keys, XXH3_64bits(key, n), key, n);
	if (j == UINT32_MAX || buf_grow(&s->count, &s->cap, (size_t)j + 1, sizeof *s->count) ||
	    buf_grow(&s->nseg, &s->capn, (size_t)j + 1, sizeof *s->nseg))
		return -1;
	if (j + 1 == s->keys.n) {
		s->count[j] = 0;
		s->nseg[j] = nseg;
	}
	s->count[j]++;
	return 0;
}

/* Every path under object o (at depth d, its key so far in s->key), to
 * the depth cap, objects included, as the lookup sees them (escaped names
 * decoded; names it cannot match left out). */
static int walk(seen *s, const json_span *o, int d)
{
	json_obj it;
	json_span k, v;
	if (eg_json_obj_begin(&it, o->p, o->n, NULL))
		return 0;
	int r;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		char dec[256];
		const char *kp = k.p + 1;
		size_t kn = k.n - 2;
		if (!eg_json_string_is_plain(&k)) {
			if (k.n > sizeof dec)
				continue;     /* eg_json_members_valid never matches it */
			kn = eg_json_string_decode(&k, dec);
			kp = dec;
		}
		size_t at = s->key.n;
		uint32_t l = (uint32_t)kn;
		if (buf_add(&s->key, &l, 4) || buf_add(&s->key, kp, kn))
			return -1;
		/* objects too, as RAW at their path, and their members under */
		if (seen_add(s, s->key.p, (uint32_t)s->key.n, d + 1) ||
		    (v.type == JSON_OBJECT && d + 1 < COL_MAX_DEPTH && walk(s, &v, d + 1)))
			return -1;
		s->key.n = at;
	}
	return 0;
}

/* ------------------------------------------------------------ encoding */

/* raw as a zstd frame onto b->out; its directory entry in e. */
static int put_frame(builder *b, coldirent *e, uint64_t base)
{
	size_t bound = ZSTD_compressBound(b->raw.n);
	if (buf_reserve(&b->out, bound))
		return -1;
	size_t n = ZSTD_compress(b->out.p + b->out.n, bound, b->raw.p, b->raw.n, eg_col_zlevel);
	if (ZSTD_isError(n))
		return -1;
	e->off = base + b->out.n;
	e->clen = (uint32_t)n;
	e->rlen = (uint32_t)b->raw.n;
	e->check = (uint32_t)XXH3_64bits(b->out.p + b->out.n, n);
	b->out.n += n;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* n values packed (colint.h) onto r, through the builder's scratch. */
static int put_packed(builder *b, buf *r, const uint64_t *v, uint32_t n)
{
	uint64_t max = 0;
	for (uint32_t k = 0; k < n; k++)
		max = v[k] > max ? v[k] : max;
	size_t len = eg_col_packed_len(max, n);
	if (buf_reserve(r, len))
		return -1;
	r->n += eg_col_pack((unsigned char *)r->p + r->n, v, n, max);
	(void)b;
	return 0;
}

static int grow_u64(builder *b, uint32_t n)
{
	return buf_grow(&b->u64, &b->capu64, (size_t)n + 1, sizeof *b->u64);
}

/* Times as the zigzag of their deltas, packed. */
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
	return put_packed(b, r, b->u64, n);
}

static int put_ids(builder *b, buf *r, const uint32_t *v, uint32_t n)
{
	if (grow_u64(b, n))
		return -1;
	for (uint32_t k = 0; k < n; k++)
		b->u64[k] = v[k];
	return put_packed(b, r, b->u64, n);
}

/* Path column i of block cb (the format: eg_col_path_decode). */
static int put_path(builder *b, eg_colscan *sc, const eg_colblock *cb, size_t i, wpath *w)
{
	buf *r = &b->raw;
	const eg_colvals *v = &cb->vals[i];
	uint32_t n = cb->n, cnt[EG_CT_RAW + 1] = { 0 };
	r->n = 0;
	if (buf_add(r, v->tag, n) || grow_u64(b, n))
		return -1;
	for (uint32_t k = 0; k < n; k++)
		cnt[v->tag[k]]++;
	/* ints from their minimum */
	uint64_t base = v->has_int ? (uint64_t)v->imin : 0;
	uint32_t m = 0;
	for (uint32_t k = 0; k < n; k++)
		if (v->tag[k] == EG_CT_INT)
			b->u64[m++] = (uint64_t)v->i[k] - base;
	if (buf_add(r, &cnt[EG_CT_INT], 4) || buf_add(r, &base, 8) || put_packed(b, r, b->u64, m))
		return -1;
	/* the scan's ids to the store-wide dictionary's, through the text,
	 * once per id (map: store id + 1, 0 not yet) */
	m = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (v->tag[k] != EG_CT_STR)
			continue;
		uint32_t s = v->s[k];
		if (buf_grow(&b->map, &b->capmap, (size_t)s + 1, sizeof *b->map))
			return -1;
		while (b->nmap <= s)
			b->map[b->nmap++] = 0;
		if (!b->map[s]) {
			size_t len;
			const char *t = eg_colscan_str(sc, i, s, &len);
			uint32_t id = eg_itab_get(&w->str, XXH3_64bits(t, len), t, (uint32_t)len);
			if (id == UINT32_MAX)
				return -1;
			b->map[s] = id + 1;
		}
		b->u64[m++] = b->map[s] - 1;
	}
	b->nmap = 0;
	if (buf_add(r, &cnt[EG_CT_STR], 4) || put_packed(b, r, b->u64, m))
		return -1;
	/* raw texts: the block's own table, in the scan's id order */
	uint32_t ntext = 0;
	for (uint32_t k = 0; k < n; k++)
		if (v->tag[k] == EG_CT_RAW && v->s[k] + 1 > ntext)
			ntext = v->s[k] + 1;
	if (buf_add(r, &ntext, 4))
		return -1;
	for (uint32_t id = 0; id < ntext; id++) {
		size_t len;
		const char *t = eg_colscan_raw(sc, i, id, &len);
		uint32_t l = (uint32_t)len;
		if (buf_add(r, &l, 4) || buf_add(r, t, len))
			return -1;
	}
	m = 0;
	for (uint32_t k = 0; k < n; k++)
		if (v->tag[k] == EG_CT_RAW)
			b->u64[m++] = v->s[k];
	return buf_add(r, &cnt[EG_CT_RAW], 4) || put_packed(b, r, b->u64, m) ? -1 : 0;
}

static int cmp_seen(const void *a, const void *b, void *ctx)
{
	const uint32_t *count = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (count[x] != count[y])
		return count[x] > count[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ one block */

typedef struct plan {
	uint32_t *ids;                /* chosen seen-path ids */
	size_t n;
	int covered;
	const char ***segs;
	int *nseg;
	long *wp;                     /* their store-wide paths */
} plan;

static void plan_free(plan *pl)
{
	for (size_t i = 0; pl->segs && i < pl->n; i++) {
		for (int s = 0; s < pl->nseg[i]; s++)
			free((char *)pl->segs[i][s]);
		free(pl->segs[i]);
	}
	free(pl->segs);
	free(pl->nseg);
	free(pl->ids);
	free(pl->wp);
	memset(pl, 0, sizeof *pl);
}

/* Pass 1: the paths of the block's data, the most frequent first. */
static int choose_paths(builder *b, uint64_t first, uint64_t last, plan *pl,
			volatile int *stop)
{
	seen s = { 0 };
	eg_iter *it;
	eg_filter f = { .from = first, .to = last };
	int rc = eg_iter_new(b->st, &it, &f);
	if (rc)
		return bfail(b, rc, eg_errmsg(b->st));
	eg_iter_lazy_ids(it);
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (stop && *stop && !(e->pos & 1023)) {   /* the writer closes */
			rc = EG_EINTR;
			break;
		}
		json_span o = { e->data, e->data_len, JSON_OBJECT };
		s.key.n = 0;
		if (e->data_len && walk(&s, &o, 0)) {
			rc = EG_ENOMEM;
			break;
		}
	}
	eg_iter_free(it);
	if (rc != EG_END) {
		if (rc != EG_EINTR)
			rc = rc == EG_ENOMEM ? bfail(b, rc, "out of memory") : bfail(b, rc, eg_errmsg(b->st));
		goto done;
	}
	rc = EG_ENOMEM;
	uint32_t n = s.keys.n;
	pl->ids = malloc(((size_t)n + 1) * sizeof *pl->ids);
	if (!pl->ids)
		goto done;
	for (uint32_t j = 0; j < n; j++)
		pl->ids[j] = j;
	qsort_r(pl->ids, n, sizeof *pl->ids, cmp_seen, s.count);
	pl->n = n < COL_MAX_PATHS ? n : COL_MAX_PATHS;
	pl->covered = n <= COL_MAX_PATHS;
	pl->segs = calloc(pl->n + 1, sizeof *pl->segs);
	pl->nseg = calloc(pl->n + 1, sizeof *pl->nseg);
	pl->wp = calloc(pl->n + 1, sizeof *pl->wp);
	if (!pl->segs || !pl->nseg || !pl->wp)
		goto done;
	for (size_t i = 0; i < pl->n; i++) {
		uint32_t j = pl->ids[i];
		const char *key = itab_text(&s.keys, j);
		uint32_t klen = s.keys.e[j].len;
		int ns = s.nseg[j];
		if (!(pl->segs[i] = calloc((size_t)ns + 1, sizeof *pl->segs[i])))
			goto done;
		pl->nseg[i] = ns;
		uint32_t at = 0;
		for (int g = 0; g < ns; g++) {
			uint32_t l = rd32(key + at);
			char *name = malloc((size_t)l + 1);
			if (!name)
				goto done;
			memcpy(name, key + at + 4, l);
			name[l] = 0;
			pl->segs[i][g] = name;
			at += 4 + l;
		}
		if ((pl->wp[i] = path_get(b, key, klen, ns)) < 0)
			goto done;
	}
	rc = EG_OK;
done:
	eg_itab_free(&s.keys);
	free(s.count);
	free(s.nseg);
	free(s.key.p);
	if (rc == EG_ENOMEM)
		bfail(b, rc, "out of memory");
	return rc;
}

/* A segment name holding a NUL cannot go through col.h's C strings: such a
 * path is left without a column, and the block not covered. */
static void drop_nul_names(plan *pl, builder *b)
{
	size_t k = 0;
	for (size_t i = 0; i < pl->n; i++) {
		const wpath *w = &b->p[pl->wp[i]];
		size_t total = 0;
		for (int s = 0; s < pl->nseg[i]; s++)
			total += strlen(pl->segs[i][s]) + 4;
		if (total != w->key_len) {
			pl->covered = 0;
			for (int s = 0; s < pl->nseg[i]; s++)
				free((char *)pl->segs[i][s]);
			free(pl->segs[i]);
			continue;
		}
		pl->segs[k] = pl->segs[i];
		pl->nseg[k] = pl->nseg[i];
		pl->wp[k] = pl->wp[i];
		pl->ids[k++] = pl->ids[i];
	}
	pl->n = k;
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

/* The builtin columns of cb as frames, their entries into dir: times as
 * zigzag deltas, stream ids, types as indices into the header's set,
 * kinds as bytes. */
static int put_builtins(builder *b, const eg_colblock *cb, const uint32_t *types,
			uint32_t ntypes, coldirent *dir, uint64_t base)
{
	buf *r = &b->raw;
	uint32_t n = cb->n;
	for (int w = COL_TIME; w <= COL_KIND; w++) {
		r->n = 0;
		int bad = 0;
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
			bad = bad || put_packed(b, r, b->u64, n);
		} else {
			bad = buf_add(r, cb->kind, n);
		}
		dir[w - 1] = (coldirent){ .what = (uint8_t)w };
		if (bad || put_frame(b, &dir[w - 1], base))
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

/* Pass 2 and the file: the arrays by the log path's own lookup, encoded,
 * the dictionary synced, then the block written whole. */
static int write_block(builder *b, uint64_t k, const plan *pl, volatile int *stop)
{
	uint64_t first = k * eg_colscan_block_events + 1, last = first + eg_colscan_block_events - 1;
	eg_colneed need = { (const char *const *const *)pl->segs, pl->nseg, pl->n, 0 };
	eg_filter f = { .from = first, .to = last };
	eg_colscan *sc = NULL;
	const eg_colblock *cb;
	uint32_t *types = NULL, ntypes = 0;
	coldirent *dir = calloc(pl->n + 5, sizeof *dir);
	int rc = dir ? eg_colscan_new_log(b->st, &f, &need, &sc) : EG_ENOMEM;
	if (rc == EG_OK && (rc = eg_colscan_next(sc, &cb)) == EG_OK &&
	    (cb->n != eg_colscan_block_events || cb->first_pos != first))
		rc = EG_ECORRUPT;
	if (rc) {
		eg_colscan_free(sc);
		free(dir);
		return rc == EG_ENOMEM ? bfail(b, rc, "out of memory")
				       : bfail(b, rc, "the log did not give the block's events");
	}
	int64_t rmin = cb->recorded[0], rmax = cb->recorded[0];
	for (uint32_t j = 0; j < cb->n; j++) {
		rmin = cb->recorded[j] < rmin ? cb->recorded[j] : rmin;
		rmax = cb->recorded[j] > rmax ? cb->recorded[j] : rmax;
		if ((cb->stream[j] | cb->type[j]) & EG_COL_KEY_LOCAL)
			rc = EG_ECORRUPT;     /* a key the handle's index lacks */
	}
	uint32_t ncols = (uint32_t)pl->n + 5;
	uint32_t hlen = 0;
	if (!rc && type_set(cb, &types, &ntypes))
		rc = EG_ENOMEM;
	if (!rc) {
		hlen = COL_HDR_FIXED + 4 * ntypes + COL_DIRENT * ncols + 4;
		b->out.n = 0;
		if (put_builtins(b, cb, types, ntypes, dir, hlen))
			rc = EG_ENOMEM;
	}
	for (size_t i = 0; i < pl->n && !rc && !(stop && *stop); i++) {
		coldirent *e = &dir[5 + i];
		const eg_colvals *v = &cb->vals[i];
		*e = (coldirent){ .what = COL_PATH, .path = (uint32_t)pl->wp[i],
				  .has_int = (uint8_t)v->has_int, .imin = v->imin, .imax = v->imax };
		if (put_path(b, sc, cb, i, &b->p[pl->wp[i]]) || put_frame(b, e, hlen))
			rc = EG_ENOMEM;
	}
	uint64_t ident = 0;
	if (!rc && (rc = eg_store_event_ident(b->st, last, &ident)))
		rc = bfail(b, rc, eg_errmsg(b->st));
	if (!rc && stop && *stop)
		rc = EG_EINTR;
	if (!rc)
		rc = dict_sync(b);
	unsigned char *h = rc ? NULL : malloc(hlen);
	if (!rc && !h)
		rc = EG_ENOMEM;
	if (!rc) {
		put_hdr(h, hlen, pl->covered ? COL_FLAG_COVERED : 0, cb, rmin, rmax, b->dict_len,
			ident, types, ntypes, dir, ncols);
		char name[32];
		eg_ds_wr w;
		block_name(k, name);
		if (eg_ds_wr_begin(&w, &b->d, name, hlen)) {
			rc = bfail(b, EG_EIO, "cannot write a block");
		} else {
			eg_ds_wr_put(&w, b->out.p, b->out.n, 0);
			if (eg_ds_wr_commit(&w, h, hlen, 0))
				rc = bfail(b, EG_EIO, "cannot write a block");
		}
	}
	if (rc == EG_ENOMEM)
		bfail(b, rc, "out of memory");
	free(h);
	free(types);
	free(dir);
	eg_colscan_free(sc);
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
	free(b->out.p);
	free(b->raw.p);
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
	for (uint64_t k = b.nblocks; k < want && !rc && !(stop && *stop); k++) {
		plan pl = { 0 };
		uint64_t first = k * eg_colscan_block_events + 1;
		rc = choose_paths(&b, first, first + eg_colscan_block_events - 1, &pl, stop);
		if (!rc && stop && *stop)
			rc = EG_EINTR;
		if (!rc) {
			drop_nul_names(&pl, &b);
			rc = write_block(&b, k, &pl, stop);
		}
		plan_free(&pl);
		if (!rc)
			b.nblocks = k + 1;
	}
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
}

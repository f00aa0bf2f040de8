/*
 * winfile.c — the derived files of a windows spec (idx/win/HASH/, see
 * docs/FORMAT.md) and the reports read from them.
 *
 * A run writes every row it makes as a change record, in the order it made
 * them, each tagged with the log position of the event whose taking made
 * it.  So the table a live run showed when the log ended at position P is
 * the fold of the records tagged <= P, the changelog is the records in
 * order, and a restarted run continues from a checkpoint of the windows
 * still open: nothing is replayed from the start.
 *
 *   changes   the records, append-only
 *   groups    the group texts, append-only, in id order
 *   state     the checkpoint: the run's position and counters, the windows
 *             in memory with their accumulators, and how long changes and
 *             groups were then (anything after that is cut off on load)
 *   lock      flock'd while a process runs or loads
 *   spec.json the spec, for reference
 *
 * The directory, its lock and the state file's writing and checking are
 * the derived-state module's (derived.c); window.c rebuilds the run from
 * the bytes this file hands back.
 */
#include "derived.h"
#include "internal.h"
#include "os.h"
#include "record.h"
#include "timefmt.h"
#include "win.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>


/* ---------------------------------------------------- change records */

/* Write what is in memory to the file. */
static int wch_flush(eg_win *w)
{
	wchanges *c = &w->ch;
	if (c->fd < 0 || !c->mem.n)
		return EG_OK;
	if (eg_os_pwrite_all(c->fd, c->mem.p, c->mem.n, (off_t)c->flushed))
		return eg_st_errno(w->st, "cannot write %s/changes", w->ds.dir);
	c->flushed += c->mem.n;
	c->mem.n = 0;
	return EG_OK;
}

uint64_t eg_wch_len(const eg_win *w)
{
	return w->ch.flushed + w->ch.mem.n;
}

/*
 * A record (little-endian, 8-aligned):
 *   0 u32 len (all of it)   4 u8 kind   5 u8 flags   6 u16 nvals
 *   8 u64 pos              16 u64 serial
 *  24 i64 start            32 i64 end
 *  40 u32 group id         44 u32 check (XXH3 low half, with check = 0)
 *  48 u64 revision         56 u64 prev (offset + 1 of the window's last REV)
 *  64 nvals x (u32 length, JSON text), zero padding to 8
 */
int eg_wch_append(eg_win *w, const wrec *r, int with_vals, uint64_t *off)
{
	int na = with_vals ? w->spec->na : 0;
	size_t len = WR_HDR + (with_vals ? 4 * (size_t)na + w->voffs[na] : 0);
	len = (len + 7) & ~(size_t)7;
	buf *b = &w->ch.mem;
	if (buf_reserve(b, len))
		return EG_ENOMEM;
	*off = eg_wch_len(w);
	unsigned char *p = (unsigned char *)b->p + b->n;
	memset(p, 0, len);
	wr32(p, (uint32_t)len);
	p[4] = (unsigned char)r->kind;
	p[5] = (unsigned char)r->flags;
	p[6] = (unsigned char)na;
	wr64(p + 8, r->pos);
	wr64(p + 16, r->serial);
	wr64(p + 24, (uint64_t)r->start);
	wr64(p + 32, (uint64_t)r->end);
	wr32(p + 40, r->gid);
	wr64(p + 48, r->rev);
	wr64(p + 56, r->prev);
	unsigned char *q = p + WR_HDR;
	for (int i = 0; i < na; i++) {
		uint32_t n = (uint32_t)(w->voffs[i + 1] - w->voffs[i]);
		wr32(q, n);
		memcpy(q + 4, w->vals.p + w->voffs[i], n);
		q += 4 + n;
	}
	wr32(p + 44, (uint32_t)XXH3_64bits(p, len));
	b->n += len;
	return b->n >= (4u << 20) ? wch_flush(w) : EG_OK;
}

static int damaged(eg_win *w, uint64_t off)
{
	return eg_st_err(w->st, EG_ECORRUPT, "%s/changes: damaged record at offset %llu; "
		      "run engram reindex", w->ds.dir, (unsigned long long)off);
}

/* The record at off (its values borrowed until the next read). */
int eg_wch_read(eg_win *w, uint64_t off, wrec *r)
{
	wchanges *c = &w->ch;
	const unsigned char *p;
	uint64_t avail;
	if (off >= c->flushed) {
		p = (const unsigned char *)c->mem.p + (off - c->flushed);
		avail = c->mem.n - (off - c->flushed);
	} else {
		if (off + WR_HDR > c->maplen || off + rd32(c->map + off) > c->maplen) {
			if (c->map)
				eg_os.munmap(c->map, c->maplen);
			c->map = NULL;
			c->maplen = 0;
			void *m = eg_os.mmap(NULL, c->flushed, PROT_READ, MAP_SHARED, c->fd, 0);
			if (m == MAP_FAILED)
				return eg_st_errno(w->st, "cannot map %s/changes", w->ds.dir);
			c->map = m;
			c->maplen = c->flushed;
		}
		p = c->map + off;
		avail = c->maplen - off;
	}
	if (avail < WR_HDR)
		return damaged(w, off);
	uint32_t len = rd32(p);
	if (len < WR_HDR || len > avail || len % 8 || p[4] < WR_REV || p[4] > WR_RETRACT ||
	    p[6] > WIN_MAX_AGGS)
		return damaged(w, off);
	/* records made by this handle are not checked again (a table at the
	 * end of a long run reads every one of them) */
	if (off < c->mine) {
		w->rec.n = 0;
		if (buf_add(&w->rec, p, len))
			return eg_st_err(w->st, EG_ENOMEM, "out of memory");
		wr32(w->rec.p + 44, 0);
		if ((uint32_t)XXH3_64bits(w->rec.p, len) != rd32(p + 44))
			return damaged(w, off);
	}
	*r = (wrec){ len, p[4], p[5], p[6], rd64(p + 8), rd64(p + 16),
		     (int64_t)rd64(p + 24), (int64_t)rd64(p + 32), rd32(p + 40), rd64(p + 48),
		     rd64(p + 56), p + WR_HDR };
	/* the values must lie inside the record */
	const unsigned char *q = r->vals;
	for (int i = 0; i < r->nvals; i++) {
		if (q + 4 > p + len || q + 4 + rd32(q) > p + len)
			return damaged(w, off);
		q += 4 + rd32(q);
	}
	return EG_OK;
}

void eg_wch_free(wchanges *c)
{
	if (c->map)
		eg_os.munmap(c->map, c->maplen);
	if (c->fd >= 0)
		eg_os.close(c->fd);
	free(c->mem.p);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* ------------------------------------------------------------ files */

static void path_of(const eg_win *w, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", w->ds.dir, name);
}

/* Open (creating) idx/win/HASH/; on failure run in memory only. */
int eg_win_files_open(eg_win *w)
{
	char hex[33], f[PATH_MAX];
	eg_ds_hex(w->spec->hash, hex);
	eg_ds_open(w->st, "win", hex, !w->spec->no_upcast, w->spec->src, w->spec->src ? w->spec->srclen : 0, &w->ds);
	path_of(w, "changes", f);
	w->ch.fd = eg_os.open(f, O_RDWR | O_CREAT, 0644);
	path_of(w, "groups", f);
	w->gfd = eg_os.open(f, O_RDWR | O_CREAT, 0644);
	if (w->ds.lockfd < 0 || w->ch.fd < 0 || w->gfd < 0) {
		eg_win_files_close(w);
		w->nosave = 1;
		return -1;
	}
	return 0;
}

void eg_win_files_close(eg_win *w)
{
	eg_ds_close(&w->ds);
	if (w->gfd >= 0)
		eg_os.close(w->gfd);
	w->gfd = -1;
	eg_wch_free(&w->ch);
}

int eg_win_lock(eg_win *w)
{
	return w->nosave ? EG_OK : eg_ds_lock(w->st, &w->ds);
}

void eg_win_unlock(eg_win *w)
{
	if (!w->nosave)
		eg_ds_unlock(&w->ds);
}

/* --------------------------------------------------------- checkpoint */

#define ST_MAGIC "EGWINST1"
#define ST_HDR WIN_ST_HDR

/* Identity of the event at pos: its id and time (0 for pos 0), so that a
 * checkpoint is never applied to a log that was cut back and appended anew. */
static int ident(eg_win *w, uint64_t pos, uint64_t *out)
{
	return eg_store_event_ident(w->st, pos, out);
}

/* A check of the last bytes of changes before len (0 if none). */
int eg_win_tail_check(eg_win *w, uint64_t len, uint64_t *out)
{
	unsigned char b[4096];
	size_t n = len < sizeof b ? (size_t)len : sizeof b;
	*out = 0;
	if (!n)
		return EG_OK;
	if (eg_os_pread_all(w->ch.fd, b, n, (off_t)(len - n)))
		return -1;
	*out = XXH3_64bits(b, n) | 1;
	return EG_OK;
}

static int put64(buf *b, uint64_t v)
{
	return buf_add(b, &v, 8);
}

/* One window's state: identity, revision, accumulators. */
static int put_window(eg_win *w, buf *b, const wwin *x)
{
	const eg_win_spec *s = w->spec;
	uint64_t hdr[7] = { (uint64_t)x->start, (uint64_t)x->end, x->serial, x->rev, x->events,
			    x->last, ((uint64_t)x->gid << 1) | (uint64_t)x->emitted };
	if (buf_add(b, hdr, sizeof hdr))
		return -1;
	for (int i = 0; i < s->na; i++) {
		const wacc *c = eg_win_acc(w, x->acc, i);
		static const nacc zero;
		if (put64(b, c->n) || buf_add(b, eg_win_has_v(w) ? &c->v : &zero, sizeof c->v))
			return -1;
		if (s->a[i].agg == WA_DISTINCT) {
			if (put64(b, c->set.n))
				return -1;
			for (uint32_t j = 0; j < c->set.cap; j++) {
				if (!c->set.h[j])
					continue;
				uint32_t n = c->set.len[j];
				if (buf_add(b, &n, 4) || buf_add(b, c->set.text.p + c->set.off[j], n))
					return -1;
			}
		} else if (s->a[i].agg == WA_PCT) {
			uint64_t n = eg_qs_encoded_size(&c->qs);
			if (put64(b, n) || buf_reserve(b, n))
				return -1;
			b->n += eg_qs_encode(&c->qs, b->p + b->n);
		}
	}
	return 0;
}

/* Save the run at w->through: changes and groups written and fdatasync'd
 * first, then the state file by the derived-state module's one rule (see
 * docs/FORMAT.md).
 * ident_at: the identity of the event at w->through, or 0 to look it up
 * (the reading thread of a run gives it, so that the store is read by one
 * thread at a time). */
int eg_win_save(eg_win *w, uint64_t ident_at)
{
	if (w->nosave)
		return EG_OK;
	eg_store *st = w->st;
	int rc = wch_flush(w);
	if (rc)
		return rc;
	if (eg_os_pwrite_all(w->gfd, w->gtext.p + w->groups_saved, w->gtext.n - w->groups_saved,
			  (off_t)w->groups_saved) ||
	    eg_os.fdatasync(w->ch.fd) || eg_os.fdatasync(w->gfd))
		return eg_st_errno(st, "cannot write %s", w->ds.dir);
	w->groups_saved = w->gtext.n;
	uint64_t id = ident_at, tail;
	if (!id && (rc = ident(w, w->through, &id)))
		return rc;
	if (eg_win_tail_check(w, w->ch.flushed, &tail))
		return eg_st_errno(st, "cannot read %s/changes", w->ds.dir);
	const eg_win_spec *s = w->spec;
	buf b = { 0 };
	unsigned char h[ST_HDR];
	memset(h, 0, sizeof h);
	memcpy(h, ST_MAGIC, 8);
	wr32(h + 8, 1);
	wr32(h + 12, (uint32_t)s->na);
	memcpy(h + 16, s->hash, 32);
	uint64_t v[17] = { w->through, id, w->ch.flushed, w->gtext.n, w->ngroups, w->next_serial,
			   (uint64_t)w->max_time, (uint64_t)w->wm, w->open, tail, w->created,
			   w->events, w->too_late, w->revs, w->corrections, w->heartbeats, 0 };
	memcpy(h + 48, v, sizeof v);
	int bad = buf_add(&b, h, sizeof h);
	for (int i = 0; i < s->na && !bad; i++)
		bad = put64(&b, w->ast[i].used) || put64(&b, w->ast[i].missing) ||
		      put64(&b, w->ast[i].not_number);
	for (uint32_t i = 0; i < w->nw && !bad; i++)
		if (w->w[i].serial)
			bad = put_window(w, &b, &w->w[i]);
	if (bad) {
		free(b.p);
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	}
	bad = eg_ds_write(&w->ds, "state", b.p, b.n);
	free(b.p);
	if (bad)
		return eg_st_errno(st, "cannot write %s/state", w->ds.dir);
	w->saved_through = w->through;
	w->saved_len = w->ch.flushed;
	return EG_OK;
}

/* Has another process saved a run different from the one in memory? */
int eg_win_stale(eg_win *w)
{
	if (w->nosave)
		return 0;
	char path[PATH_MAX];
	unsigned char h[ST_HDR];
	path_of(w, "state", path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return w->saved_through != 0;
	int r = eg_os_pread_all(fd, h, sizeof h, 0);
	eg_os.close(fd);
	return r || rd64(h + 48) != w->saved_through || rd64(h + 64) != w->saved_len;
}

typedef struct st_ctx {
	const eg_win_spec *s;
} st_ctx;

/* A state file of this spec, whole (its last 8 bytes check the others). */
static int state_ok(const unsigned char *p, size_t n, void *arg)
{
	const eg_win_spec *s = ((const st_ctx *)arg)->s;
	if (n < ST_HDR + 8 || memcmp(p, ST_MAGIC, 8) || rd32(p + 8) != 1 ||
	    rd32(p + 12) != (uint32_t)s->na || memcmp(p + 16, s->hash, 32))
		return -1;
	return eg_ds_tail_sum_ok(p, n, NULL);
}

int eg_win_state_read(eg_win *w, eg_ds_view *v)
{
	st_ctx c = { w->spec };
	return eg_ds_read(&w->ds, "state", 0, ST_HDR + 8, state_ok, &c, v);
}

int eg_win_files_cut(eg_win *w, uint64_t clen, uint64_t glen)
{
	if (eg_os.ftruncate(w->ch.fd, (off_t)clen) || eg_os.ftruncate(w->gfd, (off_t)glen))
		return eg_st_errno(w->st, "cannot write %s", w->ds.dir);
	return EG_OK;
}

int eg_win_files_size(eg_win *w, uint64_t *clen, uint64_t *glen)
{
	off_t c = eg_os_file_size(w->ch.fd), g = eg_os_file_size(w->gfd);
	if (c < 0 || g < 0)
		return -1;
	*clen = (uint64_t)c;
	*glen = (uint64_t)g;
	return 0;
}

int eg_win_groups_read(eg_win *w, uint64_t len, char **out)
{
	char *g = malloc(len ? len : 1);
	*out = NULL;
	if (!g)
		return EG_ENOMEM;
	if (len && eg_os_pread_all(w->gfd, g, len, 0)) {
		free(g);
		return -1;
	}
	*out = g;
	return EG_OK;
}

void eg_win_files_forget(eg_win *w)
{
	w->ch.mem.n = 0;
	w->ch.flushed = w->ch.mine = 0;
	if (w->ch.map)
		eg_os.munmap(w->ch.map, w->ch.maplen);
	w->ch.map = NULL;
	w->ch.maplen = 0;
}

/* --------------------------------------------------------- the reports */

/* A window's row as the fold of its records. */
typedef struct fent {
	int64_t start, end;
	uint64_t serial, rev, too_late;
	uint64_t revoff;             /* offset + 1 of its latest REV record */
	uint32_t gid;
	uint32_t slot;               /* include_open: its slot; else UINT32_MAX */
	unsigned char final, gone;
} fent;

typedef struct wfold {
	fent *e;
	size_t n, cap;
	uint32_t *slot;              /* entry + 1 by key */
	size_t scap;
	uint64_t off;                /* records folded: up to this offset */
} wfold;

/* In memory only: a multiply-xorshift mix is enough, and cheaper than
 * hashing 16 bytes. */
static uint64_t fkey_hash(const eg_win *w, int64_t start, uint32_t gid, uint64_t serial)
{
	uint64_t x = w->spec->kind == W_SESSION ? serial : (uint64_t)start * 0x9E3779B97F4A7C15u ^ gid;
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9u;
	x ^= x >> 29;
	return x;
}

/* Room in f for n entries: a fold of all the records makes about as many
 * entries as the run made windows, so the tables are sized once. */
static int fold_reserve(wfold *f, size_t n)
{
	size_t cap = 1024;
	while (cap < n)
		cap *= 2;
	if (cap > f->cap) {
		fent *v = realloc(f->e, cap * sizeof *v);
		if (!v)
			return -1;
		f->e = v, f->cap = cap;
	}
	if (2 * cap > f->scap && !f->n) {
		uint32_t *sl = calloc(2 * cap, sizeof *sl);
		if (!sl)
			return -1;
		free(f->slot);
		f->slot = sl, f->scap = 2 * cap;
	}
	return 0;
}

/* The entry of a record's window, created if new: its index or -1. */
static ssize_t fold_entry(const eg_win *w, wfold *f, const wrec *r)
{
	int sess = w->spec->kind == W_SESSION;
	if ((f->n + 1) * 2 > f->scap) {
		size_t cap = f->scap ? f->scap * 2 : 1024;
		uint32_t *s = calloc(cap, sizeof *s);
		if (!s)
			return -1;
		for (size_t i = 0; i < f->n; i++) {
			size_t j = fkey_hash(w, f->e[i].start, f->e[i].gid, f->e[i].serial) & (cap - 1);
			while (s[j])
				j = (j + 1) & (cap - 1);
			s[j] = (uint32_t)i + 1;
		}
		free(f->slot);
		f->slot = s, f->scap = cap;
	}
	size_t j = fkey_hash(w, r->start, r->gid, r->serial) & (f->scap - 1);
	for (; f->slot[j]; j = (j + 1) & (f->scap - 1)) {
		fent *e = &f->e[f->slot[j] - 1];
		if (sess ? e->serial == r->serial : (e->start == r->start && e->gid == r->gid))
			return f->slot[j] - 1;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		fent *v = realloc(f->e, cap * sizeof *v);
		if (!v)
			return -1;
		f->e = v, f->cap = cap;
	}
	f->e[f->n] = (fent){ r->start, r->end, r->serial, 0, 0, 0, r->gid, UINT32_MAX, 0, 0 };
	f->slot[j] = (uint32_t)f->n + 1;
	return (ssize_t)f->n++;
}

/* Called with each record folded (explain-diff collects the causes). */
typedef int (*fold_fn)(void *ctx, size_t entry, const wrec *r);

/* Fold the records after f->off made by events at positions <= to. */
static int fold_to(eg_win *w, wfold *f, uint64_t to, fold_fn fn, void *ctx)
{
	uint64_t end = eg_wch_len(w);
	wrec r;
	int rc;
	if (!f->n && fold_reserve(f, (size_t)(w->created + w->too_late / 4 + 1)))
		return eg_st_err(w->st, EG_ENOMEM, "out of memory");
	while (f->off < end) {
		if ((rc = eg_wch_read(w, f->off, &r)))
			return rc;
		if (r.pos > to)
			break;
		ssize_t i = fold_entry(w, f, &r);
		if (i < 0)
			return eg_st_err(w->st, EG_ENOMEM, "out of memory");
		fent *e = &f->e[i];
		switch (r.kind) {
		case WR_REV:
			e->rev = r.rev, e->revoff = f->off + 1, e->start = r.start, e->end = r.end;
			break;
		case WR_LATE:
			e->too_late++;
			if (!e->rev)     /* a window only too-late events reached */
				e->final = 1;
			break;
		case WR_FINAL:
			e->final = 1;
			break;
		case WR_RETRACT:
			e->gone = 1, e->rev = r.rev;
			break;
		}
		if (fn && (rc = fn(ctx, (size_t)i, &r)))
			return rc;
		f->off += r.len;
	}
	return EG_OK;
}

static void fold_free(wfold *f)
{
	free(f->e);
	free(f->slot);
	memset(f, 0, sizeof *f);
}

/* Point w->avals at a REV record's values (off 0, no revision: the values
 * over no events). */
static int row_values(eg_win *w, uint64_t revoff, const char **vals, size_t *lens)
{
	wrec r;
	int na = w->spec->na, rc;
	if (!revoff) {
		for (int i = 0; i < na; i++) {
			vals[i] = eg_win_empty_value(w->spec->a[i].agg);
			lens[i] = strlen(vals[i]);
		}
		return EG_OK;
	}
	if ((rc = eg_wch_read(w, revoff - 1, &r)))
		return rc;
	if (r.kind != WR_REV || r.nvals != na)
		return damaged(w, revoff - 1);
	const unsigned char *q = r.vals;
	for (int i = 0; i < na; i++) {
		lens[i] = rd32(q);
		vals[i] = (const char *)q + 4;
		q += 4 + lens[i];
	}
	return EG_OK;
}

static void row_init(eg_win *w, eg_win_row *row, int64_t start, int64_t end, uint32_t gid)
{
	eg_win_group_row(w, gid);
	*row = (eg_win_row){ .start = start, .end = end, .ngroups = (size_t)w->spec->ngroup,
			     .group_names = w->gnames, .groups = w->gvals, .group_lens = w->glens,
			     .naggs = (size_t)w->spec->na, .agg_names = w->anames,
			     .values = w->avals, .lens = w->alens };
}

/* Run fn on the entry's row (values from its latest revision). */
static int entry_row(eg_win *w, const fent *e, eg_win_row *row)
{
	row_init(w, row, e->start, e->end, e->gid);
	row->revision = e->rev;
	row->final = e->final;
	row->retracted = e->gone;
	row->too_late = e->too_late;
	if (e->slot != UINT32_MAX) {             /* open: its figures so far */
		int rc = eg_win_format(w, &w->w[e->slot]);
		if (rc)
			return rc;
		for (int i = 0; i < w->spec->na; i++) {
			w->avals[i] = w->vals.p + w->voffs[i];
			w->alens[i] = w->voffs[i + 1] - w->voffs[i];
		}
		return EG_OK;
	}
	return row_values(w, e->revoff, w->avals, w->alens);
}

/* Groups by their text, as memcmp orders it (a shorter prefix first). */
static int cmp_groups(const void *a, const void *b, void *ctx)
{
	const eg_win *w = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint64_t xe = x + 1 < w->ngroups ? w->goff[x + 1] : w->gtext.n;
	uint64_t ye = y + 1 < w->ngroups ? w->goff[y + 1] : w->gtext.n;
	size_t xn = xe - w->goff[x], yn = ye - w->goff[y];
	int c = xn && yn ? memcmp(w->gtext.p + w->goff[x], w->gtext.p + w->goff[y],
				   xn < yn ? xn : yn) : 0;
	return c ? c : (xn > yn) - (xn < yn);
}

typedef struct order_ctx {
	const fent *e;
	const uint32_t *rank;        /* group id -> its place in text order */
} order_ctx;

static int cmp_entries(const void *a, const void *b, void *ctx)
{
	const order_ctx *c = ctx;
	const fent *x = &c->e[*(const uint32_t *)a], *y = &c->e[*(const uint32_t *)b];
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (c->rank[x->gid] > c->rank[y->gid]) - (c->rank[x->gid] < c->rank[y->gid]);
}

/* The entries to show, ordered by start, end and group (the groups ranked
 * by their text once, so that the sort compares numbers). */
static uint32_t *entry_order(eg_win *w, const fent *e, size_t n, size_t *out)
{
	uint32_t *o = malloc((n + 1) * sizeof *o);
	uint32_t *g = malloc(((size_t)w->ngroups + 1) * sizeof *g);
	uint32_t *rank = malloc(((size_t)w->ngroups + 1) * sizeof *rank);
	size_t k = 0;
	if (!o || !g || !rank) {
		free(o), free(g), free(rank);
		return NULL;
	}
	for (uint32_t i = 0; i < w->ngroups; i++)
		g[i] = i;
	qsort_r(g, w->ngroups, sizeof *g, cmp_groups, w);
	for (uint32_t i = 0; i < w->ngroups; i++)
		rank[g[i]] = i;
	for (size_t i = 0; i < n; i++)
		if (!e[i].gone && (e[i].rev || e[i].too_late || e[i].slot != UINT32_MAX))
			o[k++] = (uint32_t)i;
	order_ctx c = { e, rank };
	qsort_r(o, k, sizeof *o, cmp_entries, &c);
	free(g), free(rank);
	*out = k;
	return o;
}

int eg_win_table(eg_win *w, uint64_t at, int include_open, eg_win_row_fn fn, void *ctx)
{
	if (!at || at > w->through)
		at = w->through;
	if (include_open && at != w->through)
		return eg_st_err(w->st, EG_EINVAL, "open windows are known only at the end of the run");
	wfold f = { 0 };
	int rc = EG_OK;
	if (at == w->through && w->spec->kind != W_SESSION && w->spec->lateness == WIN_FOREVER) {
		/* Tumbling and hopping windows never final: every window the
		 * records name is in memory (none leaves it, none is too late or
		 * retracted) and its latest REV record holds what its
		 * accumulators format to now, so the rows come from memory
		 * without reading the records back (a fifth of a from-scratch
		 * run over 1M events). */
		if (fold_reserve(&f, (size_t)w->open + 1))
			rc = eg_st_err(w->st, EG_ENOMEM, "out of memory");
		for (uint32_t i = 0; !rc && i < w->nw; i++) {
			const wwin *x = &w->w[i];
			if (x->serial && (x->emitted || include_open))
				f.e[f.n++] = (fent){ x->start, x->end, x->serial, x->rev, 0, 0,
						     x->gid, i, 0, 0 };
		}
		include_open = 0;
	} else {
		rc = fold_to(w, &f, at, NULL, NULL);
	}
	/* the windows not emitted yet, from memory */
	for (uint32_t i = 0; !rc && include_open && i < w->nw; i++) {
		const wwin *x = &w->w[i];
		if (!x->serial || x->emitted)
			continue;
		wrec r = { .serial = x->serial, .start = x->start, .end = x->end, .gid = x->gid };
		ssize_t k = fold_entry(w, &f, &r);
		if (k < 0)
			rc = eg_st_err(w->st, EG_ENOMEM, "out of memory");
		else
			f.e[k].slot = i;
	}
	size_t n = 0;
	uint32_t *o = rc ? NULL : entry_order(w, f.e, f.n, &n);
	if (!rc && !o)
		rc = eg_st_err(w->st, EG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		eg_win_row row;
		if (!(rc = entry_row(w, &f.e[o[i]], &row)))
			rc = fn(ctx, &row);
	}
	free(o);
	fold_free(&f);
	return rc;
}

uint64_t eg_win_cursor(const eg_win *w)
{
	return eg_wch_len(w);
}

/* The event at pos, through an iterator the caller frees. */
static int event_at(eg_win *w, uint64_t pos, eg_iter **it, const eg_event **e)
{
	eg_filter f = { .from = pos, .to = pos, .limit = 1, .upcast = !w->spec->no_upcast };
	int rc = eg_iter_new(w->st, it, &f);
	if (rc)
		return rc;
	rc = eg_iter_next(*it, e);
	return rc == EG_END ? eg_st_err(w->st, EG_ECORRUPT, "%s/changes names position %llu, "
				      "which the log does not hold; run engram reindex", w->ds.dir,
				      (unsigned long long)pos) : rc;
}

int eg_win_changes(eg_win *w, uint64_t *cursor, uint64_t to, eg_win_row_fn on_rev,
		   eg_win_late_fn on_late, void *ctx)
{
	uint64_t end = eg_wch_len(w);
	if (!to)
		to = UINT64_MAX;
	wrec r;
	int rc = EG_OK;
	while (*cursor < end) {
		if ((rc = eg_wch_read(w, *cursor, &r)))
			return rc;
		if (r.pos > to)
			break;
		uint64_t len = r.len;
		eg_win_row row;
		if ((r.kind == WR_REV || r.kind == WR_RETRACT) && on_rev) {
			row_init(w, &row, r.start, r.end, r.gid);
			row.revision = r.rev;
			row.retracted = r.kind == WR_RETRACT;
			row.pos = r.pos;
			/* a retraction shows the values it takes back */
			rc = row_values(w, r.kind == WR_REV ? *cursor + 1 : r.prev, w->avals, w->alens);
			if (!rc && r.kind == WR_REV && r.prev) {
				rc = row_values(w, r.prev, w->pvals, w->plens);
				row.prev_values = w->pvals;
				row.prev_lens = w->plens;
			}
			if (!rc)
				rc = on_rev(ctx, &row);
		} else if (r.kind == WR_LATE && on_late) {
			eg_iter *it = NULL;
			const eg_event *e;
			row_init(w, &row, r.start, r.end, r.gid);
			row.naggs = 0;           /* the window only */
			row.final = 1;
			row.pos = r.pos;
			rc = event_at(w, r.pos, &it, &e);
			if (!rc)
				rc = on_late(ctx, e, &row);
			eg_iter_free(it);
		}
		if (rc)
			return rc;
		*cursor += len;
	}
	return EG_OK;
}

/* ------------------------------------------------------- explain-diff */

typedef struct cause { uint32_t entry; uint64_t pos; } cause;

typedef struct diffctx {
	cause *v;
	size_t n, cap;
} diffctx;

/* Remember the events that changed an entry's figures after the first
 * report: a fold into it (a correction, or a late first result), a
 * too-late event, a merge. */
static int note_cause(void *ctx, size_t entry, const wrec *r)
{
	diffctx *d = ctx;
	if (!(r->flags & WR_CAUSE_EVENT) && r->kind != WR_LATE)
		return EG_OK;
	if (d->n && d->v[d->n - 1].entry == entry && d->v[d->n - 1].pos == r->pos)
		return EG_OK;            /* one event, several windows (hopping) */
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		cause *v = realloc(d->v, cap * sizeof *v);
		if (!v)
			return EG_ENOMEM;
		d->v = v, d->cap = cap;
	}
	d->v[d->n++] = (cause){ (uint32_t)entry, r->pos };
	return EG_OK;
}

static int cmp_cause(const void *a, const void *b)
{
	const cause *x = a, *y = b;
	if (x->entry != y->entry)
		return x->entry < y->entry ? -1 : 1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

int eg_win_diff(eg_win *w, uint64_t p1, uint64_t p2, eg_win_diff_fn fn, void *ctx)
{
	if (p1 > w->through)
		p1 = w->through;
	if (!p2 || p2 > w->through)
		p2 = w->through;
	if (p1 > p2)
		return eg_st_err(w->st, EG_EINVAL, "the first report must be the earlier one");
	wfold f = { 0 };
	diffctx d = { 0 };
	fent *before = NULL;
	size_t nb = 0, n = 0;
	uint32_t *o = NULL;
	int rc = fold_to(w, &f, p1, NULL, NULL);
	if (!rc && f.n && !(before = malloc(f.n * sizeof *before)))
		rc = EG_ENOMEM;
	if (!rc) {
		nb = f.n;
		if (nb)
			memcpy(before, f.e, nb * sizeof *before);
		rc = fold_to(w, &f, p2, note_cause, &d);
	}
	if (!rc && !(o = entry_order(w, f.e, f.n, &n)))
		rc = EG_ENOMEM;
	/* rows retracted since the first report are shown too */
	for (size_t i = 0; !rc && i < nb; i++)
		if (f.e[i].gone && !before[i].gone && (before[i].rev || before[i].too_late))
			o[n++] = (uint32_t)i;
	if (!rc && d.n)
		qsort(d.v, d.n, sizeof *d.v, cmp_cause);
	const char *bv[WIN_MAX_AGGS];
	size_t bl[WIN_MAX_AGGS];
	uint64_t *pos = NULL;
	for (size_t i = 0; !rc && i < n; i++) {
		const fent *a = &f.e[o[i]];
		const fent *b = o[i] < nb ? &before[o[i]] : NULL;
		int was = b && !b->gone && (b->rev || b->too_late);
		if (was && a->revoff == b->revoff && a->too_late == b->too_late && !a->gone)
			continue;            /* unchanged (or only became final) */
		eg_win_diff_row dr = { 0 };
		eg_win_row row;
		if ((rc = entry_row(w, a, &row)))
			break;
		dr.row = &row;
		dr.change = !was ? EG_WIN_NEW : a->gone ? EG_WIN_GONE : EG_WIN_CHANGED;
		if (was) {
			dr.before_revision = b->rev;
			dr.before_too_late = b->too_late;
			if ((rc = row_values(w, b->revoff, bv, bl)))
				break;
			dr.before_values = bv;
			dr.before_lens = bl;
		}
		/* its causes: a run in the sorted list */
		size_t lo = 0, hi = d.n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (d.v[mid].entry < o[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t c0 = lo, c = lo;
		while (c < d.n && d.v[c].entry == o[i])
			c++;
		uint64_t *p = realloc(pos, (c - c0 + 1) * sizeof *p);
		if (!p) {
			rc = EG_ENOMEM;
			break;
		}
		pos = p;
		for (size_t k = c0; k < c; k++)
			pos[k - c0] = d.v[k].pos;
		dr.events = pos;
		dr.nevents = c - c0;
		rc = fn(ctx, &dr);
	}
	if (rc == EG_ENOMEM)
		rc = eg_st_err(w->st, EG_ENOMEM, "out of memory");
	free(pos);
	free(o);
	free(before);
	free(d.v);
	fold_free(&f);
	return rc;
}

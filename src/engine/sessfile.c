/*
 * sessfile.c — the checkpoints of session runs (idx/sess/HASH/, described
 * in docs/FORMAT.md): the whole state at a log position, so that a query
 * takes only the events after the newest one.
 *
 *   ck-POS    kept: saved at the first event of every eg_sess_save_every
 *             positions, for queries known at an earlier time
 *   end-POS   the newest, saved where a run ended; replaces the one before
 *   lock      flock'd while a process runs and saves
 *
 * A checkpoint is written by the derived-state module (derived.c: tmp,
 * fdatasync, rename, directory fsync) and carries checksums and the
 * identity of an event at its position: one that is torn, damaged or from
 * a log that was since replaced is skipped, and the state is rebuilt from
 * an earlier one or from the log.  This file reads and writes bytes; the
 * engine (session.c) rebuilds its structures from what it hands back.
 */
#include "derived.h"
#include "internal.h"
#include "os.h"
#include "sess.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define CK_MAGIC "EGSESS01"
#define CK_HDR 112

int eg_sess_files_open(eg_store *st, const sess_key *k, sess_files *f)
{
	char hex[33];
	eg_ds_hex(k->hash, hex);
	return eg_ds_open(st, "sess", hex, !k->no_upcast, NULL, 0, f);
}

void eg_sess_files_close(sess_files *f)
{
	eg_ds_close(f);
}

int eg_sess_lock(eg_store *st, sess_files *f)
{
	return eg_ds_lock(st, f);
}

void eg_sess_unlock(sess_files *f)
{
	eg_ds_unlock(f);
}

/* ------------------------------------------------------------- saving */

/* The body is built a chunk at a time in memory, then hashed and written:
 * a field at a time through stdio and a streaming hash cost more than the
 * run they follow. */
#define WR_CHUNK (1u << 20)

typedef struct wr {
	eg_ds_wr out;                 /* hashes and writes each chunk */
	buf b;
	int nomem;
} wr;

static void wr_flush(wr *w)
{
	eg_ds_wr_put(&w->out, w->b.p, w->b.n, 1);
	w->b.n = 0;
}

static void put(wr *w, const void *p, size_t n)
{
	if (buf_add(&w->b, p, n))
		w->nomem = 1;
}

static void put32(wr *w, uint32_t v)
{
	put(w, &v, 4);
}

static void put64(wr *w, uint64_t v)
{
	put(w, &v, 8);
}

static void put_text(wr *w, const itab *t, uint32_t id)
{
	put32(w, t->e[id].len);
	put(w, t->text.p + t->e[id].off, t->e[id].len);
	if (w->b.n >= WR_CHUNK)
		wr_flush(w);
}

static void put_body(wr *w, const sstate *S)
{
	for (uint32_t u = 0; u < S->urls.n; u++)
		put_text(w, &S->urls, u);
	for (uint32_t sid = 0; sid < S->streams.n; sid++) {
		const sorder *o = &S->ord[sid];
		put_text(w, &S->streams, sid);
		put32(w, sess_count(o));
		for (uint32_t i = 0; i < sess_count(o); i++) {
			const ssess *x = sess_at(S, o, i);
			sess_prefetch(S, o, i + 4);
			struct {
				uint64_t v[8];
				uint32_t url[2], ncs;
			} __attribute__((packed)) r = {
				{ (uint64_t)x->start, (uint64_t)x->end, (uint64_t)x->entry_t,
				  (uint64_t)x->exit_t, x->entry_pos, x->exit_pos, x->events,
				  x->page_views },
				{ x->entry_url, x->exit_url }, x->ncs,
			};
			put(w, &r, sizeof r);
			if (x->ncs == 1)
				put64(w, x->cs.one);
			else if (x->ncs > 1)
				put(w, x->cs.many, (size_t)x->ncs * 8);
			if (w->b.n >= WR_CHUNK)
				wr_flush(w);
		}
	}
	wr_flush(w);
}

static void header(unsigned char *h, const sess_key *k, const sstate *S, uint64_t ident_pos,
		   uint64_t ident, uint64_t body_len, uint64_t body_check)
{
	uint64_t v[10] = { S->through, ident_pos, ident, S->events, S->merges, S->streams.n,
			   S->urls.n, S->live, body_len, body_check };
	memcpy(h, CK_MAGIC, 8);
	memcpy(h + 8, k->hash, 16);
	memcpy(h + 24, v, sizeof v);
	uint64_t c = XXH3_64bits(h, CK_HDR - 8);
	memcpy(h + CK_HDR - 8, &c, 8);
}

/* Delete the newest checkpoints (end-*) but the one named keep. */
static void drop_ends(const sess_files *f, const char *keep)
{
	DIR *d = eg_os.opendir(f->dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "end-", 4) || !strcmp(de->d_name, keep))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
		eg_os.unlink(p);
	}
	closedir(d);
}

int eg_sess_save(eg_store *st, const sess_files *f, const sess_key *k, const sstate *S,
	      uint64_t ident_pos, uint64_t ident, int keep)
{
	if (f->lockfd < 0)
		return EG_OK;
	char name[64];
	snprintf(name, sizeof name, "%s-%016llx", keep ? "ck" : "end",
		 (unsigned long long)S->through);
	wr w = { 0 };
	if (eg_ds_wr_begin(&w.out, f, name, CK_HDR))
		return eg_st_errno(st, "cannot write %s/%s.tmp", f->dir, name);
	if (buf_reserve(&w.b, WR_CHUNK + 4096)) {
		eg_ds_wr_abort(&w.out);
		return eg_st_err(st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	}
	put_body(&w, S);
	free(w.b.p);
	if (w.nomem) {
		eg_ds_wr_abort(&w.out);
		return eg_st_err(st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	}
	unsigned char h[CK_HDR];          /* the header, once the body is known */
	header(h, k, S, ident_pos, ident, w.out.off - CK_HDR, eg_ds_wr_digest(&w.out));
	if (eg_ds_wr_commit(&w.out, h, CK_HDR, 0))
		return eg_st_errno(st, "cannot write %s/%s", f->dir, name);
	if (!keep)
		drop_ends(f, name);
	return EG_OK;
}

/* ------------------------------------------------------------ loading */

typedef struct ck_ctx {
	eg_store *st;
	const sess_key *k;
} ck_ctx;

/* Is [p, p + n) a whole, valid checkpoint of key k for this log? */
static int ck_check(const unsigned char *p, size_t n, void *arg)
{
	const ck_ctx *c = arg;
	if (n < CK_HDR || memcmp(p, CK_MAGIC, 8) || memcmp(p + 8, c->k->hash, 16))
		return -1;
	uint64_t v[10], hc;
	memcpy(v, p + 24, sizeof v);
	memcpy(&hc, p + CK_HDR - 8, 8);
	if (hc != XXH3_64bits(p, CK_HDR - 8) || v[8] != n - CK_HDR ||
	    v[9] != XXH3_64bits(p + CK_HDR, n - CK_HDR))
		return -1;
	uint64_t ident = 0;
	if (v[1] && (eg_store_event_ident(c->st, v[1], &ident) || ident != v[2]))
		return -1;                     /* the log is not the one it was taken from */
	return v[6] >= UINT32_MAX || v[5] >= UINT32_MAX ? -1 : 0;
}

int eg_sess_ck_read(eg_store *st, const sess_files *f, const sess_key *k, uint64_t cand,
		 eg_ds_view *view, sess_ckpt *c)
{
	char name[64];
	snprintf(name, sizeof name, "%s-%016llx", cand & 1 ? "end" : "ck",
		 (unsigned long long)(cand / 2));
	ck_ctx ctx = { st, k };
	int rc = eg_ds_read(f, name, EG_DS_MAP, CK_HDR, ck_check, &ctx, view);
	if (rc)
		return rc;
	madvise(view->p, view->n, MADV_SEQUENTIAL);          /* a hint */
	const unsigned char *p = view->p;
	uint64_t v[10];
	memcpy(v, p + 24, sizeof v);
	*c = (sess_ckpt){ .through = v[0], .events = v[3], .merges = v[4], .nstreams = v[5],
			  .nurls = v[6], .live = v[7], .body = p + CK_HDR,
			  .len = view->n - CK_HDR };
	return EG_OK;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x < y) - (x > y);
}

/* Checkpoints are found by name: "ck-" or "end-" then 16 hex digits.
 * Each candidate is kept as its position times 2, plus 1 for end-. */
size_t eg_sess_ck_list(const sess_files *f, uint64_t at, uint64_t **out)
{
	*out = NULL;
	if (f->lockfd < 0)
		return 0;
	DIR *d = eg_os.opendir(f->dir);
	if (!d)
		return 0;
	uint64_t *c = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int end = !strncmp(de->d_name, "end-", 4);
		const char *hex = de->d_name + (end ? 4 : 3);
		char *e;
		if (!end && strncmp(de->d_name, "ck-", 3))
			continue;
		unsigned long long pos = strtoull(hex, &e, 16);
		if (strlen(hex) != 16 || *e || pos > at || pos >= UINT64_MAX / 2)
			continue;
		if (n == cap) {
			uint64_t *q = realloc(c, (cap = cap ? cap * 2 : 16) * sizeof *q);
			if (!q)
				break;
			c = q;
		}
		c[n++] = pos * 2 + (uint64_t)end;
	}
	closedir(d);
	if (n)
		qsort(c, n, sizeof *c, cmp_desc);
	*out = c;
	return n;
}

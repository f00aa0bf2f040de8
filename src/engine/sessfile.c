/*
 * sessfile.c — the checkpoints of session runs (idx/sess/HASH/, described
 * in docs/FORMAT.md): the whole state at a log position, so that a query
 * takes only the events after the newest one.
 *
 *   ck-POS    kept: saved at the first event of every sess_save_every
 *             positions, for queries known at an earlier time
 *   end-POS   the newest, saved where a run ended; replaces the one before
 *   lock      flock'd while a process runs and saves
 *
 * A checkpoint is written to a temporary file and renamed into place, and
 * carries checksums and the identity of an event at its position: one that
 * is torn, damaged or from a log that was since replaced is skipped, and
 * the state is rebuilt from an earlier one or from the log.  They are
 * derived files, so they are not fsync'd.
 */
#include "internal.h"
#include "os.h"
#include "sess.h"

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

#define CK_MAGIC "EGSESS01"
#define CK_HDR 112

int sess_files_open(eg_store *st, const sess_key *k, sess_files *f)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/idx/sess", st->dir);
	mkdir(path, 0755);
	int n = snprintf(f->dir, sizeof f->dir, "%s/", path);
	for (int i = 0; i < 16; i++)
		n += snprintf(f->dir + n, sizeof f->dir - (size_t)n, "%02x", k->hash[i]);
	mkdir(f->dir, 0755);
	snprintf(path, sizeof path, "%s/lock", f->dir);
	f->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->lockfd < 0)
		return -1;
	spec_state_used(st, f->lockfd);
	return 0;
}

void sess_files_close(sess_files *f)
{
	if (f->lockfd >= 0)
		close(f->lockfd);
	f->lockfd = -1;
}

int sess_lock(eg_store *st, sess_files *f)
{
	if (f->lockfd < 0)
		return EG_OK;
	while (flock(f->lockfd, LOCK_EX) != 0)
		if (errno != EINTR)
			return st_errno(st, "cannot lock %s", f->dir);
	return EG_OK;
}

void sess_unlock(sess_files *f)
{
	if (f->lockfd >= 0)
		flock(f->lockfd, LOCK_UN);
}

/* ------------------------------------------------------------- saving */

/* The body is built a chunk at a time in memory, then hashed and written:
 * a field at a time through stdio and a streaming hash cost more than the
 * run they follow. */
#define WR_CHUNK (1u << 20)

typedef struct wr {
	int fd;
	XXH3_state_t *h;
	buf b;
	uint64_t off;                 /* where b goes in the file */
	int nomem, err;               /* err: errno of a failed write */
} wr;

static void wr_flush(wr *w)
{
	if (!w->b.n || w->err)
		return;
	XXH3_64bits_update(w->h, w->b.p, w->b.n);
	if (os_pwrite_all(w->fd, w->b.p, w->b.n, (off_t)w->off))
		w->err = errno ? errno : EIO;
	w->off += w->b.n;
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
	DIR *d = opendir(f->dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "end-", 4) || !strcmp(de->d_name, keep))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	closedir(d);
}

int sess_save(eg_store *st, const sess_files *f, const sess_key *k, const sstate *S,
	      uint64_t ident_pos, uint64_t ident, int keep)
{
	if (f->lockfd < 0)
		return EG_OK;
	char tmp[PATH_MAX], name[64], path[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/tmp", f->dir);
	snprintf(name, sizeof name, "%s-%016llx", keep ? "ck" : "end",
		 (unsigned long long)S->through);
	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	wr w = { .fd = eg_os.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
		 .h = XXH3_createState(), .off = CK_HDR };
	int rc = EG_OK;
	if (w.fd < 0 || !w.h || buf_reserve(&w.b, WR_CHUNK + 4096)) {
		rc = w.fd < 0 ? st_errno(st, "cannot write %s", tmp) : st_err(st, EG_ENOMEM, "out of memory");
		goto out;
	}
	XXH3_64bits_reset(w.h);
	put_body(&w, S);
	unsigned char h[CK_HDR];          /* the header, once the body is known */
	header(h, k, S, ident_pos, ident, w.off - CK_HDR, XXH3_64bits_digest(w.h));
	if (w.nomem) {
		rc = st_err(st, EG_ENOMEM, "out of memory");
		goto out;
	}
	if (w.err || os_pwrite_all(w.fd, h, CK_HDR, 0)) {
		if (w.err)
			errno = w.err;
		rc = st_errno(st, "cannot write %s", tmp);
		goto out;
	}
	if (eg_os.rename(tmp, path)) {
		rc = st_errno(st, "cannot rename %s", tmp);
		goto out;
	}
	if (!keep)
		drop_ends(f, name);
out:
	if (w.fd >= 0)
		eg_os.close(w.fd);
	if (rc)
		eg_os.unlink(tmp);
	free(w.b.p);
	XXH3_freeState(w.h);
	return rc;
}

/* ------------------------------------------------------------ loading */

/* A text of the body interned into t: its id (UINT32_MAX if bad). */
static uint32_t get_text(bread *r, itab *t)
{
	uint32_t n = bread_u32(r);
	const unsigned char *q = bread_get(r, n);
	return q ? itab_get(t, XXH3_64bits(q, n), (const char *)q, n) : UINT32_MAX;
}

static int get_session(bread *r, sstate *S, uint32_t sid, uint32_t nurls)
{
	uint32_t id = sess_new(S, sid, S->ord[sid].n);
	if (id == UINT32_MAX)
		return -1;
	S->live++;
	ssess *x = &S->s[id];
	const unsigned char *q = bread_get(r, 64);
	if (!q)
		return -1;
	uint64_t v[8];
	memcpy(v, q, sizeof v);
	x->start = (int64_t)v[0];
	x->end = (int64_t)v[1];
	x->entry_t = (int64_t)v[2];
	x->exit_t = (int64_t)v[3];
	x->entry_pos = v[4];
	x->exit_pos = v[5];
	x->events = v[6];
	x->page_views = v[7];
	x->entry_url = bread_u32(r);
	x->exit_url = bread_u32(r);
	uint32_t ncs = bread_u32(r);
	if (r->bad || x->entry_url > nurls || x->exit_url > nurls || ncs > (size_t)(r->end - r->p) / 8)
		return -1;
	for (uint32_t i = 0; i < ncs; i++)
		if (sess_add_cs(x, bread_u64(r)))
			return -1;
	return 0;
}

/* Decode the checkpoint in [p, p + n) into S; 0, or -1 if it is not a
 * whole, valid checkpoint of key k for this log. */
static int decode(eg_store *st, const sess_key *k, const unsigned char *p, size_t n, sstate *S)
{
	if (n < CK_HDR || memcmp(p, CK_MAGIC, 8) || memcmp(p + 8, k->hash, 16))
		return -1;
	uint64_t v[10], c;
	memcpy(v, p + 24, sizeof v);
	memcpy(&c, p + CK_HDR - 8, 8);
	if (c != XXH3_64bits(p, CK_HDR - 8) || v[8] != n - CK_HDR ||
	    v[9] != XXH3_64bits(p + CK_HDR, n - CK_HDR))
		return -1;
	uint64_t ident = 0;
	if (v[1] && (store_event_ident(st, v[1], &ident) || ident != v[2]))
		return -1;                     /* the log is not the one it was taken from */
	bread r = { p + CK_HDR, p + n, 0 };
	uint64_t nstreams = v[5], nurls = v[6];
	if (nurls >= UINT32_MAX || nstreams >= UINT32_MAX)
		return -1;
	for (uint64_t u = 0; u < nurls; u++)
		if (get_text(&r, &S->urls) != u)
			return -1;
	for (uint64_t i = 0; i < nstreams; i++) {
		uint32_t len = bread_u32(&r);
		const unsigned char *q = bread_get(&r, len);
		uint32_t sid = q ? sess_stream(S, (const char *)q, len) : UINT32_MAX;
		if (sid != i)
			return -1;
		uint32_t ns = bread_u32(&r);
		for (uint32_t j = 0; j < ns && !r.bad; j++)
			if (get_session(&r, S, sid, (uint32_t)nurls))
				return -1;
		sorder *o = &S->ord[sid];
		if (o->n) {                    /* the newest moves inline */
			ssess *x = &S->s[o->ss[o->n - 1]];
			o->cur = *x;
			o->has_cur = 1;
			x->ncs = 0;
			if (sess_drop(S, sid, o->n - 1))
				return -1;
		}
	}
	if (r.bad || r.p != r.end || S->live != v[7])
		return -1;
	S->through = v[0];
	S->events = v[3];
	S->merges = v[4];
	return 0;
}

static int load_file(eg_store *st, const sess_files *f, const sess_key *k, const char *name,
		     sstate *S)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	int rc = -1;
	if (fstat(fd, &sb) == 0 && sb.st_size >= CK_HDR) {
		void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			madvise(m, (size_t)sb.st_size, MADV_SEQUENTIAL);
			rc = decode(st, k, m, (size_t)sb.st_size, S);
			munmap(m, (size_t)sb.st_size);
		}
	}
	close(fd);
	if (rc)
		sess_state_free(S);
	return rc;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x < y) - (x > y);
}

/* Checkpoints are found by name: "ck-" or "end-" then 16 hex digits.
 * Each candidate is kept as its position times 2, plus 1 for end-. */
int sess_load(eg_store *st, const sess_files *f, const sess_key *k, uint64_t at, sstate *S)
{
	memset(S, 0, sizeof *S);
	if (f->lockfd < 0)
		return EG_OK;
	DIR *d = opendir(f->dir);
	if (!d)
		return EG_OK;
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
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s-%016llx", c[i] & 1 ? "end" : "ck",
			 (unsigned long long)(c[i] / 2));
		if (load_file(st, f, k, name, S) == 0)
			break;
	}
	free(c);
	return EG_OK;
}

static int sess_derived(const char *name)
{
	return !strncmp(name, "ck-", 3) || !strncmp(name, "end-", 4) || !strcmp(name, "tmp");
}

int sess_drop_all(eg_store *st)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/idx/sess", st->dir);
	os_unlink_in_subdirs(path, sess_derived);
	return EG_OK;
}

/*
 * derived.c — the derived-state module (see derived.h): directories by spec
 * hash, their locks and spec.json, the one checkpoint writer and reader,
 * and the registry of kinds that reindex runs.  Every file call goes
 * through eg_os, so the fault sweep and the crash loop reach all of it.
 */
#include "derived.h"
#include "chain.h"
#include "contract.h"
#include "internal.h"
#include "os.h"

#include <openssl/evp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

void eg_ds_hex(const unsigned char hash[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

void eg_ds_path(const eg_ds *d, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", d->dir, name);
}

/* spec.json says how to run the spec again (reindex, engram specs): kept
 * whole by writing it atomically, and rewritten when it is not the size
 * of the spec (a copy torn by a crash of an older engram). */
static void keep_spec(eg_store *st, const eg_ds *d, const char *spec, size_t n)
{
	char f[PATH_MAX];
	struct stat sb;
	eg_ds_path(d, "spec.json", f);
	if (!spec || (eg_os.stat(f, &sb) == 0 && (size_t)sb.st_size == n))
		return;
	if (eg_os_write_file_atomic(d->dir, "spec.json", spec, n))
		eg_st_note_errno(st, "cannot save %s (reindex rebuilds this state only when it is "
			      "next used)", f);
}

/* The directory of a state that reads events through the upcasts: the
 * spec's hash mixed with the upcasts' fingerprint, so that a new upcast
 * (which changes what old events read as) starts the state anew.  The
 * spec's own hash when the store has no upcast. */
static void upcast_hex(eg_store *st, const char *hex, char out[33])
{
	snprintf(out, 33, "%s", hex);
	if (eg_reg_refresh(st) || !st->reg->fp[0])
		return;
	char text[128];
	unsigned char md[32];
	unsigned int n = 0;
	int len = snprintf(text, sizeof text, "%s upcast %s", hex, st->reg->fp);
	if (EVP_Digest(text, (size_t)len, md, &n, eg_chain_sha256(), NULL) == 1)
		eg_ds_hex(md, out);
}

/* The directory of kind sub: idx/sub, or DIR/NAME for "/NAME". */
static void kind_dir(const eg_store *st, const char *sub, char out[PATH_MAX])
{
	if (sub[0] == '/')
		snprintf(out, PATH_MAX, "%s%s", st->dir, sub);
	else
		snprintf(out, PATH_MAX, "%s/idx/%s", st->dir, sub);
}

int eg_ds_open(eg_store *st, const char *sub, const char *hex, int upcast, const char *spec,
	       size_t speclen, eg_ds *d)
{
	char path[PATH_MAX], name[NAME_MAX + 1];   /* a dataset's name: up to 128 bytes */
	d->lockfd = -1;
	d->cleaned = 0;
	if (upcast)
		upcast_hex(st, hex, name);
	else
		snprintf(name, sizeof name, "%s", hex);
	kind_dir(st, sub, path);
	eg_os.mkdir(path, 0755);
	snprintf(d->dir, sizeof d->dir, "%s/%s", path, name);
	eg_os.mkdir(d->dir, 0755);
	eg_ds_path(d, "lock", path);
	d->lockfd = eg_os.open(path, O_RDWR | O_CREAT, 0644);
	if (d->lockfd < 0)
		return -1;
	eg_spec_state_used(st, d->lockfd);
	keep_spec(st, d, spec, speclen);
	return 0;
}

void eg_ds_close(eg_ds *d)
{
	if (d->lockfd >= 0)
		eg_os.close(d->lockfd);
	d->lockfd = -1;
}

static int is_tmp(const char *name)
{
	size_t n = strlen(name);
	/* "tmp": the name sessions used before this module */
	return !strcmp(name, "tmp") || (n > 4 && !strcmp(name + n - 4, ".tmp"));
}

static void clean_tmp(eg_ds *d)
{
	eg_os_unlink_in_dir(d->dir, is_tmp);
	d->cleaned = 1;
}

int eg_ds_lock(eg_store *st, eg_ds *d)
{
	if (d->lockfd < 0)
		return EG_OK;
	while (eg_os.flock(d->lockfd, LOCK_EX) != 0)
		if (errno != EINTR)
			return eg_st_errno(st, "cannot lock %s", d->dir);
	if (!d->cleaned)
		clean_tmp(d);
	return EG_OK;
}

void eg_ds_unlock(eg_ds *d)
{
	if (d->lockfd >= 0)
		eg_os.flock(d->lockfd, LOCK_UN);
}

/* ------------------------------------------------------------ writing */

static void wr_fail(eg_ds_wr *w)
{
	if (!w->err)
		w->err = errno ? errno : EIO;
}

int eg_ds_wr_begin(eg_ds_wr *w, const eg_ds *d, const char *name, uint64_t hdr_len)
{
	memset(w, 0, sizeof *w);
	w->d = d;
	w->off = hdr_len;
	snprintf(w->tmp, sizeof w->tmp, "%s/%s.tmp", d->dir, name);
	eg_ds_path(d, name, w->dst);
	w->fd = eg_os.open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	w->h = XXH3_createState();
	if (w->fd < 0 || !w->h || XXH3_64bits_reset(w->h) != XXH_OK) {
		if (w->fd >= 0 && !w->h)
			errno = ENOMEM;
		int e = errno;
		eg_ds_wr_abort(w);
		errno = e;
		return -1;
	}
	return 0;
}

void eg_ds_wr_hash(eg_ds_wr *w, const void *p, size_t n)
{
	if (!w->err && n && XXH3_64bits_update(w->h, p, n) != XXH_OK)
		w->err = ENOMEM;
}

void eg_ds_wr_put(eg_ds_wr *w, const void *p, size_t n, int hashed)
{
	if (w->err || !n)
		return;
	if (hashed)
		eg_ds_wr_hash(w, p, n);
	if (eg_os_pwrite_all(w->fd, p, n, (off_t)w->off))
		wr_fail(w);
	w->off += n;
}

uint64_t eg_ds_wr_digest(eg_ds_wr *w)
{
	return XXH3_64bits_digest(w->h);
}

void eg_ds_wr_abort(eg_ds_wr *w)
{
	if (w->fd >= 0) {
		eg_os.close(w->fd);
		eg_os.unlink(w->tmp);
	}
	w->fd = -1;
	XXH3_freeState(w->h);
	w->h = NULL;
}

int eg_ds_wr_commit(eg_ds_wr *w, const void *hdr, size_t hdr_len, int tail_sum)
{
	if (tail_sum) {
		uint64_t c = eg_ds_wr_digest(w);
		eg_ds_wr_put(w, &c, 8, 0);
	}
	if (!w->err && hdr_len && eg_os_pwrite_all(w->fd, hdr, hdr_len, 0))
		wr_fail(w);
	if (!w->err && eg_os.fdatasync(w->fd))
		wr_fail(w);
	if (w->err) {
		int e = w->err;
		eg_ds_wr_abort(w);
		errno = e;
		return -1;
	}
	eg_os.close(w->fd);
	w->fd = -1;
	XXH3_freeState(w->h);
	w->h = NULL;
	if (eg_os.rename(w->tmp, w->dst)) {
		int e = errno;
		eg_os.unlink(w->tmp);
		errno = e;
		return -1;
	}
	return eg_os_fsync_dir(w->d->dir);
}

int eg_ds_write(const eg_ds *d, const char *name, const void *p, size_t n)
{
	eg_ds_wr w;
	if (eg_ds_wr_begin(&w, d, name, 0))
		return -1;
	eg_ds_wr_put(&w, p, n, 1);
	return eg_ds_wr_commit(&w, NULL, 0, 1);
}

/* ------------------------------------------------------------ reading */

int eg_ds_tail_sum_ok(const unsigned char *p, size_t n, void *ctx)
{
	(void)ctx;
	uint64_t c;
	if (n < 8)
		return -1;
	memcpy(&c, p + n - 8, 8);
	return c == XXH3_64bits(p, n - 8) ? 0 : -1;
}

static int map_fd(int fd, size_t n, int flags, eg_ds_view *v)
{
	int prot = PROT_READ | (flags & EG_DS_PRIVATE ? PROT_WRITE : 0);
	void *m = eg_os.mmap(NULL, n, prot, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -1;
	v->p = m;
	v->mapped = 1;
	return 0;
}

static int read_fd(int fd, size_t n, eg_ds_view *v)
{
	v->p = malloc(n ? n : 1);
	if (!v->p || eg_os_pread_all(fd, v->p, n, 0)) {
		free(v->p);
		v->p = NULL;
		return -1;
	}
	return 0;
}

int eg_ds_read(const eg_ds *d, const char *name, int flags, size_t min,
	       eg_ds_check_fn check, void *ctx, eg_ds_view *v)
{
	char path[PATH_MAX];
	memset(v, 0, sizeof *v);
	eg_ds_path(d, name, path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT ? EG_DS_ABSENT : EG_DS_IOERR;
	off_t size = eg_os_file_size(fd);
	int rc = EG_OK;
	if (size < 0) {
		rc = EG_DS_IOERR;
	} else if ((uint64_t)size < min || (size == 0 && (flags & EG_DS_MAP))) {
		rc = EG_DS_DAMAGED;
	} else {
		v->n = (size_t)size;
		if (flags & EG_DS_MAP ? map_fd(fd, v->n, flags, v) : read_fd(fd, v->n, v))
			rc = EG_DS_IOERR;
	}
	int e = errno;
	eg_os.close(fd);
	if (rc == EG_OK && check && check(v->p, v->n, ctx))
		rc = EG_DS_DAMAGED;
	if (rc) {
		eg_ds_view_free(v);
		errno = e;   /* the reason of an EG_DS_IOERR */
	}
	return rc;
}

void eg_ds_view_free(eg_ds_view *v)
{
	if (v->p && v->mapped)
		eg_os.munmap(v->p, v->n);
	else
		free(v->p);
	memset(v, 0, sizeof *v);
}

/* ------------------------------------------------- directories, kinds */

int eg_ds_list(eg_store *st, const char *sub, eg_ds_dir_fn fn, void *ctx)
{
	char parent[PATH_MAX];
	kind_dir(st, sub, parent);
	DIR *d = eg_os.opendir(parent);
	if (!d)
		return errno == ENOENT ? EG_OK : eg_st_errno(st, "cannot open %s", parent);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s/%s", parent, de->d_name);
		rc = fn(ctx, dir, de->d_name);
	}
	closedir(d);
	return rc;
}

static int any(const char *name)
{
	(void)name;
	return 1;
}

int eg_ds_remove_dir(const char *dir)
{
	eg_os_unlink_in_dir(dir, any);
	return eg_os.rmdir(dir);
}

/* What a drop leaves of a state: its lock (a query may hold it) and its
 * spec (reindex rebuilds from it). */
static int not_kept(const char *name)
{
	return strcmp(name, "lock") && strcmp(name, "spec.json");
}

static int drop_in(void *ctx, const char *dir, const char *hash)
{
	(void)ctx, (void)hash;
	eg_os_unlink_in_dir(dir, not_kept);
	return 0;
}

int eg_ds_drop_files(eg_store *st, const char *sub)
{
	return eg_ds_list(st, sub, drop_in, NULL);
}

#define MAX_KINDS 16

static eg_ds_kind kinds[MAX_KINDS] = {
	{ "proj", "projection", NULL, NULL, 0 },
	{ "win", "window", NULL, NULL, 0 },
	{ "sess", "session", NULL, NULL, 0 },
	/* known here too, not only once their engines register hooks, so that
	 * eg_store_forget drops them in a program that does not link those
	 * engines (docs/FORGETTING.md) */
	{ "feat", "features", NULL, NULL, 0 },
	{ "metrics", "metrics", NULL, NULL, 0 },
	{ "errors", "errors", NULL, NULL, 0 },
};
static size_t nkinds = 6;

static eg_ds_kind *kind_of(const char *sub, const char *name)
{
	size_t i = 0;
	while (i < nkinds && strcmp(kinds[i].sub, sub))
		i++;
	if (i == nkinds) {
		if (nkinds == MAX_KINDS)
			return NULL;
		kinds[nkinds++] = (eg_ds_kind){ sub, name, NULL, NULL, 0 };
	}
	return &kinds[i];
}

int eg_ds_register(const char *sub, const char *name, int (*drop_all)(eg_store *st),
		   int (*rebuild_all)(eg_store *st))
{
	eg_ds_kind *k = kind_of(sub, name);
	if (!k)
		return -1;
	k->drop_all = drop_all;
	k->rebuild_all = rebuild_all;
	return 0;
}

int eg_ds_as_stored(const char *sub, const char *name)
{
	eg_ds_kind *k = kind_of(sub, name);
	if (!k)
		return -1;
	k->as_stored = 1;
	return 0;
}

const eg_ds_kind *eg_ds_kinds(size_t *n)
{
	*n = nkinds;
	return kinds;
}

int eg_ds_reindex(eg_store *st)
{
	int rc = EG_OK;
	for (size_t i = 0; i < nkinds && !rc; i++)
		rc = kinds[i].drop_all ? kinds[i].drop_all(st) : eg_ds_drop_files(st, kinds[i].sub);
	/* rebuilding a kind is not using it: engram specs --unused must
	 * still see it as unused */
	st->quiet_use = 1;
	for (size_t i = 0; i < nkinds && !rc; i++)
		if (kinds[i].rebuild_all)
			rc = kinds[i].rebuild_all(st);
	st->quiet_use = 0;
	return rc;
}

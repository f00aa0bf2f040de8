/*
 * backup.c — a consistent copy of a live store (engram backup DIR).
 *
 * Log segments only ever grow, and every byte before the committed head
 * is final (recovery cuts only after it), so a reader can copy them while
 * a writer appends: the bytes up to the head it saw, no more, make a log
 * whose last batch is whole.  Consumer checkpoints are copied first, so
 * none is ahead of that head.  Derived files are left out and built from
 * the copy's own log, so they cannot disagree with it.
 */
#include "internal.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COPY_CHUNK (1u << 20)

/* dir must not exist (it is created) or be an empty directory. */
static int make_target(eg_store *st, const char *dir)
{
	if (eg_os.mkdir(dir, 0755) == 0)
		return EG_OK;
	if (errno != EEXIST)
		return eg_st_errno(st, "cannot create %s", dir);
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return eg_st_errno(st, "%s exists and is not a directory I can open", dir);
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	if (!empty)
		return eg_st_err(st, EG_EINVAL, "%s exists and is not empty: expected a new or "
			      "empty directory for the copy", dir);
	return EG_OK;
}

typedef struct ckpt_copy {
	eg_store *st;
	char dir[PATH_MAX];
	uint64_t n;
} ckpt_copy;

static int copy_ckpt(void *ctx, const char *name, uint64_t pos)
{
	ckpt_copy *c = ctx;
	char *schemas = NULL;
	int rc = eg_consumer_schemas(c->st, name, &schemas);
	if (rc == EG_OK)
		rc = eg_ckpt_write(c->st, c->dir, name, pos, schemas);
	free(schemas);
	if (rc == EG_OK)
		c->n++;
	return rc;
}

/* Copy bytes [0, len) of the open segment fd into a new file at path. */
static int copy_bytes_mode(eg_store *st, int fd, uint64_t len, const char *path,
			   unsigned char *buf, mode_t mode)
{
	int out = eg_os.open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (out < 0)
		return eg_st_errno(st, "cannot create %s", path);
	int rc = EG_OK;
	for (uint64_t off = 0; off < len && rc == EG_OK; ) {
		size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
		if (eg_os_pread_all(fd, buf, n, (off_t)off))
			rc = eg_st_errno(st, "cannot read the log to copy it");
		else if (eg_os_pwrite_all(out, buf, n, (off_t)off))
			rc = eg_st_errno(st, "cannot write %s", path);
		off += n;
	}
	if (rc == EG_OK && eg_os.fdatasync(out))
		rc = eg_st_errno(st, "cannot sync %s", path);
	eg_os.close(out);
	return rc;
}

static int copy_bytes(eg_store *st, int fd, uint64_t len, const char *path, unsigned char *buf)
{
	return copy_bytes_mode(st, fd, len, path, buf, 0644);
}

/* The log's segments up to the head: whole files before the head's, the
 * head's up to the end of its last commit. */
static int copy_log(eg_store *st, const char *logdir, const eg_head *h, eg_backup_result *res)
{
	eg_log *lg = &st->log;
	if (h->pos == 0)
		return EG_OK;
	unsigned char *buf = malloc(COPY_CHUNK);
	if (!buf)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	int rc = EG_OK;
	for (uint32_t i = 0; i <= lg->head_at.seg && rc == EG_OK; i++) {
		off_t size = eg_os_file_size(lg->segs[i].fd);
		if (size < 0) {
			rc = eg_st_errno(st, "cannot stat a segment of the log");
			break;
		}
		/* a sealed segment is whole and committed: its file as it is */
		uint64_t len = i == lg->head_at.seg && !lg->segs[i].sealed ? lg->head_at.off
									     : (uint64_t)size;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%020llu.seg", logdir,
			 (unsigned long long)lg->segs[i].first_pos);
		rc = copy_bytes(st, lg->segs[i].fd, len, path, buf);
		res->bytes += len;
		res->segments++;
	}
	free(buf);
	return rc;
}

/* The key file (DIR/keys, docs/FORGETTING.md) as it is: it is not
 * derived, so the copy cannot build it.  Forgotten keys are zeros in it. */
static int copy_keys(eg_store *st, const char *dir)
{
	char path[PATH_MAX], dst[PATH_MAX];
	snprintf(path, sizeof path, "%s/keys", st->dir);
	snprintf(dst, sizeof dst, "%s/keys", dir);
	int fd = eg_os.open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? EG_OK : eg_st_errno(st, "cannot open %s", path);
	off_t size = eg_os_file_size(fd);
	unsigned char *buf = size >= 0 ? malloc(COPY_CHUNK) : NULL;
	int rc = buf ? copy_bytes_mode(st, fd, (uint64_t)size, dst, buf, 0600)
		     : size < 0 ? eg_st_errno(st, "cannot stat %s", path)
				: eg_st_err(st, EG_ENOMEM, "out of memory");
	free(buf);
	eg_os.close(fd);
	return rc;
}

/* Open the copy as its writer (which builds its indexes), verify it, and
 * check it ends where the source's head was. */
static int check_copy(eg_store *st, const char *dir, const eg_head *h)
{
	eg_store *cp = NULL;
	eg_verify_result v;
	int rc = eg_store_open(&cp, dir, EG_OPEN_WRITE, NULL);
	if (rc == EG_OK)
		rc = eg_store_verify(cp, &v);
	if (rc == EG_OK)
		rc = eg_store_flush(cp);
	if (rc) {
		eg_st_err(st, rc, "the copy at %s: %s", dir, eg_errmsg(cp));
	} else if (v.head_pos != h->pos || memcmp(v.hash, h->hash, 32)) {
		rc = eg_st_err(st, EG_ECORRUPT, "the copy at %s ends at position %llu, "
			    "not at the head copied (%llu)", dir,
			    (unsigned long long)v.head_pos, (unsigned long long)h->pos);
	}
	eg_store_close(cp);
	return rc;
}

int eg_store_backup(eg_store *st, const char *dir, eg_backup_result *res)
{
	memset(res, 0, sizeof *res);
	if (strlen(dir) > PATH_MAX - 64)
		return eg_st_err(st, EG_EINVAL, "backup path is too long");
	char logdir[PATH_MAX];
	ckpt_copy cc = { .st = st };
	snprintf(logdir, sizeof logdir, "%s/log", dir);
	snprintf(cc.dir, sizeof cc.dir, "%s/consumers", dir);
	int rc = make_target(st, dir);
	if (rc)
		return rc;
	if (eg_os.mkdir(logdir, 0755) || eg_os.mkdir(cc.dir, 0755))
		return eg_st_errno(st, "cannot create the copy's directories in %s", dir);
	/* checkpoints first: each is at most the head it was set under, so
	 * at most the head read after */
	if ((rc = eg_consumer_list(st, copy_ckpt, &cc)))
		return rc;
	res->consumers = cc.n;
	if ((rc = eg_store_head(st, &res->head)) ||
	    (rc = copy_log(st, logdir, &res->head, res)))
		return rc;
	/* after the log: every key an event up to the head uses was synced
	 * before its commit, so it is in the file as read now */
	if ((rc = copy_keys(st, dir)))
		return rc;
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof parent, ".");
	else
		slash[slash == parent] = 0;   /* "/x" -> "/" */
	if (eg_os_fsync_dir(logdir) || eg_os_fsync_dir(cc.dir) || eg_os_fsync_dir(dir) ||
	    eg_os_fsync_dir(parent))
		return eg_st_errno(st, "cannot sync the copy's directories in %s", dir);
	return check_copy(st, dir, &res->head);
}

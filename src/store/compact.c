/*
 * compact.c — sealing the log's segments: engram compact (every segment,
 * now, on the caller's thread) and the writer's background sealer (each
 * segment a batch has closed, on a thread of its own, so that append's
 * critical path never waits for zstd).  The format and the reading side
 * are in seal.c; replacing a segment's file is eg_log_seal (log.c).
 */
#include "internal.h"
#include "os.h"
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

struct eg_autoseal {
	pthread_t th;
	int running;                 /* started and not joined */
	atomic_int done;             /* the thread has finished its list */
	volatile int stop;
	char dir[PATH_MAX];
	seal_opts o;
	uint64_t *firsts;            /* the segments it seals, by first position */
	size_t n;
	uint32_t next_seg;           /* segments before this index were handed over */
	char err[400];               /* the first failure, for eg_store_note */
};

/* Keep the first failure (with errno's reason).  (A seal stopped at close
 * is left for later, not a failure: its callers do not come here.) */
static void seal_failed(struct eg_autoseal *a, uint64_t first_pos, const char *what, int e)
{
	if (a->err[0])
		return;
	snprintf(a->err, sizeof a->err, "sealing segment %020llu.seg in the background: %s%s%s; "
		 "it stays as it was (engram compact seals it)", (unsigned long long)first_pos, what,
		 e ? ": " : "", e ? strerror(e) : "");
}

/* Seal one closed segment by its file alone (the writer's view of the log
 * is not touched: the writer keeps reading the plain file it has open,
 * whose inode lives until it closes it). */
static void seal_file(struct eg_autoseal *a, uint64_t first_pos)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/%020llu.seg", a->dir, (unsigned long long)first_pos);
	snprintf(tmp, sizeof tmp, "%s%s", path, SEAL_TMP_SUFFIX);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0) {
		seal_failed(a, first_pos, "cannot open it", errno);
		return;
	}
	unsigned char magic[8];
	off_t size = eg_os_file_size(fd);
	void *m = MAP_FAILED;
	if (size > SEG_HDR_LEN && eg_os.pread(fd, magic, 8, 0) == 8 && !eg_seal_is(magic, 8) &&
	    (m = eg_os.mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		seal_failed(a, first_pos, "cannot map it", errno);
	eg_os.close(fd);
	if (m == MAP_FAILED)
		return;
	int out = eg_os.open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint64_t flen;
	char why[256] = "";
	int rc = out < 0 ? EG_EIO : eg_seal_write(out, m, (size_t)size, &a->o, &flen, why, sizeof why);
	int e = errno;
	if (rc == EG_OK && eg_os.fdatasync(out)) {
		rc = EG_EIO;
		e = errno;
	}
	if (out >= 0)
		eg_os.close(out);
	eg_os.munmap(m, (size_t)size);
	if (rc == EG_OK && !a->stop && eg_os.rename(tmp, path)) {
		rc = EG_EIO;
		e = errno;
	}
	/* a failure leaves the plain segment */
	if (rc != EG_OK || a->stop) {
		if (rc == EG_ECORRUPT)
			seal_failed(a, first_pos, why, 0);
		else if (rc == EG_ENOMEM)
			seal_failed(a, first_pos, "out of memory", 0);
		else if (rc != EG_EINTR)
			seal_failed(a, first_pos, "cannot write it", e);
		eg_os.unlink(tmp);
		return;
	}
	if (eg_os_fsync_dir(a->dir))
		seal_failed(a, first_pos, "cannot sync the log directory", errno);
}

static void *autoseal_main(void *arg)
{
	struct eg_autoseal *a = arg;
	pthread_setname_np(pthread_self(), "engram-seal");
	for (size_t i = 0; i < a->n && !a->stop; i++)
		seal_file(a, a->firsts[i]);
	atomic_store(&a->done, 1);
	return NULL;
}

static void autoseal_join(struct eg_autoseal *a)
{
	if (a->running) {
		pthread_join(a->th, NULL);
		a->running = 0;
	}
	free(a->firsts);
	a->firsts = NULL;
	a->n = 0;
}

void eg_autoseal_stop(eg_store *st)
{
	struct eg_autoseal *a = st->autoseal;
	if (!a)
		return;
	a->stop = 1;
	autoseal_join(a);
	if (a->err[0] && !st->note[0])
		snprintf(st->note, sizeof st->note, "%s", a->err);
	free(a);
	st->autoseal = NULL;
}

void eg_autoseal_kick(eg_store *st)
{
	eg_log *lg = &st->log;
	uint32_t closed = lg->head_at.seg;   /* segments before the head's are whole */
	if (st->seal_mode == EG_SEAL_NEVER || !st->writable)
		return;
	struct eg_autoseal *a = st->autoseal;
	if ((a ? a->next_seg : 0) >= closed || (a && a->running && !atomic_load(&a->done)))
		return;
	if (!a) {
		if (!(a = calloc(1, sizeof *a)))
			return;
		snprintf(a->dir, sizeof a->dir, "%s", lg->dir);
		a->o = (seal_opts){ SEAL_BLOCK_DEFAULT, SEAL_LEVEL_DEFAULT, &a->stop };
		st->autoseal = a;
	}
	autoseal_join(a);
	if (!(a->firsts = malloc((closed - a->next_seg) * sizeof *a->firsts)))
		return;
	for (uint32_t i = a->next_seg; i < closed; i++) {
		off_t size = eg_os_file_size(lg->segs[i].fd);
		if (!lg->segs[i].sealed && size > SEG_HDR_LEN &&
		    (st->seal_mode == EG_SEAL_ALWAYS || (uint64_t)size >= AUTOSEAL_MIN_BYTES))
			a->firsts[a->n++] = lg->segs[i].first_pos;
	}
	a->next_seg = closed;
	if (!a->n)
		return;
	atomic_store(&a->done, 0);
	a->running = pthread_create(&a->th, NULL, autoseal_main, a) == 0;
}

/* Has the background sealer replaced segment i's file since it was
 * opened?  Then read the new one. */
static int pick_up_sealed(eg_store *st, uint32_t i)
{
	eg_log *lg = &st->log;
	char path[PATH_MAX];
	struct stat a, b;
	eg_log_seg_path(lg, lg->segs[i].first_pos, path, sizeof path);
	if (eg_os.stat(path, &a) || eg_os.fstat(lg->segs[i].fd, &b))
		return eg_st_errno(st, "cannot stat %s", path);
	return a.st_ino == b.st_ino ? EG_OK : eg_log_reopen_seg(st, lg, i);
}

int eg_store_compact(eg_store *st, const eg_compact_opts *o, eg_compact_result *out)
{
	memset(out, 0, sizeof *out);
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	seal_opts so = { SEAL_BLOCK_DEFAULT, SEAL_LEVEL_DEFAULT, NULL };
	if (o && o->block_size)
		so.block_size = o->block_size;
	if (o && o->level)
		so.level = o->level;
	if (so.block_size < SEAL_BLOCK_MIN || so.block_size > SEAL_BLOCK_MAX)
		return eg_st_err(st, EG_EINVAL, "block size: expected 4k to 16M");
	if (so.level < 1 || so.level > 19)
		return eg_st_err(st, EG_EINVAL, "level: expected 1 to 19");
	if (st->in_batch)
		return eg_st_err(st, EG_EINVAL, "a batch is open");
	eg_autoseal_stop(st);
	eg_log *lg = &st->log;
	int rc = eg_log_flush(st, lg);
	for (uint32_t i = 0; rc == EG_OK && i < lg->nseg && i <= lg->head_at.seg; i++) {
		if (!lg->segs[i].sealed && (rc = pick_up_sealed(st, i)))
			break;
		if (lg->segs[i].sealed) {
			out->already++;
			continue;
		}
		uint64_t before, after;
		if ((rc = eg_log_seal(st, lg, i, &so, &before, &after)))
			break;
		out->sealed++;
		out->bytes_before += before;
		out->bytes_after += after;
	}
	uint64_t committed, uncommitted;
	eg_log_bytes(lg, &committed, &uncommitted);
	out->log_bytes = committed + uncommitted;
	return rc;
}

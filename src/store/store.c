/*
 * store.c — opening and closing a store: the directory, the single-writer
 * lock, recovery of the log and of the derived files, error messages, and
 * finding an event's record by position.
 */
#include "internal.h"
#include "colint.h"
#include "contract.h"
#include "keys.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *eg_strerror(int code)
{
	switch (code) {
	case EG_OK: return "ok";
	case EG_END: return "end of events";
	case EG_EINVAL: return "invalid argument or input";
	case EG_ENOMEM: return "out of memory";
	case EG_EIO: return "I/O error";
	case EG_ECORRUPT: return "integrity failure";
	case EG_ECONFLICT: return "expected version mismatch";
	case EG_ELOCKED: return "store is locked by another writer";
	case EG_ENOTFOUND: return "not found";
	case EG_EDUP: return "duplicate event id";
	case EG_EREADONLY: return "store is open for reading only";
	case EG_EINTR: return "interrupted";
	}
	return "unknown error";
}

int eg_st_err(eg_store *st, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof st->err, fmt, ap);
	va_end(ap);
	return code;
}

/* fmt's text, then ": strerror(e)", into dst. */
static void with_reason(char *dst, size_t cap, int e, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, cap, fmt, ap);
	if (n >= 0 && (size_t)n < cap)
		snprintf(dst + n, cap - (size_t)n, ": %s", strerror(e));
}

int eg_st_errno(eg_store *st, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	with_reason(st->err, sizeof st->err, e, fmt, ap);
	va_end(ap);
	errno = e;
	return EG_EIO;
}

void eg_st_note_errno(eg_store *st, const char *fmt, ...)
{
	int e = errno;
	if (st->note[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	with_reason(st->note, sizeof st->note, e, fmt, ap);
	va_end(ap);
	errno = e;
}

const char *eg_store_note(const eg_store *st)
{
	return st && st->note[0] ? st->note : NULL;
}

const char *eg_errmsg(const eg_store *st)
{
	return st ? st->err : "out of memory";
}

void eg_hash_hex(const unsigned char hash[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[hash[i] >> 4];
		out[2 * i + 1] = hx[hash[i] & 15];
	}
	out[64] = 0;
}

/* The write lock is a POSIX record lock on byte 0 of DIR/LOCK, released by
 * the kernel when the process dies, so a crash never leaves a stale lock.
 * A brief writer (EG_OPEN_CATCHUP: a reader bringing lagging derived files
 * up to date) first locks byte 1 as well, so that a writer which finds
 * byte 0 held can tell it will soon be free and wait for it. */
static int lock_byte(int fd, off_t at, int cmd, struct flock *fl)
{
	*fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };
	return fcntl(fd, cmd, fl);
}

static int held_by_other(int fd, off_t at, long *pid)
{
	struct flock q;
	if (lock_byte(fd, at, F_GETLK, &q) != 0 || q.l_type == F_UNLCK)
		return 0;
	*pid = (long)q.l_pid;
	return 1;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* eg_open_opts.lock_wait_us: try byte 0 again until the deadline.  fcntl
 * has no timed wait (F_SETLKW ends early only on a signal, and a library
 * takes no signals), so waiters poll, 0.2 ms at first and at most 2 ms
 * apart: whoever tries first after the holder goes gets the lock, which
 * is arrival order only roughly (as the kernel's own F_SETLKW queue is
 * not strictly FIFO either). */
static int wait_lock(int fd, int64_t wait_us)
{
	struct flock fl;
	int64_t end = mono_us() + wait_us, nap = 200;
	while (lock_byte(fd, 0, F_SETLK, &fl) != 0) {
		if (errno != EACCES && errno != EAGAIN)
			return -1;
		int64_t now = mono_us();
		if (now >= end)
			return -1;
		int64_t d = nap < end - now ? nap : end - now;
		usleep((useconds_t)d);
		nap = nap < 2000 ? nap + 200 : 2000;
	}
	return 0;
}

static int take_lock(eg_store *st, int brief, int64_t wait_us)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/LOCK", st->dir);
	st->lock_fd = eg_os.open(path, O_RDWR | O_CREAT, 0644);
	if (st->lock_fd < 0)
		return eg_st_errno(st, "cannot open %s", path);
	struct flock fl;
	long pid = 0;
	if (brief) {
		if (lock_byte(st->lock_fd, 1, F_SETLK, &fl) != 0 ||
		    lock_byte(st->lock_fd, 0, F_SETLK, &fl) != 0)
			goto busy;
	} else {
		/* a brief holder goes soon: wait for it; one that has just
		 * gone leaves byte 0 free on the next try */
		for (int retried = 0; lock_byte(st->lock_fd, 0, F_SETLK, &fl) != 0;) {
			if (errno != EACCES && errno != EAGAIN)
				return eg_st_errno(st, "cannot lock %s", path);
			if (held_by_other(st->lock_fd, 1, &pid)) {
				usleep(5000);
				retried = 0;
			} else if (retried++) {
				if (wait_us > 0 && wait_lock(st->lock_fd, wait_us) == 0)
					break;
				if (errno != EACCES && errno != EAGAIN)
					return eg_st_errno(st, "cannot lock %s", path);
				goto refused;
			}
		}
	}
	char line[32];
	int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (eg_os.ftruncate(st->lock_fd, 0) == 0)
		eg_os_pwrite_all(st->lock_fd, line, (size_t)n, 0);
	return EG_OK;
busy:
	if (errno != EACCES && errno != EAGAIN)
		return eg_st_errno(st, "cannot lock %s", path);
refused:
	if (!held_by_other(st->lock_fd, 0, &pid))
		held_by_other(st->lock_fd, 1, &pid);
	return eg_st_err(st, EG_ELOCKED, "store is locked by pid %ld", pid);
}

static int is_dir(const char *path)
{
	struct stat sb;
	return eg_os.stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int open_store(eg_store *st, const char *dir, int flags, const eg_open_opts *o)
{
	char logdir[PATH_MAX];
	if (strlen(dir) > PATH_MAX - 256)
		return eg_st_err(st, EG_EINVAL, "store path is too long");
	snprintf(st->dir, sizeof st->dir, "%s", dir);
	snprintf(logdir, sizeof logdir, "%s/log", dir);
	st->writable = (flags & EG_OPEN_WRITE) != 0;
	st->seal_mode = o ? o->seal : EG_SEAL_AUTO;
	if (!is_dir(logdir)) {
		if (!(st->writable && (flags & EG_OPEN_CREATE)))
			return eg_st_err(st, EG_ENOTFOUND, "no store at %s (engram append creates one)", dir);
		if ((eg_os.mkdir(dir, 0755) && errno != EEXIST) || (eg_os.mkdir(logdir, 0755) && errno != EEXIST))
			return eg_st_errno(st, "cannot create store %s", dir);
	}
	int rc;
	if (st->writable && (rc = take_lock(st, (flags & EG_OPEN_CATCHUP) != 0,
						 o ? o->lock_wait_us : 0)))
		return rc;
	if ((rc = eg_log_open(st, &st->log, logdir, st->writable, o ? o->segment_bytes : 0)))
		return rc;
	if ((rc = eg_index_open(st, st->writable)))
		return rc;
	int match = eg_index_state_matches_log(st);
	if (!st->writable) {
		st->ix.usable = st->ix.usable && match;
		return eg_log_refresh(st, &st->log);
	}
	if ((rc = eg_log_recover(st, &st->log, st->ix.st.through_pos)))
		return rc;
	if ((rc = match ? eg_index_catch_up(st) : eg_index_rebuild(st)))
		return rc;
	/* the column files: a brief writer builds them now, a writer on a
	 * thread of its own as events come */
	if (flags & EG_OPEN_CATCHUP) {
		char err[256];
		if (eg_col_lag_events(st) && eg_col_build(st->dir, NULL, err, sizeof err))
			snprintf(st->note, sizeof st->note, "%s (the next writer or reader builds "
				 "them)", err);
		return EG_OK;
	}
	eg_col_writer_open(st);
	/* segments an earlier writer closed and did not get to seal */
	eg_autoseal_kick(st);
	return EG_OK;
}

int eg_store_open(eg_store **out, const char *dir, int flags, const eg_open_opts *o)
{
	eg_store *st = calloc(1, sizeof *st);
	*out = st;
	if (!st)
		return EG_ENOMEM;
	st->lock_fd = -1;
	st->ix.fd_blocks = st->ix.fd_post = st->ix.fd_keys = st->ix.fd_keystate = -1;
	st->ix.fd_state = st->ix.ids.fd = st->ix.keys.fd = -1;
	return open_store(st, dir, flags, o);
}

int eg_store_flush(eg_store *st)
{
	eg_col_writer_close(st);     /* the column builder stops: the handle only reads */
	eg_autoseal_stop(st);   /* a seal in progress stops; its failure is a note */
	if (!st->writable || st->log.failed)
		return EG_OK;
	return eg_index_close_clean(st);
}

void eg_store_close(eg_store *st)
{
	if (!st)
		return;
	eg_col_writer_close(st);
	eg_autoseal_stop(st);
	eg_store_flush(st);
	eg_index_close(st);
	eg_log_close(&st->log);
	if (st->lock_fd >= 0)
		eg_os.close(st->lock_fd);
	eg_reg_free(st->reg);
	eg_keys_close(st);
	free(st);
}

int eg_store_head(eg_store *st, eg_head *out)
{
	int rc;
	if (!st->writable) {
		eg_index_refresh(st);
		if ((rc = eg_log_refresh(st, &st->log)))
			return rc;
	}
	out->pos = st->log.head_pos;
	memcpy(out->hash, st->log.head_chain, 32);
	return EG_OK;
}

uint64_t eg_store_col_lag(eg_store *st)
{
	return eg_col_lag_events(st);
}

uint64_t eg_store_index_lag(eg_store *st)
{
	if (!st->ix.usable)
		return UINT64_MAX;
	uint64_t t = st->ix.st.through_pos, h = st->log.head_pos;
	return t >= h ? 0 : h - t;
}

/* Walk the records of a block (or the log from a place) to event pos. */
static int walk_to(eg_store *st, logpos at, uint64_t pos, uint32_t max_events,
		   const unsigned char **rec, size_t *len, logpos *where)
{
	eg_log *lg = &st->log;
	for (uint32_t k = 0; k < max_events; ) {
		const unsigned char *p = eg_log_ptr(st, lg, at, REC_PREFIX);
		if (!p) {
			if (at.seg + 1 < lg->nseg && eg_log_avail(lg, at.seg, at.off) == 0) {
				at.seg++;
				at.off = SEG_HDR_LEN;
				continue;
			}
			return EG_ENOTFOUND;
		}
		int type;
		size_t n = rec_peek(p, eg_log_avail(lg, at.seg, at.off), &type);
		if (!n)
			return eg_st_err(st, EG_ECORRUPT, "bad record at segment %020llu.seg offset %llu",
				      (unsigned long long)lg->segs[at.seg].first_pos,
				      (unsigned long long)at.off);
		if (type == REC_EVENT) {
			if (n >= EVT_FIXED && rd64(p + 10) == pos) {
				*rec = p;
				*len = n;
				*where = at;
				return EG_OK;
			}
			k++;
		}
		at.off += n;
	}
	return EG_ENOTFOUND;
}

int eg_store_locate(eg_store *st, uint64_t pos, const unsigned char **rec,
		 size_t *len, int64_t *recorded, logpos *at)
{
	block b;
	uint64_t bi;
	int rc = eg_index_find_block(st, pos, &b, &bi);
	if (rc == EG_OK) {
		if (bi == UINT64_MAX && (rc = eg_log_flush(st, &st->log)))
			return rc;
		uint32_t s = eg_log_seg_index(&st->log, b.seg_first_pos);
		if (s == UINT32_MAX)
			return eg_st_err(st, EG_ECORRUPT, "idx/blocks names a missing segment; run engram reindex");
		*recorded = b.recorded;
		logpos start = { s, b.off };
		return walk_to(st, start, pos, b.count, rec, len, at);
	}
	return rc;
}

/*
 * The writer confirms id matches with pread into a small buffer, not the
 * log's mapping: a mapping touched at random positions would pull a large
 * part of the log into the process's resident memory on a long append.
 */
int eg_store_read_event(eg_store *st, uint64_t pos, unsigned char **buf, size_t *cap,
		     size_t *len)
{
	block b;
	uint64_t bi;
	int rc = eg_index_find_block(st, pos, &b, &bi);
	if (rc)
		return rc;
	/* An event of the open batch may still be in the log's buffers:
	 * eg_log_pread reads it there, without a flush (a flush here would
	 * wait for the writer thread and hash a part-filled buffer on this
	 * one, for each of the ~1 in 1000 ids whose tag matches another's). */
	uint32_t s = eg_log_seg_index(&st->log, b.seg_first_pos);
	if (s == UINT32_MAX)
		return EG_ENOTFOUND;
	uint64_t off = b.off;
	for (uint32_t k = 0; k < b.count; ) {
		if (*cap < 16384) {
			unsigned char *nb = realloc(*buf, 16384);
			if (!nb)
				return eg_st_err(st, EG_ENOMEM, "out of memory");
			*buf = nb;
			*cap = 16384;
		}
		ssize_t got = eg_log_pread_min(st, &st->log, s, *buf, *cap, off, REC_PREFIX);
		if (got < 0 && errno == EBADMSG)
			return EG_ECORRUPT;
		if (got < 0)
			return eg_st_errno(st, "cannot read segment %020llu.seg",
					(unsigned long long)b.seg_first_pos);
		if (got < REC_PREFIX)
			return EG_ENOTFOUND;
		size_t at = 0;
		while (k < b.count && at + REC_PREFIX <= (size_t)got) {
			uint32_t n = rd32(*buf + at);
			if (n < REC_PREFIX || n > REC_MAX_LEN)
				return EG_ENOTFOUND;
			if (at + n > (size_t)got) {
				if (at == 0) {  /* one record larger than the buffer */
					unsigned char *nb = realloc(*buf, n);
					if (!nb)
						return eg_st_err(st, EG_ENOMEM, "out of memory");
					*buf = nb;
					*cap = n;
				}
				break;
			}
			if ((*buf)[at + 8] == REC_EVENT) {
				if (n >= EVT_FIXED && rd64(*buf + at + 10) == pos) {
					memmove(*buf, *buf + at, n);
					*len = n;
					return EG_OK;
				}
				k++;
			}
			at += n;
		}
		off += at;
	}
	return EG_ENOTFOUND;
}

/*
 * log.c — the append-only log: segment files, the spool of an open batch,
 * commit, and recovery.
 *
 * A batch is a run of event records followed by one commit record; only a
 * batch whose commit record is intact is part of the log.  Recovery walks
 * forward from the last known commit and cuts everything after the last
 * intact commit, unless an intact commit for a later batch follows the
 * damage: then committed data was damaged and the store is refused.
 */
#include "chain.h"
#include "internal.h"
#include "os.h"
#include "pipe.h"
#include "seal.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WBUF_SIZE (1u << 20)
/* Start writeback of the spool every this many bytes so that the commit's
 * fdatasync finds little left to write. */
#define EAGER_SYNC_BYTES (8u << 20)

static void seg_path(const eg_log *lg, uint64_t first_pos, char *out, size_t n)
{
	snprintf(out, n, "%s/%020llu.seg", lg->dir, (unsigned long long)first_pos);
}

void eg_log_seg_path(const eg_log *lg, uint64_t first_pos, char *out, size_t n)
{
	seg_path(lg, first_pos, out, n);
}

uint32_t eg_log_seg_index(const eg_log *lg, uint64_t first_pos)
{
	uint32_t lo = 0, hi = lg->nseg;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (lg->segs[mid].first_pos < first_pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < lg->nseg && lg->segs[lo].first_pos == first_pos ? lo : UINT32_MAX;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A sealed segment is read through its own reader (seal.h), opened here:
 * one that does not open is kept, with why, so that only reads of it fail
 * (verify names the place) and the rest of the store stays readable. */
static int seg_attach(eg_store *st, seg *s)
{
	unsigned char magic[8];
	if (eg_os.pread(s->fd, magic, 8, 0) != 8 || !eg_seal_is(magic, 8))
		return EG_OK;
	char why[256] = "";
	s->sealed = 1;
	int rc = eg_sealed_open(s->fd, NULL, 0, &s->sz, why, sizeof why);
	if (rc == EG_ENOMEM)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (rc == EG_EIO)
		return eg_st_errno(st, "cannot map sealed segment %020llu.seg",
				   (unsigned long long)s->first_pos);
	if (rc) {
		s->sz_err = strdup(why);
		return EG_OK;
	}
	const seal_info *h = eg_sealed_info(s->sz);
	s->map = eg_sealed_map(s->sz);
	s->map_len = h->logical_len;
	if (h->first_pos != s->first_pos) {
		s->sz_err = strdup("its header names another first position than its file name");
		eg_sealed_free(s->sz);
		s->sz = NULL;
		s->map = NULL;
		s->map_len = 0;
	}
	return EG_OK;
}

int eg_log_sealed_err(eg_store *st, eg_log *lg, uint32_t i, int rc, const char *why)
{
	if (rc == EG_ENOMEM)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	return eg_st_err(st, EG_ECORRUPT, "sealed segment %020llu.seg: %s; run engram verify",
			 (unsigned long long)lg->segs[i].first_pos, why);
}

static int seg_push(eg_store *st, eg_log *lg, uint64_t first_pos, int fd)
{
	if (lg->nseg == lg->capseg) {
		uint32_t cap = lg->capseg ? lg->capseg * 2 : 16;
		seg *s = realloc(lg->segs, cap * sizeof *s);
		if (!s)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		lg->segs = s;
		lg->capseg = cap;
	}
	seg *s = &lg->segs[lg->nseg++];
	memset(s, 0, sizeof *s);
	s->first_pos = first_pos;
	s->fd = fd;
	int rc = seg_attach(st, s);
	if (rc)
		lg->nseg--;
	return rc;
}

static void seg_drop(eg_log *lg, uint32_t i)
{
	seg *s = &lg->segs[i];
	if (s->sealed) {
		eg_seal_rd_quiesce(lg->rd);
		eg_sealed_free(s->sz);
	} else if (s->map) {
		eg_os.munmap(s->map, s->map_len);
	}
	if (s->fd >= 0)
		eg_os.close(s->fd);
	free(s->sz_err);
	s->sz = NULL;
	s->sz_err = NULL;
	s->sealed = 0;
	s->map = NULL;
	s->map_len = 0;
	s->fd = -1;
}

/* A crashed seal leaves its tmp file: the segment itself is whole. */
static int is_seal_tmp(const char *name)
{
	size_t n = strlen(name), k = strlen(SEAL_TMP_SUFFIX);
	return n > k && strcmp(name + n - k, SEAL_TMP_SUFFIX) == 0;
}

int eg_log_open(eg_store *st, eg_log *lg, const char *dir, int writable,
	     uint64_t seg_limit)
{
	memset(lg, 0, sizeof *lg);
	snprintf(lg->dir, sizeof lg->dir, "%s", dir);
	lg->writable = writable;
	lg->seg_limit = seg_limit ? seg_limit : DEFAULT_SEGMENT_BYTES;
	if (!(lg->rd = eg_seal_rd_new()))
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return eg_st_errno(st, "cannot open %s", dir);
	uint64_t *names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (writable && is_seal_tmp(de->d_name)) {
			char tmp[PATH_MAX];
			snprintf(tmp, sizeof tmp, "%s/%s", dir, de->d_name);
			eg_os.unlink(tmp);
			continue;
		}
		if (len != 24 || strcmp(de->d_name + 20, ".seg"))
			continue;
		char *end;
		unsigned long long v = strtoull(de->d_name, &end, 10);
		if (end != de->d_name + 20 || v == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				closedir(d);
				free(names);
				return eg_st_err(st, EG_ENOMEM, "out of memory");
			}
			names = nn;
		}
		names[n++] = v;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_u64);
	int rc = EG_OK;
	for (size_t i = 0; i < n && rc == EG_OK; i++) {
		char path[PATH_MAX];
		seg_path(lg, names[i], path, sizeof path);
		int fd = eg_os.open(path, writable ? O_RDWR : O_RDONLY, 0);
		if (fd < 0) {
			rc = eg_st_errno(st, "cannot open %s", path);
			break;
		}
		rc = seg_push(st, lg, names[i], fd);
		if (rc)
			eg_os.close(fd);
	}
	free(names);
	lg->head_at.seg = 0;
	lg->head_at.off = SEG_HDR_LEN;
	return rc;
}

void eg_log_close(eg_log *lg)
{
	eg_worker_free(lg->writer);   /* waits for a write in hand */
	free(lg->wjob);
	free(lg->wspare);
	eg_seal_rd_free(lg->rd);
	lg->rd = NULL;
	for (uint32_t i = 0; i < lg->nseg; i++)
		seg_drop(lg, i);
	free(lg->segs);
	free(lg->wbuf);
	eg_chain_free(lg->chain);
	memset(lg, 0, sizeof *lg);
}

/* Make logical bytes [off, off+n) of sealed segment i readable. */
static int sealed_ready(eg_store *st, eg_log *lg, uint32_t i, uint64_t off, uint64_t n,
			eg_seal_rd *rd)
{
	seg *s = &lg->segs[i];
	if (!s->sz)
		return eg_log_sealed_err(st, lg, i, EG_ECORRUPT, s->sz_err ? s->sz_err : "unreadable");
	char why[256];
	int rc = eg_sealed_ready(s->sz, rd, off, n, why, sizeof why);
	return rc ? eg_log_sealed_err(st, lg, i, rc, why) : EG_OK;
}

/* A sealed segment's logical bytes are all "mapped": need makes the block
 * that holds byte need-1 readable. */
int eg_log_map_seg(eg_store *st, eg_log *lg, uint32_t i, size_t need)
{
	seg *s = &lg->segs[i];
	if (s->sealed) {
		if (need > s->map_len)
			return s->sz ? EG_END : sealed_ready(st, lg, i, 0, 0, NULL);
		return need ? sealed_ready(st, lg, i, need - 1, 1, NULL) : EG_OK;
	}
	if (s->map_len >= need && need)
		return EG_OK;
	off_t size = eg_os_file_size(s->fd);
	if (size < 0)
		return eg_st_errno(st, "cannot stat segment %020llu", (unsigned long long)s->first_pos);
	if ((size_t)size == s->map_len || size == 0)
		return (size_t)size >= need ? EG_OK : EG_END;
	void *m;
	if (s->map)
		m = eg_os.mremap(s->map, s->map_len, (size_t)size, MREMAP_MAYMOVE);
	else
		m = eg_os.mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, s->fd, 0);
	if (m == MAP_FAILED)
		return eg_st_errno(st, "cannot map segment %020llu", (unsigned long long)s->first_pos);
	s->map = m;
	s->map_len = (size_t)size;
	return s->map_len >= need ? EG_OK : EG_END;
}

/* For a sealed segment: up to the end of the ready block holding off (a
 * record never spans blocks). */
size_t eg_log_avail(eg_log *lg, uint32_t i, uint64_t off)
{
	seg *s = &lg->segs[i];
	if (s->sealed)
		return s->sz ? eg_sealed_ready_end(s->sz, off) - off : 0;
	return s->map_len > off ? s->map_len - off : 0;
}

int eg_log_map_all(eg_store *st, eg_log *lg, uint32_t i)
{
	seg *s = &lg->segs[i];
	if (s->sealed)
		return sealed_ready(st, lg, i, 0, s->map_len, NULL);
	return eg_log_map_seg(st, lg, i, 0);
}

static ssize_t spool_pread(eg_log *lg, uint32_t i, void *buf, size_t n, uint64_t off);

ssize_t eg_log_pread(eg_store *st, eg_log *lg, uint32_t i, void *buf, size_t n, uint64_t off)
{
	return eg_log_pread_min(st, lg, i, buf, n, off, n);
}

ssize_t eg_log_pread_min(eg_store *st, eg_log *lg, uint32_t i, void *buf, size_t n, uint64_t off,
			 size_t need)
{
	seg *s = &lg->segs[i];
	if (!s->sealed)
		return spool_pread(lg, i, buf, n, off);
	if (off >= s->map_len)
		return 0;
	if (n > s->map_len - off)
		n = s->map_len - off;
	/* more than need only as far as the block that holds need's end: a
	 * further block would be decompressed for bytes nobody asked for */
	if (s->sz && need && need < n) {
		uint64_t e = eg_sealed_block_end(s->sz, off + need - 1);
		if (e - off < n)
			n = (size_t)(e - off);
	}
	if (!s->sz) {
		sealed_ready(st, lg, i, 0, 0, NULL);
		errno = EBADMSG;
		return -1;
	}
	/* a scan moving on from a sealed segment gives its memory back */
	uint32_t prev = atomic_exchange(&lg->rd_seg, i + 1);
	if (prev && prev - 1 != i && prev - 1 < lg->nseg && lg->segs[prev - 1].sz)
		eg_sealed_release(lg->segs[prev - 1].sz);
	char why[256];
	int rc = eg_sealed_copy(s->sz, lg->rd, off, n, buf, why, sizeof why);
	if (rc) {
		eg_log_sealed_err(st, lg, i, rc, why);
		errno = rc == EG_ENOMEM ? ENOMEM : EBADMSG;
		return -1;
	}
	return (ssize_t)n;
}

const unsigned char *eg_log_ptr(eg_store *st, eg_log *lg, logpos at, size_t n)
{
	if (at.seg >= lg->nseg)
		return NULL;
	seg *s = &lg->segs[at.seg];
	if (s->sealed)
		return at.off + n <= s->map_len && sealed_ready(st, lg, at.seg, at.off, n, NULL) == EG_OK
			? s->map + at.off : NULL;
	if (at.off + n > s->map_len && eg_log_map_seg(st, lg, at.seg, at.off + n))
		return NULL;
	return s->map + at.off;
}

/* Everything up to the head is committed; the bytes after it (in the head's
 * segment and any later one) are an interrupted batch that the next writer
 * cuts off, or one being written now. */
void eg_log_bytes(const eg_log *lg, uint64_t *committed, uint64_t *uncommitted)
{
	*committed = *uncommitted = 0;
	for (uint32_t i = 0; i < lg->nseg; i++) {
		off_t sz = eg_os_file_size(lg->segs[i].fd);
		uint64_t size = sz > 0 ? (uint64_t)sz : 0;
		uint64_t done = i < lg->head_at.seg || lg->segs[i].sealed ? size
			: i == lg->head_at.seg && lg->head_at.off < size ? lg->head_at.off
			: i == lg->head_at.seg ? size : 0;
		*committed += done;
		*uncommitted += size - done;
	}
}

void eg_log_set_head(eg_log *lg, uint64_t pos, logpos at,
		  const unsigned char chain[32], int64_t recorded)
{
	lg->head_pos = pos;
	lg->head_at = at;
	memcpy(lg->head_chain, chain, 32);
	lg->head_recorded = recorded;
}

/* A reader learns of segments created after it opened: the next one is
 * always named by the position of the first event it holds. */
static int probe_segment(eg_store *st, eg_log *lg, uint64_t next)
{
	if (lg->writable || (lg->nseg && lg->segs[lg->nseg - 1].first_pos >= next))
		return 0;
	char path[PATH_MAX];
	seg_path(lg, next, path, sizeof path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	if (seg_push(st, lg, next, fd)) {
		eg_os.close(fd);
		return 0;
	}
	return 1;
}

/* Check segment i's header; 1 if valid and it starts at first_pos. */
static int seg_header_ok(eg_store *st, eg_log *lg, uint32_t i, uint64_t first_pos)
{
	seg_hdr h;
	if (eg_log_map_seg(st, lg, i, SEG_HDR_LEN) ||
	    !eg_seg_hdr_decode(lg->segs[i].map, lg->segs[i].map_len, &h))
		return 0;
	memcpy(lg->segs[i].prev_chain, h.prev_chain, 32);
	return h.first_pos == first_pos && lg->segs[i].first_pos == first_pos;
}

/*
 * Walk forward from the head over records, advancing the head past every
 * complete batch.  Stops at the end of the data or at the first record that
 * is not what a valid log holds there; *end says which.
 */
static int scan_forward(eg_store *st, eg_log *lg, scan_end *end)
{
	logpos at = lg->head_at;
	uint64_t next = lg->head_pos + 1, batch_first = next, nev = 0, bytes = 0;
	end->clean = 0;
	if (lg->nseg == 0 && !probe_segment(st, lg, next)) {
		end->clean = 1;
		end->at = at;
		return EG_OK;
	}
	if (at.seg == 0 && at.off == SEG_HDR_LEN && lg->head_pos == 0 &&
	    !seg_header_ok(st, lg, 0, lg->segs[0].first_pos)) {
		end->at = at;
		end->at.off = 0;
		return EG_OK;
	}
	for (;;) {
		int rc = eg_log_map_seg(st, lg, at.seg, at.off + 1);
		if (rc < 0)
			return rc;
		size_t avail = eg_log_avail(lg, at.seg, at.off);
		if (avail == 0 && at.seg + 1 >= lg->nseg)
			probe_segment(st, lg, next);
		if (avail == 0) {
			if (at.seg + 1 < lg->nseg && nev > 0 &&
			    seg_header_ok(st, lg, at.seg + 1, next)) {
				at.seg++;
				at.off = SEG_HDR_LEN;
				continue;
			}
			/* A batch that starts a new segment. */
			if (at.seg + 1 < lg->nseg && nev == 0 &&
			    seg_header_ok(st, lg, at.seg + 1, next)) {
				at.seg++;
				at.off = SEG_HDR_LEN;
				lg->head_at = at;
				continue;
			}
			end->clean = at.seg + 1 >= lg->nseg;
			break;
		}
		const unsigned char *p = lg->segs[at.seg].map + at.off;
		int type;
		size_t len = rec_peek(p, avail, &type);
		if (!len) {
			/* Mapped while this record was being written?  Then the
			 * file has grown since: map it again and look once more
			 * (a follower would otherwise wait at it for ever). */
			size_t had = lg->segs[at.seg].map_len;
			if (eg_log_map_seg(st, lg, at.seg, 0) == EG_OK && lg->segs[at.seg].map_len > had)
				continue;
			break;
		}
		if (type == REC_EVENT) {
			rec_event ev;
			if (!eg_rec_event_decode(p, len, &ev) || ev.ev.pos != next)
				break;
			next++;
			nev++;
			bytes += len;
		} else if (type == REC_COMMIT) {
			rec_commit c;
			if (!eg_rec_commit_decode(p, len, &c) || c.first_pos != batch_first ||
			    c.count != nev || c.batch_bytes != bytes)
				break;
			at.off += len;
			eg_log_set_head(lg, next - 1, at, c.chain, c.recorded);
			batch_first = next;
			nev = bytes = 0;
			continue;
		} else {
			break;
		}
		at.off += len;
	}
	end->at = at;
	return EG_OK;
}

int eg_log_refresh(eg_store *st, eg_log *lg)
{
	scan_end end;
	return scan_forward(st, lg, &end);
}

/* After damage at `from`: is there an intact commit of a later batch? */
static int later_commit(eg_store *st, eg_log *lg, logpos from, logpos *found)
{
	for (uint32_t i = from.seg; i < lg->nseg; i++) {
		if (eg_log_map_all(st, lg, i) < 0)
			return 0;
		const unsigned char *m = lg->segs[i].map;
		size_t n = lg->segs[i].map_len;
		size_t o = i == from.seg ? from.off + 1 : 0;
		for (; o + COMMIT_LEN <= n; o++) {
			rec_commit c;
			if (m[o + 8] == REC_COMMIT && rd32(m + o) == COMMIT_LEN &&
			    eg_rec_commit_decode(m + o, n - o, &c) &&
			    c.first_pos > lg->head_pos) {
				found->seg = i;
				found->off = o;
				return 1;
			}
		}
	}
	return 0;
}

int eg_log_recover(eg_store *st, eg_log *lg, uint64_t must_have)
{
	scan_end end;
	int rc = scan_forward(st, lg, &end);
	if (rc)
		return rc;
	if (lg->head_pos < must_have)
		return eg_st_err(st, EG_ECORRUPT,
			      "committed data is damaged: the log's intact batches end at "
			      "position %llu (segment %020llu.seg offset %llu), but position %llu "
			      "was committed; run engram verify",
			      (unsigned long long)lg->head_pos,
			      (unsigned long long)(lg->nseg ? lg->segs[end.at.seg].first_pos : 0),
			      (unsigned long long)end.at.off, (unsigned long long)must_have);
	/* The scan starts at the head the index recorded: a damaged header
	 * of a segment before it would go unseen.  (64 bytes a segment.) */
	for (uint32_t i = 0; lg->head_pos && i <= lg->head_at.seg && i < lg->nseg; i++)
		if (!seg_header_ok(st, lg, i, lg->segs[i].first_pos))
			return eg_st_err(st, EG_ECORRUPT,
				      "committed data is damaged: the header of segment %020llu.seg "
				      "fails its check; run engram verify",
				      (unsigned long long)lg->segs[i].first_pos);
	logpos found;
	if (!end.clean && later_commit(st, lg, end.at, &found))
		return eg_st_err(st, EG_ECORRUPT,
			      "committed data is damaged: segment %020llu.seg offset %llu "
			      "(after position %llu) fails its check, yet an intact commit "
			      "follows at segment %020llu.seg offset %llu; run engram verify",
			      (unsigned long long)lg->segs[end.at.seg].first_pos,
			      (unsigned long long)end.at.off,
			      (unsigned long long)lg->head_pos,
			      (unsigned long long)lg->segs[found.seg].first_pos,
			      (unsigned long long)found.off);
	/* Cut: everything after the head goes. */
	uint32_t keep = lg->nseg ? lg->head_at.seg + 1 : 0;
	if (lg->head_pos == 0 && lg->nseg && !seg_header_ok(st, lg, 0, lg->segs[0].first_pos))
		keep = 0;
	for (uint32_t i = lg->nseg; i-- > keep; ) {
		char path[PATH_MAX];
		seg_path(lg, lg->segs[i].first_pos, path, sizeof path);
		seg_drop(lg, i);
		if (eg_os.unlink(path))
			return eg_st_errno(st, "cannot remove %s", path);
		lg->nseg--;
	}
	if (keep) {
		seg *s = &lg->segs[lg->head_at.seg];
		off_t size = eg_os_file_size(s->fd);
		if (size < 0)
			return eg_st_errno(st, "cannot stat segment");
		if (!s->sealed && (uint64_t)size > lg->head_at.off) {
			if (s->map) {
				eg_os.munmap(s->map, s->map_len);
				s->map = NULL;
				s->map_len = 0;
			}
			if (eg_os.ftruncate(s->fd, (off_t)lg->head_at.off) || eg_os.fdatasync(s->fd))
				return eg_st_errno(st, "cannot cut the torn tail of the log");
		}
	} else {
		lg->head_at.seg = 0;
		lg->head_at.off = SEG_HDR_LEN;
	}
	if (eg_os_fsync_dir(lg->dir))
		return eg_st_errno(st, "cannot sync %s", lg->dir);
	lg->tail = lg->head_at;
	lg->wbuf_off = lg->head_at.off;
	lg->synced_upto = lg->head_at.off;
	return EG_OK;
}

/*
 * The spool's writes.  A batch's bytes go through two buffers: when one is
 * full, the writer thread takes it (SHA-256 of the chain, pwrite, and the
 * eager writeback) while this thread fills the other (wbuf_push).  Every
 * other write, and everything that reads, truncates, syncs or ends the
 * chain, first waits for the writer (wbuf_wait), so the file and the
 * chain are as a single thread would have left them; a write the writer
 * failed is reported there, as the flush's own error would have been.
 */
typedef struct log_wjob {
	chain_ctx *chain;            /* NULL: not part of a batch's chain */
	int fd;
	const unsigned char *p;
	size_t n;
	uint64_t off;
	uint64_t sync_from, sync_len;   /* sync_file_range after the write */
	uint64_t seg_first;          /* for the message */
	int err;                     /* errno of the failed pwrite; -1: SHA-256 */
} log_wjob;

static int write_job(void *arg)
{
	log_wjob *j = arg;
	if (j->chain && eg_chain_update(j->chain, j->p, j->n)) {
		j->err = -1;
		return EG_ENOMEM;
	}
	if (eg_os_pwrite_all(j->fd, j->p, j->n, (off_t)j->off)) {
		j->err = errno ? errno : EIO;
		return EG_EIO;
	}
	if (j->sync_len)
		sync_file_range(j->fd, (off_t)j->sync_from, (off_t)j->sync_len,
				SYNC_FILE_RANGE_WRITE);
	return EG_OK;
}

static int wbuf_wait(eg_store *st, eg_log *lg)
{
	if (lg->wbusy) {
		lg->wbusy = 0;
		lg->wfailed = eg_worker_wait(lg->writer) != EG_OK;
	}
	/* Sticky until the batch's abort: its bytes have a hole now, and a
	 * later write or commit must not go on past it. */
	if (!lg->wfailed)
		return EG_OK;
	log_wjob *j = lg->wjob;
	if (j->err < 0)
		return eg_st_err(st, EG_ENOMEM, "SHA-256 failed");
	errno = j->err;
	return eg_st_errno(st, "cannot write segment %020llu.seg", (unsigned long long)j->seg_first);
}

static int wbuf_flush(eg_store *st, eg_log *lg, int eager);

/* Hand the full wbuf of a batch to the writer and go on in the other
 * buffer; without a writer (it could not start), flush it here. */
static int wbuf_push(eg_store *st, eg_log *lg)
{
	int rc = wbuf_wait(st, lg);
	if (rc)
		return rc;
	if (!lg->wjob && !(lg->wjob = calloc(1, sizeof *lg->wjob)))
		return wbuf_flush(st, lg, 1);
	if (!lg->wspare && (lg->wspare = malloc(lg->wcap)))
		lg->wspare_cap = lg->wcap;
	if (!lg->writer && lg->wspare)
		lg->writer = eg_worker_new("engram-write");
	if (!lg->writer || !lg->wspare)
		return wbuf_flush(st, lg, 1);
	seg *s = &lg->segs[lg->tail.seg];
	log_wjob *j = lg->wjob;
	*j = (log_wjob){ lg->in_batch ? lg->chain : NULL, s->fd, lg->wbuf, lg->wlen,
			 lg->wbuf_off, 0, 0, s->first_pos, 0 };
	uint64_t end = lg->wbuf_off + lg->wlen;
	if (end - lg->synced_upto >= EAGER_SYNC_BYTES) {
		j->sync_from = lg->synced_upto;
		j->sync_len = end - lg->synced_upto;
		lg->synced_upto = end;
	}
	if ((rc = eg_worker_submit(lg->writer, write_job, j)))
		return eg_st_err(st, rc, "the writer thread failed");  /* it was idle: cannot be */
	lg->wbusy = 1;
	unsigned char *b = lg->wbuf;
	size_t cap = lg->wcap;
	lg->wbuf = lg->wspare;
	lg->wcap = lg->wspare_cap;
	lg->wspare = b;
	lg->wspare_cap = cap;
	lg->wbuf_off = end;
	lg->wlen = 0;
	return EG_OK;
}

/* pread from plain segment i as the writer sees it: the open batch's bytes
 * still in the log's buffers (wbuf, or the one the writer thread has in
 * hand) read from there.  Bytes read (short at the end of the data), or -1. */
static ssize_t spool_pread(eg_log *lg, uint32_t i, void *buf, size_t n, uint64_t off)
{
	int fd = lg->segs[i].fd;
	if (!lg->writable || i != lg->tail.seg)
		return eg_os.pread(fd, buf, n, (off_t)off);
	/* The tail segment: the file up to the first byte still in memory,
	 * then the writer's buffer, then wbuf. */
	const log_wjob *j = lg->wbusy ? lg->wjob : NULL;
	uint64_t file_end = j ? j->off : lg->wbuf_off;
	unsigned char *out = buf;
	size_t done = 0;
	if (off < file_end) {
		size_t m = file_end - off < n ? (size_t)(file_end - off) : n;
		ssize_t got = eg_os.pread(fd, out, m, (off_t)off);
		if (got < 0 || (size_t)got < m)
			return got;
		done = m;
	}
	if (j && done < n && off + done >= j->off && off + done < j->off + j->n) {
		size_t at = (size_t)(off + done - j->off), m = j->n - at;
		m = m < n - done ? m : n - done;
		memcpy(out + done, j->p + at, m);
		done += m;
	}
	if (done < n && off + done >= lg->wbuf_off && off + done < lg->wbuf_off + lg->wlen) {
		size_t at = (size_t)(off + done - lg->wbuf_off), m = lg->wlen - at;
		m = m < n - done ? m : n - done;
		memcpy(out + done, lg->wbuf + at, m);
		done += m;
	}
	return (ssize_t)done;
}

static int wbuf_flush(eg_store *st, eg_log *lg, int eager)
{
	int rc = wbuf_wait(st, lg);
	if (rc)
		return rc;
	if (lg->wlen) {
		seg *s = &lg->segs[lg->tail.seg];
		if (lg->in_batch && eg_chain_update(lg->chain, lg->wbuf, lg->wlen))
			return eg_st_err(st, EG_ENOMEM, "SHA-256 failed");
		if (eg_os_pwrite_all(s->fd, lg->wbuf, lg->wlen, (off_t)lg->wbuf_off))
			return eg_st_errno(st, "cannot write segment %020llu.seg",
					(unsigned long long)s->first_pos);
		lg->wbuf_off += lg->wlen;
		lg->wlen = 0;
	}
	if (eager && lg->wbuf_off - lg->synced_upto >= EAGER_SYNC_BYTES) {
		seg *s = &lg->segs[lg->tail.seg];
		sync_file_range(s->fd, (off_t)lg->synced_upto,
				(off_t)(lg->wbuf_off - lg->synced_upto), SYNC_FILE_RANGE_WRITE);
		lg->synced_upto = lg->wbuf_off;
	}
	return EG_OK;
}

int eg_log_flush(eg_store *st, eg_log *lg)
{
	return wbuf_flush(st, lg, 0);
}

static int seg_create(eg_store *st, eg_log *lg, uint64_t first_pos)
{
	char path[PATH_MAX];
	seg_path(lg, first_pos, path, sizeof path);
	int fd = eg_os.open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return eg_st_errno(st, "cannot create %s", path);
	seg_hdr h = { .first_pos = first_pos };
	memcpy(h.prev_chain, lg->head_chain, 32);
	unsigned char hb[SEG_HDR_LEN];
	eg_seg_hdr_encode(&h, hb);
	if (eg_os_pwrite_all(fd, hb, sizeof hb, 0)) {
		int rc = eg_st_errno(st, "cannot write %s", path);
		eg_os.close(fd);
		eg_os.unlink(path);
		return rc;
	}
	int rc = seg_push(st, lg, first_pos, fd);
	if (rc)
		return rc;
	memcpy(lg->segs[lg->nseg - 1].prev_chain, h.prev_chain, 32);
	lg->tail.seg = lg->nseg - 1;
	lg->tail.off = SEG_HDR_LEN;
	lg->wbuf_off = SEG_HDR_LEN;
	lg->synced_upto = SEG_HDR_LEN;
	lg->new_segs++;
	return EG_OK;
}

unsigned char *eg_log_reserve(eg_store *st, eg_log *lg, size_t bound,
			   uint64_t first_pos_if_new, logpos *at)
{
	if (!lg->wbuf) {
		lg->wcap = WBUF_SIZE;
		if (!(lg->wbuf = malloc(lg->wcap))) {
			eg_st_err(st, EG_ENOMEM, "out of memory");
			return NULL;
		}
	}
	int is_commit = first_pos_if_new == 0;
	if (!is_commit && !lg->in_batch) {
		if (!lg->chain && !(lg->chain = eg_chain_new())) {
			eg_st_err(st, EG_ENOMEM, "out of memory");
			return NULL;
		}
		if (wbuf_flush(st, lg, 0) || eg_chain_begin(lg->chain, lg->head_chain)) {
			eg_st_err(st, EG_EIO, "cannot start the batch");
			return NULL;
		}
		lg->in_batch = 1;
		lg->batch_bytes = 0;
	}
	/* a sealed last segment is never written again: the batch starts a new one */
	if (lg->nseg == 0 || (!is_commit && lg->segs[lg->tail.seg].sealed) ||
	    (!is_commit && lg->tail.off > SEG_HDR_LEN && lg->tail.off + bound > lg->seg_limit)) {
		if (wbuf_flush(st, lg, 0) || seg_create(st, lg, first_pos_if_new))
			return NULL;
	}
	if (lg->wlen + bound > lg->wcap) {
		if (lg->wlen ? wbuf_push(st, lg) : wbuf_flush(st, lg, 1))
			return NULL;
		if (bound > lg->wcap) {
			unsigned char *nb = realloc(lg->wbuf, bound);
			if (!nb) {
				eg_st_err(st, EG_ENOMEM, "out of memory");
				return NULL;
			}
			lg->wbuf = nb;
			lg->wcap = bound;
		}
	}
	*at = lg->tail;
	return lg->wbuf + lg->wlen;
}

/* Account for len bytes written at the pointer eg_log_reserve returned. */
void eg_log_advance(eg_log *lg, size_t len)
{
	lg->wlen += len;
	lg->tail.off += len;
	if (lg->in_batch)
		lg->batch_bytes += len;
}

int eg_log_commit(eg_store *st, eg_log *lg, rec_commit *c, int sync,
	       logpos *commit_at)
{
	if (lg->failed)
		return eg_st_err(st, EG_EIO, "an earlier fdatasync failed; reopen the store");
	int rc = wbuf_flush(st, lg, 0);
	if (rc)
		return rc;
	c->batch_bytes = lg->batch_bytes;
	unsigned char tmp[COMMIT_LEN];
	eg_rec_commit_encode(c, tmp);
	if (eg_chain_final(lg->chain, tmp + 10, 32, c->chain))
		return eg_st_err(st, EG_ENOMEM, "SHA-256 failed");
	lg->in_batch = 0;
	uint32_t from = lg->head_at.seg;
	/* The batch's events must be on disk before the commit record that
	 * makes them part of the log: a commit never precedes its data.
	 * Commits left for later are synced with this one, from the segment
	 * the first of them began in (segments may have rolled since). */
	if (sync == EG_SYNC_ALWAYS) {
		for (uint32_t i = lg->dirty && lg->dirty_seg < from ? lg->dirty_seg : from;
		     i <= lg->tail.seg && i < lg->nseg; i++)
			if (eg_os.fdatasync(lg->segs[i].fd) && (lg->failed = 1))
				return eg_st_errno(st, "fdatasync of segment %020llu.seg failed",
						(unsigned long long)lg->segs[i].first_pos);
		if ((lg->new_segs || lg->dirty_dir) && eg_os_fsync_dir(lg->dir))
			return eg_st_errno(st, "cannot sync %s", lg->dir);
	}
	logpos at;
	unsigned char *p = eg_log_reserve(st, lg, COMMIT_LEN, 0, &at);
	if (!p)
		return EG_EIO;
	eg_rec_commit_encode(c, p);
	eg_log_advance(lg, COMMIT_LEN);
	if ((rc = wbuf_flush(st, lg, 0)))
		return rc;
	if (sync == EG_SYNC_ALWAYS && eg_os.fdatasync(lg->segs[lg->tail.seg].fd) &&
	    (lg->failed = 1))
		return eg_st_errno(st, "fdatasync of segment %020llu.seg failed",
				(unsigned long long)lg->segs[lg->tail.seg].first_pos);
	*commit_at = at;
	eg_log_set_head(lg, c->first_pos + c->count - 1, lg->tail, c->chain, c->recorded);
	if (sync == EG_SYNC_LATER) {
		if (!lg->dirty)
			lg->dirty_seg = from;
		lg->dirty = 1;
		lg->dirty_dir |= lg->new_segs > 0;
	} else if (sync == EG_SYNC_ALWAYS) {
		lg->dirty = lg->dirty_dir = 0;
	}
	lg->new_segs = 0;
	eg_autoseal_kick(st);
	return EG_OK;
}

int eg_log_sync(eg_store *st, eg_log *lg)
{
	if (!lg->dirty)
		return EG_OK;
	for (uint32_t i = lg->dirty_seg; i <= lg->head_at.seg && i < lg->nseg; i++)
		if (eg_os.fdatasync(lg->segs[i].fd) && (lg->failed = 1))
			return eg_st_errno(st, "fdatasync of segment %020llu.seg failed",
					(unsigned long long)lg->segs[i].first_pos);
	if (lg->dirty_dir && eg_os_fsync_dir(lg->dir))
		return eg_st_errno(st, "cannot sync %s", lg->dir);
	lg->dirty = lg->dirty_dir = 0;
	return EG_OK;
}

/* What eg_log_sync_take leaves for eg_log_sync_run: the files to sync.
 * The descriptors are the log's own: segments up to the head are never
 * closed while the store is open, so another thread may sync them while
 * this one commits on. */
struct eg_sync_work {
	uint64_t pos;                /* the head it makes durable */
	int dir_too;
	char dir[PATH_MAX];
	size_t n;
	int err;                     /* errno of the call that failed, else 0 */
	uint64_t failed_first;       /* the segment it failed on (UINT64_MAX: the dir) */
	struct { int fd; uint64_t first_pos; } seg[];
};

int eg_log_sync_take(eg_store *st, eg_log *lg, struct eg_sync_work **w, uint64_t *pos)
{
	*w = NULL;
	*pos = lg->head_pos;
	if (lg->failed)
		return eg_st_err(st, EG_EIO, "an earlier fdatasync failed; reopen the store");
	if (!lg->dirty)
		return EG_OK;
	uint32_t end = lg->head_at.seg < lg->nseg ? lg->head_at.seg + 1 : lg->nseg;
	size_t n = end > lg->dirty_seg ? end - lg->dirty_seg : 0;
	struct eg_sync_work *y = malloc(sizeof *y + n * sizeof y->seg[0]);
	if (!y)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	y->pos = lg->head_pos;
	y->dir_too = lg->dirty_dir;
	memcpy(y->dir, lg->dir, sizeof y->dir);
	y->n = n;
	y->err = 0;
	for (size_t i = 0; i < n; i++) {
		y->seg[i].fd = lg->segs[lg->dirty_seg + i].fd;
		y->seg[i].first_pos = lg->segs[lg->dirty_seg + i].first_pos;
	}
	lg->dirty = lg->dirty_dir = 0;
	*w = y;
	return EG_OK;
}

int eg_log_sync_run(struct eg_sync_work *w)
{
	for (size_t i = 0; i < w->n && !w->err; i++)
		if (eg_os.fdatasync(w->seg[i].fd)) {
			w->err = errno ? errno : EIO;
			w->failed_first = w->seg[i].first_pos;
		}
	if (!w->err && w->dir_too && eg_os_fsync_dir(w->dir)) {
		w->err = errno ? errno : EIO;
		w->failed_first = UINT64_MAX;
	}
	return w->err ? EG_EIO : EG_OK;
}

int eg_log_sync_done(eg_store *st, eg_log *lg, struct eg_sync_work *w)
{
	int rc = EG_OK;
	if (w && w->err) {
		lg->failed = 1;
		errno = w->err;
		rc = w->failed_first == UINT64_MAX
			     ? eg_st_errno(st, "cannot sync %s", w->dir)
			     : eg_st_errno(st, "fdatasync of segment %020llu.seg failed",
					   (unsigned long long)w->failed_first);
	}
	free(w);
	return rc;
}

int eg_log_abort(eg_store *st, eg_log *lg)
{
	/* Nothing may be written after the cut below.  The result of a write
	 * in hand is moot (the batch goes), and its message must not replace
	 * the error that ended the batch. */
	if (lg->wbusy)
		eg_worker_wait(lg->writer);
	lg->wbusy = lg->wfailed = 0;
	lg->wlen = 0;
	lg->in_batch = 0;
	int rc = EG_OK;
	while (lg->nseg > 0 && lg->nseg - 1 > lg->head_at.seg) {
		uint32_t i = lg->nseg - 1;
		char path[PATH_MAX];
		seg_path(lg, lg->segs[i].first_pos, path, sizeof path);
		seg_drop(lg, i);
		if (eg_os.unlink(path) && !rc)
			rc = eg_st_errno(st, "cannot remove %s", path);
		lg->nseg--;
	}
	if (lg->nseg > 0 && lg->head_pos == 0 && lg->head_at.off == SEG_HDR_LEN &&
	    lg->new_segs) {
		/* The batch created the first segment: remove it too. */
		char path[PATH_MAX];
		seg_path(lg, lg->segs[0].first_pos, path, sizeof path);
		seg_drop(lg, 0);
		eg_os.unlink(path);
		lg->nseg = 0;
	} else if (lg->nseg > 0 && !lg->segs[lg->head_at.seg].sealed) {
		seg *s = &lg->segs[lg->head_at.seg];
		if (s->map) {
			eg_os.munmap(s->map, s->map_len);
			s->map = NULL;
			s->map_len = 0;
		}
		if (eg_os.ftruncate(s->fd, (off_t)lg->head_at.off) && !rc)
			rc = eg_st_errno(st, "cannot truncate the log after an aborted batch");
	}
	lg->tail = lg->head_at;
	lg->wbuf_off = lg->head_at.off;
	lg->synced_upto = lg->head_at.off;
	lg->new_segs = 0;
	return rc;
}

/*
 * Sealing replaces the file under its own name: the sealed form goes to
 * NAME.seg.sealing, is synced, and is renamed over NAME.seg, then the
 * directory is synced.  A crash at any step leaves the plain file or the
 * sealed one, each whole (a stale .sealing file is deleted by the next
 * writer); a reader holding the plain file keeps reading its inode.
 */
int eg_log_seal(eg_store *st, eg_log *lg, uint32_t i, const seal_opts *o,
		uint64_t *before, uint64_t *after)
{
	seg *s = &lg->segs[i];
	*before = *after = 0;
	if (s->sealed)
		return EG_OK;
	int rc = eg_log_map_seg(st, lg, i, 0);
	if (rc < 0)
		return rc;
	if (lg->in_batch || i > lg->head_at.seg ||
	    (i == lg->head_at.seg && s->map_len != lg->head_at.off))
		return eg_st_err(st, EG_EINVAL, "segment %020llu.seg holds bytes not yet committed",
				 (unsigned long long)s->first_pos);
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	seg_path(lg, s->first_pos, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s%s", path, SEAL_TMP_SUFFIX);
	int fd = eg_os.open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return eg_st_errno(st, "cannot create %s", tmp);
	char why[256] = "";
	uint64_t flen = 0;
	rc = eg_seal_write(fd, s->map, s->map_len, o, &flen, why, sizeof why);
	if (rc == EG_EIO)
		rc = eg_st_errno(st, "cannot write %s", tmp);
	else if (rc == EG_ENOMEM)
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
	else if (rc == EG_EINTR)
		rc = eg_st_err(st, EG_EINTR, "sealing stopped");
	else if (rc)
		rc = eg_st_err(st, rc, "segment %020llu.seg: %s; run engram verify",
			       (unsigned long long)s->first_pos, why);
	else if (eg_os.fdatasync(fd))
		rc = eg_st_errno(st, "cannot sync %s", tmp);
	eg_os.close(fd);
	if (rc == EG_OK && eg_os.rename(tmp, path))
		rc = eg_st_errno(st, "cannot rename %s", tmp);
	if (rc) {
		eg_os.unlink(tmp);
		return rc;
	}
	/* From here the sealed file is the segment, even if what follows fails. */
	*before = s->map_len;
	*after = flen;
	if (eg_os_fsync_dir(lg->dir))
		return eg_st_errno(st, "cannot sync %s", lg->dir);
	return eg_log_reopen_seg(st, lg, i);
}

/* Read segment i from its file again (after it was sealed, here or by the
 * background sealer). */
int eg_log_reopen_seg(eg_store *st, eg_log *lg, uint32_t i)
{
	char path[PATH_MAX];
	seg *s = &lg->segs[i];
	seg_path(lg, s->first_pos, path, sizeof path);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return eg_st_errno(st, "cannot open %s", path);
	unsigned char chain[32];
	memcpy(chain, s->prev_chain, 32);
	seg_drop(lg, i);
	s->fd = fd;
	memcpy(s->prev_chain, chain, 32);
	int rc = seg_attach(st, s);
	if (rc == EG_OK && s->sealed && !s->sz)
		rc = eg_log_sealed_err(st, lg, i, EG_ECORRUPT, s->sz_err);
	return rc;
}

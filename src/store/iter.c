/*
 * iter.c — reading events: chooses an index for the filter (postings for a
 * stream or types, block zone maps for times and positions), scans the
 * part of the log the index does not cover yet, and follows the log for
 * new batches with inotify.
 *
 * An iterator sees the log as of its head: batches committed later appear
 * only through eg_iter_wait.  Positions at or below ix_through are served
 * from the index (phase A); the rest, up to the head, by a sequential scan
 * of the log (phase B).  Reverse iteration runs B backward, then A.
 */
#include "internal.h"
#include "contract.h"
#include "keys.h"
#include "os.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <unistd.h>

#define BCACHE 1024  /* blocks read per pread */
#define DENSE 8      /* see plan() */

enum { PH_A = 0, PH_B = 1, PH_DONE = 2 };

typedef struct tailref {
	logpos at;
	int64_t recorded;
} tailref;

struct eg_iter {
	eg_store *st;
	eg_filter f;
	char **streams;                /* sorted by length, then bytes */
	size_t *stream_lens, nstreams;
	int any_stream;                /* no stream condition */
	int empty_stream;              /* "" is among the streams */
	char **types;
	size_t *type_lens;
	int use_postings;

	uint64_t lo, hi, ix_through;   /* lo..hi: positions to consider */
	logpos resume;                 /* log place just after position hi */
	logpos tail_start;             /* log place just after ix_through */
	int phase;

	/* phase A, postings */
	uint64_t *pos;
	size_t npos, ipos;
	/* phase A, blocks (and locating postings) */
	unsigned char *bcache;
	uint64_t bc_first, bc_n;       /* cached block indices */
	uint64_t nblocks, bi, bend;    /* current block index, end (exclusive) */
	block blk;
	int blk_loaded;
	int blk_checked;               /* its records' bytes passed the block check */
	uintptr_t pf_lo, pf_hi;        /* log bytes already prefaulted */
	/* A forward scan reads the log with pread into rb, not through the
	 * mapping: copying from the page cache is about three times faster
	 * than touching a file mapping page by page (TLB misses, which are
	 * dear in a virtual machine). */
	int rb_on;
	unsigned char *rb;
	size_t rb_cap, rb_len;
	uint32_t rb_seg;
	uint64_t rb_off;
	int rb_errno;                  /* why the last read into rb failed, or 0 */
	logpos bat;                    /* next record within the current block */
	uint32_t bk;                   /* events taken from the current block */
	logpos rv[BLOCK_EVENTS];       /* reverse: a block's record places */
	int nrv;

	/* phase B */
	logpos tat;
	uint64_t tnext;                /* next position expected in the scan */
	uint64_t batch_left;
	int64_t batch_recorded;
	tailref *tr;                   /* reverse: the tail's events */
	size_t ntr, itr;

	uint64_t emitted, scanned;
	int ino_fd;
	rec_event ev;
	logpos ev_at;                  /* where ev's record is */
	const unsigned char *rec;      /* its bytes (eg_iter_record), valid until the next */
	size_t rec_len;
	int lazy_ids;                  /* UUID ids left unformatted (eg_iter_lazy_ids) */
	char *ubuf;                    /* an upcast event's data (f.upcast) */
	size_t ucap;
	int raw;                       /* encrypted values left as stored (eg_iter_raw) */
	char *dbuf;                    /* a decrypted event's data (keys.c) */
	size_t dcap;
	struct eg_shred_cx *cx;
	/* eg_iter_chain's cache: the batch ch_first..ch_last and its hash */
	uint64_t ch_first, ch_last;
	unsigned char ch_hash[32];
};

/* ------------------------------------------------------------ filters */

static int want_type(const eg_iter *it, const eg_event *e)
{
	if (!it->f.ntypes)
		return 1;
	for (size_t i = 0; i < it->f.ntypes; i++)
		if (e->type_len == it->type_lens[i] &&
		    memcmp(e->type, it->types[i], e->type_len) == 0)
			return 1;
	return 0;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	return memcmp(a, b, an);
}

static int want_stream(const eg_iter *it, const eg_event *e)
{
	if (it->any_stream)
		return 1;
	size_t lo = 0, hi = it->nstreams;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(e->stream, e->stream_len, it->streams[mid], it->stream_lens[mid]);
		if (!c)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int want(const eg_iter *it, const eg_event *e)
{
	if (e->pos < it->lo || e->pos > it->hi)
		return 0;
	if (!want_stream(it, e))
		return 0;
	if (it->f.kinds && !(it->f.kinds & (1u << e->kind)))
		return 0;
	if (!want_type(it, e))
		return 0;
	int64_t t = it->f.by == EG_BY_RECORDED ? e->recorded : e->time;
	if (it->f.has_since && t < it->f.since)
		return 0;
	if (it->f.has_until && t > it->f.until)
		return 0;
	return !it->f.query || eg_query_match(it->f.query, e);
}

/* Could a block hold events in the time range? */
static int block_in_range(const eg_iter *it, const block *b)
{
	int64_t lo = it->f.by == EG_BY_RECORDED ? b->recorded : b->tmin;
	int64_t hi = it->f.by == EG_BY_RECORDED ? b->recorded : b->tmax;
	if (it->f.has_since && hi < it->f.since)
		return 0;
	if (it->f.has_until && lo > it->f.until)
		return 0;
	return 1;
}

size_t eg_iter_read_chunk = 1u << 20;

/* Bytes [at, at + n) of the log, with *avail bytes readable from there:
 * from rb in a forward scan, else from the segment's mapping. */
static const unsigned char *rec_at(eg_iter *it, logpos at, size_t n, size_t *avail)
{
	eg_store *st = it->st;
	eg_log *lg = &st->log;
	it->rb_errno = 0;
	if (!it->rb_on) {
		const unsigned char *p = eg_log_ptr(st, lg, at, n);
		*avail = p ? eg_log_avail(lg, at.seg, at.off) : 0;
		return p;
	}
	if (!it->rb || at.seg != it->rb_seg || at.off < it->rb_off ||
	    at.off + n > it->rb_off + it->rb_len) {
		if (at.seg >= lg->nseg)
			return NULL;
		size_t want = n > eg_iter_read_chunk ? n : eg_iter_read_chunk;
		if (want > it->rb_cap) {
			unsigned char *b = realloc(it->rb, want);
			if (!b) {
				it->rb_errno = ENOMEM;
				return NULL;
			}
			it->rb = b;
			it->rb_cap = want;
		}
		ssize_t r = eg_log_pread_min(st, lg, at.seg, it->rb, want, at.off, n);
		it->rb_seg = at.seg;
		it->rb_off = at.off;
		it->rb_len = r > 0 ? (size_t)r : 0;
		if (r < 0)
			it->rb_errno = errno;
		if (it->rb_len < n)
			return NULL;
	}
	*avail = (size_t)(it->rb_off + it->rb_len - at.off);
	return it->rb + (at.off - it->rb_off);
}

/* After rec_at gave nothing: a read that failed (an I/O error, not damage
 * in the log), or EG_OK when the bytes were read and are not there. */
static int read_error(eg_iter *it)
{
	eg_store *st = it->st;
	if (!it->rb_errno)
		return EG_OK;
	if (it->rb_errno == ENOMEM)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (it->rb_errno == EBADMSG)  /* a sealed block: eg_log_pread said where */
		return EG_ECORRUPT;
	errno = it->rb_errno;
	return eg_st_errno(st, "cannot read segment %020llu.seg at offset %llu",
			(unsigned long long)st->log.segs[it->rb_seg].first_pos,
			(unsigned long long)it->rb_off);
}

/* Decode the event record at `at` with its batch's recorded time. */
static int decode_at(eg_iter *it, logpos at, int64_t recorded)
{
	eg_store *st = it->st;
	eg_log *lg = &st->log;
	size_t avail;
	const unsigned char *p = rec_at(it, at, REC_PREFIX, &avail);
	size_t len = p ? rd32(p) : 0;
	if (p && len > avail)
		p = rec_at(it, at, len, &avail);
	int rc;
	if (!p && (rc = read_error(it)))
		return rc;
	if (!p || !eg_rec_event_decode_ex(p, avail, &it->ev, !it->blk_checked, it->lazy_ids))
		return eg_st_err(st, EG_ECORRUPT, "record at segment %020llu.seg offset %llu "
			      "fails its check; run engram verify",
			      (unsigned long long)(at.seg < lg->nseg ? lg->segs[at.seg].first_pos : 0),
			      (unsigned long long)at.off);
	it->ev.ev.recorded = recorded;
	it->ev_at = at;
	it->rec = p;
	it->rec_len = len;
	if (it->ev.ev.time == REC_TIME_RECORDED)
		it->ev.ev.time = recorded;
	return EG_OK;
}

/* ------------------------------------------------------------- blocks */

static int blk_get(eg_iter *it, uint64_t i, block *out)
{
	eg_store *st = it->st;
	const unsigned char *p, *map = eg_index_blocks_map(st, it->nblocks);
	if (map) {
		p = map + i * BLOCK_LEN;
	} else if (i < it->bc_first || i >= it->bc_first + it->bc_n) {
		if (!it->bcache && !(it->bcache = malloc(BCACHE * BLOCK_LEN)))
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		uint64_t first = i - i % BCACHE;
		uint64_t n = it->nblocks - first < BCACHE ? it->nblocks - first : BCACHE;
		ssize_t r = eg_os.pread(st->ix.fd_blocks, it->bcache, n * BLOCK_LEN,
					(off_t)(first * BLOCK_LEN));
		if (r != (ssize_t)(n * BLOCK_LEN))
			return eg_st_errno(st, "cannot read idx/blocks");
		it->bc_first = first;
		it->bc_n = n;
	}
	if (!map)
		p = it->bcache + (i - it->bc_first) * BLOCK_LEN;
	if (rd32(p + 60) != eg_rec_check(p, 60))
		return eg_st_err(st, EG_ECORRUPT, "idx/blocks entry %llu is damaged; run engram reindex",
			      (unsigned long long)i);
	out->first_pos = rd64(p);
	out->seg_first_pos = rd64(p + 8);
	out->off = rd64(p + 16);
	out->tmin = (int64_t)rd64(p + 24);
	out->tmax = (int64_t)rd64(p + 32);
	out->recorded = (int64_t)rd64(p + 40);
	out->count = rd32(p + 48);
	out->bytes = rd32(p + 52);
	out->check = rd32(p + 56);
	return EG_OK;
}

/* Index of the block holding pos (or the first block after it). */
static int blk_find(eg_iter *it, uint64_t pos, uint64_t *out)
{
	uint64_t lo = 0, hi = it->nblocks;
	block b = { 0 };
	int rc;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((rc = blk_get(it, mid, &b)))
			return rc;
		if (b.first_pos + b.count <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo;
	return EG_OK;
}

/* A scan reading the log in order maps the pages ahead of it in one call
 * per PREFAULT bytes: far cheaper than taking a page fault per 4 KiB. */
#define PREFAULT (4u << 20)
static void prefault(eg_iter *it, const unsigned char *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, end = a + n;
	if (a >= it->pf_lo && end <= it->pf_hi)
		return;
	uintptr_t lo = a & ~(uintptr_t)4095;
	uintptr_t hi = (end + PREFAULT + 4095) & ~(uintptr_t)4095;
	const eg_log *lg = &it->st->log;
	const seg *sg = &lg->segs[it->bat.seg];
	uintptr_t mend = ((uintptr_t)sg->map + sg->map_len) & ~(uintptr_t)4095;
	if (hi > mend)
		hi = mend;
#ifdef MADV_POPULATE_READ
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_READ);  /* a hint */
#endif
	it->pf_lo = lo;
	it->pf_hi = hi;
}

/* Load block i.  A caller about to read the whole block sets whole: one
 * check over the block's records then stands for theirs (much faster than
 * one per record).  If it fails, each record is checked on its own, which
 * names the damaged one, or passes if only the index entry was stale. */
static int blk_load(eg_iter *it, uint64_t i, int whole)
{
	int rc = blk_get(it, i, &it->blk);
	if (rc)
		return rc;
	uint32_t s = eg_log_seg_index(&it->st->log, it->blk.seg_first_pos);
	if (s == UINT32_MAX)
		return eg_st_err(it->st, EG_ECORRUPT, "idx/blocks names a missing segment; "
			      "run engram reindex");
	it->bat = (logpos){ s, it->blk.off };
	it->bk = 0;
	it->blk_loaded = 1;
	it->blk_checked = 0;
	if (whole && it->blk.bytes) {
		size_t avail;
		const unsigned char *p = rec_at(it, it->bat, it->blk.bytes, &avail);
		if (p && !it->rb_on)
			prefault(it, p, it->blk.bytes);
		it->blk_checked = p && eg_rec_check(p, it->blk.bytes) == it->blk.check;
	}
	return EG_OK;
}

/* The record at the loaded block's place, with its length (0 if it is not
 * whole or not a record).  *none is set when not even a record's prefix is
 * there (the end of the data); then NULL. */
static const unsigned char *peek_at_bat(eg_iter *it, size_t *len, int *type, int *none)
{
	size_t avail;
	const unsigned char *p = rec_at(it, it->bat, REC_PREFIX, &avail);
	*none = !p;
	*len = p ? rec_peek(p, avail, type) : 0;
	if (p && !*len && avail >= REC_PREFIX && rd32(p) > avail) {
		/* across rb's end, or claiming more than there is */
		p = rec_at(it, it->bat, rd32(p), &avail);
		*len = p ? rec_peek(p, avail, type) : 0;
	}
	return p;
}

/* Among the events of a batch the only other record is its commit: a
 * record of any other type, or a commit that fails its check, is damage
 * (an event whose type byte was hit would otherwise be skipped, and the
 * next batch's first event served in its place). */
static int not_a_commit(eg_store *st, const unsigned char *p, size_t len, int type,
			uint64_t seg_first_pos, uint64_t off)
{
	rec_commit c;
	if (type == REC_COMMIT && eg_rec_commit_decode(p, len, &c))
		return EG_OK;
	return eg_st_err(st, EG_ECORRUPT, "bad record at segment %020llu.seg offset %llu; "
		      "run engram verify", (unsigned long long)seg_first_pos, (unsigned long long)off);
}

/* Place of the next event record of the loaded block, advancing. */
static int blk_step(eg_iter *it, logpos *at)
{
	eg_store *st = it->st;
	for (;;) {
		int type, none;
		size_t len;
		const unsigned char *p = peek_at_bat(it, &len, &type, &none);
		int rc = len ? EG_OK : read_error(it);
		if (rc)
			return rc;
		if (!len)
			return eg_st_err(st, EG_ECORRUPT, "bad record at segment %020llu.seg offset %llu",
				      (unsigned long long)it->blk.seg_first_pos,
				      (unsigned long long)it->bat.off);
		*at = it->bat;
		it->bat.off += len;
		if (type == REC_EVENT) {
			it->bk++;
			return EG_OK;
		}
		if ((rc = not_a_commit(st, p, len, type, it->blk.seg_first_pos, at->off)))
			return rc;
	}
}

/* After the last event of a block read in order: the record that follows,
 * if the block ended with its batch, is that batch's commit; check it.
 * (Only that one: what lies after the last commit is not the log's.) */
static int blk_trailer(eg_iter *it)
{
	int type, none;
	size_t len;
	const unsigned char *p = peek_at_bat(it, &len, &type, &none);
	int rc = read_error(it);
	if (rc || none || (len && type == REC_EVENT))
		return rc;
	return not_a_commit(it->st, p, len, len ? type : -1, it->blk.seg_first_pos, it->bat.off);
}

/* The event decoded is the one the block says is at pos. */
static int at_pos(eg_iter *it, uint64_t pos)
{
	if (it->ev.ev.pos == pos)
		return EG_OK;
	return eg_st_err(it->st, EG_ECORRUPT, "segment %020llu.seg offset %llu holds position %llu "
		      "where idx/blocks says %llu; run engram verify",
		      (unsigned long long)it->blk.seg_first_pos, (unsigned long long)it->ev_at.off,
		      (unsigned long long)it->ev.ev.pos, (unsigned long long)pos);
}

/* Phase A by blocks: next wanted event, or EG_END. */
static int next_blocks(eg_iter *it)
{
	int rc;
	it->rb_on = !it->f.reverse;
	for (;;) {
		if (!it->f.reverse) {
			if (!it->blk_loaded || it->bk >= it->blk.count) {
				if (it->blk_loaded && (rc = blk_trailer(it)))
					return rc;
				do {
					if (it->bi >= it->bend)
						return EG_END;
					if ((rc = blk_load(it, it->bi++, 1)))
						return rc;
				} while (!block_in_range(it, &it->blk) ||
					 it->blk.first_pos > it->hi);
			}
			logpos at;
			if ((rc = blk_step(it, &at)))
				return rc;
			uint64_t pos = it->blk.first_pos + it->bk - 1;
			if (pos < it->lo)
				continue;
			if (pos > it->ix_through || pos > it->hi)
				return EG_END;
			if ((rc = decode_at(it, at, it->blk.recorded)) || (rc = at_pos(it, pos)))
				return rc;
			if (want(it, &it->ev.ev))
				return EG_OK;
			continue;
		}
		if (it->nrv == 0) {
			do {
				if (it->bi <= it->bend)
					return EG_END;
				if ((rc = blk_load(it, --it->bi, 1)))
					return rc;
			} while (!block_in_range(it, &it->blk) || it->blk.first_pos > it->hi);
			while (it->bk < it->blk.count)
				if ((rc = blk_step(it, &it->rv[it->nrv++])))
					return rc;
		}
		logpos at = it->rv[--it->nrv];
		uint64_t pos = it->blk.first_pos + (uint64_t)it->nrv;
		if (pos > it->hi || pos > it->ix_through)
			continue;
		if (pos < it->lo) {
			it->nrv = 0;
			return EG_END;
		}
		if ((rc = decode_at(it, at, it->blk.recorded)) || (rc = at_pos(it, pos)))
			return rc;
		if (want(it, &it->ev.ev))
			return EG_OK;
	}
}

/* Phase A by postings: next wanted event, or EG_END. */
static int next_postings(eg_iter *it)
{
	int rc;
	it->rb_on = 0;
	while (it->ipos < it->npos) {
		uint64_t pos = it->f.reverse ? it->pos[it->npos - 1 - it->ipos] : it->pos[it->ipos];
		it->ipos++;
		/* Reuse the loaded block when the next position falls in it. */
		if (!it->blk_loaded || pos < it->blk.first_pos ||
		    pos >= it->blk.first_pos + it->blk.count) {
			uint64_t bi;
			if ((rc = blk_find(it, pos, &bi)))
				return rc;
			if (bi >= it->nblocks)
				return eg_st_err(it->st, EG_ECORRUPT, "position %llu is not in idx/blocks; "
					      "run engram reindex", (unsigned long long)pos);
			if ((rc = blk_load(it, bi, 0)))
				return rc;
		}
		/* A block whose times miss the range holds no match: its postings
		 * are skipped unread, so a time range makes the cost follow the
		 * answer, not the postings. */
		if (!block_in_range(it, &it->blk))
			continue;
		if (pos < it->blk.first_pos + it->bk) {  /* behind: restart the block */
			it->bat = (logpos){ it->bat.seg, it->blk.off };
			it->bk = 0;
		}
		logpos at = it->bat;
		while (it->blk.first_pos + it->bk <= pos)
			if ((rc = blk_step(it, &at)))
				return rc;
		if ((rc = decode_at(it, at, it->blk.recorded)))
			return rc;
		if (it->ev.ev.pos != pos)
			return eg_st_err(it->st, EG_ECORRUPT, "idx/post and the log disagree at position "
				      "%llu; run engram reindex", (unsigned long long)pos);
		if (want(it, &it->ev.ev))
			return EG_OK;
	}
	return EG_END;
}

/* ------------------------------------------------------------- phase B */

/* Next event record in log order from tat, with its batch's recorded time
 * (read ahead from the commit record).  EG_END past the head. */
static int tail_step(eg_iter *it, logpos *at, int64_t *recorded)
{
	eg_store *st = it->st;
	eg_log *lg = &st->log;
	if (it->tnext > it->hi)
		return EG_END;
	for (;;) {
		if (it->tat.seg >= lg->nseg)
			return EG_END;
		const unsigned char *p = eg_log_ptr(st, lg, it->tat, REC_PREFIX);
		if (!p) {
			if (it->tat.seg + 1 < lg->nseg) {
				it->tat.seg++;
				it->tat.off = SEG_HDR_LEN;
				continue;
			}
			return EG_END;
		}
		int type;
		size_t len = rec_peek(p, eg_log_avail(lg, it->tat.seg, it->tat.off), &type);
		if (!len)
			return eg_st_err(st, EG_ECORRUPT, "bad record at segment %020llu.seg offset %llu",
				      (unsigned long long)lg->segs[it->tat.seg].first_pos,
				      (unsigned long long)it->tat.off);
		if (type != REC_EVENT) {
			int rc = not_a_commit(st, p, len, type, lg->segs[it->tat.seg].first_pos,
					      it->tat.off);
			if (rc)
				return rc;
			it->tat.off += len;
			continue;
		}
		if (it->batch_left == 0) {
			/* Find this batch's commit to learn its recorded time. */
			logpos q = it->tat;
			for (;;) {
				const unsigned char *r = eg_log_ptr(st, lg, q, REC_PREFIX);
				if (!r) {
					if (q.seg + 1 >= lg->nseg)
						return EG_END;
					q.seg++;
					q.off = SEG_HDR_LEN;
					continue;
				}
				int t2;
				size_t l2 = rec_peek(r, eg_log_avail(lg, q.seg, q.off), &t2);
				if (!l2)
					return EG_END;
				if (t2 == REC_COMMIT) {
					rec_commit c;
					if (!eg_rec_commit_decode(r, l2, &c))
						return EG_END;
					it->batch_left = c.count;
					it->batch_recorded = c.recorded;
					break;
				}
				q.off += l2;
			}
		}
		*at = it->tat;
		*recorded = it->batch_recorded;
		it->tat.off += len;
		it->batch_left--;
		it->tnext++;
		return EG_OK;
	}
}

static int next_tail(eg_iter *it)
{
	int rc;
	it->rb_on = 0;
	if (!it->f.reverse) {
		logpos at;
		int64_t rec;
		while ((rc = tail_step(it, &at, &rec)) == EG_OK) {
			if ((rc = decode_at(it, at, rec)))
				return rc;
			if (want(it, &it->ev.ev))
				return EG_OK;
		}
		return rc;
	}
	if (!it->tr) {  /* collect the tail once, then walk it backward */
		size_t cap = 64;
		it->tr = malloc(cap * sizeof *it->tr);
		if (!it->tr)
			return eg_st_err(it->st, EG_ENOMEM, "out of memory");
		tailref t;
		while ((rc = tail_step(it, &t.at, &t.recorded)) == EG_OK) {
			if (it->ntr == cap) {
				tailref *n = realloc(it->tr, (cap *= 2) * sizeof *n);
				if (!n)
					return eg_st_err(it->st, EG_ENOMEM, "out of memory");
				it->tr = n;
			}
			it->tr[it->ntr++] = t;
		}
		if (rc != EG_END)
			return rc;
		it->itr = it->ntr;
	}
	while (it->itr > 0) {
		tailref *t = &it->tr[--it->itr];
		if ((rc = decode_at(it, t->at, t->recorded)))
			return rc;
		if (want(it, &it->ev.ev))
			return EG_OK;
	}
	return EG_END;
}

/* ------------------------------------------------------------- planning */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The union of the postings of keys[0..n) (0: no such key), sorted: the
 * keys of one space partition the log, so the union has no repeats. */
static int union_postings(eg_iter *it, const uint64_t *keys, size_t n)
{
	free(it->pos);
	it->pos = NULL;
	it->npos = 0;
	for (size_t i = 0; i < n; i++) {
		if (!keys[i])
			continue;
		uint64_t *p;
		size_t m;
		int rc = eg_index_postings(it->st, keys[i] - 1, &p, &m);
		if (rc)
			return rc;
		uint64_t *grown = realloc(it->pos, (it->npos + m + 1) * sizeof *grown);
		if (!grown) {
			free(p);
			return eg_st_err(it->st, EG_ENOMEM, "out of memory");
		}
		it->pos = grown;
		if (m)   /* no postings: p is NULL, and memcpy must not see it */
			memcpy(it->pos + it->npos, p, m * sizeof *p);
		it->npos += m;
		free(p);
	}
	/* (None of the keys stored: pos is NULL, which qsort must not see.) */
	if (n > 1 && it->npos > 1)
		qsort(it->pos, it->npos, sizeof *it->pos, cmp_u64);
	return EG_OK;
}

/* The key ids (+1, 0 when absent) of n names in space, and their total
 * count of events. */
static uint64_t *find_keys(eg_iter *it, int space, char *const *names, const size_t *lens,
			   size_t n, uint64_t *total)
{
	keystate ks;
	uint64_t *keys = calloc(n + 1, sizeof *keys);
	*total = 0;
	if (!keys)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		keys[i] = eg_index_key_find(it->st, space, names[i], lens[i]);
		if (keys[i] && eg_index_keystate(it->st, keys[i] - 1, &ks))
			*total += ks.count;
	}
	return keys;
}

static int plan_postings(eg_iter *it)
{
	eg_store *st = it->st;
	uint64_t best = UINT64_MAX;
	int rc = EG_OK;
	/* The streams' postings, unless all the types together are rarer. */
	if (!it->any_stream && !it->empty_stream) {
		uint64_t *keys = find_keys(it, 0, it->streams, it->stream_lens, it->nstreams, &best);
		if (!keys)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		rc = union_postings(it, keys, it->nstreams);
		free(keys);
		if (rc)
			return rc;
	}
	if (!it->f.ntypes)
		return EG_OK;
	uint64_t total;
	uint64_t *keys = find_keys(it, 1, it->types, it->type_lens, it->f.ntypes, &total);
	if (!keys)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	/* Postings for more than one event in DENSE of the range cost more
	 * than reading every block: each is a seek inside its block (measured:
	 * a third of the log by postings took 0.57 s, the whole log by blocks
	 * 0.36 s).  Counts are of the whole log: a short range is read by
	 * blocks, which is cheap anyway. */
	uint64_t top = it->hi < it->ix_through ? it->hi : it->ix_through;
	uint64_t want = total < best ? total : best;
	if (top >= it->lo && want > (top - it->lo + 1) / DENSE) {
		free(it->pos);
		it->pos = NULL;
		it->npos = 0;
		it->use_postings = 0;
	} else if (total < best) {
		rc = union_postings(it, keys, it->f.ntypes);
	}
	free(keys);
	return rc;
}
/* f.query: the query's candidates through the index, when they are
 * fewer than the postings planned (or than a scan would read: DENSE). */
static int plan_query(eg_iter *it)
{
	uint64_t *p;
	size_t n;
	int rc = eg_query_positions(it->st, it->f.query, it->lo - 1, &p, &n);
	if (rc == EG_ENOTFOUND)
		return EG_OK;
	if (rc)
		return rc;
	uint64_t top = it->hi < it->ix_through ? it->hi : it->ix_through;
	if ((it->use_postings && n >= it->npos) || (top >= it->lo && n > (top - it->lo + 1) / DENSE)) {
		free(p);
		return EG_OK;
	}
	free(it->pos);
	it->pos = p;
	it->npos = n;
	it->use_postings = 1;
	return EG_OK;
}

/* Keep only postings inside lo..min(hi, ix_through). */
static void clip_postings(eg_iter *it)
{
	uint64_t top = it->hi < it->ix_through ? it->hi : it->ix_through;
	size_t a = 0, b = it->npos;
	while (a < b && it->pos[a] < it->lo)
		a++;
	while (b > a && it->pos[b - 1] > top)
		b--;
	if (b > a && a)
		memmove(it->pos, it->pos + a, (b - a) * sizeof *it->pos);
	it->npos = b - a;
}

static int plan(eg_iter *it)
{
	eg_store *st = it->st;
	eg_log *lg = &st->log;
	const ixstate *xs = &st->ix.st;
	it->hi = lg->head_pos;
	if (it->f.to && it->f.to < it->hi)
		it->hi = it->f.to;
	it->lo = it->f.from ? it->f.from : 1;
	it->resume = lg->head_at;
	it->ix_through = eg_store_indexed_through(st);
	it->tail_start = (logpos){ 0, SEG_HDR_LEN };
	if (it->ix_through)
		it->tail_start = (logpos){ eg_log_seg_index(lg, xs->head_seg_first), xs->head_off };
	it->nblocks = it->ix_through ? eg_index_nblocks(st) : 0;
	it->tat = it->tail_start;
	it->tnext = it->ix_through + 1;
	it->batch_left = 0;
	/* Events without a stream are in no stream's postings: an empty
	 * stream filter is applied to a scan. */
	it->use_postings = it->ix_through &&
		((!it->any_stream && !it->empty_stream) || it->f.ntypes);
	int rc;
	if (it->use_postings && (rc = plan_postings(it)))
		return rc;
	if (it->ix_through && it->f.query && (rc = plan_query(it)))
		return rc;
	if (it->use_postings)
		clip_postings(it);
	if (!it->use_postings && it->ix_through && it->lo <= it->ix_through) {
		uint64_t a, b;
		if ((rc = blk_find(it, it->lo, &a)) ||
		    (rc = blk_find(it, it->hi < it->ix_through ? it->hi : it->ix_through, &b)))
			return rc;
		b = b < it->nblocks ? b + 1 : it->nblocks;
		if (it->f.reverse) {
			it->bi = b;
			it->bend = a;
		} else {
			it->bi = a;
			it->bend = b;
		}
	}
	it->phase = it->f.reverse ? PH_B : PH_A;
	return EG_OK;
}

uint64_t eg_store_indexed_through(const eg_store *st)
{
	const ixstate *xs = &st->ix.st;
	if (!st->ix.usable || !xs->through_pos || xs->through_pos > st->log.head_pos ||
	    eg_log_seg_index(&st->log, xs->head_seg_first) == UINT32_MAX)
		return 0;
	return xs->through_pos;
}

static int cmp_name(const void *a, const void *b, void *lens)
{
	(void)lens;
	const char *const *x = a, *const *y = b;
	size_t xn = strlen(*x), yn = strlen(*y);
	return name_cmp(*x, xn, *y, yn);
}

/* The stream condition: f->stream, or the set of f->streams (both given:
 * f->stream must be among them, so it alone is kept). */
static int copy_streams(eg_iter *it, const eg_filter *f)
{
	const char *const *names = f->stream ? &f->stream : f->streams;
	size_t n = f->stream ? 1 : f->nstreams;
	if (f->stream && f->streams) {
		size_t i = 0;
		while (i < f->nstreams && strcmp(f->streams[i], f->stream))
			i++;
		if (i == f->nstreams)
			n = 0;   /* no stream can match */
	}
	it->any_stream = !f->stream && !f->streams;
	if (it->any_stream)
		return EG_OK;
	it->streams = calloc(n + 1, sizeof *it->streams);
	it->stream_lens = calloc(n + 1, sizeof *it->stream_lens);
	if (!it->streams || !it->stream_lens)
		return eg_st_err(it->st, EG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!(it->streams[i] = strdup(names[i])))
			return eg_st_err(it->st, EG_ENOMEM, "out of memory");
		it->nstreams = i + 1;
	}
	qsort_r(it->streams, n, sizeof *it->streams, cmp_name, NULL);
	size_t k = 0;   /* a stream named twice counts once */
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(it->streams[k - 1], it->streams[i])) {
			free(it->streams[i]);
			continue;
		}
		it->streams[k] = it->streams[i];
		it->stream_lens[k] = strlen(it->streams[i]);
		it->empty_stream |= !it->stream_lens[k];
		k++;
	}
	it->nstreams = k;
	return EG_OK;
}

int eg_iter_new(eg_store *st, eg_iter **out, const eg_filter *f)
{
	*out = NULL;
	int rc;
	if (!st->writable) {
		eg_index_refresh(st);
		if ((rc = eg_log_refresh(st, &st->log)))
			return rc;
	}
	eg_iter *it = calloc(1, sizeof *it);
	if (!it)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	it->st = st;
	it->ino_fd = -1;
	it->f = *f;
	if ((rc = copy_streams(it, f))) {
		eg_iter_free(it);
		return rc;
	}
	if (f->ntypes) {
		it->types = calloc(f->ntypes, sizeof *it->types);
		it->type_lens = calloc(f->ntypes, sizeof *it->type_lens);
		size_t n = 0;
		for (size_t i = 0; it->types && it->type_lens && i < f->ntypes; i++) {
			size_t k = 0;  /* a type named twice counts once */
			while (k < n && strcmp(it->types[k], f->types[i]))
				k++;
			if (k < n)
				continue;
			it->types[n] = strdup(f->types[i]);
			it->type_lens[n++] = strlen(f->types[i]);
		}
		it->f.ntypes = n;
	}
	if (f->ntypes && (!it->types || !it->type_lens)) {
		eg_iter_free(it);
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	}
	if ((rc = plan(it)) || (f->upcast && (rc = eg_reg_refresh(st)))) {
		eg_iter_free(it);
		return rc;
	}
	eg_keys_refresh(st);    /* a forget by another process since */
	*out = it;
	return EG_OK;
}

/* f.upcast: the event at its type's latest schema version.  Events
 * stored before the type had a schema keep schema_version 0 (they were
 * never validated) but read through the upcasts from version 1. */
static int upcast(eg_iter *it)
{
	return eg_reg_upcast_event(it->st, &it->ev.ev, &it->ubuf, &it->ucap);
}

void eg_iter_raw(eg_iter *it)
{
	it->raw = 1;
}

logpos eg_iter_place(const eg_iter *it)
{
	return it->ev_at;
}

void eg_iter_record(const eg_iter *it, const unsigned char **rec, size_t *len)
{
	*rec = it->rec;
	*len = it->rec_len;
}

int eg_iter_next(eg_iter *it, const eg_event **ev)
{
	int rc = EG_END;
	if (it->f.limit && it->emitted >= it->f.limit)
		return EG_END;
	while (it->phase != PH_DONE) {
		if (it->phase == PH_A)
			rc = it->use_postings ? next_postings(it) : next_blocks(it);
		else
			rc = next_tail(it);
		if (rc != EG_END)
			break;
		if (it->f.reverse)
			it->phase = it->phase == PH_B ? PH_A : PH_DONE;
		else
			it->phase = it->phase == PH_A ? PH_B : PH_DONE;
	}
	if (rc == EG_OK && !it->raw && (it->ev.ev.personal & EG_EV_ENCRYPTED)) {
		if (!it->ev.ev.id) {     /* lazy ids: the values are bound to it */
			eg_uuid_format(it->ev.uuid, it->ev.idbuf);
			it->ev.ev.id = it->ev.idbuf;
		}
		rc = eg_keys_open_event(it->st, &it->ev.ev, &it->cx, &it->dbuf, &it->dcap);
	}
	if (rc == EG_OK && it->f.upcast)
		rc = upcast(it);
	if (rc == EG_OK) {
		*ev = &it->ev.ev;
		it->emitted++;
		it->scanned = it->ev.ev.pos;
	} else if (rc == EG_END && !it->f.reverse) {
		it->scanned = it->hi;
	}
	return rc;
}

/* The commit record follows its batch's event records (in the same
 * segment or, for a batch that spans segments, a later one), so a walk
 * forward from the event's record over the lengths of the records after
 * it finds it: once per batch, the cache serving the batch's other
 * events.  It reads through the segments' mappings, not the iterator's
 * read buffer, so that the event stays valid. */
int eg_iter_chain(eg_iter *it, unsigned char hash[32])
{
	eg_store *st = it->st;
	eg_log *lg = &st->log;
	if (!it->emitted)
		return eg_st_err(st, EG_EINVAL, "eg_iter_chain: no event returned yet");
	uint64_t pos = it->ev.ev.pos;
	if (it->ch_last && it->ch_first <= pos && pos <= it->ch_last) {
		memcpy(hash, it->ch_hash, 32);
		return EG_OK;
	}
	logpos at = it->ev_at;
	for (;;) {
		const unsigned char *p = eg_log_ptr(st, lg, at, REC_PREFIX);
		size_t avail = p ? eg_log_avail(lg, at.seg, at.off) : 0;
		int type;
		size_t len = p ? rec_peek(p, avail, &type) : 0;
		if (!len && !avail && at.seg + 1 < lg->nseg) {
			at.seg++;   /* a batch may go on in the next segment */
			at.off = SEG_HDR_LEN;
			continue;
		}
		if (!len)
			break;
		rec_commit c;
		if (type == REC_COMMIT) {
			if (!eg_rec_commit_decode(p, avail, &c) || c.first_pos > pos ||
			    c.first_pos + c.count - 1 < pos)
				break;
			it->ch_first = c.first_pos;
			it->ch_last = c.first_pos + c.count - 1;
			memcpy(it->ch_hash, c.chain, 32);
			memcpy(hash, c.chain, 32);
			return EG_OK;
		}
		at.off += len;
	}
	return eg_st_err(st, EG_ECORRUPT, "no commit record after position %llu",
			 (unsigned long long)pos);
}

uint64_t eg_iter_scanned(const eg_iter *it)
{
	return it->scanned;
}

int eg_iter_wait(eg_iter *it, int timeout_ms)
{
	eg_store *st = it->st;
	if (it->f.reverse || (it->f.limit && it->emitted >= it->f.limit) ||
	    (it->f.to && it->hi >= it->f.to))
		return EG_END;
	if (it->ino_fd < 0) {
		it->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (it->ino_fd < 0 ||
		    inotify_add_watch(it->ino_fd, st->log.dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
			return eg_st_errno(st, "cannot watch %s", st->log.dir);
	}
	for (;;) {
		/* Look first: a batch may have landed before the watch began. */
		int rc = eg_store_head(st, &(eg_head){0});
		if (rc)
			return rc;
		uint64_t head = st->log.head_pos;
		/* the first position to take: after what was read, and not
		 * before the filter's from (an iterator made beyond the head);
		 * the log is read on from where it stopped, want() skipping
		 * what comes before from */
		uint64_t first = it->hi + 1 > it->f.from ? it->hi + 1 : it->f.from;
		if (head >= first) {
			it->tnext = it->hi + 1;   /* the record at resume */
			it->lo = first;
			it->hi = it->f.to && it->f.to < head ? it->f.to : head;
			it->tat = it->resume;
			it->batch_left = 0;
			it->resume = st->log.head_at;
			it->ix_through = it->lo - 1;
			it->phase = PH_B;
			eg_keys_refresh(st);   /* a forget since: its values read null from now */
			return it->f.upcast ? eg_reg_refresh(st) : EG_OK;
		}
		struct pollfd pfd = { .fd = it->ino_fd, .events = POLLIN };
		int n = poll(&pfd, 1, timeout_ms);
		if (n < 0 && errno != EINTR)
			return eg_st_errno(st, "poll");
		if (n == 0)
			return EG_END;
		char buf[4096];
		while (eg_os.read(it->ino_fd, buf, sizeof buf) > 0)
			;
	}
}

void eg_iter_free(eg_iter *it)
{
	if (!it)
		return;
	for (size_t i = 0; it->streams && i < it->nstreams; i++)
		free(it->streams[i]);
	free(it->streams);
	free(it->stream_lens);
	for (size_t i = 0; it->types && i < it->f.ntypes; i++)
		free(it->types[i]);
	free(it->types);
	free(it->type_lens);
	free(it->pos);
	free(it->bcache);
	free(it->rb);
	free(it->tr);
	free(it->ubuf);
	free(it->dbuf);
	eg_shred_cx_free(it->cx);
	if (it->ino_fd >= 0)
		eg_os.close(it->ino_fd);
	free(it);
}

/* The first event matching f: EG_OK with *e, EG_END, or an error.  Free
 * *it (set in every case) after using *e. */
static int first_event(eg_store *st, const eg_filter *f, eg_iter **it, const eg_event **e)
{
	int rc = eg_iter_new(st, it, f);
	if (rc) {
		*it = NULL;
		return rc;
	}
	return eg_iter_next(*it, e);
}

/* Identity of an event: a hash of its id and time (never 0), so that
 * derived state saved at its position is never applied to a log that was
 * cut back and appended anew. */
uint64_t eg_event_ident(const eg_event *e)
{
	return XXH3_64bits_withSeed(e->id, e->id_len, (uint64_t)e->time) | 1;
}

void eg_iter_lazy_ids(eg_iter *it)
{
	it->lazy_ids = 1;
}

uint64_t eg_iter_ident(eg_iter *it)
{
	rec_event *r = &it->ev;
	if (!r->ev.id) {
		eg_uuid_format(r->uuid, r->idbuf);
		r->ev.id = r->idbuf;
	}
	return eg_event_ident(&r->ev);
}

int eg_store_event_ident(eg_store *st, uint64_t pos, uint64_t *out)
{
	eg_filter f = { .from = pos, .to = pos, .limit = 1 };
	eg_iter *it;
	const eg_event *e;
	*out = 0;
	if (!pos)
		return EG_OK;
	int rc = first_event(st, &f, &it, &e);
	if (rc == EG_OK)
		*out = eg_event_ident(e);
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_known_pos(eg_store *st, int64_t k, uint64_t *pos)
{
	eg_filter f = { .by = EG_BY_RECORDED, .has_until = 1, .until = k, .reverse = 1,
			.limit = 1 };
	eg_iter *it;
	const eg_event *e;
	*pos = 0;
	int rc = first_event(st, &f, &it, &e);
	if (rc == EG_OK)
		*pos = e->pos;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_store_find_id(eg_store *st, const char *id, size_t n, uint64_t *pos)
{
	*pos = 0;
	if (!st->writable) {
		eg_index_refresh(st);
		int rc = eg_log_refresh(st, &st->log);
		if (rc)
			return rc;
	}
	/* Without the id table, every event is read. */
	uint64_t through = eg_index_ids_ready(st) ? eg_store_indexed_through(st) : 0;
	if (through) {
		int rc = eg_index_id_find(st, id, n, pos);
		if (rc || *pos)
			return rc ? rc : EG_OK;
	}
	if (through >= st->log.head_pos)
		return EG_ENOTFOUND;
	/* What the index does not cover yet is read. */
	eg_filter f = { .from = through + 1 };
	eg_iter *it;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (e->id_len == n && memcmp(e->id, id, n) == 0) {
			*pos = e->pos;
			break;
		}
	}
	eg_iter_free(it);
	return rc == EG_OK ? EG_OK : rc == EG_END ? EG_ENOTFOUND : rc;
}

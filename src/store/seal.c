/*
 * seal.c — sealed segments: writing a closed segment as zstd blocks, and
 * reading it back through an anonymous mapping of its logical bytes that
 * blocks are decompressed into on demand (seal.h; docs/FORMAT.md).
 *
 * Why a mapping: every reader of the log takes pointers into a segment's
 * bytes (eg_log_ptr); giving a sealed segment the same shape lets all of
 * them read it unchanged.  A block is decompressed once per open segment,
 * by whichever thread needs it first; a forward scan has the next blocks
 * decompressed on a second thread (the read-ahead) while it reads these.
 */
#include "seal.h"
#include "os.h"
#include "record.h"
#include "engram.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

enum { BLK_ABSENT = 0, BLK_BUSY = 1, BLK_READY = 2 };

struct eg_sealed {
	seal_info h;
	seal_blk *blk;
	const unsigned char *file;   /* the sealed file's bytes */
	size_t file_len;
	int mapped;                  /* file is our mapping of fd */
	unsigned char *map;          /* logical bytes, anonymous */
	_Atomic unsigned char *state; /* per block */
	_Atomic unsigned char *pinned; /* per block: handed out as a pointer, kept */
	atomic_uint npinned;         /* blocks pinned */
	atomic_int huge;             /* the mapping was advised huge pages */
	atomic_int copiers;          /* threads copying out in eg_sealed_copy */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct eg_seal_rd {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop, busy;
	eg_sealed *z;                /* the segment being read ahead in */
	uint32_t next, upto;         /* blocks to decompress: [next, upto) */
	eg_sealed *last_z;           /* the last block a scan asked for */
	uint32_t last_b;
};

/* Bytes a forward scan has decompressed ahead of it. */
#define AHEAD_BYTES (4u << 20)

static uint32_t check32(const void *p, size_t n)
{
	return (uint32_t)XXH3_64bits(p, n);
}

static int say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (why && n)
		vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return EG_ECORRUPT;
}

int eg_seal_is(const unsigned char *p, size_t n)
{
	return n >= 8 && memcmp(p, SEAL_MAGIC, 8) == 0;
}

/* ------------------------------------------------------------- format */

static void hdr_encode(const seal_info *h, unsigned char out[SEAL_HDR_LEN])
{
	memset(out, 0, SEAL_HDR_LEN);
	memcpy(out, SEAL_MAGIC, 8);
	wr32(out + 8, SEAL_VERSION);
	wr32(out + 12, SEAL_HDR_LEN);
	wr64(out + 16, h->first_pos);
	memcpy(out + 24, h->prev_chain, 32);
	wr64(out + 56, h->logical_len);
	wr32(out + 64, h->block_size);
	wr32(out + 68, (uint32_t)h->level);
	wr32(out + 72, h->dict_id);
	wr32(out + 76, h->nblocks);
	wr64(out + 80, h->events);
	wr64(out + 88, h->table_off);
	wr32(out + 124, check32(out, 124));
}

static void blk_hdr_encode(const seal_blk *b, unsigned char out[SEAL_BLK_HDR_LEN])
{
	memset(out, 0, SEAL_BLK_HDR_LEN);
	wr64(out, b->loff);
	wr64(out + 8, b->first_pos);
	wr32(out + 16, b->llen);
	wr32(out + 20, b->clen);
	wr32(out + 24, b->count);
	wr32(out + 28, b->check);
	wr32(out + 36, check32(out, 36));
}

static void entry_encode(const seal_blk *b, unsigned char out[SEAL_ENTRY_LEN])
{
	wr64(out, b->file_off);
	wr64(out + 8, b->loff);
	wr64(out + 16, b->first_pos);
	wr32(out + 24, b->llen);
	wr32(out + 28, b->clen);
	wr32(out + 32, b->count);
	wr32(out + 36, b->check);
}

static void foot_encode(const seal_info *h, uint32_t table_check, unsigned char out[SEAL_FOOT_LEN])
{
	memset(out, 0, SEAL_FOOT_LEN);
	memcpy(out, SEAL_FOOT_MAGIC, 8);
	wr64(out + 8, h->table_off);
	wr32(out + 16, h->nblocks);
	wr32(out + 20, table_check);
	wr32(out + 28, check32(out, 28));
}

/* The largest logical length a block can have: a record longer than the
 * block size makes a block of its own. */
static uint64_t llen_max(uint32_t block_size)
{
	return block_size > REC_MAX_LEN ? block_size : REC_MAX_LEN;
}

static int parse_header(const unsigned char *p, size_t len, seal_info *h, char *why, size_t wl)
{
	if (len < SEAL_HDR_LEN + SEAL_FOOT_LEN)
		return say(why, wl, "is %zu bytes, too short for a sealed segment", len);
	if (!eg_seal_is(p, len) || rd32(p + 8) != SEAL_VERSION || rd32(p + 12) != SEAL_HDR_LEN ||
	    rd32(p + 124) != check32(p, 124))
		return say(why, wl, "sealed header (file offset 0) fails its check");
	memset(h, 0, sizeof *h);
	h->first_pos = rd64(p + 16);
	memcpy(h->prev_chain, p + 24, 32);
	h->logical_len = rd64(p + 56);
	h->block_size = rd32(p + 64);
	h->level = (int32_t)rd32(p + 68);
	h->dict_id = rd32(p + 72);
	h->nblocks = rd32(p + 76);
	h->events = rd64(p + 80);
	h->table_off = rd64(p + 88);
	if (h->dict_id != 0)
		return say(why, wl, "uses zstd dictionary %u, which this reader does not know",
			   h->dict_id);
	if (h->block_size < SEAL_BLOCK_MIN || h->block_size > SEAL_BLOCK_MAX ||
	    h->logical_len < SEG_HDR_LEN || h->first_pos == 0)
		return say(why, wl, "sealed header (file offset 0) holds impossible values");
	if (h->table_off < SEAL_HDR_LEN || h->table_off > len ||
	    h->table_off + (uint64_t)h->nblocks * SEAL_ENTRY_LEN + SEAL_FOOT_LEN != len)
		return say(why, wl, "is %zu bytes, not what its header's block table says "
			   "(cut short or grown?)", len);
	return EG_OK;
}

static int parse_footer(const unsigned char *p, size_t len, const seal_info *h, char *why,
			size_t wl)
{
	const unsigned char *f = p + len - SEAL_FOOT_LEN;
	size_t at = len - SEAL_FOOT_LEN;
	if (memcmp(f, SEAL_FOOT_MAGIC, 8) || rd32(f + 28) != check32(f, 28))
		return say(why, wl, "sealed footer (file offset %zu) fails its check", at);
	if (rd64(f + 8) != h->table_off || rd32(f + 16) != h->nblocks)
		return say(why, wl, "sealed footer (file offset %zu) does not match the header", at);
	const unsigned char *t = p + h->table_off;
	if (rd32(f + 20) != check32(t, (size_t)h->nblocks * SEAL_ENTRY_LEN))
		return say(why, wl, "block table (file offset %llu) fails its check",
			   (unsigned long long)h->table_off);
	return EG_OK;
}

/* The table: contiguous logical bytes from the header's end, contiguous
 * blocks in the file from the sealed header's end, dense positions. */
static int parse_table(const unsigned char *p, seal_info *h, seal_blk *blk, char *why, size_t wl)
{
	uint64_t foff = SEAL_HDR_LEN, loff = SEG_HDR_LEN, pos = h->first_pos, events = 0;
	for (uint32_t i = 0; i < h->nblocks; i++) {
		const unsigned char *e = p + h->table_off + (uint64_t)i * SEAL_ENTRY_LEN;
		seal_blk *b = &blk[i];
		b->file_off = rd64(e);
		b->loff = rd64(e + 8);
		b->first_pos = rd64(e + 16);
		b->llen = rd32(e + 24);
		b->clen = rd32(e + 28);
		b->count = rd32(e + 32);
		b->check = rd32(e + 36);
		if (b->file_off != foff || b->loff != loff || b->first_pos != pos ||
		    b->llen == 0 || b->llen > llen_max(h->block_size) ||
		    foff + SEAL_BLK_HDR_LEN > h->table_off ||
		    b->clen > h->table_off - foff - SEAL_BLK_HDR_LEN || b->count > b->llen / EVT_FIXED)
			return say(why, wl, "block table entry %u (file offset %llu) is inconsistent",
				   i, (unsigned long long)(h->table_off + (uint64_t)i * SEAL_ENTRY_LEN));
		foff += SEAL_BLK_HDR_LEN + b->clen;
		loff += b->llen;
		pos += b->count;
		events += b->count;
	}
	if (foff != h->table_off || loff != h->logical_len || events != h->events)
		return say(why, wl, "block table (file offset %llu) does not cover the segment",
			   (unsigned long long)h->table_off);
	return EG_OK;
}

/* ------------------------------------------------------------- reading */

int eg_sealed_open(int fd, const unsigned char *mem, size_t len, eg_sealed **out,
		   char *why, size_t wl)
{
	*out = NULL;
	eg_sealed *z = calloc(1, sizeof *z);
	if (!z)
		return EG_ENOMEM;
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->cv, NULL);
	z->map = MAP_FAILED;
	int rc = EG_OK;
	if (fd >= 0) {
		off_t size = eg_os_file_size(fd);
		if (size < 0) {
			rc = EG_EIO;
			goto fail;
		}
		len = (size_t)size;
		if (len < SEAL_HDR_LEN + SEAL_FOOT_LEN) {
			rc = say(why, wl, "is %zu bytes, too short for a sealed segment", len);
			goto fail;
		}
		void *m = eg_os.mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			rc = EG_EIO;
			goto fail;
		}
		z->file = m;
		z->mapped = 1;
	} else {
		z->file = mem;
	}
	z->file_len = len;
	if ((rc = parse_header(z->file, len, &z->h, why, wl)) ||
	    (rc = parse_footer(z->file, len, &z->h, why, wl)))
		goto fail;
	z->blk = calloc(z->h.nblocks + 1, sizeof *z->blk);
	z->state = calloc(z->h.nblocks + 1, 1);
	z->pinned = calloc(z->h.nblocks + 1, 1);
	if (!z->blk || !z->state || !z->pinned) {
		rc = EG_ENOMEM;
		goto fail;
	}
	if ((rc = parse_table(z->file, &z->h, z->blk, why, wl)))
		goto fail;
	/* NORESERVE: the logical length is address space, not memory, until
	 * blocks are decompressed into it. */
	z->map = eg_os.mmap(NULL, z->h.logical_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (z->map == MAP_FAILED) {
		rc = EG_EIO;   /* errno says why */
		goto fail;
	}
	seg_hdr sh = { .first_pos = z->h.first_pos };
	memcpy(sh.prev_chain, z->h.prev_chain, 32);
	eg_seg_hdr_encode(&sh, z->map);
	*out = z;
	return EG_OK;
fail:
	{
		int e = errno;
		eg_sealed_free(z);
		errno = e;
	}
	return rc;
}

void eg_sealed_free(eg_sealed *z)
{
	if (!z)
		return;
	if (z->map != MAP_FAILED && z->map)
		eg_os.munmap(z->map, z->h.logical_len);
	if (z->mapped)
		eg_os.munmap((void *)z->file, z->file_len);
	free(z->blk);
	free((void *)z->state);
	free((void *)z->pinned);
	pthread_mutex_destroy(&z->mu);
	pthread_cond_destroy(&z->cv);
	free(z);
}

const seal_info *eg_sealed_info(const eg_sealed *z) { return &z->h; }
const seal_blk *eg_sealed_blocks(const eg_sealed *z) { return z->blk; }
unsigned char *eg_sealed_map(const eg_sealed *z) { return z->map; }
size_t eg_sealed_file_len(const eg_sealed *z) { return z->file_len; }

/* Each thread keeps one decompression context (freed when it exits). */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static void dctx_free(void *p) { ZSTD_freeDCtx(p); }
static void dctx_key_make(void) { (void)pthread_key_create(&dctx_key, dctx_free); }
static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, dctx_key_make);
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d && (d = ZSTD_createDCtx()))
		(void)pthread_setspecific(dctx_key, d);
	return d;
}

/* Check block i's header and compressed bytes and decompress it into out. */
static int block_decode(const eg_sealed *z, uint32_t i, unsigned char *out, char *why, size_t wl)
{
	const seal_blk *b = &z->blk[i];
	const unsigned char *h = z->file + b->file_off;
	unsigned char want[SEAL_BLK_HDR_LEN];
	blk_hdr_encode(b, want);
	if (memcmp(h, want, SEAL_BLK_HDR_LEN))
		return say(why, wl, "block %u: its header (file offset %llu) fails its check", i,
			   (unsigned long long)b->file_off);
	const unsigned char *c = h + SEAL_BLK_HDR_LEN;
	if (check32(c, b->clen) != b->check)
		return say(why, wl, "block %u (file offset %llu, %u compressed bytes) fails its check",
			   i, (unsigned long long)b->file_off, b->clen);
	ZSTD_DCtx *d = thread_dctx();
	if (!d)
		return EG_ENOMEM;
	size_t r = ZSTD_decompressDCtx(d, out, b->llen, c, b->clen);
	if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return EG_ENOMEM;
	if (ZSTD_isError(r) || r != b->llen)
		return say(why, wl, "block %u (file offset %llu) does not decompress to its %u bytes",
			   i, (unsigned long long)b->file_off, b->llen);
	return EG_OK;
}

int eg_sealed_block_read(eg_sealed *z, uint32_t i, unsigned char *out, char *why, size_t wl)
{
	return block_decode(z, i, out, why, wl);
}

/* Make block i ready in the mapping: one thread decompresses it, others
 * asking meanwhile wait for it. */
static int block_ensure(eg_sealed *z, uint32_t i, char *why, size_t wl)
{
	if (atomic_load(&z->state[i]) == BLK_READY)  /* seq_cst: see release_behind */
		return EG_OK;
	pthread_mutex_lock(&z->mu);
	for (;;) {
		unsigned char s = atomic_load_explicit(&z->state[i], memory_order_relaxed);
		if (s == BLK_READY) {
			pthread_mutex_unlock(&z->mu);
			return EG_OK;
		}
		if (s == BLK_ABSENT)
			break;
		pthread_cond_wait(&z->cv, &z->mu);
	}
	atomic_store_explicit(&z->state[i], BLK_BUSY, memory_order_relaxed);
	pthread_mutex_unlock(&z->mu);
	int rc = block_decode(z, i, z->map + z->blk[i].loff, why, wl);
	pthread_mutex_lock(&z->mu);
	atomic_store_explicit(&z->state[i], rc ? BLK_ABSENT : BLK_READY, memory_order_release);
	pthread_cond_broadcast(&z->cv);
	pthread_mutex_unlock(&z->mu);
	return rc;
}

/* The block holding logical byte off (>= the header's end). */
static uint32_t block_of(const eg_sealed *z, uint64_t off)
{
	uint32_t lo = 0, hi = z->h.nblocks;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (z->blk[mid].loff + z->blk[mid].llen <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void *ahead_main(void *arg);

/* A scan asked for block b: if it goes forward, have the blocks after it
 * decompressed on the read-ahead thread. */
static void ahead_hint(eg_seal_rd *rd, eg_sealed *z, uint32_t b)
{
	pthread_mutex_lock(&rd->mu);
	/* consecutive blocks: a scan (one stream's reads, which jump, would
	 * have blocks decompressed for nothing) */
	int forward = rd->last_z == z && b >= rd->last_b && b <= rd->last_b + 1;
	rd->last_z = z;
	rd->last_b = b;
	if (forward) {
#ifdef MADV_HUGEPAGE
		/* A scan fills the mapping block after block: 2 MiB pages take
		 * 1/512 of its page faults (docs/STORAGE.md).  Not before a
		 * scan: a read here and there would clear 2 MiB per block. */
		if (!atomic_exchange(&z->huge, 1))
			(void)madvise(z->map, z->h.logical_len, MADV_HUGEPAGE);
#endif
		uint32_t n = AHEAD_BYTES / z->h.block_size;
		n = n < 2 ? 2 : n;
		uint32_t upto = b + 1 + n > z->h.nblocks ? z->h.nblocks : b + 1 + n;
		if (rd->z != z || rd->next <= b)
			rd->next = b + 1;
		rd->z = z;
		rd->upto = upto;
		if (!rd->started && !rd->stop)
			rd->started = pthread_create(&rd->th, NULL, ahead_main, rd) == 0;
		pthread_cond_signal(&rd->cv);
	}
	pthread_mutex_unlock(&rd->mu);
}

/* Blocks [*first, *last] that hold logical bytes [off, off+n) (clipped);
 * 0 if there are none. */
static int span(const eg_sealed *z, uint64_t off, uint64_t n, uint32_t *first, uint32_t *last)
{
	uint64_t end = off + n < off || off + n > z->h.logical_len ? z->h.logical_len : off + n;
	if (off < SEG_HDR_LEN)
		off = SEG_HDR_LEN;
	if (off >= end)
		return 0;
	*first = block_of(z, off);
	*last = block_of(z, end - 1);
	return *first < z->h.nblocks;
}

static int ensure_span(eg_sealed *z, uint32_t first, uint32_t last, int pin, char *why, size_t wl)
{
	for (uint32_t b = first; b <= last && b < z->h.nblocks; b++) {
		if (pin && !atomic_load_explicit(&z->pinned[b], memory_order_relaxed) &&
		    !atomic_exchange(&z->pinned[b], 1))
			atomic_fetch_add(&z->npinned, 1);
		int rc = block_ensure(z, b, why, wl);
		if (rc)
			return rc;
	}
	return EG_OK;
}

int eg_sealed_ready(eg_sealed *z, eg_seal_rd *rd, uint64_t off, uint64_t n, char *why, size_t wl)
{
	uint32_t first, last;
	if (!span(z, off, n, &first, &last))
		return EG_OK;
	int rc = ensure_span(z, first, last, 1, why, wl);
	if (rc == EG_OK && rd)
		ahead_hint(rd, z, last);
	return rc;
}

/*
 * A forward scan that copies blocks out (eg_sealed_copy) would otherwise
 * keep every segment it passed decompressed in memory until the store is
 * closed.  When it moves on to the next segment, the one it left goes back
 * to the kernel whole, unless something took a pointer into it (pinned):
 * each block is claimed (BUSY) and dropped only while no thread is
 * copying; a copier counts itself before it looks at a block's state, so
 * it either sees the claim and waits for the block to be decompressed
 * again, or its count stops the release (both sides seq_cst).  Dropping
 * whole segments keeps the huge pages whole (splitting them, block by
 * block, measured slower than keeping everything).
 */
void eg_sealed_release(eg_sealed *z)
{
	if (atomic_load(&z->npinned) || atomic_load(&z->copiers))
		return;
	pthread_mutex_lock(&z->mu);
	uint32_t n = z->h.nblocks, i;
	for (i = 0; i < n; i++)
		if (atomic_load(&z->state[i]) == BLK_READY)
			atomic_store(&z->state[i], BLK_BUSY);
		else if (atomic_load(&z->state[i]) == BLK_BUSY)
			break;  /* being decompressed: leave the segment be */
	int idle = i == n && atomic_load(&z->copiers) == 0 && atomic_load(&z->npinned) == 0;
	if (idle && z->h.logical_len > 4096)
		(void)madvise(z->map + 4096, z->h.logical_len - 4096, MADV_DONTNEED);
	for (uint32_t k = 0; k < i; k++)
		if (atomic_load(&z->state[k]) == BLK_BUSY)
			atomic_store(&z->state[k], idle ? BLK_ABSENT : BLK_READY);
	pthread_cond_broadcast(&z->cv);
	pthread_mutex_unlock(&z->mu);
}

int eg_sealed_hold(eg_sealed *z, uint32_t i, char *why, size_t wl)
{
	if (i == 0)
		atomic_fetch_add(&z->copiers, 1);
	int rc = ensure_span(z, i, i, 0, why, wl);
	if (rc)
		atomic_fetch_sub(&z->copiers, 1);
	return rc;
}

void eg_sealed_unhold(eg_sealed *z)
{
	atomic_fetch_sub(&z->copiers, 1);
	eg_sealed_release(z);
}

int eg_sealed_copy(eg_sealed *z, eg_seal_rd *rd, uint64_t off, size_t n, void *buf,
		   char *why, size_t wl)
{
	uint32_t first, last;
	if (!span(z, off, n, &first, &last))
		return EG_OK;
	atomic_fetch_add(&z->copiers, 1);
	int rc = ensure_span(z, first, last, 0, why, wl);
	if (rc == EG_OK)
		memcpy(buf, z->map + off, n);
	atomic_fetch_sub(&z->copiers, 1);
	if (rc == EG_OK && rd)
		ahead_hint(rd, z, last);
	return rc;
}

uint64_t eg_sealed_block_end(const eg_sealed *z, uint64_t off)
{
	if (off >= z->h.logical_len)
		return z->h.logical_len;
	if (off < SEG_HDR_LEN)
		return SEG_HDR_LEN;
	uint32_t b = block_of(z, off);
	return b < z->h.nblocks ? z->blk[b].loff + z->blk[b].llen : z->h.logical_len;
}

uint64_t eg_sealed_ready_end(const eg_sealed *z, uint64_t off)
{
	if (off >= z->h.logical_len)
		return off;
	if (off < SEG_HDR_LEN)
		return SEG_HDR_LEN;
	uint32_t b = block_of(z, off);
	if (b >= z->h.nblocks ||
	    atomic_load_explicit(&z->state[b], memory_order_acquire) != BLK_READY)
		return off;
	return z->blk[b].loff + z->blk[b].llen;
}

/* ------------------------------------------------------------ read-ahead */

static void *ahead_main(void *arg)
{
	eg_seal_rd *rd = arg;
	pthread_setname_np(pthread_self(), "engram-unseal");
	pthread_mutex_lock(&rd->mu);
	for (;;) {
		while (!rd->stop && (!rd->z || rd->next >= rd->upto))
			pthread_cond_wait(&rd->cv, &rd->mu);
		if (rd->stop)
			break;
		eg_sealed *z = rd->z;
		uint32_t i = rd->next++;
		rd->busy = 1;
		pthread_mutex_unlock(&rd->mu);
		(void)block_ensure(z, i, NULL, 0);  /* a failure is the reader's to report */
		pthread_mutex_lock(&rd->mu);
		rd->busy = 0;
		pthread_cond_broadcast(&rd->cv);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

eg_seal_rd *eg_seal_rd_new(void)
{
	eg_seal_rd *rd = calloc(1, sizeof *rd);
	if (!rd)
		return NULL;
	pthread_mutex_init(&rd->mu, NULL);
	pthread_cond_init(&rd->cv, NULL);
	return rd;
}

void eg_seal_rd_quiesce(eg_seal_rd *rd)
{
	if (!rd)
		return;
	pthread_mutex_lock(&rd->mu);
	rd->z = rd->last_z = NULL;
	while (rd->busy)
		pthread_cond_wait(&rd->cv, &rd->mu);
	pthread_mutex_unlock(&rd->mu);
}

void eg_seal_rd_free(eg_seal_rd *rd)
{
	if (!rd)
		return;
	pthread_mutex_lock(&rd->mu);
	rd->stop = 1;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	if (rd->started)
		pthread_join(rd->th, NULL);
	pthread_mutex_destroy(&rd->mu);
	pthread_cond_destroy(&rd->cv);
	free(rd);
}

/* ------------------------------------------------------------- writing */

typedef struct sealer {
	int fd;
	const seal_opts *o;
	ZSTD_CCtx *cx;
	ZSTD_DCtx *dx;
	unsigned char *cbuf, *dbuf;
	size_t ccap, dcap;
	seal_blk *blk;
	uint32_t n, cap;
	uint64_t foff;
	char *why;
	size_t wl;
} sealer;

static int grow(unsigned char **p, size_t *cap, size_t need)
{
	if (*cap >= need)
		return 0;
	unsigned char *q = realloc(*p, need);
	if (!q)
		return -1;
	*p = q;
	*cap = need;
	return 0;
}

/* Compress src[0, llen) as the next block, check it decompresses back, and
 * write it after the blocks before. */
static int put_block(sealer *s, const unsigned char *src, uint64_t loff, uint32_t llen,
		     uint64_t first_pos, uint32_t count)
{
	size_t bound = ZSTD_compressBound(llen);
	if (grow(&s->cbuf, &s->ccap, SEAL_BLK_HDR_LEN + bound) || grow(&s->dbuf, &s->dcap, llen))
		return EG_ENOMEM;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 256;
		seal_blk *nb = realloc(s->blk, cap * sizeof *nb);
		if (!nb)
			return EG_ENOMEM;
		s->blk = nb;
		s->cap = cap;
	}
	size_t c = ZSTD_compress2(s->cx, s->cbuf + SEAL_BLK_HDR_LEN, bound, src, llen);
	if (ZSTD_isError(c) && ZSTD_getErrorCode(c) == ZSTD_error_memory_allocation)
		return EG_ENOMEM;
	if (ZSTD_isError(c))
		return say(s->why, s->wl, "zstd: %s", ZSTD_getErrorName(c));
	size_t d = ZSTD_decompressDCtx(s->dx, s->dbuf, llen, s->cbuf + SEAL_BLK_HDR_LEN, c);
	if (ZSTD_isError(d) && ZSTD_getErrorCode(d) == ZSTD_error_memory_allocation)
		return EG_ENOMEM;
	if (ZSTD_isError(d) || d != llen || memcmp(s->dbuf, src, llen))
		return say(s->why, s->wl, "block at logical offset %llu does not decompress "
			   "to what was compressed", (unsigned long long)loff);
	seal_blk *b = &s->blk[s->n++];
	*b = (seal_blk){ .file_off = s->foff, .loff = loff, .first_pos = first_pos,
			 .llen = llen, .clen = (uint32_t)c, .count = count,
			 .check = check32(s->cbuf + SEAL_BLK_HDR_LEN, c) };
	blk_hdr_encode(b, s->cbuf);
	if (eg_os_pwrite_all(s->fd, s->cbuf, SEAL_BLK_HDR_LEN + c, (off_t)s->foff))
		return EG_EIO;
	s->foff += SEAL_BLK_HDR_LEN + c;
	return EG_OK;
}

/* Check record at seg[off] (its own check, and dense positions): its
 * length, or 0 (why says what). */
static size_t record_ok(const unsigned char *seg, size_t len, size_t off, uint64_t next,
			int *is_event, char *why, size_t wl)
{
	int type;
	size_t n = rec_peek(seg + off, len - off, &type);
	rec_event ev;
	rec_commit c;
	*is_event = type == REC_EVENT;
	if (n && type == REC_EVENT && eg_rec_event_decode(seg + off, n, &ev) && ev.ev.pos == next)
		return n;
	if (n && type == REC_COMMIT && eg_rec_commit_decode(seg + off, n, &c))
		return n;
	say(why, wl, "record at offset %zu fails its check; not sealed", off);
	return 0;
}

int eg_seal_write(int fd, const unsigned char *seg, size_t len, const seal_opts *o,
		  uint64_t *file_len, char *why, size_t wl)
{
	seg_hdr sh;
	if (!eg_seg_hdr_decode(seg, len, &sh))
		return say(why, wl, "segment header fails its check; not sealed");
	sealer s = { .fd = fd, .o = o, .foff = SEAL_HDR_LEN, .why = why, .wl = wl };
	s.cx = ZSTD_createCCtx();
	s.dx = ZSTD_createDCtx();
	int rc = EG_OK;
	if (!s.cx || !s.dx) {
		rc = EG_ENOMEM;
		goto out;
	}
	ZSTD_CCtx_setParameter(s.cx, ZSTD_c_compressionLevel, o->level);
	ZSTD_CCtx_setParameter(s.cx, ZSTD_c_contentSizeFlag, 1);
	ZSTD_CCtx_setParameter(s.cx, ZSTD_c_checksumFlag, 0);  /* the block check covers it */
	uint64_t next = sh.first_pos, events = 0, bstart = SEG_HDR_LEN, bfirst = next;
	uint32_t bcount = 0;
	for (size_t off = SEG_HDR_LEN; off < len;) {
		int is_event;
		size_t n = record_ok(seg, len, off, next, &is_event, why, wl);
		if (!n) {
			rc = EG_ECORRUPT;
			goto out;
		}
		/* cut before a record that would take the block past its size */
		if (off > bstart && off + n - bstart > o->block_size) {
			if (o->stop && *o->stop) {
				rc = EG_EINTR;
				goto out;
			}
			if ((rc = put_block(&s, seg + bstart, bstart, (uint32_t)(off - bstart), bfirst, bcount)))
				goto out;
			bstart = off;
			bfirst = next;
			bcount = 0;
		}
		if (is_event) {
			next++;
			events++;
			bcount++;
		}
		off += n;
	}
	if (len > bstart &&
	    (rc = put_block(&s, seg + bstart, bstart, (uint32_t)(len - bstart), bfirst, bcount)))
		goto out;
	seal_info h = { .first_pos = sh.first_pos, .logical_len = len,
			.block_size = o->block_size, .level = o->level, .dict_id = 0,
			.nblocks = s.n, .events = events, .table_off = s.foff };
	memcpy(h.prev_chain, sh.prev_chain, 32);
	size_t tlen = (size_t)s.n * SEAL_ENTRY_LEN;
	unsigned char *t = malloc(tlen + SEAL_FOOT_LEN);
	if (!t) {
		rc = EG_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s.n; i++)
		entry_encode(&s.blk[i], t + (size_t)i * SEAL_ENTRY_LEN);
	foot_encode(&h, check32(t, tlen), t + tlen);
	unsigned char hb[SEAL_HDR_LEN];
	hdr_encode(&h, hb);
	if (eg_os_pwrite_all(fd, t, tlen + SEAL_FOOT_LEN, (off_t)s.foff) ||
	    eg_os_pwrite_all(fd, hb, sizeof hb, 0))
		rc = EG_EIO;
	free(t);
	*file_len = s.foff + tlen + SEAL_FOOT_LEN;
out:
	ZSTD_freeCCtx(s.cx);
	ZSTD_freeDCtx(s.dx);
	free(s.cbuf);
	free(s.dbuf);
	free(s.blk);
	return rc;
}

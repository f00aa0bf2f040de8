/*
 * seal.h — sealed segments: a closed log segment stored as independent zstd
 * blocks (docs/FORMAT.md, "Sealed segments"; docs/STORAGE.md says why).
 *
 * A sealed segment holds exactly the bytes of the plain segment it replaced
 * (its *logical* bytes: the 64-byte header and the records), so every
 * offset, the chain and every record check stay as they were.  A reader
 * sees them through an anonymous mapping of the logical length into which
 * the blocks are decompressed when a range is asked for; a block, once
 * there, stays until the segment is closed, so pointers into the mapping
 * stay valid as they do for a plain segment.  Safe to use from several
 * threads: a block is decompressed by one of them, the others wait for it.
 */
#ifndef EG_SEAL_H
#define EG_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_MAGIC        "ENGRAMSZ"
#define SEAL_FOOT_MAGIC   "ENGRAMSE"
#define SEAL_VERSION      1
#define SEAL_HDR_LEN      128
#define SEAL_BLK_HDR_LEN  40
#define SEAL_ENTRY_LEN    40
#define SEAL_FOOT_LEN     32
/* Defaults chosen by measurement (docs/STORAGE.md, "Sealed segments"). */
#define SEAL_BLOCK_DEFAULT (256u << 10)
#define SEAL_LEVEL_DEFAULT 3
#define SEAL_BLOCK_MIN    4096u
#define SEAL_BLOCK_MAX    (16u << 20)

/* One block as the table describes it. */
typedef struct seal_blk {
	uint64_t file_off;     /* its block header in the sealed file */
	uint64_t loff;         /* its first logical byte */
	uint64_t first_pos;    /* the first event record in it (or the next position) */
	uint32_t llen, clen;   /* logical and compressed lengths */
	uint32_t count;        /* event records in it */
	uint32_t check;        /* of the compressed bytes */
} seal_blk;

/* What the sealed header says. */
typedef struct seal_info {
	uint64_t first_pos;
	unsigned char prev_chain[32];
	uint64_t logical_len;  /* of the plain segment, its 64-byte header included */
	uint32_t block_size;
	int32_t level;
	uint32_t dict_id;      /* 0: none (the only value so far) */
	uint32_t nblocks;
	uint64_t events;       /* event records in the segment */
	uint64_t table_off;
} seal_info;

typedef struct eg_sealed eg_sealed;
/* A log's reading context: the read-ahead thread and decompression state
 * shared by its sealed segments.  One per log. */
typedef struct eg_seal_rd eg_seal_rd;

/* Do the first bytes of a file say it is sealed? */
int eg_seal_is(const unsigned char *p, size_t n);

/*
 * Open a sealed segment from its file (fd, mapped read-only here) or from
 * memory (fd < 0: mem/len, borrowed until eg_sealed_free; for tests and
 * the fuzzer).  Checks the header, the footer and the block table (not the
 * blocks).  EG_OK; EG_ECORRUPT with why (naming what failed and its file
 * offset); EG_EIO or EG_ENOMEM (errno set).
 */
int eg_sealed_open(int fd, const unsigned char *mem, size_t len, eg_sealed **out,
		   char *why, size_t whylen);
void eg_sealed_free(eg_sealed *z);
const seal_info *eg_sealed_info(const eg_sealed *z);
const seal_blk *eg_sealed_blocks(const eg_sealed *z);
/* The logical bytes: valid where made ready. */
unsigned char *eg_sealed_map(const eg_sealed *z);
size_t eg_sealed_file_len(const eg_sealed *z);

/* Make logical bytes [off, off+n) readable (clipped to the logical length),
 * decompressing the blocks they fall in.  rd (may be NULL) reads ahead of
 * a forward scan: pass it from the scanning path.  EG_OK, EG_ECORRUPT with
 * why (segment block number and file offset), EG_ENOMEM. */
int eg_sealed_ready(eg_sealed *z, eg_seal_rd *rd, uint64_t off, uint64_t n,
		    char *why, size_t whylen);
/* Copy logical bytes [off, off+n) (within the logical length) into buf,
 * decompressing as eg_sealed_ready does (without pinning: see
 * eg_sealed_release), and for a forward scan (rd) read ahead.  For
 * pread-style scans. */
int eg_sealed_copy(eg_sealed *z, eg_seal_rd *rd, uint64_t off, size_t n, void *buf,
		   char *why, size_t whylen);
/* Give the decompressed blocks back to the kernel (they are decompressed
 * again when read), unless a pointer into them was handed out
 * (eg_sealed_ready pins what it makes ready) or a copy is under way. */
void eg_sealed_release(eg_sealed *z);
/* A walk over the whole segment that gives the memory back after it
 * (verify): eg_sealed_hold(z, 0), (z, 1), ... makes each block ready
 * without pinning it and keeps the segment from being released meanwhile
 * (a failure ends the hold); eg_sealed_unhold ends it and releases what
 * nobody pinned. */
int eg_sealed_hold(eg_sealed *z, uint32_t i, char *why, size_t whylen);
void eg_sealed_unhold(eg_sealed *z);
/* The end of the block that holds logical byte off. */
uint64_t eg_sealed_block_end(const eg_sealed *z, uint64_t off);
/* Where the readable run that holds off ends (off itself if not ready). */
uint64_t eg_sealed_ready_end(const eg_sealed *z, uint64_t off);
/* Decompress and check block i into out (llen bytes) without touching the
 * mapping: verify's walk.  EG_OK or EG_ECORRUPT with why. */
int eg_sealed_block_read(eg_sealed *z, uint32_t i, unsigned char *out, char *why, size_t whylen);

eg_seal_rd *eg_seal_rd_new(void);
/* Stop the read-ahead thread (it may hold a segment): before a segment is
 * freed, and at close. */
void eg_seal_rd_quiesce(eg_seal_rd *rd);
void eg_seal_rd_free(eg_seal_rd *rd);

/* How to seal. */
typedef struct seal_opts {
	uint32_t block_size;   /* logical bytes a block aims at */
	int level;             /* zstd level */
	const volatile int *stop;  /* non-NULL: stop (EG_EINTR) when it turns non-zero */
} seal_opts;

/*
 * Write the sealed form of the plain segment seg[0, len) (its header and
 * whole records, all committed) to fd from offset 0.  Every record is
 * checked first: a damaged one is refused, never sealed.  Each block is
 * decompressed again and compared before it is written.  *file_len gets
 * the sealed file's length.  EG_OK; EG_ECORRUPT with why; EG_EIO (errno);
 * EG_ENOMEM.
 */
int eg_seal_write(int fd, const unsigned char *seg, size_t len, const seal_opts *o,
		  uint64_t *file_len, char *why, size_t whylen);

#endif

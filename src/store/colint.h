/*
 * colint.h — the column files' format (idx/col/v1/, docs/FORMAT.md) as the
 * writer (colwrite.c) and the reader (colscan.c) share it: block headers,
 * their directories, and the dictionary file's records, each parsed with
 * every length checked (colblock.c) so that damaged bytes are refused, not
 * followed.  Not part of the public API.
 */
#ifndef EG_COLINT_H
#define EG_COLINT_H

#include <stddef.h>
#include <stdint.h>

#include "col.h"

struct eg_store;
struct eg_filter;

#define COL_SUB "col"
#define COL_VERSION "v1"
#define COL_MAGIC "EGCOLBK1"
#define COL_HDR_FIXED 88          /* the header before the type ids */
#define COL_DIRENT 48             /* one directory entry */
#define COL_MAX_PATHS 64          /* path columns a block holds at most */
#define COL_MAX_DEPTH 4           /* data paths deeper are not columns */
#define COL_MAX_SEG 1024          /* a segment's bytes (NAME_MAX_LEN-like) */
#define COL_FLAG_COVERED 1u       /* every path seen in the block has a column */

/* What a directory entry holds. */
enum { COL_TIME = 1, COL_RECORDED, COL_STREAM, COL_TYPE, COL_KIND, COL_PATH };

typedef struct coldirent {
	uint8_t what;                 /* COL_* */
	uint8_t has_int;
	uint32_t path;                /* COL_PATH: the store-wide path id */
	uint64_t off;                 /* the frame: file offset, compressed bytes, */
	uint32_t clen, rlen;          /*   bytes once decompressed */
	int64_t imin, imax;           /* COL_PATH with has_int: the zone map */
	uint32_t check;               /* XXH3-64 low 32 bits of the frame */
} coldirent;

typedef struct colhdr {
	uint32_t hlen;                /* header and directory, with their check */
	uint32_t flags;
	uint64_t first_pos;
	uint32_t count, ncols, ntypes;
	int64_t tmin, tmax, rmin, rmax;
	uint64_t dict_len;            /* bytes of the dictionary file it needs */
	uint64_t ident;               /* eg_event_ident of its last event */
	const unsigned char *types;   /* ntypes u32 type ids (idx/keys id + 1), sorted */
	coldirent *dir;               /* ncols entries (malloc'd by the parser) */
} colhdr;

/* The header and directory of a block in [p, p+n): 0, or -1 when they are
 * not whole or fail their check.  n may be the header's part alone (at
 * least hlen bytes); the frames are checked when read (eg_col_frame).
 * h->dir is malloc'd (free it); h->types points into p. */
int eg_col_hdr_parse(const unsigned char *p, size_t n, colhdr *h);
/* hlen from the first bytes (at least 8 + 4): 0 if no block starts there. */
uint32_t eg_col_hdr_len(const unsigned char *p, size_t n);

/* The raw bytes of a frame: its check, then zstd; 0 or -1 (damaged). */
int eg_col_frame(const unsigned char *frame, size_t clen, uint32_t check, void *out,
		 size_t rlen);

/* Packed integers: a width byte w (1, 2, 4 or 8), then n values of w
 * bytes, the narrowest width that holds them all.  Signed values go
 * zigzag-coded (eg_col_zz), time as the zigzag of deltas. */
static inline uint64_t eg_col_zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t eg_col_unzz(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}
/* Bytes of n values packed (the width byte too), max their largest. */
size_t eg_col_packed_len(uint64_t max, uint32_t n);
/* Pack n values into out (eg_col_packed_len bytes); returns the bytes. */
size_t eg_col_pack(unsigned char *out, const uint64_t *v, uint32_t n, uint64_t max);
/* Unpack n values from [p, p+len) into u64 or u32 out: the bytes read, or
 * 0 when they are not there or (u32) do not fit. */
size_t eg_col_unpack64(const unsigned char *p, size_t len, uint32_t n, uint64_t *out);
size_t eg_col_unpack32(const unsigned char *p, size_t len, uint32_t n, uint32_t *out);

/* Decode a path column's raw bytes (n events) into tag/i/s arrays: STR ids
 * are the store-wide dictionary's; RAW texts go through add_raw (which
 * returns the id it gives the text, UINT32_MAX on failure).  0 or -1. */
typedef uint32_t (*eg_col_raw_fn)(void *ctx, const char *p, uint32_t n);
int eg_col_path_decode(const unsigned char *raw, size_t rlen, uint32_t n, uint8_t *tag,
		       int64_t *iv, uint32_t *sv, eg_col_raw_fn add_raw, void *ctx);

/* One record of the dictionary file: 1 a path, 2 strings of a path. */
typedef struct coldict_rec {
	int kind;
	uint32_t path;
	/* kind 1: nseg segments; kind 2: count texts from id first */
	uint32_t nseg, first, count;
	const unsigned char *body;    /* the segments or texts, each u32 len + bytes */
	size_t body_len;
	size_t next;                  /* offset of the next record */
} coldict_rec;
/* The record at off in [p, p+n): 0, or -1 (torn or damaged). */
int eg_col_dict_rec(const unsigned char *p, size_t n, size_t off, coldict_rec *r);

/* The values of event e at paths into slot k of the arrays: the lookup
 * of the engines' log path (col.h).  The extractor is colscan.c's. */

/* Is [p, p+n) the shortest decimal text of an int64?  Then *v is it
 * (an INT value; anything else at a number is RAW). */
int eg_col_canonical_int(const char *p, size_t n, int64_t *v);
/* The slot of key name (n bytes, 1..NAME_MAX_LEN; space 0 stream, 1 type)
 * in t, which holds space+name: added when missing, *fresh then 1.
 * UINT32_MAX: too long, or out of memory.  The scan and the builder keep
 * their key ids in arrays indexed by it. */
struct itab;
uint32_t eg_col_key_slot(struct itab *t, int space, const char *name, size_t n, int *fresh);

/* Writer side (colwrite.c). */
/* Build the column blocks that the log has 65536 committed and indexed
 * events for and the files lack, with a read handle of its own on dir:
 * *stop (may be NULL) set ends it between blocks.  EG_OK or an error
 * (message in err). */
int eg_col_build(const char *dir, volatile int *stop, char *err, size_t errlen);
/* The writer's background builder: note a commit (wakes it when a block's
 * worth is waiting), stop it (the block being built is left for the next
 * writer).  Called from store.c / index.c. */
void eg_col_writer_open(struct eg_store *st);
void eg_col_note_commit(struct eg_store *st);
void eg_col_writer_close(struct eg_store *st);
/* Delete the column files (reindex, an index rebuilt). */
void eg_col_drop(struct eg_store *st);
/* Full column blocks that the files lack now. */
uint64_t eg_col_lag_events(struct eg_store *st);

/* Compare every column block with what the log gives for its events and
 * paths: EG_OK with *blocks checked, or EG_ECORRUPT naming the block and
 * what differs (or another error). */
int eg_col_check(struct eg_store *st, uint64_t *blocks);

/* A scan from the log only, the builder's (no column files read). */
int eg_colscan_new_log(struct eg_store *st, const struct eg_filter *f, const eg_colneed *need,
		       eg_colscan **out);

#endif

/*
 * internal.h — the structures shared by the library's modules: the log
 * (log.c), the derived indexes (index.c, htab.c) and the store (store.c).
 * Nothing here is part of the public API.
 */
#ifndef EG_INTERNAL_H
#define EG_INTERNAL_H

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "engram.h"
#include "record.h"

/* 64 MiB: small enough that a store seals its data as it grows (a closed
 * segment is sealed in the background), large enough that a 10M-event
 * store has ~40 files (docs/STORAGE.md). */
#define DEFAULT_SEGMENT_BYTES (64ull << 20)
/* EG_SEAL_AUTO seals segments of at least this size. */
#define AUTOSEAL_MIN_BYTES (1ull << 20)

/* ------------------------------------------------------------------ log */

typedef struct seg {
	uint64_t first_pos;          /* from the file name and header */
	int fd;
	unsigned char *map;          /* read-only shared mapping, map_len bytes; for a
					sealed segment its logical bytes (seal.h), ready
					where eg_log_ptr/eg_log_map_seg made them so */
	size_t map_len;
	unsigned char prev_chain[32];
	int sealed;                  /* the file is a sealed segment */
	struct eg_sealed *sz;        /* its reader (NULL: it did not open, sz_err says why) */
	char *sz_err;
} seg;

/* A place in the log: segment index and byte offset. */
typedef struct logpos {
	uint32_t seg;
	uint64_t off;
} logpos;

typedef struct eg_log {
	char dir[PATH_MAX];
	int writable;
	uint64_t seg_limit;
	struct eg_seal_rd *rd;       /* read-ahead in sealed segments (seal.c) */
	_Atomic uint32_t rd_seg;     /* 1 + the segment eg_log_pread read last */
	seg *segs;
	uint32_t nseg, capseg;

	/* The committed head: everything before head_at is committed. */
	uint64_t head_pos;
	logpos head_at;
	unsigned char head_chain[32];
	int64_t head_recorded;

	/* Writer only: the spool of the open batch, records after head_at. */
	logpos tail;                 /* where the next record goes */
	unsigned char *wbuf;         /* pending bytes for the tail segment */
	size_t wlen, wcap;
	uint64_t wbuf_off;           /* file offset of wbuf[0] */
	/* A full wbuf of a batch is hashed and written by the writer thread
	 * while the other buffer fills (log.c, wbuf_push). */
	struct eg_worker *writer;
	struct log_wjob *wjob;       /* the writer's job (its buffer is wspare) */
	int wbusy;                   /* wjob submitted and not yet waited for */
	int wfailed;                 /* wjob failed: every write fails until the abort */
	unsigned char *wspare;       /* the other buffer */
	size_t wspare_cap;
	uint64_t synced_upto;        /* sync_file_range progress in tail seg */
	int new_segs;                /* segments created by the open batch */
	int in_batch, eager;         /* a batch is being spooled; sync_file_range */
	uint64_t batch_bytes;        /* event-record bytes of the open batch */
	struct chain_ctx *chain;     /* SHA-256 of the open batch so far */
	int failed;                  /* an fdatasync failed: stop acknowledging */
	/* Commits made with EG_SYNC_LATER and not yet synced: from segment
	 * dirty_seg on, and whether they created segments (the directory). */
	int dirty, dirty_dir;
	uint32_t dirty_seg;
} eg_log;

/* eg_log_commit's sync for a commit that is not the last of a run: it is
 * not synced now, but the next EG_SYNC_ALWAYS commit (or eg_log_sync)
 * syncs it with its own, segments that rolled in between included. */
#define EG_SYNC_LATER 2

/* Where a scan stopped, for recovery's report. */
typedef struct scan_end {
	logpos at;                   /* first byte not understood */
	int clean;                   /* 1: stopped at end of data (EOF) */
} scan_end;

struct eg_store;
int eg_log_open(struct eg_store *st, eg_log *lg, const char *dir, int writable,
	     uint64_t seg_limit);
void eg_log_close(eg_log *lg);
/* Writer: cut a torn tail back to the last commit; refuse damage before it
 * or a log that ends before must_have (known committed). */
int eg_log_recover(struct eg_store *st, eg_log *lg, uint64_t must_have);
/* Reader and writer: advance head over batches committed since. */
int eg_log_refresh(struct eg_store *st, eg_log *lg);
/* Start the scan for commits at a known committed place (from the index
 * state), so that opening does not read the whole log. */
void eg_log_set_head(eg_log *lg, uint64_t pos, logpos at,
		  const unsigned char chain[32], int64_t recorded);
/* Pointer to n bytes at `at`, mapping more of the file if it grew; NULL if
 * the file is shorter. */
const unsigned char *eg_log_ptr(struct eg_store *st, eg_log *lg, logpos at, size_t n);
/* Bytes available in segment s from off (per its current mapping/file). */
size_t eg_log_avail(eg_log *lg, uint32_t s, uint64_t off);
int eg_log_map_seg(struct eg_store *st, eg_log *lg, uint32_t s, size_t need);
/* Spool a record of len bytes (encoded by the caller into the returned
 * buffer via fill) at the tail; returns its place. */
unsigned char *eg_log_reserve(struct eg_store *st, eg_log *lg, size_t len,
			   uint64_t first_pos_if_new, logpos *at);
/* Commit the spooled batch: write the commit record and make it durable.
 * The caller sets first_pos, count and recorded; batch_bytes and chain are
 * filled in. */
int eg_log_commit(struct eg_store *st, eg_log *lg, rec_commit *c,
	       int sync, logpos *commit_at);
void eg_log_advance(eg_log *lg, size_t len);
/* Discard the spooled batch. */
int eg_log_abort(struct eg_store *st, eg_log *lg);
/* Make the commits made with EG_SYNC_LATER durable now (none: EG_OK). */
int eg_log_sync(struct eg_store *st, eg_log *lg);
/* eg_log_sync in three steps (eg_store_sync_take, include/engram.h). */
struct eg_sync_work;
int eg_log_sync_take(struct eg_store *st, eg_log *lg, struct eg_sync_work **w, uint64_t *pos);
int eg_log_sync_run(struct eg_sync_work *w);
int eg_log_sync_done(struct eg_store *st, eg_log *lg, struct eg_sync_work *w);
/* Make spooled bytes readable through eg_log_ptr (writes out the buffer). */
int eg_log_flush(struct eg_store *st, eg_log *lg);
uint32_t eg_log_seg_index(const eg_log *lg, uint64_t first_pos);
/* pread for the log: n bytes of segment s at off into buf, from the file
 * (and, in a writer, the open batch's bytes still in its buffers) or, for a
 * sealed segment, its decompressed blocks (read ahead as a
 * forward scan goes).  Bytes read (short at the end), or -1: errno set,
 * EBADMSG when a sealed block fails its check (eg_errmsg says where). */
ssize_t eg_log_pread(struct eg_store *st, eg_log *lg, uint32_t s, void *buf, size_t n, uint64_t off);
/* The same when only the first need bytes are needed: from a sealed
 * segment it reads no further than the end of the block holding them (a
 * short read), so that a reader jumping from event to event does not pay
 * for blocks it does not read. */
ssize_t eg_log_pread_min(struct eg_store *st, eg_log *lg, uint32_t s, void *buf, size_t n,
			 uint64_t off, size_t need);
/* Make all of segment s readable through its map (a sealed one is
 * decompressed whole): verify's walk.  EG_OK, EG_END (empty), or an error. */
int eg_log_map_all(struct eg_store *st, eg_log *lg, uint32_t s);
/* The error of a sealed segment that did not open, or of a block. */
int eg_log_sealed_err(struct eg_store *st, eg_log *lg, uint32_t s, int rc, const char *why);
/* Writer: replace segment i (whole, committed, plain) by its sealed form:
 * tmp file, fdatasync, rename, directory fsync, then read the new file.
 * before and after: the file sizes. */
struct seal_opts;
int eg_log_seal(struct eg_store *st, eg_log *lg, uint32_t i, const struct seal_opts *o,
		uint64_t *before, uint64_t *after);
int eg_log_reopen_seg(struct eg_store *st, eg_log *lg, uint32_t i);
/* The path of segment first_pos's file, and of its sealing tmp file. */
void eg_log_seg_path(const eg_log *lg, uint64_t first_pos, char *out, size_t n);
#define SEAL_TMP_SUFFIX ".sealing"

/* Bytes of the segment files up to the committed head, and after it. */
void eg_log_bytes(const eg_log *lg, uint64_t *committed, uint64_t *uncommitted);

static inline int logpos_cmp(logpos a, logpos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	return a.off < b.off ? -1 : a.off > b.off;
}

/* ------------------------------------------------------------- hash table */

/* An open-addressing table of 64-bit slots in a file, mapping a 64-bit hash
 * to a value (a position or a key id, < 2^34).  A slot keeps 30 bits of the
 * hash, so a match must be confirmed by the caller (see htab.c). */
typedef struct htab {
	char path[PATH_MAX];
	int fd, writable;
	uint64_t *slots;
	uint64_t cap, count;
	size_t map_len;
} htab;

#define HTAB_VALUE_BITS 34
#define HTAB_VALUE_MAX ((1ull << HTAB_VALUE_BITS) - 1)

typedef int (*htab_match_fn)(void *ctx, uint64_t value);

int eg_htab_open(htab *h, const char *path, int writable);
void eg_htab_close(htab *h);
/* The value of the first slot whose tag matches and match() confirms, or 0. */
uint64_t eg_htab_find(htab *h, uint64_t hash, htab_match_fn match, void *ctx);
/* Start loading the cache line where a find of hash begins: a bulk append
 * asks for the slots of the lines ahead of the one it adds, so that their
 * misses overlap instead of each stalling in turn. */
void eg_htab_prefetch(const htab *h, uint64_t hash);
int eg_htab_insert(htab *h, uint64_t hash, uint64_t value);
int eg_htab_remove(htab *h, uint64_t hash, uint64_t value);
/* Grow now (in the same steps as inserts would) to hold n entries. */
int eg_htab_reserve(htab *h, uint64_t n);
/* Reopen if the writer replaced the file (grown). */
int eg_htab_refresh(htab *h);

/* ------------------------------------------------------------------ index */

/* One entry of idx/blocks: a run of up to BLOCK_EVENTS events of one batch
 * in one segment (64 bytes on disk, see FORMAT.md). */
#define BLOCK_EVENTS 64
typedef struct block {
	uint64_t first_pos;
	uint64_t seg_first_pos;
	uint64_t off;
	int64_t tmin, tmax, recorded;
	uint32_t count;
	uint64_t bytes;        /* length of its event records, 0 if unknown */
	uint32_t check;        /* eg_rec_check of those bytes, taken as they were
				  written or after each record passed its own */
	int rectime;           /* holds events whose time is the record time */
} block;
#define BLOCK_LEN 64

/* Per-key state, idx/keystate: one 32-byte entry per key id. */
typedef struct keystate {
	uint64_t last_chunk;   /* offset of the key's newest postings chunk */
	uint64_t count;        /* events */
	uint64_t version;      /* streams: current version */
	uint64_t name_off;     /* offset of the name in idx/keys */
} keystate;
#define KEYSTATE_LEN 32

/* What idx/state records: how far the derived files cover the log. */
typedef struct ixstate {
	uint64_t through_pos;        /* every event <= this is indexed */
	uint64_t head_seg_first;     /* the log place just after that batch */
	uint64_t head_off;
	unsigned char chain[32];
	int64_t recorded;
	uint64_t blocks_len, post_len, keys_len, nkeys;
	int64_t tmin, tmax, rmin;    /* event-time range, first recorded */
} ixstate;

/* Pending postings of one key during a batch. */
typedef struct pend_key {
	uint64_t *pos;
	uint32_t n, cap;
} pend_key;

typedef struct eg_index {
	char dir[PATH_MAX];
	int writable, usable;
	int fd_blocks, fd_post, fd_keys, fd_keystate, fd_state;
	const unsigned char *bmap;   /* idx/blocks mapped (eg_index_blocks_map) */
	size_t bmap_len;
	htab ids, keys;
	ixstate st;                  /* what readers trust (live) */
	/* writer: postings pending for the open batch, by key id */
	pend_key *pend;
	uint32_t npend_cap;
	uint32_t *touched;           /* key ids with pending postings */
	uint32_t ntouched, captouched;
	uint64_t pend_total;
	block cur;                   /* block being filled */
	int cur_open;
	struct rec_hasher *cur_hash; /* over the records of cur */
	block *pblocks;              /* blocks of the open batch, not yet written */
	size_t npblocks, cappblocks;
	uint64_t unsynced_bytes;     /* log bytes since the last checkpoint */
	uint64_t ckpt_seg_first;     /* head segment at the last checkpoint */
	ixstate batch_start;         /* to roll back on abort */
} eg_index;

int eg_index_open(struct eg_store *st, int writable);
/* Entries [0, n) of idx/blocks through a read-only mapping of the file
 * (remapped when n passes its end), or NULL when it cannot be mapped: the
 * caller then reads them with pread. */
const unsigned char *eg_index_blocks_map(struct eg_store *st, uint64_t n);
void eg_index_close(struct eg_store *st);
/* Delete the derived files of idx/ (not its subdirectories). */
void eg_index_unlink(struct eg_store *st);
/* Writer: bring derived files up to the log head (after recovery). */
int eg_index_catch_up(struct eg_store *st);
int eg_index_rebuild(struct eg_store *st);
/* Writer: durably checkpoint derived files. */
int eg_index_checkpoint(struct eg_store *st);
/* Writer close: checkpoint, then mark the live state clean. */
int eg_index_close_clean(struct eg_store *st);
/* Does the index state describe a commit that is really in the log?  If
 * so, set the log's head there (so recovery scans only the rest). */
int eg_index_state_matches_log(struct eg_store *st);

/* Writer, during a batch. */
void eg_index_batch_begin(struct eg_store *st);
/* Look a key up: its id + 1, or 0 if absent.  space 0 = stream, 1 = type. */
uint64_t eg_index_key_find(struct eg_store *st, int space, const char *name, size_t n);
/* Find or create a key id (writer). */
/* eg_index_key_get given the name's eg_key_hash; eg_index_key_prefetch
 * starts loading where its find will look. */
int eg_index_key_get_h(struct eg_store *st, int space, const char *name, size_t n,
		       uint64_t hash, uint64_t *id);
void eg_index_key_prefetch(struct eg_store *st, uint64_t hash);
int eg_index_key_get(struct eg_store *st, int space, const char *name, size_t n,
		  uint64_t *id);
keystate *eg_index_keystate(struct eg_store *st, uint64_t id, keystate *buf);
/* The name of key id (cap bytes at most) and its space: 0 or -1. */
int eg_index_key_name(struct eg_store *st, uint64_t id, int *space, char *buf, size_t cap,
		      size_t *n);
int eg_index_keystate_put(struct eg_store *st, uint64_t id, const keystate *ks);
/* Every key's name at once, for a reader about to name many of them (a
 * column scan meets a stream per few events): idx/keys and idx/keystate
 * read whole, two reads instead of two or three per key.  A reader only
 * (a writer has them in memory): EG_OK, EG_EINVAL for a writer, EG_ENOMEM,
 * EG_EIO.  eg_keynames_get: the name of key id, 0 or -1. */
typedef struct eg_keynames {
	unsigned char *names;        /* idx/keys as read */
	size_t len;
	uint64_t *off;               /* per key id: its record in names */
	uint64_t n;
} eg_keynames;
int eg_index_keynames_read(struct eg_store *st, eg_keynames *kn);
int eg_keynames_get(const eg_keynames *kn, uint64_t id, const char **name, size_t *n);
void eg_keynames_free(eg_keynames *kn);
/* The event with this id, stored or spooled earlier in the open batch:
 * EG_OK with *pos (0: none), or an error when a candidate could not be
 * read (the id is then neither new nor a duplicate). */
int eg_index_id_find(struct eg_store *st, const char *id, size_t n, uint64_t *pos);
/* The same, and eg_index_id_add, given the id's eg_id_hash (computed on
 * another thread); eg_index_id_prefetch starts loading where its find will
 * look. */
int eg_index_id_find_h(struct eg_store *st, const char *id, size_t n, uint64_t hash,
		       uint64_t *pos);
int eg_index_id_add_h(struct eg_store *st, uint64_t hash, uint64_t pos);
void eg_index_id_prefetch(struct eg_store *st, uint64_t hash);
/* Is the id table there to look in?  A reader opens it, or opens it again
 * after a writer replaced it; 0 when it cannot (then read the log). */
int eg_index_ids_ready(struct eg_store *st);
int eg_index_id_add(struct eg_store *st, const char *id, size_t n, uint64_t pos);
/* Record one spooled event for the indexes. */
int eg_index_note_event(struct eg_store *st, const eg_event *ev, logpos at,
		     const unsigned char *rec, size_t rec_len,
		     uint64_t stream_id, uint64_t type_id);
/* Record the tags of a spooled event (encoded as in the record): key
 * space 2, created as needed (docs/CONSISTENCY.md). */
int eg_index_note_tags(struct eg_store *st, uint64_t pos, const char *tags, size_t n);
/* After the log commit: write postings, blocks, key state and the state. */
int eg_index_batch_commit(struct eg_store *st, const rec_commit *c, logpos head_at);
void eg_index_batch_abort(struct eg_store *st);

/* Readers. */
int eg_index_refresh(struct eg_store *st);
/* Block containing pos, from the block file or the open batch. */
int eg_index_find_block(struct eg_store *st, uint64_t pos, block *out, uint64_t *bidx);
uint64_t eg_index_nblocks(struct eg_store *st);
int eg_index_read_block(struct eg_store *st, uint64_t i, block *out);
/* Blocks first..first+n-1 into out[0..n-1], checked. */
int eg_index_read_blocks(struct eg_store *st, uint64_t first, uint64_t n, block *out);
/* Postings of key id: all positions, ascending, into a malloc'd array. */
int eg_index_postings(struct eg_store *st, uint64_t key, uint64_t **out, size_t *n);
/* The positions of key id beyond after, ascending, into a malloc'd array:
 * the chain walked backward from the newest chunk, stopping at the first
 * chunk that starts at or before after, so the cost is that of the
 * positions found, not of the key's whole history. */
int eg_index_postings_after(struct eg_store *st, uint64_t key, uint64_t after,
			    uint64_t **out, size_t *n);
/* query.c: the positions beyond after of the events a query may match
 * (its tags' postings intersected, its types' joined; the match itself
 * still to be made), ascending, malloc'd; EG_ENOTFOUND for a query with an
 * item "all", which the index cannot narrow.  The index must cover them. */
int eg_query_positions(struct eg_store *st, const eg_query *q, uint64_t after,
		       uint64_t **out, size_t *n);
/* The smallest position of key beyond after (0: none), reading only the
 * headers of the chunks above after and the one chunk that straddles it. */
int eg_index_first_after(struct eg_store *st, uint64_t key, uint64_t after, uint64_t *pos);

/* ------------------------------------------------------------------ store */

/* compact.c: after a commit, start sealing the segments it closed (in the
 * background, per eg_open_opts.seal); stop that at close. */
void eg_autoseal_kick(struct eg_store *st);
void eg_autoseal_stop(struct eg_store *st);

struct eg_store {
	char dir[PATH_MAX];
	int writable;
	int lock_fd;
	eg_log log;
	eg_index ix;
	int in_batch;
	int quiet_use;               /* reindex: opening spec state is no use */
	struct registry *reg;        /* schemas read from $schemas (contract.c), or NULL */
	struct eg_colw *colw;        /* writer: the column files' builder (colwrite.c) */
	int seal_mode;               /* eg_open_opts.seal */
	struct eg_autoseal *autoseal; /* the background sealer (compact.c), or NULL */
	struct eg_keys *keys;        /* the key file as read (keys.c), or NULL */
	char err[1024];
	char note[512];              /* the first derived file not saved (eg_store_note) */
};

/* Set the store's message (printf-style) and return code. */
int eg_st_err(struct eg_store *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errno)". */
int eg_st_errno(struct eg_store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Note (once) that a derived file could not be written or synced while
 * the command goes on without it, appending ": strerror(errno)". */
void eg_st_note_errno(struct eg_store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Streams whose name begins with '$' are engram's own ($schemas,
 * $quarantine): written by engram only, and facts about the store rather
 * than events, so the engines leave them out as they do heartbeats. */
static inline int eg_reserved_stream(const char *s, size_t n)
{
	return n && s[0] == '$';
}

/* eg_batch_begin without refreshing the schemas; internal: engram's own
 * batch, which may write its reserved $ streams and is not validated. */
int eg_batch_begin_as(struct eg_store *st, eg_batch **out, const eg_batch_opts *opts,
		      int internal);

/* Write a consumer checkpoint file dir/name (its format: docs/FORMAT.md)
 * atomically: the position, and the schema versions when not NULL. */
int eg_ckpt_write(struct eg_store *st, const char *dir, const char *name, uint64_t pos,
		  const char *schemas);

/* Find the record of event pos: its bytes and the recorded time of its
 * batch.  Returns EG_OK, EG_ENOTFOUND, or EG_ECORRUPT. */
int eg_store_locate(struct eg_store *st, uint64_t pos, const unsigned char **rec,
		 size_t *len, int64_t *recorded, logpos *at);

/* Where the record of the event eg_iter_next returned last is in the log
 * (segment index and byte offset). */
logpos eg_iter_place(const eg_iter *it);
/* The bytes of that record, as stored (prefix included: the leaf data of
 * the Merkle tree, tree.c); valid until the next eg_iter_next. */
void eg_iter_record(const eg_iter *it, const unsigned char **rec, size_t *len);
/* How much a forward scan reads ahead at a time (1 MiB; tests make it small
 * so that records fall across its end often). */
extern size_t eg_iter_read_chunk;

/* Writer: copy the record of event pos into *buf (grown as needed). */
int eg_store_read_event(struct eg_store *st, uint64_t pos, unsigned char **buf,
		     size_t *cap, size_t *len);

/* specs.c: a query opened the spec state whose lock file is lockfd: note
 * the time (the lock file's mtime is its last use), unless reindex is
 * rebuilding it. */
void eg_spec_state_used(struct eg_store *st, int lockfd);

/* A hash of the id and time of the event at pos (0 for pos 0): eg_event_ident
 * of that event. */
int eg_store_event_ident(struct eg_store *st, uint64_t pos, uint64_t *out);
uint64_t eg_event_ident(const eg_event *e);
/* A reader of records as stored: encrypted personal values are left as
 * they are (the column files' builder: they must hold no plaintext). */
void eg_iter_raw(struct eg_iter *it);

/* For a reader that needs no ids: events come with id NULL when it is a
 * UUID (formatting it is a fair part of decoding), and eg_iter_ident gives
 * the eg_event_ident of the current event all the same. */
void eg_iter_lazy_ids(struct eg_iter *it);
/* Events up to this position are served from the index: a forward scan of
 * them reads the log with pread and leaves its mappings alone, so two such
 * iterators may run on two threads.  0: none. */
uint64_t eg_store_indexed_through(const struct eg_store *st);
uint64_t eg_iter_ident(struct eg_iter *it);

uint64_t eg_id_hash(const char *id, size_t n);
uint64_t eg_key_hash(int space, const char *name, size_t n);

#endif

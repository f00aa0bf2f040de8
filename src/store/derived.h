/*
 * derived.h — the one home of derived state (idx/KIND/HASH/): a kind's
 * directory per spec hash with its lock and spec.json, checkpoint files
 * written one way (tmp, fdatasync, rename, directory fsync) and read back
 * checked, and the registry of kinds that reindex runs.  Engines hand it
 * bytes and get bytes back; it never calls into an engine.
 */
#ifndef EG_DERIVED_H
#define EG_DERIVED_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct eg_store;

/* One spec's directory, idx/SUB/HASH/. */
typedef struct eg_ds {
	char dir[PATH_MAX];
	int lockfd;                   /* -1: not open (the kind runs in memory) */
	int cleaned;                  /* tmp files of crashed writers removed */
} eg_ds;

/* Open (creating) idx/sub/hex/ and its lock file, note its use, and write
 * spec (if not NULL) as spec.json when it is missing or not whole.  A sub
 * "/NAME" is a kind kept at the top of the store, where people look for
 * it: DIR/NAME/hex/ (datasets: DIR/datasets/NAME/, hex being the
 * dataset's name).  0, or -1 with errno set and d->lockfd -1: the caller
 * runs in memory only.
 * upcast: the state reads events through the schema upcasts
 * (docs/CONTRACTS.md), so its directory is named by hex and the upcasts
 * together (hex alone while the store has none). */
int eg_ds_open(struct eg_store *st, const char *sub, const char *hex, int upcast,
	       const char *spec, size_t speclen, eg_ds *d);
void eg_ds_close(eg_ds *d);
/* Hex text of the first 16 bytes of a spec hash: the directory name. */
void eg_ds_hex(const unsigned char hash[16], char out[33]);
/* Take the directory's lock (blocking; a no-op when not open).  The first
 * time, the temporary files of writers that crashed are deleted: writers
 * hold this lock, so none can be in flight. */
int eg_ds_lock(struct eg_store *st, eg_ds *d);
void eg_ds_unlock(eg_ds *d);
/* d->dir/name into out (PATH_MAX). */
void eg_ds_path(const eg_ds *d, const char *name, char *out);

/* ------------------------------------------------------------ writing
 *
 * The durability rule (docs/FORMAT.md): a checkpoint NAME is written to
 * NAME.tmp, fdatasync'd, renamed over NAME, and the directory fsync'd.
 * Errors are kept in the writer until commit, which reports the first.
 * Bytes are written in order from hdr_len; the header (if any) is given
 * at commit, once the body and its checksum are known. */
typedef struct eg_ds_wr {
	const eg_ds *d;
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, err;
	struct XXH3_state_s *h;
	uint64_t off;                 /* where the next bytes go */
} eg_ds_wr;

int eg_ds_wr_begin(eg_ds_wr *w, const eg_ds *d, const char *name, uint64_t hdr_len);
/* Feed bytes to the checksum only (a header's checked part). */
void eg_ds_wr_hash(eg_ds_wr *w, const void *p, size_t n);
/* Write bytes, with hashed into the checksum too. */
void eg_ds_wr_put(eg_ds_wr *w, const void *p, size_t n, int hashed);
/* XXH3-64 of the bytes hashed so far. */
uint64_t eg_ds_wr_digest(eg_ds_wr *w);
/* Write hdr at 0 and, with tail_sum, the checksum as the last 8 bytes;
 * then make it durable and put it in place.  0, or -1 with errno set (the
 * temporary file is deleted).  Ends the writer either way. */
int eg_ds_wr_commit(eg_ds_wr *w, const void *hdr, size_t hdr_len, int tail_sum);
/* Give up: close and delete the temporary file. */
void eg_ds_wr_abort(eg_ds_wr *w);

/* Write a whole checkpoint held in memory, its checksum appended
 * (eg_ds_tail_sum_ok reads it).  0, or -1 with errno set. */
int eg_ds_write(const eg_ds *d, const char *name, const void *p, size_t n);

/* ------------------------------------------------------------ reading */

enum {
	EG_DS_ABSENT = 1,             /* no such checkpoint: build from the log */
	EG_DS_DAMAGED = 2,            /* torn, damaged or not this kind's: rebuild */
	EG_DS_IOERR = 3,              /* cannot be opened, mapped or read: errno says why */
};

#define EG_DS_MAP 1               /* map the file (else read it into memory) */
#define EG_DS_PRIVATE 2           /* a writable private map: changes stay in memory */

typedef struct eg_ds_view {
	unsigned char *p;
	size_t n;
	int mapped;
} eg_ds_view;

/* Is [p, p + n) a whole checkpoint?  0 if so. */
typedef int (*eg_ds_check_fn)(const unsigned char *p, size_t n, void *ctx);

/* Read checkpoint name of d: EG_DS_OK (0) with v holding its bytes, which
 * passed check; else EG_DS_ABSENT, EG_DS_DAMAGED or EG_DS_IOERR (errno
 * set) and v empty.  Derived state that does not check is rebuilt, never
 * trusted; one that cannot be read may be rebuilt too, or the failure
 * reported, as the caller sees fit. */
int eg_ds_read(const eg_ds *d, const char *name, int flags, size_t min,
	       eg_ds_check_fn check, void *ctx, eg_ds_view *v);
void eg_ds_view_free(eg_ds_view *v);
/* The check of eg_ds_write's files: the last 8 bytes are the XXH3-64 of
 * the others. */
int eg_ds_tail_sum_ok(const unsigned char *p, size_t n, void *ctx);

/* ------------------------------------------------- directories, kinds */

/* Call fn for each spec directory idx/sub/HASH/ (dot names skipped).
 * A missing idx/sub is none.  fn's nonzero return stops and is returned. */
typedef int (*eg_ds_dir_fn)(void *ctx, const char *dir, const char *hash);
int eg_ds_list(struct eg_store *st, const char *sub, eg_ds_dir_fn fn, void *ctx);
/* Delete the files of dir, then dir.  0 or -1 (errno set). */
int eg_ds_remove_dir(const char *dir);
/* Delete every derived file of every directory of sub: all but lock and
 * spec.json, which say the spec was run and how to run it again. */
int eg_ds_drop_files(struct eg_store *st, const char *sub);

/* A derived kind.  drop_all (NULL: eg_ds_drop_files) deletes its derived
 * files; rebuild_all (NULL: rebuilt on next use) builds them again from
 * the log.  The three kinds of today are known by name so that listing
 * keeps their order whatever registers first. */
typedef struct eg_ds_kind {
	const char *sub, *name;
	int (*drop_all)(struct eg_store *st);
	int (*rebuild_all)(struct eg_store *st);
	int as_stored;   /* built from the records as stored (personal values
	                    still encrypted): engram forget keeps it */
} eg_ds_kind;

/* Attach hooks to kind sub (added if not known).  -1 if the table is full. */
int eg_ds_register(const char *sub, const char *name, int (*drop_all)(struct eg_store *st),
		   int (*rebuild_all)(struct eg_store *st));
/* Mark kind sub (added if not known) as built from the records as stored,
 * never from decrypted data (docs/FORGETTING.md).  -1 if the table is full. */
int eg_ds_as_stored(const char *sub, const char *name);
/* The kinds, in a fixed order; *n of them. */
const eg_ds_kind *eg_ds_kinds(size_t *n);
/* Reindex's part: drop every kind's files, then rebuild those that
 * rebuild eagerly. */
int eg_ds_reindex(struct eg_store *st);

#endif

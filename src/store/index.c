/*
 * index.c — the derived files in DIR/idx: how reads by stream, type, time
 * and position become lookups instead of scans.
 *
 *   blocks    one 64-byte entry per run of <= 64 events of one batch in one
 *             segment: position -> place in the log, plus event-time and
 *             record-time ranges (zone maps) for time-range reads
 *   post      postings chunks: per key (stream or type) and batch, the
 *             positions, delta-encoded; chunks of a key are chained backward
 *   keys      key names, appended; keystate: per key, its newest chunk,
 *             count and (streams) current version; keyhash: name -> key id
 *   ids       event id -> position, for duplicate detection
 *   state     how far all of the above cover the log (live and synced)
 *
 * Everything here is rebuilt from the log by eg_index_rebuild.  The writer
 * updates the files after each commit; a crash leaves them behind the log,
 * and the next writer catches them up from the last synced checkpoint.
 */
#include "internal.h"
#include "colint.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define STATE_MAGIC "ENGRAMIX"
#define STATE_SLOT 256
#define POST_HDR 16
#define CHUNK_HDR 32
#define KEYS_HDR 16
/* Checkpoint (fdatasync derived files) after this many log bytes. */
#define CHECKPOINT_BYTES (256ull << 20)
/* Write postings out mid-batch beyond this many pending positions, so
 * that a huge batch does not hold them all in memory. */
#define PEND_FLUSH 1000000

/* Writer-only memory: key names and state, loaded at open. */
typedef struct wkeys {
	keystate *ks;
	uint64_t n, cap;            /* n includes keys created by the open batch */
	char *names;                /* the keys file content, then pending names */
	uint64_t names_len, names_cap;
	keystate *saved;            /* state of touched keys before the batch */
} wkeys;

static wkeys W;  /* one writer per process is all a store allows */

uint64_t eg_id_hash(const char *id, size_t n)
{
	return XXH3_64bits(id, n);
}

uint64_t eg_key_hash(int space, const char *name, size_t n)
{
	return XXH3_64bits_withSeed(name, n, (XXH64_hash_t)space + 1);
}

/* The derived files of idx/ this file keeps (projections, windows and
 * sessions keep theirs in subdirectories). */
static const char *const IDX_FILES[] = { "state", "blocks", "post", "keys", "keystate",
					 "keyhash", "ids" };
#define NIDX_FILES (sizeof IDX_FILES / sizeof *IDX_FILES)

static void unlink_idx_files(const char *dir)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < NIDX_FILES; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, IDX_FILES[i]);
		eg_os.unlink(path);
	}
}

void eg_index_unlink(eg_store *st)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/idx", st->dir);
	unlink_idx_files(dir);
}

/* ----------------------------------------------------------- state file */

static void state_encode(const ixstate *s, int clean, unsigned char *b)
{
	memset(b, 0, STATE_SLOT);
	memcpy(b, STATE_MAGIC, 8);
	wr32(b + 8, FORMAT_VERSION);
	wr32(b + 12, (uint32_t)clean);
	wr64(b + 16, s->through_pos);
	wr64(b + 24, s->head_seg_first);
	wr64(b + 32, s->head_off);
	memcpy(b + 40, s->chain, 32);
	wr64(b + 72, (uint64_t)s->recorded);
	wr64(b + 80, s->blocks_len);
	wr64(b + 88, s->post_len);
	wr64(b + 96, s->keys_len);
	wr64(b + 104, s->nkeys);
	wr64(b + 112, (uint64_t)s->tmin);
	wr64(b + 120, (uint64_t)s->tmax);
	wr64(b + 128, (uint64_t)s->rmin);
	wr32(b + STATE_SLOT - 4, eg_rec_check(b, STATE_SLOT - 4));
}

static int state_decode(const unsigned char *b, ixstate *s, int *clean)
{
	if (memcmp(b, STATE_MAGIC, 8) || rd32(b + 8) != FORMAT_VERSION ||
	    rd32(b + STATE_SLOT - 4) != eg_rec_check(b, STATE_SLOT - 4))
		return 0;
	*clean = (int)rd32(b + 12);
	s->through_pos = rd64(b + 16);
	s->head_seg_first = rd64(b + 24);
	s->head_off = rd64(b + 32);
	memcpy(s->chain, b + 40, 32);
	s->recorded = (int64_t)rd64(b + 72);
	s->blocks_len = rd64(b + 80);
	s->post_len = rd64(b + 88);
	s->keys_len = rd64(b + 96);
	s->nkeys = rd64(b + 104);
	s->tmin = (int64_t)rd64(b + 112);
	s->tmax = (int64_t)rd64(b + 120);
	s->rmin = (int64_t)rd64(b + 128);
	return 1;
}

static int state_write(eg_store *st, int slot, const ixstate *s, int clean)
{
	unsigned char b[STATE_SLOT];
	state_encode(s, clean, b);
	if (eg_os_pwrite_all(st->ix.fd_state, b, STATE_SLOT, (off_t)slot * STATE_SLOT))
		return eg_st_errno(st, "cannot write idx/state");
	return EG_OK;
}

/* --------------------------------------------------------------- files */

static void empty_state(ixstate *s)
{
	memset(s, 0, sizeof *s);
	s->tmin = INT64_MAX;
	s->tmax = INT64_MIN;
	s->post_len = POST_HDR;
	s->keys_len = KEYS_HDR;
}

static int open_idx_file(eg_store *st, const char *name, int writable, int *fd)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", st->ix.dir, name);
	*fd = eg_os.open(path, writable ? O_RDWR | O_CREAT : O_RDONLY, 0644);
	if (*fd < 0)
		return eg_st_errno(st, "cannot open %s", path);
	return EG_OK;
}

static int open_htab(eg_store *st, htab *h, const char *name, int writable)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", st->ix.dir, name);
	if (eg_htab_open(h, path, writable))
		return eg_st_errno(st, "cannot open %s", path);
	return EG_OK;
}

static void unmap_blocks(eg_index *ix)
{
	if (ix->bmap)
		eg_os.munmap((void *)ix->bmap, ix->bmap_len);
	ix->bmap = NULL;
	ix->bmap_len = 0;
}

/* A binary search over idx/blocks (each read of a posting starts with one)
 * touches a few entries far apart: through a mapping that is a few loads,
 * where pread copied a chunk of the file for each (measured: 165 preads
 * per stream lookup at 1M events, 10 ms). */
const unsigned char *eg_index_blocks_map(eg_store *st, uint64_t n)
{
	eg_index *ix = &st->ix;
	size_t need = (size_t)n * BLOCK_LEN;
	if (need <= ix->bmap_len)
		return ix->bmap;
	unmap_blocks(ix);
	struct stat sb;
	/* The whole file, so that growth by later batches rarely remaps; never
	 * past its end, which would fault. */
	if (!need || ix->fd_blocks < 0 || eg_os.fstat(ix->fd_blocks, &sb) ||
	    (uint64_t)sb.st_size < need)
		return NULL;
	void *p = eg_os.mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, ix->fd_blocks, 0);
	if (p == MAP_FAILED)
		return NULL;
	ix->bmap = p;
	ix->bmap_len = (size_t)sb.st_size;
	return ix->bmap;
}

static void close_fds(eg_index *ix)
{
	unmap_blocks(ix);
	int *fds[] = { &ix->fd_blocks, &ix->fd_post, &ix->fd_keys,
		       &ix->fd_keystate, &ix->fd_state };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
		if (*fds[i] >= 0)
			eg_os.close(*fds[i]);
		*fds[i] = -1;
	}
	if (ix->ids.slots)
		eg_htab_close(&ix->ids);
	if (ix->keys.slots)
		eg_htab_close(&ix->keys);
}

static int load_writer_keys(eg_store *st)
{
	eg_index *ix = &st->ix;
	free(W.ks);
	free(W.names);
	free(W.saved);
	memset(&W, 0, sizeof W);
	W.n = ix->st.nkeys;
	W.cap = W.n + 1024;
	W.names_len = ix->st.keys_len;
	W.names_cap = W.names_len + 65536;
	W.ks = malloc(W.cap * sizeof *W.ks);
	W.saved = malloc(W.cap * sizeof *W.saved);
	W.names = malloc(W.names_cap);
	if (!W.ks || !W.names || !W.saved)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (W.names_len > KEYS_HDR &&
	    eg_os_pread_all(ix->fd_keys, W.names, W.names_len, 0))
		return eg_st_errno(st, "cannot read idx/keys");
	unsigned char buf[KEYSTATE_LEN * 1024];
	for (uint64_t i = 0; i < W.n; i += 1024) {
		uint64_t m = W.n - i < 1024 ? W.n - i : 1024;
		if (eg_os_pread_all(ix->fd_keystate, buf, m * KEYSTATE_LEN, (off_t)(i * KEYSTATE_LEN)))
			return eg_st_errno(st, "cannot read idx/keystate");
		for (uint64_t j = 0; j < m; j++) {
			const unsigned char *p = buf + j * KEYSTATE_LEN;
			W.ks[i + j] = (keystate){ rd64(p), rd64(p + 8), rd64(p + 16), rd64(p + 24) };
		}
	}
	return EG_OK;
}

/* One idx/keystate entry. */
static void keystate_put(unsigned char *p, const keystate *k)
{
	wr64(p, k->last_chunk);
	wr64(p + 8, k->count);
	wr64(p + 16, k->version);
	wr64(p + 24, k->name_off);
}

/* After an unclean stop the writer goes on from the synced state, but
 * idx/keystate is rewritten in place after every batch: its entries may
 * describe chunks that the rollback of idx/post has just cut off, and
 * counts and versions that include the batches about to be indexed again.
 * Recompute each key's state from the chunks that the state covers (they
 * are written in order, each naming its key): newest chunk, count, and for
 * a stream its version (its event count).  Returns 0, or -1 if a chunk
 * does not check, when the caller starts from an empty index instead. */
static int keystate_from_post(eg_store *st)
{
	eg_index *ix = &st->ix;
	for (uint64_t i = 0; i < W.n; i++)
		W.ks[i].last_chunk = W.ks[i].count = W.ks[i].version = 0;
	size_t cap = 1 << 20;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return -1;
	uint64_t off = POST_HDR, end = ix->st.post_len;
	int bad = 0;
	while (off < end && !bad) {
		unsigned char hdr[CHUNK_HDR];
		uint32_t len;
		if (end - off < CHUNK_HDR || eg_os_pread_all(ix->fd_post, hdr, CHUNK_HDR, (off_t)off) ||
		    (len = rd32(hdr)) < CHUNK_HDR || len > end - off) {
			bad = 1;
			break;
		}
		if (len > cap) {
			unsigned char *nb = realloc(buf, len);
			if (!nb) {
				bad = 1;
				break;
			}
			buf = nb;
			cap = len;
		}
		uint32_t id = rd32(hdr + 8);
		if (eg_os_pread_all(ix->fd_post, buf, len, (off_t)off) ||
		    rd32(buf + 4) != eg_rec_check(buf + 8, len - 8) || id >= W.n ||
		    rd64(buf + 16) != W.ks[id].last_chunk) {
			bad = 1;
			break;
		}
		W.ks[id].last_chunk = off;
		W.ks[id].count += rd32(buf + 12);
		off += len;
	}
	free(buf);
	for (uint64_t i = 0; i < W.n && !bad; i++) {
		uint64_t o = W.ks[i].name_off;
		if (o + 1 > W.names_len) {
			bad = 1;
			break;
		}
		if (W.names[o] == 0)   /* space 0: streams */
			W.ks[i].version = W.ks[i].count;
	}
	if (bad || !(buf = malloc(W.n * KEYSTATE_LEN)))
		return -1;
	for (uint64_t i = 0; i < W.n; i++) {
		keystate_put(buf + i * KEYSTATE_LEN, &W.ks[i]);
	}
	bad = eg_os_pwrite_all(ix->fd_keystate, buf, W.n * KEYSTATE_LEN, 0) != 0;
	free(buf);
	return bad ? -1 : 0;
}

static int open_index(eg_store *st, int writable, int may_restart);

int eg_index_open(eg_store *st, int writable)
{
	return open_index(st, writable, 1);
}

static int open_index(eg_store *st, int writable, int may_restart)
{
	eg_index *ix = &st->ix;
	memset(ix, 0, sizeof *ix);
	ix->fd_blocks = ix->fd_post = ix->fd_keys = ix->fd_keystate = ix->fd_state = -1;
	ix->ids.fd = ix->keys.fd = -1;
	ix->writable = writable;
	snprintf(ix->dir, sizeof ix->dir, "%s/idx", st->dir);
	if (writable && eg_os.mkdir(ix->dir, 0755) && errno != EEXIST)
		return eg_st_errno(st, "cannot create %s", ix->dir);
	empty_state(&ix->st);
	int rc;
	if (writable) {
		/* A file missing beside the others (a writer killed while it
		 * rebuilt them, or one deleted by hand): start them all again
		 * rather than trust a state that describes it. */
		char path[PATH_MAX];
		size_t missing = 0;
		for (size_t i = 0; i < NIDX_FILES; i++) {
			snprintf(path, sizeof path, "%s/%s", ix->dir, IDX_FILES[i]);
			missing += access(path, F_OK) != 0 && errno == ENOENT;
		}
		if (missing && missing < NIDX_FILES)
			unlink_idx_files(ix->dir);
	}
	if ((rc = open_idx_file(st, "state", writable, &ix->fd_state)) ||
	    (rc = open_idx_file(st, "blocks", writable, &ix->fd_blocks)) ||
	    (rc = open_idx_file(st, "post", writable, &ix->fd_post)) ||
	    (rc = open_idx_file(st, "keys", writable, &ix->fd_keys)) ||
	    (rc = open_idx_file(st, "keystate", writable, &ix->fd_keystate)) ||
	    (rc = open_htab(st, &ix->keys, "keyhash", writable)) ||
	    (writable && (rc = open_htab(st, &ix->ids, "ids", writable)))) {
		/* Derived files missing (none built yet, deleted, or a writer
		 * rebuilding them or killed while it did), or a table that is
		 * not one (EINVAL: a writer failed or was killed making it): a
		 * reader reads the log itself (usable = 0) until a writer
		 * rebuilds them; a writer starts them again. */
		int e = errno;
		if (!writable && e != ENOENT && e != EINVAL)
			return rc;
		close_fds(ix);
		empty_state(&ix->st);
		if (!writable)
			return EG_OK;
		if (e != EINVAL || !may_restart)
			return rc;
		unlink_idx_files(ix->dir);
		return open_index(st, writable, 0);
	}
	unsigned char b[2 * STATE_SLOT];
	ixstate live, synced;
	int clean_live = 0, clean_synced = 0, ok_live = 0, ok_synced = 0;
	if (eg_os_pread_all(ix->fd_state, b, sizeof b, 0) == 0) {
		ok_live = state_decode(b, &live, &clean_live);
		ok_synced = state_decode(b + STATE_SLOT, &synced, &clean_synced);
	}
	/* Readers trust the live state: the writer wrote it after the data it
	 * describes, in the same page cache.  A writer reopening after an
	 * unclean stop trusts only what the last checkpoint made durable. */
	int described = 1;   /* the files hold what a state says they hold */
	if (ok_live && (clean_live || !writable))
		ix->st = live;
	else if (ok_synced)
		ix->st = synced;
	else
		described = 0;
	/* no state to go by (a writer failed before it wrote one): readers
	 * read the log itself */
	ix->usable = described || writable;
	/* Files shorter than the state says (damage, or a writer killed while
	 * it rolled them back): a reader reads the log itself, a writer
	 * starts the files again. */
	int fds[4] = { ix->fd_blocks, ix->fd_post, ix->fd_keys, ix->fd_keystate };
	static const char *const names[4] = { "blocks", "post", "keys", "keystate" };
	uint64_t need[4] = { ix->st.blocks_len, ix->st.post_len, ix->st.keys_len,
			     ix->st.nkeys * KEYSTATE_LEN };
	for (int i = 0; i < 4 && described; i++) {
		struct stat sb;
		/* A file that cannot be examined is not a short one: a writer
		 * must not start the index again over an I/O error. */
		int bad = eg_os.fstat(fds[i], &sb);
		if (bad && writable)
			return eg_st_errno(st, "cannot stat %s/%s", ix->dir, names[i]);
		if (!bad && (uint64_t)sb.st_size >= need[i])
			continue;
		if (!writable) {
			ix->usable = 0;
			break;
		}
		close_fds(ix);
		if (!may_restart)
			return eg_st_err(st, EG_ECORRUPT, "idx/ cannot be started again");
		unlink_idx_files(ix->dir);
		return open_index(st, writable, 0);
	}
	if (writable) {
		int unclean = !(ok_live && clean_live);
		if (ix->st.post_len < POST_HDR || ix->st.keys_len < KEYS_HDR)
			empty_state(&ix->st);
	again:
		/* Readers trust the live state: first make it the state gone on
		 * from (marked unclean until a clean close), then bring the files
		 * to it.  Killed anywhere in between, the files still hold all
		 * that the live state describes. */
		if ((rc = state_write(st, 0, &ix->st, 0)) || (rc = load_writer_keys(st)))
			return rc;
		if (unclean && W.n && keystate_from_post(st)) {
			/* the chunks do not add up: index the whole log again */
			empty_state(&ix->st);
			unclean = 0;
			goto again;
		}
		/* Roll the append-only files back to what the state covers. */
		if (eg_os.ftruncate(ix->fd_blocks, (off_t)ix->st.blocks_len) ||
		    eg_os.ftruncate(ix->fd_post, (off_t)ix->st.post_len) ||
		    eg_os.ftruncate(ix->fd_keys, (off_t)ix->st.keys_len) ||
		    eg_os.ftruncate(ix->fd_keystate, (off_t)(ix->st.nkeys * KEYSTATE_LEN)))
			return eg_st_errno(st, "cannot reset derived files");
		unsigned char hdr[POST_HDR] = "ENGRAMPOST";
		unsigned char khdr[KEYS_HDR] = "ENGRAMKEYS";
		if (eg_os_pwrite_all(ix->fd_post, hdr, POST_HDR, 0) ||
		    eg_os_pwrite_all(ix->fd_keys, khdr, KEYS_HDR, 0))
			return eg_st_errno(st, "cannot write derived files");
		memcpy(W.names, khdr, KEYS_HDR);
	}
	return EG_OK;
}

void eg_index_close(eg_store *st)
{
	eg_index *ix = &st->ix;
	close_fds(ix);
	for (uint32_t i = 0; i < ix->npend_cap; i++)
		free(ix->pend[i].pos);
	free(ix->pend);
	free(ix->touched);
	free(ix->pblocks);
	eg_rec_hasher_free(ix->cur_hash);
	ix->cur_hash = NULL;
	ix->pend = NULL;
	ix->touched = NULL;
	ix->pblocks = NULL;
	if (ix->writable) {
		free(W.ks);
		free(W.names);
		free(W.saved);
		memset(&W, 0, sizeof W);
	}
}

/* ---------------------------------------------------------------- keys */

typedef struct keymatch {
	eg_store *st;
	int space;
	const char *name;
	size_t n;
} keymatch;

/* Read a key entry's name: writer from memory, reader with pread. */
static int key_name_at(eg_store *st, uint64_t off, int *space, char *buf,
		       size_t cap, size_t *n)
{
	unsigned char h[5];
	if (st->ix.writable) {
		if (off + 5 > W.names_len)
			return -1;
		memcpy(h, W.names + off, 5);
	} else if (eg_os_pread_all(st->ix.fd_keys, h, 5, (off_t)off)) {
		return -1;
	}
	*space = h[0];
	*n = rd32(h + 1);
	if (*n > cap)
		return -1;
	if (st->ix.writable) {
		if (off + 5 + *n > W.names_len)
			return -1;
		memcpy(buf, W.names + off + 5, *n);
		return 0;
	}
	return eg_os_pread_all(st->ix.fd_keys, buf, *n, (off_t)off + 5);
}

static int key_match(void *ctx, uint64_t value)
{
	keymatch *m = ctx;
	uint64_t id = value - 1;
	eg_store *st = m->st;
	if (st->ix.writable) {
		if (id >= W.n)
			return 0;
		uint64_t off = W.ks[id].name_off;
		if (off + 5 + m->n > W.names_len)
			return 0;
		const char *p = W.names + off;
		return (unsigned char)p[0] == m->space && rd32(p + 1) == m->n &&
		       memcmp(p + 5, m->name, m->n) == 0;
	}
	if (id >= st->ix.st.nkeys)
		return 0;
	keystate ks;
	char buf[NAME_MAX_LEN];
	int space;
	size_t n;
	if (!eg_index_keystate(st, id, &ks) ||
	    key_name_at(st, ks.name_off, &space, buf, sizeof buf, &n))
		return 0;
	return space == m->space && n == m->n && memcmp(buf, m->name, n) == 0;
}

static uint64_t key_find_h(eg_store *st, int space, const char *name, size_t n, uint64_t hash)
{
	if (!st->ix.keys.slots)
		return 0;
	keymatch m = { st, space, name, n };
	return eg_htab_find(&st->ix.keys, hash, key_match, &m);
}

uint64_t eg_index_key_find(eg_store *st, int space, const char *name, size_t n)
{
	return key_find_h(st, space, name, n, eg_key_hash(space, name, n));
}

void eg_index_key_prefetch(eg_store *st, uint64_t hash)
{
	eg_htab_prefetch(&st->ix.keys, hash);
}

int eg_index_key_name(eg_store *st, uint64_t id, int *space, char *buf, size_t cap, size_t *n)
{
	keystate ks;
	if (!eg_index_keystate(st, id, &ks))
		return -1;
	return key_name_at(st, ks.name_off, space, buf, cap, n);
}

int eg_index_keynames_read(eg_store *st, eg_keynames *kn)
{
	eg_index *ix = &st->ix;
	memset(kn, 0, sizeof *kn);
	if (ix->writable || ix->fd_keys < 0 || ix->fd_keystate < 0)
		return EG_EINVAL;
	uint64_t n = ix->st.nkeys, len = ix->st.keys_len;
	if (n > SIZE_MAX / KEYSTATE_LEN || len > SIZE_MAX)
		return EG_ENOMEM;
	unsigned char *ks = malloc(n ? n * KEYSTATE_LEN : 1);
	kn->names = malloc(len ? len : 1);
	kn->off = malloc(n ? n * sizeof *kn->off : 1);
	int rc = EG_OK;
	if (!ks || !kn->names || !kn->off)
		rc = EG_ENOMEM;
	else if (eg_os_pread_all(ix->fd_keystate, ks, n * KEYSTATE_LEN, 0) ||
		 eg_os_pread_all(ix->fd_keys, kn->names, len, 0))
		rc = eg_st_errno(st, "cannot read idx/keys");
	for (uint64_t i = 0; !rc && i < n; i++)
		kn->off[i] = rd64(ks + i * KEYSTATE_LEN + 24);   /* keystate.name_off */
	free(ks);
	if (rc) {
		eg_keynames_free(kn);
		return rc;
	}
	kn->len = len;
	kn->n = n;
	return EG_OK;
}

int eg_keynames_get(const eg_keynames *kn, uint64_t id, const char **name, size_t *n)
{
	/* a name's record, as key_name_at reads it: space u8, length u32, bytes */
	if (id >= kn->n || kn->off[id] > kn->len || kn->len - kn->off[id] < 5)
		return -1;
	const unsigned char *r = kn->names + kn->off[id];
	uint32_t len = rd32(r + 1);
	if (len > kn->len - kn->off[id] - 5)
		return -1;
	*name = (const char *)r + 5;
	*n = len;
	return 0;
}

void eg_keynames_free(eg_keynames *kn)
{
	free(kn->names);
	free(kn->off);
	memset(kn, 0, sizeof *kn);
}

keystate *eg_index_keystate(eg_store *st, uint64_t id, keystate *buf)
{
	if (st->ix.writable)
		return id < W.n ? (*buf = W.ks[id], buf) : NULL;
	unsigned char p[KEYSTATE_LEN];
	if (id >= st->ix.st.nkeys ||
	    eg_os_pread_all(st->ix.fd_keystate, p, KEYSTATE_LEN, (off_t)(id * KEYSTATE_LEN)))
		return NULL;
	*buf = (keystate){ rd64(p), rd64(p + 8), rd64(p + 16), rd64(p + 24) };
	return buf;
}

static int touch_key(eg_store *st, uint64_t id);

int eg_index_keystate_put(eg_store *st, uint64_t id, const keystate *ks)
{
	int rc = touch_key(st, id);
	if (rc)
		return rc;
	W.ks[id] = *ks;
	return EG_OK;
}

int eg_index_key_get(eg_store *st, int space, const char *name, size_t n, uint64_t *id)
{
	return eg_index_key_get_h(st, space, name, n, eg_key_hash(space, name, n), id);
}

int eg_index_key_get_h(eg_store *st, int space, const char *name, size_t n, uint64_t hash,
		       uint64_t *id)
{
	uint64_t v = key_find_h(st, space, name, n, hash);
	if (v) {
		*id = v - 1;
		return EG_OK;
	}
	if (W.n == W.cap) {
		uint64_t cap = W.cap * 2;
		keystate *ks = realloc(W.ks, cap * sizeof *ks);
		if (ks)
			W.ks = ks;
		keystate *sv = realloc(W.saved, cap * sizeof *sv);
		if (sv)
			W.saved = sv;
		if (!ks || !sv)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		W.cap = cap;
	}
	if (W.names_len + 5 + n > W.names_cap) {
		uint64_t cap = (W.names_len + 5 + n) * 2;
		char *nn = realloc(W.names, cap);
		if (!nn)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		W.names = nn;
		W.names_cap = cap;
	}
	*id = W.n++;
	W.ks[*id] = (keystate){ 0, 0, 0, W.names_len };
	W.names[W.names_len] = (char)space;
	wr32(W.names + W.names_len + 1, (uint32_t)n);
	memcpy(W.names + W.names_len + 5, name, n);
	W.names_len += 5 + n;
	if (eg_htab_insert(&st->ix.keys, hash, *id + 1))
		return eg_st_errno(st, "cannot grow idx/keyhash");
	return touch_key(st, *id);
}

/* ----------------------------------------------------------------- ids */

typedef struct idmatch {
	eg_store *st;
	const char *id;
	size_t n;
	int rc;   /* a candidate could not be read: the id is not known new */
} idmatch;

static int id_match(void *ctx, uint64_t pos)
{
	idmatch *m = ctx;
	static unsigned char *buf;  /* the writer's; one per process */
	static size_t cap;
	size_t len;
	int rc = eg_store_read_event(m->st, pos, &buf, &cap, &len);
	if (rc != EG_OK) {
		if (rc != EG_ENOTFOUND)
			m->rc = rc;
		return 0;
	}
	const unsigned char *rec = buf;
	const char *id;
	size_t n;
	int is_uuid;
	eg_rec_event_raw_id(rec, &id, &n, &is_uuid);
	if (is_uuid) {
		char txt[36];
		eg_uuid_format((const unsigned char *)id, txt);
		return m->n == 36 && memcmp(txt, m->id, 36) == 0;
	}
	return n == m->n && memcmp(id, m->id, n) == 0;
}

int eg_index_id_find(eg_store *st, const char *id, size_t n, uint64_t *pos)
{
	return eg_index_id_find_h(st, id, n, eg_id_hash(id, n), pos);
}

int eg_index_id_find_h(eg_store *st, const char *id, size_t n, uint64_t hash, uint64_t *pos)
{
	idmatch m = { st, id, n, EG_OK };
	*pos = 0;
	if (!st->ix.ids.slots)
		return EG_OK;
	*pos = eg_htab_find(&st->ix.ids, hash, id_match, &m);
	return *pos ? EG_OK : m.rc;
}

void eg_index_id_prefetch(eg_store *st, uint64_t hash)
{
	eg_htab_prefetch(&st->ix.ids, hash);
}

int eg_index_ids_ready(eg_store *st)
{
	/* A reader opens the id table the first time it looks an id up (most
	 * never do), and again after a writer replaced it (grown). */
	if (!st->ix.writable && (st->ix.ids.slots ? eg_htab_refresh(&st->ix.ids) :
				 open_htab(st, &st->ix.ids, "ids", 0)))
		return 0;
	return st->ix.ids.slots != NULL;
}

int eg_index_id_add(eg_store *st, const char *id, size_t n, uint64_t pos)
{
	return eg_index_id_add_h(st, eg_id_hash(id, n), pos);
}

int eg_index_id_add_h(eg_store *st, uint64_t hash, uint64_t pos)
{
	if (pos > HTAB_VALUE_MAX)
		return eg_st_err(st, EG_EINVAL, "position beyond the id index's range");
	if (eg_htab_insert(&st->ix.ids, hash, pos))
		return eg_st_errno(st, "cannot grow idx/ids");
	return EG_OK;
}

/* ------------------------------------------------------------- batches */

static int touch_key(eg_store *st, uint64_t id)
{
	eg_index *ix = &st->ix;
	if (id >= ix->npend_cap) {
		uint32_t cap = ix->npend_cap ? ix->npend_cap : 1024;
		while (cap <= id)
			cap *= 2;
		pend_key *p = realloc(ix->pend, cap * sizeof *p);
		if (!p)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		memset(p + ix->npend_cap, 0, (cap - ix->npend_cap) * sizeof *p);
		ix->pend = p;
		ix->npend_cap = cap;
	}
	pend_key *pk = &ix->pend[id];
	if (pk->cap & 0x80000000u)  /* already touched in this batch */
		return EG_OK;
	if (ix->ntouched == ix->captouched) {
		uint32_t cap = ix->captouched ? ix->captouched * 2 : 1024;
		uint32_t *t = realloc(ix->touched, cap * sizeof *t);
		if (!t)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		ix->touched = t;
		ix->captouched = cap;
	}
	ix->touched[ix->ntouched++] = (uint32_t)id;
	pk->cap |= 0x80000000u;
	W.saved[id] = W.ks[id];
	return EG_OK;
}

#define PEND_CAP(pk) ((pk)->cap & 0x7fffffffu)

void eg_index_batch_begin(eg_store *st)
{
	eg_index *ix = &st->ix;
	ix->batch_start = ix->st;
	ix->batch_start.nkeys = W.n;
	ix->batch_start.keys_len = W.names_len;
	ix->ntouched = 0;
	ix->pend_total = 0;
	ix->npblocks = 0;
	ix->cur_open = 0;
}

static int push_block(eg_store *st)
{
	eg_index *ix = &st->ix;
	if (!ix->cur_open)
		return EG_OK;
	if (ix->npblocks == ix->cappblocks) {
		size_t cap = ix->cappblocks ? ix->cappblocks * 2 : 256;
		block *b = realloc(ix->pblocks, cap * sizeof *b);
		if (!b)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		ix->pblocks = b;
		ix->cappblocks = cap;
	}
	ix->cur.check = eg_rec_hasher_value(ix->cur_hash);
	ix->pblocks[ix->npblocks++] = ix->cur;
	ix->cur_open = 0;
	return EG_OK;
}

/* Write the pending positions of every touched key as one chunk each. */
static int flush_postings(eg_store *st)
{
	eg_index *ix = &st->ix;
	size_t cap = 1 << 16;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	size_t used = 0;
	uint64_t off = ix->st.post_len;
	int rc = EG_OK;
	for (uint32_t t = 0; t < ix->ntouched && rc == EG_OK; t++) {
		uint32_t id = ix->touched[t];
		pend_key *pk = &ix->pend[id];
		if (!pk->n)
			continue;
		size_t need = CHUNK_HDR + (size_t)pk->n * 10;
		if (used + need > cap) {
			if (used && eg_os_pwrite_all(ix->fd_post, buf, used, (off_t)(off - used)))
				rc = eg_st_errno(st, "cannot write idx/post");
			used = 0;
			if (need > cap) {
				unsigned char *nb = realloc(buf, need);
				if (!nb) {
					rc = eg_st_err(st, EG_ENOMEM, "out of memory");
					break;
				}
				buf = nb;
				cap = need;
			}
		}
		unsigned char *c = buf + used, *p = c + CHUNK_HDR;
		uint64_t prev = pk->pos[0];
		for (uint32_t i = 1; i < pk->n; i++) {
			p += varint_put(p, pk->pos[i] - prev);
			prev = pk->pos[i];
		}
		size_t len = (size_t)(p - c);
		wr32(c, (uint32_t)len);
		wr32(c + 8, id);
		wr32(c + 12, pk->n);
		wr64(c + 16, W.ks[id].last_chunk);
		wr64(c + 24, pk->pos[0]);
		wr32(c + 4, eg_rec_check(c + 8, len - 8));
		W.ks[id].last_chunk = off;
		off += len;
		used += len;
		pk->n = 0;
	}
	if (rc == EG_OK && used && eg_os_pwrite_all(ix->fd_post, buf, used, (off_t)(off - used)))
		rc = eg_st_errno(st, "cannot write idx/post");
	free(buf);
	ix->st.post_len = off;
	ix->pend_total = 0;
	return rc;
}

static int pend_add(eg_store *st, uint64_t id, uint64_t pos)
{
	pend_key *pk = &st->ix.pend[id];
	if (pk->n == PEND_CAP(pk)) {
		uint32_t cap = PEND_CAP(pk) ? PEND_CAP(pk) * 2 : 4;
		uint64_t *p = realloc(pk->pos, cap * sizeof *p);
		if (!p)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		pk->pos = p;
		pk->cap = (pk->cap & 0x80000000u) | cap;
	}
	pk->pos[pk->n++] = pos;
	st->ix.pend_total++;
	return EG_OK;
}

int eg_index_note_event(eg_store *st, const eg_event *ev, logpos at,
		     const unsigned char *rec, size_t rec_len,
		     uint64_t stream_id, uint64_t type_id)
{
	eg_index *ix = &st->ix;
	int rc;
	block *b = &ix->cur;
	uint64_t seg_first = st->log.segs[at.seg].first_pos;
	if (ix->cur_open && (b->count == BLOCK_EVENTS || b->seg_first_pos != seg_first))
		if ((rc = push_block(st)))
			return rc;
	if (!ix->cur_open) {
		*b = (block){ ev->pos, seg_first, at.off, INT64_MAX, INT64_MIN, 0, 0, 0, 0, 0 };
		ix->cur_open = 1;
		if (!ix->cur_hash && !(ix->cur_hash = eg_rec_hasher_new()))
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		eg_rec_hasher_reset(ix->cur_hash);
	}
	b->count++;
	eg_rec_hasher_add(ix->cur_hash, rec, rec_len);
	b->bytes += rec_len;
	if (ev->time == REC_TIME_RECORDED) {
		b->rectime = 1;
	} else {
		if (ev->time < b->tmin)
			b->tmin = ev->time;
		if (ev->time > b->tmax)
			b->tmax = ev->time;
	}
	if (stream_id != UINT64_MAX) {
		if ((rc = touch_key(st, stream_id)) || (rc = pend_add(st, stream_id, ev->pos)))
			return rc;
		W.ks[stream_id].count++;
		if (ev->version > W.ks[stream_id].version)
			W.ks[stream_id].version = ev->version;
	}
	if ((rc = touch_key(st, type_id)) || (rc = pend_add(st, type_id, ev->pos)))
		return rc;
	W.ks[type_id].count++;
	if (ix->pend_total >= PEND_FLUSH)
		return flush_postings(st);
	return EG_OK;
}

int eg_index_note_tags(eg_store *st, uint64_t pos, const char *tags, size_t n)
{
	const unsigned char *q = (const unsigned char *)tags, *end = q + n;
	while (q < end) {
		uint64_t len, id;
		int rc;
		if (varint_get(&q, end, &len) || len > (uint64_t)(end - q))
			return eg_st_err(st, EG_ECORRUPT, "bad tag list at position %llu",
					 (unsigned long long)pos);
		if ((rc = eg_index_key_get(st, 2, (const char *)q, len, &id)) ||
		    (rc = touch_key(st, id)) || (rc = pend_add(st, id, pos)))
			return rc;
		W.ks[id].count++;
		q += len;
	}
	if (st->ix.pend_total >= PEND_FLUSH)
		return flush_postings(st);
	return EG_OK;
}

static int write_blocks(eg_store *st, int64_t recorded)
{
	eg_index *ix = &st->ix;
	size_t n = ix->npblocks;
	unsigned char *buf = malloc(n * BLOCK_LEN + 1);
	if (!buf)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		block *b = &ix->pblocks[i];
		unsigned char *p = buf + i * BLOCK_LEN;
		memset(p, 0, BLOCK_LEN);
		b->recorded = recorded;
		if (b->rectime) {
			if (recorded < b->tmin)
				b->tmin = recorded;
			if (recorded > b->tmax)
				b->tmax = recorded;
		}
		wr64(p, b->first_pos);
		wr64(p + 8, b->seg_first_pos);
		wr64(p + 16, b->off);
		wr64(p + 24, (uint64_t)b->tmin);
		wr64(p + 32, (uint64_t)b->tmax);
		wr64(p + 40, (uint64_t)b->recorded);
		wr32(p + 48, b->count);
		if (b->bytes <= UINT32_MAX) {   /* else: no block check */
			wr32(p + 52, (uint32_t)b->bytes);
			wr32(p + 56, b->check);
		}
		wr32(p + 60, eg_rec_check(p, 60));
		if (b->tmin < ix->st.tmin)
			ix->st.tmin = b->tmin;
		if (b->tmax > ix->st.tmax)
			ix->st.tmax = b->tmax;
	}
	int rc = EG_OK;
	if (n && eg_os_pwrite_all(ix->fd_blocks, buf, n * BLOCK_LEN, (off_t)ix->st.blocks_len))
		rc = eg_st_errno(st, "cannot write idx/blocks");
	free(buf);
	ix->st.blocks_len += n * BLOCK_LEN;
	ix->npblocks = 0;
	return rc;
}

static int write_keys(eg_store *st)
{
	eg_index *ix = &st->ix;
	uint64_t old = ix->batch_start.keys_len;
	if (W.names_len > old &&
	    eg_os_pwrite_all(ix->fd_keys, W.names + old, W.names_len - old, (off_t)old))
		return eg_st_errno(st, "cannot write idx/keys");
	/* Key state: one write of the whole table when many keys changed,
	 * else one small write per key. */
	if ((uint64_t)ix->ntouched * 8 > W.n) {
		unsigned char *buf = malloc(W.n * KEYSTATE_LEN + 1);
		if (!buf)
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		for (uint64_t i = 0; i < W.n; i++) {
			keystate_put(buf + i * KEYSTATE_LEN, &W.ks[i]);
		}
		int rc = eg_os_pwrite_all(ix->fd_keystate, buf, W.n * KEYSTATE_LEN, 0);
		free(buf);
		if (rc)
			return eg_st_errno(st, "cannot write idx/keystate");
	} else {
		for (uint32_t t = 0; t < ix->ntouched; t++) {
			uint32_t id = ix->touched[t];
			unsigned char p[KEYSTATE_LEN];
			keystate_put(p, &W.ks[id]);
			if (eg_os_pwrite_all(ix->fd_keystate, p, KEYSTATE_LEN, (off_t)id * KEYSTATE_LEN))
				return eg_st_errno(st, "cannot write idx/keystate");
		}
	}
	ix->st.keys_len = W.names_len;
	ix->st.nkeys = W.n;
	return EG_OK;
}

static void untouch_all(eg_store *st)
{
	eg_index *ix = &st->ix;
	for (uint32_t t = 0; t < ix->ntouched; t++) {
		pend_key *pk = &ix->pend[ix->touched[t]];
		pk->cap &= 0x7fffffffu;
		pk->n = 0;
	}
	ix->ntouched = 0;
}

int eg_index_batch_commit(eg_store *st, const rec_commit *c, logpos head_at)
{
	int64_t recorded = c->recorded;
	eg_index *ix = &st->ix;
	int rc;
	uint64_t first = ix->npblocks ? ix->pblocks[0].first_pos
				      : (ix->cur_open ? ix->cur.first_pos : 0);
	if ((rc = push_block(st)) || (rc = flush_postings(st)) ||
	    (rc = write_blocks(st, recorded)) || (rc = write_keys(st)))
		goto fail;
	if (ix->st.through_pos == 0 && first)
		ix->st.rmin = recorded;
	ix->st.through_pos = c->first_pos + c->count - 1;
	ix->st.head_seg_first = st->log.segs[head_at.seg].first_pos;
	ix->st.head_off = head_at.off;
	memcpy(ix->st.chain, c->chain, 32);
	ix->st.recorded = recorded;
	if ((rc = state_write(st, 0, &ix->st, 0)))
		goto fail;
	untouch_all(st);
	ix->unsynced_bytes += c->batch_bytes + COMMIT_LEN;
	eg_col_note_commit(st);
	if (ix->unsynced_bytes >= CHECKPOINT_BYTES)
		return eg_index_checkpoint(st);
	return EG_OK;
fail:
	ix->usable = 0;
	return rc;
}

void eg_index_batch_abort(eg_store *st)
{
	eg_index *ix = &st->ix;
	for (uint32_t t = 0; t < ix->ntouched; t++) {
		uint32_t id = ix->touched[t];
		if (id < ix->batch_start.nkeys)
			W.ks[id] = W.saved[id];
	}
	untouch_all(st);
	W.n = ix->batch_start.nkeys;
	W.names_len = ix->batch_start.keys_len;
	ix->st.post_len = ix->batch_start.post_len;
	ix->npblocks = 0;
	ix->cur_open = 0;
	ix->pend_total = 0;
	/* Chunks written mid-batch are cut off; slots left in the hash tables
	 * fail confirmation (htab.c), so they need no undo. */
	eg_os.ftruncate(ix->fd_post, (off_t)ix->st.post_len);
}

/* After a failed sync the page cache cannot be trusted to hold what was
 * written (the kernel may have dropped it): the index stops here, the writer
 * refuses further batches, and the next open recovers from the last synced
 * state. */
static int checkpoint_failed(eg_store *st, const char *what)
{
	int rc = eg_st_errno(st, "%s", what);
	st->ix.usable = 0;
	return rc;
}

int eg_index_checkpoint(eg_store *st)
{
	eg_index *ix = &st->ix;
	if (!ix->writable)
		return EG_OK;
	/* The synced state must never claim more than the durable log holds
	 * (with --sync none the log itself may not be on disk yet). */
	eg_log *lg = &st->log;
	uint32_t from = eg_log_seg_index(lg, ix->ckpt_seg_first);
	for (uint32_t i = from == UINT32_MAX ? 0 : from; i < lg->nseg; i++)
		if (eg_os.fdatasync(lg->segs[i].fd))
			return checkpoint_failed(st, "cannot sync the log");
	if (lg->nseg)
		ix->ckpt_seg_first = lg->segs[lg->nseg - 1].first_pos;
	int fds[] = { ix->fd_blocks, ix->fd_post, ix->fd_keys, ix->fd_keystate,
		      ix->ids.fd, ix->keys.fd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0 && eg_os.fdatasync(fds[i]))
			return checkpoint_failed(st, "cannot sync derived files");
	int rc = state_write(st, 1, &ix->st, 0);
	if (rc) {
		ix->usable = 0;
		return rc;
	}
	if (eg_os.fdatasync(ix->fd_state))
		return checkpoint_failed(st, "cannot sync idx/state");
	ix->unsynced_bytes = 0;
	return EG_OK;
}

int eg_index_close_clean(eg_store *st)
{
	eg_index *ix = &st->ix;
	if (!ix->writable || !ix->usable)
		return EG_OK;
	int rc = eg_index_checkpoint(st);
	if (rc == EG_OK && (rc = state_write(st, 0, &ix->st, 1)) == EG_OK &&
	    eg_os.fdatasync(ix->fd_state))
		rc = checkpoint_failed(st, "cannot sync idx/state");
	ix->usable = 0;   /* closed: nothing more to write */
	return rc;
}

/* ------------------------------------------------------------- readers */

int eg_index_refresh(eg_store *st)
{
	eg_index *ix = &st->ix;
	if (ix->writable)
		return EG_OK;
	unsigned char b[STATE_SLOT];
	ixstate s;
	int clean;
	if (eg_os_pread_all(ix->fd_state, b, STATE_SLOT, 0) == 0 && state_decode(b, &s, &clean))
		ix->st = s;
	/* A key table that cannot be looked at again (or reopened after a
	 * writer replaced it) would answer "no such key" for keys the state
	 * covers: read the log itself from now on. */
	if (ix->keys.slots && eg_htab_refresh(&ix->keys))
		ix->usable = 0;
	return EG_OK;
}

uint64_t eg_index_nblocks(eg_store *st)
{
	return st->ix.st.blocks_len / BLOCK_LEN;
}

static void block_decode(const unsigned char *p, block *b)
{
	b->first_pos = rd64(p);
	b->seg_first_pos = rd64(p + 8);
	b->off = rd64(p + 16);
	b->tmin = (int64_t)rd64(p + 24);
	b->tmax = (int64_t)rd64(p + 32);
	b->recorded = (int64_t)rd64(p + 40);
	b->count = rd32(p + 48);
	b->bytes = rd32(p + 52);
	b->check = rd32(p + 56);
}

int eg_index_read_block(eg_store *st, uint64_t i, block *out)
{
	unsigned char p[BLOCK_LEN];
	if (eg_os_pread_all(st->ix.fd_blocks, p, BLOCK_LEN, (off_t)(i * BLOCK_LEN)))
		return eg_st_errno(st, "cannot read idx/blocks");
	if (rd32(p + 60) != eg_rec_check(p, 60))
		return eg_st_err(st, EG_ECORRUPT, "idx/blocks entry %llu is damaged; run engram reindex",
			      (unsigned long long)i);
	block_decode(p, out);
	return EG_OK;
}

int eg_index_read_blocks(eg_store *st, uint64_t first, uint64_t n, block *out)
{
	const uint64_t step = 4096;
	unsigned char *buf = malloc(step * BLOCK_LEN);
	if (!buf)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	int rc = EG_OK;
	for (uint64_t i = 0; i < n && !rc; i += step) {
		uint64_t k = n - i < step ? n - i : step;
		if (eg_os_pread_all(st->ix.fd_blocks, buf, k * BLOCK_LEN, (off_t)((first + i) * BLOCK_LEN))) {
			rc = eg_st_errno(st, "cannot read idx/blocks");
			break;
		}
		for (uint64_t j = 0; j < k; j++) {
			const unsigned char *p = buf + j * BLOCK_LEN;
			if (rd32(p + 60) != eg_rec_check(p, 60)) {
				rc = eg_st_err(st, EG_ECORRUPT, "idx/blocks entry %llu is damaged; run "
					    "engram reindex", (unsigned long long)(first + i + j));
				break;
			}
			block_decode(p, &out[i + j]);
		}
	}
	free(buf);
	return rc;
}

int eg_index_find_block(eg_store *st, uint64_t pos, block *out, uint64_t *bidx)
{
	eg_index *ix = &st->ix;
	/* The open batch's blocks, held in memory by the writer. */
	if (ix->writable) {
		if (ix->cur_open && pos >= ix->cur.first_pos &&
		    pos < ix->cur.first_pos + ix->cur.count) {
			*out = ix->cur;
			*bidx = UINT64_MAX;
			return EG_OK;
		}
		if (ix->npblocks && pos >= ix->pblocks[0].first_pos) {
			size_t lo = 0, hi = ix->npblocks;
			while (hi - lo > 1) {
				size_t mid = (lo + hi) / 2;
				if (ix->pblocks[mid].first_pos <= pos)
					lo = mid;
				else
					hi = mid;
			}
			block *b = &ix->pblocks[lo];
			if (pos < b->first_pos + b->count) {
				*out = *b;
				*bidx = UINT64_MAX;
				return EG_OK;
			}
			return EG_ENOTFOUND;
		}
	}
	uint64_t n = eg_index_nblocks(st);
	if (!n)
		return EG_ENOTFOUND;
	uint64_t lo = 0, hi = n;
	block b;
	int rc;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((rc = eg_index_read_block(st, mid, &b)))
			return rc;
		if (b.first_pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	if ((rc = eg_index_read_block(st, lo, &b)))
		return rc;
	if (pos < b.first_pos || pos >= b.first_pos + b.count)
		return EG_ENOTFOUND;
	*out = b;
	*bidx = lo;
	return EG_OK;
}

int eg_index_postings(eg_store *st, uint64_t key, uint64_t **out, size_t *n)
{
	keystate ks;
	*out = NULL;
	*n = 0;
	if (!eg_index_keystate(st, key, &ks))
		return EG_OK;
	/* Walk the chain backward, collecting chunk offsets, then decode in
	 * forward order so the result is ascending. */
	uint64_t *offs = NULL;
	size_t noffs = 0, capoffs = 0, total = 0;
	unsigned char hdr[CHUNK_HDR];
	for (uint64_t off = ks.last_chunk; off; ) {
		if (eg_os_pread_all(st->ix.fd_post, hdr, CHUNK_HDR, (off_t)off)) {
			free(offs);
			return eg_st_errno(st, "cannot read idx/post");
		}
		if (noffs == capoffs) {
			capoffs = capoffs ? capoffs * 2 : 64;
			uint64_t *o = realloc(offs, capoffs * sizeof *o);
			if (!o) {
				free(offs);
				return eg_st_err(st, EG_ENOMEM, "out of memory");
			}
			offs = o;
		}
		offs[noffs++] = off;
		total += rd32(hdr + 12);
		uint64_t prev = rd64(hdr + 16);
		if (prev >= off) {
			free(offs);
			return eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
		}
		off = prev;
	}
	uint64_t *pos = malloc((total + 1) * sizeof *pos);
	unsigned char *buf = NULL;
	size_t bufcap = 0, k = 0;
	int rc = pos ? EG_OK : eg_st_err(st, EG_ENOMEM, "out of memory");
	for (size_t i = noffs; i-- > 0 && rc == EG_OK; ) {
		if (eg_os_pread_all(st->ix.fd_post, hdr, CHUNK_HDR, (off_t)offs[i])) {
			rc = eg_st_errno(st, "cannot read idx/post");
			break;
		}
		uint32_t len = rd32(hdr), cnt = rd32(hdr + 12);
		if (len > bufcap) {
			unsigned char *nb = realloc(buf, len);
			if (!nb) {
				rc = eg_st_err(st, EG_ENOMEM, "out of memory");
				break;
			}
			buf = nb;
			bufcap = len;
		}
		if (len < CHUNK_HDR || eg_os_pread_all(st->ix.fd_post, buf, len, (off_t)offs[i]) ||
		    rd32(buf + 4) != eg_rec_check(buf + 8, len - 8) || k + cnt > total) {
			rc = eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
			break;
		}
		const unsigned char *p = buf + CHUNK_HDR, *end = buf + len;
		uint64_t v = rd64(buf + 24);
		pos[k++] = v;
		for (uint32_t j = 1; j < cnt; j++) {
			uint64_t d;
			if (varint_get(&p, end, &d)) {
				rc = eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
				break;
			}
			v += d;
			pos[k++] = v;
		}
	}
	free(offs);
	free(buf);
	if (rc) {
		free(pos);
		return rc;
	}
	*out = pos;
	*n = k;
	return EG_OK;
}

/* The positions > after of the chunks of key from the one at off back to
 * the first that starts at or before after (with one: of the chunk at off
 * alone), newest chunk first, into a malloc'd array. */
static int walk_after(eg_store *st, uint64_t off, uint64_t key, uint64_t after, int one,
		      uint64_t **out, size_t *n)
{
	uint64_t *pos = NULL;
	size_t k = 0, cap = 0;
	unsigned char *buf = NULL;
	size_t bufcap = 0;
	int rc = EG_OK;
	/* Chunks are chained newest first; each one's positions ascend and
	 * are all above the previous chunk's. */
	while (off && rc == EG_OK) {
		unsigned char hdr[CHUNK_HDR];
		if (eg_os_pread_all(st->ix.fd_post, hdr, CHUNK_HDR, (off_t)off)) {
			rc = eg_st_errno(st, "cannot read idx/post");
			break;
		}
		uint32_t len = rd32(hdr), cnt = rd32(hdr + 12);
		uint64_t prev = rd64(hdr + 16), first = rd64(hdr + 24);
		if (len < CHUNK_HDR || prev >= off || (uint32_t)rd32(hdr + 8) != key) {
			rc = eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
			break;
		}
		if (len > bufcap) {
			unsigned char *nb = realloc(buf, len);
			if (!nb) {
				rc = eg_st_err(st, EG_ENOMEM, "out of memory");
				break;
			}
			buf = nb;
			bufcap = len;
		}
		if (k + cnt > cap) {
			size_t nc = (k + cnt) * 2;
			uint64_t *np = realloc(pos, nc * sizeof *np);
			if (!np) {
				rc = eg_st_err(st, EG_ENOMEM, "out of memory");
				break;
			}
			pos = np;
			cap = nc;
		}
		if (eg_os_pread_all(st->ix.fd_post, buf, len, (off_t)off) ||
		    rd32(buf + 4) != eg_rec_check(buf + 8, len - 8)) {
			rc = eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
			break;
		}
		const unsigned char *p = buf + CHUNK_HDR, *end = buf + len;
		uint64_t v = first;
		for (uint32_t j = 0; j < cnt; j++) {
			uint64_t d = 0;
			if (j && varint_get(&p, end, &d)) {
				rc = eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
				break;
			}
			v += d;
			if (v > after)
				pos[k++] = v;
		}
		if (one || first <= after)
			break;
		off = prev;
	}
	free(buf);
	if (rc) {
		free(pos);
		return rc;
	}
	*out = pos;
	*n = k;
	return EG_OK;
}

static int chunk_after(eg_store *st, uint64_t off, uint64_t key, uint64_t after,
		       uint64_t **out, size_t *n)
{
	return walk_after(st, off, key, after, 1, out, n);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int eg_index_postings_after(eg_store *st, uint64_t key, uint64_t after, uint64_t **out,
			    size_t *n)
{
	keystate ks;
	*out = NULL;
	*n = 0;
	if (!eg_index_keystate(st, key, &ks))
		return EG_OK;
	int rc = walk_after(st, ks.last_chunk, key, after, 0, out, n);
	/* chunks came newest first */
	if (rc == EG_OK && *n > 1)
		qsort(*out, *n, sizeof **out, cmp_u64);
	return rc;
}

int eg_index_first_after(eg_store *st, uint64_t key, uint64_t after, uint64_t *pos)
{
	keystate ks;
	*pos = 0;
	if (!eg_index_keystate(st, key, &ks))
		return EG_OK;
	/* back through the chunk headers while a chunk starts after `after`:
	 * the oldest such start is the answer, unless the chunk before it
	 * (which starts at or before) has a position after too */
	uint64_t off = ks.last_chunk, straddle = 0;
	while (off) {
		unsigned char hdr[CHUNK_HDR];
		if (eg_os_pread_all(st->ix.fd_post, hdr, CHUNK_HDR, (off_t)off))
			return eg_st_errno(st, "cannot read idx/post");
		uint64_t prev = rd64(hdr + 16), first = rd64(hdr + 24);
		if (rd32(hdr) < CHUNK_HDR || prev >= off || rd32(hdr + 8) != (uint32_t)key)
			return eg_st_err(st, EG_ECORRUPT, "idx/post is damaged; run engram reindex");
		if (first <= after) {
			straddle = off;
			break;
		}
		*pos = first;
		off = prev;
	}
	if (!straddle)
		return EG_OK;
	uint64_t *p;
	size_t n;
	/* the straddling chunk alone: its positions after `after` */
	int rc = chunk_after(st, straddle, key, after, &p, &n);
	if (rc)
		return rc;
	if (n && (!*pos || p[0] < *pos))
		*pos = p[0];
	free(p);
	return EG_OK;
}

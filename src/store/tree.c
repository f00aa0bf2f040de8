/*
 * tree.c — the Merkle tree of the log (RFC 9162 section 2.1, docs/PROOFS.md)
 * and its derived file, idx/tree/rfc9162/ (docs/FORMAT.md):
 *
 *   nodes   every complete subtree's hash, 32 bytes each, in the order a
 *           leaf-by-leaf build finishes them (a leaf, then the parents it
 *           completes): append-only, about 64 bytes per event
 *   state   what nodes covers: its size (= the head position it was
 *           brought to), the chain value there and the root; checksummed
 *
 * The tree is derived state: a state that fails its checksum, whose chain
 * value is not the log's at its size, or whose nodes file is short is
 * rebuilt from the log.  Damage inside nodes is caught where it matters:
 * every proof is verified against the root before it is handed out, and
 * one that fails rebuilds the tree from the log and is made again.
 */
#include "internal.h"
#include "derived.h"
#include "merkle.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TREE_SUB "tree"
#define TREE_NAME "rfc9162"
#define STATE_MAGIC "EGTREE01"
#define STATE_LEN (8 + 8 + 8 + 32 + 32)   /* + the 8-byte checksum */
#define FLUSH_NODES 32768                  /* 1 MiB of nodes per write */

struct eg_tree {
	eg_store *st;
	eg_ds d;
	int on_disk;                 /* d is open: the nodes live in its file */
	eg_head head;                /* the head it covers */
	uint64_t size;               /* leaves: head.pos */
	unsigned char root[32];
	unsigned char *map;          /* the nodes: mapped, or malloc'd in memory */
	size_t map_len;
	int mapped;
	int rebuilt;                 /* rebuilt after a proof failed: do not loop */
	eg_mt *h;
};

/* Nodes written once the first m leaves are in: 2m - popcount(m). */
static uint64_t nodes_for(uint64_t m)
{
	return 2 * m - (uint64_t)__builtin_popcountll(m);
}

/* Where node (level, idx) is: its subtree ends at leaf (idx + 1) << level,
 * after which that leaf and level parents follow. */
static uint64_t node_slot(unsigned level, uint64_t idx)
{
	uint64_t last = ((idx + 1) << level) - 1;
	return nodes_for(last) + level;
}

static int get_node(void *ctx, unsigned level, uint64_t idx, unsigned char out[32])
{
	eg_tree *t = ctx;
	uint64_t s = node_slot(level, idx);
	if ((s + 1) * 32 > t->map_len)
		return eg_st_err(t->st, EG_ECORRUPT, "the Merkle tree lacks node %u/%llu",
				 level, (unsigned long long)idx);
	memcpy(out, t->map + s * 32, 32);
	return EG_OK;
}

/* ------------------------------------------------------------ building */

/* Nodes being appended: to the file at off (fd >= 0), or to mem. */
typedef struct sink {
	int fd;
	uint64_t off;
	unsigned char *buf;
	size_t n, cap;               /* nodes in buf */
	int werr;                    /* errno of a failed write of the file */
	unsigned char peaks[64][32]; /* the complete subtrees of the leaves so far */
	uint64_t size;
} sink;

static int sink_flush(eg_store *st, sink *s)
{
	if (s->fd < 0 || !s->n)
		return EG_OK;
	if (eg_os_pwrite_all(s->fd, s->buf, s->n * 32, (off_t)s->off)) {
		s->werr = errno ? errno : EIO;
		return eg_st_errno(st, "cannot write the Merkle tree file");
	}
	s->off += s->n * 32;
	s->n = 0;
	return EG_OK;
}

static int sink_put(eg_store *st, sink *s, const unsigned char h[32])
{
	if (s->n == s->cap) {
		if (s->fd >= 0 && s->cap) {
			int rc = sink_flush(st, s);
			if (rc)
				return rc;
		} else {
			size_t cap = s->cap ? s->cap * 2 : FLUSH_NODES;
			unsigned char *b = realloc(s->buf, cap * 32);
			if (!b)
				return eg_st_err(st, EG_ENOMEM, "out of memory");
			s->buf = b;
			s->cap = cap;
		}
	}
	memcpy(s->buf + s->n++ * 32, h, 32);
	return EG_OK;
}

/* Leaf s->size: the leaf node, then each parent it completes. */
static int add_leaf(eg_store *st, eg_mt *h, sink *s, const unsigned char leaf[32])
{
	unsigned char cur[32];
	memcpy(cur, leaf, 32);
	int rc = sink_put(st, s, cur);
	unsigned level = 0;
	while (!rc && (s->size >> level & 1)) {
		if (eg_mt_node(h, s->peaks[level], cur, cur))
			return eg_st_err(st, EG_ENOMEM, "SHA-256 failed");
		rc = sink_put(st, s, cur);
		level++;
	}
	memcpy(s->peaks[level], cur, 32);
	s->size++;
	return rc;
}

static void peaks_root(eg_mt *h, const sink *s, unsigned char out[32])
{
	if (!s->size) {
		eg_mt_empty(out);
		return;
	}
	int first = 1;
	for (unsigned l = 0; l < 64; l++) {
		if (!(s->size >> l & 1))
			continue;
		if (first)
			memcpy(out, s->peaks[l], 32);
		else
			eg_mt_node(h, s->peaks[l], out, out);
		first = 0;
	}
}

/* Hash the leaves of events s->size + 1 .. to into s. */
static int add_events(eg_tree *t, sink *s, uint64_t to)
{
	eg_store *st = t->st;
	if (s->size >= to)
		return EG_OK;
	eg_filter f = { 0 };
	f.from = s->size + 1;
	f.to = to;
	eg_iter *it;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	eg_iter_raw(it);   /* the leaves are the records as stored */
	eg_iter_lazy_ids(it);
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		const unsigned char *rec;
		size_t len;
		unsigned char leaf[32];
		eg_iter_record(it, &rec, &len);
		if (e->pos != s->size + 1) {
			rc = eg_st_err(st, EG_ECORRUPT, "the log skips from position %llu to %llu",
				       (unsigned long long)s->size, (unsigned long long)e->pos);
			break;
		}
		if (eg_mt_leaf(t->h, rec, len, leaf)) {
			rc = eg_st_err(st, EG_ENOMEM, "SHA-256 failed");
			break;
		}
		if ((rc = add_leaf(st, t->h, s, leaf)))
			break;
	}
	eg_iter_free(it);
	if (rc == EG_END && s->size != to)
		rc = eg_st_err(st, EG_ECORRUPT, "the log ends at position %llu before the head %llu",
			       (unsigned long long)s->size, (unsigned long long)to);
	return rc == EG_END ? EG_OK : rc;
}

/* The state file: magic, size, nodes, chain, root; checksummed. */
static int write_state(eg_tree *t)
{
	unsigned char b[STATE_LEN];
	uint64_t n = nodes_for(t->size);
	memcpy(b, STATE_MAGIC, 8);
	wr64(b + 8, t->size);
	wr64(b + 16, n);
	memcpy(b + 24, t->head.hash, 32);
	memcpy(b + 56, t->root, 32);
	if (eg_ds_write(&t->d, "state", b, sizeof b))
		eg_st_note_errno(t->st, "cannot save the Merkle tree's state in %s", t->d.dir);
	return EG_OK;
}

/* The size the saved tree covers, when it can be trusted (its peaks are
 * loaded into s), else 0. */
static uint64_t trusted_base(eg_tree *t, int fd, sink *s)
{
	eg_ds_view v;
	if (eg_ds_read(&t->d, "state", 0, STATE_LEN + 8, eg_ds_tail_sum_ok, NULL, &v))
		return 0;
	uint64_t size = 0;
	unsigned char chain[32], root[32];
	if (v.n == STATE_LEN + 8 && !memcmp(v.p, STATE_MAGIC, 8) &&
	    rd64(v.p + 16) == nodes_for(rd64(v.p + 8))) {
		size = rd64(v.p + 8);
		memcpy(chain, v.p + 24, 32);
		memcpy(root, v.p + 56, 32);
	}
	eg_ds_view_free(&v);
	if (!size || size > t->head.pos)
		return 0;
	/* the log it was built from is this log up to size */
	unsigned char at[32];
	if (eg_store_chain_at(t->st, size, at) || memcmp(at, chain, 32))
		return 0;
	off_t len = eg_os_file_size(fd);
	if (len < 0 || (uint64_t)len < nodes_for(size) * 32)
		return 0;
	/* its peaks, which must fold to its root */
	s->size = size;
	for (unsigned l = 0; l < 64; l++)
		if (size >> l & 1) {
			uint64_t slot = node_slot(l, (size >> l) - 1);
			if (eg_os_pread_all(fd, s->peaks[l], 32, (off_t)(slot * 32)))
				return 0;
		}
	unsigned char r[32];
	peaks_root(t->h, s, r);
	if (memcmp(r, root, 32)) {
		s->size = 0;
		return 0;
	}
	return size;
}

static void unmap(eg_tree *t)
{
	if (t->map && t->mapped)
		eg_os.munmap(t->map, t->map_len);
	else
		free(t->map);
	t->map = NULL;
	t->map_len = 0;
	t->mapped = 0;
}

/* In memory only (the directory could not be opened or written): every
 * node built anew into a buffer. */
static int build_in_memory(eg_tree *t)
{
	sink s = { .fd = -1 };
	int rc = add_events(t, &s, t->head.pos);
	if (rc) {
		free(s.buf);
		return rc;
	}
	peaks_root(t->h, &s, t->root);
	unmap(t);
	t->map = s.buf;
	t->map_len = s.n * 32;
	return EG_OK;
}

/* Bring the file to the head under the directory's lock: catch up from a
 * trusted base in place, or (force, or nothing to trust) write it anew
 * beside and rename it over; then map it. */
static int bring_up(eg_tree *t, int force)
{
	eg_store *st = t->st;
	char path[PATH_MAX], tmp[PATH_MAX];
	if (eg_ds_lock(st, &t->d))
		return build_in_memory(t);
	eg_ds_path(&t->d, "nodes", path);
	sink s = { .fd = -1 };
	uint64_t base = 0;
	int fd = force ? -1 : eg_os.open(path, O_RDWR, 0);
	if (fd >= 0)
		base = trusted_base(t, fd, &s);
	const char *target = path;
	if (!base) {
		if (fd >= 0)
			eg_os.close(fd);
		memset(&s, 0, sizeof s);
		eg_ds_path(&t->d, "nodes.tmp", tmp);
		target = tmp;
		fd = eg_os.open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	} else if (eg_os.ftruncate(fd, (off_t)(nodes_for(base) * 32))) {
		/* a catch-up that crashed before its state left nodes after */
		eg_os.close(fd);
		fd = -1;
	}
	if (fd < 0) {
		eg_st_note_errno(st, "cannot write the Merkle tree in %s (built in memory)",
				 t->d.dir);
		eg_ds_unlock(&t->d);
		return build_in_memory(t);
	}
	s.fd = fd;
	s.off = nodes_for(base) * 32;
	int rc = add_events(t, &s, t->head.pos);
	if (!rc)
		rc = sink_flush(st, &s);
	free(s.buf);
	int file_err = s.werr;
	if (!rc && base != t->head.pos && eg_os.fdatasync(fd))
		file_err = errno ? errno : EIO;
	if (!rc && !file_err && target == tmp &&
	    (eg_os.rename(tmp, path) || eg_os_fsync_dir(t->d.dir)))
		file_err = errno ? errno : EIO;
	if (rc || file_err) {
		eg_os.close(fd);
		if (target == tmp)
			eg_os.unlink(tmp);
		eg_ds_unlock(&t->d);
		if (!file_err)
			return rc;       /* reading the log failed */
		/* the file could not be written: answer from memory, say so */
		errno = file_err;
		eg_st_note_errno(st, "cannot write the Merkle tree in %s (built in memory)",
				 t->d.dir);
		return build_in_memory(t);
	}
	peaks_root(t->h, &s, t->root);
	if (base != t->head.pos || target == tmp)
		write_state(t);
	eg_ds_unlock(&t->d);
	unmap(t);
	t->map_len = nodes_for(t->size) * 32;
	if (t->map_len) {
		void *m = eg_os.mmap(NULL, t->map_len, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			eg_os.close(fd);
			t->map_len = 0;
			return build_in_memory(t);
		}
		t->map = m;
		t->mapped = 1;
	}
	eg_os.close(fd);
	return EG_OK;
}

int eg_tree_open(eg_store *st, eg_tree **out)
{
	*out = NULL;
	eg_tree *t = calloc(1, sizeof *t);
	if (!t)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	t->st = st;
	t->d.lockfd = -1;
	int rc = eg_store_head(st, &t->head);
	if (!rc && !(t->h = eg_mt_new()))
		rc = eg_st_err(st, EG_ENOMEM, "cannot start SHA-256 (out of memory)");
	if (rc) {
		eg_tree_close(t);
		return rc;
	}
	t->size = t->head.pos;
	if (!t->size) {
		/* an empty log: no file to keep */
		eg_mt_empty(t->root);
	} else if (eg_ds_open(st, TREE_SUB, TREE_NAME, 0, NULL, 0, &t->d) == 0) {
		t->on_disk = 1;
		rc = bring_up(t, 0);
	} else {
		rc = build_in_memory(t);
	}
	if (!rc) {
		/* the mapped nodes must fold to the root the build found */
		unsigned char r[32];
		rc = eg_mt_root(t->h, get_node, t, t->size, r);
		if (!rc && memcmp(r, t->root, 32))
			rc = t->on_disk ? bring_up(t, 1) : EG_ECORRUPT;
	}
	if (rc) {
		eg_tree_close(t);
		return rc;
	}
	*out = t;
	return EG_OK;
}

void eg_tree_close(eg_tree *t)
{
	if (!t)
		return;
	unmap(t);
	eg_ds_close(&t->d);
	eg_mt_free(t->h);
	free(t);
}

void eg_tree_head(const eg_tree *t, eg_head *out)
{
	*out = t->head;
}

uint64_t eg_tree_size(const eg_tree *t)
{
	return t->size;
}

/* After a proof failed its check: the file is damaged.  Build it anew from
 * the log (once per handle), or report the damage. */
static int rebuild(eg_tree *t, const char *what)
{
	if (t->rebuilt || !t->on_disk)
		return eg_st_err(t->st, EG_ECORRUPT, "the Merkle tree does not check (%s) "
				 "after a rebuild from the log", what);
	t->rebuilt = 1;
	unsigned char old[32];
	memcpy(old, t->root, 32);
	int rc = bring_up(t, 1);
	if (!rc && memcmp(old, t->root, 32))
		rc = eg_st_err(t->st, EG_ECORRUPT, "the Merkle tree's root changed on a rebuild");
	return rc;
}

/* The root of the first size leaves, checked: for size below the tree's,
 * a consistency proof to the tree's root vouches for it. */
static int checked_root(eg_tree *t, uint64_t size, unsigned char out[32])
{
	if (size == t->size) {
		memcpy(out, t->root, 32);
		return EG_OK;
	}
	for (;;) {
		unsigned char path[EG_MT_MAX_PATH][32];
		size_t n;
		int rc = eg_mt_root(t->h, get_node, t, size, out);
		if (!rc)
			rc = eg_mt_consistency(t->h, get_node, t, size, t->size, path, &n);
		if (rc)
			return rc;
		const char *why = eg_mt_verify_consistency(t->h, size, t->size, out, t->root, path, n);
		if (!why)
			return EG_OK;
		if ((rc = rebuild(t, why)))
			return rc;
	}
}

int eg_tree_root(eg_tree *t, uint64_t size, unsigned char out[32])
{
	if (size > t->size)
		return eg_st_err(t->st, EG_EINVAL, "tree size %llu is beyond the head %llu",
				 (unsigned long long)size, (unsigned long long)t->size);
	return checked_root(t, size, out);
}

int eg_proof_inclusion(eg_tree *t, uint64_t index, uint64_t size, unsigned char leaf[32],
		       unsigned char path[][32], size_t *n)
{
	if (size > t->size || index >= size)
		return eg_st_err(t->st, EG_EINVAL, "leaf %llu is not in a tree of size %llu "
				 "(the head is %llu)", (unsigned long long)index,
				 (unsigned long long)size, (unsigned long long)t->size);
	for (;;) {
		unsigned char root[32];
		int rc = checked_root(t, size, root);
		if (!rc)
			rc = get_node(t, 0, index, leaf);
		if (!rc)
			rc = eg_mt_inclusion(t->h, get_node, t, index, size, path, n);
		if (rc)
			return rc;
		const char *why = eg_mt_verify_inclusion(t->h, index, size, leaf, path, *n, root);
		if (!why)
			return EG_OK;
		if ((rc = rebuild(t, why)))
			return rc;
	}
}

int eg_proof_consistency(eg_tree *t, uint64_t m, uint64_t n, unsigned char old_root[32],
			 unsigned char new_root[32], unsigned char path[][32], size_t *np)
{
	if (m > n || n > t->size)
		return eg_st_err(t->st, EG_EINVAL, "sizes %llu and %llu: need old <= new <= the "
				 "head %llu", (unsigned long long)m, (unsigned long long)n,
				 (unsigned long long)t->size);
	for (;;) {
		/* against the tree's own root, the proof vouches for the old
		 * root it is checked with: no separate check of that */
		int rc = checked_root(t, n, new_root);
		if (!rc)
			rc = n == t->size ? eg_mt_root(t->h, get_node, t, m, old_root)
					  : checked_root(t, m, old_root);
		if (!rc)
			rc = eg_mt_consistency(t->h, get_node, t, m, n, path, np);
		if (rc)
			return rc;
		const char *why = eg_mt_verify_consistency(t->h, m, n, old_root, new_root, path, *np);
		if (!why)
			return EG_OK;
		if ((rc = rebuild(t, why)))
			return rc;
	}
}

/* Through the iterator: for a position the index does not cover yet.
 * The record's bytes into *buf, its batch's recorded time into *recorded. */
static int leaf_scan(eg_store *st, uint64_t pos, unsigned char **buf, size_t *len,
		     int64_t *recorded)
{
	eg_filter f = { 0 };
	f.from = f.to = pos;
	eg_iter *it;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	eg_iter_raw(it);
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK) {
		const unsigned char *rec;
		eg_iter_record(it, &rec, len);
		*recorded = e->recorded;
		if (!(*buf = malloc(*len ? *len : 1)))
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		else
			memcpy(*buf, rec, *len);
	} else if (rc == EG_END) {
		rc = eg_st_err(st, EG_ENOTFOUND, "no event at position %llu",
			       (unsigned long long)pos);
	}
	eg_iter_free(it);
	return rc;
}

int eg_tree_leaf(eg_store *st, uint64_t pos, eg_leaf *out)
{
	size_t cap = 0;
	int64_t recorded = 0;
	block b;
	uint64_t bi;
	memset(out, 0, sizeof *out);
	/* one read through the block index (a sealed segment: one block) */
	int rc = eg_store_read_event(st, pos, &out->data, &cap, &out->len);
	if (rc == EG_OK && (rc = eg_index_find_block(st, pos, &b, &bi)) == EG_OK)
		recorded = b.recorded;
	if (rc == EG_ENOTFOUND) {
		free(out->data);
		out->data = NULL;
		rc = leaf_scan(st, pos, &out->data, &out->len, &recorded);
	}
	rec_event re;
	if (rc == EG_OK &&
	    (eg_rec_event_decode(out->data, out->len, &re) != out->len || re.ev.pos != pos))
		rc = eg_st_err(st, EG_ECORRUPT, "the record of position %llu fails its check; "
			       "run engram verify", (unsigned long long)pos);
	if (rc) {
		eg_leaf_free(out);
		return rc;
	}
	out->ev = re.ev;
	if (re.ev.id == re.idbuf) {   /* a UUID, formatted into the decoder's buffer */
		memcpy(out->idbuf, re.idbuf, sizeof out->idbuf);
		out->ev.id = out->idbuf;
	}
	out->ev.recorded = recorded;
	if (out->ev.time == REC_TIME_RECORDED)
		out->ev.time = recorded;
	return EG_OK;
}

void eg_leaf_free(eg_leaf *l)
{
	free(l->data);
	memset(l, 0, sizeof *l);
}

/* The tree is rebuilt on next use (engram head, engram proof). */
__attribute__((constructor)) static void tree_register(void)
{
	eg_ds_register(TREE_SUB, "tree", NULL, NULL);
	eg_ds_as_stored(TREE_SUB, "tree");   /* leaves hash the records as stored */
}

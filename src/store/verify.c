/*
 * verify.c — proving the log: every record's checksum, dense positions,
 * every batch's commit, and the whole SHA-256 chain from the first batch to
 * the head; plus the inspection calls (stats, streams, types).
 */
#include "chain.h"
#include "internal.h"
#include "os.h"
#include "seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int bad(eg_store *st, eg_verify_result *res, const eg_log *lg, logpos at,
	       uint64_t pos, const char *what)
{
	res->bad_pos = pos;
	snprintf(res->bad_segment, sizeof res->bad_segment, "%020llu.seg",
		 (unsigned long long)(at.seg < lg->nseg ? lg->segs[at.seg].first_pos : 0));
	res->bad_offset = at.off;
	return eg_st_err(st, EG_ECORRUPT, "%s at position %llu, segment %s, byte offset %llu",
		      what, (unsigned long long)pos, res->bad_segment,
		      (unsigned long long)at.off);
}

/* A sealed segment: its header, footer and table (when it opened), then
 * every block's check over its compressed bytes, its decompression, and
 * the records inside it later as for any segment.  A failure is located by
 * block number and file offset (a logical offset means nothing on disk). */
static int sealed_check(eg_store *st, eg_verify_result *res, eg_log *lg, uint32_t i,
			uint64_t next, eg_sealed **held)
{
	seg *s = &lg->segs[i];
	char why[256];
	uint64_t foff = 0, pos = next;
	int rc = EG_ECORRUPT;
	if (!s->sz) {
		snprintf(why, sizeof why, "%s", s->sz_err ? s->sz_err : "does not open");
	} else {
		const seal_info *h = eg_sealed_info(s->sz);
		const seal_blk *b = eg_sealed_blocks(s->sz);
		rc = EG_OK;
		for (uint32_t k = 0; k < h->nblocks && rc == EG_OK; k++) {
			rc = eg_sealed_hold(s->sz, k, why, sizeof why);
			foff = b[k].file_off;
			pos = b[k].first_pos;
		}
		if (rc == EG_OK && h->nblocks)
			*held = s->sz;   /* the walk's memory goes back after it */
	}
	if (rc == EG_ENOMEM)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (rc == EG_OK)
		return EG_OK;
	res->bad_pos = pos;
	snprintf(res->bad_segment, sizeof res->bad_segment, "%020llu.seg",
		 (unsigned long long)s->first_pos);
	res->bad_offset = foff;
	return eg_st_err(st, EG_ECORRUPT, "sealed segment %s: %s (at or after position %llu)",
			 res->bad_segment, why, (unsigned long long)pos);
}

/* Is there an intact commit record anywhere after `from`?  Then the damage
 * at `from` is inside committed data, not a torn tail. */
static int commit_follows(eg_store *st, eg_log *lg, logpos from)
{
	for (uint32_t i = from.seg; i < lg->nseg; i++) {
		if (eg_log_map_all(st, lg, i) < 0)
			continue;
		const unsigned char *m = lg->segs[i].map;
		size_t n = lg->segs[i].map_len;
		for (size_t o = i == from.seg ? from.off + 1 : 0; o + COMMIT_LEN <= n; o++) {
			rec_commit c;
			if (m[o + 8] == REC_COMMIT && rd32(m + o) == COMMIT_LEN &&
			    eg_rec_commit_decode(m + o, n - o, &c))
				return 1;
		}
	}
	return 0;
}

int eg_store_verify(eg_store *st, eg_verify_result *res)
{
	eg_log *lg = &st->log;
	memset(res, 0, sizeof *res);
	eg_head h;
	int rc = eg_store_head(st, &h);
	if (rc)
		return rc;
	/* What must be there: the head this process knows, and what the
	 * derived files say was committed (they are written after commits). */
	uint64_t must = h.pos > st->ix.st.through_pos ? h.pos : st->ix.st.through_pos;
	chain_ctx *cx = eg_chain_new();
	if (!cx)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	unsigned char chain[32] = { 0 };
	uint64_t next = 1, batch_first = 1, nev = 0, bytes = 0, verified = 0;
	logpos at = { 0, 0 };
	int in_batch = 0;
	eg_sealed *held = NULL;
	rc = EG_OK;
	for (at.seg = 0; at.seg < lg->nseg && rc == EG_OK; at.seg++) {
		seg_hdr sh;
		at.off = 0;
		if (held)
			eg_sealed_unhold(held);
		held = NULL;
		if (lg->segs[at.seg].sealed && (rc = sealed_check(st, res, lg, at.seg, next, &held)))
			break;
		if (eg_log_map_seg(st, lg, at.seg, SEG_HDR_LEN) ||
		    !eg_seg_hdr_decode(lg->segs[at.seg].map, lg->segs[at.seg].map_len, &sh) ||
		    sh.first_pos != lg->segs[at.seg].first_pos) {
			if (verified >= must && !commit_follows(st, lg, at))
				break;
			rc = bad(st, res, lg, at, next, "segment header fails its check");
			break;
		}
		if (sh.first_pos != next || memcmp(sh.prev_chain, chain, 32)) {
			rc = bad(st, res, lg, at, next, "segment does not continue the log");
			break;
		}
		at.off = SEG_HDR_LEN;
		eg_log_map_seg(st, lg, at.seg, 0);
		const unsigned char *m = lg->segs[at.seg].map;
		size_t size = lg->segs[at.seg].map_len;
		while (at.off < size) {
			int type = 0;
			size_t len = rec_peek(m + at.off, size - at.off, &type);
			rec_event ev;
			rec_commit c;
			const char *why = NULL;
			if (!len)
				why = "record length is out of bounds";
			else if (type == REC_EVENT) {
				if (!eg_rec_event_decode(m + at.off, len, &ev))
					why = "event record fails its checksum";
				else if (ev.ev.pos != next)
					why = "position out of sequence";
			} else if (type == REC_COMMIT) {
				if (!eg_rec_commit_decode(m + at.off, len, &c))
					why = "commit record fails its checksum";
				else if (c.first_pos != batch_first || c.count != nev ||
					 c.batch_bytes != bytes)
					why = "commit record does not match its batch";
			} else {
				why = "unknown record type";
			}
			if (why) {
				/* Past everything committed, damage is just a torn
				 * or in-flight tail. */
				if (verified >= must && !commit_follows(st, lg, at))
					goto done;
				/* a damaged commit is named by the batch it closes */
				rc = bad(st, res, lg, at, type == REC_COMMIT ? batch_first : next, why);
				goto done;
			}
			/* SHA-256 itself failing (no memory) is not damage */
			if (!in_batch) {
				if (eg_chain_begin(cx, chain)) {
					rc = eg_st_err(st, EG_ENOMEM, "SHA-256 failed (out of memory)");
					goto done;
				}
				in_batch = 1;
			}
			if (type == REC_EVENT) {
				if (eg_chain_update(cx, m + at.off, len)) {
					rc = eg_st_err(st, EG_ENOMEM, "SHA-256 failed (out of memory)");
					goto done;
				}
				next++;
				nev++;
				bytes += len;
			} else {
				unsigned char out[32];
				if (eg_chain_final(cx, m + at.off + 10, 32, out)) {
					rc = eg_st_err(st, EG_ENOMEM, "SHA-256 failed (out of memory)");
					goto done;
				}
				if (memcmp(out, c.chain, 32)) {
					rc = bad(st, res, lg, at, batch_first,
						 "hash chain mismatch (the batch's bytes were altered)");
					goto done;
				}
				memcpy(chain, out, 32);
				verified = next - 1;
				batch_first = next;
				nev = bytes = 0;
				in_batch = 0;
			}
			at.off += len;
		}
	}
done:
	if (held)
		eg_sealed_unhold(held);
	eg_chain_free(cx);
	if (rc == EG_OK && verified < must) {
		logpos end = { lg->nseg ? lg->nseg - 1 : 0, 0 };
		rc = bad(st, res, lg, end, verified + 1,
			 "the log ends before the last committed batch");
	}
	if (rc == EG_OK) {
		res->events = verified;
		res->head_pos = verified;
		memcpy(res->hash, chain, 32);
	}
	return rc;
}

/* ---------------------------------------------------------- inspection */

typedef struct keyrow keyrow;
static int load_keys(eg_store *st, int space, keyrow **rows, size_t *nrows, char **names);

/* The derived files by what they serve: idx/'s own files are the indexes,
 * its subdirectories the checkpoints of projections, windows and sessions
 * and the feature tables; consumers/ the consumers' positions; datasets/
 * the kept datasets. */
static int derived_bytes(eg_store *st, eg_stats *out)
{
	const struct {
		const char *sub;
		int recurse;
		uint64_t *bytes;
	} parts[] = {
		{ "idx", 0, &out->index_bytes },
		{ "idx/proj", 1, &out->projection_bytes },
		{ "idx/win", 1, &out->window_bytes },
		{ "idx/sess", 1, &out->session_bytes },
		{ "idx/feat", 1, &out->feature_bytes },
		{ "idx/col", 1, &out->column_bytes },
		{ "idx/metrics", 1, &out->metric_bytes },
		{ "idx/errors", 1, &out->error_bytes },
		{ "idx/tree", 1, &out->tree_bytes },
		{ "consumers", 1, &out->consumer_bytes },
		{ "datasets", 1, &out->dataset_bytes },
	};
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", st->dir, parts[i].sub);
		uint64_t *b = parts[i].bytes;
		if (eg_os_dir_bytes(path, parts[i].recurse, b))
			return eg_st_errno(st, "cannot read %s", path);
		out->derived_bytes += *b;
	}
	/* the error grouping a store uses (not derived: reindex keeps it) */
	char path[PATH_MAX];
	struct stat sb;
	snprintf(path, sizeof path, "%s/errors.grouping", st->dir);
	if (eg_os.stat(path, &sb) == 0) {
		out->error_bytes += (uint64_t)sb.st_size;
		out->derived_bytes += (uint64_t)sb.st_size;
	} else if (errno != ENOENT) {
		return eg_st_errno(st, "cannot read %s", path);
	}
	out->total_bytes = out->log_bytes + out->derived_bytes;
	return EG_OK;
}

/* The head (refreshed for a reader) into *h, and the derived files
 * usable: EG_OK, else the error, with its message. */
static int indexed_head(eg_store *st, eg_head *h)
{
	int rc = eg_store_head(st, h);
	if (rc)
		return rc;
	if (!st->ix.usable)
		return eg_st_err(st, EG_ENOTFOUND, "the derived files are missing or damaged; "
			      "open the store for writing (engram reindex) to rebuild them");
	return EG_OK;
}

int eg_store_stats(eg_store *st, eg_stats *out)
{
	eg_head h;
	int rc = indexed_head(st, &h);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	out->events = h.pos;
	out->segments = st->log.nseg;
	eg_log_bytes(&st->log, &out->log_bytes, &out->uncommitted_bytes);
	if ((rc = derived_bytes(st, out)))
		return rc;
	const ixstate *x = &st->ix.st;
	if (h.pos) {
		out->time_min = x->tmin;
		out->time_max = x->tmax;
		out->recorded_min = x->rmin;
		out->recorded_max = st->log.head_recorded;
	}
	for (int space = 0; space < 2; space++) {
		keyrow *rows;
		size_t n;
		char *names;
		rc = load_keys(st, space, &rows, &n, &names);
		free(rows);
		free(names);
		if (rc)
			return rc;
		*(space ? &out->types : &out->streams) = n;
	}
	return EG_OK;
}

struct keyrow {
	char *name;
	size_t len;
	uint64_t count, version;
};

static int cmp_keyrow(const void *a, const void *b)
{
	const keyrow *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Read every key of one space (names and state) into rows, unsorted. */
static int load_keys(eg_store *st, int space, keyrow **rows, size_t *nrows, char **names)
{
	const ixstate *x = &st->ix.st;
	*rows = NULL;
	*nrows = 0;
	*names = malloc(x->keys_len + 1);
	unsigned char *ks = malloc(x->nkeys * KEYSTATE_LEN + 1);
	keyrow *r = malloc((x->nkeys + 1) * sizeof *r);
	int rc = EG_OK;
	if (!*names || !ks || !r) {
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		goto out;
	}
	if (eg_os_pread_all(st->ix.fd_keys, *names, x->keys_len, 0) ||
	    (x->nkeys && eg_os_pread_all(st->ix.fd_keystate, ks, x->nkeys * KEYSTATE_LEN, 0))) {
		rc = eg_st_errno(st, "cannot read idx/keys");
		goto out;
	}
	for (uint64_t i = 0; i < x->nkeys; i++) {
		const unsigned char *p = ks + i * KEYSTATE_LEN;
		uint64_t off = rd64(p + 24);
		if (off + 5 > x->keys_len) {
			rc = eg_st_err(st, EG_ECORRUPT, "idx/keys is damaged; run engram reindex");
			goto out;
		}
		const char *e = *names + off;
		uint32_t len = rd32(e + 1);
		if (off + 5 + len > x->keys_len) {
			rc = eg_st_err(st, EG_ECORRUPT, "idx/keys is damaged; run engram reindex");
			goto out;
		}
		if ((unsigned char)e[0] != space)
			continue;
		r[(*nrows)++] = (keyrow){ (char *)e + 5, len, rd64(p + 8), rd64(p + 16) };
	}
	*rows = r;
	r = NULL;
out:
	free(ks);
	free(r);
	return rc;
}

int eg_store_key(eg_store *st, int keyspace, const char *name, size_t len, uint64_t *count)
{
	eg_head h;
	int rc = indexed_head(st, &h);
	if (rc)
		return rc;
	uint64_t k = eg_index_key_find(st, keyspace, name, len);   /* id + 1 */
	keystate buf, *ks = k ? eg_index_keystate(st, k - 1, &buf) : NULL;
	if (!ks)
		return EG_ENOTFOUND;
	*count = ks->count;
	return EG_OK;
}

int eg_store_keys(eg_store *st, int keyspace, eg_key_fn fn, void *ctx)
{
	eg_head h;
	int rc = indexed_head(st, &h);
	if (rc)
		return rc;
	keyrow *rows;
	size_t n;
	char *names;
	if ((rc = load_keys(st, keyspace, &rows, &n, &names))) {
		free(names);
		return rc;
	}
	qsort(rows, n, sizeof *rows, cmp_keyrow);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, rows[i].name, rows[i].len, rows[i].count, rows[i].version);
	free(rows);
	free(names);
	return rc;
}

/* The segment holding position pos: the last whose first position is at
 * or before it. */
static uint32_t seg_of(const eg_log *lg, uint64_t pos)
{
	uint32_t lo = 0, hi = lg->nseg;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (lg->segs[mid].first_pos <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : UINT32_MAX;
}

int eg_store_chain_at(eg_store *st, uint64_t pos, unsigned char hash[32])
{
	eg_log *lg = &st->log;
	if (!st->writable) {
		int rc = eg_log_refresh(st, lg);
		if (rc)
			return rc;
	}
	memset(hash, 0, 32);
	if (!pos)
		return EG_OK;
	if (pos > lg->head_pos)
		return eg_st_err(st, EG_ENOTFOUND, "position %llu is beyond the head (%llu)",
				 (unsigned long long)pos, (unsigned long long)lg->head_pos);
	if (pos == lg->head_pos) {
		memcpy(hash, lg->head_chain, 32);
		return EG_OK;
	}
	/* the commit record after the event records of pos's batch, in its
	 * segment (a batch never spans two) */
	uint32_t i = seg_of(lg, pos);
	int rc = i == UINT32_MAX ? EG_ECORRUPT : eg_log_map_all(st, lg, i);
	if (rc)
		return rc == EG_END || rc == EG_ECORRUPT ?
			eg_st_err(st, EG_ECORRUPT, "no segment holds position %llu",
				  (unsigned long long)pos) : rc;
	const unsigned char *m = lg->segs[i].map;
	size_t n = lg->segs[i].map_len;
	for (size_t o = SEG_HDR_LEN; o < n;) {
		int type;
		size_t len = rec_peek(m + o, n - o, &type);
		if (!len)
			break;
		rec_commit c;
		if (type == REC_COMMIT && eg_rec_commit_decode(m + o, n - o, &c) &&
		    c.first_pos + c.count - 1 >= pos) {
			if (c.first_pos + c.count - 1 > pos)
				return eg_st_err(st, EG_ENOTFOUND, "position %llu is inside a batch "
						 "(which ends at %llu), not at its end",
						 (unsigned long long)pos,
						 (unsigned long long)(c.first_pos + c.count - 1));
			memcpy(hash, c.chain, 32);
			return EG_OK;
		}
		o += len;
	}
	return eg_st_err(st, EG_ECORRUPT, "no commit record for position %llu",
			 (unsigned long long)pos);
}

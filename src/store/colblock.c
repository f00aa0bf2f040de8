/*
 * colblock.c — parsing the column files (colint.h, docs/FORMAT.md): a
 * block's header and directory, its frames, a path column's arrays, and
 * the dictionary file's records.  Every length is checked against the
 * bytes there are before it is followed, and every part against its XXH3
 * check, so that a damaged file is refused (the fuzz target
 * fuzz/fuzz_colblock.c runs these on arbitrary bytes).
 */
#include "colint.h"
#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

static uint32_t check32(const void *p, size_t n)
{
	return (uint32_t)XXH3_64bits(p, n);
}

uint32_t eg_col_hdr_len(const unsigned char *p, size_t n)
{
	if (n < 12 || memcmp(p, COL_MAGIC, 8))
		return 0;
	return rd32(p + 8);
}

int eg_col_hdr_parse(const unsigned char *p, size_t n, colhdr *h)
{
	memset(h, 0, sizeof *h);
	uint32_t hlen = eg_col_hdr_len(p, n);
	if (hlen < COL_HDR_FIXED + 4 || hlen > n || rd32(p + hlen - 4) != check32(p, hlen - 4))
		return -1;
	h->hlen = hlen;
	h->flags = rd32(p + 12);
	h->first_pos = rd64(p + 16);
	h->count = rd32(p + 24);
	h->ncols = rd32(p + 28);
	h->tmin = (int64_t)rd64(p + 32);
	h->tmax = (int64_t)rd64(p + 40);
	h->rmin = (int64_t)rd64(p + 48);
	h->rmax = (int64_t)rd64(p + 56);
	h->dict_len = rd64(p + 64);
	h->ntypes = rd32(p + 72);
	h->ident = rd64(p + 80);
	if (h->count == 0 || h->count > eg_colscan_block_events || h->first_pos == 0 ||
	    h->ncols > COL_MAX_PATHS + 5 || h->ntypes > h->count ||
	    (uint64_t)COL_HDR_FIXED + 4ull * h->ntypes + (uint64_t)COL_DIRENT * h->ncols + 4 != hlen)
		return -1;
	h->types = p + COL_HDR_FIXED;
	h->dir = calloc(h->ncols + 1, sizeof *h->dir);
	if (!h->dir)
		return -1;
	const unsigned char *d = p + COL_HDR_FIXED + 4ull * h->ntypes;
	for (uint32_t i = 0; i < h->ncols; i++, d += COL_DIRENT) {
		coldirent *e = &h->dir[i];
		e->what = d[0];
		e->has_int = d[1];
		e->path = rd32(d + 4);
		e->off = rd64(d + 8);
		e->clen = rd32(d + 16);
		e->rlen = rd32(d + 20);
		e->imin = (int64_t)rd64(d + 24);
		e->imax = (int64_t)rd64(d + 32);
		e->check = rd32(d + 40);
		if (e->what < COL_TIME || e->what > COL_PATH || e->off < hlen ||
		    e->off > UINT64_MAX - e->clen) {
			free(h->dir);
			h->dir = NULL;
			return -1;
		}
	}
	return 0;
}

int eg_col_frame(const unsigned char *frame, size_t clen, uint32_t check, void *out, size_t rlen)
{
	if (check32(frame, clen) != check)
		return -1;
	unsigned long long sz = ZSTD_getFrameContentSize(frame, clen);
	if (sz != rlen)
		return -1;
	size_t got = ZSTD_decompress(out, rlen, frame, clen);
	return ZSTD_isError(got) || got != rlen ? -1 : 0;
}

/* A bounded reader over a path column's bytes. */
typedef struct rd {
	const unsigned char *p;
	size_t n, at;
	int bad;
} rd;

static uint32_t rd_u32(rd *r)
{
	if (r->bad || r->n - r->at < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v = rd32(r->p + r->at);
	r->at += 4;
	return v;
}

/* count items of size bytes: a pointer to them, or NULL. */
static const unsigned char *rd_take(rd *r, uint64_t count, size_t size)
{
	if (r->bad || count > (r->n - r->at) / size) {
		r->bad = 1;
		return NULL;
	}
	const unsigned char *q = r->p + r->at;
	r->at += (size_t)count * size;
	return q;
}

int eg_col_path_decode(const unsigned char *raw, size_t rlen, uint32_t n, uint8_t *tag,
		       int64_t *iv, uint32_t *sv, eg_col_raw_fn add_raw, void *ctx)
{
	rd r = { raw, rlen, 0, 0 };
	const unsigned char *t = rd_take(&r, n, 1);
	if (!t)
		return -1;
	uint32_t want[EG_CT_RAW + 1] = { 0 };
	for (uint32_t k = 0; k < n; k++) {
		if (t[k] > EG_CT_RAW)
			return -1;
		want[t[k]]++;
		tag[k] = t[k];
	}
	uint32_t nint = rd_u32(&r);
	const unsigned char *ints = rd_take(&r, nint, 8);
	uint32_t nstr = rd_u32(&r);
	const unsigned char *strs = rd_take(&r, nstr, 4);
	uint32_t ntext = rd_u32(&r);
	if (r.bad || nint != want[EG_CT_INT] || nstr != want[EG_CT_STR] || ntext > want[EG_CT_RAW])
		return -1;
	uint32_t *tid = malloc(((size_t)ntext + 1) * sizeof *tid);
	if (!tid)
		return -1;
	for (uint32_t j = 0; j < ntext && !r.bad; j++) {
		uint32_t len = rd_u32(&r);
		const unsigned char *q = rd_take(&r, len, 1);
		if (q && (tid[j] = add_raw(ctx, (const char *)q, len)) == UINT32_MAX)
			r.bad = 1;
	}
	uint32_t nraw = rd_u32(&r);
	const unsigned char *raws = rd_take(&r, nraw, 4);
	if (r.bad || nraw != want[EG_CT_RAW] || r.at != r.n) {
		free(tid);
		return -1;
	}
	uint32_t a = 0, b = 0, c = 0;
	for (uint32_t k = 0; k < n; k++) {
		iv[k] = 0;
		sv[k] = 0;
		if (tag[k] == EG_CT_INT) {
			iv[k] = (int64_t)rd64(ints + 8ull * a++);
		} else if (tag[k] == EG_CT_STR) {
			sv[k] = rd32(strs + 4ull * b++);
		} else if (tag[k] == EG_CT_RAW) {
			uint32_t x = rd32(raws + 4ull * c++);
			if (x >= ntext) {
				free(tid);
				return -1;
			}
			sv[k] = tid[x];
		}
	}
	free(tid);
	return 0;
}

int eg_col_dict_rec(const unsigned char *p, size_t n, size_t off, coldict_rec *r)
{
	memset(r, 0, sizeof *r);
	if (off > n || n - off < 8)
		return -1;
	uint32_t len = rd32(p + off), check = rd32(p + off + 4);
	if (len < 9 || len > n - off - 8)
		return -1;
	const unsigned char *q = p + off + 8;
	if (check32(q, len) != check)
		return -1;
	r->kind = q[0];
	r->path = rd32(q + 1);
	r->next = off + 8 + len;
	if (r->kind == 1) {
		r->nseg = rd32(q + 5);
		r->body = q + 9;
		r->body_len = len - 9;
	} else if (r->kind == 2 && len >= 13) {
		r->first = rd32(q + 5);
		r->count = rd32(q + 9);
		r->body = q + 13;
		r->body_len = len - 13;
	} else {
		return -1;
	}
	/* the body is count (or nseg) texts, each u32 length + bytes, exactly */
	uint32_t items = r->kind == 1 ? r->nseg : r->count;
	size_t at = 0;
	for (uint32_t i = 0; i < items; i++) {
		if (r->body_len - at < 4)
			return -1;
		uint32_t l = rd32(r->body + at);
		if (l > r->body_len - at - 4)
			return -1;
		at += 4 + (size_t)l;
	}
	return at == r->body_len ? 0 : -1;
}

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

static int width_of(uint64_t max)
{
	return max <= 0xff ? 1 : max <= 0xffff ? 2 : max <= 0xffffffffull ? 4 : 8;
}

size_t eg_col_packed_len(uint64_t max, uint32_t n)
{
	return 1 + (size_t)width_of(max) * n;
}

size_t eg_col_pack(unsigned char *out, const uint64_t *v, uint32_t n, uint64_t max)
{
	int w = width_of(max);
	out[0] = (unsigned char)w;
	unsigned char *q = out + 1;
	for (uint32_t k = 0; k < n; k++, q += w) {
		switch (w) {
		case 1: q[0] = (unsigned char)v[k]; break;
		case 2: { uint16_t x = (uint16_t)v[k]; memcpy(q, &x, 2); break; }
		case 4: { uint32_t x = (uint32_t)v[k]; memcpy(q, &x, 4); break; }
		default: memcpy(q, &v[k], 8); break;
		}
	}
	return 1 + (size_t)w * n;
}

/* The width at p if n values of it are in len bytes: else 0. */
static int packed_width(const unsigned char *p, size_t len, uint32_t n)
{
	if (len < 1)
		return 0;
	int w = p[0];
	if ((w != 1 && w != 2 && w != 4 && w != 8) || (uint64_t)w * n > len - 1)
		return 0;
	return w;
}

size_t eg_col_unpack64(const unsigned char *p, size_t len, uint32_t n, uint64_t *out)
{
	int w = packed_width(p, len, n);
	const unsigned char *q = p + 1;
	switch (w) {
	case 1: for (uint32_t k = 0; k < n; k++) out[k] = q[k]; break;
	case 2: for (uint32_t k = 0; k < n; k++) { uint16_t x; memcpy(&x, q + 2ull * k, 2); out[k] = x; } break;
	case 4: for (uint32_t k = 0; k < n; k++) out[k] = rd32(q + 4ull * k); break;
	case 8: memcpy(out, q, 8ull * n); break;
	default: return 0;
	}
	return 1 + (size_t)w * n;
}

size_t eg_col_unpack32(const unsigned char *p, size_t len, uint32_t n, uint32_t *out)
{
	int w = packed_width(p, len, n);
	const unsigned char *q = p + 1;
	switch (w) {
	case 1: for (uint32_t k = 0; k < n; k++) out[k] = q[k]; break;
	case 2: for (uint32_t k = 0; k < n; k++) { uint16_t x; memcpy(&x, q + 2ull * k, 2); out[k] = x; } break;
	case 4: memcpy(out, q, 4ull * n); break;
	default: return 0;
	}
	return 1 + (size_t)w * n;
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

/* count packed values into out (u32 or, with base, u64 + base). */
static void rd_packed32(rd *r, uint32_t count, uint32_t *out)
{
	size_t used = r->bad ? 0 : eg_col_unpack32(r->p + r->at, r->n - r->at, count, out);
	if (!used)
		r->bad = 1;
	r->at += used;
}

static void rd_packed64(rd *r, uint32_t count, uint64_t *out)
{
	size_t used = r->bad ? 0 : eg_col_unpack64(r->p + r->at, r->n - r->at, count, out);
	if (!used)
		r->bad = 1;
	r->at += used;
}

/* A path column: n tags; u32 nint, i64 base, nint packed (value - base);
 * u32 nstr, nstr packed dictionary ids; u32 ntext, ntext texts (u32 len +
 * bytes); u32 nraw, nraw packed text indices.  Values are compacted: the
 * k-th INT tag's value is the k-th int, and so on. */
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
	/* the compacted values go at the ends of iv and sv, then spread */
	uint32_t nint = rd_u32(&r);
	const unsigned char *bp = rd_take(&r, 1, 8);
	if (r.bad || nint != want[EG_CT_INT])
		return -1;
	uint64_t *ints = (uint64_t *)iv + (n - nint);
	rd_packed64(&r, nint, ints);
	uint32_t nstr = rd_u32(&r);
	if (r.bad || nstr != want[EG_CT_STR])
		return -1;
	uint32_t *strs = sv + (n - nstr);
	rd_packed32(&r, nstr, strs);
	uint32_t ntext = rd_u32(&r);
	if (r.bad || ntext > want[EG_CT_RAW])
		return -1;
	uint32_t *tid = malloc(((size_t)ntext + want[EG_CT_RAW] + 1) * sizeof *tid);
	if (!tid)
		return -1;
	uint32_t *raws = tid + ntext;     /* RAW is rare: apart */
	for (uint32_t j = 0; j < ntext && !r.bad; j++) {
		uint32_t len = rd_u32(&r);
		const unsigned char *q = rd_take(&r, len, 1);
		if (q && (tid[j] = add_raw(ctx, (const char *)q, len)) == UINT32_MAX)
			r.bad = 1;
	}
	uint32_t nraw = rd_u32(&r);
	if (!r.bad && nraw == want[EG_CT_RAW])
		rd_packed32(&r, nraw, raws);
	if (r.bad || nraw != want[EG_CT_RAW] || r.at != r.n) {
		free(tid);
		return -1;
	}
	uint64_t base = rd64(bp);
	/* spread forwards: the unread compacted values sit at or after slot
	 * k (at k only when tag k is theirs, read before k is written) */
	uint32_t a = 0, b = 0, c = 0;
	for (uint32_t k = 0; k < n; k++) {
		int64_t i = 0;
		uint32_t s = 0;
		if (tag[k] == EG_CT_INT) {
			i = (int64_t)(ints[a++] + base);
		} else if (tag[k] == EG_CT_STR) {
			s = strs[b++];
		} else if (tag[k] == EG_CT_RAW) {
			uint32_t x = raws[c++];
			if (x >= ntext) {
				free(tid);
				return -1;
			}
			s = tid[x];
		}
		iv[k] = i;
		sv[k] = s;
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

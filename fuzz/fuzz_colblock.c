/*
 * fuzz_colblock.c — libFuzzer target for the column files' parsers
 * (src/store/colblock.c, docs/FORMAT.md "Column files"): every input,
 * copied into a buffer of exactly its size, is parsed as a block file (the
 * header and directory, then each frame the directory names and, for a
 * path column, its arrays) and as a dictionary file (record by record).
 * A parser may accept or refuse, but never reads past the bytes it is
 * given, and what it accepts lies inside them: the directory's frames
 * after the header, a dictionary record's body within the record, a path
 * column's tags and ids as its counts say.  Packed integers made from the
 * input unpack to the same values.
 */
#include "colint.h"
#include "record.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define MAX_RAW (4u << 20)     /* frames larger are not decompressed here */

static uint32_t count_raw(void *ctx, const char *p, uint32_t n)
{
	(void)p, (void)n;
	uint32_t *k = ctx;
	return (*k)++;
}

static void block(const unsigned char *p, size_t n)
{
	colhdr h;
	if (eg_col_hdr_parse(p, n, &h))
		return;
	CHECK(h.hlen <= n && h.count > 0 && h.count <= eg_colscan_block_events);
	CHECK(h.types == p + COL_HDR_FIXED);
	uint8_t *tag = malloc(h.count);
	int64_t *iv = malloc(8ull * h.count);
	uint32_t *sv = malloc(4ull * h.count);
	CHECK(tag && iv && sv);
	for (uint32_t i = 0; i < h.ncols; i++) {
		const coldirent *e = &h.dir[i];
		CHECK(e->off >= h.hlen);
		if (e->off > n || e->clen > n - e->off || e->rlen > MAX_RAW)
			continue;
		unsigned char *raw = malloc(e->rlen ? e->rlen : 1);
		CHECK(raw);
		if (eg_col_frame(p + e->off, e->clen, e->check, raw, e->rlen) == 0 &&
		    e->what == COL_PATH) {
			uint32_t texts = 0;
			if (eg_col_path_decode(raw, e->rlen, h.count, tag, iv, sv, count_raw, &texts) == 0)
				for (uint32_t k = 0; k < h.count; k++) {
					CHECK(tag[k] <= EG_CT_RAW);
					if (tag[k] == EG_CT_RAW)
						CHECK(sv[k] < texts);
				}
		}
		free(raw);
	}
	free(tag);
	free(iv);
	free(sv);
	free(h.dir);
}

static void dict(const unsigned char *p, size_t n)
{
	size_t off = 0;
	coldict_rec r;
	while (off < n && eg_col_dict_rec(p, n, off, &r) == 0) {
		CHECK(r.next > off && r.next <= n);
		CHECK(r.body >= p + off + 8 && r.body + r.body_len == p + r.next);
		CHECK(r.kind == 1 || r.kind == 2);
		off = r.next;
	}
}

/* Values from the input, packed and unpacked again. */
static void packed(const unsigned char *p, size_t n)
{
	uint32_t m = (uint32_t)(n / 8);
	if (m > 4096)
		m = 4096;
	uint64_t *v = malloc(8ull * m + 8), *back = malloc(8ull * m + 8), max = 0;
	uint32_t *b32 = malloc(4ull * m + 4);
	CHECK(v && back && b32);
	int shift = n ? p[0] % 64 : 0;
	for (uint32_t k = 0; k < m; k++) {
		v[k] = rd64(p + 8ull * k) >> shift;
		max = v[k] > max ? v[k] : max;
	}
	size_t len = eg_col_packed_len(max, m);
	unsigned char *q = malloc(len);
	CHECK(q);
	CHECK(eg_col_pack(q, v, m, max) == len);
	CHECK(eg_col_unpack64(q, len, m, back) == len);
	CHECK(m == 0 || memcmp(v, back, 8ull * m) == 0);
	if (max <= UINT32_MAX) {
		CHECK(eg_col_unpack32(q, len, m, b32) == len);
		for (uint32_t k = 0; k < m; k++)
			CHECK(b32[k] == v[k]);
	}
	CHECK(len < 2 || eg_col_unpack64(q, len - 1, m, back) == 0 || m == 0);
	/* and the input itself as packed bytes: within bounds or refused */
	size_t used = eg_col_unpack64(p, n, m, back);
	CHECK(used == 0 || used <= n);
	free(q);
	free(v);
	free(back);
	free(b32);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned char *p = malloc(size ? size : 1);
	CHECK(p);
	memcpy(p, data, size);
	block(p, size);
	dict(p, size);
	packed(p, size);
	free(p);
	return 0;
}

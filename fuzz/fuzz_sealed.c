/*
 * fuzz_sealed.c — libFuzzer target for the sealed segment reader and writer
 * (src/store/seal.c, docs/FORMAT.md "Sealed segments").  Every input is
 * opened as a sealed file from memory: the reader may refuse it, but never
 * reads outside it; an accepted one has a table that tiles the logical
 * bytes from the header's end with dense positions, and reading all of it
 * either fails its checks or gives blocks whose lengths are the table's.
 *
 * A first byte with the low bit set also makes a plain segment out of the
 * input (its bytes as the payloads of events), seals it with a small block
 * size and reads it back: the logical bytes must come back exactly, and
 * flipping any one bit of the sealed file must be refused.
 */
#include "record.h"
#include "seal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void read_any(const unsigned char *data, size_t size)
{
	eg_sealed *z;
	char why[256];
	if (eg_sealed_open(-1, data, size, &z, why, sizeof why) != EG_OK)
		return;
	const seal_info *h = eg_sealed_info(z);
	const seal_blk *b = eg_sealed_blocks(z);
	uint64_t loff = SEG_HDR_LEN, pos = h->first_pos;
	for (uint32_t i = 0; i < h->nblocks; i++) {
		CHECK(b[i].loff == loff && b[i].first_pos == pos && b[i].llen > 0);
		CHECK(b[i].file_off + SEAL_BLK_HDR_LEN + b[i].clen <= h->table_off);
		loff += b[i].llen;
		pos += b[i].count;
	}
	CHECK(loff == h->logical_len);
	int rc = eg_sealed_ready(z, NULL, 0, h->logical_len, why, sizeof why);
	CHECK(rc == EG_OK || rc == EG_ECORRUPT);
	if (rc == EG_OK)
		for (uint32_t i = 0; i < h->nblocks; i++)
			CHECK(eg_sealed_ready_end(z, b[i].loff) == b[i].loff + b[i].llen);
	eg_sealed_free(z);
}

/* A plain segment of events whose data are pieces of the input. */
static unsigned char *segment_of(const unsigned char *data, size_t size, size_t *len)
{
	/* at least one input byte per event, at most 64 bytes of record around it */
	size_t cap = SEG_HDR_LEN + 65 * size + COMMIT_LEN, off = SEG_HDR_LEN;
	unsigned char *p = calloc(1, cap);
	if (!p)
		return NULL;
	seg_hdr sh = { .first_pos = 3 };
	eg_seg_hdr_encode(&sh, p);
	uint64_t n = 0;
	for (size_t at = 1; at < size; n++) {
		size_t k = 1 + data[at] % 29;
		if (k > size - at)
			k = size - at;
		rec_in r = { .pos = 3 + n, .version = 1, .time = (int64_t)at, .id = "i", .id_len = 1,
			     .type = "t", .type_len = 1, .data = (const char *)data + at, .data_len = k,
			     .stream = "", .actor = "", .session = "", .meta = "" };
		off += eg_rec_event_encode(&r, p + off);
		at += k;
	}
	if (n) {
		rec_commit c = { .first_pos = 3, .count = n, .recorded = 1, .batch_bytes = off - SEG_HDR_LEN };
		eg_rec_commit_encode(&c, p + off);
		off += COMMIT_LEN;
	}
	*len = off;
	return p;
}

static void round_trip(const unsigned char *data, size_t size)
{
	size_t len;
	unsigned char *sg = segment_of(data, size, &len);
	if (!sg)
		return;
	int fd = memfd_create("fuzz_sealed", 0);
	CHECK(fd >= 0);
	seal_opts o = { SEAL_BLOCK_MIN, 1, NULL };
	uint64_t flen;
	char why[256];
	CHECK(eg_seal_write(fd, sg, len, &o, &flen, why, sizeof why) == EG_OK);
	unsigned char *f = malloc(flen);
	CHECK(f && pread(fd, f, flen, 0) == (ssize_t)flen);
	close(fd);
	eg_sealed *z;
	CHECK(eg_sealed_open(-1, f, flen, &z, why, sizeof why) == EG_OK);
	CHECK(eg_sealed_ready(z, NULL, 0, len, why, sizeof why) == EG_OK);
	CHECK(memcmp(eg_sealed_map(z), sg, len) == 0);
	eg_sealed_free(z);
	/* every byte is covered by a check: one flipped bit is refused */
	size_t at = (size_t)data[0] * 131 % flen;
	f[at] ^= (unsigned char)(1u << (data[0] % 8));
	int rc = eg_sealed_open(-1, f, flen, &z, why, sizeof why);
	if (rc == EG_OK) {
		rc = eg_sealed_ready(z, NULL, 0, len, why, sizeof why);
		eg_sealed_free(z);
	}
	CHECK(rc == EG_ECORRUPT);
	free(f);
	free(sg);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	read_any(data, size);
	if (size && (data[0] & 1))
		round_trip(data, size);
	return 0;
}

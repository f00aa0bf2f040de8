/*
 * zstd_probe.c — issue 26 spike (docs/STORAGE-notes.md): how well the log's
 * records compress with zstd, in independent blocks of whole records, at
 * several levels and block sizes, with and without a trained dictionary.
 *
 *   zstd_probe [--max-mib N] [--levels 1,3,..] [--blocks 16,64,..] [--dict]
 *              STORE/log/SEGMENT...
 *
 * Reads the segments, drops each 64-byte header, cuts the records (events and
 * commits, as stored) into blocks of at most B bytes ending on a record
 * boundary, compresses each block on its own (one thread), decompresses each
 * and compares.  Prints one row per level x block size: compressed bytes per
 * event, ratio, compression MB/s and decompression MB/s (of logical bytes),
 * and the mean time to decompress one block (the cost of reading one event).
 */
#define BENCH_NAME "zstd_probe"
#include "bench.h"
#include <stdint.h>
#include <string.h>
#include <zstd.h>
#include <zdict.h>

static unsigned char *all;
static size_t all_len, all_cap, n_events;

static void add_file(const char *p, size_t max)
{
	FILE *f = fopen(p, "rb");
	if (!f)
		die("%s: cannot open", p);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 64, SEEK_SET);
	if (n < 64)
		die("%s: short", p);
	size_t want = (size_t)n - 64;
	if (all_len + want > all_cap) {
		all_cap = (all_len + want) * 2;
		all = realloc(all, all_cap);
		if (!all)
			die("out of memory");
	}
	if (fread(all + all_len, 1, want, f) != want)
		die("%s: short read", p);
	fclose(f);
	/* keep whole records only, up to max bytes */
	size_t o = all_len, end = all_len + want;
	while (o + 10 <= end) {
		uint32_t len;
		memcpy(&len, all + o, 4);
		if (len < 10 || o + len > end || (max && o + len > max))
			break;
		if (all[o + 8] == 'E')
			n_events++;
		o += len;
	}
	all_len = o;
}

/* block boundaries: offsets into all, nb+1 of them */
static size_t *cut(size_t bsz, size_t *nb)
{
	size_t cap = all_len / 64 + 16, n = 0, *b = malloc(cap * sizeof *b);
	size_t o = 0, start = 0;
	b[n++] = 0;
	while (o < all_len) {
		uint32_t len;
		memcpy(&len, all + o, 4);
		if (o + len - start > bsz && o > start) {
			if (n + 2 > cap)
				b = realloc(b, (cap *= 2) * sizeof *b);
			b[n++] = o;
			start = o;
		}
		o += len;
	}
	if (n + 2 > cap)
		b = realloc(b, (cap *= 2) * sizeof *b);
	b[n++] = all_len;
	*nb = n - 1;
	return b;
}

static void run(int level, size_t bsz, const ZSTD_CDict *cd, const ZSTD_DDict *dd, const char *tag)
{
	size_t nb, *b = cut(bsz, &nb);
	size_t bound = ZSTD_compressBound(bsz * 2 + 65536);
	unsigned char **cb = malloc(nb * sizeof *cb);
	size_t *cl = malloc(nb * sizeof *cl), ctot = 0;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	double t0 = now();
	for (size_t i = 0; i < nb; i++) {
		cb[i] = malloc(bound);
		size_t r = cd ? ZSTD_compress_usingCDict(cc, cb[i], bound, all + b[i], b[i + 1] - b[i], cd)
			      : ZSTD_compressCCtx(cc, cb[i], bound, all + b[i], b[i + 1] - b[i], level);
		if (ZSTD_isError(r))
			die("compress: %s", ZSTD_getErrorName(r));
		cl[i] = r;
		ctot += r;
	}
	double tc = now() - t0;
	unsigned char *out = malloc(bsz * 2 + 65536);
	t0 = now();
	for (size_t i = 0; i < nb; i++) {
		size_t r = dd ? ZSTD_decompress_usingDDict(dc, out, bsz * 2 + 65536, cb[i], cl[i], dd)
			      : ZSTD_decompressDCtx(dc, out, bsz * 2 + 65536, cb[i], cl[i]);
		if (ZSTD_isError(r) || r != b[i + 1] - b[i] || memcmp(out, all + b[i], r))
			die("decompress mismatch at block %zu", i);
	}
	double td = now() - t0;
	/* one event: decompress one block, chosen spread over the data, fresh each time */
	size_t probes = nb < 200 ? nb : 200;
	t0 = now();
	for (size_t k = 0; k < probes; k++) {
		size_t i = (k * 7919) % nb;
		size_t r = dd ? ZSTD_decompress_usingDDict(dc, out, bsz * 2 + 65536, cb[i], cl[i], dd)
			      : ZSTD_decompressDCtx(dc, out, bsz * 2 + 65536, cb[i], cl[i]);
		if (ZSTD_isError(r))
			die("decompress");
	}
	double t1 = (now() - t0) / probes;
	printf("| %-5s | %2d | %5zu KiB | %6zu | %7.1f | %5.2f | %7.1f | %7.1f | %7.1f |\n", tag, level,
	       bsz / 1024, nb, (double)ctot / n_events, (double)all_len / ctot, all_len / tc / 1e6,
	       all_len / td / 1e6, t1 * 1e6);
	fflush(stdout);
	for (size_t i = 0; i < nb; i++)
		free(cb[i]);
	free(cb), free(cl), free(b), free(out);
	ZSTD_freeCCtx(cc), ZSTD_freeDCtx(dc);
}

static int parse_list(const char *s, int *v)
{
	int n = 0;
	while (*s && n < 16) {
		v[n++] = atoi(s);
		s = strchr(s, ',');
		if (!s)
			break;
		s++;
	}
	return n;
}

int main(int argc, char **argv)
{
	int levels[16] = {1, 3, 6, 9, 19}, nl = 5, blocks[16] = {16, 64, 256, 1024}, nbk = 4, dict = 0;
	size_t max = 0, dict_size = 112 * 1024;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--max-mib") && i + 1 < argc)
			max = (size_t)atol(argv[++i]) << 20;
		else if (!strcmp(argv[i], "--levels") && i + 1 < argc)
			nl = parse_list(argv[++i], levels);
		else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
			nbk = parse_list(argv[++i], blocks);
		else if (!strcmp(argv[i], "--dict"))
			dict = 1;
		else if (!strcmp(argv[i], "--dict-kib") && i + 1 < argc)
			dict_size = (size_t)atol(argv[++i]) << 10;
		else
			die("usage: zstd_probe [--max-mib N] [--levels L,..] [--blocks KiB,..] [--dict] [--dict-kib N] SEG...");
	}
	for (; i < argc; i++)
		if (!max || all_len < max)
			add_file(argv[i], max);
	if (!n_events)
		die("no events");
	printf("# %zu bytes of records, %zu events, %.1f B/event uncompressed\n", all_len, n_events,
	       (double)all_len / n_events);
	printf("| dict  | lv | block     | blocks | B/event | ratio | comp MB/s | dec MB/s | 1 block us |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int bi = 0; bi < nbk; bi++) {
		size_t bsz = (size_t)blocks[bi] << 10;
		for (int li = 0; li < nl; li++)
			run(levels[li], bsz, NULL, NULL, "none");
		if (!dict)
			continue;
		/* train on the first 10% of blocks */
		size_t nb, *b = cut(bsz, &nb);
		size_t ns = nb / 10 ? nb / 10 : 1;
		size_t *ss = malloc(ns * sizeof *ss);
		for (size_t k = 0; k < ns; k++)
			ss[k] = b[k + 1] - b[k];
		void *dbuf = malloc(dict_size);
		double t0 = now();
		size_t dl = ZDICT_trainFromBuffer(dbuf, dict_size, all, ss, (unsigned)ns);
		if (ZDICT_isError(dl))
			die("train: %s", ZDICT_getErrorName(dl));
		printf("# dictionary for %zu KiB blocks: %zu bytes, trained on %zu blocks in %.1f s\n", bsz >> 10, dl,
		       ns, now() - t0);
		for (int li = 0; li < nl; li++) {
			ZSTD_CDict *cd = ZSTD_createCDict(dbuf, dl, levels[li]);
			ZSTD_DDict *dd = ZSTD_createDDict(dbuf, dl);
			run(levels[li], bsz, cd, dd, "dict");
			ZSTD_freeCDict(cd), ZSTD_freeDDict(dd);
		}
		free(dbuf), free(ss), free(b);
	}
	return 0;
}

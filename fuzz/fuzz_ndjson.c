/*
 * fuzz_ndjson.c — libFuzzer target for eg_batch_add_ndjson, the bulk path
 * every body POSTed to engram serve (and every engram append) goes
 * through: its splitting into lines and chunks, CRLF and blank lines, the
 * line count, and the parsing thread it starts for large texts.  The
 * reference is the same text added line by line with eg_batch_add_json,
 * as include/engram.h says add_ndjson behaves, into a second store with
 * the same history: both must agree on the verdict, on the line an error
 * names, on the lines a skipping callback is given, and on what the
 * commit appends.
 *
 * The first byte chooses: 'T' repeats the text up to 64 KiB and more
 * (the threaded path), 'K' skips bad lines through the callback; anything
 * else adds the text as it is and stops at the first bad line.
 */
#include "engram.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define RENEW_EVERY 1024          /* runs before the stores are made anew */
#define BIG (80u << 10)           /* 'T': above append.c's SMALL_NDJSON */
#define MAX_SKIPS 4096

static eg_store *st[2];           /* 0: add_ndjson, 1: line by line */
static char dir[2][64];
static unsigned long runs;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(p);
}

static void drop_stores(void)
{
	for (int i = 0; i < 2; i++) {
		if (!st[i])
			continue;
		eg_store_close(st[i]);
		st[i] = NULL;
		nftw(dir[i], rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static void make_stores(void)
{
	for (int i = 0; i < 2; i++) {
		snprintf(dir[i], sizeof dir[i], "/tmp/engram-fuzz-XXXXXX");
		CHECK(mkdtemp(dir[i]) != NULL);
		CHECK(eg_store_open(&st[i], dir[i], EG_OPEN_WRITE | EG_OPEN_CREATE, NULL) == EG_OK);
	}
	runs = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (!st[0]) {
		make_stores();
		atexit(drop_stores);
	}
	return 0;
}

/* The lines the callback was given (0-based), in order. */
typedef struct skips {
	uint64_t at[MAX_SKIPS];
	size_t n;
} skips;

static int skip_line(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	skips *s = ctx;
	(void)text, (void)len;
	CHECK(msg && *msg);
	if (s->n < MAX_SKIPS)
		s->at[s->n] = line;
	s->n++;
	return 0;
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* The reference: each line through eg_batch_add_json.  Returns what
 * add_ndjson should: EG_OK, or the error with *lines the lines consumed
 * (the bad one included). */
static int by_lines(eg_batch *b, const char *text, size_t len, skips *sk, uint64_t *lines)
{
	const char *p = text, *end = text + len;
	*lines = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		uint64_t line = (*lines)++;
		const char *q = p;
		p += n + (nl != NULL);
		if (n && q[n - 1] == '\r')
			n--;
		if (blank(q, n))
			continue;
		int rc = eg_batch_add_json(b, q, n);
		if (rc == EG_EDUP)
			continue;
		if (rc == EG_EINVAL && sk) {
			skip_line(sk, line, q, n, "x");
			continue;
		}
		if (rc)
			return rc;
	}
	return EG_OK;
}

static void run(const char *text, size_t len, int skipping)
{
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	eg_batch *b[2];
	CHECK(eg_batch_begin(st[0], &b[0], &o) == EG_OK);
	CHECK(eg_batch_begin(st[1], &b[1], &o) == EG_OK);
	static skips sk[2];
	sk[0].n = sk[1].n = 0;
	uint64_t lines[2];
	int rc0 = eg_batch_add_ndjson(b[0], text, len, skipping ? skip_line : NULL,
				      skipping ? &sk[0] : NULL, &lines[0]);
	int rc1 = by_lines(b[1], text, len, skipping ? &sk[1] : NULL, &lines[1]);
	CHECK(rc0 == rc1);
	if (rc0) {
		/* the same line is named, and the store says why */
		CHECK(lines[0] == lines[1]);
		CHECK(*eg_errmsg(st[0]));
		eg_batch_abort(b[0]);
		eg_batch_abort(b[1]);
		return;
	}
	CHECK(sk[0].n == sk[1].n);
	for (size_t i = 0; i < sk[0].n && i < MAX_SKIPS; i++)
		CHECK(sk[0].at[i] == sk[1].at[i]);
	eg_append_result r[2];
	CHECK(eg_batch_commit(b[0], &r[0]) == EG_OK);
	CHECK(eg_batch_commit(b[1], &r[1]) == EG_OK);
	CHECK(r[0].appended == r[1].appended);
	CHECK(r[0].duplicates == r[1].duplicates);
	CHECK(r[0].first_pos == r[1].first_pos && r[0].last_pos == r[1].last_pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (++runs > RENEW_EVERY) {
		drop_stores();
		make_stores();
	}
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] != 'T' || len == 0) {
		run(text, len, data[0] == 'K');
		return 0;
	}
	/* the text again and again, past the size that starts the thread */
	size_t n = (BIG / len + 1) * len;
	char *big = malloc(n);
	CHECK(big != NULL);
	for (size_t i = 0; i < n; i += len)
		memcpy(big + i, text, len);
	run(big, n, 0);
	free(big);
	return 0;
}

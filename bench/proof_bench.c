/*
 * proof_bench.c — Merkle proofs through the C API (bench/proofs.sh):
 *
 *   proof_bench STORE N [SEED]
 *
 * opens the store and its tree (timed: with no tree file, the build from
 * the log), then makes N inclusion proofs of random positions against the
 * head (each one verified against the root by eg_proof_inclusion itself,
 * as every proof is), N more with the leaf data read from the log (what
 * engram proof inclusion prints besides), N consistency proofs of random
 * sizes, and times the store-less verification (eg_mt_verify_inclusion,
 * eg_mt_verify_consistency) over the proofs it made.  Prints one JSON
 * object.
 */
#include "engram.h"
#include "merkle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef struct proof {
	uint64_t index, m;
	unsigned char leaf[32], a[32];
	unsigned char path[64][32];
	size_t n;
} proof;

static void die(eg_store *st, const char *what, int rc)
{
	fprintf(stderr, "proof_bench: %s: %s: %s\n", what, eg_strerror(rc), st ? eg_errmsg(st) : "");
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: proof_bench STORE N [SEED]\n");
		return 2;
	}
	size_t N = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		rng = strtoull(argv[3], NULL, 10) | 1;
	eg_store *st = NULL;
	int rc = eg_store_open(&st, argv[1], EG_OPEN_READ, NULL);
	if (rc)
		die(st, "open", rc);
	eg_tree *t;
	double t0 = now();
	if ((rc = eg_tree_open(st, &t)))
		die(st, "tree", rc);
	double open_s = now() - t0;
	eg_tree_close(t);
	t0 = now();
	if ((rc = eg_tree_open(st, &t)))
		die(st, "tree", rc);
	double reopen_s = now() - t0;
	uint64_t size = eg_tree_size(t);
	if (!size)
		die(st, "empty store", 0);
	unsigned char root[32];
	if ((rc = eg_tree_root(t, size, root)))
		die(st, "root", rc);
	proof *p = calloc(N, sizeof *p);
	if (!p)
		return 1;
	for (size_t i = 0; i < N; i++) {
		p[i].index = rnd() % size;
		p[i].m = 1 + rnd() % size;
	}

	/* inclusion proofs, as eg_proof_inclusion gives them (checked) */
	t0 = now();
	for (size_t i = 0; i < N; i++)
		if ((rc = eg_proof_inclusion(t, p[i].index, size, p[i].leaf, p[i].path, &p[i].n)))
			die(st, "inclusion", rc);
	double incl_s = now() - t0;

	/* the same with each event's record read from the log (leaf_data) */
	size_t bytes = 0;
	t0 = now();
	for (size_t i = 0; i < N; i++) {
		unsigned char leaf[32], path[64][32];
		size_t n;
		eg_leaf l;
		uint64_t k = rnd() % size;
		if ((rc = eg_proof_inclusion(t, k, size, leaf, path, &n)))
			die(st, "inclusion", rc);
		if ((rc = eg_tree_leaf(st, k + 1, &l)))
			die(st, "leaf", rc);
		bytes += l.len;
		eg_leaf_free(&l);
	}
	double full_s = now() - t0;

	/* verification, no store */
	eg_mt *h = eg_mt_new();
	size_t bad = 0;
	t0 = now();
	for (size_t i = 0; i < N; i++)
		bad += eg_mt_verify_inclusion(h, p[i].index, size, p[i].leaf, p[i].path, p[i].n,
					      root) != NULL;
	double verify_s = now() - t0;
	size_t plen = 0;
	for (size_t i = 0; i < N; i++)
		plen += p[i].n;

	/* consistency proofs from random older sizes to the head, then their
	 * verification */
	size_t nc = N / 4 ? N / 4 : 1;
	t0 = now();
	for (size_t i = 0; i < nc; i++) {
		unsigned char b[32];
		if ((rc = eg_proof_consistency(t, p[i].m, size, p[i].a, b, p[i].path, &p[i].n)))
			die(st, "consistency", rc);
	}
	double cons_s = now() - t0;
	t0 = now();
	for (size_t i = 0; i < nc; i++)
		bad += eg_mt_verify_consistency(h, p[i].m, size, p[i].a, root, p[i].path, p[i].n) !=
		       NULL;
	double cverify_s = now() - t0;
	eg_mt_free(h);

	printf("{\"events\":%llu,\"proofs\":%zu,\"tree_open_s\":%.3f,\"tree_reopen_s\":%.4f,"
	       "\"inclusion_per_s\":%.0f,\"inclusion_us\":%.2f,\"avg_path\":%.1f,"
	       "\"inclusion_with_leaf_data_per_s\":%.0f,\"inclusion_with_leaf_data_us\":%.2f,"
	       "\"avg_record_bytes\":%.0f,"
	       "\"verify_inclusion_us\":%.2f,\"consistency_per_s\":%.0f,\"consistency_us\":%.2f,"
	       "\"verify_consistency_us\":%.2f,\"failed\":%zu}\n",
	       (unsigned long long)size, N, open_s, reopen_s, N / incl_s, incl_s / N * 1e6,
	       (double)plen / N, N / full_s, full_s / N * 1e6, (double)bytes / N,
	       verify_s / N * 1e6, nc / cons_s, cons_s / nc * 1e6, cverify_s / nc * 1e6, bad);
	free(p);
	eg_tree_close(t);
	eg_store_close(st);
	return bad ? 1 : 0;
}

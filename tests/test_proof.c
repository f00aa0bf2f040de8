/*
 * test_proof.c — the Merkle tree and its proofs as a specification: RFC
 * 9162's recursive definitions (MTH, PATH, PROOF/SUBPROOF of 2.1.1,
 * 2.1.3.1, 2.1.4.1) written out plainly here, against the fast code
 * (merkle.c from stored subtree hashes, tree.c from the store's tree file),
 * for every size 1..70, every leaf index and every (m, n) pair; the
 * verifiers accept each proof and refuse it tampered; a store's tree file
 * caught up batch by batch, then damaged, truncated or stale, still gives
 * the reference's answers.
 */
#include "testutil.h"
#include "engram.h"
#include "merkle.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#define MAXN 70

/* ------------------------------------------------------ the reference */

static void sha(const void *a, size_t an, const void *b, size_t bn, const void *c, size_t cn,
		unsigned char out[32])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int len = 32;
	assert_non_null(m);
	assert_int_equal(EVP_DigestInit_ex(m, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(m, a, an);
	if (bn)
		EVP_DigestUpdate(m, b, bn);
	if (cn)
		EVP_DigestUpdate(m, c, cn);
	EVP_DigestFinal_ex(m, out, &len);
	EVP_MD_CTX_free(m);
}

typedef struct ref {
	unsigned char leaf[MAXN][32];   /* leaf hashes */
	size_t n;
} ref;

static void ref_leaf(ref *r, const void *data, size_t n)
{
	unsigned char z = 0;
	sha(&z, 1, data, n, NULL, 0, r->leaf[r->n++]);
}

static size_t kk(size_t n)
{
	size_t k = 1;
	while (2 * k < n)
		k *= 2;
	return k;
}

/* MTH(D[lo:lo+n]) by the definition. */
static void ref_mth(const ref *r, size_t lo, size_t n, unsigned char out[32])
{
	if (n == 0) {
		sha("", 0, NULL, 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, r->leaf[lo], 32);
		return;
	}
	size_t k = kk(n);
	unsigned char a[32], b[32], one = 1;
	ref_mth(r, lo, k, a);
	ref_mth(r, lo + k, n - k, b);
	sha(&one, 1, a, 32, b, 32, out);
}

/* PATH(m, D[lo:lo+n]). */
static void ref_path(const ref *r, size_t m, size_t lo, size_t n, unsigned char p[][32],
		     size_t *np)
{
	if (n <= 1)
		return;
	size_t k = kk(n);
	if (m < k) {
		ref_path(r, m, lo, k, p, np);
		ref_mth(r, lo + k, n - k, p[(*np)++]);
	} else {
		ref_path(r, m - k, lo + k, n - k, p, np);
		ref_mth(r, lo, k, p[(*np)++]);
	}
}

/* SUBPROOF(m, D[lo:lo+n], b). */
static void ref_sub(const ref *r, size_t m, size_t lo, size_t n, int b, unsigned char p[][32],
		    size_t *np)
{
	if (m == n) {
		if (!b)
			ref_mth(r, lo, n, p[(*np)++]);
		return;
	}
	size_t k = kk(n);
	if (m <= k) {
		ref_sub(r, m, lo, k, b, p, np);
		ref_mth(r, lo + k, n - k, p[(*np)++]);
	} else {
		ref_sub(r, m - k, lo + k, n - k, 0, p, np);
		ref_mth(r, lo, k, p[(*np)++]);
	}
}

/* The complete subtrees, as the tree file stores them. */
static int ref_node(void *ctx, unsigned level, uint64_t idx, unsigned char out[32])
{
	const ref *r = ctx;
	ref_mth(r, (size_t)(idx << level), (size_t)1 << level, out);
	return 0;
}

static void fill(ref *r)
{
	r->n = 0;
	for (int i = 0; i < MAXN; i++) {
		char d[32];
		int n = snprintf(d, sizeof d, "leaf %d", i);
		ref_leaf(r, d, (size_t)n);
	}
}

/* -------------------------------------------------------------- checks */

/* Every inclusion and consistency proof of sizes 1..nmax from get, as the
 * reference makes them; each verifies, and fails with any hash flipped,
 * the size changed or an element missing. */
static void check_all(eg_mt *h, const ref *r, size_t nmax,
		      int (*root)(void *, uint64_t, unsigned char *),
		      int (*incl)(void *, uint64_t, uint64_t, unsigned char *, unsigned char (*)[32], size_t *),
		      int (*cons)(void *, uint64_t, uint64_t, unsigned char (*)[32], size_t *),
		      void *ctx)
{
	unsigned char p[64][32], q[64][32], rt[32], want[32], leaf[32], old[32];
	for (size_t n = 0; n <= nmax; n++) {
		ref_mth(r, 0, n, want);
		assert_int_equal(root(ctx, n, rt), 0);
		assert_memory_equal(rt, want, 32);
		for (size_t i = 0; i < n; i++) {
			size_t np = 0, nq;
			ref_path(r, i, 0, n, p, &np);
			assert_int_equal(incl(ctx, i, n, leaf, q, &nq), 0);
			assert_memory_equal(leaf, r->leaf[i], 32);
			assert_int_equal(nq, np);
			assert_int_equal(np, eg_mt_inclusion_len(i, n));
			if (np)
				assert_memory_equal(q, p, np * 32);
			assert_null(eg_mt_verify_inclusion(h, i, n, leaf, q, nq, want));
			for (size_t j = 0; j < nq; j++) {
				q[j][j % 32] ^= 1;
				assert_non_null(eg_mt_verify_inclusion(h, i, n, leaf, q, nq, want));
				q[j][j % 32] ^= 1;
			}
			/* another size: the path does not fit it (a root vouches
			 * for its size only with it, as in a head) */
			if (eg_mt_inclusion_len(i, n + 1) != nq)
				assert_non_null(eg_mt_verify_inclusion(h, i, n + 1, leaf, q, nq, want));
			if (nq)
				assert_non_null(eg_mt_verify_inclusion(h, i, n, leaf, q, nq - 1, want));
			if (n > 1)
				assert_non_null(eg_mt_verify_inclusion(h, (i + 1) % n, n, leaf, q, nq,
								       want));
		}
		for (size_t m = 0; m <= n; m++) {
			size_t np = 0, nq;
			if (m && m < n)
				ref_sub(r, m, 0, n, 1, p, &np);
			ref_mth(r, 0, m, old);
			assert_int_equal(cons(ctx, m, n, q, &nq), 0);
			assert_int_equal(nq, np);
			assert_int_equal(np, eg_mt_consistency_len(m, n));
			if (np)
				assert_memory_equal(q, p, np * 32);
			assert_null(eg_mt_verify_consistency(h, m, n, old, want, q, nq));
			for (size_t j = 0; j < nq; j++) {
				q[j][31 - j % 32] ^= 0x80;
				assert_non_null(eg_mt_verify_consistency(h, m, n, old, want, q, nq));
				q[j][31 - j % 32] ^= 0x80;
			}
			if (m < n) {
				/* another old root, a size off by one */
				unsigned char o2[32];
				memcpy(o2, old, 32);
				o2[0] ^= 1;
				assert_non_null(eg_mt_verify_consistency(h, m, n, o2, want, q, nq));
				if (m > 1 && n > m + 1 && eg_mt_consistency_len(m, n - 1) != nq)
					assert_non_null(eg_mt_verify_consistency(h, m, n - 1, old, want,
										 q, nq));
			}
		}
	}
}

/* merkle.c over the reference's subtree hashes */
typedef struct mctx {
	eg_mt *h;
	ref *r;
} mctx;

static int m_root(void *c, uint64_t n, unsigned char *out)
{
	mctx *x = c;
	return eg_mt_root(x->h, ref_node, x->r, n, out);
}

static int m_incl(void *c, uint64_t i, uint64_t n, unsigned char *leaf, unsigned char (*p)[32],
		  size_t *np)
{
	mctx *x = c;
	memcpy(leaf, x->r->leaf[i], 32);
	return eg_mt_inclusion(x->h, ref_node, x->r, i, n, p, np);
}

static int m_cons(void *c, uint64_t m, uint64_t n, unsigned char (*p)[32], size_t *np)
{
	mctx *x = c;
	return eg_mt_consistency(x->h, ref_node, x->r, m, n, p, np);
}

static void merkle_matches_the_rfc_definitions(void **state)
{
	(void)state;
	static ref r;
	fill(&r);
	eg_mt *h = eg_mt_new();
	assert_non_null(h);
	mctx x = { h, &r };
	check_all(h, &r, MAXN, m_root, m_incl, m_cons, &x);
	eg_mt_free(h);
}

/* -------------------------------------------------------- store trees */

typedef struct sctx {
	eg_tree *t;
} sctx;

static int s_root(void *c, uint64_t n, unsigned char *out)
{
	return eg_tree_root(((sctx *)c)->t, n, out);
}

static int s_incl(void *c, uint64_t i, uint64_t n, unsigned char *leaf, unsigned char (*p)[32],
		  size_t *np)
{
	return eg_proof_inclusion(((sctx *)c)->t, i, n, leaf, p, np);
}

static int s_cons(void *c, uint64_t m, uint64_t n, unsigned char (*p)[32], size_t *np)
{
	unsigned char a[32], b[32];
	return eg_proof_consistency(((sctx *)c)->t, m, n, a, b, p, np);
}

/* The reference over the store's leaf data (each checked to be the event
 * as it reads back). */
static void store_ref(eg_store *st, ref *r, size_t n)
{
	r->n = 0;
	for (size_t p = 1; p <= n; p++) {
		eg_leaf l;
		assert_int_equal(eg_tree_leaf(st, p, &l), EG_OK);
		assert_true(l.len > 26);
		uint64_t pos;
		memcpy(&pos, l.data + 10, 8);
		assert_int_equal(pos, p);
		assert_int_equal(l.ev.pos, p);
		assert_true(l.ev.data_len > 6 && !memcmp(l.ev.data, "{\"i\":", 5));
		ref_leaf(r, l.data, l.len);
		eg_leaf_free(&l);
	}
}

static void tree_file_matches_the_rfc_definitions(void **state)
{
	tu_fx *f = *state;
	static ref r;
	eg_store *w = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_store *rd = tu_open(f->dir, EG_OPEN_READ, 0);
	eg_mt *h = eg_mt_new();
	size_t n = 0;
	/* batches of 1, 2, 3...: the tree catches up from every kind of size */
	for (size_t b = 1; n < MAXN; b++) {
		for (size_t i = 0; i < b && n < MAXN; i++) {
			char line[128];
			snprintf(line, sizeof line,
				 "{\"type\":\"t\",\"stream\":\"s%zu\",\"data\":{\"i\":%zu}}", n % 5, n);
			const char *l = line;
			tu_append(w, &l, 1);
			n++;
		}
		sctx x = { NULL };
		assert_int_equal(eg_tree_open(rd, &x.t), EG_OK);
		assert_int_equal(eg_tree_size(x.t), n);
		store_ref(rd, &r, n);
		unsigned char rt[32], want[32];
		ref_mth(&r, 0, n, want);
		assert_int_equal(eg_tree_root(x.t, n, rt), 0);
		assert_memory_equal(rt, want, 32);
		eg_tree_close(x.t);
	}
	sctx x = { NULL };
	assert_int_equal(eg_tree_open(rd, &x.t), EG_OK);
	check_all(h, &r, MAXN, s_root, s_incl, s_cons, &x);
	unsigned char leaf[32], p[64][32];
	size_t np;
	assert_int_equal(eg_proof_inclusion(x.t, MAXN, MAXN, leaf, p, &np), EG_EINVAL);
	assert_int_equal(eg_proof_inclusion(x.t, 0, MAXN + 1, leaf, p, &np), EG_EINVAL);
	eg_tree_close(x.t);

	/* damage: a flipped byte inside the nodes file, then a torn file, then
	 * a state of another log: each is rebuilt, never trusted */
	char nodes[256], statef[256];
	snprintf(nodes, sizeof nodes, "%s/idx/tree/rfc9162/nodes", f->dir);
	snprintf(statef, sizeof statef, "%s/idx/tree/rfc9162/state", f->dir);
	int fd = open(nodes, O_RDWR);
	assert_true(fd >= 0);
	unsigned char byte;
	for (off_t off = 40 * 32 + 5; off < 41 * 32; off++) {
		assert_int_equal(pread(fd, &byte, 1, off), 1);
		byte ^= 0xff;
		assert_int_equal(pwrite(fd, &byte, 1, off), 1);
	}
	close(fd);
	assert_int_equal(eg_tree_open(rd, &x.t), EG_OK);
	check_all(h, &r, MAXN, s_root, s_incl, s_cons, &x);
	eg_tree_close(x.t);
	assert_int_equal(truncate(nodes, 100), 0);
	assert_int_equal(eg_tree_open(rd, &x.t), EG_OK);
	check_all(h, &r, 20, s_root, s_incl, s_cons, &x);
	eg_tree_close(x.t);
	fd = open(statef, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 30), 1);
	byte ^= 1;
	assert_int_equal(pwrite(fd, &byte, 1, 30), 1);
	close(fd);
	assert_int_equal(eg_tree_open(rd, &x.t), EG_OK);
	check_all(h, &r, 20, s_root, s_incl, s_cons, &x);
	eg_tree_close(x.t);

	eg_mt_free(h);
	eg_store_close(rd);
	eg_store_close(w);
}

static void empty_store_has_the_empty_root(void **state)
{
	tu_fx *f = *state;
	eg_store *w = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_tree *t;
	unsigned char rt[32], e[32];
	assert_int_equal(eg_tree_open(w, &t), EG_OK);
	assert_int_equal(eg_tree_size(t), 0);
	assert_int_equal(eg_tree_root(t, 0, rt), 0);
	sha("", 0, NULL, 0, NULL, 0, e);
	assert_memory_equal(rt, e, 32);
	assert_int_equal(eg_tree_root(t, 1, rt), EG_EINVAL);
	eg_tree_close(t);
	eg_store_close(w);
}

static void proof_documents_parse_and_refuse(void **state)
{
	(void)state;
	eg_mt_doc d;
	char err[256];
	const char *ok = "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":\""
			 "00000000000000000000000000000000000000000000000000000000000000ff\","
			 "\"audit_path\":[],\"leaf_data\":\"YWJj\"}";
	assert_int_equal(eg_mt_doc_parse(ok, strlen(ok), &d, err, sizeof err), 0);
	assert_int_equal(d.kind, EG_MT_INCLUSION);
	assert_int_equal(d.leaf[31], 0xff);
	assert_int_equal(d.leaf_data_len, 3);
	assert_memory_equal(d.leaf_data, "abc", 3);
	eg_mt_doc_free(&d);
	const char *bad[] = {
		"{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":\"00\",\"audit_path\":[]}",
		"{\"leaf_index\":-1,\"tree_size\":1,\"leaf_hash\":\"00\",\"audit_path\":[]}",
		"{\"leaf_index\":0,\"tree_size\":\"1\",\"audit_path\":[]}",
		"{\"first_size\":1,\"second_size\":2,\"consistency_path\":[1]}",
		"{\"first_size\":1,\"second_size\":2,\"consistency_path\":",
		"[]",
		"{}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(eg_mt_doc_parse(bad[i], strlen(bad[i]), &d, err, sizeof err), -1);
		assert_true(err[0]);
		eg_mt_doc_free(&d);
	}
	unsigned char b[8];
	assert_int_equal(eg_mt_unb64("YWI=", 4, b), 2);
	assert_int_equal(eg_mt_unb64("YW=I", 4, b), -1);
	assert_int_equal(eg_mt_unb64("YWJ", 3, b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merkle_matches_the_rfc_definitions),
		cmocka_unit_test_setup_teardown(tree_file_matches_the_rfc_definitions, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(empty_store_has_the_empty_root, tu_setup, tu_teardown),
		cmocka_unit_test(proof_documents_parse_and_refuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

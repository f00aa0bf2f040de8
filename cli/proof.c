/*
 * proof.c — engram head (the chain's head and the Merkle tree's root,
 * optionally signed) and engram proof: inclusion and consistency proofs
 * from the store's tree, and check, which verifies a proof with no store
 * (docs/PROOFS.md).
 */
#include "cli.h"
#include "engram.h"
#include "merkle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX (64 << 10)
#define DOC_MAX (16 << 20)

static void hexs(const unsigned char h[32], char x[65])
{
	eg_mt_hex(h, x);
}

static void put_path(FILE *f, const char *key, unsigned char path[][32], size_t n)
{
	fprintf(f, ",\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		char x[65];
		hexs(path[i], x);
		fprintf(f, "%s\"%s\"", i ? "," : "", x);
	}
	fputc(']', f);
}

/* A key file's text, or NULL after saying why (*rc: the exit code). */
static char *key_text(const char *path, const char *opt_name, size_t *n, int *rc)
{
	char *s = cli_read_path(path, PEM_MAX, n);
	if (!s) {
		cli_error("%s %s: %s", opt_name, path, strerror(errno));
		*rc = errno == ENOMEM ? EXIT_ERR : EXIT_USAGE;
	}
	return s;
}

/* The store, for reading, and its Merkle tree brought up to the head;
 * NULL (the store closed, *rc the exit code) when either fails. */
static eg_store *open_tree(cli *c, eg_tree **t, int *rc)
{
	eg_store *st = cli_open_read(c, rc);
	if (!st)
		return NULL;
	int r = eg_tree_open(st, t);
	if (r) {
		*rc = cli_fail(st, r);
		eg_store_close(st);
		return NULL;
	}
	return st;
}

/* ----------------------------------------------------------------- head */

int cmd_head(cli *c)
{
	const char *sign = NULL;
	opt opts[] = { { "sign", 1, &sign, NULL }, { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	size_t keylen = 0;
	char *key = NULL;
	if (sign && !(key = key_text(sign, "--sign", &keylen, &rc)))
		return rc;
	eg_tree *t;
	eg_store *st = open_tree(c, &t, &rc);
	if (!st) {
		free(key);
		return rc;
	}
	eg_head h;
	unsigned char root[32];
	eg_tree_head(t, &h);
	int r = eg_tree_root(t, h.pos, root);
	eg_tree_close(t);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		free(key);
		return rc;
	}
	unsigned char sig[64], pub[32];
	char err[256];
	if (key) {
		char stmt[256];
		size_t n = eg_mt_head_statement(h.pos, root, h.pos, h.hash, stmt);
		int bad = eg_mt_sign(key, keylen, stmt, n, sig, pub, err, sizeof err);
		free(key);
		if (bad) {
			cli_error("--sign %s: %s", sign, err);
			eg_store_close(st);
			return EXIT_USAGE;
		}
	}
	char hex[65], rhex[65];
	eg_hash_hex(h.hash, hex);
	hexs(root, rhex);
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_u64(o, "pos", h.pos);
	out_cstr(o, "hash", hex);
	out_u64(o, "size", h.pos);
	out_cstr(o, "root", rhex);
	if (sign) {
		char s[129], p[65];
		hexs(sig, s);
		hexs(sig + 32, s + 64);
		hexs(pub, p);
		out_cstr(o, "public_key", p);
		out_cstr(o, "signature", s);
	}
	out_row_end(o);
	cli_close(st, EXIT_OK);
	return out_finish(o, EXIT_OK);
}

/* ------------------------------------------------------------ inclusion */

static int size_arg(cli *c, const char *v, const char *name, uint64_t *res)
{
	if (cli_u64(v, res))
		return cli_usage_error(c, "%s: expected a non-negative integer, got '%s'", name, v);
	return 0;
}

/* One inclusion proof of pos in the tree of size events, as a line. */
static int put_inclusion(eg_store *st, eg_tree *t, eg_mt *h, uint64_t pos, uint64_t size,
			 FILE *f)
{
	unsigned char leaf[32], root[32], path[64][32], got[32];
	size_t n;
	eg_leaf l;
	int r = eg_tree_root(t, size, root);
	if (!r)
		r = eg_proof_inclusion(t, pos - 1, size, leaf, path, &n);
	if (!r)
		r = eg_tree_leaf(st, pos, &l);
	if (r)
		return r;
	/* the record read now is the leaf the tree holds */
	if (eg_mt_leaf(h, l.data, l.len, got) || memcmp(got, leaf, 32)) {
		eg_leaf_free(&l);
		cli_error("the record of position %llu does not hash to its leaf in the Merkle "
			  "tree; run engram verify", (unsigned long long)pos);
		return -1;
	}
	char *b64 = malloc(4 * ((l.len + 2) / 3) + 1);
	char *ev = NULL;
	size_t evn = 0;
	FILE *m = b64 ? open_memstream(&ev, &evn) : NULL;
	if (!m) {
		free(b64);
		eg_leaf_free(&l);
		cli_error("out of memory");
		return -1;
	}
	eg_mt_b64(l.data, l.len, b64);
	/* the event as engram read prints it (as stored) */
	out *o = out_new(m, FMT_NDJSON);
	out_event(o, &l.ev);
	int bad = out_free(o);
	eg_leaf_free(&l);
	if (fclose(m) || bad) {
		free(ev);
		free(b64);
		cli_error("out of memory");
		return -1;
	}
	while (evn && (ev[evn - 1] == '\n'))
		ev[--evn] = 0;
	char lh[65], rh[65];
	hexs(leaf, lh);
	hexs(root, rh);
	fprintf(f, "{\"leaf_index\":%llu,\"tree_size\":%llu,\"leaf_hash\":\"%s\"",
		(unsigned long long)(pos - 1), (unsigned long long)size, lh);
	put_path(f, "audit_path", path, n);
	fprintf(f, ",\"root\":\"%s\",\"pos\":%llu,\"leaf_data\":\"%s\",\"event\":%s}\n", rh,
		(unsigned long long)pos, b64, ev);
	free(ev);
	free(b64);
	return EG_OK;
}

/* put_inclusion's failure: the library's (with its message), or -1 when
 * it said why itself.  The exit code. */
static int inclusion_fail(eg_store *st, int r)
{
	return r < 0 ? EXIT_INTEGRITY : cli_fail(st, r);
}

/* --positions: up to BATCH positions at a time are proven in log order
 * (proofs of events in one sealed block then share its decompression) and
 * printed in the file's order.  The exit code. */
#define BATCH 65536

typedef struct want {
	uint64_t pos;
	size_t i;
} want;

static int want_cmp(const void *a, const void *b)
{
	const want *x = a, *y = b;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int prove_batch(eg_store *st, eg_tree *t, eg_mt *h, want *w, size_t n, uint64_t size,
		       char **text)
{
	qsort(w, n, sizeof *w, want_cmp);
	for (size_t k = 0; k < n; k++) {
		size_t len;
		FILE *m = open_memstream(&text[w[k].i], &len);
		if (!m) {
			cli_error("out of memory");
			return EXIT_ERR;
		}
		int r = put_inclusion(st, t, h, w[k].pos, size, m);
		if (fclose(m) && !r) {
			cli_error("out of memory");
			return EXIT_ERR;
		}
		if (r)
			return inclusion_fail(st, r);
	}
	for (size_t k = 0; k < n; k++)
		fputs(text[k], stdout);
	return EXIT_OK;
}

static int positions_batch(eg_store *st, eg_tree *t, eg_mt *h, FILE *pf, uint64_t size)
{
	want *w = malloc(BATCH * sizeof *w);
	char **text = calloc(BATCH, sizeof *text);
	char line[64];
	uint64_t ln = 0, pos;
	size_t n = 0;
	int rc = w && text ? EXIT_OK : EXIT_ERR;
	if (rc)
		cli_error("out of memory");
	while (rc == EXIT_OK && fgets(line, sizeof line, pf)) {
		ln++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0])
			continue;
		if (cli_u64(line, &pos) || pos == 0) {
			cli_error("--positions line %llu: expected a position, got '%s'",
				  (unsigned long long)ln, line);
			rc = EXIT_USAGE;
		} else if (pos > size) {
			cli_error("--positions line %llu: position %llu is beyond the tree size %llu",
				  (unsigned long long)ln, (unsigned long long)pos,
				  (unsigned long long)size);
			rc = EXIT_USAGE;
		} else {
			w[n] = (want){ pos, n };
			if (++n == BATCH) {
				rc = prove_batch(st, t, h, w, n, size, text);
				for (size_t k = 0; k < n; k++) {
					free(text[k]);
					text[k] = NULL;
				}
				n = 0;
			}
		}
	}
	/* the proofs of the lines before a bad one are printed */
	if (n && (rc == EXIT_OK || rc == EXIT_USAGE)) {
		int r = prove_batch(st, t, h, w, n, size, text);
		rc = rc ? rc : r;
	}
	if (text)
		for (size_t k = 0; k < n; k++)
			free(text[k]);
	free(text);
	free(w);
	return rc;
}

static int proof_inclusion(cli *c, int arg)
{
	(void)arg;
	const char *id = NULL, *size_s = NULL, *positions = NULL;
	opt opts[] = { { "id", 1, &id, NULL }, { "size", 1, &size_s, NULL },
		       { "positions", 1, &positions, NULL }, { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	int given = (c->npos == 2) + !!id + !!positions;
	if (given != 1)
		return cli_usage_error(c, "expected one of POS, --id ID or --positions FILE");
	uint64_t pos = 0, size = 0;
	if (c->npos == 2 && (cli_u64(c->pos[1], &pos) || pos == 0))
		return cli_usage_error(c, "POS: expected a position (1 or more), got '%s'", c->pos[1]);
	if (size_s && (rc = size_arg(c, size_s, "--size", &size)))
		return rc;
	FILE *pf = NULL;
	if (positions && !(pf = strcmp(positions, "-") ? fopen(positions, "r") : stdin)) {
		cli_error("--positions %s: %s", positions, strerror(errno));
		return EXIT_USAGE;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		if (pf && pf != stdin)
			fclose(pf);
		return rc;
	}
	eg_tree *t = NULL;
	eg_mt *h = NULL;
	int r = EG_OK;
	if (id) {
		r = eg_store_find_id(st, id, strlen(id), &pos);
		if (r == EG_ENOTFOUND) {
			cli_error("no event with id '%s'", id);
			rc = EXIT_ERR;
			goto done;
		}
	}
	if (!r)
		r = eg_tree_open(st, &t);
	if (!r && !(h = eg_mt_new()))
		r = EG_ENOMEM;
	if (r) {
		rc = cli_fail(st, r);
		goto done;
	}
	uint64_t head = eg_tree_size(t);
	if (!size_s)
		size = head;
	if (size > head) {
		cli_error("--size %llu: beyond the head %llu", (unsigned long long)size,
			  (unsigned long long)head);
		rc = EXIT_USAGE;
		goto done;
	}
	if (pf) {
		rc = positions_batch(st, t, h, pf, size);
		goto done;
	}
	if (pos > head) {
		cli_error("no event at position %llu (the head is %llu)", (unsigned long long)pos,
			  (unsigned long long)head);
		rc = EXIT_ERR;
		goto done;
	}
	if (pos > size) {
		cli_error("--size %llu: below position %llu, which is not in that tree",
			  (unsigned long long)size, (unsigned long long)pos);
		rc = EXIT_USAGE;
		goto done;
	}
	if ((r = put_inclusion(st, t, h, pos, size, stdout)))
		rc = inclusion_fail(st, r);
done:
	if (pf && pf != stdin)
		fclose(pf);
	eg_mt_free(h);
	eg_tree_close(t);
	cli_close(st, rc);
	if (rc == EXIT_OK && fflush(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = EXIT_ERR;
	}
	return rc;
}

/* ---------------------------------------------------------- consistency */

static int proof_consistency(cli *c, int arg)
{
	(void)arg;
	int rc = cli_parse(c, NULL, 3);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 3)
		return cli_usage_error(c, "expected OLD NEW (tree sizes)");
	uint64_t m, n;
	if ((rc = size_arg(c, c->pos[1], "OLD", &m)) || (rc = size_arg(c, c->pos[2], "NEW", &n)))
		return rc;
	if (m > n)
		return cli_usage_error(c, "OLD %llu is above NEW %llu", (unsigned long long)m,
				       (unsigned long long)n);
	eg_tree *t;
	eg_store *st = open_tree(c, &t, &rc);
	if (!st)
		return rc;
	if (n > eg_tree_size(t)) {
		cli_error("NEW %llu: beyond the head %llu", (unsigned long long)n,
			  (unsigned long long)eg_tree_size(t));
		eg_tree_close(t);
		eg_store_close(st);
		return EXIT_USAGE;
	}
	unsigned char a[32], b[32], path[64][32];
	size_t np;
	int r = eg_proof_consistency(t, m, n, a, b, path, &np);
	eg_tree_close(t);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	char ah[65], bh[65];
	hexs(a, ah);
	hexs(b, bh);
	printf("{\"first_size\":%llu,\"second_size\":%llu,\"first_root\":\"%s\","
	       "\"second_root\":\"%s\"", (unsigned long long)m, (unsigned long long)n, ah, bh);
	put_path(stdout, "consistency_path", path, np);
	printf("}\n");
	cli_close(st, EXIT_OK);
	if (fflush(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------- check */

static int check_fail(const char *file, const char *why)
{
	cli_error("%s: proof check failed: %s", file, why);
	return EXIT_INTEGRITY;
}

/* A document from FILE ("-": standard input), parsed, or the exit code. */
static int read_doc(const char *file, eg_mt_doc *d)
{
	size_t n;
	char *s = strcmp(file, "-") ? cli_read_path(file, DOC_MAX, &n)
				    : cli_read_file(stdin, DOC_MAX, &n);
	if (!s) {
		cli_error("%s: %s", file, strerror(errno));
		return errno == ENOMEM ? EXIT_ERR : EXIT_USAGE;
	}
	char err[256];
	int bad = eg_mt_doc_parse(s, n, d, err, sizeof err);
	free(s);
	return bad ? check_fail(file, err) : 0;
}

/* A signed head's signature against the public key: its root, or the
 * exit code. */
static int check_head(const char *file, const eg_mt_doc *hd, const char *key, size_t keylen)
{
	if (hd->kind != EG_MT_HEAD)
		return check_fail(file, "not a head (expected root, size, pos, hash, signature)");
	if (!hd->has_sig)
		return check_fail(file, "the head has no signature");
	char stmt[256], err[256];
	unsigned char pub[32];
	size_t n = eg_mt_head_statement(hd->size, hd->root, hd->pos, hd->hash, stmt);
	if (eg_mt_sig_check(key, keylen, stmt, n, hd->sig, pub, err, sizeof err))
		return check_fail(file, err);
	return 0;
}

static int proof_check(cli *c, int arg)
{
	(void)arg;
	const char *root_s = NULL, *old_s = NULL, *pubkey = NULL, *headf = NULL;
	opt opts[] = { { "root", 1, &root_s, NULL }, { "old-root", 1, &old_s, NULL },
		       { "pubkey", 1, &pubkey, NULL }, { "head", 1, &headf, NULL },
		       { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 2)
		return cli_usage_error(c, "expected FILE (a proof; - for standard input)");
	const char *file = c->pos[1];
	unsigned char root[32], old[32];
	int has_root = 0, has_old = 0;
	if (root_s) {
		if (eg_mt_unhex(root_s, strlen(root_s), root))
			return cli_usage_error(c, "--root: expected 64 hex digits, got '%s'", root_s);
		has_root = 1;
	}
	if (old_s) {
		if (eg_mt_unhex(old_s, strlen(old_s), old))
			return cli_usage_error(c, "--old-root: expected 64 hex digits, got '%s'", old_s);
		has_old = 1;
	}
	if (headf && !pubkey)
		return cli_usage_error(c, "--head needs --pubkey to check its signature");
	char *key = NULL;
	size_t keylen = 0;
	if (pubkey && !(key = key_text(pubkey, "--pubkey", &keylen, &rc)))
		return rc;
	eg_mt_doc d, hd;
	memset(&d, 0, sizeof d);
	memset(&hd, 0, sizeof hd);
	if ((rc = read_doc(file, &d)))
		goto out;
	uint64_t head_size = 0;
	int signed_head = 0;
	if (pubkey) {
		/* the root (of the newer tree, for a consistency proof) comes
		 * from a signed head: FILE itself, or --head */
		const eg_mt_doc *h = &d;
		const char *hf = file;
		if (headf) {
			if ((rc = read_doc(headf, &hd)))
				goto out;
			h = &hd;
			hf = headf;
		}
		if ((rc = check_head(hf, h, key, keylen)))
			goto out;
		if (has_root && memcmp(root, h->root, 32)) {
			rc = check_fail(hf, "--root is not the signed head's root");
			goto out;
		}
		memcpy(root, h->root, 32);
		has_root = 1;
		head_size = h->size;
		signed_head = 1;
		if (!headf) {
			char r[65];
			hexs(d.root, r);
			printf("{\"ok\":true,\"kind\":\"head\",\"size\":%llu,\"pos\":%llu,"
			       "\"root\":\"%s\",\"signature\":\"valid\"}\n",
			       (unsigned long long)d.size, (unsigned long long)d.pos, r);
			goto out;
		}
	}
	if (d.kind == EG_MT_HEAD) {
		rc = check_fail(file, "a head is checked with --pubkey (its signature)");
		goto out;
	}
	if (!has_root) {
		rc = cli_usage_error(c, "--root HASH (or --pubkey with a signed head) is required: "
				     "the root the proof must reach, from a head you trust");
		goto out;
	}
	eg_mt *h = eg_mt_new();
	if (!h) {
		cli_error("cannot start SHA-256 (out of memory)");
		rc = EXIT_ERR;
		goto out;
	}
	const char *why = NULL;
	char r1[65], r2[65];
	if (d.kind == EG_MT_INCLUSION) {
		unsigned char lh[32];
		if (signed_head && d.size != head_size)
			why = "tree_size is not the signed head's size";
		else if (d.has_root && memcmp(d.root, root, 32))
			why = "the proof's root is not the given root";
		else if (d.has_leaf_data &&
			 (eg_mt_leaf(h, d.leaf_data, d.leaf_data_len, lh) || memcmp(lh, d.leaf, 32)))
			why = "leaf_data does not hash to leaf_hash";
		else
			why = eg_mt_verify_inclusion(h, d.index, d.size, d.leaf, d.path, d.npath, root);
		if (!why) {
			hexs(root, r1);
			printf("{\"ok\":true,\"kind\":\"inclusion\",\"leaf_index\":%llu,"
			       "\"tree_size\":%llu,\"root\":\"%s\",\"leaf_data\":%s}\n",
			       (unsigned long long)d.index, (unsigned long long)d.size, r1,
			       d.has_leaf_data ? "true" : "false");
		}
	} else {
		/* the old root: --old-root, else the proof's own first_root
		 * (then the proof shows which old root it links to the new) */
		if (!has_old && d.has_first_root) {
			memcpy(old, d.first_root, 32);
			has_old = 1;
		}
		if (signed_head && d.second != head_size)
			why = "second_size is not the signed head's size";
		else if (!has_old)
			why = "no old root: give --old-root HASH (or a proof with first_root)";
		else if (d.has_first_root && memcmp(d.first_root, old, 32))
			why = "the proof's first_root is not --old-root";
		else if (d.has_second_root && memcmp(d.second_root, root, 32))
			why = "the proof's second_root is not the given root";
		else
			why = eg_mt_verify_consistency(h, d.first, d.second, old, root, d.path, d.npath);
		if (!why) {
			hexs(old, r1);
			hexs(root, r2);
			printf("{\"ok\":true,\"kind\":\"consistency\",\"first_size\":%llu,"
			       "\"second_size\":%llu,\"first_root\":\"%s\",\"second_root\":\"%s\"}\n",
			       (unsigned long long)d.first, (unsigned long long)d.second, r1, r2);
		}
	}
	eg_mt_free(h);
	if (why)
		rc = check_fail(file, why);
out:
	eg_mt_doc_free(&d);
	eg_mt_doc_free(&hd);
	free(key);
	if (rc == EXIT_OK && fflush(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = EXIT_ERR;
	}
	return rc;
}

int cmd_proof(cli *c)
{
	static const cli_sub SUBS[] = {
		{ "inclusion", proof_inclusion, 0 },
		{ "consistency", proof_consistency, 0 },
		{ "check", proof_check, 0 },
	};
	return cli_subcommand(c, "proof", SUBS, sizeof SUBS / sizeof *SUBS);
}

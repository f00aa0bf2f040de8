/*
 * merkle.h — the Merkle tree of RFC 9162 section 2.1 (Certificate
 * Transparency v2): leaf and node hashes, audit and consistency paths
 * from any source of complete-subtree hashes, and the verification
 * algorithms of 2.1.3.2 and 2.1.4.2.  No store: engram proof check runs
 * this alone (docs/PROOFS.md).
 *
 *     leaf hash  = SHA-256(0x00 || leaf data)
 *     node hash  = SHA-256(0x01 || left || right)
 *     MTH({})    = SHA-256("")
 */
#ifndef EG_MERKLE_H
#define EG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

/* Longest path of a tree of up to 2^64 leaves. */
#define EG_MT_MAX_PATH 64

/* A SHA-256 context kept for many hashes (no allocation per hash). */
typedef struct eg_mt eg_mt;
eg_mt *eg_mt_new(void);               /* NULL: no memory, or OpenSSL did not start */
void eg_mt_free(eg_mt *h);

int eg_mt_leaf(eg_mt *h, const void *data, size_t n, unsigned char out[32]);
int eg_mt_node(eg_mt *h, const unsigned char l[32], const unsigned char r[32],
	       unsigned char out[32]);
void eg_mt_empty(unsigned char out[32]);   /* MTH({}) */

/* The hash of the complete subtree of 2^level leaves starting at leaf
 * idx << level: 0, or nonzero (the caller's error code, passed on). */
typedef int (*eg_mt_node_fn)(void *ctx, unsigned level, uint64_t idx, unsigned char out[32]);

/* MTH of the first size leaves (size 0: MTH({})). */
int eg_mt_root(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t size, unsigned char out[32]);
/* PATH(index, D[0:size]) of 2.1.3.1, leaf upward, into path; *n elements.
 * index < size (the caller checks). */
int eg_mt_inclusion(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t index, uint64_t size,
		    unsigned char path[][32], size_t *n);
/* PROOF(m, D[0:n]) of 2.1.4.1, m <= n; empty when m is 0 or m == n. */
int eg_mt_consistency(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t m, uint64_t n,
		      unsigned char path[][32], size_t *np);
/* How many hashes those paths have. */
size_t eg_mt_inclusion_len(uint64_t index, uint64_t size);
size_t eg_mt_consistency_len(uint64_t m, uint64_t n);

/* 2.1.3.2: NULL when leaf at index is in the tree of size whose root is
 * root, else why not (a static phrase). */
const char *eg_mt_verify_inclusion(eg_mt *h, uint64_t index, uint64_t size,
				   const unsigned char leaf[32], const unsigned char path[][32],
				   size_t n, const unsigned char root[32]);
/* 2.1.4.2, with the cases it leaves out: m == n (an empty path, equal
 * roots) and m == 0 (an empty path, old root MTH({})).  NULL, or why not. */
const char *eg_mt_verify_consistency(eg_mt *h, uint64_t m, uint64_t n,
				     const unsigned char old_root[32],
				     const unsigned char new_root[32],
				     const unsigned char path[][32], size_t np);

/* ------------------------------------------------------ proof documents
 *
 * The JSON that engram proof prints and engram proof check reads
 * (docs/PROOFS.md).  eg_mt_doc_parse reads one; which kind it is follows
 * from its fields (audit_path: inclusion, consistency_path: consistency;
 * a signed head has root, size and signature). */
enum { EG_MT_INCLUSION = 1, EG_MT_CONSISTENCY = 2, EG_MT_HEAD = 3 };

typedef struct eg_mt_doc {
	int kind;
	uint64_t index, size;            /* inclusion: leaf_index, tree_size;
					    head: size, pos */
	uint64_t first, second;          /* consistency: first_size, second_size */
	uint64_t pos;                    /* head */
	unsigned char leaf[32];          /* inclusion: leaf_hash */
	unsigned char root[32];          /* inclusion, head: root (if has_root) */
	unsigned char first_root[32], second_root[32];  /* consistency (has_roots) */
	unsigned char hash[32];          /* head: the chain hash */
	unsigned char path[EG_MT_MAX_PATH][32];
	size_t npath;
	int has_root, has_first_root, has_second_root;
	unsigned char *leaf_data;        /* inclusion: base64-decoded leaf_data (malloc'd) */
	size_t leaf_data_len;
	int has_leaf_data;
	unsigned char sig[64];           /* head: Ed25519 signature */
	int has_sig;
} eg_mt_doc;

/* Parse [s, s + n): 0, or -1 with err (cap bytes) naming the field and
 * what was expected.  Free with eg_mt_doc_free either way. */
int eg_mt_doc_parse(const char *s, size_t n, eg_mt_doc *d, char *err, size_t cap);
void eg_mt_doc_free(eg_mt_doc *d);

/* The bytes a signed head's signature covers (docs/PROOFS.md):
 * "engram-head v1\nsize SIZE\nroot HEX\npos POS\nhash HEX\n" into out
 * (at least 256 bytes); its length. */
size_t eg_mt_head_statement(uint64_t size, const unsigned char root[32], uint64_t pos,
			    const unsigned char hash[32], char *out);

/* Ed25519 (OpenSSL): sign msg with the private key in PEM text key
 * (PKCS#8, as openssl genpkey -algorithm ed25519 writes it), giving the
 * signature and the raw public key; or check sig with the public key in
 * PEM text (SubjectPublicKeyInfo, openssl pkey -pubout), giving the raw
 * public key.  0, or -1 with err (cap bytes) saying why. */
int eg_mt_sign(const char *key, size_t n, const void *msg, size_t mlen, unsigned char sig[64],
	       unsigned char pub[32], char *err, size_t cap);
int eg_mt_sig_check(const char *key, size_t n, const void *msg, size_t mlen,
		    const unsigned char sig[64], unsigned char pub[32], char *err, size_t cap);

/* Hex: 64 lowercase digits and a NUL; parse exactly 64 (either case). */
void eg_mt_hex(const unsigned char h[32], char out[65]);
int eg_mt_unhex(const char *s, size_t n, unsigned char out[32]);

/* Standard base64 (RFC 4648, padded): out holds 4 * ((n + 2) / 3) + 1. */
size_t eg_mt_b64(const unsigned char *p, size_t n, char *out);
/* Decode into out (at least n * 3 / 4 bytes); -1 if not padded base64. */
long eg_mt_unb64(const char *s, size_t n, unsigned char *out);

#endif

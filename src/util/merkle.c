/*
 * merkle.c — RFC 9162 section 2.1 (merkle.h): hashing, paths from
 * complete-subtree hashes, verification, and the proof documents.
 */
#include "merkle.h"
#include "chain.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct eg_mt {
	EVP_MD_CTX *md;
};

eg_mt *eg_mt_new(void)
{
	if (!eg_chain_sha256())
		return NULL;
	eg_mt *h = malloc(sizeof *h);
	if (h && !(h->md = EVP_MD_CTX_new())) {
		free(h);
		h = NULL;
	}
	return h;
}

void eg_mt_free(eg_mt *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

static int hash2(eg_mt *h, unsigned char tag, const void *a, size_t an, const void *b,
		 size_t bn, unsigned char out[32])
{
	unsigned int len = 32;
	return EVP_DigestInit_ex(h->md, eg_chain_sha256(), NULL) == 1 &&
	       EVP_DigestUpdate(h->md, &tag, 1) == 1 &&
	       (!an || EVP_DigestUpdate(h->md, a, an) == 1) &&
	       (!bn || EVP_DigestUpdate(h->md, b, bn) == 1) &&
	       EVP_DigestFinal_ex(h->md, out, &len) == 1 ? 0 : -1;
}

int eg_mt_leaf(eg_mt *h, const void *data, size_t n, unsigned char out[32])
{
	return hash2(h, 0, data, n, NULL, 0, out);
}

int eg_mt_node(eg_mt *h, const unsigned char l[32], const unsigned char r[32],
	       unsigned char out[32])
{
	return hash2(h, 1, l, 32, r, 32, out);
}

void eg_mt_empty(unsigned char out[32])
{
	static const unsigned char e[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	memcpy(out, e, 32);
}

/* ------------------------------------------------------------- paths */

/* The largest power of two smaller than n (n > 1). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;
	while (k < (1ull << 63) && k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[lo:lo+n]) where lo is a multiple of the largest power of two not
 * above n, as every range of the RFC's recursions is: a stored node when
 * n is a power of two, else the left complete part and the right rest. */
static int mth(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t lo, uint64_t n,
	       unsigned char out[32])
{
	if (!(n & (n - 1))) {
		unsigned level = (unsigned)__builtin_ctzll(n);
		return get(ctx, level, lo >> level, out);
	}
	uint64_t k = split(n);
	unsigned char l[32], r[32];
	int rc;
	if ((rc = mth(h, get, ctx, lo, k, l)) || (rc = mth(h, get, ctx, lo + k, n - k, r)))
		return rc;
	return eg_mt_node(h, l, r, out);
}

int eg_mt_root(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t size, unsigned char out[32])
{
	if (!size) {
		eg_mt_empty(out);
		return 0;
	}
	return mth(h, get, ctx, 0, size, out);
}

/* PATH(m, D[lo:lo+n]), appended leaf upward: the recursion's deeper part
 * first, so the path of the subtree comes before its sibling's hash. */
static int path_at(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t m, uint64_t lo,
		   uint64_t n, unsigned char path[][32], size_t *np)
{
	if (n <= 1)
		return 0;
	uint64_t k = split(n);
	int rc;
	if (m < k) {
		if ((rc = path_at(h, get, ctx, m, lo, k, path, np)))
			return rc;
		return mth(h, get, ctx, lo + k, n - k, path[(*np)++]);
	}
	if ((rc = path_at(h, get, ctx, m - k, lo + k, n - k, path, np)))
		return rc;
	return mth(h, get, ctx, lo, k, path[(*np)++]);
}

int eg_mt_inclusion(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t index, uint64_t size,
		    unsigned char path[][32], size_t *n)
{
	*n = 0;
	return path_at(h, get, ctx, index, 0, size, path, n);
}

/* SUBPROOF(m, D[lo:lo+n], b). */
static int subproof(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t m, uint64_t lo,
		    uint64_t n, int b, unsigned char path[][32], size_t *np)
{
	if (m == n)
		return b ? 0 : mth(h, get, ctx, lo, n, path[(*np)++]);
	uint64_t k = split(n);
	int rc;
	if (m <= k) {
		if ((rc = subproof(h, get, ctx, m, lo, k, b, path, np)))
			return rc;
		return mth(h, get, ctx, lo + k, n - k, path[(*np)++]);
	}
	if ((rc = subproof(h, get, ctx, m - k, lo + k, n - k, 0, path, np)))
		return rc;
	return mth(h, get, ctx, lo, k, path[(*np)++]);
}

int eg_mt_consistency(eg_mt *h, eg_mt_node_fn get, void *ctx, uint64_t m, uint64_t n,
		      unsigned char path[][32], size_t *np)
{
	*np = 0;
	if (m == 0 || m >= n)
		return 0;
	return subproof(h, get, ctx, m, 0, n, 1, path, np);
}

size_t eg_mt_inclusion_len(uint64_t index, uint64_t size)
{
	size_t len = 0;
	uint64_t n = size, m = index;
	while (n > 1) {
		uint64_t k = split(n);
		if (m < k) {
			n = k;
		} else {
			m -= k;
			n -= k;
		}
		len++;
	}
	return len;
}

size_t eg_mt_consistency_len(uint64_t m, uint64_t n)
{
	if (m == 0 || m >= n)
		return 0;
	size_t len = 0;
	int b = 1;
	while (m != n) {
		uint64_t k = split(n);
		if (m <= k) {
			n = k;
		} else {
			m -= k;
			n -= k;
			b = 0;
		}
		len++;
	}
	return len + !b;
}

/* -------------------------------------------------------- verification */

const char *eg_mt_verify_inclusion(eg_mt *h, uint64_t index, uint64_t size,
				   const unsigned char leaf[32], const unsigned char path[][32],
				   size_t n, const unsigned char root[32])
{
	if (index >= size)
		return "leaf_index is not below tree_size";
	if (n != eg_mt_inclusion_len(index, size))
		return "audit_path has the wrong length for leaf_index and tree_size";
	uint64_t fn = index, sn = size - 1;
	unsigned char r[32];
	memcpy(r, leaf, 32);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return "audit_path is too long";
		if ((fn & 1) || fn == sn) {
			if (eg_mt_node(h, path[i], r, r))
				return "SHA-256 failed";
			if (!(fn & 1))
				while (fn && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (eg_mt_node(h, r, path[i], r)) {
			return "SHA-256 failed";
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return "audit_path is too short";
	if (memcmp(r, root, 32))
		return "the root computed from the path is not the given root";
	return NULL;
}

const char *eg_mt_verify_consistency(eg_mt *h, uint64_t m, uint64_t n,
				     const unsigned char old_root[32],
				     const unsigned char new_root[32],
				     const unsigned char path[][32], size_t np)
{
	if (m > n)
		return "first_size is above second_size";
	if (np != eg_mt_consistency_len(m, n))
		return "consistency_path has the wrong length for first_size and second_size";
	if (m == 0) {
		unsigned char e[32];
		eg_mt_empty(e);
		return memcmp(old_root, e, 32) ? "the root of an empty tree is SHA-256(\"\")" : NULL;
	}
	if (m == n)
		return memcmp(old_root, new_root, 32) ? "equal sizes with different roots" : NULL;
	/* 2.1.4.2: a first size that is a power of two has its root as the
	 * first element, left out of the path */
	unsigned char first[32];
	size_t i = 0;
	if (!(m & (m - 1)))
		memcpy(first, old_root, 32);
	else
		memcpy(first, path[i++], 32);
	uint64_t fn = m - 1, sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	unsigned char fr[32], sr[32];
	memcpy(fr, first, 32);
	memcpy(sr, first, 32);
	for (; i < np; i++) {
		if (sn == 0)
			return "consistency_path is too long";
		if ((fn & 1) || fn == sn) {
			if (eg_mt_node(h, path[i], fr, fr) || eg_mt_node(h, path[i], sr, sr))
				return "SHA-256 failed";
			if (!(fn & 1))
				while (fn && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (eg_mt_node(h, sr, path[i], sr)) {
			return "SHA-256 failed";
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return "consistency_path is too short";
	if (memcmp(fr, old_root, 32))
		return "the first root computed from the path is not the given first root";
	if (memcmp(sr, new_root, 32))
		return "the second root computed from the path is not the given second root";
	return NULL;
}

/* ------------------------------------------------------------ encoding */

void eg_mt_hex(const unsigned char h[32], char out[65])
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = 0;
}

static int nib(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int eg_mt_unhex(const char *s, size_t n, unsigned char out[32])
{
	if (n != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		int a = nib(s[2 * i]), b = nib(s[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		out[i] = (unsigned char)(a << 4 | b);
	}
	return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eg_mt_b64(const unsigned char *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

static int b64v(char c)
{
	const char *q = c ? strchr(b64, c) : NULL;
	return q ? (int)(q - b64) : -1;
}

long eg_mt_unb64(const char *s, size_t n, unsigned char *out)
{
	if (n % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int pad = 0, v[4];
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if ((v[j] = b64v(s[i + j])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}

size_t eg_mt_head_statement(uint64_t size, const unsigned char root[32], uint64_t pos,
			    const unsigned char hash[32], char *out)
{
	char r[65], hh[65];
	eg_mt_hex(root, r);
	eg_mt_hex(hash, hh);
	return (size_t)snprintf(out, 256, "engram-head v1\nsize %llu\nroot %s\npos %llu\nhash %s\n",
				(unsigned long long)size, r, (unsigned long long)pos, hh);
}

/* ------------------------------------------------------------ documents */

static int bad(char *err, size_t cap, const char *field, const char *what)
{
	snprintf(err, cap, "field %s: %s", field, what);
	return -1;
}

static int get_u64(const json_span *v, uint64_t *out)
{
	if (v->type != JSON_NUMBER || v->n == 0 || v->n > 20)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < v->n; i++) {
		char c = v->p[i];
		if (c < '0' || c > '9' || (i == 0 && c == '0' && v->n > 1))
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*out = x;
	return 0;
}

/* A string of 64 hex digits (no escapes: a valid hash never needs one). */
static int get_hash(const json_span *v, unsigned char out[32])
{
	return v->type == JSON_STRING && v->n == 66 ? eg_mt_unhex(v->p + 1, 64, out) : -1;
}

static int get_path(const json_span *v, unsigned char path[][32], size_t *n, const char *field,
		    char *err, size_t cap)
{
	if (v->type != JSON_ARRAY)
		return bad(err, cap, field, "expected an array of 64-hex-digit strings");
	json_arr it;
	json_span e;
	eg_json_arr_begin(&it, v);
	*n = 0;
	while (eg_json_arr_next(&it, &e) == 1) {
		if (*n == EG_MT_MAX_PATH)
			return bad(err, cap, field, "more than 64 hashes");
		if (get_hash(&e, path[*n])) {
			char m[96];
			snprintf(m, sizeof m, "element %zu is not a string of 64 hex digits", *n);
			return bad(err, cap, field, m);
		}
		(*n)++;
	}
	return 0;
}

/* The fields a proof document may have; others are ignored (the event,
 * which only ties the leaf to a reading of it). */
enum {
	F_INDEX, F_TSIZE, F_LEAF, F_APATH, F_ROOT, F_LDATA, F_FSIZE, F_SSIZE, F_FROOT,
	F_SROOT, F_CPATH, F_SIZE, F_POS, F_HASH, F_SIG, F_N
};
static const char *const fields[F_N] = {
	"leaf_index", "tree_size", "leaf_hash", "audit_path", "root", "leaf_data",
	"first_size", "second_size", "first_root", "second_root", "consistency_path",
	"size", "pos", "hash", "signature",
};

int eg_mt_doc_parse(const char *s, size_t n, eg_mt_doc *d, char *err, size_t cap)
{
	memset(d, 0, sizeof *d);
	json_obj it;
	json_span key, val, v[F_N];
	json_err je;
	unsigned have = 0;
	int r;
	if (eg_json_obj_begin(&it, s, n, &je)) {
		snprintf(err, cap, "not a JSON object: %s at byte %zu", je.what, je.off);
		return -1;
	}
	while ((r = eg_json_obj_next(&it, &key, &val, &je)) == 1) {
		for (int i = 0; i < F_N; i++) {
			size_t l = strlen(fields[i]);
			if (key.n == l + 2 && !memcmp(key.p + 1, fields[i], l)) {
				v[i] = val;
				have |= 1u << i;
			}
		}
	}
	if (r < 0) {
		snprintf(err, cap, "malformed JSON: %s at byte %zu", je.what, je.off);
		return -1;
	}
#define HAS(f) (have & (1u << (f)))
	if (HAS(F_APATH)) {
		d->kind = EG_MT_INCLUSION;
		if (!HAS(F_INDEX) || get_u64(&v[F_INDEX], &d->index))
			return bad(err, cap, "leaf_index", "expected a non-negative integer");
		if (!HAS(F_TSIZE) || get_u64(&v[F_TSIZE], &d->size))
			return bad(err, cap, "tree_size", "expected a non-negative integer");
		if (!HAS(F_LEAF) || get_hash(&v[F_LEAF], d->leaf))
			return bad(err, cap, "leaf_hash", "expected a string of 64 hex digits");
		if (get_path(&v[F_APATH], d->path, &d->npath, "audit_path", err, cap))
			return -1;
		if (HAS(F_ROOT) && v[F_ROOT].type != JSON_NULL) {
			if (get_hash(&v[F_ROOT], d->root))
				return bad(err, cap, "root", "expected a string of 64 hex digits");
			d->has_root = 1;
		}
		if (HAS(F_LDATA) && v[F_LDATA].type != JSON_NULL) {
			const json_span *b = &v[F_LDATA];
			if (b->type != JSON_STRING)
				return bad(err, cap, "leaf_data", "expected a base64 string");
			d->leaf_data = malloc(b->n);
			if (!d->leaf_data)
				return bad(err, cap, "leaf_data", "out of memory");
			long l = eg_mt_unb64(b->p + 1, b->n - 2, d->leaf_data);
			if (l < 0)
				return bad(err, cap, "leaf_data", "expected padded base64 (RFC 4648)");
			d->leaf_data_len = (size_t)l;
			d->has_leaf_data = 1;
		}
		return 0;
	}
	if (HAS(F_CPATH)) {
		d->kind = EG_MT_CONSISTENCY;
		if (!HAS(F_FSIZE) || get_u64(&v[F_FSIZE], &d->first))
			return bad(err, cap, "first_size", "expected a non-negative integer");
		if (!HAS(F_SSIZE) || get_u64(&v[F_SSIZE], &d->second))
			return bad(err, cap, "second_size", "expected a non-negative integer");
		if (get_path(&v[F_CPATH], d->path, &d->npath, "consistency_path", err, cap))
			return -1;
		if (HAS(F_FROOT) && v[F_FROOT].type != JSON_NULL) {
			if (get_hash(&v[F_FROOT], d->first_root))
				return bad(err, cap, "first_root", "expected a string of 64 hex digits");
			d->has_first_root = 1;
		}
		if (HAS(F_SROOT) && v[F_SROOT].type != JSON_NULL) {
			if (get_hash(&v[F_SROOT], d->second_root))
				return bad(err, cap, "second_root", "expected a string of 64 hex digits");
			d->has_second_root = 1;
		}
		return 0;
	}
	if (HAS(F_ROOT) && HAS(F_SIZE)) {
		d->kind = EG_MT_HEAD;
		if (get_u64(&v[F_SIZE], &d->size))
			return bad(err, cap, "size", "expected a non-negative integer");
		if (get_hash(&v[F_ROOT], d->root))
			return bad(err, cap, "root", "expected a string of 64 hex digits");
		d->has_root = 1;
		if (!HAS(F_POS) || get_u64(&v[F_POS], &d->pos))
			return bad(err, cap, "pos", "expected a non-negative integer");
		if (!HAS(F_HASH) || get_hash(&v[F_HASH], d->hash))
			return bad(err, cap, "hash", "expected a string of 64 hex digits");
		if (HAS(F_SIG)) {
			if (v[F_SIG].type != JSON_STRING || v[F_SIG].n != 130 ||
			    eg_mt_unhex(v[F_SIG].p + 1, 64, d->sig) ||
			    eg_mt_unhex(v[F_SIG].p + 65, 64, d->sig + 32))
				return bad(err, cap, "signature", "expected a string of 128 hex digits");
			d->has_sig = 1;
		}
		return 0;
	}
#undef HAS
	snprintf(err, cap, "neither an inclusion proof (audit_path), a consistency proof "
		 "(consistency_path) nor a head (root and size)");
	return -1;
}

void eg_mt_doc_free(eg_mt_doc *d)
{
	free(d->leaf_data);
	d->leaf_data = NULL;
}

/* ------------------------------------------------------------ Ed25519 */

#include <openssl/pem.h>

static EVP_PKEY *pem_key(const char *key, size_t n, int private)
{
	BIO *b = BIO_new_mem_buf(key, (int)n);
	if (!b)
		return NULL;
	EVP_PKEY *k = private ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
			      : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

int eg_mt_sign(const char *key, size_t n, const void *msg, size_t mlen, unsigned char sig[64],
	       unsigned char pub[32], char *err, size_t cap)
{
	EVP_PKEY *k = pem_key(key, n, 1);
	if (!k) {
		snprintf(err, cap, "not an Ed25519 private key in PEM (make one with openssl "
			 "genpkey -algorithm ed25519)");
		return -1;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t sl = 64, pl = 32;
	int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(c, sig, &sl, msg, mlen) == 1 && sl == 64 &&
		 EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1 && pl == 32;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	if (!ok)
		snprintf(err, cap, "Ed25519 signing failed");
	return ok ? 0 : -1;
}

int eg_mt_sig_check(const char *key, size_t n, const void *msg, size_t mlen,
		    const unsigned char sig[64], unsigned char pub[32], char *err, size_t cap)
{
	EVP_PKEY *k = pem_key(key, n, 0);
	if (!k) {
		snprintf(err, cap, "not an Ed25519 public key in PEM (make one with openssl pkey "
			 "-in KEY.pem -pubout)");
		return -1;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t pl = 32;
	int ok = c && EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1 && pl == 32 &&
		 EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1;
	if (ok && EVP_DigestVerify(c, sig, 64, msg, mlen) != 1) {
		snprintf(err, cap, "bad signature: the head was not signed by this key, or was "
			 "changed after signing");
		ok = -1;
	} else if (!ok) {
		snprintf(err, cap, "Ed25519 verification could not run");
	}
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok == 1 ? 0 : -1;
}

/*
 * shred.c — the personal properties a schema declares, and AES-256-GCM of
 * an event's personal values as one bundle (shred.h, docs/FORGETTING.md).
 * The store's side (the key file, splicing bundles into data at append and
 * values back at read) is src/store/keys.c.
 */
#include "shred.h"
#include "buf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ pointers */

void eg_pointer_free(char **seg, size_t nseg)
{
	for (size_t i = 0; seg && i < nseg; i++)
		free(seg[i]);
	free(seg);
}

int eg_pointer_split(const char *ptr, size_t n, char ***seg, size_t *nseg)
{
	*seg = NULL;
	*nseg = 0;
	if (!n || ptr[0] != '/')
		return -1;
	size_t cnt = 0;
	for (size_t i = 0; i < n; i++)
		cnt += ptr[i] == '/';
	char **s = calloc(cnt, sizeof *s);
	if (!s)
		return -2;
	size_t k = 0;
	for (size_t i = 0; i < n; ) {
		size_t j = i + 1;
		while (j < n && ptr[j] != '/')
			j++;
		char *o = malloc(j - i);
		if (!o) {
			eg_pointer_free(s, k);
			return -2;
		}
		size_t m = 0;
		for (size_t q = i + 1; q < j; q++) {
			if (ptr[q] != '~') {
				o[m++] = ptr[q];
				continue;
			}
			if (q + 1 >= j || (ptr[q + 1] != '0' && ptr[q + 1] != '1')) {
				free(o);
				eg_pointer_free(s, k);
				return -1;
			}
			o[m++] = ptr[++q] == '0' ? '~' : '/';
		}
		o[m] = 0;
		s[k++] = o;
		i = j;
	}
	*seg = s;
	*nseg = k;
	return 0;
}

/* ------------------------------------------------- personal properties */

typedef struct pcollect {
	eg_personal *p;
	char *err;
	size_t errlen;
	int rc;
	const char *first_personal;   /* schema path of the first x-personal: true */
	char subj_at[256];
} pcollect;

/* The data pointer of a schema path made of "/properties/NAME" steps
 * only (NAME kept escaped), or NULL when it has another step. */
static char *data_pointer(const char *at)
{
	size_t n = strlen(at);
	char *o = malloc(n + 1);
	if (!o)
		return NULL;
	size_t m = 0;
	const char *p = at;
	while (*p) {
		if (strncmp(p, "/properties/", 12)) {
			free(o);
			return NULL;
		}
		p += 11;                 /* at the '/' before NAME */
		const char *e = strchr(p + 1, '/');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		memcpy(o + m, p, k);
		m += k;
		p += k;
	}
	o[m] = 0;
	return o;
}

static int perr(pcollect *c, const char *fmt, const char *a, const char *b)
{
	snprintf(c->err, c->errlen, fmt, a, b);
	c->rc = -1;
	return 1;
}

static int collect(void *arg, const char *at, const char *name, const char *json, size_t len)
{
	pcollect *c = arg;
	eg_personal *p = c->p;
	if (!strcmp(name, "x-subject")) {
		if (*at)
			return perr(c, "%s/x-subject: expected at the schema's top level only%s", at, "");
		if (len < 4 || json[0] != '"' || json[1] != '/' || memchr(json + 1, '\\', len - 2))
			return perr(c, "/x-subject: expected a JSON pointer into data such as "
				    "\"/customer_id\", got %.100s%s", json, "");
		if (!(p->subject = strndup(json + 1, len - 2)))
			return c->rc = -2, 1;
		int r = eg_pointer_split(p->subject, len - 2, &p->sseg, &p->nsseg);
		if (r == -2)
			return c->rc = -2, 1;
		if (r)
			return perr(c, "/x-subject: expected a JSON pointer into data (\"~\" only as "
				    "~0 or ~1), got %.100s%s", json, "");
		return 0;
	}
	if (strcmp(name, "x-personal"))
		return 0;
	if (!(len == 4 && !memcmp(json, "true", 4)) && !(len == 5 && !memcmp(json, "false", 5)))
		return perr(c, "%s/x-personal: expected true or false%s", at, "");
	if (len == 5)
		return 0;
	char *d = data_pointer(at);
	if (!d && strncmp(at, "/properties/", 12) && *at)
		return perr(c, "%s/x-personal: expected on a property of data (a path of "
			    "\"properties\" from the schema's root), not under %s", at, at);
	if (!d && !*at)
		return perr(c, "/x-personal: expected on a property of data, not on data itself%s%s",
			    "", "");
	if (!d)
		return perr(c, "%s/x-personal: expected on a property of data or of a nested "
			    "object's \"properties\", not under %s", at, at);
	char **np = realloc(p->ptr, (p->n + 1) * sizeof *np);
	char ***ns = np ? realloc(p->seg, (p->n + 1) * sizeof *ns) : NULL;
	size_t *nn = ns ? realloc(p->nseg, (p->n + 1) * sizeof *nn) : NULL;
	if (np)
		p->ptr = np;
	if (ns)
		p->seg = ns;
	if (nn)
		p->nseg = nn;
	if (!nn) {
		free(d);
		return c->rc = -2, 1;
	}
	p->ptr[p->n] = d;
	p->seg[p->n] = NULL;
	p->nseg[p->n] = 0;
	p->n++;
	if (eg_pointer_split(d, strlen(d), &p->seg[p->n - 1], &p->nseg[p->n - 1]))
		return c->rc = -2, 1;
	if (!c->first_personal)
		c->first_personal = at;
	return 0;
}

/* Is a a prefix of b, segment by segment (or b of a)? */
static int overlaps(char **a, size_t na, char **b, size_t nb)
{
	size_t k = na < nb ? na : nb;
	for (size_t i = 0; i < k; i++)
		if (strcmp(a[i], b[i]))
			return 0;
	return 1;
}

int eg_personal_from_schema(const eg_schema *s, eg_personal **out, char *err, size_t errlen)
{
	*out = NULL;
	eg_personal *p = calloc(1, sizeof *p);
	if (!p)
		return -2;
	pcollect c = { .p = p, .err = err, .errlen = errlen };
	eg_schema_annotations(s, collect, &c);
	if (!c.rc && p->n > 64) {
		snprintf(err, errlen, "%s/x-personal: at most 64 personal properties per schema",
			 p->ptr[64]);
		c.rc = -1;
	}
	if (!c.rc && p->n && !p->subject) {
		snprintf(err, errlen, "%s/x-personal: personal properties need \"x-subject\" at the "
			 "schema's top level (a JSON pointer into data naming the subject, such as "
			 "\"/customer_id\")", c.first_personal);
		c.rc = -1;
	}
	for (size_t i = 0; !c.rc && i < p->n; i++)
		if (overlaps(p->seg[i], p->nseg[i], p->sseg, p->nsseg)) {
			snprintf(err, errlen, "/x-subject: the subject %s cannot itself be personal "
				 "or inside a personal property (%s is marked x-personal)",
				 p->subject, p->ptr[i]);
			c.rc = -1;
		}
	if (c.rc || !p->n) {
		eg_personal_free(p);
		return c.rc;
	}
	*out = p;
	return 0;
}

void eg_personal_free(eg_personal *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->ptr[i]);
		eg_pointer_free(p->seg[i], p->nseg[i]);
	}
	free(p->ptr);
	free(p->seg);
	free(p->nseg);
	free(p->subject);
	eg_pointer_free(p->sseg, p->nsseg);
	free(p);
}

/* ------------------------------------------------------------- cipher */

/* A context keeps the cipher fetched once (OpenSSL 3 looks the algorithm
 * up on every init given EVP_aes_256_gcm()), the key schedule of the last
 * key (consecutive events of one subject set only the nonce), and random
 * bytes for nonces drawn a page at a time: when each value was sealed
 * alone, those three were most of the cost of an append (bench/forget.sh). */
#define NONCE_POOL 4096

struct eg_shred_cx {
	EVP_CIPHER_CTX *c;
	EVP_CIPHER *aes;
	unsigned char key[EG_SHRED_KEY];
	int keyed;                   /* 1: c holds key's schedule for encrypting, 2: decrypting */
	int ready;                   /* c has the cipher */
	unsigned char pool[NONCE_POOL];
	size_t left;
};

eg_shred_cx *eg_shred_cx_new(void)
{
	eg_shred_cx *cx = calloc(1, sizeof *cx);
	if (!cx)
		return NULL;
	cx->c = EVP_CIPHER_CTX_new();
	cx->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (!cx->c || !cx->aes) {
		eg_shred_cx_free(cx);
		return NULL;
	}
	return cx;
}

void eg_shred_cx_free(eg_shred_cx *cx)
{
	if (!cx)
		return;
	EVP_CIPHER_CTX_free(cx->c);
	EVP_CIPHER_free(cx->aes);
	OPENSSL_cleanse(cx, sizeof *cx);
	free(cx);
}

/* Begin a value under key with nonce iv.  The cipher is given to the
 * context once: given again, OpenSSL 3 sets the whole context up anew
 * (about 0.4 µs, more than the rest of a value), while a new key alone
 * costs its schedule; the same key, only the nonce. */
static int begin(eg_shred_cx *cx, int enc, const unsigned char key[EG_SHRED_KEY],
		 const unsigned char *iv)
{
	if (cx->keyed == 1 + !enc && !memcmp(cx->key, key, EG_SHRED_KEY))
		return EVP_CipherInit_ex(cx->c, NULL, NULL, NULL, iv, enc) == 1;
	if (!cx->ready) {
		if (EVP_CipherInit_ex(cx->c, cx->aes, NULL, NULL, NULL, enc) != 1)
			return 0;
		cx->ready = 1;
	}
	cx->keyed = 0;
	if (EVP_CipherInit_ex(cx->c, NULL, NULL, key, iv, enc) != 1)
		return 0;
	memcpy(cx->key, key, EG_SHRED_KEY);
	cx->keyed = 1 + !enc;
	return 1;
}

static void wr_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static size_t varint_len(size_t v)
{
	size_t n = 1;
	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

static int nonce(eg_shred_cx *cx, unsigned char out[EG_SHRED_NONCE])
{
	if (cx->left < EG_SHRED_NONCE) {
		if (RAND_bytes(cx->pool, NONCE_POOL) != 1)
			return 0;
		cx->left = NONCE_POOL;
	}
	memcpy(out, cx->pool + NONCE_POOL - cx->left, EG_SHRED_NONCE);
	cx->left -= EG_SHRED_NONCE;   /* never used twice (a nonce is not secret) */
	return 1;
}

/* The additional data an event's values are bound to: a label (so no
 * other use of the key can be replayed here), the key id, the event's id
 * (its length first), the number of values and each value's data pointer
 * (its length first), in the bundle's order.  Moving the bundle to another
 * event or key id, or a value to another property, fails the tag. */
static int put_aad(EVP_CIPHER_CTX *c, uint32_t kid, const char *id, size_t idlen,
		   const eg_shred_val *v, size_t nv)
{
	unsigned char stack[2048], *h = stack;
	size_t len = 28 + idlen;
	int outl, ok;
	if (idlen > 1024 || nv > EG_SHRED_VALS)   /* longer than any id */
		return 0;
	for (size_t i = 0; i < nv; i++) {
		if (v[i].plen > 512)               /* or personal pointer */
			return 0;
		len += 4 + v[i].plen;
	}
	if (len > sizeof stack && !(h = malloc(len)))
		return 0;
	memcpy(h, "engram-shred-v2", 16);
	wr_le32(h + 16, kid);
	wr_le32(h + 20, (uint32_t)idlen);
	memcpy(h + 24, id, idlen);
	unsigned char *q = h + 24 + idlen;
	wr_le32(q, (uint32_t)nv);
	q += 4;
	for (size_t i = 0; i < nv; i++) {
		wr_le32(q, (uint32_t)v[i].plen);
		memcpy(q + 4, v[i].ptr, v[i].plen);
		q += 4 + v[i].plen;
	}
	/* one call: each costs OpenSSL's dispatch more than the bytes */
	ok = EVP_CipherUpdate(c, NULL, &outl, h, (int)len) == 1;
	if (h != stack)
		free(h);
	return ok;
}

int eg_shred_seal(eg_shred_cx *cx, buf *out, const unsigned char key[EG_SHRED_KEY],
		  uint32_t kid, const char *id, size_t idlen, const eg_shred_val *v, size_t nv)
{
	size_t n = 0;
	if (!nv || nv > EG_SHRED_VALS)
		return -1;
	for (size_t i = 0; i < nv; i++) {
		if (v[i].n > (1u << 26))
			return -1;
		n += varint_len(v[i].n) + v[i].n;
	}
	if (n > (1u << 26))
		return -1;
	size_t raw = EG_SHRED_NONCE + n + EG_SHRED_TAG;
	unsigned char stack[2048], *r = raw <= sizeof stack ? stack : malloc(raw);
	if (!r)
		return -1;
	/* the plaintext built where its ciphertext goes: GCM encrypts in place */
	unsigned char *q = r + EG_SHRED_NONCE;
	for (size_t i = 0; i < nv; i++) {
		for (size_t k = v[i].n; ; k >>= 7) {   /* LEB128 */
			*q++ = (unsigned char)((k & 0x7f) | (k > 0x7f ? 0x80 : 0));
			if (k <= 0x7f)
				break;
		}
		memcpy(q, v[i].v, v[i].n);
		q += v[i].n;
	}
	int outl = 0, fin = 0, ok = 0;
	EVP_CIPHER_CTX *c = cx->c;
	unsigned char *ct = r + EG_SHRED_NONCE;
	if (nonce(cx, r) && begin(cx, 1, key, r) &&
	    put_aad(c, kid, id, idlen, v, nv) &&
	    EVP_EncryptUpdate(c, ct, &outl, ct, (int)n) == 1 &&
	    EVP_EncryptFinal_ex(c, ct + outl, &fin) == 1 &&
	    (size_t)(outl + fin) == n &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, EG_SHRED_TAG, ct + n) == 1)
		ok = 1;
	char head[32], dig[12];
	int hn = 9, nd = 0;
	memcpy(head, "{\"$enc\":\"", 9);
	for (uint32_t k = kid; k || !nd; k /= 10)
		dig[nd++] = (char)('0' + k % 10);
	while (nd)
		head[hn++] = dig[--nd];
	head[hn++] = '.';
	size_t b64 = 4 * ((raw + 2) / 3);
	if (ok && !buf_reserve(out, (size_t)hn + b64 + 3)) {
		memcpy(out->p + out->n, head, (size_t)hn);
		out->n += (size_t)hn;
		out->n += (size_t)EVP_EncodeBlock((unsigned char *)out->p + out->n, r, (int)raw);
		memcpy(out->p + out->n, "\"}", 2);
		out->n += 2;
	} else {
		ok = 0;
	}
	if (!ok)
		OPENSSL_cleanse(r, raw);   /* the plaintext may be left there */
	if (r != stack)
		free(r);
	return ok ? 0 : -1;
}

int eg_shred_parse(const char *s, size_t n, uint32_t *kid, unsigned char *raw, size_t *rawlen)
{
	size_t i = 0;
	uint64_t k = 0;
	while (i < n && i < 11 && s[i] >= '0' && s[i] <= '9')
		k = k * 10 + (uint64_t)(s[i++] - '0');
	if (!i || i >= n || s[i] != '.' || !k || k > UINT32_MAX || (s[0] == '0'))
		return -1;
	const char *b = s + i + 1;
	size_t bn = n - i - 1;
	if (!bn || bn % 4 || bn > (1u << 28))
		return -1;
	for (size_t q = 0; q < bn; q++) {
		char ch = b[q];
		int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			 (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
			 (ch == '=' && q >= bn - 2 && (q == bn - 1 || b[bn - 1] == '='));
		if (!ok)
			return -1;
	}
	int got = EVP_DecodeBlock(raw, (const unsigned char *)b, (int)bn);
	if (got < 0)
		return -1;
	size_t len = (size_t)got - (b[bn - 1] == '=') - (b[bn - 2] == '=');
	if (len < EG_SHRED_NONCE + EG_SHRED_TAG)
		return -1;
	*kid = (uint32_t)k;
	*rawlen = len;
	return 0;
}

long eg_shred_open(eg_shred_cx *cx, const unsigned char key[EG_SHRED_KEY], uint32_t kid,
		   const char *id, size_t idlen, const eg_shred_val *v, size_t nv,
		   const unsigned char *raw, size_t rawlen, unsigned char *out)
{
	if (rawlen < EG_SHRED_NONCE + EG_SHRED_TAG || rawlen > (1u << 28))
		return -1;
	size_t n = rawlen - EG_SHRED_NONCE - EG_SHRED_TAG;
	int outl = 0, fin = 0;
	EVP_CIPHER_CTX *c = cx->c;
	unsigned char tag[EG_SHRED_TAG];
	memcpy(tag, raw + EG_SHRED_NONCE + n, EG_SHRED_TAG);
	if (!begin(cx, 0, key, raw) ||
	    !put_aad(c, kid, id, idlen, v, nv) ||
	    EVP_DecryptUpdate(c, out, &outl, raw + EG_SHRED_NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, EG_SHRED_TAG, tag) != 1 ||
	    EVP_DecryptFinal_ex(c, out + outl, &fin) != 1) {
		memset(out, 0, n);   /* never hand out unauthenticated bytes */
		return -1;
	}
	return (long)(outl + fin);
}

int eg_shred_split(const unsigned char *pt, size_t n, eg_shred_val *v, size_t nv)
{
	size_t at = 0;
	for (size_t i = 0; i < nv; i++) {
		size_t len = 0;
		for (int sh = 0; ; sh += 7) {   /* LEB128, at most 4 bytes (2^28) */
			if (at >= n || sh > 21)
				return -1;
			unsigned char b = pt[at++];
			len |= (size_t)(b & 0x7f) << sh;
			if (!(b & 0x80))
				break;
		}
		if (len > n - at)
			return -1;
		v[i].v = (const char *)pt + at;
		v[i].n = len;
		at += len;
	}
	return at == n ? 0 : -1;
}

/*
 * chain.c — SHA-256 for the batch hash chain (chain.h), through OpenSSL's
 * EVP interface, which uses the CPU's SHA extensions where present.
 */
#include "chain.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct chain_ctx {
	EVP_MD_CTX *md;
};

/* SHA-256 from a library context of our own, fetched once.  OpenSSL's
 * default context starts itself on first use, and a failed allocation then
 * leaves it half started (a NULL lock that a later fetch takes: a crash);
 * a context made here reports that failure instead. */
static OSSL_LIB_CTX *lib;
static EVP_MD *sha256;

int eg_chain_init(void)
{
	static int failed;
	if (sha256 || failed)
		return failed ? -1 : 0;
	if (!(lib = OSSL_LIB_CTX_new()) || !(sha256 = EVP_MD_fetch(lib, "SHA2-256", NULL)))
		failed = 1;
	return failed ? -1 : 0;
}

const EVP_MD *eg_chain_sha256(void)
{
	return eg_chain_init() ? NULL : sha256;
}

chain_ctx *eg_chain_new(void)
{
	if (eg_chain_init())
		return NULL;
	chain_ctx *c = malloc(sizeof *c);
	if (!c)
		return NULL;
	if (!(c->md = EVP_MD_CTX_new())) {
		free(c);
		return NULL;
	}
	return c;
}

void eg_chain_free(chain_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

int eg_chain_begin(chain_ctx *c, const unsigned char prev[32])
{
	return EVP_DigestInit_ex(c->md, sha256, NULL) == 1 &&
	       EVP_DigestUpdate(c->md, prev, 32) == 1 ? 0 : -1;
}

int eg_chain_update(chain_ctx *c, const void *p, size_t n)
{
	return EVP_DigestUpdate(c->md, p, n) == 1 ? 0 : -1;
}

int eg_chain_final(chain_ctx *c, const unsigned char *fields, size_t n,
		unsigned char out[32])
{
	unsigned int len = 32;
	return EVP_DigestUpdate(c->md, fields, n) == 1 &&
	       EVP_DigestFinal_ex(c->md, out, &len) == 1 ? 0 : -1;
}

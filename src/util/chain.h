/*
 * chain.h — the hash chain that makes the log tamper-evident.
 *
 * chain(batch n) = SHA-256(chain(n-1) || the batch's event records, as
 * stored || bytes 10..42 of its commit record).  The first batch starts
 * from 32 zero bytes.
 */
#ifndef EG_CHAIN_H
#define EG_CHAIN_H

#include <stddef.h>

typedef struct chain_ctx chain_ctx;

/* Start OpenSSL's SHA-256 (once; cheap after): 0, or -1 if it could not
 * (no memory).  eg_chain_new calls it. */
int eg_chain_init(void);
/* That SHA-256 for EVP_Digest* (the other users of OpenSSL), or NULL. */
const struct evp_md_st *eg_chain_sha256(void);
/* A context, or NULL (no memory, or OpenSSL could not start). */
chain_ctx *eg_chain_new(void);
void eg_chain_free(chain_ctx *c);
/* Start a batch after the chain value prev. */
int eg_chain_begin(chain_ctx *c, const unsigned char prev[32]);
int eg_chain_update(chain_ctx *c, const void *p, size_t n);
/* Finish with the commit record's fields and write the new chain value. */
int eg_chain_final(chain_ctx *c, const unsigned char *commit_fields, size_t n,
		unsigned char out[32]);

#endif

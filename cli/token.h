/*
 * token.h — the tokens of engram serve (docs/SERVER.md, Authentication):
 * DIR/tokens.json holds, for each token, its name, scope, streams pattern,
 * creation time and the SHA-256 of the token, never the token itself.
 * engram token (token.c) writes the file; the server (serve_auth.c) reads
 * it again whenever it changes.
 */
#ifndef EG_TOKEN_H
#define EG_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* Scopes, each allowing what the ones below it allow; the same numbers as
 * serve.h's SCOPE_READ, SCOPE_APPEND, SCOPE_ADMIN. */
enum { TOK_READ = 1, TOK_APPEND = 2, TOK_ADMIN = 3 };

#define TOK_NAME_MAX 64
#define TOK_PATTERN_MAX 256
#define TOK_FILE "tokens.json"

typedef struct tok_entry {
	char name[TOK_NAME_MAX + 1];
	char streams[TOK_PATTERN_MAX + 1]; /* a glob (fnmatch); "*": every stream */
	int scope;
	int64_t created;                   /* microseconds since the epoch */
	unsigned char hash[32];            /* SHA-256 of the token's text */
} tok_entry;

/* The tokens of DIR/tokens.json (malloc'd, *n of them; none when there is
 * no file).  0, or -1 with err saying why (an unreadable or damaged file). */
int tok_load(const char *dir, tok_entry **v, size_t *n, char *err, size_t cap);

/* "read", "append", "admin"; and back (0 for another word). */
const char *tok_scope_name(int scope);
int tok_scope_parse(const char *s);

/* SHA-256 of a token's text. */
void tok_hash(const char *token, size_t n, unsigned char res[32]);

/* Does e's streams pattern allow the stream s (n bytes, maybe not
 * NUL-terminated, maybe holding a NUL)? */
int tok_stream_allowed(const tok_entry *e, const char *s, size_t n);

/* base64url without padding of n bytes into res (4 * n / 3 + 2 bytes at
 * least); returns its length, NUL-terminated. */
size_t tok_b64url(const unsigned char *in, size_t n, char *res);

#endif

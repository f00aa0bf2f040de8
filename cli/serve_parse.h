/*
 * serve_parse.h — the parsing engram serve does itself of what a request
 * carries (its headers and the small bodies it reads), apart from
 * libmicrohttpd so that fuzz/fuzz_serve.c can drive it.  The NDJSON of
 * an append and the queries' JSON are the library's to parse.
 */
#ifndef EG_SERVE_PARSE_H
#define EG_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* May a body of Content-Type t (NULL: none sent) be NDJSON? */
int srv_ndjson_type(const char *t);

/* The Expected-Version header (NULL: none) into *res: -1 any, 0 new, N.
 * 0, or -1 when it is none of those. */
int srv_expected_version(const char *v, int64_t *res);

/* The stream of one NDJSON line of an append (dflt when it names none),
 * as the store will read it: 1 with it in buf (*n bytes, at most cap), 0
 * when the store will refuse the line anyway (not a string), -1 when the
 * line cannot be read (then it is refused, not let through unchecked). */
int srv_line_stream(const char *p, size_t len, const char *dflt, char *buf, size_t cap,
		    size_t *n);

/* The body {"pos": P} of a consumer's ack or nack: 0 with *pos, or -1
 * with err saying what was expected. */
int srv_ack_pos(const char *body, size_t len, uint64_t *pos, char *err, size_t cap);

#endif

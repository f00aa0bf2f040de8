/*
 * buf.h — a growable byte buffer, for derived state built in memory
 * (projections, windows, sessions), and a bounds-checked reader for
 * reading such state back from its files.
 */
#ifndef EG_BUF_H
#define EG_BUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

/* Room for n more bytes; -1 if out of memory. */
static inline int buf_reserve(buf *b, size_t n)
{
	if (n > SIZE_MAX / 2 - b->n)   /* the sum or the doubling would overflow */
		return -1;
	if (b->n + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->n + n)
		cap *= 2;
	char *q = realloc(b->p, cap);
	if (!q)
		return -1;
	b->p = q;
	b->cap = cap;
	return 0;
}

/* Make the array *p of elements of size bytes hold at least need of them,
 * doubling its capacity *cap (from 8); -1 if out of memory or the size
 * would overflow (the array is then as it was). */
static inline int buf_grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 8;
	while (c < need) {
		if (c > SIZE_MAX / 2 / size)
			return -1;
		c *= 2;
	}
	void *q = realloc(*(void **)p, c * size);
	if (!q)
		return -1;
	*(void **)p = q;
	*cap = c;
	return 0;
}

/* Append n bytes; -1 if out of memory. */
static inline int buf_add(buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
	return 0;
}

/* Append a NUL-terminated string; -1 if out of memory. */
static inline int buf_puts(buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Append s[0..n) (raw UTF-8) as a JSON string literal; -1 if out of memory. */
static inline int buf_quote(buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, 6 * n + 2))
		return -1;
	b->n += eg_json_quote(s, n, b->p + b->n);
	return 0;
}

/* Bytes of a derived file read back with bounds checked: a read past the
 * end sets bad, which sticks, and gives NULL or 0; the caller checks bad
 * once at the end. */
typedef struct bread {
	const unsigned char *p, *end;
	int bad;
} bread;

/* The next n bytes, or NULL. */
static inline const unsigned char *bread_get(bread *r, uint64_t n)
{
	if (r->bad || (uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const unsigned char *q = r->p;
	r->p += n;
	return q;
}

static inline uint32_t bread_u32(bread *r)
{
	const unsigned char *q = bread_get(r, 4);
	uint32_t v = 0;
	if (q)
		memcpy(&v, q, 4);
	return v;
}

static inline uint64_t bread_u64(bread *r)
{
	const unsigned char *q = bread_get(r, 8);
	uint64_t v = 0;
	if (q)
		memcpy(&v, q, 8);
	return v;
}

#endif

/*
 * buf.h — a growable byte buffer, for derived state built in memory
 * (projections, windows).
 */
#ifndef EG_BUF_H
#define EG_BUF_H

#include <stdlib.h>
#include <string.h>

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

/* Room for n more bytes; -1 if out of memory. */
static inline int buf_reserve(buf *b, size_t n)
{
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

#endif

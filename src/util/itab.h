/*
 * itab.h — texts interned to dense ids, numbered in order of first sight:
 * the stream names and urls of sessions, the groups and by values of
 * funnels.  The caller hashes (it often has the hash already); the table
 * compares the texts, so a hash collision never merges two of them.
 */
#ifndef EG_ITAB_H
#define EG_ITAB_H

#include "buf.h"

#include <stdint.h>

typedef struct sname {
	uint64_t hash;
	uint32_t off, len;            /* in the table's text */
} sname;

/* A slot of the open-addressing table holds what a lookup compares, the
 * first ITAB_HEAD bytes of the text among it, so that finding a short
 * text (a stream name) touches one cache line rather than three. */
#define ITAB_HEAD 16
typedef struct islot {
	uint64_t hash;
	uint32_t id1, len;            /* id + 1, 0: empty */
	char head[ITAB_HEAD];         /* the text's first bytes, zero-padded */
} islot;

typedef struct itab {
	sname *e;                     /* by id */
	uint32_t n, cap;
	islot *slot;
	uint32_t scap;
	buf text;
} itab;

/* The id of text s (hash hv), added if new (the caller sees t->n grow):
 * UINT32_MAX when out of memory or past 4 GiB of text. */
uint32_t eg_itab_get(itab *t, uint64_t hv, const char *s, uint32_t len);
/* The id of text s, or UINT32_MAX when it is not in t. */
uint32_t eg_itab_find(const itab *t, uint64_t hv, const char *s, uint32_t len);
/* Ask for the slot where text of hash hv would be looked up, ahead of the
 * lookup. */
static inline void itab_prefetch(const itab *t, uint64_t hv)
{
	if (t->scap)
		__builtin_prefetch(&t->slot[(uint32_t)hv & (t->scap - 1)]);
}
/* Text of id. */
static inline const char *itab_text(const itab *t, uint32_t id)
{
	return t->text.p + t->e[id].off;
}
/* Sort ids (of t) by the bytes of their texts. */
void eg_itab_sort(const itab *t, uint32_t *ids, uint32_t n);
void eg_itab_free(itab *t);

#endif

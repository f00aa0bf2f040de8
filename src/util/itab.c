/*
 * itab.c — texts interned to dense ids (itab.h): linear probing over a
 * power-of-two slot array, at most three quarters full.  A slot carries
 * the hash, the length and the first bytes of its text, so that a lookup
 * of a short text reads the slot alone.
 */
#include "itab.h"

#include <stdlib.h>
#include <string.h>

/* Does slot x hold text s? */
static inline int holds(const itab *t, const islot *x, uint64_t hv, const char *s, uint32_t len)
{
	if (x->hash != hv || x->len != len)
		return 0;
	if (len <= ITAB_HEAD) {
		char h[ITAB_HEAD] = { 0 };
		if (len)
			memcpy(h, s, len);
		return !memcmp(h, x->head, ITAB_HEAD);
	}
	return !memcmp(x->head, s, ITAB_HEAD) &&
	       !memcmp(t->text.p + t->e[x->id1 - 1].off + ITAB_HEAD, s + ITAB_HEAD, len - ITAB_HEAD);
}

/* The slot holding text s, or the empty one where it would go. */
static uint32_t probe(const itab *t, uint64_t hv, const char *s, uint32_t len)
{
	uint32_t m = t->scap - 1, i = (uint32_t)hv & m;
	while (t->slot[i].id1 && !holds(t, &t->slot[i], hv, s, len))
		i = (i + 1) & m;
	return i;
}

static void fill_slot(islot *x, const sname *e, const char *text, uint32_t id)
{
	*x = (islot){ .hash = e->hash, .id1 = id + 1, .len = e->len };
	if (e->len)                   /* (text is NULL while only empty texts are in) */
		memcpy(x->head, text + e->off, e->len < ITAB_HEAD ? e->len : ITAB_HEAD);
}

static int rehash(itab *t)
{
	uint32_t cap = t->scap ? t->scap * 2 : 1024;
	islot *slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = (uint32_t)t->e[id].hash & (cap - 1);
		while (slot[i].id1)
			i = (i + 1) & (cap - 1);
		fill_slot(&slot[i], &t->e[id], t->text.p, id);
	}
	free(t->slot);
	t->slot = slot;
	t->scap = cap;
	return 0;
}

uint32_t eg_itab_find(const itab *t, uint64_t hv, const char *s, uint32_t len)
{
	if (!t->scap)
		return UINT32_MAX;
	uint32_t v = t->slot[probe(t, hv, s, len)].id1;
	return v ? v - 1 : UINT32_MAX;
}

uint32_t eg_itab_get(itab *t, uint64_t hv, const char *s, uint32_t len)
{
	if ((uint64_t)(t->n + 1) * 4 > (uint64_t)t->scap * 3 && rehash(t))
		return UINT32_MAX;
	uint32_t i = probe(t, hv, s, len);
	if (t->slot[i].id1)
		return t->slot[i].id1 - 1;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		sname *e = realloc(t->e, (size_t)cap * sizeof *e);
		if (!e)
			return UINT32_MAX;
		t->e = e;
		t->cap = cap;
	}
	if (t->text.n + len > UINT32_MAX || buf_add(&t->text, s, len))
		return UINT32_MAX;
	t->e[t->n] = (sname){ hv, (uint32_t)(t->text.n - len), len };
	fill_slot(&t->slot[i], &t->e[t->n], t->text.p, t->n);
	return t->n++;
}

static int cmp_text(const void *a, const void *b, void *ctx)
{
	const itab *t = ctx;
	const sname *x = &t->e[*(const uint32_t *)a], *y = &t->e[*(const uint32_t *)b];
	int c = memcmp(t->text.p + x->off, t->text.p + y->off, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

void eg_itab_sort(const itab *t, uint32_t *ids, uint32_t n)
{
	qsort_r(ids, n, sizeof *ids, cmp_text, (void *)t);
}

void eg_itab_free(itab *t)
{
	free(t->e);
	free(t->slot);
	free(t->text.p);
	memset(t, 0, sizeof *t);
}

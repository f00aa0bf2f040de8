/*
 * itab.c — texts interned to dense ids (itab.h): linear probing over a
 * power-of-two slot array, at most three quarters full.
 */
#include "itab.h"

#include <stdlib.h>
#include <string.h>

/* memcmp(a, b, n) == 0, without a call for short names such as streams. */
static inline int same_text(const char *a, const char *b, uint32_t n)
{
	if (n < 8 || n > 16)
		return !memcmp(a, b, n);
	uint64_t a0, b0, a1, b1;
	memcpy(&a0, a, 8);
	memcpy(&b0, b, 8);
	memcpy(&a1, a + n - 8, 8);
	memcpy(&b1, b + n - 8, 8);
	return a0 == b0 && a1 == b1;
}

/* The slot holding text s, or the empty one where it would go. */
static uint32_t probe(const itab *t, uint64_t hv, const char *s, uint32_t len)
{
	uint32_t m = t->scap - 1, i = (uint32_t)hv & m, v;
	while ((v = t->slot[i])) {
		const sname *e = &t->e[v - 1];
		if (e->hash == hv && e->len == len && same_text(t->text.p + e->off, s, len))
			break;
		i = (i + 1) & m;
	}
	return i;
}

static int rehash(itab *t)
{
	uint32_t cap = t->scap ? t->scap * 2 : 1024;
	uint32_t *slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = (uint32_t)t->e[id].hash & (cap - 1);
		while (slot[i])
			i = (i + 1) & (cap - 1);
		slot[i] = id + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->scap = cap;
	return 0;
}

uint32_t itab_find(const itab *t, uint64_t hv, const char *s, uint32_t len)
{
	if (!t->scap)
		return UINT32_MAX;
	uint32_t v = t->slot[probe(t, hv, s, len)];
	return v ? v - 1 : UINT32_MAX;
}

uint32_t itab_get(itab *t, uint64_t hv, const char *s, uint32_t len)
{
	if ((uint64_t)(t->n + 1) * 4 > (uint64_t)t->scap * 3 && rehash(t))
		return UINT32_MAX;
	uint32_t i = probe(t, hv, s, len);
	if (t->slot[i])
		return t->slot[i] - 1;
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
	t->slot[i] = t->n + 1;
	return t->n++;
}

static int cmp_text(const void *a, const void *b, void *ctx)
{
	const itab *t = ctx;
	const sname *x = &t->e[*(const uint32_t *)a], *y = &t->e[*(const uint32_t *)b];
	int c = memcmp(t->text.p + x->off, t->text.p + y->off, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

void itab_sort(const itab *t, uint32_t *ids, uint32_t n)
{
	qsort_r(ids, n, sizeof *ids, cmp_text, (void *)t);
}

void itab_free(itab *t)
{
	free(t->e);
	free(t->slot);
	free(t->text.p);
	memset(t, 0, sizeof *t);
}

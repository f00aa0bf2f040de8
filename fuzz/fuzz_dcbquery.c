/*
 * fuzz_dcbquery.c — libFuzzer target for the query of conditional appends
 * (src/store/query.c, docs/CONSISTENCY.md).  Whatever parses must print
 * each item canonically, that text must parse back to one item printing
 * the same, and an event made of the item's first type and all its tags
 * must match it (or an earlier item); a refusal must say why.
 */
#include "engram.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* An event with the first type and every tag of a canonical item text. */
static int event_of(char *text, eg_event *e, char *tags)
{
	size_t tl = 0;
	int ntags = 0;
	e->type = "no type given";
	e->type_len = strlen(e->type);
	for (char *part = strtok(text, " "); part; part = strtok(NULL, " ")) {
		char *eq = strchr(part, '=');
		CHECK(eq);
		*eq = 0;
		char *names = eq + 1;
		if (!strcmp(part, "types")) {
			char *c = strchr(names, ',');
			e->type = names;
			e->type_len = c ? (size_t)(c - names) : strlen(names);
			continue;
		}
		CHECK(!strcmp(part, "tags"));
		for (char *t = names; t; ) {
			char *c = strchr(t, ',');
			size_t n = c ? (size_t)(c - t) : strlen(t);
			CHECK(n >= 1 && n <= 128);
			if (n >= 128) {
				tags[tl++] = (char)(0x80 | (n & 0x7f));
				tags[tl++] = (char)(n >> 7);
			} else {
				tags[tl++] = (char)n;
			}
			memcpy(tags + tl, t, n);
			tl += n;
			ntags++;
			t = c ? c + 1 : NULL;
		}
	}
	e->tags = tags;
	e->tags_len = tl;
	e->ntags = (uint32_t)ntags;
	return ntags;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	eg_query *q = NULL;
	char err[256] = "";
	int rc = eg_query_add(&q, s, err, sizeof err);
	if (rc) {
		CHECK(rc == EG_EINVAL && err[0]);
		eg_query_free(q);
		free(s);
		return 0;
	}
	int n = eg_query_items(q);
	CHECK(n >= 1);
	size_t cap = 2 * size + 64;
	char *t = malloc(cap), *t2 = malloc(cap), *tags = malloc(cap + 64);
	for (int i = 1; t && t2 && tags && i <= n; i++) {
		size_t len = eg_query_item_text(q, i, t, cap);
		CHECK(len < cap && len == strlen(t) && len > 0);
		eg_query *r = NULL;
		CHECK(eg_query_add(&r, t, err, sizeof err) == EG_OK && eg_query_items(r) == 1);
		eg_query_item_text(r, 1, t2, cap);
		CHECK(!strcmp(t, t2));
		eg_query_free(r);
		if (!strcmp(t, "all"))
			continue;
		eg_event e;
		memset(&e, 0, sizeof e);
		event_of(t, &e, tags);
		int m = eg_query_match(q, &e);
		CHECK(m >= 1 && m <= i);
	}
	free(t);
	free(t2);
	free(tags);
	eg_query_free(q);
	free(s);
	return 0;
}

/*
 * query.c — the query of the Dynamic Consistency Boundary specification
 * (dcb.events; docs/CONSISTENCY.md): items OR'd, each a set of types
 * (OR'd) and a set of tags (AND'd).  Parsing its text, matching an event,
 * and finding, through the key index, the first event after a position
 * that matches: the check of a conditional append, whose cost is that of
 * the matching events after the position, not of the log.
 */
#include "internal.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_ITEMS_MAX 256
#define QUERY_TYPES_MAX 64

typedef struct qname {
	const char *s;
	size_t n;
} qname;

typedef struct qitem {
	int all;                     /* every event */
	qname *types, *tags;
	uint32_t ntypes, ntags;
} qitem;

struct eg_query {
	qitem *items;
	uint32_t n;
	char **texts;                /* the copies the names point into */
	uint32_t ntexts;
};

static int qerr(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int qerr(char *err, size_t cap, const char *fmt, ...)
{
	if (cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return EG_EINVAL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* At most 40 bytes of s for a message, not cutting a UTF-8 character. */
static int cut40(const char *s, size_t n)
{
	if (n <= 40)
		return (int)n;
	size_t m = 40;
	while (m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
		m--;
	return (int)m;
}

/* The comma-separated names of one part (types=... or tags=...), in
 * [p, end), into *out (malloc'd); repeats are dropped. */
static int parse_names(const char *key, int tags, int item, const char *p, const char *end,
		       qname **out, uint32_t *nout, char *err, size_t cap)
{
	uint32_t max = tags ? TAGS_MAX : QUERY_TYPES_MAX;
	if (p == end)
		return qerr(err, cap, "query item %d: %s= needs at least one name", item, key);
	qname *v = calloc(max, sizeof *v);
	if (!v)
		return qerr(err, cap, "out of memory");
	uint32_t k = 0;
	while (p <= end) {
		const char *q = p;
		while (q < end && *q != ',')
			q++;
		size_t n = (size_t)(q - p);
		if (n == 0) {
			free(v);
			return qerr(err, cap, "query item %d: an empty name in %s=", item, key);
		}
		if (tags && n > TAG_MAX) {
			free(v);
			return qerr(err, cap, "query item %d: tag longer than %d bytes (%zu bytes: "
				    "%.*s...)", item, TAG_MAX, n, cut40(p, n), p);
		}
		if (!tags && n > NAME_MAX_LEN) {
			free(v);
			return qerr(err, cap, "query item %d: type longer than %d bytes", item,
				    NAME_MAX_LEN);
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
				free(v);
				return qerr(err, cap, "query item %d: a control character in %s=",
					    item, key);
			}
		if (!eg_json_utf8_valid(p, n)) {
			free(v);
			return qerr(err, cap, "query item %d: a name in %s= is not valid UTF-8",
				    item, key);
		}
		int dup = 0;
		for (uint32_t j = 0; j < k && !dup; j++)
			dup = v[j].n == n && !memcmp(v[j].s, p, n);
		if (!dup) {
			if (k == max) {
				free(v);
				return qerr(err, cap, "query item %d: more than %u %s", item, max,
					    key);
			}
			v[k++] = (qname){ p, n };
		}
		p = q + 1;
	}
	*out = v;
	*nout = k;
	return EG_OK;
}

static void item_free(qitem *it)
{
	free(it->types);
	free(it->tags);
}

/* One item, [p, end) with no ';': "all", or "types=a,b tags=x,y" (either
 * part, in any order, at least one). */
static int parse_item(int item, const char *p, const char *end, qitem *it, char *err,
		      size_t cap)
{
	memset(it, 0, sizeof *it);
	int parts = 0, seen_types = 0, seen_tags = 0;
	for (;;) {
		while (p < end && is_space(*p))
			p++;
		if (p == end)
			break;
		const char *q = p;
		while (q < end && !is_space(*q))
			q++;
		size_t n = (size_t)(q - p);
		const char *eq = memchr(p, '=', n);
		parts++;
		if (n == 3 && !memcmp(p, "all", 3)) {
			it->all = 1;
			p = q;
			continue;
		}
		if (!eq) {
			item_free(it);
			return qerr(err, cap, "query item %d: expected types=NAMES, tags=NAMES or all, "
				    "got \"%.*s\"", item, cut40(p, n), p);
		}
		size_t kn = (size_t)(eq - p);
		int rc;
		if (kn == 5 && !memcmp(p, "types", 5)) {
			if (seen_types++) {
				item_free(it);
				return qerr(err, cap, "query item %d: types= is given twice", item);
			}
			rc = parse_names("types", 0, item, eq + 1, q, &it->types, &it->ntypes, err, cap);
		} else if (kn == 4 && !memcmp(p, "tags", 4)) {
			if (seen_tags++) {
				item_free(it);
				return qerr(err, cap, "query item %d: tags= is given twice", item);
			}
			rc = parse_names("tags", 1, item, eq + 1, q, &it->tags, &it->ntags, err, cap);
		} else {
			item_free(it);
			return qerr(err, cap, "query item %d: unknown key \"%.*s\" (expected types or "
				    "tags)", item, cut40(p, kn), p);
		}
		if (rc) {
			item_free(it);
			return rc;
		}
		p = q;
	}
	if (!parts) {
		item_free(it);
		return qerr(err, cap, "query item %d is empty (expected types=NAMES, tags=NAMES "
			    "or all)", item);
	}
	if (it->all && parts > 1) {
		item_free(it);
		return qerr(err, cap, "query item %d: all stands alone in its item", item);
	}
	return EG_OK;
}

int eg_query_add(eg_query **qp, const char *text, char *err, size_t errlen)
{
	eg_query *q = *qp;
	if (!q && !(q = calloc(1, sizeof *q)))
		return qerr(err, errlen, "out of memory");
	*qp = q;
	size_t len = strlen(text);
	char *copy = malloc(len + 1);
	char **tx = realloc(q->texts, (q->ntexts + 1) * sizeof *tx);
	if (tx)
		q->texts = tx;
	if (!copy || !tx) {
		free(copy);
		return qerr(err, errlen, "out of memory");
	}
	memcpy(copy, text, len + 1);
	q->texts[q->ntexts++] = copy;
	const char *p = copy, *end = copy + len;
	uint32_t first = q->n;
	for (;;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		if (q->n == QUERY_ITEMS_MAX)
			return qerr(err, errlen, "a query has at most %d items", QUERY_ITEMS_MAX);
		qitem *ni = realloc(q->items, (q->n + 1) * sizeof *ni);
		if (!ni)
			return qerr(err, errlen, "out of memory");
		q->items = ni;
		int rc = parse_item((int)q->n + 1, p, e, &q->items[q->n], err, errlen);
		if (rc) {
			/* the items of this text go: the query is as it was */
			while (q->n > first)
				item_free(&q->items[--q->n]);
			return rc;
		}
		q->n++;
		if (!semi)
			break;
		p = semi + 1;
	}
	return EG_OK;
}

void eg_query_free(eg_query *q)
{
	if (!q)
		return;
	for (uint32_t i = 0; i < q->n; i++)
		item_free(&q->items[i]);
	for (uint32_t i = 0; i < q->ntexts; i++)
		free(q->texts[i]);
	free(q->texts);
	free(q->items);
	free(q);
}

int eg_query_items(const eg_query *q)
{
	return q ? (int)q->n : 0;
}

static size_t put_names(char *buf, size_t cap, size_t at, const char *key, const qname *v,
			uint32_t n)
{
	at += (size_t)snprintf(buf + (at < cap ? at : cap), at < cap ? cap - at : 0, "%s%s=",
			       at ? " " : "", key);
	for (uint32_t i = 0; i < n; i++)
		at += (size_t)snprintf(buf + (at < cap ? at : cap), at < cap ? cap - at : 0,
				       "%s%.*s", i ? "," : "", (int)v[i].n, v[i].s);
	return at;
}

size_t eg_query_item_text(const eg_query *q, int i, char *buf, size_t cap)
{
	if (cap)
		buf[0] = 0;
	if (!q || i < 1 || (uint32_t)i > q->n)
		return 0;
	const qitem *it = &q->items[i - 1];
	if (it->all)
		return (size_t)snprintf(buf, cap, "all");
	size_t at = 0;
	if (it->ntypes)
		at = put_names(buf, cap, at, "types", it->types, it->ntypes);
	if (it->ntags)
		at = put_names(buf, cap, at, "tags", it->tags, it->ntags);
	return at;
}

static int has_tag(const eg_event *e, const qname *t)
{
	size_t off = 0, n;
	const char *s;
	while (eg_event_tag(e, &off, &s, &n))
		if (n == t->n && !memcmp(s, t->s, n))
			return 1;
	return 0;
}

static int item_match(const qitem *it, const eg_event *e)
{
	if (it->all)
		return 1;
	if (it->ntypes) {
		uint32_t j = 0;
		while (j < it->ntypes && (it->types[j].n != e->type_len ||
					  memcmp(it->types[j].s, e->type, e->type_len)))
			j++;
		if (j == it->ntypes)
			return 0;
	}
	if (it->ntags > e->ntags)
		return 0;
	for (uint32_t j = 0; j < it->ntags; j++)
		if (!has_tag(e, &it->tags[j]))
			return 0;
	return 1;
}

int eg_query_match(const eg_query *q, const eg_event *e)
{
	for (uint32_t i = 0; q && i < q->n; i++)
		if (item_match(&q->items[i], e))
			return (int)i + 1;
	return 0;
}

/* ------------------------------------------------------------- the check */

/* Keep in a (n, ascending) the positions also in b (m, ascending). */
static size_t intersect(uint64_t *a, size_t n, const uint64_t *b, size_t m)
{
	size_t i = 0, j = 0, k = 0;
	while (i < n && j < m) {
		if (a[i] < b[j])
			i++;
		else if (a[i] > b[j])
			j++;
		else
			a[k++] = a[i++], j++;
	}
	return k;
}

/* The first position > after of an event that item matches, through the
 * key index: *pos, 0 if none. */
static int item_find(eg_store *st, const qitem *it, uint64_t after, uint64_t head,
		     uint64_t *pos)
{
	*pos = 0;
	if (it->all) {
		*pos = head > after ? after + 1 : 0;
		return EG_OK;
	}
	int rc = EG_OK;
	if (!it->ntags) {
		/* types only: the smallest of each type's positions after (chunk
		 * headers, and the one chunk that straddles `after`) */
		for (uint32_t j = 0; j < it->ntypes && rc == EG_OK; j++) {
			uint64_t k = eg_index_key_find(st, 1, it->types[j].s, it->types[j].n), p;
			if (!k || (rc = eg_index_first_after(st, k - 1, after, &p)))
				continue;
			if (p && (!*pos || p < *pos))
				*pos = p;
		}
		return rc;
	}
	/* tags AND'd: every tag's positions after, intersected */
	uint64_t *cand = NULL;
	size_t nc = 0;
	for (uint32_t j = 0; j < it->ntags; j++) {
		uint64_t k = eg_index_key_find(st, 2, it->tags[j].s, it->tags[j].n);
		uint64_t *p;
		size_t n;
		if (!k) {
			free(cand);
			return EG_OK;
		}
		if ((rc = eg_index_postings_after(st, k - 1, after, &p, &n))) {
			free(cand);
			return rc;
		}
		if (j == 0) {
			cand = p;
			nc = n;
		} else {
			nc = intersect(cand, nc, p, n);
			free(p);
		}
		if (!nc)
			break;
	}
	/* types: each candidate's own record says (candidates are the
	 * events with all the tags after the position: few) */
	unsigned char *buf = NULL;
	size_t cap = 0, len;
	for (size_t i = 0; i < nc && rc == EG_OK && !*pos; i++) {
		if (!it->ntypes) {
			*pos = cand[i];
			break;
		}
		rec_event re;
		if ((rc = eg_store_read_event(st, cand[i], &buf, &cap, &len)))
			break;
		if (!eg_rec_event_decode(buf, len, &re)) {
			rc = eg_st_err(st, EG_ECORRUPT, "the record of position %llu is damaged; "
				       "run engram verify", (unsigned long long)cand[i]);
			break;
		}
		if (item_match(it, &re.ev))
			*pos = cand[i];
	}
	free(buf);
	free(cand);
	return rc;
}

/* Keep the distinct values of the ascending a[0..n). */
static size_t dedupe(uint64_t *a, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || a[k - 1] != a[i])
			a[k++] = a[i];
	return k;
}

static int cmp_pos(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Append src[0..n) to *dst (*dn of them). */
static int add_all(eg_store *st, uint64_t **dst, size_t *dn, const uint64_t *src, size_t n)
{
	if (!n)
		return EG_OK;
	uint64_t *g = realloc(*dst, (*dn + n) * sizeof *g);
	if (!g)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	memcpy(g + *dn, src, n * sizeof *g);
	*dst = g;
	*dn += n;
	return EG_OK;
}

/* The positions of one item's candidates beyond after: the events with
 * all its tags (its types left to the match), or of one of its types. */
static int item_candidates(eg_store *st, const qitem *it, uint64_t after, uint64_t **out,
			   size_t *n)
{
	*out = NULL;
	*n = 0;
	int tags = it->ntags > 0;
	uint32_t nk = tags ? it->ntags : it->ntypes;
	for (uint32_t j = 0; j < nk; j++) {
		const qname *nm = tags ? &it->tags[j] : &it->types[j];
		uint64_t k = eg_index_key_find(st, tags ? 2 : 1, nm->s, nm->n), *p;
		size_t m;
		int rc;
		if (!k) {
			if (!tags)
				continue;
			free(*out);   /* a tag nobody has: nothing has them all */
			*out = NULL;
			*n = 0;
			return EG_OK;
		}
		if ((rc = eg_index_postings_after(st, k - 1, after, &p, &m))) {
			free(*out);
			*out = NULL;
			return rc;
		}
		if (tags && j) {
			*n = intersect(*out, *n, p, m);
			free(p);
		} else if (tags) {
			*out = p;
			*n = m;
		} else {
			rc = add_all(st, out, n, p, m);
			free(p);
			if (rc)
				return rc;
		}
		if (tags && !*n)
			break;
	}
	if (!tags && *n > 1)   /* types partition the log: no repeats */
		qsort(*out, *n, sizeof **out, cmp_pos);
	return EG_OK;
}

int eg_query_positions(eg_store *st, const eg_query *q, uint64_t after, uint64_t **out,
		       size_t *n)
{
	*out = NULL;
	*n = 0;
	for (uint32_t i = 0; i < q->n; i++)
		if (q->items[i].all)
			return EG_ENOTFOUND;
	for (uint32_t i = 0; i < q->n; i++) {
		uint64_t *p;
		size_t m;
		int rc = item_candidates(st, &q->items[i], after, &p, &m);
		if (!rc)
			rc = add_all(st, out, n, p, m);
		free(p);
		if (rc) {
			free(*out);
			*out = NULL;
			*n = 0;
			return rc;
		}
	}
	if (q->n > 1 && *n > 1) {
		qsort(*out, *n, sizeof **out, cmp_pos);
		*n = dedupe(*out, *n);
	}
	return EG_OK;
}

/* Without a usable index (a reader's lagging one): the log from after. */
static int scan_find(eg_store *st, const eg_query *q, uint64_t after, uint64_t head,
		     uint64_t *pos, int *item)
{
	eg_filter f = { .from = after + 1, .to = head };
	eg_iter *it;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		int m = eg_query_match(q, e);
		if (m) {
			*pos = e->pos;
			*item = m;
			break;
		}
	}
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_query_find(eg_store *st, const eg_query *q, uint64_t after, uint64_t *pos, int *item)
{
	*pos = 0;
	*item = 0;
	uint64_t head = st->log.head_pos;
	if (!q || after >= head)
		return EG_OK;
	if (!st->ix.usable || st->ix.st.through_pos < head)
		return scan_find(st, q, after, head, pos, item);
	for (uint32_t i = 0; i < q->n; i++) {
		uint64_t p;
		int rc = item_find(st, &q->items[i], after, head, &p);
		if (rc)
			return rc;
		if (p && (!*pos || p < *pos)) {
			*pos = p;
			*item = (int)i + 1;
		}
	}
	return EG_OK;
}

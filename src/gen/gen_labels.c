/*
 * gen_labels.c — `engram gen labels --from orders`: training labels for the
 * orders that `engram gen orders` writes ("did this customer order again
 * within 30 days of the cutoff?"), for trying `engram features` on.
 *
 * The orders come from running the orders simulation itself (gen.c) with
 * a callback for each order placed, not from parsing its lines: one copy
 * of the simulation, and the labels match the events by construction.
 */
#include "engram.h"
#include "gen_util.h"

#define DEFAULT_HORIZON_US (30 * DAY_US)

/* The orders placed, in event-time order. */
typedef struct placed {
	uint32_t customer;
	int64_t t;
} placed;

typedef struct plist {
	placed *a;
	size_t n, cap;
	int nomem;
} plist;

static void on_placed(void *ctx, uint32_t customer, int64_t t)
{
	plist *p = ctx;
	if (p->n == p->cap && !p->nomem) {
		size_t cap = p->cap ? 2 * p->cap : 4096;
		placed *a = realloc(p->a, cap * sizeof *a);
		if (!a) {
			p->nomem = 1;
			return;
		}
		p->a = a;
		p->cap = cap;
	}
	if (!p->nomem)
		p->a[p->n++] = (placed){ customer, t };
}

/* Each customer's order times, ascending: times[first[c], first[c + 1]).
 * A counting sort that keeps the time order of the input. */
typedef struct by_customer {
	size_t *first;
	int64_t *times;
} by_customer;

static int group(const plist *p, uint32_t customers, by_customer *g)
{
	g->first = calloc((size_t)customers + 2, sizeof *g->first);
	g->times = malloc((p->n ? p->n : 1) * sizeof *g->times);
	if (!g->first || !g->times)
		return -1;
	for (size_t i = 0; i < p->n; i++)
		g->first[p->a[i].customer + 1]++;
	for (uint32_t c = 1; c <= customers + 1; c++)
		g->first[c] += g->first[c - 1];
	/* first[c] is now where c's run starts; fill moving first[c] forward,
	 * then shift back. */
	for (size_t i = 0; i < p->n; i++)
		g->times[g->first[p->a[i].customer]++] = p->a[i].t;
	for (uint32_t c = customers + 1; c > 0; c--)
		g->first[c] = g->first[c - 1];
	g->first[0] = 0;
	return 0;
}

/* Where each customer is: its next cutoff and its first order at or after
 * that cutoff (orders before it no longer matter: cutoffs only grow). */
typedef struct cursor {
	int64_t cutoff;
	size_t next;
} cursor;

/* A deterministic choice of rows: a hash of the seed, customer and cutoff
 * against the fraction kept. */
static int sampled(uint64_t seed, uint32_t customer, int64_t cutoff, double sample)
{
	if (sample <= 0 || sample >= 1)
		return 1;
	uint64_t x = seed ^ ((uint64_t)customer << 40) ^ (uint64_t)cutoff;
	x = splitmix64(&x);
	return (double)(x >> 11) * 0x1.0p-53 < sample;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void put_row(gbuf *w, uint32_t customer, int64_t cutoff, int label)
{
	PUT(w, "customer-");
	put_uint(w, customer, 5);
	put_char(w, ',');
	put_time(w, cutoff);
	put(w, label ? ",1\n" : ",0\n", 3);
}

/* Write the rows of every customer in the heap, in cutoff order (ties by
 * customer): the heap holds each customer's next cutoff. */
static int write_rows(gbuf *w, heap *h, cursor *cur, const by_customer *g,
		      const eg_gen_opts *o, const eg_gen_labels_opts *l, int64_t horizon,
		      int64_t last)
{
	uint32_t *tied = NULL;
	size_t ntied = 0, cap = 0;
	int rc = -1;
	while (h->n) {
		int64_t t = h->a[0].t;
		ntied = 0;
		while (h->n && h->a[0].t == t) {
			if (ntied == cap) {
				cap = cap ? 2 * cap : 16;
				uint32_t *a = realloc(tied, cap * sizeof *a);
				if (!a)
					goto done;
				tied = a;
			}
			tied[ntied++] = h->a[0].i;
			heap_pop(h);
		}
		qsort(tied, ntied, sizeof *tied, cmp_u32);
		for (size_t k = 0; k < ntied; k++) {
			uint32_t c = tied[k];
			cursor *u = &cur[c];
			size_t end = g->first[c + 1];
			while (u->next < end && g->times[u->next] < t)
				u->next++;
			int label = u->next < end && g->times[u->next] < t + horizon;
			if (sampled(o->seed, c, t, l->sample))
				put_row(w, c, t, label);
			if (w->len > BUF_SIZE - 256 && gbuf_flush(w))
				goto done;
			u->cutoff = t + l->every_us;
			if (u->cutoff + horizon <= last && eg_heap_push(h, u->cutoff, c))
				goto done;
		}
	}
	rc = 0;
done:
	free(tied);
	return rc;
}

int eg_gen_labels(FILE *out, const eg_gen_opts *o, const eg_gen_labels_opts *l)
{
	if (!out || !o || !l || l->every_us <= 0 || l->every_us > EG_GEN_MAX_SPAN_US ||
	    l->horizon_us < 0 || l->horizon_us > EG_GEN_MAX_SPAN_US ||
	    !(l->sample >= 0 && l->sample <= 1) || o->customers > EG_GEN_MAX_CUSTOMERS) {
		errno = EINVAL;
		return -1;
	}
	uint32_t customers = o->customers ? (uint32_t)o->customers : ORDERS_CUSTOMERS;
	int64_t horizon = l->horizon_us ? l->horizon_us : DEFAULT_HORIZON_US;
	plist p = { 0 };
	by_customer g = { 0 };
	heap h = { 0 };
	cursor *cur = NULL;
	gbuf w = { .out = out };
	int64_t last;
	int rc = -1;
	if (eg_gen_orders_run(NULL, o, on_placed, &p, &last))
		goto done;
	if (p.nomem || group(&p, customers, &g) ||
	    !(cur = calloc((size_t)customers + 1, sizeof *cur)) || !(w.buf = malloc(BUF_SIZE))) {
		errno = ENOMEM;
		goto done;
	}
	for (uint32_t c = 1; c <= customers; c++) {
		if (g.first[c] == g.first[c + 1])
			continue;   /* never ordered: no labels */
		cur[c] = (cursor){ g.times[g.first[c]] + l->every_us, g.first[c] };
		if (cur[c].cutoff + horizon <= last && eg_heap_push(&h, cur[c].cutoff, c)) {
			errno = ENOMEM;
			goto done;
		}
	}
	PUT(&w, "customer,label_time,");
	const char *col = l->column ? l->column : "reordered_30d";
	put(&w, col, strlen(col));
	put_char(&w, '\n');
	if (write_rows(&w, &h, cur, &g, o, l, horizon, last) || gbuf_finish(&w))
		goto done;
	rc = 0;
done:
	free(p.a);
	free(g.first);
	free(g.times);
	free(h.a);
	free(cur);
	free(w.buf);
	return rc;
}

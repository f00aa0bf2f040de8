/*
 * session.c — sessions per stream by event time, kept up to date from the
 * log (docs/SESSIONS.md).
 *
 * The state is, per stream, its sessions ordered by start.  The sessions
 * of a stream are the runs of its events sorted by time in which each is
 * less than the gap after the one before; so an event joins the session it
 * falls in or within a gap of, starts a new one if there is none, and when
 * it is within a gap of two (a late event that closes a gap) joins them
 * into one.  The result never depends on the order events arrive in: a
 * state taken from a log prefix plus the events after it equals a replay
 * from the start, which is what lets checkpoints (sessfile.c) stand in for
 * the prefix.  Most events come in time order and land on their stream's
 * newest session, which is checked first.
 *
 * A long run reads on a second thread (pipe.c): it extracts each event's
 * stream, client session and, for page views, data.page_url; the engine
 * here takes them in log order.
 */
#include "colsrc.h"
#include "internal.h"
#include "json.h"
#include "os.h"
#include "pipe.h"
#include "record.h"
#include "sess.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

/* A run saves a checkpoint at the first event of every so many positions,
 * kept so that a query known at an earlier time starts near it. */
uint64_t eg_sess_save_every = 1u << 23;
/* Runs over fewer positions than this take no second thread. */
uint64_t eg_sess_pipe_min = 1u << 16;
/* A run that took fewer events than this leaves the newest checkpoint as
 * it is (unless there is none): taking them again is cheaper than writing
 * the whole state. */
uint64_t eg_sess_save_min = 1u << 16;

#define DEFAULT_GAP (30 * 60 * 1000000LL)

/* Room for element n of the array *a (capacity *cap, elem bytes each),
 * doubling from first; the new room is zeroed.  -1 if out of memory. */
static int grow(void *a, uint32_t n, uint32_t *cap, size_t elem, uint32_t first)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : first;
	void *old;                   /* a is a T **: its pointer copied, not type-punned */
	memcpy(&old, a, sizeof old);
	char *p = realloc(old, (size_t)c * elem);
	if (!p)
		return -1;
	memset(p + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
	memcpy(a, &p, sizeof p);
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------ the state */

static void cs_free(ssess *x)
{
	if (x->ncs > 1)
		free(x->cs.many);
	x->ncs = 0;
	x->last_cs = 0;
}

void eg_sess_state_free(sstate *S)
{
	for (uint32_t i = 0; i < S->ns; i++)
		cs_free(&S->s[i]);
	/* a stream named when growing ord failed has no entry in it */
	for (uint32_t i = 0; i < S->streams.n && i < S->capord; i++) {
		free(S->ord[i].ss);
		if (S->ord[i].has_cur)
			cs_free(&S->ord[i].cur);
	}
	eg_itab_free(&S->streams);
	eg_itab_free(&S->urls);
	free(S->ord);
	if (S->s)
		eg_os.munmap(S->s, (size_t)S->caps * sizeof *S->s);
	free(S->freel);
	free(S->born);
	memset(S, 0, sizeof *S);
}

uint32_t eg_sess_stream(sstate *S, const char *name, uint32_t len)
{
	uint32_t id = eg_itab_get(&S->streams, XXH3_64bits(name, len), name, len);
	if (id != UINT32_MAX && grow(&S->ord, id, &S->capord, sizeof *S->ord, 1024))
		return UINT32_MAX;
	return id;
}

/* The pool of sessions reaches a hundred megabytes at ten million events.
 * It lives in its own mapping, grown by mremap (no copy) and backed by
 * transparent huge pages where the system allows: taking it 4 KiB page
 * fault by page fault was a tenth of the run in a virtual machine. */
static int grow_pool(sstate *S)
{
	size_t old = (size_t)S->caps * sizeof *S->s;
	uint32_t c = S->caps ? S->caps * 2 : 4096;
	if (c <= S->caps)
		return -1;
	size_t n = (size_t)c * sizeof *S->s;
	void *p = S->s ? eg_os.mremap(S->s, old, n, MREMAP_MAYMOVE)
		       : eg_os.mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (!S->s)
		(void)madvise(p, n, MADV_HUGEPAGE);            /* a hint */
	S->s = p;
	S->caps = c;
	return 0;
}

uint32_t eg_sess_new(sstate *S, uint32_t stream, uint32_t i)
{
	sorder *o = &S->ord[stream];
	if (grow(&o->ss, o->n, &o->cap, sizeof *o->ss, 4))
		return UINT32_MAX;
	uint32_t id;
	if (S->nfree) {
		id = S->freel[--S->nfree];
	} else {
		if (S->ns == S->caps && grow_pool(S))
			return UINT32_MAX;
		id = S->ns++;
	}
	memset(&S->s[id], 0, sizeof S->s[id]);
	S->s[id].stream = stream;
	memmove(o->ss + i + 1, o->ss + i, (size_t)(o->n - i) * sizeof *o->ss);
	o->ss[i] = id;
	o->n++;
	return id;
}

int eg_sess_drop(sstate *S, uint32_t stream, uint32_t i)
{
	if (grow(&S->freel, S->nfree, &S->capfree, sizeof *S->freel, 256))
		return -1;
	sorder *o = &S->ord[stream];
	uint32_t id = o->ss[i];
	cs_free(&S->s[id]);
	memmove(o->ss + i, o->ss + i + 1, (size_t)(o->n - i - 1) * sizeof *o->ss);
	o->n--;
	S->freel[S->nfree++] = id;
	return 0;
}

static int cs_find(const uint64_t *a, uint32_t n, uint64_t h, uint32_t *at)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < n && a[lo] == h;
}

/* The set lives inline while it holds one hash, then in a sorted array of
 * a power-of-two capacity (at least 4). */
int eg_sess_add_cs(ssess *x, uint64_t h)
{
	if (!h || h == x->last_cs)
		return 0;
	if (x->ncs == 0) {
		x->cs.one = h;
		x->ncs = 1;
	} else if (x->ncs == 1) {
		if (x->cs.one != h) {
			uint64_t *a = malloc(4 * sizeof *a), o = x->cs.one;
			if (!a)
				return -1;
			a[0] = o < h ? o : h;
			a[1] = o < h ? h : o;
			x->cs.many = a;
			x->ncs = 2;
		}
	} else {
		uint32_t at;
		if (!cs_find(x->cs.many, x->ncs, h, &at)) {
			if (x->ncs >= 4 && (x->ncs & (x->ncs - 1)) == 0) {
				uint64_t *a = realloc(x->cs.many, (size_t)x->ncs * 2 * sizeof *a);
				if (!a)
					return -1;
				x->cs.many = a;
			}
			memmove(x->cs.many + at + 1, x->cs.many + at,
				(size_t)(x->ncs - at) * sizeof *x->cs.many);
			x->cs.many[at] = h;
			x->ncs++;
		}
	}
	x->last_cs = h;
	return 0;
}

/* ------------------------------------------------------------ the engine */

/* What a run needs of one event. */
typedef struct sitem {
	uint64_t pos;
	uint64_t ident;               /* non-zero at the first event of a save_every run */
	int64_t time;
	uint64_t shash, cshash, uhash;
	uint32_t soff, slen, uoff, ulen;   /* in the batch's text; ulen 0: no url */
	int page;
} sitem;

#define SB_CAP 2048

typedef struct sbatch {
	sitem *items;
	uint32_t n;
	buf text;
} sbatch;

static int tp_less(int64_t t1, uint64_t p1, int64_t t2, uint64_t p2)
{
	return t1 < t2 || (t1 == t2 && p1 < p2);
}

static int add_to(ssess *x, const sitem *it, uint32_t url1)
{
	if (it->time < x->start)
		x->start = it->time;
	if (it->time > x->end)
		x->end = it->time;
	x->events++;
	if (it->page)
		x->page_views++;
	if (url1) {
		if (!x->entry_url || tp_less(it->time, it->pos, x->entry_t, x->entry_pos)) {
			x->entry_url = url1;
			x->entry_t = it->time;
			x->entry_pos = it->pos;
		}
		if (!x->exit_url || tp_less(x->exit_t, x->exit_pos, it->time, it->pos)) {
			x->exit_url = url1;
			x->exit_t = it->time;
			x->exit_pos = it->pos;
		}
	}
	if (it->cshash == x->last_cs)
		return 0;                /* the usual case: the same client session */
	return eg_sess_add_cs(x, it->cshash);
}

/* Fold b into a: the late event between them closed their gap, or the
 * two halves of a split run met. */
static int merge_into(ssess *a, const ssess *b)
{
	if (b->start < a->start)
		a->start = b->start;
	if (b->end > a->end)
		a->end = b->end;
	a->events += b->events;
	a->page_views += b->page_views;
	if (b->entry_url && (!a->entry_url || tp_less(b->entry_t, b->entry_pos, a->entry_t, a->entry_pos))) {
		a->entry_url = b->entry_url;
		a->entry_t = b->entry_t;
		a->entry_pos = b->entry_pos;
	}
	if (b->exit_url && (!a->exit_url || tp_less(a->exit_t, a->exit_pos, b->exit_t, b->exit_pos))) {
		a->exit_url = b->exit_url;
		a->exit_t = b->exit_t;
		a->exit_pos = b->exit_pos;
	}
	if (b->ncs == 1)
		return eg_sess_add_cs(a, b->cs.one);
	for (uint32_t i = 0; i < b->ncs; i++)
		if (eg_sess_add_cs(a, b->cs.many[i]))
			return -1;
	return 0;
}

/* Note that a session of stream sid began with an event at t. */
static int born(sstate *S, uint32_t sid, int64_t t)
{
	if (!S->track)
		return 0;
	if (grow(&S->born, S->nborn, &S->capborn, sizeof *S->born, 4096))
		return -1;
	S->born[S->nborn++] = (struct sborn){ sid, t };
	return 0;
}

/* A new newest session of stream o, from event it. */
static int start_cur(sstate *S, sorder *o, uint32_t sid, const sitem *it, uint32_t url1)
{
	if (born(S, sid, it->time))
		return -1;
	memset(&o->cur, 0, sizeof o->cur);
	o->cur.stream = sid;
	o->cur.start = o->cur.end = it->time;
	o->has_cur = 1;
	S->live++;
	return add_to(&o->cur, it, url1);
}

/* Take one event of stream sid. */
static int take(sstate *S, int64_t gap, const sitem *it, uint32_t sid, uint32_t url1)
{
	sorder *o = &S->ord[sid];
	int64_t t = it->time;
	if (!o->has_cur)                            /* the stream's first event */
		return start_cur(S, o, sid, it, url1);
	if (t >= o->cur.start) {                    /* the newest session, or after it */
		if (t - o->cur.end < gap)
			return add_to(&o->cur, it, url1);
		uint32_t id = eg_sess_new(S, sid, o->n);  /* it becomes an older one */
		if (id == UINT32_MAX)
			return -1;
		S->s[id] = o->cur;                     /* its client sessions move too */
		return start_cur(S, o, sid, it, url1);
	}
	/* Before the newest: between the older ones.  i is the first of them
	 * starting after t (n: none, the newest is next). */
	uint32_t n = o->n, lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (S->s[o->ss[mid]].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t i = lo;
	ssess *b = i < n ? &S->s[o->ss[i]] : &o->cur;
	int join_a = i > 0 && t - S->s[o->ss[i - 1]].end < gap;
	int join_b = b->start - t < gap;
	if (join_a) {
		ssess *a = &S->s[o->ss[i - 1]];
		if (add_to(a, it, url1))
			return -1;
		if (!join_b)
			return 0;
		S->merges++;
		S->live--;
		if (merge_into(a, b))
			return -1;
		if (i < n)
			return eg_sess_drop(S, sid, i);
		cs_free(&o->cur);                   /* b was the newest: a takes its place */
		o->cur = *a;
		a->ncs = 0;
		return eg_sess_drop(S, sid, i - 1);
	}
	if (join_b)
		return add_to(b, it, url1);
	uint32_t id = eg_sess_new(S, sid, i);
	if (id == UINT32_MAX || born(S, sid, t))
		return -1;
	S->live++;
	ssess *x = &S->s[id];
	x->start = x->end = t;
	return add_to(x, it, url1);
}

/* --------------------------------------------- joining a part's state */

/* Would an event of stream sid at t have joined one of its sessions? */
static int near(const sstate *S, uint32_t sid, int64_t t, int64_t gap)
{
	const sorder *o = &S->ord[sid];
	if (!o->has_cur)
		return 0;
	if (t >= o->cur.start)           /* the usual case: at or after the newest */
		return t - o->cur.end < gap;
	uint32_t lo = 0, hi = sess_count(o);
	while (lo < hi) {                /* lo: the first session starting after t */
		uint32_t mid = lo + (hi - lo) / 2;
		if (sess_at(S, o, mid)->start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && t - sess_at(S, o, lo - 1)->end < gap)
		return 1;
	return lo < sess_count(o) && sess_at(S, o, lo)->start - t < gap;
}

/* Take session x of a part (its urls already ids of S) into stream sid of
 * S: joined with the sessions it overlaps or comes within a gap of (a run
 * of neighbours, as the sessions of a stream are a gap apart), else placed
 * among them, its client sessions moving with it.  -1 if out of memory. */
static int absorb(sstate *S, uint32_t sid, ssess *x, int64_t gap)
{
	sorder *o = &S->ord[sid];
	uint32_t c = sess_count(o), lo = 0, hi = c;
	x->stream = sid;
	if (o->has_cur && x->start >= o->cur.start) {   /* the usual case: after the older ones */
		if (x->start - o->cur.end < gap)
			return merge_into(&o->cur, x);
		lo = c;
	}
	while (lo < hi) {                /* a: the first ending less than a gap before x */
		uint32_t mid = lo + (hi - lo) / 2;
		if (x->start - sess_at(S, o, mid)->end >= gap)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t a = lo;
	for (hi = c; lo < hi;) {         /* b: the first starting a gap or more after x */
		uint32_t mid = lo + (hi - lo) / 2;
		if (sess_at(S, o, mid)->start - x->end < gap)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t b = lo;
	if (a == b) {                    /* near none: a session of its own */
		if (a < c || o->has_cur) {
			uint32_t id = eg_sess_new(S, sid, a < c ? a : o->n);
			if (id == UINT32_MAX)
				return -1;
			S->s[id] = a < c ? *x : o->cur;
		}
		if (a == c) {
			o->cur = *x;
			o->has_cur = 1;
		}
		x->ncs = 0;              /* its client sessions moved */
		x->last_cs = 0;
		S->live++;
		return 0;
	}
	/* Into the last of them; the others, all older ones, go. */
	ssess *into = b - 1 < o->n ? &S->s[o->ss[b - 1]] : &o->cur;
	if (merge_into(into, x))
		return -1;
	for (uint32_t i = a; i + 1 < b; i++)
		if (merge_into(into, &S->s[o->ss[i]]))
			return -1;
	for (uint32_t i = b - 1; i-- > a;)
		if (eg_sess_drop(S, sid, i))
			return -1;
	S->live -= b - 1 - a;
	return 0;
}

/* Join P, the state of the events after S->through (the caller moves
 * S->through on), into S.  Merges are counted as reading P's events after
 * S's would have: a session P made was made then too unless its first
 * event was near one of S's. */
static int absorb_state(sstate *S, sstate *P, int64_t gap)
{
	uint32_t *smap = malloc(((size_t)P->streams.n + 1) * sizeof *smap);
	uint32_t *umap = malloc(((size_t)P->urls.n + 1) * sizeof *umap);
	int rc = -1;
	if (!smap || !umap)
		goto out;
	for (uint32_t j = 0; j < P->streams.n; j++) {
		const sname *nm = &P->streams.e[j];
		if ((smap[j] = eg_sess_stream(S, P->streams.text.p + nm->off, nm->len)) == UINT32_MAX)
			goto out;
	}
	for (uint32_t u = 0; u < P->urls.n; u++) {
		const sname *nm = &P->urls.e[u];
		if ((umap[u] = eg_itab_get(&S->urls, nm->hash, P->urls.text.p + nm->off, nm->len)) ==
		    UINT32_MAX)
			goto out;
	}
	uint64_t made = 0, live = S->live;
	for (uint32_t i = 0; i < P->nborn; i++)
		made += !near(S, smap[P->born[i].sid], P->born[i].t, gap);
	for (uint32_t j = 0; j < P->streams.n; j++) {
		sorder *o = &P->ord[j];
		for (uint32_t i = 0; i < sess_count(o); i++) {
			ssess *x = i < o->n ? &P->s[o->ss[i]] : &o->cur;
			if (x->entry_url)
				x->entry_url = umap[x->entry_url - 1] + 1;
			if (x->exit_url)
				x->exit_url = umap[x->exit_url - 1] + 1;
			if (absorb(S, smap[j], x, gap))
				goto out;
		}
	}
	S->merges += live + made - S->live;
	S->events += P->events;
	rc = 0;
out:
	free(smap);
	free(umap);
	return rc;
}

/* ------------------------------------------------------------- handle */

struct eg_sessions {
	eg_store *st;
	sess_key key;
	int in_memory;
	sess_files files;
	sstate S;                     /* the state at the head, once loaded */
	int loaded;
	eg_sess_explain ex;
	eg_colpath cols;              /* which path the scan read */
	uint64_t resumed;             /* the loaded checkpoint's position */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of a list of names without repeats. */
static int names_copy(const char *const *v, size_t n, char ***out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	char **a = calloc(n, sizeof *a);
	if (!a)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(a[i] = strdup(v[i] ? v[i] : "")))
			goto fail;
	qsort(a, n, sizeof *a, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(a[k - 1], a[i]))
			free(a[i]);
		else
			a[k++] = a[i];
	}
	*out = a;
	*nout = k;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(a[i]);
	free(a);
	return -1;
}

static void names_free(char **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i]);
	free(a);
}

static int opts_hash(sess_key *k)
{
	XXH3_state_t *h = XXH3_createState();
	if (!h)
		return -1;
	XXH3_128bits_reset(h);
	char g[32];
	int n = snprintf(g, sizeof g, "gap=%lld", (long long)k->gap);
	XXH3_128bits_update(h, g, (size_t)n + 1);
	for (int l = 0; l < 2; l++) {
		char **v = l ? k->pages : k->types;
		size_t m = l ? k->npages : k->ntypes;
		XXH3_128bits_update(h, l ? "pages" : "types", 6);
		for (size_t i = 0; i < m; i++)
			XXH3_128bits_update(h, v[i], strlen(v[i]) + 1);
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
	memcpy(k->hash, c.digest, 16);
	XXH3_freeState(h);
	return 0;
}

void eg_sessions_close(eg_sessions *s)
{
	if (!s)
		return;
	eg_sess_files_close(&s->files);
	eg_sess_state_free(&s->S);
	names_free(s->key.types, s->key.ntypes);
	names_free(s->key.pages, s->key.npages);
	free(s->key.plens);
	free(s);
}

int eg_sessions_open(eg_store *st, const eg_sess_opts *o, int flags, eg_sessions **out)
{
	*out = NULL;
	int64_t gap = o && o->gap ? o->gap : DEFAULT_GAP;
	if (gap <= 0)
		return eg_st_err(st, EG_EINVAL, "the session gap must be positive");
	eg_sessions *s = calloc(1, sizeof *s);
	if (!s)
		return eg_st_err(st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	s->st = st;
	s->key.gap = gap;
	s->key.no_upcast = o && o->no_upcast;
	s->files.lockfd = -1;
	static const char *const pages[] = { "page_view", "screen_view" };
	int bad = o && names_copy(o->types, o->ntypes, &s->key.types, &s->key.ntypes);
	if (!bad && o && o->npage_types)
		bad = names_copy(o->page_types, o->npage_types, &s->key.pages, &s->key.npages);
	else if (!bad)
		bad = names_copy(pages, 2, &s->key.pages, &s->key.npages);
	if (!bad && (s->key.plens = malloc(s->key.npages * sizeof *s->key.plens)))
		for (size_t i = 0; i < s->key.npages; i++)
			s->key.plens[i] = strlen(s->key.pages[i]);
	if (bad || !s->key.plens || opts_hash(&s->key)) {
		eg_sessions_close(s);
		return eg_st_err(st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	}
	s->in_memory = flags & EG_SESS_IN_MEMORY;
	if (!s->in_memory)
		eg_sess_files_open(st, &s->key, &s->files);   /* else in memory only */
	*out = s;
	return EG_OK;
}

/* ------------------------------------------------------------- the run */

/* A span of a run: the events in positions [lo, hi] into S, saving kept
 * checkpoints on the way when save is set, with a reader thread when
 * threads is.  Its iterator is made before, on the thread that owns the
 * store handle (eg_iter_new may refresh the log's segments). */
typedef struct span {
	uint64_t lo, hi;
	sstate *S;
	int save, threads;
	eg_iter *it;
	uint64_t first_pos, first_ident;   /* its first event; the identity only
					      where a kept checkpoint falls */
	uint64_t saved;
	int done;                     /* read (split runs; under the split's lock) */
} span;

typedef struct srun {
	eg_sessions *s;
	sstate *S;
	eg_iter *it;
	uint64_t prev_pos;            /* reader: the last event it passed on */
	int skip_heartbeats;
	int save;                     /* save checkpoints at save_every */
	uint64_t saved;
	span *sp;
	sbatch b[4];
} srun;

static int is_page(const sess_key *k, const eg_event *e)
{
	for (size_t i = 0; i < k->npages; i++)
		if (k->plens[i] == e->type_len && !memcmp(k->pages[i], e->type, e->type_len))
			return 1;
	return 0;
}

static int text_add(sbatch *b, const char *s, size_t n, uint32_t *off, uint32_t *len)
{
	if (buf_add(&b->text, s, n))
		return -1;
	*off = (uint32_t)(b->text.n - n);
	*len = (uint32_t)n;
	return 0;
}

/* What the engine needs of e: *it, and data.page_url of a page view in
 * *url (n 0: none).  The texts are left in e. */
static void describe(srun *r, const eg_event *e, sitem *it, json_span *url)
{
	*it = (sitem){ .pos = e->pos, .time = e->time, .page = is_page(&r->s->key, e),
		       .slen = (uint32_t)e->stream_len };
	if (e->pos / eg_sess_save_every != r->prev_pos / eg_sess_save_every)
		it->ident = eg_iter_ident(r->it);
	r->prev_pos = e->pos;
	it->shash = XXH3_64bits(e->stream, e->stream_len);
	if (e->session_len)
		it->cshash = XXH3_64bits(e->session, e->session_len) | 1;
	url->n = 0;
	if (it->page && e->data_len) {
		static const char *const name[1] = { "page_url" };
		static const size_t len[1] = { 8 };
		json_span obj = { e->data, e->data_len, JSON_OBJECT };
		if ((eg_json_members_valid(&obj, name, len, 1, url) & 1) && url->type != JSON_NULL) {
			it->ulen = (uint32_t)url->n;
			it->uhash = XXH3_64bits(url->p, url->n);
		} else {
			url->n = 0;
		}
	}
}

/* The next event the run takes, heartbeats and engram's own events
 * ($schemas, $quarantine) skipped: EG_OK, EG_END or an error. */
static int next_event(srun *r, const eg_event **e)
{
	int rc;
	while (!(rc = eg_iter_next(r->it, e)) && r->skip_heartbeats &&
	       (((*e)->type_len == sizeof EG_HEARTBEAT - 1 &&
		 !memcmp((*e)->type, EG_HEARTBEAT, (*e)->type_len)) ||
		eg_reserved_stream((*e)->stream, (*e)->stream_len)))
		;
	return rc;
}

/* Reader: each event's item, its texts copied into the batch. */
static int fill(void *ctx, void *bp)
{
	srun *r = ctx;
	sbatch *b = bp;
	b->n = 0;
	b->text.n = 0;
	while (b->n < SB_CAP) {
		const eg_event *e;
		int rc = next_event(r, &e);
		if (rc)
			return rc;
		sitem *it = &b->items[b->n];
		json_span url;
		describe(r, e, it, &url);
		if (text_add(b, e->stream, e->stream_len, &it->soff, &it->slen) ||
		    (url.n && text_add(b, url.p, url.n, &it->uoff, &it->ulen)))
			return EG_ENOMEM;
		b->n++;
	}
	return EG_OK;
}

/* Engine: take one event, its stream's name and its url (it->ulen 0:
 * none), and its stream's id when the caller found it already (else
 * UINT32_MAX); save a kept checkpoint first where one falls. */
static int take_one(srun *r, const sitem *it, const char *stream, const char *url, uint32_t sid,
		    uint32_t url1)
{
	sstate *S = r->S;
	eg_sessions *s = r->s;
	if (!r->sp->first_pos) {
		r->sp->first_pos = it->pos;
		r->sp->first_ident = it->ident;
	}
	if (it->ident && r->save) {
		S->through = it->pos - 1;
		int rc = eg_sess_save(s->st, &s->files, &s->key, S, it->pos, it->ident, 1);
		if (rc)
			return rc;
		r->saved++;
	}
	if (sid == UINT32_MAX)
		sid = eg_itab_get(&S->streams, it->shash, stream, it->slen);
	if (sid == UINT32_MAX ||
	    (sid >= S->capord && grow(&S->ord, sid, &S->capord, sizeof *S->ord, 1024)))
		return EG_ENOMEM;
	if (url1 == UINT32_MAX && !it->ulen) {
		url1 = 0;
	} else if (url1 == UINT32_MAX) {
		uint32_t u = eg_itab_get(&S->urls, it->uhash, url, it->ulen);
		if (u == UINT32_MAX)
			return EG_ENOMEM;
		url1 = u + 1;
	}
	if (take(S, s->key.gap, it, sid, url1))
		return EG_ENOMEM;
	S->through = it->pos;
	S->events++;
	return EG_OK;
}

static int take_batch(void *ctx, void *bp)
{
	const sbatch *b = bp;
	for (uint32_t k = 0; k < b->n; k++) {
		const sitem *it = &b->items[k];
		int rc = take_one(ctx, it, b->text.p + it->soff, b->text.p + it->uoff, UINT32_MAX,
				  UINT32_MAX);
		if (rc)
			return rc;
	}
	return EG_OK;
}

/* An event read ahead of the engine (take_direct), its texts copied: the
 * iterator's buffer may have moved on by the time it is taken. */
typedef struct ahead {
	sitem it;
	buf text;                     /* the stream, then the url */
	uint32_t sid;                 /* its stream's id, once looked up (ids never change) */
} ahead;

static int hold(ahead *a, const eg_event *e, const json_span *url)
{
	a->text.n = 0;                   /* (never NULL, even for an empty stream) */
	if ((!a->text.p && buf_reserve(&a->text, 64)) ||
	    buf_add(&a->text, e->stream, e->stream_len) ||
	    (a->it.ulen && buf_add(&a->text, url->p, url->n)))
		return EG_ENOMEM;
	return EG_OK;
}

static int take_held(srun *r, const ahead *a)
{
	return take_one(r, &a->it, a->text.p, a->text.p + a->it.slen, a->sid, UINT32_MAX);
}

/* One thread: each event straight from the log to the engine, taken two
 * events after it was read.  Meanwhile the slot of its stream's name and
 * then the stream's entry are fetched from memory ahead of use: each
 * would otherwise stall the engine once per event, as the log streaming
 * through the cache leaves neither there. */
static int take_direct(srun *r)
{
	sstate *S = r->S;
	ahead a[3] = { 0 };
	uint64_t n = 0;                  /* events read; those before n - 2 taken */
	int rc;
	for (;;) {
		const eg_event *e;
		if ((rc = next_event(r, &e)))
			break;
		ahead *x = &a[n % 3];
		json_span url;
		describe(r, e, &x->it, &url);
		x->sid = UINT32_MAX;
		if ((rc = hold(x, e, &url)))
			break;
		itab_prefetch(&S->streams, x->it.shash);
		if (n >= 1) {                    /* a new stream is added when it is taken */
			ahead *y = &a[(n - 1) % 3];
			uint32_t sid = eg_itab_find(&S->streams, y->it.shash, y->text.p, y->it.slen);
			y->sid = sid;
			if (sid < S->capord) {   /* the entry spans up to three cache lines */
				const char *p = (const char *)&S->ord[sid];
				for (size_t b = 0; b < sizeof *S->ord + 63; b += 64)
					__builtin_prefetch(p + (b < sizeof *S->ord ? b : sizeof *S->ord - 1));
			}
		}
		if (n >= 2 && (rc = take_held(r, &a[(n - 2) % 3])))
			break;
		n++;
	}
	for (uint64_t k = n >= 2 ? n - 2 : 0; rc == EG_END && k < n; k++) {
		int t = take_held(r, &a[k % 3]);
		rc = t ? t : EG_END;
	}
	for (int i = 0; i < 3; i++)
		free(a[i].text.p);
	return rc;
}

static int span_iter(eg_sessions *s, span *sp)
{
	eg_filter f = { .from = sp->lo, .to = sp->hi, .types = (const char *const *)s->key.types,
			.ntypes = s->key.ntypes, .upcast = !s->key.no_upcast };
	int rc = eg_iter_new(s->st, &sp->it, &f);
	if (!rc)
		eg_iter_lazy_ids(sp->it);
	return rc;
}

/* Run span sp (no iterator: an empty span), freeing its iterator; EG_OK,
 * or an error (EG_ENOMEM not yet reported). */
static int run_span(eg_sessions *s, span *sp)
{
	sstate *S = sp->S;
	if (!sp->it)
		return EG_OK;
	srun *r = calloc(1, sizeof *r);
	if (!r)
		return EG_ENOMEM;
	r->s = s;
	r->S = S;
	r->sp = sp;
	r->it = sp->it;
	r->prev_pos = sp->lo - 1;
	r->skip_heartbeats = !s->key.ntypes;
	r->save = sp->save;
	int rc = EG_OK;
	for (int i = 0; sp->threads && i < 4 && !rc; i++)
		if (!(r->b[i].items = malloc(SB_CAP * sizeof *r->b[i].items)) ||
		    buf_reserve(&r->b[i].text, 64 << 10))
			rc = EG_ENOMEM;
	if (!rc && sp->threads) {
		void *bs[4] = { &r->b[0], &r->b[1], &r->b[2], &r->b[3] };
		rc = eg_pipe_run(bs, 4, 1, fill, r, take_batch, r);
	} else if (!rc) {
		rc = take_direct(r);
	}
	if (rc == EG_END) {
		rc = EG_OK;
		S->through = sp->hi;
	}
	for (int i = 0; i < 4; i++) {
		free(r->b[i].items);
		free(r->b[i].text.p);
	}
	sp->saved += r->saved;
	free(r);
	eg_iter_free(sp->it);            /* its buffers back for the next part */
	sp->it = NULL;
	return rc;
}

/* ------------------------------------------------------------ from columns */

/* A run from the column files (col.h): each event's stream, type, client
 * session and data.page_url are ids there, so what take_one needs of an
 * id (the stream's and url's ids in S, the client session's hash,
 * whether a type is a page view) is found once per id.  Streams and urls
 * enter S when their first event is taken, as on the log path, so that
 * the state and its checkpoints do not depend on the path. */

typedef struct skey {
	uint32_t sid;                 /* as a stream: its id in S + 1; 0: not yet */
	uint8_t known, hb, res, page; /* named EG_HEARTBEAT; a $ name (engram's own) */
} skey;

typedef struct scols {
	eg_colscan *sc;
	skey *key, *lkey;             /* by key id; EG_COL_KEY_LOCAL ones by the rest */
	size_t nkey, nlkey;
	uint32_t *url;                /* per string id of data.page_url: url id in S + 1 */
	size_t nurl;
	uint64_t *cs;                 /* per client session id: its hash; 0: not yet */
	size_t ncs;
	uint64_t got[2];              /* events taken from column blocks, from the log */
} scols;

/* Room for index id in the array *a of n elements of size bytes, zeroed. */
static int room(void *a, size_t *n, uint32_t id, size_t size)
{
	if (id < *n)
		return 0;
	size_t c = *n ? *n : 256;
	while (c <= id)
		c *= 2;
	void *old;
	memcpy(&old, a, sizeof old);
	char *p = realloc(old, c * size);
	if (!p)
		return -1;
	memset(p + *n * size, 0, (c - *n) * size);
	memcpy(a, &p, sizeof p);
	*n = c;
	return 0;
}

static skey *key_at(scols *c, const sess_key *k, uint32_t id)
{
	uint32_t j = id & ~EG_COL_KEY_LOCAL;
	int local = j != id;
	if (room(local ? &c->lkey : &c->key, local ? &c->nlkey : &c->nkey, j, sizeof *c->key))
		return NULL;
	skey *x = local ? &c->lkey[j] : &c->key[j];
	if (!x->known) {
		size_t n = 0;
		const char *s = eg_colscan_key(c->sc, id, &n);
		if (!s)
			n = 0;
		x->known = 1;
		x->res = (uint8_t)eg_reserved_stream(s, n);
		x->hb = n == sizeof EG_HEARTBEAT - 1 && !memcmp(s, EG_HEARTBEAT, n);
		for (size_t i = 0; i < k->npages; i++)
			x->page |= k->plens[i] == n && !memcmp(k->pages[i], s, n);
	}
	return x;
}

/* Event k of block b: take it. */
static int take_col(srun *r, scols *c, eg_savepts *pts, const eg_colblock *b, uint32_t k)
{
	sstate *S = r->S;
	skey *x = key_at(c, &r->s->key, b->type[k]);
	if (!x)
		return EG_ENOMEM;
	skey ty = *x;                 /* (the next key_at may move the array) */
	skey *st = key_at(c, &r->s->key, b->stream[k]);
	if (!st)
		return EG_ENOMEM;
	if (r->skip_heartbeats && (ty.hb || st->res))
		return EG_OK;
	sitem it = { .pos = b->first_pos + k, .time = b->time[k], .page = ty.page };
	it.ident = eg_savepts_at(pts, it.pos);
	uint32_t cs = b->session[k];
	if (cs) {
		if (room(&c->cs, &c->ncs, cs, sizeof *c->cs))
			return EG_ENOMEM;
		if (!c->cs[cs]) {
			size_t n;
			const char *t = eg_colscan_session(c->sc, cs, &n);
			c->cs[cs] = XXH3_64bits(t, n) | 1;
		}
		it.cshash = c->cs[cs];
	}
	const char *name = NULL, *url = NULL;
	size_t n = 0;
	uint32_t sid = st->sid ? st->sid - 1 : UINT32_MAX, url1 = 0, uid = 0;
	if (!st->sid) {               /* S learns the stream when it takes it */
		name = eg_colscan_key(c->sc, b->stream[k], &n);
		if (!name)
			name = "", n = 0;
		it.shash = XXH3_64bits(name, n);
		it.slen = (uint32_t)n;
	}
	const eg_colvals *v = &b->vals[0];
	int tag = it.page ? v->tag[k] : EG_CT_ABSENT;
	char t[24];
	switch (tag) {
	case EG_CT_ABSENT: case EG_CT_NULL:
		break;
	case EG_CT_STR:
		uid = v->s[k];
		if (room(&c->url, &c->nurl, uid, sizeof *c->url))
			return EG_ENOMEM;
		if ((url1 = c->url[uid]))
			break;
		url = eg_colscan_str(c->sc, 0, uid, &n);
		goto text;
	case EG_CT_INT:
		url = t;
		n = (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i[k]);
		goto text;
	case EG_CT_TRUE: case EG_CT_FALSE:
		url = tag == EG_CT_TRUE ? "true" : "false";
		n = tag == EG_CT_TRUE ? 4 : 5;
		goto text;
	default:
		url = eg_colscan_raw(c->sc, 0, v->s[k], &n);
	text:
		it.ulen = (uint32_t)n;
		it.uhash = XXH3_64bits(url, n);
		url1 = UINT32_MAX;
	}
	int rc = take_one(r, &it, name, url, sid, url1);
	if (rc)
		return rc;
	if (!st->sid)
		st->sid = eg_itab_find(&S->streams, it.shash, name, it.slen) + 1;
	if (tag == EG_CT_STR && !c->url[uid])
		c->url[uid] = eg_itab_find(&S->urls, it.uhash, url, it.ulen) + 1;
	return EG_OK;
}

/* Run the events of scan sc (filter f) into S, as run_span: EG_OK. */
static int run_cols(eg_sessions *s, sstate *S, eg_colscan *sc, const eg_filter *f, int save)
{
	srun *r = calloc(1, sizeof *r);
	scols c = { .sc = sc };
	eg_savepts pts = { 0 };
	span sp = { .lo = f->from, .hi = f->to, .S = S, .save = save };
	if (!r)
		return EG_ENOMEM;
	r->s = s;
	r->S = S;
	r->sp = &sp;
	r->skip_heartbeats = !s->key.ntypes;
	r->save = save;
	int rc = eg_savepts_find(s->st, f, S->through, eg_sess_save_every, r->skip_heartbeats, &pts);
	const eg_colblock *b;
	while (!rc && !(rc = eg_colscan_next(sc, &b))) {
		uint64_t had = S->events;
		for (uint32_t k = 0; k < b->n && !rc; k++)
			if (b->want[k])
				rc = take_col(r, &c, &pts, b, k);
		c.got[b->from_log != 0] += S->events - had;
	}
	eg_colpath_cols(&s->cols, c.got[0], c.got[1]);
	if (rc == EG_END) {
		rc = EG_OK;
		S->through = f->to;
	}
	s->ex.saved += r->saved;
	eg_savepts_free(&pts);
	free(c.key);
	free(c.lkey);
	free(c.url);
	free(c.cs);
	free(r);
	return rc;
}

/* A scan of the columns for the events after S->through up to to, or
 * none (*out NULL, why in s->cols) when the log must be read. */
static int cols_open(eg_sessions *s, const eg_filter *f, eg_colscan **out)
{
	*out = NULL;
	if (!eg_colsrc_allowed()) {
		eg_colpath_log(&s->cols, 0, "ENGRAM_NO_COLUMNS is set");
		return EG_OK;
	}
	static const char *const url[1] = { "page_url" };
	static const char *const *const paths[1] = { url };
	static const int nseg[1] = { 1 };
	eg_colneed need = { .paths = paths, .nseg = nseg, .npaths = 1, .session = 1 };
	s->st->err[0] = 0;
	int rc = eg_colscan_new(s->st, f, &need, out);
	if (rc == EG_OK)
		eg_colscan_only(*out, EG_COLB_TIME | EG_COLB_STREAM | EG_COLB_TYPE);
	if (rc == EG_ENOTFOUND) {
		*out = NULL;
		eg_colpath_log(&s->cols, 0, "%s", s->st->err[0] ? s->st->err :
			       "the column files do not cover data.page_url");
		return EG_OK;
	}
	return rc;
}

/* A split run (run_split): its parts, taken in turn by two threads, and
 * joined in order by the first as they are done. */
typedef struct split {
	eg_sessions *s;
	span *ps;
	size_t n;                     /* parts 0..n-1; part 0 is S's */
	size_t next;                  /* the next part to take (atomic) */
	int rc;                       /* the first error; no part is taken after it */
	pthread_mutex_t mu;
	pthread_cond_t cv;            /* a part is done, or an error stops the run */
	/* A kept checkpoint of S handed to the second thread while this one
	 * reads parts (save_kept): none, posted, being written, written. */
	enum { KS_NONE, KS_POSTED, KS_WRITING, KS_DONE } ks;
	sstate *S;
	uint64_t ks_pos, ks_ident;
	int ks_rc;
	int thread;                   /* the second thread runs */
} split;

static void split_fail(split *sp, int rc)
{
	pthread_mutex_lock(&sp->mu);
	if (!sp->rc)
		__atomic_store_n(&sp->rc, rc, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

/* Take the next part and read it: 1, or 0 when none is left (or the run
 * failed). */
static int take_part(split *sp)
{
	if (__atomic_load_n(&sp->rc, __ATOMIC_RELAXED))
		return 0;
	size_t k = __atomic_fetch_add(&sp->next, 1, __ATOMIC_RELAXED);
	if (k >= sp->n)
		return 0;
	int rc = run_span(sp->s, &sp->ps[k]);
	pthread_mutex_lock(&sp->mu);
	sp->ps[k].done = 1;
	if (rc && !sp->rc)
		__atomic_store_n(&sp->rc, rc, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	return 1;
}

/* Write the kept checkpoint posted to the second thread, if there is
 * one: 1 if it did. */
static int take_save(split *sp)
{
	pthread_mutex_lock(&sp->mu);
	int posted = sp->ks == KS_POSTED;
	if (posted)
		sp->ks = KS_WRITING;
	pthread_mutex_unlock(&sp->mu);
	if (!posted)
		return 0;
	eg_sessions *s = sp->s;
	int rc = eg_sess_save(s->st, &s->files, &s->key, sp->S, sp->ks_pos, sp->ks_ident, 1);
	pthread_mutex_lock(&sp->mu);
	sp->ks_rc = rc;
	sp->ks = KS_DONE;
	pthread_cond_broadcast(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	return 1;
}

static void *second_thread(void *p)
{
	while (take_save(p) || take_part(p))
		;
	return NULL;
}

/* Save S (through the position before pos) as the kept checkpoint at pos.
 * While parts are left to read, the second thread writes it and this one
 * reads them (neither changes S); else this one writes it. */
static int save_kept(split *sp, sstate *S, uint64_t pos, uint64_t ident)
{
	eg_sessions *s = sp->s;
	if (sp->thread && __atomic_load_n(&sp->next, __ATOMIC_RELAXED) < sp->n) {
		pthread_mutex_lock(&sp->mu);
		sp->ks = KS_POSTED;
		sp->ks_pos = pos;
		sp->ks_ident = ident;
		pthread_mutex_unlock(&sp->mu);
		while (take_part(sp))
			;
		pthread_mutex_lock(&sp->mu);
		int rc = EG_OK, taken = sp->ks != KS_POSTED;
		if (taken) {
			while (sp->ks != KS_DONE)
				pthread_cond_wait(&sp->cv, &sp->mu);
			rc = sp->ks_rc;
		}
		sp->ks = KS_NONE;           /* not taken: written below */
		pthread_mutex_unlock(&sp->mu);
		if (taken)
			return rc;
	}
	return eg_sess_save(s->st, &s->files, &s->key, S, pos, ident, 1);
}

/* Until part j is done, take parts left to read, else wait.  EG_OK, or
 * the run's first error. */
static int wait_part(split *sp, size_t j)
{
	for (;;) {
		pthread_mutex_lock(&sp->mu);
		int done = sp->ps[j].done || sp->rc;
		pthread_mutex_unlock(&sp->mu);
		if (done || !take_part(sp))
			break;
	}
	pthread_mutex_lock(&sp->mu);
	while (!sp->ps[j].done && !sp->rc)
		pthread_cond_wait(&sp->cv, &sp->mu);
	int rc = sp->rc;
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

/* The first part of a split run, in 32nds: this thread reads it and then
 * joins the others (and saves the kept checkpoints), so it takes less than
 * half: at ten million events, both threads then end together. */
#define SPLIT_FIRST 13
/* The rest is cut in up to this many parts of at least eg_sess_part_min
 * positions, so that this thread joins the first of them while the
 * second thread still reads the last. */
#define SPLIT_PARTS 16
uint64_t eg_sess_part_min = 1u << 16;

/* A long run on two cores.  The positions are cut in parts (and where
 * kept checkpoints fall).  This thread reads the first part into S; the
 * second thread takes the others in turn, each into a state of its own,
 * and this one joins them into S in order as they are done (sessions do
 * not depend on the order events are taken in), saving S where a kept
 * checkpoint falls, and reads a part itself when it would otherwise
 * wait.  Each thread reads its own part of the log: nothing passes
 * between them but whole parts, which two cores do far better than
 * handing every event across; and as this thread joins while the other
 * still reads, the joins and kept checkpoints take little time of their
 * own. */
static int run_split(eg_sessions *s, sstate *S, uint64_t to, int save)
{
	uint64_t from = S->through, E = eg_sess_save_every, len = to - from;
	uint64_t first = len / 32 * SPLIT_FIRST + len % 32 * SPLIT_FIRST / 32, rest = len - first;
	uint64_t np = rest / (eg_sess_part_min ? eg_sess_part_min : 1);
	np = np < 1 ? 1 : np > SPLIT_PARTS ? SPLIT_PARTS : np;
	size_t n = 1 + (size_t)np + (size_t)(to / E - from / E);
	span *ps = calloc(n, sizeof *ps);
	sstate *P = calloc(n, sizeof *P);
	int rc = ps && P ? EG_OK : EG_ENOMEM;
	size_t k = 0;
	for (uint64_t lo = from + 1, i = 0; !rc && lo <= to; k++) {
		uint64_t hi = from + first + rest * i / np;  /* the next even cut */
		if ((lo / E + 1) * E - 1 < hi)               /* or a kept checkpoint first */
			hi = (lo / E + 1) * E - 1;
		else
			i++;
		ps[k] = (span){ .lo = lo, .hi = hi, .S = k ? &P[k] : S, .save = !k && save };
		P[k].track = k > 0;
		if (lo <= hi)
			rc = span_iter(s, &ps[k]);
		lo = hi + 1;
	}
	split sp = { .s = s, .ps = ps, .n = k, .next = 1, .S = S };
	pthread_mutex_init(&sp.mu, NULL);
	pthread_cond_init(&sp.cv, NULL);
	pthread_t t;
	sp.thread = !rc && pthread_create(&t, NULL, second_thread, &sp) == 0;
	if (!rc)
		rc = run_span(s, &ps[0]);
	for (size_t j = 1; !rc && j < k; j++) {
		if ((rc = wait_part(&sp, j)))
			break;
		if (save && ps[j].first_ident) {  /* a kept checkpoint where part j begins */
			S->through = ps[j].first_pos - 1;
			if ((rc = save_kept(&sp, S, ps[j].first_pos, ps[j].first_ident)))
				break;
			ps[0].saved++;
		}
		if (ps[j].lo <= ps[j].hi && absorb_state(S, &P[j], s->key.gap))
			rc = EG_ENOMEM;
		eg_sess_state_free(&P[j]);           /* its memory back while the others read */
		S->through = ps[j].hi;
	}
	if (rc)
		split_fail(&sp, rc);
	if (sp.thread)
		pthread_join(t, NULL);
	pthread_cond_destroy(&sp.cv);
	pthread_mutex_destroy(&sp.mu);
	for (size_t j = 0; ps && j < k; j++)
		eg_iter_free(ps[j].it);
	for (size_t j = 1; P && j < k; j++)
		eg_sess_state_free(&P[j]);
	if (ps)
		s->ex.saved += ps[0].saved;
	free(ps);
	free(P);
	return rc;
}

/* Take the events after S->through up to position to into S; save
 * checkpoints on the way when save is set.  A long run is split in two
 * (run_split) when both halves can read the log at once: forward scans
 * of the indexed log by blocks, which read with pread and leave the
 * shared mappings alone.  Else it reads on a second thread that hands
 * the events over (pipe.c). */
static int run(eg_sessions *s, sstate *S, uint64_t to, int save)
{
	if (to <= S->through)
		return EG_OK;
	uint64_t from = S->through, events = S->events;
	int rc, threads = to - from >= eg_sess_pipe_min;
	save = save && s->files.lockfd >= 0;
	eg_filter f = { .from = from + 1, .to = to, .types = (const char *const *)s->key.types,
			.ntypes = s->key.ntypes, .upcast = !s->key.no_upcast };
	eg_colscan *sc;
	if ((rc = cols_open(s, &f, &sc)))
		return rc;
	if (sc) {
		rc = run_cols(s, S, sc, &f, save);
		eg_colscan_free(sc);
	} else if (threads && !s->key.ntypes && eg_store_indexed_through(s->st) >= to)
		rc = run_split(s, S, to, save);
	else {
		span sp = { .lo = from + 1, .hi = to, .S = S, .save = save, .threads = threads };
		if (!(rc = span_iter(s, &sp)))
			rc = run_span(s, &sp);
		eg_iter_free(sp.it);
		s->ex.saved += sp.saved;
	}
	s->ex.taken += S->events - events;
	if (!sc)
		s->cols.from_log += S->events - events;
	if (rc == EG_ENOMEM)
		return eg_st_err(s->st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	return rc;
}

/* ----------------------------------------------------------- the query */

/* Bring the handle's state to position to: from the newest checkpoint at
 * or before it the first time, then the events after.  Returns with the
 * checkpoints locked (unless it fails) and *save set when the newest
 * checkpoint is worth writing: after many events, or when there is none
 * yet. */
static int catch_up(eg_sessions *s, uint64_t to, int *save)
{
	*save = 0;
	int rc = eg_sess_lock(s->st, &s->files);
	if (rc)
		return rc;
	if (!s->loaded) {
		if ((rc = eg_sess_load(s->st, &s->files, &s->key, to, &s->S)))
			goto fail;
		s->loaded = 1;
		s->resumed = s->S.through;
	}
	uint64_t from = s->S.through;
	if ((rc = run(s, &s->S, to, 1)))
		goto fail;
	uint64_t took = s->S.through - from;
	*save = s->files.lockfd >= 0 && took && (took >= eg_sess_save_min || !s->resumed);
	return EG_OK;
fail:
	eg_sess_unlock(&s->files);
	return rc;
}

/* The newest checkpoint, written on a thread of its own while the rows
 * go out: both only read the state. */
typedef struct end_save {
	eg_sessions *s;
	uint64_t to, ident;
	int rc;
} end_save;

static void *save_end(void *p)
{
	end_save *e = p;
	e->rc = eg_sess_save(e->s->st, &e->s->files, &e->s->key, &e->s->S, e->to, e->ident, 0);
	return NULL;
}

/* The 36-character id of the session of stream that starts at start:
 * 128 bits of XXH3 over both, written as a UUID of version 8. */
static void session_id(const char *stream, size_t n, int64_t start, char out[37])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(stream, n, (uint64_t)start));
	unsigned char *u = c.digest;
	u[6] = (unsigned char)(0x80 | (u[6] & 0x0f));
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
	eg_uuid_format(u, out);
	out[36] = 0;
}

static int emit_stream(const sstate *S, uint32_t sid, const eg_sess_query *q,
		       eg_session_fn fn, void *ctx)
{
	const sname *nm = &S->streams.e[sid];
	const char *name = S->streams.text.p + nm->off;
	const sorder *o = &S->ord[sid];
	for (uint32_t i = 0; i < sess_count(o); i++) {
		const ssess *x = sess_at(S, o, i);
		sess_prefetch(S, o, i + 4);
		if (q->has_since && x->start < q->since)
			continue;
		if (q->has_until && x->start > q->until)
			break;
		char id[37];
		session_id(name, nm->len, x->start, id);
		eg_session_row row = {
			.stream = name, .stream_len = nm->len, .session = id,
			.start = x->start, .end = x->end, .events = x->events,
			.page_views = x->page_views, .client_sessions = x->ncs,
		};
		if (x->entry_url) {
			const sname *u = &S->urls.e[x->entry_url - 1];
			row.entry_page = S->urls.text.p + u->off;
			row.entry_len = u->len;
		}
		if (x->exit_url) {
			const sname *u = &S->urls.e[x->exit_url - 1];
			row.exit_page = S->urls.text.p + u->off;
			row.exit_len = u->len;
		}
		int rc = fn(ctx, &row);
		if (rc)
			return rc;
	}
	return 0;
}

static int emit(eg_sessions *s, sstate *S, const eg_sess_query *q, eg_session_fn fn, void *ctx)
{
	s->ex.through = S->through;
	s->ex.events = S->events;
	s->ex.sessions = S->live;
	s->ex.streams = S->streams.n;
	s->ex.merges = S->merges;
	if (q->stream) {
		size_t n = strlen(q->stream);
		uint32_t sid = eg_itab_find(&S->streams, XXH3_64bits(q->stream, n), q->stream,
					 (uint32_t)n);
		return sid == UINT32_MAX ? 0 : emit_stream(S, sid, q, fn, ctx);
	}
	uint32_t *ids = malloc(((size_t)S->streams.n + 1) * sizeof *ids);
	if (!ids)
		return EG_ENOMEM;                /* reported by the caller */
	for (uint32_t i = 0; i < S->streams.n; i++)
		ids[i] = i;
	eg_itab_sort(&S->streams, ids, S->streams.n);
	int rc = 0;
	for (uint32_t i = 0; i < S->streams.n && !rc; i++)
		rc = emit_stream(S, ids[i], q, fn, ctx);
	free(ids);
	return rc;
}

int eg_sessions_scan(eg_sessions *s, const eg_sess_query *q, eg_session_fn fn, void *ctx)
{
	eg_head h;
	int rc = eg_store_head(s->st, &h);
	if (rc)
		return rc;
	uint64_t at = q->at && q->at < h.pos ? q->at : h.pos;
	memset(&s->ex, 0, sizeof s->ex);
	memset(&s->cols, 0, sizeof s->cols);
	if (at == h.pos) {
		int save;
		if ((rc = catch_up(s, at, &save)))
			return rc;
		s->ex.resumed_from = s->resumed;
		end_save e = { s, at, 0, EG_OK };
		pthread_t t;
		int thread = 0;
		if (save && !(rc = eg_store_event_ident(s->st, at, &e.ident)))
			thread = pthread_create(&t, NULL, save_end, &e) == 0;
		if (!rc)
			rc = emit(s, &s->S, q, fn, ctx);
		if (thread)
			pthread_join(t, NULL);
		else if (save && !rc)
			save_end(&e);
		if (save && !e.rc)
			s->ex.saved++;
		eg_sess_unlock(&s->files);
		if (rc == EG_ENOMEM)
			return eg_st_err(s->st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
		return rc ? rc : e.rc;
	}
	/* Known at an earlier time: from the checkpoint before it, in memory
	 * (the checkpoints of the head stay as they are). */
	sstate T = { 0 };
	if (!(rc = eg_sess_load(s->st, &s->files, &s->key, at, &T))) {
		s->ex.resumed_from = T.through;
		if (!(rc = run(s, &T, at, 0)) && (rc = emit(s, &T, q, fn, ctx)) == EG_ENOMEM)
			rc = eg_st_err(s->st, EG_ENOMEM, "sessions: %s", strerror(ENOMEM));
	}
	eg_sess_state_free(&T);
	return rc;
}

void eg_sessions_get_explain(const eg_sessions *s, eg_sess_explain *out)
{
	*out = s->ex;
	out->path = s->cols.path;
	out->log_reason = s->cols.why[0] ? s->cols.why : NULL;
	out->from_columns = s->cols.from_cols;
	out->from_log = s->cols.from_log;
}

/* ------------------------------------------------- restoring checkpoints */

/* A text of the body interned into t: its id (UINT32_MAX if bad). */
static uint32_t get_text(bread *r, itab *t)
{
	uint32_t n = bread_u32(r);
	const unsigned char *q = bread_get(r, n);
	return q ? eg_itab_get(t, XXH3_64bits(q, n), (const char *)q, n) : UINT32_MAX;
}

static int get_session(bread *r, sstate *S, uint32_t sid, uint32_t nurls)
{
	uint32_t id = eg_sess_new(S, sid, S->ord[sid].n);
	if (id == UINT32_MAX)
		return -1;
	S->live++;
	ssess *x = &S->s[id];
	const unsigned char *q = bread_get(r, 64);
	if (!q)
		return -1;
	uint64_t v[8];
	memcpy(v, q, sizeof v);
	x->start = (int64_t)v[0];
	x->end = (int64_t)v[1];
	x->entry_t = (int64_t)v[2];
	x->exit_t = (int64_t)v[3];
	x->entry_pos = v[4];
	x->exit_pos = v[5];
	x->events = v[6];
	x->page_views = v[7];
	x->entry_url = bread_u32(r);
	x->exit_url = bread_u32(r);
	uint32_t ncs = bread_u32(r);
	if (r->bad || x->entry_url > nurls || x->exit_url > nurls || ncs > (size_t)(r->end - r->p) / 8)
		return -1;
	for (uint32_t i = 0; i < ncs; i++)
		if (eg_sess_add_cs(x, bread_u64(r)))
			return -1;
	return 0;
}

/* Rebuild S (empty) from the checkpoint c that sessfile.c read and
 * checked; 0, or -1 if its body does not hold what its header says. */
static int sess_restore(sstate *S, const sess_ckpt *c)
{
	bread r = { c->body, c->body + c->len, 0 };
	for (uint64_t u = 0; u < c->nurls; u++)
		if (get_text(&r, &S->urls) != u)
			return -1;
	for (uint64_t i = 0; i < c->nstreams; i++) {
		uint32_t len = bread_u32(&r);
		const unsigned char *q = bread_get(&r, len);
		uint32_t sid = q ? eg_sess_stream(S, (const char *)q, len) : UINT32_MAX;
		if (sid != i)
			return -1;
		uint32_t ns = bread_u32(&r);
		for (uint32_t j = 0; j < ns && !r.bad; j++)
			if (get_session(&r, S, sid, (uint32_t)c->nurls))
				return -1;
		sorder *o = &S->ord[sid];
		if (o->n) {                    /* the newest moves inline */
			ssess *x = &S->s[o->ss[o->n - 1]];
			o->cur = *x;
			o->has_cur = 1;
			x->ncs = 0;
			if (eg_sess_drop(S, sid, o->n - 1))
				return -1;
		}
	}
	if (r.bad || r.p != r.end || S->live != c->live)
		return -1;
	S->through = c->through;
	S->events = c->events;
	S->merges = c->merges;
	return 0;
}

int eg_sess_load(eg_store *st, const sess_files *f, const sess_key *k, uint64_t at, sstate *S)
{
	memset(S, 0, sizeof *S);
	uint64_t *cand;
	size_t n = eg_sess_ck_list(f, at, &cand);
	for (size_t i = 0; i < n; i++) {
		eg_ds_view v;
		sess_ckpt c;
		if (eg_sess_ck_read(st, f, k, cand[i], &v, &c))
			continue;
		int bad = sess_restore(S, &c);
		eg_ds_view_free(&v);
		if (!bad)
			break;
		eg_sess_state_free(S);
	}
	free(cand);
	return EG_OK;
}

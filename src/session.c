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
#include "internal.h"
#include "json.h"
#include "pipe.h"
#include "record.h"
#include "sess.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

/* A run saves a checkpoint at the first event of every so many positions,
 * kept so that a query known at an earlier time starts near it. */
uint64_t sess_save_every = 1u << 23;
/* Runs over fewer positions than this take no second thread. */
uint64_t sess_pipe_min = 1u << 16;
/* A run that took fewer events than this leaves the newest checkpoint as
 * it is (unless there is none): taking them again is cheaper than writing
 * the whole state. */
uint64_t sess_save_min = 1u << 16;

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

/* ------------------------------------------------------ interned texts */

/* memcmp(a, b, n) == 0, without a call for the short names of streams. */
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

static uint32_t itab_look(itab *t, uint64_t hv, const char *s, uint32_t len, int add)
{
	if (add && (uint64_t)(t->n + 1) * 4 > (uint64_t)t->scap * 3) {
		uint32_t cap = t->scap ? t->scap * 2 : 1024;
		uint32_t *slot = calloc(cap, sizeof *slot);
		if (!slot)
			return UINT32_MAX;
		for (uint32_t id = 0; id < t->n; id++) {
			uint32_t i = (uint32_t)t->e[id].hash & (cap - 1);
			while (slot[i])
				i = (i + 1) & (cap - 1);
			slot[i] = id + 1;
		}
		free(t->slot);
		t->slot = slot;
		t->scap = cap;
	}
	if (!t->scap)
		return UINT32_MAX;
	uint32_t m = t->scap - 1, i = (uint32_t)hv & m, v;
	while ((v = t->slot[i])) {
		const sname *e = &t->e[v - 1];
		if (e->hash == hv && e->len == len && same_text(t->text.p + e->off, s, len))
			return v - 1;
		i = (i + 1) & m;
	}
	if (!add)
		return UINT32_MAX;
	if (grow(&t->e, t->n, &t->cap, sizeof *t->e, 1024))
		return UINT32_MAX;
	if (t->text.n + len > UINT32_MAX || buf_add(&t->text, s, len))
		return UINT32_MAX;
	t->e[t->n] = (sname){ hv, (uint32_t)(t->text.n - len), len };
	t->slot[i] = t->n + 1;
	return t->n++;
}

uint32_t itab_get(itab *t, uint64_t hv, const char *s, uint32_t len)
{
	return itab_look(t, hv, s, len, 1);
}

void itab_free(itab *t)
{
	free(t->e);
	free(t->slot);
	free(t->text.p);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ the state */

static void cs_free(ssess *x)
{
	if (x->ncs > 1)
		free(x->cs.many);
	x->ncs = 0;
	x->last_cs = 0;
}

void sess_state_free(sstate *S)
{
	for (uint32_t i = 0; i < S->ns; i++)
		cs_free(&S->s[i]);
	for (uint32_t i = 0; i < S->streams.n; i++) {
		free(S->ord[i].ss);
		if (S->ord[i].has_cur)
			cs_free(&S->ord[i].cur);
	}
	itab_free(&S->streams);
	itab_free(&S->urls);
	free(S->ord);
	if (S->s)
		munmap(S->s, (size_t)S->caps * sizeof *S->s);
	free(S->freel);
	memset(S, 0, sizeof *S);
}

uint32_t sess_stream(sstate *S, const char *name, uint32_t len)
{
	uint32_t id = itab_get(&S->streams, XXH3_64bits(name, len), name, len);
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
	void *p = S->s ? mremap(S->s, old, n, MREMAP_MAYMOVE)
		       : mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (!S->s)
		(void)madvise(p, n, MADV_HUGEPAGE);            /* a hint */
	S->s = p;
	S->caps = c;
	return 0;
}

uint32_t sess_new(sstate *S, uint32_t stream, uint32_t i)
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

int sess_drop(sstate *S, uint32_t stream, uint32_t i)
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
int sess_add_cs(ssess *x, uint64_t h)
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
	return sess_add_cs(x, it->cshash);
}

/* Fold b into a (a starts before b): the late event between them closed
 * their gap. */
static int merge_into(ssess *a, const ssess *b)
{
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
		return sess_add_cs(a, b->cs.one);
	for (uint32_t i = 0; i < b->ncs; i++)
		if (sess_add_cs(a, b->cs.many[i]))
			return -1;
	return 0;
}

/* A new newest session of stream o, from event it. */
static int start_cur(sstate *S, sorder *o, uint32_t sid, const sitem *it, uint32_t url1)
{
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
		uint32_t id = sess_new(S, sid, o->n);  /* it becomes an older one */
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
			return sess_drop(S, sid, i);
		cs_free(&o->cur);                   /* b was the newest: a takes its place */
		o->cur = *a;
		a->ncs = 0;
		return sess_drop(S, sid, i - 1);
	}
	if (join_b)
		return add_to(b, it, url1);
	uint32_t id = sess_new(S, sid, i);
	if (id == UINT32_MAX)
		return -1;
	S->live++;
	ssess *x = &S->s[id];
	x->start = x->end = t;
	return add_to(x, it, url1);
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
	sess_files_close(&s->files);
	sess_state_free(&s->S);
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
		return st_err(st, EG_EINVAL, "the session gap must be positive");
	eg_sessions *s = calloc(1, sizeof *s);
	if (!s)
		return st_err(st, EG_ENOMEM, "out of memory");
	s->st = st;
	s->key.gap = gap;
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
		return st_err(st, EG_ENOMEM, "out of memory");
	}
	s->in_memory = flags & EG_SESS_IN_MEMORY;
	if (!s->in_memory)
		sess_files_open(st, &s->key, &s->files);   /* else in memory only */
	*out = s;
	return EG_OK;
}

/* ------------------------------------------------------------- the run */

typedef struct srun {
	eg_sessions *s;
	sstate *S;
	eg_iter *it;
	uint64_t prev_pos;            /* reader: the last event it passed on */
	int skip_heartbeats;
	int save;                     /* save checkpoints at save_every */
	uint64_t saved;
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

/* Reader: what the engine needs of e, appended to b. */
static int extract(srun *r, const eg_event *e, sbatch *b)
{
	sitem *it = &b->items[b->n];
	*it = (sitem){ .pos = e->pos, .time = e->time, .page = is_page(&r->s->key, e) };
	if (e->pos / sess_save_every != r->prev_pos / sess_save_every)
		it->ident = iter_ident(r->it);
	r->prev_pos = e->pos;
	if (text_add(b, e->stream, e->stream_len, &it->soff, &it->slen))
		return EG_ENOMEM;
	it->shash = XXH3_64bits(e->stream, e->stream_len);
	if (e->session_len)
		it->cshash = XXH3_64bits(e->session, e->session_len) | 1;
	if (it->page && e->data_len) {
		static const char *const name[1] = { "page_url" };
		static const size_t len[1] = { 8 };
		json_span obj = { e->data, e->data_len, JSON_OBJECT }, v;
		if ((json_members_valid(&obj, name, len, 1, &v) & 1) && v.type != JSON_NULL) {
			if (text_add(b, v.p, v.n, &it->uoff, &it->ulen))
				return EG_ENOMEM;
			it->uhash = XXH3_64bits(v.p, v.n);
		}
	}
	b->n++;
	return EG_OK;
}

static int fill(void *ctx, void *bp)
{
	srun *r = ctx;
	sbatch *b = bp;
	b->n = 0;
	b->text.n = 0;
	while (b->n < SB_CAP) {
		const eg_event *e;
		int rc = eg_iter_next(r->it, &e);
		if (rc)
			return rc;
		if (r->skip_heartbeats && e->type_len == sizeof EG_HEARTBEAT - 1 &&
		    !memcmp(e->type, EG_HEARTBEAT, e->type_len))
			continue;
		if ((rc = extract(r, e, b)))
			return rc;
	}
	return EG_OK;
}

static int take_batch(void *ctx, void *bp)
{
	srun *r = ctx;
	const sbatch *b = bp;
	sstate *S = r->S;
	eg_sessions *s = r->s;
	for (uint32_t k = 0; k < b->n; k++) {
		const sitem *it = &b->items[k];
		if (it->ident && r->save) {
			S->through = it->pos - 1;
			int rc = sess_save(s->st, &s->files, &s->key, S, it->pos, it->ident, 1);
			if (rc)
				return rc;
			r->saved++;
		}
		uint32_t sid = sess_stream(S, b->text.p + it->soff, it->slen), url1 = 0;
		if (sid == UINT32_MAX)
			return EG_ENOMEM;
		if (it->ulen) {
			uint32_t u = itab_get(&S->urls, it->uhash, b->text.p + it->uoff, it->ulen);
			if (u == UINT32_MAX)
				return EG_ENOMEM;
			url1 = u + 1;
		}
		if (take(S, s->key.gap, it, sid, url1))
			return EG_ENOMEM;
		S->through = it->pos;
		S->events++;
	}
	return EG_OK;
}

/* Take the events after S->through up to position to into S; save
 * checkpoints on the way when save is set. */
static int run(eg_sessions *s, sstate *S, uint64_t to, int save)
{
	if (to <= S->through)
		return EG_OK;
	uint64_t from = S->through, events = S->events;
	eg_filter f = { .from = from + 1, .to = to, .types = (const char *const *)s->key.types,
			.ntypes = s->key.ntypes };
	srun *r = calloc(1, sizeof *r);
	if (!r)
		return st_err(s->st, EG_ENOMEM, "out of memory");
	r->s = s;
	r->S = S;
	r->prev_pos = from;
	r->skip_heartbeats = !s->key.ntypes;
	r->save = save && s->files.lockfd >= 0;
	int threads = to - from >= sess_pipe_min, nb = threads ? 4 : 1, rc = EG_OK;
	for (int i = 0; i < nb && !rc; i++)
		if (!(r->b[i].items = malloc(SB_CAP * sizeof *r->b[i].items)) ||
		    buf_reserve(&r->b[i].text, 64 << 10))
			rc = EG_ENOMEM;
	if (!rc && !(rc = eg_iter_new(s->st, &r->it, &f)))
		iter_lazy_ids(r->it);
	if (!rc) {
		void *bs[4] = { &r->b[0], &r->b[1], &r->b[2], &r->b[3] };
		rc = pipe_run(bs, nb, threads, fill, r, take_batch, r);
	}
	eg_iter_free(r->it);
	if (rc == EG_END) {
		rc = EG_OK;
		S->through = to;
	}
	s->ex.taken += S->events - events;
	for (int i = 0; i < 4; i++) {
		free(r->b[i].items);
		free(r->b[i].text.p);
	}
	s->ex.saved += r->saved;
	free(r);
	if (rc == EG_ENOMEM)
		return st_err(s->st, EG_ENOMEM, "out of memory");
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
	int rc = sess_lock(s->st, &s->files);
	if (rc)
		return rc;
	if (!s->loaded) {
		if ((rc = sess_load(s->st, &s->files, &s->key, to, &s->S)))
			goto fail;
		s->loaded = 1;
		s->resumed = s->S.through;
	}
	uint64_t from = s->S.through;
	if ((rc = run(s, &s->S, to, 1)))
		goto fail;
	uint64_t took = s->S.through - from;
	*save = s->files.lockfd >= 0 && took && (took >= sess_save_min || !s->resumed);
	return EG_OK;
fail:
	sess_unlock(&s->files);
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
	e->rc = sess_save(e->s->st, &e->s->files, &e->s->key, &e->s->S, e->to, e->ident, 0);
	return NULL;
}

static int cmp_stream(const void *a, const void *b, void *ctx)
{
	const itab *t = ctx;
	const sname *x = &t->e[*(const uint32_t *)a], *y = &t->e[*(const uint32_t *)b];
	int c = memcmp(t->text.p + x->off, t->text.p + y->off, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
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
	uuid_format(u, out);
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
		if (i + 4 < o->n)                /* the pool is in order of creation */
			__builtin_prefetch(&S->s[o->ss[i + 4]]);
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
		uint32_t sid = itab_look(&S->streams, XXH3_64bits(q->stream, n), q->stream,
					 (uint32_t)n, 0);
		return sid == UINT32_MAX ? 0 : emit_stream(S, sid, q, fn, ctx);
	}
	uint32_t *ids = malloc(((size_t)S->streams.n + 1) * sizeof *ids);
	if (!ids)
		return EG_ENOMEM;                /* reported by the caller */
	for (uint32_t i = 0; i < S->streams.n; i++)
		ids[i] = i;
	qsort_r(ids, S->streams.n, sizeof *ids, cmp_stream, &S->streams);
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
	if (at == h.pos) {
		int save;
		if ((rc = catch_up(s, at, &save)))
			return rc;
		s->ex.resumed_from = s->resumed;
		end_save e = { s, at, 0, EG_OK };
		pthread_t t;
		int thread = 0;
		if (save && !(rc = store_event_ident(s->st, at, &e.ident)))
			thread = pthread_create(&t, NULL, save_end, &e) == 0;
		if (!rc)
			rc = emit(s, &s->S, q, fn, ctx);
		if (thread)
			pthread_join(t, NULL);
		else if (save && !rc)
			save_end(&e);
		if (save && !e.rc)
			s->ex.saved++;
		sess_unlock(&s->files);
		if (rc == EG_ENOMEM)
			return st_err(s->st, EG_ENOMEM, "out of memory");
		return rc ? rc : e.rc;
	}
	/* Known at an earlier time: from the checkpoint before it, in memory
	 * (the checkpoints of the head stay as they are). */
	sstate T = { 0 };
	if (!(rc = sess_load(s->st, &s->files, &s->key, at, &T))) {
		s->ex.resumed_from = T.through;
		if (!(rc = run(s, &T, at, 0)) && (rc = emit(s, &T, q, fn, ctx)) == EG_ENOMEM)
			rc = st_err(s->st, EG_ENOMEM, "out of memory");
	}
	sess_state_free(&T);
	return rc;
}

void eg_sessions_get_explain(const eg_sessions *s, eg_sess_explain *out)
{
	*out = s->ex;
}

/*
 * test_iter.c — reading as a specification.  The main property: for any
 * filter, eg_iter returns exactly what a plain filter over a full forward
 * scan returns, in the right order, whatever serves it (postings, block
 * zone maps, a scan of the part the index does not cover, an index caught
 * up or rebuilt from the log).  Then the iterator's view of time: it sees
 * the log as of its head, and eg_iter_wait extends it or times out.
 *
 * The random store is generated once per run (group setup) with small
 * segments; each test works on its own copy.  EG_SEED=N in the environment
 * picks another seed for the random filters.
 */
#include "testutil.h"
#include "engram.h"
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG_BYTES 8192
#define NFILTERS 400

/* ------------------------------------------------------------ helpers */

static eg_store *open_st(const char *dir, int flags)
{
	eg_store *st = NULL;
	eg_open_opts o = { .segment_bytes = SEG_BYTES };
	int rc = eg_store_open(&st, dir, flags, &o);
	if (rc != EG_OK)
		fail_msg("open %s: %s: %s", dir, eg_strerror(rc), eg_errmsg(st));
	return st;
}

static eg_store *open_w(const char *dir)
{
	return open_st(dir, EG_OPEN_WRITE | EG_OPEN_CREATE);
}

static eg_store *open_r(const char *dir)
{
	return open_st(dir, EG_OPEN_READ);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: small, deterministic, good enough for test data. */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int percent) { return (int)rnd_below(100) < percent; }

/* ------------------------------------------------------ the random store */

static const char *const STREAMS[] = { "", "acct-1", "acct-2", "acct-3", "user-17",
				       "user-18", "order-9", "order-10", "cart", "x" };
#define NSTREAMS (sizeof STREAMS / sizeof *STREAMS)
static const char *const TYPES[] = { "page_view", "click", "deposit", "withdrawal",
				     "error", "signup" };
#define NTYPES (sizeof TYPES / sizeof *TYPES)
#define BASE_MS 1735689600000LL   /* 2025-01-01T00:00:00Z */

/* One event as the reference knows it. */
typedef struct ref {
	uint64_t pos;
	int64_t time, recorded;
	int stream, type;      /* indices into STREAMS / TYPES */
	int has_time;
	int kind;              /* enum eg_kind */
} ref;

typedef struct group {
	char root[64];         /* temp dir of the whole run */
	char gen[128];         /* the generated store */
	char snap_idx[128];    /* its idx/ as of an early batch */
	ref *ev;
	size_t n, n_gen;       /* events now in the reference; as generated */
	uint64_t seed;
} group;

static group G;

static int lookup(const char *const *names, size_t count, const char *s, size_t n)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return (int)i;
	return -1;
}

/* The last position of each generated batch, in order. */
static uint64_t batch_end[64];
static size_t nbatch_end;

/* Append one random batch; the generated fields go to G.ev. */
static void gen_batch(eg_store *st, size_t count)
{
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .sync = chance(50) ? EG_SYNC_NONE : EG_SYNC_ALWAYS };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	static char line[16384], pad[12000];
	for (size_t k = 0; k < count; k++) {
		uint64_t pos = G.n + 1;
		ref *r = &G.ev[G.n];
		r->pos = pos;
		r->stream = chance(10) ? 0 : 1 + (int)rnd_below(NSTREAMS - 1);
		r->type = (int)rnd_below(NTYPES);
		r->has_time = !chance(10);
		r->kind = chance(80) ? EG_KIND_EVENT : chance(50) ? EG_KIND_METRIC : EG_KIND_ERROR;
		int64_t ms = BASE_MS + (int64_t)pos * 1000 + (int64_t)rnd_below(1500);
		if (chance(15))   /* late: hours behind the others */
			ms -= (int64_t)rnd_below(5 * 3600 * 1000);
		r->time = ms * 1000;
		size_t padlen = chance(2) ? 9000 + rnd_below(2000) : rnd_below(120);
		memset(pad, 'p', padlen);
		pad[padlen] = 0;
		int n = snprintf(line, sizeof line, "{\"id\":\"ev-%llu\",\"type\":\"%s\"",
				 (unsigned long long)pos, TYPES[r->type]);
		if (r->stream)
			n += snprintf(line + n, sizeof line - n, ",\"stream\":\"%s\"",
				      STREAMS[r->stream]);
		if (r->has_time)
			n += snprintf(line + n, sizeof line - n, ",\"time\":%lld", (long long)ms);
		if (r->kind != EG_KIND_EVENT)
			n += snprintf(line + n, sizeof line - n, ",\"kind\":\"%s\"",
				      r->kind == EG_KIND_METRIC ? "metric" : "error");
		/* a metric has a value, an error a message (checked at append) */
		n += snprintf(line + n, sizeof line - n, ",\"data\":{\"k\":%llu,%s\"pad\":\"%s\"}}",
			      (unsigned long long)pos, r->kind == EG_KIND_METRIC ? "\"value\":1,"
			      : r->kind == EG_KIND_ERROR ? "\"message\":\"m\"," : "", pad);
		int rc = eg_batch_add_json(b, line, (size_t)n);
		if (rc != EG_OK)
			fail_msg("gen add: %s: %s", eg_strerror(rc), eg_errmsg(st));
		G.n++;
	}
	eg_append_result res;
	assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	assert_int_equal(res.last_pos, G.n);
	if (nbatch_end < sizeof batch_end / sizeof *batch_end)
		batch_end[nbatch_end++] = res.last_pos;
}

/* Read the whole store with a zero filter and check it against what was
 * generated; fill in the recorded times. */
static void scan_reference(eg_store *st)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	const eg_event *e;
	size_t i = 0;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		assert_true(i < G.n);
		ref *r = &G.ev[i];
		char id[32];
		int idn = snprintf(id, sizeof id, "ev-%llu", (unsigned long long)r->pos);
		if (e->pos != r->pos)
			fail_msg("full scan: event #%zu has pos %llu, expected %llu", i + 1,
				 (unsigned long long)e->pos, (unsigned long long)r->pos);
		assert_true(e->id_len == (size_t)idn && !memcmp(e->id, id, (size_t)idn));
		assert_int_equal(lookup(STREAMS, NSTREAMS, e->stream, e->stream_len), r->stream);
		assert_int_equal(lookup(TYPES, NTYPES, e->type, e->type_len), r->type);
		if (r->has_time)
			assert_int_equal(e->time, r->time);
		else
			assert_int_equal(e->time, e->recorded);
		r->time = e->time;
		r->recorded = e->recorded;
		if (i > 0)
			assert_true(r->recorded >= G.ev[i - 1].recorded);
		i++;
	}
	assert_int_equal(rc, EG_END);
	assert_int_equal(i, G.n);
	eg_iter_free(it);
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(G.root, "/tmp/eg-iter-XXXXXX");
	if (!mkdtemp(G.root))
		return -1;
	snprintf(G.gen, sizeof G.gen, "%s/gen", G.root);
	snprintf(G.snap_idx, sizeof G.snap_idx, "%s/snap-idx", G.root);
	const char *seed = getenv("EG_SEED");
	G.seed = seed ? strtoull(seed, NULL, 10) : 20250101;
	rnd_state = G.seed * 2654435761u + 1;
	G.ev = calloc(20000, sizeof *G.ev);
	eg_store *st = open_w(G.gen);
	for (int b = 0; b < 45; b++) {
		size_t count = chance(20) ? 1 + rnd_below(5) : 20 + rnd_below(chance(20) ? 600 : 150);
		gen_batch(st, count);
		if (b == 29) {
			/* Keep the index as of now, for the lagging-index tests. */
			eg_store_close(st);
			char idx[160];
			snprintf(idx, sizeof idx, "%s/idx", G.gen);
			tu_copy_tree(idx, G.snap_idx);
			st = open_w(G.gen);
		}
	}
	eg_stats s;
	assert_int_equal(eg_store_stats(st, &s), EG_OK);
	assert_true(s.segments > 50);   /* the point of small segments */
	eg_store_close(st);
	st = open_r(G.gen);
	scan_reference(st);
	eg_store_close(st);
	G.n_gen = G.n;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rm_rf(G.root);
	free(G.ev);
	return 0;
}

/* Per test: a fresh copy of the generated store in a fresh temp dir. */
typedef struct fx {
	char tmp[64];
	char dir[128];
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	strcpy(f->tmp, "/tmp/eg-iter-t-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/store", f->tmp);
	*state = f;
	return 0;
}

static int setup_copy(void **state)
{
	if (setup(state))
		return -1;
	fx *f = *state;
	tu_copy_tree(G.gen, f->dir);
	G.n = G.n_gen;   /* a test that appends extends the reference */
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	rm_rf(f->tmp);
	free(f);
	return 0;
}

/* A reader keeps using the id and key tables after a writer grows them
 * (a new file renamed over the old): an id appended before still found,
 * the index still usable.  (eg_htab_refresh once reopened "" after a
 * growth: the id was not found, and the reader read the whole log.) */
static void reader_tables_survive_the_writer_growing_them(void **state)
{
	fx *f = *state;
	eg_store *r = NULL;
	char line[128];
	uint64_t pos;
	/* As engram append does: a writer per batch, closed after it. */
	for (int b = 0; b < 8; b++) {
		eg_store *w = open_w(f->dir);
		eg_batch *bt;
		eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
		assert_int_equal(eg_batch_begin(w, &bt, &o), EG_OK);
		for (int k = 0; k < 1000; k++) {
			int n = snprintf(line, sizeof line, "{\"id\":\"g-%d\",\"stream\":\"s-%d\",\"type\":\"t\"}",
					 b * 1000 + k, b * 1000 + k);
			assert_int_equal(eg_batch_add_json(bt, line, (size_t)n), EG_OK);
		}
		assert_int_equal(eg_batch_commit(bt, NULL), EG_OK);
		eg_store_close(w);
		if (!r)
			r = open_r(f->dir);
		/* the reader has its tables open before the next batch grows them */
		assert_int_equal(eg_store_find_id(r, "g-0", 3, &pos), EG_OK);
		assert_int_equal(pos, 1);
		snprintf(line, sizeof line, "g-%d", b * 1000 + 999);
		assert_int_equal(eg_store_find_id(r, line, strlen(line), &pos), EG_OK);
		assert_int_equal(pos, (uint64_t)b * 1000 + 1000);
		if (eg_store_index_lag(r) != 0)
			fail_msg("after batch %d the reader's index lags by %llu", b,
				 (unsigned long long)eg_store_index_lag(r));
	}
	eg_store_close(r);
}

/* ------------------------------------------------------ random filters */

typedef struct rfilter {
	eg_filter f;
	const char *types[4];
	const char *streams[5];
} rfilter;

static int64_t pick_clock(int by)
{
	const ref *r = &G.ev[rnd_below(G.n)];
	int64_t v = by == EG_BY_RECORDED ? r->recorded : r->time;
	return v + (int64_t)rnd_below(3) - 1;
}

static void random_filter(rfilter *rf)
{
	memset(rf, 0, sizeof *rf);
	eg_filter *f = &rf->f;
	/* The empty stream and a type named twice have tests of their own. */
	if (chance(45)) {
		int k = 1 + (int)rnd_below(NSTREAMS);
		f->stream = k == NSTREAMS ? "no-such-stream" : STREAMS[k];
	}
	/* A set of streams (with the empty one, repeats, or none at all),
	 * alone or besides stream. */
	if (chance(25)) {
		size_t n = rnd_below(6);
		for (size_t i = 0; i < n; i++) {
			int k = (int)rnd_below(NSTREAMS + 1);
			rf->streams[f->nstreams++] = k == NSTREAMS ? "no-such-stream" : STREAMS[k];
		}
		f->streams = rf->streams;
	}
	if (chance(20))
		f->kinds = (unsigned)rnd_below(8);
	if (chance(45)) {
		size_t want = 1 + rnd_below(3);
		while (f->ntypes < want) {
			int k = (int)rnd_below(NTYPES + 1);
			const char *t = k == NTYPES ? "no-such-type" : TYPES[k];
			int seen = 0;
			for (size_t i = 0; i < f->ntypes; i++)
				seen |= rf->types[i] == t;
			if (!seen)
				rf->types[f->ntypes++] = t;
		}
		f->types = rf->types;
	}
	f->by = chance(50) ? EG_BY_RECORDED : EG_BY_EVENT;
	if (chance(40)) {
		f->has_since = 1;
		f->since = pick_clock(f->by);
	}
	if (chance(40)) {
		f->has_until = 1;
		f->until = pick_clock(f->by);
	}
	if (chance(30))
		f->from = 1 + rnd_below(G.n + 5);
	if (chance(30))
		f->to = 1 + rnd_below(G.n + 5);
	if (chance(30))
		f->limit = 1 + rnd_below(60);
	f->reverse = chance(35);
}

static void describe(const eg_filter *f, char *out, size_t cap)
{
	int n = snprintf(out, cap, "stream=%s kinds=%u streams=%s[", f->stream ? f->stream : "(any)",
			 f->kinds, f->streams ? "" : "(any)");
	for (size_t i = 0; i < f->nstreams; i++)
		n += snprintf(out + n, cap - n, "%s'%s'", i ? "," : "", f->streams[i]);
	n += snprintf(out + n, cap - n, "] types=[");
	for (size_t i = 0; i < f->ntypes; i++)
		n += snprintf(out + n, cap - n, "%s%s", i ? "," : "", f->types[i]);
	snprintf(out + n, cap - n, "] by=%s since=%s%lld until=%s%lld from=%llu to=%llu "
		 "limit=%llu reverse=%d", f->by ? "recorded" : "event",
		 f->has_since ? "" : "-", (long long)f->since,
		 f->has_until ? "" : "-", (long long)f->until,
		 (unsigned long long)f->from, (unsigned long long)f->to,
		 (unsigned long long)f->limit, f->reverse);
}

/* The plain filter: does reference event r satisfy f (ignoring limit)? */
static int matches(const eg_filter *f, const ref *r)
{
	if (f->from && r->pos < f->from)
		return 0;
	if (f->to && r->pos > f->to)
		return 0;
	if (f->stream && strcmp(f->stream, STREAMS[r->stream]))
		return 0;
	if (f->streams) {
		int any = 0;
		for (size_t i = 0; i < f->nstreams; i++)
			any |= !strcmp(f->streams[i], STREAMS[r->stream]);
		if (!any)
			return 0;
	}
	if (f->kinds && !(f->kinds & (1u << r->kind)))
		return 0;
	if (f->ntypes) {
		int any = 0;
		for (size_t i = 0; i < f->ntypes; i++)
			any |= !strcmp(f->types[i], TYPES[r->type]);
		if (!any)
			return 0;
	}
	int64_t t = f->by == EG_BY_RECORDED ? r->recorded : r->time;
	if (f->has_since && t < f->since)
		return 0;
	if (f->has_until && t > f->until)
		return 0;
	return 1;
}

/* Positions the plain filter yields, in iteration order, limit applied. */
static size_t expected(const eg_filter *f, uint64_t *out)
{
	size_t n = 0;
	for (size_t k = 0; k < G.n; k++) {
		size_t i = f->reverse ? G.n - 1 - k : k;
		if (f->limit && n >= f->limit)
			break;
		if (matches(f, &G.ev[i]))
			out[n++] = G.ev[i].pos;
	}
	return n;
}

/* Run f through eg_iter and compare with the plain filter. */
static void check_filter(eg_store *st, const eg_filter *f, uint64_t *want, uint64_t *got)
{
	size_t nw = expected(f, want), ng = 0;
	eg_iter *it;
	int rc = eg_iter_new(st, &it, f);
	char what[512];
	if (rc != EG_OK) {
		describe(f, what, sizeof what);
		fail_msg("iter_new(%s): %s: %s", what, eg_strerror(rc), eg_errmsg(st));
	}
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (ng < G.n)
			got[ng] = e->pos;
		ng++;
		const ref *r = e->pos >= 1 && e->pos <= G.n ? &G.ev[e->pos - 1] : NULL;
		if (!r || e->time != r->time || e->recorded != r->recorded ||
		    lookup(STREAMS, NSTREAMS, e->stream, e->stream_len) != r->stream ||
		    lookup(TYPES, NTYPES, e->type, e->type_len) != r->type) {
			describe(f, what, sizeof what);
			fail_msg("filter %s: event at pos %llu differs from the full scan", what,
				 (unsigned long long)e->pos);
		}
	}
	if (rc != EG_END) {
		describe(f, what, sizeof what);
		fail_msg("filter %s: iter_next: %s: %s", what, eg_strerror(rc), eg_errmsg(st));
	}
	eg_iter_free(it);
	size_t i = 0;
	while (i < nw && i < ng && want[i] == got[i])
		i++;
	if (i < nw || i < ng) {
		describe(f, what, sizeof what);
		fail_msg("seed %llu, filter %s: %zu events expected, %zu returned; first "
			 "difference at #%zu: expected pos %llu, got %llu",
			 (unsigned long long)G.seed, what, nw, ng, i,
			 (unsigned long long)(i < nw ? want[i] : 0),
			 (unsigned long long)(i < ng ? got[i] : 0));
	}
}

/* A zero filter gives the whole log in order, with the reference fields. */
static void check_full_scan(eg_store *st)
{
	uint64_t *want = malloc((G.n + 1) * sizeof *want), *got = malloc((G.n + 1) * sizeof *got);
	eg_filter f = { 0 };
	check_filter(st, &f, want, got);
	f.reverse = 1;
	check_filter(st, &f, want, got);
	free(want);
	free(got);
}

static void check_random_filters(eg_store *st, uint64_t salt)
{
	check_full_scan(st);
	uint64_t *want = malloc((G.n + 1) * sizeof *want), *got = malloc((G.n + 1) * sizeof *got);
	rnd_state = (G.seed + salt) * 0x9E3779B97F4A7C15ull | 1;
	for (int k = 0; k < NFILTERS; k++) {
		rfilter rf;
		random_filter(&rf);
		check_filter(st, &rf.f, want, got);
	}
	free(want);
	free(got);
}

/* A few filters every run checks, whatever the seed. */
/* eg_store_find_id answers from the id index, the log where the index
 * does not reach, or both. */
static void check_find_id(eg_store *st)
{
	char id[32];
	uint64_t pos;
	for (int k = 0; k < 60; k++) {
		uint64_t want = k < 2 ? (k ? G.n : 1) : 1 + rnd_below(G.n);
		snprintf(id, sizeof id, "ev-%llu", (unsigned long long)want);
		int rc = eg_store_find_id(st, id, strlen(id), &pos);
		if (rc != EG_OK || pos != want)
			fail_msg("find_id %s: %s, pos %llu", id, eg_strerror(rc), (unsigned long long)pos);
	}
	assert_int_equal(eg_store_find_id(st, "ev-0", 4, &pos), EG_ENOTFOUND);
	assert_int_equal(eg_store_find_id(st, "no-such-id", 10, &pos), EG_ENOTFOUND);
	assert_int_equal(pos, 0);
}

static void check_fixed_filters(eg_store *st)
{
	check_find_id(st);
	uint64_t *want = malloc((G.n + 1) * sizeof *want), *got = malloc((G.n + 1) * sizeof *got);
	const char *two[] = { "deposit", "withdrawal" };
	eg_filter fs[] = {
		{ .stream = "acct-1" },
		{ .stream = "acct-1", .reverse = 1, .limit = 7 },
		{ .types = two, .ntypes = 2 },
		{ .types = two, .ntypes = 2, .stream = "user-17", .reverse = 1 },
		{ .from = 100, .to = 200 },
		{ .from = 100, .to = 200, .reverse = 1 },
		{ .by = EG_BY_EVENT, .has_since = 1, .since = (BASE_MS + 500 * 1000) * 1000,
		  .has_until = 1, .until = (BASE_MS + 900 * 1000) * 1000 },
		{ .by = EG_BY_RECORDED, .has_until = 1, .until = G.ev[G.n / 2].recorded },
		{ .by = EG_BY_RECORDED, .has_since = 1, .since = G.ev[G.n / 3].recorded,
		  .reverse = 1 },
		{ .limit = 1 },
		{ .limit = 1, .reverse = 1 },
		{ .from = G.n, .to = G.n + 10 },
		{ .from = G.n + 1 },
	};
	for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
		check_filter(st, &fs[i], want, got);
	free(want);
	free(got);
}

/* ------------------------------------------------------ property tests */

static void assert_no_lag(eg_store *st, const char *when)
{
	uint64_t lag = eg_store_index_lag(st);
	if (lag != 0)
		fail_msg("%s: the index lags the log by %llu events, expected 0", when,
			 (unsigned long long)lag);
}

static void iter_matches_plain_filter_on_the_writer(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	check_fixed_filters(st);
	check_random_filters(st, 1);
	eg_store_close(st);
}

static void iter_matches_plain_filter_on_a_reader(void **state)
{
	fx *f = *state;
	eg_store *st = open_r(f->dir);
	assert_no_lag(st, "reader");
	check_fixed_filters(st);
	check_random_filters(st, 2);
	eg_store_close(st);
}

/* eg_iter_chain gives each event its own batch's chain hash, the one
 * eg_store_chain_at gives for the batch's last position, whatever serves
 * the iterator (blocks, postings for a type, reverse), and the last
 * batch's is the head's. */
static void iter_chain_is_the_hash_of_the_events_batch(void **state)
{
	fx *f = *state;
	eg_store *st = open_r(f->dir);
	const char *types[] = { TYPES[1] };
	eg_filter filters[] = { { 0 }, { .types = types, .ntypes = 1 }, { .reverse = 1 },
				{ .from = batch_end[10] - 1, .to = batch_end[20] } };
	eg_iter *it;
	const eg_event *e;
	unsigned char got[32], want[32];
	assert_int_equal(eg_iter_new(st, &it, &filters[0]), EG_OK);
	assert_int_equal(eg_iter_chain(it, got), EG_EINVAL);   /* no event yet */
	eg_iter_free(it);
	for (size_t k = 0; k < sizeof filters / sizeof *filters; k++) {
		assert_int_equal(eg_iter_new(st, &it, &filters[k]), EG_OK);
		size_t n = 0, b = 0;
		int rc;
		while ((rc = eg_iter_next(it, &e)) == EG_OK) {
			for (b = 0; b < nbatch_end && batch_end[b] < e->pos; b++)
				;
			assert_true(b < nbatch_end);
			assert_int_equal(eg_store_chain_at(st, batch_end[b], want), EG_OK);
			if ((rc = eg_iter_chain(it, got)))
				fail_msg("filter %zu, position %llu: %s: %s", k,
					 (unsigned long long)e->pos, eg_strerror(rc), eg_errmsg(st));
			if (memcmp(got, want, 32))
				fail_msg("filter %zu: position %llu has the chain of another batch "
					 "than its own (ending at %llu)", k,
					 (unsigned long long)e->pos, (unsigned long long)batch_end[b]);
			n++;
		}
		assert_int_equal(rc, EG_END);
		assert_true(n > 0);
		eg_iter_free(it);
	}
	/* the last event's batch is the head's */
	eg_head h;
	eg_filter last = { .reverse = 1, .limit = 1 };
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(eg_iter_new(st, &it, &last), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_int_equal(eg_iter_chain(it, got), EG_OK);
	assert_memory_equal(got, h.hash, 32);
	eg_iter_free(it);
	eg_store_close(st);
}

/* Put back the index as it was after an early batch. */
static void restore_old_index(fx *f)
{
	char idx[160];
	snprintf(idx, sizeof idx, "%s/idx", f->dir);
	rm_rf(idx);
	tu_copy_tree(G.snap_idx, idx);
}

static void iter_matches_plain_filter_when_the_index_lags_the_log(void **state)
{
	fx *f = *state;
	restore_old_index(f);
	eg_store *st = open_r(f->dir);
	uint64_t lag = eg_store_index_lag(st);
	assert_true(lag > 0 && lag < G.n);   /* part index, part scan */
	check_fixed_filters(st);
	check_random_filters(st, 3);
	eg_store_close(st);
}

static void writer_open_catches_up_a_lagging_index(void **state)
{
	fx *f = *state;
	restore_old_index(f);
	eg_store *st = open_w(f->dir);
	check_fixed_filters(st);
	check_random_filters(st, 4);
	assert_no_lag(st, "after the writer's open");
	eg_store_close(st);
	st = open_r(f->dir);
	assert_no_lag(st, "reader after the writer closed");
	check_random_filters(st, 5);
	eg_store_close(st);
}

static void iter_matches_plain_filter_after_idx_is_deleted_and_rebuilt(void **state)
{
	fx *f = *state;
	char idx[160];
	snprintf(idx, sizeof idx, "%s/idx", f->dir);
	rm_rf(idx);
	eg_store *st = open_w(f->dir);
	check_fixed_filters(st);
	check_random_filters(st, 6);
	assert_no_lag(st, "after rebuilding a deleted idx/");
	eg_store_close(st);
	st = open_r(f->dir);
	check_random_filters(st, 7);
	eg_store_close(st);
}

typedef struct keylist {
	char buf[4096];
	size_t len;
} keylist;

static int list_key(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	keylist *k = ctx;
	k->len += (size_t)snprintf(k->buf + k->len, sizeof k->buf - k->len, "%.*s:%llu:%llu;",
				   (int)len, name, (unsigned long long)count,
				   (unsigned long long)version);
	return 0;
}

static void reindex_gives_identical_results(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	keylist s0 = { .len = 0 }, t0 = { .len = 0 }, s1 = { .len = 0 }, t1 = { .len = 0 };
	assert_int_equal(eg_store_keys(st, EG_KEYS_STREAMS, list_key, &s0), EG_OK);
	assert_int_equal(eg_store_keys(st, EG_KEYS_TYPES, list_key, &t0), EG_OK);
	eg_stats a, b;
	assert_int_equal(eg_store_stats(st, &a), EG_OK);
	assert_int_equal(eg_store_reindex(st), EG_OK);
	assert_int_equal(eg_store_keys(st, EG_KEYS_STREAMS, list_key, &s1), EG_OK);
	assert_int_equal(eg_store_keys(st, EG_KEYS_TYPES, list_key, &t1), EG_OK);
	assert_string_equal(s0.buf, s1.buf);
	assert_string_equal(t0.buf, t1.buf);
	assert_int_equal(eg_store_stats(st, &b), EG_OK);
	assert_int_equal(a.events, b.events);
	assert_int_equal(a.streams, b.streams);
	assert_int_equal(a.types, b.types);
	assert_int_equal(a.time_min, b.time_min);
	assert_int_equal(a.time_max, b.time_max);
	assert_int_equal(a.recorded_min, b.recorded_min);
	assert_int_equal(a.recorded_max, b.recorded_max);
	check_fixed_filters(st);
	check_random_filters(st, 8);
	/* Duplicate detection survives the rebuild. */
	eg_batch *bt;
	assert_int_equal(eg_batch_begin(st, &bt, NULL), EG_OK);
	const char *dup = "{\"id\":\"ev-1\",\"type\":\"click\"}";
	assert_int_equal(eg_batch_add_json(bt, dup, strlen(dup)), EG_EDUP);
	eg_batch_abort(bt);
	assert_no_lag(st, "after eg_store_reindex");
	eg_store_close(st);
}

/* Batches appended after the open caught the index up are indexed right. */
static void writer_appends_correctly_after_catching_up_the_index(void **state)
{
	fx *f = *state;
	restore_old_index(f);
	eg_store *st = open_w(f->dir);
	size_t n0 = G.n;
	/* More random batches, recorded in the reference as they go. */
	rnd_state = G.seed ^ 0xabcdef;
	for (int b = 0; b < 5; b++)
		gen_batch(st, 5 + rnd_below(80));
	eg_store_close(st);
	st = open_r(f->dir);
	scan_reference(st);
	check_fixed_filters(st);
	check_random_filters(st, 11);
	eg_store_close(st);
	st = open_w(f->dir);
	check_random_filters(st, 12);
	eg_store_close(st);
	G.n = n0;   /* the other tests use the original store */
}

/* Ids of the batches replayed at open stay known for duplicate detection,
 * also after the next batch commits. */
static void duplicates_of_replayed_events_are_detected_after_catching_up(void **state)
{
	fx *f = *state;
	restore_old_index(f);
	eg_store *st = open_w(f->dir);
	const char *one = "{\"id\":\"after-catch-up\",\"type\":\"click\"}";
	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	assert_int_equal(eg_batch_add_json(b, one, strlen(one)), EG_OK);
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	/* Ids from the first, a middle and the last replayed batch. */
	uint64_t probe[] = { G.n - 1, G.n, G.n / 2 + G.n / 4, G.n / 2 + G.n / 3 };
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
		char line[96];
		snprintf(line, sizeof line, "{\"id\":\"ev-%llu\",\"type\":\"click\"}",
			 (unsigned long long)probe[i]);
		int rc = eg_batch_add_json(b, line, strlen(line));
		if (rc != EG_EDUP)
			fail_msg("id ev-%llu: %s, expected EG_EDUP", (unsigned long long)probe[i],
				 eg_strerror(rc));
	}
	eg_batch_abort(b);
	eg_store_close(st);
}

/* The random filters leave these out so that they can explore further. */
static void iter_stream_filter_empty_selects_events_without_a_stream(void **state)
{
	fx *f = *state;
	uint64_t *want = malloc((G.n + 1) * sizeof *want), *got = malloc((G.n + 1) * sizeof *got);
	eg_filter fl = { .stream = "" };
	assert_true(expected(&fl, want) > 0);
	eg_store *st = open_r(f->dir);
	check_filter(st, &fl, want, got);
	fl.reverse = 1;
	check_filter(st, &fl, want, got);
	eg_store_close(st);
	free(want);
	free(got);
}

static void iter_type_named_twice_returns_each_event_once(void **state)
{
	fx *f = *state;
	uint64_t *want = malloc((G.n + 1) * sizeof *want), *got = malloc((G.n + 1) * sizeof *got);
	const char *twice[] = { "deposit", "deposit" };
	const char *mixed[] = { "click", "deposit", "click" };
	eg_filter a = { .types = twice, .ntypes = 2 };
	eg_filter b = { .types = mixed, .ntypes = 3, .reverse = 1 };
	eg_store *st = open_r(f->dir);
	check_filter(st, &a, want, got);
	check_filter(st, &b, want, got);
	eg_store_close(st);
	free(want);
	free(got);
}

static void reader_with_index_state_missing_scans_the_log(void **state)
{
	fx *f = *state;
	char path[160];
	snprintf(path, sizeof path, "%s/idx/state", f->dir);
	assert_int_equal(truncate(path, 0), 0);
	eg_store *st = open_r(f->dir);
	check_fixed_filters(st);
	check_random_filters(st, 9);
	eg_store_close(st);
}

static void reader_of_a_store_whose_idx_was_deleted_scans_the_log(void **state)
{
	fx *f = *state;
	char idx[160];
	snprintf(idx, sizeof idx, "%s/idx", f->dir);
	rm_rf(idx);
	eg_store *st = NULL;
	int rc = eg_store_open(&st, f->dir, EG_OPEN_READ, NULL);
	if (rc != EG_OK)
		fail_msg("open for read without idx/: %s: %s", eg_strerror(rc), eg_errmsg(st));
	assert_int_not_equal(eg_store_index_lag(st), 0);
	check_fixed_filters(st);
	check_random_filters(st, 10);
	eg_store_close(st);
}

/* --------------------------------------------------- the iterator's head */

static void append_line(eg_store *st, const char *line)
{
	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
}

static void append_n(eg_store *st, int first, int n)
{
	char line[128];
	for (int i = first; i < first + n; i++) {
		snprintf(line, sizeof line, "{\"id\":\"e%d\",\"stream\":\"s\",\"type\":\"t\"}", i);
		append_line(st, line);
	}
}

/* Drain it; return the number of events and the last position. */
static size_t drain(eg_iter *it, uint64_t *last)
{
	const eg_event *e;
	size_t n = 0;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (last && n && e->pos != *last + 1)
			fail_msg("positions jump from %llu to %llu", (unsigned long long)*last,
				 (unsigned long long)e->pos);
		if (last)
			*last = e->pos;
		n++;
	}
	assert_int_equal(rc, EG_END);
	return n;
}

/* A forward scan reads the log through a buffer (eg_iter_read_chunk, made
 * 4 KiB here): records, the commit after a block's last event among them,
 * fall across its end all over a log of blocks of every size.  Each must
 * be read whole, never taken for damage. */
static void scan_reads_records_that_cross_its_read_buffer(void **state)
{
	fx *f = *state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL), EG_OK);
	static char line[200], pad[64];
	memset(pad, 'p', sizeof pad - 1);
	uint64_t rnd = 7;
	int id = 0;
	for (int b = 0; b < 600; b++) {
		eg_batch *bt;
		eg_batch_opts o = { .expect_version = -1, .sync = EG_SYNC_NONE };
		assert_int_equal(eg_batch_begin(st, &bt, &o), EG_OK);
		int n = 1 + (int)(tu_rnd(&rnd) % 70);
		for (int i = 0; i < n; i++, id++) {
			int k = (int)(tu_rnd(&rnd) % 40);
			snprintf(line, sizeof line, "{\"id\":\"e%d\",\"type\":\"t\",\"data\":{\"p\":\"%.*s\"}}",
				 id, k, pad);
			assert_int_equal(eg_batch_add_json(bt, line, strlen(line)), EG_OK);
		}
		assert_int_equal(eg_batch_commit(bt, NULL), EG_OK);
	}
	eg_store_close(st);
	st = NULL;
	size_t saved = eg_iter_read_chunk;
	eg_iter_read_chunk = 4096;
	assert_int_equal(eg_store_open(&st, f->dir, EG_OPEN_READ, NULL), EG_OK);
	eg_iter *it;
	eg_filter all = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &all), EG_OK);
	uint64_t last = 0;
	const eg_event *e;
	int rc;
	size_t n = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (e->pos != last + 1)
			fail_msg("positions jump from %llu to %llu", (unsigned long long)last,
				 (unsigned long long)e->pos);
		last = e->pos;
		n++;
	}
	eg_iter_read_chunk = saved;
	if (rc != EG_END)
		fail_msg("the scan stopped at position %llu: %s", (unsigned long long)last,
			 eg_errmsg(st));
	assert_int_equal(n, (size_t)id);
	eg_iter_free(it);
	eg_store_close(st);
}

static void iterator_sees_the_log_as_of_its_head(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 5);
	eg_store *r = open_r(f->dir);
	eg_iter *iw, *ir;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(w, &iw, &flt), EG_OK);
	assert_int_equal(eg_iter_new(r, &ir, &flt), EG_OK);
	const eg_event *e;
	assert_int_equal(eg_iter_next(iw, &e), EG_OK);   /* started before the append */
	append_n(w, 6, 3);
	uint64_t last = 1;
	assert_int_equal(drain(iw, &last), 4);
	assert_int_equal(last, 5);
	last = 0;
	assert_int_equal(drain(ir, &last), 5);
	assert_int_equal(last, 5);
	eg_iter_free(iw);
	eg_iter_free(ir);
	/* A new iterator sees the new head. */
	assert_int_equal(eg_iter_new(r, &ir, &flt), EG_OK);
	assert_int_equal(drain(ir, NULL), 8);
	eg_iter_free(ir);
	eg_store_close(r);
	eg_store_close(w);
}

static void iterator_does_not_see_events_of_an_open_batch(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 3);
	eg_batch *b;
	assert_int_equal(eg_batch_begin(w, &b, NULL), EG_OK);
	const char *l = "{\"id\":\"pending\",\"type\":\"t\"}";
	assert_int_equal(eg_batch_add_json(b, l, strlen(l)), EG_OK);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(w, &it, &flt), EG_OK);
	assert_int_equal(drain(it, NULL), 3);
	eg_iter_free(it);
	eg_filter rev = { .reverse = 1 };
	assert_int_equal(eg_iter_new(w, &it, &rev), EG_OK);
	assert_int_equal(drain(it, NULL), 3);
	eg_iter_free(it);
	eg_batch_abort(b);
	eg_store_close(w);
}

static void iter_wait_returns_end_on_timeout_with_nothing_new(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 3);
	eg_store *r = open_r(f->dir);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(r, &it, &flt), EG_OK);
	assert_int_equal(drain(it, NULL), 3);
	int64_t t0 = now_us();
	assert_int_equal(eg_iter_wait(it, 150), EG_END);
	int64_t waited = now_us() - t0;
	assert_true(waited >= 100000);   /* it did wait, not return at once */
	assert_int_equal(eg_iter_wait(it, 0), EG_END);
	const eg_event *e;
	assert_int_equal(eg_iter_next(it, &e), EG_END);
	assert_int_equal(eg_iter_scanned(it), 3);
	eg_iter_free(it);
	eg_store_close(r);
	eg_store_close(w);
}

static void iter_wait_extends_the_iterator_to_new_batches(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 3);
	eg_store *r = open_r(f->dir);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(r, &it, &flt), EG_OK);
	uint64_t last = 0;
	assert_int_equal(drain(it, &last), 3);
	append_n(w, 4, 2);
	assert_int_equal(eg_iter_wait(it, 1000), EG_OK);
	assert_int_equal(drain(it, &last), 2);
	assert_int_equal(last, 5);
	assert_int_equal(eg_iter_scanned(it), 5);
	assert_int_equal(eg_iter_wait(it, 50), EG_END);
	eg_iter_free(it);
	eg_store_close(r);
	eg_store_close(w);
}

static void iter_wait_applies_the_filter_to_new_batches(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_line(w, "{\"id\":\"a\",\"stream\":\"keep\",\"type\":\"t\"}");
	eg_iter *it;
	eg_filter flt = { .stream = "keep" };
	assert_int_equal(eg_iter_new(w, &it, &flt), EG_OK);
	assert_int_equal(drain(it, NULL), 1);
	append_line(w, "{\"id\":\"b\",\"stream\":\"other\",\"type\":\"t\"}");
	append_line(w, "{\"id\":\"c\",\"stream\":\"keep\",\"type\":\"t\"}");
	assert_int_equal(eg_iter_wait(it, 1000), EG_OK);
	const eg_event *e;
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_int_equal(e->pos, 3);
	assert_int_equal(eg_iter_next(it, &e), EG_END);
	assert_int_equal(eg_iter_scanned(it), 3);
	eg_iter_free(it);
	eg_store_close(w);
}

static void iter_wait_on_a_reverse_iterator_returns_end(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 2);
	eg_iter *it;
	eg_filter flt = { .reverse = 1 };
	assert_int_equal(eg_iter_new(w, &it, &flt), EG_OK);
	assert_int_equal(drain(it, NULL), 2);
	append_n(w, 3, 1);
	assert_int_equal(eg_iter_wait(it, 10), EG_END);
	eg_iter_free(it);
	eg_store_close(w);
}

static void iter_wait_wakes_when_another_process_commits(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 2);
	eg_store_close(w);   /* the child will be the writer */
	eg_store *r = open_r(f->dir);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(r, &it, &flt), EG_OK);
	assert_int_equal(drain(it, NULL), 2);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(200000);
		eg_store *c = NULL;
		if (eg_store_open(&c, f->dir, EG_OPEN_WRITE, NULL) != EG_OK)
			_exit(1);
		eg_batch *b;
		const char *l = "{\"id\":\"from-child\",\"type\":\"t\"}";
		if (eg_batch_begin(c, &b, NULL) || eg_batch_add_json(b, l, strlen(l)) ||
		    eg_batch_commit(b, NULL))
			_exit(2);
		eg_store_close(c);
		_exit(0);
	}
	int64_t t0 = now_us();
	int rc = eg_iter_wait(it, 10000);
	int64_t waited = now_us() - t0;
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(rc, EG_OK);
	assert_true(waited < 5000000);   /* woken, not timed out */
	const eg_event *e;
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_int_equal(e->pos, 3);
	assert_true(e->id_len == 10 && !memcmp(e->id, "from-child", 10));
	eg_iter_free(it);
	eg_store_close(r);
}

static void iter_wait_follows_the_log_into_new_segments(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 3);
	eg_store *r = open_r(f->dir);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(r, &it, &flt), EG_OK);
	uint64_t last = 0;
	assert_int_equal(drain(it, &last), 3);
	eg_stats s0, s1;
	assert_int_equal(eg_store_stats(w, &s0), EG_OK);
	append_n(w, 4, 200);   /* rolls past several 8 KiB segments */
	assert_int_equal(eg_store_stats(w, &s1), EG_OK);
	assert_true(s1.segments > s0.segments);
	size_t got = 0;
	while (got < 200 && eg_iter_wait(it, 500) == EG_OK)
		got += drain(it, &last);
	assert_int_equal(got, 200);
	assert_int_equal(last, 203);
	eg_iter_free(it);
	eg_store_close(r);
	eg_store_close(w);
}

static void iter_limit_stops_the_iterator_and_wait(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append_n(w, 1, 5);
	eg_iter *it;
	eg_filter flt = { .limit = 2 };
	assert_int_equal(eg_iter_new(w, &it, &flt), EG_OK);
	uint64_t last = 0;
	assert_int_equal(drain(it, &last), 2);
	assert_int_equal(last, 2);
	append_n(w, 6, 1);
	assert_int_equal(eg_iter_wait(it, 10), EG_END);
	eg_iter_free(it);
	eg_store_close(w);
}

#define P(fn) cmocka_unit_test_setup_teardown(fn, setup_copy, teardown)
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		P(iter_matches_plain_filter_on_the_writer),
		P(iter_matches_plain_filter_on_a_reader),
		P(iter_matches_plain_filter_when_the_index_lags_the_log),
		P(writer_open_catches_up_a_lagging_index),
		P(iter_matches_plain_filter_after_idx_is_deleted_and_rebuilt),
		P(reindex_gives_identical_results),
		P(writer_appends_correctly_after_catching_up_the_index),
		P(duplicates_of_replayed_events_are_detected_after_catching_up),
		P(iter_stream_filter_empty_selects_events_without_a_stream),
		P(iter_type_named_twice_returns_each_event_once),
		P(iter_chain_is_the_hash_of_the_events_batch),
		T(reader_tables_survive_the_writer_growing_them),
		P(reader_with_index_state_missing_scans_the_log),
		P(reader_of_a_store_whose_idx_was_deleted_scans_the_log),
		T(scan_reads_records_that_cross_its_read_buffer),
		T(iterator_sees_the_log_as_of_its_head),
		T(iterator_does_not_see_events_of_an_open_batch),
		T(iter_wait_returns_end_on_timeout_with_nothing_new),
		T(iter_wait_extends_the_iterator_to_new_batches),
		T(iter_wait_applies_the_filter_to_new_batches),
		T(iter_wait_on_a_reverse_iterator_returns_end),
		T(iter_wait_wakes_when_another_process_commits),
		T(iter_wait_follows_the_log_into_new_segments),
		T(iter_limit_stops_the_iterator_and_wait),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

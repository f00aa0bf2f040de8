/*
 * test_funnel.c — funnels, as a specification.
 *
 * The property: on random small streams (random types, several steps of
 * one type, a page_url step, ties in time, repeats), every row equals a
 * brute-force reference that enumerates every chain of events: users per
 * step, conversion, and the median time taken from the lexicographically
 * earliest longest chain of each stream.  Then the semantics one at a time
 * on hand-made events, and the errors of a bad steps list.  EG_SEED=N
 * picks another seed.
 */
#include "testutil.h"

#include "funnel.h"

#include <inttypes.h>
#include <math.h>

#define T0 INT64_C(1735689600000)        /* 2025-01-01, in milliseconds */
#define MS INT64_C(1000)                 /* a millisecond in microseconds */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	return tu_rnd(&rng_state);
}

static void seed(void)
{
	const char *s = getenv("EG_SEED");
	rng_state = s ? strtoull(s, NULL, 10) | 1 : 0x9e3779b97f4a7c15ull;
}

/* ------------------------------------------------ the brute force */

/* One stream's events: the steps each matches (bit i: step i) and time. */
typedef struct bev {
	uint32_t steps;
	int64_t t;
} bev;

typedef struct brute {
	const bev *ev;
	int n, k;
	int64_t within;
	int best;
	int64_t chain[8], cur[8];
} brute;

/* Every chain extending cur[0, len): keep the longest, and of those the
 * lexicographically earliest times. */
static void dfs(brute *b, int len)
{
	int better = len > b->best;
	for (int i = 0; !better && len == b->best && i < len; i++) {
		if (b->cur[i] != b->chain[i]) {
			better = b->cur[i] < b->chain[i];
			break;
		}
	}
	if (better) {
		b->best = len;
		memcpy(b->chain, b->cur, sizeof b->cur);
	}
	if (len == b->k)
		return;
	for (int i = 0; i < b->n; i++) {
		const bev *e = &b->ev[i];
		if (!(e->steps >> len & 1))
			continue;
		if (len && (e->t <= b->cur[len - 1] || e->t - b->cur[0] > b->within))
			continue;
		b->cur[len] = e->t;
		dfs(b, len + 1);
	}
}

static int brute_chain(const bev *ev, int n, int k, int64_t within, int64_t *chain)
{
	brute b = { .ev = ev, .n = n, .k = k, .within = within };
	dfs(&b, 0);
	memcpy(chain, b.chain, sizeof b.chain);
	return b.best;
}

/* eg_funnel_chain's input: per step, the sorted times of its events. */
static int core_chain(const bev *ev, int n, int k, int64_t within, int64_t *chain)
{
	int64_t v[8][16];
	size_t c[8] = { 0 };
	const int64_t *t[8];
	for (int s = 0; s < k; s++) {
		for (int i = 0; i < n; i++)
			if (ev[i].steps >> s & 1)
				v[s][c[s]++] = ev[i].t;
		for (size_t i = 1; i < c[s]; i++)       /* insertion sort */
			for (size_t j = i; j && v[s][j] < v[s][j - 1]; j--) {
				int64_t x = v[s][j];
				v[s][j] = v[s][j - 1];
				v[s][j - 1] = x;
			}
		t[s] = v[s];
	}
	return eg_funnel_chain(t, c, k, within, chain);
}

static void test_chain_equals_brute_force_on_random_streams(void **state)
{
	(void)state;
	seed();
	for (int round = 0; round < 20000; round++) {
		bev ev[12];
		int k = 1 + (int)(rnd() % 5), n = (int)(rnd() % 13);
		int64_t span = 1 + (int64_t)(rnd() % 20), within = (int64_t)(rnd() % 12);
		for (int i = 0; i < n; i++) {
			ev[i].t = (int64_t)(rnd() % (uint64_t)span);   /* many ties */
			ev[i].steps = (uint32_t)(rnd() % (1u << k));   /* several steps at once */
		}
		int64_t a[8], b[8];
		int la = core_chain(ev, n, k, within, a), lb = brute_chain(ev, n, k, within, b);
		if (la != lb)
			fail_msg("round %d: level %d, brute force %d", round, la, lb);
		for (int i = 0; i < la; i++)
			if (a[i] != b[i])
				fail_msg("round %d: chain step %d at %" PRId64 ", brute force %" PRId64,
					 round, i + 1, a[i], b[i]);
	}
}

/* ------------------------------------------------ a store and its rows */

static void append(eg_store *st, const char *const *lines, int n)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < n; i++)
		if (eg_batch_add_json(b, lines[i], strlen(lines[i])) != EG_OK)
			fail_msg("line %d: %s", i, eg_errmsg(st));
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
}

/* An event of stream s, type, at T0 + ms milliseconds, on page url (NULL:
 * none) of device dev (NULL: none), into line. */
static void ev_line(char *line, size_t n, const char *s, const char *type, int64_t ms,
		    const char *url, const char *dev)
{
	char data[256] = "{}";
	if (url || dev)
		snprintf(data, sizeof data, "{%s%s%s%s%s%s%s}", url ? "\"page_url\":\"" : "",
			 url ? url : "", url ? "\"" : "", url && dev ? "," : "",
			 dev ? "\"device\":\"" : "", dev ? dev : "", dev ? "\"" : "");
	snprintf(line, n, "{\"stream\":\"%s\",\"type\":\"%s\",\"time\":%" PRId64 ",\"data\":%s}",
		 s, type, T0 + ms, data);
}

#define MAXROWS 64

typedef struct rows {
	int n;
	char by[MAXROWS][32];
	int step[MAXROWS];
	char name[MAXROWS][64];
	uint64_t users[MAXROWS];
	double conv[MAXROWS], median[MAXROWS];
} rows;

static int keep_row(void *ctx, const eg_funnel_row *r)
{
	rows *w = ctx;
	assert_true(w->n < MAXROWS);
	int i = w->n++;
	snprintf(w->by[i], sizeof w->by[i], "%.*s", (int)r->by_len, r->by ? r->by : "");
	w->step[i] = r->step;
	snprintf(w->name[i], sizeof w->name[i], "%s", r->name);
	w->users[i] = r->users;
	w->conv[i] = r->conversion;
	w->median[i] = r->median_time;
	return 0;
}

static rows run(eg_store *st, const char *steps, int64_t within, const eg_funnel_opts *more)
{
	eg_funnel_opts o = more ? *more : (eg_funnel_opts){ 0 };
	o.within = within;
	eg_funnel *f;
	char err[256];
	if (eg_funnel_new(steps, &o, &f, err, sizeof err))
		fail_msg("steps %s: %s", steps, err);
	rows w = { 0 };
	int rc = eg_funnel_run(st, f, keep_row, &w);
	if (rc)
		fail_msg("run: %s", eg_errmsg(st));
	eg_funnel_free(f);
	return w;
}

/* NaN equals NaN here: both "null". */
static void assert_same(double a, double b, const char *what, int row)
{
	if ((isnan(a) && isnan(b)) || fabs(a - b) < 1e-9)
		return;
	fail_msg("row %d: %s %.9g, expected %.9g", row + 1, what, a, b);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double median(int64_t *v, int n)
{
	if (!n)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, cmp_i64);
	return (n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2) / 1e6;
}

#define NSTREAM 12
#define NDEV 3
#define PER 10

static void test_run_equals_brute_force_on_random_stores(void **state)
{
	tu_fx *fx = *state;
	seed();
	static const char *const types[] = { "view", "click", "cart", "buy" };
	static const char *const urls[] = { "/a", "/b", "https://x.example/c:1" };
	static const char *const devs[] = { "ios", "web", "tv" };
	/* steps: view:/a, click, view, cart, buy (view counts twice; view:/a
	 * is also a view) */
	static const char *const steps = "view:/a,click,view,cart,buy";
	const int k = 5;
	for (int round = 0; round < 12; round++) {
		char dir[128];
		snprintf(dir, sizeof dir, "%s/s%d", fx->dir, round);
		eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
		/* events[stream][device] for the reference */
		static bev ev[NSTREAM][NDEV][PER * 2];
		int nev[NSTREAM][NDEV] = { { 0 } };
		static char text[NSTREAM * PER][256];
		const char *lines[NSTREAM * PER];
		int n = 0;
		for (int s = 0; s < NSTREAM; s++)
			for (int j = 0; j < PER; j++) {
				int ty = (int)(rnd() % 4), u = (int)(rnd() % 4), d = (int)(rnd() % NDEV);
				int64_t ms = (int64_t)(rnd() % 40);
				const char *url = u < 3 ? urls[u] : NULL;
				char name[16];
				snprintf(name, sizeof name, "u%d", s);
				ev_line(text[n], sizeof text[n], name, types[ty], ms, url, devs[d]);
				lines[n] = text[n];
				n++;
				uint32_t m = ty == 0 ? (1u << 2) | (u == 0 ? 1u : 0) : ty == 1 ? 1u << 1 :
					     ty == 2 ? 1u << 3 : 1u << 4;
				ev[s][d][nev[s][d]++] = (bev){ m, ms * MS };
			}
		append(st, lines, n);
		int64_t within = (int64_t)(1 + rnd() % 30) * MS;
		eg_funnel_opts o = { .by = "data.device" };
		rows w = run(st, steps, within, &o);
		/* the reference, per device in the order of its JSON text */
		int row = 0;
		for (int d = 0; d < NDEV; d++) {
			int order[NDEV] = { 0, 2, 1 };   /* "ios" < "tv" < "web" */
			int dv = order[d];
			uint64_t users[8] = { 0 };
			int64_t gaps[8][NSTREAM];
			int ng[8] = { 0 };
			for (int s = 0; s < NSTREAM; s++) {
				int64_t chain[8];
				int len = brute_chain(ev[s][dv], nev[s][dv], k, within, chain);
				for (int i = 0; i < len; i++) {
					users[i]++;
					if (i)
						gaps[i][ng[i]++] = chain[i] - chain[i - 1];
				}
			}
			if (!users[0])
				continue;
			char by[16];
			snprintf(by, sizeof by, "\"%s\"", devs[dv]);
			for (int i = 0; i < k; i++, row++) {
				if (row >= w.n)
					fail_msg("round %d: %d rows, expected more", round, w.n);
				assert_string_equal(w.by[row], by);
				assert_int_equal(w.step[row], i + 1);
				assert_int_equal(w.users[row], users[i]);
				assert_same(w.conv[row], i && users[i - 1] ?
					    (double)users[i] / (double)users[i - 1] : NAN, "conversion", row);
				assert_same(w.median[row], median(gaps[i], ng[i]), "median_time", row);
			}
		}
		assert_int_equal(w.n, row);
		eg_store_close(st);
	}
}

/* ------------------------------------------------ the semantics */

static eg_store *store_of(tu_fx *fx, const char *const *lines, int n)
{
	eg_store *st = tu_open(fx->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	append(st, lines, n);
	return st;
}

/* The worked example of docs/FUNNELS.md. */
static void test_worked_example(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"ann\",\"type\":\"view\",\"time\":\"2025-01-01T10:00:00Z\"}",
		"{\"stream\":\"ann\",\"type\":\"cart\",\"time\":\"2025-01-01T10:05:00Z\"}",
		"{\"stream\":\"ann\",\"type\":\"buy\",\"time\":\"2025-01-01T10:20:00Z\"}",
		"{\"stream\":\"bob\",\"type\":\"view\",\"time\":\"2025-01-01T10:00:00Z\"}",
		"{\"stream\":\"bob\",\"type\":\"cart\",\"time\":\"2025-01-01T10:50:00Z\"}",
		"{\"stream\":\"bob\",\"type\":\"buy\",\"time\":\"2025-01-01T11:10:00Z\"}",
		"{\"stream\":\"bob\",\"type\":\"view\",\"time\":\"2025-01-01T10:40:00Z\"}",
		"{\"stream\":\"cat\",\"type\":\"view\",\"time\":\"2025-01-01T09:00:00Z\"}",
		"{\"stream\":\"cat\",\"type\":\"cart\",\"time\":\"2025-01-01T09:10:00Z\"}",
		"{\"stream\":\"dan\",\"type\":\"cart\",\"time\":\"2025-01-01T09:10:00Z\"}",
	};
	eg_store *st = store_of(*state, ev, 10);
	rows w = run(st, "view,cart,buy", 3600 * INT64_C(1000000), NULL);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.name[0], "view");
	assert_int_equal(w.users[0], 3);
	assert_int_equal(w.users[1], 3);
	assert_int_equal(w.users[2], 2);
	assert_true(isnan(w.conv[0]) && isnan(w.median[0]));
	assert_same(w.conv[1], 1, "conversion", 1);
	assert_same(w.conv[2], 2.0 / 3, "conversion", 2);
	/* view→cart: ann 5m, bob 10m (from his 10:00 view, buy at 11:10 is
	 * 70m later: too late; his 10:40 view makes it), cat 10m */
	assert_same(w.median[1], 600, "median_time", 1);
	/* cart→buy: ann 15m, bob 20m: the mean of the middle two */
	assert_same(w.median[2], 1050, "median_time", 2);
	eg_store_close(st);
}

static void test_ties_in_time_do_not_chain(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":1000}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":1000}",
	};
	eg_store *st = store_of(*state, ev, 2);
	rows w = run(st, "a,b", 60 * INT64_C(1000000), NULL);
	assert_int_equal(w.users[0], 1);
	assert_int_equal(w.users[1], 0);
	eg_store_close(st);
}

/* Keeping per level only the latest first-step time (ClickHouse's state)
 * loses here: a@3 b@5 cannot go on to c@5, a@1 b@2 c@5 can. */
static void test_a_later_start_does_not_hide_an_earlier_chain(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":1000}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":2000}",
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":3000}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":5000}",
		"{\"stream\":\"u\",\"type\":\"c\",\"time\":5000}",
	};
	eg_store *st = store_of(*state, ev, 5);
	rows w = run(st, "a,b,c", 60 * INT64_C(1000000), NULL);
	assert_int_equal(w.users[2], 1);
	assert_same(w.median[1], 1, "median_time", 1);
	assert_same(w.median[2], 3, "median_time", 2);
	eg_store_close(st);
}

static void test_the_window_is_inclusive(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":\"2025-01-01T10:00:00Z\"}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":\"2025-01-01T11:00:00Z\"}",
		"{\"stream\":\"v\",\"type\":\"a\",\"time\":\"2025-01-01T10:00:00Z\"}",
		"{\"stream\":\"v\",\"type\":\"b\",\"time\":\"2025-01-01T11:00:00.000001Z\"}",
	};
	eg_store *st = store_of(*state, ev, 4);
	rows w = run(st, "a,b", 3600 * INT64_C(1000000), NULL);
	assert_int_equal(w.users[0], 2);
	assert_int_equal(w.users[1], 1);
	eg_store_close(st);
}

static void test_an_event_counts_for_every_step_it_matches(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":1000}",
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":2000}",
		"{\"stream\":\"v\",\"type\":\"a\",\"time\":1000}",
	};
	eg_store *st = store_of(*state, ev, 3);
	rows w = run(st, "a,a,a", 60 * INT64_C(1000000), NULL);
	assert_int_equal(w.users[0], 2);
	assert_int_equal(w.users[1], 1);
	assert_int_equal(w.users[2], 0);
	assert_true(isnan(w.median[2]));
	eg_store_close(st);
}

static void test_page_url_steps_match_exactly_after_the_first_colon(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"pv\",\"time\":1000,\"data\":{\"page_url\":\"https://s/x\"}}",
		"{\"stream\":\"u\",\"type\":\"pv\",\"time\":2000,\"data\":{\"page_url\":\"https://s/y\"}}",
		"{\"stream\":\"v\",\"type\":\"pv\",\"time\":1000,\"data\":{\"page_url\":\"https:\\/\\/s\\/x\"}}",
		"{\"stream\":\"v\",\"type\":\"pv\",\"time\":2000,\"data\":{\"page_url\":\"https://s/y/\"}}",
		"{\"stream\":\"w\",\"type\":\"pv\",\"time\":1000,\"data\":{\"page_url\":\"https://s/X\"}}",
		"{\"stream\":\"w\",\"type\":\"other\",\"time\":2000,\"data\":{\"page_url\":\"https://s/y\"}}",
	};
	eg_store *st = store_of(*state, ev, 6);
	rows w = run(st, "pv:https://s/x, pv:https://s/y", 60 * INT64_C(1000000), NULL);
	assert_string_equal(w.name[0], "pv:https://s/x");
	assert_int_equal(w.users[0], 2);     /* u, and v's escaped slashes */
	assert_int_equal(w.users[1], 1);     /* u only: v's URL has a trailing slash */
	eg_store_close(st);
}

static void test_since_and_until_bound_the_events_before_the_funnel(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":1000}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":2000}",
		"{\"stream\":\"u\",\"type\":\"c\",\"time\":3000}",
	};
	eg_store *st = store_of(*state, ev, 3);
	eg_funnel_opts o = { .has_since = 1, .since = 2000 * MS };
	rows w = run(st, "a,b,c", 60 * INT64_C(1000000), &o);
	assert_int_equal(w.users[0], 0);
	o = (eg_funnel_opts){ .has_until = 1, .until = 2000 * MS };
	w = run(st, "a,b,c", 60 * INT64_C(1000000), &o);
	assert_int_equal(w.users[1], 1);
	assert_int_equal(w.users[2], 0);
	eg_store_close(st);
}

static void test_by_computes_a_funnel_per_stream_and_value(void **state)
{
	static const char *const ev[] = {
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":1000,\"data\":{\"dev\":\"ios\"}}",
		"{\"stream\":\"u\",\"type\":\"b\",\"time\":2000,\"data\":{\"dev\":\"web\"}}",
		"{\"stream\":\"u\",\"type\":\"a\",\"time\":3000,\"data\":{\"dev\":\"web\"}}",
		"{\"stream\":\"v\",\"type\":\"a\",\"time\":1000}",
		"{\"stream\":\"v\",\"type\":\"b\",\"time\":2000}",
		"{\"stream\":\"w\",\"type\":\"b\",\"time\":2000,\"data\":{\"dev\":\"tv\"}}",
	};
	eg_store *st = store_of(*state, ev, 6);
	eg_funnel_opts o = { .by = "data.dev" };
	rows w = run(st, "a,b", 60 * INT64_C(1000000), &o);
	/* "ios", "web", then null ('"' < 'n'); "tv" has no step-1 event */
	assert_int_equal(w.n, 6);
	assert_string_equal(w.by[0], "\"ios\"");
	assert_int_equal(w.users[0], 1);
	assert_int_equal(w.users[1], 0);     /* u's b is on web */
	assert_string_equal(w.by[2], "\"web\"");
	assert_int_equal(w.users[2], 1);
	assert_int_equal(w.users[3], 0);     /* web's b is before its a */
	assert_string_equal(w.by[4], "null");
	assert_int_equal(w.users[5], 1);
	eg_store_close(st);
}

static void test_no_events_give_a_row_per_step_with_no_users(void **state)
{
	static const char *const ev[] = { "{\"stream\":\"u\",\"type\":\"x\",\"time\":1000}" };
	eg_store *st = store_of(*state, ev, 1);
	rows w = run(st, "a,b", 60 * INT64_C(1000000), NULL);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.users[0], 0);
	assert_true(isnan(w.conv[1]) && isnan(w.median[1]));
	eg_store_close(st);
}

static void expect_bad(const char *steps, int64_t within, const char *by, const char *msg)
{
	eg_funnel_opts o = { .within = within, .by = by };
	eg_funnel *f = NULL;
	char err[256];
	assert_int_equal(eg_funnel_new(steps, &o, &f, err, sizeof err), EG_EINVAL);
	assert_null(f);
	if (!strstr(err, msg))
		fail_msg("steps \"%s\": message \"%s\" lacks \"%s\"", steps ? steps : "(null)", err, msg);
}

static void test_bad_steps_are_refused_naming_the_step(void **state)
{
	(void)state;
	int64_t h = 3600 * INT64_C(1000000);
	expect_bad("", h, NULL, "no steps");
	expect_bad(NULL, h, NULL, "no steps");
	expect_bad("  ", h, NULL, "no steps");
	expect_bad("a,,b", h, NULL, "step 2 is empty");
	expect_bad("a,", h, NULL, "step 2 is empty");
	expect_bad(":https://x/", h, NULL, "step 1 (\":https://x/\") has no TYPE");
	expect_bad("a,b:", h, NULL, "step 2 (\"b:\") has an empty PAGE_URL");
	expect_bad("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,a,b,c,d,e,f,g",
		   h, NULL, "more than 32 steps");
	expect_bad("a", 0, NULL, "within");
	expect_bad("a", h, "nope", "by: expected a field path");
	eg_funnel_opts o = { .within = h };
	eg_funnel *f;
	char err[256];
	assert_int_equal(eg_funnel_new("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,"
				       "a,b,c,d,e,f", &o, &f, err, sizeof err), EG_OK);
	eg_funnel_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_equals_brute_force_on_random_streams),
		cmocka_unit_test_setup_teardown(test_run_equals_brute_force_on_random_stores,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_worked_example, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_ties_in_time_do_not_chain, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_a_later_start_does_not_hide_an_earlier_chain,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_the_window_is_inclusive, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_an_event_counts_for_every_step_it_matches,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_page_url_steps_match_exactly_after_the_first_colon,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_since_and_until_bound_the_events_before_the_funnel,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_by_computes_a_funnel_per_stream_and_value,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_no_events_give_a_row_per_step_with_no_users,
						tu_setup, tu_teardown),
		cmocka_unit_test(test_bad_steps_are_refused_naming_the_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

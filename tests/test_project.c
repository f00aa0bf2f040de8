/*
 * test_project.c — projections as a specification.
 *
 * The main property: whatever the snapshots hold, every answer — now, as of
 * any event time T, as known at any record time K, both — equals a plain
 * full replay that this file computes on its own from the events it
 * generated (integers of cents, no library code).  The data: bank events
 * over 60 accounts, 5% of them recorded hours late, appended in batches;
 * small snapshot_every so that queries cross many snapshots; and the
 * projection reopened between appends, so that saved snapshots are loaded,
 * extended and saved again.  EG_SEED=N picks another seed.
 *
 * Then the spec parser (every error names a JSON path), the spec hash (an
 * edited spec never serves the old snapshots), history rows, and reindex.
 */
#include "testutil.h"

#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#define NACC 60
#define NEV 12000
#define BATCH 700
#define NQUERIES 300

static const char *const TYPES[] = { "account_opened", "deposit", "withdrawal", "fee",
				     "account_closed", "note" };

static const char SPEC[] =
	"{\"name\":\"balances\",\"key\":\"stream\","
	"\"types\":[\"account_opened\",\"deposit\",\"withdrawal\",\"fee\",\"account_closed\"],"
	"\"fields\":{"
	"\"balance\":{\"sum\":\"data.amount\",\"sign\":{\"withdrawal\":-1,\"fee\":-1}},"
	"\"deposits\":{\"count\":true,\"types\":[\"deposit\"]},"
	"\"largest\":{\"max\":\"data.amount\",\"types\":[\"deposit\"]},"
	"\"smallest\":{\"min\":\"data.amount\"},"
	"\"opened\":{\"first\":\"time\"},"
	"\"owner\":{\"last\":\"data.owner\"},"
	"\"open\":{\"open\":[\"account_opened\"],\"close\":[\"account_closed\"]}},"
	"\"snapshot_every\":1000}";

/* One generated event, as the reference replay sees it. */
typedef struct gev {
	int acct, type;
	int64_t cents;       /* INT64_MIN: no amount; INT64_MAX: amount is a string */
	int owner;           /* -1: no owner */
	int64_t time;
	uint64_t pos;
	int64_t recorded;
} gev;

static gev EV[NEV];
static char DIR_[64];
static uint64_t rng_state;

static uint64_t rnd(void)
{
	return tu_rnd(&rng_state);
}

static void fmt_time(int64_t us, char *out)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* Cents as the shortest decimal: 12345 -> 123.45, 12300 -> 123, 12340 -> 123.4. */
static void fmt_cents(int64_t c, char *out)
{
	int neg = c < 0;
	uint64_t u = neg ? (uint64_t)-c : (uint64_t)c;
	uint64_t whole = u / 100, frac = u % 100;
	if (frac == 0)
		sprintf(out, "%s%" PRIu64, neg ? "-" : "", whole);
	else if (frac % 10 == 0)
		sprintf(out, "%s%" PRIu64 ".%" PRIu64, neg ? "-" : "", whole, frac / 10);
	else
		sprintf(out, "%s%" PRIu64 ".%02" PRIu64, neg ? "-" : "", whole, frac);
}

static void event_json(const gev *e, int i, char *out)
{
	char t[40];
	fmt_time(e->time, t);
	int k = sprintf(out, "{\"id\":\"ev-%d\",\"stream\":\"acct-%03d\",\"type\":\"%s\","
			"\"time\":\"%s\",\"data\":{", i, e->acct, TYPES[e->type], t);
	const char *sep = "";
	if (e->cents == INT64_MAX) {
		k += sprintf(out + k, "\"amount\":\"lots\"");
		sep = ",";
	} else if (e->cents != INT64_MIN) {
		char c[32];
		fmt_cents(e->cents, c);
		k += sprintf(out + k, "\"amount\":%s", c);
		sep = ",";
	}
	if (e->owner >= 0)
		k += sprintf(out + k, "%s\"owner\":\"owner %d\"", sep, e->owner);
	sprintf(out + k, "}}");
}

/* Generate NEV events: times mostly increasing, 5% hours late; accounts
 * appear one after another over the first half, so that keys keep being
 * added after snapshots were saved and loaded. */
static void generate(void)
{
	int64_t t = 1735689600000000LL;  /* 2025-01-01 */
	for (int i = 0; i < NEV; i++) {
		gev *e = &EV[i];
		t += (int64_t)(rnd() % 120000000);
		int live = 1 + (int)((int64_t)i * NACC * 2 / NEV);
		e->acct = (int)(rnd() % (uint64_t)(live < NACC ? live : NACC));
		uint64_t r = rnd() % 100;
		e->type = r < 3 ? 0 : r < 55 ? 1 : r < 85 ? 2 : r < 93 ? 3 : r < 95 ? 4 : 5;
		e->cents = (int64_t)(rnd() % 500000) + 1;
		if (rnd() % 50 == 0)
			e->cents = INT64_MIN;          /* missing amount */
		else if (rnd() % 80 == 0)
			e->cents = INT64_MAX;          /* not a number */
		e->owner = rnd() % 4 ? (int)(rnd() % 9) : -1;
		e->time = t;
		if (rnd() % 20 == 0)                   /* 5%: hours late */
			e->time = t - 3600000000LL * (int64_t)(1 + rnd() % 8) - (int64_t)(rnd() % 1000);
	}
}

static int group_setup(void **state)
{
	(void)state;
	const char *seed = getenv("EG_SEED");
	rng_state = seed ? strtoull(seed, NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
	generate();
	snprintf(DIR_, sizeof DIR_, "/tmp/eg-test-proj-%d", (int)getpid());
	rm_rf(DIR_);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rm_rf(DIR_);
	return 0;
}

static eg_proj_spec *parse_spec(const char *json)
{
	eg_proj_spec *s = NULL;
	char err[512];
	int rc = eg_proj_spec_parse(json, strlen(json), &s, err, sizeof err);
	if (rc)
		fail_msg("spec: %s", err);
	return s;
}

/* Append events [from, to) as one batch and read back pos and recorded. */
static void append_range(eg_store *st, int from, int to)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	char line[512];
	for (int i = from; i < to; i++) {
		event_json(&EV[i], i, line);
		assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	eg_filter f = { .from = r.first_pos };
	eg_iter *it;
	const eg_event *ev;
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	for (int i = from; i < to; i++) {
		assert_int_equal(eg_iter_next(it, &ev), EG_OK);
		EV[i].pos = ev->pos;
		EV[i].recorded = ev->recorded;
		assert_int_equal(ev->time, EV[i].time);
	}
	eg_iter_free(it);
}

/* ---------------------------------------------------- reference replay */

typedef struct ref {
	int events;
	int64_t sum;
	int sum_has;
	int deposits;
	int64_t largest, smallest;
	int has_largest, has_smallest;
	int64_t first_t;
	uint64_t first_p, last_p, oc_p;
	int64_t last_t, oc_t;
	int has_last, has_oc, open;
	int owner;
} ref;

static int tp_after(int64_t t1, uint64_t p1, int64_t t2, uint64_t p2)
{
	return t1 > t2 || (t1 == t2 && p1 > p2);
}

/* Fold event i into r, plainly. */
static void ref_fold(ref *r, const gev *e)
{
	if (e->type == 5)
		return;                       /* not in the spec's types */
	if (r->events == 0 || tp_after(r->first_t, r->first_p, e->time, e->pos)) {
		r->first_t = e->time;
		r->first_p = e->pos;
	}
	r->events++;
	int num = e->cents != INT64_MIN && e->cents != INT64_MAX;
	if (num) {
		int64_t v = e->type == 2 || e->type == 3 ? -e->cents : e->cents;
		r->sum += v;
		r->sum_has = 1;
		if (!r->has_smallest || e->cents < r->smallest)
			r->smallest = e->cents;
		r->has_smallest = 1;
		if (e->type == 1 && (!r->has_largest || e->cents > r->largest)) {
			r->largest = e->cents;
			r->has_largest = 1;
		}
	}
	if (e->type == 1)
		r->deposits++;
	if (e->owner >= 0 && (!r->has_last || tp_after(e->time, e->pos, r->last_t, r->last_p))) {
		r->last_t = e->time;
		r->last_p = e->pos;
		r->owner = e->owner;
		r->has_last = 1;
	}
	if ((e->type == 0 || e->type == 4) &&
	    (!r->has_oc || tp_after(e->time, e->pos, r->oc_t, r->oc_p))) {
		r->oc_t = e->time;
		r->oc_p = e->pos;
		r->open = e->type == 0;
		r->has_oc = 1;
	}
}

/* The row the projection must print for r, as ndjson. */
static void ref_row(const ref *r, int acct, char *out)
{
	char sum[32], lg[32], sm[32], t[40], own[32];
	fmt_cents(r->sum, sum);
	if (r->has_largest)
		fmt_cents(r->largest, lg);
	else
		strcpy(lg, "null");
	if (r->has_smallest)
		fmt_cents(r->smallest, sm);
	else
		strcpy(sm, "null");
	fmt_time(r->first_t, t);
	if (r->has_last)
		sprintf(own, "\"owner %d\"", r->owner);
	else
		strcpy(own, "null");
	sprintf(out, "{\"key\":\"acct-%03d\",\"balance\":%s,\"deposits\":%d,\"largest\":%s,"
		"\"smallest\":%s,\"opened\":\"%s\",\"owner\":%s,\"open\":%s}", acct,
		r->sum_has ? sum : "0", r->deposits, lg, sm, t, own, r->open ? "true" : "false");
}

/* ------------------------------------------------------ projection rows */

typedef struct rows {
	char *buf;
	size_t n, cap;
	int count;
} rows;

static int collect(void *ctx, const eg_proj_row *r)
{
	rows *w = ctx;
	size_t need = r->key_len + 64;
	for (size_t i = 0; i < r->nfields; i++)
		need += strlen(r->names[i]) + r->lens[i] + 8;
	if (w->n + need > w->cap) {
		w->cap = (w->n + need) * 2;
		w->buf = realloc(w->buf, w->cap);
	}
	char *p = w->buf + w->n;
	p += sprintf(p, "{\"key\":%.*s", (int)r->key_len, r->key);
	for (size_t i = 0; i < r->nfields; i++)
		p += sprintf(p, ",\"%s\":%.*s", r->names[i], (int)r->lens[i], r->values[i]);
	p += sprintf(p, "}\n");
	w->n = (size_t)(p - w->buf);
	w->buf[w->n] = 0;
	w->count++;
	return 0;
}

/* Check every key (scan) and a few single keys under (t, k) against the
 * replay of the first n generated events. */
static void check_at(eg_proj *p, int n, int64_t t, int64_t k)
{
	ref r[NACC];
	memset(r, 0, sizeof r);
	for (int i = 0; i < n; i++)
		if (EV[i].time <= t && EV[i].recorded <= k)
			ref_fold(&r[EV[i].acct], &EV[i]);
	char want[1 << 16], line[512];
	size_t wl = 0;
	for (int a = 0; a < NACC; a++)
		if (r[a].events) {
			ref_row(&r[a], a, line);
			wl += (size_t)sprintf(want + wl, "%s\n", line);
		}
	want[wl] = 0;
	eg_proj_at at = { t == INT64_MAX ? EG_TIME_NONE : t, k == INT64_MAX ? EG_TIME_NONE : k };
	rows got = { 0 };
	assert_int_equal(eg_proj_scan(p, &at, collect, &got), EG_OK);
	if (strcmp(got.buf ? got.buf : "", want))
		fail_msg("scan as of %" PRId64 " known at %" PRId64 " after %d events:\n"
			 "want:\n%.2000s\ngot:\n%.2000s", t, k, n, want, got.buf ? got.buf : "");
	for (int j = 0; j < 3; j++) {
		int a = (int)(rnd() % NACC);
		char key[16];
		snprintf(key, sizeof key, "acct-%03d", a);
		got.n = 0;
		got.count = 0;
		if (got.buf)
			got.buf[0] = 0;
		assert_int_equal(eg_proj_get(p, key, strlen(key), &at, collect, &got), EG_OK);
		if (r[a].events) {
			ref_row(&r[a], a, line);
			strcat(line, "\n");
			assert_string_equal(got.buf, line);
		} else {
			assert_int_equal(got.count, 0);
		}
	}
	free(got.buf);
}

/* A time or record time to ask about: around the data, sometimes before
 * it or after it. */
static int64_t pick_time(int n, int recorded)
{
	const gev *e = &EV[rnd() % (uint64_t)n];
	int64_t base = recorded ? e->recorded : e->time;
	switch (rnd() % 6) {
	case 0: return base - 1;
	case 1: return base + 1;
	case 2: return base - (int64_t)(rnd() % 7200000000LL);
	default: return base;
	}
}

/* The main property, over appends in batches with the projection reopened
 * (snapshots loaded) and refreshed (folded further) in between, with
 * snapshots every `every` events. */
static void snapshots_equal_full_replay(uint64_t every)
{
	rm_rf(DIR_);
	eg_store *st = tu_open(DIR_, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	char text[sizeof SPEC + 32];
	snprintf(text, sizeof text, "%.*s%" PRIu64 "}",
		 (int)(strrchr(SPEC, ':') + 1 - SPEC), SPEC, every);
	eg_proj_spec *spec = parse_spec(text);
	eg_proj *p = NULL;
	int n = 0, round = 0;
	while (n < NEV) {
		int to = n + BATCH + (int)(rnd() % BATCH);
		if (to > NEV)
			to = NEV;
		append_range(st, n, to);
		n = to;
		if (round++ % 3 == 0 || !p) {
			eg_proj_close(p);
			assert_int_equal(eg_proj_open(st, spec, NULL, NULL, &p), EG_OK);
		} else {
			assert_int_equal(eg_proj_refresh(p), EG_OK);
		}
		check_at(p, n, INT64_MAX, INT64_MAX);
		for (int q = 0; q < NQUERIES / 10; q++) {
			int which = (int)(rnd() % 3);
			int64_t t = which != 1 ? pick_time(n, 0) : INT64_MAX;
			int64_t k = which != 0 ? pick_time(n, 1) : INT64_MAX;
			check_at(p, n, t, k);
		}
	}
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	assert_true(x.snapshot_pos > 0);               /* snapshots were used */
	assert_true(x.snapshot_pos % every == 0);
	assert_true(x.head_pos - x.snapshot_pos < every);
	eg_proj_close(p);
	/* a fresh handle answers from the snapshot plus < snapshot_every events */
	assert_int_equal(eg_proj_open(st, spec, NULL, NULL, &p), EG_OK);
	eg_proj_get_explain(p, &x);
	assert_true(x.folded < every);
	for (int q = 0; q < NQUERIES; q++) {
		int which = (int)(rnd() % 3);
		check_at(p, NEV, which != 1 ? pick_time(NEV, 0) : INT64_MAX,
			 which != 0 ? pick_time(NEV, 1) : INT64_MAX);
	}
	/* A key's current state merges its chunks and the aggregate of its
	 * newest entries: not one entry is read. */
	rows got = { 0 };
	for (int a = 0; a < NACC; a++) {
		char key[16];
		snprintf(key, sizeof key, "acct-%03d", a);
		assert_int_equal(eg_proj_get(p, key, strlen(key), NULL, collect, &got), EG_OK);
		eg_proj_get_explain(p, &x);
		assert_int_equal(x.keys, 1);
		assert_int_equal(x.entries, 0);
		assert_true(x.chunks > 0);
	}
	free(got.buf);
	eg_proj_close(p);
	eg_proj_spec_free(spec);
	eg_store_close(st);
}

static void test_snapshots_equal_full_replay(void **state)
{
	(void)state;
	snapshots_equal_full_replay(1000);
}

/* Snapshots as often as event-sourcing users take them (every 50 events,
 * even every event) give the same answers, now, as of T and known at K. */
static void test_small_snapshot_every_equals_full_replay(void **state)
{
	(void)state;
	snapshots_equal_full_replay(50);
	snapshots_equal_full_replay(1);
}

/* A late deposit: in as-of T, not in known-at K (K before it arrived). */
static void test_late_event_as_of_vs_known_at(void **state)
{
	(void)state;
	rm_rf(DIR_);
	eg_store *st = tu_open(DIR_, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *b1[] = {
		"{\"stream\":\"a\",\"type\":\"account_opened\",\"time\":\"2025-01-01T09:00:00Z\",\"data\":{\"amount\":100,\"owner\":\"Ann\"}}",
		"{\"stream\":\"a\",\"type\":\"deposit\",\"time\":\"2025-01-01T12:00:00Z\",\"data\":{\"amount\":50}}",
	};
	const char *late = "{\"stream\":\"a\",\"type\":\"deposit\",\"time\":\"2025-01-01T10:00:00Z\",\"data\":{\"amount\":25.5}}";
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1 };
	eg_append_result r;
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(eg_batch_add_json(b, b1[i], strlen(b1[i])), EG_OK);
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	/* K: a record time between the two batches */
	eg_filter f = { .from = 2, .to = 2 };
	eg_iter *it;
	const eg_event *ev;
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	assert_int_equal(eg_iter_next(it, &ev), EG_OK);
	int64_t k = ev->recorded;
	eg_iter_free(it);
	usleep(2000);
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	assert_int_equal(eg_batch_add_json(b, late, strlen(late)), EG_OK);
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	eg_proj_spec *spec = parse_spec(SPEC);
	eg_proj *p;
	assert_int_equal(eg_proj_open(st, spec, NULL, NULL, &p), EG_OK);
	int64_t t11 = 1735725600000000LL;  /* 2025-01-01T11:00:00Z */
	rows w = { 0 };
	eg_proj_at as_of = { t11, EG_TIME_NONE }, both = { t11, k };
	assert_int_equal(eg_proj_get(p, "a", 1, &as_of, collect, &w), EG_OK);
	assert_non_null(strstr(w.buf, "\"balance\":125.5,"));
	w.n = 0;
	assert_int_equal(eg_proj_get(p, "a", 1, &both, collect, &w), EG_OK);
	assert_non_null(strstr(w.buf, "\"balance\":100,"));
	w.n = 0;
	assert_int_equal(eg_proj_get(p, "a", 1, NULL, collect, &w), EG_OK);
	assert_non_null(strstr(w.buf, "\"balance\":175.5,"));
	assert_non_null(strstr(w.buf, "\"owner\":\"Ann\""));
	/* before the first event: no row */
	w.n = 0;
	w.count = 0;
	eg_proj_at early = { t11 - 86400000000LL, EG_TIME_NONE };
	assert_int_equal(eg_proj_get(p, "a", 1, &early, collect, &w), EG_OK);
	assert_int_equal(w.count, 0);
	/* an unknown key: nothing, no error */
	assert_int_equal(eg_proj_get(p, "nope", 4, NULL, collect, &w), EG_OK);
	assert_int_equal(w.count, 0);
	free(w.buf);
	eg_proj_close(p);
	eg_proj_spec_free(spec);
	eg_store_close(st);
}

typedef struct hrow {
	int n;
	int64_t from[16], to[16];
	char open[16][8];
} hrow;

static int collect_history(void *ctx, const eg_proj_row *r)
{
	hrow *h = ctx;
	if (h->n < 16) {
		h->from[h->n] = r->valid_from;
		h->to[h->n] = r->valid_to;
		snprintf(h->open[h->n], 8, "%.*s", (int)r->lens[0], r->values[0]);
	}
	h->n++;
	return 0;
}

/* history: one row per change, valid_to = the next row's valid_from. */
static void test_history_is_scd2(void **state)
{
	(void)state;
	rm_rf(DIR_);
	eg_store *st = tu_open(DIR_, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *lines[] = {
		"{\"stream\":\"o1\",\"type\":\"order_placed\",\"time\":\"2025-01-01T10:00:00Z\"}",
		"{\"stream\":\"o1\",\"type\":\"order_paid\",\"time\":\"2025-01-01T10:05:00Z\"}",
		"{\"stream\":\"o1\",\"type\":\"order_cancelled\",\"time\":\"2025-01-01T12:00:00Z\"}",
		/* late, and changes nothing visible: same state */
		"{\"stream\":\"o1\",\"type\":\"order_paid\",\"time\":\"2025-01-01T10:06:00Z\"}",
	};
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1 };
	eg_append_result r;
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(eg_batch_add_json(b, lines[i], strlen(lines[i])), EG_OK);
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	eg_proj_spec *spec = parse_spec(
		"{\"name\":\"orders\",\"fields\":{\"exists\":{\"open\":[\"order_placed\"],"
		"\"close\":[\"order_cancelled\"]}}}");
	eg_proj *p;
	assert_int_equal(eg_proj_open(st, spec, NULL, NULL, &p), EG_OK);
	hrow h = { 0 };
	assert_int_equal(eg_proj_history(p, "o1", 2, NULL, collect_history, &h), EG_OK);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.open[0], "true");
	assert_string_equal(h.open[1], "false");
	assert_int_equal(h.from[0], 1735725600000000LL);
	assert_int_equal(h.to[0], 1735732800000000LL);
	assert_int_equal(h.from[1], 1735732800000000LL);
	assert_true(h.to[1] == EG_TIME_NONE);
	eg_proj_close(p);
	eg_proj_spec_free(spec);
	eg_store_close(st);
}

/* Bad specs: EG_EINVAL naming the JSON path and what is allowed. */
static void test_spec_errors_name_the_path(void **state)
{
	(void)state;
	static const struct { const char *json, *want; } cases[] = {
		{ "{\"fields\": {", "$: not valid JSON at line 1" },
		{ "[1]", "$: expected a JSON object" },
		{ "{\"fields\":{\"x\":{\"median\":\"data.a\"}}}", "$.fields.x.median: unknown member" },
		{ "{\"fields\":{\"x\":{\"sum\":\"data..a\"}}}", "$.fields.x.sum: empty member name" },
		{ "{\"fields\":{\"x\":{\"sum\":\"amount\"}}}", "$.fields.x.sum: expected a field path" },
		{ "{\"fields\":{\"x\":{\"sum\":\"time\"}}}", "$.fields.x.sum: sum needs a data.*" },
		{ "{\"fields\":{\"x\":{\"count\":1}}}", "$.fields.x.count: expected true" },
		{ "{\"fields\":{\"x\":{\"sum\":\"data.a\",\"sign\":{\"fee\":\"-\"}}}}",
		  "$.fields.x.sign.fee: expected an integer" },
		{ "{\"fields\":{\"x\":{\"open\":[\"a\"]}}}", "$.fields.x.close: expected \"close\"" },
		{ "{\"fields\":{\"x\":{\"sum\":\"data.a\",\"max\":\"data.b\"}}}", "$.fields.x: expected exactly one" },
		{ "{\"fields\":{}}", "$.fields: expected at least one field" },
		{ "{\"name\":\"n\"}", "$.fields: missing" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"types\":\"deposit\"}", "$.types: expected an array" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"key\":\"time\"}", "$.key: time, recorded and pos cannot be keys" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"snapshot_every\":0}", "$.snapshot_every: expected a whole number" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"snapshot_every\":-5}", "$.snapshot_every: expected a whole number" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"snapshot_every\":2.5}", "$.snapshot_every: expected a whole number" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"snapshot_every\":\"50\"}", "$.snapshot_every: expected a whole number" },
		{ "{\"fields\":{\"x\":{\"count\":true}},\"extra\":1}", "$.extra: unknown member" },
		{ "{\"fields\":{\"x\":{\"count\":true},\"x\":{\"count\":true}}}", "$.fields.x: the field is defined twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		eg_proj_spec *s = NULL;
		char err[512];
		int rc = eg_proj_spec_parse(cases[i].json, strlen(cases[i].json), &s, err, sizeof err);
		if (rc != EG_EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("spec %s: rc %d, error \"%s\", want \"%s...\"", cases[i].json, rc, err,
				 cases[i].want);
		assert_null(s);
	}
}

/* The hash follows the meaning: whitespace and name do not change it, a
 * field's definition does. */
static void test_spec_hash_follows_meaning(void **state)
{
	(void)state;
	char h1[65], h2[65], h3[65];
	eg_proj_spec *a = parse_spec("{\"name\":\"a\",\"fields\":{\"b\":{\"sum\":\"data.x\"}}}");
	eg_proj_spec *b = parse_spec("{ \"name\" : \"other\",\n \"fields\": {\"b\": {\"sum\": \"data.x\"}},"
				     "\"snapshot_every\": 5000 }");
	eg_proj_spec *c = parse_spec("{\"name\":\"a\",\"fields\":{\"b\":{\"sum\":\"data.y\"}}}");
	eg_proj_spec_hash(a, h1);
	eg_proj_spec_hash(b, h2);
	eg_proj_spec_hash(c, h3);
	assert_string_equal(h1, h2);
	assert_string_not_equal(h1, h3);
	eg_proj_spec_free(a);
	eg_proj_spec_free(b);
	eg_proj_spec_free(c);
}

/* Editing a spec never serves the old state; reindex rebuilds to the
 * same answers. */
static void test_edited_spec_and_reindex(void **state)
{
	(void)state;
	rm_rf(DIR_);
	eg_store *st = tu_open(DIR_, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	append_range(st, 0, 3000);
	eg_proj_spec *s1 = parse_spec(SPEC);
	eg_proj *p;
	rows w1 = { 0 }, w2 = { 0 }, w3 = { 0 };
	assert_int_equal(eg_proj_open(st, s1, NULL, NULL, &p), EG_OK);
	assert_int_equal(eg_proj_scan(p, NULL, collect, &w1), EG_OK);
	eg_proj_close(p);
	/* the same field name with another meaning */
	char edited[sizeof SPEC + 16];
	strcpy(edited, SPEC);
	char *m = strstr(edited, "\"withdrawal\":-1");
	memcpy(m, "\"withdrawal\":+1", 15);
	m[13] = ' ';   /* "withdrawal": 1 */
	eg_proj_spec *s2 = parse_spec(edited);
	assert_int_equal(eg_proj_open(st, s2, NULL, NULL, &p), EG_OK);
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	/* built anew from the log (3000 events, less those of no spec type) */
	assert_true(x.folded > 2500);
	assert_int_equal(eg_proj_scan(p, NULL, collect, &w2), EG_OK);
	assert_string_not_equal(w1.buf, w2.buf);
	eg_proj_close(p);
	assert_int_equal(eg_store_reindex(st), EG_OK);
	assert_int_equal(eg_proj_open(st, s1, NULL, NULL, &p), EG_OK);
	eg_proj_get_explain(p, &x);
	assert_int_equal(x.snapshot_pos, 3000);  /* reindex rebuilt it */
	assert_int_equal(x.folded, 0);
	assert_int_equal(eg_proj_scan(p, NULL, collect, &w3), EG_OK);
	assert_string_equal(w1.buf, w3.buf);
	eg_proj_close(p);
	free(w1.buf);
	free(w2.buf);
	free(w3.buf);
	eg_proj_spec_free(s1);
	eg_proj_spec_free(s2);
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors_name_the_path),
		cmocka_unit_test(test_spec_hash_follows_meaning),
		cmocka_unit_test(test_late_event_as_of_vs_known_at),
		cmocka_unit_test(test_history_is_scd2),
		cmocka_unit_test(test_edited_spec_and_reindex),
		cmocka_unit_test(test_snapshots_equal_full_replay),
		cmocka_unit_test(test_small_snapshot_every_equals_full_replay),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

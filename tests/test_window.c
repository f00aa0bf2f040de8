/*
 * test_window.c — windows by event time, as a specification.
 *
 * The properties: with "allowed_lateness": "forever" the table equals a
 * plain GROUP BY computed here from the generated events (exact for count,
 * count_distinct, sum, min, max and avg; within the sketch's bound for
 * p95), for tumbling and hopping windows and events in any order; and
 * taking the events batch by batch as they are appended gives the same
 * revisions and the same table as one run over them all.  Then the
 * semantics on a small worked example (first result at the watermark, a
 * correction, a too-late event counted and listed, final), and every spec
 * error naming its member.  EG_SEED=N picks another seed.
 */
#include "testutil.h"

#include <inttypes.h>
#include <math.h>
#include <time.h>

#define NEV 3000

/* winrun.c's thresholds: lowered so that small logs take the two-thread
 * path and save checkpoints in the middle of a run */
extern uint64_t eg_win_save_every, eg_win_pipe_min;
#define NPAGE 5
#define NUSER 25
#define HOUR INT64_C(3600000000)
#define T0 INT64_C(1735689600000000)     /* 2025-01-01 */

typedef struct gev {
	int page, user;
	int64_t ms;                    /* -1: none; -2: not a number */
	int64_t time;
} gev;

static gev EV[NEV];
static uint64_t rng_state;

static uint64_t rnd(void)
{
	return tu_rnd(&rng_state);
}

/* Events over two days in rough time order, a tenth of them up to 8 hours
 * behind. */
static void generate(void)
{
	int64_t t = T0;
	for (int i = 0; i < NEV; i++) {
		gev *e = &EV[i];
		t += (int64_t)(rnd() % 120000000);
		e->page = (int)(rnd() % NPAGE);
		e->user = (int)(rnd() % NUSER);
		uint64_t r = rnd() % 40;
		e->ms = r == 0 ? -1 : r == 1 ? -2 : (int64_t)(rnd() % 5000);
		e->time = rnd() % 10 ? t : t - (int64_t)(rnd() % (8 * HOUR));
	}
}

static void append_range(eg_store *st, int from, int to)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	char line[512], tm[40], ms[32];
	for (int i = from; i < to; i++) {
		const gev *e = &EV[i];
		time_t secs = (time_t)(e->time / 1000000);
		struct tm g;
		gmtime_r(&secs, &g);
		size_t k = strftime(tm, sizeof tm, "%Y-%m-%dT%H:%M:%S", &g);
		snprintf(tm + k, sizeof tm - k, ".%06dZ", (int)(e->time % 1000000));
		if (e->ms == -1)
			ms[0] = 0;
		else if (e->ms == -2)
			strcpy(ms, ",\"ms\":\"slow\"");
		else
			snprintf(ms, sizeof ms, ",\"ms\":%" PRId64, e->ms);
		snprintf(line, sizeof line, "{\"stream\":\"user-%02d\",\"type\":\"%s\",\"time\":\"%s\","
			 "\"data\":{\"page\":\"/p%d\"%s}}", e->user, i % 17 ? "page_view" : "other",
			 tm, e->page, ms);
		assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
}

static eg_win_spec *parse(const char *json)
{
	eg_win_spec *s = NULL;
	char err[512];
	if (eg_win_spec_parse(json, strlen(json), &s, err, sizeof err))
		fail_msg("spec: %s", err);
	return s;
}

/* Rows as text lines, one per row or revision. */
typedef struct lines {
	char *buf;
	size_t n, cap;
	int count;
} lines;

static int add_line(lines *l, const eg_win_row *r, int prev)
{
	char b[4096];
	int k = snprintf(b, sizeof b, "%" PRId64 " %" PRId64, r->start, r->end);
	for (size_t i = 0; i < r->ngroups; i++)
		k += snprintf(b + k, sizeof b - (size_t)k, " %.*s", (int)r->group_lens[i], r->groups[i]);
	for (size_t i = 0; i < r->naggs; i++)
		k += snprintf(b + k, sizeof b - (size_t)k, " %s=%.*s", r->agg_names[i],
			      (int)r->lens[i], r->values[i]);
	k += snprintf(b + k, sizeof b - (size_t)k, " rev=%" PRIu64 " final=%d late=%" PRIu64,
		      r->revision, r->final, r->too_late);
	if (prev)
		k += snprintf(b + k, sizeof b - (size_t)k, " pos=%" PRIu64 " prev=%s", r->pos,
			      r->prev_values ? "yes" : "no");
	b[k++] = '\n';
	if (l->n + (size_t)k + 1 > l->cap) {
		l->cap = (l->n + (size_t)k + 1) * 2;
		l->buf = realloc(l->buf, l->cap);
	}
	memcpy(l->buf + l->n, b, (size_t)k);
	l->n += (size_t)k;
	l->buf[l->n] = 0;
	l->count++;
	return 0;
}

static int on_rev(void *ctx, const eg_win_row *r)
{
	return add_line(ctx, r, 1);
}

static int on_row(void *ctx, const eg_win_row *r)
{
	return add_line(ctx, r, 0);
}

/* ------------------------------------------- forever == GROUP BY */

typedef struct ref {
	int64_t n, sum, min, max, nnum;
	int users[NUSER];
	int64_t *vals;
} ref;

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

typedef struct check {
	int64_t size, every;
	ref *r;                     /* [window index][page] */
	int64_t first;              /* start of window index 0 */
	int64_t wm;                 /* the watermark after the run */
	int nwin, rows;
} check;

static int check_row(void *ctx, const eg_win_row *row)
{
	check *c = ctx;
	int wi = (int)((row->start - c->first) / c->every);
	assert_true(wi >= 0 && wi < c->nwin);
	assert_int_equal(row->end - row->start, c->size);
	int page;
	assert_int_equal(sscanf(row->groups[0], "\"/p%d\"", &page), 1);
	ref *r = &c->r[wi * NPAGE + page];
	assert_true(r->n > 0);
	char want[64], got[64];
	int users = 0;
	for (int u = 0; u < NUSER; u++)
		users += r->users[u];
	for (size_t i = 0; i < row->naggs; i++) {
		snprintf(got, sizeof got, "%.*s", (int)row->lens[i], row->values[i]);
		const char *name = row->agg_names[i];
		if (!strcmp(name, "views"))
			snprintf(want, sizeof want, "%" PRId64, r->n);
		else if (!strcmp(name, "users"))
			snprintf(want, sizeof want, "%d", users);
		else if (r->nnum == 0)          /* a sum over no numbers is 0 */
			strcpy(want, strcmp(name, "ms") ? "null" : "0");
		else if (!strcmp(name, "ms"))
			snprintf(want, sizeof want, "%" PRId64, r->sum);
		else if (!strcmp(name, "lo"))
			snprintf(want, sizeof want, "%" PRId64, r->min);
		else if (!strcmp(name, "hi"))
			snprintf(want, sizeof want, "%" PRId64, r->max);
		else if (!strcmp(name, "avg")) {
			double a = strtod(got, NULL), b = (double)r->sum / (double)r->nnum;
			if (fabs(a - b) > 1e-9 * fabs(b) + 1e-12)
				fail_msg("avg %s, want %.17g", got, b);
			continue;
		} else {                 /* p95, nearest rank */
			qsort(r->vals, (size_t)r->nnum, sizeof *r->vals, cmp64);
			int64_t rank = (int64_t)ceil(0.95 * (double)r->nnum);
			double x = (double)r->vals[rank - 1], q = strtod(got, NULL);
			if (fabs(q - x) > 0.01 * fabs(x))
				fail_msg("p95 %s, exact %.0f: beyond 1%%", got, x);
			continue;
		}
		if (strcmp(got, want))
			fail_msg("window %d page %d %s: got %s, want %s", wi, page, name, got, want);
	}
	assert_int_equal(row->too_late, 0);
	/* emitted once the watermark passed the end; the newest not yet */
	assert_int_equal(row->revision == 0, row->end > c->wm);
	c->rows++;
	return 0;
}

static void forever_equals_group_by(const char *window, int64_t size, int64_t every)
{
	char dir[] = "/tmp/eg-test-win-XXXXXX";
	assert_non_null(mkdtemp(dir));
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	for (int i = 0; i < NEV; i += 500)
		append_range(st, i, i + 500 < NEV ? i + 500 : NEV);
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"types\":[\"page_view\"],\"window\":%s,\"group_by\":[\"data.page\"],"
		 "\"aggs\":{\"views\":{\"count\":true},\"users\":{\"count_distinct\":\"stream\"},"
		 "\"ms\":{\"sum\":\"data.ms\"},\"lo\":{\"min\":\"data.ms\"},\"hi\":{\"max\":\"data.ms\"},"
		 "\"avg\":{\"avg\":\"data.ms\"},\"p95\":{\"p95\":\"data.ms\"}},"
		 "\"watermark\":\"5m\",\"allowed_lateness\":\"forever\"}", window);
	eg_win_spec *s = parse(json);
	/* the reference: every window holding each event, grouped by page */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (int i = 0; i < NEV; i++) {
		lo = EV[i].time < lo ? EV[i].time : lo;
		hi = EV[i].time > hi ? EV[i].time : hi;
	}
	check c = { size, every, NULL, 0, 0, 0, 0 };
	c.first = (lo / every) * every - size + every;
	c.nwin = (int)((hi - c.first) / every) + 1;
	c.r = calloc((size_t)c.nwin * NPAGE, sizeof *c.r);
	int groups = 0;
	for (int i = 0; i < NEV; i++) {
		if (i % 17 == 0)
			continue;               /* not a page_view */
		const gev *e = &EV[i];
		for (int wi = 0; wi < c.nwin; wi++) {
			int64_t ws = c.first + wi * every;
			if (e->time < ws || e->time >= ws + size)
				continue;
			ref *r = &c.r[wi * NPAGE + e->page];
			if (!r->n++)
				groups++;
			r->users[e->user] = 1;
			if (e->ms < 0)
				continue;
			r->vals = realloc(r->vals, (size_t)(r->nnum + 1) * sizeof *r->vals);
			r->vals[r->nnum++] = e->ms;
			r->sum += e->ms;
			r->min = r->nnum == 1 || e->ms < r->min ? e->ms : r->min;
			r->max = r->nnum == 1 || e->ms > r->max ? e->ms : r->max;
		}
	}
	eg_win *w;
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	eg_win_explain x;
	eg_win_get_explain(w, &x);
	c.wm = x.watermark;
	assert_int_equal(eg_win_table(w, 0, 1, check_row, &c), EG_OK);
	assert_int_equal(c.rows, groups);   /* every group, none extra */
	assert_int_equal(x.too_late, 0);
	assert_true(x.corrections > 0);     /* late events did correct results */
	eg_win_close(w);
	for (int i = 0; i < c.nwin * NPAGE; i++)
		free(c.r[i].vals);
	free(c.r);
	eg_win_spec_free(s);
	eg_store_close(st);
	rm_rf(dir);
}

static void test_tumbling_forever_equals_group_by(void **state)
{
	(void)state;
	forever_equals_group_by("{\"tumble\":\"1h\"}", HOUR, HOUR);
}

static void test_hopping_forever_equals_group_by(void **state)
{
	(void)state;
	forever_equals_group_by("{\"hop\":\"2h\",\"every\":\"30m\"}", 2 * HOUR, HOUR / 2);
}

/* Sessions, lateness forever: per page, the events sorted by time and cut
 * where two neighbours are 30 minutes or more apart — whatever order they
 * arrived in, late events merging sessions included. */
typedef struct sref {
	int64_t start, end, n;
	int page;
} sref;

typedef struct scheck {
	sref *s;
	int ns, rows;
} scheck;

static int cmp_page_time(const void *a, const void *b)
{
	const gev *x = *(const gev *const *)a, *y = *(const gev *const *)b;
	if (x->page != y->page)
		return x->page - y->page;
	return (x->time > y->time) - (x->time < y->time);
}

static int check_session(void *ctx, const eg_win_row *row)
{
	scheck *c = ctx;
	int page;
	assert_int_equal(sscanf(row->groups[0], "\"/p%d\"", &page), 1);
	char n[32];
	snprintf(n, sizeof n, "%.*s", (int)row->lens[0], row->values[0]);
	for (int i = 0; i < c->ns; i++) {
		const sref *s = &c->s[i];
		if (s->page == page && s->start == row->start) {
			assert_int_equal(row->end, s->end);
			assert_int_equal(strtoll(n, NULL, 10), s->n);
			assert_int_equal(row->retracted, 0);
			c->rows++;
			return 0;
		}
	}
	fail_msg("session page %d start %" PRId64 " end %" PRId64 " n %s is not in the reference",
		 page, row->start, row->end, n);
	return 0;
}

static void test_sessions_forever_equal_sorted_sessionizing(void **state)
{
	(void)state;
	const int64_t gap = 30 * 60000000LL;
	char dir[] = "/tmp/eg-test-win-XXXXXX";
	assert_non_null(mkdtemp(dir));
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	for (int i = 0; i < NEV; i += 300)
		append_range(st, i, i + 300 < NEV ? i + 300 : NEV);
	const gev **v = malloc(NEV * sizeof *v);
	int nv = 0;
	for (int i = 0; i < NEV; i++)
		if (i % 17)
			v[nv++] = &EV[i];
	qsort(v, (size_t)nv, sizeof *v, cmp_page_time);
	scheck c = { calloc((size_t)nv, sizeof(sref)), 0, 0 };
	for (int i = 0; i < nv; i++) {
		sref *s = c.ns ? &c.s[c.ns - 1] : NULL;
		if (s && s->page == v[i]->page && v[i]->time - (s->end - gap) < gap) {
			s->end = v[i]->time + gap;
			s->n++;
		} else {
			c.s[c.ns++] = (sref){ v[i]->time, v[i]->time + gap, 1, v[i]->page };
		}
	}
	eg_win_spec *s = parse("{\"types\":[\"page_view\"],\"window\":{\"session\":\"30m\"},"
			       "\"group_by\":[\"data.page\"],\"aggs\":{\"n\":{\"count\":true}},"
			       "\"watermark\":\"1m\",\"allowed_lateness\":\"forever\"}");
	eg_win *w;
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	assert_int_equal(eg_win_table(w, 0, 1, check_session, &c), EG_OK);
	assert_int_equal(c.rows, c.ns);
	eg_win_close(w);
	eg_win_spec_free(s);
	free(c.s);
	free(v);
	eg_store_close(st);
	rm_rf(dir);
}

/* ------------------------- continuous with restarts == one replay */

/* The changelog and the too-late events from *cursor on, as lines. */
static void changes(eg_win *w, uint64_t *cursor, uint64_t to, lines *revs, lines *late);

/* A row's key and figures, for comparing reports. */
static int on_late_line(void *ctx, const eg_event *e, const eg_win_row *r)
{
	lines *l = ctx;
	char b[64];
	snprintf(b, sizeof b, "late %" PRIu64 " ", e->pos);
	size_t k = strlen(b);
	if (l->n + k + 1 > l->cap) {
		l->cap = (l->n + k + 1) * 2;
		l->buf = realloc(l->buf, l->cap);
	}
	memcpy(l->buf + l->n, b, k + 1);
	l->n += k;
	return add_line(l, r, 0);
}

static void changes(eg_win *w, uint64_t *cursor, uint64_t to, lines *revs, lines *late)
{
	assert_int_equal(eg_win_changes(w, cursor, to, on_rev, on_late_line, revs), EG_OK);
	(void)late;
}

/* The diff rows counted, checked against two tables. */
typedef struct diffcount { int rows, events; } diffcount;

static int on_diff(void *ctx, const eg_win_diff_row *d)
{
	diffcount *c = ctx;
	c->rows++;
	c->events += (int)d->nevents;
	assert_true(d->change >= EG_WIN_NEW && d->change <= EG_WIN_GONE);
	if (d->change == EG_WIN_CHANGED)
		assert_true(d->row->revision != d->before_revision ||
			    d->row->too_late != d->before_too_late);
	if (d->change == EG_WIN_CHANGED && d->row->too_late == d->before_too_late)
		assert_true(d->nevents > 0);         /* a correction names its events */
	return 0;
}

/* Rows of table b that are not in table a, line by line, ignoring the
 * final flag (explain-diff lists changed figures). */
/* The line at p (up to its newline) into row, with its final flag
 * blanked out; the start of the next line. */
static const char *line_without_final(const char *p, char *row, size_t n)
{
	const char *e = strchr(p, '\n');
	snprintf(row, n, "%.*s", (int)(e - p), p);
	char *f = strstr(row, " final=");
	if (f)
		f[7] = '?';
	return e + 1;
}

static int lines_not_in(const lines *a, const lines *b)
{
	int n = 0;
	const char *p = b->buf ? b->buf : "";
	while (*p) {
		char row[4096], r2[4096];
		p = line_without_final(p, row, sizeof row);
		int found = 0;
		const char *q = a->buf ? a->buf : "";
		while (*q && !found) {
			q = line_without_final(q, r2, sizeof r2);
			found = !strcmp(row, r2);
		}
		n += !found;
	}
	return n;
}

static void restarts_equal_one_replay(const char *window)
{
	char SPEC[1024];
	snprintf(SPEC, sizeof SPEC,
		"{\"types\":[\"page_view\"],\"window\":%s,\"group_by\":[\"data.page\"],"
		"\"aggs\":{\"views\":{\"count\":true},\"users\":{\"count_distinct\":\"stream\"},"
		"\"ms\":{\"sum\":\"data.ms\"},\"p95\":{\"p95\":\"data.ms\"}},"
		"\"watermark\":\"10m\",\"allowed_lateness\":\"2h\"}", window);
	char dir[] = "/tmp/eg-test-win-XXXXXX";
	assert_non_null(mkdtemp(dir));
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_win_spec *s = parse(SPEC);
	eg_win *live;
	assert_int_equal(eg_win_open(st, s, 0, &live), EG_OK);
	lines revs_live = { 0 }, revs_one = { 0 }, t1 = { 0 }, t2 = { 0 };
	uint64_t cursor = 0;
	int restarts = 0;
	uint64_t save_every = eg_win_save_every, pipe_min = eg_win_pipe_min;
	eg_win_save_every = 37;         /* checkpoints inside runs too */
	/* live: random batches, each taken as soon as it is appended, in
	 * random steps (to a position inside the batch, then the rest), and
	 * now and then the process "restarts" from its checkpoint */
	for (int i = 0; i < NEV;) {
		int to = i + 1 + (int)(rnd() % 200);
		if (to > NEV)
			to = NEV;
		append_range(st, i, to);
		eg_head h;
		assert_int_equal(eg_store_head(st, &h), EG_OK);
		uint64_t mid = h.pos - (uint64_t)(rnd() % (uint64_t)(to - i));
		if (mid)
			assert_int_equal(eg_win_run(live, mid), EG_OK);
		if (rnd() % 3 == 0) {
			eg_win_close(live);
			assert_int_equal(eg_win_open(st, s, 0, &live), EG_OK);
			restarts++;
		}
		assert_int_equal(eg_win_run(live, 0), EG_OK);
		changes(live, &cursor, 0, &revs_live, NULL);
		i = to;
	}
	assert_true(restarts > 3);
	/* one replay, read on a second thread (the live run read each batch
	 * on this one): the same changes */
	eg_win_pipe_min = 1;
	eg_win *one;
	assert_int_equal(eg_win_open(st, s, EG_WIN_IN_MEMORY, &one), EG_OK);
	assert_int_equal(eg_win_run(one, 0), EG_OK);
	eg_win_pipe_min = pipe_min;
	uint64_t c1 = 0;
	changes(one, &c1, 0, &revs_one, NULL);
	assert_true(revs_one.count > 0);
	if (strcmp(revs_live.buf, revs_one.buf)) {
		FILE *f1 = fopen("/tmp/eg-live.txt", "w"), *f2 = fopen("/tmp/eg-one.txt", "w");
		fputs(revs_live.buf, f1), fputs(revs_one.buf, f2);
		fclose(f1), fclose(f2);
		fail_msg("the changelogs differ: /tmp/eg-live.txt, /tmp/eg-one.txt");
	}
	assert_int_equal(eg_win_table(live, 0, 1, on_row, &t1), EG_OK);
	assert_int_equal(eg_win_table(one, 0, 1, on_row, &t2), EG_OK);
	assert_string_equal(t1.buf, t2.buf);
	eg_win_explain x, y;
	eg_win_get_explain(one, &x);
	eg_win_get_explain(live, &y);
	assert_true(x.too_late > 0);         /* 8-hour-late events exist */
	assert_true(x.corrections > 0);
	assert_int_equal(x.too_late, y.too_late);
	assert_int_equal(x.corrections, y.corrections);
	/* memory holds the windows still open, not all of them */
	if (!strstr(window, "session"))
		assert_true(y.open_windows * 4 < y.windows);
	eg_win_close(one);
	/* reports at past positions == a run stopped there; explain-diff ==
	 * the rows that differ between two of them */
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	for (int k = 0; k < 6; k++) {
		uint64_t p1 = 1 + rnd() % h.pos, p2 = 1 + rnd() % h.pos;
		if (p1 > p2) {
			uint64_t t = p1;
			p1 = p2, p2 = t;
		}
		lines a = { 0 }, b = { 0 }, ra = { 0 }, rb = { 0 };
		eg_win_pipe_min = k % 2 ? 1 : pipe_min;
		assert_int_equal(eg_win_open(st, s, EG_WIN_IN_MEMORY, &one), EG_OK);
		assert_int_equal(eg_win_run(one, p1), EG_OK);
		assert_int_equal(eg_win_table(one, 0, 0, on_row, &ra), EG_OK);
		assert_int_equal(eg_win_run(one, p2), EG_OK);
		assert_int_equal(eg_win_table(one, 0, 0, on_row, &rb), EG_OK);
		eg_win_close(one);
		assert_int_equal(eg_win_table(live, p1, 0, on_row, &a), EG_OK);
		assert_int_equal(eg_win_table(live, p2, 0, on_row, &b), EG_OK);
		assert_string_equal(a.buf ? a.buf : "", ra.buf ? ra.buf : "");
		assert_string_equal(b.buf ? b.buf : "", rb.buf ? rb.buf : "");
		diffcount dc = { 0 };
		assert_int_equal(eg_win_diff(live, p1, p2, on_diff, &dc), EG_OK);
		/* rows new or changed, plus sessions merged away (in a, not b) */
		int want = lines_not_in(&a, &b);
		if (strstr(window, "session"))
			assert_true(dc.rows >= want);
		else
			assert_int_equal(dc.rows, want);
		free(a.buf), free(b.buf), free(ra.buf), free(rb.buf);
	}
	eg_win_pipe_min = pipe_min;
	eg_win_save_every = save_every;
	eg_win_close(live);
	free(revs_live.buf), free(revs_one.buf), free(t1.buf), free(t2.buf);
	eg_win_spec_free(s);
	eg_store_close(st);
	rm_rf(dir);
}

/* The column path (col.h) and the log path make the same files: live
 * runs in random steps, on one thread or two, reopened now and then, with
 * checkpoints inside runs and column blocks of 50 events. */
static void test_columns_and_log_make_the_same_files(void **state)
{
	(void)state;
	static const char *const SPECS[] = {
		"{\"types\":[\"page_view\"],\"window\":{\"tumble\":\"1h\"},\"group_by\":[\"data.page\"],"
		"\"aggs\":{\"views\":{\"count\":true},\"users\":{\"count_distinct\":\"stream\"},"
		"\"ms\":{\"sum\":\"data.ms\"},\"p95\":{\"p95\":\"data.ms\"}},"
		"\"watermark\":\"10m\",\"allowed_lateness\":\"2h\"}",
		"{\"window\":{\"session\":\"20m\"},\"group_by\":[\"stream\"],"
		"\"aggs\":{\"n\":{\"count\":true},\"max\":{\"max\":\"data.ms\"}},"
		"\"watermark\":\"5m\",\"allowed_lateness\":\"1h\"}",
		"{\"window\":{\"hop\":\"1h\",\"every\":\"20m\"},\"group_by\":[\"type\",\"data.ms\"],"
		"\"aggs\":{\"n\":{\"count\":true},\"t\":{\"min\":\"time\"}},"
		"\"watermark\":\"0s\",\"allowed_lateness\":\"forever\"}",
	};
	extern uint32_t eg_colscan_block_events;
	extern int eg_colsrc_off;
	/* on tmpfs where there is one: the checkpoints are synced */
	char dir[64], win[80];
	strcpy(dir, "/dev/shm/eg-test-wincol-XXXXXX");
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/eg-test-wincol-XXXXXX");
		assert_non_null(mkdtemp(dir));
	}
	snprintf(win, sizeof win, "%s/idx/win", dir);
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	for (int i = 0; i < NEV; i += 500)
		append_range(st, i, i + 500 < NEV ? i + 500 : NEV);
	uint64_t save_every = eg_win_save_every, pipe_min = eg_win_pipe_min;
	uint32_t block = eg_colscan_block_events;
	eg_win_save_every = 97;
	eg_colscan_block_events = 50;
	for (size_t k = 0; k < sizeof SPECS / sizeof *SPECS; k++) {
		eg_win_spec *s = parse(SPECS[k]);
		uint64_t seed = rng_state;
		char *text[2];
		size_t len[2];
		lines t[2] = { { 0 }, { 0 } };
		for (int off = 0; off < 2; off++) {
			rng_state = seed;       /* the same steps on both paths */
			eg_colsrc_off = off;
			eg_win *w;
			int paths = 0;
			assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
			for (uint64_t to = 0; to < NEV;) {
				to += 1 + rnd() % 1000;
				to = to > NEV ? NEV : to;
				eg_win_pipe_min = rnd() % 2 ? 1 : pipe_min;
				assert_int_equal(eg_win_run(w, to), EG_OK);
				eg_win_explain x;
				eg_win_get_explain(w, &x);
				if (x.path) {
					assert_string_equal(x.path, off ? "log" : "columns");
					paths++;
				}
				if (rnd() % 3 == 0) {
					eg_win_close(w);
					assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
				}
			}
			assert_int_equal(eg_win_run(w, 0), EG_OK);
			assert_true(paths > 0);
			assert_int_equal(eg_win_table(w, 0, 1, on_row, &t[off]), EG_OK);
			eg_win_close(w);
			text[off] = tu_tree_text(win, "lock", &len[off]);
			rm_rf(win);
		}
		assert_true(len[0] > 0);
		assert_int_equal(len[0], len[1]);
		assert_memory_equal(text[0], text[1], len[0]);
		assert_string_equal(t[0].buf, t[1].buf);
		free(text[0]), free(text[1]), free(t[0].buf), free(t[1].buf);
		eg_win_spec_free(s);
	}
	eg_colsrc_off = 0;
	eg_colscan_block_events = block;
	eg_win_save_every = save_every;
	eg_win_pipe_min = pipe_min;
	eg_store_close(st);
	rm_rf(dir);
}

static void test_restarts_equal_one_replay(void **state)
{
	(void)state;
	extern int eg_colsrc_off;
	restarts_equal_one_replay("{\"tumble\":\"1h\"}");
	eg_colsrc_off = 1;                   /* the log path (else the columns) */
	restarts_equal_one_replay("{\"hop\":\"1h\",\"every\":\"20m\"}");
	eg_colsrc_off = 0;
	restarts_equal_one_replay("{\"session\":\"20m\"}");
}

/* ------------------------------------------- the worked example */

typedef struct late_seen {
	int n;
	uint64_t pos[8];
	int64_t start[8];
} late_seen;

static int on_late(void *ctx, const eg_event *e, const eg_win_row *r)
{
	late_seen *l = ctx;
	l->pos[l->n] = e->pos;
	l->start[l->n++] = r->start;
	return 0;
}

static void test_worked_example(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	static const char *const ev[] = {
		/* 1 */ "{\"stream\":\"u1\",\"type\":\"v\",\"time\":\"2025-01-01T10:05:00Z\"}",
		/* 2 */ "{\"stream\":\"u2\",\"type\":\"v\",\"time\":\"2025-01-01T10:20:00Z\"}",
		/* 3: watermark 11:00, 10:00-11:00 gets revision 1 */
		"{\"stream\":\"u1\",\"type\":\"v\",\"time\":\"2025-01-01T11:10:00Z\"}",
		/* 4: late but allowed: revision 2 */
		"{\"stream\":\"u3\",\"type\":\"v\",\"time\":\"2025-01-01T10:50:00Z\"}",
		/* 5: watermark 13:00: 10:00-11:00 final (end + 2h) */
		"{\"stream\":\"u1\",\"type\":\"v\",\"time\":\"2025-01-01T13:10:00Z\"}",
		/* 6: too late for 10:00-11:00 */
		"{\"stream\":\"u4\",\"type\":\"v\",\"time\":\"2025-01-01T10:30:00Z\"}",
	};
	tu_append(st, ev, sizeof ev / sizeof *ev);
	eg_win_spec *s = parse("{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"n\":{\"count\":true}},"
			       "\"watermark\":\"10m\",\"allowed_lateness\":\"2h\"}");
	eg_win *w;
	lines revs = { 0 }, table = { 0 };
	late_seen late = { 0 };
	uint64_t cursor = 0;
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	/* after event 2 nothing is emitted: the watermark (10:10) is short of 11:00 */
	assert_int_equal(eg_win_run(w, 2), EG_OK);
	assert_int_equal(eg_win_changes(w, &cursor, 0, on_rev, on_late, &revs), EG_OK);
	assert_int_equal(revs.count, 0);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	/* the changes made by events up to 5: three revisions */
	assert_int_equal(eg_win_changes(w, &cursor, 5, on_rev, NULL, &revs), EG_OK);
	const int64_t t10 = T0 + 10 * HOUR, t11 = T0 + 11 * HOUR;
	char want[1024];
	snprintf(want, sizeof want,
		 "%" PRId64 " %" PRId64 " n=2 rev=1 final=0 late=0 pos=3 prev=no\n"
		 "%" PRId64 " %" PRId64 " n=3 rev=2 final=0 late=0 pos=4 prev=yes\n"
		 "%" PRId64 " %" PRId64 " n=1 rev=1 final=0 late=0 pos=5 prev=no\n",
		 t10, t11, t10, t11, t11, t11 + HOUR);
	assert_string_equal(revs.buf, want);
	eg_win_close(w);
	/* the too-late event: listed, counted, figures unchanged; reopened
	 * from the checkpoint, nothing is taken again */
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	eg_win_explain x;
	eg_win_get_explain(w, &x);
	assert_int_equal(x.through, 6);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	assert_int_equal(eg_win_changes(w, &cursor, 0, NULL, on_late, &late), EG_OK);
	assert_int_equal(late.n, 1);
	assert_int_equal(late.pos[0], 6);
	assert_int_equal(late.start[0], t10);
	assert_int_equal(eg_win_table(w, 0, 0, on_row, &table), EG_OK);
	snprintf(want, sizeof want,
		 "%" PRId64 " %" PRId64 " n=3 rev=2 final=1 late=1\n"
		 "%" PRId64 " %" PRId64 " n=1 rev=1 final=0 late=0\n",
		 t10, t11, t11, t11 + HOUR);
	assert_string_equal(table.buf, want);
	/* the report as of event 4: revision 2, not final, nothing late */
	free(table.buf);
	table = (lines){ 0 };
	assert_int_equal(eg_win_table(w, 4, 0, on_row, &table), EG_OK);
	snprintf(want, sizeof want, "%" PRId64 " %" PRId64 " n=3 rev=2 final=0 late=0\n", t10, t11);
	assert_string_equal(table.buf, want);
	eg_win_close(w);
	free(revs.buf), free(table.buf);
	eg_win_spec_free(s);
	eg_store_close(st);
}

/* A window that only too-late events reached: its count and sum are 0
 * (not null), min and avg have no value, in the table, in a report at a
 * past position, in explain-diff, and the same from a checkpoint as from a
 * replay. */
static int on_diff_row(void *ctx, const eg_win_diff_row *d)
{
	lines *l = ctx;
	assert_int_equal(d->change, EG_WIN_NEW);
	return add_line(l, d->row, 0);
}

static void test_window_reached_only_by_too_late_events_counts_zero(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	static const char *const ev[] = {
		"{\"type\":\"v\",\"time\":\"2025-01-01T10:10:00Z\",\"data\":{\"x\":1}}",
		"{\"type\":\"v\",\"time\":\"2025-01-01T12:10:00Z\",\"data\":{\"x\":2}}",
		/* the watermark is 12:10: 11:00-12:00 is final before any event */
		"{\"type\":\"v\",\"time\":\"2025-01-01T11:10:00Z\",\"data\":{\"x\":5}}",
	};
	tu_append(st, ev, 2);
	eg_win_spec *s = parse("{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"n\":{\"count\":true},"
			       "\"s\":{\"sum\":\"data.x\"},\"lo\":{\"min\":\"data.x\"},"
			       "\"d\":{\"count_distinct\":\"data.x\"},\"a\":{\"avg\":\"data.x\"}}}");
	eg_win *w, *one;
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	eg_win_close(w);
	tu_append(st, ev + 2, 1);
	/* resumed from the checkpoint, and replayed from nothing */
	assert_int_equal(eg_win_open(st, s, 0, &w), EG_OK);
	assert_int_equal(eg_win_run(w, 0), EG_OK);
	assert_int_equal(eg_win_open(st, s, EG_WIN_IN_MEMORY, &one), EG_OK);
	assert_int_equal(eg_win_run(one, 0), EG_OK);
	const int64_t t11 = T0 + 11 * HOUR;
	char want[256];
	snprintf(want, sizeof want, "%" PRId64 " %" PRId64 " n=0 s=0 lo=null d=0 a=null rev=0 final=1 late=1\n",
		 t11, t11 + HOUR);
	lines t1 = { 0 }, t2 = { 0 }, past = { 0 }, diff = { 0 };
	assert_int_equal(eg_win_table(w, 0, 0, on_row, &t1), EG_OK);
	assert_int_equal(eg_win_table(one, 0, 0, on_row, &t2), EG_OK);
	assert_non_null(strstr(t1.buf, want));
	assert_string_equal(t1.buf, t2.buf);
	assert_int_equal(eg_win_table(w, 3, 0, on_row, &past), EG_OK);
	assert_string_equal(past.buf, t1.buf);
	assert_int_equal(eg_win_diff(w, 2, 3, on_diff_row, &diff), EG_OK);
	assert_string_equal(diff.buf, want);
	eg_win_close(w);
	eg_win_close(one);
	free(t1.buf), free(t2.buf), free(past.buf), free(diff.buf);
	eg_win_spec_free(s);
	eg_store_close(st);
}

/* ------------------------------------------------- spec errors */

static void test_spec_errors_name_the_member(void **state)
{
	(void)state;
	static const struct { const char *json, *want; } cases[] = {
		{ "{\"window\":{\"slide\":\"1h\"},\"aggs\":{\"n\":{\"count\":true}}}", "$.window.slide:" },
		{ "{\"window\":{\"hop\":\"1h\",\"every\":\"2h\"},\"aggs\":{\"n\":{\"count\":true}}}",
		  "$.window.every: expected a duration no longer than the window (1h)" },
		{ "{\"window\":{\"tumble\":\"0m\"},\"aggs\":{\"n\":{\"count\":true}}}", "$.window.tumble:" },
		{ "{\"window\":{\"tumble\":\"-5m\"},\"aggs\":{\"n\":{\"count\":true}}}", "$.window.tumble:" },
		{ "{\"window\":{\"session\":\"30m\"},\"aggs\":{\"n\":{\"median\":\"data.x\"}}}",
		  "$.aggs.n.median: unknown aggregate" },
		{ "{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"n\":{\"sum\":\"data..x\"}}}", "$.aggs.n.sum:" },
		{ "{\"window\":{\"tumble\":\"1h\"},\"group_by\":[\"payload.x\"],\"aggs\":{\"n\":{\"count\":true}}}",
		  "$.group_by[0]:" },
		{ "{\"aggs\":{\"n\":{\"count\":true}}}", "$.window: missing" },
		{ "{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"n\":{\"count\":true}},\"allowed_lateness\":\"soon\"}",
		  "$.allowed_lateness:" },
		{ "{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"revision\":{\"count\":true}}}",
		  "$.aggs.revision: the name is taken" },
		{ "{\"window\":{\"tumble\":\"1h\"},\"aggs\":{}}", "$.aggs: expected at least one" },
		{ "{\"window\":{\"tumble\":\"1h\"}", "$: not valid JSON" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		eg_win_spec *s = NULL;
		char err[512];
		int rc = eg_win_spec_parse(cases[i].json, strlen(cases[i].json), &s, err, sizeof err);
		if (rc != EG_EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("case %zu: rc %d, err \"%s\", want \"%s…\"", i, rc, err, cases[i].want);
		assert_null(s);
	}
	eg_win_spec *s = parse("{\"window\":{\"tumble\":\"1h\"},\"aggs\":{\"n\":{\"count\":true}},"
			       "\"watermark\":\"0s\",\"allowed_lateness\":\"0\"}");
	eg_win_spec_free(s);
}

static int group_setup(void **state)
{
	(void)state;
	const char *seed = getenv("EG_SEED");
	rng_state = seed ? strtoull(seed, NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
	generate();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors_name_the_member),
		cmocka_unit_test_setup_teardown(test_worked_example, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_window_reached_only_by_too_late_events_counts_zero,
						tu_setup, tu_teardown),
		cmocka_unit_test(test_tumbling_forever_equals_group_by),
		cmocka_unit_test(test_hopping_forever_equals_group_by),
		cmocka_unit_test(test_sessions_forever_equal_sorted_sessionizing),
		cmocka_unit_test(test_restarts_equal_one_replay),
		cmocka_unit_test(test_columns_and_log_make_the_same_files),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}

/* test_session.c — sessions per stream: whatever order events arrive in,
 * and whether the state came from checkpoints, a second thread or a replay
 * in memory, the sessions equal those of each stream's events sorted by
 * time; a log prefix (known at) equals the sessions of just that prefix. */
#include "testutil.h"

#include <time.h>

extern uint64_t eg_sess_save_every, eg_sess_pipe_min, eg_sess_save_min, eg_sess_part_min;

#define NEV 3000
#define NSTREAMS 23
#define GAP (30 * 60 * 1000000LL)
#define T0 1735689600000000LL    /* 2025-01-01T00:00:00Z */

typedef struct tev {
	int stream, type, url, cs;   /* url -1: none; cs -1: no session field */
	int64_t time;
} tev;

static tev EV[NEV];
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	return tu_rnd(&rng_state);
}

static const char *const TYPES[] = { "page_view", "click", "screen_view", "purchase" };

/* Bursts of activity per stream with gaps around the session gap, a fifth
 * of events arriving hours late: many sessions, some merged by late ones. */
static void generate(void)
{
	int64_t clock[NSTREAMS];
	for (int s = 0; s < NSTREAMS; s++)
		clock[s] = T0 + (int64_t)(rnd() % 3600) * 1000000;
	for (int i = 0; i < NEV; i++) {
		tev *e = &EV[i];
		e->stream = (int)(rnd() % NSTREAMS);
		int64_t step = rnd() % 4 ? (int64_t)(rnd() % 600) * 1000000
					 : (int64_t)(20 + rnd() % 30) * 60 * 1000000;
		clock[e->stream] += step;
		e->time = clock[e->stream];
		if (rnd() % 5 == 0)            /* queued offline, sent later */
			e->time -= (int64_t)(rnd() % (4 * 3600)) * 1000000;
		e->type = (int)(rnd() % 4);
		e->url = rnd() % 7 == 0 ? -1 : (int)(rnd() % 9);
		e->cs = rnd() % 6 == 0 ? -1 : (int)(rnd() % 4);
	}
}

static void append_range(eg_store *st, int from, int to)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = from; i < to; i++) {
		const tev *e = &EV[i];
		char line[512], url[64] = "", cs[64] = "";
		if (e->url >= 0)
			snprintf(url, sizeof url, "\"page_url\":\"/p/%d\",", e->url);
		if (e->cs >= 0)
			snprintf(cs, sizeof cs, "\"session\":\"c%d\",", e->cs);
		snprintf(line, sizeof line,
			 "{\"stream\":\"s%02d\",\"type\":\"%s\",\"time\":%lld,%s"
			 "\"data\":{%s\"n\":%d}}", e->stream, TYPES[e->type],
			 (long long)(e->time / 1000), cs, url, i);
		int rc = eg_batch_add_json(b, line, strlen(line));
		if (rc)
			fail_msg("%s: %s", line, eg_errmsg(st));
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
}

/* ---------------------------------------------------------- reference */

typedef struct text {
	char *buf;
	size_t n, cap;
	int rows;
} text;

static void add(text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->n + n + 1 > t->cap) {
		t->cap = (t->n + n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	memcpy(t->buf + t->n, s, n + 1);
	t->n += n;
	t->rows++;
}

static void line_of(char *out, size_t cap, const char *stream, int64_t start, int64_t end,
		    uint64_t events, uint64_t pv, const char *entry, const char *exit, uint64_t cs)
{
	snprintf(out, cap, "%s %lld %lld %llu %llu %s %s %llu\n", stream, (long long)start,
		 (long long)end, (unsigned long long)events, (unsigned long long)pv, entry,
		 exit, (unsigned long long)cs);
}

static int cmp_time_pos(const void *a, const void *b)
{
	const tev *x = *(const tev *const *)a, *y = *(const tev *const *)b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return x < y ? -1 : x > y;           /* array order is log order */
}

/* Sessions of the first n events, by sorting each stream's events, with
 * only the given types (NULL: all) and page types page_view, screen_view. */
static void reference(int n, int64_t gap, const int *types, text *t)
{
	const tev **v = malloc(NEV * sizeof *v);
	assert_non_null(v);
	for (int s = 0; s < NSTREAMS; s++) {
		int m = 0;
		for (int i = 0; i < n; i++)
			if (EV[i].stream == s && (!types || types[EV[i].type]))
				v[m++] = &EV[i];
		qsort(v, (size_t)m, sizeof *v, cmp_time_pos);
		for (int i = 0; i < m;) {
			int j = i + 1;
			while (j < m && v[j]->time - v[j - 1]->time < gap)
				j++;
			uint64_t pv = 0, seen = 0;
			int entry = -1, exit = -1;
			for (int k = i; k < j; k++) {
				int page = v[k]->type == 0 || v[k]->type == 2;
				pv += page;
				if (page && v[k]->url >= 0) {
					if (entry < 0)
						entry = v[k]->url;
					exit = v[k]->url;
				}
				if (v[k]->cs >= 0)
					seen |= 1u << v[k]->cs;
			}
			char name[8], en[16] = "null", ex[16] = "null", l[256];
			snprintf(name, sizeof name, "s%02d", s);
			if (entry >= 0)
				snprintf(en, sizeof en, "\"/p/%d\"", entry);
			if (exit >= 0)
				snprintf(ex, sizeof ex, "\"/p/%d\"", exit);
			line_of(l, sizeof l, name, v[i]->time, v[j - 1]->time, (uint64_t)(j - i), pv,
				en, ex, (uint64_t)__builtin_popcountll(seen));
			add(t, l);
			i = j;
		}
	}
	free(v);
}

static int on_row(void *ctx, const eg_session_row *r)
{
	char stream[64], en[64] = "null", ex[64] = "null", l[512];
	snprintf(stream, sizeof stream, "%.*s", (int)r->stream_len, r->stream);
	if (r->entry_page)
		snprintf(en, sizeof en, "%.*s", (int)r->entry_len, r->entry_page);
	if (r->exit_page)
		snprintf(ex, sizeof ex, "%.*s", (int)r->exit_len, r->exit_page);
	line_of(l, sizeof l, stream, r->start, r->end, r->events, r->page_views, en, ex,
		r->client_sessions);
	add(ctx, l);
	assert_int_equal(strlen(r->session), 36);
	return 0;
}

static void scan(eg_sessions *s, uint64_t at, text *t)
{
	eg_sess_query q = { .at = at };
	memset(t, 0, sizeof *t);
	assert_int_equal(eg_sessions_scan(s, &q, on_row, t), EG_OK);
}

static void expect_equal(text *got, text *want, const char *what)
{
	if (strcmp(got->buf ? got->buf : "", want->buf ? want->buf : "")) {
		FILE *f1 = fopen("/tmp/eg-sess-got.txt", "w"), *f2 = fopen("/tmp/eg-sess-want.txt", "w");
		fputs(got->buf ? got->buf : "", f1), fputs(want->buf ? want->buf : "", f2);
		fclose(f1), fclose(f2);
		fail_msg("%s: sessions differ: /tmp/eg-sess-got.txt, /tmp/eg-sess-want.txt", what);
	}
	free(got->buf), free(want->buf);
}

/* ------------------------------------------------------------- tests */

static void sessions_equal_a_sorted_replay_after_every_batch(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	uint64_t se = eg_sess_save_every, pm = eg_sess_pipe_min, sm = eg_sess_save_min, pp = eg_sess_part_min;
	eg_sess_save_every = 97;              /* checkpoints inside runs */
	eg_sess_save_min = 50;
	eg_sessions *s;
	eg_sess_opts o = { 0 };
	assert_int_equal(eg_sessions_open(st, &o, 0, &s), EG_OK);
	int reopened = 0;
	eg_sess_explain x;
	for (int i = 0, k = 0; i < NEV; k++) {
		int to = i + 1 + (int)(rnd() % 400);
		to = to > NEV ? NEV : to;
		append_range(st, i, to);
		eg_sess_pipe_min = k % 2 ? 1 : pm;     /* on a second thread, or not */
		eg_sess_part_min = k % 4 == 1 ? 7 : pp; /* split in many parts, or in two */
		if (rnd() % 3 == 0) {               /* a new process: from a checkpoint */
			eg_sessions_close(s);
			assert_int_equal(eg_sessions_open(st, &o, 0, &s), EG_OK);
			reopened++;
		}
		text got, want = { 0 };
		scan(s, 0, &got);
		reference(to, GAP, NULL, &want);
		expect_equal(&got, &want, "after a batch");
		i = to;
	}
	eg_sessions_get_explain(s, &x);
	assert_true(reopened > 2);
	assert_true(x.merges > 0);           /* late events did close gaps */
	assert_int_equal(x.events, NEV);
	/* one replay in memory, on a second thread, in many parts */
	eg_sess_pipe_min = 1;
	eg_sess_part_min = 7;
	eg_sessions *one;
	assert_int_equal(eg_sessions_open(st, &o, EG_SESS_IN_MEMORY, &one), EG_OK);
	text got, want = { 0 };
	scan(one, 0, &got);
	reference(NEV, GAP, NULL, &want);
	expect_equal(&got, &want, "one replay");
	eg_sess_explain y;
	eg_sessions_get_explain(one, &y);
	assert_int_equal(y.resumed_from, 0);
	assert_int_equal(y.taken, NEV);
	assert_int_equal(y.merges, x.merges);
	eg_sessions_close(one);
	eg_sessions_close(s);
	eg_sess_save_every = se, eg_sess_pipe_min = pm, eg_sess_save_min = sm, eg_sess_part_min = pp;
	eg_store_close(st);
}

static void known_at_equals_the_sessions_of_the_prefix(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	uint64_t se = eg_sess_save_every;
	eg_sess_save_every = 211;
	append_range(st, 0, NEV);
	eg_sessions *s;
	eg_sess_opts o = { .gap = 10 * 60 * 1000000LL };
	assert_int_equal(eg_sessions_open(st, &o, 0, &s), EG_OK);
	text got, want = { 0 };
	scan(s, 0, &got);                    /* the head: saves checkpoints */
	reference(NEV, o.gap, NULL, &want);
	expect_equal(&got, &want, "head");
	for (int k = 0; k < 8; k++) {
		uint64_t at = 1 + rnd() % (NEV - 1);
		eg_sessions *p;
		assert_int_equal(eg_sessions_open(st, &o, 0, &p), EG_OK);
		memset(&want, 0, sizeof want);
		scan(p, at, &got);
		reference((int)at, o.gap, NULL, &want);
		expect_equal(&got, &want, "known at a prefix");
		eg_sess_explain x;
		eg_sessions_get_explain(p, &x);
		assert_int_equal(x.through, at);
		if (at >= 211)                   /* from a kept checkpoint before it */
			assert_true(x.resumed_from > 0 && x.resumed_from <= at && at - x.resumed_from < 211 * 2);
		eg_sessions_close(p);
	}
	/* the head is still served from its own checkpoint */
	scan(s, 0, &got);
	free(got.buf);
	eg_sessions_close(s);
	eg_sess_save_every = se;
	eg_store_close(st);
}

static void types_select_the_events_that_make_sessions(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	append_range(st, 0, NEV);
	const char *types[] = { "purchase", "click" };
	int want_types[4] = { 0, 1, 0, 1 };
	eg_sess_opts o = { .types = types, .ntypes = 2 };
	eg_sessions *s;
	assert_int_equal(eg_sessions_open(st, &o, 0, &s), EG_OK);
	text got, want = { 0 };
	scan(s, 0, &got);
	reference(NEV, GAP, want_types, &want);
	expect_equal(&got, &want, "types");
	eg_sessions_close(s);
	eg_store_close(st);
}

static void a_late_event_closing_a_gap_merges_two_sessions(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *lines[] = {
		"{\"stream\":\"u\",\"type\":\"page_view\",\"time\":\"2025-01-01T10:00:00Z\",\"data\":{\"page_url\":\"/a\"}}",
		"{\"stream\":\"u\",\"type\":\"page_view\",\"time\":\"2025-01-01T11:00:00Z\",\"data\":{\"page_url\":\"/b\"}}",
		"{\"stream\":\"u\",\"type\":\"click\",\"time\":\"2025-01-01T10:30:00Z\"}",
		"{\"stream\":\"u\",\"type\":\"click\",\"time\":\"2025-01-01T10:29:59.999999Z\"}",
	};
	eg_sessions *s;
	assert_int_equal(eg_sessions_open(st, NULL, 0, &s), EG_OK);
	/* every one-event run split in two parts, the first empty: the merge
	 * happens, and is counted, where the second part is joined */
	uint64_t pm = eg_sess_pipe_min;
	eg_sess_pipe_min = 1;
	int want[] = { 1, 2, 3, 2 };
	for (int i = 0; i < 4; i++) {
		tu_append(st, &lines[i], 1);
		text got;
		scan(s, 0, &got);
		/* 10:30 is exactly a gap from 10:00 and 11:00: a session of its
		 * own; 10:29:59.999999 is less than a gap from 10:00 and 10:30:
		 * it joins them into one */
		assert_int_equal(got.rows, want[i]);
		if (i == 3)
			assert_non_null(strstr(got.buf, " 3 1 \"/a\" \"/a\" 0\n"));
		free(got.buf);
	}
	eg_sess_explain x;
	eg_sessions_get_explain(s, &x);
	assert_int_equal(x.merges, 1);
	eg_sess_pipe_min = pm;
	eg_sessions_close(s);
	eg_sess_opts bad = { .gap = -1 };
	assert_int_equal(eg_sessions_open(st, &bad, 0, &s), EG_EINVAL);
	eg_store_close(st);
}

/* The empty stream is a stream like any other, also when it is the first
 * text its table holds (an itab whose text was still NULL once passed
 * that to memcpy: a sanitizer report). */
static void events_without_a_stream_make_sessions_of_the_empty_stream(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *lines[] = {
		"{\"type\":\"page_view\",\"time\":\"2025-01-01T10:00:00Z\",\"data\":{\"page_url\":\"/a\"}}",
		"{\"stream\":\"u\",\"type\":\"page_view\",\"time\":\"2025-01-01T10:01:00Z\"}",
		"{\"type\":\"click\",\"time\":\"2025-01-01T10:02:00Z\"}",
	};
	tu_append(st, lines, 3);
	uint64_t pm = eg_sess_pipe_min;
	for (int k = 0; k < 2; k++) {         /* on one thread, then split */
		eg_sess_pipe_min = k ? 1 : pm;
		eg_sessions *s;
		assert_int_equal(eg_sessions_open(st, NULL, EG_SESS_IN_MEMORY, &s), EG_OK);
		text got;
		scan(s, 0, &got);
		assert_string_equal(got.buf, " 1735725600000000 1735725720000000 2 1 \"/a\" \"/a\" 0\n"
					     "u 1735725660000000 1735725660000000 1 1 null null 0\n");
		free(got.buf);
		eg_sessions_close(s);
	}
	eg_sess_pipe_min = pm;
	eg_store_close(st);
}

/* The column path (col.h) and the log path make the same sessions and
 * the same checkpoint files: runs in random steps, reopened now and then,
 * with kept checkpoints inside runs and column blocks of 50 events; and
 * the same sessions known at earlier times. */
extern uint32_t eg_colscan_block_events;
extern int eg_colsrc_off;

static void columns_and_log_make_the_same_checkpoints(void **state)
{
	tu_fx *f = *state;
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	for (int i = 0; i < NEV; i += 500)
		append_range(st, i, i + 500 < NEV ? i + 500 : NEV);
	uint64_t se = eg_sess_save_every, sm = eg_sess_save_min, pm = eg_sess_pipe_min;
	uint32_t block = eg_colscan_block_events;
	eg_sess_save_every = 97;
	eg_sess_save_min = 50;
	eg_colscan_block_events = 50;
	char sess[200];
	snprintf(sess, sizeof sess, "%s/idx/sess", f->dir);
	static const char *const types[] = { "page_view", "click" };
	eg_sess_opts opts[2] = { { 0 }, { .gap = 10 * 60 * 1000000LL, .types = types, .ntypes = 2 } };
	for (int k = 0; k < 2; k++) {
		uint64_t seed = rng_state;
		char *files[2];
		size_t len[2];
		text last[2], past[2];
		for (int off = 0; off < 2; off++) {
			rng_state = seed;
			eg_colsrc_off = off;
			eg_sessions *s;
			eg_sess_explain x;
			assert_int_equal(eg_sessions_open(st, &opts[k], 0, &s), EG_OK);
			for (uint64_t to = 0; to < NEV;) {
				to += 1 + rnd() % 1000;
				to = to > NEV ? NEV : to;
				eg_sess_pipe_min = rnd() % 2 ? 1 : pm;
				text t;
				scan(s, to, &t);
				free(t.buf);
				eg_sessions_get_explain(s, &x);
				if (x.path)
					assert_string_equal(x.path, off ? "log" : "columns");
				if (rnd() % 3 == 0) {
					eg_sessions_close(s);
					assert_int_equal(eg_sessions_open(st, &opts[k], 0, &s), EG_OK);
				}
			}
			scan(s, 0, &last[off]);
			scan(s, 1 + rnd() % NEV, &past[off]);
			eg_sessions_close(s);
			files[off] = tu_tree_text(sess, "lock", &len[off]);
			rm_rf(sess);
		}
		assert_true(len[0] > 0);
		assert_int_equal(len[0], len[1]);
		assert_memory_equal(files[0], files[1], len[0]);
		expect_equal(&last[0], &last[1], "columns and log");
		expect_equal(&past[0], &past[1], "columns and log, known at");
		free(files[0]), free(files[1]);
	}
	eg_colsrc_off = 0;
	eg_colscan_block_events = block;
	eg_sess_save_every = se, eg_sess_save_min = sm, eg_sess_pipe_min = pm;
	eg_store_close(st);
}

int main(void)
{
	generate();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sessions_equal_a_sorted_replay_after_every_batch,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(known_at_equals_the_sessions_of_the_prefix,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(types_select_the_events_that_make_sessions,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(a_late_event_closing_a_gap_merges_two_sessions,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(events_without_a_stream_make_sessions_of_the_empty_stream,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(columns_and_log_make_the_same_checkpoints,
						tu_setup, tu_teardown),
	};
	/* every test from the columns, then from the log */
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	eg_colsrc_off = 1;
	return failed + cmocka_run_group_tests(tests, NULL, NULL);
}

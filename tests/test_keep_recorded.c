/*
 * test_keep_recorded.c — history appended as it was recorded
 * (eg_batch_opts.keep_recorded): each line's "recorded" becomes its record
 * time; the four refusals name the field; each distinct value is a commit,
 * so eg_known_pos finds the log as it was at any record time; duplicates
 * are skipped before the order rules; and the run of commits is synced
 * once, every segment it rolled through included.
 */
#include "testutil.h"
#include "engram.h"
#include "os.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

typedef tu_fx fx;

static int setup(void **state)
{
	return tu_setup(state);
}

static int teardown(void **state)
{
	return tu_teardown(state);
}

static eg_store *open_w(const char *dir, uint64_t seg_bytes)
{
	return tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, seg_bytes);
}

static eg_batch *begin_keep(eg_store *st, int sync, uint64_t commit_every)
{
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1, .sync = sync, .keep_recorded = 1,
			    .commit_every = commit_every };
	int rc = eg_batch_begin(st, &b, &o);
	if (rc != EG_OK)
		fail_msg("begin: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return b;
}

static eg_append_result commit_ok(eg_store *st, eg_batch *b)
{
	eg_append_result r;
	int rc = eg_batch_commit(b, &r);
	if (rc != EG_OK)
		fail_msg("commit: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return r;
}

/* 2025-01-01T00:00:00Z plus m minutes, in microseconds. */
static int64_t minute(int m)
{
	return (1735689600LL + 60LL * m) * 1000000;
}

/* An event line with id, recorded at minute m (as RFC 3339). */
static void line_at(char *out, size_t n, const char *id, int m)
{
	snprintf(out, n, "{\"id\":\"%s\",\"type\":\"t\",\"time\":\"2024-12-31T00:00:00Z\","
		 "\"recorded\":\"2025-01-01T%02d:%02d:00Z\"}", id, m / 60, m % 60);
}

/* The record time of every event, by position (1-based; [0] unused). */
static size_t recorded_of(eg_store *st, int64_t *rec, size_t cap)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	const eg_event *e;
	size_t n = 0;
	while (eg_iter_next(it, &e) == EG_OK) {
		assert_true(e->pos < cap);
		rec[e->pos] = e->recorded;
		n++;
	}
	eg_iter_free(it);
	return n;
}

static void assert_refused(eg_store *st, int rc, const char *what)
{
	assert_int_equal(rc, EG_EINVAL);
	const char *msg = eg_errmsg(st);
	if (!strstr(msg, "\"recorded\"") || !strstr(msg, what))
		fail_msg("expected a message about \"recorded\" saying '%s', got: %s", what, msg);
}

/* ------------------------------------------------------------ refusals */

static void keep_recorded_refuses_a_line_without_recorded(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 0);
	assert_refused(st, tu_add(b, "{\"id\":\"a\",\"type\":\"t\"}"), "missing");
	eg_append_result r = commit_ok(st, b);
	assert_int_equal(r.appended, 0);
	eg_store_close(st);
}

static void keep_recorded_refuses_a_time_before_the_previous_line(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 0);
	char l[256];
	line_at(l, sizeof l, "a", 10);
	tu_add_ok(st, b, l);
	line_at(l, sizeof l, "a2", 10);
	tu_add_ok(st, b, l);
	line_at(l, sizeof l, "b", 9);
	assert_refused(st, tu_add(b, l), "line 2's");   /* the previous line */
	/* the refused line took nothing with it: the batch goes on */
	line_at(l, sizeof l, "c", 10);
	tu_add_ok(st, b, l);
	eg_append_result r = commit_ok(st, b);
	assert_int_equal(r.appended, 3);
	eg_store_close(st);
}

static void keep_recorded_refuses_a_time_before_the_store_head(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	const char *plain = "{\"id\":\"now\",\"type\":\"t\"}";
	tu_append(st, &plain, 1);   /* recorded now, after 2025-01-01 */
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 0);
	char l[256];
	line_at(l, sizeof l, "a", 10);
	assert_refused(st, tu_add(b, l), "store head");
	eg_batch_abort(b);
	eg_store_close(st);
}

static void keep_recorded_refuses_a_time_in_the_future(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 0);
	const char *l = "{\"id\":\"a\",\"type\":\"t\",\"recorded\":\"9999-01-01T00:00:00Z\"}";
	assert_refused(st, tu_add(b, l), "later than now");
	eg_batch_abort(b);
	eg_store_close(st);
}

static void keep_recorded_does_not_work_with_a_map(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_map *m = NULL;
	char err[256];
	const char *doc = "{\"type\":\"event\"}";
	assert_int_equal(eg_map_parse(doc, strlen(doc), &m, err, sizeof err), EG_OK);
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1, .keep_recorded = 1, .map = m };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_EINVAL);
	assert_null(b);
	assert_non_null(strstr(eg_errmsg(st), "map"));
	eg_map_free(m);
	eg_store_close(st);
}

/* ------------------------------------------------------------- commits */

static void keep_recorded_makes_each_distinct_recorded_a_commit(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_ALWAYS, 0);
	static const int mins[] = { 5, 5, 7, 9, 9, 9 };
	char l[256], id[16];
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof id, "e%d", i);
		line_at(l, sizeof l, id, mins[i]);
		tu_add_ok(st, b, l);
	}
	/* epoch milliseconds are read as "time" is: minute 11 */
	snprintf(l, sizeof l, "{\"id\":\"ms\",\"type\":\"t\",\"recorded\":%lld}",
		 (long long)(minute(11) / 1000));
	tu_add_ok(st, b, l);
	eg_append_result r = commit_ok(st, b);
	assert_int_equal(r.appended, 7);
	int64_t rec[16] = { 0 };
	assert_int_equal(recorded_of(st, rec, 16), 7);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rec[i + 1], minute(mins[i]));
	assert_int_equal(rec[7], minute(11));
	/* eg_known_pos: the log as known at each time is a prefix ending at
	 * the last event of a commit */
	static const struct { int64_t k; uint64_t pos; } known[] = {
		{ 0, 0 }, { 1, 2 }, { 2, 3 }, { 3, 6 }, { 4, 7 },
	};
	int64_t ks[] = { minute(5) - 1, minute(5), minute(8), minute(9), minute(12) };
	for (int i = 0; i < 5; i++) {
		uint64_t pos = 99;
		assert_int_equal(eg_known_pos(st, ks[known[i].k], &pos), EG_OK);
		assert_int_equal(pos, known[i].pos);
	}
	eg_store_close(st);
}

static void keep_recorded_works_with_the_bulk_path_and_commit_every(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 2);
	char text[4096], *p = text;
	static const int mins[] = { 1, 1, 1, 2, 3, 3, 3, 3 };
	for (int i = 0; i < 8; i++) {
		char id[16];
		snprintf(id, sizeof id, "b%d", i);
		line_at(p, sizeof text - (size_t)(p - text), id, mins[i]);
		p += strlen(p);
		*p++ = '\n';
	}
	uint64_t lines;
	assert_int_equal(eg_batch_add_ndjson(b, text, (size_t)(p - text), NULL, NULL, &lines),
			 EG_OK);
	assert_int_equal(lines, 8);
	commit_ok(st, b);
	int64_t rec[16] = { 0 };
	assert_int_equal(recorded_of(st, rec, 16), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(rec[i + 1], minute(mins[i]));
	eg_store_close(st);
}

static void keep_recorded_skips_duplicates_before_the_order_rules(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	char l[256];
	eg_batch *b = begin_keep(st, EG_SYNC_NONE, 0);
	line_at(l, sizeof l, "a", 1);
	tu_add_ok(st, b, l);
	line_at(l, sizeof l, "b", 2);
	tu_add_ok(st, b, l);
	commit_ok(st, b);
	/* a rerun of the same input with one more line: a and b are in, and
	 * recorded before the head, but skipped as duplicates */
	b = begin_keep(st, EG_SYNC_NONE, 0);
	line_at(l, sizeof l, "a", 1);
	assert_int_equal(tu_add(b, l), EG_EDUP);
	line_at(l, sizeof l, "b", 2);
	assert_int_equal(tu_add(b, l), EG_EDUP);
	line_at(l, sizeof l, "c", 3);
	tu_add_ok(st, b, l);
	eg_append_result r = commit_ok(st, b);
	assert_int_equal(r.appended, 1);
	assert_int_equal(r.duplicates, 2);
	int64_t rec[8] = { 0 };
	assert_int_equal(recorded_of(st, rec, 8), 3);
	assert_int_equal(rec[3], minute(3));
	eg_store_close(st);
}

static void keep_recorded_keeps_the_commits_before_a_bad_line(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 0);
	eg_batch *b = begin_keep(st, EG_SYNC_ALWAYS, 0);
	char l[256];
	line_at(l, sizeof l, "a", 1);
	tu_add_ok(st, b, l);
	line_at(l, sizeof l, "b", 2);
	tu_add_ok(st, b, l);
	line_at(l, sizeof l, "c", 0);
	assert_int_equal(tu_add(b, l), EG_EINVAL);
	eg_batch_abort(b);   /* the caller stops at the bad line */
	eg_store_close(st);
	/* a is committed (b's record time ended its commit); b was in the
	 * open commit and is gone */
	st = open_w(f->dir, 0);
	int64_t rec[8] = { 0 };
	assert_int_equal(recorded_of(st, rec, 8), 1);
	assert_int_equal(rec[1], minute(1));
	eg_store_close(st);
}

/* ---------------------------------------------------------- durability */

static eg_os_vtab saved;
static int nsync;
static char synced_segs[64][PATH_MAX];
static int nsynced_segs;

/* Count fdatasync calls and note each segment file synced. */
static int counting_fdatasync(int fd)
{
	nsync++;
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n > 4) {
		path[n] = 0;
		int seen = 0;
		for (int i = 0; i < nsynced_segs; i++)
			seen |= !strcmp(synced_segs[i], path);
		if (!seen && !strcmp(path + n - 4, ".seg") && nsynced_segs < 64)
			strcpy(synced_segs[nsynced_segs++], path);
	}
	return saved.fdatasync(fd);
}

static void keep_recorded_syncs_a_run_of_commits_once_with_every_segment(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir, 4096);   /* segments roll every few commits */
	eg_batch *b = begin_keep(st, EG_SYNC_ALWAYS, 0);
	saved = eg_os;
	nsync = nsynced_segs = 0;
	eg_os.fdatasync = counting_fdatasync;
	char l[256], id[16];
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof id, "s%d", i);
		line_at(l, sizeof l, id, i);
		tu_add_ok(st, b, l);
	}
	int during = nsync;
	eg_append_result r = commit_ok(st, b);
	eg_os = saved;
	assert_int_equal(r.appended, 200);
	/* none of the 199 commits before the last synced on its own */
	assert_int_equal(during, 0);
	eg_stats s;
	assert_int_equal(eg_store_stats(st, &s), EG_OK);
	assert_true(s.segments > 3);
	/* every segment was synced at the end, the earliest included */
	assert_int_equal((uint64_t)nsynced_segs, s.segments);
	assert_true(nsync < 2 * (int)s.segments + 10);
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(keep_recorded_refuses_a_line_without_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_refuses_a_time_before_the_previous_line, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_refuses_a_time_before_the_store_head, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_refuses_a_time_in_the_future, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_does_not_work_with_a_map, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_makes_each_distinct_recorded_a_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_works_with_the_bulk_path_and_commit_every, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_skips_duplicates_before_the_order_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_keeps_the_commits_before_a_bad_line, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_recorded_syncs_a_run_of_commits_once_with_every_segment, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

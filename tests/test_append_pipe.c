/*
 * test_append_pipe.c — the pipelined append as a specification: a bulk add
 * parses on one thread, adds on another and hashes and writes the log on a
 * third, and none of that shows.  Duplicates are found wherever their
 * first copy is (the same chunk of lines, an earlier chunk, a buffer the
 * writer thread holds, the file); the stored events are those a plain
 * line-by-line add stores; a batch that fails with buffers in flight, on a
 * bad line or on a failed write, leaves the log as it was.
 */
#include "testutil.h"
#include "engram.h"
#include "os.h"

#include <errno.h>
#include <stdatomic.h>

typedef tu_fx fx;

/* Lines of about 600 bytes, so that a few thousand fill several of the
 * log's 1 MiB buffers (the writer thread then has one in hand while the
 * next fills). */
#define PAD 500

/* The id of input line i (0-based): every 7th line repeats the id of line
 * i - 1 (the same chunk of 1024 lines), every 11th that of line i - 1500
 * (an earlier chunk, ~900 KB of log back: still in a buffer or just
 * written), every 13th that of line i / 50 (long in the file). */
static int id_of(int i)
{
	if (i % 7 == 3 && i >= 1)
		return id_of(i - 1);
	if (i % 11 == 5 && i >= 1500)
		return id_of(i - 1500);
	if (i % 13 == 9 && i >= 50)
		return id_of(i / 50);
	return i;
}

/* n lines of NDJSON (malloc'd, *len bytes); ids half UUIDs, half text;
 * line `bad` (if < n) is not JSON. */
static char *input(int n, int bad, size_t *len)
{
	size_t cap = (size_t)n * (PAD + 200);
	char *buf = malloc(cap), pad[PAD + 1];
	assert_non_null(buf);
	memset(pad, 'x', PAD);
	pad[PAD] = 0;
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		int id = id_of(i);
		char idtxt[64];
		if (id % 2)
			snprintf(idtxt, sizeof idtxt, "0000%04x-0000-4000-8000-%012x", id % 65536, id);
		else
			snprintf(idtxt, sizeof idtxt, "line-%d", id);
		int w = i == bad ? snprintf(buf + used, cap - used, "{\"id\":\"%s\",\"type\":\n", idtxt)
			: snprintf(buf + used, cap - used,
				   "{\"id\":\"%s\",\"stream\":\"s-%d\",\"type\":\"t%d\",\"time\":%d,"
				   "\"data\":{\"line\":%d,\"pad\":\"%s\"}}\n",
				   idtxt, i % 97, i % 5, 1700000000 + i, i, pad + (i % 300));
		assert_true(w > 0 && (size_t)w < cap - used);
		used += (size_t)w;
	}
	*len = used;
	return buf;
}

static eg_batch *begin(eg_store *st)
{
	eg_batch *b = NULL;
	eg_batch_opts o = { .sync = EG_SYNC_ALWAYS, .expect_version = -1 };
	if (eg_batch_begin(st, &b, &o) != EG_OK)
		fail_msg("begin: %s", eg_errmsg(st));
	return b;
}

/* The events of a store as text, one line each (pos, version, id, stream,
 * type, time, data), for comparing two stores. */
static char *dump(eg_store *st, size_t *count)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	size_t cap = 1 << 20, used = 0;
	char *out = malloc(cap);
	const eg_event *e;
	int rc;
	*count = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		size_t need = e->id_len + e->stream_len + e->type_len + e->data_len + 128;
		if (used + need > cap)
			assert_non_null(out = realloc(out, cap = 2 * cap + need));
		used += (size_t)snprintf(out + used, cap - used, "%llu %llu %.*s %.*s %.*s %lld %.*s\n",
					 (unsigned long long)e->pos, (unsigned long long)e->version,
					 (int)e->id_len, e->id, (int)e->stream_len, e->stream,
					 (int)e->type_len, e->type, (long long)e->time,
					 (int)e->data_len, e->data);
		++*count;
	}
	assert_int_equal(rc, EG_END);
	eg_iter_free(it);
	return out;
}

static void verify_ok(eg_store *st)
{
	eg_verify_result vr;
	int rc = eg_store_verify(st, &vr);
	if (rc != EG_OK)
		fail_msg("verify: %s: %s", eg_strerror(rc), eg_errmsg(st));
}

static void bulk_add_finds_duplicates_wherever_the_first_copy_is(void **state)
{
	fx *f = *state;
	enum { N = 6000 };
	size_t len;
	char *buf = input(N, N, &len);
	int unique = 0;
	for (int i = 0; i < N; i++)
		unique += id_of(i) == i;
	char bulk[128], plain[128];
	snprintf(bulk, sizeof bulk, "%s/bulk", f->dir);
	snprintf(plain, sizeof plain, "%s/plain", f->dir);

	/* In bulk: parsing thread, adding thread, writer thread. */
	eg_store *a = tu_open(bulk, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_batch *b = begin(a);
	uint64_t lines;
	assert_int_equal(eg_batch_add_ndjson(b, buf, len, NULL, NULL, &lines), EG_OK);
	assert_int_equal(lines, N);
	eg_append_result ra;
	assert_int_equal(eg_batch_commit(b, &ra), EG_OK);
	assert_int_equal(ra.appended, unique);
	assert_int_equal(ra.duplicates, N - unique);

	/* Line by line, in small segments (the batch rolls segments). */
	eg_store *p = tu_open(plain, EG_OPEN_WRITE | EG_OPEN_CREATE, 256 << 10);
	b = begin(p);
	int dups = 0;
	for (char *q = buf, *nl; q < buf + len; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(buf + len - q));
		int rc = eg_batch_add_json(b, q, (size_t)(nl - q));
		assert_true(rc == EG_OK || rc == EG_EDUP);
		dups += rc == EG_EDUP;
	}
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	assert_int_equal(dups, N - unique);

	/* The same events, each its first copy's. */
	size_t na, np;
	char *da = dump(a, &na), *dp = dump(p, &np);
	assert_int_equal(na, unique);
	assert_int_equal(np, unique);
	assert_string_equal(da, dp);
	verify_ok(a);
	verify_ok(p);
	free(da);
	free(dp);

	/* Again, after reopening: every line a duplicate now. */
	eg_store_close(a);
	a = tu_open(bulk, EG_OPEN_WRITE, 0);
	b = begin(a);
	assert_int_equal(eg_batch_add_ndjson(b, buf, len, NULL, NULL, &lines), EG_OK);
	assert_int_equal(eg_batch_commit(b, &ra), EG_OK);
	assert_int_equal(ra.appended, 0);
	assert_int_equal(ra.duplicates, N);
	eg_store_close(a);
	eg_store_close(p);
	free(buf);
}

/* The log's files and sizes, to see that a failed batch left none. */
static void log_shape(eg_store *st, eg_stats *s)
{
	assert_int_equal(eg_store_stats(st, s), EG_OK);
}

static void batch_failing_on_a_late_bad_line_with_buffers_in_flight_writes_nothing(void **state)
{
	fx *f = *state;
	enum { N = 8000, BAD = 7000 };
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *first = "{\"id\":\"first\",\"type\":\"t\"}";
	eg_batch *b = begin(st);
	tu_add_ok(st, b, first);
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	eg_stats s0, s1;
	log_shape(st, &s0);

	size_t len;
	char *buf = input(N, BAD, &len);
	b = begin(st);
	uint64_t lines;
	int rc = eg_batch_add_ndjson(b, buf, len, NULL, NULL, &lines);
	assert_int_equal(rc, EG_EINVAL);
	eg_batch_abort(b);
	log_shape(st, &s1);
	assert_int_equal(s1.events, 1);
	assert_int_equal(s1.log_bytes, s0.log_bytes);
	assert_int_equal(s1.segments, s0.segments);
	verify_ok(st);
	eg_store_close(st);

	/* Reopened, the store holds the first batch only and takes the lines
	 * before the bad one. */
	st = tu_open(f->dir, EG_OPEN_WRITE, 0);
	verify_ok(st);
	b = begin(st);
	char *cut = buf;
	for (int i = 0; i < BAD; i++)
		cut = memchr(cut, '\n', (size_t)(buf + len - cut)) + 1;
	assert_int_equal(eg_batch_add_ndjson(b, buf, (size_t)(cut - buf), NULL, NULL, &lines), EG_OK);
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	int unique = 0;
	for (int i = 0; i < BAD; i++)
		unique += id_of(i) == i;
	assert_int_equal(r.appended, unique);
	verify_ok(st);
	eg_store_close(st);
	free(buf);
}

/* pwrite that fails with ENOSPC from its fail_at-th call on (the writer
 * thread's calls included: the counter is atomic). */
static atomic_int pwrites, fail_at;

static ssize_t failing_pwrite(int fd, const void *p, size_t n, off_t off)
{
	if (atomic_fetch_add(&pwrites, 1) + 1 >= atomic_load(&fail_at)) {
		errno = ENOSPC;
		return -1;
	}
	return pwrite(fd, p, n, off);
}

static void failed_write_on_the_writer_thread_fails_the_batch_and_writes_nothing(void **state)
{
	fx *f = *state;
	enum { N = 6000 };
	size_t len;
	char *buf = input(N, N, &len);
	for (int k = 1; k <= 4; k++) {
		char dir[128];
		snprintf(dir, sizeof dir, "%s/s%d", f->dir, k);
		eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
		eg_batch *b = begin(st);
		tu_add_ok(st, b, "{\"id\":\"first\",\"type\":\"t\"}");
		assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
		eg_stats s0, s1;
		log_shape(st, &s0);

		/* The k-th write of the batch fails: most are the writer
		 * thread's, which the add learns of a buffer later (or the
		 * commit, of the last), one may be idx/ids growing. */
		atomic_store(&pwrites, 0);
		atomic_store(&fail_at, k);
		eg_os.pwrite = failing_pwrite;
		b = begin(st);
		uint64_t lines;
		int rc = eg_batch_add_ndjson(b, buf, len, NULL, NULL, &lines);
		if (rc == EG_OK)
			rc = eg_batch_commit(b, NULL);   /* learnt of at its flush */
		else
			eg_batch_abort(b);
		eg_os.pwrite = pwrite;
		assert_int_equal(rc, EG_EIO);
		assert_non_null(strstr(eg_errmsg(st), "No space left"));
		eg_store_close(st);

		st = tu_open(dir, EG_OPEN_WRITE, 0);
		log_shape(st, &s1);
		assert_int_equal(s1.events, 1);
		assert_int_equal(s1.log_bytes, s0.log_bytes);
		verify_ok(st);
		eg_store_close(st);
	}
	free(buf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(bulk_add_finds_duplicates_wherever_the_first_copy_is),
		T(batch_failing_on_a_late_bad_line_with_buffers_in_flight_writes_nothing),
		T(failed_write_on_the_writer_thread_fails_the_batch_and_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

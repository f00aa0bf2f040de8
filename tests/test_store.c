/*
 * test_store.c — the store as a whole, through the public API: opening a
 * missing store, creating one, the head of an empty log, statistics and the
 * stream/type listings, consumer checkpoints, read-only handles, and the
 * text of every error code.
 */
#include "testutil.h"
#include "engram.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture */

typedef tu_fx fx;   /* testutil.h: a fresh temp directory per test */

static const char *sub(fx *f, const char *rel)
{
	snprintf(f->path, sizeof f->path, "%s/%s", f->dir, rel);
	return f->path;
}

static eg_store *open_w(const char *dir)
{
	eg_store *st = NULL;
	int rc = eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL);
	if (rc != EG_OK)
		fail_msg("open for write: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return st;
}

static eg_store *open_r(const char *dir)
{
	eg_store *st = NULL;
	int rc = eg_store_open(&st, dir, EG_OPEN_READ, NULL);
	if (rc != EG_OK)
		fail_msg("open for read: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return st;
}

/* Append the NUL-terminated lines as one batch; every line must be added. */
static eg_append_result append(eg_store *st, const char *const *lines, size_t n)
{
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (size_t i = 0; i < n; i++) {
		int rc = eg_batch_add_json(b, lines[i], strlen(lines[i]));
		if (rc != EG_OK)
			fail_msg("line %zu: %s: %s", i, eg_strerror(rc), eg_errmsg(st));
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	return r;
}

static const char *const SAMPLE[] = {
	"{\"stream\":\"acct-2\",\"type\":\"opened\",\"time\":\"2025-01-01T10:00:00Z\"}",
	"{\"stream\":\"acct-1\",\"type\":\"opened\",\"time\":\"2025-01-01T09:00:00Z\"}",
	"{\"stream\":\"acct-1\",\"type\":\"deposit\",\"time\":\"2025-01-01T11:00:00Z\"}",
	"{\"stream\":\"acct-1\",\"type\":\"deposit\",\"time\":\"2025-01-01T12:00:00Z\"}",
	"{\"type\":\"heartbeat\",\"time\":\"2025-01-01T08:30:00Z\"}",
};
#define NSAMPLE (sizeof SAMPLE / sizeof *SAMPLE)
#define T_0830 1735720200000000LL   /* 2025-01-01T08:30:00Z in microseconds */
#define T_1200 1735732800000000LL   /* 2025-01-01T12:00:00Z */

static int is_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* -------------------------------------------------------------- open */

static void open_of_missing_store_for_reading_returns_enotfound(void **state)
{
	fx *f = *state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, sub(f, "nope"), EG_OPEN_READ, NULL), EG_ENOTFOUND);
	assert_non_null(st);   /* set on failure so the message can be read */
	assert_true(strlen(eg_errmsg(st)) > 0);
	eg_store_close(st);
}

static void open_of_missing_store_for_writing_without_create_returns_enotfound(void **state)
{
	fx *f = *state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, sub(f, "nope"), EG_OPEN_WRITE, NULL), EG_ENOTFOUND);
	assert_non_null(st);
	assert_true(strlen(eg_errmsg(st)) > 0);
	eg_store_close(st);
	struct stat sb;
	assert_int_not_equal(stat(sub(f, "nope"), &sb), 0);   /* nothing created */
}

static void open_of_empty_directory_is_not_a_store(void **state)
{
	fx *f = *state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, f->dir, EG_OPEN_READ, NULL), EG_ENOTFOUND);
	eg_store_close(st);
}

static void create_makes_a_store_that_opens_for_reading(void **state)
{
	fx *f = *state;
	const char *dir = sub(f, "new");
	char d[128];
	snprintf(d, sizeof d, "%s", dir);
	eg_store *st = open_w(d);
	eg_store_close(st);
	st = open_r(d);
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 0);
	eg_store_close(st);
}

static void close_and_abort_accept_null(void **state)
{
	(void)state;
	eg_store_close(NULL);
	eg_batch_abort(NULL);
}

/* -------------------------------------------------------------- head */

static void head_of_empty_store_is_pos_zero_and_zero_hash(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_head h;
	memset(&h, 0xaa, sizeof h);
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 0);
	assert_true(is_zero(h.hash, 32));
	eg_store_close(st);

	st = open_r(f->dir);
	memset(&h, 0xaa, sizeof h);
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 0);
	assert_true(is_zero(h.hash, 32));
	eg_store_close(st);
}

static void head_after_append_matches_result_and_survives_reopen(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_append_result r = append(st, SAMPLE, NSAMPLE);
	assert_int_equal(r.appended, NSAMPLE);
	assert_int_equal(r.first_pos, 1);
	assert_int_equal(r.last_pos, NSAMPLE);
	assert_int_equal(r.head.pos, NSAMPLE);
	assert_false(is_zero(r.head.hash, 32));
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, NSAMPLE);
	assert_memory_equal(h.hash, r.head.hash, 32);
	eg_store_close(st);

	st = open_r(f->dir);
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, NSAMPLE);
	assert_memory_equal(h.hash, r.head.hash, 32);
	eg_verify_result v;
	assert_int_equal(eg_store_verify(st, &v), EG_OK);
	assert_int_equal(v.events, NSAMPLE);
	assert_int_equal(v.head_pos, NSAMPLE);
	assert_memory_equal(v.hash, r.head.hash, 32);
	eg_store_close(st);
}

static void each_batch_changes_the_head_hash(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_append_result a = append(st, SAMPLE, 1);
	eg_append_result b = append(st, SAMPLE + 1, 1);
	assert_int_equal(b.head.pos, 2);
	assert_memory_not_equal(a.head.hash, b.head.hash, 32);
	eg_store_close(st);
}

static void reader_head_sees_batches_committed_after_it_opened(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append(w, SAMPLE, 2);
	eg_store *r = open_r(f->dir);
	eg_head h;
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 2);
	eg_append_result res = append(w, SAMPLE + 2, 3);
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 5);
	assert_memory_equal(h.hash, res.head.hash, 32);
	eg_store_close(r);
	eg_store_close(w);
}

/* A reader that mapped the log while a record was half written sees the
 * batch once its writing ends (the file grew past the old mapping). */
static void reader_head_sees_a_batch_it_first_saw_half_written(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	append(w, SAMPLE, 2);
	const char *seg = sub(f, "log/00000000000000000001.seg");
	struct stat sb;
	assert_int_equal(stat(seg, &sb), 0);
	off_t one = sb.st_size;
	eg_append_result res = append(w, SAMPLE + 2, 3);
	eg_store_close(w);
	assert_int_equal(stat(seg, &sb), 0);
	size_t n = (size_t)(sb.st_size - one), half = n / 2;
	unsigned char *rest = malloc(n);
	int fd = open(seg, O_RDWR);
	assert_true(fd >= 0 && rest);
	assert_int_equal(pread(fd, rest, n, one), (ssize_t)n);
	assert_int_equal(ftruncate(fd, one + (off_t)half), 0);
	eg_store *r = open_r(f->dir);
	eg_head h;
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 2);
	assert_int_equal(pwrite(fd, rest + half, n - half, one + (off_t)half), (ssize_t)(n - half));
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 5);
	assert_memory_equal(h.hash, res.head.hash, 32);
	eg_store_close(r);
	close(fd);
	free(rest);
}

static void reader_opened_on_an_empty_store_sees_later_batches(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	eg_store *r = open_r(f->dir);
	eg_head h;
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 0);
	eg_append_result res = append(w, SAMPLE, 2);
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 2);
	assert_memory_equal(h.hash, res.head.hash, 32);
	eg_store_close(r);
	eg_store_close(w);
}

static void reader_sees_batches_in_segments_created_after_it_opened(void **state)
{
	fx *f = *state;
	eg_store *w = NULL;
	eg_open_opts o = { .segment_bytes = 4096 };
	assert_int_equal(eg_store_open(&w, f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, &o), EG_OK);
	append(w, SAMPLE, NSAMPLE);
	eg_store *r = open_r(f->dir);
	eg_stats s0;
	assert_int_equal(eg_store_stats(w, &s0), EG_OK);
	/* Enough batches to roll into several new segment files. */
	for (int i = 0; i < 20; i++)
		append(w, SAMPLE, NSAMPLE);
	eg_stats s1;
	assert_int_equal(eg_store_stats(w, &s1), EG_OK);
	assert_true(s1.segments > s0.segments);
	eg_head h;
	assert_int_equal(eg_store_head(r, &h), EG_OK);
	assert_int_equal(h.pos, 21 * NSAMPLE);
	eg_store_close(r);
	eg_store_close(w);
}

static void hash_hex_writes_64_lowercase_digits(void **state)
{
	(void)state;
	unsigned char h[32];
	for (int i = 0; i < 32; i++)
		h[i] = (unsigned char)(i * 8 + 0x0f);
	char out[65];
	memset(out, 'x', sizeof out);
	eg_hash_hex(h, out);
	assert_string_equal(out, "0f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff07");
}

/* ------------------------------------------------------------- stats */

static void stats_of_empty_store_are_zero(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_stats s;
	memset(&s, 0xaa, sizeof s);
	assert_int_equal(eg_store_stats(st, &s), EG_OK);
	assert_int_equal(s.events, 0);
	assert_int_equal(s.streams, 0);
	assert_int_equal(s.types, 0);
	assert_int_equal(s.time_min, 0);
	assert_int_equal(s.time_max, 0);
	assert_int_equal(s.recorded_min, 0);
	assert_int_equal(s.recorded_max, 0);
	eg_store_close(st);
}

static void stats_count_events_streams_types_and_time_ranges(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_append_result r1 = append(st, SAMPLE, 3);
	eg_append_result r2 = append(st, SAMPLE + 3, 2);
	(void)r1; (void)r2;
	eg_stats s;
	assert_int_equal(eg_store_stats(st, &s), EG_OK);
	assert_int_equal(s.events, 5);
	assert_int_equal(s.streams, 2);    /* acct-1, acct-2; the empty stream is none */
	assert_int_equal(s.types, 3);      /* opened, deposit, heartbeat */
	assert_int_equal(s.segments, 1);
	assert_true(s.log_bytes > 0);
	assert_int_equal(s.total_bytes, s.log_bytes + s.index_bytes);
	assert_int_equal(s.time_min, T_0830);
	assert_int_equal(s.time_max, T_1200);
	assert_true(s.recorded_min > 0);
	assert_true(s.recorded_min <= s.recorded_max);
	eg_store_close(st);

	/* A reader sees the same figures. */
	st = open_r(f->dir);
	eg_stats t;
	assert_int_equal(eg_store_stats(st, &t), EG_OK);
	assert_int_equal(t.events, 5);
	assert_int_equal(t.streams, 2);
	assert_int_equal(t.types, 3);
	assert_int_equal(t.time_min, T_0830);
	assert_int_equal(t.time_max, T_1200);
	assert_int_equal(t.recorded_min, s.recorded_min);
	assert_int_equal(t.recorded_max, s.recorded_max);
	eg_store_close(st);
}

typedef struct keyrows {
	char names[16][32];
	uint64_t count[16], version[16];
	int n, stop_after;
} keyrows;

static int collect_key(void *ctx, const char *name, size_t len, uint64_t count,
		       uint64_t version)
{
	keyrows *k = ctx;
	assert_true(k->n < 16 && len < 32);
	memcpy(k->names[k->n], name, len);
	k->names[k->n][len] = 0;
	k->count[k->n] = count;
	k->version[k->n] = version;
	k->n++;
	return k->stop_after && k->n >= k->stop_after ? 42 : 0;
}

static void stats_leave_bytes_after_the_last_commit_out_of_log_bytes(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, NSAMPLE);
	eg_stats s0;
	assert_int_equal(eg_store_stats(st, &s0), EG_OK);
	eg_store_close(st);
	assert_int_equal(s0.uncommitted_bytes, 0);
	assert_int_equal(s0.derived_bytes, s0.index_bytes);  /* no projection yet */

	/* What a writer killed inside a batch leaves: bytes with no commit. */
	FILE *seg = fopen(sub(f, "log/00000000000000000001.seg"), "ab");
	assert_non_null(seg);
	static const char torn[1000];
	assert_int_equal(fwrite(torn, 1, sizeof torn, seg), sizeof torn);
	fclose(seg);

	st = open_r(f->dir);
	eg_stats s1;
	assert_int_equal(eg_store_stats(st, &s1), EG_OK);
	eg_store_close(st);
	assert_int_equal(s1.log_bytes, s0.log_bytes);
	assert_int_equal(s1.uncommitted_bytes, sizeof torn);
	assert_int_equal(s1.total_bytes, s1.log_bytes + s1.derived_bytes);
}

static void keys_list_streams_in_name_order_with_count_and_version(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, NSAMPLE);
	keyrows k = { 0 };
	assert_int_equal(eg_store_keys(st, EG_KEYS_STREAMS, collect_key, &k), EG_OK);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.names[0], "acct-1");
	assert_int_equal(k.count[0], 3);
	assert_int_equal(k.version[0], 3);
	assert_string_equal(k.names[1], "acct-2");
	assert_int_equal(k.count[1], 1);
	assert_int_equal(k.version[1], 1);
	eg_store_close(st);
}

static void keys_list_types_in_name_order_with_version_zero(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, NSAMPLE);
	eg_store_close(st);
	st = open_r(f->dir);
	keyrows k = { 0 };
	assert_int_equal(eg_store_keys(st, EG_KEYS_TYPES, collect_key, &k), EG_OK);
	assert_int_equal(k.n, 3);
	assert_string_equal(k.names[0], "deposit");
	assert_int_equal(k.count[0], 2);
	assert_string_equal(k.names[1], "heartbeat");
	assert_int_equal(k.count[1], 1);
	assert_string_equal(k.names[2], "opened");
	assert_int_equal(k.count[2], 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(k.version[i], 0);
	eg_store_close(st);
}

static void key_looks_up_one_stream_or_type_with_its_count(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, NSAMPLE);
	eg_store_close(st);
	st = open_r(f->dir);
	uint64_t n = 0;
	assert_int_equal(eg_store_key(st, EG_KEYS_TYPES, "opened", 6, &n), EG_OK);
	assert_int_equal(n, 2);
	assert_int_equal(eg_store_key(st, EG_KEYS_STREAMS, "acct-1", 6, &n), EG_OK);
	assert_int_equal(n, 3);
	assert_int_equal(eg_store_key(st, EG_KEYS_TYPES, "acct-1", 6, &n), EG_ENOTFOUND);
	assert_int_equal(eg_store_key(st, EG_KEYS_STREAMS, "opened", 6, &n), EG_ENOTFOUND);
	assert_int_equal(eg_store_key(st, EG_KEYS_TYPES, "opene", 5, &n), EG_ENOTFOUND);
	eg_store_close(st);
}

static void keys_stop_when_callback_returns_nonzero_and_pass_its_value(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, NSAMPLE);
	keyrows k = { .stop_after = 1 };
	assert_int_equal(eg_store_keys(st, EG_KEYS_TYPES, collect_key, &k), 42);
	assert_int_equal(k.n, 1);
	eg_store_close(st);
}

/* --------------------------------------------------------- read-only */

static void read_only_store_refuses_batches_with_ereadonly(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_store_close(st);
	st = open_r(f->dir);
	eg_batch *b = (eg_batch *)&b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_EREADONLY);
	assert_null(b);
	assert_true(strlen(eg_errmsg(st)) > 0);
	eg_store_close(st);
}

static void read_only_store_refuses_reindex_with_ereadonly(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append(st, SAMPLE, 1);
	eg_store_close(st);
	st = open_r(f->dir);
	assert_int_equal(eg_store_reindex(st), EG_EREADONLY);
	eg_store_close(st);
}

/* --------------------------------------------------------- consumers */

static void consumer_that_never_ran_is_at_zero(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	uint64_t pos = 99;
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 0);
	eg_store_close(st);
}

static void consumer_set_then_get_returns_checkpoint_across_reopen(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	assert_int_equal(eg_consumer_set(st, "billing", 17), EG_OK);
	uint64_t pos = 0;
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 17);
	assert_int_equal(eg_consumer_set(st, "billing", 18), EG_OK);
	eg_store_close(st);
	st = open_r(f->dir);
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 18);
	eg_store_close(st);
}

static void consumer_set_works_on_a_store_opened_for_reading(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	eg_store *r = open_r(f->dir);
	assert_int_equal(eg_consumer_set(r, "mailer", UINT64_MAX - 1), EG_OK);
	uint64_t pos = 0;
	assert_int_equal(eg_consumer_get(w, "mailer", &pos), EG_OK);
	assert_int_equal(pos, UINT64_MAX - 1);
	eg_store_close(r);
	eg_store_close(w);
}

static void consumer_delete_removes_it_and_refuses_an_unknown_name(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	assert_int_equal(eg_consumer_set(st, "billing", 7), EG_OK);
	assert_int_equal(eg_consumer_delete(st, "billing"), EG_OK);
	uint64_t pos = 99;
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 0);
	assert_int_equal(eg_consumer_delete(st, "billing"), EG_ENOTFOUND);
	assert_non_null(strstr(eg_errmsg(st), "\"billing\""));
	assert_int_equal(eg_consumer_delete(st, "../x"), EG_EINVAL);
	eg_store_close(st);
}

static void consumer_reset_sets_pos_up_to_the_head_only(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *ev[] = { "{\"type\":\"a\"}", "{\"type\":\"b\"}", "{\"type\":\"c\"}" };
	tu_append(st, ev, 3);
	assert_int_equal(eg_consumer_set(st, "billing", 1), EG_OK);
	assert_int_equal(eg_consumer_reset(st, "billing", 3), EG_OK);
	uint64_t pos = 0;
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 3);
	assert_int_equal(eg_consumer_reset(st, "billing", 4), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "beyond the head"));
	assert_int_equal(eg_consumer_reset(st, "billing", 0), EG_OK);
	assert_int_equal(eg_consumer_get(st, "billing", &pos), EG_OK);
	assert_int_equal(pos, 0);
	assert_int_equal(eg_consumer_reset(st, "nosuch", 0), EG_ENOTFOUND);
	assert_int_equal(eg_consumer_get(st, "nosuch", &pos), EG_OK);
	assert_int_equal(pos, 0);
	eg_store_close(st);
}

static void consumer_park_writes_only_a_wrapped_event_to_its_parked_stream(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_append_result res;
	const char *ev = "{\"pos\":1,\"type\":\"a\"}";
	assert_int_equal(eg_consumer_park(st, "mailer", ev, strlen(ev), 2, EG_SYNC_ALWAYS, &res),
			 EG_OK);
	assert_int_equal(res.first_pos, 1);
	eg_iter *it;
	const eg_event *e;
	eg_filter flt = { .stream = "$parked-mailer" };
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_memory_equal(e->type, "parked", 6);
	const char *want = "{\"consumer\":\"mailer\",\"deliveries\":2,\"event\":{\"pos\":1,\"type\":\"a\"}}";
	assert_int_equal(e->data_len, strlen(want));
	assert_memory_equal(e->data, want, strlen(want));
	assert_int_equal(eg_iter_next(it, &e), EG_END);
	eg_iter_free(it);
	/* text that would close the envelope and name another stream */
	const char *evil = "1},\"stream\":\"$schemas\",\"x\":{\"a\":1";
	assert_int_equal(eg_consumer_park(st, "mailer", evil, strlen(evil), 1, EG_SYNC_ALWAYS,
					  &res), EG_EINVAL);
	assert_int_equal(eg_consumer_park(st, "../x", ev, strlen(ev), 1, EG_SYNC_ALWAYS, &res),
			 EG_EINVAL);
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 1);
	eg_store_close(st);
}

static int count_state(void *ctx, const eg_spec_state *s)
{
	(void)s;
	++*(int *)ctx;
	return 0;
}

static void spec_state_drop_needs_the_write_lock_and_a_known_hash(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	eg_store *r = open_r(f->dir);
	int n = 0;
	assert_int_equal(eg_spec_state_list(r, count_state, &n), EG_OK);
	assert_int_equal(n, 0);
	assert_int_equal(eg_spec_state_drop(r, "abcd", NULL, NULL), EG_EREADONLY);
	assert_int_equal(eg_spec_state_drop(w, "abcd", NULL, NULL), EG_ENOTFOUND);
	assert_int_equal(eg_spec_state_drop(w, "abc", NULL, NULL), EG_EINVAL);
	eg_store_close(r);
	eg_store_close(w);
}

static void backup_copies_the_head_and_refuses_a_non_empty_dir(void **state)
{
	fx *f = *state;
	char dst[128];
	snprintf(dst, sizeof dst, "%s/copy", f->dir);
	snprintf(f->path, sizeof f->path, "%s/store", f->dir);
	eg_store *st = tu_open(f->path, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *ev[] = { "{\"type\":\"a\"}", "{\"type\":\"b\"}" };
	tu_append(st, ev, 2);
	assert_int_equal(eg_consumer_set(st, "billing", 1), EG_OK);
	eg_backup_result b;
	assert_int_equal(eg_store_backup(st, dst, &b), EG_OK);
	assert_int_equal(b.head.pos, 2);
	assert_int_equal(b.consumers, 1);
	eg_head h;
	eg_store *cp = tu_open(dst, EG_OPEN_READ, 0);
	assert_int_equal(eg_store_head(cp, &h), EG_OK);
	assert_int_equal(h.pos, 2);
	assert_memory_equal(h.hash, b.head.hash, 32);
	uint64_t pos = 0;
	assert_int_equal(eg_consumer_get(cp, "billing", &pos), EG_OK);
	assert_int_equal(pos, 1);
	eg_store_close(cp);
	assert_int_equal(eg_store_backup(st, dst, &b), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "not empty"));
	eg_store_close(st);
}

typedef struct clist {
	char names[8][80];
	uint64_t pos[8];
	int n;
} clist;

static int collect_consumer(void *ctx, const char *name, uint64_t pos)
{
	clist *c = ctx;
	assert_true(c->n < 8);
	snprintf(c->names[c->n], sizeof c->names[c->n], "%s", name);
	c->pos[c->n++] = pos;
	return 0;
}

static void consumer_list_is_in_name_order(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	clist c = { 0 };
	assert_int_equal(eg_consumer_list(st, collect_consumer, &c), EG_OK);
	assert_int_equal(c.n, 0);   /* none yet */
	assert_int_equal(eg_consumer_set(st, "zeta", 3), EG_OK);
	assert_int_equal(eg_consumer_set(st, "Alpha", 1), EG_OK);
	assert_int_equal(eg_consumer_set(st, "beta.v2_x-1", 2), EG_OK);
	assert_int_equal(eg_consumer_list(st, collect_consumer, &c), EG_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.names[0], "Alpha");
	assert_int_equal(c.pos[0], 1);
	assert_string_equal(c.names[1], "beta.v2_x-1");
	assert_int_equal(c.pos[1], 2);
	assert_string_equal(c.names[2], "zeta");
	assert_int_equal(c.pos[2], 3);
	eg_store_close(st);
}

static void consumer_name_of_64_bytes_is_accepted(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	char name[65];
	memset(name, 'n', 64);
	name[64] = 0;
	assert_int_equal(eg_consumer_set(st, name, 5), EG_OK);
	uint64_t pos = 0;
	assert_int_equal(eg_consumer_get(st, name, &pos), EG_OK);
	assert_int_equal(pos, 5);
	eg_store_close(st);
}

static void consumer_invalid_names_are_rejected_with_einval(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	char longname[66];
	memset(longname, 'n', 65);
	longname[65] = 0;
	const char *bad[] = { "", longname, "a/b", "a b", "../x", "caf\xc3\xa9",
			      "semi;colon", "tab\t", "star*" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		uint64_t pos = 7;
		if (eg_consumer_set(st, bad[i], 1) != EG_EINVAL)
			fail_msg("set accepted bad name \"%s\"", bad[i]);
		assert_true(strlen(eg_errmsg(st)) > 0);
		if (eg_consumer_get(st, bad[i], &pos) != EG_EINVAL)
			fail_msg("get accepted bad name \"%s\"", bad[i]);
	}
	/* Nothing was written under any of those names. */
	clist c = { 0 };
	assert_int_equal(eg_consumer_list(st, collect_consumer, &c), EG_OK);
	assert_int_equal(c.n, 0);
	eg_store_close(st);
}

/* ------------------------------------------------------------ errors */

static void strerror_describes_every_code_distinctly(void **state)
{
	(void)state;
	static const int codes[] = { EG_OK, EG_END, EG_EINVAL, EG_ENOMEM, EG_EIO,
				     EG_ECORRUPT, EG_ECONFLICT, EG_ELOCKED, EG_ENOTFOUND,
				     EG_EDUP, EG_EREADONLY };
	size_t n = sizeof codes / sizeof *codes;
	const char *unknown = eg_strerror(12345);
	assert_non_null(unknown);
	for (size_t i = 0; i < n; i++) {
		const char *s = eg_strerror(codes[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		if (strcmp(s, unknown) == 0)
			fail_msg("code %d has no description of its own", codes[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s, eg_strerror(codes[j])) == 0)
				fail_msg("codes %d and %d share \"%s\"", codes[i], codes[j], s);
	}
	assert_true(strlen(eg_strerror(-999)) > 0);
}

static void errmsg_is_empty_on_a_fresh_store(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	assert_string_equal(eg_errmsg(st), "");
	eg_store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(open_of_missing_store_for_reading_returns_enotfound),
		T(open_of_missing_store_for_writing_without_create_returns_enotfound),
		T(open_of_empty_directory_is_not_a_store),
		T(create_makes_a_store_that_opens_for_reading),
		T(close_and_abort_accept_null),
		T(head_of_empty_store_is_pos_zero_and_zero_hash),
		T(head_after_append_matches_result_and_survives_reopen),
		T(each_batch_changes_the_head_hash),
		T(reader_head_sees_batches_committed_after_it_opened),
		T(reader_head_sees_a_batch_it_first_saw_half_written),
		T(reader_opened_on_an_empty_store_sees_later_batches),
		T(reader_sees_batches_in_segments_created_after_it_opened),
		T(hash_hex_writes_64_lowercase_digits),
		T(stats_of_empty_store_are_zero),
		T(stats_count_events_streams_types_and_time_ranges),
		T(stats_leave_bytes_after_the_last_commit_out_of_log_bytes),
		T(keys_list_streams_in_name_order_with_count_and_version),
		T(keys_list_types_in_name_order_with_version_zero),
		T(keys_stop_when_callback_returns_nonzero_and_pass_its_value),
		T(key_looks_up_one_stream_or_type_with_its_count),
		T(read_only_store_refuses_batches_with_ereadonly),
		T(read_only_store_refuses_reindex_with_ereadonly),
		T(consumer_that_never_ran_is_at_zero),
		T(consumer_set_then_get_returns_checkpoint_across_reopen),
		T(consumer_set_works_on_a_store_opened_for_reading),
		T(consumer_list_is_in_name_order),
		T(consumer_delete_removes_it_and_refuses_an_unknown_name),
		T(consumer_reset_sets_pos_up_to_the_head_only),
		T(consumer_park_writes_only_a_wrapped_event_to_its_parked_stream),
		T(spec_state_drop_needs_the_write_lock_and_a_known_hash),
		T(backup_copies_the_head_and_refuses_a_non_empty_dir),
		T(consumer_name_of_64_bytes_is_accepted),
		T(consumer_invalid_names_are_rejected_with_einval),
		T(strerror_describes_every_code_distinctly),
		T(errmsg_is_empty_on_a_fresh_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_append.c — atomic batches as a specification: what goes in comes
 * back field by field, duplicates are reported and counted, expected
 * versions guard a stream, every bad envelope is refused by name and leaves
 * nothing behind, aborted batches vanish, commit_every splits a batch, and
 * the store's two clocks behave (time defaults to recorded, recorded never
 * decreases, missing ids become UUIDv7s).
 */
#include "testutil.h"
#include "engram.h"

#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture */

typedef tu_fx fx;   /* testutil.h: a fresh temp directory per test */

static eg_store *open_opts(const char *dir, int flags, uint64_t seg_bytes)
{
	return tu_open(dir, flags, seg_bytes);
}

static eg_store *open_w(const char *dir)
{
	return open_opts(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
}

static eg_store *open_r(const char *dir)
{
	return open_opts(dir, EG_OPEN_READ, 0);
}

static eg_batch *begin(eg_store *st)
{
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1 };
	int rc = eg_batch_begin(st, &b, &o);
	if (rc != EG_OK)
		fail_msg("begin: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return b;
}

static eg_append_result commit(eg_store *st, eg_batch *b)
{
	eg_append_result r;
	memset(&r, 0xaa, sizeof r);
	int rc = eg_batch_commit(b, &r);
	if (rc != EG_OK)
		fail_msg("commit: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return r;
}

/* One batch of the given lines, all of which must be added. */
static eg_append_result append(eg_store *st, const char *const *lines, size_t n)
{
	eg_batch *b = begin(st);
	for (size_t i = 0; i < n; i++)
		tu_add_ok(st, b, lines[i]);
	return commit(st, b);
}

static uint64_t head_pos(eg_store *st)
{
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	return h.pos;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A copy of the fields of an event that the tests compare. */
typedef struct evc {
	uint64_t pos, version;
	int64_t time, recorded;
	int kind;
	char id[80], stream[64], type[64], data[256];
} evc;

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	assert_true(n < cap);
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* Every event of the store, in log order, into a malloc'd array. */
static size_t read_all(eg_store *st, evc **out)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	size_t n = 0, cap = 16;
	evc *v = malloc(cap * sizeof *v);
	const eg_event *e;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		assert_non_null(v);
		evc *c = &v[n++];
		c->pos = e->pos;
		c->version = e->version;
		c->time = e->time;
		c->recorded = e->recorded;
		c->kind = e->kind;
		copy_str(c->id, sizeof c->id, e->id, e->id_len);
		copy_str(c->stream, sizeof c->stream, e->stream, e->stream_len);
		copy_str(c->type, sizeof c->type, e->type, e->type_len);
		copy_str(c->data, sizeof c->data, e->data, e->data_len);
	}
	assert_int_equal(rc, EG_END);
	eg_iter_free(it);
	*out = v;
	return n;
}

static void assert_dense(const evc *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pos != i + 1)
			fail_msg("event %zu has pos %llu", i, (unsigned long long)v[i].pos);
}

/* ----------------------------------------------- 100k field round trip */

#define BIG_N 100000
#define BASE_US 1735725600000000LL   /* 2025-01-01T10:00:00Z */
static const char *const TYPES[] = { "page_view", "click", "purchase", "signup", "err" };

/* The time of event i as the store should read it back, and as input. */
static int64_t big_time(int i, char *in, size_t cap)
{
	int64_t t = BASE_US + (int64_t)i * 1000003 + (i % 7) * 123;
	int form = i % 4;
	int off_min = form == 1 ? 330 : form == 3 ? -480 : 0;   /* +05:30, -08:00 */
	if (form == 1)
		t -= t % 1000;
	else if (form == 2)
		t -= t % 1000;
	else if (form == 3)
		t -= t % 1000000;
	if (form == 2) {
		snprintf(in, cap, "%lld", (long long)(t / 1000));
		return t;
	}
	time_t local = (time_t)(t / 1000000 + off_min * 60);
	struct tm tm;
	gmtime_r(&local, &tm);
	char date[32], frac[16] = "", off[16] = "Z";
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	if (form == 0)
		snprintf(frac, sizeof frac, ".%06lld", (long long)(t % 1000000));
	else if (form == 1)
		snprintf(frac, sizeof frac, ".%03lld", (long long)(t % 1000000 / 1000));
	if (off_min)
		snprintf(off, sizeof off, "%c%02d:%02d", off_min < 0 ? '-' : '+',
			 abs(off_min) / 60, abs(off_min) % 60);
	snprintf(in, cap, "\"%s%s%s\"", date, frac, off);
	return t;
}

static void big_id(int i, char *out, size_t cap)
{
	if (i % 3 == 0)          /* canonical lowercase UUID: stored binary */
		snprintf(out, cap, "0190a1b2-c3d4-7e5f-8a9b-%012x", i);
	else if (i % 7 == 0)     /* uppercase UUID: must come back as given */
		snprintf(out, cap, "0190A1B2-C3D4-7E5F-8A9B-%012X", i);
	else
		snprintf(out, cap, "evt-%d", i);
}

static void big_stream(int i, char *out, size_t cap)
{
	if (i % 13 == 0)
		out[0] = 0;
	else
		snprintf(out, cap, "s-%d", i % 97);
}

/* The kind of event i: event (given or not), metric or error; a metric
 * needs a data.value and an error a data.message, which events without
 * data (i % 10 == 9) have not. */
static int big_kind(int i)
{
	return i % 10 == 9 && (i % 4 == 1 || i % 4 == 2) ? 0 : i % 4;
}

/* Input line of event i (fields in varying order, data with whitespace). */
static size_t big_line(int i, char *line, size_t cap)
{
	char id[64], stream[32], t[64];
	big_id(i, id, sizeof id);
	big_stream(i, stream, sizeof stream);
	big_time(i, t, sizeof t);
	static const char *const kinds[] = { "", ",\"kind\":\"metric\"", ",\"kind\":\"error\"",
					     ",\"kind\":\"event\"" };
	int n = snprintf(line, cap, "{\"type\":\"%s\",\"id\":\"%s\"%s,\"time\":%s",
			 TYPES[i % 5], id, kinds[big_kind(i)], t);
	if (stream[0])
		n += snprintf(line + n, cap - n, ",\"stream\" : \"%s\"", stream);
	if (i % 2 == 0)
		n += snprintf(line + n, cap - n, ",\"actor\":\"user-%d\"", i % 1000);
	if (i % 3 == 0)
		n += snprintf(line + n, cap - n, ",\"session\":\"sess-%d\"", i / 10);
	if (i % 10 != 9)
		n += snprintf(line + n, cap - n,
			      ", \"data\": { \"n\" : %d , \"value\": 2.5, \"message\": \"m\", \"price\": 1.50e3, "
			      "\"s\": \"a\\u00e9\\\"b c\", \"arr\" : [ 1, 2 , {\"x\": null} ], "
			      "\"neg\": -0.0, \"t\": true }", i);
	if (i % 6 == 0)
		n += snprintf(line + n, cap - n, ",\"meta\":{ \"trace\" : \"t-%d\" }", i);
	n += snprintf(line + n, cap - n, "}");
	assert_true((size_t)n < cap);
	return (size_t)n;
}

static void big_check(int i, const eg_event *e, const uint64_t *ver, int64_t rec_lo,
		      int64_t rec_hi)
{
	char id[64], stream[32], t[64], buf[512];
	big_id(i, id, sizeof id);
	big_stream(i, stream, sizeof stream);
	int64_t time = big_time(i, t, sizeof t);
#define STR_EQ(field, want) do { \
		size_t wl = strlen(want); \
		if (e->field##_len != wl || memcmp(e->field, want, wl)) \
			fail_msg("event %d: " #field " is \"%.*s\", expected \"%s\"", i, \
				 (int)e->field##_len, e->field, want); \
	} while (0)
	if (e->pos != (uint64_t)i + 1)
		fail_msg("event %d: pos %llu", i, (unsigned long long)e->pos);
	STR_EQ(id, id);
	STR_EQ(stream, stream);
	STR_EQ(type, TYPES[i % 5]);
	if (stream[0] && e->version != ver[i % 97])
		fail_msg("event %d: version %llu, expected %llu", i,
			 (unsigned long long)e->version, (unsigned long long)ver[i % 97]);
	if (e->time != time)
		fail_msg("event %d: time %lld, expected %lld (input %s)", i,
			 (long long)e->time, (long long)time, t);
	if (e->recorded < rec_lo || e->recorded > rec_hi)
		fail_msg("event %d: recorded %lld outside the commit", i, (long long)e->recorded);
	static const int kind[] = { EG_KIND_EVENT, EG_KIND_METRIC, EG_KIND_ERROR, EG_KIND_EVENT };
	assert_int_equal(e->kind, kind[big_kind(i)]);
	if (i % 2 == 0) {
		snprintf(buf, sizeof buf, "user-%d", i % 1000);
		STR_EQ(actor, buf);
	} else {
		assert_int_equal(e->actor_len, 0);
	}
	if (i % 3 == 0) {
		snprintf(buf, sizeof buf, "sess-%d", i / 10);
		STR_EQ(session, buf);
	} else {
		assert_int_equal(e->session_len, 0);
	}
	if (i % 10 != 9)
		snprintf(buf, sizeof buf, "{\"n\":%d,\"value\":2.5,\"message\":\"m\",\"price\":1.50e3,\"s\":\"a\\u00e9\\\"b c\","
			 "\"arr\":[1,2,{\"x\":null}],\"neg\":-0.0,\"t\":true}", i);
	else
		snprintf(buf, sizeof buf, "{}");
	STR_EQ(data, buf);
	if (i % 6 == 0) {
		snprintf(buf, sizeof buf, "{\"trace\":\"t-%d\"}", i);
		STR_EQ(meta, buf);
	} else {
		assert_int_equal(e->meta_len, 0);
	}
#undef STR_EQ
}

static void big_verify(eg_store *st, int64_t rec_lo, int64_t rec_hi)
{
	uint64_t ver[97] = { 0 };
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	const eg_event *e;
	int i = 0, rc;
	int64_t rec0 = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		assert_true(i < BIG_N);
		if (i % 13)
			ver[i % 97]++;
		big_check(i, e, ver, rec_lo, rec_hi);
		if (i == 0)
			rec0 = e->recorded;
		else if (e->recorded != rec0)   /* one batch: one recorded time */
			fail_msg("event %d: recorded differs within the batch", i);
		i++;
	}
	assert_int_equal(rc, EG_END);
	assert_int_equal(i, BIG_N);
	eg_iter_free(it);
}

static void append_batch_of_100k_round_trips_field_by_field(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .expected_events = BIG_N };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	char line[1024];
	int64_t before = now_us();
	for (int i = 0; i < BIG_N; i++) {
		size_t n = big_line(i, line, sizeof line);
		int rc = eg_batch_add_json(b, line, n);
		if (rc != EG_OK)
			fail_msg("line %d (%s): %s: %s", i, line, eg_strerror(rc), eg_errmsg(st));
	}
	eg_append_result r = commit(st, b);
	int64_t after = now_us();
	assert_int_equal(r.appended, BIG_N);
	assert_int_equal(r.duplicates, 0);
	assert_int_equal(r.first_pos, 1);
	assert_int_equal(r.last_pos, BIG_N);
	assert_int_equal(r.head.pos, BIG_N);
	big_verify(st, before, after);
	eg_store_close(st);

	/* The same from a reader after the writer closed. */
	st = open_r(f->dir);
	big_verify(st, before, after);
	eg_verify_result v;
	assert_int_equal(eg_store_verify(st, &v), EG_OK);
	assert_int_equal(v.events, BIG_N);
	eg_store_close(st);
}

/* --------------------------------------------------------- duplicates */

static void append_duplicate_of_stored_id_returns_edup_and_is_counted(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *first[] = {
		"{\"id\":\"a\",\"type\":\"t\",\"data\":{\"v\":1}}",
		"{\"id\":\"b\",\"type\":\"t\"}",
	};
	append(st, first, 2);
	eg_batch *b = begin(st);
	assert_int_equal(tu_add(b, "{\"id\":\"a\",\"type\":\"t\",\"data\":{\"v\":2}}"), EG_EDUP);
	tu_add_ok(st, b, "{\"id\":\"c\",\"type\":\"t\"}");
	assert_int_equal(tu_add(b, "{\"id\":\"b\",\"type\":\"other\"}"), EG_EDUP);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 1);
	assert_int_equal(r.duplicates, 2);
	assert_int_equal(r.first_pos, 3);
	assert_int_equal(r.last_pos, 3);
	assert_int_equal(r.head.pos, 3);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 3);
	assert_dense(v, n);
	assert_string_equal(v[0].id, "a");
	assert_string_equal(v[0].data, "{\"v\":1}");   /* the first one stays */
	assert_string_equal(v[2].id, "c");
	free(v);
	eg_store_close(st);
}

/* eg_batch_counts follows the adds, across eg_batch_add_ndjson calls and
 * the commits commit_every makes: what a group committer splits among the
 * requests it merged. */
static void batch_counts_follow_each_add(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch_opts o = { .sync = EG_SYNC_GROUP, .expect_version = -1, .commit_every = 2 };
	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	uint64_t added = 9, dups = 9, lines;
	eg_batch_counts(b, &added, &dups);
	assert_int_equal(added, 0);
	assert_int_equal(dups, 0);
	const char *one = "{\"id\":\"a\",\"type\":\"t\"}\n{\"id\":\"b\",\"type\":\"t\"}\n"
			  "{\"id\":\"c\",\"type\":\"t\"}\n";
	assert_int_equal(eg_batch_add_ndjson(b, one, strlen(one), NULL, NULL, &lines), EG_OK);
	eg_batch_counts(b, &added, &dups);
	assert_int_equal(added, 3);   /* two committed (commit_every), one open */
	assert_int_equal(dups, 0);
	const char *two = "{\"id\":\"b\",\"type\":\"t\"}\n{\"id\":\"d\",\"type\":\"t\"}\n";
	assert_int_equal(eg_batch_add_ndjson(b, two, strlen(two), NULL, NULL, &lines), EG_OK);
	eg_batch_counts(b, &added, &dups);
	assert_int_equal(added, 4);
	assert_int_equal(dups, 1);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 4);
	assert_int_equal(r.duplicates, 1);
	eg_store_close(st);
}

static void append_duplicate_within_one_batch_returns_edup_and_is_counted(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"id\":\"x\",\"type\":\"t\"}");
	assert_int_equal(tu_add(b, "{\"id\":\"x\",\"type\":\"t\"}"), EG_EDUP);
	tu_add_ok(st, b, "{\"id\":\"y\",\"type\":\"t\"}");
	assert_int_equal(tu_add(b, "{\"id\":\"y\",\"type\":\"u\"}"), EG_EDUP);
	assert_int_equal(tu_add(b, "{\"id\":\"x\",\"type\":\"t\"}"), EG_EDUP);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 2);
	assert_int_equal(r.duplicates, 3);
	assert_int_equal(r.first_pos, 1);
	assert_int_equal(r.last_pos, 2);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 2);
	assert_dense(v, n);
	assert_string_equal(v[0].id, "x");
	assert_string_equal(v[1].id, "y");
	free(v);
	eg_store_close(st);
}

static void append_duplicate_uuid_id_is_detected_after_reopen(void **state)
{
	fx *f = *state;
	const char *u = "{\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0123456789ab\",\"type\":\"t\"}";
	eg_store *st = open_w(f->dir);
	append(st, &u, 1);
	eg_store_close(st);
	st = open_w(f->dir);
	eg_batch *b = begin(st);
	assert_int_equal(tu_add(b, u), EG_EDUP);
	/* Same UUID in capitals is a different id (ids are exact strings). */
	tu_add_ok(st, b, "{\"id\":\"0190A1B2-C3D4-7E5F-8A9B-0123456789AB\",\"type\":\"t\"}");
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 1);
	assert_int_equal(r.duplicates, 1);
	eg_store_close(st);
}

static void append_batch_of_only_duplicates_appends_nothing(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *one = "{\"id\":\"only\",\"type\":\"t\"}";
	eg_append_result first = append(st, &one, 1);
	eg_batch *b = begin(st);
	assert_int_equal(tu_add(b, one), EG_EDUP);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 0);
	assert_int_equal(r.duplicates, 1);
	assert_int_equal(r.first_pos, 0);
	assert_int_equal(r.last_pos, 0);
	assert_int_equal(r.head.pos, 1);
	assert_memory_equal(r.head.hash, first.head.hash, 32);
	eg_store_close(st);
}

/* ---------------------------------------------------- expected version */

/* Stream acct-1 at version 2, plus one event of another stream. */
static void two_versions(eg_store *st)
{
	const char *lines[] = {
		"{\"stream\":\"acct-1\",\"type\":\"opened\"}",
		"{\"stream\":\"acct-2\",\"type\":\"opened\"}",
		"{\"stream\":\"acct-1\",\"type\":\"deposit\"}",
	};
	append(st, lines, 3);
}

static void expect_conflict(eg_store *st, const char *stream, int64_t version)
{
	eg_head h0, h1;
	assert_int_equal(eg_store_head(st, &h0), EG_OK);
	eg_batch *b = (eg_batch *)&h0;
	eg_batch_opts o = { .expect_stream = stream, .expect_version = version };
	int rc = eg_batch_begin(st, &b, &o);
	if (rc != EG_ECONFLICT)
		fail_msg("expect %s@%lld: got %s", stream, (long long)version, eg_strerror(rc));
	assert_null(b);
	assert_non_null(strstr(eg_errmsg(st), stream));
	assert_int_equal(eg_store_head(st, &h1), EG_OK);
	assert_int_equal(h1.pos, h0.pos);
	assert_memory_equal(h1.hash, h0.hash, 32);
}

static void expect_version_mismatch_conflicts_at_begin_and_writes_nothing(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	expect_conflict(st, "acct-1", 1);
	expect_conflict(st, "acct-1", 3);
	expect_conflict(st, "acct-2", 2);
	eg_store_close(st);
	st = open_r(f->dir);
	assert_int_equal(head_pos(st), 3);
	eg_store_close(st);
}

static void expect_version_matching_appends_next_versions(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	eg_batch *b;
	eg_batch_opts o = { .expect_stream = "acct-1", .expect_version = 2 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	tu_add_ok(st, b, "{\"stream\":\"acct-1\",\"type\":\"deposit\"}");
	tu_add_ok(st, b, "{\"stream\":\"acct-1\",\"type\":\"closed\"}");
	eg_append_result r = commit(st, b);
	assert_int_equal(r.first_pos, 4);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 5);
	assert_int_equal(v[3].version, 3);
	assert_int_equal(v[4].version, 4);
	free(v);
	/* Now version 2 is stale. */
	expect_conflict(st, "acct-1", 2);
	eg_store_close(st);
}

static void expect_version_zero_conflicts_when_stream_exists(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	expect_conflict(st, "acct-2", 0);
	eg_store_close(st);
}

static void expect_version_zero_accepts_a_new_stream(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	eg_batch *b;
	eg_batch_opts o = { .expect_stream = "acct-3", .expect_version = 0 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	tu_add_ok(st, b, "{\"stream\":\"acct-3\",\"type\":\"opened\"}");
	commit(st, b);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 4);
	assert_string_equal(v[3].stream, "acct-3");
	assert_int_equal(v[3].version, 1);
	free(v);
	expect_conflict(st, "acct-3", 0);
	eg_store_close(st);
}

/* The check covers its stream only: an event of another stream (or of
 * none) is refused, the batch stays usable, and the bulk path stops there
 * without offering the line to bad(). */
static int no_bad_line(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	(void)ctx, (void)line, (void)text, (void)len;
	fail_msg("offered as an invalid line: %s", msg);
	return 1;
}

static void expect_version_refuses_events_of_another_stream(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	eg_batch *b;
	eg_batch_opts o = { .expect_stream = "acct-1", .expect_version = 2 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	const char *other = "{\"stream\":\"acct-2\",\"type\":\"deposit\"}";
	assert_int_equal(eg_batch_add_json(b, other, strlen(other)), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "field \"stream\": expected \"acct-1\""));
	assert_non_null(strstr(eg_errmsg(st), "got \"acct-2\""));
	const char *none = "{\"stream\":\"\",\"type\":\"deposit\"}";
	assert_int_equal(eg_batch_add_json(b, none, strlen(none)), EG_EINVAL);
	const char *two = "{\"stream\":\"acct-1\",\"type\":\"deposit\"}\n"
			  "{\"stream\":\"acct-2\",\"type\":\"deposit\"}\n";
	uint64_t lines;
	assert_int_equal(eg_batch_add_ndjson(b, two, strlen(two), no_bad_line, NULL, &lines),
			 EG_EINVAL);
	assert_int_equal(lines, 2);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 1);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 4);
	assert_string_equal(v[3].stream, "acct-1");
	assert_int_equal(v[3].version, 3);
	free(v);
	eg_store_close(st);
}

static void expect_version_zero_on_an_empty_store_is_accepted(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b;
	eg_batch_opts o = { .expect_stream = "acct-1", .expect_version = 0 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	tu_add_ok(st, b, "{\"stream\":\"acct-1\",\"type\":\"opened\"}");
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 1);
	eg_store_close(st);
}

static void store_accepts_a_batch_after_a_conflict(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	two_versions(st);
	expect_conflict(st, "acct-1", 7);
	const char *l = "{\"stream\":\"acct-1\",\"type\":\"deposit\"}";
	eg_append_result r = append(st, &l, 1);
	assert_int_equal(r.first_pos, 4);
	eg_store_close(st);
}

/* -------------------------------------------------------- bad envelopes */

/*
 * Add a good line and then the bad one to a batch on a store that already
 * holds one committed event: the bad line must be refused with EG_EINVAL
 * and a message containing `names`; after abort the head, the events and
 * the stream/type counts are as before.
 */
static void refuse_line(fx *f, const char *line, size_t len, const char *names)
{
	eg_store *st = open_w(f->dir);
	if (head_pos(st) == 0) {
		const char *l = "{\"id\":\"base\",\"stream\":\"s0\",\"type\":\"t0\"}";
		append(st, &l, 1);
	}
	eg_head h0, h1;
	eg_stats s0, s1;
	assert_int_equal(eg_store_head(st, &h0), EG_OK);
	assert_int_equal(eg_store_stats(st, &s0), EG_OK);
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"id\":\"good\",\"stream\":\"s-new\",\"type\":\"t-new\"}");
	int rc = eg_batch_add_json(b, line, len);
	if (rc != EG_EINVAL)
		fail_msg("line %.*s: got %s, expected EG_EINVAL", (int)len, line, eg_strerror(rc));
	const char *msg = eg_errmsg(st);
	if (!strstr(msg, names))
		fail_msg("line %.*s: message \"%s\" does not name %s", (int)len, line, msg, names);
	eg_batch_abort(b);
	assert_int_equal(eg_store_head(st, &h1), EG_OK);
	assert_int_equal(h1.pos, h0.pos);
	assert_memory_equal(h1.hash, h0.hash, 32);
	assert_int_equal(eg_store_stats(st, &s1), EG_OK);
	assert_int_equal(s1.events, s0.events);
	assert_int_equal(s1.streams, s0.streams);
	assert_int_equal(s1.types, s0.types);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, h0.pos);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(v[i].id, "good");
	free(v);
	eg_store_close(st);
	/* And from a fresh reader. */
	st = open_r(f->dir);
	assert_int_equal(head_pos(st), h0.pos);
	eg_store_close(st);
}

static void refuse(fx *f, const char *line, const char *names)
{
	refuse_line(f, line, strlen(line), names);
}

static void result_reports_integer_times_that_look_like_epoch_seconds(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"type\":\"t\",\"time\":1735725600000}");      /* 2025, in ms */
	uint64_t lines;
	const char *in = "{\"type\":\"t\",\"time\":\"2025-01-01T00:00:00Z\"}\n\n"
			 "{\"type\":\"t\",\"time\":1735725600}\n"
			 "{\"type\":\"t\",\"time\":99999999}\n"
			 "{\"type\":\"t\",\"time\":1700000000}\n";
	assert_int_equal(eg_batch_add_ndjson(b, in, strlen(in), NULL, NULL, &lines), EG_OK);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 5);
	assert_int_equal(r.seconds_count, 2);
	assert_int_equal(r.seconds_line, 4);   /* 1 by add_json, then 3 of the buffer */
	assert_int_equal(r.seconds_time, 1735725600000LL);
	eg_store_close(st);
}

static void append_rejects_text_that_is_not_json(void **state)
{
	fx *f = *state;
	refuse(f, "not json", "JSON");
	refuse(f, "{\"type\":\"t\"", "JSON");
	refuse(f, "{\"type\":\"t\",}", "JSON");
	refuse(f, "{\"type\":\"t\"} trailing", "JSON");
	refuse(f, "", "JSON");
}

static void append_rejects_json_that_is_not_an_object(void **state)
{
	fx *f = *state;
	refuse(f, "[{\"type\":\"t\"}]", "object");
	refuse(f, "\"type\"", "object");
	refuse(f, "42", "object");
	refuse(f, "null", "object");
}

static void append_rejects_missing_type(void **state)
{
	fx *f = *state;
	refuse(f, "{\"stream\":\"s\"}", "type");
	refuse(f, "{}", "type");
	refuse(f, "{\"type\":null}", "type");
}

static void append_rejects_type_that_is_not_a_non_empty_string(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":5}", "type");
	refuse(f, "{\"type\":[\"t\"]}", "type");
	refuse(f, "{\"type\":{}}", "type");
	refuse(f, "{\"type\":\"\"}", "type");
}

static void append_rejects_bad_time_and_writes_nothing(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"time\":\"yesterday\"}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":\"2025-13-01T00:00:00Z\"}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":\"2025-02-30T00:00:00Z\"}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":\"2025-01-01T10:00:00\"}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":1.5}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":true}", "time");
	refuse(f, "{\"type\":\"t\",\"time\":{}}", "time");
}

static void append_rejects_data_that_is_not_an_object(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"data\":[1,2]}", "data");
	refuse(f, "{\"type\":\"t\",\"data\":\"x\"}", "data");
	refuse(f, "{\"type\":\"t\",\"data\":3}", "data");
}

static void append_rejects_meta_that_is_not_an_object(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"meta\":[1]}", "meta");
	refuse(f, "{\"type\":\"t\",\"meta\":true}", "meta");
}

static void append_rejects_id_longer_than_64_bytes(void **state)
{
	fx *f = *state;
	char line[256], id[80];
	memset(id, 'i', 65);
	id[65] = 0;
	snprintf(line, sizeof line, "{\"type\":\"t\",\"id\":\"%s\"}", id);
	refuse(f, line, "id");
	refuse(f, "{\"type\":\"t\",\"id\":7}", "id");
	refuse(f, "{\"type\":\"t\",\"id\":\"\"}", "id");
}

static void append_accepts_id_of_exactly_64_bytes(void **state)
{
	fx *f = *state;
	char line[256], id[80];
	memset(id, 'i', 64);
	id[64] = 0;
	snprintf(line, sizeof line, "{\"type\":\"t\",\"id\":\"%s\"}", id);
	eg_store *st = open_w(f->dir);
	const char *l = line;
	append(st, &l, 1);
	evc *v;
	assert_int_equal(read_all(st, &v), 1);
	assert_string_equal(v[0].id, id);
	free(v);
	eg_store_close(st);
}

static void append_rejects_unknown_field(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"colour\":\"red\"}", "colour");
	refuse(f, "{\"type\":\"t\",\"Type\":\"x\"}", "Type");
	refuse(f, "{\"type\":\"t\",\"datas\":{}}", "datas");
}

static void append_rejects_field_given_twice(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"type\":\"u\"}", "type");
	refuse(f, "{\"type\":\"t\",\"stream\":\"a\",\"stream\":\"b\"}", "stream");
}

static void append_rejects_unknown_kind(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"kind\":\"audit\"}", "kind");
	refuse(f, "{\"type\":\"t\",\"kind\":1}", "kind");
}

static void append_rejects_invalid_utf8_naming_the_field(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"stream\":\"acct-\xff\"}", "stream");
	refuse(f, "{\"type\":\"t\",\"actor\":\"\xc3\x28\"}", "actor");
	refuse(f, "{\"type\":\"t\",\"data\":{\"k\":\"\xed\xa0\x80\"}}", "data");
	refuse(f, "{\"type\":\"t\xe2\x82\"}", "type");
}

static void append_rejects_invalid_utf8_in_a_key(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"\xc0\xaf\":1}", "UTF-8");
}

static void append_rejects_non_string_stream_actor_session(void **state)
{
	fx *f = *state;
	refuse(f, "{\"type\":\"t\",\"stream\":1}", "stream");
	refuse(f, "{\"type\":\"t\",\"actor\":{}}", "actor");
	refuse(f, "{\"type\":\"t\",\"session\":[]}", "session");
}

static void append_skips_invalid_line_and_commits_the_rest(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"id\":\"1\",\"type\":\"t\"}");
	assert_int_equal(tu_add(b, "{\"id\":\"2\",\"type\":\"t\",\"time\":\"nope\"}"), EG_EINVAL);
	assert_int_equal(tu_add(b, "{\"id\":\"3\""), EG_EINVAL);
	tu_add_ok(st, b, "{\"id\":\"2\",\"type\":\"t\"}");
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 2);
	assert_int_equal(r.duplicates, 0);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 2);
	assert_dense(v, n);
	assert_string_equal(v[0].id, "1");
	assert_string_equal(v[1].id, "2");
	free(v);
	eg_store_close(st);
}

/* ------------------------------------------------------------- abort */

static void aborted_batch_leaves_nothing(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *l = "{\"id\":\"keep\",\"stream\":\"old\",\"type\":\"t\"}";
	eg_append_result r0 = append(st, &l, 1);
	eg_stats s0;
	assert_int_equal(eg_store_stats(st, &s0), EG_OK);
	eg_batch *b = begin(st);
	char line[128];
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof line,
			 "{\"id\":\"gone-%d\",\"stream\":\"new-%d\",\"type\":\"newtype\"}", i, i % 3);
		tu_add_ok(st, b, line);
	}
	tu_add_ok(st, b, "{\"id\":\"gone-old\",\"stream\":\"old\",\"type\":\"t\"}");
	eg_batch_abort(b);
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 1);
	assert_memory_equal(h.hash, r0.head.hash, 32);
	eg_stats s1;
	assert_int_equal(eg_store_stats(st, &s1), EG_OK);
	assert_int_equal(s1.events, 1);
	assert_int_equal(s1.streams, s0.streams);
	assert_int_equal(s1.types, s0.types);
	assert_int_equal(s1.log_bytes, s0.log_bytes);
	evc *v;
	assert_int_equal(read_all(st, &v), 1);
	free(v);

	/* The ids are free again and stream versions carry on from before. */
	b = begin(st);
	tu_add_ok(st, b, "{\"id\":\"gone-3\",\"stream\":\"new-0\",\"type\":\"newtype\"}");
	tu_add_ok(st, b, "{\"id\":\"gone-old\",\"stream\":\"old\",\"type\":\"t\"}");
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 2);
	assert_int_equal(r.duplicates, 0);
	assert_int_equal(r.first_pos, 2);
	size_t n = read_all(st, &v);
	assert_int_equal(n, 3);
	assert_dense(v, n);
	assert_int_equal(v[1].version, 1);
	assert_int_equal(v[2].version, 2);
	free(v);
	eg_store_close(st);

	st = open_r(f->dir);
	eg_verify_result vr;
	assert_int_equal(eg_store_verify(st, &vr), EG_OK);
	assert_int_equal(vr.events, 3);
	eg_store_close(st);
}

static void aborted_batch_larger_than_the_spool_leaves_nothing_on_disk(void **state)
{
	fx *f = *state;
	/* Small segments, so that the batch also rolls into new segment files. */
	eg_store *st = open_opts(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 64 << 10);
	const char *l = "{\"id\":\"keep\",\"type\":\"t\"}";
	append(st, &l, 1);
	eg_stats s0;
	assert_int_equal(eg_store_stats(st, &s0), EG_OK);
	eg_batch *b = begin(st);
	char line[2048], pad[1500];
	memset(pad, 'p', sizeof pad - 1);
	pad[sizeof pad - 1] = 0;
	for (int i = 0; i < 2000; i++) {   /* ~3 MB: beyond a 1 MiB spool */
		snprintf(line, sizeof line, "{\"id\":\"gone-%d\",\"type\":\"t\",\"data\":{\"p\":\"%s\"}}",
			 i, pad);
		tu_add_ok(st, b, line);
	}
	eg_batch_abort(b);
	eg_stats s1;
	assert_int_equal(eg_store_stats(st, &s1), EG_OK);
	assert_int_equal(s1.events, 1);
	assert_int_equal(s1.segments, s0.segments);
	assert_int_equal(s1.log_bytes, s0.log_bytes);
	eg_store_close(st);

	st = open_r(f->dir);
	assert_int_equal(head_pos(st), 1);
	eg_verify_result vr;
	assert_int_equal(eg_store_verify(st, &vr), EG_OK);
	eg_store_close(st);
}

static void aborted_first_batch_leaves_an_empty_store(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"id\":\"a\",\"stream\":\"s\",\"type\":\"t\"}");
	eg_batch_abort(b);
	eg_head h;
	assert_int_equal(eg_store_head(st, &h), EG_OK);
	assert_int_equal(h.pos, 0);
	const char *l = "{\"id\":\"a\",\"stream\":\"s\",\"type\":\"t\"}";
	eg_append_result r = append(st, &l, 1);
	assert_int_equal(r.first_pos, 1);
	assert_int_equal(r.duplicates, 0);
	eg_store_close(st);
	st = open_r(f->dir);
	evc *v;
	assert_int_equal(read_all(st, &v), 1);
	assert_int_equal(v[0].version, 1);
	free(v);
	eg_store_close(st);
}

static void second_batch_on_the_same_store_is_refused_while_one_is_open(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st), *b2 = NULL;
	assert_int_not_equal(eg_batch_begin(st, &b2, NULL), EG_OK);
	assert_null(b2);
	eg_batch_abort(b);
	b = begin(st);   /* usable again after the abort */
	eg_batch_abort(b);
	eg_store_close(st);
}

/* ------------------------------------------------------- commit_every */

static void commit_every_commits_sub_batches_as_they_fill(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	const char *l0 = "{\"id\":\"first\",\"type\":\"t\"}";
	append(w, &l0, 1);
	eg_store *r = open_r(f->dir);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .commit_every = 10 };
	assert_int_equal(eg_batch_begin(w, &b, &o), EG_OK);
	char line[64];
	for (int i = 0; i < 35; i++) {
		snprintf(line, sizeof line, "{\"id\":\"e%d\",\"type\":\"t\"}", i);
		tu_add_ok(w, b, line);
		/* A reader sees every completed sub-batch, and nothing more. */
		assert_int_equal(head_pos(r), 1 + (uint64_t)(i + 1) / 10 * 10);
	}
	eg_append_result res = commit(w, b);
	assert_int_equal(res.appended, 35);
	assert_int_equal(res.first_pos, 2);
	assert_int_equal(res.last_pos, 36);
	assert_int_equal(res.head.pos, 36);
	assert_int_equal(head_pos(r), 36);
	evc *v;
	size_t n = read_all(r, &v);
	assert_int_equal(n, 36);
	assert_dense(v, n);
	for (size_t i = 2; i < n; i++) {
		assert_true(v[i].recorded >= v[i - 1].recorded);
		if ((i - 1) % 10)   /* same sub-batch: same recorded time */
			assert_int_equal(v[i].recorded, v[i - 1].recorded);
	}
	free(v);
	eg_store_close(r);
	eg_store_close(w);
}

static void commit_every_sub_batches_survive_an_abort_of_the_rest(void **state)
{
	fx *f = *state;
	eg_store *w = open_w(f->dir);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .commit_every = 4 };
	assert_int_equal(eg_batch_begin(w, &b, &o), EG_OK);
	char line[64];
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof line, "{\"id\":\"e%d\",\"type\":\"t\"}", i);
		tu_add_ok(w, b, line);
	}
	eg_batch_abort(b);   /* events 9 and 10 were not yet committed */
	assert_int_equal(head_pos(w), 8);
	eg_store_close(w);
	w = open_r(f->dir);
	evc *v;
	size_t n = read_all(w, &v);
	assert_int_equal(n, 8);
	assert_dense(v, n);
	free(v);
	eg_store_close(w);
}

/* ------------------------------------------------------------- clocks */

static void event_without_time_gets_time_equal_to_recorded(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *lines[] = {
		"{\"type\":\"a\"}",
		"{\"type\":\"b\",\"time\":\"2020-06-01T00:00:00Z\"}",
		"{\"type\":\"c\",\"time\":null}",
	};
	int64_t before = now_us();
	append(st, lines, 3);
	int64_t after = now_us();
	eg_store_close(st);
	st = open_r(f->dir);
	evc *v;
	assert_int_equal(read_all(st, &v), 3);
	assert_true(v[0].recorded >= before && v[0].recorded <= after);
	assert_int_equal(v[0].time, v[0].recorded);
	assert_int_equal(v[1].time, 1590969600000000LL);
	assert_int_equal(v[2].time, v[2].recorded);
	free(v);
	eg_store_close(st);
}

static void recorded_never_decreases_across_batches(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	char line[64];
	const char *l = line;
	for (int i = 0; i < 50; i++) {
		snprintf(line, sizeof line, "{\"type\":\"t\",\"time\":%d}", 1000 - i);
		append(st, &l, 1);
		if (i == 25) {   /* across a reopen too */
			eg_store_close(st);
			st = open_w(f->dir);
		}
	}
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 50);
	for (size_t i = 1; i < n; i++)
		if (v[i].recorded < v[i - 1].recorded)
			fail_msg("recorded decreases at pos %zu", i + 1);
	free(v);
	eg_stats s;
	assert_int_equal(eg_store_stats(st, &s), EG_OK);
	assert_true(s.recorded_min <= s.recorded_max);
	eg_store_close(st);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void missing_id_gets_a_generated_uuid_v7(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	int64_t before = now_us() / 1000;
	for (int i = 0; i < 1000; i++)
		tu_add_ok(st, b, i % 2 ? "{\"type\":\"t\"}" : "{\"type\":\"t\",\"id\":null}");
	commit(st, b);
	int64_t after = now_us() / 1000;
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, 1000);
	for (size_t i = 0; i < n; i++) {
		const char *id = v[i].id;
		assert_int_equal(strlen(id), 36);
		for (int k = 0; k < 36; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23)
				assert_int_equal(id[k], '-');
			else if (hexval(id[k]) < 0)
				fail_msg("id %s is not lowercase hex", id);
		}
		assert_int_equal(id[14], '7');                    /* version nibble */
		assert_non_null(strchr("89ab", id[19]));          /* RFC 9562 variant */
		int64_t ms = 0;
		for (int k = 0; k < 13; k++)
			if (k != 8)
				ms = ms * 16 + hexval(id[k]);
		assert_true(ms >= before && ms <= after);         /* unix_ts_ms */
		for (size_t j = 0; j < i; j++)
			if (strcmp(v[j].id, id) == 0)
				fail_msg("generated id %s repeats", id);
	}
	free(v);
	eg_store_close(st);
}

static void default_stream_and_type_fill_lines_without_them(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .default_stream = "dflt",
			    .default_type = "dtype" };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	tu_add_ok(st, b, "{}");
	tu_add_ok(st, b, "{\"stream\":\"own\",\"type\":\"own-type\"}");
	commit(st, b);
	evc *v;
	assert_int_equal(read_all(st, &v), 2);
	assert_string_equal(v[0].stream, "dflt");
	assert_string_equal(v[0].type, "dtype");
	assert_string_equal(v[1].stream, "own");
	assert_string_equal(v[1].type, "own-type");
	free(v);
	eg_store_close(st);
}

/* ------------------------------------------------- bulk (pipelined) add */

/* N generated lines (with duplicates and blank lines) in one buffer. */
static char *bulk_input(int n, size_t *len)
{
	size_t cap = (size_t)n * 600 + 64, used = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (int i = 0; i < n; i++) {
		/* every 97th line repeats an earlier id; every 50th is blank */
		used += big_line(i % 97 == 96 ? i - 5 : i, buf + used, cap - used);
		buf[used++] = '\n';
		if (i % 50 == 0)
			used += (size_t)snprintf(buf + used, cap - used, "   \n");
	}
	*len = used;
	return buf;
}

static void bulk_add_equals_adding_line_by_line(void **state)
{
	fx *f = *state;
	size_t len;
	char *buf = bulk_input(20000, &len);
	char one[128], many[128];
	snprintf(one, sizeof one, "%s/one", f->dir);
	snprintf(many, sizeof many, "%s/many", f->dir);
	/* line by line */
	eg_store *a = open_w(one);
	eg_batch *b = begin(a);
	for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		size_t n = (size_t)(nl - p);
		if (n && strspn(p, " ") < n)
			eg_batch_add_json(b, p, n);
	}
	eg_append_result ra = commit(a, b);
	/* in bulk, split at an arbitrary line boundary */
	eg_store *m = open_w(many);
	b = begin(m);
	uint64_t lines, total = 0;
	char *cut = memchr(buf + len / 3, '\n', len) + 1;
	assert_int_equal(eg_batch_add_ndjson(b, buf, (size_t)(cut - buf), NULL, NULL, &lines), EG_OK);
	total += lines;
	assert_int_equal(eg_batch_add_ndjson(b, cut, (size_t)(buf + len - cut), NULL, NULL, &lines), EG_OK);
	total += lines;
	eg_append_result rm = commit(m, b);
	assert_int_equal(total, 20000 + 400);
	assert_int_equal(ra.appended, rm.appended);
	assert_int_equal(ra.duplicates, rm.duplicates);
	assert_true(rm.duplicates > 0);
	evc *va, *vm;
	size_t na = read_all(a, &va), nm = read_all(m, &vm);
	assert_int_equal(na, nm);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(va[i].pos, vm[i].pos);
		assert_int_equal(va[i].version, vm[i].version);
		assert_int_equal(va[i].time, vm[i].time);
		assert_string_equal(va[i].id, vm[i].id);
		assert_string_equal(va[i].stream, vm[i].stream);
		assert_string_equal(va[i].data, vm[i].data);
	}
	free(va);
	free(vm);
	free(buf);
	eg_store_close(a);
	eg_store_close(m);
}

typedef struct badlog {
	uint64_t lines[8];
	int n, stop_at;
} badlog;

static int note_bad(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	badlog *l = ctx;
	(void)text;
	(void)len;
	assert_non_null(strstr(msg, "field"));
	l->lines[l->n++] = line;
	return l->n == l->stop_at;
}

static void bulk_add_reports_bad_lines_by_index_and_can_skip_or_stop(void **state)
{
	fx *f = *state;
	const char *in = "{\"type\":\"a\",\"id\":\"1\"}\n"
			 "{\"type\":\"a\",\"time\":\"never\"}\n"
			 "\n"
			 "{\"type\":\"a\",\"id\":\"2\"}\n"
			 "{\"type\":7}\n"
			 "{\"type\":\"a\",\"id\":\"3\"}";
	eg_store *st = open_w(f->dir);
	/* skip: the valid lines go in, the bad ones are reported by index */
	eg_batch *b = begin(st);
	badlog l = { .stop_at = 0 };
	uint64_t lines;
	assert_int_equal(eg_batch_add_ndjson(b, in, strlen(in), note_bad, &l, &lines), EG_OK);
	assert_int_equal(lines, 6);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.lines[0], 1);
	assert_int_equal(l.lines[1], 4);
	assert_int_equal(commit(st, b).appended, 3);
	/* stop: EG_EINVAL at the first bad line, and the batch is abandoned */
	b = begin(st);
	badlog s2 = { .stop_at = 1 };
	const char *in2 = "{\"type\":\"a\",\"id\":\"4\"}\n{\"type\":\"a\",\"bogus\":1}\n";
	assert_int_equal(eg_batch_add_ndjson(b, in2, strlen(in2), note_bad, &s2, &lines), EG_EINVAL);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(eg_errmsg(st), "bogus"));
	eg_batch_abort(b);
	assert_int_equal(head_pos(st), 3);
	eg_store_close(st);
}

/* ------------------------------------------------ defaults and own events */

static void line_defaults_fill_only_what_the_line_lacks(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	eg_line_defaults d = { .id = "kafka:t/0/7", .id_len = 11, .has_time = 1,
			       .time = 1700000000123000 };
	const char *bare = "{\"type\":\"a\"}";
	const char *own = "{\"type\":\"a\",\"id\":\"mine\",\"time\":\"2025-01-01T00:00:00Z\"}";
	assert_int_equal(eg_batch_add_json_with(b, bare, strlen(bare), &d), EG_OK);
	assert_int_equal(eg_batch_add_json_with(b, own, strlen(own), &d), EG_OK);
	/* the same default id again: a duplicate, as a given id would be */
	assert_int_equal(eg_batch_add_json_with(b, bare, strlen(bare), &d), EG_EDUP);
	/* a default id longer than ids may be is refused by name */
	eg_line_defaults big = { .id = "x123456789x123456789x123456789x123456789x123456789x123456789xxxxx",
				 .id_len = 65 };
	assert_int_equal(eg_batch_add_json_with(b, bare, strlen(bare), &big), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "default id"));
	eg_line_defaults junk = { .id = "ok\xff\xfe", .id_len = 4 };
	assert_int_equal(eg_batch_add_json_with(b, bare, strlen(bare), &junk), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "UTF-8"));
	/* NULL defaults: as eg_batch_add_json */
	assert_int_equal(eg_batch_add_json_with(b, bare, strlen(bare), NULL), EG_OK);
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, 3);
	assert_int_equal(r.duplicates, 1);
	evc *v;
	assert_int_equal(read_all(st, &v), 3);
	assert_string_equal(v[0].id, "kafka:t/0/7");
	assert_int_equal(v[0].time, 1700000000123000);
	assert_string_equal(v[1].id, "mine");
	assert_int_equal(v[1].time, 1735689600000000);
	assert_int_equal(strlen(v[2].id), 36);
	assert_int_equal(v[2].time, v[2].recorded);
	free(v);
	eg_store_close(st);
}

typedef struct badidx {
	uint64_t idx[16];
	int n;
} badidx;

static int note_bad_idx(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	badidx *l = ctx;
	(void)text;
	(void)len;
	assert_true(msg[0] != 0);
	if (l->n < 16)
		l->idx[l->n] = line;
	l->n++;
	return 0;
}

/* Enough lines for several chunks and the parsing thread: each takes its
 * own defaults, bad and duplicate lines are told apart per line. */
static void add_lines_takes_each_lines_defaults_and_reports_each_line(void **state)
{
	fx *f = *state;
	enum { N = 5000 };
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	eg_line *l = calloc(N, sizeof *l);
	char (*text)[160] = calloc(N, 160), (*ids)[32] = calloc(N, 32);
	assert_true(l && text && ids);
	for (int i = 0; i < N; i++) {
		if (i % 1000 == 7)
			snprintf(text[i], 160, "not json %d", i);
		else if (i % 1000 == 8)
			snprintf(text[i], 160, "{\"type\":\"a\",\"id\":\"given-%d\",\"time\":%d}",
				 i - 1, 1000 + i);   /* same id as... */
		else if (i % 3 == 0)
			snprintf(text[i], 160, "{\"type\":\"a\",\"id\":\"given-%d\",\"time\":%d,"
				 "\"data\":{\"i\":%d}}", i, 1000 + i, i);
		else
			snprintf(text[i], 160, "{\"type\":\"b\",\"data\":{\"i\":%d,\"pad\":\"%090d\"}}", i, 0);
		snprintf(ids[i], 32, "k/%d", i);
		l[i] = (eg_line){ .json = text[i], .len = strlen(text[i]),
				  .d = { .id = ids[i], .id_len = strlen(ids[i]), .has_time = 1,
					 .time = (int64_t)i * 1000000 } };
		l[i].rc = 99;
	}
	/* a line that repeats the id of one of the batch: 8 after 7 (bad) has
	 * its own id; make line 2000 repeat line 1000's default */
	snprintf(ids[2000], 32, "k/%d", 1000);
	l[2000].d.id_len = strlen(ids[2000]);
	badidx bad = { 0 };
	uint64_t done;
	assert_int_equal(eg_batch_add_lines(b, l, N, note_bad_idx, &bad, &done), EG_OK);
	assert_int_equal(done, N);
	assert_int_equal(bad.n, 5);
	for (int k = 0; k < 5; k++)
		assert_int_equal(bad.idx[k], (uint64_t)(1000 * k + 7));
	int ok = 0;
	for (int i = 0; i < N; i++) {
		if (i % 1000 == 7) {
			assert_int_equal(l[i].rc, EG_EINVAL);
			continue;
		}
		int dup = i == 2000 && l[1000].rc == EG_OK;
		assert_int_equal(l[i].rc, dup ? EG_EDUP : EG_OK);
		ok += !dup;
		if (i % 1000 == 8 || i % 3 == 0)
			assert_int_equal(l[i].time, (int64_t)(1000 + i) * 1000);
		else
			assert_int_equal(l[i].time, (int64_t)i * 1000000);
	}
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, (uint64_t)ok);
	assert_int_equal(r.duplicates, 1);
	evc *v;
	size_t n = read_all(st, &v);
	assert_int_equal(n, (size_t)ok);
	/* in the order given, each with its given or default id */
	size_t j = 0;
	for (int i = 0; i < N; i++) {
		if (l[i].rc != EG_OK)
			continue;
		char want[32];
		if (i % 1000 == 8 || i % 3 == 0)
			snprintf(want, sizeof want, "given-%d", i % 1000 == 8 ? i - 1 : i);
		else
			snprintf(want, sizeof want, "k/%d", i);
		assert_string_equal(v[j].id, want);
		assert_int_equal(v[j].time, l[i].time);
		j++;
	}
	free(v);
	free(l);
	free(text);
	free(ids);
	eg_store_close(st);
}

static void system_event_commits_with_the_batch_in_a_reserved_stream_only(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	const char *data = "{\"offsets\":{\"t/0\":5}}";
	/* aborted: neither the event nor its offsets */
	eg_batch *b = begin(st);
	tu_add_ok(st, b, "{\"type\":\"a\",\"id\":\"e1\"}");
	assert_int_equal(eg_batch_add_system(b, "$kafka-import.g", "engram.kafka.offsets", data,
					     strlen(data)), EG_OK);
	eg_batch_abort(b);
	assert_int_equal(head_pos(st), 0);
	/* committed: both, in order */
	b = begin(st);
	tu_add_ok(st, b, "{\"type\":\"a\",\"id\":\"e1\"}");
	assert_int_equal(eg_batch_add_system(b, "$kafka-import.g", "engram.kafka.offsets", data,
					     strlen(data)), EG_OK);
	/* not a reserved stream, $schemas, data not an object: refused */
	assert_int_equal(eg_batch_add_system(b, "plain", "x", "{}", 2), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "reserved"));
	assert_int_equal(eg_batch_add_system(b, "$schemas", "x", "{}", 2), EG_EINVAL);
	assert_int_equal(eg_batch_add_system(b, "$x", "x", "[1]", 3), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "data"));
	/* a user's line still may not write a $ stream */
	assert_int_equal(tu_add(b, "{\"type\":\"a\",\"stream\":\"$kafka-import.g\"}"), EG_EINVAL);
	assert_int_equal(commit(st, b).appended, 2);
	evc *v;
	assert_int_equal(read_all(st, &v), 2);
	assert_string_equal(v[0].id, "e1");
	assert_string_equal(v[1].stream, "$kafka-import.g");
	assert_string_equal(v[1].type, "engram.kafka.offsets");
	assert_string_equal(v[1].data, data);
	assert_int_equal(strlen(v[1].id), 36);
	assert_int_equal(v[1].time, v[1].recorded);
	free(v);
	eg_store_close(st);
}

/* A heartbeat in a batch whose lines are mapped is not mapped itself. */
static void heartbeat_in_a_mapped_batch_keeps_its_time_and_data(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_map *m = NULL;
	assert_int_equal(eg_map_builtin("segment", &m), EG_OK);
	eg_batch *b = NULL;
	eg_batch_opts o = { .expect_version = -1, .map = m };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	const char *seg = "{\"type\":\"track\",\"event\":\"Clicked\",\"userId\":\"u1\","
			  "\"messageId\":\"m1\",\"timestamp\":\"2025-01-01T00:00:00Z\"}";
	assert_int_equal(eg_batch_add_json(b, seg, strlen(seg)), EG_OK);
	const char *data = "{\"source\":\"kafka-import\"}";
	assert_int_equal(eg_batch_add_heartbeat(b, 1735689600500000, data, strlen(data)), EG_OK);
	assert_int_equal(commit(st, b).appended, 2);
	eg_map_free(m);
	evc *v;
	assert_int_equal(read_all(st, &v), 2);
	assert_string_equal(v[0].id, "m1");
	assert_string_equal(v[1].stream, EG_HEARTBEAT);
	assert_string_equal(v[1].type, EG_HEARTBEAT);
	assert_int_equal(v[1].time, 1735689600500000);
	assert_string_equal(v[1].data, data);
	free(v);
	eg_store_close(st);
}

/* Metrics and errors are checked for the shape of their kind at append
 * (docs/METRICS.md): each misfit is refused naming its field, the batch
 * stays usable, and the events of the kind that fit are added. */
static void metric_and_error_kinds_are_checked_at_append(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_batch *b = begin(st);
	static const struct { const char *line, *msg; } bad[] = {
		{ "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{}}",
		  "field \"data.value\": expected a finite number (it is missing)" },
		{ "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":\"1\"}}",
		  "field \"data.value\": expected a finite number, got \"1\"" },
		{ "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":-1e400}}",
		  "field \"data.value\": expected a finite number, got -1e400" },
		{ "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":1,\"tags\":[]}}",
		  "field \"data.tags\": expected an object whose values are strings" },
		{ "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":1,\"tags\":{\"a\":\"x\",\"b\":2}}}",
		  "field \"data.tags.b\": expected a string" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"stack\":\"x\"}}",
		  "field \"data.message\": expected a string (the error's message) (it is missing)" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":null}}",
		  "field \"data.message\": expected a string" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":[{},7]}}",
		  "field \"data.stack[1]\": expected an object" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":[{\"line\":\"3\"}]}}",
		  "field \"data.stack[0].line\": expected an integer" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":[{\"in_app\":1}]}}",
		  "field \"data.stack[0].in_app\": expected true or false" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":{}}}",
		  "field \"data.stack\": expected an array of frames or a string" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"release\":1}}",
		  "field \"data.release\": expected a string" },
		{ "{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"fingerprint\":[\"a\",1]}}",
		  "field \"data.fingerprint\": expected a string or an array of strings" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(eg_batch_add_json(b, bad[i].line, strlen(bad[i].line)), EG_EINVAL);
		if (!strstr(eg_errmsg(st), bad[i].msg))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].line, eg_errmsg(st), bad[i].msg);
	}
	static const char *const good[] = {
		"{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":-1.5e3,\"tags\":{\"a\":\"x\"},\"metric_type\":\"counter\"}}",
		"{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":0}}",
		"{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":[{\"function\":\"f\",\"file\":\"a.py\",\"line\":3,\"in_app\":true}],\"service\":\"api\",\"release\":\"1.2\",\"fingerprint\":[\"x\"]}}",
		"{\"kind\":\"error\",\"type\":\"E\",\"data\":{\"message\":\"m\",\"stack\":\"Traceback\"}}",
		"{\"kind\":\"event\",\"type\":\"e\",\"data\":{\"value\":\"any\"}}",
		"{\"type\":\"e\",\"data\":{\"message\":1}}",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (eg_batch_add_json(b, good[i], strlen(good[i])) != EG_OK)
			fail_msg("%s: %s", good[i], eg_errmsg(st));
	eg_append_result r = commit(st, b);
	assert_int_equal(r.appended, sizeof good / sizeof *good);
	eg_store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(append_batch_of_100k_round_trips_field_by_field),
		T(metric_and_error_kinds_are_checked_at_append),
		T(append_duplicate_of_stored_id_returns_edup_and_is_counted),
		T(append_duplicate_within_one_batch_returns_edup_and_is_counted),
		T(batch_counts_follow_each_add),
		T(append_duplicate_uuid_id_is_detected_after_reopen),
		T(append_batch_of_only_duplicates_appends_nothing),
		T(expect_version_mismatch_conflicts_at_begin_and_writes_nothing),
		T(expect_version_matching_appends_next_versions),
		T(expect_version_zero_conflicts_when_stream_exists),
		T(expect_version_zero_accepts_a_new_stream),
		T(expect_version_refuses_events_of_another_stream),
		T(expect_version_zero_on_an_empty_store_is_accepted),
		T(store_accepts_a_batch_after_a_conflict),
		T(result_reports_integer_times_that_look_like_epoch_seconds),
		T(append_rejects_text_that_is_not_json),
		T(append_rejects_json_that_is_not_an_object),
		T(append_rejects_missing_type),
		T(append_rejects_type_that_is_not_a_non_empty_string),
		T(append_rejects_bad_time_and_writes_nothing),
		T(append_rejects_data_that_is_not_an_object),
		T(append_rejects_meta_that_is_not_an_object),
		T(append_rejects_id_longer_than_64_bytes),
		T(append_accepts_id_of_exactly_64_bytes),
		T(append_rejects_unknown_field),
		T(append_rejects_field_given_twice),
		T(append_rejects_unknown_kind),
		T(append_rejects_invalid_utf8_naming_the_field),
		T(append_rejects_invalid_utf8_in_a_key),
		T(append_rejects_non_string_stream_actor_session),
		T(append_skips_invalid_line_and_commits_the_rest),
		T(aborted_batch_leaves_nothing),
		T(aborted_batch_larger_than_the_spool_leaves_nothing_on_disk),
		T(aborted_first_batch_leaves_an_empty_store),
		T(second_batch_on_the_same_store_is_refused_while_one_is_open),
		T(commit_every_commits_sub_batches_as_they_fill),
		T(commit_every_sub_batches_survive_an_abort_of_the_rest),
		T(event_without_time_gets_time_equal_to_recorded),
		T(recorded_never_decreases_across_batches),
		T(missing_id_gets_a_generated_uuid_v7),
		T(default_stream_and_type_fill_lines_without_them),
		T(bulk_add_equals_adding_line_by_line),
		T(bulk_add_reports_bad_lines_by_index_and_can_skip_or_stop),
		T(line_defaults_fill_only_what_the_line_lacks),
		T(add_lines_takes_each_lines_defaults_and_reports_each_line),
		T(system_event_commits_with_the_batch_in_a_reserved_stream_only),
		T(heartbeat_in_a_mapped_batch_keeps_its_time_and_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

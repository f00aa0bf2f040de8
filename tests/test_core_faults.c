/*
 * test_core_faults.c — I/O failures in the storage core's less travelled
 * calls (creating a store, listing segments, opening the index, reading
 * during a scan, making a backup's directories), injected through the
 * eg_os table: each fails with EG_EIO and a message naming the file and
 * the system's reason, changes nothing on disk, and the store works again
 * once the fault is gone.
 */
#include "testutil.h"

#include <sys/mman.h>
#include "engram.h"
#include "os.h"

#include <errno.h>
#include <limits.h>

static eg_os_vtab saved_os;
static const char *fail_suffix;   /* fail calls on paths ending so */
static int failures;

static int ends_with(const char *p, const char *suffix)
{
	size_t n = strlen(p), k = strlen(suffix);
	return n >= k && !strcmp(p + n - k, suffix);
}

static int fd_ends_with(int fd, const char *suffix)
{
	char link[64], p[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, p, sizeof p - 1);
	if (n < 0)
		return 0;
	p[n] = 0;
	return ends_with(p, suffix);
}

static int failing_mkdir(const char *path, mode_t mode)
{
	if (ends_with(path, fail_suffix)) {
		failures++;
		errno = EIO;
		return -1;
	}
	return saved_os.mkdir(path, mode);
}

static DIR *failing_opendir(const char *path)
{
	if (ends_with(path, fail_suffix)) {
		failures++;
		errno = EIO;
		return NULL;
	}
	return saved_os.opendir(path);
}

static int failing_stat(const char *path, struct stat *sb)
{
	if (ends_with(path, fail_suffix)) {
		failures++;
		errno = EIO;
		return -1;
	}
	return saved_os.stat(path, sb);
}

static int failing_fstat(int fd, struct stat *sb)
{
	if (fd_ends_with(fd, fail_suffix)) {
		failures++;
		errno = EIO;
		return -1;
	}
	return saved_os.fstat(fd, sb);
}

static ssize_t failing_pread(int fd, void *buf, size_t n, off_t off)
{
	if (fd_ends_with(fd, fail_suffix)) {
		failures++;
		errno = EIO;
		return -1;
	}
	return saved_os.pread(fd, buf, n, off);
}

static void *failing_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fd >= 0 && fd_ends_with(fd, fail_suffix)) {
		failures++;
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return saved_os.mmap(addr, len, prot, flags, fd, off);
}

static void arm(const char *suffix)
{
	saved_os = eg_os;
	fail_suffix = suffix;
	failures = 0;
}

static void disarm(void)
{
	eg_os = saved_os;
}

static int setup(void **state)
{
	return tu_setup(state);
}

static int teardown(void **state)
{
	if (saved_os.open)
		eg_os = saved_os;   /* a failed test must not leak its fault */
	return tu_teardown(state);
}

/* The error in eg_errmsg names what and says why (EIO's text). */
static void assert_eio_naming(eg_store *st, int rc, const char *what)
{
	if (rc != EG_EIO)
		fail_msg("rc %d (%s), want EG_EIO: %s", rc, eg_strerror(rc), st ? eg_errmsg(st) : "");
	const char *m = eg_errmsg(st);
	if (!strstr(m, what) || !strstr(m, strerror(EIO)))
		fail_msg("message \"%s\" does not name %s and %s", m, what, strerror(EIO));
}

static const char *const LINES[] = {
	"{\"id\":\"a1\",\"stream\":\"s1\",\"type\":\"deposit\",\"data\":{\"v\":1}}",
	"{\"id\":\"a2\",\"stream\":\"s2\",\"type\":\"click\",\"data\":{\"v\":2}}",
	"{\"id\":\"a3\",\"stream\":\"s1\",\"type\":\"deposit\",\"data\":{\"v\":3}}",
};
enum { NLINES = sizeof LINES / sizeof *LINES };

/* A store in f->dir/store holding LINES, closed. */
static const char *make_store(tu_fx *f)
{
	snprintf(f->path, sizeof f->path, "%s/store", f->dir);
	eg_store *st = tu_open(f->path, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	tu_append(st, LINES, NLINES);
	assert_int_equal(eg_store_flush(st), EG_OK);
	eg_store_close(st);
	return f->path;
}

/* The store answers as it should: every event, in order, verified. */
static void check_store(const char *dir, int flags)
{
	eg_store *st = tu_open(dir, flags, 0);
	eg_verify_result vr;
	assert_int_equal(eg_store_verify(st, &vr), EG_OK);
	eg_iter *it;
	assert_int_equal(eg_iter_new(st, &it, &(eg_filter){ 0 }), EG_OK);
	const eg_event *e;
	uint64_t n = 0;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK)
		assert_int_equal(e->pos, ++n);
	assert_int_equal(rc, EG_END);
	assert_int_equal(n, NLINES);
	eg_iter_free(it);
	eg_filter flt = { .stream = "s1" };
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	for (n = 0; (rc = eg_iter_next(it, &e)) == EG_OK; n++)
		assert_true(e->stream_len == 2 && !memcmp(e->stream, "s1", 2));
	assert_int_equal(rc, EG_END);
	assert_int_equal(n, 2);
	eg_iter_free(it);
	eg_store_close(st);
}

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static void failed_mkdir_creating_a_store_fails_cleanly(void **state)
{
	tu_fx *f = *state;
	char dir[PATH_MAX], log[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s/new", f->dir);
	snprintf(log, sizeof log, "%s/log", dir);
	const char *which[] = { "/new", "/new/log" };
	for (int i = 0; i < 2; i++) {
		arm(which[i]);
		eg_os.mkdir = failing_mkdir;
		eg_store *st = NULL;
		int rc = eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL);
		disarm();
		assert_int_equal(failures, 1);
		assert_eio_naming(st, rc, dir);
		eg_store_close(st);
		/* nothing that looks like a store was left */
		assert_false(exists(log));
		assert_int_equal(exists(dir), i == 1);
	}
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	tu_append(st, LINES, NLINES);
	eg_store_close(st);
	check_store(dir, EG_OPEN_READ);
}

static void failed_mkdir_of_the_index_fails_the_writer_cleanly(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	char idx[PATH_MAX];
	snprintf(idx, sizeof idx, "%s/idx", dir);
	rm_rf(idx);   /* derived: a writer makes it again */
	arm("/idx");
	eg_os.mkdir = failing_mkdir;
	eg_store *st = NULL;
	int rc = eg_store_open(&st, dir, EG_OPEN_WRITE, NULL);
	disarm();
	assert_int_equal(failures, 1);
	assert_eio_naming(st, rc, idx);
	eg_store_close(st);
	assert_false(exists(idx));
	check_store(dir, EG_OPEN_WRITE);
	check_store(dir, EG_OPEN_READ);
}

static void failed_opendir_listing_segments_fails_the_open_cleanly(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	char log[PATH_MAX];
	snprintf(log, sizeof log, "%s/log", dir);
	int flags[] = { EG_OPEN_READ, EG_OPEN_WRITE };
	for (int i = 0; i < 2; i++) {
		arm("/log");
		eg_os.opendir = failing_opendir;
		eg_store *st = NULL;
		int rc = eg_store_open(&st, dir, flags[i], NULL);
		disarm();
		assert_int_equal(failures, 1);
		assert_eio_naming(st, rc, log);
		eg_store_close(st);
	}
	check_store(dir, EG_OPEN_READ);
	check_store(dir, EG_OPEN_WRITE);
}

/* A file of the index that cannot be examined is not a damaged one: the
 * writer fails with the reason rather than delete and rebuild the index,
 * and a reader, which never repairs, reads the log itself. */
static void failed_fstat_opening_the_index(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	char blocks[PATH_MAX];
	snprintf(blocks, sizeof blocks, "%s/idx/blocks", dir);
	struct stat before;
	assert_int_equal(stat(blocks, &before), 0);

	arm("/idx/blocks");
	eg_os.fstat = failing_fstat;
	eg_store *st = NULL;
	int rc = eg_store_open(&st, dir, EG_OPEN_WRITE, NULL);
	disarm();
	assert_true(failures >= 1);
	assert_eio_naming(st, rc, "idx/blocks");
	eg_store_close(st);
	struct stat after;
	assert_int_equal(stat(blocks, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);   /* not deleted and made again */
	assert_int_equal(after.st_size, before.st_size);

	arm("/idx/blocks");
	eg_os.fstat = failing_fstat;
	check_store(dir, EG_OPEN_READ);
	disarm();
	assert_true(failures >= 1);
	check_store(dir, EG_OPEN_WRITE);
}

/* idx/blocks is read through a mapping; when it cannot be mapped, with
 * pread; when neither works, the read fails naming the file. */
static void failed_mmap_of_idx_blocks_reads_with_pread(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_READ, 0);
	arm("/idx/blocks");
	eg_os.mmap = failing_mmap;
	eg_filter flt = { .stream = "s1" };
	eg_iter *it = NULL;
	const eg_event *e;
	uint64_t n = 0;
	int rc = eg_iter_new(st, &it, &flt);
	while (rc == EG_OK && (rc = eg_iter_next(it, &e)) == EG_OK)
		n++;
	disarm();
	eg_iter_free(it);
	assert_true(failures >= 1);
	assert_int_equal(rc, EG_END);
	assert_true(n > 0);
	eg_store_close(st);
}

static void failed_pread_of_idx_blocks_in_a_scan_fails_cleanly(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_READ, 0);
	arm("/idx/blocks");
	eg_os.mmap = failing_mmap;
	eg_os.pread = failing_pread;
	eg_filter flt = { .stream = "s1" };
	eg_iter *it = NULL;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &flt);
	while (rc == EG_OK)
		rc = eg_iter_next(it, &e);
	disarm();
	eg_iter_free(it);
	assert_true(failures >= 1);
	assert_eio_naming(st, rc, "idx/blocks");
	eg_store_close(st);
	check_store(dir, EG_OPEN_READ);
}

/* A segment that cannot be read is an I/O error, not damage: a scan
 * reports the reason and the segment, never "run engram verify". */
static void failed_pread_of_a_segment_in_a_scan_is_eio_not_damage(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_READ, 0);
	arm(".seg");
	eg_os.pread = failing_pread;
	eg_iter *it = NULL;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &(eg_filter){ 0 });
	while (rc == EG_OK)
		rc = eg_iter_next(it, &e);
	disarm();
	eg_iter_free(it);
	assert_true(failures >= 1);
	assert_eio_naming(st, rc, ".seg");
	eg_store_close(st);
	check_store(dir, EG_OPEN_READ);
}

static void failed_mkdir_making_a_backup_fails_cleanly(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s/copy", f->dir);
	eg_store *st = tu_open(dir, EG_OPEN_READ, 0);
	const char *which[] = { "/copy", "/copy/log", "/copy/consumers" };
	for (int i = 0; i < 3; i++) {
		arm(which[i]);
		eg_os.mkdir = failing_mkdir;
		eg_backup_result res;
		int rc = eg_store_backup(st, copy, &res);
		disarm();
		assert_int_equal(failures, 1);
		assert_eio_naming(st, rc, copy);
		rm_rf(copy);
	}
	eg_backup_result res;
	assert_int_equal(eg_store_backup(st, copy, &res), EG_OK);
	eg_store_close(st);
	check_store(copy, EG_OPEN_READ);
}

/* Events of stream name that the handle finds. */
static uint64_t count_stream(eg_store *st, const char *name)
{
	eg_filter flt = { .stream = name };
	eg_iter *it;
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	const eg_event *e;
	uint64_t n = 0;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK)
		n++;
	assert_int_equal(rc, EG_END);
	eg_iter_free(it);
	return n;
}

/* A reader that cannot look again at idx/keyhash, which a writer has
 * replaced by a larger one, must not take its old table's "no such key"
 * for an answer: it reads the log itself. */
static void failed_stat_refreshing_a_readers_key_table_reads_the_log(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *rd = tu_open(dir, EG_OPEN_READ, 0);
	assert_int_equal(count_stream(rd, "s1"), 2);
	eg_store *wr = tu_open(dir, EG_OPEN_WRITE, 0);
	enum { NEW = 3000 };   /* more keys than the smallest table holds */
	static char buf[NEW][64];
	const char *lines[NEW];
	for (int i = 0; i < NEW; i++) {
		snprintf(buf[i], sizeof buf[i], "{\"stream\":\"n%d\",\"type\":\"t\"}", i);
		lines[i] = buf[i];
	}
	tu_append(wr, lines, NEW);
	assert_int_equal(eg_store_flush(wr), EG_OK);
	eg_store_close(wr);

	arm("/idx/keyhash");
	eg_os.stat = failing_stat;
	uint64_t n_new = count_stream(rd, "n2999"), n_old = count_stream(rd, "s1");
	disarm();
	assert_true(failures >= 1);
	assert_int_equal(n_new, 1);
	assert_int_equal(n_old, 2);
	eg_store_close(rd);
	rd = tu_open(dir, EG_OPEN_READ, 0);
	assert_int_equal(count_stream(rd, "n2999"), 1);
	eg_store_close(rd);
}

/* An id whose earlier event cannot be read is not known to be new: the
 * add fails with the reason rather than store a second event with it. */
static void failed_read_checking_an_id_fails_the_add(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_WRITE, 0);
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	arm(".seg");
	eg_os.pread = failing_pread;
	int rc = eg_batch_add_json(b, LINES[0], strlen(LINES[0]));
	disarm();
	eg_batch_abort(b);
	assert_true(failures >= 1);
	assert_eio_naming(st, rc, ".seg");
	eg_store_close(st);
	check_store(dir, EG_OPEN_READ);
}

static int failing_fdatasync(int fd)
{
	if (fd_ends_with(fd, fail_suffix)) {
		failures++;
		errno = EIO;
		return -1;
	}
	return saved_os.fdatasync(fd);
}

/* One line committed with EG_SYNC_GROUP: its position. */
static uint64_t group_commit(eg_store *st, const char *line)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_GROUP, .expect_version = -1 };
	eg_append_result res;
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	return res.last_pos;
}

static int counting_fdatasync(int fd)
{
	if (fd_ends_with(fd, fail_suffix))
		failures++;
	return saved_os.fdatasync(fd);
}

/* eg_store_sync in three steps (engram serve's group commit): take covers
 * the commits made so far and no more, the store commits on while the
 * sync runs, and done leaves the next take with just what came after. */
static void sync_take_covers_what_was_committed_before_it(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_WRITE, 0);
	eg_sync_work *w = (eg_sync_work *)1;
	uint64_t pos = 0;
	/* nothing committed with EG_SYNC_GROUP yet: nothing to sync */
	assert_int_equal(eg_store_sync_take(st, &w, &pos), EG_OK);
	assert_null(w);
	uint64_t p1 = group_commit(st, "{\"id\":\"g1\",\"type\":\"t\"}");
	assert_int_equal(eg_store_sync_take(st, &w, &pos), EG_OK);
	assert_non_null(w);
	assert_int_equal(pos, p1);
	/* committed after the take: not covered by this sync, by the next */
	uint64_t p2 = group_commit(st, "{\"id\":\"g2\",\"type\":\"t\"}");
	arm(".seg");
	eg_os.fdatasync = counting_fdatasync;
	assert_int_equal(eg_sync_run(w), EG_OK);
	disarm();
	assert_int_equal(failures, 1);
	assert_int_equal(eg_store_sync_done(st, w), EG_OK);
	eg_sync_work *w2;
	assert_int_equal(eg_store_sync_take(st, &w2, &pos), EG_OK);
	assert_non_null(w2);
	assert_int_equal(pos, p2);
	assert_int_equal(eg_sync_run(w2), EG_OK);
	assert_int_equal(eg_store_sync_done(st, w2), EG_OK);
	assert_int_equal(eg_store_sync_take(st, &w2, &pos), EG_OK);
	assert_null(w2);
	eg_store_close(st);
	st = tu_open(dir, EG_OPEN_READ, 0);
	eg_verify_result vr;
	assert_int_equal(eg_store_verify(st, &vr), EG_OK);
	assert_int_equal(vr.head_pos, p2);
	eg_store_close(st);
}

/* A sync that fails on another thread fails the store when done is told:
 * EG_EIO naming the segment, and no further commit is acknowledged. */
static void failed_sync_run_fails_the_store_at_done(void **state)
{
	tu_fx *f = *state;
	const char *dir = make_store(f);
	eg_store *st = tu_open(dir, EG_OPEN_WRITE, 0);
	group_commit(st, "{\"id\":\"g1\",\"type\":\"t\"}");
	eg_sync_work *w;
	uint64_t pos;
	assert_int_equal(eg_store_sync_take(st, &w, &pos), EG_OK);
	assert_non_null(w);
	arm(".seg");
	eg_os.fdatasync = failing_fdatasync;
	assert_int_equal(eg_sync_run(w), EG_EIO);
	disarm();
	assert_int_equal(failures, 1);
	assert_eio_naming(st, eg_store_sync_done(st, w), ".seg");
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_GROUP, .expect_version = -1 };
	int rc = eg_batch_begin(st, &b, &o);
	if (rc == EG_OK) {
		const char *line = "{\"id\":\"g2\",\"type\":\"t\"}";
		rc = eg_batch_add_json(b, line, strlen(line));
		rc = rc ? rc : eg_batch_commit(b, NULL);
		if (rc)
			eg_batch_abort(b);
	}
	assert_int_equal(rc, EG_EIO);
	assert_int_equal(eg_store_sync_take(st, &w, &pos), EG_EIO);
	eg_store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(failed_mkdir_creating_a_store_fails_cleanly),
		T(failed_mkdir_of_the_index_fails_the_writer_cleanly),
		T(failed_opendir_listing_segments_fails_the_open_cleanly),
		T(failed_fstat_opening_the_index),
		T(failed_mmap_of_idx_blocks_reads_with_pread),
		T(failed_pread_of_idx_blocks_in_a_scan_fails_cleanly),
		T(failed_stat_refreshing_a_readers_key_table_reads_the_log),
		T(failed_pread_of_a_segment_in_a_scan_is_eio_not_damage),
		T(failed_mkdir_making_a_backup_fails_cleanly),
		T(failed_read_checking_an_id_fails_the_add),
		T(sync_take_covers_what_was_committed_before_it),
		T(failed_sync_run_fails_the_store_at_done),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

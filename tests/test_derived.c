/* test_derived.c — the derived-state module (src/derived.c): checkpoints
 * round-trip, damaged or missing ones are never returned, a crashed
 * writer's tmp file is ignored and cleaned, drops remove what they name,
 * and reindex runs every registered kind. */
#include "testutil.h"
#include "derived.h"
#include "os.h"

#include <errno.h>
#include <sys/mman.h>
#include <xxhash.h>

typedef struct fx {
	char dir[256];
	eg_store *st;
	eg_ds d;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/egtest_derived_%d", getpid());
	rm_rf(f->dir);
	assert_int_equal(eg_store_open(&f->st, f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL), EG_OK);
	assert_int_equal(eg_ds_open(f->st, "test", "00112233445566778899aabbccddeeff", 0, "{\"a\":1}", 7,
				    &f->d), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	eg_ds_close(&f->d);
	eg_store_close(f->st);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static const char BODY[] = "the state of a derived kind, as bytes";

static int exists(const fx *f, const char *name)
{
	char p[PATH_MAX];
	eg_ds_path(&f->d, name, p);
	return access(p, F_OK) == 0;
}

/* Change the file: flip byte at (from the end if negative), or cut it. */
static void spoil(const fx *f, const char *name, long at, int cut)
{
	char p[PATH_MAX];
	eg_ds_path(&f->d, name, p);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	off_t n = lseek(fd, 0, SEEK_END);
	if (cut) {
		assert_int_equal(ftruncate(fd, n - cut), 0);
	} else {
		off_t o = at < 0 ? n + at : at;
		unsigned char c;
		assert_int_equal(pread(fd, &c, 1, o), 1);
		c ^= 0x10;
		assert_int_equal(pwrite(fd, &c, 1, o), 1);
	}
	close(fd);
}

static void checkpoint_round_trips(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_write(&f->d, "ck", BODY, sizeof BODY), 0);
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "ck", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v), EG_OK);
	assert_int_equal(v.n, sizeof BODY + 8);
	assert_memory_equal(v.p, BODY, sizeof BODY);
	eg_ds_view_free(&v);
	assert_false(exists(f, "ck.tmp"));
	assert_true(exists(f, "spec.json") && exists(f, "lock"));
}

static int hdr_ok(const unsigned char *p, size_t n, void *ctx)
{
	uint64_t c;
	(void)ctx;
	memcpy(&c, p, 8);
	return n >= 8 && c == XXH3_64bits(p + 8, n - 8) ? 0 : -1;
}

static void streamed_checkpoint_with_header_round_trips(void **state)
{
	fx *f = *state;
	eg_ds_wr w;
	assert_int_equal(eg_ds_wr_begin(&w, &f->d, "hdr", 8), 0);
	for (size_t i = 0; i < sizeof BODY; i += 5)
		eg_ds_wr_put(&w, BODY + i, sizeof BODY - i < 5 ? sizeof BODY - i : 5, 1);
	uint64_t c = eg_ds_wr_digest(&w);
	assert_int_equal(eg_ds_wr_commit(&w, &c, 8, 0), 0);
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "hdr", 0, 8, hdr_ok, NULL, &v), EG_OK);
	assert_memory_equal(v.p + 8, BODY, sizeof BODY);
	eg_ds_view_free(&v);
}

static void flipped_byte_is_damaged_not_returned(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_write(&f->d, "ck", BODY, sizeof BODY), 0);
	spoil(f, "ck", 3, 0);
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "ck", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v),
			 EG_DS_DAMAGED);
	assert_null(v.p);
	assert_int_equal(v.n, 0);
}

static void truncated_file_is_damaged(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_write(&f->d, "ck", BODY, sizeof BODY), 0);
	spoil(f, "ck", 0, 5);
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "ck", 0, 8, eg_ds_tail_sum_ok, NULL, &v), EG_DS_DAMAGED);
	assert_null(v.p);
	spoil(f, "ck", 0, (int)sizeof BODY);          /* shorter than its minimum */
	assert_int_equal(eg_ds_read(&f->d, "ck", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v),
			 EG_DS_DAMAGED);
}

static void missing_checkpoint_is_absent(void **state)
{
	fx *f = *state;
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "none", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v),
			 EG_DS_ABSENT);
	assert_null(v.p);
}

static void *failing_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
	(void)a, (void)n, (void)prot, (void)flags, (void)fd, (void)off;
	errno = ENOMEM;
	return MAP_FAILED;
}

/* A checkpoint that cannot be mapped is an I/O error with its reason, not
 * damage: the caller may report it (it was written a moment ago). */
static void unreadable_checkpoint_is_an_io_error_with_errno(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_write(&f->d, "state", BODY, sizeof BODY), 0);
	void *(*was)(void *, size_t, int, int, int, off_t) = eg_os.mmap;
	eg_os.mmap = failing_mmap;
	eg_ds_view v;
	errno = 0;
	int rc = eg_ds_read(&f->d, "state", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v);
	int e = errno;
	eg_os.mmap = was;
	assert_int_equal(rc, EG_DS_IOERR);
	assert_int_equal(e, ENOMEM);
	assert_null(v.p);
	assert_int_equal(eg_ds_read(&f->d, "state", EG_DS_MAP, 8, eg_ds_tail_sum_ok, NULL, &v), EG_OK);
	eg_ds_view_free(&v);
}

static void crashed_writers_tmp_is_ignored_then_cleaned(void **state)
{
	fx *f = *state;
	char p[PATH_MAX];
	eg_ds_path(&f->d, "ck.tmp", p);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, BODY, sizeof BODY), (ssize_t)sizeof BODY);
	close(fd);
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "ck", 0, 8, eg_ds_tail_sum_ok, NULL, &v), EG_DS_ABSENT);
	assert_int_equal(eg_ds_lock(f->st, &f->d), EG_OK);
	eg_ds_unlock(&f->d);
	assert_false(exists(f, "ck.tmp"));
}

static void drops_remove_files_and_directories(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_write(&f->d, "ck", BODY, sizeof BODY), 0);
	assert_int_equal(eg_ds_drop_files(f->st, "test"), EG_OK);
	assert_false(exists(f, "ck"));
	assert_true(exists(f, "lock") && exists(f, "spec.json"));
	assert_int_equal(eg_ds_remove_dir(f->d.dir), 0);
	assert_int_not_equal(access(f->d.dir, F_OK), 0);
}

static int rebuilt;

static int rebuild_test(eg_store *st)
{
	eg_ds d;
	rebuilt++;
	if (eg_ds_open(st, "test", "00112233445566778899aabbccddeeff", 0, NULL, 0, &d))
		return EG_EIO;
	int rc = eg_ds_write(&d, "ck", "again", 5) ? EG_EIO : EG_OK;
	eg_ds_close(&d);
	return rc;
}

static void reindex_drops_and_rebuilds_every_kind(void **state)
{
	fx *f = *state;
	assert_int_equal(eg_ds_register("test", "test kind", NULL, rebuild_test), 0);
	assert_int_equal(eg_ds_write(&f->d, "ck", BODY, sizeof BODY), 0);
	eg_ds w;
	assert_int_equal(eg_ds_open(f->st, "win", "ffeeddccbbaa99887766554433221100", 0, NULL, 0, &w), 0);
	assert_int_equal(eg_ds_write(&w, "state", BODY, sizeof BODY), 0);
	rebuilt = 0;
	assert_int_equal(eg_store_reindex(f->st), EG_OK);
	assert_int_equal(rebuilt, 1);
	char p[PATH_MAX];
	eg_ds_path(&w, "state", p);
	assert_int_not_equal(access(p, F_OK), 0);   /* dropped, rebuilt on next run */
	eg_ds_view v;
	assert_int_equal(eg_ds_read(&f->d, "ck", 0, 8, eg_ds_tail_sum_ok, NULL, &v), EG_OK);
	assert_int_equal(v.n, 5 + 8);
	assert_memory_equal(v.p, "again", 5);
	eg_ds_view_free(&v);
	eg_ds_close(&w);
	size_t n;
	const eg_ds_kind *k = eg_ds_kinds(&n);
	assert_true(n >= 4);
	assert_string_equal(k[0].sub, "proj");
	assert_string_equal(k[1].sub, "win");
	assert_string_equal(k[2].sub, "sess");
	assert_int_equal(eg_ds_register("test", "test kind", NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(checkpoint_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(streamed_checkpoint_with_header_round_trips, setup,
						teardown),
		cmocka_unit_test_setup_teardown(flipped_byte_is_damaged_not_returned, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_file_is_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_checkpoint_is_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(unreadable_checkpoint_is_an_io_error_with_errno, setup,
						teardown),
		cmocka_unit_test_setup_teardown(crashed_writers_tmp_is_ignored_then_cleaned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(drops_remove_files_and_directories, setup, teardown),
		cmocka_unit_test_setup_teardown(reindex_drops_and_rebuilds_every_kind, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

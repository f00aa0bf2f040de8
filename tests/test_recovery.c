/*
 * test_recovery.c — crashes, damage and faults, as a specification:
 * a torn last batch (cut at every byte) is rolled back to the previous
 * commit; zero-filled and garbage tails are cut; damage inside committed
 * data is reported by verify with its place and makes a writer's open
 * refuse rather than cut; one writer at a time across processes; and I/O
 * failures injected through the eg_os table (src/util/os.h) fail the call
 * cleanly and leave a store that reopens consistent.
 */
#include "testutil.h"
#include "engram.h"
#include "os.h"
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

typedef struct fx {
	char tmp[64];
	char dir[128];     /* the store */
	char base[128];    /* a saved copy of the store */
	char work[128];    /* scratch copy per iteration */
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/eg-recovery-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/store", f->tmp);
	snprintf(f->base, sizeof f->base, "%s/base", f->tmp);
	snprintf(f->work, sizeof f->work, "%s/work", f->tmp);
	*state = f;
	return 0;
}

static eg_os_vtab saved_os;
static char where[128];   /* the case check_torn_tail is at, for messages */

static int teardown(void **state)
{
	fx *f = *state;
	if (saved_os.open)
		eg_os = saved_os;   /* a failed fault test must not leak its fault */
	where[0] = 0;
	rm_rf(f->tmp);
	free(f);
	return 0;
}

static eg_store *open_st(const char *dir, int flags, uint64_t seg_bytes)
{
	return tu_open(dir, flags, seg_bytes);
}

static eg_store *open_w(const char *dir)
{
	return open_st(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
}

static eg_store *open_r(const char *dir)
{
	return open_st(dir, EG_OPEN_READ, 0);
}

/* Append events first..first+n-1 as one batch (ids e<i>, some padding). */
static eg_append_result append_n(eg_store *st, int first, int n, int sync)
{
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .sync = sync };
	int rc = eg_batch_begin(st, &b, &o);
	if (rc != EG_OK)
		fail_msg("begin: %s: %s", eg_strerror(rc), eg_errmsg(st));
	char line[512];
	for (int i = first; i < first + n; i++) {
		snprintf(line, sizeof line, "{\"id\":\"e%d\",\"stream\":\"s%d\",\"type\":\"t%d\","
			 "\"data\":{\"i\":%d,\"pad\":\"%.*s\"}}", i, i % 3, i % 2, i, i % 40,
			 "................................................");
		if ((rc = eg_batch_add_json(b, line, strlen(line))) != EG_OK)
			fail_msg("add: %s: %s", eg_strerror(rc), eg_errmsg(st));
	}
	eg_append_result r;
	if ((rc = eg_batch_commit(b, &r)) != EG_OK)
		fail_msg("commit: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return r;
}

static eg_head head_of(eg_store *st)
{
	eg_head h;
	int rc = eg_store_head(st, &h);
	if (rc != EG_OK)
		fail_msg("head: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return h;
}

/* Every event has pos 1..head in order, with ids e1.. as appended;
 * returns the count. */
static uint64_t check_dense(eg_store *st)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	const eg_event *e;
	uint64_t n = 0;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		n++;
		if (e->pos != n)
			fail_msg("%sevent #%llu has pos %llu", where, (unsigned long long)n,
				 (unsigned long long)e->pos);
		char id[32];
		int k = snprintf(id, sizeof id, "e%llu", (unsigned long long)n);
		if (e->id_len != (size_t)k || memcmp(e->id, id, (size_t)k))
			fail_msg("pos %llu has id %.*s", (unsigned long long)n, (int)e->id_len, e->id);
	}
	if (rc != EG_END)
		fail_msg("iter: %s: %s", eg_strerror(rc), eg_errmsg(st));
	eg_iter_free(it);
	assert_int_equal(n, head_of(st).pos);
	return n;
}

static void verify_ok(eg_store *st)
{
	eg_verify_result v;
	int rc = eg_store_verify(st, &v);
	if (rc != EG_OK)
		fail_msg("%sverify: %s: %s", where, eg_strerror(rc), eg_errmsg(st));
	eg_head h = head_of(st);
	assert_int_equal(v.events, h.pos);
	assert_int_equal(v.head_pos, h.pos);
	assert_memory_equal(v.hash, h.hash, 32);
}

/* Segment file names of the store, sorted; returns how many. */
static int segments(const char *dir, char names[][32], int cap)
{
	char logdir[256];
	snprintf(logdir, sizeof logdir, "%s/log", dir);
	DIR *d = opendir(logdir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".seg")) {
			assert_true(n < cap);
			snprintf(names[n++], 32, "%s", de->d_name);
		}
	}
	closedir(d);
	qsort(names, (size_t)n, 32, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void seg_path(const char *dir, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/log/%s", dir, name);
}

static off_t file_size(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *n)
{
	*n = (size_t)file_size(path);
	unsigned char *buf = malloc(*n + 1);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, *n), (ssize_t)*n);
	close(fd);
	return buf;
}

static void write_at(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

/* XOR the byte at off with mask. */
static void flip_bits(const char *path, off_t off, unsigned char mask)
{
	unsigned char c;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= mask;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void flip_byte(const char *path, off_t off)
{
	flip_bits(path, off, 0x5a);
}

/* Records of a segment file (white-box, per record.h). */
typedef struct recinfo {
	uint64_t off, len, pos;   /* pos: the event's, or the commit's first_pos */
	int type;
} recinfo;

static int records(const char *path, recinfo *out, int cap)
{
	size_t n;
	unsigned char *m = slurp(path, &n);
	int k = 0;
	for (size_t off = SEG_HDR_LEN; off + REC_PREFIX <= n; ) {
		uint32_t len = rd32(m + off);
		assert_true(len >= REC_PREFIX && off + len <= n);
		assert_true(k < cap);
		out[k].off = off;
		out[k].len = len;
		out[k].type = m[off + 8];
		out[k].pos = rd64(m + off + 10);
		k++;
		off += len;
	}
	free(m);
	return k;
}

static void expect_corrupt_at(eg_store *st, const char *seg, uint64_t off)
{
	eg_verify_result v;
	memset(&v, 0, sizeof v);
	int rc = eg_store_verify(st, &v);
	if (rc != EG_ECORRUPT)
		fail_msg("verify returned %s, expected EG_ECORRUPT", eg_strerror(rc));
	assert_true(strlen(eg_errmsg(st)) > 0);
	assert_string_equal(v.bad_segment, seg);
	if (v.bad_offset != off)
		fail_msg("bad_offset %llu, expected %llu (%s)", (unsigned long long)v.bad_offset,
			 (unsigned long long)off, eg_errmsg(st));
}

/* ----------------------------------------------------- torn last batch */

/*
 * base: the store after batch A (clean close, index covering A).
 * full: the segment as it is after batch B was also committed.
 * For every length from the end of A to the end of B, rebuild the store as
 * a crash while writing B would leave it (A's index, B cut at that length;
 * or no index at all) and check that a writer's open rolls back to A.
 */
static void check_torn_tail(fx *f, const char *segname, size_t a_len,
			    const unsigned char *full, size_t full_len,
			    const char *extra_seg, const eg_head *ha, const eg_head *hb,
			    uint64_t seg_bytes)
{
	for (size_t cut = a_len; cut <= full_len; cut++) {
		for (int no_idx = 0; no_idx < 2; no_idx++) {
			rm_rf(f->work);
			tu_copy_tree(f->base, f->work);
			if (no_idx) {
				char idx[256];
				snprintf(idx, sizeof idx, "%s/idx", f->work);
				rm_rf(idx);
			}
			char path[256];
			seg_path(f->work, segname, path, sizeof path);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, full, cut), (ssize_t)cut);
			close(fd);
			int complete = cut == full_len;
			snprintf(where, sizeof where, "cut at %zu%s: ", cut, no_idx ? " (no idx)" : "");
			eg_store *st = NULL;
			eg_open_opts o = { .segment_bytes = seg_bytes };
			int rc = eg_store_open(&st, f->work, EG_OPEN_WRITE, &o);
			if (rc != EG_OK)
				fail_msg("cut at %zu%s: open: %s: %s", cut, no_idx ? " (no idx)" : "",
					 eg_strerror(rc), eg_errmsg(st));
			eg_head h = head_of(st);
			const eg_head *want = complete ? hb : ha;
			if (h.pos != want->pos || memcmp(h.hash, want->hash, 32))
				fail_msg("cut at %zu%s: head %llu, expected %llu", cut,
					 no_idx ? " (no idx)" : "", (unsigned long long)h.pos,
					 (unsigned long long)want->pos);
			if (!complete && !extra_seg)
				assert_int_equal(file_size(path), (off_t)a_len);
			verify_ok(st);
			/* Appending again continues densely from the head. */
			eg_append_result r = append_n(st, (int)h.pos + 1, 2, EG_SYNC_NONE);
			assert_int_equal(r.first_pos, h.pos + 1);
			assert_int_equal(check_dense(st), h.pos + 2);
			verify_ok(st);
			eg_store_close(st);
			st = open_r(f->work);
			assert_int_equal(check_dense(st), h.pos + 2);
			verify_ok(st);
			eg_store_close(st);
		}
	}
	where[0] = 0;
}

static void truncating_the_last_batch_at_every_offset_recovers_the_previous_commit(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 3, EG_SYNC_ALWAYS);
	eg_head ha = head_of(st);
	eg_store_close(st);
	tu_copy_tree(f->dir, f->base);
	char names[8][32];
	assert_int_equal(segments(f->dir, names, 8), 1);
	char path[256];
	seg_path(f->dir, names[0], path, sizeof path);
	size_t a_len = (size_t)file_size(path);

	st = open_w(f->dir);
	append_n(st, 4, 3, EG_SYNC_ALWAYS);
	eg_head hb = head_of(st);
	eg_store_close(st);
	assert_int_equal(segments(f->dir, names, 8), 1);
	size_t full_len;
	unsigned char *full = slurp(path, &full_len);
	assert_true(full_len > a_len + COMMIT_LEN);
	check_torn_tail(f, names[0], a_len, full, full_len, NULL, &ha, &hb, 0);
	free(full);
}

static void truncating_a_batch_that_started_a_new_segment_recovers_the_previous_commit(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 9, EG_SYNC_ALWAYS);
	eg_head ha = head_of(st);
	eg_store_close(st);
	char names[8][32], first[256];
	int n0 = segments(f->dir, names, 8);
	assert_int_equal(n0, 1);
	tu_copy_tree(f->dir, f->base);
	/* Segments of just the size of A: B must start a new one. */
	seg_path(f->dir, names[0], first, sizeof first);
	const uint64_t seg_bytes = (uint64_t)file_size(first) + 1;

	st = open_st(f->dir, EG_OPEN_WRITE, seg_bytes);
	append_n(st, 10, 2, EG_SYNC_ALWAYS);
	eg_head hb = head_of(st);
	eg_store_close(st);
	assert_int_equal(segments(f->dir, names, 8), n0 + 1);   /* B is alone in it */
	char path[256];
	seg_path(f->dir, names[n0], path, sizeof path);
	size_t full_len;
	unsigned char *full = slurp(path, &full_len);
	/* From no file content at all up to the complete segment. */
	check_torn_tail(f, names[n0], 0, full, full_len, names[n0], &ha, &hb, seg_bytes);
	free(full);
}

/* -------------------------------------------------------- bad tails */

static void check_tail_is_cut(fx *f, const unsigned char *tail, size_t n)
{
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 4, EG_SYNC_ALWAYS);
	append_n(st, 5, 2, EG_SYNC_ALWAYS);
	eg_head h0 = head_of(st);
	eg_store_close(st);
	char names[4][32], path[256];
	assert_int_equal(segments(f->dir, names, 4), 1);
	seg_path(f->dir, names[0], path, sizeof path);
	off_t size = file_size(path);
	write_at(path, size, tail, n);

	st = open_w(f->dir);
	eg_head h = head_of(st);
	assert_int_equal(h.pos, h0.pos);
	assert_memory_equal(h.hash, h0.hash, 32);
	assert_int_equal(file_size(path), size);
	verify_ok(st);
	eg_append_result r = append_n(st, 7, 3, EG_SYNC_ALWAYS);
	assert_int_equal(r.first_pos, 7);
	assert_int_equal(check_dense(st), 9);
	eg_store_close(st);
	st = open_r(f->dir);
	verify_ok(st);
	assert_int_equal(check_dense(st), 9);
	eg_store_close(st);
}

static void zero_filled_tail_is_cut(void **state)
{
	unsigned char zeros[8192] = { 0 };
	check_tail_is_cut(*state, zeros, sizeof zeros);
}

static void garbage_tail_is_cut(void **state)
{
	unsigned char junk[5000];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (unsigned char)(x >> 16);
	}
	check_tail_is_cut(*state, junk, sizeof junk);
}

static void tail_that_looks_like_an_event_record_is_cut(void **state)
{
	/* A plausible prefix: a length that fits, the event type, a bad check. */
	unsigned char rec[200];
	memset(rec, 0x41, sizeof rec);
	wr32(rec, sizeof rec);
	wr32(rec + 4, 0xdeadbeef);
	rec[8] = REC_EVENT;
	rec[9] = 0;
	wr64(rec + 10, 7);
	check_tail_is_cut(*state, rec, sizeof rec);
}

/* ------------------------------------------------ damage in committed data */

/* Several batches over several 1 KiB segments; returns the head. */
static eg_head build_multi_segment(fx *f, char names[][32], int *nseg)
{
	eg_store *st = open_st(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 1024);
	for (int b = 0; b < 8; b++)
		append_n(st, b * 5 + 1, 5, EG_SYNC_NONE);
	eg_head h = head_of(st);
	eg_store_close(st);
	*nseg = segments(f->dir, names, 64);
	assert_true(*nseg >= 4);
	return h;
}

/* First record of the given type in segment k (not the segment's first
 * record, so that the damage is inside it). */
static recinfo find_record(fx *f, const char *segname, int type)
{
	char path[256];
	seg_path(f->dir, segname, path, sizeof path);
	recinfo r[256];
	int n = records(path, r, 256);
	for (int i = 1; i < n; i++)
		if (r[i].type == type)
			return r[i];
	fail_msg("no record of type %c in %s", type, segname);
	return r[0];
}

static void verify_reports_flipped_byte_in_an_event_record(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	const char *seg = names[nseg / 2];
	recinfo ev = find_record(f, seg, REC_EVENT);
	seg_path(f->dir, seg, path, sizeof path);
	flip_byte(path, (off_t)(ev.off + ev.len - 3));   /* inside its data */
	eg_store *st = open_r(f->dir);
	expect_corrupt_at(st, seg, ev.off);
	eg_verify_result v;
	eg_store_verify(st, &v);
	assert_int_equal(v.bad_pos, ev.pos);
	eg_store_close(st);
}

static void verify_reports_flipped_byte_in_a_commit_record(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	const char *seg = names[1];
	recinfo c = find_record(f, seg, REC_COMMIT);
	seg_path(f->dir, seg, path, sizeof path);
	flip_byte(path, (off_t)(c.off + 50));   /* inside its chain value */
	eg_store *st = open_r(f->dir);
	expect_corrupt_at(st, seg, c.off);
	eg_store_close(st);
}

static void verify_reports_flipped_byte_in_a_segment_header(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	const char *seg = names[2];
	seg_path(f->dir, seg, path, sizeof path);
	flip_byte(path, 30);   /* inside prev_chain */
	eg_store *st = open_r(f->dir);
	expect_corrupt_at(st, seg, 0);
	eg_store_close(st);
}

static void verify_reports_flipped_byte_in_the_first_segment_header(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	seg_path(f->dir, names[0], path, sizeof path);
	flip_byte(path, 3);   /* the magic */
	eg_store *st = NULL;
	int rc = eg_store_open(&st, f->dir, EG_OPEN_READ, NULL);
	if (rc == EG_OK)
		expect_corrupt_at(st, names[0], 0);
	else
		assert_int_equal(rc, EG_ECORRUPT);
	eg_store_close(st);
}

static void verify_detects_a_rewritten_record_by_the_hash_chain(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	const char *seg = names[nseg / 2];
	recinfo ev = find_record(f, seg, REC_EVENT);
	seg_path(f->dir, seg, path, sizeof path);
	/* Change a payload byte and fix the record's own checksum, as a
	 * tamperer would: only the hash chain can tell. */
	size_t n;
	unsigned char *m = slurp(path, &n);
	unsigned char *r = m + ev.off;
	r[ev.len - 3] ^= 0x01;
	wr32(r + 4, eg_rec_check(r + 8, ev.len - 8));
	write_at(path, (off_t)ev.off, r, ev.len);
	free(m);
	recinfo rr[256];
	int k = records(path, rr, 256);
	uint64_t commit_off = 0;
	for (int i = 0; i < k; i++)
		if (rr[i].off > ev.off && rr[i].type == REC_COMMIT) {
			commit_off = rr[i].off;
			break;
		}
	eg_store *st = open_r(f->dir);
	eg_verify_result v;
	assert_int_equal(eg_store_verify(st, &v), EG_ECORRUPT);
	assert_non_null(strstr(eg_errmsg(st), "chain"));
	assert_string_equal(v.bad_segment, seg);
	if (commit_off)   /* the batch's commit is in the same segment */
		assert_int_equal(v.bad_offset, commit_off);
	eg_store_close(st);
}

/* Every byte of a small log in turn, one bit of it flipped (a different bit
 * from byte to byte): verify reports the damage at the record it hit (or at
 * the segment header); reading every event ends in EG_ECORRUPT, not in
 * EG_END, if a record was hit; and a writer's open cuts nothing (it checks the segment headers
 * and the log after the head its index recorded, so it refuses damage
 * there and leaves the rest to readers and verify, without reading the
 * whole log at every open). */
static void every_bit_flip_in_the_log_is_reported_at_its_record(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	for (int b = 0; b < 3; b++)
		append_n(st, b * 3 + 1, 3, EG_SYNC_NONE);
	eg_store_close(st);
	char names[4][32], path[256];
	assert_int_equal(segments(f->dir, names, 4), 1);
	seg_path(f->dir, names[0], path, sizeof path);
	recinfo r[64];
	int nrec = records(path, r, 64);
	assert_int_equal(nrec, 12);
	off_t size = file_size(path);
	tu_copy_tree(f->dir, f->base);
	char wpath[256];
	seg_path(f->work, names[0], wpath, sizeof wpath);
	for (off_t off = 0; off < size; off++) {
		uint64_t at = 0;   /* where the damage is to be reported */
		for (int i = 0; i < nrec; i++)
			if ((uint64_t)off >= r[i].off)
				at = r[i].off;
		snprintf(where, sizeof where, "bit %d of byte %lld: ", (int)(off % 8), (long long)off);
		int short_log = 0;
		rm_rf(f->work);
		tu_copy_tree(f->base, f->work);
		flip_bits(wpath, off, (unsigned char)(1u << (off % 8)));
		st = NULL;
		int rc = eg_store_open(&st, f->work, EG_OPEN_READ, NULL);
		if (rc == EG_OK) {
			eg_verify_result v;
			memset(&v, 0, sizeof v);
			rc = eg_store_verify(st, &v);
			if (rc != EG_ECORRUPT)
				fail_msg("%sverify returned %s", where, eg_strerror(rc));
			if (strcmp(v.bad_segment, names[0]) || v.bad_offset != at)
				fail_msg("%sreported at %s offset %llu, not at offset %llu (%s)", where,
					 v.bad_segment, (unsigned long long)v.bad_offset,
					 (unsigned long long)at, eg_errmsg(st));
			eg_iter *it;
			eg_filter all = { 0 };
			assert_int_equal(eg_iter_new(st, &it, &all), EG_OK);
			const eg_event *e;
			while ((rc = eg_iter_next(it, &e)) == EG_OK)
				;
			eg_iter_free(it);
			/* (a damaged header leaves each event's own check intact;
			 * a damaged last commit hides its batch from a reader,
			 * which the writer must then refuse) */
			short_log = head_of(st).pos < 9;
			if (rc != EG_ECORRUPT && off >= SEG_HDR_LEN && !short_log)
				fail_msg("%sreading every event ended in %s", where, eg_strerror(rc));
		} else if (rc != EG_ECORRUPT || off >= SEG_HDR_LEN) {
			fail_msg("%sa reader's open returned %s: %s", where, eg_strerror(rc),
				 eg_errmsg(st));
		}
		eg_store_close(st);
		st = NULL;
		rc = eg_store_open(&st, f->work, EG_OPEN_WRITE, NULL);
		if (rc != EG_ECORRUPT && rc != EG_OK)
			fail_msg("%sa writer's open returned %s", where, eg_strerror(rc));
		if ((off < SEG_HDR_LEN || short_log) && rc != EG_ECORRUPT)
			fail_msg("%sa writer opened a log whose %s is damaged", where,
				 short_log ? "last commit" : "segment header");
		eg_store_close(st);
		assert_int_equal(file_size(wpath), size);
	}
	where[0] = 0;
}

/* Sizes of every segment file, to prove nothing was cut. */
static void sizes(fx *f, char names[][32], int n, off_t *out)
{
	for (int i = 0; i < n; i++) {
		char path[256];
		seg_path(f->dir, names[i], path, sizeof path);
		out[i] = file_size(path);
	}
}

static void check_open_refuses_and_cuts_nothing(fx *f, char names[][32], int nseg)
{
	off_t before[64], after[64];
	sizes(f, names, nseg, before);
	eg_store *st = NULL;
	int rc = eg_store_open(&st, f->dir, EG_OPEN_WRITE, NULL);
	if (rc != EG_ECORRUPT)
		fail_msg("open for write returned %s, expected EG_ECORRUPT", eg_strerror(rc));
	assert_true(strlen(eg_errmsg(st)) > 0);
	eg_store_close(st);
	char now[64][32];
	assert_int_equal(segments(f->dir, now, 64), nseg);
	sizes(f, names, nseg, after);
	assert_memory_equal(before, after, (size_t)nseg * sizeof *before);
}

static void open_for_write_refuses_damage_in_an_earlier_segment(void **state)
{
	fx *f = *state;
	char names[64][32], path[256], idx[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	recinfo ev = find_record(f, names[1], REC_EVENT);
	seg_path(f->dir, names[1], path, sizeof path);
	flip_byte(path, (off_t)(ev.off + ev.len - 3));
	/* Without the index the open must scan the log from its start. */
	snprintf(idx, sizeof idx, "%s/idx", f->dir);
	rm_rf(idx);
	check_open_refuses_and_cuts_nothing(f, names, nseg);
}

static void open_for_write_refuses_damage_before_a_commit_in_the_last_segment(void **state)
{
	fx *f = *state;
	char path[256], idx[256];
	eg_store *st = open_w(f->dir);
	for (int b = 0; b < 4; b++)
		append_n(st, b * 3 + 1, 3, EG_SYNC_NONE);
	eg_store_close(st);
	char names[4][32];
	assert_int_equal(segments(f->dir, names, 4), 1);
	recinfo ev = find_record(f, names[0], REC_EVENT);   /* in the first batch */
	seg_path(f->dir, names[0], path, sizeof path);
	flip_byte(path, (off_t)(ev.off + ev.len - 3));
	snprintf(idx, sizeof idx, "%s/idx", f->dir);
	rm_rf(idx);
	check_open_refuses_and_cuts_nothing(f, names, 1);
}

static void open_for_write_refuses_a_log_shorter_than_the_index_says_was_committed(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	/* The last segment is lost, the index still says its batches were
	 * committed: that is lost data, not a torn tail. */
	seg_path(f->dir, names[nseg - 1], path, sizeof path);
	assert_int_equal(unlink(path), 0);
	check_open_refuses_and_cuts_nothing(f, names, nseg - 1);
}

static void damage_in_committed_data_is_reported_by_readers(void **state)
{
	fx *f = *state;
	char names[64][32], path[256];
	int nseg;
	build_multi_segment(f, names, &nseg);
	recinfo ev = find_record(f, names[1], REC_EVENT);
	seg_path(f->dir, names[1], path, sizeof path);
	flip_byte(path, (off_t)(ev.off + ev.len - 3));
	eg_store *st = open_r(f->dir);
	eg_iter *it;
	eg_filter flt = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	const eg_event *e;
	int rc;
	uint64_t seen = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK)
		seen = e->pos;
	assert_int_equal(rc, EG_ECORRUPT);    /* never silently skipped */
	assert_int_equal(seen, ev.pos - 1);
	eg_iter_free(it);
	eg_store_close(st);
}

/* ------------------------------------------------------- the write lock */

static void second_writer_in_another_process_gets_elocked(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 1, EG_SYNC_ALWAYS);
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		eg_store *c = NULL;
		int rc = eg_store_open(&c, f->dir, EG_OPEN_WRITE, NULL);
		char want[64];
		snprintf(want, sizeof want, "locked by pid %ld", (long)parent);
		if (rc != EG_ELOCKED)
			_exit(10);
		if (!strstr(eg_errmsg(c), want))
			_exit(11);
		eg_store_close(c);
		/* Reading needs no lock. */
		if (eg_store_open(&c, f->dir, EG_OPEN_READ, NULL) != EG_OK)
			_exit(12);
		eg_head h;
		if (eg_store_head(c, &h) || h.pos != 1)
			_exit(13);
		eg_store_close(c);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("child failed with %d (10: not ELOCKED, 11: message, 12/13: reader)",
			 WEXITSTATUS(status));
	/* The holder can still write. */
	append_n(st, 2, 1, EG_SYNC_ALWAYS);
	eg_store_close(st);
}

static void write_lock_is_released_by_close(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_store_close(st);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		eg_store *c = NULL;
		int rc = eg_store_open(&c, f->dir, EG_OPEN_WRITE, NULL);
		eg_store_close(c);
		_exit(rc == EG_OK ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A child process that opens dir with flags and holds it: for hold_ms,
 * then closes it and exits 0, or (hold_ms < 0) until killed.  Returns once
 * it holds the store. */
static pid_t hold_store(const char *dir, int flags, int hold_ms)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		eg_store *c = NULL;
		if (eg_store_open(&c, dir, flags, NULL) != EG_OK)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		if (hold_ms < 0)
			pause();
		usleep((useconds_t)hold_ms * 1000);
		eg_store_close(c);
		_exit(0);
	}
	char x;
	assert_int_equal(read(ready[0], &x, 1), 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void write_lock_of_a_killed_writer_is_released(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	eg_store_close(st);
	pid_t pid = hold_store(f->dir, EG_OPEN_WRITE, -1);
	eg_store *c = NULL;
	assert_int_equal(eg_store_open(&c, f->dir, EG_OPEN_WRITE, NULL), EG_ELOCKED);
	eg_store_close(c);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	st = open_w(f->dir);
	append_n(st, 1, 2, EG_SYNC_ALWAYS);
	verify_ok(st);
	eg_store_close(st);
}

/* A reader that finds derived files behind the log takes the lock briefly
 * (EG_OPEN_CATCHUP) to bring them up to date.  A writer that starts then
 * waits for it rather than failing; a second brief writer, or one that
 * meets a real writer, gives way. */
static void writer_waits_for_a_brief_catchup_writer(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 2, EG_SYNC_ALWAYS);
	eg_store_close(st);
	pid_t pid = hold_store(f->dir, EG_OPEN_WRITE | EG_OPEN_CATCHUP, 300);
	eg_store *c = NULL;
	assert_int_equal(eg_store_open(&c, f->dir, EG_OPEN_WRITE | EG_OPEN_CATCHUP, NULL),
			 EG_ELOCKED);
	eg_store_close(c);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = NULL;
	int rc = eg_store_open(&st, f->dir, EG_OPEN_WRITE, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != EG_OK)
		fail_msg("writer after a brief writer: %s", eg_errmsg(st));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* it waited for the brief writer's 300 ms */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > 100);
	append_n(st, 3, 1, EG_SYNC_ALWAYS);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)   /* a brief writer gives way to the real one */
		_exit(eg_store_open(&c, f->dir, EG_OPEN_WRITE | EG_OPEN_CATCHUP, NULL) ==
		      EG_ELOCKED ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	eg_store_close(st);
}

/* ------------------------------------------------------- fault injection */

static int sync_calls, sync_fail_at;

static int failing_fdatasync(int fd)
{
	if (++sync_calls >= sync_fail_at) {
		errno = EIO;
		return -1;
	}
	return saved_os.fdatasync(fd);
}

/* fdatasync fails with EIO at its nth call during the commit. */
static void check_fdatasync_failure(fx *f, int nth)
{
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 3, EG_SYNC_ALWAYS);
	eg_head h0 = head_of(st);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1, .sync = EG_SYNC_ALWAYS };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	const char *l = "{\"id\":\"e4\",\"type\":\"t\"}";
	assert_int_equal(eg_batch_add_json(b, l, strlen(l)), EG_OK);

	saved_os = eg_os;
	sync_calls = 0;
	sync_fail_at = nth;
	eg_os.fdatasync = failing_fdatasync;
	eg_append_result r;
	int rc = eg_batch_commit(b, &r);
	eg_os = saved_os;
	if (sync_calls < nth)
		fail_msg("commit made only %d fdatasync calls", sync_calls);
	if (rc == EG_OK)
		fail_msg("commit succeeded although fdatasync failed (call %d)", nth);
	assert_int_equal(rc, EG_EIO);
	assert_true(strlen(eg_errmsg(st)) > 0);
	/* Not acknowledged, so not part of this handle's view. */
	assert_int_equal(head_of(st).pos, h0.pos);

	/* Refuses further commits until reopened, even with fdatasync fixed. */
	b = NULL;
	rc = eg_batch_begin(st, &b, &o);
	if (rc == EG_OK) {
		const char *l2 = "{\"id\":\"e5\",\"type\":\"t\"}";
		if (eg_batch_add_json(b, l2, strlen(l2)) == EG_OK)
			rc = eg_batch_commit(b, NULL);
		else
			eg_batch_abort(b);
		if (rc == EG_OK)
			fail_msg("a commit was acknowledged after an fdatasync failure");
	}
	eg_store_close(st);

	/* After reopening: opens, verifies, positions dense, appends. */
	st = open_w(f->dir);
	verify_ok(st);
	uint64_t n = check_dense(st);
	assert_true(n == 3 || n == 4);
	eg_append_result r2 = append_n(st, (int)n + 1, 2, EG_SYNC_ALWAYS);
	assert_int_equal(r2.first_pos, n + 1);
	assert_int_equal(check_dense(st), n + 2);
	eg_store_close(st);
	st = open_r(f->dir);
	verify_ok(st);
	eg_store_close(st);
}

static void fdatasync_failure_before_the_commit_record_fails_the_commit(void **state)
{
	check_fdatasync_failure(*state, 1);
}

static void fdatasync_failure_after_the_commit_record_fails_the_commit(void **state)
{
	check_fdatasync_failure(*state, 2);
}

static int fd_is_segment(int fd)
{
	char link[64], p[512];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, p, sizeof p - 1);
	if (n < 0)
		return 0;
	p[n] = 0;
	return n > 4 && !strcmp(p + n - 4, ".seg");
}

static int pwrite_fail_idx;   /* 0: fail segment writes; 1: fail index writes */
static int pwrite_failures;

/* The disk fills up: the first write goes half through, the rest fail. */
static ssize_t enospc_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (fd_is_segment(fd) == !pwrite_fail_idx) {
		if (pwrite_failures++ == 0 && n > 1)
			return saved_os.pwrite(fd, buf, n / 2, off);
		errno = ENOSPC;
		return -1;
	}
	return saved_os.pwrite(fd, buf, n, off);
}

static void arm_enospc(int idx)
{
	saved_os = eg_os;
	pwrite_fail_idx = idx;
	pwrite_failures = 0;
	eg_os.pwrite = enospc_pwrite;
}

/* Store usable after the failure: nothing of the failed batch is
 * visible; a new batch appends densely; a reopen verifies. */
static void check_usable_after_enospc(fx *f, eg_store *st, const eg_head *h0, off_t seg_size,
				      const char *segpath)
{
	eg_head h = head_of(st);
	assert_int_equal(h.pos, h0->pos);
	assert_memory_equal(h.hash, h0->hash, 32);
	assert_int_equal(check_dense(st), h0->pos);
	if (segpath)
		assert_int_equal(file_size(segpath), seg_size);
	eg_append_result r = append_n(st, (int)h0->pos + 1, 3, EG_SYNC_ALWAYS);
	assert_int_equal(r.first_pos, h0->pos + 1);
	assert_int_equal(check_dense(st), h0->pos + 3);
	verify_ok(st);
	eg_store_close(st);
	st = open_w(f->dir);
	verify_ok(st);
	assert_int_equal(check_dense(st), h0->pos + 3);
	eg_store_close(st);
}

static void enospc_writing_a_small_batch_fails_the_commit_cleanly(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 5, EG_SYNC_ALWAYS);
	eg_head h0 = head_of(st);
	char names[4][32], path[256];
	assert_int_equal(segments(f->dir, names, 4), 1);
	seg_path(f->dir, names[0], path, sizeof path);
	off_t size = file_size(path);

	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	char line[128];
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof line, "{\"id\":\"x%d\",\"stream\":\"new\",\"type\":\"t\"}", i);
		assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	}
	arm_enospc(0);
	int rc = eg_batch_commit(b, NULL);
	eg_os = saved_os;
	assert_true(pwrite_failures > 0);
	assert_int_equal(rc, EG_EIO);
	assert_non_null(strstr(eg_errmsg(st), strerror(ENOSPC)));
	check_usable_after_enospc(f, st, &h0, size, path);
}

static void enospc_mid_batch_fails_the_add_and_abort_leaves_nothing(void **state)
{
	fx *f = *state;
	eg_store *st = open_st(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 256 << 10);
	append_n(st, 1, 5, EG_SYNC_ALWAYS);
	eg_head h0 = head_of(st);
	char names[4][32];
	assert_int_equal(segments(f->dir, names, 4), 1);
	eg_stats s0;
	assert_int_equal(eg_store_stats(st, &s0), EG_OK);

	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	static char line[4096], pad[3000];
	memset(pad, 'p', sizeof pad - 1);
	int rc = EG_OK, i;
	/* Let some of the batch reach the disk before the disk fills. */
	for (i = 0; i < 400 && rc == EG_OK; i++) {
		if (i == 300)
			arm_enospc(0);
		snprintf(line, sizeof line, "{\"id\":\"x%d\",\"stream\":\"new\",\"type\":\"t\","
			 "\"data\":{\"p\":\"%s\"}}", i, pad);
		rc = eg_batch_add_json(b, line, strlen(line));
	}
	eg_os = saved_os;
	assert_true(pwrite_failures > 0);
	assert_int_equal(rc, EG_EIO);
	eg_batch_abort(b);
	eg_stats s1;
	assert_int_equal(eg_store_stats(st, &s1), EG_OK);
	assert_int_equal(s1.events, s0.events);
	assert_int_equal(s1.segments, s0.segments);
	assert_int_equal(s1.log_bytes, s0.log_bytes);
	assert_int_equal(s1.streams, s0.streams);
	check_usable_after_enospc(f, st, &h0, 0, NULL);
}

static void enospc_writing_the_index_leaves_a_store_that_reopens_consistent(void **state)
{
	fx *f = *state;
	eg_store *st = open_w(f->dir);
	append_n(st, 1, 5, EG_SYNC_ALWAYS);
	eg_batch *b;
	assert_int_equal(eg_batch_begin(st, &b, NULL), EG_OK);
	char line[128];
	for (int i = 6; i <= 10; i++) {
		snprintf(line, sizeof line, "{\"id\":\"e%d\",\"stream\":\"s%d\",\"type\":\"t\"}",
			 i, i % 3);
		assert_int_equal(eg_batch_add_json(b, line, strlen(line)), EG_OK);
	}
	arm_enospc(1);
	int rc = eg_batch_commit(b, NULL);
	eg_os = saved_os;
	(void)rc;   /* the log commit may have been durable before the index failed */
	eg_store_close(st);

	st = open_w(f->dir);
	verify_ok(st);
	uint64_t n = check_dense(st);
	assert_true(n == 5 || n == 10);
	append_n(st, (int)n + 1, 2, EG_SYNC_ALWAYS);
	/* The index answers as the log does: by stream, every event of it. */
	for (int s = 0; s < 3; s++) {
		char name[8];
		snprintf(name, sizeof name, "s%d", s);
		eg_filter flt = { .stream = name };
		eg_iter *it;
		assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
		const eg_event *e;
		uint64_t want = 0, got = 0;
		for (uint64_t p = 1; p <= n + 2; p++)   /* event p is in stream s<p % 3> */
			want += p % 3 == (uint64_t)s;
		while ((rc = eg_iter_next(it, &e)) == EG_OK) {
			assert_int_equal(e->pos % 3, (uint64_t)s);
			got++;
		}
		assert_int_equal(rc, EG_END);
		assert_int_equal(got, want);
		eg_iter_free(it);
	}
	assert_int_equal(eg_store_index_lag(st), 0);
	eg_store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* A block's check is written by the streaming hasher as its records
 * arrive and read back by eg_rec_check in one call (another build of XXH3 for
 * long inputs): they must agree at every length, or every block would fall
 * back to checking record by record. */
static void block_check_equals_the_streaming_hash(void **state)
{
	(void)state;
	enum { N = 200000 };
	unsigned char *p = malloc(N);
	assert_non_null(p);
	for (size_t i = 0; i < N; i++)
		p[i] = (unsigned char)(i * 2654435761u >> 13);
	rec_hasher *h = eg_rec_hasher_new();
	assert_non_null(h);
	static const size_t lens[] = { 0, 1, 240, 4095, 4096, 4097, 65536, 100003, N };
	for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
		eg_rec_hasher_reset(h);
		for (size_t at = 0; at < lens[k]; at += 777)   /* in record-sized pieces */
			eg_rec_hasher_add(h, p + at, lens[k] - at < 777 ? lens[k] - at : 777);
		assert_int_equal(eg_rec_hasher_value(h), eg_rec_check(p, lens[k]));
	}
	eg_rec_hasher_free(h);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(block_check_equals_the_streaming_hash),
		T(truncating_the_last_batch_at_every_offset_recovers_the_previous_commit),
		T(truncating_a_batch_that_started_a_new_segment_recovers_the_previous_commit),
		T(zero_filled_tail_is_cut),
		T(garbage_tail_is_cut),
		T(tail_that_looks_like_an_event_record_is_cut),
		T(verify_reports_flipped_byte_in_an_event_record),
		T(verify_reports_flipped_byte_in_a_commit_record),
		T(verify_reports_flipped_byte_in_a_segment_header),
		T(verify_reports_flipped_byte_in_the_first_segment_header),
		T(every_bit_flip_in_the_log_is_reported_at_its_record),
		T(verify_detects_a_rewritten_record_by_the_hash_chain),
		T(open_for_write_refuses_damage_in_an_earlier_segment),
		T(open_for_write_refuses_damage_before_a_commit_in_the_last_segment),
		T(open_for_write_refuses_a_log_shorter_than_the_index_says_was_committed),
		T(damage_in_committed_data_is_reported_by_readers),
		T(second_writer_in_another_process_gets_elocked),
		T(write_lock_is_released_by_close),
		T(write_lock_of_a_killed_writer_is_released),
		T(writer_waits_for_a_brief_catchup_writer),
		T(fdatasync_failure_before_the_commit_record_fails_the_commit),
		T(fdatasync_failure_after_the_commit_record_fails_the_commit),
		T(enospc_writing_a_small_batch_fails_the_commit_cleanly),
		T(enospc_mid_batch_fails_the_add_and_abort_leaves_nothing),
		T(enospc_writing_the_index_leaves_a_store_that_reopens_consistent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_seal.c — sealed segments: the format round trip, reading a sealed
 * store exactly as it read before (scans, random positions, threads), the
 * read-ahead, and sealing's failure and crash cases. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "internal.h"
#include "os.h"
#include "seal.h"

#define SEG 65536        /* small segments: many of them, several blocks each */
#define NEV 3000

/* A store of NEV events in batches of varied sizes, with small segments. */
static void fill(const char *dir, int seal)
{
	eg_store *st = NULL;
	eg_open_opts oo = { .segment_bytes = SEG, .seal = seal };
	assert_int_equal(eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, &oo), EG_OK);
	uint64_t r = 7;
	char line[512];
	for (int i = 0; i < NEV;) {
		int n = 1 + (int)(tu_rnd(&r) % 97);
		eg_batch *b;
		eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
		assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
		for (int k = 0; k < n && i < NEV; k++, i++) {
			snprintf(line, sizeof line,
				 "{\"stream\":\"user-%d\",\"type\":\"t%d\",\"time\":%d,"
				 "\"data\":{\"i\":%d,\"url\":\"/p/%llu\",\"s\":\"unicode \\u00e9 %d\"}}",
				 i % 37, i % 5, 1700000000 + i, i,
				 (unsigned long long)(tu_rnd(&r) % 50), i);
			tu_add_ok(st, b, line);
		}
		assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	}
	eg_store_close(st);
}

/* A hash of every field of the events f selects, in order. */
static uint64_t scan_hash(eg_store *st, const eg_filter *f, uint64_t *count)
{
	eg_iter *it;
	assert_int_equal(eg_iter_new(st, &it, f), EG_OK);
	XXH3_state_t *h = XXH3_createState();
	XXH3_64bits_reset(h);
	const eg_event *e;
	int rc;
	*count = 0;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		XXH3_64bits_update(h, &e->pos, 8);
		XXH3_64bits_update(h, &e->time, 8);
		XXH3_64bits_update(h, &e->recorded, 8);
		XXH3_64bits_update(h, e->id, e->id_len);
		XXH3_64bits_update(h, e->stream, e->stream_len);
		XXH3_64bits_update(h, e->type, e->type_len);
		XXH3_64bits_update(h, e->data, e->data_len);
		(*count)++;
	}
	assert_int_equal(rc, EG_END);
	eg_iter_free(it);
	uint64_t v = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return v;
}

static eg_store *open_ro(const char *dir)
{
	return tu_open(dir, EG_OPEN_READ, 0);
}

static eg_compact_result compact(const char *dir)
{
	eg_store *st = tu_open(dir, EG_OPEN_WRITE, SEG);
	eg_compact_result r;
	assert_int_equal(eg_store_compact(st, NULL, &r), EG_OK);
	eg_store_close(st);
	return r;
}

static int count_sealed(const char *dir, int *plain)
{
	char log[256];
	snprintf(log, sizeof log, "%s/log", dir);
	DIR *d = opendir(log);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	*plain = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".seg"))
			continue;  /* not NAME.seg.sealing, which the sealer may be writing */
		char p[512];
		snprintf(p, sizeof p, "%s/%s", log, de->d_name);
		unsigned char m[8] = { 0 };
		int fd = open(p, O_RDONLY);
		assert_int_equal(read(fd, m, 8), 8);
		close(fd);
		if (eg_seal_is(m, 8))
			n++;
		else
			(*plain)++;
	}
	closedir(d);
	return n;
}

static void compact_reads_every_event_and_the_chain_as_before(void **state)
{
	tu_fx *f = *state;
	fill(f->dir, EG_SEAL_NEVER);
	eg_store *st = open_ro(f->dir);
	eg_filter all = { 0 }, rev = { .reverse = 1 }, one = { .stream = "user-5" },
		  typ = { .types = (const char *[]){ "t3" }, .ntypes = 1 };
	uint64_t n0, n1, n2, n3, h0 = scan_hash(st, &all, &n0), h1 = scan_hash(st, &rev, &n1),
		 h2 = scan_hash(st, &one, &n2), h3 = scan_hash(st, &typ, &n3);
	eg_verify_result v0;
	assert_int_equal(eg_store_verify(st, &v0), EG_OK);
	eg_store_close(st);
	assert_int_equal(n0, NEV);

	eg_compact_result r = compact(f->dir);
	int plain;
	assert_true(r.sealed > 3);
	assert_int_equal(count_sealed(f->dir, &plain), (int)r.sealed);
	assert_int_equal(plain, 0);
	assert_true(r.bytes_after * 2 < r.bytes_before);

	st = open_ro(f->dir);
	uint64_t m;
	assert_int_equal(scan_hash(st, &all, &m), h0);
	assert_int_equal(m, n0);
	assert_int_equal(scan_hash(st, &rev, &m), h1);
	assert_int_equal(scan_hash(st, &one, &m), h2);
	assert_int_equal(m, n2);
	assert_int_equal(scan_hash(st, &typ, &m), h3);
	eg_verify_result v1;
	assert_int_equal(eg_store_verify(st, &v1), EG_OK);
	assert_memory_equal(v0.hash, v1.hash, 32);
	assert_int_equal(v1.events, NEV);
	eg_store_close(st);

	/* compacting again seals nothing; the next append starts a segment */
	r = compact(f->dir);
	assert_int_equal(r.sealed, 0);
	assert_true(r.already > 3);
	st = tu_open(f->dir, EG_OPEN_WRITE, SEG);
	const char *more[] = { "{\"stream\":\"user-5\",\"type\":\"t9\"}" };
	tu_append(st, more, 1);
	eg_verify_result v2;
	assert_int_equal(eg_store_verify(st, &v2), EG_OK);
	assert_int_equal(v2.events, NEV + 1);
	eg_store_close(st);
	assert_int_equal(count_sealed(f->dir, &plain), (int)r.already);
	assert_int_equal(plain, 1);
}

/* Reads of single positions (each a block lookup and at most one block's
 * decompression) give what a scan gives. */
static void random_positions_read_the_same_after_sealing(void **state)
{
	tu_fx *f = *state;
	fill(f->dir, EG_SEAL_NEVER);
	uint64_t want[64], pos[64], r = 99, n;
	eg_store *st = open_ro(f->dir);
	for (int i = 0; i < 64; i++) {
		pos[i] = 1 + tu_rnd(&r) % NEV;
		eg_filter one = { .from = pos[i], .to = pos[i] };
		want[i] = scan_hash(st, &one, &n);
		assert_int_equal(n, 1);
	}
	eg_store_close(st);
	compact(f->dir);
	st = open_ro(f->dir);
	for (int i = 0; i < 64; i++) {
		eg_filter one = { .from = pos[i], .to = pos[i] };
		assert_int_equal(scan_hash(st, &one, &n), want[i]);
	}
	eg_store_close(st);
}

typedef struct scanner {
	eg_store *st;
	uint64_t hash, n;
	eg_filter f;
} scanner;

static void *scan_thread(void *arg)
{
	scanner *s = arg;
	s->hash = scan_hash(s->st, &s->f, &s->n);
	return NULL;
}

/* Forward scans of indexed events read with pread and leave the mappings
 * alone, so one handle serves several threads: on a sealed store they
 * decompress blocks concurrently, each block once. */
static void threads_scanning_one_sealed_store_read_the_same(void **state)
{
	tu_fx *f = *state;
	fill(f->dir, EG_SEAL_NEVER);
	eg_store *st = open_ro(f->dir);
	eg_filter all = { 0 };
	uint64_t n, h = scan_hash(st, &all, &n);
	eg_store_close(st);
	compact(f->dir);
	st = open_ro(f->dir);
	scanner s[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		s[i] = (scanner){ .st = st, .f = { .from = (uint64_t)i * 7 + 1 } };
		assert_int_equal(pthread_create(&th[i], NULL, scan_thread, &s[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s[i].n, NEV - (uint64_t)i * 7);
	assert_int_equal(s[0].hash, h);
	eg_store_close(st);
}

/* A synthetic segment: header and records as the writer makes them. */
static unsigned char *make_segment(size_t *len, int nev)
{
	size_t cap = 64 + (size_t)nev * 300 + 200, off = SEG_HDR_LEN;
	unsigned char *p = calloc(1, cap);
	seg_hdr h = { .first_pos = 1 };
	eg_seg_hdr_encode(&h, p);
	char data[128];
	for (int i = 0; i < nev; i++) {
		snprintf(data, sizeof data, "{\"i\":%d,\"page\":\"/products/%d\"}", i, i % 13);
		rec_in r = { .pos = (uint64_t)i + 1, .version = 1, .time = 1000 * i,
			     .id = "id", .id_len = 2, .stream = "s", .stream_len = 1,
			     .type = "view", .type_len = 4, .data = data, .data_len = strlen(data),
			     .actor = "", .session = "", .meta = "" };
		off += eg_rec_event_encode(&r, p + off);
	}
	rec_commit c = { .first_pos = 1, .count = (uint64_t)nev, .recorded = 5,
			 .batch_bytes = off - SEG_HDR_LEN };
	eg_rec_commit_encode(&c, p + off);
	*len = off + COMMIT_LEN;
	return p;
}

/* Seal sg into memory (a memfd) and return the file's bytes. */
static unsigned char *seal_mem(const unsigned char *sg, size_t len, uint32_t bs, size_t *flen)
{
	int fd = memfd_create("sealed", 0);
	assert_true(fd >= 0);
	seal_opts o = { bs, 3, NULL };
	uint64_t fl;
	char why[256];
	assert_int_equal(eg_seal_write(fd, sg, len, &o, &fl, why, sizeof why), EG_OK);
	unsigned char *out = malloc(fl);
	assert_int_equal(pread(fd, out, fl, 0), (ssize_t)fl);
	close(fd);
	*flen = fl;
	return out;
}

static void sealed_format_round_trips_and_every_flipped_bit_is_caught(void **state)
{
	(void)state;
	size_t len, flen;
	unsigned char *sg = make_segment(&len, 800);
	unsigned char *file = seal_mem(sg, len, 4096, &flen);
	eg_sealed *z;
	char why[256];
	assert_int_equal(eg_sealed_open(-1, file, flen, &z, why, sizeof why), EG_OK);
	const seal_info *h = eg_sealed_info(z);
	assert_int_equal(h->logical_len, len);
	assert_int_equal(h->events, 800);
	assert_true(h->nblocks > 5);
	assert_int_equal(eg_sealed_ready(z, NULL, 0, len, why, sizeof why), EG_OK);
	assert_memory_equal(eg_sealed_map(z), sg, len);
	/* blocks cut on record boundaries, positions dense */
	const seal_blk *b = eg_sealed_blocks(z);
	for (uint32_t i = 0; i < h->nblocks; i++) {
		rec_event ev;
		if (b[i].count)
			assert_true(eg_rec_event_decode(sg + b[i].loff, len - b[i].loff, &ev) &&
				    ev.ev.pos == b[i].first_pos);
	}
	eg_sealed_free(z);
	/* one flipped bit anywhere: refused at open (header, table, footer) or
	 * when its block is read (block header, compressed bytes) */
	uint64_t r = 5;
	for (int k = 0; k < 400; k++) {
		size_t at = k < 8 ? flen - 1 - (size_t)k * 4 : tu_rnd(&r) % flen;
		file[at] ^= (unsigned char)(1u << (tu_rnd(&r) % 8));
		int rc = eg_sealed_open(-1, file, flen, &z, why, sizeof why);
		if (rc == EG_OK) {
			rc = eg_sealed_ready(z, NULL, 0, len, why, sizeof why);
			if (rc == EG_OK)  /* a bit zstd and the check both miss? never */
				assert_memory_equal(eg_sealed_map(z), sg, len);
			eg_sealed_free(z);
		}
		assert_int_equal(rc, EG_ECORRUPT);
		free(file);
		file = seal_mem(sg, len, 4096, &flen);
	}
	free(file);
	/* a damaged record is never sealed */
	sg[SEG_HDR_LEN + 40] ^= 1;
	int fd = memfd_create("sealed", 0);
	seal_opts o = { 4096, 3, NULL };
	uint64_t fl;
	assert_int_equal(eg_seal_write(fd, sg, len, &o, &fl, why, sizeof why), EG_ECORRUPT);
	close(fd);
	free(sg);
}

/* A forward scan gets the blocks after the one it asked for decompressed
 * by the read-ahead thread. */
static void a_forward_scan_reads_ahead(void **state)
{
	(void)state;
	size_t len, flen;
	unsigned char *sg = make_segment(&len, 2000);
	unsigned char *file = seal_mem(sg, len, 4096, &flen);
	eg_sealed *z;
	char why[256];
	assert_int_equal(eg_sealed_open(-1, file, flen, &z, why, sizeof why), EG_OK);
	eg_seal_rd *rd = eg_seal_rd_new();
	const seal_blk *b = eg_sealed_blocks(z);
	assert_int_equal(eg_sealed_ready(z, rd, b[0].loff, 1, why, sizeof why), EG_OK);
	assert_int_equal(eg_sealed_ready(z, rd, b[1].loff, 1, why, sizeof why), EG_OK);
	int ahead = 0;
	for (int i = 0; i < 2000 && !ahead; i++) {
		ahead = eg_sealed_ready_end(z, b[5].loff) == b[5].loff + b[5].llen;
		if (!ahead)
			usleep(1000);
	}
	assert_true(ahead);
	assert_memory_equal(eg_sealed_map(z) + b[5].loff, sg + b[5].loff, b[5].llen);
	eg_seal_rd_quiesce(rd);
	eg_seal_rd_free(rd);
	eg_sealed_free(z);
	free(file);
	free(sg);
}

static int fail_rename(const char *a, const char *b)
{
	(void)a;
	(void)b;
	errno = EIO;
	return -1;
}

/* A seal that fails (here its rename) changes nothing; one that crashed
 * leaves a .sealing file, which the next writer deletes. */
static void a_failed_or_crashed_seal_leaves_the_plain_segment(void **state)
{
	tu_fx *f = *state;
	fill(f->dir, EG_SEAL_NEVER);
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE, SEG);
	eg_filter all = { 0 };
	uint64_t n, h = scan_hash(st, &all, &n);
	eg_os.rename = fail_rename;
	eg_compact_result r;
	int rc = eg_store_compact(st, NULL, &r);
	eg_os.rename = rename;
	assert_int_equal(rc, EG_EIO);
	assert_int_equal(r.sealed, 0);
	eg_store_close(st);
	int plain;
	assert_int_equal(count_sealed(f->dir, &plain), 0);
	snprintf(f->path, sizeof f->path, "%s/log/00000000000000000001.sg.sealing", f->dir);
	assert_int_equal(access(f->path, F_OK), -1);
	/* a crash mid-seal: the tmp file is there, the segment plain */
	int fd = open(f->path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "ENGRAMSZ", 8), 8);
	close(fd);
	st = open_ro(f->dir);
	assert_int_equal(scan_hash(st, &all, &n), h);
	eg_store_close(st);
	st = tu_open(f->dir, EG_OPEN_WRITE, SEG);
	eg_store_close(st);
	assert_int_equal(access(f->path, F_OK), -1);
}

/* With EG_SEAL_ALWAYS, a writer seals the segments its batches close, on
 * its own thread; the store reads the same. */
static void a_writer_seals_closed_segments_in_the_background(void **state)
{
	tu_fx *f = *state;
	fill(f->dir, EG_SEAL_NEVER);
	eg_store *st = open_ro(f->dir);
	eg_filter all = { 0 };
	uint64_t n, h = scan_hash(st, &all, &n);
	eg_store_close(st);
	int plain, before = count_sealed(f->dir, &plain);
	assert_int_equal(before, 0);
	/* the next commit hands the closed segments to the sealer; close
	 * stops it between blocks, so give it time to finish first */
	eg_open_opts oo = { .segment_bytes = SEG, .seal = EG_SEAL_ALWAYS };
	assert_int_equal(eg_store_open(&st, f->dir, EG_OPEN_WRITE, &oo), EG_OK);
	const char *more[] = { "{\"stream\":\"x\",\"type\":\"late\"}" };
	tu_append(st, more, 1);
	int sealed = 0;
	for (int i = 0; i < 500 && sealed < plain - 1; i++) {
		usleep(10000);
		sealed = count_sealed(f->dir, &(int){ 0 });
	}
	assert_int_equal(sealed, plain - 1);  /* all but the last (open) one */
	eg_filter upto = { .to = NEV };
	assert_int_equal(scan_hash(st, &upto, &n), h);  /* the writer reads its old files */
	eg_store_close(st);
	st = open_ro(f->dir);
	assert_int_equal(scan_hash(st, &upto, &n), h);
	eg_verify_result v;
	assert_int_equal(eg_store_verify(st, &v), EG_OK);
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(compact_reads_every_event_and_the_chain_as_before, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(random_positions_read_the_same_after_sealing, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(threads_scanning_one_sealed_store_read_the_same, tu_setup, tu_teardown),
		cmocka_unit_test(sealed_format_round_trips_and_every_flipped_bit_is_caught),
		cmocka_unit_test(a_forward_scan_reads_ahead),
		cmocka_unit_test_setup_teardown(a_failed_or_crashed_seal_leaves_the_plain_segment, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(a_writer_seals_closed_segments_in_the_background, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

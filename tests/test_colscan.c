/*
 * test_colscan.c — the columnar scan (src/store/col.h) as a specification:
 * for random data (nulls, mixed types at one path, nested paths, unicode
 * and escapes, non-canonical numbers, duplicate and escaped keys, late
 * events) and random filters, every block's arrays say exactly what the
 * events say: each tag and value agrees with a plain lookup of the path
 * (eg_json_member, eg_path_get), each want with a plain filter, and the
 * blocks cover the asked positions densely, in order.
 */
#include "testutil.h"
#include "engram.h"
#include "internal.h"
#include "col.h"
#include "colint.h"
#include "path.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>

static uint64_t rnd_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int percent) { return (int)rnd_below(100) < percent; }

static const char *const TYPES[] = { "view", "click", "buy", "t\xc3\xa9" };
#define NTYPES 4
static const char *const STREAMS[] = { "", "s1", "s2", "user-\xe6\x97\xa5" };
#define NSTREAMS 4
#define BASE_MS 1735689600000LL

/* The events as read back (the reference). */
typedef struct rev {
	uint64_t pos;
	int64_t time, recorded;
	int kind;
	char *type, *stream, *data;
	size_t type_len, stream_len, data_len;
} rev;

static rev *R;
static size_t NR;
static char DIR_[64];

/* ------------------------------------------------------------ the data */

static const char *const SCALARS[] = {
	"null", "true", "false", "0", "7", "-12", "1.0", "-0", "1e3", "0.5", "-0.0",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808",
	"-9223372036854775809", "12345678901234567890", "\"x\"", "\"\"", "\"caf\\u00e9\"",
	"\"\xe6\x97\xa5\xe6\x9c\xac\"", "\"q\\\"uote\\\\\"", "\"a\\nb\"", "\"x\"", "\"y\"",
	"[]", "[1,\"a\",null]", "{}", "{\"x\":1}", "\"\\ud83d\\ude00\"", "3", "3", "-1"
};
#define NSCALARS (sizeof SCALARS / sizeof *SCALARS)
/* Keys as written: "\u0061" is a written as an escape. */
static const char *const KEYS[] = { "a", "b", "n", "u", "\\u0061", "\xc3\xa9", "k" };
#define NKEYS (sizeof KEYS / sizeof *KEYS)

static int gen_value(char *o, int depth);

static int gen_object(char *o, int depth)
{
	int n = sprintf(o, "{");
	int m = (int)rnd_below(5);
	for (int i = 0; i < m; i++) {
		const char *k = depth ? (chance(50) ? "x" : "y") : KEYS[rnd_below(NKEYS)];
		n += sprintf(o + n, "%s\"%s\":", i ? "," : "", k);
		n += gen_value(o + n, depth + 1);
	}
	return n + sprintf(o + n, "}");
}

static int gen_value(char *o, int depth)
{
	if (depth < 3 && chance(depth < 2 ? 25 : 10))
		return gen_object(o, depth);
	return sprintf(o, "%s", SCALARS[rnd_below(NSCALARS)]);
}

static void gen_store(const char *dir, size_t n)
{
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL), EG_OK);
	static char line[65536], data[32768];
	size_t done = 0;
	while (done < n) {
		eg_batch *b;
		eg_batch_opts o = { .expect_version = -1, .sync = EG_SYNC_NONE };
		assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
		size_t m = 1 + rnd_below(400);
		for (size_t k = 0; k < m && done < n; k++, done++) {
			gen_object(data, 0);
			int64_t ms = BASE_MS + (int64_t)done * 1000;
			if (chance(15))
				ms -= (int64_t)rnd_below(5 * 3600 * 1000);   /* late */
			int s = (int)rnd_below(NSTREAMS);
			/* a metric's data has a numeric value (checked at append) */
			int metric = chance(20);
			int len = snprintf(line, sizeof line, "{\"type\":\"%s\"%s%s%s,\"time\":%lld%s,"
					   "\"data\":%s%s%s}", TYPES[rnd_below(NTYPES)],
					   s ? ",\"stream\":\"" : "", STREAMS[s], s ? "\"" : "",
					   (long long)ms, metric ? ",\"kind\":\"metric\"" : "",
					   metric ? "{\"value\":1" : "",
					   metric && strcmp(data, "{}") ? "," : "",
					   metric ? data + 1 : data);
			int rc = eg_batch_add_json(b, line, (size_t)len);
			if (rc != EG_OK)
				fail_msg("add %s: %s", line, eg_errmsg(st));
		}
		eg_append_result res;
		assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	}
	eg_store_close(st);
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static void read_reference(eg_store *st)
{
	eg_iter *it;
	eg_filter f = { 0 };
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	const eg_event *e;
	int rc;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		R = realloc(R, (NR + 1) * sizeof *R);
		assert_non_null(R);
		R[NR++] = (rev){ e->pos, e->time, e->recorded, e->kind,
				 dupn(e->type, e->type_len), dupn(e->stream, e->stream_len),
				 dupn(e->data, e->data_len), e->type_len, e->stream_len, e->data_len };
		assert_int_equal(e->pos, NR);
	}
	assert_int_equal(rc, EG_END);
	eg_iter_free(it);
}

static int group_setup(void **state)
{
	(void)state;
	const char *seed = getenv("EG_SEED");
	if (seed)
		rnd_state = strtoull(seed, NULL, 10) | 1;
	strcpy(DIR_, "/tmp/eg-colscan-XXXXXX");
	if (!mkdtemp(DIR_))
		return -1;
	gen_store(DIR_, 3000);
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	read_reference(st);
	eg_store_close(st);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR; i++) {
		free(R[i].type);
		free(R[i].stream);
		free(R[i].data);
	}
	free(R);
	rm_rf(DIR_);
	return 0;
}

/* ------------------------------------------------------- the reference */

/* The asked paths. */
static const char *const P0[] = { "a" }, *const P1[] = { "b" }, *const P2[] = { "n", "x" },
	*const P3[] = { "n", "y", "x" }, *const P4[] = { "\xc3\xa9" }, *const P5[] = { "zz" },
	*const P6[] = { "a", "x" }, *const P7[] = { "u" }, *const P8[] = { "n" },
	*const P9[] = { "k", "y" };
static const char *const *const PATHS[] = { P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, NULL };
static const int NSEG[] = { 1, 1, 2, 3, 1, 1, 2, 1, 1, 2, 0 };
#define NPATHS 11

/* The value at path i of data (nulls kept, unlike eg_path_get): 1 and *v,
 * or 0 absent. */
static int ref_value(const rev *r, int i, json_span *v)
{
	*v = (json_span){ r->data, r->data_len, JSON_OBJECT };
	for (int s = 0; s < NSEG[i]; s++)
		if (!eg_json_member(v, PATHS[i][s], strlen(PATHS[i][s]), v))
			return 0;
	/* and eg_path_get agrees but for null */
	char *segs[4];
	for (int s = 0; s < NSEG[i]; s++)
		segs[s] = (char *)PATHS[i][s];
	eg_path p = { .root = EG_PATH_DATA, .seg = segs, .nseg = NSEG[i] };
	eg_event e = { .data = r->data, .data_len = r->data_len };
	json_span g;
	int got = eg_path_get(&e, &p, &g);
	assert_int_equal(got, v->type != JSON_NULL);
	if (got)
		assert_true(g.p == v->p && g.n == v->n);
	return 1;
}

static int ref_want(const rev *r, const eg_filter *f)
{
	if (f->kinds && !(f->kinds & (1u << r->kind)))
		return 0;
	if (f->ntypes) {
		size_t k = 0;
		while (k < f->ntypes && strcmp(f->types[k], r->type))
			k++;
		if (k == f->ntypes)
			return 0;
	}
	int64_t t = f->by == EG_BY_RECORDED ? r->recorded : r->time;
	return !(f->has_since && t < f->since) && !(f->has_until && t > f->until);
}

static uint64_t tags_seen[EG_CT_RAW + 1];

/* Event k of block b at asked path j, which is PATHS[i]. */
static void check_value(eg_colscan *sc, const eg_colblock *b, uint32_t k, int j, int i)
{
	const rev *r = &R[b->first_pos + k - 1];
	const eg_colvals *cv = &b->vals[j];
	json_span v;
	int found = ref_value(r, i, &v);
	uint8_t tag = cv->tag[k];
	assert_true(tag <= EG_CT_RAW);
	tags_seen[tag]++;
	char why[96];
	snprintf(why, sizeof why, "pos %" PRIu64 " path %d tag %d data %s", r->pos, i, tag,
		 r->data);
	if (!found) {
		if (tag != EG_CT_ABSENT)
			fail_msg("%s: expected ABSENT", why);
		return;
	}
	size_t n;
	const char *t;
	char num[32];
	switch (v.type) {
	case JSON_NULL: if (tag != EG_CT_NULL) fail_msg("%s: expected NULL", why); return;
	case JSON_FALSE: if (tag != EG_CT_FALSE) fail_msg("%s: expected FALSE", why); return;
	case JSON_TRUE: if (tag != EG_CT_TRUE) fail_msg("%s: expected TRUE", why); return;
	case JSON_STRING:
		if (tag != EG_CT_STR)
			fail_msg("%s: expected STR", why);
		t = eg_colscan_str(sc, (size_t)j, cv->s[k], &n);
		if (n != v.n || memcmp(t, v.p, n))
			fail_msg("%s: STR text %.*s", why, (int)n, t);
		return;
	default:
		break;
	}
	if (tag == EG_CT_INT) {
		assert_int_equal(v.type, JSON_NUMBER);
		int m = snprintf(num, sizeof num, "%" PRId64, cv->i[k]);
		if ((size_t)m != v.n || memcmp(num, v.p, v.n))
			fail_msg("%s: INT %s is not the text", why, num);
		assert_true(cv->has_int && cv->imin <= cv->i[k] && cv->i[k] <= cv->imax);
		return;
	}
	if (tag != EG_CT_RAW)
		fail_msg("%s: expected RAW", why);
	t = eg_colscan_raw(sc, (size_t)j, cv->s[k], &n);
	if (n != v.n || memcmp(t, v.p, n))
		fail_msg("%s: RAW text %.*s", why, (int)n, t);
	if (v.type == JSON_NUMBER) {   /* then the text is no int64's shortest form */
		long long x;
		char *end;
		errno = 0;
		x = strtoll(v.p, &end, 10);
		snprintf(num, sizeof num, "%lld", x);
		assert_false(errno == 0 && (size_t)(end - v.p) == v.n && strlen(num) == v.n &&
			     !memcmp(num, v.p, v.n));
	}
}

static void check_key(eg_colscan *sc, uint32_t id, const char *name, size_t n)
{
	size_t m;
	const char *t = eg_colscan_key(sc, id, &m);
	if (!n) {
		assert_int_equal(id, 0);
		return;
	}
	assert_int_not_equal(id, 0);
	assert_true(m == n && !memcmp(t, name, n));
}

/* The asked paths of a scan: indices into PATHS. */
static int ASK[NPATHS], NASK;
static uint64_t scans_from_files, scans_refused;

/* One scan over f against the reference, with the paths ASK names. */
static void check_scan_paths(eg_store *st, const eg_filter *f, int files_too)
{
	const char *const *paths[NPATHS];
	int nseg[NPATHS];
	for (int j = 0; j < NASK; j++) {
		paths[j] = PATHS[ASK[j]];
		nseg[j] = NSEG[ASK[j]];
	}
	eg_colneed need = { (const char *const *const *)paths, nseg, (size_t)NASK, 0 };
	eg_colscan *sc;
	int rc = eg_colscan_new(st, f, &need, &sc);
	if (rc == EG_ENOTFOUND && files_too) {
		scans_refused++;
		return;
	}
	if (rc != EG_OK)
		fail_msg("colscan_new: %s: %s", eg_strerror(rc), eg_errmsg(st));
	unsigned only = chance(50) ? (unsigned)rnd_below(32) : 0, all = only ? only : 31;
	eg_colscan_only(sc, only);
	uint64_t lo = f->from ? f->from : 1, hi = f->to && f->to < NR ? f->to : NR;
	uint64_t next = lo, seen = 0, wanted = 0;
	const eg_colblock *b;
	while ((rc = eg_colscan_next(sc, &b)) == EG_OK) {
		assert_true(b->n > 0 && b->first_pos <= hi && b->first_pos + b->n > next);
		if (b->from_log)
			assert_true(b->first_pos >= next && b->first_pos + b->n - 1 <= hi);
		else
			assert_true(files_too && (b->first_pos >= next || next == lo));
		/* skipped positions hold no wanted event */
		for (uint64_t p = next; p < b->first_pos; p++)
			assert_false(ref_want(&R[p - 1], f));
		int any = 0;
		int64_t tmin = INT64_MAX, tmax = INT64_MIN, amin = INT64_MAX, amax = INT64_MIN;
		for (uint32_t k = 0; k < b->n; k++) {
			const rev *r = &R[b->first_pos + k - 1];
			assert_int_equal(!!b->time, !!(all & EG_COLB_TIME));
			assert_int_equal(!!b->recorded, !!(all & EG_COLB_RECORDED));
			assert_int_equal(!!b->stream, !!(all & EG_COLB_STREAM));
			assert_int_equal(!!b->type, !!(all & EG_COLB_TYPE));
			assert_int_equal(!!b->kind, !!(all & EG_COLB_KIND));
			if (b->time)
				assert_int_equal(b->time[k], r->time);
			if (b->recorded)
				assert_int_equal(b->recorded[k], r->recorded);
			if (b->kind)
				assert_int_equal(b->kind[k], r->kind);
			if (b->stream)
				check_key(sc, b->stream[k], r->stream, r->stream_len);
			if (b->type)
				check_key(sc, b->type[k], r->type, r->type_len);
			amin = r->time < amin ? r->time : amin;
			amax = r->time > amax ? r->time : amax;
			uint64_t pos = b->first_pos + k;
			if (pos < lo || pos > hi) {   /* a file block's events outside */
				assert_false(b->want[k]);
				continue;
			}
			assert_int_equal(b->want[k], ref_want(r, f));
			any |= b->want[k];
			wanted += b->want[k];
			tmin = r->time < tmin ? r->time : tmin;
			tmax = r->time > tmax ? r->time : tmax;
			for (int j = 0; j < NASK; j++)
				check_value(sc, b, k, j, ASK[j]);
		}
		assert_true(any);
		if (b->from_log)
			assert_true(b->tmin == tmin && b->tmax == tmax);
		else
			assert_true(b->tmin == amin && b->tmax == amax);
		seen += b->n;
		next = b->first_pos + b->n;
	}
	if (rc != EG_END)
		fail_msg("colscan_next: %s: %s", eg_strerror(rc), eg_errmsg(st));
	for (uint64_t p = next; p <= hi; p++)
		assert_false(ref_want(&R[p - 1], f));
	uint64_t expect = 0;
	for (uint64_t p = lo; p <= hi; p++)
		expect += (uint64_t)ref_want(&R[p - 1], f);
	assert_int_equal(wanted, expect);
	uint64_t fc, fl;
	eg_colscan_counts(sc, &fc, &fl);
	assert_int_equal(fc + fl, seen);
	if (!files_too)
		assert_int_equal(fc, 0);
	scans_from_files += fc > 0;
	eg_colscan_free(sc);
}

static void check_scan(eg_store *st, const eg_filter *f)
{
	NASK = NPATHS;
	for (int j = 0; j < NPATHS; j++)
		ASK[j] = j;
	check_scan_paths(st, f, 0);
}

static void random_filter(eg_filter *f, const char **types)
{
	*f = (eg_filter){ 0 };
	if (chance(30))
		f->from = 1 + rnd_below(NR);
	if (chance(30))
		f->to = 1 + rnd_below(NR + 10);
	if (chance(40)) {
		size_t n = 1 + rnd_below(2);
		for (size_t i = 0; i < n; i++)
			types[i] = chance(90) ? TYPES[rnd_below(NTYPES)] : "nosuch";
		f->types = types;
		f->ntypes = n;
	}
	if (chance(30))
		f->kinds = 1u << rnd_below(3);
	f->by = chance(30) ? EG_BY_RECORDED : EG_BY_EVENT;
	int64_t t0 = (f->by ? R[0].recorded : BASE_MS * 1000) - 3600000000LL;
	int64_t span = (int64_t)NR * 1000000 + 2 * 3600000000LL;
	if (chance(30))
		f->has_since = 1, f->since = t0 + (int64_t)rnd_below((uint64_t)span);
	if (chance(30))
		f->has_until = 1, f->until = t0 + (int64_t)rnd_below((uint64_t)span);
}

/* ------------------------------------------------------------- tests */

static void scan_gives_each_event_its_values_as_the_log_does(void **state)
{
	(void)state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	uint32_t sizes[] = { EG_COL_BLOCK_EVENTS, 7, 1000, 1 };
	const char *types[2];
	for (int s = 0; s < 4; s++) {
		eg_colscan_block_events = sizes[s];
		eg_filter f = { 0 };
		check_scan(st, &f);
		for (int k = 0; k < (s == 3 ? 3 : 40); k++) {
			random_filter(&f, types);
			check_scan(st, &f);
		}
	}
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
	eg_store_close(st);
	for (int t = 0; t <= EG_CT_RAW; t++)   /* the data had every kind of value */
		assert_true(tags_seen[t] > 100);
}

static void blocks_are_cut_at_multiples_of_the_block_size(void **state)
{
	(void)state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	eg_colscan_block_events = 1000;
	eg_filter f = { .from = 900, .to = 2500 };
	eg_colscan *sc;
	assert_int_equal(eg_colscan_new(st, &f, NULL, &sc), EG_OK);
	const eg_colblock *b;
	uint64_t firsts[8], ns[8];
	int nb = 0;
	while (eg_colscan_next(sc, &b) == EG_OK && nb < 8) {
		firsts[nb] = b->first_pos;
		ns[nb++] = b->n;
	}
	assert_int_equal(nb, 3);
	assert_true(firsts[0] == 900 && ns[0] == 101);
	assert_true(firsts[1] == 1001 && ns[1] == 1000);
	assert_true(firsts[2] == 2001 && ns[2] == 500);
	eg_colscan_free(sc);
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
	eg_store_close(st);
}

static void stream_limit_and_reverse_are_not_served(void **state)
{
	(void)state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	eg_colscan *sc;
	eg_filter f1 = { .stream = "s1" }, f2 = { .limit = 3 }, f3 = { .reverse = 1 };
	assert_int_equal(eg_colscan_new(st, &f1, NULL, &sc), EG_ENOTFOUND);
	assert_int_equal(eg_colscan_new(st, &f2, NULL, &sc), EG_ENOTFOUND);
	assert_int_equal(eg_colscan_new(st, &f3, NULL, &sc), EG_ENOTFOUND);
	eg_store_close(st);
}

/* A writer's scan sees the same values, keys it has not indexed too. */
static void a_writers_scan_agrees(void **state)
{
	(void)state;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_WRITE, NULL), EG_OK);
	eg_filter f = { 0 };
	check_scan(st, &f);
	eg_store_close(st);
}

/* ------------------------------------------------------ column files */

static void drop_cols(void)
{
	char p[256];
	snprintf(p, sizeof p, "%s/idx/col", DIR_);
	rm_rf(p);
}

static void build_cols(void)
{
	char err[256];
	int rc = eg_col_build(DIR_, NULL, err, sizeof err);
	if (rc)
		fail_msg("build: %s", err);
}

static void random_paths(void)
{
	NASK = 0;
	for (int i = 0; i < NPATHS - 1; i++)   /* not data itself: never a column */
		if (chance(40))
			ASK[NASK++] = i;
}

static void files_and_log_and_lookup_agree(void **state)
{
	(void)state;
	uint32_t sizes[] = { 37, 100, 500 };
	const char *types[2];
	scans_from_files = scans_refused = 0;
	for (int s = 0; s < 3; s++) {
		eg_colscan_block_events = sizes[s];
		drop_cols();
		build_cols();
		eg_store *st = NULL;
		assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
		assert_int_equal(eg_store_col_lag(st), 0);
		uint64_t nb;
		assert_int_equal(eg_col_check(st, &nb), EG_OK);
		assert_int_equal(nb, NR / sizes[s]);
		eg_filter f = { 0 };
		for (int k = 0; k < 60; k++) {
			if (k)
				random_filter(&f, types);
			random_paths();
			check_scan_paths(st, &f, 1);
		}
		/* data itself is never a column: the caller reads the log */
		eg_colscan *sc;
		eg_filter z = { 0 };
		eg_colneed whole = { (const char *const *const *)&PATHS[10], &NSEG[10], 1, 0 };
		assert_int_equal(eg_colscan_new(st, &z, &whole, &sc), EG_ENOTFOUND);
		eg_store_close(st);
	}
	print_message("scans served from column files: %llu, refused (a path not covered): %llu\n",
		      (unsigned long long)scans_from_files, (unsigned long long)scans_refused);
	assert_true(scans_from_files > 60);
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
	drop_cols();
}

/* Flip one byte of block 2's file at off (from its end when negative). */
static void flip(long off)
{
	char p[256];
	snprintf(p, sizeof p, "%s/idx/col/v1/b0000000002", DIR_);
	FILE *fp = fopen(p, "r+b");
	assert_non_null(fp);
	fseek(fp, off, off < 0 ? SEEK_END : SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, off, off < 0 ? SEEK_END : SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
}

/* The header length of block k (where its first frame starts). */
static uint32_t block_hlen(int k)
{
	char p[256];
	snprintf(p, sizeof p, "%s/idx/col/v1/b%010d", DIR_, k);
	FILE *fp = fopen(p, "rb");
	assert_non_null(fp);
	unsigned char h[12];
	assert_int_equal(fread(h, 1, 12, fp), 12);
	fclose(fp);
	return (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
}

static void a_damaged_block_is_refused_not_read(void **state)
{
	(void)state;
	eg_colscan_block_events = 300;
	for (int where = 0; where < 2; where++) {
		drop_cols();
		build_cols();
		flip(where ? (long)block_hlen(2) + 3 : 20);   /* the time column, the header */
		eg_store *st = NULL;
		assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
		eg_filter f = { 0 };
		eg_colneed need = { (const char *const *const *)PATHS, NSEG, 2, 0 };
		eg_colscan *sc;
		int rc = eg_colscan_new(st, &f, &need, &sc);
		if (rc == EG_OK) {
			const eg_colblock *b;
			while ((rc = eg_colscan_next(sc, &b)) == EG_OK)
				;
			eg_colscan_free(sc);
		}
		assert_int_equal(rc, EG_ECORRUPT);
		assert_non_null(strstr(eg_errmsg(st), "b0000000002"));
		eg_store_close(st);
	}
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
	drop_cols();
}

static void reindex_and_a_brief_writer_build_the_column_files(void **state)
{
	(void)state;
	eg_colscan_block_events = 400;
	drop_cols();
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	assert_int_not_equal(eg_store_col_lag(st), 0);
	eg_store_close(st);
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_WRITE | EG_OPEN_CATCHUP, NULL), EG_OK);
	eg_store_close(st);
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	assert_int_equal(eg_store_col_lag(st), 0);
	eg_store_close(st);
	flip(-3);
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_WRITE, NULL), EG_OK);
	assert_int_equal(eg_store_reindex(st), EG_OK);
	eg_store_close(st);
	assert_int_equal(eg_store_open(&st, DIR_, EG_OPEN_READ, NULL), EG_OK);
	assert_int_equal(eg_store_col_lag(st), 0);
	eg_filter f = { 0 };
	NASK = 2;
	ASK[0] = 0;
	ASK[1] = 2;
	scans_from_files = 0;
	check_scan_paths(st, &f, 1);
	assert_int_equal(scans_from_files, 1);
	eg_store_close(st);
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
	drop_cols();
}

/* A scan that needs a path some block in range has no column for, and
 * cannot say is absent, is refused; an absent one is served. */
static int scan_one(eg_store *st, uint64_t from, uint64_t to, const char *const *segs, int nseg)
{
	eg_filter f = { .from = from, .to = to };
	eg_colneed need = { &segs, &nseg, 1, 0 };
	eg_colscan *sc;
	int rc = eg_colscan_new(st, &f, &need, &sc);
	if (rc)
		return rc;
	const eg_colblock *b;
	uint64_t fc, fl;
	while ((rc = eg_colscan_next(sc, &b)) == EG_OK)
		;
	eg_colscan_counts(sc, &fc, &fl);
	eg_colscan_free(sc);
	assert_int_equal(rc, EG_END);
	assert_true(fc > 0);
	return EG_OK;
}

static void uncovered_paths_are_refused_and_absent_ones_served(void **state)
{
	tu_fx *fx = *state;
	eg_colscan_block_events = 100;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, fx->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL), EG_OK);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	char line[512];
	for (int k = 0; k < 200; k++) {
		int n;
		if (k < 100)   /* block 0: 70 paths, k0 in every event, k69 in one */
			n = snprintf(line, sizeof line, "{\"type\":\"t\",\"data\":{\"k0\":1,\"k%d\":2}}",
				     k % 70);
		else           /* block 1: an object at the depth cap */
			n = snprintf(line, sizeof line, "{\"type\":\"t\",\"data\":{\"a\":{\"b\":{\"c\":"
				     "{\"d\":{\"e\":%d}}}},\"k0\":3}}", k);
		assert_int_equal(eg_batch_add_json(b, line, (size_t)n), EG_OK);
	}
	eg_append_result res;
	assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	eg_store_close(st);
	char err[256];
	assert_int_equal(eg_col_build(fx->dir, NULL, err, sizeof err), EG_OK);
	assert_int_equal(eg_store_open(&st, fx->dir, EG_OPEN_READ, NULL), EG_OK);
	static const char *const k0[] = { "k0" }, *const k69[] = { "k69" }, *const zz[] = { "zz" },
		*const deep[] = { "a", "b", "c", "d", "e" }, *const cap[] = { "a", "b", "c", "d" },
		*const under[] = { "k0", "x" };
	assert_int_equal(scan_one(st, 1, 100, k0, 1), EG_OK);
	assert_int_equal(scan_one(st, 1, 100, k69, 1), EG_ENOTFOUND);   /* the 65th path */
	assert_int_equal(scan_one(st, 1, 100, zz, 1), EG_ENOTFOUND);    /* block 0 not covered */
	assert_int_equal(scan_one(st, 101, 200, zz, 1), EG_OK);         /* covered: absent */
	assert_int_equal(scan_one(st, 101, 200, under, 2), EG_OK);      /* under a number */
	assert_int_equal(scan_one(st, 101, 200, cap, 4), EG_OK);        /* the object, RAW */
	assert_int_equal(scan_one(st, 101, 200, deep, 5), EG_ENOTFOUND); /* inside it */
	eg_store_close(st);
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
}

/* The builder walks each event's data once: of a repeated name (written
 * plainly or escaped) the last member alone counts, with what is under
 * it, as the lookup finds it. */
static uint8_t tag_at(eg_store *st, uint64_t pos, const char *const *segs, int nseg,
		      int64_t *iv, char *text, size_t cap)
{
	eg_filter f = { .from = pos, .to = pos };
	eg_colneed need = { &segs, &nseg, 1, 0 };
	eg_colscan *sc;
	const eg_colblock *b;
	assert_int_equal(eg_colscan_new(st, &f, &need, &sc), EG_OK);
	assert_int_equal(eg_colscan_next(sc, &b), EG_OK);
	uint32_t k = (uint32_t)(pos - b->first_pos);
	uint8_t tag = b->vals[0].tag[k];
	*iv = b->vals[0].i[k];
	size_t len = 0;
	const char *t = tag == EG_CT_STR ? eg_colscan_str(sc, 0, b->vals[0].s[k], &len)
		      : tag == EG_CT_RAW ? eg_colscan_raw(sc, 0, b->vals[0].s[k], &len) : "";
	snprintf(text, cap, "%.*s", (int)len, t);
	uint64_t fc, fl;
	eg_colscan_counts(sc, &fc, &fl);
	assert_true(fc > 0);
	eg_colscan_free(sc);
	return tag;
}

static void repeated_names_last_wins(void **state)
{
	tu_fx *fx = *state;
	static const char *const data[] = {
		"{\"a\":{\"x\":1,\"y\":\"s\"},\"a\":2}",
		"{\"a\":1,\"\\u0061\":{\"x\":\"t\"}}",
		"{\"a\":{\"x\":{\"z\":1},\"x\":[1]},\"b\":null}",
		"{\"a\":{\"x\":1},\"a\":{\"y\":2}}",
		"{\"b\":1,\"b\":2,\"b\":\"v\"}",
		"{\"a\":{\"x\":5,\"y\":6}}",
		"{\"a\":{\"y\":7,\"x\":8},\"a\":{\"x\":9,\"y\":10,\"x\":11}}",
		"{\"a\":{\"x\":{\"z\":1}},\"a\":{\"x\":{\"w\":2}}}",
	};
	eg_colscan_block_events = 4;
	eg_store *st = NULL;
	assert_int_equal(eg_store_open(&st, fx->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL), EG_OK);
	eg_batch *b;
	eg_batch_opts o = { .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	char line[512];
	for (size_t k = 0; k < sizeof data / sizeof *data; k++) {
		int n = snprintf(line, sizeof line, "{\"type\":\"t\",\"data\":%s}", data[k]);
		assert_int_equal(eg_batch_add_json(b, line, (size_t)n), EG_OK);
	}
	eg_append_result res;
	assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	eg_store_close(st);
	char err[256];
	assert_int_equal(eg_col_build(fx->dir, NULL, err, sizeof err), EG_OK);
	assert_int_equal(eg_store_open(&st, fx->dir, EG_OPEN_READ, NULL), EG_OK);
	uint64_t nb;
	assert_int_equal(eg_col_check(st, &nb), EG_OK);   /* every block as the lookup sees it */
	assert_int_equal(nb, 2);
	static const char *const a[] = { "a" }, *const ax[] = { "a", "x" },
		*const ay[] = { "a", "y" }, *const bb[] = { "b" }, *const axz[] = { "a", "x", "z" };
	int64_t iv;
	char t[64];
	assert_int_equal(tag_at(st, 1, a, 1, &iv, t, sizeof t), EG_CT_INT);
	assert_int_equal(iv, 2);
	assert_int_equal(tag_at(st, 1, ax, 2, &iv, t, sizeof t), EG_CT_ABSENT);
	assert_int_equal(tag_at(st, 1, ay, 2, &iv, t, sizeof t), EG_CT_ABSENT);
	assert_int_equal(tag_at(st, 2, ax, 2, &iv, t, sizeof t), EG_CT_STR);
	assert_string_equal(t, "\"t\"");
	assert_int_equal(tag_at(st, 3, ax, 2, &iv, t, sizeof t), EG_CT_RAW);
	assert_string_equal(t, "[1]");
	assert_int_equal(tag_at(st, 3, axz, 3, &iv, t, sizeof t), EG_CT_ABSENT);
	assert_int_equal(tag_at(st, 4, ax, 2, &iv, t, sizeof t), EG_CT_ABSENT);
	assert_int_equal(tag_at(st, 4, ay, 2, &iv, t, sizeof t), EG_CT_INT);
	assert_int_equal(tag_at(st, 5, bb, 1, &iv, t, sizeof t), EG_CT_STR);
	assert_string_equal(t, "\"v\"");
	assert_int_equal(tag_at(st, 6, ax, 2, &iv, t, sizeof t), EG_CT_INT);
	assert_int_equal(iv, 5);
	assert_int_equal(tag_at(st, 7, ax, 2, &iv, t, sizeof t), EG_CT_INT);
	assert_int_equal(iv, 11);
	assert_int_equal(tag_at(st, 7, ay, 2, &iv, t, sizeof t), EG_CT_INT);
	assert_int_equal(iv, 10);
	assert_int_equal(tag_at(st, 8, axz, 3, &iv, t, sizeof t), EG_CT_ABSENT);
	eg_store_close(st);
	eg_colscan_block_events = EG_COL_BLOCK_EVENTS;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scan_gives_each_event_its_values_as_the_log_does),
		cmocka_unit_test(blocks_are_cut_at_multiples_of_the_block_size),
		cmocka_unit_test(stream_limit_and_reverse_are_not_served),
		cmocka_unit_test(a_writers_scan_agrees),
		cmocka_unit_test(files_and_log_and_lookup_agree),
		cmocka_unit_test(a_damaged_block_is_refused_not_read),
		cmocka_unit_test(reindex_and_a_brief_writer_build_the_column_files),
		cmocka_unit_test_setup_teardown(uncovered_paths_are_refused_and_absent_ones_served,
						tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(repeated_names_last_wins, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_datasets.c — datasets ("filter on the last step", issue 23): a
 * small store whose every verdict is worked out by hand below, the table
 * read back (verdicts, keys, values, key rows), the attrition table in two
 * orders and per group, overlaps; each bad spec refused with a message
 * naming what is wrong and nothing kept; a damaged table; reuse when
 * nothing changed and a rebuild when the store moved or the spec did. */
#include "testutil.h"

/* 2025-01-10T00:00:00Z */
#define T0 1736467200000000LL
#define DAY 86400000000LL

/* Five rows (r0 … r4) of keys 1, 1, 2, 3, 2.  The verdicts of the three
 * filters of SPEC (P pass, F fail, N null):
 *         big (n > 4)  red (s LIKE 'r%')  notk2 (k <> 2)
 *   r0 k1     P             P                P          kept
 *   r1 k1     N             F                P
 *   r2 k2     P             P                F
 *   r3 k3     N             N                P
 *   r4 k2     F             F                F                     */
static const char *const EVENTS[] = {
	"{\"stream\":\"a\",\"type\":\"t\",\"time\":\"2025-01-10T00:00:00Z\",\"data\":{\"k\":1,\"n\":5,\"s\":\"red\"}}",
	"{\"stream\":\"a\",\"type\":\"t\",\"time\":\"2025-01-11T00:00:00Z\",\"data\":{\"k\":1,\"n\":null,\"s\":\"blue\"}}",
	"{\"stream\":\"b\",\"type\":\"t\",\"time\":\"2025-01-12T00:00:00Z\",\"data\":{\"k\":2,\"n\":12,\"s\":\"red\"}}",
	"{\"stream\":\"c\",\"type\":\"t\",\"time\":\"2025-01-13T00:00:00Z\",\"data\":{\"k\":3,\"s\":null}}",
	"{\"stream\":\"b\",\"type\":\"t\",\"time\":\"2025-01-14T00:00:00Z\",\"data\":{\"k\":2,\"n\":3,\"s\":\"green\"}}",
};
static const char MORE[] =
	"{\"stream\":\"d\",\"type\":\"t\",\"time\":\"2025-01-15T00:00:00Z\",\"data\":{\"k\":4,\"n\":9,\"s\":\"rose\"}}";

#define BASE "SELECT data->>'$.k' AS k, data->>'$.n' AS n, data->>'$.s' AS s FROM events ORDER BY pos"
#define FILTERS \
	"[{\"name\": \"big\", \"sql\": \"n > 4\", \"why\": \"small\"}," \
	" {\"name\": \"red\", \"sql\": \"s LIKE 'r%'\"}," \
	" {\"name\": \"notk2\", \"sql\": \"k <> 2\"}]"
static const char SPEC[] =
	"{\"name\": \"d1\", \"key\": \"k\", \"base\": \"" BASE "\", \"filters\": " FILTERS ","
	" \"output\": [\"k\"], \"distinct\": true}";

static eg_store *store_with_rows(tu_fx *f)
{
	eg_store *st = tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	tu_append(st, EVENTS, sizeof EVENTS / sizeof *EVENTS);
	return st;
}

static const eg_dset_build_opts NOW = { .as_of = EG_TIME_NONE, .known_at = EG_TIME_NONE };

/* Build spec or fail the test with the library's message. */
static eg_dataset *build_ok(eg_store *st, const char *spec, const eg_dset_build_opts *o,
			    int *reused)
{
	eg_dataset *d = NULL;
	int r = -1;
	int rc = eg_dset_build(st, spec, strlen(spec), o ? o : &NOW, &d, &r);
	if (rc != EG_OK)
		fail_msg("eg_dset_build: %s: %s", eg_strerror(rc), eg_errmsg(st));
	assert_non_null(d);
	if (reused)
		*reused = r;
	return d;
}

/* The build fails with EG_EINVAL, its message holds want, and there is
 * no dataset name kept after it. */
static void build_fails(eg_store *st, const char *spec, const char *name, const char *want)
{
	eg_dataset *d = NULL;
	int reused = 0;
	assert_int_equal(eg_dset_build(st, spec, strlen(spec), &NOW, &d, &reused), EG_EINVAL);
	assert_null(d);
	if (!strstr(eg_errmsg(st), want))
		fail_msg("error '%s' does not say '%s'", eg_errmsg(st), want);
	if (name && strchr(name, '/') == NULL && strcmp(name, "..")) {
		eg_dataset *o = NULL;
		assert_int_equal(eg_dset_open(st, name, &o), EG_ENOTFOUND);
		assert_null(o);
	}
}

static int count_names(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static void test_table_holds_every_row_and_its_verdicts(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);

	assert_string_equal(eg_dset_name(d), "d1");
	assert_int_equal(eg_dset_nrows(d), 5);
	assert_int_equal(eg_dset_nkeys(d), 3);
	assert_int_equal(eg_dset_head(d), 5);
	assert_int_equal(eg_dset_ncols(d), 3);
	assert_string_equal(eg_dset_col(d, 0), "k");
	assert_string_equal(eg_dset_col(d, 1), "n");
	assert_string_equal(eg_dset_col(d, 2), "s");
	assert_int_equal(eg_dset_key_col(d), 0);
	size_t n;
	int distinct = 0;
	const size_t *out = eg_dset_output(d, &n, &distinct);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0);
	assert_true(distinct);

	assert_int_equal(eg_dset_nfilters(d), 3);
	const char *sql, *why;
	assert_string_equal(eg_dset_filter(d, 0, &sql, &why), "big");
	assert_string_equal(sql, "n > 4");
	assert_string_equal(why, "small");
	assert_string_equal(eg_dset_filter(d, 2, &sql, &why), "notk2");
	assert_int_equal(eg_dset_filter_index(d, "red"), 1);
	assert_int_equal(eg_dset_filter_index(d, "blue"), -1);
	const size_t *reads = eg_dset_filter_reads(d, 0, &n);
	assert_int_equal(n, 1);
	assert_int_equal(reads[0], 1);
	reads = eg_dset_filter_reads(d, 2, &n);
	assert_int_equal(n, 1);
	assert_int_equal(reads[0], 0);

	static const int want[5][3] = {
		{ EG_DSET_PASS, EG_DSET_PASS, EG_DSET_PASS },
		{ EG_DSET_NULL, EG_DSET_FAIL, EG_DSET_PASS },
		{ EG_DSET_PASS, EG_DSET_PASS, EG_DSET_FAIL },
		{ EG_DSET_NULL, EG_DSET_NULL, EG_DSET_PASS },
		{ EG_DSET_FAIL, EG_DSET_FAIL, EG_DSET_FAIL },
	};
	static const uint64_t key_id[5] = { 0, 0, 1, 2, 1 };
	for (uint64_t r = 0; r < 5; r++) {
		for (size_t i = 0; i < 3; i++)
			if (eg_dset_verdict(d, r, i) != want[r][i])
				fail_msg("row %d filter %zu: verdict %d, want %d", (int)r, i,
					 eg_dset_verdict(d, r, i), want[r][i]);
		assert_int_equal(eg_dset_kept(d, r), r == 0);
		assert_int_equal(eg_dset_key_id(d, r), key_id[r]);
	}
	eg_dset_close(d);
	eg_store_close(st);
}

static void test_values_and_rows_of_a_key(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	eg_dset_value v;
	char t[32];

	eg_dset_value_at(d, 0, 1, &v);
	assert_int_equal(v.type, 1);
	assert_int_equal(v.i, 5);
	eg_dset_value_at(d, 0, 2, &v);
	assert_int_equal(v.type, 3);
	assert_int_equal(v.n, 3);
	assert_memory_equal(v.s, "red", 3);
	assert_int_equal(eg_dset_value_text(&v, t, sizeof t), 3);
	assert_string_equal(t, "red");
	eg_dset_value_at(d, 1, 1, &v);    /* n: null */
	assert_int_equal(v.type, 5);
	assert_int_equal(eg_dset_value_text(&v, t, sizeof t), 4);
	assert_string_equal(t, "null");
	eg_dset_value_at(d, 3, 2, &v);    /* s: absent */
	assert_int_equal(v.type, 5);
	eg_dset_value_at(d, 2, 1, &v);
	assert_int_equal(eg_dset_value_text(&v, t, sizeof t), 2);
	assert_string_equal(t, "12");
	/* a small buffer: cut, NUL-terminated, the length written returned */
	eg_dset_value_at(d, 4, 2, &v);
	assert_int_equal(eg_dset_value_text(&v, t, 3), 2);
	assert_string_equal(t, "gr");

	uint64_t rows[4] = { 0 };
	assert_int_equal(eg_dset_key_rows(d, "2", 1, rows, 4), 2);
	assert_int_equal(rows[0], 2);
	assert_int_equal(rows[1], 4);
	assert_int_equal(eg_dset_key_rows(d, "1", 1, rows, 1), 2);   /* only max written */
	assert_int_equal(rows[0], 0);
	assert_int_equal(eg_dset_key_rows(d, "3", 1, rows, 4), 1);
	assert_int_equal(rows[0], 3);
	assert_int_equal(eg_dset_key_rows(d, "9", 1, rows, 4), 0);
	assert_int_equal(eg_dset_key_rows(d, "12", 2, rows, 4), 0);
	eg_dset_close(d);
	eg_store_close(st);
}

static void want_step(const eg_dset_step *s, size_t filter, uint64_t rf, uint64_t kf,
		      uint64_t orows, uint64_t okeys, uint64_t rr, uint64_t kr)
{
	if (s->filter != filter || s->rows_failing != rf || s->keys_failing != kf ||
	    s->only_rows != orows || s->only_keys != okeys || s->rows_remaining != rr ||
	    s->keys_remaining != kr)
		fail_msg("step of filter %zu: %zu %llu %llu %llu %llu %llu %llu, want "
			 "%zu %llu %llu %llu %llu %llu %llu", filter, s->filter,
			 (unsigned long long)s->rows_failing, (unsigned long long)s->keys_failing,
			 (unsigned long long)s->only_rows, (unsigned long long)s->only_keys,
			 (unsigned long long)s->rows_remaining, (unsigned long long)s->keys_remaining,
			 filter, (unsigned long long)rf, (unsigned long long)kf,
			 (unsigned long long)orows, (unsigned long long)okeys,
			 (unsigned long long)rr, (unsigned long long)kr);
}

static void test_explain_in_spec_order_and_another(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	eg_dset_step s[3];

	static const size_t spec_order[3] = { 0, 1, 2 };
	assert_int_equal(eg_dset_explain(d, spec_order, 3, NULL, 0, s), EG_OK);
	/* big fails r1 r3 r4, no key wholly (k3 has only r3: 1); no row fails
	 * it alone; r0 r2 remain */
	want_step(&s[0], 0, 3, 1, 0, 0, 2, 2);
	want_step(&s[1], 1, 3, 1, 0, 0, 2, 2);
	/* notk2 fails r2 r4 (key 2); r2 fails it alone, and without it key 2
	 * would be kept by r2 */
	want_step(&s[2], 2, 2, 1, 1, 1, 1, 1);

	static const size_t other[3] = { 2, 0, 1 };
	assert_int_equal(eg_dset_explain(d, other, 3, NULL, 0, s), EG_OK);
	want_step(&s[0], 2, 2, 1, 1, 1, 3, 2);   /* r0 r1 r3 remain: keys 1, 3 */
	want_step(&s[1], 0, 3, 1, 0, 0, 1, 1);
	want_step(&s[2], 1, 3, 1, 0, 0, 1, 1);

	assert_int_equal(eg_dset_overlap(d, 0, 1), 3);
	assert_int_equal(eg_dset_overlap(d, 1, 0), 3);
	assert_int_equal(eg_dset_overlap(d, 0, 2), 1);
	assert_int_equal(eg_dset_overlap(d, 1, 2), 1);
	assert_int_equal(eg_dset_overlap(d, 2, 2), 2);
	assert_int_equal(eg_dset_overlap(d, 0, 0), 3);
	eg_dset_close(d);
	eg_store_close(st);
}

static void test_group_by_a_column_in_sqlite_order(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	uint32_t *group = NULL, ng = 0;
	uint64_t *first = NULL;

	assert_int_equal(eg_dset_group_by(d, 2, &group, &first, &ng), EG_OK);
	/* s: NULL, blue, green, red */
	assert_int_equal(ng, 4);
	static const uint32_t want_group[5] = { 3, 1, 3, 0, 2 };
	static const uint64_t want_first[4] = { 3, 1, 4, 0 };
	for (int r = 0; r < 5; r++)
		assert_int_equal(group[r], want_group[r]);
	for (int g = 0; g < 4; g++)
		assert_int_equal(first[g], want_first[g]);

	uint64_t rows = 0, keys = 0;
	eg_dset_count(d, group, 3, &rows, &keys);
	assert_int_equal(rows, 2);
	assert_int_equal(keys, 2);
	eg_dset_count(d, NULL, 0, &rows, &keys);
	assert_int_equal(rows, 5);
	assert_int_equal(keys, 3);

	/* the red rows r0 (k1, kept) and r2 (k2, failing notk2 alone) */
	eg_dset_step s[3];
	static const size_t order[3] = { 0, 1, 2 };
	assert_int_equal(eg_dset_explain(d, order, 3, group, 3, s), EG_OK);
	want_step(&s[0], 0, 0, 0, 0, 0, 2, 2);
	want_step(&s[1], 1, 0, 0, 0, 0, 2, 2);
	want_step(&s[2], 2, 1, 1, 1, 1, 1, 1);
	/* the NULL row r3 (k3) fails big and red */
	assert_int_equal(eg_dset_explain(d, order, 3, group, 0, s), EG_OK);
	want_step(&s[0], 0, 1, 1, 0, 0, 0, 0);
	want_step(&s[2], 2, 0, 0, 0, 0, 0, 0);
	free(group);
	free(first);
	eg_dset_close(d);
	eg_store_close(st);
}

/* spec with SPEC's filters replaced, or its name, key or base */
static char *spec_with(const char *name, const char *key, const char *base, const char *filters)
{
	char *s = malloc(4096);
	assert_non_null(s);
	snprintf(s, 4096, "{\"name\": \"%s\", \"key\": \"%s\", \"base\": \"%s\", \"filters\": %s}",
		 name, key, base, filters);
	return s;
}

static void bad(eg_store *st, const char *name, const char *key, const char *base,
		const char *filters, const char *want)
{
	char *s = spec_with(name, key, base, filters);
	build_fails(st, s, name, want);
	free(s);
}

static void test_bad_specs_are_refused_and_keep_nothing(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"}, {\"name\": \"a\", \"sql\": \"n > 2\"}]",
	    "$.filters[1].name: 'a' is the name of filter 0 too");
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"zz > 1\"}]", "filter 'a'");
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"zz > 1\"}]", "zz");
	bad(st, "x", "kk", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"}]",
	    "key: the base has no column 'kk' (its columns: k, n, s)");
	bad(st, "a/b", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"}]", "holds '/'");
	bad(st, "..", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"}]", "starts with '.'");
	bad(st, "x", "k", "SELECT nope FROM events", "[{\"name\": \"a\", \"sql\": \"n > 1\"}]", "base: ");
	bad(st, "x", "k", "SELECT nope FROM events", "[{\"name\": \"a\", \"sql\": \"n > 1\"}]", "nope");
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"}, {\"name\": \"b2\", \"sql\": \"n >\"}]",
	    "filter 'b2'");
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1; DROP TABLE t\"}]", "filter 'a'");

	int n = 0;
	assert_int_equal(eg_dset_list(st, count_names, &n), EG_OK);
	assert_int_equal(n, 0);
	eg_store_close(st);
}

/* abs() of the smallest integer: prepared fine, fails while the rows run */
#define OVERFLOW "[{\"name\": \"ok\", \"sql\": \"n > 1\"}," \
	" {\"name\": \"a\", \"sql\": \"abs(-9223372036854775807 - 1 + n - n) > 0\"}]"

static void test_filter_failing_while_running_is_named(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	bad(st, "x", "k", BASE, OVERFLOW, "integer overflow");
	bad(st, "x", "k", BASE, OVERFLOW, "filter 'a'");
	eg_store_close(st);
}

static void test_build_failing_while_running_leaves_no_directory(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	bad(st, "x", "k", BASE, OVERFLOW, "integer overflow");
	int n = 0;
	assert_int_equal(eg_dset_list(st, count_names, &n), EG_OK);
	assert_int_equal(n, 0);
	snprintf(f->path, sizeof f->path, "%s/datasets/x", f->dir);
	struct stat sb;
	if (stat(f->path, &sb) == 0)
		fail_msg("%s is left after a failed build", f->path);
	eg_store_close(st);
}

/* f_a and f_A are one column to SQLite: names differing only in case must
 * be refused like equal ones, and the kept dataset left as it was. */
static void test_filter_names_differing_in_case_are_refused(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dset_close(build_ok(st, SPEC, NULL, NULL));
	char *s = spec_with("d1", "k", BASE, "[{\"name\": \"a\", \"sql\": \"n > 1\"},"
			    " {\"name\": \"A\", \"sql\": \"n > 2\"}]");
	eg_dataset *d = NULL;
	int reused = 0;
	int rc = eg_dset_build(st, s, strlen(s), &NOW, &d, &reused);
	free(s);
	eg_dset_close(d);
	if (rc != EG_EINVAL)
		fail_msg("filters a and A: build gave %s, want EG_EINVAL", eg_strerror(rc));
	assert_non_null(strstr(eg_errmsg(st), "$.filters[1].name"));
	assert_int_equal(eg_dset_open(st, "d1", &d), EG_OK);
	assert_int_equal(eg_dset_nfilters(d), 3);
	eg_dset_close(d);
	eg_store_close(st);
}

/* An aggregate in a filter would fold the base into one row: every base
 * row must be kept, or the filter refused. */
static void test_aggregate_filter_keeps_every_row_or_is_refused(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	char *s = spec_with("agg", "k", BASE, "[{\"name\": \"a\", \"sql\": \"count(*) > 1\"}]");
	eg_dataset *d = NULL;
	int reused = 0;
	int rc = eg_dset_build(st, s, strlen(s), &NOW, &d, &reused);
	free(s);
	if (rc == EG_OK) {
		uint64_t n = eg_dset_nrows(d);
		eg_dset_close(d);
		if (n != 5)
			fail_msg("a filter count(*) > 1 was taken and the base's 5 rows became %llu",
				 (unsigned long long)n);
	} else {
		assert_int_equal(rc, EG_EINVAL);
		assert_non_null(strstr(eg_errmsg(st), "filter 'a'"));
	}
	eg_store_close(st);
}

/* A filter that is more than one expression must not be taken: spliced
 * into the build's statement it would shift every later filter's column. */
static void test_filter_of_two_expressions_is_refused(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	bad(st, "x", "k", BASE, "[{\"name\": \"a\", \"sql\": \"0), (1\"}, {\"name\": \"b\", \"sql\": \"n > 4\"}]",
	    "filter 'a'");
	eg_store_close(st);
}

static void test_failed_build_keeps_the_old_dataset(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	eg_dset_close(d);

	char *s = spec_with("d1", "k", BASE, "[{\"name\": \"a\", \"sql\": \"nothere = 1\"}]");
	eg_dataset *d2 = NULL;
	int reused = 0;
	assert_int_equal(eg_dset_build(st, s, strlen(s), &NOW, &d2, &reused), EG_EINVAL);
	free(s);
	assert_null(d2);
	assert_int_equal(eg_dset_open(st, "d1", &d), EG_OK);
	assert_int_equal(eg_dset_nfilters(d), 3);
	assert_int_equal(eg_dset_nrows(d), 5);
	eg_dset_close(d);
	/* and a build failing while the rows run */
	s = spec_with("d1", "k", BASE, OVERFLOW);
	assert_int_equal(eg_dset_build(st, s, strlen(s), &NOW, &d2, &reused), EG_EINVAL);
	free(s);
	assert_null(d2);
	assert_int_equal(eg_dset_open(st, "d1", &d), EG_OK);
	assert_int_equal(eg_dset_nfilters(d), 3);
	eg_dset_close(d);

	int n = 0;
	assert_int_equal(eg_dset_list(st, count_names, &n), EG_OK);
	assert_int_equal(n, 1);
	assert_int_equal(eg_dset_drop(st, "d1"), EG_OK);
	assert_int_equal(eg_dset_open(st, "d1", &d), EG_ENOTFOUND);
	assert_int_equal(eg_dset_drop(st, "d1"), EG_ENOTFOUND);
	assert_int_equal(eg_dset_drop(st, "../x"), EG_EINVAL);
	n = 0;
	assert_int_equal(eg_dset_list(st, count_names, &n), EG_OK);
	assert_int_equal(n, 0);
	eg_store_close(st);
}

static void test_damaged_table_is_corrupt(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	eg_dset_close(d);

	snprintf(f->path, sizeof f->path, "%s/datasets/d1/table", f->dir);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(sb.st_size > 64);
	/* flip one byte of the magic, the header, the middle, near the end
	 * (each alone) */
	off_t at[4] = { 1, 12, sb.st_size / 2, sb.st_size - 3 };
	for (int i = 0; i < 4; i++) {
		int fd = open(f->path, O_RDWR);
		assert_true(fd >= 0);
		unsigned char c;
		assert_int_equal(pread(fd, &c, 1, at[i]), 1);
		c ^= 0x10;
		assert_int_equal(pwrite(fd, &c, 1, at[i]), 1);
		d = NULL;
		int rc = eg_dset_open(st, "d1", &d);
		if (rc != EG_ECORRUPT)
			fail_msg("byte %lld of %lld flipped: open gave %s", (long long)at[i],
				 (long long)sb.st_size, eg_strerror(rc));
		assert_null(d);
		c ^= 0x10;
		assert_int_equal(pwrite(fd, &c, 1, at[i]), 1);
		close(fd);
		assert_int_equal(eg_dset_open(st, "d1", &d), EG_OK);
		eg_dset_close(d);
	}
	/* cut short */
	assert_int_equal(truncate(f->path, sb.st_size - 8), 0);
	d = NULL;
	assert_int_equal(eg_dset_open(st, "d1", &d), EG_ECORRUPT);
	assert_null(d);
	/* a build mends it, even unforced: a damaged table is not reused */
	int reused = -1;
	d = build_ok(st, SPEC, NULL, &reused);
	assert_int_equal(reused, 0);
	assert_int_equal(eg_dset_nrows(d), 5);
	eg_dset_close(d);
	eg_store_close(st);
}

static void test_reuse_until_the_store_or_spec_moves(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	int reused = -1;
	eg_dataset *d = build_ok(st, SPEC, NULL, &reused);
	assert_int_equal(reused, 0);
	eg_dset_close(d);

	d = build_ok(st, SPEC, NULL, &reused);
	assert_int_equal(reused, 1);
	assert_int_equal(eg_dset_stale(st, d), 0);
	eg_dset_close(d);

	eg_dset_build_opts force = NOW;
	force.force = 1;
	d = build_ok(st, SPEC, &force, &reused);
	assert_int_equal(reused, 0);
	eg_dset_close(d);

	/* the store moves: the kept one is stale, the next build reads it */
	eg_dataset *old = NULL;
	assert_int_equal(eg_dset_open(st, "d1", &old), EG_OK);
	const char *more = MORE;
	tu_append(st, &more, 1);
	assert_int_equal(eg_dset_stale(st, old), 1);
	d = build_ok(st, SPEC, NULL, &reused);
	assert_int_equal(reused, 0);
	assert_int_equal(eg_dset_nrows(d), 6);
	assert_int_equal(eg_dset_nkeys(d), 4);
	assert_int_equal(eg_dset_head(d), 6);
	assert_true(eg_dset_kept(d, 5));
	/* the handle opened before is still the old table */
	assert_int_equal(eg_dset_nrows(old), 5);
	eg_dset_close(old);
	eg_dset_close(d);

	/* the spec changes (a filter's SQL): built again */
	char *s = spec_with("d1", "k", BASE, "[{\"name\": \"big\", \"sql\": \"n > 5\"}]");
	d = build_ok(st, s, NULL, &reused);
	free(s);
	assert_int_equal(reused, 0);
	assert_int_equal(eg_dset_nfilters(d), 1);
	assert_false(eg_dset_kept(d, 0));    /* n = 5 */
	eg_dset_close(d);
	eg_store_close(st);
}

static void test_known_at_and_as_of_bound_the_base(void **state)
{
	tu_fx *f = *state;
	eg_store *st = store_with_rows(f);
	eg_dataset *d = build_ok(st, SPEC, NULL, NULL);
	uint64_t head = eg_dset_head(d);
	eg_dset_close(d);
	/* the recorded time of the last event so far */
	eg_filter flt = { .from = head, .to = head };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &flt), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	int64_t k = e->recorded;
	eg_iter_free(it);

	usleep(2000);
	const char *more = MORE;
	tu_append(st, &more, 1);
	eg_dset_build_opts o = NOW;
	o.known_at = k;
	int reused = -1;
	d = build_ok(st, SPEC, &o, &reused);
	assert_int_equal(reused, 0);    /* other bounds than the kept one's */
	assert_int_equal(eg_dset_nrows(d), 5);
	assert_int_equal(eg_dset_head(d), 5);
	assert_int_equal(eg_dset_stale(st, d), 0);
	eg_dset_close(d);
	tu_append(st, &more, 1);
	d = build_ok(st, SPEC, &o, &reused);
	assert_int_equal(eg_dset_nrows(d), 5);
	eg_dset_close(d);

	/* as_of: events with time <= the third's */
	o = NOW;
	o.as_of = T0 + 2 * DAY;
	d = build_ok(st, SPEC, &o, &reused);
	assert_int_equal(reused, 0);
	assert_int_equal(eg_dset_nrows(d), 3);
	assert_int_equal(eg_dset_nkeys(d), 2);
	eg_dset_close(d);
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_holds_every_row_and_its_verdicts, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_values_and_rows_of_a_key, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_explain_in_spec_order_and_another, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_group_by_a_column_in_sqlite_order, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_specs_are_refused_and_keep_nothing, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_filter_failing_while_running_is_named, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_build_failing_while_running_leaves_no_directory, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_filter_names_differing_in_case_are_refused, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_aggregate_filter_keeps_every_row_or_is_refused, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_filter_of_two_expressions_is_refused, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_failed_build_keeps_the_old_dataset, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_table_is_corrupt, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_reuse_until_the_store_or_spec_moves, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_known_at_and_as_of_bound_the_base, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

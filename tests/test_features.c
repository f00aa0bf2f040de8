/* test_features.c — point-in-time features: the spec's errors, every
 * aggregate at a cutoff, the record-time guard and the naive answer, the
 * derived table kept and its tail, the bound, the chain at a position,
 * and the CSV reader behind labels files. */
#include "testutil.h"
#include "csv.h"

static const char SPEC[] =
	"{\"entity\": \"data.customer\","
	" \"labels\": {\"entity\": \"customer\", \"cutoff\": \"t\"},"
	" \"features\": {"
	"  \"n\":      {\"count\": true},"
	"  \"buys_2d\":{\"count\": true, \"types\": [\"buy\"], \"window\": \"2d\"},"
	"  \"spend\":  {\"sum\": \"data.amount\", \"types\": [\"buy\"]},"
	"  \"avg\":    {\"avg\": \"data.amount\", \"types\": [\"buy\"]},"
	"  \"lo\":     {\"min\": \"data.amount\"},"
	"  \"hi\":     {\"max\": \"data.amount\"},"
	"  \"first\":  {\"first\": \"data.page\"},"
	"  \"last\":   {\"last\": \"data.page\"},"
	"  \"pages\":  {\"count_distinct\": \"data.page\"},"
	"  \"days\":   {\"since_last\": \"1d\", \"types\": [\"buy\"]},"
	"  \"per_buy\":{\"ratio\": [\"spend\", \"buys_2d\"]}"
	" }}";

static eg_feat_spec *parse(const char *json)
{
	eg_feat_spec *s = NULL;
	char err[512] = "";
	if (eg_feat_spec_parse(json, strlen(json), &s, err, sizeof err))
		fail_msg("spec did not parse: %s", err);
	return s;
}

/* The parse fails and its message holds want. */
static void parse_fails(const char *json, const char *want)
{
	eg_feat_spec *s = NULL;
	char err[512] = "";
	assert_int_equal(eg_feat_spec_parse(json, strlen(json), &s, err, sizeof err), EG_EINVAL);
	assert_null(s);
	if (!strstr(err, want))
		fail_msg("error '%s' does not say '%s'", err, want);
}

static void test_spec_errors_name_the_path(void **state)
{
	(void)state;
	parse_fails("{\"features\": {\"a\": {\"count\": true}}}", "$.entity: missing");
	parse_fails("{\"entity\": \"time\", \"features\": {\"a\": {\"count\": true}}}", "$.entity");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"median\": \"data.x\"}}}",
		    "$.features.a.median: unknown member");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true, \"window\": \"0s\"}}}",
		    "$.features.a.window: expected a duration longer than 0");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true, \"window\": \"-1d\"}}}",
		    "$.features.a.window");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"ratio\": [\"a\", \"zz\"]}}}",
		    "no feature named 'zz'");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"ratio\": [\"b\", \"c\"]},"
		    " \"b\": {\"ratio\": [\"a\", \"c\"]}, \"c\": {\"count\": true}}}", "depends on itself");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"ratio\": [\"a\", \"a\"]}}}",
		    "depends on itself");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true, \"sum\": \"data.x\"}}}",
		    "one aggregate per feature");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true, \"types\": \"buy\"}}}",
		    "$.features.a.types: expected an array");
	parse_fails("{\"entity\": \"stream\", \"features\": {}}", "at least one feature");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"projection\": \"p.json\"}}}",
		    "needs \"field\"");
	parse_fails("{\"entity\": \"stream\", \"ttl\": \"soon\", \"features\": {\"a\": {\"count\": true}}}",
		    "$.ttl");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true}}, \"extra\": 1}",
		    "unknown member 'extra'");
	parse_fails("{\"entity\": \"stream\", \"features\": {\"a\": {\"count\": true}, \"a\": {\"count\": true}}}",
		    "a second feature of this name");
	parse_fails("{\"entity\": \"stream\", \"labels\": {\"entity\": \"u\"}, \"features\": {\"a\": {\"count\": true}}}",
		    "$.labels");
	eg_feat_spec *s = parse(SPEC);
	assert_int_equal(eg_feat_spec_count(s), 11);
	assert_string_equal(eg_feat_spec_name(s, 10), "per_buy");
	assert_string_equal(eg_feat_spec_label_cutoff(s), "t");
	eg_feat_spec_free(s);
}

#define DAY 86400000000LL
/* 2025-01-10T00:00:00Z */
#define T0 1736467200000000LL

static void append1(eg_store *st, const char *line)
{
	tu_append(st, &line, 1);
}

static int64_t recorded_of(eg_store *st, uint64_t pos)
{
	eg_filter f = { .from = pos, .to = pos };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	int64_t r = e->recorded;
	eg_iter_free(it);
	return r;
}

static eg_feat *open_ok(eg_store *st, const eg_feat_spec *s)
{
	eg_feat *f = NULL;
	int rc = eg_feat_open(st, s, 0, &f);
	if (rc)
		fail_msg("eg_feat_open: %s: %s", eg_strerror(rc), eg_errmsg(st));
	return f;
}

/* The features of entity e at cutoff c known at k, or fail. */
static void get_ok(eg_feat *f, const char *e, int64_t c, int64_t k, int flags, eg_feat_values *v)
{
	assert_int_equal(eg_feat_get(f, e, strlen(e), c, k, flags, v), EG_OK);
}

/* The value of feature name in v, as text. */
static void want(const eg_feat_values *v, const char *name, const char *text)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->names[i], name)) {
			if (v->lens[i] != strlen(text) || memcmp(v->values[i], text, v->lens[i]))
				fail_msg("%s is %.*s, expected %s", name, (int)v->lens[i], v->values[i], text);
			return;
		}
	fail_msg("no feature %s", name);
}

static void want_naive(const eg_feat_values *v, const char *name, const char *text)
{
	eg_feat_values w = *v;
	w.values = v->naive;
	w.lens = v->naive_lens;
	want(&w, name, text);
}

/* Customer c1: buys on days 1, 3 (amounts 10.10, 20.20), a view on day 4;
 * then, recorded later, a buy on day 4 (30) that arrived late. */
static eg_store *orders(const char *dir, int64_t *k_before_late)
{
	eg_store *st = tu_open(dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	const char *b1[] = {
		"{\"type\":\"buy\",\"time\":\"2025-01-01T00:00:00Z\",\"data\":{\"customer\":\"c1\",\"amount\":10.10,\"page\":\"/a\"}}",
		"{\"type\":\"buy\",\"time\":\"2025-01-03T00:00:00Z\",\"data\":{\"customer\":\"c1\",\"amount\":20.20,\"page\":\"/b\"}}",
		"{\"type\":\"view\",\"time\":\"2025-01-04T00:00:00Z\",\"data\":{\"customer\":\"c1\",\"page\":\"/a\"}}",
		"{\"type\":\"buy\",\"time\":\"2025-01-02T00:00:00Z\",\"data\":{\"customer\":\"c2\",\"amount\":5}}",
		"{\"type\":\"buy\",\"time\":\"2025-01-02T00:00:00Z\",\"data\":{\"amount\":99}}",
	};
	tu_append(st, b1, 5);
	*k_before_late = recorded_of(st, 5);
	usleep(2000);
	append1(st, "{\"type\":\"buy\",\"time\":\"2025-01-04T12:00:00Z\",\"data\":{\"customer\":\"c1\",\"amount\":30,\"page\":\"/c\"}}");
	return st;
}

static void test_aggregates_at_a_cutoff(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_feat_spec *s = parse(SPEC);
	eg_feat *f = open_ok(st, s);
	eg_feat_values v;
	int64_t c = T0 - 5 * DAY;   /* 2025-01-05 */
	/* known now: every event */
	get_ok(f, "c1", c, INT64_MAX, 0, &v);
	want(&v, "n", "4");
	want(&v, "buys_2d", "2");     /* days 3 and 4.5 are in [3, 5) */
	want(&v, "spend", "60.3");    /* exact: 10.10 + 20.20 + 30 */
	want(&v, "avg", "20.1");
	want(&v, "lo", "10.1");
	want(&v, "hi", "30");
	want(&v, "first", "\"/a\"");
	want(&v, "last", "\"/c\"");
	want(&v, "pages", "3");
	want(&v, "days", "0.5");
	want(&v, "per_buy", "30.15");
	/* strictly before the cutoff: the event at the cutoff's time is out */
	get_ok(f, "c1", T0 - 7 * DAY, INT64_MAX, 0, &v);
	want(&v, "n", "1");
	want(&v, "days", "2");
	/* an entity never seen: features as over no events */
	get_ok(f, "nobody", c, INT64_MAX, 0, &v);
	want(&v, "n", "0");
	want(&v, "spend", "0");
	want(&v, "avg", "null");
	want(&v, "first", "null");
	want(&v, "days", "null");
	want(&v, "per_buy", "null");
	want(&v, "pages", "0");
	eg_feat_close(f);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

static void test_inclusive_counts_the_cutoff(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_feat_spec *s = parse("{\"entity\": \"data.customer\", \"inclusive\": true, "
				"\"features\": {\"n\": {\"count\": true}}}");
	eg_feat *f = open_ok(st, s);
	eg_feat_values v;
	get_ok(f, "c1", T0 - 7 * DAY, INT64_MAX, 0, &v);
	want(&v, "n", "2");
	eg_feat_close(f);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

static void test_late_event_is_left_out_and_reported(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_feat_spec *s = parse(SPEC);
	eg_feat *f = open_ok(st, s);
	eg_feat_values v;
	int64_t c = T0 - 5 * DAY;
	get_ok(f, "c1", c, k, EG_FEAT_NAIVE, &v);
	want(&v, "n", "3");
	want(&v, "spend", "30.3");
	want(&v, "last", "\"/a\"");
	want(&v, "days", "2");
	want(&v, "per_buy", "30.3");
	want_naive(&v, "n", "4");
	want_naive(&v, "spend", "60.3");
	want_naive(&v, "days", "0.5");
	uint64_t pos[4];
	assert_int_equal(eg_feat_late(f, 0, pos, 4), 1);
	assert_int_equal(pos[0], 6);
	/* the ratio's late events are those of what it divides, once */
	assert_int_equal(eg_feat_late(f, 10, pos, 4), 1);
	assert_int_equal(pos[0], 6);
	/* count_distinct counted its page only naively too */
	assert_int_equal(eg_feat_late(f, 8, pos, 4), 1);
	eg_feat_close(f);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

/* Every answer from the kept table, with a tail after it, equals the
 * answer from a table built from scratch. */
static void test_kept_table_and_tail_agree_with_a_rebuild(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_feat_spec *s = parse(SPEC);
	eg_feat *f = open_ok(st, s);
	eg_feat_close(f);
	uint64_t seed = 7;
	char line[256];
	for (int i = 0; i < 200; i++) {
		snprintf(line, sizeof line, "{\"type\":\"%s\",\"time\":%lld,\"data\":{\"customer\":\"c%d\","
			 "\"amount\":%d.%02d,\"page\":\"/p%d\"}}", tu_rnd(&seed) % 2 ? "buy" : "view",
			 (long long)(1735689600000LL + (long long)(tu_rnd(&seed) % 10) * 86400000LL),
			 (int)(tu_rnd(&seed) % 3) + 1, (int)(tu_rnd(&seed) % 100),
			 (int)(tu_rnd(&seed) % 100), (int)(tu_rnd(&seed) % 5));
		append1(st, line);
	}
	eg_feat *kept, *fresh;
	assert_int_equal(eg_feat_open(st, s, 0, &kept), EG_OK);
	char path[256];
	snprintf(path, sizeof path, "%s/idx/feat", fx->dir);
	rm_rf(path);
	assert_int_equal(eg_feat_open(st, s, 0, &fresh), EG_OK);
	for (int d = 0; d < 12; d++)
		for (int cu = 1; cu <= 3; cu++) {
			char e[8];
			snprintf(e, sizeof e, "c%d", cu);
			eg_feat_values a, b;
			int64_t c = T0 - 9 * DAY + d * DAY + 3600000000LL;
			assert_int_equal(eg_feat_get(kept, e, strlen(e), c, INT64_MAX, 0, &a), EG_OK);
			assert_int_equal(eg_feat_get(fresh, e, strlen(e), c, INT64_MAX, 0, &b), EG_OK);
			for (size_t i = 0; i < a.n; i++)
				if (a.lens[i] != b.lens[i] || memcmp(a.values[i], b.values[i], a.lens[i]))
					fail_msg("%s %s day %d: kept %.*s, rebuilt %.*s", e, a.names[i], d,
						 (int)a.lens[i], a.values[i], (int)b.lens[i], b.values[i]);
		}
	eg_feat_close(kept);
	eg_feat_close(fresh);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

static void test_bound_hides_later_events_and_chain_at(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_head h5;
	assert_int_equal(eg_store_head(st, &h5), EG_OK);
	unsigned char at5[32], at6[32];
	assert_int_equal(eg_store_chain_at(st, 6, at6), EG_OK);
	assert_memory_equal(at6, h5.hash, 32);
	assert_int_equal(eg_store_chain_at(st, 5, at5), EG_OK);
	assert_memory_not_equal(at5, at6, 32);
	assert_int_equal(eg_store_chain_at(st, 3, at5), EG_ENOTFOUND);   /* inside a batch */
	assert_int_equal(eg_store_chain_at(st, 7, at5), EG_ENOTFOUND);
	eg_feat_spec *s = parse(SPEC);
	eg_feat *f;
	assert_int_equal(eg_feat_open(st, s, 5, &f), EG_OK);
	assert_int_equal(eg_feat_bound(f), 5);
	eg_feat_values v;
	get_ok(f, "c1", T0, INT64_MAX, 0, &v);
	want(&v, "n", "3");
	eg_feat_close(f);
	assert_int_equal(eg_feat_open(st, s, 99, &f), EG_EINVAL);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

static void test_projection_feature_as_of_and_known_at(void **state)
{
	tu_fx *fx = *state;
	int64_t k;
	eg_store *st = orders(fx->dir, &k);
	eg_feat_spec *s = parse("{\"entity\": \"data.customer\", \"features\": {"
				"\"spent\": {\"projection\": \"c.json\", \"field\": \"spent\"}}}");
	eg_feat *f;
	assert_int_equal(eg_feat_open(st, s, 0, &f), EG_EINVAL);   /* its text not given */
	const char *pj = "{\"name\": \"c\", \"key\": \"data.customer\", \"fields\": "
			 "{\"spent\": {\"sum\": \"data.amount\", \"types\": [\"buy\"]}}}";
	char err[256];
	const char *other = "{\"name\": \"c\", \"key\": \"stream\", \"fields\": {\"x\": {\"count\": true}}}";
	assert_int_equal(eg_feat_spec_set_projection(s, 0, other, strlen(other), err, sizeof err),
			 EG_EINVAL);
	assert_non_null(strstr(err, "no field 'spent'"));
	assert_int_equal(eg_feat_spec_set_projection(s, 0, pj, strlen(pj), err, sizeof err), EG_OK);
	assert_int_equal(eg_feat_open(st, s, 0, &f), EG_OK);
	eg_feat_values v;
	get_ok(f, "c1", T0 - 5 * DAY, k, EG_FEAT_NAIVE, &v);
	want(&v, "spent", "30.3");
	want_naive(&v, "spent", "60.3");
	get_ok(f, "c1", T0 - 7 * DAY, INT64_MAX, 0, &v);
	want(&v, "spent", "10.1");     /* as of just before the cutoff */
	get_ok(f, "c9", T0, INT64_MAX, 0, &v);
	want(&v, "spent", "null");
	eg_feat_close(f);
	eg_feat_spec_free(s);
	eg_store_close(st);
}

/* Rows through eg_feat_get_rows, in threads, equal eg_feat_get one by one,
 * in row order; with a projection read through its own state as well. */
typedef struct seen {
	eg_feat *one;
	const char *const *ents;
	const size_t *lens;
	const int64_t *cut;
	size_t next, checked;
} seen;

static int check_row(void *ctx, size_t row, const eg_feat_values *v)
{
	seen *s = ctx;
	assert_int_equal(row, s->next++);
	eg_feat_values w;
	assert_int_equal(eg_feat_get(s->one, s->ents[row], s->lens[row], s->cut[row], s->cut[row], 0, &w),
			 EG_OK);
	assert_int_equal(v->n, w.n);
	for (size_t i = 0; i < v->n; i++)
		if (v->lens[i] != w.lens[i] || memcmp(v->values[i], w.values[i], w.lens[i]))
			fail_msg("row %zu %s: %.*s, one by one %.*s", row, v->names[i], (int)v->lens[i],
				 v->values[i], (int)w.lens[i], w.values[i]);
	s->checked++;
	return row == 4000 && s->checked > 100000 ? 7 : 0;
}

static void test_rows_in_threads_equal_one_by_one(void **state)
{
	tu_fx *fx = *state;
	eg_store *st = tu_open(fx->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	uint64_t seed = 11;
	char line[256];
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(line, sizeof line, "{\"type\":\"%s\",\"time\":%lld,\"data\":{\"customer\":\"c%d\","
				 "\"amount\":%d.%02d,\"page\":\"/p%d\"}}", tu_rnd(&seed) % 3 ? "buy" : "view",
				 (long long)(1735689600000LL + (long long)(tu_rnd(&seed) % (20 * 86400)) * 1000),
				 (int)(tu_rnd(&seed) % 50), (int)(tu_rnd(&seed) % 100), (int)(tu_rnd(&seed) % 100),
				 (int)(tu_rnd(&seed) % 7));
		assert_int_equal(eg_batch_add_json(b, line, (size_t)n), EG_OK);
	}
	assert_int_equal(eg_batch_commit(b, NULL), EG_OK);
	const char *pj = "{\"name\": \"c\", \"key\": \"data.customer\", \"fields\": "
			 "{\"spent\": {\"sum\": \"data.amount\", \"types\": [\"buy\"]}, "
			 "\"last\": {\"last\": \"data.page\"}}}";
	enum { N = 5000 };
	const char **ents = calloc(N, sizeof *ents);
	size_t *lens = calloc(N, sizeof *lens);
	int64_t *cut = calloc(N, sizeof *cut);
	char (*names)[8] = calloc(N, sizeof *names);
	for (size_t r = 0; r < N; r++) {
		snprintf(names[r], sizeof names[r], "c%d", (int)(tu_rnd(&seed) % 55));
		ents[r] = names[r];
		lens[r] = strlen(names[r]);
		cut[r] = 1735689600000000LL + (int64_t)(tu_rnd(&seed) % (22 * 86400)) * 1000000;
	}
	/* pushed down (threads), then one field read through the projection
	 * (one thread): both equal the one-by-one answers */
	for (int field = 0; field < 2; field++) {
		char spec[512];
		snprintf(spec, sizeof spec, "{\"entity\": \"data.customer\", \"features\": {"
			 "\"n\": {\"count\": true, \"window\": \"3d\"}, \"s\": {\"sum\": \"data.amount\"},"
			 "\"avg\": {\"avg\": \"data.amount\", \"types\": [\"buy\"]},"
			 "\"r\": {\"ratio\": [\"s\", \"n\"]}, \"p\": {\"projection\": \"c.json\", \"field\": \"%s\"}}}",
			 field ? "last" : "spent");
		eg_feat_spec *s = parse(spec);
		char err[256];
		assert_int_equal(eg_feat_spec_set_projection(s, 4, pj, strlen(pj), err, sizeof err), EG_OK);
		eg_feat *many, *one;
		assert_int_equal(eg_feat_open(st, s, 0, &many), EG_OK);
		assert_int_equal(eg_feat_open(st, s, 0, &one), EG_OK);
		seen sn = { one, ents, lens, cut, 0, 0 };
		assert_int_equal(eg_feat_get_rows(many, N, ents, lens, cut, cut, 2, check_row, &sn), EG_OK);
		assert_int_equal(sn.checked, N);
		/* a nonzero return stops and is returned */
		sn.next = 0, sn.checked = 200000;
		assert_int_equal(eg_feat_get_rows(many, N, ents, lens, cut, cut, 2, check_row, &sn), 7);
		assert_int_equal(sn.next, 4001);
		eg_feat_close(many);
		eg_feat_close(one);
		eg_feat_spec_free(s);
	}
	free(ents);
	free(lens);
	free(cut);
	free(names);
	eg_store_close(st);
}

/* ---------------------------------------------------------------- csv */

static void want_record(csv *c, int n, ...)
{
	assert_int_equal(eg_csv_next(c), 1);
	assert_int_equal(c->nf, (size_t)n);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *w = va_arg(ap, const char *);
		size_t len;
		const char *p = eg_csv_field(c, (size_t)i, &len);
		if (len != strlen(w) || memcmp(p, w, len))
			fail_msg("field %d is '%.*s', expected '%s'", i, (int)len, p, w);
	}
	va_end(ap);
}

static void test_csv_reads_rfc4180(void **state)
{
	(void)state;
	const char *t = "\xef\xbb\xbf" "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n,\"two\nlines\",\n3,,\"\"";
	csv c;
	eg_csv_begin(&c, t, t + strlen(t));
	want_record(&c, 3, "a", "b", "c");
	assert_int_equal(c.line, 1);
	want_record(&c, 3, "1", "x, y", "say \"hi\"");
	want_record(&c, 3, "", "two\nlines", "");
	assert_int_equal(c.line, 4);
	want_record(&c, 3, "3", "", "");
	assert_int_equal(c.line, 6);
	assert_int_equal(eg_csv_next(&c), 0);
	eg_csv_free(&c);
	const char *bad[] = { "a,\"b\n", "a,\"b\"c\n", "a,b\"c\n" };
	const char *why[] = { "not closed", "after a closing quote", "a quote inside" };
	for (int i = 0; i < 3; i++) {
		eg_csv_begin(&c, bad[i], bad[i] + strlen(bad[i]));
		assert_int_equal(eg_csv_next(&c), -1);
		assert_non_null(strstr(c.why, why[i]));
		assert_int_equal(c.why_line, 1);
		eg_csv_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors_name_the_path),
		cmocka_unit_test_setup_teardown(test_aggregates_at_a_cutoff, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_inclusive_counts_the_cutoff, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_late_event_is_left_out_and_reported, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_kept_table_and_tail_agree_with_a_rebuild, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bound_hides_later_events_and_chain_at, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_projection_feature_as_of_and_known_at, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_rows_in_threads_equal_one_by_one, tu_setup, tu_teardown),
		cmocka_unit_test(test_csv_reads_rfc4180),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_dataset.c — libFuzzer target for what engram dataset parses: the
 * dataset spec (src/sql/dataset.c, through eg_dset_build) and the kept
 * table (src/sql/dsetread.c, through eg_dset_open).  A small store is made
 * once (in $TMPDIR), with the projection specs customers.json and
 * orders.json beside it, so that examples/datasets/ specs build.  The
 * first byte picks:
 *   'S' (or any other even byte): the rest is a spec, built with --force;
 *   'M': the rest mutates a valid table built once (4 bytes an edit), then
 *        its checksum is put right, so the checks behind it are reached;
 *   'T' / 't': the rest is a whole table file, its checksum put right
 *        ('T') or left as it is ('t').
 * Checks: a spec that fails writes no table (nor leaves a .tmp) and says
 * why; one that builds gives a dataset whose manifest's counts are those
 * of its verdicts.  A table opens with EG_OK or EG_ECORRUPT only, and an
 * open one keeps every accessor in bounds: each row's values, verdicts
 * and key, the attrition, overlaps, groups, a key's rows, and the rows
 * read back through SQL's dataset('NAME').  Nothing leaks either way.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* strcasestr */
#endif
#include "dset.h"
#include "json.h"
#include "sql.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#define NAME "fz"
#define MAX_TABLE (1u << 20)

static eg_store *st;
static char store_dir[512];
static unsigned char *valid;          /* a table built from VALID_SPEC */
static size_t valid_n;

static const char CUSTOMERS[] =
	"{\"name\":\"customers\",\"key\":\"data.customer_id\","
	"\"types\":[\"customer_registered\",\"customer_moved\"],"
	"\"fields\":{\"state\":{\"last\":\"data.state\"}}}";
static const char ORDERS[] =
	"{\"name\":\"orders\",\"key\":\"data.order_id\",\"types\":[\"order_placed\"],"
	"\"fields\":{\"customer_id\":{\"last\":\"data.customer_id\"},"
	"\"order_id\":{\"last\":\"data.order_id\"},"
	"\"days_since_order\":{\"last\":\"data.days_since_order\"}}}";
/* Every kind of value (integer, real, text, blob, NULL), a NULL verdict,
 * keys of several rows, DISTINCT output: the template of 'M'. */
static const char VALID_SPEC[] =
	"{\"name\":\"" NAME "\",\"key\":\"k\","
	"\"base\":\"SELECT stream AS k, pos, json_extract(data, '$.customer_id') * 1.5 AS r, "
	"type, CASE WHEN pos % 3 = 0 THEN x'00ff10' END AS b, "
	"json_extract(data, '$.days_since_order') AS d FROM events\","
	"\"filters\":[{\"name\":\"recent\",\"sql\":\"d <= 30\",\"why\":\"old\"},"
	"{\"name\":\"odd\",\"sql\":\"pos % 2\"},{\"name\":\"typed\",\"sql\":\"type LIKE 'order%'\"}],"
	"\"output\":[\"k\",\"type\"],\"distinct\":true}";

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void remove_store(void)
{
	eg_store_close(st);
	nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(valid);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

static void table_path(char *out, size_t cap)
{
	snprintf(out, cap, "%s/datasets/%s/table", store_dir, NAME);
}

/* No dataset kept: the datasets directory deleted. */
static void drop_all(void)
{
	char d[1024];
	snprintf(d, sizeof d, "%s/datasets", store_dir);
	nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Is any file named table or table.tmp under DIR/datasets/? */
static int has_table(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag;
	return !strcmp(p + ftw->base, "table") || !strcmp(p + ftw->base, "table.tmp");
}

static void make_store(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(store_dir, sizeof store_dir, "%s/fuzz_dataset.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(store_dir));
	atexit(remove_store);
	CHECK(eg_store_open(&st, store_dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL) == EG_OK);
	write_file(store_dir, "customers.json", CUSTOMERS, strlen(CUSTOMERS));
	write_file(store_dir, "orders.json", ORDERS, strlen(ORDERS));
	static const char *const STATES[] = { "California", "Washington", "New York", "Texas" };
	eg_batch *bt;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	CHECK(eg_batch_begin(st, &bt, &o) == EG_OK);
	for (int i = 0; i < 8; i++) {
		char e[512];
		snprintf(e, sizeof e, "{\"stream\":\"customer-%d\",\"type\":\"customer_registered\","
			 "\"time\":\"2025-01-0%dT09:00:00Z\",\"data\":{\"customer_id\":%d,"
			 "\"state\":\"%s\"}}", i, i % 9 + 1, 11 * i, STATES[i % 4]);
		CHECK(eg_batch_add_json(bt, e, strlen(e)) == EG_OK);
		for (int k = 0; k < i % 3; k++) {
			snprintf(e, sizeof e, "{\"stream\":\"order-%d-%d\",\"type\":\"order_placed\","
				 "\"time\":\"2025-02-0%dT10:00:00Z\",\"data\":{\"customer_id\":%d,"
				 "\"order_id\":%d,\"days_since_order\":%d}}", i, k, k + 1, 11 * i,
				 4400 + 10 * i + k, k ? 200 : 10 + i);
			CHECK(eg_batch_add_json(bt, e, strlen(e)) == EG_OK);
		}
	}
	CHECK(eg_batch_commit(bt, NULL) == EG_OK);
	/* the template of 'M' */
	eg_dset_build_opts bo = { EG_TIME_NONE, EG_TIME_NONE, 1, store_dir, "fuzz", NULL };
	eg_dataset *d;
	int reused;
	CHECK(eg_dset_build(st, VALID_SPEC, strlen(VALID_SPEC), &bo, &d, &reused) == EG_OK);
	CHECK(eg_dset_nrows(d) > 0 && eg_dset_nfilters(d) == 3);
	eg_dset_close(d);
	char path[1024];
	table_path(path, sizeof path);
	FILE *f = fopen(path, "rb");
	CHECK(f);
	valid = malloc(MAX_TABLE);
	CHECK(valid);
	valid_n = fread(valid, 1, MAX_TABLE, f);
	CHECK(valid_n > 0 && valid_n < MAX_TABLE && fclose(f) == 0);
}

/* ------------------------------------------------------ an open dataset */

static volatile unsigned char sink;

static void touch(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		sink ^= c[i];
}

static void check_explain(const eg_dataset *d, const uint32_t *group, uint32_t g)
{
	size_t nf = eg_dset_nfilters(d), order[64];
	eg_dset_step steps[64];
	uint64_t rows, keys;
	eg_dset_count(d, group, g, &rows, &keys);
	CHECK(rows <= eg_dset_nrows(d) && keys <= eg_dset_nkeys(d) && keys <= rows);
	for (size_t i = 0; i < nf; i++)
		order[i] = nf - 1 - i;
	if (eg_dset_explain(d, order, nf, group, g, steps) != EG_OK)
		return;
	uint64_t prev = rows, prevk = keys;
	for (size_t k = 0; k < nf; k++) {
		CHECK(steps[k].filter == order[k]);
		CHECK(steps[k].rows_failing <= rows && steps[k].only_rows <= steps[k].rows_failing);
		CHECK(steps[k].keys_failing <= keys && steps[k].only_keys <= keys);
		CHECK(steps[k].rows_remaining <= prev && steps[k].keys_remaining <= prevk);
		prev = steps[k].rows_remaining;
		prevk = steps[k].keys_remaining;
	}
}

/* Every row through SQL's dataset('NAME'), when its table can be made:
 * as many rows as the dataset has. */
static void check_sql(const eg_dataset *d)
{
	sqlite3 *db;
	if (eg_sql_open(st, &db) != EG_OK)
		return;
	sqlite3_stmt *q;
	char *sql = sqlite3_mprintf("SELECT * FROM dataset(%Q)", eg_dset_name(d));
	if (sql && sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && q) {
		uint64_t n = 0;
		int rc;
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(q); c++) {
				const void *b = sqlite3_column_blob(q, c);
				touch(b, (size_t)sqlite3_column_bytes(q, c));
			}
			n++;
		}
		CHECK(rc != SQLITE_DONE || n == eg_dset_nrows(d));
		sqlite3_finalize(q);
	}
	sqlite3_free(sql);
	sqlite3_close(db);
}

/* Every accessor of d, in bounds; the kept rows counted. */
static uint64_t walk(const eg_dataset *d)
{
	uint64_t nrows = eg_dset_nrows(d), nkeys = eg_dset_nkeys(d), kept = 0;
	size_t ncols = eg_dset_ncols(d), nf = eg_dset_nfilters(d), n, mn;
	int distinct;
	CHECK(ncols >= 1 && nf <= 64 && nkeys <= nrows);
	CHECK(eg_dset_name(d));
	touch(eg_dset_name(d), strlen(eg_dset_name(d)));
	const char *man = eg_dset_manifest(d, &mn);
	touch(man, mn);
	json_span m = { man, mn, JSON_OBJECT }, v;
	if (eg_json_member(&m, "kept_rows", 9, &v) == 1)
		touch(v.p, v.n);
	(void)eg_dset_head(d);
	for (size_t c = 0; c < ncols; c++) {
		CHECK(eg_dset_col(d, c));
		touch(eg_dset_col(d, c), strlen(eg_dset_col(d, c)));
	}
	CHECK(!eg_dset_col(d, ncols) && eg_dset_key_col(d) < ncols);
	const size_t *out = eg_dset_output(d, &n, &distinct);
	for (size_t i = 0; i < n; i++)
		CHECK(out[i] < ncols);
	for (size_t i = 0; i < nf; i++) {
		const char *sql, *why, *name = eg_dset_filter(d, i, &sql, &why);
		CHECK(name && sql && why);
		touch(sql, strlen(sql));
		touch(why, strlen(why));
		long at = eg_dset_filter_index(d, name);
		CHECK(at >= 0 && (size_t)at <= i);
		const size_t *reads = eg_dset_filter_reads(d, i, &n);
		for (size_t k = 0; k < n; k++)
			CHECK(reads[k] < ncols);
	}
	CHECK(!eg_dset_filter(d, nf, NULL, NULL));
	char text[256];
	for (uint64_t r = 0; r < nrows; r++) {
		for (size_t i = 0; i < nf; i++) {
			int x = eg_dset_verdict(d, r, i);
			CHECK(x == EG_DSET_PASS || x == EG_DSET_FAIL || x == EG_DSET_NULL);
		}
		int k = eg_dset_kept(d, r);
		CHECK(k == 0 || k == 1);
		kept += (uint64_t)k;
		CHECK(eg_dset_key_id(d, r) < nkeys);
		for (size_t c = 0; c <= ncols; c++) {   /* one past: NULL */
			eg_dset_value x;
			eg_dset_value_at(d, r, c, &x);
			CHECK(x.type >= 1 && x.type <= 5);
			if (x.type == SQLITE_TEXT || x.type == SQLITE_BLOB)
				touch(x.s, x.n);
			size_t tn = eg_dset_value_text(&x, text, sizeof text);
			CHECK(tn < sizeof text && text[tn] == 0);
		}
	}
	/* a key's rows: at most nrows, each in range */
	for (uint64_t k = 0; k < nkeys && k < 8; k++) {
		uint64_t rows[16];
		eg_dset_value x;
		eg_dset_value_at(d, k, eg_dset_key_col(d), &x);
		size_t tn = eg_dset_value_text(&x, text, sizeof text);
		uint64_t got = eg_dset_key_rows(d, text, tn, rows, 16);
		CHECK(got <= nrows);
		for (uint64_t i = 0; i < got && i < 16; i++)
			CHECK(rows[i] < nrows);
	}
	check_explain(d, NULL, 0);
	for (size_t i = 0; i < nf; i++)
		for (size_t j = 0; j < nf; j++)
			CHECK(eg_dset_overlap(d, i, j) <= nrows);
	for (size_t c = 0; c < ncols && c < 8; c++) {
		uint32_t *group, ng;
		uint64_t *first;
		if (eg_dset_group_by(d, c, &group, &first, &ng) != EG_OK)
			continue;
		CHECK(ng <= nrows);
		for (uint64_t r = 0; r < nrows; r++)
			CHECK(group[r] < ng);
		for (uint32_t g = 0; g < ng; g++)
			CHECK(first[g] < nrows && group[first[g]] == g);
		if (ng)
			check_explain(d, group, ng - 1);
		free(group);
		free(first);
	}
	int stale = eg_dset_stale(st, d);
	CHECK(stale == 0 || stale == 1);
	check_sql(d);
	return kept;
}

/* ---------------------------------------------------------------- specs */

/* Inputs that run long or ask for much memory by design, not by a fault
 * of the parser: skipped. */
static int too_costly(const char *p)
{
	static const char *const words[] = { "recursive", "zeroblob", "randomblob", "printf",
					     "format", "replace", "char(", "hex(", "group_concat",
					     NULL };
	for (int i = 0; words[i]; i++)
		if (strcasestr(p, words[i]))
			return 1;
	return 0;
}

static void spec(const char *p, size_t n)
{
	if (n > 4000)
		return;
	char *s = malloc(n + 1);
	CHECK(s);
	memcpy(s, p, n);
	s[n] = 0;
	if (strlen(s) == n && too_costly(s)) {
		free(s);
		return;
	}
	drop_all();
	eg_dset_build_opts o = { EG_TIME_NONE, EG_TIME_NONE, 1, store_dir, "fuzz", NULL };
	eg_dataset *d = (eg_dataset *)&o;   /* must be set either way */
	int reused = -1;
	int rc = eg_dset_build(st, p, n, &o, &d, &reused);
	if (rc) {
		CHECK(!d && reused == 0);
		CHECK(rc != EG_ECORRUPT);
		CHECK(eg_errmsg(st) && eg_errmsg(st)[0]);
		char dir[1024];
		snprintf(dir, sizeof dir, "%s/datasets", store_dir);
		CHECK(nftw(dir, has_table, 16, FTW_PHYS) <= 0);
	} else {
		CHECK(d && reused == 0);
		uint64_t kept = walk(d);
		size_t mn;
		const char *man = eg_dset_manifest(d, &mn);
		json_span m = { man, mn, JSON_OBJECT }, v;
		json_err je;
		CHECK(eg_json_validate(man, mn, &je) == 0);
		CHECK(eg_json_member(&m, "kept_rows", 9, &v) == 1 && strtoull(v.p, NULL, 10) == kept);
		CHECK(eg_json_member(&m, "rows", 4, &v) == 1 &&
		      strtoull(v.p, NULL, 10) == eg_dset_nrows(d));
		/* what was written reads back */
		eg_dataset *e;
		CHECK(eg_dset_open(st, eg_dset_name(d), &e) == EG_OK);
		CHECK(eg_dset_nrows(e) == eg_dset_nrows(d) && eg_dset_head(e) == eg_dset_head(d));
		eg_dset_close(e);
		eg_dset_close(d);
	}
	free(s);
}

/* --------------------------------------------------------------- tables */

static void open_table(unsigned char *t, size_t n, int fix_sum)
{
	if (fix_sum && n >= 8) {
		uint64_t c = XXH3_64bits(t, n - 8);
		memcpy(t + n - 8, &c, 8);
	}
	char dir[1024], path[1024];
	snprintf(dir, sizeof dir, "%s/datasets", store_dir);
	mkdir(dir, 0755);
	snprintf(dir, sizeof dir, "%s/datasets/%s", store_dir, NAME);
	mkdir(dir, 0755);
	write_file(dir, "table", t, n);
	table_path(path, sizeof path);
	eg_dataset *d = NULL;
	int rc = eg_dset_open(st, NAME, &d);
	CHECK(rc == EG_OK || rc == EG_ECORRUPT);
	CHECK(!rc == !!d);
	if (d) {
		walk(d);
		eg_dset_close(d);
	}
}

/* 'M': edits of 4 bytes (what, where high, where low, value) on the
 * valid table: flip bits at a place from the start or from the end (the
 * trailer), set an aligned u64 there to a telling number, or cut the
 * file. */
static void mutate(const unsigned char *p, size_t n)
{
	static const uint64_t telling[] = { 0, 1, 2, 7, 8, 63, 64, 65, 4096, 4097, UINT32_MAX,
					    (uint64_t)UINT32_MAX + 1, INT64_MAX, UINT64_MAX,
					    UINT64_MAX - 7, UINT64_MAX / 8 + 1 };
	size_t tn = valid_n;
	unsigned char *t = malloc(valid_n + 64);
	CHECK(t);
	memcpy(t, valid, valid_n);
	for (size_t i = 0; i + 4 <= n && i < 64; i += 4) {
		size_t at = ((size_t)p[i + 1] << 8 | p[i + 2]) % tn;
		switch (p[i] % 4) {
		case 0:
			t[at] ^= p[i + 3] ? p[i + 3] : 1;
			break;
		case 1:
			t[tn - 1 - at] ^= p[i + 3] ? p[i + 3] : 1;
			break;
		case 2:
			at = (tn - 1 - at) & ~(size_t)7;
			if (at + 8 <= tn)
				memcpy(t + at, &telling[p[i + 3] % 16], 8);
			break;
		default:
			if (p[i + 3] & 1)
				tn = at + 1;
			else if (tn + p[i + 3] / 4 <= valid_n + 64)
				memset(t + tn, 0, p[i + 3] / 4), tn += p[i + 3] / 4;
			break;
		}
	}
	open_table(t, tn, 1);
	free(t);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!st)
		make_store();
	if (!size)
		return 0;
	const unsigned char *p = data + 1;
	size_t n = size - 1;
	if (data[0] == 'M') {
		mutate(p, n);
	} else if (data[0] == 'T' || data[0] == 't') {
		if (n > MAX_TABLE)
			return 0;
		unsigned char *t = malloc(n ? n : 1);
		CHECK(t);
		memcpy(t, p, n);
		drop_all();
		open_table(t, n, data[0] == 'T');
		free(t);
	} else if (data[0] % 2 == 0 || data[0] == 'S') {
		spec((const char *)p, n);
	}
	return 0;
}

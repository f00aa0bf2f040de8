/*
 * proj_bench.c — the C side of the projection benchmark (bench/proj.sh runs
 * it): times eg_proj_open, one-key eg_proj_get queries and eg_proj_scan
 * through the C API, and the same per-key as-of balance in SQLite, after
 * checking that both give the same balances to the cent.
 *
 *   proj_bench build DIR SPEC        time eg_proj_open (first build or catch-up)
 *   proj_bench sqlite-load DIR DB    copy the store's events into SQLite
 *   proj_bench query DIR SPEC DB N NK SEED PAIRS
 *                                    N random as-of queries and the first NK of
 *                                    them as known-at and as both (0: skip); the
 *                                    first 20 as-of pairs go to PAIRS for the CLI
 *
 * Each mode prints one JSON object of figures; any error or mismatch prints
 * why on stderr and exits 1 (no time is printed for a wrong answer).
 */
#include "engram.h"
#define BENCH_NAME "proj_bench"
#include "bench.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* splitmix64: a fixed sequence per seed, so every run asks the same queries. */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static int64_t rnd_between(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/*
 * A decimal number's text ("120.5", "-3", "1.5e3") as an exact count of
 * cents; returns the bytes used, or 0 if it is not a number or not a whole
 * number of cents.
 */
static size_t to_cents(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0, scale = 0, exp = 0, digits = 0;
	__int128 m = 0;
	if (i < n && s[i] == '-')
		neg = 1, i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		m = m * 10 + (s[i] - '0');
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++, scale++)
			m = m * 10 + (s[i] - '0');
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0;
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < n && s[i] >= '0' && s[i] <= '9' && exp < 100; i++)
			exp = exp * 10 + (s[i] - '0');
		exp = eneg ? -exp : exp;
	}
	if (!digits || digits > 30)
		return 0;
	for (int k = exp - scale + 2; k != 0; k += k < 0 ? 1 : -1) {
		if (k > 0) {
			m *= 10;
		} else {
			if (m % 10)
				return 0;
			m /= 10;
		}
	}
	*out = (int64_t)(neg ? -m : m);
	return i;
}

static eg_store *open_store(const char *dir)
{
	eg_store *st = NULL;
	int r = eg_store_open(&st, dir, EG_OPEN_READ, NULL);
	if (r)
		die("%s: %s", dir, st ? eg_errmsg(st) : eg_strerror(r));
	return st;
}

static eg_proj_spec *load_spec(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s: cannot open", path);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	char err[512];
	eg_proj_spec *spec = NULL;
	if (eg_proj_spec_parse(buf, n, &spec, err, sizeof err))
		die("%s: %s", path, err);
	return spec;
}

static eg_proj *open_proj(eg_store *st, const eg_proj_spec *spec, double *secs)
{
	eg_proj *p = NULL;
	double t0 = now();
	int r = eg_proj_open(st, spec, NULL, NULL, &p);
	*secs = now() - t0;
	if (r)
		die("eg_proj_open: %s: %s", eg_strerror(r), eg_errmsg(st));
	return p;
}

/* ------------------------------------------------------------- build */

static int cmd_build(const char *dir, const char *spec_path)
{
	eg_store *st = open_store(dir);
	eg_proj_spec *spec = load_spec(spec_path);
	double secs;
	eg_proj *p = open_proj(st, spec, &secs);
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	printf("{\"open_s\": %.4f, \"folded\": %llu, \"saved\": %llu, \"snapshot_pos\": %llu, "
	       "\"head_pos\": %llu}\n", secs, (unsigned long long)x.folded,
	       (unsigned long long)x.saved, (unsigned long long)x.snapshot_pos,
	       (unsigned long long)x.head_pos);
	eg_proj_close(p);
	eg_proj_spec_free(spec);
	eg_store_close(st);
	return 0;
}

/* ------------------------------------------------------- sqlite-load */

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die("sqlite: %s: %s", sql, err);
}

/* The cents of data.amount, or 0 (and *has 0) when the event has none.  The
 * bank generator's data is flat, so the first "amount" key is the one. */
static int64_t data_amount(const eg_event *ev, int *has)
{
	static const char k[] = "\"amount\":";
	const char *a = memmem(ev->data, ev->data_len, k, sizeof k - 1);
	int64_t c = 0;
	*has = a != NULL;
	if (a) {
		a += sizeof k - 1;
		if (!to_cents(a, (size_t)(ev->data + ev->data_len - a), &c))
			die("event %llu: amount is not a whole number of cents: %.*s",
			    (unsigned long long)ev->pos, (int)ev->data_len, ev->data);
	}
	return c;
}

static int cmd_sqlite_load(const char *dir, const char *dbpath)
{
	eg_store *st = open_store(dir);
	sqlite3 *db;
	remove(dbpath);
	if (sqlite3_open(dbpath, &db) != SQLITE_OK)
		die("sqlite: %s: %s", dbpath, sqlite3_errmsg(db));
	/* A bulk load, as one would do it: no journal, no fsync, one transaction,
	 * the index built after the rows. */
	sql_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
		     "CREATE TABLE events(pos INTEGER PRIMARY KEY, stream TEXT, type TEXT,"
		     " time INTEGER, recorded INTEGER, amount INTEGER)");
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(db, "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1,
			       &ins, NULL) != SQLITE_OK)
		die("sqlite: %s", sqlite3_errmsg(db));
	eg_filter f = { 0 };
	eg_iter *it;
	if (eg_iter_new(st, &it, &f))
		die("eg_iter_new: %s", eg_errmsg(st));
	double t0 = now();
	sql_exec(db, "BEGIN");
	const eg_event *ev;
	uint64_t rows = 0;
	int r;
	while ((r = eg_iter_next(it, &ev)) == EG_OK) {
		int has;
		int64_t cents = data_amount(ev, &has);
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)ev->pos);
		sqlite3_bind_text(ins, 2, ev->stream, (int)ev->stream_len, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, ev->type, (int)ev->type_len, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, ev->time);
		sqlite3_bind_int64(ins, 5, ev->recorded);
		if (has)
			sqlite3_bind_int64(ins, 6, cents);
		else
			sqlite3_bind_null(ins, 6);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die("sqlite insert: %s", sqlite3_errmsg(db));
		sqlite3_reset(ins);
		rows++;
	}
	if (r != EG_END)
		die("eg_iter_next: %s", eg_errmsg(st));
	sql_exec(db, "COMMIT");
	double t1 = now();
	sql_exec(db, "CREATE INDEX events_stream_time ON events(stream, time); ANALYZE");
	double t2 = now();
	sqlite3_finalize(ins);
	eg_iter_free(it);
	sqlite3_close(db);
	eg_store_close(st);
	struct stat sb;
	printf("{\"rows\": %llu, \"sqlite_load_s\": %.3f, \"sqlite_index_s\": %.3f, "
	       "\"sqlite_bytes\": %lld}\n", (unsigned long long)rows, t1 - t0, t2 - t1,
	       stat(dbpath, &sb) ? -1LL : (long long)sb.st_size);
	return 0;
}

/* ------------------------------------------------------------ query */

typedef struct keys {
	char **v;
	size_t n, cap;
} keys;

static int add_key(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	(void)count, (void)version;
	keys *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		if (!(k->v = realloc(k->v, k->cap * sizeof *k->v)))
			die("out of memory");
	}
	if (!(k->v[k->n] = strndup(name, len)))
		die("out of memory");
	k->n++;
	return 0;
}

/* What one eg_proj_get returned: the balance (the spec's first field). */
typedef struct answer {
	int found;
	char bal[64];
	size_t len;
} answer;

static int on_row(void *ctx, const eg_proj_row *row)
{
	answer *a = ctx;
	a->found = 1;
	a->len = row->lens[0] < sizeof a->bal ? row->lens[0] : 0;
	memcpy(a->bal, row->values[0], a->len);
	return 0;
}

typedef struct query {
	const char *key;
	eg_proj_at at;
} query;

static int64_t engram_balance(eg_proj *p, const query *q, double *secs)
{
	answer a = { 0 };
	double t0 = now();
	int r = eg_proj_get(p, q->key, strlen(q->key), &q->at, on_row, &a);
	*secs = now() - t0;
	if (r)
		die("eg_proj_get %s: %s", q->key, eg_strerror(r));
	int64_t c = 0;
	if (a.found && to_cents(a.bal, a.len, &c) != a.len)
		die("%s: balance %.*s is not a whole number of cents", q->key, (int)a.len, a.bal);
	return c;
}

static int64_t sqlite_balance(sqlite3_stmt *s, const query *q, double *secs)
{
	double t0 = now();
	sqlite3_bind_text(s, 1, q->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, q->at.as_of);
	if (sqlite3_bind_parameter_count(s) == 3)
		sqlite3_bind_int64(s, 3, q->at.known_at);
	if (sqlite3_step(s) != SQLITE_ROW)
		die("sqlite query: %s", sqlite3_errmsg(sqlite3_db_handle(s)));
	int64_t c = sqlite3_column_int64(s, 0);   /* NULL (no events) reads as 0 */
	sqlite3_reset(s);
	*secs = now() - t0;
	return c;
}

/* Print "name_p50_us" … "name_max_us" of n timings (seconds), nearest rank. */
static void print_pcts(const char *name, const double *t, size_t n)
{
	double *s = malloc(n * sizeof *s), sum = 0;
	if (!s)
		die("out of memory");
	memcpy(s, t, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += s[i];
	static const double q[] = { 0.50, 0.90, 0.99 };
	for (int i = 0; i < 3; i++) {
		size_t r = (size_t)(q[i] * (double)n + 0.999999);
		printf(", \"%s_p%d_us\": %.2f", name, (int)(q[i] * 100), s[r ? r - 1 : 0] * 1e6);
	}
	printf(", \"%s_max_us\": %.2f, \"%s_mean_us\": %.2f", name, s[n - 1] * 1e6, name,
	       sum / (double)n * 1e6);
	free(s);
}

static void fmt_time(int64_t us, char out[40])
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%06lldZ", (long long)(us % 1000000));
}

enum { AS_OF, KNOWN_AT, BOTH, NMODES };
static const char *mode_name[NMODES] = { "asof", "knownat", "both" };

/* A known-at query may cost far more than an as-of one; each known-at mode
 * stops after this many seconds (the count run is printed). */
#define KNOWN_BUDGET_S 60.0

/* As-of queries are timed in this many passes over the same pairs, each
 * system in turn; each query's time is its median over the passes (a
 * single pass in a virtual machine swings by 3x from run to run). */
#define PASSES 7

static double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One mode's n queries, each balance checked against SQLite first (that
 * pass is timed too: "first").  As-of then runs PASSES timed passes of
 * engram and of SQLite, in turn, for the ratio per query.  The known-at
 * modes report their checked pass only, within KNOWN_BUDGET_S.
 */
static void run_mode(int mode, eg_proj *p, sqlite3_stmt *sq, const query *qs, size_t n)
{
	double *first = malloc(n * sizeof(double)), *t = malloc(n * sizeof(double)),
	       *ts = malloc(n * sizeof(double)), *ratio = malloc(n * sizeof(double)), s;
	if (!first || !t || !ts || !ratio)
		die("out of memory");
	const char *name = mode_name[mode];
	uint64_t found = 0, chunks = 0, entries = 0;
	size_t done = 0;
	double t0 = now();
	for (; done < n && (mode == AS_OF || now() - t0 < KNOWN_BUDGET_S); done++) {
		const query *q = &qs[done];
		int64_t e = engram_balance(p, q, &first[done]);
		int64_t c = sqlite_balance(sq, q, &s);
		if (e != c) {
			char a[40], k[40];
			fmt_time(q->at.as_of == EG_TIME_NONE ? 0 : q->at.as_of, a);
			fmt_time(q->at.known_at == EG_TIME_NONE ? 0 : q->at.known_at, k);
			die("%s query %zu: %s as-of %s known-at %s: engram %lld cents, SQLite %lld cents",
			    name, done, q->key, a, k, (long long)e, (long long)c);
		}
		eg_proj_explain x;
		eg_proj_get_explain(p, &x);
		found += x.keys, chunks += x.chunks, entries += x.entries;
	}
	printf("{\"mode\": \"%s\", \"%s_n\": %zu, \"%s_found\": %llu, \"%s_chunks_mean\": %.1f, "
	       "\"%s_entries_mean\": %.1f", name, name, done, name, (unsigned long long)found,
	       name, (double)chunks / (double)done, name, (double)entries / (double)done);
	if (mode != AS_OF) {
		print_pcts(name, first, done);
	} else {
		print_pcts("asof_first", first, n);
		double *pe = malloc(n * PASSES * sizeof(double)), *psq = malloc(n * PASSES * sizeof(double));
		if (!pe || !psq)
			die("out of memory");
		for (int r = 0; r < PASSES; r++) {
			for (size_t i = 0; i < n; i++)
				engram_balance(p, &qs[i], &pe[i * PASSES + r]);
			for (size_t i = 0; i < n; i++)
				sqlite_balance(sq, &qs[i], &psq[i * PASSES + r]);
		}
		double sum_e = 0, sum_s = 0;
		for (size_t i = 0; i < n; i++) {
			t[i] = median_of(pe + i * PASSES, PASSES);
			ts[i] = median_of(psq + i * PASSES, PASSES);
			ratio[i] = ts[i] / t[i];
			sum_e += t[i], sum_s += ts[i];
		}
		free(pe), free(psq);
		print_pcts(name, t, n);
		print_pcts("sqlite", ts, n);
		qsort(ratio, n, sizeof *ratio, cmp_double);
		printf(", \"passes\": %d, \"ratio_median\": %.1f, \"ratio_min\": %.1f, "
		       "\"ratio_p10\": %.1f, \"ratio_mean\": %.1f", PASSES, ratio[(n - 1) / 2],
		       ratio[0], ratio[n / 10], sum_s / sum_e);
	}
	printf("}\n");
	fflush(stdout);
	free(first), free(t), free(ts), free(ratio);
}

static int count_row(void *ctx, const eg_proj_row *row)
{
	(void)row;
	++*(uint64_t *)ctx;
	return 0;
}

static int cmd_query(const char *dir, const char *spec_path, const char *dbpath, size_t n,
		     size_t nk, uint64_t seed, const char *pairs_path)
{
	eg_store *st = open_store(dir);
	eg_stats ss;
	if (eg_store_stats(st, &ss))
		die("eg_store_stats: %s", eg_errmsg(st));
	keys k = { 0 };
	if (eg_store_keys(st, EG_KEYS_STREAMS, add_key, &k) || !k.n)
		die("no streams in %s", dir);
	eg_proj_spec *spec = load_spec(spec_path);
	double open_s;
	eg_proj *p = open_proj(st, spec, &open_s);
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	printf("{\"reopen_s\": %.4f, \"reopen_folded\": %llu, \"keys\": %zu, \"queries\": %zu, "
	       "\"known_queries\": %zu}\n", open_s, (unsigned long long)x.folded, k.n, n, nk < n ? nk : n);

	sqlite3 *db;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("sqlite: %s: %s", dbpath, sqlite3_errmsg(db));
	/* The as-of balance in SQL, as it would be written; the known-at modes
	 * add the bound on recorded (no index helps it: they are checked, not
	 * timed). */
	static const char asof_sql[] =
		"SELECT SUM(CASE WHEN type IN ('withdrawal','fee') THEN -amount ELSE amount END)"
		" FROM events WHERE stream = ?1 AND time <= ?2 AND type IN"
		" ('account_opened','deposit','withdrawal','fee','account_closed')";
	char known_sql[sizeof asof_sql + 32];
	snprintf(known_sql, sizeof known_sql, "%s AND recorded <= ?3", asof_sql);
	sqlite3_stmt *sq[NMODES];
	if (sqlite3_prepare_v2(db, asof_sql, -1, &sq[AS_OF], NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, known_sql, -1, &sq[KNOWN_AT], NULL) != SQLITE_OK)
		die("sqlite: %s", sqlite3_errmsg(db));
	sq[BOTH] = sq[KNOWN_AT];

	/* The same keys for the three modes; an as-of time and a known-at time
	 * for each, drawn uniformly from the data's ranges. */
	rnd_state = seed;
	query *qs[NMODES];
	for (int m = 0; m < NMODES; m++)
		if (!(qs[m] = malloc(n * sizeof(query))))
			die("out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *key = k.v[rnd() % k.n];
		int64_t t = rnd_between(ss.time_min, ss.time_max);
		int64_t kt = rnd_between(ss.recorded_min, ss.recorded_max);
		qs[AS_OF][i] = (query){ key, { t, EG_TIME_NONE } };
		qs[KNOWN_AT][i] = (query){ key, { EG_TIME_NONE, kt } };
		qs[BOTH][i] = (query){ key, { t, kt } };
	}
	FILE *pf = fopen(pairs_path, "w");
	if (!pf)
		die("%s: cannot write", pairs_path);
	for (size_t i = 0; i < n && i < 20; i++) {
		char ts[40];
		fmt_time(qs[AS_OF][i].at.as_of, ts);
		fprintf(pf, "%s %s\n", qs[AS_OF][i].key, ts);
	}
	fclose(pf);

	run_mode(AS_OF, p, sq[AS_OF], qs[AS_OF], n);
	for (int m = KNOWN_AT; m < NMODES && nk; m++)
		run_mode(m, p, sq[m], qs[m], nk < n ? nk : n);

	/* Every key's current state, three times; the median is printed. */
	double scan[3];
	uint64_t rows = 0;
	eg_proj_at all = { EG_TIME_NONE, EG_TIME_NONE };
	for (int i = 0; i < 3; i++) {
		rows = 0;
		double t0 = now();
		if (eg_proj_scan(p, &all, count_row, &rows))
			die("eg_proj_scan: %s", eg_errmsg(st));
		scan[i] = now() - t0;
	}
	qsort(scan, 3, sizeof *scan, cmp_double);
	printf("{\"scan_s\": %.4f, \"scan_rows\": %llu, \"scan_runs\": \"%.4f, %.4f, %.4f\"}\n",
	       scan[1], (unsigned long long)rows, scan[0], scan[1], scan[2]);

	sqlite3_finalize(sq[AS_OF]);
	sqlite3_finalize(sq[KNOWN_AT]);
	sqlite3_close(db);
	for (int m = 0; m < NMODES; m++)
		free(qs[m]);
	for (size_t i = 0; i < k.n; i++)
		free(k.v[i]);
	free(k.v);
	eg_proj_close(p);
	eg_proj_spec_free(spec);
	eg_store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "build"))
		return cmd_build(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "sqlite-load"))
		return cmd_sqlite_load(argv[2], argv[3]);
	if (argc == 9 && !strcmp(argv[1], "query"))
		return cmd_query(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10),
				 strtoull(argv[6], NULL, 10), strtoull(argv[7], NULL, 10), argv[8]);
	fprintf(stderr, "usage: proj_bench build DIR SPEC\n"
			"       proj_bench sqlite-load DIR DB\n"
			"       proj_bench query DIR SPEC DB N NK SEED PAIRS\n");
	return 2;
}

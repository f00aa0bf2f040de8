/*
 * colscan_bench.c — how fast the columnar scan (src/store/col.h) reads a
 * store: hourly counts by type (time and type columns) and hourly counts
 * by data.page_url (time and one dictionary string column), from the
 * column files and, for comparison, from the log alone; and the bytes of
 * idx/col/ per event.
 *
 *     colscan_bench DIR [RUNS]
 *     colscan_bench --check DIR
 *     colscan_bench --build DIR [RUNS]
 *
 * Prints one line per scan: the median of RUNS (default 7) in ms.  With
 * --check (the crash loop and the fault sweep), compares every column
 * block with what the log gives for it (eg_col_check): exit 0, or 1 with
 * what differs.  With --build, deletes the column files and builds them
 * again (eg_col_build, as a reader that finds them behind does), RUNS
 * times (default 3): the wall and CPU (user + system, every thread)
 * medians, and the bytes per event.
 */
#include "engram.h"
#include "internal.h"
#include "colint.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Counts per (hour, key): a small open-addressing table. */
#define SLOTS (1u << 20)
static uint64_t *keys, *counts;

static void bump(uint64_t k)
{
	uint64_t h = (k * 0x9E3779B97F4A7C15ull) >> 44;
	while (keys[h] && keys[h] != k)
		h = (h + 1) & (SLOTS - 1);
	keys[h] = k;
	counts[h]++;
}

/* One scan: by page (with_path) or by type; from the files or the log. */
static uint64_t sum;
static int count = 1;

static double run(eg_store *st, int with_path, int files, uint64_t *groups, uint64_t *events,
		  uint64_t *from_cols)
{
	static const char *const url[] = { "page_url" };
	static const char *const *const paths[] = { url };
	static const int nseg[] = { 1 };
	eg_colneed need = { paths, nseg, with_path ? 1 : 0, 0 };
	eg_filter f = { 0 };
	memset(keys, 0, SLOTS * 8);
	memset(counts, 0, SLOTS * 8);
	double t0 = now_ms();
	eg_colscan *sc;
	int rc = files ? eg_colscan_new(st, &f, &need, &sc) : eg_colscan_new_log(st, &f, &need, &sc);
	if (rc) {
		fprintf(stderr, "colscan: %s: %s\n", eg_strerror(rc), eg_errmsg(st));
		exit(1);
	}
	eg_colscan_only(sc, EG_COLB_TIME | (with_path ? 0 : EG_COLB_TYPE));
	const eg_colblock *b;
	uint64_t n = 0;
	while ((rc = eg_colscan_next(sc, &b)) == EG_OK) {
		for (uint32_t k = 0; k < b->n; k++) {
			if (!b->want[k])
				continue;
			uint64_t hour = (uint64_t)(b->time[k] / 3600000000LL);
			uint64_t key = with_path ? (b->vals[0].tag[k] == EG_CT_STR ? b->vals[0].s[k] + 1 : 0)
						 : b->type[k];
			if (count)
				bump(hour << 24 | key | 1ull << 63);
			else
				sum += hour + key;
			n++;
		}
	}
	if (rc != EG_END) {
		fprintf(stderr, "colscan: %s: %s\n", eg_strerror(rc), eg_errmsg(st));
		exit(1);
	}
	uint64_t fl;
	eg_colscan_counts(sc, from_cols, &fl);
	eg_colscan_free(sc);
	double ms = now_ms() - t0;
	uint64_t g = 0;
	for (uint32_t i = 0; i < SLOTS; i++)
		g += keys[i] != 0;
	*groups = g;
	*events = n;
	return ms;
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	uint64_t total = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char p[4096];
		struct stat sb;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_size;
	}
	if (d)
		closedir(d);
	return total;
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* --build: the column files deleted and built again, runs times. */
static int build(const char *dir, int runs)
{
	double wall[64], cpu[64];
	int r = runs > 0 && runs < 64 ? runs : 3;
	uint64_t events = 0;
	for (int i = 0; i < r; i++) {
		eg_store *st;
		if (eg_store_open(&st, dir, EG_OPEN_READ, NULL)) {
			fprintf(stderr, "open: %s\n", eg_errmsg(st));
			return 1;
		}
		eg_head h;
		eg_store_head(st, &h);
		events = h.pos;
		eg_col_drop(st);
		eg_store_close(st);
		char err[256];
		double t0 = now_ms(), c0 = cpu_ms();
		int rc = eg_col_build(dir, NULL, err, sizeof err);
		wall[i] = now_ms() - t0;
		cpu[i] = cpu_ms() - c0;
		if (rc) {
			fprintf(stderr, "build: %s\n", err);
			return 1;
		}
	}
	qsort(wall, (size_t)r, sizeof *wall, cmp_d);
	qsort(cpu, (size_t)r, sizeof *cpu, cmp_d);
	char cdir[4096];
	snprintf(cdir, sizeof cdir, "%s/idx/col/v1", dir);
	uint64_t cb = dir_bytes(cdir);
	printf("build of %llu events' columns: %.0f ms wall, %.0f ms CPU (medians of %d), "
	       "%.2f B/event\n", (unsigned long long)events, wall[r / 2], cpu[r / 2], r,
	       events ? (double)cb / (double)events : 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: colscan_bench DIR [RUNS] | --check DIR | --build DIR [RUNS]\n");
		return 2;
	}
	if (!strcmp(argv[1], "--build") && argc > 2)
		return build(argv[2], argc > 3 ? atoi(argv[3]) : 3);
	if (!strcmp(argv[1], "--check") && argc > 2) {
		eg_store *cs;
		uint64_t nb = 0;
		int rc = eg_store_open(&cs, argv[2], EG_OPEN_READ, NULL);
		if (rc == EG_OK)
			rc = eg_col_check(cs, &nb);
		if (rc)
			fprintf(stderr, "colscan_bench --check: %s: %s\n", eg_strerror(rc), eg_errmsg(cs));
		else
			printf("%llu column blocks agree with the log\n", (unsigned long long)nb);
		eg_store_close(cs);
		return rc ? 1 : 0;
	}
	int runs = argc > 2 ? atoi(argv[2]) : 7;
	count = !getenv("NOCOUNT");
	eg_store *st;
	if (eg_store_open(&st, argv[1], EG_OPEN_READ, NULL)) {
		fprintf(stderr, "open: %s\n", eg_errmsg(st));
		return 1;
	}
	keys = malloc(SLOTS * 8);
	counts = malloc(SLOTS * 8);
	eg_head h;
	eg_store_head(st, &h);
	char cdir[4096];
	snprintf(cdir, sizeof cdir, "%s/idx/col/v1", argv[1]);
	uint64_t cb = dir_bytes(cdir);
	printf("events %llu, idx/col/v1 %llu bytes, %.2f B/event, column lag %llu\n",
	       (unsigned long long)h.pos, (unsigned long long)cb, h.pos ? (double)cb / (double)h.pos : 0,
	       (unsigned long long)eg_store_col_lag(st));
	static const char *const name[4] = { "time+type, files", "time+page_url, files",
					     "time+type, log", "time+page_url, log" };
	for (int s = 0; s < (getenv("FILES_ONLY") ? 2 : 4); s++) {
		double t[64];
		uint64_t groups = 0, events = 0, fc = 0;
		int r = runs < 64 ? runs : 64;
		if (s >= 2 && r > 3)
			r = 3;
		for (int i = 0; i < r; i++)
			t[i] = run(st, s & 1, s < 2, &groups, &events, &fc);
		qsort(t, (size_t)r, sizeof *t, cmp_d);
		printf("%-22s %8.2f ms (median of %d)  %llu events, %llu groups, %llu from column files\n",
		       name[s], t[r / 2], r, (unsigned long long)events, (unsigned long long)groups,
		       (unsigned long long)fc);
	}
	eg_store_close(st);
	free(keys);
	free(counts);
	return 0;
}

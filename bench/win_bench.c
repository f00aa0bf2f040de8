/*
 * win_bench.c — the C side of the windows benchmark (bench/windows.sh runs
 * it): keeping windows current while events arrive in batches.
 *
 *   win_bench incr DIR SPEC FILE...
 *
 * Opens the store DIR for writing and the windows of SPEC on it (resuming
 * from the checkpoint a first `engram windows SPEC` left in idx/win), then
 * for each NDJSON file: appends its lines as one batch (eg_batch_add_json,
 * sync none; not timed), then times eg_win_run(w, 0) plus reading the
 * change records it made with eg_win_changes (counted).  Prints one JSON
 * object of figures; any error, or a count of change records that differs
 * from what --explain says the run made, prints why on stderr and exits 1.
 */
#include "engram.h"
#define BENCH_NAME "win_bench"
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int on_rev(void *ctx, const eg_win_row *row)
{
	(void)row;
	++*(uint64_t *)ctx;
	return 0;
}

/* Append one file's lines as one batch; returns the events appended. */
static uint64_t append_file(eg_store *st, const char *path)
{
	size_t n;
	char *buf = slurp(path, &n);
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	eg_batch *b;
	if (eg_batch_begin(st, &b, &o))
		die("eg_batch_begin: %s", eg_errmsg(st));
	uint64_t lines = 0;
	for (char *p = buf, *e; p < buf + n; p = e + 1) {
		if (!(e = memchr(p, '\n', (size_t)(buf + n - p))))
			e = buf + n;
		if (e == p)
			continue;
		int r = eg_batch_add_json(b, p, (size_t)(e - p));
		if (r)
			die("%s line %llu: %s: %s", path, (unsigned long long)lines + 1,
			    eg_strerror(r), eg_errmsg(st));
		lines++;
	}
	eg_append_result res;
	if (eg_batch_commit(b, &res))
		die("eg_batch_commit: %s", eg_errmsg(st));
	if (res.appended != lines)
		die("%s: %llu lines, %llu appended", path, (unsigned long long)lines,
		    (unsigned long long)res.appended);
	free(buf);
	return res.appended;
}

static int cmd_incr(const char *dir, const char *spec_path, char **files, int nfiles)
{
	eg_store *st = NULL;
	int r = eg_store_open(&st, dir, EG_OPEN_WRITE, NULL);
	if (r)
		die("%s: %s", dir, st ? eg_errmsg(st) : eg_strerror(r));
	size_t n;
	char *json = slurp(spec_path, &n), err[512];
	eg_win_spec *spec;
	if (eg_win_spec_parse(json, n, &spec, err, sizeof err))
		die("%s: %s", spec_path, err);
	eg_win *w;
	if ((r = eg_win_open(st, spec, 0, &w)) || (r = eg_win_run(w, 0)))
		die("eg_win_open/run: %s: %s", eg_strerror(r), eg_errmsg(st));
	eg_win_explain x0, x;
	eg_win_get_explain(w, &x0);
	uint64_t cursor = eg_win_cursor(w), revs = 0, events = 0;
	double *t = malloc((size_t)nfiles * sizeof *t), total = 0, append_s = 0;
	if (!t)
		die("out of memory");
	for (int i = 0; i < nfiles; i++) {
		double t0 = now();
		events += append_file(st, files[i]);
		double t1 = now();
		if ((r = eg_win_run(w, 0)) ||
		    (r = eg_win_changes(w, &cursor, 0, on_rev, NULL, &revs)))
			die("batch %d: %s: %s", i, eg_strerror(r), eg_errmsg(st));
		t[i] = now() - t1;
		total += t[i], append_s += t1 - t0;
	}
	eg_win_get_explain(w, &x);
	if (revs != x.revisions - x0.revisions)
		die("read %llu change records, the run made %llu", (unsigned long long)revs,
		    (unsigned long long)(x.revisions - x0.revisions));
	qsort(t, (size_t)nfiles, sizeof *t, cmp_double);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"batches\": %d, \"events\": %llu, \"total_s\": %.4f, \"median_ms\": %.3f, "
	       "\"max_ms\": %.3f, \"revisions\": %llu, \"corrections\": %llu, \"too_late\": %llu, "
	       "\"append_s\": %.3f, \"windows\": %llu, \"open_windows\": %llu, \"maxrss_kib\": %ld}\n",
	       nfiles, (unsigned long long)events, total, t[(nfiles - 1) / 2] * 1e3,
	       t[nfiles - 1] * 1e3, (unsigned long long)revs,
	       (unsigned long long)(x.corrections - x0.corrections),
	       (unsigned long long)(x.too_late - x0.too_late), append_s,
	       (unsigned long long)x.windows, (unsigned long long)x.open_windows, ru.ru_maxrss);
	free(t);
	free(json);
	eg_win_close(w);
	eg_win_spec_free(spec);
	eg_store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "incr"))
		return cmd_incr(argv[2], argv[3], argv + 4, argc - 4);
	fprintf(stderr, "usage: win_bench incr DIR SPEC FILE...\n");
	return 2;
}

/*
 * bench/features_serve.c — the serving side of bench/features.sh: one
 * entity's features at one time through engram's C API, as an online
 * model asks for them.
 *
 *   features_serve STORE SPEC PAIRS
 *
 * Opens the feature spec once (eg_feat_open, which loads or builds its
 * derived files; not timed), then calls eg_feat_get for each "customer<TAB>time" line
 * of PAIRS, known at that time, and times each call alone.  Prints one JSON
 * line: calls, first_us (the first call alone: what is loaded lazily),
 * p50_us, p99_us, max_us, mean_us (over all calls), and a hash of every answer
 * (so that two builds can be compared).  Run it from the repository root:
 * the spec names its projection file relative to the working directory.
 */
#define BENCH_NAME "features_serve"
#include "engram.h"
#include "timefmt.h"   /* eg_time_parse: the CLI's own reading of a time */

#include "bench.h"

#include <stdint.h>
#include <string.h>

/* FNV-1a over the answers, feature by feature: a fingerprint, not a check. */
static void hash_values(uint64_t *h, const eg_feat_values *v)
{
	for (size_t i = 0; i < v->n; i++) {
		for (size_t j = 0; j < v->lens[i]; j++)
			*h = (*h ^ (unsigned char)v->values[i][j]) * 1099511628211u;
		*h = (*h ^ 0xff) * 1099511628211u;   /* a separator, so "1","23" != "12","3" */
	}
}

/* Each projection feature gets the text of the file its spec names, read
 * relative to the working directory as `engram features` reads it. */
static void load_projections(eg_feat_spec *spec)
{
	char err[512];
	for (size_t i = 0; i < eg_feat_spec_count(spec); i++) {
		const char *file = eg_feat_spec_projection_file(spec, i);
		if (!file)
			continue;
		size_t n;
		char *text = slurp(file, &n);
		if (eg_feat_spec_set_projection(spec, i, text, n, err, sizeof err))
			die("%s: %s", file, err);
		free(text);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4)
		die("usage: features_serve STORE SPEC PAIRS");
	size_t n;
	char *spec_text = slurp(argv[2], &n), err[512];
	eg_feat_spec *spec = NULL;
	if (eg_feat_spec_parse(spec_text, n, &spec, err, sizeof err))
		die("%s: %s", argv[2], err);
	load_projections(spec);
	eg_store *st = NULL;
	int r = eg_store_open(&st, argv[1], EG_OPEN_READ, NULL);
	if (r)
		die("%s: %s", argv[1], st ? eg_errmsg(st) : eg_strerror(r));
	eg_feat *f = NULL;
	if ((r = eg_feat_open(st, spec, 0, &f)))
		die("eg_feat_open: %s", eg_errmsg(st));

	/* the pairs: "customer\ttime" lines, split in place */
	char *pairs = slurp(argv[3], &n);
	size_t cap = 1024, m = 0;
	char **keys = malloc(cap * sizeof *keys);
	int64_t *at = malloc(cap * sizeof *at);
	for (char *s = pairs, *nl; *s; s = nl + 1) {
		char *tab = strchr(s, '\t');
		if (!(nl = strchr(s, '\n')) || !tab || tab > nl)
			die("%s: expected customer<TAB>time lines", argv[3]);
		if (m == cap && !(keys = realloc(keys, (cap *= 2) * sizeof *keys),
				  at = realloc(at, cap * sizeof *at)))
			die("out of memory");
		*tab = *nl = 0;
		keys[m] = s;
		if (eg_time_parse(tab + 1, strlen(tab + 1), &at[m]))
			die("%s: bad time %s", argv[3], tab + 1);
		m++;
	}
	double *us = malloc((m ? m : 1) * sizeof *us), sum = 0;
	if (!keys || !at || !us)
		die("out of memory");
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < m; i++) {
		eg_feat_values v;
		double t0 = now();
		if ((r = eg_feat_get(f, keys[i], strlen(keys[i]), at[i], at[i], 0, &v)))
			die("eg_feat_get %s: %s", keys[i], eg_strerror(r));
		us[i] = (now() - t0) * 1e6;
		sum += us[i];
		hash_values(&h, &v);
	}
	double first = m ? us[0] : 0;   /* the first call, before the sort */
	qsort(us, m, sizeof *us, cmp_double);
	/* the nearest-rank percentiles: the value at rank ceil(p * m) */
	size_t p50 = m ? (m + 1) / 2 - 1 : 0, p99 = m ? (99 * m + 99) / 100 - 1 : 0;
	printf("{\"calls\": %zu, \"first_us\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
	       "\"mean_us\": %.1f, \"hash\": \"%016llx\"}\n", m, first, m ? us[p50] : 0, m ? us[p99] : 0,
	       m ? us[m - 1] : 0, m ? sum / m : 0, (unsigned long long)h);
	eg_feat_close(f);
	eg_store_close(st);
	eg_feat_spec_free(spec);
	free(us), free(keys), free(at), free(pairs), free(spec_text);
	return 0;
}

/*
 * bench/peers/engram_asof.c — W3 of bench/compare.sh through engram's C
 * API: the balance of each (account, time) pair of PAIRS, as of that time.
 *
 *   engram_asof STORE SPEC PAIRS OUT
 *
 * Opens the projection once (its snapshots built beforehand by the
 * driver), then times the eg_proj_get calls alone.  OUT gets one line per
 * pair, "account<TAB>time<TAB>balance" (balance as engram prints it; 0
 * for an account with no events by then); stdout one JSON line of seconds.
 */
#define BENCH_NAME "engram_asof"
#include "engram.h"
#include "timefmt.h"   /* eg_time_parse: the CLI's own reading of --as-of */

#include "../bench.h"

#include <string.h>

typedef struct answer {
	char v[64];
	size_t n;
} answer;

static int on_row(void *ctx, const eg_proj_row *row)
{
	answer *a = ctx;
	a->n = row->lens[0] < sizeof a->v ? row->lens[0] : 0;
	memcpy(a->v, row->values[0], a->n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: engram_asof STORE SPEC PAIRS OUT");
	size_t n;
	char *spec_text = slurp(argv[2], &n), err[512];
	eg_proj_spec *spec = NULL;
	if (eg_proj_spec_parse(spec_text, n, &spec, err, sizeof err))
		die("%s: %s", argv[2], err);
	eg_store *st = NULL;
	int r = eg_store_open(&st, argv[1], EG_OPEN_READ, NULL);
	if (r)
		die("%s: %s", argv[1], st ? eg_errmsg(st) : eg_strerror(r));
	eg_proj *p = NULL;
	if ((r = eg_proj_open(st, spec, NULL, NULL, &p)))
		die("eg_proj_open: %s", eg_errmsg(st));

	/* the pairs: "account\ttime" lines, split in place */
	char *pairs = slurp(argv[3], &n);
	size_t cap = 1024, m = 0;
	char **keys = malloc(cap * sizeof *keys);
	eg_proj_at *at = malloc(cap * sizeof *at);
	for (char *s = pairs, *nl; *s; s = nl + 1) {
		char *tab = strchr(s, '\t');
		if (!(nl = strchr(s, '\n')) || !tab || tab > nl)
			die("%s: expected account<TAB>time lines", argv[3]);
		if (m == cap && !(keys = realloc(keys, (cap *= 2) * sizeof *keys),
				  at = realloc(at, cap * sizeof *at)))
			die("out of memory");
		*tab = *nl = 0;
		keys[m] = s;
		at[m].known_at = EG_TIME_NONE;
		if (eg_time_parse(tab + 1, strlen(tab + 1), &at[m].as_of))
			die("%s: bad time %s", argv[3], tab + 1);
		m++;
	}
	answer *res = calloc(m ? m : 1, sizeof *res);
	if (!keys || !at || !res)
		die("out of memory");
	double t0 = now();
	for (size_t i = 0; i < m; i++)
		if ((r = eg_proj_get(p, keys[i], strlen(keys[i]), &at[i], on_row, &res[i])))
			die("eg_proj_get %s: %s", keys[i], eg_strerror(r));
	double s = now() - t0;

	FILE *out = fopen(argv[4], "w");
	if (!out)
		die("%s: cannot open", argv[4]);
	for (size_t i = 0; i < m; i++)
		fprintf(out, "%s\t%s\t%.*s\n", keys[i], keys[i] + strlen(keys[i]) + 1,
			res[i].n ? (int)res[i].n : 1, res[i].n ? res[i].v : "0");
	if (fclose(out))
		die("%s: cannot write", argv[4]);
	printf("{\"s\": %.6f, \"queries\": %zu}\n", s, m);
	eg_proj_close(p);
	eg_store_close(st);
	eg_proj_spec_free(spec);
	free(res), free(keys), free(at), free(pairs), free(spec_text);
	return 0;
}

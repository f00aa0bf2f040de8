/*
 * fuzz_features.c — libFuzzer target for what engram features parses: the
 * features spec (src/engine/featspec.c) and CSV labels files
 * (src/util/csv.c).  The first byte picks: 'S' (or an even byte) the spec,
 * anything else CSV; the rest is the input.
 *
 * Checks: a spec that parses has one to FEAT_MAX features with distinct
 * non-empty names, an evaluation order where every ratio comes after what
 * it divides, and its minified text parses to the same table hash; one
 * that fails says "$…: why".  CSV: reading ends; every record written
 * back as CSV with every field quoted reads back to the same fields; an
 * error names a line that exists.  Nothing leaks either way.
 */
#include "buf.h"
#include "csv.h"
#include "feat.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void spec(const char *p, size_t n)
{
	eg_feat_spec *s = NULL;
	char err[512] = "";
	int rc = eg_feat_spec_parse(p, n, &s, err, sizeof err);
	if (rc) {
		CHECK(rc == EG_EINVAL || rc == EG_ENOMEM);
		CHECK(!s && err[0] == '$');
		return;
	}
	CHECK(s->nf >= 1 && s->nf <= FEAT_MAX);
	int seen[FEAT_MAX] = { 0 };
	for (int i = 0; i < s->nf; i++) {
		CHECK(s->f[i].name[0]);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(s->f[i].name, s->f[j].name));
		int k = s->order[i];
		CHECK(k >= 0 && k < s->nf && !seen[k]);
		if (s->f[k].agg == F_RATIO)
			CHECK(seen[s->f[k].ratio[0]] && seen[s->f[k].ratio[1]]);
		seen[k] = 1;
	}
	json_span v = { p, n, JSON_OBJECT };
	while (v.n && (*v.p == ' ' || *v.p == '\t' || *v.p == '\n' || *v.p == '\r'))
		v.p++, v.n--;
	char *m = malloc(n + 1);
	CHECK(m);
	size_t mn = eg_json_minify(&v, m);
	eg_feat_spec *t = NULL;
	CHECK(eg_feat_spec_parse(m, mn, &t, err, sizeof err) == EG_OK);
	CHECK(!memcmp(s->table_hash, t->table_hash, 32) && s->nf == t->nf);
	eg_feat_spec_free(t);
	eg_feat_spec_free(s);
	free(m);
}

static void csv_input(const char *p, size_t n)
{
	csv c, d;
	buf out = { 0 };
	uint64_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	eg_csv_begin(&c, p, p + n);
	int r;
	while ((r = eg_csv_next(&c)) == 1) {
		CHECK(c.nf >= 1 && c.line >= 1 && c.line <= lines);
		out.n = 0;
		for (size_t i = 0; i < c.nf; i++) {
			size_t k;
			const char *f = eg_csv_field(&c, i, &k);
			CHECK(buf_add(&out, i ? ",\"" : "\"", i ? 2 : 1) == 0);
			for (size_t j = 0; j < k; j++)
				CHECK(buf_add(&out, f[j] == '"' ? "\"\"" : &f[j], f[j] == '"' ? 2 : 1) == 0);
			CHECK(buf_add(&out, "\"", 1) == 0);
		}
		eg_csv_begin(&d, out.p, out.p + out.n);
		CHECK(eg_csv_next(&d) == 1 && d.nf == c.nf);
		for (size_t i = 0; i < c.nf; i++) {
			size_t a, b;
			const char *x = eg_csv_field(&c, i, &a), *y = eg_csv_field(&d, i, &b);
			CHECK(a == b && !memcmp(x, y, a));
		}
		CHECK(eg_csv_next(&d) == 0);
		eg_csv_free(&d);
	}
	if (r < 0)
		CHECK(c.why && c.why_line >= 1 && c.why_line <= lines);
	eg_csv_free(&c);
	free(out.p);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!size)
		return 0;
	const char *p = (const char *)data + 1;
	if (data[0] == 'S' || (data[0] != 'C' && data[0] % 2 == 0))
		spec(p, size - 1);
	else
		csv_input(p, size - 1);
	return 0;
}

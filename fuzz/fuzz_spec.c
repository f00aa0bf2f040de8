/*
 * fuzz_spec.c — libFuzzer target for the spec parsers: projection specs
 * (src/engine/projspec.c), windows specs (src/engine/winspec.c) and funnel steps and
 * options (src/engine/funnel.c).  The first byte picks the parser: 'P', 'W' or
 * 'F' (any other byte: its value modulo 3, in that order); the rest is the
 * spec.  For a funnel it is three lines: the steps, the --by path and the
 * --within duration (the last two optional).  Session options have no
 * parser in the library: they are C values, and their gap is a duration
 * (fuzz_time).
 *
 * Checks: a spec that parses prints back (from the parsed form) as a JSON
 * spec that parses to the same meaning, and its minified text parses to
 * the same hash; one that fails leaves a message, "$…: why" for the JSON
 * specs, the same for the minified text and cut short (never overrun) in
 * a smaller buffer.  Funnel steps agree with a reference parser written
 * from docs/CLI.md.  Nothing leaks either way.
 */
#include "buf.h"
#include "json.h"
#include "proj.h"
#include "timefmt.h"
#include "win.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define ERR_LEN 1024

static void bput(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	CHECK(k >= 0 && buf_reserve(b, (size_t)k + 1) == 0);
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)k;
}

/* A C string as a JSON string. */
static void bquote(buf *b, const char *s)
{
	size_t n = strlen(s);
	CHECK(buf_reserve(b, 6 * n + 3) == 0);
	b->n += eg_json_quote(s, n, b->p + b->n);
	b->p[b->n] = 0;
}

static void bdur(buf *b, int64_t d)
{
	char t[32];
	if (d == 0) {
		bput(b, "\"0\"");
		return;
	}
	CHECK(d > 0);
	eg_duration_format(d, t);
	bput(b, "\"%s\"", t);
}

static char *minified(const char *s, size_t n, size_t *mn)
{
	json_span v = { s, n, JSON_OBJECT };
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	v.p = s + i;
	v.n = n - i;
	char *m = malloc(n + 1);
	CHECK(m);
	*mn = eg_json_minify(&v, m);
	return m;
}

typedef int (*parse_fn)(const char *json, size_t n, void **out, char *err, size_t errlen);

/* A failed parse: a "$" message; a smaller buffer gets a prefix of it. */
static void check_error(parse_fn parse, const char *s, size_t n, const char *err, size_t cut)
{
	size_t len = strlen(err);
	void *x = NULL;
	CHECK(len > 0 && len < ERR_LEN && err[0] == '$');
	char *small = cut ? malloc(cut) : NULL;
	CHECK(parse(s, n, &x, small, cut) == EG_EINVAL && x == NULL);
	if (cut) {
		size_t sl = strlen(small);
		CHECK(sl < cut && sl <= len && memcmp(small, err, sl) == 0);
		CHECK(sl == len || sl == cut - 1);
	}
	free(small);
}

/* --------------------------------------------------------- projections */

/* Parse a spec; with its minified text in *m (NULL if s is not JSON).  A
 * refused spec (NULL returned, *m freed): check_error, and *m is refused
 * with the same message. */
static void *parse_spec(parse_fn parse, const char *s, size_t n, size_t cut, char **m,
			size_t *mn)
{
	char err[ERR_LEN];
	void *sp = NULL;
	int rc = parse(s, n, &sp, err, sizeof err);
	*m = eg_json_validate(s, n, NULL) == 0 ? minified(s, n, mn) : NULL;
	if (rc == EG_OK)
		return sp;
	CHECK(rc == EG_EINVAL && sp == NULL);
	check_error(parse, s, n, err, cut);
	if (*m) {
		char err2[ERR_LEN];
		void *sp2 = NULL;
		CHECK(parse(*m, *mn, &sp2, err2, sizeof err2) == EG_EINVAL && sp2 == NULL);
		CHECK(strcmp(err, err2) == 0);
	}
	free(*m);
	return NULL;
}

static int proj_parse(const char *json, size_t n, void **out, char *err, size_t errlen)
{
	return eg_proj_spec_parse(json, n, (eg_proj_spec **)out, err, errlen);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the types in mask, sorted: what the mask means. */
static void mask_names(buf *b, const eg_proj_spec *s, uint64_t mask, int json)
{
	const char *v[PROJ_MAX_TYPES];
	int k = 0;
	for (int i = 0; i < s->ntypes; i++)
		if (mask >> i & 1)
			v[k++] = s->tnames[i];
	qsort(v, (size_t)k, sizeof *v, cmp_str);
	bput(b, "[");
	for (int i = 0; i < k; i++) {
		if (i)
			bput(b, ",");
		if (json)
			bquote(b, v[i]);
		else
			bput(b, "%s\x01", v[i]);
	}
	bput(b, "]");
}

static const char *const PAGG[] = { "count", "sum", "min", "max", "first", "last", "open" };

/* What a projection spec means, independent of the order its types were
 * first named in. */
static void proj_describe(const eg_proj_spec *s, buf *b)
{
	bput(b, "name %s\x01key %d %s\x01every %llu\x01", s->name, s->key.root, s->key.text,
	     (unsigned long long)s->snapshot_every);
	if (s->filter)
		mask_names(b, s, s->types, 0);
	else
		CHECK(s->types == ~0ull);
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		CHECK(f->agg >= A_COUNT && f->agg <= A_OPEN);
		bput(b, "\nfield %s\x01%s %s %d", f->name, PAGG[f->agg],
		     f->path.text ? f->path.text : "-", f->path.root);
		for (int k = 0; k < f->path.nseg; k++)
			bput(b, ".%s\x01", f->path.seg[k]);
		if (f->types != ~0ull) {
			CHECK(!(f->types >> PROJ_MAX_TYPES));
			mask_names(b, s, f->types, 0);
		}
		mask_names(b, s, f->opens, 0);
		const char *sn[PROJ_MAX_TYPES];
		int k = 0;
		for (int t = 0; t < s->ntypes; t++)
			if (f->sign[t] != 1)
				sn[k++] = s->tnames[t];
		qsort(sn, (size_t)k, sizeof *sn, cmp_str);
		for (int j = 0; j < k; j++)
			bput(b, " %s\x01%lld", sn[j],
			     (long long)f->sign[eg_proj_type_index(s, sn[j], strlen(sn[j]))]);
		CHECK(f->sign[PROJ_MAX_TYPES] == 1);
		CHECK((f->num >= 0) == (f->agg == A_SUM || f->agg == A_MIN || f->agg == A_MAX));
		if (f->num >= 0)
			CHECK(f->num < s->nnum && !strcmp(s->nums[f->num]->text, f->path.text));
	}
}

/* The spec printed back as JSON, from its parsed form. */
static void proj_print(const eg_proj_spec *s, buf *b)
{
	bput(b, "{\"name\":");
	bquote(b, s->name);
	bput(b, ",\"key\":");
	bquote(b, s->key.text);
	if (s->filter) {
		bput(b, ",\"types\":");
		mask_names(b, s, s->types, 1);
	}
	bput(b, ",\"snapshot_every\":%llu,\"fields\":{", (unsigned long long)s->snapshot_every);
	for (int i = 0; i < s->nf; i++) {
		const pfield *f = &s->f[i];
		if (i)
			bput(b, ",");
		bquote(b, f->name);
		if (f->agg == A_OPEN) {
			bput(b, ":{\"open\":");
			mask_names(b, s, f->opens, 1);
			bput(b, ",\"close\":");
			mask_names(b, s, f->types & ~f->opens, 1);
			bput(b, "}");
			continue;
		}
		bput(b, ":{\"%s\":", PAGG[f->agg]);
		if (f->agg == A_COUNT)
			bput(b, "true");
		else
			bquote(b, f->path.text);
		if (f->types != ~0ull) {
			bput(b, ",\"types\":");
			mask_names(b, s, f->types, 1);
		}
		int any = 0;
		for (int t = 0; t < s->ntypes; t++)
			if (f->sign[t] != 1) {
				bput(b, any++ ? "," : ",\"sign\":{");
				bquote(b, s->tnames[t]);
				bput(b, ":%lld", (long long)f->sign[t]);
			}
		bput(b, any ? "}}" : "}");
	}
	bput(b, "}}");
}

static void fuzz_proj(const char *s, size_t n, size_t cut)
{
	char err[ERR_LEN], *m;
	size_t mn;
	eg_proj_spec *sp = parse_spec(proj_parse, s, n, cut, &m, &mn);
	if (!sp)
		return;
	CHECK(sp && m && sp->nf >= 1 && sp->nf <= PROJ_MAX_FIELDS && sp->ntypes <= PROJ_MAX_TYPES);
	CHECK(sp->srclen == n && memcmp(sp->src, s, n) == 0);
	CHECK(!strcmp(eg_proj_spec_name(sp), sp->name));
	buf d1 = { 0 }, d2 = { 0 }, js = { 0 };
	proj_describe(sp, &d1);

	/* the minified text: the same spec, to the hash */
	eg_proj_spec *sp2 = NULL;
	CHECK(eg_proj_spec_parse(m, mn, &sp2, err, sizeof err) == EG_OK);
	CHECK(memcmp(sp2->hash, sp->hash, 32) == 0 && !strcmp(sp2->name, sp->name));
	proj_describe(sp2, &d2);
	CHECK(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0);
	eg_proj_spec_free(sp2);
	free(m);

	/* printed back and parsed again: the same meaning */
	proj_print(sp, &js);
	CHECK(eg_proj_spec_parse(js.p, js.n, &sp2, err, sizeof err) == EG_OK);
	d2.n = 0;
	proj_describe(sp2, &d2);
	CHECK(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0);
	char h[65];
	eg_proj_spec_hash(sp2, h);
	CHECK(strlen(h) == 64);
	eg_proj_spec_free(sp2);
	free(d1.p);
	free(d2.p);
	free(js.p);
	eg_proj_spec_free(sp);
}

/* ------------------------------------------------------------- windows */

static int win_parse(const char *json, size_t n, void **out, char *err, size_t errlen)
{
	return eg_win_spec_parse(json, n, (eg_win_spec **)out, err, errlen);
}

static const char *wagg_name(const waggspec *a)
{
	static const char *const names[] = { "count", "sum", "min", "max", "avg",
					     "count_distinct" };
	if (a->agg != WA_PCT) {
		CHECK(a->agg >= WA_COUNT && a->agg < WA_PCT);
		return names[a->agg];
	}
	return a->q == 0.5 ? "p50" : a->q == 0.9 ? "p90" : a->q == 0.95 ? "p95" : "p99";
}

static void win_describe(const eg_win_spec *s, buf *b)
{
	bput(b, "name %s\x01kind %d size %lld every %lld wm %lld late %lld\n", s->name, s->kind,
	     (long long)s->size, (long long)s->every, (long long)s->watermark,
	     (long long)s->lateness);
	for (int i = 0; i < s->ntypes; i++)
		bput(b, "type %s\x01", s->types[i]);
	CHECK(!s->types || s->types[s->ntypes] == NULL);
	for (int i = 0; i < s->ngroup; i++)
		bput(b, "group %d %s\x01", s->group[i].root, s->group[i].text);
	for (int i = 0; i < s->na; i++)
		bput(b, "agg %s\x01%s %s\x01", s->a[i].name, wagg_name(&s->a[i]),
		     s->a[i].path.text ? s->a[i].path.text : "-");
}

static void win_print(const eg_win_spec *s, buf *b)
{
	static const char *const kinds[] = { "tumble", "hop", "session" };
	bput(b, "{\"name\":");
	bquote(b, s->name);
	if (s->ntypes) {
		bput(b, ",\"types\":[");
		for (int i = 0; i < s->ntypes; i++) {
			if (i)
				bput(b, ",");
			bquote(b, s->types[i]);
		}
		bput(b, "]");
	}
	CHECK(s->kind >= W_TUMBLE && s->kind <= W_SESSION);
	bput(b, ",\"window\":{\"%s\":", kinds[s->kind]);
	bdur(b, s->size);
	if (s->kind == W_HOP) {
		bput(b, ",\"every\":");
		bdur(b, s->every);
	}
	bput(b, "}");
	if (s->ngroup) {
		bput(b, ",\"group_by\":[");
		for (int i = 0; i < s->ngroup; i++) {
			if (i)
				bput(b, ",");
			bquote(b, s->group[i].text);
		}
		bput(b, "]");
	}
	bput(b, ",\"aggs\":{");
	for (int i = 0; i < s->na; i++) {
		if (i)
			bput(b, ",");
		bquote(b, s->a[i].name);
		bput(b, ":{\"%s\":", wagg_name(&s->a[i]));
		if (s->a[i].agg == WA_COUNT)
			bput(b, "true}");
		else
			bquote(b, s->a[i].path.text), bput(b, "}");
	}
	bput(b, "},\"watermark\":");
	bdur(b, s->watermark);
	bput(b, ",\"allowed_lateness\":");
	if (s->lateness == WIN_FOREVER)
		bput(b, "\"forever\"");
	else
		bdur(b, s->lateness);
	bput(b, "}");
}

static void fuzz_win(const char *s, size_t n, size_t cut)
{
	char err[ERR_LEN], *m;
	size_t mn;
	eg_win_spec *sp = parse_spec(win_parse, s, n, cut, &m, &mn);
	if (!sp)
		return;
	CHECK(sp && m && sp->na >= 1 && sp->na <= WIN_MAX_AGGS && sp->ngroup <= WIN_MAX_GROUPS);
	CHECK(sp->ntypes <= WIN_MAX_TYPES && sp->srclen == n && memcmp(sp->src, s, n) == 0);
	/* the window's shape */
	CHECK(sp->size > 0 && sp->every > 0 && sp->every <= sp->size && sp->size % sp->every == 0);
	CHECK(sp->kind == W_HOP || sp->every == sp->size);
	CHECK(sp->watermark >= 0 && sp->lateness >= 0);
	CHECK(!strcmp(eg_win_spec_name(sp), sp->name));
	buf d1 = { 0 }, d2 = { 0 }, js = { 0 };
	win_describe(sp, &d1);

	eg_win_spec *sp2 = NULL;
	CHECK(eg_win_spec_parse(m, mn, &sp2, err, sizeof err) == EG_OK);
	CHECK(memcmp(sp2->hash, sp->hash, 32) == 0);
	win_describe(sp2, &d2);
	CHECK(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0);
	eg_win_spec_free(sp2);
	free(m);

	/* printed back: the same meaning and, order being kept, the same hash */
	win_print(sp, &js);
	CHECK(eg_win_spec_parse(js.p, js.n, &sp2, err, sizeof err) == EG_OK);
	d2.n = 0;
	win_describe(sp2, &d2);
	CHECK(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0);
	CHECK(memcmp(sp2->hash, sp->hash, 32) == 0);
	eg_win_spec_free(sp2);
	free(d1.p);
	free(d2.p);
	free(js.p);
	eg_win_spec_free(sp);
}

/* ------------------------------------------------------------- funnels */

/* What docs/CLI.md says of --steps, --within and --by: 0 if they are
 * fine, else a phrase the message must hold. */
static const char *funnel_ref(const char *steps, int64_t within, const char *by, char *want)
{
	const char *p = steps;
	size_t n = strlen(p);
	if (strspn(p, " ") == n)
		return "no steps given";
	for (int i = 1;; i++) {
		const char *comma = memchr(p, ',', n);
		size_t len = comma ? (size_t)(comma - p) : n;
		if (i > EG_FUNNEL_MAX_STEPS)
			return "more than";
		const char *q = p;
		size_t k = len;
		while (k && *q == ' ')
			q++, k--;
		while (k && q[k - 1] == ' ')
			k--;
		const char *colon = memchr(q, ':', k);
		if (!k || colon == q || (colon && colon == q + k - 1)) {
			snprintf(want, 32, "step %d ", i);
			return want;
		}
		if (!comma)
			break;
		p = comma + 1;
		n -= len + 1;
	}
	if (within <= 0)
		return "within:";
	if (!by)
		return NULL;
	static const char *const roots[] = { "stream", "type", "actor", "session", "time",
					     "recorded", "id", "version", "pos" };
	for (size_t i = 0; i < sizeof roots / sizeof *roots; i++)
		if (!strcmp(by, roots[i]))
			return NULL;
	if (strncmp(by, "data.", 5) && strncmp(by, "meta.", 5))
		return "by:";
	for (const char *q = by + 5;; q++) {
		const char *dot = strchr(q, '.');
		if (dot == q || !*q)
			return "by:";
		if (!dot)
			return NULL;
		q = dot;
	}
}

static char *line_dup(const char **s, size_t *n, int *present)
{
	const char *nl = memchr(*s, '\n', *n);
	size_t k = nl ? (size_t)(nl - *s) : *n;
	char *t = malloc(k + 1);
	CHECK(t);
	memcpy(t, *s, k);
	t[k] = 0;
	*present = nl != NULL || *n > 0;
	*s += k + (nl != NULL);
	*n -= k + (nl != NULL);
	return t;
}

static void fuzz_funnel(const char *s, size_t n, size_t cut)
{
	int has_steps, has_by, has_within;
	char *steps = line_dup(&s, &n, &has_steps);
	char *by = line_dup(&s, &n, &has_by);
	char *wt = line_dup(&s, &n, &has_within);
	eg_funnel_opts o = { 0 };
	char err[ERR_LEN], want[32];
	eg_funnel *f = NULL;
	(void)has_steps;
	o.within = 3600000000LL;
	if (has_within && eg_duration_parse(wt, strlen(wt), &o.within))
		o.within = -(int64_t)strlen(wt);
	o.by = has_by ? by : NULL;
	const char *expect = funnel_ref(steps, o.within, o.by, want);
	int rc = eg_funnel_new(steps, &o, &f, err, sizeof err);
	if (!expect) {
		CHECK(rc == EG_OK && f);
		eg_funnel_explain x;
		eg_funnel_get_explain(f, &x);
		CHECK(x.read == 0 && x.rows == 0);
		eg_funnel_free(f);
	} else {
		CHECK(rc == EG_EINVAL && f == NULL);
		CHECK(err[0] && strlen(err) < sizeof err && strstr(err, expect));
		char *small = cut ? malloc(cut) : NULL;
		CHECK(eg_funnel_new(steps, &o, &f, small, cut) == EG_EINVAL && f == NULL);
		if (cut)
			CHECK(strlen(small) < cut && !strncmp(small, err, strlen(small)));
		free(small);
	}
	free(steps);
	free(by);
	free(wt);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	int which = data[0] == 'P' ? 0 : data[0] == 'W' ? 1 : data[0] == 'F' ? 2 : data[0] % 3;
	/* a small message buffer for the second parse of a failure: 0 to 40 */
	size_t cut = (size * 7 + data[size - 1]) % 41;
	/* the spec in a buffer of exactly its size */
	size_t n = size - 1;
	char *s = malloc(n ? n : 1);
	CHECK(s);
	memcpy(s, data + 1, n);
	if (which == 0)
		fuzz_proj(s, n, cut);
	else if (which == 1)
		fuzz_win(s, n, cut);
	else
		fuzz_funnel(s, n, cut);
	free(s);
	return 0;
}

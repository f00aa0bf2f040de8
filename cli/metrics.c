/*
 * metrics.c — engram metrics: figures per interval of the metric samples,
 * answered from the rollups (docs/METRICS.md); --list of the
 * series and of the tags' cardinality, --format prometheus of the latest
 * values, --follow of the intervals as they close.
 */
#include "cli.h"
#include "json.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AGG 32
#define MAX_TAGS 32

enum { A_COUNT, A_SUM, A_AVG, A_MIN, A_MAX, A_LAST, A_RATE, A_Q };

typedef struct margs {
	const char *where_s, *by_s, *every_s, *agg_s, *since_s, *until_s, *format_s;
	int list, tags, follow, explain, prom;
	const char *names[8];
	size_t nnames;
	const char *wk[MAX_TAGS], *wv[MAX_TAGS], *by[MAX_TAGS];
	char *wbuf;
	const char *agg[MAX_AGG];
	int akind[MAX_AGG], aq[MAX_AGG];
	double qs[MAX_AGG];
	size_t nwhere, nby, nagg, nq;
	eg_metrics_query q;
	char aggbuf[512];
} margs;

static int parse_aggs(cli *c, margs *a)
{
	static const char *const fixed[] = { "count", "sum", "avg", "min", "max", "last", "rate" };
	snprintf(a->aggbuf, sizeof a->aggbuf, "%s", a->agg_s ? a->agg_s : "count,avg,min,max");
	a->nagg = cli_split(a->aggbuf, a->agg, MAX_AGG);
	if (!a->nagg)
		return cli_usage_error(c, "--agg: expected a list of count, sum, avg, min, max, last, "
				       "p50, p90, p99 (any pNN), rate");
	for (size_t i = 0; i < a->nagg; i++) {
		const char *s = a->agg[i];
		int k;
		for (k = 0; k < A_Q && strcmp(s, fixed[k]); k++)
			;
		a->akind[i] = k;
		if (k < A_Q)
			continue;
		char *end;
		double p = s[0] == 'p' && s[1] ? strtod(s + 1, &end) : -1;
		if (s[0] != 'p' || !s[1] || *end || !(p >= 0 && p <= 100))
			return cli_usage_error(c, "--agg: '%s' is not one of count, sum, avg, min, max, "
					       "last, rate or a percentile pNN (0 to 100)", s);
		a->aq[i] = (int)a->nq;
		a->qs[a->nq++] = p / 100;
	}
	return 0;
}

static int parse_args(cli *c, margs *a)
{
	opt opts[] = {
		{ "where", OPT_LIST, &a->where_s, NULL }, { "by", OPT_LIST, &a->by_s, NULL },
		{ "every", 1, &a->every_s, NULL }, { "agg", OPT_LIST, &a->agg_s, NULL },
		{ "since", 1, &a->since_s, NULL }, { "until", 1, &a->until_s, NULL },
		{ "list", 0, NULL, &a->list }, { "tags", 0, NULL, &a->tags },
		{ "follow", 0, NULL, &a->follow }, { "explain", 0, NULL, &a->explain },
		{ "format", 1, &a->format_s, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 8);
	if (rc)
		return rc < 0 ? -1 : rc;
	for (int i = 0; i < c->npos; i++)
		a->names[a->nnames++] = c->pos[i];
	if (c->format_prometheus)
		a->prom = 1;
	if (a->format_s) {
		if (strcmp(a->format_s, "prometheus"))
			return cli_usage_error(c, "--format: expected ndjson, csv, table or prometheus");
		a->prom = 1;
	}
	if (a->list + a->tags + a->prom > 1)
		return cli_usage_error(c, "--list, --tags and --format prometheus print different "
				       "rows; pick one");
	if ((a->list || a->tags || a->prom) && (a->every_s || a->agg_s || a->by_s || a->since_s ||
						 a->until_s || a->follow || a->where_s))
		return cli_usage_error(c, "--list, --tags and --format prometheus take only metric "
				       "names");
	if (a->where_s) {
		a->wbuf = strdup(a->where_s);
		if (!a->wbuf)
			return EXIT_ERR;
		a->nwhere = cli_split(a->wbuf, a->wk, MAX_TAGS);
		for (size_t i = 0; i < a->nwhere; i++) {
			char *eq = strchr(a->wk[i], '=');
			if (!eq || eq == a->wk[i])
				return cli_usage_error(c, "--where: expected TAG=VALUE, got '%s'", a->wk[i]);
			*eq = 0;
			a->wv[i] = eq + 1;
		}
	}
	if (a->by_s)
		a->nby = cli_split((char *)a->by_s, a->by, MAX_TAGS);
	int64_t every = 3600000000LL;
	if (a->every_s && eg_duration_parse(a->every_s, strlen(a->every_s), &every))
		return cli_usage_error(c, "--every: expected %s", EG_DURATION_FORMS);
	if (every < 1000000 || every % 1000000)
		return cli_usage_error(c, "--every: expected a whole number of seconds (1m, 5m, 1h, 1d...)");
	a->q = (eg_metrics_query){ .names = a->names, .nnames = a->nnames, .where_key = a->wk,
				   .where_val = a->wv, .nwhere = a->nwhere, .by = a->by,
				   .nby = a->nby, .every = every, .quantiles = a->qs };
	if (a->since_s && (rc = cli_time(c, "since", a->since_s, &a->q.since)))
		return rc;
	if (a->until_s && (rc = cli_time(c, "until", a->until_s, &a->q.until)))
		return rc;
	a->q.has_since = !!a->since_s;
	a->q.has_until = !!a->until_s;
	if (a->list || a->tags || a->prom)
		return 0;
	if ((rc = parse_aggs(c, a)))
		return rc;
	a->q.nq = a->nq;
	return 0;
}

/* ------------------------------------------------------------ rows */

typedef struct msink {
	out *o;
	const margs *a;
	int name_col;
	int64_t stop;                 /* --follow: rows from here on are not closed yet */
	int64_t next;                 /* --follow: the first interval not printed */
	uint64_t rows;
} msink;

/* The shortest of %.15g, %.16g and %.17g that reads back as v (64.16,
 * not 64.159999999999997): out_f64's six digits would lose the exact
 * sums, minima and maxima. */
static size_t fmt_num(char *b, size_t n, double v)
{
	int k = 0;
	for (int prec = 15; prec <= 17; prec++) {
		k = snprintf(b, n, "%.*g", prec, v);
		if (strtod(b, NULL) == v)
			break;
	}
	return (size_t)k;
}

static void put_num(out *o, const char *k, double v)
{
	char b[40];
	if (isfinite(v))
		out_json(o, k, b, fmt_num(b, sizeof b, v));
	else
		out_null(o, k);
}

static int print_row(void *ctx, const eg_metrics_row *r)
{
	msink *k = ctx;
	const margs *a = k->a;
	if (r->time >= k->stop)
		return 0;
	if (r->time + a->q.every > k->next)
		k->next = r->time + a->q.every;
	out *o = k->o;
	out_row_begin(o);
	out_time(o, "time", r->time);
	if (k->name_col)
		out_cstr(o, "name", r->name);
	for (size_t i = 0; i < a->nby; i++)
		out_cstr(o, a->by[i], r->by[i]);
	for (size_t i = 0; i < a->nagg; i++) {
		const char *n = a->agg[i];
		switch (a->akind[i]) {
		case A_COUNT: out_u64(o, n, r->count); break;
		case A_SUM: put_num(o, n, r->sum); break;
		case A_AVG: put_num(o, n, r->sum / (double)r->count); break;
		case A_MIN: put_num(o, n, r->min); break;
		case A_MAX: put_num(o, n, r->max); break;
		case A_LAST: put_num(o, n, r->last); break;
		case A_RATE: put_num(o, n, r->sum / ((double)r->span / 1e6)); break;
		default: put_num(o, n, r->q[a->aq[i]]); break;
		}
	}
	out_row_end(o);
	k->rows++;
	return 0;
}

static void header(msink *k)
{
	const margs *a = k->a;
	const char *keys[2 + MAX_TAGS + MAX_AGG];
	int n = 0;
	keys[n++] = "time";
	if (k->name_col)
		keys[n++] = "name";
	for (size_t i = 0; i < a->nby; i++)
		keys[n++] = a->by[i];
	for (size_t i = 0; i < a->nagg; i++)
		keys[n++] = a->agg[i];
	out_header(k->o, keys, n);
}

static void explain(const margs *a, const eg_metrics_explain *x)
{
	static const char *const lv[3] = { "1m", "1h", "1d" };
	char ev[32];
	eg_duration_format(a->q.every, ev);
	fprintf(stderr, "{\"explain\":\"plan\",\"every\":\"%s\",\"rollups\":\"%s\",\"levels\":[", ev,
		x->per_name ? "per_name" : "per_series");
	int first = 1;
	for (int l = 0; l < 3; l++)
		if (x->cells[l]) {
			fprintf(stderr, "%s{\"level\":\"%s\",\"cells\":%" PRIu64 "}", first ? "" : ",", lv[l],
				x->cells[l]);
			first = 0;
		}
	fprintf(stderr, "],\"raw_samples\":%" PRIu64 ",\"folded\":%" PRIu64 ",\"skipped\":%" PRIu64,
		x->raw, x->folded, x->skipped);
	cli_explain_path(stderr, "rollups", x->raw ? "the edges of the range off a rollup's "
			 "boundary were read from the log" : NULL, 0, x->raw);
	fprintf(stderr, "}\n");
}

/* ------------------------------------------------------------ --follow */

static volatile sig_atomic_t stop_follow;

static void on_signal(int sig)
{
	(void)sig;
	stop_follow = 1;
}

static int max_time(void *ctx, const eg_metrics_series *s)
{
	int64_t *t = ctx;
	if (s->last_time > *t)
		*t = s->last_time;
	return 0;
}

/* The watermark: the greatest sample time of the names asked. */
static int watermark(eg_metrics *m, const margs *a, int64_t *wm)
{
	*wm = INT64_MIN;
	return eg_metrics_series_each(m, a->names, a->nnames, max_time, wm);
}

/* Print the intervals that closed (the watermark passed their end by one
 * interval) since the last print, then wait for samples and again. */
static int follow(eg_store *st, eg_metrics *m, margs *a, msink *k)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	out_live(k->o);
	eg_head h;
	int rc = eg_store_head(st, &h);
	while (!rc && !stop_follow) {
		int64_t wm;
		if ((rc = watermark(m, a, &wm)))
			break;
		if (wm != INT64_MIN) {
			int64_t e = a->q.every;
			/* closed: end + one interval <= watermark */
			int64_t close = (wm / e - (wm % e < 0)) * e - e;
			eg_metrics_query q = a->q;
			if (k->next != INT64_MIN) {
				q.has_since = 1;
				q.since = k->next;
			}
			k->stop = close;
			if ((rc = eg_metrics_run(m, &q, print_row, k, NULL)))
				break;
			if (out_flush(k->o)) {
				rc = EG_EIO;
				break;
			}
			if (k->next < close)
				k->next = close;
		}
		eg_iter *it;
		eg_filter f = { .from = h.pos + 1, .kinds = 1u << EG_KIND_METRIC };
		if ((rc = eg_iter_new(st, &it, &f)))
			break;
		while (!stop_follow && (rc = eg_iter_wait(it, 250)) == EG_END)
			rc = 0;
		eg_iter_free(it);
		if (!rc)
			rc = eg_store_head(st, &h);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}

/* ------------------------------------------------------------ --list, --tags, prometheus */

/* --tags: per name and tag, the distinct values and the series having it. */
typedef struct tagcount {
	char *name, *tag;
	char **vals;
	size_t nv, cap;
	uint64_t series;
} tagcount;

typedef struct tagset {
	tagcount *t;
	size_t n, cap;
	int oom;
} tagset;

static int tag_row(void *ctx, const eg_metrics_series *s)
{
	tagset *ts = ctx;
	for (size_t i = 0; i < s->ntags && !ts->oom; i++) {
		size_t j;
		for (j = 0; j < ts->n; j++)
			if (!strcmp(ts->t[j].name, s->name) && !strcmp(ts->t[j].tag, s->tag_keys[i]))
				break;
		if (j == ts->n) {
			if (ts->n == ts->cap) {
				size_t c = ts->cap ? ts->cap * 2 : 16;
				tagcount *x = realloc(ts->t, c * sizeof *x);
				if (!x)
					return ts->oom = 1;
				ts->t = x, ts->cap = c;
			}
			ts->t[ts->n++] = (tagcount){ strdup(s->name), strdup(s->tag_keys[i]), NULL, 0, 0, 0 };
		}
		tagcount *t = &ts->t[j];
		t->series++;
		size_t v;
		for (v = 0; v < t->nv && strcmp(t->vals[v], s->tag_vals[i]); v++)
			;
		if (v < t->nv)
			continue;
		if (t->nv == t->cap) {
			size_t c = t->cap ? t->cap * 2 : 16;
			char **x = realloc(t->vals, c * sizeof *x);
			if (!x)
				return ts->oom = 1;
			t->vals = x, t->cap = c;
		}
		t->vals[t->nv++] = strdup(s->tag_vals[i]);
	}
	return 0;
}

static int tag_cmp(const void *a, const void *b)
{
	const tagcount *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->tag, y->tag);
}

static void free_tags(tagset *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		tagcount *t = &ts->t[i];
		for (size_t v = 0; v < t->nv; v++)
			free(t->vals[v]);
		free(t->vals), free(t->name), free(t->tag);
	}
	free(ts->t);
	*ts = (tagset){ 0 };
}

/* The tags of the series of a's names: per name and tag, sorted.  0, or
 * the error (ts freed then). */
static int collect_tags(eg_metrics *m, const margs *a, tagset *ts)
{
	int rc = eg_metrics_series_each(m, a->names, a->nnames, tag_row, ts);
	if (ts->oom)
		rc = EG_ENOMEM;
	if (rc)
		free_tags(ts);
	else if (ts->n)
		qsort(ts->t, ts->n, sizeof *ts->t, tag_cmp);
	return rc;
}

static int print_tags(eg_metrics *m, const margs *a, out *o)
{
	tagset ts = { 0 };
	const char *keys[] = { "name", "tag", "values", "series" };
	out_header(o, keys, 4);
	int rc = collect_tags(m, a, &ts);
	for (size_t i = 0; !rc && i < ts.n; i++) {
		tagcount *t = &ts.t[i];
		out_row_begin(o);
		out_cstr(o, "name", t->name);
		out_cstr(o, "tag", t->tag);
		out_u64(o, "values", t->nv);
		out_u64(o, "series", t->series);
		out_row_end(o);
	}
	free_tags(&ts);
	return rc;
}

/* --list: a row per series, with the cardinality of each tag of its name
 * (distinct values over the name's series), as --tags counts them. */
typedef struct listctx {
	out *o;
	const tagset *ts;
	const char *name;             /* the name card is for */
	char *card;
	size_t cardlen;
} listctx;

static int list_row(void *ctx, const eg_metrics_series *s)
{
	listctx *l = ctx;
	if (!l->name || strcmp(l->name, s->name)) {
		/* {"tag":values,...} of this name, in the tagset's (sorted) order */
		free(l->card);
		l->card = NULL;
		FILE *f = open_memstream(&l->card, &l->cardlen);
		if (!f)
			return EG_ENOMEM;
		fputc('{', f);
		int first = 1;
		for (size_t i = 0; i < l->ts->n; i++) {
			const tagcount *t = &l->ts->t[i];
			if (strcmp(t->name, s->name))
				continue;
			char q[1024];
			size_t n = strlen(t->tag);
			if (6 * n + 3 > sizeof q)
				continue;
			fprintf(f, "%s", first ? "" : ",");
			fwrite(q, 1, eg_json_quote(t->tag, n, q), f);
			fprintf(f, ":%zu", t->nv);
			first = 0;
		}
		fputc('}', f);
		if (fclose(f))
			return EG_ENOMEM;
		l->name = s->name;
	}
	out *o = l->o;
	out_row_begin(o);
	out_cstr(o, "name", s->name);
	out_json(o, "tags", s->tags, strlen(s->tags));
	out_u64(o, "samples", s->samples);
	out_time(o, "first", s->first);
	out_time(o, "last", s->last_time);
	put_num(o, "last_value", s->last);
	out_json(o, "cardinality", l->card, l->cardlen);
	out_row_end(o);
	return 0;
}

static int print_list(eg_metrics *m, const margs *a, out *o)
{
	const char *keys[] = { "name", "tags", "samples", "first", "last", "last_value",
			       "cardinality" };
	out_header(o, keys, 7);
	tagset ts = { 0 };
	int rc = collect_tags(m, a, &ts);
	listctx l = { o, &ts, NULL, NULL, 0 };
	if (!rc)
		rc = eg_metrics_series_each(m, a->names, a->nnames, list_row, &l);
	free(l.card);
	free_tags(&ts);
	return rc;
}

typedef struct promctx {
	FILE *f;
	char last_name[512];
} promctx;

/* A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*, other bytes as '_'. */
static void prom_name(FILE *f, const char *s, int label)
{
	for (size_t i = 0; s[i]; i++) {
		char ch = s[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
			 (!label && ch == ':') || (i && ch >= '0' && ch <= '9');
		fputc(ok ? ch : '_', f);
	}
	if (!s[0])
		fputc('_', f);
}

static int prom_row(void *ctx, const eg_metrics_series *s)
{
	promctx *p = ctx;
	FILE *f = p->f;
	if (strcmp(p->last_name, s->name)) {
		snprintf(p->last_name, sizeof p->last_name, "%s", s->name);
		static const char *const types[] = { "counter", "gauge", "histogram", "summary" };
		const char *t = "untyped";
		for (int i = 0; i < 4 && s->metric_type; i++)
			if (!strcmp(s->metric_type, types[i]))
				t = types[i];
		fputs("# TYPE ", f);
		prom_name(f, s->name, 0);
		fprintf(f, " %s\n", t);
	}
	prom_name(f, s->name, 0);
	if (s->ntags) {
		fputc('{', f);
		for (size_t i = 0; i < s->ntags; i++) {
			if (i)
				fputc(',', f);
			prom_name(f, s->tag_keys[i], 1);
			fputs("=\"", f);
			for (const char *c = s->tag_vals[i]; *c; c++) {
				if (*c == '\\' || *c == '"')
					fputc('\\', f), fputc(*c, f);
				else if (*c == '\n')
					fputs("\\n", f);
				else
					fputc(*c, f);
			}
			fputc('"', f);
		}
		fputc('}', f);
	}
	int64_t ms = s->last_time / 1000 - (s->last_time % 1000 < 0);
	char v[40];
	fmt_num(v, sizeof v, s->last);
	fprintf(f, " %s %" PRId64 "\n", v, ms);
	return 0;
}

/* Warnings: a NAME without samples, a --by or --where tag no series of
 * the names asked has (its column would be null, its condition never
 * hold).  Bit i of names_seen: NAME i; of tags_seen: --by tags, then
 * --where tags. */
typedef struct seen {
	const margs *a;
	unsigned names_seen;
	uint64_t tags_seen;
} seen;

static int seen_row(void *ctx, const eg_metrics_series *s)
{
	seen *w = ctx;
	const margs *a = w->a;
	for (size_t i = 0; i < a->nnames; i++)
		if (!strcmp(a->names[i], s->name))
			w->names_seen |= 1u << i;
	for (size_t k = 0; k < s->ntags; k++) {
		for (size_t i = 0; i < a->nby; i++)
			if (!strcmp(a->by[i], s->tag_keys[k]))
				w->tags_seen |= 1ull << i;
		for (size_t i = 0; i < a->nwhere; i++)
			if (!strcmp(a->wk[i], s->tag_keys[k]))
				w->tags_seen |= 1ull << (MAX_TAGS + i);
	}
	return 0;
}

static void warn_unseen(eg_metrics *m, const margs *a)
{
	seen w = { a, 0, 0 };
	if (eg_metrics_series_each(m, a->names, a->nnames, seen_row, &w))
		return;
	for (size_t i = 0; i < a->nnames; i++)
		if (!(w.names_seen & 1u << i))
			cli_warn("metric '%s' has no samples in the store", a->names[i]);
	for (size_t i = 0; i < a->nby; i++)
		if (!(w.tags_seen & 1ull << i))
			cli_warn("--by %s: no series has that tag, so it is null in every row", a->by[i]);
	for (size_t i = 0; i < a->nwhere; i++)
		if (!(w.tags_seen & 1ull << (MAX_TAGS + i)))
			cli_warn("--where %s=%s: no series has tag %s", a->wk[i], a->wv[i], a->wk[i]);
}

int cmd_metrics(cli *c)
{
	margs a = { 0 };
	int rc = parse_args(c, &a);
	if (rc) {
		free(a.wbuf);
		return rc < 0 ? EXIT_OK : rc;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(a.wbuf);
		return rc;
	}
	eg_metrics *m = NULL;
	int r = eg_metrics_open(st, &m);
	if (r) {
		rc = cli_fail(st, r);
		goto done;
	}
	if (a.prom) {
		promctx p = { stdout, { 0 } };
		p.last_name[0] = 1;     /* no name is "\1": the first row starts a family */
		p.last_name[1] = 0;
		r = eg_metrics_series_each(m, a.names, a.nnames, prom_row, &p);
		rc = r ? cli_fail(st, r) : fflush(stdout) ? EXIT_ERR : EXIT_OK;
		goto done;
	}
	out *o = out_new(stdout, c->format);
	if (a.list) {
		r = print_list(m, &a, o);
	} else if (a.tags) {
		r = print_tags(m, &a, o);
	} else {
		msink k = { o, &a, a.nnames != 1, INT64_MAX, INT64_MIN, 0 };
		eg_metrics_explain x;
		warn_unseen(m, &a);
		header(&k);
		if (a.follow) {
			r = follow(st, m, &a, &k);
		} else {
			r = eg_metrics_run(m, &a.q, print_row, &k, &x);
			if (!r && a.explain)
				explain(&a, &x);
		}
	}
	if (r)
		out_failed(o);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	rc = out_finish(o, rc);
done:
	eg_metrics_close(m);
	cli_close(st, rc);
	free(a.wbuf);
	return rc;
}

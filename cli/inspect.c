/*
 * inspect.c — the commands that describe a store rather than its events:
 * verify, stats, streams, types, reindex; and gen, the generator of
 * realistic input.
 */
#include "cli.h"
#include "engram.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int no_options(cli *c)
{
	int rc = cli_parse(c, NULL, 0);
	return rc < 0 ? -1 : rc;
}

void cli_verify_row(out *o, const eg_verify_result *v)
{
	char hex[65];
	eg_hash_hex(v->hash, hex);
	out_row_begin(o);
	out_u64(o, "events", v->events);
	out_u64(o, "head_pos", v->head_pos);
	out_cstr(o, "hash", hex);
	out_row_end(o);
}

int cmd_verify(cli *c)
{
	int rc = no_options(c);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st;
	int r = eg_store_open(&st, c->dir, EG_OPEN_READ, &(eg_open_opts){ c->segment_bytes, c->seal, 0 });
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	eg_verify_result v;
	r = eg_store_verify(st, &v);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	out *o = out_new(stdout, c->format);
	cli_verify_row(o, &v);
	eg_store_close(st);
	return out_finish(o, EXIT_OK);
}

void cli_stats_row(out *o, const eg_stats *s)
{
	out_row_begin(o);
	out_u64(o, "events", s->events);
	out_u64(o, "bytes", s->total_bytes);
	out_u64(o, "log_bytes", s->log_bytes);
	out_u64(o, "index_bytes", s->index_bytes);
	if (s->events)
		out_f64(o, "bytes_per_event", (double)s->log_bytes / (double)s->events);
	else
		out_null(o, "bytes_per_event");
	out_u64(o, "segments", s->segments);
	out_u64(o, "streams", s->streams);
	out_u64(o, "types", s->types);
	if (s->events) {
		out_time(o, "time_min", s->time_min);
		out_time(o, "time_max", s->time_max);
		out_time(o, "recorded_min", s->recorded_min);
		out_time(o, "recorded_max", s->recorded_max);
	} else {
		out_null(o, "time_min");
		out_null(o, "time_max");
		out_null(o, "recorded_min");
		out_null(o, "recorded_max");
	}
	out_u64(o, "projection_bytes", s->projection_bytes);
	out_u64(o, "window_bytes", s->window_bytes);
	out_u64(o, "session_bytes", s->session_bytes);
	out_u64(o, "feature_bytes", s->feature_bytes);
	out_u64(o, "column_bytes", s->column_bytes);
	out_u64(o, "metric_bytes", s->metric_bytes);
	out_u64(o, "tree_bytes", s->tree_bytes);
	out_u64(o, "error_bytes", s->error_bytes);
	out_u64(o, "consumer_bytes", s->consumer_bytes);
	out_u64(o, "dataset_bytes", s->dataset_bytes);
	out_u64(o, "derived_bytes", s->derived_bytes);
	out_u64(o, "uncommitted_bytes", s->uncommitted_bytes);
	out_row_end(o);
}

int cmd_stats(cli *c)
{
	int rc = no_options(c);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	eg_stats s;
	int r = eg_store_stats(st, &s);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	out *o = out_new(stdout, c->format);
	cli_stats_row(o, &s);
	eg_store_close(st);
	if (s.uncommitted_bytes)
		cli_warn("the log holds %llu bytes after its last commit (an append that was "
			 "interrupted or is still running); they are not in log_bytes, and the "
			 "next append or reindex cuts them off",
			 (unsigned long long)s.uncommitted_bytes);
	return out_finish(o, EXIT_OK);
}

typedef struct keys_ctx {
	out *o;
	int streams;
} keys_ctx;

static int print_key(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	keys_ctx *k = ctx;
	out_row_begin(k->o);
	out_str(k->o, k->streams ? "stream" : "type", name, len);
	out_u64(k->o, "events", count);
	if (k->streams)
		out_u64(k->o, "version", version);
	out_row_end(k->o);
	return 0;
}

int cli_keys_rows(eg_store *st, int space, out *o)
{
	keys_ctx k = { o, space == EG_KEYS_STREAMS };
	return eg_store_keys(st, space, print_key, &k);
}

static int list_keys(cli *c, int space)
{
	int rc = no_options(c);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	out *o = out_new(stdout, c->format);
	int r = cli_keys_rows(st, space, o);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	eg_store_close(st);
	return out_finish(o, rc);
}

int cmd_streams(cli *c)
{
	return list_keys(c, EG_KEYS_STREAMS);
}

int cmd_types(cli *c)
{
	return list_keys(c, EG_KEYS_TYPES);
}

int cmd_reindex(cli *c)
{
	int rc = no_options(c);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_write(c, 0, &rc);
	if (!st)
		return rc;
	int r = eg_store_reindex(st);
	eg_stats s;
	if (r == EG_OK)
		r = eg_store_stats(st, &s);
	if (r == EG_OK)
		r = eg_store_flush(st);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_u64(o, "events", s.events);
	out_u64(o, "streams", s.streams);
	out_u64(o, "types", s.types);
	out_u64(o, "index_bytes", s.index_bytes);
	out_row_end(o);
	eg_store_close(st);
	return out_finish(o, EXIT_OK);
}

/* A fraction in [0, 1]; -1 for anything else, NaN included. */
static int parse_fraction(const char *s, double *res)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= 0 && v <= 1))
		return -1;
	*res = v;
	return 0;
}

/* gen's own --format: how gen clickstream writes events. */
static int parse_gen_format(const char *s, int *res)
{
	static const char *const names[] = { "engram", "segment", "snowplow" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*res = i; /* enum eg_gen_format */
			return 0;
		}
	return -1;
}

/* The kinds of gen, in the order of their names in cmd_gen. */
enum { GEN_BANK, GEN_ORDERS, GEN_CLICKSTREAM, GEN_LABELS, GEN_ERRORS };

/* A positive duration option into *us; 0, or the usage exit. */
static int gen_duration(cli *c, const char *name, const char *v, int64_t *us)
{
	if (eg_duration_parse(v, strlen(v), us) || *us <= 0)
		return cli_usage_error(c, "--%s: expected a duration, %s; got '%s'", name,
				       EG_DURATION_FORMS, v);
	return 0;
}

/* gen labels' own options: --from orders, --every, --horizon, --sample. */
static int gen_labels_opts(cli *c, const char *from, const char *every, const char *horizon,
			   const char *sample, eg_gen_labels_opts *l, char *column, size_t n)
{
	int rc;
	if (!from || strcmp(from, "orders"))
		return cli_usage_error(c, "gen labels needs --from orders (labels are made for "
				       "gen orders' events)");
	if (!every)
		return cli_usage_error(c, "gen labels needs --every: how often a cutoff comes, "
				       "such as 7d");
	if ((rc = gen_duration(c, "every", every, &l->every_us)))
		return rc;
	if (horizon && (rc = gen_duration(c, "horizon", horizon, &l->horizon_us)))
		return rc;
	if (l->every_us > EG_GEN_MAX_SPAN_US || l->horizon_us > EG_GEN_MAX_SPAN_US)
		return cli_usage_error(c, "--%s: expected at most 365250d (1000 years)",
				       l->every_us > EG_GEN_MAX_SPAN_US ? "every" : "horizon");
	if (sample && (parse_fraction(sample, &l->sample) || l->sample == 0))
		return cli_usage_error(c, "--sample: expected a fraction above 0, at most 1, got '%s'",
				       sample);
	snprintf(column, n, "reordered_%s", horizon ? horizon : "30d");
	l->column = column;
	return 0;
}

/* gen metrics, with options of its own (docs/METRICS.md). */
static int gen_metrics(cli *c)
{
	const char *series = NULL, *days = NULL, *step = NULL, *late = NULL, *seed = NULL,
		   *start = NULL;
	opt opts[] = {
		{ "series", 1, &series, NULL }, { "days", 1, &days, NULL },
		{ "step", 1, &step, NULL }, { "late", 1, &late, NULL },
		{ "seed", 1, &seed, NULL }, { "start", 1, &start, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_gen_metrics_opts g = { .series = 100, .days = 1, .late = 1, .seed = 1 };
	uint64_t v;
	if (series && (cli_u64(series, &g.series) || g.series == 0 || g.series > EG_GEN_MAX_SERIES))
		return cli_usage_error(c, "--series: expected a number from 1 to %d, got '%s'",
				       EG_GEN_MAX_SERIES, series);
	if (days && (cli_u64(days, &v) || v == 0 || v > EG_GEN_MAX_DAYS))
		return cli_usage_error(c, "--days: expected a number of days from 1 to %d, got '%s'",
				       EG_GEN_MAX_DAYS, days);
	if (days)
		g.days = (uint32_t)v;
	if (step && (rc = gen_duration(c, "step", step, &g.step_us)))
		return rc;
	if (g.step_us > (int64_t)g.days * 86400 * 1000000)
		return cli_usage_error(c, "--step: expected at most --days (%u d), got '%s'",
				       g.days, step);
	if (late) {
		char *end;
		errno = 0;
		g.late = strtod(late, &end);
		if (end == late || *end || errno || !(g.late >= 0 && g.late <= 100))
			return cli_usage_error(c, "--late: expected a percent from 0 to 100, got '%s'",
					       late);
	}
	if (seed && cli_u64(seed, &g.seed))
		return cli_usage_error(c, "--seed: expected a number, got '%s'", seed);
	if (start && (rc = cli_time(c, "start", start, &g.start_us)))
		return rc;
	static char obuf[1 << 20];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	if (eg_gen_metrics(stdout, &g) || fflush(stdout)) {
		cli_error("cannot write the generated samples");
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* The kind gen is asked for, before its options are parsed (every option
 * of gen takes a value). */
static const char *gen_kind(const cli *c)
{
	for (int i = 0; i < c->argc; i++) {
		const char *a = c->argv[i];
		if (a[0] != '-')
			return a;
		if (a[1] == '-' && !strchr(a, '=') && strcmp(a, "--help"))
			i++;
	}
	return NULL;
}

int cmd_gen(cli *c)
{
	const char *kind0 = gen_kind(c);
	if (kind0 && !strcmp(kind0, "metrics"))
		return gen_metrics(c);
	const char *events = NULL, *accounts = NULL, *late = NULL, *seed = NULL,
		   *start = NULL, *users = NULL, *dup = NULL, *days = NULL, *format = NULL,
		   *loads = NULL, *customers = NULL, *from = NULL, *every = NULL,
		   *horizon = NULL, *sample = NULL;
	opt opts[] = {
		{ "loads", 1, &loads, NULL }, { "customers", 1, &customers, NULL },
		{ "from", 1, &from, NULL }, { "every", 1, &every, NULL },
		{ "horizon", 1, &horizon, NULL }, { "sample", 1, &sample, NULL },
		{ "events", 1, &events, NULL }, { "accounts", 1, &accounts, NULL },
		{ "late", 1, &late, NULL }, { "seed", 1, &seed, NULL },
		{ "start", 1, &start, NULL }, { "users", 1, &users, NULL },
		{ "dup", 1, &dup, NULL }, { "days", 1, &days, NULL },
		{ "format", 1, &format, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	static const char *const kinds[] = { "bank", "orders", "clickstream", "labels", "errors" };
	int kind = -1;
	for (int i = 0; i < 5 && c->npos == 1; i++)
		if (!strcmp(c->pos[0], kinds[i]))
			kind = i;
	if (kind < 0)
		return cli_usage_error(c, "gen needs a kind of data: expected bank, orders, clickstream, "
				       "labels, errors or metrics");
	const char *kname = kinds[kind];
	eg_gen_opts g = { 0 };
	if (!events || cli_u64(events, &g.events))
		return cli_usage_error(c, "--events: expected a number of events");
	if (accounts && kind != GEN_BANK)
		return cli_usage_error(c, "--accounts applies to gen bank only");
	if (accounts && (cli_u64(accounts, &g.accounts) || g.accounts == 0))
		return cli_usage_error(c, "--accounts: expected a positive number, got '%s'", accounts);
	/* gen labels takes gen orders' options, so that the same ones give
	 * the labels of the same events (--late and --loads change none) */
	int orders = kind == GEN_ORDERS || kind == GEN_LABELS;
	if ((loads || customers) && !orders)
		return cli_usage_error(c, "%s applies to gen orders (and gen labels) only",
				       loads ? "--loads" : "--customers");
	if (loads && (rc = gen_duration(c, "loads", loads, &g.loads_us)))
		return rc;
	if (customers && (cli_u64(customers, &g.customers) || g.customers == 0 ||
			  g.customers > EG_GEN_MAX_CUSTOMERS))
		return cli_usage_error(c, "--customers: expected a number from 1 to %d, got '%s'",
				       EG_GEN_MAX_CUSTOMERS, customers);
	const char *lonly = from ? "--from" : every ? "--every" : horizon ? "--horizon"
			  : sample ? "--sample" : NULL;
	if (lonly && kind != GEN_LABELS)
		return cli_usage_error(c, "%s applies to gen labels only, not gen %s", lonly, kname);
	eg_gen_labels_opts lo = { 0 };
	char column[128];
	if (kind == GEN_LABELS &&
	    (rc = gen_labels_opts(c, from, every, horizon, sample, &lo, column, sizeof column)))
		return rc;
	if (late && (kind == GEN_BANK || kind == GEN_ERRORS))
		return cli_usage_error(c, "--late applies to gen orders and gen clickstream only");
	if (late && parse_fraction(late, &g.late))
		return cli_usage_error(c, "--late: expected a fraction from 0 to 1, got '%s'", late);
	if (seed && cli_u64(seed, &g.seed))
		return cli_usage_error(c, "--seed: expected a number, got '%s'", seed);
	if (start && (rc = cli_time(c, "start", start, &g.start_us)))
		return rc;
	/* Before gen clickstream, --format after gen was the global output
	 * format, which gen ignored: ndjson still means that for every kind. */
	if (format && !strcmp(format, "ndjson"))
		format = NULL;
	if (format && (!strcmp(format, "csv") || !strcmp(format, "table")))
		return cli_usage_error(c, "--format %s: gen writes events as NDJSON, not rows; gen "
				       "clickstream's --format is engram, segment or snowplow", format);
	/* gen errors spreads its events over --days too */
	const char *only = users ? "--users" : dup ? "--dup" : days && kind != GEN_ERRORS ? "--days"
			 : format ? "--format" : NULL;
	if (only && kind != GEN_CLICKSTREAM)
		return cli_usage_error(c, "%s applies to gen clickstream only, not gen %s", only, kname);
	uint64_t ndays = 0;
	if (users && (cli_u64(users, &g.users) || g.users == 0 || g.users > EG_GEN_MAX_USERS))
		return cli_usage_error(c, "--users: expected a number from 1 to %d, got '%s'",
				       EG_GEN_MAX_USERS, users);
	if (dup && parse_fraction(dup, &g.dup))
		return cli_usage_error(c, "--dup: expected a fraction from 0 to 1, got '%s'", dup);
	if (days && (cli_u64(days, &ndays) || ndays == 0 || ndays > EG_GEN_MAX_DAYS))
		return cli_usage_error(c, "--days: expected a number of days from 1 to %d, got '%s'",
				       EG_GEN_MAX_DAYS, days);
	g.days = (uint32_t)ndays;
	if (format && parse_gen_format(format, &g.format))
		return cli_usage_error(c, "--format: expected engram, segment or snowplow, got '%s'", format);
	static char buf[1 << 20];
	setvbuf(stdout, buf, _IOFBF, sizeof buf);
	int r = kind == GEN_BANK ? eg_gen_bank(stdout, &g)
		: kind == GEN_ORDERS ? eg_gen_orders(stdout, &g)
		: kind == GEN_LABELS ? eg_gen_labels(stdout, &g, &lo)
		: kind == GEN_ERRORS ? eg_gen_errors(stdout, &g) : eg_gen_clickstream(stdout, &g);
	if (r || fflush(stdout)) {
		cli_error("cannot write the generated events");
		return EXIT_ERR;
	}
	return EXIT_OK;
}

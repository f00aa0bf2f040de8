/*
 * funnel.c — engram funnel: how many streams get through each step of a
 * sequence of event types within a time limit, the conversion from step
 * to step and the median time it took (docs/FUNNELS.md).
 */
#include "cli.h"
#include "timefmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct fargs {
	const char *steps, *within, *since, *until, *by;
	int explain, no_upcast;
	eg_funnel_opts o;
} fargs;

static int parse_args(cli *c, fargs *a)
{
	opt opts[] = {
		{ "steps", 1, &a->steps, NULL }, { "within", 1, &a->within, NULL },
		{ "since", 1, &a->since, NULL }, { "until", 1, &a->until, NULL },
		{ "by", 1, &a->by, NULL }, { "explain", 0, NULL, &a->explain },
		{ "no-upcast", 0, NULL, &a->no_upcast }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc;
	if (!a->steps)
		return cli_usage_error(c, "--steps is required, in the form %s",
				       EG_FUNNEL_STEPS_FORM);
	if (!a->within)
		return cli_usage_error(c, "--within is required: a duration such as 30m, 1h or 7d");
	if (eg_duration_parse(a->within, strlen(a->within), &a->o.within))
		return cli_usage_error(c, "--within: expected a duration: %s; got '%s'",
				       EG_DURATION_FORMS, a->within);
	if (a->since && (rc = cli_time(c, "since", a->since, &a->o.since)))
		return rc;
	if (a->until && (rc = cli_time(c, "until", a->until, &a->o.until)))
		return rc;
	a->o.has_since = !!a->since;
	a->o.has_until = !!a->until;
	a->o.by = a->by;
	a->o.no_upcast = a->no_upcast;
	return 0;
}

/* Seconds as a JSON number with at most six decimals (microseconds, or
 * half of one for the median of an even count: that is rounded). */
/* A median in seconds (NaN: none), to the microsecond: a mean of two
 * middle values may end in half a microsecond, rounded as printf does. */
static void out_median(out *o, const char *key, double s)
{
	if (isnan(s)) {
		out_null(o, key);
		return;
	}
	char t[64];
	int n = snprintf(t, sizeof t, "%.6f", s);
	while (n > 1 && t[n - 1] == '0')
		n--;
	if (t[n - 1] == '.')
		n--;
	out_json(o, key, t, (size_t)n);
}

int cli_funnel_row(void *ctx, const eg_funnel_row *r)
{
	out *o = ctx;
	out_row_begin(o);
	if (r->by_path)
		out_json(o, r->by_path, r->by, r->by_len);
	out_u64(o, "step", (uint64_t)r->step);
	out_cstr(o, "name", r->name);
	out_u64(o, "users", r->users);
	if (isnan(r->conversion))
		out_null(o, "conversion");
	else
		out_f64(o, "conversion", r->conversion);
	out_median(o, "median_time", r->median_time);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

static void explain(const eg_funnel *f)
{
	eg_funnel_explain x;
	eg_funnel_get_explain(f, &x);
	fprintf(stderr, "{\"explain\":\"plan\",\"through_pos\":%llu,\"read\":%llu,"
		"\"events\":%llu,\"matches\":%llu,\"streams\":%llu,\"entered\":%llu,"
		"\"values\":%llu,\"rows\":%llu",
		(unsigned long long)x.through, (unsigned long long)x.read,
		(unsigned long long)x.events, (unsigned long long)x.matches,
		(unsigned long long)x.streams, (unsigned long long)x.entered,
		(unsigned long long)x.values, (unsigned long long)x.rows);
	/* on the log path every event read came from the log */
	cli_explain_path(stderr, x.path, x.path_why, x.from_columns,
			 x.path && !strcmp(x.path, "log") ? x.read : x.from_log);
	fprintf(stderr, "}\n");
}

int cmd_funnel(cli *c)
{
	fargs a = { 0 };
	int rc = parse_args(c, &a);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_funnel *f;
	char err[512];
	int r = eg_funnel_new(a.steps, &a.o, &f, err, sizeof err);
	if (r == EG_EINVAL && !strncmp(err, "by: ", 4))
		return cli_usage_error(c, "--by: %s", err + 4);
	if (r == EG_EINVAL)
		return cli_usage_error(c, "--steps: %s; expected %s, e.g. "
				       "page_view,add_to_cart,purchase or "
				       "page_view:https://shop.example.com/,purchase",
				       err, EG_FUNNEL_STEPS_FORM);
	if (r) {
		cli_error("%s", err);
		return EXIT_ERR;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		eg_funnel_free(f);
		return rc;
	}
	const char *types[EG_FUNNEL_MAX_STEPS];
	size_t nt = 0;
	while (nt < EG_FUNNEL_MAX_STEPS && (types[nt] = eg_funnel_step_type(f, nt)))
		nt++;
	cli_warn_types(st, "--steps", types, nt);
	out *o = out_new(stdout, c->format);
	r = eg_funnel_run(st, f, cli_funnel_row, o);
	if (!r && a.explain)
		explain(f);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	rc = out_finish(o, rc);
	eg_store_close(st);
	eg_funnel_free(f);
	return rc;
}

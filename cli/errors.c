/*
 * errors.c — `engram errors`: error events grouped by fingerprint, one row
 * per group (or a count series per group with --every), `engram errors
 * show FINGERPRINT` for one group's occurrences with their stacks, and
 * --regroup to build another version's groups and make it current
 * (docs/ERRORS.md).  The groups are the library's checkpointed state.
 */
#include "cli.h"
#include "json.h"
#include "stack.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

/* Table mode's trend: one bar per hour, scaled to the row's busiest. */
static void sparkline(const uint32_t *v, int n, char *s)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	uint32_t max = 0;
	for (int i = 0; i < n; i++)
		max = v[i] > max ? v[i] : max;
	s[0] = 0;
	for (int i = 0; i < n; i++) {
		int lvl = !max || !v[i] ? 0 : 1 + (int)((uint64_t)(v[i] - 1) * 7 / max);
		strcat(s, bars[lvl > 7 ? 7 : lvl]);
	}
}

typedef struct gctx {
	out *o;
	int format;
} gctx;

static int group_row(void *ctx, const eg_error_group *g)
{
	gctx *x = ctx;
	out *o = x->o;
	out_row_begin(o);
	out_cstr(o, "fingerprint", g->fingerprint);
	out_cstr(o, "title", g->title);
	out_u64(o, "count", g->count);
	out_time(o, "first_seen", g->first_seen);
	out_time(o, "last_seen", g->last_seen);
	out_u64(o, "users", g->users);
	out_u64(o, "sessions", g->sessions);
	out_cstr(o, "first_release", g->first_release[0] ? g->first_release : NULL);
	out_bool(o, "regressed", g->regressed);
	char t[EG_ERRORS_TREND * 12 + 4];
	if (x->format == FMT_TABLE) {
		sparkline(g->trend, EG_ERRORS_TREND, t);
		out_cstr(o, "trend", t);
	} else {
		size_t n = 0;
		t[n++] = '[';
		for (int i = 0; i < EG_ERRORS_TREND; i++)
			n += (size_t)snprintf(t + n, sizeof t - n, i ? ",%u" : "%u", g->trend[i]);
		t[n++] = ']';
		out_json(o, "trend", t, n);
	}
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

static int series_row(void *ctx, int64_t start, const char *fp, uint64_t count)
{
	out *o = ctx;
	out_row_begin(o);
	out_time(o, "time", start);
	out_cstr(o, "fingerprint", fp);
	out_u64(o, "count", count);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

/* A member of an event's data as JSON text, or NULL. */
static int data_member(const eg_event *ev, const char *name, json_span *v)
{
	json_span d = { ev->data, ev->data_len, JSON_OBJECT };
	return ev->data_len && ev->data[0] == '{' && eg_json_member(&d, name, strlen(name), v);
}

static int occurrence_row(void *ctx, const eg_error_occurrence *x)
{
	out *o = ctx;
	const eg_event *ev = x->ev;
	json_span v;
	out_row_begin(o);
	out_time(o, "time", ev->time);
	out_u64(o, "pos", ev->pos);
	out_str(o, "type", ev->type, ev->type_len);
	out_cstr(o, "service", x->service[0] ? x->service : NULL);
	out_cstr(o, "release", x->release[0] ? x->release : NULL);
	if (ev->actor_len)
		out_str(o, "actor", ev->actor, ev->actor_len);
	else
		out_null(o, "actor");
	if (ev->session_len)
		out_str(o, "session", ev->session, ev->session_len);
	else
		out_null(o, "session");
	if (data_member(ev, "message", &v))
		out_json(o, "message", v.p, v.n);
	else
		out_null(o, "message");
	/* the frames: as given, or parsed from a text stack */
	buf b = { 0 };
	if (data_member(ev, "stack", &v) && v.type == JSON_STRING) {
		size_t n;
		char *text = eg_json_string_dup(&v, &n);
		eg_stack st;
		if (text && !eg_stack_parse(text, n, &st)) {
			if (!eg_stack_json(&st, &b))
				out_json(o, "stack", b.p, b.n);
			else
				out_null(o, "stack");
			eg_stack_free(&st);
		} else {
			out_null(o, "stack");
		}
		free(text);
	} else if (data_member(ev, "stack", &v)) {
		out_json(o, "stack", v.p, v.n);
	} else {
		out_null(o, "stack");
	}
	free(b.p);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

static int regroup_row(void *ctx, const eg_regroup_row *r)
{
	out *o = ctx;
	out_row_begin(o);
	out_cstr(o, "from", r->from);
	out_cstr(o, "to", r->to);
	out_u64(o, "events", r->events);
	out_cstr(o, "title", r->title);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

static int version_arg(cli *c, const char *name, const char *v, int *res)
{
	uint64_t x;
	if (cli_u64(v, &x) || x < 1 || x > EG_ERRORS_LATEST)
		return cli_usage_error(c, "--%s: expected a grouping version from 1 to %d, got '%s'",
				       name, EG_ERRORS_LATEST, v);
	*res = (int)x;
	return 0;
}

static void explain(const eg_errors *e)
{
	eg_errors_explain x;
	eg_errors_get_explain(e, &x);
	fprintf(stderr, "{\"explain\":\"errors\",\"grouping\":%d,\"through\":%llu,"
		"\"checkpoint_pos\":%llu,\"events_read\":%llu,\"groups\":%llu,"
		"\"occurrences\":%llu,\"rebuilt\":%s}\n", x.version,
		(unsigned long long)x.through, (unsigned long long)x.resumed_from,
		(unsigned long long)x.events_read, (unsigned long long)x.groups,
		(unsigned long long)x.occurrences, x.rebuilt ? "true" : "false");
}

/* --regroup V: V's groups built, how the current ones became them, V made
 * current. */
static int regroup(cli *c, eg_store *st, int to)
{
	int from, r;
	eg_errors *a = NULL, *b = NULL;
	if ((r = eg_errors_grouping(st, &from)) || (r = eg_errors_open(st, from, &a)) ||
	    (r = eg_errors_open(st, to, &b))) {
		eg_errors_close(a);
		return cli_fail(st, r);
	}
	/* events appended between the two opens: the old groups catch up */
	eg_errors_explain xa, xb;
	eg_errors_get_explain(a, &xa);
	eg_errors_get_explain(b, &xb);
	if (xa.through < xb.through) {
		eg_errors_close(a);
		a = NULL;
		if ((r = eg_errors_open(st, from, &a))) {
			eg_errors_close(b);
			return cli_fail(st, r);
		}
	}
	out *o = out_new(stdout, c->format);
	static const char *const keys[] = { "from", "to", "events", "title" };
	out_header(o, keys, 4);
	uint64_t merged = 0, split = 0;
	r = eg_errors_compare(a, b, regroup_row, o, &merged, &split);
	int rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
	if (!rc && (r = eg_errors_set_grouping(st, to)))
		rc = cli_fail(st, r);
	if (!rc) {
		eg_errors_get_explain(a, &xa);
		eg_errors_get_explain(b, &xb);
		fprintf(stderr, "engram: errors: grouping v%d -> v%d: %llu groups became %llu; "
			"%llu old groups merged into others, %llu split; v%d is now current "
			"(v%d's groups are kept: --grouping %d)\n", from, to,
			(unsigned long long)xa.groups, (unsigned long long)xb.groups,
			(unsigned long long)merged, (unsigned long long)split, to, from, from);
	}
	eg_errors_close(a);
	eg_errors_close(b);
	return rc;
}

static int show(cli *c, eg_store *st, int version, const char *prefix, uint64_t limit, int expl)
{
	eg_errors *e;
	const char *fp;
	int r = eg_errors_open(st, version, &e);
	if (r)
		return cli_fail(st, r);
	if (expl)
		explain(e);
	if ((r = eg_errors_find(e, prefix, &fp))) {
		eg_errors_close(e);
		/* an ambiguous or malformed prefix is the caller's to fix */
		if (r == EG_ECONFLICT || r == EG_EINVAL) {
			cli_error("%s", eg_errmsg(st));
			return EXIT_USAGE;
		}
		return cli_fail(st, r);
	}
	out *o = out_new(stdout, c->format);
	static const char *const keys[] = { "time", "pos", "type", "service", "release", "actor",
					    "session", "message", "stack" };
	out_header(o, keys, 9);
	r = eg_errors_occurrences(e, fp, limit, occurrence_row, o);
	int rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
	eg_errors_close(e);
	return rc;
}

int cmd_errors(cli *c)
{
	const char *since = NULL, *until = NULL, *service = NULL, *release = NULL, *quiet = NULL,
		   *every = NULL, *grouping = NULL, *regroup_v = NULL, *limit = NULL;
	int expl = 0;
	opt opts[] = {
		{ "since", 1, &since, NULL }, { "until", 1, &until, NULL },
		{ "service", 1, &service, NULL }, { "release", 1, &release, NULL },
		{ "quiet", 1, &quiet, NULL }, { "every", 1, &every, NULL },
		{ "grouping", 1, &grouping, NULL }, { "regroup", 1, &regroup_v, NULL },
		{ "limit", 1, &limit, NULL }, { "explain", 0, NULL, &expl },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	int is_show = c->npos >= 1 && !strcmp(c->pos[0], "show");
	if (c->npos && !is_show)
		return cli_usage_error(c, "unknown subcommand '%s': expected show FINGERPRINT",
				       c->pos[0]);
	if (is_show && c->npos != 2)
		return cli_usage_error(c, "errors show needs a FINGERPRINT (6 or more of its hex digits)");
	if (limit && !is_show)
		return cli_usage_error(c, "--limit applies to errors show only");
	eg_errors_query q = { 0 };
	if (since && (rc = cli_time(c, "since", since, &q.since)))
		return rc;
	if (until && (rc = cli_time(c, "until", until, &q.until)))
		return rc;
	q.has_since = since != NULL;
	q.has_until = until != NULL;
	q.service = service;
	q.release = release;
	if (quiet && (eg_duration_parse(quiet, strlen(quiet), &q.quiet_us) || q.quiet_us <= 0))
		return cli_usage_error(c, "--quiet: expected a duration: %s; got '%s'",
				       EG_DURATION_FORMS, quiet);
	if (every && (eg_duration_parse(every, strlen(every), &q.every_us) || q.every_us <= 0))
		return cli_usage_error(c, "--every: expected a duration: %s; got '%s'",
				       EG_DURATION_FORMS, every);
	int version = 0, to = 0;
	if (grouping && (rc = version_arg(c, "grouping", grouping, &version)))
		return rc;
	if (regroup_v && (rc = version_arg(c, "regroup", regroup_v, &to)))
		return rc;
	if (regroup_v && (grouping || is_show || every))
		return cli_usage_error(c, "--regroup goes alone (it prints how the groups changed)");
	uint64_t lim = 20;
	if (limit && (cli_u64(limit, &lim) || !lim))
		return cli_usage_error(c, "--limit: expected a positive number, got '%s'", limit);
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	if (regroup_v) {
		rc = regroup(c, st, to);
	} else if (is_show) {
		rc = show(c, st, version, c->pos[1], lim, expl);
	} else {
		eg_errors *e;
		int r = eg_errors_open(st, version, &e);
		if (r) {
			rc = cli_fail(st, r);
		} else {
			if (expl)
				explain(e);
			out *o = out_new(stdout, c->format);
			if (every) {
				static const char *const keys[] = { "time", "fingerprint", "count" };
				out_header(o, keys, 3);
				r = eg_errors_series(e, &q, series_row, o);
			} else {
				static const char *const keys[] = { "fingerprint", "title", "count",
					"first_seen", "last_seen", "users", "sessions", "first_release",
					"regressed", "trend" };
				out_header(o, keys, 10);
				gctx x = { o, c->format };
				r = eg_errors_groups(e, &q, group_row, &x);
			}
			rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
			eg_errors_close(e);
		}
	}
	cli_close(st, rc);
	return rc;
}

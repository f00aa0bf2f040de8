/*
 * windows.c — engram windows: figures by event time, with watermarks,
 * allowed lateness, corrections and too-late events (docs/WINDOWS.md).
 */
#include "cli.h"
#include "json.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

typedef struct wargs {
	const char *spec_path, *reported;
	int changelog, late, include_open, explain;
	int64_t reported_at;
	eg_win_spec *spec;
} wargs;

static int parse_args(cli *c, wargs *a)
{
	opt opts[] = {
		{ "changelog", 0, NULL, &a->changelog }, { "late", 0, NULL, &a->late },
		{ "include-open", 0, NULL, &a->include_open },
		{ "as-reported-at", 1, &a->reported, NULL }, { "explain", 0, NULL, &a->explain },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? -1 : rc;
	if (c->npos != 1)
		return cli_usage_error(c, "expected the windows spec file");
	if (a->changelog + a->late > 1)
		return cli_usage_error(c, "--changelog and --late print different rows; pick one");
	a->spec_path = c->pos[0];
	if (a->reported && (rc = cli_time(c, "as-reported-at", a->reported, &a->reported_at)))
		return rc;
	size_t n = 0;
	char *json = cli_spec_text(a->spec_path, &n);
	if (!json)
		return EXIT_USAGE;
	char err[512];
	int r = eg_win_spec_parse(json, n, &a->spec, err, sizeof err);
	free(json);
	return cli_spec_result(a->spec_path, r, err);
}

/* The window's identity columns: start, end, one per group path. */
static void row_head(out *o, const eg_win_row *r)
{
	out_time(o, "window_start", r->start);
	out_time(o, "window_end", r->end);
	for (size_t i = 0; i < r->ngroups; i++)
		out_json(o, r->group_names[i], r->groups[i], r->group_lens[i]);
}

/* A table row's columns: the window, the aggregates, revision, final and
 * too_late. */
static void row_body(out *o, const eg_win_row *r)
{
	row_head(o, r);
	for (size_t i = 0; i < r->naggs; i++)
		out_json(o, r->agg_names[i], r->values[i], r->lens[i]);
	out_u64(o, "revision", r->revision);
	out_bool(o, "final", r->final);
	out_u64(o, "too_late", r->too_late);
}

static int print_row(void *ctx, const eg_win_row *r)
{
	out *o = ctx;
	out_row_begin(o);
	row_body(o, r);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

/* A changelog row: the revision, then "previous" holding the values it
 * replaced (null for a first result), the event that made it, and whether
 * it retracts the window (a session merged into an earlier one). */
static int print_rev(void *ctx, const eg_win_row *r)
{
	out *o = ctx;
	out_row_begin(o);
	row_body(o, r);
	if (r->prev_values) {
		size_t n = 2;
		for (size_t i = 0; i < r->naggs; i++)
			n += strlen(r->agg_names[i]) * 6 + 4 + r->prev_lens[i];
		char *p = malloc(n), *q = p;
		if (!p)
			return EG_ENOMEM;
		*q++ = '{';
		for (size_t i = 0; i < r->naggs; i++) {
			if (i)
				*q++ = ',';
			q += json_quote(r->agg_names[i], strlen(r->agg_names[i]), q);
			*q++ = ':';
			memcpy(q, r->prev_values[i], r->prev_lens[i]);
			q += r->prev_lens[i];
		}
		*q++ = '}';
		out_json(o, "previous", p, (size_t)(q - p));
		free(p);
	} else {
		out_null(o, "previous");
	}
	out_u64(o, "pos", r->pos);
	out_bool(o, "retracted", r->retracted);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

/* --late: the event, then the window it missed, figures unchanged. */
static int print_late(void *ctx, const eg_event *e, const eg_win_row *r)
{
	out *o = ctx;
	out_row_begin(o);
	out_u64(o, "pos", e->pos);
	out_str(o, "id", e->id, e->id_len);
	out_str(o, "stream", e->stream, e->stream_len);
	out_str(o, "type", e->type, e->type_len);
	out_time(o, "time", e->time);
	out_time(o, "recorded", e->recorded);
	row_head(o, r);
	out_u64(o, "revision", r->revision);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

static void explain(const eg_win *w)
{
	eg_win_explain x;
	eg_win_get_explain(w, &x);
	char mt[EG_TIME_LEN + 1] = "null", wm[EG_TIME_LEN + 1] = "null";
	if (x.max_time != INT64_MIN)
		eg_time_format(x.max_time, mt);
	if (x.watermark != INT64_MIN)
		eg_time_format(x.watermark, wm);
	int q = x.max_time != INT64_MIN;
	fprintf(stderr, "{\"explain\":\"plan\",\"through_pos\":%llu,\"events\":%llu,"
		"\"too_late\":%llu,\"revisions\":%llu,\"corrections\":%llu,\"heartbeats\":%llu,"
		"\"windows\":%llu,"
		"\"open_windows\":%llu,\"max_time\":%s%s%s,\"watermark\":%s%s%s}\n",
		(unsigned long long)x.through, (unsigned long long)x.events,
		(unsigned long long)x.too_late, (unsigned long long)x.revisions,
		(unsigned long long)x.corrections, (unsigned long long)x.heartbeats,
		(unsigned long long)x.windows,
		(unsigned long long)x.open_windows, q ? "\"" : "", mt, q ? "\"" : "",
		q ? "\"" : "", wm, q ? "\"" : "");
	for (size_t i = 0; i < x.naggs; i++)
		fprintf(stderr, "{\"explain\":\"agg\",\"agg\":\"%s\",\"used\":%llu,"
			"\"skipped_missing\":%llu,\"skipped_not_number\":%llu}\n",
			x.aggs[i].name, (unsigned long long)x.aggs[i].used,
			(unsigned long long)x.aggs[i].missing,
			(unsigned long long)x.aggs[i].not_number);
}

/* Position of the last event recorded at or before k (0: none). */
static int reported_pos(eg_store *st, int64_t k, uint64_t *pos)
{
	eg_filter f = { .by = EG_BY_RECORDED, .has_until = 1, .until = k, .reverse = 1,
			.limit = 1 };
	eg_iter *it;
	const eg_event *e;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	*pos = 0;
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK)
		*pos = e->pos;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int cmd_windows(cli *c)
{
	wargs a = { 0 };
	int rc = parse_args(c, &a);
	if (rc) {
		eg_win_spec_free(a.spec);
		return rc < 0 ? EXIT_OK : rc;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		eg_win_spec_free(a.spec);
		return rc;
	}
	eg_win *w = NULL;
	out *o = out_new(stdout, c->format);
	uint64_t to = 0;
	int r = a.reported ? reported_pos(st, a.reported_at, &to) : EG_OK;
	if (!r)
		r = eg_win_open(st, a.spec, &w);
	if (!r && (!a.reported || to))
		r = eg_win_run(w, to, a.changelog ? print_rev : NULL, a.late ? print_late : NULL, o);
	if (!r && !a.changelog && !a.late)
		r = eg_win_table(w, a.include_open, print_row, o);
	if (!r && a.explain)
		explain(w);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	if (out_free(o) && rc == EXIT_OK) {
		cli_error("cannot write output");
		rc = EXIT_ERR;
	}
	eg_win_close(w);
	eg_store_close(st);
	eg_win_spec_free(a.spec);
	return rc;
}

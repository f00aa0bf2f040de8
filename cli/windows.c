/*
 * windows.c — engram windows: figures by event time, with watermarks,
 * allowed lateness, corrections and too-late events (docs/WINDOWS.md).
 */
#include "cli.h"
#include "json.h"
#include "timefmt.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

typedef struct wargs {
	const char *spec_path, *reported, *diff1, *diff2;
	int changelog, late, include_open, explain, follow;
	int64_t reported_at, k1, k2;
	eg_win_spec *spec;
} wargs;

static int parse_args(cli *c, wargs *a)
{
	opt opts[] = {
		{ "changelog", 0, NULL, &a->changelog }, { "late", 0, NULL, &a->late },
		{ "include-open", 0, NULL, &a->include_open },
		{ "as-reported-at", 1, &a->reported, NULL }, { "explain", 0, NULL, &a->explain },
		{ "follow", 0, NULL, &a->follow }, { "explain-diff", 1, &a->diff1, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? -1 : rc;
	if (a->diff1) {
		/* --explain-diff K1 K2: K2 comes as a positional argument */
		int64_t t;
		if (c->npos == 2 && !eg_time_parse(c->pos[0], strlen(c->pos[0]), &t)) {
			const char *x = c->pos[0];
			c->pos[0] = c->pos[1], c->pos[1] = x;
		}
		if (c->npos != 2)
			return cli_usage_error(c, "expected SPEC --explain-diff K1 K2");
		a->diff2 = c->pos[1];
		c->npos = 1;
		if ((rc = cli_time(c, "explain-diff", a->diff1, &a->k1)) ||
		    (rc = cli_time(c, "explain-diff", a->diff2, &a->k2)))
			return rc;
		if (a->k1 > a->k2)
			return cli_usage_error(c, "--explain-diff K1 K2: K1 must not be after K2");
	}
	if (c->npos != 1)
		return cli_usage_error(c, "expected the windows spec file");
	if (a->changelog + a->late + !!a->diff1 > 1)
		return cli_usage_error(c, "--changelog, --late and --explain-diff print different "
				       "rows; pick one");
	if (a->follow && (a->reported || a->diff1))
		return cli_usage_error(c, "--follow shows the run as it goes; it cannot be combined "
				       "with --as-reported-at or --explain-diff");
	if (a->include_open && (a->reported || a->changelog || a->late || a->diff1))
		return cli_usage_error(c, "--include-open adds the windows open now to the table; "
				       "it goes with neither --as-reported-at, --changelog, --late "
				       "nor --explain-diff");
	a->spec_path = c->pos[0];
	if (a->reported && (rc = cli_time(c, "as-reported-at", a->reported, &a->reported_at)))
		return rc;
	size_t n = 0;
	char *json = cli_spec_text(a->spec_path, &n, &rc);
	if (!json)
		return rc;
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

/* The rows of the table or the changelog, and which group_by paths had a
 * value (not null) in some row: a path that never has one is a mistake
 * (warn_paths). */
typedef struct rowsink {
	out *o;
	uint64_t rows;
	unsigned has_value;          /* bit i: group i was not null somewhere */
	size_t ngroups;
	const char *const *group_names;   /* the spec's paths: live as long as it */
} rowsink;

static void note_groups(rowsink *k, const eg_win_row *r)
{
	k->rows++;
	k->ngroups = r->ngroups;
	k->group_names = r->group_names;
	for (size_t i = 0; i < r->ngroups; i++)
		if (!(r->group_lens[i] == 4 && !memcmp(r->groups[i], "null", 4)))
			k->has_value |= 1u << i;
}

static int print_row(void *ctx, const eg_win_row *r)
{
	rowsink *k = ctx;
	out *o = k->o;
	note_groups(k, r);
	out_row_begin(o);
	row_body(o, r);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

/* The JSON object {"name": value, ...} of the aggregates' values, into
 * out; NULL if out of memory (free it). */
static char *values_object(const eg_win_row *r, const char *const *vals, const size_t *lens,
			   size_t *len)
{
	size_t n = 2;
	for (size_t i = 0; i < r->naggs; i++)
		n += strlen(r->agg_names[i]) * 6 + 4 + lens[i];
	char *p = malloc(n), *q = p;
	if (!p)
		return NULL;
	*q++ = '{';
	for (size_t i = 0; i < r->naggs; i++) {
		if (i)
			*q++ = ',';
		q += eg_json_quote(r->agg_names[i], strlen(r->agg_names[i]), q);
		*q++ = ':';
		memcpy(q, vals[i], lens[i]);
		q += lens[i];
	}
	*q++ = '}';
	*len = (size_t)(q - p);
	return p;
}

/* A column holding the aggregates' values as one object (null: none). */
static int out_values(out *o, const char *key, const eg_win_row *r, const char *const *vals,
		      const size_t *lens)
{
	if (!vals) {
		out_null(o, key);
		return EG_OK;
	}
	size_t n;
	char *p = values_object(r, vals, lens, &n);
	if (!p)
		return EG_ENOMEM;
	out_json(o, key, p, n);
	free(p);
	return EG_OK;
}

/* A changelog row: the revision, then "previous" holding the values it
 * replaced (null for a first result), the event that made it, and whether
 * it retracts the window (a session merged into an earlier one). */
static int print_rev(void *ctx, const eg_win_row *r)
{
	rowsink *k = ctx;
	out *o = k->o;
	note_groups(k, r);
	out_row_begin(o);
	row_body(o, r);
	if (out_values(o, "previous", r, r->prev_values, r->prev_lens))
		return EG_ENOMEM;
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
	fprintf(stderr, "{\"explain\":\"plan\",\"resumed_from\":%llu,\"through_pos\":%llu,"
		"\"events\":%llu,"
		"\"too_late\":%llu,\"revisions\":%llu,\"corrections\":%llu,\"heartbeats\":%llu,"
		"\"windows\":%llu,"
		"\"open_windows\":%llu,\"max_time\":%s%s%s,\"watermark\":%s%s%s",
		(unsigned long long)x.resumed_from, (unsigned long long)x.through,
		(unsigned long long)x.events,
		(unsigned long long)x.too_late, (unsigned long long)x.revisions,
		(unsigned long long)x.corrections, (unsigned long long)x.heartbeats,
		(unsigned long long)x.windows,
		(unsigned long long)x.open_windows, q ? "\"" : "", mt, q ? "\"" : "",
		q ? "\"" : "", wm, q ? "\"" : "");
	cli_explain_path(stderr, x.path, x.log_reason, x.from_columns, x.from_log);
	fputs("}\n", stderr);
	for (size_t i = 0; i < x.naggs; i++)
		fprintf(stderr, "{\"explain\":\"agg\",\"agg\":\"%s\",\"used\":%llu,"
			"\"skipped_missing\":%llu,\"skipped_not_number\":%llu}\n",
			x.aggs[i].name, (unsigned long long)x.aggs[i].used,
			(unsigned long long)x.aggs[i].missing,
			(unsigned long long)x.aggs[i].not_number);
}

/* explain-diff: the events that changed a row, and one line saying why. */
typedef struct diffout {
	out *o;
	eg_store *st;
	const char *k1, *k2;
	buf ev;
	buf why;
} diffout;

static int bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bprintf(buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n + 1))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
	return 0;
}

/* The events at the positions, as a JSON array of {pos, id, type, time,
 * recorded}, into d->ev; how many were late (event time before the
 * window's end) in *late. */
static int diff_events(diffout *d, const eg_win_diff_row *r, uint64_t *late)
{
	d->ev.n = 0;
	*late = 0;
	if (bprintf(&d->ev, "["))
		return EG_ENOMEM;
	for (size_t i = 0; i < r->nevents; i++) {
		eg_filter f = { .from = r->events[i], .to = r->events[i], .limit = 1 };
		eg_iter *it;
		const eg_event *e;
		int rc = eg_iter_new(d->st, &it, &f);
		if (!rc && (rc = eg_iter_next(it, &e)) == EG_OK) {
			char t[EG_TIME_LEN + 1], k[EG_TIME_LEN + 1];
			eg_time_format(e->time, t);
			eg_time_format(e->recorded, k);
			size_t at = d->ev.n;
			rc = bprintf(&d->ev, "%s{\"pos\":%llu,\"id\":", i ? "," : "",
				     (unsigned long long)e->pos) ||
			     buf_reserve(&d->ev, 6 * e->id_len + 2) ? EG_ENOMEM : EG_OK;
			if (!rc) {
				d->ev.n += eg_json_quote(e->id, e->id_len, d->ev.p + d->ev.n);
				rc = bprintf(&d->ev, ",\"time\":\"%s\",\"recorded\":\"%s\"}", t, k) ?
				     EG_ENOMEM : EG_OK;
			}
			(void)at;
			*late += e->time < r->row->end;
		}
		eg_iter_free(it);
		if (rc)
			return rc == EG_END ? EG_ECORRUPT : rc;
	}
	return bprintf(&d->ev, "]") ? EG_ENOMEM : EG_OK;
}

/* One line: what changed and why. */
static int diff_why(diffout *d, const eg_win_diff_row *r, uint64_t late)
{
	const eg_win_row *w = r->row;
	uint64_t too_late = w->too_late - r->before_too_late;
	d->why.n = 0;
	int rc = 0;
	if (r->change == EG_WIN_NEW && w->revision) {
		rc = bprintf(&d->why, "first result, made between %s and %s%s", d->k1, d->k2,
			     late ? " with events that came late" : "");
	} else if (r->change == EG_WIN_GONE) {
		rc = bprintf(&d->why, "merged into an earlier session by a late event");
	} else if (r->change == EG_WIN_CHANGED) {
		/* name the figures that moved */
		int first = 1;
		for (size_t i = 0; i < w->naggs && !rc; i++) {
			if (w->lens[i] == r->before_lens[i] &&
			    !memcmp(w->values[i], r->before_values[i], w->lens[i]))
				continue;
			rc = bprintf(&d->why, "%s%s %.*s -> %.*s", first ? "" : ", ",
				     w->agg_names[i], (int)r->before_lens[i], r->before_values[i],
				     (int)w->lens[i], w->values[i]);
			first = 0;
		}
		uint64_t corr = r->nevents - too_late;
		if (!rc && !first)
			rc = bprintf(&d->why, ": %llu late event%s recorded after %s",
				     (unsigned long long)corr, corr == 1 ? "" : "s", d->k1);
	}
	if (!rc && too_late)
		rc = bprintf(&d->why, "%s%llu event%s too late to count (figures kept)",
			     d->why.n ? "; " : "", (unsigned long long)too_late,
			     too_late == 1 ? "" : "s");
	return rc ? EG_ENOMEM : EG_OK;
}

static int print_diff(void *ctx, const eg_win_diff_row *r)
{
	diffout *d = ctx;
	out *o = d->o;
	uint64_t late;
	int rc = diff_events(d, r, &late);
	if (!rc)
		rc = diff_why(d, r, late);
	if (rc)
		return rc;
	static const char *const change[] = { "", "new", "changed", "gone" };
	out_row_begin(o);
	row_head(o, r->row);
	out_cstr(o, "change", change[r->change]);
	for (size_t i = 0; i < r->row->naggs; i++)
		out_json(o, r->row->agg_names[i], r->row->values[i], r->row->lens[i]);
	out_u64(o, "revision", r->row->revision);
	out_u64(o, "too_late", r->row->too_late);
	if (out_values(o, "before", r->row, r->before_values, r->before_lens))
		return EG_ENOMEM;
	if (r->before_values)
		out_u64(o, "before_revision", r->before_revision);
	else
		out_null(o, "before_revision");
	if (r->before_values)
		out_u64(o, "before_too_late", r->before_too_late);
	else
		out_null(o, "before_too_late");
	out_str(o, "why", d->why.p, d->why.n);
	out_json(o, "events", d->ev.p, d->ev.n);
	out_row_end(o);
	return out_error(o) ? EG_EIO : 0;
}

/* Print what the run holds, as asked: the table (at position at), the
 * changelog or the too-late events (up to at) from *cursor. */
static int report(eg_win *w, const wargs *a, rowsink *k, uint64_t at, uint64_t *cursor)
{
	if (a->changelog)
		return eg_win_changes(w, cursor, at, print_rev, NULL, k);
	if (a->late)
		return eg_win_changes(w, cursor, at, NULL, print_late, k->o);
	*cursor = eg_win_cursor(w);
	return eg_win_table(w, at, a->include_open, print_row, k);
}

int cli_win_rows(eg_win *w, int changelog, int late, int include_open, uint64_t at, out *o)
{
	wargs a = { .changelog = changelog, .late = late, .include_open = include_open };
	rowsink k = { o, 0, 0, 0, NULL };
	uint64_t cursor = 0;
	return report(w, &a, &k, at, &cursor);
}

/* --follow: after the report, each new revision (or too-late event) as
 * the run takes the events appended, until interrupted. */
static int follow(eg_store *st, eg_win *w, const wargs *a, rowsink *k, uint64_t cursor)
{
	out *o = k->o;
	out_live(o);
	for (;;) {
		if (out_flush(o))
			return EG_EIO;
		/* Wait for what comes after the events the run took, not after
		 * the head: a batch appended since the run would be missed until
		 * the next one. */
		eg_win_explain x;
		eg_win_get_explain(w, &x);
		eg_iter *it;
		eg_filter f = { .from = x.through + 1 };
		int rc = eg_iter_new(st, &it, &f);
		if (rc)
			return rc;
		rc = eg_iter_wait(it, -1);
		eg_iter_free(it);
		if (rc == EG_END)
			return EG_OK;
		if (rc || (rc = eg_win_run(w, 0)))
			return rc;
		if (a->late)
			rc = eg_win_changes(w, &cursor, 0, NULL, print_late, o);
		else
			rc = eg_win_changes(w, &cursor, 0, print_rev, NULL, k);
		if (rc)
			return rc;
	}
}

/* The spec's types that the store has never seen. */
static void warn_types(eg_store *st, const wargs *a)
{
	const char *types[64];
	size_t n = 0;
	while (n < 64 && (types[n] = eg_win_spec_type(a->spec, n)))
		n++;
	cli_warn_types(st, a->spec_path, types, n);
}

/* Aggregates whose path no event taken had (or never as a number), and
 * group_by paths null in every row of the table or changelog: the counts
 * cover the whole run, so they hold whether it resumed from a checkpoint
 * or not. */
static void warn_paths(const eg_win *w, const wargs *a, const rowsink *k)
{
	eg_win_explain x;
	eg_win_get_explain(w, &x);
	for (size_t i = 0; i < x.naggs; i++) {
		const eg_win_agg_stats *s = &x.aggs[i];
		cli_warn_unused_path(a->spec_path, "aggregate", s->name, "taken", s->path, s->used,
				     s->missing, s->not_number);
	}
	/* The rows of a whole table or changelog only: an earlier report
	 * or the too-late events may lack a value that later events have. */
	if (a->late || a->reported || a->diff1 || !k->rows)
		return;
	for (size_t i = 0; i < k->ngroups; i++)
		if (!(k->has_value & 1u << i))
			cli_warn("%s: group_by %s: no event taken has a value there, so it is "
				 "null in all %llu rows", a->spec_path, k->group_names[i],
				 (unsigned long long)k->rows);
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
	warn_types(st, &a);
	eg_win *w = NULL;
	out *o = out_new(stdout, c->format);
	uint64_t at = 0, p1 = 0, p2 = 0, cursor = 0;
	rowsink sink = { o, 0, 0, 0, NULL };
	int r = eg_win_open(st, a.spec, 0, &w);
	if (!r)
		r = eg_win_run(w, 0);
	if (!r && a.reported && !(r = eg_known_pos(st, a.reported_at, &at)))
		at = at ? at : UINT64_MAX;   /* nothing recorded by then: an empty report */
	if (!r && a.diff1 && !(r = eg_known_pos(st, a.k1, &p1)))
		r = eg_known_pos(st, a.k2, &p2);
	if (!r && a.diff1) {
		diffout d = { o, st, a.diff1, a.diff2, { 0 }, { 0 } };
		if (p2)
			r = eg_win_diff(w, p1, p2, print_diff, &d);
		free(d.ev.p);
		free(d.why.p);
	} else if (!r && at != UINT64_MAX) {
		r = report(w, &a, &sink, at, &cursor);
	}
	if (!r)
		warn_paths(w, &a, &sink);
	if (!r && a.follow)
		r = follow(st, w, &a, &sink, cursor);
	if (!r && a.explain)
		explain(w);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	rc = out_finish(o, rc);
	eg_win_close(w);
	cli_close(st, rc);
	eg_win_spec_free(a.spec);
	return rc;
}

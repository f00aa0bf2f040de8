/*
 * sessions.c — `engram sessions`: sessions per stream by event time, one
 * row each, from the checkpointed state the library keeps
 * (docs/SESSIONS.md).
 */
#include "cli.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64

static int print_row(void *ctx, const eg_session_row *r)
{
	out *o = ctx;
	out_session(o, r);
	return out_error(o) ? EG_EIO : 0;
}

/* --explain: where the state came from, as ndjson on stderr. */
static void explain(const eg_sessions *s, uint64_t at)
{
	eg_sess_explain x;
	eg_sessions_get_explain(s, &x);
	fprintf(stderr, "{\"explain\":\"sessions\",\"through\":%llu,\"known_pos\":%llu,"
		"\"checkpoint_pos\":%llu,\"events_read\":%llu,\"checkpoints_saved\":%llu,"
		"\"events\":%llu,\"sessions\":%llu,\"streams\":%llu,\"merged_by_late_events\":%llu",
		(unsigned long long)x.through, (unsigned long long)at,
		(unsigned long long)x.resumed_from, (unsigned long long)x.taken,
		(unsigned long long)x.saved, (unsigned long long)x.events,
		(unsigned long long)x.sessions, (unsigned long long)x.streams,
		(unsigned long long)x.merges);
	cli_explain_path(stderr, x.path, x.log_reason, x.from_columns, x.from_log);
	fputs("}\n", stderr);
}

int cmd_sessions(cli *c)
{
	const char *gap = NULL, *types = NULL, *pages = NULL, *stream = NULL, *since = NULL,
		   *until = NULL, *known = NULL;
	int expl = 0, no_upcast = 0;
	opt opts[] = {
		{ "gap", 1, &gap, NULL }, { "type", OPT_LIST, &types, NULL },
		{ "page-types", OPT_LIST, &pages, NULL }, { "stream", 1, &stream, NULL },
		{ "since", 1, &since, NULL }, { "until", 1, &until, NULL },
		{ "known-at", 1, &known, NULL }, { "explain", 0, NULL, &expl },
		{ "no-upcast", 0, NULL, &no_upcast }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_sess_opts so = { .no_upcast = no_upcast };
	if (gap && (eg_duration_parse(gap, strlen(gap), &so.gap) || so.gap <= 0))
		return cli_usage_error(c, "--gap: expected a duration: %s; got '%s'",
				       EG_DURATION_FORMS, gap);
	eg_sess_query q = { .stream = stream };
	if (since && (rc = cli_time(c, "since", since, &q.since)))
		return rc;
	if (until && (rc = cli_time(c, "until", until, &q.until)))
		return rc;
	q.has_since = since != NULL;
	q.has_until = until != NULL;
	int64_t k = 0;
	if (known && (rc = cli_time(c, "known-at", known, &k)))
		return rc;
	const char *tv[MAX_TYPES], *pv[MAX_TYPES];
	char *tbuf = types ? strdup(types) : NULL, *pbuf = pages ? strdup(pages) : NULL;
	if ((types && !tbuf) || (pages && !pbuf)) {
		cli_error("out of memory");
		rc = EXIT_ERR;
		goto out;
	}
	if (types && !(so.ntypes = cli_split(tbuf, tv, MAX_TYPES))) {
		rc = cli_usage_error(c, "--type: expected event types separated by commas");
		goto out;
	}
	if (pages && !(so.npage_types = cli_split(pbuf, pv, MAX_TYPES))) {
		rc = cli_usage_error(c, "--page-types: expected event types separated by commas");
		goto out;
	}
	so.types = tv;
	so.page_types = pv;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		goto out;
	cli_warn_types(st, "--type", tv, so.ntypes);
	cli_warn_types(st, "--page-types", pv, so.npage_types);
	eg_sessions *s = NULL;
	int r = eg_sessions_open(st, &so, 0, &s);
	if (!r && known && (r = eg_known_pos(st, k, &q.at)) == EG_OK && !q.at) {
		rc = EXIT_OK;                   /* nothing was recorded by then */
		goto done;
	}
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		r = eg_sessions_scan(s, &q, print_row, o);
		rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
		if (!r && expl)
			explain(s, q.at);
	}
done:
	eg_sessions_close(s);
	cli_close(st, rc);
out:
	free(tbuf);
	free(pbuf);
	return rc;
}

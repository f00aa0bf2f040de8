/*
 * serve_query.c — inspection and queries over HTTP (docs/SERVER.md):
 * GET /streams, /types, /stats, POST /verify, and POST /project,
 * /history, /windows, /sessions, /funnel, /sql.  Each answers the rows
 * the command prints, as NDJSON, written by the command's own code
 * (cli_*_rows) into memory; each request opens the store for reading, as
 * a reader beside the server does.  A query's options come as a JSON
 * object, named as the command's options are (as_of for --as-of).
 */
#include "serve.h"
#include "json.h"
#include "timefmt.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- answers */

/* The rows of one answer, written into memory. */
typedef struct rowbuf {
	FILE *f;
	char *mem;
	size_t len;
	out *o;
} rowbuf;

static int rows_open(rowbuf *b)
{
	memset(b, 0, sizeof *b);
	if (!(b->f = open_memstream(&b->mem, &b->len)))
		return EG_ENOMEM;
	b->o = out_new(b->f, FMT_NDJSON);
	return EG_OK;
}

/* Drop what was written. */
static void rows_drop(rowbuf *b)
{
	if (b->o) {
		out_failed(b->o);
		out_free(b->o);
	}
	if (b->f)
		fclose(b->f);
	free(b->mem);
	memset(b, 0, sizeof *b);
}

/* Answer the rows (200, application/x-ndjson); 500 if they could not be
 * written. */
static enum MHD_Result rows_answer(struct MHD_Connection *c, rowbuf *b)
{
	int bad = out_free(b->o);
	b->o = NULL;
	bad |= fclose(b->f);
	b->f = NULL;
	if (bad) {
		rows_drop(b);
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	char *mem = b->mem;
	b->mem = NULL;
	return srv_queue(c, MHD_HTTP_OK, srv_buffer(mem, b->len), "application/x-ndjson");
}

/* A library failure: 400 for what the request asked wrongly (EG_EINVAL),
 * else 500, with the store's message when there is one. */
static enum MHD_Result lib_fail(struct MHD_Connection *c, eg_store *st, int rc)
{
	return srv_fail(c, rc == EG_EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
			srv_errmsg(st, rc));
}

static eg_store *open_store(srv *s, int *rc)
{
	eg_store *st = NULL;
	*rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	return st;
}

/* -------------------------------------------------------- inspection */

/* The rows fn writes of the store (opened for reading) as the answer;
 * arg is fn's. */
static enum MHD_Result store_rows(srv *s, struct MHD_Connection *c,
				  int (*fn)(eg_store *st, out *o, int arg), int arg)
{
	rowbuf b;
	int rc;
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = rows_open(&b);
	if (!rc && (rc = fn(st, b.o, arg)))
		rows_drop(&b);
	enum MHD_Result ok = rc ? lib_fail(c, st, rc) : rows_answer(c, &b);
	eg_store_close(st);
	return ok;
}

static int keys_rows(eg_store *st, out *o, int space)
{
	return cli_keys_rows(st, space, o);
}

static int stats_rows(eg_store *st, out *o, int arg)
{
	(void)arg;
	eg_stats v;
	int rc = eg_store_stats(st, &v);
	if (!rc)
		cli_stats_row(o, &v);
	return rc;
}

static int verify_rows(eg_store *st, out *o, int arg)
{
	(void)arg;
	eg_verify_result v;
	int rc = eg_store_verify(st, &v);
	if (!rc)
		cli_verify_row(o, &v);
	return rc;
}

static enum MHD_Result get_streams(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	return store_rows(s, c, keys_rows, EG_KEYS_STREAMS);
}

static enum MHD_Result get_types(srv *s, struct MHD_Connection *c, const char *url,
				 const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	return store_rows(s, c, keys_rows, EG_KEYS_TYPES);
}

static enum MHD_Result get_stats(srv *s, struct MHD_Connection *c, const char *url,
				 const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	return store_rows(s, c, stats_rows, 0);
}

/* POST /verify: the whole chain, as engram verify checks it; a log that
 * does not match is 500 with verify's message (naming where). */
static enum MHD_Result post_verify(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	return store_rows(s, c, verify_rows, 0);
}

/* ------------------------------------------------------------ options */

enum { Q_STR = 1, Q_BOOL, Q_SPEC };

/* A member the body may have: its name and kind; after q_parse, its value
 * (str: decoded text, malloc'd; spec: the JSON text of an inline spec or
 * the file's; on: a boolean). */
typedef struct qopt {
	const char *name;
	int kind;
	char *str;
	size_t len;
	int on;
	const char *label;                /* a spec's name in messages */
	json_span v;                      /* a spec's value, read after the walk */
} qopt;

#define Q(name, kind) { name, kind, NULL, 0, 0, NULL, { NULL, 0, 0 } }
#define Q_END Q(NULL, 0)

static void q_free(qopt *q)
{
	for (; q->name; q++)
		free(q->str);
}

static qopt *q_find(qopt *q, const char *name)
{
	for (; q->name; q++)
		if (!strcmp(q->name, name))
			return q;
	return NULL;
}

/* The value of a string (or spec) member, or NULL when not given. */
static const char *q_str(qopt *q, const char *name)
{
	return q_find(q, name)->str;
}

static const char INLINE[] = "spec";

/* A spec: an object is the spec's JSON; a string names a spec file on
 * the server, read as the commands read one, and its messages name it. */
static int q_spec(qopt *q, const json_span *v, char *err, size_t cap)
{
	if (v->type == JSON_OBJECT) {
		q->label = INLINE;
		q->len = v->n;
		return (q->str = strndup(v->p, v->n)) ? EG_OK : EG_ENOMEM;
	}
	char *path = eg_json_string_dup(v, NULL);
	if (!path)
		return EG_ENOMEM;
	if (!(q->str = cli_slurp(path, &q->len))) {
		int e = errno;
		snprintf(err, cap, "%s: cannot read the spec: %s", path, strerror(e));
		free(path);
		return e == ENOMEM ? EG_ENOMEM : EG_EINVAL;
	}
	q->label = path;                  /* freed by q_done */
	return EG_OK;
}

/* Parse the body: a JSON object whose members are among q; EG_EINVAL with
 * err saying what is wrong. */
static int q_parse(const conn *k, qopt *q, char *err, size_t cap)
{
	json_obj it;
	json_err je;
	json_span key, v;
	const char *body = k->body ? k->body : "";
	if (eg_json_obj_begin(&it, body, k->len, &je)) {
		snprintf(err, cap, "the body: expected a JSON object of options, as {\"%s\": ...}",
			 q->name);
		return EG_EINVAL;
	}
	int r;
	while ((r = eg_json_obj_next(&it, &key, &v, &je)) == 1) {
		char name[64];
		size_t n = key.n - 2 < sizeof name - 1 ? key.n - 2 : sizeof name - 1;
		memcpy(name, key.p + 1, n);
		name[n] = 0;
		qopt *o = q_find(q, name);
		if (!o) {
			size_t len = (size_t)snprintf(err, cap, "unknown option \"%s\": expected", name);
			for (qopt *p = q; p->name && len < cap; p++)
				len += (size_t)snprintf(err + len, cap - len, "%s %s", p == q ? "" : ",",
							p->name);
			return EG_EINVAL;
		}
		if (v.type == JSON_NULL)
			continue;                 /* as not given */
		int want = o->kind == Q_BOOL ? v.type == JSON_TRUE || v.type == JSON_FALSE
			   : o->kind == Q_SPEC ? v.type == JSON_STRING || v.type == JSON_OBJECT
			   : v.type == JSON_STRING;
		if (!want) {
			snprintf(err, cap, "%s: expected %s", name,
				 o->kind == Q_BOOL ? "true or false"
				 : o->kind == Q_SPEC ? "the spec (a JSON object) or the path of a "
						       "spec file on the server" : "a string");
			return EG_EINVAL;
		}
		free(o->str);
		o->str = NULL;
		if (o->kind == Q_BOOL)
			o->on = v.type == JSON_TRUE;
		else if (o->kind == Q_SPEC)
			o->v = v;
		else if (!(o->str = eg_json_string_dup(&v, &o->len)))
			return EG_ENOMEM;
	}
	if (r < 0) {
		snprintf(err, cap, "the body: %s at byte %zu", je.what, je.off);
		return EG_EINVAL;
	}
	/* a spec file is read once the whole body is known good */
	for (; q->name; q++)
		if (q->kind == Q_SPEC && q->v.p && (r = q_spec(q, &q->v, err, cap)))
			return r;
	return EG_OK;
}

/* A time option (as the commands take times): 0, or EG_EINVAL. */
static int q_time(qopt *q, const char *name, int64_t *v, int *has, char *err, size_t cap)
{
	const char *s = q_str(q, name);
	if (!s)
		return EG_OK;
	if (eg_time_parse(s, strlen(s), v)) {
		snprintf(err, cap, "%s: expected %s, got '%s'", name, EG_TIME_FORMS, s);
		return EG_EINVAL;
	}
	if (has)
		*has = 1;
	return EG_OK;
}

/* The spec's label: its path, or "spec" for one given inline. */
static const char *q_label(qopt *q)
{
	qopt *o = q_find(q, "spec");
	return o->label ? o->label : INLINE;
}

static void q_done(qopt *q)
{
	qopt *o = q_find(q, "spec");
	if (o && o->label != INLINE)
		free((char *)o->label);
	q_free(q);
}

/* Answer a failure before any row: 400 for EG_EINVAL (err), else 500. */
static enum MHD_Result q_fail(struct MHD_Connection *c, int rc, const char *err)
{
	if (rc == EG_EINVAL)
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, *err ? err : eg_strerror(rc));
}

/* ------------------------------------------------ projections, history */

static enum MHD_Result proj_query(srv *s, struct MHD_Connection *c, conn *k, int history)
{
	qopt q[] = { Q("spec", Q_SPEC), Q("key", Q_STR), Q("as_of", Q_STR),
		     Q("known_at", Q_STR), Q_END };
	char err[768] = "";
	eg_proj_at at = { EG_TIME_NONE, EG_TIME_NONE };
	eg_proj_spec *spec = NULL;
	int rc = q_parse(k, q, err, sizeof err);
	if (!rc && !q_str(q, "spec")) {
		snprintf(err, sizeof err, "spec: expected the projection spec (a JSON object) or "
			 "the path of a spec file on the server");
		rc = EG_EINVAL;
	}
	if (!rc && history && !q_str(q, "key")) {
		snprintf(err, sizeof err, "key: expected the key whose history to return");
		rc = EG_EINVAL;
	}
	if (!rc)
		rc = q_time(q, "as_of", &at.as_of, NULL, err, sizeof err);
	if (!rc)
		rc = q_time(q, "known_at", &at.known_at, NULL, err, sizeof err);
	if (!rc) {
		char perr[512];
		qopt *o = q_find(q, "spec");
		if ((rc = eg_proj_spec_parse(o->str, o->len, &spec, perr, sizeof perr)))
			snprintf(err, sizeof err, "%s: %s", q_label(q),
				 rc == EG_EINVAL ? perr : eg_strerror(rc));
	}
	if (rc) {
		q_done(q);
		return q_fail(c, rc, err);
	}
	rowbuf b = { 0 };
	eg_proj *p = NULL;
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = eg_proj_open(st, spec, NULL, NULL, &p);
	if (!rc)
		rc = rows_open(&b);
	if (!rc && (rc = cli_proj_rows(p, q_str(q, "key"), &at, history, b.o)))
		rows_drop(&b);
	enum MHD_Result ok = rc ? lib_fail(c, st, rc) : rows_answer(c, &b);
	eg_proj_close(p);
	eg_store_close(st);
	eg_proj_spec_free(spec);
	q_done(q);
	return ok;
}

static enum MHD_Result post_project(srv *s, struct MHD_Connection *c, const char *url,
				    const char *method, conn *k)
{
	(void)url, (void)method;
	return proj_query(s, c, k, 0);
}

static enum MHD_Result post_history(srv *s, struct MHD_Connection *c, const char *url,
				    const char *method, conn *k)
{
	(void)url, (void)method;
	return proj_query(s, c, k, 1);
}

/* ------------------------------------------------------------ windows */

static enum MHD_Result post_windows(srv *s, struct MHD_Connection *c, const char *url,
				    const char *method, conn *k)
{
	(void)url, (void)method;
	qopt q[] = { Q("spec", Q_SPEC), Q("as_reported_at", Q_STR), Q("changelog", Q_BOOL),
		     Q("late", Q_BOOL), Q("include_open", Q_BOOL), Q_END };
	char err[768] = "";
	int64_t reported = 0;
	int has_reported = 0;
	eg_win_spec *spec = NULL;
	int rc = q_parse(k, q, err, sizeof err);
	int changelog = q_find(q, "changelog")->on, late = q_find(q, "late")->on,
	    include_open = q_find(q, "include_open")->on;
	if (!rc && !q_str(q, "spec")) {
		snprintf(err, sizeof err, "spec: expected the windows spec (a JSON object) or the "
			 "path of a spec file on the server");
		rc = EG_EINVAL;
	}
	if (!rc && changelog && late) {
		snprintf(err, sizeof err, "changelog and late return different rows; pick one");
		rc = EG_EINVAL;
	}
	if (!rc)
		rc = q_time(q, "as_reported_at", &reported, &has_reported, err, sizeof err);
	if (!rc && include_open && (has_reported || changelog || late)) {
		snprintf(err, sizeof err, "include_open adds the windows open now to the table; it "
			 "goes with neither as_reported_at, changelog nor late");
		rc = EG_EINVAL;
	}
	if (!rc) {
		char perr[512];
		qopt *o = q_find(q, "spec");
		if ((rc = eg_win_spec_parse(o->str, o->len, &spec, perr, sizeof perr)))
			snprintf(err, sizeof err, "%s: %s", q_label(q),
				 rc == EG_EINVAL ? perr : eg_strerror(rc));
	}
	if (rc) {
		q_done(q);
		return q_fail(c, rc, err);
	}
	rowbuf b = { 0 };
	eg_win *w = NULL;
	uint64_t at = 0;
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = eg_win_open(st, spec, 0, &w);
	if (!rc)
		rc = eg_win_run(w, 0);
	/* nothing recorded by then: an empty report, as the command's */
	if (!rc && has_reported && !(rc = eg_known_pos(st, reported, &at)))
		at = at ? at : UINT64_MAX;
	if (!rc)
		rc = rows_open(&b);
	if (!rc && at != UINT64_MAX && (rc = cli_win_rows(w, changelog, late, include_open, at,
							   b.o)))
		rows_drop(&b);
	enum MHD_Result ok = rc ? lib_fail(c, st, rc) : rows_answer(c, &b);
	eg_win_close(w);
	eg_store_close(st);
	eg_win_spec_free(spec);
	q_done(q);
	return ok;
}

/* ----------------------------------------------------------- sessions */

#define MAX_TYPES 64

static int session_row(void *ctx, const eg_session_row *r)
{
	out *o = ctx;
	out_session(o, r);
	return out_error(o) ? EG_EIO : 0;
}

/* A comma list option into v (max items), its copy in *buf. */
static int q_list(qopt *q, const char *name, const char **v, size_t *n, char **buf, char *err,
		  size_t cap)
{
	const char *s = q_str(q, name);
	*n = 0;
	if (!s)
		return EG_OK;
	if (!(*buf = strdup(s)))
		return EG_ENOMEM;
	if (!(*n = cli_split(*buf, v, MAX_TYPES))) {
		snprintf(err, cap, "%s: expected event types separated by commas", name);
		return EG_EINVAL;
	}
	return EG_OK;
}

static enum MHD_Result post_sessions(srv *s, struct MHD_Connection *c, const char *url,
				     const char *method, conn *k)
{
	(void)url, (void)method;
	qopt q[] = { Q("gap", Q_STR), Q("type", Q_STR), Q("page_types", Q_STR),
		     Q("stream", Q_STR), Q("since", Q_STR), Q("until", Q_STR),
		     Q("known_at", Q_STR), Q("no_upcast", Q_BOOL), Q_END };
	char err[768] = "", *tbuf = NULL, *pbuf = NULL;
	const char *tv[MAX_TYPES], *pv[MAX_TYPES];
	eg_sess_opts so = { 0 };
	eg_sess_query sq = { 0 };
	int64_t known = 0;
	int has_known = 0;
	int rc = q_parse(k, q, err, sizeof err);
	const char *gap = q_str(q, "gap");
	if (!rc && gap && (eg_duration_parse(gap, strlen(gap), &so.gap) || so.gap <= 0)) {
		snprintf(err, sizeof err, "gap: expected a duration: %s; got '%s'",
			 EG_DURATION_FORMS, gap);
		rc = EG_EINVAL;
	}
	if (!rc)
		rc = q_time(q, "since", &sq.since, &sq.has_since, err, sizeof err);
	if (!rc)
		rc = q_time(q, "until", &sq.until, &sq.has_until, err, sizeof err);
	if (!rc)
		rc = q_time(q, "known_at", &known, &has_known, err, sizeof err);
	if (!rc)
		rc = q_list(q, "type", tv, &so.ntypes, &tbuf, err, sizeof err);
	if (!rc)
		rc = q_list(q, "page_types", pv, &so.npage_types, &pbuf, err, sizeof err);
	so.types = tv;
	so.page_types = pv;
	so.no_upcast = q_find(q, "no_upcast")->on;
	sq.stream = q_str(q, "stream");
	enum MHD_Result ok;
	if (rc) {
		ok = q_fail(c, rc, err);
		goto out;
	}
	rowbuf b = { 0 };
	eg_sessions *ss = NULL;
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = eg_sessions_open(st, &so, 0, &ss);
	if (!rc && has_known)
		rc = eg_known_pos(st, known, &sq.at);
	if (!rc)
		rc = rows_open(&b);
	/* nothing recorded by then: no sessions, as the command's */
	if (!rc && (!has_known || sq.at) && (rc = eg_sessions_scan(ss, &sq, session_row, b.o)))
		rows_drop(&b);
	ok = rc ? lib_fail(c, st, rc) : rows_answer(c, &b);
	eg_sessions_close(ss);
	eg_store_close(st);
out:
	free(tbuf);
	free(pbuf);
	q_done(q);
	return ok;
}

/* ------------------------------------------------------------- funnel */

static enum MHD_Result post_funnel(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	(void)url, (void)method;
	qopt q[] = { Q("steps", Q_STR), Q("within", Q_STR), Q("by", Q_STR),
		     Q("since", Q_STR), Q("until", Q_STR), Q("no_upcast", Q_BOOL),
		     Q_END };
	char err[768] = "";
	eg_funnel_opts fo = { 0 };
	eg_funnel *f = NULL;
	int rc = q_parse(k, q, err, sizeof err);
	const char *steps = q_str(q, "steps"), *within = q_str(q, "within");
	if (!rc && !steps) {
		snprintf(err, sizeof err, "steps is required, in the form %s", EG_FUNNEL_STEPS_FORM);
		rc = EG_EINVAL;
	}
	if (!rc && !within) {
		snprintf(err, sizeof err, "within is required: a duration such as 30m, 1h or 7d");
		rc = EG_EINVAL;
	}
	if (!rc && eg_duration_parse(within, strlen(within), &fo.within)) {
		snprintf(err, sizeof err, "within: expected a duration: %s; got '%s'",
			 EG_DURATION_FORMS, within);
		rc = EG_EINVAL;
	}
	if (!rc)
		rc = q_time(q, "since", &fo.since, &fo.has_since, err, sizeof err);
	if (!rc)
		rc = q_time(q, "until", &fo.until, &fo.has_until, err, sizeof err);
	fo.by = q_str(q, "by");
	fo.no_upcast = q_find(q, "no_upcast")->on;
	if (!rc) {
		char ferr[512];
		rc = eg_funnel_new(steps, &fo, &f, ferr, sizeof ferr);
		if (rc == EG_EINVAL && !strncmp(ferr, "by: ", 4))
			snprintf(err, sizeof err, "%s", ferr);
		else if (rc == EG_EINVAL)
			snprintf(err, sizeof err, "steps: %s; expected %s, e.g. "
				 "page_view,add_to_cart,purchase or "
				 "page_view:https://shop.example.com/,purchase",
				 ferr, EG_FUNNEL_STEPS_FORM);
		else if (rc)
			snprintf(err, sizeof err, "%s", ferr);
	}
	if (rc) {
		q_done(q);
		return q_fail(c, rc, err);
	}
	rowbuf b = { 0 };
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = rows_open(&b);
	if (!rc && (rc = eg_funnel_run(st, f, cli_funnel_row, b.o)))
		rows_drop(&b);
	enum MHD_Result ok = rc ? lib_fail(c, st, rc) : rows_answer(c, &b);
	eg_store_close(st);
	eg_funnel_free(f);
	q_done(q);
	return ok;
}

/* ---------------------------------------------------------------- sql */

/* POST /sql {"query": "..."}: engram sql's read-only connection; the rows
 * of the last statement.  A statement that fails is 400 with SQLite's
 * message (what it reads is never written: the tables are read-only). */
static enum MHD_Result post_sql(srv *s, struct MHD_Connection *c, const char *url,
				const char *method, conn *k)
{
	(void)url, (void)method;
	qopt q[] = { Q("query", Q_STR), Q_END };
	char err[768] = "";
	int rc = q_parse(k, q, err, sizeof err);
	if (!rc && !q_str(q, "query")) {
		snprintf(err, sizeof err, "query: expected the SQL to run");
		rc = EG_EINVAL;
	}
	if (rc) {
		q_done(q);
		return q_fail(c, rc, err);
	}
	rowbuf b = { 0 };
	struct sqlite3 *db = NULL;
	enum MHD_Result ok;
	eg_store *st = open_store(s, &rc);
	if (!rc)
		rc = eg_sql_open(st, &db);
	if (!rc)
		rc = rows_open(&b);
	if (rc) {
		ok = lib_fail(c, st, rc);
	} else {
		int r = cli_sql_script(db, q_str(q, "query"), b.f, FMT_NDJSON, 0);
		if (r == SQLITE_OK) {
			ok = rows_answer(c, &b);
		} else {
			rows_drop(&b);
			ok = srv_fail(c, r == -1 || r == SQLITE_NOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR
				      : MHD_HTTP_BAD_REQUEST, r == -1 ? "out of memory"
				      : sqlite3_errmsg(db));
		}
	}
	sqlite3_close(db);
	eg_store_close(st);
	q_done(q);
	return ok;
}

const srv_route SRV_QUERY_ROUTES[] = {
	{ "/streams", "GET HEAD", SCOPE_READ, get_streams, 1 },
	{ "/types", "GET HEAD", SCOPE_READ, get_types, 1 },
	{ "/stats", "GET HEAD", SCOPE_READ, get_stats, 1 },
	{ "/verify", "POST", SCOPE_ADMIN, post_verify, 1 },
	{ "/project", "POST", SCOPE_READ, post_project, 1 },
	{ "/history", "POST", SCOPE_READ, post_history, 1 },
	{ "/windows", "POST", SCOPE_READ, post_windows, 1 },
	{ "/sessions", "POST", SCOPE_READ, post_sessions, 1 },
	{ "/funnel", "POST", SCOPE_READ, post_funnel, 1 },
	{ "/sql", "POST", SCOPE_READ, post_sql, 1 },
	{ NULL, NULL, 0, NULL, 0 },
};

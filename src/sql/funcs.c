/*
 * funcs.c — the table-valued functions over the engines (docs/SQL.md):
 * one virtual table for all of them, whose arguments are HIDDEN columns
 * and whose rows a run collects from the engine before SQLite reads the
 * first; and the functions with fixed columns (streams, types, consumers,
 * sessions, funnel), each giving the columns of its command in its order.
 * spectab.c has the ones whose columns come from a spec.
 */
#include "funcs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "timefmt.h"

/* ------------------------------------------------------------------ rows */

void eg_fn_rows_free(eg_fn_rows *r)
{
	free(r->cells.p);
	free(r->starts);
	memset(r, 0, sizeof *r);
}

void eg_fn_row(eg_fn_rows *r)
{
	if (r->err)
		return;
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		size_t *s = realloc(r->starts, cap * sizeof *s);
		if (!s) {
			r->err = 1;
			return;
		}
		r->starts = s;
		r->cap = cap;
	}
	r->starts[r->nrows++] = r->cells.n;
}

/* Room for a cell of n bytes after its type byte; NULL if out of memory. */
static char *cell(eg_fn_rows *r, int type, size_t n)
{
	if (r->err || buf_reserve(&r->cells, 1 + n)) {
		r->err = 1;
		return NULL;
	}
	char *p = r->cells.p + r->cells.n;
	*p = (char)type;
	r->cells.n += 1 + n;
	return p + 1;
}

void eg_fn_int(eg_fn_rows *r, int64_t v)
{
	char *p = cell(r, SQLITE_INTEGER, 8);
	if (p)
		memcpy(p, &v, 8);
}

void eg_fn_real(eg_fn_rows *r, double v)
{
	char *p = cell(r, SQLITE_FLOAT, 8);
	if (p)
		memcpy(p, &v, 8);
}

void eg_fn_text(eg_fn_rows *r, const char *s, size_t n)
{
	char *p = cell(r, SQLITE_TEXT, 8 + n);
	if (!p)
		return;
	uint64_t len = n;
	memcpy(p, &len, 8);
	if (n)
		memcpy(p + 8, s, n);
}

void eg_fn_null(eg_fn_rows *r)
{
	cell(r, SQLITE_NULL, 0);
}

void eg_fn_time(eg_fn_rows *r, int64_t us)
{
	char t[EG_TIME_LEN + 1];
	eg_fn_text(r, t, eg_time_format(us, t));
}

/* A JSON string's text, unescaped straight into the cell. */
static void json_string(eg_fn_rows *r, const char *s, size_t n)
{
	json_span sp = { s, n, JSON_STRING };
	if (eg_json_string_is_plain(&sp)) {
		eg_fn_text(r, s + 1, n - 2);
		return;
	}
	char *p = cell(r, SQLITE_TEXT, 8 + n);
	if (!p)
		return;
	uint64_t len = eg_json_string_decode(&sp, p + 8);
	memcpy(p, &len, 8);
	r->cells.n -= n - (size_t)len;   /* the decoded text is never longer */
}

void eg_fn_number(eg_fn_rows *r, const char *s, size_t n)
{
	char tmp[64], *t = n < sizeof tmp ? tmp : malloc(n + 1);
	if (!t) {
		r->err = 1;
		return;
	}
	memcpy(t, s, n);
	t[n] = 0;
	char *end;
	errno = 0;
	long long v = strtoll(t, &end, 10);
	if (n && !*end && !errno) {
		eg_fn_int(r, v);
	} else {
		double d = strtod(t, &end);
		if (n && !*end)
			eg_fn_real(r, d);
		else
			eg_fn_text(r, s, n);   /* not a number after all: as written */
	}
	if (t != tmp)
		free(t);
}

void eg_fn_json(eg_fn_rows *r, const char *s, size_t n)
{
	switch (n ? s[0] : 'n') {
	case 'n':
		eg_fn_null(r);
		break;
	case 't':
	case 'f':
		eg_fn_int(r, s[0] == 't');
		break;
	case '"':
		json_string(r, s, n);
		break;
	case '{':
	case '[':
		eg_fn_text(r, s, n);
		break;
	default:
		eg_fn_number(r, s, n);
		break;
	}
}

/* A duration in microseconds as exact decimal seconds, as out_seconds
 * prints it: an INTEGER when whole.  (The double nearest the quotient is
 * the one its decimal text reads back as.) */
static void seconds(eg_fn_rows *r, int64_t us)
{
	if (us % 1000000 == 0)
		eg_fn_int(r, us / 1000000);
	else
		eg_fn_real(r, (double)us / 1e6);
}

/* A figure the command prints with printf's fmt (trailing zeros of a
 * fraction dropped, as the command does), NULL for NaN: the value a
 * reader of the command's output gets. */
static void printed(eg_fn_rows *r, const char *fmt, double v)
{
	if (isnan(v)) {
		eg_fn_null(r);
		return;
	}
	char t[64];
	int n = snprintf(t, sizeof t, fmt, v);
	if (strchr(t, '.') && !strpbrk(t, "eE")) {
		while (t[n - 1] == '0')
			n--;
		if (t[n - 1] == '.')
			n--;
	}
	eg_fn_number(r, t, (size_t)n);
}

/* ------------------------------------------------------------- arguments */

const char *eg_fn_arg_text(eg_fn_cursor *cur, int i, size_t *n)
{
	sqlite3_value *v = cur->args[i];
	const char *s = v ? (const char *)sqlite3_value_text(v) : NULL;
	if (n)
		*n = s ? (size_t)sqlite3_value_bytes(v) : 0;
	return s;
}

int eg_fn_err(eg_fn_cursor *cur, const char *fmt, ...)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	va_list ap;
	va_start(ap, fmt);
	char *m = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	eg_sql_vtab_err(&vt->base, "%s: %s", vt->def->name, m ? m : "out of memory");
	sqlite3_free(m);
	return SQLITE_ERROR;
}

int eg_fn_arg_time(eg_fn_cursor *cur, int i, int64_t *us)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	if (!cur->args[i])
		return 0;
	if (eg_sql_time_arg(&vt->base, vt->def->args[i].name, cur->args[i], us) == 0)
		return 0;
	char *m = vt->base.zErrMsg;
	vt->base.zErrMsg = NULL;
	eg_fn_err(cur, "%s", m);
	sqlite3_free(m);
	return -1;
}

int eg_fn_done(eg_fn_cursor *cur, int code)
{
	if (code == EG_ENOMEM || cur->rows.err)
		return SQLITE_NOMEM;
	if (code)
		return eg_sql_store_err(&eg_fn_vt(cur)->base, eg_fn_vt(cur)->c, code);
	return SQLITE_OK;
}

/* ----------------------------------------------------------- the table */

/* What a module is registered with: the store and the function. */
typedef struct fn_reg {
	eg_sql_conn *c;
	const eg_fn_def *def;
} fn_reg;

static void fn_free(eg_fn_vtab *vt)
{
	if (vt->spec)
		vt->def->spec->free(vt->spec);
	sqlite3_free(vt->spec_text);
	sqlite3_free(vt->label);
	sqlite3_free(vt->table);
	sqlite3_free(vt->base.zErrMsg);
	sqlite3_free(vt);
}

static void add_columns(sqlite3_str *s, const char *const *names, size_t n, const char *json,
			int *ncols)
{
	for (size_t i = 0; i < n; i++)
		sqlite3_str_appendf(s, "%s\"%w\"%s", (*ncols)++ ? ", " : "", names[i],
				    json && !strcmp(names[i], json) ? " JSON" : "");
}

static size_t count(const char *const *names)
{
	size_t n = 0;
	while (names && names[n])
		n++;
	return n;
}

/* Declare the columns: the function's head, the spec's, the tail, then
 * the arguments, hidden. */
static int declare(sqlite3 *db, eg_fn_vtab *vt, char **err)
{
	const eg_fn_def *d = vt->def;
	const char *mid[64];
	size_t nmid = d->spec ? d->spec->names(vt->spec, mid, 64) : 0;
	sqlite3_str *s = sqlite3_str_new(db);
	sqlite3_str_appendall(s, "CREATE TABLE x(");
	add_columns(s, d->head, count(d->head), d->json, &vt->ncols);
	add_columns(s, mid, nmid, NULL, &vt->ncols);
	add_columns(s, d->tail, count(d->tail), d->json, &vt->ncols);
	for (int i = 0; i < d->nargs; i++)
		sqlite3_str_appendf(s, ", \"%w\" HIDDEN", d->args[i].column);
	sqlite3_str_appendall(s, ")");
	char *sql = sqlite3_str_finish(s);
	if (!sql)
		return SQLITE_NOMEM;
	int rc = sqlite3_declare_vtab(db, sql);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		*err = sqlite3_mprintf("%s: %s", vt->label ? vt->label : d->name, sqlite3_errmsg(db));
	return rc;
}

static int fn_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err)
{
	const fn_reg *g = aux;
	eg_fn_vtab *vt = sqlite3_malloc(sizeof *vt);
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof *vt);
	vt->c = g->c;
	vt->def = g->def;
	vt->table = sqlite3_mprintf("%s", argv[2]);
	int rc = vt->table ? SQLITE_OK : SQLITE_NOMEM;
	if (rc == SQLITE_OK && g->def->spec)
		rc = eg_fn_spec_load(vt, argc, argv, err);
	if (rc == SQLITE_OK)
		rc = declare(db, vt, err);
	if (rc != SQLITE_OK) {
		fn_free(vt);
		return rc;
	}
	*out = &vt->base;
	return SQLITE_OK;
}

/* A spec-shaped module needs an xCreate distinct from its xConnect, so
 * that SQLite makes no eponymous table of it: its columns need a spec. */
static int fn_create(sqlite3 *db, void *aux, int argc, const char *const *argv,
		     sqlite3_vtab **out, char **err)
{
	return fn_connect(db, aux, argc, argv, out, err);
}

static int fn_disconnect(sqlite3_vtab *base)
{
	fn_free((eg_fn_vtab *)base);
	return SQLITE_OK;
}

/* The argument a constraint gives (-1: none): an equality on its hidden
 * column, or on the visible column standing for it. */
static int constraint_arg(const eg_fn_vtab *vt, const struct sqlite3_index_constraint *k,
			  int *hidden)
{
	if (k->op != SQLITE_INDEX_CONSTRAINT_EQ)
		return -1;
	*hidden = k->iColumn >= vt->ncols;
	if (*hidden)
		return k->iColumn - vt->ncols;
	for (int a = 0; a < vt->def->nargs; a++)
		if (vt->def->args[a].alias >= 0 && vt->def->args[a].alias == k->iColumn)
			return a;
	return -1;
}

/* The arguments become the filter's argv in their order; idxNum has bit a
 * for each argument given.  A required one missing is an error naming it,
 * unless it is there but unusable in this plan (SQLite tries another). */
static int fn_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
	eg_fn_vtab *vt = (eg_fn_vtab *)base;
	const eg_fn_def *d = vt->def;
	int use[EG_FN_MAX_ARGS], hid[EG_FN_MAX_ARGS] = { 0 };
	unsigned unusable = 0;
	for (int a = 0; a < EG_FN_MAX_ARGS; a++)
		use[a] = -1;
	for (int i = 0; i < info->nConstraint; i++) {
		int hidden;
		int a = constraint_arg(vt, &info->aConstraint[i], &hidden);
		if (a < 0 || a >= d->nargs)
			continue;
		if (!info->aConstraint[i].usable)
			unusable |= 1u << a;
		else if (use[a] < 0 || (hidden && !hid[a]))   /* the argument wins */
			use[a] = i, hid[a] = hidden;
	}
	int n = 0;
	info->idxNum = 0;
	for (int a = 0; a < d->nargs; a++) {
		if (use[a] >= 0) {
			info->aConstraintUsage[use[a]].argvIndex = ++n;
			info->aConstraintUsage[use[a]].omit = (unsigned char)hid[a];
			info->idxNum |= 1 << a;
		} else if (d->args[a].required) {
			if (unusable & 1u << a)
				return SQLITE_CONSTRAINT;
			eg_sql_vtab_err(base, "%s: the %s is required", d->sig, d->args[a].name);
			return SQLITE_ERROR;
		}
	}
	/* Each argument narrows the answer: prefer plans that give them. */
	info->estimatedCost = 1e6 / (1 + n);
	info->estimatedRows = 100000 / (1 + n);
	return SQLITE_OK;
}

static int fn_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
	eg_fn_vtab *vt = (eg_fn_vtab *)base;
	eg_fn_cursor *cur = sqlite3_malloc(sizeof *cur);
	if (!cur)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof *cur);
	cur->at = sqlite3_malloc64(sizeof *cur->at * (size_t)(vt->ncols + 1));
	if (!cur->at) {
		sqlite3_free(cur);
		return SQLITE_NOMEM;
	}
	eg_sql_cursor_open(vt->c);
	*out = &cur->base;
	return SQLITE_OK;
}

static void cursor_reset(eg_fn_cursor *cur)
{
	eg_fn_rows_free(&cur->rows);
	for (int a = 0; a < EG_FN_MAX_ARGS; a++) {
		sqlite3_value_free(cur->args[a]);
		cur->args[a] = NULL;
	}
	cur->row = 0;
}

static int fn_close(sqlite3_vtab_cursor *base)
{
	eg_fn_cursor *cur = (eg_fn_cursor *)base;
	eg_sql_cursor_close(eg_fn_vt(cur)->c);
	cursor_reset(cur);
	sqlite3_free(cur->at);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* Where each cell of the current row is (SIZE_MAX: missing). */
static void locate(eg_fn_cursor *cur)
{
	const eg_fn_rows *r = &cur->rows;
	if (cur->row >= r->nrows)
		return;
	size_t off = r->starts[cur->row];
	size_t end = cur->row + 1 < r->nrows ? r->starts[cur->row + 1] : r->cells.n;
	for (int i = 0; i < eg_fn_vt(cur)->ncols; i++) {
		if (off >= end) {
			cur->at[i] = SIZE_MAX;
			continue;
		}
		cur->at[i] = off;
		int type = r->cells.p[off++];
		if (type == SQLITE_TEXT) {
			uint64_t len;
			memcpy(&len, r->cells.p + off, 8);
			off += 8 + (size_t)len;
		} else if (type != SQLITE_NULL) {
			off += 8;
		}
	}
}

/* The arguments of this scan, in their order; NULL is "not given". */
static int take_args(eg_fn_cursor *cur, int idx, int argc, sqlite3_value **argv)
{
	const eg_fn_def *d = eg_fn_vt(cur)->def;
	int j = 0;
	for (int a = 0; a < d->nargs && j < argc; a++) {
		if (!(idx & 1 << a))
			continue;
		sqlite3_value *v = argv[j++];
		if (sqlite3_value_type(v) != SQLITE_NULL && !(cur->args[a] = sqlite3_value_dup(v)))
			return SQLITE_NOMEM;
	}
	for (int a = 0; a < d->nargs; a++)
		if (d->args[a].required && !cur->args[a]) {
			eg_sql_vtab_err(cur->base.pVtab, "%s: the %s is required", d->sig,
					d->args[a].name);
			return SQLITE_ERROR;
		}
	return SQLITE_OK;
}

static int fn_filter(sqlite3_vtab_cursor *base, int idx, const char *idxstr, int argc,
		     sqlite3_value **argv)
{
	(void)idxstr;
	eg_fn_cursor *cur = (eg_fn_cursor *)base;
	cursor_reset(cur);
	int rc = take_args(cur, idx, argc, argv);
	if (rc == SQLITE_OK)
		rc = eg_fn_vt(cur)->def->run(cur);
	if (rc == SQLITE_OK && cur->rows.err)
		rc = SQLITE_NOMEM;
	if (rc != SQLITE_OK) {
		eg_fn_rows_free(&cur->rows);
		return rc;
	}
	locate(cur);
	return SQLITE_OK;
}

static int fn_next(sqlite3_vtab_cursor *base)
{
	eg_fn_cursor *cur = (eg_fn_cursor *)base;
	cur->row++;
	locate(cur);
	return SQLITE_OK;
}

static int fn_eof(sqlite3_vtab_cursor *base)
{
	eg_fn_cursor *cur = (eg_fn_cursor *)base;
	return cur->row >= cur->rows.nrows;
}

/* An argument's column: what was given (the spec a table was declared
 * with when none was). */
static void arg_column(eg_fn_cursor *cur, sqlite3_context *ctx, int a)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	if (a < EG_FN_MAX_ARGS && cur->args[a])
		sqlite3_result_value(ctx, cur->args[a]);
	else if (a == 0 && vt->spec_text)
		sqlite3_result_text(ctx, vt->spec_text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
}

static int fn_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int i)
{
	eg_fn_cursor *cur = (eg_fn_cursor *)base;
	if (i >= eg_fn_vt(cur)->ncols) {
		arg_column(cur, ctx, i - eg_fn_vt(cur)->ncols);
		return SQLITE_OK;
	}
	if (cur->at[i] == SIZE_MAX) {
		sqlite3_result_null(ctx);
		return SQLITE_OK;
	}
	const char *p = cur->rows.cells.p + cur->at[i];
	int64_t v;
	double d;
	switch (*p) {
	case SQLITE_INTEGER:
		memcpy(&v, p + 1, 8);
		sqlite3_result_int64(ctx, v);
		break;
	case SQLITE_FLOAT:
		memcpy(&d, p + 1, 8);
		sqlite3_result_double(ctx, d);
		break;
	case SQLITE_TEXT:
		memcpy(&v, p + 1, 8);
		sqlite3_result_text64(ctx, p + 9, (sqlite3_uint64)v, SQLITE_TRANSIENT, SQLITE_UTF8);
		break;
	default:
		sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

static int fn_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((eg_fn_cursor *)base)->row + 1;
	return SQLITE_OK;
}

/* Fixed columns: eponymous only (no xCreate), the module's name is the
 * table.  Spec-shaped: a table per spec, made by CREATE VIRTUAL TABLE. */
static const sqlite3_module FIXED = {
	.xConnect = fn_connect, .xBestIndex = fn_best_index, .xDisconnect = fn_disconnect,
	.xDestroy = fn_disconnect, .xOpen = fn_open, .xClose = fn_close, .xFilter = fn_filter,
	.xNext = fn_next, .xEof = fn_eof, .xColumn = fn_column, .xRowid = fn_rowid,
};
static const sqlite3_module SPEC_SHAPED = {
	.xCreate = fn_create, .xConnect = fn_connect, .xBestIndex = fn_best_index,
	.xDisconnect = fn_disconnect, .xDestroy = fn_disconnect, .xOpen = fn_open,
	.xClose = fn_close, .xFilter = fn_filter, .xNext = fn_next, .xEof = fn_eof,
	.xColumn = fn_column, .xRowid = fn_rowid,
};

/* ------------------------------------------------ streams, types, consumers */

static int key_row(eg_fn_rows *r, const char *name, size_t len, uint64_t count)
{
	eg_fn_row(r);
	eg_fn_text(r, name, len);
	eg_fn_int(r, (int64_t)count);
	return eg_fn_more(r);
}

static int stream_row(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	eg_fn_rows *r = ctx;
	key_row(r, name, len, count);
	eg_fn_int(r, (int64_t)version);
	return eg_fn_more(r);
}

static int type_row(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	(void)version;
	return key_row(ctx, name, len, count);
}

static int run_streams(eg_fn_cursor *cur)
{
	return eg_fn_done(cur, eg_store_keys(eg_fn_vt(cur)->c->st, EG_KEYS_STREAMS, stream_row,
					     &cur->rows));
}

static int run_types(eg_fn_cursor *cur)
{
	return eg_fn_done(cur, eg_store_keys(eg_fn_vt(cur)->c->st, EG_KEYS_TYPES, type_row,
					     &cur->rows));
}

typedef struct consumers_ctx {
	eg_fn_rows *r;
	uint64_t head;
} consumers_ctx;

/* As engram consumers: the checkpoint and how far behind the head it is. */
static int consumer_row(void *ctx, const char *name, uint64_t pos)
{
	consumers_ctx *k = ctx;
	eg_fn_row(k->r);
	eg_fn_text(k->r, name, strlen(name));
	eg_fn_int(k->r, (int64_t)pos);
	eg_fn_int(k->r, (int64_t)(k->head > pos ? k->head - pos : 0));
	return eg_fn_more(k->r);
}

static int run_consumers(eg_fn_cursor *cur)
{
	eg_sql_conn *c = eg_fn_vt(cur)->c;
	consumers_ctx k = { &cur->rows, 0 };
	int rc = eg_sql_snapshot(c, &k.head);
	if (rc == EG_OK)
		rc = eg_consumer_list(c->st, consumer_row, &k);
	return eg_fn_done(cur, rc);
}

/* -------------------------------------------------------------- sessions */

/* As engram sessions prints a session (out_session). */
static int session_row(void *ctx, const eg_session_row *s)
{
	eg_fn_rows *r = ctx;
	eg_fn_row(r);
	eg_fn_text(r, s->stream, s->stream_len);
	eg_fn_text(r, s->session, strlen(s->session));
	eg_fn_time(r, s->start);
	eg_fn_time(r, s->end);
	seconds(r, s->end - s->start);
	eg_fn_int(r, (int64_t)s->events);
	eg_fn_int(r, (int64_t)s->page_views);
	if (s->entry_page)
		eg_fn_json(r, s->entry_page, s->entry_len);
	else
		eg_fn_null(r);
	if (s->exit_page)
		eg_fn_json(r, s->exit_page, s->exit_len);
	else
		eg_fn_null(r);
	eg_fn_int(r, (int64_t)s->client_sessions);
	return eg_fn_more(r);
}

static int run_sessions(eg_fn_cursor *cur)
{
	eg_sql_conn *c = eg_fn_vt(cur)->c;
	size_t n;
	const char *gap = eg_fn_arg_text(cur, 0, &n);
	eg_sess_opts so = { 0 };
	if (eg_duration_parse(gap, n, &so.gap) || so.gap <= 0)
		return eg_fn_err(cur, "gap: expected a duration: %s; got '%s'", EG_DURATION_FORMS,
				 gap);
	eg_sess_query q = { .stream = eg_fn_arg_text(cur, 1, NULL) };
	int rc = eg_sql_snapshot(c, &q.at);
	if (rc || !q.at)          /* at 0 would mean the head: an empty log has none */
		return eg_fn_done(cur, rc);
	eg_sessions *s = NULL;
	rc = eg_sessions_open(c->st, &so, 0, &s);
	if (rc == EG_OK)
		rc = eg_sessions_scan(s, &q, session_row, &cur->rows);
	eg_sessions_close(s);
	return eg_fn_done(cur, rc);
}

/* ---------------------------------------------------------------- funnel */

/* As engram funnel prints a row: the by value first (NULL without by). */
static int funnel_row(void *ctx, const eg_funnel_row *f)
{
	eg_fn_rows *r = ctx;
	eg_fn_row(r);
	if (f->by_path)
		eg_fn_json(r, f->by, f->by_len);
	else
		eg_fn_null(r);
	eg_fn_int(r, f->step);
	eg_fn_text(r, f->name, strlen(f->name));
	eg_fn_int(r, (int64_t)f->users);
	printed(r, "%.6g", f->conversion);
	printed(r, "%.6f", f->median_time);
	return eg_fn_more(r);
}

/* The options, with the messages engram funnel gives for its flags. */
static int funnel_new(eg_fn_cursor *cur, eg_funnel **f)
{
	size_t n;
	const char *within = eg_fn_arg_text(cur, 1, &n);
	eg_funnel_opts o = { .by = eg_fn_arg_text(cur, 2, NULL) };
	if (eg_duration_parse(within, n, &o.within))
		return eg_fn_err(cur, "within: expected a duration: %s; got '%s'", EG_DURATION_FORMS,
				 within);
	char err[512];
	int rc = eg_funnel_new(eg_fn_arg_text(cur, 0, NULL), &o, f, err, sizeof err);
	if (rc == EG_EINVAL && !strncmp(err, "by: ", 4))
		return eg_fn_err(cur, "%s", err);
	if (rc == EG_EINVAL)
		return eg_fn_err(cur, "steps: %s; expected %s, e.g. page_view,add_to_cart,purchase or "
				 "page_view:https://shop.example.com/,purchase", err,
				 EG_FUNNEL_STEPS_FORM);
	return rc ? SQLITE_NOMEM : SQLITE_OK;
}

static int run_funnel(eg_fn_cursor *cur)
{
	eg_funnel *f = NULL;
	int rc = funnel_new(cur, &f);
	if (rc != SQLITE_OK)
		return rc;
	rc = eg_fn_done(cur, eg_funnel_run(eg_fn_vt(cur)->c->st, f, funnel_row, &cur->rows));
	eg_funnel_free(f);
	return rc;
}

/* ---------------------------------------------------------------- errors */

/* As engram errors prints a group, its trend as a JSON array. */
static int error_row(void *ctx, const eg_error_group *g)
{
	eg_fn_rows *r = ctx;
	char t[EG_ERRORS_TREND * 12 + 4];
	size_t n = 0;
	eg_fn_row(r);
	eg_fn_text(r, g->fingerprint, strlen(g->fingerprint));
	eg_fn_text(r, g->title, strlen(g->title));
	eg_fn_int(r, (int64_t)g->count);
	eg_fn_time(r, g->first_seen);
	eg_fn_time(r, g->last_seen);
	eg_fn_int(r, (int64_t)g->users);
	eg_fn_int(r, (int64_t)g->sessions);
	if (g->first_release[0])
		eg_fn_text(r, g->first_release, strlen(g->first_release));
	else
		eg_fn_null(r);
	eg_fn_int(r, g->regressed);
	t[n++] = '[';
	for (int i = 0; i < EG_ERRORS_TREND; i++)
		n += (size_t)snprintf(t + n, sizeof t - n, i ? ",%u" : "%u", g->trend[i]);
	t[n++] = ']';
	eg_fn_text(r, t, n);
	return eg_fn_more(r);
}

static int run_errors(eg_fn_cursor *cur)
{
	eg_sql_conn *c = eg_fn_vt(cur)->c;
	eg_errors_query q = { .service = eg_fn_arg_text(cur, 2, NULL),
			      .release = eg_fn_arg_text(cur, 3, NULL) };
	if (eg_fn_arg_time(cur, 0, &q.since) || eg_fn_arg_time(cur, 1, &q.until))
		return SQLITE_ERROR;
	q.has_since = cur->args[0] != NULL;
	q.has_until = cur->args[1] != NULL;
	int rc = eg_sql_snapshot(c, &q.at);
	if (rc || !q.at)          /* an empty log has no errors */
		return eg_fn_done(cur, rc);
	eg_errors *e = NULL;
	rc = eg_errors_open(c->st, 0, &e);
	if (rc == EG_OK)
		rc = eg_errors_groups(e, &q, error_row, &cur->rows);
	eg_errors_close(e);
	return eg_fn_done(cur, rc);
}

/* --------------------------------------------------------------- metrics */

static const double METRIC_QS[3] = { 0.5, 0.9, 0.99 };

/* As engram metrics prints a row, one per interval and series. */
static int metric_row(void *ctx, const eg_metrics_row *m)
{
	eg_fn_rows *r = ctx;
	eg_fn_row(r);
	eg_fn_time(r, m->time);
	eg_fn_text(r, m->name, strlen(m->name));
	eg_fn_text(r, m->tags, strlen(m->tags));
	eg_fn_int(r, (int64_t)m->count);
	eg_fn_real(r, m->sum);
	eg_fn_real(r, m->min);
	eg_fn_real(r, m->max);
	eg_fn_real(r, m->last);
	eg_fn_real(r, m->sum / (double)m->count);
	for (int i = 0; i < 3; i++)
		eg_fn_real(r, m->q[i]);
	eg_fn_real(r, m->sum / ((double)m->span / 1e6));
	return eg_fn_more(r);
}

static int run_metrics(eg_fn_cursor *cur)
{
	size_t n;
	const char *name = eg_fn_arg_text(cur, 0, NULL);
	const char *every = eg_fn_arg_text(cur, 1, &n);
	eg_metrics_query q = { .names = &name, .nnames = name && *name, .every = 3600000000LL,
			       .quantiles = METRIC_QS, .nq = 3, .by_series = 1 };
	if (every && (eg_duration_parse(every, n, &q.every) || q.every % 1000000))
		return eg_fn_err(cur, "every: expected a whole number of seconds as a duration "
				 "(1m, 5m, 1h, 1d); got '%s'", every);
	if (eg_fn_arg_time(cur, 2, &q.since) || eg_fn_arg_time(cur, 3, &q.until))
		return SQLITE_ERROR;
	q.has_since = !!cur->args[2];
	q.has_until = !!cur->args[3];
	eg_metrics *m = NULL;
	int rc = eg_metrics_open(eg_fn_vt(cur)->c->st, &m);
	if (rc == EG_OK)
		rc = eg_metrics_run(m, &q, metric_row, &cur->rows, NULL);
	eg_metrics_close(m);
	return eg_fn_done(cur, rc);
}

/* ---------------------------------------------------------- registration */

static const char *const STREAMS_COLS[] = { "stream", "events", "version", NULL };
static const char *const TYPES_COLS[] = { "type", "events", NULL };
static const char *const CONSUMERS_COLS[] = { "consumer", "pos", "lag", NULL };
static const char *const SESSIONS_COLS[] = {
	"stream", "session", "start", "end", "duration", "events", "page_views",
	"entry_page", "exit_page", "client_sessions", NULL,
};
static const char *const FUNNEL_COLS[] = {
	"by_value", "step", "name", "users", "conversion", "median_time", NULL,
};

static const char *const ERRORS_COLS[] = {
	"fingerprint", "title", "count", "first_seen", "last_seen", "users", "sessions",
	"first_release", "regressed", "trend", NULL,
};
static const char *const METRICS_COLS[] = {
	"time", "name", "tags", "count", "sum", "min", "max", "last", "avg", "p50", "p90", "p99",
	"rate", NULL,
};
/* The name argument's column cannot be called name (a column is);
 * WHERE name = … gives it as well. */
static const eg_fn_def METRICS = {
	"metrics", "metrics([name [, every [, since [, until]]]])", METRICS_COLS, NULL,
	{ { "name", "name_arg", 0, 1 }, { "every", "every", 0, -1 }, { "since", "since", 0, -1 },
	  { "until", "until", 0, -1 } }, 4, NULL, "tags", run_metrics,
};

static const eg_fn_def STREAMS = {
	"streams", "streams", STREAMS_COLS, NULL, { { 0 } }, 0, NULL, NULL, run_streams,
};
static const eg_fn_def TYPES = {
	"types", "types", TYPES_COLS, NULL, { { 0 } }, 0, NULL, NULL, run_types,
};
static const eg_fn_def CONSUMERS = {
	"consumers", "consumers", CONSUMERS_COLS, NULL, { { 0 } }, 0, NULL, NULL, run_consumers,
};
/* The stream argument's column cannot be called stream (a column is);
 * WHERE stream = … gives it as well. */
static const eg_fn_def SESSIONS = {
	"sessions", "sessions(gap [, stream])", SESSIONS_COLS, NULL,
	{ { "gap", "gap", 1, -1 }, { "stream", "stream_arg", 0, 0 } }, 2, NULL, NULL,
	run_sessions,
};
static const eg_fn_def FUNNEL = {
	"funnel", "funnel(steps, within [, by])", FUNNEL_COLS, NULL,
	{ { "steps", "steps", 1, -1 }, { "within", "within", 1, -1 }, { "by", "by", 0, -1 } }, 3,
	NULL, NULL, run_funnel,
};

/* errors([since [, until [, service [, release]]]]): engram errors' rows
 * with the store's current grouping (docs/ERRORS.md). */
static const eg_fn_def ERRORS = {
	"errors", "errors([since [, until [, service [, release]]]])", ERRORS_COLS, NULL,
	{ { "since", "since", 0, -1 }, { "until", "until", 0, -1 },
	  { "service", "service", 0, -1 }, { "release", "release", 0, -1 } }, 4, NULL, NULL,
	run_errors,
};

static const eg_fn_def *const DEFS[] = {
	&STREAMS, &TYPES, &CONSUMERS, &SESSIONS, &FUNNEL, &ERRORS, &METRICS,
	&eg_fn_projection, &eg_fn_history, &eg_fn_windows, &eg_fn_changelog,
};

const eg_fn_def *eg_fn_def_at(size_t i)
{
	return i < sizeof DEFS / sizeof *DEFS ? DEFS[i] : NULL;
}

int eg_sql_register_funcs(sqlite3 *db, eg_sql_conn *c)
{
	for (size_t i = 0; i < sizeof DEFS / sizeof *DEFS; i++) {
		fn_reg *g = sqlite3_malloc(sizeof *g);
		if (!g)
			return SQLITE_NOMEM;
		*g = (fn_reg){ c, DEFS[i] };
		int rc = sqlite3_create_module_v2(db, DEFS[i]->name,
						  DEFS[i]->spec ? &SPEC_SHAPED : &FIXED, g,
						  sqlite3_free);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

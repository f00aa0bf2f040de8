/*
 * sql.c — a SQLite connection over a store (eg_sql_open): the modules
 * registered on it, the snapshot its statements read, the authorizer that
 * keeps the store's tables read-only, and the shared error helpers.
 */
#include "sql.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "timefmt.h"

void eg_sql_cursor_open(eg_sql_conn *c)
{
	c->cursors++;
}

static void drop_pin(eg_sql_conn *c, size_t i)
{
	free(c->pins[i].who);
	c->pins[i] = c->pins[--c->npins];
}

void eg_sql_cursor_close(eg_sql_conn *c)
{
	if (c->cursors > 0 && --c->cursors == 0)
		while (c->npins)
			drop_pin(c, c->npins - 1);
}

/* The statements running now on c's connection, into *who (malloc'd). */
static size_t running(eg_sql_conn *c, struct eg_sql_pin_who **who)
{
	size_t n = 0, cap = 0;
	*who = NULL;
	for (sqlite3_stmt *s = sqlite3_next_stmt(c->db, NULL); s; s = sqlite3_next_stmt(c->db, s)) {
		if (!sqlite3_stmt_busy(s))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			struct eg_sql_pin_who *g = realloc(*who, cap * sizeof *g);
			if (!g)
				break;   /* fewer known: at worst a fresh snapshot */
			*who = g;
		}
		(*who)[n].stmt = s;
		(*who)[n++].run = sqlite3_stmt_status(s, SQLITE_STMTSTATUS_RUN, 0);
	}
	return n;
}

static int has_who(const eg_sql_pin *p, const struct eg_sql_pin_who *w)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->who[i].stmt == w->stmt && p->who[i].run == w->run)
			return 1;
	return 0;
}

int eg_sql_snapshot(eg_sql_conn *c, uint64_t *pos)
{
	struct eg_sql_pin_who *now;
	size_t n = running(c, &now);
	/* A snapshot taken when a statement now finished was running can
	 * never be matched again: drop it.  One taken with exactly these
	 * running is this statement's. */
	for (size_t i = 0; i < c->npins;) {
		eg_sql_pin *p = &c->pins[i];
		size_t k = 0;
		while (k < p->n) {
			size_t j = 0;
			while (j < n && !(now[j].stmt == p->who[k].stmt && now[j].run == p->who[k].run))
				j++;
			if (j == n)
				break;
			k++;
		}
		if (k < p->n) {
			drop_pin(c, i);
			continue;
		}
		int same = p->n == n;
		for (size_t j = 0; same && j < n; j++)
			same = has_who(p, &now[j]);
		if (same && c->cursors) {
			*pos = p->head;
			free(now);
			return EG_OK;
		}
		i++;
	}
	eg_head h;
	int rc = eg_store_head(c->st, &h);
	if (rc) {
		free(now);
		return rc;
	}
	*pos = h.pos;
	if (c->has_at && c->at_pos < h.pos)
		*pos = c->at_pos;
	eg_sql_pin *g = c->cursors ? realloc(c->pins, (c->npins + 1) * sizeof *g) : NULL;
	if (!g) {   /* no cursor (a scalar function), or no memory: not kept */
		free(now);
		return EG_OK;
	}
	c->pins = g;
	c->pins[c->npins++] = (eg_sql_pin){ *pos, n, now };
	return EG_OK;
}

void eg_sql_vtab_err(sqlite3_vtab *vt, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
}

int eg_sql_store_err(sqlite3_vtab *vt, eg_sql_conn *c, int code)
{
	if (code == EG_ENOMEM)
		return SQLITE_NOMEM;
	const char *m = eg_errmsg(c->st);
	eg_sql_vtab_err(vt, "%s", m && *m ? m : eg_strerror(code));
	return SQLITE_ERROR;
}

int eg_sql_time_arg(sqlite3_vtab *vt, const char *name, sqlite3_value *v, int64_t *us)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER: {
		sqlite3_int64 ms = sqlite3_value_int64(v);
		if (ms > INT64_MAX / 1000 || ms < INT64_MIN / 1000)
			break;
		*us = ms * 1000;
		return 0;
	}
	case SQLITE_TEXT: {
		const char *s = (const char *)sqlite3_value_text(v);
		if (s && eg_time_parse(s, (size_t)sqlite3_value_bytes(v), us) == 0)
			return 0;
		break;
	}
	default:
		break;
	}
	const char *s = (const char *)sqlite3_value_text(v);
	eg_sql_vtab_err(vt, "%s: expected %s, got '%s'", name, EG_TIME_FORMS, s ? s : "NULL");
	return -1;
}

char *eg_sql_dequote(const char *s)
{
	size_t n = strlen(s);
	char q = n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0] ? s[0] : 0;
	if (!q)
		return sqlite3_mprintf("%s", s);
	char *out = sqlite3_malloc64(n), *o = out;
	for (size_t i = 1; out && i + 1 < n; i++) {
		*o++ = s[i];
		i += s[i] == q && s[i + 1] == q;
	}
	if (out)
		*o = 0;
	return out;
}

/* ------------------------------------------------------------ read-only */

/* The store's tables live in main (eponymous virtual tables, which have no
 * xUpdate: SQLite refuses to write them); no other table may be made
 * there.  TEMP is the user's scratch space, and attached databases are the
 * user's own. */
int eg_sql_authorize(void *ctx, int action, const char *a, const char *b, const char *db,
		     const char *trigger)
{
	(void)ctx, (void)a, (void)b, (void)trigger;
	int in_main = db && strcmp(db, "main") == 0;
	switch (action) {
	case SQLITE_CREATE_INDEX:
	case SQLITE_CREATE_TABLE:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_CREATE_VIEW:
	case SQLITE_CREATE_VTABLE:
	case SQLITE_DROP_INDEX:
	case SQLITE_DROP_TABLE:
	case SQLITE_DROP_TRIGGER:
	case SQLITE_DROP_VIEW:
	case SQLITE_DROP_VTABLE:
	case SQLITE_ALTER_TABLE:
		return in_main ? SQLITE_DENY : SQLITE_OK;
	default:
		return SQLITE_OK;
	}
}

/* --------------------------------------------------------------- open */

void eg_sql_conn_free(eg_sql_conn *c)
{
	while (c->npins)
		drop_pin(c, c->npins - 1);
	free(c->pins);
	if (c->own)
		eg_store_close(c->st);
	free(c->dir);
	free(c->spec_dir);
	free(c);
}

static void conn_free(void *p)
{
	eg_sql_conn_free(p);
}

/* engram_head(): the head position the statement reads (its snapshot). */
static void fn_head(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc, (void)argv;
	eg_sql_conn *c = sqlite3_user_data(ctx);
	uint64_t pos;
	int rc = eg_sql_snapshot(c, &pos);
	if (rc)
		sqlite3_result_error(ctx, eg_errmsg(c->st), -1);
	else
		sqlite3_result_int64(ctx, (sqlite3_int64)pos);
}

int eg_sql_register(sqlite3 *db, eg_sql_conn *c)
{
	c->db = db;
	/* The function owns c: SQLite frees it with the connection (or now,
	 * if registering fails). */
	int rc = sqlite3_create_function_v2(db, "engram_head", 0, SQLITE_UTF8, c, fn_head, NULL,
					    NULL, conn_free);
	if (rc == SQLITE_OK)
		rc = eg_sql_register_events(db, c);
	if (rc == SQLITE_OK)
		rc = eg_sql_register_funcs(db, c);
	if (rc == SQLITE_OK)
		rc = eg_sql_register_dataset(db, c);
	return rc;
}

int eg_sql_open(eg_store *st, sqlite3 **db)
{
	return eg_sql_open_at(st, NULL, db, NULL);
}

int eg_sql_open_at(eg_store *st, const eg_sql_bounds *b, sqlite3 **db, eg_sql_conn **conn)
{
	if (conn)
		*conn = NULL;
	*db = NULL;
	eg_sql_conn *c = calloc(1, sizeof *c);
	if (!c)
		return EG_ENOMEM;
	c->st = st;
	if (b) {
		c->has_at = b->has_at;
		c->at_pos = b->at_pos;
		c->has_as_of = b->as_of != EG_TIME_NONE;
		c->as_of = b->as_of;
		c->has_known_at = b->known_at != EG_TIME_NONE;
		c->known_at = b->known_at;
		if (b->spec_dir && !(c->spec_dir = strdup(b->spec_dir))) {
			free(c);
			return EG_ENOMEM;
		}
	}
	int rc = sqlite3_open_v2(":memory:", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = eg_sql_register(*db, c);
	else
		free(c);
	if (rc == SQLITE_OK)
		rc = sqlite3_set_authorizer(*db, eg_sql_authorize, NULL);
	if (rc != SQLITE_OK) {
		int code = rc == SQLITE_NOMEM ? EG_ENOMEM : EG_EIO;
		eg_st_err(st, code, "cannot open SQLite: %s",
			  *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return code;
	}
	if (conn)
		*conn = c;
	return EG_OK;
}

int eg_sql_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail)
{
	*stmt = NULL;
	char *re = NULL;
	int shift = 0;
	int rc = eg_sql_declare(db, sql, n, &re, &shift);
	if (rc != SQLITE_OK || !re)
		return rc == SQLITE_OK ? sqlite3_prepare_v2(db, sql, n, stmt, tail) : rc;
	/* calls renamed in the first statement: its tail is as far into the
	 * rest of sql as into the rest of re */
	const char *t = NULL;
	rc = sqlite3_prepare_v2(db, re, -1, stmt, &t);
	if (tail)
		*tail = t ? sql + (t - re) - shift : NULL;
	sqlite3_free(re);
	return rc;
}

/* ----------------------------------------------------------------- docs */

static const eg_sql_table TABLES[] = {
	{ "events", "[known_at [, as_of]]",
	  "pos, id, stream, version, type, kind, time, recorded, actor, session, data, meta, "
	  "time_us, recorded_us",
	  "one row per event, in log order; known_at: only events recorded by then; "
	  "as_of: only events with time up to then" },
	{ "streams", "", "stream, events, version", "every stream with its event count and version" },
	{ "types", "", "type, events", "every event type with its event count" },
	{ "consumers", "", "consumer, pos, lag",
	  "every consumer with its checkpoint and how far behind the head it is" },
	{ "projection", "spec [, as_of [, known_at]]", "key, then one column per field",
	  "a projection's state per key (engram project)" },
	{ "history", "spec, key [, as_of [, known_at]]",
	  "key, valid_from, valid_to, then one column per field",
	  "one key's states over event time (engram history)" },
	{ "windows", "spec [, as_reported_at]",
	  "window_start, window_end, then the group_by and aggregate columns, revision, final, "
	  "too_late",
	  "the current table of a windows spec, or as reported at a time (engram windows)" },
	{ "window_changelog", "spec",
	  "window_start, window_end, then the group_by and aggregate columns, revision, final, "
	  "too_late, previous, pos, retracted",
	  "every revision of a windows spec (engram windows --changelog)" },
	{ "sessions", "gap [, stream]",
	  "stream, session, start, end, duration, events, page_views, entry_page, exit_page, "
	  "client_sessions",
	  "sessions per stream by event time (engram sessions)" },
	{ "funnel", "steps, within [, by]",
	  "by_value (null without by), step, name, users, conversion, median_time",
	  "how far streams get through steps (engram funnel)" },
	{ "dataset", "name", "the base's columns, then f_FILTER per filter and keep",
	  "a kept dataset, every base row with its filters' verdicts (engram dataset)" },
	{ NULL, NULL, NULL, NULL },
};

const eg_sql_table *eg_sql_table_at(size_t i)
{
	return i < sizeof TABLES / sizeof *TABLES - 1 ? &TABLES[i] : NULL;
}

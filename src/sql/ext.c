/*
 * ext.c — the loadable extension (build/lib/libengram_sqlite.so), for any
 * program with SQLite 3.40 or later: the sqlite3 shell, Python's sqlite3,
 * DuckDB's sqlite scanner aside (docs/SQL.md).  It registers
 *   engram_events('DIR')                   the events table of a store, by path
 *   CREATE VIRTUAL TABLE e USING engram(DIR)   the same, as a named table
 *   engram_use('DIR')                      everything engram sql has (events,
 *                                          streams, sessions(…), projection
 *                                          tables, engram_head()) for one store
 */
#include "sql.h"

#include <stdlib.h>
#include <string.h>

#ifdef EG_SQL_EXTENSION
SQLITE_EXTENSION_INIT1

/* What engram_use did on this connection. */
typedef struct use_state {
	char *dir;
} use_state;

static void use_free(void *p)
{
	use_state *u = p;
	free(u->dir);
	free(u);
}

/* engram_use('DIR'): open the store for reading and register on this
 * connection what eg_sql_open registers, once.  Returns the head position. */
static void fn_use(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	use_state *u = sqlite3_user_data(ctx);
	const char *dir = (const char *)sqlite3_value_text(argv[0]);
	if (!dir || !*dir) {
		sqlite3_result_error(ctx, "engram_use: expected the directory of a store, "
				     "as in engram_use('DIR')", -1);
		return;
	}
	if (u->dir) {
		char *m = sqlite3_mprintf("engram_use: this connection already uses %s; "
					  "open another connection for another store", u->dir);
		sqlite3_result_error(ctx, m, -1);
		sqlite3_free(m);
		return;
	}
	eg_sql_conn *c = calloc(1, sizeof *c);
	int rc = c ? eg_store_open(&c->st, dir, EG_OPEN_READ, NULL) : EG_ENOMEM;
	if (rc) {
		char *m = sqlite3_mprintf("engram_use: cannot open the engram store %s: %s", dir,
					  c && c->st ? eg_errmsg(c->st) : eg_strerror(rc));
		sqlite3_result_error(ctx, m, -1);
		sqlite3_free(m);
		if (c)
			eg_store_close(c->st);
		free(c);
		return;
	}
	c->own = 1;
	c->dir = strdup(dir);
	u->dir = strdup(dir);
	eg_head h;
	rc = eg_store_head(c->st, &h);
	if (eg_sql_register(sqlite3_context_db_handle(ctx), c) != SQLITE_OK || !u->dir || rc) {
		sqlite3_result_error(ctx, "engram_use: cannot register the store's tables", -1);
		return;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)h.pos);
}

int sqlite3_engramsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int sqlite3_engramsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	(void)err;
	SQLITE_EXTENSION_INIT2(api);
	int rc = eg_sql_register_ext(db);
	use_state *u = calloc(1, sizeof *u);
	if (rc == SQLITE_OK && !u)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "engram_use", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
						u, fn_use, NULL, NULL, use_free);
	else
		free(u);
	return rc;
}

int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	return sqlite3_engramsqlite_init(db, err, api);
}
#endif

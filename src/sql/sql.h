/*
 * sql.h — what the files of src/sql/ share: one engram store seen from one
 * SQLite connection, with the snapshot every statement reads, and the
 * modules each file registers (docs/SQL.md).
 */
#ifndef EG_SQL_H
#define EG_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "engram.h"
#include "sqlite.h"

/* A statement's snapshot: the head when it first read, and the statements
 * running then (each with its run count, so that a statement reset and run
 * again, or a new one at the same address, is another). */
typedef struct eg_sql_pin {
	uint64_t head;
	size_t n;
	struct eg_sql_pin_who { sqlite3_stmt *stmt; int run; } *who;
} eg_sql_pin;

/* One store on one connection.  A statement reads one snapshot: the head
 * when its first cursor first read.  SQLite does not tell a virtual table
 * which statement a cursor belongs to, so a snapshot is known by the set
 * of statements running when it was taken: a cursor opened while the same
 * statements run (a join's inner table, a subquery) shares it, and a
 * statement started inside another's loop gets its own.  All are dropped
 * when the last cursor closes. */
typedef struct eg_sql_conn {
	eg_store *st;
	sqlite3 *db;
	int own;                 /* close st with the connection (the extension) */
	char *dir;               /* the extension: the directory it was opened by */
	eg_sql_pin *pins;
	size_t npins;
	int cursors;             /* cursors open on the connection's tables */
	/* Bounds of every statement (engram dataset build --as-of/--known-at):
	 * snapshots end at at_pos when has_at; as_of (when has_as_of) bounds
	 * the events' time and is the projections' default as-of, known_at
	 * (when has_known_at) theirs for record time.  All 0: no bounds. */
	int has_at, has_as_of, has_known_at;
	uint64_t at_pos;
	int64_t as_of, known_at;
	/* Where relative spec paths are read from (a dataset spec's
	 * directory); NULL: the working directory. */
	char *spec_dir;
	/* The texts of the specs declared on the connection, hashed in turn
	 * (a dataset is current only while the spec files it read are). */
	uint64_t specs_fp;
	struct eg_sql_conn *next;   /* the extension: its list of open stores */
} eg_sql_conn;

/* Register everything on db for c's store (events, the functions,
 * engram_head()); db owns c from then on, even when this fails. */
int eg_sql_register(sqlite3 *db, eg_sql_conn *c);

/* Bounds of a connection: every statement's snapshot ends at at_pos
 * (when has_at); as_of and known_at (EG_TIME_NONE: none) as in
 * eg_sql_conn; spec_dir (NULL: none) where relative spec paths are read
 * from. */
typedef struct eg_sql_bounds {
	int has_at;
	uint64_t at_pos;
	int64_t as_of, known_at;
	const char *spec_dir;
} eg_sql_bounds;

/* eg_sql_open with the connection's bounds set first (b NULL: none);
 * *conn (if not NULL): the connection's store state, owned by *db. */
int eg_sql_open_at(eg_store *st, const eg_sql_bounds *b, sqlite3 **db, eg_sql_conn **conn);

/* The authorizer of every connection: the store's tables are read-only,
 * nothing new is made in main (ctx unused). */
int eg_sql_authorize(void *ctx, int action, const char *a, const char *b, const char *db,
		     const char *trigger);

/* Free c, closing its store if it owns it. */
void eg_sql_conn_free(eg_sql_conn *c);

/* Count a cursor opened / closed (the pin ends with the last close). */
void eg_sql_cursor_open(eg_sql_conn *c);
void eg_sql_cursor_close(eg_sql_conn *c);
/* The head position of the running statement's snapshot, taking it if the
 * statement has none: EG_OK, or an error of eg_store_head (message in
 * eg_errmsg(c->st)). */
int eg_sql_snapshot(eg_sql_conn *c, uint64_t *pos);

/* Set a virtual table's error to "what: message" (printf-style). */
void eg_sql_vtab_err(sqlite3_vtab *vt, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Map a library error on c's store to the vtab's message and SQLITE_ERROR
 * (SQLITE_NOMEM for EG_ENOMEM). */
int eg_sql_store_err(sqlite3_vtab *vt, eg_sql_conn *c, int code);

/* A time argument of a table or function (known_at, as_of, …): TEXT as
 * engram's command-line times (RFC 3339, a date, epoch milliseconds as
 * digits), or an INTEGER of epoch milliseconds.  0, or -1 after setting
 * the vtab's error to "NAME: expected …, got '…'", the message the
 * commands give for --NAME. */
int eg_sql_time_arg(sqlite3_vtab *vt, const char *name, sqlite3_value *v, int64_t *us);

/* A module argument of CREATE VIRTUAL TABLE as written: a string
 * literal without its quotes (and its doubled quotes undone), anything
 * else as it is; sqlite3_malloc'd, NULL when out of memory. */
char *eg_sql_dequote(const char *s);

/* events.c: the events table on c's store, as the eponymous table `name`
 * (NULL: only `CREATE VIRTUAL TABLE … USING engram(DIR)` in the extension). */
int eg_sql_register_events(sqlite3 *db, eg_sql_conn *c);
/* funcs.c: the table-valued functions over the engines (projection,
 * history, windows, window_changelog, sessions, funnel, streams, types,
 * consumers) on c's store. */
int eg_sql_register_funcs(sqlite3 *db, eg_sql_conn *c);
/* declare.c: before a statement is prepared, declare the tables its
 * spec-shaped functions need (projection('bank.json') has one column per
 * field of that spec; dataset('name') the dataset's): SQLITE_OK, or an
 * SQLite code with the message in sqlite3_errmsg(db) (a bad spec's, as
 * the command gives it).  When the first statement calls one function
 * with two specs, the second gets a table of its own, temp."NAME 2", and
 * with out given, *out is sql with those calls renamed (sqlite3_free it;
 * NULL when nothing was) and *shift how much longer it is. */
int eg_sql_declare(sqlite3 *db, const char *sql, int n, char **out, int *shift);

/* dsettab.c: the dataset(NAME) table over a kept dataset (docs/DATASETS.md). */
int eg_sql_register_dataset(sqlite3 *db, eg_sql_conn *c);

/* ext.c: the extension's engram_events('DIR') and engram(DIR) modules. */
int eg_sql_register_ext(sqlite3 *db);

#endif

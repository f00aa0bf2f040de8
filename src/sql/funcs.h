/*
 * funcs.h — what the files of the table-valued functions share: one
 * description per function (its columns, its arguments and how it runs),
 * the one virtual table and cursor all of them use (funcs.c), and the rows
 * a run collects.  spectab.c adds the four whose columns come from a spec;
 * declare.c declares their tables before a statement is prepared.
 */
#ifndef EG_SQL_FUNCS_H
#define EG_SQL_FUNCS_H

#include "sql.h"
#include "buf.h"

#define EG_FN_MAX_ARGS 4

/* ------------------------------------------------------------------ rows */

/* The rows of one run, collected before the first is read: the engines
 * answer through callbacks, SQLite asks row by row.  Each cell is a type
 * byte (SQLITE_INTEGER, _FLOAT, _TEXT, _NULL), then 8 bytes of value, or
 * 8 bytes of length and the text. */
typedef struct eg_fn_rows {
	buf cells;
	size_t *starts;          /* where each row's first cell is */
	size_t nrows, cap;
	int err;                 /* out of memory: every later call does nothing */
} eg_fn_rows;

void eg_fn_rows_free(eg_fn_rows *r);
/* Start a row; then one call below per column, in order. */
void eg_fn_row(eg_fn_rows *r);
void eg_fn_int(eg_fn_rows *r, int64_t v);
void eg_fn_real(eg_fn_rows *r, double v);
void eg_fn_text(eg_fn_rows *r, const char *s, size_t n);
void eg_fn_null(eg_fn_rows *r);
/* A time as the commands print it (RFC 3339 UTC with microseconds). */
void eg_fn_time(eg_fn_rows *r, int64_t us);
/* A JSON value as SQL: a number as INTEGER when written without fraction
 * or exponent and within int64, else REAL; a string as its TEXT; null as
 * NULL; true and false as 1 and 0; an object or array as its JSON TEXT. */
void eg_fn_json(eg_fn_rows *r, const char *json, size_t n);
/* A number as a command prints it (its text), typed as eg_fn_json does. */
void eg_fn_number(eg_fn_rows *r, const char *text, size_t n);

/* ------------------------------------------------------------ functions */

typedef struct eg_fn_cursor eg_fn_cursor;

/* One argument: a HIDDEN column, in the order of the call's arguments. */
typedef struct eg_fn_arg {
	const char *name;        /* in messages: "the gap is required" */
	const char *column;      /* the hidden column's name */
	int required;
	int alias;               /* a visible column whose equality gives the
	                            argument too (WHERE key = …), or -1 */
} eg_fn_arg;

/* What a spec-shaped function reads its spec with: a projection's parser
 * or a windows spec's, and the columns the spec adds. */
typedef struct eg_fn_speckind {
	int (*parse)(const char *json, size_t n, void **spec, char *err, size_t errlen);
	void (*free)(void *spec);
	/* The spec's own column names, borrowed from it: how many (<= max). */
	size_t (*names)(const void *spec, const char **out, size_t max);
} eg_fn_speckind;

typedef struct eg_fn_def {
	const char *name;
	const char *sig;         /* "sessions(gap [, stream])", for messages */
	const char *const *head; /* columns before the spec's (NULL-terminated) */
	const char *const *tail; /* after them (NULL-terminated, may be NULL) */
	eg_fn_arg args[EG_FN_MAX_ARGS];
	int nargs;
	const eg_fn_speckind *spec;   /* NULL: fixed columns, an eponymous table */
	/* A column of JSON objects, declared JSON: engram sql writes such a
	 * column's text as the JSON it holds (NULL: none). */
	const char *json;
	/* Collect the rows into cur->rows: SQLITE_OK, or an SQLite code with
	 * the table's error set. */
	int (*run)(eg_fn_cursor *cur);
} eg_fn_def;

/* The table of one function (or one spec of a spec-shaped function). */
typedef struct eg_fn_vtab {
	sqlite3_vtab base;
	eg_sql_conn *c;
	const eg_fn_def *def;
	int ncols;               /* visible columns; the arguments follow */
	void *spec;              /* spec-shaped: the spec, parsed */
	char *spec_text;         /* as declared: a path or JSON text */
	char *label;             /* messages name the spec so: the path, or "spec" */
	char *table;             /* the table's name */
} eg_fn_vtab;

struct eg_fn_cursor {
	sqlite3_vtab_cursor base;
	eg_fn_rows rows;
	sqlite3_value *args[EG_FN_MAX_ARGS];   /* NULL: not given */
	size_t row;
	size_t *at;              /* the current row's cells, one per column */
};

static inline eg_fn_vtab *eg_fn_vt(const eg_fn_cursor *cur)
{
	return (eg_fn_vtab *)cur->base.pVtab;
}

/* Argument i as text (NULL when not given), and its length. */
const char *eg_fn_arg_text(eg_fn_cursor *cur, int i, size_t *n);
/* Argument i as a time (eg_sql_time_arg's forms; left alone when not
 * given): 0, or -1 with the error "FUNCTION: NAME: expected …" set. */
int eg_fn_arg_time(eg_fn_cursor *cur, int i, int64_t *us);
/* Set the table's error to "FUNCTION: message"; returns SQLITE_ERROR. */
int eg_fn_err(eg_fn_cursor *cur, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The end of a run: SQLITE_OK for EG_OK, SQLITE_NOMEM when the rows ran
 * out of memory, else the library's error (eg_sql_store_err). */
int eg_fn_done(eg_fn_cursor *cur, int code);
/* What a row callback returns: 0, or EG_ENOMEM to stop the engine. */
static inline int eg_fn_more(const eg_fn_rows *r)
{
	return r->err ? EG_ENOMEM : 0;
}

/* spectab.c: the spec-shaped functions, and the spec of one of their tables
 * from its module arguments (a path or JSON text): SQLITE_OK, or
 * SQLITE_ERROR with *err the command's message ("PATH: …", "spec: …"). */
extern const eg_fn_def eg_fn_projection, eg_fn_history, eg_fn_windows, eg_fn_changelog;
int eg_fn_spec_load(eg_fn_vtab *vt, int argc, const char *const *argv, char **err);

/* funcs.c: the functions, i = 0, 1, … (NULL past the last). */
const eg_fn_def *eg_fn_def_at(size_t i);

#endif

/*
 * cli.h — what the engram command's files share: the option parser, the
 * row writer (ndjson, csv, table), error reporting and exit codes.  Every
 * command is a function `int cmd_NAME(cli *c)` returning an exit code.
 */
#ifndef EG_CLI_H
#define EG_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "engram.h"

/* Exit codes (the contract in docs/CLI.md). */
enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2, EXIT_INTEGRITY = 3, EXIT_CONFLICT = 4 };

enum { FMT_NDJSON = 0, FMT_CSV = 1, FMT_TABLE = 2 };

/* ------------------------------------------------------------ options */

typedef struct opt {
	const char *name;   /* long name without "--" */
	int has_arg;        /* 0: flag (sets *flag = 1), 1: takes a value,
			     * OPT_LIST: a comma list, repeats of which join */
	const char **val;   /* where the value goes */
	int *flag;
} opt;

enum { OPT_LIST = 2 };
/* OPT_QUERY: a DCB query (docs/CONSISTENCY.md), repeats of which join
 * with ';' (their items OR'd) */
enum { OPT_QUERY = 3 };

typedef struct cli {
	const char *prog, *cmd;
	const char *dir;         /* -d DIR, $ENGRAM_DIR, ./engram-data */
	int format;
	int format_given;        /* --format was given (else the default) */
	int format_prometheus;   /* --format prometheus before the command (metrics' own) */
	uint64_t segment_bytes;
	int seal;                /* --seal: EG_SEAL_AUTO, _ALWAYS or _NEVER */
	int64_t lock_wait_us;    /* append --lock-wait: a writer's open waits */
	int argc;                /* the command's arguments after global options */
	char **argv;
	const char *pos[8];      /* positional arguments */
	int npos;
	char *joined[8];         /* OPT_LIST values joined from repeats */
	int njoined;
} cli;

/* Parse the command's options against opts (NULL-name terminated).
 * Positional arguments (at most maxpos) go to c->pos.  On error prints the
 * usage and returns EXIT_USAGE; on --help prints help and returns -1;
 * else 0. */
int cli_parse(cli *c, const opt *opts, int maxpos);

/* Print "engram: error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "engram: warning: ..." to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Close a store a command used.  If the command's exit code rc is
 * EXIT_OK, warn when the derived files could not be synced or saved (the
 * exit code stays: the log has what was acknowledged, and the answer came
 * from it); after an error, say nothing more. */
void cli_close(eg_store *st, int rc);
/* Print a usage error for the command and return EXIT_USAGE. */
int cli_usage_error(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a library failure (its message) and map the code to an exit code. */
int cli_fail(eg_store *st, int code);
int cli_exit_code(int eg_code);

/* Split a comma list in place into at most max non-empty items; returns
 * how many. */
size_t cli_split(char *s, const char **items, size_t max);
/* Parse an unsigned integer flag value; -1 on error. */
int cli_u64(const char *s, uint64_t *res);
/* Parse the time value of option --name (RFC 3339 or epoch millis); on
 * error prints a usage error and returns EXIT_USAGE. */
int cli_time(cli *c, const char *name, const char *v, int64_t *res);
/* Parse a size like 64k, 256M, 1G or bytes. */
int cli_size(const char *s, uint64_t *res);
/* All of f (at most max bytes, else EFBIG), NUL-terminated, a UTF-8
 * byte-order mark at its start left out; its length in *n.  NULL with
 * errno set (ENOMEM, EIO, EFBIG). */
char *cli_read_file(FILE *f, size_t max, size_t *n);
/* The same for the file at path (fopen's errno when it cannot be opened). */
char *cli_read_path(const char *path, size_t max, size_t *n);
/* Read a whole file (a spec, up to 16 MiB); NULL with errno set. */
char *cli_slurp(const char *path, size_t *n);
/* A spec file's text, or NULL after printing why, with *rc the exit code
 * (EXIT_USAGE for a missing or unreadable file, EXIT_ERR for ENOMEM/EIO). */
char *cli_spec_text(const char *path, size_t *n, int *rc);
/* A spec parser's result r (err: its message): 0, or the exit code after
 * printing "PATH: message". */
int cli_spec_result(const char *path, int r, const char *err);

/* Open the store for reading; if its derived files lag the log and no
 * writer holds the lock, repair them first.  Prints errors itself;
 * returns NULL with *rc set to an exit code. */
eg_store *cli_open_read(cli *c, int *rc);
eg_store *cli_open_write(cli *c, int create, int *rc);

/* Warn (engram: warning: WHERE: type 'T' never occurs in the store ...)
 * once for each of the n types the store has no event of, naming its types
 * and the nearest one; nothing for an empty store (warn.c). */
void cli_warn_types(eg_store *st, const char *where, const char *const *types, size_t n);
/* Warn that spec's field or aggregate (what) name took events ("it took",
 * "taken") none of which had a value (or a number) at path. */
void cli_warn_unused_path(const char *spec, const char *what, const char *name,
			  const char *took, const char *path, uint64_t used, uint64_t missing,
			  uint64_t not_number);

/* A subcommand of a command (engram schema add, engram dataset build):
 * run(c, arg) with c->pos[0] the subcommand. */
typedef struct cli_sub {
	const char *name;
	int (*run)(cli *c, int arg);
	int arg;
} cli_sub;
/* Run the subcommand c->argv[0] names, of the n in subs: --help prints the
 * command's help; none, or an unknown one (with the nearest name), is a
 * usage error listing them.  The exit code. */
int cli_subcommand(cli *c, const char *cmd, const cli_sub *subs, size_t n);

/* Of the n names, the one nearest to t if t looks like a typo of it (one
 * edit, plus one per five letters of t; or its start), else NULL. */
const char *cli_nearest(const char *t, const char *const *names, size_t n);

/* Help. */
void cli_help_all(FILE *f);
int cli_help_cmd(FILE *f, const char *cmd);

/* -------------------------------------------------------------- rows */

typedef struct out out;

/* A row writer on f.  Never NULL: if it cannot allocate, it writes nothing
 * and out_free fails with ENOMEM. */
out *out_new(FILE *f, int format);
/* Flush and free; returns 0 or -1 on a write error (errno set). */
int out_free(out *o);
/* out_free, then the command's exit code: rc, or EXIT_ERR after printing
 * why if rc was EXIT_OK and the output failed. */
int out_finish(out *o, int rc);
/* Write every row given so far (a table sizes its columns from the rows
 * it holds, then prints them) and flush f: after it returns 0, the rows
 * are on the output, so a checkpoint may move past them.  -1 on a write
 * error. */
int out_flush(out *o);
/* The output follows new events (--follow): a table fits its columns to
 * the terminal from the first rows and prints each row as it comes. */
void out_live(out *o);
/* The column names, before the first row, for a result that may have no
 * rows (csv then still prints its header).  Rows must give these keys. */
void out_header(out *o, const char *const *keys, int n);
/* The rows stop at an error: out_free prints what came, and no "0 rows"
 * or empty header. */
void out_failed(out *o);
void out_row_begin(out *o);
void out_row_end(out *o);
void out_str(out *o, const char *key, const char *s, size_t n);
void out_cstr(out *o, const char *key, const char *s);   /* NULL -> null */
void out_u64(out *o, const char *key, uint64_t v);
void out_i64(out *o, const char *key, int64_t v);
void out_f64(out *o, const char *key, double v);
/* A duration in microseconds as exact decimal seconds (90.5, 0.000001). */
void out_seconds(out *o, const char *key, int64_t us);
void out_bool(out *o, const char *key, int v);
void out_null(out *o, const char *key);
void out_time(out *o, const char *key, int64_t us);
void out_json(out *o, const char *key, const char *json, size_t n);  /* raw */
/* A whole event, every envelope field; ndjson adds schema_version when
 * the event has one. */
void out_event(out *o, const eg_event *e);
/* csv and table: give every event a schema_version column (null when it
 * has none), for a store that has schemas (cli_has_schemas). */
void out_event_schemas(out *o, int on);
/* csv and table: a tags column (ndjson shows "tags" when an event has some) */
void out_event_tags(out *o, int on);
/* Whether the store has any schema: events then carry schema_version. */
int cli_has_schemas(eg_store *st);
/* A whole session row of engram sessions. */
void out_session(out *o, const eg_session_row *r);
int out_error(const out *o);

/* Run the SQL statements on db (an eg_sql_open connection) and print the
 * rows of the last one, as engram sql does (Ctrl-C stops it, exit 130);
 * the exit code. */
struct sqlite3;
int cli_sql_run(struct sqlite3 *db, const char *sql, int format);

/* The commands' rows into an out the caller gives: the command prints
 * them on standard output, engram serve answers them (serve_query.c). */
struct sqlite3_stmt;
/* The rows of a statement as engram sql prints them; SQLite's code. */
int cli_sql_rows(struct sqlite3_stmt *s, out *o, int format);
/* Run the statements of sql in turn, writing to f the rows of each (all)
 * or of the last only: SQLITE_OK, the failing statement's SQLite code
 * (sqlite3_errmsg(db) says why), or -1 when f could not be written. */
int cli_sql_script(struct sqlite3 *db, const char *sql, FILE *f, int format, int all);
/* engram verify's, stats' row; streams' or types' rows (space:
 * EG_KEYS_STREAMS or EG_KEYS_TYPES), the library's code. */
void cli_verify_row(out *o, const eg_verify_result *v);
void cli_stats_row(out *o, const eg_stats *s);
int cli_keys_rows(eg_store *st, int space, out *o);
/* engram project's rows (key: one key, or NULL for all), or history's
 * (key required); the library's code. */
int cli_proj_rows(eg_proj *p, const char *key, const eg_proj_at *at, int history, out *o);
/* engram windows' table (or --changelog, --late rows) of a run, as
 * reported at position at (0: the head); the library's code. */
int cli_win_rows(eg_win *w, int changelog, int late, int include_open, uint64_t at, out *o);
/* engram funnel's row (ctx: the out), an eg_funnel_run callback. */
int cli_funnel_row(void *ctx, const eg_funnel_row *r);

/* ------------------------------------------------------------ commands */

int cmd_append(cli *c);
int cmd_read(cli *c);
int cmd_consume(cli *c);
int cmd_consumers(cli *c);
int cmd_head(cli *c);
int cmd_verify(cli *c);
int cmd_compact(cli *c);
int cmd_stats(cli *c);
int cmd_streams(cli *c);
int cmd_types(cli *c);
int cmd_reindex(cli *c);
int cmd_gen(cli *c);
int cmd_project(cli *c);
int cmd_windows(cli *c);
int cmd_metrics(cli *c);
int cmd_history(cli *c);
int cmd_sessions(cli *c);
int cmd_funnel(cli *c);
int cmd_errors(cli *c);
int cmd_specs(cli *c);
int cmd_backup(cli *c);
int cmd_sql(cli *c);
int cmd_schema(cli *c);
int cmd_quarantine(cli *c);
int cmd_features(cli *c);
int cmd_dataset(cli *c);
int cmd_serve(cli *c);
int cmd_kafka(cli *c);

/* --map NAME|FILE (append, kafka import): a built-in mapping by name, else
 * a mapping file.  NULL after printing why, with *rc the exit code (2 for
 * a bad mapping). */
eg_map *cli_load_map(const char *arg, int *rc);
int cmd_token(cli *c);
int cmd_proof(cli *c);
int cmd_forget(cli *c);

/* --explain of an engine that reads columns or the log (docs/STORAGE.md):
 * ,"path":…,"events_from_columns":…,"events_from_log":…[,"log_reason":…]
 * to f, for the caller's object to go on or close. */
void cli_explain_path(FILE *f, const char *path, const char *why, uint64_t from_columns,
		      uint64_t from_log);

#endif

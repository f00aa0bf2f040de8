/*
 * sql.c — engram sql: SQL over the store (docs/SQL.md).  Statements come
 * from the command line, a file (-f) or standard input, and the rows of the
 * last one are printed; with no query and a terminal on standard input it
 * is a shell that prints the rows of each.  The connection is eg_sql_open's:
 * the store's tables read-only, TEMP tables and views for scratch work.
 */
#include "cli.h"
#include "json.h"
#include "num.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>
#include <sqlite3.h>

#define EXIT_INTERRUPTED 130

/* Ctrl-C: the running statement stops (sqlite3_interrupt is safe to call
 * from a signal handler); a second one while it winds down kills. */
static sqlite3 *volatile running_db;
static volatile sig_atomic_t interrupted, prompt_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
	if (running_db)
		sqlite3_interrupt(running_db);
}

/* Is the rest of a script only spaces, semicolons and comments? */
static int script_done(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == ';')
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			if (!e)
				return 1;   /* an unclosed comment is still a comment */
			p = e + 2;
		} else {
			return *p == 0;
		}
	}
}

/* ------------------------------------------------------------- printing */

static void hex_blob(out *o, const char *key, const unsigned char *b, int n)
{
	char *s = malloc(2 * (size_t)n + 1);
	if (!s) {
		out_null(o, key);
		return;
	}
	for (int i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	out_str(o, key, s, 2 * (size_t)n);
	free(s);
}

/* A column value: integers stay integers, reals as the shortest decimal
 * that reads back as the same double, NULL is null; text is a string, except in ndjson the text
 * of a column declared JSON (events' data and meta) or of a JSON function,
 * which is written as the JSON it holds. */
static void put_value(out *o, int format, sqlite3_stmt *s, int i, const char *key, int json_col)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		out_i64(o, key, sqlite3_column_int64(s, i));
		break;
	case SQLITE_FLOAT: {
		/* The shortest text that reads back as the same double (SQLite's
		 * own text keeps 15 digits, and the commands print all). */
		double d = sqlite3_column_double(s, i);
		char t[64];
		if (isfinite(d))
			out_json(o, key, t, eg_num_format_double(d, t));
		else
			out_cstr(o, key, d > 0 ? "Infinity" : "-Infinity");
		break;
	}
	case SQLITE_TEXT: {
		const char *t = (const char *)sqlite3_column_text(s, i);
		size_t n = (size_t)sqlite3_column_bytes(s, i);
		sqlite3_value *v = sqlite3_column_value(s, i);
		json_err je;
		if (format == FMT_NDJSON && (json_col || sqlite3_value_subtype(v) == 'J') &&
		    eg_json_validate(t, n, &je) == 0)
			out_json(o, key, t, n);
		else
			out_str(o, key, t, n);
		break;
	}
	case SQLITE_BLOB:
		hex_blob(o, key, sqlite3_column_blob(s, i), sqlite3_column_bytes(s, i));
		break;
	default:
		out_null(o, key);
		break;
	}
}

int cli_sql_rows(sqlite3_stmt *s, out *o, int format)
{
	int n = sqlite3_column_count(s), rc;
	const char **names = calloc((size_t)n + 1, sizeof *names);
	int *json = calloc((size_t)n + 1, sizeof *json);
	if (!names || !json) {
		free(names);
		free(json);
		return SQLITE_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		names[i] = sqlite3_column_name(s, i);
		const char *t = sqlite3_column_decltype(s, i);
		json[i] = t && strstr(t, "JSON");
	}
	out_header(o, names, n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out_row_begin(o);
		for (int i = 0; i < n; i++)
			put_value(o, format, s, i, names[i], json[i]);
		out_row_end(o);
		if (out_error(o))
			break;
	}
	free(names);
	free(json);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* What failed, with a hint where SQLite's message alone leaves the user
 * stuck; the exit code. */
static int sql_error(sqlite3 *db, int rc)
{
	if (rc == SQLITE_INTERRUPT || interrupted) {
		cli_error("interrupted");
		return EXIT_INTERRUPTED;
	}
	cli_error("%s", sqlite3_errmsg(db));
	if (rc == SQLITE_AUTH || strstr(sqlite3_errmsg(db), "may not be modified"))
		fprintf(stderr, "engram: hint: the store's tables are read-only; CREATE TEMP TABLE "
			"or CREATE TEMP VIEW for scratch work\n");
	return EXIT_ERR;
}

int cli_sql_script(sqlite3 *db, const char *sql, FILE *f, int format, int all)
{
	const char *p = sql;
	int rc = SQLITE_OK;
	while (rc == SQLITE_OK && !script_done(p)) {
		sqlite3_stmt *s = NULL;
		const char *tail;
		if ((rc = eg_sql_prepare(db, p, -1, &s, &tail)) != SQLITE_OK || !s)
			break;
		p = tail;
		if ((all || script_done(p)) && sqlite3_column_count(s) > 0) {
			out *o = out_new(f, format);
			rc = cli_sql_rows(s, o, format);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
			if (rc != SQLITE_OK)
				out_failed(o);   /* no "0 rows" before the error */
			if (out_free(o) && rc == SQLITE_OK)
				rc = -1;
		} else {
			while ((rc = sqlite3_step(s)) == SQLITE_ROW)
				;
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
		sqlite3_finalize(s);
	}
	return rc;
}

/* cli_sql_script on standard output, Ctrl-C stopping it; the exit code,
 * after saying what failed (a failed statement stops the script: the
 * store is never written, so nothing of it stays but TEMP objects the
 * statements before it made). */
static int run_script(sqlite3 *db, const char *sql, int format, int all)
{
	interrupted = 0;
	running_db = db;
	errno = 0;
	int rc = cli_sql_script(db, sql, stdout, format, all), code = EXIT_OK;
	running_db = NULL;
	if (rc == -1) {
		cli_error("cannot write the output: %s", strerror(errno ? errno : EIO));
		code = EXIT_ERR;
	} else if (rc != SQLITE_OK) {
		code = sql_error(db, rc);
	}
	return code;
}

int cli_sql_run(struct sqlite3 *db, const char *sql, int format)
{
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	sigaction(SIGINT, &sa, &old);
	int rc = run_script(db, sql, format, 0);
	sigaction(SIGINT, &old, NULL);
	return rc;
}

/* ---------------------------------------------------------------- shell */

static const char *const HIDDEN_TEMP[] = {
	"projection", "history", "windows", "window_changelog", "dataset",
};

/* Is this TEMP table one engram sql declared for a spec-shaped function
 * (eg_sql_prepare: "projection", "projection 2", …), not the user's? */
static int declared(const char *name, const char *sql)
{
	for (size_t k = 0; k < sizeof HIDDEN_TEMP / sizeof *HIDDEN_TEMP; k++) {
		size_t n = strlen(HIDDEN_TEMP[k]);
		if (!strncmp(name, HIDDEN_TEMP[k], n) &&
		    (!name[n] || (name[n] == ' ' && strspn(name + n + 1, "0123456789") ==
				  strlen(name + n + 1))) &&
		    sql && !strncmp(sql, "CREATE VIRTUAL TABLE", 20))
			return 1;
	}
	return 0;
}

static void dot_tables(sqlite3 *db)
{
	const eg_sql_table *t;
	for (size_t i = 0; (t = eg_sql_table_at(i)); i++)
		printf("%s%s", i ? "  " : "", t->name);
	printf("\n");
	sqlite3_stmt *s;
	/* The user's TEMP tables and views, not the ones engram sql declares
	 * for spec-shaped functions. */
	if (sqlite3_prepare_v2(db, "SELECT name, type, sql FROM sqlite_temp_schema "
			       "WHERE type IN ('table','view') ORDER BY name", -1, &s, NULL))
		return;
	int first = 1;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		if (declared(name, (const char *)sqlite3_column_text(s, 2)))
			continue;
		printf("%stemp.%s", first ? "" : "  ", name);
		first = 0;
	}
	if (!first)
		printf("\n");
	sqlite3_finalize(s);
}

/* One engram table as SQL: its declared columns (its arguments are the
 * HIDDEN ones); a spec-shaped function, whose columns come from its spec,
 * as its signature. */
static void schema_of(sqlite3 *db, const eg_sql_table *t)
{
	sqlite3_stmt *s;
	char *cols = sqlite3_mprintf("%s", "");
	printf("-- %s\n", t->what);
	if (sqlite3_prepare_v2(db, "SELECT name, type, hidden FROM pragma_table_xinfo(?1)", -1, &s,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
		while (cols && sqlite3_step(s) == SQLITE_ROW) {
			const char *type = (const char *)sqlite3_column_text(s, 1);
			cols = sqlite3_mprintf("%z%s%s%s%s%s", cols, *cols ? ", " : "",
					       sqlite3_column_text(s, 0), type && *type ? " " : "",
					       type ? type : "", sqlite3_column_int(s, 2) ? " HIDDEN" : "");
		}
		sqlite3_finalize(s);
	}
	if (cols && *cols)
		printf("CREATE TABLE %s(%s);\n", t->name, cols);
	else
		printf("-- %s(%s): %s\n", t->name, t->args, t->columns);
	sqlite3_free(cols);
}

static void dot_schema(sqlite3 *db, const char *only)
{
	const eg_sql_table *t;
	for (size_t i = 0; (t = eg_sql_table_at(i)); i++)
		if (!only || !strcmp(only, t->name))
			schema_of(db, t);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_temp_schema WHERE sql IS NOT NULL "
			       "ORDER BY name", -1, &s, NULL))
		return;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		const char *sql = (const char *)sqlite3_column_text(s, 1);
		if ((!only || !strcmp(only, name)) && !declared(name, sql))
			printf("%s;\n", sql);
	}
	sqlite3_finalize(s);
}

static const char SHELL_HELP[] =
	".tables          the store's tables and functions, and your TEMP tables and views\n"
	".schema [NAME]   their columns (and arguments)\n"
	".help            this\n"
	".quit            leave (also .exit, or Ctrl-D)\n"
	"Statements end with ';' and may span lines.  Ctrl-C stops a running query.\n"
	"The tables, functions and examples: engram help sql, docs/SQL.md.\n";

/* A dot command; returns 1 to leave the shell. */
static int dot_command(sqlite3 *db, char *line)
{
	char *cmd = strtok(line, " \t"), *arg = strtok(NULL, " \t");
	if (!strcmp(cmd, ".quit") || !strcmp(cmd, ".exit"))
		return 1;
	if (!strcmp(cmd, ".tables"))
		dot_tables(db);
	else if (!strcmp(cmd, ".schema"))
		dot_schema(db, arg);
	else if (!strcmp(cmd, ".help"))
		fputs(SHELL_HELP, stdout);
	else
		printf("unknown command %s: .help lists them\n", cmd);
	return 0;
}

static char *history_path(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	size_t n = strlen(home) + 32;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/.engram_history", home);
	return p;
}

/* Ctrl-C at the prompt drops what was typed; during a statement it stops
 * the statement. */
static void on_sigint_shell(int sig)
{
	on_sigint(sig);
	if (!running_db) {
		prompt_interrupted = 1;
		fputs("\n", stdout);
		rl_set_prompt("engram> ");
		rl_replace_line("", 0);
		rl_on_new_line();
		rl_redisplay();
	}
}

static int shell(sqlite3 *db, int format)
{
	char *hist = history_path();
	if (hist)
		read_history(hist);
	struct sigaction sa = { .sa_handler = on_sigint_shell };
	sigaction(SIGINT, &sa, NULL);
	rl_catch_signals = 0;
	printf("engram %s SQL shell on SQLite %s.  .help for help, .quit to leave.\n", EG_VERSION,
	       sqlite3_libversion());
	char *buf = NULL;
	size_t len = 0;
	for (;;) {
		char *line = readline(len ? "   ...> " : "engram> ");
		if (prompt_interrupted) {
			/* Ctrl-C while typing dropped the line on screen; the lines of
			 * an unfinished statement before it go too. */
			prompt_interrupted = 0;
			len = 0;
		}
		if (!line) {
			printf("\n");
			break;
		}
		if (*line)
			add_history(line);
		if (!len && line[0] == '.') {
			int quit = dot_command(db, line);
			free(line);
			if (quit)
				break;
			continue;
		}
		size_t n = strlen(line);
		char *g = realloc(buf, len + n + 2);
		if (!g) {
			free(line);
			break;
		}
		buf = g;
		memcpy(buf + len, line, n);
		len += n;
		buf[len++] = '\n';
		buf[len] = 0;
		free(line);
		if (!sqlite3_complete(buf))
			continue;
		run_script(db, buf, format, 1);
		fflush(stdout);
		len = 0;
	}
	free(buf);
	if (hist) {
		write_history(hist);
		free(hist);
	}
	return EXIT_OK;
}

/* --------------------------------------------------------------- command */

int cmd_sql(cli *c)
{
	const char *file = NULL;
	opt opts[] = {
		{ "f", 1, &file, NULL }, { "file", 1, &file, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (file && c->npos)
		return cli_usage_error(c, "give a query or -f FILE, not both");
	char *text = NULL;
	int tty_shell = !file && !c->npos && isatty(STDIN_FILENO);
	if (file) {
		/* any size, not cli_slurp's: a script may be long */
		size_t len;
		FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
		text = f ? cli_read_file(f, SIZE_MAX, &len) : NULL;
		if (f && f != stdin)
			fclose(f);
		if (!text) {
			cli_error("-f %s: %s", file, strerror(errno));
			return EXIT_USAGE;
		}
	} else if (!c->npos && !tty_shell) {
		size_t len;
		if (!(text = cli_read_file(stdin, SIZE_MAX, &len))) {
			cli_error("reading standard input: %s", strerror(errno));
			return EXIT_ERR;
		}
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(text);
		return rc;
	}
	struct sqlite3 *db;
	int r = eg_sql_open(st, &db);
	if (r) {
		rc = cli_fail(st, r);
		cli_close(st, rc);
		free(text);
		return rc;
	}
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	sigaction(SIGINT, &sa, &old);
	if (tty_shell)
		rc = shell(db, c->format);
	else
		rc = run_script(db, c->npos ? c->pos[0] : text, c->format, 0);
	sigaction(SIGINT, &old, NULL);
	sqlite3_close(db);
	cli_close(st, rc);
	free(text);
	return rc;
}

/*
 * declare.c — before a statement is prepared, a table for each spec its
 * spec-shaped functions are called with: `projection('bank.json')` in the
 * SQL (a string literal as the first argument) makes
 * temp.projection with that spec's columns, which the call then reads; a
 * second spec of the same function in one statement gets temp."projection 2"
 * and its calls are renamed to it.  The
 * SQL is read with SQLite's own rules for comments, string literals and
 * quoted identifiers, so that a name inside them is not a call.
 */
#include "funcs.h"

#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------- the tokens */

enum { T_END, T_IDENT, T_QUOTED, T_STRING, T_PUNCT, T_OTHER };

typedef struct tok {
	int type;
	const char *p;
	size_t n;
} tok;

static int ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int ident_char(unsigned char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* Past spaces and comments: from -- to the end of the line, and
 * C-style ones, which may be left open at the end. */
static const char *skip_space(const char *p, const char *end)
{
	for (;;) {
		while (p < end && strchr(" \t\n\f\r", *p))
			p++;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			for (p += 2; p < end && !(end - p >= 2 && p[0] == '*' && p[1] == '/'); p++)
				;
			p = p < end ? p + 2 : end;
		} else {
			return p;
		}
	}
}

/* Past a quoted run opened at p and closed by close; a doubled close
 * quote is part of it, except in [brackets], which have no escape. */
static const char *skip_quoted(const char *p, const char *end, char close)
{
	for (p++; p < end; p++) {
		if (*p != close)
			continue;
		if (close == ']' || end - p < 2 || p[1] != close)
			return p + 1;
		p++;
	}
	return end;
}

static tok next_token(const char **pp, const char *end)
{
	const char *p = skip_space(*pp, end), *q = p + 1;
	tok t = { T_OTHER, p, 0 };
	if (p >= end) {
		t.type = T_END;
		*pp = p;
		return t;
	}
	unsigned char c = (unsigned char)*p;
	if (c == '\'') {
		t.type = T_STRING;
		q = skip_quoted(p, end, '\'');
	} else if (c == '"' || c == '`' || c == '[') {
		t.type = T_QUOTED;
		q = skip_quoted(p, end, c == '[' ? ']' : (char)c);
	} else if (ident_start(c)) {
		t.type = T_IDENT;
	} else if (!strchr("?:@$0123456789", c)) {
		t.type = T_PUNCT;        /* one character: ( ) , ; . and operators */
		q = p + 1;
	}
	if (t.type == T_IDENT || t.type == T_OTHER)    /* names, numbers, parameters */
		while (q < end && (ident_char((unsigned char)*q) || (t.type == T_OTHER && *q == '.')))
			q++;
	t.n = (size_t)(q - p);
	*pp = q;
	return t;
}

static int is_punct(const tok *t, char c)
{
	return t->type == T_PUNCT && *t->p == c;
}

static int is_word(const tok *t, const char *w)
{
	return t->type == T_IDENT && t->n == strlen(w) && !strncasecmp(t->p, w, t->n);
}

/* ------------------------------------------------------------ the calls */

#define MAX_CALLS 32
#define MAX_SPECS 16

/* The functions whose tables are shaped by their first argument: the
 * spec-shaped ones of funcs.c, and dataset(NAME) (dsettab.c). */
static const char *shaped_fn(const tok *t)
{
	const eg_fn_def *d;
	for (size_t i = 0; (d = eg_fn_def_at(i)); i++)
		if (d->spec && is_word(t, d->name))
			return d->name;
	return is_word(t, "dataset") ? "dataset" : NULL;
}

/* The calls of the first statement: each call's name token, and the
 * distinct (function, literal) pairs, numbered within their function
 * (0: the table named as the function; k: "NAME k+1"). */
typedef struct call {
	tok name;
	int spec;
} call;

typedef struct spec_lit {
	const char *fn;
	tok lit;
	int k;
} spec_lit;

typedef struct calls {
	call call[MAX_CALLS];
	int ncalls;
	spec_lit spec[MAX_SPECS];
	int nspecs;
} calls;

/* After a name: "( 'literal'" then "," or ")"; the literal, or T_END. */
static tok literal_arg(const char *p, const char *end)
{
	tok none = { T_END, NULL, 0 };
	tok open = next_token(&p, end);
	tok lit = next_token(&p, end);
	tok after = next_token(&p, end);
	if (!is_punct(&open, '(') || lit.type != T_STRING || !(is_punct(&after, ',') ||
							    is_punct(&after, ')')))
		return none;
	return lit;
}

static void note_call(calls *k, const char *fn, tok name, tok lit)
{
	int i = 0, same_fn = 0;
	for (; i < k->nspecs; i++) {
		if (k->spec[i].fn != fn)
			continue;
		same_fn++;
		if (lit.n == k->spec[i].lit.n && !memcmp(lit.p, k->spec[i].lit.p, lit.n))
			break;
	}
	if (i == k->nspecs) {
		if (k->nspecs == MAX_SPECS)
			return;
		k->spec[k->nspecs++] = (spec_lit){ fn, lit, same_fn };
	}
	if (k->ncalls < MAX_CALLS)
		k->call[k->ncalls++] = (call){ name, i };
}

/* The calls of the first statement of sql (up to a ';'): a name not
 * qualified (temp.projection is a table the user means) and not the
 * module of CREATE VIRTUAL TABLE … USING projection('…'). */
static void find_calls(const char *p, const char *end, calls *k)
{
	tok prev = { T_END, NULL, 0 }, t;
	while ((t = next_token(&p, end)).type != T_END && !is_punct(&t, ';')) {
		const char *fn = shaped_fn(&t);
		if (fn && !is_punct(&prev, '.') && !is_word(&prev, "using")) {
			tok lit = literal_arg(p, end);
			if (lit.type == T_STRING)
				note_call(k, fn, t, lit);
		}
		prev = t;
	}
}

/* The table of a spec: the function's name for the first, "NAME k+1"
 * for the others. */
static char *table_name(const char *fn, int k)
{
	return k ? sqlite3_mprintf("%s %d", fn, k + 1) : sqlite3_mprintf("%s", fn);
}

/* Make temp.TABLE for the spec (the literal as written, which is the
 * module's argument).  A table in use by a running statement cannot be
 * dropped: it stays, and a call with another spec says so when it runs. */
static int declare_one(sqlite3 *db, const char *fn, int k, const tok *lit)
{
	char *name = table_name(fn, k);
	char *sql = name ? sqlite3_mprintf("DROP TABLE IF EXISTS temp.\"%w\"", name) : NULL;
	int rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc == SQLITE_OK) {
		sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING %s(%.*s)", name, fn,
				      (int)lit->n, lit->p);
		rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
	} else if (rc == SQLITE_LOCKED) {
		rc = SQLITE_OK;
	}
	sqlite3_free(name);
	return rc;
}

/* The first statement with each call of a spec after its function's
 * first renamed to its own table; the rest of sql as it is. */
static char *rewrite(const char *sql, const char *end, const calls *k)
{
	sqlite3_str *s = sqlite3_str_new(NULL);
	const char *p = sql;
	for (int i = 0; i < k->ncalls; i++) {
		int j = k->call[i].spec;
		if (!k->spec[j].k)
			continue;
		const tok *t = &k->call[i].name;
		sqlite3_str_append(s, p, (int)(t->p - p));
		sqlite3_str_appendf(s, "\"%s %d\"", k->spec[j].fn, k->spec[j].k + 1);
		p = t->p + t->n;
	}
	sqlite3_str_append(s, p, (int)(end - p));
	return sqlite3_str_finish(s);
}

int eg_sql_declare(sqlite3 *db, const char *sql, int n, char **out, int *shift)
{
	calls k = { 0 };
	if (out)
		*out = NULL;
	if (!sql)
		return SQLITE_OK;
	const char *end = sql + (n < 0 ? strlen(sql) : (size_t)n);
	find_calls(sql, end, &k);
	int renamed = 0;
	for (int i = 0; i < k.nspecs; i++) {
		int rc = declare_one(db, k.spec[i].fn, k.spec[i].k, &k.spec[i].lit);
		if (rc != SQLITE_OK)
			return rc;
		renamed |= k.spec[i].k > 0;
	}
	if (!renamed || !out)
		return SQLITE_OK;
	if (!(*out = rewrite(sql, end, &k)))
		return SQLITE_NOMEM;
	*shift = (int)strlen(*out) - (int)(end - sql);
	return SQLITE_OK;
}

/*
 * declare.c — before a statement is prepared, a table for each spec its
 * spec-shaped functions are called with: `projection('bank.json')` in the
 * SQL (a string literal as the first argument) makes
 * temp.projection with that spec's columns, which the call then reads.  The
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

#define MAX_SPEC_FNS 8

/* The spec each spec-shaped function is called with, as its literal's
 * text (quotes and all); a second, different one goes to conflict. */
typedef struct calls {
	const eg_fn_def *def[MAX_SPEC_FNS];
	tok spec[MAX_SPEC_FNS], conflict[MAX_SPEC_FNS];
	int n;
} calls;

/* The spec-shaped function an identifier names, or NULL. */
static const eg_fn_def *spec_fn(const tok *t)
{
	const eg_fn_def *d;
	for (size_t i = 0; (d = eg_fn_def_at(i)); i++)
		if (d->spec && is_word(t, d->name))
			return d;
	return NULL;
}

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

static void note_call(calls *k, const eg_fn_def *d, tok lit)
{
	int i = 0;
	while (i < k->n && k->def[i] != d)
		i++;
	if (i == k->n) {
		if (k->n == MAX_SPEC_FNS)
			return;
		k->def[k->n] = d;
		k->spec[k->n++] = lit;
	} else if ((lit.n != k->spec[i].n || memcmp(lit.p, k->spec[i].p, lit.n)) &&
		   !k->conflict[i].p) {
		k->conflict[i] = lit;
	}
}

/* The calls of the first statement of sql (up to a ';'): a name not
 * qualified (temp.projection is a table the user means) and not the
 * module of CREATE VIRTUAL TABLE … USING projection('…'). */
static void find_calls(const char *p, const char *end, calls *k)
{
	tok prev = { T_END, NULL, 0 }, t;
	while ((t = next_token(&p, end)).type != T_END && !is_punct(&t, ';')) {
		const eg_fn_def *d = spec_fn(&t);
		if (d && !is_punct(&prev, '.') && !is_word(&prev, "using")) {
			tok lit = literal_arg(p, end);
			if (lit.type == T_STRING)
				note_call(k, d, lit);
		}
		prev = t;
	}
}

/* Make temp.NAME for the spec (the literal as written, which is the
 * module's argument).  A table in use by a running statement cannot be
 * dropped: it stays, and a call with another spec says so when it runs. */
static int declare_one(sqlite3 *db, const eg_fn_def *d, const tok *spec, const tok *conflict)
{
	char *sql = sqlite3_mprintf("DROP TABLE IF EXISTS temp.\"%w\"", d->name);
	if (!sql)
		return SQLITE_NOMEM;
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (rc == SQLITE_LOCKED && !conflict->p)
		return SQLITE_OK;
	if (rc != SQLITE_OK)
		return rc;
	/* Two literals are two arguments: the module's error for them says
	 * how to use both (spectab.c). */
	sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING %s(%.*s%s%.*s)", d->name,
			      d->name, (int)spec->n, spec->p, conflict->p ? ", " : "",
			      (int)conflict->n, conflict->p ? conflict->p : "");
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	return rc;
}

int eg_sql_declare(sqlite3 *db, const char *sql, int n)
{
	calls k = { 0 };
	if (!sql)
		return SQLITE_OK;
	find_calls(sql, sql + (n < 0 ? strlen(sql) : (size_t)n), &k);
	for (int i = 0; i < k.n; i++) {
		int rc = declare_one(db, k.def[i], &k.spec[i], &k.conflict[i]);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/*
 * dataset.c — building a dataset (docs/DATASETS.md): the spec, the base
 * query run once over the store with every filter as a column beside it,
 * and the kept table written aside and renamed into DIR/datasets/NAME/
 * through the derived-state module (dset.h has its format).
 */
#include "dset.h"
#include "sql.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "chain.h"
#include "internal.h"
#include "itab.h"
#include "json.h"
#include "os.h"
#include "timefmt.h"

#define MAX_FILTERS 64
#define MAX_COLS 4096

/* ------------------------------------------------------------ the spec */

typedef struct dspec {
	char *name, *key, *base;          /* base: the SQL, shorthands made SQL */
	size_t nfilters;
	struct { char *name, *sql, *why; } f[MAX_FILTERS];
	char **output;
	size_t noutput, capoutput;
	int distinct;
} dspec;

static void dspec_free(dspec *s)
{
	free(s->name);
	free(s->key);
	free(s->base);
	for (size_t i = 0; i < s->nfilters; i++) {
		free(s->f[i].name);
		free(s->f[i].sql);
		free(s->f[i].why);
	}
	for (size_t i = 0; i < s->noutput; i++)
		free(s->output[i]);
	free(s->output);
}

typedef struct perr {
	eg_store *st;
	const char *label;
} perr;

static int spec_err(const perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int spec_err(const perr *e, const char *fmt, ...)
{
	char m[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return eg_st_err(e->st, EG_EINVAL, "%s: %s", e->label, m);
}

/* A JSON string member as a new C string (no NUL inside), or an error. */
static int want_string(const perr *e, const json_span *v, const char *where, char **out)
{
	size_t n;
	if (v->type != JSON_STRING)
		return spec_err(e, "%s: expected a string", where);
	if (!(*out = eg_json_string_dup(v, &n)))
		return EG_ENOMEM;
	if (strlen(*out) != n)
		return spec_err(e, "%s: the string holds a NUL byte", where);
	return EG_OK;
}

static int is_ident(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return 0;
	return 1;
}

/* SQL text of a string or a list of strings: = 'x' or IN ('x', 'y'). */
static int sql_in(const perr *e, buf *b, const char *col, const json_span *v, const char *where)
{
	json_span x;
	json_arr a;
	int n = 0;
	if (v->type == JSON_STRING) {
		char *s;
		int rc = want_string(e, v, where, &s);
		if (rc)
			return rc;
		char *q = sqlite3_mprintf(" AND %s = %Q", col, s);
		free(s);
		rc = q ? buf_puts(b, q) : -1;
		sqlite3_free(q);
		return rc ? EG_ENOMEM : EG_OK;
	}
	if (v->type != JSON_ARRAY)
		return spec_err(e, "%s: expected a string or a list of strings", where);
	if (buf_puts(b, " AND ") || buf_puts(b, col) || buf_puts(b, " IN ("))
		return EG_ENOMEM;
	eg_json_arr_begin(&a, v);
	while (eg_json_arr_next(&a, &x) == 1) {
		char *s;
		int rc = want_string(e, &x, where, &s);
		if (rc)
			return rc;
		char *q = sqlite3_mprintf("%s%Q", n++ ? ", " : "", s);
		free(s);
		rc = q ? buf_puts(b, q) : -1;
		sqlite3_free(q);
		if (rc)
			return EG_ENOMEM;
	}
	if (!n)
		return spec_err(e, "%s: the list is empty", where);
	return buf_puts(b, ")") ? EG_ENOMEM : EG_OK;
}

/* {"events": {"stream", "type", "since", "until", "kind"}}: the events
 * table, as engram read filters it. */
static int events_sql(const perr *e, const json_span *v, char **out)
{
	static const char *const names[] = { "stream", "type", "kind", "since", "until" };
	buf b = { 0 };
	json_obj it;
	json_span k, x;
	int r, rc = EG_OK;
	if (v->type != JSON_OBJECT)
		return spec_err(e, "$.base.events: expected an object of filters (stream, type, "
				"kind, since, until)");
	if (buf_puts(&b, "SELECT pos, id, stream, version, type, kind, time, recorded, actor, "
		     "session, data, meta FROM events WHERE 1"))
		return EG_ENOMEM;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (!rc && (r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		int i = eg_json_string_index(&k, names, 5);
		char where[64];
		snprintf(where, sizeof where, "$.base.events.%s", i >= 0 ? names[i] : "?");
		if (i < 0) {
			char *kn = eg_json_string_dup(&k, NULL);
			rc = spec_err(e, "$.base.events.%s: unknown member (expected stream, type, "
				      "kind, since or until)", kn ? kn : "?");
			free(kn);
		} else if (i <= 2) {
			rc = sql_in(e, &b, names[i], &x, where);
		} else {
			char *t;
			int64_t us;
			if ((rc = want_string(e, &x, where, &t)))
				break;
			if (eg_time_parse(t, strlen(t), &us))
				rc = spec_err(e, "%s: expected an RFC 3339 time, a date or epoch "
					      "milliseconds, got '%s'", where, t);
			else if (buf_puts(&b, i == 3 ? " AND time_us >= " : " AND time_us <= "))
				rc = EG_ENOMEM;
			else {
				char n[32];
				snprintf(n, sizeof n, "%lld", (long long)us);
				rc = buf_puts(&b, n) ? EG_ENOMEM : EG_OK;
			}
			free(t);
		}
	}
	if (!rc && buf_puts(&b, " ORDER BY pos"))
		rc = EG_ENOMEM;
	if (!rc && buf_add(&b, "", 1))
		rc = EG_ENOMEM;
	if (rc) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	return EG_OK;
}

static int base_sql(const perr *e, const json_span *v, char **out)
{
	if (v->type == JSON_STRING)
		return want_string(e, v, "$.base", out);
	json_span x;
	if (v->type == JSON_OBJECT && eg_json_member(v, "projection", 10, &x) == 1) {
		char *file;
		int rc = want_string(e, &x, "$.base.projection", &file);
		if (rc)
			return rc;
		char *q = sqlite3_mprintf("SELECT * FROM projection(%Q)", file);
		free(file);
		*out = q ? strdup(q) : NULL;
		sqlite3_free(q);
		return *out ? EG_OK : EG_ENOMEM;
	}
	if (v->type == JSON_OBJECT && eg_json_member(v, "events", 6, &x) == 1)
		return events_sql(e, &x, out);
	return spec_err(e, "$.base: expected SQL text, {\"projection\": FILE} or "
			"{\"events\": {…filters…}}");
}

static int parse_filter(const perr *e, dspec *s, size_t i, const json_span *v)
{
	static const char *const names[] = { "name", "sql", "why" };
	char where[64];
	json_obj it;
	json_span k, x;
	int r, rc = EG_OK;
	if (v->type != JSON_OBJECT)
		return spec_err(e, "$.filters[%zu]: expected an object {\"name\", \"sql\", \"why\"}", i);
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (!rc && (r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		int m = eg_json_string_index(&k, names, 3);
		if (m < 0) {
			char *kn = eg_json_string_dup(&k, NULL);
			rc = spec_err(e, "$.filters[%zu].%s: unknown member (expected name, sql, why)",
				      i, kn ? kn : "?");
			free(kn);
			break;
		}
		char **dst = m == 0 ? &s->f[i].name : m == 1 ? &s->f[i].sql : &s->f[i].why;
		snprintf(where, sizeof where, "$.filters[%zu].%s", i, names[m]);
		free(*dst);
		*dst = NULL;
		rc = want_string(e, &x, where, dst);
	}
	if (rc)
		return rc;
	if (!s->f[i].name)
		return spec_err(e, "$.filters[%zu]: the name is missing", i);
	if (!is_ident(s->f[i].name))
		return spec_err(e, "$.filters[%zu].name: '%s' is not a name (letters, digits and "
				"'_', not starting with a digit: it names the column f_%s)", i,
				s->f[i].name, s->f[i].name);
	for (size_t j = 0; j < i; j++)
		if (!strcasecmp(s->f[j].name, s->f[i].name))   /* as SQL's column names */
			return spec_err(e, "$.filters[%zu].name: '%s' is the name of filter %zu too: "
					"filter names must differ", i, s->f[i].name, j);
	if (!s->f[i].sql)
		return spec_err(e, "$.filters[%zu] (%s): the sql expression is missing", i,
				s->f[i].name);
	if (!s->f[i].sql[strspn(s->f[i].sql, " \t\r\n")])
		return spec_err(e, "$.filters[%zu] (%s): the sql expression is empty", i,
				s->f[i].name);
	if (!s->f[i].why) {
		char *q = sqlite3_mprintf("fails %s: %s", s->f[i].name, s->f[i].sql);
		s->f[i].why = q ? strdup(q) : NULL;
		sqlite3_free(q);
		if (!s->f[i].why)
			return EG_ENOMEM;
	}
	return EG_OK;
}

static int parse_spec(const perr *e, const char *json, size_t n, dspec *s)
{
	static const char *const names[] = { "name", "key", "base", "filters", "output", "distinct" };
	json_err je;
	json_obj it;
	json_span k, v;
	int r, rc = EG_OK, seen = 0;
	memset(s, 0, sizeof *s);
	if (eg_json_validate(json, n, &je))
		return spec_err(e, "not JSON at byte %zu: %s", je.off, je.what);
	if (eg_json_obj_begin(&it, json, n, NULL))
		return spec_err(e, "expected a JSON object (name, key, base, filters, output, "
				"distinct)");
	while (!rc && (r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		int m = eg_json_string_index(&k, names, 6);
		if (m < 0) {
			char *kn = eg_json_string_dup(&k, NULL);
			rc = spec_err(e, "$.%s: unknown member (expected name, key, base, filters, "
				      "output, distinct)", kn ? kn : "?");
			free(kn);
			break;
		}
		seen |= 1 << m;
		/* a member given twice: the last wins, as in a filter */
		char **str = m == 0 ? &s->name : m == 1 ? &s->key : m == 2 ? &s->base : NULL;
		if (str) {
			free(*str);
			*str = NULL;
		}
		switch (m) {
		case 0:
			if ((rc = want_string(e, &v, "$.name", &s->name)))
				break;
			const char *bad = dset_name_error(s->name);
			if (bad)
				rc = spec_err(e, "$.name: '%s' %s", s->name, bad);
			break;
		case 1:
			rc = want_string(e, &v, "$.key", &s->key);
			break;
		case 2:
			rc = base_sql(e, &v, &s->base);
			break;
		case 3: {
			json_arr a;
			json_span x;
			if (v.type != JSON_ARRAY) {
				rc = spec_err(e, "$.filters: expected a list of {\"name\", \"sql\", "
					      "\"why\"}");
				break;
			}
			for (; s->nfilters; s->nfilters--) {   /* given twice: the last wins */
				free(s->f[s->nfilters - 1].name);
				free(s->f[s->nfilters - 1].sql);
				free(s->f[s->nfilters - 1].why);
				memset(&s->f[s->nfilters - 1], 0, sizeof s->f[0]);
			}
			eg_json_arr_begin(&a, &v);
			while (!rc && eg_json_arr_next(&a, &x) == 1) {
				if (s->nfilters == MAX_FILTERS) {
					rc = spec_err(e, "$.filters: more than %d filters",
						      MAX_FILTERS);
					break;
				}
				rc = parse_filter(e, s, s->nfilters++, &x);
			}
			break;
		}
		case 4: {
			json_arr a;
			json_span x;
			if (v.type != JSON_ARRAY) {
				rc = spec_err(e, "$.output: expected a list of column names");
				break;
			}
			for (; s->noutput; s->noutput--)        /* given twice: the last wins */
				free(s->output[s->noutput - 1]);
			eg_json_arr_begin(&a, &v);
			while (!rc && eg_json_arr_next(&a, &x) == 1) {
				if (buf_grow(&s->output, &s->capoutput, s->noutput + 1,
					     sizeof *s->output)) {
					rc = EG_ENOMEM;
					break;
				}
				char where[32];
				snprintf(where, sizeof where, "$.output[%zu]", s->noutput);
				s->output[s->noutput] = NULL;
				rc = want_string(e, &x, where, &s->output[s->noutput]);
				if (!rc)
					s->noutput++;
			}
			if (!rc && !s->noutput)
				rc = spec_err(e, "$.output: the list is empty");
			break;
		}
		case 5:
			if (v.type != JSON_TRUE && v.type != JSON_FALSE)
				rc = spec_err(e, "$.distinct: expected true or false");
			s->distinct = v.type == JSON_TRUE;
			break;
		}
	}
	if (rc)
		return rc;
	if (!(seen & 1))
		return spec_err(e, "$.name is required: the dataset is kept under "
				"DIR/datasets/NAME/");
	if (!(seen & 2))
		return spec_err(e, "$.key is required: the base column that names the key "
				"(explain counts keys, why takes one)");
	if (!(seen & 4))
		return spec_err(e, "$.base is required: SQL text, {\"projection\": FILE} or "
				"{\"events\": {…}}");
	return EG_OK;
}

/* ------------------------------------------------------------ the SQL */

/* The SQL text without spaces and semicolons at its end. */
static char *trimmed(const char *s)
{
	size_t n = strlen(s);
	while (n && strchr(" \t\r\n;", s[n - 1]))
		n--;
	char *t = malloc(n + 1);
	if (t) {
		memcpy(t, s, n);
		t[n] = 0;
	}
	return t;
}

typedef struct reads_ctx {
	char **cols;
	size_t ncols;
	uint64_t read;                    /* bit per column, up to 64 … */
	unsigned char *readv;             /* … and a byte per column beyond */
} reads_ctx;

/* The columns of temp."dataset base" a filter reads: SQLite asks the
 * authorizer for each column a statement reads. */
static int note_reads(void *ctx, int action, const char *a, const char *b, const char *db,
		      const char *trigger)
{
	reads_ctx *k = ctx;
	if (action == SQLITE_READ && a && b && !strcmp(a, "dataset base"))
		for (size_t i = 0; i < k->ncols; i++)
			if (!sqlite3_stricmp(k->cols[i], b))
				k->readv[i] = 1;
	return eg_sql_authorize(NULL, action, a, b, db, trigger);
}

/* Prepare sql on db, or set the store's error "what: SQLite's message". */
static int prepare(eg_store *st, sqlite3 *db, const char *sql, sqlite3_stmt **s,
		   const char *what)
{
	const char *tail = NULL;
	int rc = eg_sql_prepare(db, sql, -1, s, &tail);
	if (rc == SQLITE_NOMEM)
		return EG_ENOMEM;
	if (rc != SQLITE_OK)
		return eg_st_err(st, EG_EINVAL, "%s: %s", what, sqlite3_errmsg(db));
	if (!*s)
		return eg_st_err(st, EG_EINVAL, "%s: no SQL", what);
	if (tail && tail[strspn(tail, " \t\r\n;")]) {
		sqlite3_finalize(*s);
		*s = NULL;
		return eg_st_err(st, EG_EINVAL, "%s: one statement or expression only, but it "
				 "goes on after a ';'", what);
	}
	return EG_OK;
}

/* What the build knows of the base and the filters. */
typedef struct plan {
	char **cols;
	size_t ncols, key_col;
	size_t output[MAX_COLS];
	size_t noutput;
	size_t *reads[MAX_FILTERS], nreads[MAX_FILTERS];
} plan;

static void plan_free(plan *p)
{
	for (size_t i = 0; i < p->ncols; i++)
		free(p->cols[i]);
	free(p->cols);
	for (size_t i = 0; i < MAX_FILTERS; i++)
		free(p->reads[i]);
}

static long col_index(const plan *p, const char *name)
{
	for (size_t i = 0; i < p->ncols; i++)
		if (!strcmp(p->cols[i], name))
			return (long)i;
	return -1;
}

/* "a, b, c": the base's columns for a message. */
static char *col_list(const plan *p)
{
	sqlite3_str *s = sqlite3_str_new(NULL);
	for (size_t i = 0; i < p->ncols; i++)
		sqlite3_str_appendf(s, "%s%s", i ? ", " : "", p->cols[i]);
	return sqlite3_str_finish(s);
}

static int missing_col(eg_store *st, const plan *p, const char *what, const char *name)
{
	char *l = col_list(p);
	int rc = eg_st_err(st, EG_EINVAL, "%s: the base has no column '%s' (its columns: %s)",
			   what, name, l ? l : "?");
	sqlite3_free(l);
	return rc;
}

/* The base's columns (names unique, none a flag's), the key and output
 * columns, and what each filter reads; every error named. */
static int plan_build(eg_store *st, const char *label, sqlite3 *db, const dspec *s,
		      const char *base, plan *p)
{
	sqlite3_stmt *q = NULL;
	char what[256];
	snprintf(what, sizeof what, "%s: base", label);
	/* the base alone first: a column named twice would be renamed "k:1"
	 * by the subquery the build wraps it in */
	int rc = prepare(st, db, base, &q, what);
	if (rc)
		return rc;
	int n = sqlite3_column_count(q);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			if (!sqlite3_stricmp(sqlite3_column_name(q, i), sqlite3_column_name(q, j))) {
				rc = eg_st_err(st, EG_EINVAL, "%s: two columns are named '%s': name "
					       "them apart with AS", what, sqlite3_column_name(q, i));
				sqlite3_finalize(q);
				return rc;
			}
	if (!n) {
		sqlite3_finalize(q);
		return eg_st_err(st, EG_EINVAL, "%s: a query that returns rows is needed", what);
	}
	sqlite3_finalize(q);
	char *sql = sqlite3_mprintf("SELECT * FROM (\n%s\n)", base);
	rc = sql ? prepare(st, db, sql, &q, what) : EG_ENOMEM;
	sqlite3_free(sql);
	if (rc)
		return rc;
	n = sqlite3_column_count(q);
	if (n > MAX_COLS) {
		sqlite3_finalize(q);
		return eg_st_err(st, EG_EINVAL, "%s: %d columns, at most %d", what, n, MAX_COLS);
	}
	p->cols = calloc((size_t)n + 1, sizeof *p->cols);
	for (int i = 0; p->cols && i < n; i++, p->ncols++)
		if (!(p->cols[i] = strdup(sqlite3_column_name(q, i))))
			break;
	sqlite3_finalize(q);
	if (!p->cols || p->ncols < (size_t)n)
		return EG_ENOMEM;
	for (size_t i = 0; i < p->ncols; i++) {
		int flag = !sqlite3_stricmp(p->cols[i], "keep");
		for (size_t f = 0; f < s->nfilters && !flag; f++)
			flag = !strncasecmp(p->cols[i], "f_", 2) &&
			       !sqlite3_stricmp(p->cols[i] + 2, s->f[f].name);
		if (flag)
			return eg_st_err(st, EG_EINVAL, "%s: the column '%s' has the name of a "
					 "column the dataset adds (keep, f_FILTER): rename it with "
					 "AS", what, p->cols[i]);
	}
	long k = col_index(p, s->key);
	snprintf(what, sizeof what, "%s: $.key", label);
	if (k < 0)
		return missing_col(st, p, what, s->key);
	p->key_col = (size_t)k;
	for (size_t i = 0; i < s->noutput; i++) {
		long c = col_index(p, s->output[i]);
		snprintf(what, sizeof what, "%s: $.output[%zu]", label, i);
		if (c < 0)
			return missing_col(st, p, what, s->output[i]);
		p->output[p->noutput++] = (size_t)c;
	}
	if (!s->noutput)
		p->output[p->noutput++] = p->key_col;

	/* each filter alone over an empty table of the base's columns: its
	 * errors name it, and the authorizer tells the columns it reads */
	sqlite3_str *t = sqlite3_str_new(NULL);
	sqlite3_str_appendall(t, "CREATE TEMP TABLE \"dataset base\"(");
	for (size_t i = 0; i < p->ncols; i++)
		sqlite3_str_appendf(t, "%s\"%w\"", i ? ", " : "", p->cols[i]);
	sqlite3_str_appendall(t, ")");
	char *create = sqlite3_str_finish(t);
	if (!create)
		return EG_ENOMEM;
	sqlite3_exec(db, "DROP TABLE IF EXISTS temp.\"dataset base\"", NULL, NULL, NULL);
	if (sqlite3_exec(db, create, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_free(create);
		return eg_st_err(st, EG_EIO, "cannot check the filters: %s", sqlite3_errmsg(db));
	}
	sqlite3_free(create);
	reads_ctx rk = { p->cols, p->ncols, 0, calloc(p->ncols, 1) };
	if (!rk.readv)
		return EG_ENOMEM;
	for (size_t f = 0; f < s->nfilters && !rc; f++) {
		snprintf(what, sizeof what, "%s: filter '%s'", label, s->f[f].name);
		char *fs = sqlite3_mprintf("SELECT (%s) FROM temp.\"dataset base\"", s->f[f].sql);
		memset(rk.readv, 0, p->ncols);
		sqlite3_set_authorizer(db, note_reads, &rk);
		rc = fs ? prepare(st, db, fs, &q, what) : EG_ENOMEM;
		sqlite3_set_authorizer(db, eg_sql_authorize, NULL);
		sqlite3_free(fs);
		if (rc)
			break;
		/* one value per row: one expression, and no aggregate (which
		 * would fold the base into one row: it gives a row of an empty
		 * table) */
		int cols = sqlite3_column_count(q), step = sqlite3_step(q);
		sqlite3_finalize(q);
		if (cols != 1) {
			rc = eg_st_err(st, EG_EINVAL, "%s: one expression, not %d", what, cols);
			break;
		}
		if (step == SQLITE_ROW) {
			rc = eg_st_err(st, EG_EINVAL, "%s: an aggregate (count, sum, max, …) folds the "
				       "base's rows into one; a filter is a condition on each row (an "
				       "aggregate belongs in the base, as a column)", what);
			break;
		}
		p->reads[f] = calloc(p->ncols + 1, sizeof *p->reads[f]);
		if (!p->reads[f]) {
			rc = EG_ENOMEM;
			break;
		}
		for (size_t c = 0; c < p->ncols; c++)
			if (rk.readv[c])
				p->reads[f][p->nreads[f]++] = c;
	}
	free(rk.readv);
	sqlite3_exec(db, "DROP TABLE IF EXISTS temp.\"dataset base\"", NULL, NULL, NULL);
	return rc;
}

/* ------------------------------------------------------------ the file */

typedef struct wfile {
	eg_ds_wr w;
	buf vals;                         /* values not yet written */
	uint64_t values_len;
	uint64_t *rowoff;
	size_t nrow, caprow;
	uint64_t *pass[MAX_FILTERS], *nul[MAX_FILTERS], *keep;
	size_t words, capwords;
	uint32_t *keyid;
	size_t capkey;
	itab keys, finals;
	uint64_t *keyfirst;
	size_t capfirst;
	unsigned char *key_kept;          /* per key: has a kept row */
	size_t capkk;
	buf out;                          /* a kept row's output values */
	buf key;                          /* a real key as the integer it equals */
	uint64_t kept_rows, kept_keys;
} wfile;

static void wfile_free(wfile *f, size_t nfilters)
{
	free(f->vals.p);
	free(f->rowoff);
	for (size_t i = 0; i < nfilters; i++) {
		free(f->pass[i]);
		free(f->nul[i]);
	}
	free(f->keep);
	free(f->keyid);
	free(f->keyfirst);
	free(f->key_kept);
	free(f->out.p);
	free(f->key.p);
	eg_itab_free(&f->keys);
	eg_itab_free(&f->finals);
}

#define FLUSH_AT (1u << 20)

static void flush_vals(wfile *f)
{
	eg_ds_wr_put(&f->w, f->vals.p, f->vals.n, 1);
	f->values_len += f->vals.n;
	f->vals.n = 0;
}

static void put_u64(buf *b, uint64_t v, int *err) { *err |= buf_add(b, &v, 8); }
static void put_u32(buf *b, uint32_t v, int *err) { *err |= buf_add(b, &v, 4); }
static void put_str(buf *b, const char *s, int *err)
{
	put_u32(b, (uint32_t)strlen(s), err);
	*err |= buf_add(b, s, strlen(s));
}

/* Add one row of the build statement: ncols values, then a column per
 * filter.  -1 out of memory. */
static int add_row(wfile *f, sqlite3_stmt *q, const plan *p, size_t nfilters, int distinct)
{
	size_t r = f->nrow;
	if (buf_grow(&f->rowoff, &f->caprow, r + 2, sizeof *f->rowoff) ||
	    buf_grow(&f->keyid, &f->capkey, r + 1, sizeof *f->keyid))
		return -1;
	if (r / 64 + 1 > f->words) {
		size_t cap = f->capwords;
		for (size_t i = 0; i <= nfilters; i++) {
			uint64_t **a = i < nfilters ? &f->pass[i] : &f->keep;
			cap = f->capwords;
			if (buf_grow(a, &cap, r / 64 + 1, 8))
				return -1;
			if (i < nfilters) {
				cap = f->capwords;
				if (buf_grow(&f->nul[i], &cap, r / 64 + 1, 8))
					return -1;
			}
		}
		f->capwords = cap;
		for (size_t i = 0; i < nfilters; i++)
			f->pass[i][f->words] = f->nul[i][f->words] = 0;
		f->keep[f->words] = 0;
		f->words++;
	}
	size_t key_at = 0, key_len = 0;
	f->rowoff[r] = f->values_len + f->vals.n;
	for (size_t c = 0; c < p->ncols; c++) {
		if (c == p->key_col)
			key_at = f->vals.n;
		if (dset_put_value(&f->vals, sqlite3_column_value(q, (int)c)))
			return -1;
		if (c == p->key_col)
			key_len = f->vals.n - key_at;
	}
	int kept = 1;
	uint64_t bit = UINT64_C(1) << (r & 63);
	for (size_t i = 0; i < nfilters; i++) {
		int col = (int)(p->ncols + i);
		if (sqlite3_column_type(q, col) == SQLITE_NULL) {
			f->nul[i][r / 64] |= bit;
			kept = 0;
		} else if (sqlite3_column_double(q, col) != 0.0) {
			/* SQLite's truth: a number not zero (text as its leading number) */
			f->pass[i][r / 64] |= bit;
		} else {
			kept = 0;
		}
	}
	const char *kv = f->vals.p + key_at;
	sqlite3_value *kval = sqlite3_column_value(q, (int)p->key_col);
	if (sqlite3_value_type(kval) == SQLITE_FLOAT) {
		/* 7.0 is the key 7, as SQLite's = and GROUP BY take them */
		double x = sqlite3_value_double(kval);
		if (x >= -9223372036854775808.0 && x < 9223372036854775808.0 && x == (double)(int64_t)x) {
			f->key.n = 0;
			if (dset_put_int(&f->key, (int64_t)x))
				return -1;
			kv = f->key.p;
			key_len = f->key.n;
		}
	}
	uint32_t n0 = f->keys.n;
	uint32_t id = eg_itab_get(&f->keys, XXH3_64bits(kv, key_len), kv, (uint32_t)key_len);
	if (id == UINT32_MAX)
		return -1;
	if (id == n0) {
		if (buf_grow(&f->keyfirst, &f->capfirst, id + 1, sizeof *f->keyfirst) ||
		    buf_grow(&f->key_kept, &f->capkk, id + 1, 1))
			return -1;
		f->keyfirst[id] = r;
		f->key_kept[id] = 0;
	}
	f->keyid[r] = id;
	if (kept) {
		f->keep[r / 64] |= bit;
		f->kept_rows++;
		if (!f->key_kept[id]) {
			f->key_kept[id] = 1;
			f->kept_keys++;
		}
	}
	if (kept && distinct) {
		/* the final rows' count: distinct values of the output columns */
		buf *o = &f->out;
		int err = 0;
		o->n = 0;
		for (size_t i = 0; i < p->noutput; i++)
			err |= dset_put_value(o, sqlite3_column_value(q, (int)p->output[i]));
		if (err || eg_itab_get(&f->finals, XXH3_64bits(o->p, o->n), o->p, (uint32_t)o->n) ==
			   UINT32_MAX)
			return -1;
	}
	f->nrow++;
	f->rowoff[f->nrow] = f->values_len + f->vals.n;
	if (f->vals.n >= FLUSH_AT)
		flush_vals(f);
	return 0;
}

/* ------------------------------------------------------------ the build */

static void add_time(buf *b, const char *key, int64_t t, int *err)
{
	char s[64];
	*err |= buf_puts(b, ",\"") | buf_puts(b, key) | buf_puts(b, "\":");
	if (t == EG_TIME_NONE) {
		*err |= buf_puts(b, "null");
	} else {
		size_t n = eg_time_format(t, s);
		*err |= buf_quote(b, s, n);
	}
}

static void add_num(buf *b, const char *key, uint64_t v, int *err)
{
	char s[64];
	snprintf(s, sizeof s, ",\"%s\":%llu", key, (unsigned long long)v);
	*err |= buf_puts(b, s);
}

/* The manifest: what engram dataset list and show print. */
static char *manifest(const dspec *s, const plan *p, const wfile *f, const char *fp,
		      uint64_t head, int64_t as_of, int64_t known_at, int64_t built, size_t *len)
{
	buf b = { 0 };
	int err = buf_puts(&b, "{\"name\":") | buf_quote(&b, s->name, strlen(s->name));
	err |= buf_puts(&b, ",\"spec_hash\":") | buf_quote(&b, fp, strlen(fp));
	add_num(&b, "head", head, &err);
	add_time(&b, "as_of", as_of, &err);
	add_time(&b, "known_at", known_at, &err);
	add_time(&b, "built", built, &err);
	add_num(&b, "rows", f->nrow, &err);
	add_num(&b, "keys", f->keys.n, &err);
	add_num(&b, "kept_rows", f->kept_rows, &err);
	add_num(&b, "kept_keys", f->kept_keys, &err);
	add_num(&b, "final_rows", s->distinct ? f->finals.n : f->kept_rows, &err);
	err |= buf_puts(&b, ",\"key\":") | buf_quote(&b, s->key, strlen(s->key));
	err |= buf_puts(&b, ",\"columns\":[");
	for (size_t i = 0; i < p->ncols; i++)
		err |= buf_puts(&b, i ? "," : "") | buf_quote(&b, p->cols[i], strlen(p->cols[i]));
	err |= buf_puts(&b, "],\"output\":[");
	for (size_t i = 0; i < p->noutput; i++) {
		const char *c = p->cols[p->output[i]];
		err |= buf_puts(&b, i ? "," : "") | buf_quote(&b, c, strlen(c));
	}
	err |= buf_puts(&b, s->distinct ? "],\"distinct\":true" : "],\"distinct\":false");
	err |= buf_puts(&b, ",\"filters\":[");
	for (size_t i = 0; i < s->nfilters; i++) {
		err |= buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
		err |= buf_quote(&b, s->f[i].name, strlen(s->f[i].name));
		err |= buf_puts(&b, ",\"sql\":") | buf_quote(&b, s->f[i].sql, strlen(s->f[i].sql));
		err |= buf_puts(&b, ",\"why\":") | buf_quote(&b, s->f[i].why, strlen(s->f[i].why));
		err |= buf_puts(&b, ",\"reads\":[");
		for (size_t k = 0; k < p->nreads[i]; k++) {
			const char *c = p->cols[p->reads[i][k]];
			err |= buf_puts(&b, k ? "," : "") | buf_quote(&b, c, strlen(c));
		}
		err |= buf_puts(&b, "]}");
	}
	err |= buf_puts(&b, "]}\n");
	if (err) {
		free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}

static char *meta(const dspec *s, const plan *p, const char *fp, uint64_t head, int64_t as_of,
		  int64_t known_at, size_t *len)
{
	buf b = { 0 };
	int err = 0;
	put_str(&b, s->name, &err);
	put_str(&b, fp, &err);
	put_u64(&b, head, &err);
	put_u64(&b, (uint64_t)as_of, &err);
	put_u64(&b, (uint64_t)known_at, &err);
	put_u32(&b, (uint32_t)p->key_col, &err);
	put_u32(&b, (uint32_t)s->distinct, &err);
	put_u32(&b, (uint32_t)p->noutput, &err);
	for (size_t i = 0; i < p->noutput; i++)
		put_u32(&b, (uint32_t)p->output[i], &err);
	for (size_t i = 0; i < p->ncols; i++)
		put_str(&b, p->cols[i], &err);
	for (size_t i = 0; i < s->nfilters; i++) {
		put_str(&b, s->f[i].name, &err);
		put_str(&b, s->f[i].sql, &err);
		put_str(&b, s->f[i].why, &err);
		put_u32(&b, (uint32_t)p->nreads[i], &err);
		for (size_t k = 0; k < p->nreads[i]; k++)
			put_u32(&b, (uint32_t)p->reads[i][k], &err);
	}
	if (err) {
		free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}

/* Write the sections after the values, each 8-aligned, noting where. */
static void put_section(wfile *f, uint64_t *off, uint64_t *len, const void *p, uint64_t n)
{
	static const char zero[8];
	uint64_t at = f->w.off;
	if (at % 8) {
		eg_ds_wr_put(&f->w, zero, 8 - at % 8, 1);
		at = f->w.off;
	}
	*off = at;
	*len = n;
	eg_ds_wr_put(&f->w, p, (size_t)n, 1);
}

/* The fingerprint of a build: the spec's text, the texts of the spec
 * files its SQL read, and the bounds; hex of SHA-256. */
static int fingerprint(const char *spec, size_t n, uint64_t specs_fp, const char *spec_dir,
		       char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	/* chain.c's SHA-256: OpenSSL's default context, started by a failed
	 * allocation, crashes the next fetch */
	const EVP_MD *sha = eg_chain_sha256();
	int ok = m && sha && EVP_DigestInit_ex(m, sha, NULL) == 1 &&
		 EVP_DigestUpdate(m, "engram dataset 1\n", 17) == 1 &&
		 EVP_DigestUpdate(m, spec, n) == 1 &&
		 EVP_DigestUpdate(m, &specs_fp, sizeof specs_fp) == 1 &&
		 EVP_DigestUpdate(m, spec_dir ? spec_dir : "", spec_dir ? strlen(spec_dir) + 1 : 1)
			 == 1 &&
		 EVP_DigestFinal_ex(m, md, &len) == 1 && len == 32;
	EVP_MD_CTX_free(m);
	if (!ok)
		return EG_ENOMEM;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return EG_OK;
}

/* The build statement: the base's columns, then each filter's value. */
static char *build_sql(const dspec *s, const char *base)
{
	sqlite3_str *t = sqlite3_str_new(NULL);
	sqlite3_str_appendf(t, "WITH \"dataset base\" AS MATERIALIZED (\n%s\n) SELECT *", base);
	for (size_t i = 0; i < s->nfilters; i++)
		sqlite3_str_appendf(t, ", (%s)", s->f[i].sql);
	sqlite3_str_appendall(t, " FROM \"dataset base\"");
	return sqlite3_str_finish(t);
}

/* SQLite's progress handler: stop the statement once asked to. */
static int cancelled(void *ctx)
{
	const volatile int *cancel = ctx;
	return *cancel != 0;
}

/* The build's statement failed as it ran (msg): which part fails alone,
 * the base or a filter?  Run each to find out (only on this error path). */
static int blame(eg_store *st, sqlite3 *db, const char *label, const dspec *s, const char *base,
		 const char *msg)
{
	for (size_t i = 0; i <= s->nfilters; i++) {
		char *sql = i ? sqlite3_mprintf("SELECT (%s) FROM (\n%s\n)", s->f[i - 1].sql, base)
			      : sqlite3_mprintf("SELECT * FROM (\n%s\n)", base);
		sqlite3_stmt *q = NULL;
		int r = sql ? eg_sql_prepare(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
		if (r == SQLITE_OK)
			while ((r = sqlite3_step(q)) == SQLITE_ROW)
				;
		if (r != SQLITE_DONE && r != SQLITE_OK && r != SQLITE_NOMEM) {
			/* the message before finalize, which resets it */
			if (i)
				eg_st_err(st, EG_EINVAL, "%s: filter '%s': %s", label, s->f[i - 1].name,
					  sqlite3_errmsg(db));
			else
				eg_st_err(st, EG_EINVAL, "%s: base: %s", label, sqlite3_errmsg(db));
		}
		sqlite3_finalize(q);
		if (r == SQLITE_NOMEM)
			return EG_ENOMEM;
		if (r != SQLITE_DONE && r != SQLITE_OK)
			return EG_EINVAL;
	}
	return eg_st_err(st, EG_EINVAL, "%s: base and filters: %s", label, msg);
}

/* A file beside the table, for people (the manifest, the spec it was
 * built from), written when it does not hold p: a build that failed to
 * write it, or was killed between the table's rename and its own, left
 * it behind the table, and a build that reuses the table puts it right. */
static void write_beside(eg_store *st, const eg_ds *ds, const char *name, const void *p,
			 size_t n)
{
	eg_ds_view v;
	int same = eg_ds_read(ds, name, 0, 0, NULL, NULL, &v) == EG_OK && v.n == n &&
		   !memcmp(v.p, p, n);
	eg_ds_view_free(&v);
	if (!same && eg_os_write_file_atomic(ds->dir, name, p, n))
		eg_st_note_errno(st, "cannot write %s/%s", ds->dir, name);
}

static int run_build(eg_store *st, eg_ds *ds, sqlite3 *db, sqlite3_stmt *q, const dspec *s,
		     const plan *p, const char *fp, uint64_t head, int64_t as_of, int64_t known_at,
		     const char *label, const char *base)
{
	wfile f = { 0 };
	int rc = EG_OK, r;
	if (eg_ds_wr_begin(&f.w, ds, DSET_FILE, 0))
		return eg_st_errno(st, "cannot write the dataset %s", s->name);
	eg_ds_wr_put(&f.w, DSET_MAGIC, 8, 1);
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		if (f.nrow == UINT32_MAX) {
			rc = eg_st_err(st, EG_EINVAL, "base: more than %u rows", UINT32_MAX);
			break;
		}
		if (add_row(&f, q, p, s->nfilters, s->distinct)) {
			rc = EG_ENOMEM;
			break;
		}
	}
	if (!rc && r != SQLITE_DONE) {
		char *msg = strdup(sqlite3_errmsg(db));
		rc = r == SQLITE_NOMEM || !msg ? EG_ENOMEM
		     : r == SQLITE_INTERRUPT ? eg_st_err(st, EG_EINTR, "interrupted: nothing kept")
					      : blame(st, db, label, s, base, msg);
		free(msg);
	}
	if (rc) {
		eg_ds_wr_abort(&f.w);
		wfile_free(&f, s->nfilters);
		return rc;
	}
	flush_vals(&f);
	if (!f.rowoff && buf_grow(&f.rowoff, &f.caprow, 1, 8) == 0)
		f.rowoff[0] = 0;
	uint64_t off[DSEC_N] = { 8 }, len[DSEC_N] = { f.values_len };
	uint64_t W = f.words;
	size_t mlen = 0, manlen = 0;
	char *m = meta(s, p, fp, head, as_of, known_at, &mlen);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	char *man = manifest(s, p, &f, fp, head, as_of, known_at, now, &manlen);
	if (!m || !man || !f.rowoff) {
		eg_ds_wr_abort(&f.w);
		rc = EG_ENOMEM;
	} else {
		put_section(&f, &off[DSEC_ROWOFF], &len[DSEC_ROWOFF], f.rowoff, (f.nrow + 1) * 8);
		/* pass, then null: a filter's bitmap after another's (each W
		 * words, so the first's offset is the section's) */
		for (int sec = DSEC_PASS; sec <= DSEC_NULL; sec++) {
			off[sec] = f.w.off + (8 - f.w.off % 8) % 8;
			len[sec] = s->nfilters * W * 8;
			for (size_t i = 0; i < s->nfilters; i++) {
				uint64_t o, l;
				put_section(&f, &o, &l, sec == DSEC_PASS ? f.pass[i] : f.nul[i], W * 8);
			}
		}
		/* with no filter every row is kept */
		put_section(&f, &off[DSEC_KEEP], &len[DSEC_KEEP], f.keep ? (void *)f.keep : "", W * 8);
		put_section(&f, &off[DSEC_KEYID], &len[DSEC_KEYID], f.keyid ? (void *)f.keyid : "",
			    f.nrow * 4);
		put_section(&f, &off[DSEC_KEYFIRST], &len[DSEC_KEYFIRST],
			    f.keyfirst ? (void *)f.keyfirst : "", (uint64_t)f.keys.n * 8);
		put_section(&f, &off[DSEC_META], &len[DSEC_META], m, mlen);
		put_section(&f, &off[DSEC_MANIFEST], &len[DSEC_MANIFEST], man, manlen);
		if (f.w.off % 8)
			eg_ds_wr_put(&f.w, "\0\0\0\0\0\0\0", 8 - f.w.off % 8, 1);
		unsigned char hdr[DSET_HDR];
		uint64_t nrows = f.nrow, nkeys = f.keys.n;
		uint32_t nc = (uint32_t)p->ncols, nf = (uint32_t)s->nfilters;
		memcpy(hdr, DSET_MAGIC, 8);
		memcpy(hdr + 8, &nrows, 8);
		memcpy(hdr + 16, &nkeys, 8);
		memcpy(hdr + 24, &nc, 4);
		memcpy(hdr + 28, &nf, 4);
		for (int i = 0; i < DSEC_N; i++) {
			memcpy(hdr + 32 + 16 * i, &off[i], 8);
			memcpy(hdr + 40 + 16 * i, &len[i], 8);
		}
		/* the trailer, then the checksum of everything */
		eg_ds_wr_put(&f.w, hdr, DSET_HDR, 1);
		if (eg_ds_wr_commit(&f.w, NULL, 0, 1))
			rc = eg_st_errno(st, "cannot write the dataset %s", s->name);
	}
	/* beside it, for people: the manifest, and the spec it was built from */
	if (!rc)
		write_beside(st, ds, "manifest.json", man, manlen);
	free(m);
	free(man);
	wfile_free(&f, s->nfilters);
	return rc;
}

int eg_dset_build(eg_store *st, const char *spec, size_t n, const eg_dset_build_opts *o,
		  eg_dataset **out, int *reused)
{
	static const eg_dset_build_opts none = { EG_TIME_NONE, EG_TIME_NONE, 0, NULL, NULL, NULL };
	if (!o)
		o = &none;
	*out = NULL;
	*reused = 0;
	perr e = { st, o->label ? o->label : "spec" };
	dspec s;
	plan p = { 0 };
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char *base = NULL, *sql = NULL;
	eg_ds ds = { .lockfd = -1 };
	int rc = parse_spec(&e, spec, n, &s);
	eg_head h;
	if (!rc)
		rc = eg_store_head(st, &h);
	uint64_t at = h.pos;
	if (!rc && o->known_at != EG_TIME_NONE) {
		uint64_t k;
		if (!(rc = eg_known_pos(st, o->known_at, &k)) && k < at)
			at = k;
	}
	eg_sql_conn *c = NULL;
	if (!rc) {
		eg_sql_bounds b = { 1, at, o->as_of, o->known_at, o->spec_dir };
		rc = eg_sql_open_at(st, &b, &db, &c);
	}
	if (!rc && !(base = trimmed(s.base)))
		rc = EG_ENOMEM;
	if (!rc)
		rc = plan_build(st, e.label, db, &s, base, &p);
	if (!rc && !(sql = build_sql(&s, base)))
		rc = EG_ENOMEM;
	if (!rc)
		rc = prepare(st, db, sql, &q, e.label);
	if (!rc && o->cancel)
		sqlite3_progress_handler(db, 10000, cancelled, (void *)o->cancel);
	char fp[65];
	if (!rc)
		rc = fingerprint(spec, n, c->specs_fp, o->spec_dir, fp);
	if (!rc && eg_ds_open(st, DSET_SUB, s.name, 0, NULL, 0, &ds))
		rc = eg_st_errno(st, "cannot make the dataset's directory %s%s/%s", st->dir,
				 DSET_SUB, s.name);
	if (!rc)
		rc = eg_ds_lock(st, &ds);
	if (!rc && !o->force) {
		/* the same spec, spec files and bounds at the same head: keep it */
		eg_dataset *d = NULL;
		if (eg_dset_open(st, s.name, &d) == EG_OK && !strcmp(d->fingerprint, fp) &&
		    d->head == at && d->as_of == o->as_of && d->known_at == o->known_at) {
			*out = d;
			*reused = 1;
			write_beside(st, &ds, "manifest.json", d->manifest, d->manifest_len);
		} else {
			eg_dset_close(d);   /* none, another, or damaged: built anew */
		}
	}
	if (!rc && !*reused)
		rc = run_build(st, &ds, db, q, &s, &p, fp, at, o->as_of, o->known_at, e.label, base);
	if (!rc)
		write_beside(st, &ds, "spec.json", spec, n);
	if (rc && ds.lockfd >= 0) {
		/* a first build that failed leaves no directory behind */
		char t[PATH_MAX];
		struct stat sb;
		eg_ds_path(&ds, DSET_FILE, t);
		if (eg_os.stat(t, &sb) && errno == ENOENT)
			eg_ds_remove_dir(ds.dir);
	}
	eg_ds_unlock(&ds);
	eg_ds_close(&ds);
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (!rc && !*reused)
		rc = eg_dset_open(st, s.name, out);
	sqlite3_free(sql);
	free(base);
	plan_free(&p);
	dspec_free(&s);
	return rc;
}

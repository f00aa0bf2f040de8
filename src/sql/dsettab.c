/*
 * dsettab.c — dataset('NAME'): a kept dataset as a table (docs/DATASETS.md).
 * Its columns are the base's, then f_FILTER per filter (1 pass, 0 fail or
 * NULL) and keep; the dataset's columns are fixed before SQLite sees the
 * call's argument, so declare.c makes temp.dataset for the name written
 * in the call (as for projection('spec')).  Rows are read from the
 * mapped file; nothing is run again.
 */
#include "dset.h"
#include "sql.h"

#include <string.h>

typedef struct dtab {
	sqlite3_vtab base;
	eg_sql_conn *c;
	eg_dataset *d;
	char *name;
	int ncols;                  /* visible: base, flags, keep */
} dtab;

typedef struct dcur {
	sqlite3_vtab_cursor base;
	uint64_t row;
	int keep_only;              /* keep = 1 pushed down */
	const unsigned char **at;   /* where each base value of the row starts */
	uint64_t located;           /* the row at holds (+1; 0: none) */
} dcur;

static int dt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err)
{
	eg_sql_conn *c = aux;
	if (argc != 4) {
		*err = sqlite3_mprintf("dataset: CREATE VIRTUAL TABLE %s USING dataset(NAME) takes "
				       "one argument, the name of a kept dataset", argv[2]);
		return SQLITE_ERROR;
	}
	dtab *t = sqlite3_malloc(sizeof *t);
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof *t);
	t->c = c;
	if (!(t->name = eg_sql_dequote(argv[3]))) {
		sqlite3_free(t);
		return SQLITE_NOMEM;
	}
	int rc = eg_dset_open(c->st, t->name, &t->d);
	if (rc) {
		*err = sqlite3_mprintf("dataset: %s", eg_errmsg(c->st));
		sqlite3_free(t->name);
		sqlite3_free(t);
		return rc == EG_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
	}
	const eg_dataset *d = t->d;
	sqlite3_str *s = sqlite3_str_new(db);
	sqlite3_str_appendall(s, "CREATE TABLE x(");
	for (size_t i = 0; i < eg_dset_ncols(d); i++)
		sqlite3_str_appendf(s, "\"%w\", ", eg_dset_col(d, i));
	for (size_t i = 0; i < eg_dset_nfilters(d); i++)
		sqlite3_str_appendf(s, "\"f_%w\" INTEGER, ", eg_dset_filter(d, i, NULL, NULL));
	sqlite3_str_appendall(s, "keep INTEGER, name HIDDEN)");
	t->ncols = (int)(eg_dset_ncols(d) + eg_dset_nfilters(d) + 1);
	char *sql = sqlite3_str_finish(s);
	rc = sql ? sqlite3_declare_vtab(db, sql) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		*err = sqlite3_mprintf("dataset %s: %s", t->name, sqlite3_errmsg(db));
		eg_dset_close(t->d);
		sqlite3_free(t->name);
		sqlite3_free(t);
		return rc;
	}
	*out = &t->base;
	return SQLITE_OK;
}

/* Not the same function as xConnect: no eponymous table (its columns
 * need a dataset). */
static int dt_create(sqlite3 *db, void *aux, int argc, const char *const *argv,
		     sqlite3_vtab **out, char **err)
{
	return dt_connect(db, aux, argc, argv, out, err);
}

static int dt_disconnect(sqlite3_vtab *base)
{
	dtab *t = (dtab *)base;
	eg_dset_close(t->d);
	sqlite3_free(t->name);
	sqlite3_free(t->base.zErrMsg);
	sqlite3_free(t);
	return SQLITE_OK;
}

/* idxNum bit 0: the name argument is argv[0]; bit 1: keep = 1 follows. */
static int dt_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
	dtab *t = (dtab *)base;
	int n = 0, name_at = -1, keep_at = -1;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *k = &info->aConstraint[i];
		if (!k->usable || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (k->iColumn == t->ncols && name_at < 0)
			name_at = i;
		else if (k->iColumn == t->ncols - 1 && keep_at < 0)
			keep_at = i;
	}
	info->idxNum = 0;
	if (name_at >= 0) {
		info->aConstraintUsage[name_at].argvIndex = ++n;
		info->aConstraintUsage[name_at].omit = 1;
		info->idxNum |= 1;
	}
	if (keep_at >= 0) {
		/* SQLite checks it again: only keep = 1 (as an integer) narrows */
		info->aConstraintUsage[keep_at].argvIndex = ++n;
		info->idxNum |= 2;
	}
	double rows = (double)eg_dset_nrows(t->d);
	info->estimatedCost = keep_at >= 0 ? rows / 2 + 1 : rows + 1;
	info->estimatedRows = (sqlite3_int64)(keep_at >= 0 ? rows / 2 + 1 : rows + 1);
	if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn < 0 && !info->aOrderBy[0].desc)
		info->orderByConsumed = 1;    /* ORDER BY rowid: the base's order */
	return SQLITE_OK;
}

static int dt_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
	dtab *t = (dtab *)base;
	dcur *cur = sqlite3_malloc(sizeof *cur);
	if (!cur)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof *cur);
	cur->at = sqlite3_malloc64(sizeof *cur->at * (eg_dset_ncols(t->d) + 1));
	if (!cur->at) {
		sqlite3_free(cur);
		return SQLITE_NOMEM;
	}
	*out = &cur->base;
	return SQLITE_OK;
}

static int dt_close(sqlite3_vtab_cursor *base)
{
	dcur *cur = (dcur *)base;
	sqlite3_free(cur->at);
	sqlite3_free(cur);
	return SQLITE_OK;
}

static void skip_dropped(dcur *cur, const eg_dataset *d)
{
	if (cur->keep_only)
		while (cur->row < eg_dset_nrows(d) && !eg_dset_kept(d, cur->row))
			cur->row++;
}

static int dt_filter(sqlite3_vtab_cursor *base, int idx, const char *s, int argc,
		     sqlite3_value **argv)
{
	(void)s;
	dcur *cur = (dcur *)base;
	dtab *t = (dtab *)base->pVtab;
	int a = 0;
	cur->row = 0;
	cur->located = 0;
	cur->keep_only = 0;
	if ((idx & 1) && a < argc) {
		const char *name = (const char *)sqlite3_value_text(argv[a++]);
		if (name && strcmp(name, t->name)) {
			eg_sql_vtab_err(base->pVtab, "dataset: '%s' is not the dataset table %s was "
					"declared with ('%s'): CREATE VIRTUAL TABLE temp.NAME USING "
					"dataset('%s') makes a table for it", name,
					"dataset", t->name, name);
			return SQLITE_ERROR;
		}
	}
	if ((idx & 2) && a < argc) {
		sqlite3_value *v = argv[a++];
		if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER && sqlite3_value_int64(v) == 1)
			cur->keep_only = 1;
		else if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER ||
			 sqlite3_value_numeric_type(v) == SQLITE_FLOAT)
			cur->keep_only = sqlite3_value_double(v) == 1.0;
	}
	skip_dropped(cur, t->d);
	return SQLITE_OK;
}

static int dt_next(sqlite3_vtab_cursor *base)
{
	dcur *cur = (dcur *)base;
	cur->row++;
	skip_dropped(cur, ((dtab *)base->pVtab)->d);
	return SQLITE_OK;
}

static int dt_eof(sqlite3_vtab_cursor *base)
{
	dcur *cur = (dcur *)base;
	return cur->row >= eg_dset_nrows(((dtab *)base->pVtab)->d);
}

static void locate(dcur *cur, const eg_dataset *d)
{
	if (cur->located == cur->row + 1)
		return;
	const unsigned char *p, *end;
	eg_dset_value v;
	dset_row(d, cur->row, &p, &end);
	for (size_t i = 0; i < eg_dset_ncols(d); i++) {
		cur->at[i] = p;
		dset_get_value(&p, end, &v);
	}
	cur->at[eg_dset_ncols(d)] = end;
	cur->located = cur->row + 1;
}

static int dt_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
	dcur *cur = (dcur *)base;
	dtab *t = (dtab *)base->pVtab;
	const eg_dataset *d = t->d;
	size_t nc = eg_dset_ncols(d), nf = eg_dset_nfilters(d);
	if ((size_t)col < nc) {
		locate(cur, d);
		eg_dset_value v;
		const unsigned char *p = cur->at[col];
		dset_get_value(&p, cur->at[nc], &v);
		switch (v.type) {
		case SQLITE_INTEGER: sqlite3_result_int64(ctx, v.i); break;
		case SQLITE_FLOAT: sqlite3_result_double(ctx, v.r); break;
		case SQLITE_TEXT:
			sqlite3_result_text64(ctx, v.s, v.n, SQLITE_TRANSIENT, SQLITE_UTF8);
			break;
		case SQLITE_BLOB: sqlite3_result_blob64(ctx, v.s, v.n, SQLITE_TRANSIENT); break;
		default: sqlite3_result_null(ctx); break;
		}
	} else if ((size_t)col < nc + nf) {
		sqlite3_result_int(ctx, eg_dset_verdict(d, cur->row, (size_t)col - nc) ==
					EG_DSET_PASS);
	} else if ((size_t)col == nc + nf) {
		sqlite3_result_int(ctx, eg_dset_kept(d, cur->row));
	} else {
		sqlite3_result_text(ctx, t->name, -1, SQLITE_TRANSIENT);
	}
	return SQLITE_OK;
}

static int dt_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((dcur *)base)->row + 1;
	return SQLITE_OK;
}

static const sqlite3_module DATASET_MODULE = {
	.iVersion = 0,
	.xCreate = dt_create,
	.xConnect = dt_connect,
	.xBestIndex = dt_best_index,
	.xDisconnect = dt_disconnect,
	.xDestroy = dt_disconnect,
	.xOpen = dt_open,
	.xClose = dt_close,
	.xFilter = dt_filter,
	.xNext = dt_next,
	.xEof = dt_eof,
	.xColumn = dt_column,
	.xRowid = dt_rowid,
};

int eg_sql_register_dataset(sqlite3 *db, eg_sql_conn *c)
{
	return sqlite3_create_module_v2(db, "dataset", &DATASET_MODULE, c, NULL);
}

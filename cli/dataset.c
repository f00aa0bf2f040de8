/*
 * dataset.c — engram dataset: "filter on the last step" (docs/DATASETS.md).
 * build runs a spec's base query once with every filter as a column and
 * keeps it; rows, explain, why, list, show and drop read the kept table.
 */
#include "cli.h"
#include "json.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

/* A library failure: bad specs, names and SQL, and datasets not kept are
 * the user's to fix (exit 2); the rest as every command. */
static int dset_fail(eg_store *st, int r)
{
	if (r == EG_EINVAL || r == EG_ENOTFOUND) {
		cli_error("%s", eg_errmsg(st));
		return EXIT_USAGE;
	}
	return cli_fail(st, r);
}

/* Print rows of SQL over the dataset table (and the store). */
static int query(eg_store *st, const char *sql, int format)
{
	struct sqlite3 *db;
	int r = eg_sql_open(st, &db);
	if (r)
		return cli_fail(st, r);
	int rc = cli_sql_run(db, sql, format);
	sqlite3_close(db);
	return rc;
}

/* The final rows: the output columns of the kept rows, DISTINCT if the
 * spec says so, in the base's order. */
static int final_rows(eg_store *st, const eg_dataset *d, int format)
{
	size_t n;
	int distinct;
	const size_t *cols = eg_dset_output(d, &n, &distinct);
	sqlite3_str *s = sqlite3_str_new(NULL);
	sqlite3_str_appendf(s, "SELECT %s", distinct ? "DISTINCT " : "");
	for (size_t i = 0; i < n; i++)
		sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", eg_dset_col(d, cols[i]));
	sqlite3_str_appendf(s, " FROM dataset(%Q) WHERE keep = 1", eg_dset_name(d));
	char *sql = sqlite3_str_finish(s);
	if (!sql) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	int rc = query(st, sql, format);
	sqlite3_free(sql);
	return rc;
}

static int open_named(cli *c, const char *name, eg_store **st, eg_dataset **d)
{
	int rc;
	*d = NULL;
	if (!(*st = cli_open_read(c, &rc)))
		return rc;
	int r = eg_dset_open(*st, name, d);
	if (r) {
		rc = dset_fail(*st, r);
		cli_close(*st, rc);
		*st = NULL;
		return rc;
	}
	return EXIT_OK;
}

/* Parse a subcommand's options and check it has npos positional
 * arguments (the subcommand's name first; usage says what they are):
 * 0, -1 after --help, or the exit code of a usage error. */
static int ds_parse(cli *c, const opt *opts, int npos, const char *usage)
{
	static const opt none[] = { { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts ? opts : none, npos);
	if (rc)
		return rc;
	return c->npos == npos ? 0 : cli_usage_error(c, "%s", usage);
}

/* ------------------------------------------------------------ build */

/* Ctrl-C during a build: it stops, writing nothing (exit 130); a second
 * one kills as usual. */
static volatile int build_cancel;

static void on_sigint(int sig)
{
	(void)sig;
	build_cancel = 1;
	signal(SIGINT, SIG_DFL);
}

static int ds_build(cli *c, int arg)
{
	(void)arg;
	const char *as_of = NULL, *known_at = NULL;
	int force = 0;
	opt opts[] = {
		{ "as-of", 1, &as_of, NULL }, { "known-at", 1, &known_at, NULL },
		{ "force", 0, NULL, &force }, { NULL, 0, NULL, NULL },
	};
	int rc = ds_parse(c, opts, 2, "build takes one spec file: engram dataset build SPEC.json");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_dset_build_opts o = { EG_TIME_NONE, EG_TIME_NONE, force, NULL, c->pos[1], NULL };
	if ((as_of && (rc = cli_time(c, "as-of", as_of, &o.as_of))) ||
	    (known_at && (rc = cli_time(c, "known-at", known_at, &o.known_at))))
		return rc;
	size_t n;
	char *spec = cli_spec_text(c->pos[1], &n, &rc);
	if (!spec)
		return rc;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", c->pos[1]);
	o.spec_dir = dirname(dir);
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(spec);
		return rc;
	}
	eg_dataset *d = NULL;
	int reused = 0;
	o.cancel = &build_cancel;
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	sigaction(SIGINT, &sa, &old);
	int r = eg_dset_build(st, spec, n, &o, &d, &reused);
	sigaction(SIGINT, &old, NULL);
	free(spec);
	if (r == EG_EINTR) {
		cli_error("%s", eg_errmsg(st));
		cli_close(st, 130);
		return 130;
	}
	if (r) {
		rc = dset_fail(st, r);
		cli_close(st, rc);
		return rc;
	}
	size_t mn;
	const char *man = eg_dset_manifest(d, &mn);
	json_span m = { man, mn, JSON_OBJECT }, v;
	uint64_t kept = 0, final = 0;
	if (eg_json_member(&m, "kept_rows", 9, &v) == 1)
		kept = strtoull(v.p, NULL, 10);
	if (eg_json_member(&m, "final_rows", 10, &v) == 1)
		final = strtoull(v.p, NULL, 10);
	fprintf(stderr, "engram: dataset %s: %llu rows, %llu keys; %llu rows kept, %llu final rows "
		"(%s at position %llu; engram dataset explain %s)\n", eg_dset_name(d),
		(unsigned long long)eg_dset_nrows(d), (unsigned long long)eg_dset_nkeys(d),
		(unsigned long long)kept, (unsigned long long)final,
		reused ? "kept table reused: store and spec unchanged since it was built"
		       : "built", (unsigned long long)eg_dset_head(d), eg_dset_name(d));
	rc = final_rows(st, d, c->format);
	eg_dset_close(d);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ rows */

static int ds_rows(cli *c, int arg)
{
	(void)arg;
	int all = 0, kept = 0;
	const char *failed = NULL;
	opt opts[] = {
		{ "all", 0, NULL, &all }, { "kept", 0, NULL, &kept },
		{ "failed", 1, &failed, NULL }, { NULL, 0, NULL, NULL },
	};
	int rc = ds_parse(c, opts, 2, "rows takes a dataset name: engram dataset rows NAME");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (all + kept + (failed != NULL) > 1)
		return cli_usage_error(c, "give one of --all, --kept and --failed FILTER");
	eg_store *st;
	eg_dataset *d;
	if ((rc = open_named(c, c->pos[1], &st, &d)))
		return rc;
	if (failed && eg_dset_filter_index(d, failed) < 0) {
		sqlite3_str *s = sqlite3_str_new(NULL);
		for (size_t i = 0; i < eg_dset_nfilters(d); i++)
			sqlite3_str_appendf(s, "%s%s", i ? ", " : "", eg_dset_filter(d, i, NULL, NULL));
		char *l = sqlite3_str_finish(s);
		cli_error("--failed: the dataset %s has no filter '%s' (its filters: %s)",
			  eg_dset_name(d), failed, l && *l ? l : "none");
		sqlite3_free(l);
		eg_dset_close(d);
		cli_close(st, EXIT_USAGE);
		return EXIT_USAGE;
	}
	if (!all && !kept && !failed) {
		rc = final_rows(st, d, c->format);
	} else {
		char *sql = sqlite3_mprintf("SELECT * FROM dataset(%Q)%s%w%s", eg_dset_name(d),
					    kept ? " WHERE keep = 1" : failed ? " WHERE \"f_" : "",
					    failed ? failed : "", failed ? "\" = 0" : "");
		rc = sql ? query(st, sql, c->format) : EXIT_ERR;
		sqlite3_free(sql);
	}
	eg_dset_close(d);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ explain */

static const char *const STEP_KEYS[] = {
	"filter", "rows_failing", "keys_failing", "only_rows", "only_keys", "rows_remaining",
	"keys_remaining",
};

/* The filters in the order given: those of --order first, the others
 * after them in spec order.  0, or a usage error. */
static int filter_order(cli *c, const eg_dataset *d, char *list, size_t *order, size_t *n)
{
	size_t nf = eg_dset_nfilters(d), k = 0;
	int used[64] = { 0 };
	if (list) {
		const char *names[64];
		size_t m = cli_split(list, names, 64);
		for (size_t i = 0; i < m; i++) {
			long f = eg_dset_filter_index(d, names[i]);
			if (f < 0)
				return cli_usage_error(c, "--order: the dataset %s has no filter '%s'",
						       eg_dset_name(d), names[i]);
			if (used[f]++)
				return cli_usage_error(c, "--order: '%s' is given twice", names[i]);
			order[k++] = (size_t)f;
		}
	}
	for (size_t i = 0; i < nf; i++)
		if (!used[i])
			order[k++] = i;
	*n = k;
	return 0;
}

static void step_row(out *o, const eg_dataset *d, const eg_dset_step *s)
{
	out_cstr(o, "filter", eg_dset_filter(d, s->filter, NULL, NULL));
	out_u64(o, "rows_failing", s->rows_failing);
	out_u64(o, "keys_failing", s->keys_failing);
	out_u64(o, "only_rows", s->only_rows);
	out_u64(o, "only_keys", s->only_keys);
	out_u64(o, "rows_remaining", s->rows_remaining);
	out_u64(o, "keys_remaining", s->keys_remaining);
}

/* A group's value as the output prints it. */
static void value_cell(out *o, const char *key, const eg_dset_value *v)
{
	char t[64];
	switch (v->type) {
	case 1: out_i64(o, key, v->i); break;
	case 2: out_json(o, key, t, eg_dset_value_text(v, t, sizeof t)); break;
	case 3: out_str(o, key, v->s, v->n); break;
	case 5: out_null(o, key); break;
	default: {
		char *h = malloc(2 * v->n + 1);
		if (h) {
			eg_dset_value_text(v, h, 2 * v->n + 1);
			out_cstr(o, key, h);
		} else {
			out_null(o, key);
		}
		free(h);
	}
	}
}

/* The attrition as boxes: what each filter took out, and what remains. */
static void flow(const eg_dataset *d, const eg_dset_step *s, size_t n, uint64_t rows,
		 uint64_t keys)
{
	const char *key = eg_dset_col(d, eg_dset_key_col(d));
	printf("\n  ┌─ base ─────────────────────────────\n"
	       "  │ %llu rows, %llu %s\n"
	       "  └───────────────┬────────────────────\n",
	       (unsigned long long)rows, (unsigned long long)keys, key);
	uint64_t pr = rows, pk = keys;
	for (size_t k = 0; k < n; k++) {
		const char *why;
		const char *name = eg_dset_filter(d, s[k].filter, NULL, &why);
		printf("                  │\n"
		       "                  ├──▶ %s: %llu rows, %llu %s out  (%s)\n"
		       "                  ▼\n",
		       name, (unsigned long long)(pr - s[k].rows_remaining),
		       (unsigned long long)(pk - s[k].keys_remaining), key, why);
		pr = s[k].rows_remaining;
		pk = s[k].keys_remaining;
		printf("  ┌─ %s ─────────────────────────────\n"
		       "  │ %llu rows, %llu %s remain\n"
		       "  └───────────────%s────────────────────\n",
		       k + 1 == n ? "kept" : "remaining", (unsigned long long)pr,
		       (unsigned long long)pk, key, k + 1 == n ? "─" : "┬");
	}
}

static int ds_explain(cli *c, int arg)
{
	(void)arg;
	const char *order_s = NULL, *by = NULL;
	int overlaps = 0;
	opt opts[] = {
		{ "order", 1, &order_s, NULL }, { "by", 1, &by, NULL },
		{ "overlaps", 0, NULL, &overlaps }, { NULL, 0, NULL, NULL },
	};
	int rc = ds_parse(c, opts, 2, "explain takes a dataset name: engram dataset explain NAME");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st;
	eg_dataset *d;
	if ((rc = open_named(c, c->pos[1], &st, &d)))
		return rc;
	size_t order[64], n = 0, nf = eg_dset_nfilters(d);
	char *list = order_s ? strdup(order_s) : NULL;
	rc = filter_order(c, d, list, order, &n);
	free(list);
	long by_col = -1;
	if (!rc && by) {
		for (size_t i = 0; i < eg_dset_ncols(d); i++)
			if (!strcmp(eg_dset_col(d, i), by))
				by_col = (long)i;
		if (by_col < 0)
			rc = cli_usage_error(c, "--by: the dataset %s has no column '%s'",
					     eg_dset_name(d), by);
	}
	eg_dset_step steps[64];
	out *o = NULL;
	if (!rc && overlaps) {
		o = out_new(stdout, c->format);
		const char *keys[65] = { "filter" };
		for (size_t k = 0; k < n; k++)
			keys[k + 1] = eg_dset_filter(d, order[k], NULL, NULL);
		out_header(o, keys, (int)n + 1);
		for (size_t i = 0; i < n; i++) {
			out_row_begin(o);
			out_cstr(o, "filter", keys[i + 1]);
			for (size_t j = 0; j < n; j++)
				out_u64(o, keys[j + 1], eg_dset_overlap(d, order[i], order[j]));
			out_row_end(o);
		}
		rc = out_finish(o, EXIT_OK);
	} else if (!rc && by_col >= 0) {
		uint32_t *group = NULL, ng = 0;
		uint64_t *first = NULL;
		int r = eg_dset_group_by(d, (size_t)by_col, &group, &first, &ng);
		o = out_new(stdout, c->format);
		const char *keys[8] = { by };
		memcpy(keys + 1, STEP_KEYS, sizeof STEP_KEYS);
		out_header(o, keys, 8);
		for (uint32_t g = 0; !r && g < ng; g++) {
			eg_dset_value v;
			eg_dset_value_at(d, first[g], (size_t)by_col, &v);
			if ((r = eg_dset_explain(d, order, n, group, g, steps)))
				break;
			for (size_t k = 0; k < n; k++) {
				out_row_begin(o);
				value_cell(o, by, &v);
				step_row(o, d, &steps[k]);
				out_row_end(o);
			}
		}
		free(group);
		free(first);
		if (r)
			out_failed(o);
		rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
	} else if (!rc) {
		int r = eg_dset_explain(d, order, n, NULL, 0, steps);
		o = out_new(stdout, c->format);
		out_header(o, STEP_KEYS, 7);
		for (size_t k = 0; !r && k < n; k++) {
			out_row_begin(o);
			step_row(o, d, &steps[k]);
			out_row_end(o);
		}
		if (r)
			out_failed(o);
		rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
		if (!rc && n && c->format == FMT_TABLE && isatty(STDOUT_FILENO))
			flow(d, steps, n, eg_dset_nrows(d), eg_dset_nkeys(d));
	}
	(void)nf;
	eg_dset_close(d);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ why */

/* The columns as a JSON object: {"state":"California",…} into b. */
static void reads_json(const eg_dataset *d, uint64_t r, const size_t *cols, size_t n,
		       sqlite3_str *b)
{
	sqlite3_str_appendall(b, "{");
	for (size_t i = 0; i < n; i++) {
		eg_dset_value v;
		eg_dset_value_at(d, r, cols[i], &v);
		const char *name = eg_dset_col(d, cols[i]);
		char *q = malloc(6 * strlen(name) + 3);
		if (q) {
			sqlite3_str_appendf(b, "%s", i ? "," : "");
			sqlite3_str_append(b, q, (int)eg_json_quote(name, strlen(name), q));
		}
		free(q);
		sqlite3_str_appendall(b, ":");
		if (v.type == 3 || v.type == 4) {
			size_t cap = v.type == 3 ? 6 * v.n + 3 : 2 * v.n + 3;
			char *t = malloc(cap), *h = v.type == 4 ? malloc(2 * v.n + 1) : NULL;
			if (t && v.type == 3) {
				sqlite3_str_append(b, t, (int)eg_json_quote(v.s, v.n, t));
			} else if (t && h) {
				size_t hn = eg_dset_value_text(&v, h, 2 * v.n + 1);
				sqlite3_str_append(b, t, (int)eg_json_quote(h, hn, t));
			}
			free(t);
			free(h);
		} else {
			char t[64];
			sqlite3_str_append(b, t, (int)eg_dset_value_text(&v, t, sizeof t));
		}
	}
	sqlite3_str_appendall(b, "}");
}

static const char *verdict_name(int v)
{
	return v == EG_DSET_PASS ? "pass" : v == EG_DSET_NULL ? "null" : "fail";
}

/* A value as the report shows it: text quoted, numbers as they are. */
static void show_value(const eg_dset_value *v)
{
	char t[64];
	if (v->type == 3)
		printf("'%.*s'", (int)v->n, v->s);
	else if (v->type == 4)
		printf("x'%s'", (eg_dset_value_text(v, t, sizeof t), t));
	else
		printf("%s", (eg_dset_value_text(v, t, sizeof t), t));
}

static void why_text(const eg_dataset *d, const char *key, const uint64_t *rows, uint64_t n,
		     uint64_t nkept)
{
	const char *kc = eg_dset_col(d, eg_dset_key_col(d));
	size_t nf = eg_dset_nfilters(d);
	if (nkept) {
		printf("%s %s: kept: ", kc, key);
		for (uint64_t i = 0, k = 0; i < n; i++)
			if (eg_dset_kept(d, rows[i]))
				printf("%srow %llu", k++ ? ", " : "", (unsigned long long)rows[i] + 1);
		printf(" pass%s every filter\n", nkept == 1 ? "es" : "");
	} else {
		printf("%s %s: excluded: no row passes every filter\n", kc, key);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rows[i];
		printf("\n  row %llu%s", (unsigned long long)r + 1,
		       eg_dset_kept(d, r) ? " (kept)" : " (excluded by");
		if (!eg_dset_kept(d, r)) {
			for (size_t f = 0, k = 0; f < nf; f++)
				if (eg_dset_verdict(d, r, f) != EG_DSET_PASS)
					printf("%s%s", k++ ? ", " : " ", eg_dset_filter(d, f, NULL, NULL));
			printf(")");
		}
		printf(":");
		for (size_t c = 0; c < eg_dset_ncols(d); c++) {
			eg_dset_value v;
			eg_dset_value_at(d, r, c, &v);
			printf(" %s=", eg_dset_col(d, c));
			show_value(&v);
		}
		printf("\n");
		for (size_t f = 0; f < nf; f++) {
			const char *why, *sql;
			const char *name = eg_dset_filter(d, f, &sql, &why);
			int vd = eg_dset_verdict(d, r, f);
			printf("    %-12s %-4s  %s", name, vd == EG_DSET_PASS ? "pass" :
			       vd == EG_DSET_NULL ? "NULL" : "FAIL", sql);
			size_t nr;
			const size_t *rd = eg_dset_filter_reads(d, f, &nr);
			for (size_t k = 0; k < nr; k++) {
				eg_dset_value v;
				eg_dset_value_at(d, r, rd[k], &v);
				printf("%s%s=", k ? ", " : "  with ", eg_dset_col(d, rd[k]));
				show_value(&v);
			}
			if (vd != EG_DSET_PASS)
				printf("\n    %-12s       why: %s%s", "", why,
				       vd == EG_DSET_NULL ? " (the expression is NULL)" : "");
			printf("\n");
		}
	}
}

static int ds_why(cli *c, int arg)
{
	(void)arg;
	int rc = ds_parse(c, NULL, 3, "why takes a dataset name and a key: engram dataset why "
				       "NAME KEY");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st;
	eg_dataset *d;
	if ((rc = open_named(c, c->pos[1], &st, &d)))
		return rc;
	const char *key = c->pos[2];
	uint64_t n = eg_dset_key_rows(d, key, strlen(key), NULL, 0);
	uint64_t *rows = malloc((n ? n : 1) * sizeof *rows);
	if (!rows) {
		eg_dset_close(d);
		cli_close(st, EXIT_ERR);
		cli_error("out of memory");
		return EXIT_ERR;
	}
	eg_dset_key_rows(d, key, strlen(key), rows, n);
	const char *kc = eg_dset_col(d, eg_dset_key_col(d));
	if (!n) {
		cli_error("no row of the dataset %s has %s %s (%llu keys; engram dataset rows %s "
			  "--all lists them)", eg_dset_name(d), kc, key,
			  (unsigned long long)eg_dset_nkeys(d), eg_dset_name(d));
		free(rows);
		eg_dset_close(d);
		cli_close(st, EXIT_ERR);
		return EXIT_ERR;
	}
	uint64_t nkept = 0;
	for (uint64_t i = 0; i < n; i++)
		nkept += (uint64_t)eg_dset_kept(d, rows[i]);
	size_t nf = eg_dset_nfilters(d);
	if (c->format == FMT_TABLE) {
		why_text(d, key, rows, n, nkept);
		rc = fflush(stdout) ? EXIT_ERR : EXIT_OK;
	} else {
		/* one row per base row and filter; the key's verdict on each */
		static const char *const KEYS[] = {
			"key", "row", "kept", "filter", "verdict", "reads", "why", "key_verdict",
		};
		out *o = out_new(stdout, c->format);
		out_header(o, KEYS, 8);
		for (uint64_t i = 0; i < n; i++) {
			for (size_t f = 0; f < nf; f++) {
				const char *why;
				const char *name = eg_dset_filter(d, f, NULL, &why);
				int vd = eg_dset_verdict(d, rows[i], f);
				size_t nr;
				const size_t *rd = eg_dset_filter_reads(d, f, &nr);
				sqlite3_str *b = sqlite3_str_new(NULL);
				reads_json(d, rows[i], rd, nr, b);
				char *rj = sqlite3_str_finish(b);
				out_row_begin(o);
				out_cstr(o, "key", key);
				out_u64(o, "row", rows[i] + 1);
				out_bool(o, "kept", eg_dset_kept(d, rows[i]));
				out_cstr(o, "filter", name);
				out_cstr(o, "verdict", verdict_name(vd));
				out_json(o, "reads", rj ? rj : "{}", rj ? strlen(rj) : 2);
				out_cstr(o, "why", vd == EG_DSET_PASS ? NULL : why);
				out_cstr(o, "key_verdict", nkept ? "kept" : "excluded");
				out_row_end(o);
				sqlite3_free(rj);
			}
		}
		rc = out_finish(o, EXIT_OK);
	}
	free(rows);
	eg_dset_close(d);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ list, show */

static const char *const LIST_KEYS[] = {
	"name", "head", "stale", "rows", "keys", "kept_rows", "kept_keys", "final_rows", "as_of",
	"known_at", "built",
};

typedef struct list_ctx {
	eg_store *st;
	out *o;
	int err;
} list_ctx;

static int list_one(void *ctx, const char *name)
{
	list_ctx *k = ctx;
	eg_dataset *d = NULL;
	int r = eg_dset_open(k->st, name, &d);
	if (r == EG_ENOTFOUND)
		return 0;                /* a directory being built for the first time */
	out_row_begin(k->o);
	out_cstr(k->o, "name", name);
	if (r) {
		/* damaged: listed, so that it can be built again or dropped */
		for (size_t i = 1; i < sizeof LIST_KEYS / sizeof *LIST_KEYS; i++)
			out_null(k->o, LIST_KEYS[i]);
		out_row_end(k->o);
		cli_warn("%s", eg_errmsg(k->st));
		return 0;
	}
	size_t mn;
	const char *man = eg_dset_manifest(d, &mn);
	json_span m = { man, mn, JSON_OBJECT }, v;
	int stale = eg_dset_stale(k->st, d);
	for (size_t i = 1; i < sizeof LIST_KEYS / sizeof *LIST_KEYS; i++) {
		const char *f = LIST_KEYS[i];
		if (!strcmp(f, "stale")) {
			if (stale < 0)
				out_null(k->o, f);
			else
				out_bool(k->o, f, stale);
		} else if (eg_json_member(&m, f, strlen(f), &v) == 1) {
			if (v.type == JSON_STRING)
				out_str(k->o, f, v.p + 1, v.n - 2);
			else if (v.type == JSON_NULL)
				out_null(k->o, f);
			else
				out_json(k->o, f, v.p, v.n);
		} else {
			out_null(k->o, f);
		}
	}
	out_row_end(k->o);
	eg_dset_close(d);
	return out_error(k->o) ? -1 : 0;
}

static int ds_list(cli *c, int arg)
{
	(void)arg;
	int rc = ds_parse(c, NULL, 1, "list takes no argument: engram dataset list");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	list_ctx k = { st, out_new(stdout, c->format), 0 };
	out_header(k.o, LIST_KEYS, sizeof LIST_KEYS / sizeof *LIST_KEYS);
	int r = eg_dset_list(st, list_one, &k);
	if (r && r != -1)
		out_failed(k.o);
	rc = out_finish(k.o, r && r != -1 ? cli_fail(st, r) : EXIT_OK);
	cli_close(st, rc);
	return rc;
}

static int ds_show(cli *c, int arg)
{
	(void)arg;
	int rc = ds_parse(c, NULL, 2, "show takes a dataset name: engram dataset show NAME");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st;
	eg_dataset *d;
	if ((rc = open_named(c, c->pos[1], &st, &d)))
		return rc;
	size_t n;
	const char *man = eg_dset_manifest(d, &n);
	rc = fwrite(man, 1, n, stdout) == n && !fflush(stdout) ? EXIT_OK : EXIT_ERR;
	eg_dset_close(d);
	cli_close(st, rc);
	return rc;
}

static int ds_drop(cli *c, int arg)
{
	(void)arg;
	int rc = ds_parse(c, NULL, 2, "drop takes a dataset name: engram dataset drop NAME");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	int r = eg_dset_drop(st, c->pos[1]);
	rc = r ? dset_fail(st, r) : EXIT_OK;
	cli_close(st, rc);
	return rc;
}

int cmd_dataset(cli *c)
{
	static const cli_sub SUBS[] = {
		{ "build", ds_build, 0 }, { "rows", ds_rows, 0 }, { "explain", ds_explain, 0 },
		{ "why", ds_why, 0 }, { "list", ds_list, 0 }, { "show", ds_show, 0 },
		{ "drop", ds_drop, 0 },
	};
	return cli_subcommand(c, "dataset", SUBS, sizeof SUBS / sizeof *SUBS);
}

/*
 * features.c — engram features: point-in-time feature sets for training
 * (one row per label row of a CSV or NDJSON file), a leakage report, a
 * manifest that reproduces them, and the same features for one entity
 * (serving).  docs/FEATURES.md.
 */
#include "cli.h"
#include "buf.h"
#include "chain.h"
#include "csv.h"
#include "json.h"
#include "num.h"
#include "timefmt.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ files */

static void sha256_hex(const void *p, size_t n, char hex_out[65])
{
	unsigned char h[32];
	unsigned len = 0;
	if (EVP_Digest(p, n, h, &len, eg_chain_sha256(), NULL) != 1)
		memset(h, 0, sizeof h);
	eg_hash_hex(h, hex_out);
}

static int file_sha256(const char *path, char hex_out[65])
{
	size_t n;
	char *t = cli_read_path(path, SIZE_MAX, &n);
	if (!t)
		return -1;
	sha256_hex(t, n, hex_out);
	free(t);
	return 0;
}

/* An output stream that hashes what goes through it (the manifest's
 * output_sha256), on top of the file it writes to. */
typedef struct hashed {
	FILE *to;
	EVP_MD_CTX *md;
} hashed;

static ssize_t hashed_write(void *cookie, const char *p, size_t n)
{
	hashed *h = cookie;
	EVP_DigestUpdate(h->md, p, n);
	return h->to && fwrite(p, 1, n, h->to) != n ? -1 : (ssize_t)n;
}

static FILE *hashed_open(hashed *h, FILE *to)
{
	h->to = to;
	if (!(h->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->md, eg_chain_sha256(), NULL) != 1)
		return NULL;
	cookie_io_functions_t io = { .write = hashed_write };
	return fopencookie(h, "w", io);
}

static void hashed_hex(hashed *h, char hex_out[65])
{
	unsigned char d[32];
	unsigned len = 0;
	if (EVP_DigestFinal_ex(h->md, d, &len) != 1)
		memset(d, 0, sizeof d);
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
	eg_hash_hex(d, hex_out);
}

/* ------------------------------------------------------------ labels */

typedef struct labels {
	const char *path;
	int ndjson;
	size_t ncol;
	char **cols;
	size_t ent_col, cut_col, known_col;   /* SIZE_MAX: none */
	/* rows: ncol cells each, texts in cells (CSV: the field; NDJSON: the
	 * value's JSON text) */
	buf cells;
	size_t *cell_off;          /* nrows * ncol + 1 */
	size_t ncells, ccap;
	int64_t *cutoff, *known;
	uint64_t *line;
	size_t nrows, rcap;
	buf ent;                   /* the entities, decoded */
	size_t *ent_off;           /* nrows + 1 */
	size_t ecap;
} labels;

static void labels_free(labels *L)
{
	for (size_t i = 0; i < L->ncol; i++)
		free(L->cols[i]);
	free(L->cols);
	free(L->cells.p);
	free(L->cell_off);
	free(L->cutoff);
	free(L->known);
	free(L->line);
	free(L->ent.p);
	free(L->ent_off);
}

static int data_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int data_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("engram: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_ERR;
}

static int add_cell(labels *L, const char *p, size_t n)
{
	if (buf_grow(&L->cell_off, &L->ccap, L->ncells + 2, sizeof *L->cell_off) ||
	    buf_add(&L->cells, p, n))
		return -1;
	if (!L->ncells)
		L->cell_off[0] = 0;
	L->cell_off[++L->ncells] = L->cells.n;
	return 0;
}

static const char *cell(const labels *L, size_t row, size_t col, size_t *n)
{
	size_t k = row * L->ncol + col;
	*n = L->cell_off[k + 1] - L->cell_off[k];
	return L->cells.p + L->cell_off[k];
}

static int add_row(labels *L, uint64_t line)
{
	if (buf_grow(&L->cutoff, &L->rcap, L->nrows + 1, sizeof *L->cutoff))
		return -1;
	size_t cap = L->rcap;
	int64_t *k = realloc(L->known, cap * sizeof *k);
	if (k)
		L->known = k;
	uint64_t *l = k ? realloc(L->line, cap * sizeof *l) : NULL;
	if (l)
		L->line = l;
	if (!k || !l || buf_grow(&L->ent_off, &L->ecap, L->nrows + 2, sizeof *L->ent_off))
		return -1;
	L->line[L->nrows] = line;
	L->ent_off[0] = 0;
	return 0;
}

static size_t column(const labels *L, const char *name)
{
	for (size_t i = 0; i < L->ncol; i++)
		if (!strcmp(L->cols[i], name))
			return i;
	return SIZE_MAX;
}

/* A time cell of row (CSV text, or an NDJSON value): 0, or the exit code
 * after naming the line and column. */
static int time_cell(const labels *L, uint64_t line, size_t col, const char *p, size_t n,
		     int64_t *res)
{
	int ok;
	if (L->ndjson && n && p[0] == '"') {
		json_span s = { p, n, JSON_STRING };
		char *t = eg_json_string_dup(&s, NULL);
		ok = t && !eg_time_parse(t, strlen(t), res);
		free(t);
	} else if (L->ndjson) {
		ok = n && eg_json_type_of(p[0]) == JSON_NUMBER && !eg_time_parse_millis(p, n, res);
	} else {
		ok = !eg_time_parse(p, n, res);
	}
	if (!ok)
		return data_error("%s line %llu, column %s: expected an RFC 3339 time or epoch "
				  "milliseconds, got '%.*s'", L->path, (unsigned long long)line,
				  L->cols[col], n > 60 ? 60 : (int)n, p);
	return 0;
}

/* The entity, cutoff and known-at of the row just added. */
static int row_keys(labels *L, uint64_t line)
{
	size_t r = L->nrows, n;
	const char *p = cell(L, r, L->ent_col, &n);
	if (L->ndjson) {
		if (n && p[0] == '"') {
			json_span s = { p, n, JSON_STRING };
			if (buf_reserve(&L->ent, n))
				return data_error("out of memory");
			L->ent.n += eg_json_string_decode(&s, L->ent.p + L->ent.n);
		} else if (n && eg_json_type_of(p[0]) == JSON_NUMBER) {
			if (buf_add(&L->ent, p, n))
				return data_error("out of memory");
		} else {
			return data_error("%s line %llu, column %s: expected a string or a number "
					  "(the entity), got %.*s", L->path, (unsigned long long)line,
					  L->cols[L->ent_col], n > 60 ? 60 : (int)n, p);
		}
	} else if (buf_add(&L->ent, p, n)) {
		return data_error("out of memory");
	}
	L->ent_off[r + 1] = L->ent.n;
	p = cell(L, r, L->cut_col, &n);
	int rc = time_cell(L, line, L->cut_col, p, n, &L->cutoff[r]);
	if (rc)
		return rc;
	L->known[r] = L->cutoff[r];
	if (L->known_col != SIZE_MAX) {
		p = cell(L, r, L->known_col, &n);
		if ((rc = time_cell(L, line, L->known_col, p, n, &L->known[r])))
			return rc;
	}
	L->nrows++;
	return 0;
}

static int find_columns(labels *L, const eg_feat_spec *spec, const char *known_col)
{
	const char *want[3] = { eg_feat_spec_label_entity(spec), eg_feat_spec_label_cutoff(spec),
				known_col };
	const char *what[3] = { "the spec's labels.entity", "the spec's labels.cutoff",
				"--cutoff-known-at" };
	size_t *at[3] = { &L->ent_col, &L->cut_col, &L->known_col };
	for (int i = 0; i < 3; i++) {
		*at[i] = SIZE_MAX;
		if (!want[i])
			continue;
		if ((*at[i] = column(L, want[i])) == SIZE_MAX) {
			buf b = { 0 };
			for (size_t k = 0; k < L->ncol; k++)
				if (buf_puts(&b, k ? ", " : "") || buf_puts(&b, L->cols[k]))
					break;
			buf_add(&b, "", 1);
			int rc = data_error("%s: no column '%s' (%s); its columns are: %s", L->path,
					    want[i], what[i], b.p ? b.p : "");
			free(b.p);
			return rc;
		}
	}
	for (size_t f = 0; f < eg_feat_spec_count(spec); f++)
		if (column(L, eg_feat_spec_name(spec, f)) != SIZE_MAX)
			return data_error("%s: column '%s' has the name of a feature of the spec; "
					  "rename one of them", L->path, eg_feat_spec_name(spec, f));
	return 0;
}

static int read_csv(labels *L, const char *text, size_t n, const eg_feat_spec *spec,
		    const char *known_col)
{
	csv c;
	eg_csv_begin(&c, text, text + n);
	int r = eg_csv_next(&c), rc = EXIT_OK;
	if (r <= 0) {
		rc = r < 0 ? data_error("%s line %llu: %s", L->path, (unsigned long long)c.why_line, c.why)
			   : data_error("%s is empty: expected a header line naming the columns, "
					"then one line per label row", L->path);
		goto done;
	}
	L->ncol = c.nf;
	if (!(L->cols = calloc(c.nf, sizeof *L->cols))) {
		rc = data_error("out of memory");
		goto done;
	}
	for (size_t i = 0; i < c.nf; i++) {
		size_t k;
		const char *p = eg_csv_field(&c, i, &k);
		if (!(L->cols[i] = strndup(p, k))) {
			rc = data_error("out of memory");
			goto done;
		}
		if (!k || column(L, L->cols[i]) < i) {
			rc = data_error("%s line 1: column %zu %s", L->path, i + 1,
					k ? "has the name of an earlier one" : "has no name");
			goto done;
		}
	}
	if ((rc = find_columns(L, spec, known_col)))
		goto done;
	while ((r = eg_csv_next(&c)) == 1) {
		if (c.nf != L->ncol) {
			rc = data_error("%s line %llu: expected %zu fields (as the header has), got %zu",
					L->path, (unsigned long long)c.line, L->ncol, c.nf);
			goto done;
		}
		if (add_row(L, c.line)) {
			rc = data_error("out of memory");
			goto done;
		}
		for (size_t i = 0; i < c.nf; i++) {
			size_t k;
			const char *p = eg_csv_field(&c, i, &k);
			if (!eg_json_utf8_valid(p, k)) {
				rc = data_error("%s line %llu, column %s: not UTF-8 text", L->path,
						(unsigned long long)c.line, L->cols[i]);
				goto done;
			}
			if (add_cell(L, p, k)) {
				rc = data_error("out of memory");
				goto done;
			}
		}
		if ((rc = row_keys(L, c.line)))
			goto done;
	}
	if (r < 0)
		rc = data_error("%s line %llu: %s", L->path, (unsigned long long)c.why_line, c.why);
done:
	eg_csv_free(&c);
	return rc;
}

static int read_ndjson(labels *L, const char *text, size_t n, const eg_feat_spec *spec,
		       const char *known_col)
{
	const char *p = text, *end = text + n;
	uint64_t line = 0;
	json_span *vals = NULL;
	size_t vcap = 0;
	int rc = EXIT_OK;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		line++;
		const char *s = p;
		p = nl ? nl + 1 : end;
		const char *q = s;
		while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == e)
			continue;
		json_obj it;
		json_span k, v;
		json_err je;
		if (eg_json_validate(s, (size_t)(e - s), &je) || eg_json_obj_begin(&it, s, (size_t)(e - s), &je)) {
			rc = data_error("%s line %llu: expected a JSON object (%s)", L->path,
					(unsigned long long)line, je.what ? je.what : "not an object");
			goto done;
		}
		int first = !L->cols;
		if (!first)
			for (size_t i = 0; i < L->ncol; i++)
				vals[i].p = NULL;
		int r;
		while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
			char *name = eg_json_string_dup(&k, NULL);
			if (!name) {
				rc = data_error("out of memory");
				goto done;
			}
			size_t i = L->cols ? column(L, name) : SIZE_MAX;
			if (first && i == SIZE_MAX) {
				char **c2 = realloc(L->cols, (L->ncol + 1) * sizeof *c2);
				if (!c2 || buf_grow(&vals, &vcap, L->ncol + 1, sizeof *vals)) {
					free(name);
					rc = data_error("out of memory");
					goto done;
				}
				L->cols = c2;
				L->cols[L->ncol] = name;
				i = L->ncol++;
			} else if (i == SIZE_MAX) {
				rc = data_error("%s line %llu: column '%s' is not among the first "
						"line's (the columns are the first line's keys)",
						L->path, (unsigned long long)line, name);
				free(name);
				goto done;
			} else {
				free(name);
			}
			vals[i] = v;
		}
		if (first && (rc = find_columns(L, spec, known_col)))
			goto done;
		if (add_row(L, line)) {
			rc = data_error("out of memory");
			goto done;
		}
		for (size_t i = 0; i < L->ncol; i++)
			if (vals[i].p ? add_cell(L, vals[i].p, vals[i].n) : add_cell(L, "null", 4)) {
				rc = data_error("out of memory");
				goto done;
			}
		if ((rc = row_keys(L, line)))
			goto done;
	}
	if (!L->cols)
		rc = data_error("%s is empty: expected one JSON object per label row", L->path);
done:
	free(vals);
	return rc;
}

static int read_labels(labels *L, const char *path, const eg_feat_spec *spec,
		       const char *known_col)
{
	memset(L, 0, sizeof *L);
	L->path = path;
	if (!eg_feat_spec_label_entity(spec)) {
		cli_error("the spec has no \"labels\": {\"entity\": COLUMN, \"cutoff\": COLUMN} "
			  "to read %s with", path);
		return EXIT_USAGE;
	}
	size_t n;
	char *text = cli_read_path(path, SIZE_MAX, &n);
	if (!text) {
		cli_error("%s: cannot read the labels: %s", path, strerror(errno));
		return errno == ENOENT || errno == EACCES || errno == EISDIR ? EXIT_USAGE : EXIT_ERR;
	}
	size_t i = 0;
	while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	L->ndjson = i < n && text[i] == '{';
	int rc = L->ndjson ? read_ndjson(L, text, n, spec, known_col)
			   : read_csv(L, text, n, spec, known_col);
	free(text);
	return rc;
}

/* ------------------------------------------------------------ leakage */

#define EXAMPLES 5
#define LATE_SHOWN 10

typedef struct leak {
	uint64_t differ;
	nacc abs_diff;              /* exact: 60.3 - 30.3 adds 30 */
	buf examples;               /* JSON objects, comma-separated */
	int nex;
} leak;

/* A value's number, 0 when it is null or not a number. */
static num num_or_zero(const char *p, size_t n)
{
	num v = { 0, 0, 1 };
	if (n && eg_json_type_of(p[0]) == JSON_NUMBER)
		eg_num_parse(p, n, &v);
	return v;
}

/* Whether two values are the same: equal texts, or equal numbers (the 1
 * of one event and the 1.0 of another are the same value). */
static int same_value(const char *a, size_t an, const char *b, size_t bn)
{
	if (an == bn && !memcmp(a, b, an))
		return 1;
	if (!an || !bn || eg_json_type_of(a[0]) != JSON_NUMBER || eg_json_type_of(b[0]) != JSON_NUMBER)
		return 0;
	num x = num_or_zero(a, an), y = num_or_zero(b, bn);
	nacc p, q;
	eg_nacc_set(&p, &x, 1);
	eg_nacc_set(&q, &y, 1);
	return !eg_nacc_cmp(&p, &q);
}

/* total += |a - b|, the two taken as numbers (null as 0). */
static void add_abs_diff(nacc *total, const char *a, size_t an, const char *b, size_t bn)
{
	num x = num_or_zero(a, an), y = num_or_zero(b, bn), z = { 0, 0, 1 };
	nacc d, e, zero;
	eg_nacc_set(&zero, &z, 1);
	eg_nacc_set(&d, &x, 1);
	eg_nacc_set(&e, &y, -1);
	eg_nacc_add(&d, &e);
	if (eg_nacc_cmp(&d, &zero) < 0) {
		eg_nacc_set(&d, &y, 1);
		eg_nacc_set(&e, &x, -1);
		eg_nacc_add(&d, &e);
	}
	eg_nacc_add(total, &d);
}

static void put_time(buf *b, int64_t us)
{
	char t[40];
	size_t n = eg_time_format(us, t);
	buf_add(b, "\"", 1);
	buf_add(b, t, n);
	buf_add(b, "\"", 1);
}

static void put_u64(buf *b, uint64_t v)
{
	char t[24];
	buf_add(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* Describe the late events of feature i after the last get. */
static int late_events(eg_store *st, eg_feat *f, size_t i, buf *b)
{
	uint64_t pos[LATE_SHOWN];
	size_t all = eg_feat_late(f, i, pos, LATE_SHOWN);
	size_t k = all < LATE_SHOWN ? all : LATE_SHOWN;
	buf_puts(b, "[");
	for (size_t j = 0; j < k; j++) {
		eg_iter *it;
		eg_filter flt = { .from = pos[j], .to = pos[j] };
		const eg_event *e;
		int rc = eg_iter_new(st, &it, &flt);
		if (rc)
			return rc;
		if ((rc = eg_iter_next(it, &e)) == EG_OK) {
			buf_puts(b, j ? ",{\"pos\":" : "{\"pos\":");
			put_u64(b, e->pos);
			buf_puts(b, ",\"id\":");
			buf_quote(b, e->id, e->id_len);
			buf_puts(b, ",\"time\":");
			put_time(b, e->time);
			buf_puts(b, ",\"recorded\":");
			put_time(b, e->recorded);
			buf_puts(b, "}");
		}
		eg_iter_free(it);
		if (rc != EG_OK)
			return rc;
	}
	buf_puts(b, "]");
	if (all > k) {
		buf_puts(b, ",\"late_events_more\":");
		put_u64(b, all - k);
	}
	return EG_OK;
}

static int note_leaks(eg_store *st, eg_feat *f, const labels *L, size_t r,
		      const eg_feat_values *v, leak *lk)
{
	for (size_t i = 0; i < v->n; i++) {
		const char *a = v->values[i], *b = v->naive[i];
		size_t an = v->lens[i], bn = v->naive_lens[i];
		if (same_value(a, an, b, bn))
			continue;
		leak *x = &lk[i];
		x->differ++;
		add_abs_diff(&x->abs_diff, a, an, b, bn);
		if (x->nex == EXAMPLES)
			continue;
		buf *e = &x->examples;
		buf_puts(e, x->nex++ ? ",{\"row\":" : "{\"row\":");
		put_u64(e, r + 1);
		buf_puts(e, ",\"line\":");
		put_u64(e, L->line[r]);
		buf_puts(e, ",\"entity\":");
		buf_quote(e, L->ent.p + L->ent_off[r], L->ent_off[r + 1] - L->ent_off[r]);
		buf_puts(e, ",\"cutoff\":");
		put_time(e, L->cutoff[r]);
		buf_puts(e, ",\"known_at\":");
		put_time(e, L->known[r]);
		buf_puts(e, ",\"value\":");
		buf_add(e, a, an);
		buf_puts(e, ",\"naive_value\":");
		buf_add(e, b, bn);
		buf_puts(e, ",\"late_events\":");
		int rc = late_events(st, f, i, e);
		if (rc)
			return rc;
		buf_puts(e, "}");
	}
	return EG_OK;
}

static int write_leaks(const char *path, const eg_feat_spec *spec, const leak *lk,
		       size_t rows)
{
	FILE *o = path ? fopen(path, "w") : stderr;
	if (!o) {
		cli_error("%s: cannot write the leakage report: %s", path, strerror(errno));
		return EXIT_ERR;
	}
	for (size_t i = 0; i < eg_feat_spec_count(spec); i++) {
		buf b = { 0 };
		buf_puts(&b, "{\"feature\":");
		const char *name = eg_feat_spec_name(spec, i);
		buf_quote(&b, name, strlen(name));
		buf_puts(&b, ",\"rows\":");
		put_u64(&b, rows);
		buf_puts(&b, ",\"rows_differ\":");
		put_u64(&b, lk[i].differ);
		char t[NUM_TEXT_MAX + 1];
		buf_puts(&b, ",\"abs_diff\":");
		buf_add(&b, t, eg_nacc_format(&lk[i].abs_diff, t));
		buf_puts(&b, ",\"examples\":[");
		buf_add(&b, lk[i].examples.p, lk[i].examples.n);
		buf_puts(&b, "]}\n");
		fwrite(b.p, 1, b.n, o);
		free(b.p);
	}
	int bad = path ? fclose(o) : fflush(o);
	if (bad) {
		cli_error("%s: cannot write the leakage report: %s", path ? path : "stderr",
			  strerror(errno));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ the run */

typedef struct run {
	const char *spec_path, *labels_path, *known_col;
	const char *out_path, *manifest_path, *leak_path;
	int leakage;
	int format;
	int explain;              /* --explain: how the table was made, to stderr */
	uint64_t bound;           /* 0: the head now */
	char output_sha[65];
	size_t rows;
	eg_head head;
} run;

/* Where a projection file named in the spec is: as written (from the
 * current directory), else beside the spec when that exists. */
static const char *proj_path(const char *spec_path, const char *file, char *out_path)
{
	const char *slash = strrchr(spec_path, '/');
	if (file[0] == '/' || !access(file, F_OK) || !slash)
		return file;
	snprintf(out_path, PATH_MAX, "%.*s/%s", (int)(slash - spec_path), spec_path, file);
	return access(out_path, F_OK) ? file : out_path;
}

/* Read the spec and its projections: EXIT_OK or an exit code. */
static int load_spec(const char *path, eg_feat_spec **specp)
{
	int rc;
	size_t n;
	char *json = cli_spec_text(path, &n, &rc);
	if (!json)
		return rc;
	char err[512] = "";
	int r = eg_feat_spec_parse(json, n, specp, err, sizeof err);
	free(json);
	if ((rc = cli_spec_result(path, r, err)))
		return rc;
	for (size_t i = 0; i < eg_feat_spec_count(*specp); i++) {
		const char *file = eg_feat_spec_projection_file(*specp, i);
		char where[PATH_MAX];
		if (!file)
			continue;
		file = proj_path(path, file, where);
		char *pj = cli_spec_text(file, &n, &rc);
		if (!pj)
			return rc;
		r = eg_feat_spec_set_projection(*specp, i, pj, n, err, sizeof err);
		free(pj);
		if (r == EG_EINVAL) {
			cli_error("%s: feature %s: %s: %s", path, eg_feat_spec_name(*specp, i), file, err);
			return EXIT_USAGE;
		}
		if (r)
			return cli_spec_result(file, r, err);
	}
	return EXIT_OK;
}

/* An NDJSON label's string in a csv or table cell: its text, decoded. */
static void put_label_string(out *w, const char *key, const char *p, size_t n)
{
	json_span v = { p, n, JSON_STRING };
	size_t k;
	char *t = eg_json_string_dup(&v, &k);
	if (t)
		out_str(w, key, t, k);
	else
		out_json(w, key, p, n);
	free(t);
}

/* A feature's value: null as the format writes a null (csv: empty). */
static void put_value(out *w, const char *key, const char *v, size_t n)
{
	if (n == 4 && !memcmp(v, "null", 4))
		out_null(w, key);
	else if (n && v[0] == '"' && memchr(v, '\\', n))
		put_label_string(w, key, v, n);   /* a csv cell shows the text */
	else
		out_json(w, key, v, n);
}

/* Write every row of the labels with its features to o (hashed). */
/* Where the rows go: the writer and what a row needs. */
typedef struct rowsink {
	out *w;
	const labels *L;
	const char **keys;
	int format;
} rowsink;

/* One row: the label's cells as they were, then the features. */
static int put_row(void *ctx, size_t r, const eg_feat_values *v)
{
	rowsink *k = ctx;
	const labels *L = k->L;
	out_row_begin(k->w);
	for (size_t i = 0; i < L->ncol; i++) {
		size_t n;
		const char *p = cell(L, r, i, &n);
		if (L->ndjson && !(k->format != FMT_NDJSON && n && p[0] == '"'))
			out_json(k->w, k->keys[i], p, n);
		else if (L->ndjson)
			put_label_string(k->w, k->keys[i], p, n);
		else
			out_str(k->w, k->keys[i], p, n);
	}
	for (size_t i = 0; i < v->n; i++)
		put_value(k->w, k->keys[L->ncol + i], v->values[i], v->lens[i]);
	out_row_end(k->w);
	return 0;
}

/* Write every row of the labels with its features to o (hashed): in
 * parallel (eg_feat_get_rows), or one by one with the naive values beside
 * them for the leakage report. */
static int write_rows(eg_store *st, eg_feat *f, const eg_feat_spec *spec, const labels *L,
		      FILE *o, int format, leak *lk, int leakage)
{
	out *w = out_new(o, format);
	size_t nf = eg_feat_spec_count(spec);
	const char **keys = calloc(L->ncol + nf, sizeof *keys);
	const char **ents = calloc(L->nrows + 1, sizeof *ents);
	size_t *lens = calloc(L->nrows + 1, sizeof *lens);
	if (!keys || !ents || !lens) {
		free(keys);
		free(ents);
		free(lens);
		out_failed(w);
		out_free(w);
		return data_error("out of memory");
	}
	for (size_t i = 0; i < L->ncol; i++)
		keys[i] = L->cols[i];
	for (size_t i = 0; i < nf; i++)
		keys[L->ncol + i] = eg_feat_spec_name(spec, i);
	out_header(w, keys, (int)(L->ncol + nf));
	rowsink k = { w, L, keys, format };
	for (size_t r = 0; r < L->nrows; r++) {
		ents[r] = L->ent.p + L->ent_off[r];
		lens[r] = L->ent_off[r + 1] - L->ent_off[r];
	}
	int g = EG_OK;
	if (!leakage)
		g = eg_feat_get_rows(f, L->nrows, ents, lens, L->cutoff, L->known, 0, put_row, &k);
	for (size_t r = 0; leakage && r < L->nrows && !g; r++) {
		eg_feat_values v;
		g = eg_feat_get(f, ents[r], lens[r], L->cutoff[r], L->known[r], EG_FEAT_NAIVE, &v);
		if (!g)
			g = note_leaks(st, f, L, r, &v, lk);
		if (!g)
			put_row(&k, r, &v);
	}
	int rc = EXIT_OK;
	if (g) {
		out_failed(w);
		rc = cli_fail(st, g);
	}
	rc = out_finish(w, rc);
	free(keys);
	free(ents);
	free(lens);
	return rc;
}

static void json_str(buf *b, const char *key, const char *v)
{
	buf_puts(b, ",\n  \"");
	buf_puts(b, key);
	buf_puts(b, "\": ");
	if (v)
		buf_quote(b, v, strlen(v));
	else
		buf_puts(b, "null");
}

/* A file's path for the manifest: absolute, so that --check finds it
 * from anywhere. */
static void json_path(buf *b, const char *key, const char *v)
{
	char abs[PATH_MAX];
	json_str(b, key, v && realpath(v, abs) ? abs : v);
}

static int write_manifest(const run *R, const eg_feat_spec *spec, const char *store_dir)
{
	char hex[65], sha[65];
	buf b = { 0 };
	buf_puts(&b, "{\n  \"engram_version\": \"" EG_VERSION "\"");
	char abs[PATH_MAX];
	json_str(&b, "store", realpath(store_dir, abs) ? abs : store_dir);
	eg_hash_hex(R->head.hash, hex);
	buf_puts(&b, ",\n  \"head\": {\"pos\": ");
	put_u64(&b, R->head.pos);
	buf_puts(&b, ", \"chain\": \"");
	buf_puts(&b, hex);
	buf_puts(&b, "\"}");
	json_path(&b, "spec", R->spec_path);
	if (file_sha256(R->spec_path, sha))
		goto fail;
	json_str(&b, "spec_sha256", sha);
	buf_puts(&b, ",\n  \"projections\": [");
	int k = 0;
	for (size_t i = 0; i < eg_feat_spec_count(spec); i++) {
		const char *file = eg_feat_spec_projection_file(spec, i);
		char where[PATH_MAX];
		if (!file)
			continue;
		file = proj_path(R->spec_path, file, where);
		if (file_sha256(file, sha))
			goto fail;
		char abs2[PATH_MAX];
		const char *af = realpath(file, abs2) ? abs2 : file;
		buf_puts(&b, k++ ? ", {\"file\": " : "{\"file\": ");
		buf_quote(&b, af, strlen(af));
		buf_puts(&b, ", \"sha256\": \"");
		buf_puts(&b, sha);
		buf_puts(&b, "\"}");
	}
	buf_puts(&b, "]");
	json_path(&b, "labels", R->labels_path);
	if (file_sha256(R->labels_path, sha))
		goto fail;
	json_str(&b, "labels_sha256", sha);
	json_str(&b, "cutoff_known_at", R->known_col);
	json_str(&b, "format", R->format == FMT_CSV ? "csv" : R->format == FMT_TABLE ? "table" : "ndjson");
	buf_puts(&b, ",\n  \"rows\": ");
	put_u64(&b, R->rows);
	json_path(&b, "output", R->out_path);
	json_str(&b, "output_sha256", R->output_sha);
	buf_puts(&b, "\n}\n");
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", R->manifest_path, (long)getpid());
	FILE *o = fopen(tmp, "w");
	int bad = !o || fwrite(b.p, 1, b.n, o) != b.n || fflush(o) || fsync(fileno(o));
	int e = errno;
	if (o && fclose(o) && !bad)
		bad = 1, e = errno;
	if (bad || rename(tmp, R->manifest_path)) {
		e = bad ? e : errno;
		unlink(tmp);
		errno = e;
		goto fail;
	}
	free(b.p);
	return EXIT_OK;
fail:
	cli_error("%s: cannot write the manifest: %s", R->manifest_path, strerror(errno));
	free(b.p);
	return EXIT_ERR;
}

/* A store loaded after the fact (every event recorded after every row's
 * known-at time) gives features as over no events: say why. */
static void warn_unknown(eg_store *st, const labels *L)
{
	int64_t latest = INT64_MIN;
	for (size_t r = 0; r < L->nrows; r++)
		if (L->known[r] > latest)
			latest = L->known[r];
	/* record time never decreases along the log: the first event has
	 * the earliest */
	eg_iter *it;
	const eg_event *e;
	eg_filter first = { .from = 1, .to = 1 };
	if (!L->nrows || eg_iter_new(st, &it, &first))
		return;
	int64_t earliest = eg_iter_next(it, &e) == EG_OK ? e->recorded : INT64_MIN;
	eg_iter_free(it);
	if (earliest <= latest)
		return;
	char a[40], b[40];
	eg_time_format(earliest, a);
	eg_time_format(latest, b);
	cli_warn("every event was recorded (from %s) after the latest time a label row is "
		 "known at (%s), so every feature is as over no events.  If the store was "
		 "loaded after the fact, `engram append --keep-recorded` keeps the time each "
		 "event was first recorded (docs/FEATURES.md)", a, b);
}

/* --explain: how eg_feat_open made the entity table, one line on stderr. */
static void explain(const eg_feat *f)
{
	eg_feat_explain x;
	eg_feat_get_explain(f, &x);
	fprintf(stderr, "{\"explain\":\"table\",\"bound\":%llu,\"kept\":%s,\"built\":%llu",
		(unsigned long long)x.bound, x.kept ? "true" : "false",
		(unsigned long long)x.built);
	/* on the log path every event read came from the log */
	cli_explain_path(stderr, x.path, x.path_why, x.from_columns,
			 x.path && !strcmp(x.path, "log") ? x.built : x.from_log);
	fprintf(stderr, "}\n");
}

/* Compute the rows of R on the store st; write them to dest (NULL: only
 * hash them).  The manifest's hash is R->output_sha. */
static int compute(eg_store *st, run *R, eg_feat_spec *spec, FILE *dest)
{
	labels L;
	int rc = read_labels(&L, R->labels_path, spec, R->known_col);
	if (rc) {
		labels_free(&L);
		return rc;
	}
	eg_feat *f = NULL;
	int g = eg_feat_open(st, spec, R->bound, &f);
	if (g) {
		labels_free(&L);
		return cli_fail(st, g);
	}
	R->head.pos = eg_feat_bound(f);
	if (R->explain)
		explain(f);
	if ((g = eg_store_chain_at(st, R->head.pos, R->head.hash))) {
		eg_feat_close(f);
		labels_free(&L);
		return cli_fail(st, g);
	}
	size_t nf = eg_feat_spec_count(spec);
	leak *lk = calloc(nf ? nf : 1, sizeof *lk);
	for (size_t i = 0; lk && i < nf; i++) {
		num z = { 0, 0, 1 };
		eg_nacc_set(&lk[i].abs_diff, &z, 1);
	}
	hashed h = { 0 };
	FILE *o = lk ? hashed_open(&h, dest) : NULL;
	if (!o) {
		rc = data_error("out of memory");
	} else {
		rc = write_rows(st, f, spec, &L, o, R->format, lk, R->leakage);
		if (fclose(o) && rc == EXIT_OK)
			rc = data_error("cannot write the rows: %s", strerror(errno));
		hashed_hex(&h, R->output_sha);
		R->rows = L.nrows;
	}
	if (rc == EXIT_OK && R->leakage)
		rc = write_leaks(R->leak_path, spec, lk, L.nrows);
	if (rc == EXIT_OK)
		warn_unknown(st, &L);
	for (size_t i = 0; lk && i < nf; i++)
		free(lk[i].examples.p);
	free(lk);
	eg_feat_close(f);
	labels_free(&L);
	return rc;
}

static int training(cli *c, run *R, eg_feat_spec *spec)
{
	int rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	char tmp[PATH_MAX] = "";
	FILE *dest = stdout;
	if (R->out_path) {
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", R->out_path, (long)getpid());
		if (!(dest = fopen(tmp, "w"))) {
			cli_error("%s: cannot write: %s", R->out_path, strerror(errno));
			cli_close(st, EXIT_ERR);
			return EXIT_ERR;
		}
	}
	rc = compute(st, R, spec, dest);
	if (R->out_path) {
		/* durable before it takes the name: a crash leaves the old
		 * file or the whole new one */
		int e = fflush(dest) || fsync(fileno(dest)) ? errno : 0;
		if (fclose(dest) && !e)
			e = errno;
		if (rc == EXIT_OK && !e && rename(tmp, R->out_path))
			e = errno;
		if (rc == EXIT_OK && e)
			rc = data_error("%s: cannot write: %s", R->out_path, strerror(e));
		if (rc != EXIT_OK)
			unlink(tmp);
	} else {
		fflush(stdout);
	}
	if (rc == EXIT_OK && R->manifest_path)
		rc = write_manifest(R, spec, c->dir);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ serving */

static int serving(cli *c, eg_feat_spec *spec, const char *entity, const char *at_s,
		   const char *known_s, int format, int explain_it)
{
	int64_t at, known;
	int rc;
	if (at_s) {
		if ((rc = cli_time(c, "at", at_s, &at)))
			return rc;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	known = at;
	if (known_s && (rc = cli_time(c, "known-at", known_s, &known)))
		return rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	eg_feat *f = NULL;
	eg_feat_values v;
	int g = eg_feat_open(st, spec, 0, &f);
	if (!g && explain_it)
		explain(f);
	if (!g)
		g = eg_feat_get(f, entity, strlen(entity), at, known, 0, &v);
	if (g) {
		rc = cli_fail(st, g);
	} else {
		out *w = out_new(stdout, format);
		out_row_begin(w);
		out_cstr(w, "entity", entity);
		out_time(w, "at", at);
		out_time(w, "known_at", known);
		for (size_t i = 0; i < v.n; i++)
			put_value(w, v.names[i], v.values[i], v.lens[i]);
		out_row_end(w);
		rc = out_finish(w, EXIT_OK);
	}
	eg_feat_close(f);
	cli_close(st, rc);
	return rc;
}

/* ------------------------------------------------------------ --check */

/* A string member of the manifest, malloc'd; NULL if absent or null. */
static char *mstr(const char *json, size_t n, const char *name)
{
	json_span obj = { json, n, JSON_OBJECT }, v;
	if (!eg_json_member(&obj, name, strlen(name), &v) || v.type != JSON_STRING)
		return NULL;
	return eg_json_string_dup(&v, NULL);
}

static int check(cli *c, const char *path)
{
	size_t n;
	char *json = cli_read_path(path, SIZE_MAX, &n);
	if (!json) {
		cli_error("%s: cannot read the manifest: %s", path, strerror(errno));
		return EXIT_USAGE;
	}
	json_span obj = { json, n, JSON_OBJECT }, head, v;
	run R = { .format = FMT_NDJSON };
	char *spec_path = NULL, *labels_path = NULL, *known = NULL, *store = NULL, *fmt = NULL;
	char *spec_sha = NULL, *labels_sha = NULL, *out_sha = NULL, *chain = NULL;
	int rc = EXIT_OK;
	eg_feat_spec *spec = NULL;
	json_obj it;
	if (eg_json_validate(json, n, NULL) || eg_json_obj_begin(&it, json, n, NULL) ||
	    !eg_json_member(&obj, "head", 4, &head) || head.type != JSON_OBJECT ||
	    !eg_json_member(&head, "pos", 3, &v) || v.type != JSON_NUMBER ||
	    !(spec_path = mstr(json, n, "spec")) || !(labels_path = mstr(json, n, "labels")) ||
	    !(store = mstr(json, n, "store")) || !(spec_sha = mstr(json, n, "spec_sha256")) ||
	    !(labels_sha = mstr(json, n, "labels_sha256")) || !(out_sha = mstr(json, n, "output_sha256"))) {
		cli_error("%s: not a features manifest (engram features --out writes one)", path);
		rc = EXIT_USAGE;
		goto done;
	}
	R.bound = strtoull(v.p, NULL, 10);
	json_span hc;
	json_span hobj = head;
	if (eg_json_member(&hobj, "chain", 5, &hc) && hc.type == JSON_STRING)
		chain = eg_json_string_dup(&hc, NULL);
	known = mstr(json, n, "cutoff_known_at");
	fmt = mstr(json, n, "format");
	R.format = fmt && !strcmp(fmt, "csv") ? FMT_CSV : fmt && !strcmp(fmt, "table") ? FMT_TABLE : FMT_NDJSON;
	R.spec_path = spec_path;
	R.labels_path = labels_path;
	R.known_col = known;
	char sha[65];
	const char *files[2] = { spec_path, labels_path }, *want[2] = { spec_sha, labels_sha };
	for (int i = 0; i < 2; i++)
		if (file_sha256(files[i], sha) || strcmp(sha, want[i])) {
			cli_error("%s: %s %s since the manifest was written (sha256 %s, the manifest "
				  "has %s)", path, files[i], errno == ENOENT ? "is gone" : "changed",
				  sha, want[i]);
			rc = EXIT_INTEGRITY;
			goto done;
		}
	if ((rc = load_spec(spec_path, &spec)))
		goto done;
	json_span projs, pe;
	if (eg_json_member(&obj, "projections", 11, &projs) && projs.type == JSON_ARRAY) {
		json_arr a;
		eg_json_arr_begin(&a, &projs);
		while (eg_json_arr_next(&a, &pe) == 1) {
			char *file = mstr(pe.p, pe.n, "file"), *ps = mstr(pe.p, pe.n, "sha256");
			int same = file && ps && !file_sha256(file, sha) && !strcmp(sha, ps);
			if (!same)
				cli_error("%s: projection %s changed since the manifest was written",
					  path, file ? file : "?");
			free(file);
			free(ps);
			if (!same) {
				rc = EXIT_INTEGRITY;
				goto done;
			}
		}
	}
	c->dir = store;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		goto done;
	rc = compute(st, &R, spec, NULL);
	char hex[65];
	eg_hash_hex(R.head.hash, hex);
	if (rc == EXIT_OK && chain && strcmp(hex, chain)) {
		cli_error("%s: the store's chain at position %llu is %s, the manifest has %s: the "
			  "log is not the one the training set was made from", path,
			  (unsigned long long)R.bound, hex, chain);
		rc = EXIT_INTEGRITY;
	}
	if (rc == EXIT_OK) {
		int same = !strcmp(R.output_sha, out_sha);
		out *w = out_new(stdout, c->format);
		out_row_begin(w);
		out_cstr(w, "check", same ? "identical" : "differs");
		out_u64(w, "rows", R.rows);
		out_u64(w, "head_pos", R.bound);
		out_cstr(w, "output_sha256", R.output_sha);
		out_cstr(w, "manifest_sha256", out_sha);
		out_row_end(w);
		rc = out_finish(w, same ? EXIT_OK : EXIT_INTEGRITY);
		if (!same)
			cli_error("%s: the rows computed again differ from the training set's",
				  path);
	}
	cli_close(st, rc);
done:
	eg_feat_spec_free(spec);
	free(json);
	free(spec_path);
	free(labels_path);
	free(known);
	free(store);
	free(fmt);
	free(spec_sha);
	free(labels_sha);
	free(out_sha);
	free(chain);
	return rc;
}

/* ------------------------------------------------------------ command */

int cmd_features(cli *c)
{
	const char *labels_p = NULL, *known_col = NULL, *out_p = NULL, *manifest = NULL;
	const char *leak_out = NULL, *entity = NULL, *at = NULL, *known_at = NULL;
	const char *check_p = NULL;
	int leakage = 0, explain_it = 0;
	const opt opts[] = {
		{ "labels", 1, &labels_p, NULL },
		{ "explain", 0, NULL, &explain_it },
		{ "cutoff-known-at", 1, &known_col, NULL },
		{ "out", 1, &out_p, NULL },
		{ "manifest", 1, &manifest, NULL },
		{ "leakage-report", 0, NULL, &leakage },
		{ "leakage-out", 1, &leak_out, NULL },
		{ "entity", 1, &entity, NULL },
		{ "at", 1, &at, NULL },
		{ "known-at", 1, &known_at, NULL },
		{ "check", 1, &check_p, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (check_p) {
		if (c->npos || labels_p || entity)
			return cli_usage_error(c, "--check MANIFEST takes no spec, --labels or --entity: "
					       "the manifest names them");
		return check(c, check_p);
	}
	if (c->npos != 1)
		return cli_usage_error(c, "expected a features spec file");
	/* the spec first: its errors say more than a missing flag does */
	eg_feat_spec *spec = NULL;
	if ((rc = load_spec(c->pos[0], &spec))) {
		eg_feat_spec_free(spec);
		return rc;
	}
	if (!labels_p == !entity)
		rc = cli_usage_error(c, "expected --labels FILE (a training set) or --entity E "
				     "(one entity's features)");
	else if (entity && (known_col || out_p || manifest || leakage || leak_out))
		rc = cli_usage_error(c, "--entity answers one entity: --cutoff-known-at, --out, "
				     "--manifest and the leakage report go with --labels");
	else if (labels_p && (at || known_at))
		rc = cli_usage_error(c, "--at and --known-at go with --entity; with --labels the "
				     "cutoff (and --cutoff-known-at) columns give them");
	if (rc) {
		eg_feat_spec_free(spec);
		return rc;
	}
	if (entity) {
		rc = serving(c, spec, entity, at, known_at, c->format, explain_it);
	} else {
		char mpath[PATH_MAX];
		if (!manifest && out_p) {
			snprintf(mpath, sizeof mpath, "%s.manifest.json", out_p);
			manifest = mpath;
		}
		int format = c->format;
		if (out_p && !c->format_given) {
			/* a file is not a terminal: its name says what it is */
			size_t k = strlen(out_p);
			format = k >= 4 && !strcmp(out_p + k - 4, ".csv") ? FMT_CSV : FMT_NDJSON;
		}
		run R = { .spec_path = c->pos[0], .labels_path = labels_p, .known_col = known_col,
			  .out_path = out_p, .manifest_path = manifest, .leak_path = leak_out,
			  .leakage = leakage || leak_out, .format = format, .explain = explain_it };
		rc = training(c, &R, spec);
	}
	eg_feat_spec_free(spec);
	return rc;
}

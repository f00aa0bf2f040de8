/*
 * dsetread.c — a kept dataset read back (dset.h): the file mapped and
 * checked, its values and verdicts, and what engram dataset explain and
 * why compute from them: attrition, overlaps, groups, a key's rows.
 * Nothing here runs SQL or reads the log.
 */
#include "dset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "num.h"
#include "os.h"
#include "sqlite.h"

/* ------------------------------------------------------------ values */

static void put_varint(buf *b, uint64_t v, int *err)
{
	unsigned char t[10];
	size_t n = 0;
	do {
		t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	*err |= buf_add(b, t, n);
}

static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int s = 0; s < 70 && *p < end; s += 7) {
		unsigned char c = *(*p)++;
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

int dset_put_int(buf *b, int64_t i)
{
	unsigned char tag = DV_INT;
	int err = buf_add(b, &tag, 1);
	put_varint(b, ((uint64_t)i << 1) ^ (uint64_t)(i >> 63), &err);
	return err ? -1 : 0;
}

int dset_put_value(buf *b, sqlite3_value *v)
{
	int err = 0;
	unsigned char tag;
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		err |= dset_put_int(b, sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT: {
		double r = sqlite3_value_double(v);
		tag = DV_REAL;
		err |= buf_add(b, &tag, 1) | buf_add(b, &r, 8);
		break;
	}
	case SQLITE_TEXT: case SQLITE_BLOB: {
		int text = sqlite3_value_type(v) == SQLITE_TEXT;
		const void *s = text ? (const void *)sqlite3_value_text(v) : sqlite3_value_blob(v);
		size_t n = (size_t)sqlite3_value_bytes(v);
		tag = text ? DV_TEXT : DV_BLOB;
		err |= buf_add(b, &tag, 1);
		put_varint(b, n, &err);
		err |= buf_add(b, s, n);
		break;
	}
	default:
		tag = DV_NULL;
		err |= buf_add(b, &tag, 1);
		break;
	}
	return err ? -1 : 0;
}

int dset_get_value(const unsigned char **p, const unsigned char *end, eg_dset_value *v)
{
	memset(v, 0, sizeof *v);
	v->type = SQLITE_NULL;
	if (*p >= end)
		return -1;
	uint64_t x;
	switch (*(*p)++) {
	case DV_NULL:
		return 0;
	case DV_INT:
		if (get_varint(p, end, &x))
			return -1;
		v->type = SQLITE_INTEGER;
		v->i = (int64_t)(x >> 1) ^ -(int64_t)(x & 1);
		return 0;
	case DV_REAL:
		if (end - *p < 8)
			return -1;
		memcpy(&v->r, *p, 8);
		*p += 8;
		v->type = SQLITE_FLOAT;
		return 0;
	case DV_TEXT: case DV_BLOB:
		v->type = (*p)[-1] == DV_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
		if (get_varint(p, end, &x) || x > (uint64_t)(end - *p))
			return -1;
		v->s = (const char *)*p;
		v->n = (size_t)x;
		*p += x;
		return 0;
	default:
		return -1;
	}
}

void dset_row(const eg_dataset *d, uint64_t r, const unsigned char **p, const unsigned char **end)
{
	*p = d->values + d->rowoff[r];
	*end = d->values + d->rowoff[r + 1];
}

void eg_dset_value_at(const eg_dataset *d, uint64_t r, size_t col, eg_dset_value *v)
{
	const unsigned char *p, *end;
	dset_row(d, r, &p, &end);
	for (size_t i = 0; i <= col; i++)
		if (dset_get_value(&p, end, v))
			break;   /* a row cut short (never written so) reads as NULL */
}

size_t eg_dset_value_text(const eg_dset_value *v, char *out, size_t cap)
{
	size_t n = 0;
	char t[64];
	switch (v->type) {
	case SQLITE_INTEGER:
		n = (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i);
		break;
	case SQLITE_FLOAT:
		if (isfinite(v->r))
			n = eg_num_format_double(v->r, t);
		else
			n = (size_t)snprintf(t, sizeof t, "%s", v->r > 0 ? "Infinity" : "-Infinity");
		break;
	case SQLITE_TEXT:
		n = v->n < cap ? v->n : cap ? cap - 1 : 0;
		if (cap && n)
			memcpy(out, v->s, n);
		if (cap)
			out[n] = 0;
		return n;
	case SQLITE_BLOB:
		for (size_t i = 0; i < v->n && 2 * i + 2 < cap; i++, n += 2)
			snprintf(out + 2 * i, 3, "%02x", (unsigned char)v->s[i]);
		if (cap)
			out[n] = 0;
		return n;
	default:
		n = (size_t)snprintf(t, sizeof t, "null");
		break;
	}
	if (!cap)
		return 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = 0;
	return n;
}

/* ------------------------------------------------------------ opening */

const char *dset_name_error(const char *name)
{
	size_t n = strlen(name);
	if (!n)
		return "is empty";
	if (n > DSET_NAME_MAX)
		return "is longer than 128 bytes";
	if (name[0] == '.')
		return "starts with '.' (a dataset is a directory of DIR/datasets/)";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/')
			return "holds '/' (a dataset is a directory of DIR/datasets/)";
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return "may hold only letters, digits, '_', '-' and '.'";
	}
	return NULL;
}

/* The header's sections: offset and length each. */
typedef struct sections {
	uint64_t off[DSEC_N], len[DSEC_N];
} sections;

static int file_ok(const unsigned char *p, size_t n, void *ctx)
{
	(void)ctx;
	return n >= 16 + DSET_HDR && !memcmp(p, DSET_MAGIC, 8) &&
	       !memcmp(p + n - 8 - DSET_HDR, DSET_MAGIC, 8) ? eg_ds_tail_sum_ok(p, n, NULL) : -1;
}

/* The meta section: strings (u32 length, bytes) and numbers, read into
 * d with its strings copied into one block. */
static int read_meta(eg_dataset *d, const unsigned char *p, uint64_t n)
{
	bread r = { p, p + n, 0 };
	/* every string is at most as long as the section: one block holds all */
	char *blk = malloc(n + 1), *w = blk;
	if (!blk)
		return EG_ENOMEM;
	d->meta_block = blk;
#define STR(dst) do {                                               \
		uint32_t l_ = bread_u32(&r);                             \
		const unsigned char *s_ = bread_get(&r, l_);             \
		if (!s_ || (size_t)(w - blk) + l_ + 1 > n + 1) return EG_ECORRUPT; \
		memcpy(w, s_, l_); w[l_] = 0; (dst) = w; w += l_ + 1;    \
	} while (0)
	STR(d->name);
	const char *fp;
	STR(fp);
	snprintf(d->fingerprint, sizeof d->fingerprint, "%s", fp);
	d->head = bread_u64(&r);
	d->as_of = (int64_t)bread_u64(&r);
	d->known_at = (int64_t)bread_u64(&r);
	d->key_col = bread_u32(&r);
	d->distinct = (int)bread_u32(&r);
	d->noutput = bread_u32(&r);
	if (r.bad || d->key_col >= d->ncols || d->noutput > d->ncols)
		return EG_ECORRUPT;
	d->cols = calloc(d->ncols + 1, sizeof *d->cols);
	d->output = calloc(d->noutput + 1, sizeof *d->output);
	d->filters = calloc(d->nfilters + 1, sizeof *d->filters);
	if (!d->cols || !d->output || !d->filters)
		return EG_ENOMEM;
	for (size_t i = 0; i < d->noutput; i++)
		if ((d->output[i] = bread_u32(&r)) >= d->ncols)
			return EG_ECORRUPT;
	for (size_t i = 0; i < d->ncols; i++)
		STR(d->cols[i]);
	for (size_t i = 0; i < d->nfilters; i++) {
		dset_filter *f = &d->filters[i];
		STR(f->name);
		STR(f->sql);
		STR(f->why);
		f->nreads = bread_u32(&r);
		if (r.bad || f->nreads > d->ncols)
			return EG_ECORRUPT;
		if (!(f->reads = calloc(f->nreads + 1, sizeof *f->reads)))
			return EG_ENOMEM;
		for (size_t k = 0; k < f->nreads; k++)
			if ((f->reads[k] = bread_u32(&r)) >= d->ncols)
				return EG_ECORRUPT;
	}
#undef STR
	return r.bad ? EG_ECORRUPT : EG_OK;
}

/* Every section where the trailer says, of the size its counts give; the
 * rows' offsets in order within the values section; the key numbers in
 * range.  (A value is decoded with its row's end as a bound, so a row's
 * bytes need no check of their own.) */
static int check_layout(eg_dataset *d, const sections *s, uint64_t size)
{
	uint64_t W = d->words;
	uint64_t want[DSEC_N] = {
		[DSEC_ROWOFF] = (d->nrows + 1) * 8, [DSEC_PASS] = d->nfilters * W * 8,
		[DSEC_NULL] = d->nfilters * W * 8, [DSEC_KEEP] = W * 8,
		[DSEC_KEYID] = d->nrows * 4, [DSEC_KEYFIRST] = d->nkeys * 8,
	};
	for (int i = 0; i < DSEC_N; i++) {
		if (s->off[i] % 8 || s->off[i] < 8 || s->off[i] > size || s->len[i] > size - s->off[i])
			return -1;
		if (i != DSEC_VALUES && i != DSEC_META && i != DSEC_MANIFEST && s->len[i] != want[i])
			return -1;
	}
	if (d->nkeys > d->nrows || d->nrows > UINT32_MAX)
		return -1;
	const unsigned char *p = d->v.p;
	d->values = p + s->off[DSEC_VALUES];
	d->values_len = s->len[DSEC_VALUES];
	d->rowoff = (const uint64_t *)(p + s->off[DSEC_ROWOFF]);
	d->pass = (const uint64_t *)(p + s->off[DSEC_PASS]);
	d->null = (const uint64_t *)(p + s->off[DSEC_NULL]);
	d->keep = (const uint64_t *)(p + s->off[DSEC_KEEP]);
	d->keyid = (const uint32_t *)(p + s->off[DSEC_KEYID]);
	d->keyfirst = (const uint64_t *)(p + s->off[DSEC_KEYFIRST]);
	d->manifest = (const char *)p + s->off[DSEC_MANIFEST];
	d->manifest_len = s->len[DSEC_MANIFEST];
	if (d->rowoff[0] != 0 || d->rowoff[d->nrows] != d->values_len)
		return -1;
	for (uint64_t r = 0; r < d->nrows; r++)
		if (d->rowoff[r] > d->rowoff[r + 1] || d->rowoff[r + 1] > d->values_len ||
		    d->keyid[r] >= d->nkeys)
			return -1;
	for (uint64_t k = 0; k < d->nkeys; k++)
		if (d->keyfirst[k] >= d->nrows || d->keyid[d->keyfirst[k]] != k)
			return -1;
	/* keep is every filter's pass, and a row NULL for a filter fails it */
	for (uint64_t w = 0; w < W; w++) {
		uint64_t all = w + 1 < W || !(d->nrows % 64) ? UINT64_MAX
							       : (UINT64_C(1) << (d->nrows % 64)) - 1;
		for (size_t i = 0; i < d->nfilters; i++) {
			all &= d->pass[i * W + w];
			if (d->pass[i * W + w] & d->null[i * W + w])
				return -1;
		}
		if (d->keep[w] != all)
			return -1;
	}
	return 0;
}

void eg_dset_close(eg_dataset *d)
{
	if (!d)
		return;
	eg_ds_view_free(&d->v);
	for (size_t i = 0; d->filters && i < d->nfilters; i++)
		free(d->filters[i].reads);
	free(d->filters);
	free(d->cols);
	free(d->output);
	free(d->meta_block);
	free(d);
}

int eg_dset_open(eg_store *st, const char *name, eg_dataset **out)
{
	*out = NULL;
	const char *bad = dset_name_error(name);
	if (bad)
		return eg_st_err(st, EG_EINVAL, "dataset name '%s' %s", name, bad);
	char dir[PATH_MAX];
	struct stat sb;
	snprintf(dir, sizeof dir, "%s%s/%s/%s", st->dir, DSET_SUB, name, DSET_FILE);
	if (eg_os.stat(dir, &sb))
		return errno == ENOENT ? eg_st_err(st, EG_ENOTFOUND, "no dataset '%s' is kept "
						    "(engram dataset list shows those that are; "
						    "engram dataset build SPEC builds one)", name)
				       : eg_st_errno(st, "cannot read %s", dir);
	eg_ds ds;
	if (eg_ds_open(st, DSET_SUB, name, 0, NULL, 0, &ds))
		return eg_st_errno(st, "cannot open the dataset %s", name);
	eg_dataset *d = calloc(1, sizeof *d);
	if (!d) {
		eg_ds_close(&ds);
		return EG_ENOMEM;
	}
	int r = eg_ds_read(&ds, DSET_FILE, EG_DS_MAP, 16 + DSET_HDR, file_ok, NULL, &d->v);
	eg_ds_close(&ds);
	if (r == EG_DS_IOERR) {
		eg_dset_close(d);
		return eg_st_errno(st, "cannot read the dataset %s", name);
	}
	int rc = r ? EG_ECORRUPT : EG_OK;
	if (!rc) {
		const unsigned char *t = d->v.p + d->v.n - 8 - DSET_HDR;   /* the trailer */
		bread h = { t + 8, t + DSET_HDR, 0 };
		sections s;
		d->nrows = bread_u64(&h);
		d->nkeys = bread_u64(&h);
		d->ncols = bread_u32(&h);
		d->nfilters = bread_u32(&h);
		for (int i = 0; i < DSEC_N; i++) {
			s.off[i] = bread_u64(&h);
			s.len[i] = bread_u64(&h);
		}
		d->words = (d->nrows + 63) / 64;
		if (d->ncols == 0 || d->ncols > 4096 || d->nfilters > 64 ||
		    check_layout(d, &s, d->v.n - 8 - DSET_HDR))
			rc = EG_ECORRUPT;
		else
			rc = read_meta(d, d->v.p + s.off[DSEC_META], s.len[DSEC_META]);
	}
	if (rc) {
		eg_dset_close(d);
		if (rc == EG_ENOMEM)
			return rc;
		return eg_st_err(st, EG_ECORRUPT, "the dataset %s is damaged (%s%s/%s/%s fails its "
				 "checks): build it again with engram dataset build SPEC --force",
				 name, st->dir, DSET_SUB, name, DSET_FILE);
	}
	*out = d;
	return EG_OK;
}

/* ---------------------------------------------------------- accessors */

const char *eg_dset_name(const eg_dataset *d) { return d->name; }
uint64_t eg_dset_nrows(const eg_dataset *d) { return d->nrows; }
uint64_t eg_dset_nkeys(const eg_dataset *d) { return d->nkeys; }
uint64_t eg_dset_head(const eg_dataset *d) { return d->head; }
size_t eg_dset_ncols(const eg_dataset *d) { return d->ncols; }
size_t eg_dset_key_col(const eg_dataset *d) { return d->key_col; }
size_t eg_dset_nfilters(const eg_dataset *d) { return d->nfilters; }

const char *eg_dset_manifest(const eg_dataset *d, size_t *n)
{
	*n = d->manifest_len;
	return d->manifest;
}

const char *eg_dset_col(const eg_dataset *d, size_t i)
{
	return i < d->ncols ? d->cols[i] : NULL;
}

const size_t *eg_dset_output(const eg_dataset *d, size_t *n, int *distinct)
{
	*n = d->noutput;
	if (distinct)
		*distinct = d->distinct;
	return d->output;
}

const char *eg_dset_filter(const eg_dataset *d, size_t i, const char **sql, const char **why)
{
	if (i >= d->nfilters)
		return NULL;
	if (sql)
		*sql = d->filters[i].sql;
	if (why)
		*why = d->filters[i].why;
	return d->filters[i].name;
}

const size_t *eg_dset_filter_reads(const eg_dataset *d, size_t i, size_t *n)
{
	*n = d->filters[i].nreads;
	return d->filters[i].reads;
}

long eg_dset_filter_index(const eg_dataset *d, const char *name)
{
	for (size_t i = 0; i < d->nfilters; i++)
		if (!strcmp(d->filters[i].name, name))
			return (long)i;
	return -1;
}

int eg_dset_verdict(const eg_dataset *d, uint64_t r, size_t i)
{
	const uint64_t *pass = d->pass + i * d->words, *nul = d->null + i * d->words;
	return dset_bit(pass, r) ? EG_DSET_PASS : dset_bit(nul, r) ? EG_DSET_NULL : EG_DSET_FAIL;
}

int eg_dset_kept(const eg_dataset *d, uint64_t r)
{
	return dset_bit(d->keep, r);
}

uint64_t eg_dset_key_id(const eg_dataset *d, uint64_t r)
{
	return d->keyid[r];
}

/* ------------------------------------------------------------ keys */

/* Does the value encode to the text key? */
static int value_is(const eg_dset_value *v, const char *key, size_t n)
{
	char t[80];
	switch (v->type) {
	case SQLITE_TEXT:
		return v->n == n && !memcmp(v->s, key, n);
	case SQLITE_INTEGER: case SQLITE_FLOAT: case SQLITE_NULL:
		return eg_dset_value_text(v, t, sizeof t) == n && !memcmp(t, key, n);
	default:
		return 0;
	}
}

uint64_t eg_dset_key_rows(const eg_dataset *d, const char *key, size_t n, uint64_t *rows,
			  uint64_t max)
{
	/* the keys written so (7 and '7' are two keys, one text), then their
	 * rows in order */
	uint64_t got = 0, first = UINT64_MAX, nmatch = 0;
	unsigned char *match = NULL;
	for (uint64_t k = 0; k < d->nkeys; k++) {
		eg_dset_value v;
		eg_dset_value_at(d, d->keyfirst[k], d->key_col, &v);
		if (!value_is(&v, key, n))
			continue;
		if (!match && !(match = calloc(d->nkeys, 1)))
			return 0;
		match[k] = 1;
		nmatch++;
		if (d->keyfirst[k] < first)
			first = d->keyfirst[k];
	}
	for (uint64_t r = first; nmatch && r < d->nrows; r++)
		if (match[d->keyid[r]] && got++ < max)
			rows[got - 1] = r;
	free(match);
	return got;
}

/* ------------------------------------------------------------ attrition */

void eg_dset_count(const eg_dataset *d, const uint32_t *group, uint32_t g, uint64_t *rows,
		   uint64_t *keys)
{
	if (!group) {
		*rows = d->nrows;
		*keys = d->nkeys;
		return;
	}
	uint64_t nr = 0, nk = 0;
	unsigned char *seen = calloc(d->nkeys ? d->nkeys : 1, 1);
	for (uint64_t r = 0; r < d->nrows; r++) {
		if (group[r] != g)
			continue;
		nr++;
		if (seen && !seen[d->keyid[r]]++)
			nk++;
	}
	free(seen);
	*rows = nr;
	*keys = nk;
}

/* Per key: which filters some row passes, for which i some row passes
 * every filter but (maybe) i, and the longest run of the order some row
 * passes from the start. */
typedef struct keyacc {
	uint64_t passes, allbut;
	uint32_t prefix1;            /* the run + 1; 0: the key has no row here */
} keyacc;

int eg_dset_explain(const eg_dataset *d, const size_t *order, size_t n, const uint32_t *group,
		    uint32_t g, eg_dset_step *steps)
{
	keyacc *ks = calloc(d->nkeys ? d->nkeys : 1, sizeof *ks);
	if (!ks)
		return EG_ENOMEM;
	uint64_t full = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
	memset(steps, 0, n * sizeof *steps);
	for (size_t k = 0; k < n; k++)
		steps[k].filter = order[k];
	uint64_t *remaining = calloc(n + 1, sizeof *remaining);
	if (!remaining) {
		free(ks);
		return EG_ENOMEM;
	}
	for (uint64_t r = 0; r < d->nrows; r++) {
		if (group && group[r] != g)
			continue;
		uint64_t m = 0;
		for (size_t k = 0; k < n; k++)
			m |= (uint64_t)dset_bit(d->pass + order[k] * d->words, r) << k;
		uint32_t run = (uint32_t)(m == full ? n : (size_t)__builtin_ctzll(~m));
		remaining[run]++;
		keyacc *s = &ks[d->keyid[r]];
		s->passes |= m;
		if (run + 1 > s->prefix1)
			s->prefix1 = run + 1;
		for (size_t k = 0; k < n; k++) {
			uint64_t b = UINT64_C(1) << k;
			if (!(m & b)) {
				steps[k].rows_failing++;
				if ((m | b) == full)
					steps[k].only_rows++;
			}
			if ((m | b) == full)
				s->allbut |= b;
		}
	}
	/* rows whose run is exactly j pass the first j filters: those
	 * remaining after filter k have a run of k + 1 or more */
	uint64_t acc = 0;
	for (size_t k = n; k-- > 0;) {
		acc += remaining[k + 1];
		steps[k].rows_remaining = acc;
	}
	for (uint64_t key = 0; key < d->nkeys; key++) {
		const keyacc *s = &ks[key];
		if (!s->prefix1)
			continue;
		int kept = s->prefix1 == n + 1;
		for (size_t k = 0; k < n; k++) {
			uint64_t b = UINT64_C(1) << k;
			if (!(s->passes & b))
				steps[k].keys_failing++;
			if (!kept && (s->allbut & b))
				steps[k].only_keys++;
			if (s->prefix1 >= k + 2)
				steps[k].keys_remaining++;
		}
	}
	free(remaining);
	free(ks);
	return EG_OK;
}

uint64_t eg_dset_overlap(const eg_dataset *d, size_t i, size_t j)
{
	const uint64_t *a = d->pass + i * d->words, *b = d->pass + j * d->words;
	uint64_t n = 0;
	for (uint64_t w = 0; w < d->words; w++) {
		uint64_t both = ~a[w] & ~b[w];
		if (w == d->words - 1 && d->nrows % 64)
			both &= (UINT64_C(1) << (d->nrows % 64)) - 1;
		n += (uint64_t)__builtin_popcountll(both);
	}
	return n;
}

/* ------------------------------------------------------------ groups */

/* SQLite's order of values: NULL, numbers (by value), text (by bytes, as
 * BINARY), blobs. */
static int class_of(int type)
{
	return type == SQLITE_NULL ? 0 : type == SQLITE_TEXT ? 2 : type == SQLITE_BLOB ? 3 : 1;
}

static int value_cmp(const eg_dset_value *a, const eg_dset_value *b)
{
	int ca = class_of(a->type), cb = class_of(b->type);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (ca == 0)
		return 0;
	if (ca == 1) {
		if (a->type == SQLITE_INTEGER && b->type == SQLITE_INTEGER)
			return a->i < b->i ? -1 : a->i > b->i;
		double x = a->type == SQLITE_INTEGER ? (double)a->i : a->r;
		double y = b->type == SQLITE_INTEGER ? (double)b->i : b->r;
		return x < y ? -1 : x > y;
	}
	size_t n = a->n < b->n ? a->n : b->n;
	int c = n ? memcmp(a->s, b->s, n) : 0;
	return c ? c : a->n < b->n ? -1 : a->n > b->n;
}

typedef struct sort_ctx {
	const eg_dataset *d;
	size_t col;
} sort_ctx;

static _Thread_local const sort_ctx *cur_sort;

static int row_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	eg_dset_value va, vb;
	eg_dset_value_at(cur_sort->d, a, cur_sort->col, &va);
	eg_dset_value_at(cur_sort->d, b, cur_sort->col, &vb);
	int c = value_cmp(&va, &vb);
	return c ? c : a < b ? -1 : a > b;
}

int eg_dset_group_by(const eg_dataset *d, size_t col, uint32_t **group, uint64_t **first,
		     uint32_t *ngroups)
{
	*group = NULL;
	*first = NULL;
	*ngroups = 0;
	uint64_t *rows = malloc((d->nrows ? d->nrows : 1) * sizeof *rows);
	uint32_t *gid = malloc((d->nrows ? d->nrows : 1) * sizeof *gid);
	uint64_t *fst = malloc((d->nrows ? d->nrows : 1) * sizeof *fst);
	if (!rows || !gid || !fst) {
		free(rows);
		free(gid);
		free(fst);
		return EG_ENOMEM;
	}
	for (uint64_t r = 0; r < d->nrows; r++)
		rows[r] = r;
	sort_ctx k = { d, col };
	cur_sort = &k;
	qsort(rows, d->nrows, sizeof *rows, row_cmp);
	cur_sort = NULL;
	uint32_t n = 0;
	eg_dset_value prev = { 0 }, v;
	for (uint64_t i = 0; i < d->nrows; i++) {
		eg_dset_value_at(d, rows[i], col, &v);
		if (!i || value_cmp(&prev, &v)) {
			fst[n++] = rows[i];
			prev = v;
		}
		gid[rows[i]] = n - 1;
	}
	free(rows);
	*group = gid;
	*first = fst;
	*ngroups = n;
	return EG_OK;
}

/* ------------------------------------------------------------ listing */

typedef struct list_ctx {
	char **names;
	size_t n, cap;
} list_ctx;

static int list_one(void *ctx, const char *dir, const char *name)
{
	(void)dir;
	list_ctx *k = ctx;
	if (dset_name_error(name))
		return 0;
	if (buf_grow(&k->names, &k->cap, k->n + 1, sizeof *k->names))
		return EG_ENOMEM;
	if (!(k->names[k->n] = strdup(name)))
		return EG_ENOMEM;
	k->n++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eg_dset_list(eg_store *st, int (*fn)(void *ctx, const char *name), void *ctx)
{
	list_ctx k = { 0 };
	int rc = eg_ds_list(st, DSET_SUB, list_one, &k);
	if (!rc && k.n)
		qsort(k.names, k.n, sizeof *k.names, name_cmp);
	for (size_t i = 0; i < k.n; i++) {
		if (!rc)
			rc = fn(ctx, k.names[i]);
		free(k.names[i]);
	}
	free(k.names);
	return rc;
}

int eg_dset_stale(eg_store *st, const eg_dataset *d)
{
	eg_head h;
	int rc = eg_store_head(st, &h);
	if (rc)
		return rc;
	uint64_t at = h.pos;
	if (d->known_at != EG_TIME_NONE) {
		uint64_t k;
		if ((rc = eg_known_pos(st, d->known_at, &k)))
			return rc;
		if (k < at)
			at = k;
	}
	return at != d->head;
}

int eg_dset_drop(eg_store *st, const char *name)
{
	const char *bad = dset_name_error(name);
	if (bad)
		return eg_st_err(st, EG_EINVAL, "dataset name '%s' %s", name, bad);
	char dir[PATH_MAX];
	struct stat sb;
	snprintf(dir, sizeof dir, "%s%s/%s", st->dir, DSET_SUB, name);
	if (eg_os.stat(dir, &sb))
		return errno == ENOENT ? eg_st_err(st, EG_ENOTFOUND, "no dataset '%s' is kept", name)
				       : eg_st_errno(st, "cannot read %s", dir);
	/* under its lock: a build in flight finishes first */
	eg_ds ds;
	if (eg_ds_open(st, DSET_SUB, name, 0, NULL, 0, &ds))
		return eg_st_errno(st, "cannot open the dataset %s", name);
	int rc = eg_ds_lock(st, &ds);
	if (!rc && eg_ds_remove_dir(dir))
		rc = eg_st_errno(st, "cannot delete %s", dir);
	eg_ds_unlock(&ds);
	eg_ds_close(&ds);
	return rc;
}

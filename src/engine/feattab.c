/*
 * feattab.c — the entity table that features read (feat.h): built from
 * the log in one pass, laid out as one image that is both the file kept
 * in idx/feat/HASH/table and, mapped back, the table itself.
 *
 * Image (little-endian; every section starts 8-aligned):
 *   "EGFTAB4\0", table hash[32], from u64, bound u64, the identity of the
 *   event at bound u64 (eg_store_event_ident), nrows u64,
 *   nent u32, ntypes u32, npaths u32, 0 u32,
 *   ent_off u32[nent+1], ent_text, ent_row u64[nent+1], ent_kind u8[nent],
 *   type_off u32[ntypes+1], type_text,
 *   time i64[nrows], rec i64[nrows], pos u64[nrows], type u16[nrows],
 *   per path: n u32, 0 u32, val u32[nrows], off u32[n+1], text, nums nacc[n], isnum u8[n]
 * and, in the file, the XXH3-64 of all that (eg_ds_write).
 */
#include "buf.h"
#include "coliter.h"
#include "feat.h"
#include "internal.h"
#include "itab.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const char MAGIC[8] = "EGFTAB4";

/* ------------------------------------------------------------ building */

/* The rows as they are read, in log order. */
typedef struct rows {
	uint32_t *ent;
	int64_t *time, *rec;
	uint64_t *pos;
	uint16_t *type;
	uint32_t *val[FEAT_MAX];
	size_t n, cap;
	int npaths;
} rows;

static int rows_grow(rows *r)
{
	if (r->n < r->cap)
		return 0;
	size_t cap = r->cap ? r->cap * 2 : 4096;
	void **cols[4 + FEAT_MAX] = { (void **)&r->ent, (void **)&r->time, (void **)&r->rec,
				      (void **)&r->pos };
	size_t sizes[4 + FEAT_MAX] = { 4, 8, 8, 8 };
	int n = 4;
	for (int p = 0; p < r->npaths; p++)
		cols[n] = (void **)&r->val[p], sizes[n++] = 4;
	cols[n] = (void **)&r->type, sizes[n++] = 2;
	for (int i = 0; i < n; i++) {
		void *q = realloc(*cols[i], cap * sizes[i]);
		if (!q)
			return -1;
		*cols[i] = q;
	}
	r->cap = cap;
	return 0;
}

static void rows_free(rows *r)
{
	free(r->ent);
	free(r->time);
	free(r->rec);
	free(r->pos);
	free(r->type);
	for (int p = 0; p < r->npaths; p++)
		free(r->val[p]);
}

static uint32_t intern(itab *t, const char *s, size_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : eg_itab_get(t, XXH3_64bits(s, n), s, (uint32_t)n);
}

/* The entity of e as text in *s (b holds a decoded copy when needed):
 * ENT_STRING or ENT_NUMBER as it was written, 0 when e has none, -1 out
 * of memory. */
static int entity_of(const eg_event *e, const eg_path *p, buf *b, const char **s, size_t *n)
{
	switch (p->root) {
	case EG_PATH_STREAM:
		*s = e->stream, *n = e->stream_len;
		return *n > 0 ? ENT_STRING : 0;
	case EG_PATH_ACTOR:
		*s = e->actor, *n = e->actor_len;
		return *n > 0 ? ENT_STRING : 0;
	case EG_PATH_SESSION:
		*s = e->session, *n = e->session_len;
		return *n > 0 ? ENT_STRING : 0;
	}
	json_span v;
	if (!eg_path_get(e, p, &v))
		return 0;
	if (v.type == JSON_NUMBER) {
		*s = v.p, *n = v.n;
		return ENT_NUMBER;
	}
	if (v.type != JSON_STRING)
		return 0;
	b->n = 0;
	if (buf_reserve(b, v.n))
		return -1;
	b->n = eg_json_string_decode(&v, b->p);
	*s = b->p, *n = b->n;
	return *n > 0 ? ENT_STRING : 0;
}

/* The value of path p in e as JSON text in one form (strings with their
 * escapes decoded and quoted again), into b: 1, 0 when absent or null,
 * -1 out of memory. */
static int value_of(const eg_event *e, const eg_path *p, buf *b, buf *tmp)
{
	b->n = 0;
	if (p->root != EG_PATH_DATA && p->root != EG_PATH_META) {
		if (eg_path_json(e, p, NULL, b))
			return -1;
		return !(b->n == 4 && !memcmp(b->p, "null", 4));
	}
	json_span v;
	if (!eg_path_get(e, p, &v))
		return 0;
	if (v.type != JSON_STRING || eg_json_string_is_plain(&v))
		return buf_add(b, v.p, v.n) ? -1 : 1;
	tmp->n = 0;
	if (buf_reserve(tmp, v.n))
		return -1;
	tmp->n = eg_json_string_decode(&v, tmp->p);
	return buf_quote(b, tmp->p, tmp->n) ? -1 : 1;
}

/* The value of a data path from the columns (eg_coliter_value) in the
 * forms entity_of and value_of give from an event's data. */
static int col_entity(eg_coliter *ci, size_t ix, char *nb, buf *b, const char **s, size_t *n)
{
	const char *t;
	size_t len;
	switch (eg_coliter_value(ci, ix, nb, &t, &len)) {
	case EG_CT_INT:
		*s = t, *n = len;
		return ENT_NUMBER;
	case EG_CT_RAW:
		if (eg_json_type_of(t[0]) != JSON_NUMBER)
			return 0;
		*s = t, *n = len;
		return ENT_NUMBER;
	case EG_CT_STR: {
		json_span v = { t, len, JSON_STRING };
		b->n = 0;
		if (buf_reserve(b, len))
			return -1;
		b->n = eg_json_string_decode(&v, b->p);
		*s = b->p, *n = b->n;
		return *n > 0 ? ENT_STRING : 0;
	}
	default:
		return 0;
	}
}

static int col_value(eg_coliter *ci, size_t ix, buf *b, buf *tmp)
{
	const char *t;
	size_t len;
	char nb[24];
	int tag = eg_coliter_value(ci, ix, nb, &t, &len);
	b->n = 0;
	if (tag == EG_CT_ABSENT || tag == EG_CT_NULL)
		return 0;
	json_span v = { t, len, JSON_STRING };
	if (tag != EG_CT_STR || eg_json_string_is_plain(&v))
		return buf_add(b, t, len) ? -1 : 1;
	tmp->n = 0;
	if (buf_reserve(tmp, len))
		return -1;
	tmp->n = eg_json_string_decode(&v, tmp->p);
	return buf_quote(b, tmp->p, tmp->n) ? -1 : 1;
}

typedef struct builder {
	const eg_feat_spec *spec;
	rows r;
	uint8_t *kinds;               /* by entity id */
	size_t kcap;
	itab ents, types, vals[FEAT_MAX];
	buf b, tmp;
	/* Reading columns with data left empty: the need's index of the
	 * entity's data path and of each value path's; -1 not a data path. */
	eg_coliter *ci;
	int ent_ix, path_ix[FEAT_MAX];
} builder;

static int add_event(builder *k, const eg_event *e)
{
	const eg_feat_spec *s = k->spec;
	if (eg_reserved_stream(e->stream, e->stream_len) ||
	    (e->type_len == sizeof EG_HEARTBEAT - 1 && !memcmp(e->type, EG_HEARTBEAT, e->type_len)))
		return 0;
	const char *es;
	size_t en;
	char nb[24];
	int has = k->ci && k->ent_ix >= 0 ?
		  col_entity(k->ci, (size_t)k->ent_ix, nb, &k->b, &es, &en) :
		  entity_of(e, &s->entity, &k->b, &es, &en);
	if (has <= 0)
		return has;
	rows *r = &k->r;
	if (rows_grow(r))
		return -1;
	size_t i = r->n;
	if ((r->ent[i] = intern(&k->ents, es, en)) == UINT32_MAX)
		return -1;
	if (r->ent[i] >= k->kcap) {
		size_t cap = k->kcap;
		if (buf_grow(&k->kinds, &cap, (size_t)r->ent[i] + 1, 1))
			return -1;
		memset(k->kinds + k->kcap, 0, cap - k->kcap);
		k->kcap = cap;
	}
	k->kinds[r->ent[i]] |= (uint8_t)has;
	uint32_t t = intern(&k->types, e->type, e->type_len);
	if (t == UINT32_MAX || t > UINT16_MAX)
		return -1;
	r->type[i] = (uint16_t)t;
	r->time[i] = e->time;
	r->rec[i] = e->recorded;
	r->pos[i] = e->pos;
	for (int p = 0; p < s->npaths; p++) {
		int got = k->ci && k->path_ix[p] >= 0 ?
			  col_value(k->ci, (size_t)k->path_ix[p], &k->b, &k->tmp) :
			  value_of(e, &s->paths[p], &k->b, &k->tmp);
		if (got < 0)
			return -1;
		uint32_t id = got ? intern(&k->vals[p], k->b.p, k->b.n) : UINT32_MAX;
		if (got && id == UINT32_MAX)
			return -1;
		r->val[p][i] = got ? id + 1 : 0;
	}
	r->n++;
	return 0;
}

/* ------------------------------------------------------------ the image */

typedef struct image {
	buf b;
	int err;
} image;

static void put(image *m, const void *p, size_t n)
{
	if (!m->err && buf_add(&m->b, p, n))
		m->err = 1;
}

static void align8(image *m)
{
	static const char zero[8];
	put(m, zero, (8 - m->b.n % 8) % 8);
}

static void put_u32(image *m, uint32_t v)
{
	put(m, &v, 4);
}

static void put_u64(image *m, uint64_t v)
{
	put(m, &v, 8);
}

/* A list of texts: offsets (with the end), then the bytes. */
static void put_texts(image *m, const itab *t, const uint32_t *order, uint32_t n)
{
	uint32_t off = 0;
	align8(m);
	put_u32(m, 0);
	for (uint32_t i = 0; i < n; i++) {
		off += t->e[order ? order[i] : i].len;
		put_u32(m, off);
	}
	align8(m);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = order ? order[i] : i;
		put(m, itab_text(t, id), t->e[id].len);
	}
}

/* Rows in [a, b) of perm sorted by (time, pos). */
static int by_time(const void *x, const void *y, void *ctx)
{
	const rows *r = ctx;
	uint64_t i = *(const uint64_t *)x, j = *(const uint64_t *)y;
	if (r->time[i] != r->time[j])
		return r->time[i] < r->time[j] ? -1 : 1;
	return (r->pos[i] > r->pos[j]) - (r->pos[i] < r->pos[j]);
}

static int write_image(builder *k, uint64_t from, uint64_t to, uint64_t ident, image *m)
{
	const eg_feat_spec *s = k->spec;
	rows *r = &k->r;
	uint32_t nent = k->ents.n;
	uint32_t *order = malloc((nent + 1) * sizeof *order);
	uint32_t *rank = malloc((nent + 1) * sizeof *rank);
	uint64_t *start = calloc(nent + 2, sizeof *start);
	uint64_t *perm = malloc((r->n + 1) * sizeof *perm);
	int rc = -1;
	if (!order || !rank || !start || !perm)
		goto done;
	for (uint32_t i = 0; i < nent; i++)
		order[i] = i;
	eg_itab_sort(&k->ents, order, nent);
	for (uint32_t i = 0; i < nent; i++)
		rank[order[i]] = i;
	/* rows grouped by entity rank, keeping log order; then by time */
	for (size_t i = 0; i < r->n; i++)
		start[rank[r->ent[i]] + 1]++;
	for (uint32_t i = 0; i < nent; i++)
		start[i + 1] += start[i];
	uint64_t *fill = start;   /* start[i] moves to the end of group i - 1 */
	for (size_t i = 0; i < r->n; i++)
		perm[fill[rank[r->ent[i]]]++] = i;
	memmove(start + 1, start, nent * sizeof *start);
	start[0] = 0;
	for (uint32_t g = 0; g < nent; g++) {
		uint64_t a = start[g], b = start[g + 1];
		for (uint64_t i = a + 1; i < b; i++)
			if (by_time(&perm[i - 1], &perm[i], r) > 0) {
				qsort_r(perm + a, b - a, sizeof *perm, by_time, r);
				break;
			}
	}

	put(m, MAGIC, 8);
	put(m, s->table_hash, 32);
	put_u64(m, from);
	put_u64(m, to);
	put_u64(m, ident);
	put_u64(m, r->n);
	put_u32(m, nent);
	put_u32(m, k->types.n);
	put_u32(m, (uint32_t)s->npaths);
	put_u32(m, 0);
	put_texts(m, &k->ents, order, nent);
	align8(m);
	for (uint32_t g = 0; g <= nent; g++)
		put_u64(m, start[g]);
	for (uint32_t g = 0; g < nent; g++)
		put(m, &k->kinds[order[g]], 1);
	put_texts(m, &k->types, NULL, k->types.n);
	align8(m);
	/* the columns, in perm order, one column at a time */
#define COLUMN(arr, size) do { \
		align8(m); \
		if (!m->err && buf_reserve(&m->b, r->n * (size))) \
			m->err = 1; \
		for (size_t i = 0; !m->err && i < r->n; i++) { \
			memcpy(m->b.p + m->b.n, &(arr)[perm[i]], (size)); \
			m->b.n += (size); \
		} \
	} while (0)
	COLUMN(r->time, 8);
	COLUMN(r->rec, 8);
	COLUMN(r->pos, 8);
	COLUMN(r->type, 2);
	for (int p = 0; p < s->npaths; p++) {
		const itab *t = &k->vals[p];
		align8(m);
		put_u32(m, t->n);
		put_u32(m, 0);
		COLUMN(r->val[p], 4);
		put_texts(m, t, NULL, t->n);
		align8(m);
		/* each number ready to add (an accumulator), not parsed per row */
		for (uint32_t i = 0; i < t->n; i++) {
			num v = { 0 };
			nacc a;
			const char *x = itab_text(t, i);
			if (eg_json_type_of(x[0]) == JSON_NUMBER)
				eg_num_parse(x, t->e[i].len, &v);
			eg_nacc_set(&a, &v, 1);
			put(m, &a, sizeof a);
		}
		for (uint32_t i = 0; i < t->n; i++) {
			uint8_t isnum = eg_json_type_of(itab_text(t, i)[0]) == JSON_NUMBER;
			put(m, &isnum, 1);
		}
	}
#undef COLUMN
	align8(m);
	rc = m->err ? -1 : 0;
done:
	free(order);
	free(rank);
	free(start);
	free(perm);
	return rc;
}

/* ------------------------------------------------------------ reading */

/* The next section of n items of size bytes, after the padding that puts
 * it 8-aligned (an image is a multiple of 8 bytes long, so the bytes left
 * tell the offset). */
static const void *section(bread *rd, uint64_t n, uint64_t size)
{
	size_t off = (size_t)(rd->end - rd->p) % 8;
	if (off)
		bread_get(rd, off);
	if (size && n > UINT64_MAX / size) {
		rd->bad = 1;
		return NULL;
	}
	return bread_get(rd, n * size);
}

static int texts(bread *rd, uint32_t n, const uint32_t **off, const char **text)
{
	*off = section(rd, (uint64_t)n + 1, 4);
	if (rd->bad)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if ((*off)[i] > (*off)[i + 1])
			return -1;
	if ((*off)[0])
		return -1;
	*text = section(rd, (*off)[n], 1);
	return rd->bad ? -1 : 0;
}

/* Point t into the image [p, p + n): 0, or -1 when it is not one of
 * spec's (or not whole: every offset and id is checked, so that a wrong
 * file can never make a query read outside it). */
static int parse_image(const unsigned char *p, size_t n, const eg_feat_spec *s, ftab *t)
{
	bread rd = { p, p + n, 0 };
	const unsigned char *h = bread_get(&rd, 8 + 32);
	if (!h || memcmp(h, MAGIC, 8) || memcmp(h + 8, s->table_hash, 32))
		return -1;
	t->from = bread_u64(&rd);
	t->bound = bread_u64(&rd);
	t->ident = bread_u64(&rd);
	t->nrows = bread_u64(&rd);
	t->nent = bread_u32(&rd);
	t->ntypes = bread_u32(&rd);
	t->npaths = bread_u32(&rd);
	bread_u32(&rd);
	if (rd.bad || t->npaths != (uint32_t)s->npaths || t->nrows > n || t->ntypes > UINT16_MAX + 1u)
		return -1;
	if (texts(&rd, t->nent, &t->ent_off, &t->ent_text))
		return -1;
	t->ent_row = section(&rd, (uint64_t)t->nent + 1, 8);
	if (rd.bad || t->ent_row[0] || t->ent_row[t->nent] != t->nrows)
		return -1;
	for (uint32_t i = 0; i < t->nent; i++)
		if (t->ent_row[i] > t->ent_row[i + 1])
			return -1;
	t->ent_kind = section(&rd, t->nent, 1);
	if (rd.bad)
		return -1;
	if (texts(&rd, t->ntypes, &t->type_off, &t->type_text))
		return -1;
	t->time = section(&rd, t->nrows, 8);
	t->rec = section(&rd, t->nrows, 8);
	t->pos = section(&rd, t->nrows, 8);
	t->type = section(&rd, t->nrows, 2);
	if (rd.bad)
		return -1;
	for (uint64_t i = 0; i < t->nrows; i++)
		if (t->type[i] >= t->ntypes)
			return -1;
	for (uint32_t q = 0; q < t->npaths; q++) {
		fdict *d = &t->dict[q];
		const uint32_t *h2 = section(&rd, 2, 4);
		if (rd.bad)
			return -1;
		d->n = h2[0];
		t->val[q] = section(&rd, t->nrows, 4);
		if (rd.bad || texts(&rd, d->n, &d->off, &d->text))
			return -1;
		d->nums = section(&rd, d->n, sizeof(nacc));
		d->isnum = section(&rd, d->n, 1);
		if (rd.bad)
			return -1;
		for (uint64_t i = 0; i < t->nrows; i++)
			if (t->val[q][i] > d->n)
				return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the API */

/* Read f's events into k: from the columns when they hold the entity and
 * every value path (and serve the filter), else from the log; t->path
 * and t->path_why say which. */
static int read_events(eg_store *st, const eg_feat_spec *s, const eg_filter *f, builder *k,
		       ftab *t)
{
	eg_colwant w = { 0 };
	eg_coliter *ci = NULL;
	k->ent_ix = s->entity.root == EG_PATH_DATA ? 0 : -1;
	int rc = eg_colwant_path(&w, &s->entity) ? EG_ENOMEM : EG_OK;
	for (int p = 0; !rc && p < s->npaths; p++) {
		k->path_ix[p] = s->paths[p].root == EG_PATH_DATA ? (int)w.need.npaths : -1;
		if (eg_colwant_path(&w, &s->paths[p]))
			rc = EG_ENOMEM;
	}
	t->path = "log";
	if (!rc && w.why)
		t->path_why = w.why;
	else if (!rc && (rc = eg_coliter_new(st, f, &w.need, &ci, &t->path_why)) == EG_ENOTFOUND)
		rc = EG_OK;
	eg_colwant_free(&w);
	if (rc)
		return rc == EG_ENOMEM ? eg_st_err(st, rc, "out of memory") : rc;
	eg_iter *it = NULL;
	if (ci) {
		t->path = "columns";
		/* the values straight from the columns, not through a data
		 * object written and parsed again, when each is read alone */
		if (!eg_coliter_no_data(ci))
			k->ci = ci;
	} else if ((rc = eg_iter_new(st, &it, f))) {
		return rc;
	}
	const eg_event *e;
	while ((rc = ci ? eg_coliter_next(ci, &e) : eg_iter_next(it, &e)) == EG_OK)
		if (add_event(k, e)) {
			rc = eg_st_err(st, EG_ENOMEM, "out of memory building the features table");
			break;
		}
	if (ci)
		eg_coliter_counts(ci, &t->from_columns, &t->from_log);
	eg_coliter_free(ci);
	k->ci = NULL;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_ftab_build(eg_store *st, const eg_feat_spec *s, uint64_t from, uint64_t to, ftab *t)
{
	memset(t, 0, sizeof *t);
	builder k = { .spec = s };
	k.r.npaths = s->npaths;
	eg_filter f = { .from = from + 1, .to = to, .upcast = 1,
			.types = (const char *const *)s->types, .ntypes = (size_t)s->ntypes };
	image m = { { 0 }, 0 };
	int rc = EG_OK;
	const char *path = NULL, *why = NULL;
	uint64_t fc = 0, fl = 0;
	if (to > from) {
		if ((rc = read_events(st, s, &f, &k, t)))
			goto done;
		/* parse_image below sets t anew */
		path = t->path, why = t->path_why, fc = t->from_columns, fl = t->from_log;
	}
	uint64_t ident = 0;
	if (to && (rc = eg_store_event_ident(st, to, &ident)))
		goto done;
	if (write_image(&k, from, to, ident, &m)) {
		rc = eg_st_err(st, EG_ENOMEM, "out of memory building the features table");
		goto done;
	}
	if (parse_image((unsigned char *)m.b.p, m.b.n, s, t)) {
		rc = eg_st_err(st, EG_ECORRUPT, "the features table just built does not read back");
		goto done;
	}
	t->mem = m.b.p;
	t->memlen = m.b.n;
	m.b.p = NULL;
	t->path = path, t->path_why = why, t->from_columns = fc, t->from_log = fl;
done:
	free(m.b.p);
	rows_free(&k.r);
	free(k.kinds);
	eg_itab_free(&k.ents);
	eg_itab_free(&k.types);
	for (int p = 0; p < s->npaths; p++)
		eg_itab_free(&k.vals[p]);
	free(k.b.p);
	free(k.tmp.p);
	return rc;
}

int eg_ftab_save(const eg_ds *d, const ftab *t)
{
	return t->mem ? eg_ds_write(d, "table", t->mem, t->memlen) : -1;
}

int eg_ftab_load(const eg_ds *d, const eg_feat_spec *s, ftab *t)
{
	memset(t, 0, sizeof *t);
	int r = eg_ds_read(d, "table", EG_DS_MAP, 8 + 64, eg_ds_tail_sum_ok, NULL, &t->view);
	if (r)
		return r;
	if (parse_image(t->view.p, t->view.n - 8, s, t)) {
		eg_ds_view_free(&t->view);
		memset(t, 0, sizeof *t);
		return EG_DS_DAMAGED;
	}
	return 0;
}

void eg_ftab_free(ftab *t)
{
	free(t->slot);
	free(t->mem);
	eg_ds_view_free(&t->view);
	memset(t, 0, sizeof *t);
}

int eg_ftab_index(ftab *t)
{
	uint32_t cap = 16;
	while (cap < 2 * (uint64_t)t->nent)
		cap *= 2;
	if (!(t->slot = calloc(cap, sizeof *t->slot)))
		return -1;
	t->scap = cap;
	for (uint32_t i = 0; i < t->nent; i++) {
		uint32_t o = t->ent_off[i];
		uint32_t h = (uint32_t)XXH3_64bits(t->ent_text + o, t->ent_off[i + 1] - o) & (cap - 1);
		while (t->slot[h])
			h = (h + 1) & (cap - 1);
		t->slot[h] = i + 1;
	}
	return 0;
}

/* Entity i is e. */
static int ent_is(const ftab *t, uint32_t i, const char *e, size_t n)
{
	uint32_t o = t->ent_off[i];
	return t->ent_off[i + 1] - o == n && !memcmp(t->ent_text + o, e, n);
}

uint32_t eg_ftab_find(const ftab *t, const char *e, size_t n, uint64_t *a, uint64_t *b)
{
	uint32_t found = UINT32_MAX;
	if (t->scap) {
		uint32_t h = (uint32_t)XXH3_64bits(e, n) & (t->scap - 1);
		for (; t->slot[h]; h = (h + 1) & (t->scap - 1))
			if (ent_is(t, t->slot[h] - 1, e, n)) {
				found = t->slot[h] - 1;
				break;
			}
	} else {
		uint32_t lo = 0, hi = t->nent;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			uint32_t o = t->ent_off[mid], len = t->ent_off[mid + 1] - o;
			int c = memcmp(t->ent_text + o, e, len < n ? len : n);
			if (!c)
				c = (len > n) - (len < n);
			if (!c) {
				found = mid;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	if (found != UINT32_MAX) {
		*a = t->ent_row[found];
		*b = t->ent_row[found + 1];
	}
	return found;
}

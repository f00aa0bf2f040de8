/*
 * contract.c — the schema registry: reading $schemas into memory, finding
 * a type's contract, and upcasting an event's data between versions.
 *
 * The registry is a view of the log: every version of every schema is an
 * engram.schema event in $schemas, and "schema require-all" an
 * engram.require_all event there, so the registry is hash-chained and
 * never forgets a version.  It is read incrementally, like any reader
 * follows the log.
 */
#include "internal.h"
#include "buf.h"
#include "chain.h"
#include "contract.h"
#include "json.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static void cver_free(cver *v)
{
	free(v->doc);
	free(v->updoc);
	eg_schema_free(v->s);
	eg_upcast_free(v->up);
	eg_personal_free(v->pers);
}

int eg_reg_personal_overlap(const registry *r, const char *const *path, size_t nseg)
{
	for (size_t i = 0; r && r->personal && i < r->n; i++)
		for (size_t k = 0; k < r->t[i].n; k++) {
			const eg_personal *p = r->t[i].v[k].pers;
			for (size_t j = 0; p && j < p->n; j++) {
				size_t m = nseg < p->nseg[j] ? nseg : p->nseg[j], q = 0;
				while (q < m && !strcmp(path[q], p->seg[j][q]))
					q++;
				if (q == m)
					return 1;
			}
		}
	return 0;
}

void eg_reg_free(registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->t[i].n; k++)
			cver_free(&r->t[i].v[k]);
		free(r->t[i].v);
		free(r->t[i].name);
	}
	free(r->t);
	free(r->slot);
	free(r);
}

static uint64_t name_hash(const char *s, size_t n)
{
	return eg_key_hash(1, s, n);
}

const ctype *eg_reg_type(const registry *r, const char *name, size_t n)
{
	if (!r || !r->nslot)
		return NULL;
	size_t mask = r->nslot - 1;
	for (size_t i = name_hash(name, n) & mask;; i = (i + 1) & mask) {
		uint32_t k = r->slot[i];
		if (!k)
			return NULL;
		const ctype *t = &r->t[k - 1];
		if (t->len == n && !memcmp(t->name, name, n))
			return t;
	}
}

/* Rebuild the hash of type names so that it is at most half full. */
static int rehash(registry *r)
{
	size_t ns = 16;
	while (ns < 2 * r->n + 2)
		ns *= 2;
	uint32_t *slot = calloc(ns, sizeof *slot);
	if (!slot)
		return EG_ENOMEM;
	for (size_t k = 0; k < r->n; k++) {
		size_t i = name_hash(r->t[k].name, r->t[k].len) & (ns - 1);
		while (slot[i])
			i = (i + 1) & (ns - 1);
		slot[i] = (uint32_t)k + 1;
	}
	free(r->slot);
	r->slot = slot;
	r->nslot = ns;
	return EG_OK;
}

static ctype *type_get(registry *r, const char *name, size_t n)
{
	ctype *t = (ctype *)eg_reg_type(r, name, n);
	if (t)
		return t;
	if (buf_grow(&r->t, &r->cap, r->n + 1, sizeof *r->t))
		return NULL;
	t = &r->t[r->n];
	memset(t, 0, sizeof *t);
	if (!(t->name = malloc(n + 1)))
		return NULL;
	memcpy(t->name, name, n);
	t->name[n] = 0;
	t->len = n;
	r->n++;
	if (rehash(r)) {
		r->n--;
		free(t->name);
		return NULL;
	}
	return t;
}

/* ------------------------------------------------------------ defaults */

/* Add a default operation for every required property with a "default"
 * of the schema object at obj (data pointer prefix at), recursing into
 * properties that are objects themselves: an event written before the
 * property was required reads with its default. */
static int add_defaults(eg_upcast *u, const json_span *obj, buf *at, int depth)
{
	json_span props, req;
	if (depth > 32 || !eg_json_member(obj, "properties", 10, &props) ||
	    props.type != JSON_OBJECT)
		return EG_OK;
	int has_req = eg_json_member(obj, "required", 8, &req) && req.type == JSON_ARRAY;
	json_obj it;
	json_span k, v;
	if (eg_json_obj_begin(&it, props.p, props.n, NULL))
		return EG_OK;
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1) {
		if (v.type != JSON_OBJECT)
			continue;
		char name[1024];
		if (k.n > sizeof name)
			continue;
		size_t nl = eg_json_string_decode(&k, name);
		size_t mark = at->n;
		if (buf_add(at, "/", 1))
			return EG_ENOMEM;
		for (size_t i = 0; i < nl; i++) {
			const char *esc = name[i] == '~' ? "~0" : name[i] == '/' ? "~1" : NULL;
			if (esc ? buf_add(at, esc, 2) : buf_add(at, &name[i], 1))
				return EG_ENOMEM;
		}
		int required = 0;
		if (has_req) {
			json_arr ai;
			json_span e;
			eg_json_arr_begin(&ai, &req);
			while (!required && eg_json_arr_next(&ai, &e) == 1)
				required = e.type == JSON_STRING && e.n == k.n && !memcmp(e.p, k.p, k.n);
		}
		json_span def;
		if (required && eg_json_member(&v, "default", 7, &def)) {
			eg_upcast_op *ops = realloc(u->ops, (u->n + 1) * sizeof *ops);
			if (!ops)
				return EG_ENOMEM;
			u->ops = ops;
			eg_upcast_op *op = &ops[u->n];
			memset(op, 0, sizeof *op);
			op->op = UP_DEFAULT;
			op->path = strndup(at->p, at->n);
			op->value = malloc(def.n + 1);
			if (!op->path || !op->value) {
				free(op->path);
				free(op->value);
				return EG_ENOMEM;
			}
			op->value_len = eg_json_minify(&def, op->value);
			op->value[op->value_len] = 0;
			u->n++;
		}
		int rc = add_defaults(u, &v, at, depth + 1);
		if (rc)
			return rc;
		at->n = mark;
	}
	return EG_OK;
}

/* ------------------------------------------------------------ reading */

static int member_u64(const json_span *o, const char *name, uint64_t *v)
{
	json_span s;
	if (!eg_json_member(o, name, strlen(name), &s) || s.type != JSON_NUMBER)
		return -1;
	char tmp[24];
	if (s.n >= sizeof tmp)
		return -1;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = 0;
	char *end;
	*v = strtoull(tmp, &end, 10);
	return *end ? -1 : 0;
}

/* A registry event that does not read as one: the log holds it (it is
 * chained), but engram never writes such a thing. */
static int bad_event(eg_store *st, const eg_event *e, const char *why)
{
	return eg_st_err(st, EG_ECORRUPT, "%s event at position %llu: %s", SCHEMAS_STREAM,
			 (unsigned long long)e->pos, why);
}

static int read_schema_event(eg_store *st, registry *r, const eg_event *e)
{
	json_span d = { e->data, e->data_len, JSON_OBJECT }, ty, doc, up, cm;
	uint64_t version;
	if (!eg_json_member(&d, "type", 4, &ty) || ty.type != JSON_STRING ||
	    member_u64(&d, "version", &version) || !eg_json_member(&d, "schema", 6, &doc) ||
	    (doc.type != JSON_OBJECT && doc.type != JSON_TRUE && doc.type != JSON_FALSE))
		return bad_event(st, e, "expected type, version and schema");
	char name[NAME_MAX_LEN + 1];
	if (ty.n > sizeof name)
		return bad_event(st, e, "type name too long");
	size_t nl = eg_json_string_decode(&ty, name);
	ctype *t = type_get(r, name, nl);
	if (!t)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (version != t->n + 1)
		return bad_event(st, e, "versions out of order");
	if (buf_grow(&t->v, &t->cap, t->n + 1, sizeof *t->v))
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	cver *v = &t->v[t->n];
	memset(v, 0, sizeof *v);
	v->version = version;
	v->pos = e->pos;
	v->recorded = e->recorded;
	snprintf(v->compat, sizeof v->compat, "backward");
	if (eg_json_member(&d, "compat", 6, &cm) && cm.type == JSON_STRING &&
	    cm.n - 2 < sizeof v->compat)
		snprintf(v->compat, sizeof v->compat, "%.*s", (int)cm.n - 2, cm.p + 1);
	char err[512];
	if (!(v->doc = malloc(doc.n + 1)))
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	v->doc_len = eg_json_minify(&doc, v->doc);
	v->doc[v->doc_len] = 0;
	if (eg_schema_compile(v->doc, v->doc_len, &v->s, err, sizeof err)) {
		cver_free(v);
		return bad_event(st, e, err);
	}
	int prc = eg_personal_from_schema(v->s, &v->pers, err, sizeof err);
	if (prc) {
		cver_free(v);
		return prc == -2 ? eg_st_err(st, EG_ENOMEM, "out of memory") : bad_event(st, e, err);
	}
	if (v->pers)
		r->personal = 1;
	int has_up = eg_json_member(&d, "upcast", 6, &up) && up.type == JSON_ARRAY;
	if (has_up) {
		if (!(v->updoc = malloc(up.n + 1))) {
			cver_free(v);
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		}
		v->updoc_len = eg_json_minify(&up, v->updoc);
		v->updoc[v->updoc_len] = 0;
	}
	int rc = eg_reg_build_upcast(v->updoc, v->updoc_len, v->doc, v->doc_len, version > 1,
				     &v->up, err, sizeof err);
	if (rc) {
		cver_free(v);
		return rc == EG_ENOMEM ? eg_st_err(st, rc, "out of memory") : bad_event(st, e, err);
	}
	t->n++;
	if (v->up && v->up->n)
		t->upcasts = r->upcasts = 1;
	return EG_OK;
}

int eg_reg_build_upcast(const char *updoc, size_t uplen, const char *doc, size_t doclen,
			int defaults, eg_upcast **out, char *err, size_t errlen)
{
	*out = NULL;
	eg_upcast *u = NULL;
	if (updoc && eg_upcast_parse(updoc, uplen, &u, err, errlen))
		return EG_EINVAL;
	if (!u && !(u = calloc(1, sizeof *u)))
		return EG_ENOMEM;
	if (defaults && doclen && doc[0] == '{') {
		json_span s = { doc, doclen, JSON_OBJECT };
		buf at = { 0 };
		int rc = add_defaults(u, &s, &at, 0);
		free(at.p);
		if (rc) {
			eg_upcast_free(u);
			return rc;
		}
	}
	if (!u->n) {
		eg_upcast_free(u);
		u = NULL;
	}
	*out = u;
	return EG_OK;
}

/* The fingerprint of every upcast: derived state that folded events
 * through the upcasts is keyed by it, so a new upcast starts it anew. */
static void fingerprint(registry *r)
{
	r->fp[0] = 0;
	if (!r->upcasts)
		return;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32];
	if (!c || !EVP_DigestInit_ex(c, eg_chain_sha256(), NULL))
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		const ctype *t = &r->t[i];
		for (size_t k = 0; t->upcasts && k < t->n; k++) {
			if (!t->v[k].up)
				continue;
			char hdr[64];
			int hn = snprintf(hdr, sizeof hdr, "%zu:%llu:", t->len,
					  (unsigned long long)t->v[k].version);
			EVP_DigestUpdate(c, hdr, (size_t)hn);
			EVP_DigestUpdate(c, t->name, t->len);
			EVP_DigestUpdate(c, &t->v[k].pos, sizeof t->v[k].pos);
		}
	}
	if (EVP_DigestFinal_ex(c, md, NULL))
		eg_hash_hex(md, r->fp);
out:
	EVP_MD_CTX_free(c);
}

int eg_reg_refresh(eg_store *st)
{
	if (!st->reg && !(st->reg = calloc(1, sizeof *st->reg)))
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	registry *r = st->reg;
	eg_head h;
	int rc = eg_store_head(st, &h);
	if (rc || r->through >= h.pos)
		return rc;
	/* A store without schemas pays one key lookup (when the index covers
	 * the log: what it does not cover is read by the iterator). */
	uint64_t count;
	if (eg_store_index_lag(st) == 0 &&
	    eg_store_key(st, EG_KEYS_STREAMS, SCHEMAS_STREAM, strlen(SCHEMAS_STREAM), &count)) {
		r->through = h.pos;
		return EG_OK;
	}
	eg_filter f = { .stream = SCHEMAS_STREAM, .from = r->through + 1, .to = h.pos };
	eg_iter *it;
	if ((rc = eg_iter_new(st, &it, &f)))
		return rc;
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (e->type_len == strlen(SCHEMA_EVENT) && !memcmp(e->type, SCHEMA_EVENT, e->type_len)) {
			if ((rc = read_schema_event(st, r, e)))
				break;
		} else if (e->type_len == strlen(REQUIRE_ALL_EVENT) &&
			   !memcmp(e->type, REQUIRE_ALL_EVENT, e->type_len)) {
			json_span d = { e->data, e->data_len, JSON_OBJECT }, on;
			r->require_all = eg_json_member(&d, "on", 2, &on) && on.type == JSON_TRUE;
		}
	}
	eg_iter_free(it);
	if (rc != EG_END)
		return rc;
	r->through = h.pos;
	fingerprint(r);
	return EG_OK;
}

size_t eg_reg_upcast(const ctype *t, uint64_t from, uint64_t to, const char *data, size_t n,
		     char **space, size_t *cap, const char **out)
{
	const char *cur = data;
	char *tmp = NULL;           /* the last step's result, while *space takes the next */
	size_t tcap = 0;
	if (!from)
		from = 1;
	if (to > t->n)
		to = t->n;
	for (uint64_t k = from + 1; k <= to; k++) {
		const eg_upcast *u = t->v[k - 1].up;
		if (!u)
			continue;
		if (cur == *space) {
			if (tcap < n) {
				char *q = realloc(tmp, n);
				if (!q) {
					free(tmp);
					return (size_t)-1;
				}
				tmp = q;
				tcap = n;
			}
			memcpy(tmp, cur, n);
			cur = tmp;
		}
		n = eg_upcast_apply(u, cur, n, space, cap);
		if (n == (size_t)-1)
			break;
		cur = *space;
	}
	free(tmp);
	*out = cur;
	return n;
}

int eg_reg_upcast_event(eg_store *st, eg_event *e, char **space, size_t *cap)
{
	const registry *r = st->reg;
	const ctype *t = r && r->upcasts ? eg_reg_type(r, e->type, e->type_len) : NULL;
	if (!t || !t->upcasts || e->schema_version >= t->n)
		return EG_OK;
	const char *d;
	size_t n = eg_reg_upcast(t, e->schema_version, t->n, e->data, e->data_len, space, cap, &d);
	if (n == (size_t)-1)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	e->data = d;
	e->data_len = n;
	if (e->schema_version)
		e->schema_version = t->n;
	return EG_OK;
}

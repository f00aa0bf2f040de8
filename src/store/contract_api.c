/*
 * contract_api.c — the contracts of the public API: registering a schema
 * version (compatibility rules against earlier versions, then the stored
 * events themselves), listing versions, require-all, validating a
 * producer's sample, and the quarantine with its retry.
 */
#include "internal.h"
#include "buf.h"
#include "contract.h"
#include "json.h"
#include "schema_diff.h"

#include <stdlib.h>
#include <string.h>

/* Append one event of engram's own (data, minified JSON) to a reserved
 * stream, durably.  *pos gets its position. */
static int append_own(eg_store *st, const char *stream, const char *type, const char *data,
		      size_t n, uint64_t *pos)
{
	buf line = { 0 };
	int rc = EG_ENOMEM;
	if (buf_puts(&line, "{\"stream\":") || buf_quote(&line, stream, strlen(stream)) ||
	    buf_puts(&line, ",\"type\":") || buf_quote(&line, type, strlen(type)) ||
	    buf_puts(&line, ",\"data\":") || buf_add(&line, data, n) || buf_puts(&line, "}")) {
		free(line.p);
		return eg_st_err(st, rc, "out of memory");
	}
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_ALWAYS, .expect_version = -1 };
	eg_append_result res;
	if ((rc = eg_batch_begin_as(st, &b, &o, 1)) == EG_OK) {
		rc = eg_batch_add_json(b, line.p, line.n);
		if (rc == EG_OK)
			rc = eg_batch_commit(b, &res);
		else
			eg_batch_abort(b);
	}
	free(line.p);
	if (rc == EG_OK && pos)
		*pos = res.last_pos;
	return rc == EG_OK ? eg_reg_refresh(st) : rc;
}

/* ---------------------------------------------------------------- list */

static void fill(const ctype *t, const cver *v, eg_contract *c)
{
	*c = (eg_contract){ .type = t->name, .type_len = t->len, .version = v->version,
			    .compat = v->compat, .schema = v->doc, .schema_len = v->doc_len,
			    .upcast = v->updoc, .upcast_len = v->updoc_len, .pos = v->pos,
			    .recorded = v->recorded };
}

static int cmp_types(const void *a, const void *b)
{
	const ctype *x = *(const ctype *const *)a, *y = *(const ctype *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

int eg_contract_list(eg_store *st, const char *type, eg_contract_fn fn, void *ctx)
{
	int rc = eg_reg_refresh(st);
	if (rc)
		return rc;
	registry *r = st->reg;
	const ctype **order = malloc((r->n + 1) * sizeof *order);
	if (!order)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		if (!type || (strlen(type) == r->t[i].len && !memcmp(type, r->t[i].name, r->t[i].len)))
			order[n++] = &r->t[i];
	qsort(order, n, sizeof *order, cmp_types);
	for (size_t i = 0; i < n && !rc; i++)
		for (size_t k = 0; k < order[i]->n && !rc; k++) {
			eg_contract c;
			fill(order[i], &order[i]->v[k], &c);
			rc = fn(ctx, &c);
		}
	free(order);
	return rc;
}

int eg_contract_get(eg_store *st, const char *type, uint64_t version, eg_contract *out)
{
	int rc = eg_reg_refresh(st);
	if (rc)
		return rc;
	const ctype *t = eg_reg_type(st->reg, type, strlen(type));
	if (!t || !t->n)
		return eg_st_err(st, EG_ENOTFOUND, "type %s has no schema (engram schema list "
				 "shows those that have)", type);
	if (version > t->n)
		return eg_st_err(st, EG_ENOTFOUND, "type %s has no schema version %llu (the latest "
				 "is %zu)", type, (unsigned long long)version, t->n);
	fill(t, &t->v[(version ? version : t->n) - 1], out);
	return EG_OK;
}

/* An iterator over the events of one type. */
static int type_iter(eg_store *st, const char *type, eg_iter **it)
{
	const char *types[1] = { type };
	eg_filter f = { .types = types, .ntypes = 1 };
	return eg_iter_new(st, it, &f);
}

int eg_contract_counts(eg_store *st, const char *type, uint64_t *counts, size_t n)
{
	memset(counts, 0, n * sizeof *counts);
	eg_iter *it;
	int rc = type_iter(st, type, &it);
	if (rc)
		return rc;
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK)
		if (e->schema_version < n && !eg_reserved_stream(e->stream, e->stream_len))
			counts[e->schema_version]++;
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_contract_require_all(eg_store *st, int *on)
{
	int rc = eg_reg_refresh(st);
	*on = rc ? 0 : st->reg->require_all;
	return rc;
}

int eg_contract_set_require_all(eg_store *st, int on)
{
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	const char *d = on ? "{\"on\":true}" : "{\"on\":false}";
	return append_own(st, SCHEMAS_STREAM, REQUIRE_ALL_EVENT, d, strlen(d), NULL);
}

typedef struct diffctx {
	eg_contract_change_fn fn;
	void *ctx;
} diffctx;

static int on_diff(void *p, const eg_schema_change *c)
{
	diffctx *d = p;
	eg_contract_change ch = { c->rule, c->pointer, c->message, c->breaks_backward,
				  c->breaks_forward };
	return d->fn(d->ctx, &ch);
}

int eg_contract_diff(eg_store *st, const char *type, uint64_t v1, uint64_t v2,
		     eg_contract_change_fn fn, void *ctx)
{
	eg_contract a, b;
	int rc;
	if ((rc = eg_contract_get(st, type, v1, &a)) || (rc = eg_contract_get(st, type, v2, &b)))
		return rc;
	const ctype *t = eg_reg_type(st->reg, type, strlen(type));
	diffctx d = { fn, ctx };
	rc = eg_schema_diff(t->v[v1 - 1].s, t->v[v2 - 1].s, NULL, on_diff, &d);
	return rc < 0 ? eg_st_err(st, EG_ENOMEM, "out of memory") : rc;
}

/* ----------------------------------------------------------------- add */

typedef struct addctx {
	eg_store *st;
	eg_contract_issue_fn fn;
	void *ctx;
	uint64_t against, broken;
	int backward, forward;       /* which breaks count */
	int stop;                    /* fn asked to stop */
} addctx;

static int on_change(void *p, const eg_schema_change *c)
{
	addctx *a = p;
	if (!((a->backward && c->breaks_backward) || (a->forward && c->breaks_forward)))
		return 0;
	a->broken++;
	eg_contract_issue is = { .against = a->against, .rule = c->rule, .pointer = c->pointer,
				 .message = c->message };
	if (a->fn && !a->stop && a->fn(a->ctx, &is))
		a->stop = 1;
	return 0;
}

/* The upcasts from version `from` of t to the new version `up` (NULL:
 * none) as one list of operations: borrowed, the caller frees ops only. */
static int chain_ops(const ctype *t, uint64_t from, const eg_upcast *up, eg_upcast *out)
{
	size_t n = up ? up->n : 0;
	for (uint64_t k = from + 1; k <= t->n; k++)
		n += t->v[k - 1].up ? t->v[k - 1].up->n : 0;
	out->n = 0;
	if (!(out->ops = malloc((n + 1) * sizeof *out->ops)))
		return EG_ENOMEM;
	for (uint64_t k = from + 1; k <= t->n; k++)
		for (size_t i = 0; t->v[k - 1].up && i < t->v[k - 1].up->n; i++)
			out->ops[out->n++] = t->v[k - 1].up->ops[i];
	for (size_t i = 0; up && i < up->n; i++)
		out->ops[out->n++] = up->ops[i];
	return EG_OK;
}

/* The rules: the new version against the previous one, or every earlier
 * one for the _transitive modes. */
static int check_rules(addctx *a, const ctype *t, const eg_schema *s, const eg_upcast *up,
		       const char *mode)
{
	int m = eg_compat_mode_parse(mode);
	if (!t || !t->n || m == EG_COMPAT_NONE)
		return EG_OK;
	a->backward = eg_compat_checks_backward(m);
	a->forward = eg_compat_checks_forward(m);
	uint64_t first = m == EG_COMPAT_BACKWARD_TRANSITIVE || m == EG_COMPAT_FORWARD_TRANSITIVE ||
			 m == EG_COMPAT_FULL_TRANSITIVE ? 1 : t->n;
	for (uint64_t k = t->n; k >= first; k--) {
		eg_upcast chain;
		if (chain_ops(t, k, up, &chain))
			return EG_ENOMEM;
		a->against = k;
		/* Old readers read new events as written: the upcasts are for
		 * new readers of old events only. */
		int fwd = a->forward, bwd = a->backward, rc = 0;
		if (bwd) {
			a->forward = 0;
			rc = eg_schema_diff(t->v[k - 1].s, s, &chain, on_change, a);
			a->forward = fwd;
		}
		if (!rc && fwd) {
			a->backward = 0;
			rc = eg_schema_diff(t->v[k - 1].s, s, NULL, on_change, a);
			a->backward = bwd;
		}
		free(chain.ops);
		if (rc < 0)
			return EG_ENOMEM;
	}
	return EG_OK;
}

/* Upcast every stored event of the type (or a sample) to the new version
 * and validate it. */
static int check_data(addctx *a, const char *type, const ctype *t, const eg_schema *s,
		      const eg_upcast *up, const eg_contract_opts *o, eg_contract_report *rep)
{
	eg_store *st = a->st;
	uint64_t count = 0, stride = 1, seen = 0;
	if (eg_store_key(st, EG_KEYS_TYPES, type, strlen(type), &count))
		return EG_OK;
	if (o->sample && count > o->sample)
		stride = (count + o->sample - 1) / o->sample;   /* at most sample of them */
	size_t maxex = o->max_examples ? o->max_examples : 5;
	eg_iter *it;
	int rc = type_iter(st, type, &it);
	if (rc)
		return rc;
	char *b1 = NULL, *b2 = NULL;
	size_t c1 = 0, c2 = 0;
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if (eg_reserved_stream(e->stream, e->stream_len) || seen++ % stride)
			continue;
		const char *d = e->data;
		size_t n = e->data_len;
		if (t && (n = eg_reg_upcast(t, e->schema_version, t->n, d, n, &b1, &c1, &d)) ==
		    (size_t)-1) {
			rc = EG_ENOMEM;
			break;
		}
		if (up && (n = eg_upcast_apply(up, d, n, &b2, &c2)) == (size_t)-1) {
			rc = EG_ENOMEM;
			break;
		}
		if (up)
			d = b2;
		eg_schema_error err;
		size_t ne = 0;
		int v = eg_schema_validate(s, d, n, &err, 1, &ne);
		if (v < 0) {
			rc = EG_ENOMEM;
			break;
		}
		rep->checked++;
		if (!v)
			continue;
		if (rep->failed++ < maxex && a->fn && !a->stop) {
			char ptr[EG_SCHEMA_PTR_MAX + 8];
			snprintf(ptr, sizeof ptr, "/data%s", err.pointer);
			eg_contract_issue is = { .rule = err.keyword, .pointer = ptr,
						 .message = err.message, .pos = e->pos,
						 .stored_version = e->schema_version };
			if (a->fn(a->ctx, &is))
				a->stop = 1;
		}
	}
	eg_iter_free(it);
	free(b1);
	free(b2);
	if (rc == EG_ENOMEM)
		return eg_st_err(st, rc, "out of memory");
	return rc == EG_END ? EG_OK : rc;
}

/* The data of the $schemas event of a new version. */
static int schema_event(buf *d, const char *type, uint64_t version, const char *mode,
			const char *doc, size_t n, const char *up, size_t upn)
{
	char v[32];
	snprintf(v, sizeof v, "%llu", (unsigned long long)version);
	return buf_puts(d, "{\"type\":") || buf_quote(d, type, strlen(type)) ||
	       buf_puts(d, ",\"version\":") || buf_puts(d, v) || buf_puts(d, ",\"compat\":\"") ||
	       buf_puts(d, mode) || buf_puts(d, "\",\"schema\":") || buf_add(d, doc, n) ||
	       (up && (buf_puts(d, ",\"upcast\":") || buf_add(d, up, upn))) || buf_puts(d, "}");
}

/* A document as stored: minified, after checking it is one JSON value. */
static char *minified(eg_store *st, const char *what, const char *s, size_t n, size_t *len)
{
	json_err je;
	if (eg_json_validate(s, n, &je)) {
		eg_st_err(st, EG_EINVAL, "%s: invalid JSON: %s at byte %zu", what, je.what, je.off + 1);
		return NULL;
	}
	json_span v = { s, n, 0 };
	while (v.n && (*v.p == ' ' || *v.p == '\n' || *v.p == '\t' || *v.p == '\r'))
		v.p++, v.n--;
	char *out = malloc(n + 1);
	if (!out) {
		eg_st_err(st, EG_ENOMEM, "out of memory");
		return NULL;
	}
	*len = eg_json_minify(&v, out);
	out[*len] = 0;
	return out;
}

int eg_contract_add(eg_store *st, const char *type, const char *schema, size_t n,
		    const eg_contract_opts *opts, eg_contract_issue_fn fn, void *ctx,
		    eg_contract_report *rep)
{
	static const eg_contract_opts none;
	const eg_contract_opts *o = opts ? opts : &none;
	memset(rep, 0, sizeof *rep);
	if (!o->dry_run && !st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	size_t tl = strlen(type);
	if (!tl || tl > NAME_MAX_LEN)
		return eg_st_err(st, EG_EINVAL, "type: expected a name of 1 to %d bytes", NAME_MAX_LEN);
	int rc = eg_reg_refresh(st);
	if (rc)
		return rc;
	const ctype *t = eg_reg_type(st->reg, type, tl);
	uint64_t version = (t ? t->n : 0) + 1;
	const char *mode = o->compat ? o->compat : t && t->n ? t->v[t->n - 1].compat : "backward";
	if (eg_compat_mode_parse(mode) < 0)
		return eg_st_err(st, EG_EINVAL, "compat: expected backward, forward, full (each "
				 "maybe _transitive) or none, got \"%s\"", mode);
	rep->version = version;
	rep->compat = mode;
	if (o->upcast && version == 1)
		return eg_st_err(st, EG_EINVAL, "upcast: %s has no schema yet, so there is no "
				 "earlier version to upcast from", type);
	size_t dn = 0, un = 0;
	char *doc = minified(st, "schema", schema, n, &dn), *updoc = NULL;
	eg_schema *s = NULL;
	eg_upcast *up = NULL;
	char err[512];
	if (!doc)
		return EG_EINVAL;
	if (o->upcast && !(updoc = minified(st, "upcast", o->upcast, o->upcast_len, &un))) {
		free(doc);
		return EG_EINVAL;
	}
	if (eg_schema_compile(doc, dn, &s, err, sizeof err)) {
		rc = eg_st_err(st, EG_EINVAL, "schema: %s", err);
		goto out;
	}
	eg_personal *pers = NULL;
	int prc = eg_personal_from_schema(s, &pers, err, sizeof err);
	eg_personal_free(pers);
	if (prc) {
		rc = prc == -2 ? eg_st_err(st, EG_ENOMEM, "out of memory")
			       : eg_st_err(st, EG_EINVAL, "schema: %s", err);
		goto out;
	}
	if ((rc = eg_reg_build_upcast(updoc, un, doc, dn, version > 1, &up, err, sizeof err))) {
		rc = rc == EG_ENOMEM ? eg_st_err(st, rc, "out of memory")
				     : eg_st_err(st, rc, "upcast: %s", err);
		goto out;
	}
	if (t && t->n && !updoc && t->v[t->n - 1].doc_len == dn &&
	    !memcmp(t->v[t->n - 1].doc, doc, dn)) {
		rep->version = t->n;
		rep->unchanged = 1;
		goto out;
	}
	addctx a = { .st = st, .fn = fn, .ctx = ctx };
	if ((rc = check_rules(&a, t, s, up, mode))) {
		rc = eg_st_err(st, rc, "out of memory");
		goto out;
	}
	rep->rules_broken = a.broken;
	if ((rc = check_data(&a, type, t, s, up, o, rep)))
		goto out;
	int strict = eg_compat_mode_parse(mode) != EG_COMPAT_NONE;
	if (strict && (rep->rules_broken || (rep->failed && !o->force))) {
		char what[160] = "";
		if (rep->rules_broken)
			snprintf(what, sizeof what, "breaks %llu compatibility rule%s",
				 (unsigned long long)rep->rules_broken, rep->rules_broken == 1 ? "" : "s");
		if (rep->failed)
			snprintf(what + strlen(what), sizeof what - strlen(what),
				 "%s%llu of %llu stored events fail it%s", *what ? "; " : "",
				 (unsigned long long)rep->failed, (unsigned long long)rep->checked,
				 rep->rules_broken ? "" : " (--force registers it anyway)");
		rc = eg_st_err(st, EG_ECONFLICT, "%s v%llu is not %s compatible: %s", type,
			       (unsigned long long)version, mode, what);
		goto out;
	}
	if (!o->dry_run) {
		buf d = { 0 };
		if (schema_event(&d, type, version, mode, doc, dn, updoc, un))
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		else
			rc = append_own(st, SCHEMAS_STREAM, SCHEMA_EVENT, d.p, d.n, &rep->pos);
		free(d.p);
	}
out:
	free(doc);
	free(updoc);
	eg_schema_free(s);
	eg_upcast_free(up);
	return rc;
}

/*
 * quarantine.c — events their schema refused, kept whole in the reserved
 * stream $quarantine (append --quarantine), listed and retried.
 *
 * A quarantined event keeps its id (given or assigned when it was
 * refused), so whether it has been appended since is a lookup of that id,
 * and a retry appends it at most once: a second copy is a duplicate.
 */
#include "internal.h"
#include "buf.h"
#include "contract.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

/* Read a quarantine event; 0, or -1 if it does not read as one. */
static int read_one(eg_store *st, const eg_event *e, eg_quarantined *q, char *idbuf)
{
	json_span d = { e->data, e->data_len, JSON_OBJECT }, ln, ty, sv, er, ev, id;
	if (!eg_json_member(&d, "line", 4, &ln) || !eg_json_member(&d, "type", 4, &ty) ||
	    ty.type != JSON_STRING || !eg_json_member(&d, "errors", 6, &er) ||
	    !eg_json_member(&d, "event", 5, &ev) || ev.type != JSON_OBJECT ||
	    !eg_json_member(&ev, "id", 2, &id) || id.type != JSON_STRING || id.n > 2 * ID_MAX + 2)
		return -1;
	memset(q, 0, sizeof *q);
	q->pos = e->pos;
	q->recorded = e->recorded;
	q->line = strtoull(ln.p, NULL, 10);
	if (eg_json_member(&d, "schema_version", 14, &sv))
		q->schema_version = strtoull(sv.p, NULL, 10);
	q->type = ty.p + 1;
	q->type_len = ty.n - 2;
	q->errors = er.p;
	q->errors_len = er.n;
	q->event = ev.p;
	q->event_len = ev.n;
	q->id_len = eg_json_string_decode(&id, idbuf);
	q->id = idbuf;
	int rc = eg_store_find_id(st, q->id, q->id_len, &q->appended_pos);
	if (rc == EG_ENOTFOUND)
		q->appended_pos = 0;
	else if (rc)
		return rc;
	return 0;
}

/* Call fn for each quarantined event (pending only, when pending). */
static int each(eg_store *st, int pending, eg_quarantine_fn fn, void *ctx)
{
	eg_head h;
	int rc = eg_store_head(st, &h);
	uint64_t count;
	if (rc || (eg_store_index_lag(st) == 0 &&
		   eg_store_key(st, EG_KEYS_STREAMS, QUARANTINE_STREAM, strlen(QUARANTINE_STREAM),
				&count)))
		return rc;
	const char *types[1] = { REJECTED_EVENT };
	eg_filter f = { .stream = QUARANTINE_STREAM, .types = types, .ntypes = 1, .to = h.pos };
	eg_iter *it;
	if ((rc = eg_iter_new(st, &it, &f)))
		return rc;
	const eg_event *e;
	while ((rc = eg_iter_next(it, &e)) == EG_OK) {
		eg_quarantined q;
		char idbuf[2 * ID_MAX + 2];
		int r = read_one(st, e, &q, idbuf);
		if (r < 0) {
			rc = eg_st_err(st, EG_ECORRUPT, "%s event at position %llu is not a "
				       "quarantined event", QUARANTINE_STREAM,
				       (unsigned long long)e->pos);
			break;
		}
		if (r || (pending && q.appended_pos))
			continue;
		if ((rc = fn(ctx, &q)))
			break;
	}
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

int eg_quarantine_list(eg_store *st, eg_quarantine_fn fn, void *ctx)
{
	return each(st, 0, fn, ctx);
}

typedef struct retry {
	eg_store *st;
	eg_batch *b;
	eg_quarantine_fn fn;
	void *ctx;
	uint64_t appended, failing;
	/* The ones appended, to report with their positions after the commit
	 * (their strings copied: the log's mapping may move by then). */
	eg_quarantined *done;
	size_t ndone, cap;
} retry;

static int retry_one(void *p, const eg_quarantined *q)
{
	retry *r = p;
	int rc = eg_batch_add_json(r->b, q->event, q->event_len);
	if (rc == EG_EINVAL) {
		r->failing++;
		eg_quarantined now = *q;
		now.retry_error = eg_errmsg(r->st);
		return r->fn ? r->fn(r->ctx, &now) : 0;
	}
	if (rc == EG_EDUP)
		return 0;
	if (rc)
		return rc;
	if (buf_grow(&r->done, &r->cap, r->ndone + 1, sizeof *r->done))
		return eg_st_err(r->st, EG_ENOMEM, "out of memory");
	eg_quarantined *d = &r->done[r->ndone];
	*d = *q;
	d->id = strndup(q->id, q->id_len);
	d->type = strndup(q->type, q->type_len);
	d->errors = strndup(q->errors, q->errors_len);
	d->event = NULL;
	d->event_len = 0;
	r->ndone++;
	r->appended++;
	if (!d->id || !d->type || !d->errors)
		return eg_st_err(r->st, EG_ENOMEM, "out of memory");
	return 0;
}

int eg_quarantine_retry(eg_store *st, int sync, eg_quarantine_fn fn, void *ctx,
			uint64_t *appended, uint64_t *failing)
{
	*appended = *failing = 0;
	retry r = { .st = st, .fn = fn, .ctx = ctx };
	eg_batch_opts o = { .sync = sync, .expect_version = -1 };
	int rc = eg_batch_begin(st, &r.b, &o);
	if (rc)
		return rc;
	rc = each(st, 1, retry_one, &r);
	if (rc == EG_OK)
		rc = eg_batch_commit(r.b, NULL);
	else
		eg_batch_abort(r.b);
	for (size_t i = 0; rc == EG_OK && i < r.ndone; i++) {
		eg_quarantined *q = &r.done[i];
		if ((rc = eg_store_find_id(st, q->id, q->id_len, &q->appended_pos)))
			break;
		if (fn && (rc = fn(ctx, q)))
			break;
	}
	*appended = r.appended;
	*failing = r.failing;
	for (size_t i = 0; i < r.ndone; i++) {
		free((char *)r.done[i].id);
		free((char *)r.done[i].type);
		free((char *)r.done[i].errors);
	}
	free(r.done);
	return rc;
}

/*
 * serve_append.c — appends over HTTP (docs/SERVER.md): POST /events and
 * POST /streams/{stream}/events, committed by one thread as group
 * commits.  The committer takes every append waiting, commits each as its
 * own atomic batch (EG_SYNC_GROUP: visible, not yet durable), makes them
 * all durable with one eg_store_sync, and only then answers them.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One append request waiting for the committer. */
struct areq {
	const char *body;
	size_t len;
	const char *stream;               /* /streams/{stream}/events: lines without
	                                   * a stream get it; NULL: /events */
	int64_t expect_version;           /* -1 any, 0 new, N */
	const char *park;                 /* srv_park: the consumer; body: its event */
	uint64_t deliveries;
	uint64_t first_pos;
	int done, status;
	pthread_cond_t cv;                /* signalled when done: each waiter has
	                                   * its own, so that a group's answers
	                                   * wake only the group's threads */
	char *resp;                       /* the JSON answer (malloc'd) */
	uint64_t appended, lines;         /* lines: appended and duplicates */
	struct areq *next;
};

/* An internal append: a consumer's poison event to $parked-NAME. */
static void do_park(srv *s, areq *r)
{
	eg_append_result res;
	int rc = eg_consumer_park(s->st, r->park, r->body, r->len, r->deliveries, EG_SYNC_GROUP,
				  &res);
	r->status = rc ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_OK;
	r->resp = rc ? srv_json_error(eg_errmsg(s->st), NULL) : NULL;
	r->appended = rc ? 0 : res.appended;
	r->first_pos = rc ? 0 : res.first_pos;
}

static void do_append(srv *s, areq *r)
{
	if (r->park) {
		do_park(s, r);
		return;
	}
	eg_batch_opts bo = { .sync = EG_SYNC_GROUP, .expect_version = -1 };
	bo.default_stream = r->stream;
	if (r->stream && r->expect_version >= 0) {
		/* every line must then be in the stream: the store checks */
		bo.expect_stream = r->stream;
		bo.expect_version = r->expect_version;
	}
	eg_batch *b = NULL;
	uint64_t lines = 0;
	int rc = eg_batch_begin(s->st, &b, &bo);
	if (!rc)
		rc = eg_batch_add_ndjson(b, r->body, r->len, NULL, NULL, &lines);
	if (rc == EG_EINVAL) {
		char msg[1200], extra[64];
		snprintf(msg, sizeof msg, "line %llu: %s; nothing of this batch was written",
			 (unsigned long long)lines, eg_errmsg(s->st));
		snprintf(extra, sizeof extra, ",\"line\":%llu", (unsigned long long)lines);
		eg_batch_abort(b);
		r->status = MHD_HTTP_BAD_REQUEST;
		r->resp = srv_json_error(msg, extra);
		return;
	}
	eg_append_result res;
	if (!rc) {
		rc = eg_batch_commit(b, &res);
		b = NULL;
	}
	eg_batch_abort(b);
	if (rc) {
		r->status = rc == EG_ECONFLICT ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR;
		r->resp = srv_json_error(eg_errmsg(s->st), NULL);
		return;
	}
	char hex[65];
	eg_hash_hex(res.head.hash, hex);
	r->status = MHD_HTTP_OK;
	r->appended = res.appended;
	r->lines = res.appended + res.duplicates;
	if (res.appended && asprintf(&r->resp, "{\"appended\":%llu,\"duplicates\":%llu,"
				     "\"first_pos\":%llu,\"last_pos\":%llu,\"head\":\"%s\"}\n",
				     (unsigned long long)res.appended,
				     (unsigned long long)res.duplicates,
				     (unsigned long long)res.first_pos,
				     (unsigned long long)res.last_pos, hex) < 0)
		r->resp = NULL;
	else if (!res.appended && asprintf(&r->resp, "{\"appended\":0,\"duplicates\":%llu,"
					   "\"first_pos\":null,\"last_pos\":null,\"head\":\"%s\"}\n",
					   (unsigned long long)res.duplicates, hex) < 0)
		r->resp = NULL;
}

/* Take every waiting append, commit each, sync once, answer all. */
void *srv_committer(void *arg)
{
	srv *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->work, &s->mu);
		if (!s->head)
			break;
		areq *list = s->head;
		s->head = s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		uint64_t n = 0, ev = 0;
		for (areq *r = list; r; r = r->next, n++)
			do_append(s, r);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = eg_store_sync(s->st);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		srv_metric_commit(n, (double)(t1.tv_sec - t0.tv_sec) +
				  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		/* what is synced may now go to subscribers and consumers */
		eg_head h = { 0 };
		int hrc = rc ? rc : eg_store_head(s->st, &h);
		for (areq *r = list; r; r = r->next) {
			if (rc && r->status == MHD_HTTP_OK) {
				/* committed but not durable: not acknowledged */
				free(r->resp);
				r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
				r->resp = srv_json_error(eg_errmsg(s->st), NULL);
			}
			ev += r->status == MHD_HTTP_OK ? r->appended : 0;
			if (r->status == MHD_HTTP_OK)
				srv_metric_append(r->lines);
		}
		pthread_mutex_lock(&s->mu);
		/* r is the waiter's, on its stack: next is read before the
		 * signal lets it return */
		for (areq *r = list, *next; r; r = next) {
			next = r->next;
			r->done = 1;
			pthread_cond_signal(&r->cv);
		}
		if (!hrc && h.pos > s->durable)
			s->durable = h.pos;
		s->rounds++;
		s->requests += n;
		s->events += ev;
		/* subscribers and consumers wait on done for what is durable */
		pthread_cond_broadcast(&s->done);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Hand r to the committer and wait for its answer. */
static void submit(srv *s, areq *r)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		r->done = 1;
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		r->resp = srv_json_error("the server is shutting down", NULL);
	} else {
		if (s->tail)
			s->tail->next = r;
		else
			s->head = r;
		s->tail = r;
		pthread_cond_signal(&s->work);
	}
	while (!r->done)
		pthread_cond_wait(&r->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

int srv_park(srv *s, const char *consumer, const char *line, size_t n, uint64_t deliveries,
	     uint64_t *pos, char **err)
{
	areq r = { .body = line, .len = n, .park = consumer, .deliveries = deliveries,
		   .expect_version = -1 };
	submit(s, &r);
	if (r.status != MHD_HTTP_OK) {
		*err = r.resp;
		return -1;
	}
	*pos = r.first_pos;
	return 0;
}

static int ndjson_type(struct MHD_Connection *c)
{
	const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	if (!t)
		return 1;
	size_t n = strcspn(t, ";");
	return (n == 20 && !strncasecmp(t, "application/x-ndjson", n)) ||
	       (n == 16 && !strncasecmp(t, "application/json", n)) ||
	       (n == 10 && !strncasecmp(t, "text/plain", n)) ||
	       (n == 20 && !strncasecmp(t, "application/jsonlines", n));
}

/* POST /events and /streams/{stream}/events with Expected-Version. */
static enum MHD_Result post_append(srv *s, struct MHD_Connection *c, conn *k,
				   const char *stream)
{
	if (!ndjson_type(c))
		return srv_fail(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "Content-Type: expected application/x-ndjson (or application/json); "
			    "curl sends application/x-www-form-urlencoded unless told: "
			    "-H 'Content-Type: application/x-ndjson'");
	areq r = { .body = k->body ? k->body : "", .len = k->len, .stream = stream,
		   .expect_version = -1 };
	if (stream) {
		const char *ev = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expected-Version");
		uint64_t v;
		if (!ev || !strcmp(ev, "any"))
			r.expect_version = -1;
		else if (!strcmp(ev, "new"))
			r.expect_version = 0;
		else if (!cli_u64(ev, &v) && v <= INT64_MAX)
			r.expect_version = (int64_t)v;
		else
			return srv_fail(c, MHD_HTTP_BAD_REQUEST, "Expected-Version: expected a version "
				    "number, new or any");
	}
	pthread_cond_init(&r.cv, NULL);
	submit(s, &r);
	pthread_cond_destroy(&r.cv);
	return srv_answer(c, (unsigned)r.status, r.resp);
}

static enum MHD_Result post_events(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	(void)url, (void)method;
	return post_append(s, c, k, NULL);
}

/* /streams/{stream}/events */
static enum MHD_Result post_stream(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	const char *st = url + 9, *end = strstr(st, "/events");
	if (!end || strcmp(end, "/events") || end == st)
		return srv_not_found(c, method, url);
	char *name = strndup(st, (size_t)(end - st));
	if (!name)
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ok = post_append(s, c, k, name);
	free(name);
	return ok;
}

const srv_route SRV_APPEND_ROUTES[] = {
	{ "/events", "POST", SCOPE_APPEND, post_events },
	{ "/streams/", "POST", SCOPE_APPEND, post_stream },
	{ NULL, NULL, 0, NULL },
};

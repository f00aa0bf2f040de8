/*
 * serve_append.c — appends over HTTP (docs/SERVER.md): POST /events and
 * POST /streams/{stream}/events, committed by one thread as group
 * commits.  The committer takes every append waiting, commits each as its
 * own atomic batch (EG_SYNC_GROUP: visible, not yet durable), makes them
 * all durable with one sync, and only then answers them.  The sync runs
 * on a thread of its own (eg_store_sync_take, eg_sync_run): while the
 * disk takes one group, the committer commits the next.
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
	struct MHD_Connection *c;         /* an HTTP append (suspended until its
	                                   * answer is queued), else NULL: a
	                                   * waiter on cv */
	conn *k;
	char *own_stream;                 /* c's stream (freed with it) */
	eg_query *fail_if;                /* a conditional append (Fail-If, After):
	                                   * owned, freed with it */
	uint64_t after;
	struct areq *next;
};

/* Hand r's answer to its suspended connection and resume it: the
 * connection's thread queues it (serve.c, handle), so that answering a
 * group costs the committer no more than a resume each. */
static void answer(areq *r)
{
	conn *k = r->k;
	struct MHD_Connection *c = r->c;
	k->status = (unsigned)r->status;
	k->resp = r->resp;
	k->ready = 1;
	free(r->own_stream);
	eg_query_free(r->fail_if);
	free(r);
	MHD_resume_connection(c);
}

static void answer_ok(areq *r, uint64_t appended, uint64_t duplicates, uint64_t first,
		      const eg_head *head);

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
	bo.fail_if = r->fail_if;
	bo.after = r->after;
	eg_batch *b = NULL;
	uint64_t lines = 0;
	int rc = eg_batch_begin(s->st, &b, &bo);
	if (rc == EG_EINVAL && r->fail_if) {   /* After beyond the head */
		r->status = MHD_HTTP_BAD_REQUEST;
		r->resp = srv_json_error(eg_errmsg(s->st), NULL);
		return;
	}
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
	answer_ok(r, res.appended, res.duplicates, res.first_pos, &res.head);
}

/* A request whose events are committed: appended from first on, and
 * duplicates skipped; head: the store's head after the commit. */
static void answer_ok(areq *r, uint64_t appended, uint64_t duplicates, uint64_t first,
		      const eg_head *head)
{
	char hex[65];
	eg_hash_hex(head->hash, hex);
	r->status = MHD_HTTP_OK;
	r->appended = appended;
	r->lines = appended + duplicates;
	if (appended && asprintf(&r->resp, "{\"appended\":%llu,\"duplicates\":%llu,"
				 "\"first_pos\":%llu,\"last_pos\":%llu,\"head\":\"%s\"}\n",
				 (unsigned long long)appended, (unsigned long long)duplicates,
				 (unsigned long long)first,
				 (unsigned long long)(first + appended - 1), hex) < 0)
		r->resp = NULL;
	else if (!appended && asprintf(&r->resp, "{\"appended\":0,\"duplicates\":%llu,"
				       "\"first_pos\":null,\"last_pos\":null,\"head\":\"%s\"}\n",
				       (unsigned long long)duplicates, hex) < 0)
		r->resp = NULL;
}

/* Bodies up to this size may share their group's batch. */
#define MERGE_MAX (64u << 10)

/* A request that may share the group's batch: a plain POST /events (no
 * default stream, no expected version), small. */
static int mergeable(const areq *r)
{
	return !r->park && !r->stream && !r->fail_if && r->len <= MERGE_MAX;
}

/* The group's mergeable requests as one batch: one write of their events
 * and one commit record, so each is all in or all out with the others.
 * 0 when committed (or failed as a whole: each answered 500); -1 when a
 * request has a line the store refuses: nothing was written, and each
 * request is to be committed alone, so that the bad one fails alone. */
static int merge(srv *s, areq *list)
{
	eg_batch_opts bo = { .sync = EG_SYNC_GROUP, .expect_version = -1 };
	eg_batch *b;
	if (eg_batch_begin(s->st, &b, &bo))
		return -1;
	uint64_t a0 = 0, d0 = 0;
	for (areq *r = list; r; r = r->next) {
		if (!mergeable(r))
			continue;
		uint64_t lines, a1, d1;
		if (eg_batch_add_ndjson(b, r->body, r->len, NULL, NULL, &lines)) {
			eg_batch_abort(b);
			return -1;
		}
		eg_batch_counts(b, &a1, &d1);
		r->appended = a1 - a0;
		r->lines = d1 - d0;   /* its duplicates, until answered */
		a0 = a1;
		d0 = d1;
	}
	eg_append_result res;
	int rc = eg_batch_commit(b, &res);
	uint64_t next = res.first_pos;
	for (areq *r = list; r; r = r->next) {
		if (!mergeable(r))
			continue;
		if (rc) {
			r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			r->resp = srv_json_error(eg_errmsg(s->st), NULL);
			r->appended = 0;
			continue;
		}
		answer_ok(r, r->appended, r->lines, next, &res.head);
		next += r->appended;
	}
	return 0;
}

/* Commit a group: its small plain appends merged into one batch when
 * there are two or more (merge), every other request as its own batch. */
static void commit_group(srv *s, areq *list)
{
	int m = 0;
	for (areq *r = list; r && m < 2; r = r->next)
		m += mergeable(r);
	int merged = m >= 2 && merge(s, list) == 0;
	for (areq *r = list; r; r = r->next)
		if (!merged || !mergeable(r))
			do_append(s, r);
}

/* The thread that waits for the disk: it syncs one group while the
 * committer commits the next. */
typedef struct syncer {
	srv *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	eg_sync_work *w;
	areq *list;       /* the group it syncs (n requests, durable up to pos):
	                   * answered by the syncer when the sync holds, else
	                   * left for the committer (NULL once answered) */
	uint64_t n, pos;
	int busy, quit;
	double secs;      /* how long the last sync took */
} syncer;

static void finish(srv *s, areq *list, uint64_t n, int rc, uint64_t pos, double secs);

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *sync_loop(void *arg)
{
	syncer *y = arg;
	pthread_mutex_lock(&y->mu);
	for (;;) {
		while (!y->busy && !y->quit)
			pthread_cond_wait(&y->cv, &y->mu);
		if (!y->busy)
			break;
		eg_sync_work *w = y->w;
		areq *list = y->list;
		pthread_mutex_unlock(&y->mu);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = eg_sync_run(w);
		double secs = since(&t0);
		/* durable: answered now (a failure is the committer's to tell:
		 * the store's message and state are its) */
		if (rc == EG_OK)
			finish(y->s, list, y->n, EG_OK, y->pos, secs);
		pthread_mutex_lock(&y->mu);
		if (rc == EG_OK)
			y->list = NULL;
		y->secs = secs;
		y->busy = 0;
		pthread_cond_broadcast(&y->cv);
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

/* The group `list` (n requests) was committed and its sync ended with rc
 * (EG_OK: durable up to pos): answer each, move the durable head, wake
 * the waits and the subscriptions. */
static void finish(srv *s, areq *list, uint64_t n, int rc, uint64_t pos, double secs)
{
	uint64_t ev = 0;
	srv_metric_commit(n, secs);
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
	if (!rc && pos > s->durable)
		s->durable = pos;
	s->rounds++;
	s->requests += n;
	s->events += ev;
	/* consumers' waits wait on done for what is durable */
	pthread_cond_broadcast(&s->done);
	/* a waiter's r is on its stack: next is read before the signal lets
	 * it return */
	areq *http = NULL;
	for (areq *r = list, *next; r; r = next) {
		next = r->next;
		if (r->c) {
			r->next = http;
			http = r;
		} else {
			r->done = 1;
			pthread_cond_signal(&r->cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
	for (areq *r = http, *next; r; r = next) {
		next = r->next;
		answer(r);
	}
	srv_wake_subscribers(s, 1);
}

/* Wait for the tick, or for appends, or for the stop. */
static void wait_work(srv *s)
{
	struct timespec until = srv_deadline(SRV_TICK_MS);
	if (pthread_cond_timedwait(&s->work, &s->mu, &until)) {
		/* idle: the subscriptions whose heartbeat is due, the access
		 * log's last lines */
		pthread_mutex_unlock(&s->mu);
		srv_wake_subscribers(s, 0);
		srv_log_flush();
		pthread_mutex_lock(&s->mu);
	}
}

/* Take every waiting append and commit each; then, once the group before
 * is durable (its sync ran meanwhile on the syncer) and answered, hand
 * this group's sync to the syncer and go round. */
void *srv_committer(void *arg)
{
	srv *s = arg;
	syncer y = { .s = s };
	pthread_mutex_init(&y.mu, NULL);
	pthread_cond_init(&y.cv, NULL);
	pthread_t yt;
	int threaded = pthread_create(&yt, NULL, sync_loop, &y) == 0;
	int flight = 0;        /* a group is being synced */
	uint64_t flight_pos = 0;
	eg_sync_work *w = NULL;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stopping && !flight)
			wait_work(s);
		if (!s->head && !flight)
			break;
		areq *list = s->head;
		s->head = s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		uint64_t n = 0;
		for (areq *r = list; r; r = r->next)
			n++;
		commit_group(s, list);
		if (flight) {
			pthread_mutex_lock(&y.mu);
			while (y.busy)
				pthread_cond_wait(&y.cv, &y.mu);
			areq *failed = y.list;   /* the sync failed: not answered yet */
			pthread_mutex_unlock(&y.mu);
			int rc = eg_store_sync_done(s->st, w);
			if (failed)
				finish(s, failed, y.n, rc ? rc : EG_EIO, 0, y.secs);
			flight = 0;
		}
		if (list) {
			int rc = eg_store_sync_take(s->st, &w, &flight_pos);
			if (rc) {
				finish(s, list, n, rc, 0, 0);
			} else if (!threaded) {
				/* no thread for the sync: here, then answer */
				struct timespec t0;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				eg_sync_run(w);
				double secs = since(&t0);
				finish(s, list, n, eg_store_sync_done(s->st, w), flight_pos, secs);
			} else {
				pthread_mutex_lock(&y.mu);
				y.w = w;
				y.list = list;
				y.n = n;
				y.pos = flight_pos;
				y.busy = 1;
				pthread_cond_signal(&y.cv);
				pthread_mutex_unlock(&y.mu);
				flight = 1;
			}
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	if (threaded) {
		pthread_mutex_lock(&y.mu);
		y.quit = 1;
		pthread_cond_signal(&y.cv);
		pthread_mutex_unlock(&y.mu);
		pthread_join(yt, NULL);
	}
	pthread_mutex_destroy(&y.mu);
	pthread_cond_destroy(&y.cv);
	srv_wake_subscribers(s, 1);   /* stopping: they end their streams */
	return NULL;
}

/* Hand r to the committer: 0, or -1 when the server stops (r answered
 * 503, not queued). */
static int enqueue(srv *s, areq *r)
{
	if (s->stopping) {
		r->done = 1;
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		r->resp = srv_json_error("the server is shutting down", NULL);
		return -1;
	}
	if (s->tail)
		s->tail->next = r;
	else
		s->head = r;
	s->tail = r;
	pthread_cond_signal(&s->work);
	return 0;
}

/* Hand r to the committer and wait for its answer. */
static void submit(srv *s, areq *r)
{
	pthread_mutex_lock(&s->mu);
	enqueue(s, r);
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

/* POST /events and /streams/{stream}/events with Expected-Version. */
static enum MHD_Result post_append(srv *s, struct MHD_Connection *c, conn *k,
				   const char *stream)
{
	if (!srv_ndjson_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")))
		return srv_fail(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "Content-Type: expected application/x-ndjson (or application/json); "
			    "curl sends application/x-www-form-urlencoded unless told: "
			    "-H 'Content-Type: application/x-ndjson'");
	int64_t expect = -1;
	if (stream && srv_expected_version(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								       "Expected-Version"), &expect))
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, "Expected-Version: expected a version "
				"number, new or any");
	/* a conditional append (docs/CONSISTENCY.md): the Fail-If and After
	 * headers, or the fail_if and after query parameters */
	const char *fq = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fail-If"),
		   *aq = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "After");
	if (!fq)
		fq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fail_if");
	if (!aq)
		aq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
	eg_query *cond = NULL;
	uint64_t after = 0;
	char qe[300], msg[400];
	if (aq && !fq)
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, "After goes with Fail-If");
	if (aq && cli_u64(aq, &after))
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, "After: expected a position (0 or more)");
	if (fq && eg_query_add(&cond, fq, qe, sizeof qe)) {
		eg_query_free(cond);
		snprintf(msg, sizeof msg, "Fail-If: %s", qe);
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, msg);
	}
	areq *r = malloc(sizeof *r);
	char *name = stream ? strdup(stream) : NULL;
	if (!r || (stream && !name)) {
		free(r);
		free(name);
		eg_query_free(cond);
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	*r = (areq){ .body = k->body ? k->body : "", .len = k->len, .stream = name,
		     .expect_version = expect, .c = c, .k = k, .own_stream = name,
		     .fail_if = cond, .after = after };
	/* suspended before the committer may see it: it resumes it once
	 * the answer is queued, after the group's sync */
	k->suspended = 1;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&s->mu);
	int queued = enqueue(s, r) == 0;
	pthread_mutex_unlock(&s->mu);
	if (!queued)
		answer(r);
	return MHD_YES;
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
	{ "/events", "POST", SCOPE_APPEND, post_events, 0 },
	{ "/streams/", "POST", SCOPE_APPEND, post_stream, 0 },
	{ NULL, NULL, 0, NULL, 0 },
};

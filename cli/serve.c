/*
 * serve.c — engram serve: the store over HTTP (docs/SERVER.md), on
 * libmicrohttpd, through the same library API as the other commands.
 *
 * One server per store: it holds the write lock.  Appends from every
 * connection go to one committer thread, which takes all that are waiting,
 * commits each as its own atomic batch (EG_SYNC_GROUP: visible, not yet
 * durable), then makes them all durable with one eg_store_sync, and only
 * then answers them: group commit.  Reads open the store for reading per
 * request, as a CLI reader beside the server does.
 */
#include "cli.h"
#include "json.h"
#include "timefmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:7070"
#define DEFAULT_MAX_BODY (64u << 20)

/* ------------------------------------------------------------ state */

/* One append request waiting for the committer. */
typedef struct areq {
	const char *body;
	size_t len;
	const char *stream;               /* /streams/{stream}/events: lines without
	                                   * a stream get it; NULL: /events */
	int64_t expect_version;           /* -1 any, 0 new, N */
	int done, status;
	char *resp;                       /* the JSON answer (malloc'd) */
	uint64_t appended;
	struct areq *next;
} areq;

typedef struct srv {
	eg_store *st;                     /* the writer: only the committer uses it */
	const char *dir;
	size_t max_body;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	areq *head, *tail;
	int stopping;
	uint64_t rounds, requests, events; /* group commit, for the summary */
} srv;

/* Per request: the body as it comes in. */
typedef struct conn {
	char *body;
	size_t len, cap;
	int too_big;
	struct timespec t0;
} conn;


/* ------------------------------------------------------------ answers */

/* The status this thread queued last: for the access log (a connection is
 * served by one thread). */
static _Thread_local unsigned last_status;

static char *json_error(const char *msg, const char *extra)
{
	size_t n = strlen(msg);
	char *q = malloc(6 * n + 3);
	if (!q)
		return NULL;
	q[eg_json_quote(msg, n, q)] = 0;
	char *body = NULL;
	if (asprintf(&body, "{\"error\":%s%s}\n", q, extra ? extra : "") < 0)
		body = NULL;
	free(q);
	return body;
}

/* Queue a JSON body with the status; the body is taken (freed here). */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, char *body)
{
	if (!body) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		body = strdup("{\"error\":\"out of memory\"}\n");
		if (!body)
			return MHD_NO;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
								 MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	last_status = status;
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return answer(c, status, json_error(msg, NULL));
}

/* ------------------------------------------------------------ committer */

static void do_append(srv *s, areq *r)
{
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
		r->resp = json_error(msg, extra);
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
		r->resp = json_error(eg_errmsg(s->st), NULL);
		return;
	}
	char hex[65];
	eg_hash_hex(res.head.hash, hex);
	r->status = MHD_HTTP_OK;
	r->appended = res.appended;
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
static void *committer(void *arg)
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
		int rc = eg_store_sync(s->st);
		for (areq *r = list; r; r = r->next) {
			if (rc && r->status == MHD_HTTP_OK) {
				/* committed but not durable: not acknowledged */
				free(r->resp);
				r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
				r->resp = json_error(eg_errmsg(s->st), NULL);
			}
			ev += r->status == MHD_HTTP_OK ? r->appended : 0;
		}
		pthread_mutex_lock(&s->mu);
		for (areq *r = list; r; r = r->next)
			r->done = 1;
		s->rounds++;
		s->requests += n;
		s->events += ev;
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
		r->resp = json_error("the server is shutting down", NULL);
	} else {
		if (s->tail)
			s->tail->next = r;
		else
			s->head = r;
		s->tail = r;
		pthread_cond_signal(&s->work);
	}
	while (!r->done)
		pthread_cond_wait(&s->done, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ reads */

typedef struct reader {
	eg_store *st;
	eg_iter *it;
	FILE *f;                          /* out's memory stream */
	char *mem;
	size_t memlen, sent;
	out *o;
	const char *types[64];
	char *typebuf;
	int done;
} reader;

static void reader_free(void *cls)
{
	reader *rd = cls;
	if (rd->o)
		out_free(rd->o);
	if (rd->f)
		fclose(rd->f);
	free(rd->mem);
	eg_iter_free(rd->it);
	eg_store_close(rd->st);
	free(rd->typebuf);
	free(rd);
}

/* Fill buf with the next events' NDJSON lines: constant memory however
 * many events the filter takes. */
static ssize_t reader_more(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	reader *rd = cls;
	while (rd->sent == rd->memlen) {
		if (rd->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		rewind(rd->f);
		rd->sent = 0;
		const eg_event *ev;
		int n = 0, rc = EG_OK;
		while (n < 256 && (rc = eg_iter_next(rd->it, &ev)) == EG_OK) {
			out_event(rd->o, ev);
			n++;
		}
		if (rc != EG_OK)
			rd->done = 1;
		if (rc != EG_OK && rc != EG_END)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (out_flush(rd->o))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		rd->memlen = (size_t)ftell(rd->f);
	}
	size_t n = rd->memlen - rd->sent;
	if (n > max)
		n = max;
	memcpy(buf, rd->mem + rd->sent, n);
	rd->sent += n;
	return (ssize_t)n;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static int u64_arg(struct MHD_Connection *c, const char *name, uint64_t *v, char *err,
		   size_t cap)
{
	const char *s = arg(c, name);
	if (!s)
		return 0;
	if (cli_u64(s, v)) {
		snprintf(err, cap, "%s: expected a whole number, got '%s'", name, s);
		return -1;
	}
	return 1;
}

static int time_arg(struct MHD_Connection *c, const char *name, int64_t *v, int *has,
		    char *err, size_t cap)
{
	const char *s = arg(c, name);
	if (!s)
		return 0;
	if (eg_time_parse(s, strlen(s), v)) {
		snprintf(err, cap, "%s: expected an RFC 3339 time, a date or epoch milliseconds, "
			 "got '%s'", name, s);
		return -1;
	}
	*has = 1;
	return 0;
}

/* GET /events?stream=&type=&since=&until=&by=&from=&to=&limit=&reverse= */
static enum MHD_Result get_events(srv *s, struct MHD_Connection *c)
{
	static const char *const known[] = { "stream", "type", "since", "until", "by", "from",
					     "to", "limit", "reverse" };
	eg_filter f = { 0 };
	char err[256] = "";
	uint64_t v;
	reader *rd = calloc(1, sizeof *rd);
	if (!rd)
		return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	int bad = 0;
	(void)known;
	if (u64_arg(c, "from", &v, err, sizeof err) < 0)
		bad = 1;
	else if (arg(c, "from"))
		f.from = v;
	if (!bad && u64_arg(c, "to", &v, err, sizeof err) < 0)
		bad = 1;
	else if (arg(c, "to"))
		f.to = v;
	if (!bad && u64_arg(c, "limit", &v, err, sizeof err) < 0)
		bad = 1;
	else if (arg(c, "limit"))
		f.limit = v;
	if (!bad && (time_arg(c, "since", &f.since, &f.has_since, err, sizeof err) ||
		     time_arg(c, "until", &f.until, &f.has_until, err, sizeof err)))
		bad = 1;
	const char *by = arg(c, "by"), *rev = arg(c, "reverse"), *types = arg(c, "type");
	if (!bad && by && strcmp(by, "time") && strcmp(by, "recorded")) {
		snprintf(err, sizeof err, "by: expected time or recorded, got '%s'", by);
		bad = 1;
	}
	f.by = by && !strcmp(by, "recorded") ? EG_BY_RECORDED : EG_BY_EVENT;
	if (!bad && rev && strcmp(rev, "true") && strcmp(rev, "false") && strcmp(rev, "1") &&
	    strcmp(rev, "0")) {
		snprintf(err, sizeof err, "reverse: expected true or false, got '%s'", rev);
		bad = 1;
	}
	f.reverse = rev && (!strcmp(rev, "true") || !strcmp(rev, "1"));
	f.stream = arg(c, "stream");
	if (!bad && types) {
		if (!(rd->typebuf = strdup(types))) {
			free(rd);
			return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		}
		f.ntypes = cli_split(rd->typebuf, rd->types, 64);
		f.types = rd->types;
	}
	if (bad) {
		reader_free(rd);
		return fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	int rc = eg_store_open(&rd->st, s->dir, EG_OPEN_READ, NULL);
	if (!rc)
		rc = eg_iter_new(rd->st, &rd->it, &f);
	if (!rc && !(rd->f = open_memstream(&rd->mem, &rd->memlen)))
		rc = EG_ENOMEM;
	if (!rc)
		rd->o = out_new(rd->f, FMT_NDJSON);
	if (rc) {
		enum MHD_Result ok = fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  rd->st ? eg_errmsg(rd->st) : eg_strerror(rc));
		reader_free(rd);
		return ok;
	}
	rd->memlen = rd->sent = 0;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
								   reader_more, rd, reader_free);
	if (!r) {
		reader_free(rd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	last_status = MHD_HTTP_OK;
	enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* GET /head */
static enum MHD_Result get_head(srv *s, struct MHD_Connection *c)
{
	eg_store *st = NULL;
	eg_head h;
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (!rc)
		rc = eg_store_head(st, &h);
	if (rc) {
		enum MHD_Result ok = fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  st ? eg_errmsg(st) : eg_strerror(rc));
		eg_store_close(st);
		return ok;
	}
	eg_store_close(st);
	char hex[65], *body = NULL;
	eg_hash_hex(h.hash, hex);
	if (asprintf(&body, "{\"pos\":%llu,\"hash\":\"%s\"}\n", (unsigned long long)h.pos, hex) < 0)
		body = NULL;
	return answer(c, MHD_HTTP_OK, body);
}

/* ------------------------------------------------------------ routing */

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
static enum MHD_Result post_events(srv *s, struct MHD_Connection *c, conn *k,
				   const char *stream)
{
	if (!ndjson_type(c))
		return fail(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
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
			return fail(c, MHD_HTTP_BAD_REQUEST, "Expected-Version: expected a version "
				    "number, new or any");
	}
	submit(s, &r);
	return answer(c, (unsigned)r.status, r.resp);
}

static void access_log(struct MHD_Connection *c, const char *method, const char *url,
		       unsigned status, const conn *k)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - k->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - k->t0.tv_nsec) / 1e6;
	(void)c;
	/* one NDJSON line per request; never a header or a token */
	char q[512];
	size_t n = strlen(url);
	if (n > 80)
		n = 80;
	q[eg_json_quote(url, n, q)] = 0;
	fprintf(stderr, "{\"method\":\"%s\",\"path\":%s,\"status\":%u,\"ms\":%.3f,\"bytes_in\":%zu}\n",
		method, q, status, ms, k->len);
}

static enum MHD_Result route(srv *s, struct MHD_Connection *c, const char *url,
			     const char *method, conn *k)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int post = !strcmp(method, "POST");
	if (!strcmp(url, "/health")) {
		if (!get)
			return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, "/health: use GET");
		return answer(c, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}\n"));
	}
	if (!strcmp(url, "/head")) {
		if (!get)
			return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, "/head: use GET");
		return get_head(s, c);
	}
	if (!strcmp(url, "/events")) {
		if (post)
			return post_events(s, c, k, NULL);
		if (get)
			return get_events(s, c);
		return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, "/events: use GET or POST");
	}
	if (!strncmp(url, "/streams/", 9)) {
		const char *st = url + 9, *end = strstr(st, "/events");
		if (end && !strcmp(end, "/events") && end > st) {
			if (!post)
				return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED,
						  "/streams/{stream}/events: use POST");
			char *name = strndup(st, (size_t)(end - st));
			if (!name)
				return fail(c, 500, "out of memory");
			enum MHD_Result ok = post_events(s, c, k, name);
			free(name);
			return ok;
		}
	}
	char msg[256];
	snprintf(msg, sizeof msg, "no route %s %.100s (docs/SERVER.md lists them)", method, url);
	return fail(c, MHD_HTTP_NOT_FOUND, msg);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	(void)version;
	srv *s = cls;
	conn *k = *con_cls;
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &k->t0);
		*con_cls = k;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		uint64_t n;
		if (cl && !cli_u64(cl, &n) && n > s->max_body)
			k->too_big = 1;
		return MHD_YES;
	}
	if (*upload_len) {
		if (!k->too_big && k->len + *upload_len > s->max_body)
			k->too_big = 1;
		if (!k->too_big) {
			if (k->len + *upload_len + 1 > k->cap) {
				size_t cap = k->cap ? k->cap : 65536;
				while (cap < k->len + *upload_len + 1)
					cap *= 2;
				char *p = realloc(k->body, cap);
				if (!p)
					return MHD_NO;
				k->body = p;
				k->cap = cap;
			}
			memcpy(k->body + k->len, upload, *upload_len);
			k->len += *upload_len;
		}
		*upload_len = 0;
		return MHD_YES;
	}
	enum MHD_Result ok;
	last_status = 0;
	if (k->too_big) {
		char msg[128];
		snprintf(msg, sizeof msg, "the body is larger than --max-body (%zu bytes): split the "
			 "batch", s->max_body);
		ok = fail(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	} else {
		ok = route(s, c, url, method, k);
	}
	access_log(c, method, url, last_status, k);
	return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)c, (void)why;
	conn *k = *con_cls;
	if (k) {
		free(k->body);
		free(k);
	}
	*con_cls = NULL;
}

/* ------------------------------------------------------------ the command */

/* ADDR:PORT into sa; 0, or -1. */
static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	uint64_t port;
	char host[64];
	if (!colon || (size_t)(colon - s) >= sizeof host || cli_u64(colon + 1, &port) ||
	    port == 0 || port > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int cmd_serve(cli *c)
{
	const char *listen = DEFAULT_LISTEN, *threads = NULL, *max_body = NULL, *conns = NULL,
		   *timeout = NULL;
	opt opts[] = {
		{ "listen", 1, &listen, NULL }, { "threads", 1, &threads, NULL },
		{ "max-body", 1, &max_body, NULL }, { "max-connections", 1, &conns, NULL },
		{ "timeout", 1, &timeout, NULL }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	struct sockaddr_in sa;
	if (parse_listen(listen, &sa))
		return cli_usage_error(c, "--listen: expected IPv4-ADDRESS:PORT, got '%s'", listen);
	if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
		return cli_usage_error(c, "--listen %s: not a loopback address; serving beyond this "
				       "machine needs tokens (engram token, not yet built): put "
				       "the server behind a proxy that authenticates", listen);
	uint64_t nconn = 1000, tmo = 60, mb = DEFAULT_MAX_BODY, nthreads = 0;
	if ((max_body && cli_size(max_body, &mb)) || mb == 0)
		return cli_usage_error(c, "--max-body: expected a size like 64M, got '%s'", max_body);
	if ((conns && (cli_u64(conns, &nconn) || !nconn || nconn > 100000)))
		return cli_usage_error(c, "--max-connections: expected 1 to 100000, got '%s'", conns);
	if ((timeout && (cli_u64(timeout, &tmo) || !tmo)))
		return cli_usage_error(c, "--timeout: expected seconds, got '%s'", timeout);
	if (threads && cli_u64(threads, &nthreads))
		return cli_usage_error(c, "--threads: expected a number, got '%s'", threads);
	srv s = { .dir = c->dir, .max_body = (size_t)mb };
	if (!(s.st = cli_open_write(c, 1, &rc)))
		return rc;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.work, NULL);
	pthread_cond_init(&s.done, NULL);
	/* SIGINT and SIGTERM reach only this thread's sigwait: blocked
	 * before any thread starts, so every thread inherits the mask */
	sigset_t stop, old_mask;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old_mask);
	pthread_t t;
	if (pthread_create(&t, NULL, committer, &s)) {
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
		cli_error("cannot start the committer thread");
		cli_close(s.st, EXIT_ERR);
		return EXIT_ERR;
	}
	/* a connection per thread: an append waits for its group's sync */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
		ntohs(sa.sin_port), NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)nconn, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)tmo, MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_END);
	if (!d) {
		cli_error("cannot listen on %s: %s", listen, strerror(errno));
		rc = EXIT_ERR;
	} else {
		fprintf(stderr, "engram: serving %s on http://%s (Ctrl-C stops)\n", c->dir, listen);
		int sig;
		sigwait(&stop, &sig);
		fprintf(stderr, "engram: stopping: finishing the appends in flight\n");
		/* stop taking connections, answer what is queued, then close */
		MHD_quiesce_daemon(d);
		pthread_mutex_lock(&s.mu);
		s.stopping = 1;
		pthread_cond_signal(&s.work);
		pthread_mutex_unlock(&s.mu);
		pthread_join(t, NULL);
		MHD_stop_daemon(d);
		fprintf(stderr, "engram: stopped: %llu appends acknowledged in %llu group commits "
			"(%llu events)\n", (unsigned long long)s.requests,
			(unsigned long long)s.rounds, (unsigned long long)s.events);
	}
	if (!d) {
		pthread_mutex_lock(&s.mu);
		s.stopping = 1;
		pthread_cond_signal(&s.work);
		pthread_mutex_unlock(&s.mu);
		pthread_join(t, NULL);
	}
	(void)nthreads;
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	cli_close(s.st, rc);
	return rc;
}

/*
 * serve.c — engram serve: the store over HTTP (docs/SERVER.md), on
 * libmicrohttpd, through the same library API as the other commands.
 *
 * One server per store: it holds the write lock.  This file has the
 * daemon, the request's body as it comes in, the JSON answers, the access
 * log and the routing; each route lives with its kind (serve_append.c,
 * serve_read.c), whose tables are listed in ROUTES.
 */
#include "serve.h"
#include "json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:7070"
#define DEFAULT_MAX_BODY (64u << 20)

/* ------------------------------------------------------------ answers */

/* The status this thread queued last: the request's (conn.status) once
 * its handler returns. */
static _Thread_local unsigned last_status;

char *srv_json_error(const char *msg, const char *extra)
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
enum MHD_Result srv_answer(struct MHD_Connection *c, unsigned status, char *body)
{
	if (!body) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		body = strdup("{\"error\":\"out of memory\"}\n");
		if (!body)
			return MHD_NO;
	}
	return srv_queue(c, status, srv_buffer(body, strlen(body)), "application/json");
}

struct MHD_Response *srv_buffer(char *mem, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, mem, MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(mem);
	return r;
}

enum MHD_Result srv_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			  const char *type)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	last_status = status;
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

enum MHD_Result srv_fail(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return srv_answer(c, status, srv_json_error(msg, NULL));
}

const char *srv_errmsg(eg_store *st, int rc)
{
	return st && *eg_errmsg(st) ? eg_errmsg(st) : eg_strerror(rc);
}

struct timespec srv_deadline(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

enum MHD_Result srv_not_found(struct MHD_Connection *c, const char *method, const char *url)
{
	char msg[256];
	snprintf(msg, sizeof msg, "no route %s %.100s (docs/SERVER.md lists them)", method, url);
	return srv_fail(c, MHD_HTTP_NOT_FOUND, msg);
}

/* The access log: lines gathered and written to stderr together, at most
 * LOG_DELAY_MS after the first of them, when the buffer fills, when the
 * committer is idle (srv_log_flush) and at the stop.  A write per line
 * cost 10 to 15% of the small appends a second (docs/BENCH.md). */
#define LOG_DELAY_MS 100
static struct {
	pthread_mutex_t mu;
	char buf[1 << 16];
	size_t len;
	struct timespec first;   /* when the oldest line in buf came */
} L = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double ms_since(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) * 1e3 + (double)(t1->tv_nsec - t0->tv_nsec) / 1e6;
}

static void log_write_locked(void)
{
	for (size_t off = 0; off < L.len;) {
		ssize_t w = write(STDERR_FILENO, L.buf + off, L.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;   /* stderr is gone: the lines with it */
		off += (size_t)w;
	}
	L.len = 0;
}

void srv_log_flush(void)
{
	pthread_mutex_lock(&L.mu);
	log_write_locked();
	pthread_mutex_unlock(&L.mu);
}

void srv_request_done(const conn *k)
{
	if (!k->status)
		return;
	srv_metric_request(k->route, k->status);
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* one NDJSON line per request; never a header or a token */
	char q[6 * sizeof k->url + 3], line[sizeof q + 160];
	q[eg_json_quote(k->url, strlen(k->url), q)] = 0;
	int n = snprintf(line, sizeof line, "{\"method\":\"%s\",\"path\":%s,\"status\":%u,"
			 "\"ms\":%.3f,\"bytes_in\":%zu}\n", k->method, q, k->status,
			 ms_since(&k->t0, &t1), k->len);
	if (n < 0 || (size_t)n >= sizeof line)
		return;
	pthread_mutex_lock(&L.mu);
	if (L.len + (size_t)n > sizeof L.buf)
		log_write_locked();
	if (!L.len)
		L.first = t1;
	memcpy(L.buf + L.len, line, (size_t)n);
	L.len += (size_t)n;
	if (ms_since(&L.first, &t1) >= LOG_DELAY_MS)
		log_write_locked();
	pthread_mutex_unlock(&L.mu);
}

static const srv_route *const ROUTES[] = { SRV_APPEND_ROUTES, SRV_READ_ROUTES, SRV_SUB_ROUTES,
					     SRV_QUERY_ROUTES, SRV_OPS_ROUTES, SRV_AUTH_ROUTES,
					     SRV_WEB_ROUTES };

/* Is method one of the route's ("GET POST")? */
static int takes(const srv_route *r, const char *method)
{
	size_t n = strlen(method);
	for (const char *p = r->methods; *p;) {
		size_t m = strcspn(p, " ");
		if (m == n && !strncmp(p, method, n))
			return 1;
		p += m + (p[m] == ' ');
	}
	return 0;
}

static int matches(const srv_route *r, const char *url)
{
	size_t n = strlen(r->path);   /* "/" itself is exact */
	return n > 1 && r->path[n - 1] == '/' ? !strncmp(url, r->path, n) : !strcmp(url, r->path);
}

/* A request whose route blocks, on its thread (see srv_route.blocks). */
typedef struct job {
	srv *s;
	struct MHD_Connection *c;
	const srv_route *r;
	const char *url, *method;  /* MHD's: valid until the request completes */
	conn *k;
} job;

static void *job_run(void *arg)
{
	job *j = arg;
	last_status = 0;
	if (j->r->fn(j->s, j->c, j->url, j->method, j->k) != MHD_YES || !last_status)
		j->k->failed = 1;
	j->k->status = last_status;
	srv_request_done(j->k);
	srv *s = j->s;
	MHD_resume_connection(j->c);
	free(j);
	pthread_mutex_lock(&s->mu);
	s->jobs--;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Run r's handler on a thread of its own, the connection suspended: it
 * queues its answer (MHD allows that on a suspended connection) and
 * resumes it. */
static enum MHD_Result offload(srv *s, struct MHD_Connection *c, const srv_route *r,
			       const char *url, const char *method, conn *k)
{
	job *j = malloc(sizeof *j);
	if (!j)
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	*j = (job){ s, c, r, url, method, k };
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&s->mu);
	s->jobs++;
	pthread_mutex_unlock(&s->mu);
	k->suspended = 1;
	MHD_suspend_connection(c);
	pthread_t t;
	int e = pthread_create(&t, &a, job_run, j);
	pthread_attr_destroy(&a);
	if (e) {
		free(j);
		k->suspended = 0;
		MHD_resume_connection(c);
		pthread_mutex_lock(&s->mu);
		s->jobs--;
		pthread_mutex_unlock(&s->mu);
		return srv_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot start a thread: try again");
	}
	return MHD_YES;
}

static enum MHD_Result route(srv *s, struct MHD_Connection *c, const char *url,
			     const char *method, conn *k)
{
	const srv_route *seen = NULL;
	for (size_t t = 0; t < sizeof ROUTES / sizeof *ROUTES; t++)
		for (const srv_route *r = ROUTES[t]; r->path; r++) {
			if (!matches(r, url))
				continue;
			if (takes(r, method)) {
				k->route = r->path;
				enum MHD_Result ok;
				if (!srv_authorized(s, c, r, url, method, k, &ok))
					return ok;
				return r->blocks ? offload(s, c, r, url, method, k)
						 : r->fn(s, c, url, method, k);
			}
			seen = r;
		}
	if (!seen)
		return srv_not_found(c, method, url);
	/* the path is served, not with this method: say which ones */
	char msg[256], methods[64] = "";
	size_t len = 0;
	for (size_t t = 0; t < sizeof ROUTES / sizeof *ROUTES; t++)
		for (const srv_route *r = ROUTES[t]; r->path; r++)
			if (matches(r, url) && len < sizeof methods)
				len += (size_t)snprintf(methods + len, sizeof methods - len, "%s%s",
							len ? " or " : "", r->methods);
	snprintf(msg, sizeof msg, "%.100s: use %s", seen->path, methods);
	return srv_fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
}

/* --request-timeout: has the request taken longer than that to come in? */
static int too_slow(const srv *s, const conn *k)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return t1.tv_sec - k->t0.tv_sec > (time_t)s->request_timeout;
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
		snprintf(k->method, sizeof k->method, "%s", method);
		snprintf(k->url, sizeof k->url, "%s", url);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		uint64_t n;
		if (cl && !cli_u64(cl, &n) && n > s->max_body)
			k->too_big = 1;
		else if (cl && !cli_u64(cl, &n) && n > 0)
			k->hint = (size_t)n;   /* the body's buffer at once, not doubled up to it */
		/* a caller without a token gets 401 whatever it sends: keep
		 * none of it, or anyone could make us hold --max-body each */
		k->anon = !srv_maybe_authorized(s, c);
		return MHD_YES;
	}
	if (k->suspended) {
		if (k->ready) {
			/* an append's answer, from the committer: queued here, on
			 * the connection's own thread, not on the committer's */
			char *body = k->resp;
			k->resp = NULL;
			k->ready = 0;
			last_status = 0;
			enum MHD_Result ok = srv_answer(c, k->status, body);
			k->status = last_status;
			srv_request_done(k);
			return ok;
		}
		/* resumed without an answer: its thread failed */
		return k->failed ? MHD_NO : MHD_YES;
	}
	if (*upload_len) {
		if (!k->late && too_slow(s, k))
			k->late = 1;
		if (!k->too_big && k->len + *upload_len > s->max_body)
			k->too_big = 1;
		if (!k->too_big && !k->anon && !k->late) {
			if (k->len + *upload_len + 1 > k->cap) {
				size_t cap = k->cap ? k->cap : k->hint >= *upload_len ? k->hint + 1 : 65536;
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
	if (k->late || too_slow(s, k)) {
		char msg[160];
		snprintf(msg, sizeof msg, "the request took more than --request-timeout (%u s) to "
			 "come in; nothing of it was written", s->request_timeout);
		ok = srv_fail(c, MHD_HTTP_REQUEST_TIMEOUT, msg);
	} else if (k->too_big) {
		char msg[128];
		snprintf(msg, sizeof msg, "the body is larger than --max-body (%zu bytes): split the "
			 "batch", s->max_body);
		ok = srv_fail(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	} else {
		ok = route(s, c, url, method, k);
	}
	if (!k->suspended) {
		k->status = last_status;
		srv_request_done(k);
	}
	return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)c, (void)why;
	conn *k = *con_cls;
	if (k) {
		free(k->body);
		free(k->resp);
		free(k);
	}
	*con_cls = NULL;
}

/* ------------------------------------------------------------ the command */

/* Let the subscriptions see s->stopping and end their streams with the
 * last chunk, and the requests on threads of their own finish: their
 * connections are suspended, and MHD_stop_daemon must not meet one.  1
 * when all are done; 0 if some are still going after `secs` s. */
static int wait_streams(srv *s, int secs)
{
	struct timespec until = srv_deadline(secs * 1000L);
	pthread_mutex_lock(&s->mu);
	while ((s->streams > 0 || s->jobs > 0) &&
	       pthread_cond_timedwait(&s->done, &s->mu, &until) == 0)
		;
	int left = s->jobs;
	pthread_mutex_unlock(&s->mu);
	return left == 0;
}

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
	const char *listen = DEFAULT_LISTEN, *max_body = NULL, *conns = NULL,
		   *timeout = NULL, *tls_cert = NULL, *tls_key = NULL, *threads = NULL,
		   *req_timeout = NULL;
	int tokens = 0;
	opt opts[] = {
		{ "listen", 1, &listen, NULL },
		{ "max-body", 1, &max_body, NULL }, { "max-connections", 1, &conns, NULL },
		{ "timeout", 1, &timeout, NULL }, { "tokens", 0, NULL, &tokens },
		{ "threads", 1, &threads, NULL }, { "request-timeout", 1, &req_timeout, NULL },
		{ "tls-cert", 1, &tls_cert, NULL }, { "tls-key", 1, &tls_key, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	struct sockaddr_in sa;
	if (parse_listen(listen, &sa))
		return cli_usage_error(c, "--listen: expected IPv4-ADDRESS:PORT, got '%s'", listen);
	if (!tokens && (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
		return cli_usage_error(c, "--listen %s: not a loopback address; serving beyond this "
				       "machine needs --tokens (engram token add), or a proxy "
				       "that authenticates", listen);
	uint64_t nconn = 1000, tmo = 60, mb = DEFAULT_MAX_BODY;
	if ((max_body && cli_size(max_body, &mb)) || mb == 0)
		return cli_usage_error(c, "--max-body: expected a size like 64M, got '%s'", max_body);
	if ((conns && (cli_u64(conns, &nconn) || !nconn || nconn > 100000)))
		return cli_usage_error(c, "--max-connections: expected 1 to 100000, got '%s'", conns);
	if ((timeout && (cli_u64(timeout, &tmo) || !tmo)))
		return cli_usage_error(c, "--timeout: expected seconds, got '%s'", timeout);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t nthreads = ncpu > 1 ? (uint64_t)ncpu : 1, rtmo = 300;
	if (threads && (cli_u64(threads, &nthreads) || !nthreads || nthreads > 256))
		return cli_usage_error(c, "--threads: expected 1 to 256, got '%s'", threads);
	if (req_timeout && (cli_u64(req_timeout, &rtmo) || !rtmo || rtmo > 86400))
		return cli_usage_error(c, "--request-timeout: expected seconds from 1 to 86400, got "
				       "'%s'", req_timeout);
	srv s = { .dir = c->dir, .max_body = (size_t)mb, .request_timeout = (unsigned)rtmo };
	srv_tls tls;
	if ((rc = srv_tls_load(c, tls_cert, tls_key, &tls)))
		return rc;
	if (!tls.flags && (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
		cli_warn("--listen %s without --tls-cert: tokens cross the network in clear "
			 "unless a proxy in front terminates TLS", listen);
	if (!(s.st = cli_open_write(c, 1, &rc)) || (tokens && (rc = srv_auth_new(c->dir, &s.auth)))) {
		cli_close(s.st, rc);
		srv_tls_free(&tls);
		return rc;
	}
	eg_head h0;
	if (eg_store_head(s.st, &h0)) {
		cli_error("%s", eg_errmsg(s.st));
		cli_close(s.st, EXIT_ERR);
		srv_tls_free(&tls);
		return EXIT_ERR;
	}
	s.durable = h0.pos;
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
	if (pthread_create(&t, NULL, srv_committer, &s)) {
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
		cli_error("cannot start the committer thread");
		cli_close(s.st, EXIT_ERR);
		srv_auth_free(s.auth);
		srv_tls_free(&tls);
		return EXIT_ERR;
	}
	/* --threads threads poll the connections: no handler blocks one
	 * (an append is suspended until its group commit is durable, a
	 * query or a wait runs on a thread of its own, a subscription is
	 * suspended until there is more to send) */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			tls.flags,
		ntohs(sa.sin_port), NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)nthreads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)nconn, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)tmo, MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_ARRAY,
		tls.opts, MHD_OPTION_END);
	if (!d) {
		cli_error("cannot listen on %s: %s", listen, strerror(errno));
		rc = EXIT_ERR;
	} else {
		fprintf(stderr, "engram: serving %s on %s://%s%s (Ctrl-C stops)\n", c->dir,
			tls.flags ? "https" : "http", listen, s.auth ? " with tokens" : "");
		int sig;
		sigwait(&stop, &sig);
		srv_log_flush();
		fprintf(stderr, "engram: stopping: finishing the appends in flight\n");
		/* stop taking connections, answer what is queued, end the
		 * subscriptions, let the requests running finish, then close */
		MHD_quiesce_daemon(d);
		pthread_mutex_lock(&s.mu);
		s.stopping = 1;
		pthread_cond_signal(&s.work);
		pthread_mutex_unlock(&s.mu);
		pthread_join(t, NULL);
		int all_done = wait_streams(&s, 10);
		if (all_done)
			MHD_stop_daemon(d);
		srv_log_flush();
		fprintf(stderr, "engram: stopped: %llu appends acknowledged in %llu group commits "
			"(%llu events)\n", (unsigned long long)s.requests,
			(unsigned long long)s.rounds, (unsigned long long)s.events);
		if (!all_done) {
			/* MHD_stop_daemon would abort on their suspended
			 * connections, and their threads use s: every append
			 * is answered and synced, so close the store and go */
			cli_warn("stopping with requests still running (a long query?): their "
				 "connections are cut");
			cli_close(s.st, EXIT_OK);
			fflush(NULL);
			_exit(EXIT_OK);
		}
	}
	if (!d) {
		pthread_mutex_lock(&s.mu);
		s.stopping = 1;
		pthread_cond_signal(&s.work);
		pthread_mutex_unlock(&s.mu);
		pthread_join(t, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	cli_close(s.st, rc);
	srv_auth_free(s.auth);
	srv_tls_free(&tls);
	return rc;
}

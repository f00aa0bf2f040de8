/*
 * serve.h — what the files of engram serve share (docs/SERVER.md): the
 * server's state, the request being read, JSON answers, query parameters,
 * and the route tables each file contributes to.
 */
#ifndef EG_SERVE_H
#define EG_SERVE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "cli.h"
#include "serve_parse.h"

typedef struct areq areq;
typedef struct srv_auth srv_auth;

/* The server: the store's writer (only the committer thread uses it) and
 * the queue of appends waiting for it. */
typedef struct srv {
	eg_store *st;
	const char *dir;
	size_t max_body;
	unsigned request_timeout;  /* seconds for a request's headers and body */
	pthread_mutex_t mu;
	pthread_cond_t work;   /* appends queued, or stopping: the committer */
	pthread_cond_t done;   /* durable moved, or a subscription ended */
	areq *head, *tail;
	int stopping;
	int streams;       /* subscriptions open: stopping waits for their end */
	uint64_t durable;  /* the head as of the last sync: what readers of the
	                    * server may be handed (a commit is visible before) */
	uint64_t rounds, requests, events; /* group commit, for the summary */
	srv_auth *auth;                    /* --tokens (serve_auth.c), else NULL */
	int jobs;          /* requests running on their own threads (srv_route.blocks) */
	struct sub *idle;  /* subscriptions suspended until the durable head
	                    * moves or their heartbeat is due (serve_sub.c) */
} srv;

/* A request being read: its body as it comes in, and how it was answered
 * (the access log and the metrics are written when it completes). */
typedef struct conn {
	char *body;
	size_t len, cap;
	size_t hint;       /* Content-Length (within --max-body), else 0 */
	int too_big;
	int late;          /* not all in within --request-timeout */
	int anon;          /* --tokens and no known token: the body is not kept */
	int suspended;     /* handed to the committer or a thread: they answer */
	int failed;        /* that thread queued no answer: close the connection */
	unsigned status;   /* the answer's status (0: none yet) */
	char *resp;        /* the committer's answer (JSON), for this connection's */
	int ready;         /* thread to queue once resumed: resp and status set */
	const char *route; /* the route that answered (NULL: none matched) */
	char method[16];
	char url[96];      /* enough of it for the access log */
	struct timespec t0;
} conn;

/* What a route needs of the caller's token (docs/SERVER.md, tokens). */
enum srv_scope { SCOPE_NONE = 0, SCOPE_READ, SCOPE_APPEND, SCOPE_ADMIN };

/* A route: an exact path ("/" too), or a prefix ending in '/' ("/streams/") whose
 * handler reads the rest of url (and answers 404 when it names nothing);
 * methods: the ones it takes ("GET POST"), else 405; scope: what it
 * needs. */
typedef enum MHD_Result (*srv_handler)(srv *s, struct MHD_Connection *c, const char *url,
				       const char *method, conn *k);
typedef struct srv_route {
	const char *path, *methods;
	int scope;
	srv_handler fn;
	int blocks;        /* fn may take long (a query, a wait, an fsync): it runs
	                    * on a thread of its own, the connection suspended,
	                    * so that it holds up no other connection */
} srv_route;

/* Each file's routes, ending with { NULL }. */
extern const srv_route SRV_APPEND_ROUTES[], SRV_READ_ROUTES[], SRV_SUB_ROUTES[],
	SRV_QUERY_ROUTES[], SRV_OPS_ROUTES[], SRV_AUTH_ROUTES[], SRV_WEB_ROUTES[];

/* {"error": msg EXTRA} (extra: more members, as ",\"line\":3"), malloc'd. */
char *srv_json_error(const char *msg, const char *extra);
/* Queue a JSON body (taken: freed here) with the status. */
enum MHD_Result srv_answer(struct MHD_Connection *c, unsigned status, char *body);
enum MHD_Result srv_fail(struct MHD_Connection *c, unsigned status, const char *msg);
/* Why a library call on st (NULL: the store did not open) failed with rc:
 * the store's message, or the code's text when it has none. */
const char *srv_errmsg(eg_store *st, int rc);
/* No such route. */
enum MHD_Result srv_not_found(struct MHD_Connection *c, const char *method, const char *url);
/* k's answer is queued (k->status, k->route set): its access log line
 * (NDJSON on stderr) and its metrics. */
void srv_request_done(const conn *k);
/* Write out the access log lines gathered (the committer, when idle). */
void srv_log_flush(void);
/* A response over mem (len bytes, malloc'd: taken, freed with the
 * response, or here when none can be made); NULL when none can be. */
struct MHD_Response *srv_buffer(char *mem, size_t len);
/* Queue r (taken: destroyed here; NULL: MHD_NO) with the status and
 * Content-Type type, noting the status for the access log.  Every answer
 * goes through it. */
enum MHD_Result srv_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			  const char *type);

/* The CLOCK_REALTIME time ms from now: a pthread_cond_timedwait deadline. */
struct timespec srv_deadline(long ms);

/* A query parameter, or NULL. */
const char *srv_arg(struct MHD_Connection *c, const char *name);
/* A whole-number parameter: 0 absent, 1 set *v, -1 bad (err says so,
 * naming it). */
int srv_u64_arg(struct MHD_Connection *c, const char *name, uint64_t *v, char *err, size_t cap);
/* A time parameter (as the commands take times): 0 absent or set (*has
 * = 1), -1 bad. */
int srv_time_arg(struct MHD_Connection *c, const char *name, int64_t *v, int *has, char *err,
		 size_t cap);

/* serve_ops.c: the figures GET /metrics gives.  A request answered, by
 * its route's path (NULL: none matched); an append request's events
 * (lines); a group commit: how many requests, how long its sync took;
 * a subscription opened (+1) or closed (-1). */
void srv_metric_request(const char *route, unsigned status);
void srv_metric_append(uint64_t events);
void srv_metric_commit(uint64_t requests, double seconds);
void srv_subscribers_add(int delta);

/* serve_sub.c: resume the suspended subscriptions that may go on: all
 * of them (the durable head moved, or the server stops), else those whose
 * heartbeat is due.  Called by the committer. */
void srv_wake_subscribers(srv *s, int all);

/* serve_append.c: the committer thread's loop (arg: the srv).  It also
 * wakes the subscriptions (above) every SRV_TICK_MS. */
#define SRV_TICK_MS 250

void *srv_committer(void *arg);
/* serve_append.c: park line (n bytes, an event as engram read prints it)
 * for consumer in $parked-CONSUMER through the committer, durably: 0 with
 * its position, or -1 with *err a JSON error body (malloc'd). */
int srv_park(srv *s, const char *consumer, const char *line, size_t n, uint64_t deliveries,
	     uint64_t *pos, char **err);

/* serve_auth.c: the tokens of DIR (--tokens), read again when they
 * change: an exit code (after printing why). */
int srv_auth_new(const char *dir, srv_auth **res);
void srv_auth_free(srv_auth *a);
/* May the request use route r?  1; or 0 after answering 401 or 403 (the
 * answer's result in *ok).  Always 1 without --tokens and for SCOPE_NONE. */
int srv_authorized(srv *s, struct MHD_Connection *c, const srv_route *r, const char *url,
		   const char *method, const conn *k, enum MHD_Result *ok);
/* Before the body: does the request show a token that may let it in?  0
 * only under --tokens with neither a known Bearer token nor ?token=. */
int srv_maybe_authorized(srv *s, struct MHD_Connection *c);

/* HTTPS (--tls-cert, --tls-key): flags and options (an MHD_OPTION_ARRAY)
 * for MHD_start_daemon; none when neither is given. */
typedef struct srv_tls {
	unsigned flags;
	char *cert, *key;
	struct MHD_OptionItem opts[3];
} srv_tls;
int srv_tls_load(cli *c, const char *cert, const char *key, srv_tls *t);
void srv_tls_free(srv_tls *t);

#endif

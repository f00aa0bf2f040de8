/*
 * serve_ops.c — the server's figures (docs/SERVER.md, metrics): GET
 * /metrics in the Prometheus text format.  The other files count what
 * they do through srv_metric_*: requests by route and status (serve.c),
 * append sizes and group commits with their sync time (serve_append.c),
 * subscribers; consumer lag is read from the store when asked.  One mutex
 * guards the counters: they change once per request or per group commit,
 * never per event.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A histogram: counts[i] holds the values <= le[i] not in an earlier
 * bucket (made cumulative when written); the last bucket is +Inf. */
#define MAX_BUCKETS 16
typedef struct hist {
	const double *le;
	int n;
	uint64_t counts[MAX_BUCKETS + 1];
	uint64_t count;
	double sum;
} hist;

/* Sizes in events, requests; latency in seconds (an fdatasync here takes
 * about 0.4 ms, a slow disk 10 ms and more). */
static const double SIZE_LE[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000, 100000 };
static const double GROUP_LE[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
static const double SYNC_LE[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				  0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define NLE(a) ((int)(sizeof a / sizeof *a))

/* Requests by route and status: the route's path in its table (bounded,
 * unlike URLs), "other" for none. */
#define MAX_REQ_KEYS 256
typedef struct req_key {
	const char *route;
	unsigned status;
	uint64_t n;
} req_key;

static struct {
	pthread_mutex_t mu;
	req_key req[MAX_REQ_KEYS];
	int nreq;
	uint64_t req_dropped;
	hist append, group, sync;
	int64_t subscribers;
} M = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.append = { SIZE_LE, NLE(SIZE_LE), { 0 }, 0, 0 },
	.group = { GROUP_LE, NLE(GROUP_LE), { 0 }, 0, 0 },
	.sync = { SYNC_LE, NLE(SYNC_LE), { 0 }, 0, 0 },
};

static void observe(hist *h, double v)
{
	int i = 0;
	while (i < h->n && v > h->le[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void srv_metric_request(const char *route, unsigned status)
{
	if (!route)
		route = "other";
	pthread_mutex_lock(&M.mu);
	int i = 0;
	while (i < M.nreq && (M.req[i].status != status || strcmp(M.req[i].route, route)))
		i++;
	if (i < M.nreq)
		M.req[i].n++;
	else if (i < MAX_REQ_KEYS)
		M.req[M.nreq++] = (req_key){ route, status, 1 };
	else
		M.req_dropped++;
	pthread_mutex_unlock(&M.mu);
}

void srv_metric_append(uint64_t events)
{
	pthread_mutex_lock(&M.mu);
	observe(&M.append, (double)events);
	pthread_mutex_unlock(&M.mu);
}

void srv_metric_commit(uint64_t requests, double seconds)
{
	pthread_mutex_lock(&M.mu);
	observe(&M.group, (double)requests);
	observe(&M.sync, seconds);
	pthread_mutex_unlock(&M.mu);
}

void srv_subscribers_add(int delta)
{
	pthread_mutex_lock(&M.mu);
	M.subscribers += delta;
	pthread_mutex_unlock(&M.mu);
}

/* ------------------------------------------------------------ writing */

static void put_hist(FILE *f, const char *name, const char *help, const hist *h)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (int i = 0; i < h->n; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
	}
	cum += h->counts[h->n];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	fprintf(f, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
		(unsigned long long)h->count);
}

typedef struct lag_ctx {
	FILE *f;
	uint64_t head;
} lag_ctx;

static int put_lag(void *ctx, const char *name, uint64_t pos)
{
	lag_ctx *l = ctx;
	/* names are [A-Za-z0-9._-]: nothing to escape in a label value */
	fprintf(l->f, "engram_consumer_lag{consumer=\"%s\"} %llu\n", name,
		(unsigned long long)(l->head > pos ? l->head - pos : 0));
	return 0;
}

/* The store's part: its head and each consumer's lag behind it. */
static int put_store(srv *s, FILE *f)
{
	eg_store *st = NULL;
	eg_head h;
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (!rc)
		rc = eg_store_head(st, &h);
	if (!rc) {
		fprintf(f, "# HELP engram_head_position The log's last position.\n"
			"# TYPE engram_head_position gauge\nengram_head_position %llu\n",
			(unsigned long long)h.pos);
		fprintf(f, "# HELP engram_consumer_lag Events appended after the consumer's "
			"checkpoint.\n# TYPE engram_consumer_lag gauge\n");
		lag_ctx l = { f, h.pos };
		rc = eg_consumer_list(st, put_lag, &l);
	}
	eg_store_close(st);
	return rc;
}

static enum MHD_Result get_metrics(srv *s, struct MHD_Connection *c, const char *url,
				   const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	if (!f)
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	pthread_mutex_lock(&M.mu);
	fprintf(f, "# HELP engram_http_requests_total HTTP requests answered, by route and "
		"status.\n# TYPE engram_http_requests_total counter\n");
	for (int i = 0; i < M.nreq; i++)
		fprintf(f, "engram_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
			M.req[i].route, M.req[i].status, (unsigned long long)M.req[i].n);
	put_hist(f, "engram_append_batch_events", "Events (lines) per append request "
		 "committed.", &M.append);
	put_hist(f, "engram_group_commit_requests", "Append requests one group commit took "
		 "(each its own batch, one sync for all).", &M.group);
	put_hist(f, "engram_fsync_seconds", "Time to make a group commit durable "
		 "(eg_store_sync).", &M.sync);
	fprintf(f, "# HELP engram_subscribers Live subscriptions open.\n"
		"# TYPE engram_subscribers gauge\nengram_subscribers %lld\n",
		(long long)M.subscribers);
	pthread_mutex_unlock(&M.mu);
	int rc = put_store(s, f);
	if (fclose(f) || rc) {
		free(mem);
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				rc ? eg_strerror(rc) : "out of memory");
	}
	return srv_queue(c, MHD_HTTP_OK, srv_buffer(mem, len),
			 "text/plain; version=0.0.4; charset=utf-8");
}

const srv_route SRV_OPS_ROUTES[] = {
	{ "/metrics", "GET HEAD", SCOPE_READ, get_metrics, 1 },
	{ NULL, NULL, 0, NULL, 0 },
};

/*
 * serve_sub.c — live subscriptions and durable consumers over HTTP
 * (docs/SERVER.md): GET /subscribe as Server-Sent Events, and
 * GET /consumers/{name}/next, POST /consumers/{name}/ack as
 * `engram consume` keeps its checkpoint, acknowledged by the client.
 *
 * Each subscriber reads the log with its own iterator: a slow one holds
 * its iterator and one burst of text, never a queue of events, and MHD
 * asks it for more only when its socket takes more.  It never blocks the
 * thread that polls its connection: with nothing durable to send it
 * suspends the connection on s->idle, and the committer resumes it when
 * the durable head moves, when its heartbeat is due, when its client has
 * gone (MHD does not watch a suspended connection), or when the server
 * stops.  A consumer's /next waits on a thread of its own (its route
 * blocks), in short slices so that it notices the server stopping or its
 * client gone.
 */
#include "serve.h"
#include "json.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64
#define SLICE_MS 250             /* how soon a wait notices a stop or a hang-up */
#define DEFAULT_HEARTBEAT 15     /* seconds: below the idle timeouts of common proxies */
#define MAX_NEXT 10000           /* events one /next may hold in memory */
#define MAX_WAIT 300             /* seconds one /next may wait */

/* Serializes acknowledgements: a read of the checkpoint and its write are
 * one step, so two acks never move it back. */
static pthread_mutex_t ack_mu = PTHREAD_MUTEX_INITIALIZER;

static int stopping(srv *s)
{
	pthread_mutex_lock(&s->mu);
	int v = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* The last position synced by the committer: a commit is visible to
 * iterators before its fdatasync, and an event handed out before then
 * could, after a crash, be replaced by another at the same position. */
static uint64_t durable_pos(srv *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t v = s->durable;
	pthread_mutex_unlock(&s->mu);
	return v;
}

static int client_gone(struct MHD_Connection *c);

/* Wait until pos is durable: 1, or 0 if the server stops or the client
 * goes first.  The committer broadcasts done after each sync. */
static int wait_durable(srv *s, struct MHD_Connection *c, uint64_t pos)
{
	for (;;) {
		struct timespec until = srv_deadline(SLICE_MS);
		pthread_mutex_lock(&s->mu);
		while (s->durable < pos && !s->stopping &&
		       pthread_cond_timedwait(&s->done, &s->mu, &until) == 0)
			;
		int ok = s->durable >= pos, stop = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (ok)
			return 1;
		if (stop || client_gone(c))
			return 0;
	}
}

/* Has the client closed its end?  (It sends nothing more on a stream.) */
static int client_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* types=a,b into f (buf keeps the names; free it). */
static int types_arg(struct MHD_Connection *c, eg_filter *f, char **buf, const char **tv)
{
	const char *types = srv_arg(c, "types");
	if (!types)
		return 0;
	if (!(*buf = strdup(types)))
		return -1;
	f->ntypes = cli_split(*buf, tv, MAX_TYPES);
	f->types = tv;
	return 0;
}

/* ------------------------------------------------------- subscriptions */

struct sub {
	srv *s;
	struct MHD_Connection *c;
	eg_store *st;
	eg_iter *it;
	char *typebuf;
	const char *types[MAX_TYPES];
	uint64_t from;                /* the first position it may send */
	long long hb_ms, last_ms;     /* heartbeat period, last bytes sent */
	FILE *line;                   /* one event as engram read prints it */
	char *lmem;
	size_t llen;
	out *o;
	int counted;                  /* in s->streams */
	char *pend;                   /* SSE text not yet handed to MHD */
	size_t plen, psent, pcap;
	char *hold;                   /* an event read but not yet durable: its */
	size_t hlen, hcap;            /* SSE text, sent once hold_pos is durable */
	uint64_t hold_pos;
	uint64_t seen;                /* s->durable when it found nothing to send */
	struct sub *next;             /* in s->idle */
};
typedef struct sub sub;

static void sub_free(void *cls)
{
	sub *u = cls;
	if (u->counted) {
		pthread_mutex_lock(&u->s->mu);
		u->s->streams--;
		pthread_cond_broadcast(&u->s->done);
		pthread_mutex_unlock(&u->s->mu);
	}
	if (u->o)
		out_free(u->o);
	if (u->line)
		fclose(u->line);
	free(u->lmem);
	free(u->pend);
	free(u->hold);
	eg_iter_free(u->it);
	eg_store_close(u->st);
	free(u->typebuf);
	free(u);
}

static int buf_add(char **b, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		char *q = realloc(*b, c);
		if (!q)
			return -1;
		*b = q;
		*cap = c;
	}
	memcpy(*b + *len, p, n);
	*len += n;
	return 0;
}

static int pend_add(sub *u, const char *p, size_t n)
{
	return buf_add(&u->pend, &u->plen, &u->pcap, p, n);
}

/* One event as an SSE message: "id: POS", "data: " its NDJSON line (one
 * line: JSON escapes every newline), a blank line; to the pending text,
 * or (held) aside until it is durable. */
static int pend_event(sub *u, const eg_event *e, int held)
{
	rewind(u->line);
	out_event(u->o, e);
	if (out_flush(u->o) || fflush(u->line))
		return -1;
	size_t n = (size_t)ftell(u->line);
	while (n && u->lmem[n - 1] == '\n')
		n--;
	char head[48];
	int h = snprintf(head, sizeof head, "id: %llu\ndata: ", (unsigned long long)e->pos);
	char **b = held ? &u->hold : &u->pend;
	size_t *len = held ? &u->hlen : &u->plen, *cap = held ? &u->hcap : &u->pcap;
	if (held)
		u->hlen = 0;
	return buf_add(b, len, cap, head, (size_t)h) || buf_add(b, len, cap, u->lmem, n) ||
	       buf_add(b, len, cap, "\n\n", 2);
}

enum { FILL_END, FILL_TEXT, FILL_IDLE, FILL_ERR = -1 };

/* Gather the next durable events (at most a burst), without waiting:
 * FILL_TEXT when there is text to send, FILL_IDLE when there is none yet
 * (u->seen is the durable head it looked at), FILL_END at a clean end
 * (the server stops), FILL_ERR on an error. */
static int sub_fill(sub *u)
{
	u->plen = u->psent = 0;
	int n = 0, rc = EG_OK, looked = 0;
	/* the server stops: end now, however far behind (Last-Event-ID
	 * resumes it at the next server) */
	if (stopping(u->s))
		return FILL_END;
	for (;;) {
		uint64_t durable = durable_pos(u->s);
		if (u->hold_pos) {
			/* an event read before it was durable: is it now? */
			if (u->hold_pos > durable) {
				u->seen = durable;
				break;
			}
			if (pend_add(u, u->hold, u->hlen))
				return FILL_ERR;
			u->hold_pos = 0;
			n++;
		}
		const eg_event *e;
		while (n < 256 && (rc = eg_iter_next(u->it, &e)) == EG_OK) {
			/* eg_iter_wait extends an iterator made beyond the head
			 * from the old head, not from f.from (docs/SERVER.md) */
			if (e->pos < u->from)
				continue;
			if (e->pos > durable) {
				/* committed, not yet synced: aside until it is */
				if (pend_event(u, e, 1))
					return FILL_ERR;
				u->hold_pos = e->pos;
				break;
			}
			if (pend_event(u, e, 0))
				return FILL_ERR;
			n++;
		}
		if (n)
			return FILL_TEXT;
		if (u->hold_pos)
			continue;   /* look at durable again, then idle */
		if (rc != EG_END)
			return FILL_ERR;
		if (looked) {
			u->seen = durable;
			break;
		}
		/* the iterator is at its head: extend it to the log's, without
		 * waiting (the committer wakes us when the durable head moves) */
		looked = 1;
		rc = eg_iter_wait(u->it, 0);
		if (rc != EG_OK && rc != EG_END)
			return FILL_ERR;
		if (rc == EG_END) {   /* nothing new in the log */
			u->seen = durable;
			break;
		}
	}
	if (u->last_ms + u->hb_ms <= now_ms())
		return pend_add(u, ": hb\n\n", 6) ? FILL_ERR : FILL_TEXT;
	return FILL_IDLE;
}

/* Suspend u's connection until the committer wakes it (durable moved
 * past u->seen, its heartbeat is due, the server stops).  Suspended
 * first, then listed: the committer resumes only what is listed, so
 * never a connection not yet suspended; a move it made before the
 * listing is seen here, and the connection resumed at once. */
static void sub_idle(sub *u)
{
	srv *s = u->s;
	MHD_suspend_connection(u->c);
	pthread_mutex_lock(&s->mu);
	int now = s->durable > u->seen || s->stopping;
	if (!now) {
		u->next = s->idle;
		s->idle = u;
	}
	pthread_mutex_unlock(&s->mu);
	if (now)
		MHD_resume_connection(u->c);
}

void srv_wake_subscribers(srv *s, int all)
{
	long long t = now_ms();
	sub *wake = NULL;
	pthread_mutex_lock(&s->mu);
	for (sub **p = &s->idle; *p;) {
		sub *u = *p;
		if (all || s->stopping || s->durable > u->seen || u->last_ms + u->hb_ms <= t ||
		    client_gone(u->c)) {
			*p = u->next;
			u->next = wake;
			wake = u;
		} else {
			p = &u->next;
		}
	}
	pthread_mutex_unlock(&s->mu);
	for (sub *u = wake, *next; u; u = next) {
		next = u->next;
		MHD_resume_connection(u->c);
	}
}

static ssize_t sub_more(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	sub *u = cls;
	if (u->psent == u->plen) {
		int r = sub_fill(u);
		if (r == FILL_END)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (r == FILL_ERR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (r == FILL_IDLE) {
			/* a suspended connection's hang-up goes unseen by MHD */
			if (client_gone(u->c))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			sub_idle(u);
			return 0;   /* MHD asks again once resumed */
		}
	}
	size_t n = u->plen - u->psent;
	if (n > max)
		n = max;
	memcpy(buf, u->pend + u->psent, n);
	u->psent += n;
	u->last_ms = now_ms();
	return (ssize_t)n;
}

/* Where a subscription starts: just after Last-Event-ID (a reconnecting
 * EventSource sends it with the first URL, from= included, so it wins),
 * else at from=, else after the head: only what comes next. */
static int sub_start(srv *s, struct MHD_Connection *c, uint64_t *from, char *err,
		     size_t cap)
{
	const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	uint64_t v;
	if (last) {
		if (cli_u64(last, &v)) {
			snprintf(err, cap, "Last-Event-ID: expected a position, got '%.64s'", last);
			return -1;
		}
		*from = v + 1;
		return 0;
	}
	int r = srv_u64_arg(c, "from", &v, err, cap);
	if (r < 0)
		return -1;
	if (r) {
		*from = v ? v : 1;
		return 0;
	}
	*from = durable_pos(s) + 1;
	return 0;
}

/* GET /subscribe?types=&stream=&from=&heartbeat= */
static enum MHD_Result get_subscribe(srv *s, struct MHD_Connection *c, const char *url,
				     const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	char err[256] = "";
	uint64_t hb = DEFAULT_HEARTBEAT;
	if (srv_u64_arg(c, "heartbeat", &hb, err, sizeof err) < 0 || hb == 0 || hb > 3600) {
		if (!*err)
			snprintf(err, sizeof err, "heartbeat: expected seconds from 1 to 3600, got "
				 "'%s'", srv_arg(c, "heartbeat"));
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	sub *u = calloc(1, sizeof *u);
	if (!u)
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	u->s = s;
	u->c = c;
	u->hb_ms = (long long)hb * 1000;
	eg_filter f = { .stream = srv_arg(c, "stream") };
	int rc = eg_store_open(&u->st, s->dir, EG_OPEN_READ, NULL);
	if (rc) {
		enum MHD_Result ok = srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  srv_errmsg(u->st, rc));
		sub_free(u);
		return ok;
	}
	int r = sub_start(s, c, &f.from, err, sizeof err);
	if (r) {
		sub_free(u);
		return srv_fail(c, r == -1 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
				err);
	}
	if (types_arg(c, &f, &u->typebuf, u->types) ||
	    !(u->line = open_memstream(&u->lmem, &u->llen))) {
		sub_free(u);
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	u->o = out_new(u->line, FMT_NDJSON);
	if ((rc = eg_iter_new(u->st, &u->it, &f))) {
		enum MHD_Result ok = srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, eg_errmsg(u->st));
		sub_free(u);
		return ok;
	}
	u->from = f.from;
	u->last_ms = now_ms();
	/* counted until freed: the server waits for its last chunk when it stops */
	pthread_mutex_lock(&s->mu);
	s->streams++;
	u->counted = 1;
	pthread_mutex_unlock(&s->mu);
	/* a comment first: the client sees the stream open before any event */
	if (pend_add(u, ": subscribed\n\n", 14)) {
		sub_free(u);
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
								      sub_more, u, sub_free);
	if (!resp) {
		sub_free(u);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	/* nginx buffers a response unless told: an event would wait there */
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return srv_queue(c, MHD_HTTP_OK, resp, "text/event-stream");
}

/* ----------------------------------------------------------- consumers */

/* GET /consumers/{name}/next?max=&wait=&types=: up to max events after
 * the checkpoint as NDJSON; the checkpoint stays until acknowledged.
 * Engram-Scanned: the position to acknowledge once they are handled (it
 * also covers the events the types skipped). */
static enum MHD_Result consumer_next(srv *s, struct MHD_Connection *c, const char *name)
{
	char err[256] = "";
	uint64_t max = 100, wait = 0;
	if (srv_u64_arg(c, "max", &max, err, sizeof err) < 0 || max == 0 || max > MAX_NEXT) {
		if (!*err)
			snprintf(err, sizeof err, "max: expected 1 to %d events, got '%s'", MAX_NEXT,
				 srv_arg(c, "max"));
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	if (srv_u64_arg(c, "wait", &wait, err, sizeof err) < 0 || wait > MAX_WAIT) {
		if (!*err)
			snprintf(err, sizeof err, "wait: expected 0 to %d seconds, got '%s'", MAX_WAIT,
				 srv_arg(c, "wait"));
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	eg_store *st = NULL;
	eg_iter *it = NULL;
	char *typebuf = NULL, *mem = NULL;
	size_t memlen = 0;
	const char *tv[MAX_TYPES];
	FILE *f = NULL;
	out *o = NULL;
	uint64_t at = 0, n = 0;
	unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	eg_filter flt = { .limit = max };
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (rc)
		goto fail;
	if ((rc = eg_consumer_get(st, name, &at))) {
		if (rc == EG_EINVAL)
			status = MHD_HTTP_BAD_REQUEST;
		goto fail;
	}
	flt.from = at + 1;
	if (types_arg(c, &flt, &typebuf, tv) || !(f = open_memstream(&mem, &memlen))) {
		rc = EG_ENOMEM;
		goto fail;
	}
	o = out_new(f, FMT_NDJSON);
	if ((rc = eg_iter_new(st, &it, &flt)))
		goto fail;
	long long until = now_ms() + (long long)wait * 1000;
	uint64_t durable = durable_pos(s);
	for (;;) {
		const eg_event *e;
		while ((rc = eg_iter_next(it, &e)) == EG_OK) {
			if (e->pos > durable && (durable = durable_pos(s)) < e->pos &&
			    !wait_durable(s, c, e->pos))
				break;
			out_event(o, e);
			n++;
		}
		if (rc == EG_OK) {
			/* stopping or gone while e was not yet durable */
			rc = EG_END;
			break;
		}
		if (rc != EG_END)
			goto fail;
		long long left = until - now_ms();
		if (n || left <= 0 || stopping(s) || client_gone(c))
			break;
		rc = eg_iter_wait(it, (int)(left < SLICE_MS ? left : SLICE_MS));
		if (rc != EG_OK && rc != EG_END)
			goto fail;
	}
	rc = out_free(o) ? EG_ENOMEM : EG_OK;
	o = NULL;
	fclose(f);
	f = NULL;
	if (rc)
		goto fail;
	/* never past what is durable: types= scans beyond the last event sent */
	uint64_t scanned = eg_iter_scanned(it);
	durable = durable_pos(s);
	if (scanned > durable)
		scanned = durable;
	if (scanned < at)
		scanned = at;
	struct MHD_Response *r = MHD_create_response_from_buffer(memlen, mem, MHD_RESPMEM_MUST_FREE);
	if (!r)
		goto fail;
	mem = NULL;
	char hdr[32];
	snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)scanned);
	MHD_add_response_header(r, "Engram-Scanned", hdr);
	snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)at);
	MHD_add_response_header(r, "Engram-Checkpoint", hdr);
	snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)n);
	MHD_add_response_header(r, "Engram-Count", hdr);
	enum MHD_Result ok = srv_queue(c, MHD_HTTP_OK, r, "application/x-ndjson");
	eg_iter_free(it);
	eg_store_close(st);
	free(typebuf);
	return ok;
fail:;
	enum MHD_Result res = srv_fail(c, status, srv_errmsg(st, rc));
	if (o)
		out_free(o);
	if (f)
		fclose(f);
	free(mem);
	eg_iter_free(it);
	eg_store_close(st);
	free(typebuf);
	return res;
}

/* POST /consumers/{name}/ack {"pos": P}: the consumer has handled every
 * event up to P.  The checkpoint never moves back: an ack of an older
 * position (a retry) changes nothing. */
static enum MHD_Result consumer_ack(srv *s, struct MHD_Connection *c, const char *name,
				    const conn *k)
{
	char err[256];
	uint64_t pos, at;
	if (srv_ack_pos(k->body, k->len, &pos, err, sizeof err))
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	eg_store *st = NULL;
	eg_head h;
	char *schemas = NULL;
	unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (rc)
		goto fail;
	/* the head a client may know of: what the server has handed out */
	h.pos = durable_pos(s);
	if (pos > h.pos) {
		eg_store_close(st);
		snprintf(err, sizeof err, "pos: %llu is beyond the head (%llu)",
			 (unsigned long long)pos, (unsigned long long)h.pos);
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	pthread_mutex_lock(&ack_mu);
	rc = eg_consumer_get(st, name, &at);
	/* keep the schema versions `engram consume` noted with it */
	if (!rc && pos > at && !(rc = eg_consumer_schemas(st, name, &schemas)))
		rc = eg_consumer_set_schemas(st, name, pos, schemas);
	pthread_mutex_unlock(&ack_mu);
	free(schemas);
	if (rc) {
		if (rc == EG_EINVAL)
			status = MHD_HTTP_BAD_REQUEST;
		goto fail;
	}
	char *body = NULL;
	if (asprintf(&body, "{\"consumer\":\"%s\",\"checkpoint\":%llu}\n", name,
		     (unsigned long long)(pos > at ? pos : at)) < 0)
		body = NULL;
	eg_store_close(st);
	return srv_answer(c, MHD_HTTP_OK, body);
fail:;
	enum MHD_Result ok = srv_fail(c, status, srv_errmsg(st, rc));
	eg_store_close(st);
	return ok;
}

/* Failed deliveries, per consumer: of one position, the one after its
 * checkpoint that it keeps refusing.  In memory (under ack_mu): a restart
 * gives a poison event max_deliveries more tries, never fewer. */
typedef struct nacked {
	char name[72];
	uint64_t pos, count;
	struct nacked *next;
} nacked;
static nacked *nacks;

static nacked *nacked_of(const char *name)
{
	for (nacked *d = nacks; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	nacked *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	snprintf(d->name, sizeof d->name, "%s", name);
	d->next = nacks;
	nacks = d;
	return d;
}

/* Event pos as engram read prints it (malloc'd, no newline), or NULL. */
static char *event_line(eg_store *st, uint64_t pos, size_t *n)
{
	eg_iter *it = NULL;
	eg_filter f = { .from = pos, .to = pos };
	char *mem = NULL;
	size_t len = 0;
	const eg_event *e;
	FILE *fp = open_memstream(&mem, &len);
	if (!fp)
		return NULL;
	out *o = out_new(fp, FMT_NDJSON);
	int found = !eg_iter_new(st, &it, &f) && eg_iter_next(it, &e) == EG_OK;
	if (found)
		out_event(o, e);
	found = !out_free(o) && found;
	fclose(fp);
	eg_iter_free(it);
	while (len && mem[len - 1] == '\n')
		len--;
	if (!found || !len) {
		free(mem);
		return NULL;
	}
	*n = len;
	return mem;
}

/* Move name's checkpoint forward to pos, keeping its schema versions
 * (under ack_mu). */
static int ckpt_forward(eg_store *st, const char *name, uint64_t at, uint64_t pos)
{
	char *schemas = NULL;
	if (pos <= at)
		return EG_OK;
	int rc = eg_consumer_schemas(st, name, &schemas);
	if (!rc)
		rc = eg_consumer_set_schemas(st, name, pos, schemas);
	free(schemas);
	return rc;
}

/* POST /consumers/{name}/nack?max_deliveries=N {"pos": P}: the events
 * before P are handled, P failed: it comes again from /next, until its
 * Nth failure parks it in $parked-NAME and the checkpoint passes it. */
static enum MHD_Result consumer_nack(srv *s, struct MHD_Connection *c, const char *name,
				     const conn *k)
{
	char err[256] = "", *line = NULL, *perr = NULL, *body = NULL;
	uint64_t pos, at = 0, maxd = 5, parked = 0, count = 0;
	size_t n = 0;
	if (srv_u64_arg(c, "max_deliveries", &maxd, err, sizeof err) < 0 || maxd == 0 ||
	    maxd > 1000) {
		if (!*err)
			snprintf(err, sizeof err, "max_deliveries: expected 1 to 1000, got '%s'",
				 srv_arg(c, "max_deliveries"));
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	if (srv_ack_pos(k->body, k->len, &pos, err, sizeof err))
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	eg_store *st = NULL;
	eg_head h;
	unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (rc)
		goto fail;
	/* the head a client may know of: what the server has handed out */
	h.pos = durable_pos(s);
	pthread_mutex_lock(&ack_mu);
	if ((rc = eg_consumer_get(st, name, &at)))
		goto unlock;
	if (pos > h.pos || pos <= at) {
		snprintf(err, sizeof err, pos > h.pos ? "pos: %llu is beyond the head (%llu)"
			 : "pos: %llu is not after the checkpoint (%llu): already acknowledged",
			 (unsigned long long)pos, (unsigned long long)(pos > h.pos ? h.pos : at));
		pthread_mutex_unlock(&ack_mu);
		eg_store_close(st);
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	nacked *d = nacked_of(name);
	if (!d) {
		rc = EG_ENOMEM;
		goto unlock;
	}
	d->count = d->pos == pos ? d->count + 1 : 1;
	d->pos = pos;
	count = d->count;
	if (count < maxd) {
		rc = ckpt_forward(st, name, at, pos - 1);
		goto unlock;
	}
	if (!(line = event_line(st, pos, &n))) {
		rc = EG_ENOMEM;
		goto unlock;
	}
	if (srv_park(s, name, line, n, count, &parked, &perr)) {
		pthread_mutex_unlock(&ack_mu);
		free(line);
		eg_store_close(st);
		return srv_answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, perr);
	}
	d->pos = d->count = 0;
	rc = ckpt_forward(st, name, at, pos);
unlock:
	pthread_mutex_unlock(&ack_mu);
	free(line);
	if (rc) {
		if (rc == EG_EINVAL)
			status = MHD_HTTP_BAD_REQUEST;
		goto fail;
	}
	uint64_t ck = parked ? pos : pos - 1 > at ? pos - 1 : at;
	char pk[24] = "null";
	if (parked)
		snprintf(pk, sizeof pk, "%llu", (unsigned long long)parked);
	if (asprintf(&body, "{\"consumer\":\"%s\",\"checkpoint\":%llu,\"pos\":%llu,"
		     "\"deliveries\":%llu,\"parked\":%s}\n", name, (unsigned long long)ck,
		     (unsigned long long)pos, (unsigned long long)count, pk) < 0)
		body = NULL;
	eg_store_close(st);
	return srv_answer(c, MHD_HTTP_OK, body);
fail:;
	enum MHD_Result ok = srv_fail(c, status, srv_errmsg(st, rc));
	eg_store_close(st);
	return ok;
}

/* /consumers/{name}/next (GET), /ack and /nack (POST). */
static enum MHD_Result consumers(srv *s, struct MHD_Connection *c, const char *url,
				 const char *method, conn *k)
{
	const char *nm = url + strlen("/consumers/"), *slash = strchr(nm, '/');
	if (!slash || slash == nm ||
	    (strcmp(slash, "/next") && strcmp(slash, "/ack") && strcmp(slash, "/nack")))
		return srv_not_found(c, method, url);
	int next = !strcmp(slash, "/next");
	if (strcmp(method, next ? "GET" : "POST")) {
		char msg[160];
		snprintf(msg, sizeof msg, "/consumers/{name}%s: use %s", slash, next ? "GET" : "POST");
		return srv_fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
	}
	/* the store checks the name (1-64 of A-Z a-z 0-9 . _ -): a 400 names it */
	char name[80];
	if ((size_t)(slash - nm) >= sizeof name)
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, "consumer name: expected 1-64 characters "
				"of A-Z a-z 0-9 . _ -");
	memcpy(name, nm, (size_t)(slash - nm));
	name[slash - nm] = 0;
	if (next)
		return consumer_next(s, c, name);
	return !strcmp(slash, "/ack") ? consumer_ack(s, c, name, k) : consumer_nack(s, c, name, k);
}

const srv_route SRV_SUB_ROUTES[] = {
	{ "/subscribe", "GET", SCOPE_READ, get_subscribe, 0 },
	{ "/consumers/", "GET POST", SCOPE_READ, consumers, 1 },
	{ NULL, NULL, 0, NULL, 0 },
};

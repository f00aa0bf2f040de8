/*
 * read.c — the commands that print events: `engram read` (filters, reverse,
 * follow) and the durable consumers, `engram consume` and
 * `engram consumers`.
 */
#include "cli.h"
#include "timefmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Split a comma list in place into at most max items. */
static size_t split_types(char *s, const char **items, size_t max)
{
	size_t n = 0;
	for (char *p = strtok(s, ","); p && n < max; p = strtok(NULL, ","))
		if (*p)
			items[n++] = p;
	return n;
}

#define MAX_TYPES 64

/*
 * Reading is two jobs of about equal cost: decoding and checking records,
 * and formatting them.  With two cores, a second thread iterates (copying
 * each event into a batch) while this one prints the previous batch.
 */
#define PIPE_EVENTS 2048

typedef struct pbatch {
	eg_event ev[PIPE_EVENTS];
	char *arena;
	size_t n, used, cap;
} pbatch;

typedef struct pipe_ {
	eg_iter *it;
	pbatch b[2];
	int full[2];             /* batch i holds events to print */
	int done, rc;            /* producer finished; its last iterator code */
	pthread_mutex_t mu;
	pthread_cond_t cv;
} pipe_;

static const char *copy_in(pbatch *b, const char *s, size_t n)
{
	char *d = b->arena + b->used;
	memcpy(d, s, n);
	b->used += n;
	return d;
}

/* Copy e into batch b; 0, or -1 when the arena is too small for it. */
static int batch_add(pbatch *b, const eg_event *e)
{
	size_t need = e->id_len + e->stream_len + e->type_len + e->actor_len +
		      e->session_len + e->data_len + e->meta_len;
	if (b->used + need > b->cap) {
		if (b->n)
			return -1;
		char *a = realloc(b->arena, need);
		if (!a)
			return -1;
		b->arena = a;
		b->cap = need;
	}
	eg_event *c = &b->ev[b->n++];
	*c = *e;
	c->id = copy_in(b, e->id, e->id_len);
	c->stream = copy_in(b, e->stream, e->stream_len);
	c->type = copy_in(b, e->type, e->type_len);
	c->actor = copy_in(b, e->actor, e->actor_len);
	c->session = copy_in(b, e->session, e->session_len);
	c->data = copy_in(b, e->data, e->data_len);
	c->meta = copy_in(b, e->meta, e->meta_len);
	return 0;
}

static void *producer(void *arg)
{
	pipe_ *p = arg;
	const eg_event *e;
	int i = 0, r = EG_END, pending = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->full[i])
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		pbatch *b = &p->b[i];
		b->n = b->used = 0;
		if (pending) {  /* the event that did not fit the last batch */
			batch_add(b, e);
			pending = 0;
		}
		while (b->n < PIPE_EVENTS && (r = eg_iter_next(p->it, &e)) == EG_OK) {
			if (batch_add(b, e)) {
				pending = 1;
				break;
			}
		}
		int last = !pending && b->n < PIPE_EVENTS;
		pthread_mutex_lock(&p->mu);
		p->full[i] = b->n > 0;
		if (last) {
			p->done = 1;
			p->rc = r;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (last)
			return NULL;
		i ^= 1;
	}
}

/* Print every event the iterator yields, formatting beside the reader. */
static int drain_pipelined(eg_iter *it, out *o)
{
	pipe_ p = { .it = it };
	for (int i = 0; i < 2; i++) {
		p.b[i].cap = 1 << 20;
		if (!(p.b[i].arena = malloc(p.b[i].cap)))
			return EG_ENOMEM;
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	pthread_t t;
	if (pthread_create(&t, NULL, producer, &p)) {
		free(p.b[0].arena);
		free(p.b[1].arena);
		return EG_ENOMEM;
	}
	for (int i = 0;; i ^= 1) {
		pthread_mutex_lock(&p.mu);
		while (!p.full[i] && !p.done)
			pthread_cond_wait(&p.cv, &p.mu);
		int have = p.full[i];
		pthread_mutex_unlock(&p.mu);
		if (!have)
			break;
		for (size_t k = 0; k < p.b[i].n; k++)
			out_event(o, &p.b[i].ev[k]);
		pthread_mutex_lock(&p.mu);
		p.full[i] = 0;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_join(t, NULL);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	free(p.b[0].arena);
	free(p.b[1].arena);
	return p.rc;
}

/* Print events until the iterator ends; with follow, wait for more.
 * After each flushed burst call ckpt (consumers).  Returns an exit code. */
static int pump(eg_store *st, eg_iter *it, out *o, int follow, int pipelined,
		int (*ckpt)(eg_store *, eg_iter *, void *), void *ctx)
{
	const eg_event *e;
	for (;;) {
		int r;
		if (pipelined) {
			r = drain_pipelined(it, o);
		} else {
			while ((r = eg_iter_next(it, &e)) == EG_OK)
				out_event(o, e);
		}
		if (r != EG_END)
			return cli_fail(st, r);
		if (out_flush(o)) {
			cli_error("cannot write output: %s", strerror(out_error(o)));
			return EXIT_ERR;
		}
		if (ckpt && (r = ckpt(st, it, ctx)))
			return cli_fail(st, r);
		if (!follow)
			return EXIT_OK;
		r = eg_iter_wait(it, -1);
		if (r == EG_END)
			return EXIT_OK;
		if (r)
			return cli_fail(st, r);
	}
}

static int parse_time_opt(cli *c, const char *name, const char *v, int64_t *res)
{
	if (eg_time_parse(v, strlen(v), res))
		return cli_usage_error(c, "--%s: expected an RFC 3339 time such as "
				       "2025-01-01T10:00:00Z or epoch milliseconds, got '%s'", name, v);
	return 0;
}

int cmd_read(cli *c)
{
	const char *from = NULL, *to = NULL, *stream = NULL, *types = NULL, *since = NULL,
		   *until = NULL, *by = NULL, *limit = NULL;
	int reverse = 0, follow = 0;
	opt opts[] = {
		{ "from", 1, &from, NULL }, { "to", 1, &to, NULL },
		{ "stream", 1, &stream, NULL }, { "type", 1, &types, NULL },
		{ "since", 1, &since, NULL }, { "until", 1, &until, NULL },
		{ "by", 1, &by, NULL }, { "limit", 1, &limit, NULL },
		{ "reverse", 0, NULL, &reverse }, { "follow", 0, NULL, &follow },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_filter f = { .stream = stream, .reverse = reverse };
	if (from && cli_u64(from, &f.from))
		return cli_usage_error(c, "--from: expected a position, got '%s'", from);
	if (to && cli_u64(to, &f.to))
		return cli_usage_error(c, "--to: expected a position, got '%s'", to);
	if (limit && cli_u64(limit, &f.limit))
		return cli_usage_error(c, "--limit: expected a number, got '%s'", limit);
	if (since && (rc = parse_time_opt(c, "since", since, &f.since)))
		return rc;
	if (until && (rc = parse_time_opt(c, "until", until, &f.until)))
		return rc;
	f.has_since = since != NULL;
	f.has_until = until != NULL;
	if (by && !strcmp(by, "recorded"))
		f.by = EG_BY_RECORDED;
	else if (by && strcmp(by, "event"))
		return cli_usage_error(c, "--by: expected event or recorded, got '%s'", by);
	if (reverse && follow)
		return cli_usage_error(c, "--reverse and --follow cannot be combined");
	char *tbuf = types ? strdup(types) : NULL;
	const char *tv[MAX_TYPES];
	if (tbuf) {
		f.ntypes = split_types(tbuf, tv, MAX_TYPES);
		f.types = tv;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(tbuf);
		return rc;
	}
	eg_iter *it;
	int r = eg_iter_new(st, &it, &f);
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		rc = pump(st, it, o, follow, c->format == FMT_NDJSON, NULL, NULL);
		if (out_free(o) && rc == EXIT_OK)
			rc = EXIT_ERR;
		eg_iter_free(it);
	}
	eg_store_close(st);
	free(tbuf);
	return rc;
}

typedef struct consumer_ctx {
	const char *name;
	uint64_t at;
} consumer_ctx;

/* Advance the checkpoint to what the iterator has handed out. */
static int consumer_ckpt(eg_store *st, eg_iter *it, void *ctx)
{
	consumer_ctx *cc = ctx;
	uint64_t pos = eg_iter_scanned(it);
	if (pos <= cc->at)
		return EG_OK;
	cc->at = pos;
	return eg_consumer_set(st, cc->name, pos);
}

int cmd_consume(cli *c)
{
	const char *types = NULL, *limit = NULL;
	int follow = 0;
	opt opts[] = {
		{ "type", 1, &types, NULL }, { "limit", 1, &limit, NULL },
		{ "follow", 0, NULL, &follow }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 1)
		return cli_usage_error(c, "consume needs a consumer NAME");
	eg_filter f = { 0 };
	if (limit && (cli_u64(limit, &f.limit) || f.limit == 0))
		return cli_usage_error(c, "--limit: expected a positive number, got '%s'", limit);
	char *tbuf = types ? strdup(types) : NULL;
	const char *tv[MAX_TYPES];
	if (tbuf) {
		f.ntypes = split_types(tbuf, tv, MAX_TYPES);
		f.types = tv;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(tbuf);
		return rc;
	}
	consumer_ctx cc = { c->pos[0], 0 };
	int r = eg_consumer_get(st, cc.name, &cc.at);
	eg_iter *it = NULL;
	if (r == EG_OK) {
		f.from = cc.at + 1;
		r = eg_iter_new(st, &it, &f);
	}
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		rc = pump(st, it, o, follow, 0, consumer_ckpt, &cc);
		if (out_free(o) && rc == EXIT_OK)
			rc = EXIT_ERR;
	}
	eg_iter_free(it);
	eg_store_close(st);
	free(tbuf);
	return rc;
}

typedef struct list_ctx {
	out *o;
	uint64_t head;
} list_ctx;

static int print_consumer(void *ctx, const char *name, uint64_t pos)
{
	list_ctx *l = ctx;
	out_row_begin(l->o);
	out_cstr(l->o, "consumer", name);
	out_u64(l->o, "pos", pos);
	out_u64(l->o, "lag", l->head > pos ? l->head - pos : 0);
	out_row_end(l->o);
	return 0;
}

int cmd_consumers(cli *c)
{
	int rc = cli_parse(c, NULL, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	eg_head h;
	int r = eg_store_head(st, &h);
	list_ctx l = { out_new(stdout, c->format), h.pos };
	if (r == EG_OK)
		r = eg_consumer_list(st, print_consumer, &l);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	if (out_free(l.o) && rc == EXIT_OK)
		rc = EXIT_ERR;
	eg_store_close(st);
	return rc;
}

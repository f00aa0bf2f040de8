/*
 * serve_read.c — reads over HTTP (docs/SERVER.md): GET /events streamed
 * as engram read prints it, GET /head.  Each request opens the store for
 * reading, as a reader beside the server does.
 */
#include "serve.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
	eg_store *st;
	eg_iter *it;
	FILE *f;                          /* out's memory stream */
	char *mem;
	size_t memlen, sent;
	out *o;
	const char *types[64];
	char *typebuf;
	eg_query *q;                      /* query=: only the events it matches */
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
	eg_query_free(rd->q);
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

const char *srv_arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

int srv_u64_arg(struct MHD_Connection *c, const char *name, uint64_t *v, char *err,
		size_t cap)
{
	const char *s = srv_arg(c, name);
	if (!s)
		return 0;
	if (cli_u64(s, v)) {
		snprintf(err, cap, "%s: expected a whole number, got '%s'", name, s);
		return -1;
	}
	return 1;
}

int srv_time_arg(struct MHD_Connection *c, const char *name, int64_t *v, int *has,
		 char *err, size_t cap)
{
	const char *s = srv_arg(c, name);
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
static enum MHD_Result get_events(srv *s, struct MHD_Connection *c, const char *url,
				  const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	static const char *const known[] = { "stream", "type", "since", "until", "by", "from",
					     "to", "limit", "reverse" };
	eg_filter f = { 0 };
	char err[256] = "";
	uint64_t v;
	reader *rd = calloc(1, sizeof *rd);
	if (!rd)
		return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	int bad = 0;
	(void)known;
	if (srv_u64_arg(c, "from", &v, err, sizeof err) < 0)
		bad = 1;
	else if (srv_arg(c, "from"))
		f.from = v;
	if (!bad && srv_u64_arg(c, "to", &v, err, sizeof err) < 0)
		bad = 1;
	else if (srv_arg(c, "to"))
		f.to = v;
	if (!bad && srv_u64_arg(c, "limit", &v, err, sizeof err) < 0)
		bad = 1;
	else if (srv_arg(c, "limit"))
		f.limit = v;
	if (!bad && (srv_time_arg(c, "since", &f.since, &f.has_since, err, sizeof err) ||
		     srv_time_arg(c, "until", &f.until, &f.has_until, err, sizeof err)))
		bad = 1;
	const char *by = srv_arg(c, "by"), *rev = srv_arg(c, "reverse"), *types = srv_arg(c, "type");
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
	f.stream = srv_arg(c, "stream");
	if (!bad && types) {
		if (!(rd->typebuf = strdup(types))) {
			free(rd);
			return srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		}
		f.ntypes = cli_split(rd->typebuf, rd->types, 64);
		f.types = rd->types;
	}
	/* query=: a DCB query (docs/CONSISTENCY.md); the head read before the
	 * scan bounds it and is answered as Engram-Head, the After of a
	 * conditional append that decides on what was read */
	const char *query = srv_arg(c, "query");
	if (!bad && query) {
		char qe[200];
		if (eg_query_add(&rd->q, query, qe, sizeof qe)) {
			snprintf(err, sizeof err, "query: %s", qe);
			bad = 1;
		}
	}
	if (bad) {
		reader_free(rd);
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	int rc = eg_store_open(&rd->st, s->dir, EG_OPEN_READ, NULL);
	eg_head h = { 0 };
	if (!rc && rd->q && !(rc = eg_store_head(rd->st, &h)) && (!f.to || f.to > h.pos))
		f.to = h.pos;
	f.query = rd->q;
	if (!rc && rd->q && !h.pos)
		rd->done = 1;   /* an empty store: a "to" of 0 would mean no bound */
	if (!rc)
		rc = eg_iter_new(rd->st, &rd->it, &f);
	if (!rc && !(rd->f = open_memstream(&rd->mem, &rd->memlen)))
		rc = EG_ENOMEM;
	if (!rc)
		rd->o = out_new(rd->f, FMT_NDJSON);
	if (rc) {
		enum MHD_Result ok = srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  srv_errmsg(rd->st, rc));
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
	if (rd->q) {
		char hp[32];
		snprintf(hp, sizeof hp, "%llu", (unsigned long long)h.pos);
		MHD_add_response_header(r, "Engram-Head", hp);
	}
	return srv_queue(c, MHD_HTTP_OK, r, "application/x-ndjson");
}

/* GET /head */
static enum MHD_Result get_head(srv *s, struct MHD_Connection *c, const char *url,
				const char *method, conn *k)
{
	(void)url, (void)method, (void)k;
	eg_store *st = NULL;
	eg_tree *t = NULL;
	eg_head h;
	unsigned char root[32];
	/* As engram head: the head the Merkle tree covers, with its root and
	 * size (docs/PROOFS.md), so a proof made later checks against it. */
	int rc = eg_store_open(&st, s->dir, EG_OPEN_READ, NULL);
	if (!rc)
		rc = eg_tree_open(st, &t);
	if (!rc) {
		eg_tree_head(t, &h);
		rc = eg_tree_root(t, eg_tree_size(t), root);
	}
	if (rc) {
		enum MHD_Result ok = srv_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  srv_errmsg(st, rc));
		eg_tree_close(t);
		eg_store_close(st);
		return ok;
	}
	uint64_t size = eg_tree_size(t);
	eg_tree_close(t);
	eg_store_close(st);
	char hex[65], rhex[65], *body = NULL;
	eg_hash_hex(h.hash, hex);
	eg_hash_hex(root, rhex);
	if (asprintf(&body, "{\"pos\":%llu,\"hash\":\"%s\",\"size\":%llu,\"root\":\"%s\"}\n",
		     (unsigned long long)h.pos, hex, (unsigned long long)size, rhex) < 0)
		body = NULL;
	return srv_answer(c, MHD_HTTP_OK, body);
}

static enum MHD_Result get_health(srv *s, struct MHD_Connection *c, const char *url,
				  const char *method, conn *k)
{
	(void)s, (void)url, (void)method, (void)k;
	return srv_answer(c, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}\n"));
}

const srv_route SRV_READ_ROUTES[] = {
	{ "/events", "GET HEAD", SCOPE_READ, get_events, 0 },
	{ "/head", "GET HEAD", SCOPE_READ, get_head, 0 },
	{ "/health", "GET HEAD", SCOPE_NONE, get_health, 0 },
	{ NULL, NULL, 0, NULL, 0 },
};

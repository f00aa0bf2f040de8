/*
 * read.c — the commands that print events: `engram read` (filters, reverse,
 * follow) and the durable consumers, `engram consume` and
 * `engram consumers`.
 */
#include "cli.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64

typedef struct consumer_ctx consumer_ctx;
static void note_schema(consumer_ctx *cc, const eg_event *e);

/* Print events until the iterator ends; with follow, wait for more.
 * After each flushed burst call ckpt (consumers, whose cc notes the
 * schema versions handed out).  Returns an exit code. */
static int pump(eg_store *st, eg_iter *it, out *o, int follow,
		int (*ckpt)(eg_store *, eg_iter *, void *), consumer_ctx *cc)
{
	const eg_event *e;
	if (follow)
		out_live(o);
	for (;;) {
		int r;
		while ((r = eg_iter_next(it, &e)) == EG_OK) {
			out_event(o, e);
			if (cc && e->schema_version)
				note_schema(cc, e);
		}
		if (r != EG_END)
			return cli_fail(st, r);
		if (out_flush(o)) {
			cli_error("cannot write output: %s", strerror(out_error(o)));
			return EXIT_ERR;
		}
		if (ckpt && (r = ckpt(st, it, cc)))
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

static int stop_at_first(void *ctx, const char *name, size_t len, uint64_t count,
			 uint64_t version)
{
	(void)ctx, (void)name, (void)len, (void)count, (void)version;
	return 1;
}

/* read --query: the events matching q up to the head taken before the
 * scan, then that head, the --after of a conditional append that decides
 * on what was printed (docs/CONSISTENCY.md). */
static int read_query(cli *c, eg_store *st, eg_filter *f, const eg_query *q)
{
	eg_head h;
	int r = eg_store_head(st, &h);
	if (r)
		return cli_fail(st, r);
	f->query = q;
	if (!f->to || f->to > h.pos)
		f->to = h.pos;
	out *o = out_new(stdout, c->format);
	out_event_schemas(o, cli_has_schemas(st));
	out_event_tags(o, 1);
	int rc = EXIT_OK;
	eg_iter *it = NULL;
	/* an empty store: nothing to scan (a "to" of 0 would mean no bound) */
	if (h.pos && f->from <= f->to) {
		if ((r = eg_iter_new(st, &it, f)))
			rc = cli_fail(st, r);
		else
			rc = pump(st, it, o, 0, NULL, NULL);
		eg_iter_free(it);
	}
	if (rc == EXIT_OK && c->format == FMT_NDJSON) {
		out_row_begin(o);
		out_u64(o, "head", h.pos);
		out_row_end(o);
	}
	rc = out_finish(o, rc);
	if (rc == EXIT_OK && c->format == FMT_TABLE)
		printf("head: %llu\n", (unsigned long long)h.pos);
	else if (rc == EXIT_OK && c->format == FMT_CSV)
		fprintf(stderr, "head: %llu\n", (unsigned long long)h.pos);
	return rc;
}

int cli_time(cli *c, const char *name, const char *v, int64_t *res)
{
	if (eg_time_parse(v, strlen(v), res))
		return cli_usage_error(c, "--%s: expected %s, got '%s'", name, EG_TIME_FORMS, v);
	return 0;
}

static int read_run(cli *c, const eg_query *q, const char *from, const char *to,
		    const char *stream, const char *types, const char *since, const char *until,
		    const char *by, const char *limit, int reverse, int follow, int upcast);

int cmd_read(cli *c)
{
	const char *from = NULL, *to = NULL, *stream = NULL, *types = NULL, *since = NULL,
		   *until = NULL, *by = NULL, *limit = NULL, *query = NULL;
	int reverse = 0, follow = 0, upcast = 0;
	opt opts[] = {
		{ "upcast", 0, NULL, &upcast },
		{ "from", 1, &from, NULL }, { "to", 1, &to, NULL },
		{ "stream", 1, &stream, NULL }, { "type", OPT_LIST, &types, NULL },
		{ "since", 1, &since, NULL }, { "until", 1, &until, NULL },
		{ "by", 1, &by, NULL }, { "limit", 1, &limit, NULL },
		{ "reverse", 0, NULL, &reverse }, { "follow", 0, NULL, &follow },
		{ "query", OPT_QUERY, &query, NULL }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_query *q = NULL;
	if (query) {
		char qe[256];
		if (eg_query_add(&q, query, qe, sizeof qe)) {
			eg_query_free(q);
			return cli_usage_error(c, "--query: %s", qe);
		}
		if (follow) {
			eg_query_free(q);
			return cli_usage_error(c, "--query and --follow cannot be combined (--query "
					       "ends with the head it read)");
		}
	}
	rc = read_run(c, q, from, to, stream, types, since, until, by, limit, reverse, follow,
		      upcast);
	eg_query_free(q);
	return rc;
}

static int read_run(cli *c, const eg_query *q, const char *from, const char *to,
		    const char *stream, const char *types, const char *since, const char *until,
		    const char *by, const char *limit, int reverse, int follow, int upcast)
{
	int rc;
	eg_filter f = { .stream = stream, .reverse = reverse, .upcast = upcast };
	if (from && cli_u64(from, &f.from))
		return cli_usage_error(c, "--from: expected a position, got '%s'", from);
	if (to && cli_u64(to, &f.to))
		return cli_usage_error(c, "--to: expected a position, got '%s'", to);
	if (limit && (cli_u64(limit, &f.limit) || f.limit == 0))
		return cli_usage_error(c, "--limit: expected a positive number, got '%s'", limit);
	if (since && (rc = cli_time(c, "since", since, &f.since)))
		return rc;
	if (until && (rc = cli_time(c, "until", until, &f.until)))
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
		f.ntypes = cli_split(tbuf, tv, MAX_TYPES);
		f.types = tv;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(tbuf);
		return rc;
	}
	if (q) {
		rc = read_query(c, st, &f, q);
		eg_store_close(st);
		free(tbuf);
		return rc;
	}
	eg_iter *it;
	int r = eg_iter_new(st, &it, &f);
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		out_event_schemas(o, cli_has_schemas(st));
		out_event_tags(o, c->format != FMT_NDJSON &&
			       eg_store_keys(st, EG_KEYS_TAGS, stop_at_first, NULL) == 1);
		rc = pump(st, it, o, follow, NULL, NULL);
		rc = out_finish(o, rc);
		eg_iter_free(it);
	}
	eg_store_close(st);
	free(tbuf);
	return rc;
}

/* The schema versions a consumer has been handed: per type, a bit per
 * version (1 to 63; later ones share bit 63's place as "63 or later"
 * would lie, so they are kept as the highest seen beyond it). */
typedef struct seen_type {
	char *type;
	uint64_t bits, beyond;
} seen_type;

struct consumer_ctx {
	const char *name;
	uint64_t at;
	seen_type *seen;
	size_t nseen, cap;
	int changed;                 /* a version not yet in the checkpoint */
};

static void note_version(consumer_ctx *cc, const char *type, size_t n, uint64_t v)
{
	seen_type *t = NULL;
	for (size_t i = 0; i < cc->nseen && !t; i++)
		if (strlen(cc->seen[i].type) == n && !memcmp(cc->seen[i].type, type, n))
			t = &cc->seen[i];
	if (!t) {
		if (cc->nseen == cc->cap) {
			size_t cap = cc->cap ? 2 * cc->cap : 8;
			seen_type *ns = realloc(cc->seen, cap * sizeof *ns);
			if (!ns)
				return;
			cc->seen = ns;
			cc->cap = cap;
		}
		if (!(cc->seen[cc->nseen].type = strndup(type, n)))
			return;
		t = &cc->seen[cc->nseen++];
		t->bits = t->beyond = 0;
	}
	if (v < 64 ? !(t->bits & 1ull << v) : v > t->beyond) {
		if (v < 64)
			t->bits |= 1ull << v;
		else
			t->beyond = v;
		cc->changed = 1;
	}
}

static void note_schema(consumer_ctx *cc, const eg_event *e)
{
	note_version(cc, e->type, e->type_len, e->schema_version);
}

/* Read back the versions a checkpoint keeps: {"type":[1,2],...}. */
static void load_seen(consumer_ctx *cc, const char *json)
{
	const char *p = json;
	while (p && (p = strchr(p, '"'))) {
		const char *q = p + 1;
		while (*q && *q != '"')
			q += *q == '\\' && q[1] ? 2 : 1;
		if (*q != '"' || q[1] != ':' || q[2] != '[')
			return;
		char *type = strndup(p + 1, (size_t)(q - p - 1));
		const char *r = q + 3;
		while (type && *r && *r != ']') {
			char *end;
			uint64_t v = strtoull(r, &end, 10);
			if (end == r)
				break;
			note_version(cc, type, strlen(type), v);
			r = *end == ',' ? end + 1 : end;
		}
		free(type);
		p = *r ? r + 1 : NULL;
	}
	cc->changed = 0;
}

/* The versions as the checkpoint keeps them, or NULL if none. */
static char *seen_json(const consumer_ctx *cc)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = cc->nseen ? open_memstream(&s, &n) : NULL;
	if (!f)
		return NULL;
	fputc('{', f);
	for (size_t i = 0; i < cc->nseen; i++) {
		fprintf(f, "%s\"", i ? "," : "");
		for (const char *c = cc->seen[i].type; *c; c++)
			fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 0x20
										  ? "\\u%04x" : "%c", *c);
		fputs("\":[", f);
		int first = 1;
		for (int v = 1; v < 64; v++)
			if (cc->seen[i].bits & 1ull << v) {
				fprintf(f, "%s%d", first ? "" : ",", v);
				first = 0;
			}
		if (cc->seen[i].beyond)
			fprintf(f, "%s%llu", first ? "" : ",", (unsigned long long)cc->seen[i].beyond);
		fputc(']', f);
	}
	fputc('}', f);
	fclose(f);
	return s;
}

/* Advance the checkpoint to what the iterator has handed out, with the
 * schema versions it has been handed. */
static int consumer_ckpt(eg_store *st, eg_iter *it, void *ctx)
{
	consumer_ctx *cc = ctx;
	uint64_t pos = eg_iter_scanned(it);
	if (pos <= cc->at && !cc->changed)
		return EG_OK;
	cc->at = pos;
	cc->changed = 0;
	char *seen = seen_json(cc);
	int r = eg_consumer_set_schemas(st, cc->name, pos, seen);
	free(seen);
	return r;
}

int cmd_consume(cli *c)
{
	const char *types = NULL, *limit = NULL;
	int follow = 0, upcast = 0;
	opt opts[] = {
		{ "type", OPT_LIST, &types, NULL }, { "limit", 1, &limit, NULL },
		{ "upcast", 0, NULL, &upcast },
		{ "follow", 0, NULL, &follow }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 1)
		return cli_usage_error(c, "consume needs a consumer NAME");
	eg_filter f = { .upcast = upcast };
	if (limit && (cli_u64(limit, &f.limit) || f.limit == 0))
		return cli_usage_error(c, "--limit: expected a positive number, got '%s'", limit);
	char *tbuf = types ? strdup(types) : NULL;
	const char *tv[MAX_TYPES];
	if (tbuf) {
		f.ntypes = cli_split(tbuf, tv, MAX_TYPES);
		f.types = tv;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(tbuf);
		return rc;
	}
	consumer_ctx cc = { .name = c->pos[0] };
	int r = eg_consumer_get(st, cc.name, &cc.at);
	char *seen = NULL;
	if (r == EG_OK && (r = eg_consumer_schemas(st, cc.name, &seen)) == EG_OK && seen)
		load_seen(&cc, seen);
	free(seen);
	eg_iter *it = NULL;
	if (r == EG_OK) {
		f.from = cc.at + 1;
		r = eg_iter_new(st, &it, &f);
	}
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		out_event_schemas(o, cli_has_schemas(st));
		rc = pump(st, it, o, follow, consumer_ckpt, &cc);
		rc = out_finish(o, rc);
	}
	eg_iter_free(it);
	for (size_t i = 0; i < cc.nseen; i++)
		free(cc.seen[i].type);
	free(cc.seen);
	eg_store_close(st);
	free(tbuf);
	return rc;
}

typedef struct list_ctx {
	out *o;
	uint64_t head;
	eg_store *st;
	int schemas;       /* some consumer keeps schema versions: show them */
} list_ctx;

static int print_consumer(void *ctx, const char *name, uint64_t pos)
{
	list_ctx *l = ctx;
	out_row_begin(l->o);
	out_cstr(l->o, "consumer", name);
	out_u64(l->o, "pos", pos);
	out_u64(l->o, "lag", l->head > pos ? l->head - pos : 0);
	if (l->schemas) {
		char *s = NULL;
		if (l->st && eg_consumer_schemas(l->st, name, &s) == EG_OK && s)
			out_json(l->o, "schemas", s, strlen(s));
		else
			out_null(l->o, "schemas");
		free(s);
	}
	out_row_end(l->o);
	return 0;
}

static int has_schemas(void *ctx, const char *name, uint64_t pos)
{
	list_ctx *l = ctx;
	char *s = NULL;
	(void)pos;
	if (eg_consumer_schemas(l->st, name, &s) == EG_OK && s)
		l->schemas = 1;
	free(s);
	return l->schemas;
}

/* engram consumers --delete NAME: one row, the checkpoint it had. */
static int delete_consumer(cli *c, eg_store *st, const char *name)
{
	uint64_t pos;
	int r = eg_consumer_get(st, name, &pos);
	if (r == EG_OK)
		r = eg_consumer_delete(st, name);
	if (r)
		return cli_fail(st, r);
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_cstr(o, "consumer", name);
	out_u64(o, "pos", pos);
	out_bool(o, "deleted", 1);
	out_row_end(o);
	return out_finish(o, EXIT_OK);
}

/* engram consumers --reset NAME --to POS: the consumers row it now has. */
static int reset_consumer(cli *c, eg_store *st, const char *name, uint64_t to)
{
	eg_head h;
	int r = eg_consumer_reset(st, name, to);
	if (r == EG_OK)
		r = eg_store_head(st, &h);
	if (r)
		return cli_fail(st, r);
	list_ctx l = { out_new(stdout, c->format), h.pos, st, 0 };
	print_consumer(&l, name, to);
	return out_finish(l.o, EXIT_OK);
}

int cmd_consumers(cli *c)
{
	const char *del = NULL, *reset = NULL, *to = NULL;
	opt opts[] = {
		{ "delete", 1, &del, NULL }, { "reset", 1, &reset, NULL },
		{ "to", 1, &to, NULL }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	uint64_t pos = 0;
	if (del && reset)
		return cli_usage_error(c, "--delete and --reset cannot be combined");
	if (to && !reset)
		return cli_usage_error(c, "--to goes with --reset NAME");
	if (reset && !to)
		return cli_usage_error(c, "--reset %s needs --to POS (0 replays from the start)", reset);
	if (to && cli_u64(to, &pos))
		return cli_usage_error(c, "--to: expected a position (0 or more), got '%s'", to);
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	if (del || reset) {
		rc = del ? delete_consumer(c, st, del) : reset_consumer(c, st, reset, pos);
		eg_store_close(st);
		return rc;
	}
	eg_head h;
	int r = eg_store_head(st, &h);
	list_ctx l = { out_new(stdout, c->format), h.pos, st, 0 };
	if (r == EG_OK && (r = eg_consumer_list(st, has_schemas, &l)) == 1)
		r = EG_OK;
	if (r == EG_OK)
		r = eg_consumer_list(st, print_consumer, &l);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	rc = out_finish(l.o, rc);
	eg_store_close(st);
	return rc;
}

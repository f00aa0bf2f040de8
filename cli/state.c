/*
 * state.c — managing what a store keeps besides its log: `engram specs`
 * lists and drops the state of projections, windows and sessions under
 * idx/; `engram backup DIR` copies the store consistently while it is
 * written.
 */
#include "cli.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --unused without --older-than: states no query opened for 30 days. */
#define UNUSED_DEFAULT "30d"

typedef struct specs_ctx {
	out *o;
	int drop;            /* drop, not just list */
	int col;             /* rows carry "dropped" (--drop, --unused) */
	int dropped;         /* its value (0: --dry-run) */
	int64_t before;      /* --unused: only states last used before this */
	int unused;
	char (*hashes)[64];  /* --unused: the states to drop */
	size_t n, cap;
} specs_ctx;

static void print_state(specs_ctx *x, const eg_spec_state *s)
{
	out_row_begin(x->o);
	out_cstr(x->o, "kind", s->kind);
	out_cstr(x->o, "name", s->name);
	out_cstr(x->o, "hash", s->hash);
	out_u64(x->o, "bytes", s->bytes);
	out_time(x->o, "last_used", s->last_used);
	if (x->col)
		out_bool(x->o, "dropped", x->dropped);
	out_row_end(x->o);
}

static int on_state(void *ctx, const eg_spec_state *s)
{
	specs_ctx *x = ctx;
	if (x->unused && s->last_used >= x->before)
		return 0;
	print_state(x, s);
	return 0;
}

/* --unused: note the hash of each state not used since x->before. */
static int note_unused(void *ctx, const eg_spec_state *s)
{
	specs_ctx *x = ctx;
	if (s->last_used >= x->before)
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		char (*h)[64] = realloc(x->hashes, cap * sizeof *h);
		if (!h)
			return EG_ENOMEM;
		x->hashes = h;
		x->cap = cap;
	}
	snprintf(x->hashes[x->n++], 64, "%s", s->hash);
	return 0;
}

static int on_dropped(void *ctx, const eg_spec_state *s)
{
	print_state(ctx, s);
	return 0;
}

/* Drop every state noted; one in use by a query right now is used, so it
 * is left with a warning. */
static int drop_unused(eg_store *st, specs_ctx *x)
{
	int r = eg_spec_state_list(st, note_unused, x);
	if (r == EG_ENOMEM)
		return cli_fail(NULL, r);
	if (r)
		return cli_fail(st, r);
	for (size_t i = 0; i < x->n; i++) {
		r = eg_spec_state_drop(st, x->hashes[i], on_dropped, x);
		if (r == EG_ELOCKED || r == EG_ENOTFOUND)
			cli_warn("%s", eg_errmsg(st));
		else if (r)
			return cli_fail(st, r);
	}
	return EXIT_OK;
}

int cmd_specs(cli *c)
{
	const char *drop = NULL, *older = NULL;
	int unused = 0, dry = 0;
	opt opts[] = {
		{ "drop", 1, &drop, NULL }, { "unused", 0, NULL, &unused },
		{ "older-than", 1, &older, NULL }, { "dry-run", 0, NULL, &dry },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (drop && !strcmp(drop, "--unused")) {   /* engram specs --drop --unused */
		drop = NULL;
		unused = 1;
	}
	if (drop && unused)
		return cli_usage_error(c, "--drop HASH and --unused cannot be combined");
	if ((older || dry) && !unused)
		return cli_usage_error(c, "%s goes with --unused", older ? "--older-than" : "--dry-run");
	int64_t age = 0;
	const char *a = older ? older : UNUSED_DEFAULT;
	if (eg_duration_parse(a, strlen(a), &age) || age <= 0)
		return cli_usage_error(c, "--older-than: expected a duration such as 30d, 12h or "
				       "10m, got '%s'", a);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	specs_ctx x = { .before = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 - age,
			.unused = unused, .drop = (drop || unused) && !dry, .col = drop || unused,
			.dropped = !dry };
	eg_store *st = x.drop ? cli_open_write(c, 0, &rc) : cli_open_read(c, &rc);
	if (!st)
		return rc;
	x.o = out_new(stdout, c->format);
	if (drop) {
		int r = eg_spec_state_drop(st, drop, on_dropped, &x);
		rc = r ? cli_fail(st, r) : EXIT_OK;
	} else if (x.drop) {
		rc = drop_unused(st, &x);
	} else {
		int r = eg_spec_state_list(st, on_state, &x);
		rc = r ? cli_fail(st, r) : EXIT_OK;
	}
	rc = out_finish(x.o, rc);
	free(x.hashes);
	if (x.drop)
		cli_close(st, rc);
	else
		eg_store_close(st);
	return rc;
}

int cmd_backup(cli *c)
{
	int rc = cli_parse(c, NULL, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 1)
		return cli_usage_error(c, "backup needs the directory DIR of the copy");
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	eg_backup_result b;
	int r = eg_store_backup(st, c->pos[0], &b);
	if (r) {
		rc = cli_fail(st, r);
		eg_store_close(st);
		return rc;
	}
	char hex[65];
	eg_hash_hex(b.head.hash, hex);
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_u64(o, "pos", b.head.pos);
	out_cstr(o, "hash", hex);
	out_u64(o, "bytes", b.bytes);
	out_u64(o, "segments", b.segments);
	out_u64(o, "consumers", b.consumers);
	out_row_end(o);
	eg_store_close(st);
	return out_finish(o, EXIT_OK);
}

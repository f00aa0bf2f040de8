/*
 * project.c — engram project and engram history: state folded from events
 * by a projection spec, now, as of an event time, as known at a record
 * time (docs/PROJECTIONS.md).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cli_read_file(FILE *f, size_t max, size_t *n)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	while (b) {
		size_t r = fread(b + len, 1, cap - len - 1, f);
		len += r;
		if (len + 1 < cap)
			break;
		if (len >= max) {
			free(b);
			errno = EFBIG;
			return NULL;
		}
		char *nb = cap <= SIZE_MAX / 2 ? realloc(b, cap * 2) : NULL;
		if (!nb) {
			free(b);
			errno = ENOMEM;
			return NULL;
		}
		b = nb;
		cap *= 2;
	}
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	if (ferror(f) || len > max) {
		free(b);
		errno = ferror(f) ? EIO : EFBIG;
		return NULL;
	}
	/* a UTF-8 byte-order mark at the start (editors on Windows write
	 * one) is not part of the text */
	if (len >= 3 && !memcmp(b, "\xef\xbb\xbf", 3)) {
		len -= 3;
		memmove(b, b + 3, len);
	}
	b[len] = 0;
	*n = len;
	return b;
}

char *cli_read_path(const char *path, size_t max, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = cli_read_file(f, max, n);
	int e = errno;
	fclose(f);
	errno = e;
	return b;
}

char *cli_slurp(const char *path, size_t *n)
{
	return cli_read_path(path, 16u << 20, n);
}

char *cli_spec_text(const char *path, size_t *n, int *rc)
{
	char *json = cli_slurp(path, n);
	if (!json) {
		/* a path that names no readable file is the caller's mistake;
		 * running out of memory or an I/O error is not */
		*rc = errno == ENOMEM || errno == EIO ? EXIT_ERR : EXIT_USAGE;
		cli_error("%s: cannot read the spec: %s", path, strerror(errno));
	}
	return json;
}

int cli_spec_result(const char *path, int r, const char *err)
{
	if (r == EG_EINVAL) {
		cli_error("%s: %s", path, err);
		return EXIT_USAGE;
	}
	if (r) {
		cli_error("%s: %s", path, eg_strerror(r));
		return EXIT_ERR;
	}
	return 0;
}

/* A terminal progress bar on stderr while a projection folds the log. */
static void progress(void *ctx, uint64_t done, uint64_t total)
{
	const char *name = ctx;
	if (!total)
		return;
	int pct = (int)(done * 100 / total), bar = pct / 5;
	fprintf(stderr, "\rbuilding projection %s [%.*s%*s] %3d%% (%llu/%llu events)%s", name,
		bar, "####################", 20 - bar, "", pct, (unsigned long long)done,
		(unsigned long long)total, done >= total ? "\n" : "");
	fflush(stderr);
}

typedef struct pargs {
	const char *spec_path, *key, *as_of, *known_at;
	int explain;
	eg_proj_spec *spec;
	eg_proj_at at;
} pargs;

static int parse_args(cli *c, pargs *a, int need_key)
{
	opt opts[] = {
		{ "key", 1, &a->key, NULL }, { "as-of", 1, &a->as_of, NULL },
		{ "known-at", 1, &a->known_at, NULL }, { "explain", 0, NULL, &a->explain },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? -1 : rc;
	if (c->npos != 1)
		return cli_usage_error(c, "expected the projection spec file");
	if (need_key && !a->key)
		return cli_usage_error(c, "--key: expected the key whose history to print");
	a->spec_path = c->pos[0];
	a->at = (eg_proj_at){ EG_TIME_NONE, EG_TIME_NONE };
	if (a->as_of && (rc = cli_time(c, "as-of", a->as_of, &a->at.as_of)))
		return rc;
	if (a->known_at && (rc = cli_time(c, "known-at", a->known_at, &a->at.known_at)))
		return rc;
	size_t n = 0;
	char *json = cli_spec_text(a->spec_path, &n, &rc);
	if (!json)
		return rc;
	char err[512];
	int r = eg_proj_spec_parse(json, n, &a->spec, err, sizeof err);
	free(json);
	return cli_spec_result(a->spec_path, r, err);
}

typedef struct rows {
	out *o;
	int history;
} rows;

static int print_row(void *ctx, const eg_proj_row *r)
{
	rows *w = ctx;
	out_row_begin(w->o);
	out_json(w->o, "key", r->key, r->key_len);
	if (w->history) {
		out_time(w->o, "valid_from", r->valid_from);
		if (r->valid_to == EG_TIME_NONE)
			out_null(w->o, "valid_to");
		else
			out_time(w->o, "valid_to", r->valid_to);
	}
	for (size_t i = 0; i < r->nfields; i++)
		out_json(w->o, r->names[i], r->values[i], r->lens[i]);
	out_row_end(w->o);
	return out_error(w->o) ? EG_EIO : 0;
}

int cli_proj_rows(eg_proj *p, const char *key, const eg_proj_at *at, int history, out *o)
{
	rows w = { o, history };
	if (history)
		return eg_proj_history(p, key, strlen(key), at, print_row, &w);
	if (key)
		return eg_proj_get(p, key, strlen(key), at, print_row, &w);
	return eg_proj_scan(p, at, print_row, &w);
}

/* --explain: how the answer was found and what each field skipped, as
 * ndjson on stderr (stdout keeps only the rows). */
static void explain(const eg_proj *p)
{
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	fprintf(stderr, "{\"explain\":\"plan\",\"head_pos\":%llu,\"snapshot_pos\":%llu,"
		"\"folded_from_log\":%llu,\"snapshots_saved\":%llu,\"known_pos\":%llu,"
		"\"rows\":%llu,\"events\":%llu,\"chunks_merged\":%llu,\"entries_read\":%llu,"
		"\"events_without_key\":%llu",
		(unsigned long long)x.head_pos, (unsigned long long)x.snapshot_pos,
		(unsigned long long)x.folded, (unsigned long long)x.saved,
		(unsigned long long)x.known_pos, (unsigned long long)x.keys,
		(unsigned long long)x.events, (unsigned long long)x.chunks,
		(unsigned long long)x.entries, (unsigned long long)x.no_key);
	/* on the log path every event folded came from the log */
	cli_explain_path(stderr, x.path, x.path_why, x.from_columns,
			 x.path && !strcmp(x.path, "log") ? x.folded : x.from_log);
	fprintf(stderr, "}\n");
	for (size_t i = 0; i < x.nfields; i++)
		fprintf(stderr, "{\"explain\":\"field\",\"field\":\"%s\",\"used\":%llu,"
			"\"skipped_missing\":%llu,\"skipped_not_number\":%llu}\n",
			x.fields[i].name, (unsigned long long)x.fields[i].used,
			(unsigned long long)x.fields[i].missing,
			(unsigned long long)x.fields[i].not_number);
}

/* The spec's types that the store has never seen. */
static void warn_types(eg_store *st, const pargs *a)
{
	const char *types[64];
	size_t n = 0;
	while (n < 64 && (types[n] = eg_proj_spec_type(a->spec, n)))
		n++;
	cli_warn_types(st, a->spec_path, types, n);
}

/* Fields whose path none of the events they took had (or never as a
 * number), and a key no event had.  The counts come with the state, from
 * snapshots too, for the events the query covers. */
static void warn_paths(const eg_proj *p, const pargs *a)
{
	eg_proj_explain x;
	eg_proj_get_explain(p, &x);
	for (size_t i = 0; i < x.nfields; i++) {
		const eg_proj_field_stats *f = &x.fields[i];
		cli_warn_unused_path(a->spec_path, "field", f->name, "it took", f->path, f->used,
				     f->missing, f->not_number);
	}
	/* Without bounds every key is a row: none means no event had one. */
	int whole = !a->key && a->at.as_of == EG_TIME_NONE && a->at.known_at == EG_TIME_NONE;
	if (whole && x.keys == 0 && x.no_key)
		cli_warn("%s: none of the %llu events of its types has a value at its key, "
			 "so there are no rows", a->spec_path, (unsigned long long)x.no_key);
}

static int run(cli *c, int history)
{
	pargs a = { 0 };
	int rc = parse_args(c, &a, history);
	if (rc) {
		eg_proj_spec_free(a.spec);
		return rc < 0 ? EXIT_OK : rc;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		eg_proj_spec_free(a.spec);
		return rc;
	}
	warn_types(st, &a);
	eg_proj *p = NULL;
	int tty = isatty(STDERR_FILENO);
	int r = eg_proj_open(st, a.spec, tty ? progress : NULL,
			     (void *)eg_proj_spec_name(a.spec), &p);
	out *o = NULL;
	if (!r) {
		o = out_new(stdout, c->format);
		r = cli_proj_rows(p, a.key, &a.at, history, o);
		if (!r)
			warn_paths(p, &a);
		if (a.explain)
			explain(p);
	}
	rc = r ? cli_fail(st, r) : EXIT_OK;
	if (o)
		rc = out_finish(o, rc);
	eg_proj_close(p);
	cli_close(st, rc);
	eg_proj_spec_free(a.spec);
	return rc;
}

int cmd_project(cli *c)
{
	return run(c, 0);
}

int cmd_history(cli *c)
{
	return run(c, 1);
}

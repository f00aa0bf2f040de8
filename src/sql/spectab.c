/*
 * spectab.c — the table-valued functions whose columns come from a spec:
 * projection, history, windows and window_changelog.  SQLite fixes a
 * table's columns before it sees a call's arguments, so each spec gets a
 * table of its own, `CREATE VIRTUAL TABLE temp.bank USING
 * projection('examples/balances.json')`, with one column per field (or
 * group and aggregate); declare.c makes that table for a spec written as
 * the call's first argument.  The spec is a path to a spec file or the
 * spec's JSON text, read and parsed as the commands do.
 */
#include "funcs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <xxhash.h>

#include "json.h"
#include "os.h"
#include "proj.h"
#include "win.h"

/* The largest spec file read, as the commands' (cli_slurp). */
#define SPEC_MAX (16u << 20)

/* ------------------------------------------------------------ the spec */

/* A spec file's text (a UTF-8 byte-order mark dropped, as the commands
 * do), or NULL with errno set. */
static char *read_spec(const char *path, size_t *n)
{
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return NULL;
	off_t size = eg_os_file_size(fd);
	char *p = NULL;
	if (size > (off_t)SPEC_MAX)
		errno = EFBIG;
	else if (size >= 0 && (p = malloc((size_t)size + 1)) &&
		 eg_os_pread_all(fd, p, (size_t)size, 0)) {
		free(p);
		p = NULL;
	}
	int e = errno;
	eg_os.close(fd);
	errno = e;
	if (!p)
		return NULL;
	*n = (size_t)size;
	if (*n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
		*n -= 3;
		memmove(p, p + 3, *n);
	}
	return p;
}

static int is_json(const char *s)
{
	s += strspn(s, " \t\r\n");
	return *s == '{';
}

/* The JSON of the spec and the name its messages go under: "spec" for
 * JSON text, else the path (as cli_spec_result prints "PATH: …"). */
static int spec_json(eg_fn_vtab *vt, char **json, size_t *n, char **err)
{
	if (is_json(vt->spec_text)) {
		vt->label = sqlite3_mprintf("spec");
		*n = strlen(vt->spec_text);
		*json = malloc(*n + 1);
		if (*json)
			memcpy(*json, vt->spec_text, *n + 1);
		return vt->label && *json ? SQLITE_OK : SQLITE_NOMEM;
	}
	const char *dir = vt->c->spec_dir;
	if (dir && vt->spec_text[0] != '/')
		vt->label = sqlite3_mprintf("%s/%s", dir, vt->spec_text);
	else
		vt->label = sqlite3_mprintf("%s", vt->spec_text);
	if (!vt->label)
		return SQLITE_NOMEM;
	if (!(*json = read_spec(vt->label, n))) {
		*err = sqlite3_mprintf("%s: cannot read the spec: %s", vt->label, strerror(errno));
		return SQLITE_ERROR;
	}
	return SQLITE_OK;
}

/* The one argument of CREATE VIRTUAL TABLE … USING NAME(SPEC).  Two are
 * what declare.c asks for when a statement names two specs of one
 * function: the message says how to have both. */
static int one_spec(eg_fn_vtab *vt, int argc, const char *const *argv, char **err)
{
	const char *name = vt->def->name;
	if (argc == 5) {
		*err = sqlite3_mprintf("%s: one spec at a time, got %s and %s: for the second, "
				       "CREATE VIRTUAL TABLE temp.NAME USING %s(%s) and select "
				       "from NAME", name, argv[3], argv[4], name, argv[4]);
		return SQLITE_ERROR;
	}
	if (argc != 4) {
		*err = sqlite3_mprintf("%s: CREATE VIRTUAL TABLE %s USING %s(SPEC) takes one "
				       "argument, a path to a spec file or the spec's JSON text",
				       name, argv[2], name);
		return SQLITE_ERROR;
	}
	return (vt->spec_text = eg_sql_dequote(argv[3])) ? SQLITE_OK : SQLITE_NOMEM;
}

int eg_fn_spec_load(eg_fn_vtab *vt, int argc, const char *const *argv, char **err)
{
	char *json = NULL;
	size_t n = 0;
	int rc = one_spec(vt, argc, argv, err);
	if (rc == SQLITE_OK)
		rc = spec_json(vt, &json, &n, err);
	if (rc != SQLITE_OK) {
		free(json);
		return rc;
	}
	vt->c->specs_fp = XXH3_64bits_withSeed(json, n, vt->c->specs_fp + 1);
	char msg[512];
	int r = vt->def->spec->parse(json, n, &vt->spec, msg, sizeof msg);
	free(json);
	if (r == EG_ENOMEM)
		return SQLITE_NOMEM;
	if (r) {
		*err = sqlite3_mprintf("%s: %s", vt->label, r == EG_EINVAL ? msg : eg_strerror(r));
		return SQLITE_ERROR;
	}
	return SQLITE_OK;
}

/* A call's spec must be the one the table was declared with: the columns
 * are that spec's. */
static int check_spec(eg_fn_cursor *cur)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	size_t n;
	const char *s = eg_fn_arg_text(cur, 0, &n);
	if (!s || (n == strlen(vt->spec_text) && !memcmp(s, vt->spec_text, n)))
		return SQLITE_OK;
	return eg_fn_err(cur, "the spec '%s' is not the one table %s was declared with ('%s'): "
			 "CREATE VIRTUAL TABLE temp.NAME USING %s('%s') makes a table for it",
			 s, vt->table, vt->spec_text, vt->def->name, s);
}

/* ---------------------------------------------------------- spec kinds */

static int proj_parse(const char *json, size_t n, void **spec, char *err, size_t len)
{
	eg_proj_spec *s = NULL;
	int rc = eg_proj_spec_parse(json, n, &s, err, len);
	*spec = s;
	return rc;
}

static void proj_free(void *spec)
{
	eg_proj_spec_free(spec);
}

static size_t proj_names(const void *spec, const char **out, size_t max)
{
	const eg_proj_spec *s = spec;
	size_t n = 0;
	for (; n < (size_t)s->nf && n < max; n++)
		out[n] = s->f[n].name;
	return n;
}

static int win_parse(const char *json, size_t n, void **spec, char *err, size_t len)
{
	eg_win_spec *s = NULL;
	int rc = eg_win_spec_parse(json, n, &s, err, len);
	*spec = s;
	return rc;
}

static void win_free(void *spec)
{
	eg_win_spec_free(spec);
}

/* The group_by paths as written, then the aggregates: a row's order. */
static size_t win_names(const void *spec, const char **out, size_t max)
{
	const eg_win_spec *s = spec;
	size_t n = 0;
	for (int i = 0; i < s->ngroup && n < max; i++)
		out[n++] = s->group[i].text;
	for (int i = 0; i < s->na && n < max; i++)
		out[n++] = s->a[i].name;
	return n;
}

static const eg_fn_speckind PROJ_SPEC = { proj_parse, proj_free, proj_names };
static const eg_fn_speckind WIN_SPEC = { win_parse, win_free, win_names };

/* ------------------------------------------------- projection, history */

typedef struct proj_ctx {
	eg_fn_rows *r;
	int history;
} proj_ctx;

/* As engram project and engram history print a row. */
static int proj_row(void *ctx, const eg_proj_row *p)
{
	proj_ctx *k = ctx;
	eg_fn_row(k->r);
	eg_fn_json(k->r, p->key, p->key_len);
	if (k->history) {
		eg_fn_time(k->r, p->valid_from);
		if (p->valid_to == EG_TIME_NONE)
			eg_fn_null(k->r);
		else
			eg_fn_time(k->r, p->valid_to);
	}
	for (size_t i = 0; i < p->nfields; i++)
		eg_fn_json(k->r, p->values[i], p->lens[i]);
	return eg_fn_more(k->r);
}

/* Projections fold to the head when opened, as the command does; the
 * as_of and known_at arguments (after the key for history) bound them. */
static int run_proj(eg_fn_cursor *cur, int history)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	eg_proj_at at = { EG_TIME_NONE, EG_TIME_NONE };
	int t = history ? 2 : 1;
	int rc = check_spec(cur);
	if (rc != SQLITE_OK)
		return rc;
	if (vt->c->has_as_of)    /* the connection's bounds, unless the call gives its own */
		at.as_of = vt->c->as_of;
	if (vt->c->has_known_at)
		at.known_at = vt->c->known_at;
	if (eg_fn_arg_time(cur, t, &at.as_of) || eg_fn_arg_time(cur, t + 1, &at.known_at))
		return SQLITE_ERROR;
	eg_proj *p = NULL;
	proj_ctx k = { &cur->rows, history };
	int r = eg_proj_open(vt->c->st, vt->spec, NULL, NULL, &p);
	if (r == EG_OK && history) {
		size_t n;
		const char *key = eg_fn_arg_text(cur, 1, &n);
		r = eg_proj_history(p, key, n, &at, proj_row, &k);
	} else if (r == EG_OK) {
		r = eg_proj_scan(p, &at, proj_row, &k);
	}
	eg_proj_close(p);
	return eg_fn_done(cur, r);
}

static int run_projection(eg_fn_cursor *cur)
{
	return run_proj(cur, 0);
}

static int run_history(eg_fn_cursor *cur)
{
	return run_proj(cur, 1);
}

/* ------------------------------------------- windows, window_changelog */

/* The aggregates' values a revision replaced, as the object engram
 * windows --changelog prints in "previous" (NULL for a first result). */
static void previous(eg_fn_rows *r, const eg_win_row *w)
{
	if (!w->prev_values) {
		eg_fn_null(r);
		return;
	}
	buf b = { 0 };
	int bad = buf_add(&b, "{", 1);
	for (size_t i = 0; i < w->naggs && !bad; i++) {
		size_t n = strlen(w->agg_names[i]);
		bad = buf_reserve(&b, 6 * n + 4 + w->prev_lens[i]);
		if (bad)
			break;
		if (i)
			b.p[b.n++] = ',';
		b.n += eg_json_quote(w->agg_names[i], n, b.p + b.n);
		b.p[b.n++] = ':';
		bad = buf_add(&b, w->prev_values[i], w->prev_lens[i]);
	}
	if (bad || buf_add(&b, "}", 1))
		r->err = 1;
	else
		eg_fn_text(r, b.p, b.n);
	free(b.p);
}

typedef struct win_ctx {
	eg_fn_rows *r;
	int changelog;
} win_ctx;

/* As engram windows prints a row of the table or of the changelog. */
static int win_row(void *ctx, const eg_win_row *w)
{
	win_ctx *k = ctx;
	eg_fn_rows *r = k->r;
	eg_fn_row(r);
	eg_fn_time(r, w->start);
	eg_fn_time(r, w->end);
	for (size_t i = 0; i < w->ngroups; i++)
		eg_fn_json(r, w->groups[i], w->group_lens[i]);
	for (size_t i = 0; i < w->naggs; i++)
		eg_fn_json(r, w->values[i], w->lens[i]);
	eg_fn_int(r, (int64_t)w->revision);
	eg_fn_int(r, w->final);
	eg_fn_int(r, (int64_t)w->too_late);
	if (k->changelog) {
		previous(r, w);
		eg_fn_int(r, (int64_t)w->pos);
		eg_fn_int(r, w->retracted);
	}
	return eg_fn_more(r);
}

/* The run taken up to the statement's snapshot; then the table as
 * reported at the snapshot (or at the position recorded by
 * as_reported_at, as the command's --as-reported-at), or the changelog
 * up to it. */
static int run_win(eg_fn_cursor *cur, int changelog)
{
	eg_fn_vtab *vt = eg_fn_vt(cur);
	eg_store *st = vt->c->st;
	int64_t t = 0;
	int rc = check_spec(cur);
	if (rc != SQLITE_OK)
		return rc;
	if (eg_fn_arg_time(cur, 1, &t))
		return SQLITE_ERROR;
	uint64_t snap, at;
	int r = eg_sql_snapshot(vt->c, &snap);
	at = snap;
	if (r == EG_OK && cur->args[1] && (r = eg_known_pos(st, t, &at)) == EG_OK && at > snap)
		at = snap;
	if (r || !at)             /* nothing recorded by then: an empty report */
		return eg_fn_done(cur, r);
	eg_win *w = NULL;
	win_ctx k = { &cur->rows, changelog };
	uint64_t from = 0;
	r = eg_win_open(st, vt->spec, 0, &w);
	if (r == EG_OK)
		r = eg_win_run(w, snap);
	if (r == EG_OK && changelog)
		r = eg_win_changes(w, &from, snap, win_row, NULL, &k);
	else if (r == EG_OK)
		r = eg_win_table(w, at, 0, win_row, &k);
	eg_win_close(w);
	return eg_fn_done(cur, r);
}

static int run_windows(eg_fn_cursor *cur)
{
	return run_win(cur, 0);
}

static int run_changelog(eg_fn_cursor *cur)
{
	return run_win(cur, 1);
}

/* -------------------------------------------------------- the functions */

static const char *const PROJ_HEAD[] = { "key", NULL };
static const char *const HIST_HEAD[] = { "key", "valid_from", "valid_to", NULL };
static const char *const WIN_HEAD[] = { "window_start", "window_end", NULL };
static const char *const WIN_TAIL[] = { "revision", "final", "too_late", NULL };
static const char *const LOG_TAIL[] = {
	"revision", "final", "too_late", "previous", "pos", "retracted", NULL,
};

#define SPEC_ARG { "spec", "spec", 0, -1 }

const eg_fn_def eg_fn_projection = {
	"projection", "projection(spec [, as_of [, known_at]])", PROJ_HEAD, NULL,
	{ SPEC_ARG, { "as_of", "as_of", 0, -1 }, { "known_at", "known_at", 0, -1 } }, 3,
	&PROJ_SPEC, NULL, run_projection,
};
/* The key argument's column cannot be called key (a column is); WHERE
 * key = … gives it as well. */
const eg_fn_def eg_fn_history = {
	"history", "history(spec, key [, as_of [, known_at]])", HIST_HEAD, NULL,
	{ SPEC_ARG, { "key", "key_arg", 1, 0 }, { "as_of", "as_of", 0, -1 },
	  { "known_at", "known_at", 0, -1 } }, 4,
	&PROJ_SPEC, NULL, run_history,
};
const eg_fn_def eg_fn_windows = {
	"windows", "windows(spec [, as_reported_at])", WIN_HEAD, WIN_TAIL,
	{ SPEC_ARG, { "as_reported_at", "as_reported_at", 0, -1 } }, 2,
	&WIN_SPEC, NULL, run_windows,
};
const eg_fn_def eg_fn_changelog = {
	"window_changelog", "window_changelog(spec)", WIN_HEAD, LOG_TAIL,
	{ SPEC_ARG }, 1,
	&WIN_SPEC, "previous", run_changelog,
};

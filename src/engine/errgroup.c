/*
 * errgroup.c — error groups (docs/ERRORS.md): every error event's
 * fingerprint (src/util/errfp.c) and what the queries filter and count
 * (time, position, service, release, actor, session), one occurrence per
 * event, kept in idx/errors/vN/groups for version N of the grouping.
 * An open reads the checkpoint, folds the error events appended since and
 * saves it again; a query aggregates the occurrences in memory, which for
 * a million of them is a few arrays walked once (hash sets for the
 * distinct actors and sessions, a counting sort by group for the gaps).
 */
#include "derived.h"
#include "errfp.h"
#include "internal.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define HOUR_US (3600LL * 1000000)
#define DAY_US (24 * HOUR_US)
#define GROUPING_FILE "errors.grouping"

/* ------------------------------------------------------------ strings */

/* Texts by dense id (0: the empty text), each NUL-terminated in text.
 * The hash index is built only when a text is added: a query reads ids
 * and never needs it. */
typedef struct strtab {
	buf text;
	uint32_t *off;
	uint32_t n, cap;
	uint32_t *slot;               /* id + 1, 0: empty */
	uint32_t scap;
} strtab;

static const char *st_text(const strtab *t, uint32_t id)
{
	return t->text.p + t->off[id];
}

static uint32_t st_len(const strtab *t, uint32_t id)
{
	return t->off[id + 1] - t->off[id] - 1;
}

static void st_free(strtab *t)
{
	free(t->text.p);
	free(t->off);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

static void st_place(strtab *t, uint32_t id)
{
	uint64_t h = XXH3_64bits(st_text(t, id), st_len(t, id));
	uint32_t i = (uint32_t)h & (t->scap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->scap - 1);
	t->slot[i] = id + 1;
}

static int st_rehash(strtab *t)
{
	uint32_t cap = 1024;
	while (cap < 2 * t->n + 2)
		cap *= 2;
	uint32_t *s = calloc(cap, sizeof *s);
	if (!s)
		return -1;
	free(t->slot);
	t->slot = s;
	t->scap = cap;
	for (uint32_t id = 0; id < t->n; id++)
		st_place(t, id);
	return 0;
}

/* Append a text without looking (the table's own order); -1 if no memory. */
static int st_push(strtab *t, const char *s, size_t n)
{
	size_t c = t->cap;
	if (t->text.n + n + 1 > UINT32_MAX || buf_grow(&t->off, &c, (size_t)t->n + 2, 4))
		return -1;
	t->cap = (uint32_t)c;
	if (buf_add(&t->text, s, n) || buf_add(&t->text, "", 1))
		return -1;
	t->off[t->n + 1] = (uint32_t)t->text.n;
	t->n++;
	return 0;
}

static int st_init(strtab *t)
{
	memset(t, 0, sizeof *t);
	size_t c = 0;
	if (buf_grow(&t->off, &c, 2, 4))
		return -1;
	t->cap = (uint32_t)c;
	t->off[0] = 0;
	return st_push(t, "", 0);
}

/* The id of text s, or UINT32_MAX when absent. */
static uint32_t st_find(strtab *t, const char *s, size_t n)
{
	if (!n)
		return 0;
	if (!t->scap && st_rehash(t))
		return UINT32_MAX - 1;
	uint64_t h = XXH3_64bits(s, n);
	for (uint32_t i = (uint32_t)h & (t->scap - 1); t->slot[i]; i = (i + 1) & (t->scap - 1)) {
		uint32_t id = t->slot[i] - 1;
		if (st_len(t, id) == n && !memcmp(st_text(t, id), s, n))
			return id;
	}
	return UINT32_MAX;
}

/* The id of text s, or UINT32_MAX when absent, without building the
 * index when there is none: a query's one lookup is cheaper as a scan. */
static uint32_t st_lookup(strtab *t, const char *s, size_t n)
{
	if (t->scap || !n)
		return st_find(t, s, n);
	for (uint32_t id = 1; id < t->n; id++)
		if (st_len(t, id) == n && !memcmp(st_text(t, id), s, n))
			return id;
	return UINT32_MAX;
}

/* The id of text s, added if new; UINT32_MAX when out of memory. */
static uint32_t st_get(strtab *t, const char *s, size_t n)
{
	uint32_t id = st_find(t, s, n);
	if (id == UINT32_MAX - 1)
		return UINT32_MAX;
	if (id != UINT32_MAX)
		return id;
	if (st_push(t, s, n))
		return UINT32_MAX;
	id = t->n - 1;
	if (2 * t->n + 2 > t->scap) {
		if (st_rehash(t))
			return UINT32_MAX;
	} else {
		st_place(t, id);
	}
	return id;
}

/* ------------------------------------------------------------ the state */

/* One occurrence per error event, as arrays. */
typedef struct occs {
	uint32_t *gid, *svc, *rel, *actor, *sess;
	int64_t *time;
	uint64_t *pos;
	size_t n, cap;
} occs;

struct eg_errors {
	eg_store *st;
	int version;
	eg_ds ds;
	uint64_t through, ident;      /* the log position covered, its event's ident */
	strtab str;                   /* titles, types, services, releases, actors, sessions */
	strtab fps;                   /* fingerprints: the group id is the id (from 1) */
	uint32_t *title, *type;       /* by group id */
	size_t gcap;
	occs o;
	eg_errors_explain x;
	buf scratch;
};

static int occ_grow(occs *o)
{
	if (o->n < o->cap)
		return 0;
	size_t c = o->cap ? o->cap * 2 : 4096;
	void *p[7] = { o->gid, o->svc, o->rel, o->actor, o->sess, o->time, o->pos };
	size_t sz[7] = { 4, 4, 4, 4, 4, 8, 8 };
	for (int i = 0; i < 7; i++) {
		void *q = realloc(p[i], c * sz[i]);
		if (!q)
			return -1;
		p[i] = q;
		switch (i) {
		case 0: o->gid = q; break;
		case 1: o->svc = q; break;
		case 2: o->rel = q; break;
		case 3: o->actor = q; break;
		case 4: o->sess = q; break;
		case 5: o->time = q; break;
		case 6: o->pos = q; break;
		}
	}
	o->cap = c;
	return 0;
}

static void occ_free(occs *o)
{
	free(o->gid);
	free(o->svc);
	free(o->rel);
	free(o->actor);
	free(o->sess);
	free(o->time);
	free(o->pos);
	memset(o, 0, sizeof *o);
}

static void state_free(eg_errors *e)
{
	st_free(&e->str);
	st_free(&e->fps);
	free(e->title);
	free(e->type);
	e->title = e->type = NULL;
	e->gcap = 0;
	occ_free(&e->o);
	e->through = e->ident = 0;
}

/* Empty: the empty text, and group id 0 (none) with its title and type. */
static int state_init(eg_errors *e)
{
	state_free(e);
	if (st_init(&e->str) || st_init(&e->fps) || !(e->title = calloc(1, 4)) ||
	    !(e->type = calloc(1, 4)))
		return -1;
	e->gcap = 1;
	return 0;
}

/* ------------------------------------------------------------ the file
 *
 * groups: "EGERRG1\0", u32 version, u32 0, u64 through, u64 ident,
 * u32 nstr, u32 nfps, u64 nocc, u64 text bytes of str, u64 of fps; then
 * str's offsets (nstr + 1 u32) and text, fps' likewise, title and type
 * (u32 by group id, nfps of each), the occurrences' arrays (gid, svc,
 * rel, actor, sess u32; time i64; pos u64, nocc each), and the XXH3-64
 * of all that (eg_ds_write). */

#define MAGIC "EGERRG1"
#define HDR 56

static int put_strtab(buf *b, const strtab *t)
{
	return buf_add(b, t->off, (t->n + 1) * 4) || buf_add(b, t->text.p, t->text.n);
}

static int save(eg_errors *e)
{
	buf b = { 0 };
	unsigned char h[HDR] = { 0 };
	uint32_t v = (uint32_t)e->version, ns = e->str.n, nf = e->fps.n;
	uint64_t no = e->o.n, ts = e->str.text.n, tf = e->fps.text.n;
	memcpy(h, MAGIC, 8);
	memcpy(h + 8, &v, 4);
	memcpy(h + 16, &e->through, 8);
	memcpy(h + 24, &e->ident, 8);
	memcpy(h + 32, &ns, 4);
	memcpy(h + 36, &nf, 4);
	memcpy(h + 40, &no, 8);
	memcpy(h + 48, &ts, 4);
	memcpy(h + 52, &tf, 4);
	int bad = ts > UINT32_MAX || tf > UINT32_MAX || buf_add(&b, h, HDR) ||
		  put_strtab(&b, &e->str) || put_strtab(&b, &e->fps) ||
		  buf_add(&b, e->title, nf * 4) || buf_add(&b, e->type, nf * 4) ||
		  buf_add(&b, e->o.gid, no * 4) || buf_add(&b, e->o.svc, no * 4) ||
		  buf_add(&b, e->o.rel, no * 4) || buf_add(&b, e->o.actor, no * 4) ||
		  buf_add(&b, e->o.sess, no * 4) || buf_add(&b, e->o.time, no * 8) ||
		  buf_add(&b, e->o.pos, no * 8);
	if (bad) {
		free(b.p);
		errno = ENOMEM;
		return -1;
	}
	int r = eg_ds_write(&e->ds, "groups", b.p, b.n);
	free(b.p);
	return r;
}

/* A strtab read from r: its offsets must rise and end at its text's size,
 * each text NUL-terminated. */
static int get_strtab(bread *r, strtab *t, uint32_t n, uint64_t tn)
{
	const unsigned char *off = bread_get(r, ((uint64_t)n + 1) * 4);
	const unsigned char *text = bread_get(r, tn);
	if (!off || !text || !n)
		return -1;
	st_free(t);
	t->off = malloc(((size_t)n + 1) * 4);
	t->text.p = malloc(tn ? tn : 1);
	if (!t->off || !t->text.p)
		return -1;
	memcpy(t->off, off, ((size_t)n + 1) * 4);
	memcpy(t->text.p, text, tn);
	t->text.n = t->text.cap = tn;
	t->n = t->cap = n;
	if (t->off[0] != 0 || t->off[n] != tn || t->off[1] != 1)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (t->off[i + 1] <= t->off[i] || t->text.p[t->off[i + 1] - 1] != '\0')
			return -1;
	t->cap = n;               /* st_push grows it from here */
	return 0;
}

static int get_u32s(bread *r, uint32_t **dst, uint64_t n, uint32_t below)
{
	const unsigned char *p = bread_get(r, n * 4);
	if (!p)
		return -1;
	free(*dst);
	if (!(*dst = malloc(n ? n * 4 : 4)))
		return -1;
	memcpy(*dst, p, n * 4);
	for (uint64_t i = 0; i < n; i++)
		if ((*dst)[i] >= below)
			return -1;
	return 0;
}

static int get_raw(bread *r, void *dst, uint64_t n)
{
	const unsigned char *p = bread_get(r, n);
	if (!p)
		return -1;
	memcpy(dst, p, n);
	return 0;
}

/* The checkpoint into e: EG_OK, or an EG_DS_* (a damaged one leaves e
 * empty). */
static int load(eg_errors *e)
{
	eg_ds_view v;
	int r = eg_ds_read(&e->ds, "groups", EG_DS_MAP, HDR + 8, eg_ds_tail_sum_ok, NULL, &v);
	if (r)
		return r;
	bread b = { v.p, v.p + v.n - 8, 0 };
	const unsigned char *h = bread_get(&b, HDR);
	uint32_t ver, ns, nf, ts, tf;
	uint64_t no;
	memcpy(&ver, h + 8, 4);
	memcpy(&ns, h + 32, 4);
	memcpy(&nf, h + 36, 4);
	memcpy(&no, h + 40, 8);
	memcpy(&ts, h + 48, 4);
	memcpy(&tf, h + 52, 4);
	int bad = memcmp(h, MAGIC, 8) || ver != (uint32_t)e->version ||
		  no > (uint64_t)(b.end - b.p) / 40;
	if (!bad) {
		memcpy(&e->through, h + 16, 8);
		memcpy(&e->ident, h + 24, 8);
		e->o.n = 0;
		bad = get_strtab(&b, &e->str, ns, ts) || get_strtab(&b, &e->fps, nf, tf) ||
		      get_u32s(&b, &e->title, nf, ns) || get_u32s(&b, &e->type, nf, ns);
		e->gcap = nf;
	}
	if (!bad && no) {
		size_t c = no;
		bad = !(e->o.gid = malloc(c * 4)) || !(e->o.svc = malloc(c * 4)) ||
		      !(e->o.rel = malloc(c * 4)) || !(e->o.actor = malloc(c * 4)) ||
		      !(e->o.sess = malloc(c * 4)) || !(e->o.time = malloc(c * 8)) ||
		      !(e->o.pos = malloc(c * 8));
		e->o.cap = c;
		bad = bad || get_raw(&b, e->o.gid, no * 4) || get_raw(&b, e->o.svc, no * 4) ||
		      get_raw(&b, e->o.rel, no * 4) || get_raw(&b, e->o.actor, no * 4) ||
		      get_raw(&b, e->o.sess, no * 4) || get_raw(&b, e->o.time, no * 8) ||
		      get_raw(&b, e->o.pos, no * 8);
		e->o.n = no;
		for (uint64_t i = 0; !bad && i < no; i++)
			bad = e->o.gid[i] == 0 || e->o.gid[i] >= nf || e->o.svc[i] >= ns ||
			      e->o.rel[i] >= ns || e->o.actor[i] >= ns || e->o.sess[i] >= ns ||
			      e->o.pos[i] > e->through || (i && e->o.pos[i] <= e->o.pos[i - 1]);
	}
	bad = bad || b.bad || b.p != b.end;
	eg_ds_view_free(&v);
	if (bad) {
		state_init(e);
		return EG_DS_DAMAGED;
	}
	return EG_OK;
}

/* ------------------------------------------------------------ folding */

/* A string member of data, decoded into e->scratch when it has escapes;
 * absent or not a string: length 0. */
static void member(eg_errors *e, const json_span *data, const char *name, size_t nn,
		   const char **p, size_t *n)
{
	json_span v;
	*p = "";
	*n = 0;
	if (!eg_json_member(data, name, nn, &v) || v.type != JSON_STRING)
		return;
	if (eg_json_string_is_plain(&v)) {
		*p = v.p + 1;
		*n = v.n - 2;
		return;
	}
	e->scratch.n = 0;
	if (buf_reserve(&e->scratch, v.n))
		return;
	*n = eg_json_string_decode(&v, e->scratch.p);
	*p = e->scratch.p;
}

static int fold_one(eg_errors *e, const eg_event *ev)
{
	char fp[33];
	json_span d = { ev->data, ev->data_len, JSON_OBJECT };
	if (!ev->data_len || ev->data[0] != '{')
		d = (json_span){ "{}", 2, JSON_OBJECT };
	int r = eg_err_fingerprint(e->version, ev->type, ev->type_len, d.p, d.n, fp, NULL);
	if (r < 0)
		return EG_ENOMEM;
	uint32_t g = st_get(&e->fps, fp, 32);
	if (g == UINT32_MAX || occ_grow(&e->o))
		return EG_ENOMEM;
	if (g >= e->gcap) {
		/* a new group: its title and type */
		size_t c = e->gcap, c2 = e->gcap;
		if (buf_grow(&e->title, &c, (size_t)g + 1, 4) || buf_grow(&e->type, &c2, (size_t)g + 1, 4))
			return EG_ENOMEM;
		buf t = { 0 };
		if (eg_err_fingerprint(e->version, ev->type, ev->type_len, d.p, d.n, fp, &t) < 0) {
			free(t.p);
			return EG_ENOMEM;
		}
		e->title[g] = st_get(&e->str, t.p ? t.p : "", t.n);
		e->type[g] = st_get(&e->str, ev->type, ev->type_len);
		free(t.p);
		e->gcap = (size_t)g + 1;
		e->title[0] = e->type[0] = 0;
		if (e->title[g] == UINT32_MAX || e->type[g] == UINT32_MAX)
			return EG_ENOMEM;
	}
	const char *p;
	size_t n;
	size_t i = e->o.n;
	member(e, &d, "service", 7, &p, &n);
	e->o.svc[i] = st_get(&e->str, p, n);
	member(e, &d, "release", 7, &p, &n);
	e->o.rel[i] = st_get(&e->str, p, n);
	e->o.actor[i] = st_get(&e->str, ev->actor, ev->actor_len);
	e->o.sess[i] = st_get(&e->str, ev->session, ev->session_len);
	if (e->o.svc[i] == UINT32_MAX || e->o.rel[i] == UINT32_MAX ||
	    e->o.actor[i] == UINT32_MAX || e->o.sess[i] == UINT32_MAX)
		return EG_ENOMEM;
	e->o.gid[i] = g;
	e->o.time[i] = ev->time;
	e->o.pos[i] = ev->pos;
	e->o.n++;
	return EG_OK;
}

/* Fold the error events in (e->through, head]. */
static int fold(eg_errors *e, uint64_t head)
{
	if (head <= e->through)
		return EG_OK;
	eg_iter *it;
	eg_filter f = { .from = e->through + 1, .to = head, .kinds = 1u << EG_KIND_ERROR };
	int rc = eg_iter_new(e->st, &it, &f);
	if (rc)
		return rc;
	eg_iter_lazy_ids(it);
	const eg_event *ev;
	while ((rc = eg_iter_next(it, &ev)) == EG_OK) {
		if (eg_reserved_stream(ev->stream, ev->stream_len))
			continue;
		if ((rc = fold_one(e, ev)))
			break;
		e->x.events_read++;
	}
	eg_iter_free(it);
	if (rc == EG_ENOMEM)
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	if (rc != EG_END)
		return rc;
	e->through = head;
	return eg_store_event_ident(e->st, head, &e->ident);
}

/* ------------------------------------------------------------ opening */

/* The current version, and whether errors.grouping is absent. */
static int grouping(eg_store *st, int *version, int *absent)
{
	char path[PATH_MAX], text[16] = { 0 };
	snprintf(path, sizeof path, "%s/%s", st->dir, GROUPING_FILE);
	*version = EG_ERRORS_LATEST;
	*absent = 0;
	int fd = eg_os.open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0 && errno == ENOENT)
		*absent = 1;
	if (fd < 0)
		return *absent ? EG_OK : eg_st_errno(st, "cannot open %s", path);
	ssize_t n = eg_os.read(fd, text, sizeof text - 1);
	eg_os.close(fd);
	if (n < 0)
		return eg_st_errno(st, "cannot read %s", path);
	char *end;
	long v = strtol(text, &end, 10);
	if (end == text || (*end && *end != '\n') || v < 1 || v > EG_ERRORS_LATEST)
		return eg_st_err(st, EG_ECORRUPT, "%s: expected a grouping version from 1 to %d",
				 path, EG_ERRORS_LATEST);
	*version = (int)v;
	return EG_OK;
}

int eg_errors_grouping(eg_store *st, int *version)
{
	int absent;
	return grouping(st, version, &absent);
}

int eg_errors_set_grouping(eg_store *st, int version)
{
	if (version < 1 || version > EG_ERRORS_LATEST)
		return eg_st_err(st, EG_EINVAL, "grouping version %d: expected 1 to %d", version,
				 EG_ERRORS_LATEST);
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", version);
	if (eg_os_write_file_atomic(st->dir, GROUPING_FILE, text, (size_t)n))
		return eg_st_errno(st, "cannot write %s/%s", st->dir, GROUPING_FILE);
	return EG_OK;
}

int eg_errors_open(eg_store *st, int version, eg_errors **out)
{
	*out = NULL;
	int rc;
	int absent = 0;
	if (!version && (rc = grouping(st, &version, &absent)))
		return rc;
	/* The first grouping of a store is pinned, so that a newer engram
	 * with a newer algorithm does not regroup it unasked. */
	if (absent && eg_errors_set_grouping(st, version))
		eg_st_note_errno(st, "cannot write %s/%s", st->dir, GROUPING_FILE);
	if (version < 1 || version > EG_ERRORS_LATEST)
		return eg_st_err(st, EG_EINVAL, "grouping version %d: expected 1 to %d", version,
				 EG_ERRORS_LATEST);
	eg_head h;
	if ((rc = eg_store_head(st, &h)))
		return rc;
	eg_errors *e = calloc(1, sizeof *e);
	if (!e || (e->st = st, e->version = version, state_init(e))) {
		if (e)
			state_free(e);
		free(e);
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	}
	e->x.version = version;
	char name[8], spec[64];
	snprintf(name, sizeof name, "v%d", version);
	int sn = snprintf(spec, sizeof spec, "{\"errors\":{\"grouping\":%d}}", version);
	eg_ds_open(st, "errors", name, 0, spec, (size_t)sn, &e->ds);
	if (e->ds.lockfd >= 0 && eg_ds_lock(st, &e->ds)) {
		rc = eg_st_errno(st, "cannot lock %s", e->ds.dir);
		goto fail;
	}
	int r = e->ds.lockfd >= 0 ? load(e) : EG_DS_ABSENT;
	if (r == EG_DS_IOERR)
		eg_st_note_errno(st, "cannot read %s/groups (rebuilding it)", e->ds.dir);
	uint64_t id;
	if (r == EG_OK && e->through &&
	    (e->through > h.pos || eg_store_event_ident(st, e->through, &id) || id != e->ident)) {
		/* made from another log (cut back and appended anew) */
		state_init(e);
		r = EG_DS_DAMAGED;
	}
	e->x.rebuilt = r == EG_DS_DAMAGED;
	e->x.resumed_from = r == EG_OK ? e->through : 0;
	uint64_t before = e->through;
	if ((rc = fold(e, h.pos)))
		goto fail;
	if (e->ds.lockfd >= 0 && (r != EG_OK || e->through != before) && save(e))
		eg_st_note_errno(st, "cannot write %s/groups", e->ds.dir);
	eg_ds_unlock(&e->ds);
	e->x.through = e->through;
	e->x.groups = e->fps.n - 1;
	e->x.occurrences = e->o.n;
	*out = e;
	return EG_OK;
fail:
	eg_ds_unlock(&e->ds);
	eg_errors_close(e);
	return rc;
}

void eg_errors_close(eg_errors *e)
{
	if (!e)
		return;
	eg_ds_close(&e->ds);
	state_free(e);
	free(e->scratch.p);
	free(e);
}

void eg_errors_get_explain(const eg_errors *e, eg_errors_explain *x)
{
	*x = e->x;
}

/* ------------------------------------------------------------ queries */

/* The occurrences q takes, as indexes into e->o (malloc'd, *n of them). */
static int select_occ(eg_errors *e, const eg_errors_query *q, uint32_t **out, size_t *n)
{
	uint32_t svc = 0, rel = 0;
	*n = 0;
	*out = malloc((e->o.n ? e->o.n : 1) * sizeof **out);
	if (!*out)
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	/* a text no event has: nothing matches */
	if (q->service && !(svc = st_lookup(&e->str, q->service, strlen(q->service))))
		svc = UINT32_MAX;
	if (q->release && !(rel = st_lookup(&e->str, q->release, strlen(q->release))))
		rel = UINT32_MAX;
	if (svc == UINT32_MAX - 1 || rel == UINT32_MAX - 1)
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < e->o.n; i++) {
		if ((q->service && e->o.svc[i] != svc) || (q->release && e->o.rel[i] != rel) ||
		    (q->has_since && e->o.time[i] < q->since) ||
		    (q->has_until && e->o.time[i] > q->until) || (q->at && e->o.pos[i] > q->at))
			continue;
		(*out)[k++] = (uint32_t)i;
	}
	*n = k;
	return EG_OK;
}

typedef struct gagg {
	uint64_t count, users, sessions;
	int64_t first, last;
	uint32_t first_rel;
	uint64_t first_pos;
	int regressed;
	uint32_t trend[EG_ERRORS_TREND];
} gagg;

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* What needs each group's occurrences together: the distinct actors and
 * sessions (a mark per text says which group counted it last, so the
 * groups are walked one after the other) and regressed (the times in
 * order, a gap of quiet or more).  The occurrences are put in group order
 * by a counting sort; a group's times are sorted only when they are not
 * already (the log is mostly in time order). */
static int per_group(eg_errors *e, const uint32_t *sel, size_t n, gagg *a, int64_t quiet)
{
	size_t ng = e->fps.n;
	size_t *end = calloc(ng + 1, sizeof *end);
	uint32_t *by = malloc((n ? n : 1) * sizeof *by);
	uint32_t *mark_a = calloc(e->str.n, sizeof *mark_a), *mark_s = calloc(e->str.n, sizeof *mark_s);
	int64_t *t = malloc((n ? n : 1) * sizeof *t);
	int rc = -1;
	if (!end || !by || !mark_a || !mark_s || !t)
		goto out;
	for (size_t g = 0; g < ng; g++)
		end[g + 1] = end[g] + a[g].count;
	for (size_t k = 0; k < n; k++)
		by[end[e->o.gid[sel[k]]]++] = sel[k];
	/* end[g] is now the end of g's run */
	size_t from = 0;
	for (uint32_t g = 0; g < ng; g++) {
		size_t to = end[g];
		int sorted = 1;
		for (size_t k = from; k < to; k++) {
			uint32_t i = by[k], ac = e->o.actor[i], se = e->o.sess[i];
			if (ac && mark_a[ac] != g) {
				mark_a[ac] = g;
				a[g].users++;
			}
			if (se && mark_s[se] != g) {
				mark_s[se] = g;
				a[g].sessions++;
			}
			t[k] = e->o.time[i];
			sorted &= k == from || t[k] >= t[k - 1];
		}
		if (!sorted)
			qsort(t + from, to - from, sizeof *t, cmp_i64);
		for (size_t k = from + 1; k < to && !a[g].regressed; k++)
			a[g].regressed = t[k] - t[k - 1] >= quiet;
		from = to;
	}
	rc = 0;
out:
	free(end);
	free(by);
	free(mark_a);
	free(mark_s);
	free(t);
	return rc;
}

typedef struct order_ctx {
	const gagg *a;
	const strtab *fps;
} order_ctx;

static order_ctx ord;

static int cmp_group(const void *x, const void *y)
{
	uint32_t g = *(const uint32_t *)x, h = *(const uint32_t *)y;
	const gagg *a = &ord.a[g], *b = &ord.a[h];
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->last != b->last)
		return a->last > b->last ? -1 : 1;
	return strcmp(st_text(ord.fps, g), st_text(ord.fps, h));
}

int eg_errors_groups(eg_errors *e, const eg_errors_query *q,
		     int (*fn)(void *ctx, const eg_error_group *g), void *ctx)
{
	uint32_t *sel, *ids = NULL;
	size_t n, ng = e->fps.n;
	int rc = select_occ(e, q, &sel, &n);
	if (rc)
		return rc;
	gagg *a = calloc(ng, sizeof *a);
	if (!a || !(ids = malloc(ng * sizeof *ids))) {
		rc = eg_st_err(e->st, EG_ENOMEM, "out of memory");
		goto out;
	}
	int64_t end = INT64_MIN;
	for (size_t k = 0; k < n; k++)
		if (e->o.time[sel[k]] > end)
			end = e->o.time[sel[k]];
	if (q->has_until)
		end = q->until;
	int64_t tstart = n || q->has_until ? (floor_div(end, HOUR_US) - (EG_ERRORS_TREND - 1)) * HOUR_US : 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = sel[k];
		gagg *g = &a[e->o.gid[i]];
		int64_t t = e->o.time[i];
		if (!g->count || t < g->first || (t == g->first && e->o.pos[i] < g->first_pos)) {
			g->first = t;
			g->first_rel = e->o.rel[i];
			g->first_pos = e->o.pos[i];
		}
		if (!g->count || t > g->last)
			g->last = t;
		g->count++;
		if (t >= tstart) {
			int64_t b = (t - tstart) / HOUR_US;
			if (b < EG_ERRORS_TREND)
				g->trend[b]++;
		}
	}
	if (per_group(e, sel, n, a, q->quiet_us > 0 ? q->quiet_us : 7 * DAY_US)) {
		rc = eg_st_err(e->st, EG_ENOMEM, "out of memory");
		goto out;
	}
	size_t m = 0;
	for (uint32_t g = 1; g < ng; g++)
		if (a[g].count)
			ids[m++] = g;
	ord = (order_ctx){ a, &e->fps };
	qsort(ids, m, sizeof *ids, cmp_group);
	for (size_t k = 0; k < m && !rc; k++) {
		uint32_t g = ids[k];
		eg_error_group r = {
			.fingerprint = st_text(&e->fps, g), .title = st_text(&e->str, e->title[g]),
			.type = st_text(&e->str, e->type[g]), .count = a[g].count,
			.users = a[g].users, .sessions = a[g].sessions,
			.first_seen = a[g].first, .last_seen = a[g].last,
			.first_release = st_text(&e->str, a[g].first_rel),
			.regressed = a[g].regressed, .trend_start = tstart,
		};
		memcpy(r.trend, a[g].trend, sizeof r.trend);
		rc = fn(ctx, &r);
	}
out:
	free(sel);
	free(a);
	free(ids);
	return rc;
}

typedef struct bucket {
	int64_t b;
	uint32_t g;
} bucket;

static int cmp_bucket(const void *x, const void *y)
{
	const bucket *a = x, *b = y;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return strcmp(st_text(ord.fps, a->g), st_text(ord.fps, b->g));
}

int eg_errors_series(eg_errors *e, const eg_errors_query *q,
		     int (*fn)(void *ctx, int64_t start, const char *fingerprint, uint64_t count),
		     void *ctx)
{
	uint32_t *sel;
	size_t n;
	int64_t every = q->every_us > 0 ? q->every_us : HOUR_US;
	int rc = select_occ(e, q, &sel, &n);
	if (rc)
		return rc;
	bucket *b = malloc((n ? n : 1) * sizeof *b);
	if (!b) {
		free(sel);
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < n; k++)
		b[k] = (bucket){ floor_div(e->o.time[sel[k]], every), e->o.gid[sel[k]] };
	ord.fps = &e->fps;
	qsort(b, n, sizeof *b, cmp_bucket);
	for (size_t k = 0; k < n && !rc;) {
		size_t j = k;
		while (j < n && b[j].b == b[k].b && b[j].g == b[k].g)
			j++;
		rc = fn(ctx, b[k].b * every, st_text(&e->fps, b[k].g), j - k);
		k = j;
	}
	free(b);
	free(sel);
	return rc;
}

int eg_errors_find(eg_errors *e, const char *prefix, const char **fp)
{
	size_t n = strlen(prefix);
	if (n < 6 || n > 32 || strspn(prefix, "0123456789abcdef") != n)
		return eg_st_err(e->st, EG_EINVAL, "'%s': expected 6 to 32 lowercase hex digits of "
				 "a fingerprint", prefix);
	uint32_t found = 0;
	for (uint32_t g = 1; g < e->fps.n; g++) {
		if (memcmp(st_text(&e->fps, g), prefix, n))
			continue;
		if (found)
			return eg_st_err(e->st, EG_ECONFLICT, "fingerprint prefix %s is ambiguous: "
					 "%s and %s (give more digits)", prefix,
					 st_text(&e->fps, found), st_text(&e->fps, g));
		found = g;
	}
	if (!found)
		return eg_st_err(e->st, EG_ENOTFOUND, "no error group's fingerprint starts with %s "
				 "(grouping v%d)", prefix, e->version);
	*fp = st_text(&e->fps, found);
	return EG_OK;
}

static const eg_errors *occ_ord;

static int cmp_occ_newest(const void *x, const void *y)
{
	uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
	int64_t a = occ_ord->o.time[i], b = occ_ord->o.time[j];
	if (a != b)
		return a > b ? -1 : 1;
	return occ_ord->o.pos[i] > occ_ord->o.pos[j] ? -1 : 1;
}

int eg_errors_occurrences(eg_errors *e, const char *fp, uint64_t limit,
			  int (*fn)(void *ctx, const eg_error_occurrence *o), void *ctx)
{
	uint32_t g = st_find(&e->fps, fp, strlen(fp));
	if (g == UINT32_MAX - 1)
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	if (g == UINT32_MAX || !g)
		return eg_st_err(e->st, EG_ENOTFOUND, "no error group %s", fp);
	uint32_t *idx = malloc((e->o.n ? e->o.n : 1) * sizeof *idx);
	if (!idx)
		return eg_st_err(e->st, EG_ENOMEM, "out of memory");
	size_t m = 0;
	for (size_t i = 0; i < e->o.n; i++)
		if (e->o.gid[i] == g)
			idx[m++] = (uint32_t)i;
	occ_ord = e;
	qsort(idx, m, sizeof *idx, cmp_occ_newest);
	if (limit && m > limit)
		m = limit;
	int rc = EG_OK;
	for (size_t k = 0; k < m && !rc; k++) {
		eg_iter *it;
		eg_filter f = { .from = e->o.pos[idx[k]], .to = e->o.pos[idx[k]] };
		const eg_event *ev;
		if ((rc = eg_iter_new(e->st, &it, &f)))
			break;
		rc = eg_iter_next(it, &ev);
		if (rc == EG_END)
			rc = eg_st_err(e->st, EG_ECORRUPT, "no event at position %llu",
				       (unsigned long long)e->o.pos[idx[k]]);
		if (!rc) {
			eg_error_occurrence o = { ev, st_text(&e->str, e->o.svc[idx[k]]),
						  st_text(&e->str, e->o.rel[idx[k]]) };
			rc = fn(ctx, &o);
		}
		eg_iter_free(it);
	}
	free(idx);
	return rc;
}

/* ------------------------------------------------------------ regrouping */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

int eg_errors_compare(eg_errors *a, eg_errors *b,
		      int (*fn)(void *ctx, const eg_regroup_row *r), void *ctx,
		      uint64_t *merged, uint64_t *split)
{
	*merged = *split = 0;
	if (a->through != b->through || a->o.n != b->o.n)
		return eg_st_err(a->st, EG_ECONFLICT, "the two groupings cover different logs "
				 "(positions %llu and %llu)", (unsigned long long)a->through,
				 (unsigned long long)b->through);
	size_t n = a->o.n;
	uint64_t *pair = malloc((n ? n : 1) * 8);
	uint32_t *new_olds = calloc(b->fps.n, 4);   /* old groups per new group */
	if (!pair || !new_olds) {
		free(pair);
		free(new_olds);
		return eg_st_err(a->st, EG_ENOMEM, "out of memory");
	}
	int rc = EG_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		if (a->o.pos[i] != b->o.pos[i])
			rc = eg_st_err(a->st, EG_ECONFLICT, "the two groupings differ at position %llu",
				       (unsigned long long)a->o.pos[i]);
		pair[i] = (uint64_t)a->o.gid[i] << 32 | b->o.gid[i];
	}
	if (!rc)
		qsort(pair, n, 8, cmp_u64);
	/* the distinct pairs, in order of old group: count the new groups of
	 * each old one (split) and the old ones of each new one (merged) */
	uint32_t prev_old = 0, news = 0;
	for (size_t i = 0; i < n && !rc;) {
		size_t j = i;
		while (j < n && pair[j] == pair[i])
			j++;
		uint32_t og = (uint32_t)(pair[i] >> 32), ng = (uint32_t)pair[i];
		if (og != prev_old) {
			*split += news > 1;
			news = 0;
			prev_old = og;
		}
		news++;
		new_olds[ng]++;
		eg_regroup_row r = { st_text(&a->fps, og), st_text(&b->fps, ng),
				     st_text(&b->str, b->title[ng]), j - i };
		rc = fn ? fn(ctx, &r) : 0;
		i = j;
	}
	*split += news > 1;
	for (uint32_t g = 1; g < b->fps.n; g++)
		*merged += new_olds[g] > 1 ? new_olds[g] : 0;
	free(pair);
	free(new_olds);
	return rc;
}

/* Error groups are rebuilt on next use: reindex drops their files. */
__attribute__((constructor)) static void errors_register(void)
{
	eg_ds_register("errors", "errors", NULL, NULL);
}

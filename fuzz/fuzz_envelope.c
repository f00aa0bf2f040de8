/*
 * fuzz_envelope.c — libFuzzer target for the NDJSON envelope parser
 * (src/store/append.c, through eg_batch_add_json).  The parser is static, so the
 * line goes through a batch of a store made once in a temporary directory;
 * every batch is aborted, and the store is made anew now and then, since
 * aborted batches leave dead slots in its id table.
 *
 * The input is one line, parsed as an envelope.  A first byte 'D' means
 * the batch has --type/--stream defaults; 'S' and 'N' the built-in segment
 * and snowplow mappings; 'M' a mapping file, a newline, then the line.
 *
 * Checks: an added line gives an event record that decodes with every
 * field within the format's limits (id 1-64 bytes, names up to 1024, valid
 * UTF-8, data and meta minified JSON objects, times in years 0000-9999);
 * a rejected line leaves a message, naming the field where one is at
 * fault; the store's head never moves.  For envelopes (no mapping) a
 * reference parser written from docs/CLI.md must agree on the verdict and
 * on every field of the event, and on whether a metric's or an error's
 * data fits its kind (docs/METRICS.md).
 */
#include "internal.h"
#include "json.h"
#include "timefmt.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define SEED_ID     "fuzz-seed-0"
#define SEED_STREAM "s"
#define DEF_TYPE    "dtype"
#define DEF_STREAM  "dstream"
#define RENEW_EVERY 4096     /* added lines before the store is made anew */

#define MIN_US (-62167219200000000LL)   /* 0000-01-01T00:00:00Z */
#define END_US (253402300800000000LL)   /* 10000-01-01T00:00:00Z */

static eg_store *st;
static char dir[64];
static unsigned long added;
static eg_map *builtin[2];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(p);
}

static void drop_store(void)
{
	if (!st)
		return;
	eg_store_close(st);
	st = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A store holding one event (id SEED_ID, stream SEED_STREAM), so that an
 * aborted batch only cuts the segment back. */
static void make_store(void)
{
	static const char seed[] = "{\"id\":\"" SEED_ID "\",\"stream\":\"" SEED_STREAM
				   "\",\"type\":\"t\"}";
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	eg_batch *b;
	snprintf(dir, sizeof dir, "/tmp/engram-fuzz-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	CHECK(eg_store_open(&st, dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL) == EG_OK);
	CHECK(eg_batch_begin(st, &b, &o) == EG_OK);
	CHECK(eg_batch_add_json(b, seed, sizeof seed - 1) == EG_OK);
	CHECK(eg_batch_commit(b, NULL) == EG_OK);
	added = 0;
}

static void cleanup(void)
{
	drop_store();
	eg_map_free(builtin[0]);
	eg_map_free(builtin[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (st)
		return 0;
	CHECK(eg_map_builtin("segment", &builtin[0]) == EG_OK);
	CHECK(eg_map_builtin("snowplow", &builtin[1]) == EG_OK);
	make_store();
	atexit(cleanup);
	return 0;
}

/* ------------------------------------------------------ the reference */

static const char *const NAMES[] = { "id", "stream", "type", "kind", "time", "actor",
				     "session", "data", "meta", "pos", "version", "recorded", "tags" };
enum { F_ID, F_STREAM, F_TYPE, F_KIND, F_TIME, F_ACTOR, F_SESSION, F_DATA, F_META,
       F_POS, F_VERSION, F_RECORDED, F_TAGS, F_N };

typedef struct str {
	const char *p;
	size_t n;
} str;

/* What docs/CLI.md says of a line: accepted with these fields, or refused
 * because of field `field` (-1: not a JSON object; F_N: an unknown key). */
typedef struct ref {
	int ok, field;
	str v[F_N];              /* decoded strings; data and meta minified */
	int has[F_N];            /* given and not null */
	int kind;
	int kind_misfit;         /* refused: data does not fit the kind */
	int64_t time;
	str tag[TAGS_MAX];       /* tags: distinct, 1..TAG_MAX bytes, no control bytes */
	int ntag;
} ref;

/* docs/CONSISTENCY.md: "tags" is an array of at most TAGS_MAX distinct
 * strings of 1..TAG_MAX bytes without control characters. */
static int ref_tags(ref *r, const json_span *v, char **space)
{
	json_arr a;
	json_span t;
	if (v->type != JSON_ARRAY)
		return 0;
	eg_json_arr_begin(&a, v);
	while (eg_json_arr_next(&a, &t) == 1) {
		if (t.type != JSON_STRING || r->ntag == TAGS_MAX)
			return 0;
		str x = { *space, eg_json_string_decode(&t, *space) };
		*space += x.n;
		if (x.n < 1 || x.n > TAG_MAX)
			return 0;
		for (size_t i = 0; i < x.n; i++)
			if ((unsigned char)x.p[i] < 0x20 || x.p[i] == 0x7f)
				return 0;
		for (int j = 0; j < r->ntag; j++)
			if (r->tag[j].n == x.n && !memcmp(r->tag[j].p, x.p, x.n))
				return 0;
		r->tag[r->ntag++] = x;
	}
	return 1;
}

static int name_index(const json_span *k)
{
	for (int i = 0; i < F_N; i++)
		if (k->n - 2 == strlen(NAMES[i]) && !memcmp(k->p + 1, NAMES[i], k->n - 2))
			return i;
	return F_N;
}

/* One member: 1 if acceptable, else 0 with r->field set. */
static int ref_member(ref *r, const json_span *k, const json_span *v, unsigned *seen,
		      char **space)
{
	int f = name_index(k);
	str s = { NULL, 0 };
	r->field = f;
	if (f == F_N || (*seen & 1u << f))
		return 0;
	*seen |= 1u << f;
	if (v->type == JSON_NULL)
		return f != F_TYPE;
	if (f == F_TAGS) {
		r->has[f] = 1;
		return ref_tags(r, v, space);
	}
	if (v->type == JSON_STRING) {
		s.p = *space;
		s.n = eg_json_string_decode(v, *space);
		*space += s.n;
	}
	switch (f) {
	case F_ID:
		if (!s.p || s.n < 1 || s.n > ID_MAX)
			return 0;
		break;
	case F_TYPE:
		if (!s.p || s.n < 1 || s.n > NAME_MAX_LEN)
			return 0;
		break;
	case F_STREAM: case F_ACTOR: case F_SESSION:
		if (!s.p || s.n > NAME_MAX_LEN)
			return 0;
		break;
	case F_KIND:
		if (!s.p)
			return 0;
		if (s.n == 5 && !memcmp(s.p, "event", 5))
			r->kind = EG_KIND_EVENT;
		else if (s.n == 6 && !memcmp(s.p, "metric", 6))
			r->kind = EG_KIND_METRIC;
		else if (s.n == 5 && !memcmp(s.p, "error", 5))
			r->kind = EG_KIND_ERROR;
		else
			return 0;
		break;
	case F_TIME:
		/* a time string is taken as written: no escapes */
		if (v->type == JSON_STRING) {
			if (!eg_json_string_is_plain(v) || eg_time_parse_rfc3339(s.p, s.n, &r->time))
				return 0;
		} else if (v->type != JSON_NUMBER || eg_time_parse_millis(v->p, v->n, &r->time)) {
			return 0;
		}
		if (r->time < MIN_US || r->time >= END_US)
			return 0;
		break;
	case F_DATA: case F_META:
		if (v->type != JSON_OBJECT)
			return 0;
		s.p = *space;
		s.n = eg_json_minify(v, *space);
		*space += s.n;
		break;
	case F_POS: case F_VERSION:
		if (v->type != JSON_NUMBER)
			return 0;
		break;
	case F_RECORDED:
		if (!s.p)
			return 0;
		break;
	}
	r->v[f] = s;
	r->has[f] = 1;
	return 1;
}

/* The last member `name` of object o (later ones win), or type 0. */
static json_span ref_get(const json_span *o, const char *name)
{
	json_obj it;
	json_span k, v, got = { NULL, 0, 0 };
	if (eg_json_obj_begin(&it, o->p, o->n, NULL))
		return got;
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1)
		if (k.n - 2 == strlen(name) && !memcmp(k.p + 1, name, k.n - 2))
			got = v;
	return got;
}

/* Every member of object o (or element of array o) has type t. */
static int ref_all(const json_span *o, enum json_type t)
{
	json_span v;
	if (o->type == JSON_ARRAY) {
		json_arr a;
		eg_json_arr_begin(&a, o);
		while (eg_json_arr_next(&a, &v) == 1)
			if (v.type != t)
				return 0;
		return 1;
	}
	json_obj it;
	json_span k;
	if (eg_json_obj_begin(&it, o->p, o->n, NULL))
		return 0;
	while (eg_json_obj_next(&it, &k, &v, NULL) == 1)
		if (v.type != t)
			return 0;
	return 1;
}

/* docs/METRICS.md: a JSON number, finite as a double. */
static int ref_finite(const json_span *v)
{
	if (v->type != JSON_NUMBER)
		return 0;
	char *t = malloc(v->n + 1);
	CHECK(t);
	memcpy(t, v->p, v->n);
	t[v->n] = 0;
	double d = strtod(t, NULL);
	free(t);
	return d - d == 0;
}

/* An integer in int64: digits only, at most 19, or the bounds spelt out. */
static int ref_int64(const json_span *v)
{
	if (v->type != JSON_NUMBER)
		return 0;
	size_t neg = v->p[0] == '-', nd = v->n - neg;
	for (size_t i = neg; i < v->n; i++)
		if (v->p[i] < '0' || v->p[i] > '9')
			return 0;
	if (nd < 19)
		return 1;
	return nd == 19 && memcmp(v->p + neg, neg ? "9223372036854775808" : "9223372036854775807",
				  19) <= 0;
}

/* Does the data of a metric or an error fit its kind (docs/METRICS.md,
 * docs/ERRORS.md)? */
static int ref_kind_fits(int kind, str data)
{
	json_span d = { data.p, data.n, JSON_OBJECT }, v, w;
	if (kind == EG_KIND_METRIC) {
		v = ref_get(&d, "value");
		if (!ref_finite(&v))
			return 0;
		v = ref_get(&d, "tags");
		return !v.type || (v.type == JSON_OBJECT && ref_all(&v, JSON_STRING));
	}
	if (ref_get(&d, "message").type != JSON_STRING)
		return 0;
	v = ref_get(&d, "stack");
	if (v.type == JSON_ARRAY) {
		json_arr a;
		json_span fr;
		eg_json_arr_begin(&a, &v);
		while (eg_json_arr_next(&a, &fr) == 1) {
			if (fr.type != JSON_OBJECT)
				return 0;
			w = ref_get(&fr, "function");
			if (w.type && w.type != JSON_STRING)
				return 0;
			w = ref_get(&fr, "file");
			if (w.type && w.type != JSON_STRING)
				return 0;
			w = ref_get(&fr, "line");
			if (w.type && !ref_int64(&w))
				return 0;
			w = ref_get(&fr, "in_app");
			if (w.type && w.type != JSON_TRUE && w.type != JSON_FALSE)
				return 0;
		}
	} else if (v.type && v.type != JSON_STRING) {
		return 0;
	}
	if ((v = ref_get(&d, "service")).type && v.type != JSON_STRING)
		return 0;
	if ((v = ref_get(&d, "release")).type && v.type != JSON_STRING)
		return 0;
	v = ref_get(&d, "fingerprint");
	return !v.type || v.type == JSON_STRING || (v.type == JSON_ARRAY && ref_all(&v, JSON_STRING));
}

static void ref_parse(const char *line, size_t n, int defaults, ref *r, char *space)
{
	json_obj it;
	json_span k, v;
	unsigned seen = 0;
	int rc;
	memset(r, 0, sizeof *r);
	r->field = -1;
	if (eg_json_obj_begin(&it, line, n, NULL))
		return;
	while ((rc = eg_json_obj_next(&it, &k, &v, NULL)) == 1)
		if (!ref_member(r, &k, &v, &seen, &space))
			return;
	r->field = -1;
	if (rc < 0)
		return;
	if (!r->has[F_TYPE] && defaults) {
		r->v[F_TYPE] = (str){ DEF_TYPE, strlen(DEF_TYPE) };
		r->has[F_TYPE] = 1;
	}
	if (!r->has[F_TYPE]) {
		r->field = F_TYPE;
		return;
	}
	/* reserved for engram: checked once the line is read, as append does */
	if (r->has[F_STREAM] && r->v[F_STREAM].n && r->v[F_STREAM].p[0] == '$') {
		r->field = F_STREAM;
		return;
	}
	if (!r->has[F_STREAM] && defaults)
		r->v[F_STREAM] = (str){ DEF_STREAM, strlen(DEF_STREAM) };
	if (!r->has[F_DATA])
		r->v[F_DATA] = (str){ "{}", 2 };
	if (r->kind != EG_KIND_EVENT && !ref_kind_fits(r->kind, r->v[F_DATA])) {
		r->field = F_DATA;
		r->kind_misfit = 1;
		return;
	}
	r->ok = 1;
}

/* ----------------------------------------------------------- checks */

static int same(const char *p, size_t n, str s)
{
	return n == s.n && (n == 0 || memcmp(p, s.p, n) == 0);
}

static void check_name(const char *p, size_t n, size_t max)
{
	CHECK(n <= max);
	CHECK(eg_json_utf8_valid(p, n));
}

/* Minified JSON object text. */
static void check_object(const char *p, size_t n)
{
	json_span v = { p, n, JSON_OBJECT };
	char *m;
	CHECK(n >= 2 && p[0] == '{' && p[n - 1] == '}');
	CHECK(eg_json_validate(p, n, NULL) == 0);
	m = malloc(n);
	CHECK(m && eg_json_minify(&v, m) == n && memcmp(m, p, n) == 0);
	free(m);
}

/* The event the batch spooled: valid whatever the line was. */
static void check_event(const rec_event *o, unsigned flags)
{
	const eg_event *e = &o->ev;
	CHECK(e->pos == 2);
	CHECK(e->id && e->id_len >= 1);
	check_name(e->id, e->id_len, ID_MAX);
	CHECK(e->type_len >= 1);
	check_name(e->type, e->type_len, NAME_MAX_LEN);
	check_name(e->stream, e->stream_len, NAME_MAX_LEN);
	check_name(e->actor, e->actor_len, NAME_MAX_LEN);
	check_name(e->session, e->session_len, NAME_MAX_LEN);
	CHECK(e->kind >= EG_KIND_EVENT && e->kind <= EG_KIND_ERROR);
	CHECK((flags & ~(unsigned)(EVT_FLAG_KIND_MASK | EVT_FLAG_ID_UUID |
				   EVT_FLAG_TIME_RECORDED | EVT_FLAG_TAGS)) == 0);
	CHECK(!!(flags & EVT_FLAG_TAGS) == (e->ntags > 0));
	if (flags & EVT_FLAG_TIME_RECORDED)
		CHECK(e->time == INT64_MIN);
	else
		CHECK(e->time >= MIN_US && e->time < END_US);
	check_object(e->data, e->data_len);
	if (e->meta_len)
		check_object(e->meta, e->meta_len);
	if (e->stream_len)
		CHECK(e->version >= 1);
	else
		CHECK(e->version == 0);
}

/* An envelope's event has the fields the reference read. */
static void check_against(const rec_event *o, unsigned flags, const ref *r)
{
	const eg_event *e = &o->ev;
	if (r->has[F_ID]) {
		CHECK(same(e->id, e->id_len, r->v[F_ID]));
	} else {
		/* a generated UUIDv7: version 7, variant 10 */
		CHECK(flags & EVT_FLAG_ID_UUID);
		CHECK(e->id_len == 36 && e->id[14] == '7' && strchr("89ab", e->id[19]));
	}
	CHECK(same(e->stream, e->stream_len, r->v[F_STREAM]));
	CHECK(same(e->type, e->type_len, r->v[F_TYPE]));
	CHECK(same(e->actor, e->actor_len, r->v[F_ACTOR]));
	CHECK(same(e->session, e->session_len, r->v[F_SESSION]));
	CHECK(same(e->data, e->data_len, r->v[F_DATA]));
	CHECK(same(e->meta, e->meta_len, r->v[F_META]));
	CHECK(e->kind == r->kind);
	/* the tags, in their order */
	size_t off = 0, tn;
	const char *tp;
	int nt = 0;
	while (eg_event_tag(e, &off, &tp, &tn)) {
		CHECK(nt < r->ntag && same(tp, tn, r->tag[nt]));
		nt++;
	}
	CHECK(nt == r->ntag && (uint32_t)nt == e->ntags);
	if (r->has[F_TIME])
		CHECK(!(flags & EVT_FLAG_TIME_RECORDED) && e->time == r->time);
	else
		CHECK(flags & EVT_FLAG_TIME_RECORDED);
	/* the seed event made its stream's version 1 */
	if (e->stream_len)
		CHECK(e->version == (same(e->stream, e->stream_len,
					  (str){ SEED_STREAM, 1 }) ? 2u : 1u));
}

/* A refused line's message: there, and naming what was wrong. */
static void check_message(const char *msg, const ref *r)
{
	char want[32];
	CHECK(msg[0] != 0 && strlen(msg) < sizeof st->err);
	if (!r)
		return;
	if (r->field < 0) {
		/* (a line that starts with a byte-order mark is named as such) */
		CHECK(strstr(msg, "JSON") || strstr(msg, "byte-order mark"));
	} else if (r->field == F_N) {
		CHECK(strstr(msg, "unknown field"));
	} else if (r->kind_misfit) {
		CHECK(strstr(msg, "field \"data."));
	} else if (r->field == F_TAGS) {
		CHECK(strstr(msg, "\"tags"));   /* "tags" or "tags[i]" */
	} else {
		snprintf(want, sizeof want, "\"%s\"", NAMES[r->field]);
		CHECK(strstr(msg, want));
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	size_t n = size;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	eg_map *own = NULL;
	int mode = size ? data[0] : 0;
	char err[256];

	if (!st)
		LLVMFuzzerInitialize(NULL, NULL);
	switch (mode) {
	case 'D':
		o.default_type = DEF_TYPE;
		o.default_stream = DEF_STREAM;
		break;
	case 'S':
		o.map = builtin[0];
		break;
	case 'N':
		o.map = builtin[1];
		break;
	case 'M': {
		const char *nl = memchr(s + 1, '\n', n - 1);
		size_t mn = nl ? (size_t)(nl - s - 1) : n - 1;
		if (eg_map_parse(s + 1, mn, &own, err, sizeof err) != EG_OK) {
			CHECK(own == NULL && err[0]);
		}
		o.map = own ? own : builtin[0];
		s += mn + (nl != NULL);
		n -= mn + (nl != NULL);
		break;
	}
	default:
		mode = 0;
	}
	if (mode) {
		s++;
		n--;
	}

	eg_batch *b;
	CHECK(eg_batch_begin(st, &b, &o) == EG_OK);
	uint64_t off0 = st->log.tail.off;
	st->err[0] = 0;
	int rc = eg_batch_add_json(b, s, n);
	ref r;
	char *space = NULL;
	if (!o.map) {
		space = malloc(2 * n + 64);
		CHECK(space);
		ref_parse(s, n, mode == 'D', &r, space);
	}
	if (rc == EG_OK) {
		size_t len = (size_t)(st->log.tail.off - off0);
		const unsigned char *rec;
		rec_event ev;
		CHECK(len >= EVT_FIXED && st->log.wlen >= len);
		rec = st->log.wbuf + st->log.wlen - len;
		CHECK(eg_rec_event_decode(rec, len, &ev) == len);
		check_event(&ev, rec[9]);
		if (space) {
			CHECK(r.ok && !same(SEED_ID, strlen(SEED_ID), r.v[F_ID]));
			check_against(&ev, rec[9], &r);
		}
		added++;
	} else if (rc == EG_EDUP) {
		if (space)
			CHECK(r.ok && same(SEED_ID, strlen(SEED_ID), r.v[F_ID]));
	} else {
		CHECK(rc == EG_EINVAL);
		if (space)
			CHECK(!r.ok);
		check_message(eg_errmsg(st), space ? &r : NULL);
	}
	eg_batch_abort(b);
	CHECK(st->log.head_pos == 1 && !st->in_batch);
	free(space);
	eg_map_free(own);
	if (added >= RENEW_EVERY) {
		drop_store();
		make_store();
	}
	return 0;
}

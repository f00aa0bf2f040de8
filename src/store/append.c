/*
 * append.c — atomic batches: parsing the NDJSON input envelope, duplicate
 * ids, stream versions, optimistic concurrency, and the commit that makes a
 * batch durable and visible.
 *
 * Events are spooled to the log's tail as they come (log.c), so a batch of
 * any size needs memory only for its indexes' pending entries.
 */
#include "internal.h"
#include "buf.h"
#include "contract.h"
#include "json.h"
#include "keys.h"
#include "map.h"
#include "pipe.h"
#include "timefmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct eg_batch {
	eg_store *st;
	eg_batch_opts o;
	char *exp_stream, *def_stream, *def_type;
	uint64_t next_pos, first_pos;   /* of the open (sub)batch */
	uint64_t count;                 /* events in the open (sub)batch */
	eg_append_result res;
	uint64_t lines;                 /* input lines given so far (see seconds_line) */
	char *scratch;
	size_t scap;
	uint64_t rnd[2];                /* UUIDv7 randomness */
	int internal;                   /* engram's own: may write $ streams, unchecked */
	buf qbuf;                       /* the data of a quarantine event */
	buf ebuf;                       /* an event's data, its personal values encrypted */
	struct eg_shred_cx *cx;         /* the cipher of lines added one by one */
	/* keep_recorded: the record time of the open (sub)batch, and the
	 * last input line that gave it (0: none yet) */
	int64_t rec;
	uint64_t rec_line;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int check_expected(eg_batch *b)
{
	eg_store *st = b->st;
	if (b->o.expect_version < 0)
		return EG_OK;
	if (!b->exp_stream || !*b->exp_stream)
		return eg_st_err(st, EG_EINVAL, "an expected version needs a stream");
	uint64_t v = eg_index_key_find(st, 0, b->exp_stream, strlen(b->exp_stream));
	keystate ks;
	uint64_t cur = v && eg_index_keystate(st, v - 1, &ks) ? ks.version : 0;
	if (cur != (uint64_t)b->o.expect_version) {
		if (b->o.expect_version == 0)
			return eg_st_err(st, EG_ECONFLICT, "stream %s already exists (version %llu)",
				      b->exp_stream, (unsigned long long)cur);
		return eg_st_err(st, EG_ECONFLICT, "stream %s is at version %llu, expected %lld",
			      b->exp_stream, (unsigned long long)cur,
			      (long long)b->o.expect_version);
	}
	return EG_OK;
}

/* The conditional append: under the write lock, before anything of the
 * batch is written, no event matching fail_if after `after`. */
static int check_condition(eg_batch *b)
{
	eg_store *st = b->st;
	if (!b->o.fail_if)
		return EG_OK;
	if (b->o.after > st->log.head_pos)
		return eg_st_err(st, EG_EINVAL, "--after %llu is beyond the head (%llu)",
				 (unsigned long long)b->o.after,
				 (unsigned long long)st->log.head_pos);
	uint64_t pos;
	int item, rc = eg_query_find(st, b->o.fail_if, b->o.after, &pos, &item);
	if (rc || !pos)
		return rc;
	char text[256];
	eg_query_item_text(b->o.fail_if, item, text, sizeof text);
	return eg_st_err(st, EG_ECONFLICT, "conflict: the event at position %llu matches "
			 "--fail-if item %d (%s) and is after position %llu; nothing was written",
			 (unsigned long long)pos, item, text, (unsigned long long)b->o.after);
}

static void sub_begin(eg_batch *b)
{
	b->next_pos = b->st->log.head_pos + 1;
	b->first_pos = b->next_pos;
	b->count = 0;
	eg_index_batch_begin(b->st);
}

int eg_batch_begin(eg_store *st, eg_batch **out, const eg_batch_opts *opts)
{
	*out = NULL;
	/* Every batch checks its events against the schemas as of its start. */
	int rc = st->writable && !st->in_batch ? eg_reg_refresh(st) : EG_OK;
	if (rc)
		return rc;
	return eg_batch_begin_as(st, out, opts, 0);
}

int eg_batch_begin_as(eg_store *st, eg_batch **out, const eg_batch_opts *opts, int internal)
{
	*out = NULL;
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	if (st->log.failed || !st->ix.usable)
		return eg_st_err(st, EG_EIO, "an earlier write failed; reopen the store");
	if (st->in_batch)
		return eg_st_err(st, EG_EINVAL, "a batch is already open on this store");
	eg_batch *b = calloc(1, sizeof *b);
	if (!b)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	b->st = st;
	b->internal = internal;
	if (opts)
		b->o = *opts;
	else
		b->o.expect_version = -1;
	b->exp_stream = dup_or_null(b->o.expect_stream);
	b->def_stream = dup_or_null(b->o.default_stream);
	b->def_type = dup_or_null(b->o.default_type);
	int rc;
	if (getrandom(b->rnd, sizeof b->rnd, 0) != sizeof b->rnd)
		b->rnd[0] = (uint64_t)now_us() ^ 0x9e3779b97f4a7c15ull, b->rnd[1] = (uint64_t)b;
	rc = check_expected(b);
	if (rc == EG_OK)
		rc = check_condition(b);
	b->o.fail_if = NULL;   /* borrowed until here */
	if (rc) {
		free(b->exp_stream);
		free(b->def_stream);
		free(b->def_type);
		free(b);
		return rc;
	}
	if (b->o.keep_recorded && b->o.map) {
		rc = eg_st_err(st, EG_EINVAL, "keep_recorded does not work with a map: the map "
			       "gives no \"recorded\" (append the mapped envelopes instead)");
		free(b->exp_stream);
		free(b->def_stream);
		free(b->def_type);
		free(b);
		return rc;
	}
	if (b->o.expected_events &&
	    eg_htab_reserve(&st->ix.ids, st->ix.ids.count + b->o.expected_events)) {
		rc = eg_st_errno(st, "cannot grow idx/ids");
		free(b->exp_stream);
		free(b->def_stream);
		free(b->def_type);
		free(b);
		return rc;
	}
	/* the key file read here, not on the parsing thread that seals */
	if (!internal && st->reg && st->reg->personal && (rc = eg_keys_prepare(st))) {
		free(b->exp_stream);
		free(b->def_stream);
		free(b->def_type);
		free(b);
		return rc;
	}
	st->in_batch = 1;
	sub_begin(b);
	*out = b;
	return EG_OK;
}

/* ------------------------------------------------------------- envelope */

static const char *const FIELDS =
	"id, stream, type, kind, time, actor, session, data, meta, tags";

/* Parsing a line needs no store: it can run on another thread.  A rejected
 * line's message goes to err (ERR_LEN bytes). */
#define ERR_LEN 1024
typedef struct pctx {
	const eg_batch *b;
	char *err;
	char *space;      /* scratch for decoded strings and minified JSON */
} pctx;

static int perr(pctx *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(pctx *pc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pc->err, ERR_LEN, fmt, ap);
	va_end(ap);
	return EG_EINVAL;
}

static int bad(pctx *pc, const char *field, const char *expected)
{
	return perr(pc, "field \"%s\": expected %s", field, expected);
}

/* Decode a string member into scratch space; sets *s, *n. */
static int take_string(pctx *pc, const json_span *v, const char *field,
		       size_t max, const char **s, size_t *n)
{
	char **space = &pc->space;
	if (v->type != JSON_STRING)
		return bad(pc, field, "a string");
	if (eg_json_string_is_plain(v)) {
		*s = v->p + 1;
		*n = v->n - 2;
	} else {
		*n = eg_json_string_decode(v, *space);
		*s = *space;
		*space += *n;
	}
	if (*n > max) {
		char what[64];
		snprintf(what, sizeof what, "a string of at most %zu bytes", max);
		return bad(pc, field, what);
	}
	return EG_OK;
}

/* Next UUIDv7: 48 bits of milliseconds, version 7, random rest (RFC 9562). */
static void uuid7_r(uint64_t rnd[2], char out[36])
{
	unsigned char u[16];
	uint64_t ms = (uint64_t)(now_us() / 1000);
	/* xorshift128+ over a seed from getrandom */
	uint64_t s1 = rnd[0], s0 = rnd[1];
	rnd[0] = s0;
	s1 ^= s1 << 23;
	rnd[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	uint64_t r = rnd[1] + s0, r2 = r * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	memcpy(u + 6, &r, 8);
	memcpy(u + 14, &r2, 2);
	u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
	eg_uuid_format(u, out);
}

static void uuid7(eg_batch *b, char out[36])
{
	uuid7_r(b->rnd, out);
}

/* Integer times in [10^8, 10^11) milliseconds (1970-01-02 to 1973-03-03)
 * are, read as seconds, 1973 to 5138: a producer that sent seconds where
 * milliseconds are expected.  They are kept as given, and reported in the
 * append result. */
#define SECONDS_LIKE_MIN_US 100000000000LL
#define SECONDS_LIKE_MAX_US 100000000000000LL

typedef struct envelope {
	rec_in r;
	int has_time, has_id, has_type, has_stream;
	/* Refused by its schema, for $quarantine: the errors as a JSON array
	 * (in the line's error space) and the version that refused it. */
	const char *qerr;
	uint64_t qversion;
	int seconds_like;            /* an integer time that looks like epoch seconds */
	int has_recorded;            /* keep_recorded: the line's "recorded" */
	int64_t recorded;
	/* Bulk adds: the hashes of the id, and of the stream and type
	 * (eg_id_hash, eg_key_hash), made on the parsing thread; id_hashed
	 * and keys_hashed say they are there and still the event's. */
	int id_hashed, keys_hashed;
	uint64_t idhash, shash, thash;
	unsigned char uuid[16];      /* the id parsed, when r.uuid points here */
	char idbuf[36];
	size_t enc_off;              /* r.enc: where its sealed data is in the chunk's buffer */
	int seal_late;               /* personal, to be sealed by the adding thread */
	int subj_hashed;             /* personal: subjhash is its subject's (eg_keys_prefetch) */
	uint64_t subjhash;
} envelope;

/* The envelope's fields, as bits for spotting repeats. */
static const char *const NAMES[] = { "id", "stream", "type", "kind", "time", "actor",
				     "session", "data", "meta", "pos", "version", "recorded",
				     "tags" };

static const unsigned char NAME_LEN[] = { 2, 6, 4, 4, 4, 5, 7, 4, 4, 3, 7, 8, 4 };
_Static_assert(sizeof NAME_LEN == sizeof NAMES / sizeof *NAMES, "a length per name");

static unsigned field_bit(const char *k, size_t n)
{
	for (unsigned i = 0; i < sizeof NAMES / sizeof *NAMES; i++)
		if (NAMES[i][0] == k[0] && NAME_LEN[i] == n && memcmp(NAMES[i], k, n) == 0)
			return 1u << i;
	return 0;
}

/* Is the JSON text [p, p+n) free of bytes up to ' '?  Then, valid JSON
 * (control bytes are escaped inside strings), it holds no whitespace: it
 * is minified already.  Eight bytes at a time: a byte below 0x21 sets its
 * high bit in x - 0x21..21 where x's own high bit is clear. */
static int json_has_no_ws(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t acc = 0, x;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&x, p + i, 8);
		acc |= (x - 0x21 * ones) & ~x & highs;
	}
	for (; i < n; i++)
		acc |= (unsigned char)p[i] <= ' ';
	return acc == 0;
}

/* "tags": an array of 1..TAGS_MAX distinct strings of 1..TAG_MAX bytes
 * without control characters (docs/CONSISTENCY.md), encoded into scratch
 * space as the record keeps them (a varint length, then the bytes). */
static int take_tags(pctx *pc, const json_span *v, rec_in *r)
{
	if (v->type != JSON_ARRAY)
		return bad(pc, "tags", "an array of strings");
	json_arr it;
	json_span t;
	eg_json_arr_begin(&it, v);
	char *start = pc->space, *p = start;
	uint32_t k = 0;
	while (eg_json_arr_next(&it, &t)) {
		char field[32];
		snprintf(field, sizeof field, "tags[%u]", k);
		if (k == TAGS_MAX)
			return perr(pc, "field \"tags\": expected at most %d tags, got more", TAGS_MAX);
		if (t.type != JSON_STRING)
			return bad(pc, field, "a string");
		/* decoded after 2 bytes of room for its length's varint */
		size_t n = eg_json_string_decode(&t, p + 2);
		if (n == 0 || n > TAG_MAX) {
			char what[80];
			snprintf(what, sizeof what, "a tag of 1 to %d bytes, got %zu bytes", TAG_MAX, n);
			return bad(pc, field, what);
		}
		/* nor the query's separators (docs/CONSISTENCY.md): a tag a
		 * query cannot name could never be matched by --fail-if */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[2 + i] <= 0x20 || p[2 + i] == 0x7f ||
			    p[2 + i] == ',' || p[2 + i] == ';')
				return bad(pc, field, "a tag without spaces, control characters, ',' or ';'");
		/* a repeat would index the event twice under one key */
		const char *q = start;
		for (uint32_t j = 0; j < k; j++) {
			uint64_t m = 0;
			const unsigned char *u = (const unsigned char *)q;
			varint_get(&u, (const unsigned char *)p, &m);
			if (m == n && !memcmp(u, p + 2, n)) {
				char what[64];
				snprintf(what, sizeof what, "a tag not given before (it repeats tags[%u])", j);
				return bad(pc, field, what);
			}
			q = (const char *)u + m;
		}
		unsigned char len[2];
		size_t ln = varint_put(len, n);
		memmove(p + ln, p + 2, n);
		memcpy(p, len, ln);
		p += ln + n;
		k++;
	}
	r->tags = k ? start : NULL;
	r->tags_len = (size_t)(p - start);
	r->ntags = k;
	pc->space = p;
	return EG_OK;
}

/* A time member (time, or recorded with keep_recorded): RFC 3339 or
 * integer epoch milliseconds. */
static int take_time(pctx *pc, const json_span *v, const char *field, int64_t *t)
{
	int ok = -1;
	if (v->type == JSON_STRING && eg_json_string_is_plain(v))
		ok = eg_time_parse_rfc3339(v->p + 1, v->n - 2, t);
	else if (v->type == JSON_NUMBER)
		ok = eg_time_parse_millis(v->p, v->n, t);
	/* Only years 0000-9999 print back as RFC 3339. */
	if (ok == 0 && (*t < -62167219200000000LL || *t >= 253402300800000000LL))
		ok = -1;
	if (ok)
		return perr(pc, "field \"%s\": expected an RFC 3339 time in years 0000-9999 "
			      "(2025-01-01T10:00:00Z) or integer epoch milliseconds, got %.*s",
			      field, (int)(v->n < 60 ? v->n : 60), v->p);
	return EG_OK;
}

static int member(pctx *pc, envelope *e, const json_span *k, const json_span *v,
		  unsigned *seen)
{
	char **space = &pc->space;
	rec_in *r = &e->r;
	size_t kn = k->n - 2;
	const char *kp = k->p + 1;
#define IS(name) (kn == sizeof(name) - 1 && memcmp(kp, name, kn) == 0)
	unsigned bit = field_bit(kp, kn);
	if (!bit) {
		char key[80];
		size_t n = kn < 64 ? kn : 64;
		memcpy(key, kp, n);
		key[n] = 0;
		return perr(pc, "unknown field \"%s%s\" (expected one of %s)",
			      key, kn > 64 ? "..." : "", FIELDS);
	}
	if (*seen & bit) {
		char key[16];
		memcpy(key, kp, kn);
		key[kn] = 0;
		return perr(pc, "field \"%s\" is given twice", key);
	}
	*seen |= bit;
	int isnull = v->type == JSON_NULL;
	if (IS("type")) {
		if (isnull)
			return bad(pc, "type", "a non-empty string");
		int rc = take_string(pc, v, "type", NAME_MAX_LEN, &r->type, &r->type_len);
		if (rc == EG_OK && r->type_len == 0)
			return bad(pc, "type", "a non-empty string");
		e->has_type = 1;
		return rc;
	}
	if (isnull)  /* every other field may be null, meaning absent */
		return EG_OK;
	if (IS("id")) {
		int rc = take_string(pc, v, "id", ID_MAX, &r->id, &r->id_len);
		if (rc == EG_OK && r->id_len == 0)
			return bad(pc, "id", "a non-empty string of at most 64 bytes");
		e->has_id = 1;
		return rc;
	}
	if (IS("stream")) {
		e->has_stream = 1;
		return take_string(pc, v, "stream", NAME_MAX_LEN, &r->stream, &r->stream_len);
	}
	if (IS("actor"))
		return take_string(pc, v, "actor", NAME_MAX_LEN, &r->actor, &r->actor_len);
	if (IS("session"))
		return take_string(pc, v, "session", NAME_MAX_LEN, &r->session, &r->session_len);
	if (IS("kind")) {
		const char *s;
		size_t n;
		int rc = take_string(pc, v, "kind", 16, &s, &n);
		if (rc)
			return bad(pc, "kind", "\"event\", \"metric\" or \"error\"");
		if (n == 5 && !memcmp(s, "event", 5))
			r->kind = EG_KIND_EVENT;
		else if (n == 6 && !memcmp(s, "metric", 6))
			r->kind = EG_KIND_METRIC;
		else if (n == 5 && !memcmp(s, "error", 5))
			r->kind = EG_KIND_ERROR;
		else
			return bad(pc, "kind", "\"event\", \"metric\" or \"error\"");
		return EG_OK;
	}
	if (IS("time")) {
		int rc = take_time(pc, v, "time", &r->time);
		if (rc)
			return rc;
		e->has_time = 1;
		e->seconds_like = v->type == JSON_NUMBER && r->time >= SECONDS_LIKE_MIN_US &&
				  r->time < SECONDS_LIKE_MAX_US;
		return EG_OK;
	}
	if (IS("tags"))
		return take_tags(pc, v, r);
	if (IS("data") || IS("meta")) {
		int data = kp[0] == 'd';
		if (v->type != JSON_OBJECT)
			return bad(pc, data ? "data" : "meta", "a JSON object");
		/* Minified already (as machines write it): the line's own bytes,
		 * which outlive the event's add, serve without a copy. */
		const char *m = v->p;
		size_t n = v->n;
		if (!json_has_no_ws(v->p, v->n)) {
			m = *space;
			n = eg_json_minify(v, *space);
			*space += n;
		}
		if (data) {
			r->data = m;
			r->data_len = n;
		} else {
			r->meta = m;
			r->meta_len = n;
		}
		return EG_OK;
	}
	/* pos, version, recorded: assigned by the store; accepted (so that the
	 * output of engram read can be appended elsewhere) and ignored. */
	if (IS("pos") || IS("version")) {
		if (v->type != JSON_NUMBER)
			return bad(pc, kp[0] == 'p' ? "pos" : "version", "a number (it is ignored)");
		return EG_OK;
	}
	if (pc->b->o.keep_recorded) {
		e->has_recorded = 1;
		return take_time(pc, v, "recorded", &e->recorded);
	}
	if (v->type != JSON_STRING)
		return bad(pc, "recorded", "a time string (it is ignored)");
	return EG_OK;
#undef IS
}

/* Report invalid JSON naming the member it is in, when a key was read. */
static int json_error(pctx *pc, const char *json, size_t len, const char *at,
		      const json_err *err)
{
	const char *end = json + len, *p = at;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n'))
		p++;
	const char *q = p < end && *p == '"' ? memchr(p + 1, '"', (size_t)(end - p - 1)) : NULL;
	if (q && json + err->off > q && q - p - 1 <= 64)
		return perr(pc, "field \"%.*s\": invalid JSON: %s at byte %zu",
			      (int)(q - p - 1), p + 1, err->what, err->off + 1);
	return perr(pc, "invalid JSON: %s at byte %zu", err->what, err->off + 1);
}

static int finish_envelope(pctx *pc, envelope *e);
static int check_kind(pctx *pc, envelope *e);
static int check_contract(pctx *pc, envelope *e);
static int parse_mapped(pctx *pc, const char *json, size_t len, envelope *e);

/* Scratch space that parsing a line of len bytes may use. */
static size_t line_space(const eg_batch *b, size_t len)
{
	return b->o.map ? eg_map_space(b->o.map, len) : 2 * len + 64;
}

/* Parse one line into e.  pc->space must have room for line_space bytes. */
static int parse_envelope(pctx *pc, const char *json, size_t len, envelope *e)
{
	/* A byte-order mark is skipped at the start of the input (by the
	 * reader); one here means files were joined, say: name it. */
	if (len >= 3 && !memcmp(json, "\xef\xbb\xbf", 3))
		return perr(pc, "a UTF-8 byte-order mark (EF BB BF) starts the line; only "
			      "the start of the input may have one");
	if (pc->b->o.map)
		return parse_mapped(pc, json, len, e);
	memset(e, 0, sizeof *e);
	json_obj it;
	json_span k, v;
	json_err err;
	if (eg_json_obj_begin(&it, json, len, &err))
		return perr(pc, "expected a JSON object: %s at byte %zu",
			      err.what, err.off + 1);
	unsigned seen = 0;
	int r;
	const char *member_at = it.p;
	while ((r = eg_json_obj_next(&it, &k, &v, &err)) == 1) {
		int rc = member(pc, e, &k, &v, &seen);
		if (rc)
			return rc;
		member_at = it.p;
	}
	if (r < 0)
		return json_error(pc, json, len, member_at, &err);
	return finish_envelope(pc, e);
}

/* Defaults of a parsed line: --type, --stream, empty data and strings. */
static int finish_envelope(pctx *pc, envelope *e)
{
	const eg_batch *b = pc->b;
	rec_in *ri = &e->r;
	if (b->o.keep_recorded && !e->has_recorded)
		return perr(pc, "field \"recorded\" is missing: with keep_recorded every line "
			      "gives its record time (RFC 3339 or integer epoch milliseconds)");
	if (!e->has_type && b->def_type) {
		ri->type = b->def_type;
		ri->type_len = strlen(b->def_type);
		e->has_type = ri->type_len > 0;
	}
	if (!e->has_type && b->o.map) {
		const char *tried = eg_map_tried(b->o.map, MF_TYPE);
		if (tried)
			return perr(pc, "field \"type\": none of %s is present (or give --type)", tried);
		return perr(pc, "field \"type\" is missing: the mapping gives no type (give --type)");
	}
	if (!e->has_type)
		return perr(pc, "field \"type\" is missing: every event needs a type "
			      "(or give --type)");
	if (!e->has_stream && b->def_stream) {
		ri->stream = b->def_stream;
		ri->stream_len = strlen(b->def_stream);
	}
	/* Streams whose name begins with '$' are engram's own ($schemas,
	 * $quarantine): their events are written by engram, never by input. */
	if (ri->stream && eg_reserved_stream(ri->stream, ri->stream_len) && !b->internal)
		return bad(pc, "stream", "a name not beginning with '$' (reserved for engram's "
			   "own streams, such as $schemas and $quarantine)");
	if (!ri->data_len) {
		ri->data = "{}";
		ri->data_len = 2;
	}
	if (!ri->stream)
		ri->stream = "";
	if (!ri->actor)
		ri->actor = "";
	if (!ri->session)
		ri->session = "";
	if (!ri->meta)
		ri->meta = "";
	int rc = check_kind(pc, e);
	if (rc || e->qerr)
		return rc;
	return check_contract(pc, e);
}

/* ------------------------------------------------------------- kinds */

/* Metrics and errors have a shape of their own in "data" (docs/METRICS.md,
 * docs/ERRORS.md), which the rollups and the error groups rely on: checked
 * here, once, so that no reader meets a metric without a value.  A misfit
 * names its field (data.value, data.stack[2].line) and what was expected,
 * and is refused like any invalid line, or with --quarantine set aside in
 * $quarantine as a schema's refusal is (its error's keyword: "metric" or
 * "error"). */
typedef struct kindchk {
	char field[96];
	char what[192];
} kindchk;

/* At most max bytes of s (n bytes of UTF-8), not cutting a character. */
static int utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

static int kind_bad(kindchk *k, const json_span *got, const char *field, const char *what)
{
	snprintf(k->field, sizeof k->field, "%s", field);
	if (got)
		snprintf(k->what, sizeof k->what, "%s, got %.*s%s", what,
			 utf8_cut(got->p, got->n, 40), got->p, got->n > 40 ? "..." : "");
	else
		snprintf(k->what, sizeof k->what, "%s (it is missing)", what);
	return -1;
}

/* A JSON number that is a finite double: 1e999 overflows, as NaN and the
 * infinities (which JSON cannot write, and producers send as strings) are
 * refused.  The span is followed by the rest of its object, so strtod
 * stops at its end. */
static int finite_number(const json_span *v)
{
	if (v->type != JSON_NUMBER)
		return 0;
	char tmp[64];
	const char *p = v->p;
	if (v->n < sizeof tmp) {
		memcpy(tmp, v->p, v->n);
		tmp[v->n] = 0;
		p = tmp;
	}
	return isfinite(strtod(p, NULL));
}

/* A JSON number without fraction or exponent that fits an int64. */
static int integer_number(const json_span *v)
{
	if (v->type != JSON_NUMBER || v->n > 20)
		return 0;
	char tmp[24];
	for (size_t i = 0; i < v->n; i++)
		if (v->p[i] == '.' || v->p[i] == 'e' || v->p[i] == 'E')
			return 0;
	memcpy(tmp, v->p, v->n);
	tmp[v->n] = 0;
	errno = 0;
	(void)strtoll(tmp, NULL, 10);
	return errno == 0;
}

/* A member's key as text for a field path (raw bytes, cut at 40). */
static void key_text(const json_span *k, char *out, size_t cap)
{
	snprintf(out, cap, "%.*s", utf8_cut(k->p + 1, k->n - 2, 40), k->p + 1);
}

/* Are all the values of object o (valid JSON) strings?  One pass that
 * skips strings without validating them again: tags are most of a
 * metric's data, and every metric is checked. */
static int all_strings(const json_span *o)
{
	const char *p = o->p, *end = o->p + o->n;
#define WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
	while (p < end && *p != '{')
		p++;
	for (p++;;) {
		while (p < end && (WS(*p) || *p == ','))
			p++;
		if (p >= end || *p != '"')
			return 1;            /* the closing brace */
		p = eg_json_string_end(p, end, NULL);
		while (p < end && (WS(*p) || *p == ':'))
			p++;
		if (p >= end || *p != '"')
			return 0;
		p = eg_json_string_end(p, end, NULL);
	}
#undef WS
}

static int check_metric(const json_span *d, kindchk *k)
{
	static const char *const names[] = { "value", "tags" };
	static const size_t lens[] = { 5, 4 };
	json_span m[2];
	unsigned got = eg_json_members_valid(d, names, lens, 2, m);
	if (!(got & 1))
		return kind_bad(k, NULL, "data.value", "a finite number");
	if (!finite_number(&m[0]))
		return kind_bad(k, &m[0], "data.value", "a finite number");
	if (!(got & 2))
		return 0;
	if (m[1].type != JSON_OBJECT)
		return kind_bad(k, &m[1], "data.tags", "an object whose values are strings");
	if (all_strings(&m[1]))
		return 0;
	/* name the tag: the slow way, once */
	json_obj it;
	json_span key, val;
	if (eg_json_obj_begin(&it, m[1].p, m[1].n, NULL))
		return kind_bad(k, &m[1], "data.tags", "an object whose values are strings");
	while (eg_json_obj_next(&it, &key, &val, NULL) == 1)
		if (val.type != JSON_STRING) {
			char name[48], f[96];
			key_text(&key, name, sizeof name);
			snprintf(f, sizeof f, "data.tags.%s", name);
			return kind_bad(k, &val, f, "a string (tag values are strings)");
		}
	return kind_bad(k, &m[1], "data.tags", "an object whose values are strings");
}

/* One frame of an error's stack: an object whose function and file are
 * strings, line an integer (or null: not known, as a trace's native or
 * anonymous frames, and as --map stacks writes them) and in_app a
 * boolean, each when present. */
static int check_frame(const json_span *fr, size_t i, kindchk *k)
{
	char f[96];
	snprintf(f, sizeof f, "data.stack[%zu]", i);
	if (fr->type != JSON_OBJECT)
		return kind_bad(k, fr, f, "an object (a frame: function, file, line, in_app)");
	static const char *const names[] = { "function", "file", "line", "in_app" };
	static const size_t lens[] = { 8, 4, 4, 6 };
	static const char *const want[] = { "a string", "a string", "an integer or null",
					    "true or false" };
	json_span v[4];
	unsigned got = eg_json_members_valid(fr, names, lens, 4, v);
	for (int m = 0; m < 4; m++) {
		if (!(got & 1u << m))
			continue;
		int ok = m < 2 ? v[m].type == JSON_STRING : m == 2 ? v[m].type == JSON_NULL || integer_number(&v[m])
			 : v[m].type == JSON_TRUE || v[m].type == JSON_FALSE;
		if (!ok) {
			snprintf(f, sizeof f, "data.stack[%zu].%s", i, names[m]);
			return kind_bad(k, &v[m], f, want[m]);
		}
	}
	return 0;
}

static int check_error(const json_span *d, kindchk *k)
{
	enum { MSG, STACK, SERVICE, RELEASE, FP };
	static const char *const names[] = { "message", "stack", "service", "release",
					     "fingerprint" };
	static const size_t lens[] = { 7, 5, 7, 7, 11 };
	json_span v[5];
	unsigned got = eg_json_members_valid(d, names, lens, 5, v);
	if (!(got & 1u << MSG))
		return kind_bad(k, NULL, "data.message", "a string (the error's message)");
	if (v[MSG].type != JSON_STRING)
		return kind_bad(k, &v[MSG], "data.message", "a string (the error's message)");
	if (got & 1u << STACK) {
		if (v[STACK].type == JSON_ARRAY) {
			json_arr a;
			json_span fr;
			size_t i = 0;
			eg_json_arr_begin(&a, &v[STACK]);
			while (eg_json_arr_next(&a, &fr) == 1)
				if (check_frame(&fr, i++, k))
					return -1;
		} else if (v[STACK].type != JSON_STRING) {
			return kind_bad(k, &v[STACK], "data.stack", "an array of frames or a string");
		}
	}
	for (int m = SERVICE; m <= RELEASE; m++)
		if (got & 1u << m && v[m].type != JSON_STRING) {
			char f[32];
			snprintf(f, sizeof f, "data.%s", names[m]);
			return kind_bad(k, &v[m], f, "a string");
		}
	if (got & 1u << FP) {
		int ok = v[FP].type == JSON_STRING;
		if (v[FP].type == JSON_ARRAY) {
			json_arr a;
			json_span s;
			ok = 1;
			eg_json_arr_begin(&a, &v[FP]);
			while (ok && eg_json_arr_next(&a, &s) == 1)
				ok = s.type == JSON_STRING;
		}
		if (!ok)
			return kind_bad(k, &v[FP], "data.fingerprint", "a string or an array of strings");
	}
	return 0;
}

static int check_kind(pctx *pc, envelope *e)
{
	rec_in *ri = &e->r;
	if (ri->kind != EG_KIND_METRIC && ri->kind != EG_KIND_ERROR)
		return EG_OK;
	json_span d = { ri->data, ri->data_len, JSON_OBJECT };
	kindchk k;
	int bad = ri->kind == EG_KIND_METRIC ? check_metric(&d, &k) : check_error(&d, &k);
	if (!bad)
		return EG_OK;
	if (!pc->b->o.quarantine || pc->b->internal)
		return perr(pc, "field \"%s\": expected %s (%s)", k.field, k.what,
			    ri->kind == EG_KIND_METRIC ? "a metric" : "an error");
	/* as a schema's errors: a JSON pointer, the keyword, the message */
	char ptr[128], q[3][6 * sizeof k.what + 8];
	size_t n = (size_t)snprintf(ptr, sizeof ptr, "/%s", k.field);
	for (size_t i = 0; i < n; i++)
		if (ptr[i] == '.' || ptr[i] == '[')
			ptr[i] = '/';
		else if (ptr[i] == ']')
			memmove(ptr + i, ptr + i + 1, n-- - i), i--;
	char msg[sizeof k.what + 16];
	snprintf(msg, sizeof msg, "expected %s", k.what);
	const char *f[3] = { ptr, ri->kind == EG_KIND_METRIC ? "metric" : "error", msg };
	for (int m = 0; m < 3; m++)
		q[m][eg_json_quote(f[m], strlen(f[m]), q[m])] = 0;
	snprintf(pc->err, ERR_LEN, "[{\"pointer\":%s,\"keyword\":%s,\"message\":%s}]",
		 q[0], q[1], q[2]);
	e->qerr = pc->err;
	e->qversion = 0;
	return EG_OK;
}

/* Write errs as the JSON array of a quarantine event into pc->err. */
static void errors_json(pctx *pc, const eg_schema_error *errs, size_t n)
{
	char *p = pc->err, *end = pc->err + ERR_LEN;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		char q[3][6 * EG_SCHEMA_MSG_MAX + 8];
		const char *f[3] = { errs[i].pointer, errs[i].keyword, errs[i].message };
		for (int k = 0; k < 3; k++)
			q[k][eg_json_quote(f[k], strlen(f[k]), q[k])] = 0;
		int w = snprintf(p, (size_t)(end - p), "%s{\"pointer\":%s,\"keyword\":%s,\"message\":%s}",
				 i ? "," : "", q[0], q[1], q[2]);
		if (w < 0 || w >= end - p - 2)
			break;
		p += w;
	}
	*p++ = ']';
	*p = 0;
}

/* Check the event against the latest version of its type's schema
 * (docs/CONTRACTS.md): on a violation, refuse the line naming each error,
 * or with --quarantine mark it for $quarantine. */
static int check_contract(pctx *pc, envelope *e)
{
	enum { MAXERR = 4 };
	const eg_batch *b = pc->b;
	const registry *reg = b->st->reg;
	rec_in *ri = &e->r;
	if (!reg || b->internal)
		return EG_OK;
	const ctype *t = eg_reg_type(reg, ri->type, ri->type_len);
	if (!t || !t->n) {
		if (reg->require_all)
			return perr(pc, "field \"type\": \"%.*s\" has no schema, and schema require-all "
				    "is on (engram schema add registers one)",
				    ri->type_len > 200 ? 200 : (int)ri->type_len, ri->type);
		return EG_OK;
	}
	const cver *v = &t->v[t->n - 1];
	eg_schema_error errs[MAXERR];
	size_t ne = 0;
	if (eg_schema_validate(v->s, ri->data, ri->data_len, errs, MAXERR, &ne) < 0)
		return perr(pc, "out of memory validating field \"data\"");
	for (size_t i = 0; i < ne; i++) {
		char ptr[EG_SCHEMA_PTR_MAX];
		snprintf(ptr, sizeof ptr, "/data%s", errs[i].pointer);
		memcpy(errs[i].pointer, ptr, sizeof ptr);
	}
	static const char *const ENV[3] = { "actor", "session", "stream" };
	const char *val[3] = { ri->actor, ri->session, ri->stream };
	size_t len[3] = { ri->actor_len, ri->session_len, ri->stream_len };
	for (int i = 0; i < 3 && ne < MAXERR && eg_schema_has_envelope(v->s); i++) {
		size_t m = 0;
		if (eg_schema_validate_envelope(v->s, ENV[i], len[i] ? val[i] : NULL, len[i],
						errs + ne, MAXERR - ne, &m) < 0)
			return perr(pc, "out of memory validating field \"%s\"", ENV[i]);
		ne += m;
	}
	if (!ne) {
		ri->schema_version = v->version;
		return EG_OK;
	}
	if (b->o.quarantine) {
		errors_json(pc, errs, ne);
		e->qerr = pc->err;
		e->qversion = v->version;
		return EG_OK;
	}
	char *p = pc->err, *end = pc->err + ERR_LEN;
	p += snprintf(p, (size_t)(end - p), "schema %.*s v%llu: ",
		      ri->type_len > 100 ? 100 : (int)ri->type_len, ri->type,
		      (unsigned long long)v->version);
	for (size_t i = 0; i < ne && p < end; i++)
		p += snprintf(p, (size_t)(end - p), "%s%s: %s: %s", i ? "; " : "", errs[i].pointer,
			      errs[i].keyword, errs[i].message);
	return EG_EINVAL;
}

/* ------------------------------------------------------------- mapped */

/* Name the source of a mapped field in a message about it: field "stream"
 * (from userId): expected a string. */
static void name_source(pctx *pc, const char *from)
{
	const char *q = strncmp(pc->err, "field \"", 7) ? NULL : strchr(pc->err + 7, '"');
	if (!q || !from)
		return;
	char rest[ERR_LEN];
	snprintf(rest, sizeof rest, "%s", q + 1);
	snprintf(pc->err + (q + 1 - pc->err), ERR_LEN - (size_t)(q + 1 - pc->err),
		 " (from %s)%s", from, rest);
}

/* A mapped value as the envelope wants it: a number where a string field
 * is expected is taken as its text (numeric user ids), and a time without
 * a zone offset (Snowplow's 2025-01-17 11:15:18.940) is read as UTC. */
static void mapped_value(pctx *pc, int f, json_span *v)
{
	if (f == MF_DATA || f == MF_META || f == MF_KIND)
		return;
	if (f != MF_TIME && v->type == JSON_NUMBER) {
		char *s = pc->space;
		s[0] = '"';
		memcpy(s + 1, v->p, v->n);
		s[v->n + 1] = '"';
		*v = (json_span){ s, v->n + 2, JSON_STRING };
		pc->space += v->n + 2;
		return;
	}
	int64_t t;
	if (f == MF_TIME && v->type == JSON_STRING && v->n >= 21 && v->n < 64 &&
	    eg_json_string_is_plain(v) && eg_time_parse_rfc3339(v->p + 1, v->n - 2, &t)) {
		char z[64];
		memcpy(z, v->p + 1, v->n - 2);
		z[v->n - 2] = 'Z';
		if (eg_time_parse_rfc3339(z, v->n - 1, &t) == 0) {
			char *s = pc->space;
			memcpy(s, v->p, v->n - 1);
			memcpy(s + v->n - 1, "Z\"", 2);
			*v = (json_span){ s, v->n + 1, JSON_STRING };
			pc->space += v->n + 1;
		}
	}
}

/* Parse a producer's line through the batch's map: each field the map
 * gives is checked as the same field of an envelope would be. */
static int parse_mapped(pctx *pc, const char *json, size_t len, envelope *e)
{
	static const json_span keys[MF_N] = {
		{ "\"id\"", 4, JSON_STRING }, { "\"stream\"", 8, JSON_STRING },
		{ "\"type\"", 6, JSON_STRING }, { "\"kind\"", 6, JSON_STRING },
		{ "\"time\"", 6, JSON_STRING }, { "\"actor\"", 7, JSON_STRING },
		{ "\"session\"", 9, JSON_STRING }, { "\"data\"", 6, JSON_STRING },
		{ "\"meta\"", 6, JSON_STRING },
	};
	memset(e, 0, sizeof *e);
	map_out mo;
	if (eg_map_apply(pc->b->o.map, json, len, &pc->space, &mo, pc->err, ERR_LEN))
		return EG_EINVAL;
	unsigned seen = 0;
	for (int f = 0; f < MF_N; f++) {
		json_span v = mo.v[f];
		if (!v.type)
			continue;
		if (f == MF_DATA || f == MF_META) {
			/* built minified by the map, from validated text */
			if (f == MF_DATA) {
				e->r.data = v.p;
				e->r.data_len = v.n;
			} else {
				e->r.meta = v.p;
				e->r.meta_len = v.n;
			}
			continue;
		}
		mapped_value(pc, f, &v);
		int rc = member(pc, e, &keys[f], &v, &seen);
		if (rc) {
			name_source(pc, mo.from[f]);
			return rc;
		}
	}
	return finish_envelope(pc, e);
}

/* ---------------------------------------------------------------- add */

/* Put the line e, refused by its schema, whole into $quarantine instead
 * (docs/CONTRACTS.md): the event as an envelope that `quarantine retry`
 * appends as it is, under an id (its own, or one given now, so that a
 * retry appends it once), with its line and errors. */
static int quarantine(eg_batch *b, envelope *e, uint64_t line)
{
	rec_in *r = &e->r;
	buf *q = &b->qbuf;
	char num[64], t[EG_TIME_LEN + 1];
	static const char *const KINDS[] = { "event", "metric", "error" };
	if (!e->has_id) {
		uuid7(b, e->idbuf);
		r->id = e->idbuf;
		r->id_len = 36;
		e->has_id = 1;
	}
	eg_time_format(e->has_time ? r->time : now_us(), t);
	q->n = 0;
	snprintf(num, sizeof num, "%llu", (unsigned long long)line);
	int bad = buf_puts(q, "{\"line\":") || buf_puts(q, num) || buf_puts(q, ",\"type\":") ||
		  buf_quote(q, r->type, r->type_len);
	snprintf(num, sizeof num, "%llu", (unsigned long long)e->qversion);
	bad = bad || buf_puts(q, ",\"schema_version\":") || buf_puts(q, num) ||
	      buf_puts(q, ",\"errors\":") || buf_puts(q, e->qerr) ||
	      buf_puts(q, ",\"event\":{\"id\":") || buf_quote(q, r->id, r->id_len);
	if (r->stream_len)
		bad = bad || buf_puts(q, ",\"stream\":") || buf_quote(q, r->stream, r->stream_len);
	bad = bad || buf_puts(q, ",\"type\":") || buf_quote(q, r->type, r->type_len);
	if (r->kind)
		bad = bad || buf_puts(q, ",\"kind\":\"") || buf_puts(q, KINDS[r->kind % 3]) ||
		      buf_puts(q, "\"");
	bad = bad || buf_puts(q, ",\"time\":\"") || buf_puts(q, t) || buf_puts(q, "\"");
	if (r->actor_len)
		bad = bad || buf_puts(q, ",\"actor\":") || buf_quote(q, r->actor, r->actor_len);
	if (r->session_len)
		bad = bad || buf_puts(q, ",\"session\":") || buf_quote(q, r->session, r->session_len);
	bad = bad || buf_puts(q, ",\"data\":") || buf_add(q, r->data, r->data_len);
	if (r->meta_len)
		bad = bad || buf_puts(q, ",\"meta\":") || buf_add(q, r->meta, r->meta_len);
	/* its tags too, so that a retry appends the event whole */
	const unsigned char *tp = (const unsigned char *)r->tags, *te = tp + r->tags_len;
	for (int k = 0; tp && tp < te && !bad; k++) {
		uint64_t n = 0;
		varint_get(&tp, te, &n);
		bad = buf_puts(q, k ? "," : ",\"tags\":[") || buf_quote(q, (const char *)tp, n);
		tp += n;
	}
	if (r->tags_len)
		bad = bad || buf_puts(q, "]");
	if (bad || buf_puts(q, "}}"))
		return eg_st_err(b->st, EG_ENOMEM, "out of memory");
	*r = (rec_in){ .stream = QUARANTINE_STREAM, .stream_len = strlen(QUARANTINE_STREAM),
		       .type = REJECTED_EVENT, .type_len = strlen(REJECTED_EVENT),
		       .actor = "", .session = "", .meta = "", .data = q->p, .data_len = q->n };
	e->has_id = e->has_time = e->id_hashed = e->keys_hashed = 0;
	e->qerr = NULL;
	b->res.quarantined++;
	return EG_OK;
}

static int sub_commit(eg_batch *b, int sync);

/* keep_recorded: an event of input line `line` is recorded at rec.  Record
 * time is per commit and never decreases along the log, and none is in the
 * future (so that a reader's "as known at k" never changes once k has
 * passed): a new value must not be before the last line's nor the head's,
 * nor after now, and ends the open commit.  That commit is synced with the
 * batch's last one, not now: a history of many loads is many commits. */
static int take_recorded(eg_batch *b, int64_t rec, uint64_t line)
{
	eg_store *st = b->st;
	if (b->rec_line && rec == b->rec) {
		b->rec_line = line;
		return EG_OK;
	}
	char got[EG_TIME_LEN + 1], lim[EG_TIME_LEN + 1];
	eg_time_format(rec, got);
	if (b->rec_line && rec < b->rec) {
		eg_time_format(b->rec, lim);
		return eg_st_err(st, EG_EINVAL, "field \"recorded\": expected a time not before "
				 "line %llu's (%s), got %s", (unsigned long long)b->rec_line, lim, got);
	}
	if (rec < st->log.head_recorded) {
		eg_time_format(st->log.head_recorded, lim);
		return eg_st_err(st, EG_EINVAL, "field \"recorded\": expected a time not before "
				 "the store head's recorded (%s), got %s", lim, got);
	}
	int64_t now = now_us();
	if (rec > now) {
		eg_time_format(now, lim);
		return eg_st_err(st, EG_EINVAL, "field \"recorded\": expected a time not later "
				 "than now (%s), got %s", lim, got);
	}
	if (b->count) {
		int rc = sub_commit(b, b->o.sync == EG_SYNC_ALWAYS ? EG_SYNC_LATER : b->o.sync);
		if (rc)
			return rc;
		sub_begin(b);
	}
	b->rec = rec;
	b->rec_line = line;
	return EG_OK;
}

/* Does the latest version of r's type mark properties personal? */
static int personal_type(eg_store *st, const rec_in *r)
{
	const ctype *t = st->reg && st->reg->personal ? eg_reg_type(st->reg, r->type, r->type_len)
						      : NULL;
	return t && t->n && t->v[t->n - 1].pers;
}

/* The personal properties of the schema version e passed, or NULL. */
static const eg_personal *personal_of(const eg_batch *b, const envelope *e)
{
	const registry *reg = b->st->reg;
	const rec_in *r = &e->r;
	if (!r->schema_version || e->qerr || !reg || !reg->personal || b->internal)
		return NULL;
	const ctype *t = eg_reg_type(reg, r->type, r->type_len);
	return t && r->schema_version <= t->n ? t->v[r->schema_version - 1].pers : NULL;
}

/* Sealed values are bound to the event's id, so an event without one
 * gets its UUIDv7 before it is sealed, from rnd (the thread's own). */
static void give_id(uint64_t rnd[2], envelope *e)
{
	if (e->has_id)
		return;
	uuid7_r(rnd, e->idbuf);
	e->r.id = e->idbuf;
	e->r.id_len = 36;
	e->has_id = 1;
	e->id_hashed = 0;
}

/* An event that passed a schema version with personal properties p: its
 * data, its personal values encrypted under the subject's key and bound
 * to its id (docs/FORGETTING.md), appended to out (from e->enc_off; the
 * caller points r.data there once out stops moving).  The subject's key,
 * if new, is written before the batch's commit (sub_commit).  EG_OK, or
 * an error with its message in err. */
static int seal_line(eg_batch *b, struct eg_shred_cx **cx, const eg_personal *p, envelope *e,
		     buf *out, char *err)
{
	rec_in *r = &e->r;
	r->enc = 0;
	e->seal_late = 0;
	if (!*cx && !(*cx = eg_shred_cx_new())) {
		snprintf(err, ERR_LEN, "out of memory");
		return EG_ENOMEM;
	}
	int sealed = 0;
	size_t at = out->n;
	int rc = eg_keys_seal_data(b->st, *cx, p, r->id, r->id_len, r->data, r->data_len, out,
				   &sealed, err, ERR_LEN);
	if (rc || !sealed) {
		out->n = at;
		return rc;
	}
	e->enc_off = at;
	r->data = NULL;
	r->data_len = out->n - at;
	r->enc = 1;
	return EG_OK;
}

static int add_event(eg_batch *b, envelope *e, uint64_t line)
{
	eg_store *st = b->st;
	rec_in *r = &e->r;
	int rc;
	if (e->qerr && personal_type(st, r)) {
		/* $quarantine would keep the line whole, its personal values in
		 * the clear (docs/FORGETTING.md) */
		return eg_st_err(st, EG_EINVAL, "field \"data\": fails its schema (%s), and %.*s has "
				 "personal properties, which $quarantine would keep unencrypted: "
				 "fix the line", e->qerr, r->type_len > 100 ? 100 : (int)r->type_len,
				 r->type);
	}
	if (e->seal_late) {          /* before anything of the event is kept */
		b->ebuf.n = 0;
		if ((rc = seal_line(b, &b->cx, personal_of(b, e), e, &b->ebuf, st->err)))
			return rc;   /* its message in st->err */
		if (r->enc)
			r->data = b->ebuf.p + e->enc_off;
	}
	if (e->qerr) {
		/* One already stored is a duplicate, whatever its schema says now. */
		uint64_t old = 0;
		if (e->has_id && (rc = eg_index_id_find(st, r->id, r->id_len, &old)))
			return rc;
		if (old) {
			b->res.duplicates++;
			return EG_EDUP;
		}
		if ((rc = quarantine(b, e, line)))
			return rc;
	}
	if (!e->has_id) {
		uuid7(b, e->idbuf);
		r->id = e->idbuf;
		r->id_len = 36;
		e->id_hashed = 0;
	}
	/* A batch that checks a stream's version writes to that stream only:
	 * an event for another one would go in unchecked. */
	if (b->o.expect_version >= 0 && b->exp_stream &&
	    (r->stream_len != strlen(b->exp_stream) ||
	     memcmp(r->stream, b->exp_stream, r->stream_len)))
		return eg_st_err(st, EG_EINVAL, "field \"stream\": expected \"%s\", the stream whose "
			      "version this batch checks, got \"%.*s\"", b->exp_stream,
			      r->stream_len > 200 ? 200 : (int)r->stream_len, r->stream);
	uint64_t old;
	uint64_t idhash = e->id_hashed ? e->idhash : eg_id_hash(r->id, r->id_len);
	if ((rc = eg_index_id_find_h(st, r->id, r->id_len, idhash, &old)))
		return rc;
	if (old) {
		b->res.duplicates++;
		return EG_EDUP;
	}
	/* Before any key is made: a new record time commits what came before. */
	if (b->o.keep_recorded && (rc = take_recorded(b, e->recorded, line)))
		return rc;
	uint64_t sid = UINT64_MAX, tid;
	int h = e->keys_hashed;
	if (r->stream_len &&
	    (rc = eg_index_key_get_h(st, 0, r->stream, r->stream_len,
				     h ? e->shash : eg_key_hash(0, r->stream, r->stream_len), &sid)))
		return rc;
	if ((rc = eg_index_key_get_h(st, 1, r->type, r->type_len,
				     h ? e->thash : eg_key_hash(1, r->type, r->type_len), &tid)))
		return rc;
	keystate ks;
	r->version = sid != UINT64_MAX && eg_index_keystate(st, sid, &ks) ? ks.version + 1 : 0;
	r->pos = b->next_pos;
	/* An event without a time takes its batch's record time, which is
	 * known only at commit: the record says so and readers fill it in. */
	if (!e->has_time)
		r->time = REC_TIME_RECORDED;
	logpos at;
	size_t bound = eg_rec_event_bound(r);
	unsigned char *p = eg_log_reserve(st, &st->log, bound, r->pos, &at);
	if (!p)
		return EG_EIO;
	size_t n = eg_rec_event_encode(r, p);
	eg_log_advance(&st->log, n);
	eg_event ev = { .pos = r->pos, .version = r->version, .time = r->time };
	if ((rc = eg_index_note_event(st, &ev, at, p, n, sid, tid)) ||
	    (r->tags_len && (rc = eg_index_note_tags(st, r->pos, r->tags, r->tags_len))) ||
	    (rc = eg_index_id_add_h(st, idhash, r->pos)))
		return rc;
	b->next_pos++;
	b->count++;
	return EG_OK;
}

/* An event just added from input line `line` (1-based, of the batch):
 * note it in the result if its time looks like epoch seconds. */
static void note_time(eg_batch *b, const envelope *e, uint64_t line)
{
	if (!e->seconds_like)
		return;
	if (!b->res.seconds_count++) {
		b->res.seconds_line = line;
		b->res.seconds_time = e->r.time;
	}
}

/* Make b->scratch hold at least n bytes. */
static int scratch(eg_batch *b, size_t n)
{
	if (n <= b->scap)
		return EG_OK;
	char *s = realloc(b->scratch, n + 4096);
	if (!s)
		return eg_st_err(b->st, EG_ENOMEM, "out of memory");
	b->scratch = s;
	b->scap = n + 4096;
	return EG_OK;
}

/* A parsed line's defaults (eg_line_defaults): the id and time it lacks. */
static int take_defaults(pctx *pc, envelope *e, const eg_line_defaults *d)
{
	if (!d)
		return EG_OK;
	if (!e->has_id && d->id) {
		if (d->id_len == 0 || d->id_len > ID_MAX)
			return perr(pc, "default id: expected 1 to %d bytes, got %zu", ID_MAX, d->id_len);
		if (!eg_json_utf8_valid(d->id, d->id_len))
			return perr(pc, "default id: expected UTF-8 text");
		e->r.id = d->id;
		e->r.id_len = d->id_len;
		e->has_id = 1;
	}
	if (!e->has_time && d->has_time) {
		e->r.time = d->time;
		e->has_time = 1;
	}
	return EG_OK;
}

/* The event time a line added (or found a duplicate) with: 0 when none. */
static int64_t line_time(const envelope *e)
{
	return e->has_time ? e->r.time : 0;
}

int eg_batch_add_json(eg_batch *b, const char *json, size_t len)
{
	return eg_batch_add_json_with(b, json, len, NULL);
}

int eg_batch_add_json_with(eg_batch *b, const char *json, size_t len,
			   const eg_line_defaults *d)
{
	envelope e;
	int rc = scratch(b, line_space(b, len));
	if (rc)
		return rc;
	pctx pc = { b, b->st->err, b->scratch };
	b->lines++;
	if ((rc = parse_envelope(&pc, json, len, &e)) || (rc = take_defaults(&pc, &e, d)))
		return rc;
	if (personal_of(b, &e)) {    /* sealed in add_event */
		give_id(b->rnd, &e);
		e.seal_late = 1;
	}
	rc = add_event(b, &e, b->lines);
	if (rc == EG_OK)
		note_time(b, &e, b->lines);
	if (rc == EG_OK && b->o.commit_every && b->count >= b->o.commit_every) {
		if ((rc = sub_commit(b, b->o.sync)) == EG_OK)
			sub_begin(b);
	}
	return rc;
}

/* ------------------------------------------------------ bulk, pipelined */

#define CHUNK_LINES 1024
/* Chunks in the ring between the parsing thread and the adding one: more
 * than two lets the one that is ahead keep going while the other has a
 * slow chunk (a validation error's message, a flush of the index). */
#define NCHUNKS 4
/* Below this many bytes, a text is parsed without the second thread. */
#define SMALL_NDJSON (64u << 10)

/* A chunk of lines parsed on the reading thread, waiting to be added. */
typedef struct chunk {
	envelope e[CHUNK_LINES];
	int rc[CHUNK_LINES];          /* EG_OK, EG_EINVAL, or EG_END (blank) */
	const char *text[CHUNK_LINES];
	size_t len[CHUNK_LINES];
	eg_line *src[CHUNK_LINES];    /* eg_batch_add_lines: the line; else NULL */
	size_t n;
	char *space, *errs;           /* scratch; one ERR_LEN message per line */
	size_t cap;
	buf enc;                      /* the lines' data with personal values sealed */
} chunk;

/* A bulk add: the reader splits and parses chunks (parse_chunk), this
 * thread adds them in order (add_chunk), over pipe.c's ring of NCHUNKS. */
typedef struct bulk {
	eg_batch *b;
	const char *p, *end;          /* the reader's place in the buffer */
	eg_line *arr;                 /* or in eg_batch_add_lines' array */
	size_t an, ai;
	chunk c[NCHUNKS];
	uint64_t *lines;              /* lines added so far */
	eg_bad_line_fn on_bad;
	void *ctx;
	struct eg_shred_cx *cx;       /* the reader's cipher (seal_line) */
	uint64_t rnd[2];              /* the reader's UUIDv7 randomness */
	int nomem;                    /* the reader ran out of memory */
	int add_rc;                   /* the error that stopped add_chunk */
} bulk;

static int blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Make c's scratch hold need bytes.  The space holds nothing yet: no need
 * to copy it (realloc would, touching every page of a bound mostly left
 * unused). */
static int chunk_space(chunk *c, size_t need)
{
	if (need > c->cap) {
		free(c->space);
		c->cap = need + need / 2;
		if (!(c->space = malloc(c->cap))) {
			c->cap = 0;
			return EG_ENOMEM;
		}
	}
	if (!c->errs && !(c->errs = malloc((size_t)CHUNK_LINES * ERR_LEN)))
		return EG_ENOMEM;
	return EG_OK;
}

/* How many lines ahead a sealing thread asks for a subject's key entry
 * (its map slot was asked for earlier: the entry's place is in it). */
#define SEAL_AHEAD 4

/* Reader: split the next lines off the buffer into chunk cp and parse
 * them.  EG_OK while more lines follow, EG_END after the last, EG_ENOMEM
 * (the chunk then holds none). */
static int parse_chunk(void *kp, void *cp)
{
	bulk *k = kp;
	chunk *c = cp;
	c->n = 0;
	c->enc.n = 0;
	size_t need = 0;
	while (k->arr && c->n < CHUNK_LINES && k->ai < k->an) {
		eg_line *l = &k->arr[k->ai++];
		c->src[c->n] = l;
		c->text[c->n] = l->json;
		c->len[c->n] = l->len;
		need += line_space(k->b, l->len);
		c->n++;
	}
	while (!k->arr && c->n < CHUNK_LINES && k->p < k->end) {
		c->src[c->n] = NULL;
		const char *nl = memchr(k->p, '\n', (size_t)(k->end - k->p));
		size_t n = nl ? (size_t)(nl - k->p) : (size_t)(k->end - k->p);
		c->text[c->n] = k->p;
		c->len[c->n] = n && k->p[n - 1] == '\r' ? n - 1 : n;
		need += line_space(k->b, n);
		c->n++;
		k->p += n + (nl != NULL);
	}
	if (chunk_space(c, need)) {
		c->n = 0;
		k->nomem = 1;
		return EG_ENOMEM;
	}
	pctx pc = { k->b, NULL, c->space };
	for (size_t i = 0; i < c->n; i++) {
		if (!c->src[i] && blank_line(c->text[i], c->len[i])) {
			c->rc[i] = EG_END;
			continue;
		}
		pc.err = c->errs + i * ERR_LEN;
		c->rc[i] = parse_envelope(&pc, c->text[i], c->len[i], &c->e[i]);
		if (c->rc[i] == EG_OK && c->src[i])
			c->rc[i] = take_defaults(&pc, &c->e[i], &c->src[i]->d);
		envelope *e = &c->e[i];
		const eg_personal *p = c->rc[i] == EG_OK ? personal_of(k->b, e) : NULL;
		e->subj_hashed = 0;
		if (p) {
			/* Sealing costs about what parsing and validating do:
			 * this thread seals every other line (below, once the
			 * chunk is parsed), the adding one the rest (add_event),
			 * so that neither waits.  Each looks its subject's key
			 * up: the map slot is asked for now, its entry a few
			 * lines ahead (two misses to memory a line otherwise). */
			give_id(k->rnd, e);
			e->seal_late = i & 1;
			if (!eg_keys_subject_hash(p, e->r.data, e->r.data_len, &e->subjhash)) {
				e->subj_hashed = 1;
				if (!e->seal_late)
					eg_keys_prefetch(k->b->st, e->subjhash, 0);
			}
		}
		if (c->rc[i] != EG_OK)
			continue;
		if (e->has_id) {
			e->idhash = eg_id_hash(e->r.id, e->r.id_len);
			e->id_hashed = 1;
			if (e->r.id_len == 36 && eg_uuid_parse(e->r.id, 36, e->uuid) == 0)
				e->r.uuid = e->uuid;
		}
		e->shash = eg_key_hash(0, e->r.stream, e->r.stream_len);
		e->thash = eg_key_hash(1, e->r.type, e->r.type_len);
		e->keys_hashed = 1;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (i + SEAL_AHEAD < c->n && c->rc[i + SEAL_AHEAD] == EG_OK &&
		    c->e[i + SEAL_AHEAD].subj_hashed && !c->e[i + SEAL_AHEAD].seal_late)
			eg_keys_prefetch(k->b->st, c->e[i + SEAL_AHEAD].subjhash, 1);
		const eg_personal *p = c->rc[i] == EG_OK ? personal_of(k->b, &c->e[i]) : NULL;
		if (p && !c->e[i].seal_late)
			c->rc[i] = seal_line(k->b, &k->cx, p, &c->e[i], &c->enc, c->errs + i * ERR_LEN);
	}
	for (size_t i = 0; i < c->n; i++)   /* c->enc has stopped moving */
		if (c->rc[i] == EG_OK && c->e[i].r.enc)
			c->e[i].r.data = c->enc.p + c->e[i].enc_off;
	return (k->arr ? k->ai < k->an : k->p < k->end) ? EG_OK : EG_END;
}

/* Add the lines of one parsed chunk: EG_OK, or the error that stops the
 * add (its message set on the store). */
/* How many lines ahead add_lines asks for id-table slots: enough to cover
 * a miss to memory (~100 ns) with the ~400 ns of work a line takes. */
#define PREFETCH_AHEAD 8

static void prefetch_line(eg_store *st, const chunk *c, size_t i)
{
	if (i >= c->n || c->rc[i] != EG_OK)
		return;
	if (c->e[i].subj_hashed && c->e[i].seal_late)
		eg_keys_prefetch(st, c->e[i].subjhash, 0);
	if (c->e[i].id_hashed)
		eg_index_id_prefetch(st, c->e[i].idhash);
	eg_index_key_prefetch(st, c->e[i].shash);
}

static int add_lines(bulk *k, chunk *c)
{
	eg_batch *b = k->b;
	for (size_t i = 0; i < PREFETCH_AHEAD; i++)
		prefetch_line(b->st, c, i);
	for (size_t i = 0; i < c->n; i++) {
		prefetch_line(b->st, c, i + PREFETCH_AHEAD);
		size_t j = i + SEAL_AHEAD;   /* the key entry of a line to seal here */
		if (j < c->n && c->rc[j] == EG_OK && c->e[j].subj_hashed && c->e[j].seal_late)
			eg_keys_prefetch(b->st, c->e[j].subjhash, 1);
		uint64_t line = ++*k->lines;
		int rc = c->rc[i];
		if (rc == EG_END)
			continue;
		if (c->src[i]) {
			c->src[i]->rc = rc;
			c->src[i]->time = 0;
		}
		if (rc == EG_EINVAL) {
			const char *msg = c->errs + i * ERR_LEN;
			if (!k->on_bad || k->on_bad(k->ctx, line - 1, c->text[i], c->len[i], msg))
				return eg_st_err(b->st, EG_EINVAL, "%s", msg);
			continue;
		}
		rc = add_event(b, &c->e[i], b->lines + line);
		if (rc == EG_OK)
			note_time(b, &c->e[i], b->lines + line);
		if (c->src[i] && (rc == EG_OK || rc == EG_EDUP)) {
			c->src[i]->rc = rc;
			c->src[i]->time = line_time(&c->e[i]);
		}
		if (rc == EG_OK && b->o.commit_every && b->count >= b->o.commit_every &&
		    (rc = sub_commit(b, b->o.sync)) == EG_OK)
			sub_begin(b);
		if (rc != EG_OK && rc != EG_EDUP)
			return rc;
	}
	return EG_OK;
}

/* Engine side of the pipe: add_lines, keeping the error it stopped on. */
static int add_chunk(void *kp, void *cp)
{
	bulk *k = kp;
	k->add_rc = add_lines(k, cp);
	return k->add_rc;
}

static int add_bulk(eg_batch *b, const char *text, size_t len, eg_line *arr, size_t an,
		    eg_bad_line_fn on_bad, void *ctx, uint64_t *lines)
{
	*lines = 0;
	/* Not calloc: the chunks' arrays (about 1 MB) are written line by line
	 * before they are read (parse_envelope zeroes each envelope), and
	 * zeroing them cost a request of one event more than its commit. */
	bulk *k = malloc(sizeof *k);
	if (!k)
		return eg_st_err(b->st, EG_ENOMEM, "out of memory");
	k->nomem = k->add_rc = 0;
	for (int i = 0; i < NCHUNKS; i++) {
		k->c[i].n = k->c[i].cap = 0;
		k->c[i].space = k->c[i].errs = NULL;
		k->c[i].enc = (buf){ 0 };
	}
	k->cx = NULL;
	/* the reader's own randomness: b->rnd is the adding thread's */
	if (getrandom(k->rnd, sizeof k->rnd, 0) != sizeof k->rnd)
		k->rnd[0] = b->rnd[0] ^ 0x9e3779b97f4a7c15ull, k->rnd[1] = (uint64_t)(uintptr_t)k;
	k->b = b;
	k->p = text;
	k->end = text + len;
	k->arr = arr;
	k->an = an;
	k->ai = 0;
	if (arr)
		for (size_t i = 0; i < an; i++)
			len += arr[i].len;
	k->lines = lines;
	k->on_bad = on_bad;
	k->ctx = ctx;
	void *cs[NCHUNKS];
	for (int i = 0; i < NCHUNKS; i++)
		cs[i] = &k->c[i];
	/* A small text (a server's request of a few events) is parsed on this
	 * thread: starting a parsing thread costs more than it overlaps. */
	int rc = eg_pipe_run(cs, NCHUNKS, len >= SMALL_NDJSON, parse_chunk, k, add_chunk, k);
	if (rc == EG_END)
		rc = EG_OK;
	else if (rc != k->add_rc)    /* the reader's, its message still to set */
		rc = eg_st_err(b->st, rc, k->nomem ? "out of memory" : "cannot start the parsing thread");
	b->lines += *lines;
	for (int i = 0; i < NCHUNKS; i++) {
		free(k->c[i].space);
		free(k->c[i].errs);
		free(k->c[i].enc.p);
	}
	eg_shred_cx_free(k->cx);
	free(k);
	return rc;
}

int eg_batch_add_ndjson(eg_batch *b, const char *text, size_t len,
			eg_bad_line_fn on_bad, void *ctx, uint64_t *lines)
{
	return add_bulk(b, text, len, NULL, 0, on_bad, ctx, lines);
}

int eg_batch_add_lines(eg_batch *b, eg_line *lines, size_t n,
		       eg_bad_line_fn on_bad, void *ctx, uint64_t *done)
{
	if (!n) {
		*done = 0;
		return EG_OK;
	}
	return add_bulk(b, NULL, 0, lines, n, on_bad, ctx, done);
}

/* Add an envelope line of engram's own, never through the batch's map;
 * internal: as engram's own (a $ stream, no schema check). */
static int add_own(eg_batch *b, const buf *line, int internal, const eg_line_defaults *d)
{
	int rc = scratch(b, line_space(b, line->n) + 2 * line->n + 64);
	if (rc)
		return rc;
	const eg_map *map = b->o.map;
	int was = b->internal;
	b->o.map = NULL;
	b->internal = internal;
	envelope e;
	pctx pc = { b, b->st->err, b->scratch };
	rc = parse_envelope(&pc, line->p, line->n, &e);
	b->o.map = map;
	b->internal = was;
	if (rc == EG_OK)
		rc = take_defaults(&pc, &e, d);
	if (rc == EG_OK)
		rc = add_event(b, &e, b->lines);
	return rc;
}

int eg_batch_add_system(eg_batch *b, const char *stream, const char *type,
			const char *data_json, size_t n)
{
	eg_store *st = b->st;
	size_t sl = strlen(stream);
	if (!eg_reserved_stream(stream, sl) || !strcmp(stream, SCHEMAS_STREAM))
		return eg_st_err(st, EG_EINVAL, "stream \"%.200s\": expected a reserved stream "
				 "(beginning with '$'), not %s", stream, SCHEMAS_STREAM);
	if (b->o.keep_recorded)
		return eg_st_err(st, EG_EINVAL, "engram's own events do not go in a keep_recorded "
				 "batch (they have no \"recorded\")");
	/* The event as an envelope line, parsed as any line is (so that data
	 * is checked and minified), but as engram's own. */
	buf line = { 0 };
	int rc = EG_ENOMEM;
	if (buf_puts(&line, "{\"stream\":") || buf_quote(&line, stream, sl) ||
	    buf_puts(&line, ",\"type\":") || buf_quote(&line, type, strlen(type)) ||
	    buf_puts(&line, ",\"data\":") || buf_add(&line, data_json, n) || buf_puts(&line, "}"))
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
	else
		rc = add_own(b, &line, 1, NULL);
	free(line.p);
	return rc;
}

int eg_batch_add_heartbeat(eg_batch *b, int64_t time, const char *data_json, size_t n)
{
	buf line = { 0 };
	int rc;
	if (buf_puts(&line, "{\"stream\":\"" EG_HEARTBEAT "\",\"type\":\"" EG_HEARTBEAT "\"") ||
	    (data_json && (buf_puts(&line, ",\"data\":") || buf_add(&line, data_json, n))) ||
	    buf_puts(&line, "}"))
		rc = eg_st_err(b->st, EG_ENOMEM, "out of memory");
	else {
		/* engram's own too: no schema (require-all) refuses it */
		eg_line_defaults d = { .has_time = 1, .time = time };
		rc = add_own(b, &line, 1, &d);
	}
	free(line.p);
	return rc;
}

void eg_batch_counts(const eg_batch *b, uint64_t *added, uint64_t *duplicates)
{
	*added = b->res.appended + b->count;
	*duplicates = b->res.duplicates;
}

/* ------------------------------------------------------------- commit */

static int sub_commit(eg_batch *b, int sync)
{
	eg_store *st = b->st;
	if (b->count == 0)
		return EG_OK;
	rec_commit c = { .first_pos = b->first_pos, .count = b->count };
	int64_t now = now_us();
	c.recorded = now > st->log.head_recorded ? now : st->log.head_recorded;
	if (b->o.keep_recorded)
		c.recorded = b->rec;
	logpos at;
	/* the keys the batch's events use are durable before its commit is */
	int rc = eg_keys_sync(st);
	if (!rc)
		rc = eg_log_commit(st, &st->log, &c, sync, &at);
	if (rc)
		return rc;
	if (!b->res.first_pos)
		b->res.first_pos = c.first_pos;
	b->res.last_pos = c.first_pos + c.count - 1;
	b->res.appended += c.count;
	/* The batch is durable now; if the derived files cannot follow, they
	 * are caught up from the log at the next open. */
	if ((rc = eg_index_batch_commit(st, &c, st->log.head_at)))
		return rc;
	b->count = 0;
	return EG_OK;
}

static void batch_free(eg_batch *b)
{
	b->st->in_batch = 0;
	free(b->scratch);
	free(b->qbuf.p);
	free(b->ebuf.p);
	eg_shred_cx_free(b->cx);
	free(b->exp_stream);
	free(b->def_stream);
	free(b->def_type);
	free(b);
}

_Static_assert(EG_SYNC_GROUP == EG_SYNC_LATER, "a group commit is a commit synced later");

int eg_store_sync(eg_store *st)
{
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	return eg_log_sync(st, &st->log);
}

int eg_store_sync_take(eg_store *st, eg_sync_work **w, uint64_t *pos)
{
	*w = NULL;
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "the store is open for reading only");
	return eg_log_sync_take(st, &st->log, w, pos);
}

int eg_sync_run(eg_sync_work *w)
{
	return w ? eg_log_sync_run(w) : EG_OK;
}

int eg_store_sync_done(eg_store *st, eg_sync_work *w)
{
	return eg_log_sync_done(st, &st->log, w);
}

int eg_batch_commit(eg_batch *b, eg_append_result *res)
{
	eg_store *st = b->st;
	int rc = sub_commit(b, b->o.sync);
	if (rc == EG_OK && b->o.sync == EG_SYNC_ALWAYS)
		rc = eg_log_sync(st, &st->log);   /* when the last commit was empty */
	if (rc) {
		eg_batch_abort(b);
		return rc;
	}
	b->res.head.pos = st->log.head_pos;
	memcpy(b->res.head.hash, st->log.head_chain, 32);
	if (res)
		*res = b->res;
	batch_free(b);
	return EG_OK;
}

void eg_batch_abort(eg_batch *b)
{
	if (!b)
		return;
	eg_store *st = b->st;
	eg_log_abort(st, &st->log);
	eg_index_batch_abort(st);
	/* Commits made before the abort stay: make them as durable as the
	 * batch was to be. */
	if (b->o.sync == EG_SYNC_ALWAYS)
		eg_log_sync(st, &st->log);
	batch_free(b);
}

/* ------------------------------------------------------------ contract */

int eg_contract_validate(eg_store *st, const char *json, size_t len, const char *type)
{
	int rc = eg_reg_refresh(st);
	if (rc)
		return rc;
	eg_batch b = { .st = st, .def_type = (char *)type };
	char *space = malloc(line_space(&b, len));
	if (!space)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	envelope e;
	pctx pc = { &b, st->err, space };
	rc = parse_envelope(&pc, json, len, &e);
	if (rc == EG_OK && !e.r.schema_version)
		rc = eg_st_err(st, EG_ENOTFOUND, "type %.*s has no schema",
			       e.r.type_len > 200 ? 200 : (int)e.r.type_len, e.r.type);
	free(space);
	return rc;
}

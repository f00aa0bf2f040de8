/*
 * fuzz_record.c — libFuzzer target for the record codec (src/store/record.c,
 * docs/FORMAT.md).  Every input, copied into a buffer of exactly its size,
 * is decoded as an event record (each way: checksum compared or not, ids
 * formatted or lazy), a commit record and a segment header: a decoder may
 * accept or refuse, but never reads past the bytes it is given, returns a
 * length within them whose fields lie inside the record, and accepts with
 * the checksum compared exactly when it accepts without and the check
 * matches.  An accepted event record encodes again to a record that
 * decodes to the same event.
 *
 * A first byte with the low bit set also makes an event, a commit and a
 * header out of the bytes: each must encode within its bound, decode to
 * the same fields, refuse every truncation, and refuse every one-byte
 * change unless that change happens to keep the check (an XXH3 collision,
 * which the target confirms).  The pieces hasher must agree with
 * eg_rec_check.
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* ------------------------------------------------------------ decoding */

/* [q, q + n) lies within [p, p + len). */
static int inside(const void *q, size_t n, const unsigned char *p, size_t len)
{
	const unsigned char *c = q;
	return n == 0 || (c >= p && c <= p + len && n <= (size_t)(p + len - c));
}

static int same_span(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Two decodings of one record give the same event (ids aside). */
static void check_same_event(const eg_event *a, const eg_event *b)
{
	CHECK(a->pos == b->pos && a->version == b->version && a->time == b->time);
	CHECK(a->kind == b->kind && a->recorded == b->recorded);
#define SAME(f) CHECK(same_span(a->f, a->f##_len, b->f, b->f##_len))
	SAME(stream); SAME(type); SAME(actor); SAME(session); SAME(data); SAME(meta);
	SAME(tags);
#undef SAME
	CHECK(a->ntags == b->ntags);
}

/* A record that decoded as o, len bytes at p: where its fields are. */
static void check_layout(const unsigned char *p, size_t len, const rec_event *o, int lazy)
{
	const eg_event *e = &o->ev;
	unsigned flags = p[9];
	CHECK(len >= EVT_FIXED && len <= REC_MAX_LEN && rd32(p) == len && p[8] == REC_EVENT);
	CHECK(e->pos == rd64(p + 10) && e->recorded == 0);
	CHECK(e->kind == (int)(flags & EVT_FLAG_KIND_MASK));
	CHECK(!(flags & ~EVT_FLAGS_KNOWN) && !!(flags & EVT_FLAG_SCHEMA) == (e->schema_version != 0));
	if (flags & EVT_FLAG_TIME_RECORDED)
		CHECK(e->time == INT64_MIN);
	else
		CHECK(e->time == (int64_t)rd64(p + 18));
	if (flags & EVT_FLAG_ID_UUID) {
		char text[36];
		unsigned char back[16];
		CHECK(inside(o->uuid, 16, p + EVT_FIXED, len - EVT_FIXED) && e->id_len == 36);
		eg_uuid_format(o->uuid, text);
		CHECK(eg_uuid_parse(text, 36, back) == 0 && memcmp(back, o->uuid, 16) == 0);
		if (lazy)
			CHECK(e->id == NULL);
		else
			CHECK(e->id == o->idbuf && memcmp(e->id, text, 36) == 0);
	} else {
		CHECK(inside(e->id, e->id_len, p + EVT_FIXED, len - EVT_FIXED));
	}
	/* the strings follow one another up to the end of the record */
	const char *at = e->stream;
	size_t idn = flags & EVT_FLAG_ID_UUID ? 16 : e->id_len;
	const char *idp = flags & EVT_FLAG_ID_UUID ? (const char *)o->uuid : e->id;
	CHECK(idp + idn == at);
#define NEXT(f) do { CHECK(e->f == at && inside(e->f, e->f##_len, p, len)); \
		at += e->f##_len; } while (0)
	NEXT(stream); NEXT(type); NEXT(actor); NEXT(session); NEXT(data); NEXT(meta);
	NEXT(tags);
#undef NEXT
	CHECK(at == (const char *)p + len);
	/* tags (flag bit 5): 1..TAGS_MAX of 1..TAG_MAX bytes, read back whole */
	CHECK(!!(flags & EVT_FLAG_TAGS) == (e->ntags > 0) && e->ntags <= TAGS_MAX);
	size_t off = 0, tn, sum = 0;
	const char *tp;
	uint32_t nt = 0;
	while (eg_event_tag(e, &off, &tp, &tn)) {
		CHECK(tn >= 1 && tn <= TAG_MAX && inside(tp, tn, (const unsigned char *)e->tags, e->tags_len));
		sum += tn;
		nt++;
	}
	CHECK(nt == e->ntags && off == e->tags_len && sum <= e->tags_len);
	/* every byte a reader is given is readable (ASan checks) */
	volatile uint32_t sink = eg_rec_check(p, len);
	(void)sink;
}

/* Encode a decoded event again: it decodes to the same event. */
static void check_reencode(const rec_event *o)
{
	const eg_event *e = &o->ev;
	rec_in r = {
		.pos = e->pos, .version = e->version, .time = e->time, .kind = e->kind,
		.id = e->id, .stream = e->stream, .type = e->type, .actor = e->actor,
		.session = e->session, .data = e->data, .meta = e->meta,
		.id_len = e->id_len, .stream_len = e->stream_len, .type_len = e->type_len,
		.actor_len = e->actor_len, .session_len = e->session_len,
		.data_len = e->data_len, .meta_len = e->meta_len,
		.tags = e->tags, .tags_len = e->tags_len, .ntags = e->ntags,
	};
	size_t bound = eg_rec_event_bound(&r), n;
	unsigned char *out = malloc(bound);
	rec_event back;
	CHECK(out);
	n = eg_rec_event_encode(&r, out);
	CHECK(n <= bound);
	CHECK(eg_rec_event_decode(out, n, &back) == n);
	check_same_event(&back.ev, e);
	CHECK(same_span(back.ev.id, back.ev.id_len, e->id, e->id_len));
	free(out);
}

static void check_decode(const unsigned char *p, size_t n)
{
	rec_event o[2][2];
	size_t len[2][2];
	int type = 0;
	size_t plen = rec_peek(p, n, &type);

	CHECK(plen <= n);
	for (int verify = 0; verify < 2; verify++)
		for (int lazy = 0; lazy < 2; lazy++) {
			len[verify][lazy] = eg_rec_event_decode_ex(p, n, &o[verify][lazy], verify, lazy);
			if (len[verify][lazy]) {
				CHECK(len[verify][lazy] == plen && type == REC_EVENT);
				check_layout(p, len[verify][lazy], &o[verify][lazy], lazy);
			}
		}
	for (int v = 0; v < 2; v++) {
		CHECK(len[v][0] == len[v][1]);
		if (len[v][0])
			check_same_event(&o[v][0].ev, &o[v][1].ev);
	}
	/* the checksum decides, and only it */
	int sums = len[0][0] && rd32(p + 4) == eg_rec_check(p + 8, len[0][0] - 8);
	CHECK(len[1][0] == (sums ? len[0][0] : 0));
	if (len[1][0])
		check_same_event(&o[1][0].ev, &o[0][0].ev);
	{
		rec_event a, b;
		CHECK(eg_rec_event_decode(p, n, &a) == len[1][0]);
		CHECK(eg_rec_event_decode_checked(p, n, &b) == len[0][0]);
	}
	if (len[0][0]) {
		const char *id;
		size_t idn;
		int is_uuid;
		eg_rec_event_raw_id(p, &id, &idn, &is_uuid);
		CHECK(is_uuid == !!(p[9] & EVT_FLAG_ID_UUID));
		CHECK(is_uuid ? (const unsigned char *)id == o[0][0].uuid && idn == 16
			      : id == o[0][0].ev.id && idn == o[0][0].ev.id_len);
		check_reencode(&o[0][0]);
	}

	rec_commit c;
	int ok = eg_rec_commit_decode(p, n, &c);
	if (ok)
		CHECK(n >= COMMIT_LEN && c.count > 0 && c.first_pos > 0 &&
		      c.first_pos == rd64(p + 10) && c.count == rd64(p + 18));
	seg_hdr h;
	if (eg_seg_hdr_decode(p, n, &h))
		CHECK(n >= SEG_HDR_LEN && h.first_pos == rd64(p + 16) &&
		      memcmp(h.prev_chain, p + 24, 32) == 0);
}

/* ------------------------------------------------------------ encoding */

/* The fuzz bytes as a source of fields. */
typedef struct src {
	const unsigned char *p;
	size_t n;
} src;

static uint64_t take64(src *s)
{
	uint64_t v = 0;
	size_t k = s->n < 8 ? s->n : 8;
	memcpy(&v, s->p, k);
	s->p += k;
	s->n -= k;
	return v;
}

static unsigned take8(src *s)
{
	if (!s->n)
		return 0;
	s->n--;
	return *s->p++;
}

static const char *take(src *s, size_t *n)
{
	const char *p = (const char *)s->p;
	if (*n > s->n)
		*n = s->n;
	s->p += *n;
	s->n -= *n;
	return p;
}

/* Flip each byte in turn (by x, nonzero): decode must refuse, unless the
 * check still matches the bytes it covers — a collision, not a bug. */
static void check_flips(unsigned char *rec, size_t n, unsigned char x, int commit)
{
	for (size_t i = 0; i < n; i++) {
		rec[i] ^= x;
		if (commit) {
			rec_commit c;
			if (eg_rec_commit_decode(rec, n, &c))
				CHECK(i >= 10 && rd32(rec + 4) == eg_rec_check(rec + 8, COMMIT_LEN - 8));
		} else {
			rec_event e;
			if (eg_rec_event_decode(rec, n, &e)) {
				uint32_t l = rd32(rec);
				CHECK((i < 4 || i >= 8) && l >= EVT_FIXED && l <= n &&
				      rd32(rec + 4) == eg_rec_check(rec + 8, l - 8));
			}
		}
		rec[i] ^= x;
	}
}

/* Decoding sees only avail bytes: any shorter view is refused. */
static void check_truncations(const unsigned char *rec, size_t n, int commit)
{
	for (size_t k = 0; k < n; k++) {
		rec_event e;
		rec_commit c;
		if (commit)
			CHECK(!eg_rec_commit_decode(rec, k, &c));
		else
			CHECK(!eg_rec_event_decode(rec, k, &e) && !eg_rec_event_decode_checked(rec, k, &e));
	}
}

static void check_event_roundtrip(src *s, unsigned char x)
{
	rec_in r;
	char uuid[36];
	unsigned sel = take8(s);
	memset(&r, 0, sizeof r);
	r.pos = take64(s);
	r.version = take64(s) >> (sel & 63);     /* small versions too */
	r.time = (int64_t)take64(s);
	r.kind = (int)(sel >> 6) % 3;
	/* half the records passed a schema version (flag bit 4, a ninth varint) */
	if (sel & 2)
		r.schema_version = take64(s) >> (sel & 31);
	size_t ln[7];
	for (int i = 0; i < 7; i++)
		ln[i] = take8(s);
	if (sel & 1) {
		/* a canonical UUID id, stored as 16 bytes */
		unsigned char u[16] = { 0 };
		size_t k = 16;
		const char *b = take(s, &k);
		memcpy(u, b, k);
		eg_uuid_format(u, uuid);
		r.id = uuid;
		r.id_len = 36;
	} else {
		r.id_len = ln[0] % (ID_MAX + 1);
		r.id = take(s, &r.id_len);
	}
#define FIELD(f, i) r.f##_len = ln[i], r.f = take(s, &r.f##_len)
	FIELD(stream, 1); FIELD(type, 2); FIELD(actor, 3); FIELD(session, 4);
	FIELD(data, 5); FIELD(meta, 6);
#undef FIELD
	/* a quarter of them carry tags (flag bit 5): up to 4 from the input */
	char tagbuf[4 * (TAG_MAX + 2)];
	if ((sel & 12) == 12) {
		size_t at = 0;
		unsigned nt = 1 + take8(s) % 4;
		for (unsigned i = 0; i < nt; i++) {
			size_t k = 1 + take8(s) % TAG_MAX;
			const char *b = take(s, &k);
			if (!k)
				break;
			at += varint_put((unsigned char *)tagbuf + at, k);
			memcpy(tagbuf + at, b, k);
			at += k;
			r.ntags++;
		}
		r.tags = r.ntags ? tagbuf : NULL;
		r.tags_len = at;
	}

	size_t bound = eg_rec_event_bound(&r);
	unsigned char *tmp = malloc(bound), *rec;
	CHECK(tmp);
	size_t n = eg_rec_event_encode(&r, tmp);
	CHECK(n >= EVT_FIXED && n <= bound && rd32(tmp) == n);
	rec = malloc(n);
	CHECK(rec);
	memcpy(rec, tmp, n);
	free(tmp);

	rec_event o;
	CHECK(eg_rec_event_decode(rec, n, &o) == n);
	const eg_event *e = &o.ev;
	CHECK(e->pos == r.pos && e->version == r.version && e->time == r.time &&
	      e->kind == r.kind && e->recorded == 0 && e->schema_version == r.schema_version);
	CHECK(!!(rec[9] & EVT_FLAG_SCHEMA) == (r.schema_version != 0));
	CHECK(!!(rec[9] & EVT_FLAG_ID_UUID) == (sel & 1 || eg_uuid_parse(r.id, r.id_len, (unsigned char[16]){ 0 }) == 0));
#define SAME(f) CHECK(same_span(e->f, e->f##_len, r.f, r.f##_len))
	SAME(id); SAME(stream); SAME(type); SAME(actor); SAME(session); SAME(data); SAME(meta);
	SAME(tags);
#undef SAME
	CHECK(e->ntags == r.ntags && !!(rec[9] & EVT_FLAG_TAGS) == (r.ntags > 0));
	check_decode(rec, n);
	check_truncations(rec, n, 0);
	check_flips(rec, n, x, 0);
	/* what a writer does for an event without a time: flag, then reseal */
	rec[9] |= EVT_FLAG_TIME_RECORDED;
	wr32(rec + 4, eg_rec_check(rec + 8, n - 8));
	CHECK(eg_rec_event_decode(rec, n, &o) == n && o.ev.time == INT64_MIN);
	free(rec);
}

static void check_commit_roundtrip(src *s, unsigned char x)
{
	rec_commit c, d;
	unsigned char *rec = malloc(COMMIT_LEN);
	size_t k = 32;
	CHECK(rec);
	c.first_pos = take64(s);
	c.count = take64(s);
	c.recorded = (int64_t)take64(s);
	c.batch_bytes = take64(s);
	const char *chain = take(s, &k);   /* k: what there was of 32 */
	memset(c.chain, 0, 32);
	memcpy(c.chain, chain, k);
	eg_rec_commit_encode(&c, rec);
	CHECK(eg_rec_commit_decode(rec, COMMIT_LEN, &d) == (c.count > 0 && c.first_pos > 0));
	CHECK(d.first_pos == c.first_pos && d.count == c.count && d.recorded == c.recorded &&
	      d.batch_bytes == c.batch_bytes && memcmp(d.chain, c.chain, 32) == 0);
	check_truncations(rec, COMMIT_LEN, 1);
	if (c.count > 0 && c.first_pos > 0)
		check_flips(rec, COMMIT_LEN, x, 1);
	free(rec);
}

static void check_header_roundtrip(src *s, unsigned char x)
{
	seg_hdr h, g;
	unsigned char *p = malloc(SEG_HDR_LEN);
	size_t k = 32;
	CHECK(p);
	h.first_pos = take64(s);
	const char *chain = take(s, &k);
	memset(h.prev_chain, 0, 32);
	memcpy(h.prev_chain, chain, k);
	eg_seg_hdr_encode(&h, p);
	CHECK(eg_seg_hdr_decode(p, SEG_HDR_LEN, &g) == 1);
	CHECK(g.first_pos == h.first_pos && memcmp(g.prev_chain, h.prev_chain, 32) == 0);
	for (size_t i = 0; i < SEG_HDR_LEN; i++) {
		CHECK(!eg_seg_hdr_decode(p, i, &g));
		p[i] ^= x;
		if (eg_seg_hdr_decode(p, SEG_HDR_LEN, &g))
			CHECK(i < 60 && rd32(p + 60) == eg_rec_check(p, 60));
		p[i] ^= x;
	}
	free(p);
}

/* The hasher fed in pieces equals eg_rec_check of the whole. */
static void check_hasher(const unsigned char *p, size_t n)
{
	rec_hasher *h = eg_rec_hasher_new();
	CHECK(h);
	for (int round = 0; round < 2; round++) {
		size_t at = 0, step = n / 3 + 1;
		while (at < n) {
			size_t k = (p[at] % step) + 1;
			if (k > n - at)
				k = n - at;
			eg_rec_hasher_add(h, p + at, k);
			at += k;
		}
		CHECK(eg_rec_hasher_value(h) == eg_rec_check(p, n));
		eg_rec_hasher_reset(h);
	}
	eg_rec_hasher_free(h);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	/* the bytes after the first, in a buffer of exactly their size */
	size_t n = size - 1;
	unsigned char *p = malloc(n ? n : 1);
	CHECK(p);
	memcpy(p, data + 1, n);
	check_decode(p, n);
	if (data[0] & 1) {
		unsigned char x = (unsigned char)((data[0] >> 1) | 1);
		src s = { p, n };
		check_event_roundtrip(&s, x);
		s = (src){ p, n };
		check_commit_roundtrip(&s, x);
		s = (src){ p, n };
		check_header_roundtrip(&s, x);
		check_hasher(p, n);
	}
	free(p);
	return 0;
}

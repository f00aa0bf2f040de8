/*
 * record.c — encoding and decoding of the log's records (see record.h and
 * docs/FORMAT.md).  Decoding validates everything a reader relies on:
 * lengths in bounds, the checksum, and that the field lengths add up, so
 * that a damaged record is reported, never half-read.
 */
#include "record.h"

#include <stdlib.h>

/* xxhash's header-only mode inlines XXH3 into the record checks, which
 * every read runs once per event. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* A block check hashes tens of kilobytes: there the library's build for
 * the CPU at hand (its x86 dispatch picks AVX2 or AVX-512 at run time)
 * runs about twice as fast as the inlined baseline (SSE2) code, with the
 * same result. */
#if defined(__x86_64__) || defined(__i386__)
uint64_t XXH3_64bits_dispatch(const void *input, size_t len);
#define XXH3_LONG XXH3_64bits_dispatch
#else
#define XXH3_LONG XXH3_64bits
#endif

uint32_t eg_rec_check(const void *p, size_t n)
{
	return (uint32_t)(n >= 4096 ? XXH3_LONG(p, n) : XXH3_64bits(p, n));
}

struct rec_hasher {
	XXH3_state_t st;
};

rec_hasher *eg_rec_hasher_new(void)
{
	rec_hasher *h = malloc(sizeof *h);
	if (h)
		eg_rec_hasher_reset(h);
	return h;
}

void eg_rec_hasher_free(rec_hasher *h)
{
	free(h);
}

void eg_rec_hasher_reset(rec_hasher *h)
{
	XXH3_64bits_reset(&h->st);
}

void eg_rec_hasher_add(rec_hasher *h, const void *p, size_t n)
{
	XXH3_64bits_update(&h->st, p, n);
}

uint32_t eg_rec_hasher_value(const rec_hasher *h)
{
	return (uint32_t)XXH3_64bits_digest(&h->st);
}

size_t eg_rec_event_bound(const rec_in *r)
{
	return EVT_FIXED + 10 * 10 + r->tags_len + r->id_len + r->stream_len + r->type_len +
	       r->actor_len + r->session_len + r->data_len + r->meta_len;
}

size_t eg_rec_event_encode(const rec_in *r, unsigned char *out)
{
	unsigned char parsed[16];
	const unsigned char *idbin = r->uuid ? r->uuid : parsed;
	/* Only lowercase UUIDs are stored binary: the id must read back as the
	 * same bytes that went in. */
	int is_uuid = r->uuid || (r->id_len == 36 && eg_uuid_parse(r->id, r->id_len, parsed) == 0);
	/* A time still to come from the commit is stored as 0 under its flag. */
	int rectime = r->time == REC_TIME_RECORDED;
	out[8] = REC_EVENT;
	out[9] = (unsigned char)((r->kind & EVT_FLAG_KIND_MASK) |
				 (is_uuid ? EVT_FLAG_ID_UUID : 0) |
				 (rectime ? EVT_FLAG_TIME_RECORDED : 0) |
				 (r->schema_version ? EVT_FLAG_SCHEMA : 0) |
				 (r->tags_len ? EVT_FLAG_TAGS : 0) |
				 (r->enc ? EVT_FLAG_ENC : 0));
	wr64(out + 10, r->pos);
	wr64(out + 18, rectime ? 0 : (uint64_t)r->time);
	unsigned char *p = out + EVT_FIXED;
	p += varint_put(p, r->version);
	p += varint_put(p, is_uuid ? 16 : r->id_len);
	p += varint_put(p, r->stream_len);
	p += varint_put(p, r->type_len);
	p += varint_put(p, r->actor_len);
	p += varint_put(p, r->session_len);
	p += varint_put(p, r->data_len);
	p += varint_put(p, r->meta_len);
	if (r->schema_version)
		p += varint_put(p, r->schema_version);
	if (r->tags_len)
		p += varint_put(p, r->tags_len);
	if (is_uuid) {
		memcpy(p, idbin, 16);
		p += 16;
	} else {
		memcpy(p, r->id, r->id_len);
		p += r->id_len;
	}
#define PUT(f) memcpy(p, r->f, r->f##_len), p += r->f##_len
	PUT(stream); PUT(type); PUT(actor); PUT(session); PUT(data); PUT(meta);
	if (r->tags_len)
		PUT(tags);
#undef PUT
	size_t len = (size_t)(p - out);
	wr32(out, (uint32_t)len);
	wr32(out + 4, eg_rec_check(out + 8, len - 8));
	return len;
}

size_t eg_rec_event_decode(const unsigned char *p, size_t avail, rec_event *o)
{
	return eg_rec_event_decode_ex(p, avail, o, 1, 0);
}

size_t eg_rec_event_decode_checked(const unsigned char *p, size_t avail, rec_event *o)
{
	return eg_rec_event_decode_ex(p, avail, o, 0, 0);
}

size_t eg_rec_event_decode_ex(const unsigned char *p, size_t avail, rec_event *o, int verify,
			   int lazy_ids)
{
	int type;
	size_t len = rec_peek(p, avail, &type);
	if (!len || type != REC_EVENT || len < EVT_FIXED ||
	    (verify && rd32(p + 4) != eg_rec_check(p + 8, len - 8)))
		return 0;
	const unsigned char *q = p + EVT_FIXED, *end = p + len;
	unsigned flags = p[9];
	/* v[8]: schema_version, v[9]: tags_len, each 0 when its flag is clear */
	uint64_t v[10];
	for (int i = 0; i < 8; i++)
		if (varint_get(&q, end, &v[i]))
			return 0;
	v[8] = v[9] = 0;
	if (((flags & EVT_FLAG_SCHEMA) && varint_get(&q, end, &v[8])) ||
	    ((flags & EVT_FLAG_TAGS) && varint_get(&q, end, &v[9])))
		return 0;
	if ((flags & ~EVT_FLAGS_KNOWN) || ((flags & EVT_FLAG_SCHEMA) && !v[8]) ||
	    ((flags & EVT_FLAG_TAGS) && !v[9]))
		return 0;
	uint64_t need = 0;
	for (int i = 1; i < 10; i++) {
		if (i == 8)
			continue;
		if (v[i] > len)
			return 0;
		need += v[i];
	}
	if (need != (uint64_t)(end - q))
		return 0;
	eg_event *e = &o->ev;
	e->pos = rd64(p + 10);
	e->time = flags & EVT_FLAG_TIME_RECORDED ? REC_TIME_RECORDED : (int64_t)rd64(p + 18);
	e->recorded = 0;
	e->kind = flags & EVT_FLAG_KIND_MASK;
	e->version = v[0];
	e->schema_version = v[8];
	e->personal = flags & EVT_FLAG_ENC ? EG_EV_ENCRYPTED : 0;
	if (flags & EVT_FLAG_ID_UUID) {
		if (v[1] != 16)
			return 0;
		o->uuid = q;
		e->id_len = 36;
		if (lazy_ids) {
			e->id = NULL;
		} else {
			eg_uuid_format(q, o->idbuf);
			e->id = o->idbuf;
		}
	} else {
		e->id = (const char *)q;
		e->id_len = v[1];
	}
	q += v[1];
#define GET(f, i) e->f = (const char *)q, e->f##_len = v[i], q += v[i]
	GET(stream, 2); GET(type, 3); GET(actor, 4); GET(session, 5);
	GET(data, 6); GET(meta, 7); GET(tags, 9);
#undef GET
	e->ntags = 0;
	if (v[9]) {
		int nt = eg_rec_tags_check(e->tags, e->tags_len);
		if (nt < 0)
			return 0;
		e->ntags = (uint32_t)nt;
	}
	return len;
}

void eg_rec_event_raw_id(const unsigned char *p, const char **id, size_t *n, int *is_uuid)
{
	const unsigned char *q = p + EVT_FIXED, *end = p + rd32(p);
	uint64_t v[10];
	int nv = 8 + !!(p[9] & EVT_FLAG_SCHEMA) + !!(p[9] & EVT_FLAG_TAGS);
	for (int i = 0; i < nv; i++)
		if (varint_get(&q, end, &v[i]))
			v[i] = 0;
	*id = (const char *)q;
	*n = v[1];
	*is_uuid = (p[9] & EVT_FLAG_ID_UUID) != 0;
}

int eg_rec_tags_check(const char *p, size_t n)
{
	const unsigned char *q = (const unsigned char *)p, *end = q + n;
	int k = 0;
	while (q < end) {
		uint64_t t;
		if (varint_get(&q, end, &t) || t == 0 || t > TAG_MAX || t > (uint64_t)(end - q) ||
		    ++k > TAGS_MAX)
			return -1;
		q += t;
	}
	return k;
}

int eg_event_tag(const eg_event *e, size_t *off, const char **tag, size_t *n)
{
	const unsigned char *q = (const unsigned char *)e->tags + *off,
			    *end = (const unsigned char *)e->tags + e->tags_len;
	uint64_t t;
	if (!e->tags || q >= end || varint_get(&q, end, &t) || t > (uint64_t)(end - q))
		return 0;
	*tag = (const char *)q;
	*n = (size_t)t;
	*off = (size_t)(q + t - (const unsigned char *)e->tags);
	return 1;
}

void eg_rec_commit_encode(const rec_commit *c, unsigned char out[COMMIT_LEN])
{
	wr32(out, COMMIT_LEN);
	out[8] = REC_COMMIT;
	out[9] = 0;
	wr64(out + 10, c->first_pos);
	wr64(out + 18, c->count);
	wr64(out + 26, (uint64_t)c->recorded);
	wr64(out + 34, c->batch_bytes);
	memcpy(out + 42, c->chain, 32);
	wr32(out + 4, eg_rec_check(out + 8, COMMIT_LEN - 8));
}

int eg_rec_commit_decode(const unsigned char *p, size_t avail, rec_commit *c)
{
	if (avail < COMMIT_LEN || rd32(p) != COMMIT_LEN || p[8] != REC_COMMIT ||
	    p[9] != 0 || rd32(p + 4) != eg_rec_check(p + 8, COMMIT_LEN - 8))
		return 0;
	c->first_pos = rd64(p + 10);
	c->count = rd64(p + 18);
	c->recorded = (int64_t)rd64(p + 26);
	c->batch_bytes = rd64(p + 34);
	memcpy(c->chain, p + 42, 32);
	return c->count > 0 && c->first_pos > 0;
}

void eg_seg_hdr_encode(const seg_hdr *h, unsigned char out[SEG_HDR_LEN])
{
	memset(out, 0, SEG_HDR_LEN);
	memcpy(out, SEG_MAGIC, 8);
	wr32(out + 8, FORMAT_VERSION);
	wr32(out + 12, SEG_HDR_LEN);
	wr64(out + 16, h->first_pos);
	memcpy(out + 24, h->prev_chain, 32);
	wr32(out + 60, eg_rec_check(out, 60));
}

int eg_seg_hdr_decode(const unsigned char *p, size_t avail, seg_hdr *h)
{
	if (avail < SEG_HDR_LEN || memcmp(p, SEG_MAGIC, 8) ||
	    rd32(p + 8) != FORMAT_VERSION || rd32(p + 12) != SEG_HDR_LEN ||
	    rd32(p + 60) != eg_rec_check(p, 60))
		return 0;
	h->first_pos = rd64(p + 16);
	memcpy(h->prev_chain, p + 24, 32);
	return 1;
}

/* Value of a lowercase hex digit, or -1: uppercase is not accepted, so that
 * a UUID stored binary always prints back as the text that came in. */
static const signed char HEX[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13,
	['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int eg_uuid_parse(const char *s, size_t n, unsigned char out[16])
{
	static const unsigned char at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21,
					      24, 26, 28, 30, 32, 34 };
	if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -1;
	int bad = 0;
	for (int k = 0; k < 16; k++) {
		int hi = HEX[(unsigned char)s[at[k]]], lo = HEX[(unsigned char)s[at[k] + 1]];
		bad |= !hi | !lo;
		out[k] = (unsigned char)(((unsigned)(hi - 1) & 15) << 4 | ((unsigned)(lo - 1) & 15));
	}
	return bad ? -1 : 0;
}

void eg_uuid_format(const unsigned char in[16], char out[36])
{
	/* Every read of a UUID id runs this: no branches in the loop. */
	static const char hx[] = "0123456789abcdef";
	static const unsigned char at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21,
					      24, 26, 28, 30, 32, 34 };
	for (int i = 0; i < 16; i++) {
		out[at[i]] = hx[in[i] >> 4];
		out[at[i] + 1] = hx[in[i] & 15];
	}
	out[8] = out[13] = out[18] = out[23] = '-';
}

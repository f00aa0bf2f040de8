/*
 * record.h — the bytes of the log: segment headers, event records and
 * commit records (docs/FORMAT.md is the authoritative description).
 *
 * Encoding and decoding only; no I/O.  All integers are little-endian.
 */
#ifndef EG_RECORD_H
#define EG_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engram.h"

#define SEG_MAGIC      "ENGRAMSG"
#define SEG_HDR_LEN    64
#define FORMAT_VERSION 1

#define REC_EVENT  0x45   /* 'E' */
#define REC_COMMIT 0x43   /* 'C' */

#define REC_PREFIX     10  /* len, check, type, flags */
#define EVT_FIXED      26  /* prefix + pos + time */
#define COMMIT_LEN     74
#define REC_MAX_LEN    (64u << 20)  /* sanity bound on a record's length */

#define EVT_FLAG_KIND_MASK 0x03
#define EVT_FLAG_ID_UUID   0x04  /* id stored as 16 bytes, shown as UUID text */
#define EVT_FLAG_TIME_RECORDED 0x08  /* no event time given: it is the batch's
                                        recorded time (REC_TIME_RECORDED) */
#define EVT_FLAG_SCHEMA    0x10  /* a ninth varint follows the eight: the
                                    version of its type's schema the event
                                    passed at append (absent: 0, none) */
#define EVT_FLAG_TAGS      0x20  /* one more varint, tags_len, follows the
                                    others, and the tags follow meta: each
                                    a varint length and its bytes */

/* Tags (docs/CONSISTENCY.md): 1 to TAG_MAX bytes each, at most TAGS_MAX
 * an event. */
#define TAG_MAX  128
#define TAGS_MAX 32
#define EVT_FLAG_ENC       0x40  /* data holds encrypted personal values
                                    (docs/FORGETTING.md): readers decrypt */
#define EVT_FLAGS_KNOWN    (0x1f | EVT_FLAG_TAGS | EVT_FLAG_ENC)

/* The time of an event that was given none: its batch's recorded time,
 * known only at commit.  An encoder given it sets EVT_FLAG_TIME_RECORDED;
 * a decoder returns it for such records, and readers replace it with the
 * commit's recorded time.  No valid time is this low (years 0000-9999). */
#define REC_TIME_RECORDED INT64_MIN

#define ID_MAX 64
#define NAME_MAX_LEN 1024  /* stream, type, actor, session */

static inline uint32_t rd32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void wr32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr64(void *p, uint64_t v) { memcpy(p, &v, 8); }

/* The record checksum: low 32 bits of XXH3-64 (seed 0) over [p, p+n). */
uint32_t eg_rec_check(const void *p, size_t n);

/* The same checksum over bytes given in pieces: the block check of
 * idx/blocks covers a block's event records, which arrive one by one. */
typedef struct rec_hasher rec_hasher;
rec_hasher *eg_rec_hasher_new(void);
void eg_rec_hasher_free(rec_hasher *h);
void eg_rec_hasher_reset(rec_hasher *h);
void eg_rec_hasher_add(rec_hasher *h, const void *p, size_t n);
uint32_t eg_rec_hasher_value(const rec_hasher *h);

/* An event as decoded from a record.  The id of an EVT_FLAG_ID_UUID record
 * is expanded to text into idbuf, which the event then points into (uuid:
 * its 16 bytes in the record). */
typedef struct rec_event {
	eg_event ev;
	char idbuf[40];
	const unsigned char *uuid;
} rec_event;

/* An event to encode: the envelope fields, already validated; time may be
 * REC_TIME_RECORDED.  uuid, when set, is the id parsed already (by
 * eg_uuid_parse, which accepted it): the encoder then stores it binary
 * without parsing it again. */
typedef struct rec_in {
	uint64_t pos, version, schema_version;
	int64_t time;
	int kind;
	int enc;                     /* data holds encrypted values: EVT_FLAG_ENC */
	const unsigned char *uuid;
	const char *id, *stream, *type, *actor, *session, *data, *meta;
	size_t id_len, stream_len, type_len, actor_len, session_len,
	       data_len, meta_len;
	const char *tags;   /* encoded as in the record (eg_event.tags); */
	size_t tags_len;    /* 0: no tags, no EVT_FLAG_TAGS */
	uint32_t ntags;
} rec_in;

/* Check an encoded tag list (each tag a varint length and its bytes):
 * the number of tags, or -1 if it is not 1..TAGS_MAX tags of 1..TAG_MAX
 * bytes filling exactly n bytes. */
int eg_rec_tags_check(const char *p, size_t n);

/* Upper bound of the encoded size of r. */
size_t eg_rec_event_bound(const rec_in *r);

/* Encode r at out (eg_rec_event_bound bytes available); returns its length. */
size_t eg_rec_event_encode(const rec_in *r, unsigned char *out);

/*
 * Decode the event record at p, of which avail bytes are readable.
 * Returns the record length, 0 if the bytes are not a valid event record
 * (bad length, checksum or layout).  ev->recorded is left 0: it lives in
 * the commit record; so does the time of an EVT_FLAG_TIME_RECORDED event,
 * whose ev->time is REC_TIME_RECORDED until the caller fills both in.
 */
size_t eg_rec_event_decode(const unsigned char *p, size_t avail, rec_event *out);
/* The same without comparing the checksum: for records whose bytes a block
 * check has just covered. */
size_t eg_rec_event_decode_checked(const unsigned char *p, size_t avail, rec_event *out);
/* The same, the checksum compared when verify is set; with lazy_ids a UUID
 * id is left unformatted and ev.id is NULL (a reader that needs no ids
 * saves the formatting; see eg_iter_ident). */
size_t eg_rec_event_decode_ex(const unsigned char *p, size_t avail, rec_event *out, int verify,
			   int lazy_ids);

/* Read just the id of an event record (raw bytes: 16 for UUID ids). */
void eg_rec_event_raw_id(const unsigned char *p, const char **id, size_t *n, int *is_uuid);

/* A commit record: closes the batch of count events from first_pos. */
typedef struct rec_commit {
	uint64_t first_pos, count;
	int64_t recorded;
	uint64_t batch_bytes;         /* bytes of the batch's event records */
	unsigned char chain[32];      /* chain value after this batch */
} rec_commit;

void eg_rec_commit_encode(const rec_commit *c, unsigned char out[COMMIT_LEN]);

/* Decode a commit record; 1 if p holds a valid one, else 0. */
int eg_rec_commit_decode(const unsigned char *p, size_t avail, rec_commit *out);

/* Segment header. */
typedef struct seg_hdr {
	uint64_t first_pos;
	unsigned char prev_chain[32];
} seg_hdr;

void eg_seg_hdr_encode(const seg_hdr *h, unsigned char out[SEG_HDR_LEN]);
int eg_seg_hdr_decode(const unsigned char *p, size_t avail, seg_hdr *out);

/* Record type and length at p, without validating the checksum; 0 if the
 * length field is out of bounds for avail. */
static inline size_t rec_peek(const unsigned char *p, size_t avail, int *type)
{
	if (avail < REC_PREFIX)
		return 0;
	uint32_t len = rd32(p);
	if (len < REC_PREFIX || len > avail || len > REC_MAX_LEN)
		return 0;
	*type = p[8];
	return len;
}

/* UUID helpers: parse 36-char canonical lowercase text into 16 bytes;
 * print 16 bytes as lowercase text (36 chars). */
int eg_uuid_parse(const char *s, size_t n, unsigned char out[16]);
void eg_uuid_format(const unsigned char in[16], char out[36]);

/* LEB128 varints. */
static inline size_t varint_put(unsigned char *p, uint64_t v)
{
	size_t i = 0;
	while (v >= 0x80) {
		p[i++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[i++] = (unsigned char)v;
	return i;
}

/* Read a varint from [*p, end); 0 on success (advancing *p), -1 if bad. */
static inline int varint_get(const unsigned char **p, const unsigned char *end,
			     uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;
	const unsigned char *q = *p;
	while (q < end && shift < 64) {
		unsigned char b = *q++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*p = q;
			*v = r;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

#endif

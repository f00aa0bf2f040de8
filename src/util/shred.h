/*
 * shred.h — crypto-shredding's parts that know nothing of stores
 * (docs/FORGETTING.md): which properties of a type's data are personal
 * (the schema's "x-personal" and "x-subject" annotations), and the
 * encrypted form of one personal value, AES-256-GCM under its subject's
 * key, bound to the key id, the event's id and the values' places.
 *
 * All the personal values of one event (they share its subject, so a key)
 * are one AES-256-GCM message, the bundle, which replaces the first of them
 * in data as the JSON object
 *     {"$enc":"KID.BASE64"}
 * KID the key id in decimal, BASE64 (RFC 4648, padded) the 12-byte nonce,
 * the ciphertext and the 16-byte tag; the plaintext is each value's JSON
 * text after its length (unsigned LEB128).  The others, in data order,
 * are replaced by {"$enc":1}, {"$enc":2}, ...: their index in the bundle.
 * One message per event instead of one per value: OpenSSL's per-call
 * overhead, a nonce, a tag and base64 padding once (bench/forget.sh).
 */
#ifndef EG_SHRED_H
#define EG_SHRED_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#include "schema.h"

#define EG_SHRED_KEY 32
#define EG_SHRED_NONCE 12
#define EG_SHRED_TAG 16
/* Personal values in one event's bundle: at most this many. */
#define EG_SHRED_VALS 1024
/* A subject's text (its key file entry holds it): at most this many bytes. */
#define EG_SHRED_SUBJECT_MAX 64

/* The personal properties of one schema version: data pointers (RFC 6901,
 * as the schema spells them: "/email", "/address/street") and their
 * decoded segments, and the subject's pointer and segments. */
typedef struct eg_personal {
	size_t n;
	char **ptr;
	char ***seg;
	size_t *nseg;
	char *subject;
	char **sseg;
	size_t nsseg;
} eg_personal;

/*
 * The personal properties a compiled schema declares: *out NULL when it
 * marks none.  0, or -1 with "SCHEMA_PATH: what is wrong" in err (x-personal
 * not a boolean or not on a property reached through "properties" from the
 * root, personal properties without "x-subject", "x-subject" not a JSON
 * pointer into data or not at the top level, the subject itself personal),
 * or -2 out of memory.
 */
int eg_personal_from_schema(const eg_schema *s, eg_personal **out, char *err, size_t errlen);
void eg_personal_free(eg_personal *p);

/* A JSON pointer's segments decoded (~1 is '/', ~0 is '~'): 0, -1 if it is
 * not a pointer ("" or not starting '/', a bad escape), -2 out of memory. */
int eg_pointer_split(const char *ptr, size_t n, char ***seg, size_t *nseg);
void eg_pointer_free(char **seg, size_t nseg);

/* A cipher context, reused from value to value (one per thread). */
typedef struct eg_shred_cx eg_shred_cx;
eg_shred_cx *eg_shred_cx_new(void);
void eg_shred_cx_free(eg_shred_cx *cx);

/* One value of a bundle: its data pointer (as the schema spells it,
 * RFC 6901) and its JSON text. */
typedef struct eg_shred_val {
	const char *ptr;
	size_t plen;
	const char *v;
	size_t n;
} eg_shred_val;

/*
 * Append the bundle of v[0..nv) (1 <= nv <= EG_SHRED_VALS) to out, as
 * {"$enc":"KID.BASE64"}, under key (key id kid), bound to the event's id
 * id[0..idlen) (its text) and the values' pointers in that order: a fresh
 * random nonce each time.  0, or -1 (out of memory, too many or too long
 * values, or the cipher or the random source failed).
 */
int eg_shred_seal(eg_shred_cx *cx, struct buf *out, const unsigned char key[EG_SHRED_KEY],
		  uint32_t kid, const char *id, size_t idlen, const eg_shred_val *v, size_t nv);

/*
 * Parse the text of an encrypted form's "$enc" string (s[0..n), no quotes):
 * the key id and the raw bytes (nonce, ciphertext, tag) into raw, which
 * must hold n bytes.  0, or -1 when it is not of the form.
 */
int eg_shred_parse(const char *s, size_t n, uint32_t *kid, unsigned char *raw, size_t *rawlen);

/*
 * Decrypt raw[0..rawlen) (from eg_shred_parse) into out (rawlen bytes at
 * least), the bundle of the values whose pointers are v[0..nv).ptr: the
 * plaintext's length, or -1 when the tag does not match (another key,
 * other places or event, or damaged bytes): never unauthenticated bytes.
 */
long eg_shred_open(eg_shred_cx *cx, const unsigned char key[EG_SHRED_KEY], uint32_t kid,
		   const char *id, size_t idlen, const eg_shred_val *v, size_t nv,
		   const unsigned char *raw, size_t rawlen, unsigned char *out);

/* Split an opened bundle pt[0..n) into v[0..nv).v/.n (pointing into pt):
 * 0, or -1 when it does not hold exactly nv values. */
int eg_shred_split(const unsigned char *pt, size_t n, eg_shred_val *v, size_t nv);

#endif

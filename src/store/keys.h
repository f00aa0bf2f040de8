/*
 * keys.h — the key file DIR/keys (docs/FORMAT.md "Key file") and the two
 * rewrites of an event's data it serves: personal values encrypted at
 * append, decrypted (or shown as null once forgotten) as readers get them
 * (docs/FORGETTING.md).  Not part of the public API.
 */
#ifndef EG_KEYS_H
#define EG_KEYS_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#include "shred.h"

struct eg_store;
struct eg_keys;

#define KEYS_FILE "keys"
#define KEYS_MAGIC "ENGRAMKY"
#define KEYS_HDR_LEN 64
#define KEYS_ENT_LEN 128

enum { KEY_BAD = 0, KEY_LIVE = 1, KEY_FORGOTTEN = 2 };

/* Writer: the key id and key of a subject, a new random one (written at
 * the next eg_keys_sync) when it has no live key.  EG_OK, EG_EIO,
 * EG_ECORRUPT (the file's header is damaged), EG_ENOMEM. */
int eg_keys_subject(struct eg_store *st, const char *subj, size_t n, uint32_t *kid,
		    const unsigned char **key);
/* Writer: make the keys made since the last call durable (written,
 * fdatasync'd, and the directory fsync'd when the file is new).  Called
 * before a batch's commit record is written.  EG_OK or EG_EIO. */
int eg_keys_sync(struct eg_store *st);
/* Reader: read the key file again if another process changed it (a
 * forget) since this one read it. */
void eg_keys_refresh(struct eg_store *st);
void eg_keys_close(struct eg_store *st);

/*
 * Encrypt the personal values of data[0..n) (an event at pos, of a type
 * whose schema version declares p) into out: each value at one of p's
 * pointers becomes its encrypted form under the subject's key.  *sealed
 * says whether any was found.  EG_OK; EG_EINVAL with the message set when
 * the subject is missing or not a string or an integer; or an error.
 */
int eg_keys_seal_data(struct eg_store *st, const eg_personal *p, uint64_t pos,
		      const char *data, size_t n, struct buf *out, int *sealed);

/*
 * An event read: if its record holds encrypted values (EG_EV_ENCRYPTED),
 * e->data is rewritten into *space (cap bytes, grown) with each encrypted
 * value decrypted, or null where the key was forgotten (EG_EV_FORGOTTEN)
 * or cannot be had (EG_EV_UNAVAILABLE: no key file, a damaged entry, a tag
 * that fails).  cx is the caller's cipher context (made when NULL).
 * EG_OK or EG_ENOMEM.
 */
int eg_keys_open_event(struct eg_store *st, eg_event *e, eg_shred_cx **cx, char **space,
		       size_t *cap);

#endif

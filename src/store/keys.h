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

/* Writer: read the key file (once) before a batch that may seal: the
 * parsing thread of a bulk append seals, and must not be the one that
 * reads it.  EG_OK or an error (set on the store). */
int eg_keys_prepare(struct eg_store *st);
/* Writer: make the keys made since the last call durable (written,
 * fdatasync'd, and the directory fsync'd when the file is new).  Called
 * before a batch's commit record is written.  EG_OK or EG_EIO. */
int eg_keys_sync(struct eg_store *st);
/* Reader: read the key file again if another process changed it (a
 * forget) since this one read it. */
void eg_keys_refresh(struct eg_store *st);
void eg_keys_close(struct eg_store *st);

/*
 * Encrypt the personal values of data[0..n) (an event with id id[0..idlen),
 * of a type whose schema version declares p) into out, with cipher cx:
 * data as given, the values at p's pointers sealed together as one bundle
 * under the subject's key (made if new; eg_keys_prepare first), the bundle
 * in the first value's place and each other's index in its own
 * (shred.h).  *sealed says whether any was found.  Safe on a thread of its
 * own beside the writer's.  EG_OK; EG_EINVAL (the subject missing, or not
 * a string or an integer), EG_ENOMEM or EG_EIO, the message in err.
 */
int eg_keys_seal_data(struct eg_store *st, eg_shred_cx *cx, const eg_personal *p,
		      const char *id, size_t idlen, const char *data, size_t n, struct buf *out,
		      int *sealed, char *err, size_t errlen);

/*
 * For bulk appends, which look many subjects' keys up: the hash of the
 * subject of data[0..n) (0, or -1 when it has none: sealing then says
 * why), and a hint to bring its key's place in the writer's table into
 * the cache: step 0 the map slot, step 1 (a few lines later) the entry
 * the slot names.  Safe beside a thread that adds keys.
 */
int eg_keys_subject_hash(const eg_personal *p, const char *data, size_t n, uint64_t *h);
void eg_keys_prefetch(struct eg_store *st, uint64_t h, int step);

/*
 * An event read (its id formatted: not NULL): if its record holds
 * encrypted values (EG_EV_ENCRYPTED), e->data is rewritten into *space
 * (cap bytes, grown): its bundle decrypted once and every value put back
 * in its place, or null in every place when the key was forgotten
 * (EG_EV_FORGOTTEN) or cannot be had (EG_EV_UNAVAILABLE: no key file, a
 * damaged entry, a tag that fails, forms that are not one bundle's).  cx
 * is the caller's cipher context (made when NULL).  EG_OK, EG_ECORRUPT
 * (data not an object) or EG_ENOMEM.
 */
int eg_keys_open_event(struct eg_store *st, eg_event *e, eg_shred_cx **cx, char **space,
		       size_t *cap);

#endif

/*
 * keys.c — crypto-shredding in the store (docs/FORGETTING.md): the key
 * file DIR/keys, one fixed-size entry per subject key, appended and
 * fdatasync'd before the commit of the batch that first uses the key;
 * personal values encrypted at append; data decrypted as readers get it;
 * and engram forget, which zeroes a subject's key in place and drops the
 * derived state that held decrypted values.
 *
 * The key file is not derived: reindex never touches it, backup copies it.
 * Entries are never moved, so a key id is its entry's index + 1.
 */
#include "internal.h"
#include "buf.h"
#include "contract.h"
#include "derived.h"
#include "json.h"
#include "keys.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHUNK_ENTS 4096u
#define MAX_CHUNKS 65536u          /* 2^28 keys */

typedef struct keyent {
	unsigned char key[EG_SHRED_KEY];
	uint8_t state;               /* KEY_BAD, KEY_LIVE, KEY_FORGOTTEN */
	uint8_t slen;
	char subj[EG_SHRED_SUBJECT_MAX];
	int64_t created, forgotten;
} keyent;

/* Chunks, never moved once made: a reader on another thread of a writer
 * process may look an entry up while the writer adds one. */
typedef struct eg_keys {
	keyent **chunk;
	_Atomic uint32_t n;          /* entries */
	uint32_t nfile;              /* of which written to the file */
	int fd;                      /* writer: the file, open; -1 */
	int created;                 /* writer: the file is new, its directory not yet synced */
	uint64_t *slot;              /* writer: open addressing subject -> id (low 32
					bits; 0 empty) and the top of its hash (high) */
	size_t nslot, nused;
	void *oldslots;              /* slot arrays outgrown, freed at close (a prefetch
					on another thread may still read one) */
	struct stat seen;            /* reader: the file as read (st_ino 0: none) */
	struct eg_keys *older;       /* tables replaced by a refresh, freed at close */
} eg_keys;

static pthread_mutex_t keys_mu = PTHREAD_MUTEX_INITIALIZER;

static keyent *ent(eg_keys *k, uint32_t id)
{
	return &k->chunk[(id - 1) / CHUNK_ENTS][(id - 1) % CHUNK_ENTS];
}

static void keys_free(eg_keys *k)
{
	while (k) {
		eg_keys *o = k->older;
		for (uint32_t i = 0; k->chunk && i < MAX_CHUNKS && k->chunk[i]; i++) {
			OPENSSL_cleanse(k->chunk[i], CHUNK_ENTS * sizeof(keyent));
			free(k->chunk[i]);
		}
		free(k->chunk);
		free(k->slot);
		for (void *q = k->oldslots, *nx; q; q = nx) {
			nx = *(void **)q;
			free(q);
		}
		if (k->fd >= 0)
			eg_os.close(k->fd);
		free(k);
		k = o;
	}
}

void eg_keys_close(eg_store *st)
{
	keys_free(st->keys);
	st->keys = NULL;
}

static keyent *ent_add(eg_keys *k)
{
	uint32_t id = k->n + 1, c = (id - 1) / CHUNK_ENTS;
	if (c >= MAX_CHUNKS)
		return NULL;
	if (!k->chunk[c] && !(k->chunk[c] = calloc(CHUNK_ENTS, sizeof(keyent))))
		return NULL;
	return ent(k, id);
}

/* ------------------------------------------------------------ the file */

static void hdr_encode(unsigned char h[KEYS_HDR_LEN])
{
	memset(h, 0, KEYS_HDR_LEN);
	memcpy(h, KEYS_MAGIC, 8);
	wr32(h + 8, 1);
	wr32(h + 12, KEYS_ENT_LEN);
	wr32(h + 60, eg_rec_check(h, 60));
}

static int hdr_ok(const unsigned char h[KEYS_HDR_LEN])
{
	return !memcmp(h, KEYS_MAGIC, 8) && rd32(h + 8) == 1 && rd32(h + 12) == KEYS_ENT_LEN &&
	       rd32(h + 60) == eg_rec_check(h, 60);
}

static void ent_encode(const keyent *e, uint32_t id, unsigned char o[KEYS_ENT_LEN])
{
	memset(o, 0, KEYS_ENT_LEN);
	o[4] = e->state;
	o[5] = e->slen;
	wr32(o + 8, id);
	wr64(o + 16, (uint64_t)e->created);
	wr64(o + 24, (uint64_t)e->forgotten);
	memcpy(o + 32, e->key, EG_SHRED_KEY);
	memcpy(o + 64, e->subj, e->slen);
	wr32(o, eg_rec_check(o + 4, KEYS_ENT_LEN - 4));
}

/* An entry as read: a torn or damaged one (its check fails, or it is not
 * the entry its place says) is KEY_BAD, its values then read unavailable. */
static void ent_decode(const unsigned char *o, uint32_t id, keyent *e)
{
	memset(e, 0, sizeof *e);
	if (rd32(o) != eg_rec_check(o + 4, KEYS_ENT_LEN - 4) || rd32(o + 8) != id ||
	    (o[4] != KEY_LIVE && o[4] != KEY_FORGOTTEN) || o[5] > EG_SHRED_SUBJECT_MAX)
		return;
	e->state = o[4];
	e->slen = o[5];
	e->created = (int64_t)rd64(o + 16);
	e->forgotten = (int64_t)rd64(o + 24);
	memcpy(e->subj, o + 64, e->slen);
	if (e->state == KEY_LIVE)
		memcpy(e->key, o + 32, EG_SHRED_KEY);
}

static uint64_t subj_hash(const char *s, size_t n)
{
	return eg_key_hash(7, s, n);
}

static int map_put(eg_keys *k, uint32_t id);

static int map_grow(eg_keys *k)
{
	size_t ns = k->nslot ? k->nslot * 2 : 1024;
	uint64_t *old = k->slot, *nw = calloc(ns, sizeof *nw);
	size_t on = k->nslot;
	if (!nw)
		return -1;
	/* the array first, the larger size after it: a reader of the size
	 * then the array (eg_keys_prefetch) never indexes past the array it
	 * reads, and the old one is kept */
	__atomic_store_n(&k->slot, nw, __ATOMIC_RELEASE);
	k->nused = 0;
	__atomic_store_n(&k->nslot, ns, __ATOMIC_RELEASE);
	for (size_t i = 0; i < on; i++)
		if (old[i])
			map_put(k, (uint32_t)old[i]);
	if (old) {                   /* kept, its first word the list's link (a
					prefetch reading it there checks the id) */
		*(void **)old = k->oldslots;
		k->oldslots = old;
	}
	return 0;
}

/* The live key of a subject is in the map; one forgotten leaves it. */
static int map_put(eg_keys *k, uint32_t id)
{
	if ((k->nused + 1) * 2 > k->nslot && map_grow(k))
		return -1;
	keyent *e = ent(k, id);
	uint64_t h = subj_hash(e->subj, e->slen);
	size_t i = h & (k->nslot - 1);
	while (k->slot[i])
		i = (i + 1) & (k->nslot - 1);
	k->slot[i] = id | (h & 0xffffffff00000000ull);
	k->nused++;
	return 0;
}

static uint32_t map_find(eg_keys *k, const char *s, size_t n, size_t *at)
{
	if (!k->nslot)
		return 0;
	uint64_t h = subj_hash(s, n);
	size_t i = h & (k->nslot - 1);
	for (; k->slot[i]; i = (i + 1) & (k->nslot - 1)) {
		if ((k->slot[i] ^ h) >> 32)   /* another hash: the entry stays untouched */
			continue;
		uint32_t id = (uint32_t)k->slot[i];
		keyent *e = ent(k, id);
		if (e->slen == n && !memcmp(e->subj, s, n) && e->state == KEY_LIVE) {
			if (at)
				*at = i;
			return id;
		}
	}
	return 0;
}

void eg_keys_prefetch(eg_store *st, uint64_t h, int step)
{
	eg_keys *k = st->keys;
	if (!k)
		return;
	/* the size first: never larger than the array read after it */
	size_t ns = __atomic_load_n(&k->nslot, __ATOMIC_ACQUIRE);
	uint64_t *slot = __atomic_load_n(&k->slot, __ATOMIC_ACQUIRE);
	if (!ns || !slot)
		return;
	size_t i = h & (ns - 1);
	if (!step) {
		__builtin_prefetch(&slot[i]);
		return;
	}
	/* the entry the slot names, if it looks like the subject's: a hint
	 * only, so a slot changing meanwhile does no harm (entries are never
	 * moved, chunks never freed while the store is open) */
	uint64_t v = __atomic_load_n(&slot[i], __ATOMIC_RELAXED);
	uint32_t id = (uint32_t)v;
	if (!id || ((v ^ h) >> 32) || id > __atomic_load_n(&k->n, __ATOMIC_ACQUIRE))
		return;
	keyent *ch = __atomic_load_n(&k->chunk[(id - 1) / CHUNK_ENTS], __ATOMIC_RELAXED);
	if (ch) {
		keyent *e = &ch[(id - 1) % CHUNK_ENTS];
		__builtin_prefetch(e);
		__builtin_prefetch((char *)e + 64);
	}
}

/* Read the whole file into a new table: the writer's (fd kept open, the
 * map built, a torn tail cut off) or a reader's.  A missing file is an
 * empty table (a writer makes it at its first key). */
static int keys_load(eg_store *st, int writer, eg_keys **out)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", st->dir, KEYS_FILE);
	eg_keys *k = calloc(1, sizeof *k);
	if (!k || !(k->chunk = calloc(MAX_CHUNKS, sizeof *k->chunk))) {
		free(k);
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	}
	k->fd = -1;
	int fd = eg_os.open(path, writer ? O_RDWR | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		*out = k;
		return errno == ENOENT ? EG_OK : (keys_free(k), eg_st_errno(st, "cannot open %s", path));
	}
	int rc = EG_OK;
	struct stat sb;
	unsigned char *p = NULL;
	if (eg_os.fstat(fd, &sb)) {
		rc = eg_st_errno(st, "cannot stat %s", path);
		goto out;
	}
	k->seen = sb;
	size_t size = (size_t)sb.st_size;
	if (size < KEYS_HDR_LEN) {
		/* a header torn as the file was made: no key was in use yet */
		if (writer && eg_os.ftruncate(fd, 0))
			rc = eg_st_errno(st, "cannot reset %s", path);
		k->created = 1;
		goto out;
	}
	if (!(p = malloc(size))) {
		rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		goto out;
	}
	if (eg_os_pread_all(fd, p, size, 0)) {
		rc = eg_st_errno(st, "cannot read %s", path);
		goto out;
	}
	if (!hdr_ok(p)) {
		rc = eg_st_err(st, EG_ECORRUPT, "%s: the header is damaged", path);
		goto out;
	}
	uint32_t n = (uint32_t)((size - KEYS_HDR_LEN) / KEYS_ENT_LEN);
	for (uint32_t i = 0; i < n; i++) {
		keyent *e = ent_add(k);
		if (!e) {
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
			goto out;
		}
		ent_decode(p + KEYS_HDR_LEN + (size_t)i * KEYS_ENT_LEN, i + 1, e);
		k->n = i + 1;
		if (writer && e->state == KEY_LIVE && map_put(k, i + 1)) {
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
			goto out;
		}
	}
	k->nfile = n;
	/* a torn last entry was never synced, so no commit used it */
	if (writer && size != KEYS_HDR_LEN + (size_t)n * KEYS_ENT_LEN &&
	    eg_os.ftruncate(fd, (off_t)(KEYS_HDR_LEN + (size_t)n * KEYS_ENT_LEN)))
		rc = eg_st_errno(st, "cannot cut %s", path);
out:
	if (p) {
		OPENSSL_cleanse(p, size);
		free(p);
	}
	if (writer && !rc)
		k->fd = fd;
	else
		eg_os.close(fd);
	if (rc) {
		keys_free(k);
		return rc;
	}
	*out = k;
	return EG_OK;
}

static int keys_get(eg_store *st, int writer)
{
	if (st->keys)
		return EG_OK;
	pthread_mutex_lock(&keys_mu);
	int rc = st->keys ? EG_OK : keys_load(st, writer, &st->keys);
	pthread_mutex_unlock(&keys_mu);
	return rc;
}

void eg_keys_refresh(eg_store *st)
{
	eg_keys *k = st->keys;
	if (!k || st->writable)
		return;
	char path[PATH_MAX];
	struct stat sb;
	snprintf(path, sizeof path, "%s/%s", st->dir, KEYS_FILE);
	int gone = eg_os.stat(path, &sb) != 0;
	if (gone ? !k->seen.st_ino
		 : (sb.st_ino == k->seen.st_ino && sb.st_size == k->seen.st_size &&
		    sb.st_mtim.tv_sec == k->seen.st_mtim.tv_sec &&
		    sb.st_mtim.tv_nsec == k->seen.st_mtim.tv_nsec &&
		    sb.st_ctim.tv_nsec == k->seen.st_ctim.tv_nsec))
		return;
	eg_keys *nk = NULL;
	pthread_mutex_lock(&keys_mu);
	if (keys_load(st, 0, &nk) == EG_OK) {
		nk->older = k;          /* another thread may still read it */
		st->keys = nk;
	}
	pthread_mutex_unlock(&keys_mu);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The live key of a subject, a new one made when it has none: EG_OK,
 * EG_ENOMEM or EG_EIO (no random bytes).  Under keys_mu: the parsing
 * thread of a bulk append seals while the adding one syncs. */
static int subject_key(eg_store *st, const char *subj, size_t n, uint32_t *kid,
		       const unsigned char **key)
{
	eg_keys *k = st->keys;
	int rc = EG_OK;
	if (!k)
		return EG_EIO;
	pthread_mutex_lock(&keys_mu);
	uint32_t id = map_find(k, subj, n, NULL);
	if (!id) {
		keyent *e = ent_add(k);
		if (!e) {
			rc = EG_ENOMEM;
			goto out;
		}
		memset(e, 0, sizeof *e);
		if (RAND_bytes(e->key, EG_SHRED_KEY) != 1) {
			rc = EG_EIO;
			goto out;
		}
		e->state = KEY_LIVE;
		e->slen = (uint8_t)n;
		memcpy(e->subj, subj, n);
		e->created = now_us();
		id = k->n + 1;
		if (map_put(k, id)) {
			rc = EG_ENOMEM;
			goto out;
		}
		k->n = id;
	}
	*kid = id;
	*key = ent(k, id)->key;
out:
	pthread_mutex_unlock(&keys_mu);
	return rc;
}

static int keys_sync(eg_store *st);

int eg_keys_sync(eg_store *st)
{
	pthread_mutex_lock(&keys_mu);
	int rc = keys_sync(st);
	pthread_mutex_unlock(&keys_mu);
	return rc;
}

static int keys_sync(eg_store *st)
{
	eg_keys *k = st->keys;
	if (!k || k->nfile == k->n)
		return EG_OK;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", st->dir, KEYS_FILE);
	if (k->fd < 0) {
		k->fd = eg_os.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (k->fd < 0)
			return eg_st_errno(st, "cannot create %s", path);
		k->created = 1;
	}
	size_t len = (size_t)(k->n - k->nfile) * KEYS_ENT_LEN + (k->nfile ? 0 : KEYS_HDR_LEN);
	unsigned char *b = malloc(len), *q = b;
	if (!b)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (!k->nfile) {
		hdr_encode(q);
		q += KEYS_HDR_LEN;
	}
	for (uint32_t id = k->nfile + 1; id <= k->n; id++, q += KEYS_ENT_LEN)
		ent_encode(ent(k, id), id, q);
	off_t at = k->nfile ? (off_t)(KEYS_HDR_LEN + (size_t)k->nfile * KEYS_ENT_LEN) : 0;
	int bad = eg_os_pwrite_all(k->fd, b, len, at) || eg_os.fdatasync(k->fd) ||
		  (k->created && eg_os_fsync_dir(st->dir));
	OPENSSL_cleanse(b, len);
	free(b);
	if (bad)
		return eg_st_errno(st, "cannot write the keys of the batch to %s", path);
	k->created = 0;
	k->nfile = k->n;
	return EG_OK;
}

/* ------------------------------------------------ walking data as stored
 *
 * Data is valid JSON by the time it is sealed (the envelope's parse
 * validated it) or opened (the record passed its check), so the walks
 * below step over it without validating it again: that second scan was a
 * tenth of an append with personal values.  Every step stays inside
 * [p, end) whatever the bytes. */

typedef struct vobj {
	const char *p, *end;
} vobj;

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int vobj_begin(vobj *it, const char *p, size_t n)
{
	it->end = p + n;
	it->p = skip_ws(p, it->end);
	if (it->p >= it->end || *it->p != '{')
		return -1;
	it->p++;
	return 0;
}

/* 1 with the next member, 0 at the closing brace, -1 on bytes that are
 * not an object's. */
static int vobj_next(vobj *it, json_span *key, json_span *val)
{
	const char *p = skip_ws(it->p, it->end), *end = it->end, *q;
	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	if (p >= end || *p != '"' || !(q = eg_json_value_end(p, end)))
		return -1;
	*key = (json_span){ p, (size_t)(q - p), JSON_STRING };
	p = skip_ws(q, end);
	if (p >= end || *p != ':')
		return -1;
	p = skip_ws(p + 1, end);
	if (!(q = eg_json_value_end(p, end)) || q == p)
		return -1;
	*val = (json_span){ p, (size_t)(q - p), eg_json_type_of(*p) };
	it->p = q;
	return 1;
}

/* The member name[0..nl) of object o (its decoded name; the last of
 * duplicates, as eg_json_member), without validating o again. */
static int vobj_member(const json_span *o, const char *name, size_t nl, json_span *out)
{
	vobj it;
	json_span k, v;
	int found = 0;
	if (vobj_begin(&it, o->p, o->n))
		return 0;
	while (vobj_next(&it, &k, &v) == 1) {
		if (k.n - 2 == nl && !memcmp(k.p + 1, name, nl)) {
			*out = v;              /* plain names, the common case */
			found = 1;
		} else if (memchr(k.p + 1, '\\', k.n - 2) && k.n <= 1024) {
			char dec[1024];
			size_t dn = eg_json_string_decode(&k, dec);
			if (dn == nl && !memcmp(dec, name, nl)) {
				*out = v;
				found = 1;
			}
		}
	}
	return found;
}

/* ------------------------------------------------------- append: seal */

typedef struct sctx {
	const eg_personal *p;
	json_span subj;              /* a top-level subject's value, when found */
	int has_subj;
	eg_shred_val *v;             /* the personal values found, in data order */
	size_t nv, cap;
	eg_shred_val stack[16];
} sctx;

static int sctx_push(sctx *s, const char *ptr, const json_span *v)
{
	if (s->nv == s->cap) {
		size_t nc = s->cap * 2;
		if (nc > EG_SHRED_VALS)
			return -1;
		eg_shred_val *n = malloc(nc * sizeof *n);
		if (!n)
			return -1;
		memcpy(n, s->v, s->nv * sizeof *n);
		if (s->v != s->stack)
			free(s->v);
		s->v = n;
		s->cap = nc;
	}
	s->v[s->nv++] = (eg_shred_val){ ptr, strlen(ptr), v->p, v->n };
	return 0;
}

/* Is the pointer segment sg (a C string) the name nm[0..nl)?  Without
 * strlen: this runs for every member and every personal pointer. */
static int seg_is(const char *sg, const char *nm, size_t nl)
{
	size_t q = 0;
	while (q < nl && sg[q] && sg[q] == nm[q])
		q++;
	return q == nl && !sg[q];
}

/* Find in object o the values of the members at the pointers in `live`
 * (bit i: p's pointer i matches so far, d segments deep), in data order;
 * objects on the way to a deeper pointer are walked.  Nothing is copied:
 * the caller splices the bundle in. */
static int seal_obj(sctx *s, const json_span *o, size_t d, uint64_t live)
{
	vobj it;
	json_span key, v;
	if (vobj_begin(&it, o->p, o->n))
		return 0;
	int r;
	while ((r = vobj_next(&it, &key, &v)) == 1) {
		char buf1[256], *big = NULL;
		const char *nm = key.p + 1;      /* a plain name is its own text */
		size_t nl = key.n - 2;
		if (memchr(nm, '\\', nl)) {
			nm = key.n <= sizeof buf1 ? buf1 : (big = eg_json_string_dup(&key, NULL));
			if (!nm)
				return -1;
			if (!big)
				nl = eg_json_string_decode(&key, buf1);
			else
				nl = strlen(big);   /* a NUL inside names no personal property */
		}
		uint64_t next = 0;
		int leaf = -1;
		for (size_t i = 0; i < s->p->n; i++) {
			if (!(live >> i & 1) || !seg_is(s->p->seg[i][d], nm, nl))
				continue;
			if (s->p->nseg[i] == d + 1)
				leaf = leaf < 0 ? (int)i : leaf;
			else
				next |= 1ull << i;
		}
		/* a top-level subject (the usual case) found on the same walk */
		if (!d && s->p->nsseg == 1 && seg_is(s->p->sseg[0], nm, nl)) {
			s->subj = v;            /* the last of duplicates, as eg_json_member */
			s->has_subj = 1;
		}
		free(big);
		if (leaf >= 0) {
			if (sctx_push(s, s->p->ptr[leaf], &v))
				return -1;
		} else if (next && v.type == JSON_OBJECT) {
			if (seal_obj(s, &v, d + 1, next))
				return -1;
		}
	}
	return r < 0 ? -1 : 0;
}

/* The subject's text: the value at the x-subject pointer, a string
 * (decoded) or an integer (its digits); else EG_EINVAL with err set. */
static int subject_of(const eg_personal *p, const char *data, size_t n, const json_span *at,
		      char out[EG_SHRED_SUBJECT_MAX], size_t *len, char *err, size_t errlen)
{
	json_span v = { data, n, JSON_OBJECT };
	if (at)                      /* found by the walk that found the values */
		v = *at;
	for (size_t i = at ? p->nsseg : 0; i < p->nsseg; i++) {
		json_span c;
		if (v.type != JSON_OBJECT || !vobj_member(&v, p->sseg[i], strlen(p->sseg[i]), &c)) {
			snprintf(err, errlen, "field \"data%s\": missing; it names the subject of the "
				 "event's personal values (x-subject)", p->subject);
			return EG_EINVAL;
		}
		v = c;
	}
	if (v.type == JSON_STRING && v.n - 2 <= EG_SHRED_SUBJECT_MAX && v.n > 2) {
		char tmp[EG_SHRED_SUBJECT_MAX + 2];
		*len = eg_json_string_decode(&v, tmp);
		if (*len && *len <= EG_SHRED_SUBJECT_MAX && !memchr(tmp, 0, *len)) {
			memcpy(out, tmp, *len);
			return EG_OK;
		}
	}
	int integer = v.type == JSON_NUMBER && v.n <= EG_SHRED_SUBJECT_MAX;
	for (size_t i = 0; integer && i < v.n; i++)
		integer = (v.p[i] >= '0' && v.p[i] <= '9') || (i == 0 && v.p[i] == '-');
	if (integer) {
		memcpy(out, v.p, v.n);
		*len = v.n;
		return EG_OK;
	}
	snprintf(err, errlen, "field \"data%s\": expected a string of 1 to %d bytes or an integer "
		 "(the subject of the event's personal values, x-subject), got %.40s", p->subject,
		 EG_SHRED_SUBJECT_MAX, v.p);
	return EG_EINVAL;
}

int eg_keys_subject_hash(const eg_personal *p, const char *data, size_t n, uint64_t *h)
{
	char subj[EG_SHRED_SUBJECT_MAX], err[8];
	size_t sl;
	json_span v = { data, n, JSON_OBJECT }, c;
	/* A hint: the first member of the name, not walking on to the last
	 * (which sealing uses, as eg_json_member) — with duplicates the hint
	 * may miss, nothing else.  Plain names only. */
	for (size_t i = 0; i < p->nsseg; i++, v = c) {
		vobj it;
		json_span key;
		size_t nl = strlen(p->sseg[i]);
		int r;
		if (v.type != JSON_OBJECT || vobj_begin(&it, v.p, v.n))
			return -1;
		while ((r = vobj_next(&it, &key, &c)) == 1)
			if (key.n - 2 == nl && !memcmp(key.p + 1, p->sseg[i], nl))
				break;
		if (r != 1)
			return -1;
	}
	if (subject_of(p, data, n, &v, subj, &sl, err, sizeof err))
		return -1;
	*h = subj_hash(subj, sl);
	return 0;
}

int eg_keys_prepare(eg_store *st)
{
	return keys_get(st, 1);
}

int eg_keys_seal_data(eg_store *st, eg_shred_cx *cx, const eg_personal *p, const char *id,
		      size_t idlen, const char *data, size_t n, buf *out, int *sealed, char *err,
		      size_t errlen)
{
	char subj[EG_SHRED_SUBJECT_MAX];
	size_t sl = 0;
	*sealed = 0;
	sctx s = { .p = p, .cap = sizeof s.stack / sizeof *s.stack };
	s.v = s.stack;
	uint64_t all = p->n >= 64 ? ~0ull : (1ull << p->n) - 1;
	json_span d = { data, n, JSON_OBJECT };
	uint32_t kid;
	const unsigned char *key;
	int rc;
	/* data is minified here, as stored: an object beginning {"$enc": is
	 * engram's form of an encrypted value, which a reader would take for
	 * one (and read the event's real values as unavailable) */
	if (memmem(data, n, "{\"$enc\":", 8)) {
		snprintf(err, errlen, "field \"data\": expected no object with a \"$enc\" member first "
			 "(engram's form of an encrypted value) in an event with personal values");
		return EG_EINVAL;
	}
	if (seal_obj(&s, &d, 0, all)) {
		snprintf(err, errlen, "field \"data\": cannot encrypt its personal values (out of "
			 "memory, or more than %d)", EG_SHRED_VALS);
		rc = EG_ENOMEM;
		goto out;
	}
	if ((rc = subject_of(p, data, n, p->nsseg == 1 ? (s.has_subj ? &s.subj : NULL) : NULL,
			     subj, &sl, err, errlen)))
		goto out;
	if ((rc = subject_key(st, subj, sl, &kid, &key))) {
		snprintf(err, errlen, "%s", rc == EG_ENOMEM ? "out of memory"
				     : "no random bytes for a new key");
		goto out;
	}
	if (!s.nv)
		goto out;
	/* data as given with the bundle in the first value's place and each
	 * other value's index in its own */
	size_t at = 0;
	for (size_t i = 0; i < s.nv && !rc; i++) {
		size_t off = (size_t)(s.v[i].v - data);
		if (buf_add(out, data + at, off - at)) {
			rc = EG_ENOMEM;
		} else if (!i) {
			if (eg_shred_seal(cx, out, key, kid, id, idlen, s.v, s.nv))
				rc = EG_ENOMEM;
		} else {
			char ix[24] = "{\"$enc\":", dig[8];
			size_t k = 8, nd = 0;
			for (size_t q = i; q; q /= 10)
				dig[nd++] = (char)('0' + q % 10);
			while (nd)
				ix[k++] = dig[--nd];
			ix[k++] = '}';
			rc = buf_add(out, ix, k) ? EG_ENOMEM : EG_OK;
		}
		at = off + s.v[i].n;
	}
	if (!rc && buf_add(out, data + at, n - at))
		rc = EG_ENOMEM;
	if (rc)
		snprintf(err, errlen, "cannot encrypt the personal values of field \"data\"");
	else
		*sealed = 1;
out:
	if (s.v != s.stack)
		free(s.v);
	return rc;
}

/* ------------------------------------------------------- reads: open */

/* An encrypted form found in data: where (its text in data), its pointer
 * (in octx.ptrs) and its index in the bundle (0: the bundle itself). */
typedef struct form {
	const char *p;
	size_t n;
	size_t poff, plen;
	size_t idx;
	json_span s;                 /* the bundle's string */
} form;

typedef struct octx {
	buf ptr;                     /* the pointer of the member being walked */
	buf ptrs;                    /* the forms' pointers, one after another */
	form *f;
	size_t nf, cap, bundles;
	int bad;                     /* a form out of place: none opens */
	form stack[16];
} octx;

/* Is v an encrypted form?  1: the bundle ({"$enc":"..."} and nothing
 * else; its string in s), 2: an index ({"$enc":I}, I in 1..EG_SHRED_VALS,
 * no leading zero), 0: neither. */
static int enc_form(const json_span *v, json_span *s, size_t *idx)
{
	if (v->n < 10 || memcmp(v->p, "{\"$enc\":", 8))
		return 0;
	if (v->p[8] != '"') {
		size_t i = 8, k = 0;
		if (v->p[i] < '1' || v->p[i] > '9')
			return 0;
		while (i < v->n - 1 && v->p[i] >= '0' && v->p[i] <= '9' && k <= EG_SHRED_VALS)
			k = k * 10 + (size_t)(v->p[i++] - '0');
		if (i != v->n - 1 || v->p[i] != '}' || k >= EG_SHRED_VALS)
			return 0;
		*idx = k;
		return 2;
	}
	vobj it;
	json_span key, more;
	*idx = 0;
	return !vobj_begin(&it, v->p, v->n) && vobj_next(&it, &key, s) == 1 &&
	       s->type == JSON_STRING && vobj_next(&it, &key, &more) == 0;
}

static int form_push(octx *o, const json_span *m, const json_span *s, size_t idx)
{
	if (o->nf == o->cap) {
		size_t nc = o->cap * 2;
		form *n = nc <= EG_SHRED_VALS ? malloc(nc * sizeof *n) : NULL;
		if (!n) {
			if (nc > EG_SHRED_VALS) {   /* more than any bundle holds */
				o->bad = 1;
				return 0;
			}
			return -1;
		}
		memcpy(n, o->f, o->nf * sizeof *n);
		if (o->f != o->stack)
			free(o->f);
		o->f = n;
		o->cap = nc;
	}
	form *f = &o->f[o->nf++];
	*f = (form){ m->p, m->n, o->ptrs.n, o->ptr.n, idx, *s };
	o->bundles += !idx;
	return buf_add(&o->ptrs, o->ptr.p, o->ptr.n);
}

/* Append "/" and a member's name, escaped as RFC 6901 says, to o->ptr. */
static int ptr_push(octx *o, const json_span *key)
{
	char nm[1024];
	if (key->n > sizeof nm)
		return buf_add(&o->ptr, "/?", 2);   /* no personal name is this long */
	size_t n = eg_json_string_decode(key, nm);
	if (buf_add(&o->ptr, "/", 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *x = nm[i] == '~' ? "~0" : nm[i] == '/' ? "~1" : NULL;
		if (x ? buf_add(&o->ptr, x, 2) : buf_add(&o->ptr, nm + i, 1))
			return -1;
	}
	return 0;
}

/* Find the encrypted forms in the objects of v, in data order: 0, -1 out
 * of memory, -2 bytes that are not an object's. */
static int open_obj(octx *o, const json_span *v)
{
	vobj it;
	json_span key, m, s = { 0 };
	if (vobj_begin(&it, v->p, v->n))
		return 0;
	int r;
	while ((r = vobj_next(&it, &key, &m)) == 1) {
		if (m.type != JSON_OBJECT)
			continue;
		size_t at = o->ptr.n, idx;
		int k = ptr_push(o, &key) ? -1 : enc_form(&m, &s, &idx);
		int bad = k < 0 ? -1 : k ? form_push(o, &m, &s, idx) : open_obj(o, &m);
		if (bad)
			return bad;
		o->ptr.n = at;
	}
	return r < 0 ? -2 : 0;
}

/* Open the bundle of the forms found: into vals (by index) and pt (the
 * plaintext they point into).  0, or the flag that the values read null
 * under; -1 out of memory. */
static int open_bundle(octx *o, eg_keys *k, eg_shred_cx *cx, const char *id, size_t idlen,
		       eg_shred_val *vals, unsigned char *pt)
{
	if (o->bad || o->bundles != 1)
		return EG_EV_UNAVAILABLE;
	const form *b = NULL;
	for (size_t i = 0; i < o->nf; i++)
		vals[i].ptr = NULL;
	for (size_t i = 0; i < o->nf; i++) {
		const form *f = &o->f[i];
		if (f->idx >= o->nf || vals[f->idx].ptr)
			return EG_EV_UNAVAILABLE;   /* not the forms of one bundle */
		vals[f->idx].ptr = o->ptrs.p + f->poff;
		vals[f->idx].plen = f->plen;
		if (!f->idx)
			b = f;
	}
	uint32_t kid;
	size_t rl;
	keyent *e = NULL;
	if (!eg_shred_parse(b->s.p + 1, b->s.n - 2, &kid, pt, &rl) && kid <= k->n)
		e = ent(k, kid);
	if (e && e->state == KEY_FORGOTTEN)
		return EG_EV_FORGOTTEN;
	if (!e || e->state != KEY_LIVE)
		return EG_EV_UNAVAILABLE;
	/* decrypted behind the raw bytes, in the same buffer */
	long got = eg_shred_open(cx, e->key, kid, id, idlen, vals, o->nf, pt, rl, pt + rl);
	if (got < 0 || eg_shred_split(pt + rl, (size_t)got, vals, o->nf))
		return EG_EV_UNAVAILABLE;
	return 0;
}

int eg_keys_open_event(eg_store *st, eg_event *e, eg_shred_cx **cx, char **space, size_t *cap)
{
	if (!(e->personal & EG_EV_ENCRYPTED))
		return EG_OK;
	int rc = keys_get(st, st->writable);
	if (rc && rc != EG_ECORRUPT && rc != EG_EIO)
		return rc;
	if (!*cx && !(*cx = eg_shred_cx_new()))
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	octx o = { .cap = sizeof o.stack / sizeof *o.stack };
	o.f = o.stack;
	eg_keys empty = { 0 };
	eg_keys *k = st->keys ? st->keys : &empty;   /* a key file that cannot be read: no key */
	json_span d = { e->data, e->data_len, JSON_OBJECT };
	int bad = open_obj(&o, &d), flags = 0;
	eg_shred_val vstack[16], *vals = vstack;
	unsigned char pstack[2048], *pt = pstack;
	buf out = { *space, 0, *cap };
	if (!bad && o.nf > sizeof vstack / sizeof *vstack &&
	    !(vals = malloc(o.nf * sizeof *vals)))
		bad = -1;
	/* the raw bytes, then the plaintext: twice the bundle's string */
	size_t need = 0;
	for (size_t i = 0; !bad && i < o.nf; i++)
		if (!o.f[i].idx)
			need += 2 * o.f[i].s.n;
	if (!bad && need > sizeof pstack && !(pt = malloc(need)))
		bad = -1;
	if (!bad && o.nf)
		flags = open_bundle(&o, k, *cx, e->id, e->id ? e->id_len : 0, vals, pt);
	/* data as stored, each form replaced by its value (or null) */
	size_t at = 0;
	for (size_t i = 0; !bad && i < o.nf; i++) {
		const form *f = &o.f[i];
		size_t off = (size_t)(f->p - e->data);
		if (buf_add(&out, e->data + at, off - at) ||
		    (flags ? buf_add(&out, "null", 4) : buf_add(&out, vals[f->idx].v, vals[f->idx].n)))
			bad = -1;
		at = off + f->n;
	}
	if (!bad && buf_add(&out, e->data + at, e->data_len - at))
		bad = -1;
	if (pt != pstack) {
		OPENSSL_cleanse(pt, need);
		free(pt);
	} else if (o.nf) {
		OPENSSL_cleanse(pt, need);
	}
	if (vals != vstack)
		free(vals);
	if (o.f != o.stack)
		free(o.f);
	free(o.ptr.p);
	free(o.ptrs.p);
	*space = out.p;
	*cap = out.cap;
	if (bad == -2)
		return eg_st_err(st, EG_ECORRUPT, "the data of event %llu is not a JSON object",
				 (unsigned long long)e->pos);
	if (bad)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	e->data = out.p;
	e->data_len = out.n;
	e->personal = (e->personal & ~(unsigned)EG_EV_ENCRYPTED) | (unsigned)flags;
	return EG_OK;
}

/* ------------------------------------------------------------- forget */

/* Drop every derived kind that may hold decrypted values: all but those
 * built from the records as stored (ciphertext: the column files, the
 * Merkle tree), and the kept datasets under DIR/datasets. */
static int drop_decrypted(eg_store *st, char *names, size_t cap)
{
	size_t n;
	const eg_ds_kind *kinds = eg_ds_kinds(&n);
	int rc = EG_OK;
	names[0] = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (kinds[i].as_stored)
			continue;
		rc = kinds[i].drop_all ? kinds[i].drop_all(st) : eg_ds_drop_files(st, kinds[i].sub);
		snprintf(names + strlen(names), cap - strlen(names), "%s%s", *names ? "," : "",
			 kinds[i].name);
	}
	if (!rc)
		rc = eg_ds_drop_files(st, "/datasets");
	snprintf(names + strlen(names), cap - strlen(names), "%sdatasets", *names ? "," : "");
	return rc;
}

int eg_store_forget(eg_store *st, const char *subject, eg_forget_result *res)
{
	memset(res, 0, sizeof *res);
	size_t n = strlen(subject);
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "forget needs the write lock");
	if (!n || n > EG_SHRED_SUBJECT_MAX)
		return eg_st_err(st, EG_EINVAL, "subject: expected 1 to %d bytes", EG_SHRED_SUBJECT_MAX);
	int rc = keys_get(st, 1);
	if (rc)
		return rc;
	eg_keys *k = st->keys;
	snprintf(res->subject, sizeof res->subject, "%s", subject);
	uint32_t known = 0;
	for (uint32_t id = 1; id <= k->n; id++) {
		keyent *e = ent(k, id);
		if (e->slen != n || memcmp(e->subj, subject, n) || e->state == KEY_BAD)
			continue;
		known = id;
		if (e->state == KEY_FORGOTTEN && e->forgotten >= res->forgotten_at) {
			res->forgotten_at = e->forgotten;
			res->key_id = id;
		}
	}
	if (!known)
		return eg_st_err(st, EG_ENOTFOUND, "subject \"%s\": no key (no event with personal "
				 "values of this subject was ever appended)", subject);
	/* keys made by an aborted batch go out first, so entries stay in order */
	if ((rc = eg_keys_sync(st)))
		return rc;
	size_t at;
	uint32_t id;
	int64_t now = now_us();
	while ((id = map_find(k, subject, n, &at))) {
		keyent *e = ent(k, id);
		unsigned char b[KEYS_ENT_LEN];
		OPENSSL_cleanse(e->key, EG_SHRED_KEY);   /* zeros, in memory and on disk */
		e->state = KEY_FORGOTTEN;
		e->forgotten = now;
		ent_encode(e, id, b);
		if (eg_os_pwrite_all(k->fd, b, KEYS_ENT_LEN,
				     (off_t)(KEYS_HDR_LEN + (size_t)(id - 1) * KEYS_ENT_LEN)))
			return eg_st_errno(st, "cannot write %s/%s", st->dir, KEYS_FILE);
		k->slot[at] = 0;
		/* re-place the run after the emptied slot (linear probing) */
		for (size_t j = (at + 1) & (k->nslot - 1); k->slot[j]; j = (j + 1) & (k->nslot - 1)) {
			uint32_t v = (uint32_t)k->slot[j];
			k->slot[j] = 0;
			k->nused--;
			map_put(k, v);
		}
		k->nused--;
		res->keys++;
		res->key_id = id;
		res->forgotten_at = now;
	}
	if (!res->keys) {
		res->already = 1;
	} else if (eg_os.fdatasync(k->fd)) {
		return eg_st_errno(st, "cannot sync %s/%s", st->dir, KEYS_FILE);
	}
	/* Even when forgotten before: a state built since from a backup's
	 * log or left by a crash between the two steps goes now. */
	if ((rc = drop_decrypted(st, res->dropped, sizeof res->dropped)))
		return rc;
	return EG_OK;
}

int eg_store_forgotten(eg_store *st, eg_forgotten_fn fn, void *ctx)
{
	int rc = keys_get(st, st->writable);
	if (rc)
		return rc;
	eg_keys *k = st->keys;
	for (uint32_t id = 1; id <= k->n && !rc; id++) {
		keyent *e = ent(k, id);
		if (e->state == KEY_FORGOTTEN)
			rc = fn(ctx, e->subj, e->slen, id, e->forgotten);
	}
	return rc;
}

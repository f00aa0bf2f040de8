/*
 * htab.c — a file-backed open-addressing hash table of 64-bit slots, used
 * for the event-id index (duplicate detection) and the key dictionary.
 *
 * A slot holds 30 bits of the key's hash (the tag) and a 34-bit value.  The
 * home slot is computed from the tag alone, monotonically, so the table can
 * grow without rereading the keys; the price is that equal tags are
 * possible, so every tag match is confirmed by the caller's match function
 * (which reads the real id or name).  That also makes stale slots harmless:
 * a slot left by an aborted or crashed batch fails confirmation.
 * Growth writes a new file and renames it over the old one, so a reader's
 * mapping is never truncated under it.
 */
#include "internal.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HT_MAGIC "ENGRAMHT"
#define HT_HDR_SLOTS 8          /* 64-byte header: magic, cap, count */
#define HT_TAG_BITS (64 - HTAB_VALUE_BITS)
#define HT_MIN_CAP 4096

static inline uint64_t ht_tag(uint64_t hash) { return hash >> HTAB_VALUE_BITS; }

static inline uint64_t ht_home(uint64_t tag, uint64_t cap)
{
	return (uint64_t)(((unsigned __int128)tag * cap) >> HT_TAG_BITS);
}

static int ht_map(htab *h)
{
	off_t size = eg_os_file_size(h->fd);
	if (size < 0)
		return -1;
	if (size < (off_t)(HT_HDR_SLOTS * 8)) {
		errno = EINVAL;   /* not a table: cut short while it was made */
		return -1;
	}
	void *m = eg_os.mmap(NULL, (size_t)size, PROT_READ | (h->writable ? PROT_WRITE : 0),
			     MAP_SHARED, h->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	uint64_t *hdr = m;
	if (memcmp(hdr, HT_MAGIC, 8) || hdr[1] == 0 ||
	    (hdr[1] + HT_HDR_SLOTS) * 8 != (uint64_t)size) {
		eg_os.munmap(m, (size_t)size);
		errno = EINVAL;
		return -1;
	}
	h->map_len = (size_t)size;
	h->slots = hdr + HT_HDR_SLOTS;
	h->cap = hdr[1];
	h->count = hdr[2];
	return 0;
}

static void ht_unmap(htab *h)
{
	if (h->slots)
		eg_os.munmap(h->slots - HT_HDR_SLOTS, h->map_len);
	h->slots = NULL;
}

/* Create an empty table file of cap slots at path. */
static int ht_create(const char *path, uint64_t cap)
{
	int fd = eg_os.open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	uint64_t hdr[HT_HDR_SLOTS] = { 0 };
	memcpy(hdr, HT_MAGIC, 8);
	hdr[1] = cap;
	if (eg_os.ftruncate(fd, (off_t)((cap + HT_HDR_SLOTS) * 8)) ||
	    eg_os_pwrite_all(fd, hdr, sizeof hdr, 0)) {
		int e = errno;
		eg_os.close(fd);
		eg_os.unlink(path);
		errno = e;
		return -1;
	}
	return fd;
}

int eg_htab_open(htab *h, const char *path, int writable)
{
	memset(h, 0, sizeof *h);
	snprintf(h->path, sizeof h->path, "%s", path);
	h->writable = writable;
	h->fd = eg_os.open(path, writable ? O_RDWR : O_RDONLY, 0);
	if (h->fd < 0 && errno == ENOENT && writable)
		h->fd = ht_create(path, HT_MIN_CAP);
	if (h->fd < 0)
		return -1;
	if (ht_map(h)) {
		int e = errno;
		eg_os.close(h->fd);
		h->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void eg_htab_close(htab *h)
{
	ht_unmap(h);
	if (h->fd >= 0)
		eg_os.close(h->fd);
	h->fd = -1;
}

int eg_htab_refresh(htab *h)
{
	struct stat a, b;
	if (eg_os.stat(h->path, &a) || eg_os.fstat(h->fd, &b))
		return -1;
	if (a.st_ino == b.st_ino) {
		h->count = h->slots[-HT_HDR_SLOTS + 2];
		return 0;
	}
	/* eg_htab_open clears h, path and all: open from a copy. */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s", h->path);
	eg_htab_close(h);
	return eg_htab_open(h, path, h->writable);
}

uint64_t eg_htab_find(htab *h, uint64_t hash, htab_match_fn match, void *ctx)
{
	uint64_t tag = ht_tag(hash), cap = h->cap;
	for (uint64_t i = ht_home(tag, cap), n = 0; n < cap; n++) {
		uint64_t s = h->slots[i];
		if (!s)
			return 0;
		if ((s >> HTAB_VALUE_BITS) == tag && match(ctx, s & HTAB_VALUE_MAX))
			return s & HTAB_VALUE_MAX;
		if (++i == cap)
			i = 0;
	}
	return 0;
}

void eg_htab_prefetch(const htab *h, uint64_t hash)
{
	if (h->slots)
		__builtin_prefetch(&h->slots[ht_home(ht_tag(hash), h->cap)]);
}

static void ht_put(uint64_t *slots, uint64_t cap, uint64_t slot)
{
	uint64_t i = ht_home(slot >> HTAB_VALUE_BITS, cap);
	while (slots[i])
		if (++i == cap)
			i = 0;
	slots[i] = slot;
}

/* Grow the table to cap slots in a new file renamed over the old one. */
static int ht_grow(htab *h, uint64_t cap)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.grow", h->path);
	int fd = ht_create(tmp, cap);
	if (fd < 0)
		return -1;
	size_t len = (size_t)((cap + HT_HDR_SLOTS) * 8);
	uint64_t *m = eg_os.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		eg_os.close(fd);
		eg_os.unlink(tmp);
		errno = e;
		return -1;
	}
	for (uint64_t i = 0; i < h->cap; i++)
		if (h->slots[i])
			ht_put(m + HT_HDR_SLOTS, cap, h->slots[i]);
	m[2] = h->count;
	eg_os.munmap(m, len);
	if (eg_os.rename(tmp, h->path)) {
		int e = errno;
		eg_os.close(fd);
		eg_os.unlink(tmp);
		errno = e;
		return -1;
	}
	eg_htab_close(h);
	h->fd = fd;
	return ht_map(h);
}

int eg_htab_insert(htab *h, uint64_t hash, uint64_t value)
{
	/* Keep the load under 0.7: linear probing stays short there. */
	if ((h->count + 1) * 10 > h->cap * 7 && ht_grow(h, h->cap * 2))
		return -1;
	ht_put(h->slots, h->cap, ht_tag(hash) << HTAB_VALUE_BITS | value);
	h->count++;
	h->slots[-HT_HDR_SLOTS + 2] = h->count;
	return 0;
}

int eg_htab_reserve(htab *h, uint64_t n)
{
	uint64_t cap = h->cap;
	while (n * 10 > cap * 7)
		cap *= 2;
	return cap == h->cap ? 0 : ht_grow(h, cap);
}

int eg_htab_remove(htab *h, uint64_t hash, uint64_t value)
{
	uint64_t want = ht_tag(hash) << HTAB_VALUE_BITS | value, cap = h->cap;
	uint64_t i = ht_home(ht_tag(hash), cap), n = 0;
	while (h->slots[i] != want) {
		if (!h->slots[i] || ++n == cap)
			return 0;
		if (++i == cap)
			i = 0;
	}
	/* Backward-shift deletion: pull later members of the probe run back
	 * so that no lookup stops early at the hole. */
	uint64_t j = i;
	for (;;) {
		if (++j == cap)
			j = 0;
		uint64_t s = h->slots[j];
		if (!s)
			break;
		uint64_t k = ht_home(s >> HTAB_VALUE_BITS, cap);
		int movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
		if (movable) {
			h->slots[i] = s;
			i = j;
		}
	}
	h->slots[i] = 0;
	h->count--;
	h->slots[-HT_HDR_SLOTS + 2] = h->count;
	return 0;
}

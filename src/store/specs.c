/*
 * specs.c — the spec state kept under idx/: listing it (engram specs) and
 * dropping one (engram specs --drop), for the three kinds at once.  Each
 * kind keeps one directory per spec hash (idx/proj/HASH/, idx/win/HASH/,
 * idx/sess/HASH/) with a `lock` file that its queries flock while they
 * run; the lock file's mtime is the state's last use (eg_spec_state_used).
 * A drop renames the directory to a dot name first, so that reindex and
 * new queries, which skip dot names, never see it half deleted.  The kinds
 * and their directories are the derived-state module's (derived.c).
 */
#include "derived.h"
#include "internal.h"
#include "json.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>


void eg_spec_state_used(eg_store *st, int lockfd)
{
	/* one metadata update per query; lost in a crash, it only makes the
	 * state look older */
	if (!st->quiet_use)
		eg_os.futimens(lockfd, NULL);
}

typedef struct sstate {
	int kind;                    /* index in eg_ds_kinds() */
	char hash[64];
	char *name;                  /* NULL when the spec has none */
	uint64_t bytes;
	int64_t last_used;
} sstate;

typedef struct slist {
	sstate *v;
	size_t n, cap;
} slist;

static void slist_free(slist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static int64_t mtime_us(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000 + sb->st_mtim.tv_nsec / 1000;
}

/* The "name" member of spec.json in dir, or NULL (none, or unreadable). */
static char *spec_name(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/spec.json", dir);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return NULL;
	off_t size = eg_os_file_size(fd);
	char *text = size > 0 && size < (16 << 20) ? malloc((size_t)size) : NULL;
	char *name = NULL;
	json_obj it;
	json_span key, val;
	if (text && eg_os_pread_all(fd, text, (size_t)size, 0) == 0 &&
	    eg_json_obj_begin(&it, text, (size_t)size, NULL) == 0) {
		while (!name && eg_json_obj_next(&it, &key, &val, NULL) == 1)
			if (key.n == 6 && !memcmp(key.p, "\"name\"", 6) &&
			    val.type == JSON_STRING && (name = malloc(val.n + 1)))
				name[eg_json_string_decode(&val, name)] = 0;
	}
	free(text);
	eg_os.close(fd);
	return name;
}

/* Size and last use of one state directory: the lock file's mtime, or the
 * newest file's when it has none. */
static int measure(const char *dir, uint64_t *bytes, int64_t *last_used)
{
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return -1;
	int64_t newest = 0, lock = 0;
	struct dirent *de;
	struct stat sb;
	*bytes = 0;
	while ((de = readdir(d)))
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode)) {
			*bytes += (uint64_t)sb.st_size;
			if (mtime_us(&sb) > newest)
				newest = mtime_us(&sb);
			if (!strcmp(de->d_name, "lock"))
				lock = mtime_us(&sb);
		}
	closedir(d);
	*last_used = lock ? lock : newest;
	return 0;
}

static int add_state(eg_store *st, slist *l, int kind, const char *parent, const char *hash)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/%s", parent, hash);
	sstate s = { .kind = kind };
	if (strlen(hash) >= sizeof s.hash || measure(dir, &s.bytes, &s.last_used))
		return EG_OK;   /* not a state directory, or gone meanwhile */
	memcpy(s.hash, hash, strlen(hash) + 1);
	s.name = spec_name(dir);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		sstate *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			free(s.name);
			return eg_st_err(st, EG_ENOMEM, "out of memory");
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return EG_OK;
}

static int cmp_state(const void *a, const void *b)
{
	const sstate *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->hash, y->hash);
}

typedef struct collecting {
	eg_store *st;
	slist *l;
	int kind;
	const char *parent;
} collecting;

static int collect_one(void *ctx, const char *dir, const char *hash)
{
	collecting *c = ctx;
	(void)dir;
	return add_state(c->st, c->l, c->kind, c->parent, hash);
}

/* Every state directory of the store, sorted. */
static int collect(eg_store *st, slist *l)
{
	int rc = EG_OK;
	size_t nk;
	const eg_ds_kind *kinds = eg_ds_kinds(&nk);
	for (size_t k = 0; k < nk && rc == EG_OK; k++) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof parent, "%s/idx/%s", st->dir, kinds[k].sub);
		collecting c = { st, l, (int)k, parent };
		rc = eg_ds_list(st, kinds[k].sub, collect_one, &c);
	}
	if (rc == EG_OK && l->n)
		qsort(l->v, l->n, sizeof *l->v, cmp_state);
	return rc;
}

static const char *kind_name(int k)
{
	size_t n;
	return eg_ds_kinds(&n)[k].name;
}

static const char *kind_sub(int k)
{
	size_t n;
	return eg_ds_kinds(&n)[k].sub;
}

static int report(const sstate *s, eg_spec_state_fn fn, void *ctx)
{
	eg_spec_state o = {
		.kind = kind_name(s->kind), .name = s->name, .hash = s->hash,
		.bytes = s->bytes, .last_used = s->last_used,
	};
	return fn(ctx, &o);
}

int eg_spec_state_list(eg_store *st, eg_spec_state_fn fn, void *ctx)
{
	slist l = { 0 };
	int rc = collect(st, &l);
	for (size_t i = 0; rc == EG_OK && i < l.n; i++)
		rc = report(&l.v[i], fn, ctx);
	slist_free(&l);
	return rc;
}

/* Leftovers of a drop that stopped half way (a crash): .drop-* dirs. */
static void remove_leftovers(const char *parent)
{
	DIR *d = eg_os.opendir(parent);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".drop-", 6)) {
			char p[PATH_MAX];
			snprintf(p, sizeof p, "%s/%s", parent, de->d_name);
			eg_ds_remove_dir(p);
		}
	closedir(d);
}

/* The one state hash names, by whole hash or unique prefix. */
static int find_state(eg_store *st, const slist *l, const char *hash, const sstate **out)
{
	size_t n = strlen(hash), found = 0;
	int hex = n >= 4 && n <= 32;
	for (size_t i = 0; hex && i < n; i++)
		hex = (hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f');
	if (!hex)
		return eg_st_err(st, EG_EINVAL, "spec state hash \"%s\": expected 4 to 32 lowercase "
			      "hex digits (engram specs lists the hashes)", hash);
	char many[512] = "";
	size_t m = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i].hash, hash, n))
			continue;
		*out = &l->v[i];
		found++;
		if (m < sizeof many - 1)
			m += (size_t)snprintf(many + m, sizeof many - m, "%s%s (%s)", m ? ", " : "",
					      l->v[i].hash, kind_name(l->v[i].kind));
	}
	if (found == 0)
		return eg_st_err(st, EG_ENOTFOUND, "no spec state with hash %s "
			      "(engram specs lists them)", hash);
	if (found > 1)
		return eg_st_err(st, EG_EINVAL, "hash prefix %s matches %zu spec states: %s; "
			      "give more digits", hash, found, many);
	return EG_OK;
}

/* Take the state's lock, move it out of sight, then delete it. */
static int drop_one(eg_store *st, const sstate *s)
{
	char parent[PATH_MAX], dir[PATH_MAX], gone[PATH_MAX], path[PATH_MAX];
	snprintf(parent, sizeof parent, "%s/idx/%s", st->dir, kind_sub(s->kind));
	snprintf(dir, sizeof dir, "%s/%s", parent, s->hash);
	snprintf(gone, sizeof gone, "%s/.drop-%s", parent, s->hash);
	remove_leftovers(parent);
	snprintf(path, sizeof path, "%s/lock", dir);
	int fd = eg_os.open(path, O_RDWR, 0);
	if (fd < 0 && errno != ENOENT)
		return eg_st_errno(st, "cannot open %s", path);
	if (fd >= 0 && eg_os.flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		eg_os.close(fd);
		if (e == EWOULDBLOCK)
			return eg_st_err(st, EG_ELOCKED, "spec state %s (%s) is in use by a query "
				      "running now; try again when it ends",
				      s->hash, kind_name(s->kind));
		errno = e;
		return eg_st_errno(st, "cannot lock %s", path);
	}
	int rc = EG_OK;
	if (eg_os.rename(dir, gone))
		rc = eg_st_errno(st, "cannot move %s aside", dir);
	else if (eg_os_fsync_dir(parent))
		rc = eg_st_errno(st, "cannot sync %s", parent);
	if (fd >= 0)
		eg_os.close(fd);
	/* A query that opened the lock file just before the rename may still
	 * write into the moved directory: then it is not empty and stays,
	 * under its dot name, until the next drop in parent. */
	if (rc == EG_OK)
		eg_ds_remove_dir(gone);
	return rc;
}

int eg_spec_state_drop(eg_store *st, const char *hash, eg_spec_state_fn fn, void *ctx)
{
	if (!st->writable)
		return eg_st_err(st, EG_EREADONLY, "dropping spec state needs the write lock");
	slist l = { 0 };
	const sstate *s = NULL;
	int rc = collect(st, &l);
	if (rc == EG_OK)
		rc = find_state(st, &l, hash, &s);
	if (rc == EG_OK)
		rc = drop_one(st, s);
	if (rc == EG_OK && fn)
		rc = report(s, fn, ctx);
	slist_free(&l);
	return rc;
}

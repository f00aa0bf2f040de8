/* testutil.h — what every cmocka test file includes first, and the
 * fixtures the store tests share. */
#ifndef EG_TESTUTIL_H
#define EG_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engram.h"

static inline int tu_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* Remove a directory tree (a test's temp store). */
static inline void rm_rf(const char *dir)
{
	nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copy a file, or a whole tree to dst (which must not exist). */
static inline void tu_copy_file(const char *s, const char *t)
{
	int in = open(s, O_RDONLY), out = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

static inline void tu_copy_tree(const char *src, const char *dst)
{
	assert_int_equal(mkdir(dst, 0755), 0);
	DIR *d = opendir(src);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char s[512], t[512];
		snprintf(s, sizeof s, "%s/%s", src, de->d_name);
		snprintf(t, sizeof t, "%s/%s", dst, de->d_name);
		struct stat sb;
		assert_int_equal(lstat(s, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			tu_copy_tree(s, t);
		else
			tu_copy_file(s, t);
	}
	closedir(d);
}

/* A tree's files as one text, for comparing two trees byte for byte:
 * each file's path under dir, its length and its bytes, in name order
 * within each directory; files named skip left out.  malloc'd. */
static inline int tu_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void tu_tree_add(const char *dir, const char *rel, const char *skip, char **out,
			       size_t *len)
{
	char p[1024];
	snprintf(p, sizeof p, "%s%s%s", dir, rel[0] ? "/" : "", rel);
	DIR *d = opendir(p);
	if (!d)
		return;
	char *names[4096];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 4096)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!skip || strcmp(de->d_name, skip)))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, tu_cmp_name);
	for (size_t i = 0; i < n; i++) {
		char r[1024], f[1100];
		snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		snprintf(f, sizeof f, "%s/%s", dir, r);
		struct stat sb;
		assert_int_equal(lstat(f, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			tu_tree_add(dir, r, skip, out, len);
		} else {
			size_t add = strlen(r) + 32 + (size_t)sb.st_size;
			*out = realloc(*out, *len + add + 1);
			assert_non_null(*out);
			*len += (size_t)sprintf(*out + *len, "%s %lld\n", r, (long long)sb.st_size);
			int fd = open(f, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(read(fd, *out + *len, (size_t)sb.st_size), sb.st_size);
			close(fd);
			*len += (size_t)sb.st_size;
		}
		free(names[i]);
	}
}

static inline char *tu_tree_text(const char *dir, const char *skip, size_t *len)
{
	char *out = calloc(1, 1);
	assert_non_null(out);
	*len = 0;
	tu_tree_add(dir, "", skip, &out, len);
	return out;
}

/* The fixture of tests that need a fresh temp directory each: setup puts
 * a tu_fx in *state, teardown removes the directory. */
typedef struct tu_fx {
	char dir[64];      /* a fresh temp directory: the store lives here */
	char path[128];    /* scratch for paths inside it */
} tu_fx;

static inline int tu_setup(void **state)
{
	tu_fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/eg-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static inline int tu_teardown(void **state)
{
	tu_fx *f = *state;
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Open a store (segment_bytes 0 = default) or fail the test, showing the
 * library's message. */
static inline eg_store *tu_open(const char *dir, int flags, uint64_t seg_bytes)
{
	eg_store *st = NULL;
	eg_open_opts o = { .segment_bytes = seg_bytes };
	int rc = eg_store_open(&st, dir, flags, seg_bytes ? &o : NULL);
	if (rc != EG_OK)
		fail_msg("open %s: %s: %s", dir, eg_strerror(rc), eg_errmsg(st));
	return st;
}

/* Append n NDJSON lines as one batch (no sync) or fail the test, showing
 * the line and the library's message. */
static inline void tu_append(eg_store *st, const char *const *lines, size_t n)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
	if (eg_batch_begin(st, &b, &o) != EG_OK)
		fail_msg("batch: %s", eg_errmsg(st));
	for (size_t i = 0; i < n; i++)
		if (eg_batch_add_json(b, lines[i], strlen(lines[i])) != EG_OK)
			fail_msg("%s: %s", lines[i], eg_errmsg(st));
	if (eg_batch_commit(b, NULL) != EG_OK)
		fail_msg("commit: %s", eg_errmsg(st));
}

/* Add one line to a batch: the library's code (for tests of refusals). */
static inline int tu_add(eg_batch *b, const char *line)
{
	return eg_batch_add_json(b, line, strlen(line));
}

/* Add one line, or fail the test showing the line and the library's
 * message. */
static inline void tu_add_ok(eg_store *st, eg_batch *b, const char *line)
{
	int rc = tu_add(b, line);
	if (rc != EG_OK)
		fail_msg("add %s: %s: %s", line, eg_strerror(rc), eg_errmsg(st));
}

/* xorshift64 over *state (never 0): the tests' reproducible numbers. */
static inline uint64_t tu_rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A schema document compiled, or the test failed with the compiler's
 * message (tests that include schema.h first). */
#ifdef EG_SCHEMA_H
static inline eg_schema *compile_ok(const char *doc)
{
	eg_schema *s = NULL;
	char err[512];

	if (eg_schema_compile(doc, strlen(doc), &s, err, sizeof err))
		fail_msg("schema %s did not compile: %s", doc, err);
	return s;
}
#endif

#endif

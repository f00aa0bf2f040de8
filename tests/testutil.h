/* testutil.h — what every cmocka test file includes first, and the
 * fixtures the store tests share. */
#ifndef EG_TESTUTIL_H
#define EG_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
#endif

/*
 * libfault.c — an LD_PRELOAD library that makes one kind of system call (or
 * allocation) fail on demand in an unmodified bin/engram, for the fault
 * sweep (tests/fault/sweep.py, docs/RELIABILITY.md).
 *
 *   EG_FAULT=OP:N[:ERRNO][:sticky]   the Nth call of OP fails with ERRNO
 *                                    (and, if sticky, every later one)
 *   EG_FAULT_LOG=FILE                counts of every OP at exit ("OP N" per
 *                                    line), and "injected OP N" when one fails
 *
 * OP is one of pwrite, fdatasync, fsync, rename, mmap, munmap, ftruncate,
 * open, malloc (malloc, calloc and realloc count as one).  ERRNO is a
 * number or ENOSPC, EIO, ENOMEM, EDQUOT; the default is ENOSPC for pwrite
 * and ftruncate, ENOMEM for mmap and malloc, EIO otherwise.  Allocation is
 * counted only once main() could run (after the library's constructor), so
 * the dynamic loader's own allocations are never failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

enum { PWRITE, FDATASYNC, FSYNC, RENAME, MMAP, MUNMAP, FTRUNCATE, OPEN, MALLOC, NOPS };
static const char *const names[NOPS] = {
	"pwrite", "fdatasync", "fsync", "rename", "mmap", "munmap", "ftruncate", "open", "malloc"
};
static const int default_errno[NOPS] = {
	ENOSPC, EIO, EIO, EIO, ENOMEM, EINVAL, ENOSPC, EIO, ENOMEM
};

static unsigned long calls[NOPS];
static int fault_op = -1, fault_errno, sticky, armed;
static unsigned long fault_at;
static char log_path[4096];

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fdatasync)(int), (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_open)(const char *, int, ...);
static void *(*real_malloc)(size_t), *(*real_calloc)(size_t, size_t),
	*(*real_realloc)(void *, size_t);

/* dlsym may allocate before real_calloc is known: serve that from here. */
static char boot[8192];
static size_t boot_used;

static void log_line(const char *text)
{
	if (!log_path[0] || !real_open)
		return;
	int fd = real_open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0) {
		/* nothing to do: the log is only for the sweep's messages */
	}
	close(fd);
}

/* Count a call of op (on file descriptor fd, or -1); nonzero (errno set)
 * if this one is to fail.  The log names the file an injected call was on. */
static int fails_on(int op, int fd)
{
	if (!armed)
		return 0;
	unsigned long n = ++calls[op];
	if (op != fault_op || n < fault_at || (n > fault_at && !sticky))
		return 0;
	if (n == fault_at) {
		char link[64], path[4096] = "-";
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t k = fd >= 0 ? readlink(link, path, sizeof path - 1) : -1;
		if (k > 0)
			path[k] = 0;
		char line[4200];
		snprintf(line, sizeof line, "injected %s %lu %s\n", names[op], n, path);
		log_line(line);
	}
	errno = fault_errno;
	return 1;
}

static int fails(int op)
{
	return fails_on(op, -1);
}

static int errno_named(const char *s)
{
	static const struct { const char *n; int e; } t[] = {
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "ENOMEM", ENOMEM }, { "EDQUOT", EDQUOT },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(s, t[i].n))
			return t[i].e;
	return atoi(s);
}

__attribute__((constructor)) static void fault_init(void)
{
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_munmap = dlsym(RTLD_NEXT, "munmap");
	real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
	real_open = dlsym(RTLD_NEXT, "open");
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	const char *lp = getenv("EG_FAULT_LOG");
	if (lp)
		snprintf(log_path, sizeof log_path, "%s", lp);
	const char *f = getenv("EG_FAULT");
	if (f && *f) {
		char spec[128], *save = NULL;
		snprintf(spec, sizeof spec, "%s", f);
		const char *op = strtok_r(spec, ":", &save), *n = strtok_r(NULL, ":", &save);
		const char *e = strtok_r(NULL, ":", &save), *st = strtok_r(NULL, ":", &save);
		for (int i = 0; op && i < NOPS; i++)
			if (!strcmp(op, names[i]))
				fault_op = i;
		if (fault_op < 0 || !n || atol(n) < 1) {
			fprintf(stderr, "libfault: bad EG_FAULT=%s (OP:N[:ERRNO][:sticky])\n", f);
			_exit(97);
		}
		fault_at = (unsigned long)atol(n);
		fault_errno = e && *e ? errno_named(e) : default_errno[fault_op];
		sticky = st && !strcmp(st, "sticky");
	}
	armed = 1;
}

__attribute__((destructor)) static void fault_fini(void)
{
	armed = 0;
	for (int i = 0; i < NOPS; i++) {
		char line[64];
		snprintf(line, sizeof line, "%s %lu\n", names[i], calls[i]);
		log_line(line);
	}
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return fails_on(PWRITE, fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

int fdatasync(int fd)
{
	return fails_on(FDATASYNC, fd) ? -1 : real_fdatasync(fd);
}

int fsync(int fd)
{
	return fails_on(FSYNC, fd) ? -1 : real_fsync(fd);
}

int rename(const char *from, const char *to)
{
	return fails(RENAME) ? -1 : real_rename(from, to);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return fails(MMAP) ? MAP_FAILED : real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
	return fails(MUNMAP) ? -1 : real_munmap(addr, len);
}

int ftruncate(int fd, off_t len)
{
	return fails_on(FTRUNCATE, fd) ? -1 : real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return fails(OPEN) ? -1 : real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

void *malloc(size_t n)
{
	if (!real_malloc) {
		void *p = calloc(1, n);
		return p;
	}
	return fails(MALLOC) ? NULL : real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	if (!real_calloc) {
		size_t want = (k * n + 15) & ~(size_t)15;
		if (boot_used + want > sizeof boot)
			return NULL;
		void *p = boot + boot_used;
		boot_used += want;
		return p;
	}
	return fails(MALLOC) ? NULL : real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	return fails(MALLOC) ? NULL : real_realloc(p, n);
}

void free(void *p)
{
	static void (*real_free)(void *);
	if ((char *)p >= boot && (char *)p < boot + sizeof boot)
		return;
	if (!real_free)
		real_free = dlsym(RTLD_NEXT, "free");
	real_free(p);
}

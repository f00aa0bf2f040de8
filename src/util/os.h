/*
 * os.h — the I/O layer between the engine and the operating system.
 *
 * Every call that touches a file goes through the function table `eg_os`, so
 * that fault-injection tests can swap one entry (make fdatasync fail with
 * EIO, write fail with ENOSPC) without touching the engine, as SQLite's VFS
 * allows.  The defaults call the POSIX functions directly.  The helpers
 * below call through the table too.  tests/lint/os_calls.py (in make
 * test) fails on a file call made anywhere else.
 */
#ifndef EG_OS_H
#define EG_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct timespec;
struct stat;
typedef struct __dirstream DIR;

typedef struct eg_os_vtab {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	void *(*mremap)(void *old, size_t old_len, size_t new_len, int flags, ...);
	int (*futimens)(int fd, const struct timespec times[2]);
	int (*rmdir)(const char *path);
	int (*fsync)(int fd);
	int (*mkdir)(const char *path, mode_t mode);
	int (*flock)(int fd, int op);
	int (*fstat)(int fd, struct stat *sb);
	int (*stat)(const char *path, struct stat *sb);
	DIR *(*opendir)(const char *path);
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
} eg_os_vtab;

/* The table in force.  Tests may replace entries; restore them after. */
extern eg_os_vtab eg_os;

/* Write all n bytes at off, retrying short writes and EINTR.  0 or -1. */
int eg_os_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* Read exactly n bytes at off.  0, or -1 (errno set; EIO-like 0 on EOF). */
int eg_os_pread_all(int fd, void *buf, size_t n, off_t off);

/* fsync a directory so that a rename or a new file in it is durable. */
int eg_os_fsync_dir(const char *dir);

/* Write a whole small file atomically: a temporary file of this writer's
 * own (.NAME.PID.N.tmp), fdatasync, rename, fsync of the directory.  0 or
 * -1 (errno set). */
int eg_os_write_file_atomic(const char *dir, const char *name,
			 const void *buf, size_t n);
/* The same with the file's mode (0600: a file of secrets); the default is
 * 0644, both less the umask. */
int eg_os_write_file_atomic_mode(const char *dir, const char *name, const void *buf, size_t n,
				 mode_t mode);

/* Delete the files of dir whose names match() (never "." and ".."): the
 * temporary files of crashed writers, a derived state's files.  A missing
 * dir is nothing to delete. */
void eg_os_unlink_in_dir(const char *dir, int (*match)(const char *name));

/* Size of an open file, or -1. */
off_t eg_os_file_size(int fd);

/* Add to *bytes the sizes (lengths, as ls -l shows them) of the regular
 * files in dir, and with recurse of those in its subdirectories at any
 * depth; symbolic links are not followed.  A missing dir adds nothing.
 * 0, or -1 (errno set) if a directory cannot be read. */
int eg_os_dir_bytes(const char *dir, int recurse, uint64_t *bytes);

#endif

/*
 * os.c — default I/O layer (see os.h): thin POSIX wrappers behind a table
 * that fault-injection tests can patch, plus the few helpers every module
 * needs (full writes, atomic small-file replacement, directory fsync).
 */
#include "os.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unistd.h>

static int os_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags | O_CLOEXEC, mode);
}

eg_os_vtab eg_os = {
	.open = os_open,
	.close = close,
	.pread = pread,
	.pwrite = pwrite,
	.fdatasync = fdatasync,
	.ftruncate = ftruncate,
	.rename = rename,
	.unlink = unlink,
	.mmap = mmap,
	.munmap = munmap,
	.mremap = mremap,
	.futimens = futimens,
	.rmdir = rmdir,
	.fsync = fsync,
	.mkdir = mkdir,
	.flock = flock,
	.fstat = fstat,
	.stat = stat,
	.opendir = opendir,
	.read = read,
	.write = write,
};

int eg_os_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = eg_os.pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int eg_os_pread_all(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = eg_os.pread(fd, p, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ENODATA;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int eg_os_fsync_dir(const char *dir)
{
	int fd = eg_os.open(dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return -1;
	int rc = eg_os.fsync(fd);
	int e = errno;
	eg_os.close(fd);
	errno = e;
	return rc;
}

int eg_os_write_file_atomic(const char *dir, const char *name,
			 const void *buf, size_t n)
{
	return eg_os_write_file_atomic_mode(dir, name, buf, n, 0644);
}

int eg_os_write_file_atomic_mode(const char *dir, const char *name, const void *buf, size_t n,
				 mode_t mode)
{
	/* a name of this writer's own: two processes, or two threads of a
	 * server, writing the same file at once must not write into one
	 * temporary file (each renames its own whole copy; the last wins) */
	static unsigned long seq;
	char tmp[PATH_MAX], dst[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%lu.tmp", dir, name, (long)getpid(),
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	snprintf(dst, sizeof dst, "%s/%s", dir, name);
	int fd = eg_os.open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	if (eg_os_pwrite_all(fd, buf, n, 0) || eg_os.fdatasync(fd)) {
		int e = errno;
		eg_os.close(fd);
		eg_os.unlink(tmp);
		errno = e;
		return -1;
	}
	eg_os.close(fd);
	if (eg_os.rename(tmp, dst)) {
		int e = errno;
		eg_os.unlink(tmp);
		errno = e;
		return -1;
	}
	return eg_os_fsync_dir(dir);
}

void eg_os_unlink_in_dir(const char *dir, int (*match)(const char *name))
{
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !match(de->d_name))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		eg_os.unlink(p);
	}
	closedir(d);
}

off_t eg_os_file_size(int fd)
{
	struct stat sb;
	if (eg_os.fstat(fd, &sb))
		return -1;
	return sb.st_size;
}

int eg_os_dir_bytes(const char *dir, int recurse, uint64_t *bytes)
{
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat sb;
		/* Gone since readdir (a checkpoint's temporary file renamed
		 * away): nothing to count. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISREG(sb.st_mode)) {
			*bytes += (uint64_t)sb.st_size;
		} else if (recurse && S_ISDIR(sb.st_mode)) {
			char sub[PATH_MAX];
			snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
			rc = eg_os_dir_bytes(sub, 1, bytes);
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

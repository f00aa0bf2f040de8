/*
 * consumer.c — durable consumer checkpoints: DIR/consumers/NAME holds the
 * last position handed to consumer NAME, replaced atomically (write, fsync,
 * rename) so that a crash leaves either the old or the new checkpoint.
 * Checkpoints are consumer state, not derived from the log, so reindex
 * leaves them alone.
 */
#include "internal.h"
#include "json.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int read_ckpt(const char *path, uint64_t *pos)
{
	char buf[64];
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return -1;
	ssize_t n = eg_os.pread(fd, buf, sizeof buf - 1, 0);
	eg_os.close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf || (*end && *end != '\n')) {
		errno = EINVAL;
		return -1;
	}
	*pos = v;
	return 0;
}

int eg_consumer_get(eg_store *st, const char *name, uint64_t *pos)
{
	*pos = 0;
	if (!valid_name(name))
		return eg_st_err(st, EG_EINVAL, "consumer name \"%s\": expected 1-64 characters "
			      "of A-Z a-z 0-9 . _ -", name);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/consumers/%s", st->dir, name);
	if (read_ckpt(path, pos) && errno != ENOENT)
		return eg_st_errno(st, "cannot read checkpoint %s", path);
	return EG_OK;
}

int eg_consumer_set(eg_store *st, const char *name, uint64_t pos)
{
	return eg_consumer_set_schemas(st, name, pos, NULL);
}

int eg_consumer_set_schemas(eg_store *st, const char *name, uint64_t pos, const char *schemas)
{
	if (!valid_name(name))
		return eg_st_err(st, EG_EINVAL, "consumer name \"%s\": expected 1-64 characters "
			      "of A-Z a-z 0-9 . _ -", name);
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/consumers", st->dir);
	if (eg_os.mkdir(dir, 0755) && errno != EEXIST)
		return eg_st_errno(st, "cannot create %s", dir);
	return eg_ckpt_write(st, dir, name, pos, schemas);
}

int eg_ckpt_write(eg_store *st, const char *dir, const char *name, uint64_t pos,
		  const char *schemas)
{
	size_t sn = schemas ? strlen(schemas) : 0;
	char *text = malloc(sn + 32);
	if (!text)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	int n = snprintf(text, 32, "%llu\n", (unsigned long long)pos);
	if (sn) {
		memcpy(text + n, schemas, sn);
		text[n + sn] = '\n';
		n += (int)sn + 1;
	}
	int bad = eg_os_write_file_atomic(dir, name, text, (size_t)n);
	free(text);
	if (bad)
		return eg_st_errno(st, "cannot write checkpoint %s/%s", dir, name);
	return EG_OK;
}

int eg_consumer_schemas(eg_store *st, const char *name, char **schemas)
{
	*schemas = NULL;
	if (!valid_name(name))
		return eg_st_err(st, EG_EINVAL, "consumer name \"%s\": expected 1-64 characters "
			      "of A-Z a-z 0-9 . _ -", name);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/consumers/%s", st->dir, name);
	int fd = eg_os.open(path, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT ? EG_OK : eg_st_errno(st, "cannot read checkpoint %s", path);
	off_t size = eg_os_file_size(fd);
	char *text = size > 0 && size < (1 << 24) ? malloc((size_t)size + 1) : NULL;
	int bad = size < 0 || (text && eg_os_pread_all(fd, text, (size_t)size, 0));
	eg_os.close(fd);
	if (!bad && size > 0 && !text)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	if (bad) {
		free(text);
		return eg_st_errno(st, "cannot read checkpoint %s", path);
	}
	/* the second line, when there is one */
	char *nl = text ? memchr(text, '\n', (size_t)size) : NULL;
	if (nl && nl + 1 < text + size && nl[1] == '{') {
		char *end = memchr(nl + 1, '\n', (size_t)(text + size - nl - 1));
		size_t n = end ? (size_t)(end - nl - 1) : (size_t)(text + size - nl - 1);
		memmove(text, nl + 1, n);
		text[n] = 0;
		*schemas = text;
		return EG_OK;
	}
	free(text);
	return EG_OK;
}

/* Does consumer name have a checkpoint?  EG_OK with *pos, EG_ENOTFOUND
 * naming it, or another error. */
static int existing(eg_store *st, const char *name, char *path, uint64_t *pos)
{
	if (!valid_name(name))
		return eg_st_err(st, EG_EINVAL, "consumer name \"%s\": expected 1-64 characters "
			      "of A-Z a-z 0-9 . _ -", name);
	snprintf(path, PATH_MAX, "%s/consumers/%s", st->dir, name);
	if (read_ckpt(path, pos) == 0)
		return EG_OK;
	if (errno == ENOENT)
		return eg_st_err(st, EG_ENOTFOUND, "no consumer named \"%s\" "
			      "(engram consumers lists them)", name);
	return eg_st_errno(st, "cannot read checkpoint %s", path);
}

int eg_consumer_delete(eg_store *st, const char *name)
{
	char path[PATH_MAX], dir[PATH_MAX];
	uint64_t pos;
	int rc = existing(st, name, path, &pos);
	if (rc)
		return rc;
	snprintf(dir, sizeof dir, "%s/consumers", st->dir);
	if (eg_os.unlink(path) && errno != ENOENT)
		return eg_st_errno(st, "cannot delete checkpoint %s", path);
	if (eg_os_fsync_dir(dir))
		return eg_st_errno(st, "cannot sync %s", dir);
	return EG_OK;
}

int eg_consumer_reset(eg_store *st, const char *name, uint64_t pos)
{
	char path[PATH_MAX];
	uint64_t was;
	eg_head h;
	int rc = existing(st, name, path, &was);
	if (rc || (rc = eg_store_head(st, &h)))
		return rc;
	/* a checkpoint beyond the head would silently skip the events that
	 * get those positions later */
	if (pos > h.pos)
		return eg_st_err(st, EG_EINVAL, "position %llu is beyond the head (%llu): "
			      "expected a position from 0 to %llu",
			      (unsigned long long)pos, (unsigned long long)h.pos,
			      (unsigned long long)h.pos);
	return eg_consumer_set(st, name, pos);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eg_consumer_list(eg_store *st, eg_consumer_fn fn, void *ctx)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/consumers", st->dir);
	DIR *d = eg_os.opendir(dir);
	if (!d)
		return errno == ENOENT ? EG_OK : eg_st_errno(st, "cannot open %s", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = EG_OK;
	while ((de = readdir(d))) {
		if (!valid_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				rc = eg_st_err(st, EG_ENOMEM, "out of memory");
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == EG_OK && n)    /* no names: names is NULL, which qsort may not get */
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		uint64_t pos;
		if (rc == EG_OK && (rc = eg_consumer_get(st, names[i], &pos)) == EG_OK)
			rc = fn(ctx, names[i], pos);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The parked event is built here, not taken from the caller, so that this
 * door into a reserved stream opens on $parked-NAME only: line must be one
 * whole JSON object, which cannot then close the envelope around it. */
int eg_consumer_park(eg_store *st, const char *name, const char *line, size_t n,
		     uint64_t deliveries, int sync, eg_append_result *res)
{
	json_err je;
	if (!valid_name(name))
		return eg_st_err(st, EG_EINVAL, "consumer name \"%s\": expected 1-64 characters "
			      "of A-Z a-z 0-9 . _ -", name);
	if (eg_json_validate(line, n, &je) || eg_json_type_of(*line) != JSON_OBJECT)
		return eg_st_err(st, EG_EINVAL, "the event to park: expected one JSON object");
	char stream[80];
	snprintf(stream, sizeof stream, "$parked-%s", name);
	char *env = NULL;
	if (asprintf(&env, "{\"type\":\"parked\",\"data\":{\"consumer\":\"%s\",\"deliveries\":%llu,"
		     "\"event\":%.*s}}\n", name, (unsigned long long)deliveries, (int)n, line) < 0)
		return eg_st_err(st, EG_ENOMEM, "out of memory");
	eg_batch_opts o = { .sync = sync, .expect_version = -1, .default_stream = stream };
	eg_batch *b = NULL;
	uint64_t lines = 0;
	int rc = eg_batch_begin_as(st, &b, &o, 1);
	if (!rc)
		rc = eg_batch_add_ndjson(b, env, strlen(env), NULL, NULL, &lines);
	if (!rc) {
		rc = eg_batch_commit(b, res);
		b = NULL;
	}
	eg_batch_abort(b);
	free(env);
	return rc;
}

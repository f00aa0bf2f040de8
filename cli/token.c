/*
 * token.c — engram token add | list | revoke: the tokens engram serve
 * --tokens takes (docs/SERVER.md, Authentication).
 *
 * A token is 32 random bytes (OpenSSL's RAND_bytes) printed once as
 * eg_ + base64url; DIR/tokens.json keeps only its SHA-256, so that the file
 * (and a copy of it) grants nothing.  Changes are read, modified and
 * written atomically (tmp, fsync, rename, directory fsync) under an flock
 * of DIR/tokens.lock, so that two commands at once cannot lose one's token;
 * a running server notices the new file on its next request.
 */
#include "cli.h"
#include "json.h"
#include "os.h"
#include "timefmt.h"
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define TOK_FILE_MAX (16u << 20)

/* ------------------------------------------------------------ the file */

const char *tok_scope_name(int scope)
{
	return scope == TOK_READ ? "read" : scope == TOK_APPEND ? "append" :
	       scope == TOK_ADMIN ? "admin" : "?";
}

int tok_scope_parse(const char *s)
{
	return !strcmp(s, "read") ? TOK_READ : !strcmp(s, "append") ? TOK_APPEND :
	       !strcmp(s, "admin") ? TOK_ADMIN : 0;
}

void tok_hash(const char *token, size_t n, unsigned char res[32])
{
	SHA256((const unsigned char *)token, n, res);
}

int tok_stream_allowed(const tok_entry *e, const char *s, size_t n)
{
	if (!strcmp(e->streams, "*"))
		return 1;
	/* fnmatch needs a C string: a stream holding a NUL byte (a JSON
	 * \u0000) could otherwise be cut to one that matches */
	if (memchr(s, 0, n) || n > 4096)
		return 0;
	char buf[4097];
	memcpy(buf, s, n);
	buf[n] = 0;
	return fnmatch(e->streams, buf, 0) == 0;
}

size_t tok_b64url(const unsigned char *in, size_t n, char *res)
{
	static const char A[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		res[o++] = A[v >> 18 & 63];
		res[o++] = A[v >> 12 & 63];
		if (i + 1 < n)
			res[o++] = A[v >> 6 & 63];
		if (i + 2 < n)
			res[o++] = A[v & 63];
	}
	res[o] = 0;
	return o;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A string member into buf (at most max bytes, no NUL inside): 0 or -1. */
static int str_into(const json_span *v, char *buf, size_t max)
{
	if (v->type != JSON_STRING || v->n - 2 > 6 * max)
		return -1;
	char tmp[6 * TOK_PATTERN_MAX + 8];
	size_t n = eg_json_string_decode(v, tmp);
	if (n > max || memchr(tmp, 0, n))
		return -1;
	memcpy(buf, tmp, n);
	buf[n] = 0;
	return 0;
}

/* One element of "tokens": every member is needed. */
static int parse_entry(const json_span *o, tok_entry *e)
{
	json_span v;
	char tmp[TOK_PATTERN_MAX + 1];
	memset(e, 0, sizeof *e);
	if (o->type != JSON_OBJECT)
		return -1;
	if (eg_json_member(o, "name", 4, &v) != 1 || str_into(&v, e->name, TOK_NAME_MAX) ||
	    !e->name[0])
		return -1;
	if (eg_json_member(o, "scope", 5, &v) != 1 || str_into(&v, tmp, 16) ||
	    !(e->scope = tok_scope_parse(tmp)))
		return -1;
	if (eg_json_member(o, "streams", 7, &v) != 1 || str_into(&v, e->streams, TOK_PATTERN_MAX) ||
	    !e->streams[0])
		return -1;
	if (eg_json_member(o, "created", 7, &v) != 1 || str_into(&v, tmp, 64) ||
	    eg_time_parse_rfc3339(tmp, strlen(tmp), &e->created))
		return -1;
	if (eg_json_member(o, "sha256", 6, &v) != 1 || str_into(&v, tmp, 64) || strlen(tmp) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(tmp[2 * i]), lo = hexval(tmp[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		e->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int parse_file(const char *text, size_t len, tok_entry **v, size_t *n)
{
	json_err je;
	if (eg_json_validate(text, len, &je))
		return -1;
	json_span top = { text, len, JSON_OBJECT }, arr, el;
	while (top.n && strchr(" \t\r\n", *top.p))
		top.p++, top.n--;
	while (top.n && strchr(" \t\r\n", top.p[top.n - 1]))
		top.n--;
	if (!top.n || *top.p != '{' || eg_json_member(&top, "tokens", 6, &arr) != 1 ||
	    arr.type != JSON_ARRAY)
		return -1;
	json_arr it;
	size_t cap = 0;
	eg_json_arr_begin(&it, &arr);
	while (eg_json_arr_next(&it, &el) == 1) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			tok_entry *p = realloc(*v, cap * sizeof *p);
			if (!p)
				return -1;
			*v = p;
		}
		if (parse_entry(&el, &(*v)[*n]))
			return -1;
		++*n;
	}
	return 0;
}

int tok_load(const char *dir, tok_entry **v, size_t *n, char *err, size_t cap)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof path, "%s/%s", dir, TOK_FILE);
	*v = NULL;
	*n = 0;
	char *text = cli_read_path(path, TOK_FILE_MAX, &len);
	if (!text) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = parse_file(text, len, v, n);
	free(text);
	if (rc) {
		free(*v);
		*v = NULL;
		*n = 0;
		snprintf(err, cap, "%s is damaged (not the tokens engram token writes)", path);
	}
	return rc;
}

/* The file's text: one token per line, so that a diff shows which. */
static char *file_text(const tok_entry *v, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fputs("{\"tokens\":[", f);
	for (size_t i = 0; i < n; i++) {
		char name[6 * TOK_NAME_MAX + 3], pat[6 * TOK_PATTERN_MAX + 3];
		char created[EG_TIME_LEN + 1], hex[65];
		name[eg_json_quote(v[i].name, strlen(v[i].name), name)] = 0;
		pat[eg_json_quote(v[i].streams, strlen(v[i].streams), pat)] = 0;
		eg_time_format(v[i].created, created);
		for (int j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", v[i].hash[j]);
		fprintf(f, "%s\n{\"name\":%s,\"scope\":\"%s\",\"streams\":%s,\"created\":\"%s\","
			"\"sha256\":\"%s\"}", i ? "," : "", name, tok_scope_name(v[i].scope), pat,
			created, hex);
	}
	fputs("\n]}\n", f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ------------------------------------------------------------ the command */

/* Hold DIR/tokens.lock while reading and writing the file: -1 after
 * printing why, else the descriptor (closing it releases the lock). */
static int lock_tokens(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tokens.lock", dir);
	int fd = eg_os.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || eg_os.flock(fd, LOCK_EX)) {
		cli_error("cannot lock %s: %s", path, strerror(errno));
		if (fd >= 0)
			eg_os.close(fd);
		return -1;
	}
	return fd;
}

static int save(const char *dir, const tok_entry *v, size_t n)
{
	size_t len;
	char *text = file_text(v, n, &len);
	if (!text) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	/* hashes only, but no one else's to read: 0600 as ssh keeps its files */
	int rc = eg_os_write_file_atomic_mode(dir, TOK_FILE, text, len, 0600);
	free(text);
	if (rc) {
		cli_error("cannot write %s/%s: %s", dir, TOK_FILE, strerror(errno));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* The store must exist: a token for a mistyped -d would be lost. */
static int store_exists(cli *c)
{
	int rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	cli_close(st, EXIT_OK);
	return EXIT_OK;
}

static int tok_parse(cli *c, const opt *opts, int npos, const char *usage)
{
	static const opt none[] = { { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts ? opts : none, npos);
	if (rc)
		return rc;
	return c->npos == npos ? 0 : cli_usage_error(c, "%s", usage);
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > TOK_NAME_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int valid_pattern(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > TOK_PATTERN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return eg_json_utf8_valid(s, n);
}

static int token_add(cli *c, int arg)
{
	(void)arg;
	const char *scope = NULL, *streams = "*";
	opt opts[] = { { "scope", 1, &scope, NULL }, { "streams", 1, &streams, NULL },
		       { NULL, 0, NULL, NULL } };
	int rc = tok_parse(c, opts, 2, "add takes a name: engram token add NAME --scope "
			   "read|append|admin [--streams PATTERN]");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	const char *name = c->pos[1];
	if (!valid_name(name))
		return cli_usage_error(c, "token name '%s': expected 1 to %d letters, digits, '.', "
				       "'_' or '-'", name, TOK_NAME_MAX);
	if (!scope)
		return cli_usage_error(c, "--scope is required: read, append or admin");
	if (!tok_scope_parse(scope))
		return cli_usage_error(c, "--scope: expected read, append or admin, got '%s'", scope);
	if (!valid_pattern(streams))
		return cli_usage_error(c, "--streams: expected a pattern of 1 to %d printable "
				       "characters such as 'account-*'", TOK_PATTERN_MAX);
	if ((rc = store_exists(c)))
		return rc;
	int fd = lock_tokens(c->dir);
	if (fd < 0)
		return EXIT_ERR;
	tok_entry *v = NULL, *p;
	size_t n = 0;
	char err[4200];
	if (tok_load(c->dir, &v, &n, err, sizeof err)) {
		cli_error("%s", err);
		rc = EXIT_ERR;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			cli_error("a token named '%s' exists: engram token revoke %s first", name,
				  name);
			rc = EXIT_ERR;
			goto out;
		}
	if (!(p = realloc(v, (n + 1) * sizeof *v))) {
		cli_error("out of memory");
		rc = EXIT_ERR;
		goto out;
	}
	v = p;
	unsigned char raw[32];
	char token[3 + 44];
	if (RAND_bytes(raw, sizeof raw) != 1) {
		cli_error("no random bytes from OpenSSL (RAND_bytes)");
		rc = EXIT_ERR;
		goto out;
	}
	memcpy(token, "eg_", 3);
	size_t tn = 3 + tok_b64url(raw, sizeof raw, token + 3);
	OPENSSL_cleanse(raw, sizeof raw);
	tok_entry *e = &v[n];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	snprintf(e->streams, sizeof e->streams, "%s", streams);
	e->scope = tok_scope_parse(scope);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	e->created = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	tok_hash(token, tn, e->hash);
	if ((rc = save(c->dir, v, n + 1)) == EXIT_OK) {
		/* the only time the token is seen: alone on stdout, for $(...) */
		printf("%s\n", token);
		if (fflush(stdout))
			rc = EXIT_ERR;
		fprintf(stderr, "engram: token '%s' added (scope %s, streams %s); it is printed "
			"only this once: keep it secret\n", name, scope, streams);
	}
	OPENSSL_cleanse(token, sizeof token);
out:
	free(v);
	eg_os.close(fd);
	return rc;
}

static int token_list(cli *c, int arg)
{
	(void)arg;
	static const char *const KEYS[] = { "name", "scope", "streams", "created" };
	int rc = tok_parse(c, NULL, 1, "list takes no argument: engram token list");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = store_exists(c)))
		return rc;
	tok_entry *v;
	size_t n;
	char err[4200];
	if (tok_load(c->dir, &v, &n, err, sizeof err)) {
		cli_error("%s", err);
		return EXIT_ERR;
	}
	out *o = out_new(stdout, c->format);
	out_header(o, KEYS, 4);
	for (size_t i = 0; i < n; i++) {
		out_row_begin(o);
		out_cstr(o, "name", v[i].name);
		out_cstr(o, "scope", tok_scope_name(v[i].scope));
		out_cstr(o, "streams", v[i].streams);
		out_time(o, "created", v[i].created);
		out_row_end(o);
	}
	free(v);
	return out_finish(o, EXIT_OK);
}

static int token_revoke(cli *c, int arg)
{
	(void)arg;
	int rc = tok_parse(c, NULL, 2, "revoke takes a name: engram token revoke NAME");
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = store_exists(c)))
		return rc;
	int fd = lock_tokens(c->dir);
	if (fd < 0)
		return EXIT_ERR;
	tok_entry *v;
	size_t n, i;
	char err[4200];
	if (tok_load(c->dir, &v, &n, err, sizeof err)) {
		cli_error("%s", err);
		eg_os.close(fd);
		return EXIT_ERR;
	}
	for (i = 0; i < n && strcmp(v[i].name, c->pos[1]); i++)
		;
	if (i == n) {
		cli_error("no token named '%s' (engram token list shows them)", c->pos[1]);
		rc = EXIT_ERR;
	} else {
		memmove(v + i, v + i + 1, (n - i - 1) * sizeof *v);
		if ((rc = save(c->dir, v, n - 1)) == EXIT_OK)
			fprintf(stderr, "engram: token '%s' revoked: a running server refuses it "
				"from its next request\n", c->pos[1]);
	}
	free(v);
	eg_os.close(fd);
	return rc;
}

int cmd_token(cli *c)
{
	static const cli_sub SUBS[] = {
		{ "add", token_add, 0 }, { "list", token_list, 0 }, { "revoke", token_revoke, 0 },
	};
	return cli_subcommand(c, "token", SUBS, sizeof SUBS / sizeof *SUBS);
}

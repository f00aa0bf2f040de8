/*
 * serve_auth.c — who may call engram serve --tokens (docs/SERVER.md,
 * Authentication): the check route() makes before every handler, the
 * short-lived query tokens of POST /tokens/sse, and HTTPS.
 *
 * The tokens are those of DIR/tokens.json (engram token, token.c), read
 * again whenever the file changes, so that a revoked token is refused
 * from the next request on.  A caller shows its token as Authorization:
 * Bearer; the server hashes it and compares the hash with every stored
 * one in constant time.  Browsers' EventSource cannot send headers: for
 * GET routes a query token (?token=) signed with a key each server draws
 * at start stands in for the token, for a minute.
 */
#include "serve.h"
#include "json.h"
#include "os.h"
#include "timefmt.h"
#include "token.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

_Static_assert((int)TOK_READ == (int)SCOPE_READ && (int)TOK_APPEND == (int)SCOPE_APPEND &&
	       (int)TOK_ADMIN == (int)SCOPE_ADMIN,
	       "token.h's scopes are serve.h's");

#define QTOKEN_TTL 60      /* seconds a query token lives by default */
#define QTOKEN_TTL_MAX 3600

struct srv_auth {
	char path[4096];           /* DIR/tokens.json */
	pthread_mutex_t mu;
	tok_entry *v;              /* the tokens as last read */
	size_t n;
	struct stat seen;          /* the file they were read from */
	int have;                  /* seen is set (else: no file) */
	int damaged;               /* the file cannot be read: nobody gets in */
	unsigned char key[32];     /* signs query tokens; never leaves memory */
};

/* ------------------------------------------------------------ the tokens */

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read the file again if it is not the one read last (engram token writes
 * a new file and renames it over: a new inode).  Called with mu held.
 * The stat comes before the read, so what is read is never older than
 * what the stat saw: a change in between is read again next time. */
static void refresh(srv_auth *a, const char *dir)
{
	struct stat sb;
	if (eg_os.stat(a->path, &sb)) {
		if (errno == ENOENT && (a->have || a->damaged)) {
			free(a->v);
			a->v = NULL;
			a->n = 0;
			a->have = a->damaged = 0;
		}
		return;
	}
	if (a->have && same_file(&sb, &a->seen))
		return;
	tok_entry *v;
	size_t n;
	char err[4200];
	free(a->v);
	a->v = NULL;
	a->n = 0;
	a->seen = sb;
	a->have = 1;
	if (tok_load(dir, &v, &n, err, sizeof err)) {
		/* refuse everyone rather than guess who is still allowed */
		if (!a->damaged)
			fprintf(stderr, "engram: error: %s: every token is refused until it is "
				"fixed\n", err);
		a->damaged = 1;
		return;
	}
	a->damaged = 0;
	a->v = v;
	a->n = n;
}

int srv_auth_new(const char *dir, srv_auth **res)
{
	srv_auth *a = calloc(1, sizeof *a);
	if (!a) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	snprintf(a->path, sizeof a->path, "%s/%s", dir, TOK_FILE);
	pthread_mutex_init(&a->mu, NULL);
	if (RAND_bytes(a->key, sizeof a->key) != 1) {
		cli_error("no random bytes from OpenSSL (RAND_bytes)");
		srv_auth_free(a);
		return EXIT_ERR;
	}
	char err[4200];
	if (tok_load(dir, &a->v, &a->n, err, sizeof err)) {
		cli_error("%s", err);
		srv_auth_free(a);
		return EXIT_ERR;
	}
	a->have = !eg_os.stat(a->path, &a->seen);
	if (!a->n)
		cli_warn("no tokens yet: every route but /health answers 401 until "
			 "engram token add makes one");
	*res = a;
	return EXIT_OK;
}

void srv_auth_free(srv_auth *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->key, sizeof a->key);
	free(a->v);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* The token whose hash is h, into *e: 1, or 0.  Every stored hash is
 * compared, in constant time, whichever matches. */
static int find_by_hash(srv_auth *a, const char *dir, const unsigned char h[32], tok_entry *e)
{
	int found = 0;
	pthread_mutex_lock(&a->mu);
	refresh(a, dir);
	for (size_t i = 0; i < a->n; i++)
		if (!CRYPTO_memcmp(h, a->v[i].hash, 32)) {
			*e = a->v[i];
			found = 1;
		}
	pthread_mutex_unlock(&a->mu);
	return found;
}

static int find_by_name(srv_auth *a, const char *dir, const char *name, size_t n,
			tok_entry *e)
{
	int found = 0;
	pthread_mutex_lock(&a->mu);
	refresh(a, dir);
	for (size_t i = 0; i < a->n && !found; i++)
		if (strlen(a->v[i].name) == n && !memcmp(a->v[i].name, name, n)) {
			*e = a->v[i];
			found = 1;
		}
	pthread_mutex_unlock(&a->mu);
	return found;
}

/* ------------------------------------------------------------ query tokens */

/* es.NAME.EXPIRY.MAC: MAC = base64url(HMAC-SHA256(key, NAME \n EXPIRY \n
 * token hash)).  The hash binds it to the token it came from: revoked, or
 * revoked and added again under the same name, it no longer matches. */
static void qtoken_mac(const srv_auth *a, const tok_entry *e, long long expiry, char res[44])
{
	unsigned char msg[TOK_NAME_MAX + 32 + 32], mac[EVP_MAX_MD_SIZE];
	unsigned int macn = 0;
	int n = snprintf((char *)msg, sizeof msg - 32, "%s\n%lld\n", e->name, expiry);
	memcpy(msg + n, e->hash, 32);
	HMAC(EVP_sha256(), a->key, sizeof a->key, msg, (size_t)n + 32, mac, &macn);
	tok_b64url(mac, 32, res);
}

static long long now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec;
}

/* Check a query token: 1 with its token in *e, or 0 with why. */
static int qtoken_check(srv *s, const char *q, tok_entry *e, const char **why)
{
	const char *mac = strrchr(q, '.'), *exp = NULL;
	*why = "invalid query token: get one from POST /tokens/sse";
	if (strncmp(q, "es.", 3) || !mac || mac - q < 5)
		return 0;
	for (exp = mac - 1; exp > q + 2 && *exp != '.'; exp--)
		;
	if (exp <= q + 3)
		return 0;
	uint64_t expiry;
	char digits[24];
	size_t dn = (size_t)(mac - exp - 1);
	if (!dn || dn >= sizeof digits)
		return 0;
	memcpy(digits, exp + 1, dn);
	digits[dn] = 0;
	if (cli_u64(digits, &expiry) || expiry > INT64_MAX)
		return 0;
	if (!find_by_name(s->auth, s->dir, q + 3, (size_t)(exp - q - 3), e)) {
		*why = "unknown or revoked token";
		return 0;
	}
	char want[44];
	qtoken_mac(s->auth, e, (long long)expiry, want);
	if (strlen(mac + 1) != 43 || CRYPTO_memcmp(want, mac + 1, 43))
		return 0;
	if ((long long)expiry < now_s()) {
		*why = "the query token has expired: get a new one from POST /tokens/sse";
		return 0;
	}
	/* a query token reads, whatever its token may do */
	if (e->scope > TOK_READ)
		e->scope = TOK_READ;
	return 1;
}

/* ------------------------------------------------------------ the check */

/* 401 with the challenge RFC 6750 asks for. */
static enum MHD_Result unauthorized(struct MHD_Connection *c, const char *msg)
{
	char *body = srv_json_error(msg, NULL);
	if (!body)
		return srv_answer(c, MHD_HTTP_UNAUTHORIZED, NULL);
	struct MHD_Response *r = srv_buffer(body, strlen(body));
	if (r)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"engram\"");
	return srv_queue(c, MHD_HTTP_UNAUTHORIZED, r, "application/json");
}

/* The caller's token from Authorization: Bearer: 1 with it in *e, 0 when
 * there is no such header, -1 with why when it names no token. */
static int bearer(srv *s, struct MHD_Connection *c, tok_entry *e, const char **why)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!h)
		return 0;
	*why = "Authorization: expected Bearer TOKEN";
	if (strncasecmp(h, "Bearer ", 7))
		return -1;
	h += 7;
	h += strspn(h, " ");
	size_t n = strcspn(h, " ");
	if (!n || h[n + strspn(h + n, " ")])
		return -1;
	unsigned char hash[32];
	tok_hash(h, n, hash);
	*why = "unknown or revoked token";
	return find_by_hash(s->auth, s->dir, hash, e) ? 1 : -1;
}

/* Every line of an append body in a stream e allows; dflt: the stream of
 * lines naming none.  1, or 0 after answering 403 (or 400). */
static int body_allowed(struct MHD_Connection *c, const tok_entry *e, const conn *k,
			const char *dflt, enum MHD_Result *ok)
{
	char buf[8192];
	const char *p = k->body ? k->body : "", *end = p + k->len;
	for (uint64_t line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), n, i;
		for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'); i++)
			;
		int r = i == len ? 0 : srv_line_stream(p, len, dflt, buf, sizeof buf, &n);
		char msg[512], extra[48];
		snprintf(extra, sizeof extra, ",\"line\":%llu", (unsigned long long)line);
		if (r < 0) {
			snprintf(msg, sizeof msg, "line %llu: not a JSON object whose stream can be "
				 "checked against token '%s'; nothing of this batch was written",
				 (unsigned long long)line, e->name);
			*ok = srv_answer(c, MHD_HTTP_BAD_REQUEST, srv_json_error(msg, extra));
			return 0;
		}
		if (r > 0 && !tok_stream_allowed(e, buf, n)) {
			char q[6 * 100 + 3];
			q[eg_json_quote(buf, n < 100 ? n : 100, q)] = 0;
			snprintf(msg, sizeof msg, "line %llu: stream %s is outside token '%s' "
				 "(streams %s); nothing of this batch was written",
				 (unsigned long long)line, q, e->name, e->streams);
			*ok = srv_answer(c, MHD_HTTP_FORBIDDEN, srv_json_error(msg, extra));
			return 0;
		}
		p += len + 1;
	}
	return 1;
}

static int forbid(struct MHD_Connection *c, enum MHD_Result *ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int forbid(struct MHD_Connection *c, enum MHD_Result *ok, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	*ok = srv_fail(c, MHD_HTTP_FORBIDDEN, msg);
	return 0;
}

/* A token limited to some streams may use only the routes that name the
 * stream they touch, and only with one it allows; any other route would
 * show or change every stream.  1, or 0 after answering. */
static int streams_allowed(srv *s, struct MHD_Connection *c, const srv_route *r,
			   const char *url, const char *method, const conn *k,
			   const tok_entry *e, enum MHD_Result *ok)
{
	(void)s;
	if (!strcmp(e->streams, "*") || !strcmp(r->path, "/tokens/sse"))
		return 1;
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!strcmp(method, "POST") && !strcmp(r->path, "/events"))
		return body_allowed(c, e, k, "", ok);
	if (!strcmp(method, "POST") && !strcmp(r->path, "/streams/")) {
		/* the stream as serve_append.c's post_stream reads it */
		const char *st = url + 9, *end = strstr(st, "/events");
		if (!end || strcmp(end, "/events") || end == st)
			return 1;       /* no stream: the handler answers 404 */
		char name[1100];
		size_t n = (size_t)(end - st);
		if (n >= sizeof name || !tok_stream_allowed(e, st, n))
			return forbid(c, ok, "stream '%.*s' is outside token '%s' (streams %s)",
				      (int)(n < 100 ? n : 100), st, e->name, e->streams);
		memcpy(name, st, n);
		name[n] = 0;
		return body_allowed(c, e, k, name, ok);
	}
	if (get && (!strcmp(r->path, "/events") || !strcmp(r->path, "/subscribe"))) {
		const char *st = srv_arg(c, "stream");
		if (!st)
			return forbid(c, ok, "token '%s' is limited to streams %s: give stream=S "
				      "with S one of them", e->name, e->streams);
		if (!tok_stream_allowed(e, st, strlen(st)))
			return forbid(c, ok, "stream '%.100s' is outside token '%s' (streams %s)",
				      st, e->name, e->streams);
		return 1;
	}
	return forbid(c, ok, "token '%s' is limited to streams %s: %s %.100s covers every stream",
		      e->name, e->streams, method, url);
}

/* The token the request shows (Bearer, or a query token on a GET): 1
 * with it in *e, else 0 after answering 401. */
static int caller(srv *s, struct MHD_Connection *c, const char *method, tok_entry *e,
		  enum MHD_Result *ok)
{
	const char *why = NULL;
	int r = bearer(s, c, e, &why);
	if (r > 0)
		return 1;
	const char *q = srv_arg(c, "token");
	if (!r && q) {
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			why = "a query token (?token=) is only for GET routes: send "
			      "Authorization: Bearer TOKEN";
		else if (qtoken_check(s, q, e, &why))
			return 1;
	} else if (!r) {
		why = "this route needs a token: Authorization: Bearer TOKEN (engram token add "
		      "makes one)";
	}
	*ok = unauthorized(c, why);
	return 0;
}

int srv_maybe_authorized(srv *s, struct MHD_Connection *c)
{
	tok_entry e;
	const char *why;
	return !s->auth || bearer(s, c, &e, &why) > 0 || srv_arg(c, "token");
}

int srv_authorized(srv *s, struct MHD_Connection *c, const srv_route *r, const char *url,
		   const char *method, const conn *k, enum MHD_Result *ok)
{
	if (!s->auth || r->scope == SCOPE_NONE)
		return 1;
	tok_entry e;
	if (!caller(s, c, method, &e, ok))
		return 0;
	if (e.scope < r->scope)
		return forbid(c, ok, "token '%s' has scope %s: %s %.100s needs %s", e.name,
			      tok_scope_name(e.scope), method, url, tok_scope_name(r->scope));
	return streams_allowed(s, c, r, url, method, k, &e, ok);
}

/* ------------------------------------------------------------ POST /tokens/sse */

static enum MHD_Result post_sse_token(srv *s, struct MHD_Connection *c, const char *url,
				      const char *method, conn *k)
{
	(void)url, (void)k;
	if (!s->auth)
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, "the server runs without --tokens: "
				"GET routes need no token");
	uint64_t ttl = QTOKEN_TTL;
	char err[256];
	if (srv_u64_arg(c, "ttl", &ttl, err, sizeof err) < 0 || !ttl || ttl > QTOKEN_TTL_MAX) {
		snprintf(err, sizeof err, "ttl: expected seconds from 1 to %d", QTOKEN_TTL_MAX);
		return srv_fail(c, MHD_HTTP_BAD_REQUEST, err);
	}
	tok_entry e;
	enum MHD_Result ok;
	/* route() let it in: who it was, again */
	if (!caller(s, c, method, &e, &ok))
		return ok;
	long long expiry = now_s() + (long long)ttl;
	char mac[44], when[EG_TIME_LEN + 1], *body = NULL;
	qtoken_mac(s->auth, &e, expiry, mac);
	eg_time_format((int64_t)expiry * 1000000, when);
	if (asprintf(&body, "{\"token\":\"es.%s.%lld.%s\",\"name\":\"%s\",\"expires\":\"%s\","
		     "\"ttl\":%llu}\n", e.name, expiry, mac, e.name, when,
		     (unsigned long long)ttl) < 0)
		body = NULL;
	return srv_answer(c, MHD_HTTP_OK, body);
}

const srv_route SRV_AUTH_ROUTES[] = {
	{ "/tokens/sse", "POST", SCOPE_READ, post_sse_token, 0 },
	{ NULL, NULL, 0, NULL, 0 },
};

/* ------------------------------------------------------------ HTTPS */

int srv_tls_load(cli *c, const char *cert, const char *key, srv_tls *t)
{
	memset(t, 0, sizeof *t);
	t->opts[0].option = MHD_OPTION_END;
	if (!cert && !key)
		return EXIT_OK;
	if (!cert || !key)
		return cli_usage_error(c, "--tls-cert and --tls-key go together");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		cli_error("this libmicrohttpd was built without TLS: serve plain HTTP behind a "
			  "proxy that terminates TLS");
		return EXIT_ERR;
	}
	size_t n;
	const char *paths[2] = { cert, key };
	char **bufs[2] = { &t->cert, &t->key };
	for (int i = 0; i < 2; i++)
		if (!(*bufs[i] = cli_read_path(paths[i], 1u << 20, &n))) {
			cli_error("cannot read %s: %s", paths[i], strerror(errno));
			srv_tls_free(t);
			return errno == ENOENT || errno == EACCES ? EXIT_USAGE : EXIT_ERR;
		}
	t->flags = MHD_USE_TLS;
	t->opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert };
	t->opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, t->key };
	t->opts[2] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return EXIT_OK;
}

void srv_tls_free(srv_tls *t)
{
	if (t->key)
		OPENSSL_cleanse(t->key, strlen(t->key));
	free(t->cert);
	free(t->key);
	t->cert = t->key = NULL;
}

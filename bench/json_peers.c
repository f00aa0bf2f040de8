/*
 * json_peers.c — our JSON scanner (src/json.c) against cJSON, yajl and
 * jansson on the same input, doing the work engram's append does per NDJSON
 * line: validate the whole line, visit every top-level member, and write the
 * "data" member out compactly.
 *
 *   ours     eg_json_obj_begin/eg_json_obj_next over the line, eg_json_minify(data)
 *   cJSON    cJSON_ParseWithLengthOpts, walk root->child,
 *            cJSON_PrintPreallocated(data, unformatted); the bytes after the
 *            value must be whitespace (cJSON does not check that itself when
 *            given a length without a NUL)
 *   jansson  json_loadb(flags 0), json_object_foreach,
 *            json_dumpb(data, JSON_COMPACT)
 *   yajl     SAX parser (yajl_dont_validate_strings = 0, i.e. UTF-8 checked),
 *            one handle per line (yajl has no reset), the events of "data"
 *            forwarded to a yajl_gen (numbers as text, via yajl_number),
 *            its buffer copied out
 *   memchr   the floor: splitting the lines only
 *
 * Input: 1M lines of `bin/engram gen bank --events 1000000 --seed 1`, read
 * into memory (pass a FILE to use another).  Runs pinned to one CPU; each
 * time is the best of REPS runs, the runs of all parsers interleaved.  Then
 * each parser's per-line function is fed five invalid lines.  Prints
 * markdown.  Run from the repository root; bench/json_peers.sh builds it.
 */
#define _GNU_SOURCE
/* json.h and jansson.h both name their type enumerators JSON_NULL...: ours
 * are renamed here (nothing below uses them).  The functions do not clash. */
#define JSON_NULL EG_JSON_NULL
#define JSON_FALSE EG_JSON_FALSE
#define JSON_TRUE EG_JSON_TRUE
#define JSON_NUMBER EG_JSON_NUMBER
#define JSON_STRING EG_JSON_STRING
#define JSON_ARRAY EG_JSON_ARRAY
#define JSON_OBJECT EG_JSON_OBJECT
#include "json.h"
#undef JSON_NULL
#undef JSON_FALSE
#undef JSON_TRUE
#undef JSON_NUMBER
#undef JSON_STRING
#undef JSON_ARRAY
#undef JSON_OBJECT

#include <cJSON.h>
#include <jansson.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_version.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENTS "1000000"
#define REPS 3
#define OUTCAP (1 << 20)

/* What a parser reports for one line: members seen, bytes of data written. */
struct tally {
	unsigned long long members, out;
};

static char *out;	/* where "data" is written */

static int ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ------------------------------------------------------------ floor */

static int run_floor(const char *p, size_t n, struct tally *t)
{
	(void)p;
	t->out += n;
	return 0;
}

/* ------------------------------------------------------------- ours */

static int run_ours(const char *p, size_t n, struct tally *t)
{
	json_obj it;
	json_span k, v;
	json_err err;
	int r;

	if (eg_json_obj_begin(&it, p, n, &err))
		return -1;
	while ((r = eg_json_obj_next(&it, &k, &v, &err)) == 1) {
		t->members++;
		if (k.n == 6 && memcmp(k.p, "\"data\"", 6) == 0)
			t->out += eg_json_minify(&v, out);
	}
	return r;	/* 0 at '}' with only whitespace after it, else -1 */
}

/* ------------------------------------------------------------ cJSON */

static int run_cjson(const char *p, size_t n, struct tally *t)
{
	const char *end = NULL, *e = p + n;
	cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	int rc = -1;

	if (!root)
		return -1;
	while (end < e && ws(*end))
		end++;
	if (end != e || !cJSON_IsObject(root))
		goto done;
	for (cJSON *m = root->child; m; m = m->next) {
		t->members++;
		if (strcmp(m->string, "data") == 0) {
			if (!cJSON_PrintPreallocated(m, out, OUTCAP, 0))
				goto done;
			t->out += strlen(out);
		}
	}
	rc = 0;
done:
	cJSON_Delete(root);
	return rc;
}

/* ---------------------------------------------------------- jansson */

static int run_jansson(const char *p, size_t n, struct tally *t)
{
	json_error_t err;
	json_t *root = json_loadb(p, n, 0, &err), *v;
	const char *k;
	int rc = -1;

	if (!root)
		return -1;
	if (!json_is_object(root))
		goto done;
	json_object_foreach(root, k, v) {
		t->members++;
		if (strcmp(k, "data") == 0) {
			size_t m = json_dumpb(v, out, OUTCAP, JSON_COMPACT);
			if (m == 0 || m > OUTCAP)
				goto done;
			t->out += m;
		}
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------- yajl */

struct yctx {
	struct tally *t;
	yajl_gen g;
	int depth;	/* open containers; 1 inside the top-level object */
	int cap;	/* forwarding the current top-level member to g */
	int bad;	/* top level is not an object */
};

/* A value (or container close) has completed at depth d: if that finishes
 * the captured top-level member, collect its text. */
static int y_done(struct yctx *c)
{
	if (c->cap && c->depth == 1) {
		const unsigned char *buf;
		size_t len;

		if (yajl_gen_get_buf(c->g, &buf, &len) != yajl_gen_status_ok)
			return 0;
		memcpy(out, buf, len);	/* to the same place as the others */
		c->t->out += len;
		yajl_gen_clear(c->g);
		yajl_gen_reset(c->g, NULL);
		c->cap = 0;
	}
	return 1;
}

static int y_top(struct yctx *c)
{
	if (c->depth == 0) {	/* a scalar as the whole line */
		c->bad = 1;
		return 0;
	}
	return 1;
}

#define FWD(call) do { if (c->cap && (call) != yajl_gen_status_ok) return 0; } while (0)

static int y_null(void *u)
{
	struct yctx *c = u;
	if (!y_top(c)) return 0;
	FWD(yajl_gen_null(c->g));
	return y_done(c);
}

static int y_bool(void *u, int b)
{
	struct yctx *c = u;
	if (!y_top(c)) return 0;
	FWD(yajl_gen_bool(c->g, b));
	return y_done(c);
}

static int y_number(void *u, const char *s, size_t n)
{
	struct yctx *c = u;
	if (!y_top(c)) return 0;
	FWD(yajl_gen_number(c->g, s, n));
	return y_done(c);
}

static int y_string(void *u, const unsigned char *s, size_t n)
{
	struct yctx *c = u;
	if (!y_top(c)) return 0;
	FWD(yajl_gen_string(c->g, s, n));
	return y_done(c);
}

static int y_key(void *u, const unsigned char *s, size_t n)
{
	struct yctx *c = u;
	if (c->depth == 1) {
		c->t->members++;
		c->cap = n == 4 && memcmp(s, "data", 4) == 0;
		return 1;
	}
	FWD(yajl_gen_string(c->g, s, n));
	return 1;
}

static int y_open_map(void *u)
{
	struct yctx *c = u;
	if (c->depth++ > 0)
		FWD(yajl_gen_map_open(c->g));
	return 1;
}

static int y_close_map(void *u)
{
	struct yctx *c = u;
	if (--c->depth > 0)
		FWD(yajl_gen_map_close(c->g));
	return y_done(c);
}

static int y_open_array(void *u)
{
	struct yctx *c = u;
	if (!y_top(c)) return 0;
	c->depth++;
	FWD(yajl_gen_array_open(c->g));
	return 1;
}

static int y_close_array(void *u)
{
	struct yctx *c = u;
	c->depth--;
	FWD(yajl_gen_array_close(c->g));
	return y_done(c);
}

static const yajl_callbacks ycb = {
	.yajl_null = y_null, .yajl_boolean = y_bool, .yajl_number = y_number,
	.yajl_string = y_string, .yajl_start_map = y_open_map,
	.yajl_map_key = y_key, .yajl_end_map = y_close_map,
	.yajl_start_array = y_open_array, .yajl_end_array = y_close_array,
};

static yajl_gen ygen;

static int run_yajl(const char *p, size_t n, struct tally *t)
{
	struct yctx c = { .t = t, .g = ygen };
	yajl_handle h = yajl_alloc(&ycb, NULL, &c);
	int rc = -1;

	if (!h)
		return -1;
	yajl_config(h, yajl_dont_validate_strings, 0);
	if (yajl_parse(h, (const unsigned char *)p, n) == yajl_status_ok &&
	    yajl_complete_parse(h) == yajl_status_ok && !c.bad)
		rc = 0;
	yajl_free(h);
	if (rc) {	/* leave the generator clean for the next line */
		yajl_gen_clear(ygen);
		yajl_gen_reset(ygen, NULL);
	}
	return rc;
}

/* ----------------------------------------------------------- driver */

struct parser {
	const char *name;
	int (*run)(const char *, size_t, struct tally *);
	char version[32];
	double best;
	struct tally t;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return NULL;
	if (!(buf = malloc((size_t)len + 1)) || fread(buf, 1, (size_t)len, f) != (size_t)len)
		return NULL;
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static int sh(const char *cmd)
{
	fprintf(stderr, "json_peers: %s\n", cmd);
	return system(cmd);
}

int main(int argc, char **argv)
{
	struct parser ps[] = {
		{ "ours (src/json.c)", run_ours, "", 1e9, { 0, 0 } },
		{ "cJSON", run_cjson, "", 1e9, { 0, 0 } },
		{ "yajl", run_yajl, "", 1e9, { 0, 0 } },
		{ "jansson", run_jansson, "", 1e9, { 0, 0 } },
		{ "memchr line split (floor)", run_floor, "", 1e9, { 0, 0 } },
	};
	enum { NP = sizeof ps / sizeof ps[0] };
	char tmp[] = "/tmp/json_peers.XXXXXX", cmd[256];
	const char *path = argc > 1 ? argv[1] : NULL;
	size_t total = 0, lines = 0;
	char *buf;
	cpu_set_t one;
	int cpu = sched_getcpu();

	/* The input: generated unless a file was given. */
	if (!path) {
		int fd = mkstemp(tmp);
		if (fd < 0)
			return perror("mkstemp"), 1;
		close(fd);
		if (access("bin/engram", X_OK) && sh("make bin/engram"))
			return 1;
		snprintf(cmd, sizeof cmd,
			 "bin/engram gen bank --events " EVENTS " --seed 1 > %s", tmp);
		if (sh(cmd))
			return unlink(tmp), 1;
		path = tmp;
	}
	buf = slurp(path, &total);
	if (path == tmp)
		unlink(tmp);
	if (!buf)
		return perror(path), 1;
	for (const char *p = buf, *e = buf + total; p < e; lines++) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		p = nl ? nl + 1 : e;
	}

	CPU_ZERO(&one);
	CPU_SET(cpu < 0 ? 0 : cpu, &one);
	if (sched_setaffinity(0, sizeof one, &one))
		perror("sched_setaffinity");
	if (!(out = malloc(OUTCAP)) || !(ygen = yajl_gen_alloc(NULL)))
		return 1;

	snprintf(ps[0].version, sizeof ps[0].version, "-");
	snprintf(ps[1].version, sizeof ps[1].version, "%s", cJSON_Version());
	snprintf(ps[2].version, sizeof ps[2].version, "%d.%d.%d", yajl_version() / 10000,
		 yajl_version() / 100 % 100, yajl_version() % 100);
	snprintf(ps[3].version, sizeof ps[3].version, "%s", jansson_version_str());
	snprintf(ps[4].version, sizeof ps[4].version, "-");

	for (int rep = 0; rep < REPS; rep++) {
		for (int k = 0; k < NP; k++) {
			struct tally t = { 0, 0 };
			const char *p = buf, *e = buf + total;
			size_t i = 0;
			double t0 = now(), dt;

			while (p < e) {
				const char *nl = memchr(p, '\n', (size_t)(e - p));
				const char *le = nl ? nl : e;
				if (ps[k].run(p, (size_t)(le - p), &t)) {
					fprintf(stderr, "%s rejected line %zu\n", ps[k].name, i + 1);
					return 1;
				}
				p = nl ? nl + 1 : e;
				i++;
			}
			if ((dt = now() - t0) < ps[k].best)
				ps[k].best = dt;
			ps[k].t = t;
		}
	}

	printf("Input: %zu lines, %zu bytes (%.0f B/line) of %s; pinned to CPU %d; best of %d.\n\n",
	       lines, total, (double)total / (double)lines,
	       path == tmp ? "`engram gen bank --events " EVENTS " --seed 1`" : path, cpu, REPS);
	printf("| parser | version | seconds | MB/s | ns/line | time / ours | members | data bytes out |\n");
	printf("|---|---|--:|--:|--:|--:|--:|--:|\n");
	for (int k = 0; k < NP; k++) {
		const struct parser *q = &ps[k];
		printf("| %s | %s | %.3f | %.0f | %.0f | %.2f | ", q->name, q->version,
		       q->best, (double)total / 1e6 / q->best, q->best * 1e9 / (double)lines,
		       q->best / ps[0].best);
		if (q->run == run_floor)
			printf("- | - |\n");
		else
			printf("%llu | %llu |\n", q->t.members, q->t.out);
	}

	/* What "data" becomes: line 3's (an amount with cents), through each. */
	printf("\n`data` of line 3 as written by each:\n\n");
	{
		const char *l3 = buf, *e = buf + total, *nl;
		for (int j = 0; j < 2 && (nl = memchr(l3, '\n', (size_t)(e - l3))); j++)
			l3 = nl + 1;
		nl = memchr(l3, '\n', (size_t)(e - l3));
		size_t n = nl ? (size_t)(nl - l3) : (size_t)(e - l3);
		for (int k = 0; k < NP - 1; k++) {
			struct tally t = { 0, 0 };

			ps[k].run(l3, n, &t);
			printf("- %s: `%.*s`\n", ps[k].name, (int)t.out, out);
		}
	}

	/* Invalid input: each parser's per-line function, as timed above. */
	static const struct { const char *what, *line; } bad[] = {
		{ "valid control", "{\"type\":\"deposit\",\"data\":{\"owner\":\"L\xc3\xa9" "a \\u00e9 \\ud83d\\ude00\","
				   "\"amount\":0.5e1,\"tags\":[true,null,{}]}}" },
		{ "byte 0xff in a string", "{\"type\":\"deposit\",\"data\":{\"owner\":\"Lars \xff\"}}" },
		{ "lone surrogate `\"\\udc00\"`", "{\"type\":\"deposit\",\"data\":{\"owner\":\"\\udc00\"}}" },
		{ "trailing comma `{\"amount\":1,}`", "{\"type\":\"deposit\",\"data\":{\"amount\":1,}}" },
		{ "leading zero `01`", "{\"type\":\"deposit\",\"data\":{\"amount\":01}}" },
		{ "`NaN`", "{\"type\":\"deposit\",\"data\":{\"amount\":NaN}}" },
	};
	printf("\nInvalid lines (event-shaped, e.g. `%s`; the first is valid, as a"
	       " control):\n\n", bad[3].line);
	printf("| parser |");
	for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
		printf(" %s |", bad[b].what);
	printf("\n|---|");
	for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
		printf(":-:|");
	printf("\n");
	for (int k = 0; k < NP - 1; k++) {
		printf("| %s |", ps[k].name);
		for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
			struct tally t = { 0, 0 };
			int r = ps[k].run(bad[b].line, strlen(bad[b].line), &t);
			if (b == 0)	/* the control must pass */
				printf(" %s |", r ? "**rejected**" : "accepted");
			else
				printf(" %s |", r ? "rejected" : "**accepted**");
		}
		printf("\n");
	}
	yajl_gen_free(ygen);
	free(out);
	free(buf);
	return 0;
}

/*
 * append.c — `engram append`: NDJSON lines in (envelopes, or a producer's
 * own JSON through --map), one atomic batch (or one per --batch N events)
 * out, with duplicates counted, invalid lines refused by line number or set
 * aside with --skip-invalid.
 */
#include "cli.h"
#include "json.h"
#include "metrictext.h"
#include "stack.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define CHUNK (4u << 20)

/* Reads the input in large chunks that end at a line boundary, so that
 * the library can parse many lines at once on a second core.  A regular
 * file is mapped whole instead and given in one piece: the library's
 * parsing thread then runs beside the writing one from the first line to
 * the last, not stopping at each chunk while the next is read. */
typedef struct chunks {
	FILE *f;
	char *buf;
	size_t cap, len, keep;   /* keep: bytes of a partial line carried over */
	int eof;
	const char *map;         /* the file, mapped (map_len bytes), or NULL */
	size_t map_len;
	int owned;               /* map is a text converter's output, not a mapping */
} chunks;

/* Next run of whole lines: 1 with [*s, *s + *n), 0 at the end, -1 on a
 * read error. */
static int next_chunk(chunks *C, const char **s, size_t *n)
{
	if (C->map) {
		if (C->eof)
			return 0;
		C->eof = 1;
		*s = C->map;
		*n = C->map_len;
		return 1;
	}
	memmove(C->buf, C->buf + C->len - C->keep, C->keep);
	C->len = C->keep;
	C->keep = 0;
	for (;;) {
		if (C->eof) {
			if (!C->len)
				return 0;
			*s = C->buf;
			*n = C->len;
			C->keep = 0;
			C->len = 0;
			return 1;
		}
		if (C->cap - C->len < CHUNK / 2) {
			char *b = realloc(C->buf, C->cap * 2);
			if (!b)
				return -1;
			C->buf = b;
			C->cap *= 2;
		}
		size_t r = fread(C->buf + C->len, 1, C->cap - C->len, C->f);
		C->len += r;
		if (r == 0) {
			if (ferror(C->f))
				return -1;
			C->eof = 1;
			continue;
		}
		char *nl = memrchr(C->buf, '\n', C->len);
		if (nl) {
			*s = C->buf;
			*n = (size_t)(nl - C->buf) + 1;
			C->keep = C->len - *n;
			return 1;
		}
	}
}

typedef struct rejects {
	FILE *f;
	const char *path;
	uint64_t base, count;
	int werr;
	int stopped;      /* a bad line stopped the input */
	/* --map through a text converter: the input line of each envelope
	 * line (xlines), and the input itself, so that a rejected envelope is
	 * named and shown as the line it came from */
	const uint32_t *xlines;
	const char *src;
	size_t srcn;
	size_t *starts;   /* where each input line starts (made at the first reject) */
	size_t nstarts;
} rejects;

/* The input line (1-based) of envelope line `line` (1-based). */
static uint64_t input_line(const rejects *R, uint64_t line)
{
	return R->xlines && line ? R->xlines[line - 1] : line;
}

/* The text of input line `line` (1-based) of a converted input. */
static const char *input_text(rejects *R, uint64_t line, size_t *n)
{
	if (!R->starts) {
		size_t cap = 0, k = 0;
		for (size_t i = 0;; ) {
			if (k == cap) {
				size_t *t = realloc(R->starts, (cap = cap ? 2 * cap : 1024) * sizeof *t);
				if (!t)
					return NULL;
				R->starts = t;
			}
			R->starts[k++] = i;
			const char *nl = i < R->srcn ? memchr(R->src + i, '\n', R->srcn - i) : NULL;
			if (!nl)
				break;
			i = (size_t)(nl - R->src) + 1;
		}
		R->nstarts = k;
	}
	if (!line || line > R->nstarts)
		return NULL;
	size_t a = R->starts[line - 1];
	size_t b = line < R->nstarts ? R->starts[line] - 1 : R->srcn;
	if (b > a && R->src[b - 1] == '\r')
		b--;
	*n = b - a;
	return R->src + a;
}

/* Copy s with each byte that is not part of valid UTF-8 replaced by U+FFFD,
 * so that the rejects file stays valid JSON.  dst holds 3 * n bytes. */
static size_t utf8_scrub(const char *s, size_t n, char *dst)
{
	size_t o = 0;
	for (size_t i = 0; i < n; ) {
		size_t len = 1;
		while (len <= 4 && i + len <= n && !eg_json_utf8_valid(s + i, len))
			len++;
		if (len <= 4 && i + len <= n) {
			memcpy(dst + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return o;
}

static void base64(FILE *f, const unsigned char *s, size_t n)
{
	static const char A[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		fputc(A[v >> 18 & 63], f);
		fputc(A[v >> 12 & 63], f);
		fputc(i + 1 < n ? A[v >> 6 & 63] : '=', f);
		fputc(i + 2 < n ? A[v & 63] : '=', f);
	}
}

/* One rejected line for --skip-invalid: {"line":N,"reason":...,"input":...}.
 * A line that is not valid UTF-8 gets U+FFFD in "input" and its exact
 * bytes in "input_base64". */
static int reject(FILE *rf, uint64_t lineno, const char *reason, const char *s, size_t n)
{
	size_t rl = strlen(reason), m = 3 * n > rl ? 3 * n : rl;
	char *q = malloc(6 * m + 3), *clean = malloc(3 * n + 1);
	if (!q || !clean) {
		free(q);
		free(clean);
		return -1;
	}
	int valid = eg_json_utf8_valid(s, n);
	size_t cn = valid ? n : utf8_scrub(s, n, clean);
	fprintf(rf, "{\"line\":%llu,\"reason\":", (unsigned long long)lineno);
	fwrite(q, 1, eg_json_quote(reason, rl, q), rf);
	fputs(",\"input\":", rf);
	fwrite(q, 1, eg_json_quote(valid ? s : clean, cn, q), rf);
	if (!valid) {
		fputs(",\"input_base64\":\"", rf);
		base64(rf, (const unsigned char *)s, n);
		fputc('"', rf);
	}
	fputs("}\n", rf);
	free(q);
	free(clean);
	return ferror(rf) ? -1 : 0;
}

/* --skip-invalid: set the line aside and go on; without it, stop. */
static int on_bad_line(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	rejects *R = ctx;
	if (!R->f)
		return R->stopped = 1;
	uint64_t at = R->base + line + 1;
	if (R->xlines) {
		size_t n;
		const char *t = input_text(R, at = input_line(R, at), &n);
		if (t)
			text = t, len = n;
	}
	if (reject(R->f, at, msg, text, len)) {
		R->werr = errno ? errno : EIO;
		return R->stopped = 1;
	}
	R->count++;
	return 0;
}

/* Integer times that look like epoch seconds: appended as given (a time of
 * 1970 is valid), but said once per append, at the first one. */
static void warn_seconds(const eg_append_result *res)
{
	if (!res->seconds_count)
		return;
	char ts[EG_TIME_LEN + 1];
	eg_time_format(res->seconds_time, ts);
	char more[64] = "";
	if (res->seconds_count > 1)
		snprintf(more, sizeof more, " (%llu events have such times)",
			 (unsigned long long)res->seconds_count);
	char ms[32];
	long long us = res->seconds_time;
	if (us % 1000)
		snprintf(ms, sizeof ms, "%lld.%03lld", us / 1000, us % 1000);
	else
		snprintf(ms, sizeof ms, "%lld", us / 1000);
	cli_warn("line %llu: time %s read as epoch milliseconds (%s); epoch seconds? "
		 "multiply by 1000%s", (unsigned long long)res->seconds_line, ms, ts, more);
}

/* The first event at or after time `since` (of type `type`, or any), into
 * *pos, *at and type; 0 when there is none (or it cannot be read: then the
 * warning it would feed is left out). */
static int first_since(eg_store *st, const char *type, int64_t since, uint64_t *pos,
		       int64_t *at, char *tbuf, size_t tcap)
{
	const char *types[1] = { type };
	eg_filter f = { .types = types, .ntypes = type != NULL, .has_since = 1,
			.since = since, .limit = 1 };
	eg_iter *it;
	const eg_event *e;
	int found = 0;
	if (eg_iter_new(st, &it, &f))
		return 0;
	if (eg_iter_next(it, &e) == EG_OK) {
		*pos = e->pos;
		*at = e->time;
		snprintf(tbuf, tcap, "%.*s", (int)e->type_len, e->type);
		found = 1;
	}
	eg_iter_free(it);
	return found;
}

/* A duration in the spec's form, in the largest unit that divides it. */
static void format_duration(int64_t us, char *dst, size_t n)
{
	static const struct { int64_t us; const char *unit; } units[] = {
		{ 86400000000LL, "d" }, { 3600000000LL, "h" }, { 60000000LL, "m" },
		{ 1000000LL, "s" }, { 1000LL, "ms" },
	};
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (us % units[i].us == 0) {
			snprintf(dst, n, "%lld%s", (long long)(us / units[i].us), units[i].unit);
			return;
		}
	snprintf(dst, n, "%lldus", (long long)us);
}

/* Why a heartbeat at t may move no watermark, into why (empty if it will):
 * a heartbeat at or after t is in the log already (then it moves none), or
 * events later than t are (then only a windows spec that takes none of
 * them, or waits behind them longer than the gap, sees it move). */
static void heartbeat_behind(eg_store *st, int64_t t, char *why, size_t n)
{
	char ts[EG_TIME_LEN + 1], at[EG_TIME_LEN + 1], type[80], gap[32];
	uint64_t pos;
	int64_t et;
	why[0] = 0;
	eg_time_format(t, ts);
	if (first_since(st, EG_HEARTBEAT, t, &pos, &et, type, sizeof type)) {
		eg_time_format(et, at);
		snprintf(why, n, "the heartbeat at %s moves no watermark: the heartbeat at "
			 "position %llu already is at %s", ts, (unsigned long long)pos, at);
	} else if (t < INT64_MAX && first_since(st, NULL, t + 1, &pos, &et, type, sizeof type)) {
		eg_time_format(et, at);
		format_duration(et - t, gap, sizeof gap);
		snprintf(why, n, "the heartbeat at %s is behind events already in the store "
			 "(position %llu, %s at %s): it moves the watermark only of a windows "
			 "spec that takes none of those events or whose \"watermark\" is more "
			 "than %s", ts, (unsigned long long)pos, type, at, gap);
	}
}

/* --heartbeat TIME: one heartbeat event at TIME (docs/WINDOWS.md). */
static int append_heartbeat(cli *c, const char *time, const eg_batch_opts *opts, int others)
{
	int64_t t;
	int rc = cli_time(c, "heartbeat", time, &t);
	if (rc)
		return rc;
	if (others || c->npos)
		return cli_usage_error(c, "--heartbeat appends one heartbeat; it takes no input "
				       "and no other option but --sync");
	char line[256];
	char ts[EG_TIME_LEN + 1];
	eg_time_format(t, ts);
	int n = snprintf(line, sizeof line, "{\"stream\":\"%s\",\"type\":\"%s\",\"time\":\"%s\"}",
			 EG_HEARTBEAT, EG_HEARTBEAT, ts);
	eg_store *st = cli_open_write(c, 1, &rc);
	if (!st)
		return rc;
	char why[512];
	heartbeat_behind(st, t, why, sizeof why);
	eg_batch *b = NULL;
	eg_append_result res;
	int r = eg_batch_begin(st, &b, opts);
	if (!r && (r = eg_batch_add_json(b, line, (size_t)n)))
		eg_batch_abort(b);
	else if (!r)
		r = eg_batch_commit(b, &res);
	if (r) {
		rc = cli_fail(st, r);
	} else {
		out *o = out_new(stdout, c->format);
		out_row_begin(o);
		out_u64(o, "heartbeat_pos", res.last_pos);
		out_time(o, "time", t);
		out_row_end(o);
		rc = out_finish(o, EXIT_OK);
		if (why[0])
			cli_warn("%s", why);
	}
	cli_close(st, rc);
	return rc;
}

/* Text converters for --map: input that is not JSON lines (metrics as
 * text, stack traces…) turned into envelope NDJSON by a pure function of
 * src/util (eg_textconv_fn, metrictext.h: text in, envelopes out with the
 * input line of each), then appended as any envelopes are; errors of
 * either step name the input line.  Adding one is a row here, a line in
 * the help of append, and its docs. */
static const struct textconv {
	const char *name;
	eg_textconv_fn fn;
} TEXTCONV[] = {
	{ "prometheus", eg_mt_prometheus },
	{ "openmetrics", eg_mt_openmetrics },
	{ "statsd", eg_mt_statsd },
	{ "stacks", eg_stack_conv },
};

static eg_textconv_fn textconv(const char *name)
{
	for (size_t i = 0; name && i < sizeof TEXTCONV / sizeof *TEXTCONV; i++)
		if (!strcmp(TEXTCONV[i].name, name))
			return TEXTCONV[i].fn;
	return NULL;
}

/* The whole of f, malloc'd, in *n; NULL on a read error or out of memory. */
static char *read_all(FILE *f, size_t *n)
{
	size_t cap = 1 << 16, len = 0;
	char *p = malloc(cap);
	while (p) {
		size_t r = fread(p + len, 1, cap - len, f);
		len += r;
		if (r == 0) {
			if (ferror(f))
				break;
			*n = len;
			return p;
		}
		if (len == cap) {
			char *q = realloc(p, cap *= 2);
			if (!q)
				break;
			p = q;
		}
	}
	free(p);
	return NULL;
}

eg_map *cli_load_map(const char *arg, int *rc)
{
	eg_map *m = NULL;
	int r = eg_map_builtin(arg, &m);
	if (r == EG_OK)
		return m;
	if (r != EG_ENOTFOUND) {
		cli_error("--map %s: %s", arg, eg_strerror(r));
		*rc = EXIT_ERR;
		return NULL;
	}
	size_t n;
	char *json = cli_slurp(arg, &n);
	if (!json) {
		cli_error("--map %s: no such built-in mapping (segment, snowplow) or text format "
			  "(prometheus, openmetrics, statsd, stacks), and "
			  "cannot read it as a file: %s", arg, strerror(errno));
		*rc = EXIT_USAGE;
		return NULL;
	}
	char err[512];
	r = eg_map_parse(json, n, &m, err, sizeof err);
	free(json);
	if ((*rc = cli_spec_result(arg, r, err)))
		return NULL;
	return m;
}

static int append_run(cli *c, const eg_query *cond, uint64_t after, const char *stream,
		      const char *type, const char *expect, const char *sync, const char *batch,
		      const char *skip, const char *heartbeat, const char *map, int expect_new,
		      int quarantine, int keep_recorded);

int cmd_append(cli *c)
{
	const char *stream = NULL, *type = NULL, *expect = NULL, *sync = NULL,
		   *batch = NULL, *skip = NULL, *heartbeat = NULL, *map = NULL,
		   *fail_if = NULL, *after = NULL, *lock_wait = NULL;
	int expect_new = 0, quarantine = 0, keep_recorded = 0;
	opt opts[] = {
		{ "quarantine", 0, NULL, &quarantine }, { "keep-recorded", 0, NULL, &keep_recorded },
		{ "stream", 1, &stream, NULL }, { "type", 1, &type, NULL },
		{ "expect-version", 1, &expect, NULL }, { "expect-new", 0, NULL, &expect_new },
		{ "sync", 1, &sync, NULL }, { "batch", 1, &batch, NULL },
		{ "skip-invalid", 1, &skip, NULL }, { "heartbeat", 1, &heartbeat, NULL },
		{ "map", 1, &map, NULL }, { "fail-if", OPT_QUERY, &fail_if, NULL },
		{ "after", 1, &after, NULL }, { "lock-wait", 1, &lock_wait, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_query *cond = NULL;
	uint64_t after_pos = 0;
	if (lock_wait && eg_duration_parse(lock_wait, strlen(lock_wait), &c->lock_wait_us))
		return cli_usage_error(c, "--lock-wait: expected %s, got '%s'", EG_DURATION_FORMS,
				       lock_wait);
	if (after && !fail_if)
		return cli_usage_error(c, "--after goes with --fail-if QUERY");
	if (after && cli_u64(after, &after_pos))
		return cli_usage_error(c, "--after: expected a position (0 or more), got '%s'", after);
	if (fail_if) {
		char qe[256];
		if (eg_query_add(&cond, fail_if, qe, sizeof qe)) {
			eg_query_free(cond);
			return cli_usage_error(c, "--fail-if: %s", qe);
		}
		if (heartbeat) {
			eg_query_free(cond);
			return cli_usage_error(c, "--fail-if does not go with --heartbeat");
		}
	}
	rc = append_run(c, cond, after_pos, stream, type, expect, sync, batch, skip, heartbeat, map,
			expect_new, quarantine, keep_recorded);
	eg_query_free(cond);
	return rc;
}

static int append_run(cli *c, const eg_query *cond, uint64_t after, const char *stream,
		      const char *type, const char *expect, const char *sync, const char *batch,
		      const char *skip, const char *heartbeat, const char *map, int expect_new,
		      int quarantine, int keep_recorded)
{
	int rc = EXIT_OK;
	eg_batch_opts bo = { .expect_version = -1, .default_stream = stream, .default_type = type,
			     .quarantine = quarantine, .keep_recorded = keep_recorded,
			     .fail_if = cond, .after = after };
	if (sync && !strcmp(sync, "none"))
		bo.sync = EG_SYNC_NONE;
	else if (sync && strcmp(sync, "always"))
		return cli_usage_error(c, "--sync: expected always or none, got '%s'", sync);
	if (expect && expect_new)
		return cli_usage_error(c, "give --expect-version or --expect-new, not both");
	if (expect || expect_new) {
		uint64_t v = 0;
		if (expect && cli_u64(expect, &v))
			return cli_usage_error(c, "--expect-version: expected a version number, got '%s'", expect);
		if (!stream)
			return cli_usage_error(c, "--expect-version and --expect-new need --stream");
		bo.expect_stream = stream;
		bo.expect_version = (int64_t)v;
	}
	if (heartbeat)
		return append_heartbeat(c, heartbeat, &bo, stream || type || expect || expect_new ||
					batch || skip || map || quarantine || keep_recorded);
	if (batch && (cli_u64(batch, &bo.commit_every) || bo.commit_every == 0))
		return cli_usage_error(c, "--batch: expected a positive number of events, got '%s'", batch);
	if (map && keep_recorded)
		return cli_usage_error(c, "--keep-recorded does not work with --map: the map gives no "
				       "\"recorded\" (map to envelopes, add \"recorded\", then append)");
	eg_map *mp = NULL;
	eg_textconv_fn conv = textconv(map);
	if (map && !conv && !(mp = cli_load_map(map, &rc)))
		return rc;
	bo.map = mp;
	const char *path = c->npos ? c->pos[0] : "-";
	FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!in) {
		cli_error("cannot open %s: %s", path, strerror(errno));
		eg_map_free(mp);
		return EXIT_ERR;
	}
	FILE *rf = NULL;
	if (skip && !(rf = fopen(skip, "w"))) {
		cli_error("cannot create %s: %s", skip, strerror(errno));
		if (in != stdin)
			fclose(in);
		eg_map_free(mp);
		return EXIT_ERR;
	}
	/* Size the id index once for a file: events are mostly 150-250 bytes; the table grows if not. */
	struct stat sb;
	if (in != stdin && fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
		bo.expected_events = (uint64_t)sb.st_size / 256;
	chunks C = { .f = in, .cap = CHUNK };
	C.buf = malloc(C.cap);
	if (bo.expected_events && sb.st_size > 0 && (uint64_t)sb.st_size < SIZE_MAX) {
		void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fileno(in), 0);
		if (m != MAP_FAILED) {
			madvise(m, (size_t)sb.st_size, MADV_SEQUENTIAL);
			C.map = m;
			C.map_len = (size_t)sb.st_size;
		}
	}
	/* a text converter reads the input whole and hands on its envelopes */
	char *src = NULL;
	const char *fmap = NULL;  /* the input file's mapping, kept for the rejects */
	size_t flen = 0;
	buf conv_out = { 0 };
	uint32_t *xlines = NULL;
	rejects R = { .f = rf, .path = skip };
	eg_store *st = NULL;
	eg_batch *b = NULL;
	if (conv && C.buf) {
		size_t sn = C.map_len;
		const char *text = C.map;
		if (!text && !(text = src = read_all(in, &sn))) {
			cli_error("cannot read %s: %s", path, errno ? strerror(errno) : "out of memory");
			rc = EXIT_ERR;
			goto out;
		}
		char err[512];
		if (conv(text, sn, &conv_out, &xlines, err, sizeof err)) {
			cli_error("--map %s: %s; nothing was written", map, err);
			rc = EXIT_ERR;
			goto out;
		}
		R.xlines = xlines;
		R.src = text;
		R.srcn = sn;
		fmap = C.map;
		flen = C.map_len;
		C.map = conv_out.p ? conv_out.p : "";
		C.map_len = conv_out.n;
		C.owned = 1;
		bo.expected_events = xlines ? conv_out.n / 128 : 0;
	}
	st = C.buf ? cli_open_write(c, 1, &rc) : NULL;
	if (!C.buf) {
		cli_error("out of memory");
		rc = EXIT_ERR;
	}
	if (!st)
		goto out;
	int r = eg_batch_begin(st, &b, &bo);
	if (r) {
		rc = cli_fail(st, r);
		if (r == EG_EINVAL && cond)   /* --after beyond the head */
			rc = EXIT_USAGE;
		goto out;
	}
	/* what a line that stops the input takes with it */
	const char *lost = keep_recorded ? "its commit (the lines before it with the same "
					   "recorded; earlier commits stay)"
			   : bo.commit_every ? "its batch (earlier batches are committed)"
			   : "this batch";
	const char *s;
	size_t n;
	int got, first = 1;
	while ((got = next_chunk(&C, &s, &n)) == 1) {
		/* a UTF-8 byte-order mark at the very start of the input is
		 * skipped (one anywhere else is an error naming its line) */
		if (first && !conv && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
			s += 3, n -= 3;
		first = 0;
		uint64_t lines;
		r = eg_batch_add_ndjson(b, s, n, on_bad_line, &R, &lines);
		if (R.werr) {
			cli_error("cannot write %s: %s", skip, strerror(R.werr));
			rc = EXIT_ERR;
			goto out;
		}
		if (r == EG_EINVAL && !R.stopped && bo.expect_stream) {
			/* a valid line for another stream: the options and the
			 * input disagree, which no --skip-invalid may hide */
			cli_error("line %llu: %s (--expect-version and --expect-new check one "
				  "stream; append other streams' events separately); nothing of %s "
				  "was written", (unsigned long long)input_line(&R, R.base + lines),
				  eg_errmsg(st),
				  lost);
			rc = EXIT_USAGE;
			goto out;
		}
		if (r == EG_EINVAL) {
			cli_error("line %llu: %s; nothing of %s was written",
				  (unsigned long long)input_line(&R, R.base + lines), eg_errmsg(st),
				  lost);
			rc = EXIT_ERR;
			goto out;
		}
		if (r) {
			rc = cli_fail(st, r);
			goto out;
		}
		R.base += lines;
	}
	if (got < 0) {
		cli_error("cannot read %s: %s", path, strerror(errno));
		rc = EXIT_ERR;
		goto out;
	}
	if (rf && fflush(rf)) {
		cli_error("cannot write %s: %s", skip, strerror(errno));
		rc = EXIT_ERR;
		goto out;
	}
	eg_append_result res;
	r = eg_batch_commit(b, &res);
	b = NULL;
	if (r) {
		rc = cli_fail(st, r);
		goto out;
	}
	out *o = out_new(stdout, c->format);
	char hex[65];
	eg_hash_hex(res.head.hash, hex);
	out_row_begin(o);
	out_u64(o, "appended", res.appended - res.quarantined);
	out_u64(o, "duplicates", res.duplicates);
	if (rf)
		out_u64(o, "rejected", R.count);
	if (quarantine)
		out_u64(o, "quarantined", res.quarantined);
	if (res.appended) {
		out_u64(o, "first_pos", res.first_pos);
		out_u64(o, "last_pos", res.last_pos);
	} else {
		out_null(o, "first_pos");
		out_null(o, "last_pos");
	}
	out_cstr(o, "head", hex);
	out_row_end(o);
	rc = out_finish(o, EXIT_OK);
	warn_seconds(&res);
out:
	eg_batch_abort(b);
	cli_close(st, rc);
	eg_map_free(mp);
	free(C.buf);
	if (C.map && !C.owned)
		munmap((void *)C.map, C.map_len);
	if (fmap)
		munmap((void *)fmap, flen);
	free(conv_out.p);
	free(xlines);
	free(src);
	free(R.starts);
	if (in && in != stdin)
		fclose(in);
	if (rf)
		fclose(rf);
	return rc;
}

/*
 * metrictext.c — Prometheus / OpenMetrics text and StatsD lines into metric
 * envelopes (metrictext.h, docs/METRICS.md).
 *
 * One pass over the input, line by line; each sample becomes one line of
 * {"kind":"metric","type":NAME,"time":T,"data":{"value":V,"metric_type":…,
 * "tags":{…}}}.  What the formats allow and the envelope does not (NaN,
 * +Inf, -Inf, a value that overflows a double) is written as a string
 * value, so that the append refuses it naming the line and the field like
 * any other bad value, and --quarantine can keep it.  What does not parse
 * stops the conversion with the line and what was expected.
 */
#include "metrictext.h"
#include "json.h"
#include "timefmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Times that print as RFC 3339 (years 0000-9999), as append.c takes them. */
#define TIME_MIN_US (-62167219200000000LL)
#define TIME_MAX_US 253402300800000000LL

/* Longest value or timestamp token read as a number. */
#define NUM_MAX 320

enum { T_UNTYPED, T_COUNTER, T_GAUGE, T_HISTOGRAM, T_SUMMARY, T_INFO, T_STATESET,
       T_GAUGEHIST, T_N };
static const char *const TYPES[T_N] = { "untyped", "counter", "gauge", "histogram",
					"summary", "info", "stateset", "gaugehistogram" };

/* A metric family's TYPE, by name: open addressing over names kept in one
 * buffer. */
typedef struct fam {
	uint64_t h;
	uint32_t off, len;
	int type;
} fam;

typedef struct conv {
	buf *out;
	uint32_t *lines;
	size_t nl, lcap;
	char *err;
	size_t errcap;
	uint64_t line;           /* the input line being read, 1-based */
	int om;                  /* OpenMetrics: seconds, # EOF */
	int eof;                 /* # EOF seen */
	fam *fams;
	size_t nfam, fcap;       /* fcap: a power of two, or 0 */
	buf names;
	buf tmp;                 /* a decoded label value */
	json_span *keys;         /* the tag keys of the sample, for repeats */
	size_t nkeys, kcap;
	int oom;
} conv;

static int fail(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(conv *c, const char *fmt, ...)
{
	int w = snprintf(c->err, c->errcap, "line %llu: ", (unsigned long long)c->line);
	va_list ap;
	va_start(ap, fmt);
	if (w >= 0 && (size_t)w < c->errcap)
		vsnprintf(c->err + w, c->errcap - (size_t)w, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(conv *c)
{
	c->oom = 1;
	snprintf(c->err, c->errcap, "out of memory");
	return -1;
}

/* A token as text for a message: at most 40 bytes, made printable. */
static void show(const char *s, size_t n, char *out)
{
	size_t m = n > 40 ? 40 : n, o = 0;
	for (size_t i = 0; i < m; i++)
		out[o++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	if (n > 40)
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o] = 0;
}

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h | 1;
}

static fam *fam_find(conv *c, const char *s, size_t n, uint64_t h)
{
	if (!c->fcap)
		return NULL;
	for (size_t i = h & (c->fcap - 1);; i = (i + 1) & (c->fcap - 1)) {
		fam *f = &c->fams[i];
		if (!f->h)
			return NULL;
		if (f->h == h && f->len == n && !memcmp(c->names.p + f->off, s, n))
			return f;
	}
}

static int fam_put(conv *c, const char *s, size_t n, int type)
{
	uint64_t h = hash(s, n);
	fam *f = fam_find(c, s, n, h);
	if (f) {
		f->type = type;
		return 0;
	}
	if (2 * (c->nfam + 1) > c->fcap) {
		size_t cap = c->fcap ? 2 * c->fcap : 64;
		fam *t = calloc(cap, sizeof *t);
		if (!t)
			return oom(c);
		for (size_t i = 0; i < c->fcap; i++)
			if (c->fams[i].h) {
				size_t j = c->fams[i].h & (cap - 1);
				while (t[j].h)
					j = (j + 1) & (cap - 1);
				t[j] = c->fams[i];
			}
		free(c->fams);
		c->fams = t;
		c->fcap = cap;
	}
	if (n > UINT32_MAX || c->names.n > UINT32_MAX - n)
		return oom(c);
	size_t j = h & (c->fcap - 1);
	while (c->fams[j].h)
		j = (j + 1) & (c->fcap - 1);
	c->fams[j] = (fam){ h, (uint32_t)c->names.n, (uint32_t)n, type };
	c->nfam++;
	return buf_add(&c->names, s, n) ? oom(c) : 0;
}

/* The TYPE of the family of sample name s: its own, else that of the name
 * without a suffix the formats add (foo_total of counter foo, foo_bucket of
 * histogram foo…); untyped when none was declared. */
static int family_type(conv *c, const char *s, size_t n)
{
	static const char *const SUF[] = { "_total", "_count", "_sum", "_bucket", "_created",
					   "_gcount", "_gsum", "_info" };
	fam *f = fam_find(c, s, n, hash(s, n));
	if (f)
		return f->type;
	for (size_t i = 0; i < sizeof SUF / sizeof *SUF; i++) {
		size_t k = strlen(SUF[i]);
		if (n > k && !memcmp(s + n - k, SUF[i], k) &&
		    (f = fam_find(c, s, n - k, hash(s, n - k))))
			return f->type;
	}
	return T_UNTYPED;
}

/* Note that the next output line comes from the current input line. */
static int note_line(conv *c)
{
	if (buf_grow(&c->lines, &c->lcap, c->nl + 1, sizeof *c->lines))
		return oom(c);
	c->lines[c->nl++] = (uint32_t)c->line;
	return 0;
}

/* ---------------------------------------------------------------- numbers */

/* The rest of a number from i: an optional exponent e[+-]digits, then
 * the end of [s, s+n)?  (Both number syntaxes below end this way.) */
static int exponent_to_end(const char *s, size_t n, size_t i)
{
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* Is [s, s+n) a JSON number as it stands? */
static int json_number(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return exponent_to_end(s, n, i);
}

/* A decimal float as the formats write it: [+-] digits [. digits] [e[+-]digits],
 * or .5, 5. — or NaN / Inf / Infinity with a sign (any case). */
static int float_syntax(const char *s, size_t n, int *special)
{
	size_t i = 0;
	*special = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	size_t rest = n - i;
	if ((rest == 3 && !strncasecmp(s + i, "inf", 3)) ||
	    (rest == 8 && !strncasecmp(s + i, "infinity", 8)) ||
	    (rest == 3 && i == 0 && !strncasecmp(s, "nan", 3)))
		return *special = 1;
	size_t digits = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return 0;
	return exponent_to_end(s, n, i);
}

/* The double of a token that has float_syntax. */
static double to_double(const char *s, size_t n)
{
	char t[NUM_MAX + 1];
	if (n > NUM_MAX)
		n = NUM_MAX;
	memcpy(t, s, n);
	t[n] = 0;
	return strtod(t, NULL);
}

/* The shortest %g text that reads back as d (a JSON number: d is finite). */
static size_t shortest(double d, char *out)
{
	int w = 0;
	if (d == floor(d) && fabs(d) < 1e15)
		return (size_t)snprintf(out, 32, "%.0f", d);
	for (int prec = 1; prec <= 17; prec++) {
		w = snprintf(out, 32, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return (size_t)w;
}

/* Append a value token: as it stands when it is a JSON number, else the
 * number it reads as, or — NaN, an infinity, an overflow — as a string
 * for the append to refuse.  -1 (after fail) when it is not a number. */
static int put_value(conv *c, const char *s, size_t n, double scale, const char *what)
{
	char shown[48], num[32];
	int special;
	if (n > NUM_MAX || !float_syntax(s, n, &special)) {
		show(s, n, shown);
		return fail(c, "%s: expected a number (such as 42, -1.5, 2e-3), got \"%s\"", what,
			    shown);
	}
	double d = special ? NAN : to_double(s, n) / scale;
	int r;
	if (!isfinite(d))
		r = buf_add(c->out, "\"", 1) || buf_add(c->out, s, n) || buf_add(c->out, "\"", 1);
	else if (scale == 1 && json_number(s, n))
		r = buf_add(c->out, s, n);
	else
		r = buf_add(c->out, num, shortest(d, num));
	return r ? oom(c) : 0;
}

/* Append a time of us microseconds as an RFC 3339 string member. */
static int put_time(conv *c, int64_t us)
{
	char t[EG_TIME_LEN + 1];
	eg_time_format(us, t);
	return buf_puts(c->out, ",\"time\":\"") || buf_add(c->out, t, EG_TIME_LEN) ||
	       buf_add(c->out, "\"", 1) ? oom(c) : 0;
}

/* Integer epoch milliseconds (Prometheus text). */
static int millis(const char *s, size_t n, int64_t *us)
{
	int64_t t;
	if (!n || n > 20 || eg_time_parse_millis(s, n, &t) || t < TIME_MIN_US || t >= TIME_MAX_US)
		return -1;
	*us = t;
	return 0;
}

/* Epoch seconds, a fraction allowed (OpenMetrics, DogStatsD's |T). */
static int seconds(const char *s, size_t n, int64_t *us)
{
	int special;
	if (!n || n > NUM_MAX || !float_syntax(s, n, &special) || special)
		return -1;
	/* exact for the plain [-]digits[.digits] form, strtod otherwise */
	size_t i = s[0] == '-' || s[0] == '+';
	int neg = s[0] == '-';
	int64_t whole = 0, frac = 0;
	size_t fd = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (whole > 999999999999LL)
			return -1;
		whole = whole * 10 + (s[i] - '0');
	}
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (fd < 6)
				frac = frac * 10 + (s[i] - '0'), fd++;
	int64_t t;
	if (i == n) {
		while (fd < 6)
			frac *= 10, fd++;
		t = whole * 1000000 + frac;
		if (neg)
			t = -t;
	} else {
		double d = to_double(s, n) * 1e6;
		if (!(d > (double)TIME_MIN_US && d < (double)TIME_MAX_US))
			return -1;
		t = (int64_t)llround(d);
	}
	if (t < TIME_MIN_US || t >= TIME_MAX_US)
		return -1;
	*us = t;
	return 0;
}

/* ------------------------------------------------------------------ tags */

/* Open the tags object, or add a comma before the next tag. */
static int tag_sep(conv *c)
{
	const char *s = c->nkeys ? "," : ",\"tags\":{";
	return buf_puts(c->out, s) ? oom(c) : 0;
}

/* Append tag key (raw UTF-8) and note it; a key given twice is refused. */
static int tag_key(conv *c, const char *k, size_t n, const char *what)
{
	char shown[48];
	if (!eg_json_utf8_valid(k, n)) {
		show(k, n, shown);
		return fail(c, "%s \"%s\": expected UTF-8 text", what, shown);
	}
	for (size_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].n == n && !memcmp(c->keys[i].p, k, n)) {
			show(k, n, shown);
			return fail(c, "%s \"%s\" is given twice", what, shown);
		}
	if (tag_sep(c))
		return -1;
	if (buf_grow(&c->keys, &c->kcap, c->nkeys + 1, sizeof *c->keys))
		return oom(c);
	c->keys[c->nkeys++] = (json_span){ k, n, JSON_STRING };
	return buf_quote(c->out, k, n) || buf_add(c->out, ":", 1) ? oom(c) : 0;
}

static int tag_value(conv *c, const char *v, size_t n, const char *what)
{
	if (!eg_json_utf8_valid(v, n))
		return fail(c, "%s: expected UTF-8 text", what);
	return buf_quote(c->out, v, n) ? oom(c) : 0;
}

/* ------------------------------------------------------------ Prometheus */

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && is_ws(*p))
		p++;
	return p;
}

static const char *token_end(const char *p, const char *e)
{
	while (p < e && !is_ws(*p))
		p++;
	return p;
}

static int name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int name_char(char ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* # TYPE, # HELP, # UNIT, # EOF, or another comment (ignored). */
static int prom_comment(conv *c, const char *p, const char *e)
{
	p = skip_ws(p + 1, e);
	const char *w = p;
	p = token_end(p, e);
	size_t wn = (size_t)(p - w);
	if (wn == 3 && !memcmp(w, "EOF", 3) && skip_ws(p, e) == e) {
		if (c->om)
			c->eof = 1;
		return 0;
	}
	if (wn != 4 || memcmp(w, "TYPE", 4))
		return 0;   /* HELP, UNIT and free comments say nothing we keep */
	p = skip_ws(p, e);
	const char *nm = p;
	p = token_end(p, e);
	const char *ty = skip_ws(p, e), *te = token_end(ty, e);
	char shown[48];
	if (nm == p || ty == te || skip_ws(te, e) != e) {
		show(nm, (size_t)(e - nm), shown);
		return fail(c, "# TYPE: expected a metric name and a type (counter, gauge, "
			    "histogram, summary, untyped), got \"%s\"", shown);
	}
	size_t tn = (size_t)(te - ty);
	int t = -1;
	for (int i = 0; i < T_N; i++)
		if (strlen(TYPES[i]) == tn && !memcmp(TYPES[i], ty, tn))
			t = i;
	if (t < 0 && tn == 7 && !memcmp(ty, "unknown", 7))
		t = T_UNTYPED;   /* OpenMetrics' name for untyped */
	if (t < 0) {
		show(ty, tn, shown);
		return fail(c, "# TYPE %.*s: expected counter, gauge, histogram, summary, untyped "
			    "(or OpenMetrics' unknown, info, stateset, gaugehistogram), got \"%s\"",
			    (int)((size_t)(p - nm) > 80 ? 80 : (size_t)(p - nm)), nm, shown);
	}
	return fam_put(c, nm, (size_t)(p - nm), t);
}

/* The labels {name="value",…} at p (at the '{'): appended as tags; *pp
 * goes past the '}'. */
static int prom_labels(conv *c, const char **pp, const char *e)
{
	const char *p = *pp + 1;
	for (;;) {
		p = skip_ws(p, e);
		if (p < e && *p == '}')
			break;
		const char *ln = p;
		if (p >= e || !name_start(*p))
			return fail(c, "labels: expected a label name or '}' at byte %zu",
				    (size_t)(p - *pp) + 1);
		while (p < e && name_char(*p))
			p++;
		size_t lnn = (size_t)(p - ln);
		p = skip_ws(p, e);
		if (p >= e || *p != '=')
			return fail(c, "label %.*s: expected '=' after the label name",
				    (int)(lnn > 80 ? 80 : lnn), ln);
		p = skip_ws(p + 1, e);
		if (p >= e || *p != '"')
			return fail(c, "label %.*s: expected a quoted value",
				    (int)(lnn > 80 ? 80 : lnn), ln);
		c->tmp.n = 0;
		for (p++;; p++) {
			if (p >= e)
				return fail(c, "label %.*s: expected a closing '\"'",
					    (int)(lnn > 80 ? 80 : lnn), ln);
			if (*p == '"')
				break;
			char ch = *p;
			if (ch == '\\') {
				if (p + 1 >= e || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
					return fail(c, "label %.*s: expected \\\\, \\\" or \\n after "
						    "a backslash", (int)(lnn > 80 ? 80 : lnn), ln);
				p++;
				ch = *p == 'n' ? '\n' : *p;
			}
			if (buf_add(&c->tmp, &ch, 1))
				return oom(c);
		}
		p++;
		/* __name__ names the metric; it is never a tag */
		if (!(lnn == 8 && !memcmp(ln, "__name__", 8))) {
			if (tag_key(c, ln, lnn, "label") ||
			    tag_value(c, c->tmp.p ? c->tmp.p : "", c->tmp.n, "label value"))
				return -1;
		}
		p = skip_ws(p, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			break;
		return fail(c, "labels: expected ',' or '}' after label %.*s",
			    (int)(lnn > 80 ? 80 : lnn), ln);
	}
	*pp = p + 1;
	return 0;
}

static int prom_sample(conv *c, const char *p, const char *e)
{
	char shown[48];
	const char *nm = p;
	if (!name_start(*p) && *p != ':') {
		show(p, (size_t)(e - p), shown);
		return fail(c, "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), a # comment "
			    "or a blank line, got \"%s\"", shown);
	}
	while (p < e && (name_char(*p) || *p == ':'))
		p++;
	size_t nn = (size_t)(p - nm);
	if (note_line(c))
		return -1;
	if (buf_puts(c->out, "{\"kind\":\"metric\",\"type\":\"") || buf_add(c->out, nm, nn) ||
	    buf_add(c->out, "\"", 1))
		return oom(c);
	/* the labels go after the value: kept aside, then moved */
	c->nkeys = 0;
	const char *after = p;
	p = skip_ws(p, e);
	size_t lab = c->out->n;
	if (p < e && *p == '{') {
		if (prom_labels(c, &p, e))
			return -1;
		if (c->nkeys && buf_add(c->out, "}", 1))
			return oom(c);
		after = p;
		p = skip_ws(p, e);
	}
	size_t labn = c->out->n - lab;
	const char *v = p;
	if (v == after && v < e)
		return fail(c, "expected a space before the value, got \"%c\"", *v);
	const char *ve = token_end(v, e);
	if (v == ve)
		return fail(c, "%.*s: expected a value after the metric name and labels",
			    (int)(nn > 80 ? 80 : nn), nm);
	const char *ts = skip_ws(ve, e), *tse = token_end(ts, e);
	int64_t us = 0;
	int has_ts = 0;
	if (ts < e && *ts != '#') {
		has_ts = 1;
		if (c->om ? seconds(ts, (size_t)(tse - ts), &us) : millis(ts, (size_t)(tse - ts), &us)) {
			show(ts, (size_t)(tse - ts), shown);
			return fail(c, "timestamp: expected %s in years 0000-9999, got \"%s\"",
				    c->om ? "epoch seconds (OpenMetrics; a fraction allowed)"
					  : "integer epoch milliseconds (Prometheus text; an "
					    "input ending in # EOF is OpenMetrics, in seconds)",
				    shown);
		}
		ts = skip_ws(tse, e);
	}
	/* an exemplar (OpenMetrics: # {labels} value [timestamp]) is left out */
	if (ts < e && *ts != '#') {
		show(ts, (size_t)(e - ts), shown);
		return fail(c, "expected the end of the line (or a # exemplar) after the %s, "
			    "got \"%s\"", has_ts ? "timestamp" : "value", shown);
	}
	/* move the labels out, write time and value, put them back */
	char *labels = NULL;
	if (labn) {
		if (!(labels = malloc(labn)))
			return oom(c);
		memcpy(labels, c->out->p + lab, labn);
		c->out->n = lab;
	}
	int r = (has_ts && put_time(c, us)) || (buf_puts(c->out, ",\"data\":{\"value\":") && oom(c)) ||
		put_value(c, v, (size_t)(ve - v), 1, "value");
	int t = r ? 0 : family_type(c, nm, nn);
	if (!r && (buf_puts(c->out, ",\"metric_type\":\"") || buf_puts(c->out, TYPES[t]) ||
		   buf_add(c->out, "\"", 1) || (labn && buf_add(c->out, labels, labn)) ||
		   buf_add(c->out, "}}\n", 3)))
		r = oom(c);
	free(labels);
	return r;
}

static int prom_run(conv *c, const char *in, size_t n)
{
	const char *p = in, *end = in + n;
	if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	for (c->line = 1; p < end; c->line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		if (e > p && e[-1] == '\r')
			e--;
		const char *q = skip_ws(p, e);
		if (q < e && c->eof)
			return fail(c, "expected nothing after # EOF (OpenMetrics ends there)");
		if (q < e && (*q == '#' ? prom_comment(c, q, e) : prom_sample(c, q, e)))
			return -1;
		p = next;
	}
	return 0;
}

/* ------------------------------------------------------------------ StatsD */

static const struct { const char *code; const char *type; } STATSD[] = {
	{ "c", "counter" }, { "g", "gauge" }, { "ms", "timer" }, { "h", "histogram" },
	{ "d", "distribution" },
};

static int statsd_line(conv *c, const char *p, const char *e)
{
	char shown[48];
	const char *colon = memchr(p, ':', (size_t)(e - p));
	const char *bar = memchr(p, '|', (size_t)(e - p));
	if (!colon || !bar || bar < colon || colon == p) {
		show(p, (size_t)(e - p), shown);
		return fail(c, "expected name:value|type (c, g, ms, h or d), such as "
			    "api.requests:1|c|#region:eu, got \"%s\"", shown);
	}
	size_t nn = (size_t)(colon - p);
	if (!eg_json_utf8_valid(p, nn))
		return fail(c, "name: expected UTF-8 text");
	/* type */
	const char *ty = bar + 1, *te = memchr(ty, '|', (size_t)(e - ty));
	if (!te)
		te = e;
	size_t tn = (size_t)(te - ty);
	int t = -1;
	for (int i = 0; i < (int)(sizeof STATSD / sizeof *STATSD); i++)
		if (strlen(STATSD[i].code) == tn && !memcmp(STATSD[i].code, ty, tn))
			t = i;
	if (t < 0 && tn == 1 && *ty == 's')
		return fail(c, "type s (a set): expected c, g, ms, h or d; a set's members are "
			    "not numbers, and engram keeps numeric samples (count them and send "
			    "a gauge)");
	if (t < 0) {
		show(ty, tn, shown);
		return fail(c, "type: expected c, g, ms, h or d, got \"%s\"", shown);
	}
	/* sections: @rate, #tags, Tseconds */
	double rate = 1;
	const char *rate_s = NULL, *tags = NULL, *tags_e = NULL;
	size_t rate_n = 0;
	int64_t us = 0;
	int has_ts = 0;
	for (const char *s = te; s < e;) {
		s++;
		const char *se = memchr(s, '|', (size_t)(e - s));
		if (!se)
			se = e;
		size_t sn = (size_t)(se - s);
		int special;
		if (sn && *s == '@') {
			rate_s = s + 1;
			rate_n = sn - 1;
			if (!rate_n || rate_n > NUM_MAX || !float_syntax(rate_s, rate_n, &special) ||
			    special || !((rate = to_double(rate_s, rate_n)) > 0 && rate <= 1)) {
				show(s, sn, shown);
				return fail(c, "sample rate: expected @ and a number above 0 and at "
					    "most 1, got \"%s\"", shown);
			}
		} else if (sn && *s == '#') {
			tags = s + 1;
			tags_e = se;
		} else if (sn > 1 && *s == 'T') {
			if (seconds(s + 1, sn - 1, &us)) {
				show(s, sn, shown);
				return fail(c, "timestamp: expected T and epoch seconds, got \"%s\"",
					    shown);
			}
			has_ts = 1;
		} else {
			show(s, sn, shown);
			return fail(c, "expected |@RATE, |#TAG:VALUE,… or |TSECONDS after the type, "
				    "got \"|%s\"", shown);
		}
		s = se;
	}
	/* one sample per value (DogStatsD packs several: name:1:2:3|d) */
	for (const char *v = colon + 1; v <= bar;) {
		const char *ve = memchr(v, ':', (size_t)(bar - v));
		if (!ve)
			ve = bar;
		int delta = t == 1 && ve > v && (*v == '+' || *v == '-');
		if (note_line(c))
			return -1;
		if (buf_puts(c->out, "{\"kind\":\"metric\",\"type\":") || buf_quote(c->out, p, nn))
			return oom(c);
		if (has_ts && put_time(c, us))
			return -1;
		if (buf_puts(c->out, ",\"data\":{\"value\":"))
			return oom(c);
		/* a counter sampled at rate r stands for 1/r as many: scaled */
		if (put_value(c, v, (size_t)(ve - v), t == 0 ? rate : 1, "value"))
			return -1;
		if (buf_puts(c->out, ",\"metric_type\":\"") || buf_puts(c->out, STATSD[t].type) ||
		    buf_add(c->out, "\"", 1))
			return oom(c);
		if (rate_s && buf_puts(c->out, ",\"sample_rate\":"))
			return oom(c);
		if (rate_s && put_value(c, rate_s, rate_n, 1, "sample rate"))
			return -1;
		if (delta && buf_puts(c->out, ",\"gauge_delta\":true"))
			return oom(c);
		c->nkeys = 0;
		for (const char *g = tags; g && g < tags_e;) {
			const char *ge = memchr(g, ',', (size_t)(tags_e - g));
			if (!ge)
				ge = tags_e;
			const char *kc = memchr(g, ':', (size_t)(ge - g));
			const char *ke = kc ? kc : ge;
			if (ke == g)
				return fail(c, "tags: expected TAG or TAG:VALUE between commas");
			if (tag_key(c, g, (size_t)(ke - g), "tag") ||
			    tag_value(c, kc ? kc + 1 : "", kc ? (size_t)(ge - kc - 1) : 0, "tag value"))
				return -1;
			g = ge + 1;
		}
		if ((c->nkeys && buf_add(c->out, "}", 1)) || buf_add(c->out, "}}\n", 3))
			return oom(c);
		v = ve + 1;
	}
	return 0;
}

static int statsd_run(conv *c, const char *in, size_t n)
{
	const char *p = in, *end = in + n;
	if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	for (c->line = 1; p < end; c->line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		while (e > p && (e[-1] == '\r' || is_ws(e[-1])))
			e--;
		const char *q = skip_ws(p, e);
		if (q < e && statsd_line(c, q, e))
			return -1;
		p = next;
	}
	return 0;
}

/* ----------------------------------------------------------------- entry */

static int run(int (*fn)(conv *, const char *, size_t), int om, const char *in, size_t n,
	       buf *out, uint32_t **lines, char *err, size_t errcap)
{
	conv c = { .out = out, .err = err, .errcap = errcap, .om = om };
	size_t was = out->n;
	int r = fn(&c, in, n);
	if (!r && c.om && !c.eof && n) {
		c.line--;
		r = fail(&c, "expected # EOF at the end of OpenMetrics text");
	}
	free(c.fams);
	free(c.names.p);
	free(c.tmp.p);
	free(c.keys);
	if (r) {
		free(c.lines);
		*lines = NULL;
		out->n = was;
		return -1;
	}
	*lines = c.lines;
	return 0;
}

/* OpenMetrics ends with a "# EOF" line; the 0.0.4 text format has none. */
static int has_eof(const char *in, size_t n)
{
	for (const char *p = in, *end = in + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (e > p && e[-1] == '\r')
			e--;
		if (e - p == 5 && !memcmp(p, "# EOF", 5))
			return 1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

int eg_mt_prometheus(const char *in, size_t n, buf *out, uint32_t **lines, char *err,
		     size_t errcap)
{
	return run(prom_run, has_eof(in, n), in, n, out, lines, err, errcap);
}

int eg_mt_openmetrics(const char *in, size_t n, buf *out, uint32_t **lines, char *err,
		      size_t errcap)
{
	return run(prom_run, 1, in, n, out, lines, err, errcap);
}

int eg_mt_statsd(const char *in, size_t n, buf *out, uint32_t **lines, char *err,
		 size_t errcap)
{
	return run(statsd_run, 0, in, n, out, lines, err, errcap);
}
